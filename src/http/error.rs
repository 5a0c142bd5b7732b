//! The errors an HTTP caller can get, and their JSON bodies: [`ApiError`]
//! from the builder's APIs, [`AdminError`] from paywire's own endpoints (the
//! admin API, the console and the check in front of them).
//!
//! Every error of the server answers `{"error": {...}}` ([`error_response`];
//! the webhook endpoint's too), and these two put a `type` and a `message`
//! in it, and more where the error has more. A caller's mistake names the
//! problem; an internal failure says only that it happened (with the run id
//! to look it up with, where there is a run).

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
        let mut response = error_response(self.status(), self.body());
        if let ApiError::MethodNotAllowed { allowed } = &self
            && let Ok(value) = HeaderValue::from_str(&allowed_list(allowed))
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}

/// Why paywire's own endpoints refused a request: the admin API's and the
/// console's answers, and the refusals of the check that every one of their
/// handlers goes through (`auth`). Each message names the problem without
/// revealing anything secret.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "the admin API and the console are off: set PAYWIRE_ADMIN_TOKEN to use them, or serve the sandbox on loopback"
    )]
    Off,
    #[error(
        "this needs the admin token, as `Authorization: Bearer …` or by signing in at /console"
    )]
    Unauthorized,
    #[error(
        "without an admin token, the admin API and the console answer only requests to a loopback host (localhost, 127.0.0.1, [::1]), not to `{0}`"
    )]
    ForeignHost(String),
    #[error(
        "a request that changes something must come from this server's own pages, not from {0}"
    )]
    CrossOrigin(String),
    #[error("too many sign-in attempts; try again in {0} s")]
    TooManyAttempts(u64),
    #[error("an internal error happened; the details are in the server's log")]
    Internal,
}

impl AdminError {
    fn status_and_kind(&self) -> (StatusCode, &'static str) {
        match self {
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AdminError::Off => (StatusCode::FORBIDDEN, "admin_off"),
            AdminError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AdminError::ForeignHost(_) => (StatusCode::FORBIDDEN, "foreign_host"),
            AdminError::CrossOrigin(_) => (StatusCode::FORBIDDEN, "cross_origin"),
            AdminError::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            AdminError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, kind) = self.status_and_kind();
        let mut response =
            error_response(status, json!({"type": kind, "message": self.to_string()}));
        let headers = response.headers_mut();
        match self {
            AdminError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AdminError::TooManyAttempts(seconds) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            _ => {}
        }
        response
    }
}

/// A store's refusal that the caller caused (a value a table cannot take)
/// is theirs to read; any other failure is logged and answered without
/// detail.
impl From<paywire_store::StoreError> for AdminError {
    fn from(e: paywire_store::StoreError) -> AdminError {
        if e.is_public() {
            return AdminError::BadRequest(e.to_string());
        }
        tracing::error!(error = %e, "paywire's own endpoints could not use the store");
        AdminError::Internal
    }
}

/// The answer of every error: `{"error": ERROR}` with its status.
pub(super) fn error_response(status: StatusCode, error: Value) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}
