//! The [`Evaluator`]: Rhai's engine sandboxed within [`ExprLimits`]
//! (operations, sizes, depth, and a deadline kept by the progress hook), with
//! strict variables and without `eval` and `import`; it compiles
//! expressions into [`Expr`]s and evaluates them against a run's scope.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};

use crate::error::friendly_type;
use crate::{CompileError, EvalError, functions, lane, to_json};

/// How much one expression may do before it is stopped.
#[derive(Clone, Debug)]
pub struct ExprLimits {
    pub max_operations: u64,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    /// Wall-clock time one evaluation may take.
    pub deadline: Duration,
    /// Wall-clock time all the evaluations of one run may take together.
    pub run_budget: Duration,
    /// Operations an evaluation may run on an I/O thread before it is moved
    /// to the compute lane (see `lane`).
    pub inline_operations: u64,
}

impl Default for ExprLimits {
    fn default() -> Self {
        ExprLimits {
            max_operations: 1_000_000,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 100_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            deadline: Duration::from_millis(1_000),
            run_budget: Duration::from_secs(10),
            inline_operations: 20_000,
        }
    }
}

/// A compiled expression and the text it came from.
#[derive(Clone)]
pub struct Expr {
    ast: Arc<AST>,
    source: Arc<str>,
}

impl Expr {
    pub fn source(&self) -> &str {
        &self.source
    }
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// The token the progress hook stops an evaluation with, which says why.
const STOPPED_AT_DEADLINE: &str = "deadline";
const STOPPED_AT_RUN_BUDGET: &str = "run budget";
const STOPPED_TO_MOVE: &str = "move to the compute lane";

/// The deadline of the evaluation running on this thread, and whether it is
/// the run's budget rather than the expression's own limit.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    of_run: bool,
}

thread_local! {
    // Evaluation is synchronous, so a thread-local is exactly as wide as one
    // evaluation.
    static DEADLINE: Cell<Option<Deadline>> = const { Cell::new(None) };
}

/// The sandboxed engine that compiles and evaluates every expression; one
/// per process, shared by the loader and every run.
pub struct Evaluator {
    engine: Engine,
    limits: ExprLimits,
    /// The compute lane's permits (see `lane`).
    pub(crate) lane: tokio::sync::Semaphore,
}

impl Evaluator {
    pub fn new(limits: ExprLimits) -> Evaluator {
        let mut engine = Engine::new();
        engine
            .set_max_operations(limits.max_operations)
            .set_max_string_size(limits.max_string_size)
            .set_max_array_size(limits.max_array_size)
            .set_max_map_size(limits.max_map_size)
            .set_max_call_levels(limits.max_call_levels)
            .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
            .set_strict_variables(true);
        // `eval` runs code built at run time, which no load-time check has
        // seen, and `import` reads `.rhai` files from anywhere on the server.
        // Disabled, both are compile errors, so a project using them does
        // not load (the loader's hint says why).
        engine.disable_symbol("eval");
        engine.disable_symbol("import");
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        let inline_operations = limits.inline_operations;
        engine.on_progress(move |operations| {
            // Work that runs inline reads the clock every 16th operation, so
            // that it gives up its thread soon after its time; the rest,
            // every 256th, which is precise enough for a deadline and costs
            // far less than the operations themselves.
            if let Some(until) = lane::ALLOWANCE.with(|a| a.get().inline_until)
                && (operations >= inline_operations
                    || (operations % 16 == 0 && Instant::now() >= until))
            {
                return Some(Dynamic::from(STOPPED_TO_MOVE));
            }
            if operations % 256 != 0 {
                return None;
            }
            let deadline = DEADLINE.with(Cell::get)?;
            if Instant::now() < deadline.at {
                return None;
            }
            Some(Dynamic::from(if deadline.of_run {
                STOPPED_AT_RUN_BUDGET
            } else {
                STOPPED_AT_DEADLINE
            }))
        });
        // `print` and `debug` would write to the server's console; a builder
        // uses the `log` step instead.
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});
        functions::register(&mut engine);
        Evaluator {
            engine,
            limits,
            lane: lane::new_lane(),
        }
    }

    pub fn limits(&self) -> &ExprLimits {
        &self.limits
    }

    /// Compiles `source`, which may use only the variables in `names`.
    pub fn compile(&self, source: &str, names: &[&str]) -> Result<Expr, CompileError> {
        // Plain variables, not constants: the optimiser would fold a constant
        // `()` into the AST in place of the value the run supplies.
        let mut scope = Scope::new();
        for name in names {
            scope.push_dynamic(*name, Dynamic::UNIT);
        }
        match self.engine.compile_with_scope(&scope, source) {
            Ok(ast) => Ok(Expr {
                ast: Arc::new(ast),
                source: source.into(),
            }),
            Err(e) => {
                let position = e.1;
                Err(CompileError {
                    message: e.0.to_string(),
                    line: position.line(),
                    column: position.position(),
                })
            }
        }
    }

    /// Evaluates `expr`. Variables the expression defines with `let` are
    /// dropped afterwards, so one expression cannot leak names into the next.
    pub fn eval(&self, expr: &Expr, scope: &mut Scope<'static>) -> Result<Dynamic, EvalError> {
        let length = scope.len();
        let own = Instant::now() + self.limits.deadline;
        let deadline = match lane::ALLOWANCE.with(Cell::get).run_deadline {
            Some(run) if run < own => Deadline {
                at: run,
                of_run: true,
            },
            _ => Deadline {
                at: own,
                of_run: false,
            },
        };
        DEADLINE.with(|d| d.set(Some(deadline)));
        let result = self.engine.eval_ast_with_scope::<Dynamic>(scope, &expr.ast);
        DEADLINE.with(|d| d.set(None));
        scope.rewind(length);
        result.map_err(|e| self.describe(*e))
    }

    /// Evaluates `expr` and converts the result to JSON.
    pub fn eval_json(
        &self,
        expr: &Expr,
        scope: &mut Scope<'static>,
    ) -> Result<serde_json::Value, EvalError> {
        let value = self.eval(expr, scope)?;
        to_json(&value)
    }

    /// Evaluates `expr` as a condition: it must give a boolean.
    pub fn eval_bool(&self, expr: &Expr, scope: &mut Scope<'static>) -> Result<bool, EvalError> {
        let value = self.eval(expr, scope)?;
        value.as_bool().map_err(|type_name| {
            EvalError::failed(format!(
                "the condition `{}` gave {} instead of true or false",
                expr.source(),
                friendly_type(type_name)
            ))
        })
    }

    fn describe(&self, error: EvalAltResult) -> EvalError {
        match error {
            EvalAltResult::ErrorTerminated(token, _) => {
                match token
                    .read_lock::<rhai::ImmutableString>()
                    .as_deref()
                    .map(|s| s.as_str())
                {
                    Some(STOPPED_TO_MOVE) => EvalError::moved(),
                    Some(STOPPED_AT_RUN_BUDGET) => self.run_budget_spent(),
                    _ => EvalError::limit(format!(
                        "the expression ran past its time limit of {} ms and was stopped",
                        self.limits.deadline.as_millis()
                    )),
                }
            }
            EvalAltResult::ErrorTooManyOperations(..) => EvalError::limit(format!(
                "the expression ran more than {} operations and was stopped",
                self.limits.max_operations
            )),
            EvalAltResult::ErrorDataTooLarge(what, ..) => EvalError::limit(format!(
                "{what} grew past its limit and the expression was stopped"
            )),
            EvalAltResult::ErrorStackOverflow(..) => EvalError::limit(
                "the expression nested calls too deeply and was stopped".to_string(),
            ),
            EvalAltResult::ErrorFunctionNotFound(signature, position)
                if signature.contains("()") =>
            {
                EvalError::failed(format!(
                    "`{signature}` was called with an empty value (null) {position}: a field it reads is missing or null; \
                     give it a default with `??`, e.g. `(x ?? 0)`"
                ))
            }
            other => EvalError::failed(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{read_only_shared, to_dynamic};
    use serde_json::json;

    fn scope_with_context(context: serde_json::Value) -> Scope<'static> {
        let mut scope = Scope::new();
        scope.push_constant_dynamic("context", read_only_shared(to_dynamic(&context)));
        scope
    }

    #[test]
    fn reads_context_fields_with_their_types() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let expr = evaluator
            .compile("context.event.object.amount / 100", &["context"])
            .unwrap();
        let mut scope = scope_with_context(json!({"event": {"object": {"amount": 1250}}}));
        assert_eq!(evaluator.eval_json(&expr, &mut scope).unwrap(), json!(12));
    }

    #[test]
    fn names_known_at_compile_time_are_not_folded_into_the_ast() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let expr = evaluator.compile("item * 2", &["item"]).unwrap();
        let mut scope = Scope::new();
        scope.push_constant("item", 21_i64);
        assert_eq!(evaluator.eval_json(&expr, &mut scope).unwrap(), json!(42));
    }

    #[test]
    fn unknown_variables_fail_at_compile_time() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let err = evaluator
            .compile("contxt.parameters", &["context"])
            .unwrap_err();
        assert!(err.message.contains("contxt"), "{err:?}");
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn null_arithmetic_explains_itself() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let expr = evaluator
            .compile("context.missing / 100", &["context"])
            .unwrap();
        let mut scope = scope_with_context(json!({}));
        let err = evaluator.eval(&expr, &mut scope).unwrap_err();
        assert!(err.message.contains("empty value"), "{}", err.message);
        assert!(err.message.contains("??"), "{}", err.message);
    }

    #[test]
    fn an_infinite_loop_ends_at_the_deadline() {
        let evaluator = Evaluator::new(ExprLimits {
            max_operations: 0, // unlimited, so that only the clock can stop it
            deadline: Duration::from_millis(50),
            ..ExprLimits::default()
        });
        let expr = evaluator
            .compile("let x = 0; loop { x += 1; }", &[])
            .unwrap();
        let started = Instant::now();
        let err = evaluator.eval(&expr, &mut Scope::new()).unwrap_err();
        assert!(err.limit);
        assert!(err.message.contains("time limit"), "{}", err.message);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn operation_and_size_limits_stop_hostile_expressions() {
        let evaluator = Evaluator::new(ExprLimits {
            max_operations: 10_000,
            max_string_size: 1_000,
            ..ExprLimits::default()
        });
        let spin = evaluator
            .compile("let x = 0; while true { x += 1 }", &[])
            .unwrap();
        let err = evaluator.eval(&spin, &mut Scope::new()).unwrap_err();
        assert!(
            err.limit && err.message.contains("operations"),
            "{}",
            err.message
        );

        let grow = evaluator
            .compile("let s = \"x\"; loop { s += s; }", &[])
            .unwrap();
        let err = evaluator.eval(&grow, &mut Scope::new()).unwrap_err();
        assert!(err.limit, "{}", err.message);
    }

    #[test]
    fn let_bindings_do_not_leak_between_evaluations() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let mut scope = Scope::new();
        let first = evaluator.compile("let leaked = 1; leaked", &[]).unwrap();
        assert_eq!(evaluator.eval_json(&first, &mut scope).unwrap(), json!(1));
        assert_eq!(scope.len(), 0);
    }

    #[test]
    fn conditions_must_be_booleans() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let expr = evaluator.compile("42", &[]).unwrap();
        let err = evaluator.eval_bool(&expr, &mut Scope::new()).unwrap_err();
        assert!(
            err.message.contains("instead of true or false"),
            "{}",
            err.message
        );
    }

    #[test]
    fn context_is_read_only() {
        let evaluator = Evaluator::new(ExprLimits::default());
        // Rhai marks only the top level read-only; a nested write would change
        // nothing but the current run's own copy of its context.
        for source in ["context = 1", "context.a = 1"] {
            let failed = match evaluator.compile(source, &["context"]) {
                Err(_) => true,
                Ok(expr) => evaluator
                    .eval(&expr, &mut scope_with_context(json!({"a": {}})))
                    .is_err(),
            };
            assert!(failed, "{source} was allowed");
        }
    }
}
