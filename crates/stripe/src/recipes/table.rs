//! Every recipe of `paywire trigger`, as data: the steps that several
//! recipes share, then one recipe per event type.

use super::{Expected, Recipe, Step};
use crate::client::Method;

const fn step(
    name: &'static str,
    method: Method,
    path: &'static str,
    params: &'static str,
) -> Step {
    Step {
        name,
        method,
        path,
        params,
        expects: None,
        sandbox_only: false,
    }
}

const fn post(name: &'static str, path: &'static str, params: &'static str) -> Step {
    step(name, Method::Post, path, params)
}

const fn delete(name: &'static str, path: &'static str) -> Step {
    step(name, Method::Delete, path, "{}")
}

impl Step {
    const fn declined(mut self) -> Step {
        self.expects = Some(Expected {
            status: 402,
            error_type: "card_error",
        });
        self
    }

    const fn in_sandbox_only(mut self) -> Step {
        self.sandbox_only = true;
        self
    }
}

// The steps recipes share.

const PRODUCT: Step = post(
    "product",
    "/v1/products",
    r#"{"name": "paywire trigger", "description": "(created by paywire trigger)"}"#,
);
const PRODUCT_UPDATED: Step = post(
    "product_updated",
    "/v1/products/${product:id}",
    r#"{"metadata": {"triggered_by": "paywire"}}"#,
);
const PRICE: Step = post(
    "price",
    "/v1/prices",
    r#"{"product": "${product:id}", "unit_amount": 1500, "currency": "usd"}"#,
);
const MONTHLY_PRICE: Step = post(
    "price",
    "/v1/prices",
    r#"{"product": "${product:id}", "unit_amount": 1500, "currency": "usd", "recurring": {"interval": "month"}}"#,
);
const SESSION: Step = post(
    "session",
    "/v1/checkout/sessions",
    r#"{"mode": "payment", "line_items": [{"price": "${price:id}", "quantity": 2}],
        "success_url": "https://example.com/success", "cancel_url": "https://example.com/cancel"}"#,
);
/// What the hosted page does when the customer pays: only the sandbox
/// offers it to API keys.
const PAY_SESSION: Step = post(
    "payment",
    "/v1/payment_pages/${session:id}/confirm",
    r#"{"payment_method": "pm_card_visa", "expected_amount": "${session:amount_total}"}"#,
)
.in_sandbox_only();
const PAYMENT_INTENT: Step = post(
    "payment_intent",
    "/v1/payment_intents",
    r#"{"amount": 2000, "currency": "usd", "payment_method_types": ["card"],
        "description": "(created by paywire trigger)"}"#,
);
const UNCAPTURED_PAYMENT_INTENT: Step = post(
    "payment_intent",
    "/v1/payment_intents",
    r#"{"amount": 2000, "currency": "usd", "payment_method_types": ["card"], "capture_method": "manual",
        "description": "(created by paywire trigger)"}"#,
);
const CONFIRM: Step = post(
    "confirm",
    "/v1/payment_intents/${payment_intent:id}/confirm",
    r#"{"payment_method": "pm_card_visa"}"#,
);
const CONFIRM_DECLINED: Step = post(
    "confirm",
    "/v1/payment_intents/${payment_intent:id}/confirm",
    r#"{"payment_method": "pm_card_chargeDeclined"}"#,
)
.declined();
const CUSTOMER: Step = post(
    "customer",
    "/v1/customers",
    r#"{"name": "Jenny Rosen", "email": "jenny.rosen@example.com", "description": "(created by paywire trigger)"}"#,
);
const PAYING_CUSTOMER: Step = post(
    "customer",
    "/v1/customers",
    r#"{"name": "Jenny Rosen", "email": "jenny.rosen@example.com", "description": "(created by paywire trigger)",
        "payment_method": "pm_card_visa", "invoice_settings": {"default_payment_method": "pm_card_visa"}}"#,
);
const SUBSCRIPTION: Step = post(
    "subscription",
    "/v1/subscriptions",
    r#"{"customer": "${customer:id}", "items": [{"price": "${price:id}"}]}"#,
);
const ATTACH_CARD: Step = post(
    "payment_method",
    "/v1/payment_methods/pm_card_visa/attach",
    r#"{"customer": "${customer:id}"}"#,
);
/// A card that attaches but declines every charge.
const ATTACH_FAILING_CARD: Step = post(
    "payment_method",
    "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
    r#"{"customer": "${customer:id}"}"#,
);
const INVOICE_ITEM: Step = post(
    "invoice_item",
    "/v1/invoiceitems",
    r#"{"customer": "${customer:id}", "amount": 2000, "currency": "usd", "description": "(created by paywire trigger)"}"#,
);
const INVOICE: Step = post(
    "invoice",
    "/v1/invoices",
    r#"{"customer": "${customer:id}", "pending_invoice_items_behavior": "include",
        "description": "(created by paywire trigger)"}"#,
);
const PAY_INVOICE: Step = post(
    "invoice_paid",
    "/v1/invoices/${invoice:id}/pay",
    r#"{"payment_method": "${payment_method:id}"}"#,
);

const fn recipe(event: &'static str, steps: &'static [Step]) -> Recipe {
    Recipe { event, steps }
}

/// Every recipe, by event type.
pub static RECIPES: &[Recipe] = &[
    recipe(
        "checkout.session.completed",
        &[PRODUCT, PRICE, SESSION, PAY_SESSION],
    ),
    recipe(
        "checkout.session.expired",
        &[
            PRODUCT,
            PRICE,
            SESSION,
            post(
                "session_expired",
                "/v1/checkout/sessions/${session:id}/expire",
                "{}",
            ),
        ],
    ),
    recipe("payment_intent.created", &[PAYMENT_INTENT]),
    recipe("payment_intent.succeeded", &[PAYMENT_INTENT, CONFIRM]),
    recipe(
        "payment_intent.payment_failed",
        &[PAYMENT_INTENT, CONFIRM_DECLINED],
    ),
    recipe(
        "payment_intent.canceled",
        &[
            PAYMENT_INTENT,
            post(
                "canceled",
                "/v1/payment_intents/${payment_intent:id}/cancel",
                r#"{"cancellation_reason": "requested_by_customer"}"#,
            ),
        ],
    ),
    recipe("charge.succeeded", &[PAYMENT_INTENT, CONFIRM]),
    recipe("charge.failed", &[PAYMENT_INTENT, CONFIRM_DECLINED]),
    recipe(
        "charge.captured",
        &[
            UNCAPTURED_PAYMENT_INTENT,
            CONFIRM,
            post(
                "captured",
                "/v1/payment_intents/${payment_intent:id}/capture",
                "{}",
            ),
        ],
    ),
    recipe(
        "charge.refunded",
        &[
            PAYMENT_INTENT,
            CONFIRM,
            post(
                "refund",
                "/v1/refunds",
                r#"{"payment_intent": "${payment_intent:id}"}"#,
            ),
        ],
    ),
    recipe(
        "refund.created",
        &[
            PAYMENT_INTENT,
            CONFIRM,
            post(
                "refund",
                "/v1/refunds",
                r#"{"payment_intent": "${payment_intent:id}", "amount": 500}"#,
            ),
        ],
    ),
    recipe("customer.created", &[CUSTOMER]),
    recipe(
        "customer.updated",
        &[
            CUSTOMER,
            post(
                "customer_updated",
                "/v1/customers/${customer:id}",
                r#"{"metadata": {"triggered_by": "paywire"}}"#,
            ),
        ],
    ),
    recipe(
        "customer.deleted",
        &[
            CUSTOMER,
            delete("customer_deleted", "/v1/customers/${customer:id}"),
        ],
    ),
    recipe(
        "customer.subscription.created",
        &[PAYING_CUSTOMER, PRODUCT, MONTHLY_PRICE, SUBSCRIPTION],
    ),
    recipe(
        "customer.subscription.updated",
        &[
            PAYING_CUSTOMER,
            PRODUCT,
            MONTHLY_PRICE,
            SUBSCRIPTION,
            post(
                "subscription_updated",
                "/v1/subscriptions/${subscription:id}",
                r#"{"metadata": {"triggered_by": "paywire"}}"#,
            ),
        ],
    ),
    recipe(
        "customer.subscription.deleted",
        &[
            PAYING_CUSTOMER,
            PRODUCT,
            MONTHLY_PRICE,
            SUBSCRIPTION,
            delete(
                "subscription_deleted",
                "/v1/subscriptions/${subscription:id}",
            ),
        ],
    ),
    recipe("payment_method.attached", &[CUSTOMER, ATTACH_CARD]),
    recipe(
        "payment_method.detached",
        &[
            CUSTOMER,
            ATTACH_CARD,
            post(
                "payment_method_detached",
                "/v1/payment_methods/${payment_method:id}/detach",
                "{}",
            ),
        ],
    ),
    recipe("invoiceitem.created", &[CUSTOMER, INVOICE_ITEM]),
    recipe("invoice.created", &[CUSTOMER, INVOICE_ITEM, INVOICE]),
    recipe(
        "invoice.finalized",
        &[
            CUSTOMER,
            INVOICE_ITEM,
            INVOICE,
            post(
                "invoice_finalized",
                "/v1/invoices/${invoice:id}/finalize",
                "{}",
            ),
        ],
    ),
    recipe(
        "invoice.paid",
        &[CUSTOMER, ATTACH_CARD, INVOICE_ITEM, INVOICE, PAY_INVOICE],
    ),
    recipe(
        "invoice.payment_succeeded",
        &[CUSTOMER, ATTACH_CARD, INVOICE_ITEM, INVOICE, PAY_INVOICE],
    ),
    recipe(
        "invoice.payment_failed",
        &[
            CUSTOMER,
            ATTACH_FAILING_CARD,
            INVOICE_ITEM,
            INVOICE,
            PAY_INVOICE.declined(),
        ],
    ),
    recipe("product.created", &[PRODUCT]),
    recipe("product.updated", &[PRODUCT, PRODUCT_UPDATED]),
    recipe(
        "product.deleted",
        &[
            PRODUCT,
            delete("product_deleted", "/v1/products/${product:id}"),
        ],
    ),
    recipe("price.created", &[PRODUCT, PRICE]),
    recipe(
        "price.updated",
        &[
            PRODUCT,
            PRICE,
            post(
                "price_updated",
                "/v1/prices/${price:id}",
                r#"{"metadata": {"triggered_by": "paywire"}}"#,
            ),
        ],
    ),
];

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::recipes::{find, references};

    #[test]
    fn every_recipe_is_well_formed() {
        let mut events = std::collections::HashSet::new();
        for recipe in RECIPES {
            let event = recipe.event;
            assert!(events.insert(event), "{event} has two recipes");
            assert!(!recipe.steps.is_empty(), "{event} has no steps");
            let mut earlier: Vec<&str> = Vec::new();
            for step in recipe.steps {
                let at = format!("{event}: step {}", step.name);
                assert!(!earlier.contains(&step.name), "{at} is named twice");
                assert!(step.path.starts_with("/v1/"), "{at}: {}", step.path);
                let params: Value = serde_json::from_str(step.params)
                    .unwrap_or_else(|e| panic!("{at}: the parameters are not JSON: {e}"));
                assert!(params.is_object(), "{at}: the parameters are not an object");
                let mut texts = vec![step.path.to_string()];
                strings(&params, &mut texts);
                for text in &texts {
                    assert_eq!(
                        text.matches("${").count(),
                        references(text).len(),
                        "{at}: `{text}` has a malformed reference"
                    );
                    for (name, _) in references(text) {
                        assert!(
                            earlier.contains(&name.as_str()),
                            "{at}: `{text}` names `{name}`, which is no earlier step"
                        );
                    }
                }
                if step.method != Method::Post {
                    assert!(step.expects.is_none(), "{at}: only POSTs decline");
                }
                earlier.push(step.name);
            }
        }
        for required in [
            "checkout.session.completed",
            "checkout.session.expired",
            "payment_intent.succeeded",
            "payment_intent.payment_failed",
            "payment_intent.canceled",
            "payment_intent.created",
            "charge.succeeded",
            "charge.failed",
            "charge.refunded",
            "customer.created",
            "customer.updated",
            "customer.deleted",
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_failed",
            "product.created",
            "product.updated",
            "price.created",
        ] {
            assert!(find(required).is_ok(), "no recipe for {required}");
        }
        // Only the checkout page is the sandbox's alone.
        let sandbox_only: Vec<&str> = RECIPES
            .iter()
            .filter(|r| r.steps.iter().any(|s| s.sandbox_only))
            .map(|r| r.event)
            .collect();
        assert_eq!(sandbox_only, vec!["checkout.session.completed"]);
    }

    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(text) => out.push(text.clone()),
            Value::Array(items) => items.iter().for_each(|item| strings(item, out)),
            Value::Object(fields) => fields.values().for_each(|item| strings(item, out)),
            _ => {}
        }
    }
}
