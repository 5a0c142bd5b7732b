//! The `paywire` command line: `serve`, `sandbox`, `check`, `runs`,
//! `events`, `replay`, `trigger`, `clock`, `migrate`.
//!
//! Every flag can also be set by a `PAYWIRE_*` environment variable. This
//! module holds the commands, their dispatch and what several of them share
//! (among it the Stripe that `trigger` and `clock` speak to); each command,
//! with its flags, is a module of its own.

mod admin;
mod check;
mod clock;
mod events;
mod migrate;
mod runs;
mod sandbox;
mod serve;
mod trigger;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::config;
use paywire_store::{Database, Store};
use paywire_stripe::client::{CallError, StripeClient};
use paywire_stripe::recipes::Target;
use paywire_support::backoff::Backoff;

pub use clock::{ClockAction, ClockArgs};
pub use events::{EventsArgs, format_events};
pub use migrate::MigrateArgs;
pub use runs::{RunsAction, RunsArgs, format_run, format_runs};
pub use sandbox::SandboxArgs;
pub use serve::ServeArgs;
pub use trigger::TriggerArgs;

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
    /// Serve the offline Stripe sandbox on its own, keeping its state in the
    /// database: the one Stripe that several instances on that database
    /// share (start them with STRIPE_SECRET_KEY=sk_test_… and
    /// STRIPE_API_BASE=http://HOST:PORT).
    Sandbox(SandboxArgs),
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
    /// Create, advance and list Stripe test clocks, on the running
    /// paywire's sandbox (or, with a test STRIPE_SECRET_KEY, on Stripe's
    /// test mode): the time that customers made on a clock, and their
    /// subscriptions and invoices, live on.
    Clock(ClockArgs),
    /// Copy a SQLite database whole (the builder's tables, runs, events,
    /// console sign-outs, the sandbox's state) into an empty PostgreSQL
    /// database, to serve it from several instances. Stop the server using
    /// the file first.
    Migrate(MigrateArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Sandbox(args) => sandbox::sandbox(args).await,
        Command::Check { dir } => Ok(check::check(&dir)),
        Command::Runs(args) => runs::runs(args).await,
        Command::Events(args) => events::events(args).await,
        Command::Replay { event_id, server } => admin::replay(&event_id, &server).await,
        Command::Trigger(args) => trigger::trigger(args).await,
        Command::Clock(args) => clock::clock(args).await,
        Command::Migrate(args) => migrate::migrate(args).await,
    }
}

/// A variable of the environment, trimmed; `None` when it is unset or blank,
/// so that an empty `export` counts as not set.
fn variable(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty())
}

/// The admin token, read from the environment only (a flag would show in
/// the process list and the shell's history).
fn admin_token() -> Option<config::Secret> {
    variable("PAYWIRE_ADMIN_TOKEN").map(config::Secret::new)
}

/// Where paywire keeps its data, as every command that opens the store
/// reads it: `--db`, else `PAYWIRE_DB`, else `PAYWIRE_DATABASE_URL` (the name
/// hosting platforms give a database's URL), else `paywire.db`.
#[derive(clap::Args, Debug, Clone)]
pub struct DatabaseArg {
    /// The database: a SQLite file (created if missing), or a PostgreSQL
    /// database as postgres://USER:PASSWORD@HOST:PORT/NAME, which several
    /// instances can share [default: paywire.db; also PAYWIRE_DATABASE_URL]
    #[arg(
        long = "db",
        env = "PAYWIRE_DB",
        value_name = "FILE|URL",
        hide_env_values = true,
        global = true
    )]
    db: Option<String>,
}

impl DatabaseArg {
    pub fn database(&self) -> Database {
        self.db
            .clone()
            .or_else(|| variable("PAYWIRE_DATABASE_URL"))
            .map_or_else(
                || Database::Sqlite("paywire.db".into()),
                |text| Database::parse(&text),
            )
    }
}

/// Opens the database that `runs` and `events` read. Opening creates a
/// missing file, and an empty database would only say that nothing ran, so
/// a path that names no file is refused with what to do instead.
async fn open_database(db: &Database) -> anyhow::Result<Option<Arc<dyn Store>>> {
    if !db.exists() {
        eprintln!("no database at {db} (serve creates it; --db or PAYWIRE_DB names another)");
        return Ok(None);
    }
    let store = db
        .open()
        .await
        .with_context(|| format!("cannot open {db}"))?;
    Ok(Some(store))
}

/// Prints `value` as JSON when `--json` asks for it, else as the table that
/// `table` makes of it.
fn print_as<T: Serialize + ?Sized>(
    json: bool,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        print!("{}", table(value));
    }
    Ok(())
}

/// The key `paywire trigger` and `paywire clock` give the sandbox (it takes
/// any test key).
pub const TRIGGER_SANDBOX_KEY: &str = "sk_test_paywire_trigger";

/// How the client commands retry their calls: fewer and shorter waits than
/// the server's, since someone is watching the terminal.
const CLIENT_RETRY: Backoff = Backoff {
    attempts: 3,
    first_delay: Duration::from_millis(250),
    max_delay: Duration::from_secs(2),
};

/// Where `paywire trigger` and `paywire clock` send their Stripe calls: the
/// running server's sandbox, or Stripe's test mode when the environment has
/// a test key.
#[derive(clap::Args, Debug, Clone)]
pub struct StripeArgs {
    /// The running paywire server, whose sandbox (under /_stripe) is called
    /// when no Stripe key is set.
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

/// The Stripe a client command speaks to.
pub struct StripeTarget {
    pub client: StripeClient,
    pub target: Target,
    /// Where, for messages: `paywire's sandbox at URL/_stripe`, or
    /// `Stripe's test mode at BASE (key sk_test_**** from STRIPE_SECRET_KEY)`.
    pub described: String,
    /// The paywire server named, whose sandbox is called when no key is set.
    server: String,
}

impl StripeArgs {
    /// The paywire server named, without a trailing `/`.
    pub fn server(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    /// The Stripe that `command` (`paywire trigger`) is to call, or the
    /// message saying why it will not run: a live key (whichever way it was
    /// given), an unknown environment, a config file it cannot read.
    pub fn target(&self, command: &str) -> Result<StripeTarget, String> {
        let live_refused = |what: String| {
            format!(
                "{command} will not run: {what}. Test clocks and triggered events are test data, and making them against live money is never right; use a test key (sk_test_…), or no key to use the sandbox of a running `paywire serve`."
            )
        };
        let environment = match self.environment.parse::<config::Environment>() {
            Ok(config::Environment::Production) => {
                return Err(live_refused(
                    "PAYWIRE_ENV is production, whose key is live".into(),
                ));
            }
            Ok(environment) => environment,
            Err(e) => return Err(format!("{command} will not run: {e}")),
        };
        let connections = match config::resolve(
            environment,
            &|name| std::env::var(name).ok(),
            self.config.as_deref(),
        ) {
            Ok(connections) => connections,
            Err(config::ConfigError::LiveKeyOutsideProduction { origin, kind, .. }) => {
                return Err(live_refused(format!("{origin} is a live key ({kind}…)")));
            }
            Err(e) => return Err(format!("{command} will not run: {e}")),
        };
        let server = self.server().to_string();
        let (key, api_base, target, described) = match connections.stripe {
            Some(stripe) if stripe.mode == config::KeyMode::Live => {
                return Err(live_refused(format!(
                    "{} is a live key ({}…)",
                    stripe.key_source,
                    stripe.secret_key.kind()
                )));
            }
            Some(stripe) => {
                let described = format!(
                    "Stripe's test mode at {} (key {} from {})",
                    stripe.api_base, stripe.secret_key, stripe.key_source
                );
                (
                    stripe.secret_key,
                    stripe.api_base,
                    Target::Stripe,
                    described,
                )
            }
            None => {
                let base = format!("{server}/_stripe");
                (
                    config::Secret::new(TRIGGER_SANDBOX_KEY),
                    base.clone(),
                    Target::Sandbox,
                    format!("paywire's sandbox at {base}"),
                )
            }
        };
        let client = StripeClient::new(&key, &api_base, CLIENT_RETRY)?;
        Ok(StripeTarget {
            client,
            target,
            described,
            server,
        })
    }
}

impl StripeTarget {
    /// What to check when a call failed because nothing Stripe-like
    /// answered: whether a `paywire serve` with its sandbox runs where the
    /// command looked. Stripe's own "no such object" (`resource_missing`)
    /// is an answer, not a missing sandbox.
    pub fn hint(&self, e: &CallError) -> Option<String> {
        let nothing_there = match e {
            CallError::Unreachable(_) | CallError::BadAnswer(_) => true,
            CallError::Stripe { status: 404, error } => error["code"] != "resource_missing",
            CallError::Stripe { .. } => false,
        };
        (self.target == Target::Sandbox && nothing_there).then(|| {
            format!(
                "Is `paywire serve` running at {} without STRIPE_SECRET_KEY, so that it serves its sandbox under /_stripe? Name another server with --url or PAYWIRE_SERVER.",
                self.server
            )
        })
    }
}
