//! The error a workflow raises: from an action, an expression or a `throw`.

use serde_json::{Value, json};

use crate::actions::ActionError;

/// An error inside a run. A `try` catches it as `error` (name, message,
/// cause, step); uncaught, it ends the run and answers an API's caller.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct WorkflowError {
    pub name: String,
    pub message: String,
    pub cause: Value,
    /// The key of the step where it arose, e.g. `steps[2].then[0]`.
    pub step: String,
    pub step_id: Option<String>,
    /// The HTTP status to answer with; 500 when not given.
    pub status: Option<u16>,
    /// Whether `message` may be shown to an HTTP caller.
    pub public: bool,
}

impl WorkflowError {
    pub fn new(name: &str, message: impl Into<String>, step: &str) -> WorkflowError {
        WorkflowError {
            name: name.to_string(),
            message: message.into(),
            cause: Value::Null,
            step: step.to_string(),
            step_id: None,
            status: None,
            public: true,
        }
    }

    pub fn with_step_id(mut self, id: Option<String>) -> WorkflowError {
        self.step_id = id;
        self
    }

    pub fn from_action(e: ActionError) -> WorkflowError {
        WorkflowError {
            status: e.status,
            public: e.public,
            cause: e.cause,
            ..WorkflowError::new(&e.name, e.message, "")
        }
    }

    /// The step as a builder names it: its `id` when it has one, else its
    /// key; inside a called function, prefixed by the function's name
    /// (`price-line/line_total`), so that it cannot be taken for a step of
    /// the caller with the same id.
    pub fn step_name(&self) -> String {
        let function = self.step.rsplit_once('/').map(|(prefix, _)| prefix);
        match (&self.step_id, function) {
            (Some(id), Some(function)) => format!("{function}/{id}"),
            (Some(id), None) => id.clone(),
            (None, _) => self.step.clone(),
        }
    }

    pub fn http_status(&self) -> u16 {
        self.status.unwrap_or(500)
    }

    /// The value a `catch` sees as `error`.
    pub fn to_catch_value(&self) -> Value {
        json!({
            "name": self.name,
            "message": self.message,
            "cause": self.cause,
            "step": self.step_name(),
        })
    }

    /// What the run record keeps.
    pub fn to_record(&self) -> Value {
        json!({
            "name": self.name,
            "message": self.message,
            "cause": self.cause,
            "step": self.step,
            "step_id": self.step_id,
        })
    }
}
