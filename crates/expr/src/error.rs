//! The two ways an expression fails: it does not compile (found at load), or
//! it fails while it runs (a run's error, maybe a sandbox limit). Their
//! messages are for the builder, so they name types as a builder writes them.

/// An expression that does not compile, with Rhai's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CompileError {
    pub message: String,
    /// Line and column inside the expression text, both from 1, when Rhai
    /// knows them.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// An expression that failed while running.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct EvalError {
    pub message: String,
    /// True when a sandbox limit (time, operations, sizes) stopped it.
    pub limit: bool,
    /// Stopped inline to be run again on the compute lane; never seen
    /// outside [`crate::Evaluator::compute`].
    pub(crate) moved: bool,
}

impl EvalError {
    /// The expression itself went wrong (a type, a missing function).
    pub(crate) fn failed(message: String) -> EvalError {
        EvalError {
            message,
            limit: false,
            moved: false,
        }
    }

    /// A sandbox limit stopped the expression.
    pub(crate) fn limit(message: String) -> EvalError {
        EvalError {
            message,
            limit: true,
            moved: false,
        }
    }

    /// Work stopped inline so that it runs again on the compute lane; it
    /// counts as a limit in case it ever escaped [`crate::Evaluator::compute`].
    pub(crate) fn moved() -> EvalError {
        EvalError {
            moved: true,
            ..EvalError::limit("moved to the compute lane".into())
        }
    }
}

/// A Rhai type's name as a builder would say it, for error messages.
pub(crate) fn friendly_type(type_name: &str) -> String {
    match type_name {
        "()" => "an empty value (null)".to_string(),
        "i64" => "an integer".to_string(),
        "f64" => "a number".to_string(),
        "string" | "ImmutableString" => "a string".to_string(),
        "map" => "a map".to_string(),
        "array" => "a list".to_string(),
        other => other.to_string(),
    }
}
