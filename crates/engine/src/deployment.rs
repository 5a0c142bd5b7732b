//! [`Deployment`]: one loaded version of the project, ready to run, and
//! [`Deployments`], the cell that holds the version being served.
//!
//! A reload swaps the cell while runs keep going: each run holds the
//! `Arc<Deployment>` it started with and finishes on it. The engine and the
//! inbox's worker both read the cell, which is why it lives apart from
//! either of them.

use std::sync::{Arc, RwLock};

use paywire_expr::Evaluator;
use paywire_model::Project;
use paywire_store::{MigrationReport, Store, StoreError};
use paywire_stripe::client::StripeClient;

use crate::actions::Actions;
use crate::instance::Instance;
use crate::runner::Runner;

/// One loaded version of the project, ready to run.
pub struct Deployment {
    pub project: Arc<Project>,
    pub runner: Runner,
}

impl Deployment {
    /// Migrates the project's tables and builds what runs it.
    pub(crate) async fn deploy(
        project: Project,
        evaluator: &Arc<Evaluator>,
        store: &Arc<dyn Store>,
        stripe: &Option<Arc<StripeClient>>,
        instance: &Instance,
    ) -> Result<(Deployment, MigrationReport), StoreError> {
        let report = store
            .migrate(project.tables.values().cloned().collect())
            .await?;
        let project = Arc::new(project);
        let actions = Arc::new(Actions::new(project.clone(), stripe.clone()));
        let runner = Runner::new(project.clone(), evaluator.clone(), actions, store.clone())
            .on_instance(instance.id.clone());
        Ok((Deployment { project, runner }, report))
    }
}

/// The version being served, swapped whole by a reload.
pub(crate) struct Deployments {
    current: RwLock<Arc<Deployment>>,
}

impl Deployments {
    pub(crate) fn new(first: Deployment) -> Deployments {
        Deployments {
            current: RwLock::new(Arc::new(first)),
        }
    }

    pub(crate) fn current(&self) -> Arc<Deployment> {
        // A poisoned lock still holds a whole `Arc`: the swap below cannot
        // leave it half written.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn swap(&self, next: Deployment) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    }
}
