//! Saving a card for later: setup intents (`/v1/setup_intents`: create,
//! retrieve, update, list, confirm, cancel, with `setup_intent.*` events),
//! which check a card without charging it and attach it to the customer;
//! and a saved card's own details changed (`POST /v1/payment_methods/{id}`,
//! `payment_method.updated`).

use serde_json::{Map, Value, json};

use super::catalog::attach;
use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, check, decline_error,
    list_where, resolve_payment_method, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, random_id};

const PAYMENT_METHOD_TYPES: Param = Param::optional("payment_method_types", Kind::StringList);

/// Only cards: the sandbox has no other kind of payment method.
fn check_types(params: &Map<String, Value>) -> Result<(), StripeError> {
    let types = params
        .get("payment_method_types")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match types.iter().find(|t| *t != "card") {
        Some(other) => Err(StripeError::invalid(
            "payment_method_types",
            format!(
                "The payment method type {other} is not one the paywire sandbox implements yet: use card."
            ),
        )
        .with_code("parameter_unknown")),
        None => Ok(()),
    }
}

pub fn create_setup_intent(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("customer", Kind::String),
        Param::optional("payment_method", Kind::String),
        PAYMENT_METHOD_TYPES,
        Param::optional("description", Kind::String),
        Param::optional("usage", Kind::Enum(&["off_session", "on_session"])),
        Param::optional("confirm", Kind::Boolean),
        Param::optional("return_url", Kind::String),
        Param::optional("automatic_payment_methods", Kind::Unsupported),
        Param::optional("payment_method_options", Kind::Unsupported),
        Param::optional("payment_method_data", Kind::Unsupported),
        Param::optional("mandate_data", Kind::Unsupported),
        Param::optional("single_use", Kind::Unsupported),
        Param::optional("attach_to_self", Kind::Unsupported),
        Param::optional("flow_directions", Kind::Unsupported),
        Param::optional("on_behalf_of", Kind::Unsupported),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    check_types(&params)?;
    if let Some(customer) = text(&params, "customer") {
        tx.find("customer", customer, "customer")?;
    }
    let id = random_id("seti_", 24);
    let payment_method = text(&params, "payment_method");
    if let Some(pm) = payment_method {
        resolve_payment_method(tx, pm, "payment_method")?;
    }
    let intent = json!({
        "id": id,
        "object": "setup_intent",
        "application": null,
        "automatic_payment_methods": null,
        "cancellation_reason": null,
        "client_secret": format!("{id}_secret_{}", random_id("", 25)),
        "created": tx.now,
        "customer": text(&params, "customer"),
        "customer_account": null,
        "description": text(&params, "description"),
        "excluded_payment_method_types": null,
        "flow_directions": null,
        "last_setup_error": null,
        "latest_attempt": null,
        "livemode": false,
        "mandate": null,
        "metadata": objects::metadata(params.get("metadata")),
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": payment_method,
        "payment_method_configuration_details": null,
        "payment_method_options": { "card": { "mandate_options": null, "network": null, "request_three_d_secure": "automatic" } },
        "payment_method_types": ["card"],
        "single_use_mandate": null,
        "status": if payment_method.is_some() { "requires_confirmation" } else { "requires_payment_method" },
        "usage": text(&params, "usage").unwrap_or("off_session"),
    });
    tx.put(intent.clone());
    tx.emit("setup_intent.created", &intent, None);
    if params.get("confirm") == Some(&json!(true)) {
        return confirm(tx, &id, None);
    }
    Ok(intent)
}

pub fn update_setup_intent(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("customer", Kind::String),
        Param::optional("payment_method", Kind::String),
        PAYMENT_METHOD_TYPES,
        Param::optional("description", Kind::String),
        Param::optional("payment_method_options", Kind::Unsupported),
        Param::optional("payment_method_data", Kind::Unsupported),
        Param::optional("attach_to_self", Kind::Unsupported),
        Param::optional("flow_directions", Kind::Unsupported),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    check_types(&params)?;
    let before = tx.find("setup_intent", id, "id")?;
    unsettled(&before)?;
    if let Some(customer) = text(&params, "customer") {
        tx.find("customer", customer, "customer")?;
    }
    if let Some(pm) = text(&params, "payment_method") {
        resolve_payment_method(tx, pm, "payment_method")?;
    }
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &["customer", "payment_method", "description"],
    );
    if !after["payment_method"].is_null() && after["status"] == "requires_payment_method" {
        after["status"] = json!("requires_confirmation");
    }
    tx.put(after.clone());
    Ok(after)
}

/// A setup intent can change until it succeeds or is canceled.
fn unsettled(intent: &Value) -> Result<(), StripeError> {
    match intent["status"].as_str() {
        Some(status @ ("succeeded" | "canceled")) => Err(StripeError::request(format!(
            "You cannot update or confirm this SetupIntent because it has a status of {status}."
        ))
        .with_code("setup_intent_unexpected_state")),
        _ => Ok(()),
    }
}

pub fn confirm_setup_intent(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("payment_method", Kind::String),
        Param::optional("return_url", Kind::String),
        Param::optional("payment_method_options", Kind::Unsupported),
        Param::optional("payment_method_data", Kind::Unsupported),
        Param::optional("mandate_data", Kind::Unsupported),
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    confirm(tx, id, text(&params, "payment_method"))
}

/// Checks the card without charging it: a card that would decline fails
/// the setup (Stripe's 402, `setup_intent.setup_failed`); one that does not
/// is saved to the customer, if there is one (`setup_intent.succeeded`).
fn confirm(tx: &mut Tx<'_>, id: &str, payment_method: Option<&str>) -> Result<Value, StripeError> {
    let before = tx.find("setup_intent", id, "id")?;
    unsettled(&before)?;
    let pm_id = payment_method
        .map(str::to_string)
        .or_else(|| before["payment_method"].as_str().map(str::to_string))
        .ok_or_else(|| {
            StripeError::request("You cannot confirm this SetupIntent because it's missing a payment method. Pass one as `payment_method`.")
                .with_code("setup_intent_unexpected_state")
        })?;
    let (_, card) = resolve_payment_method(tx, &pm_id, "payment_method")?;
    let mut after = before.clone();
    if !crate::cards::saves(card) {
        let mut error = decline_error(card);
        after["status"] = json!("requires_payment_method");
        after["payment_method"] = Value::Null;
        after["last_setup_error"] = json!({
            "code": error.code,
            "decline_code": error.decline_code,
            "doc_url": "https://stripe.com/docs/error-codes/card-declined",
            "message": error.message,
            "payment_method": tx.get(&pm_id).cloned(),
            "type": "card_error",
        });
        tx.put(after.clone());
        tx.emit("setup_intent.setup_failed", &after, None);
        error.extra.insert("setup_intent".into(), after);
        return Err(error);
    }
    let saved = match before["customer"].as_str() {
        Some(customer) => attach(tx, &pm_id, customer, "payment_method")?,
        None => tx.get(&pm_id).cloned().unwrap_or(Value::Null),
    };
    after["payment_method"] = saved["id"].clone();
    after["status"] = json!("succeeded");
    after["last_setup_error"] = Value::Null;
    tx.put(after.clone());
    tx.emit("setup_intent.succeeded", &after, None);
    Ok(after)
}

pub fn cancel_setup_intent(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional(
            "cancellation_reason",
            Kind::Enum(&["abandoned", "duplicate", "requested_by_customer"]),
        ),
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find("setup_intent", id, "id")?;
    unsettled(&before)?;
    let mut after = before.clone();
    after["status"] = json!("canceled");
    after["cancellation_reason"] = params
        .get("cancellation_reason")
        .cloned()
        .unwrap_or(Value::Null);
    tx.put(after.clone());
    tx.emit("setup_intent.canceled", &after, None);
    Ok(after)
}

pub fn list_setup_intents(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("customer", Kind::String),
        Param::optional("payment_method", Kind::String),
        Param::optional("attach_to_self", Kind::Unsupported),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    list_where(
        tx,
        "setup_intent",
        &params,
        &["customer", "payment_method"],
        "/v1/setup_intents",
    )
}

/// Changes a saved card's details: its billing details and metadata (and
/// its expiry, as Stripe lets one).
pub fn update_payment_method(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional(
            "billing_details",
            Kind::Object(&[
                Param::optional("address", Kind::Any),
                Param::optional("email", Kind::String),
                Param::optional("name", Kind::String),
                Param::optional("phone", Kind::String),
                Param::optional("tax_id", Kind::Unsupported),
            ]),
        ),
        Param::optional(
            "card",
            Kind::Object(&[
                Param::optional("exp_month", Kind::Integer),
                Param::optional("exp_year", Kind::Integer),
                Param::optional("networks", Kind::Unsupported),
            ]),
        ),
        Param::optional(
            "allow_redisplay",
            Kind::Enum(&["always", "limited", "unspecified"]),
        ),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = match tx.get(id) {
        Some(pm) if pm["object"] == "payment_method" && !pm["customer"].is_null() => pm.clone(),
        Some(pm) if pm["object"] == "payment_method" => {
            return Err(StripeError::request(
                "You must save this PaymentMethod to a customer before you can update it.",
            ));
        }
        _ => return Err(StripeError::no_such("PaymentMethod", id, "id")),
    };
    let mut after = before.clone();
    if let Some(details) = params.get("billing_details").and_then(Value::as_object) {
        for (field, value) in details {
            after["billing_details"][field.as_str()] = if *value == "" {
                Value::Null
            } else {
                value.clone()
            };
        }
    }
    if let Some(card) = params.get("card").and_then(Value::as_object) {
        for field in ["exp_month", "exp_year"] {
            if let Some(value) = card.get(field) {
                after["card"][field] = value.clone();
            }
        }
    }
    apply_fields(&mut after, &params, &["allow_redisplay"]);
    tx.update(&before, after.clone(), Some("payment_method.updated"));
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::super::Verb;
    use super::super::schedule::tests::World;

    fn newest_event(world: &World) -> String {
        world.state.newest_first("event").next().unwrap()["type"]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_setup_intent_saves_a_good_card_and_fails_a_declining_one() {
        let mut world = World::new();
        let customer = world.post("customers", "email=a@example.com")["id"]
            .as_str()
            .unwrap()
            .to_string();
        let saved = world.post(
            "setup_intents",
            &format!("customer={customer}&payment_method=pm_card_visa&confirm=true"),
        );
        assert_eq!(saved["status"], "succeeded");
        assert_eq!(newest_event(&world), "setup_intent.succeeded");
        let card = world.get(saved["payment_method"].as_str().unwrap());
        assert_eq!(card["customer"], customer.as_str());

        let declined = world
            .call(
                Verb::Post,
                "setup_intents",
                &format!("customer={customer}&payment_method=pm_card_chargeDeclined&confirm=true"),
            )
            .unwrap_err();
        assert_eq!(declined.status, 402);
        // The server keeps a 402's changes and its `setup_intent.setup_failed`,
        // as Stripe does; this test's calls undo every refused one.
        assert_eq!(
            declined.extra["setup_intent"]["status"],
            "requires_payment_method"
        );
        assert_eq!(
            declined.extra["setup_intent"]["last_setup_error"]["code"],
            "card_declined"
        );

        let later = world.post("setup_intents", "payment_method_types[0]=card");
        assert_eq!(later["status"], "requires_payment_method");
        let id = later["id"].as_str().unwrap().to_string();
        let confirmed = world.post(
            &format!("setup_intents/{id}/confirm"),
            "payment_method=pm_card_mastercard",
        );
        assert_eq!(confirmed["status"], "succeeded");
        let refused = world
            .call(Verb::Post, &format!("setup_intents/{id}/cancel"), "")
            .unwrap_err();
        assert_eq!(
            refused.code.as_deref(),
            Some("setup_intent_unexpected_state")
        );
        let sepa = world
            .call(
                Verb::Post,
                "setup_intents",
                "payment_method_types[0]=sepa_debit",
            )
            .unwrap_err();
        assert_eq!(sepa.param.as_deref(), Some("payment_method_types"));

        // A saved card's details change; an unsaved one's do not.
        let pm = card["id"].as_str().unwrap().to_string();
        let updated = world.post(
            &format!("payment_methods/{pm}"),
            "billing_details[name]=Ada&metadata[k]=v",
        );
        assert_eq!(updated["billing_details"]["name"], "Ada");
        assert_eq!(newest_event(&world), "payment_method.updated");
        let loose = world.post("payment_methods", "type=card&card[token]=tok_visa")["id"]
            .as_str()
            .unwrap()
            .to_string();
        let refused = world
            .call(
                Verb::Post,
                &format!("payment_methods/{loose}"),
                "metadata[k]=v",
            )
            .unwrap_err();
        assert!(
            refused.message.contains("save this PaymentMethod"),
            "{}",
            refused.message
        );
    }
}
