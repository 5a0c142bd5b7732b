//! Subscriptions, invoices and invoice items.

use chrono::{DateTime, Months, Utc};
use serde_json::{Map, Value, json};

use super::payments::confirm;
use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, card_of, check,
    currency, list_where, resolve_payment_method, text,
};
use crate::cards::Outcome;
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, list_page, random_id};

/// The end of a billing period that starts at `start`.
fn add_interval(start: i64, interval: &str, count: i64) -> i64 {
    let count = count.max(1);
    let months = match interval {
        "day" => return start + 86_400 * count,
        "week" => return start + 7 * 86_400 * count,
        "year" => 12 * count,
        _ => count,
    };
    DateTime::<Utc>::from_timestamp(start, 0)
        .and_then(|t| t.checked_add_months(Months::new(months as u32)))
        .map(|t| t.timestamp())
        .unwrap_or(start + 30 * 86_400 * count)
}

pub struct SubscriptionOptions {
    pub trial_days: Option<i64>,
    pub trial_end: Option<i64>,
    pub metadata: Value,
    pub default_payment_method: Option<String>,
    pub description: Value,
}

/// The payment method a customer's invoices are charged to.
fn default_payment_method(tx: &Tx<'_>, customer: &str, preferred: Option<&str>) -> Option<String> {
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

/// Starts a subscription: its first invoice is paid at once, or is free
/// during a trial. The events follow as Stripe sends them.
pub fn start_subscription(
    tx: &mut Tx<'_>,
    customer: &str,
    items: &[(Value, i64)],
    options: SubscriptionOptions,
) -> Result<Value, StripeError> {
    let Some((first, _)) = items.first() else {
        return Err(StripeError::missing("items"));
    };
    for (i, (price, _)) in items.iter().enumerate() {
        if price["type"] != "recurring" {
            return Err(StripeError::invalid(
                &format!("items[{i}][price]"),
                format!(
                    "The price specified ({}) is not recurring. Subscriptions only take recurring prices.",
                    price["id"].as_str().unwrap_or_default()
                ),
            ));
        }
        if price["currency"] != first["currency"] {
            return Err(StripeError::invalid(
                &format!("items[{i}][price]"),
                "All prices on a subscription must have the same currency.",
            ));
        }
    }
    let now = tx.now;
    let trial_end = options.trial_end.or(options
        .trial_days
        .filter(|d| *d > 0)
        .map(|d| now + d * 86_400));
    let interval = first["recurring"]["interval"].as_str().unwrap_or("month");
    let count = first["recurring"]["interval_count"].as_i64().unwrap_or(1);
    let period = (
        now,
        trial_end.unwrap_or_else(|| add_interval(now, interval, count)),
    );
    let id = random_id("sub_", 24);
    let sub_items: Vec<Value> = items
        .iter()
        .map(|(price, qty)| objects::subscription_item(price, *qty, &id, period, now))
        .collect();
    let mut params = Map::new();
    params.insert("metadata".into(), options.metadata.clone());
    params.insert("description".into(), options.description.clone());
    let mut subscription = objects::subscription(
        &id,
        customer,
        &first["currency"],
        sub_items.clone(),
        &params,
        now,
    );
    let payment_method =
        default_payment_method(tx, customer, options.default_payment_method.as_deref());
    subscription["default_payment_method"] = json!(options.default_payment_method);

    let will_pay = payment_method
        .as_deref()
        .and_then(|pm| {
            tx.get(pm)
                .and_then(card_of)
                .or_else(|| crate::cards::by_test_name(pm))
        })
        .is_some_and(|card| card.outcome == Outcome::Succeeds);
    subscription["status"] = json!(match (trial_end.is_some(), will_pay) {
        (true, _) => "trialing",
        (false, true) => "active",
        (false, false) => "incomplete",
    });
    if let Some(end) = trial_end {
        subscription["trial_start"] = json!(now);
        subscription["trial_end"] = json!(end);
    }
    let invoice_id = random_id("in_", 24);
    subscription["latest_invoice"] = json!(invoice_id);
    tx.put(subscription.clone());
    tx.emit("customer.subscription.created", &subscription, None);

    let mut invoice = bill_subscription(
        tx,
        &invoice_id,
        &subscription,
        period,
        "subscription_create",
        trial_end.is_some(),
    )?;
    if invoice["default_payment_method"].is_null() {
        invoice["default_payment_method"] = json!(payment_method);
        tx.put(invoice.clone());
    }
    match payment_method {
        Some(pm) => {
            if let Err(e) = pay(tx, &invoice, &pm) {
                // The subscription stays incomplete with its invoice open, as
                // Stripe leaves it when the first payment fails.
                tracing::debug!(subscription = %id, error = %e.message, "the first invoice of a subscription was declined");
            }
        }
        None if invoice["amount_due"] == 0 => {
            pay_nothing(tx, &invoice);
        }
        None => {}
    }
    Ok(tx.get(&id).cloned().unwrap_or(subscription))
}

/// Creates the invoice for one period of a subscription's items (free during
/// a trial), emits `invoice.created` and finalizes it.
fn bill_subscription(
    tx: &mut Tx<'_>,
    invoice_id: &str,
    subscription: &Value,
    period: (i64, i64),
    billing_reason: &str,
    free: bool,
) -> Result<Value, StripeError> {
    let id = &subscription["id"];
    let currency = &subscription["currency"];
    let customer = tx.find(
        "customer",
        subscription["customer"].as_str().unwrap_or_default(),
        "customer",
    )?;
    let mut params = Map::new();
    params.insert("auto_advance".into(), json!(true));
    let mut invoice = objects::invoice(invoice_id, &customer, currency, &params, tx.now);
    invoice["billing_reason"] = json!(billing_reason);
    invoice["parent"] = json!({
        "quote_details": null,
        "subscription_details": { "metadata": subscription["metadata"], "subscription": id },
        "type": "subscription_details",
    });
    invoice["period_start"] = json!(period.0);
    invoice["period_end"] = json!(period.0);
    let items = subscription["items"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for item in &items {
        let qty = item["quantity"].as_i64().unwrap_or(1);
        let amount = if free {
            0
        } else {
            item["price"]["unit_amount"].as_i64().unwrap_or(0) * qty
        };
        let product = tx
            .get(item["price"]["product"].as_str().unwrap_or_default())
            .and_then(|p| p["name"].as_str().map(str::to_string));
        let description = json!(format!(
            "{qty} × {}",
            product.as_deref().unwrap_or("subscription")
        ));
        let parent = json!({
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null,
                "proration": false,
                "proration_details": { "credited_items": null },
                "subscription": id,
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        });
        push_line(
            &mut invoice,
            objects::invoice_line(
                invoice_id,
                amount,
                currency,
                description,
                qty,
                period,
                parent,
            ),
        );
    }
    tx.put(invoice.clone());
    tx.emit("invoice.created", &invoice, None);
    Ok(finalize(tx, &invoice))
}

fn push_line(invoice: &mut Value, line: Value) {
    if let Some(data) = invoice["lines"]["data"].as_array_mut() {
        data.push(line);
    }
    recompute(invoice);
}

/// Totals from the lines.
fn recompute(invoice: &mut Value) {
    let subtotal: i64 = invoice["lines"]["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|l| l["amount"].as_i64()).sum())
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
    invoice["amount_remaining"] = json!((subtotal - paid).max(0));
}

/// Draft to open: the invoice gets a number and is due.
fn finalize(tx: &mut Tx<'_>, draft: &Value) -> Value {
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

fn mark_paid(tx: &mut Tx<'_>, open: &Value, amount: i64) -> Value {
    let mut paid = open.clone();
    paid["status"] = json!("paid");
    paid["amount_paid"] = json!(amount);
    paid["amount_remaining"] = json!(0);
    paid["attempted"] = json!(true);
    paid["attempt_count"] = json!(if amount > 0 { 1 } else { 0 });
    paid["status_transitions"]["paid_at"] = json!(tx.now);
    tx.put(paid.clone());
    tx.emit("invoice.paid", &paid, None);
    tx.emit("invoice.payment_succeeded", &paid, None);
    paid
}

fn pay_nothing(tx: &mut Tx<'_>, open: &Value) -> Value {
    mark_paid(tx, open, 0)
}

/// Pays an open invoice with a payment method; a subscription whose first
/// invoice this is becomes active.
fn pay(tx: &mut Tx<'_>, open: &Value, payment_method: &str) -> Result<Value, StripeError> {
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
            let mut failed = open.clone();
            failed["attempted"] = json!(true);
            failed["attempt_count"] = json!(failed["attempt_count"].as_i64().unwrap_or(0) + 1);
            tx.put(failed.clone());
            tx.emit("invoice.payment_failed", &failed, None);
            Err(error)
        }
    }
}

static SUBSCRIPTION_CREATE: &[Param] = &[
    Param::required("customer", Kind::String),
    Param::optional(
        "items",
        Kind::ObjectList(&[
            Param::optional("price", Kind::String),
            Param::optional("quantity", Kind::Integer),
            Param::optional("price_data", Kind::Any),
            Param::optional("tax_rates", Kind::StringList),
            Param::optional("discounts", Kind::Any),
            METADATA,
        ]),
    ),
    Param::optional("default_payment_method", Kind::String),
    Param::optional("trial_period_days", Kind::Integer),
    Param::optional("trial_end", Kind::Any),
    Param::optional("description", Kind::String),
    Param::optional("currency", Kind::String),
    Param::optional(
        "collection_method",
        Kind::Enum(&["charge_automatically", "send_invoice"]),
    ),
    Param::optional("days_until_due", Kind::Integer),
    Param::optional(
        "payment_behavior",
        Kind::Enum(&[
            "allow_incomplete",
            "default_incomplete",
            "error_if_incomplete",
            "pending_if_incomplete",
        ]),
    ),
    Param::optional("proration_behavior", Kind::String),
    Param::optional("cancel_at_period_end", Kind::Boolean),
    Param::optional("cancel_at", Kind::Timestamp),
    Param::optional("off_session", Kind::Boolean),
    Param::optional("payment_settings", Kind::Any),
    Param::optional("automatic_tax", Kind::Any),
    Param::optional("discounts", Kind::Any),
    Param::optional("coupon", Kind::String),
    Param::optional("promotion_code", Kind::String),
    Param::optional("default_tax_rates", Kind::StringList),
    Param::optional("trial_settings", Kind::Any),
    Param::optional("billing_cycle_anchor", Kind::Timestamp),
    METADATA,
    EXPAND,
];

fn trial_end_param(tx: &Tx<'_>, value: Option<&Value>) -> Result<Option<i64>, StripeError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) if s == "now" => Ok(Some(tx.now)),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Some)
            .ok_or_else(|| {
                StripeError::invalid(
                    "trial_end",
                    "Invalid timestamp: must be an integer Unix timestamp, or `now`.",
                )
            }),
    }
}

pub fn create_subscription(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(SUBSCRIPTION_CREATE, raw)?;
    let customer = text(&params, "customer").unwrap_or_default().to_string();
    tx.find("customer", &customer, "customer")?;
    let given = params
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if given.is_empty() {
        return Err(StripeError::missing("items"));
    }
    let mut items = Vec::new();
    for (i, item) in given.iter().enumerate() {
        let price_id = item["price"]
            .as_str()
            .ok_or_else(|| StripeError::missing(&format!("items[{i}][price]")))?;
        let price = tx.find("price", price_id, &format!("items[{i}][price]"))?;
        items.push((price, item["quantity"].as_i64().unwrap_or(1)));
    }
    if let Some(pm) = text(&params, "default_payment_method") {
        let (found, _) = resolve_payment_method(tx, pm, "default_payment_method")?;
        if found["customer"] != customer.as_str() && crate::cards::by_test_name(pm).is_none() {
            return Err(StripeError::invalid(
                "default_payment_method",
                "The payment method must be attached to the customer.",
            ));
        }
    }
    let trial_end = trial_end_param(tx, params.get("trial_end"))?;
    if params.get("payment_behavior") == Some(&json!("error_if_incomplete")) {
        let pm = default_payment_method(tx, &customer, text(&params, "default_payment_method"));
        if pm.is_none() && trial_end.is_none() && params.get("trial_period_days").is_none() {
            return Err(StripeError::new(
                402,
                "invalid_request_error",
                "This customer has no attached payment source or default payment method.",
            )
            .with_code("resource_missing"));
        }
    }
    let subscription = start_subscription(
        tx,
        &customer,
        &items,
        SubscriptionOptions {
            trial_days: params.get("trial_period_days").and_then(Value::as_i64),
            trial_end: trial_end.filter(|end| *end > tx.now),
            metadata: objects::metadata(params.get("metadata")),
            default_payment_method: text(&params, "default_payment_method").map(str::to_string),
            description: params.get("description").cloned().unwrap_or(Value::Null),
        },
    )?;
    let mut subscription = subscription;
    if params.get("cancel_at_period_end") == Some(&json!(true)) {
        subscription["cancel_at_period_end"] = json!(true);
        tx.put(subscription.clone());
    }
    Ok(subscription)
}

pub fn update_subscription(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional(
            "items",
            Kind::ObjectList(&[
                Param::optional("id", Kind::String),
                Param::optional("price", Kind::String),
                Param::optional("quantity", Kind::Integer),
                Param::optional("deleted", Kind::Boolean),
                Param::optional("price_data", Kind::Any),
                Param::optional("tax_rates", Kind::StringList),
                Param::optional("discounts", Kind::Any),
                METADATA,
            ]),
        ),
        Param::optional("cancel_at_period_end", Kind::Boolean),
        Param::optional("cancel_at", Kind::Any),
        Param::optional("trial_end", Kind::Any),
        Param::optional("default_payment_method", Kind::String),
        Param::optional("description", Kind::String),
        Param::optional(
            "collection_method",
            Kind::Enum(&["charge_automatically", "send_invoice"]),
        ),
        Param::optional("days_until_due", Kind::Integer),
        Param::optional("proration_behavior", Kind::String),
        Param::optional("payment_behavior", Kind::String),
        Param::optional("pause_collection", Kind::Any),
        Param::optional("cancellation_details", Kind::Any),
        Param::optional("off_session", Kind::Boolean),
        Param::optional("payment_settings", Kind::Any),
        Param::optional("automatic_tax", Kind::Any),
        Param::optional("discounts", Kind::Any),
        Param::optional("default_tax_rates", Kind::Any),
        Param::optional("trial_settings", Kind::Any),
        Param::optional("billing_cycle_anchor", Kind::Any),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find("subscription", id, "id")?;
    if before["status"] == "canceled" {
        return Err(StripeError::request(format!(
            "A canceled subscription can only update its cancellation_details and metadata. ({id})"
        )));
    }
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &[
            "cancel_at_period_end",
            "description",
            "collection_method",
            "days_until_due",
        ],
    );
    if let Some(pm) = text(&params, "default_payment_method") {
        resolve_payment_method(tx, pm, "default_payment_method")?;
        after["default_payment_method"] = json!(pm);
    }
    if let Some(cancel_at) = params.get("cancel_at") {
        after["cancel_at"] = if *cancel_at == "" {
            Value::Null
        } else {
            json!(
                cancel_at
                    .as_i64()
                    .or_else(|| cancel_at.as_str().and_then(|s| s.parse().ok()))
            )
        };
    }
    if let Some(items) = params.get("items").and_then(Value::as_array) {
        let mut current: Vec<Value> = after["items"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (i, change) in items.iter().enumerate() {
            let existing = change["id"]
                .as_str()
                .and_then(|sid| current.iter().position(|it| it["id"] == sid));
            if change["deleted"] == true {
                if let Some(at) = existing {
                    current.remove(at);
                }
                continue;
            }
            let price = match change["price"].as_str() {
                Some(p) => Some(tx.find("price", p, &format!("items[{i}][price]"))?),
                None => None,
            };
            match existing {
                Some(at) => {
                    if let Some(price) = price {
                        current[at]["price"] = price.clone();
                        current[at]["plan"] = objects::plan_of(&price);
                    }
                    if let Some(qty) = change["quantity"].as_i64() {
                        current[at]["quantity"] = json!(qty);
                    }
                }
                None => {
                    let price =
                        price.ok_or_else(|| StripeError::missing(&format!("items[{i}][price]")))?;
                    let start = current
                        .first()
                        .and_then(|it| it["current_period_start"].as_i64())
                        .unwrap_or(tx.now);
                    let end = current
                        .first()
                        .and_then(|it| it["current_period_end"].as_i64())
                        .unwrap_or(tx.now);
                    current.push(objects::subscription_item(
                        &price,
                        change["quantity"].as_i64().unwrap_or(1),
                        id,
                        (start, end),
                        tx.now,
                    ));
                }
            }
        }
        after["items"]["data"] = json!(current);
    }
    if let Some(trial_end) = trial_end_param(tx, params.get("trial_end"))? {
        if trial_end <= tx.now {
            end_trial(tx, &mut after)?;
        } else {
            after["trial_end"] = json!(trial_end);
        }
    }
    tx.update(
        &before,
        after.clone(),
        Some("customer.subscription.updated"),
    );
    Ok(after)
}

/// Ends a trial now: the subscription is billed and becomes active (or
/// past_due when the payment fails).
fn end_trial(tx: &mut Tx<'_>, subscription: &mut Value) -> Result<(), StripeError> {
    let customer = subscription["customer"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let items: Vec<Value> = subscription["items"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let now = tx.now;
    let first_price = items
        .first()
        .map(|i| i["price"].clone())
        .unwrap_or(Value::Null);
    let interval = first_price["recurring"]["interval"]
        .as_str()
        .unwrap_or("month")
        .to_string();
    let count = first_price["recurring"]["interval_count"]
        .as_i64()
        .unwrap_or(1);
    let period = (now, add_interval(now, &interval, count));
    let invoice_id = random_id("in_", 24);
    let invoice = bill_subscription(
        tx,
        &invoice_id,
        subscription,
        period,
        "subscription_update",
        false,
    )?;
    let pm = default_payment_method(
        tx,
        &customer,
        subscription["default_payment_method"].as_str(),
    );
    let paid = match pm {
        Some(pm) => pay(tx, &invoice, &pm).is_ok(),
        None => false,
    };
    subscription["status"] = json!(if paid { "active" } else { "past_due" });
    subscription["trial_end"] = json!(now);
    subscription["latest_invoice"] = json!(invoice_id);
    if let Some(data) = subscription["items"]["data"].as_array_mut() {
        for item in data {
            item["current_period_start"] = json!(period.0);
            item["current_period_end"] = json!(period.1);
        }
    }
    Ok(())
}

pub fn cancel_subscription(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("invoice_now", Kind::Boolean),
        Param::optional("prorate", Kind::Boolean),
        Param::optional("cancellation_details", Kind::Any),
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find("subscription", id, "id")?;
    if before["status"] == "canceled" {
        return Err(StripeError::request(format!(
            "No such subscription: '{id}' can be canceled: it is already canceled."
        )));
    }
    let mut after = before.clone();
    after["status"] = json!("canceled");
    after["canceled_at"] = json!(tx.now);
    after["ended_at"] = json!(tx.now);
    after["cancellation_details"] = json!({
        "comment": params.get("cancellation_details").and_then(|d| d.get("comment")).cloned().unwrap_or(Value::Null),
        "feedback": params.get("cancellation_details").and_then(|d| d.get("feedback")).cloned().unwrap_or(Value::Null),
        "reason": "cancellation_requested",
    });
    tx.put(after.clone());
    tx.emit("customer.subscription.deleted", &after, None);
    Ok(after)
}

pub fn list_subscriptions(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("customer", Kind::String),
        Param::optional("price", Kind::String),
        Param::optional("status", Kind::String),
        Param::optional("collection_method", Kind::String),
        Param::optional("current_period_end", Kind::Any),
        Param::optional("current_period_start", Kind::Any),
        Param::optional("test_clock", Kind::String),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let customer = text(&params, "customer");
    let price = text(&params, "price");
    // Stripe lists every status but canceled unless asked.
    let status = text(&params, "status").unwrap_or("not_canceled");
    let items: Vec<Value> = tx
        .state()
        .newest_first("subscription")
        .filter(|s| customer.is_none_or(|c| s["customer"] == c))
        .filter(|s| {
            price.is_none_or(|p| {
                s["items"]["data"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|i| i["price"]["id"] == p))
            })
        })
        .filter(|s| match status {
            "all" => true,
            "not_canceled" => s["status"] != "canceled",
            wanted => s["status"] == wanted,
        })
        .cloned()
        .collect();
    list_page(items.iter(), &params, "/v1/subscriptions")
}

static INVOICE_CREATE: &[Param] = &[
    Param::required("customer", Kind::String),
    Param::optional("auto_advance", Kind::Boolean),
    Param::optional(
        "collection_method",
        Kind::Enum(&["charge_automatically", "send_invoice"]),
    ),
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
    Param::optional("subscription", Kind::String),
    Param::optional("statement_descriptor", Kind::String),
    Param::optional("automatic_tax", Kind::Any),
    Param::optional("custom_fields", Kind::Any),
    Param::optional("discounts", Kind::Any),
    Param::optional("payment_settings", Kind::Any),
    Param::optional("rendering", Kind::Any),
    Param::optional("shipping_cost", Kind::Any),
    Param::optional("shipping_details", Kind::Any),
    Param::optional("default_tax_rates", Kind::StringList),
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
    if include {
        for item in pending.iter().rev() {
            let mut attached = item.clone();
            attached["invoice"] = json!(id);
            tx.put(attached);
            let parent = json!({
                "invoice_item_details": { "invoice_item": item["id"], "proration": false, "proration_details": { "credited_items": null }, "subscription": null },
                "subscription_item_details": null,
                "type": "invoice_item_details",
            });
            let line = objects::invoice_line(
                &id,
                item["amount"].as_i64().unwrap_or(0),
                &item["currency"],
                item["description"].clone(),
                item["quantity"].as_i64().unwrap_or(1),
                (tx.now, tx.now),
                parent,
            );
            push_line(&mut invoice, line);
        }
    }
    tx.put(invoice.clone());
    tx.emit("invoice.created", &invoice, None);
    Ok(invoice)
}

pub fn update_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("auto_advance", Kind::Boolean),
        Param::optional(
            "collection_method",
            Kind::Enum(&["charge_automatically", "send_invoice"]),
        ),
        Param::optional("days_until_due", Kind::Integer),
        Param::optional("default_payment_method", Kind::String),
        Param::optional("description", Kind::String),
        Param::optional("due_date", Kind::Timestamp),
        Param::optional("footer", Kind::String),
        Param::optional("statement_descriptor", Kind::String),
        Param::optional("custom_fields", Kind::Any),
        Param::optional("rendering", Kind::Any),
        Param::optional("payment_settings", Kind::Any),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
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
        ],
    );
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

pub fn finalize_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(
        &[Param::optional("auto_advance", Kind::Boolean), EXPAND],
        raw,
    )?;
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

pub fn pay_invoice(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("payment_method", Kind::String),
        Param::optional("paid_out_of_band", Kind::Boolean),
        Param::optional("off_session", Kind::Boolean),
        Param::optional("forgive", Kind::Boolean),
        Param::optional("source", Kind::String),
        Param::optional("mandate", Kind::String),
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let mut invoice = tx.find("invoice", id, "id")?;
    match invoice["status"].as_str() {
        Some("draft") => invoice = finalize(tx, &invoice),
        Some("open") => {}
        Some("paid") => {
            return Err(
                StripeError::request("Invoice is already paid").with_code("invoice_already_paid")
            );
        }
        other => {
            return Err(StripeError::request(format!(
                "You cannot pay an invoice with a status of {}.",
                other.unwrap_or_default()
            )));
        }
    }
    if params.get("paid_out_of_band") == Some(&json!(true)) {
        let amount = invoice["amount_remaining"].as_i64().unwrap_or(0);
        return Ok(mark_paid(tx, &invoice, amount));
    }
    let customer = invoice["customer"].as_str().unwrap_or_default().to_string();
    let pm = default_payment_method(
        tx,
        &customer,
        text(&params, "payment_method").or(invoice["default_payment_method"].as_str()),
    )
    .ok_or_else(|| {
        StripeError::request(
            "This customer has no attached payment source or default payment method.",
        )
        .with_code("invoice_no_customer_line_items")
    })?;
    pay(tx, &invoice, &pm)
}

pub fn list_invoice_lines(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(&[LIMIT, STARTING_AFTER, ENDING_BEFORE, EXPAND], raw)?;
    let invoice = tx.find("invoice", id, "id")?;
    let lines = invoice["lines"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list_page(lines.iter(), &params, &format!("/v1/invoices/{id}/lines"))
}

pub fn list_invoices(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("customer", Kind::String),
        Param::optional(
            "status",
            Kind::Enum(&["draft", "open", "paid", "uncollectible", "void"]),
        ),
        Param::optional("subscription", Kind::String),
        Param::optional("collection_method", Kind::String),
        Param::optional("due_date", Kind::Any),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let subscription = text(&params, "subscription");
    let mut page = list_where(
        tx,
        "invoice",
        &params,
        &["customer", "status", "collection_method"],
        "/v1/invoices",
    )?;
    if let (Some(subscription), Some(items)) = (subscription, page["data"].as_array_mut()) {
        items.retain(|i| i["parent"]["subscription_details"]["subscription"] == subscription);
    }
    Ok(page)
}

static INVOICE_ITEM_CREATE: &[Param] = &[
    Param::required("customer", Kind::String),
    Param::optional("amount", Kind::Integer),
    Param::optional("currency", Kind::String),
    Param::optional("price", Kind::String),
    Param::optional("pricing", Kind::Any),
    Param::optional("price_data", Kind::Any),
    Param::optional("quantity", Kind::Integer),
    Param::optional("unit_amount_decimal", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("invoice", Kind::String),
    Param::optional("subscription", Kind::String),
    Param::optional("discountable", Kind::Boolean),
    Param::optional("discounts", Kind::Any),
    Param::optional("period", Kind::Any),
    Param::optional("tax_rates", Kind::StringList),
    Param::optional("tax_behavior", Kind::String),
    Param::optional("tax_code", Kind::String),
    METADATA,
    EXPAND,
];

pub fn create_invoice_item(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let mut params = check(INVOICE_ITEM_CREATE, raw)?;
    let customer = text(&params, "customer").unwrap_or_default().to_string();
    tx.find("customer", &customer, "customer")?;
    let quantity = params.get("quantity").and_then(Value::as_i64).unwrap_or(1);
    let price_id = text(&params, "price")
        .or_else(|| {
            params
                .get("pricing")
                .and_then(|p| p.get("price"))
                .and_then(Value::as_str)
        })
        .map(str::to_string);
    let (amount, currency_value) = match (params.get("amount").and_then(Value::as_i64), price_id) {
        (Some(amount), None) => (amount, json!(currency(&params, "currency")?)),
        (None, Some(price)) => {
            let found = tx.find("price", &price, "price")?;
            (
                found["unit_amount"].as_i64().unwrap_or(0) * quantity,
                found["currency"].clone(),
            )
        }
        (Some(_), Some(_)) => {
            return Err(StripeError::request(
                "You may only specify one of these parameters: amount, price.",
            ));
        }
        (None, None) => return Err(StripeError::missing("amount")),
    };
    if let Some(invoice_id) = text(&params, "invoice").map(str::to_string) {
        let invoice = tx.find("invoice", &invoice_id, "invoice")?;
        if invoice["status"] != "draft" {
            return Err(StripeError::invalid(
                "invoice",
                "You can only add invoice items to draft invoices.",
            ));
        }
    }
    params.insert("quantity".into(), json!(quantity));
    let item = objects::invoice_item(
        random_id("ii_", 24),
        &customer,
        amount,
        &currency_value,
        &params,
        tx.now,
    );
    tx.put(item.clone());
    tx.emit("invoiceitem.created", &item, None);
    if let Some(invoice_id) = text(&params, "invoice") {
        let before = tx.find("invoice", invoice_id, "invoice")?;
        let mut after = before.clone();
        let parent = json!({
            "invoice_item_details": { "invoice_item": item["id"], "proration": false, "proration_details": { "credited_items": null }, "subscription": null },
            "subscription_item_details": null,
            "type": "invoice_item_details",
        });
        push_line(
            &mut after,
            objects::invoice_line(
                invoice_id,
                amount,
                &currency_value,
                item["description"].clone(),
                quantity,
                (tx.now, tx.now),
                parent,
            ),
        );
        tx.update(&before, after, Some("invoice.updated"));
    }
    Ok(item)
}

pub fn list_invoice_items(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("customer", Kind::String),
        Param::optional("invoice", Kind::String),
        Param::optional("pending", Kind::Boolean),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let pending = params.get("pending").and_then(Value::as_bool);
    let mut page = list_where(
        tx,
        "invoiceitem",
        &params,
        &["customer", "invoice"],
        "/v1/invoiceitems",
    )?;
    if let (Some(pending), Some(items)) = (pending, page["data"].as_array_mut()) {
        items.retain(|i| i["invoice"].is_null() == pending);
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_add_calendar_months() {
        let jan_31 = 1_769_817_600; // 2026-01-31T00:00:00Z
        let end = add_interval(jan_31, "month", 1);
        assert_eq!(
            DateTime::<Utc>::from_timestamp(end, 0)
                .unwrap()
                .to_rfc3339(),
            "2026-02-28T00:00:00+00:00"
        );
        assert_eq!(add_interval(0, "day", 2), 172_800);
        assert_eq!(add_interval(0, "week", 1), 604_800);
    }
}
