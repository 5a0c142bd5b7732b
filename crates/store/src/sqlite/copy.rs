//! Copying the SQLite store whole (see `crate::copy`): what it holds, pages
//! of paywire's own records read in the order of their keys, and pages
//! written back exactly as they were read. The builder's tables are
//! `tables/copy.rs`'s.

use rusqlite::{Connection, Params, Row, params};
use serde_json::Value;

use super::db_error;
use super::events::{EVENT_COLUMNS, EVENT_TABLES, event_from_row};
use super::runs::{RUN_COLUMN_COUNT, RUN_COLUMNS, json_text, kind_name, run_from_row};
use super::tables;
use crate::copy::{batch_after, delivery_after, number_after, page_limit, text_after};
use crate::{
    Counts, Cursor, InstanceRecord, Kind, Page, RecordKind, Records, SandboxDelivery,
    SandboxIdempotency, SandboxObject, SignedOutSession, StepBatch, StoreError, StoredEvent,
    StoredRun,
};

pub fn count(conn: &Connection) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    for kind in RecordKind::ALL {
        // The table's name is one of paywire's own constants.
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", kind.table()), [], |r| {
                r.get(0)
            })
            .map_err(db_error)?;
        counts
            .records
            .insert(kind, u64::try_from(rows).unwrap_or(0));
    }
    counts.tables = tables::copy::builder_tables(conn)?;
    Ok(counts)
}

/// Every row `sql` returns, each read by `read`.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
    read: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(db_error)?;
    let rows = statement.query_map(params, read).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

/// Stored JSON text as its value; `what` names it if it is not JSON, which
/// a copy must not paper over.
fn json(text: &str, what: impl FnOnce() -> String) -> Result<Value, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Database(format!("{} is not JSON: {e}", what())))
}

pub fn export(
    conn: &Connection,
    kind: &Kind,
    after: &Option<Cursor>,
    limit: u32,
) -> Result<Page, StoreError> {
    let limit = page_limit(limit);
    let kind = match kind {
        Kind::Table(table) => {
            return tables::copy::export_rows(conn, table, number_after(after), limit);
        }
        Kind::Records(kind) => *kind,
    };
    let text = text_after(after);
    let (records, last) = match kind {
        RecordKind::Runs => {
            let found = rows(
                conn,
                &format!(
                    "SELECT {RUN_COLUMNS}, steps FROM _paywire_runs
                     WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2"
                ),
                params![text, limit],
                |row| {
                    Ok((
                        run_from_row(row)?,
                        row.get::<_, Option<String>>(RUN_COLUMN_COUNT)?,
                    ))
                },
            )?;
            let runs = found
                .into_iter()
                .map(|(run, steps)| {
                    let steps = steps
                        .map(|text| json(&text, || format!("the steps of run {}", run.id)))
                        .transpose()?;
                    Ok(StoredRun { run, steps })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let last = runs.last().map(|r| Value::from(r.run.id.as_str()));
            (Records::Runs(runs), last)
        }
        RecordKind::StepBatches => {
            let (run, seq) = batch_after(after).unzip();
            let found = rows(
                conn,
                "SELECT run_id, first_seq, steps FROM _paywire_step_batches
                 WHERE ?1 IS NULL OR (run_id, first_seq) > (?1, ?2)
                 ORDER BY run_id, first_seq LIMIT ?3",
                params![run, seq, limit],
                |row| Ok((row.get(0)?, row.get(1)?, row.get::<_, String>(2)?)),
            )?;
            let batches = found
                .into_iter()
                .map(|(run_id, first_seq, steps): (String, i64, String)| {
                    let steps = json(&steps, || format!("a batch of steps of run {run_id}"))?;
                    Ok(StepBatch {
                        run_id,
                        first_seq,
                        steps,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let last = batches
                .last()
                .map(|b| serde_json::json!([b.run_id, b.first_seq]));
            (Records::StepBatches(batches), last)
        }
        RecordKind::Events => {
            let events = rows(
                conn,
                &format!(
                    "SELECT {EVENT_COLUMNS}, e.claimed_at FROM {EVENT_TABLES}
                     WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
                ),
                params![number_after(after).unwrap_or(i64::MIN), limit],
                |row| {
                    Ok(StoredEvent {
                        event: event_from_row(row)?,
                        claimed_at: row.get(15)?,
                    })
                },
            )?;
            let last = events.last().map(|e| Value::from(e.event.seq));
            (Records::Events(events), last)
        }
        RecordKind::Instances => {
            let instances = rows(
                conn,
                "SELECT id, started_at, last_seen FROM _paywire_instances
                 WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2",
                params![text, limit],
                |row| {
                    Ok(InstanceRecord {
                        id: row.get(0)?,
                        started_at: row.get(1)?,
                        last_seen: row.get(2)?,
                    })
                },
            )?;
            let last = instances.last().map(|i| Value::from(i.id.as_str()));
            (Records::Instances(instances), last)
        }
        RecordKind::SignedOutSessions => {
            let sessions = rows(
                conn,
                "SELECT id, expires_at FROM _paywire_signed_out_sessions
                 WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2",
                params![text, limit],
                |row| {
                    Ok(SignedOutSession {
                        id: row.get(0)?,
                        expires_at: row.get(1)?,
                    })
                },
            )?;
            let last = sessions.last().map(|s| Value::from(s.id.as_str()));
            (Records::SignedOutSessions(sessions), last)
        }
        RecordKind::SandboxObjects => {
            let found = rows(
                conn,
                "SELECT id, object, seq, data FROM _stripe_objects
                 WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2",
                params![text, limit],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get::<_, String>(3)?,
                    ))
                },
            )?;
            let objects = found
                .into_iter()
                .map(|(id, object, seq, data): (String, String, i64, String)| {
                    let data = json(&data, || format!("sandbox object {id}"))?;
                    Ok(SandboxObject {
                        id,
                        object,
                        seq,
                        data,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let last = objects.last().map(|o| Value::from(o.id.as_str()));
            (Records::SandboxObjects(objects), last)
        }
        RecordKind::SandboxIdempotency => {
            let records = rows(
                conn,
                "SELECT key, fingerprint, status, body FROM _stripe_idempotency
                 WHERE ?1 IS NULL OR key > ?1 ORDER BY key LIMIT ?2",
                params![text, limit],
                |row| {
                    Ok(SandboxIdempotency {
                        key: row.get(0)?,
                        fingerprint: row.get(1)?,
                        status: row.get(2)?,
                        body: row.get(3)?,
                    })
                },
            )?;
            let last = records.last().map(|r| Value::from(r.key.as_str()));
            (Records::SandboxIdempotency(records), last)
        }
        RecordKind::SandboxDeliveries => {
            let (event, endpoint) = delivery_after(after).unzip();
            let deliveries = rows(
                conn,
                "SELECT event_id, endpoint, attempts, delivered, last_error FROM _stripe_deliveries
                 WHERE ?1 IS NULL OR (event_id, endpoint) > (?1, ?2)
                 ORDER BY event_id, endpoint LIMIT ?3",
                params![event, endpoint, limit],
                |row| {
                    Ok(SandboxDelivery {
                        event_id: row.get(0)?,
                        endpoint: row.get(1)?,
                        attempts: row.get(2)?,
                        delivered: row.get::<_, i64>(3)? != 0,
                        last_error: row.get(4)?,
                    })
                },
            )?;
            let last = deliveries
                .last()
                .map(|d| serde_json::json!([d.event_id, d.endpoint]));
            (Records::SandboxDeliveries(deliveries), last)
        }
    };
    Ok(Page::of(records, limit, last))
}

/// A failed write of a copied record: one that is there already is a
/// conflict, named by `what`; anything else is the database's.
pub(super) fn write_error(
    what: impl FnOnce() -> String,
) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| match &e {
        rusqlite::Error::SqliteFailure(code, detail)
            if code.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Conflict(format!(
                "{} is there already ({})",
                what(),
                detail.as_deref().unwrap_or("a constraint failed")
            ))
        }
        _ => db_error(e),
    }
}

/// Runs a prepared insert once per record, naming the record on failure.
fn insert_each<T>(
    conn: &Connection,
    sql: &str,
    records: &[T],
    what: impl Fn(&T) -> String,
    mut execute: impl FnMut(&mut rusqlite::CachedStatement<'_>, &T) -> rusqlite::Result<usize>,
) -> Result<(), StoreError> {
    let mut statement = conn.prepare_cached(sql).map_err(db_error)?;
    for record in records {
        execute(&mut statement, record).map_err(write_error(|| what(record)))?;
    }
    Ok(())
}

/// Writes `records` as they are; the caller's job makes them one
/// transaction, undone whole when any fails.
pub fn import(conn: &Connection, records: &Records) -> Result<u64, StoreError> {
    match records {
        Records::Runs(runs) => insert_each(
            conn,
            "INSERT INTO _paywire_runs (id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, steps, instance)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            runs,
            |r| format!("the run {}", r.run.id),
            |statement, StoredRun { run, steps }| {
                statement.execute(params![
                    run.id,
                    kind_name(run.kind),
                    run.name,
                    run.status.as_str(),
                    json_text(&run.input),
                    run.error.as_ref().map(json_text),
                    run.response_status,
                    run.started_at,
                    run.finished_at,
                    run.duration_ms,
                    run.retry_of,
                    run.trigger_event,
                    steps.as_ref().map(json_text),
                    run.instance,
                ])
            },
        )?,
        Records::StepBatches(batches) => insert_each(
            conn,
            "INSERT INTO _paywire_step_batches (run_id, first_seq, steps) VALUES (?1, ?2, ?3)",
            batches,
            |b| format!("the steps of run {} from {}", b.run_id, b.first_seq),
            |statement, b| statement.execute(params![b.run_id, b.first_seq, json_text(&b.steps)]),
        )?,
        Records::Events(events) => {
            // An event's number of arrival is kept; AUTOINCREMENT then
            // numbers the events received afterwards past the highest.
            insert_each(
                conn,
                "INSERT INTO _paywire_events (seq, id, type, object_type, object_id, created, livemode, received_at, state, attempts, next_attempt_at, last_error, finished_at, claimed_by, claimed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                events,
                |e| format!("the event {}", e.event.id),
                |statement, StoredEvent { event: e, claimed_at }| {
                    statement.execute(params![
                        e.seq,
                        e.id,
                        e.event_type,
                        e.object_type,
                        e.object_id,
                        e.created,
                        i64::from(e.livemode),
                        e.received_at,
                        e.state.as_str(),
                        e.attempts,
                        e.next_attempt_at,
                        e.last_error,
                        e.finished_at,
                        e.claimed_by,
                        claimed_at,
                    ])
                },
            )?;
            insert_each(
                conn,
                "INSERT INTO _paywire_event_payloads (seq, payload) VALUES (?1, ?2)",
                events,
                |e| format!("the payload of event {}", e.event.id),
                |statement, e| statement.execute(params![e.event.seq, e.event.payload]),
            )?;
        }
        Records::Instances(instances) => insert_each(
            conn,
            "INSERT INTO _paywire_instances (id, started_at, last_seen) VALUES (?1, ?2, ?3)",
            instances,
            |i| format!("the instance {}", i.id),
            |statement, i| statement.execute(params![i.id, i.started_at, i.last_seen]),
        )?,
        Records::SignedOutSessions(sessions) => insert_each(
            conn,
            "INSERT INTO _paywire_signed_out_sessions (id, expires_at) VALUES (?1, ?2)",
            sessions,
            |s| format!("the signed-out session {}", s.id),
            |statement, s| statement.execute(params![s.id, s.expires_at]),
        )?,
        Records::SandboxObjects(objects) => insert_each(
            conn,
            "INSERT INTO _stripe_objects (id, object, seq, data) VALUES (?1, ?2, ?3, ?4)",
            objects,
            |o| format!("the sandbox object {}", o.id),
            |statement, o| statement.execute(params![o.id, o.object, o.seq, json_text(&o.data)]),
        )?,
        Records::SandboxIdempotency(records) => insert_each(
            conn,
            "INSERT INTO _stripe_idempotency (key, fingerprint, status, body) VALUES (?1, ?2, ?3, ?4)",
            records,
            |r| format!("the sandbox's idempotency record {}", r.key),
            |statement, r| statement.execute(params![r.key, r.fingerprint, r.status, r.body]),
        )?,
        Records::SandboxDeliveries(deliveries) => insert_each(
            conn,
            "INSERT INTO _stripe_deliveries (event_id, endpoint, attempts, delivered, last_error) VALUES (?1, ?2, ?3, ?4, ?5)",
            deliveries,
            |d| format!("the sandbox's delivery of {} to {:?}", d.event_id, d.endpoint),
            |statement, d| {
                statement.execute(params![d.event_id, d.endpoint, d.attempts, i64::from(d.delivered), d.last_error])
            },
        )?,
        Records::Rows { table, rows } => tables::copy::import_rows(conn, table, rows)?,
    }
    Ok(records.len() as u64)
}
