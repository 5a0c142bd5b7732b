//! The Stripe actions that move objects on in their life, in workflows
//! against the sandbox: payment methods attached, listed, made the default
//! and detached; invoices finalized, paid, voided, marked uncollectible and
//! sent; a payment intent authorized, confirmed and captured; and Stripe's
//! refusal of paying a void invoice, caught by a workflow.

use serde_json::{Value, json};

use crate::common::TestServer;

/// One API that runs every action of this file, answering with every
/// step's result.
pub const LIFECYCLE: &str = r#"
apis:
  lifecycle:
    method: POST
    path: /lifecycle
    steps:
      - id: customer
        action: stripe.create_customer
        with: { email: ada@example.com, name: Ada }
      - id: card
        action: stripe.attach_payment_method
        with: { id: pm_card_visa, customer: "{{ steps.customer.id }}" }
      - id: spare_card
        action: stripe.attach_payment_method
        with: { id: pm_card_mastercard, customer: "{{ steps.customer.id }}" }
      - id: cards
        action: stripe.list_payment_methods
        with: { customer: "{{ steps.customer.id }}", type: card, limit: 10 }
      - id: with_default
        action: stripe.update_customer
        with:
          id: "{{ steps.customer.id }}"
          invoice_settings: { default_payment_method: "{{ steps.card.id }}" }
      - id: invoice
        action: stripe.create_invoice
        with: { customer: "{{ steps.customer.id }}" }
      - id: item
        action: stripe.create_invoice_item
        with: { customer: "{{ steps.customer.id }}", invoice: "{{ steps.invoice.id }}", amount: 2500, currency: usd }
      - id: finalized
        action: stripe.finalize_invoice
        with: { id: "{{ steps.invoice.id }}", auto_advance: false }
      - id: paid_invoice
        action: stripe.pay_invoice
        with: { id: "{{ steps.invoice.id }}", off_session: true }
      - id: to_void
        action: stripe.create_invoice
        with: { customer: "{{ steps.customer.id }}" }
      - action: stripe.create_invoice_item
        with: { customer: "{{ steps.customer.id }}", invoice: "{{ steps.to_void.id }}", amount: 900, currency: usd }
      - action: stripe.finalize_invoice
        with: { id: "{{ steps.to_void.id }}" }
      - id: voided
        action: stripe.void_invoice
        with: { id: "{{ steps.to_void.id }}" }
      - id: bad_debt
        action: stripe.create_invoice
        with: { customer: "{{ steps.customer.id }}" }
      - action: stripe.create_invoice_item
        with: { customer: "{{ steps.customer.id }}", invoice: "{{ steps.bad_debt.id }}", amount: 1200, currency: usd }
      - action: stripe.finalize_invoice
        with: { id: "{{ steps.bad_debt.id }}" }
      - id: written_off
        action: stripe.mark_invoice_uncollectible
        with: { id: "{{ steps.bad_debt.id }}" }
      - id: recovered
        action: stripe.pay_invoice
        with: { id: "{{ steps.bad_debt.id }}", payment_method: "{{ steps.spare_card.id }}" }
      - id: by_email
        action: stripe.create_invoice
        with: { customer: "{{ steps.customer.id }}", collection_method: send_invoice, days_until_due: 30 }
      - action: stripe.create_invoice_item
        with: { customer: "{{ steps.customer.id }}", invoice: "{{ steps.by_email.id }}", amount: 4000, currency: usd }
      - id: sent
        action: stripe.send_invoice
        with: { id: "{{ steps.by_email.id }}" }
      - id: settled
        action: stripe.pay_invoice
        with: { id: "{{ steps.by_email.id }}", paid_out_of_band: true }
      - id: hold
        action: stripe.create_payment_intent
        with: { amount: 5000, currency: usd, customer: "{{ steps.customer.id }}", capture_method: manual }
      - id: confirmed
        action: stripe.confirm_payment_intent
        with: { id: "{{ steps.hold.id }}", payment_method: "{{ steps.card.id }}", return_url: https://shop.example/done }
      - id: captured
        action: stripe.capture_payment_intent
        with: { id: "{{ steps.hold.id }}", amount_to_capture: 4000 }
      - id: payments
        action: stripe.list_payment_intents
        with: { customer: "{{ steps.customer.id }}", limit: 10 }
      - id: removed
        action: stripe.detach_payment_method
        with: { id: "{{ steps.spare_card.id }}" }
      - id: cards_left
        action: stripe.list_payment_methods
        with: { customer: "{{ steps.customer.id }}" }
      - response: { body: "{{ steps }}" }
  pay-void:
    method: POST
    path: /pay-void
    steps:
      - id: customer
        action: stripe.create_customer
        with: { payment_method: pm_card_visa, invoice_settings: { default_payment_method: pm_card_visa } }
      - id: invoice
        action: stripe.create_invoice
        with: { customer: "{{ steps.customer.id }}" }
      - action: stripe.create_invoice_item
        with: { customer: "{{ steps.customer.id }}", invoice: "{{ steps.invoice.id }}", amount: 700, currency: usd }
      - action: stripe.finalize_invoice
        with: { id: "{{ steps.invoice.id }}" }
      - action: stripe.void_invoice
        with: { id: "{{ steps.invoice.id }}" }
      - try:
          - action: stripe.pay_invoice
            with: { id: "{{ steps.invoice.id }}" }
        catch:
          - response:
              status: 409
              body: { name: "{{ error.name }}", message: "{{ error.message }}", status: "{{ error.cause.status }}" }
      - response: { body: { unexpected: true } }
"#;

fn ids(list: &Value) -> Vec<&str> {
    list["data"]
        .as_array()
        .expect("a Stripe list")
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn invoices_payment_intents_and_payment_methods_move_on_in_their_life() {
    let server = TestServer::with_sandbox(&[("lifecycle.yaml", LIFECYCLE)], None).await;
    let reply = server.post("/lifecycle", json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let s = &reply.body;
    let customer = s["customer"]["id"].as_str().unwrap();

    // Payment methods: attached, listed, the default of invoices, detached.
    let card = s["card"]["id"].as_str().unwrap();
    let spare = s["spare_card"]["id"].as_str().unwrap();
    assert!(card.starts_with("pm_") && card != "pm_card_visa", "{card}");
    assert_eq!(s["card"]["customer"], customer);
    let mut listed = ids(&s["cards"]);
    listed.sort();
    let mut both = vec![card, spare];
    both.sort();
    assert_eq!(listed, both);
    assert_eq!(
        s["with_default"]["invoice_settings"]["default_payment_method"],
        card
    );
    assert_eq!(s["removed"]["customer"], Value::Null);
    assert_eq!(ids(&s["cards_left"]), vec![card]);

    // An invoice finalized, then paid with the customer's default.
    assert_eq!(s["finalized"]["status"], "open");
    assert!(s["finalized"]["number"].as_str().is_some());
    assert_eq!(
        (
            s["paid_invoice"]["status"].clone(),
            s["paid_invoice"]["amount_paid"].clone()
        ),
        (json!("paid"), json!(2500))
    );
    let invoice_payment = s["payments"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["amount"] == 2500)
        .expect("the invoice's payment");
    assert_eq!(invoice_payment["payment_method"], card);
    assert_eq!(invoice_payment["status"], "succeeded");

    // Voided, written off and paid later with the card given, sent.
    assert_eq!(s["voided"]["status"], "void");
    assert!(s["voided"]["status_transitions"]["voided_at"].is_i64());
    assert_eq!(s["written_off"]["status"], "uncollectible");
    assert!(s["written_off"]["status_transitions"]["marked_uncollectible_at"].is_i64());
    assert_eq!(s["recovered"]["status"], "paid");
    let recovery = s["payments"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["amount"] == 1200)
        .expect("the recovered invoice's payment");
    assert_eq!(recovery["payment_method"], spare);
    assert_eq!(
        (s["sent"]["status"].clone(), s["sent"]["amount_due"].clone()),
        (json!("open"), json!(4000))
    );
    assert_eq!(s["settled"]["status"], "paid");

    // A payment authorized, confirmed and captured in part.
    assert_eq!(s["hold"]["status"], "requires_payment_method");
    assert_eq!(
        (
            s["confirmed"]["status"].clone(),
            s["confirmed"]["amount_capturable"].clone(),
            s["confirmed"]["payment_method"].clone()
        ),
        (json!("requires_capture"), json!(5000), json!(card))
    );
    assert_eq!(
        (
            s["captured"]["status"].clone(),
            s["captured"]["amount_received"].clone()
        ),
        (json!("succeeded"), json!(4000))
    );
    server.stop().await;
}

#[tokio::test]
async fn paying_a_void_invoice_is_stripe_s_refusal_that_a_workflow_catches() {
    let server = TestServer::with_sandbox(&[("lifecycle.yaml", LIFECYCLE)], None).await;
    let reply = server.post("/pay-void", json!({})).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "name": "StripeInvalidRequestError",
            "message": "You cannot pay an invoice with a status of void",
            "status": 400
        })
    );
    server.stop().await;
}
