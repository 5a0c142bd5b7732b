//! paywire's admin API under `/_paywire/api`: runs, and the retry of a
//! failed run. It is what `paywire runs retry` calls, and what the console
//! will read.
//!
//! Access: with `PAYWIRE_ADMIN_TOKEN` set, every request must carry it as a
//! bearer token. Without one, the admin API is open only when paywire runs on
//! its sandbox and listens on loopback (a builder's own machine), and off
//! otherwise.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{App, ReplayError, RetryError};
use crate::store::{EventFilter, EventState, RunFilter, RunStatus};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_paywire/api/runs", get(list_runs))
        .route("/_paywire/api/runs/{id}", get(show_run))
        .route("/_paywire/api/runs/{id}/retry", post(retry_run))
        .route("/_paywire/api/events", get(list_events))
        .route("/_paywire/api/events/{id}", get(show_event))
        .route("/_paywire/api/events/{id}/replay", post(replay_event))
}

/// The admin API's errors, each with its status and a message that names
/// the problem without revealing anything secret.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the admin API is off: set PAYWIRE_ADMIN_TOKEN to use it")]
    Off,
    #[error("the admin API needs the admin token as `Authorization: Bearer …`")]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("an internal error happened; the details are in the server's log")]
    Internal,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, kind) = match self {
            AdminError::Off => (StatusCode::FORBIDDEN, "admin_off"),
            AdminError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            AdminError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            AdminError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AdminError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            AdminError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut response = (
            status,
            axum::Json(json!({"error": {"type": kind, "message": self.to_string()}})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<crate::store::StoreError> for AdminError {
    fn from(e: crate::store::StoreError) -> AdminError {
        tracing::error!(error = %e, "the admin API could not read the store");
        AdminError::Internal
    }
}

/// Lets the request through if the admin API is open to it: the bearer
/// token, or the console's sign-in cookie (see `console.rs`), or no token
/// at all on the loopback sandbox.
fn authorize(app: &App, headers: &HeaderMap) -> Result<(), AdminError> {
    match super::console::access(app, headers) {
        super::console::Access::Open => Ok(()),
        super::console::Access::SignIn => Err(AdminError::Unauthorized),
        super::console::Access::Off => Err(AdminError::Off),
    }
}

/// Compares without stopping at the first difference, so that the time
/// taken says nothing about how much of a guess was right.
pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A query's filter value read with `parse`, or a 400 naming the choices.
fn filter<T>(
    name: &str,
    given: Option<&str>,
    parse: fn(&str) -> Option<T>,
    choices: &str,
) -> Result<Option<T>, AdminError> {
    given
        .map(|text| {
            parse(text).ok_or_else(|| {
                AdminError::BadRequest(format!("`{name}` is one of {choices}, not `{text}`"))
            })
        })
        .transpose()
}

#[derive(Deserialize)]
struct RunsQuery {
    name: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
}

async fn list_runs(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<RunsQuery>,
) -> Result<Response, AdminError> {
    authorize(&app, &headers)?;
    let status = filter(
        "status",
        query.status.as_deref(),
        RunStatus::parse,
        "running, succeeded, failed",
    )?;
    let runs = app
        .store()
        .list_runs(RunFilter {
            name: query.name,
            status,
            limit: query.limit.unwrap_or(50),
        })
        .await?;
    Ok(axum::Json(json!({ "runs": runs })).into_response())
}

async fn show_run(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    authorize(&app, &headers)?;
    app.store().flush().await?;
    match app.store().get_run(id.clone()).await? {
        Some(detail) => Ok(axum::Json(detail).into_response()),
        None => Err(AdminError::NotFound(format!("there is no run `{id}`"))),
    }
}

async fn retry_run(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    authorize(&app, &headers)?;
    app.store().flush().await?;
    let outcome = app.retry_run(&id).await.map_err(|e| match e {
        RetryError::NotFound(_) | RetryError::Gone { .. } => AdminError::NotFound(e.to_string()),
        RetryError::NotFailed { .. } => AdminError::Conflict(e.to_string()),
        RetryError::Store(e) => AdminError::from(e),
    })?;
    let error: Value = match &outcome.error {
        Some(e) if e.public => {
            json!({ "name": e.name, "message": e.message, "step": e.step_name() })
        }
        Some(e) => {
            json!({ "name": e.name, "message": "an internal error happened", "step": e.step_name() })
        }
        None => Value::Null,
    };
    Ok(axum::Json(json!({
        "run_id": outcome.run_id,
        "retry_of": id,
        "status": outcome.status.as_str(),
        "error": error,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct EventsQuery {
    state: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    limit: Option<u32>,
}

async fn list_events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Response, AdminError> {
    authorize(&app, &headers)?;
    let state = filter(
        "state",
        query.state.as_deref(),
        EventState::parse,
        "pending, running, done, failed, ignored",
    )?;
    let events = app
        .store()
        .list_events(EventFilter {
            state,
            event_type: query.event_type,
            limit: query.limit.unwrap_or(50),
        })
        .await?;
    Ok(axum::Json(json!({ "events": events })).into_response())
}

async fn show_event(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    authorize(&app, &headers)?;
    app.store().flush().await?;
    let Some(event) = app.store().get_event(id.clone()).await? else {
        return Err(AdminError::NotFound(format!("there is no event `{id}`")));
    };
    let runs = app.store().event_runs(id).await?;
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    Ok(axum::Json(json!({ "event": event, "payload": payload, "runs": runs })).into_response())
}

async fn replay_event(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    authorize(&app, &headers)?;
    let event = app.replay_event(&id).await.map_err(|e| match e {
        ReplayError::NotFound(_) => AdminError::NotFound(e.to_string()),
        ReplayError::NotFailed { .. } => AdminError::Conflict(e.to_string()),
        ReplayError::Store(e) => AdminError::from(e),
    })?;
    Ok(axum::Json(json!({ "event": event })).into_response())
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
