//! The builder's tables in a copy of the SQLite store (see `crate::copy`):
//! which tables the file has, their rows a page at a time, and rows written
//! back exactly as they were read, with no default filled in and no
//! `required` checked, since the copy must be what was there.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params, params_from_iter};
use serde_json::{Map, Value};

use super::{from_sql, quote, to_sql};
use crate::sqlite::copy::write_error;
use crate::sqlite::db_error;
use crate::{Page, Records, StoreError};
use paywire_model::Table;

/// Every table of the builder's in the file, with its rows. The builder's
/// names start with a letter; paywire's own start with `_`, SQLite's with
/// `sqlite_`.
pub(in crate::sqlite) fn builder_tables(
    conn: &Connection,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let names: Vec<String> = {
        let mut statement = conn
            .prepare_cached(
                "SELECT name FROM sqlite_master
                 WHERE type = 'table' AND substr(name, 1, 1) <> '_' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
                 ORDER BY name",
            )
            .map_err(db_error)?;
        let rows = statement.query_map([], |r| r.get(0)).map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    let mut tables = BTreeMap::new();
    for name in names {
        let rows: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {}", quote(&name)), [], |r| {
                r.get(0)
            })
            .map_err(db_error)?;
        tables.insert(name, u64::try_from(rows).unwrap_or(0));
    }
    Ok(tables)
}

/// Rows of `table` after the one at `rowid` `after`, in `rowid` order:
/// whatever the type of the primary key, `rowid` orders the rows once and
/// for all (for an integer key, it is the key). `_rowid_` is its name that
/// no column can take, as a column's name starts with a letter.
pub(in crate::sqlite) fn export_rows(
    conn: &Connection,
    table: &Arc<Table>,
    after: Option<i64>,
    limit: u32,
) -> Result<Page, StoreError> {
    let columns: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let sql = format!(
        "SELECT _rowid_, {} FROM {} WHERE _rowid_ > ?1 ORDER BY _rowid_ LIMIT ?2",
        columns.join(", "),
        quote(&table.name)
    );
    let mut statement = conn.prepare_cached(&sql).map_err(db_error)?;
    let mut found = statement
        .query(params![after.unwrap_or(i64::MIN), limit])
        .map_err(db_error)?;
    let mut rows = Vec::new();
    let mut last = None;
    while let Some(row) = found.next().map_err(db_error)? {
        last = Some(row.get::<_, i64>(0).map_err(db_error)?);
        let mut object = Map::with_capacity(table.columns.len());
        for (i, column) in table.columns.iter().enumerate() {
            let value = from_sql(column, row.get_ref(i + 1).map_err(db_error)?);
            object.insert(column.name.clone(), value);
        }
        rows.push(object);
    }
    Ok(Page::of(
        Records::Rows {
            table: table.clone(),
            rows,
        },
        limit,
        last.map(Value::from),
    ))
}

/// Writes rows of `table` as they are: every column, a missing one as null.
pub(in crate::sqlite) fn import_rows(
    conn: &Connection,
    table: &Table,
    rows: &[Map<String, Value>],
) -> Result<(), StoreError> {
    let names: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(&table.name),
        names.join(", "),
        marks.join(", ")
    );
    let mut statement = conn.prepare_cached(&sql).map_err(db_error)?;
    for row in rows {
        for name in row.keys() {
            crate::table_rules::column(table, name)?;
        }
        let values = table
            .columns
            .iter()
            .map(|column| to_sql(column, row.get(&column.name).unwrap_or(&Value::Null)))
            .collect::<Result<Vec<SqlValue>, String>>()
            .map_err(|problem| StoreError::Invalid(format!("`{}`: {problem}", table.name)))?;
        statement
            .execute(params_from_iter(values))
            .map_err(write_error(|| {
                let key = row.get(&table.primary_key).unwrap_or(&Value::Null);
                format!("the row {key} of `{}`", table.name)
            }))?;
    }
    Ok(())
}
