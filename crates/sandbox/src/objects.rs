//! The shapes of Stripe's objects: every field the real API returns, so that
//! typed clients (async-stripe, Stripe's own libraries) parse them. Builders
//! take what a request decided and fill the rest as Stripe would.

use serde_json::{Map, Value, json};

use super::cards::TestCard;
use super::state::random_id;

pub fn metadata(value: Option<&Value>) -> Value {
    match value {
        Some(Value::Object(map)) => Value::Object(
            map.iter()
                .filter(|(_, v)| *v != "")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// Applies `metadata` updates: an empty value removes a key, an empty
/// metadata removes them all.
pub fn merge_metadata(current: &Value, update: &Value) -> Value {
    match update {
        Value::String(s) if s.is_empty() => json!({}),
        Value::Object(changes) => {
            let mut merged = current.as_object().cloned().unwrap_or_default();
            for (k, v) in changes {
                if v == "" {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            Value::Object(merged)
        }
        _ => current.clone(),
    }
}

fn address() -> Value {
    json!({ "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null })
}

fn text(params: &Map<String, Value>, key: &str) -> Value {
    match params.get(key) {
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

pub fn product(id: String, params: &Map<String, Value>, now: i64) -> Value {
    json!({
        "id": id,
        "object": "product",
        "active": params.get("active").cloned().unwrap_or(json!(true)),
        "created": now,
        "default_price": null,
        "description": text(params, "description"),
        "images": params.get("images").cloned().unwrap_or(json!([])),
        "livemode": false,
        "marketing_features": params.get("marketing_features").cloned().unwrap_or(json!([])),
        "metadata": metadata(params.get("metadata")),
        "name": params.get("name").cloned().unwrap_or(Value::Null),
        "package_dimensions": null,
        "shippable": text(params, "shippable"),
        "statement_descriptor": text(params, "statement_descriptor"),
        "tax_code": text(params, "tax_code"),
        "type": "service",
        "unit_label": text(params, "unit_label"),
        "updated": now,
        "url": text(params, "url"),
    })
}

pub fn price(id: String, product: &str, params: &Map<String, Value>, now: i64) -> Value {
    let unit_amount = params
        .get("unit_amount")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let recurring = params.get("recurring").and_then(Value::as_object).map(|r| {
        json!({
            "interval": r.get("interval").cloned().unwrap_or(json!("month")),
            "interval_count": r.get("interval_count").cloned().unwrap_or(json!(1)),
            "meter": null,
            "trial_period_days": r.get("trial_period_days").cloned().unwrap_or(Value::Null),
            "usage_type": r.get("usage_type").cloned().unwrap_or(json!("licensed")),
        })
    });
    json!({
        "id": id,
        "object": "price",
        "active": params.get("active").cloned().unwrap_or(json!(true)),
        "billing_scheme": "per_unit",
        "created": now,
        "currency": params.get("currency").cloned().unwrap_or(json!("usd")),
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": text(params, "lookup_key"),
        "metadata": metadata(params.get("metadata")),
        "nickname": text(params, "nickname"),
        "product": product,
        "recurring": recurring,
        "tax_behavior": params.get("tax_behavior").cloned().unwrap_or(json!("unspecified")),
        "tiers_mode": null,
        "transform_quantity": null,
        "type": if recurring.is_some() { "recurring" } else { "one_time" },
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string(),
    })
}

pub fn customer(id: String, params: &Map<String, Value>, now: i64) -> Value {
    let settings = params.get("invoice_settings").and_then(Value::as_object);
    let setting = |k: &str| settings.map(|s| text(s, k)).unwrap_or(Value::Null);
    json!({
        "id": id,
        "object": "customer",
        "address": params.get("address").cloned().unwrap_or_else(address),
        "balance": params.get("balance").cloned().unwrap_or(json!(0)),
        "created": now,
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": text(params, "description"),
        "discount": null,
        "email": text(params, "email"),
        "invoice_prefix": random_id("", 8).to_uppercase(),
        "invoice_settings": {
            "custom_fields": setting("custom_fields"),
            "default_payment_method": setting("default_payment_method"),
            "footer": setting("footer"),
            "rendering_options": setting("rendering_options"),
        },
        "livemode": false,
        "metadata": metadata(params.get("metadata")),
        "name": text(params, "name"),
        "next_invoice_sequence": 1,
        "phone": text(params, "phone"),
        "preferred_locales": params.get("preferred_locales").cloned().unwrap_or(json!([])),
        "shipping": text(params, "shipping"),
        "tax_exempt": params.get("tax_exempt").filter(|t| *t != "").cloned().unwrap_or(json!("none")),
        "test_clock": null,
    })
}

pub fn deleted(id: &str, object: &str) -> Value {
    json!({ "id": id, "object": object, "deleted": true })
}

fn card_details(card: &TestCard) -> Value {
    json!({
        "brand": card.brand,
        "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass" },
        "country": "US",
        "display_brand": card.brand,
        "exp_month": 12,
        "exp_year": 2034,
        "fingerprint": format!("fp{}", card.number),
        "funding": card.funding,
        "generated_from": null,
        "last4": card.last4(),
        "networks": { "available": [card.brand], "preferred": null },
        "regulated_status": "unregulated",
        "three_d_secure_usage": { "supported": true },
        "wallet": null,
    })
}

pub fn billing_details(params: Option<&Value>) -> Value {
    let given = params.and_then(Value::as_object);
    let field = |k: &str| given.and_then(|g| g.get(k)).cloned().unwrap_or(Value::Null);
    json!({
        "address": given.and_then(|g| g.get("address")).cloned().unwrap_or_else(address),
        "email": field("email"),
        "name": field("name"),
        "phone": field("phone"),
        "tax_id": field("tax_id"),
    })
}

pub fn payment_method(
    id: String,
    card: &TestCard,
    customer: Value,
    billing: Value,
    meta: Value,
    now: i64,
) -> Value {
    json!({
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": billing,
        "card": card_details(card),
        "created": now,
        "customer": customer,
        "livemode": false,
        "metadata": meta,
        "type": "card",
    })
}

/// The amounts and card of a payment.
pub struct Payment<'a> {
    pub amount: i64,
    pub currency: &'a str,
    pub customer: Value,
    pub payment_method: &'a Value,
    pub card: &'a TestCard,
    pub description: Value,
    pub metadata: Value,
    pub receipt_email: Value,
}

pub fn charge(
    id: String,
    p: &Payment<'_>,
    payment_intent: &str,
    failure: Option<(&str, &str)>,
    now: i64,
) -> Value {
    let succeeded = failure.is_none();
    let mut details = card_details(p.card);
    if let Some(map) = details.as_object_mut() {
        for key in [
            "display_brand",
            "generated_from",
            "networks",
            "three_d_secure_usage",
            "wallet",
        ] {
            map.remove(key);
        }
        map.insert(
            "amount_authorized".into(),
            json!(if succeeded { p.amount } else { 0 }),
        );
        map.insert("authorization_code".into(), Value::Null);
        map.insert(
            "extended_authorization".into(),
            json!({ "status": "disabled" }),
        );
        map.insert(
            "incremental_authorization".into(),
            json!({ "status": "unavailable" }),
        );
        map.insert("installments".into(), Value::Null);
        map.insert("mandate".into(), Value::Null);
        map.insert("multicapture".into(), json!({ "status": "unavailable" }));
        map.insert("network".into(), json!(p.card.brand));
        map.insert("network_token".into(), json!({ "used": false }));
        map.insert("network_transaction_id".into(), Value::Null);
        map.insert(
            "overcapture".into(),
            json!({ "maximum_amount_capturable": p.amount, "status": "unavailable" }),
        );
        map.insert("three_d_secure".into(), Value::Null);
        map.insert("wallet".into(), Value::Null);
    }
    let (outcome_type, network_status, reason, seller_message) = match failure {
        None => (
            "authorized",
            "approved_by_network",
            Value::Null,
            "Payment complete.",
        ),
        Some((decline, _)) => (
            "issuer_declined",
            "declined_by_network",
            json!(decline),
            "The bank did not return any further details with this decline.",
        ),
    };
    json!({
        "id": id,
        "object": "charge",
        "amount": p.amount,
        "amount_captured": if succeeded { p.amount } else { 0 },
        "amount_refunded": 0,
        "application": null,
        "application_fee": null,
        "application_fee_amount": null,
        "balance_transaction": if succeeded { json!(random_id("txn_", 24)) } else { Value::Null },
        "billing_details": p.payment_method["billing_details"].clone(),
        "calculated_statement_descriptor": "PAYWIRE SANDBOX",
        "captured": succeeded,
        "created": now,
        "currency": p.currency,
        "customer": p.customer,
        "description": p.description,
        "source": null,
        "disputed": false,
        "failure_balance_transaction": null,
        "failure_code": failure.map(|(_, code)| code),
        "failure_message": failure.map(|(decline, _)| super::cards::decline_message(decline)),
        "fraud_details": {},
        "livemode": false,
        "metadata": p.metadata,
        "on_behalf_of": null,
        "outcome": {
            "advice_code": null,
            "network_advice_code": null,
            "network_decline_code": null,
            "network_status": network_status,
            "reason": reason,
            "risk_level": "normal",
            "risk_score": 20,
            "seller_message": seller_message,
            "type": outcome_type,
        },
        "paid": succeeded,
        "payment_intent": payment_intent,
        "payment_method": p.payment_method["id"],
        "payment_method_details": { "card": details, "type": "card" },
        "receipt_email": p.receipt_email,
        "receipt_number": null,
        "receipt_url": format!("https://pay.stripe.com/receipts/sandbox/{}", random_id("", 24)),
        "refunded": false,
        "review": null,
        "shipping": null,
        "source_transfer": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": if succeeded { "succeeded" } else { "failed" },
        "transfer_data": null,
        "transfer_group": null,
    })
}

pub fn payment_intent(
    id: String,
    amount: i64,
    currency: &str,
    params: &Map<String, Value>,
    now: i64,
) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": 0,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": params.get("automatic_payment_methods").map(|a| json!({
            "allow_redirects": a.get("allow_redirects").cloned().unwrap_or(json!("always")),
            "enabled": a.get("enabled").cloned().unwrap_or(json!(true)),
        })).unwrap_or(Value::Null),
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": params.get("capture_method").cloned().unwrap_or(json!("automatic")),
        "client_secret": format!("{id}_secret_{}", random_id("", 25)),
        "confirmation_method": params.get("confirmation_method").cloned().unwrap_or(json!("automatic")),
        "created": now,
        "currency": currency,
        "customer": text(params, "customer"),
        "description": text(params, "description"),
        "customer_account": null,
        "excluded_payment_method_types": null,
        "managed_payments": null,
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": false,
        "metadata": metadata(params.get("metadata")),
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": text(params, "payment_method"),
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": params.get("payment_method_types").cloned().unwrap_or(json!(["card"])),
        "processing": null,
        "receipt_email": text(params, "receipt_email"),
        "review": null,
        "setup_future_usage": text(params, "setup_future_usage"),
        "shipping": params.get("shipping").cloned().unwrap_or(Value::Null),
        "source": null,
        "statement_descriptor": text(params, "statement_descriptor"),
        "statement_descriptor_suffix": text(params, "statement_descriptor_suffix"),
        "status": "requires_payment_method",
        "transfer_data": null,
        "transfer_group": text(params, "transfer_group"),
    })
}

pub fn refund(
    id: String,
    charge: &Value,
    amount: i64,
    params: &Map<String, Value>,
    now: i64,
) -> Value {
    json!({
        "id": id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": random_id("txn_", 24),
        "charge": charge["id"],
        "created": now,
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_account": null,
        "destination_details": {
            "card": { "reference": random_id("", 16), "reference_status": "available", "reference_type": "acquirer_reference_number", "type": "refund" },
            "type": "card",
        },
        "metadata": metadata(params.get("metadata")),
        "payment_intent": charge["payment_intent"],
        "payment_method": charge["payment_method"],
        "reason": text(params, "reason"),
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    })
}

/// A line of a checkout session (`object: item`); `description` is the
/// product's name.
pub fn checkout_line(price: &Value, quantity: i64, description: Value) -> Value {
    let total = price["unit_amount"].as_i64().unwrap_or(0) * quantity;
    json!({
        "id": random_id("li_", 24),
        "object": "item",
        "adjustable_quantity": null,
        "amount_discount": 0,
        "amount_subtotal": total,
        "amount_tax": 0,
        "amount_total": total,
        "currency": price["currency"],
        "description": description,
        "metadata": {},
        "price": price,
        "quantity": quantity,
    })
}

pub struct SessionSpec<'a> {
    pub params: &'a Map<String, Value>,
    pub mode: &'a str,
    pub currency: Value,
    pub subtotal: i64,
    pub expires_at: i64,
    pub url: String,
}

pub fn checkout_session(id: String, s: SessionSpec<'_>, now: i64) -> Value {
    let p = s.params;
    json!({
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": null,
        "after_expiration": null,
        "allow_promotion_codes": text(p, "allow_promotion_codes"),
        "amount_subtotal": s.subtotal,
        "amount_total": s.subtotal,
        "automatic_tax": { "enabled": false, "liability": null, "provider": null, "status": null },
        "billing_address_collection": text(p, "billing_address_collection"),
        "cancel_url": text(p, "cancel_url"),
        "client_reference_id": text(p, "client_reference_id"),
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": now,
        "currency": s.currency,
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": { "after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null },
        "customer": text(p, "customer"),
        "customer_creation": if p.get("customer").is_some() || s.mode == "subscription" { Value::Null } else {
            p.get("customer_creation").cloned().unwrap_or(json!("if_required"))
        },
        "customer_details": null,
        "customer_account": null,
        "integration_identifier": null,
        "managed_payments": null,
        "origin_context": null,
        "customer_email": text(p, "customer_email"),
        "discounts": [],
        "expires_at": s.expires_at,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": text(p, "locale"),
        "metadata": metadata(p.get("metadata")),
        "mode": s.mode,
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": if s.mode == "subscription" { json!("always") } else { Value::Null },
        "payment_method_configuration_details": null,
        "payment_method_options": {},
        "payment_method_types": p.get("payment_method_types").cloned().unwrap_or(json!(["card"])),
        "payment_status": "unpaid",
        "permissions": null,
        "phone_number_collection": { "enabled": false },
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": text(p, "submit_type"),
        "subscription": null,
        "success_url": text(p, "success_url"),
        "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
        "ui_mode": p.get("ui_mode").cloned().unwrap_or(json!("hosted_page")),
        "url": s.url,
        "wallet_options": null,
    })
}

pub fn subscription_item(
    price: &Value,
    quantity: i64,
    subscription: &str,
    period: (i64, i64),
    now: i64,
) -> Value {
    json!({
        "id": random_id("si_", 14),
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": now,
        "current_period_end": period.1,
        "current_period_start": period.0,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price),
        "price": price,
        "quantity": quantity,
        "subscription": subscription,
        "tax_rates": [],
    })
}

/// The legacy `plan` view of a recurring price.
pub fn plan_of(price: &Value) -> Value {
    json!({
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"],
        "livemode": false,
        "metadata": price["metadata"],
        "meter": null,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": "licensed",
    })
}

pub fn subscription(
    id: &str,
    customer: &str,
    currency: &Value,
    items: Vec<Value>,
    params: &Map<String, Value>,
    now: i64,
) -> Value {
    json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null },
        "billing_cycle_anchor": now,
        "billing_cycle_anchor_config": null,
        "billing_mode": { "type": "classic" },
        "billing_schedules": [],
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": { "comment": null, "feedback": null, "reason": null },
        "collection_method": params.get("collection_method").cloned().unwrap_or(json!("charge_automatically")),
        "created": now,
        "currency": currency,
        "customer": customer,
        "days_until_due": null,
        "customer_account": null,
        "managed_payments": null,
        "default_payment_method": text(params, "default_payment_method"),
        "default_source": null,
        "default_tax_rates": [],
        "description": text(params, "description"),
        "discounts": [],
        "ended_at": null,
        "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
        "items": { "object": "list", "data": items, "has_more": false, "url": format!("/v1/subscription_items?subscription={id}") },
        "latest_invoice": null,
        "livemode": false,
        "metadata": metadata(params.get("metadata")),
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": { "payment_method_options": null, "payment_method_types": null, "save_default_payment_method": "off" },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": now,
        "status": "incomplete",
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        "trial_start": null,
    })
}

pub fn invoice(
    id: &str,
    customer: &Value,
    currency: &Value,
    params: &Map<String, Value>,
    now: i64,
) -> Value {
    json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "paywire sandbox",
        "account_tax_ids": null,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 0,
        "attempted": false,
        "auto_advance": params.get("auto_advance").cloned().unwrap_or(json!(false)),
        "automatic_tax": { "disabled_reason": null, "enabled": false, "liability": null, "provider": null, "status": null },
        "automatically_finalizes_at": null,
        "billing_reason": "manual",
        "collection_method": params.get("collection_method").cloned().unwrap_or(json!("charge_automatically")),
        "created": now,
        "currency": currency,
        "custom_fields": null,
        "customer": customer["id"],
        "customer_account": null,
        "subscription": null,
        "customer_address": customer["address"],
        "customer_email": customer["email"],
        "customer_name": customer["name"],
        "customer_phone": customer["phone"],
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": text(params, "default_payment_method"),
        "default_source": null,
        "default_tax_rates": [],
        "description": text(params, "description"),
        "discounts": [],
        "due_date": params.get("due_date").cloned().unwrap_or(Value::Null),
        "effective_at": null,
        "ending_balance": null,
        "footer": text(params, "footer"),
        "from_invoice": null,
        "hosted_invoice_url": null,
        "invoice_pdf": null,
        "issuer": { "type": "self" },
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/lines") },
        "livemode": false,
        "metadata": metadata(params.get("metadata")),
        "next_payment_attempt": null,
        "number": null,
        "on_behalf_of": null,
        "parent": null,
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        "period_end": now,
        "period_start": now,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": 0,
        "statement_descriptor": null,
        "status": "draft",
        "status_transitions": { "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "test_clock": null,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": null,
    })
}

/// A line of an invoice (`object: line_item`), from an invoice item or a
/// subscription item.
pub fn invoice_line(
    invoice: &str,
    amount: i64,
    currency: &Value,
    description: Value,
    quantity: i64,
    period: (i64, i64),
    parent: Value,
) -> Value {
    json!({
        "id": random_id("il_", 24),
        "object": "line_item",
        "amount": amount,
        "currency": currency,
        "description": description,
        "discount_amounts": [],
        "discountable": true,
        "discounts": [],
        "invoice": invoice,
        "livemode": false,
        "metadata": {},
        "parent": parent,
        "period": { "end": period.1, "start": period.0 },
        "pretax_credit_amounts": [],
        "pricing": { "price_details": null, "type": "price_details", "unit_amount_decimal": (amount / quantity.max(1)).to_string() },
        "quantity": quantity,
        "quantity_decimal": quantity.to_string(),
        "subtotal": amount,
        "taxes": [],
    })
}

pub fn invoice_item(
    id: String,
    customer: &str,
    amount: i64,
    currency: &Value,
    params: &Map<String, Value>,
    now: i64,
) -> Value {
    json!({
        "id": id,
        "object": "invoiceitem",
        "amount": amount,
        "currency": currency,
        "customer": customer,
        "date": now,
        "description": text(params, "description"),
        "discountable": true,
        "discounts": [],
        "invoice": text(params, "invoice"),
        "livemode": false,
        "metadata": metadata(params.get("metadata")),
        "net_amount": amount,
        "parent": null,
        "period": { "end": now, "start": now },
        "pricing": { "price_details": null, "type": "price_details", "unit_amount_decimal": amount.to_string() },
        "proration": false,
        "quantity": params.get("quantity").cloned().unwrap_or(json!(1)),
        "quantity_decimal": params.get("quantity").and_then(Value::as_i64).unwrap_or(1).to_string(),
        "tax_rates": [],
        "test_clock": null,
    })
}
