//! The table actions against SQLite, and migrations when the YAML changes.

use paywire::app::{App, Settings, StartError};
use paywire_store::{RunStatus, StoreError};
use serde_json::{Value, json};

use crate::common::{TestServer, project, write_project};

const PROJECT: &str = r#"
tables:
  items:
    columns:
      sku:      { type: text, primary_key: true }
      name:     { type: text, required: true }
      price:    { type: integer, required: true }
      weight:   { type: number }
      active:   { type: boolean, default: true }
      tags:     { type: json }
      added_at: { type: timestamp }
  notes:
    columns:
      body: { type: text, unique: true }

apis:
  put:
    method: POST
    path: /items
    params:
      item:        { type: object, required: true }
      on_conflict: { type: string, default: error }
    steps:
      - id: row
        action: table.insert
        with: { table: items, values: "{{ context.parameters.item }}", on_conflict: "{{ context.parameters.on_conflict }}" }
      - response: { status: 201, body: "{{ steps.row }}" }

  get:
    method: GET
    path: /items/:sku
    steps:
      - id: row
        action: table.select
        with: { table: items, id: "{{ context.request.params.sku }}" }
      - response: { body: { row: "{{ steps.row }}" } }

  find:
    method: POST
    path: /items/find
    params:
      where:  { type: object, default: {} }
      order:  { type: any }
      limit:  { type: integer }
      offset: { type: integer }
    steps:
      - id: rows
        action: table.select
        with:
          table: items
          where: "{{ context.parameters.where }}"
          order: "{{ context.parameters.order }}"
          limit: "{{ context.parameters.limit }}"
          offset: "{{ context.parameters.offset }}"
      - response: { body: "{{ steps.rows.map(|r| r.sku) }}" }

  reprice:
    method: POST
    path: /items/reprice
    params:
      below: { type: integer, required: true }
    steps:
      - id: changed
        action: table.update
        with: { table: items, where: { price: { lt: "{{ context.parameters.below }}" } }, values: { price: "{{ context.parameters.below }}" } }
      - response: { body: "{{ steps.changed.len() }}" }

  rename:
    method: POST
    path: /items/:sku/rename
    params:
      name: { type: any }
    steps:
      - id: row
        action: table.update
        with: { table: items, id: "{{ context.request.params.sku }}", values: { name: "{{ context.parameters.name }}" } }
      - response: { body: { row: "{{ steps.row }}" } }

  remove:
    method: DELETE
    path: /items/:sku
    steps:
      - id: gone
        action: table.delete
        with: { table: items, id: "{{ context.request.params.sku }}" }
      - response: { body: "{{ steps.gone }}" }

  clear-inactive:
    method: DELETE
    path: /items
    steps:
      - id: gone
        action: table.delete
        with: { table: items, where: { active: false } }
      - response: { body: "{{ steps.gone }}" }

  note:
    method: POST
    path: /notes
    params:
      body: { type: string, required: true }
    steps:
      - id: row
        action: table.insert
        with: { table: notes, values: { body: "{{ context.parameters.body }}" } }
      - response: { status: 201, body: "{{ steps.row }}" }
"#;

fn item(sku: &str, price: i64) -> Value {
    json!({"sku": sku, "name": format!("Item {sku}"), "price": price})
}

async fn seeded() -> TestServer {
    let server = TestServer::start(&[("items.yaml", PROJECT)]).await;
    for (sku, price, weight, tags) in [
        ("a", 100, 1.5, json!(["x"])),
        ("b", 250, 0.25, json!([])),
        ("c", 900, 2.0, json!({"k": 1})),
    ] {
        let mut row = item(sku, price);
        row["weight"] = json!(weight);
        row["tags"] = tags;
        row["added_at"] = json!(1_700_000_000 + price);
        let reply = server.post("/items", json!({"item": row})).await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
    }
    server
}

#[tokio::test]
async fn insert_applies_defaults_and_types_and_select_reads_them_back() {
    let server = seeded().await;
    let row = server.get("/items/a").await.body["row"].clone();
    assert_eq!(
        row,
        json!({"sku": "a", "name": "Item a", "price": 100, "weight": 1.5, "active": true, "tags": ["x"], "added_at": "2023-11-14T22:15:00.000Z"})
    );
    assert_eq!(server.get("/items/zzz").await.body, json!({"row": null}));
    server.stop().await;
}

#[tokio::test]
async fn insert_refuses_bad_rows_and_handles_conflicts() {
    let server = seeded().await;
    let missing = server
        .post("/items", json!({"item": {"sku": "d", "price": 1}}))
        .await;
    assert_eq!(missing.status, 500);
    assert_eq!(
        missing.body["error"]["message"],
        "the column `name` of `items` needs a value"
    );
    assert_eq!(missing.body["error"]["name"], "TableError");
    assert_eq!(missing.body["error"]["step"], "row");

    let wrong_type = server
        .post(
            "/items",
            json!({"item": {"sku": "d", "name": "D", "price": "cheap"}}),
        )
        .await;
    assert_eq!(
        wrong_type.body["error"]["message"],
        "the column `price` must be an integer, not a string"
    );

    let unknown = server
        .post(
            "/items",
            json!({"item": {"sku": "d", "name": "D", "price": 1, "colour": "red"}}),
        )
        .await;
    assert_eq!(
        unknown.body["error"]["message"],
        "the table `items` has no column `colour`"
    );

    let duplicate = server.post("/items", json!({"item": item("a", 5)})).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.body["error"]["name"], "TableConflict");
    assert!(
        duplicate.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{:?}",
        duplicate.body
    );

    let kept = server
        .post(
            "/items",
            json!({"item": item("a", 5), "on_conflict": "nothing"}),
        )
        .await;
    assert_eq!(kept.status, 201);
    assert_eq!(kept.body["price"], 100);

    let updated = server
        .post(
            "/items",
            json!({"item": {"sku": "a", "name": "New", "price": 5}, "on_conflict": "update"}),
        )
        .await;
    assert_eq!(updated.body["price"], 5);
    assert_eq!(
        updated.body["weight"], 1.5,
        "columns not given keep their value"
    );
    assert_eq!(updated.body["active"], true);

    let note = server.post("/notes", json!({"body": "hello"})).await;
    assert_eq!(note.status, 201);
    assert_eq!(
        note.body["id"], 1,
        "a table without a key gets an integer id"
    );
    let twice = server.post("/notes", json!({"body": "hello"})).await;
    assert!(
        twice.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    server.stop().await;
}

#[tokio::test]
async fn select_filters_orders_and_pages() {
    let server = seeded().await;
    let find = |filter: Value| {
        let server = &server;
        async move { server.post("/items/find", filter).await.body }
    };
    assert_eq!(
        find(json!({"order": "price desc"})).await,
        json!(["c", "b", "a"])
    );
    assert_eq!(
        find(json!({"where": {"price": {"gte": 250}}, "order": "sku"})).await,
        json!(["b", "c"])
    );
    assert_eq!(
        find(json!({"where": {"price": {"gt": 100, "lt": 900}}})).await,
        json!(["b"])
    );
    assert_eq!(
        find(json!({"where": {"price": {"lte": 250, "ne": 100}}})).await,
        json!(["b"])
    );
    assert_eq!(
        find(json!({"where": {"sku": {"in": ["a", "c", "q"]}}, "order": ["price desc"]})).await,
        json!(["c", "a"])
    );
    assert_eq!(
        find(json!({"where": {"sku": {"not_in": ["a"]}}, "order": "sku"})).await,
        json!(["b", "c"])
    );
    assert_eq!(find(json!({"where": {"sku": {"in": []}}})).await, json!([]));
    assert_eq!(
        find(json!({"where": {"name": {"like": "%b"}}})).await,
        json!(["b"])
    );
    assert_eq!(
        find(json!({"where": {"active": true}, "order": "sku", "limit": 2, "offset": 1})).await,
        json!(["b", "c"])
    );
    assert_eq!(find(json!({"where": {"tags": null}})).await, json!([]));
    assert_eq!(
        find(json!({"where": {"added_at": {"gt": "2023-11-14T22:20:00Z"}}})).await,
        json!(["c"])
    );

    let bad = server
        .post(
            "/items/find",
            json!({"where": {"price": {"between": [1, 2]}}}),
        )
        .await;
    assert_eq!(bad.status, 500);
    assert_eq!(
        bad.body["error"]["message"],
        "unknown filter operator `between` on `price`"
    );
    let bad_column = server
        .post("/items/find", json!({"order": "nope desc"}))
        .await;
    assert_eq!(
        bad_column.body["error"]["message"],
        "the table `items` has no column `nope`"
    );
    server.stop().await;
}

#[tokio::test]
async fn update_and_delete_by_id_and_by_filter() {
    let server = seeded().await;
    assert_eq!(
        server
            .post("/items/reprice", json!({"below": 300}))
            .await
            .body,
        json!(2)
    );
    assert_eq!(server.get("/items/b").await.body["row"]["price"], 300);

    let renamed = server.post("/items/c/rename", json!({"name": "Cee"})).await;
    assert_eq!(renamed.body["row"]["name"], "Cee");
    assert_eq!(
        server
            .post("/items/zz/rename", json!({"name": "x"}))
            .await
            .body,
        json!({"row": null})
    );
    let emptied = server.post("/items/c/rename", json!({"name": null})).await;
    assert_eq!(
        emptied.body["error"]["message"],
        "the column `name` is required and cannot be null"
    );

    assert_eq!(
        server.request("DELETE", "/items/a", None).await.body,
        json!({"deleted": 1})
    );
    assert_eq!(
        server.request("DELETE", "/items/a", None).await.body,
        json!({"deleted": 0})
    );
    assert_eq!(
        server.request("DELETE", "/items", None).await.body,
        json!({"deleted": 0})
    );
    server.stop().await;
}

#[tokio::test]
async fn writes_commit_with_their_step_record() {
    let server = seeded().await;
    let reply = server.post("/items", json!({"item": item("z", 1)})).await;
    let run = server.run(&reply.run_id()).await;
    let insert = &run.steps[0];
    assert_eq!(insert.kind, "table.insert");
    assert_eq!(insert.output["sku"], "z");
    assert_eq!(run.steps.len(), 2);
    server.stop().await;
}

const UNKNOWN_ID: &str = r#"
tables:
  people:
    columns:
      id:   { type: text, primary_key: true }
      name: { type: text }
apis:
  rename-person:
    method: POST
    path: /people/rename
    params:
      id: { type: any }
    steps:
      - set: name
        value: Ann
      - action: table.update
        with: { table: people, id: "{{ context.parameters.id }}", values: { name: "{{ vars.name }}" } }
      - response: { body: ok }
"#;

#[tokio::test]
async fn a_table_write_refused_before_it_is_tried_leaves_its_run_on_record() {
    let server = TestServer::start(&[("people.yaml", UNKNOWN_ID)]).await;
    let reply = server.post("/people/rename", json!({"id": null})).await;
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("`id` is empty (null)"),
        "{}",
        reply.body
    );
    let run = server.run(&reply.run_id()).await;
    assert_eq!(run.run.status, RunStatus::Failed);
    assert_eq!(
        run.steps
            .iter()
            .map(|s| (s.kind.as_str(), s.status.as_str()))
            .collect::<Vec<_>>(),
        vec![("set", "succeeded"), ("table.update", "failed")]
    );
    server.stop().await;
}

const V1: &str = "tables:\n  people:\n    columns:\n      id: { type: text, primary_key: true }\n      name: { type: text }\n";

async fn start(dir: &std::path::Path) -> Result<std::sync::Arc<App>, StartError> {
    App::start(Settings::new(dir.join("workflows"), dir.join("paywire.db"))).await
}

async fn seed_person(app: &App) {
    let table = app.current().project.tables["people"].clone();
    let mut values = serde_json::Map::new();
    values.insert("id".into(), json!("p1"));
    values.insert("name".into(), json!("Ada"));
    let op = paywire_store::TableOp::Insert {
        table,
        values,
        on_conflict: paywire_store::OnConflict::Error,
    };
    app.store().table_op(op, None).await.unwrap();
}

#[tokio::test]
async fn a_new_column_is_added_in_place_and_filled_with_its_default() {
    let dir = project(&[("t.yaml", V1)]);
    let app = start(dir.path()).await.unwrap();
    seed_person(&app).await;
    drop(app);
    let v2 = format!(
        "{V1}      plan: {{ type: text, default: free, required: true }}\n      score: {{ type: integer }}\n"
    );
    write_project(dir.path(), &[("t.yaml", &v2)]);
    let app = start(dir.path()).await.unwrap();
    let table = app.current().project.tables["people"].clone();
    let op = paywire_store::TableOp::Select {
        table,
        selector: paywire_store::Selector::Id(json!("p1")),
        order: vec![],
        limit: 1,
        offset: 0,
    };
    let row = app.store().table_op(op, None).await.unwrap();
    assert_eq!(
        row,
        json!({"id": "p1", "name": "Ada", "plan": "free", "score": null})
    );
}

#[tokio::test]
async fn changes_that_would_lose_data_are_refused_all_at_once() {
    let dir = project(&[("t.yaml", V1)]);
    let app = start(dir.path()).await.unwrap();
    seed_person(&app).await;
    drop(app);
    let v2 = "tables:\n  people:\n    columns:\n      id: { type: text, primary_key: true }\n      age: { type: integer, required: true }\n      nick: { type: integer }\n";
    write_project(dir.path(), &[("t.yaml", v2)]);
    let Err(StartError::Store(StoreError::Migration(problems))) = start(dir.path()).await else {
        panic!("the migration was not refused");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("`people.name` is in the database but no longer in the YAML"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("`people.age` is required but has no default"),
        "{problems:?}"
    );

    let v3 = "tables:\n  people:\n    columns:\n      id: { type: text, primary_key: true }\n      name: { type: integer }\n";
    write_project(dir.path(), &[("t.yaml", v3)]);
    let Err(StartError::Store(StoreError::Migration(problems))) = start(dir.path()).await else {
        panic!("the type change was not refused");
    };
    assert_eq!(problems, vec!["the column `people.name` is text in the database but integer in the YAML: converting it could lose data; add a new column instead".to_string()]);

    // Nothing changed: the original YAML still starts.
    write_project(dir.path(), &[("t.yaml", V1)]);
    assert!(start(dir.path()).await.is_ok());
}

#[tokio::test]
async fn a_column_becomes_unique_only_when_its_values_are() {
    let dir = project(&[("t.yaml", V1)]);
    let app = start(dir.path()).await.unwrap();
    seed_person(&app).await;
    let table = app.current().project.tables["people"].clone();
    let mut values = serde_json::Map::new();
    values.insert("id".into(), json!("p2"));
    values.insert("name".into(), json!("Ada"));
    let op = paywire_store::TableOp::Insert {
        table,
        values,
        on_conflict: paywire_store::OnConflict::Error,
    };
    app.store().table_op(op, None).await.unwrap();
    drop(app);

    let unique = V1.replace("name: { type: text }", "name: { type: text, unique: true }");
    write_project(dir.path(), &[("t.yaml", &unique)]);
    let Err(StartError::Store(StoreError::Migration(problems))) = start(dir.path()).await else {
        panic!("a column with shared values became unique");
    };
    assert_eq!(problems, vec!["the column `people.name` cannot become unique: some rows share a value; make them distinct first".to_string()]);

    let with_email =
        format!("{V1}      email: {{ type: text, unique: true, default: none@example.com }}\n");
    write_project(dir.path(), &[("t.yaml", &with_email)]);
    let Err(StartError::Store(StoreError::Migration(problems))) = start(dir.path()).await else {
        panic!("a unique column with one default for every row was added");
    };
    assert!(
        problems[0].contains("its default would give the table's 2 rows the same value"),
        "{problems:?}"
    );
}

fn run_record(id: &str) -> paywire_store::RunRecord {
    paywire_store::RunRecord {
        id: id.to_string(),
        retry_of: None,
        trigger_event: None,
        kind: paywire_store::RunKind::Workflow,
        name: "records".into(),
        status: RunStatus::Running,
        input: json!({"parameters": {}}),
        error: None,
        response_status: None,
        started_at: "2026-11-23T10:00:00.000Z".into(),
        finished_at: None,
        duration_ms: None,
        retrying: false,
        instance: None,
    }
}

fn step_record(run: &str, seq: u32, kind: &str) -> paywire_store::StepRecord {
    paywire_store::StepRecord {
        run_id: run.to_string(),
        seq,
        key: format!("steps[{seq}]"),
        step_id: None,
        kind: kind.to_string(),
        status: paywire_store::StepStatus::Succeeded,
        input: json!({}),
        output: json!(null),
        error: None,
        started_at: "2026-11-23T10:00:00.000Z".into(),
        duration_ms: 0.1,
    }
}

#[tokio::test]
async fn a_failed_table_write_keeps_the_records_handed_over_with_it() {
    let dir = project(&[("t.yaml", V1)]);
    let app = start(dir.path()).await.unwrap();
    seed_person(&app).await;
    let table = app.current().project.tables["people"].clone();
    let mut values = serde_json::Map::new();
    values.insert("id".into(), json!("p1"));
    let op = paywire_store::TableOp::Insert {
        table,
        values,
        on_conflict: paywire_store::OnConflict::Error,
    };
    let commit = paywire_store::StepCommit {
        earlier: paywire_store::RunRecords {
            start: Some(run_record("run_clash")),
            steps: vec![step_record("run_clash", 0, "set")],
            end: None,
        },
        step: step_record("run_clash", 1, "table.insert"),
        started: std::time::Instant::now(),
        claim: None,
    };
    let clash = app.store().table_op(op, Some(commit)).await.unwrap_err();
    assert!(matches!(clash, StoreError::Conflict(_)), "{clash:?}");
    app.store().flush().await.unwrap();
    let detail = app
        .store()
        .get_run("run_clash".into())
        .await
        .unwrap()
        .expect("the run's earlier records are kept");
    assert_eq!(detail.run.status, RunStatus::Running);
    assert_eq!(
        detail
            .steps
            .iter()
            .map(|s| s.kind.as_str())
            .collect::<Vec<_>>(),
        vec!["set"],
        "the failed insert's own record went with it"
    );
}

#[tokio::test]
async fn a_run_handed_over_whole_is_one_finished_row() {
    let dir = project(&[("t.yaml", V1)]);
    let app = start(dir.path()).await.unwrap();
    app.store().records_room().await.unwrap();
    app.store().record(paywire_store::RunRecords {
        start: Some(run_record("run_whole")),
        steps: vec![
            step_record("run_whole", 0, "set"),
            step_record("run_whole", 1, "response"),
        ],
        end: Some(paywire_store::RunEnd {
            id: "run_whole".into(),
            status: RunStatus::Succeeded,
            error: None,
            response_status: Some(200),
            finished_at: "2026-11-23T10:00:01.000Z".into(),
            duration_ms: 2.5,
        }),
    });
    // A later hand-over of only an end updates the row written before.
    app.store().record(paywire_store::RunRecords {
        start: Some(run_record("run_parts")),
        ..Default::default()
    });
    app.store().record(paywire_store::RunRecords {
        end: Some(paywire_store::RunEnd {
            id: "run_parts".into(),
            status: RunStatus::Failed,
            error: Some(json!({"name": "Boom"})),
            response_status: None,
            finished_at: "2026-11-23T10:00:02.000Z".into(),
            duration_ms: 1.0,
        }),
        ..Default::default()
    });
    app.store().flush().await.unwrap();
    let whole = app
        .store()
        .get_run("run_whole".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            whole.run.status,
            whole.run.response_status,
            whole.run.finished_at.as_deref(),
            whole.run.duration_ms,
            whole.steps.len()
        ),
        (
            RunStatus::Succeeded,
            Some(200),
            Some("2026-11-23T10:00:01.000Z"),
            Some(2.5),
            2
        )
    );
    let parts = app
        .store()
        .get_run("run_parts".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parts.run.status, RunStatus::Failed);
    assert_eq!(parts.run.error, Some(json!({"name": "Boom"})));
}
