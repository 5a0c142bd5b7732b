//! Conformance of the sandbox with async-stripe: one scenario calls every
//! endpoint the sandbox serves, and every successful answer and every webhook
//! event it delivers must parse into async-stripe's typed objects (of the API
//! version async-stripe pins) and pass its webhook verification.

use std::time::Duration;

use serde_json::Value;

use crate::conformance::{parse_stripe_error, parse_stripe_object, verify_and_parse_event};
use crate::sandbox::{KEY, SECRET, receiver, sandbox};

/// A Stripe client that checks every successful answer against async-stripe.
struct CheckedClient {
    base: String,
    http: reqwest::Client,
    /// Each problem as `METHOD path: reason`, so that one run lists them all.
    problems: Vec<String>,
    checked: usize,
}

impl CheckedClient {
    async fn send(&mut self, method: reqwest::Method, path: &str, form: &str) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(KEY);
        if method == reqwest::Method::GET {
            if !form.is_empty() {
                request = request.query(&form_pairs(form));
            }
        } else {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert!(
            (200..300).contains(&status),
            "{method} {path} {form}: {status} {text}"
        );
        self.checked += 1;
        if let Err(problem) = parse_stripe_object(&text) {
            self.problems.push(format!("{method} {path}: {problem}"));
        }
        serde_json::from_str(&text).unwrap()
    }

    /// Sends a request that Stripe refuses with `status`, and checks the error
    /// envelope; returns the `error` member.
    async fn refused(
        &mut self,
        status: u16,
        method: reqwest::Method,
        path: &str,
        form: &str,
    ) -> Value {
        let response = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .unwrap();
        let got = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "{method} {path} {form}: {text}");
        self.checked += 1;
        if let Err(problem) = parse_stripe_error(&text) {
            self.problems
                .push(format!("{method} {path} ({status}): {problem}"));
        }
        serde_json::from_str::<Value>(&text).unwrap()["error"].clone()
    }

    async fn get(&mut self, path: &str) -> Value {
        self.send(reqwest::Method::GET, path, "").await
    }

    async fn query(&mut self, path: &str, query: &str) -> Value {
        self.send(reqwest::Method::GET, path, query).await
    }

    async fn post(&mut self, path: &str, form: &str) -> Value {
        self.send(reqwest::Method::POST, path, form).await
    }

    async fn delete(&mut self, path: &str) -> Value {
        self.send(reqwest::Method::DELETE, path, "").await
    }

    /// Creates an object and returns its id.
    async fn create(&mut self, path: &str, form: &str) -> String {
        id(&self.post(path, form).await)
    }
}

fn form_pairs(form: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect()
}

fn id(object: &Value) -> String {
    object["id"]
        .as_str()
        .expect("the object has an id")
        .to_string()
}

#[tokio::test]
async fn every_answer_and_event_of_the_sandbox_parses_with_async_stripe() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let mut stripe = CheckedClient {
        base,
        http: reqwest::Client::new(),
        problems: Vec::new(),
        checked: 0,
    };

    // Products and prices.
    let product = stripe
        .create(
            "/v1/products",
            "name=T-shirt&description=Cotton&metadata[sku]=TS1",
        )
        .await;
    stripe.get(&format!("/v1/products/{product}")).await;
    stripe
        .post(&format!("/v1/products/{product}"), "name=Blue+T-shirt")
        .await;
    stripe.query("/v1/products", "limit=2").await;
    let spare = stripe.create("/v1/products", "name=Spare").await;
    stripe.delete(&format!("/v1/products/{spare}")).await;

    let price = stripe
        .create(
            "/v1/prices",
            &format!("currency=usd&unit_amount=2000&product={product}"),
        )
        .await;
    let monthly = stripe
        .create(
            "/v1/prices",
            "currency=eur&unit_amount=900&recurring[interval]=month&product_data[name]=Pro",
        )
        .await;
    stripe.get(&format!("/v1/prices/{price}")).await;
    stripe
        .query(&format!("/v1/prices/{monthly}"), "expand[]=product")
        .await;
    stripe
        .post(&format!("/v1/prices/{price}"), "metadata[tier]=basic")
        .await;
    stripe.query("/v1/prices", "expand[]=data.product").await;
    stripe
        .query("/v1/prices", "active=true&type=recurring")
        .await;

    // Customers and payment methods.
    let customer = stripe
        .create(
            "/v1/customers",
            "email=jenny@example.com&name=Jenny&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa",
        )
        .await;
    stripe.get(&format!("/v1/customers/{customer}")).await;
    stripe
        .post(&format!("/v1/customers/{customer}"), "phone=%2B15555550100")
        .await;
    stripe
        .query("/v1/customers", "email=jenny@example.com")
        .await;
    let leaving = stripe.create("/v1/customers", "name=Leaving").await;
    stripe.delete(&format!("/v1/customers/{leaving}")).await;

    let card = stripe
        .create(
            "/v1/payment_methods",
            "type=card&card[token]=tok_mastercard",
        )
        .await;
    stripe.get("/v1/payment_methods/pm_card_visa").await;
    stripe
        .post(
            &format!("/v1/payment_methods/{card}/attach"),
            &format!("customer={customer}"),
        )
        .await;
    stripe
        .query(
            &format!("/v1/customers/{customer}/payment_methods"),
            "type=card",
        )
        .await;
    stripe
        .query("/v1/payment_methods", &format!("customer={customer}"))
        .await;
    stripe
        .post(&format!("/v1/payment_methods/{card}/detach"), "")
        .await;

    // Payment intents, charges and refunds.
    let intent = stripe
        .create(
            "/v1/payment_intents",
            &format!("amount=2000&currency=usd&customer={customer}&metadata[order]=7"),
        )
        .await;
    stripe
        .post(
            &format!("/v1/payment_intents/{intent}"),
            "description=Order+7",
        )
        .await;
    let paid = stripe
        .post(
            &format!("/v1/payment_intents/{intent}/confirm"),
            "payment_method=pm_card_visa",
        )
        .await;
    stripe.get(&format!("/v1/payment_intents/{intent}")).await;
    stripe
        .query(
            &format!("/v1/payment_intents/{intent}"),
            "expand[]=latest_charge&expand[]=customer",
        )
        .await;
    stripe.query("/v1/payment_intents", "limit=5").await;
    let held = stripe
        .create(
            "/v1/payment_intents",
            "amount=1500&currency=usd&payment_method=pm_card_visa&confirm=true&capture_method=manual",
        )
        .await;
    stripe
        .post(
            &format!("/v1/payment_intents/{held}/capture"),
            "amount_to_capture=1000",
        )
        .await;
    let abandoned = stripe
        .create("/v1/payment_intents", "amount=700&currency=gbp")
        .await;
    stripe
        .post(
            &format!("/v1/payment_intents/{abandoned}/cancel"),
            "cancellation_reason=abandoned",
        )
        .await;

    let charge = paid["latest_charge"].as_str().unwrap().to_string();
    stripe.get(&format!("/v1/charges/{charge}")).await;
    stripe.query("/v1/charges", "limit=3").await;
    let refund = stripe
        .create(
            "/v1/refunds",
            &format!("payment_intent={intent}&amount=500&reason=requested_by_customer"),
        )
        .await;
    stripe
        .create("/v1/refunds", &format!("charge={charge}"))
        .await;
    stripe.get(&format!("/v1/refunds/{refund}")).await;
    stripe
        .post(&format!("/v1/refunds/{refund}"), "metadata[why]=late")
        .await;
    stripe
        .query("/v1/refunds", &format!("charge={charge}"))
        .await;

    // Checkout sessions, paid through the private endpoints of the hosted page.
    let session = stripe
        .create(
            "/v1/checkout/sessions",
            &format!(
                "mode=payment&line_items[0][price]={price}&line_items[0][quantity]=2\
                 &success_url=https://example.com/ok&cancel_url=https://example.com/no\
                 &customer_email=buyer@example.com&metadata[cart]=9"
            ),
        )
        .await;
    stripe
        .post(
            &format!("/v1/checkout/sessions/{session}"),
            "metadata[cart]=10",
        )
        .await;
    stripe
        .get(&format!("/v1/checkout/sessions/{session}/line_items"))
        .await;
    stripe
        .query(
            &format!("/v1/checkout/sessions/{session}"),
            "expand[]=line_items",
        )
        .await;
    let page = stripe_raw_get(&stripe, &format!("/v1/payment_pages/{session}")).await;
    assert_eq!(page["id"], session.as_str());
    stripe_raw_post(
        &stripe,
        &format!("/v1/payment_pages/{session}/confirm"),
        "payment_method=pm_card_visa&expected_amount=4000",
    )
    .await;
    stripe
        .query(
            &format!("/v1/checkout/sessions/{session}"),
            "expand[]=payment_intent",
        )
        .await;
    let subscription_session = stripe
        .create(
            "/v1/checkout/sessions",
            &format!(
                "mode=subscription&line_items[0][price]={monthly}&line_items[0][quantity]=1\
                 &success_url=https://example.com/ok&customer={customer}"
            ),
        )
        .await;
    stripe_raw_post(
        &stripe,
        &format!("/v1/payment_pages/{subscription_session}/confirm"),
        "payment_method=pm_card_visa",
    )
    .await;
    stripe
        .get(&format!("/v1/checkout/sessions/{subscription_session}"))
        .await;
    let expiring = stripe
        .create(
            "/v1/checkout/sessions",
            "mode=payment&line_items[0][price_data][currency]=usd\
             &line_items[0][price_data][unit_amount]=500\
             &line_items[0][price_data][product_data][name]=Sticker\
             &line_items[0][quantity]=1&success_url=https://example.com/ok",
        )
        .await;
    stripe
        .post(&format!("/v1/checkout/sessions/{expiring}/expire"), "")
        .await;
    stripe.query("/v1/checkout/sessions", "limit=10").await;

    // Subscriptions.
    let subscription = stripe
        .create(
            "/v1/subscriptions",
            &format!("customer={customer}&items[0][price]={monthly}&metadata[plan]=pro"),
        )
        .await;
    let trial = stripe
        .create(
            "/v1/subscriptions",
            &format!("customer={customer}&items[0][price]={monthly}&trial_period_days=14"),
        )
        .await;
    stripe
        .post(&format!("/v1/subscriptions/{trial}"), "trial_end=now")
        .await;
    stripe
        .post(
            &format!("/v1/subscriptions/{subscription}"),
            "cancel_at_period_end=true",
        )
        .await;
    stripe
        .query(
            &format!("/v1/subscriptions/{subscription}"),
            "expand[]=latest_invoice",
        )
        .await;
    stripe
        .query("/v1/subscriptions", &format!("customer={customer}"))
        .await;
    stripe.delete(&format!("/v1/subscriptions/{trial}")).await;

    // Invoices and invoice items.
    let invoice = stripe
        .create(
            "/v1/invoices",
            &format!("customer={customer}&collection_method=charge_automatically"),
        )
        .await;
    let item = stripe
        .create(
            "/v1/invoiceitems",
            &format!(
                "customer={customer}&invoice={invoice}&amount=1200&currency=eur&description=Setup"
            ),
        )
        .await;
    stripe.get(&format!("/v1/invoiceitems/{item}")).await;
    stripe
        .query("/v1/invoiceitems", &format!("customer={customer}"))
        .await;
    stripe
        .post(&format!("/v1/invoices/{invoice}"), "description=Setup+fee")
        .await;
    stripe.get(&format!("/v1/invoices/{invoice}/lines")).await;
    stripe
        .post(&format!("/v1/invoices/{invoice}/finalize"), "")
        .await;
    stripe
        .post(&format!("/v1/invoices/{invoice}/pay"), "")
        .await;
    stripe.get(&format!("/v1/invoices/{invoice}")).await;
    let draft = stripe
        .create("/v1/invoices", &format!("customer={customer}"))
        .await;
    stripe.delete(&format!("/v1/invoices/{draft}")).await;
    stripe
        .query("/v1/invoices", &format!("customer={customer}&limit=3"))
        .await;

    // An invoice's life past open, and its items changed or deleted.
    let pending = stripe
        .create(
            "/v1/invoiceitems",
            &format!("customer={customer}&amount=800&currency=usd"),
        )
        .await;
    stripe
        .post(
            &format!("/v1/invoiceitems/{pending}"),
            "amount=900&description=Support",
        )
        .await;
    stripe.delete(&format!("/v1/invoiceitems/{pending}")).await;
    let voided = stripe
        .create("/v1/invoices", &format!("customer={customer}"))
        .await;
    let dropped = stripe
        .create(
            "/v1/invoiceitems",
            &format!("customer={customer}&invoice={voided}&amount=400&currency=usd&quantity=2"),
        )
        .await;
    stripe
        .create(
            "/v1/invoiceitems",
            &format!("customer={customer}&invoice={voided}&amount=600&currency=usd"),
        )
        .await;
    stripe.delete(&format!("/v1/invoiceitems/{dropped}")).await;
    stripe
        .post(&format!("/v1/invoices/{voided}/finalize"), "")
        .await;
    stripe
        .post(&format!("/v1/invoices/{voided}/void"), "")
        .await;
    let written_off = stripe
        .create("/v1/invoices", &format!("customer={customer}"))
        .await;
    let kept = stripe
        .create(
            "/v1/invoiceitems",
            &format!("customer={customer}&invoice={written_off}&amount=700&currency=usd"),
        )
        .await;
    stripe
        .post(&format!("/v1/invoiceitems/{kept}"), "quantity=2")
        .await;
    stripe
        .post(&format!("/v1/invoices/{written_off}/finalize"), "")
        .await;
    stripe
        .post(
            &format!("/v1/invoices/{written_off}/mark_uncollectible"),
            "",
        )
        .await;
    stripe
        .post(
            &format!("/v1/invoices/{written_off}/pay"),
            "payment_method=pm_card_mastercard",
        )
        .await;
    let emailed = stripe
        .create(
            "/v1/invoices",
            &format!("customer={customer}&collection_method=send_invoice&days_until_due=14"),
        )
        .await;
    stripe
        .create(
            "/v1/invoiceitems",
            &format!("customer={customer}&invoice={emailed}&amount=2500&currency=usd"),
        )
        .await;
    stripe
        .post(&format!("/v1/invoices/{emailed}/send"), "")
        .await;

    // Refusals: Stripe's error envelope with codes async-stripe knows.
    use reqwest::Method;
    let declined = stripe
        .refused(
            402,
            Method::POST,
            "/v1/payment_intents",
            "amount=900&currency=usd&payment_method=pm_card_chargeDeclined&confirm=true",
        )
        .await;
    assert_eq!(declined["code"], "card_declined");
    assert_eq!(
        declined["payment_intent"]["status"],
        "requires_payment_method"
    );
    stripe
        .refused(404, Method::GET, "/v1/customers/cus_missing", "")
        .await;
    stripe
        .refused(400, Method::POST, "/v1/prices", "unit_amount=100")
        .await;
    stripe
        .refused(400, Method::POST, "/v1/products", "name=A&colour=red")
        .await;
    stripe
        .refused(
            400,
            Method::POST,
            "/v1/prices",
            "currency=usd&unit_amount=ten&product_data[name]=A",
        )
        .await;
    stripe
        .refused(
            400,
            Method::POST,
            "/v1/payment_intents",
            "amount=10&currency=usd",
        )
        .await;
    stripe
        .refused(
            400,
            Method::POST,
            "/v1/payment_intents",
            "amount=1000&currency=xyz",
        )
        .await;
    stripe
        .refused(400, Method::DELETE, &format!("/v1/invoices/{invoice}"), "")
        .await;
    let fresh = stripe
        .create("/v1/invoices", &format!("customer={customer}"))
        .await;
    stripe
        .refused(400, Method::POST, &format!("/v1/invoices/{fresh}/void"), "")
        .await;
    stripe
        .refused(400, Method::POST, &format!("/v1/invoices/{voided}/pay"), "")
        .await;
    stripe
        .refused(
            400,
            Method::POST,
            &format!("/v1/invoices/{invoice}/mark_uncollectible"),
            "",
        )
        .await;
    stripe
        .refused(
            400,
            Method::POST,
            &format!("/v1/invoices/{invoice}/send"),
            "",
        )
        .await;
    let not_editable = stripe
        .refused(400, Method::DELETE, &format!("/v1/invoiceitems/{kept}"), "")
        .await;
    assert_eq!(not_editable["code"], "invoice_not_editable");
    stripe
        .refused(404, Method::DELETE, "/v1/invoiceitems/ii_missing", "")
        .await;

    // Test clocks, and a paused subscription resumed.
    let clock = stripe
        .create(
            "/v1/test_helpers/test_clocks",
            "frozen_time=1767225600&name=conformance",
        )
        .await;
    stripe
        .get(&format!("/v1/test_helpers/test_clocks/{clock}"))
        .await;
    stripe.get("/v1/test_helpers/test_clocks").await;
    let on_clock = stripe
        .create("/v1/customers", &format!("test_clock={clock}"))
        .await;
    let paused = stripe
        .create(
            "/v1/subscriptions",
            &format!(
                "customer={on_clock}&items[0][price]={monthly}&trial_period_days=1&trial_settings[end_behavior][missing_payment_method]=pause"
            ),
        )
        .await;
    stripe
        .post(
            &format!("/v1/test_helpers/test_clocks/{clock}/advance"),
            "frozen_time=1767398400",
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stripe
        .get(&format!("/v1/test_helpers/test_clocks/{clock}"))
        .await["status"]
        != "ready"
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the clock stays advancing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stripe
        .post(&format!("/v1/subscriptions/{paused}/resume"), "")
        .await;
    stripe
        .delete(&format!("/v1/test_helpers/test_clocks/{clock}"))
        .await;

    // Events.
    let events = stripe.query("/v1/events", "limit=100").await;
    let first = id(&events["data"][0]);
    stripe.get(&format!("/v1/events/{first}")).await;

    let mut problems = std::mem::take(&mut stripe.problems);
    problems.sort();
    problems.dedup();

    // Every event delivered to the receiver must pass async-stripe's webhook check.
    let expected = count_events(&stripe).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received.lock().unwrap().len() < expected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = received.lock().unwrap().clone();
    assert_eq!(deliveries.len(), expected, "every event is delivered once");
    let mut event_problems = Vec::new();
    for (payload, signature) in &deliveries {
        let signature = signature.as_deref().expect("a Stripe-Signature header");
        if let Err(problem) = verify_and_parse_event(payload, signature, SECRET) {
            let kind: Value = serde_json::from_str(payload).unwrap();
            event_problems.push(format!("event {}: {problem}", kind["type"]));
        }
    }
    event_problems.sort();
    event_problems.dedup();
    problems.extend(event_problems);

    assert!(
        problems.is_empty(),
        "{} of {} answers and {} events do not conform:\n{}",
        problems.len(),
        stripe.checked,
        deliveries.len(),
        problems.join("\n")
    );
}

/// Counts every event the sandbox has recorded, paging through the list.
async fn count_events(stripe: &CheckedClient) -> usize {
    let mut count = 0;
    let mut after = String::new();
    loop {
        let query = if after.is_empty() {
            "limit=100".to_string()
        } else {
            format!("limit=100&starting_after={after}")
        };
        let page = stripe_raw_get(stripe, &format!("/v1/events?{query}")).await;
        let data = page["data"].as_array().unwrap();
        count += data.len();
        if page["has_more"] != true {
            return count;
        }
        after = id(data.last().unwrap());
    }
}

/// The private payment page endpoints answer shapes of their own that
/// async-stripe does not type; they are called without the check.
async fn stripe_raw_get(stripe: &CheckedClient, path: &str) -> Value {
    let response = stripe
        .http
        .get(format!("{}{path}", stripe.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "GET {path}");
    response.json().await.unwrap()
}

async fn stripe_raw_post(stripe: &CheckedClient, path: &str, form: &str) -> Value {
    let response = stripe
        .http
        .post(format!("{}{path}", stripe.base))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "POST {path}: {status} {body}");
    body
}
