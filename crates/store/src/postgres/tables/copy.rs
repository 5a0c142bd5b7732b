//! The builder's tables in a copy into (or out of) PostgreSQL (see
//! `crate::copy`): which tables the schema has, their rows a page at a time
//! in the order of their primary keys, and rows written exactly as they
//! were read, with no default filled in and no `required` checked, since
//! the copy must be what was there.

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};

use super::{quote, values};
use crate::postgres::copy::write_error;
use crate::postgres::db_error;
use crate::{Page, Records, StoreError};
use paywire_model::Table;

/// Every table of the builder's in the schema that tables are created in,
/// with its rows. The builder's names start with a letter; paywire's own
/// start with `_`.
pub(in crate::postgres) async fn builder_tables(
    c: &impl GenericClient,
) -> Result<BTreeMap<String, u64>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
               AND left(c.relname, 1) <> '_'
             ORDER BY 1",
        )
        .await
        .map_err(db_error)?;
    let names: Vec<String> = c
        .query(&statement, &[])
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(db_error)?;
    let mut tables = BTreeMap::new();
    for name in names {
        let rows: i64 = c
            .query_one(&format!("SELECT count(*) FROM {}", quote(&name)), &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(db_error)?;
        tables.insert(name, u64::try_from(rows).unwrap_or(0));
    }
    Ok(tables)
}

/// Rows of `table` whose primary key comes after `after` (the key of the
/// last row of the page before, as it was read), in the order of the key.
pub(in crate::postgres) async fn export_rows(
    c: &impl GenericClient,
    table: &Arc<Table>,
    after: Option<&Value>,
    limit: u32,
) -> Result<Page, StoreError> {
    let key = table.column(&table.primary_key).ok_or_else(|| {
        StoreError::Invalid(format!("the table `{}` has no primary key", table.name))
    })?;
    let columns: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let mut params = Vec::new();
    let mut sql = format!("SELECT {} FROM {}", columns.join(", "), quote(&table.name));
    if let Some(after) = after {
        let value = values::to_sql(key, after).map_err(StoreError::Invalid)?;
        params.push(value.param(key.ty));
        sql.push_str(&format!(" WHERE {} > $1", quote(&key.name)));
    }
    params.push(Box::new(i64::from(limit)));
    sql.push_str(&format!(
        " ORDER BY {} LIMIT ${}",
        quote(&key.name),
        params.len()
    ));
    let statement = c.prepare_cached(&sql).await.map_err(db_error)?;
    let rows = c
        .query(&statement, &values::refs(&params))
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| match values::read_row(table, row) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(other) => Err(StoreError::Database(format!(
                "a row of `{}` read back as {other}",
                table.name
            ))),
            Err(e) => Err(db_error(e)),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let last = rows.last().and_then(|row| row.get(&key.name)).cloned();
    Ok(Page::of(
        Records::Rows {
            table: table.clone(),
            rows,
        },
        limit,
        last,
    ))
}

/// Writes rows of `table` as they are: every column, a missing one as
/// null, in the caller's transaction. An integer key is written as it was:
/// the store numbers a row without one past the largest key, so rows added
/// afterwards follow on.
pub(in crate::postgres) async fn import_rows(
    c: &impl GenericClient,
    table: &Table,
    rows: &[Map<String, Value>],
) -> Result<(), StoreError> {
    let names: Vec<String> = table.columns.iter().map(|c| quote(&c.name)).collect();
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(&table.name),
        names.join(", "),
        marks.join(", ")
    );
    let statement = c.prepare_cached(&sql).await.map_err(db_error)?;
    for row in rows {
        for name in row.keys() {
            crate::table_rules::column(table, name)?;
        }
        let mut params = Vec::with_capacity(table.columns.len());
        for column in &table.columns {
            let value = row.get(&column.name).unwrap_or(&Value::Null);
            let stored = values::to_sql(column, value)
                .map_err(|problem| StoreError::Invalid(format!("`{}`: {problem}", table.name)))?;
            params.push(stored.param(column.ty));
        }
        c.execute(&statement, &values::refs(&params))
            .await
            .map_err(|e| {
                write_error(
                    || {
                        let key = row.get(&table.primary_key).unwrap_or(&Value::Null);
                        format!("the row {key} of `{}`", table.name)
                    },
                    e,
                )
            })?;
    }
    Ok(())
}
