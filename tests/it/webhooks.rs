//! Stripe webhooks driving backend workflows: verification, durable storage
//! before the answer, one run per event, triggers and `context.event`,
//! retries, failure and replay.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{SANDBOX_WEBHOOK_SECRET, TestServer};
use paywire_store::{EventFilter, EventState};
use paywire_stripe::signature;

/// A workflow per trigger kind, each recording what it saw in `seen`.
const RECORDER: &str = r#"
tables:
  seen:
    columns:
      id: { type: text, primary_key: true }
      event_id: { type: text, required: true }
      workflow: { type: text, required: true }
      action: { type: text }
      status: { type: text }
      object_id: { type: text }
apis:
  seen:
    method: GET
    path: /seen
    steps:
      - id: rows
        action: table.select
        with: { table: seen, order: id }
      - response: { body: "{{ steps.rows }}" }
workflows:
  sessions-completed:
    trigger: { event: stripe.checkout_session, actions: [completed] }
    steps:
      - action: table.insert
        with:
          table: seen
          values:
            id: "{{ context.event.id + `/sessions-completed` }}"
            event_id: "{{ context.event.id }}"
            workflow: sessions-completed
            action: "{{ context.event.action }}"
            status: "{{ context.event.status }}"
            object_id: "{{ context.event.object.id }}"
  subscriptions:
    trigger: stripe.subscription
    steps:
      - action: table.insert
        with:
          table: seen
          values:
            id: "{{ context.event.id + `/subscriptions` }}"
            event_id: "{{ context.event.id }}"
            workflow: subscriptions
            action: "{{ context.event.action }}"
            status: "{{ context.event.status }}"
            object_id: "{{ context.event.object.id }}"
  invoices-paid:
    trigger: { event: stripe.event, types: [invoice.paid] }
    steps:
      - action: table.insert
        with:
          table: seen
          values:
            id: "{{ context.event.id + `/invoices-paid` }}"
            event_id: "{{ context.event.id }}"
            workflow: invoices-paid
            action: "{{ context.event.action }}"
            status: "{{ context.event.status }}"
            object_id: "{{ context.event.object.id }}"
"#;

pub(crate) fn envelope(id: &str, event_type: &str, object: Value) -> String {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": event_type,
        "data": {"object": object},
    })
    .to_string()
}

pub(crate) async fn deliver(
    server: &TestServer,
    payload: &str,
    header: Option<String>,
) -> (u16, Value) {
    let mut request = server
        .client
        .post(format!("{}/webhooks/stripe", server.base))
        .header("content-type", "application/json")
        .body(payload.to_string());
    if let Some(header) = header {
        request = request.header("stripe-signature", header);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn signed(payload: &str) -> Option<String> {
    Some(signature::header(
        payload.as_bytes(),
        SANDBOX_WEBHOOK_SECRET,
        chrono::Utc::now().timestamp(),
    ))
}

/// Waits until no stored event is pending or running.
pub(crate) async fn settled(server: &TestServer) -> Vec<paywire_store::EventRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let events = server
            .app
            .store()
            .list_events(EventFilter::default())
            .await
            .unwrap();
        if events
            .iter()
            .all(|e| !matches!(e.state, EventState::Pending | EventState::Running))
        {
            return events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "events did not settle: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn bad_deliveries_are_refused_and_leave_nothing_behind() {
    let server = TestServer::with_sandbox(&[("recorder.yaml", RECORDER)], None).await;
    let payload = envelope(
        "evt_bad",
        "invoice.paid",
        json!({"id": "in_1", "object": "invoice", "status": "paid"}),
    );
    let now = chrono::Utc::now().timestamp();
    let cases = [
        (
            "unsigned",
            payload.clone(),
            None,
            "the Stripe-Signature header is missing",
        ),
        (
            "forged",
            payload.clone(),
            Some(signature::header(
                payload.as_bytes(),
                "whsec_someone_else",
                now,
            )),
            "no signature matches the body",
        ),
        (
            "tampered",
            payload.replace("in_1", "in_2"),
            signed(&payload),
            "no signature matches the body",
        ),
        (
            "stale",
            payload.clone(),
            Some(signature::header(
                payload.as_bytes(),
                SANDBOX_WEBHOOK_SECRET,
                now - 600,
            )),
            "outside the tolerance",
        ),
        (
            "malformed header",
            payload.clone(),
            Some("t=soon,v1=zz".to_string()),
            "malformed",
        ),
        (
            "not JSON",
            "{not json".to_string(),
            signed("{not json"),
            "not a Stripe event",
        ),
        (
            "no data.object",
            r#"{"id":"evt_x","object":"event","type":"invoice.paid","data":{}}"#.to_string(),
            signed(r#"{"id":"evt_x","object":"event","type":"invoice.paid","data":{}}"#),
            "no `data.object`",
        ),
    ];
    for (what, body, header, reason) in cases {
        let (status, answer) = deliver(&server, &body, header).await;
        assert_eq!(status, 400, "{what}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{what}: {message}");
    }
    let stored = server
        .app
        .store()
        .list_events(EventFilter::default())
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
    assert!(
        server
            .get("/seen")
            .await
            .body
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(server.runs_of("invoices-paid").await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_same_event_delivered_ten_times_runs_once() {
    let server = TestServer::with_sandbox(&[("recorder.yaml", RECORDER)], None).await;
    let payload = envelope(
        "evt_ten",
        "invoice.paid",
        json!({"id": "in_10", "object": "invoice", "status": "paid"}),
    );
    let mut duplicates = 0;
    for _ in 0..10 {
        let (status, answer) = deliver(&server, &payload, signed(&payload)).await;
        assert_eq!(status, 200, "{answer}");
        if answer["duplicate"] == true {
            duplicates += 1;
        }
    }
    assert_eq!(duplicates, 9);
    let events = settled(&server).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].state, EventState::Done);
    let seen = server.get("/seen").await.body;
    assert_eq!(seen.as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(server.runs_of("invoices-paid").await.len(), 1);
    server.stop().await;
}

/// Stripe's sample object of `resource` from ../shared/stripe/fixtures3.json.
pub fn sample(resource: &str) -> Option<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/stripe/fixtures3.json");
    let text = std::fs::read_to_string(path).ok()?;
    let all: Value = serde_json::from_str(&text).ok()?;
    Some(all["resources"][resource].clone())
}

#[tokio::test]
async fn events_of_stripe_s_sample_objects_start_the_right_workflows() {
    let Some(session) = sample("checkout.session") else {
        eprintln!("skipped: ../shared/stripe/fixtures3.json is absent (Stripe's sample objects)");
        return;
    };
    let subscription = sample("subscription").unwrap();
    let invoice = sample("invoice").unwrap();
    let server = TestServer::with_sandbox(&[("recorder.yaml", RECORDER)], None).await;
    let deliveries = [
        ("evt_s1", "checkout.session.completed", session.clone()),
        ("evt_s2", "checkout.session.expired", session.clone()),
        (
            "evt_s3",
            "customer.subscription.updated",
            subscription.clone(),
        ),
        (
            "evt_s4",
            "customer.subscription.deleted",
            subscription.clone(),
        ),
        ("evt_s5", "invoice.paid", invoice.clone()),
        ("evt_s6", "invoice.created", invoice.clone()),
    ];
    for (id, event_type, object) in &deliveries {
        let payload = envelope(id, event_type, object.clone());
        let (status, answer) = deliver(&server, &payload, signed(&payload)).await;
        assert_eq!(status, 200, "{answer}");
    }
    // An event no workflow listens to is stored as ignored on receipt: the
    // inbox never takes it up.
    let stored = server
        .app
        .store()
        .get_event("evt_s6".to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.state, stored.attempts),
        (EventState::Ignored, 0),
        "{stored:?}"
    );
    assert!(stored.finished_at.is_some());
    let events = settled(&server).await;
    let state = |id: &str| events.iter().find(|e| e.id == id).unwrap().state;
    assert_eq!(
        state("evt_s2"),
        EventState::Ignored,
        "no workflow takes expired sessions"
    );
    assert_eq!(
        state("evt_s6"),
        EventState::Ignored,
        "only invoice.paid is taken"
    );
    let seen: Vec<(String, String, String, Value, Value)> = server
        .get("/seen")
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["event_id"].as_str().unwrap().to_string(),
                row["workflow"].as_str().unwrap().to_string(),
                row["action"].as_str().unwrap().to_string(),
                row["status"].clone(),
                row["object_id"].clone(),
            )
        })
        .collect();
    let expected = vec![
        (
            "evt_s1",
            "sessions-completed",
            "completed",
            session["status"].clone(),
            session["id"].clone(),
        ),
        (
            "evt_s3",
            "subscriptions",
            "updated",
            subscription["status"].clone(),
            subscription["id"].clone(),
        ),
        (
            "evt_s4",
            "subscriptions",
            "deleted",
            subscription["status"].clone(),
            subscription["id"].clone(),
        ),
        (
            "evt_s5",
            "invoices-paid",
            "paid",
            invoice["status"].clone(),
            invoice["id"].clone(),
        ),
    ];
    let expected: Vec<(String, String, String, Value, Value)> = expected
        .into_iter()
        .map(|(a, b, c, d, e)| (a.into(), b.into(), c.into(), d, e))
        .collect();
    assert_eq!(seen, expected);
    server.stop().await;
}

const FLAKY: &str = r#"
tables:
  switch:
    columns:
      id: { type: text, primary_key: true }
  effects:
    columns:
      id: { type: text, primary_key: true }
      event_id: { type: text }
apis:
  repair:
    method: POST
    path: /repair
    steps:
      - action: table.insert
        with: { table: switch, values: { id: fixed } }
      - response: { body: {} }
  effects:
    method: GET
    path: /effects
    steps:
      - id: rows
        action: table.select
        with: { table: effects }
      - response: { body: "{{ steps.rows }}" }
workflows:
  fragile:
    trigger: { event: stripe.payment_intent, actions: [succeeded] }
    steps:
      # An effect before the failure: retries must not do it again.
      - action: table.insert
        with: { table: effects, values: { id: "{{ uuid() }}", event_id: "{{ context.event.id }}" } }
      - id: fixed
        action: table.select
        with: { table: switch, id: fixed }
      - if: "steps.fixed == ()"
        then:
          - throw: { name: NotYet, message: the switch is off }
"#;

#[tokio::test]
async fn a_failing_workflow_is_retried_then_failed_then_replayed_without_repeating_effects() {
    let server = TestServer::with_sandbox_configured(&[("flaky.yaml", FLAKY)], None, |s| {
        s.event_retry = paywire_support::Backoff {
            attempts: 3,
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        };
        s.admin_open_without_token = true;
    })
    .await;
    let payload = envelope(
        "evt_fragile",
        "payment_intent.succeeded",
        json!({"id": "pi_1", "object": "payment_intent", "status": "succeeded"}),
    );
    assert_eq!(deliver(&server, &payload, signed(&payload)).await.0, 200);
    let events = settled(&server).await;
    assert_eq!(events[0].state, EventState::Failed);
    assert_eq!(events[0].attempts, 3);
    assert!(
        events[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("fragile: NotYet: the switch is off"),
        "{:?}",
        events[0].last_error
    );
    let runs = server.runs_of("fragile").await;
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|r| r.trigger_event.as_deref() == Some("evt_fragile"))
    );
    let effects = server.get("/effects").await.body;
    assert_eq!(effects.as_array().unwrap().len(), 1, "{effects}");

    // Replaying before the fix fails again; after it, the event is done.
    assert_eq!(server.post("/repair", json!({})).await.status, 200);
    let replay = server
        .client
        .post(format!(
            "{}/_paywire/api/events/evt_fragile/replay",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 200);
    let events = settled(&server).await;
    assert_eq!(events[0].state, EventState::Done, "{events:?}");
    let effects = server.get("/effects").await.body;
    assert_eq!(effects.as_array().unwrap().len(), 1, "{effects}");
    let again = server
        .client
        .post(format!(
            "{}/_paywire/api/events/evt_fragile/replay",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    server.stop().await;
}

/// Each object's events, appended to its row by a read and a write: a
/// lost update or a swapped order shows in the list.
const TRAIL: &str = r#"
tables:
  trail:
    columns:
      id: { type: text, primary_key: true }
      events: { type: json }
apis:
  trail:
    method: GET
    path: /trail
    steps:
      - id: rows
        action: table.select
        with: { table: trail, order: id }
      - response: { body: "{{ steps.rows }}" }
workflows:
  follow:
    trigger: { event: stripe.event, types: [customer.updated] }
    steps:
      - id: row
        action: table.select
        with: { table: trail, id: "{{ context.event.object.id }}" }
      - action: table.insert
        with:
          table: trail
          on_conflict: update
          values:
            id: "{{ context.event.object.id }}"
            events: '{{ (if type_of(steps.row) == "()" { [] } else { steps.row.events }) + [context.event.id] }}'
"#;

#[tokio::test]
async fn each_object_s_events_run_one_at_a_time_in_the_order_they_came() {
    let server = TestServer::with_sandbox(&[("trail.yaml", TRAIL)], None).await;
    let customers = ["cus_a", "cus_b", "cus_c"];
    // Delivered all at once, so that the inbox finds many due together; the
    // order of arrival is the order the store numbered them.
    let mut deliveries = tokio::task::JoinSet::new();
    for i in 0..60 {
        let payload = envelope(
            &format!("evt_trail_{i:02}"),
            "customer.updated",
            json!({"id": customers[i % 3], "object": "customer"}),
        );
        let (client, url) = (
            server.client.clone(),
            format!("{}/webhooks/stripe", server.base),
        );
        deliveries.spawn(async move {
            let response = client
                .post(url)
                .header("stripe-signature", signed(&payload).unwrap())
                .body(payload)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
        });
    }
    while let Some(done) = deliveries.join_next().await {
        done.unwrap();
    }
    settled(&server).await;
    let mut events = server
        .app
        .store()
        .list_events(EventFilter {
            limit: 1000,
            ..EventFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 60);
    assert!(
        events.iter().all(|e| e.state == EventState::Done),
        "{events:?}"
    );
    events.sort_by_key(|e| e.seq);
    let expected: Vec<Vec<String>> = customers
        .iter()
        .map(|c| {
            events
                .iter()
                .filter(|e| e.object_id.as_deref() == Some(*c))
                .map(|e| e.id.clone())
                .collect()
        })
        .collect();
    let rows = server.get("/trail").await.body;
    let trails: Vec<Vec<String>> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|row| serde_json::from_value(row["events"].clone()).unwrap())
        .collect();
    assert_eq!(trails, expected);
    server.stop().await;
}

/// Issue #14: a delivery made to have the endpoint hash its body once per
/// signature (1 MiB, `t=1,` then 5,000 `v1` entries) is refused as malformed
/// before any hashing, and while eight arrive at once the server keeps
/// answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_with_thousands_of_signatures_is_refused_without_stalling_the_server() {
    let server = TestServer::with_sandbox(&[("recorder.yaml", RECORDER)], None).await;
    let limit = server.app.settings().max_body_bytes;
    let head = r#"{"id":"evt_hostile","object":"event","type":"invoice.paid","pad":""#;
    let body = format!("{head}{}\"}}", "x".repeat(limit - head.len() - 2));
    assert_eq!(body.len(), limit);
    let signatures: Vec<String> = (0..5_000).map(|n| format!("v1={n:064x}")).collect();
    let header = format!("t=1,{}", signatures.join(","));
    let hostile: Vec<_> = (0..8)
        .map(|_| {
            let request = server
                .client
                .post(format!("{}/webhooks/stripe", server.base))
                .header("content-type", "application/json")
                .header("stripe-signature", header.clone())
                .body(body.clone());
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    // The health check answers throughout; before the fix each delivery cost
    // seconds of CPU and the health check waited behind them.
    let mut slowest = Duration::ZERO;
    while !hostile.iter().all(|task| task.is_finished()) {
        let started = std::time::Instant::now();
        assert_eq!(server.get("/_paywire/health").await.status, 200);
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        slowest < Duration::from_secs(2),
        "the health check took {slowest:?}"
    );
    for task in hostile {
        let (status, answer) = task.await.unwrap();
        assert_eq!(status, 400, "{answer}");
        assert_eq!(
            answer["error"]["message"],
            "the Stripe-Signature header is malformed"
        );
    }
    let stored = server
        .app
        .store()
        .list_events(EventFilter::default())
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");
    server.stop().await;
}
