//! The Stripe sandbox over HTTP: Stripe's wire format, the hosted page, and
//! signed webhook events delivered to a receiver.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use paywire_sandbox::{DELIVERY_RETRY, Sandbox, SandboxConfig};
use paywire_stripe::signature;
use paywire_support::Backoff;
use serde_json::Value;

pub const KEY: &str = "sk_test_paywire_tests";
pub const SECRET: &str = "whsec_sandbox_tests";

pub type Received = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A webhook receiver on a random port that keeps every delivery.
pub async fn receiver() -> (String, Received) {
    let (url, received, _) = flaky_receiver(0).await;
    (url, received)
}

/// A webhook receiver that answers 503 to the first `failures` deliveries,
/// keeps the deliveries it accepts, and counts every attempt.
pub async fn flaky_receiver(failures: usize) -> (String, Received, Arc<Mutex<usize>>) {
    let received: Received = Arc::default();
    let attempts = Arc::new(Mutex::new(0));
    let (kept, counted) = (received.clone(), attempts.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (kept, counted) = (kept.clone(), counted.clone());
            async move {
                let attempt = {
                    let mut count = counted.lock().unwrap();
                    *count += 1;
                    *count
                };
                if attempt <= failures {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let signature = headers
                    .get("stripe-signature")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                kept.lock()
                    .unwrap()
                    .push((String::from_utf8_lossy(&body).into_owned(), signature));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received, attempts)
}

/// A sandbox on a random port (its base URL ends in `/_stripe`), sending its
/// events to `webhook_url`.
pub async fn sandbox(webhook_url: Option<String>) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let base = sandbox_at(&dir.path().join("s.db"), webhook_url, DELIVERY_RETRY).await;
    (base, dir)
}

/// A sandbox on the database at `db`, served on a new random port.
pub async fn sandbox_at(
    db: &std::path::Path,
    webhook_url: Option<String>,
    retry: Backoff,
) -> String {
    serve_sandbox(db, webhook_url, retry, std::future::pending())
        .await
        .0
}

/// A sandbox on the database at `db`, served as `paywire sandbox` serves
/// one until `shutdown`; its base URL is the one under `/_stripe`.
pub async fn serve_sandbox(
    db: &std::path::Path,
    webhook_url: Option<String>,
    retry: Backoff,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let store = crate::common::postgres::store_for(db).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/_stripe", listener.local_addr().unwrap());
    let config = SandboxConfig {
        base_url: base.clone(),
        webhook_url,
        webhook_secret: SECRET.into(),
        retry,
        dunning: Default::default(),
    };
    let sandbox = Sandbox::start(config, store).await.unwrap();
    let limits = paywire::http::ConnectionLimits::default();
    let server = tokio::spawn(paywire::http::sandbox::run(
        listener, sandbox, limits, shutdown,
    ));
    (base, server)
}

pub async fn post(base: &str, path: &str, form: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_checkout_session_is_paid_on_the_hosted_page_and_the_signed_event_arrives() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let (status, price) = post(
        &base,
        "/v1/prices",
        "currency=usd&unit_amount=1500&product_data[name]=T-shirt",
    )
    .await;
    assert_eq!(status, 200, "{price}");
    assert!(price["id"].as_str().unwrap().starts_with("price_"));
    let form = format!(
        "mode=payment&line_items[0][price]={}&line_items[0][quantity]=2&success_url=http://example.test/ok?session={{CHECKOUT_SESSION_ID}}&cancel_url=http://example.test/no&metadata[order_id]=ord_1",
        price["id"].as_str().unwrap()
    );
    let (status, session) = post(&base, "/v1/checkout/sessions", &form).await;
    assert_eq!(status, 200, "{session}");
    let id = session["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cs_test_"));
    assert_eq!(session["amount_total"], 3000);
    assert_eq!(session["status"], "open");

    let page = reqwest::get(session["url"].as_str().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("T-shirt") && page.contains("30.00 USD"),
        "{page}"
    );

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let declined = no_redirects
        .post(session["url"].as_str().unwrap())
        .form(&[
            ("action", "pay"),
            ("card_number", "4000 0000 0000 0002"),
            ("email", "ada@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status().as_u16(), 402);
    assert!(
        declined
            .text()
            .await
            .unwrap()
            .contains("Your card was declined.")
    );

    let paid = no_redirects
        .post(session["url"].as_str().unwrap())
        .form(&[
            ("action", "pay"),
            ("card_number", "4242 4242 4242 4242"),
            ("email", "ada@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status().as_u16(), 303);
    assert_eq!(
        paid.headers()["location"].to_str().unwrap(),
        format!("http://example.test/ok?session={id}")
    );

    let (_, completed) = post(
        &base,
        &format!("/v1/checkout/sessions/{id}?expand[]=payment_intent"),
        "",
    )
    .await;
    assert_eq!(completed["status"], "complete");
    assert_eq!(completed["payment_status"], "paid");
    assert_eq!(completed["payment_intent"]["status"], "succeeded");
    assert_eq!(completed["metadata"]["order_id"], "ord_1");

    let mut event = None;
    for _ in 0..200 {
        event = received
            .lock()
            .unwrap()
            .iter()
            .find(|(body, _)| body.contains("\"checkout.session.completed\""))
            .cloned();
        if event.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (body, header) = event.expect("checkout.session.completed was delivered");
    let now = chrono::Utc::now().timestamp();
    assert!(signature::verify(body.as_bytes(), header.as_deref(), &[SECRET], 300, now).is_ok());
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["data"]["object"]["id"], id.as_str());
    assert_eq!(event["api_version"], paywire_sandbox::API_VERSION);
    assert_eq!(event["pending_webhooks"], 1);
    assert!(event["data"]["object"].get("line_items").is_none());
}

#[tokio::test]
async fn bad_requests_get_stripes_answers() {
    let (base, _dir) = sandbox(None).await;
    let client = reqwest::Client::new();
    let unauthenticated = client
        .post(format!("{base}/v1/customers"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let live = client
        .get(format!("{base}/v1/customers"))
        .bearer_auth("sk_live_abcdefghijkl")
        .send()
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 401);
    // Authorization schemes are case-insensitive.
    for scheme in ["bearer", "BEARER"] {
        let reply = client
            .get(format!("{base}/v1/customers"))
            .header("authorization", format!("{scheme} {KEY}"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{scheme}");
    }

    let (status, body) = post(&base, "/v1/customers", "emial=a@b.c").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "parameter_unknown");
    assert_eq!(body["error"]["param"], "emial");

    let (status, body) = post(&base, "/v1/payment_intents", "amount=10&currency=usd").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "amount_too_small");
    let (status, body) = post(&base, "/v1/payment_intents", "amount=1000&currency=xyz").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "currency");
    let (status, body) = post(&base, "/v1/payment_intents", "currency=usd").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, Value::from("parameter_missing"))
    );
    let (status, body) = post(&base, "/v1/customers/cus_nope", "").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, Value::from("resource_missing"))
    );

    let (status, body) = post(
        &base,
        "/v1/payment_intents",
        "amount=1000&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true",
    )
    .await;
    assert_eq!(status, 402);
    assert_eq!(body["error"]["type"], "card_error");
    assert_eq!(body["error"]["decline_code"], "generic_decline");
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer() {
    let (base, _dir) = sandbox(None).await;
    let client = reqwest::Client::new();
    let send = |body: &'static str| {
        client
            .post(format!("{base}/v1/customers"))
            .bearer_auth(KEY)
            .header("idempotency-key", "key-1")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let first: Value = send("email=a@example.com")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = send("email=a@example.com").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let other = send("email=b@example.com").await.unwrap();
    assert_eq!(other.status().as_u16(), 400);
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["error"]["type"], "idempotency_error");
}

#[tokio::test]
async fn paywire_serves_the_sandbox_beside_the_apis_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings =
        paywire::app::Settings::new(crate::common::examples_dir(), dir.path().join("p.db"));
    settings.sandbox = Some(SandboxConfig {
        base_url: "http://127.0.0.1:1/_stripe".into(),
        webhook_url: None,
        webhook_secret: SECRET.into(),
        retry: DELIVERY_RETRY,
        dunning: Default::default(),
    });
    let server = crate::common::TestServer::start_with(dir, settings).await;
    let (status, customer) = post(
        &format!("{}/_stripe", server.base),
        "/v1/customers",
        "email=ada@example.com",
    )
    .await;
    assert_eq!(status, 200, "{customer}");
    assert!(customer["id"].as_str().unwrap().starts_with("cus_"));
    assert_eq!(
        server
            .post("/orders", serde_json::json!({"amount": 100}))
            .await
            .status,
        201
    );
    server.stop().await;
}

pub async fn get(base: &str, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn subscriptions_trial_then_bill_then_cancel_and_refunds_are_bounded() {
    let (base, _dir) = sandbox(None).await;
    let (_, customer) = post(&base, "/v1/customers", "email=sub@example.com&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa").await;
    let customer = customer["id"].as_str().unwrap().to_string();
    let (_, price) = post(
        &base,
        "/v1/prices",
        "currency=usd&unit_amount=900&recurring[interval]=month&product_data[name]=Pro",
    )
    .await;
    let price = price["id"].as_str().unwrap().to_string();

    let (status, active) = post(
        &base,
        "/v1/subscriptions",
        &format!("customer={customer}&items[0][price]={price}"),
    )
    .await;
    assert_eq!(status, 200, "{active}");
    assert_eq!(active["status"], "active");
    let invoice = get(
        &base,
        &format!(
            "/v1/invoices/{}",
            active["latest_invoice"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        (invoice["status"].clone(), invoice["amount_paid"].clone()),
        (Value::from("paid"), Value::from(900))
    );

    let (_, trial) = post(
        &base,
        "/v1/subscriptions",
        &format!("customer={customer}&items[0][price]={price}&trial_period_days=7"),
    )
    .await;
    assert_eq!(trial["status"], "trialing");
    let id = trial["id"].as_str().unwrap();
    let (status, ended) = post(&base, &format!("/v1/subscriptions/{id}"), "trial_end=now").await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["status"], "active");
    let updated = get(&base, "/v1/events?type=customer.subscription.updated").await;
    assert_eq!(
        updated["data"][0]["data"]["previous_attributes"]["status"],
        "trialing"
    );

    let canceled: Value = reqwest::Client::new()
        .delete(format!("{base}/v1/subscriptions/{id}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(canceled["status"], "canceled");
    assert_eq!(
        get(&base, "/v1/events?type=customer.subscription.deleted").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let (_, paid) = post(
        &base,
        "/v1/payment_intents",
        &format!(
            "amount=2000&currency=usd&customer={customer}&payment_method=pm_card_visa&confirm=true"
        ),
    )
    .await;
    assert_eq!(paid["status"], "succeeded");
    let pi = paid["id"].as_str().unwrap();
    let (status, partial) = post(
        &base,
        "/v1/refunds",
        &format!("payment_intent={pi}&amount=500"),
    )
    .await;
    assert_eq!(
        (status, partial["status"].clone()),
        (200, Value::from("succeeded"))
    );
    let (status, too_much) = post(
        &base,
        "/v1/refunds",
        &format!("payment_intent={pi}&amount=1600"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        too_much["error"]["message"],
        "Refund amount ($16.00) is greater than unrefunded amount on charge ($15.00)"
    );
    let charge = get(
        &base,
        &format!("/v1/charges/{}", paid["latest_charge"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        (
            charge["amount_refunded"].clone(),
            charge["refunded"].clone()
        ),
        (Value::from(500), Value::from(false))
    );
}

#[tokio::test]
async fn a_refused_request_leaves_no_trace() {
    let (base, _dir) = sandbox(None).await;
    // The payment method attaches before the unknown default is found.
    let (status, refused) = post(
        &base,
        "/v1/customers",
        "email=a@example.com&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_missing",
    )
    .await;
    assert_eq!(status, 404, "{refused}");
    assert_eq!(
        refused["error"]["param"],
        "invoice_settings[default_payment_method]"
    );
    assert_eq!(
        get(&base, "/v1/customers").await["data"],
        Value::Array(vec![])
    );
    assert_eq!(get(&base, "/v1/events").await["data"], Value::Array(vec![]));

    // A declined card is different: the failed payment and its events stay.
    let (status, declined) = post(
        &base,
        "/v1/payment_intents",
        "amount=900&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true",
    )
    .await;
    assert_eq!(status, 402);
    let intent = declined["error"]["payment_intent"]["id"].as_str().unwrap();
    assert_eq!(
        get(&base, &format!("/v1/payment_intents/{intent}")).await["status"],
        "requires_payment_method"
    );
    let types: Vec<Value> = get(&base, "/v1/events").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert!(
        types.contains(&Value::from("payment_intent.payment_failed")),
        "{types:?}"
    );
    assert!(types.contains(&Value::from("charge.failed")), "{types:?}");
}

#[tokio::test]
async fn lists_page_with_cursors_newest_first() {
    let (base, _dir) = sandbox(None).await;
    let mut created = Vec::new();
    for n in 0..5 {
        let (_, product) = post(&base, "/v1/products", &format!("name=P{n}")).await;
        created.push(product["id"].as_str().unwrap().to_string());
    }
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect()
    };
    let first = get(&base, "/v1/products?limit=2").await;
    assert_eq!(ids(&first), vec![created[4].clone(), created[3].clone()]);
    assert_eq!(
        (first["has_more"].clone(), first["url"].clone()),
        (Value::Bool(true), Value::from("/v1/products"))
    );
    let second = get(
        &base,
        &format!("/v1/products?limit=2&starting_after={}", created[3]),
    )
    .await;
    assert_eq!(ids(&second), vec![created[2].clone(), created[1].clone()]);
    let last = get(
        &base,
        &format!("/v1/products?limit=2&starting_after={}", created[1]),
    )
    .await;
    assert_eq!(
        (ids(&last), last["has_more"].clone()),
        (vec![created[0].clone()], Value::Bool(false))
    );
    let back = get(
        &base,
        &format!("/v1/products?limit=2&ending_before={}", created[1]),
    )
    .await;
    assert_eq!(ids(&back), vec![created[3].clone(), created[2].clone()]);

    let unknown = reqwest::Client::new()
        .get(format!("{base}/v1/products?starting_after=prod_missing"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    // Stripe answers an unknown cursor as an unknown id.
    assert_eq!(unknown.status().as_u16(), 404);
    let too_many = reqwest::Client::new()
        .get(format!("{base}/v1/products?limit=101"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status().as_u16(), 400);
}

#[tokio::test]
async fn state_and_owed_deliveries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sandbox.db");
    // The first endpoint never accepts, and the first retry is far off: the
    // event is still owed when the sandbox "restarts" on the same database.
    let (down, _, attempts) = flaky_receiver(usize::MAX).await;
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
    let (status, customer) = post(&before, "/v1/customers", "email=kept@example.com").await;
    assert_eq!(status, 200);
    let id = customer["id"].as_str().unwrap().to_string();
    wait_until(|| *attempts.lock().unwrap() == 1).await;
    // One sandbox owns a database's state at a time: the first stops
    // before the next starts.
    let _ = stop.send(());
    server.await.unwrap().unwrap();

    let (up, received) = receiver().await;
    let after = sandbox_at(&db, Some(up), DELIVERY_RETRY).await;
    assert_eq!(
        get(&after, &format!("/v1/customers/{id}")).await["email"],
        "kept@example.com"
    );
    wait_until(|| received.lock().unwrap().len() == 1).await;
    let (payload, signature) = received.lock().unwrap()[0].clone();
    let event: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        (
            event["type"].as_str(),
            event["data"]["object"]["id"].as_str()
        ),
        (Some("customer.created"), Some(id.as_str()))
    );
    signature::verify(
        payload.as_bytes(),
        signature.as_deref(),
        &[SECRET],
        300,
        chrono::Utc::now().timestamp(),
    )
    .unwrap();
}

#[tokio::test]
async fn deliveries_are_retried_until_the_endpoint_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let (hook, received, attempts) = flaky_receiver(2).await;
    let quick = Backoff {
        attempts: 4,
        first_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    };
    let base = sandbox_at(&dir.path().join("s.db"), Some(hook), quick).await;
    let created = reqwest::Client::new()
        .post(format!("{base}/v1/products"))
        .bearer_auth(KEY)
        .header("idempotency-key", "retried-product")
        .form(&[("name", "Retried")])
        .send()
        .await
        .unwrap();
    let request_id = created.headers()["request-id"]
        .to_str()
        .unwrap()
        .to_string();
    wait_until(|| received.lock().unwrap().len() == 1).await;
    assert_eq!(*attempts.lock().unwrap(), 3);
    let event: Value = serde_json::from_str(&received.lock().unwrap()[0].0).unwrap();
    assert_eq!(event["type"], "product.created");
    // The event names the request that caused it, as Stripe's do.
    assert_eq!(
        event["request"],
        serde_json::json!({ "id": request_id, "idempotency_key": "retried-product" })
    );
}

/// Waits (up to ten seconds) for `done`.
pub async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn root_v1_calls_reach_the_sandbox_unless_an_api_claims_the_path() {
    let dir = crate::common::project(&[(
        "v1.yaml",
        r#"
apis:
  v1-status:
    method: GET
    path: /v1/status
    steps:
      - response: { body: { from: builder } }
"#,
    )]);
    let mut settings =
        paywire::app::Settings::new(dir.path().join("workflows"), dir.path().join("p.db"));
    settings.sandbox = Some(SandboxConfig {
        base_url: "http://127.0.0.1:1/_stripe".into(),
        webhook_url: None,
        webhook_secret: SECRET.into(),
        retry: DELIVERY_RETRY,
        dunning: Default::default(),
    });
    let server = crate::common::TestServer::start_with(dir, settings).await;
    let (status, customer) = post(&server.base, "/v1/customers", "email=root@example.com").await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(get(&server.base, "/v1/status").await["from"], "builder");
    // A builder's path with another method is the builder's 405, not Stripe's.
    assert_eq!(
        server.request("DELETE", "/v1/status", None).await.status,
        405
    );
    server.stop().await;
}

/// Issue #14: a key with a multibyte character where the sandbox cut it by
/// bytes to mask it made the key check panic and drop the connection. On the
/// binary, so that its log can be read for a panic.
#[tokio::test]
async fn a_key_with_multibyte_characters_is_refused_not_a_panic() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("serve")
        .env("PAYWIRE_DIR", crate::common::examples_dir())
        .env(
            "PAYWIRE_DB",
            crate::common::postgres::db_arg(
                &crate::common::postgres::database_for(&dir.path().join("paywire.db")).await,
            ),
        )
        .env("PAYWIRE_PORT", port.to_string())
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("PAYWIRE_ENV")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/_paywire/health"))
        .send()
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let credentials = base64::engine::general_purpose::STANDARD.encode("abcdefgéhijkl:");
    for path in ["/_stripe/v1/customers", "/v1/customers"] {
        let reply = client
            .get(format!("{base}{path}"))
            .header("authorization", format!("Basic {credentials}"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e}"));
        assert_eq!(reply.status().as_u16(), 401, "{path}");
        let body: Value = reply.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("Invalid API Key provided: ****."),
            "{path}: {message}"
        );
    }
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!log.contains("panicked"), "{log}");
}
