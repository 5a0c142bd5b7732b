//! A paywire killed with SIGKILL in the middle of a stream of webhook
//! events, then restarted, runs every acknowledged event exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::process::Paywire;
use crate::common::{postgres, project};
use paywire_stripe::signature;

const COUNTER: &str = r#"
tables:
  hits:
    columns:
      id: { type: text, primary_key: true }
      event_id: { type: text, required: true }
  done:
    columns:
      event_id: { type: text, primary_key: true }
apis:
  tally:
    method: GET
    path: /tally
    steps:
      - id: hits
        action: table.select
        with: { table: hits, limit: 1000 }
      - id: done
        action: table.select
        with: { table: done, limit: 1000 }
      - response: { body: { hits: "{{ steps.hits }}", done: "{{ steps.done }}" } }
workflows:
  count:
    trigger: stripe.event
    steps:
      # Two effects with a pause between them, so that a kill can fall
      # between the two.
      - action: table.insert
        with: { table: hits, values: { id: "{{ uuid() }}", event_id: "{{ context.event.id }}" } }
      - wait: 3ms
      - action: table.insert
        with: { table: done, values: { event_id: "{{ context.event.id }}" } }
"#;

const SECRET: &str = "whsec_crash_test";

/// Starts `paywire serve` on the project in `dir` and its database, the
/// SQLite file or the PostgreSQL schema standing for it. The restart keeps
/// the instance's name, as a restarted server does under a supervisor, so
/// that on PostgreSQL it takes back at once what the killed one left rather
/// than after the lease (tests/it/cluster.rs waits for a lease).
async fn start(dir: &std::path::Path) -> Paywire {
    let db = postgres::database_for(&dir.join("crash.db")).await;
    Paywire::start(&[
        ("PAYWIRE_DIR", dir.join("workflows").display().to_string()),
        ("PAYWIRE_DB", postgres::db_arg(&db)),
        ("PAYWIRE_INSTANCE", "crash-test".to_string()),
        ("STRIPE_WEBHOOK_SECRET", SECRET.to_string()),
        ("PAYWIRE_EVENT_RETRY_SECONDS", "0.05".to_string()),
    ])
}

fn event(n: usize) -> String {
    json!({
        "id": format!("evt_crash_{n:04}"),
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": 1_700_000_000 + n as i64,
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "product.created",
        "data": {"object": {"id": format!("prod_{n}"), "object": "product", "name": "P"}},
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_runs_every_acknowledged_event_exactly_once_after_a_restart() {
    let dir = project(&[("counter.yaml", COUNTER)]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = start(dir.path()).await;
    server.ready(&client).await;
    let base = server.base.clone();

    // A stream of events; the server is killed once half are acknowledged.
    let total = 160;
    let mut acknowledged = HashSet::new();
    let mut killed = false;
    for n in 0..total {
        let payload = event(n);
        let header = signature::header(payload.as_bytes(), SECRET, chrono::Utc::now().timestamp());
        let sent = client
            .post(format!("{base}/webhooks/stripe"))
            .header("stripe-signature", header)
            .body(payload)
            .send()
            .await;
        if let Ok(reply) = sent
            && reply.status().is_success()
        {
            acknowledged.insert(format!("evt_crash_{n:04}"));
        }
        if !killed && acknowledged.len() == total / 2 {
            server.kill();
            killed = true;
        }
    }
    assert!(killed);
    assert_eq!(
        acknowledged.len(),
        total / 2,
        "nothing is acknowledged while paywire is down"
    );

    // Restarted on the same database, it finishes what was acknowledged.
    let mut server = start(dir.path()).await;
    server.ready(&client).await;
    let base = server.base.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let tally = loop {
        let tally: Value = client
            .get(format!("{base}/tally"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if tally["done"].as_array().unwrap().len() >= acknowledged.len() {
            break tally;
        }
        assert!(Instant::now() < deadline, "not every event ran: {tally}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut hits: HashMap<String, usize> = HashMap::new();
    for hit in tally["hits"].as_array().unwrap() {
        *hits
            .entry(hit["event_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let done: HashSet<String> = tally["done"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(done, acknowledged);
    for id in &acknowledged {
        assert_eq!(
            hits.get(id),
            Some(&1),
            "{id} ran its first step {:?} times",
            hits.get(id)
        );
    }
    assert_eq!(hits.len(), acknowledged.len());
    let failed: Value = client
        .get(format!("{base}/_paywire/api/events?state=failed"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["events"], json!([]));
    server.kill();
}
