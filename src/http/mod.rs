//! The HTTP layer: the builder's APIs, and paywire's own endpoints.
//!
//! [`app`] builds the router; [`run`] serves it on a listener until a
//! shutdown signal, which is what `paywire serve` and the tests call.
//! [`sandbox`] is the same for `paywire sandbox`, the Stripe sandbox alone. APIs are
//! matched against the project version being served at the moment of each
//! request, so a reload takes effect without a restart.

mod admin;
mod auth;
mod console;
mod error;
pub mod sandbox;
mod serve;
mod webhook;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tower::ServiceExt;

use crate::app::App;
pub use crate::app::ConnectionLimits;
use error::error_response;
pub use error::{AdminError, ApiError};
use paywire_engine::runner::{ApiReply, HttpAnswer, new_run_id};
use paywire_model::params::{self, InputSource};
use paywire_model::{HttpMethod, RouteMatch};
pub use webhook::WebhookError;

/// Request headers whose values never reach a run's record.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "proxy-authorization",
    "stripe-signature",
    "x-api-key",
];
/// The response header naming the run that answered, to look it up with
/// `paywire runs show`.
const RUN_HEADER: &str = "x-paywire-run";

pub fn app(state: Arc<App>) -> Router {
    let mut router = Router::new()
        .route("/_paywire/health", get(health))
        .route(
            &state.settings().webhook.path,
            axum::routing::post(webhook::receive),
        )
        .merge(admin::routes())
        .merge(console::routes());
    let Some(sandbox) = state.sandbox() else {
        return router.fallback(dispatch).with_state(state);
    };
    let sandbox = paywire_sandbox::router(sandbox.clone());
    router = router.nest_service("/_stripe", sandbox.clone());
    // Stripe's CLI drops the path of its `--api-base` and calls
    // `http://HOST:PORT/v1/...`, so the sandbox also answers `/v1/` requests
    // that none of the builder's APIs claims.
    router
        .fallback(move |State(app): State<Arc<App>>, request: Request| {
            let sandbox = sandbox.clone();
            async move {
                if request.uri().path().starts_with("/v1/") && !claims(&app, request.uri().path()) {
                    return sandbox.oneshot(request).await.into_response();
                }
                let (parts, body) = request.into_parts();
                dispatch(State(app), parts.method, parts.uri, parts.headers, body).await
            }
        })
        .with_state(state)
}

/// Whether an API of the project being served has the path `path`.
fn claims(app: &App, path: &str) -> bool {
    let deployment = app.current();
    !matches!(
        deployment.project.routes.find(HttpMethod::Get, path),
        RouteMatch::NotFound
    )
}

/// Serves `app` on `listener`, within the settings' [`ConnectionLimits`],
/// until `shutdown` resolves, then waits for the requests in flight and for
/// every queued write to reach the database, and leaves the instances
/// sharing it (`Engine::leave`): the events this one was running are taken
/// up at once by another, or by the next start, and a restart runs the
/// startup workflows again.
pub async fn run(
    listener: TcpListener,
    state: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine().clone();
    let limits = state.settings().connections.clone();
    serve::serve(listener, app(state), limits, shutdown).await;
    match engine.leave().await {
        Ok(left) if !left.is_empty() => tracing::info!(
            runs = left.interrupted_runs,
            events = left.requeued_events,
            "stopped in the middle of work: its runs are marked failed as interrupted, to be resumed, and its events are free to run again"
        ),
        Ok(_) => {}
        // The lease does it instead: the others take this instance for
        // stopped once it has been silent that long.
        Err(e) => {
            tracing::error!(error = %e, "could not record at shutdown that this instance stopped")
        }
    }
    Ok(())
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let deployment = app.current();
    axum::Json(json!({
        "status": "ok",
        "apis": deployment.project.apis.len(),
        "workflows": deployment.project.workflows.len(),
        "problems": app.problems(),
    }))
    .into_response()
}

async fn dispatch(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match serve_api(&app, method, uri, headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn serve_api(
    app: &Arc<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(api_method) = HttpMethod::parse(method.as_str()) else {
        return Err(ApiError::UnsupportedMethod(method.to_string()));
    };
    let deployment = app.current();
    let path = uri.path();
    let (api_index, raw_params) = match deployment.project.routes.find(api_method, path) {
        RouteMatch::Found { api, params } => (api, params),
        RouteMatch::WrongMethod { allowed } => return Err(ApiError::MethodNotAllowed { allowed }),
        RouteMatch::NotFound => {
            return Err(ApiError::NotFound {
                method: method.to_string(),
                path: path.to_string(),
            });
        }
    };
    let api = deployment.project.apis[api_index].clone();

    let limit = app.settings().max_body_bytes;
    let bytes = paywire_support::body::read_body(body, limit)
        .await
        .map_err(ApiError::Body)?;
    let parsed = parse_body(&headers, &bytes)?;

    let path_params: Map<String, Value> = raw_params
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                Value::String(
                    percent_encoding::percent_decode_str(&v)
                        .decode_utf8_lossy()
                        .into_owned(),
                ),
            )
        })
        .collect();
    let query = text_fields(uri.query().unwrap_or("").as_bytes());
    let (body_json, json_fields, form_fields) = match parsed {
        ParsedBody::Empty => (Value::Null, None, Map::new()),
        ParsedBody::Json(Value::Object(fields)) => {
            (Value::Object(fields.clone()), Some(fields), Map::new())
        }
        ParsedBody::Json(_) if !api.params.is_empty() => return Err(ApiError::BodyNotAnObject),
        ParsedBody::Json(other) => (other, None, Map::new()),
        ParsedBody::Form(fields) => (Value::Object(fields.clone()), None, fields),
    };
    // Form fields are text, like the query string, and take precedence over it.
    let mut text_input = query.clone();
    text_input.extend(form_fields);
    let gathered = params::gather(&api.params, json_fields.as_ref(), &path_params, &text_input);
    let parameters = params::validate(&api.params, &gathered, InputSource::Json)
        .map_err(ApiError::InvalidParams)?;

    // Built by moving values in; `json!` would copy each through serde. The
    // record is the context with secret headers redacted.
    let mut header_fields = Map::new();
    for (name, value) in &headers {
        header_fields.insert(
            name.as_str().to_string(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    let mut request = Map::new();
    request.insert("method".into(), Value::from(method.as_str()));
    request.insert("path".into(), Value::from(path));
    request.insert("params".into(), Value::Object(path_params));
    request.insert("query".into(), Value::Object(query));
    request.insert("headers".into(), Value::Object(header_fields));
    request.insert("body".into(), body_json);
    let mut context = Map::new();
    context.insert("parameters".into(), Value::Object(parameters));
    context.insert("request".into(), Value::Object(request));
    let context = Value::Object(context);
    let mut recorded = context.clone();
    if let Some(Value::Object(fields)) = recorded.pointer_mut("/request/headers") {
        for name in SECRET_HEADERS {
            if let Some(value) = fields.get_mut(*name) {
                *value = Value::String("[redacted]".into());
            }
        }
    }

    let run_id = new_run_id();
    let (reply_tx, reply_rx) = oneshot::channel();
    let runner = deployment.runner.clone();
    let id = run_id.clone();
    // The run goes on even if the caller hangs up, and past the answer for
    // `response: {continue: true}`.
    tokio::spawn(async move {
        runner
            .run_api(
                paywire_engine::runner::RunIdentity {
                    id,
                    ..Default::default()
                },
                api,
                &context,
                recorded,
                reply_tx,
            )
            .await
    });
    let reply = reply_rx.await.map_err(|_| ApiError::Internal {
        run_id: Some(run_id.clone()),
    })?;
    let mut response = match reply {
        ApiReply::Response(answer) => answer_response(answer)?,
        ApiReply::Failed(error) => ApiError::Workflow {
            run_id: run_id.clone(),
            error,
        }
        .into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&run_id) {
        response.headers_mut().insert(RUN_HEADER, value);
    }
    Ok(response)
}

enum ParsedBody {
    Empty,
    Json(Value),
    /// `application/x-www-form-urlencoded`: every value is text.
    Form(Map<String, Value>),
}

fn text_fields(bytes: &[u8]) -> Map<String, Value> {
    form_urlencoded::parse(bytes)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect()
}

fn starts_like_json(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

fn parse_body(headers: &HeaderMap, bytes: &Bytes) -> Result<ParsedBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ParsedBody::Empty);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    match content_type.as_deref() {
        None | Some("application/json") => {}
        Some(kind) if kind.ends_with("+json") => {}
        // `curl -d '{...}'` labels JSON as a form; a form never starts with `{`.
        Some("application/x-www-form-urlencoded") if !starts_like_json(bytes) => {
            return Ok(ParsedBody::Form(text_fields(bytes)));
        }
        Some("application/x-www-form-urlencoded") => {}
        Some(kind) => return Err(ApiError::UnsupportedMediaType(kind.to_string())),
    }
    if paywire_expr::json_too_deep(bytes) {
        return Err(ApiError::MalformedJson(format!(
            "the body nests deeper than {} levels",
            paywire_expr::MAX_JSON_DEPTH
        )));
    }
    serde_json::from_slice(bytes)
        .map(ParsedBody::Json)
        .map_err(|e| ApiError::MalformedJson(e.to_string()))
}

fn answer_response(answer: HttpAnswer) -> Result<Response, ApiError> {
    let status =
        StatusCode::from_u16(answer.status).map_err(|_| ApiError::Internal { run_id: None })?;
    let mut headers = HeaderMap::new();
    for (name, value) in &answer.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(value),
        ) else {
            tracing::warn!(header = %name, "a response header is not valid HTTP and was left out");
            continue;
        };
        headers.insert(name, value);
    }
    let declared_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let is_json_type = declared_type.as_deref().is_none_or(|t| t.contains("json"));
    let body = match (&answer.body, is_json_type) {
        (Value::Null, _) if answer.status == 204 || answer.status == 304 => Body::empty(),
        (Value::String(text), false) => Body::from(text.clone()),
        (value, _) => {
            if declared_type.is_none() {
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
            }
            Body::from(serde_json::to_vec(value).unwrap_or_default())
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}
