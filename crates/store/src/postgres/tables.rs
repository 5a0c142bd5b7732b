//! The builder's tables on PostgreSQL. (Being written.)

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use serde_json::Value;

use crate::{MigrationReport, StoreError, TableOp};
use paywire_model::Table;

pub(super) async fn migrate(
    c: &impl GenericClient,
    tables: &[Arc<Table>],
) -> Result<MigrationReport, StoreError> {
    todo!("{:p}{}", c, tables.len())
}

pub(super) async fn execute(c: &impl GenericClient, op: &TableOp) -> Result<Value, StoreError> {
    todo!("{:p}{:?}", c, op)
}

pub(super) async fn count_rows(
    c: &impl GenericClient,
    tables: &[Arc<Table>],
) -> Result<Vec<u64>, StoreError> {
    todo!("{:p}{}", c, tables.len())
}
