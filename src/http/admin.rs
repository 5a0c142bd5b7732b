//! paywire's admin API under `/_paywire/api`: runs (filtered by name,
//! status and start time), the retry of a failed run, the webhook inbox
//! (with the runs of each event when asked), the replay of a failed
//! event, and the instances that share the database. It is what `paywire runs retry` and `paywire replay` call, and what
//! the console reads.
//!
//! Who may call it is decided by `auth` (every handler takes its `Admin`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminError;
use super::auth::Admin;
use paywire_engine::{ReplayError, RetryError};

use crate::app::App;
use crate::console::diagram::split_key;
use paywire_store::{EventFilter, EventState, RunFilter, RunRecord, RunStatus};

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/_paywire/api/runs", get(list_runs))
        .route("/_paywire/api/runs/{id}", get(show_run))
        .route("/_paywire/api/runs/{id}/retry", post(retry_run))
        .route("/_paywire/api/events", get(list_events))
        .route("/_paywire/api/events/{id}", get(show_event))
        .route("/_paywire/api/events/{id}/replay", post(replay_event))
        .route("/_paywire/api/instances", get(list_instances))
}

/// The instances sharing the database, as of their last heartbeats, and
/// which of them answers this request.
async fn list_instances(State(app): State<Arc<App>>, _: Admin) -> Result<Response, AdminError> {
    let instances = app.store().list_instances().await?;
    Ok(axum::Json(json!({
        "instances": instances,
        "this": app.engine().instance().id.as_ref(),
    }))
    .into_response())
}

/// A query's filter value read with `parse`, or a 400 that names the
/// parameter, what it takes (`expected`) and what it was given.
fn filter<T>(
    name: &str,
    given: Option<&str>,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, AdminError> {
    given
        .map(|text| {
            parse(text).ok_or_else(|| {
                AdminError::BadRequest(format!("`{name}` is {expected}, not `{text}`"))
            })
        })
        .transpose()
}

/// What `since` takes, as its 400 says it.
const SINCE_EXPECTED: &str =
    "a time in RFC 3339 (2026-01-31T09:30:00Z) or an age such as 30s, 15m, 1h, 24h or 7d";

/// A `since` bound: an RFC 3339 time, or an age before `now` written as a
/// whole number and a unit (`s`, `m`, `h`, `d`, `w`). None when it is
/// neither, or when the age reaches back before the dates that can be
/// written.
fn parse_since(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    let digits = text.len().checked_sub(1)?;
    let (number, unit) = text.split_at_checked(digits)?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = number.parse().ok()?;
    let age = match unit {
        "s" => TimeDelta::try_seconds(n),
        "m" => TimeDelta::try_minutes(n),
        "h" => TimeDelta::try_hours(n),
        "d" => TimeDelta::try_days(n),
        "w" => TimeDelta::try_weeks(n),
        _ => None,
    }?;
    now.checked_sub_signed(age)
}

#[derive(Deserialize)]
struct RunsQuery {
    name: Option<String>,
    status: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
}

async fn list_runs(
    State(app): State<Arc<App>>,
    _: Admin,
    Query(query): Query<RunsQuery>,
) -> Result<Response, AdminError> {
    // `retrying` is a failed run whose event will be tried again; `failed`
    // takes those too.
    let (status, retrying) = match query.status.as_deref() {
        Some("retrying") => (Some(RunStatus::Failed), Some(true)),
        other => (
            filter(
                "status",
                other,
                RunStatus::parse,
                "one of running, succeeded, failed, retrying",
            )?,
            None,
        ),
    };
    let since = filter(
        "since",
        query.since.as_deref(),
        |text| parse_since(text, Utc::now()),
        SINCE_EXPECTED,
    )?;
    let runs = app
        .store()
        .list_runs(RunFilter {
            name: query.name,
            status,
            retrying,
            since,
            limit: query.limit.unwrap_or(50),
        })
        .await?;
    Ok(axum::Json(json!({ "runs": runs })).into_response())
}

async fn show_run(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    app.store().flush().await?;
    let Some(detail) = app.store().get_run(id.clone()).await? else {
        return Err(AdminError::NotFound(format!("there is no run `{id}`")));
    };
    // Each step also says which diagram node it is and in which iteration
    // of each loop around it, so that readers need not parse keys.
    let steps: Vec<Value> = detail
        .steps
        .iter()
        .map(|step| {
            let (node, iterations) = split_key(&step.key);
            let mut value = serde_json::to_value(step).unwrap_or(Value::Null);
            if let Value::Object(fields) = &mut value {
                fields.insert("node".into(), json!(node));
                fields.insert("iterations".into(), json!(iterations));
            }
            value
        })
        .collect();
    Ok(axum::Json(json!({ "run": detail.run, "steps": steps })).into_response())
}

async fn retry_run(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    app.store().flush().await?;
    let outcome = app.engine().retry_run(&id).await.map_err(|e| match e {
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
    /// `runs`: each event comes with the runs it caused.
    include: Option<String>,
}

async fn list_events(
    State(app): State<Arc<App>>,
    _: Admin,
    Query(query): Query<EventsQuery>,
) -> Result<Response, AdminError> {
    let state = filter(
        "state",
        query.state.as_deref(),
        EventState::parse,
        "one of pending, running, done, failed, ignored",
    )?;
    let with_runs = filter(
        "include",
        query.include.as_deref(),
        |text| (text == "runs").then_some(()),
        "`runs`",
    )?
    .is_some();
    let events = app
        .store()
        .list_events(EventFilter {
            state,
            event_type: query.event_type,
            limit: query.limit.unwrap_or(50),
        })
        .await?;
    if !with_runs {
        return Ok(axum::Json(json!({ "events": events })).into_response());
    }
    // One read for the runs of every event listed, however many there are.
    app.store().flush().await?;
    let ids = events.iter().map(|e| e.id.clone()).collect();
    let mut runs: HashMap<String, Vec<RunRecord>> = HashMap::new();
    for run in app.store().runs_of_events(ids).await? {
        if let Some(event) = run.trigger_event.clone() {
            runs.entry(event).or_default().push(run);
        }
    }
    let events: Vec<Value> = events
        .iter()
        .map(|event| {
            let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
            if let Value::Object(fields) = &mut value {
                let of_event = runs.remove(&event.id).unwrap_or_default();
                fields.insert("runs".into(), json!(of_event));
            }
            value
        })
        .collect();
    Ok(axum::Json(json!({ "events": events })).into_response())
}

async fn show_event(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    app.store().flush().await?;
    let Some(event) = app.store().get_event(id.clone()).await? else {
        return Err(AdminError::NotFound(format!("there is no event `{id}`")));
    };
    let runs = app.store().runs_of_events(vec![id]).await?;
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    Ok(axum::Json(json!({ "event": event, "payload": payload, "runs": runs })).into_response())
}

async fn replay_event(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let event = app.engine().replay_event(&id).await.map_err(|e| match e {
        ReplayError::NotFound(_) => AdminError::NotFound(e.to_string()),
        ReplayError::NotFailed { .. } => AdminError::Conflict(e.to_string()),
        ReplayError::Store(e) => AdminError::from(e),
    })?;
    Ok(axum::Json(json!({ "event": event })).into_response())
}

#[cfg(test)]
mod tests {
    use super::parse_since;
    use chrono::{DateTime, Utc};

    #[test]
    fn since_takes_times_and_ages() {
        let now: DateTime<Utc> = "2026-11-23T14:00:00Z".parse().unwrap();
        let at = |text: &str| parse_since(text, now).map(|t| t.to_rfc3339());
        assert_eq!(at("15m").as_deref(), Some("2026-11-23T13:45:00+00:00"));
        assert_eq!(at("1h").as_deref(), Some("2026-11-23T13:00:00+00:00"));
        assert_eq!(at("24h").as_deref(), Some("2026-11-22T14:00:00+00:00"));
        assert_eq!(at("7d").as_deref(), Some("2026-11-16T14:00:00+00:00"));
        assert_eq!(at("2w").as_deref(), Some("2026-11-09T14:00:00+00:00"));
        assert_eq!(at("30s").as_deref(), Some("2026-11-23T13:59:30+00:00"));
        assert_eq!(
            at("2026-11-23T15:30:00+02:00").as_deref(),
            Some("2026-11-23T13:30:00+00:00")
        );
        for bad in [
            "",
            "m",
            "15",
            "15x",
            "-5m",
            "+5m",
            "1.5h",
            "yesterday",
            "2026-11-23",
            "99999999999999999999d",
            "9223372036854775807d",
            "15é",
            "é",
        ] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }
}
