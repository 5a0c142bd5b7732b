//! The project model: typed workflows, APIs, functions and tables, built once
//! from YAML by the loader and read by everything else.
//!
//! Nothing outside this module sees YAML. Every expression in the model is
//! already compiled, every action already resolved against the catalogue, and
//! every cross-reference (tables, columns, step ids, functions) already
//! checked. The model knows nothing about HTTP or SQL.

pub mod catalogue;
mod column_value;
mod decode;
mod diagnostic;
mod load;
pub mod params;
mod routes;
pub mod trigger;
pub mod yaml;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::catalogue::ActionSpec;
use paywire_expr::{Expr, Template};

pub use column_value::{ColumnValue, ColumnValueError, column_value};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{LoadError, MAX_FILE_BYTES, load_project, load_project_files};
pub use params::{FieldError, Param, ParamType};
pub use paywire_support::did_you_mean;
pub use routes::{RouteMatch, RouteTable, route_pattern};
pub use trigger::{StripeTrigger, Trigger};
pub use yaml::Pos;

/// The longest one `wait` step may wait, in milliseconds.
pub const MAX_WAIT_MS: u64 = 600_000;

/// A loaded, checked project.
#[derive(Debug, Default)]
pub struct Project {
    pub tables: BTreeMap<String, Arc<Table>>,
    pub apis: Vec<Arc<Api>>,
    pub workflows: BTreeMap<String, Arc<Workflow>>,
    pub functions: BTreeMap<String, Arc<Function>>,
    /// The files the project was read from, relative to its folder.
    pub files: Vec<String>,
    /// Which API answers which method and path.
    pub routes: RouteTable,
    /// What names this version of the project: a digest of its files' names
    /// and contents, the same on every instance that loads the same files.
    pub version: String,
}

/// Where something was declared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: Arc<str>,
    pub pos: Pos,
    /// The YAML path, e.g. `apis.create-order.steps[0]`.
    pub path: String,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

#[derive(Debug)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    pub primary_key: String,
    pub origin: Origin,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub primary_key: bool,
    /// Refuses rows without a value (SQL `NOT NULL`).
    pub required: bool,
    pub unique: bool,
    pub default: Option<serde_json::Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    Text,
    Integer,
    Number,
    Boolean,
    /// An instant, stored as RFC 3339 text in UTC.
    Timestamp,
    /// Any JSON value, stored as its text.
    Json,
}

impl ColumnType {
    pub const NAMES: &'static [&'static str] =
        &["text", "integer", "number", "boolean", "timestamp", "json"];

    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name {
            "text" => ColumnType::Text,
            "integer" => ColumnType::Integer,
            "number" => ColumnType::Number,
            "boolean" => ColumnType::Boolean,
            "timestamp" => ColumnType::Timestamp,
            "json" => ColumnType::Json,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Number => "number",
            ColumnType::Boolean => "boolean",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Json => "json",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub const NAMES: &'static [&'static str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

    pub fn parse(name: &str) -> Option<HttpMethod> {
        Some(match name.to_ascii_uppercase().as_str() {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "PATCH" => HttpMethod::Patch,
            "DELETE" => HttpMethod::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// An HTTP endpoint whose requests run a workflow of steps.
#[derive(Debug)]
pub struct Api {
    pub name: String,
    pub method: HttpMethod,
    /// The path as written, with `:name` segments for path parameters.
    pub path: String,
    pub path_params: Vec<String>,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    pub origin: Origin,
}

/// A workflow that runs in the background, started by a trigger.
#[derive(Debug)]
pub struct Workflow {
    pub name: String,
    pub trigger: Trigger,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    pub origin: Origin,
}

/// A reusable list of steps with parameters, called with `call` and giving
/// back a value with `return`.
#[derive(Debug)]
pub struct Function {
    pub name: String,
    pub params: Vec<Param>,
    pub steps: Vec<Step>,
    pub origin: Origin,
}

#[derive(Debug)]
pub struct Step {
    /// The builder's name for the step; its result is `steps.<id>`.
    pub id: Option<String>,
    /// The step runs only when this is true.
    pub when: Option<Expr>,
    pub kind: StepKind,
    /// The step's path inside its API, workflow or function, e.g.
    /// `steps[2].then[0]`: stable across runs, so a run's record points back
    /// at the step that made it.
    pub key: String,
    pub origin: Origin,
}

#[derive(Debug)]
pub enum StepKind {
    Action {
        action: &'static ActionSpec,
        input: Template,
    },
    If {
        condition: Expr,
        then: Vec<Step>,
        otherwise: Vec<Step>,
    },
    Switch {
        on: Expr,
        cases: Vec<SwitchCase>,
        default: Option<Vec<Step>>,
    },
    ForEach {
        items: Expr,
        item_name: String,
        index_name: String,
        steps: Vec<Step>,
    },
    While {
        condition: Expr,
        max_iterations: u64,
        steps: Vec<Step>,
    },
    Try {
        steps: Vec<Step>,
        catch: Vec<Step>,
        error_name: String,
    },
    Throw {
        message: Template,
        name: Template,
        cause: Template,
        status: Option<u16>,
    },
    Response {
        status: Template,
        headers: Template,
        body: Template,
        /// Keep running the steps after this one once the caller has its answer.
        keep_running: bool,
    },
    Return {
        value: Template,
    },
    Set {
        var: String,
        value: Template,
    },
    Log {
        level: LogLevel,
        message: Template,
    },
    Wait {
        milliseconds: Template,
    },
    Call {
        function: String,
        input: Template,
    },
    Start {
        workflow: String,
        input: Template,
    },
}

impl StepKind {
    /// The step's kind as builders write it: the action's name or the
    /// control keyword.
    pub fn label(&self) -> &'static str {
        match self {
            StepKind::Action { action, .. } => action.name,
            StepKind::If { .. } => "if",
            StepKind::Switch { .. } => "switch",
            StepKind::ForEach { .. } => "for_each",
            StepKind::While { .. } => "while",
            StepKind::Try { .. } => "try",
            StepKind::Throw { .. } => "throw",
            StepKind::Response { .. } => "response",
            StepKind::Return { .. } => "return",
            StepKind::Set { .. } => "set",
            StepKind::Log { .. } => "log",
            StepKind::Wait { .. } => "wait",
            StepKind::Call { .. } => "call",
            StepKind::Start { .. } => "start",
        }
    }
}

#[derive(Debug)]
pub struct SwitchCase {
    /// Compared with the switch value's text (`"completed"`, `"3"`, `"true"`).
    pub value: String,
    pub steps: Vec<Step>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub const NAMES: &'static [&'static str] = &["debug", "info", "warn", "error"];

    pub fn parse(name: &str) -> Option<LogLevel> {
        Some(match name {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => return None,
        })
    }
}

impl Project {
    pub fn api(&self, name: &str) -> Option<&Arc<Api>> {
        self.apis.iter().find(|a| a.name == name)
    }
}
