//! Webhook endpoints (`/v1/webhook_endpoints`): where events go besides the
//! URL of the sandbox's settings, each taking the event types it lists and
//! signing with a secret of its own, shown once when it is created. Also
//! `POST /v1/events/{id}/retry`, which sends an event to one endpoint again
//! (what `stripe events resend` calls).

use serde_json::{Map, Value, json};

use super::{ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, check, text};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, list_page, random_id};

pub const WEBHOOK_ENDPOINT: &str = "webhook_endpoint";

/// The longest event type or URL an endpoint takes.
const MAX_TEXT: usize = 5000;

/// Whether an endpoint gets events of `event_type` now: it is enabled and
/// lists the type, or `*`.
pub fn endpoint_takes(endpoint: &Value, event_type: &str) -> bool {
    endpoint.get("deleted").is_none()
        && endpoint["status"] == "enabled"
        && endpoint["enabled_events"]
            .as_array()
            .is_some_and(|types| types.iter().any(|t| t == "*" || t == event_type))
}

/// The URL an endpoint is given: http or https, with a host. The sandbox
/// is offline, so plain http (a local receiver) is as good as https.
fn url(params: &Map<String, Value>) -> Result<Option<String>, StripeError> {
    let Some(given) = params.get("url").and_then(Value::as_str) else {
        return Ok(None);
    };
    let parsed = reqwest::Url::parse(given);
    let fine = parsed.as_ref().is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if !fine || given.len() > MAX_TEXT {
        return Err(StripeError::invalid(
            "url",
            "Invalid URL: the URL must be absolute, begin with http:// or https:// (such as https://example.com/webhooks) and name a host.",
        ));
    }
    Ok(Some(given.to_string()))
}

/// Whether `text` has the shape of an event type: dotted lowercase words
/// (`charge.succeeded`, `checkout.session.completed`).
fn is_event_type(text: &str) -> bool {
    let mut words = text.split('.');
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    text.len() <= 100 && text.contains('.') && words.all(word)
}

/// The `enabled_events` given: `*`, or event types.
fn enabled_events(params: &Map<String, Value>) -> Result<Option<Value>, StripeError> {
    let Some(given) = params.get("enabled_events") else {
        return Ok(None);
    };
    let types: Vec<&str> = given
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if types.is_empty() {
        return Err(StripeError::invalid(
            "enabled_events",
            "Invalid enabled_events: list at least one event type, or `*` for all of them.",
        ));
    }
    for (i, event_type) in types.iter().enumerate() {
        if *event_type != "*" && !is_event_type(event_type) {
            return Err(StripeError::invalid(
                &format!("enabled_events[{i}]"),
                format!(
                    "Invalid enabled_events[{i}]: `{}` is not an event type. Give event types such as `charge.succeeded`, or `*` for all of them.",
                    event_type.chars().take(100).collect::<String>()
                ),
            ));
        }
    }
    Ok(Some(json!(types)))
}

pub fn create_endpoint(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::required("url", Kind::String),
        Param::required("enabled_events", Kind::StringList),
        Param::optional("description", Kind::String),
        Param::optional("api_version", Kind::String),
        Param::optional("connect", Kind::FalseOnly),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let url = url(&params)?;
    let enabled_events = enabled_events(&params)?;
    let secret = random_id("whsec_", 32);
    let endpoint = json!({
        "id": random_id("we_", 24),
        "object": WEBHOOK_ENDPOINT,
        "api_version": text(&params, "api_version"),
        "application": null,
        "created": tx.now,
        "description": text(&params, "description"),
        "enabled_events": enabled_events,
        "livemode": false,
        "metadata": objects::metadata(params.get("metadata")),
        "status": "enabled",
        "url": url,
        // Kept apart from what the API shows: Stripe shows the secret only
        // in the answer to the creation.
        "x_secret": secret,
    });
    tx.put(endpoint.clone());
    let mut shown = crate::state::public_view(&endpoint);
    shown["secret"] = json!(secret);
    Ok(shown)
}

pub fn update_endpoint(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("url", Kind::String),
        Param::optional("enabled_events", Kind::StringList),
        Param::optional("description", Kind::String),
        Param::optional("disabled", Kind::Boolean),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find(WEBHOOK_ENDPOINT, id, "id")?;
    let mut after = before.clone();
    if let Some(url) = url(&params)? {
        after["url"] = json!(url);
    }
    if let Some(types) = enabled_events(&params)? {
        after["enabled_events"] = types;
    }
    if let Some(disabled) = params.get("disabled").and_then(Value::as_bool) {
        after["status"] = json!(if disabled { "disabled" } else { "enabled" });
    }
    apply_fields(&mut after, &params, &["description"]);
    tx.update(&before, after.clone(), None);
    Ok(after)
}

pub fn list_endpoints(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(&[LIMIT, STARTING_AFTER, ENDING_BEFORE, EXPAND], raw)?;
    // A list shows each endpoint as the API does, without its secret: the
    // answer's own view hides the sandbox's fields only at its top.
    let endpoints: Vec<Value> = tx
        .state()
        .newest_first(WEBHOOK_ENDPOINT)
        .filter(|e| e.get("deleted").is_none())
        .map(crate::state::public_view)
        .collect();
    list_page(endpoints.iter(), &params, "/v1/webhook_endpoints")
}

/// Deletes an endpoint: it gets nothing more, and deliveries to it stop.
pub fn delete_endpoint(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    tx.find(WEBHOOK_ENDPOINT, id, "id")?;
    tx.put(objects::deleted(id, WEBHOOK_ENDPOINT));
    Ok(objects::deleted(id, WEBHOOK_ENDPOINT))
}

/// Sends an event to one enabled endpoint again, now, once committed; the
/// answer is the event.
pub fn retry_event(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[Param::required("webhook_endpoint", Kind::String), EXPAND];
    let params = check(SPEC, raw)?;
    let event = tx.find("event", id, "id")?;
    let endpoint_id = text(&params, "webhook_endpoint").unwrap_or_default();
    let endpoint = tx.find(WEBHOOK_ENDPOINT, endpoint_id, "webhook_endpoint")?;
    if endpoint["status"] != "enabled" {
        return Err(StripeError::invalid(
            "webhook_endpoint",
            format!("The webhook endpoint {endpoint_id} is disabled: enable it to send it events."),
        ));
    }
    tx.retries.push((id.to_string(), endpoint_id.to_string()));
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_dotted_lowercase_words() {
        for good in [
            "charge.succeeded",
            "checkout.session.completed",
            "test_helpers.test_clock.ready",
            "invoice.payment_failed",
        ] {
            assert!(is_event_type(good), "{good}");
        }
        for bad in [
            "",
            "charge",
            "charge.",
            ".succeeded",
            "Charge.Succeeded",
            "charge..succeeded",
            "charge.*",
            "charge succeeded",
            "çharge.succeeded",
        ] {
            assert!(!is_event_type(bad), "{bad}");
        }
        assert!(!is_event_type(&format!("a.{}", "b".repeat(100))));
    }

    #[test]
    fn an_endpoint_takes_what_it_lists_while_enabled() {
        let endpoint = json!({"status": "enabled", "enabled_events": ["charge.succeeded"]});
        assert!(endpoint_takes(&endpoint, "charge.succeeded"));
        assert!(!endpoint_takes(&endpoint, "charge.failed"));
        let all = json!({"status": "enabled", "enabled_events": ["*"]});
        assert!(endpoint_takes(&all, "charge.failed"));
        let disabled = json!({"status": "disabled", "enabled_events": ["*"]});
        assert!(!endpoint_takes(&disabled, "charge.failed"));
        let deleted = json!({"deleted": true, "status": "enabled", "enabled_events": ["*"]});
        assert!(!endpoint_takes(&deleted, "charge.failed"));
        assert!(!endpoint_takes(
            &json!({"status": "enabled"}),
            "charge.failed"
        ));
    }

    #[test]
    fn urls_are_absolute_http_with_a_host() {
        let url_of = |u: &str| {
            let mut params = Map::new();
            params.insert("url".into(), json!(u));
            url(&params)
        };
        for good in ["https://example.com/webhooks", "http://127.0.0.1:9000/hook"] {
            assert_eq!(url_of(good).unwrap().as_deref(), Some(good));
        }
        for bad in [
            "example.com/webhooks",
            "ftp://example.com/",
            "https://",
            "",
            "not a url",
        ] {
            let error = url_of(bad).unwrap_err();
            assert_eq!(error.param.as_deref(), Some("url"), "{bad}");
        }
    }

    #[test]
    fn enabled_events_name_the_bad_one() {
        let events_of = |v: Value| {
            let mut params = Map::new();
            params.insert("enabled_events".into(), v);
            enabled_events(&params)
        };
        assert_eq!(events_of(json!(["*"])).unwrap(), Some(json!(["*"])));
        let error = events_of(json!(["charge.succeeded", "nope"])).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("enabled_events[1]"));
        let error = events_of(json!([])).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("enabled_events"));
    }
}
