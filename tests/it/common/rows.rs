//! What a server committed, read with SQL from whichever database it runs
//! on, as the same JSON on both: a test asserts one thing, and it holds on
//! SQLite and on PostgreSQL alike.
//!
//! Each backend stores a column type its own way (SQLite booleans as 0 and
//! 1, timestamps as the text they were given in, JSON as text; PostgreSQL
//! `boolean`, `timestamptz`, `jsonb`), so each value is turned into what the
//! store itself answers with: integers, floats, text, `true` and `false`,
//! times in the one form of `paywire_store::timestamp_text`, and JSON values.
//! On SQLite a column's declared type says which it is, so the SQL should
//! select columns rather than expressions of them.

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use tokio_postgres::types::Type;

use paywire_store::timestamp_text;

/// The rows `sql` selects from the SQLite file at `path`.
pub fn sqlite(path: &Path, sql: &str) -> Vec<Value> {
    use rusqlite::types::ValueRef;
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let columns: Vec<(String, String)> = stmt
        .columns()
        .map(|c| {
            (
                c.name().to_string(),
                c.decl_type().unwrap_or_default().to_ascii_uppercase(),
            )
        })
        .collect();
    stmt.query_map([], |row| {
        let mut object = Map::new();
        for (i, (name, declared)) in columns.iter().enumerate() {
            let value = match (declared.as_str(), row.get_ref(i)?) {
                (_, ValueRef::Null) => Value::Null,
                ("BOOLEAN", ValueRef::Integer(n)) => Value::Bool(n != 0),
                ("TIMESTAMP", ValueRef::Text(t)) => time_text(&String::from_utf8_lossy(t)),
                ("JSON", ValueRef::Text(t)) => {
                    serde_json::from_slice(t).unwrap_or_else(|_| json!(String::from_utf8_lossy(t)))
                }
                (_, ValueRef::Integer(n)) => json!(n),
                (_, ValueRef::Real(f)) => json!(f),
                (_, ValueRef::Text(t)) => json!(String::from_utf8_lossy(t)),
                (_, ValueRef::Blob(_)) => panic!("{sql}: `{name}` is a blob, which no test reads"),
            };
            object.insert(name.clone(), value);
        }
        Ok(Value::Object(object))
    })
    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A time stored as RFC 3339 text, in the one form both stores answer with;
/// text that is no time stays as it is.
fn time_text(text: &str) -> Value {
    match DateTime::parse_from_rfc3339(text) {
        Ok(time) => json!(timestamp_text(&time.with_timezone(&Utc))),
        Err(_) => json!(text),
    }
}

/// The rows `sql` selects in PostgreSQL at `url` (a schema's URL).
pub async fn postgres(url: &str, sql: &str) -> Vec<Value> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL: {e}"));
    tokio::spawn(connection);
    let rows = client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter()
        .map(|row| {
            let mut object = Map::new();
            for (i, column) in row.columns().iter().enumerate() {
                let value = postgres_value(row, i, column.type_())
                    .unwrap_or_else(|e| panic!("{sql}: `{}`: {e}", column.name()));
                object.insert(column.name().to_string(), value);
            }
            Value::Object(object)
        })
        .collect()
}

fn postgres_value(
    row: &tokio_postgres::Row,
    i: usize,
    ty: &Type,
) -> Result<Value, tokio_postgres::Error> {
    let value = match ty.name() {
        "bool" => row.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
        "int2" => row.try_get::<_, Option<i16>>(i)?.map(|n| json!(n)),
        "int4" => row.try_get::<_, Option<i32>>(i)?.map(|n| json!(n)),
        "int8" => row.try_get::<_, Option<i64>>(i)?.map(|n| json!(n)),
        "float4" => row.try_get::<_, Option<f32>>(i)?.map(|f| json!(f)),
        "float8" => row.try_get::<_, Option<f64>>(i)?.map(|f| json!(f)),
        "timestamptz" => row
            .try_get::<_, Option<DateTime<Utc>>>(i)?
            .map(|t| json!(timestamp_text(&t))),
        "timestamp" => row
            .try_get::<_, Option<NaiveDateTime>>(i)?
            .map(|t| json!(timestamp_text(&t.and_utc()))),
        "json" | "jsonb" => row.try_get::<_, Option<Value>>(i)?,
        // Text, and whatever else: its text, as a test would print it.
        _ => row.try_get::<_, Option<String>>(i)?.map(Value::String),
    };
    Ok(value.unwrap_or(Value::Null))
}
