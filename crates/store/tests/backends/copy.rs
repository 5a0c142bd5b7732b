//! The copy cases of the suite (`paywire migrate`): what a store holds is
//! counted, exported a page at a time and imported into another store as
//! it was. Each case fills a SQLite store, as a builder's machine would,
//! and copies it into the backend under test, whose own export must then
//! give back what the SQLite one gave.

use std::sync::Arc;

use serde_json::{Value, json};

use paywire_model::{ColumnType, Table};
use paywire_store::{
    Counts, EventState, Heartbeat, Kind, MAX_PAGE, RecordKind, Records, RunKind, RunRecords,
    RunStatus, SandboxChanges, SandboxDelivery, SandboxIdempotency, SandboxObject, Selector,
    StoreError, TableOp,
};

use crate::common::{TestStore, sqlite};
use crate::runs::{end, event, event_update, run, step, write};
use crate::tables::{all, column, insert, key, migrate, object, required, table};

/// A table with a column of every type, keyed by text; `plan` is required
/// with a default, which a copy must neither check nor fill in.
fn people() -> Arc<Table> {
    let mut plan = required("plan", ColumnType::Text);
    plan.default = Some(json!("free"));
    table(
        "people",
        vec![
            key("id", ColumnType::Text),
            column("age", ColumnType::Integer),
            column("score", ColumnType::Number),
            column("active", ColumnType::Boolean),
            column("seen_at", ColumnType::Timestamp),
            column("profile", ColumnType::Json),
            plan,
        ],
    )
}

/// A table numbered by the store: an integer key given by none.
fn tallies() -> Arc<Table> {
    table("tallies", vec![column("label", ColumnType::Text)])
}

/// Fills `store` with some of every kind of record.
async fn fill(store: &TestStore) {
    let (people, tallies) = (people(), tallies());
    migrate(store, &[&people, &tallies]).await.unwrap();
    for (i, id) in ["ada", "bob", "cy", "dee", "eve"].iter().enumerate() {
        let n = i as i64;
        insert(
            store,
            &people,
            json!({
                "id": id,
                "age": 30 + n,
                "score": 2.5 * n as f64,
                "active": i % 2 == 0,
                "seen_at": format!("2026-01-0{}T03:04:05.250Z", i + 1),
                "profile": {"tags": ["a", n, 1.5], "nested": {"k": null}, "name": format!("ünï {id}")},
            }),
        )
        .await
        .unwrap();
    }
    for label in ["one", "two", "three"] {
        insert(store, &tallies, json!({"label": label}))
            .await
            .unwrap();
    }
    // A freed key: the copy keeps the keys as they are, gap included.
    store
        .table_op(
            TableOp::Delete {
                table: tallies.clone(),
                selector: Selector::Id(json!(2)),
            },
            None,
        )
        .await
        .unwrap();

    // A run whose steps came in three hand-overs, and that failed.
    let first = run("run_1", "charge", "2026-11-23T10:00:00.123Z");
    write(
        store,
        RunRecords {
            start: Some(first),
            steps: vec![step("run_1", 1), step("run_1", 0)],
            end: None,
        },
    )
    .await;
    for steps in [
        vec![step("run_1", 2)],
        vec![step("run_1", 3), step("run_1", 4)],
    ] {
        write(
            store,
            RunRecords {
                start: None,
                steps,
                end: None,
            },
        )
        .await;
    }
    let failed = end("run_1", RunStatus::Failed, "2026-11-23T10:00:01.500Z");
    write(
        store,
        RunRecords {
            end: Some(failed),
            ..RunRecords::default()
        },
    )
    .await;
    // A run left running by an instance, and an API run retrying the first.
    let mut running = run("run_2", "sync", "2026-11-23T10:00:02.000Z");
    running.instance = Some("i1".into());
    running.trigger_event = Some("evt_5".into());
    write(
        store,
        RunRecords {
            start: Some(running),
            ..RunRecords::default()
        },
    )
    .await;
    let mut api = run("run_3", "create-order", "2026-11-23T10:00:03.000Z");
    api.kind = RunKind::Api;
    api.retry_of = Some("run_1".into());
    api.trigger_event = Some("evt_1".into());
    api.status = RunStatus::Succeeded;
    api.response_status = Some(201);
    api.finished_at = Some("2026-11-23T10:00:03.250Z".into());
    api.duration_ms = Some(250.5);
    write(
        store,
        RunRecords {
            start: Some(api),
            steps: vec![step("run_3", 0)],
            end: None,
        },
    )
    .await;

    // Events in every state, one of them claimed by a live instance.
    for (i, id) in ["evt_1", "evt_2", "evt_3", "evt_4", "evt_5"]
        .iter()
        .enumerate()
    {
        let mut new = event(id, &format!("in_{i}"), "2026-11-23T10:00:00.042Z");
        if *id == "evt_4" {
            new.state = EventState::Ignored;
        }
        assert!(store.event_received(new).await.unwrap());
    }
    for update in [
        event_update("evt_1", EventState::Done, 1, 0),
        event_update("evt_2", EventState::Failed, 3, 0),
        event_update("evt_3", EventState::Pending, 2, 9_000_000_000_000),
    ] {
        assert!(store.event_update(update).await.unwrap());
    }
    store
        .heartbeat(Heartbeat {
            instance: "i1".into(),
            started_at: "2026-11-23T09:59:00.000Z".into(),
            now: 1_000,
            lease_ms: 10_000,
            starting: false,
        })
        .await
        .unwrap();
    let claimed = store.claim_events("i1".into(), 1_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "{}", store.backend);

    store
        .sign_out_session("sess_1".into(), 4_000_000_000)
        .await
        .unwrap();
    let claim = store.sandbox_claim("the test".into()).await.unwrap();
    store
        .sandbox_commit(SandboxChanges {
            objects: ["cus_1", "pi_1", "evt_1"]
                .iter()
                .enumerate()
                .map(|(i, id)| SandboxObject {
                    id: id.to_string(),
                    object: "thing".into(),
                    seq: i as i64 + 1,
                    data: json!({"id": id, "amount": 1000 + i, "metadata": {"note": "✓"}}),
                })
                .collect(),
            idempotency: Some(SandboxIdempotency {
                key: "key_1".into(),
                fingerprint: "POST /v1/customers".into(),
                status: 200,
                body: r#"{"id": "cus_1",  "object":"customer"}"#.into(),
            }),
            deliveries: vec![
                SandboxDelivery {
                    event_id: "evt_1".into(),
                    endpoint: String::new(),
                    attempts: 2,
                    delivered: true,
                    last_error: None,
                },
                SandboxDelivery {
                    event_id: "evt_2".into(),
                    endpoint: "we_1".into(),
                    attempts: 5,
                    delivered: false,
                    last_error: Some("connection refused".into()),
                },
            ],
        })
        .await
        .unwrap();
    drop(claim);
}

/// Every kind a store of [`fill`] holds, builder's tables first.
fn kinds() -> Vec<Kind> {
    let tables = [people(), tallies()].into_iter().map(Kind::Table);
    tables
        .chain(RecordKind::ALL.into_iter().map(Kind::Records))
        .collect()
}

/// Every record of `kind`, read `limit` at a time, with the number of pages.
async fn export_all(store: &TestStore, kind: &Kind, limit: u32) -> (Vec<Records>, usize) {
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .export(kind.clone(), after, limit)
            .await
            .unwrap_or_else(|e| panic!("{}: export {kind:?}: {e}", store.backend));
        assert!(page.records.len() <= limit as usize);
        pages.push(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let count = pages.len();
    (pages, count)
}

/// The records of `pages` as one comparable value per record.
fn flatten(pages: &[Records]) -> Vec<String> {
    pages
        .iter()
        .flat_map(|page| match page {
            Records::Runs(r) => r.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>(),
            Records::StepBatches(r) => r.iter().map(|x| format!("{x:?}")).collect(),
            Records::Events(r) => r.iter().map(|x| format!("{x:?}")).collect(),
            Records::Instances(r) => r.iter().map(|x| format!("{x:?}")).collect(),
            Records::SignedOutSessions(r) => r.iter().map(|x| format!("{x:?}")).collect(),
            Records::SandboxObjects(r) => r.iter().map(|x| format!("{x:?}")).collect(),
            Records::SandboxIdempotency(r) => r.iter().map(|x| format!("{x:?}")).collect(),
            Records::SandboxDeliveries(r) => r.iter().map(|x| format!("{x:?}")).collect(),
            Records::Rows { rows, .. } => rows
                .iter()
                .map(|x| Value::from(x.clone()).to_string())
                .collect(),
        })
        .collect()
}

/// Copies every kind from `source` into `target`, `limit` at a time, as
/// `paywire migrate` does.
async fn copy(source: &TestStore, target: &TestStore, limit: u32) {
    migrate(target, &[&people(), &tallies()]).await.unwrap();
    for kind in kinds() {
        let (pages, _) = export_all(source, &kind, limit).await;
        for page in pages {
            let n = page.len() as u64;
            assert_eq!(
                target
                    .import(page)
                    .await
                    .unwrap_or_else(|e| panic!("{}: import {kind:?}: {e}", target.backend)),
                n
            );
        }
    }
}

async fn an_empty_store_holds_nothing(store: TestStore) {
    let counts = store.count().await.unwrap();
    assert!(counts.is_empty(), "{}: {counts:?}", store.backend);
    assert_eq!(counts.records.len(), RecordKind::ALL.len());
    assert_eq!(counts.found(), Vec::<String>::new());
    // A table of the builder's, even empty, makes the store not empty.
    migrate(&store, &[&tallies()]).await.unwrap();
    let counts = store.count().await.unwrap();
    assert!(!counts.is_empty());
    assert_eq!(counts.found(), vec!["the table `tallies` (0 rows)"]);
    insert(&store, &tallies(), json!({"label": "x"}))
        .await
        .unwrap();
    store
        .sign_out_session("sess_1".into(), 4_000_000_000)
        .await
        .unwrap();
    assert_eq!(
        store.count().await.unwrap().found(),
        vec!["console sign-outs (1)", "the table `tallies` (1 row)"]
    );
    // Exporting what is not there gives an empty last page.
    let (pages, count) = export_all(&store, &Kind::Records(RecordKind::Events), 10).await;
    assert_eq!((flatten(&pages).len(), count), (0, 1));
}

async fn a_store_copied_page_by_page_reads_back_the_same(store: TestStore) {
    let source = sqlite().await;
    fill(&source).await;
    let expected = source.count().await.unwrap();
    assert_eq!(
        expected,
        Counts {
            records: [
                (RecordKind::Runs, 3),
                (RecordKind::StepBatches, 2),
                (RecordKind::Events, 5),
                (RecordKind::Instances, 1),
                (RecordKind::SignedOutSessions, 1),
                (RecordKind::SandboxObjects, 3),
                (RecordKind::SandboxIdempotency, 1),
                (RecordKind::SandboxDeliveries, 2),
            ]
            .into_iter()
            .collect(),
            tables: [("people".to_string(), 5), ("tallies".to_string(), 2)]
                .into_iter()
                .collect(),
        }
    );
    copy(&source, &store, 2).await;
    assert_eq!(store.count().await.unwrap(), expected, "{}", store.backend);

    // The backend's own export gives back what SQLite's gave, whatever
    // the size of the pages.
    for kind in kinds() {
        let (from, pages) = export_all(&source, &kind, 2).await;
        let (to, _) = export_all(&store, &kind, MAX_PAGE).await;
        assert_eq!(flatten(&to), flatten(&from), "{}: {kind:?}", store.backend);
        assert!(pages >= 1);
    }
    let (_, pages) = export_all(&source, &Kind::Table(people()), 2).await;
    assert_eq!(pages, 3, "five rows, two to a page");

    // What the engine reads is the same too.
    for id in ["run_1", "run_2", "run_3"] {
        let copied = store.get_run(id.into()).await.unwrap();
        assert_eq!(copied, source.get_run(id.into()).await.unwrap(), "{id}");
    }
    assert_eq!(
        store
            .get_run("run_1".into())
            .await
            .unwrap()
            .unwrap()
            .steps
            .len(),
        5
    );
    for id in ["evt_1", "evt_2", "evt_3", "evt_4", "evt_5"] {
        let copied = store.get_event(id.into()).await.unwrap();
        assert_eq!(copied, source.get_event(id.into()).await.unwrap(), "{id}");
    }
    assert_eq!(
        store
            .get_event("evt_5".into())
            .await
            .unwrap()
            .unwrap()
            .claimed_by
            .as_deref(),
        Some("i1")
    );
    assert_eq!(
        store.sandbox_load().await.unwrap().objects,
        source.sandbox_load().await.unwrap().objects
    );
    assert!(store.session_signed_out("sess_1".into()).await.unwrap());
    assert_eq!(
        store.list_instances().await.unwrap(),
        source.list_instances().await.unwrap()
    );
    assert_eq!(all(&store, &people()).await, all(&source, &people()).await);

    // The copy goes on as the original would: events received afterwards
    // come after every copied one, rows numbered by the store after the
    // largest key.
    let last = store.get_event("evt_5".into()).await.unwrap().unwrap().seq;
    assert!(
        store
            .event_received(event("evt_6", "in_6", "2026-11-23T10:00:09.000Z"))
            .await
            .unwrap()
    );
    let next = store.get_event("evt_6".into()).await.unwrap().unwrap().seq;
    assert!(next > last, "{}: {next} after {last}", store.backend);
    let row = insert(&store, &tallies(), json!({"label": "four"}))
        .await
        .unwrap();
    assert_eq!(row["id"], 4, "{}", store.backend);
}

async fn a_page_is_written_whole_or_not_at_all(store: TestStore) {
    let source = sqlite().await;
    fill(&source).await;
    copy(&source, &store, MAX_PAGE).await;
    // A page holding a new run and one already there writes neither.
    let mut new = run("run_9", "charge", "2026-11-23T11:00:00.000Z");
    new.status = RunStatus::Succeeded;
    let (pages, _) = export_all(&source, &Kind::Records(RecordKind::Runs), MAX_PAGE).await;
    let Some(Records::Runs(mut runs)) = pages.into_iter().next() else {
        panic!("a page of runs");
    };
    runs[0].run = new;
    let error = store.import(Records::Runs(runs)).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::Conflict(m) if m.contains("run_2")),
        "{}: {error}",
        store.backend
    );
    assert_eq!(store.get_run("run_9".into()).await.unwrap(), None);
    // An event there already is refused too, and nothing of it changes.
    let (pages, _) = export_all(&source, &Kind::Records(RecordKind::Events), 1).await;
    let error = store
        .import(pages.into_iter().next().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Conflict(_)), "{error}");
    assert_eq!(store.count().await.unwrap(), source.count().await.unwrap());
}

async fn rows_are_written_as_they_were_without_defaults_or_checks(store: TestStore) {
    let people = people();
    migrate(&store, &[&people]).await.unwrap();
    // `plan` is required, with a default: a copied null stays null.
    let row = object(json!({
        "id": "zed", "age": null, "score": 1.0, "active": false,
        "seen_at": "2026-02-03T04:05:06Z", "profile": 7, "plan": null
    }));
    let written = store
        .import(Records::Rows {
            table: people.clone(),
            rows: vec![row.clone()],
        })
        .await
        .unwrap();
    assert_eq!(written, 1);
    // Times read back with their milliseconds, however they were written.
    let mut read = row.clone();
    read.insert("seen_at".into(), json!("2026-02-03T04:05:06.000Z"));
    assert_eq!(
        all(&store, &people).await,
        json!([read]),
        "{}",
        store.backend
    );
    // A value its column cannot hold is refused, naming the column.
    let error = store
        .import(Records::Rows {
            table: people.clone(),
            rows: vec![object(json!({"id": "yul", "age": "old"}))],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Invalid(m) if m.contains("`age`")),
        "{}: {error}",
        store.backend
    );
}

on_both_backends!(
    an_empty_store_holds_nothing,
    a_store_copied_page_by_page_reads_back_the_same,
    a_page_is_written_whole_or_not_at_all,
    rows_are_written_as_they_were_without_defaults_or_checks,
);
