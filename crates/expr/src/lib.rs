//! Rhai expressions: compiled once when a project loads, evaluated per run
//! inside a sandbox (operation, size, depth and wall-clock limits).
//!
//! One [`Evaluator`] exists per process. The loader compiles every expression
//! with it (with strict variables, so a misspelt `contxt` is a load-time
//! error), and the runner evaluates the compiled ASTs against a [`rhai::Scope`]
//! holding `context`, `steps`, `vars` and loop or catch variables.
//!
//! `evaluator` is the sandboxed engine and its limits, `lane` where its work
//! computes, `template` the `{{ }}` values it renders, `convert` the values
//! between JSON and Rhai, `error` how an expression fails, `depth` the
//! nesting limit of outside JSON, and `functions` the builder's functions.

mod convert;
mod depth;
mod error;
mod evaluator;
mod functions;
mod lane;
mod template;

pub use convert::{
    context_to_dynamic, insert_into_read_only, read_only_shared, to_dynamic, to_json,
};
pub use depth::{MAX_JSON_DEPTH, json_too_deep};
pub use error::{CompileError, EvalError};
pub use evaluator::{Evaluator, Expr, ExprLimits};
pub use lane::RunBudget;
pub use template::{Part, RawPart, RawTemplate, Template, split_template};
