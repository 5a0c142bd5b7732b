//! Values of the builder's tables between JSON and PostgreSQL: a checked
//! value as the parameter bound for its column, and a column read back as
//! the JSON the SQLite store answers with.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use paywire_model::{Column, ColumnType, ColumnValue, Table, column_value};

use crate::timestamp_text;

/// A bound value. Statements are built with a varying number of values, so
/// each is boxed rather than borrowed from a fixed list.
pub(super) type Param = Box<dyn ToSql + Sync + Send>;

/// The earliest instant PostgreSQL stores (midnight UTC starting 24 November
/// 4714 BC), in Unix seconds. The latest is beyond every time `chrono`
/// reads, so it needs no check.
const EARLIEST_SECONDS: i64 = -210_866_803_200;

/// A value that fits its column, as PostgreSQL takes it.
#[derive(Debug)]
pub(super) enum Stored {
    Null,
    Text(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    Timestamp(DateTime<Utc>),
    Json(Value),
}

/// A JSON value as what `column` stores, or why it cannot be, in a sentence
/// naming the column. The model's check of the value is also its
/// conversion; what PostgreSQL refuses on top of it (NUL characters, times
/// before 4714 BC) is refused here, by column name, rather than by the
/// server in words that name no column.
pub(super) fn to_sql(column: &Column, value: &Value) -> Result<Stored, String> {
    let problem =
        |problem: &dyn std::fmt::Display| format!("the column `{}` {problem}", column.name);
    let nul = "must not contain the character U+0000, which PostgreSQL cannot store";
    Ok(
        match column_value(column.ty, value).map_err(|e| problem(&e))? {
            ColumnValue::Null => Stored::Null,
            ColumnValue::Text(text) => {
                if text.contains('\0') {
                    return Err(problem(&nul));
                }
                Stored::Text(text)
            }
            ColumnValue::Integer(i) => Stored::Integer(i),
            ColumnValue::Number(f) => Stored::Number(f),
            ColumnValue::Boolean(b) => Stored::Boolean(b),
            // How the time was given only decides SQLite's text; an instant
            // is all PostgreSQL keeps (see the module's opening comment).
            ColumnValue::Timestamp { time, .. } => {
                if time.timestamp() < EARLIEST_SECONDS {
                    return Err(problem(&format_args!(
                        "must be a time from 24 November 4714 BC on, the earliest PostgreSQL stores, not {}",
                        time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                    )));
                }
                Stored::Timestamp(time)
            }
            // The text is the model's serialisation of a JSON value, so it
            // parses; `jsonb` is bound as a value rather than as text.
            ColumnValue::Json(text) => {
                let json: Value = serde_json::from_str(&text).map_err(|e| {
                    problem(&format_args!("must be JSON that PostgreSQL can read ({e})"))
                })?;
                if holds_nul(&json) {
                    return Err(problem(&nul));
                }
                Stored::Json(json)
            }
        },
    )
}

/// Whether a text or key anywhere in `value` holds U+0000, which `jsonb`
/// refuses.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

impl Stored {
    /// The value as a parameter of a column of type `ty`. An empty value is
    /// typed too: the server checks every parameter's type, empty or not.
    pub(super) fn param(self, ty: ColumnType) -> Param {
        match self {
            Stored::Null => match ty {
                ColumnType::Text => Box::new(None::<String>),
                ColumnType::Integer => Box::new(None::<i64>),
                ColumnType::Number => Box::new(None::<f64>),
                ColumnType::Boolean => Box::new(None::<bool>),
                ColumnType::Timestamp => Box::new(None::<DateTime<Utc>>),
                ColumnType::Json => Box::new(None::<Value>),
            },
            Stored::Text(text) => Box::new(text),
            Stored::Integer(i) => Box::new(i),
            Stored::Number(f) => Box::new(f),
            Stored::Boolean(b) => Box::new(b),
            Stored::Timestamp(time) => Box::new(time),
            Stored::Json(json) => Box::new(json),
        }
    }
}

/// Values of a column of type `ty` as one array parameter, for `in` and
/// `not_in`: one statement, whatever the length of the list.
pub(super) fn list(ty: ColumnType, items: Vec<Stored>) -> Param {
    // `to_sql` gives a value of the column's own kind or nothing, so the
    // other arms only ever see `Stored::Null`.
    fn collect<T>(items: Vec<Stored>, pick: fn(Stored) -> Option<T>) -> Vec<Option<T>> {
        items.into_iter().map(pick).collect()
    }
    match ty {
        ColumnType::Text => Box::new(collect(items, |v| match v {
            Stored::Text(t) => Some(t),
            _ => None,
        })),
        ColumnType::Integer => Box::new(collect(items, |v| match v {
            Stored::Integer(i) => Some(i),
            _ => None,
        })),
        ColumnType::Number => Box::new(collect(items, |v| match v {
            Stored::Number(f) => Some(f),
            _ => None,
        })),
        ColumnType::Boolean => Box::new(collect(items, |v| match v {
            Stored::Boolean(b) => Some(b),
            _ => None,
        })),
        ColumnType::Timestamp => Box::new(collect(items, |v| match v {
            Stored::Timestamp(t) => Some(t),
            _ => None,
        })),
        ColumnType::Json => Box::new(collect(items, |v| match v {
            Stored::Json(j) => Some(j),
            _ => None,
        })),
    }
}

/// The parameters as the client's calls take them.
pub(super) fn refs(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// A row of `table`, read from its columns in the table's order, as the
/// JSON object SQLite's store answers with.
pub(super) fn read_row(table: &Table, row: &Row) -> Result<Value, tokio_postgres::Error> {
    let mut object = Map::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        object.insert(c.name.clone(), read(c, row, i)?);
    }
    Ok(Value::Object(object))
}

fn read(column: &Column, row: &Row, i: usize) -> Result<Value, tokio_postgres::Error> {
    Ok(match column.ty {
        ColumnType::Text => row.try_get::<_, Option<String>>(i)?.map(Value::String),
        ColumnType::Integer => row.try_get::<_, Option<i64>>(i)?.map(Value::from),
        ColumnType::Number => row.try_get::<_, Option<f64>>(i)?.map(Value::from),
        ColumnType::Boolean => row.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
        ColumnType::Timestamp => row
            .try_get::<_, Option<DateTime<Utc>>>(i)?
            .map(|t| Value::String(timestamp_text(&t))),
        ColumnType::Json => row.try_get::<_, Option<Value>>(i)?.map(as_sqlite_reads),
    }
    .unwrap_or(Value::Null))
}

/// A JSON value as SQLite's store reads it back. SQLite gives its `JSON`
/// columns numeric affinity, so a value that is one number is stored as a
/// number rather than as text: a whole number strictly between -2^63 and
/// 2^63 comes back as an integer (`1.0` as `1`), and an integer beyond
/// 64 bits as a float. Numbers inside lists and objects stay text there
/// and keep their form.
fn as_sqlite_reads(value: Value) -> Value {
    /// 2^63, the first float past the integers SQLite converts to.
    const END: f64 = 9_223_372_036_854_775_808.0;
    let Value::Number(n) = &value else {
        return value;
    };
    if n.is_i64() {
        return value;
    }
    if let Some(u) = n.as_u64() {
        return Value::from(u as f64);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && -END < f && f < END => Value::from(f as i64),
        _ => value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_numbers_read_as_sqlite_reads_them() {
        let cases = [
            (json!(1.0), json!(1)),
            (json!(-0.0), json!(0)),
            (json!(-3.0), json!(-3)),
            (json!(2.5), json!(2.5)),
            (json!(42), json!(42)),
            (json!(1e18), json!(1_000_000_000_000_000_000_i64)),
            (
                json!(9.223372036854775e18),
                json!(9_223_372_036_854_774_784_i64),
            ),
            (json!(9.223372036854776e18), json!(9.223372036854776e18)),
            (json!(-9.223372036854776e18), json!(-9.223372036854776e18)),
            (json!(i64::MIN), json!(i64::MIN)),
            (json!(u64::MAX), json!(u64::MAX as f64)),
            (json!(1e300), json!(1e300)),
            (json!([1.0]), json!([1.0])),
            (json!("1"), json!("1")),
        ];
        for (stored, read) in cases {
            assert_eq!(as_sqlite_reads(stored.clone()), read, "{stored}");
        }
    }

    #[test]
    fn values_postgresql_refuses_are_refused_by_column() {
        let column = |ty| Column {
            name: "c".into(),
            ty,
            primary_key: false,
            required: false,
            unique: false,
            default: None,
        };
        let nul =
            "the column `c` must not contain the character U+0000, which PostgreSQL cannot store";
        assert_eq!(
            to_sql(&column(ColumnType::Text), &json!("a\0b")).map(drop),
            Err(nul.to_string())
        );
        assert_eq!(
            to_sql(&column(ColumnType::Json), &json!({"k": ["\0"]})).map(drop),
            Err(nul.to_string())
        );
        assert_eq!(
            to_sql(&column(ColumnType::Json), &json!({"\0": 1})).map(drop),
            Err(nul.to_string())
        );
        assert!(matches!(
            to_sql(&column(ColumnType::Timestamp), &json!(EARLIEST_SECONDS)),
            Ok(Stored::Timestamp(_))
        ));
        assert!(
            to_sql(&column(ColumnType::Timestamp), &json!(EARLIEST_SECONDS - 1)).is_err_and(
                |e| e.starts_with("the column `c` must be a time from 24 November 4714 BC on")
            )
        );
        assert_eq!(
            to_sql(&column(ColumnType::Integer), &json!("1")).map(drop),
            Err("the column `c` must be an integer, not a string".to_string())
        );
    }
}
