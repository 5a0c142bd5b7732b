//! The Stripe sandbox's state on PostgreSQL: Stripe objects as JSON
//! documents, idempotency records, and the delivery state of webhook events
//! (one row per event and endpoint), in the tables SQLite keeps them in. Who may write them is
//! `sandbox_claim.rs`'s business.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::{Client, Statement, Transaction};

use super::db_error;
use super::runs::{from_integer, to_integer};
use crate::{
    SandboxChanges, SandboxDelivery, SandboxIdempotency, SandboxObject, SandboxSnapshot, StoreError,
};

pub(super) async fn create_schema(c: &impl GenericClient) -> Result<(), StoreError> {
    // A stored answer's body stays text: it is replayed byte for byte.
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS _stripe_objects (
            id TEXT COLLATE \"C\" PRIMARY KEY,
            object TEXT NOT NULL,
            seq BIGINT NOT NULL,
            data JSONB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS _stripe_idempotency (
            key TEXT COLLATE \"C\" PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            status INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS _stripe_deliveries (
            event_id TEXT COLLATE \"C\" NOT NULL,
            endpoint TEXT COLLATE \"C\" NOT NULL,
            attempts INTEGER NOT NULL,
            delivered BOOLEAN NOT NULL,
            last_error TEXT,
            PRIMARY KEY (event_id, endpoint)
        );",
    )
    .await
    .map_err(db_error)?;
    // Deliveries were kept one per event before events went to several
    // endpoints; such a table gains the endpoint, its rows becoming
    // deliveries to the configured endpoint (`''`), and is keyed by both.
    let has_endpoint = c
        .query_opt(
            "SELECT 1 FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = '_stripe_deliveries'
               AND column_name = 'endpoint'",
            &[],
        )
        .await
        .map_err(db_error)?
        .is_some();
    if !has_endpoint {
        c.batch_execute(
            "ALTER TABLE _stripe_deliveries ADD COLUMN endpoint TEXT COLLATE \"C\" NOT NULL DEFAULT '';
             ALTER TABLE _stripe_deliveries ALTER COLUMN endpoint DROP DEFAULT;
             ALTER TABLE _stripe_deliveries DROP CONSTRAINT _stripe_deliveries_pkey;
             ALTER TABLE _stripe_deliveries ADD PRIMARY KEY (event_id, endpoint);",
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

pub(super) async fn load(c: &impl GenericClient) -> Result<SandboxSnapshot, StoreError> {
    // The three reads are sent at once on the one connection. Idempotency
    // records and deliveries come in the order of their keys, so that a
    // load is the same every time: PostgreSQL keeps no order of insertion
    // to give them in (SQLite happens to), and the sandbox looks them up by
    // key.
    let (objects, idempotency, deliveries) = tokio::try_join!(
        c.query(
            "SELECT id, object, seq, data FROM _stripe_objects ORDER BY seq",
            &[]
        ),
        c.query(
            "SELECT key, fingerprint, status, body FROM _stripe_idempotency ORDER BY key",
            &[]
        ),
        c.query(
            "SELECT event_id, endpoint, attempts, delivered, last_error FROM _stripe_deliveries ORDER BY event_id, endpoint",
            &[]
        ),
    )
    .map_err(db_error)?;
    let objects = objects
        .iter()
        .map(|r| {
            let id: String = r.try_get(0).map_err(db_error)?;
            let data: Value = r.try_get(3).map_err(|e| {
                StoreError::Database(format!("sandbox object {id} is not JSON: {e}"))
            })?;
            Ok(SandboxObject {
                object: r.try_get(1).map_err(db_error)?,
                seq: r.try_get(2).map_err(db_error)?,
                id,
                data,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let idempotency = idempotency
        .iter()
        .map(|r| {
            Ok(SandboxIdempotency {
                key: r.try_get(0).map_err(db_error)?,
                fingerprint: r.try_get(1).map_err(db_error)?,
                status: from_integer(r.try_get(2).map_err(db_error)?, "a stored answer's status")?,
                body: r.try_get(3).map_err(db_error)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let deliveries = deliveries
        .iter()
        .map(|r| {
            Ok(SandboxDelivery {
                event_id: r.try_get(0).map_err(db_error)?,
                endpoint: r.try_get(1).map_err(db_error)?,
                attempts: from_integer(
                    r.try_get(2).map_err(db_error)?,
                    "a delivery's count of attempts",
                )?,
                delivered: r.try_get(3).map_err(db_error)?,
                last_error: r.try_get(4).map_err(db_error)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(SandboxSnapshot {
        objects,
        idempotency,
        deliveries,
    })
}

/// The statements that write the sandbox's changes, prepared once on the
/// connection of the sandbox's owner (`sandbox_claim.rs`), which makes every
/// commit.
pub(super) struct Statements {
    object: Statement,
    idempotency: Statement,
    delivery: Statement,
}

impl Statements {
    pub(super) async fn prepare(c: &Client) -> Result<Statements, StoreError> {
        let (object, idempotency, delivery) = tokio::try_join!(
            c.prepare(
                "INSERT INTO _stripe_objects (id, object, seq, data) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            ),
            c.prepare(
                "INSERT INTO _stripe_idempotency (key, fingerprint, status, body) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, body = excluded.body",
            ),
            c.prepare(
                "INSERT INTO _stripe_deliveries (event_id, endpoint, attempts, delivered, last_error) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (event_id, endpoint) DO UPDATE SET attempts = excluded.attempts, delivered = excluded.delivered, last_error = excluded.last_error",
            ),
        )
        .map_err(db_error)?;
        Ok(Statements {
            object,
            idempotency,
            delivery,
        })
    }
}

/// Applies what one sandbox request changed; the caller's transaction makes
/// it whole. An object that exists keeps its kind and place in the order
/// and takes the new data, as on SQLite.
pub(super) async fn apply(
    tx: &Transaction<'_>,
    statements: &Statements,
    changes: &SandboxChanges,
) -> Result<(), StoreError> {
    // One statement per object, in order, so that an object changed twice
    // by one request ends as its last change left it.
    for object in &changes.objects {
        tx.execute(
            &statements.object,
            &[&object.id, &object.object, &object.seq, &object.data],
        )
        .await
        .map_err(db_error)?;
    }
    if let Some(record) = &changes.idempotency {
        let status = i32::from(record.status);
        tx.execute(
            &statements.idempotency,
            &[&record.key, &record.fingerprint, &status, &record.body],
        )
        .await
        .map_err(db_error)?;
    }
    for d in &changes.deliveries {
        let attempts = to_integer(d.attempts, "a delivery's count of attempts")?;
        tx.execute(
            &statements.delivery,
            &[
                &d.event_id,
                &d.endpoint,
                &attempts,
                &d.delivered,
                &d.last_error,
            ],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}
