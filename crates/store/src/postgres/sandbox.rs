//! The Stripe sandbox's state on PostgreSQL. (Being written.)

use deadpool_postgres::GenericClient;

use crate::{SandboxChanges, SandboxSnapshot, StoreError};

pub(super) async fn create_schema(c: &impl GenericClient) -> Result<(), StoreError> {
    todo!("{:p}", c)
}

pub(super) async fn load(c: &impl GenericClient) -> Result<SandboxSnapshot, StoreError> {
    todo!("{:p}", c)
}

pub(super) async fn apply(
    c: &impl GenericClient,
    changes: &SandboxChanges,
) -> Result<(), StoreError> {
    todo!("{:p}{:?}", c, changes)
}
