//! Coupons and promotion codes (`/v1/coupons`, `/v1/promotion_codes`):
//! created, read, changed, listed and (coupons) deleted as Stripe does, with
//! their events and Stripe's checks. Applying them (`discounts` on a
//! session, a subscription or an invoice) is not implemented yet: those
//! parameters are refused by name, so nothing is charged in full by
//! mistake.

use serde_json::{Map, Value, json};

use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, check, currency,
    list_where, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, random_id};

/// Random codes and coupon ids: Stripe's are eight upper-case characters.
fn random_code() -> String {
    random_id("", 8).to_uppercase()
}

pub fn create_coupon(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("id", Kind::String),
        Param::optional("percent_off", Kind::String),
        Param::optional("amount_off", Kind::Integer),
        Param::optional("currency", Kind::String),
        Param::optional("duration", Kind::Enum(&["forever", "once", "repeating"])),
        Param::optional("duration_in_months", Kind::Integer),
        Param::optional("max_redemptions", Kind::Integer),
        Param::optional("redeem_by", Kind::Timestamp),
        Param::optional("name", Kind::String),
        Param::optional("applies_to", Kind::Unsupported),
        Param::optional("currency_options", Kind::Unsupported),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let id = match text(&params, "id") {
        Some(id) if tx.get(id).is_some() => {
            return Err(StripeError::invalid("id", "Coupon already exists.")
                .with_code("resource_already_exists"));
        }
        Some(id) => id.to_string(),
        None => random_code(),
    };
    let percent_off = match text(&params, "percent_off") {
        None => None,
        Some(given) => match given.parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 => Some(p),
            _ => {
                return Err(StripeError::invalid(
                    "percent_off",
                    "Invalid percent_off: must be a number greater than 0 and at most 100.",
                ));
            }
        },
    };
    let amount_off = params.get("amount_off").and_then(Value::as_i64);
    let currency = match (percent_off, amount_off) {
        (Some(_), None) => None,
        (None, Some(amount)) => {
            if amount <= 0 {
                return Err(StripeError::invalid(
                    "amount_off",
                    "Invalid amount_off: must be a positive integer.",
                ));
            }
            if text(&params, "currency").is_none() {
                return Err(StripeError::missing("currency"));
            }
            Some(currency(&params, "currency")?)
        }
        _ => {
            return Err(StripeError::request(
                "You must pass exactly one of percent_off or amount_off.",
            ));
        }
    };
    let duration = text(&params, "duration").unwrap_or("once");
    let months = params.get("duration_in_months").and_then(Value::as_i64);
    match (duration, months) {
        ("repeating", None) => return Err(StripeError::missing("duration_in_months")),
        ("repeating", Some(m)) if !(1..=36).contains(&m) => {
            return Err(StripeError::invalid(
                "duration_in_months",
                "Invalid duration_in_months: must be from 1 to 36.",
            ));
        }
        ("forever" | "once", Some(_)) => {
            return Err(StripeError::invalid(
                "duration_in_months",
                "duration_in_months is taken only with duration=repeating.",
            ));
        }
        _ => {}
    }
    if params
        .get("max_redemptions")
        .and_then(Value::as_i64)
        .is_some_and(|n| n < 1)
    {
        return Err(StripeError::invalid(
            "max_redemptions",
            "Invalid max_redemptions: must be a positive integer.",
        ));
    }
    if params
        .get("redeem_by")
        .and_then(Value::as_i64)
        .is_some_and(|at| at <= tx.now)
    {
        return Err(StripeError::invalid(
            "redeem_by",
            "Invalid redeem_by: must be in the future.",
        ));
    }
    let coupon = json!({
        "id": id,
        "object": "coupon",
        "amount_off": amount_off,
        "applies_to": null,
        "created": tx.now,
        "currency": currency,
        "currency_options": null,
        "duration": duration,
        "duration_in_months": months,
        "livemode": false,
        "max_redemptions": params.get("max_redemptions"),
        "metadata": objects::metadata(params.get("metadata")),
        "name": text(&params, "name"),
        "percent_off": percent_off,
        "redeem_by": params.get("redeem_by"),
        "times_redeemed": 0,
        "valid": true,
    });
    tx.put(coupon.clone());
    tx.emit("coupon.created", &coupon, None);
    Ok(coupon)
}

pub fn update_coupon(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("name", Kind::String),
        Param::optional("currency_options", Kind::Unsupported),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find("coupon", id, "id")?;
    let mut after = before.clone();
    apply_fields(&mut after, &params, &["name"]);
    tx.update(&before, after.clone(), Some("coupon.updated"));
    Ok(after)
}

pub fn delete_coupon(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let coupon = tx.find("coupon", id, "id")?;
    let gone = objects::deleted(id, "coupon");
    tx.put(gone.clone());
    tx.emit("coupon.deleted", &coupon, None);
    Ok(gone)
}

pub fn list_coupons(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(
        &[CREATED, LIMIT, STARTING_AFTER, ENDING_BEFORE, EXPAND],
        raw,
    )?;
    list_where(tx, "coupon", &params, &[], "/v1/coupons")
}

const RESTRICTIONS: Param = Param::optional(
    "restrictions",
    Kind::Object(&[
        Param::optional("first_time_transaction", Kind::Boolean),
        Param::optional("minimum_amount", Kind::Integer),
        Param::optional("minimum_amount_currency", Kind::String),
        Param::optional("currency_options", Kind::Unsupported),
    ]),
);

pub fn create_promotion_code(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        // The coupon, as `promotion[coupon]` (the current API) or `coupon`
        // (what Stripe's CLI still sends).
        Param::optional(
            "promotion",
            Kind::Object(&[
                Param::required("type", Kind::Enum(&["coupon"])),
                Param::required("coupon", Kind::String),
            ]),
        ),
        Param::optional("coupon", Kind::String),
        Param::optional("code", Kind::String),
        Param::optional("active", Kind::Boolean),
        Param::optional("customer", Kind::String),
        Param::optional("expires_at", Kind::Timestamp),
        Param::optional("max_redemptions", Kind::Integer),
        RESTRICTIONS,
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let (coupon_id, param) = match (
        params
            .get("promotion")
            .and_then(|p| p["coupon"].as_str())
            .filter(|c| !c.is_empty()),
        text(&params, "coupon"),
    ) {
        (Some(c), None) => (c.to_string(), "promotion[coupon]"),
        (None, Some(c)) => (c.to_string(), "coupon"),
        (None, None) => return Err(StripeError::missing("promotion[coupon]")),
        (Some(_), Some(_)) => {
            return Err(StripeError::invalid(
                "coupon",
                "Give the coupon once, as promotion[coupon].",
            ));
        }
    };
    let coupon = tx.find("coupon", &coupon_id, param)?;
    let code = text(&params, "code")
        .map(str::to_string)
        .unwrap_or_else(random_code);
    if code.len() > 500
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(StripeError::invalid(
            "code",
            "Invalid code: letters, digits, `-` and `_` only, up to 500 characters.",
        ));
    }
    let active = params.get("active") != Some(&json!(false));
    if active && active_code_exists(tx, &code) {
        return Err(StripeError::invalid(
            "code",
            format!("An active promotion code with `code: {code}` already exists."),
        )
        .with_code("resource_already_exists"));
    }
    if let Some(customer) = text(&params, "customer") {
        tx.find("customer", customer, "customer")?;
    }
    let promotion_code = json!({
        "id": random_id("promo_", 24),
        "object": "promotion_code",
        "active": active,
        "code": code,
        "created": tx.now,
        "customer": text(&params, "customer"),
        "customer_account": null,
        "expires_at": params.get("expires_at"),
        "livemode": false,
        "max_redemptions": params.get("max_redemptions"),
        "metadata": objects::metadata(params.get("metadata")),
        "promotion": { "coupon": coupon["id"], "type": "coupon" },
        "restrictions": restrictions(params.get("restrictions")),
        "times_redeemed": 0,
    });
    tx.put(promotion_code.clone());
    tx.emit("promotion_code.created", &promotion_code, None);
    Ok(promotion_code)
}

fn active_code_exists(tx: &Tx<'_>, code: &str) -> bool {
    tx.state().newest_first("promotion_code").any(|p| {
        p["active"] == true
            && p["code"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(code))
    })
}

fn restrictions(given: Option<&Value>) -> Value {
    let given = given.cloned().unwrap_or(Value::Null);
    json!({
        "currency_options": null,
        "first_time_transaction": given["first_time_transaction"].as_bool().unwrap_or(false),
        "minimum_amount": given["minimum_amount"],
        "minimum_amount_currency": given["minimum_amount_currency"],
    })
}

pub fn update_promotion_code(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("active", Kind::Boolean),
        Param::optional(
            "restrictions",
            Kind::Object(&[Param::optional("currency_options", Kind::Unsupported)]),
        ),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find("promotion_code", id, "id")?;
    let mut after = before.clone();
    if let Some(active) = params.get("active").and_then(Value::as_bool) {
        if active && before["active"] == false {
            let code = before["code"].as_str().unwrap_or_default();
            if active_code_exists(tx, code) {
                return Err(StripeError::invalid(
                    "active",
                    format!("An active promotion code with `code: {code}` already exists."),
                ));
            }
        }
        after["active"] = json!(active);
    }
    apply_fields(&mut after, &params, &[]);
    tx.update(&before, after.clone(), Some("promotion_code.updated"));
    Ok(after)
}

pub fn list_promotion_codes(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("active", Kind::Boolean),
        Param::optional("code", Kind::String),
        Param::optional("coupon", Kind::String),
        Param::optional("customer", Kind::String),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    list_where(
        tx,
        "promotion_code",
        &params,
        &["active", "code", "promotion.coupon", "customer"],
        "/v1/promotion_codes",
    )
}
