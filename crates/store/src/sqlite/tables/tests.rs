//! Unit tests of the builder's tables: the conversion of checked values, the
//! quoting of names, and migrations that bind their values.

use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use super::*;
use paywire_model::{Origin, Pos};

fn column(name: &str, ty: ColumnType) -> Column {
    Column {
        name: name.into(),
        ty,
        primary_key: false,
        required: false,
        unique: false,
        default: None,
    }
}

fn table(name: &str, mut columns: Vec<Column>) -> Arc<Table> {
    let mut key = column("id", ColumnType::Text);
    key.primary_key = true;
    columns.insert(0, key);
    Arc::new(Table {
        name: name.into(),
        columns,
        primary_key: "id".into(),
        origin: Origin {
            file: "t.yaml".into(),
            pos: Pos::default(),
            path: format!("tables.{name}"),
        },
    })
}

fn insert(conn: &Connection, table: &Arc<Table>, id: &str) {
    let mut values = Map::new();
    values.insert("id".into(), json!(id));
    execute(
        conn,
        &TableOp::Insert {
            table: table.clone(),
            values,
            on_conflict: OnConflict::Error,
        },
    )
    .unwrap();
}

fn select_all(conn: &Connection, table: &Arc<Table>) -> Value {
    execute(
        conn,
        &TableOp::Select {
            table: table.clone(),
            selector: Selector::Filters(Vec::new()),
            order: vec![("id".into(), Direction::Asc)],
            limit: MAX_LIMIT,
            offset: 0,
        },
    )
    .unwrap()
}

fn table_names(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn values_convert_to_what_sqlite_stores() {
    let cases = [
        (ColumnType::Text, json!("a'b"), SqlValue::Text("a'b".into())),
        (
            ColumnType::Integer,
            json!(i64::MIN),
            SqlValue::Integer(i64::MIN),
        ),
        (ColumnType::Number, json!(7), SqlValue::Real(7.0)),
        (ColumnType::Boolean, json!(true), SqlValue::Integer(1)),
        (ColumnType::Boolean, json!(false), SqlValue::Integer(0)),
        (
            ColumnType::Json,
            json!({"a": [1]}),
            SqlValue::Text(r#"{"a":[1]}"#.into()),
        ),
        (ColumnType::Integer, Value::Null, SqlValue::Null),
        // Unix seconds carry a fixed fraction; text keeps only what it needs.
        (
            ColumnType::Timestamp,
            json!(1_700_000_000),
            SqlValue::Text("2023-11-14T22:13:20.000Z".into()),
        ),
        (
            ColumnType::Timestamp,
            json!("2023-11-14T23:13:20+01:00"),
            SqlValue::Text("2023-11-14T22:13:20Z".into()),
        ),
        (
            ColumnType::Timestamp,
            json!("2023-11-14T22:13:20.5Z"),
            SqlValue::Text("2023-11-14T22:13:20.500Z".into()),
        ),
    ];
    for (ty, value, stored) in cases {
        assert_eq!(
            to_sql(&column("c", ty), &value),
            Ok(stored),
            "{ty:?} {value}"
        );
    }
}

#[test]
fn values_that_do_not_fit_are_errors_naming_the_column() {
    let problem = |ty, value: Value| to_sql(&column("c", ty), &value).unwrap_err();
    assert_eq!(
        problem(ColumnType::Integer, json!("1")),
        "the column `c` must be an integer, not a string"
    );
    assert!(
        problem(ColumnType::Integer, json!(u64::MAX))
            .starts_with("the column `c` must be an integer that fits in 64 bits")
    );
    assert!(
        problem(ColumnType::Timestamp, json!(i64::MAX))
            .starts_with("the column `c` must be a time in Unix seconds within the range")
    );
    assert!(
        problem(ColumnType::Timestamp, json!("noon"))
            .starts_with("the column `c` must be a timestamp")
    );
    assert_eq!(
        problem(ColumnType::Boolean, json!([])),
        "the column `c` must be true or false, not a list"
    );
}

#[test]
fn hostile_names_stay_one_identifier() {
    let conn = Connection::open_in_memory().unwrap();
    let bystander = table("bystander", Vec::new());
    migrate(&conn, std::slice::from_ref(&bystander)).unwrap();
    insert(&conn, &bystander, "kept");
    for name in [
        "a\"b",
        "x\"; DROP TABLE bystander; --",
        "line\nbreak",
        "quote's",
        "\"\"",
    ] {
        let hostile = table(name, vec![column(name, ColumnType::Text)]);
        migrate(&conn, std::slice::from_ref(&hostile)).unwrap();
        insert(&conn, &hostile, "r1");
        assert_eq!(
            select_all(&conn, &hostile),
            json!([{"id": "r1", name: null}]),
            "{name:?}"
        );
    }
    assert!(table_names(&conn).contains(&"bystander".to_string()));
    assert_eq!(select_all(&conn, &bystander), json!([{"id": "kept"}]));

    // A NUL ends SQLite's reading of the statement inside the quoted name:
    // the statement fails, and nothing else happens.
    let before = table_names(&conn);
    let nul = table("n\0; DROP TABLE bystander; --", Vec::new());
    assert!(migrate(&conn, &[nul]).is_err());
    assert_eq!(table_names(&conn), before);
}

#[test]
fn a_new_column_s_default_is_bound_however_hostile() {
    let conn = Connection::open_in_memory().unwrap();
    let people = table("people", Vec::new());
    migrate(&conn, std::slice::from_ref(&people)).unwrap();
    insert(&conn, &people, "p1");

    let hostile = "it's \"x\"'); DROP TABLE people; --\0\n\r\u{2028}end";
    let defaults = [
        ("text", ColumnType::Text, json!(hostile)),
        ("json", ColumnType::Json, json!({"'": [hostile]})),
        ("biggest", ColumnType::Integer, json!(i64::MAX)),
        ("smallest", ColumnType::Integer, json!(i64::MIN)),
        ("huge", ColumnType::Number, json!(1e308)),
        ("tiny", ColumnType::Number, json!(5e-324)),
        ("flag", ColumnType::Boolean, json!(true)),
        ("at", ColumnType::Timestamp, json!("2026-01-31T12:00:00Z")),
    ];
    let columns = defaults
        .iter()
        .map(|(name, ty, default)| Column {
            default: Some(default.clone()),
            ..column(name, *ty)
        })
        .collect();
    let people = table("people", columns);
    let report = migrate(&conn, std::slice::from_ref(&people)).unwrap();
    assert_eq!(report.added_columns.len(), defaults.len());

    let mut row = Map::new();
    row.insert("id".into(), json!("p1"));
    for (name, _, default) in &defaults {
        row.insert((*name).into(), default.clone());
    }
    // A time reads back with its milliseconds, however it was written.
    row.insert("at".into(), json!("2026-01-31T12:00:00.000Z"));
    assert_eq!(select_all(&conn, &people), json!([row]));
    assert_eq!(table_names(&conn), vec!["people".to_string()]);
}
