//! The events cases of the suite: the webhook inbox (receipt, duplicates,
//! what is due and when, updates, lists), the runs an event started, what a
//! retry reuses, and recovery after a stop.

use serde_json::{Value, json};

use paywire_store::{
    EventFilter, EventRecord, EventState, Heartbeat, NewEvent, Recovery, RunRecords, RunStatus,
    StepStatus,
};

use crate::common::TestStore;
use crate::runs::{end, event, event_update, run, step, write};

/// Receives `events` in order, each new.
async fn receive(store: &TestStore, events: impl IntoIterator<Item = NewEvent>) {
    for new in events {
        assert!(
            store.event_received(new).await.unwrap(),
            "{}: a new event is stored",
            store.backend
        );
    }
}

async fn stored(store: &TestStore, id: &str) -> EventRecord {
    store
        .get_event(id.into())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{}: event {id} is stored", store.backend))
}

fn ids(events: &[EventRecord]) -> Vec<&str> {
    events.iter().map(|e| e.id.as_str()).collect()
}

async fn a_received_event_reads_back_as_it_came(store: TestStore) {
    let new = event("evt_1", "in_1", "2026-11-23T10:00:00.042Z");
    receive(&store, [new.clone()]).await;
    let record = stored(&store, "evt_1").await;
    assert_eq!(
        record,
        EventRecord {
            id: "evt_1".into(),
            seq: record.seq,
            event_type: "invoice.paid".into(),
            object_type: "invoice".into(),
            object_id: Some("in_1".into()),
            created: 1_795_000_000,
            livemode: false,
            payload: new.payload.clone(),
            received_at: "2026-11-23T10:00:00.042Z".into(),
            state: EventState::Pending,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            finished_at: None,
            claimed_by: None,
        },
        "{}",
        store.backend
    );
    // An event no workflow listens to is finished as it arrives.
    let mut ignored = event("evt_2", "in_2", "2026-11-23T10:00:00.043Z");
    ignored.state = EventState::Ignored;
    ignored.object_id = None;
    ignored.livemode = true;
    receive(&store, [ignored]).await;
    let record = stored(&store, "evt_2").await;
    assert_eq!(record.state, EventState::Ignored);
    assert_eq!(
        record.finished_at.as_deref(),
        Some("2026-11-23T10:00:00.043Z")
    );
    assert_eq!((record.object_id, record.livemode), (None, true));
    assert!(store.get_event("evt_none".into()).await.unwrap().is_none());
}

async fn a_duplicate_delivery_returns_false_and_changes_nothing(store: TestStore) {
    receive(&store, [event("evt_1", "in_1", "2026-11-23T10:00:00.000Z")]).await;
    store
        .event_update(event_update("evt_1", EventState::Done, 1, 0))
        .await
        .unwrap();
    let before = stored(&store, "evt_1").await;
    let mut again = event("evt_1", "in_9", "2026-11-23T10:00:09.000Z");
    again.payload = r#"{"id":"evt_1","changed":true}"#.into();
    assert!(
        !store.event_received(again).await.unwrap(),
        "{}: a duplicate is refused",
        store.backend
    );
    assert_eq!(stored(&store, "evt_1").await, before);
    let all = store.list_events(EventFilter::default()).await.unwrap();
    assert_eq!(ids(&all), ["evt_1"]);
    // The next event still comes after it.
    receive(&store, [event("evt_2", "in_2", "2026-11-23T10:00:10.000Z")]).await;
    assert!(stored(&store, "evt_2").await.seq > before.seq);
}

async fn due_events_are_claimed_in_order_of_arrival_and_only_when_due(store: TestStore) {
    // One object each, so that only being due decides.
    receive(
        &store,
        ["evt_1", "evt_2", "evt_3", "evt_4"]
            .map(|id| event(id, &format!("in_{id}"), "2026-11-23T10:00:00.000Z")),
    )
    .await;
    // evt_2 waits until 5000; evt_4 is done.
    store
        .event_update(event_update("evt_2", EventState::Pending, 1, 5000))
        .await
        .unwrap();
    store
        .event_update(event_update("evt_4", EventState::Done, 1, 0))
        .await
        .unwrap();
    let first = store.claim_events("a".into(), 1000, 1).await.unwrap();
    assert_eq!(ids(&first), ["evt_1"], "{}", store.backend);
    assert_eq!(first[0].payload, event("evt_1", "in_evt_1", "").payload);
    let rest = store.claim_events("a".into(), 1000, 100).await.unwrap();
    assert_eq!(ids(&rest), ["evt_3"]);
    let later = store.claim_events("a".into(), 5000, 100).await.unwrap();
    assert_eq!(ids(&later), ["evt_2"]);
    assert!(
        store
            .claim_events("a".into(), 9000, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_next_event_due_is_the_earliest_pending_one_after_now(store: TestStore) {
    assert_eq!(store.next_event_due(0).await.unwrap(), None);
    receive(
        &store,
        ["evt_1", "evt_2", "evt_3", "evt_4"]
            .map(|id| event(id, "in_1", "2026-11-23T10:00:00.000Z")),
    )
    .await;
    // evt_1 is due at once, and so not "next".
    for (id, state, at) in [
        ("evt_2", EventState::Pending, 5000),
        ("evt_3", EventState::Pending, 3000),
        ("evt_4", EventState::Failed, 1000),
    ] {
        store
            .event_update(event_update(id, state, 1, at))
            .await
            .unwrap();
    }
    assert_eq!(
        store.next_event_due(0).await.unwrap(),
        Some(3000),
        "{}",
        store.backend
    );
    assert_eq!(store.next_event_due(2999).await.unwrap(), Some(3000));
    assert_eq!(store.next_event_due(3000).await.unwrap(), Some(5000));
    assert_eq!(store.next_event_due(5000).await.unwrap(), None);
}

async fn an_update_reads_back_and_events_list_newest_first(store: TestStore) {
    let mut other = event("evt_3", "cs_1", "2026-11-23T10:00:02.000Z");
    other.event_type = "checkout.session.completed".into();
    other.object_type = "checkout.session".into();
    receive(
        &store,
        [
            event("evt_1", "in_1", "2026-11-23T10:00:00.000Z"),
            event("evt_2", "in_2", "2026-11-23T10:00:01.000Z"),
            other,
        ],
    )
    .await;
    let update = event_update("evt_1", EventState::Failed, 3, 0);
    store.event_update(update.clone()).await.unwrap();
    let record = stored(&store, "evt_1").await;
    assert_eq!(
        (
            record.state,
            record.attempts,
            record.next_attempt_at,
            record.last_error.as_deref(),
            record.finished_at.as_deref()
        ),
        (
            EventState::Failed,
            3,
            0,
            Some("the workflow failed"),
            Some("2026-11-23T10:05:00.500Z")
        ),
        "{}",
        store.backend
    );
    // Pending again (a replay): its end and error are cleared.
    store
        .event_update(event_update("evt_1", EventState::Pending, 0, 7000))
        .await
        .unwrap();
    let record = stored(&store, "evt_1").await;
    assert_eq!(
        (
            record.state,
            record.attempts,
            record.next_attempt_at,
            record.last_error,
            record.finished_at
        ),
        (EventState::Pending, 0, 7000, None, None)
    );
    // An update of an unknown event changes nothing.
    store
        .event_update(event_update("evt_none", EventState::Done, 1, 0))
        .await
        .unwrap();
    let list = |state, event_type: Option<&str>, limit| EventFilter {
        state,
        event_type: event_type.map(str::to_owned),
        limit,
    };
    let listed = |filter| {
        let store = &store;
        async move { store.list_events(filter).await.unwrap() }
    };
    assert_eq!(
        ids(&listed(list(None, None, 0)).await),
        ["evt_3", "evt_2", "evt_1"]
    );
    assert_eq!(ids(&listed(list(None, None, 2)).await), ["evt_3", "evt_2"]);
    assert_eq!(
        ids(&listed(list(None, Some("invoice.paid"), 0)).await),
        ["evt_2", "evt_1"]
    );
    store
        .event_update(event_update("evt_2", EventState::Done, 1, 0))
        .await
        .unwrap();
    assert_eq!(
        ids(&listed(list(Some(EventState::Pending), None, 0)).await),
        ["evt_3", "evt_1"]
    );
    assert_eq!(
        ids(&listed(list(Some(EventState::Done), Some("invoice.paid"), 0)).await),
        ["evt_2"]
    );
    let full = listed(list(Some(EventState::Done), None, 0)).await;
    assert_eq!(full[0], stored(&store, "evt_2").await);
}

async fn the_runs_of_events_come_oldest_first_for_each_event(store: TestStore) {
    for (id, trigger, started_at) in [
        ("run_b1", Some("evt_b"), "2026-11-23T10:00:03.000Z"),
        ("run_a2", Some("evt_a"), "2026-11-23T10:00:02.000Z"),
        ("run_a1", Some("evt_a"), "2026-11-23T10:00:01.000Z"),
        ("run_a0", Some("evt_a"), "2026-11-23T10:00:01.000Z"),
        ("run_c1", Some("evt_c"), "2026-11-23T10:00:00.000Z"),
        ("run_api", None, "2026-11-23T09:00:00.000Z"),
    ] {
        let mut start = run(id, "w", started_at);
        start.trigger_event = trigger.map(str::to_owned);
        store.record(RunRecords {
            start: Some(start),
            ..RunRecords::default()
        });
    }
    store.flush().await.unwrap();
    let runs = store
        .runs_of_events(vec!["evt_b".into(), "evt_a".into(), "evt_none".into()])
        .await
        .unwrap();
    let found: Vec<(&str, Option<&str>)> = runs
        .iter()
        .map(|r| (r.id.as_str(), r.trigger_event.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("run_a0", Some("evt_a")),
            ("run_a1", Some("evt_a")),
            ("run_a2", Some("evt_a")),
            ("run_b1", Some("evt_b"))
        ],
        "{}",
        store.backend
    );
    assert_eq!(runs[0].started_at, "2026-11-23T10:00:01.000Z");
    assert!(store.runs_of_events(vec![]).await.unwrap().is_empty());
}

async fn a_step_output_is_found_in_the_root_run_or_a_run_retrying_it(store: TestStore) {
    // The first attempt: steps[0] and steps[1] succeeded with its row,
    // steps[2] in a later batch, and steps[3] failed.
    let mut null_output = step("run_root", 1);
    null_output.output = Value::Null;
    let mut failed = step("run_root", 3);
    failed.status = StepStatus::Failed;
    failed.output = json!("failed output");
    write(
        &store,
        RunRecords {
            start: Some(run("run_root", "w", "2026-11-23T10:00:00.000Z")),
            steps: vec![step("run_root", 0), null_output],
            end: None,
        },
    )
    .await;
    write(
        &store,
        RunRecords {
            steps: vec![step("run_root", 2), failed],
            end: Some(end(
                "run_root",
                RunStatus::Failed,
                "2026-11-23T10:00:01.000Z",
            )),
            ..RunRecords::default()
        },
    )
    .await;
    // The retry did steps[3] and steps[0] again, differently.
    let mut retry = run("run_retry", "w", "2026-11-23T10:01:00.000Z");
    retry.retry_of = Some("run_root".into());
    let mut again = step("run_retry", 0);
    again.output = json!("second attempt");
    write(
        &store,
        RunRecords {
            start: Some(retry),
            steps: vec![again, step("run_retry", 3)],
            end: None,
        },
    )
    .await;
    // An unrelated run with the same keys.
    let mut unrelated = step("run_other", 4);
    unrelated.key = "steps[4]".into();
    write(
        &store,
        RunRecords {
            start: Some(run("run_other", "w", "2026-11-23T09:00:00.000Z")),
            steps: vec![unrelated],
            end: None,
        },
    )
    .await;
    let output = |key: &str| {
        let store = &store;
        let key = key.to_owned();
        async move { store.step_output("run_root".into(), key).await.unwrap() }
    };
    assert_eq!(
        output("steps[0]").await,
        Some(step("run_root", 0).output),
        "{}",
        store.backend
    );
    assert_eq!(output("steps[1]").await, Some(Value::Null));
    assert_eq!(output("steps[2]").await, Some(step("run_root", 2).output));
    assert_eq!(output("steps[3]").await, Some(step("run_retry", 3).output));
    assert_eq!(output("steps[4]").await, None);
    assert_eq!(output("steps[9]").await, None);
    assert_eq!(
        store
            .step_output("run_none".into(), "steps[0]".into())
            .await
            .unwrap(),
        None
    );
}

async fn a_start_on_sqlite_fails_running_runs_and_requeues_running_events(store: TestStore) {
    receive(
        &store,
        ["evt_running", "evt_done"].map(|id| event(id, "in_1", "2026-11-23T10:00:00.000Z")),
    )
    .await;
    store
        .event_update(event_update("evt_running", EventState::Running, 2, 9_999))
        .await
        .unwrap();
    store
        .event_update(event_update("evt_done", EventState::Done, 1, 9_999))
        .await
        .unwrap();
    write(
        &store,
        RunRecords {
            start: Some(run("run_cut", "w", "2026-11-23T10:00:00.000Z")),
            steps: vec![step("run_cut", 0)],
            end: None,
        },
    )
    .await;
    write(
        &store,
        RunRecords {
            start: Some(run("run_ok", "w", "2026-11-23T10:00:00.000Z")),
            steps: vec![],
            end: Some(end(
                "run_ok",
                RunStatus::Succeeded,
                "2026-11-23T10:00:00.500Z",
            )),
        },
    )
    .await;
    // A starting instance on SQLite takes back everything left running;
    // on PostgreSQL, where others may be running, only what instances that
    // stopped left (see the cluster cases). Runs and events of databases
    // from before instances were recorded name none.
    let beat = Heartbeat {
        instance: "restarted".into(),
        started_at: "2026-11-23T10:10:00.000Z".into(),
        now: 1,
        lease_ms: 10_000,
        starting: true,
    };
    let recovery = store.heartbeat(beat.clone()).await.unwrap();
    if store.backend != "sqlite" {
        assert!(recovery.is_empty(), "{recovery:?}");
        return;
    }
    assert_eq!(
        recovery,
        Recovery {
            interrupted_runs: 1,
            requeued_events: 1,
            lost_instances: vec![],
        },
    );
    let cut = store.get_run("run_cut".into()).await.unwrap().unwrap();
    assert_eq!(cut.run.status, RunStatus::Failed);
    assert_eq!(
        cut.run.error,
        Some(
            json!({"name": "Interrupted", "message": "paywire stopped while the run was running"})
        )
    );
    // The time of recovery, written as the runner writes times.
    let finished = cut.run.finished_at.expect("a recovered run has ended");
    let parsed = chrono::DateTime::parse_from_rfc3339(&finished).unwrap();
    assert_eq!(
        parsed.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished
    );
    assert_eq!(cut.steps, vec![step("run_cut", 0)]);
    let ok = store.get_run("run_ok".into()).await.unwrap().unwrap();
    assert_eq!(ok.run.status, RunStatus::Succeeded);
    let running = stored(&store, "evt_running").await;
    assert_eq!(
        (running.state, running.next_attempt_at, running.attempts),
        (EventState::Pending, 0, 2)
    );
    assert_eq!(stored(&store, "evt_done").await.state, EventState::Done);
    // Started again, it finds nothing more to take back.
    assert_eq!(store.heartbeat(beat).await.unwrap(), Recovery::default());
    assert_eq!(
        ids(&store.claim_events("restarted".into(), 1, 10).await.unwrap()),
        ["evt_running"]
    );
}

/// What a retry, another instance or a restart reads to resume an event
/// is there once its end is: the runs handed over before the end was
/// written are committed before it.
async fn an_event_s_end_commits_after_the_runs_handed_over_before_it(store: TestStore) {
    receive(&store, [event("evt_1", "in_1", "2026-11-23T10:00:00.000Z")]).await;
    for n in 0..1500 {
        let id = format!("run_{n}");
        let mut start = run(&id, "w", "2026-11-23T10:00:00.000Z");
        start.trigger_event = Some("evt_1".into());
        store.record(RunRecords {
            start: Some(start),
            steps: vec![step(&id, 0)],
            end: Some(end(&id, RunStatus::Succeeded, "2026-11-23T10:00:00.500Z")),
        });
    }
    store
        .event_update(event_update("evt_1", EventState::Pending, 1, 0))
        .await
        .unwrap();
    let runs = store.runs_of_events(vec!["evt_1".into()]).await.unwrap();
    assert_eq!(runs.len(), 1500, "{}", store.backend);
    assert!(runs.iter().all(|r| r.status == RunStatus::Succeeded));
}

/// Many events' ends at once, as the inbox writes them when a batch of
/// events finishes together (on PostgreSQL they share one statement): each
/// applies as it would alone, two changes of one event apply in the order
/// they were made, and a change whose holder lost the claim is refused
/// while the others apply.
async fn many_events_ends_at_once_apply_each_as_alone(store: TestStore) {
    let ids: Vec<String> = (0..40).map(|n| format!("evt_many_{n:02}")).collect();
    receive(
        &store,
        ids.iter()
            .enumerate()
            .map(|(n, id)| event(id, &format!("in_{n}"), "2026-11-23T10:00:00.000Z")),
    )
    .await;
    let mut changes = Vec::new();
    for id in &ids {
        changes.push(event_update(id, EventState::Done, 1, 0));
    }
    // The first event changes twice: the later change is what stays.
    changes.push(event_update(&ids[0], EventState::Failed, 2, 0));
    // A change on behalf of an instance that holds no claim is refused.
    let mut stale = event_update(&ids[1], EventState::Pending, 9, 0);
    stale.holder = Some("instance-without-the-claim".into());
    changes.push(stale);
    let answers =
        futures_util::future::join_all(changes.into_iter().map(|c| store.event_update(c))).await;
    let applied: Vec<bool> = answers.into_iter().map(Result::unwrap).collect();
    assert!(
        applied[..41].iter().all(|a| *a),
        "{}: {applied:?}",
        store.backend
    );
    assert!(!applied[41], "{}: the stale change applied", store.backend);
    assert_eq!(stored(&store, &ids[0]).await.state, EventState::Failed);
    assert_eq!(stored(&store, &ids[0]).await.attempts, 2);
    let second = stored(&store, &ids[1]).await;
    assert_eq!((second.state, second.attempts), (EventState::Done, 1));
    for id in &ids[2..] {
        assert_eq!(stored(&store, id).await.state, EventState::Done, "{id}");
    }
}

on_both_backends!(
    many_events_ends_at_once_apply_each_as_alone,
    an_event_s_end_commits_after_the_runs_handed_over_before_it,
    a_received_event_reads_back_as_it_came,
    a_duplicate_delivery_returns_false_and_changes_nothing,
    due_events_are_claimed_in_order_of_arrival_and_only_when_due,
    the_next_event_due_is_the_earliest_pending_one_after_now,
    an_update_reads_back_and_events_list_newest_first,
    the_runs_of_events_come_oldest_first_for_each_event,
    a_step_output_is_found_in_the_root_run_or_a_run_retrying_it,
    a_start_on_sqlite_fails_running_runs_and_requeues_running_events,
);
