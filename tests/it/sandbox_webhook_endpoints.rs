//! The sandbox's webhook endpoints over HTTP: events fanned out to every
//! endpoint that takes them, each signed with its own secret,
//! `pending_webhooks` counting down, `delivery_success` and retries, a
//! restart resuming deliveries to every endpoint, and Stripe's refusals.

use std::time::Duration;

use paywire_stripe::signature;
use paywire_support::Backoff;
use serde_json::Value;

use crate::sandbox::{
    KEY, Received, SECRET, flaky_receiver, get, post, receiver, sandbox, sandbox_at, serve_sandbox,
    wait_until,
};

/// Creates an endpoint; its secret is in the answer.
async fn endpoint(base: &str, url: &str, events: &[&str]) -> (String, String) {
    let mut form = format!("url={}", urlencode(url));
    for event in events {
        form.push_str(&format!("&enabled_events[]={}", urlencode(event)));
    }
    let (status, created) = post(base, "/v1/webhook_endpoints", &form).await;
    assert_eq!(status, 200, "{created}");
    crate::conformance::parse_stripe_object(&created.to_string()).unwrap();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{created}");
    (created["id"].as_str().unwrap().to_string(), secret)
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The event types received, and a check that each is signed with
/// `secret` and not with `other`.
fn received_types(received: &Received, secret: &str, other: &str) -> Vec<String> {
    let now = chrono::Utc::now().timestamp();
    let received = received.lock().unwrap();
    received
        .iter()
        .map(|(payload, header)| {
            signature::verify(payload.as_bytes(), header.as_deref(), &[secret], 300, now)
                .expect("signed with the endpoint's own secret");
            assert!(
                signature::verify(payload.as_bytes(), header.as_deref(), &[other], 300, now)
                    .is_err()
            );
            let event: Value = serde_json::from_str(payload).unwrap();
            event["type"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Waits until the event's `pending_webhooks` is `n`.
async fn wait_for_pending(base: &str, event: &str, n: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pending = get(base, &format!("/v1/events/{event}")).await["pending_webhooks"].as_i64();
        if pending == Some(n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pending_webhooks stayed {pending:?}, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ids of the events `GET /v1/events?{query}` lists.
async fn listed(base: &str, query: &str) -> Vec<String> {
    get(base, &format!("/v1/events?{query}")).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// The one event of `event_type`.
async fn event_of(base: &str, event_type: &str) -> Value {
    let list = get(base, &format!("/v1/events?type={event_type}")).await;
    list["data"][0].clone()
}

#[tokio::test]
async fn two_endpoints_get_the_events_they_take_signed_with_their_own_secrets() {
    let (hook_a, received_a) = receiver().await;
    let (hook_b, received_b) = receiver().await;
    let (base, _dir) = sandbox(None).await;
    let (a, secret_a) = endpoint(&base, &hook_a, &["customer.created"]).await;
    let (_, secret_b) = endpoint(&base, &hook_b, &["*"]).await;
    // The secret is shown once, at creation.
    let shown = get(&base, &format!("/v1/webhook_endpoints/{a}")).await;
    assert_eq!(shown["object"], "webhook_endpoint");
    assert_eq!(
        shown["enabled_events"],
        serde_json::json!(["customer.created"])
    );
    assert!(shown.get("secret").is_none(), "{shown}");
    let listed_endpoints = get(&base, "/v1/webhook_endpoints").await;
    assert_eq!(listed_endpoints["data"].as_array().unwrap().len(), 2);
    crate::conformance::parse_stripe_object(&listed_endpoints.to_string()).unwrap();

    let (status, _) = post(&base, "/v1/customers", "email=both@example.com").await;
    assert_eq!(status, 200);
    let (status, _) = post(&base, "/v1/products", "name=Only%20B").await;
    assert_eq!(status, 200);
    wait_until(|| received_a.lock().unwrap().len() == 1 && received_b.lock().unwrap().len() == 2)
        .await;
    assert_eq!(
        received_types(&received_a, &secret_a, &secret_b),
        ["customer.created"]
    );
    let mut types_b = received_types(&received_b, &secret_b, &secret_a);
    types_b.sort();
    assert_eq!(types_b, ["customer.created", "product.created"]);
    // async-stripe's own check takes B's events too.
    for (payload, header) in received_b.lock().unwrap().iter() {
        crate::conformance::verify_and_parse_event(payload, header.as_deref().unwrap(), &secret_b)
            .unwrap();
    }
    // Each event counts the endpoints it went to, down to none owed.
    let customer_event = event_of(&base, "customer.created").await;
    let product_event = event_of(&base, "product.created").await;
    let first: Value = serde_json::from_str(&received_a.lock().unwrap()[0].0).unwrap();
    assert!(first["pending_webhooks"].as_i64().unwrap() >= 1, "{first}");
    wait_for_pending(&base, customer_event["id"].as_str().unwrap(), 0).await;
    wait_for_pending(&base, product_event["id"].as_str().unwrap(), 0).await;
    assert!(listed(&base, "delivery_success=false").await.is_empty());
    assert_eq!(listed(&base, "delivery_success=true").await.len(), 2);
}

#[tokio::test]
async fn a_failing_endpoint_is_listed_as_undelivered_until_a_retry_delivers() {
    let dir = tempfile::tempdir().unwrap();
    // One attempt only, which the endpoint refuses: the event stays owed.
    let once = Backoff {
        attempts: 1,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    };
    let base = sandbox_at(&dir.path().join("s.db"), None, once).await;
    let (hook, received, attempts) = flaky_receiver(1).await;
    let (id, secret) = endpoint(&base, &hook, &["customer.created"]).await;
    let (status, _) = post(&base, "/v1/customers", "email=late@example.com").await;
    assert_eq!(status, 200);
    wait_until(|| *attempts.lock().unwrap() == 1).await;
    let event = event_of(&base, "customer.created").await;
    let event_id = event["id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while listed(&base, "delivery_success=false").await != [event_id.clone()] {
        assert!(tokio::time::Instant::now() < deadline, "never listed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(listed(&base, "delivery_success=true").await.is_empty());
    assert_eq!(
        get(&base, &format!("/v1/events/{event_id}")).await["pending_webhooks"],
        1
    );

    // `stripe events resend` asks for it again.
    let (status, answer) = post(
        &base,
        &format!("/v1/events/{event_id}/retry"),
        &format!("webhook_endpoint={id}"),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], event_id.as_str());
    wait_until(|| received.lock().unwrap().len() == 1).await;
    assert_eq!(
        received_types(&received, &secret, SECRET),
        ["customer.created"]
    );
    wait_for_pending(&base, &event_id, 0).await;
    assert!(listed(&base, "delivery_success=false").await.is_empty());
    assert_eq!(listed(&base, "delivery_success=true").await, [event_id]);
}

#[tokio::test]
async fn a_restart_resumes_deliveries_to_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sandbox.db");
    // Both endpoints refuse the first attempt, and the next is far off: the
    // event is owed to both when the sandbox "restarts" on the database.
    let (down, _, configured_attempts) = flaky_receiver(usize::MAX).await;
    let (hook, received, attempts) = flaky_receiver(1).await;
    let patient = Backoff {
        attempts: 5,
        first_delay: Duration::from_secs(3600),
        max_delay: Duration::from_secs(3600),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (before, server) = serve_sandbox(&db, Some(down), patient, async {
        let _ = stopped.await;
    })
    .await;
    let (_, secret) = endpoint(&before, &hook, &["customer.created"]).await;
    let (status, _) = post(&before, "/v1/customers", "email=resumed@example.com").await;
    assert_eq!(status, 200);
    wait_until(|| *attempts.lock().unwrap() == 1 && *configured_attempts.lock().unwrap() == 1)
        .await;
    // The failed attempts are recorded after the endpoints answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    let (up, received_configured) = receiver().await;
    let after = sandbox_at(&db, Some(up), paywire_sandbox::DELIVERY_RETRY).await;
    wait_until(|| {
        received.lock().unwrap().len() == 1 && received_configured.lock().unwrap().len() == 1
    })
    .await;
    assert_eq!(
        received_types(&received, &secret, SECRET),
        ["customer.created"]
    );
    assert_eq!(
        received_types(&received_configured, SECRET, &secret),
        ["customer.created"]
    );
    let event = event_of(&after, "customer.created").await;
    wait_for_pending(&after, event["id"].as_str().unwrap(), 0).await;
}

#[tokio::test]
async fn bad_webhook_endpoint_requests_get_stripes_errors() {
    let (base, _dir) = sandbox(None).await;
    let refused = |(status, body): (u16, Value)| {
        let error = body["error"].clone();
        crate::conformance::parse_stripe_error(&body.to_string()).unwrap();
        (
            status,
            error["param"].as_str().map(str::to_string),
            error["code"].as_str().map(str::to_string),
        )
    };
    let create = |form: &'static str| post(&base, "/v1/webhook_endpoints", form);
    assert_eq!(
        refused(create("url=example.com%2Fhook&enabled_events[]=*").await),
        (400, Some("url".into()), None)
    );
    assert_eq!(
        refused(create("url=https%3A%2F%2Fexample.com&enabled_events[]=nope").await),
        (400, Some("enabled_events[0]".into()), None)
    );
    assert_eq!(
        refused(create("enabled_events[]=*").await),
        (400, Some("url".into()), Some("parameter_missing".into()))
    );
    assert_eq!(
        refused(create("url=https%3A%2F%2Fexample.com&enabled_events[]=*&colour=red").await),
        (400, Some("colour".into()), Some("parameter_unknown".into()))
    );
    let missing = get(&base, "/v1/webhook_endpoints/we_missing").await;
    assert_eq!(missing["error"]["code"], "resource_missing", "{missing}");

    let (id, _) = endpoint(&base, "https://example.com/hook", &["*"]).await;
    let (status, disabled) = post(
        &base,
        &format!("/v1/webhook_endpoints/{id}"),
        "disabled=true&description=Paused",
    )
    .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(
        (
            disabled["status"].as_str(),
            disabled["description"].as_str()
        ),
        (Some("disabled"), Some("Paused"))
    );
    let (status, _) = post(&base, "/v1/customers", "email=x@example.com").await;
    assert_eq!(status, 200);
    let event = event_of(&base, "customer.created").await;
    // A disabled endpoint gets nothing, so the event owes nothing.
    assert_eq!(event["pending_webhooks"], 0);
    let event_id = event["id"].as_str().unwrap();
    let retry = format!("/v1/events/{event_id}/retry");
    assert_eq!(
        refused(post(&base, &retry, "").await),
        (
            400,
            Some("webhook_endpoint".into()),
            Some("parameter_missing".into())
        )
    );
    assert_eq!(
        refused(post(&base, &retry, "webhook_endpoint=we_missing").await).0,
        404
    );
    assert_eq!(
        refused(post(&base, &retry, &format!("webhook_endpoint={id}")).await).1,
        Some("webhook_endpoint".into())
    );

    let deleted = reqwest::Client::new()
        .delete(format!("{base}/v1/webhook_endpoints/{id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        serde_json::json!({"id": id, "object": "webhook_endpoint", "deleted": true})
    );
    crate::conformance::parse_stripe_object(&deleted.to_string()).unwrap();
    let gone = get(&base, &format!("/v1/webhook_endpoints/{id}")).await;
    assert_eq!(gone["error"]["code"], "resource_missing", "{gone}");
    assert!(
        get(&base, "/v1/webhook_endpoints").await["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn stripe_s_sample_endpoint_passes_the_conformance_check_the_sandbox_s_do() {
    let Some(endpoint) = crate::webhooks::sample("webhook_endpoint") else {
        eprintln!("skipped: ../shared/stripe/fixtures3.json is absent (Stripe's sample objects)");
        return;
    };
    crate::conformance::parse_stripe_object(&endpoint.to_string()).unwrap();
    let mut unknown = endpoint.clone();
    unknown["colour"] = "red".into();
    assert!(crate::conformance::parse_stripe_object(&unknown.to_string()).is_err());
}
