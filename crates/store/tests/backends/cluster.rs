//! The inbox shared by several instances: claims, the order of one
//! object's events, heartbeats and taking back a stopped instance's work.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::json;

use crate::common::TestStore;
use paywire_store::{
    EventClaim, EventState, EventUpdate, Heartbeat, NewEvent, OnConflict, RunRecord, RunRecords,
    RunStatus, StepCommit, Store, StoreError, TableOp,
};

const LEASE: i64 = 10_000;

fn event(id: &str, object: Option<&str>) -> NewEvent {
    NewEvent {
        id: id.into(),
        event_type: "invoice.paid".into(),
        object_type: "invoice".into(),
        object_id: object.map(str::to_string),
        created: 1_700_000_000,
        livemode: false,
        payload: json!({"id": id}).to_string(),
        received_at: "2026-12-03T10:00:00.000Z".into(),
        state: EventState::Pending,
    }
}

fn beat(instance: &str, now: i64, starting: bool) -> Heartbeat {
    Heartbeat {
        instance: instance.into(),
        started_at: "2026-12-03T10:00:00.000Z".into(),
        now,
        lease_ms: LEASE,
        starting,
    }
}

fn done(id: &str, holder: &str) -> EventUpdate {
    EventUpdate {
        id: id.into(),
        state: EventState::Done,
        attempts: 1,
        next_attempt_at: 0,
        last_error: None,
        finished_at: Some("2026-12-03T10:00:01.000Z".into()),
        holder: Some(holder.into()),
    }
}

/// The names of the instances sharing the store, as it lists them.
async fn instance_ids(store: &TestStore) -> Vec<String> {
    store
        .list_instances()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}

/// Run `id` of event `event`, running on `instance`.
fn running(id: &str, event: &str, instance: &str) -> RunRecord {
    let mut run = crate::runs::run(id, "on_paid", "2026-12-03T10:00:00.000Z");
    run.trigger_event = Some(event.into());
    run.input = json!({});
    run.instance = Some(instance.into());
    run
}

async fn claimed_ids(store: &dyn Store, instance: &str, now: i64, limit: u32) -> Vec<String> {
    store
        .claim_events(instance.into(), now, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.claimed_by.as_deref(), Some(instance));
            e.id
        })
        .collect()
}

async fn claims_take_each_object_s_events_one_at_a_time_in_order(store: TestStore) {
    for (id, object) in [
        ("evt_1", Some("in_x")),
        ("evt_2", Some("in_x")),
        ("evt_3", Some("in_y")),
        ("evt_4", None),
        ("evt_5", None),
    ] {
        assert!(store.event_received(event(id, object)).await.unwrap());
    }
    assert_eq!(
        claimed_ids(&*store, "a", 1, 10).await,
        ["evt_1", "evt_3", "evt_4", "evt_5"],
        "{}: one event per object, events without one all at once",
        store.backend
    );
    // The second event of in_x waits while the first is claimed, whoever asks.
    assert!(claimed_ids(&*store, "b", 1, 10).await.is_empty());
    assert!(store.event_update(done("evt_1", "a")).await.unwrap());
    assert_eq!(claimed_ids(&*store, "b", 1, 10).await, ["evt_2"]);
    let stored = store.get_event("evt_1".into()).await.unwrap().unwrap();
    assert_eq!(stored.state, EventState::Done);
    assert_eq!(stored.claimed_by, None, "an event's end releases its claim");
}

async fn a_retry_not_yet_due_lets_its_object_s_later_events_run(store: TestStore) {
    store
        .event_received(event("evt_1", Some("in_x")))
        .await
        .unwrap();
    store
        .event_received(event("evt_2", Some("in_x")))
        .await
        .unwrap();
    assert_eq!(claimed_ids(&*store, "a", 1, 10).await, ["evt_1"]);
    let retry_later = EventUpdate {
        state: EventState::Pending,
        next_attempt_at: 5_000,
        last_error: Some("w: Boom: no".into()),
        finished_at: None,
        ..done("evt_1", "a")
    };
    assert!(store.event_update(retry_later).await.unwrap());
    assert_eq!(claimed_ids(&*store, "a", 2, 10).await, ["evt_2"]);
    assert_eq!(
        store.next_event_due(2).await.unwrap(),
        Some(5_000),
        "{}",
        store.backend
    );
    // Due, the retry still waits for the claimed event of its object.
    assert!(claimed_ids(&*store, "a", 6_000, 10).await.is_empty());
    assert!(store.event_update(done("evt_2", "a")).await.unwrap());
    assert_eq!(claimed_ids(&*store, "a", 6_000, 10).await, ["evt_1"]);
}

async fn instances_claiming_at_once_never_take_one_event_twice(store: TestStore) {
    for n in 0..60 {
        // Every third event shares one object; the rest have their own.
        let object = if n % 3 == 0 {
            "in_shared".to_string()
        } else {
            format!("in_{n}")
        };
        store
            .event_received(event(&format!("evt_{n:02}"), Some(&object)))
            .await
            .unwrap();
    }
    let store: Arc<dyn Store> = store.store.clone();
    let claimers = ["a", "b", "c"].map(|instance| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..10 {
                mine.extend(claimed_ids(&*store, instance, 1, 7).await);
            }
            mine
        })
    });
    let mut all = Vec::new();
    for claimer in claimers {
        all.extend(claimer.await.unwrap());
    }
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "an event was claimed twice: {all:?}"
    );
    let shared: Vec<&String> = all
        .iter()
        .filter(|id| id[4..].parse::<u32>().unwrap() % 3 == 0)
        .collect();
    assert_eq!(
        shared,
        ["evt_00"],
        "one event of the shared object at a time"
    );
    assert_eq!(all.len(), 41, "every other event was claimed");
}

async fn a_stopped_instance_s_claims_and_runs_are_taken_back(store: TestStore) {
    store.heartbeat(beat("a", 1_000, true)).await.unwrap();
    // b's first beat as a peer's, not a start: on SQLite a start takes
    // every other instance for stopped (see the next case).
    store.heartbeat(beat("b", 1_000, false)).await.unwrap();
    store
        .event_received(event("evt_1", Some("in_x")))
        .await
        .unwrap();
    assert_eq!(claimed_ids(&*store, "a", 1_000, 10).await, ["evt_1"]);
    store.record(RunRecords {
        start: Some(running("run_a", "evt_1", "a")),
        ..RunRecords::default()
    });
    store.flush().await.unwrap();
    // Within the lease, nothing is taken from a.
    let calm = store
        .heartbeat(beat("b", 1_000 + LEASE, false))
        .await
        .unwrap();
    assert!(calm.is_empty(), "{}: {calm:?}", store.backend);
    // Past it, b takes back a's claim and fails its running run.
    let recovery = store
        .heartbeat(beat("b", 2_000 + LEASE, false))
        .await
        .unwrap();
    assert_eq!(recovery.lost_instances, ["a"]);
    assert_eq!(recovery.requeued_events, 1);
    assert_eq!(recovery.interrupted_runs, 1);
    let run = store.get_run("run_a".into()).await.unwrap().unwrap().run;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.unwrap()["name"], "Interrupted");
    assert_eq!(run.instance.as_deref(), Some("a"));
    assert_eq!(
        claimed_ids(&*store, "b", 2_000 + LEASE, 10).await,
        ["evt_1"]
    );
    // a, only slow, reports the event's end: nothing changes.
    assert!(!store.event_update(done("evt_1", "a")).await.unwrap());
    assert!(store.event_update(done("evt_1", "b")).await.unwrap());
    let instances = instance_ids(&store).await;
    assert_eq!(instances, ["b"]);
}

async fn a_starting_instance_takes_back_only_what_its_store_allows(store: TestStore) {
    store.heartbeat(beat("a", 1_000, true)).await.unwrap();
    store.event_received(event("evt_1", None)).await.unwrap();
    assert_eq!(claimed_ids(&*store, "a", 1_000, 10).await, ["evt_1"]);
    let recovery = store.heartbeat(beat("b", 1_500, true)).await.unwrap();
    match store.backend {
        // One process owns a SQLite file: whoever held it before stopped.
        "sqlite" => {
            assert_eq!(recovery.lost_instances, ["a"]);
            assert_eq!(recovery.requeued_events, 1);
        }
        // A shared database: a, beating half a second ago, is alive.
        _ => assert!(recovery.is_empty(), "{recovery:?}"),
    }
}

async fn an_instance_back_from_an_outage_takes_nothing_at_its_first_beat(store: TestStore) {
    store.heartbeat(beat("a", 1_000, true)).await.unwrap();
    store.heartbeat(beat("b", 1_000, false)).await.unwrap();
    store.event_received(event("evt_1", None)).await.unwrap();
    assert_eq!(claimed_ids(&*store, "a", 1_000, 10).await, ["evt_1"]);
    // The database was away for three leases: everyone looks silent, b too.
    let back = 1_000 + 3 * LEASE;
    let first = store.heartbeat(beat("b", back, false)).await.unwrap();
    assert!(first.is_empty(), "{}: {first:?}", store.backend);
    store.heartbeat(beat("a", back + 100, false)).await.unwrap();
    // By b's next beat a has beaten again: it is alive and keeps its claim.
    let next = store
        .heartbeat(beat("b", back + 1_000, false))
        .await
        .unwrap();
    assert!(next.is_empty(), "{}: {next:?}", store.backend);
    assert!(store.event_update(done("evt_1", "a")).await.unwrap());
}

async fn a_write_fenced_by_a_lost_claim_is_refused(store: TestStore) {
    let hits = crate::tables::table(
        "hits",
        vec![crate::tables::key("id", paywire_model::ColumnType::Text)],
    );
    store.migrate(vec![hits.clone()]).await.unwrap();
    store.heartbeat(beat("a", 1_000, true)).await.unwrap();
    store.heartbeat(beat("b", 1_000, false)).await.unwrap();
    store.event_received(event("evt_1", None)).await.unwrap();
    assert_eq!(claimed_ids(&*store, "a", 1_000, 10).await, ["evt_1"]);
    let insert = |id: &str| TableOp::Insert {
        table: hits.clone(),
        values: json!({ "id": id }).as_object().cloned().unwrap(),
        on_conflict: OnConflict::Error,
    };
    let fenced = |run: &str| StepCommit {
        earlier: RunRecords::default(),
        step: crate::runs::step(run, 0),
        started: std::time::Instant::now(),
        claim: Some(EventClaim {
            event: "evt_1".into(),
            instance: "a".into(),
        }),
    };
    store
        .table_op(insert("first"), Some(fenced("run_1")))
        .await
        .unwrap();
    // b takes a for stopped; a's next write is refused and writes nothing.
    store
        .heartbeat(beat("b", 1_000 + LEASE, false))
        .await
        .unwrap();
    let taken = store
        .heartbeat(beat("b", 2_000 + LEASE, false))
        .await
        .unwrap();
    assert_eq!(taken.lost_instances, ["a"]);
    let refused = store
        .table_op(insert("second"), Some(fenced("run_2")))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::ClaimLost(_)),
        "{}: {refused:?}",
        store.backend
    );
    assert_eq!(store.count_rows(vec![hits]).await.unwrap(), [1]);
}

async fn the_instances_of_one_deployment_run_its_startup_workflows_once(store: TestStore) {
    let claim = |instance: &str, version: &str, now: i64| {
        store.claim_startup(instance.into(), version.into(), now, LEASE)
    };
    for instance in ["a", "b", "c"] {
        store.heartbeat(beat(instance, 1_000, false)).await.unwrap();
    }
    assert!(claim("a", "v1", 1_000).await.unwrap(), "{}", store.backend);
    assert!(!claim("b", "v1", 1_000).await.unwrap());
    // A new version is a new deployment.
    assert!(claim("c", "v2", 1_000).await.unwrap());
    // a stops; b, which joined a's deployment, still stands for it.
    store.heartbeat(beat("b", 5_000, false)).await.unwrap();
    store.heartbeat(beat("d", 5_000, false)).await.unwrap();
    assert!(!claim("d", "v1", 5_000).await.unwrap());
    // Once every instance of v1 is silent, the next start runs them again.
    store
        .heartbeat(beat("e", 5_000 + 2 * LEASE, false))
        .await
        .unwrap();
    assert!(claim("e", "v1", 5_000 + 2 * LEASE).await.unwrap());
}

async fn a_restart_under_the_same_name_takes_back_what_its_namesake_left(store: TestStore) {
    store.heartbeat(beat("a", 1_000, true)).await.unwrap();
    store.event_received(event("evt_1", None)).await.unwrap();
    assert_eq!(claimed_ids(&*store, "a", 1_000, 10).await, ["evt_1"]);
    // a is killed and starts again at once, well within its lease, under
    // its name: nobody else would ever take back its claim.
    let recovery = store.heartbeat(beat("a", 1_500, true)).await.unwrap();
    assert_eq!(
        recovery.requeued_events, 1,
        "{}: {recovery:?}",
        store.backend
    );
    assert_eq!(claimed_ids(&*store, "a", 1_500, 10).await, ["evt_1"]);
    let instances = instance_ids(&store).await;
    assert_eq!(instances, ["a"], "{}", store.backend);
}

async fn an_instance_that_leaves_gives_back_its_work_and_its_deployment_at_once(store: TestStore) {
    store.heartbeat(beat("a", 1_000, true)).await.unwrap();
    store.heartbeat(beat("b", 1_000, false)).await.unwrap();
    assert!(
        store
            .claim_startup("a".into(), "v1".into(), 1_000, LEASE)
            .await
            .unwrap()
    );
    for id in ["evt_1", "evt_2"] {
        store.event_received(event(id, None)).await.unwrap();
    }
    assert_eq!(claimed_ids(&*store, "a", 1_000, 1).await, ["evt_1"]);
    store.record(RunRecords {
        start: Some(running("run_a", "evt_1", "a")),
        ..RunRecords::default()
    });
    store.flush().await.unwrap();
    let left = store.leave("a".into()).await.unwrap();
    assert_eq!(
        (left.interrupted_runs, left.requeued_events),
        (1, 1),
        "{}: {left:?}",
        store.backend
    );
    let run = store.get_run("run_a".into()).await.unwrap().unwrap().run;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.unwrap()["name"], "Interrupted");
    // Well within a's lease, its event is b's to claim, and a restart of
    // v1 runs the startup workflows again: nobody serving v1 ran them.
    assert_eq!(
        claimed_ids(&*store, "b", 1_001, 10).await,
        ["evt_1", "evt_2"]
    );
    let instances = instance_ids(&store).await;
    assert_eq!(instances, ["b"], "{}", store.backend);
    store.heartbeat(beat("a2", 1_001, true)).await.unwrap();
    assert!(
        store
            .claim_startup("a2".into(), "v1".into(), 1_001, LEASE)
            .await
            .unwrap()
    );
    // Leaving twice, or as an instance never seen, takes nothing.
    assert!(store.leave("a".into()).await.unwrap().is_empty());
}

async fn a_claim_whose_answer_was_lost_is_found_by_its_time(store: TestStore) {
    store.event_received(event("evt_1", None)).await.unwrap();
    store.event_received(event("evt_2", None)).await.unwrap();
    assert_eq!(claimed_ids(&*store, "a", 5, 1).await, ["evt_1"]);
    assert_eq!(claimed_ids(&*store, "a", 6, 1).await, ["evt_2"]);
    let found = |instance: &str, at: i64| store.claimed_events(instance.into(), at);
    let ids = |events: Vec<paywire_store::EventRecord>| -> Vec<String> {
        events.into_iter().map(|e| e.id).collect()
    };
    assert_eq!(
        ids(found("a", 5).await.unwrap()),
        ["evt_1"],
        "{}",
        store.backend
    );
    assert_eq!(ids(found("a", 6).await.unwrap()), ["evt_2"]);
    assert!(
        found("b", 5).await.unwrap().is_empty(),
        "only the claimer's"
    );
    assert!(store.event_update(done("evt_1", "a")).await.unwrap());
    assert!(
        found("a", 5).await.unwrap().is_empty(),
        "an ended event is not"
    );
}

on_both_backends!(
    a_claim_whose_answer_was_lost_is_found_by_its_time,
    a_restart_under_the_same_name_takes_back_what_its_namesake_left,
    an_instance_that_leaves_gives_back_its_work_and_its_deployment_at_once,
    the_instances_of_one_deployment_run_its_startup_workflows_once,
    a_write_fenced_by_a_lost_claim_is_refused,
    an_instance_back_from_an_outage_takes_nothing_at_its_first_beat,
    claims_take_each_object_s_events_one_at_a_time_in_order,
    a_retry_not_yet_due_lets_its_object_s_later_events_run,
    instances_claiming_at_once_never_take_one_event_twice,
    a_stopped_instance_s_claims_and_runs_are_taken_back,
    a_starting_instance_takes_back_only_what_its_store_allows,
);
