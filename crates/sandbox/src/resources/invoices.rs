//! Invoices: the endpoints, and an invoice's life from draft to open and on
//! to paid, void or uncollectible (its lines and totals, its number,
//! charging it, sending it), which a subscription's billing cycle goes
//! through as well.

use serde_json::{Map, Value, json};

use super::catalog::CUSTOM_FIELD;
use super::payments::{PI_SHIPPING, confirm};
use super::{
    AUTOMATIC_TAX, COLLECTION_METHOD, CREATED, DISCOUNTS, ENDING_BEFORE, LIMIT, METADATA,
    STARTING_AFTER, apply_fields, check, currency, list_where, resolve_payment_method, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, list_page, random_id};

/// The payment method a customer's invoices are charged to.
pub fn default_payment_method(
    tx: &Tx<'_>,
    customer: &str,
    preferred: Option<&str>,
) -> Option<String> {
    preferred.map(str::to_string).or_else(|| {
        let c = tx.get(customer)?;
        c["invoice_settings"]["default_payment_method"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                tx.state()
                    .newest_first("payment_method")
                    .find(|pm| pm["customer"] == customer)
                    .and_then(|pm| pm["id"].as_str().map(str::to_string))
            })
    })
}

/// Adds a line to an invoice and brings its totals up to date.
pub fn push_line(invoice: &mut Value, line: Value) {
    if let Some(data) = invoice["lines"]["data"].as_array_mut() {
        data.push(line);
    }
    recompute(invoice);
}

/// Adds an invoice item to `invoice` as a line of its own.
pub fn add_item_line(invoice: &mut Value, item: &Value, now: i64) {
    let parent = json!({
        "invoice_item_details": { "invoice_item": item["id"], "proration": false, "proration_details": { "credited_items": null }, "subscription": null },
        "subscription_item_details": null,
        "type": "invoice_item_details",
    });
    let line = objects::invoice_line(
        invoice["id"].as_str().unwrap_or_default(),
        item["amount"].as_i64().unwrap_or(0),
        &item["currency"],
        item["description"].clone(),
        item["quantity"].as_i64().unwrap_or(1),
        (now, now),
        parent,
    );
    push_line(invoice, line);
}

/// Removes the line of invoice item `item` from a draft, if it has one, and
/// brings the totals up to date.
pub fn remove_item_line(invoice: &mut Value, item: &str) {
    if let Some(data) = invoice["lines"]["data"].as_array_mut() {
        data.retain(|line| !is_line_of(line, item));
    }
    recompute(invoice);
}

/// Makes the line of invoice item `item` show the item's amount, quantity
/// and description again after the item changed.
pub fn refresh_item_line(invoice: &mut Value, item: &Value) {
    let id = item["id"].as_str().unwrap_or_default();
    if let Some(data) = invoice["lines"]["data"].as_array_mut() {
        for line in data.iter_mut().filter(|line| is_line_of(line, id)) {
            let amount = item["amount"].as_i64().unwrap_or(0);
            let quantity = item["quantity"].as_i64().unwrap_or(1);
            line["amount"] = json!(amount);
            line["subtotal"] = json!(amount);
            line["quantity"] = json!(quantity);
            line["quantity_decimal"] = json!(quantity.to_string());
            line["description"] = item["description"].clone();
            line["pricing"]["unit_amount_decimal"] = json!((amount / quantity.max(1)).to_string());
        }
    }
    recompute(invoice);
}

/// Whether an invoice's line is the one of invoice item `item`.
fn is_line_of(line: &Value, item: &str) -> bool {
    line["parent"]["invoice_item_details"]["invoice_item"] == item
}

/// Totals from the lines.
fn recompute(invoice: &mut Value) {
    let subtotal: i64 = invoice["lines"]["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|l| l["amount"].as_i64())
                .fold(0, i64::saturating_add)
        })
        .unwrap_or(0);
    let paid = invoice["amount_paid"].as_i64().unwrap_or(0);
    for field in [
        "subtotal",
        "subtotal_excluding_tax",
        "total",
        "total_excluding_tax",
        "amount_due",
    ] {
        invoice[field] = json!(subtotal);
    }
    invoice["amount_remaining"] = json!(subtotal.saturating_sub(paid).max(0));
}

/// Draft to open: the invoice gets a number and is due.
pub fn finalize(tx: &mut Tx<'_>, draft: &Value) -> Value {
    let mut open = draft.clone();
    let number = format!(
        "{}-{:04}",
        tx.get(draft["customer"].as_str().unwrap_or_default())
            .and_then(|c| c["invoice_prefix"].as_str())
            .unwrap_or("SANDBOX"),
        tx.state()
            .newest_first("invoice")
            .filter(|i| i["customer"] == draft["customer"] && !i["number"].is_null())
            .count()
            + 1
    );
    open["status"] = json!("open");
    open["number"] = json!(number);
    open["effective_at"] = json!(tx.now);
    open["status_transitions"]["finalized_at"] = json!(tx.now);
    open["hosted_invoice_url"] = json!(format!(
        "{}/invoices/{}",
        tx.base_url,
        draft["id"].as_str().unwrap_or_default()
    ));
    recompute(&mut open);
    tx.put(open.clone());
    tx.emit("invoice.finalized", &open, None);
    open
}

/// Open to paid, with `amount` paid.
fn mark_paid(tx: &mut Tx<'_>, open: &Value, amount: i64) -> Value {
    let mut paid = open.clone();
    paid["status"] = json!("paid");
    paid["amount_paid"] = json!(amount);
    paid["amount_remaining"] = json!(0);
    paid["attempted"] = json!(true);
    paid["attempt_count"] =
        json!(open["attempt_count"].as_i64().unwrap_or(0) + i64::from(amount > 0));
    paid["next_payment_attempt"] = Value::Null;
    paid["status_transitions"]["paid_at"] = json!(tx.now);
    tx.put(paid.clone());
    tx.emit("invoice.paid", &paid, None);
    tx.emit("invoice.payment_succeeded", &paid, None);
    super::dunning::invoice_paid(tx, &paid);
    paid
}

/// Marks as paid an invoice that has nothing to pay.
pub fn pay_nothing(tx: &mut Tx<'_>, open: &Value) -> Value {
    mark_paid(tx, open, 0)
}

/// Pays an open invoice with a payment method; a subscription whose first
/// invoice this is becomes active.
pub fn pay(tx: &mut Tx<'_>, open: &Value, payment_method: &str) -> Result<Value, StripeError> {
    let amount = open["amount_remaining"].as_i64().unwrap_or(0);
    if amount == 0 {
        return Ok(pay_nothing(tx, open));
    }
    let currency = open["currency"].as_str().unwrap_or("usd").to_string();
    let mut params = Map::new();
    params.insert("customer".into(), open["customer"].clone());
    params.insert(
        "description".into(),
        json!(match open["billing_reason"].as_str() {
            Some("subscription_create") => "Subscription creation",
            Some("subscription_cycle") | Some("subscription_update") => "Subscription update",
            _ => "Invoice payment",
        }),
    );
    let intent = objects::payment_intent(random_id("pi_", 24), amount, &currency, &params, tx.now);
    let intent_id = intent["id"].as_str().unwrap_or_default().to_string();
    tx.put(intent.clone());
    tx.emit("payment_intent.created", &intent, None);
    match confirm(tx, &intent_id, Some(payment_method)) {
        Ok(_) => Ok(mark_paid(tx, open, amount)),
        Err(error) => {
            super::dunning::payment_failed(tx, open);
            Err(error)
        }
    }
}

pub(super) static INVOICE_CREATE: &[Param] = &[
    Param::required("customer", Kind::String),
    Param::optional("auto_advance", Kind::Boolean),
    COLLECTION_METHOD,
    Param::optional("currency", Kind::String),
    Param::optional("days_until_due", Kind::Integer),
    Param::optional("default_payment_method", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("due_date", Kind::Timestamp),
    Param::optional("footer", Kind::String),
    Param::optional(
        "pending_invoice_items_behavior",
        Kind::Enum(&["exclude", "include"]),
    ),
    // Invoicing a subscription's pending items is not implemented yet.
    Param::optional("subscription", Kind::Unsupported),
    Param::optional("statement_descriptor", Kind::String),
    AUTOMATIC_TAX,
    Param::optional("custom_fields", Kind::ObjectList(CUSTOM_FIELD)),
    DISCOUNTS,
    // Which methods pay, the PDF's rendering, a shipping rate and tax rates
    // change the invoice in ways the sandbox does not model.
    Param::optional("payment_settings", Kind::Unsupported),
    Param::optional("rendering", Kind::Unsupported),
    Param::optional("shipping_cost", Kind::Unsupported),
    Param::optional("shipping_details", Kind::Object(PI_SHIPPING)),
    Param::optional("default_tax_rates", Kind::Unsupported),
    METADATA,
    EXPAND,
];

pub fn create_invoice(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(INVOICE_CREATE, raw)?;
    let customer_id = text(&params, "customer").unwrap_or_default().to_string();
    let customer = tx.find("customer", &customer_id, "customer")?;
    if params.get("collection_method") == Some(&json!("send_invoice"))
        && params.get("days_until_due").is_none()
        && params.get("due_date").is_none()
    {
        return Err(StripeError::invalid(
            "days_until_due",
            "Invoices with `collection_method=send_invoice` need `days_until_due` or `due_date`.",
        ));
    }
    let include = params.get("pending_invoice_items_behavior") == Some(&json!("include"));
    let pending: Vec<Value> = tx
        .state()
        .newest_first("invoiceitem")
        .filter(|ii| ii["customer"] == customer_id.as_str() && ii["invoice"].is_null())
        .cloned()
        .collect();
    let currency_value = match text(&params, "currency") {
        Some(_) => json!(currency(&params, "currency")?),
        None => pending
            .first()
            .map(|ii| ii["currency"].clone())
            .unwrap_or(json!("usd")),
    };
    let id = random_id("in_", 24);
    let mut invoice = objects::invoice(&id, &customer, &currency_value, &params, tx.now);
    apply_fields(
        &mut invoice,
        &params,
        &["custom_fields", "shipping_details", "statement_descriptor"],
    );
    // A draft shows the due date its days give, counted from now.
    if let (Some(days), None) = (
        params.get("days_until_due").and_then(Value::as_i64),
        params.get("due_date").and_then(Value::as_i64),
    ) {
        invoice["due_date"] = json!(tx.now.saturating_add(days.saturating_mul(86_400)));
    }
    if include {
        for item in pending.iter().rev() {
            let mut attached = item.clone();
            attached["invoice"] = json!(id);
            tx.put(attached);
            add_item_line(&mut invoice, item, tx.now);
        }
    }
    tx.put(invoice.clone());
    tx.emit("invoice.created", &invoice, None);
    Ok(invoice)
}

pub(super) static UPDATE_INVOICE: &[Param] = &[
    Param::optional("auto_advance", Kind::Boolean),
    COLLECTION_METHOD,
    Param::optional("days_until_due", Kind::Integer),
    Param::optional("default_payment_method", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("due_date", Kind::Timestamp),
    Param::optional("footer", Kind::String),
    Param::optional("statement_descriptor", Kind::String),
    Param::optional("custom_fields", Kind::ObjectList(CUSTOM_FIELD)),
    Param::optional("rendering", Kind::Unsupported),
    Param::optional("payment_settings", Kind::Unsupported),
    METADATA,
    EXPAND,
];

pub fn update_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(UPDATE_INVOICE, raw)?;
    let before = tx.find("invoice", id, "id")?;
    let only_metadata = params.keys().all(|k| k == "metadata" || k == "expand");
    if before["status"] != "draft" && !only_metadata {
        return Err(StripeError::request(format!(
            "You can only update the metadata of an invoice that is {}; other fields change only while it is a draft.",
            before["status"].as_str().unwrap_or_default()
        )));
    }
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &[
            "auto_advance",
            "collection_method",
            "default_payment_method",
            "description",
            "due_date",
            "footer",
            "statement_descriptor",
            "custom_fields",
        ],
    );
    if let (Some(days), None) = (
        params.get("days_until_due").and_then(Value::as_i64),
        params.get("due_date"),
    ) {
        after["due_date"] = json!(tx.now.saturating_add(days.saturating_mul(86_400)));
    }
    tx.update(&before, after.clone(), Some("invoice.updated"));
    Ok(after)
}

pub fn delete_invoice(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let invoice = tx.find("invoice", id, "id")?;
    if invoice["status"] != "draft" {
        return Err(StripeError::request(
            "You can only delete draft invoices. Void the invoice instead.",
        ));
    }
    let gone = objects::deleted(id, "invoice");
    tx.put(gone.clone());
    tx.emit("invoice.deleted", &invoice, None);
    // Its items are pending again.
    let items: Vec<Value> = tx
        .state()
        .newest_first("invoiceitem")
        .filter(|ii| ii["invoice"] == id)
        .cloned()
        .collect();
    for mut item in items {
        item["invoice"] = Value::Null;
        tx.put(item);
    }
    Ok(gone)
}

pub(super) static FINALIZE_INVOICE: &[Param] =
    &[Param::optional("auto_advance", Kind::Boolean), EXPAND];

pub fn finalize_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(FINALIZE_INVOICE, raw)?;
    let invoice = tx.find("invoice", id, "id")?;
    if invoice["status"] != "draft" {
        return Err(StripeError::request(format!(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice. (Its status is {}.)",
            invoice["status"].as_str().unwrap_or_default()
        )));
    }
    let open = finalize(tx, &invoice);
    if open["amount_due"] == 0 {
        return Ok(pay_nothing(tx, &open));
    }
    Ok(open)
}

pub(super) static PAY_INVOICE: &[Param] = &[
    Param::optional("payment_method", Kind::String),
    Param::optional("paid_out_of_band", Kind::Boolean),
    Param::optional("off_session", Kind::Boolean),
    Param::optional("forgive", Kind::Boolean),
    Param::optional("source", Kind::String),
    Param::optional("mandate", Kind::String),
    EXPAND,
];

pub fn pay_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(PAY_INVOICE, raw)?;
    let mut invoice = tx.find("invoice", id, "id")?;
    let out_of_band = params.get("paid_out_of_band") == Some(&json!(true));
    // An invoice paid outside of Stripe charges nothing, so its payment
    // method plays no part.
    let given = text(&params, "payment_method").filter(|_| !out_of_band);
    let customer = invoice["customer"].as_str().unwrap_or_default().to_string();
    // An uncollectible invoice can still be paid, as in Stripe; a draft is
    // finalized once the request is known to be good.
    let draft = match status_of(&invoice) {
        "draft" => true,
        "open" | "uncollectible" => false,
        "paid" => {
            return Err(
                StripeError::request("Invoice is already paid").with_code("invoice_already_paid")
            );
        }
        other => {
            return Err(StripeError::request(format!(
                "You cannot pay an invoice with a status of {other}"
            )));
        }
    };
    if let Some(pm) = given {
        check_payment_method_owner(tx, pm, &customer)?;
    }
    if draft {
        invoice = finalize(tx, &invoice);
    }
    if out_of_band {
        let amount = invoice["amount_remaining"].as_i64().unwrap_or(0);
        return Ok(mark_paid(tx, &invoice, amount));
    }
    // A payment method given with the request comes first, then the
    // invoice's own, its subscription's, then the customer's default.
    let pm = super::dunning::payment_method_for(tx, &invoice, given).ok_or_else(|| {
        StripeError::request(
            "This customer has no attached payment source or default payment method.",
        )
        .with_code("invoice_no_customer_line_items")
    })?;
    pay(tx, &invoice, &pm)
}

/// Refuses a payment method of another customer: Stripe charges an invoice
/// only to a payment method of its own customer (an unattached test
/// payment method such as `pm_card_visa` is charged as it is).
fn check_payment_method_owner(
    tx: &mut Tx<'_>,
    pm: &str,
    customer: &str,
) -> Result<(), StripeError> {
    let (found, _) = resolve_payment_method(tx, pm, "payment_method")?;
    match found["customer"].as_str() {
        Some(owner) if owner != customer => Err(StripeError::invalid(
            "payment_method",
            format!(
                "The PaymentMethod {pm} belongs to another customer ({owner}); an invoice of {customer} is paid with a payment method attached to {customer}."
            ),
        )),
        _ => Ok(()),
    }
}

/// An invoice's status, `""` when it has none.
fn status_of(invoice: &Value) -> &str {
    invoice["status"].as_str().unwrap_or_default()
}

/// Stops an invoice's automatic collection and moves it to `status`,
/// stamping the transition's time.
fn close(tx: &mut Tx<'_>, open: &Value, status: &str, stamp: &str, event: &str) -> Value {
    let mut closed = open.clone();
    closed["status"] = json!(status);
    closed["status_transitions"][stamp] = json!(tx.now);
    closed["next_payment_attempt"] = Value::Null;
    tx.put(closed.clone());
    tx.emit(event, &closed, None);
    closed
}

/// Voids an open or uncollectible invoice: `invoice.voided`.
pub fn void(tx: &mut Tx<'_>, invoice: &Value) -> Value {
    close(tx, invoice, "void", "voided_at", "invoice.voided")
}

/// Marks an open invoice uncollectible: `invoice.marked_uncollectible`.
pub fn write_off(tx: &mut Tx<'_>, invoice: &Value) -> Value {
    close(
        tx,
        invoice,
        "uncollectible",
        "marked_uncollectible_at",
        "invoice.marked_uncollectible",
    )
}

pub fn void_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    let invoice = tx.find("invoice", id, "id")?;
    match status_of(&invoice) {
        "open" | "uncollectible" => Ok(void(tx, &invoice)),
        status => Err(StripeError::request(format!(
            "You cannot void an invoice with a status of {status}. Only open or uncollectible invoices can be voided{}.",
            if status == "draft" {
                "; delete a draft invoice instead"
            } else {
                ""
            }
        ))),
    }
}

pub fn mark_uncollectible(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    let invoice = tx.find("invoice", id, "id")?;
    match status_of(&invoice) {
        "open" => Ok(write_off(tx, &invoice)),
        status => Err(StripeError::request(format!(
            "You cannot mark an invoice with a status of {status} as uncollectible. Only open invoices can be marked uncollectible."
        ))),
    }
}

/// Sends an invoice to its customer by email (in test mode no email goes
/// out, but `invoice.sent` does). A draft is finalized first; a paid
/// invoice may be sent again, as a receipt of sorts.
pub fn send_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    let mut invoice = tx.find("invoice", id, "id")?;
    if invoice["collection_method"] != "send_invoice" {
        return Err(StripeError::request(
            "You can only manually send an invoice if its collection method is 'send_invoice'.",
        ));
    }
    match status_of(&invoice) {
        "draft" => {
            invoice = finalize(tx, &invoice);
            if invoice["amount_due"] == 0 {
                invoice = pay_nothing(tx, &invoice);
            }
        }
        "open" | "paid" | "uncollectible" => {}
        status => {
            return Err(StripeError::request(format!(
                "You cannot send an invoice with a status of {status}."
            )));
        }
    }
    tx.emit("invoice.sent", &invoice, None);
    Ok(invoice)
}

pub fn list_invoice_lines(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(super::PAGE, raw)?;
    let invoice = tx.find("invoice", id, "id")?;
    let lines = invoice["lines"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list_page(lines.iter(), &params, &format!("/v1/invoices/{id}/lines"))
}

pub(super) static LIST_INVOICES: &[Param] = &[
    Param::optional("customer", Kind::String),
    Param::optional(
        "status",
        Kind::Enum(&["draft", "open", "paid", "uncollectible", "void"]),
    ),
    Param::optional("subscription", Kind::String),
    COLLECTION_METHOD,
    // Filtering on due dates is not implemented yet.
    Param::optional("due_date", Kind::Unsupported),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_invoices(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_INVOICES, raw)?;
    // Filtered before paging, so that a page holds what it says.
    list_where(
        tx,
        "invoice",
        &params,
        &[
            "customer",
            "status",
            "collection_method",
            "parent.subscription_details.subscription",
        ],
        "/v1/invoices",
    )
}
