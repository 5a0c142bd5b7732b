//! The Stripe sandbox's state: Stripe objects as JSON documents, idempotency
//! records, and the delivery state of webhook events, one row per event and
//! endpoint.

use rusqlite::{Connection, params};

use super::db_error;
use crate::{
    SandboxChanges, SandboxDelivery, SandboxIdempotency, SandboxObject, SandboxSnapshot, StoreError,
};

pub fn create_schema(conn: &Connection) -> Result<(), StoreError> {
    // Deliveries were kept one per event before events went to several
    // endpoints; such a table is rebuilt keyed by event and endpoint, its
    // rows becoming deliveries to the configured endpoint (`''`). The
    // columns are looked at rather than the schema's version, which the
    // runs' tables have already set by now.
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('_stripe_deliveries')")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(db_error)?;
    if !columns.is_empty() && !columns.iter().any(|c| c == "endpoint") {
        conn.execute_batch(
            "ALTER TABLE _stripe_deliveries RENAME TO _stripe_deliveries_by_event;
             CREATE TABLE _stripe_deliveries (
                event_id TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                delivered INTEGER NOT NULL,
                last_error TEXT,
                PRIMARY KEY (event_id, endpoint)
             );
             INSERT INTO _stripe_deliveries (event_id, endpoint, attempts, delivered, last_error)
             SELECT event_id, '', attempts, delivered, last_error FROM _stripe_deliveries_by_event;
             DROP TABLE _stripe_deliveries_by_event;",
        )
        .map_err(db_error)?;
    }
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
            event_id TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            delivered INTEGER NOT NULL,
            last_error TEXT,
            PRIMARY KEY (event_id, endpoint)
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
        .prepare(
            "SELECT event_id, endpoint, attempts, delivered, last_error FROM _stripe_deliveries
             ORDER BY event_id, endpoint",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SandboxDelivery {
                event_id: r.get(0)?,
                endpoint: r.get(1)?,
                attempts: r.get(2)?,
                delivered: r.get::<_, i64>(3)? != 0,
                last_error: r.get(4)?,
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
            "INSERT INTO _stripe_deliveries (event_id, endpoint, attempts, delivered, last_error) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (event_id, endpoint) DO UPDATE SET attempts = excluded.attempts, delivered = excluded.delivered, last_error = excluded.last_error",
        )
        .map_err(db_error)?;
    for d in &changes.deliveries {
        delivery
            .execute(params![
                d.event_id,
                d.endpoint,
                d.attempts,
                i64::from(d.delivered),
                d.last_error
            ])
            .map_err(db_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_kept_one_per_event_become_the_configured_endpoints() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE _stripe_deliveries (
                event_id TEXT PRIMARY KEY, attempts INTEGER NOT NULL,
                delivered INTEGER NOT NULL, last_error TEXT);
             INSERT INTO _stripe_deliveries VALUES ('evt_old', 3, 0, 'refused');",
        )
        .unwrap();
        create_schema(&conn).unwrap();
        // A second start finds the new table and leaves it alone.
        create_schema(&conn).unwrap();
        let old = SandboxDelivery {
            event_id: "evt_old".into(),
            endpoint: String::new(),
            attempts: 3,
            delivered: false,
            last_error: Some("refused".into()),
        };
        assert_eq!(load(&conn).unwrap().deliveries, vec![old.clone()]);
        let to_new = SandboxDelivery {
            endpoint: "we_new".into(),
            ..old.clone()
        };
        let changes = SandboxChanges {
            deliveries: vec![to_new.clone()],
            ..SandboxChanges::default()
        };
        apply(&conn, &changes).unwrap();
        assert_eq!(load(&conn).unwrap().deliveries, vec![old, to_new]);
    }
}
