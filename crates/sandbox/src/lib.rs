//! The offline Stripe sandbox: a Stripe-compatible API served by paywire
//! itself under `/_stripe`, so that flows and tests run with no account and
//! no network.
//!
//! It speaks Stripe's wire format (form-encoded bodies with bracket nesting,
//! bearer keys, JSON objects with Stripe's fields and id prefixes, list
//! envelopes, `expand[]`, `Idempotency-Key`, Stripe's error envelope), keeps
//! its objects in the store, serves a hosted checkout page, and sends signed
//! webhook events. See the README for what it covers.

// Stripe objects are written as large `json!` literals.
#![recursion_limit = "256"]
// A Stripe error carries every field of Stripe's error object; it travels
// only on the failure path of a request, so its size costs nothing that
// boxing would win back.
#![allow(clippy::result_large_err)]

mod cards;
mod delivery;
mod error;
mod form;
mod objects;
mod page;
mod resources;
mod state;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use delivery::Attempts;
pub use delivery::DELIVERY_RETRY;
pub use error::StripeError;
use paywire_store::{SandboxChanges, SandboxClaim, SandboxIdempotency, Store, StoreError};
use paywire_support::Secret;
use paywire_support::backoff::Backoff;
use resources::Verb;
pub use resources::{AfterRetries, Dunning};
use state::{State as SandboxState, Tx};

/// The Stripe API version the sandbox speaks: the one async-stripe pins.
pub const API_VERSION: &str = "2026-09-30.endive";

/// The largest request body the sandbox reads.
const MAX_BODY: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Where the sandbox is reached, e.g. `http://127.0.0.1:8080/_stripe`;
    /// hosted pages link from it.
    pub base_url: String,
    /// Where events are delivered besides the endpoints created through
    /// `/v1/webhook_endpoints`; none means they go to those alone.
    pub webhook_url: Option<String>,
    /// The secret events to `webhook_url` are signed with (`whsec_…`); each
    /// created endpoint has its own.
    pub webhook_secret: String,
    pub retry: Backoff,
    /// How failed invoice payments are retried, and what then.
    pub dunning: Dunning,
}

pub struct Sandbox {
    config: SandboxConfig,
    state: Mutex<SandboxState>,
    store: Arc<dyn Store>,
    deliveries: delivery::Deliverer,
    /// Wakes the clock worker when a test clock starts advancing.
    clock_worker: Arc<tokio::sync::Notify>,
    /// This sandbox's ownership of the state in the store, given up when it
    /// is dropped.
    _claim: SandboxClaim,
}

impl Sandbox {
    /// Claims the sandbox's state in the store (a database has one sandbox,
    /// which keeps the state in memory and writes it through: see
    /// `Store::sandbox_claim`), loads its objects and resumes the delivery
    /// of events that were not delivered before a restart. Another sandbox
    /// on the same database is [`StoreError::SandboxHeld`], naming it.
    pub async fn start(
        config: SandboxConfig,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Sandbox>, StoreError> {
        let claim = store.sandbox_claim(owner(&config)).await?;
        let snapshot = store.sandbox_load().await?;
        let state = SandboxState::from_snapshot(snapshot);
        // An event is owed to an endpoint when it was recorded as pending
        // (with the change that caused it) and the retries have not given up;
        // events made while an endpoint did not take them are never sent to
        // it.
        let undelivered: Vec<(String, String, u32)> = state
            .all_deliveries()
            .filter(|d| !d.delivered && d.attempts < config.retry.attempts)
            .map(|d| (d.event_id.clone(), d.endpoint.clone(), d.attempts))
            .collect();
        let deliveries = delivery::Deliverer::new(config.retry);
        let sandbox = Arc::new(Sandbox {
            config,
            state: Mutex::new(state),
            store,
            deliveries,
            clock_worker: Arc::new(tokio::sync::Notify::new()),
            _claim: claim,
        });
        sandbox.spawn_clock_worker();
        for (event, endpoint, attempts) in undelivered {
            sandbox.deliver(event, endpoint, Attempts::After(attempts));
        }
        Ok(sandbox)
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Runs `work` in a transaction, commits what it changed (with the
    /// idempotency record, if any), then sends the events it emitted. When
    /// `keeps_changes` says no (a refused request), the changes are undone;
    /// Stripe keeps them only for card declines, whose failed payment and
    /// events are real.
    async fn transact<T>(
        self: &Arc<Self>,
        request_id: Option<&str>,
        idempotency: Option<&str>,
        work: impl FnOnce(&mut Tx<'_>) -> T,
        keeps_changes: impl FnOnce(&T) -> bool,
        record: impl FnOnce(&T) -> Option<SandboxIdempotency>,
    ) -> Result<T, StoreError> {
        let now = chrono::Utc::now().timestamp();
        let (result, sends, commit) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let mut tx = Tx::new(
                &mut state,
                now,
                request_id,
                idempotency,
                self.config.webhook_url.is_some(),
                self.config.base_url.clone(),
            );
            tx.dunning = self.config.dunning.clone();
            let result = work(&mut tx);
            if !keeps_changes(&result) {
                tx.roll_back();
            }
            // The deliveries owed for the events, recorded with them, and
            // where earlier deliveries stand.
            let deliveries = std::mem::take(&mut tx.deliveries);
            let retries = std::mem::take(&mut tx.retries);
            let changes = SandboxChanges {
                objects: tx.changes(),
                idempotency: record(&result),
                deliveries,
            };
            let mut sends: Vec<(String, String, Attempts)> = changes
                .deliveries
                .iter()
                .filter(|d| d.attempts == 0 && !d.delivered)
                .map(|d| (d.event_id.clone(), d.endpoint.clone(), Attempts::After(0)))
                .collect();
            for delivery in &changes.deliveries {
                state.record_delivery(delivery.clone());
            }
            for (event, endpoint) in retries {
                let made = state
                    .deliveries_of(&event)
                    .iter()
                    .find(|d| d.endpoint == endpoint)
                    .map_or(0, |d| d.attempts);
                sends.push((event, endpoint, Attempts::OnceMore(made)));
            }
            if let Some(record) = &changes.idempotency {
                state.idempotency.insert(record.key.clone(), record.clone());
            }
            // Queued while the lock is held, so the store applies changes in
            // the order they were made.
            let commit = (!changes.is_empty()).then(|| self.store.sandbox_commit(changes));
            (result, sends, commit)
        };
        if let Some(commit) = commit {
            commit.await?;
        }
        for (event, endpoint, attempts) in sends {
            self.deliver(event, endpoint, attempts);
        }
        Ok(result)
    }
}

/// How often the clock worker looks for what real time has made due.
const REAL_TIME_TICK: std::time::Duration = std::time::Duration::from_secs(1);

impl Sandbox {
    /// Starts the task that moves time: test clocks being advanced, as soon
    /// as they are, and every second what real time has made due for the
    /// objects of no test clock (a renewal while paywire runs). It stops with
    /// the sandbox.
    fn spawn_clock_worker(self: &Arc<Sandbox>) {
        let sandbox = Arc::downgrade(self);
        let wake = self.clock_worker.clone();
        tokio::spawn(async move {
            loop {
                let _ = tokio::time::timeout(REAL_TIME_TICK, wake.notified()).await;
                let Some(sandbox) = sandbox.upgrade() else {
                    return;
                };
                if let Err(e) = sandbox.move_time().await {
                    tracing::error!(error = %e, "the sandbox could not store what time made happen");
                }
            }
        });
    }

    async fn move_time(self: &Arc<Self>) -> Result<(), StoreError> {
        let advancing = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            resources::advancing_clocks(&state)
        };
        // Each clock in a transaction of its own: its objects are its own.
        for clock in advancing {
            self.transact(
                None,
                None,
                |tx| resources::advance_test_clock(tx, &clock),
                |_| true,
                |_| None,
            )
            .await?;
        }
        self.transact(
            None,
            None,
            |tx| {
                let now = tx.now;
                resources::run_until(tx, None, now);
            },
            |_| true,
            |_| None,
        )
        .await?;
        Ok(())
    }
}

/// How this sandbox names itself to another one refused on its database:
/// where it is reached, which is what instances need as their
/// `STRIPE_API_BASE`, and which process it is.
fn owner(config: &SandboxConfig) -> String {
    format!(
        "the sandbox at {} (process {} on {})",
        config.base_url,
        std::process::id(),
        paywire_support::host_name()
    )
}

pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/checkout/pay/{id}", get(page::show).post(page::submit))
        .route("/v1/{*path}", any(api))
        .fallback(|| async {
            StripeError::new(
                404,
                "invalid_request_error",
                "Unrecognized request URL. The sandbox's API is under v1/ of its base URL (/_stripe/v1/ on paywire serve).",
            )
            .into_response()
        })
        .with_state(sandbox)
}

/// The API key of a request: Bearer or Basic (`curl -u sk_test_…:`).
fn api_key(headers: &HeaderMap) -> Result<String, StripeError> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or_else(|| {
        StripeError::unauthorized("You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
    })?;
    // The scheme's name is case-insensitive, as HTTP says.
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    let key = if scheme.eq_ignore_ascii_case("bearer") {
        credentials.trim().to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let encoded = credentials;
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .unwrap_or_default();
        String::from_utf8_lossy(&decoded)
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        return Err(StripeError::unauthorized(
            "Invalid API Key provided: use Bearer auth.",
        ));
    };
    let test_key = (key.starts_with("sk_test_") || key.starts_with("rk_test_")) && key.len() >= 12;
    if !test_key {
        // Masked as every key paywire prints is: its kind (`sk_live_`) and
        // nothing of the secret part, whatever characters the key holds.
        let shown = Secret::new(key);
        return Err(StripeError::unauthorized(format!(
            "Invalid API Key provided: {shown}. The paywire sandbox takes test-mode secret keys (sk_test_…)."
        )));
    }
    Ok(key)
}

fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_str().as_bytes());
    hash.update(b" ");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(body);
    hex::encode(hash.finalize())
}

async fn api(
    State(sandbox): State<Arc<Sandbox>>,
    Path(path): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let request_id = state::random_id("req_", 14);
    let mut response =
        match serve_api(&sandbox, &request_id, &path, &method, &uri, &headers, body).await {
            Ok(response) => response,
            Err(e) => e.into_response(),
        };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("request-id", value);
    }
    headers.insert("stripe-version", HeaderValue::from_static(API_VERSION));
    response
}

async fn serve_api(
    sandbox: &Arc<Sandbox>,
    request_id: &str,
    path: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, StripeError> {
    api_key(headers)?;
    let verb = match *method {
        Method::GET => Verb::Get,
        Method::POST => Verb::Post,
        Method::DELETE => Verb::Delete,
        _ => {
            return Err(StripeError::new(
                405,
                "invalid_request_error",
                format!("The sandbox does not answer {method}."),
            ));
        }
    };
    let bytes = paywire_support::body::read_body(body, MAX_BODY)
        .await
        .map_err(|e| {
            StripeError::new(
                e.status().as_u16(),
                "invalid_request_error",
                format!("Invalid request: {e}."),
            )
        })?;
    let mut raw = form::decode(uri.query().unwrap_or("").as_bytes())
        .map_err(|e| resources::param_error(e.into()))?;
    if verb == Verb::Post {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.contains("json"));
        if is_json {
            return Err(StripeError::request(
                "Invalid request: the Stripe API takes form-encoded bodies (application/x-www-form-urlencoded), not JSON.",
            ));
        }
        raw.extend(form::decode(&bytes).map_err(|e| resources::param_error(e.into()))?);
    }
    let idempotency = match (
        verb,
        headers.get("idempotency-key").and_then(|v| v.to_str().ok()),
    ) {
        (Verb::Post, Some(key)) if !key.is_empty() => {
            if key.len() > 255 {
                return Err(StripeError::invalid(
                    "Idempotency-Key",
                    "Idempotency keys can be at most 255 characters.",
                ));
            }
            Some(key.to_string())
        }
        _ => None,
    };
    let fingerprint = fingerprint(method, path, &bytes);
    if let Some(key) = &idempotency {
        let stored = sandbox
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .idempotency
            .get(key)
            .cloned();
        if let Some(stored) = stored {
            if stored.fingerprint != fingerprint {
                return Err(StripeError::new(
                    400,
                    "idempotency_error",
                    format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                    ),
                ));
            }
            let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
            let mut response = (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                stored.body,
            )
                .into_response();
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(response);
        }
    }
    let expand: Vec<String> = raw
        .get("expand")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let key = idempotency.clone();
    let answer = sandbox
        .transact(
            Some(request_id),
            idempotency.as_deref(),
            |tx| {
                let result = resources::dispatch(tx, verb, &segments, raw).map(|mut value| {
                    resources::expand(tx, &mut value, &expand);
                    let mut view = resources::public_view(&value);
                    // A session shows its line items only when asked to.
                    if value["object"] == "checkout.session"
                        && expand.iter().any(|path| path == "line_items")
                    {
                        view["line_items"] = value["line_items"].clone();
                    }
                    view
                });
                match result {
                    Ok(value) => (200, value),
                    Err(e) => (e.status, e.to_json()),
                }
            },
            |(status, _)| *status == 200 || *status == 402,
            |(status, body)| {
                // Like Stripe, remember outcomes, but not server failures.
                let key = key.clone()?;
                (*status < 500).then(|| SandboxIdempotency {
                    key,
                    fingerprint: fingerprint.clone(),
                    status: *status,
                    body: body.to_string(),
                })
            },
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the sandbox could not store a change");
            StripeError::new(500, "api_error", "The sandbox could not store the change.")
        })?;
    let (status, body) = answer;
    if status == 200 && body["object"] == "test_helpers.test_clock" && body["status"] == "advancing"
    {
        sandbox.clock_worker.notify_one();
    }
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    Ok((status, axum::Json(body)).into_response())
}

/// Decodes a Stripe form body into JSON (for tools and tests that speak
/// Stripe's wire format).
pub fn decode_form(body: &[u8]) -> Result<Map<String, Value>, String> {
    form::decode(body).map_err(|e| e.to_string())
}

/// Encodes JSON as a Stripe form body.
pub fn encode_form(params: &Map<String, Value>) -> String {
    form::encode(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn refusal(authorization: &str) -> String {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        match api_key(&headers) {
            Ok(key) => panic!("{authorization:?} was accepted as {key:?}"),
            Err(e) => {
                assert_eq!(e.status, 401);
                e.message
            }
        }
    }

    #[test]
    fn a_refused_key_is_masked_by_its_kind_whatever_its_characters() {
        // Issue #14: a multibyte character where the mask used to cut the key
        // by bytes made the check panic.
        for (key, shown) in [
            ("abcdefgéhijkl", "****"),
            ("ééééééééééééé", "****"),
            ("sk_live_abcdefghijklmnop", "sk_live_****"),
            ("sk_test_x", "sk_test_****"),
            ("pk_test_é", "pk_test_****"),
        ] {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
            let mut ways = vec![format!("Basic {encoded}")];
            // A header's text is ASCII: other characters come only in Basic's base64.
            if key.is_ascii() {
                ways.push(format!("Bearer {key}"));
            }
            for authorization in ways {
                let message = refusal(&authorization);
                assert!(
                    message.starts_with(&format!("Invalid API Key provided: {shown}.")),
                    "{key}: {message}"
                );
            }
        }
    }
}
