//! The four table operations on PostgreSQL: select, insert, update and
//! delete, with their filters, answering with the same JSON and the same
//! errors as SQLite's store.

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};
use tokio_postgres::error::SqlState;

use super::values::{self, Param, Stored};
use super::{sql_type, unique_index_name};
use crate::postgres::db_error;
use crate::table_rules::{self, column, quote};
use crate::{Direction, Filter, FilterOp, OnConflict, Selector, StoreError, TableOp};
use paywire_model::{Column, ColumnType, Table};

/// The most rows one select returns: SQLite's limit, so that a step reads
/// as many rows on either backend.
const MAX_LIMIT: u32 = 1000;

/// The first key of the advisory lock that numbers a table's integer keys;
/// the second is the table's `oid`. Two-key locks never meet the one-key
/// locks paywire takes elsewhere.
const KEY_LOCK: i32 = 0x7077_6b01;

/// A statement's values, each numbered as it is added.
#[derive(Default)]
struct Params(Vec<Param>);

impl Params {
    /// Adds a value and answers its placeholder (`$3`).
    fn add(&mut self, param: Param) -> String {
        self.0.push(param);
        format!("${}", self.0.len())
    }
}

/// Runs `sql` with `params`, prepared once per connection. The text of a
/// statement depends only on the table, the columns named and the filters'
/// operators, never on values or on the length of a list, so the prepared
/// statements stay as few as the project's steps.
async fn query(
    c: &impl GenericClient,
    table: &Table,
    sql: &str,
    params: &Params,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let statement = c
        .prepare_cached(sql)
        .await
        .map_err(|e| classify(table, e))?;
    c.query(&statement, &values::refs(&params.0))
        .await
        .map_err(|e| classify(table, e))
}

async fn read_rows(
    c: &impl GenericClient,
    table: &Table,
    sql: &str,
    params: &Params,
) -> Result<Vec<Value>, StoreError> {
    query(c, table, sql, params)
        .await?
        .iter()
        .map(|row| values::read_row(table, row).map_err(db_error))
        .collect()
}

/// Constraint failures and values the server refuses are the caller's to
/// fix; anything else is internal. A duplicate is worded as SQLite words
/// it, naming the column through the unique index that refused it; the
/// table's other unique constraint is its key.
fn classify(table: &Table, e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return db_error(e);
    };
    let code = db.code();
    if *code == SqlState::UNIQUE_VIOLATION {
        let column = db
            .constraint()
            .and_then(|name| {
                table
                    .columns
                    .iter()
                    .find(|c| c.unique && unique_index_name(table, c) == name)
            })
            .map_or(table.primary_key.as_str(), |c| c.name.as_str());
        return StoreError::Conflict(format!(
            "a row with the same value already exists (UNIQUE constraint failed: {}.{column})",
            table.name
        ));
    }
    if *code == SqlState::NOT_NULL_VIOLATION {
        return StoreError::Invalid(format!(
            "NOT NULL constraint failed: {}.{}",
            table.name,
            db.column().unwrap_or("?")
        ));
    }
    // Class 22 is a value the server cannot take (out of range, not valid
    // text); class 23 the other constraints.
    if code.code().starts_with("22") || code.code().starts_with("23") {
        return StoreError::Invalid(db.message().to_string());
    }
    db_error(e)
}

fn column_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn bind(column: &Column, value: &Value) -> Result<Param, StoreError> {
    Ok(values::to_sql(column, value)
        .map_err(StoreError::Invalid)?
        .param(column.ty))
}

/// The text SQLite's `LIKE` reads from a column of type `ty`: SQLite
/// stores booleans as 1 and 0, and timestamps as RFC 3339 text, so
/// `like` sees those forms there; here they are written out the same way
/// (timestamps as SQLite writes a time given as text, with only the
/// fraction it needs, which is not how either store reads them back; a time
/// given as Unix seconds has `.000` on SQLite). Numbers and JSON are their
/// PostgreSQL text, which differs from SQLite's for some values (see the
/// module's opening comment).
fn like_text(q: &str, ty: ColumnType) -> String {
    match ty {
        ColumnType::Text => q.to_string(),
        ColumnType::Integer | ColumnType::Number | ColumnType::Json => format!("{q}::text"),
        ColumnType::Boolean => format!("{q}::int::text"),
        ColumnType::Timestamp => {
            let utc = format!("{q} AT TIME ZONE 'UTC'");
            format!(
                "to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE \
                 WHEN extract(microseconds FROM {q}) % 1000000 = 0 THEN '' \
                 WHEN extract(microseconds FROM {q}) % 1000 = 0 THEN to_char({utc}, '.MS') \
                 ELSE to_char({utc}, '.US') END || 'Z'"
            )
        }
    }
}

/// The terms by which a JSON value sorts and compares as it does in
/// SQLite, where a value that is one number is stored as a number and
/// everything else as its text, and numbers come before text: first
/// whether it is not a number, then the number, then the text. (`jsonb`'s
/// own order puts strings first and compares objects by their size.)
fn json_terms(e: &str) -> [String; 3] {
    let number = format!("jsonb_typeof({e}) = 'number'");
    [
        format!("(NOT {number})"),
        format!("(CASE WHEN {number} THEN {e} ELSE '0'::jsonb END)"),
        format!("(CASE WHEN {number} THEN '' ELSE {e}::text END COLLATE \"C\")"),
    ]
}

fn where_clause(
    table: &Table,
    selector: &Selector,
    params: &mut Params,
) -> Result<String, StoreError> {
    let filters = match selector {
        Selector::Id(id) => {
            let key = column(table, &table.primary_key)?;
            let p = params.add(bind(key, id)?);
            return Ok(format!(" WHERE {} = {p}", quote(&key.name)));
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
        let ty = sql_type(c.ty);
        // Equality is the type's own, `jsonb`'s included: two JSON values
        // are equal when SQLite's texts of them are, but for the form of
        // numbers inside lists and objects (`[1.0]` and `[1]`).
        let equal = |params: &mut Params, sign: &str| -> Result<String, StoreError> {
            let p = params.add(bind(c, value)?);
            Ok(format!("{q} {sign} {p}::{ty}"))
        };
        let compare = |params: &mut Params, sign: &str| -> Result<String, StoreError> {
            if c.ty != ColumnType::Json {
                return equal(params, sign);
            }
            let p = params.add(bind(c, value)?);
            let [k1, k2, k3] = json_terms(&q);
            let [v1, v2, v3] = json_terms(&format!("{p}::jsonb"));
            Ok(format!("({k1}, {k2}, {k3}) {sign} ({v1}, {v2}, {v3})"))
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
                let items = items
                    .iter()
                    .map(|item| values::to_sql(c, item))
                    .collect::<Result<Vec<Stored>, String>>()
                    .map_err(StoreError::Invalid)?;
                let p = params.add(values::list(c.ty, items));
                // `x = ANY` and `x <> ALL` answer as SQL's `IN` and `NOT
                // IN` do, an empty list and empty values included.
                if *op == FilterOp::In {
                    format!("{q} = ANY({p}::{ty}[])")
                } else {
                    format!("{q} <> ALL({p}::{ty}[])")
                }
            }
            FilterOp::Like => {
                let pattern = value.as_str().ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "the filter `{name}` like takes text such as `%@example.com`"
                    ))
                })?;
                let p = params.add(Box::new(pattern.to_string()));
                // SQLite's `LIKE` ignores the case of ASCII letters only and
                // has no escape character; `ILIKE` under the "C" collation
                // folds ASCII only, and `ESCAPE ''` takes `\` literally.
                format!(
                    "({}) COLLATE \"C\" ILIKE {p} ESCAPE ''",
                    like_text(&q, c.ty)
                )
            }
            FilterOp::Eq => equal(params, "=")?,
            FilterOp::Ne => equal(params, "<>")?,
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
) -> Result<Vec<(String, Param)>, StoreError> {
    let mut out = Vec::with_capacity(values.len());
    for (name, value) in values {
        let c = table_rules::written_column(table, name, value)?;
        out.push((quote(name), bind(c, value)?));
    }
    Ok(out)
}

fn one_or_all(selector: &Selector, rows: Vec<Value>) -> Value {
    match selector {
        Selector::Id(_) => rows.into_iter().next().unwrap_or(Value::Null),
        Selector::Filters(_) => Value::Array(rows),
    }
}

async fn select(
    c: &impl GenericClient,
    table: &Table,
    selector: &Selector,
    order: &[(String, Direction)],
    limit: u32,
    offset: u64,
) -> Result<Value, StoreError> {
    let mut params = Params::default();
    let mut sql = format!("SELECT {} FROM {}", column_list(table), quote(&table.name));
    sql.push_str(&where_clause(table, selector, &mut params)?);
    if !order.is_empty() {
        let mut terms = Vec::with_capacity(order.len());
        for (name, direction) in order {
            let column = column(table, name)?;
            // SQLite puts empty values first going up and last going down.
            let direction = match direction {
                Direction::Asc => "ASC NULLS FIRST",
                Direction::Desc => "DESC NULLS LAST",
            };
            let q = quote(&column.name);
            if column.ty == ColumnType::Json {
                terms.extend(json_terms(&q).map(|t| format!("{t} {direction}")));
            } else {
                terms.push(format!("{q} {direction}"));
            }
        }
        sql.push_str(&format!(" ORDER BY {}", terms.join(", ")));
    }
    let limit = params.add(Box::new(i64::from(limit.min(MAX_LIMIT))));
    let offset = params.add(Box::new(i64::try_from(offset).unwrap_or(i64::MAX)));
    sql.push_str(&format!(" LIMIT {limit} OFFSET {offset}"));
    let rows = read_rows(c, table, &sql, &params).await?;
    Ok(one_or_all(selector, rows))
}

pub(super) async fn execute(c: &impl GenericClient, op: &TableOp) -> Result<Value, StoreError> {
    match op {
        TableOp::Select {
            table,
            selector,
            order,
            limit,
            offset,
        } => select(c, table, selector, order, *limit, *offset).await,
        TableOp::Insert {
            table,
            values,
            on_conflict,
        } => insert(c, table, values, *on_conflict).await,
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
            let mut params = Params::default();
            let sets: Vec<String> = bind_values(table, values)?
                .into_iter()
                .map(|(name, value)| format!("{name} = {}", params.add(value)))
                .collect();
            let mut sql = format!("UPDATE {} SET {}", quote(&table.name), sets.join(", "));
            sql.push_str(&where_clause(table, selector, &mut params)?);
            sql.push_str(&format!(" RETURNING {}", column_list(table)));
            let rows = read_rows(c, table, &sql, &params).await?;
            Ok(one_or_all(selector, rows))
        }
        TableOp::Delete { table, selector } => {
            let mut params = Params::default();
            let mut sql = format!("DELETE FROM {}", quote(&table.name));
            sql.push_str(&where_clause(table, selector, &mut params)?);
            let statement = c
                .prepare_cached(&sql)
                .await
                .map_err(|e| classify(table, e))?;
            let deleted = c
                .execute(&statement, &values::refs(&params.0))
                .await
                .map_err(|e| classify(table, e))?;
            Ok(serde_json::json!({ "deleted": deleted }))
        }
    }
}

async fn insert(
    c: &impl GenericClient,
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
    let mut auto_key = false;
    for c in &table.columns {
        let missing = values.get(&c.name).is_none_or(Value::is_null);
        if missing && c.primary_key && c.ty == ColumnType::Integer {
            auto_key = true;
        } else if missing && (c.required || c.primary_key) {
            return Err(StoreError::Invalid(format!(
                "the column `{}` of `{}` needs a value",
                c.name, table.name
            )));
        }
    }
    if auto_key {
        values.remove(&table.primary_key);
    }
    let mut params = Params::default();
    let mut names = Vec::with_capacity(values.len() + 1);
    let mut marks = Vec::with_capacity(values.len() + 1);
    for (name, value) in bind_values(table, &values)? {
        names.push(name);
        marks.push(params.add(value));
    }
    let key = quote(&table.primary_key);
    if auto_key {
        // SQLite numbers a row without a key one past the largest key, so
        // a failed insert uses up no number and a key given by hand is
        // followed on; a sequence would do neither. The lock makes the
        // inserts that number a table wait for one another's commit, so
        // that none reads the same largest key.
        c.execute(
            "SELECT pg_advisory_xact_lock($1, to_regclass($2)::oid::int)",
            &[&KEY_LOCK, &quote(&table.name)],
        )
        .await
        .map_err(db_error)?;
        names.push(key.clone());
        marks.push(format!(
            "(SELECT coalesce(max({key}), 0) + 1 FROM {})",
            quote(&table.name)
        ));
    }
    let mut sql = if names.is_empty() {
        format!("INSERT INTO {} DEFAULT VALUES", quote(&table.name))
    } else {
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            quote(&table.name),
            names.join(", "),
            marks.join(", ")
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
    if let Some(row) = read_rows(c, table, &sql, &params).await?.into_iter().next() {
        return Ok(row);
    }
    // DO NOTHING kept the row that was there: answer with it.
    let id = values
        .get(&table.primary_key)
        .cloned()
        .unwrap_or(Value::Null);
    select(c, table, &Selector::Id(id), &[], 1, 0).await
}
