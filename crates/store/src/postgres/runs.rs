//! Runs, steps and console sessions on PostgreSQL. (Being written.)

use deadpool_postgres::GenericClient;

use crate::{RunDetail, RunFilter, RunRecord, RunRecords, StepRecord, StoreError};

pub(super) async fn create_schema(c: &impl GenericClient) -> Result<(), StoreError> {
    todo!("{:p}", c)
}

pub(super) async fn write_records(
    c: &impl GenericClient,
    records: &RunRecords,
) -> Result<(), StoreError> {
    todo!("{:p}{:?}", c, records)
}

pub(super) async fn insert_steps(
    c: &impl GenericClient,
    steps: &[StepRecord],
) -> Result<(), StoreError> {
    todo!("{:p}{:?}", c, steps)
}

pub(super) async fn list_runs(
    c: &impl GenericClient,
    filter: &RunFilter,
) -> Result<Vec<RunRecord>, StoreError> {
    todo!("{:p}{:?}", c, filter)
}

pub(super) async fn get_run(
    c: &impl GenericClient,
    id: &str,
) -> Result<Option<RunDetail>, StoreError> {
    todo!("{:p}{}", c, id)
}

pub(super) async fn sign_out_session(
    c: &impl GenericClient,
    id: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), StoreError> {
    todo!("{:p}{}{}{}", c, id, expires_at, now)
}

pub(super) async fn session_signed_out(
    c: &impl GenericClient,
    id: &str,
) -> Result<bool, StoreError> {
    todo!("{:p}{}", c, id)
}
