//! `paywire serve`: its flags, the key guard before anything listens, the
//! settings they make, the banner, and serving until a shutdown signal.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::app::{App, Settings, StartError, StripeSettings};
use crate::config;
use paywire_model::LoadError;
use paywire_store::StoreError;
use paywire_stripe::client::STRIPE_CALL_RETRY;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The project folder.
    #[arg(long, env = "PAYWIRE_DIR", default_value = "workflows")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub db: super::DatabaseArg,
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
    /// This instance's name among those sharing a PostgreSQL database, as
    /// runs and the console show it [default: host-pid-random]
    #[arg(long = "instance", env = "PAYWIRE_INSTANCE")]
    pub instance: Option<String>,
    /// Seconds this instance may stay silent (killed, cut off) before the
    /// others take over the events it claimed.
    #[arg(long, env = "PAYWIRE_LEASE", default_value = "15", value_parser = seconds)]
    pub lease: Duration,
    /// Seconds between this instance's heartbeats; at most a third of the
    /// lease, so that one late beat does not lose it.
    #[arg(long, env = "PAYWIRE_HEARTBEAT", default_value = "3", value_parser = seconds)]
    pub heartbeat: Duration,
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
    #[command(flatten)]
    pub dunning: super::sandbox::DunningArgs,
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

/// Checks the keys, loads the project and serves it until a shutdown signal.
pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
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
    let mut settings = Settings::new(&args.dir, args.db.database());
    settings.max_body_bytes = args.max_body;
    settings.connections = crate::http::ConnectionLimits {
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections as usize,
    };
    if args.heartbeat.is_zero() || args.heartbeat * 3 > args.lease {
        eprintln!(
            "paywire will not start: the heartbeat ({}s) must be above zero and at most a third of the lease ({}s)",
            args.heartbeat.as_secs_f64(),
            args.lease.as_secs_f64()
        );
        return Ok(ExitCode::FAILURE);
    }
    settings.instance =
        paywire_engine::Instance::new(args.instance.clone(), args.lease, args.heartbeat);
    settings.admin_token = super::admin_token();
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
            dunning: match args.dunning.dunning() {
                Ok(dunning) => dunning,
                Err(why) => {
                    eprintln!("paywire will not start: {why}");
                    return Ok(ExitCode::FAILURE);
                }
            },
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
        Err(StartError::Store(e @ StoreError::SandboxHeld(_))) => {
            eprintln!("{}", super::sandbox::serve_refused(&e));
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let shutdown = shutdown_signal();
    print_banner(&app, &args, &base, &connections);
    let watcher = match args.watch {
        true => Some(crate::app::watch(app.clone(), Duration::from_millis(500)).await),
        false => None,
    };
    crate::http::run(listener, app, shutdown).await?;
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    Ok(ExitCode::SUCCESS)
}

/// What is served where, with which Stripe connection (never its key).
fn print_banner(app: &Arc<App>, args: &ServeArgs, base: &str, connections: &config::Connections) {
    let deployment = app.current();
    let project = &deployment.project;
    println!(
        "paywire serving {} ({}) on {base}",
        args.dir.display(),
        super::check::summary(project)
    );
    println!("database: {}", args.db.database());
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
        if args.db.database().is_shared() {
            // One database has one sandbox (Store::sandbox_claim): a second
            // instance without a key on it would be refused at start.
            println!(
                "  This instance owns the database's sandbox, so no other instance without a key can start on it. For several instances, run `paywire sandbox --db …` and start each with STRIPE_SECRET_KEY=sk_test_… and STRIPE_API_BASE=http://SANDBOX_HOST:PORT."
            );
        }
    }
    println!("instance: {}", app.engine().instance().id);
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

/// Ends when the process is asked to stop (Ctrl-C, or SIGTERM on Unix).
///
/// The handlers are installed when this is called, not when the future is
/// first polled: a caller takes it before it says it listens, so that a
/// SIGTERM sent as soon as the address is printed stops the server
/// gracefully instead of killing it.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let stop = {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            let interrupt = async {
                match interrupt {
                    Ok(mut s) => _ = s.recv().await,
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            let terminate = async {
                match terminate {
                    Ok(mut s) => _ = s.recv().await,
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = interrupt => {},
                _ = terminate => {},
            }
        }
    };
    #[cfg(not(unix))]
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    async move {
        stop.await;
        tracing::info!("shutting down");
    }
}
