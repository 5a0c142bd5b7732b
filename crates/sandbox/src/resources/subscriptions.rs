//! Subscriptions' endpoints: creating, updating (items, trial, cancellation
//! dates), canceling and listing them. What bills them is in
//! `billing_cycle.rs`.

use serde_json::{Map, Value, json};

use super::billing_cycle::{
    SubscriptionOptions, TRIAL_WARNING, cancel_with_details, end_trial, start_subscription,
    trial_settings, warn_trial_ending,
};
use super::invoices::default_payment_method;
use super::{
    AUTOMATIC_TAX, COLLECTION_METHOD, CREATED, DISCOUNTS, ENDING_BEFORE, LIMIT, METADATA,
    STARTING_AFTER, apply_fields, check, resolve_payment_method, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, list_page};

/// What a trial's end does when the customer has no payment method.
pub(super) const TRIAL_SETTINGS: &[Param] = &[Param::required(
    "end_behavior",
    Kind::Object(&[Param::required(
        "missing_payment_method",
        Kind::Enum(&["cancel", "create_invoice", "pause"]),
    )]),
)];

/// Why a subscription is canceled, as its customer said.
const CANCELLATION_DETAILS: Param = Param::optional(
    "cancellation_details",
    Kind::Object(&[
        Param::optional("comment", Kind::String),
        Param::optional(
            "feedback",
            Kind::Enum(&[
                "customer_service",
                "low_quality",
                "missing_features",
                "other",
                "switched_service",
                "too_complex",
                "too_expensive",
                "unused",
            ]),
        ),
    ]),
);

pub(super) static SUBSCRIPTION_CREATE: &[Param] = &[
    Param::required("customer", Kind::String),
    Param::optional(
        "items",
        Kind::ObjectList(&[
            Param::optional("price", Kind::String),
            Param::optional("quantity", Kind::Integer),
            // Prices are made first; there is no tax.
            Param::optional("price_data", Kind::Unsupported),
            Param::optional("tax_rates", Kind::Unsupported),
            DISCOUNTS,
            // Items' own metadata is not kept yet.
            Param::optional("metadata", Kind::Unsupported),
        ]),
    ),
    Param::optional("default_payment_method", Kind::String),
    Param::optional("trial_period_days", Kind::Integer),
    Param::optional("trial_end", Kind::Any),
    Param::optional("description", Kind::String),
    Param::optional("currency", Kind::String),
    COLLECTION_METHOD,
    // A subscription's invoices are charged: sending them is refused below
    // until renewals know how, and so is their number of days to pay.
    Param::optional("days_until_due", Kind::Unsupported),
    Param::optional(
        "payment_behavior",
        Kind::Enum(&[
            "allow_incomplete",
            "default_incomplete",
            "error_if_incomplete",
            "pending_if_incomplete",
        ]),
    ),
    // Prorations at creation come only of a billing cycle anchor or a
    // backdated start, which the sandbox refuses.
    Param::optional(
        "proration_behavior",
        Kind::Enum(&["always_invoice", "create_prorations", "none"]),
    ),
    Param::optional("cancel_at_period_end", Kind::Boolean),
    Param::optional("cancel_at", Kind::Timestamp),
    Param::optional("off_session", Kind::Boolean),
    // Which methods pay, and saving the one that did, are not modelled.
    Param::optional("payment_settings", Kind::Unsupported),
    AUTOMATIC_TAX,
    DISCOUNTS,
    Param::optional("coupon", Kind::Unsupported),
    Param::optional("promotion_code", Kind::Unsupported),
    Param::optional("default_tax_rates", Kind::Unsupported),
    Param::optional("trial_settings", Kind::Object(TRIAL_SETTINGS)),
    // Periods start when the subscription does.
    Param::optional("billing_cycle_anchor", Kind::Unsupported),
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
        // Stripe picks a multi-currency price's currency this way; the
        // sandbox's prices have one, which must be the one asked for.
        if let Some(wanted) = text(&params, "currency")
            && price["currency"] != wanted
        {
            return Err(StripeError::invalid(
                "currency",
                format!("The price {price_id} has no currency option for {wanted}."),
            ));
        }
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
    if params.get("collection_method") == Some(&json!("send_invoice")) {
        return Err(super::unsupported("collection_method"));
    }
    // The first invoice is always attempted at once: leaving it open for
    // the front end to confirm is not implemented yet.
    if matches!(
        text(&params, "payment_behavior"),
        Some("default_incomplete" | "pending_if_incomplete")
    ) {
        return Err(super::unsupported("payment_behavior"));
    }
    let trial_end = trial_end_param(tx, params.get("trial_end"))?;
    let error_if_incomplete = params.get("payment_behavior") == Some(&json!("error_if_incomplete"));
    if error_if_incomplete {
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
            trial_settings: params.get("trial_settings").cloned(),
        },
    )?;
    if error_if_incomplete && subscription["status"] == "incomplete" {
        // Stripe creates nothing when the first payment fails this way: the
        // whole request is undone, and the decline is the answer.
        let card = default_payment_method(tx, &customer, text(&params, "default_payment_method"))
            .and_then(|pm| {
                tx.get(&pm)
                    .and_then(super::card_of)
                    .or_else(|| crate::cards::by_test_name(&pm))
            });
        tx.roll_back();
        return Err(match card {
            Some(card) => super::decline_error(card),
            None => StripeError::new(402, "card_error", "Your card was declined.")
                .with_code("card_declined"),
        });
    }
    let mut subscription = subscription;
    if params.get("cancel_at_period_end") == Some(&json!(true)) {
        subscription["cancel_at_period_end"] = json!(true);
    }
    if let Some(at) = params.get("cancel_at").and_then(Value::as_i64) {
        subscription["cancel_at"] = json!(cancel_at(tx, at)?);
    }
    tx.put(subscription.clone());
    Ok(subscription)
}

pub(super) static UPDATE_SUBSCRIPTION: &[Param] = &[
    Param::optional(
        "items",
        Kind::ObjectList(&[
            Param::optional("id", Kind::String),
            Param::optional("price", Kind::String),
            Param::optional("quantity", Kind::Integer),
            Param::optional("deleted", Kind::Boolean),
            Param::optional("price_data", Kind::Unsupported),
            Param::optional("tax_rates", Kind::Unsupported),
            DISCOUNTS,
            Param::optional("metadata", Kind::Unsupported),
        ]),
    ),
    Param::optional("cancel_at_period_end", Kind::Boolean),
    Param::optional("cancel_at", Kind::Timestamp),
    // A time, or `now`.
    Param::optional("trial_end", Kind::Any),
    Param::optional("default_payment_method", Kind::String),
    Param::optional("description", Kind::String),
    COLLECTION_METHOD,
    Param::optional("days_until_due", Kind::Integer),
    // Only `none` when items change: the sandbox makes no prorations.
    Param::optional(
        "proration_behavior",
        Kind::Enum(&["always_invoice", "create_prorations", "none"]),
    ),
    Param::optional(
        "payment_behavior",
        Kind::Enum(&[
            "allow_incomplete",
            "default_incomplete",
            "error_if_incomplete",
            "pending_if_incomplete",
        ]),
    ),
    Param::optional(
        "pause_collection",
        Kind::Object(&[
            Param::required(
                "behavior",
                Kind::Enum(&["keep_as_draft", "mark_uncollectible", "void"]),
            ),
            Param::optional("resumes_at", Kind::Timestamp),
        ]),
    ),
    CANCELLATION_DETAILS,
    Param::optional("off_session", Kind::Boolean),
    Param::optional("payment_settings", Kind::Unsupported),
    AUTOMATIC_TAX,
    DISCOUNTS,
    Param::optional("default_tax_rates", Kind::Unsupported),
    Param::optional("trial_settings", Kind::Object(TRIAL_SETTINGS)),
    Param::optional("billing_cycle_anchor", Kind::Unsupported),
    METADATA,
    EXPAND,
];

pub fn update_subscription(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(UPDATE_SUBSCRIPTION, raw)?;
    let before = tx.find("subscription", id, "id")?;
    if before["status"] == "canceled" {
        return Err(StripeError::request(format!(
            "A canceled subscription can only update its cancellation_details and metadata. ({id})"
        )));
    }
    if params.contains_key("items")
        && text(&params, "proration_behavior").is_none_or(|p| p != "none")
    {
        // Stripe prorates an item change by default; the sandbox would
        // bill the new price from the next period only, so it refuses.
        return Err(super::unsupported("proration_behavior"));
    }
    let mut after = before.clone();
    if let Some(details) = params
        .get("cancellation_details")
        .and_then(Value::as_object)
    {
        apply_fields(
            &mut after["cancellation_details"],
            details,
            &["comment", "feedback"],
        );
    }
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
    if let Some(given) = params.get("cancel_at") {
        after["cancel_at"] = match timestamp_or_unset("cancel_at", given)? {
            Some(at) => json!(cancel_at(tx, at)?),
            None => Value::Null,
        };
    }
    if let Some(given) = params.get("pause_collection") {
        after["pause_collection"] = pause_collection(tx, given)?;
    }
    if let Some(given) = params.get("trial_settings") {
        after["trial_settings"] = trial_settings(given)?;
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
    let mut trial_ends_now = false;
    if let Some(trial_end) = trial_end_param(tx, params.get("trial_end"))? {
        if trial_end <= tx.now {
            trial_ends_now = after["status"] == "trialing";
        } else {
            after["trial_end"] = json!(trial_end);
            if after["status"] == "trialing" && after["x_trial_warned_for"] != trial_end {
                after["x_trial_warned_for"] = Value::Null;
            }
        }
    }
    tx.update(
        &before,
        after.clone(),
        Some("customer.subscription.updated"),
    );
    if trial_ends_now {
        end_trial(tx, id, true)?;
    } else if after["status"] == "trialing"
        && after["x_trial_warned_for"].is_null()
        && after["trial_end"]
            .as_i64()
            .is_some_and(|end| end - tx.now <= TRIAL_WARNING)
    {
        warn_trial_ending(tx, id);
    }
    Ok(tx.get(id).cloned().unwrap_or(after))
}

pub(super) static CANCEL_SUBSCRIPTION: &[Param] = &[
    // A final invoice of pending items, and a proration's credit, are not
    // made yet.
    Param::optional("invoice_now", Kind::FalseOnly),
    Param::optional("prorate", Kind::FalseOnly),
    CANCELLATION_DETAILS,
    EXPAND,
];

pub fn cancel_subscription(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(CANCEL_SUBSCRIPTION, raw)?;
    let before = tx.find("subscription", id, "id")?;
    if before["status"] == "canceled" {
        return Err(StripeError::request(format!(
            "No such subscription: '{id}' can be canceled: it is already canceled."
        )));
    }
    let details = params.get("cancellation_details");
    let field = |name: &str| {
        details
            .and_then(|d| d.get(name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    Ok(cancel_with_details(
        tx,
        &before,
        "cancellation_requested",
        field("comment"),
        field("feedback"),
    ))
}

pub(super) static LIST_SUBSCRIPTIONS: &[Param] = &[
    Param::optional("customer", Kind::String),
    Param::optional("price", Kind::String),
    Param::optional("status", Kind::String),
    COLLECTION_METHOD,
    // Filtering on the items' periods is not implemented yet.
    Param::optional("current_period_end", Kind::Unsupported),
    Param::optional("current_period_start", Kind::Unsupported),
    Param::optional("test_clock", Kind::String),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_subscriptions(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_SUBSCRIPTIONS, raw)?;
    let customer = text(&params, "customer");
    let clock = text(&params, "test_clock");
    let price = text(&params, "price");
    let collection = text(&params, "collection_method");
    // Stripe lists every status but canceled unless asked.
    let status = text(&params, "status").unwrap_or("not_canceled");
    let items: Vec<Value> = tx
        .state()
        .newest_first("subscription")
        .filter(|s| customer.is_none_or(|c| s["customer"] == c))
        .filter(|s| clock.is_none_or(|c| s["test_clock"] == c))
        .filter(|s| collection.is_none_or(|c| s["collection_method"] == c))
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

pub(super) static RESUME_SUBSCRIPTION: &[Param] = &[
    // A resumed subscription's period starts now (Stripe's default);
    // keeping the old cycle would need prorations, which the sandbox
    // does not make.
    Param::optional("billing_cycle_anchor", Kind::Enum(&["now"])),
    Param::optional("proration_behavior", Kind::Unsupported),
    Param::optional("proration_date", Kind::Unsupported),
    EXPAND,
];

pub fn resume_subscription(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(RESUME_SUBSCRIPTION, raw)?;
    super::billing_cycle::resume(tx, id)
}

/// A timestamp parameter that `""` unsets.
fn timestamp_or_unset(param: &str, given: &Value) -> Result<Option<i64>, StripeError> {
    if *given == "" {
        return Ok(None);
    }
    given
        .as_i64()
        .or_else(|| given.as_str().and_then(|s| s.parse().ok()))
        .map(Some)
        .ok_or_else(|| {
            StripeError::invalid(
                param,
                format!("Invalid timestamp: {param} must be an integer Unix timestamp, or \"\" to unset it."),
            )
        })
}

/// `cancel_at` must be in the future, on the subscription's clock.
fn cancel_at(tx: &Tx<'_>, at: i64) -> Result<i64, StripeError> {
    if at <= tx.now {
        return Err(StripeError::invalid(
            "cancel_at",
            format!(
                "Invalid cancel_at: must be in the future (it is {at}, and now is {}).",
                tx.now
            ),
        ));
    }
    Ok(at)
}

/// `pause_collection`: `behavior` (what becomes of the invoices made while
/// it lasts) and an optional `resumes_at`; `""` ends the pause.
fn pause_collection(tx: &Tx<'_>, given: &Value) -> Result<Value, StripeError> {
    if *given == "" {
        return Ok(Value::Null);
    }
    let behavior = given["behavior"].as_str();
    if !matches!(
        behavior,
        Some("keep_as_draft" | "mark_uncollectible" | "void")
    ) {
        return Err(StripeError::invalid(
            "pause_collection[behavior]",
            "Invalid pause_collection[behavior]: must be one of keep_as_draft, mark_uncollectible, or void",
        ));
    }
    let resumes_at = match given.get("resumes_at") {
        None => None,
        Some(value) => timestamp_or_unset("pause_collection[resumes_at]", value)?,
    };
    if let Some(at) = resumes_at
        && at <= tx.now
    {
        return Err(StripeError::invalid(
            "pause_collection[resumes_at]",
            "Invalid pause_collection[resumes_at]: must be in the future.",
        ));
    }
    Ok(json!({ "behavior": behavior, "resumes_at": resumes_at }))
}
