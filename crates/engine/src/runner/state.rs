//! The state of a run while it runs: who it is, its records not yet handed
//! over, its budget and depth (`Run`), the variables of one body of steps
//! (`Frame`), how a step ended (`Flow`, `Done`), and the small conversions
//! the steps share.

use std::future::Future;
use std::pin::Pin;

use chrono::{SecondsFormat, Utc};
use rhai::{Dynamic, Scope};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use super::{ApiReply, HttpAnswer, WorkflowError};
use paywire_expr::{
    RunBudget, context_to_dynamic, insert_into_read_only, read_only_shared, to_dynamic,
};
use paywire_model::Step;
use paywire_model::params::{self, InputSource};
use paywire_store::{EventClaim, RunRecords, Store};

pub(super) enum Flow {
    Next,
    /// A function's `return`.
    Return(Value),
    /// A `response` without `continue`: the run is over.
    Stop,
}

/// How a step ended that did not fail.
pub(super) enum Done {
    /// What runs next, and the step's result, which its record keeps.
    Ran(Flow, Value),
    /// A table write's result, committed together with the step's record:
    /// the step is on record already.
    Committed(Value),
}

impl Done {
    /// A step that gives `output` and lets the next step run.
    pub(super) fn next(output: Value) -> Done {
        Done::Ran(Flow::Next, output)
    }
}

/// The state of one run, shared by its frames.
pub(super) struct Run {
    pub(super) id: String,
    /// What Stripe idempotency keys derive from: the run this one retries,
    /// or this run.
    pub(super) idempotency_root: String,
    /// Whether earlier runs of the chain may have done some of the work.
    pub(super) resumes: bool,
    pub(super) seq: u32,
    pub(super) reply: Option<oneshot::Sender<ApiReply>>,
    /// The answer of a `response` that ends the run, sent once the run's
    /// records are handed over: whoever has the answer can find the run.
    pub(super) final_answer: Option<HttpAnswer>,
    pub(super) answered: Option<u16>,
    /// Records made since the last hand-over to the store (see
    /// [`RunRecords`]): a run that only computes is written once, at its end.
    pub(super) unwritten: RunRecords,
    /// The expression time the run may still spend.
    pub(super) budget: RunBudget,
    /// How many lists of steps are running inside each other.
    pub(super) step_depth: usize,
    /// See [`RunIdentity::claim`].
    pub(super) claim: Option<EventClaim>,
}

impl Run {
    /// Hands the records made so far to the store, before the run waits on
    /// something that may take a while, so that the run shows as running.
    pub(super) fn hand_over_records(&mut self, store: &dyn Store) {
        store.record(std::mem::take(&mut self.unwritten));
    }
}

/// The variables of one API, workflow or function body.
pub(super) struct Frame {
    pub(super) scope: Scope<'static>,
    pub(super) steps: Dynamic,
    /// Prefix of step keys: empty at the top, `function-name/` inside a call.
    pub(super) key_prefix: String,
    /// Indexes of the loops around the current step, innermost last.
    pub(super) iterations: Vec<usize>,
    pub(super) depth: usize,
    pub(super) vars: Dynamic,
}

impl Frame {
    pub(super) fn new(context: &Value, key_prefix: String, depth: usize) -> Frame {
        // Read-only to expressions (only `set` and finished steps change
        // them); the runner writes through its own handles.
        let steps = read_only_shared(Dynamic::from_map(rhai::Map::new()));
        let vars = read_only_shared(Dynamic::from_map(rhai::Map::new()));
        let mut scope = Scope::new();
        scope.push_constant_dynamic("context", read_only_shared(context_to_dynamic(context)));
        scope.push_constant_dynamic("steps", steps.clone());
        scope.push_constant_dynamic("vars", vars.clone());
        Frame {
            scope,
            steps,
            key_prefix,
            iterations: Vec::new(),
            depth,
            vars,
        }
    }

    pub(super) fn key(&self, step: &Step) -> String {
        let mut key = format!("{}{}", self.key_prefix, step.key);
        for i in &self.iterations {
            key.push_str(&format!("#{i}"));
        }
        key
    }

    pub(super) fn set_step_result(&mut self, id: &str, value: &Value) {
        insert_into_read_only(&mut self.steps, id, to_dynamic(value));
    }

    pub(super) fn set_var(&mut self, name: &str, value: &Value) {
        insert_into_read_only(&mut self.vars, name, to_dynamic(value));
    }
}

pub(super) type StepsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Flow, WorkflowError>> + Send + 'a>>;

pub(super) fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn new_run_id() -> String {
    format!("run_{}", uuid::Uuid::now_v7().simple())
}

/// Who a run is: its id, the run it retries, and the event that started it.
#[derive(Clone, Debug)]
pub struct RunIdentity {
    pub id: String,
    /// The first run of the chain this one retries. Its Stripe calls reuse
    /// that run's idempotency keys, and an action with an effect that already
    /// succeeded in the chain is not done again: its recorded output is
    /// reused, so a retry finishes the work instead of repeating it.
    pub retry_of: Option<String>,
    pub trigger_event: Option<String>,
    /// The claim on the event that the inbox holds while this run works on
    /// it; the run's table writes commit only while it is held.
    pub claim: Option<EventClaim>,
}

impl RunIdentity {
    pub fn new() -> RunIdentity {
        RunIdentity {
            id: new_run_id(),
            retry_of: None,
            trigger_event: None,
            claim: None,
        }
    }
}

impl Default for RunIdentity {
    fn default() -> RunIdentity {
        RunIdentity::new()
    }
}

pub(super) fn validate_input(
    params: &[paywire_model::Param],
    input: &Value,
    what: &str,
    name: &str,
) -> Result<Map<String, Value>, WorkflowError> {
    let empty = Map::new();
    let object = match input {
        Value::Object(map) => map,
        Value::Null => &empty,
        other => {
            return Err(WorkflowError::new(
                "InputError",
                format!("the {what} `{name}` takes a mapping of parameters, not {other}"),
                "",
            ));
        }
    };
    params::validate(params, object, InputSource::Json).map_err(|errors| {
        let detail: Vec<String> = errors
            .iter()
            .map(|e| format!("`{}` {}", e.field, e.problem))
            .collect();
        WorkflowError::new(
            "InputError",
            format!(
                "the {what} `{name}` was given bad input: {}",
                detail.join("; ")
            ),
            "",
        )
    })
}

/// The text a switch value is compared with.
pub(super) fn case_text(value: &Dynamic) -> Option<String> {
    if value.is_unit() {
        return None;
    }
    if value.is_string() {
        return value.clone().into_string().ok();
    }
    paywire_expr::to_json(value).ok().map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

/// A JSON value as plain text: strings without their quotes.
pub(super) fn display_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
