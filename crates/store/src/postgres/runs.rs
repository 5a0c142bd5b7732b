//! paywire's own tables on PostgreSQL (prefixed `_paywire_`, a prefix
//! builders' tables cannot take), the version of their schema, the record of
//! runs and steps, and console sessions that signed out.
//!
//! Runs and steps are kept in the shapes SQLite keeps them in (see
//! `crate::steps`), with JSON as `jsonb` and times as `timestamptz`. Times
//! come in as the RFC 3339 text the records carry and go out in the one form
//! the runner writes (UTC, milliseconds, `Z`), so they read back as written.

use chrono::{DateTime, SecondsFormat, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::Json;

use super::db_error;
use crate::steps::{LoadedStep, extend_steps, stored_steps, unreadable_steps};
use crate::{
    RunDetail, RunEnd, RunFilter, RunKind, RunRecord, RunRecords, RunStatus, StepRecord, StoreError,
};

/// The version of paywire's own tables on PostgreSQL, kept in the one row of
/// `_paywire_schema`. Bumped whenever they change, with a migration from the
/// versions before it in [`create_schema`]. (It counts apart from SQLite's,
/// whose history is longer.)
///
/// Version 2 keys the sandbox's deliveries by event and webhook endpoint; the
/// migration is `sandbox.rs`'s, which looks at the table's columns, and the
/// version keeps an older paywire, which would write them by event alone,
/// away from the database.
const SCHEMA_VERSION: i32 = 2;

/// Creates paywire's tables for runs and sessions, and the table of the
/// schema's version, unless they exist. `PostgresStore::open` calls it first,
/// in the transaction (and under the lock) that creates the others.
pub(super) async fn create_schema(c: &impl GenericClient) -> Result<(), StoreError> {
    // The key column holds `true` alone, so the table holds one row.
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS _paywire_schema (
            one_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one_row),
            version INTEGER NOT NULL
        )",
    )
    .await
    .map_err(db_error)?;
    let found: Option<i32> = c
        .query_opt("SELECT version FROM _paywire_schema", &[])
        .await
        .map_err(db_error)?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(db_error)?;
    if let Some(version) = found
        && version > SCHEMA_VERSION
    {
        return Err(StoreError::Database(format!(
            "the database was written by a newer paywire (schema {version}; this one knows {SCHEMA_VERSION})"
        )));
    }
    // As on SQLite, a run's steps are JSON arrays, one per hand-over of its
    // records: those handed over with the run's row in its `steps` column,
    // later ones in a row of `_paywire_step_batches` each, so a run that
    // only computes is one row written once.
    //
    // Identifiers compare byte by byte (`COLLATE "C"`), as in SQLite, so
    // that runs sort the same on both backends whatever the database's
    // locale; it also makes their indexes cheaper to search.
    //
    // `instance` is which paywire instance ran the run, for a cluster's
    // recovery to fail only the runs of the instance that stopped.
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS _paywire_runs (
            id TEXT COLLATE \"C\" PRIMARY KEY,
            retry_of TEXT COLLATE \"C\",
            trigger_event TEXT COLLATE \"C\",
            kind TEXT NOT NULL,
            name TEXT COLLATE \"C\" NOT NULL,
            status TEXT NOT NULL,
            input JSONB NOT NULL,
            error JSONB,
            response_status INTEGER,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            duration_ms DOUBLE PRECISION,
            steps JSONB,
            instance TEXT
        );
        CREATE INDEX IF NOT EXISTS _paywire_runs_by_start ON _paywire_runs (started_at);
        CREATE INDEX IF NOT EXISTS _paywire_runs_by_name ON _paywire_runs (name, started_at);
        CREATE INDEX IF NOT EXISTS _paywire_runs_of_event ON _paywire_runs (trigger_event)
            WHERE trigger_event IS NOT NULL;
        CREATE INDEX IF NOT EXISTS _paywire_runs_retrying ON _paywire_runs (retry_of)
            WHERE retry_of IS NOT NULL;
        CREATE TABLE IF NOT EXISTS _paywire_step_batches (
            run_id TEXT COLLATE \"C\" NOT NULL,
            first_seq BIGINT NOT NULL,
            steps JSONB NOT NULL,
            PRIMARY KEY (run_id, first_seq)
        );
        CREATE TABLE IF NOT EXISTS _paywire_signed_out_sessions (
            id TEXT COLLATE \"C\" PRIMARY KEY,
            expires_at BIGINT NOT NULL
        );",
    )
    .await
    .map_err(db_error)?;
    // Migrations from earlier versions go here, before the version is
    // recorded; version 1 is the first, and version 2's is in `sandbox.rs`.
    if found != Some(SCHEMA_VERSION) {
        c.execute(
            "INSERT INTO _paywire_schema (one_row, version) VALUES (TRUE, $1)
             ON CONFLICT (one_row) DO UPDATE SET version = excluded.version",
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

/// A time the records carry (RFC 3339), as a value for a `timestamptz`
/// column. `what` names it in the error.
pub(super) fn time_param(text: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|e| StoreError::Invalid(format!("{what} is not an RFC 3339 time ({text}): {e}")))
}

/// [`time_param`] for a time that may be missing.
pub(super) fn optional_time_param(
    text: Option<&str>,
    what: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    text.map(|text| time_param(text, what)).transpose()
}

/// A `timestamptz` read back, in the form the runner writes times in.
pub(super) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A count held in an `INTEGER` column, as the type the records use.
pub(super) fn from_integer<T: TryFrom<i32>>(value: i32, what: &str) -> Result<T, StoreError> {
    T::try_from(value)
        .map_err(|_| StoreError::Database(format!("{what} holds {value}, out of its range")))
}

/// A count of the records, as a value for an `INTEGER` column.
pub(super) fn to_integer<T: TryInto<i32> + Copy + std::fmt::Display>(
    value: T,
    what: &str,
) -> Result<i32, StoreError> {
    value
        .try_into()
        .map_err(|_| StoreError::Invalid(format!("{what} is too large to store: {value}")))
}

/// Records a console session's sign-out, and forgets those whose sessions
/// have expired by `now` (their cookies are refused for that already).
pub(super) async fn sign_out_session(
    c: &impl GenericClient,
    id: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    let forget = c
        .prepare_cached("DELETE FROM _paywire_signed_out_sessions WHERE expires_at < $1")
        .await
        .map_err(db_error)?;
    c.execute(&forget, &[&now]).await.map_err(db_error)?;
    let record = c
        .prepare_cached(
            "INSERT INTO _paywire_signed_out_sessions (id, expires_at) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .await
        .map_err(db_error)?;
    c.execute(&record, &[&id, &expires_at])
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) async fn session_signed_out(
    c: &impl GenericClient,
    id: &str,
) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached("SELECT 1 FROM _paywire_signed_out_sessions WHERE id = $1")
        .await
        .map_err(db_error)?;
    let found = c.query_opt(&statement, &[&id]).await.map_err(db_error)?;
    Ok(found.is_some())
}

pub(super) fn kind_name(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Api => "api",
        RunKind::Workflow => "workflow",
    }
}

/// Writes what a run handed over: its row (whole, when it ended before
/// anything of it was written) with the steps handed over with it, or the
/// steps and end of a run whose row is written. The caller's transaction
/// keeps these together.
pub(super) async fn write_records(
    c: &impl GenericClient,
    records: &RunRecords,
) -> Result<(), StoreError> {
    match &records.start {
        Some(start) => insert_run(c, start, &records.steps, records.end.as_ref()).await,
        None => {
            insert_steps(c, &records.steps).await?;
            match &records.end {
                Some(end) => finish_run(c, end).await,
                None => Ok(()),
            }
        }
    }
}

/// Inserts a run's row with its first steps; with `end`, as it ended. A row
/// that exists is left as it is: the runner writes a run's row again only
/// when a panic may have lost the first (see `Runner::run`).
async fn insert_run(
    c: &impl GenericClient,
    run: &RunRecord,
    steps: &[StepRecord],
    end: Option<&RunEnd>,
) -> Result<(), StoreError> {
    let started_at = time_param(&run.started_at, "the run's start")?;
    let finished_at = optional_time_param(
        end.map_or(run.finished_at.as_deref(), |e| Some(e.finished_at.as_str())),
        "the run's end",
    )?;
    let status = end.map_or(run.status, |e| e.status).as_str();
    let error = end.map_or(run.error.as_ref(), |e| e.error.as_ref());
    let response_status = end
        .map_or(run.response_status, |e| e.response_status)
        .map(i32::from);
    let duration_ms = end.map_or(run.duration_ms, |e| Some(e.duration_ms));
    let steps = (!steps.is_empty()).then(|| Json(stored_steps(steps)));
    let statement = c
        .prepare_cached(
            "INSERT INTO _paywire_runs (id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, steps, instance)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT DO NOTHING",
        )
        .await
        .map_err(db_error)?;
    c.execute(
        &statement,
        &[
            &run.id,
            &kind_name(run.kind),
            &run.name,
            &status,
            &run.input,
            &error,
            &response_status,
            &started_at,
            &finished_at,
            &duration_ms,
            &run.retry_of,
            &run.trigger_event,
            &steps,
            &run.instance,
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn finish_run(c: &impl GenericClient, end: &RunEnd) -> Result<(), StoreError> {
    let finished_at = time_param(&end.finished_at, "the run's end")?;
    let statement = c
        .prepare_cached(
            "UPDATE _paywire_runs SET status = $2, error = $3, response_status = $4, finished_at = $5, duration_ms = $6 WHERE id = $1",
        )
        .await
        .map_err(db_error)?;
    c.execute(
        &statement,
        &[
            &end.id,
            &end.status.as_str(),
            &end.error,
            &end.response_status.map(i32::from),
            &finished_at,
            &end.duration_ms,
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// The statement of [`insert_steps`], prepared on `c`'s connection once;
/// a step's commit prepares it before it sends the insert together with
/// what follows it.
pub(super) async fn prepare_step_insert(
    c: &impl GenericClient,
) -> Result<tokio_postgres::Statement, StoreError> {
    c.prepare_cached(
        "INSERT INTO _paywire_step_batches (run_id, first_seq, steps) VALUES ($1, $2, $3)
         ON CONFLICT (run_id, first_seq) DO NOTHING",
    )
    .await
    .map_err(db_error)
}

/// Inserts steps of a run whose row is written, as one batch keyed by its
/// first step (so batches committed in either order read back the same).
pub(super) async fn insert_steps(
    c: &impl GenericClient,
    steps: &[StepRecord],
) -> Result<(), StoreError> {
    let Some(first) = steps.first() else {
        return Ok(());
    };
    // A batch that is there already was committed by a transaction whose
    // answer was lost (the connection dropped after the commit): the runner
    // then took the step for failed and records it again, with the run's
    // end. What was committed is what happened, so it stays, and the end
    // is still written.
    let statement = prepare_step_insert(c).await?;
    c.execute(
        &statement,
        &[
            &first.run_id,
            &i64::from(first.seq),
            &Json(stored_steps(steps)),
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

/// Whether a run (of `_paywire_runs`, unaliased) failed and its event waits
/// for another attempt. A macro so that `concat!` can build the columns.
macro_rules! retrying {
    () => {
        "(status = 'failed' AND EXISTS (SELECT 1 FROM _paywire_events e
            WHERE e.id = _paywire_runs.trigger_event AND e.state = 'pending'))"
    };
}

/// The columns [`run_from_row`] reads, from `_paywire_runs` unaliased.
pub(super) const RUN_COLUMNS: &str = concat!(
    "id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, instance, ",
    retrying!()
);

/// How many columns [`RUN_COLUMNS`] names.
pub(super) const RUN_COLUMN_COUNT: usize = 14;

pub(super) fn run_from_row(row: &Row) -> Result<RunRecord, StoreError> {
    let kind: &str = row.try_get(1).map_err(db_error)?;
    let status: &str = row.try_get(3).map_err(db_error)?;
    let response_status = row
        .try_get::<_, Option<i32>>(6)
        .map_err(db_error)?
        .map(|status| from_integer(status, "a run's response status"))
        .transpose()?;
    Ok(RunRecord {
        id: row.try_get(0).map_err(db_error)?,
        kind: if kind == "api" {
            RunKind::Api
        } else {
            RunKind::Workflow
        },
        name: row.try_get(2).map_err(db_error)?,
        status: RunStatus::parse(status).unwrap_or(RunStatus::Failed),
        input: row
            .try_get::<_, Option<Value>>(4)
            .map_err(db_error)?
            .unwrap_or(Value::Null),
        error: row.try_get(5).map_err(db_error)?,
        response_status,
        started_at: time_text(row.try_get(7).map_err(db_error)?),
        finished_at: row
            .try_get::<_, Option<DateTime<Utc>>>(8)
            .map_err(db_error)?
            .map(time_text),
        duration_ms: row.try_get(9).map_err(db_error)?,
        retry_of: row.try_get(10).map_err(db_error)?,
        trigger_event: row.try_get(11).map_err(db_error)?,
        instance: row.try_get(12).map_err(db_error)?,
        retrying: row.try_get(13).map_err(db_error)?,
    })
}

pub(super) async fn list_runs(
    c: &impl GenericClient,
    filter: &RunFilter,
) -> Result<Vec<RunRecord>, StoreError> {
    let limit = i64::from(if filter.limit == 0 {
        50
    } else {
        filter.limit.min(1000)
    });
    // SQLite compares start times as text written to the millisecond, so a
    // bound finer than that counts as its millisecond there; it does here
    // too, so that both backends return the same runs.
    let since = filter
        .since
        .map(|t| DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t));
    let statement = c
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM _paywire_runs
             WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR status = $2)
               AND ($4::timestamptz IS NULL OR started_at >= $4)
               AND ($5::boolean IS NULL OR {} = $5)
             ORDER BY started_at DESC, id DESC LIMIT $3",
            retrying!()
        ))
        .await
        .map_err(db_error)?;
    let rows = c
        .query(
            &statement,
            &[
                &filter.name,
                &filter.status.map(RunStatus::as_str),
                &limit,
                &since,
                &filter.retrying,
            ],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(run_from_row).collect()
}

pub(super) async fn get_run(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<RunDetail>, StoreError> {
    let (run, batches) = tokio::try_join!(
        async {
            let statement = c
                .prepare_cached(&format!(
                    "SELECT {RUN_COLUMNS}, steps FROM _paywire_runs WHERE id = $1"
                ))
                .await?;
            c.query_opt(&statement, &[&id]).await
        },
        // Asked at once with the run, on the same connection, so the two
        // reads take one round trip; a run that is not there has no
        // batches either.
        async {
            let statement = c
                .prepare_cached(
                    "SELECT steps FROM _paywire_step_batches WHERE run_id = $1 ORDER BY first_seq",
                )
                .await?;
            c.query(&statement, &[&id]).await
        },
    )
    .map_err(db_error)?;
    let Some(row) = run else {
        return Ok(None);
    };
    let run = run_from_row(&row)?;
    let mut steps = Vec::new();
    let first: Option<Json<Vec<LoadedStep>>> = row
        .try_get(RUN_COLUMN_COUNT)
        .map_err(|e| unreadable_steps(id, e))?;
    if let Some(Json(loaded)) = first {
        extend_steps(id, loaded, &mut steps);
    }
    for batch in &batches {
        let Json(loaded) = batch
            .try_get::<_, Json<Vec<LoadedStep>>>(0)
            .map_err(|e| unreadable_steps(id, e))?;
        extend_steps(id, loaded, &mut steps);
    }
    // Steps are handed over as they finish, and a step holding others
    // (`if`, loops, `try`) finishes after them; `seq` is their start order.
    steps.sort_by_key(|step| step.seq);
    Ok(Some(RunDetail { run, steps }))
}
