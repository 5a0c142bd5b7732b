//! The record writer: the one task that writes run records on PostgreSQL,
//! many runs to a transaction, in three statements whatever their number,
//! and the ends of events after the records of their runs.
//!
//! Nobody waits for a run's records (an API has answered, an event's state
//! is its own row), so they are queued and written in batches. A statement
//! per record would cost a round trip each, which on PostgreSQL is most of
//! what a record costs; instead a batch's new runs are one `INSERT … SELECT
//! FROM unnest(…)`, its steps one more, and its ends one `UPDATE … FROM
//! unnest(…)`. They run in that order, so a run's end is never written
//! before its start, which is the only order between records that matters:
//! a run's start, steps and end in one batch land as they would one by one.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::{GenericClient, Pool};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_postgres::types::Json;

use super::events;
use super::runs::{kind_name, optional_time_param, time_param};
use super::{RECORD_BATCH, RECORD_RETRY, RecordJob, db_error, pool_error};
use crate::steps::{StoredStep, stored_steps};
use crate::{EventUpdate, RunRecords, StoreError};

/// Writes queued run records in order, many runs to a transaction, until
/// the store is dropped, and with them the ends of events queued after
/// their runs' records. While the database is unavailable the batch waits
/// and is tried again, so that an outage delays records rather than losing
/// them (runs meanwhile wait for room: see `records_room`). A batch that
/// fails otherwise is written again one run and one event at a time, so
/// that one bad record loses only itself; a run whose records cannot be
/// written at all is logged, as on SQLite, and an event's end that cannot
/// be written is answered with the error, for the inbox to try again.
pub(super) async fn record_writer(pool: Pool, mut queue: mpsc::UnboundedReceiver<RecordJob>) {
    let mut jobs = Vec::with_capacity(RECORD_BATCH);
    while queue.recv_many(&mut jobs, RECORD_BATCH).await > 0 {
        let mut batch = Vec::with_capacity(jobs.len());
        let mut ends = Vec::new();
        let mut flushes = Vec::new();
        for job in jobs.drain(..) {
            match job {
                RecordJob::Write(records, permit) => batch.push((records, permit)),
                RecordJob::Flush(done) => flushes.push(done),
                RecordJob::EventEnd(update, done) => ends.push((update, done)),
            }
        }
        // Every event's end was queued after its runs' records, so writing
        // the batch's records before its ends keeps that order.
        let records: Vec<&RunRecords> = batch.iter().map(|(r, _)| r).collect();
        let updates: Vec<&EventUpdate> = ends.iter().map(|(u, _)| u).collect();
        match write_until_reachable(&pool, &records, &updates).await {
            Ok(applied) => {
                for ((_, done), applied) in ends.into_iter().zip(applied) {
                    let _ = done.send(Ok(applied));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, runs = records.len(), events = updates.len(), "a batch of run records failed; writing them one by one");
                for one in records {
                    if let Err(e) = write_until_reachable(&pool, &[one], &[]).await {
                        tracing::error!(error = %e, "could not record a run's records");
                    }
                }
                for (update, done) in ends {
                    let applied = write_until_reachable(&pool, &[], &[&update]).await;
                    if let Err(e) = &applied {
                        tracing::error!(error = %e, event = %update.id, "could not record an event's end");
                    }
                    let _ = done.send(applied.map(|one| one.first() == Some(&true)));
                }
            }
        }
        drop(batch);
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// [`write_batch`] and the events' ends in a transaction of their own,
/// tried again for as long as the database is unavailable; answers, for
/// each end in order, whether it applied (its claim was still held).
async fn write_until_reachable(
    pool: &Pool,
    batch: &[&RunRecords],
    ends: &[&EventUpdate],
) -> Result<Vec<bool>, StoreError> {
    let mut attempt = 1;
    loop {
        let written = async {
            let mut client = pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(db_error)?;
            write_batch(&tx, batch).await?;
            let mut applied = Vec::with_capacity(ends.len());
            for group in without_repeats(ends) {
                let changed = events::update_many(&tx, &group).await?;
                applied.extend(group.iter().map(|end| changed.contains(&end.id)));
            }
            tx.commit().await.map_err(db_error)?;
            Ok::<_, StoreError>(applied)
        };
        match written.await {
            Err(e) if e.is_transient() => {
                if attempt == 1 {
                    tracing::warn!(error = %e, "run records wait for the database to come back");
                }
                tokio::time::sleep(RECORD_RETRY.delay(attempt)).await;
                attempt = attempt.saturating_add(1);
            }
            done => return done,
        }
    }
}

/// `ends` in order, split where an event comes again (one statement may
/// change an event's row once), so that a later end of an event is applied
/// after its earlier one.
fn without_repeats<'a>(ends: &[&'a EventUpdate]) -> Vec<Vec<&'a EventUpdate>> {
    let mut groups: Vec<Vec<&EventUpdate>> = Vec::new();
    let mut seen = HashSet::new();
    for end in ends {
        if !seen.insert(end.id.as_str()) || groups.is_empty() {
            seen.clear();
            seen.insert(end.id.as_str());
            groups.push(Vec::new());
        }
        groups
            .last_mut()
            .expect("a group was just pushed")
            .push(end);
    }
    groups
}

/// The columns of the runs a batch starts, one vector per column.
#[derive(Default)]
struct Starts<'a> {
    id: Vec<&'a str>,
    kind: Vec<&'static str>,
    name: Vec<&'a str>,
    status: Vec<&'static str>,
    input: Vec<&'a Value>,
    error: Vec<Option<&'a Value>>,
    response_status: Vec<Option<i32>>,
    started_at: Vec<chrono::DateTime<chrono::Utc>>,
    finished_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    duration_ms: Vec<Option<f64>>,
    retry_of: Vec<Option<&'a str>>,
    trigger_event: Vec<Option<&'a str>>,
    steps: Vec<Option<Json<Vec<StoredStep<'a>>>>>,
    instance: Vec<Option<&'a str>>,
}

/// The batches of steps of runs already written.
#[derive(Default)]
struct StepBatches<'a> {
    run_id: Vec<&'a str>,
    first_seq: Vec<i64>,
    steps: Vec<Json<Vec<StoredStep<'a>>>>,
}

/// How runs ended, by run: a later end of the same run replaces an earlier
/// one, as a second `UPDATE` would.
#[derive(Default)]
struct Ends<'a> {
    id: Vec<&'a str>,
    status: Vec<&'static str>,
    error: Vec<Option<&'a Value>>,
    response_status: Vec<Option<i32>>,
    finished_at: Vec<chrono::DateTime<chrono::Utc>>,
    duration_ms: Vec<f64>,
}

/// Writes `batch` in the caller's transaction: the runs it starts (with
/// their first steps and, when they ended already, their ends), then the
/// steps of runs written before, then the ends of those runs.
pub(super) async fn write_batch(
    c: &impl GenericClient,
    batch: &[&RunRecords],
) -> Result<(), StoreError> {
    let mut starts = Starts::default();
    let mut more_steps = StepBatches::default();
    let mut ends = Ends::default();
    let mut end_of: HashMap<&str, usize> = HashMap::new();
    for records in batch {
        match &records.start {
            Some(run) => {
                let end = records.end.as_ref();
                starts.id.push(&run.id);
                starts.kind.push(kind_name(run.kind));
                starts.name.push(&run.name);
                starts
                    .status
                    .push(end.map_or(run.status, |e| e.status).as_str());
                starts.input.push(&run.input);
                starts
                    .error
                    .push(end.map_or(run.error.as_ref(), |e| e.error.as_ref()));
                starts.response_status.push(
                    end.map_or(run.response_status, |e| e.response_status)
                        .map(i32::from),
                );
                starts
                    .started_at
                    .push(time_param(&run.started_at, "the run's start")?);
                starts.finished_at.push(optional_time_param(
                    end.map_or(run.finished_at.as_deref(), |e| Some(e.finished_at.as_str())),
                    "the run's end",
                )?);
                starts
                    .duration_ms
                    .push(end.map_or(run.duration_ms, |e| Some(e.duration_ms)));
                starts.retry_of.push(run.retry_of.as_deref());
                starts.trigger_event.push(run.trigger_event.as_deref());
                starts
                    .steps
                    .push((!records.steps.is_empty()).then(|| Json(stored_steps(&records.steps))));
                starts.instance.push(run.instance.as_deref());
            }
            None => {
                if let Some(first) = records.steps.first() {
                    more_steps.run_id.push(&first.run_id);
                    more_steps.first_seq.push(i64::from(first.seq));
                    more_steps.steps.push(Json(stored_steps(&records.steps)));
                }
                if let Some(end) = &records.end {
                    let finished_at = time_param(&end.finished_at, "the run's end")?;
                    let at = *end_of.entry(&end.id).or_insert_with(|| {
                        ends.id.push(&end.id);
                        ends.status.push("");
                        ends.error.push(None);
                        ends.response_status.push(None);
                        ends.finished_at.push(finished_at);
                        ends.duration_ms.push(0.0);
                        ends.id.len() - 1
                    });
                    ends.status[at] = end.status.as_str();
                    ends.error[at] = end.error.as_ref();
                    ends.response_status[at] = end.response_status.map(i32::from);
                    ends.finished_at[at] = finished_at;
                    ends.duration_ms[at] = end.duration_ms;
                }
            }
        }
    }
    if !starts.id.is_empty() {
        // A row that exists is left as it is: the runner writes a run's row
        // again only when a panic may have lost the first (`Runner::run`).
        let statement = c
            .prepare_cached(
                "INSERT INTO _paywire_runs (id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, steps, instance)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::int4[], $8::timestamptz[], $9::timestamptz[], $10::float8[], $11::text[], $12::text[], $13::jsonb[], $14::text[])
                 ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(db_error)?;
        let s = &starts;
        c.execute(
            &statement,
            &[
                &s.id,
                &s.kind,
                &s.name,
                &s.status,
                &s.input,
                &s.error,
                &s.response_status,
                &s.started_at,
                &s.finished_at,
                &s.duration_ms,
                &s.retry_of,
                &s.trigger_event,
                &s.steps,
                &s.instance,
            ],
        )
        .await
        .map_err(db_error)?;
    }
    if !more_steps.run_id.is_empty() {
        // A batch that is there already was committed by a transaction
        // whose answer was lost: what was committed is what happened (see
        // `runs::insert_steps`).
        let statement = c
            .prepare_cached(
                "INSERT INTO _paywire_step_batches (run_id, first_seq, steps)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::jsonb[])
                 ON CONFLICT (run_id, first_seq) DO NOTHING",
            )
            .await
            .map_err(db_error)?;
        c.execute(
            &statement,
            &[&more_steps.run_id, &more_steps.first_seq, &more_steps.steps],
        )
        .await
        .map_err(db_error)?;
    }
    if !ends.id.is_empty() {
        let statement = c
            .prepare_cached(
                "UPDATE _paywire_runs AS r SET status = e.status, error = e.error, response_status = e.response_status, finished_at = e.finished_at, duration_ms = e.duration_ms
                 FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::int4[], $5::timestamptz[], $6::float8[])
                   AS e(id, status, error, response_status, finished_at, duration_ms)
                 WHERE r.id = e.id",
            )
            .await
            .map_err(db_error)?;
        c.execute(
            &statement,
            &[
                &ends.id,
                &ends.status,
                &ends.error,
                &ends.response_status,
                &ends.finished_at,
                &ends.duration_ms,
            ],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}
