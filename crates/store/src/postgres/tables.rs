//! The builder's tables on PostgreSQL: creation, migration and the four
//! table operations, answering as the SQLite store does (`sqlite/tables.rs`
//! is the reference: the same JSON, the same errors in the same words, the
//! same refusals of migrations that lose data). Identifiers come only from
//! the checked model and are quoted by `quote`, the one place text is
//! written into SQL; every value, a migration's back-fill included, is a
//! bound parameter.
//!
//! As on SQLite, defaults and `required` are applied by the store rather
//! than declared in SQL, so that changing a default needs no migration and
//! a missing value is reported by column name.
//!
//! Each column type is stored as:
//!
//! | model       | PostgreSQL                 | read back as                    |
//! |-------------|----------------------------|---------------------------------|
//! | `text`      | `text COLLATE "C"`         | a string                        |
//! | `integer`   | `bigint`                   | an integer (i64)                |
//! | `number`    | `double precision`         | a float                         |
//! | `boolean`   | `boolean`                  | `true` or `false`               |
//! | `timestamp` | `timestamp with time zone` | RFC 3339 text in UTC, with ms   |
//! | `json`      | `jsonb`                    | the JSON value                  |
//!
//! Text is collated by its bytes ("C"), as SQLite's `BINARY` does, so that
//! order, comparisons and `like` answer the same whatever the database's
//! locale. The primary key is the table's `PRIMARY KEY`; an integer key
//! left out of an insert is numbered one past the largest, as SQLite
//! numbers its rows. A `unique` column has a unique index named as on
//! SQLite, `<table>_<column>_unique`.
//!
//! What PostgreSQL cannot answer as SQLite does:
//!
//! - A timestamp is an instant here, where SQLite keeps text whose form
//!   depends on how the time was given: Unix seconds as `…:20.000Z`, text
//!   with only the fraction it needs (`…:20Z`, `…:20.500Z`). Both read
//!   back in one form, `timestamp_text` (`…:20.000Z` either way), and
//!   compare and sort as instants (SQLite by a key that writes every
//!   fraction out to nine digits). The fraction is kept to the microsecond
//!   here, where SQLite keeps nanoseconds. A unique timestamp column refuses
//!   `…:20Z` beside `…:20.000Z` here, where SQLite's index tells the two
//!   texts apart, and a key lookup of a timestamp primary key on SQLite
//!   compares the texts. `like` reads a time here as SQLite stores one
//!   given as text (`…:20Z`); SQLite's `like` reads one given as Unix
//!   seconds as `…:20.000Z`.
//! - Text and JSON cannot hold U+0000, and times cannot be earlier than
//!   4714 BC: such values are refused as `Invalid`, naming the column. JSON
//!   nested deeper than 128 levels cannot be written either.
//! - Names are at most 63 bytes (longer ones are refused by the migration),
//!   and a table cannot take the name of one of PostgreSQL's own
//!   (`pg_class`): those are found first by every statement. A unique
//!   index whose name would be longer ends in a hash of the full name.
//! - `like` on a number or JSON column reads PostgreSQL's text of the value
//!   (`1e+20`, `{"a": 1}`). JSON values that are one number or one string
//!   compare and sort as on SQLite; lists and objects by the text `jsonb`
//!   writes, whose object keys are in another order than SQLite's, and
//!   whose numbers are compared as numbers (`[1.0]` equals `[1]` here).
//! - A number key freed by deleting the largest row is used again on
//!   SQLite and here alike, but past the largest possible key SQLite picks
//!   a free one at random where PostgreSQL refuses the insert.

pub(super) mod copy;
mod ops;
mod values;

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::db_error;
use crate::table_rules::{self, quote};
use crate::{MigrationReport, StoreError, TableOp};
use paywire_model::{Column, ColumnType, Table};
use values::Param;

/// The most bytes of a name PostgreSQL keeps; it cuts longer ones without
/// an error, so two long names could become one.
const MAX_NAME_BYTES: usize = 63;

/// The type of a column as `format_type` names it, which is also how a
/// parameter is cast to it.
fn sql_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "text",
        ColumnType::Integer => "bigint",
        ColumnType::Number => "double precision",
        ColumnType::Boolean => "boolean",
        ColumnType::Timestamp => "timestamp with time zone",
        ColumnType::Json => "jsonb",
    }
}

/// The type of a column as it is declared.
fn column_definition(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Text => "text COLLATE \"C\"",
        other => sql_type(other),
    }
}

fn column_type_of(sql: &str) -> Option<ColumnType> {
    ColumnType::NAMES
        .iter()
        .filter_map(|name| ColumnType::parse(name))
        .find(|ty| sql_type(*ty) == sql)
}

fn create_sql(table: &Table) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let mut sql = format!("{} {}", quote(&c.name), column_definition(c.ty));
            if c.primary_key {
                sql.push_str(" PRIMARY KEY");
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

/// SQLite's name for the unique index of `column`. A name longer than
/// PostgreSQL keeps is cut and ends in a hash of the whole name, so that
/// two long names stay two indexes.
fn unique_index_name(table: &Table, column: &Column) -> String {
    let name = format!("{}_{}_unique", table.name, column.name);
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let mut cut = MAX_NAME_BYTES - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}", &name[..cut], fnv1a(name.as_bytes()))
}

/// FNV-1a, 32 bits: a hash that never changes between builds, as an index
/// name must not.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

fn unique_index_sql(table: &Table, column: &Column) -> String {
    format!(
        "CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} ({})",
        quote(&unique_index_name(table, column)),
        quote(&table.name),
        quote(&column.name)
    )
}

/// What the table's name finds, the way an unqualified statement finds it.
enum Lookup {
    /// No table of that name in the schema tables are created in.
    Missing,
    /// The table, by `oid`.
    Table(u32),
    /// One of PostgreSQL's own tables, in this schema, found first.
    Catalog(String),
}

async fn lookup(c: &impl GenericClient, name: &str) -> Result<Lookup, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT c.oid, n.nspname::text, \
                    coalesce(n.nspname = current_schema() AND c.relkind IN ('r', 'p'), false) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1)",
        )
        .await
        .map_err(db_error)?;
    let Some(row) = c
        .query_opt(&statement, &[&quote(name)])
        .await
        .map_err(db_error)?
    else {
        return Ok(Lookup::Missing);
    };
    let (oid, schema, ours): (u32, String, bool) = (
        row.try_get(0).map_err(db_error)?,
        row.try_get(1).map_err(db_error)?,
        row.try_get(2).map_err(db_error)?,
    );
    Ok(if ours {
        Lookup::Table(oid)
    } else if schema == "pg_catalog" {
        Lookup::Catalog(schema)
    } else {
        // Another schema later on the search path, or something other
        // than a table here: creating the table either takes the name
        // first or fails, as SQLite's would.
        Lookup::Missing
    })
}

struct ExistingColumn {
    name: String,
    sql_type: String,
    primary_key: bool,
}

async fn existing_columns(
    c: &impl GenericClient,
    oid: u32,
) -> Result<Vec<ExistingColumn>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
                    EXISTS (SELECT 1 FROM pg_index i \
                            WHERE i.indrelid = a.attrelid AND i.indisprimary \
                              AND a.attnum = ANY (i.indkey)) \
             FROM pg_attribute a \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
        )
        .await
        .map_err(db_error)?;
    c.query(&statement, &[&oid])
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| {
            Ok(ExistingColumn {
                name: row.try_get(0)?,
                sql_type: row.try_get(1)?,
                primary_key: row.try_get(2)?,
            })
        })
        .collect::<Result<_, tokio_postgres::Error>>()
        .map_err(db_error)
}

/// Whether an index of that name is in the schema tables are created in:
/// index names, like SQLite's, share one namespace with tables.
async fn unique_index_exists(
    c: &impl GenericClient,
    table: &Table,
    column: &Column,
) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relname = $1 AND c.relkind = 'i' AND n.nspname = current_schema())",
        )
        .await
        .map_err(db_error)?;
    c.query_one(&statement, &[&unique_index_name(table, column)])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)
}

async fn has_duplicates(
    c: &impl GenericClient,
    table: &Table,
    column: &Column,
) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {t} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)",
        t = quote(&table.name),
        c = quote(&column.name)
    );
    c.query_one(sql.as_str(), &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)
}

async fn row_count(c: &impl GenericClient, table: &Table) -> Result<i64, StoreError> {
    let sql = format!("SELECT count(*) FROM {}", quote(&table.name));
    let statement = c.prepare_cached(&sql).await.map_err(db_error)?;
    c.query_one(&statement, &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)
}

/// Names PostgreSQL would cut: the table's and its columns'.
fn long_names(table: &Table) -> Vec<String> {
    let long = |name: &str| name.len() > MAX_NAME_BYTES;
    let mut problems = Vec::new();
    if long(&table.name) {
        problems.push(format!(
            "the table name `{}` is longer than the {MAX_NAME_BYTES} bytes PostgreSQL keeps of a name: \
             choose a shorter one",
            table.name
        ));
    }
    for column in table.columns.iter().filter(|c| long(&c.name)) {
        problems.push(format!(
            "the column name `{}.{}` is longer than the {MAX_NAME_BYTES} bytes PostgreSQL keeps of a name: \
             choose a shorter one",
            table.name, column.name
        ));
    }
    problems
}

/// One statement of a migration, with the values it binds.
struct Statement {
    sql: String,
    params: Vec<Param>,
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
/// table is found before anything changes; if there is any, nothing
/// changes, and the caller's transaction, in which this runs, is rolled
/// back.
///
/// The tables' definitions (`CREATE TABLE`, `ALTER TABLE`, indexes) hold
/// names and types only, since defaults are applied by `insert` rather
/// than declared; the one value a migration writes, a new column's default
/// for the rows already there, is an `UPDATE` that binds it.
pub(super) async fn migrate(
    c: &impl GenericClient,
    tables: &[Arc<Table>],
) -> Result<MigrationReport, StoreError> {
    let mut problems = Vec::new();
    let mut statements = Vec::new();
    let mut report = MigrationReport::default();
    for table in tables {
        let too_long = long_names(table);
        if !too_long.is_empty() {
            problems.extend(too_long);
            continue;
        }
        let oid = match lookup(c, &table.name).await? {
            Lookup::Table(oid) => oid,
            Lookup::Catalog(schema) => {
                problems.push(format!(
                    "the table name `{name}` is that of PostgreSQL's own `{schema}.{name}`, \
                     which every statement would find first: choose another name",
                    name = table.name
                ));
                continue;
            }
            Lookup::Missing => {
                statements.push(Statement::from(create_sql(table)));
                report.created.push(table.name.clone());
                for column in table.columns.iter().filter(|c| c.unique) {
                    statements.push(unique_index_sql(table, column).into());
                }
                continue;
            }
        };
        let existing = existing_columns(c, oid).await?;
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
                    let index_exists = unique_index_exists(c, table, new).await?;
                    if new.unique && !index_exists {
                        if has_duplicates(c, table, new).await? {
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
        let rows = row_count(c, table).await?;
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
                    column_definition(column.ty)
                )
                .into(),
            );
            if let Some(default) = &column.default {
                let value = values::to_sql(column, default).map_err(StoreError::Invalid)?;
                statements.push(Statement {
                    sql: format!(
                        "UPDATE {} SET {} = $1",
                        quote(&table.name),
                        quote(&column.name)
                    ),
                    params: vec![value.param(column.ty)],
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
        c.execute(sql.as_str(), &values::refs(&params))
            .await
            .map_err(db_error)?;
    }
    Ok(report)
}

pub(super) async fn execute(c: &impl GenericClient, op: &TableOp) -> Result<Value, StoreError> {
    ops::execute(c, op).await
}

/// How many rows each table holds, in the order given. A table the
/// database does not have (yet) counts as empty rather than failing the
/// whole answer.
pub(super) async fn count_rows(
    c: &impl GenericClient,
    tables: &[Arc<Table>],
) -> Result<Vec<u64>, StoreError> {
    let mut counts = Vec::with_capacity(tables.len());
    for table in tables {
        let rows = match lookup(c, &table.name).await? {
            Lookup::Table(_) => row_count(c, table).await?,
            Lookup::Missing | Lookup::Catalog(_) => 0,
        };
        counts.push(u64::try_from(rows).unwrap_or(0));
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(table: &str, column: &str) -> String {
        let column = Column {
            name: column.into(),
            ty: ColumnType::Text,
            primary_key: false,
            required: false,
            unique: true,
            default: None,
        };
        let table = Table {
            name: table.into(),
            columns: vec![column.clone()],
            primary_key: column.name.clone(),
            origin: paywire_model::Origin {
                file: "t.yaml".into(),
                pos: paywire_model::Pos::default(),
                path: "tables.t".into(),
            },
        };
        unique_index_name(&table, &column)
    }

    #[test]
    fn names_are_one_identifier() {
        assert_eq!(quote("a"), "\"a\"");
        assert_eq!(
            quote("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
    }

    #[test]
    fn unique_indexes_are_named_as_on_sqlite_within_postgresql_s_limit() {
        assert_eq!(named("people", "email"), "people_email_unique");
        let long = "a".repeat(40);
        let one = named(&long, &format!("{long}1"));
        let two = named(&long, &format!("{long}2"));
        assert_ne!(one, two);
        assert_eq!(one.len(), MAX_NAME_BYTES);
        assert!(one.starts_with(&format!("{long}_aaaa")));
        // A name is never cut inside a character.
        let wide = named(&"é".repeat(20), &"é".repeat(20));
        assert!(wide.len() <= MAX_NAME_BYTES);
    }

    #[test]
    fn types_read_back_from_the_catalogue() {
        for name in ColumnType::NAMES {
            let ty = ColumnType::parse(name);
            assert_eq!(ty.and_then(|ty| column_type_of(sql_type(ty))), ty);
        }
        assert_eq!(column_type_of("character varying(20)"), None);
    }
}
