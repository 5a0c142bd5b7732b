//! Flow 6 of workflows/, dunning, end to end: a subscription bought through
//! the front end's calls on a customer of a test clock, then months of
//! renewals made to happen with `paywire clock advance`, a card that starts
//! failing, Stripe's retries, a new card and "pay now", and the rows the
//! flow keeps (the subscription's status and attempts, the notifications,
//! what GET /access answers) checked after each step. A second user's
//! payment never recovers: after the last retry, access is revoked.

use std::process::Output;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::TestServer;

/// 2026-01-01T00:00:00Z, and the first of the months after it.
const START: i64 = 1_767_225_600;
const FEB_1: i64 = START + 31 * DAY;
const MAR_1: i64 = FEB_1 + 28 * DAY;
const APR_1: i64 = MAR_1 + 31 * DAY;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// Runs `paywire clock …` against the server, as a builder would.
async fn paywire_clock(server: &TestServer, args: &[&str]) -> String {
    let output: Output = tokio::process::Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("clock")
        .args(args)
        .env("PAYWIRE_SERVER", &server.base)
        .env_remove("STRIPE_SECRET_KEY")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "paywire clock {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn create_clock(server: &TestServer) -> String {
    let printed = paywire_clock(server, &["create", "--frozen-time", &START.to_string()]).await;
    printed.lines().next().unwrap().trim().to_string()
}

/// Moves the clock, then waits until paywire has run what its events
/// started (every event the sandbox made is handled).
async fn advance(server: &TestServer, clock: &str, to: i64) {
    paywire_clock(server, &["advance", clock, "--to", &to.to_string()]).await;
    settle(server).await;
}

/// How many events the sandbox has made.
async fn events_sent(server: &TestServer) -> usize {
    let mut count = 0;
    let mut after = String::new();
    loop {
        let page: Value = server
            .client
            .get(format!(
                "{}/_stripe/v1/events?limit=100{after}",
                server.base
            ))
            .bearer_auth("sk_test_front_end_stands_in")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let data = page["data"].as_array().unwrap();
        count += data.len();
        match data.last() {
            Some(last) if page["has_more"] == true => {
                after = format!("&starting_after={}", last["id"].as_str().unwrap());
            }
            _ => return count,
        }
    }
}

/// Waits until paywire has received every event the sandbox made, and
/// finished with each.
async fn settle(server: &TestServer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sent = events_sent(server).await;
        let finished = server
            .query_rows("SELECT id FROM _paywire_events WHERE state IN ('done', 'ignored')")
            .await
            .len();
        if finished >= sent {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{finished} of the sandbox's {sent} events finished in paywire"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn access(server: &TestServer, user: &str) -> Value {
    let reply = server.get(&format!("/access?user={user}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

async fn notifications(server: &TestServer, user: &str) -> Vec<String> {
    let reply = server.get(&format!("/notifications?user={user}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_string())
        .collect()
}

fn time(value: &Value) -> i64 {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
        .timestamp()
}

/// A user subscribed to the monthly plan through the front end's calls,
/// paid on the hosted page with a working card, on a new test clock.
async fn subscribed(server: &TestServer, user: &str) -> String {
    let prices = server.get("/prices").await.body;
    let pro = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["lookup_key"] == "pro-monthly")
        .unwrap()["price_id"]
        .clone();
    let clock = create_clock(server).await;
    let created = server
        .post(
            "/create-subscription-checkout",
            json!({"price_id": pro, "user_id": user, "email": format!("{user}@example.com"), "test_clock": clock}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(created.body["url"].as_str().unwrap())
        .form(&[
            ("action", "pay"),
            ("card_number", "4242424242424242"),
            ("email", ""),
        ])
        .send()
        .await
        .unwrap();
    let status = page.status();
    assert_eq!(status, 303, "{}", page.text().await.unwrap());
    settle(server).await;
    let granted = access(server, user).await;
    assert_eq!(granted["status"], "active", "{granted}");
    assert_eq!(granted["access"], true);
    clock
}

async fn change_card(server: &TestServer, user: &str, card: &str) {
    let reply = server
        .post(
            "/billing/payment-method",
            json!({"user": user, "payment_method": card}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

async fn wait_for_examples() -> TestServer {
    let server = TestServer::examples_to_self().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.get("/prices").await.body["prices"]
        .as_array()
        .is_none_or(|p| p.len() < 2)
    {
        assert!(tokio::time::Instant::now() < deadline, "no catalogue");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_months_of_renewals_with_a_failure_and_a_recovery() {
    let server = wait_for_examples().await;
    let user = "grace";
    let clock = subscribed(&server, user).await;

    // February: renewed and paid.
    advance(&server, &clock, FEB_1 + 2 * HOUR).await;
    let february = access(&server, user).await;
    assert_eq!(february["status"], "active");
    assert_eq!(february["access"], true);
    assert!(notifications(&server, user).await.is_empty());

    // The card on file starts failing; March's renewal fails.
    change_card(&server, user, "pm_card_chargeCustomerFail").await;
    advance(&server, &clock, MAR_1 + 2 * HOUR).await;
    let march = access(&server, user).await;
    assert_eq!(march["status"], "past_due", "{march}");
    assert_eq!(march["access"], false);
    assert_eq!(march["payment_attempts"], 1);
    assert_eq!(time(&march["next_payment_attempt"]), MAR_1 + HOUR + 3 * DAY);
    assert_eq!(notifications(&server, user).await, ["payment_failed"]);

    // Stripe's first retry, three days later, fails too.
    advance(&server, &clock, MAR_1 + 2 * HOUR + 3 * DAY).await;
    let retried = access(&server, user).await;
    assert_eq!(retried["status"], "past_due");
    assert_eq!(retried["payment_attempts"], 2);
    assert_eq!(
        time(&retried["next_payment_attempt"]),
        MAR_1 + HOUR + 10 * DAY
    );
    assert_eq!(
        notifications(&server, user).await,
        ["payment_failed", "payment_failed"]
    );

    // A new card, and "pay now": access returns.
    change_card(&server, user, "pm_card_visa").await;
    let paid = server.post("/billing/pay", json!({"user": user})).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(paid.body["status"], "paid");
    settle(&server).await;
    let recovered = access(&server, user).await;
    assert_eq!(recovered["status"], "active", "{recovered}");
    assert_eq!(recovered["access"], true);
    assert_eq!(recovered["payment_attempts"], 0);
    assert_eq!(recovered["next_payment_attempt"], Value::Null);
    assert_eq!(
        notifications(&server, user).await,
        ["payment_failed", "payment_failed", "payment_recovered"]
    );
    let nothing = server.post("/billing/pay", json!({"user": user})).await;
    assert_eq!(nothing.status, 409, "{}", nothing.body);

    // April: renewed and paid with the new card; no retry is left over.
    advance(&server, &clock, APR_1 + 2 * HOUR).await;
    let april = access(&server, user).await;
    assert_eq!(april["status"], "active");
    assert_eq!(april["access"], true);
    assert_eq!(notifications(&server, user).await.len(), 3);
    let rows = server
        .query_rows(&format!(
            "SELECT status, last_event_at FROM subscriptions WHERE user_id = '{user}'"
        ))
        .await;
    assert!(
        rows[0]["last_event_at"].as_i64().unwrap() >= APR_1,
        "{rows:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_last_retry_access_is_revoked() {
    let server = wait_for_examples().await;
    let user = "hopper";
    let clock = subscribed(&server, user).await;
    change_card(&server, user, "pm_card_chargeCustomerFail").await;
    // The renewal's attempt, then Stripe's three retries, 3, 7 and 11 days
    // apart: the row follows each.
    let mut attempt_at = FEB_1 + HOUR;
    for (attempt, wait) in [(1, 3), (2, 7), (3, 11)] {
        advance(&server, &clock, attempt_at + HOUR).await;
        let failing = access(&server, user).await;
        assert_eq!(failing["status"], "past_due", "{failing}");
        assert_eq!(failing["payment_attempts"], attempt);
        attempt_at += wait * DAY;
        assert_eq!(time(&failing["next_payment_attempt"]), attempt_at);
        assert_eq!(notifications(&server, user).await.len(), attempt as usize);
    }
    advance(&server, &clock, attempt_at + HOUR).await;
    let ended = access(&server, user).await;
    assert_eq!(ended["status"], "canceled", "{ended}");
    assert_eq!(ended["access"], false);
    assert_eq!(ended["payment_attempts"], 4);
    // The last failure and the cancellation are made at the same moment and
    // handled as they arrive, in either order.
    let mut kinds = notifications(&server, user).await;
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "payment_failed",
            "payment_failed",
            "payment_failed",
            "payment_failed",
            "subscription_canceled",
        ]
    );
    // Bad input gets a 4xx that names it.
    let unknown = server.post("/billing/pay", json!({"user": "nobody"})).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let bad_card = server
        .post(
            "/billing/payment-method",
            json!({"user": user, "payment_method": "pm_does_not_exist"}),
        )
        .await;
    assert!(
        (400..500).contains(&bad_card.status),
        "{} {}",
        bad_card.status,
        bad_card.body
    );
    server.stop().await;
}
