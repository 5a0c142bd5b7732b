//! Payment intents, charges and refunds.

use serde_json::{Map, Value, json};

use super::catalog::ADDRESS;
use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, charge_card, check,
    check_minimum, currency, list_where, resolve_payment_method, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects::{self, Payment};
use crate::state::{Tx, random_id};

/// A payment's shipping details, stored on the intent as given.
pub(super) const PI_SHIPPING: &[Param] = &[
    Param::required("address", Kind::Object(ADDRESS)),
    Param::required("name", Kind::String),
    Param::optional("carrier", Kind::String),
    Param::optional("phone", Kind::String),
    Param::optional("tracking_number", Kind::String),
];

const SHIPPING: Param = Param::optional("shipping", Kind::Object(PI_SHIPPING));

const SETUP_FUTURE_USAGE: Param = Param::optional(
    "setup_future_usage",
    Kind::Enum(&["off_session", "on_session"]),
);

/// Per-method options (3D Secure requests, installments...) change how a
/// payment is made, which the sandbox's test cards do not model yet.
const PAYMENT_METHOD_OPTIONS: Param = Param::optional("payment_method_options", Kind::Unsupported);

/// A payment method made from data on the spot: the sandbox takes test
/// payment methods (`pm_card_visa`) or ones created first.
const PAYMENT_METHOD_DATA: Param = Param::optional("payment_method_data", Kind::Unsupported);

pub(super) static PAYMENT_INTENT_CREATE: &[Param] = &[
    Param::required("amount", Kind::Integer),
    Param::required("currency", Kind::String),
    Param::optional("customer", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("payment_method", Kind::String),
    Param::optional("payment_method_types", Kind::StringList),
    Param::optional("confirm", Kind::Boolean),
    Param::optional(
        "capture_method",
        Kind::Enum(&["automatic", "automatic_async", "manual"]),
    ),
    Param::optional("confirmation_method", Kind::Enum(&["automatic", "manual"])),
    Param::optional(
        "automatic_payment_methods",
        Kind::Object(&[
            Param::required("enabled", Kind::Boolean),
            Param::optional("allow_redirects", Kind::Enum(&["always", "never"])),
        ]),
    ),
    Param::optional("receipt_email", Kind::String),
    SETUP_FUTURE_USAGE,
    SHIPPING,
    Param::optional("statement_descriptor", Kind::String),
    Param::optional("statement_descriptor_suffix", Kind::String),
    // Stripe also takes `one_off` and `recurring` here; the sandbox takes the
    // boolean, which is all a test card can tell apart.
    Param::optional("off_session", Kind::Boolean),
    Param::optional("return_url", Kind::String),
    PAYMENT_METHOD_OPTIONS,
    PAYMENT_METHOD_DATA,
    Param::optional("error_on_requires_action", Kind::Boolean),
    Param::optional("use_stripe_sdk", Kind::Boolean),
    Param::optional("transfer_group", Kind::String),
    METADATA,
    EXPAND,
];

pub fn create_payment_intent(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(PAYMENT_INTENT_CREATE, raw)?;
    let currency = currency(&params, "currency")?;
    let amount = params["amount"].as_i64().unwrap_or(0);
    check_minimum(amount, &currency, "amount")?;
    if let Some(customer) = text(&params, "customer") {
        tx.find("customer", customer, "customer")?;
    }
    let mut intent =
        objects::payment_intent(random_id("pi_", 24), amount, &currency, &params, tx.now);
    if let Some(pm) = text(&params, "payment_method") {
        resolve_payment_method(tx, pm, "payment_method")?;
        intent["status"] = json!("requires_confirmation");
    }
    tx.put(intent.clone());
    tx.emit("payment_intent.created", &intent, None);
    if params.get("confirm") == Some(&json!(true)) {
        let id = intent["id"].as_str().unwrap_or_default().to_string();
        return confirm(tx, &id, None);
    }
    Ok(intent)
}

pub(super) static UPDATE_PAYMENT_INTENT: &[Param] = &[
    Param::optional("amount", Kind::Integer),
    Param::optional("currency", Kind::String),
    Param::optional("customer", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("payment_method", Kind::String),
    Param::optional("payment_method_types", Kind::StringList),
    Param::optional("receipt_email", Kind::String),
    SETUP_FUTURE_USAGE,
    SHIPPING,
    Param::optional("statement_descriptor", Kind::String),
    Param::optional("statement_descriptor_suffix", Kind::String),
    Param::optional(
        "capture_method",
        Kind::Enum(&["automatic", "automatic_async", "manual"]),
    ),
    PAYMENT_METHOD_OPTIONS,
    Param::optional("transfer_group", Kind::String),
    METADATA,
    EXPAND,
];

pub fn update_payment_intent(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(UPDATE_PAYMENT_INTENT, raw)?;
    let before = tx.find("payment_intent", id, "id")?;
    let status = before["status"].as_str().unwrap_or_default();
    if matches!(status, "succeeded" | "canceled" | "processing") {
        return Err(StripeError::request(format!(
            "This PaymentIntent's amount could not be updated because it has a status of {status}. You may only update the amount of a PaymentIntent with one of the following statuses: requires_payment_method, requires_confirmation, requires_action."
        ))
        .with_code("payment_intent_unexpected_state"));
    }
    let mut after = before.clone();
    if params.contains_key("currency") {
        after["currency"] = json!(currency(&params, "currency")?);
    }
    if let Some(amount) = params.get("amount").and_then(Value::as_i64) {
        check_minimum(
            amount,
            after["currency"].as_str().unwrap_or("usd"),
            "amount",
        )?;
        after["amount"] = json!(amount);
    }
    if let Some(customer) = text(&params, "customer") {
        tx.find("customer", customer, "customer")?;
    }
    if let Some(pm) = text(&params, "payment_method") {
        resolve_payment_method(tx, pm, "payment_method")?;
        after["status"] = json!("requires_confirmation");
    }
    apply_fields(
        &mut after,
        &params,
        &[
            "customer",
            "description",
            "payment_method",
            "payment_method_types",
            "receipt_email",
            "setup_future_usage",
            "shipping",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "capture_method",
            "transfer_group",
        ],
    );
    // Stripe has no event for a payment intent's update.
    tx.update(&before, after.clone(), None);
    Ok(after)
}

pub(super) static CONFIRM_PAYMENT_INTENT: &[Param] = &[
    Param::optional("payment_method", Kind::String),
    Param::optional("return_url", Kind::String),
    Param::optional("receipt_email", Kind::String),
    Param::optional("off_session", Kind::Boolean),
    PAYMENT_METHOD_OPTIONS,
    PAYMENT_METHOD_DATA,
    Param::optional(
        "capture_method",
        Kind::Enum(&["automatic", "automatic_async", "manual"]),
    ),
    SHIPPING,
    SETUP_FUTURE_USAGE,
    Param::optional("error_on_requires_action", Kind::Boolean),
    Param::optional("use_stripe_sdk", Kind::Boolean),
    EXPAND,
];

pub fn confirm_payment_intent(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(CONFIRM_PAYMENT_INTENT, raw)?;
    // What the confirmation also sets is kept on the intent before it is
    // charged, as on Stripe; a refused confirmation rolls it back.
    let before = tx.find("payment_intent", id, "id")?;
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &[
            "receipt_email",
            "capture_method",
            "shipping",
            "setup_future_usage",
        ],
    );
    if after != before {
        tx.put(after);
    }
    confirm(tx, id, text(&params, "payment_method"))
}

/// Confirms a payment intent: charges its payment method.
pub fn confirm(
    tx: &mut Tx<'_>,
    id: &str,
    payment_method: Option<&str>,
) -> Result<Value, StripeError> {
    let before = tx.find("payment_intent", id, "id")?;
    let status = before["status"].as_str().unwrap_or_default();
    if !matches!(
        status,
        "requires_payment_method" | "requires_confirmation" | "requires_action"
    ) {
        return Err(StripeError::request(format!(
            "You cannot confirm this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_action, requires_payment_method."
        ))
        .with_code("payment_intent_unexpected_state"));
    }
    let pm_id = payment_method
        .map(str::to_string)
        .or_else(|| before["payment_method"].as_str().map(str::to_string))
        .ok_or_else(|| {
            StripeError::request("You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with a payment method, pass one as `payment_method`.")
                .with_code("payment_intent_unexpected_state")
        })?;
    let (pm, card) = resolve_payment_method(tx, &pm_id, "payment_method")?;
    let mut after = before.clone();
    after["payment_method"] = pm["id"].clone();
    let amount = after["amount"].as_i64().unwrap_or(0);
    let currency = after["currency"].as_str().unwrap_or("usd").to_string();
    let payment = Payment {
        amount,
        currency: &currency,
        customer: after["customer"].clone(),
        payment_method: &pm,
        card,
        description: after["description"].clone(),
        metadata: after["metadata"].clone(),
        receipt_email: after["receipt_email"].clone(),
    };
    let (charge, declined) = charge_card(tx, &payment, id);
    let charge_id = charge["id"].as_str().unwrap_or_default().to_string();
    after["latest_charge"] = charge["id"].clone();
    match declined {
        None => {
            let manual = after["capture_method"] == "manual";
            if manual {
                let mut uncaptured = charge.clone();
                uncaptured["captured"] = json!(false);
                uncaptured["amount_captured"] = json!(0);
                tx.put(uncaptured);
                after["status"] = json!("requires_capture");
                after["amount_capturable"] = json!(amount);
            } else {
                after["status"] = json!("succeeded");
                after["amount_received"] = json!(amount);
            }
            after["last_payment_error"] = Value::Null;
            tx.put(after.clone());
            tx.emit(
                "charge.succeeded",
                &tx.get(charge["id"].as_str().unwrap_or_default())
                    .cloned()
                    .unwrap_or(charge),
                None,
            );
            tx.emit(
                if manual {
                    "payment_intent.amount_capturable_updated"
                } else {
                    "payment_intent.succeeded"
                },
                &after,
                None,
            );
            if !manual {
                super::disputes::open_if_disputed(tx, &charge_id, card);
            }
            Ok(after)
        }
        Some(mut error) => {
            after["status"] = json!("requires_payment_method");
            after["last_payment_error"] = json!({
                "charge": charge["id"],
                "code": error.code,
                "decline_code": error.decline_code,
                "doc_url": format!("https://stripe.com/docs/error-codes/{}", error.code.as_deref().unwrap_or("card-declined").replace('_', "-")),
                "message": error.message,
                "payment_method": pm,
                "type": "card_error",
            });
            tx.put(after.clone());
            tx.emit("charge.failed", &charge, None);
            tx.emit("payment_intent.payment_failed", &after, None);
            error.extra.insert("payment_intent".into(), after.clone());
            error.extra.insert("payment_method".into(), pm);
            Err(error)
        }
    }
}

pub(super) static CANCEL_PAYMENT_INTENT: &[Param] = &[
    Param::optional(
        "cancellation_reason",
        Kind::Enum(&[
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ]),
    ),
    EXPAND,
];

pub fn cancel_payment_intent(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(CANCEL_PAYMENT_INTENT, raw)?;
    let before = tx.find("payment_intent", id, "id")?;
    let status = before["status"].as_str().unwrap_or_default();
    if matches!(status, "succeeded" | "canceled") {
        return Err(StripeError::request(format!(
            "You cannot cancel this PaymentIntent because it has a status of {status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing."
        ))
        .with_code("payment_intent_unexpected_state"));
    }
    let mut after = before.clone();
    after["status"] = json!("canceled");
    after["canceled_at"] = json!(tx.now);
    after["cancellation_reason"] = params
        .get("cancellation_reason")
        .cloned()
        .unwrap_or(Value::Null);
    after["amount_capturable"] = json!(0);
    tx.put(after.clone());
    tx.emit("payment_intent.canceled", &after, None);
    Ok(after)
}

pub(super) static CAPTURE_PAYMENT_INTENT: &[Param] = &[
    Param::optional("amount_to_capture", Kind::Integer),
    Param::optional("final_capture", Kind::Boolean),
    METADATA,
    EXPAND,
];

pub fn capture_payment_intent(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(CAPTURE_PAYMENT_INTENT, raw)?;
    let before = tx.find("payment_intent", id, "id")?;
    if before["status"] != "requires_capture" {
        return Err(StripeError::request(format!(
            "This PaymentIntent could not be captured because it has a status of {}. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
            before["status"].as_str().unwrap_or_default()
        ))
        .with_code("payment_intent_unexpected_state"));
    }
    let capturable = before["amount_capturable"].as_i64().unwrap_or(0);
    let amount = params
        .get("amount_to_capture")
        .and_then(Value::as_i64)
        .unwrap_or(capturable);
    if amount > capturable {
        return Err(StripeError::invalid(
            "amount_to_capture",
            "The amount to capture is greater than the amount that can be captured.",
        )
        .with_code("amount_too_large"));
    }
    let mut after = before.clone();
    after["status"] = json!("succeeded");
    after["amount_received"] = json!(amount);
    after["amount_capturable"] = json!(0);
    if let Some(charge_id) = before["latest_charge"].as_str()
        && let Some(charge) = tx.get(charge_id).cloned()
    {
        let mut captured = charge.clone();
        captured["captured"] = json!(true);
        captured["amount_captured"] = json!(amount);
        tx.update(&charge, captured, Some("charge.captured"));
    }
    tx.put(after.clone());
    tx.emit("payment_intent.succeeded", &after, None);
    Ok(after)
}

pub(super) static LIST_PAYMENT_INTENTS: &[Param] = &[
    Param::optional("customer", Kind::String),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_payment_intents(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(LIST_PAYMENT_INTENTS, raw)?;
    list_where(
        tx,
        "payment_intent",
        &params,
        &["customer"],
        "/v1/payment_intents",
    )
}

pub(super) static LIST_CHARGES: &[Param] = &[
    Param::optional("customer", Kind::String),
    Param::optional("payment_intent", Kind::String),
    Param::optional("transfer_group", Kind::String),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_charges(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_CHARGES, raw)?;
    list_where(
        tx,
        "charge",
        &params,
        &["customer", "payment_intent"],
        "/v1/charges",
    )
}

pub(super) static REFUND_CREATE: &[Param] = &[
    Param::optional("payment_intent", Kind::String),
    Param::optional("charge", Kind::String),
    Param::optional("amount", Kind::Integer),
    Param::optional(
        "reason",
        Kind::Enum(&["duplicate", "fraudulent", "requested_by_customer"]),
    ),
    // Application fees and transfers are Connect's, which the sandbox does
    // not have: only `false` asks for nothing.
    Param::optional("refund_application_fee", Kind::FalseOnly),
    Param::optional("reverse_transfer", Kind::FalseOnly),
    // Refunds by email and to a customer's balance are not card refunds.
    Param::optional("instructions_email", Kind::Unsupported),
    Param::optional("origin", Kind::Unsupported),
    METADATA,
    EXPAND,
];

fn dollars(amount: i64, currency: &str) -> String {
    format!(
        "{}{}.{:02}",
        if currency == "usd" { "$" } else { "" },
        amount / 100,
        amount % 100
    )
}

pub fn create_refund(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(REFUND_CREATE, raw)?;
    let charge_id = match (text(&params, "charge"), text(&params, "payment_intent")) {
        (Some(charge), None) => charge.to_string(),
        (None, Some(pi)) => {
            let intent = tx.find("payment_intent", pi, "payment_intent")?;
            if intent["status"] != "succeeded" {
                return Err(StripeError::invalid(
                    "payment_intent",
                    format!(
                        "This PaymentIntent ({pi}) does not have a successful charge to refund."
                    ),
                ));
            }
            intent["latest_charge"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
        (Some(_), Some(_)) => {
            return Err(StripeError::request(
                "You can only specify one of these parameters: charge, payment_intent.",
            ));
        }
        (None, None) => {
            return Err(StripeError::request(
                "One of the following params should be provided for this request: payment_intent or charge.",
            ));
        }
    };
    let charge = tx.find("charge", &charge_id, "charge")?;
    if charge["status"] != "succeeded" || charge["captured"] != true {
        return Err(StripeError::invalid(
            "charge",
            format!("Charge {charge_id} has not been captured and cannot be refunded."),
        ));
    }
    let captured = charge["amount_captured"].as_i64().unwrap_or(0);
    let refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
    let remaining = captured - refunded;
    if remaining <= 0 {
        return Err(
            StripeError::request(format!("Charge {charge_id} has already been refunded."))
                .with_code("charge_already_refunded"),
        );
    }
    let amount = params
        .get("amount")
        .and_then(Value::as_i64)
        .unwrap_or(remaining);
    let currency = charge["currency"].as_str().unwrap_or("usd");
    if amount <= 0 {
        return Err(StripeError::invalid("amount", "Invalid positive integer"));
    }
    if amount > remaining {
        return Err(StripeError::invalid(
            "amount",
            format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                dollars(amount, currency),
                dollars(remaining, currency)
            ),
        )
        .with_code("amount_too_large"));
    }
    let refund = objects::refund(random_id("re_", 24), &charge, amount, &params, tx.now);
    tx.put(refund.clone());
    let mut after = charge.clone();
    after["amount_refunded"] = json!(refunded + amount);
    after["refunded"] = json!(refunded + amount == captured);
    tx.emit("refund.created", &refund, None);
    tx.update(&charge, after, Some("charge.refunded"));
    Ok(refund)
}

pub(super) static UPDATE_REFUND: &[Param] = &[METADATA, EXPAND];

pub fn update_refund(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(UPDATE_REFUND, raw)?;
    let before = tx.find("refund", id, "id")?;
    let mut after = before.clone();
    apply_fields(&mut after, &params, &[]);
    let previous = super::super::state::previous_attributes(&before, &after);
    tx.update(&before, after.clone(), Some("refund.updated"));
    // Stripe tells of a charge's refund changing in the charge's terms too.
    if previous
        .as_object()
        .is_some_and(|changed| !changed.is_empty())
    {
        tx.emit("charge.refund.updated", &after, Some(previous));
    }
    Ok(after)
}

pub(super) static LIST_REFUNDS: &[Param] = &[
    Param::optional("charge", Kind::String),
    Param::optional("payment_intent", Kind::String),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_refunds(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_REFUNDS, raw)?;
    list_where(
        tx,
        "refund",
        &params,
        &["charge", "payment_intent"],
        "/v1/refunds",
    )
}
