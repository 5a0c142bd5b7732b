//! A JSON value checked against a column's type and converted, in one step,
//! into what the column holds.
//!
//! The loader checks literal values and defaults with [`column_value`]; the
//! store converts the values it writes with the same function and only maps
//! the result onto its own representation, so that a value the check accepts
//! is always one the store can convert.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use crate::ColumnType;

/// A value that fits its column, in the column's terms.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValue {
    /// No value; whether a column may be empty is its own rule.
    Null,
    Text(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    /// An instant. How it was given is kept because the two forms have
    /// always been stored as differently formatted text.
    Timestamp {
        time: DateTime<Utc>,
        /// Given as Unix seconds rather than as RFC 3339 text.
        from_seconds: bool,
    },
    /// Any JSON value, as its text.
    Json(String),
}

/// Why a JSON value cannot be stored in a column. Its text completes a
/// sentence about the value: "the value must be an integer, not a string".
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ColumnValueError {
    #[error("must be {}, not {found}", wanted(*.ty))]
    WrongKind {
        ty: ColumnType,
        /// What the value is, e.g. `a string`.
        found: &'static str,
    },
    #[error("must be an integer that fits in 64 bits (at most 9223372036854775807), not {0}")]
    IntegerTooLarge(String),
    #[error(
        "must be a time in Unix seconds within the range of dates (about ±262,000 years), not {0}"
    )]
    TimeOutOfRange(i64),
}

fn wanted(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "text",
        ColumnType::Integer => "an integer",
        ColumnType::Number => "a number",
        ColumnType::Boolean => "true or false",
        ColumnType::Timestamp => {
            "a timestamp (RFC 3339 text such as 2026-01-31T12:00:00Z, or Unix seconds)"
        }
        ColumnType::Json => "JSON",
    }
}

fn kind_of(value: &Json) -> &'static str {
    match value {
        Json::Bool(_) => "a boolean",
        Json::Number(n) if n.is_f64() => "a number with a fraction",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
        Json::Null => "null",
    }
}

/// `value` as what a column of type `ty` holds, or why it cannot be. Null
/// always fits here; whether a column may be empty is its own rule.
pub fn column_value(ty: ColumnType, value: &Json) -> Result<ColumnValue, ColumnValueError> {
    let wrong_kind = || ColumnValueError::WrongKind {
        ty,
        found: kind_of(value),
    };
    Ok(match (ty, value) {
        (_, Json::Null) => ColumnValue::Null,
        (ColumnType::Json, value) => ColumnValue::Json(value.to_string()),
        (ColumnType::Text, Json::String(text)) => ColumnValue::Text(text.clone()),
        (ColumnType::Integer, Json::Number(n)) if n.is_u64() || n.is_i64() => ColumnValue::Integer(
            n.as_i64()
                .ok_or_else(|| ColumnValueError::IntegerTooLarge(n.to_string()))?,
        ),
        (ColumnType::Number, Json::Number(n)) => {
            ColumnValue::Number(n.as_f64().ok_or_else(wrong_kind)?)
        }
        (ColumnType::Boolean, Json::Bool(b)) => ColumnValue::Boolean(*b),
        (ColumnType::Timestamp, Json::Number(n)) => {
            let seconds = n.as_i64().ok_or_else(wrong_kind)?;
            ColumnValue::Timestamp {
                time: DateTime::<Utc>::from_timestamp(seconds, 0)
                    .ok_or(ColumnValueError::TimeOutOfRange(seconds))?,
                from_seconds: true,
            }
        }
        (ColumnType::Timestamp, Json::String(text)) => ColumnValue::Timestamp {
            time: DateTime::parse_from_rfc3339(text)
                .map_err(|_| wrong_kind())?
                .with_timezone(&Utc),
            from_seconds: false,
        },
        _ => return Err(wrong_kind()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problem(ty: ColumnType, value: Json) -> String {
        column_value(ty, &value).unwrap_err().to_string()
    }

    #[test]
    fn values_convert_to_what_their_column_holds() {
        use ColumnType as T;
        assert_eq!(
            column_value(T::Text, &json!("a")),
            Ok(ColumnValue::Text("a".into()))
        );
        assert_eq!(
            column_value(T::Integer, &json!(-3)),
            Ok(ColumnValue::Integer(-3))
        );
        assert_eq!(
            column_value(T::Integer, &json!(i64::MAX)),
            Ok(ColumnValue::Integer(i64::MAX))
        );
        assert_eq!(
            column_value(T::Number, &json!(2)),
            Ok(ColumnValue::Number(2.0))
        );
        assert_eq!(
            column_value(T::Number, &json!(1e308)),
            Ok(ColumnValue::Number(1e308))
        );
        assert_eq!(
            column_value(T::Boolean, &json!(true)),
            Ok(ColumnValue::Boolean(true))
        );
        assert_eq!(
            column_value(T::Json, &json!({"a": [1, "x"]})),
            Ok(ColumnValue::Json(r#"{"a":[1,"x"]}"#.into()))
        );
        for ty in [
            T::Text,
            T::Integer,
            T::Number,
            T::Boolean,
            T::Timestamp,
            T::Json,
        ] {
            assert_eq!(column_value(ty, &Json::Null), Ok(ColumnValue::Null));
        }
    }

    #[test]
    fn timestamps_keep_how_they_were_given() {
        let noon = DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            column_value(ColumnType::Timestamp, &json!(noon.timestamp())),
            Ok(ColumnValue::Timestamp {
                time: noon,
                from_seconds: true
            })
        );
        assert_eq!(
            column_value(ColumnType::Timestamp, &json!("2026-01-31T13:00:00+01:00")),
            Ok(ColumnValue::Timestamp {
                time: noon,
                from_seconds: false
            })
        );
    }

    #[test]
    fn values_that_do_not_fit_say_why() {
        use ColumnType as T;
        assert_eq!(
            problem(T::Integer, json!("5")),
            "must be an integer, not a string"
        );
        assert_eq!(
            problem(T::Integer, json!(1.5)),
            "must be an integer, not a number with a fraction"
        );
        assert_eq!(
            problem(T::Integer, json!(u64::MAX)),
            "must be an integer that fits in 64 bits (at most 9223372036854775807), not 18446744073709551615"
        );
        assert_eq!(problem(T::Text, json!([1])), "must be text, not a list");
        assert_eq!(
            problem(T::Boolean, json!(0)),
            "must be true or false, not a number"
        );
        assert!(problem(T::Timestamp, json!("yesterday")).starts_with("must be a timestamp"));
        assert!(problem(T::Timestamp, json!(1.5)).starts_with("must be a timestamp"));
        assert!(problem(T::Timestamp, json!(u64::MAX)).starts_with("must be a timestamp"));
        assert_eq!(
            problem(T::Timestamp, json!(i64::MAX)),
            format!(
                "must be a time in Unix seconds within the range of dates (about ±262,000 years), not {}",
                i64::MAX
            )
        );
    }
}
