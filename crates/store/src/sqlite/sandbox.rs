//! The Stripe sandbox's state: Stripe objects as JSON documents, idempotency
//! records, and the delivery state of webhook events.

use rusqlite::{Connection, params};

use super::db_error;
use crate::{
    SandboxChanges, SandboxDelivery, SandboxIdempotency, SandboxObject, SandboxSnapshot, StoreError,
};

pub fn create_schema(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _stripe_objects (
            id TEXT PRIMARY KEY,
            object TEXT NOT NULL,
            seq INTEGER NOT NULL,
            data TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS _stripe_idempotency (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            status INTEGER NOT NULL,
            body TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS _stripe_deliveries (
            event_id TEXT PRIMARY KEY,
            attempts INTEGER NOT NULL,
            delivered INTEGER NOT NULL,
            last_error TEXT
        );",
    )
    .map_err(db_error)
}

pub fn load(conn: &Connection) -> Result<SandboxSnapshot, StoreError> {
    let mut objects = Vec::new();
    let mut stmt = conn
        .prepare("SELECT id, object, seq, data FROM _stripe_objects ORDER BY seq")
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(db_error)?;
    for row in rows {
        let (id, object, seq, data) = row.map_err(db_error)?;
        let data = serde_json::from_str(&data)
            .map_err(|e| StoreError::Database(format!("sandbox object {id} is not JSON: {e}")))?;
        objects.push(SandboxObject {
            id,
            object,
            seq,
            data,
        });
    }
    let mut idempotency = Vec::new();
    let mut stmt = conn
        .prepare("SELECT key, fingerprint, status, body FROM _stripe_idempotency")
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SandboxIdempotency {
                key: r.get(0)?,
                fingerprint: r.get(1)?,
                status: r.get(2)?,
                body: r.get(3)?,
            })
        })
        .map_err(db_error)?;
    for row in rows {
        idempotency.push(row.map_err(db_error)?);
    }
    let mut deliveries = Vec::new();
    let mut stmt = conn
        .prepare("SELECT event_id, attempts, delivered, last_error FROM _stripe_deliveries")
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SandboxDelivery {
                event_id: r.get(0)?,
                attempts: r.get(1)?,
                delivered: r.get::<_, i64>(2)? != 0,
                last_error: r.get(3)?,
            })
        })
        .map_err(db_error)?;
    for row in rows {
        deliveries.push(row.map_err(db_error)?);
    }
    Ok(SandboxSnapshot {
        objects,
        idempotency,
        deliveries,
    })
}

pub fn apply(conn: &Connection, changes: &SandboxChanges) -> Result<(), StoreError> {
    let mut put = conn
        .prepare_cached(
            "INSERT INTO _stripe_objects (id, object, seq, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data",
        )
        .map_err(db_error)?;
    for object in &changes.objects {
        put.execute(params![
            object.id,
            object.object,
            object.seq,
            object.data.to_string()
        ])
        .map_err(db_error)?;
    }
    if let Some(record) = &changes.idempotency {
        conn.prepare_cached("INSERT OR REPLACE INTO _stripe_idempotency (key, fingerprint, status, body) VALUES (?1, ?2, ?3, ?4)")
            .map_err(db_error)?
            .execute(params![record.key, record.fingerprint, record.status, record.body])
            .map_err(db_error)?;
    }
    let mut delivery = conn
        .prepare_cached(
            "INSERT INTO _stripe_deliveries (event_id, attempts, delivered, last_error) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (event_id) DO UPDATE SET attempts = excluded.attempts, delivered = excluded.delivered, last_error = excluded.last_error",
        )
        .map_err(db_error)?;
    for d in &changes.deliveries {
        delivery
            .execute(params![
                d.event_id,
                d.attempts,
                i64::from(d.delivered),
                d.last_error
            ])
            .map_err(db_error)?;
    }
    Ok(())
}
