//! A YAML document as a tree of nodes that remember where they stand in the file.
//!
//! serde-based YAML parsers stop at the first problem and forget positions once
//! a value is deserialised. The loader needs both the position of every node
//! (to report `file:line:column`) and the chance to report every problem, so it
//! reads this tree by hand (see `decode`). The tree is built from yaml-rust2's
//! event parser, which gives a marker for every event. Building it also
//! bounds what one file can cost: how deep it nests and how much its aliases
//! copy ([`MAX_DEPTH`], [`MAX_ALIAS_COPY`]).

use std::collections::HashMap;
use std::fmt;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A position in a source file, both numbers counted from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn from_marker(marker: Marker) -> Pos {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Pos {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping; keys are always strings here because
/// every mapping in the workflow format is keyed by names.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

impl Node {
    /// What kind of value this is, in the words a builder reads in a message.
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The node as plain JSON. Mapping keys that repeat keep their last value;
    /// the decoder reports the repetition separately.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The deepest lists and mappings may nest in one file. Every reader of the
/// tree (the decoder, template compilation, dropping the tree) recurses once
/// per level, so this bounds their stack; real workflows nest a few dozen deep.
pub const MAX_DEPTH: usize = 128;

/// How much anchors and aliases may copy in one file, counting one per node
/// and one per byte of its text. An alias copies its anchor's whole value, so
/// nested aliases grow exponentially (ten aliases of ten aliases of ... is the
/// "billion laughs"); shared step defaults copy a few hundred.
pub const MAX_ALIAS_COPY: usize = 1_000_000;

/// Why a file could not be read as a tree of nodes.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum YamlError {
    /// The text is not YAML, or not the one-document shape of a workflow file.
    #[error("YAML syntax: {message}")]
    Syntax { pos: Pos, message: String },
    #[error("lists and mappings nest more than {MAX_DEPTH} deep here")]
    TooDeep { pos: Pos, path: String },
    #[error(
        "the file's anchors and aliases, expanded up to here, copy more than {MAX_ALIAS_COPY} nodes and bytes of text"
    )]
    AliasesTooLarge { pos: Pos, path: String },
}

impl YamlError {
    pub fn pos(&self) -> Pos {
        match self {
            YamlError::Syntax { pos, .. }
            | YamlError::TooDeep { pos, .. }
            | YamlError::AliasesTooLarge { pos, .. } => *pos,
        }
    }

    /// The YAML path to the place, where the tree got that far.
    pub fn path(&self) -> &str {
        match self {
            YamlError::Syntax { .. } => "",
            YamlError::TooDeep { path, .. } | YamlError::AliasesTooLarge { path, .. } => path,
        }
    }

    /// How a builder fixes it.
    pub fn hint(&self) -> &'static str {
        match self {
            YamlError::Syntax { .. } => "check the indentation and quoting around this place",
            YamlError::TooDeep { .. } => {
                "flatten the structure, or move deeply nested steps into a function and `call` it"
            }
            YamlError::AliasesTooLarge { .. } => {
                "every alias is a full copy of its anchor's value, and aliases of aliases multiply; \
                 alias smaller values or write them out"
            }
        }
    }
}

/// Parses one YAML document. An empty file is `Ok(None)`.
///
/// The events are read one at a time rather than through yaml-rust2's
/// `Parser::load`, which recurses once per level of nesting and so would
/// overflow the stack before the tree builder could refuse the depth.
pub fn parse(source: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(source);
    loop {
        let (event, marker) = parser.next_token().map_err(|e| YamlError::Syntax {
            pos: Pos::from_marker(*e.marker()),
            message: e.info().to_string(),
        })?;
        if event == Event::StreamEnd {
            return Ok(builder.root);
        }
        builder.on_event(event, Pos::from_marker(marker))?;
    }
}

/// How big a finished node is: what copying it costs and how deep it nests.
#[derive(Clone, Copy, Debug, Default)]
struct Extent {
    /// One per node and one per byte of text (scalars and keys).
    weight: usize,
    /// How many levels of lists and mappings it holds; a scalar holds none.
    height: usize,
}

impl Extent {
    fn scalar(text_len: usize) -> Extent {
        Extent {
            weight: 1 + text_len,
            height: 0,
        }
    }

    /// An empty list or mapping.
    fn collection() -> Extent {
        Extent {
            weight: 1,
            height: 1,
        }
    }

    /// Adds a child to this collection's extent.
    fn add(&mut self, child: Extent) {
        self.weight = self.weight.saturating_add(child.weight);
        self.height = self.height.max(child.height + 1);
    }
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        extent: Extent,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        extent: Extent,
        entries: Vec<Entry>,
        pending_key: Option<(String, Pos)>,
    },
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, (Node, Extent)>,
    /// What anchors and aliases have copied so far, in [`Extent::weight`]s.
    copied: usize,
    documents: usize,
}

fn syntax(pos: Pos, message: impl Into<String>) -> YamlError {
    YamlError::Syntax {
        pos,
        message: message.into(),
    }
}

impl TreeBuilder {
    /// The YAML path of the place the next node goes, e.g. `b[3]`.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            path = match frame {
                Frame::Seq { items, .. } => index(&path, items.len()),
                Frame::Map { pending_key, .. } => match pending_key {
                    Some((key, _)) => join(&path, key),
                    None => path,
                },
            };
        }
        path
    }

    /// Counts a copy of `extent` against the file's budget for copies.
    fn copy(&mut self, pos: Pos, extent: Extent) -> Result<(), YamlError> {
        self.copied = self.copied.saturating_add(extent.weight);
        if self.copied > MAX_ALIAS_COPY {
            return Err(YamlError::AliasesTooLarge {
                pos,
                path: self.path(),
            });
        }
        Ok(())
    }

    /// Refuses a node of `height` levels where it would nest too deep.
    fn check_depth(&self, pos: Pos, height: usize) -> Result<(), YamlError> {
        if self.stack.len() + height > MAX_DEPTH {
            return Err(YamlError::TooDeep {
                pos,
                path: self.path(),
            });
        }
        Ok(())
    }

    fn finish(&mut self, node: Node, extent: Extent, anchor: usize) -> Result<(), YamlError> {
        if anchor > 0 {
            // The anchor keeps its own copy for its aliases to copy from.
            self.copy(node.pos, extent)?;
            self.anchors.insert(anchor, (node.clone(), extent));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq {
                items,
                extent: parent,
                ..
            }) => {
                parent.add(extent);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                pending_key,
                extent: parent,
                ..
            }) => {
                parent.add(extent);
                match pending_key.take() {
                    Some((key, key_pos)) => entries.push(Entry {
                        key,
                        key_pos,
                        value: node,
                    }),
                    None => {
                        let key = match &node.value {
                            Value::Str(s) => s.clone(),
                            Value::Int(i) => i.to_string(),
                            Value::Bool(b) => b.to_string(),
                            Value::Float(f) => f.to_string(),
                            Value::Null => "null".to_string(),
                            Value::Seq(_) | Value::Map(_) => {
                                return Err(syntax(
                                    node.pos,
                                    "a mapping key must be a plain name, not a list or mapping \
                                     (a value that starts with `{{` must be quoted: \"{{ ... }}\")",
                                ));
                            }
                        };
                        *pending_key = Some((key, node.pos));
                    }
                }
            }
        }
        Ok(())
    }

    fn on_event(&mut self, event: Event, pos: Pos) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(syntax(
                        pos,
                        "a workflow file holds one YAML document; split the `---` sections into files",
                    ));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let extent = Extent::scalar(text.len());
                let value = resolve_scalar(text, style, tag.as_ref().map(|t| t.suffix.as_str()));
                self.finish(Node { value, pos }, extent, anchor)?;
            }
            Event::Alias(anchor) => {
                let Some(&(_, extent)) = self.anchors.get(&anchor) else {
                    return Err(syntax(
                        pos,
                        "this alias refers to an anchor that is not defined before it",
                    ));
                };
                // The copy is counted before it is made: making it first is
                // what exhausts memory.
                self.check_depth(pos, extent.height)?;
                self.copy(pos, extent)?;
                if let Some((node, _)) = self.anchors.get(&anchor) {
                    let mut node = node.clone();
                    node.pos = pos;
                    self.finish(node, extent, 0)?;
                }
            }
            Event::SequenceStart(anchor, _) => {
                self.check_depth(pos, 1)?;
                self.stack.push(Frame::Seq {
                    pos,
                    anchor,
                    extent: Extent::collection(),
                    items: Vec::new(),
                });
            }
            Event::MappingStart(anchor, _) => {
                self.check_depth(pos, 1)?;
                self.stack.push(Frame::Map {
                    pos,
                    anchor,
                    extent: Extent::collection(),
                    entries: Vec::new(),
                    pending_key: None,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    pos,
                    anchor,
                    extent,
                    items,
                }) => self.finish(
                    Node {
                        value: Value::Seq(items),
                        pos,
                    },
                    extent,
                    anchor,
                )?,
                Some(Frame::Map {
                    pos,
                    anchor,
                    extent,
                    entries,
                    ..
                }) => {
                    // yaml-rust2 marks a block mapping where its first `:` is;
                    // its first key is where a reader looks for it.
                    let pos = entries.first().map(|e| e.key_pos).unwrap_or(pos);
                    self.finish(
                        Node {
                            value: Value::Map(entries),
                            pos,
                        },
                        extent,
                        anchor,
                    )?
                }
                None => return Err(syntax(pos, "unbalanced YAML structure")),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
        Ok(())
    }
}

/// Resolves a scalar by YAML 1.2's core schema: only plain scalars can be
/// nulls, booleans or numbers; anything quoted or in a block is a string.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&str>) -> Value {
    if tag == Some("str") || style != TScalarStyle::Plain {
        return Value::Str(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | "+.inf" | ".Inf" | "+.Inf" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(&text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Int(i);
    }
    if let Some(hex) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(hex, 16)
    {
        return Value::Int(i);
    }
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(f) = text.parse::<f64>() {
        return Value::Float(f);
    }
    Value::Str(text)
}

/// The YAML path of `key` under `path` (`apis.checkout`, `x["a b"]`), as
/// diagnostics name a place.
pub(crate) fn join(path: &str, key: &str) -> String {
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

/// The YAML path of item `i` of the sequence at `path`.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        parse(src).unwrap().unwrap()
    }

    #[test]
    fn positions_are_one_based() {
        let node = root("a:\n  b: 1\n  c: [x, 'y']\n");
        assert_eq!(node.pos, Pos { line: 1, column: 1 });
        let a = &node.as_map().unwrap()[0];
        assert_eq!(a.value.pos, Pos { line: 2, column: 3 });
        assert_eq!(a.key_pos, Pos { line: 1, column: 1 });
        let inner = a.value.as_map().unwrap();
        assert_eq!(inner[0].key, "b");
        assert_eq!(inner[0].value.pos, Pos { line: 2, column: 6 });
        assert_eq!(
            inner[1].value.as_seq().unwrap()[1].value,
            Value::Str("y".into())
        );
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let node = root("[1, -2, 1.5, true, null, ~, '1', \"true\", 1e3, abc, 0x10, 1.2.3]");
        let values: Vec<Value> = node
            .as_seq()
            .unwrap()
            .iter()
            .map(|n| n.value.clone())
            .collect();
        assert_eq!(
            values,
            vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Float(1.5),
                Value::Bool(true),
                Value::Null,
                Value::Null,
                Value::Str("1".into()),
                Value::Str("true".into()),
                Value::Float(1000.0),
                Value::Str("abc".into()),
                Value::Int(16),
                Value::Str("1.2.3".into()),
            ]
        );
    }

    #[test]
    fn aliases_copy_their_anchor() {
        let node = root("a: &x {k: 1}\nb: *x\n");
        let entries = node.as_map().unwrap();
        assert_eq!(entries[0].value.to_json(), entries[1].value.to_json());
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos().line >= 1, "{err:?}");
        assert!(err.to_string().starts_with("YAML syntax: "), "{err}");
    }

    #[test]
    fn unquoted_templates_get_a_hint() {
        let err = parse("a: {{ x }}\n").unwrap_err();
        assert!(err.to_string().contains("must be quoted"), "{err:?}");
    }

    #[test]
    fn empty_file_is_none() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn aliases_within_the_budget_are_copied() {
        // Shared defaults aliased from several places, the idiom anchors serve.
        let node = root("d: &d {level: info, message: hi}\nx: [*d, *d, *d]\n");
        let entries = node.as_map().unwrap();
        let copies = entries[1].value.as_seq().unwrap();
        assert_eq!(copies.len(), 3);
        assert!(
            copies
                .iter()
                .all(|c| c.to_json() == entries[0].value.to_json())
        );
        // A copy stands where its alias is written.
        assert_eq!(copies[1].pos, Pos { line: 2, column: 9 });
    }

    #[test]
    fn nested_aliases_are_refused_before_they_are_copied() {
        let mut src = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..8 {
            let previous = format!("*l{}", level - 1);
            src += &format!("l{level}: &l{level} [{}]\n", vec![previous; 10].join(", "));
        }
        let err = parse(&src).unwrap_err();
        let YamlError::AliasesTooLarge { pos, path } = &err else {
            panic!("{err:?}");
        };
        // Level 5 alone copies 10^5 scalars of weight 2; the budget runs out
        // among its aliases, and the error names the place.
        assert_eq!(pos.line, 6, "{err:?}");
        assert!(path.starts_with("l5["), "{err:?}");
        assert!(err.hint().contains("aliases of aliases"));
    }

    #[test]
    fn an_anchor_counts_what_it_keeps() {
        // Anchoring a large value at every level of its nesting copies it
        // once per level; that too is counted.
        let items = vec!["x"; 20_000].join(",");
        let src = format!("{}[{items}]{}", "&a [".repeat(100), "]".repeat(100));
        assert!(matches!(
            parse(&src),
            Err(YamlError::AliasesTooLarge { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let at_limit = format!("{}x{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&at_limit).is_ok());
        let over = format!(
            "{}x{}",
            "[".repeat(MAX_DEPTH + 1),
            "]".repeat(MAX_DEPTH + 1)
        );
        let err = parse(&over).unwrap_err();
        assert!(matches!(err, YamlError::TooDeep { .. }), "{err:?}");
        assert_eq!(
            err.pos(),
            Pos {
                line: 1,
                column: MAX_DEPTH + 1
            }
        );
        // Block sequences on one line nest without any brackets.
        let dashes = format!("{}x\n", "- ".repeat(10_000));
        let err = parse(&dashes).unwrap_err();
        assert!(matches!(err, YamlError::TooDeep { .. }), "{err:?}");
        assert!(err.path().starts_with("[0][0]"), "{err:?}");
    }

    #[test]
    fn an_alias_cannot_nest_past_the_limit() {
        // Each part nests less than the limit; the copy in place would not.
        let half = MAX_DEPTH / 2 + 1;
        let src = format!(
            "a: &a {}x{}\nb: {}*a{}\n",
            "[".repeat(half),
            "]".repeat(half),
            "[".repeat(half),
            "]".repeat(half)
        );
        let err = parse(&src).unwrap_err();
        assert!(matches!(err, YamlError::TooDeep { .. }), "{err:?}");
        assert_eq!(err.pos().line, 2);
    }

    #[test]
    fn several_documents_are_refused() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(err.to_string().contains("one YAML document"));
    }
}
