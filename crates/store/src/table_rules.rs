//! The rules the builder's tables keep, the same on both backends, with
//! their wording: which changes to a declared table would lose data, which
//! columns a write may name and empty, and how a name is written into SQL.
//! Each backend asks its database what exists and writes its own SQL; what
//! is refused, and what the builder is told, is decided here once.

use chrono::{DateTime, SecondsFormat, Utc};
use paywire_model::{Column, ColumnType, Table};
use serde_json::Value;

use crate::StoreError;

/// A table or column name as SQL writes it. Values are always bound as
/// parameters, so names are the one thing written into SQL. They come from
/// the checked model (lowercase letters, digits and `_`); doubling any `"`,
/// as SQL's quoting asks in both dialects, keeps even a name the model would
/// refuse one identifier. A NUL cannot get through either: SQLite stops
/// reading the statement inside the open quote and fails, and PostgreSQL's
/// client refuses the statement before it is sent.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A timestamp as both backends read it back: RFC 3339 in UTC with
/// milliseconds (`2026-01-31T12:00:00.000Z`), or with micro- or nanoseconds
/// when the time has them. The form depends neither on the backend nor on
/// how the time was given (Unix seconds or text), so that a row reads the
/// same on SQLite, which keeps the text it was given, and on PostgreSQL,
/// which keeps only the instant.
pub fn timestamp_text(time: &DateTime<Utc>) -> String {
    let nanos = time.timestamp_subsec_nanos();
    let digits = if nanos.is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else if nanos.is_multiple_of(1_000) {
        SecondsFormat::Micros
    } else {
        SecondsFormat::Nanos
    };
    time.to_rfc3339_opts(digits, true)
}

/// A column in the database that the YAML no longer declares.
pub(crate) fn dropped_column(table: &Table, column: &str) -> String {
    format!(
        "the column `{}.{column}` is in the database but no longer in the YAML: dropping it would lose its data; \
         put it back, or drop it yourself with SQL if the data can go",
        table.name
    )
}

/// A column whose type in the database (`was`, the database's own name
/// for it when it is none of paywire's) is not the declared one, if so.
pub(crate) fn changed_type(
    table: &Table,
    column: &Column,
    was: Option<ColumnType>,
    was_named: &str,
) -> Option<String> {
    (was != Some(column.ty)).then(|| {
        format!(
            "the column `{}.{}` is {} in the database but {} in the YAML: converting it could lose data; \
             add a new column instead",
            table.name,
            column.name,
            was.map(ColumnType::name).unwrap_or(was_named),
            column.ty.name()
        )
    })
}

/// A column declared unique whose rows share a value.
pub(crate) fn cannot_become_unique(table: &Table, column: &Column) -> String {
    format!(
        "the column `{}.{}` cannot become unique: some rows share a value; make them distinct first",
        table.name, column.name
    )
}

/// A primary key moved to another column than `was`.
pub(crate) fn primary_key_changed(table: &Table, was: Option<&str>) -> String {
    format!(
        "the primary key of `{}` cannot change from `{}` (it would rewrite every row)",
        table.name,
        was.unwrap_or("?")
    )
}

/// Why `column`, new to a table of `rows` rows, cannot be added, if it
/// cannot: one default for many rows breaks `unique`, and no default for
/// existing rows breaks `required`.
pub(crate) fn new_column_problem(table: &Table, column: &Column, rows: i64) -> Option<String> {
    if column.unique && column.default.is_some() && rows > 1 {
        return Some(format!(
            "the new column `{}.{}` is unique, but its default would give the table's {rows} rows the same value: \
             add it without `unique`, fill it, then make it unique",
            table.name, column.name
        ));
    }
    if column.required && column.default.is_none() && rows > 0 {
        return Some(format!(
            "the new column `{}.{}` is required but has no default, and the table already has {rows} rows: \
             give it a default for them",
            table.name, column.name
        ));
    }
    None
}

/// The column `name` of `table`, or the caller's error naming it.
pub(crate) fn column<'t>(table: &'t Table, name: &str) -> Result<&'t Column, StoreError> {
    table.column(name).ok_or_else(|| {
        StoreError::Invalid(format!("the table `{}` has no column `{name}`", table.name))
    })
}

/// The column a write puts `value` into, refusing an unknown column and the
/// emptying of a required one.
pub(crate) fn written_column<'t>(
    table: &'t Table,
    name: &str,
    value: &Value,
) -> Result<&'t Column, StoreError> {
    let column = column(table, name)?;
    if column.required && value.is_null() {
        return Err(StoreError::Invalid(format!(
            "the column `{name}` is required and cannot be null"
        )));
    }
    Ok(column)
}
