//! The webhook inbox on PostgreSQL. (Being written.)

use deadpool_postgres::GenericClient;
use serde_json::Value;

use crate::{EventFilter, EventRecord, EventUpdate, NewEvent, RunRecord, StoreError};

pub(super) async fn create_schema(c: &impl GenericClient) -> Result<(), StoreError> {
    todo!("{:p}", c)
}

pub(super) async fn insert(c: &impl GenericClient, event: &NewEvent) -> Result<bool, StoreError> {
    todo!("{:p}{:?}", c, event)
}

pub(super) async fn next_due(c: &impl GenericClient, now: i64) -> Result<Option<i64>, StoreError> {
    todo!("{:p}{}", c, now)
}

pub(super) async fn update(
    c: &impl GenericClient,
    update: &EventUpdate,
) -> Result<bool, StoreError> {
    todo!("{:p}{:?}", c, update)
}

pub(super) async fn list(
    c: &impl GenericClient,
    filter: &EventFilter,
) -> Result<Vec<EventRecord>, StoreError> {
    todo!("{:p}{:?}", c, filter)
}

pub(super) async fn get(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<EventRecord>, StoreError> {
    todo!("{:p}{}", c, id)
}

pub(super) async fn runs_of_events(
    c: &impl GenericClient,
    event_ids: &[String],
) -> Result<Vec<RunRecord>, StoreError> {
    todo!("{:p}{:?}", c, event_ids)
}

pub(super) async fn step_output(
    c: &impl GenericClient,
    root: &str,
    key: &str,
) -> Result<Option<Value>, StoreError> {
    todo!("{:p}{}{}", c, root, key)
}

pub(super) const EVENT_COLUMNS: &str = "e.seq";

pub(super) fn event_from_row(row: &tokio_postgres::Row) -> Result<EventRecord, StoreError> {
    todo!("{:?}", row.len())
}
