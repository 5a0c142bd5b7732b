//! paywire's own tables (prefixed `_paywire_`, a prefix builders' tables
//! cannot take) and the record of runs and steps.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::db_error;
use crate::store::{
    RunDetail, RunEnd, RunFilter, RunKind, RunRecord, RunRecords, RunStatus, StepRecord,
    StepStatus, StoreError,
};

/// Bumped whenever the internal schema changes, with a migration step below
/// (schema 3 moved event payloads to a table of their own: see `events.rs`).
const SCHEMA_VERSION: i64 = 3;

pub fn create_schema(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_error)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Database(format!(
            "the database was written by a newer paywire (schema {version}; this one knows {SCHEMA_VERSION})"
        )));
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _paywire_runs (
            id TEXT PRIMARY KEY,
            retry_of TEXT,
            trigger_event TEXT,
            kind TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            input TEXT NOT NULL,
            error TEXT,
            response_status INTEGER,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_ms REAL
        );
        CREATE INDEX IF NOT EXISTS _paywire_runs_by_start ON _paywire_runs (started_at);
        CREATE INDEX IF NOT EXISTS _paywire_runs_by_name ON _paywire_runs (name, started_at);
        CREATE TABLE IF NOT EXISTS _paywire_steps (
            run_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            key TEXT NOT NULL,
            step_id TEXT,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            input TEXT NOT NULL,
            output TEXT NOT NULL,
            error TEXT,
            started_at TEXT NOT NULL,
            duration_ms REAL NOT NULL,
            PRIMARY KEY (run_id, seq)
        ) WITHOUT ROWID;",
    )
    .map_err(db_error)?;
    if version == 1 {
        // Schema 2 records which run a run retries, and which event started it.
        conn.execute_batch(
            "ALTER TABLE _paywire_runs ADD COLUMN retry_of TEXT;
             ALTER TABLE _paywire_runs ADD COLUMN trigger_event TEXT;",
        )
        .map_err(db_error)?;
    }
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        .map_err(db_error)?;
    Ok(())
}

fn kind_name(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Api => "api",
        RunKind::Workflow => "workflow",
    }
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn parse_json(text: Option<String>) -> Option<Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// Writes what a run handed over: its row (whole, when it ended before
/// anything of it was written), its steps, and its end.
pub fn write_records(conn: &Connection, records: &RunRecords) -> Result<(), StoreError> {
    if let Some(start) = &records.start {
        insert_run(conn, start, records.end.as_ref())?;
    }
    for step in &records.steps {
        insert_step(conn, step)?;
    }
    if let (None, Some(end)) = (&records.start, &records.end) {
        finish_run(conn, end)?;
    }
    Ok(())
}

/// Inserts a run's row; with `end`, as it ended.
fn insert_run(conn: &Connection, run: &RunRecord, end: Option<&RunEnd>) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO _paywire_runs (id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
    .map_err(db_error)?
    .execute(params![
        run.id,
        kind_name(run.kind),
        run.name,
        end.map_or(run.status, |e| e.status).as_str(),
        json_text(&run.input),
        end.map_or(run.error.as_ref(), |e| e.error.as_ref()).map(json_text),
        end.map_or(run.response_status, |e| e.response_status),
        run.started_at,
        end.map_or(run.finished_at.as_deref(), |e| Some(e.finished_at.as_str())),
        end.map_or(run.duration_ms, |e| Some(e.duration_ms)),
        run.retry_of,
        run.trigger_event,
    ])
    .map_err(db_error)?;
    Ok(())
}

fn finish_run(conn: &Connection, end: &RunEnd) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE _paywire_runs SET status = ?2, error = ?3, response_status = ?4, finished_at = ?5, duration_ms = ?6 WHERE id = ?1",
    )
    .map_err(db_error)?
    .execute(params![
        end.id,
        end.status.as_str(),
        end.error.as_ref().map(json_text),
        end.response_status,
        end.finished_at,
        end.duration_ms,
    ])
    .map_err(db_error)?;
    Ok(())
}

pub(super) fn insert_step(conn: &Connection, step: &StepRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO _paywire_steps (run_id, seq, key, step_id, kind, status, input, output, error, started_at, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .map_err(db_error)?
    .execute(params![
        step.run_id,
        step.seq,
        step.key,
        step.step_id,
        step.kind,
        step.status.as_str(),
        json_text(&step.input),
        json_text(&step.output),
        step.error.as_ref().map(json_text),
        step.started_at,
        step.duration_ms,
    ])
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
const RETRYING: &str = retrying!();

/// The columns [`run_from_row`] reads, from `_paywire_runs` unaliased.
pub(super) const RUN_COLUMNS: &str = concat!(
    "id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, ",
    retrying!()
);

pub(super) fn run_from_row(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    let kind: String = row.get(1)?;
    let status: String = row.get(3)?;
    Ok(RunRecord {
        id: row.get(0)?,
        kind: if kind == "api" {
            RunKind::Api
        } else {
            RunKind::Workflow
        },
        name: row.get(2)?,
        status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
        input: parse_json(row.get(4)?).unwrap_or(Value::Null),
        error: parse_json(row.get(5)?),
        response_status: row.get(6)?,
        started_at: row.get(7)?,
        finished_at: row.get(8)?,
        duration_ms: row.get(9)?,
        retry_of: row.get(10)?,
        trigger_event: row.get(11)?,
        retrying: row.get(12)?,
    })
}

pub fn list_runs(conn: &Connection, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
    let limit = if filter.limit == 0 {
        50
    } else {
        filter.limit.min(1000)
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM _paywire_runs
             WHERE (?1 IS NULL OR name = ?1) AND (?2 IS NULL OR status = ?2)
               AND (?4 IS NULL OR started_at >= ?4) AND (?5 IS NULL OR {RETRYING} = ?5)
             ORDER BY started_at DESC, id DESC LIMIT ?3"
        ))
        .map_err(db_error)?;
    // Start times are stored as RFC 3339 in UTC with milliseconds, so the
    // bound written the same way compares correctly as text.
    let since = filter
        .since
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    let rows = stmt
        .query_map(
            params![
                filter.name,
                filter.status.map(RunStatus::as_str),
                limit,
                since,
                filter.retrying
            ],
            run_from_row,
        )
        .map_err(db_error)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
}

pub fn get_run(conn: &Connection, id: &str) -> Result<Option<RunDetail>, StoreError> {
    let run = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM _paywire_runs WHERE id = ?1"
        ))
        .map_err(db_error)?
        .query_row([id], run_from_row)
        .optional()
        .map_err(db_error)?;
    let Some(run) = run else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT run_id, seq, key, step_id, kind, status, input, output, error, started_at, duration_ms
             FROM _paywire_steps WHERE run_id = ?1 ORDER BY seq",
        )
        .map_err(db_error)?;
    let steps = stmt
        .query_map([id], |row| {
            let status: String = row.get(5)?;
            Ok(StepRecord {
                run_id: row.get(0)?,
                seq: row.get(1)?,
                key: row.get(2)?,
                step_id: row.get(3)?,
                kind: row.get(4)?,
                status: match status.as_str() {
                    "succeeded" => StepStatus::Succeeded,
                    "skipped" => StepStatus::Skipped,
                    _ => StepStatus::Failed,
                },
                input: parse_json(row.get(6)?).unwrap_or(Value::Null),
                output: parse_json(row.get(7)?).unwrap_or(Value::Null),
                error: parse_json(row.get(8)?),
                started_at: row.get(9)?,
                duration_ms: row.get(10)?,
            })
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    Ok(Some(RunDetail { run, steps }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_1_database_gains_the_columns_of_schema_2() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE _paywire_runs (
                id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
                input TEXT NOT NULL, error TEXT, response_status INTEGER, started_at TEXT NOT NULL,
                finished_at TEXT, duration_ms REAL);
             INSERT INTO _paywire_runs VALUES ('run_old', 'api', 'a', 'succeeded', '{}', NULL, 200, '2026-01-01T00:00:00Z', NULL, 1.0);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        create_schema(&conn).unwrap();
        super::super::events::create_schema(&conn).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let detail = get_run(&conn, "run_old").unwrap().unwrap();
        assert_eq!(
            (detail.run.retry_of, detail.run.trigger_event),
            (None, None)
        );
        // Opening again changes nothing.
        create_schema(&conn).unwrap();
    }
}
