//! Stripe's parameter checks: an endpoint declares its parameters as static
//! [`Param`] specs, and [`check`] validates decoded form parameters against
//! them the way Stripe's API does, converting leaves to typed JSON and
//! reporting the first problem as a [`ParamError`] with Stripe's `param`,
//! `code` and `message` (unknown parameters with a "Did you mean" hint).

use std::fmt;

use serde_json::{Map, Value};

use super::codec::{FormError, MAX_DEPTH};

/// Most keys a metadata object may have, as Stripe enforces.
pub const METADATA_MAX_KEYS: usize = 50;

/// Longest metadata key, in characters, as Stripe enforces.
pub const METADATA_MAX_KEY_CHARS: usize = 40;

/// Longest metadata value, in characters, as Stripe enforces.
pub const METADATA_MAX_VALUE_CHARS: usize = 500;

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
    /// A parameter of Stripe's that the sandbox does not implement yet: it
    /// is refused by name (with `parameter_unknown`) rather than accepted
    /// and ignored, so that no test passes against what Stripe would do
    /// differently. `""` (unset) is accepted: it asks for nothing.
    Unsupported,
    /// A boolean whose `true` asks for what the sandbox does not implement
    /// yet (`automatic_tax[enabled]`): `false` is taken, `true` refused as
    /// [`Kind::Unsupported`] is.
    FalseOnly,
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

    /// The refusal of a parameter the sandbox does not implement yet.
    pub fn unsupported(path: &str) -> ParamError {
        let message = format!(
            "Received parameter {path}, which the paywire sandbox does not implement yet; Stripe would act on it, so the sandbox refuses rather than ignore it."
        );
        ParamError::new(path.to_string(), Some(code::PARAMETER_UNKNOWN), message)
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
        Kind::Unsupported => Err(ParamError::unsupported(path)),
        Kind::FalseOnly => match boolean(value) {
            Some(false) => Ok(Value::Bool(false)),
            Some(true) => Err(ParamError::unsupported(path)),
            None => Err(ParamError::invalid_boolean(path, value)),
        },
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
///
/// Edits are counted as paywire's other hints count them (Damerau-Levenshtein,
/// so swapping two neighbouring letters is one edit), but the threshold is
/// not [`paywire_support::did_you_mean`]'s third of the letters: that would give
/// short names such as `tp` (for `type`) no hint and long ones hints three or
/// more edits away, which the sandbox's hints have never done.
fn suggestion(unknown: &str, spec: &[Param]) -> Option<&'static str> {
    const MAX_EDITS: usize = 2;
    // Long names cannot be within two edits of any real parameter name, and
    // skipping them keeps hostile input from costing quadratic time.
    const MAX_NAME_CHARS: usize = 64;
    if unknown.chars().count() > MAX_NAME_CHARS {
        return None;
    }
    spec.iter()
        .map(|param| (strsim::damerau_levenshtein(unknown, param.name), param.name))
        .filter(|&(edits, name)| edits <= MAX_EDITS && edits < name.chars().count())
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests;
