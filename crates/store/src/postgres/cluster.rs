//! What lets several instances share one PostgreSQL database: claims on
//! events, the instances' heartbeats, and taking back the work of an
//! instance that stopped.
//!
//! An instance claims the events it runs by writing its id on them
//! (`claimed_by`); the claim lasts as long as the instance keeps beating.
//! One that stays silent longer than the lease (killed, its machine lost,
//! cut off from the database) is taken for stopped by the next instance
//! that beats: its claims are released, so that another instance resumes
//! those events from what their runs recorded, and its runs left running
//! are failed as interrupted, which is what makes the resumed runs retries
//! that reuse their recorded results and Stripe idempotency keys. An
//! instance that was only slow finds, when it reports an event's end, that
//! it no longer holds the claim, and its report changes nothing.

use deadpool_postgres::GenericClient;

use super::db_error;
use super::events::{EVENT_COLUMNS, event_from_row};
use super::runs::time_param;
use crate::{EventClaim, EventRecord, Heartbeat, InstanceRecord, Recovery, StoreError};

pub(super) async fn create_schema(c: &impl GenericClient) -> Result<(), StoreError> {
    // The claim asks, for each candidate, whether another event of its
    // object is pending: `_paywire_events_pending_by_object` (events.rs)
    // answers that without reading the events of other objects.
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS _paywire_instances (
            id text COLLATE \"C\" PRIMARY KEY,
            started_at text NOT NULL,
            last_seen bigint NOT NULL,
            version text,
            ran_startup boolean NOT NULL DEFAULT false
        );",
    )
    .await
    .map_err(db_error)
}

/// Claims events for `instance` (see `Store::claim_events`).
///
/// `FOR UPDATE SKIP LOCKED` keeps two instances claiming at once from
/// taking one event: each skips the rows the other is claiming. Order
/// within an object holds because the candidate's test runs against what
/// was committed when the statement began: an earlier event of the object
/// that another instance is claiming right now is still unclaimed and
/// pending there, so the later one is not a candidate.
pub(super) async fn claim(
    c: &impl GenericClient,
    instance: &str,
    now: i64,
    limit: u32,
) -> Result<Vec<EventRecord>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "WITH claimable AS (
                 SELECT c.seq FROM _paywire_events c
                 WHERE c.state = 'pending' AND c.next_attempt_at <= $2 AND c.claimed_by IS NULL
                   AND NOT EXISTS (
                       SELECT 1 FROM _paywire_events o
                       WHERE o.object_id = c.object_id AND o.state = 'pending' AND o.seq <> c.seq
                         AND (o.claimed_by IS NOT NULL OR (o.seq < c.seq AND o.next_attempt_at <= $2)))
                 ORDER BY c.seq LIMIT $3
                 FOR UPDATE SKIP LOCKED
             ),
             claimed AS (
                 UPDATE _paywire_events e SET claimed_by = $1, claimed_at = $2
                 FROM claimable WHERE e.seq = claimable.seq
                 RETURNING e.*
             )
             SELECT {EVENT_COLUMNS} FROM claimed e ORDER BY e.seq"
        ))
        .await
        .map_err(db_error)?;
    let rows = c
        .query(&statement, &[&instance, &now, &i64::from(limit)])
        .await
        .map_err(db_error)?;
    rows.iter().map(event_from_row).collect()
}

/// The pending events of `instance`'s claim made at `now`.
pub(super) async fn claimed(
    c: &impl GenericClient,
    instance: &str,
    now: i64,
) -> Result<Vec<EventRecord>, StoreError> {
    let rows = c
        .query(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM _paywire_events
                 WHERE claimed_by = $1 AND claimed_at = $2 AND state = 'pending' ORDER BY seq"
            ),
            &[&instance, &now],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(event_from_row).collect()
}

/// Fails unless `claim` is held, and keeps it held until the transaction
/// ends: `FOR SHARE` makes the release of a stopped instance's claims wait
/// for this transaction, so either the guarded write commits first (and
/// the instance that resumes the event finds its record and reuses it) or
/// the claim is gone and the write is refused.
pub(super) async fn hold_claim(
    c: &impl GenericClient,
    claim: &EventClaim,
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached("SELECT 1 FROM _paywire_events WHERE id = $1 AND claimed_by = $2 FOR SHARE")
        .await
        .map_err(db_error)?;
    let held = c
        .query_opt(&statement, &[&claim.event, &claim.instance])
        .await
        .map_err(db_error)?
        .is_some();
    if held {
        Ok(())
    } else {
        Err(StoreError::claim_lost(claim))
    }
}

/// Records `beat` and takes back the work of the instances silent for
/// longer than the lease. Several instances may do this at once for the
/// same stopped instance: each step is idempotent, and the lock on the
/// stopped instance's row lets one of them do it.
pub(super) async fn heartbeat(
    c: &impl GenericClient,
    beat: &Heartbeat,
    now_text: &str,
) -> Result<Recovery, StoreError> {
    let silent_since = beat.now - beat.lease_ms;
    let previous: Option<i64> = c
        .query_opt(
            "SELECT last_seen FROM _paywire_instances WHERE id = $1",
            &[&beat.instance],
        )
        .await
        .map_err(db_error)?
        .map(|row| row.get(0));
    c.execute(
        "INSERT INTO _paywire_instances (id, started_at, last_seen) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        &[&beat.instance, &beat.started_at, &beat.now],
    )
    .await
    .map_err(db_error)?;
    // Only an instance that has itself been beating within the lease judges
    // the others. One that just started, or that was cut off from the
    // database, cannot tell a stopped instance from one that was cut off as
    // it was (after an outage, every instance looks silent); it judges at
    // its next beat, by when the live ones have beaten again.
    let judging = !beat.starting && previous.is_some_and(|seen| seen >= silent_since);
    let lost: Vec<String> = if judging {
        c.query(
            "SELECT id FROM _paywire_instances WHERE id <> $1 AND last_seen < $2
             FOR UPDATE SKIP LOCKED",
            &[&beat.instance, &silent_since],
        )
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| row.get(0))
        .collect()
    } else {
        Vec::new()
    };
    let now = time_param(now_text, "the time of the heartbeat")?;
    let mut recovery = Recovery::default();
    // A starting instance named as one before it (an operator's fixed
    // name, a restart) takes back what its namesake left: nothing else
    // would, since the name keeps beating.
    let previous_self = beat.starting.then_some(&beat.instance);
    for instance in lost.iter().chain(previous_self) {
        let (runs, events) = take_back(c, instance, now).await?;
        recovery.interrupted_runs += runs;
        recovery.requeued_events += events;
        if Some(instance) != previous_self {
            c.execute("DELETE FROM _paywire_instances WHERE id = $1", &[instance])
                .await
                .map_err(db_error)?;
        }
    }
    recovery.lost_instances = lost;
    Ok(recovery)
}

/// See `Store::leave`. The instance's row is locked first, so that an
/// instance judging it lost at the same moment waits, then finds it gone.
pub(super) async fn leave(
    c: &impl GenericClient,
    instance: &str,
    now_text: &str,
) -> Result<Recovery, StoreError> {
    c.execute(
        "SELECT 1 FROM _paywire_instances WHERE id = $1 FOR UPDATE",
        &[&instance],
    )
    .await
    .map_err(db_error)?;
    let now = time_param(now_text, "the time of leaving")?;
    let (interrupted_runs, requeued_events) = take_back(c, instance, now).await?;
    c.execute("DELETE FROM _paywire_instances WHERE id = $1", &[&instance])
        .await
        .map_err(db_error)?;
    Ok(Recovery {
        interrupted_runs,
        requeued_events,
        lost_instances: Vec::new(),
    })
}

/// Fails `instance`'s runs left running and releases its claims.
async fn take_back(
    c: &impl GenericClient,
    instance: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(u64, u64), StoreError> {
    let error = serde_json::json!({
        "name": "Interrupted",
        "message": format!("paywire instance {instance} stopped while the run was running"),
    });
    let runs = c
        .execute(
            "UPDATE _paywire_runs SET status = 'failed', error = $1, finished_at = $2
             WHERE status = 'running' AND instance = $3",
            &[&error, &now, &instance],
        )
        .await
        .map_err(db_error)?;
    let events = c
        .execute(
            "UPDATE _paywire_events SET claimed_by = NULL, claimed_at = NULL WHERE claimed_by = $1",
            &[&instance],
        )
        .await
        .map_err(db_error)?;
    Ok((runs, events))
}

/// The key of the advisory lock under which instances decide who runs a
/// version's startup workflows.
const STARTUP_LOCK: i64 = 0x7061_7977_6972_6503;

/// See `Store::claim_startup`. Instances starting together take turns
/// under an advisory lock, so exactly one of them finds no other that ran.
pub(super) async fn claim_startup(
    c: &impl GenericClient,
    instance: &str,
    version: &str,
    alive_since: i64,
) -> Result<bool, StoreError> {
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&STARTUP_LOCK])
        .await
        .map_err(db_error)?;
    let ran_elsewhere = c
        .query_opt(
            "SELECT 1 FROM _paywire_instances
             WHERE id <> $1 AND version = $2 AND ran_startup AND last_seen >= $3 LIMIT 1",
            &[&instance, &version, &alive_since],
        )
        .await
        .map_err(db_error)?
        .is_some();
    // Either way this instance is now one of a deployment that ran them,
    // which is what the next instance to start asks.
    c.execute(
        "UPDATE _paywire_instances SET version = $2, ran_startup = true WHERE id = $1",
        &[&instance, &version],
    )
    .await
    .map_err(db_error)?;
    Ok(!ran_elsewhere)
}

pub(super) async fn list_instances(
    c: &impl GenericClient,
) -> Result<Vec<InstanceRecord>, StoreError> {
    let rows = c
        .query(
            "SELECT id, started_at, last_seen FROM _paywire_instances ORDER BY started_at",
            &[],
        )
        .await
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|row| InstanceRecord {
            id: row.get(0),
            started_at: row.get(1),
            last_seen: row.get(2),
        })
        .collect())
}
