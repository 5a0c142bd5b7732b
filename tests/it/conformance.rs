//! Stripe conformance checks for the sandbox: every response it returns must parse into
//! async-stripe's typed objects (of the API version async-stripe pins), and every event it sends
//! must pass `stripe_webhook::Webhook::construct_event`.
//!
//! The authoritative check is the parser async-stripe itself uses (miniserde for API responses;
//! miniserde + `FromValueOpt` inside `construct_event` for webhooks). miniserde errors carry no
//! detail, so on failure the same text is parsed again with serde (async-stripe's `deserialize`
//! feature) through `serde_path_to_error` to name the failing field.
//!
//! Strictness beyond async-stripe: async-stripe accepts any string for an enum-typed field (it maps
//! it to an `Unknown(String)` variant and logs a `tracing` warning) and only warns on an API
//! version mismatch. These checks capture those warnings and fail on them, so a typo such as
//! `"status": "compelte"` or a foreign `api_version` does not pass silently.
//!
//! The dependencies are dev-dependencies in Cargo.toml.
//!
//! Which crate provides which type:
//! - `async-stripe-shared` (`stripe_shared`): Product, Price, Plan, Coupon, Customer,
//!   CheckoutSession, CheckoutSessionItem (`"item"`), PaymentIntent, SetupIntent, Charge, Refund,
//!   PaymentMethod, Subscription, SubscriptionItem, Invoice, InvoiceLineItem (`"line_item"`),
//!   Event (the envelope), DeletedCustomer, DeletedProduct, DeletedPlan, DeletedCoupon,
//!   DeletedInvoice, DeletedSubscriptionItem; `version::VERSION`.
//! - `async-stripe-billing` (`stripe_billing`): InvoiceItem (`"invoiceitem"`), DeletedInvoiceitem
//!   (types are always compiled; the crate's features only gate request builders).
//! - `async-stripe-types` (`stripe_types`): List, SearchList, Expandable, Currency, Timestamp.
//! - `async-stripe-webhook` (`stripe_webhook`): Webhook, Event (typed), EventObject, WebhookError.
//!
//! There is no DeletedPrice anywhere (Stripe cannot delete prices).

use serde_json::Value;

/// The Stripe API version async-stripe is generated for (`stripe_shared::version::VERSION`).
pub fn pinned_api_version() -> String {
    stripe_shared::version::VERSION.as_str().to_owned()
}

/// Parses one JSON response body of the sandbox into the async-stripe type named by its
/// `"object"` field. Lists (`"object": "list"`) and search results (`"search_result"`) are
/// checked as envelopes and each element by its own `"object"`. `{"object": X, "deleted": true}`
/// maps to the `Deleted*` type. Events are parsed as the envelope, through the webhook crate's
/// typed event parse, and `data.object` by its own `"object"`.
pub fn parse_stripe_object(json: &str) -> Result<(), String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("response is not valid JSON: {e}"))?;
    check_value(json, &value, Ctx::Response)
}

/// Parses an error answer of the sandbox as async-stripe's client does: the
/// `error` member of the body into `stripe_shared::ApiErrors`, with its `type`
/// and `code` values known to the pinned API version.
pub fn parse_stripe_error(json: &str) -> Result<(), String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("error body is not valid JSON: {e}"))?;
    let error = value
        .get("error")
        .ok_or_else(|| "error body has no \"error\" member".to_owned())?;
    typed::<stripe_shared::ApiErrors>(&error.to_string(), "error", "stripe_shared::ApiErrors")
}

/// Verifies a webhook delivery exactly as an async-stripe receiver does
/// (`stripe_webhook::Webhook::construct_event`: HMAC-SHA256 `v1` signature, timestamp within
/// ±300 s of now, typed parse of the event and of `data.object` for its `type`), then applies the
/// stricter checks of [`parse_stripe_object`].
pub fn verify_and_parse_event(
    payload: &str,
    signature_header: &str,
    secret: &str,
) -> Result<(), String> {
    use stripe_webhook::{Webhook, WebhookError};
    let (result, warnings) =
        capture::warnings(|| Webhook::construct_event(payload, signature_header, secret));
    match result {
        Ok(event) => {
            if let stripe_webhook::EventObject::Unknown(_) = event.data.object {
                return Err(format!(
                    "event type '{}' is not typed by this build of stripe_webhook \
                     (data.object left unchecked): unknown event type or its crate feature is off",
                    event.type_.as_str()
                ));
            }
            fail_on_warnings("webhook event", &warnings)?;
            // Same strictness and detail as for API responses.
            parse_stripe_object(payload)
        }
        Err(WebhookError::BadSignature) => Err(format!(
            "signature rejected: no v1 entry of the Stripe-Signature header `{signature_header}` equals \
             hex(HMAC-SHA256(secret, t + \".\" + payload)) (or the header lacks t= / v1=)"
        )),
        Err(WebhookError::BadTimestamp(t)) => Err(format!(
            "signature timestamp t={t} is more than 300 s away from now ({}); construct_event \
             rejects old and future timestamps",
            now_unix()
        )),
        Err(WebhookError::BadHeader(e)) => Err(format!(
            "Stripe-Signature header: t= is not an integer ({e})"
        )),
        Err(WebhookError::BadKey) => Err("webhook secret rejected as HMAC key".to_owned()),
        Err(WebhookError::BadParse(msg)) => {
            // Signature was fine; explain why the typed parse failed.
            let detail = match parse_stripe_object(payload) {
                Err(e) => e,
                Ok(()) => "the stricter checks found nothing; compare data.object with the type \
                           stripe_webhook expects for this event type"
                    .to_owned(),
            };
            Err(format!(
                "signature OK but construct_event could not parse the event ({msg}): {detail}"
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    /// A top-level API response (or an element of a list response).
    Response,
    /// `data.object` of an event: stripe_webhook types it by event type, and *.deleted events
    /// carry the full object, so `deleted: true` does not select a `Deleted*` type here.
    EventObject,
}

fn check_value(text: &str, value: &Value, ctx: Ctx) -> Result<(), String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("expected a JSON object, got {}", json_kind(value)))?;
    let object = match obj.get("object") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(format!(
                "\"object\" must be a string, got {}",
                json_kind(other)
            ));
        }
        None => return Err("missing \"object\" field".to_owned()),
    };
    let deleted = matches!(obj.get("deleted"), Some(Value::Bool(true)));
    if deleted && ctx == Ctx::Response {
        return check_deleted(text, object);
    }
    match object {
        "list" => check_list(text, value, false),
        "search_result" => check_list(text, value, true),
        "event" => check_event(text, value),
        "product" => typed::<stripe_shared::Product>(text, object, "stripe_shared::Product"),
        "price" => typed::<stripe_shared::Price>(text, object, "stripe_shared::Price"),
        "plan" => typed::<stripe_shared::Plan>(text, object, "stripe_shared::Plan"),
        "coupon" => typed::<stripe_shared::Coupon>(text, object, "stripe_shared::Coupon"),
        "promotion_code" => {
            typed::<stripe_shared::PromotionCode>(text, object, "stripe_shared::PromotionCode")
        }
        "customer" => typed::<stripe_shared::Customer>(text, object, "stripe_shared::Customer"),
        "checkout.session" => {
            typed::<stripe_shared::CheckoutSession>(text, object, "stripe_shared::CheckoutSession")
        }
        // The line items of a checkout session (GET /v1/checkout/sessions/{id}/line_items).
        "item" => typed::<stripe_shared::CheckoutSessionItem>(
            text,
            object,
            "stripe_shared::CheckoutSessionItem",
        ),
        "payment_intent" => {
            typed::<stripe_shared::PaymentIntent>(text, object, "stripe_shared::PaymentIntent")
        }
        "setup_intent" => {
            typed::<stripe_shared::SetupIntent>(text, object, "stripe_shared::SetupIntent")
        }
        "charge" => typed::<stripe_shared::Charge>(text, object, "stripe_shared::Charge"),
        "dispute" => typed::<stripe_shared::Dispute>(text, object, "stripe_shared::Dispute"),
        "tax_rate" => typed::<stripe_shared::TaxRate>(text, object, "stripe_shared::TaxRate"),
        "refund" => typed::<stripe_shared::Refund>(text, object, "stripe_shared::Refund"),
        "payment_method" => {
            typed::<stripe_shared::PaymentMethod>(text, object, "stripe_shared::PaymentMethod")
        }
        "subscription" => {
            typed::<stripe_shared::Subscription>(text, object, "stripe_shared::Subscription")
        }
        "subscription_item" => typed::<stripe_shared::SubscriptionItem>(
            text,
            object,
            "stripe_shared::SubscriptionItem",
        ),
        "invoice" => typed::<stripe_shared::Invoice>(text, object, "stripe_shared::Invoice"),
        "invoiceitem" => {
            typed::<stripe_billing::InvoiceItem>(text, object, "stripe_billing::InvoiceItem")
        }
        // An invoice's lines (invoice.lines.data[], GET /v1/invoices/{id}/lines).
        "line_item" => {
            typed::<stripe_shared::InvoiceLineItem>(text, object, "stripe_shared::InvoiceLineItem")
        }
        "test_helpers.test_clock" => typed::<stripe_shared::TestHelpersTestClock>(
            text,
            object,
            "stripe_shared::TestHelpersTestClock",
        ),
        "webhook_endpoint" => webhook_endpoint(text),
        other => Err(format!(
            "object type \"{other}\" is not covered by the conformance checks (add it to \
             check_value in tests/it/conformance.rs)"
        )),
    }
}

/// The fields of `async_stripe_misc::WebhookEndpoint` (1.0.0-rc.10), with
/// their types. That crate is not among the test's dependencies (it is not
/// in the offline registry), so its type is mirrored here, strictly: a field
/// it does not know is refused as well.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct WebhookEndpoint {
    api_version: Option<String>,
    application: Option<String>,
    created: i64,
    description: Option<String>,
    enabled_events: Vec<String>,
    id: String,
    livemode: bool,
    metadata: std::collections::HashMap<String, String>,
    object: String,
    secret: Option<String>,
    status: String,
    url: String,
}

fn webhook_endpoint(text: &str) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let endpoint: WebhookEndpoint = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        format!(
            "\"webhook_endpoint\" does not parse as async_stripe_misc::WebhookEndpoint: at `{}`: {}",
            e.path(),
            e.inner()
        )
    })?;
    if !["enabled", "disabled"].contains(&endpoint.status.as_str())
        || !endpoint.id.starts_with("we_")
    {
        return Err(format!(
            "\"webhook_endpoint\" {} has status {:?}: Stripe's are `we_…`, enabled or disabled",
            endpoint.id, endpoint.status
        ));
    }
    Ok(())
}

fn check_deleted(text: &str, object: &str) -> Result<(), String> {
    match object {
        "webhook_endpoint" => {
            let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
            let fields: Vec<&String> = value
                .as_object()
                .map(|o| o.keys().collect())
                .unwrap_or_default();
            if fields.len() == 3 && value["id"].as_str().is_some_and(|id| id.starts_with("we_")) {
                Ok(())
            } else {
                Err(format!(
                    "a deleted webhook_endpoint is id, object and deleted: {text}"
                ))
            }
        }
        "customer" => {
            typed::<stripe_shared::DeletedCustomer>(text, object, "stripe_shared::DeletedCustomer")
        }
        "product" => {
            typed::<stripe_shared::DeletedProduct>(text, object, "stripe_shared::DeletedProduct")
        }
        "plan" => typed::<stripe_shared::DeletedPlan>(text, object, "stripe_shared::DeletedPlan"),
        "coupon" => {
            typed::<stripe_shared::DeletedCoupon>(text, object, "stripe_shared::DeletedCoupon")
        }
        "invoice" => {
            typed::<stripe_shared::DeletedInvoice>(text, object, "stripe_shared::DeletedInvoice")
        }
        "invoiceitem" => typed::<stripe_billing::DeletedInvoiceitem>(
            text,
            object,
            "stripe_billing::DeletedInvoiceitem",
        ),
        "subscription_item" => typed::<stripe_shared::DeletedSubscriptionItem>(
            text,
            object,
            "stripe_shared::DeletedSubscriptionItem",
        ),
        "test_helpers.test_clock" => typed::<stripe_shared::DeletedTestHelpersTestClock>(
            text,
            object,
            "stripe_shared::DeletedTestHelpersTestClock",
        ),
        "price" => Err(
            "deleted price: async-stripe has no DeletedPrice type (Stripe's API cannot \
                        delete prices; archive them with active=false instead)"
                .to_owned(),
        ),
        other => Err(format!(
            "deleted object type \"{other}\" is not covered by the conformance checks"
        )),
    }
}

fn check_list(text: &str, value: &Value, search: bool) -> Result<(), String> {
    let what = if search { "search_result" } else { "list" };
    let obj = value.as_object().expect("checked by caller");
    match obj.get("data") {
        Some(Value::Array(_)) => {}
        Some(v) => {
            return Err(format!(
                "{what}: \"data\" must be an array, got {}",
                json_kind(v)
            ));
        }
        None => return Err(format!("{what}: missing \"data\"")),
    }
    match obj.get("has_more") {
        Some(Value::Bool(_)) => {}
        Some(v) => {
            return Err(format!(
                "{what}: \"has_more\" must be a boolean, got {}",
                json_kind(v)
            ));
        }
        None => return Err(format!("{what}: missing \"has_more\"")),
    }
    match obj.get("url") {
        Some(Value::String(_)) => {}
        Some(v) => {
            return Err(format!(
                "{what}: \"url\" must be a string, got {}",
                json_kind(v)
            ));
        }
        None => return Err(format!("{what}: missing \"url\"")),
    }
    if search {
        // stripe_types::SearchList requires both keys to be present (null allowed).
        for key in ["next_page", "total_count"] {
            if !obj.contains_key(key) {
                return Err(format!(
                    "search_result: missing \"{key}\" (may be null, not absent)"
                ));
            }
        }
        miniserde::json::from_str::<stripe_types::SearchList<miniserde::json::Value>>(text)
            .map_err(|_| "search_result does not parse as stripe_types::SearchList".to_owned())?;
    } else {
        miniserde::json::from_str::<stripe_types::List<miniserde::json::Value>>(text)
            .map_err(|_| "list does not parse as stripe_types::List".to_owned())?;
    }
    let data = obj["data"].as_array().expect("checked above");
    for (i, element) in data.iter().enumerate() {
        let element_text = element.to_string();
        check_value(&element_text, element, Ctx::Response)
            .map_err(|e| format!("{what}.data[{i}]: {e}"))?;
    }
    Ok(())
}

fn check_event(text: &str, value: &Value) -> Result<(), String> {
    // 1. The envelope, as async-stripe's webhook code parses it first.
    typed::<stripe_shared::Event>(text, "event", "stripe_shared::Event")?;
    let obj = value.as_object().expect("checked by caller");
    let event_type = obj.get("type").and_then(Value::as_str).unwrap_or_default();
    if let Some(Value::String(v)) = obj.get("api_version")
        && *v != pinned_api_version()
    {
        return Err(format!(
            "event: api_version \"{v}\" differs from the version async-stripe pins (\"{}\")",
            pinned_api_version()
        ));
    }
    let data = obj
        .get("data")
        .and_then(Value::as_object)
        .expect("Event parse checked data");
    match data.get("previous_attributes") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(v) => {
            return Err(format!(
                "event: data.previous_attributes must be an object, got {}",
                json_kind(v)
            ));
        }
    }
    // 2. data.object by its own "object" (precise messages), in event context.
    let inner = data.get("object").expect("Event parse checked data.object");
    let inner_text = inner.to_string();
    let inner_result = check_value(&inner_text, inner, Ctx::EventObject);
    if let Err(e) = &inner_result
        && !e.contains("is not covered by the conformance checks")
    {
        let hint = if matches!(inner.get("deleted"), Some(Value::Bool(true))) {
            " (a *.deleted event carries the full object as it was, optionally with \"deleted\": \
             true; the {id, object, deleted} stub is only the DELETE response)"
        } else {
            ""
        };
        return Err(format!("event ({event_type}): data.object: {e}{hint}"));
    }
    // 3. The typed event parse of stripe_webhook (data.object typed by the event's `type`).
    let (parsed, warnings) = capture::warnings(|| stripe_webhook::Webhook::insecure(text));
    match parsed {
        Err(e) => {
            return Err(format!(
                "event ({event_type}): stripe_webhook's typed parse failed ({e}); data.object \
                 must be the full object type stripe_webhook maps `{event_type}` to (*.deleted \
                 events carry the full object, not a Deleted* stub)"
            ));
        }
        Ok(event) => {
            // Unknown: the event type is unknown to EventType, or its crate feature is off.
            // Then only step 2 checked data.object, and it must have covered it.
            if let (stripe_webhook::EventObject::Unknown(_), Err(e)) =
                (&event.data.object, &inner_result)
            {
                return Err(format!(
                    "event ({event_type}): stripe_webhook does not type this event and {e}"
                ));
            }
        }
    }
    fail_on_warnings("event", &warnings)
}

/// Parses `text` with miniserde exactly as async-stripe does; explains failures with serde.
fn typed<T>(text: &str, object: &str, type_name: &str) -> Result<(), String>
where
    T: miniserde::Deserialize + serde::de::DeserializeOwned,
{
    let (result, warnings) = capture::warnings(|| miniserde::json::from_str::<T>(text));
    match result {
        Ok(_) => fail_on_warnings(&format!("\"{object}\" as {type_name}"), &warnings),
        Err(_) => {
            let mut de = serde_json::Deserializer::from_str(text);
            let why = match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(e) => {
                    let path = e.path().to_string();
                    let inner = e.into_inner().to_string();
                    let inner = strip_position(&inner);
                    if path == "." || path.is_empty() {
                        inner
                    } else {
                        format!("at `{path}`: {inner}")
                    }
                }
                Ok(_) => "serde accepts it but miniserde does not: look for a float where an \
                          integer is expected (e.g. 2000.0) or a duplicate key"
                    .to_owned(),
            };
            Err(format!("\"{object}\" does not parse as {type_name}: {why}"))
        }
    }
}

fn fail_on_warnings(what: &str, warnings: &[String]) -> Result<(), String> {
    let relevant: Vec<&String> = warnings
        .iter()
        .filter(|w| w.starts_with("Unknown value") || w.starts_with("API version mismatch"))
        .collect();
    if relevant.is_empty() {
        Ok(())
    } else {
        let list: Vec<&str> = relevant.iter().map(|s| s.as_str()).collect();
        Err(format!(
            "{what} parses, but async-stripe logged warnings (use only values and the API \
             version that async-stripe, pinned to API {}, knows): {}",
            pinned_api_version(),
            list.join("; ")
        ))
    }
}

fn strip_position(msg: &str) -> String {
    // serde_json appends " at line 1 column 123"; the path is more useful.
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Collects the `tracing` warnings async-stripe emits while parsing (unknown enum values, API
/// version mismatch) on the current thread, whatever global subscriber the test binary has.
mod capture {
    use std::cell::RefCell;
    use std::sync::OnceLock;

    use tracing::field::{Field, Visit};
    use tracing::subscriber::Interest;
    use tracing::{Dispatch, Event, Level, Metadata, Subscriber, span};

    thread_local! {
        static SINK: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    struct Collector;

    struct Message(String);

    impl Visit for Message {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Collector {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.is_event() && *metadata.level() <= Level::WARN
        }
        fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
            span::Id::from_u64(1)
        }
        fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
        fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut message = Message(String::new());
            event.record(&mut message);
            SINK.with(|sink| {
                if let Some(sink) = sink.borrow_mut().as_mut() {
                    sink.push(message.0);
                }
            });
        }
        fn enter(&self, _: &span::Id) {}
        fn exit(&self, _: &span::Id) {}
    }

    fn dispatch() -> &'static Dispatch {
        static DISPATCH: OnceLock<Dispatch> = OnceLock::new();
        DISPATCH.get_or_init(|| Dispatch::new(Collector))
    }

    /// Runs `f`, returning its result and the warnings logged meanwhile on this thread.
    pub fn warnings<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
        let outer = SINK.with(|sink| sink.borrow_mut().replace(Vec::new()));
        let result = tracing::dispatcher::with_default(dispatch(), f);
        let captured = SINK
            .with(|sink| sink.borrow_mut().take())
            .unwrap_or_default();
        SINK.with(|sink| {
            *sink.borrow_mut() = outer.map(|mut o| {
                o.extend(captured.iter().cloned());
                o
            })
        });
        (result, captured)
    }
}
