//! Stripe events as Stripe sends them: a `checkout.session.completed` event
//! with a whole Checkout Session in it (about 2.5 KB, the size of the real
//! thing), signed like Stripe signs it.

use paywire_stripe::signature;

/// A `checkout.session.completed` event; `@EVENT@`, `@ORDER@`, `@SESSION@`
/// and `@CREATED@` are filled per event.
const CHECKOUT_COMPLETED: &str = r#"{
  "id": "@EVENT@",
  "object": "event",
  "api_version": "2026-09-30.endive",
  "created": @CREATED@,
  "data": {
    "object": {
      "id": "@SESSION@",
      "object": "checkout.session",
      "adaptive_pricing": {"enabled": false},
      "after_expiration": null,
      "allow_promotion_codes": null,
      "amount_subtotal": 2500,
      "amount_total": 2500,
      "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
      "billing_address_collection": null,
      "cancel_url": "http://127.0.0.1:8080/checkout-cancelled",
      "client_reference_id": "@ORDER@",
      "client_secret": null,
      "collected_information": null,
      "consent": null,
      "consent_collection": null,
      "created": @CREATED@,
      "currency": "usd",
      "currency_conversion": null,
      "custom_fields": [],
      "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
      "customer": "cus_Bench0001",
      "customer_creation": null,
      "customer_details": {
        "address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "94103", "state": null},
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": null,
        "tax_exempt": "none",
        "tax_ids": []
      },
      "customer_email": null,
      "discounts": [],
      "expires_at": 1900000000,
      "invoice": null,
      "invoice_creation": {"enabled": false, "invoice_data": {"account_tax_ids": null, "custom_fields": null, "description": null, "footer": null, "issuer": null, "metadata": {}, "rendering_options": null}},
      "livemode": false,
      "locale": null,
      "metadata": {"order_id": "@ORDER@"},
      "mode": "payment",
      "payment_intent": "pi_@ORDER@",
      "payment_link": null,
      "payment_method_collection": "if_required",
      "payment_method_configuration_details": null,
      "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
      "payment_method_types": ["card"],
      "payment_status": "paid",
      "permissions": null,
      "phone_number_collection": {"enabled": false},
      "recovered_from": null,
      "saved_payment_method_options": null,
      "setup_intent": null,
      "shipping_address_collection": null,
      "shipping_cost": null,
      "shipping_options": [],
      "status": "complete",
      "submit_type": null,
      "subscription": null,
      "success_url": "http://127.0.0.1:8080/checkout-session?session_id={CHECKOUT_SESSION_ID}",
      "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
      "ui_mode": "hosted",
      "url": null,
      "wallet_options": null
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": null, "idempotency_key": null},
  "type": "checkout.session.completed"
}"#;

/// Event number `n` of run `run`: its id is `evt_<run>_<n>`, its order
/// `ord_<run>_<n>`.
pub fn checkout_completed(run: &str, n: u64, created: i64) -> String {
    CHECKOUT_COMPLETED
        .replace("@EVENT@", &format!("evt_{run}_{n}"))
        .replace("@ORDER@", &format!("ord_{run}_{n}"))
        .replace("@SESSION@", &format!("cs_test_{run}_{n}"))
        .replace("@CREATED@", &created.to_string())
}

/// The `Stripe-Signature` header for `payload`, signed now.
pub fn sign_now(payload: &[u8], secret: &str) -> String {
    signature::header(payload, secret, unix_now())
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_json_with_unique_ids() {
        let body = checkout_completed("r1", 7, 1_700_000_000);
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["id"], "evt_r1_7");
        assert_eq!(value["data"]["object"]["metadata"]["order_id"], "ord_r1_7");
    }
}
