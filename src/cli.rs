//! The `paywire` command line: `serve`, `check`, `runs`, `events`, `replay`, `trigger`.
//!
//! Every flag can also be set by a `PAYWIRE_*` environment variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgGroup, Args, Parser, Subcommand};
use serde_json::Value;

use crate::app::{App, Settings, StartError, StripeSettings};
use crate::config;
use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::{LoadError, Project, load_project};
use paywire_store::sqlite::SqliteStore;
use paywire_store::{RunDetail, RunFilter, RunRecord, RunStatus, Store};
use paywire_stripe::client::{CallError, STRIPE_CALL_RETRY, StripeClient};
use paywire_stripe::recipes::{self, RecipeError, Target};
use paywire_support::backoff::Backoff;

#[derive(Parser, Debug)]
#[command(
    name = "paywire",
    version,
    about = "Runs payment flows written as YAML"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the project's APIs over HTTP.
    Serve(ServeArgs),
    /// Load and check a project; print every problem found.
    Check {
        /// The project folder.
        #[arg(env = "PAYWIRE_DIR", default_value = "workflows")]
        dir: PathBuf,
    },
    /// List recent runs, or show one step by step.
    Runs(RunsArgs),
    /// List the Stripe events received, or show one with the runs it caused.
    Events(EventsArgs),
    /// Run the workflows of a failed event again, on the running server.
    Replay {
        event_id: String,
        /// The running paywire server.
        #[arg(long, env = "PAYWIRE_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Make a Stripe event happen, like `stripe trigger`: the API calls that
    /// cause it go to the running paywire's sandbox (or, with a test
    /// STRIPE_SECRET_KEY, to Stripe's test mode), and the real chain of
    /// events follows. With --payload, send an event of your own, signed, to
    /// the running paywire's webhook endpoint.
    Trigger(TriggerArgs),
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show this event, its payload and the runs it caused.
    pub id: Option<String>,
    /// The SQLite database file.
    #[arg(long, env = "PAYWIRE_DB", default_value = "paywire.db")]
    pub db: PathBuf,
    /// Only events in this state: pending, running, done, failed, ignored.
    #[arg(long)]
    pub state: Option<String>,
    /// Only events of this type, e.g. checkout.session.completed.
    #[arg(long = "type")]
    pub event_type: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The project folder.
    #[arg(long, env = "PAYWIRE_DIR", default_value = "workflows")]
    pub dir: PathBuf,
    /// The SQLite database file (created if missing).
    #[arg(long, env = "PAYWIRE_DB", default_value = "paywire.db")]
    pub db: PathBuf,
    /// The address to listen on.
    #[arg(long, env = "PAYWIRE_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    #[arg(long, env = "PAYWIRE_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Reload the project when its files change (the last good version is
    /// served while they do not check).
    #[arg(long, env = "PAYWIRE_WATCH")]
    pub watch: bool,
    /// The largest request body, in bytes.
    #[arg(long, env = "PAYWIRE_MAX_BODY", default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Seconds a client has to send a request's head, from the opening of
    /// its connection or from the first byte of its next request.
    #[arg(long, env = "PAYWIRE_HEADER_TIMEOUT", default_value = "10", value_parser = seconds)]
    pub header_timeout: Duration,
    /// Seconds a client has to send a request's body, from its head.
    #[arg(long, env = "PAYWIRE_BODY_TIMEOUT", default_value = "30", value_parser = seconds)]
    pub body_timeout: Duration,
    /// Seconds a keep-alive connection may wait for its next request.
    #[arg(long, env = "PAYWIRE_IDLE_TIMEOUT", default_value = "60", value_parser = seconds)]
    pub idle_timeout: Duration,
    /// Connections served at once; more wait to be accepted until others
    /// close.
    #[arg(long, env = "PAYWIRE_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// The environment whose connections to use: development, staging or
    /// production. Stripe keys come from STRIPE_SECRET_KEY,
    /// STRIPE_WEBHOOK_SECRET and STRIPE_API_BASE, or from the config file;
    /// without a key (outside production), paywire serves its own offline
    /// Stripe sandbox under /_stripe.
    #[arg(long = "env", env = "PAYWIRE_ENV", default_value = "development")]
    pub environment: String,
    /// A config file with each environment's Stripe keys (keep it out of
    /// version control): `environments: {production: {stripe: {secret_key: …}}}`.
    #[arg(long, env = "PAYWIRE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the sandbox delivers its webhook events (paywire's own webhook
    /// endpoint by default).
    #[arg(long, env = "PAYWIRE_SANDBOX_WEBHOOK_URL")]
    pub sandbox_webhook_url: Option<String>,
    /// How old a webhook signature may be, in seconds.
    #[arg(long, env = "PAYWIRE_WEBHOOK_TOLERANCE", default_value_t = 300)]
    pub webhook_tolerance: i64,
    /// How many times an event's workflows are tried before the event is
    /// marked failed.
    #[arg(long, env = "PAYWIRE_EVENT_ATTEMPTS", default_value_t = 5)]
    pub event_attempts: u32,
    /// The wait before the first retry of a failed event, in seconds; it
    /// doubles with each attempt, up to five minutes.
    #[arg(long, env = "PAYWIRE_EVENT_RETRY_SECONDS", default_value_t = 2.0)]
    pub event_retry_seconds: f64,
}

/// A timeout setting: a positive number of seconds, at most a day.
fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(value > 0.0 && value <= 86_400.0) {
        return Err(format!("{text} seconds is not between 0 and a day"));
    }
    Ok(Duration::from_secs_f64(value))
}

/// The admin token, read from the environment only (a flag would show in
/// the process list and the shell's history).
fn admin_token() -> Option<config::Secret> {
    std::env::var("PAYWIRE_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
        .map(|t| config::Secret::new(t.trim()))
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    /// The SQLite database file.
    #[arg(long, env = "PAYWIRE_DB", default_value = "paywire.db", global = true)]
    pub db: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// How many runs to list.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Only runs of this API or workflow.
    #[arg(long)]
    pub name: Option<String>,
    /// Only runs with this status: running, succeeded, failed, or retrying
    /// (failed, and its event will be tried again).
    #[arg(long)]
    pub status: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RunsAction {
    /// Show one run and each of its steps.
    Show { id: String },
    /// Run a failed run again on the running server, with the same input.
    /// Its Stripe calls reuse the failed run's idempotency keys, so nothing
    /// that reached Stripe is done twice.
    Retry {
        id: String,
        /// The running paywire server.
        #[arg(long, env = "PAYWIRE_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
}

#[derive(Args, Debug)]
#[command(
    after_help = paywire_stripe::recipes::help(),
    group(ArgGroup::new("what").required(true).args(["event", "payload"]))
)]
pub struct TriggerArgs {
    /// The event type to make happen (`checkout.session.completed`).
    #[arg(value_name = "EVENT_TYPE")]
    pub event: Option<String>,
    /// Send the event in FILE (JSON) to the webhook endpoint
    /// (PAYWIRE_WEBHOOK_PATH, /webhooks/stripe by default), signed now with
    /// STRIPE_WEBHOOK_SECRET.
    #[arg(long, value_name = "FILE")]
    pub payload: Option<PathBuf>,
    /// The running paywire server.
    #[arg(long, env = "PAYWIRE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The environment whose Stripe connection to use, as for `serve`:
    /// without a key, the server's sandbox; with a test key, Stripe's test
    /// mode. Live keys are refused.
    #[arg(long = "env", env = "PAYWIRE_ENV", default_value = "development")]
    pub environment: String,
    /// The config file with each environment's Stripe keys, as for `serve`.
    #[arg(long, env = "PAYWIRE_CONFIG")]
    pub config: Option<PathBuf>,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Check { dir } => Ok(check(&dir)),
        Command::Runs(args) => runs(args).await,
        Command::Events(args) => events(args).await,
        Command::Replay { event_id, server } => replay(&event_id, &server).await,
        Command::Trigger(args) => trigger(args).await,
    }
}

fn summary(project: &Project) -> String {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}, {}, {}, {}",
        count(project.apis.len(), "API"),
        count(project.workflows.len(), "workflow"),
        count(project.functions.len(), "function"),
        count(project.tables.len(), "table")
    )
}

fn check(dir: &std::path::Path) -> ExitCode {
    let evaluator = Evaluator::new(ExprLimits::default());
    match load_project(dir, &evaluator) {
        Ok(project) => {
            println!("{}: ok ({})", dir.display(), summary(&project));
            ExitCode::SUCCESS
        }
        Err(e) => {
            // Standard error is unbuffered: written piece by piece, a report of
            // many thousand problems would cost a system call per fragment.
            let report = e.to_string();
            eprintln!("{report}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The key guard runs before anything listens: a wrong key stops here.
    let connections = match args.environment.parse().and_then(|env| {
        config::resolve(
            env,
            &|name| std::env::var(name).ok(),
            args.config.as_deref(),
        )
    }) {
        Ok(connections) => connections,
        Err(e) => {
            eprintln!("paywire will not start: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let address = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut settings = Settings::new(&args.dir, &args.db);
    settings.max_body_bytes = args.max_body;
    settings.connections = crate::http::ConnectionLimits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections as usize,
    };
    settings.admin_token = admin_token();
    settings.admin_open_without_token = connections.stripe.is_none() && args.host.is_loopback();
    settings.webhook.path = connections.webhook_path.clone();
    settings.webhook.secrets = connections.webhook_secrets.clone();
    settings.webhook.tolerance_seconds = args.webhook_tolerance;
    settings.event_retry.attempts = args.event_attempts.max(1);
    settings.event_retry.first_delay = Duration::from_secs_f64(args.event_retry_seconds.max(0.01));
    if settings.webhook.secrets.is_empty() && connections.stripe.is_some() {
        tracing::warn!(
            "STRIPE_WEBHOOK_SECRET is not set: {} refuses every event until it is",
            connections.webhook_path
        );
    }
    settings = match &connections.stripe {
        Some(stripe) => {
            settings.stripe = Some(StripeSettings {
                secret_key: stripe.secret_key.clone(),
                api_base: stripe.api_base.clone(),
                retry: STRIPE_CALL_RETRY,
            });
            settings
        }
        // The sandbox sends its events to paywire's own endpoint, signed
        // with the endpoint's secret (made up when none is set).
        None => settings.with_sandbox(paywire_sandbox::SandboxConfig {
            base_url: format!("{base}/_stripe"),
            webhook_url: Some(
                args.sandbox_webhook_url
                    .clone()
                    .unwrap_or_else(|| format!("{base}{}", connections.webhook_path)),
            ),
            webhook_secret: connections
                .webhook_secrets
                .first()
                .map(|s| s.expose().to_string())
                .unwrap_or_else(|| format!("whsec_{}", uuid::Uuid::new_v4().simple())),
            retry: paywire_sandbox::DELIVERY_RETRY,
        }),
    };
    let app = match App::start(settings).await {
        Ok(app) => app,
        Err(StartError::Load(LoadError::Invalid(diagnostics))) => {
            let report = diagnostics.to_string();
            eprintln!("{report}");
            eprintln!(
                "paywire will not serve a project that does not check; fix the problems above and start again."
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    print_banner(&app, &args, &base, &connections);
    let watcher = match args.watch {
        true => Some(crate::app::watch(app.clone(), Duration::from_millis(500)).await),
        false => None,
    };
    crate::http::run(listener, app, shutdown_signal()).await?;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    Ok(ExitCode::SUCCESS)
}

fn print_banner(app: &Arc<App>, args: &ServeArgs, base: &str, connections: &config::Connections) {
    let deployment = app.current();
    let project = &deployment.project;
    println!(
        "paywire serving {} ({}) on {base}",
        args.dir.display(),
        summary(project)
    );
    println!("database: {}", args.db.display());
    for api in &project.apis {
        println!(
            "  {:<6} {base}{:<32} {}",
            api.method.as_str(),
            api.path,
            api.name
        );
    }
    println!("  health {base}/_paywire/health");
    println!("environment: {}", connections.environment);
    if app.sandbox().is_some() {
        println!(
            "STRIPE SANDBOX: no STRIPE_SECRET_KEY is set, so Stripe calls go to paywire's offline sandbox."
        );
        println!("  Stripe API base {base}/_stripe (any sk_test_… key); no real money moves.");
    }
    if let Some(stripe) = &connections.stripe {
        // The key's kind and where it came from; never the key.
        let mode = match stripe.mode {
            config::KeyMode::Test => "TEST mode",
            config::KeyMode::Live => "LIVE mode: real money moves",
        };
        println!(
            "Stripe: {mode}, key {} from {}, API {}",
            stripe.secret_key, stripe.key_source, stripe.api_base
        );
    }
    if args.watch {
        println!("watching {} for changes", args.dir.display());
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    if let Some(RunsAction::Retry { id, server }) = &args.action {
        return retry(id, server).await;
    }
    if !args.db.exists() {
        eprintln!(
            "no database at {} (serve creates it; --db or PAYWIRE_DB names another)",
            args.db.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let store = SqliteStore::open(args.db.clone())
        .await
        .with_context(|| format!("cannot open {}", args.db.display()))?;
    match args.action {
        Some(RunsAction::Show { id }) => {
            let Some(detail) = store.get_run(id.clone()).await? else {
                eprintln!("no run {id}");
                return Ok(ExitCode::FAILURE);
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&detail)?);
            } else {
                print!("{}", format_run(&detail));
            }
        }
        Some(RunsAction::Retry { id, server }) => return retry(&id, &server).await,
        None => {
            let (status, retrying) = match args.status.as_deref() {
                None => (None, None),
                Some("retrying") => (Some(RunStatus::Failed), Some(true)),
                Some(text) => match RunStatus::parse(text) {
                    Some(status) => (Some(status), None),
                    None => {
                        eprintln!("--status is running, succeeded, failed or retrying, not {text}");
                        return Ok(ExitCode::FAILURE);
                    }
                },
            };
            let filter = RunFilter {
                name: args.name,
                status,
                retrying,
                since: None,
                limit: args.limit,
            };
            let runs = store.list_runs(filter).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&runs)?);
            } else {
                print!("{}", format_runs(&runs));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// POSTs to the running server's admin API; on refusal, prints why and
/// gives `None`.
async fn admin_post(server: &str, path: &str) -> Option<Value> {
    let url = format!("{}/_paywire/api{path}", server.trim_end_matches('/'));
    let mut request = reqwest::Client::new().post(&url);
    if let Some(token) = admin_token() {
        request = request.bearer_auth(token.expose());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            eprintln!(
                "no paywire server answered at {server} ({e}); start one with `paywire serve`, or name it with --server"
            );
            return None;
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        eprintln!(
            "{}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("the server refused the request")
        );
        return None;
    }
    Some(body)
}

fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Asks the running server to retry a run, through its admin API.
async fn retry(id: &str, server: &str) -> anyhow::Result<ExitCode> {
    let Some(body) = admin_post(server, &format!("/runs/{}/retry", path_segment(id))).await else {
        return Ok(ExitCode::FAILURE);
    };
    println!(
        "run {} retried {id}: {}",
        body["run_id"].as_str().unwrap_or("?"),
        body["status"].as_str().unwrap_or("?")
    );
    if let Some(message) = body["error"]["message"].as_str() {
        println!(
            "  failed at {}: {message}",
            body["error"]["step"].as_str().unwrap_or("?")
        );
    }
    Ok(if body["status"] == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Asks the running server to replay a failed event.
async fn replay(id: &str, server: &str) -> anyhow::Result<ExitCode> {
    let Some(_) = admin_post(server, &format!("/events/{}/replay", path_segment(id))).await else {
        return Ok(ExitCode::FAILURE);
    };
    println!("event {id} is queued again; `paywire events {id}` shows how it goes");
    Ok(ExitCode::SUCCESS)
}

async fn events(args: EventsArgs) -> anyhow::Result<ExitCode> {
    if !args.db.exists() {
        eprintln!(
            "no database at {} (serve creates it; --db or PAYWIRE_DB names another)",
            args.db.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    let store = SqliteStore::open(args.db.clone())
        .await
        .with_context(|| format!("cannot open {}", args.db.display()))?;
    if let Some(id) = args.id {
        let Some(event) = store.get_event(id.clone()).await? else {
            eprintln!("no event {id}");
            return Ok(ExitCode::FAILURE);
        };
        let runs = store.runs_of_events(vec![id]).await?;
        if args.json {
            let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
            let shown = serde_json::json!({ "event": event, "payload": payload, "runs": runs });
            println!("{}", serde_json::to_string_pretty(&shown)?);
        } else {
            print!("{}", format_events(std::slice::from_ref(&event)));
            if let Some(error) = &event.last_error {
                println!("last error: {error}");
            }
            println!();
            print!("{}", format_runs(&runs));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let state = match args.state.as_deref() {
        None => None,
        Some(text) => match paywire_store::EventState::parse(text) {
            Some(state) => Some(state),
            None => {
                eprintln!("--state is pending, running, done, failed or ignored, not {text}");
                return Ok(ExitCode::FAILURE);
            }
        },
    };
    let events = store
        .list_events(paywire_store::EventFilter {
            state,
            event_type: args.event_type,
            limit: args.limit,
        })
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
    } else {
        print!("{}", format_events(&events));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn format_events(events: &[paywire_store::EventRecord]) -> String {
    if events.is_empty() {
        return "no events yet\n".into();
    }
    let mut out = format!(
        "{:<32}  {:<38} {:<8} {:>8}  {}\n",
        "EVENT", "TYPE", "STATE", "ATTEMPTS", "RECEIVED"
    );
    for event in events {
        out.push_str(&format!(
            "{:<32}  {:<38} {:<8} {:>8}  {}\n",
            event.id,
            event.event_type,
            event.state.as_str(),
            event.attempts,
            event.received_at
        ));
    }
    out
}

/// The key `paywire trigger` gives the sandbox (it takes any test key).
pub const TRIGGER_SANDBOX_KEY: &str = "sk_test_paywire_trigger";

/// How `paywire trigger` retries its calls: fewer and shorter waits than the
/// server's, since someone is watching the terminal.
const TRIGGER_RETRY: Backoff = Backoff {
    attempts: 3,
    first_delay: Duration::from_millis(250),
    max_delay: Duration::from_secs(2),
};

async fn trigger(args: TriggerArgs) -> anyhow::Result<ExitCode> {
    let server = args.url.trim_end_matches('/');
    if let Some(file) = &args.payload {
        return send_payload(file, server).await;
    }
    let event = args.event.as_deref().unwrap_or_default();
    let recipe = match recipes::find(event) {
        Ok(recipe) => recipe,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let live_refused = |what: String| {
        eprintln!(
            "paywire trigger will not run: {what}. Triggering fake events against live money is never right; use a test key (sk_test_…), or no key to use the sandbox of a running `paywire serve`."
        );
        Ok(ExitCode::FAILURE)
    };
    let environment = match args.environment.parse::<config::Environment>() {
        Ok(config::Environment::Production) => {
            return live_refused("PAYWIRE_ENV is production, whose key is live".into());
        }
        Ok(environment) => environment,
        Err(e) => {
            eprintln!("paywire trigger will not run: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let connections = match config::resolve(
        environment,
        &|name| std::env::var(name).ok(),
        args.config.as_deref(),
    ) {
        Ok(connections) => connections,
        Err(config::ConfigError::LiveKeyOutsideProduction { origin, kind, .. }) => {
            return live_refused(format!("{origin} is a live key ({kind}…)"));
        }
        Err(e) => {
            eprintln!("paywire trigger will not run: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let (key, api_base, target) = match connections.stripe {
        Some(stripe) if stripe.mode == config::KeyMode::Live => {
            return live_refused(format!(
                "{} is a live key ({}…)",
                stripe.key_source,
                stripe.secret_key.kind()
            ));
        }
        Some(stripe) => {
            println!(
                "triggering {} on Stripe's test mode at {} (key {} from {})",
                recipe.event, stripe.api_base, stripe.secret_key, stripe.key_source
            );
            (stripe.secret_key, stripe.api_base, Target::Stripe)
        }
        None => {
            let base = format!("{server}/_stripe");
            println!("triggering {} on paywire's sandbox at {base}", recipe.event);
            (
                config::Secret::new(TRIGGER_SANDBOX_KEY),
                base,
                Target::Sandbox,
            )
        }
    };
    let client = StripeClient::new(&key, &api_base, TRIGGER_RETRY).map_err(anyhow::Error::msg)?;
    let key_prefix = format!("paywire-trigger-{}", uuid::Uuid::new_v4().simple());
    let outcome = recipes::run(&client, recipe, target, &key_prefix, |done| {
        println!("  {}", format_step(done))
    })
    .await;
    match outcome {
        Ok(_) => {
            println!("the {} event follows; see `paywire events`", recipe.event);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("paywire trigger {}: {e}", recipe.event);
            let not_found = matches!(
                &e,
                RecipeError::Call {
                    source: CallError::Stripe { status: 404, .. },
                    ..
                }
            );
            if target == Target::Sandbox && (e.unreachable() || not_found) {
                eprintln!(
                    "Is `paywire serve` running at {server} without STRIPE_SECRET_KEY, so that it serves its sandbox under /_stripe? Name another server with --url or PAYWIRE_SERVER."
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `POST /v1/customers ... cus_123`, or the expected error of a step.
fn format_step(done: &recipes::Done) -> String {
    let method = recipes::method_name(done.method);
    match done.expected_error {
        Some(status) => format!(
            "{method} {} ... {status} {} (expected): {}{}",
            done.path,
            done.answer["type"].as_str().unwrap_or("error"),
            done.answer["message"].as_str().unwrap_or("(no message)"),
            done.object_id()
                .map(|id| format!(" ({id})"))
                .unwrap_or_default()
        ),
        None => format!(
            "{method} {} ... {}",
            done.path,
            done.object_id().unwrap_or("ok")
        ),
    }
}

/// Sends the event in `file`, signed now with STRIPE_WEBHOOK_SECRET, to the
/// server's webhook endpoint.
async fn send_payload(file: &std::path::Path, server: &str) -> anyhow::Result<ExitCode> {
    let Some(secret) = std::env::var("STRIPE_WEBHOOK_SECRET")
        .ok()
        .and_then(|text| {
            text.split(',')
                .map(str::trim)
                .find(|s| !s.is_empty())
                .map(config::Secret::new)
        })
    else {
        eprintln!(
            "paywire trigger --payload signs the event, so it needs STRIPE_WEBHOOK_SECRET: set it to the signing secret (whsec_…) the server verifies with (start `paywire serve` with the same STRIPE_WEBHOOK_SECRET; without one, the server makes up its own)"
        );
        return Ok(ExitCode::FAILURE);
    };
    let path = std::env::var("PAYWIRE_WEBHOOK_PATH")
        .ok()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| config::DEFAULT_WEBHOOK_PATH.to_string());
    if !config::is_plain_path(&path) {
        eprintln!(
            "PAYWIRE_WEBHOOK_PATH is `{path}`, which is not a webhook path: it starts with `/` and has only letters, digits and / - _ . ~"
        );
        return Ok(ExitCode::FAILURE);
    }
    let body = match std::fs::read(file) {
        Ok(body) => body,
        Err(e) => {
            eprintln!("cannot read {}: {e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let event: Value = match serde_json::from_slice(&body) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("{} is not JSON: {e}", file.display());
            return Ok(ExitCode::FAILURE);
        }
    };
    let url = format!("{server}{path}");
    let header =
        paywire_stripe::signature::header(&body, secret.expose(), chrono::Utc::now().timestamp());
    let response = match reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
    {
        Ok(response) => response,
        Err(e) => {
            eprintln!(
                "no paywire server answered at {server} ({}); start one with `paywire serve`, or name it with --url",
                paywire_stripe::client::mask_secrets(&e.to_string())
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let event_type = event["type"].as_str().unwrap_or("(no type)");
    if status.is_success() {
        println!("POST {url} ({event_type}) ... {status}: {text}");
        Ok(ExitCode::SUCCESS)
    } else {
        let reason = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|body| body["error"]["message"].as_str().map(str::to_string))
            .unwrap_or(text);
        eprintln!("POST {url} ({event_type}) ... {status}: {reason}");
        Ok(ExitCode::FAILURE)
    }
}

fn format_duration(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms >= 1000.0 => format!("{:.2} s", ms / 1000.0),
        Some(ms) => format!("{ms:.1} ms"),
        None => "-".into(),
    }
}

pub fn format_runs(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "no runs yet\n".into();
    }
    let mut out = format!(
        "{:<36}  {:<8} {:<28} {:<9} {:>4}  {:<24} {}\n",
        "RUN", "KIND", "NAME", "STATUS", "HTTP", "STARTED", "DURATION"
    );
    for run in runs {
        out.push_str(&format!(
            "{:<36}  {:<8} {:<28} {:<9} {:>4}  {:<24} {}\n",
            run.id,
            serde_json::to_value(run.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            run.name,
            if run.retrying {
                "retrying"
            } else {
                run.status.as_str()
            },
            run.response_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            run.started_at,
            format_duration(run.duration_ms)
        ));
    }
    out
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
}

pub fn format_run(detail: &RunDetail) -> String {
    let run = &detail.run;
    let mut out = format!(
        "run {} · {} · {} · started {} · {}\n",
        run.id,
        run.name,
        run.status.as_str(),
        run.started_at,
        format_duration(run.duration_ms)
    );
    if let Some(status) = run.response_status {
        out.push_str(&format!("answered HTTP {status}\n"));
    }
    out.push_str(&format!("input: {}\n", compact(&run.input)));
    for step in &detail.steps {
        let path = step.key.split('#').next().unwrap_or(&step.key);
        let depth = path.matches('[').count().saturating_sub(1) + path.matches('/').count();
        let indent = "  ".repeat(depth + 1);
        let id = step
            .step_id
            .as_deref()
            .map(|id| format!(" ({id})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{indent}{:>3} {} {}{id} · {} · {}\n",
            step.seq,
            step.key,
            step.kind,
            step.status.as_str(),
            format_duration(Some(step.duration_ms))
        ));
        if !step.input.is_null() {
            out.push_str(&format!("{indent}      in:  {}\n", compact(&step.input)));
        }
        if !step.output.is_null() {
            out.push_str(&format!("{indent}      out: {}\n", compact(&step.output)));
        }
        if let Some(error) = &step.error {
            out.push_str(&format!("{indent}      error: {}\n", compact(error)));
        }
    }
    if let Some(error) = &run.error {
        out.push_str(&format!("error: {}\n", compact(error)));
    }
    out
}
