//! The sandbox's invoice operations over HTTP: voiding, sending, marking
//! uncollectible and paying invoices; each one's object, its events in the
//! order the sandbox recorded them and their delivery to a webhook
//! endpoint, and every refusal in Stripe's error envelope. The helpers here
//! serve `sandbox_invoice_items` too.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::sandbox::{KEY, Received, receiver, sandbox};

/// Calls the sandbox at `base` and returns the status and the JSON answer.
pub async fn call(base: &str, method: Method, path: &str, form: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Calls the sandbox and expects 200; returns the answer.
pub async fn ok(base: &str, method: Method, path: &str, form: &str) -> Value {
    let (status, body) = call(base, method.clone(), path, form).await;
    assert_eq!(status, 200, "{method} {path} {form}: {body}");
    body
}

/// Calls the sandbox and expects Stripe's refusal with `status`; returns
/// the `error` member, which always says what went wrong.
pub async fn refused(base: &str, status: u16, method: Method, path: &str, form: &str) -> Value {
    let (got, body) = call(base, method.clone(), path, form).await;
    assert_eq!(got, status, "{method} {path} {form}: {body}");
    let error = body["error"].clone();
    assert_eq!(error["type"], "invalid_request_error", "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    error
}

pub fn id(object: &Value) -> String {
    object["id"].as_str().expect("an id").to_string()
}

/// The events about object `object_id`, oldest first, as the sandbox
/// recorded them: their ids and types.
async fn events_of(base: &str, object_id: &str) -> Vec<(String, String)> {
    let page = ok(base, Method::GET, "/v1/events?limit=100", "").await;
    let mut events: Vec<(String, String)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == object_id)
        .map(|e| (id(e), e["type"].as_str().unwrap().to_string()))
        .collect();
    events.reverse();
    events
}

/// The types of `object_id`'s events, oldest first, once the receiver has
/// every one of them; the deliveries run side by side, so their order of
/// arrival is not the order of the events.
pub async fn delivered_types(base: &str, object_id: &str, received: &Received) -> Vec<String> {
    let events = events_of(base, object_id).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let arrived: Vec<Value> = received
            .lock()
            .unwrap()
            .iter()
            .map(|(body, _)| serde_json::from_str(body).unwrap())
            .collect();
        let missing: Vec<&(String, String)> = events
            .iter()
            .filter(|(event, _)| !arrived.iter().any(|a| a["id"] == event.as_str()))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    events.into_iter().map(|(_, kind)| kind).collect()
}

/// A customer whose invoices are charged to `pm_card_visa`.
pub async fn customer(base: &str) -> String {
    id(&ok(
        base,
        Method::POST,
        "/v1/customers",
        "email=ada@example.com&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa",
    )
    .await)
}

/// A draft invoice of `customer` with one item of `amount` cents.
pub async fn draft(base: &str, customer: &str, extra: &str, amount: i64) -> String {
    let invoice = id(&ok(
        base,
        Method::POST,
        "/v1/invoices",
        &format!("customer={customer}{extra}"),
    )
    .await);
    ok(
        base,
        Method::POST,
        "/v1/invoiceitems",
        &format!(
            "customer={customer}&invoice={invoice}&amount={amount}&currency=usd&description=Work"
        ),
    )
    .await;
    invoice
}

/// An open invoice of `customer` for `amount` cents.
async fn open(base: &str, customer: &str, extra: &str, amount: i64) -> String {
    let invoice = draft(base, customer, extra, amount).await;
    let open = ok(
        base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/finalize"),
        "",
    )
    .await;
    assert_eq!(open["status"], "open");
    invoice
}

pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn an_open_invoice_is_voided_and_only_an_open_or_uncollectible_one() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let customer = customer(&base).await;
    let invoice = open(&base, &customer, "", 2000).await;

    let voided = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/void"),
        "",
    )
    .await;
    assert_eq!(voided["status"], "void");
    assert!(voided["status_transitions"]["voided_at"].as_i64().unwrap() > 0);
    assert!(
        voided["status_transitions"]["finalized_at"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert_eq!(voided["next_payment_attempt"], Value::Null);
    assert_eq!(voided["amount_due"], 2000);
    assert_eq!(voided["amount_paid"], 0);
    let stored = ok(&base, Method::GET, &format!("/v1/invoices/{invoice}"), "").await;
    assert_eq!(stored["status"], "void");
    assert_eq!(
        delivered_types(&base, &invoice, &received).await,
        strings(&[
            "invoice.created",
            "invoice.updated",
            "invoice.finalized",
            "invoice.voided"
        ])
    );

    // A void invoice can be neither voided again, paid, sent nor written off.
    let again = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{invoice}/void"),
        "",
    )
    .await;
    assert_eq!(
        again["message"],
        "You cannot void an invoice with a status of void. Only open or uncollectible invoices can be voided."
    );
    let pay = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{invoice}/pay"),
        "",
    )
    .await;
    assert_eq!(
        pay["message"],
        "You cannot pay an invoice with a status of void"
    );
    refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{invoice}/mark_uncollectible"),
        "",
    )
    .await;

    // A draft is deleted, not voided; a paid invoice stays paid.
    let draft = draft(&base, &customer, "", 500).await;
    let error = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{draft}/void"),
        "",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .ends_with("; delete a draft invoice instead."),
        "{error}"
    );
    let paid = open(&base, &customer, "", 700).await;
    ok(&base, Method::POST, &format!("/v1/invoices/{paid}/pay"), "").await;
    let error = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{paid}/void"),
        "",
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("You cannot void an invoice with a status of paid."),
        "{error}"
    );

    // Unknown invoices and parameters.
    let missing = refused(&base, 404, Method::POST, "/v1/invoices/in_nope/void", "").await;
    assert_eq!(
        (
            missing["code"].clone(),
            missing["param"].clone(),
            missing["message"].clone()
        ),
        (
            Value::from("resource_missing"),
            Value::from("id"),
            Value::from("No such invoice: 'in_nope'")
        )
    );
    let unknown = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{draft}/void"),
        "reason=duplicate",
    )
    .await;
    assert_eq!(
        (unknown["code"].clone(), unknown["param"].clone()),
        (Value::from("parameter_unknown"), Value::from("reason"))
    );
    // A refused request leaves the draft as it was.
    let still = ok(&base, Method::GET, &format!("/v1/invoices/{draft}"), "").await;
    assert_eq!(still["status"], "draft");
}

#[tokio::test]
async fn an_open_invoice_is_marked_uncollectible_and_can_still_be_paid_or_voided() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let customer = customer(&base).await;
    let invoice = open(&base, &customer, "", 1200).await;

    let written_off = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/mark_uncollectible"),
        "",
    )
    .await;
    assert_eq!(written_off["status"], "uncollectible");
    assert!(
        written_off["status_transitions"]["marked_uncollectible_at"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert_eq!(written_off["status_transitions"]["voided_at"], Value::Null);
    assert_eq!(written_off["amount_remaining"], 1200);
    let again = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{invoice}/mark_uncollectible"),
        "",
    )
    .await;
    assert_eq!(
        again["message"],
        "You cannot mark an invoice with a status of uncollectible as uncollectible. Only open invoices can be marked uncollectible."
    );

    // An uncollectible invoice can still be paid.
    let paid = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/pay"),
        "",
    )
    .await;
    assert_eq!(
        (paid["status"].clone(), paid["amount_paid"].clone()),
        (Value::from("paid"), Value::from(1200))
    );
    assert_eq!(
        delivered_types(&base, &invoice, &received).await,
        strings(&[
            "invoice.created",
            "invoice.updated",
            "invoice.finalized",
            "invoice.marked_uncollectible",
            "invoice.paid",
            "invoice.payment_succeeded"
        ])
    );

    // Or voided.
    let other = open(&base, &customer, "", 900).await;
    ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{other}/mark_uncollectible"),
        "",
    )
    .await;
    let voided = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{other}/void"),
        "",
    )
    .await;
    assert_eq!(voided["status"], "void");
    assert!(
        voided["status_transitions"]["marked_uncollectible_at"]
            .as_i64()
            .is_some()
    );

    // Only an open invoice is written off.
    for (invoice, status) in [
        (draft(&base, &customer, "", 300).await, "draft"),
        (invoice, "paid"),
        (other, "void"),
    ] {
        let error = refused(
            &base,
            400,
            Method::POST,
            &format!("/v1/invoices/{invoice}/mark_uncollectible"),
            "",
        )
        .await;
        assert!(
            error["message"].as_str().unwrap().starts_with(&format!(
                "You cannot mark an invoice with a status of {status} as uncollectible."
            )),
            "{error}"
        );
    }
    refused(
        &base,
        404,
        Method::POST,
        "/v1/invoices/in_nope/mark_uncollectible",
        "",
    )
    .await;
}

#[tokio::test]
async fn a_send_invoice_invoice_is_finalized_and_sent() {
    let (hook, received) = receiver().await;
    let (base, _dir) = sandbox(Some(hook)).await;
    let customer = customer(&base).await;
    let by_email = "&collection_method=send_invoice&days_until_due=7";
    let invoice = draft(&base, &customer, by_email, 4200).await;

    let sent = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/send"),
        "",
    )
    .await;
    assert_eq!(sent["status"], "open");
    assert_eq!(sent["collection_method"], "send_invoice");
    assert!(sent["number"].as_str().is_some(), "{sent}");
    assert!(sent["hosted_invoice_url"].as_str().is_some(), "{sent}");
    assert_eq!(sent["amount_due"], 4200);
    // An open invoice can be sent again.
    let resent = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/send"),
        "",
    )
    .await;
    assert_eq!(resent["number"], sent["number"]);
    assert_eq!(
        delivered_types(&base, &invoice, &received).await,
        strings(&[
            "invoice.created",
            "invoice.updated",
            "invoice.finalized",
            "invoice.sent",
            "invoice.sent"
        ])
    );

    // A draft with nothing to pay is paid when it is finalized, then sent.
    let nothing = id(&ok(
        &base,
        Method::POST,
        "/v1/invoices",
        &format!("customer={customer}{by_email}"),
    )
    .await);
    let settled = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{nothing}/send"),
        "",
    )
    .await;
    assert_eq!(settled["status"], "paid");
    assert_eq!(
        delivered_types(&base, &nothing, &received).await,
        strings(&[
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "invoice.sent"
        ])
    );

    // Only invoices collected by email are sent, and never a void one.
    let charged = draft(&base, &customer, "", 100).await;
    let error = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{charged}/send"),
        "",
    )
    .await;
    assert_eq!(
        error["message"],
        "You can only manually send an invoice if its collection method is 'send_invoice'."
    );
    let still = ok(&base, Method::GET, &format!("/v1/invoices/{charged}"), "").await;
    assert_eq!(still["status"], "draft");
    ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/void"),
        "",
    )
    .await;
    let error = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{invoice}/send"),
        "",
    )
    .await;
    assert_eq!(
        error["message"],
        "You cannot send an invoice with a status of void."
    );
    refused(&base, 404, Method::POST, "/v1/invoices/in_nope/send", "").await;
    let unknown = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{charged}/send"),
        "email=ada@example.com",
    )
    .await;
    assert_eq!(unknown["code"], "parameter_unknown");
}

#[tokio::test]
async fn paying_uses_the_payment_method_given_and_refuses_what_stripe_refuses() {
    let (base, _dir) = sandbox(None).await;
    let customer = customer(&base).await;
    let invoice = open(&base, &customer, "", 1500).await;

    // The payment method given comes before the customer's default.
    let declined = call(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/pay"),
        "payment_method=pm_card_chargeDeclined",
    )
    .await;
    assert_eq!(declined.0, 402, "{}", declined.1);
    assert_eq!(declined.1["error"]["decline_code"], "generic_decline");
    let attempted = ok(&base, Method::GET, &format!("/v1/invoices/{invoice}"), "").await;
    assert_eq!(
        (
            attempted["status"].clone(),
            attempted["attempt_count"].clone()
        ),
        (Value::from("open"), Value::from(1))
    );
    let paid = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{invoice}/pay"),
        "payment_method=pm_card_mastercard",
    )
    .await;
    assert_eq!(paid["status"], "paid");
    let intents = ok(
        &base,
        Method::GET,
        &format!("/v1/payment_intents?customer={customer}&limit=1&expand[]=data.latest_charge"),
        "",
    )
    .await;
    let intent = &intents["data"][0];
    assert_eq!(intent["payment_method"], "pm_card_mastercard");
    assert_eq!(
        intent["latest_charge"]["payment_method_details"]["card"]["brand"],
        "mastercard"
    );

    let again = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{invoice}/pay"),
        "",
    )
    .await;
    assert_eq!(again["message"], "Invoice is already paid");

    // A payment method of another customer, or none that exists.
    let other = id(&ok(&base, Method::POST, "/v1/customers", "name=Other").await);
    let theirs = id(&ok(
        &base,
        Method::POST,
        "/v1/payment_methods/pm_card_visa/attach",
        &format!("customer={other}"),
    )
    .await);
    let second = open(&base, &customer, "", 800).await;
    let error = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{second}/pay"),
        &format!("payment_method={theirs}"),
    )
    .await;
    assert_eq!(error["param"], "payment_method");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("belongs to another customer"),
        "{error}"
    );
    let missing = refused(
        &base,
        404,
        Method::POST,
        &format!("/v1/invoices/{second}/pay"),
        "payment_method=pm_nope",
    )
    .await;
    assert_eq!(
        (missing["param"].clone(), missing["code"].clone()),
        (
            Value::from("payment_method"),
            Value::from("resource_missing")
        )
    );
    let wrong = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{second}/pay"),
        "paid_out_of_band=maybe",
    )
    .await;
    assert_eq!(wrong["param"], "paid_out_of_band");
    let unchanged = ok(&base, Method::GET, &format!("/v1/invoices/{second}"), "").await;
    assert_eq!(
        (
            unchanged["status"].clone(),
            unchanged["attempt_count"].clone()
        ),
        (Value::from("open"), Value::from(0))
    );

    // Paid outside of Stripe: nothing is charged.
    let out_of_band = ok(
        &base,
        Method::POST,
        &format!("/v1/invoices/{second}/pay"),
        "paid_out_of_band=true",
    )
    .await;
    assert_eq!(
        (
            out_of_band["status"].clone(),
            out_of_band["amount_paid"].clone()
        ),
        (Value::from("paid"), Value::from(800))
    );
    let intents = ok(
        &base,
        Method::GET,
        &format!("/v1/payment_intents?customer={customer}"),
        "",
    )
    .await;
    assert_eq!(intents["data"].as_array().unwrap().len(), 2, "{intents}");

    // A customer without any payment method cannot pay by card.
    let bare = id(&ok(&base, Method::POST, "/v1/customers", "name=Bare").await);
    let unpaid = open(&base, &bare, "", 600).await;
    let error = refused(
        &base,
        400,
        Method::POST,
        &format!("/v1/invoices/{unpaid}/pay"),
        "",
    )
    .await;
    assert_eq!(
        error["message"],
        "This customer has no attached payment source or default payment method."
    );
}
