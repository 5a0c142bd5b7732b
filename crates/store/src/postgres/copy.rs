//! Copying into (or out of) the PostgreSQL store whole (see `crate::copy`):
//! what it holds, pages of paywire's own records read in the order of
//! their keys, and pages written exactly as they were read. The builder's
//! tables are `tables/copy.rs`'s.
//!
//! Events keep their numbers of arrival: they are written past the
//! identity column (`OVERRIDING SYSTEM VALUE`), and its sequence is then
//! set to the highest number there, so that an event received afterwards
//! is numbered after every copied one, as it would be on SQLite.

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::db_error;
use super::events::{EVENT_COLUMNS, event_from_row};
use super::runs::{
    RUN_COLUMN_COUNT, RUN_COLUMNS, from_integer, kind_name, optional_time_param, run_from_row,
    time_param, to_integer,
};
use super::tables;
use crate::copy::{batch_after, delivery_after, number_after, page_limit, text_after};
use crate::{
    Counts, Cursor, InstanceRecord, Kind, Page, RecordKind, Records, SandboxDelivery,
    SandboxIdempotency, SandboxObject, SignedOutSession, StepBatch, StoreError, StoredEvent,
    StoredRun,
};

pub(super) async fn count(c: &impl GenericClient) -> Result<Counts, StoreError> {
    let mut counts = Counts::default();
    for kind in RecordKind::ALL {
        // The table's name is one of paywire's own constants.
        let rows: i64 = c
            .query_one(&format!("SELECT count(*) FROM {}", kind.table()), &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        counts
            .records
            .insert(kind, u64::try_from(rows).unwrap_or(0));
    }
    counts.tables = tables::copy::builder_tables(c).await?;
    Ok(counts)
}

/// Every row `sql` returns with `params`.
async fn query(
    c: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, StoreError> {
    let statement = c.prepare_cached(sql).await.map_err(db_error)?;
    c.query(&statement, params).await.map_err(db_error)
}

pub(super) async fn export(
    c: &impl GenericClient,
    kind: &Kind,
    after: &Option<Cursor>,
    limit: u32,
) -> Result<Page, StoreError> {
    let limit = page_limit(limit);
    let kind = match kind {
        Kind::Table(table) => {
            let after = after.as_ref().map(|Cursor(key)| key);
            return tables::copy::export_rows(c, table, after, limit).await;
        }
        Kind::Records(kind) => *kind,
    };
    let text = text_after(after);
    let count = i64::from(limit);
    let (records, last) = match kind {
        RecordKind::Runs => {
            let found = query(
                c,
                &format!(
                    "SELECT {RUN_COLUMNS}, steps FROM _paywire_runs
                     WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2"
                ),
                &[&text, &count],
            )
            .await?;
            let runs = found
                .iter()
                .map(|row| {
                    Ok(StoredRun {
                        run: run_from_row(row)?,
                        steps: row.try_get(RUN_COLUMN_COUNT).map_err(db_error)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let last = runs.last().map(|r| Value::from(r.run.id.as_str()));
            (Records::Runs(runs), last)
        }
        RecordKind::StepBatches => {
            let (run, seq) = batch_after(after).unzip();
            let found = query(
                c,
                "SELECT run_id, first_seq, steps FROM _paywire_step_batches
                 WHERE $1::text IS NULL OR (run_id, first_seq) > ($1, $2::bigint)
                 ORDER BY run_id, first_seq LIMIT $3",
                &[&run, &seq.unwrap_or(0), &count],
            )
            .await?;
            let batches = found
                .iter()
                .map(|row| {
                    Ok(StepBatch {
                        run_id: row.try_get(0)?,
                        first_seq: row.try_get(1)?,
                        steps: row.try_get(2)?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(db_error)?;
            let last = batches
                .last()
                .map(|b| serde_json::json!([b.run_id, b.first_seq]));
            (Records::StepBatches(batches), last)
        }
        RecordKind::Events => {
            let found = query(
                c,
                &format!(
                    "SELECT {EVENT_COLUMNS}, claimed_at FROM _paywire_events
                     WHERE seq > $1 ORDER BY seq LIMIT $2"
                ),
                &[&number_after(after).unwrap_or(i64::MIN), &count],
            )
            .await?;
            let events = found
                .iter()
                .map(|row| {
                    Ok(StoredEvent {
                        event: event_from_row(row)?,
                        claimed_at: row.try_get(15).map_err(db_error)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let last = events.last().map(|e| Value::from(e.event.seq));
            (Records::Events(events), last)
        }
        RecordKind::Instances => {
            let found = query(
                c,
                "SELECT id, started_at, last_seen FROM _paywire_instances
                 WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
                &[&text, &count],
            )
            .await?;
            let instances = found
                .iter()
                .map(|row| {
                    Ok(InstanceRecord {
                        id: row.try_get(0)?,
                        started_at: row.try_get(1)?,
                        last_seen: row.try_get(2)?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(db_error)?;
            let last = instances.last().map(|i| Value::from(i.id.as_str()));
            (Records::Instances(instances), last)
        }
        RecordKind::SignedOutSessions => {
            let found = query(
                c,
                "SELECT id, expires_at FROM _paywire_signed_out_sessions
                 WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
                &[&text, &count],
            )
            .await?;
            let sessions = found
                .iter()
                .map(|row| {
                    Ok(SignedOutSession {
                        id: row.try_get(0)?,
                        expires_at: row.try_get(1)?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(db_error)?;
            let last = sessions.last().map(|s| Value::from(s.id.as_str()));
            (Records::SignedOutSessions(sessions), last)
        }
        RecordKind::SandboxObjects => {
            let found = query(
                c,
                "SELECT id, object, seq, data FROM _stripe_objects
                 WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2",
                &[&text, &count],
            )
            .await?;
            let objects = found
                .iter()
                .map(|row| {
                    Ok(SandboxObject {
                        id: row.try_get(0)?,
                        object: row.try_get(1)?,
                        seq: row.try_get(2)?,
                        data: row.try_get(3)?,
                    })
                })
                .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                .map_err(db_error)?;
            let last = objects.last().map(|o| Value::from(o.id.as_str()));
            (Records::SandboxObjects(objects), last)
        }
        RecordKind::SandboxIdempotency => {
            let found = query(
                c,
                "SELECT key, fingerprint, status, body FROM _stripe_idempotency
                 WHERE $1::text IS NULL OR key > $1 ORDER BY key LIMIT $2",
                &[&text, &count],
            )
            .await?;
            let records = found
                .iter()
                .map(|row| {
                    Ok(SandboxIdempotency {
                        key: row.try_get(0).map_err(db_error)?,
                        fingerprint: row.try_get(1).map_err(db_error)?,
                        status: from_integer(
                            row.try_get(2).map_err(db_error)?,
                            "a stored answer's status",
                        )?,
                        body: row.try_get(3).map_err(db_error)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let last = records.last().map(|r| Value::from(r.key.as_str()));
            (Records::SandboxIdempotency(records), last)
        }
        RecordKind::SandboxDeliveries => {
            let (event, endpoint) = delivery_after(after).unzip();
            let found = query(
                c,
                "SELECT event_id, endpoint, attempts, delivered, last_error FROM _stripe_deliveries
                 WHERE $1::text IS NULL OR (event_id, endpoint) > ($1, $2::text)
                 ORDER BY event_id, endpoint LIMIT $3",
                &[&event, &endpoint.unwrap_or_default(), &count],
            )
            .await?;
            let deliveries = found
                .iter()
                .map(|row| {
                    Ok(SandboxDelivery {
                        event_id: row.try_get(0).map_err(db_error)?,
                        endpoint: row.try_get(1).map_err(db_error)?,
                        attempts: from_integer(
                            row.try_get(2).map_err(db_error)?,
                            "a delivery's count of attempts",
                        )?,
                        delivered: row.try_get(3).map_err(db_error)?,
                        last_error: row.try_get(4).map_err(db_error)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
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
pub(super) fn write_error(what: impl FnOnce() -> String, e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let detail = e
            .as_db_error()
            .map(|db| db.message().to_string())
            .unwrap_or_default();
        return StoreError::Conflict(format!("{} is there already ({detail})", what()));
    }
    StoreError::Database(format!("{}: {e}", what()))
}

/// A value to bind. Records are written with values of many types, so each
/// is boxed.
type Param = Box<dyn ToSql + Sync + Send>;

fn param(value: impl ToSql + Sync + Send + 'static) -> Param {
    Box::new(value)
}

/// Runs `sql`, prepared once/// Runs `sql`, prepared once, with the values of each record.
async fn insert_each<T>(
    c: &impl GenericClient,
    sql: &str,
    records: &[T],
    what: impl Fn(&T) -> String,
    values: impl Fn(&T) -> Result<Vec<Param>, StoreError>,
) -> Result<(), StoreError> {
    let statement = c.prepare_cached(sql).await.map_err(db_error)?;
    for record in records {
        let values = values(record)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values
            .iter()
            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
            .collect();
        c.execute(&statement, &refs)
            .await
            .map_err(|e| write_error(|| what(record), e))?;
    }
    Ok(())
}

/// Writes `records` as they are, in the caller's transaction.
pub(super) async fn import(c: &impl GenericClient, records: &Records) -> Result<u64, StoreError> {
    match records {
        Records::Runs(runs) => {
            insert_each(
                c,
                "INSERT INTO _paywire_runs (id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, steps, instance)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                runs,
                |r| format!("the run {}", r.run.id),
                |StoredRun { run, steps }| {
                    Ok(vec![
                        param(run.id.clone()),
                        param(kind_name(run.kind)),
                        param(run.name.clone()),
                        param(run.status.as_str()),
                        param(run.input.clone()),
                        param(run.error.clone()),
                        param(run.response_status.map(i32::from)),
                        param(time_param(&run.started_at, "the run's start")?),
                        param(optional_time_param(
                            run.finished_at.as_deref(),
                            "the run's end",
                        )?),
                        param(run.duration_ms),
                        param(run.retry_of.clone()),
                        param(run.trigger_event.clone()),
                        param(steps.clone()),
                        param(run.instance.clone()),
                    ])
                },
            )
            .await?
        }
        Records::StepBatches(batches) => {
            insert_each(
                c,
                "INSERT INTO _paywire_step_batches (run_id, first_seq, steps) VALUES ($1, $2, $3)",
                batches,
                |b| format!("the steps of run {} from {}", b.run_id, b.first_seq),
                |b| {
                    Ok(vec![
                        param(b.run_id.clone()),
                        param(b.first_seq),
                        param(b.steps.clone()),
                    ])
                },
            )
            .await?
        }
        Records::Events(events) => {
            insert_each(
                c,
                "INSERT INTO _paywire_events (seq, id, type, object_type, object_id, created, livemode, payload, received_at, state, attempts, next_attempt_at, last_error, finished_at, claimed_by, claimed_at)
                 OVERRIDING SYSTEM VALUE
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                events,
                |e| format!("the event {}", e.event.id),
                |StoredEvent { event: e, claimed_at }| {
                    Ok(vec![
                        param(e.seq),
                        param(e.id.clone()),
                        param(e.event_type.clone()),
                        param(e.object_type.clone()),
                        param(e.object_id.clone()),
                        param(e.created),
                        param(e.livemode),
                        param(e.payload.clone()),
                        param(time_param(&e.received_at, "the event's arrival")?),
                        param(e.state.as_str()),
                        param(to_integer(e.attempts, "an event's count of attempts")?),
                        param(e.next_attempt_at),
                        param(e.last_error.clone()),
                        param(optional_time_param(
                            e.finished_at.as_deref(),
                            "the event's end",
                        )?),
                        param(e.claimed_by.clone()),
                        param(*claimed_at),
                    ])
                },
            )
            .await?;
            if !events.is_empty() {
                c.execute(
                    "SELECT setval(pg_get_serial_sequence('_paywire_events', 'seq'), max(seq))
                     FROM _paywire_events",
                    &[],
                )
                .await
                .map_err(db_error)?;
            }
        }
        Records::Instances(instances) => {
            insert_each(
                c,
                "INSERT INTO _paywire_instances (id, started_at, last_seen) VALUES ($1, $2, $3)",
                instances,
                |i| format!("the instance {}", i.id),
                |i| {
                    Ok(vec![
                        param(i.id.clone()),
                        param(i.started_at.clone()),
                        param(i.last_seen),
                    ])
                },
            )
            .await?
        }
        Records::SignedOutSessions(sessions) => {
            insert_each(
                c,
                "INSERT INTO _paywire_signed_out_sessions (id, expires_at) VALUES ($1, $2)",
                sessions,
                |s| format!("the signed-out session {}", s.id),
                |s| Ok(vec![param(s.id.clone()), param(s.expires_at)]),
            )
            .await?
        }
        Records::SandboxObjects(objects) => {
            insert_each(
                c,
                "INSERT INTO _stripe_objects (id, object, seq, data) VALUES ($1, $2, $3, $4)",
                objects,
                |o| format!("the sandbox object {}", o.id),
                |o| {
                    Ok(vec![
                        param(o.id.clone()),
                        param(o.object.clone()),
                        param(o.seq),
                        param(o.data.clone()),
                    ])
                },
            )
            .await?
        }
        Records::SandboxIdempotency(records) => {
            insert_each(
                c,
                "INSERT INTO _stripe_idempotency (key, fingerprint, status, body) VALUES ($1, $2, $3, $4)",
                records,
                |r| format!("the sandbox's idempotency record {}", r.key),
                |r| {
                    Ok(vec![
                        param(r.key.clone()),
                        param(r.fingerprint.clone()),
                        param(i32::from(r.status)),
                        param(r.body.clone()),
                    ])
                },
            )
            .await?
        }
        Records::SandboxDeliveries(deliveries) => {
            insert_each(
                c,
                "INSERT INTO _stripe_deliveries (event_id, endpoint, attempts, delivered, last_error) VALUES ($1, $2, $3, $4, $5)",
                deliveries,
                |d| format!("the sandbox's delivery of {} to {:?}", d.event_id, d.endpoint),
                |d| {
                    Ok(vec![
                        param(d.event_id.clone()),
                        param(d.endpoint.clone()),
                        param(to_integer(d.attempts, "a delivery's count of attempts")?),
                        param(d.delivered),
                        param(d.last_error.clone()),
                    ])
                },
            )
            .await?
        }
        Records::Rows { table, rows } => tables::copy::import_rows(c, table, rows).await?,
    }
    Ok(records.len() as u64)
}
