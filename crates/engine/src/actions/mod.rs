//! Actions: what an action step does. The catalogue (in the model) describes
//! every action as data; [`Actions`] carries them out, dispatching on the action's family.
//!
//! The runner sees only [`ActionExecutor`], so it knows nothing of SQL (or, in
//! time, of Stripe's wire format).

pub mod stripe;
mod table;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use paywire_model::Project;
use paywire_model::catalogue::{ActionSpec, Family};
use paywire_store::{RunRecords, StepRecord, Store, StoreError};
use paywire_stripe::client::StripeClient;

/// One action to carry out.
pub struct ActionCall {
    pub spec: &'static ActionSpec,
    /// The step's `with:`, rendered.
    pub input: Value,
    /// The step's record so far; an executor that commits effects may commit
    /// this record with them (see [`ActionOutcome::recorded`]).
    pub record: StepRecord,
    /// When the step started, for the record's duration.
    pub started: std::time::Instant,
    /// The run whose effects this call must not repeat: the run itself, or
    /// the run it retries. Stripe calls derive their idempotency keys from it.
    pub idempotency_root: String,
    /// The run's records not yet handed to the store. A table write commits
    /// them with its effect; any other action hands them over before it
    /// waits, so that the run shows as running while it does.
    pub earlier: RunRecords,
}

pub struct ActionOutcome {
    pub output: Value,
    /// True when the executor already stored the step's record together with
    /// its effect, so the runner must not store it again.
    pub recorded: bool,
}

/// An action that failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// A short class of error, e.g. `TableError`; `error.name` in a catch.
    pub name: String,
    pub message: String,
    /// The HTTP status to answer with when nothing catches the error.
    pub status: Option<u16>,
    /// Whether `message` may be shown to an HTTP caller; otherwise the
    /// caller is told only that an internal error happened.
    pub public: bool,
    /// Details a `catch` reads as `error.cause` (Stripe's error fields).
    pub cause: Value,
}

impl ActionError {
    pub fn invalid(name: &str, message: impl Into<String>) -> ActionError {
        ActionError {
            name: name.to_string(),
            message: message.into(),
            status: None,
            public: true,
            cause: Value::Null,
        }
    }
}

pub type ActionFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ActionOutcome, ActionError>> + Send + 'a>>;

pub trait ActionExecutor: Send + Sync + 'static {
    fn execute(&self, call: ActionCall) -> ActionFuture<'_>;
}

/// The executor for every family of the catalogue.
pub struct Actions {
    project: Arc<Project>,
    store: Arc<dyn Store>,
    stripe: Option<Arc<StripeClient>>,
}

impl Actions {
    pub fn new(
        project: Arc<Project>,
        store: Arc<dyn Store>,
        stripe: Option<Arc<StripeClient>>,
    ) -> Actions {
        Actions {
            project,
            store,
            stripe,
        }
    }
}

impl ActionExecutor for Actions {
    fn execute(&self, mut call: ActionCall) -> ActionFuture<'_> {
        Box::pin(async move {
            let writes_table = matches!(call.spec.family, Family::Table) && call.spec.has_effect();
            if !writes_table {
                self.store.record(std::mem::take(&mut call.earlier));
            }
            match call.spec.family {
                Family::Table => table::execute(&self.project, self.store.as_ref(), call).await,
                Family::Stripe => stripe::execute(self.stripe.as_deref(), call).await,
            }
        })
    }
}

fn store_error(e: StoreError) -> ActionError {
    if let StoreError::Conflict(message) = e {
        // Uncaught, a clash on a unique value answers 409 Conflict.
        return ActionError {
            status: Some(409),
            ..ActionError::invalid("TableConflict", message)
        };
    }
    if e.is_public() {
        ActionError::invalid("TableError", e.to_string())
    } else {
        tracing::error!(error = %e, "a table action failed");
        ActionError {
            name: "TableError".into(),
            message: "the database failed; the details are in the server's log".into(),
            status: None,
            public: false,
            cause: Value::Null,
        }
    }
}
