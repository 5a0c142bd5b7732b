//! The runs cases of the suite: run records written in pieces and read
//! back whole, the list of runs and its filters, and console sessions that
//! signed out. The builders of records here serve the events cases too.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use paywire_store::{
    EventState, EventUpdate, NewEvent, RunDetail, RunEnd, RunFilter, RunKind, RunRecord,
    RunRecords, RunStatus, StepRecord, StepStatus,
};

use crate::common::TestStore;

/// A run of the workflow `name` that started at `started_at` and is running.
pub fn run(id: &str, name: &str, started_at: &str) -> RunRecord {
    RunRecord {
        id: id.into(),
        retry_of: None,
        trigger_event: None,
        kind: RunKind::Workflow,
        name: name.into(),
        status: RunStatus::Running,
        input: json!({"customer": {"id": "cus_1", "tags": ["a", 1, 2.5, null]}}),
        error: None,
        response_status: None,
        started_at: started_at.into(),
        finished_at: None,
        duration_ms: None,
        retrying: false,
        instance: None,
    }
}

/// The step numbered `seq` of run `run_id`, which succeeded with an output
/// that names it.
pub fn step(run_id: &str, seq: u32) -> StepRecord {
    StepRecord {
        run_id: run_id.into(),
        seq,
        key: format!("steps[{seq}]"),
        step_id: seq.is_multiple_of(2).then(|| format!("s{seq}")),
        kind: "set".into(),
        status: StepStatus::Succeeded,
        input: json!({"value": format!("{seq} + 1")}),
        output: json!({"seq": seq, "nested": {"list": [seq, "x"]}}),
        error: None,
        started_at: format!("2026-11-23T10:00:00.{:03}Z", 100 + seq),
        duration_ms: 0.25 + f64::from(seq),
    }
}

/// How run `id` ended.
pub fn end(id: &str, status: RunStatus, finished_at: &str) -> RunEnd {
    RunEnd {
        id: id.into(),
        status,
        error: (status == RunStatus::Failed).then(
            || json!({"step": "steps[1]", "name": "StripeError", "message": "card declined"}),
        ),
        response_status: None,
        finished_at: finished_at.into(),
        duration_ms: 1234.5,
    }
}

/// `run` as it reads back after `end`.
pub fn ended(mut run: RunRecord, end: &RunEnd) -> RunRecord {
    run.status = end.status;
    run.error = end.error.clone();
    run.response_status = end.response_status;
    run.finished_at = Some(end.finished_at.clone());
    run.duration_ms = Some(end.duration_ms);
    run
}

/// Hands records over and waits for them to be written.
pub async fn write(store: &TestStore, records: RunRecords) {
    store.record(records);
    store.flush().await.expect("records are written");
}

/// A received event about `object_id`, pending.
pub fn event(id: &str, object_id: &str, received_at: &str) -> NewEvent {
    NewEvent {
        id: id.into(),
        event_type: "invoice.paid".into(),
        object_type: "invoice".into(),
        object_id: Some(object_id.into()),
        created: 1_795_000_000,
        livemode: false,
        // Spacing and key order as Stripe sent them, which must survive.
        payload: format!(
            r#"{{"id": "{id}",  "object":"event", "data":{{"object":{{"id":"{object_id}"}}}}}}"#
        ),
        received_at: received_at.into(),
        state: EventState::Pending,
    }
}

/// Sets event `id` to `state`, due at `next_attempt_at`.
pub fn event_update(
    id: &str,
    state: EventState,
    attempts: u32,
    next_attempt_at: i64,
) -> EventUpdate {
    EventUpdate {
        id: id.into(),
        state,
        attempts,
        next_attempt_at,
        last_error: (attempts > 0).then(|| "the workflow failed".into()),
        finished_at: matches!(state, EventState::Done | EventState::Failed)
            .then(|| "2026-11-23T10:05:00.500Z".into()),
        holder: None,
    }
}

fn filter() -> RunFilter {
    RunFilter::default()
}

async fn ids(store: &TestStore, filter: RunFilter) -> Vec<String> {
    store
        .list_runs(filter)
        .await
        .expect("runs are listed")
        .into_iter()
        .map(|run| run.id)
        .collect()
}

async fn a_run_written_in_pieces_reads_back_as_it_ended(store: TestStore) {
    let start = run("run_1", "charge", "2026-11-23T10:00:00.123Z");
    write(
        &store,
        RunRecords {
            start: Some(start.clone()),
            ..RunRecords::default()
        },
    )
    .await;
    let detail = store.get_run("run_1".into()).await.unwrap();
    assert_eq!(
        detail,
        Some(RunDetail {
            run: start.clone(),
            steps: vec![]
        }),
        "{}",
        store.backend
    );
    write(
        &store,
        RunRecords {
            steps: vec![step("run_1", 0), step("run_1", 1)],
            ..RunRecords::default()
        },
    )
    .await;
    let finish = end("run_1", RunStatus::Failed, "2026-11-23T10:00:01.357Z");
    write(
        &store,
        RunRecords {
            end: Some(finish.clone()),
            ..RunRecords::default()
        },
    )
    .await;
    let detail = store.get_run("run_1".into()).await.unwrap().unwrap();
    assert_eq!(detail.run, ended(start, &finish), "{}", store.backend);
    assert_eq!(detail.steps, vec![step("run_1", 0), step("run_1", 1)]);
    assert_eq!(detail.run.started_at, "2026-11-23T10:00:00.123Z");
    assert_eq!(
        detail.run.finished_at.as_deref(),
        Some("2026-11-23T10:00:01.357Z")
    );
    assert_eq!(store.get_run("run_none".into()).await.unwrap(), None);
}

async fn a_run_handed_over_whole_is_written_once(store: TestStore) {
    let mut start = run("run_api", "orders", "2026-11-23T10:00:00.000Z");
    start.kind = RunKind::Api;
    let mut finish = end("run_api", RunStatus::Succeeded, "2026-11-23T10:00:00.004Z");
    finish.response_status = Some(201);
    write(
        &store,
        RunRecords {
            start: Some(start.clone()),
            steps: vec![step("run_api", 0)],
            end: Some(finish.clone()),
        },
    )
    .await;
    // The runner writes a run's row again only when a panic may have lost
    // the first; the row written stays as it was.
    let mut again = run("run_api", "other", "2026-11-23T11:00:00.000Z");
    again.kind = RunKind::Api;
    write(
        &store,
        RunRecords {
            start: Some(again),
            ..RunRecords::default()
        },
    )
    .await;
    let detail = store.get_run("run_api".into()).await.unwrap().unwrap();
    assert_eq!(detail.run, ended(start, &finish), "{}", store.backend);
    assert_eq!(detail.run.response_status, Some(201));
    assert_eq!(detail.steps, vec![step("run_api", 0)]);
}

async fn steps_of_several_hand_overs_read_back_in_order(store: TestStore) {
    let start = run("run_2", "loop", "2026-11-23T10:00:00.000Z");
    // Steps are handed over as they finish: an `if` after its branch.
    let mut failed = step("run_2", 5);
    failed.status = StepStatus::Failed;
    failed.output = Value::Null;
    failed.error = Some(json!({"message": "no"}));
    let hand_overs = [
        RunRecords {
            start: Some(start.clone()),
            steps: vec![step("run_2", 1), step("run_2", 0)],
            end: None,
        },
        RunRecords {
            steps: vec![step("run_2", 2)],
            ..RunRecords::default()
        },
        RunRecords {
            steps: vec![step("run_2", 4), step("run_2", 3)],
            ..RunRecords::default()
        },
        RunRecords {
            steps: vec![failed.clone()],
            end: Some(end("run_2", RunStatus::Failed, "2026-11-23T10:00:02.000Z")),
            ..RunRecords::default()
        },
    ];
    // Handed over without waiting between, as the runner does.
    for records in hand_overs {
        store.record(records);
    }
    store.flush().await.unwrap();
    let detail = store.get_run("run_2".into()).await.unwrap().unwrap();
    let mut expected: Vec<StepRecord> = (0..5).map(|seq| step("run_2", seq)).collect();
    expected.push(failed);
    assert_eq!(detail.steps, expected, "{}", store.backend);
    assert_eq!(detail.run.status, RunStatus::Failed);
    assert_eq!(detail.steps[3].started_at, "2026-11-23T10:00:00.103Z");
}

async fn list_runs_filters_by_name_status_start_and_limit(store: TestStore) {
    let runs = [
        (
            "run_a",
            "charge",
            "2026-11-23T09:59:59.999Z",
            RunStatus::Succeeded,
        ),
        (
            "run_b",
            "charge",
            "2026-11-23T10:00:00.000Z",
            RunStatus::Failed,
        ),
        (
            "run_c",
            "refund",
            "2026-11-23T10:00:00.001Z",
            RunStatus::Succeeded,
        ),
        (
            "run_d",
            "charge",
            "2026-11-23T10:00:00.001Z",
            RunStatus::Running,
        ),
        (
            "run_e",
            "refund",
            "2026-11-24T08:00:00.000Z",
            RunStatus::Failed,
        ),
    ];
    for (id, name, started_at, status) in runs {
        let end =
            (status != RunStatus::Running).then(|| end(id, status, "2026-11-24T09:00:00.000Z"));
        store.record(RunRecords {
            start: Some(run(id, name, started_at)),
            steps: vec![],
            end,
        });
    }
    store.flush().await.unwrap();
    // Newest first; runs that started together by id, last first.
    assert_eq!(
        ids(&store, filter()).await,
        ["run_e", "run_d", "run_c", "run_b", "run_a"],
        "{}",
        store.backend
    );
    let named = RunFilter {
        name: Some("charge".into()),
        ..filter()
    };
    assert_eq!(ids(&store, named).await, ["run_d", "run_b", "run_a"]);
    let failed = RunFilter {
        status: Some(RunStatus::Failed),
        ..filter()
    };
    assert_eq!(ids(&store, failed).await, ["run_e", "run_b"]);
    let since = |text: &str| RunFilter {
        since: Some(text.parse::<DateTime<Utc>>().unwrap()),
        ..filter()
    };
    // A run that started at the bound is in; finer than a millisecond, the
    // bound counts as its millisecond.
    assert_eq!(
        ids(&store, since("2026-11-23T10:00:00.000Z")).await,
        ["run_e", "run_d", "run_c", "run_b"]
    );
    assert_eq!(
        ids(&store, since("2026-11-23T10:00:00.000900Z")).await,
        ["run_e", "run_d", "run_c", "run_b"]
    );
    assert_eq!(
        ids(&store, since("2026-11-23T11:00:00+01:00")).await,
        ["run_e", "run_d", "run_c", "run_b"],
        "a bound in another zone is the same instant"
    );
    let combined = RunFilter {
        name: Some("refund".into()),
        status: Some(RunStatus::Succeeded),
        since: Some("2026-11-23T00:00:00Z".parse().unwrap()),
        ..filter()
    };
    assert_eq!(ids(&store, combined).await, ["run_c"]);
    let limited = RunFilter {
        limit: 2,
        ..filter()
    };
    assert_eq!(ids(&store, limited).await, ["run_e", "run_d"]);
    let nothing = RunFilter {
        name: Some("nobody".into()),
        ..filter()
    };
    assert!(ids(&store, nothing).await.is_empty());
}

async fn list_runs_tells_failed_runs_whose_event_is_tried_again(store: TestStore) {
    assert!(
        store
            .event_received(event("evt_retry", "in_1", "2026-11-23T10:00:00.000Z"))
            .await
            .unwrap()
    );
    assert!(
        store
            .event_received(event("evt_gave_up", "in_2", "2026-11-23T10:00:00.001Z"))
            .await
            .unwrap()
    );
    store
        .event_update(event_update(
            "evt_retry",
            EventState::Pending,
            1,
            1_795_000_000_000,
        ))
        .await
        .unwrap();
    store
        .event_update(event_update("evt_gave_up", EventState::Failed, 5, 0))
        .await
        .unwrap();
    for (id, trigger, status) in [
        ("run_retry", Some("evt_retry"), RunStatus::Failed),
        ("run_gave_up", Some("evt_gave_up"), RunStatus::Failed),
        ("run_ok", Some("evt_retry"), RunStatus::Succeeded),
        ("run_api", None, RunStatus::Failed),
    ] {
        let mut start = run(id, "w", "2026-11-23T10:00:01.000Z");
        start.trigger_event = trigger.map(str::to_owned);
        store.record(RunRecords {
            start: Some(start),
            steps: vec![],
            end: Some(end(id, status, "2026-11-23T10:00:02.000Z")),
        });
    }
    store.flush().await.unwrap();
    let retrying = |retrying| RunFilter {
        retrying: Some(retrying),
        ..filter()
    };
    assert_eq!(
        ids(&store, retrying(true)).await,
        ["run_retry"],
        "{}",
        store.backend
    );
    assert_eq!(
        ids(&store, retrying(false)).await,
        ["run_ok", "run_gave_up", "run_api"]
    );
    let listed = store.list_runs(filter()).await.unwrap();
    let flags: Vec<(&str, bool)> = listed.iter().map(|r| (r.id.as_str(), r.retrying)).collect();
    assert_eq!(
        flags,
        [
            ("run_retry", true),
            ("run_ok", false),
            ("run_gave_up", false),
            ("run_api", false)
        ]
    );
    let detail = store.get_run("run_retry".into()).await.unwrap().unwrap();
    assert!(detail.run.retrying);
    assert_eq!(detail.run.trigger_event.as_deref(), Some("evt_retry"));
}

async fn a_signed_out_session_is_refused_until_it_expires(store: TestStore) {
    let now = Utc::now().timestamp();
    assert!(!store.session_signed_out("sess_1".into()).await.unwrap());
    store
        .sign_out_session("sess_old".into(), now - 60)
        .await
        .unwrap();
    store
        .sign_out_session("sess_1".into(), now + 3600)
        .await
        .unwrap();
    assert!(
        store.session_signed_out("sess_1".into()).await.unwrap(),
        "{}",
        store.backend
    );
    // Signing out again is no error; the record of an expired session is
    // forgotten with the next sign-out.
    store
        .sign_out_session("sess_1".into(), now + 7200)
        .await
        .unwrap();
    assert!(store.session_signed_out("sess_1".into()).await.unwrap());
    assert!(!store.session_signed_out("sess_old".into()).await.unwrap());
    assert!(!store.session_signed_out("sess_2".into()).await.unwrap());
}

/// Many runs' records handed over at once, as a busy server does: the
/// writer takes them in batches (on PostgreSQL a batch's starts, steps and
/// ends are one statement each), and each run reads back as if its records
/// had been written one by one.
async fn many_runs_handed_over_at_once_read_back_each_as_it_ended(store: TestStore) {
    const RUNS: usize = 700;
    let id = |n: usize| format!("run_many_{n:04}");
    let start = |n: usize| {
        let mut start = run(
            &id(n),
            "many",
            &format!("2026-11-23T10:{:02}:{:02}.000Z", n / 60 % 60, n % 60),
        );
        start.instance = n.is_multiple_of(3).then(|| "instance-a".into());
        start.trigger_event = n.is_multiple_of(2).then(|| format!("evt_{n}"));
        start.retry_of = (n % 5 == 1).then(|| id(n - 1));
        start
    };
    let finish = |n: usize, status: RunStatus| {
        let mut end = end(&id(n), status, "2026-11-23T11:00:00.250Z");
        end.response_status = n.is_multiple_of(4).then_some(200);
        end.duration_ms = n as f64 + 0.5;
        end
    };
    // Every run's start first, then the rest interleaved: runs ending with
    // their start (n % 4 == 0), runs whose steps and end come later, runs
    // that end twice (the last end is what stays), and runs still running.
    for n in 0..RUNS {
        store.record(RunRecords {
            start: Some(start(n)),
            steps: vec![step(&id(n), 0)],
            end: n.is_multiple_of(4).then(|| finish(n, RunStatus::Succeeded)),
        });
    }
    for n in (0..RUNS).filter(|n| n % 4 != 0) {
        store.record(RunRecords {
            steps: vec![step(&id(n), 2), step(&id(n), 1)],
            end: (n % 4 == 1).then(|| finish(n, RunStatus::Failed)),
            ..RunRecords::default()
        });
    }
    for n in (0..RUNS).filter(|n| n % 4 == 1) {
        store.record(RunRecords {
            end: Some(finish(n, RunStatus::Succeeded)),
            ..RunRecords::default()
        });
    }
    store.flush().await.expect("records are written");
    for n in 0..RUNS {
        let detail = store.get_run(id(n)).await.unwrap().unwrap();
        let expected = match n % 4 {
            0 => ended(start(n), &finish(n, RunStatus::Succeeded)),
            1 => ended(start(n), &finish(n, RunStatus::Succeeded)),
            _ => start(n),
        };
        assert_eq!(detail.run, expected, "run {n} on {}", store.backend);
        let steps: Vec<u32> = detail.steps.iter().map(|s| s.seq).collect();
        let expected_steps = if n.is_multiple_of(4) {
            vec![0]
        } else {
            vec![0, 1, 2]
        };
        assert_eq!(steps, expected_steps, "run {n} on {}", store.backend);
    }
}

/// A table write's step commits with the write. When the commit's answer
/// is lost (on PostgreSQL, the connection dropping right after `COMMIT`),
/// the runner takes the step for failed and records it again with the
/// run's end: what was committed stays, and the end is still written.
async fn a_step_recorded_again_after_its_commit_keeps_what_was_committed(store: TestStore) {
    use paywire_model::ColumnType;
    use paywire_store::{OnConflict, StepCommit, TableOp};
    let hits = crate::tables::table("hits", vec![crate::tables::key("id", ColumnType::Text)]);
    store.migrate(vec![hits.clone()]).await.unwrap();
    let start = run("run_lost", "write", "2026-11-23T10:00:00.000Z");
    store
        .table_op(
            TableOp::Insert {
                table: hits.clone(),
                values: json!({ "id": "h1" }).as_object().cloned().unwrap(),
                on_conflict: OnConflict::Error,
            },
            Some(StepCommit {
                earlier: RunRecords {
                    start: Some(start.clone()),
                    ..RunRecords::default()
                },
                step: step("run_lost", 0),
                started: std::time::Instant::now(),
                claim: None,
            }),
        )
        .await
        .unwrap();
    let mut failed = step("run_lost", 0);
    failed.status = StepStatus::Failed;
    failed.output = Value::Null;
    failed.error = Some(json!({"message": "the connection closed before the commit's answer"}));
    let finish = end("run_lost", RunStatus::Failed, "2026-11-23T10:00:01.000Z");
    write(
        &store,
        RunRecords {
            steps: vec![failed],
            end: Some(finish.clone()),
            ..RunRecords::default()
        },
    )
    .await;
    let detail = store.get_run("run_lost".into()).await.unwrap().unwrap();
    assert_eq!(detail.run, ended(start, &finish), "{}", store.backend);
    assert_eq!(
        detail.steps.len(),
        1,
        "{}: {:?}",
        store.backend,
        detail.steps
    );
    assert_eq!(detail.steps[0].status, StepStatus::Succeeded);
    assert_eq!(detail.steps[0].output["id"], "h1", "{}", store.backend);
    assert_eq!(store.count_rows(vec![hits]).await.unwrap(), [1]);
}

on_both_backends!(
    a_step_recorded_again_after_its_commit_keeps_what_was_committed,
    many_runs_handed_over_at_once_read_back_each_as_it_ended,
    a_run_written_in_pieces_reads_back_as_it_ended,
    a_run_handed_over_whole_is_written_once,
    steps_of_several_hand_overs_read_back_in_order,
    list_runs_filters_by_name_status_start_and_limit,
    list_runs_tells_failed_runs_whose_event_is_tried_again,
    a_signed_out_session_is_refused_until_it_expires,
);

/// PostgreSQL alone: instances start one after another on one database, so
/// a second start must find everything in place and change nothing, and a
/// start on a schema from a newer paywire must refuse to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_second_start_changes_nothing() {
    use paywire_store::postgres::PostgresStore;

    let Some(url) = crate::common::postgres_url() else {
        return;
    };
    let schema = format!("paywire_test_{}_restart", std::process::id());
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL is reachable");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .unwrap();
    let url = crate::common::with_schema(&url, &schema);
    let start = run("run_1", "w", "2026-11-23T10:00:00.123Z");
    {
        let store = PostgresStore::open(&url).await.expect("a first start");
        paywire_store::Store::record(
            &store,
            RunRecords {
                start: Some(start.clone()),
                steps: vec![step("run_1", 0)],
                end: None,
            },
        );
        paywire_store::Store::flush(&store).await.unwrap();
    }
    let store = PostgresStore::open(&url).await.expect("a second start");
    let detail = paywire_store::Store::get_run(&store, "run_1".into())
        .await
        .unwrap();
    assert_eq!(
        detail,
        Some(RunDetail {
            run: start,
            steps: vec![step("run_1", 0)]
        })
    );
    let versions: Vec<i32> = admin
        .query(
            &format!("SELECT version FROM {schema}._paywire_schema"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, [2]);
    // The columns kept for a cluster are there, and empty.
    let unused: i64 = admin
        .query_one(
            &format!(
                "SELECT (SELECT COUNT(instance) FROM {schema}._paywire_runs)
                      + (SELECT COUNT(claimed_by) + COUNT(claimed_at) FROM {schema}._paywire_events)"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unused, 0);
    drop(store);
    admin
        .batch_execute(&format!("UPDATE {schema}._paywire_schema SET version = 99"))
        .await
        .unwrap();
    let refused = PostgresStore::open(&url).await;
    assert!(
        matches!(&refused, Err(paywire_store::StoreError::Database(m)) if m.contains("newer paywire")),
        "a newer schema is refused"
    );
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
        .unwrap();
}
