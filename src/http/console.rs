//! The console: one page at `/console` with its script and style sheet, the
//! sign-in form, and its JSON data API beside the admin API
//! (`/_paywire/api/project`, `/diagram/{kind}/{name}`, `/tables/{name}`).
//! Runs and events come from the admin API itself.
//!
//! Access follows the admin API: with `PAYWIRE_ADMIN_TOKEN` set, the pages
//! ask for the token once (a sign-in form) and then recognise a cookie, and
//! the data API takes the bearer token or that cookie. Without a token the
//! console is open only on the sandbox on loopback, and off otherwise.
//!
//! The cookie `paywire_console` holds an HMAC-SHA256 of a fixed label keyed
//! with the token, never the token itself: it is worthless once the token
//! changes and does not reveal it. It is `HttpOnly`, `SameSite=Strict` (so
//! other sites cannot make a browser retry runs or replay events with it) and
//! `Secure`, except when the request reached a loopback host over plain HTTP
//! (paywire speaks plain HTTP; a `Secure` cookie would be dropped there by
//! some browsers, and loopback traffic never leaves the machine). Behind a
//! TLS proxy, `X-Forwarded-Proto: https` keeps it `Secure`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::app::App;
use crate::console::{assets, diagram};
use crate::store::{Direction, RunFilter, RunStatus, Selector, TableOp};

use super::admin::constant_time_eq;

pub const COOKIE: &str = "paywire_console";
/// How many recent runs the overview counts.
const RECENT_RUNS: u32 = 500;
/// The most rows one table page holds.
const MAX_PAGE: u32 = 200;
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route("/console/app.js", get(script))
        .route("/console/app.css", get(style))
        .route("/console/login", post(login))
        .route("/console/logout", post(logout))
        .route("/_paywire/api/project", get(project))
        .route("/_paywire/api/diagram/{kind}/{name}", get(show_diagram))
        .route("/_paywire/api/tables/{name}", get(table_rows))
}

/// The console's errors, each with its status and a message that names
/// the problem without revealing anything secret.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(
        "the console is off: set PAYWIRE_ADMIN_TOKEN to use it, or serve the sandbox on loopback"
    )]
    Off,
    #[error(
        "the console needs the admin token, as `Authorization: Bearer …` or by signing in at /console"
    )]
    Unauthorized,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("an internal error happened; the details are in the server's log")]
    Internal,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, kind) = match self {
            ConsoleError::Off => (StatusCode::FORBIDDEN, "console_off"),
            ConsoleError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ConsoleError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ConsoleError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ConsoleError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut response = (
            status,
            axum::Json(json!({"error": {"type": kind, "message": self.to_string()}})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<crate::store::StoreError> for ConsoleError {
    fn from(e: crate::store::StoreError) -> ConsoleError {
        if e.is_public() {
            return ConsoleError::BadRequest(e.to_string());
        }
        tracing::error!(error = %e, "the console could not read the store");
        ConsoleError::Internal
    }
}

/// Whether the console is open to this request.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    Open,
    /// A token is configured and the request does not carry it.
    SignIn,
    Off,
}

/// The cookie value for `token`: an HMAC of a fixed label, keyed with it.
pub fn cookie_value(token: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(token.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(b"paywire console session v1");
    hex::encode(mac.finalize().into_bytes())
}

fn cookie_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
}

/// Who may use the console (and the admin API): the bearer token, or the
/// console's cookie; without a token, open only on the loopback sandbox.
pub fn access(app: &App, headers: &HeaderMap) -> Access {
    let settings = app.settings();
    let Some(token) = &settings.admin_token else {
        return if settings.admin_open_without_token {
            Access::Open
        } else {
            Access::Off
        };
    };
    let token = token.expose();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(given) = bearer
        && constant_time_eq(given.as_bytes(), token.as_bytes())
    {
        return Access::Open;
    }
    if let Some(given) = cookie_from(headers)
        && constant_time_eq(given.as_bytes(), cookie_value(token).as_bytes())
    {
        return Access::Open;
    }
    Access::SignIn
}

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ConsoleError> {
    match access(app, headers) {
        Access::Open => Ok(()),
        Access::SignIn => Err(ConsoleError::Unauthorized),
        Access::Off => Err(ConsoleError::Off),
    }
}

/// Whether the request reached a loopback host over plain HTTP, the one case
/// where the cookie goes without `Secure`.
fn plain_loopback(headers: &HeaderMap) -> bool {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    if forwarded_https {
        return false;
    }
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

fn notice_page(title: &str, inner: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>paywire console: {title}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"stylesheet\" href=\"/console/app.css\"></head>\
         <body class=\"notice\"><main class=\"card\"><h1>paywire console</h1>{inner}</main></body></html>"
    )
}

fn sign_in_page(wrong: bool) -> String {
    let error = if wrong {
        "<p class=\"error\" id=\"signin-error\">That is not the admin token.</p>"
    } else {
        ""
    };
    notice_page(
        "sign in",
        &format!(
            "<form id=\"signin\" method=\"post\" action=\"/console/login\">\
             <p>Sign in with the admin token (<code>PAYWIRE_ADMIN_TOKEN</code>).</p>{error}\
             <label for=\"token\">Admin token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" autofocus required>\
             <button type=\"submit\">Sign in</button></form>"
        ),
    )
}

fn off_page() -> String {
    notice_page(
        "off",
        "<p id=\"console-off\">The console is off.</p>\
         <p>Set <code>PAYWIRE_ADMIN_TOKEN</code> to a long random value and restart \
         <code>paywire serve</code>; the console then asks for that token. Without a token, \
         the console is open only when paywire serves its Stripe sandbox on a loopback \
         address (the default of <code>paywire serve</code> without Stripe keys).</p>",
    )
}

async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    match access(&app, &headers) {
        Access::Open => html(StatusCode::OK, assets::INDEX_HTML.to_string()),
        Access::SignIn => html(StatusCode::UNAUTHORIZED, sign_in_page(false)),
        Access::Off => html(StatusCode::FORBIDDEN, off_page()),
    }
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

// The script and style sheet hold nothing about the project; they are
// served to anyone so that the sign-in page has its style.
async fn script() -> Response {
    asset("text/javascript; charset=utf-8", assets::APP_JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", assets::APP_CSS)
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let settings = app.settings();
    let Some(token) = &settings.admin_token else {
        return if settings.admin_open_without_token {
            redirect_to_console(None)
        } else {
            html(StatusCode::FORBIDDEN, off_page())
        };
    };
    let token = token.expose();
    if !constant_time_eq(form.token.trim().as_bytes(), token.as_bytes()) {
        return html(StatusCode::UNAUTHORIZED, sign_in_page(true));
    }
    let secure = if plain_loopback(&headers) {
        ""
    } else {
        "; Secure"
    };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        cookie_value(token)
    );
    redirect_to_console(Some(cookie))
}

async fn logout(headers: HeaderMap) -> Response {
    let secure = if plain_loopback(&headers) {
        ""
    } else {
        "; Secure"
    };
    redirect_to_console(Some(format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    )))
}

fn redirect_to_console(cookie: Option<String>) -> Response {
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/console")]).into_response();
    if let Some(cookie) = cookie
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[derive(Default, serde::Serialize)]
struct Counts {
    runs: u32,
    failed: u32,
    running: u32,
    last_run_at: Option<String>,
}

async fn project(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ConsoleError> {
    authorize(&app, &headers)?;
    app.store().flush().await?;
    let runs = app
        .store()
        .list_runs(RunFilter {
            limit: RECENT_RUNS,
            ..RunFilter::default()
        })
        .await?;
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    for run in &runs {
        let c = counts.entry(run.name.clone()).or_default();
        c.runs += 1;
        match run.status {
            RunStatus::Failed => c.failed += 1,
            RunStatus::Running => c.running += 1,
            RunStatus::Succeeded => {}
        }
        if c.last_run_at.is_none() {
            c.last_run_at = Some(run.started_at.clone());
        }
    }
    let mut take = |name: &str| serde_json::to_value(counts.remove(name).unwrap_or_default());
    let deployment = app.current();
    let p = &deployment.project;
    let mut apis = Vec::new();
    for a in &p.apis {
        apis.push(json!({
            "name": a.name, "method": a.method.as_str(), "path": a.path,
            "steps": a.steps.len(), "origin": a.origin.to_string(),
            "recent": take(&a.name).unwrap_or_default(),
        }));
    }
    let mut workflows = Vec::new();
    for w in p.workflows.values() {
        workflows.push(json!({
            "name": w.name, "trigger": diagram::trigger_text(&w.trigger),
            "steps": w.steps.len(), "origin": w.origin.to_string(),
            "recent": take(&w.name).unwrap_or_default(),
        }));
    }
    let functions: Vec<Value> = p
        .functions
        .values()
        .map(|f| {
            json!({
                "name": f.name,
                "params": f.params.iter().map(|p| p.name.clone()).collect::<Vec<_>>(),
                "steps": f.steps.len(), "origin": f.origin.to_string(),
            })
        })
        .collect();
    let counted: Vec<_> = p.tables.values().cloned().collect();
    let rows = app.store().count_rows(counted).await?;
    let tables: Vec<Value> = p
        .tables
        .values()
        .zip(rows)
        .map(|(t, rows)| {
            json!({
                "name": t.name,
                "rows": rows,
                "primary_key": t.primary_key,
                "columns": t.columns.iter().map(|c| json!({
                    "name": c.name, "type": c.ty.name(), "primary_key": c.primary_key,
                    "required": c.required, "unique": c.unique,
                })).collect::<Vec<_>>(),
                "origin": t.origin.to_string(),
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "problems": app.problems(),
        "files": p.files,
        "apis": apis,
        "workflows": workflows,
        "functions": functions,
        "tables": tables,
        "recent_runs": runs.len(),
        "sandbox": app.sandbox().is_some(),
    }))
    .into_response())
}

async fn show_diagram(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    authorize(&app, &headers)?;
    if !matches!(kind.as_str(), "api" | "workflow" | "function") {
        return Err(ConsoleError::BadRequest(format!(
            "the kind is one of api, workflow, function, not `{kind}`"
        )));
    }
    let deployment = app.current();
    diagram::diagram(&deployment.project, &kind, &name)
        .map(|d| axum::Json(d).into_response())
        .ok_or_else(|| ConsoleError::NotFound(format!("there is no {kind} `{name}`")))
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn table_rows(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, ConsoleError> {
    authorize(&app, &headers)?;
    let deployment = app.current();
    let Some(table) = deployment.project.tables.get(&name).cloned() else {
        return Err(ConsoleError::NotFound(format!(
            "there is no table `{name}`"
        )));
    };
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let offset = query.offset.unwrap_or(0);
    app.store().flush().await?;
    // One row more than asked says whether there is a next page.
    let rows = app
        .store()
        .table_op(
            TableOp::Select {
                order: vec![(table.primary_key.clone(), Direction::Asc)],
                table: table.clone(),
                selector: Selector::Filters(Vec::new()),
                limit: limit + 1,
                offset,
            },
            None,
        )
        .await?;
    let mut rows = match rows {
        Value::Array(rows) => rows,
        _ => Vec::new(),
    };
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok(axum::Json(json!({
        "table": name,
        "columns": table.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
        "primary_key": table.primary_key,
        "rows": rows,
        "limit": limit,
        "offset": offset,
        "has_more": has_more,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_not_the_token() {
        let v = cookie_value("secret-token");
        assert_ne!(v, "secret-token");
        assert!(!v.contains("secret-token"));
        assert_eq!(v.len(), 64);
        assert_eq!(v, cookie_value("secret-token"));
        assert_ne!(v, cookie_value("secret-token2"));
    }

    #[test]
    fn loopback_hosts_over_plain_http() {
        let with = |host: &str, proto: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
            if let Some(p) = proto {
                h.insert("x-forwarded-proto", HeaderValue::from_str(p).unwrap());
            }
            plain_loopback(&h)
        };
        assert!(with("127.0.0.1:8080", None));
        assert!(with("localhost:3000", None));
        assert!(with("[::1]:3000", None));
        assert!(!with("localhost:3000", Some("https")));
        assert!(!with("pay.example.com", None));
        assert!(!with("10.0.0.2:80", None));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; paywire_console=abc ; b=2"),
        );
        assert_eq!(cookie_from(&h).as_deref(), Some("abc"));
    }
}
