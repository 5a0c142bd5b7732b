//! The Stripe family of actions: a step's rendered input becomes one call of
//! the entry's endpoint, sent with an idempotency key derived from the run
//! and the step; Stripe's answer is the step's result, and Stripe's error a
//! workflow error that a `try` can catch.

use serde_json::{Map, Value, json};

use super::{ActionError, ActionSite};
use paywire_model::catalogue::{self, ActionSpec, InputKind, amount_problem};
use paywire_stripe::client::{Call, CallError, Method, StripeClient, mask_secrets};

/// The server's Stripe connection, or the error of every Stripe step when
/// it has none.
pub fn connection(client: Option<&StripeClient>) -> Result<&StripeClient, ActionError> {
    client.ok_or_else(|| ActionError {
        status: Some(500),
        public: false,
        ..ActionError::invalid(
            "StripeNotConfigured",
            "this server has no Stripe connection (set STRIPE_SECRET_KEY, or serve without one to use the sandbox)",
        )
    })
}

/// The call a step makes, keyed to its run and step.
pub fn plan(spec: &ActionSpec, input: &Value, site: ActionSite<'_>) -> Result<Call, ActionError> {
    let key = idempotency_key(site.idempotency_root, site.step_key);
    prepare(spec, input, key)
}

/// Makes a planned call; Stripe's errors become [`ActionError`]s here.
pub async fn call(client: &StripeClient, call: Call) -> Result<Value, ActionError> {
    client.call(&call).await.map_err(stripe_error)
}

/// The key that makes a step's Stripe call happen once: the same run (or a
/// retry of it) and the same step, loop iteration included, give the same
/// key. Stripe keeps keys for 24 hours and takes up to 255 characters.
pub fn idempotency_key(run_root: &str, step_key: &str) -> String {
    let key = format!("paywire:{run_root}:{step_key}");
    if key.len() <= 255 {
        return key;
    }
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(step_key.as_bytes()));
    format!("paywire:{run_root}:{digest}")
}

/// What is escaped in an id put into a path (Stripe's ids are letters,
/// digits and underscores; anything else must not change the path).
const ID_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'-')
    .remove(b'.');

/// Builds the call: path inputs fill the path, empty values are left out,
/// amounts are checked wherever they are, and the entry's fixed parameters
/// are added.
pub fn prepare(
    spec: &ActionSpec,
    input: &Value,
    idempotency_key: String,
) -> Result<Call, ActionError> {
    let Some(endpoint) = spec.endpoint else {
        // The catalogue's own test makes sure this cannot happen.
        return Err(ActionError {
            public: false,
            status: Some(500),
            ..ActionError::invalid(
                "StripeInputError",
                format!("`{}` names no Stripe call", spec.name),
            )
        });
    };
    let empty = Map::new();
    let given = match input {
        Value::Object(map) => map,
        Value::Null => &empty,
        other => {
            return Err(input_error(format!(
                "`with` must be a mapping of Stripe parameters, found {}",
                json_kind(other)
            )));
        }
    };
    let mut params = Map::new();
    for (name, value) in given {
        let kind = spec.input(name).map(|i| i.kind).unwrap_or(InputKind::Any);
        if is_empty(value, kind) {
            continue;
        }
        params.insert(name.clone(), without_nulls(value));
    }
    let mut path = String::new();
    for segment in endpoint.path.split('/').filter(|s| !s.is_empty()) {
        path.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                let id = match params.remove(name) {
                    Some(Value::String(id)) if !id.trim().is_empty() => id,
                    None | Some(Value::String(_)) => {
                        return Err(input_error(format!("`{name}` is empty")));
                    }
                    Some(other) => {
                        return Err(input_error(format!(
                            "`{name}` must be a Stripe id (a string), found {}",
                            json_kind(&other)
                        )));
                    }
                };
                path.push_str(&percent_encoding::utf8_percent_encode(&id, ID_UNSAFE).to_string());
            }
            None => path.push_str(segment),
        }
    }
    for input in spec.inputs.iter().filter(|i| i.required) {
        if !params.contains_key(input.name)
            && !endpoint.path.contains(&format!("{{{}}}", input.name))
        {
            return Err(input_error(format!("`{}` is empty", input.name)));
        }
    }
    if !spec.requires_one_of.is_empty()
        && !spec
            .requires_one_of
            .iter()
            .any(|name| params.contains_key(*name))
    {
        return Err(input_error(format!(
            "give one of {}",
            spec.requires_one_of
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    for (name, value) in params.iter_mut() {
        if let Some(field) = catalogue::too_deep_for_a_form(name, value) {
            return Err(input_error(format!(
                "`{field}` nests deeper than Stripe's parameters go ({} keys at most)",
                catalogue::MAX_FORM_DEPTH
            )));
        }
        check_amounts(name, value)?;
    }
    for (name, value) in endpoint.fixed {
        params.insert(name.to_string(), Value::String(value.to_string()));
    }
    Ok(Call {
        method: match endpoint.method {
            catalogue::Method::Get => Method::Get,
            catalogue::Method::Post => Method::Post,
            catalogue::Method::Delete => Method::Delete,
        },
        path,
        params,
        idempotency_key: Some(idempotency_key),
    })
}

/// Whether an input counts as not given: null, or an empty string where
/// the parameter is not text (an empty refund amount means "all of it").
fn is_empty(value: &Value, kind: InputKind) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) if s.trim().is_empty() => kind != InputKind::String,
        _ => false,
    }
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Checks every amount in `value` (found by its key, at any depth) and turns
/// whole floats (`2000.0`) into integers; `path` is Stripe's name for it
/// (`line_items[0][price_data][unit_amount]`).
fn check_amounts(path: &str, value: &mut Value) -> Result<(), ActionError> {
    let key = path
        .rsplit('[')
        .next()
        .unwrap_or(path)
        .trim_end_matches(']');
    if key == "metadata" {
        // The builder's own strings, whatever their names.
        return Ok(());
    }
    if catalogue::AMOUNT_KEYS.contains(&key) && !value.is_object() && !value.is_array() {
        if let Value::String(text) = value
            && let Ok(parsed) = text.trim().parse::<f64>()
        {
            *value = json!(parsed);
        }
        if let Some(problem) = amount_problem(value) {
            return Err(input_error(format!("`{path}`: {problem}")));
        }
        if let Some(f) = value.as_f64().filter(|_| !value.is_u64()) {
            *value = json!(f as u64);
        }
        return Ok(());
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                check_amounts(&format!("{path}[{k}]"), v)?;
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                check_amounts(&format!("{path}[{i}]"), v)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn input_error(message: String) -> ActionError {
    ActionError {
        status: Some(400),
        ..ActionError::invalid("StripeInputError", message)
    }
}

/// Stripe's error as a workflow error, named as Stripe's own libraries name
/// them, with Stripe's fields as its `cause`, answered (when uncaught) with
/// the status of WeWeb's error table.
fn stripe_error(e: CallError) -> ActionError {
    match e {
        CallError::Stripe { status, mut error } => {
            let name = match (status, error["type"].as_str().unwrap_or_default()) {
                (401, _) => "StripeAuthenticationError",
                (403, _) => "StripePermissionError",
                (429, _) => "StripeRateLimitError",
                (_, "card_error") => "StripeCardError",
                (_, "idempotency_error") => "StripeIdempotencyError",
                (_, "invalid_request_error") => "StripeInvalidRequestError",
                _ => "StripeAPIError",
            };
            let answered = match status {
                400 | 401 | 402 | 403 | 404 | 409 | 429 => status,
                _ => 500,
            };
            let message = mask_secrets(
                error["message"]
                    .as_str()
                    .unwrap_or("Stripe refused the request"),
            );
            error["status"] = json!(status);
            ActionError {
                name: name.to_string(),
                message,
                status: Some(answered),
                public: true,
                cause: error,
            }
        }
        CallError::Unreachable(detail) | CallError::BadAnswer(detail) => {
            tracing::error!(error = %detail, "a Stripe call failed");
            ActionError {
                name: "StripeConnectionError".into(),
                message: format!("Stripe could not be reached or answered badly: {detail}"),
                status: Some(500),
                public: false,
                cause: Value::Null,
            }
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static ActionSpec {
        catalogue::find(name).unwrap()
    }

    #[test]
    fn path_inputs_fill_the_path_and_empty_inputs_are_left_out() {
        let call = prepare(
            spec("stripe.update_customer"),
            &json!({"id": "cus_1/2", "email": "a@b.c", "name": null, "balance": "", "description": ""}),
            "k".into(),
        )
        .unwrap();
        assert_eq!(call.method, Method::Post);
        assert_eq!(call.path, "/customers/cus_1%2F2");
        // An empty text is sent (Stripe reads it as "unset"); empty numbers and nulls are not.
        assert_eq!(
            Value::Object(call.params),
            json!({"email": "a@b.c", "description": ""})
        );
    }

    #[test]
    fn a_refund_needs_a_payment_and_an_empty_amount_means_all() {
        let refund = spec("stripe.refund_payment");
        let e = prepare(refund, &json!({"amount": 100}), "k".into()).unwrap_err();
        assert_eq!(e.message, "give one of `payment_intent` or `charge`");
        let call = prepare(
            refund,
            &json!({"payment_intent": "pi_1", "amount": ""}),
            "k".into(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(call.params),
            json!({"payment_intent": "pi_1"})
        );
    }

    #[test]
    fn amounts_are_whole_and_not_negative_at_any_depth() {
        let session = spec("stripe.create_checkout_session");
        let input = |amount: Value| json!({"mode": "payment", "line_items": [{"quantity": 1, "price_data": {"currency": "usd", "unit_amount": amount, "product_data": {"name": "A"}}}]});
        let e = prepare(session, &input(json!(19.99)), "k".into()).unwrap_err();
        assert_eq!(e.status, Some(400));
        assert!(
            e.message.starts_with(
                "`line_items[0][price_data][unit_amount]`: an amount is a whole number"
            ),
            "{}",
            e.message
        );
        let e = prepare(session, &input(json!(-5)), "k".into()).unwrap_err();
        assert!(
            e.message
                .ends_with("an amount cannot be negative, found -5"),
            "{}",
            e.message
        );
        let call = prepare(session, &input(json!(2000.0)), "k".into()).unwrap();
        assert_eq!(
            call.params["line_items"][0]["price_data"]["unit_amount"],
            json!(2000)
        );
        let call = prepare(session, &input(json!("1500")), "k".into()).unwrap();
        assert_eq!(
            call.params["line_items"][0]["price_data"]["unit_amount"],
            json!(1500)
        );
        let intent = spec("stripe.create_payment_intent");
        let e = prepare(
            intent,
            &json!({"amount": 10.5, "currency": "usd"}),
            "k".into(),
        )
        .unwrap_err();
        assert!(e.message.starts_with("`amount`:"), "{}", e.message);
        let call = prepare(
            intent,
            &json!({"amount": 100, "currency": "usd", "metadata": {"amount": "12.50"}}),
            "k".into(),
        )
        .unwrap();
        assert_eq!(call.params["metadata"]["amount"], "12.50");
        let e = prepare(
            intent,
            &json!({"amount": "ten", "currency": "usd"}),
            "k".into(),
        )
        .unwrap_err();
        assert!(e.message.contains("found a string"), "{}", e.message);
    }

    #[test]
    fn inputs_nested_deeper_than_stripe_s_form_are_refused_by_name() {
        let intent = spec("stripe.create_payment_intent");
        let e = prepare(
            intent,
            &json!({"amount": 100, "currency": "usd", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": "x"}}}}}}}),
            "k".into(),
        )
        .unwrap_err();
        assert_eq!((e.name.as_str(), e.status), ("StripeInputError", Some(400)));
        assert!(
            e.message
                .starts_with("`metadata[a][b][c][d][e][f]` nests deeper"),
            "{}",
            e.message
        );
        let e = prepare(
            intent,
            &json!({"amount": 100, "currency": "usd", "metadata": [[[[[["x"]]]]]]}),
            "k".into(),
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("`metadata[0][0][0][0][0][0]`"),
            "{}",
            e.message
        );
        // Six keys deep is as far as Stripe's parameters go, and is sent.
        let call = prepare(
            intent,
            &json!({"amount": 100, "currency": "usd", "metadata": {"a": {"b": {"c": {"d": {"e": "x"}}}}}}),
            "k".into(),
        )
        .unwrap();
        assert_eq!(call.params["metadata"]["a"]["b"]["c"]["d"]["e"], "x");
    }

    #[test]
    fn required_inputs_that_come_out_empty_are_named() {
        let e = prepare(
            spec("stripe.create_payment_intent"),
            &json!({"amount": 100, "currency": null}),
            "k".into(),
        )
        .unwrap_err();
        assert_eq!(e.message, "`currency` is empty");
        let e = prepare(
            spec("stripe.retrieve_price"),
            &json!({"id": ""}),
            "k".into(),
        )
        .unwrap_err();
        assert_eq!(e.message, "`id` is empty");
    }

    #[test]
    fn deactivating_a_price_sends_active_false() {
        let call = prepare(
            spec("stripe.deactivate_price"),
            &json!({"id": "price_1"}),
            "k".into(),
        )
        .unwrap();
        assert_eq!(
            (call.method, call.path.as_str()),
            (Method::Post, "/prices/price_1")
        );
        assert_eq!(Value::Object(call.params), json!({"active": "false"}));
    }

    #[test]
    fn idempotency_keys_name_the_run_and_the_step_and_stay_short() {
        assert_eq!(
            idempotency_key("run1", "steps[0]#2"),
            "paywire:run1:steps[0]#2"
        );
        let long = "f/".repeat(200);
        let key = idempotency_key("run1", &long);
        assert!(
            key.len() <= 255 && key.starts_with("paywire:run1:"),
            "{key}"
        );
        assert_eq!(key, idempotency_key("run1", &long));
    }

    #[test]
    fn stripe_errors_keep_stripe_s_fields_and_map_to_weweb_s_statuses() {
        let e = stripe_error(CallError::Stripe {
            status: 402,
            error: json!({"type": "card_error", "code": "card_declined", "message": "Your card was declined."}),
        });
        assert_eq!(
            (e.name.as_str(), e.status, e.public),
            ("StripeCardError", Some(402), true)
        );
        assert_eq!(e.cause["code"], "card_declined");
        assert_eq!(e.cause["status"], 402);
        let e = stripe_error(CallError::Stripe {
            status: 401,
            error: json!({"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_abcdef"}),
        });
        assert_eq!(e.name, "StripeAuthenticationError");
        assert_eq!(e.message, "Invalid API Key provided: sk_test_****");
        let e = stripe_error(CallError::Stripe {
            status: 503,
            error: json!({"type": "api_error", "message": "busy"}),
        });
        assert_eq!((e.name.as_str(), e.status), ("StripeAPIError", Some(500)));
        let e = stripe_error(CallError::Unreachable("connection refused".into()));
        assert_eq!((e.status, e.public), (Some(500), false));
    }
}
