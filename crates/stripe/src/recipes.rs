//! Recipes for `paywire trigger`: for each event type, the Stripe API calls
//! that make Stripe (or the sandbox) emit it, so that the real chain of
//! events follows, as the Stripe CLI's `stripe trigger` scripts do.
//!
//! A recipe is data: an event type and a list of [`Step`]s, each a name, a
//! method, a path and its parameters as JSON. Strings in a path or in the
//! parameters may hold references to the answers of earlier steps,
//! `${name:json.path}` (`${customer:id}`, `${session:amount_total}`). A step
//! may expect an error (a declined card, whose 402 is what makes the
//! `…payment_failed` event happen), and a step may exist only in the sandbox
//! (`POST /v1/payment_pages/{session}/confirm`, which pays a checkout session
//! without a browser). [`run`] executes a recipe through
//! [`StripeClient::call`] and returns the answers.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::client::{Call, CallError, Method, StripeClient};

/// One API call of a recipe.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// How later steps refer to this step's answer (`${name:id}`).
    pub name: &'static str,
    pub method: Method,
    /// Stripe's path, `/v1/…`, with references.
    pub path: &'static str,
    /// The parameters: a JSON object, with references in its strings. GET
    /// sends them as the query, POST as Stripe's form.
    pub params: &'static str,
    /// The error this step answers with, when that error is the point (a
    /// declined card makes `payment_intent.payment_failed` happen).
    pub expects: Option<Expected>,
    /// Only paywire's sandbox has this endpoint.
    pub sandbox_only: bool,
}

/// An error a step is expected to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub status: u16,
    /// Stripe's error `type` (`card_error`).
    pub error_type: &'static str,
}

/// The calls that make one event happen.
#[derive(Clone, Copy, Debug)]
pub struct Recipe {
    pub event: &'static str,
    pub steps: &'static [Step],
}

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

    pub fn method_name(&self) -> &'static str {
        method_name(self.method)
    }
}

pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Delete => "DELETE",
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

/// The event types paywire has recipes for, sorted.
pub fn event_types() -> Vec<&'static str> {
    let mut types: Vec<&str> = RECIPES.iter().map(|r| r.event).collect();
    types.sort_unstable();
    types
}

/// `paywire trigger --help`'s list of the event types.
pub fn help() -> String {
    format!(
        "Event types with a recipe:\n  {}",
        event_types().join("\n  ")
    )
}

/// An event type without a recipe.
#[derive(Debug, thiserror::Error)]
#[error(
    "paywire has no recipe for `{event}`{} It makes these happen:\n  {}\n(For any other event, send one of your own with `paywire trigger --payload FILE`.)",
    suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_else(|| ".".into()),
    event_types().join("\n  ")
)]
pub struct UnknownEvent {
    pub event: String,
    pub suggestion: Option<&'static str>,
}

/// The recipe for `event`.
pub fn find(event: &str) -> Result<&'static Recipe, UnknownEvent> {
    let event = event.trim();
    RECIPES
        .iter()
        .find(|r| r.event == event)
        .ok_or_else(|| UnknownEvent {
            event: event.to_string(),
            suggestion: paywire_support::did_you_mean(event, RECIPES.iter().map(|r| r.event)),
        })
}

/// Where a recipe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// paywire's offline sandbox, which has the private endpoints.
    Sandbox,
    /// Stripe itself (test mode).
    Stripe,
}

/// One finished step.
#[derive(Clone, Debug)]
pub struct Done {
    pub name: &'static str,
    pub method: Method,
    /// The path as called, references filled in.
    pub path: String,
    /// Stripe's answer; for a step that answered its expected error, the
    /// error (`{"type": "card_error", …}`).
    pub answer: Value,
    /// The status of the expected error the step answered with.
    pub expected_error: Option<u16>,
}

impl Done {
    /// The id of what the step made or acted on (for a declined payment,
    /// the payment intent Stripe names in its error).
    pub fn object_id(&self) -> Option<&str> {
        self.answer
            .get("id")
            .or_else(|| self.answer.get("payment_intent"))
            .and_then(Value::as_str)
    }
}

/// Why a recipe stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error(
        "{event} needs a customer to pay on Stripe's hosted checkout page, which real Stripe offers only to a browser: open a session's url and pay with a test card (4242 4242 4242 4242), or use the Stripe CLI against real Stripe (`stripe trigger {event}`). Without STRIPE_SECRET_KEY, paywire's sandbox pays it for you (step {step})"
    )]
    SandboxOnly { event: String, step: &'static str },
    #[error("step {step}: {message}")]
    Reference { step: &'static str, message: String },
    #[error("step {step} ({method} {path}) failed: {source}")]
    Call {
        step: &'static str,
        method: &'static str,
        path: String,
        #[source]
        source: CallError,
    },
    #[error(
        "step {step} ({method} {path}) was to fail with a {expected} ({status}), which is what makes the event happen, but Stripe accepted it"
    )]
    NotDeclined {
        step: &'static str,
        method: &'static str,
        path: String,
        expected: &'static str,
        status: u16,
    },
}

impl RecipeError {
    /// Whether Stripe was never reached (no server, or no sandbox there).
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            RecipeError::Call {
                source: CallError::Unreachable(_) | CallError::BadAnswer(_),
                ..
            }
        )
    }
}

/// Runs `recipe`'s steps in order through `client`, calling `on_step` as
/// each finishes, and returns their answers. POSTs carry the idempotency
/// key `{key_prefix}:{step}`, so that the client's retries do nothing twice.
pub async fn run(
    client: &StripeClient,
    recipe: &Recipe,
    target: Target,
    key_prefix: &str,
    mut on_step: impl FnMut(&Done),
) -> Result<Vec<Done>, RecipeError> {
    if target == Target::Stripe
        && let Some(step) = recipe.steps.iter().find(|s| s.sandbox_only)
    {
        return Err(RecipeError::SandboxOnly {
            event: recipe.event.to_string(),
            step: step.name,
        });
    }
    let mut answers: Vec<Done> = Vec::new();
    for step in recipe.steps {
        let reference = |message: String| RecipeError::Reference {
            step: step.name,
            message,
        };
        let path = substitute_path(step.path, &answers).map_err(reference)?;
        let params = match serde_json::from_str::<Value>(step.params) {
            Ok(Value::Object(params)) => params,
            _ => return Err(reference("its parameters are not a JSON object".into())),
        };
        let params = match resolve(&Value::Object(params), &answers).map_err(reference)? {
            Value::Object(params) => params,
            _ => Map::new(),
        };
        let call = Call {
            method: step.method,
            path: path.strip_prefix("/v1").unwrap_or(&path).to_string(),
            params,
            idempotency_key: Some(format!("{key_prefix}:{}", step.name)),
        };
        let (answer, expected_error) = match (client.call(&call).await, step.expects) {
            (Ok(answer), None) => (answer, None),
            (Err(CallError::Stripe { status, error }), Some(expected))
                if error["type"] == expected.error_type =>
            {
                (error, Some(status))
            }
            (Ok(_), Some(expected)) => {
                return Err(RecipeError::NotDeclined {
                    step: step.name,
                    method: step.method_name(),
                    path,
                    expected: expected.error_type,
                    status: expected.status,
                });
            }
            (Err(source), _) => {
                return Err(RecipeError::Call {
                    step: step.name,
                    method: step.method_name(),
                    path,
                    source,
                });
            }
        };
        let done = Done {
            name: step.name,
            method: step.method,
            path,
            answer,
            expected_error,
        };
        on_step(&done);
        answers.push(done);
    }
    Ok(answers)
}

/// What is escaped in a value put into a path.
const PATH_UNSAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'-').remove(b'.');

fn substitute_path(path: &str, answers: &[Done]) -> Result<String, String> {
    substitute_with(path, answers, |value| {
        utf8_percent_encode(value, PATH_UNSAFE).to_string()
    })
}

/// Fills the references in every string of `value`.
pub fn resolve(value: &Value, answers: &[Done]) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(substitute(text, answers)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| resolve(item, answers))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| Ok((key.clone(), resolve(item, answers)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces each `${name:json.path}` in `text` with that field of the answer
/// of the earlier step `name`: `${customer:id}`, `${session:payment_intent}`,
/// `${invoice:lines.data.0.id}` (a number indexes a list).
pub fn substitute(text: &str, answers: &[Done]) -> Result<String, String> {
    substitute_with(text, answers, str::to_string)
}

fn substitute_with(
    text: &str,
    answers: &[Done],
    escape: impl Fn(&str) -> String,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("`{}` has a `${{` without its `}}`", text));
        };
        let reference = &rest[start + 2..start + len];
        let (name, path) = parse_reference(reference)?;
        let answer = answers
            .iter()
            .rev()
            .find(|done| done.name == name)
            .ok_or_else(|| format!("`${{{reference}}}` names no earlier step"))?;
        let value = lookup(&answer.answer, path).ok_or_else(|| {
            format!("`${{{reference}}}`: the answer of step {name} has no `{path}`")
        })?;
        out.push_str(&escape(&value));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `name:json.path`, both parts non-empty.
fn parse_reference(reference: &str) -> Result<(&str, &str), String> {
    match reference.split_once(':') {
        Some((name, path)) if !name.trim().is_empty() && !path.trim().is_empty() => {
            Ok((name.trim(), path.trim()))
        }
        _ => Err(format!(
            "`${{{reference}}}` is not a reference; write `${{step:json.path}}`, as `${{customer:id}}`"
        )),
    }
}

/// The references in `text`, as `(step, path)`.
pub fn references(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if let Ok((name, path)) = parse_reference(&rest[start + 2..start + len]) {
            found.push((name.to_string(), path.to_string()));
        }
        rest = &rest[start + len + 1..];
    }
    found
}

/// A field by its dotted path, as text; nothing for null, an empty string,
/// an object or a list.
fn lookup(value: &Value, path: &str) -> Option<String> {
    let mut at = value;
    for part in path.split('.') {
        at = match at {
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => at.get(part)?,
        };
    }
    match at {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(_) | Value::Bool(_) => Some(at.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn done(name: &'static str, answer: Value) -> Done {
        Done {
            name,
            method: Method::Post,
            path: String::new(),
            answer,
            expected_error: None,
        }
    }

    #[test]
    fn references_take_fields_of_earlier_answers() {
        let answers = vec![
            done("customer", json!({"id": "cus_1", "balance": 0})),
            done(
                "session",
                json!({"id": "cs_1", "payment_intent": "pi_1", "amount_total": 3000,
                       "line_items": {"data": [{"id": "li_1"}]}, "livemode": false}),
            ),
        ];
        assert_eq!(substitute("${customer:id}", &answers).unwrap(), "cus_1");
        assert_eq!(
            substitute("/v1/x/${session:payment_intent}/y?${customer:id}", &answers).unwrap(),
            "/v1/x/pi_1/y?cus_1"
        );
        assert_eq!(
            substitute("${session:amount_total}", &answers).unwrap(),
            "3000"
        );
        assert_eq!(
            substitute("${session:line_items.data.0.id}", &answers).unwrap(),
            "li_1"
        );
        assert_eq!(
            substitute("${session:livemode}", &answers).unwrap(),
            "false"
        );
        assert_eq!(
            substitute("no references", &answers).unwrap(),
            "no references"
        );
        let params =
            json!({"customer": "${customer:id}", "items": [{"price": "${session:id}"}], "n": 2});
        assert_eq!(
            resolve(&params, &answers).unwrap(),
            json!({"customer": "cus_1", "items": [{"price": "cs_1"}], "n": 2})
        );
    }

    #[test]
    fn a_later_step_of_the_same_name_wins() {
        let answers = vec![
            done("customer", json!({"id": "cus_1"})),
            done("customer", json!({"id": "cus_2"})),
        ];
        assert_eq!(substitute("${customer:id}", &answers).unwrap(), "cus_2");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let answers = vec![done(
            "customer",
            json!({"id": "cus_1", "email": null, "name": ""}),
        )];
        for (text, problem) in [
            ("${price:id}", "`${price:id}` names no earlier step"),
            (
                "${customer:email}",
                "the answer of step customer has no `email`",
            ),
            ("${customer:name}", "has no `name`"),
            ("${customer:nope.deeper}", "has no `nope.deeper`"),
            ("${customer}", "is not a reference"),
            ("${customer:id", "without its `}`"),
        ] {
            let e = substitute(text, &answers).unwrap_err();
            assert!(e.contains(problem), "{text}: {e}");
        }
    }

    #[test]
    fn values_in_paths_are_escaped() {
        let answers = vec![done("x", json!({"id": "a/b c"}))];
        assert_eq!(
            substitute_path("/v1/customers/${x:id}", &answers).unwrap(),
            "/v1/customers/a%2Fb%20c"
        );
    }

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

    #[test]
    fn unknown_events_list_the_known_ones_and_suggest_one() {
        let e = find("checkout.session.complete").unwrap_err();
        assert_eq!(e.suggestion, Some("checkout.session.completed"));
        let message = e.to_string();
        assert!(
            message.starts_with(
                "paywire has no recipe for `checkout.session.complete`; did you mean `checkout.session.completed`?"
            ),
            "{message}"
        );
        assert!(message.contains("\n  invoice.paid\n"), "{message}");
        let e = find("not.an.event").unwrap_err();
        assert_eq!(e.suggestion, None);
        assert!(
            e.to_string().contains("--payload FILE"),
            "{}",
            e.to_string()
        );
        assert_eq!(find(" invoice.paid ").unwrap().event, "invoice.paid");
    }

    #[tokio::test]
    async fn against_real_stripe_the_checkout_page_needs_a_browser() {
        let client = StripeClient::new(
            &paywire_support::Secret::new("sk_test_nothing_is_called"),
            "http://127.0.0.1:9",
            crate::client::STRIPE_CALL_RETRY,
        )
        .unwrap();
        let recipe = find("checkout.session.completed").unwrap();
        let mut calls = 0;
        let e = run(&client, recipe, Target::Stripe, "k", |_| calls += 1)
            .await
            .unwrap_err();
        assert!(matches!(e, RecipeError::SandboxOnly { .. }));
        assert_eq!(calls, 0, "nothing is made before the refusal");
        let message = e.to_string();
        assert!(message.contains("browser"), "{message}");
        assert!(
            message.contains("stripe trigger checkout.session.completed"),
            "{message}"
        );
    }
}
