//! The loader's diagnostics: a table of bad projects and the exact problems
//! reported, every one of them, as `file:line:column: path: message`.

use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::load_project_files;

fn problems(files: &[(&str, &str)]) -> Vec<String> {
    let evaluator = Evaluator::new(ExprLimits::default());
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    match load_project_files(&files, &evaluator) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.0.iter().map(ToString::to_string).collect(),
    }
}

fn one(text: &str) -> Vec<String> {
    problems(&[("w.yaml", text)])
}

const TABLE: &str = "tables:\n  orders:\n    columns:\n      id: { type: text, primary_key: true }\n      amount: { type: integer, required: true }\n";

/// A project with the orders table and one API holding `steps`.
fn api(steps: &str) -> Vec<String> {
    let text = format!("{TABLE}apis:\n  a:\n    method: POST\n    path: /a\n    steps:\n{steps}");
    one(&text)
}

#[test]
fn a_good_project_has_no_problems() {
    assert_eq!(
        api("      - response: { body: ok }\n"),
        Vec::<String>::new()
    );
}

#[test]
fn yaml_syntax_errors_point_at_the_place() {
    assert_eq!(
        one("apis:\n  a:\n    method: [POST\n"),
        vec![
            "w.yaml:4:1: YAML syntax: while parsing a flow sequence, expected ',' or ']'\n    hint: check the indentation and quoting around this place"
        ]
    );
}

#[test]
fn unknown_keys_get_a_suggestion() {
    assert_eq!(
        one(
            "tabels: {}\napis:\n  a:\n    methd: POST\n    path: /a\n    steps: [{ response: { body: 1 } }]\n"
        ),
        vec![
            "w.yaml:1:1: tabels: unknown key `tabels`\n    hint: did you mean `tables`?",
            "w.yaml:4:5: apis.a: an API needs `method:`",
            "w.yaml:4:5: apis.a.methd: unknown key `methd`\n    hint: did you mean `method`?",
        ]
    );
}

#[test]
fn unknown_actions_and_inputs() {
    assert_eq!(
        api(
            "      - action: table.insrt\n        with: { table: orders }\n      - action: table.insert\n        with: { tabel: orders, values: {} }\n      - response: { body: ok }\n"
        ),
        vec![
            "w.yaml:11:17: apis.a.steps[0].action: unknown action `table.insrt`\n    hint: did you mean `table.insert`?",
            "w.yaml:14:17: apis.a.steps[1].with: `table.insert` needs the input `table`\n    hint: `table`: The table's name, as declared under `tables`.",
            "w.yaml:14:17: apis.a.steps[1].with.tabel: `table.insert` has no input `tabel`\n    hint: did you mean `table`?",
        ]
    );
}

#[test]
fn literal_inputs_of_the_wrong_type() {
    assert_eq!(
        api(
            "      - action: table.select\n        with: { table: orders, limit: many, order: 5 }\n      - response: { body: ok }\n"
        ),
        vec![
            "w.yaml:12:39: apis.a.steps[0].with.limit: `limit` must be an integer, found a string",
            "w.yaml:12:52: apis.a.steps[0].with.order: an order is `column` or `column desc`",
        ]
    );
}

#[test]
fn unknown_tables_and_columns() {
    assert_eq!(
        api(
            "      - action: table.insert\n        with: { table: order, values: { amount: 1 } }\n      - action: table.update\n        with: { table: orders, id: x, values: { amont: 2, amount: two } }\n      - action: table.select\n        with: { table: orders, where: { id: { eqq: 1 } }, order: amount sideways }\n      - response: { body: ok }\n"
        ),
        vec![
            "w.yaml:12:24: apis.a.steps[0].with.table: there is no table `order`\n    hint: did you mean `orders`?",
            "w.yaml:14:49: apis.a.steps[1].with.values.amont: the table `orders` has no column `amont`\n    hint: did you mean `amount`?",
            "w.yaml:14:67: apis.a.steps[1].with.values.amount: the value must be an integer, not a string",
            "w.yaml:16:47: apis.a.steps[2].with.where.id.eqq: unknown filter operator `eqq`\n    hint: did you mean `eq`?",
            "w.yaml:16:66: apis.a.steps[2].with.order: `amount sideways` is not an order\n    hint: write `column`, `column asc` or `column desc`",
        ]
    );
}

#[test]
fn required_columns_and_whole_table_writes() {
    assert_eq!(
        api(
            "      - action: table.insert\n        with: { table: orders, values: { id: x } }\n      - action: table.delete\n        with: { table: orders }\n      - response: { body: ok }\n"
        ),
        vec![
            "w.yaml:12:42: apis.a.steps[0].with.values: the column `amount` is required and has no default\n    hint: give `amount` a value",
            "w.yaml:14:17: apis.a.steps[1].with: `table.delete` without `id` or `where` would touch every row\n    hint: give `id` or `where`, or say `all: true` if every row is meant",
        ]
    );
}

#[test]
fn expressions_that_do_not_compile() {
    assert_eq!(
        api(
            "      - set: x\n        value: \"{{ contxt.parameters.a }}\"\n      - if: \"1 +\"\n        then: [{ response: { body: 1 } }]\n      - response: { body: \"{{ vars.x \" }\n"
        ),
        vec![
            "w.yaml:12:16: apis.a.steps[0].value: the expression `contxt.parameters.a` does not compile: Undefined variable: contxt\n    hint: at column 1 of the expression; the names in scope here are: context, steps, vars",
            "w.yaml:13:13: apis.a.steps[1].if: the expression `1 +` does not compile: Script is incomplete\n    hint: at column 4 of the expression",
            "w.yaml:15:27: apis.a.steps[2].response.body: `{{` is not closed by `}}`",
        ]
    );
}

#[test]
fn step_references_must_name_an_earlier_step() {
    assert_eq!(
        api(
            "      - id: first\n        set: x\n        value: \"{{ steps.secnd.id }}\"\n      - id: second\n        set: y\n        value: 1\n      - id: second\n        set: z\n        value: \"{{ steps.frist }}\"\n      - response: { body: ok }\n"
        ),
        vec![
            "w.yaml:13:16: apis.a.steps[0].value: `steps.secnd` refers to no step declared before this one\n    hint: no step before this one has an `id`",
            "w.yaml:17:13: apis.a.steps[2].id: the step id `second` is used twice\n    hint: step ids must be unique within an API, workflow or function",
            "w.yaml:19:16: apis.a.steps[2].value: `steps.frist` refers to no step declared before this one\n    hint: did you mean `steps.first`?",
        ]
    );
}

#[test]
fn an_api_must_answer_on_every_path() {
    assert_eq!(
        api("      - if: \"true\"\n        then: [{ response: { body: 1 } }]\n"),
        vec![
            "w.yaml:11:7: apis.a.steps: this API can finish without answering the caller\n    hint: every path must end in a `response` (or `throw`); the `if` at `steps[0]` has no `else`, and nothing answers after it"
        ]
    );
    assert_eq!(
        api(
            "      - switch: \"1\"\n        cases:\n          a: [{ response: { body: 1 } }]\n          b: [{ log: hi }]\n        default: [{ throw: no }]\n"
        ),
        vec![
            "w.yaml:11:7: apis.a.steps: this API can finish without answering the caller\n    hint: every path must end in a `response` (or `throw`); `steps[0].cases.b` ends without one: add a `response` step at its end"
        ]
    );
    assert_eq!(
        api("      - log: hi\n"),
        vec![
            "w.yaml:11:7: apis.a.steps: this API can finish without answering the caller\n    hint: every path must end in a `response` (or `throw`); `steps` ends without one: add a `response` step at its end"
        ]
    );
}

#[test]
fn duplicate_names_and_routes_across_files() {
    let a =
        "apis:\n  a:\n    method: GET\n    path: /x/:id\n    steps: [{ response: { body: 1 } }]\n";
    let b = "apis:\n  a:\n    method: GET\n    path: /y\n    steps: [{ response: { body: 1 } }]\n  b:\n    method: GET\n    path: /x/:other\n    steps: [{ response: { body: 1 } }]\n  c:\n    method: POST\n    path: /_stripe/v1\n    steps: [{ response: { body: 1 } }]\n";
    assert_eq!(
        problems(&[("a.yaml", a), ("b.yaml", b)]),
        vec![
            "b.yaml:3:5: apis.a: the api `a` is declared twice\n    hint: it is first declared at a.yaml:3:5",
            "b.yaml:7:5: apis.b.path: this route clashes with another API\n    hint: /x/:other overlaps /x/:id, which another API already takes",
            "b.yaml:12:11: apis.c.path: paths under `/_stripe` are served by paywire itself\n    hint: choose another path",
        ]
    );
}

#[test]
fn bad_steps_params_and_columns() {
    let text = "tables:\n  t:\n    columns:\n      id: { type: txt, primary_key: true }\n      n: { type: integer, default: lots }\nfunctions:\n  f:\n    params:\n      p: { type: strin }\n      q: { type: string, min: 3 }\n    steps:\n      - response: { body: 1 }\n      - retrun: 1\n      - { if: \"true\", switch: \"1\" }\n      - call: g\n      - wait: soon\n";
    assert_eq!(
        one(text),
        vec![
            "w.yaml:4:19: tables.t.columns.id.type: unknown column type `txt`\n    hint: did you mean `text`?",
            "w.yaml:5:36: tables.t.columns.n.default: the default must be an integer, not a string",
            "w.yaml:9:18: functions.f.params.p.type: unknown parameter type `strin`\n    hint: did you mean `string`?",
            "w.yaml:10:12: functions.f.params.q: `min` and `max` bound numbers, but this parameter is a string\n    hint: use `min_length` and `max_length` for strings and arrays",
            "w.yaml:12:9: functions.f.steps[0].response: a `response` answers an HTTP caller, and only APIs have one\n    hint: end a function with `return`; a workflow has no caller to answer",
            "w.yaml:13:9: functions.f.steps[1]: this step does nothing: it has no action and no control keyword\n    hint: did you mean `return` instead of `retrun`?",
            "w.yaml:14:11: functions.f.steps[2]: a step does one thing, but this one has both `if` and `switch`\n    hint: split it into two steps",
            "w.yaml:15:15: functions.f.steps[3].call: there is no function `g`\n    hint: declare it under `functions:`",
            "w.yaml:16:15: functions.f.steps[4].wait: `soon` is not a duration\n    hint: write milliseconds (`500`) or a duration (`250ms`, `2s`, `1m`)",
        ]
    );
}

#[test]
fn calls_are_checked_against_the_parameters() {
    let text = "functions:\n  f:\n    params:\n      n: { type: integer, required: true }\n    steps: [{ return: 1 }]\nworkflows:\n  w:\n    steps:\n      - call: f\n        with: { m: 1 }\n      - start: w2\n";
    assert_eq!(
        one(text),
        vec![
            "w.yaml:9:15: workflows.w.steps[0].call: the function `f` needs the parameter `n`\n    hint: pass it under `with:` as `n: ...`",
            "w.yaml:10:17: workflows.w.steps[0].with.m: the function `f` has no parameter `m`\n    hint: its parameters are: n",
            "w.yaml:11:16: workflows.w.steps[1].start: there is no workflow `w2`\n    hint: declare it under `workflows:`",
        ]
    );
}

#[test]
fn a_broken_step_does_not_hide_its_id_from_later_steps() {
    assert_eq!(
        api(
            "      - id: saved\n        action: table.insrt\n      - response: { body: \"{{ steps.saved }}\" }\n"
        ),
        vec![
            "w.yaml:12:17: apis.a.steps[0].action: unknown action `table.insrt`\n    hint: did you mean `table.insert`?"
        ]
    );
}

#[test]
fn waits_and_parameter_declarations_are_checked() {
    let text = "apis:\n  a:\n    method: GET\n    path: /a\n    params:\n      n: { type: integer, min: 5, default: 1 }\n      c: { type: string, one_of: [usd, 3] }\n      m: { type: integer, max_length: 2 }\n    steps:\n      - wait: 11m\n      - response: { body: 1 }\n";
    assert_eq!(
        one(text),
        vec![
            "w.yaml:6:12: apis.a.params.n.default: the default must be at least 5",
            "w.yaml:7:12: apis.a.params.c.one_of: `3` in `one_of` is not a string",
            "w.yaml:8:12: apis.a.params.m: `min_length` and `max_length` bound strings and arrays, but this parameter is an integer\n    hint: use `min` and `max` for numbers",
            "w.yaml:10:15: apis.a.steps[0].wait: a wait is at most 10 minutes\n    hint: a workflow that must wait longer should be started again later instead",
        ]
    );
}

#[test]
fn nothing_panics_on_odd_input() {
    for text in [
        "",
        "---",
        "[]",
        "42",
        "apis: 5",
        "apis: { a: [] }",
        "apis: { a: { steps: 5 } }",
        "tables: { t: { columns: [] } }",
        "apis:\n  a:\n    method: GET\n    path: /a\n    steps: [5, null, [], { if: 5, then: 5 }]\n",
        "apis: { \"bad name\": {} }",
        "functions: { f: { steps: [{ for_each: x, steps: [] }] } }",
        "workflows: { w: { trigger: cron, steps: [] } }",
        "a: &x [*x]",
        "{{{",
        "\t- x",
        "key: \"\\uZZZZ\"",
        "apis: { a: { method: GET, path: \"/a/:\", steps: [{ response: {} }] } }",
        "apis: { a: { method: GET, path: /a, steps: [{ response: { status: 99 } }] } }",
    ] {
        let _ = one(text);
    }
}

#[test]
fn stripe_triggers_are_checked() {
    let text = r#"workflows:
  a:
    trigger: stripe.checkout_sesion
    steps: [{ log: a }]
  b:
    trigger: { event: stripe.checkout_session, actions: [complete] }
    steps: [{ log: b }]
  c:
    trigger: { event: stripe.invoice, actions: [paid], types: [invoice.paid] }
    steps: [{ log: c }]
  d:
    trigger: { event: stripe.customer, types: [invoice.paid] }
    steps: [{ log: d }]
  f:
    trigger: { event: stripe.customer, types: [customer.created] }
    params: { x: { type: string } }
    steps: [{ log: f }]
  e:
    trigger: { event: stripe.subscription }
    steps: [{ log: e }]
apis:
  go:
    method: POST
    path: /go
    steps:
      - start: e
      - response: { body: ok }
"#;
    assert_eq!(
        one(text),
        vec![
            "w.yaml:3:14: workflows.a.trigger: unknown trigger `stripe.checkout_sesion`\n    hint: did you mean `stripe.checkout_session`?",
            "w.yaml:6:58: workflows.b.trigger.actions: `stripe.checkout_session` has no action `complete`\n    hint: did you mean `completed`?",
            "w.yaml:9:16: workflows.c.trigger: a trigger takes `actions` or `types`, not both",
            "w.yaml:12:48: workflows.d.trigger.types: `invoice.paid` is not an event type of `stripe.customer`\n    hint: event types read `checkout.session.completed`",
            "w.yaml:16:15: workflows.f.params: a workflow started by Stripe events takes no parameters\n    hint: the event is `context.event` (id, type, action, status, object, ...)",
            "w.yaml:26:16: apis.go.steps[0].start: workflow `e` is started by Stripe's events, not by `start`\n    hint: move the shared steps into a function and `call` it from both",
        ]
    );
}
