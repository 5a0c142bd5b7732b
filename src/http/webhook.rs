//! The Stripe webhook endpoint (`POST /webhooks/stripe` by default): it
//! proves an event comes from Stripe, stores it durably, and only then
//! answers 2xx; the workflows run afterwards, in the inbox's worker.
//!
//! The signature is checked over the raw body before anything is parsed. A
//! refused delivery gets 400 with a short reason and leaves nothing behind.
//! Events are read as plain JSON, not as the typed structs of one API
//! version, since accounts send events of many versions.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::App;
use crate::store::NewEvent;
use crate::stripe::signature;

/// Why a delivery was refused; each answers with its status and a reason
/// that is safe to send back.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Signature(#[from] signature::SignatureError),
    #[error("the body is not a Stripe event: {0}")]
    Malformed(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error(
        "this endpoint has no signing secret (set STRIPE_WEBHOOK_SECRET), so it can verify no event"
    )]
    NotConfigured,
    #[error("the event could not be stored; Stripe will send it again")]
    Store,
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match self {
            WebhookError::Signature(_) | WebhookError::Malformed(_) => StatusCode::BAD_REQUEST,
            WebhookError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // Stripe retries deliveries that are not answered 2xx: the event
            // is not lost while the endpoint is misconfigured or the disk fails.
            WebhookError::NotConfigured | WebhookError::Store => StatusCode::SERVICE_UNAVAILABLE,
        };
        (
            status,
            axum::Json(json!({"error": {"message": self.to_string()}})),
        )
            .into_response()
    }
}

pub async fn receive(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, WebhookError> {
    let settings = &app.settings().webhook;
    let limit = app.settings().max_body_bytes;
    let body: Bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| WebhookError::TooLarge(limit))?;
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
    let event = parse_event(&body)?;
    let id = event.id.clone();
    let new = app.store().event_received(event).await.map_err(|e| {
        tracing::error!(error = %e, "a webhook event could not be stored");
        WebhookError::Store
    })?;
    if new {
        app.inbox().wake();
    }
    Ok((
        StatusCode::OK,
        axum::Json(json!({"received": true, "id": id, "duplicate": !new})),
    )
        .into_response())
}

/// Reads what paywire needs of an event; the payload is kept as it came.
pub fn parse_event(body: &[u8]) -> Result<NewEvent, WebhookError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not JSON ({e})")))?;
    let text = |field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let id = text("id").ok_or_else(|| WebhookError::Malformed("no `id`".into()))?;
    let event_type = text("type").ok_or_else(|| WebhookError::Malformed("no `type`".into()))?;
    if value.get("object").and_then(Value::as_str) != Some("event") {
        return Err(WebhookError::Malformed("`object` is not `event`".into()));
    }
    let object = value
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or_else(|| WebhookError::Malformed("no `data.object`".into()))?;
    Ok(NewEvent {
        id: id.to_string(),
        event_type: event_type.to_string(),
        object_type: object
            .get("object")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        object_id: object.get("id").and_then(Value::as_str).map(str::to_string),
        created: value.get("created").and_then(Value::as_i64).unwrap_or(0),
        livemode: value
            .get("livemode")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        payload: String::from_utf8_lossy(body).into_owned(),
        received_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
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
            (br#"[]"#, "no `id`"),
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
