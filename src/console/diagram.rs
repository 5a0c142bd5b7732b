//! An API, workflow or function as a diagram: its head (route or trigger)
//! and its steps as a tree of nodes, branches as lanes side by side.
//!
//! Built from the loaded model only. Each node's `key` is the step's key,
//! the same one the runner writes in step records (`steps[1].then[0]`), so
//! a run is drawn on the diagram by matching its step keys with their loop
//! suffixes (`#N`) removed. Details show the YAML as written (expressions in
//! `{{ }}`), never a value from a run, so no secret reaches a diagram.

use serde::Serialize;

use paywire_expr::{Part, Template};
use paywire_model::{Api, Function, Param, Project, Step, StepKind, Trigger, Workflow};

/// The longest detail shown on a node; longer text is cut with `…`.
const DETAIL_CHARS: usize = 160;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagram {
    /// `api`, `workflow` or `function`.
    pub kind: &'static str,
    pub name: String,
    /// What starts it: `POST /cart/price`, `trigger: stripe.checkout_session (completed)`.
    pub head: String,
    pub params: Vec<String>,
    /// `file:line:column` of its declaration.
    pub origin: String,
    pub steps: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Node {
    /// The step's key, as in run records (without loop suffixes).
    pub key: String,
    /// The action's name or the control keyword (`if`, `switch`, …).
    pub kind: &'static str,
    /// The step's `id`, if it has one.
    pub id: Option<String>,
    /// One line: the kind and what it acts on.
    pub label: String,
    /// The step's key inputs, as written.
    pub detail: Vec<String>,
    /// The `when:` condition, if any.
    pub when: Option<String>,
    /// For `call` and `start`: the function or workflow it runs.
    pub target: Option<Target>,
    /// Branches and bodies: `then`/`else`, one per case and `default`,
    /// `try`/`catch`, a loop's body.
    pub lanes: Vec<Lane>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    pub kind: &'static str,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lane {
    pub label: String,
    pub steps: Vec<Node>,
}

/// The diagram of `kind` (`api`, `workflow`, `function`) named `name`, if
/// the project has it.
pub fn diagram(project: &Project, kind: &str, name: &str) -> Option<Diagram> {
    match kind {
        "api" => project.api(name).map(|a| api_diagram(a)),
        "workflow" => project.workflows.get(name).map(|w| workflow_diagram(w)),
        "function" => project.functions.get(name).map(|f| function_diagram(f)),
        _ => None,
    }
}

pub fn api_diagram(api: &Api) -> Diagram {
    Diagram {
        kind: "api",
        name: api.name.clone(),
        head: format!("{} {}", api.method.as_str(), api.path),
        params: param_names(&api.params),
        origin: api.origin.to_string(),
        steps: nodes(&api.steps),
    }
}

pub fn workflow_diagram(workflow: &Workflow) -> Diagram {
    Diagram {
        kind: "workflow",
        name: workflow.name.clone(),
        head: format!("trigger: {}", trigger_text(&workflow.trigger)),
        params: param_names(&workflow.params),
        origin: workflow.origin.to_string(),
        steps: nodes(&workflow.steps),
    }
}

pub fn function_diagram(function: &Function) -> Diagram {
    Diagram {
        kind: "function",
        name: function.name.clone(),
        head: format!("function({})", param_names(&function.params).join(", ")),
        params: param_names(&function.params),
        origin: function.origin.to_string(),
        steps: nodes(&function.steps),
    }
}

/// A trigger as builders write it: `manual`, `startup`,
/// `stripe.checkout_session (completed, expired)`.
pub fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Manual => "manual".into(),
        Trigger::Startup => "startup".into(),
        Trigger::Stripe(t) => {
            let only: Vec<&str> = t
                .actions
                .iter()
                .chain(&t.types)
                .map(String::as_str)
                .collect();
            if only.is_empty() {
                t.on.name.to_string()
            } else {
                format!("{} ({})", t.on.name, only.join(", "))
            }
        }
    }
}

fn param_names(params: &[Param]) -> Vec<String> {
    params.iter().map(|p| p.name.clone()).collect()
}

fn nodes(steps: &[Step]) -> Vec<Node> {
    steps.iter().map(node).collect()
}

fn lane(label: impl Into<String>, steps: &[Step]) -> Lane {
    Lane {
        label: label.into(),
        steps: nodes(steps),
    }
}

fn node(step: &Step) -> Node {
    let kind = step.kind.label();
    let mut target = None;
    let mut lanes = Vec::new();
    let (label, detail): (String, Vec<String>) = match &step.kind {
        StepKind::Action { action, input } => (action.name.to_string(), fields(input)),
        StepKind::If {
            condition,
            then,
            otherwise,
        } => {
            lanes.push(lane("then", then));
            lanes.push(lane("else", otherwise));
            (format!("if {}", cut(condition.source())), Vec::new())
        }
        StepKind::Switch { on, cases, default } => {
            for case in cases {
                lanes.push(lane(format!("case {}", case.value), &case.steps));
            }
            lanes.push(lane("default", default.as_deref().unwrap_or(&[])));
            (format!("switch {}", cut(on.source())), Vec::new())
        }
        StepKind::ForEach {
            items,
            item_name,
            index_name,
            steps,
        } => {
            lanes.push(lane(format!("each {item_name}"), steps));
            (
                format!("for_each {}", cut(items.source())),
                vec![format!("as: {item_name}, index_as: {index_name}")],
            )
        }
        StepKind::While {
            condition,
            max_iterations,
            steps,
        } => {
            lanes.push(lane("repeat", steps));
            (
                format!("while {}", cut(condition.source())),
                vec![format!("max_iterations: {max_iterations}")],
            )
        }
        StepKind::Try { steps, catch, .. } => {
            lanes.push(lane("try", steps));
            lanes.push(lane("catch", catch));
            ("try".into(), Vec::new())
        }
        StepKind::Throw {
            message,
            name,
            status,
            ..
        } => {
            let mut detail = vec![
                format!("name: {}", text(name)),
                format!("message: {}", text(message)),
            ];
            if let Some(status) = status {
                detail.push(format!("status: {status}"));
            }
            ("throw".into(), detail)
        }
        StepKind::Response {
            status,
            headers,
            body,
            keep_running,
        } => {
            let mut detail = vec![format!("status: {}", text(status))];
            if !matches!(headers, Template::Object(f) if f.is_empty())
                && !matches!(headers.literal(), Some(v) if v.is_null() || v.as_object().is_some_and(|o| o.is_empty()))
            {
                detail.push(format!("headers: {}", text(headers)));
            }
            detail.push(format!("body: {}", text(body)));
            if *keep_running {
                detail.push("keep_running: true".into());
            }
            ("response".into(), detail)
        }
        StepKind::Return { value } => ("return".into(), vec![text(value)]),
        StepKind::Set { var, value } => (format!("set {var}"), vec![text(value)]),
        StepKind::Log { level, message } => (
            format!("log {}", format!("{level:?}").to_lowercase()),
            vec![text(message)],
        ),
        StepKind::Wait { milliseconds } => (format!("wait {} ms", text(milliseconds)), Vec::new()),
        StepKind::Call { function, input } => {
            target = Some(Target {
                kind: "function",
                name: function.clone(),
            });
            (format!("call {function}"), fields(input))
        }
        StepKind::Start { workflow, input } => {
            target = Some(Target {
                kind: "workflow",
                name: workflow.clone(),
            });
            (format!("start {workflow}"), fields(input))
        }
    };
    Node {
        key: step.key.clone(),
        kind,
        id: step.id.clone(),
        label,
        detail,
        when: step.when.as_ref().map(|e| cut(e.source())),
        target,
        lanes,
    }
}

/// An input mapping as one line per field, or the whole input when it is
/// not a mapping.
fn fields(input: &Template) -> Vec<String> {
    match input {
        Template::Object(fields) => fields
            .iter()
            .map(|(k, v)| cut(&format!("{k}: {}", full_text(v))))
            .collect(),
        Template::Literal(serde_json::Value::Object(map)) => {
            map.iter().map(|(k, v)| cut(&format!("{k}: {v}"))).collect()
        }
        Template::Literal(serde_json::Value::Null) => Vec::new(),
        other => vec![text(other)],
    }
}

fn text(template: &Template) -> String {
    cut(&full_text(template))
}

/// A template as written: literals as JSON, expressions in `{{ }}`.
fn full_text(template: &Template) -> String {
    match template {
        Template::Literal(serde_json::Value::String(s)) => s.clone(),
        Template::Literal(v) => v.to_string(),
        Template::Expr(e) => format!("{{{{ {} }}}}", e.source()),
        Template::Interpolate(parts) => parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Expr(e) => format!("{{{{ {} }}}}", e.source()),
            })
            .collect(),
        Template::Object(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}: {}", full_text(v)))
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        Template::Array(items) => {
            let inner: Vec<String> = items.iter().map(full_text).collect();
            format!("[{}]", inner.join(", "))
        }
    }
}

fn cut(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= DETAIL_CHARS {
        return text;
    }
    let mut out: String = text.chars().take(DETAIL_CHARS - 1).collect();
    out.push('…');
    out
}

/// A run step's key as a diagram key: the loop iterations (`#N`) removed.
/// Steps of called functions (`price-line/steps[0]`) keep their prefix and
/// so match no node of the caller's diagram.
pub fn diagram_key(run_key: &str) -> String {
    split_key(run_key).0.to_string()
}

/// A run step's key split into its node's key and the iteration of each
/// loop around it, outermost first: `steps[3].steps[0]#2` is node
/// `steps[3].steps[0]` in iteration 2 of its loop. Suffixes are read from
/// the end, where the runner writes them, so a `#` inside the key itself (a
/// switch case named `"a#1"`) stays part of the node's key.
pub fn split_key(run_key: &str) -> (&str, Vec<u64>) {
    let mut node = run_key;
    let mut iterations = Vec::new();
    while let Some((rest, last)) = node.rsplit_once('#') {
        match last.parse::<u64>() {
            Ok(i) if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) => {
                iterations.push(i);
                node = rest;
            }
            _ => break,
        }
    }
    iterations.reverse();
    (node, iterations)
}

/// Every node's key, depth first, in the order of the YAML.
pub fn keys(nodes: &[Node]) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(nodes: &[Node], out: &mut Vec<String>) {
        for n in nodes {
            out.push(n.key.clone());
            for lane in &n.lanes {
                walk(&lane.steps, out);
            }
        }
    }
    walk(nodes, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use paywire_expr::{Evaluator, ExprLimits};
    use paywire_model::load_project_files;

    fn project(yaml: &str) -> Project {
        let evaluator = Evaluator::new(ExprLimits::default());
        load_project_files(&[("p.yaml".into(), yaml.into())], &evaluator)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    const FLOW: &str = r#"
functions:
  double:
    params: { n: { type: integer } }
    steps:
      - return: "{{ context.parameters.n * 2 }}"
workflows:
  paid:
    trigger: { event: stripe.checkout_session, actions: [completed] }
    steps:
      - log: "paid {{ context.event.id }}"
apis:
  flow:
    method: POST
    path: /flow
    steps:
      - set: n
        value: 0
      - if: "vars.n == 0"
        then:
          - id: twice
            call: double
            with: { n: 3 }
        else:
          - log: "not zero"
      - switch: context.parameters.kind
        cases:
          a: [{ set: x, value: 1 }]
          b: [{ set: x, value: 2 }]
      - try:
          - for_each: "[1, 2]"
            steps:
              - set: n
                value: "{{ vars.n + item }}"
        catch:
          - throw: { message: "{{ error.message }}" }
      - while: "vars.n < 10"
        max_iterations: 20
        steps:
          - set: n
            value: "{{ vars.n + 1 }}"
      - response:
          status: 201
          body: { n: "{{ vars.n }}" }
"#;

    #[test]
    fn keys_are_the_runner_keys() {
        let p = project(FLOW);
        let d = diagram(&p, "api", "flow").unwrap();
        assert_eq!(d.head, "POST /flow");
        assert_eq!(
            keys(&d.steps),
            [
                "steps[0]",
                "steps[1]",
                "steps[1].then[0]",
                "steps[1].else[0]",
                "steps[2]",
                "steps[2].cases.a[0]",
                "steps[2].cases.b[0]",
                "steps[3]",
                "steps[3].try[0]",
                "steps[3].try[0].steps[0]",
                "steps[3].catch[0]",
                "steps[4]",
                "steps[4].steps[0]",
                "steps[5]",
            ]
        );
    }

    #[test]
    fn branches_are_lanes() {
        let p = project(FLOW);
        let d = diagram(&p, "api", "flow").unwrap();
        let lanes = |i: usize| -> Vec<String> {
            d.steps[i].lanes.iter().map(|l| l.label.clone()).collect()
        };
        assert_eq!(lanes(1), ["then", "else"]);
        assert_eq!(lanes(2), ["case a", "case b", "default"]);
        assert!(d.steps[2].lanes[2].steps.is_empty());
        assert_eq!(lanes(3), ["try", "catch"]);
        assert_eq!(lanes(4), ["repeat"]);
        assert_eq!(d.steps[3].lanes[0].steps[0].lanes[0].label, "each item");
        let call = &d.steps[1].lanes[0].steps[0];
        assert_eq!(call.label, "call double");
        assert_eq!(call.id.as_deref(), Some("twice"));
        assert_eq!(call.detail, ["n: 3"]);
        assert_eq!(
            call.target,
            Some(Target {
                kind: "function",
                name: "double".into()
            })
        );
        let response = &d.steps[5];
        assert_eq!(
            response.detail,
            ["status: 201", "body: { n: {{ vars.n }} }"]
        );
        assert_eq!(d.steps[0].label, "set n");
    }

    #[test]
    fn heads_name_routes_and_triggers() {
        let p = project(FLOW);
        let w = diagram(&p, "workflow", "paid").unwrap();
        assert_eq!(w.head, "trigger: stripe.checkout_session (completed)");
        assert_eq!(w.steps[0].detail, ["paid {{ context.event.id }}"]);
        let f = diagram(&p, "function", "double").unwrap();
        assert_eq!(f.head, "function(n)");
        assert!(diagram(&p, "api", "nope").is_none());
        assert!(diagram(&p, "table", "flow").is_none());
    }

    #[test]
    fn run_keys_lose_their_iterations() {
        assert_eq!(
            diagram_key("steps[3].try[0].steps[0]#1"),
            "steps[3].try[0].steps[0]"
        );
        assert_eq!(diagram_key("steps[1]#0#2"), "steps[1]");
        assert_eq!(diagram_key("steps[0]"), "steps[0]");
    }

    #[test]
    fn run_keys_give_their_iterations_outermost_first() {
        assert_eq!(split_key("steps[1]#0#2"), ("steps[1]", vec![0, 2]));
        assert_eq!(split_key("f/steps[0]#3"), ("f/steps[0]", vec![3]));
        assert_eq!(split_key("steps[0]"), ("steps[0]", vec![]));
        assert_eq!(
            split_key(r#"steps[2].cases["a#1"][0]#4"#),
            (r#"steps[2].cases["a#1"][0]"#, vec![4])
        );
        assert_eq!(split_key("steps[0]#"), ("steps[0]#", vec![]));
        assert_eq!(split_key("steps[0]#+1"), ("steps[0]#+1", vec![]));
        assert_eq!(
            split_key("steps[0]#99999999999999999999999"),
            ("steps[0]#99999999999999999999999", vec![])
        );
    }

    #[test]
    fn long_details_are_cut() {
        let long = "x".repeat(400);
        assert_eq!(cut(&long).chars().count(), DETAIL_CHARS);
        assert!(cut(&long).ends_with('…'));
        assert_eq!(cut("a\n   b"), "a b");
    }
}
