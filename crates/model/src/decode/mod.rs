//! Turns one file's YAML tree into model items, reporting every problem it
//! finds instead of stopping at the first.
//!
//! Checks that need the whole project (a table or function declared in another
//! file) are queued as [`Deferred`] and run by `load` once every file is read.
//!
//! This file holds the decoder, the readers of plain YAML values it shares and
//! the file's top level; each kind of content has its own file, all adding to
//! the one `FileDecoder`: `expressions` compiles templates and expressions,
//! `items` reads tables, APIs, workflows and functions with their parameters
//! and triggers, `steps` reads steps and their kinds, `actions` reads
//! `action` steps against the catalogue, and `checks` runs the deferred checks.

mod actions;
mod checks;
mod expressions;
mod items;
mod steps;

use std::collections::HashSet;
use std::sync::Arc;

use super::diagnostic::Diagnostic;
use super::yaml::{Entry, Node, Pos, Value};
pub(super) use super::yaml::{index, join};
use super::*;
use paywire_expr::Evaluator;
use paywire_support::did_you_mean;

const TOP_LEVEL: &[&str] = &["tables", "apis", "workflows", "functions"];

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

fn with_path(call_path: &str) -> String {
    // `call_path` points at `...steps[0].call`; the inputs sit beside it.
    match call_path.rsplit_once('.') {
        Some((step, _)) => join(step, "with"),
        None => "with".to_string(),
    }
}

impl<'e> FileDecoder<'e> {
    pub(super) fn new(file: &str, evaluator: &'e Evaluator) -> Self {
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

    // ----- the file -----

    pub(super) fn file(&mut self, root: &Node) -> FileItems {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_odd_keys() {
        assert_eq!(join("", "apis"), "apis");
        assert_eq!(join("apis", "create-order"), "apis.create-order");
        assert_eq!(join("x", "a b"), "x[\"a b\"]");
    }
}
