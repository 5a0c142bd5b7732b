//! Stripe's form encoding, for the offline Stripe-compatible sandbox.
//!
//! Stripe's API takes `application/x-www-form-urlencoded` bodies (and query
//! strings for `GET`) whose keys nest with brackets:
//! `line_items[0][price]=p&line_items[0][quantity]=2&expand[]=customer`.
//! This module turns such input into JSON and back, and checks it against a
//! declared parameter spec the way Stripe's API does:
//!
//! * [`decode`] parses a body into a JSON object whose leaves are all strings;
//! * [`encode`] is its inverse, for paywire's own clients and tests;
//! * [`check`] validates decoded parameters against a static [`Param`] spec,
//!   converts leaves to typed JSON and reports the first problem as a
//!   [`ParamError`] carrying Stripe's `param`, `code` and `message`;
//!
//! An empty value (`description=`) is how Stripe clients unset a field, so it
//! is kept as `""` all the way through: the caller decides what unsetting
//! means for the object it updates.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// Most bracket levels a key may have (`a[b][c]` has two). Stripe's deepest
/// real parameters, such as
/// `line_items[0][price_data][product_data][metadata][key]`, use five.
pub const MAX_DEPTH: usize = 10;

/// Largest array index accepted, and so the longest array a body can build.
pub const MAX_INDEX: usize = 10_000;

/// Most values, objects and arrays one body may build: a key adds one for its
/// value and one for each bracket level that no earlier key opened. Each costs
/// an allocation, so this bounds the memory a body can make the decoder take
/// (without it, a 1 MiB body of distinct keys ten levels deep built about
/// 170 MiB); Stripe's real requests build at most a few thousand.
pub const MAX_NODES: usize = 20_000;

/// Most keys a metadata object may have, as Stripe enforces.
pub const METADATA_MAX_KEYS: usize = 50;

/// Longest metadata key, in characters, as Stripe enforces.
pub const METADATA_MAX_KEY_CHARS: usize = 40;

/// Longest metadata value, in characters, as Stripe enforces.
pub const METADATA_MAX_VALUE_CHARS: usize = 500;

/// Parameters whose bracketed children are always object keys, even when they
/// are all digits or empty: `metadata[2024]=x` is the metadata key `"2024"`,
/// never an array element, and `metadata[]=x` the key `""`. Every metadata
/// parameter in Stripe's API is named this way.
const STRING_KEYED_PARAMS: &[&str] = &["metadata"];

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Why a form body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// A key with no name before its brackets, or with unbalanced or
    /// misplaced brackets (`a[b`, `a]`, `a[b]c`, `[a]`).
    Malformed { key: String },
    /// The same parameter was given two incompatible shapes, such as
    /// `a=1&a[b]=2` or `a[0]=x&a[b]=y`. `param` is the bracket path of the
    /// parameter that has both shapes.
    Conflict {
        param: String,
        first: Shape,
        then: Shape,
    },
    /// A key nested deeper than [`MAX_DEPTH`] bracket levels; `param` is
    /// the key cut just after the first level too many.
    TooDeep { param: String },
    /// An array index above [`MAX_INDEX`], or an `[]` list grown past it.
    IndexTooLarge { param: String },
    /// A body that builds more than [`MAX_NODES`] values, objects and arrays;
    /// `param` is the key that went past the limit.
    TooMany { param: String },
}

/// The shape a parameter takes in a form body, used to explain conflicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A plain value: `a=1`.
    Value,
    /// An object: `a[b]=1`.
    Hash,
    /// An array built from numeric indexes: `a[0]=1`.
    IndexedArray,
    /// An array built by appending: `a[]=1`.
    AppendedArray,
}

impl FormError {
    /// The key or bracket path the error is about.
    pub fn param(&self) -> &str {
        match self {
            FormError::Malformed { key } => key,
            FormError::Conflict { param, .. }
            | FormError::TooDeep { param }
            | FormError::IndexTooLarge { param }
            | FormError::TooMany { param } => param,
        }
    }
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::Malformed { key } => write!(f, "Invalid parameter name: {key}"),
            FormError::Conflict { param, first, then } => {
                write!(
                    f,
                    "Invalid parameter {param}: given as {first} and as {then}"
                )
            }
            FormError::TooDeep { param } => write!(
                f,
                "Invalid parameter name: {param}... is nested more than {MAX_DEPTH} levels deep"
            ),
            FormError::IndexTooLarge { param } => write!(
                f,
                "Invalid array index: {param} (indexes may not exceed {MAX_INDEX})"
            ),
            FormError::TooMany { param } => write!(
                f,
                "Invalid parameter {param}: the request holds more than {MAX_NODES} values, hashes and arrays"
            ),
        }
    }
}

impl std::error::Error for FormError {}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Shape::Value => "a value",
            Shape::Hash => "a hash",
            Shape::IndexedArray => "an indexed array",
            Shape::AppendedArray => "an [] array",
        })
    }
}

/// Decodes a Stripe form body or query string into a JSON object.
///
/// Brackets nest: `a[b]=1` is an object, `a[0]=1` an array ordered by index
/// (gaps are closed up), `a[]=1` appends to an array. A run of `a[][x]=..`
/// keys fills one object until a key repeats, as Rack does, so
/// `a[][x]=1&a[][y]=2&a[][x]=3` is `[{"x":"1","y":"2"},{"x":"3"}]`. Every leaf
/// is a string, `""` for an empty value; a repeated plain key keeps its last
/// value. Percent-escapes and `+` are decoded before brackets are read, and
/// invalid UTF-8 becomes U+FFFD. The input is the raw body, or the query
/// string without its leading `?`.
///
/// # Errors
///
/// A [`FormError`] for a malformed key, a parameter given two shapes, a key
/// nested deeper than [`MAX_DEPTH`] or indexed beyond [`MAX_INDEX`], or a
/// body that builds more than [`MAX_NODES`] values.
pub fn decode(input: &[u8]) -> Result<Map<String, Value>, FormError> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    let mut built = 0;
    for (key, value) in form_urlencoded::parse(input) {
        let key = parse_key(&key)?;
        let placed = insert_child(
            &mut root,
            key.name,
            &key.segments,
            value.into_owned(),
            &mut built,
        );
        placed.map_err(|clash| match clash {
            Clash::Shape {
                remaining,
                existing,
            } => {
                let depth = key.segments.len() - remaining;
                FormError::Conflict {
                    param: key.render(depth),
                    first: existing,
                    then: key.segments.get(depth).map_or(Shape::Value, Segment::shape),
                }
            }
            Clash::TooLong { remaining } => FormError::IndexTooLarge {
                param: key.render(key.segments.len() - remaining + 1),
            },
        })?;
        // A key builds at most `MAX_DEPTH + 1` nodes, so checking after each
        // one keeps the total within a key of the limit.
        if built > MAX_NODES {
            return Err(FormError::TooMany {
                param: key.render(key.segments.len()),
            });
        }
    }
    Ok(root
        .into_iter()
        .map(|(name, node)| (name, node.into_json()))
        .collect())
}

/// A parsed key: `line_items[0][price]` is the name `line_items` followed by
/// the segments `[0]` and `[price]`.
struct Key<'a> {
    name: &'a str,
    segments: Vec<Segment<'a>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    /// `[name]`
    Key(&'a str),
    /// `[12]`
    Index(usize),
    /// `[]`
    Append,
}

impl Segment<'_> {
    fn shape(&self) -> Shape {
        match self {
            Segment::Key(_) => Shape::Hash,
            Segment::Index(_) => Shape::IndexedArray,
            Segment::Append => Shape::AppendedArray,
        }
    }
}

impl Key<'_> {
    /// The bracket path made of the name and the first `depth` segments.
    fn render(&self, depth: usize) -> String {
        let mut path = self.name.to_owned();
        for segment in self.segments.iter().take(depth) {
            path.push('[');
            match segment {
                Segment::Key(key) => path.push_str(key),
                Segment::Index(index) => path.push_str(&index.to_string()),
                Segment::Append => {}
            }
            path.push(']');
        }
        path
    }
}

fn parse_key(raw: &str) -> Result<Key<'_>, FormError> {
    let malformed = || FormError::Malformed {
        key: raw.to_owned(),
    };
    let (name, mut rest) = raw.split_at(raw.find('[').unwrap_or(raw.len()));
    if name.is_empty() || name.contains(']') {
        return Err(malformed());
    }
    let mut key = Key {
        name,
        segments: Vec::new(),
    };
    let mut string_keyed = STRING_KEYED_PARAMS.contains(&name);
    while !rest.is_empty() {
        let opened = rest.strip_prefix('[').ok_or_else(malformed)?;
        let (inner, tail) = opened.split_once(']').ok_or_else(malformed)?;
        if inner.contains('[') {
            return Err(malformed());
        }
        if key.segments.len() == MAX_DEPTH {
            let param = format!("{}[{inner}]", key.render(MAX_DEPTH));
            return Err(FormError::TooDeep { param });
        }
        let segment = if string_keyed {
            Segment::Key(inner)
        } else if inner.is_empty() {
            Segment::Append
        } else if inner.bytes().all(|b| b.is_ascii_digit()) {
            match inner.parse::<usize>() {
                Ok(index) if index <= MAX_INDEX => Segment::Index(index),
                _ => {
                    let param = format!("{}[{inner}]", key.render(key.segments.len()));
                    return Err(FormError::IndexTooLarge { param });
                }
            }
        } else {
            Segment::Key(inner)
        };
        string_keyed = matches!(segment, Segment::Key(k) if STRING_KEYED_PARAMS.contains(&k));
        key.segments.push(segment);
        rest = tail;
    }
    Ok(key)
}

/// The tree being built while decoding; it keeps how arrays were written so
/// that mixing styles can be refused and indexes sorted at the end.
enum Node {
    Leaf(String),
    Hash(BTreeMap<String, Node>),
    Indexed(BTreeMap<usize, Node>),
    Appended(Vec<Node>),
}

/// Why a value could not be placed; `remaining` counts the key's segments not
/// yet consumed where it happened, which locates the parameter.
enum Clash {
    Shape { remaining: usize, existing: Shape },
    TooLong { remaining: usize },
}

impl Node {
    fn shape(&self) -> Shape {
        match self {
            Node::Leaf(_) => Shape::Value,
            Node::Hash(_) => Shape::Hash,
            Node::Indexed(_) => Shape::IndexedArray,
            Node::Appended(_) => Shape::AppendedArray,
        }
    }

    /// A fresh node holding `value` at the path `rest`; `built` counts the
    /// nodes made.
    fn build(rest: &[Segment<'_>], value: String, built: &mut usize) -> Node {
        *built += 1;
        match rest.split_first() {
            None => Node::Leaf(value),
            Some((Segment::Key(key), tail)) => Node::Hash(BTreeMap::from([(
                (*key).to_owned(),
                Node::build(tail, value, built),
            )])),
            Some((Segment::Index(index), tail)) => {
                Node::Indexed(BTreeMap::from([(*index, Node::build(tail, value, built))]))
            }
            Some((Segment::Append, tail)) => Node::Appended(vec![Node::build(tail, value, built)]),
        }
    }

    /// Places `value` at the path `rest` below this node; `built` counts the
    /// nodes made.
    fn insert(
        &mut self,
        rest: &[Segment<'_>],
        value: String,
        built: &mut usize,
    ) -> Result<(), Clash> {
        match (self, rest.split_first()) {
            (Node::Leaf(old), None) => {
                *old = value;
                Ok(())
            }
            (Node::Hash(children), Some((Segment::Key(key), tail))) => {
                insert_child(children, key, tail, value, built)
            }
            (Node::Indexed(items), Some((Segment::Index(index), tail))) => {
                match items.get_mut(index) {
                    Some(item) => item.insert(tail, value, built),
                    None => {
                        items.insert(*index, Node::build(tail, value, built));
                        Ok(())
                    }
                }
            }
            (Node::Appended(items), Some((Segment::Append, tail))) => {
                if let Some(last) = items.last_mut()
                    && continues(last, tail)
                {
                    return last.insert(tail, value, built);
                }
                if items.len() > MAX_INDEX {
                    return Err(Clash::TooLong {
                        remaining: rest.len(),
                    });
                }
                items.push(Node::build(tail, value, built));
                Ok(())
            }
            (node, _) => Err(Clash::Shape {
                remaining: rest.len(),
                existing: node.shape(),
            }),
        }
    }

    fn into_json(self) -> Value {
        match self {
            Node::Leaf(value) => Value::String(value),
            Node::Hash(children) => Value::Object(
                children
                    .into_iter()
                    .map(|(key, child)| (key, child.into_json()))
                    .collect(),
            ),
            Node::Indexed(items) => {
                Value::Array(items.into_values().map(Node::into_json).collect())
            }
            Node::Appended(items) => Value::Array(items.into_iter().map(Node::into_json).collect()),
        }
    }
}

fn insert_child(
    children: &mut BTreeMap<String, Node>,
    key: &str,
    rest: &[Segment<'_>],
    value: String,
    built: &mut usize,
) -> Result<(), Clash> {
    match children.get_mut(key) {
        Some(child) => child.insert(rest, value, built),
        None => {
            children.insert(key.to_owned(), Node::build(rest, value, built));
            Ok(())
        }
    }
}

/// Whether `a[][x]=..` adds to the last element of an `[]` list rather than
/// starting a new one: Rack's rule, true while the last element is an object
/// that does not hold the path yet.
fn continues(last: &Node, rest: &[Segment<'_>]) -> bool {
    matches!(rest.first(), Some(Segment::Key(_))) && !occupied(last, rest)
}

/// Whether `rest` already leads somewhere inside `node`, following object keys
/// only: a nested array (`a[][tags][]`) keeps filling the same element.
fn occupied(node: &Node, rest: &[Segment<'_>]) -> bool {
    match (node, rest.split_first()) {
        (_, None) => true,
        (Node::Hash(children), Some((Segment::Key(key), tail))) => children
            .get(*key)
            .is_some_and(|child| occupied(child, tail)),
        (_, Some((Segment::Key(_), _))) => true,
        (_, Some(_)) => false,
    }
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Encodes JSON as a Stripe form body, the inverse of [`decode`].
///
/// Objects become `a[b]=..`, arrays `a[0]=..`, booleans `true`/`false`,
/// numbers their JSON text and `null` the empty string. An empty object or
/// array is sent as `a=`, which is how Stripe clients unset a hash or list.
/// Keys and values are percent-encoded (brackets included), spaces as `+`.
///
/// `decode(encode(x))` equals `x` with every leaf turned into a string, given
/// that `x` has no empty object or array, no empty key, no key containing a
/// bracket, and no all-digit key in an object other than a metadata object:
/// the form encoding has no way to express those.
#[must_use]
pub fn encode(params: &Map<String, Value>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        encode_value(&mut form, name, value);
    }
    form.finish()
}

fn encode_value(form: &mut form_urlencoded::Serializer<'_, String>, key: &str, value: &Value) {
    match value {
        Value::Object(children) if !children.is_empty() => {
            for (child, value) in children {
                encode_value(form, &format!("{key}[{child}]"), value);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (index, value) in items.iter().enumerate() {
                encode_value(form, &format!("{key}[{index}]"), value);
            }
        }
        Value::Object(_) | Value::Array(_) | Value::Null => {
            form.append_pair(key, "");
        }
        Value::String(text) => {
            form.append_pair(key, text);
        }
        Value::Bool(flag) => {
            form.append_pair(key, if *flag { "true" } else { "false" });
        }
        Value::Number(number) => {
            form.append_pair(key, &number.to_string());
        }
    }
}

// ---------------------------------------------------------------------------
// Checking against a spec
// ---------------------------------------------------------------------------

/// One declared parameter of an endpoint (or of a nested object).
///
/// Specs are plain static data (the module's tests hold a fuller example):
///
/// ```ignore
/// static LINE_ITEM: &[Param] = &[
///     Param::optional("price", Kind::String),
///     Param::optional("quantity", Kind::Integer),
/// ];
/// static CREATE_SESSION: &[Param] = &[
///     Param::required("mode", Kind::Enum(&["payment", "setup", "subscription"])),
///     Param::optional("line_items", Kind::ObjectList(LINE_ITEM)),
///     EXPAND,
/// ];
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

impl Param {
    /// A parameter the request must carry, with a non-empty value.
    pub const fn required(name: &'static str, kind: Kind) -> Param {
        Param {
            name,
            kind,
            required: true,
        }
    }

    /// A parameter the request may carry; `""` is accepted and kept, meaning
    /// "unset".
    pub const fn optional(name: &'static str, kind: Kind) -> Param {
        Param {
            name,
            kind,
            required: false,
        }
    }
}

/// Stripe's `expand` parameter, accepted by every endpoint: add it to each
/// top-level spec.
pub const EXPAND: Param = Param::optional("expand", Kind::StringList);

/// What a parameter holds, and so how [`check`] converts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any string, kept as is.
    String,
    /// A signed 64-bit integer written in decimal (`-12`), converted to a
    /// JSON number. `1.5`, `1e3`, `+1` and ` 1` are refused.
    Integer,
    /// `true` or `false`, converted to a JSON boolean.
    Boolean,
    /// Unix seconds; checked and converted like [`Kind::Integer`].
    Timestamp,
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// Stripe metadata: an object of string values, within Stripe's limits on
    /// key count, key length and value length. A `""` value is kept: it
    /// unsets that key.
    Metadata,
    /// An object with the given parameters.
    Object(&'static [Param]),
    /// An array of objects with the given parameters (`line_items[0][price]`).
    ObjectList(&'static [Param]),
    /// An array of strings (`expand[]=a`, `payment_method_types[0]=card`).
    StringList,
    /// Anything, kept exactly as decoded.
    Any,
}

/// The first problem [`check`] found, in the terms of Stripe's error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// Stripe's bracket path of the parameter, e.g. `line_items[0][quantity]`.
    pub param: String,
    /// Stripe's error code, or `None` where Stripe's response carries no code
    /// (type errors such as `Invalid boolean: x` and `Invalid array` come
    /// without one).
    pub code: Option<&'static str>,
    /// Stripe's human-readable message.
    pub message: String,
}

/// The error codes [`check`] produces; all are in Stripe's documented list.
pub mod code {
    /// A parameter the endpoint does not know.
    pub const PARAMETER_UNKNOWN: &str = "parameter_unknown";
    /// A required parameter is absent.
    pub const PARAMETER_MISSING: &str = "parameter_missing";
    /// A required parameter was sent as `""`, which would unset it.
    pub const PARAMETER_INVALID_EMPTY: &str = "parameter_invalid_empty";
    /// An integer or timestamp parameter is not an integer.
    pub const PARAMETER_INVALID_INTEGER: &str = "parameter_invalid_integer";
}

impl ParamError {
    fn new(param: impl Into<String>, code: Option<&'static str>, message: String) -> ParamError {
        ParamError {
            param: param.into(),
            code,
            message,
        }
    }

    fn unknown(path: String, suggestion: Option<&str>) -> ParamError {
        let message = match suggestion {
            Some(name) => format!("Received unknown parameter: {path}. Did you mean {name}?"),
            None => format!("Received unknown parameter: {path}"),
        };
        ParamError::new(path, Some(code::PARAMETER_UNKNOWN), message)
    }

    fn missing(path: String) -> ParamError {
        let message = format!("Missing required param: {path}.");
        ParamError::new(path, Some(code::PARAMETER_MISSING), message)
    }

    fn empty(path: &str) -> ParamError {
        let message = format!(
            "You passed an empty string for '{path}'. We assume empty values are an attempt to \
             unset a parameter; however '{path}' cannot be unset. You should remove '{path}' \
             from your request or supply a non-empty value."
        );
        ParamError::new(path, Some(code::PARAMETER_INVALID_EMPTY), message)
    }

    fn invalid_integer(path: &str, value: &Value) -> ParamError {
        let message = format!("Invalid integer: {}", display(value));
        ParamError::new(path, Some(code::PARAMETER_INVALID_INTEGER), message)
    }

    fn invalid_boolean(path: &str, value: &Value) -> ParamError {
        ParamError::new(path, None, format!("Invalid boolean: {}", display(value)))
    }

    fn invalid_string(path: &str, value: &Value) -> ParamError {
        ParamError::new(path, None, format!("Invalid string: {}", display(value)))
    }

    fn invalid_enum(path: &str, options: &[&str]) -> ParamError {
        let message = format!("Invalid {path}: must be one of {}", one_of(options));
        ParamError::new(path, None, message)
    }

    fn invalid_hash(path: &str) -> ParamError {
        ParamError::new(path, None, "Invalid hash".to_owned())
    }

    fn invalid_array(path: &str) -> ParamError {
        ParamError::new(path, None, "Invalid array".to_owned())
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParamError {}

/// A body that cannot be decoded is reported like any other bad parameter,
/// without a code: Stripe has none for it.
impl From<FormError> for ParamError {
    fn from(error: FormError) -> ParamError {
        ParamError::new(error.param(), None, error.to_string())
    }
}

/// Checks decoded parameters against `spec` and returns them typed.
///
/// Integers and timestamps become JSON numbers, booleans JSON booleans,
/// nested objects and lists are checked against their own specs, and
/// [`Kind::Any`] values are kept as they are. `""` (or `null`) for an
/// optional parameter of any kind is kept as `""`, meaning "unset"; for a
/// required one it is an error. Already-typed input (numbers, booleans) is
/// accepted too, so JSON built by hand can be checked.
///
/// Like Stripe, only the first problem is reported. At each level, unknown
/// parameters (in key order) come first, then the spec's parameters in the
/// order they are declared.
///
/// # Errors
///
/// The first [`ParamError`] found: an unknown or missing parameter, an empty
/// required one, or a value of the wrong type or outside Stripe's limits.
pub fn check(
    spec: &[Param],
    params: &Map<String, Value>,
) -> Result<Map<String, Value>, ParamError> {
    check_object(spec, params, "")
}

fn check_object(
    spec: &[Param],
    params: &Map<String, Value>,
    path: &str,
) -> Result<Map<String, Value>, ParamError> {
    if let Some(unknown) = params
        .keys()
        .find(|key| !spec.iter().any(|param| param.name == key.as_str()))
    {
        return Err(ParamError::unknown(
            child_path(path, unknown),
            suggestion(unknown, spec),
        ));
    }
    let mut checked = Map::new();
    for param in spec {
        match params.get(param.name) {
            Some(value) => {
                let value = check_value(param, value, &child_path(path, param.name))?;
                checked.insert(param.name.to_owned(), value);
            }
            None if param.required => {
                return Err(ParamError::missing(child_path(path, param.name)));
            }
            None => {}
        }
    }
    Ok(checked)
}

fn check_value(param: &Param, value: &Value, path: &str) -> Result<Value, ParamError> {
    if is_unset(value) {
        return if param.required {
            Err(ParamError::empty(path))
        } else {
            Ok(Value::String(String::new()))
        };
    }
    match param.kind {
        Kind::String => text(value, path).map(Value::String),
        Kind::Integer | Kind::Timestamp => integer(value)
            .map(Value::from)
            .ok_or_else(|| ParamError::invalid_integer(path, value)),
        Kind::Boolean => boolean(value)
            .map(Value::Bool)
            .ok_or_else(|| ParamError::invalid_boolean(path, value)),
        Kind::Enum(options) => {
            let choice = text(value, path)?;
            if options.contains(&choice.as_str()) {
                Ok(Value::String(choice))
            } else {
                Err(ParamError::invalid_enum(path, options))
            }
        }
        Kind::Metadata => check_metadata(value, path),
        Kind::Object(spec) => match value {
            Value::Object(children) => check_object(spec, children, path).map(Value::Object),
            _ => Err(ParamError::invalid_hash(path)),
        },
        Kind::ObjectList(spec) => list(value, path, |item, item_path| match item {
            Value::Object(children) => check_object(spec, children, item_path).map(Value::Object),
            _ => Err(ParamError::invalid_hash(item_path)),
        }),
        Kind::StringList => list(value, path, |item, item_path| {
            text(item, item_path).map(Value::String)
        }),
        Kind::Any => Ok(value.clone()),
    }
}

fn check_metadata(value: &Value, path: &str) -> Result<Value, ParamError> {
    let Value::Object(entries) = value else {
        return Err(ParamError::invalid_hash(path));
    };
    if entries.len() > METADATA_MAX_KEYS {
        let message = format!(
            "Metadata can have up to {METADATA_MAX_KEYS} keys, but you've set {}. \
             Email us at support+metadata@stripe.com for more information.",
            entries.len()
        );
        return Err(ParamError::new(path, None, message));
    }
    let mut checked = Map::new();
    for (key, value) in entries {
        if key.chars().count() > METADATA_MAX_KEY_CHARS {
            let message = format!(
                "Invalid key: {key} must be a string under {METADATA_MAX_KEY_CHARS} characters"
            );
            return Err(ParamError::new(path, None, message));
        }
        let value = match value {
            Value::String(text) if text.chars().count() <= METADATA_MAX_VALUE_CHARS => text.clone(),
            Value::Null => String::new(),
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            _ => {
                let message = format!(
                    "Invalid val: {} must be a string under {METADATA_MAX_VALUE_CHARS} characters",
                    display(value)
                );
                return Err(ParamError::new(path, None, message));
            }
        };
        checked.insert(key.clone(), Value::String(value));
    }
    Ok(Value::Object(checked))
}

/// Checks each element of a list parameter with `check_item`, which gets the
/// element and its bracket path.
fn list(
    value: &Value,
    path: &str,
    check_item: impl Fn(&Value, &str) -> Result<Value, ParamError>,
) -> Result<Value, ParamError> {
    let Value::Array(items) = value else {
        return Err(ParamError::invalid_array(path));
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| check_item(item, &format!("{path}[{index}]")))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

fn text(value: &Value, path: &str) -> Result<String, ParamError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Bool(_) | Value::Number(_) => Ok(value.to_string()),
        Value::Object(_) | Value::Array(_) => Err(ParamError::invalid_string(path, value)),
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok()
        }
        Value::Number(number) => number.as_i64(),
        _ => None,
    }
}

fn boolean(value: &Value) -> Option<bool> {
    match value {
        Value::String(text) if text == "true" => Some(true),
        Value::String(text) if text == "false" => Some(false),
        Value::Bool(flag) => Some(*flag),
        _ => None,
    }
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}[{name}]")
    }
}

/// Stripe's way of listing choices: `a`, `a or b`, `a, b, or c`.
fn one_of(options: &[&str]) -> String {
    match options {
        [] => String::new(),
        [only] => (*only).to_owned(),
        [first, second] => format!("{first} or {second}"),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

/// A value as Stripe's (Ruby) messages show it: strings bare, anything else
/// the way Ruby's `inspect` prints it (`{"k"=>"v"}`, `["a", "b"]`).
fn display(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        _ => {
            let mut out = String::new();
            inspect(value, &mut out, 0);
            out
        }
    }
}

fn inspect(value: &Value, out: &mut String, depth: usize) {
    const MAX_INSPECT_DEPTH: usize = 2 * MAX_DEPTH;
    if depth > MAX_INSPECT_DEPTH {
        out.push_str("...");
        return;
    }
    match value {
        Value::Null => out.push_str("nil"),
        Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        Value::String(text) => inspect_str(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                inspect(item, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (index, (key, item)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                inspect_str(key, out);
                out.push_str("=>");
                inspect(item, out, depth + 1);
            }
            out.push('}');
        }
    }
}

fn inspect_str(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The declared name closest to an unknown one, for Stripe's "Did you mean"
/// hint: at most two edits away, and not a complete rewrite of a short name.
fn suggestion(unknown: &str, spec: &[Param]) -> Option<&'static str> {
    const MAX_EDITS: usize = 2;
    // Long names cannot be within two edits of any real parameter name, and
    // skipping them keeps hostile input from costing quadratic time.
    const MAX_NAME_CHARS: usize = 64;
    if unknown.chars().count() > MAX_NAME_CHARS {
        return None;
    }
    spec.iter()
        .map(|param| (edit_distance(unknown, param.name), param.name))
        .filter(|&(edits, name)| edits <= MAX_EDITS && edits < name.chars().count())
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, name)| name)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decoded(input: &str) -> Value {
        match decode(input.as_bytes()) {
            Ok(map) => Value::Object(map),
            Err(error) => panic!("decode({input:?}) failed: {error}"),
        }
    }

    fn decode_error(input: &str) -> FormError {
        match decode(input.as_bytes()) {
            Ok(map) => panic!("decode({input:?}) succeeded: {map:?}"),
            Err(error) => error,
        }
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    // --- decode -----------------------------------------------------------

    #[test]
    fn decodes_flat_parameters() {
        assert_eq!(
            decoded("mode=payment&currency=usd"),
            json!({"mode": "payment", "currency": "usd"})
        );
        assert_eq!(decoded(""), json!({}));
        assert_eq!(decoded("&&a=1&"), json!({"a": "1"}));
    }

    #[test]
    fn decodes_nested_objects() {
        assert_eq!(
            decoded("metadata[order_id]=42&recurring[interval]=month&recurring[interval_count]=3"),
            json!({
                "metadata": {"order_id": "42"},
                "recurring": {"interval": "month", "interval_count": "3"}
            })
        );
        assert_eq!(
            decoded("a[b][c][d]=deep"),
            json!({"a": {"b": {"c": {"d": "deep"}}}})
        );
    }

    #[test]
    fn decodes_lists_of_objects() {
        assert_eq!(
            decoded(
                "line_items[0][price]=p&line_items[0][quantity]=2\
                 &line_items[1][price_data][currency]=usd\
                 &line_items[1][price_data][product_data][name]=T-shirt\
                 &line_items[1][quantity]=1"
            ),
            json!({"line_items": [
                {"price": "p", "quantity": "2"},
                {"price_data": {"currency": "usd", "product_data": {"name": "T-shirt"}}, "quantity": "1"}
            ]})
        );
    }

    #[test]
    fn decodes_indexed_and_appended_arrays() {
        assert_eq!(
            decoded("expand[]=data.customer&expand[]=x&payment_method_types[0]=card"),
            json!({"expand": ["data.customer", "x"], "payment_method_types": ["card"]})
        );
        assert_eq!(decoded("a[0][0]=x&a[0][1]=y"), json!({"a": [["x", "y"]]}));
    }

    #[test]
    fn orders_indexes_and_closes_gaps() {
        assert_eq!(
            decoded("a[10]=c&a[2]=b&a[0]=a&a[007]=between"),
            json!({"a": ["a", "b", "between", "c"]})
        );
        assert_eq!(
            decoded("line_items[5][price]=second&line_items[3][price]=first"),
            json!({"line_items": [{"price": "first"}, {"price": "second"}]})
        );
    }

    #[test]
    fn appended_objects_group_fields_like_rack() {
        assert_eq!(
            decoded("items[][price]=a&items[][quantity]=1&items[][price]=b&items[][quantity]=2"),
            json!({"items": [{"price": "a", "quantity": "1"}, {"price": "b", "quantity": "2"}]})
        );
        assert_eq!(
            decoded("items[][tags][]=x&items[][tags][]=y&items[][name]=n"),
            json!({"items": [{"tags": ["x", "y"], "name": "n"}]})
        );
    }

    #[test]
    fn keeps_empty_values_as_empty_strings() {
        assert_eq!(
            decoded("description=&metadata[k]=&flag&expand[]="),
            json!({"description": "", "metadata": {"k": ""}, "flag": "", "expand": [""]})
        );
        assert_eq!(decoded("metadata="), json!({"metadata": ""}));
    }

    #[test]
    fn decodes_percent_escapes_and_plus() {
        assert_eq!(
            decoded("metadata%5Bk%5D=a%20b&description=two+words&note=1%2B1%3D2%26more"),
            json!({"metadata": {"k": "a b"}, "description": "two words", "note": "1+1=2&more"})
        );
        assert_eq!(
            decoded(
                "metadata[caf%C3%A9]=cr%C3%A8me&success_url=https%3A%2F%2Fx.test%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D"
            ),
            json!({
                "metadata": {"café": "crème"},
                "success_url": "https://x.test/ok?s={CHECKOUT_SESSION_ID}"
            })
        );
        // Invalid UTF-8 is replaced, not refused.
        assert_eq!(decoded("a=%FF"), json!({"a": "\u{FFFD}"}));
    }

    #[test]
    fn metadata_keys_are_never_array_indexes() {
        assert_eq!(
            decoded("metadata[2024]=year&metadata[0]=zero&payment_intent_data[metadata][7]=x"),
            json!({
                "metadata": {"2024": "year", "0": "zero"},
                "payment_intent_data": {"metadata": {"7": "x"}}
            })
        );
        assert_eq!(decoded("metadata[]=x"), json!({"metadata": {"": "x"}}));
        assert_eq!(
            decoded("metadata[0]=x&metadata[b]=y"),
            json!({"metadata": {"0": "x", "b": "y"}})
        );
    }

    #[test]
    fn repeated_plain_key_keeps_last_value() {
        assert_eq!(decoded("a=1&a=2"), json!({"a": "2"}));
        assert_eq!(decoded("a[0]=1&a[0]=2"), json!({"a": ["2"]}));
    }

    #[test]
    fn refuses_conflicting_shapes_naming_the_parameter() {
        let cases = [
            ("a=1&a[b]=2", "a", Shape::Value, Shape::Hash),
            ("a[b]=2&a=1", "a", Shape::Hash, Shape::Value),
            ("a[0]=x&a[b]=y", "a", Shape::IndexedArray, Shape::Hash),
            (
                "a[0]=x&a[]=y",
                "a",
                Shape::IndexedArray,
                Shape::AppendedArray,
            ),
            (
                "a[]=x&a[0]=y",
                "a",
                Shape::AppendedArray,
                Shape::IndexedArray,
            ),
            (
                "line_items[0][price]=p&line_items[0][price][id]=1",
                "line_items[0][price]",
                Shape::Value,
                Shape::Hash,
            ),
            (
                "line_items[0][price_data][currency]=usd&line_items[0][price_data]=x",
                "line_items[0][price_data]",
                Shape::Hash,
                Shape::Value,
            ),
        ];
        for (input, param, first, then) in cases {
            let expected = FormError::Conflict {
                param: param.to_owned(),
                first,
                then,
            };
            assert_eq!(decode_error(input), expected, "{input}");
        }
        assert_eq!(
            decode_error("a=1&a[b]=2").to_string(),
            "Invalid parameter a: given as a value and as a hash"
        );
    }

    #[test]
    fn refuses_malformed_brackets() {
        for key in [
            "a[b", "a]", "a[b]c", "[a]", "a[b[c]]", "a[b]]", "a[b][", "a]b[",
        ] {
            let input = format!("{key}=1");
            assert_eq!(
                decode_error(&input),
                FormError::Malformed {
                    key: key.to_owned()
                },
                "{input}"
            );
        }
        assert_eq!(
            decode_error("=orphan"),
            FormError::Malformed { key: String::new() }
        );
        assert_eq!(
            decode_error("a[b=1").to_string(),
            "Invalid parameter name: a[b"
        );
    }

    #[test]
    fn refuses_hostile_depth() {
        let at_limit = format!("a{}=x", "[b]".repeat(MAX_DEPTH));
        assert!(decode(at_limit.as_bytes()).is_ok());
        let too_deep = format!("a{}=x", "[b]".repeat(MAX_DEPTH + 1));
        let expected = format!("a{}", "[b]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            decode_error(&too_deep),
            FormError::TooDeep {
                param: expected.clone()
            }
        );
        assert_eq!(
            decode_error(&too_deep).to_string(),
            format!("Invalid parameter name: {expected}... is nested more than 10 levels deep")
        );
        // The error names only the first levels of a hostile key.
        let hostile = format!("a{}=x", "[0]".repeat(100_000));
        assert_eq!(
            decode_error(&hostile),
            FormError::TooDeep {
                param: format!("a{}", "[0]".repeat(MAX_DEPTH + 1))
            }
        );
        let brackets = format!("a{}=x", "[".repeat(100_000));
        assert!(matches!(
            decode(brackets.as_bytes()),
            Err(FormError::Malformed { .. })
        ));
    }

    #[test]
    fn refuses_hostile_indexes() {
        assert!(decode(format!("a[{MAX_INDEX}]=x").as_bytes()).is_ok());
        assert_eq!(
            decode_error(&format!("line_items[0][tax_rates][{}]=x", MAX_INDEX + 1)),
            FormError::IndexTooLarge {
                param: format!("line_items[0][tax_rates][{}]", MAX_INDEX + 1)
            }
        );
        assert!(matches!(
            decode(b"a[99999999999999999999999999999]=x"),
            Err(FormError::IndexTooLarge { .. })
        ));
        let fill = "a[]=x&".repeat(MAX_INDEX + 1);
        assert_eq!(
            decoded(&fill)["a"].as_array().map(Vec::len),
            Some(MAX_INDEX + 1)
        );
        assert_eq!(
            decode_error(&format!("{fill}a[]=one-too-many")),
            FormError::IndexTooLarge {
                param: "a[]".to_owned()
            }
        );
    }

    #[test]
    fn refuses_a_body_that_builds_too_much() {
        // Distinct keys ten levels deep build eleven nodes each.
        let deep = |n: usize| format!("k{n}{}=", "[b]".repeat(MAX_DEPTH));
        let fit = MAX_NODES / (MAX_DEPTH + 1);
        let body: Vec<String> = (0..fit).map(deep).collect();
        assert!(decode(body.join("&").as_bytes()).is_ok());
        let body: Vec<String> = (0..=fit).map(deep).collect();
        assert_eq!(
            decode_error(&body.join("&")),
            FormError::TooMany {
                param: format!("k{fit}{}", "[b]".repeat(MAX_DEPTH))
            }
        );
        // Levels that keys share are built once: `a` and `a[b]`, then a value
        // per key.
        let shared: Vec<String> = (0..MAX_NODES - 2)
            .map(|n| format!("a[b][c{n}]=x"))
            .collect();
        assert!(decode(shared.join("&").as_bytes()).is_ok());
        let one_more = format!("{}&a[b][last]=x", shared.join("&"));
        assert_eq!(
            decode_error(&one_more).to_string(),
            format!(
                "Invalid parameter a[b][last]: the request holds more than {MAX_NODES} values, hashes and arrays"
            )
        );
    }

    /// A small deterministic generator, so the garbage tests need no crate.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % n as u64) as usize
        }
    }

    #[test]
    fn garbage_never_panics_and_decoded_output_round_trips() {
        const PIECES: &[&str] = &[
            "a", "b", "metadata", "0", "1", "12", "[", "]", "[]", "[0]", "[1]", "[x]", "=", "&",
            "%", "%5B", "%5D", "%2", "+", "%FF", "é", "10001",
        ];
        let mut rng = Lcg(7);
        let mut decoded_ok = 0;
        for _ in 0..20_000 {
            let len = rng.below(12);
            let input: String = (0..len).map(|_| PIECES[rng.below(PIECES.len())]).collect();
            if let Ok(map) = decode(input.as_bytes()) {
                decoded_ok += 1;
                let again = decode(encode(&map).as_bytes());
                assert_eq!(again.as_ref(), Ok(&map), "{input}");
            }
        }
        assert!(decoded_ok > 1_000, "only {decoded_ok} inputs decoded");
    }

    // --- encode -----------------------------------------------------------

    #[test]
    fn encodes_nested_values_with_percent_encoding() {
        let params = object(json!({
            "amount": 2000,
            "capture": false,
            "description": "a b&c=d+e",
            "metadata": {"k": "v"},
            "expand": ["customer"],
            "coupon": null,
        }));
        assert_eq!(
            encode(&params),
            "amount=2000&capture=false&coupon=&description=a+b%26c%3Dd%2Be\
             &expand%5B0%5D=customer&metadata%5Bk%5D=v"
        );
    }

    #[test]
    fn encodes_empty_containers_as_unset() {
        let params = object(json!({"metadata": {}, "items": []}));
        assert_eq!(encode(&params), "items=&metadata=");
    }

    fn checkout_session() -> Map<String, Value> {
        object(json!({
            "mode": "subscription",
            "success_url": "https://shop.example/success?session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://shop.example/cart",
            "customer_email": "jo+test@example.com",
            "line_items": [
                {
                    "price_data": {
                        "currency": "eur",
                        "unit_amount": 1999,
                        "product_data": {"name": "Café crème & croissant"},
                        "recurring": {"interval": "month"}
                    },
                    "quantity": 2
                },
                {"price": "price_123", "quantity": 1, "adjustable_quantity": {"enabled": true}}
            ],
            "metadata": {"order_id": "42", "note": "50% off = deal", "2024": "year"},
            "payment_method_types": ["card", "sepa_debit"],
            "payment_intent_data": {"metadata": {"source": "web"}},
            "subscription_data": {"trial_period_days": 14, "metadata": {"plan": "pro"}},
            "allow_promotion_codes": false,
            "expand": ["line_items", "customer"]
        }))
    }

    fn stringify_leaves(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), stringify_leaves(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(stringify_leaves).collect()),
            Value::String(text) => Value::String(text.clone()),
            Value::Null => Value::String(String::new()),
            other => Value::String(other.to_string()),
        }
    }

    #[test]
    fn checkout_session_round_trips() {
        let session = checkout_session();
        let body = encode(&session);
        assert!(body.contains("success_url=https%3A%2F%2Fshop.example%2Fsuccess%3Fsession_id%3D%7BCHECKOUT_SESSION_ID%7D"));
        assert!(body.contains("line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=1999"));
        assert_eq!(
            decode(body.as_bytes()).map(Value::Object),
            Ok(stringify_leaves(&Value::Object(session)))
        );
    }

    // --- check ------------------------------------------------------------

    static PRODUCT_DATA: &[Param] = &[
        Param::required("name", Kind::String),
        Param::optional("metadata", Kind::Metadata),
    ];
    static RECURRING: &[Param] = &[
        Param::required("interval", Kind::Enum(&["day", "week", "month", "year"])),
        Param::optional("interval_count", Kind::Integer),
    ];
    static PRICE_DATA: &[Param] = &[
        Param::required("currency", Kind::String),
        Param::optional("unit_amount", Kind::Integer),
        Param::optional("product_data", Kind::Object(PRODUCT_DATA)),
        Param::optional("recurring", Kind::Object(RECURRING)),
    ];
    static ADJUSTABLE_QUANTITY: &[Param] = &[Param::required("enabled", Kind::Boolean)];
    static LINE_ITEM: &[Param] = &[
        Param::optional("price", Kind::String),
        Param::optional("price_data", Kind::Object(PRICE_DATA)),
        Param::optional("quantity", Kind::Integer),
        Param::optional("adjustable_quantity", Kind::Object(ADJUSTABLE_QUANTITY)),
        Param::optional("tax_rates", Kind::StringList),
    ];
    static PAYMENT_INTENT_DATA: &[Param] = &[
        Param::optional("metadata", Kind::Metadata),
        Param::optional("capture_method", Kind::Enum(&["automatic", "manual"])),
    ];
    static SUBSCRIPTION_DATA: &[Param] = &[
        Param::optional("trial_period_days", Kind::Integer),
        Param::optional("trial_end", Kind::Timestamp),
        Param::optional("metadata", Kind::Metadata),
    ];
    static CREATE_SESSION: &[Param] = &[
        Param::required("mode", Kind::Enum(&["payment", "setup", "subscription"])),
        Param::required("success_url", Kind::String),
        Param::optional("cancel_url", Kind::String),
        Param::optional("customer_email", Kind::String),
        Param::optional("line_items", Kind::ObjectList(LINE_ITEM)),
        Param::optional("metadata", Kind::Metadata),
        Param::optional("payment_method_types", Kind::StringList),
        Param::optional("payment_intent_data", Kind::Object(PAYMENT_INTENT_DATA)),
        Param::optional("subscription_data", Kind::Object(SUBSCRIPTION_DATA)),
        Param::optional("allow_promotion_codes", Kind::Boolean),
        Param::optional("client_reference_id", Kind::String),
        Param::optional("custom", Kind::Any),
        EXPAND,
    ];
    static CREATE_PRICE: &[Param] = &[
        Param::required("currency", Kind::String),
        Param::optional("unit_amount", Kind::Integer),
        Param::optional("active", Kind::Boolean),
        Param::optional("recurring", Kind::Object(RECURRING)),
        Param::optional("metadata", Kind::Metadata),
        EXPAND,
    ];

    fn check_body(spec: &[Param], body: &str) -> Result<Value, ParamError> {
        let params = decode(body.as_bytes())?;
        check(spec, &params).map(Value::Object)
    }

    fn check_error(spec: &[Param], body: &str) -> ParamError {
        match check_body(spec, body) {
            Ok(value) => panic!("check of {body:?} succeeded: {value}"),
            Err(error) => error,
        }
    }

    fn error(param: &str, code: Option<&'static str>, message: &str) -> ParamError {
        ParamError {
            param: param.to_owned(),
            code,
            message: message.to_owned(),
        }
    }

    #[test]
    fn types_a_whole_checkout_session() {
        let body = encode(&checkout_session());
        assert_eq!(
            check_body(CREATE_SESSION, &body),
            Ok(Value::Object(checkout_session()))
        );
    }

    #[test]
    fn converts_leaves_in_nested_lists() {
        let body = "mode=payment&success_url=https://x.test\
                    &line_items[0][price_data][currency]=usd\
                    &line_items[0][price_data][unit_amount]=-250\
                    &line_items[0][price_data][recurring][interval]=month\
                    &line_items[0][price_data][recurring][interval_count]=3\
                    &line_items[0][quantity]=2\
                    &line_items[0][tax_rates][]=txr_1&line_items[0][tax_rates][]=txr_2\
                    &line_items[1][price]=price_9&line_items[1][adjustable_quantity][enabled]=true\
                    &subscription_data[trial_end]=1700000000\
                    &allow_promotion_codes=false&expand[]=line_items\
                    &custom[anything][0]=goes";
        assert_eq!(
            check_body(CREATE_SESSION, body),
            Ok(json!({
                "mode": "payment",
                "success_url": "https://x.test",
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": -250,
                            "recurring": {"interval": "month", "interval_count": 3}
                        },
                        "quantity": 2,
                        "tax_rates": ["txr_1", "txr_2"]
                    },
                    {"price": "price_9", "adjustable_quantity": {"enabled": true}}
                ],
                "subscription_data": {"trial_end": 1_700_000_000},
                "allow_promotion_codes": false,
                "expand": ["line_items"],
                "custom": {"anything": ["goes"]}
            }))
        );
    }

    #[test]
    fn keeps_empty_strings_of_optional_parameters_as_unset() {
        assert_eq!(
            check_body(
                CREATE_PRICE,
                "currency=usd&unit_amount=&active=&recurring=&metadata=&expand="
            ),
            Ok(json!({
                "currency": "usd",
                "unit_amount": "",
                "active": "",
                "recurring": "",
                "metadata": "",
                "expand": ""
            }))
        );
        assert_eq!(
            check_body(
                CREATE_PRICE,
                "currency=usd&metadata[gone]=&metadata[kept]=v"
            ),
            Ok(json!({"currency": "usd", "metadata": {"gone": "", "kept": "v"}}))
        );
    }

    #[test]
    fn reports_unknown_parameters_with_full_path_and_hint() {
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&line_items[0][prise]=p"
            ),
            error(
                "line_items[0][prise]",
                Some("parameter_unknown"),
                "Received unknown parameter: line_items[0][prise]. Did you mean price?"
            )
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&colour=red"),
            error(
                "colour",
                Some("parameter_unknown"),
                "Received unknown parameter: colour"
            )
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&recurring[Interval]=month"),
            error(
                "recurring[Interval]",
                Some("parameter_unknown"),
                "Received unknown parameter: recurring[Interval]. Did you mean interval?"
            )
        );
        // Unknown parameters are reported before missing ones.
        assert_eq!(
            check_error(CREATE_PRICE, "typo=1").code,
            Some("parameter_unknown")
        );
    }

    #[test]
    fn reports_missing_parameters() {
        assert_eq!(
            check_error(CREATE_PRICE, "unit_amount=5"),
            error(
                "currency",
                Some("parameter_missing"),
                "Missing required param: currency."
            )
        );
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&line_items[0][price_data][unit_amount]=5"
            ),
            error(
                "line_items[0][price_data][currency]",
                Some("parameter_missing"),
                "Missing required param: line_items[0][price_data][currency]."
            )
        );
    }

    #[test]
    fn reports_empty_required_parameters() {
        assert_eq!(
            check_error(CREATE_PRICE, "currency="),
            error(
                "currency",
                Some("parameter_invalid_empty"),
                "You passed an empty string for 'currency'. We assume empty values are an \
                 attempt to unset a parameter; however 'currency' cannot be unset. You should \
                 remove 'currency' from your request or supply a non-empty value."
            )
        );
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&line_items[0][price_data][currency]=usd\
                 &line_items[0][price_data][product_data][name]="
            )
            .param,
            "line_items[0][price_data][product_data][name]"
        );
    }

    #[test]
    fn reports_invalid_integers() {
        for bad in [
            "abc",
            "1.5",
            "10.0",
            "1e3",
            "+1",
            " 1",
            "-",
            "99999999999999999999",
        ] {
            let body = format!("currency=usd&unit_amount={}", bad.replace('+', "%2B"));
            assert_eq!(
                check_error(CREATE_PRICE, &body),
                error(
                    "unit_amount",
                    Some("parameter_invalid_integer"),
                    &format!("Invalid integer: {bad}")
                ),
                "{bad}"
            );
        }
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&line_items[0][quantity]=two"
            ),
            error(
                "line_items[0][quantity]",
                Some("parameter_invalid_integer"),
                "Invalid integer: two"
            )
        );
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&subscription_data[trial_end]=tomorrow"
            )
            .message,
            "Invalid integer: tomorrow"
        );
    }

    #[test]
    fn reports_invalid_booleans() {
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&active=True"),
            error("active", None, "Invalid boolean: True")
        );
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&line_items[0][adjustable_quantity][enabled]=1"
            ),
            error(
                "line_items[0][adjustable_quantity][enabled]",
                None,
                "Invalid boolean: 1"
            )
        );
    }

    #[test]
    fn reports_invalid_enum_values() {
        assert_eq!(
            check_error(CREATE_SESSION, "mode=paymnt&success_url=u"),
            error(
                "mode",
                None,
                "Invalid mode: must be one of payment, setup, or subscription"
            )
        );
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&payment_intent_data[capture_method]=later"
            ),
            error(
                "payment_intent_data[capture_method]",
                None,
                "Invalid payment_intent_data[capture_method]: must be one of automatic or manual"
            )
        );
        assert_eq!(one_of(&["only"]), "only");
    }

    #[test]
    fn reports_shape_errors() {
        assert_eq!(
            check_error(CREATE_SESSION, "mode=payment&success_url[foo]=bar"),
            error("success_url", None, r#"Invalid string: {"foo"=>"bar"}"#)
        );
        assert_eq!(
            check_error(CREATE_SESSION, "mode[0]=payment&success_url=u"),
            error("mode", None, r#"Invalid string: ["payment"]"#)
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&expand=customer"),
            error("expand", None, "Invalid array")
        );
        assert_eq!(
            check_error(
                CREATE_SESSION,
                "mode=payment&success_url=u&line_items[price]=p"
            ),
            error("line_items", None, "Invalid array")
        );
        assert_eq!(
            check_error(CREATE_SESSION, "mode=payment&success_url=u&line_items[0]=p"),
            error("line_items[0]", None, "Invalid hash")
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&recurring[0]=month"),
            error("recurring", None, "Invalid hash")
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&expand[0][a]=b"),
            error("expand[0]", None, r#"Invalid string: {"a"=>"b"}"#)
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&unit_amount[a]=1"),
            error(
                "unit_amount",
                Some("parameter_invalid_integer"),
                r#"Invalid integer: {"a"=>"1"}"#
            )
        );
    }

    #[test]
    fn enforces_metadata_limits() {
        let many: String = (0..=METADATA_MAX_KEYS)
            .map(|i| format!("&metadata[k{i}]=v"))
            .collect();
        assert_eq!(
            check_error(CREATE_PRICE, &format!("currency=usd{many}")),
            error(
                "metadata",
                None,
                "Metadata can have up to 50 keys, but you've set 51. \
                 Email us at support+metadata@stripe.com for more information."
            )
        );
        let fifty: String = (1..=METADATA_MAX_KEYS)
            .map(|i| format!("&metadata[k{i}]=v"))
            .collect();
        assert!(check_body(CREATE_PRICE, &format!("currency=usd{fifty}")).is_ok());

        let long_key = "k".repeat(METADATA_MAX_KEY_CHARS + 1);
        assert_eq!(
            check_error(
                CREATE_SESSION,
                &format!("mode=payment&success_url=u&payment_intent_data[metadata][{long_key}]=v")
            ),
            error(
                "payment_intent_data[metadata]",
                None,
                &format!("Invalid key: {long_key} must be a string under 40 characters")
            )
        );
        let key_at_limit = "é".repeat(METADATA_MAX_KEY_CHARS);
        let value_at_limit = "é".repeat(METADATA_MAX_VALUE_CHARS);
        assert!(
            check_body(
                CREATE_PRICE,
                &format!("currency=usd&metadata[{key_at_limit}]={value_at_limit}")
            )
            .is_ok()
        );

        let long_value = "v".repeat(METADATA_MAX_VALUE_CHARS + 1);
        assert_eq!(
            check_error(
                CREATE_PRICE,
                &format!("currency=usd&metadata[k]={long_value}")
            ),
            error(
                "metadata",
                None,
                &format!("Invalid val: {long_value} must be a string under 500 characters")
            )
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&metadata[k][]=a&metadata[k][]=b"),
            error(
                "metadata",
                None,
                r#"Invalid val: ["a", "b"] must be a string under 500 characters"#
            )
        );
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&metadata=flat"),
            error("metadata", None, "Invalid hash")
        );
    }

    #[test]
    fn accepts_already_typed_json() {
        let params = object(json!({
            "currency": "usd",
            "unit_amount": 5,
            "active": true,
            "metadata": {"n": 1, "gone": null}
        }));
        assert_eq!(
            check(CREATE_PRICE, &params).map(Value::Object),
            Ok(json!({
                "currency": "usd",
                "unit_amount": 5,
                "active": true,
                "metadata": {"n": "1", "gone": ""}
            }))
        );
        let float = object(json!({"currency": "usd", "unit_amount": 1.5}));
        assert_eq!(
            check(CREATE_PRICE, &float).map_err(|e| e.message),
            Err("Invalid integer: 1.5".to_owned())
        );
    }

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(suggestion("prise", LINE_ITEM), Some("price"));
        assert_eq!(suggestion("quantty", LINE_ITEM), Some("quantity"));
        assert_eq!(suggestion("colour", LINE_ITEM), None);
        assert_eq!(suggestion(&"x".repeat(10_000), LINE_ITEM), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn form_errors_become_param_errors() {
        assert_eq!(
            check_error(CREATE_PRICE, "currency=usd&metadata=x&metadata[k]=v"),
            error(
                "metadata",
                None,
                "Invalid parameter metadata: given as a value and as a hash"
            )
        );
        assert_eq!(ParamError::from(decode_error("a[b=1")).param, "a[b");
    }
}
