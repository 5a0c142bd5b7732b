//! Every recipe of `paywire trigger`, as data: the steps that several
//! recipes share, then one recipe per event type, then the chains that
//! move a test clock.

use std::time::Duration;

use super::{Chain, Expected, Recipe, Step, Until};
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
        until: None,
    }
}

const fn post(name: &'static str, path: &'static str, params: &'static str) -> Step {
    step(name, Method::Post, path, params)
}

const fn delete(name: &'static str, path: &'static str) -> Step {
    step(name, Method::Delete, path, "{}")
}

/// A GET asked again until `field` of its answer is `equals`.
const fn get_until(
    name: &'static str,
    path: &'static str,
    field: &'static str,
    equals: &'static str,
) -> Step {
    let mut polled = step(name, Method::Get, path, "{}");
    polled.until = Some(Until {
        field,
        equals,
        timeout: POLL_TIMEOUT,
    });
    polled
}

/// How long a recipe waits for what a polled GET waits for. The sandbox
/// moves a clock in milliseconds; Stripe takes seconds, sometimes minutes.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);

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

// The steps of the chains, which live on a test clock of their own.

/// A new clock starts at Stripe's own now: the time it stamped the product
/// with (every chain makes its product first), so that the machine's clock
/// plays no part.
const CLOCK: Step = post(
    "clock",
    "/v1/test_helpers/test_clocks",
    r#"{"frozen_time": "${product:created}", "name": "paywire trigger"}"#,
);
/// A customer on the clock whose card works; the subscription's first
/// invoice is paid at once.
const CUSTOMER_ON_CLOCK: Step = post(
    "customer",
    "/v1/customers",
    r#"{"name": "Jenny Rosen", "email": "jenny.rosen@example.com", "description": "(created by paywire trigger)",
        "test_clock": "${clock:id}",
        "payment_method": "pm_card_visa", "invoice_settings": {"default_payment_method": "pm_card_visa"}}"#,
);
const TRIAL_SUBSCRIPTION: Step = post(
    "subscription",
    "/v1/subscriptions",
    r#"{"customer": "${customer:id}", "items": [{"price": "${price:id}"}], "trial_period_days": 7}"#,
);
/// A card that attaches but declines every charge, made the customer's
/// default, so that the next renewal fails.
const FAILING_CARD: Step = post(
    "failing_card",
    "/v1/payment_methods/pm_card_chargeCustomerFail/attach",
    r#"{"customer": "${customer:id}"}"#,
);
const FAILING_CARD_DEFAULT: Step = post(
    "customer_updated",
    "/v1/customers/${customer:id}",
    r#"{"invoice_settings": {"default_payment_method": "${failing_card:id}"}}"#,
);
/// Past the end of the first period (when the renewal's draft invoice is
/// made) and the hour after it (when Stripe finalizes the invoice and
/// charges it): two hours, 7,200 seconds.
const ADVANCE_PAST_RENEWAL: Step = post(
    "advance",
    "/v1/test_helpers/test_clocks/${clock:id}/advance",
    r#"{"frozen_time": "${subscription:items.data.0.current_period_end+7200}"}"#,
);
/// Two days (172,800 seconds) before the trial's end: a day past the
/// warning Stripe sends three days before it, and well before the end.
const ADVANCE_INTO_TRIAL: Step = post(
    "advance",
    "/v1/test_helpers/test_clocks/${clock:id}/advance",
    r#"{"frozen_time": "${subscription:trial_end-172800}"}"#,
);
/// An advance is answered at once with the clock `advancing`; what was due
/// has happened only once it is `ready`.
const CLOCK_READY: Step = get_until(
    "clock_ready",
    "/v1/test_helpers/test_clocks/${clock:id}",
    "status",
    "ready",
);
/// The renewal's payment failed: the subscription is past due, with the
/// renewal's invoice open as its latest.
const PAST_DUE: Step = get_until(
    "past_due",
    "/v1/subscriptions/${subscription:id}",
    "status",
    "past_due",
);
const WORKING_CARD: Step = post(
    "working_card",
    "/v1/payment_methods/pm_card_visa/attach",
    r#"{"customer": "${customer:id}"}"#,
);
const PAY_OPEN_INVOICE: Step = post(
    "invoice_paid",
    "/v1/invoices/${past_due:latest_invoice}/pay",
    r#"{"payment_method": "${working_card:id}"}"#,
);

const fn recipe(event: &'static str, steps: &'static [Step]) -> Recipe {
    Recipe {
        event,
        steps,
        chain: None,
    }
}

const fn chain(
    name: &'static str,
    about: &'static str,
    events: &'static [&'static str],
    steps: &'static [Step],
) -> Recipe {
    Recipe {
        event: name,
        steps,
        chain: Some(Chain { about, events }),
    }
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
    chain(
        "renewal",
        "a monthly subscription on a new test clock renews a month later, paid",
        &[
            "invoice.created",
            "customer.subscription.updated",
            "invoice.finalized",
            "invoice.paid",
        ],
        &[
            PRODUCT,
            MONTHLY_PRICE,
            CLOCK,
            CUSTOMER_ON_CLOCK,
            SUBSCRIPTION,
            ADVANCE_PAST_RENEWAL,
            CLOCK_READY,
        ],
    ),
    chain(
        "failed-renewal",
        "the same renewal with a card that declines: the subscription is past due",
        &[
            "invoice.created",
            "customer.subscription.updated",
            "invoice.finalized",
            "invoice.payment_failed",
            "customer.subscription.updated",
        ],
        &[
            PRODUCT,
            MONTHLY_PRICE,
            CLOCK,
            CUSTOMER_ON_CLOCK,
            SUBSCRIPTION,
            FAILING_CARD,
            FAILING_CARD_DEFAULT,
            ADVANCE_PAST_RENEWAL,
            CLOCK_READY,
            PAST_DUE,
        ],
    ),
    chain(
        "trial-will-end",
        "a 7-day trial on a new test clock, advanced past the warning three days before its end",
        &["customer.subscription.trial_will_end"],
        &[
            PRODUCT,
            MONTHLY_PRICE,
            CLOCK,
            CUSTOMER_ON_CLOCK,
            TRIAL_SUBSCRIPTION,
            ADVANCE_INTO_TRIAL,
            CLOCK_READY,
        ],
    ),
    chain(
        "past-due-recovered",
        "a failed renewal, then a working card pays the open invoice: active again",
        &[
            "invoice.payment_failed",
            "customer.subscription.updated",
            "invoice.paid",
            "customer.subscription.updated",
        ],
        &[
            PRODUCT,
            MONTHLY_PRICE,
            CLOCK,
            CUSTOMER_ON_CLOCK,
            SUBSCRIPTION,
            FAILING_CARD,
            FAILING_CARD_DEFAULT,
            ADVANCE_PAST_RENEWAL,
            CLOCK_READY,
            PAST_DUE,
            WORKING_CARD,
            PAY_OPEN_INVOICE,
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
                if let Some(until) = step.until {
                    assert_eq!(step.method, Method::Get, "{at}: only GETs are asked again");
                    assert!(!until.field.is_empty() && !until.equals.is_empty(), "{at}");
                    assert!(until.timeout >= Duration::from_secs(1), "{at}");
                }
                earlier.push(step.name);
            }
            match recipe.chain {
                Some(chain) => {
                    assert!(!chain.events.is_empty(), "{event}: a chain of no events");
                    assert!(!chain.about.contains('\n'), "{event}: one line");
                    assert!(
                        !event.contains('.')
                            && event.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                        "{event}: a chain is named in words, never like an event type"
                    );
                    // Every chain makes its own clock, advances it and
                    // waits until it is ready.
                    let names: Vec<&str> = recipe.steps.iter().map(|s| s.name).collect();
                    for needed in ["clock", "advance", "clock_ready"] {
                        assert!(names.contains(&needed), "{event}: no step {needed}");
                    }
                }
                None => assert!(event.contains('.'), "{event} is not an event type"),
            }
        }
        for chain in [
            "renewal",
            "failed-renewal",
            "trial-will-end",
            "past-due-recovered",
        ] {
            assert!(
                find(chain).is_ok_and(|r| r.chain.is_some()),
                "no chain {chain}"
            );
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
