//! Checkout sessions, and paying one: from the hosted page, or from the
//! private `payment_pages` endpoints that Stripe's CLI calls.

use serde_json::{Map, Value, json};

use super::billing_cycle::{SubscriptionOptions, start_subscription};
use super::catalog::{attach, new_price};
use super::payments::{PI_SHIPPING, confirm};
use super::subscriptions::TRIAL_SETTINGS;
use super::{
    AUTOMATIC_TAX, DISCOUNTS, METADATA, apply_fields, check, decline_error, list_where,
    public_view, resolve_payment_method, text,
};
use crate::cards::Outcome;
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects::{self, SessionSpec};
use crate::state::{Tx, list_page, random_id};

/// How long a session stays open when its creator does not say.
const DEFAULT_LIFETIME: i64 = 24 * 3600;

static PRICE_DATA: &[Param] = &[
    Param::required("currency", Kind::String),
    Param::optional("unit_amount", Kind::Integer),
    Param::optional("unit_amount_decimal", Kind::String),
    Param::optional("product", Kind::String),
    Param::optional(
        "product_data",
        Kind::Object(&[
            Param::required("name", Kind::String),
            Param::optional("description", Kind::String),
            Param::optional("images", Kind::StringList),
            Param::optional("tax_code", Kind::String),
            Param::optional("unit_label", Kind::String),
            METADATA,
        ]),
    ),
    Param::optional(
        "recurring",
        Kind::Object(&[
            Param::required("interval", Kind::Enum(&["day", "week", "month", "year"])),
            Param::optional("interval_count", Kind::Integer),
        ]),
    ),
    Param::optional(
        "tax_behavior",
        Kind::Enum(&["exclusive", "inclusive", "unspecified"]),
    ),
];

/// A custom text of the hosted page, shown on the session as given.
static MESSAGE: &[Param] = &[Param::required("message", Kind::String)];

pub(super) static SESSION_CREATE: &[Param] = &[
    Param::optional("mode", Kind::Enum(&["payment", "setup", "subscription"])),
    Param::optional(
        "line_items",
        Kind::ObjectList(&[
            Param::optional("price", Kind::String),
            Param::optional("price_data", Kind::Object(PRICE_DATA)),
            Param::optional("quantity", Kind::Integer),
            // The hosted page lets no quantity change, and there is no tax.
            Param::optional("adjustable_quantity", Kind::Unsupported),
            Param::optional("dynamic_tax_rates", Kind::Unsupported),
            Param::optional("tax_rates", Kind::Unsupported),
        ]),
    ),
    Param::optional("success_url", Kind::String),
    Param::optional("cancel_url", Kind::String),
    Param::optional("return_url", Kind::String),
    Param::optional("customer", Kind::String),
    Param::optional("customer_email", Kind::String),
    Param::optional("customer_creation", Kind::Enum(&["always", "if_required"])),
    Param::optional("client_reference_id", Kind::String),
    Param::optional("currency", Kind::String),
    Param::optional("expires_at", Kind::Timestamp),
    Param::optional("locale", Kind::String),
    Param::optional("payment_method_types", Kind::StringList),
    Param::optional(
        "payment_method_collection",
        Kind::Enum(&["always", "if_required"]),
    ),
    Param::optional(
        "submit_type",
        Kind::Enum(&["auto", "book", "donate", "pay", "subscribe"]),
    ),
    Param::optional(
        "billing_address_collection",
        Kind::Enum(&["auto", "required"]),
    ),
    Param::optional("allow_promotion_codes", Kind::FalseOnly),
    // The names of API 2026-09-30; the older names are read as their new ones.
    Param::optional(
        "ui_mode",
        Kind::Enum(&[
            "elements",
            "embedded_page",
            "form",
            "hosted_page",
            "custom",
            "embedded",
            "hosted",
        ]),
    ),
    Param::optional(
        "payment_intent_data",
        Kind::Object(&[
            Param::optional("description", Kind::String),
            Param::optional(
                "capture_method",
                Kind::Enum(&["automatic", "automatic_async", "manual"]),
            ),
            Param::optional("receipt_email", Kind::String),
            Param::optional(
                "setup_future_usage",
                Kind::Enum(&["off_session", "on_session"]),
            ),
            Param::optional("shipping", Kind::Object(PI_SHIPPING)),
            Param::optional("statement_descriptor", Kind::String),
            Param::optional("statement_descriptor_suffix", Kind::String),
            Param::optional("transfer_group", Kind::String),
            // Fees and transfers are Connect's, which the sandbox does not have.
            Param::optional("application_fee_amount", Kind::Unsupported),
            Param::optional("on_behalf_of", Kind::Unsupported),
            Param::optional("transfer_data", Kind::Unsupported),
            METADATA,
        ]),
    ),
    Param::optional(
        "subscription_data",
        Kind::Object(&[
            Param::optional("trial_period_days", Kind::Integer),
            Param::optional("trial_end", Kind::Timestamp),
            Param::optional("description", Kind::String),
            // No tax, and periods start when the subscription does.
            Param::optional("default_tax_rates", Kind::Unsupported),
            Param::optional("billing_cycle_anchor", Kind::Unsupported),
            // Prorations come only of a billing cycle anchor, refused above.
            Param::optional(
                "proration_behavior",
                Kind::Enum(&["create_prorations", "none"]),
            ),
            Param::optional("trial_settings", Kind::Object(TRIAL_SETTINGS)),
            // Fees, transfers and invoice issuers are Connect's.
            Param::optional("application_fee_percent", Kind::Unsupported),
            Param::optional("on_behalf_of", Kind::Unsupported),
            Param::optional("transfer_data", Kind::Unsupported),
            Param::optional("invoice_settings", Kind::Unsupported),
            METADATA,
        ]),
    ),
    AUTOMATIC_TAX,
    // The hosted page collects a card and an email, nothing more: what asks
    // it to collect, show or save more is refused until it does.
    Param::optional("consent_collection", Kind::Unsupported),
    Param::optional("custom_fields", Kind::Unsupported),
    Param::optional(
        "custom_text",
        Kind::Object(&[
            Param::optional("after_submit", Kind::Object(MESSAGE)),
            Param::optional("shipping_address", Kind::Object(MESSAGE)),
            Param::optional("submit", Kind::Object(MESSAGE)),
            Param::optional("terms_of_service_acceptance", Kind::Object(MESSAGE)),
        ]),
    ),
    Param::optional("customer_update", Kind::Unsupported),
    DISCOUNTS,
    Param::optional("invoice_creation", Kind::Unsupported),
    Param::optional("payment_method_options", Kind::Unsupported),
    Param::optional(
        "phone_number_collection",
        Kind::Object(&[Param::required("enabled", Kind::FalseOnly)]),
    ),
    Param::optional("saved_payment_method_options", Kind::Unsupported),
    Param::optional("shipping_address_collection", Kind::Unsupported),
    Param::optional("shipping_options", Kind::Unsupported),
    Param::optional("tax_id_collection", Kind::Unsupported),
    Param::optional("after_expiration", Kind::Unsupported),
    Param::optional(
        "redirect_on_completion",
        Kind::Enum(&["always", "if_required", "never"]),
    ),
    METADATA,
    EXPAND,
];

pub fn create_session(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let mut params = check(SESSION_CREATE, raw)?;
    let mode = text(&params, "mode")
        .ok_or_else(|| StripeError::missing("mode"))?
        .to_string();
    if mode == "setup" {
        return Err(StripeError::invalid(
            "mode",
            "The paywire sandbox does not support Checkout in setup mode yet; use payment or subscription.",
        ));
    }
    let ui_mode = match text(&params, "ui_mode").unwrap_or("hosted_page") {
        "hosted" => "hosted_page",
        "embedded" => "embedded_page",
        "custom" => "elements",
        current => current,
    }
    .to_string();
    params.insert("ui_mode".into(), Value::from(ui_mode.as_str()));
    if ui_mode == "hosted_page" && text(&params, "success_url").is_none() {
        return Err(StripeError::missing("success_url"));
    }
    if let Some(customer) = text(&params, "customer") {
        tx.find("customer", customer, "customer")?;
        if text(&params, "customer_email").is_some() {
            return Err(StripeError::request(
                "You may only specify one of these parameters: customer, customer_email.",
            ));
        }
    }
    let given = params
        .get("line_items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if given.is_empty() {
        return Err(StripeError::missing("line_items"));
    }
    let mut lines = Vec::new();
    let mut session_currency: Option<String> = None;
    let mut subtotal = 0;
    let mut recurring = false;
    for (i, line) in given.iter().enumerate() {
        let line = line.as_object().cloned().unwrap_or_default();
        let at = |field: &str| format!("line_items[{i}][{field}]");
        let price = match (
            text(&line, "price"),
            line.get("price_data").and_then(Value::as_object),
        ) {
            (Some(price), None) => {
                let found = tx.find("price", price, &at("price"))?;
                if found["active"] != true {
                    return Err(StripeError::invalid(
                        &at("price"),
                        format!(
                            "The price specified ({price}) is inactive. This field only accepts active prices."
                        ),
                    ));
                }
                found
            }
            (None, Some(data)) => {
                let product = match (
                    text(data, "product"),
                    data.get("product_data").and_then(Value::as_object),
                ) {
                    (Some(product), _) => {
                        tx.find("product", product, &at("price_data][product"))?["id"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string()
                    }
                    (None, Some(product_data)) => {
                        let product =
                            objects::product(random_id("prod_", 14), product_data, tx.now);
                        tx.put(product.clone());
                        tx.emit("product.created", &product, None);
                        product["id"].as_str().unwrap_or_default().to_string()
                    }
                    (None, None) => {
                        return Err(StripeError::missing(&at("price_data][product_data")));
                    }
                };
                new_price(tx, &product, data)?
            }
            (None, None) => {
                return Err(StripeError::invalid(
                    &at("price"),
                    format!(
                        "You must specify either `price` or `price_data` in `line_items[{i}]`."
                    ),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(StripeError::invalid(
                    &at("price"),
                    "You may only specify one of these parameters: price, price_data.",
                ));
            }
        };
        let quantity = line
            .get("quantity")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                StripeError::invalid(
                    &at("quantity"),
                    format!("Quantity is required. Add `quantity` to `line_items[{i}]`"),
                )
            })?;
        if quantity < 1 {
            return Err(StripeError::invalid(
                &at("quantity"),
                "Quantity must be at least 1.",
            ));
        }
        let price_currency = price["currency"].as_str().unwrap_or("usd").to_string();
        match &session_currency {
            Some(c) if *c != price_currency => {
                return Err(StripeError::invalid(
                    &at("price"),
                    "All prices on a Checkout Session must have the same currency.",
                ));
            }
            _ => session_currency = Some(price_currency),
        }
        let is_recurring = price["type"] == "recurring";
        if is_recurring && mode == "payment" {
            return Err(StripeError::invalid(
                &at("price"),
                "You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.",
            ));
        }
        recurring |= is_recurring;
        let name = tx
            .get(price["product"].as_str().unwrap_or_default())
            .map(|p| p["name"].clone())
            .unwrap_or(Value::Null);
        let item = objects::checkout_line(&price, quantity, name);
        subtotal += item["amount_total"].as_i64().unwrap_or(0);
        lines.push(item);
    }
    if mode == "subscription" && !recurring {
        return Err(StripeError::invalid(
            "line_items",
            "You must provide at least one recurring price in `subscription` mode when using prices.",
        ));
    }
    let currency_value = json!(session_currency.clone().unwrap_or_else(|| "usd".into()));
    if mode == "payment" {
        super::check_minimum(
            subtotal,
            session_currency.as_deref().unwrap_or("usd"),
            "line_items",
        )?;
    }
    let expires_at = match params.get("expires_at").and_then(Value::as_i64) {
        Some(at) if at < tx.now + 1800 || at > tx.now + DEFAULT_LIFETIME => {
            return Err(StripeError::invalid(
                "expires_at",
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            ));
        }
        Some(at) => at,
        None => tx.now + DEFAULT_LIFETIME,
    };
    let id = random_id("cs_test_a1", 56);
    let url = format!("{}/checkout/pay/{id}", tx.base_url);
    let mut session = objects::checkout_session(
        id.clone(),
        SessionSpec {
            params: &params,
            mode: &mode,
            currency: currency_value,
            subtotal,
            expires_at,
            url,
        },
        tx.now,
    );
    apply_fields(
        &mut session,
        &params,
        &[
            "return_url",
            "payment_method_collection",
            "redirect_on_completion",
        ],
    );
    if let Some(texts) = params.get("custom_text").and_then(Value::as_object) {
        // Stripe shows every text, null where none is given.
        for (key, message) in texts {
            session["custom_text"][key] = message.clone();
        }
    }
    session["line_items"] = json!({ "object": "list", "data": lines, "has_more": false, "url": format!("/v1/checkout/sessions/{id}/line_items") });
    // Checked now, as Stripe does, rather than when the session completes.
    if let Some(given) = params
        .get("subscription_data")
        .and_then(|d| d.get("trial_settings"))
    {
        super::billing_cycle::trial_settings(given).map_err(|e| StripeError {
            param: Some(
                "subscription_data[trial_settings][end_behavior][missing_payment_method]".into(),
            ),
            ..e
        })?;
    }
    // Kept for completion; Stripe does not show these on the session.
    session["x_payment_intent_data"] = params
        .get("payment_intent_data")
        .cloned()
        .unwrap_or(Value::Null);
    session["x_subscription_data"] = params
        .get("subscription_data")
        .cloned()
        .unwrap_or(Value::Null);
    tx.put(session.clone());
    Ok(public_view(&session))
}

pub(super) static UPDATE_SESSION: &[Param] = &[
    METADATA,
    // Shipping is not collected by the hosted page yet.
    Param::optional("shipping_options", Kind::Unsupported),
    Param::optional("collected_information", Kind::Unsupported),
    EXPAND,
];

pub fn update_session(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(UPDATE_SESSION, raw)?;
    let before = tx.find("checkout.session", id, "id")?;
    let mut after = before.clone();
    apply_fields(&mut after, &params, &[]);
    tx.update(&before, after.clone(), None);
    Ok(public_view(&after))
}

pub(super) static LIST_SESSIONS: &[Param] = &[
    Param::optional("customer", Kind::String),
    Param::optional("payment_intent", Kind::String),
    Param::optional("payment_link", Kind::String),
    Param::optional("status", Kind::Enum(&["complete", "expired", "open"])),
    Param::optional("subscription", Kind::String),
    Param::optional("customer_details", Kind::Unsupported),
    Param::optional("created", Kind::Any),
    Param::optional("limit", Kind::Integer),
    Param::optional("starting_after", Kind::String),
    Param::optional("ending_before", Kind::String),
    EXPAND,
];

pub fn list_sessions(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_SESSIONS, raw)?;
    let mut page = list_where(
        tx,
        "checkout.session",
        &params,
        &[
            "customer",
            "payment_intent",
            "payment_link",
            "status",
            "subscription",
        ],
        "/v1/checkout/sessions",
    )?;
    if let Some(items) = page["data"].as_array_mut() {
        for item in items.iter_mut() {
            *item = public_view(item);
        }
    }
    Ok(page)
}

pub(super) static LIST_LINE_ITEMS: &[Param] = &[
    Param::optional("limit", Kind::Integer),
    Param::optional("starting_after", Kind::String),
    Param::optional("ending_before", Kind::String),
    EXPAND,
];

pub fn list_line_items(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(LIST_LINE_ITEMS, raw)?;
    let session = tx.find("checkout.session", id, "id")?;
    let lines = session["line_items"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Line items list in the order they were given, unlike other lists.
    list_page(
        lines.iter(),
        &params,
        &format!("/v1/checkout/sessions/{id}/line_items"),
    )
}

pub fn expire_session(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    let session = tx.find("checkout.session", id, "id")?;
    if session["status"] != "open" {
        return Err(StripeError::request(format!(
            "Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".",
            session["status"].as_str().unwrap_or_default()
        )));
    }
    Ok(public_view(&expire(tx, &session)))
}

fn expire(tx: &mut Tx<'_>, session: &Value) -> Value {
    let mut expired = session.clone();
    expired["status"] = json!("expired");
    expired["url"] = Value::Null;
    tx.put(expired.clone());
    tx.emit("checkout.session.expired", &expired, None);
    expired
}

/// What the hosted page shows of a session: itself and its lines.
pub fn session_page_view(tx: &Tx<'_>, id: &str) -> Result<(Value, Vec<Value>), StripeError> {
    let session = tx.find("checkout.session", id, "session")?;
    let lines = session["line_items"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok((public_view(&session), lines))
}

pub fn payment_page(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let session = tx.find("checkout.session", id, "id")?;
    let mut page = public_view(&session);
    page["line_items"] = session["line_items"].clone();
    Ok(page)
}

pub fn confirm_payment_page(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    // A private endpoint whose parameters Stripe's page varies: read the
    // ones that matter and let the rest be.
    let payment_method = text(raw, "payment_method")
        .ok_or_else(|| StripeError::missing("payment_method"))?
        .to_string();
    let session = tx.find("checkout.session", id, "id")?;
    if let Some(expected) = raw.get("expected_amount").and_then(|v| {
        v.as_str()
            .and_then(|s| s.parse::<i64>().ok())
            .or_else(|| v.as_i64())
    }) && session["amount_total"].as_i64() != Some(expected)
    {
        return Err(StripeError::invalid(
            "expected_amount",
            format!(
                "The expected amount {expected} does not match the session's total {}.",
                session["amount_total"]
            ),
        ));
    }
    let email = text(raw, "email").map(str::to_string);
    complete_session(tx, id, &payment_method, email.as_deref())
}

/// Pays an open session with a payment method: the payment (or the
/// subscription) happens, the session completes, and the events follow.
pub fn complete_session(
    tx: &mut Tx<'_>,
    id: &str,
    payment_method: &str,
    email: Option<&str>,
) -> Result<Value, StripeError> {
    let session = tx.find("checkout.session", id, "id")?;
    if session["status"] != "open" {
        return Err(StripeError::request(format!(
            "This Checkout Session is no longer active (its status is {}).",
            session["status"].as_str().unwrap_or_default()
        )));
    }
    if session["expires_at"]
        .as_i64()
        .is_some_and(|at| at <= tx.now)
    {
        expire(tx, &session);
        return Err(StripeError::request("This Checkout Session has expired."));
    }
    let (pm, card) = resolve_payment_method(tx, payment_method, "payment_method")?;
    let email = email
        .map(str::to_string)
        .or_else(|| session["customer_email"].as_str().map(str::to_string))
        .or_else(|| {
            session["customer"]
                .as_str()
                .and_then(|c| tx.get(c))
                .and_then(|c| c["email"].as_str().map(str::to_string))
        });
    let mode = session["mode"].as_str().unwrap_or("payment");
    let needs_customer = mode == "subscription" || session["customer_creation"] == "always";
    let declines = matches!(card.outcome, Outcome::Declined(_));
    let customer = match session["customer"].as_str() {
        Some(customer) => Some(customer.to_string()),
        // A declined card creates no customer; the session stays open.
        None if needs_customer && !declines => {
            let mut params = Map::new();
            if let Some(email) = &email {
                params.insert("email".into(), json!(email));
            }
            let customer = objects::customer(random_id("cus_", 14), &params, tx.now);
            tx.put(customer.clone());
            tx.emit("customer.created", &customer, None);
            customer["id"].as_str().map(str::to_string)
        }
        None => None,
    };
    let mut after = session.clone();
    match mode {
        "subscription" => {
            if declines {
                return Err(decline_error(card));
            }
            let customer = customer.unwrap_or_default();
            let attached = attach(
                tx,
                pm["id"].as_str().unwrap_or(payment_method),
                &customer,
                "payment_method",
            )?;
            let before_customer = tx.find("customer", &customer, "customer")?;
            let mut with_default = before_customer.clone();
            with_default["invoice_settings"]["default_payment_method"] = attached["id"].clone();
            tx.update(&before_customer, with_default, Some("customer.updated"));
            let data = session["x_subscription_data"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let items = session_items(&session);
            let subscription = start_subscription(
                tx,
                &customer,
                &items,
                SubscriptionOptions {
                    trial_days: data.get("trial_period_days").and_then(Value::as_i64),
                    trial_end: data.get("trial_end").and_then(Value::as_i64),
                    metadata: objects::metadata(data.get("metadata")),
                    default_payment_method: attached["id"].as_str().map(str::to_string),
                    description: data.get("description").cloned().unwrap_or(Value::Null),
                    trial_settings: data.get("trial_settings").cloned(),
                },
            )?;
            let paid_nothing = tx
                .get(subscription["latest_invoice"].as_str().unwrap_or_default())
                .is_some_and(|i| i["amount_paid"] == 0);
            after["subscription"] = subscription["id"].clone();
            after["invoice"] = subscription["latest_invoice"].clone();
            after["customer"] = json!(customer);
            after["payment_status"] = json!(if paid_nothing {
                "no_payment_required"
            } else {
                "paid"
            });
        }
        _ => {
            let intent_data = session["x_payment_intent_data"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let mut params = Map::new();
            for key in [
                "description",
                "capture_method",
                "receipt_email",
                "setup_future_usage",
                "shipping",
                "statement_descriptor",
                "statement_descriptor_suffix",
                "transfer_group",
            ] {
                if let Some(value) = intent_data.get(key) {
                    params.insert(key.into(), value.clone());
                }
            }
            params.insert(
                "metadata".into(),
                objects::metadata(intent_data.get("metadata")),
            );
            if let Some(customer) = &customer {
                params.insert("customer".into(), json!(customer));
            }
            let amount = session["amount_total"].as_i64().unwrap_or(0);
            let currency = session["currency"].as_str().unwrap_or("usd").to_string();
            let intent =
                objects::payment_intent(random_id("pi_", 24), amount, &currency, &params, tx.now);
            let intent_id = intent["id"].as_str().unwrap_or_default().to_string();
            tx.put(intent.clone());
            tx.emit("payment_intent.created", &intent, None);
            let confirmed = confirm(
                tx,
                &intent_id,
                Some(pm["id"].as_str().unwrap_or(payment_method)),
            )?;
            after["payment_intent"] = json!(intent_id);
            after["customer"] = customer.map(Value::String).unwrap_or(Value::Null);
            after["payment_status"] = json!(if confirmed["status"] == "succeeded" {
                "paid"
            } else {
                "unpaid"
            });
        }
    }
    after["status"] = json!("complete");
    after["url"] = Value::Null;
    after["customer_details"] = json!({
        "address": pm["billing_details"]["address"],
        "business_name": null,
        "email": email,
        "individual_name": null,
        "name": pm["billing_details"]["name"],
        "phone": pm["billing_details"]["phone"],
        "tax_exempt": "none",
        "tax_ids": [],
    });
    tx.put(after.clone());
    tx.emit("checkout.session.completed", &after, None);
    Ok(public_view(&after))
}

/// The prices and quantities of a session's lines.
fn session_items(session: &Value) -> Vec<(Value, i64)> {
    session["line_items"]["data"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|l| (l["price"].clone(), l["quantity"].as_i64().unwrap_or(1)))
                .collect()
        })
        .unwrap_or_default()
}
