//! The five payment flows of workflows/, end to end against the sandbox: the
//! HTTP calls a front end makes, the hosted page paid, declined or
//! cancelled, Stripe's webhook delivered to paywire and verified, and the
//! rows it leaves.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::TestServer;

const KEY: &str = "sk_test_front_end_stands_in";

/// The example project, with its sandbox delivering events to paywire, once
/// the startup workflow has made the catalogue.
async fn shop() -> (TestServer, Value) {
    let server = TestServer::examples_to_self().await;
    let prices = eventually(&server, "/prices", |body| {
        body["prices"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    (server, prices)
}

fn price(prices: &Value, lookup_key: &str) -> String {
    prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["lookup_key"] == lookup_key)
        .unwrap()["price_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// GETs `path` until `done` holds (the webhook runs after the payment).
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

/// Submits the hosted checkout page as a customer would; returns the status
/// and where it redirects.
async fn submit_page(url: &str, action: &str, card: &str) -> (u16, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .post(url)
        .form(&[("action", action), ("card_number", card), ("email", "")])
        .send()
        .await
        .unwrap();
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (answer.status().as_u16(), location)
}

/// What Stripe.js or the dashboard would do, straight to the sandbox.
async fn stripe(server: &TestServer, method: &str, path: &str, form: &[(&str, &str)]) -> Value {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let answer = server
        .client
        .request(method, format!("{}/_stripe/v1{path}", server.base))
        .bearer_auth(KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    answer.json().await.unwrap()
}

#[tokio::test]
async fn flow_1_one_time_payment_with_checkout() {
    let (server, prices) = shop().await;
    let tshirt = price(&prices, "tshirt");
    let created = server
        .post(
            "/create-checkout",
            json!({"price_id": tshirt, "quantity": 2, "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let url = created.body["url"].as_str().unwrap().to_string();
    let session_id = created.body["id"].as_str().unwrap().to_string();
    let page = server
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("T-shirt") && page.contains("40.00"), "{page}");
    let before = server
        .get(&format!("/checkout-session?session_id={session_id}"))
        .await
        .body;
    let order_id = before["order_id"].as_str().unwrap().to_string();
    assert_eq!(before["status"], "open");

    // Declined first (Stripe's declining test card), then paid.
    let (status, _) = submit_page(&url, "pay", "4000 0000 0000 0002").await;
    assert_eq!(status, 402);
    let failed = eventually(&server, &format!("/orders/{order_id}"), |o| {
        o["status"] == "failed"
    })
    .await;
    assert_eq!(failed["failure_reason"], "Your card was declined.");
    let (status, location) = submit_page(&url, "pay", "4242 4242 4242 4242").await;
    assert_eq!(status, 303);
    assert_eq!(
        location.unwrap(),
        format!("http://127.0.0.1:8080/checkout-session?session_id={session_id}")
    );
    let order = eventually(&server, &format!("/orders/{order_id}"), |o| {
        o["status"] == "paid"
    })
    .await;
    assert_eq!(order["amount"], 4000);
    assert!(order["paid_at"].is_string(), "{order}");
    let customer = order["customer_id"].as_str().unwrap();
    assert!(customer.starts_with("cus_"));
    let success = server
        .get(&format!("/checkout-session?session_id={session_id}"))
        .await
        .body;
    assert_eq!(
        (
            success["status"].as_str(),
            success["payment_status"].as_str()
        ),
        (Some("complete"), Some("paid"))
    );
    // The receipt comes with checkout.session.completed, which may follow
    // payment_intent.succeeded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let receipts = loop {
        let receipts = server
            .query_rows("SELECT order_id, email, amount, currency, sent FROM receipts")
            .await;
        if !receipts.is_empty() || tokio::time::Instant::now() > deadline {
            break receipts;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(
        receipts,
        vec![
            json!({"order_id": order_id, "email": "ada@example.com", "amount": 4000, "currency": "usd", "sent": false})
        ]
    );

    // The same email is the same Stripe customer next time.
    let again = server
        .post(
            "/create-checkout",
            json!({"price_id": tshirt, "email": "ada@example.com"}),
        )
        .await;
    let again_session = again.body["id"].as_str().unwrap();
    let session = stripe(
        &server,
        "GET",
        &format!("/checkout/sessions/{again_session}"),
        &[],
    )
    .await;
    assert_eq!(session["customer"], customer);
    assert_eq!(
        server.query_rows("SELECT email FROM customers").await.len(),
        1
    );

    // Cancelled on the page, the order waits; expired, it is marked so.
    let (status, location) = submit_page(again.body["url"].as_str().unwrap(), "cancel", "").await;
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("http://127.0.0.1:8080/checkout-cancelled"))
    );
    let waiting = stripe(
        &server,
        "GET",
        &format!("/checkout/sessions/{again_session}"),
        &[],
    )
    .await;
    let waiting_order = waiting["metadata"]["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        server.get(&format!("/orders/{waiting_order}")).await.body["status"],
        "pending"
    );
    stripe(
        &server,
        "POST",
        &format!("/checkout/sessions/{again_session}/expire"),
        &[],
    )
    .await;
    eventually(&server, &format!("/orders/{waiting_order}"), |o| {
        o["status"] == "expired"
    })
    .await;

    // Bad input is the caller's 400.
    let unknown = server
        .post("/create-checkout", json!({"price_id": "price_nope"}))
        .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"]["message"], "no price price_nope");
    let recurring = server
        .post(
            "/create-checkout",
            json!({"price_id": price(&prices, "pro-monthly")}),
        )
        .await;
    assert_eq!(recurring.status, 400, "{}", recurring.body);
    server.stop().await;
}

#[tokio::test]
async fn flow_2_subscription_with_checkout_created_updated_deleted() {
    let (server, prices) = shop().await;
    let pro = price(&prices, "pro-monthly");
    let created = server
        .post(
            "/create-subscription-checkout",
            json!({"price_id": pro, "user_id": "u1", "email": "grace@example.com", "trial_days": 7}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let denied = server.get("/access?user=u1").await.body;
    assert_eq!(denied["access"], false);
    let (status, _) = submit_page(
        created.body["url"].as_str().unwrap(),
        "pay",
        "4242424242424242",
    )
    .await;
    assert_eq!(status, 303);
    let trialing = eventually(&server, "/access?user=u1", |a| a["status"] == "trialing").await;
    assert_eq!(trialing["access"], true);
    let subscription = trialing["subscription_id"].as_str().unwrap().to_string();

    // Trial to active: customer.subscription.updated.
    stripe(
        &server,
        "POST",
        &format!("/subscriptions/{subscription}"),
        &[("trial_end", "now")],
    )
    .await;
    let active = eventually(&server, "/access?user=u1", |a| a["status"] == "active").await;
    assert_eq!(active["access"], true);

    // Deleted: access is revoked.
    stripe(
        &server,
        "DELETE",
        &format!("/subscriptions/{subscription}"),
        &[],
    )
    .await;
    let revoked = eventually(&server, "/access?user=u1", |a| a["status"] == "canceled").await;
    assert_eq!(revoked["access"], false);
    let stored = server
        .query_rows("SELECT user_id, subscription_id, price_id, status FROM subscriptions")
        .await;
    assert_eq!(
        stored,
        vec![
            json!({"user_id": "u1", "subscription_id": subscription, "price_id": pro, "status": "canceled"})
        ]
    );
    let runs = server.runs_of("on-subscription").await;
    assert!(runs.len() >= 3, "created, updated, deleted: {}", runs.len());

    // A one-time price is Stripe's 400, answered in Stripe's words.
    let wrong = server
        .post(
            "/create-subscription-checkout",
            json!({"price_id": price(&prices, "tshirt"), "user_id": "u1"}),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    server.stop().await;
}

#[tokio::test]
async fn flows_3_4_5_payment_intent_refunds_and_access() {
    let (server, _) = shop().await;
    let user = server
        .post("/users", json!({"id": "u2", "email": "linus@example.com"}))
        .await;
    assert_eq!(user.status, 201, "{}", user.body);
    assert_eq!(user.body["plan"], "free");

    // Flow 3: the front end gets a client secret and confirms with Stripe.js.
    let intent = server
        .post(
            "/payments/intent",
            json!({"amount": 3000, "currency": "eur", "metadata": {"user_id": "u2"}}),
        )
        .await;
    assert_eq!(intent.status, 201, "{}", intent.body);
    let id = intent.body["id"].as_str().unwrap().to_string();
    let order_id = intent.body["order_id"].as_str().unwrap().to_string();
    assert!(
        intent.body["client_secret"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{id}_secret_"))
    );
    assert_eq!(
        server.get(&format!("/payments/intent/{id}")).await.body["status"],
        "requires_payment_method"
    );
    stripe(
        &server,
        "POST",
        &format!("/payment_intents/{id}/confirm"),
        &[("payment_method", "pm_card_visa")],
    )
    .await;
    let paid = eventually(&server, &format!("/orders/{order_id}"), |o| {
        o["status"] == "paid"
    })
    .await;
    let charge = paid["charge_id"].as_str().unwrap().to_string();
    assert!(charge.starts_with("ch_"));
    assert_eq!(
        server.get(&format!("/payments/intent/{id}")).await.body["status"],
        "succeeded"
    );

    // Flow 5: the payment carried the user id: premium.
    let premium = eventually(&server, "/users/u2", |u| u["plan"] == "premium").await;
    assert!(premium["paid_at"].is_string());

    // A declined intent records why.
    let declined = server
        .post("/payments/intent", json!({"amount": 700}))
        .await;
    let declined_id = declined.body["id"].as_str().unwrap().to_string();
    let declined_order = declined.body["order_id"].as_str().unwrap().to_string();
    stripe(
        &server,
        "POST",
        &format!("/payment_intents/{declined_id}/confirm"),
        &[("payment_method", "pm_card_chargeDeclined")],
    )
    .await;
    let failed = eventually(&server, &format!("/orders/{declined_order}"), |o| {
        o["status"] == "failed"
    })
    .await;
    assert_eq!(failed["failure_reason"], "Your card was declined.");
    let last_error = server
        .get(&format!("/payments/intent/{declined_id}"))
        .await
        .body;
    assert_eq!(last_error["last_payment_error"], "Your card was declined.");

    // Flow 4: a partial refund, one too large, then the rest by charge.
    let partial = server
        .post(
            "/refunds",
            json!({"payment_intent": id, "amount": 500, "reason": "requested_by_customer"}),
        )
        .await;
    assert_eq!(partial.status, 201, "{}", partial.body);
    assert_eq!(partial.body["amount"], 500);
    assert_eq!(partial.body["order"]["refunded_amount"], 500);
    assert_eq!(partial.body["order"]["status"], "paid");
    let too_much = server
        .post("/refunds", json!({"charge": charge, "amount": 2600}))
        .await;
    assert_eq!(too_much.status, 400);
    assert_eq!(
        too_much.body["error"]["message"],
        format!(
            "a refund of 26.00 EUR is more than the 25.00 EUR left to refund on order {order_id}"
        )
    );
    let rest = server.post("/refunds", json!({"charge": charge})).await;
    assert_eq!(rest.status, 201, "{}", rest.body);
    assert_eq!(rest.body["amount"], 2500);
    assert_eq!(rest.body["order"]["status"], "refunded");
    let refunded = stripe(&server, "GET", &format!("/charges/{charge}"), &[]).await;
    assert_eq!(
        (
            refunded["amount_refunded"].clone(),
            refunded["refunded"].clone()
        ),
        (json!(3000), json!(true))
    );
    let nothing = server
        .post("/refunds", json!({"payment_intent": "pi_unknown"}))
        .await;
    assert_eq!(nothing.status, 404);
    let neither = server.post("/refunds", json!({})).await;
    assert_eq!(neither.status, 400);
    let unpaid = server
        .post("/refunds", json!({"payment_intent": declined_id}))
        .await;
    assert_eq!(unpaid.status, 409, "{}", unpaid.body);

    // Flow 5 by customer: a Checkout paid by a known user's email.
    let user = server
        .post("/users", json!({"id": "u3", "email": "ken@example.com"}))
        .await;
    assert_eq!(user.status, 201);
    let prices = server.get("/prices").await.body;
    let checkout = server
        .post(
            "/create-checkout",
            json!({"price_id": price(&prices, "tshirt"), "email": "ken@example.com"}),
        )
        .await;
    submit_page(
        checkout.body["url"].as_str().unwrap(),
        "pay",
        "4242424242424242",
    )
    .await;
    eventually(&server, "/users/u3", |u| u["plan"] == "premium").await;
    server.stop().await;
}

#[tokio::test]
async fn the_catalogue_is_made_once() {
    let dir = tempfile::tempdir().unwrap();
    for start in 1..=2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let settings =
            paywire::app::Settings::new(crate::common::examples_dir(), dir.path().join("shop.db"))
                .with_sandbox(paywire_sandbox::SandboxConfig {
                    base_url: format!("http://{address}/_stripe"),
                    webhook_url: None,
                    webhook_secret: crate::common::SANDBOX_WEBHOOK_SECRET.into(),
                    retry: paywire_sandbox::DELIVERY_RETRY,
                    dunning: Default::default(),
                });
        let server = TestServer::start_on(listener, tempfile::tempdir().unwrap(), settings).await;
        // The startup run must be over before the next start.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let runs = server.runs_of("setup-catalog").await;
            let succeeded = runs
                .iter()
                .filter(|r| r.status == paywire_store::RunStatus::Succeeded)
                .count();
            if succeeded == start {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "start {start}: {succeeded} startup runs succeeded"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The second start found the prices by their lookup keys in the
        // sandbox's state, kept in the database, instead of making more.
        let prices = stripe(&server, "GET", "/prices?limit=100", &[]).await;
        assert_eq!(
            prices["data"].as_array().map(Vec::len),
            Some(2),
            "start {start}: {prices}"
        );
        server.stop().await;
    }
}
