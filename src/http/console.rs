//! The console: one page at `/console` with its script and style sheet, the
//! sign-in form, and its JSON data API beside the admin API
//! (`/_paywire/api/project`, `/diagram/{kind}/{name}`, `/tables/{name}`).
//! Runs and events come from the admin API itself.
//!
//! Access follows the admin API (see `auth`): with `PAYWIRE_ADMIN_TOKEN`
//! set, the pages ask for the token once (a sign-in form, limited in how
//! fast it may be tried) and then recognise the session cookie it gives,
//! until it expires or signs out; the data API takes the bearer token or
//! that cookie. The cookie is `HttpOnly`, `SameSite=Strict` and `Secure`
//! except on plain loopback.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminError;
use super::auth::{self, Admin, Session, SignInLimit};
use crate::app::App;
use crate::console::{assets, diagram};
use paywire_store::{Direction, RunFilter, RunStatus, Selector, TableOp};

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
        .layer(axum::Extension(Arc::new(SignInLimit::default())))
        .route("/_paywire/api/project", get(project))
        .route("/_paywire/api/diagram/{kind}/{name}", get(show_diagram))
        .route("/_paywire/api/tables/{name}", get(table_rows))
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
    match auth::check(&app, &axum::http::Method::GET, &headers).await {
        Ok(()) => html(StatusCode::OK, assets::INDEX_HTML.to_string()),
        Err(AdminError::Unauthorized) => html(StatusCode::UNAUTHORIZED, sign_in_page(false)),
        Err(AdminError::Off) => html(StatusCode::FORBIDDEN, off_page()),
        Err(other) => other.into_response(),
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
    axum::Extension(limit): axum::Extension<Arc<SignInLimit>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Result<Response, AdminError> {
    auth::same_origin(&axum::http::Method::POST, &headers)?;
    let settings = app.settings();
    let Some(token) = &settings.admin_token else {
        return auth::check(&app, &axum::http::Method::POST, &headers)
            .await
            .map(|()| redirect_to_console(None))
            .or_else(|e| match e {
                AdminError::Off => Ok(html(StatusCode::FORBIDDEN, off_page())),
                other => Err(other),
            });
    };
    limit.admit()?;
    let token = token.expose();
    if !auth::same_secret(form.token.trim(), token) {
        limit.failed();
        return Ok(html(StatusCode::UNAUTHORIZED, sign_in_page(true)));
    }
    let session = Session::new(chrono::Utc::now().timestamp());
    Ok(redirect_to_console(Some(auth::set_cookie(
        &headers,
        Some((&session, token)),
    ))))
}

/// Ends the session of the request's cookie: its id is recorded as signed
/// out, so that the cookie is refused even where a copy of it survives.
async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, AdminError> {
    auth::same_origin(&axum::http::Method::POST, &headers)?;
    if let Some(token) = &app.settings().admin_token
        && let Some(session) = auth::session_of(&headers, token.expose())
    {
        app.store()
            .sign_out_session(session.id, session.expires_at)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not record a console sign-out");
                AdminError::Internal
            })?;
    }
    Ok(redirect_to_console(Some(auth::set_cookie(&headers, None))))
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

async fn project(State(app): State<Arc<App>>, _: Admin) -> Result<Response, AdminError> {
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
    _: Admin,
    Path((kind, name)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    if !matches!(kind.as_str(), "api" | "workflow" | "function") {
        return Err(AdminError::BadRequest(format!(
            "the kind is one of api, workflow, function, not `{kind}`"
        )));
    }
    let deployment = app.current();
    diagram::diagram(&deployment.project, &kind, &name)
        .map(|d| axum::Json(d).into_response())
        .ok_or_else(|| AdminError::NotFound(format!("there is no {kind} `{name}`")))
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<u32>,
    offset: Option<u64>,
}

async fn table_rows(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(name): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Response, AdminError> {
    let deployment = app.current();
    let Some(table) = deployment.project.tables.get(&name).cloned() else {
        return Err(AdminError::NotFound(format!("there is no table `{name}`")));
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
