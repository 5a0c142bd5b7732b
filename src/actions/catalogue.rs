//! The catalogue of actions a step can run, as data.
//!
//! The loader checks every action step against its entry (unknown or missing
//! inputs, literals of the wrong type); the runner hands the rendered input to
//! the executor of the entry's family; documentation is generated from it.

#[derive(Debug)]
pub struct ActionSpec {
    pub name: &'static str,
    pub family: Family,
    pub summary: &'static str,
    pub inputs: &'static [InputSpec],
    /// What `steps.<id>` holds after the step.
    pub result: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Table,
}

#[derive(Debug)]
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
            InputKind::Any => true,
        }
    }
}

const fn input(
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

pub const ON_CONFLICT: &[&str] = &["error", "nothing", "update"];
pub const FILTER_OPERATORS: &[&str] =
    &["eq", "ne", "gt", "gte", "lt", "lte", "like", "in", "not_in"];

pub static ACTIONS: &[ActionSpec] = &[
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
    },
    ActionSpec {
        name: "table.delete",
        family: Family::Table,
        summary: "Deletes the row with an id, or the rows that match filters.",
        inputs: &[TABLE, ID, WHERE, ALL],
        result: "`{deleted: N}`, the number of rows deleted.",
    },
];

pub fn find(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().map(|a| a.name)
}

impl ActionSpec {
    pub fn input(&self, name: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.name == name)
    }
}
