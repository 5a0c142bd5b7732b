//! The tables cases of the suite: the builder's tables migrated, written
//! and read through the `Store` trait, with the same expected JSON and the
//! same errors on both backends. The helpers here build tables as the
//! loader does and run one operation each; the cases are in the modules.

mod migrations;
mod reads;
mod writes;

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::common::TestStore;
use paywire_model::{Column, ColumnType, Origin, Pos, Table};
use paywire_store::{Direction, Filter, FilterOp, OnConflict, Selector, StoreError, TableOp};

pub(crate) fn column(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.into(),
        ty,
        primary_key: false,
        required: false,
        unique: false,
        default: None,
    }
}

pub(crate) fn key(name: &str, ty: ColumnType) -> Column {
    Column {
        primary_key: true,
        ..column(name, ty)
    }
}

fn unique(name: &str, ty: ColumnType) -> Column {
    Column {
        unique: true,
        ..column(name, ty)
    }
}

pub(crate) fn required(name: &str, ty: ColumnType) -> Column {
    Column {
        required: true,
        ..column(name, ty)
    }
}

fn with_default(name: &str, ty: ColumnType, default: Value) -> Column {
    Column {
        default: Some(default),
        ..column(name, ty)
    }
}

/// A table as the loader makes it: without a declared key, an integer `id`
/// comes first and is the key.
pub(crate) fn table(name: &str, mut columns: Vec<Column>) -> Arc<Table> {
    let primary_key = match columns.iter().find(|c| c.primary_key) {
        Some(c) => c.name.clone(),
        None => {
            columns.insert(0, key("id", ColumnType::Integer));
            "id".into()
        }
    };
    Arc::new(Table {
        name: name.into(),
        columns,
        primary_key,
        origin: Origin {
            file: "t.yaml".into(),
            pos: Pos::default(),
            path: format!("tables.{name}"),
        },
    })
}

pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn filter(column: &str, op: FilterOp, value: Value) -> Filter {
    Filter {
        column: column.into(),
        op,
        value,
    }
}

pub(crate) async fn migrate(
    store: &TestStore,
    tables: &[&Arc<Table>],
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let report = store
        .migrate(tables.iter().map(|t| Arc::clone(t)).collect())
        .await?;
    Ok((report.created, report.added_columns))
}

async fn insert_with(
    store: &TestStore,
    table: &Arc<Table>,
    values: Value,
    on_conflict: OnConflict,
) -> Result<Value, StoreError> {
    store
        .table_op(
            TableOp::Insert {
                table: table.clone(),
                values: object(values),
                on_conflict,
            },
            None,
        )
        .await
}

pub(crate) async fn insert(
    store: &TestStore,
    table: &Arc<Table>,
    values: Value,
) -> Result<Value, StoreError> {
    insert_with(store, table, values, OnConflict::Error).await
}

async fn select(
    store: &TestStore,
    table: &Arc<Table>,
    filters: Vec<Filter>,
    order: &[(&str, Direction)],
    limit: u32,
    offset: u64,
) -> Result<Value, StoreError> {
    store
        .table_op(
            TableOp::Select {
                table: table.clone(),
                selector: Selector::Filters(filters),
                order: order.iter().map(|(c, d)| (c.to_string(), *d)).collect(),
                limit,
                offset,
            },
            None,
        )
        .await
}

/// Every row, in the order of the key.
pub(crate) async fn all(store: &TestStore, table: &Arc<Table>) -> Value {
    let key = table.primary_key.clone();
    select(store, table, Vec::new(), &[(&key, Direction::Asc)], 1000, 0)
        .await
        .unwrap_or_else(|e| panic!("{}: select all: {e}", store.backend))
}

/// The keys of the rows matching `filters`, in the order of the key.
async fn keys(
    store: &TestStore,
    table: &Arc<Table>,
    filters: Vec<Filter>,
) -> Result<Value, StoreError> {
    let key = table.primary_key.clone();
    let rows = select(store, table, filters, &[(&key, Direction::Asc)], 1000, 0).await?;
    Ok(Value::Array(
        rows.as_array()
            .map(|rows| rows.iter().map(|r| r[&key].clone()).collect())
            .unwrap_or_default(),
    ))
}

async fn get(store: &TestStore, table: &Arc<Table>, id: Value) -> Result<Value, StoreError> {
    store
        .table_op(
            TableOp::Select {
                table: table.clone(),
                selector: Selector::Id(id),
                order: Vec::new(),
                limit: 1,
                offset: 0,
            },
            None,
        )
        .await
}

async fn update(
    store: &TestStore,
    table: &Arc<Table>,
    selector: Selector,
    values: Value,
) -> Result<Value, StoreError> {
    store
        .table_op(
            TableOp::Update {
                table: table.clone(),
                selector,
                values: object(values),
            },
            None,
        )
        .await
}

async fn delete(
    store: &TestStore,
    table: &Arc<Table>,
    selector: Selector,
) -> Result<Value, StoreError> {
    store
        .table_op(
            TableOp::Delete {
                table: table.clone(),
                selector,
            },
            None,
        )
        .await
}

async fn count(store: &TestStore, tables: &[&Arc<Table>]) -> Vec<u64> {
    store
        .count_rows(tables.iter().map(|t| Arc::clone(t)).collect())
        .await
        .unwrap_or_else(|e| panic!("{}: count_rows: {e}", store.backend))
}

fn people() -> Arc<Table> {
    table(
        "people",
        vec![
            key("id", ColumnType::Text),
            required("name", ColumnType::Text),
            unique("email", ColumnType::Text),
            column("age", ColumnType::Integer),
        ],
    )
}

fn kinds() -> Arc<Table> {
    table(
        "kinds",
        vec![
            key("id", ColumnType::Text),
            column("t", ColumnType::Text),
            column("i", ColumnType::Integer),
            column("n", ColumnType::Number),
            column("b", ColumnType::Boolean),
            column("at", ColumnType::Timestamp),
            column("j", ColumnType::Json),
        ],
    )
}

fn scores() -> Arc<Table> {
    table(
        "scores",
        vec![
            column("name", ColumnType::Text),
            column("points", ColumnType::Integer),
            column("ratio", ColumnType::Number),
            column("won", ColumnType::Boolean),
            column("at", ColumnType::Timestamp),
            column("tags", ColumnType::Json),
        ],
    )
}

async fn fill_scores(store: &TestStore) -> Arc<Table> {
    let scores = scores();
    migrate(store, &[&scores]).await.unwrap();
    let rows = [
        json!({"name": "alice", "points": 10, "ratio": 0.5, "won": true, "at": "2026-01-01T00:00:00Z", "tags": ["a"]}),
        json!({"name": "Bob", "points": 20, "ratio": 1.5, "won": false, "at": "2026-02-01T00:00:00Z", "tags": {"k": 1}}),
        json!({"name": "carol_50%", "points": -5, "ratio": 2, "won": true, "at": "2026-03-01T00:00:00Z", "tags": "x"}),
        json!({"name": "Émile", "points": null, "ratio": null, "won": null, "at": null, "tags": null}),
        json!({"name": "a\\b", "points": 20, "ratio": -1, "won": false, "at": "2025-12-31T23:59:59Z", "tags": 3}),
    ];
    for row in rows {
        insert(store, &scores, row).await.unwrap();
    }
    scores
}
