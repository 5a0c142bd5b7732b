//! Declared parameters of APIs, workflows and functions, and the validation of
//! a caller's input against them. Every problem is reported, one per field.

use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub required: bool,
    pub default: Option<Value>,
    /// Bounds on a number's value.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Bounds on a string's or list's length.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// The value must be one of these.
    pub one_of: Option<Vec<Value>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Any,
}

impl ParamType {
    pub const NAMES: &'static [&'static str] = &[
        "string", "integer", "number", "boolean", "object", "array", "any",
    ];

    pub fn parse(name: &str) -> Option<ParamType> {
        Some(match name {
            "string" => ParamType::String,
            "integer" => ParamType::Integer,
            "number" => ParamType::Number,
            "boolean" => ParamType::Boolean,
            "object" => ParamType::Object,
            "array" => ParamType::Array,
            "any" => ParamType::Any,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Object => "object",
            ParamType::Array => "array",
            ParamType::Any => "any",
        }
    }

    /// The type's name with its article: "an integer", "a string".
    pub fn described(self) -> String {
        let article = match self {
            ParamType::Integer | ParamType::Object | ParamType::Array | ParamType::Any => "an",
            _ => "a",
        };
        format!("{article} {}", self.name())
    }

    pub fn accepts(self, value: &Value) -> bool {
        match self {
            ParamType::String => value.is_string(),
            ParamType::Integer => value.is_i64() || value.is_u64(),
            ParamType::Number => value.is_number(),
            ParamType::Boolean => value.is_boolean(),
            ParamType::Object => value.is_object(),
            ParamType::Array => value.is_array(),
            ParamType::Any => true,
        }
    }
}

/// One bad field of a caller's input.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    fn new(field: &str, problem: impl Into<String>) -> FieldError {
        FieldError {
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

/// Where input came from, which decides how forgiving validation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputSource {
    /// JSON: types must match exactly.
    Json,
    /// A query string: every value arrives as text and is converted to the
    /// declared type (`?quantity=2` is the integer 2).
    Text,
}

/// Checks `input` against `params` and returns the validated parameters,
/// defaults filled in. Fields that are not declared are dropped: a workflow
/// reads only what it declared.
pub fn validate(
    params: &[Param],
    input: &Map<String, Value>,
    source: InputSource,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for param in params {
        let value = match input.get(&param.name) {
            None | Some(Value::Null) => {
                if let Some(default) = &param.default {
                    out.insert(param.name.clone(), default.clone());
                } else if param.required {
                    errors.push(FieldError::new(&param.name, "is required"));
                } else {
                    out.insert(param.name.clone(), Value::Null);
                }
                continue;
            }
            Some(value) => value,
        };
        let value = match source {
            InputSource::Text => coerce_text(param.ty, value),
            InputSource::Json => value.clone(),
        };
        let value = match param.ty {
            ParamType::Integer => match whole_number(value) {
                Ok(value) => value,
                Err(problem) => {
                    errors.push(FieldError::new(&param.name, problem));
                    continue;
                }
            },
            _ => value,
        };
        match check(param, &value) {
            Ok(()) => {
                out.insert(param.name.clone(), value);
            }
            Err(problem) => errors.push(FieldError::new(&param.name, problem)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Gathers a request's input for the declared parameters. Path parameters
/// come first: they name the resource the route is about, and a body must not
/// be able to point the request at another one. Then a JSON body's fields,
/// which keep their types; then the query string. Path and query values are
/// text, converted to each parameter's type. Validate the result with
/// [`InputSource::Json`].
pub fn gather(
    params: &[Param],
    body: Option<&Map<String, Value>>,
    path: &Map<String, Value>,
    query: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for param in params {
        let value = if let Some(text) = path.get(&param.name) {
            coerce_text(param.ty, text)
        } else if let Some(value) = body.and_then(|b| b.get(&param.name)) {
            value.clone()
        } else if let Some(text) = query.get(&param.name) {
            coerce_text(param.ty, text)
        } else {
            continue;
        };
        out.insert(param.name.clone(), value);
    }
    out
}

/// The range of paywire's integers (64-bit), as a message says it.
const INTEGER_RANGE: &str = "-9223372036854775808 to 9223372036854775807";

/// An integer parameter's value as a 64-bit integer. JSON has one kind of
/// number, so a number without a fraction (`2.0`, `-0`) is the integer it
/// equals; one outside the 64-bit range is refused as such rather than
/// rounded, and a fraction is refused as one.
fn whole_number(value: Value) -> Result<Value, String> {
    let Value::Number(number) = &value else {
        return Ok(value);
    };
    if number.is_i64() {
        return Ok(value);
    }
    let out_of_range = || format!("is out of range: integers go from {INTEGER_RANGE}");
    if number.is_u64() {
        return Err(out_of_range());
    }
    let f = number.as_f64().unwrap_or(f64::NAN);
    if f.fract() != 0.0 || !f.is_finite() {
        return Ok(value);
    }
    // 2^63 is the first whole f64 past i64::MAX; i64::MIN is -2^63 itself.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        return Err(out_of_range());
    }
    Ok(Value::from(f as i64))
}

fn coerce_text(ty: ParamType, value: &Value) -> Value {
    let Value::String(text) = value else {
        return value.clone();
    };
    let parsed = match ty {
        // Through JSON's number, so that `99999999999999999999` is found
        // out of range rather than called text.
        ParamType::Integer => serde_json::from_str::<serde_json::Number>(text.trim())
            .ok()
            .map(Value::Number),
        ParamType::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        ParamType::Boolean => match text.as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        ParamType::Object | ParamType::Array => serde_json::from_str(text).ok(),
        ParamType::String | ParamType::Any => None,
    };
    parsed.unwrap_or_else(|| value.clone())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number with a fraction",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check(param: &Param, value: &Value) -> Result<(), String> {
    if !param.ty.accepts(value) {
        return Err(format!(
            "must be {}, got {}",
            param.ty.described(),
            describe(value)
        ));
    }
    if let Some(number) = value.as_f64() {
        if let Some(min) = param.min
            && number < min
        {
            return Err(format!("must be at least {}", display_number(min)));
        }
        if let Some(max) = param.max
            && number > max
        {
            return Err(format!("must be at most {}", display_number(max)));
        }
    }
    let length = match value {
        Value::String(s) => Some(s.chars().count() as u64),
        Value::Array(a) => Some(a.len() as u64),
        _ => None,
    };
    if let Some(length) = length {
        if let Some(min) = param.min_length
            && length < min
        {
            return Err(format!("must be at least {min} long"));
        }
        if let Some(max) = param.max_length
            && length > max
        {
            return Err(format!("must be at most {max} long"));
        }
    }
    if let Some(allowed) = &param.one_of
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
        return Err(format!("must be one of {}", list.join(", ")));
    }
    Ok(())
}

fn display_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn param(name: &str, ty: ParamType) -> Param {
        Param {
            name: name.into(),
            ty,
            required: false,
            default: None,
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            one_of: None,
        }
    }

    fn input(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reports_every_bad_field() {
        let params = vec![
            Param {
                required: true,
                min: Some(50.0),
                ..param("amount", ParamType::Integer)
            },
            Param {
                required: true,
                ..param("email", ParamType::String)
            },
            Param {
                one_of: Some(vec![json!("usd"), json!("eur")]),
                ..param("currency", ParamType::String)
            },
            param("note", ParamType::String),
        ];
        let errors = validate(
            &params,
            &input(json!({"amount": 10, "currency": "gbp", "note": 3})),
            InputSource::Json,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            vec![
                FieldError::new("amount", "must be at least 50"),
                FieldError::new("email", "is required"),
                FieldError::new("currency", "must be one of \"usd\", \"eur\""),
                FieldError::new("note", "must be a string, got a number"),
            ]
        );
    }

    #[test]
    fn fills_defaults_and_drops_undeclared_fields() {
        let params = vec![
            Param {
                default: Some(json!(1)),
                ..param("quantity", ParamType::Integer)
            },
            param("email", ParamType::String),
        ];
        let out = validate(&params, &input(json!({"extra": true})), InputSource::Json).unwrap();
        assert_eq!(Value::Object(out), json!({"quantity": 1, "email": null}));
    }

    #[test]
    fn integers_beyond_64_bits_are_out_of_range_and_whole_numbers_are_integers() {
        let params = [param("n", ParamType::Integer)];
        let problem = |value: Value| {
            let input: Map<String, Value> = [("n".to_string(), value)].into_iter().collect();
            match validate(&params, &input, InputSource::Json) {
                Ok(out) => Ok(out["n"].clone()),
                Err(errors) => Err(errors[0].problem.clone()),
            }
        };
        let huge: Value = serde_json::from_str("9223372036854775808").unwrap();
        let two_to_64: Value = serde_json::from_str("18446744073709551616").unwrap();
        for value in [huge, two_to_64, json!(-1e19), json!(1e300)] {
            let e = problem(value.clone()).unwrap_err();
            assert!(e.starts_with("is out of range"), "{value}: {e}");
        }
        let minus_zero: Value = serde_json::from_str("-0").unwrap();
        assert_eq!(problem(minus_zero), Ok(json!(0)));
        assert_eq!(problem(json!(2.0)), Ok(json!(2)));
        assert_eq!(problem(json!(i64::MIN)), Ok(json!(i64::MIN)));
        assert_eq!(problem(json!(i64::MAX)), Ok(json!(i64::MAX)));
        assert_eq!(
            problem(json!(1.5)),
            Err("must be an integer, got a number with a fraction".into())
        );
        let text = |t: &str| {
            let input: Map<String, Value> = [("n".to_string(), json!(t))].into_iter().collect();
            validate(&params, &input, InputSource::Text).map_err(|e| e[0].problem.clone())
        };
        assert!(
            text("99999999999999999999")
                .unwrap_err()
                .starts_with("is out of range")
        );
        assert_eq!(text("42").unwrap()["n"], json!(42));
    }

    #[test]
    fn integers_refuse_fractions_and_text_is_converted_from_query_strings() {
        let params = vec![
            param("n", ParamType::Integer),
            param("flag", ParamType::Boolean),
        ];
        let err = validate(&params, &input(json!({"n": 1.5})), InputSource::Json).unwrap_err();
        assert_eq!(
            err[0].problem,
            "must be an integer, got a number with a fraction"
        );
        let out = validate(
            &params,
            &input(json!({"n": "7", "flag": "true"})),
            InputSource::Text,
        )
        .unwrap();
        assert_eq!(Value::Object(out), json!({"n": 7, "flag": true}));
        let err = validate(&params, &input(json!({"n": "seven"})), InputSource::Text).unwrap_err();
        assert_eq!(err[0].problem, "must be an integer, got a string");
    }

    #[test]
    fn path_parameters_cannot_be_overridden_by_the_body() {
        let params = vec![
            param("id", ParamType::String),
            param("n", ParamType::Integer),
        ];
        let body = input(json!({"id": "someone-else", "n": 1}));
        let path = input(json!({"id": "mine"}));
        let query = input(json!({"n": "2"}));
        let out = gather(&params, Some(&body), &path, &query);
        assert_eq!(Value::Object(out), json!({"id": "mine", "n": 1}));
    }

    #[test]
    fn lengths_are_checked() {
        let params = vec![Param {
            min_length: Some(2),
            max_length: Some(3),
            ..param("code", ParamType::String)
        }];
        assert!(validate(&params, &input(json!({"code": "ab"})), InputSource::Json).is_ok());
        let err =
            validate(&params, &input(json!({"code": "abcd"})), InputSource::Json).unwrap_err();
        assert_eq!(err[0].problem, "must be at most 3 long");
    }
}
