//! The errors an HTTP caller of an API can get, and their JSON bodies.
//!
//! Every body has the same shape: `{"error": {"type", "message", ...}}`. A
//! caller's mistake names the problem; an internal failure says only that it
//! happened and gives the run id to look it up with.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use paywire_engine::runner::WorkflowError;
use paywire_model::{FieldError, HttpMethod};
use paywire_support::body::BodyError;

#[derive(Debug)]
pub enum ApiError {
    NotFound {
        method: String,
        path: String,
    },
    MethodNotAllowed {
        allowed: Vec<HttpMethod>,
    },
    UnsupportedMethod(String),
    MalformedJson(String),
    BodyNotAnObject,
    /// The body could not be read: too large, too slow, or malformed.
    Body(BodyError),
    UnsupportedMediaType(String),
    InvalidParams(Vec<FieldError>),
    Workflow {
        run_id: String,
        error: WorkflowError,
    },
    Internal {
        run_id: Option<String>,
    },
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } | ApiError::UnsupportedMethod(_) => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            ApiError::MalformedJson(_) | ApiError::BodyNotAnObject | ApiError::InvalidParams(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Body(e) => e.status(),
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Workflow { error, .. } => StatusCode::from_u16(error.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Value {
        match self {
            ApiError::NotFound { method, path } => json!({
                "type": "not_found",
                "message": format!("no API answers {method} {path}"),
            }),
            ApiError::MethodNotAllowed { allowed } => json!({
                "type": "method_not_allowed",
                "message": format!("this path answers {}", allowed_list(allowed)),
            }),
            ApiError::UnsupportedMethod(method) => json!({
                "type": "method_not_allowed",
                "message": format!("APIs answer GET, POST, PUT, PATCH and DELETE, not {method}"),
            }),
            ApiError::MalformedJson(detail) => json!({
                "type": "invalid_request",
                "message": format!("the body is not valid JSON: {detail}"),
                "fields": [{"field": "body", "problem": "malformed JSON"}],
            }),
            ApiError::BodyNotAnObject => json!({
                "type": "invalid_request",
                "message": "the body must be a JSON object whose fields are the parameters",
                "fields": [{"field": "body", "problem": "not a JSON object"}],
            }),
            ApiError::Body(e) => json!({
                "type": "invalid_request",
                "message": e.to_string(),
                "fields": [{"field": "body", "problem": e.problem()}],
            }),
            ApiError::UnsupportedMediaType(kind) => json!({
                "type": "invalid_request",
                "message": format!("send the body as application/json (or a form), not {kind}"),
            }),
            ApiError::InvalidParams(fields) => {
                let summary: Vec<String> = fields
                    .iter()
                    .map(|f| format!("`{}` {}", f.field, f.problem))
                    .collect();
                json!({
                    "type": "invalid_request",
                    "message": format!("invalid parameters: {}", summary.join("; ")),
                    "fields": fields,
                })
            }
            ApiError::Workflow { run_id, error } => json!({
                "type": "workflow_error",
                "name": error.name,
                "message": if error.public { error.message.as_str() } else { "an internal error happened; the run's record has the details" },
                "step": error.step_name(),
                "run_id": run_id,
            }),
            ApiError::Internal { run_id } => json!({
                "type": "internal_error",
                "message": "an internal error happened",
                "run_id": run_id,
            }),
        }
    }
}

fn allowed_list(allowed: &[HttpMethod]) -> String {
    allowed
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status(), axum::Json(json!({ "error": self.body() }))).into_response();
        if let ApiError::MethodNotAllowed { allowed } = &self
            && let Ok(value) = HeaderValue::from_str(&allowed_list(allowed))
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

/// The body every error of paywire's own endpoints has,
/// `{"error": {"type": KIND, "message": MESSAGE}}`, with its status.
pub fn error_body(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": kind, "message": message}})),
    )
        .into_response()
}
