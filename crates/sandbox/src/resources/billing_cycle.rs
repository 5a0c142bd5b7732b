//! A subscription's billing cycle: where its periods end, starting it (its
//! first invoice paid at once, or free during a trial), the invoice of each
//! period, and what happens to it when time passes: a trial's warning and
//! end, a renewal, a cancellation that was asked for, collection paused and
//! resumed. `schedule.rs` says when each is due; dunning (a renewal's
//! failed payment and its retries) is in `dunning.rs`.

use chrono::{DateTime, Months, Utc};
use serde_json::{Map, Value, json};

use super::card_of;
use super::invoices::{
    default_payment_method, finalize, pay, pay_nothing, push_line, void, write_off,
};
use crate::cards::Outcome;
use crate::error::StripeError;
use crate::objects;
use crate::state::{Tx, random_id};

/// The end of a billing period that starts at `start`.
pub fn add_interval(start: i64, interval: &str, count: i64) -> i64 {
    // Saturating: a time past what chrono represents stays the far future
    // rather than wrapping into the past.
    let count = count.clamp(1, i64::from(u32::MAX) / 12);
    let months = match interval {
        "day" => return start.saturating_add(86_400 * count),
        "week" => return start.saturating_add(7 * 86_400 * count),
        "year" => 12 * count,
        _ => count,
    };
    DateTime::<Utc>::from_timestamp(start, 0)
        .and_then(|t| t.checked_add_months(Months::new(months as u32)))
        .map(|t| t.timestamp())
        .unwrap_or(start.saturating_add(31 * 86_400 * count))
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
    /// `trial_settings` as given (checked here).
    pub trial_settings: Option<Value>,
}

/// Stripe's longest trial.
const MAX_TRIAL_DAYS: i64 = 730;

/// How long after a renewal's draft invoice is created Stripe finalizes it
/// and attempts its payment.
pub const FINALIZE_AFTER: i64 = 3_600;

/// How long before a trial ends Stripe warns with
/// `customer.subscription.trial_will_end`.
pub const TRIAL_WARNING: i64 = 3 * 86_400;

/// What happens at a trial's end to a subscription whose customer has no
/// payment method.
fn missing_payment_method(subscription: &Value) -> &str {
    subscription["trial_settings"]["end_behavior"]["missing_payment_method"]
        .as_str()
        .unwrap_or("create_invoice")
}

/// Checks `trial_settings` as Stripe does.
pub fn trial_settings(given: &Value) -> Result<Value, StripeError> {
    let behavior = &given["end_behavior"]["missing_payment_method"];
    match behavior.as_str() {
        Some("cancel" | "create_invoice" | "pause") => Ok(json!({
            "end_behavior": { "missing_payment_method": behavior }
        })),
        _ => Err(StripeError::invalid(
            "trial_settings[end_behavior][missing_payment_method]",
            "Invalid trial_settings[end_behavior][missing_payment_method]: must be one of cancel, create_invoice, or pause",
        )),
    }
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
    if options.trial_days.is_some_and(|days| days > MAX_TRIAL_DAYS) {
        return Err(StripeError::invalid(
            "trial_period_days",
            format!("Invalid trial_period_days: a trial lasts at most {MAX_TRIAL_DAYS} days."),
        ));
    }
    if options
        .trial_end
        .is_some_and(|end| end > now.saturating_add(MAX_TRIAL_DAYS * 86_400))
    {
        return Err(StripeError::invalid(
            "trial_end",
            format!("Invalid trial_end: a trial lasts at most {MAX_TRIAL_DAYS} days."),
        ));
    }
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
    if let Some(given) = &options.trial_settings {
        subscription["trial_settings"] = trial_settings(given)?;
    }
    let invoice_id = random_id("in_", 24);
    subscription["latest_invoice"] = json!(invoice_id);
    tx.put(subscription.clone());
    tx.emit("customer.subscription.created", &subscription, None);
    if trial_end.is_some_and(|end| end - now <= TRIAL_WARNING) {
        // A trial shorter than the warning is warned of at once.
        warn_trial_ending(tx, &id);
    }

    // The first invoice is finalized at once, not an hour later.
    let draft = draft_invoice(
        tx,
        &invoice_id,
        &subscription,
        period,
        "subscription_create",
        trial_end.is_some(),
        None,
    )?;
    let mut invoice = finalize(tx, &draft);
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

/// Creates the draft invoice for one period of a subscription's items and
/// emits `invoice.created`.
fn draft_invoice(
    tx: &mut Tx<'_>,
    invoice_id: &str,
    subscription: &Value,
    period: (i64, i64),
    billing_reason: &str,
    free: bool,
    finalizes_at: Option<i64>,
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
    invoice["subscription"] = id.clone();
    invoice["parent"] = json!({
        "quote_details": null,
        "subscription_details": { "metadata": subscription["metadata"], "subscription": id },
        "type": "subscription_details",
    });
    invoice["period_start"] = json!(period.0);
    invoice["period_end"] = json!(period.0);
    invoice["automatically_finalizes_at"] = json!(finalizes_at);
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
    Ok(invoice)
}

/// Sends `customer.subscription.trial_will_end`, once per trial end.
pub fn warn_trial_ending(tx: &mut Tx<'_>, id: &str) {
    let Some(mut subscription) = tx.get(id).cloned() else {
        return;
    };
    subscription["x_trial_warned_for"] = subscription["trial_end"].clone();
    tx.put(subscription.clone());
    tx.emit("customer.subscription.trial_will_end", &subscription, None);
}

/// Ends a trial at `tx.now`, early (`trial_end=now`, billed at once) or when
/// its time comes (billed as a renewal is). A customer with no payment
/// method meets the subscription's `trial_settings`: paused, canceled, or
/// invoiced anyway (the default, whose payment then fails).
pub fn end_trial(tx: &mut Tx<'_>, id: &str, early: bool) -> Result<(), StripeError> {
    let before = tx.find("subscription", id, "id")?;
    let customer = before["customer"].as_str().unwrap_or_default();
    let has_payment_method =
        default_payment_method(tx, customer, before["default_payment_method"].as_str()).is_some();
    let mut after = before.clone();
    after["trial_end"] = json!(tx.now);
    if !has_payment_method {
        match missing_payment_method(&before) {
            "pause" => {
                after["status"] = json!("paused");
                tx.update(
                    &before,
                    after.clone(),
                    Some("customer.subscription.updated"),
                );
                tx.emit("customer.subscription.paused", &after, None);
                return Ok(());
            }
            "cancel" => {
                tx.put(after.clone());
                cancel(tx, &after, "cancellation_requested");
                return Ok(());
            }
            _ => {}
        }
    }
    after["status"] = json!("active");
    let reason = if early {
        "subscription_update"
    } else {
        "subscription_cycle"
    };
    next_period(tx, &before, after, reason, early)
}

/// What the end of a period does: the subscription renews, or ends when
/// it was set to cancel at the period's end.
pub fn end_period(tx: &mut Tx<'_>, id: &str) -> Result<(), StripeError> {
    let before = tx.find("subscription", id, "id")?;
    if before["cancel_at_period_end"] == true {
        cancel(tx, &before, "cancellation_requested");
        return Ok(());
    }
    next_period(tx, &before, before.clone(), "subscription_cycle", false)
}

/// Starts a subscription's next period at `tx.now`: its items' periods move
/// (`customer.subscription.updated` says so, with the old ones), and the
/// period's draft invoice is created, to be finalized and paid an hour later
/// as Stripe does, or at once when `collect_now`. Its invoice stays a draft
/// while collection is paused with `keep_as_draft`, and for an `unpaid`
/// subscription.
fn next_period(
    tx: &mut Tx<'_>,
    before: &Value,
    mut after: Value,
    billing_reason: &str,
    collect_now: bool,
) -> Result<(), StripeError> {
    let start = tx.now;
    let end = period_end(&after["items"]["data"][0]["price"], start);
    if let Some(items) = after["items"]["data"].as_array_mut() {
        for item in items {
            item["current_period_start"] = json!(start);
            item["current_period_end"] = json!(end);
        }
    }
    let invoice_id = random_id("in_", 24);
    after["latest_invoice"] = json!(invoice_id);
    let keep_as_draft =
        after["pause_collection"]["behavior"] == "keep_as_draft" || after["status"] == "unpaid";
    let finalizes_at =
        (!collect_now && !keep_as_draft).then_some(start.saturating_add(FINALIZE_AFTER));
    let mut draft = draft_invoice(
        tx,
        &invoice_id,
        &after,
        (start, end),
        billing_reason,
        false,
        finalizes_at,
    )?;
    tx.update(before, after, Some("customer.subscription.updated"));
    if keep_as_draft {
        draft["auto_advance"] = json!(false);
        tx.put(draft);
    } else if collect_now {
        collect(tx, &invoice_id)?;
    }
    Ok(())
}

/// Finalizes a subscription's draft invoice and collects it: charged to
/// the payment method on file (a failure starts dunning), or closed at once
/// while the subscription's collection is paused that way.
pub fn collect(tx: &mut Tx<'_>, invoice_id: &str) -> Result<(), StripeError> {
    let draft = tx.find("invoice", invoice_id, "id")?;
    if draft["status"] != "draft" {
        return Ok(());
    }
    let open = finalize(tx, &draft);
    let pause = tx
        .get(subscription_of(&open).unwrap_or_default())
        .map(|s| s["pause_collection"]["behavior"].clone())
        .unwrap_or(Value::Null);
    match pause.as_str() {
        Some("mark_uncollectible") => {
            write_off(tx, &open);
            return Ok(());
        }
        Some("void") => {
            void(tx, &open);
            return Ok(());
        }
        _ => {}
    }
    if open["collection_method"] == "send_invoice" {
        return Ok(());
    }
    if open["amount_due"] == 0 {
        pay_nothing(tx, &open);
        return Ok(());
    }
    super::dunning::attempt(tx, &open);
    Ok(())
}

/// The subscription an invoice bills, if any.
pub fn subscription_of(invoice: &Value) -> Option<&str> {
    invoice["parent"]["subscription_details"]["subscription"].as_str()
}

/// Ends a subscription now, for `reason` (Stripe's
/// `cancellation_details.reason`): `customer.subscription.deleted`.
pub fn cancel(tx: &mut Tx<'_>, subscription: &Value, reason: &str) -> Value {
    cancel_with_details(tx, subscription, reason, Value::Null, Value::Null)
}

/// [`cancel`], with the customer's `comment` and `feedback` on why.
pub fn cancel_with_details(
    tx: &mut Tx<'_>,
    subscription: &Value,
    reason: &str,
    comment: Value,
    feedback: Value,
) -> Value {
    let mut ended = subscription.clone();
    ended["status"] = json!("canceled");
    ended["canceled_at"] = json!(tx.now);
    ended["ended_at"] = json!(tx.now);
    ended["cancellation_details"] = json!({
        "comment": comment,
        "feedback": feedback,
        "reason": reason,
    });
    tx.put(ended.clone());
    tx.emit("customer.subscription.deleted", &ended, None);
    ended
}

/// Collection paused until `resumes_at` starts again then.
pub fn resume_collection(tx: &mut Tx<'_>, id: &str) -> Result<(), StripeError> {
    let before = tx.find("subscription", id, "id")?;
    let mut after = before.clone();
    after["pause_collection"] = Value::Null;
    tx.update(&before, after, Some("customer.subscription.updated"));
    Ok(())
}

/// Resumes a paused subscription (`POST /v1/subscriptions/{id}/resume`): a
/// new period starts now, billed at once.
pub fn resume(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let before = tx.find("subscription", id, "id")?;
    if before["status"] != "paused" {
        return Err(StripeError::request(format!(
            "Only a paused subscription can be resumed; {id} is {}.",
            before["status"].as_str().unwrap_or_default()
        )));
    }
    let mut after = before.clone();
    after["status"] = json!("active");
    after["billing_cycle_anchor"] = json!(tx.now);
    next_period(tx, &before, after, "subscription_update", true)?;
    let resumed = tx.find("subscription", id, "id")?;
    tx.emit("customer.subscription.resumed", &resumed, None);
    Ok(resumed)
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
