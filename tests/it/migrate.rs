//! `paywire migrate`: a shop that ran on SQLite (table rows written by its
//! APIs, a checkout paid in the sandbox, its webhook events and their runs)
//! is copied by the binary into a fresh PostgreSQL schema, and a server
//! started on that schema finds everything as it was and keeps going. And
//! what migrate refuses: a target that is not empty, a file that is not
//! there, a URL that is not PostgreSQL's, a project that does not check,
//! tables the project does not declare.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::postgres::Schema;
use crate::common::{TestServer, examples_dir, project};
use paywire_model::Table;
use paywire_store::{
    Counts, Direction, EventFilter, EventRecord, EventState, RecordKind, RunDetail, RunFilter,
    SandboxSnapshot, Selector, Store, TableOp,
};

/// Runs `paywire migrate` with `args`, with nothing from the test's
/// environment that would name a database or a project.
async fn migrate(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("migrate")
        .args(args)
        .env_remove("PAYWIRE_DATABASE_URL")
        .env_remove("PAYWIRE_DIR")
        .env("PAYWIRE_LOG", "warn")
        .output()
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// GETs `path` until `done` holds.
async fn eventually(server: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = server.get(path).await;
        if done(&reply.body) {
            return reply.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} stayed {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn events(store: &dyn Store) -> Vec<EventRecord> {
    store
        .list_events(EventFilter {
            limit: 1000,
            ..EventFilter::default()
        })
        .await
        .unwrap()
}

/// Waits until every event has run and every sandbox delivery is done, so
/// that nothing changes the database any more.
async fn settled(store: &dyn Store) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let all = events(store).await;
        let ran = all
            .iter()
            .all(|e| matches!(e.state, EventState::Done | EventState::Ignored));
        let delivered = store
            .sandbox_load()
            .await
            .unwrap()
            .deliveries
            .iter()
            .all(|d| d.delivered);
        if ran && delivered && !all.is_empty() {
            store.flush().await.unwrap();
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events did not settle: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Everything the engine reads, to compare before and after the move.
struct Snapshot {
    runs: Vec<RunDetail>,
    events: Vec<EventRecord>,
    rows: BTreeMap<String, Value>,
    sandbox: SandboxSnapshot,
    counts: Counts,
}

async fn rows(store: &dyn Store, table: &Arc<Table>) -> Value {
    store
        .table_op(
            TableOp::Select {
                table: table.clone(),
                selector: Selector::Filters(Vec::new()),
                order: vec![(table.primary_key.clone(), Direction::Asc)],
                limit: 1000,
                offset: 0,
            },
            None,
        )
        .await
        .unwrap()
}

async fn snapshot(server: &TestServer) -> Snapshot {
    let store = &**server.app.store();
    let mut runs = Vec::new();
    let listed = store
        .list_runs(RunFilter {
            limit: 1000,
            ..RunFilter::default()
        })
        .await
        .unwrap();
    for run in listed {
        runs.push(store.get_run(run.id).await.unwrap().unwrap());
    }
    let mut rows_by_table = BTreeMap::new();
    for (name, table) in &server.app.current().project.tables {
        rows_by_table.insert(name.clone(), rows(store, table).await);
    }
    Snapshot {
        runs,
        events: events(store).await,
        rows: rows_by_table,
        sandbox: store.sandbox_load().await.unwrap(),
        counts: store.count().await.unwrap(),
    }
}

/// The report's lines, `label number [rows]`, as label → number.
fn report(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter(|line| line.starts_with("  "))
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let at = words.iter().rposition(|w| w.parse::<u64>().is_ok())?;
            Some((words[..at].join(" "), words[at].parse().ok()?))
        })
        .collect()
}

/// The password of a PostgreSQL URL, if it has one.
fn password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let user = rest.rsplit_once('@')?.0;
    Some(user.split_once(':')?.1.to_string())
}

#[tokio::test]
async fn a_sqlite_shop_moves_to_postgres_whole_and_keeps_working() {
    let Some(schema) = Schema::create().await else {
        return;
    };

    // The shop on SQLite: an order by its API, then a checkout paid. This
    // server stays on its SQLite file whatever PAYWIRE_TEST_BACKEND says,
    // since that file is what `paywire migrate` copies.
    let server = TestServer::examples_to_self_on_sqlite().await;
    let prices = eventually(&server, "/prices", |b| {
        b["prices"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    let plain = server
        .post(
            "/orders",
            json!({"amount": 1500, "email": "bo@example.com"}),
        )
        .await;
    assert_eq!(plain.status, 201, "{}", plain.body);
    let tshirt = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["lookup_key"] == "tshirt")
        .unwrap()["price_id"]
        .clone();
    let checkout = server
        .post(
            "/create-checkout",
            json!({"price_id": tshirt, "quantity": 2, "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(checkout.status, 201, "{}", checkout.body);
    let session = checkout.body["id"].as_str().unwrap().to_string();
    let order_id = server
        .get(&format!("/checkout-session?session_id={session}"))
        .await
        .body["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    // The page redirects to the shop's success page, which is not served
    // here: the answer itself is what counts.
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(checkout.body["url"].as_str().unwrap())
        .form(&[
            ("action", "pay"),
            ("card_number", "4242 4242 4242 4242"),
            ("email", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status().as_u16(), 303);
    eventually(&server, &format!("/orders/{order_id}"), |o| {
        o["status"] == "paid"
    })
    .await;
    server
        .app
        .store()
        .sign_out_session("sess_before_the_move".into(), 4_000_000_000)
        .await
        .unwrap();
    settled(&**server.app.store()).await;
    let before = snapshot(&server).await;
    assert!(before.events.len() >= 2 && before.runs.len() >= 4);
    let dir = server.stop_keeping_dir().await;
    let file = dir.path().join("paywire.db");
    let file = file.to_str().unwrap();
    let examples = examples_dir();
    let examples = examples.to_str().unwrap();
    let url = schema.url();

    // The move.
    let moved = migrate(&[
        "--from", file, "--to", &url, "--dir", examples, "--page", "3",
    ])
    .await;
    let (stdout, stderr) = (text(&moved.stdout), text(&moved.stderr));
    assert!(moved.status.success(), "{stdout}\n{stderr}");
    let mut expected: BTreeMap<String, u64> = before
        .counts
        .tables
        .iter()
        .map(|(name, n)| (format!("table {name}"), *n))
        .collect();
    for (kind, n) in &before.counts.records {
        expected.insert(kind.name().to_string(), *n);
    }
    // The server left the database when it stopped (`Store::leave`), so no
    // instance is left in the file to copy.
    expected.insert(RecordKind::Instances.name().to_string(), 0);
    assert_eq!(report(&stdout), expected, "{stdout}");
    assert!(expected["table orders"] == 2 && expected["webhook events"] >= 2);
    assert_eq!(expected[RecordKind::SignedOutSessions.name()], 1);
    assert!(
        stdout.contains("both databases hold the same counts"),
        "{stdout}"
    );
    if let Some(password) = password(&url) {
        let shown = format!("{stdout}{stderr}");
        assert!(!shown.contains(&format!(":{password}@")), "{shown}");
        assert!(shown.contains(":***@"), "{shown}");
    }

    // A server on the schema finds everything as it was.
    let server =
        TestServer::examples_configured(true, |settings| settings.db = schema.database()).await;
    let store = &**server.app.store();
    for run in &before.runs {
        let moved = store.get_run(run.run.id.clone()).await.unwrap();
        assert_eq!(moved.as_ref(), Some(run), "run {}", run.run.id);
    }
    for event in &before.events {
        let moved = store.get_event(event.id.clone()).await.unwrap();
        assert_eq!(moved.as_ref(), Some(event), "event {}", event.id);
    }
    for (name, table) in &server.app.current().project.tables {
        assert_eq!(rows(store, table).await, before.rows[name], "table {name}");
    }
    let sandbox = store.sandbox_load().await.unwrap();
    for object in &before.sandbox.objects {
        assert!(
            sandbox.objects.contains(object),
            "sandbox object {}",
            object.id
        );
    }
    for record in &before.sandbox.idempotency {
        assert!(sandbox.idempotency.contains(record), "{}", record.key);
    }
    assert!(
        store
            .session_signed_out("sess_before_the_move".into())
            .await
            .unwrap()
    );
    // The startup workflow finds the prices it made before the move.
    let again = eventually(&server, "/prices", |b| b["prices"].is_array()).await;
    assert_eq!(again, prices);
    let order = server.get(&format!("/orders/{order_id}")).await;
    assert_eq!((order.status, &order.body["status"]), (200, &json!("paid")));

    // And keeps working: a new order, and a new event numbered after every
    // copied one.
    let new = server.post("/orders", json!({"amount": 900})).await;
    assert_eq!(new.status, 201, "{}", new.body);
    let id = new.body["id"].as_str().unwrap();
    assert_eq!(server.get(&format!("/orders/{id}")).await.status, 200);
    let customer = server
        .client
        .post(format!("{}/_stripe/v1/customers", server.base))
        .bearer_auth("sk_test_after_the_move")
        .form(&[("email", "new@example.com")])
        .send()
        .await
        .unwrap();
    assert!(customer.status().is_success());
    let highest = before.events.iter().map(|e| e.seq).max().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let fresh = loop {
        let known: Vec<&str> = before.events.iter().map(|e| e.id.as_str()).collect();
        if let Some(fresh) = events(store)
            .await
            .into_iter()
            .find(|e| !known.contains(&e.id.as_str()))
        {
            break fresh;
        }
        assert!(tokio::time::Instant::now() < deadline, "no new event came");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(fresh.seq > highest, "{} after {highest}", fresh.seq);
    server.stop().await;

    // A second move into the same schema is refused, saying what is there.
    let again = migrate(&["--from", file, "--to", &url, "--dir", examples]).await;
    let stderr = text(&again.stderr);
    assert!(!again.status.success());
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(stderr.contains("webhook events ("), "{stderr}");
    assert!(stderr.contains("the table `orders`"), "{stderr}");
    drop(dir);
}

#[tokio::test]
async fn migrate_refuses_what_it_cannot_copy() {
    let url = "postgres://paywire:s3cret@127.0.0.1:1/nowhere";
    let examples = examples_dir();
    let examples = examples.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let missing = missing.to_str().unwrap();

    let refused = migrate(&["--from", missing, "--to", url, "--dir", examples]).await;
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("no SQLite database at"), "{stderr}");
    assert!(!Path::new(missing).exists(), "nothing is created");

    // A file that is there, with a table of the builder's that the project
    // does not declare.
    let file = dir.path().join("paywire.db");
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch("CREATE TABLE leftovers (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO leftovers (note) VALUES ('keep me');")
        .unwrap();
    drop(conn);
    let file = file.to_str().unwrap();

    let refused = migrate(&["--from", file, "--to", "other.db", "--dir", examples]).await;
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("--to must name a PostgreSQL database"),
        "{stderr}"
    );

    let broken = project(&[(
        "bad.yaml",
        "tables:\n  orders:\n    columns:\n      id: { type: nope }\n",
    )]);
    let broken_dir = broken.path().join("workflows");
    let refused = migrate(&[
        "--from",
        file,
        "--to",
        url,
        "--dir",
        broken_dir.to_str().unwrap(),
    ])
    .await;
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("does not check"), "{stderr}");

    let refused = migrate(&["--from", file, "--to", url, "--dir", examples]).await;
    assert!(!refused.status.success());
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("does not declare"), "{stderr}");
    assert!(stderr.contains("leftovers"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
