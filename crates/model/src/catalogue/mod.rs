//! The catalogue of actions a step can run, as data.
//!
//! The loader checks every action step against its entry (unknown or missing
//! inputs, literals of the wrong type); the runner hands the rendered input to
//! the executor of the entry's family; documentation is generated from it
//! ([`reference`] renders docs/stripe-actions.md). The table actions are here,
//! with the words they take (filter operators, `on_conflict`, sort
//! directions) typed in `table_inputs`; the Stripe actions are in [`stripe`].

pub mod reference;
pub mod stripe;
mod table_inputs;

pub use table_inputs::{Direction, FilterOp, OnConflict, OrderError, UnknownWord, parse_order};

#[derive(Debug)]
pub struct ActionSpec {
    pub name: &'static str,
    pub family: Family,
    pub summary: &'static str,
    pub inputs: &'static [InputSpec],
    /// Inputs of which the step must give at least one (e.g. a refund's
    /// `payment_intent` or `charge`).
    pub requires_one_of: &'static [&'static str],
    /// What `steps.<id>` holds after the step.
    pub result: &'static str,
    /// For a Stripe action: the API call it makes.
    pub endpoint: Option<Endpoint>,
    /// A short step that uses the action, as a builder would write it: YAML
    /// starting `- id:`, with `action:` and `with:`. The reference shows it,
    /// and a test loads every example in a project.
    pub example: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Table,
    Stripe,
}

/// A Stripe API call: `path` is relative to `/v1`, and its `{name}` segments
/// are filled from the input of that name, which is then not sent as a
/// parameter. `fixed` parameters are always sent (a price is deactivated by
/// `active=false`).
#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub fixed: &'static [(&'static str, &'static str)],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct InputSpec {
    pub name: &'static str,
    pub kind: InputKind,
    pub required: bool,
    pub summary: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    String,
    Integer,
    Boolean,
    Map,
    List,
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// An amount of money in the currency's smallest unit (cents): a whole
    /// number, zero or more.
    Amount,
    /// A Unix timestamp in seconds, or the word `now`.
    Timestamp,
    Any,
}

impl InputKind {
    pub fn describe(self) -> String {
        match self {
            InputKind::String => "a string".into(),
            InputKind::Integer => "an integer".into(),
            InputKind::Boolean => "true or false".into(),
            InputKind::Map => "a mapping".into(),
            InputKind::List => "a list".into(),
            InputKind::Choice(words) => format!("one of {}", words.join(", ")),
            InputKind::Amount => {
                "an amount in the currency's smallest unit (a whole number such as 1999 for 19.99)"
                    .into()
            }
            InputKind::Timestamp => "a Unix timestamp in seconds, or `now`".into(),
            InputKind::Any => "any value".into(),
        }
    }

    /// Whether a literal JSON value fits; expressions are checked when they run.
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        match self {
            InputKind::String => value.is_string(),
            InputKind::Integer => value.is_i64() || value.is_u64(),
            InputKind::Boolean => value.is_boolean(),
            InputKind::Map => value.is_object(),
            InputKind::List => value.is_array(),
            InputKind::Choice(words) => value.as_str().is_some_and(|s| words.contains(&s)),
            // An empty amount is no amount (a refund of all that is left).
            InputKind::Amount => value == "" || amount_problem(value).is_none(),
            InputKind::Timestamp => value.is_i64() || value == "now",
            InputKind::Any => true,
        }
    }
}

/// Why `value` is not an amount in the smallest currency unit, if it is not.
/// A float with no fraction (`2000.0`, what arithmetic often yields) passes.
/// How many keys deep a Stripe parameter may nest, its own name included:
/// `metadata[a][b][c][d][e]` is six. Stripe's form encoding (serde_qs inside
/// async-stripe) refuses anything deeper, and no Stripe parameter goes
/// further than that.
pub const MAX_FORM_DEPTH: usize = 6;

/// The first place in `value`, the parameter `name`, that nests deeper than
/// [`MAX_FORM_DEPTH`], in Stripe's bracket notation.
pub fn too_deep_for_a_form(name: &str, value: &serde_json::Value) -> Option<String> {
    fn walk(path: String, value: &serde_json::Value, depth: usize) -> Option<String> {
        let children: Box<dyn Iterator<Item = (String, &serde_json::Value)>> = match value {
            serde_json::Value::Object(map) => {
                Box::new(map.iter().map(|(k, v)| (format!("{path}[{k}]"), v)))
            }
            serde_json::Value::Array(items) => Box::new(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{path}[{i}]"), v)),
            ),
            _ => return None,
        };
        for (child_path, child) in children {
            if depth >= MAX_FORM_DEPTH {
                return Some(child_path);
            }
            if let Some(found) = walk(child_path, child, depth + 1) {
                return Some(found);
            }
        }
        None
    }
    walk(name.to_string(), value, 1)
}

pub fn amount_problem(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Number(n) if n.is_u64() && n.as_i64().is_some() => None,
        serde_json::Value::Number(n) if n.is_u64() => Some(format!(
            "an amount must fit in 64 bits (at most 9223372036854775807), found {n}"
        )),
        serde_json::Value::Number(n) if n.is_i64() => {
            Some(format!("an amount cannot be negative, found {n}"))
        }
        serde_json::Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() != 0.0 || !f.is_finite() {
                Some(format!(
                    "an amount is a whole number of the currency's smallest unit (1999 for 19.99), found {n}; `to_minor_units(x, currency)` converts"
                ))
            } else if f < 0.0 {
                Some(format!("an amount cannot be negative, found {n}"))
            } else if f >= 9_223_372_036_854_775_808.0 {
                Some(format!(
                    "an amount must fit in 64 bits (at most 9223372036854775807), found {n}"
                ))
            } else {
                None
            }
        }
        other => Some(format!(
            "an amount is a whole number, found {}",
            json_kind(other)
        )),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// Keys whose values are amounts wherever they appear in a Stripe action's
/// input (`line_items[].price_data.unit_amount`, a refund's `amount`...).
pub const AMOUNT_KEYS: &[&str] = &[
    "amount",
    "unit_amount",
    "amount_to_capture",
    "application_fee_amount",
    "flat_amount",
];

pub(crate) const fn input(
    name: &'static str,
    kind: InputKind,
    required: bool,
    summary: &'static str,
) -> InputSpec {
    InputSpec {
        name,
        kind,
        required,
        summary,
    }
}

const TABLE: InputSpec = input(
    "table",
    InputKind::String,
    true,
    "The table's name, as declared under `tables`.",
);
const ID: InputSpec = input("id", InputKind::Any, false, "The primary key of one row.");
const WHERE: InputSpec = input(
    "where",
    InputKind::Map,
    false,
    "Filters by column: `{status: paid}` or `{amount: {gte: 100}}` with eq, ne, gt, gte, lt, lte, like, in, not_in.",
);
const ALL: InputSpec = input(
    "all",
    InputKind::Boolean,
    false,
    "Set to true to act on every row when there is no id or where.",
);

/// The words of `on_conflict` and of the filter operators, taken from their
/// types so that the catalogue lists exactly what the engine understands.
pub const ON_CONFLICT: &[&str] = OnConflict::NAMES;
pub const FILTER_OPERATORS: &[&str] = FilterOp::NAMES;

static TABLE_ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "table.select",
        family: Family::Table,
        summary: "Reads one row by id, or the rows that match filters.",
        inputs: &[
            TABLE,
            ID,
            WHERE,
            input(
                "order",
                InputKind::Any,
                false,
                "`column` or `column desc`, or a list of them.",
            ),
            input(
                "limit",
                InputKind::Integer,
                false,
                "At most this many rows (default 100, at most 1000).",
            ),
            input(
                "offset",
                InputKind::Integer,
                false,
                "Skip this many rows first.",
            ),
        ],
        result: "With `id`: the row, or null when there is none. Otherwise: a list of rows.",
        requires_one_of: &[],
        endpoint: None,
        example: r#"- id: recent
  action: table.select
  with:
    table: orders
    where: { email: "{{ context.parameters.email }}", status: { in: [paid, refunded] } }
    order: created_at desc
    limit: 20"#,
    },
    ActionSpec {
        name: "table.insert",
        family: Family::Table,
        summary: "Inserts a row.",
        inputs: &[
            TABLE,
            input(
                "values",
                InputKind::Map,
                true,
                "Column values; columns left out take their default.",
            ),
            input(
                "on_conflict",
                InputKind::Choice(ON_CONFLICT),
                false,
                "When the primary key exists: `error` (default), `nothing` (keep the row), `update` (overwrite the given columns).",
            ),
        ],
        result: "The row as stored.",
        requires_one_of: &[],
        endpoint: None,
        example: r#"- id: order
  action: table.insert
  with:
    table: orders
    values:
      id: "{{ `ord_${uuid()}` }}"
      amount: "{{ context.parameters.amount }}"
      email: "{{ context.parameters.email }}""#,
    },
    ActionSpec {
        name: "table.update",
        family: Family::Table,
        summary: "Updates the row with an id, or the rows that match filters.",
        inputs: &[
            TABLE,
            ID,
            WHERE,
            ALL,
            input("values", InputKind::Map, true, "The columns to change."),
        ],
        result: "With `id`: the updated row, or null when there is none. Otherwise: the list of updated rows.",
        requires_one_of: &[],
        endpoint: None,
        example: r#"- id: paid
  action: table.update
  with:
    table: orders
    id: "{{ context.parameters.order_id }}"
    values: { status: paid, paid_at: "{{ now() }}" }"#,
    },
    ActionSpec {
        name: "table.delete",
        family: Family::Table,
        summary: "Deletes the row with an id, or the rows that match filters.",
        inputs: &[TABLE, ID, WHERE, ALL],
        result: "`{deleted: N}`, the number of rows deleted.",
        requires_one_of: &[],
        endpoint: None,
        example: r#"- id: purged
  action: table.delete
  with:
    table: orders
    where: { status: pending, created_at: { lt: "{{ from_unix(unix_now() - 86400) }}" } }"#,
    },
];

/// Every action, table actions first.
pub fn all() -> impl Iterator<Item = &'static ActionSpec> {
    TABLE_ACTIONS.iter().chain(stripe::ACTIONS.iter())
}

pub fn find(name: &str) -> Option<&'static ActionSpec> {
    all().find(|a| a.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    all().map(|a| a.name)
}

impl ActionSpec {
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.name == name)
    }

    /// Whether the action changes something (a row, a Stripe object), as
    /// opposed to reading; a retried run does not do such an action twice.
    pub fn has_effect(&self) -> bool {
        match (self.family, self.endpoint) {
            (Family::Table, _) => self.name != "table.select",
            (Family::Stripe, Some(endpoint)) => endpoint.method != Method::Get,
            (Family::Stripe, None) => true,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::load_project_files;
    use paywire_expr::{Evaluator, ExprLimits};

    /// The table the table examples use.
    const ORDERS: &str = "tables:
  orders:
    columns:
      id: { type: text, primary_key: true }
      status: { type: text, default: pending }
      amount: { type: integer, required: true }
      email: text
      paid_at: timestamp
      created_at: timestamp
";

    /// A project whose one API runs `step` (YAML at column 0), after a stub
    /// step for each `steps.<id>` it reads (the steps that would come before
    /// it in a real workflow), and then answers.
    pub(crate) fn project_around(step: &str) -> String {
        let mut read: Vec<&str> = Vec::new();
        for (at, _) in step.match_indices("steps.") {
            let rest = &step[at + "steps.".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let id = &rest[..end];
            if !id.is_empty() && !read.contains(&id) {
                read.push(id);
            }
        }
        let mut text = format!(
            "{ORDERS}apis:\n  example:\n    method: POST\n    path: /example\n    steps:\n"
        );
        for id in read {
            text.push_str(&format!(
                "      - id: {id}\n        log: stands for an earlier step\n"
            ));
        }
        for line in step.lines() {
            text.push_str(&format!("      {line}\n"));
        }
        text.push_str("      - response: { body: {} }\n");
        text
    }

    /// The problems the loader finds in `project`, as text.
    pub(crate) fn problems(project: &str) -> Vec<String> {
        let evaluator = Evaluator::new(ExprLimits::default());
        match load_project_files(&[("example.yaml".into(), project.into())], &evaluator) {
            Ok(_) => Vec::new(),
            Err(diagnostics) => diagnostics.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn every_action_has_a_short_example_step() {
        for action in all() {
            let lines: Vec<&str> = action.example.lines().collect();
            assert!(
                (2..=8).contains(&lines.len()),
                "{}: {} lines",
                action.name,
                lines.len()
            );
            assert!(lines[0].starts_with("- id: "), "{}", action.name);
            assert_eq!(lines[1], format!("  action: {}", action.name));
            assert!(
                lines[2..].first().is_some_and(|l| l.starts_with("  with:")),
                "{}: `with:` follows `action:`",
                action.name
            );
            assert!(
                !action.example.contains('\t') && action.example.trim() == action.example,
                "{}",
                action.name
            );
        }
    }

    #[test]
    fn every_example_loads() {
        for action in all() {
            let project = project_around(action.example);
            assert_eq!(
                problems(&project),
                Vec::<String>::new(),
                "the example of {} does not load:\n{project}",
                action.name
            );
        }
    }

    #[test]
    fn the_table_inputs_list_the_words_their_types_parse() {
        let insert = find("table.insert").and_then(|a| a.input("on_conflict"));
        assert!(
            matches!(insert.map(|i| i.kind), Some(InputKind::Choice(words)) if words == OnConflict::NAMES)
        );
        // The summary of `where` spells the operators out for builders.
        assert!(
            WHERE.summary.contains(&FilterOp::NAMES.join(", ")),
            "{}",
            WHERE.summary
        );
    }

    #[test]
    fn table_words_are_checked_at_load_with_a_hint() {
        let problems = problems(&project_around(
            "- id: row\n  action: table.insert\n  with: { table: orders, values: { amount: 1 }, on_conflict: updte }\n- id: rows\n  action: table.select\n  with: { table: orders, where: { amount: { gtee: 1 } }, order: [amount desk, \"\"] }",
        ));
        let expected = [
            "`on_conflict` must be one of error, nothing, update, found a string\n    hint: did you mean `update`?",
            "unknown filter operator `gtee`\n    hint: did you mean `gte`?",
            "`amount desk` is not an order\n    hint: did you mean `desc`?",
            "an order names a column\n    hint: write `column`, `column asc` or `column desc`",
        ];
        assert_eq!(problems.len(), expected.len(), "{problems:?}");
        for (problem, expected) in problems.iter().zip(expected) {
            assert!(problem.ends_with(expected), "{problem}");
        }
    }

    #[test]
    fn a_broken_example_would_not_load() {
        let project = project_around(
            "- id: customer\n  action: stripe.create_customer\n  with: { emial: \"{{ steps.user.email }}\" }",
        );
        let problems = problems(&project);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("has no input `emial`"), "{problems:?}");
    }
}
