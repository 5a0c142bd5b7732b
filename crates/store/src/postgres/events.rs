//! The webhook inbox on PostgreSQL: received Stripe events
//! (`_paywire_events`), and the queries that recovery and retries need from
//! the run records. Each answers as its SQLite twin does.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::Row;

use super::db_error;
use super::runs::{
    RUN_COLUMNS, from_integer, optional_time_param, run_from_row, time_param, time_text, to_integer,
};
use crate::{EventFilter, EventRecord, EventState, EventUpdate, NewEvent, RunRecord, StoreError};

pub(super) async fn create_schema(c: &impl GenericClient) -> Result<(), StoreError> {
    // The payload is the body exactly as Stripe sent it (its signature is
    // over those bytes), so it is text, not `jsonb`. It stays in the event's
    // row, unlike on SQLite: PostgreSQL keeps a payload of more than a
    // couple of kilobytes out of line, and a new version of the row made by
    // a change of state points at the same payload without copying it.
    //
    // The inbox reads pending events in the order they arrived, from where
    // it stopped, which the index of pending events by `seq` answers without
    // a sort; events of one object that are pending are found by the other
    // partial index. `claimed_by` and `claimed_at` say which instance runs
    // the event now, and since when (see `cluster.rs`).
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS _paywire_events (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT COLLATE \"C\" NOT NULL UNIQUE,
            type TEXT COLLATE \"C\" NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT COLLATE \"C\",
            created BIGINT NOT NULL,
            livemode BOOLEAN NOT NULL,
            payload TEXT NOT NULL,
            received_at TIMESTAMPTZ NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at BIGINT NOT NULL,
            last_error TEXT,
            finished_at TIMESTAMPTZ,
            claimed_by TEXT,
            claimed_at BIGINT
        );
        CREATE INDEX IF NOT EXISTS _paywire_events_pending ON _paywire_events (seq, next_attempt_at)
            WHERE state = 'pending';
        CREATE INDEX IF NOT EXISTS _paywire_events_pending_by_object
            ON _paywire_events (object_id, seq) WHERE state = 'pending';
        CREATE INDEX IF NOT EXISTS _paywire_events_claimable
            ON _paywire_events (seq) WHERE state = 'pending' AND claimed_by IS NULL;",
    )
    .await
    .map_err(db_error)
}

pub(super) const EVENT_COLUMNS: &str = "id, seq, type, object_type, object_id, created, livemode, payload, received_at, state, attempts, next_attempt_at, last_error, finished_at, claimed_by";

pub(super) fn event_from_row(row: &Row) -> Result<EventRecord, StoreError> {
    let state: &str = row.try_get(9).map_err(db_error)?;
    Ok(EventRecord {
        id: row.try_get(0).map_err(db_error)?,
        seq: row.try_get(1).map_err(db_error)?,
        event_type: row.try_get(2).map_err(db_error)?,
        object_type: row.try_get(3).map_err(db_error)?,
        object_id: row.try_get(4).map_err(db_error)?,
        created: row.try_get(5).map_err(db_error)?,
        livemode: row.try_get(6).map_err(db_error)?,
        payload: row.try_get(7).map_err(db_error)?,
        received_at: time_text(row.try_get(8).map_err(db_error)?),
        state: EventState::parse(state).unwrap_or(EventState::Failed),
        attempts: from_integer(
            row.try_get(10).map_err(db_error)?,
            "an event's count of attempts",
        )?,
        next_attempt_at: row.try_get(11).map_err(db_error)?,
        last_error: row.try_get(12).map_err(db_error)?,
        finished_at: row
            .try_get::<_, Option<DateTime<Utc>>>(13)
            .map_err(db_error)?
            .map(time_text),
        claimed_by: row.try_get(14).map_err(db_error)?,
    })
}

/// Stores a received event; false when its id is known, and then nothing
/// changes.
pub(super) async fn insert(c: &impl GenericClient, event: &NewEvent) -> Result<bool, StoreError> {
    let received_at = time_param(&event.received_at, "the event's arrival")?;
    let finished_at = (event.state != EventState::Pending).then_some(received_at);
    // Receipts on several connections may commit in another order than
    // their numbers. Nothing reads events from a number on (the inbox claims
    // every claimable event, oldest first), so they need not wait for each
    // other: two events of one object received at once are at worst run in
    // the order their commits made visible.
    let statement = c
        .prepare_cached(
            "INSERT INTO _paywire_events (id, type, object_type, object_id, created, livemode, payload, received_at, state, next_attempt_at, finished_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10)
             ON CONFLICT (id) DO NOTHING",
        )
        .await
        .map_err(db_error)?;
    let inserted = c
        .execute(
            &statement,
            &[
                &event.id,
                &event.event_type,
                &event.object_type,
                &event.object_id,
                &event.created,
                &event.livemode,
                &event.payload,
                &received_at,
                &event.state.as_str(),
                &finished_at,
            ],
        )
        .await
        .map_err(db_error)?;
    Ok(inserted > 0)
}

pub(super) async fn next_due(c: &impl GenericClient, now: i64) -> Result<Option<i64>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM _paywire_events WHERE state = 'pending' AND next_attempt_at > $1",
        )
        .await
        .map_err(db_error)?;
    let row = c.query_one(&statement, &[&now]).await.map_err(db_error)?;
    row.try_get(0).map_err(db_error)
}

/// Changes where events stand, in one statement in the caller's
/// transaction: each change applies only while its `holder` (if any) still
/// holds the event's claim, and releases it. Answers the ids of the events
/// it changed. No id may be given
/// twice (the caller splits such a list in order).
pub(super) async fn update_many(
    c: &impl GenericClient,
    updates: &[&EventUpdate],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut columns = (
        Vec::with_capacity(updates.len()),
        Vec::with_capacity(updates.len()),
        Vec::with_capacity(updates.len()),
        Vec::with_capacity(updates.len()),
        Vec::with_capacity(updates.len()),
        Vec::with_capacity(updates.len()),
        Vec::with_capacity(updates.len()),
    );
    for update in updates {
        columns.0.push(update.id.as_str());
        columns.1.push(update.state.as_str());
        columns
            .2
            .push(to_integer(update.attempts, "an event's count of attempts")?);
        columns.3.push(update.next_attempt_at);
        columns.4.push(update.last_error.as_deref());
        columns.5.push(optional_time_param(
            update.finished_at.as_deref(),
            "the event's end",
        )?);
        columns.6.push(update.holder.as_deref());
    }
    let statement = c
        .prepare_cached(
            "UPDATE _paywire_events AS e SET state = u.state, attempts = u.attempts, next_attempt_at = u.next_attempt_at,
                 last_error = u.last_error, finished_at = u.finished_at, claimed_by = NULL, claimed_at = NULL
             FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::text[], $6::timestamptz[], $7::text[])
               AS u(id, state, attempts, next_attempt_at, last_error, finished_at, holder)
             WHERE e.id = u.id AND (u.holder IS NULL OR e.claimed_by = u.holder)
             RETURNING e.id",
        )
        .await
        .map_err(db_error)?;
    let rows = c
        .query(
            &statement,
            &[
                &columns.0, &columns.1, &columns.2, &columns.3, &columns.4, &columns.5, &columns.6,
            ],
        )
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|row| row.try_get::<_, String>(0).map_err(db_error))
        .collect()
}

pub(super) async fn list(
    c: &impl GenericClient,
    filter: &EventFilter,
) -> Result<Vec<EventRecord>, StoreError> {
    let limit = i64::from(if filter.limit == 0 {
        50
    } else {
        filter.limit.min(1000)
    });
    let statement = c
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM _paywire_events
             WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR type = $2)
             ORDER BY seq DESC LIMIT $3"
        ))
        .await
        .map_err(db_error)?;
    let rows = c
        .query(
            &statement,
            &[
                &filter.state.map(EventState::as_str),
                &filter.event_type,
                &limit,
            ],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn get(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<EventRecord>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {EVENT_COLUMNS} FROM _paywire_events WHERE id = $1"
        ))
        .await
        .map_err(db_error)?;
    c.query_opt(&statement, &[&id])
        .await
        .map_err(db_error)?
        .as_ref()
        .map(event_from_row)
        .transpose()
}

/// The runs each of these events started, oldest first for each event.
pub(super) async fn runs_of_events(
    c: &impl GenericClient,
    event_ids: &[String],
) -> Result<Vec<RunRecord>, StoreError> {
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let statement = c
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM _paywire_runs
             WHERE trigger_event = ANY($1::text[])
             ORDER BY trigger_event, started_at, id"
        ))
        .await
        .map_err(db_error)?;
    let rows = c.query(&statement, &[&event_ids]).await.map_err(db_error)?;
    rows.iter().map(run_from_row).collect()
}

/// The output of the first succeeded step at `key` among the attempts of
/// the run `root` (itself and the runs that retry it), oldest first, and in
/// each attempt in the order its steps were stored.
pub(super) async fn step_output(
    c: &impl GenericClient,
    root: &str,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    let statement = c
        .prepare_cached(
            "WITH attempts AS (
                 SELECT id, started_at, steps FROM _paywire_runs WHERE id = $1 OR retry_of = $1
             ),
             stored AS (
                 SELECT started_at, 0::bigint AS first_seq, steps FROM attempts WHERE steps IS NOT NULL
                 UNION ALL
                 SELECT a.started_at, b.first_seq, b.steps
                 FROM attempts a JOIN _paywire_step_batches b ON b.run_id = a.id
             )
             SELECT element.value -> 'output'
             FROM stored, jsonb_array_elements(stored.steps) WITH ORDINALITY AS element(value, place)
             WHERE element.value ->> 'key' = $2 AND element.value ->> 'status' = 'succeeded'
             ORDER BY stored.started_at, stored.first_seq, element.place LIMIT 1",
        )
        .await
        .map_err(db_error)?;
    let row = c
        .query_opt(&statement, &[&root, &key])
        .await
        .map_err(db_error)?;
    match row {
        Some(row) => row.try_get::<_, Option<Value>>(0).map_err(db_error),
        None => Ok(None),
    }
}
