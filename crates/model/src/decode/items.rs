//! The named items of a file: tables and their columns, APIs and their
//! routes, workflows and their triggers, functions, and the parameters they
//! all declare.

use super::*;
use crate::params::{Param, ParamType};
use crate::trigger::{STRIPE_TRIGGERS, event_action, stripe_trigger};

const PARAM_KEYS: &[&str] = &[
    "type",
    "required",
    "default",
    "min",
    "max",
    "min_length",
    "max_length",
    "one_of",
    "description",
];
const COLUMN_KEYS: &[&str] = &[
    "type",
    "primary_key",
    "required",
    "unique",
    "default",
    "description",
];
/// Paths that paywire itself serves; an API may not take them.
const RESERVED_PREFIXES: &[&str] = &["/_paywire", "/_stripe", "/webhooks", "/console"];

impl FileDecoder<'_> {
    pub(super) fn table(&mut self, name: &str, node: &Node, path: &str) -> Option<Table> {
        let fields = self.mapping(node, path, Some(&["columns", "description"]))?;
        let columns_node = self.required(&fields, "columns", node.pos, "a table")?;
        let columns_path = fields.path("columns");
        let column_fields = self.mapping(columns_node, &columns_path, None)?;
        let mut columns = Vec::new();
        for entry in column_fields.entries {
            let column_path = join(&columns_path, &entry.key);
            if !is_sql_name(&entry.key) {
                self.err(
                    entry.key_pos,
                    &column_path,
                    format!("`{}` is not a valid column name", entry.key),
                )
                .hint = Some("use a lowercase name such as `paid_at`".into());
                continue;
            }
            if let Some(column) = self.column(&entry.key, &entry.value, &column_path) {
                columns.push(column);
            }
        }
        let keys: Vec<&Column> = columns.iter().filter(|c| c.primary_key).collect();
        let primary_key = match keys.as_slice() {
            [] => {
                if columns.iter().any(|c| c.name == "id") {
                    self.err(
                        columns_node.pos,
                        &columns_path,
                        "the column `id` is not the primary key, and no other column is",
                    )
                    .hint = Some("mark one column with `primary_key: true`".into());
                    return None;
                }
                // A table without a declared key gets an integer `id` that
                // SQLite numbers by itself.
                columns.insert(
                    0,
                    Column {
                        name: "id".into(),
                        ty: ColumnType::Integer,
                        primary_key: true,
                        required: false,
                        unique: false,
                        default: None,
                    },
                );
                "id".to_string()
            }
            [one] => one.name.clone(),
            _ => {
                self.err(
                    columns_node.pos,
                    &columns_path,
                    "a table has one primary key, but several columns say `primary_key: true`",
                );
                return None;
            }
        };
        Some(Table {
            name: name.to_string(),
            columns,
            primary_key,
            origin: self.origin(node.pos, path),
        })
    }

    fn column(&mut self, name: &str, node: &Node, path: &str) -> Option<Column> {
        let (type_node, fields) = match &node.value {
            Value::Str(_) => (node, None),
            _ => {
                let fields = self.mapping(node, path, Some(COLUMN_KEYS))?;
                (
                    self.required(&fields, "type", node.pos, "a column")?,
                    Some(fields),
                )
            }
        };
        let type_path = if fields.is_some() {
            join(path, "type")
        } else {
            path.to_string()
        };
        let type_name = self.string(type_node, &type_path)?;
        let Some(ty) = ColumnType::parse(&type_name) else {
            let hint = match did_you_mean(&type_name, ColumnType::NAMES.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("the column types are: {}", ColumnType::NAMES.join(", ")),
            };
            self.err(
                type_node.pos,
                &type_path,
                format!("unknown column type `{type_name}`"),
            )
            .hint = Some(hint);
            return None;
        };
        let mut column = Column {
            name: name.to_string(),
            ty,
            primary_key: false,
            required: false,
            unique: false,
            default: None,
        };
        if let Some(fields) = fields {
            if let Some(n) = fields.get("primary_key") {
                column.primary_key = self
                    .boolean(n, &fields.path("primary_key"))
                    .unwrap_or(false);
            }
            if let Some(n) = fields.get("required") {
                column.required = self.boolean(n, &fields.path("required")).unwrap_or(false);
            }
            if let Some(n) = fields.get("unique") {
                column.unique = self.boolean(n, &fields.path("unique")).unwrap_or(false);
            }
            if let Some(n) = fields.get("default") {
                let value = n.to_json();
                if let Err(problem) = crate::column_value(ty, &value) {
                    self.err(
                        n.pos,
                        &fields.path("default"),
                        format!("the default {problem}"),
                    );
                } else {
                    column.default = Some(value);
                }
            }
        }
        Some(column)
    }

    fn params(&mut self, node: Option<&Node>, path: &str) -> Vec<Param> {
        let Some(node) = node else {
            return Vec::new();
        };
        let Some(fields) = self.mapping(node, path, None) else {
            return Vec::new();
        };
        let mut params = Vec::new();
        for entry in fields.entries {
            let param_path = join(path, &entry.key);
            if !is_identifier(&entry.key) {
                self.err(entry.key_pos, &param_path, format!("`{}` is not a valid parameter name", entry.key)).hint =
                    Some("use letters, digits and `_`, starting with a letter, so that `context.parameters.NAME` reads it".into());
                continue;
            }
            if let Some(param) = self.param(&entry.key, &entry.value, &param_path) {
                params.push(param);
            }
        }
        params
    }

    fn param(&mut self, name: &str, node: &Node, path: &str) -> Option<Param> {
        let (type_node, fields) = match &node.value {
            Value::Str(_) => (node, None),
            _ => {
                let fields = self.mapping(node, path, Some(PARAM_KEYS))?;
                (
                    self.required(&fields, "type", node.pos, "a parameter")?,
                    Some(fields),
                )
            }
        };
        let type_path = if fields.is_some() {
            join(path, "type")
        } else {
            path.to_string()
        };
        let type_name = self.string(type_node, &type_path)?;
        let Some(ty) = ParamType::parse(&type_name) else {
            let hint = match did_you_mean(&type_name, ParamType::NAMES.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("the parameter types are: {}", ParamType::NAMES.join(", ")),
            };
            self.err(
                type_node.pos,
                &type_path,
                format!("unknown parameter type `{type_name}`"),
            )
            .hint = Some(hint);
            return None;
        };
        let mut param = Param {
            name: name.to_string(),
            ty,
            required: false,
            default: None,
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            one_of: None,
        };
        let Some(fields) = fields else {
            return Some(param);
        };
        if let Some(n) = fields.get("required") {
            param.required = self.boolean(n, &fields.path("required")).unwrap_or(false);
        }
        if let Some(n) = fields.get("min") {
            param.min = self.number(n, &fields.path("min"));
        }
        if let Some(n) = fields.get("max") {
            param.max = self.number(n, &fields.path("max"));
        }
        if let Some(n) = fields.get("min_length") {
            param.min_length = self.unsigned(n, &fields.path("min_length"));
        }
        if let Some(n) = fields.get("max_length") {
            param.max_length = self.unsigned(n, &fields.path("max_length"));
        }
        if let Some(n) = fields.get("one_of") {
            match n.as_seq() {
                Some(items) if !items.is_empty() => {
                    param.one_of = Some(items.iter().map(Node::to_json).collect())
                }
                _ => {
                    self.err(
                        n.pos,
                        &fields.path("one_of"),
                        "expected a list of the allowed values",
                    );
                }
            }
        }
        if let Some(n) = fields.get("default") {
            let value = n.to_json();
            if !ty.accepts(&value) {
                self.err(
                    n.pos,
                    &fields.path("default"),
                    format!("the default is {}, not {}", n.kind_name(), ty.described()),
                );
            } else {
                param.default = Some(value);
            }
        }
        if (param.min_length.is_some() || param.max_length.is_some())
            && !matches!(ty, ParamType::String | ParamType::Array)
        {
            self.err(
                node.pos,
                path,
                format!("`min_length` and `max_length` bound strings and arrays, but this parameter is {}", ty.described()),
            )
            .hint = Some("use `min` and `max` for numbers".into());
        }
        if let Some(allowed) = &param.one_of
            && let Some(bad) = allowed.iter().find(|v| !ty.accepts(v))
        {
            self.err(
                node.pos,
                &join(path, "one_of"),
                format!("`{bad}` in `one_of` is not {}", ty.described()),
            );
        }
        if let Some(default) = &param.default {
            // The default must pass the parameter's own checks.
            let mut input = serde_json::Map::new();
            input.insert(param.name.clone(), default.clone());
            if let Err(errors) = super::params::validate(
                std::slice::from_ref(&param),
                &input,
                super::params::InputSource::Json,
            ) {
                self.err(
                    node.pos,
                    &join(path, "default"),
                    format!("the default {}", errors[0].problem),
                );
            }
        }
        if (param.min.is_some() || param.max.is_some())
            && !matches!(ty, ParamType::Integer | ParamType::Number)
        {
            self.err(
                node.pos,
                path,
                format!(
                    "`min` and `max` bound numbers, but this parameter is {}",
                    ty.described()
                ),
            )
            .hint = Some("use `min_length` and `max_length` for strings and arrays".into());
        }
        Some(param)
    }

    fn begin_container(&mut self, container: Container) {
        self.container = container;
        self.step_ids.clear();
    }

    pub(super) fn api(&mut self, name: &str, node: &Node, path: &str) -> Option<Api> {
        let fields = self.mapping(
            node,
            path,
            Some(&["method", "path", "params", "steps", "description"]),
        )?;
        self.begin_container(Container::Api);
        let method_node = self.required(&fields, "method", node.pos, "an API");
        let path_node = self.required(&fields, "path", node.pos, "an API");
        let steps_node = self.required(&fields, "steps", node.pos, "an API");
        let method = method_node.and_then(|n| {
            let text = self.string(n, &fields.path("method"))?;
            let method = HttpMethod::parse(&text);
            if method.is_none() {
                self.err(
                    n.pos,
                    &fields.path("method"),
                    format!("unknown HTTP method `{text}`"),
                )
                .hint = Some(format!("use one of: {}", HttpMethod::NAMES.join(", ")));
            }
            method
        });
        let route = path_node.and_then(|n| {
            let text = self.string(n, &fields.path("path"))?;
            self.route(&text, n.pos, &fields.path("path"))
                .map(|params| (text, params))
        });
        let params = self.params(fields.get("params"), &fields.path("params"));
        let names = vec!["context".to_string(), "steps".into(), "vars".into()];
        let steps_path = fields.path("steps");
        let problems_before = self.diags.len();
        let steps = steps_node
            .map(|n| self.steps(n, &steps_path, "steps", &names))
            .unwrap_or_default();
        // Steps that failed to decode are missing from `steps`; judging the
        // rest would only repeat their problem as a missing response.
        let steps_decoded = self.diags.len() == problems_before;
        if let Some(steps_node) = steps_node.filter(|_| steps_decoded)
            && let Some(gap) = falls_through(&steps, "steps")
        {
            self.err(
                steps_node.pos,
                &steps_path,
                "this API can finish without answering the caller",
            )
            .hint = Some(format!(
                "every path must end in a `response` (or `throw`); {gap}"
            ));
        }
        let (path_text, path_params) = route?;
        Some(Api {
            name: name.to_string(),
            method: method?,
            path: path_text,
            path_params,
            params,
            steps,
            origin: self.origin(node.pos, path),
        })
    }

    /// Checks an API's path and returns the names of its `:params`.
    fn route(&mut self, text: &str, pos: Pos, path: &str) -> Option<Vec<String>> {
        if !text.starts_with('/') {
            self.err(pos, path, format!("the path `{text}` must start with `/`"));
            return None;
        }
        if let Some(prefix) = RESERVED_PREFIXES
            .iter()
            .find(|p| text == **p || text.starts_with(&format!("{p}/")))
        {
            self.err(
                pos,
                path,
                format!("paths under `{prefix}` are served by paywire itself"),
            )
            .hint = Some("choose another path".into());
            return None;
        }
        let mut names = Vec::new();
        for segment in text.split('/').skip(1) {
            if let Some(name) = segment.strip_prefix(':') {
                if !is_identifier(name) {
                    self.err(
                        pos,
                        path,
                        format!("`:{name}` is not a valid path parameter"),
                    )
                    .hint = Some("write `:name` with letters, digits and `_`".into());
                    return None;
                }
                if names.iter().any(|n| n == name) {
                    self.err(
                        pos,
                        path,
                        format!("the path parameter `:{name}` appears twice"),
                    );
                    return None;
                }
                names.push(name.to_string());
            } else if segment.contains(['{', '}', '*', ':', '?', '#']) {
                self.err(
                    pos,
                    path,
                    format!("the path segment `{segment}` has a character paths cannot hold"),
                )
                .hint = Some("path parameters are written `:name`".into());
                return None;
            }
        }
        Some(names)
    }

    pub(super) fn workflow(&mut self, name: &str, node: &Node, path: &str) -> Option<Workflow> {
        let fields = self.mapping(
            node,
            path,
            Some(&["trigger", "params", "steps", "description"]),
        )?;
        self.begin_container(Container::Workflow);
        let trigger = match fields.get("trigger") {
            None => Some(Trigger::Manual),
            Some(n) => self.trigger(n, &fields.path("trigger")),
        };
        if let (Some(Trigger::Stripe(_)), Some(params)) = (&trigger, fields.get("params")) {
            self.err(
                params.pos,
                &fields.path("params"),
                "a workflow started by Stripe events takes no parameters",
            )
            .hint =
                Some("the event is `context.event` (id, type, action, status, object, ...)".into());
        }
        let steps_node = self.required(&fields, "steps", node.pos, "a workflow");
        let params = self.params(fields.get("params"), &fields.path("params"));
        let names = vec!["context".to_string(), "steps".into(), "vars".into()];
        let steps = steps_node
            .map(|n| self.steps(n, &fields.path("steps"), "steps", &names))
            .unwrap_or_default();
        Some(Workflow {
            name: name.to_string(),
            trigger: trigger?,
            params,
            steps,
            origin: self.origin(node.pos, path),
        })
    }

    /// `trigger: manual`, `trigger: stripe.checkout_session`, or
    /// `trigger: {event: stripe.checkout_session, actions: [completed]}`.
    fn trigger(&mut self, node: &Node, path: &str) -> Option<Trigger> {
        let names = || {
            ["manual", "startup"]
                .into_iter()
                .chain(STRIPE_TRIGGERS.iter().map(|t| t.name))
                .collect::<Vec<_>>()
        };
        let (event_node, event_path, fields) = match &node.value {
            Value::Str(_) => (node, path.to_string(), None),
            Value::Map(_) => {
                let fields = self.mapping(node, path, Some(&["event", "actions", "types"]))?;
                let event = self.required(&fields, "event", node.pos, "a trigger")?;
                (event, fields.path("event"), Some(fields))
            }
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!(
                        "expected a trigger name or a mapping, found {}",
                        node.kind_name()
                    ),
                );
                return None;
            }
        };
        let name = self.string(event_node, &event_path)?;
        match name.as_str() {
            "manual" if fields.is_none() => return Some(Trigger::Manual),
            "startup" if fields.is_none() => return Some(Trigger::Startup),
            _ => {}
        }
        let Some(kind) = stripe_trigger(&name) else {
            let hint = match did_you_mean(&name, names()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("the triggers are: {}", names().join(", ")),
            };
            self.err(
                event_node.pos,
                &event_path,
                format!("unknown trigger `{name}`"),
            )
            .hint = Some(hint);
            return None;
        };
        let mut trigger = StripeTrigger {
            on: kind,
            actions: Vec::new(),
            types: Vec::new(),
        };
        let Some(fields) = fields else {
            return Some(Trigger::Stripe(trigger));
        };
        let mut ok = true;
        if let Some(actions) = fields.get("actions") {
            let at = fields.path("actions");
            for (i, item) in self.string_items(actions, &at)? {
                if !kind.actions.is_empty() && !kind.actions.contains(&item.as_str()) {
                    let hint = match did_you_mean(&item, kind.actions.iter().copied()) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!("`{}` events are: {}", kind.name, kind.actions.join(", ")),
                    };
                    self.err(i, &at, format!("`{}` has no action `{item}`", kind.name))
                        .hint = Some(hint);
                    ok = false;
                }
                trigger.actions.push(item);
            }
        }
        if let Some(types) = fields.get("types") {
            let at = fields.path("types");
            for (i, item) in self.string_items(types, &at)? {
                let object_ok = match kind.object {
                    None => true,
                    Some(_) => kind.actions.contains(&event_action(&item)),
                };
                if !item.contains('.') || !object_ok {
                    self.err(
                        i,
                        &at,
                        format!("`{item}` is not an event type of `{}`", kind.name),
                    )
                    .hint = Some("event types read `checkout.session.completed`".into());
                    ok = false;
                }
                trigger.types.push(item);
            }
        }
        if !trigger.actions.is_empty() && !trigger.types.is_empty() {
            self.err(
                node.pos,
                path,
                "a trigger takes `actions` or `types`, not both",
            );
            ok = false;
        }
        ok.then_some(Trigger::Stripe(trigger))
    }

    /// A list of strings, each with its position.
    fn string_items(&mut self, node: &Node, path: &str) -> Option<Vec<(Pos, String)>> {
        let Some(items) = node.as_seq() else {
            self.err(
                node.pos,
                path,
                format!("expected a list, found {}", node.kind_name()),
            );
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            out.push((item.pos, self.string(item, &format!("{path}[{i}]"))?));
        }
        Some(out)
    }

    pub(super) fn function(&mut self, name: &str, node: &Node, path: &str) -> Option<Function> {
        let fields = self.mapping(node, path, Some(&["params", "steps", "description"]))?;
        self.begin_container(Container::Function);
        let steps_node = self.required(&fields, "steps", node.pos, "a function");
        let params = self.params(fields.get("params"), &fields.path("params"));
        let names = vec!["context".to_string(), "steps".into(), "vars".into()];
        let steps = steps_node
            .map(|n| self.steps(n, &fields.path("steps"), "steps", &names))
            .unwrap_or_default();
        Some(Function {
            name: name.to_string(),
            params,
            steps,
            origin: self.origin(node.pos, path),
        })
    }
}

/// Whether every way through `steps` ends in a response or a throw.
fn always_answers(steps: &[Step]) -> bool {
    steps
        .iter()
        .any(|step| step.when.is_none() && step_always_answers(&step.kind))
}

fn step_always_answers(kind: &StepKind) -> bool {
    match kind {
        StepKind::Response { .. } | StepKind::Throw { .. } => true,
        StepKind::If {
            then, otherwise, ..
        } => always_answers(then) && always_answers(otherwise),
        StepKind::Switch { cases, default, .. } => {
            default.as_deref().is_some_and(always_answers)
                && cases.iter().all(|c| always_answers(&c.steps))
        }
        StepKind::Try { steps, catch, .. } => always_answers(steps) && always_answers(catch),
        _ => false,
    }
}

/// When `steps` can end without an answer, says where: the branch that does.
fn falls_through(steps: &[Step], path: &str) -> Option<String> {
    if always_answers(steps) {
        return None;
    }
    // Blame the last branching step, whose branches were the likely intent.
    let branching = steps.iter().rev().find(|s| {
        s.when.is_none()
            && matches!(
                s.kind,
                StepKind::If { .. } | StepKind::Switch { .. } | StepKind::Try { .. }
            )
    });
    let Some(step) = branching else {
        return Some(format!(
            "`{path}` ends without one: add a `response` step at its end"
        ));
    };
    let at = &step.key;
    Some(match &step.kind {
        StepKind::If {
            then, otherwise, ..
        } if !always_answers(then) => {
            falls_through(then, &format!("{at}.then")).unwrap_or_default()
        }
        StepKind::If { otherwise, .. } if otherwise.is_empty() => {
            format!("the `if` at `{at}` has no `else`, and nothing answers after it")
        }
        StepKind::If { otherwise, .. } => {
            falls_through(otherwise, &format!("{at}.else")).unwrap_or_default()
        }
        StepKind::Switch { default: None, .. } => {
            format!("the `switch` at `{at}` has no `default`, and nothing answers after it")
        }
        StepKind::Switch {
            cases,
            default: Some(default),
            ..
        } => cases
            .iter()
            .find_map(|c| falls_through(&c.steps, &format!("{at}.cases.{}", c.value)))
            .or_else(|| falls_through(default, &format!("{at}.default")))
            .unwrap_or_default(),
        StepKind::Try { steps, catch, .. } => falls_through(steps, &format!("{at}.try"))
            .or_else(|| falls_through(catch, &format!("{at}.catch")))
            .unwrap_or_default(),
        _ => String::new(),
    })
}
