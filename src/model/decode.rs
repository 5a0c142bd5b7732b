//! Turns one file's YAML tree into model items, reporting every problem it
//! finds instead of stopping at the first.
//!
//! Checks that need the whole project (a table or function declared in another
//! file) are queued as [`Deferred`] and run by `load` once every file is read.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value as Json;

use super::diagnostic::{Diagnostic, did_you_mean};
use super::params::{Param, ParamType};
use super::trigger::{STRIPE_TRIGGERS, event_action, stripe_trigger};
use super::yaml::{Entry, Node, Pos, Value};
use super::*;
use crate::actions::catalogue::{self, FILTER_OPERATORS, Family, InputKind};
use crate::expr::{Evaluator, Part, RawPart, RawTemplate, Template, split_template};

const TOP_LEVEL: &[&str] = &["tables", "apis", "workflows", "functions"];
const STEP_KINDS: &[&str] = &[
    "action", "if", "switch", "for_each", "while", "try", "throw", "response", "return", "set",
    "log", "wait", "call", "start",
];
const STEP_COMMON: &[&str] = &["id", "when", "note"];
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
pub(super) const RESERVED_PREFIXES: &[&str] = &["/_paywire", "/_stripe", "/webhooks", "/console"];
/// The most iterations a `while` may be given.
const MAX_WHILE_ITERATIONS: u64 = 1_000_000;

/// Items read from one file.
#[derive(Default)]
pub(super) struct FileItems {
    pub tables: Vec<Table>,
    pub apis: Vec<Api>,
    pub workflows: Vec<Workflow>,
    pub functions: Vec<Function>,
}

/// A check that needs the whole project.
pub(super) enum Deferred {
    TableAction {
        action: &'static str,
        with: Node,
        path: String,
        pos: Pos,
    },
    Call {
        function: String,
        with: Option<Node>,
        path: String,
        pos: Pos,
    },
    Start {
        workflow: String,
        with: Option<Node>,
        path: String,
        pos: Pos,
    },
}

/// What the whole project declares, for the deferred checks.
pub(super) struct ProjectIndex<'p> {
    pub tables: &'p BTreeMap<String, Arc<Table>>,
    pub functions: &'p BTreeMap<String, Arc<Function>>,
    pub workflows: &'p BTreeMap<String, Arc<Workflow>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Api,
    Workflow,
    Function,
}

pub(super) struct FileDecoder<'e> {
    pub file: Arc<str>,
    evaluator: &'e Evaluator,
    pub diags: Vec<Diagnostic>,
    pub deferred: Vec<Deferred>,
    /// Step ids declared so far in the API, workflow or function being read.
    step_ids: Vec<String>,
    container: Container,
}

pub(super) fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), simple) {
        (true, _) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (false, false) => format!("{path}[{key:?}]"),
    }
}

pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_item_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_sql_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A mapping's entries, with its path, once its keys have been checked.
struct Fields<'n> {
    entries: &'n [Entry],
    path: String,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    fn path(&self, key: &str) -> String {
        join(&self.path, key)
    }
}

/// Whether a node is a string holding `{{ }}`: its value is only known when
/// the step runs.
fn is_dynamic(node: &Node) -> bool {
    node.as_str().is_some_and(|s| s.contains("{{"))
}

/// `source` with the inside of its string literals blanked out, so that
/// text such as `"see steps.x"` is not read as a reference.
fn without_string_literals(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut quote = None;
    let mut escaped = false;
    for c in source.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                    continue;
                }
                // Same byte length, so that offsets still match the source.
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
            None => {
                if c == '"' || c == '`' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The names that `steps.<name>` refers to in an expression.
fn step_references(original: &str) -> Vec<String> {
    let source = &without_string_literals(original);
    let bytes = source.as_bytes();
    let mut names = Vec::new();
    let mut start = 0;
    while let Some(found) = source[start..].find("steps") {
        let at = start + found;
        start = at + 5;
        let before_ok = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b'.');
        if !before_ok {
            continue;
        }
        let rest = &source[at + 5..];
        let rest = rest.trim_start();
        let (name_start, quoted) =
            if let Some(r) = rest.strip_prefix("?.").or_else(|| rest.strip_prefix('.')) {
                (r, false)
            } else if let Some(r) = rest.strip_prefix("[\"") {
                (r, true)
            } else {
                continue;
            };
        let name: String = if quoted {
            // The name sits inside a literal, blanked in `source`: read it
            // from the original at the same offset.
            let offset = source.len() - name_start.len();
            original[offset..]
                .split('"')
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            name_start
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

impl<'e> FileDecoder<'e> {
    pub fn new(file: &str, evaluator: &'e Evaluator) -> Self {
        FileDecoder {
            file: file.into(),
            evaluator,
            diags: Vec::new(),
            deferred: Vec::new(),
            step_ids: Vec::new(),
            container: Container::Api,
        }
    }

    fn err(&mut self, pos: Pos, path: &str, message: impl Into<String>) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::new(&self.file, pos, path, message));
        self.diags.last_mut().expect("just pushed")
    }

    fn origin(&self, pos: Pos, path: &str) -> Origin {
        Origin {
            file: self.file.clone(),
            pos,
            path: path.to_string(),
        }
    }

    /// Reads a mapping, reporting repeated keys and, when `allowed` is given,
    /// keys outside it.
    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        allowed: Option<&[&str]>,
    ) -> Option<Fields<'n>> {
        let Some(entries) = node.as_map() else {
            self.err(
                node.pos,
                path,
                format!("expected a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        let mut seen = HashSet::new();
        for entry in entries {
            let entry_path = join(path, &entry.key);
            if !seen.insert(entry.key.as_str()) {
                self.err(
                    entry.key_pos,
                    &entry_path,
                    format!("`{}` appears twice in this mapping", entry.key),
                )
                .hint = Some("remove one of them: YAML would silently keep only the last".into());
            }
            if let Some(allowed) = allowed
                && !allowed.contains(&entry.key.as_str())
            {
                let hint = match did_you_mean(&entry.key, allowed.iter().copied()) {
                    _ if entry.key == "<<" => "merge keys (`<<:`) are not supported; alias the \
                                               whole value instead (`with: *defaults`)"
                        .to_string(),
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("the keys allowed here are: {}", allowed.join(", ")),
                };
                self.err(
                    entry.key_pos,
                    &entry_path,
                    format!("unknown key `{}`", entry.key),
                )
                .hint = Some(hint);
            }
        }
        Some(Fields {
            entries,
            path: path.to_string(),
        })
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a string, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected true or false, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn unsigned(&mut self, node: &Node, path: &str) -> Option<u64> {
        match node.value {
            Value::Int(i) if i >= 0 => Some(i as u64),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!(
                        "expected a whole number of 0 or more, found {}",
                        node.kind_name()
                    ),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, path: &str) -> Option<f64> {
        match node.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a number, found {}", node.kind_name()),
                );
                None
            }
        }
    }

    fn required<'n>(
        &mut self,
        fields: &Fields<'n>,
        key: &str,
        at: Pos,
        what: &str,
    ) -> Option<&'n Node> {
        let node = fields.get(key);
        if node.is_none() {
            self.err(at, &fields.path, format!("{what} needs `{key}:`"));
        }
        node
    }

    // ----- expressions and templates -----

    fn compile(
        &mut self,
        source: &str,
        pos: Pos,
        path: &str,
        names: &[String],
    ) -> Option<crate::expr::Expr> {
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        match self.evaluator.compile(source, &name_refs) {
            Ok(expr) => {
                self.check_step_references(source, pos, path);
                Some(expr)
            }
            Err(e) => {
                let mut hint = match (e.line, e.column) {
                    (Some(line), Some(column)) if line > 1 => {
                        format!("at line {line}, column {column} of the expression")
                    }
                    (_, Some(column)) => format!("at column {column} of the expression"),
                    _ => String::new(),
                };
                if e.message.contains("Undefined variable")
                    || e.message.contains("Variable not found")
                {
                    if !hint.is_empty() {
                        hint.push_str("; ");
                    }
                    hint.push_str(&format!(
                        "the names in scope here are: {}",
                        names.join(", ")
                    ));
                }
                let d = self.err(
                    pos,
                    path,
                    format!("the expression `{source}` does not compile: {}", e.message),
                );
                if !hint.is_empty() {
                    d.hint = Some(hint);
                }
                None
            }
        }
    }

    fn check_step_references(&mut self, source: &str, pos: Pos, path: &str) {
        for name in step_references(source) {
            if !self.step_ids.contains(&name) {
                let hint = match did_you_mean(&name, self.step_ids.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `steps.{near}`?"),
                    None if self.step_ids.is_empty() => {
                        "no step before this one has an `id`".to_string()
                    }
                    None => format!(
                        "the steps before this one are: {}",
                        self.step_ids.join(", ")
                    ),
                };
                self.err(
                    pos,
                    path,
                    format!("`steps.{name}` refers to no step declared before this one"),
                )
                .hint = Some(hint);
            }
        }
    }

    /// An expression written bare (`if: "x > 1"`) or in braces (`if: "{{ x > 1 }}"`).
    fn expression(
        &mut self,
        node: &Node,
        path: &str,
        names: &[String],
    ) -> Option<crate::expr::Expr> {
        let source = match &node.value {
            Value::Str(s) => match split_template(s) {
                Ok(RawTemplate::Whole(inner)) => inner.to_string(),
                Ok(RawTemplate::Plain) => s.clone(),
                Ok(RawTemplate::Parts(_)) | Err(_) => {
                    self.err(
                        node.pos,
                        path,
                        "expected one expression here, not text with `{{ }}` inside it",
                    )
                    .hint = Some(
                        "write the expression alone, e.g. `context.parameters.amount > 100`".into(),
                    );
                    return None;
                }
            },
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected an expression, found {}", node.kind_name()),
                );
                return None;
            }
        };
        self.compile(&source, node.pos, path, names)
    }

    fn template(&mut self, node: &Node, path: &str, names: &[String]) -> Option<Template> {
        match &node.value {
            Value::Str(s) => match split_template(s) {
                Err(message) => {
                    self.err(node.pos, path, message);
                    None
                }
                Ok(RawTemplate::Plain) => Some(Template::Literal(Json::String(s.clone()))),
                Ok(RawTemplate::Whole(source)) => self
                    .compile(source, node.pos, path, names)
                    .map(Template::Expr),
                Ok(RawTemplate::Parts(raw_parts)) => {
                    let mut parts = Vec::with_capacity(raw_parts.len());
                    let mut ok = true;
                    for part in raw_parts {
                        match part {
                            RawPart::Text(text) => parts.push(Part::Text(text.to_string())),
                            RawPart::Expr(source) => {
                                match self.compile(source, node.pos, path, names) {
                                    Some(expr) => parts.push(Part::Expr(expr)),
                                    None => ok = false,
                                }
                            }
                        }
                    }
                    ok.then_some(Template::Interpolate(parts))
                }
            },
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.template(item, &index(path, i), names) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(if out.iter().all(Template::is_literal) {
                    Template::Literal(node.to_json())
                } else {
                    Template::Array(out)
                })
            }
            Value::Map(_) => {
                let fields = self.mapping(node, path, None)?;
                let mut out = Vec::with_capacity(fields.entries.len());
                let mut ok = true;
                for entry in fields.entries {
                    match self.template(&entry.value, &join(path, &entry.key), names) {
                        Some(t) => out.push((entry.key.clone(), t)),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(if out.iter().all(|(_, t)| t.is_literal()) {
                    Template::Literal(node.to_json())
                } else {
                    Template::Object(out)
                })
            }
            _ => Some(Template::Literal(node.to_json())),
        }
    }

    fn optional_template(
        &mut self,
        node: Option<&Node>,
        path: &str,
        names: &[String],
    ) -> Option<Template> {
        match node {
            Some(node) => self.template(node, path, names),
            None => Some(Template::Literal(Json::Null)),
        }
    }

    // ----- the file -----

    pub fn file(&mut self, root: &Node) -> FileItems {
        let mut items = FileItems::default();
        let Some(top) = self.mapping(root, "", Some(TOP_LEVEL)) else {
            return items;
        };
        if let Some(tables) = top.get("tables") {
            for (name, node, path) in self.named_items(
                tables,
                "tables",
                is_sql_name,
                "a lowercase name such as `orders`",
            ) {
                if name.starts_with("sqlite_") {
                    self.err(node.pos, &path, format!("`{name}` is reserved by SQLite"))
                        .hint = Some("choose another name".into());
                    continue;
                }
                if let Some(table) = self.table(name, node, &path) {
                    items.tables.push(table);
                }
            }
        }
        if let Some(apis) = top.get("apis") {
            for (name, node, path) in
                self.named_items(apis, "apis", is_item_name, "letters, digits, `-` and `_`")
            {
                if let Some(api) = self.api(name, node, &path) {
                    items.apis.push(api);
                }
            }
        }
        if let Some(workflows) = top.get("workflows") {
            for (name, node, path) in self.named_items(
                workflows,
                "workflows",
                is_item_name,
                "letters, digits, `-` and `_`",
            ) {
                if let Some(workflow) = self.workflow(name, node, &path) {
                    items.workflows.push(workflow);
                }
            }
        }
        if let Some(functions) = top.get("functions") {
            for (name, node, path) in self.named_items(
                functions,
                "functions",
                is_item_name,
                "letters, digits, `-` and `_`",
            ) {
                if let Some(function) = self.function(name, node, &path) {
                    items.functions.push(function);
                }
            }
        }
        items
    }

    /// The entries of a section such as `apis`, with names checked.
    fn named_items<'n>(
        &mut self,
        section: &'n Node,
        path: &str,
        valid: fn(&str) -> bool,
        rule: &str,
    ) -> Vec<(&'n str, &'n Node, String)> {
        if matches!(section.value, Value::Null) {
            return Vec::new();
        }
        let Some(fields) = self.mapping(section, path, None) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in fields.entries {
            let item_path = join(path, &entry.key);
            if !valid(&entry.key) {
                self.err(
                    entry.key_pos,
                    &item_path,
                    format!("`{}` is not a valid name", entry.key),
                )
                .hint = Some(format!("use {rule}"));
                continue;
            }
            out.push((entry.key.as_str(), &entry.value, item_path));
        }
        out
    }

    // ----- tables -----

    fn table(&mut self, name: &str, node: &Node, path: &str) -> Option<Table> {
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
                if let Err(problem) = crate::model::column_value_problem(ty, &value) {
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

    // ----- APIs, workflows, functions -----

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

    fn api(&mut self, name: &str, node: &Node, path: &str) -> Option<Api> {
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

    fn workflow(&mut self, name: &str, node: &Node, path: &str) -> Option<Workflow> {
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

    fn function(&mut self, name: &str, node: &Node, path: &str) -> Option<Function> {
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

    // ----- steps -----

    fn steps(&mut self, node: &Node, path: &str, key: &str, names: &[String]) -> Vec<Step> {
        let Some(items) = node.as_seq() else {
            self.err(
                node.pos,
                path,
                format!("expected a list of steps, found {}", node.kind_name()),
            )
            .hint = Some("write each step on its own line starting with `- `".into());
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.step(item, &index(path, i), &index(key, i), names))
            .collect()
    }

    fn step(&mut self, node: &Node, path: &str, key: &str, names: &[String]) -> Option<Step> {
        let Some(entries) = node.as_map() else {
            self.err(
                node.pos,
                path,
                format!(
                    "a step is a mapping such as `action: ...` or `if: ...`, found {}",
                    node.kind_name()
                ),
            );
            return None;
        };
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| e.key.as_str())
            .filter(|k| STEP_KINDS.contains(k))
            .collect();
        let kind = match kinds.as_slice() {
            [one] => *one,
            [] => {
                let unknown: Vec<&str> = entries
                    .iter()
                    .map(|e| e.key.as_str())
                    .filter(|k| !STEP_COMMON.contains(k))
                    .collect();
                let hint = unknown
                    .iter()
                    .find_map(|k| {
                        did_you_mean(k, STEP_KINDS.iter().copied())
                            .map(|near| format!("did you mean `{near}` instead of `{k}`?"))
                    })
                    .unwrap_or_else(|| format!("a step is one of: {}", STEP_KINDS.join(", ")));
                self.err(
                    node.pos,
                    path,
                    "this step does nothing: it has no action and no control keyword",
                )
                .hint = Some(hint);
                return None;
            }
            [first, second, ..] => {
                self.err(
                    node.pos,
                    path,
                    format!(
                        "a step does one thing, but this one has both `{first}` and `{second}`"
                    ),
                )
                .hint = Some("split it into two steps".into());
                return None;
            }
        };
        let own: &[&str] = match kind {
            "action" => &["action", "with"],
            "if" => &["if", "then", "else"],
            "switch" => &["switch", "cases", "default"],
            "for_each" => &["for_each", "as", "index_as", "steps"],
            "while" => &["while", "max_iterations", "steps"],
            "try" => &["try", "catch"],
            "set" => &["set", "value"],
            "log" => &["log", "level"],
            "call" => &["call", "with"],
            "start" => &["start", "with"],
            _ => &[kind],
        };
        let allowed: Vec<&str> = STEP_COMMON.iter().chain(own).copied().collect();
        let fields = self.mapping(node, path, Some(&allowed))?;

        let id = fields.get("id").and_then(|n| {
            let id = self.string(n, &fields.path("id"))?;
            if !is_identifier(&id) {
                self.err(n.pos, &fields.path("id"), format!("`{id}` is not a valid step id")).hint =
                    Some("use letters, digits and `_`, starting with a letter, so that `steps.ID` reads it".into());
                return None;
            }
            if self.step_ids.contains(&id) {
                self.err(n.pos, &fields.path("id"), format!("the step id `{id}` is used twice")).hint =
                    Some("step ids must be unique within an API, workflow or function".into());
                return None;
            }
            Some(id)
        });
        let when = match fields.get("when") {
            Some(n) => Some(self.expression(n, &fields.path("when"), names)?),
            None => None,
        };
        let main = fields.get(kind).expect("the kind key is present");
        let kind_pos = entries
            .iter()
            .find(|e| e.key == kind)
            .map(|e| e.key_pos)
            .unwrap_or(node.pos);
        let main_path = fields.path(kind);
        let kind = self.step_kind(kind, main, &main_path, &fields, kind_pos, key, names);
        // The id is registered even when the step has problems, so that later
        // references to it do not report a second, false problem.
        if let Some(id) = &id {
            self.step_ids.push(id.clone());
        }
        let kind = kind?;
        Some(Step {
            id,
            when,
            kind,
            key: key.to_string(),
            origin: self.origin(node.pos, path),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn step_kind(
        &mut self,
        kind: &str,
        main: &Node,
        main_path: &str,
        fields: &Fields<'_>,
        pos: Pos,
        key: &str,
        names: &[String],
    ) -> Option<StepKind> {
        let sub = |name: &str| join(key, name);
        Some(match kind {
            "action" => return self.action(main, main_path, fields, names),
            "if" => {
                let condition = self.expression(main, main_path, names);
                let then_node = self.required(fields, "then", pos, "`if`");
                let then = then_node
                    .map(|n| self.steps(n, &fields.path("then"), &sub("then"), names))
                    .unwrap_or_default();
                let otherwise = fields
                    .get("else")
                    .map(|n| self.steps(n, &fields.path("else"), &sub("else"), names))
                    .unwrap_or_default();
                then_node?;
                StepKind::If {
                    condition: condition?,
                    then,
                    otherwise,
                }
            }
            "switch" => {
                let on = self.expression(main, main_path, names);
                let cases_node = self.required(fields, "cases", pos, "`switch`")?;
                let cases_path = fields.path("cases");
                let case_fields = self.mapping(cases_node, &cases_path, None)?;
                let mut cases = Vec::new();
                for entry in case_fields.entries {
                    let steps = self.steps(
                        &entry.value,
                        &join(&cases_path, &entry.key),
                        &join(&sub("cases"), &entry.key),
                        names,
                    );
                    cases.push(SwitchCase {
                        value: entry.key.clone(),
                        steps,
                    });
                }
                if cases.is_empty() {
                    self.err(
                        cases_node.pos,
                        &cases_path,
                        "a switch needs at least one case",
                    );
                }
                let default = fields
                    .get("default")
                    .map(|n| self.steps(n, &fields.path("default"), &sub("default"), names));
                StepKind::Switch {
                    on: on?,
                    cases,
                    default,
                }
            }
            "for_each" => {
                let items = self.expression(main, main_path, names);
                let item_name = self.loop_name(fields, "as", "item")?;
                let index_name = self.loop_name(fields, "index_as", "index")?;
                let mut inner = names.to_vec();
                inner.push(item_name.clone());
                inner.push(index_name.clone());
                let steps_node = self.required(fields, "steps", pos, "`for_each`")?;
                let steps = self.steps(steps_node, &fields.path("steps"), &sub("steps"), &inner);
                StepKind::ForEach {
                    items: items?,
                    item_name,
                    index_name,
                    steps,
                }
            }
            "while" => {
                let condition = self.expression(main, main_path, names);
                let max_iterations = match fields.get("max_iterations") {
                    Some(n) => {
                        let max = self.unsigned(n, &fields.path("max_iterations"))?;
                        if max == 0 || max > MAX_WHILE_ITERATIONS {
                            self.err(
                                n.pos,
                                &fields.path("max_iterations"),
                                format!("must be from 1 to {MAX_WHILE_ITERATIONS}"),
                            );
                            return None;
                        }
                        max
                    }
                    None => 1_000,
                };
                let steps_node = self.required(fields, "steps", pos, "`while`")?;
                let steps = self.steps(steps_node, &fields.path("steps"), &sub("steps"), names);
                StepKind::While {
                    condition: condition?,
                    max_iterations,
                    steps,
                }
            }
            "try" => {
                let steps = self.steps(main, main_path, &sub("try"), names);
                let catch_node = self.required(fields, "catch", pos, "`try`");
                let mut inner = names.to_vec();
                inner.push("error".into());
                let catch = catch_node
                    .map(|n| self.steps(n, &fields.path("catch"), &sub("catch"), &inner))
                    .unwrap_or_default();
                catch_node?;
                StepKind::Try {
                    steps,
                    catch,
                    error_name: "error".into(),
                }
            }
            "throw" => self.throw(main, main_path, names)?,
            "response" => {
                if self.container != Container::Api {
                    self.err(
                        pos,
                        main_path,
                        "a `response` answers an HTTP caller, and only APIs have one",
                    )
                    .hint = Some(
                        "end a function with `return`; a workflow has no caller to answer".into(),
                    );
                    return None;
                }
                let response = self.mapping(
                    main,
                    main_path,
                    Some(&["status", "headers", "body", "continue"]),
                )?;
                let status = match response.get("status") {
                    Some(n) => {
                        if let Value::Int(code) = n.value {
                            if !(100..=599).contains(&code) {
                                self.err(
                                    n.pos,
                                    &response.path("status"),
                                    format!("{code} is not an HTTP status"),
                                )
                                .hint = Some("use a status from 100 to 599".into());
                                return None;
                            }
                        } else if !is_dynamic(n) {
                            self.err(
                                n.pos,
                                &response.path("status"),
                                format!("expected an HTTP status, found {}", n.kind_name()),
                            );
                            return None;
                        }
                        self.template(n, &response.path("status"), names)?
                    }
                    None => Template::Literal(Json::from(200)),
                };
                let headers = match response.get("headers") {
                    Some(n) => {
                        self.mapping(n, &response.path("headers"), None)?;
                        self.template(n, &response.path("headers"), names)?
                    }
                    None => Template::Literal(Json::Object(Default::default())),
                };
                let body =
                    self.optional_template(response.get("body"), &response.path("body"), names)?;
                let keep_running = match response.get("continue") {
                    Some(n) => self.boolean(n, &response.path("continue"))?,
                    None => false,
                };
                StepKind::Response {
                    status,
                    headers,
                    body,
                    keep_running,
                }
            }
            "return" => {
                if self.container != Container::Function {
                    self.err(
                        pos,
                        main_path,
                        "`return` gives a function's result, and this is not a function",
                    )
                    .hint = Some("an API answers with `response`".into());
                    return None;
                }
                StepKind::Return {
                    value: self.template(main, main_path, names)?,
                }
            }
            "set" => {
                let var = self.string(main, main_path)?;
                if !is_identifier(&var) {
                    self.err(
                        main.pos,
                        main_path,
                        format!("`{var}` is not a valid variable name"),
                    )
                    .hint =
                        Some("use letters, digits and `_`, so that `vars.NAME` reads it".into());
                    return None;
                }
                let value_node = self.required(fields, "value", pos, "`set`")?;
                StepKind::Set {
                    var,
                    value: self.template(value_node, &fields.path("value"), names)?,
                }
            }
            "log" => {
                let level = match fields.get("level") {
                    Some(n) => {
                        let text = self.string(n, &fields.path("level"))?;
                        let Some(level) = LogLevel::parse(&text) else {
                            self.err(
                                n.pos,
                                &fields.path("level"),
                                format!("unknown log level `{text}`"),
                            )
                            .hint = Some(format!("use one of: {}", LogLevel::NAMES.join(", ")));
                            return None;
                        };
                        level
                    }
                    None => LogLevel::Info,
                };
                StepKind::Log {
                    level,
                    message: self.template(main, main_path, names)?,
                }
            }
            "wait" => StepKind::Wait {
                milliseconds: self.wait(main, main_path, names)?,
            },
            "call" => {
                let function = self.string(main, main_path)?;
                let with = fields.get("with");
                self.deferred.push(Deferred::Call {
                    function: function.clone(),
                    with: with.cloned(),
                    path: main_path.to_string(),
                    pos: main.pos,
                });
                StepKind::Call {
                    function,
                    input: self.call_input(with, &fields.path("with"), names)?,
                }
            }
            "start" => {
                let workflow = self.string(main, main_path)?;
                let with = fields.get("with");
                self.deferred.push(Deferred::Start {
                    workflow: workflow.clone(),
                    with: with.cloned(),
                    path: main_path.to_string(),
                    pos: main.pos,
                });
                StepKind::Start {
                    workflow,
                    input: self.call_input(with, &fields.path("with"), names)?,
                }
            }
            other => unreachable!("step kind {other} is listed in STEP_KINDS but not decoded"),
        })
    }

    fn loop_name(&mut self, fields: &Fields<'_>, key: &str, default: &str) -> Option<String> {
        let Some(node) = fields.get(key) else {
            return Some(default.to_string());
        };
        let name = self.string(node, &fields.path(key))?;
        if !is_identifier(&name) || matches!(name.as_str(), "context" | "steps" | "vars" | "error")
        {
            self.err(node.pos, &fields.path(key), format!("`{name}` cannot name a loop variable")).hint =
                Some("use a new name of letters, digits and `_` (context, steps, vars and error are taken)".into());
            return None;
        }
        Some(name)
    }

    fn call_input(
        &mut self,
        with: Option<&Node>,
        path: &str,
        names: &[String],
    ) -> Option<Template> {
        match with {
            Some(n) => {
                self.mapping(n, path, None)?;
                self.template(n, path, names)
            }
            None => Some(Template::Literal(Json::Object(Default::default()))),
        }
    }

    fn throw(&mut self, main: &Node, main_path: &str, names: &[String]) -> Option<StepKind> {
        if main.as_str().is_some() {
            return Some(StepKind::Throw {
                message: self.template(main, main_path, names)?,
                name: Template::Literal(Json::String("Error".into())),
                cause: Template::Literal(Json::Null),
                status: None,
            });
        }
        let fields = self.mapping(
            main,
            main_path,
            Some(&["message", "name", "cause", "status"]),
        )?;
        let message_node = self.required(&fields, "message", main.pos, "`throw`")?;
        let status = match fields.get("status") {
            Some(n) => match n.value {
                Value::Int(code) if (400..=599).contains(&code) => Some(code as u16),
                _ => {
                    self.err(
                        n.pos,
                        &fields.path("status"),
                        "expected an HTTP error status from 400 to 599",
                    )
                    .hint = Some(
                        "the status answers the HTTP caller when nothing catches the error".into(),
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(StepKind::Throw {
            message: self.template(message_node, &fields.path("message"), names)?,
            name: match fields.get("name") {
                Some(n) => self.template(n, &fields.path("name"), names)?,
                None => Template::Literal(Json::String("Error".into())),
            },
            cause: self.optional_template(fields.get("cause"), &fields.path("cause"), names)?,
            status,
        })
    }

    fn wait(&mut self, node: &Node, path: &str, names: &[String]) -> Option<Template> {
        let hint = "write milliseconds (`500`) or a duration (`250ms`, `2s`, `1m`)";
        let ms = match &node.value {
            Value::Int(ms) if *ms >= 0 => *ms as u64,
            Value::Str(text) if !text.contains("{{") => match parse_duration_ms(text) {
                Some(ms) => ms,
                None => {
                    self.err(node.pos, path, format!("`{text}` is not a duration"))
                        .hint = Some(hint.into());
                    return None;
                }
            },
            Value::Str(_) => return self.template(node, path, names),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a duration, found {}", node.kind_name()),
                )
                .hint = Some(hint.into());
                return None;
            }
        };
        if ms > MAX_WAIT_MS {
            self.err(
                node.pos,
                path,
                format!("a wait is at most {} minutes", MAX_WAIT_MS / 60_000),
            )
            .hint = Some(
                "a workflow that must wait longer should be started again later instead".into(),
            );
            return None;
        }
        Some(Template::Literal(Json::from(ms)))
    }

    fn action(
        &mut self,
        main: &Node,
        main_path: &str,
        fields: &Fields<'_>,
        names: &[String],
    ) -> Option<StepKind> {
        let name = self.string(main, main_path)?;
        let Some(spec) = catalogue::find(&name) else {
            let hint = match did_you_mean(&name, catalogue::names()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!(
                    "the actions are: {}",
                    catalogue::names().collect::<Vec<_>>().join(", ")
                ),
            };
            self.err(main.pos, main_path, format!("unknown action `{name}`"))
                .hint = Some(hint);
            return None;
        };
        let with_path = fields.path("with");
        let with = fields.get("with");
        let mut ok = true;
        if let Some(with) = with {
            let inputs = self.mapping(with, &with_path, None)?;
            for entry in inputs.entries {
                let input_path = join(&with_path, &entry.key);
                match spec.input(&entry.key) {
                    None => {
                        let hint =
                            match did_you_mean(&entry.key, spec.inputs.iter().map(|i| i.name)) {
                                Some(near) => format!("did you mean `{near}`?"),
                                None => format!(
                                    "`{}` takes: {}",
                                    spec.name,
                                    spec.inputs
                                        .iter()
                                        .map(|i| i.name)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            };
                        self.err(
                            entry.key_pos,
                            &input_path,
                            format!("`{}` has no input `{}`", spec.name, entry.key),
                        )
                        .hint = Some(hint);
                        ok = false;
                    }
                    Some(input) if !is_dynamic(&entry.value) && input.kind != InputKind::Any => {
                        let literal = entry.value.to_json();
                        if !input.kind.accepts(&literal) {
                            let message = match catalogue::amount_problem(&literal) {
                                Some(problem) if input.kind == InputKind::Amount => {
                                    format!("`{}`: {problem}", entry.key)
                                }
                                _ => format!(
                                    "`{}` must be {}, found {}",
                                    entry.key,
                                    input.kind.describe(),
                                    entry.value.kind_name()
                                ),
                            };
                            self.err(entry.value.pos, &input_path, message);
                            ok = false;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(entries) = with.and_then(Node::as_map) {
            if spec.family == Family::Stripe {
                for entry in entries {
                    let input_path = join(&with_path, &entry.key);
                    ok &= self.check_nested_amounts(&entry.value, &input_path);
                    if !is_dynamic(&entry.value)
                        && let Some(field) =
                            catalogue::too_deep_for_a_form(&entry.key, &entry.value.to_json())
                    {
                        self.err(
                            entry.value.pos,
                            &input_path,
                            format!(
                                "`{field}` nests deeper than Stripe's parameters go ({} keys at most)",
                                catalogue::MAX_FORM_DEPTH
                            ),
                        );
                        ok = false;
                    }
                }
            }
            if !spec.requires_one_of.is_empty()
                && !entries
                    .iter()
                    .any(|e| spec.requires_one_of.contains(&e.key.as_str()))
            {
                self.err(
                    with.map(|w| w.pos).unwrap_or(main.pos),
                    &with_path,
                    format!(
                        "`{}` needs one of {}",
                        spec.name,
                        spec.requires_one_of
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                );
                ok = false;
            }
        }
        for input in spec.inputs.iter().filter(|i| i.required) {
            if with
                .and_then(Node::as_map)
                .is_none_or(|entries| !entries.iter().any(|e| e.key == input.name))
            {
                let at = with.map(|w| w.pos).unwrap_or(main.pos);
                self.err(
                    at,
                    if with.is_some() {
                        &with_path
                    } else {
                        main_path
                    },
                    format!("`{}` needs the input `{}`", spec.name, input.name),
                )
                .hint = Some(format!("`{}`: {}", input.name, input.summary));
                ok = false;
            }
        }
        let input = self.optional_template(with, &with_path, names)?;
        let input = if matches!(input, Template::Literal(Json::Null)) {
            Template::Literal(Json::Object(Default::default()))
        } else {
            input
        };
        if spec.family == Family::Table
            && let Some(with) = with
        {
            self.deferred.push(Deferred::TableAction {
                action: spec.name,
                with: with.clone(),
                path: with_path,
                pos: with.pos,
            });
        }
        ok.then_some(StepKind::Action {
            action: spec,
            input,
        })
    }

    /// Checks the literal amounts inside a Stripe input (the input itself is
    /// checked by its kind): `line_items[0].price_data.unit_amount: 19.99`
    /// is refused here rather than by Stripe at run time.
    fn check_nested_amounts(&mut self, node: &Node, path: &str) -> bool {
        let children: Vec<(String, &Node)> = match &node.value {
            yaml::Value::Map(entries) => entries
                .iter()
                .filter(|e| e.key != "metadata")
                .map(|e| (join(path, &e.key), &e.value))
                .collect(),
            yaml::Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}[{i}]"), item))
                .collect(),
            _ => return true,
        };
        let mut ok = true;
        for (child_path, child) in children {
            let key = child_path.rsplit('.').next().unwrap_or_default();
            let is_amount = catalogue::AMOUNT_KEYS.contains(&key)
                && !matches!(child.value, yaml::Value::Map(_) | yaml::Value::Seq(_));
            if is_amount && !is_dynamic(child) {
                if let Some(problem) = catalogue::amount_problem(&child.to_json()) {
                    self.err(child.pos, &child_path, format!("`{key}`: {problem}"));
                    ok = false;
                }
            } else {
                ok &= self.check_nested_amounts(child, &child_path);
            }
        }
        ok
    }

    // ----- checks that need the whole project -----

    pub fn check_deferred(&mut self, index: &ProjectIndex<'_>) {
        for deferred in std::mem::take(&mut self.deferred) {
            match deferred {
                Deferred::TableAction {
                    action,
                    with,
                    path,
                    pos,
                } => self.check_table_action(action, &with, &path, pos, index),
                Deferred::Call {
                    function,
                    with,
                    path,
                    pos,
                } => match index.functions.get(&function) {
                    Some(f) => self.check_call_inputs(
                        "function",
                        &function,
                        &f.params,
                        with.as_ref(),
                        &path,
                        pos,
                    ),
                    None => {
                        let hint = match did_you_mean(
                            &function,
                            index.functions.keys().map(String::as_str),
                        ) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "declare it under `functions:`".to_string(),
                        };
                        self.err(pos, &path, format!("there is no function `{function}`"))
                            .hint = Some(hint);
                    }
                },
                Deferred::Start {
                    workflow,
                    with,
                    path,
                    pos,
                } => match index.workflows.get(&workflow) {
                    Some(w) if !matches!(w.trigger, Trigger::Manual) => {
                        let by = match w.trigger {
                            Trigger::Startup => "when paywire starts",
                            _ => "by Stripe's events",
                        };
                        self.err(
                            pos,
                            &path,
                            format!("workflow `{workflow}` is started {by}, not by `start`"),
                        )
                        .hint = Some(
                            "move the shared steps into a function and `call` it from both".into(),
                        );
                    }
                    Some(w) => self.check_call_inputs(
                        "workflow",
                        &workflow,
                        &w.params,
                        with.as_ref(),
                        &path,
                        pos,
                    ),
                    None => {
                        let hint = match did_you_mean(
                            &workflow,
                            index.workflows.keys().map(String::as_str),
                        ) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "declare it under `workflows:`".to_string(),
                        };
                        self.err(pos, &path, format!("there is no workflow `{workflow}`"))
                            .hint = Some(hint);
                    }
                },
            }
        }
    }

    fn check_call_inputs(
        &mut self,
        what: &str,
        name: &str,
        params: &[Param],
        with: Option<&Node>,
        path: &str,
        pos: Pos,
    ) {
        let entries = with.and_then(Node::as_map).unwrap_or(&[]);
        for entry in entries {
            if !params.iter().any(|p| p.name == entry.key) {
                let hint = match did_you_mean(&entry.key, params.iter().map(|p| p.name.as_str())) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!(
                        "its parameters are: {}",
                        params
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.err(
                    entry.key_pos,
                    &join(&with_path(path), &entry.key),
                    format!("the {what} `{name}` has no parameter `{}`", entry.key),
                )
                .hint = Some(hint);
            }
        }
        for param in params.iter().filter(|p| p.required && p.default.is_none()) {
            if !entries.iter().any(|e| e.key == param.name) {
                self.err(
                    pos,
                    path,
                    format!("the {what} `{name}` needs the parameter `{}`", param.name),
                )
                .hint = Some(format!("pass it under `with:` as `{}: ...`", param.name));
            }
        }
    }

    fn check_table_action(
        &mut self,
        action: &str,
        with: &Node,
        path: &str,
        pos: Pos,
        index: &ProjectIndex<'_>,
    ) {
        let Some(entries) = with.as_map() else { return };
        let get = |key: &str| {
            entries
                .iter()
                .rev()
                .find(|e| e.key == key)
                .map(|e| &e.value)
        };
        let Some(table_node) = get("table") else {
            return;
        };
        let table_path = join(path, "table");
        let Some(table_name) = table_node.as_str() else {
            return;
        };
        if is_dynamic(table_node) {
            self.err(
                table_node.pos,
                &table_path,
                "the table must be named as written, not computed",
            )
            .hint = Some("write the table's name, e.g. `table: orders`".into());
            return;
        }
        let Some(table) = index.tables.get(table_name) else {
            let hint = match did_you_mean(table_name, index.tables.keys().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "declare it under `tables:`".to_string(),
            };
            self.err(
                table_node.pos,
                &table_path,
                format!("there is no table `{table_name}`"),
            )
            .hint = Some(hint);
            return;
        };
        let has_id = get("id").is_some();
        let has_where = get("where").is_some();
        let all = get("all").is_some_and(|n| n.value == Value::Bool(true));
        if has_id && has_where {
            self.err(
                pos,
                path,
                format!("`{action}` takes `id` or `where`, not both"),
            );
        }
        if matches!(action, "table.update" | "table.delete") && !has_id && !has_where && !all {
            self.err(
                pos,
                path,
                format!("`{action}` without `id` or `where` would touch every row"),
            )
            .hint = Some("give `id` or `where`, or say `all: true` if every row is meant".into());
        }
        if let Some(values) = get("values") {
            self.check_columns_of(values, &join(path, "values"), table);
            if action == "table.insert" && values.as_map().is_some() {
                let given = values.as_map().unwrap_or(&[]);
                for column in &table.columns {
                    let auto_key = column.primary_key && column.ty == ColumnType::Integer;
                    if column.required
                        && column.default.is_none()
                        && !auto_key
                        && !given.iter().any(|e| e.key == column.name)
                    {
                        self.err(
                            values.pos,
                            &join(path, "values"),
                            format!(
                                "the column `{}` is required and has no default",
                                column.name
                            ),
                        )
                        .hint = Some(format!("give `{}` a value", column.name));
                    }
                }
            }
        }
        if let Some(filters) = get("where") {
            let where_path = join(path, "where");
            if let Some(entries) = filters.as_map() {
                for entry in entries {
                    let column_path = join(&where_path, &entry.key);
                    if !self.check_column(&entry.key, entry.key_pos, &column_path, table) {
                        continue;
                    }
                    if let Some(ops) = entry.value.as_map() {
                        for op in ops {
                            if !FILTER_OPERATORS.contains(&op.key.as_str()) {
                                let hint =
                                    match did_you_mean(&op.key, FILTER_OPERATORS.iter().copied()) {
                                        Some(near) => format!("did you mean `{near}`?"),
                                        None => format!(
                                            "the operators are: {}",
                                            FILTER_OPERATORS.join(", ")
                                        ),
                                    };
                                self.err(
                                    op.key_pos,
                                    &join(&column_path, &op.key),
                                    format!("unknown filter operator `{}`", op.key),
                                )
                                .hint = Some(hint);
                            } else if matches!(op.key.as_str(), "in" | "not_in")
                                && !is_dynamic(&op.value)
                                && op.value.as_seq().is_none()
                            {
                                self.err(
                                    op.value.pos,
                                    &join(&column_path, &op.key),
                                    format!("`{}` takes a list of values", op.key),
                                );
                            }
                        }
                    }
                }
            }
        }
        if let Some(order) = get("order") {
            let order_path = join(path, "order");
            let items: Vec<&Node> = match &order.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![order],
            };
            for item in items {
                let Some(text) = item.as_str() else {
                    self.err(
                        item.pos,
                        &order_path,
                        "an order is `column` or `column desc`",
                    );
                    continue;
                };
                if is_dynamic(item) {
                    continue;
                }
                let mut words = text.split_whitespace();
                let column = words.next().unwrap_or_default();
                let direction = words.next();
                if !matches!(direction, None | Some("asc") | Some("desc")) || words.next().is_some()
                {
                    self.err(item.pos, &order_path, format!("`{text}` is not an order"))
                        .hint = Some("write `column`, `column asc` or `column desc`".into());
                    continue;
                }
                self.check_column(column, item.pos, &order_path, table);
            }
        }
    }

    fn check_columns_of(&mut self, values: &Node, path: &str, table: &Table) {
        let Some(entries) = values.as_map() else {
            return;
        };
        for entry in entries {
            let column_path = join(path, &entry.key);
            if !self.check_column(&entry.key, entry.key_pos, &column_path, table) {
                continue;
            }
            if is_dynamic(&entry.value) {
                continue;
            }
            let column = table.column(&entry.key).expect("checked above");
            if let Err(problem) =
                crate::model::column_value_problem(column.ty, &entry.value.to_json())
            {
                self.err(
                    entry.value.pos,
                    &column_path,
                    format!("the value {problem}"),
                );
            }
        }
    }

    fn check_column(&mut self, name: &str, pos: Pos, path: &str, table: &Table) -> bool {
        if table.column(name).is_some() {
            return true;
        }
        let hint = match did_you_mean(name, table.columns.iter().map(|c| c.name.as_str())) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "the columns of `{}` are: {}",
                table.name,
                table
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.err(
            pos,
            path,
            format!("the table `{}` has no column `{name}`", table.name),
        )
        .hint = Some(hint);
        false
    }
}

fn with_path(call_path: &str) -> String {
    // `call_path` points at `...steps[0].call`; the inputs sit beside it.
    match call_path.rsplit_once('.') {
        Some((step, _)) => join(step, "with"),
        None => "with".to_string(),
    }
}

/// Milliseconds in `500`, `250ms`, `2s`, `1m`.
pub(super) fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "ms"),
    };
    let n: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return None,
    };
    n.checked_mul(factor)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_step_references() {
        assert_eq!(
            step_references("steps.order.id + steps?.b.x"),
            vec!["order", "b"]
        );
        assert_eq!(step_references("steps[\"my_step\"].id"), vec!["my_step"]);
        assert!(step_references("mysteps.x + a.steps.y + steps").is_empty());
        assert_eq!(
            step_references("\"see steps.no\" + `and ${steps.yes}` + steps.also"),
            vec!["also"]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1m"), Some(60000));
        assert_eq!(parse_duration_ms("15"), Some(15));
        assert_eq!(parse_duration_ms("2h"), None);
        assert_eq!(parse_duration_ms("s"), None);
    }

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(join("", "apis"), "apis");
        assert_eq!(join("apis", "create-order"), "apis.create-order");
        assert_eq!(join("x", "a b"), "x[\"a b\"]");
    }
}
