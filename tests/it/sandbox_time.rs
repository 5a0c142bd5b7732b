//! Time in the sandbox over HTTP: a test clock advanced as a client of
//! Stripe advances one (answered `advancing`, then `ready`), the events its
//! advance makes delivered signed, typed by async-stripe, in order and
//! stamped with the clock's time; and real time moving what is on no clock.

use std::time::Duration;

use serde_json::Value;

use crate::conformance::verify_and_parse_event;
use crate::sandbox::{Received, SECRET, get, post, receiver, sandbox, wait_until};

/// 2026-01-01T00:00:00Z, then the first of February and of March.
const START: i64 = 1_767_225_600;
const FEB_1: i64 = START + 31 * DAY;
const MAR_1: i64 = FEB_1 + 28 * DAY;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

async fn created(base: &str, path: &str, form: &str) -> Value {
    let (status, body) = post(base, path, form).await;
    assert_eq!(status, 200, "POST {path} {form}: {body}");
    body
}

fn id(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_string()
}

/// Advances `clock` to `to` and waits until it is ready again.
async fn advance(base: &str, clock: &str, to: i64) {
    let answer = created(
        base,
        &format!("/v1/test_helpers/test_clocks/{clock}/advance"),
        &format!("frozen_time={to}"),
    )
    .await;
    assert_eq!(answer["status"], "advancing");
    assert_eq!(
        answer["status_details"]["advancing"]["target_frozen_time"],
        to
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let clock = get(base, &format!("/v1/test_helpers/test_clocks/{clock}")).await;
        if clock["status"] == "ready" {
            assert_eq!(clock["frozen_time"], to);
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{clock}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event the sandbox made, oldest first.
pub async fn all_events(base: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(base, &format!("/v1/events?limit=100{after}")).await;
        let data = page["data"].as_array().unwrap();
        events.extend(data.iter().cloned());
        if page["has_more"] != true {
            break;
        }
        after = format!("&starting_after={}", id(data.last().unwrap()));
    }
    events.reverse();
    events
}

/// Waits for `count` deliveries, then checks that async-stripe's receiver
/// takes every one: its signature, and the event's typed object.
async fn all_delivered_and_typed(received: &Received, count: usize) {
    wait_until(|| received.lock().unwrap().len() >= count).await;
    let deliveries = received.lock().unwrap().clone();
    let problems: Vec<String> = deliveries
        .iter()
        .filter_map(|(body, signature)| {
            verify_and_parse_event(body, signature.as_deref().unwrap(), SECRET).err()
        })
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A monthly price of 15.00 USD.
async fn monthly_price(base: &str) -> String {
    let product = id(&created(base, "/v1/products", "name=Pro").await);
    id(&created(
        base,
        "/v1/prices",
        &format!("product={product}&unit_amount=1500&currency=usd&recurring[interval]=month"),
    )
    .await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_on_a_clock_renews_fails_and_recovers_with_every_event_typed() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let clock = id(&created(
        &base,
        "/v1/test_helpers/test_clocks",
        &format!("frozen_time={START}&name=dunning"),
    )
    .await);
    let customer = created(
        &base,
        "/v1/customers",
        &format!(
            "test_clock={clock}&email=ada@example.com&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa"
        ),
    )
    .await;
    assert_eq!(customer["created"], START);
    let customer = id(&customer);
    let price = monthly_price(&base).await;
    let subscription = created(
        &base,
        "/v1/subscriptions",
        &format!("customer={customer}&items[0][price]={price}"),
    )
    .await;
    assert_eq!(subscription["test_clock"], clock.as_str());
    let subscription = id(&subscription);

    // January's period renews in February, paid.
    advance(&base, &clock, FEB_1 + 2 * HOUR).await;
    let sub = get(&base, &format!("/v1/subscriptions/{subscription}")).await;
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["items"]["data"][0]["current_period_start"], FEB_1);

    // The card starts failing: March's renewal fails, and the subscription
    // is past due until the customer pays with a new card.
    let failing = id(&created(
        &base,
        "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
        &format!("customer={customer}"),
    )
    .await);
    created(
        &base,
        &format!("/v1/customers/{customer}"),
        &format!("invoice_settings[default_payment_method]={failing}"),
    )
    .await;
    advance(&base, &clock, MAR_1 + 2 * HOUR).await;
    let sub = get(&base, &format!("/v1/subscriptions/{subscription}")).await;
    assert_eq!(sub["status"], "past_due");
    let invoice = get(
        &base,
        &format!("/v1/invoices/{}", sub["latest_invoice"].as_str().unwrap()),
    )
    .await;
    assert_eq!(invoice["status"], "open");
    assert_eq!(invoice["attempt_count"], 1);
    assert_eq!(invoice["next_payment_attempt"], MAR_1 + HOUR + 3 * DAY);
    let working = id(&created(
        &base,
        "/v1/payment_methods/pm_card_visa/attach",
        &format!("customer={customer}"),
    )
    .await);
    let paid = created(
        &base,
        &format!("/v1/invoices/{}/pay", id(&invoice)),
        &format!("payment_method={working}"),
    )
    .await;
    assert_eq!(paid["status"], "paid");
    let sub = get(&base, &format!("/v1/subscriptions/{subscription}")).await;
    assert_eq!(sub["status"], "active");

    // The chain of the failed renewal and its recovery, in order, on the
    // clock's time (products, prices and the clock's own events are on the
    // real time).
    let events = all_events(&base).await;
    let chain: Vec<(&str, i64)> = events
        .iter()
        .filter(|e| (MAR_1..MAR_1 + DAY).contains(&e["created"].as_i64().unwrap()))
        .map(|e| (e["type"].as_str().unwrap(), e["created"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        chain,
        [
            ("invoice.created", MAR_1),
            ("customer.subscription.updated", MAR_1),
            ("invoice.finalized", MAR_1 + HOUR),
            ("payment_intent.created", MAR_1 + HOUR),
            ("charge.failed", MAR_1 + HOUR),
            ("payment_intent.payment_failed", MAR_1 + HOUR),
            ("invoice.payment_failed", MAR_1 + HOUR),
            ("customer.subscription.updated", MAR_1 + HOUR),
            ("payment_method.attached", MAR_1 + 2 * HOUR),
            ("payment_intent.created", MAR_1 + 2 * HOUR),
            ("charge.succeeded", MAR_1 + 2 * HOUR),
            ("payment_intent.succeeded", MAR_1 + 2 * HOUR),
            ("invoice.paid", MAR_1 + 2 * HOUR),
            ("invoice.payment_succeeded", MAR_1 + 2 * HOUR),
            ("customer.subscription.updated", MAR_1 + 2 * HOUR),
        ]
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for clock_event in [
        "test_helpers.test_clock.created",
        "test_helpers.test_clock.advancing",
        "test_helpers.test_clock.ready",
    ] {
        assert!(kinds.contains(&clock_event), "{kinds:?}");
    }

    // Every one arrives signed, and async-stripe's receiver takes it.
    all_delivered_and_typed(&received, events.len()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_refuses_to_go_back_or_skip_renewals() {
    let (base, _dir) = sandbox(None).await;
    let clock = id(&created(
        &base,
        "/v1/test_helpers/test_clocks",
        &format!("frozen_time={START}"),
    )
    .await);
    let advance = format!("/v1/test_helpers/test_clocks/{clock}/advance");
    let (status, body) = post(&base, &advance, &format!("frozen_time={}", START - 1)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "frozen_time");
    let (status, body) = post(&base, &advance, "frozen_time=soon").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(&base, "/v1/test_helpers/test_clocks", "").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "frozen_time");
    let (status, body) = post(&base, "/v1/customers", "test_clock=clock_missing").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "resource_missing");
    let listed = get(&base, "/v1/test_helpers/test_clocks").await;
    assert_eq!(listed["data"][0]["id"], clock.as_str());
    let gone = reqwest::Client::new()
        .delete(format!("{base}/v1/test_helpers/test_clocks/{clock}"))
        .bearer_auth(crate::sandbox::KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 200);
    let listed = get(&base, "/v1/test_helpers/test_clocks").await;
    assert_eq!(listed["data"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_time_ends_trials_and_cancels_what_is_on_no_clock() {
    let (base, _dir) = sandbox(None).await;
    let customer = id(&created(
        &base,
        "/v1/customers",
        "payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa",
    )
    .await);
    let price = monthly_price(&base).await;
    let now = chrono::Utc::now().timestamp();
    let trial = id(&created(
        &base,
        "/v1/subscriptions",
        &format!(
            "customer={customer}&items[0][price]={price}&trial_end={}",
            now + 2
        ),
    )
    .await);
    let ending = id(&created(
        &base,
        "/v1/subscriptions",
        &format!(
            "customer={customer}&items[0][price]={price}&cancel_at={}",
            now + 2
        ),
    )
    .await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let trial = get(&base, &format!("/v1/subscriptions/{trial}")).await;
        let ending = get(&base, &format!("/v1/subscriptions/{ending}")).await;
        if trial["status"] == "active" && ending["status"] == "canceled" {
            let invoice = get(
                &base,
                &format!("/v1/invoices/{}", trial["latest_invoice"].as_str().unwrap()),
            )
            .await;
            assert_eq!(invoice["status"], "draft");
            assert_eq!(invoice["billing_reason"], "subscription_cycle");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{trial}\n{ending}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kinds: Vec<String> = all_events(&base)
        .await
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"customer.subscription.trial_will_end".to_string()));
    assert!(kinds.contains(&"customer.subscription.deleted".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trials_pauses_and_cancellations_on_a_clock_send_events_async_stripe_takes() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let clock = id(&created(
        &base,
        "/v1/test_helpers/test_clocks",
        &format!("frozen_time={START}"),
    )
    .await);
    let price = monthly_price(&base).await;
    let paying = id(&created(
        &base,
        "/v1/customers",
        &format!(
            "test_clock={clock}&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa"
        ),
    )
    .await);
    let without_card = id(&created(&base, "/v1/customers", &format!("test_clock={clock}")).await);
    let subscribe =
        |customer: &str, extra: &str| format!("customer={customer}&items[0][price]={price}{extra}");
    let trial = id(&created(
        &base,
        "/v1/subscriptions",
        &subscribe(
            &without_card,
            "&trial_period_days=7&trial_settings[end_behavior][missing_payment_method]=pause",
        ),
    )
    .await);
    let ending = id(&created(
        &base,
        "/v1/subscriptions",
        &subscribe(&paying, "&cancel_at_period_end=true"),
    )
    .await);
    let paused = id(&created(&base, "/v1/subscriptions", &subscribe(&paying, "")).await);
    created(
        &base,
        &format!("/v1/subscriptions/{paused}"),
        "pause_collection[behavior]=mark_uncollectible",
    )
    .await;

    advance(&base, &clock, FEB_1 + 2 * HOUR).await;
    let status = |sub: Value| sub["status"].as_str().unwrap().to_string();
    assert_eq!(
        status(get(&base, &format!("/v1/subscriptions/{trial}")).await),
        "paused"
    );
    assert_eq!(
        status(get(&base, &format!("/v1/subscriptions/{ending}")).await),
        "canceled"
    );
    let kept = get(&base, &format!("/v1/subscriptions/{paused}")).await;
    assert_eq!(kept["status"], "active");
    let uncollectible = get(
        &base,
        &format!("/v1/invoices/{}", kept["latest_invoice"].as_str().unwrap()),
    )
    .await;
    assert_eq!(uncollectible["status"], "uncollectible");
    let resumed = created(&base, &format!("/v1/subscriptions/{trial}/resume"), "").await;
    assert_eq!(resumed["status"], "past_due");

    let events = all_events(&base).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for expected in [
        "customer.subscription.trial_will_end",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.deleted",
        "invoice.marked_uncollectible",
    ] {
        assert!(kinds.contains(&expected), "{expected}: {kinds:?}");
    }
    all_delivered_and_typed(&received, events.len()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_by_creation_time_on_the_clock_s_time_too() {
    let (base, _dir) = sandbox(None).await;
    let clock = id(&created(
        &base,
        "/v1/test_helpers/test_clocks",
        &format!("frozen_time={START}"),
    )
    .await);
    let on_clock = id(&created(&base, "/v1/customers", &format!("test_clock={clock}")).await);
    let now = id(&created(&base, "/v1/customers", "name=now").await);
    let ids =
        |page: Value| -> Vec<String> { page["data"].as_array().unwrap().iter().map(id).collect() };
    assert_eq!(
        ids(get(&base, &format!("/v1/customers?created[lte]={START}")).await),
        std::slice::from_ref(&on_clock)
    );
    assert_eq!(
        ids(get(&base, &format!("/v1/customers?created[gt]={START}")).await),
        [now]
    );
    assert_eq!(
        ids(get(&base, &format!("/v1/customers?created={START}")).await),
        [on_clock]
    );
    let (status, body) = {
        let response = reqwest::Client::new()
            .get(format!("{base}/v1/customers?created[since]=1"))
            .bearer_auth(crate::sandbox::KEY)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "created[since]");
}
