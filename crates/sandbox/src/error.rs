//! Stripe's error envelope: `{"error": {"type", "code", "message", "param"}}`
//! with Stripe's HTTP statuses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

#[derive(Clone, Debug, PartialEq)]
pub struct StripeError {
    pub status: u16,
    /// `invalid_request_error`, `card_error`, `idempotency_error`, `api_error`.
    pub kind: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    pub decline_code: Option<String>,
    /// Further fields of the error object, e.g. the failed `payment_intent`.
    pub extra: Map<String, Value>,
}

impl StripeError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> StripeError {
        StripeError {
            status,
            kind,
            code: None,
            message: message.into(),
            param: None,
            decline_code: None,
            extra: Map::new(),
        }
    }

    /// A 400 about one parameter.
    pub fn invalid(param: &str, message: impl Into<String>) -> StripeError {
        StripeError {
            param: Some(param.to_string()),
            ..StripeError::new(400, "invalid_request_error", message)
        }
    }

    /// A 400 that is not about one parameter.
    pub fn request(message: impl Into<String>) -> StripeError {
        StripeError::new(400, "invalid_request_error", message)
    }

    pub fn with_code(mut self, code: &str) -> StripeError {
        self.code = Some(code.to_string());
        self
    }

    /// Stripe's 404 for an id that does not exist.
    pub fn no_such(what: &str, id: &str, param: &str) -> StripeError {
        StripeError {
            param: Some(param.to_string()),
            ..StripeError::new(
                404,
                "invalid_request_error",
                format!("No such {what}: '{id}'"),
            )
        }
        .with_code("resource_missing")
    }

    pub fn missing(param: &str) -> StripeError {
        StripeError::invalid(param, format!("Missing required param: {param}."))
            .with_code("parameter_missing")
    }

    pub fn unauthorized(message: impl Into<String>) -> StripeError {
        StripeError::new(401, "invalid_request_error", message)
    }

    pub fn to_json(&self) -> Value {
        let mut error = Map::new();
        if let Some(code) = &self.code {
            error.insert("code".into(), json!(code));
            error.insert(
                "doc_url".into(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(decline) = &self.decline_code {
            error.insert("decline_code".into(), json!(decline));
        }
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.insert("type".into(), json!(self.kind));
        for (k, v) in &self.extra {
            error.insert(k.clone(), v.clone());
        }
        json!({ "error": error })
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.to_json())).into_response()
    }
}
