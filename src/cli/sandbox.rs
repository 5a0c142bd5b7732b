//! `paywire sandbox`: the Stripe sandbox on its own, the one Stripe that
//! several instances on one database share. Its flags, the checks made
//! before anything listens, the banner, and serving until a shutdown signal.
//!
//! Its state is in the database it is given, as `paywire serve`'s own
//! sandbox keeps it, so a restart keeps every object; one database has one
//! sandbox (`Store::sandbox_claim`), and a second is refused with what to
//! do instead.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::config::{self, Secret};
use paywire_sandbox::{DELIVERY_RETRY, Dunning, Sandbox, SandboxConfig};
use paywire_store::StoreError;

#[derive(Args, Debug)]
pub struct SandboxArgs {
    #[command(flatten)]
    pub db: super::DatabaseArg,
    /// The address to listen on.
    #[arg(long, env = "PAYWIRE_SANDBOX_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The port to listen on; 0 takes any free one (the first line printed
    /// names the address).
    #[arg(long, env = "PAYWIRE_SANDBOX_PORT", default_value_t = 12111)]
    pub port: u16,
    /// Where the instances and browsers reach the sandbox, when that is not
    /// http://HOST:PORT (behind a proxy, or listening on 0.0.0.0): the
    /// hosted checkout pages' links start with it.
    #[arg(long, env = "PAYWIRE_SANDBOX_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Where the sandbox delivers its webhook events, signed with
    /// STRIPE_WEBHOOK_SECRET: normally the load balancer in front of the
    /// instances, such as http://lb/webhooks/stripe. Without it, events are
    /// kept (GET /v1/events) but not sent.
    #[arg(long, env = "PAYWIRE_SANDBOX_WEBHOOK_URL", value_name = "URL")]
    pub webhook_url: Option<String>,
    #[command(flatten)]
    pub dunning: DunningArgs,
}

/// How the sandbox retries a failed invoice payment (Stripe's retry
/// schedule and what follows it, which a Stripe account sets in its
/// dashboard).
#[derive(Args, Debug)]
pub struct DunningArgs {
    /// The sandbox's retries of a failed invoice payment: the wait before
    /// each, comma separated, in days, hours, minutes or seconds (`3d,7d,11d`,
    /// Stripe's default of four attempts over three weeks), or `none`.
    #[arg(long, env = "PAYWIRE_SANDBOX_RETRIES", value_name = "WAITS")]
    pub sandbox_retries: Option<String>,
    /// What becomes of a subscription when the sandbox's last retry of its
    /// invoice failed: cancel (the default), unpaid or past_due.
    #[arg(long, env = "PAYWIRE_SANDBOX_AFTER_RETRIES", value_name = "WHAT")]
    pub sandbox_after_retries: Option<String>,
}

impl DunningArgs {
    pub fn dunning(&self) -> Result<Dunning, String> {
        Dunning::parse(
            self.sandbox_retries.as_deref(),
            self.sandbox_after_retries.as_deref(),
        )
    }
}

/// Why a database has one sandbox, for a refusal.
const ONE_SANDBOX: &str = "One database has one Stripe sandbox: it keeps its state in memory and \
writes it through, so two would overwrite each other.";

/// What a `paywire serve` without a key, refused the sandbox it would have
/// served, is told to do.
pub(super) fn serve_refused(held: &StoreError) -> String {
    format!(
        "paywire will not start: without STRIPE_SECRET_KEY it serves a Stripe sandbox, and {held}.
{ONE_SANDBOX} To run several instances on one database, run one `paywire sandbox --db …` \
(or use the one above, if it is one) and start every instance with a test key pointed at it:
  STRIPE_SECRET_KEY=sk_test_… STRIPE_API_BASE=http://SANDBOX_HOST:PORT paywire serve --db …"
    )
}

/// What a second `paywire sandbox` on a database is told to do.
fn sandbox_refused(held: &StoreError) -> String {
    format!(
        "{held}.
{ONE_SANDBOX} Point the instances at that one (STRIPE_SECRET_KEY=sk_test_… and \
STRIPE_API_BASE=the address above), or stop it first: a `paywire serve` without a key, whose \
own sandbox it may be, gives it up when it stops."
    )
}

/// Checks the flags, claims the database's sandbox and serves it until a
/// shutdown signal.
pub(super) async fn sandbox(args: SandboxArgs) -> anyhow::Result<ExitCode> {
    let refuse = |why: String| {
        eprintln!("paywire sandbox will not start: {why}");
        Ok(ExitCode::FAILURE)
    };
    // The secret comes from the environment only: a flag would show in the
    // process list and the shell's history.
    let secret = super::variable("STRIPE_WEBHOOK_SECRET")
        .and_then(|text| config::webhook_secrets(&text).into_iter().next());
    let webhook_url = match args.webhook_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) => match http_url(url) {
            Ok(url) => Some(url),
            Err(why) => return refuse(format!("--webhook-url {why}")),
        },
    };
    if webhook_url.is_some() && secret.is_none() {
        return refuse(
            "--webhook-url needs STRIPE_WEBHOOK_SECRET, the secret its events are signed with \
             (the instances verify them with the same one)"
                .to_string(),
        );
    }
    let dunning = match args.dunning.dunning() {
        Ok(dunning) => dunning,
        Err(why) => return refuse(why),
    };
    let public_url = match args.public_url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) => match http_url(url) {
            Ok(url) => Some(url),
            Err(why) => return refuse(format!("--public-url {why}")),
        },
    };
    let address = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let listening = format!("http://{}", listener.local_addr()?);
    let base = public_url.unwrap_or_else(|| listening.clone());
    let db = args.db.database();
    let store = match db.open().await {
        Ok(store) => store,
        Err(e) => return refuse(format!("cannot open {db}: {e}")),
    };
    let config = SandboxConfig {
        base_url: base.clone(),
        webhook_url: webhook_url.clone(),
        // Unused without a webhook URL: no event is signed then.
        webhook_secret: secret
            .as_ref()
            .map(|s| s.expose().to_string())
            .unwrap_or_default(),
        retry: DELIVERY_RETRY,
        dunning,
    };
    let sandbox = match Sandbox::start(config, store).await {
        Ok(sandbox) => sandbox,
        Err(e @ StoreError::SandboxHeld(_)) => return refuse(sandbox_refused(&e)),
        Err(e) => return refuse(format!("cannot start on {db}: {e}")),
    };
    let shutdown = super::serve::shutdown_signal();
    print_banner(
        &listening,
        &base,
        &db,
        webhook_url.as_deref(),
        secret.as_ref(),
    );
    crate::http::sandbox::run(
        listener,
        sandbox,
        crate::http::ConnectionLimits::default(),
        shutdown,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `text` if it is an absolute http(s) URL, without a trailing `/`.
fn http_url(text: &str) -> Result<String, String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Ok(text.trim_end_matches('/').to_string())
        }
        _ => Err(format!("`{text}` is not an http:// or https:// URL")),
    }
}

/// Where the sandbox is and where its events go (never the secret).
fn print_banner(
    listening: &str,
    base: &str,
    db: &paywire_store::Database,
    webhook_url: Option<&str>,
    secret: Option<&Secret>,
) {
    // The first line names the address, as `paywire serve`'s does: tests
    // and the benchmarks read it.
    println!("paywire sandbox (offline Stripe, no real money moves) on {listening}");
    println!("database: {db}");
    println!("Stripe API base {base} (or {base}/_stripe); any sk_test_… key");
    println!(
        "  instances: STRIPE_SECRET_KEY=sk_test_… STRIPE_API_BASE={base} paywire serve --db …"
    );
    match (webhook_url, secret) {
        (Some(url), Some(secret)) => {
            println!("webhook events to {url}, signed with STRIPE_WEBHOOK_SECRET ({secret})");
        }
        _ => println!("webhook events are kept but not sent (no --webhook-url)"),
    }
    println!("  health {listening}/_paywire/health");
}
