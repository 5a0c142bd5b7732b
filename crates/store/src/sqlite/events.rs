//! The webhook inbox: received Stripe events (`_paywire_events`), and the
//! queries that recovery and retries need from the run records.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::db_error;
use super::runs::{RUN_COLUMNS, run_from_row};
use crate::{
    EventClaim, EventFilter, EventRecord, EventState, EventUpdate, Heartbeat, InstanceRecord,
    NewEvent, Recovery, RunRecord, StoreError,
};

pub fn create_schema(conn: &Connection) -> Result<(), StoreError> {
    // The indexes of runs by event and by the run they retry leave out the
    // runs that have none (every API run), which would only make each
    // insert touch two more B-trees. (Schema 2 indexed them whole.)
    //
    // The inbox reads pending events in the order they arrived, from where
    // it stopped: the index of pending events by `seq` lets it read just
    // those, and their payloads, where an index by state and due time had
    // SQLite read every pending event's payload and sort them all to take
    // the first few (with a backlog of a thousand events, per read).
    //
    // An event's payload sits in a table of its own, keyed like the event:
    // the inbox rewrites an event's row when its state changes, and SQLite
    // logs whole pages, so a narrow row (many to a page) keeps those writes
    // small where a row holding kilobytes of payload would fill a page each.
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _paywire_events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT,
            created INTEGER NOT NULL,
            livemode INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            last_error TEXT,
            finished_at TEXT,
            claimed_by TEXT,
            claimed_at INTEGER
        );
        CREATE TABLE IF NOT EXISTS _paywire_instances (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            last_seen INTEGER NOT NULL,
            version TEXT,
            ran_startup INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS _paywire_event_payloads (
            seq INTEGER PRIMARY KEY,
            payload TEXT NOT NULL
        );
        DROP INDEX IF EXISTS _paywire_events_due;
        CREATE INDEX IF NOT EXISTS _paywire_events_pending ON _paywire_events (seq, next_attempt_at)
            WHERE state = 'pending';
        DROP INDEX IF EXISTS _paywire_runs_by_event;
        DROP INDEX IF EXISTS _paywire_runs_by_retry;
        CREATE INDEX IF NOT EXISTS _paywire_runs_of_event ON _paywire_runs (trigger_event)
            WHERE trigger_event IS NOT NULL;
        CREATE INDEX IF NOT EXISTS _paywire_runs_retrying ON _paywire_runs (retry_of)
            WHERE retry_of IS NOT NULL;",
    )
    .map_err(db_error)?;
    let payload_inline: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('_paywire_events') WHERE name = 'payload'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(db_error)?
        > 0;
    let claims_recorded: bool = conn
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('_paywire_events') WHERE name = 'claimed_by'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(db_error)?
        > 0;
    if !claims_recorded {
        // Databases of schema 4 and before had one process and no claims.
        conn.execute_batch(
            "ALTER TABLE _paywire_events ADD COLUMN claimed_by TEXT;
             ALTER TABLE _paywire_events ADD COLUMN claimed_at INTEGER;",
        )
        .map_err(db_error)?;
    }
    // A claim reads the unclaimed pending events oldest first: the claimed
    // ones (up to a thousand running) are the oldest pending events, and an
    // index of all pending ones had every claim step over them first. It
    // asks, for each candidate, whether an earlier event of its object is
    // pending or any is claimed: the index by object answers that.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS _paywire_events_claimable
             ON _paywire_events (seq) WHERE state = 'pending' AND claimed_by IS NULL;
         CREATE INDEX IF NOT EXISTS _paywire_events_pending_by_object
             ON _paywire_events (object_id, seq) WHERE state = 'pending';",
    )
    .map_err(db_error)?;
    if payload_inline {
        // Databases of schema 2 kept the payload in the event's row.
        conn.execute_batch(
            "INSERT OR IGNORE INTO _paywire_event_payloads (seq, payload)
                 SELECT seq, payload FROM _paywire_events;
             ALTER TABLE _paywire_events DROP COLUMN payload;",
        )
        .map_err(db_error)?;
    }
    Ok(())
}

pub(super) const EVENT_COLUMNS: &str = "e.id, e.seq, e.type, e.object_type, e.object_id, e.created, e.livemode, p.payload, e.received_at, e.state, e.attempts, e.next_attempt_at, e.last_error, e.finished_at, e.claimed_by";
pub(super) const EVENT_TABLES: &str =
    "_paywire_events e JOIN _paywire_event_payloads p ON p.seq = e.seq";

pub(super) fn event_from_row(row: &Row<'_>) -> rusqlite::Result<EventRecord> {
    let state: String = row.get(9)?;
    Ok(EventRecord {
        id: row.get(0)?,
        seq: row.get(1)?,
        event_type: row.get(2)?,
        object_type: row.get(3)?,
        object_id: row.get(4)?,
        created: row.get(5)?,
        livemode: row.get::<_, i64>(6)? != 0,
        payload: row.get(7)?,
        received_at: row.get(8)?,
        state: EventState::parse(&state).unwrap_or(EventState::Failed),
        attempts: row.get(10)?,
        next_attempt_at: row.get(11)?,
        last_error: row.get(12)?,
        finished_at: row.get(13)?,
        claimed_by: row.get(14)?,
    })
}

pub fn insert(conn: &Connection, event: &NewEvent) -> Result<bool, StoreError> {
    let finished_at = (event.state != EventState::Pending).then_some(&event.received_at);
    let seq: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO _paywire_events (id, type, object_type, object_id, created, livemode, received_at, state, next_attempt_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)
             ON CONFLICT (id) DO NOTHING RETURNING seq",
        )
        .map_err(db_error)?
        .query_row(
            params![
                event.id,
                event.event_type,
                event.object_type,
                event.object_id,
                event.created,
                i64::from(event.livemode),
                event.received_at,
                event.state.as_str(),
                finished_at,
            ],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_error)?;
    let Some(seq) = seq else {
        return Ok(false);
    };
    conn.prepare_cached("INSERT INTO _paywire_event_payloads (seq, payload) VALUES (?1, ?2)")
        .map_err(db_error)?
        .execute(params![seq, event.payload])
        .map_err(db_error)?;
    Ok(true)
}

/// The events an instance may take, oldest first (see
/// `Store::claim_events`): `?1` is now, `?2` the limit.
fn claimable_query() -> &'static str {
    "SELECT c.seq FROM _paywire_events c
     WHERE c.state = 'pending' AND c.next_attempt_at <= ?1 AND c.claimed_by IS NULL
       AND NOT EXISTS (
           SELECT 1 FROM _paywire_events o
           WHERE o.object_id = c.object_id AND o.state = 'pending' AND o.seq <> c.seq
             AND (o.claimed_by IS NOT NULL OR (o.seq < c.seq AND o.next_attempt_at <= ?1)))
     ORDER BY c.seq LIMIT ?2"
}

/// Claims events for `instance`. SQLite has one writer, and this runs on
/// it, so nothing can claim the same events in between.
pub fn claim(
    conn: &Connection,
    instance: &str,
    now: i64,
    limit: u32,
) -> Result<Vec<EventRecord>, StoreError> {
    let seqs: Vec<i64> = {
        let mut stmt = conn.prepare_cached(claimable_query()).map_err(db_error)?;
        let rows = stmt
            .query_map(params![now, limit], |r| r.get(0))
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let seqs = Value::from(seqs).to_string();
    conn.prepare_cached(
        "UPDATE _paywire_events SET claimed_by = ?1, claimed_at = ?2
         WHERE seq IN (SELECT value FROM json_each(?3))",
    )
    .map_err(db_error)?
    .execute(params![instance, now, seqs])
    .map_err(db_error)?;
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_TABLES}
             WHERE e.seq IN (SELECT value FROM json_each(?1)) ORDER BY e.seq"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map([seqs], event_from_row).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

/// The pending events of `instance`'s claim made at `now`.
pub fn claimed(
    conn: &Connection,
    instance: &str,
    now: i64,
) -> Result<Vec<EventRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_TABLES}
             WHERE e.claimed_by = ?1 AND e.claimed_at = ?2 AND e.state = 'pending' ORDER BY e.seq"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(params![instance, now], event_from_row)
        .map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

/// Fails unless `claim` is held. SQLite's one writer runs this and the
/// write it guards in one job, so the claim cannot go in between.
pub fn hold_claim(conn: &Connection, claim: &EventClaim) -> Result<(), StoreError> {
    let held = conn
        .prepare_cached("SELECT 1 FROM _paywire_events WHERE id = ?1 AND claimed_by = ?2")
        .map_err(db_error)?
        .query_row(params![claim.event, claim.instance], |_| Ok(()))
        .optional()
        .map_err(db_error)?
        .is_some();
    if held {
        Ok(())
    } else {
        Err(StoreError::claim_lost(claim))
    }
}

pub fn next_due(conn: &Connection, now: i64) -> Result<Option<i64>, StoreError> {
    conn.prepare_cached(
        "SELECT MIN(next_attempt_at) FROM _paywire_events WHERE state = 'pending' AND next_attempt_at > ?1",
    )
    .map_err(db_error)?
    .query_row([now], |r| r.get(0))
    .map_err(db_error)
}

pub fn update(conn: &Connection, update: &EventUpdate) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE _paywire_events SET state = ?2, attempts = ?3, next_attempt_at = ?4, last_error = ?5, finished_at = ?6,
                 claimed_by = NULL, claimed_at = NULL
             WHERE id = ?1 AND (?7 IS NULL OR claimed_by = ?7)",
        )
        .map_err(db_error)?
        .execute(params![
            update.id,
            update.state.as_str(),
            update.attempts,
            update.next_attempt_at,
            update.last_error,
            update.finished_at,
            update.holder,
        ])
        .map_err(db_error)?;
    Ok(changed > 0)
}

pub fn list(conn: &Connection, filter: &EventFilter) -> Result<Vec<EventRecord>, StoreError> {
    let limit = if filter.limit == 0 {
        50
    } else {
        filter.limit.min(1000)
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM {EVENT_TABLES}
             WHERE (?1 IS NULL OR e.state = ?1) AND (?2 IS NULL OR e.type = ?2)
             ORDER BY e.seq DESC LIMIT ?3"
        ))
        .map_err(db_error)?;
    let rows = stmt
        .query_map(
            params![
                filter.state.map(EventState::as_str),
                filter.event_type,
                limit
            ],
            event_from_row,
        )
        .map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<EventRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {EVENT_COLUMNS} FROM {EVENT_TABLES} WHERE e.id = ?1"
    ))
    .map_err(db_error)?
    .query_row([id], event_from_row)
    .optional()
    .map_err(db_error)
}

pub fn runs_of_events(
    conn: &Connection,
    event_ids: &[String],
) -> Result<Vec<RunRecord>, StoreError> {
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = Value::from(event_ids.to_vec()).to_string();
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM _paywire_runs
             WHERE trigger_event IN (SELECT value FROM json_each(?1))
             ORDER BY trigger_event, started_at, id"
        ))
        .map_err(db_error)?;
    let rows = stmt.query_map([ids], run_from_row).map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

/// The output of the first succeeded step at `key` among the attempts of
/// the run `root` (itself and the runs that retry it), oldest first
/// (`element.key` is the step's place in its array).
pub fn step_output(conn: &Connection, root: &str, key: &str) -> Result<Option<Value>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached(
            "WITH attempts AS (
                 SELECT id, started_at, steps FROM _paywire_runs WHERE id = ?1 OR retry_of = ?1
             ),
             stored AS (
                 SELECT started_at, 0 AS first_seq, steps FROM attempts WHERE steps IS NOT NULL
                 UNION ALL
                 SELECT a.started_at, b.first_seq, b.steps
                 FROM attempts a JOIN _paywire_step_batches b ON b.run_id = a.id
             )
             SELECT element.value -> '$.output' FROM stored, json_each(stored.steps) element
             WHERE element.value ->> '$.key' = ?2 AND element.value ->> '$.status' = 'succeeded'
             ORDER BY stored.started_at, stored.first_seq, element.key LIMIT 1",
        )
        .map_err(db_error)?
        .query_row(params![root, key], |r| r.get(0))
        .optional()
        .map_err(db_error)?;
    Ok(text.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t))))
}

/// Records `beat` and takes back the work of stopped instances (see
/// `Store::heartbeat`). SQLite is one process's: at an instance's first
/// beat, every other instance is stopped, however recently it beat.
pub fn heartbeat(
    conn: &Connection,
    beat: &Heartbeat,
    now_text: &str,
) -> Result<Recovery, StoreError> {
    let previous: Option<i64> = conn
        .prepare_cached("SELECT last_seen FROM _paywire_instances WHERE id = ?1")
        .map_err(db_error)?
        .query_row([&beat.instance], |r| r.get(0))
        .optional()
        .map_err(db_error)?;
    conn.prepare_cached(
        "INSERT INTO _paywire_instances (id, started_at, last_seen) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
    )
    .map_err(db_error)?
    .execute(params![beat.instance, beat.started_at, beat.now])
    .map_err(db_error)?;
    // As on PostgreSQL, an instance judges the others only while it has
    // itself been beating within the lease. At a start every other instance
    // is stopped, since one process owns the file.
    let silent_since = if beat.starting {
        i64::MAX
    } else if previous.is_some_and(|seen| seen >= beat.now - beat.lease_ms) {
        beat.now - beat.lease_ms
    } else {
        i64::MIN
    };
    let lost: Vec<String> = {
        let mut stmt = conn
            .prepare_cached("SELECT id FROM _paywire_instances WHERE id <> ?1 AND last_seen < ?2")
            .map_err(db_error)?;
        let rows = stmt
            .query_map(params![beat.instance, silent_since], |r| r.get(0))
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    let mut recovery = Recovery::default();
    if beat.starting {
        // Runs and events of databases written before instances were
        // recorded name none; at start they were all the stopped process's.
        recovery.interrupted_runs += fail_interrupted_runs(conn, None, now_text)?;
        recovery.requeued_events += conn
            .execute(
                "UPDATE _paywire_events SET state = 'pending', next_attempt_at = 0,
                     claimed_by = NULL, claimed_at = NULL
                 WHERE state = 'running'",
                [],
            )
            .map_err(db_error)? as u64;
    }
    // As on PostgreSQL, a starting instance named as one before it (an
    // operator's fixed name, a restart) takes back what its namesake left:
    // it is not among the others, and its claims would otherwise stay
    // taken, by a name that keeps beating, for good.
    let previous_self = beat.starting.then_some(&beat.instance);
    for instance in lost.iter().chain(previous_self) {
        let (runs, events) = take_back(conn, instance, now_text)?;
        recovery.interrupted_runs += runs;
        recovery.requeued_events += events;
        if Some(instance) != previous_self {
            forget(conn, instance)?;
        }
    }
    recovery.lost_instances = lost;
    Ok(recovery)
}

/// See `Store::leave`.
pub fn leave(conn: &Connection, instance: &str, now_text: &str) -> Result<Recovery, StoreError> {
    let (interrupted_runs, requeued_events) = take_back(conn, instance, now_text)?;
    forget(conn, instance)?;
    Ok(Recovery {
        interrupted_runs,
        requeued_events,
        lost_instances: Vec::new(),
    })
}

/// Fails `instance`'s runs left running and releases its claims; answers
/// how many runs and events that was.
fn take_back(conn: &Connection, instance: &str, now_text: &str) -> Result<(u64, u64), StoreError> {
    let runs = fail_interrupted_runs(conn, Some(instance), now_text)?;
    let events = conn
        .prepare_cached(
            "UPDATE _paywire_events SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = ?1",
        )
        .map_err(db_error)?
        .execute([instance])
        .map_err(db_error)? as u64;
    Ok((runs, events))
}

fn forget(conn: &Connection, instance: &str) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM _paywire_instances WHERE id = ?1")
        .map_err(db_error)?
        .execute([instance])
        .map_err(db_error)?;
    Ok(())
}

/// Fails the runs left running by `instance`, or by no recorded instance.
fn fail_interrupted_runs(
    conn: &Connection,
    instance: Option<&str>,
    now_text: &str,
) -> Result<u64, StoreError> {
    let error = serde_json::json!({
        "name": "Interrupted",
        "message": match instance {
            Some(id) => format!("paywire instance {id} stopped while the run was running"),
            None => "paywire stopped while the run was running".to_string(),
        },
    })
    .to_string();
    let changed = conn
        .prepare_cached(
            "UPDATE _paywire_runs SET status = 'failed', error = ?1, finished_at = ?2
             WHERE status = 'running' AND instance IS ?3",
        )
        .map_err(db_error)?
        .execute(params![error, now_text, instance])
        .map_err(db_error)?;
    Ok(changed as u64)
}

/// See `Store::claim_startup`; the one writer makes the test and the mark
/// one step.
pub fn claim_startup(
    conn: &Connection,
    instance: &str,
    version: &str,
    alive_since: i64,
) -> Result<bool, StoreError> {
    let ran_elsewhere = conn
        .prepare_cached(
            "SELECT 1 FROM _paywire_instances
             WHERE id <> ?1 AND version = ?2 AND ran_startup = 1 AND last_seen >= ?3",
        )
        .map_err(db_error)?
        .query_row(params![instance, version, alive_since], |_| Ok(()))
        .optional()
        .map_err(db_error)?
        .is_some();
    // Either way this instance is now one of a deployment that ran them,
    // which is what the next instance to start asks.
    conn.prepare_cached(
        "UPDATE _paywire_instances SET version = ?2, ran_startup = 1 WHERE id = ?1",
    )
    .map_err(db_error)?
    .execute(params![instance, version])
    .map_err(db_error)?;
    Ok(!ran_elsewhere)
}

pub fn list_instances(conn: &Connection) -> Result<Vec<InstanceRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, started_at, last_seen FROM _paywire_instances ORDER BY started_at",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(InstanceRecord {
                id: r.get(0)?,
                started_at: r.get(1)?,
                last_seen: r.get(2)?,
            })
        })
        .map_err(db_error)?;
    rows.collect::<Result<_, _>>().map_err(db_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimable_events_are_read_in_order_from_the_indexes_of_pending_ones() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::runs::create_schema(&conn).unwrap();
        create_schema(&conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", claimable_query()))
            .unwrap()
            .query_map(params![0, 10], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.lines()
                .any(|line| line.ends_with("USING INDEX _paywire_events_claimable")),
            "{plan}"
        );
        assert!(plan.contains("_paywire_events_pending_by_object"), "{plan}");
        // Sorting would mean reading every pending event to return a few.
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn a_schema_2_database_moves_its_payloads_to_their_own_table() {
        let conn = Connection::open_in_memory().unwrap();
        super::super::runs::create_schema(&conn).unwrap();
        conn.execute_batch(
            "DROP TABLE IF EXISTS _paywire_event_payloads;
             CREATE TABLE _paywire_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
                object_type TEXT NOT NULL, object_id TEXT, created INTEGER NOT NULL,
                livemode INTEGER NOT NULL, payload TEXT NOT NULL, received_at TEXT NOT NULL,
                state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL, last_error TEXT, finished_at TEXT);
             INSERT INTO _paywire_events (id, type, object_type, object_id, created, livemode, payload, received_at, state, next_attempt_at)
             VALUES ('evt_old', 'invoice.paid', 'invoice', 'in_1', 5, 0, '{\"id\":\"evt_old\"}', '2026-01-01T00:00:00Z', 'pending', 0);",
        )
        .unwrap();
        create_schema(&conn).unwrap();
        let event = get(&conn, "evt_old").unwrap().unwrap();
        assert_eq!(event.payload, r#"{"id":"evt_old"}"#);
        assert_eq!(claim(&conn, "i1", 1, 10).unwrap().len(), 1);
        // Opening again changes nothing, and new events go in as before.
        create_schema(&conn).unwrap();
        let new = NewEvent {
            id: "evt_new".into(),
            event_type: "invoice.paid".into(),
            object_type: "invoice".into(),
            object_id: Some("in_1".into()),
            created: 6,
            livemode: false,
            payload: "{}".into(),
            received_at: "2026-01-01T00:00:01Z".into(),
            state: EventState::Ignored,
        };
        assert!(insert(&conn, &new).unwrap());
        assert!(!insert(&conn, &new).unwrap(), "a duplicate changes nothing");
        let stored = get(&conn, "evt_new").unwrap().unwrap();
        assert_eq!(stored.state, EventState::Ignored);
        assert_eq!(stored.finished_at.as_deref(), Some("2026-01-01T00:00:01Z"));
        assert_eq!(
            claim(&conn, "i2", 1, 10).unwrap().len(),
            0,
            "ignored events are not due, and the pending one is claimed"
        );
    }
}
