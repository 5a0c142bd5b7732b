//! The Stripe actions in workflows, against the sandbox: WeWeb's 38 of them
//! (the ten that move objects on in their life are in
//! `stripe_lifecycle_actions`), their errors, idempotent retries, the retry
//! of Stripe's 429 and 5xx, and secrets kept out of answers and records.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Reply, TestServer, project};
use paywire::app::{Settings, StripeSettings};
use paywire::config::Secret;
use paywire_support::Backoff;

/// Products and prices: ten actions in one API, whose answer is every
/// step's result.
const CATALOG: &str = r#"
apis:
  catalog:
    method: POST
    path: /catalog
    steps:
      - id: product
        action: stripe.create_product
        with: { name: T-shirt, description: Cotton, metadata: { sku: ts-1 } }
      - id: retrieved_product
        action: stripe.retrieve_product
        with: { id: "{{ steps.product.id }}" }
      - id: updated_product
        action: stripe.update_product
        with: { id: "{{ steps.product.id }}", name: Blue T-shirt }
      - id: products
        action: stripe.list_products
        with: { limit: 10 }
      - id: price
        action: stripe.create_price
        with:
          product: "{{ steps.product.id }}"
          currency: usd
          unit_amount: "{{ to_minor_units(15.0, \"usd\") }}"
      - id: retrieved_price
        action: stripe.retrieve_price
        with: { id: "{{ steps.price.id }}", expand: [product] }
      - id: updated_price
        action: stripe.update_price
        with: { id: "{{ steps.price.id }}", nickname: Launch, lookup_key: tshirt-launch }
      - id: prices
        action: stripe.list_prices
        with: { product: "{{ steps.product.id }}" }
      - id: deactivated_price
        action: stripe.deactivate_price
        with: { id: "{{ steps.price.id }}" }
      - id: spare
        action: stripe.create_product
        with: { name: Spare }
      - id: deleted_product
        action: stripe.delete_product
        with: { id: "{{ steps.spare.id }}" }
      - response: { body: "{{ steps }}" }
"#;

/// Customers, invoices and invoice items.
const BILLING: &str = r#"
apis:
  billing:
    method: POST
    path: /billing
    steps:
      - id: customer
        action: stripe.create_customer
        with: { email: jenny@example.com, name: Jenny, metadata: { plan: pro } }
      - id: retrieved_customer
        action: stripe.retrieve_customer
        with: { id: "{{ steps.customer.id }}" }
      - id: updated_customer
        action: stripe.update_customer
        with: { id: "{{ steps.customer.id }}", phone: "+15555550100" }
      - id: customers
        action: stripe.list_customers
        with: { email: jenny@example.com }
      - id: leaving
        action: stripe.create_customer
        with: { name: Leaving }
      - id: deleted_customer
        action: stripe.delete_customer
        with: { id: "{{ steps.leaving.id }}" }
      - id: invoice
        action: stripe.create_invoice
        with: { customer: "{{ steps.customer.id }}", collection_method: send_invoice, days_until_due: 30 }
      - id: item
        action: stripe.create_invoice_item
        with:
          customer: "{{ steps.customer.id }}"
          invoice: "{{ steps.invoice.id }}"
          amount: 2500
          currency: usd
          description: Setup
      - id: updated_invoice
        action: stripe.update_invoice
        with: { id: "{{ steps.invoice.id }}", description: Setup fee, metadata: { order: "7" } }
      - id: retrieved_invoice
        action: stripe.retrieve_invoice
        with: { id: "{{ steps.invoice.id }}" }
      - id: invoices
        action: stripe.list_invoices
        with: { customer: "{{ steps.customer.id }}" }
      - id: draft
        action: stripe.create_invoice
        with: { customer: "{{ steps.customer.id }}" }
      - id: deleted_invoice
        action: stripe.delete_invoice
        with: { id: "{{ steps.draft.id }}" }
      - response: { body: "{{ steps }}" }
"#;

/// Payment intents and refunds.
const PAYMENTS: &str = r#"
apis:
  payments:
    method: POST
    path: /payments
    steps:
      - id: intent
        action: stripe.create_payment_intent
        with: { amount: 2000, currency: usd, metadata: { order: "8" } }
      - id: updated_intent
        action: stripe.update_payment_intent
        with: { id: "{{ steps.intent.id }}", description: Order 8 }
      - id: retrieved_intent
        action: stripe.retrieve_payment_intent
        with: { id: "{{ steps.intent.id }}" }
      - id: intents
        action: stripe.list_payment_intents
        with: { limit: 3 }
      - id: canceled_intent
        action: stripe.cancel_payment_intent
        with: { id: "{{ steps.intent.id }}", cancellation_reason: abandoned }
      - id: paid
        action: stripe.create_payment_intent
        with: { amount: 3000, currency: eur, payment_method: pm_card_visa, confirm: true }
      - id: partial_refund
        action: stripe.refund_payment
        with: { payment_intent: "{{ steps.paid.id }}", amount: 500, reason: requested_by_customer }
      - id: rest_refund
        action: stripe.refund_payment
        with: { charge: "{{ steps.paid.latest_charge }}", amount: "" }
      - response: { body: "{{ steps }}" }
"#;

/// Checkout sessions and subscriptions.
const CHECKOUT: &str = r#"
apis:
  checkout:
    method: POST
    path: /checkout
    steps:
      - id: session
        action: stripe.create_checkout_session
        with:
          mode: payment
          line_items:
            - price_data: { currency: usd, unit_amount: 1999, product_data: { name: Mug } }
              quantity: 2
          success_url: "https://shop.example/ok?session={CHECKOUT_SESSION_ID}"
          cancel_url: https://shop.example/cart
          customer_email: buyer@example.com
          client_reference_id: order-9
          metadata: { order: "9" }
      - id: updated_session
        action: stripe.update_checkout_session
        with: { id: "{{ steps.session.id }}", metadata: { order: "9", note: gift } }
      - id: retrieved_session
        action: stripe.retrieve_checkout_session
        with: { id: "{{ steps.session.id }}", expand: [line_items] }
      - id: sessions
        action: stripe.list_checkout_sessions
        with: { status: open }
      - id: line_items
        action: stripe.list_checkout_session_line_items
        with: { id: "{{ steps.session.id }}" }
      - id: expired_session
        action: stripe.expire_checkout_session
        with: { id: "{{ steps.session.id }}" }
      - id: subscriber
        action: stripe.create_customer
        with:
          email: sub@example.com
          payment_method: pm_card_visa
          invoice_settings: { default_payment_method: pm_card_visa }
      - id: monthly
        action: stripe.create_price
        with: { currency: usd, unit_amount: 900, recurring: { interval: month }, product_data: { name: Pro } }
      - id: subscription
        action: stripe.create_subscription
        with: { customer: "{{ steps.subscriber.id }}", items: [{ price: "{{ steps.monthly.id }}" }] }
      - id: updated_subscription
        action: stripe.update_subscription
        with: { id: "{{ steps.subscription.id }}", cancel_at_period_end: true, metadata: { seats: "3" } }
      - id: retrieved_subscription
        action: stripe.retrieve_subscription
        with: { id: "{{ steps.subscription.id }}" }
      - id: subscriptions
        action: stripe.list_subscriptions
        with: { customer: "{{ steps.subscriber.id }}" }
      - id: canceled_subscription
        action: stripe.cancel_subscription
        with: { id: "{{ steps.subscription.id }}" }
      - response: { body: "{{ steps }}" }
"#;

async fn post_ok(server: &TestServer, path: &str) -> Value {
    let reply = server.post(path, json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body
}

fn ids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .expect("a Stripe list")
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn products_and_prices() {
    let server = TestServer::with_sandbox(&[("catalog.yaml", CATALOG)], None).await;
    let s = post_ok(&server, "/catalog").await;
    let product = s["product"]["id"].as_str().unwrap();
    assert!(product.starts_with("prod_"));
    assert_eq!(s["product"]["metadata"]["sku"], "ts-1");
    assert_eq!(s["retrieved_product"]["name"], "T-shirt");
    assert_eq!(s["updated_product"]["name"], "Blue T-shirt");
    assert!(ids(&s["products"]).contains(&product));
    let price = s["price"]["id"].as_str().unwrap();
    assert_eq!(
        (
            s["price"]["unit_amount"].clone(),
            s["price"]["currency"].clone()
        ),
        (json!(1500), json!("usd"))
    );
    assert_eq!(s["retrieved_price"]["product"]["name"], "Blue T-shirt");
    assert_eq!(s["updated_price"]["nickname"], "Launch");
    assert_eq!(ids(&s["prices"]), vec![price]);
    assert_eq!(s["deactivated_price"]["active"], false);
    assert_eq!(s["deleted_product"]["deleted"], true);
    server.stop().await;
}

#[tokio::test]
async fn customers_invoices_and_invoice_items() {
    let server = TestServer::with_sandbox(&[("billing.yaml", BILLING)], None).await;
    let s = post_ok(&server, "/billing").await;
    let customer = s["customer"]["id"].as_str().unwrap();
    assert!(customer.starts_with("cus_"));
    assert_eq!(s["retrieved_customer"]["email"], "jenny@example.com");
    assert_eq!(s["updated_customer"]["phone"], "+15555550100");
    assert_eq!(ids(&s["customers"]), vec![customer]);
    assert_eq!(s["deleted_customer"]["deleted"], true);
    let invoice = s["invoice"]["id"].as_str().unwrap();
    assert_eq!(s["invoice"]["status"], "draft");
    assert_eq!(s["item"]["invoice"], invoice);
    assert_eq!(s["item"]["amount"], 2500);
    assert_eq!(s["updated_invoice"]["description"], "Setup fee");
    assert_eq!(s["retrieved_invoice"]["amount_due"], 2500);
    assert!(ids(&s["invoices"]).contains(&invoice));
    assert_eq!(s["deleted_invoice"]["deleted"], true);
    server.stop().await;
}

#[tokio::test]
async fn payment_intents_and_refunds() {
    let server = TestServer::with_sandbox(&[("payments.yaml", PAYMENTS)], None).await;
    let s = post_ok(&server, "/payments").await;
    let intent = s["intent"]["id"].as_str().unwrap();
    assert!(intent.starts_with("pi_"));
    assert_eq!(s["intent"]["status"], "requires_payment_method");
    assert_eq!(s["updated_intent"]["description"], "Order 8");
    assert_eq!(s["retrieved_intent"]["metadata"]["order"], "8");
    assert!(ids(&s["intents"]).contains(&intent));
    assert_eq!(s["canceled_intent"]["status"], "canceled");
    assert_eq!(s["paid"]["status"], "succeeded");
    assert_eq!(
        (
            s["partial_refund"]["amount"].clone(),
            s["partial_refund"]["status"].clone()
        ),
        (json!(500), json!("succeeded"))
    );
    // An empty amount refunds what is left.
    assert_eq!(s["rest_refund"]["amount"], 2500);
    server.stop().await;
}

#[tokio::test]
async fn checkout_sessions_and_subscriptions() {
    let server = TestServer::with_sandbox(&[("checkout.yaml", CHECKOUT)], None).await;
    let s = post_ok(&server, "/checkout").await;
    let session = s["session"]["id"].as_str().unwrap();
    assert!(session.starts_with("cs_test_"));
    assert_eq!(s["session"]["amount_total"], 3998);
    assert!(
        s["session"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/_stripe/checkout/pay/", server.base))
    );
    assert_eq!(s["updated_session"]["metadata"]["note"], "gift");
    assert_eq!(
        s["retrieved_session"]["line_items"]["data"][0]["quantity"],
        2
    );
    assert!(ids(&s["sessions"]).contains(&session));
    assert_eq!(s["line_items"]["data"][0]["description"], "Mug");
    assert_eq!(s["expired_session"]["status"], "expired");
    let subscription = s["subscription"]["id"].as_str().unwrap();
    assert_eq!(s["subscription"]["status"], "active");
    assert_eq!(s["updated_subscription"]["cancel_at_period_end"], true);
    assert_eq!(s["retrieved_subscription"]["metadata"]["seats"], "3");
    assert_eq!(ids(&s["subscriptions"]), vec![subscription]);
    assert_eq!(s["canceled_subscription"]["status"], "canceled");
    server.stop().await;
}

#[test]
fn every_action_of_the_catalogue_is_used_by_these_tests() {
    let used = [
        CATALOG,
        BILLING,
        PAYMENTS,
        CHECKOUT,
        crate::stripe_lifecycle_actions::LIFECYCLE,
    ]
    .concat();
    let missing: Vec<&str> = paywire_model::catalogue::stripe::ACTIONS
        .iter()
        .map(|a| a.name)
        .filter(|name| !used.contains(&format!("action: {name}\n")))
        .collect();
    assert!(missing.is_empty(), "untested: {missing:?}");
}

const ERRORS: &str = r#"
apis:
  pay:
    method: POST
    path: /pay
    params:
      card: { type: string, required: true }
      amount: { type: number, default: 1000 }
    steps:
      - id: intent
        action: stripe.create_payment_intent
        with:
          amount: "{{ context.parameters.amount }}"
          currency: usd
          payment_method: "{{ context.parameters.card }}"
          confirm: true
      - response: { body: { status: "{{ steps.intent.status }}" } }
  pay-caught:
    method: POST
    path: /pay-caught
    steps:
      - try:
          - action: stripe.create_payment_intent
            with: { amount: 1000, currency: usd, payment_method: pm_card_chargeDeclined, confirm: true }
        catch:
          - response:
              status: 200
              body:
                name: "{{ error.name }}"
                message: "{{ error.message }}"
                code: "{{ error.cause.code }}"
                decline_code: "{{ error.cause.decline_code }}"
                status: "{{ error.cause.status }}"
      - response: { status: 500, body: { unexpected: true } }
  missing:
    method: GET
    path: /missing
    steps:
      - id: price
        action: stripe.retrieve_price
        with: { id: price_does_not_exist }
      - response: { body: "{{ steps.price }}" }
"#;

#[tokio::test]
async fn stripe_errors_answer_with_stripe_s_status_and_message_or_are_caught() {
    let server = TestServer::with_sandbox(&[("errors.yaml", ERRORS)], None).await;
    let declined = server
        .post("/pay", json!({"card": "pm_card_chargeDeclined"}))
        .await;
    assert_eq!(declined.status, 402, "{}", declined.body);
    assert_eq!(declined.body["error"]["message"], "Your card was declined.");
    assert_eq!(declined.body["error"]["name"], "StripeCardError");
    let caught = server.post("/pay-caught", json!({})).await;
    assert_eq!(
        caught.body,
        json!({
            "name": "StripeCardError",
            "message": "Your card was declined.",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "status": 402
        })
    );
    let missing = server.get("/missing").await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert_eq!(
        missing.body["error"]["message"],
        "No such price: 'price_does_not_exist'"
    );
    // A computed amount with a fraction is refused before Stripe is called.
    let fraction = server
        .post("/pay", json!({"card": "pm_card_visa", "amount": 10.5}))
        .await;
    assert_eq!(fraction.status, 400, "{}", fraction.body);
    assert_eq!(fraction.body["error"]["name"], "StripeInputError");
    assert!(
        fraction.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("`amount`: an amount is a whole number"),
        "{}",
        fraction.body
    );
    let ok = server
        .post("/pay", json!({"card": "pm_card_visa", "amount": 1200.0}))
        .await;
    assert_eq!(
        (ok.status, ok.body["status"].clone()),
        (200, json!("succeeded"))
    );
    server.stop().await;
}

#[test]
fn stripe_steps_are_checked_when_the_project_loads() {
    let yaml = r#"
apis:
  bad:
    method: POST
    path: /bad
    steps:
      - action: stripe.create_checkout_session
        with:
          mode: payment
          succes_url: https://x
          line_items:
            - price_data: { currency: usd, unit_amount: 19.99, product_data: { name: A } }
              quantity: 1
      - action: stripe.create_payment_intent
        with: { amount: -5, currency: usd }
      - action: stripe.create_payment_intent
        with: { currency: usd }
      - action: stripe.refund_payment
        with: { amount: 100 }
      - action: stripe.create_subscription
        with: { customer: cus_1, trial_end: tomorrow }
      - response: { body: {} }
"#;
    let dir = project(&[("bad.yaml", yaml)]);
    let evaluator = paywire_expr::Evaluator::new(Default::default());
    let error = paywire_model::load_project(&dir.path().join("workflows"), &evaluator)
        .map(|_| ())
        .expect_err("the project does not check")
        .to_string();
    for expected in [
        "bad.yaml:10:11: apis.bad.steps[0].with.succes_url: `stripe.create_checkout_session` has no input `succes_url`",
        "did you mean `success_url`?",
        "bad.yaml:12:57: apis.bad.steps[0].with.line_items[0].price_data.unit_amount: `unit_amount`: an amount is a whole number of the currency's smallest unit (1999 for 19.99), found 19.99",
        "bad.yaml:15:25: apis.bad.steps[1].with.amount: `amount`: an amount cannot be negative, found -5",
        "bad.yaml:17:17: apis.bad.steps[2].with: `stripe.create_payment_intent` needs the input `amount`",
        "bad.yaml:19:17: apis.bad.steps[3].with: `stripe.refund_payment` needs one of `payment_intent` or `charge`",
        "bad.yaml:21:45: apis.bad.steps[4].with.trial_end: `trial_end` must be a Unix timestamp in seconds, or `now`",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
}

/// Creates a Stripe customer, then fails unless the `ready` table has a row:
/// a run that fails after its Stripe call, and succeeds when retried.
const FLAKY: &str = r#"
tables:
  ready:
    columns:
      id: { type: text, primary_key: true }
apis:
  signup:
    method: POST
    path: /signup
    params:
      email: { type: string, required: true }
    steps:
      - id: customer
        action: stripe.create_customer
        with: { email: "{{ context.parameters.email }}" }
      - id: gate
        action: table.select
        with: { table: ready, id: go }
      - if: "steps.gate == ()"
        then:
          - throw: { name: NotReady, message: the gate is closed, status: 503 }
      - response: { body: { customer: "{{ steps.customer.id }}" } }
  open:
    method: POST
    path: /open
    steps:
      - action: table.insert
        with: { table: ready, values: { id: go } }
      - response: { body: { open: true } }
"#;

#[tokio::test]
async fn a_retried_run_does_not_create_a_second_customer() {
    let server = TestServer::with_sandbox(&[("flaky.yaml", FLAKY)], None).await;
    let failed = server
        .post("/signup", json!({"email": "once@example.com"}))
        .await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    let failed_run = failed.run_id();
    let first = server.run(&failed_run).await;
    let created = first.steps[0].output["id"].as_str().unwrap().to_string();

    assert_eq!(server.post("/open", json!({})).await.status, 200);
    let retried = server.app.engine().retry_run(&failed_run).await.unwrap();
    assert_eq!(retried.status, paywire_store::RunStatus::Succeeded);
    let second = server.run(&retried.run_id).await;
    assert_eq!(second.run.retry_of.as_deref(), Some(failed_run.as_str()));
    assert_eq!(second.steps[0].output["id"], created.as_str());
    // A retry of the retry still uses the first run's keys.
    let again = server
        .app
        .engine()
        .retry_run(&retried.run_id)
        .await
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        format!(
            "run `{}` has status succeeded; only failed runs are retried",
            retried.run_id
        )
    );

    let customers = stripe_get(&server, "/v1/customers?email=once@example.com").await;
    assert_eq!(
        ids(&customers),
        vec![created.as_str()],
        "Stripe saw one creation"
    );
    server.stop().await;
}

async fn stripe_get(server: &TestServer, path: &str) -> Value {
    server
        .client
        .get(format!("{}/_stripe{path}", server.base))
        .bearer_auth("sk_test_from_the_test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A stand-in for Stripe that answers 503 to the first `failures` calls,
/// then creates a customer; it keeps each call's idempotency key.
async fn busy_stripe(failures: usize) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let keys: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = keys.clone();
    let app = axum::Router::new().route(
        "/v1/customers",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let seen = seen.clone();
            async move {
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let attempt = {
                    let mut seen = seen.lock().unwrap();
                    seen.push(key);
                    seen.len()
                };
                if attempt <= failures {
                    return (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(
                            json!({"error": {"type": "api_error", "message": "Stripe is busy"}}),
                        ),
                    );
                }
                (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"id": "cus_busy", "object": "customer"})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, keys)
}

const CREATE_CUSTOMER: &str = r#"
apis:
  customer:
    method: POST
    path: /customer
    steps:
      - id: customer
        action: stripe.create_customer
        with: { email: a@example.com }
      - response: { body: "{{ steps.customer }}" }
"#;

async fn server_against(api_base: &str, key: &str, attempts: u32) -> TestServer {
    let dir = project(&[("customer.yaml", CREATE_CUSTOMER)]);
    let mut settings = Settings::new(dir.path().join("workflows"), dir.path().join("p.db"));
    settings.stripe = Some(StripeSettings {
        secret_key: Secret::new(key),
        api_base: api_base.to_string(),
        retry: Backoff {
            attempts,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
        },
    });
    TestServer::start_with(dir, settings).await
}

#[tokio::test]
async fn busy_answers_are_retried_with_the_same_idempotency_key() {
    let (base, keys) = busy_stripe(2).await;
    let server = server_against(&base, "sk_test_busy_stripe_1", 3).await;
    let reply = server.post("/customer", json!({})).await;
    assert_eq!(
        (reply.status, reply.body["id"].clone()),
        (200, json!("cus_busy"))
    );
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 3);
    let run = reply.run_id();
    assert!(
        keys.iter()
            .all(|k| k.as_deref() == Some(&format!("paywire:{run}:steps[0]") as &str)),
        "{keys:?}"
    );
    server.stop().await;

    let (base, keys) = busy_stripe(usize::MAX).await;
    let server = server_against(&base, "sk_test_busy_stripe_2", 2).await;
    let reply = server.post("/customer", json!({})).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.body["error"]["message"], "Stripe is busy");
    assert_eq!(keys.lock().unwrap().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_rejected_key_is_masked_in_answers_and_records() {
    let sandbox = TestServer::with_sandbox(&[("customer.yaml", CREATE_CUSTOMER)], None).await;
    let server = server_against(
        &format!("{}/_stripe", sandbox.base),
        "sk_nope_topsecretvalue42",
        1,
    )
    .await;
    let reply: Reply = server.post("/customer", json!({})).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.body["error"]["name"], "StripeAuthenticationError");
    let run = server.run(&reply.run_id()).await;
    let everything = format!("{} {:?}", reply.body, run);
    assert!(!everything.contains("topsecretvalue42"), "{everything}");
    server.stop().await;
    sandbox.stop().await;
}
