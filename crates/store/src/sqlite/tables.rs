//! The builder's tables in SQLite: creation, migration and the four table
//! operations. Identifiers come only from the checked model (lowercase names)
//! and are quoted by `quote`, the one place text is written into SQL; every
//! value, the back-fill of a migration included, is a bound parameter.
//!
//! Defaults and `required` are applied here rather than declared in SQL, so
//! that changing a default needs no migration and a missing value is reported
//! by column name.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, params_from_iter};
use serde_json::{Map, Value};

pub(super) mod copy;

use super::db_error;
use crate::table_rules::{self, column, quote};
use crate::{
    Direction, Filter, FilterOp, MigrationReport, OnConflict, Selector, StoreError, TableOp,
    timestamp_text,
};
use paywire_model::{Column, ColumnType, ColumnValue, Table, column_value};

/// The most rows one select returns.
pub const MAX_LIMIT: u32 = 1000;

fn sql_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "TEXT",
        ColumnType::Integer => "INTEGER",
        ColumnType::Number => "REAL",
        ColumnType::Boolean => "BOOLEAN",
        ColumnType::Timestamp => "TIMESTAMP",
        ColumnType::Json => "JSON",
    }
}

fn column_type_of(sql: &str) -> Option<ColumnType> {
    Some(match sql.to_ascii_uppercase().as_str() {
        "TEXT" => ColumnType::Text,
        "INTEGER" => ColumnType::Integer,
        "REAL" => ColumnType::Number,
        "BOOLEAN" => ColumnType::Boolean,
        "TIMESTAMP" => ColumnType::Timestamp,
        "JSON" => ColumnType::Json,
        _ => return None,
    })
}

fn create_sql(table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let mut sql = format!("{} {}", quote(&c.name), sql_type(c.ty));
            if c.primary_key {
                sql.push_str(" PRIMARY KEY");
                if c.ty != ColumnType::Integer {
                    sql.push_str(" NOT NULL");
                }
            }
            sql
        })
        .collect();
    format!(
        "CREATE TABLE {} ({})",
        quote(&table.name),
        columns.join(", ")
    )
}

fn unique_index_name(table: &Table, column: &Column) -> String {
    format!("{}_{}_unique", table.name, column.name)
}

fn unique_index_sql(table: &Table, column: &Column) -> String {
    format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
        quote(&unique_index_name(table, column)),
        quote(&table.name),
        quote(&column.name)
    )
}

fn unique_index_exists(
    conn: &Connection,
    table: &Table,
    column: &Column,
) -> Result<bool, StoreError> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
        [unique_index_name(table, column)],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(db_error)
}

fn has_duplicates(conn: &Connection, table: &Table, column: &Column) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {t} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)",
        t = quote(&table.name),
        c = quote(&column.name)
    );
    conn.query_row(&sql, [], |r| r.get::<_, bool>(0))
        .map_err(db_error)
}

struct ExistingColumn {
    name: String,
    sql_type: String,
    primary_key: bool,
}

fn existing_columns(
    conn: &Connection,
    table: &str,
) -> Result<Option<Vec<ExistingColumn>>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT name, type, pk FROM pragma_table_info(?1)")
        .map_err(db_error)?;
    let columns = stmt
        .query_map([table], |row| {
            Ok(ExistingColumn {
                name: row.get(0)?,
                sql_type: row.get(1)?,
                primary_key: row.get::<_, i64>(2)? > 0,
            })
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    Ok(if columns.is_empty() {
        None
    } else {
        Some(columns)
    })
}

/// One statement of a migration, with the values it binds.
struct Statement {
    sql: String,
    params: Vec<SqlValue>,
}

impl From<String> for Statement {
    fn from(sql: String) -> Statement {
        Statement {
            sql,
            params: Vec::new(),
        }
    }
}

/// Creates missing tables and adds new columns. Every problem with every
/// table is found before anything changes; if there is any, nothing changes.
///
/// The tables' definitions (`CREATE TABLE`, `ALTER TABLE`, indexes) hold
/// names and types only, since defaults are applied by `insert` rather
/// than declared; the one value a migration writes, a new column's default
/// for the rows already there, is an `UPDATE` that binds it.
pub fn migrate(conn: &Connection, tables: &[Arc<Table>]) -> Result<MigrationReport, StoreError> {
    let mut problems = Vec::new();
    let mut statements = Vec::new();
    let mut report = MigrationReport::default();
    for table in tables {
        let Some(existing) = existing_columns(conn, &table.name)? else {
            statements.push(Statement::from(create_sql(table)));
            report.created.push(table.name.clone());
            for column in table.columns.iter().filter(|c| c.unique) {
                statements.push(unique_index_sql(table, column).into());
            }
            continue;
        };
        for old in &existing {
            match table.column(&old.name) {
                None => problems.push(table_rules::dropped_column(table, &old.name)),
                Some(new) => {
                    problems.extend(table_rules::changed_type(
                        table,
                        new,
                        column_type_of(&old.sql_type),
                        &old.sql_type,
                    ));
                    let index_exists = unique_index_exists(conn, table, new)?;
                    if new.unique && !index_exists {
                        if has_duplicates(conn, table, new)? {
                            problems.push(table_rules::cannot_become_unique(table, new));
                        } else {
                            statements.push(unique_index_sql(table, new).into());
                        }
                    } else if !new.unique && index_exists {
                        statements.push(
                            format!("DROP INDEX {}", quote(&unique_index_name(table, new))).into(),
                        );
                    }
                    if old.primary_key != new.primary_key {
                        let was = existing.iter().find(|c| c.primary_key);
                        problems.push(table_rules::primary_key_changed(
                            table,
                            was.map(|c| c.name.as_str()),
                        ));
                    }
                }
            }
        }
        let rows: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {}", quote(&table.name)),
                [],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        for column in table
            .columns
            .iter()
            .filter(|c| !existing.iter().any(|o| o.name == c.name))
        {
            if column.primary_key {
                continue;
            }
            if let Some(problem) = table_rules::new_column_problem(table, column, rows) {
                problems.push(problem);
                continue;
            }
            statements.push(
                format!(
                    "ALTER TABLE {} ADD COLUMN {} {}",
                    quote(&table.name),
                    quote(&column.name),
                    sql_type(column.ty)
                )
                .into(),
            );
            if let Some(default) = &column.default {
                statements.push(Statement {
                    sql: format!(
                        "UPDATE {} SET {} = ?1",
                        quote(&table.name),
                        quote(&column.name)
                    ),
                    params: vec![to_sql(column, default).map_err(StoreError::Invalid)?],
                });
            }
            if column.unique {
                statements.push(unique_index_sql(table, column).into());
            }
            report
                .added_columns
                .push(format!("{}.{}", table.name, column.name));
        }
    }
    if !problems.is_empty() {
        return Err(StoreError::Migration(problems));
    }
    for Statement { sql, params } in statements {
        conn.execute(&sql, params_from_iter(params))
            .map_err(db_error)?;
    }
    Ok(report)
}

/// A JSON value as the SQL value stored in `column`. The model's check of
/// the value is also its conversion, so a value it accepts always converts.
pub fn to_sql(column: &Column, value: &Value) -> Result<SqlValue, String> {
    column_value(column.ty, value)
        .map(stored)
        .map_err(|problem| format!("the column `{}` {problem}", column.name))
}

/// What SQLite stores for a value that fits its column: booleans as 0 or 1,
/// JSON as its text, timestamps as RFC 3339 text in UTC.
fn stored(value: ColumnValue) -> SqlValue {
    match value {
        ColumnValue::Null => SqlValue::Null,
        ColumnValue::Text(text) | ColumnValue::Json(text) => SqlValue::Text(text),
        ColumnValue::Integer(i) => SqlValue::Integer(i),
        ColumnValue::Number(f) => SqlValue::Real(f),
        ColumnValue::Boolean(b) => SqlValue::Integer(i64::from(b)),
        // Unix seconds are written with milliseconds and times given as
        // text with only the fraction they need, as they always have been:
        // the stored text stays as it was written, and filters and order
        // compare every form alike through `timestamp_key_sql`, while reads
        // answer in the one form of `timestamp_text`.
        ColumnValue::Timestamp {
            time,
            from_seconds: true,
        } => SqlValue::Text(time.to_rfc3339_opts(SecondsFormat::Millis, true)),
        ColumnValue::Timestamp {
            time,
            from_seconds: false,
        } => SqlValue::Text(time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    }
}

fn from_sql(column: &Column, value: ValueRef<'_>) -> Value {
    match (column.ty, value) {
        (_, ValueRef::Null) => Value::Null,
        (ColumnType::Boolean, ValueRef::Integer(i)) => Value::Bool(i != 0),
        // The text keeps how the time was given (see `stored`); it reads
        // back in the one form both backends answer with.
        (ColumnType::Timestamp, ValueRef::Text(t)) => {
            let text = String::from_utf8_lossy(t);
            match DateTime::parse_from_rfc3339(&text) {
                Ok(time) => Value::String(timestamp_text(&time.with_timezone(&Utc))),
                Err(_) => Value::String(text.into_owned()),
            }
        }
        (ColumnType::Json, ValueRef::Text(t)) => serde_json::from_slice(t)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(t).into_owned())),
        (_, ValueRef::Integer(i)) => Value::from(i),
        (_, ValueRef::Real(f)) => Value::from(f),
        (_, ValueRef::Text(t)) => Value::String(String::from_utf8_lossy(t).into_owned()),
        (_, ValueRef::Blob(_)) => Value::Null,
    }
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_rows(
    conn: &Connection,
    table: &Table,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<Value>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(db_error)?;
    let mut rows = stmt
        .query(params_from_iter(params.iter()))
        .map_err(classify)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(classify)? {
        let mut object = Map::with_capacity(table.columns.len());
        for (i, c) in table.columns.iter().enumerate() {
            object.insert(
                c.name.clone(),
                from_sql(c, row.get_ref(i).map_err(db_error)?),
            );
        }
        out.push(Value::Object(object));
    }
    Ok(out)
}

/// Constraint failures are the caller's to fix; anything else is internal.
fn classify(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(code, message) = &e
        && code.code == rusqlite::ErrorCode::ConstraintViolation
    {
        let detail = message
            .clone()
            .unwrap_or_else(|| "a constraint failed".into());
        if detail.starts_with("UNIQUE") {
            return StoreError::Conflict(format!(
                "a row with the same value already exists ({detail})"
            ));
        }
        return StoreError::Invalid(detail);
    }
    db_error(e)
}

/// The text by which a timestamp column compares and sorts: the stored
/// text (see `stored`) with its fraction written out to nine digits. Rows
/// keep the form they were given in (`…:20Z` as text, `…:20.000Z` as Unix
/// seconds, `…:20.5Z` as `…:20.500Z`), whose texts alone would put `…:20Z`
/// after `…:20.500Z` and tell it from `…:20.000Z`; their keys compare as
/// the instants do, as on PostgreSQL. Only a unique column has an index,
/// which a comparison by key does not use; a key lookup
/// (`Selector::Id`) still compares the stored text.
fn timestamp_key_sql(q: &str) -> String {
    format!(
        "(CASE WHEN {q} LIKE '%:__Z' THEN substr({q}, 1, length({q}) - 1) || '.000000000Z' \
         WHEN {q} LIKE '%.___Z' THEN substr({q}, 1, length({q}) - 1) || '000000Z' \
         WHEN {q} LIKE '%.______Z' THEN substr({q}, 1, length({q}) - 1) || '000Z' \
         ELSE {q} END)"
    )
}

/// A timestamp filter's value as its key (see `timestamp_key_sql`).
fn timestamp_key(value: SqlValue) -> SqlValue {
    match value {
        SqlValue::Text(text) => match DateTime::parse_from_rfc3339(&text) {
            Ok(time) => SqlValue::Text(
                time.with_timezone(&Utc)
                    .to_rfc3339_opts(SecondsFormat::Nanos, true),
            ),
            Err(_) => SqlValue::Text(text),
        },
        other => other,
    }
}

fn where_clause(
    table: &Table,
    selector: &Selector,
    params: &mut Vec<SqlValue>,
) -> Result<String, StoreError> {
    let filters = match selector {
        Selector::Id(id) => {
            let key = column(table, &table.primary_key)?;
            params.push(to_sql(key, id).map_err(StoreError::Invalid)?);
            return Ok(format!(" WHERE {} = ?", quote(&key.name)));
        }
        Selector::Filters(filters) => filters,
    };
    if filters.is_empty() {
        return Ok(String::new());
    }
    let mut parts = Vec::with_capacity(filters.len());
    for Filter {
        column: name,
        op,
        value,
    } in filters
    {
        let c = column(table, name)?;
        let q = quote(&c.name);
        let timestamp = c.ty == ColumnType::Timestamp;
        // What the row's value is compared as: timestamps by their key.
        let operand = if timestamp {
            timestamp_key_sql(&q)
        } else {
            q.clone()
        };
        let bind = |params: &mut Vec<SqlValue>, v: &Value| -> Result<(), StoreError> {
            let value = to_sql(c, v).map_err(StoreError::Invalid)?;
            params.push(if timestamp {
                timestamp_key(value)
            } else {
                value
            });
            Ok(())
        };
        let compare = |params: &mut Vec<SqlValue>, sign: &str| -> Result<String, StoreError> {
            bind(params, value)?;
            Ok(format!("{operand} {sign} ?"))
        };
        let part = match op {
            FilterOp::Eq | FilterOp::Ne if value.is_null() => {
                format!(
                    "{q} IS {}NULL",
                    if *op == FilterOp::Ne { "NOT " } else { "" }
                )
            }
            FilterOp::In | FilterOp::NotIn => {
                let items = value.as_array().ok_or_else(|| {
                    StoreError::Invalid(format!("the filter `{name}` takes a list of values"))
                })?;
                if items.is_empty() {
                    (if *op == FilterOp::In { "0" } else { "1" }).to_string()
                } else {
                    for item in items {
                        bind(params, item)?;
                    }
                    let marks = vec!["?"; items.len()].join(", ");
                    format!(
                        "{operand} {}IN ({marks})",
                        if *op == FilterOp::NotIn { "NOT " } else { "" }
                    )
                }
            }
            FilterOp::Like => {
                let pattern = value.as_str().ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "the filter `{name}` like takes text such as `%@example.com`"
                    ))
                })?;
                params.push(SqlValue::Text(pattern.to_string()));
                format!("{q} LIKE ?")
            }
            FilterOp::Eq => compare(params, "=")?,
            FilterOp::Ne => compare(params, "<>")?,
            FilterOp::Gt => compare(params, ">")?,
            FilterOp::Gte => compare(params, ">=")?,
            FilterOp::Lt => compare(params, "<")?,
            FilterOp::Lte => compare(params, "<=")?,
        };
        parts.push(part);
    }
    Ok(format!(" WHERE {}", parts.join(" AND ")))
}

/// Checks values against their columns, refusing to empty a required one.
fn bind_values(
    table: &Table,
    values: &Map<String, Value>,
) -> Result<Vec<(String, SqlValue)>, StoreError> {
    let mut out = Vec::with_capacity(values.len());
    for (name, value) in values {
        let c = table_rules::written_column(table, name, value)?;
        out.push((quote(name), to_sql(c, value).map_err(StoreError::Invalid)?));
    }
    Ok(out)
}

fn select(
    conn: &Connection,
    table: &Table,
    selector: &Selector,
    order: &[(String, Direction)],
    limit: u32,
    offset: u64,
) -> Result<Value, StoreError> {
    let mut params = Vec::new();
    let mut sql = format!("SELECT {} FROM {}", column_list(table), quote(&table.name));
    sql.push_str(&where_clause(table, selector, &mut params)?);
    if !order.is_empty() {
        let terms: Result<Vec<String>, StoreError> = order
            .iter()
            .map(|(name, direction)| {
                let c = column(table, name)?;
                let direction = match direction {
                    Direction::Asc => "ASC",
                    Direction::Desc => "DESC",
                };
                let q = quote(&c.name);
                Ok(match c.ty {
                    ColumnType::Timestamp => format!("{} {direction}", timestamp_key_sql(&q)),
                    _ => format!("{q} {direction}"),
                })
            })
            .collect();
        sql.push_str(&format!(" ORDER BY {}", terms?.join(", ")));
    }
    sql.push_str(" LIMIT ? OFFSET ?");
    params.push(SqlValue::Integer(i64::from(limit.min(MAX_LIMIT))));
    params.push(SqlValue::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
    let rows = read_rows(conn, table, &sql, &params)?;
    Ok(match selector {
        Selector::Id(_) => rows.into_iter().next().unwrap_or(Value::Null),
        Selector::Filters(_) => Value::Array(rows),
    })
}

/// How many rows each table holds, in the order given. A table the
/// database does not have (yet) counts as empty rather than failing the
/// whole answer.
pub fn count_rows(conn: &Connection, tables: &[Arc<Table>]) -> Result<Vec<u64>, StoreError> {
    let mut counts = Vec::with_capacity(tables.len());
    for table in tables {
        let exists: bool = conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            )
            .map_err(db_error)?
            .query_row([&table.name], |r| r.get(0))
            .map_err(db_error)?;
        if !exists {
            counts.push(0);
            continue;
        }
        let rows: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {}", quote(&table.name)),
                [],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        counts.push(u64::try_from(rows).unwrap_or(0));
    }
    Ok(counts)
}

pub fn execute(conn: &Connection, op: &TableOp) -> Result<Value, StoreError> {
    match op {
        TableOp::Select {
            table,
            selector,
            order,
            limit,
            offset,
        } => select(conn, table, selector, order, *limit, *offset),
        TableOp::Insert {
            table,
            values,
            on_conflict,
        } => insert(conn, table, values, *on_conflict),
        TableOp::Update {
            table,
            selector,
            values,
        } => {
            if values.is_empty() {
                return Err(StoreError::Invalid(
                    "`values` names no column to update".into(),
                ));
            }
            let mut params = Vec::new();
            let sets: Vec<String> = bind_values(table, values)?
                .into_iter()
                .map(|(name, value)| {
                    params.push(value);
                    format!("{name} = ?")
                })
                .collect();
            let mut sql = format!("UPDATE {} SET {}", quote(&table.name), sets.join(", "));
            sql.push_str(&where_clause(table, selector, &mut params)?);
            sql.push_str(&format!(" RETURNING {}", column_list(table)));
            let rows = read_rows(conn, table, &sql, &params)?;
            Ok(match selector {
                Selector::Id(_) => rows.into_iter().next().unwrap_or(Value::Null),
                Selector::Filters(_) => Value::Array(rows),
            })
        }
        TableOp::Delete { table, selector } => {
            let mut params = Vec::new();
            let mut sql = format!("DELETE FROM {}", quote(&table.name));
            sql.push_str(&where_clause(table, selector, &mut params)?);
            let deleted = conn
                .prepare_cached(&sql)
                .map_err(db_error)?
                .execute(params_from_iter(params.iter()))
                .map_err(classify)?;
            Ok(serde_json::json!({ "deleted": deleted }))
        }
    }
}

fn insert(
    conn: &Connection,
    table: &Table,
    given: &Map<String, Value>,
    on_conflict: OnConflict,
) -> Result<Value, StoreError> {
    let mut values = given.clone();
    for c in &table.columns {
        if !values.contains_key(&c.name)
            && let Some(default) = &c.default
        {
            values.insert(c.name.clone(), default.clone());
        }
    }
    for c in &table.columns {
        let missing = values.get(&c.name).is_none_or(Value::is_null);
        let auto_key = c.primary_key && c.ty == ColumnType::Integer;
        if missing && (c.required || c.primary_key) && !auto_key {
            return Err(StoreError::Invalid(format!(
                "the column `{}` of `{}` needs a value",
                c.name, table.name
            )));
        }
    }
    let bound = bind_values(table, &values)?;
    let names: Vec<&str> = bound.iter().map(|(n, _)| n.as_str()).collect();
    let params: Vec<SqlValue> = bound.iter().map(|(_, v)| v.clone()).collect();
    let key = quote(&table.primary_key);
    let mut sql = if names.is_empty() {
        format!("INSERT INTO {} DEFAULT VALUES", quote(&table.name))
    } else {
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(&table.name),
            names.join(", "),
            vec!["?"; names.len()].join(", ")
        )
    };
    match on_conflict {
        OnConflict::Error => {}
        OnConflict::Nothing => sql.push_str(&format!(" ON CONFLICT ({key}) DO NOTHING")),
        OnConflict::Update => {
            // Only the columns the step gave are overwritten; defaults fill
            // new rows but never reset an existing one.
            let updates: Vec<String> = given
                .keys()
                .filter(|name| **name != table.primary_key)
                .map(|name| format!("{0} = excluded.{0}", quote(name)))
                .collect();
            if updates.is_empty() {
                sql.push_str(&format!(" ON CONFLICT ({key}) DO NOTHING"));
            } else {
                sql.push_str(&format!(
                    " ON CONFLICT ({key}) DO UPDATE SET {}",
                    updates.join(", ")
                ));
            }
        }
    }
    sql.push_str(&format!(" RETURNING {}", column_list(table)));
    if let Some(row) = read_rows(conn, table, &sql, &params)?.into_iter().next() {
        return Ok(row);
    }
    // DO NOTHING kept the row that was there: answer with it.
    let id = values
        .get(&table.primary_key)
        .cloned()
        .unwrap_or(Value::Null);
    select(conn, table, &Selector::Id(id), &[], 1, 0)
}

#[cfg(test)]
mod tests;
