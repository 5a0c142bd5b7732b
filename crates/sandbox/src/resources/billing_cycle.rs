//! A subscription's billing cycle: where its periods end, starting it (its
//! first invoice paid at once, or free during a trial), the invoice of each
//! period, and ending a trial early, which bills the first paid period.

use chrono::{DateTime, Months, Utc};
use serde_json::{Map, Value, json};

use super::card_of;
use super::invoices::{default_payment_method, finalize, pay, pay_nothing, push_line};
use crate::cards::Outcome;
use crate::error::StripeError;
use crate::objects;
use crate::state::{Tx, random_id};

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

/// The end of the period of a recurring `price` that starts at `start`
/// (a month when the price does not say).
fn period_end(price: &Value, start: i64) -> i64 {
    let recurring = &price["recurring"];
    add_interval(
        start,
        recurring["interval"].as_str().unwrap_or("month"),
        recurring["interval_count"].as_i64().unwrap_or(1),
    )
}

/// What a new subscription takes besides its customer and its items.
pub struct SubscriptionOptions {
    pub trial_days: Option<i64>,
    pub trial_end: Option<i64>,
    pub metadata: Value,
    pub default_payment_method: Option<String>,
    pub description: Value,
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
    let period = (now, trial_end.unwrap_or_else(|| period_end(first, now)));
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

/// Ends a trial now: the subscription is billed and becomes active (or
/// past_due when the payment fails).
pub fn end_trial(tx: &mut Tx<'_>, subscription: &mut Value) -> Result<(), StripeError> {
    let customer = subscription["customer"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let now = tx.now;
    let period = (
        now,
        period_end(&subscription["items"]["data"][0]["price"], now),
    );
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
