//! Actions: what an action step does. The catalogue (in the model) describes
//! every action as data; [`Actions`] turns a step's rendered input into an
//! [`ActionPlan`], dispatching on the action's family, and makes the Stripe
//! calls that plans ask for.
//!
//! Nothing here touches the store or a run's records. The runner carries out
//! a table plan through [`paywire_store::Store`] itself, so that a write and
//! its step's record commit together, and it hands the run's records over
//! before a Stripe call; the actions layer only plans and calls. The runner
//! sees [`ActionExecutor`], so it knows nothing of Stripe's wire format.

pub mod stripe;
mod table;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

use paywire_model::Project;
use paywire_model::catalogue::{ActionSpec, Family};
use paywire_store::{StoreError, TableOp};
use paywire_stripe::client::{Call, StripeClient};

/// What an action step does, worked out from its rendered input before
/// anything happens.
#[derive(Debug)]
pub enum ActionPlan {
    /// A table read, which has no effect to keep together with a record.
    TableRead(TableOp),
    /// A table write, which the runner commits in one transaction with the
    /// step's record and the run's records before it, so that a retried run
    /// finds the record exactly when the write happened and never does it
    /// twice.
    TableWrite(TableOp),
    /// A Stripe call, made through [`ActionExecutor::call_stripe`] once the
    /// run's records are with the store, so that the run shows as running
    /// while it waits for Stripe.
    Stripe(Call),
}

/// Where an action step runs, as far as its plan depends on it: its Stripe
/// idempotency key derives from these.
#[derive(Clone, Copy, Debug)]
pub struct ActionSite<'a> {
    /// The run whose effects this step must not repeat: the run itself, or
    /// the run it retries.
    pub idempotency_root: &'a str,
    /// The step's key, with its loop iterations (`steps[2]#1`).
    pub step_key: &'a str,
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

    /// A table action's failure in the store. This is the one place where
    /// the store's errors become what a workflow sees: a clash on a unique
    /// value is a `TableConflict` answered with 409 when nothing catches it,
    /// and a failure of the database itself is logged and told to the
    /// caller only as such.
    pub fn from_store(e: StoreError) -> ActionError {
        if e.is_transient() {
            // Nothing is wrong with the request: the same one may succeed in
            // a moment, which a 503 tells an HTTP caller.
            tracing::warn!(error = %e, "a table action found the database unavailable");
            return ActionError {
                status: Some(503),
                ..ActionError::invalid(
                    "DatabaseUnavailable",
                    "the database cannot be reached now; try again shortly",
                )
            };
        }
        if let StoreError::Conflict(message) = e {
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
                public: false,
                ..ActionError::invalid(
                    "TableError",
                    "the database failed; the details are in the server's log",
                )
            }
        }
    }
}

pub type ActionFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, ActionError>> + Send + 'a>>;

/// The actions as the runner sees them.
pub trait ActionExecutor: Send + Sync + 'static {
    /// Works out what an action step does from its rendered input. It does
    /// nothing yet, so that the runner can decide what goes to the store
    /// with the effect and what before it.
    fn plan(
        &self,
        spec: &'static ActionSpec,
        input: &Value,
        site: ActionSite<'_>,
    ) -> Result<ActionPlan, ActionError>;

    /// Makes a Stripe call that [`ActionExecutor::plan`] planned; Stripe's
    /// answer is the step's result.
    fn call_stripe(&self, call: Call) -> ActionFuture<'_>;
}

/// The executor for every family of the catalogue.
pub struct Actions {
    project: Arc<Project>,
    stripe: Option<Arc<StripeClient>>,
}

impl Actions {
    pub fn new(project: Arc<Project>, stripe: Option<Arc<StripeClient>>) -> Actions {
        Actions { project, stripe }
    }
}

impl ActionExecutor for Actions {
    fn plan(
        &self,
        spec: &'static ActionSpec,
        input: &Value,
        site: ActionSite<'_>,
    ) -> Result<ActionPlan, ActionError> {
        match spec.family {
            Family::Table => table::plan(&self.project, spec.name, input),
            Family::Stripe => {
                // Without a connection every Stripe step fails the same way,
                // whatever its input.
                stripe::connection(self.stripe.as_deref())?;
                stripe::plan(spec, input, site).map(ActionPlan::Stripe)
            }
        }
    }

    fn call_stripe(&self, call: Call) -> ActionFuture<'_> {
        let client = stripe::connection(self.stripe.as_deref());
        Box::pin(async move { stripe::call(client?, call).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywire_expr::{Evaluator, ExprLimits};
    use paywire_model::catalogue;
    use paywire_store::Selector;
    use paywire_stripe::client::Method;
    use serde_json::json;

    fn actions(stripe: Option<Arc<StripeClient>>) -> Actions {
        let text = "tables:\n  orders:\n    columns:\n      id: { type: text, primary_key: true }\n      status: { type: text }\n";
        let evaluator = Evaluator::new(ExprLimits::default());
        let project =
            paywire_model::load_project_files(&[("t.yaml".into(), text.into())], &evaluator)
                .unwrap();
        Actions::new(Arc::new(project), stripe)
    }

    fn client() -> Arc<StripeClient> {
        let key = paywire_support::Secret::new("sk_test_plan".to_string());
        let client = StripeClient::new(
            &key,
            "http://127.0.0.1:9",
            paywire_stripe::client::STRIPE_CALL_RETRY,
        );
        Arc::new(client.unwrap())
    }

    fn plan(actions: &Actions, name: &str, input: Value) -> Result<ActionPlan, ActionError> {
        let site = ActionSite {
            idempotency_root: "run_1",
            step_key: "steps[3]#2",
        };
        actions.plan(catalogue::find(name).unwrap(), &input, site)
    }

    #[test]
    fn a_select_is_a_read_and_every_other_table_action_a_write() {
        let actions = actions(None);
        let read = plan(&actions, "table.select", json!({"table": "orders"})).unwrap();
        let ActionPlan::TableRead(TableOp::Select {
            selector, limit, ..
        }) = read
        else {
            panic!("{read:?}");
        };
        assert_eq!((selector, limit), (Selector::Filters(Vec::new()), 100));
        for (name, input) in [
            (
                "table.insert",
                json!({"table": "orders", "values": {"id": "o1"}}),
            ),
            (
                "table.update",
                json!({"table": "orders", "id": "o1", "values": {"status": "paid"}}),
            ),
            ("table.delete", json!({"table": "orders", "id": "o1"})),
        ] {
            let write = plan(&actions, name, input).unwrap();
            assert!(
                matches!(write, ActionPlan::TableWrite(_)),
                "{name}: {write:?}"
            );
        }
    }

    #[test]
    fn a_table_input_only_the_run_knows_is_checked_before_anything_happens() {
        let actions = actions(None);
        let e = plan(
            &actions,
            "table.update",
            json!({"table": "orders", "id": null, "values": {}}),
        )
        .unwrap_err();
        assert_eq!(e.name, "TableError");
        assert!(
            e.message.starts_with("`id` is empty (null)"),
            "{}",
            e.message
        );
        let e = plan(
            &actions,
            "table.insert",
            json!({"table": "shipments", "values": {}}),
        )
        .unwrap_err();
        assert_eq!(e.message, "there is no table `shipments`");
    }

    #[test]
    fn a_stripe_call_carries_the_key_of_its_run_and_step() {
        let actions = actions(Some(client()));
        let planned = plan(
            &actions,
            "stripe.update_customer",
            json!({"id": "cus_1", "email": "a@b.c"}),
        )
        .unwrap();
        let ActionPlan::Stripe(call) = planned else {
            panic!("{planned:?}");
        };
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::Post, "/customers/cus_1")
        );
        assert_eq!(
            call.idempotency_key.as_deref(),
            Some("paywire:run_1:steps[3]#2")
        );
    }

    #[test]
    fn without_a_stripe_connection_every_stripe_step_fails_as_not_configured() {
        let actions = actions(None);
        // Even an input that could not be sent: the missing connection is
        // what the builder has to fix first.
        let e = plan(
            &actions,
            "stripe.create_payment_intent",
            json!({"amount": -1}),
        )
        .unwrap_err();
        assert_eq!(
            (e.name.as_str(), e.status, e.public),
            ("StripeNotConfigured", Some(500), false)
        );
    }

    #[test]
    fn store_errors_become_table_errors_that_say_only_what_may_be_shown() {
        let e = ActionError::from_store(StoreError::Conflict("`orders.id` o1 exists".into()));
        assert_eq!(
            (e.name.as_str(), e.status, e.public),
            ("TableConflict", Some(409), true)
        );
        let e = ActionError::from_store(StoreError::Invalid("`amount` is not a number".into()));
        assert_eq!(
            (e.name.as_str(), e.message.as_str()),
            ("TableError", "`amount` is not a number")
        );
        let e = ActionError::from_store(StoreError::Database("disk I/O error".into()));
        assert_eq!((e.name.as_str(), e.public), ("TableError", false));
        assert!(!e.message.contains("disk"), "{}", e.message);
    }
}
