//! The Stripe webhook endpoint (`POST /webhooks/stripe` by default): it
//! proves an event comes from Stripe, stores it durably, and only then
//! answers 2xx; the workflows run afterwards, in the inbox's worker.
//!
//! The signature is checked over the raw body before anything is parsed. A
//! refused delivery gets 400 with a short reason and leaves nothing behind.
//! Events are read as plain JSON, not as the typed structs of one API
//! version, since accounts send events of many versions.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use paywire_engine::inbox;
use paywire_store::{EventState, NewEvent};
use paywire_stripe::signature;
use paywire_support::body::{BodyError, read_body};

/// Why a delivery was refused; each answers with its status and a reason
/// that is safe to send back.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Signature(#[from] signature::SignatureError),
    #[error("the body is not a Stripe event: {0}")]
    Malformed(String),
    #[error("{0}")]
    Body(#[from] BodyError),
    #[error(
        "this endpoint has no signing secret (set STRIPE_WEBHOOK_SECRET), so it can verify no event"
    )]
    NotConfigured,
    #[error("the event could not be stored; Stripe will send it again")]
    Store,
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebhookError::Signature(_) | WebhookError::Malformed(_) => StatusCode::BAD_REQUEST,
            WebhookError::Body(e) => e.status(),
            // Stripe retries deliveries that are not answered 2xx: the event
            // is not lost while the endpoint is misconfigured or the disk fails.
            WebhookError::NotConfigured | WebhookError::Store => StatusCode::SERVICE_UNAVAILABLE,
        };
        super::error_response(status, json!({"message": self.to_string()}))
    }
}

pub async fn receive(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, WebhookError> {
    let settings = &app.settings().webhook;
    let limit = app.settings().max_body_bytes;
    let body: Bytes = read_body(body, limit).await?;
    if settings.secrets.is_empty() {
        return Err(WebhookError::NotConfigured);
    }
    let secrets: Vec<&str> = settings.secrets.iter().map(|s| s.expose()).collect();
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    signature::verify(
        &body,
        header,
        &secrets,
        settings.tolerance_seconds,
        chrono::Utc::now().timestamp(),
    )?;
    // An event the inbox could never run must not be acknowledged: Stripe,
    // having had its 2xx, would never send it again.
    if paywire_expr::json_too_deep(&body) {
        return Err(WebhookError::Malformed(format!(
            "the event nests deeper than {} levels, which no workflow can read",
            paywire_expr::MAX_JSON_DEPTH
        )));
    }
    let mut event = parse_event(&body)?;
    let id = event.id.clone();
    let deployment = app.current();
    if inbox::listeners(&deployment.project, &event.event_type, &event.object_type)
        .next()
        .is_none()
    {
        event.state = EventState::Ignored;
    }
    let pending = event.state == EventState::Pending;
    let new = app.store().event_received(event).await.map_err(|e| {
        tracing::error!(error = %e, "a webhook event could not be stored");
        WebhookError::Store
    })?;
    if new && pending {
        app.engine().inbox().wake();
    }
    Ok((
        StatusCode::OK,
        axum::Json(json!({"received": true, "id": id, "duplicate": !new})),
    )
        .into_response())
}

/// The fields of an event envelope paywire reads on receipt; serde skips
/// the rest (the object's own fields) without building them.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    event_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    object: Option<Cow<'a, str>>,
    created: Option<i64>,
    livemode: Option<bool>,
    data: Option<EnvelopeData<'a>>,
}

#[derive(Deserialize)]
struct EnvelopeData<'a> {
    #[serde(borrow)]
    object: Option<ObjectHead<'a>>,
}

#[derive(Deserialize)]
struct ObjectHead<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    object: Option<Cow<'a, str>>,
}

/// Reads what paywire needs of an event; the payload is kept as it came.
pub fn parse_event(body: &[u8]) -> Result<NewEvent, WebhookError> {
    let text =
        std::str::from_utf8(body).map_err(|_| WebhookError::Malformed("not UTF-8 text".into()))?;
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
        let why = if e.is_data() {
            format!("not a Stripe event ({e})")
        } else {
            format!("not JSON ({e})")
        };
        WebhookError::Malformed(why)
    })?;
    fn present(field: Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
        field.filter(|s| !s.is_empty())
    }
    let id = present(envelope.id).ok_or_else(|| WebhookError::Malformed("no `id`".into()))?;
    let event_type =
        present(envelope.event_type).ok_or_else(|| WebhookError::Malformed("no `type`".into()))?;
    if envelope.object.as_deref() != Some("event") {
        return Err(WebhookError::Malformed("`object` is not `event`".into()));
    }
    let object = envelope
        .data
        .and_then(|d| d.object)
        .ok_or_else(|| WebhookError::Malformed("no `data.object`".into()))?;
    Ok(NewEvent {
        id: id.into_owned(),
        event_type: event_type.into_owned(),
        object_type: object.object.map(Cow::into_owned).unwrap_or_default(),
        object_id: object.id.map(Cow::into_owned),
        created: envelope.created.unwrap_or(0),
        livemode: envelope.livemode.unwrap_or(false),
        payload: text.to_string(),
        received_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        state: EventState::Pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_need_an_id_a_type_and_an_object() {
        let ok = parse_event(
            br#"{"id":"evt_1","object":"event","type":"invoice.paid","created":5,"data":{"object":{"id":"in_1","object":"invoice"}}}"#,
        )
        .unwrap();
        assert_eq!(
            (ok.object_type.as_str(), ok.object_id.as_deref(), ok.created),
            ("invoice", Some("in_1"), 5)
        );
        for (body, why) in [
            (&b"not json"[..], "not JSON"),
            (br#"[]"#, "not a Stripe event"),
            (br#"{"id": 5, "type": "x.y"}"#, "not a Stripe event"),
            (br#"{"type": "x.y", "object": "event"}"#, "no `id`"),
            (
                br#"{"id": "", "type": "x.y", "object": "event"}"#,
                "no `id`",
            ),
            (br#"{"id":"evt_1","object":"event"}"#, "no `type`"),
            (
                br#"{"id":"evt_1","type":"x.y","object":"charge"}"#,
                "`object` is not `event`",
            ),
            (
                br#"{"id":"evt_1","type":"x.y","object":"event","data":{}}"#,
                "no `data.object`",
            ),
        ] {
            let e = parse_event(body).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }
}
