//! Stripe's bracket form encoding: [`decode`] turns an
//! `application/x-www-form-urlencoded` body or query string whose keys nest
//! with brackets (`line_items[0][price]=p&expand[]=customer`) into a JSON
//! object whose leaves are all strings, and [`encode`] is its inverse, for
//! paywire's own clients and tests.
//!
//! Decoding is bounded, since anyone can send a body: keys nest at most
//! [`MAX_DEPTH`] levels, arrays are indexed at most up to [`MAX_INDEX`], and
//! one body builds at most [`MAX_NODES`] values, objects and arrays.

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

#[cfg(test)]
pub(super) mod tests;
