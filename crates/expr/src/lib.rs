//! Rhai expressions: compiled once when a project loads, evaluated per run
//! inside a sandbox (operation, size, depth and wall-clock limits).
//!
//! One [`Evaluator`] exists per process. The loader compiles every expression
//! with it (with strict variables, so a misspelt `contxt` is a load-time
//! error), and the runner evaluates the compiled ASTs against a [`rhai::Scope`]
//! holding `context`, `steps`, `vars` and loop or catch variables.

mod functions;
mod lane;
mod template;

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};

pub use lane::RunBudget;
pub use template::{Part, RawPart, RawTemplate, Template, split_template};

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
    /// outside [`Evaluator::compute`].
    moved: bool,
}

impl EvalError {
    fn failed(message: String) -> EvalError {
        EvalError {
            message,
            limit: false,
            moved: false,
        }
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
    // evaluation (the deadline) or one piece of `compute` work (its allowance).
    static DEADLINE: Cell<Option<Deadline>> = const { Cell::new(None) };
    static ALLOWANCE: Cell<lane::Allowance> = Cell::new(lane::Allowance::default());
}

pub struct Evaluator {
    engine: Engine,
    limits: ExprLimits,
    /// The compute lane's permits (see `lane`).
    lane: tokio::sync::Semaphore,
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
            if let Some(until) = ALLOWANCE.with(|a| a.get().inline_until)
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
        let deadline = match ALLOWANCE.with(Cell::get).run_deadline {
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

    /// Renders a template to JSON.
    pub fn render(
        &self,
        template: &Template,
        scope: &mut Scope<'static>,
    ) -> Result<serde_json::Value, EvalError> {
        Ok(match template {
            Template::Literal(value) => value.clone(),
            Template::Expr(expr) => self.eval_json(expr, scope)?,
            Template::Interpolate(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Expr(expr) => {
                            let value = self.eval(expr, scope)?;
                            append_display(&mut text, &value)?;
                        }
                    }
                }
                serde_json::Value::String(text)
            }
            Template::Object(fields) => {
                let mut map = serde_json::Map::with_capacity(fields.len());
                for (key, field) in fields {
                    map.insert(key.clone(), self.render(field, scope)?);
                }
                serde_json::Value::Object(map)
            }
            Template::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|item| self.render(item, scope))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    fn describe(&self, error: EvalAltResult) -> EvalError {
        let limit = |message: String| EvalError {
            message,
            limit: true,
            moved: false,
        };
        match error {
            EvalAltResult::ErrorTerminated(token, _) => {
                match token
                    .read_lock::<rhai::ImmutableString>()
                    .as_deref()
                    .map(|s| s.as_str())
                {
                    Some(STOPPED_TO_MOVE) => EvalError {
                        moved: true,
                        ..limit("moved to the compute lane".into())
                    },
                    Some(STOPPED_AT_RUN_BUDGET) => self.run_budget_spent(),
                    _ => limit(format!(
                        "the expression ran past its time limit of {} ms and was stopped",
                        self.limits.deadline.as_millis()
                    )),
                }
            }
            EvalAltResult::ErrorTooManyOperations(..) => limit(format!(
                "the expression ran more than {} operations and was stopped",
                self.limits.max_operations
            )),
            EvalAltResult::ErrorDataTooLarge(what, ..) => limit(format!(
                "{what} grew past its limit and the expression was stopped"
            )),
            EvalAltResult::ErrorStackOverflow(..) => {
                limit("the expression nested calls too deeply and was stopped".to_string())
            }
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

/// How deep a JSON value that paywire accepts from outside (an API's body,
/// a webhook event) may nest: objects and arrays inside each other, the
/// outermost counted. Stripe's deepest events nest about a dozen levels;
/// what a run's context wraps around a body or an event stays well inside
/// the parser's and the converters' own limits, so whatever is accepted can
/// also run.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether the JSON text `bytes` nests deeper than [`MAX_JSON_DEPTH`]. A scan
/// of the bytes that stops at the first level too deep, so that refusing a
/// hostile body costs less than parsing it.
pub fn json_too_deep(bytes: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Converts JSON to a Rhai value (null becomes `()`; whole numbers that fit
/// become integers, the rest floats).
///
/// Written out rather than through `rhai::serde`, which goes through serde's
/// data model value by value: this is on every run's path (a Stripe event's
/// context is several kilobytes) and the direct walk is several times faster.
pub fn to_dynamic(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
        Value::Object(fields) => Dynamic::from_map(
            fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect(),
        ),
    }
}

/// Converts a run's `context`. A Stripe event's object is in it twice, as
/// `event.object` and inside the event as Stripe sent it,
/// `event.raw.data.object` (see `inbox::event_context`); it is most of the
/// event, so when the two are equal it is converted once and both places
/// hold the same read-only shared value, which expressions read as any
/// other (and cannot assign to, as the rest of `context`).
pub fn context_to_dynamic(context: &serde_json::Value) -> Dynamic {
    let event = &context["event"];
    let object = &event["object"];
    let raw = &event["raw"];
    let data = &raw["data"];
    let (Some(context_fields), Some(event_fields), Some(raw_fields), Some(data_fields), true) = (
        context.as_object(),
        event.as_object(),
        raw.as_object(),
        data.as_object(),
        object.is_object() && object == &data["object"],
    ) else {
        return to_dynamic(context);
    };
    let object = read_only_shared(to_dynamic(object));
    let mut data = convert_fields_except(data_fields, &["object"]);
    data.insert("object".into(), object.clone());
    let mut raw = convert_fields_except(raw_fields, &["data"]);
    raw.insert("data".into(), Dynamic::from_map(data));
    let mut event = convert_fields_except(event_fields, &["object", "raw"]);
    event.insert("object".into(), object);
    event.insert("raw".into(), Dynamic::from_map(raw));
    let mut context = convert_fields_except(context_fields, &["event"]);
    context.insert("event".into(), Dynamic::from_map(event));
    Dynamic::from_map(context)
}

fn convert_fields_except(
    fields: &serde_json::Map<String, serde_json::Value>,
    skipped: &[&str],
) -> rhai::Map {
    fields
        .iter()
        .filter(|(k, _)| !skipped.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
        .collect()
}

/// Makes `value` a shared value that expressions can read but not assign to.
/// The runner keeps a clone of the handle to update it (e.g. `steps`).
pub fn read_only_shared(value: Dynamic) -> Dynamic {
    value.into_read_only().into_shared()
}

/// Sets `key` in a map made by [`read_only_shared`], keeping it read-only to
/// expressions (writing through a typed lock would drop that mark).
pub fn insert_into_read_only(handle: &mut Dynamic, key: &str, value: Dynamic) {
    if let Some(mut inner) = handle.write_lock::<Dynamic>() {
        let mut map = std::mem::take(&mut *inner)
            .try_cast::<rhai::Map>()
            .unwrap_or_default();
        map.insert(key.into(), value);
        *inner = Dynamic::from_map(map).into_read_only();
    }
}

/// Converts a Rhai value to JSON; values JSON cannot hold are an error.
pub fn to_json(value: &Dynamic) -> Result<serde_json::Value, EvalError> {
    use serde_json::Value;
    if value.is_shared() {
        return to_json(&value.flatten_clone());
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| {
                EvalError::failed(format!(
                    "the expression gave {f}, which is not a number JSON can hold"
                ))
            });
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(text) = value.read_lock::<rhai::ImmutableString>() {
        return Ok(Value::String(text.to_string()));
    }
    if let Some(items) = value.read_lock::<rhai::Array>() {
        return items
            .iter()
            .map(to_json)
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if let Some(fields) = value.read_lock::<rhai::Map>() {
        return fields
            .iter()
            .map(|(k, v)| Ok((k.to_string(), to_json(v)?)))
            .collect::<Result<_, _>>()
            .map(Value::Object);
    }
    if let Some(bytes) = value.read_lock::<rhai::Blob>() {
        return Ok(Value::Array(
            bytes.iter().map(|b| Value::from(*b)).collect(),
        ));
    }
    Err(EvalError::failed(format!(
        "the expression gave a value that is not plain data ({})",
        friendly_type(value.type_name())
    )))
}

fn append_display(text: &mut String, value: &Dynamic) -> Result<(), EvalError> {
    if value.is_unit() {
        return Ok(());
    }
    if value.is_string() {
        text.push_str(&value.clone().into_string().unwrap_or_default());
        return Ok(());
    }
    match to_json(value)? {
        serde_json::Value::String(s) => text.push_str(&s),
        other => text.push_str(&other.to_string()),
    }
    Ok(())
}

fn friendly_type(type_name: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
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
    fn an_event_s_object_converted_once_reads_at_both_places_and_stays_read_only() {
        let object =
            json!({"id": "cs_1", "amount_total": 1250, "lines": [1, 2], "status": "complete"});
        let context = json!({
            "parameters": {},
            "event": {
                "id": "evt_1",
                "object": object,
                "raw": {"id": "evt_1", "data": {"object": object, "previous_attributes": {"a": 1}}},
            }
        });
        let evaluator = Evaluator::new(ExprLimits::default());
        let mut scope = Scope::new();
        scope.push_constant_dynamic("context", read_only_shared(context_to_dynamic(&context)));
        let eval = |source: &str, scope: &mut Scope<'static>| {
            let expr = evaluator.compile(source, &["context"]).unwrap();
            evaluator.eval_json(&expr, scope)
        };
        for (source, expected) in [
            ("context.event.object.amount_total / 100", json!(12)),
            ("context.event.raw.data.object.id", json!("cs_1")),
            ("context.event.raw.data.previous_attributes.a", json!(1)),
            ("context.event.object[\"status\"]", json!("complete")),
            ("context.event.object.keys().len()", json!(4)),
            ("\"lines\" in context.event.object", json!(true)),
            ("context.event.object.lines[1]", json!(2)),
            // A copy taken with `let` is the expression's own to change.
            ("let o = context.event.object; o.id = 5; o.id", json!(5)),
            ("context.event.object.id", json!("cs_1")),
            ("context", context.clone()),
        ] {
            assert_eq!(eval(source, &mut scope).unwrap(), expected, "{source}");
        }
        for source in [
            "context.event.object.id = 5",
            "context.event.raw.data.object.amount_total += 1",
            "context.event.object.lines.push(3)",
            "context.event.object.lines[0] = 9",
        ] {
            let error = eval(source, &mut scope).unwrap_err();
            assert!(error.message.contains("constant"), "{source}: {error:?}");
        }
        assert_eq!(
            eval("context.event.object.id", &mut scope).unwrap(),
            json!("cs_1")
        );
        // Contexts without the pair, or where the two differ, convert as any value.
        for other in [
            json!({"parameters": {"a": 1}}),
            json!({"event": {"object": {"id": 1}, "raw": {"data": {"object": {"id": 2}}}}}),
        ] {
            assert_eq!(to_json(&context_to_dynamic(&other)).unwrap(), other);
        }
    }

    #[test]
    fn json_depth_is_counted_outside_strings() {
        let nest = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(!json_too_deep(nest(MAX_JSON_DEPTH).as_bytes()));
        assert!(json_too_deep(nest(MAX_JSON_DEPTH + 1).as_bytes()));
        let quoted = format!(r#"{{"a": "{}", "b": "\\\" [[["}}"#, "[".repeat(500));
        assert!(!json_too_deep(quoted.as_bytes()), "{quoted}");
        assert!(!json_too_deep(b"{\"a\": [1, {\"b\": []}]}"));
    }

    #[test]
    fn json_goes_to_rhai_and_back_unchanged() {
        let value = json!({
            "id": "cs_1", "amount": 1250, "rate": 0.5, "paid": true, "note": null,
            "big": 18446744073709551615u64, "lines": [{"q": 2}, "x", [], {}], "empty": {}
        });
        let back = to_json(&to_dynamic(&value)).unwrap();
        // u64 beyond i64 becomes a float, as in JavaScript; the rest is exact.
        assert_eq!(back["big"], json!(18446744073709551615u64 as f64));
        let mut expected = value.clone();
        expected["big"] = back["big"].clone();
        assert_eq!(back, expected);
        let shared = read_only_shared(to_dynamic(&value));
        assert_eq!(to_json(&shared).unwrap(), expected);
    }

    #[test]
    fn values_json_cannot_hold_are_named() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let mut scope = Scope::new();
        for (source, why) in [
            ("1.0 / 0.0", "not a number JSON can hold"),
            ("|x| x + 1", "not plain data"),
        ] {
            let expr = evaluator.compile(source, &[]).unwrap();
            let e = evaluator.eval_json(&expr, &mut scope).unwrap_err();
            assert!(e.message.contains(why), "{source}: {}", e.message);
        }
        let chars = evaluator.compile("'a'", &[]).unwrap();
        assert_eq!(evaluator.eval_json(&chars, &mut scope).unwrap(), json!("a"));
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
    fn read_only_maps_refuse_assignment_after_the_runner_writes() {
        let evaluator = Evaluator::new(ExprLimits::default());
        let mut vars = read_only_shared(Dynamic::from_map(rhai::Map::new()));
        insert_into_read_only(&mut vars, "x", Dynamic::from(1_i64));
        let mut scope = Scope::new();
        scope.push_constant_dynamic("vars", vars.clone());
        // Rhai protects the values a read-only map holds (deeply) and the
        // variable itself; it does not stop a script adding a new key, which
        // then lives only in this run and cannot change anything recorded.
        for source in ["vars.x = 5", "vars.x += 1", "vars = 1"] {
            let expr = evaluator.compile(source, &["vars"]).unwrap();
            assert!(
                evaluator.eval(&expr, &mut scope).is_err(),
                "{source} was allowed"
            );
        }
        let read = evaluator.compile("vars.x + 1", &["vars"]).unwrap();
        assert_eq!(evaluator.eval_json(&read, &mut scope).unwrap(), json!(2));
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
