//! The `paywire` command line: `serve`, `sandbox`, `check`, `runs`,
//! `events`, `replay`, `trigger`, `migrate`.
//!
//! Every flag can also be set by a `PAYWIRE_*` environment variable. This
//! module holds the commands, their dispatch and what several of them share;
//! each command, with its flags, is a module of its own.

mod admin;
mod check;
mod events;
mod migrate;
mod runs;
mod sandbox;
mod serve;
mod trigger;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::config;
use paywire_store::{Database, Store};

pub use events::{EventsArgs, format_events};
pub use migrate::MigrateArgs;
pub use runs::{RunsAction, RunsArgs, format_run, format_runs};
pub use sandbox::SandboxArgs;
pub use serve::ServeArgs;
pub use trigger::{TRIGGER_SANDBOX_KEY, TriggerArgs};

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
