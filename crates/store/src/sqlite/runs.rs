//! paywire's own tables (prefixed `_paywire_`, a prefix builders' tables
//! cannot take) and the record of runs and steps.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::db_error;
use crate::steps::{load_steps, steps_json};
use crate::{
    RunDetail, RunEnd, RunFilter, RunKind, RunRecord, RunRecords, RunStatus, StepRecord, StoreError,
};

/// Bumped whenever the internal schema changes, with a migration step below
/// (schema 3 moved event payloads to a table of their own: see `events.rs`;
/// schema 4 stores steps as JSON arrays, one per hand-over; schema 5 records
/// which instance ran a run, and which holds an event's claim; schema 6 keys
/// the sandbox's deliveries by event and webhook endpoint, a migration that
/// `sandbox.rs` makes by looking at the table's columns).
const SCHEMA_VERSION: i64 = 6;

pub fn create_schema(conn: &Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db_error)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Database(format!(
            "the database was written by a newer paywire (schema {version}; this one knows {SCHEMA_VERSION})"
        )));
    }
    // A run's steps are stored as JSON arrays, one per hand-over of its
    // records (see `RunRecords`): those handed over with the run's row go in
    // its `steps` column, later ones in a row of `_paywire_step_batches`
    // each. A run that only computes is then one INSERT of one row, where a
    // row per step made each API request five B-tree inserts, and the
    // writer was the larger part of the API server's CPU (BENCHMARKS.md).
    // Steps are read whole, with their run, so nothing needs them as rows.
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
            duration_ms REAL,
            steps TEXT,
            instance TEXT
        );
        CREATE INDEX IF NOT EXISTS _paywire_runs_by_start ON _paywire_runs (started_at);
        CREATE INDEX IF NOT EXISTS _paywire_runs_by_name ON _paywire_runs (name, started_at);
        CREATE TABLE IF NOT EXISTS _paywire_step_batches (
            run_id TEXT NOT NULL,
            first_seq INTEGER NOT NULL,
            steps TEXT NOT NULL,
            PRIMARY KEY (run_id, first_seq)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _paywire_signed_out_sessions (
            id TEXT PRIMARY KEY,
            expires_at INTEGER NOT NULL
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
    if (1..4).contains(&version) {
        // Schema 4: a step row each becomes a batch of one, in the shape
        // `StoredStep` reads.
        conn.execute_batch(
            "ALTER TABLE _paywire_runs ADD COLUMN steps TEXT;
             INSERT INTO _paywire_step_batches (run_id, first_seq, steps)
             SELECT run_id, seq, json_array(json_object(
                 'seq', seq, 'key', key, 'step_id', step_id, 'kind', kind, 'status', status,
                 'input', json(input), 'output', json(output), 'error', json(error),
                 'started_at', started_at, 'duration_ms', duration_ms))
             FROM _paywire_steps;
             DROP TABLE _paywire_steps;",
        )
        .map_err(db_error)?;
    }
    if (1..5).contains(&version) {
        conn.execute_batch("ALTER TABLE _paywire_runs ADD COLUMN instance TEXT;")
            .map_err(db_error)?;
    }
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
        .map_err(db_error)?;
    Ok(())
}

/// Records a console session's sign-out, and forgets those whose sessions
/// have expired by `now` (their cookies are refused for that already).
pub fn sign_out_session(
    conn: &Connection,
    id: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM _paywire_signed_out_sessions WHERE expires_at < ?1",
        params![now],
    )
    .map_err(db_error)?;
    conn.execute(
        "INSERT OR REPLACE INTO _paywire_signed_out_sessions (id, expires_at) VALUES (?1, ?2)",
        params![id, expires_at],
    )
    .map_err(db_error)?;
    Ok(())
}

pub fn session_signed_out(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT 1 FROM _paywire_signed_out_sessions WHERE id = ?1",
        params![id],
        |_| Ok(()),
    )
    .optional()
    .map(|found| found.is_some())
    .map_err(db_error)
}

pub(super) fn kind_name(kind: RunKind) -> &'static str {
    match kind {
        RunKind::Api => "api",
        RunKind::Workflow => "workflow",
    }
}

pub(super) fn json_text(value: &Value) -> String {
    // `to_string` writes into one buffer; `Value`'s `Display` goes through a
    // formatter a piece at a time. A `Value` always serialises.
    serde_json::to_string(value).unwrap_or_default()
}

fn parse_json(text: Option<String>) -> Option<Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
}

/// Writes what a run handed over: its row (whole, when it ended before
/// anything of it was written) with the steps handed over with it, or the
/// steps and end of a run whose row is written.
pub fn write_records(conn: &Connection, records: &RunRecords) -> Result<(), StoreError> {
    match &records.start {
        Some(start) => insert_run(conn, start, &records.steps, records.end.as_ref()),
        None => {
            insert_steps(conn, &records.steps)?;
            match &records.end {
                Some(end) => finish_run(conn, end),
                None => Ok(()),
            }
        }
    }
}

/// Whether [`write_records`] writes `records` in at most one statement,
/// which SQLite applies whole or not at all without a savepoint.
pub fn writes_in_one_statement(records: &RunRecords) -> bool {
    records.start.is_some() || records.steps.is_empty() || records.end.is_none()
}

/// Inserts a run's row with its first steps; with `end`, as it ended. A row
/// that exists is left as it is: the runner writes a run's row again only
/// when a panic may have lost the first (see `Runner::run`).
fn insert_run(
    conn: &Connection,
    run: &RunRecord,
    steps: &[StepRecord],
    end: Option<&RunEnd>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR IGNORE INTO _paywire_runs (id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, steps, instance)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
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
        steps_json(steps),
        run.instance,
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

/// Inserts steps of a run whose row is written, as one batch. A batch that
/// is there already stays as it was committed, as on PostgreSQL (where a
/// commit whose answer was lost leaves it there before the runner records
/// the step again): what was committed is what happened.
pub(super) fn insert_steps(conn: &Connection, steps: &[StepRecord]) -> Result<(), StoreError> {
    let (Some(first), Some(text)) = (steps.first(), steps_json(steps)) else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT OR IGNORE INTO _paywire_step_batches (run_id, first_seq, steps) VALUES (?1, ?2, ?3)",
    )
    .map_err(db_error)?
    .execute(params![first.run_id, first.seq, text])
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
    "id, kind, name, status, input, error, response_status, started_at, finished_at, duration_ms, retry_of, trigger_event, instance, ",
    retrying!()
);

/// How many columns [`RUN_COLUMNS`] names.
pub(super) const RUN_COLUMN_COUNT: usize = 14;

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
        instance: row.get(12)?,
        retrying: row.get(13)?,
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
    let found = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS}, steps FROM _paywire_runs WHERE id = ?1"
        ))
        .map_err(db_error)?
        .query_row([id], |row| {
            Ok((
                run_from_row(row)?,
                row.get::<_, Option<String>>(RUN_COLUMN_COUNT)?,
            ))
        })
        .optional()
        .map_err(db_error)?;
    let Some((run, first_steps)) = found else {
        return Ok(None);
    };
    let mut steps = Vec::new();
    if let Some(text) = first_steps {
        load_steps(id, &text, &mut steps)?;
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT steps FROM _paywire_step_batches WHERE run_id = ?1 ORDER BY first_seq",
        )
        .map_err(db_error)?;
    let batches = stmt
        .query_map([id], |row| row.get::<_, String>(0))
        .map_err(db_error)?;
    for batch in batches {
        load_steps(id, &batch.map_err(db_error)?, &mut steps)?;
    }
    // Steps are handed over as they finish, and a step holding others
    // (`if`, loops, `try`) finishes after them; `seq` is their start order.
    steps.sort_by_key(|step| step.seq);
    Ok(Some(RunDetail { run, steps }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StepStatus;

    #[test]
    fn a_schema_1_database_gains_the_columns_of_schema_2_and_its_steps_move_to_batches() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE _paywire_runs (
                id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
                input TEXT NOT NULL, error TEXT, response_status INTEGER, started_at TEXT NOT NULL,
                finished_at TEXT, duration_ms REAL);
             CREATE TABLE _paywire_steps (
                run_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, step_id TEXT,
                kind TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT NOT NULL,
                error TEXT, started_at TEXT NOT NULL, duration_ms REAL NOT NULL,
                PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
             INSERT INTO _paywire_runs VALUES ('run_old', 'api', 'a', 'succeeded', '{}', NULL, 200, '2026-01-01T00:00:00Z', NULL, 1.0);
             INSERT INTO _paywire_steps VALUES
                ('run_old', 0, 'steps[0]', 'total', 'set', 'succeeded', '{\"value\":\"1 + 1\"}', '2', NULL, '2026-01-01T00:00:00Z', 0.5),
                ('run_old', 1, 'steps[1]', NULL, 'response', 'failed', '{}', 'null', '{\"message\":\"no\"}', '2026-01-01T00:00:00Z', 0.25);
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
        let step = |seq: u32, key: &str, kind: &str, status, input, output, error| StepRecord {
            run_id: "run_old".into(),
            seq,
            key: key.into(),
            step_id: (seq == 0).then(|| "total".into()),
            kind: kind.into(),
            status,
            input,
            output,
            error,
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_ms: if seq == 0 { 0.5 } else { 0.25 },
        };
        assert_eq!(
            detail.steps,
            vec![
                step(
                    0,
                    "steps[0]",
                    "set",
                    StepStatus::Succeeded,
                    serde_json::json!({"value": "1 + 1"}),
                    serde_json::json!(2),
                    None
                ),
                step(
                    1,
                    "steps[1]",
                    "response",
                    StepStatus::Failed,
                    serde_json::json!({}),
                    Value::Null,
                    Some(serde_json::json!({"message": "no"}))
                ),
            ]
        );
        // Opening again changes nothing.
        create_schema(&conn).unwrap();
        assert_eq!(get_run(&conn, "run_old").unwrap().unwrap().steps.len(), 2);
    }

    #[test]
    fn steps_handed_over_with_the_row_and_after_it_read_back_in_order() {
        let conn = Connection::open_in_memory().unwrap();
        create_schema(&conn).unwrap();
        super::super::events::create_schema(&conn).unwrap();
        let step = |seq: u32| StepRecord {
            run_id: "run_1".into(),
            seq,
            key: format!("steps[{seq}]"),
            step_id: None,
            kind: "set".into(),
            status: StepStatus::Succeeded,
            input: serde_json::json!({"value": seq}),
            output: serde_json::json!({"nested": ["a", seq]}),
            error: None,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            duration_ms: 0.1,
        };
        let start = RunRecord {
            id: "run_1".into(),
            retry_of: None,
            trigger_event: None,
            kind: RunKind::Workflow,
            name: "w".into(),
            status: RunStatus::Running,
            input: serde_json::json!({}),
            error: None,
            response_status: None,
            started_at: "2026-01-01T00:00:00.000Z".into(),
            finished_at: None,
            duration_ms: None,
            retrying: false,
            instance: None,
        };
        // Steps are handed over as they finish: an `if` after its branch.
        let first = RunRecords {
            start: Some(start),
            steps: vec![step(1), step(0)],
            end: None,
        };
        let later = RunRecords {
            start: None,
            steps: vec![step(2)],
            end: None,
        };
        let last = RunRecords {
            start: None,
            steps: vec![step(3), step(4)],
            end: Some(RunEnd {
                id: "run_1".into(),
                status: RunStatus::Succeeded,
                error: None,
                response_status: None,
                finished_at: "2026-01-01T00:00:01.000Z".into(),
                duration_ms: 1000.0,
            }),
        };
        assert!(writes_in_one_statement(&first));
        assert!(writes_in_one_statement(&later));
        assert!(!writes_in_one_statement(&last));
        for records in [&first, &later, &last] {
            write_records(&conn, records).unwrap();
        }
        let detail = get_run(&conn, "run_1").unwrap().unwrap();
        assert_eq!(detail.run.status, RunStatus::Succeeded);
        assert_eq!(detail.steps, (0..5).map(step).collect::<Vec<_>>());
        // What a retry reuses is found in the run's row and in its batches.
        let output = |key: &str| super::super::events::step_output(&conn, "run_1", key).unwrap();
        assert_eq!(output("steps[1]"), Some(step(1).output));
        assert_eq!(output("steps[3]"), Some(step(3).output));
        assert_eq!(output("steps[9]"), None);
    }
}
