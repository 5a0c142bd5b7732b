//! `paywire runs`: the runs recorded in the database, listed or one shown
//! step by step, and `runs retry`, which the running server carries out.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::{admin, open_database, print_as};
use paywire_store::{RunDetail, RunFilter, RunRecord, RunStatus};

#[derive(Args, Debug)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    #[command(flatten)]
    pub db: super::DatabaseArg,
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

/// Lists the runs, shows one, or hands `runs retry` to the running server.
pub(super) async fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    // A retry is the server's to do; only reading needs the database.
    let shown = match args.action {
        Some(RunsAction::Retry { id, server }) => return admin::retry(&id, &server).await,
        Some(RunsAction::Show { id }) => Some(id),
        None => None,
    };
    let Some(store) = open_database(&args.db.database()).await? else {
        return Ok(ExitCode::FAILURE);
    };
    if let Some(id) = shown {
        let Some(detail) = store.get_run(id.clone()).await? else {
            eprintln!("no run {id}");
            return Ok(ExitCode::FAILURE);
        };
        print_as(args.json, &detail, format_run)?;
        return Ok(ExitCode::SUCCESS);
    }
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
    print_as(args.json, runs.as_slice(), format_runs)?;
    Ok(ExitCode::SUCCESS)
}

/// A duration as a person reads it: milliseconds, or seconds past one.
fn format_duration(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms >= 1000.0 => format!("{:.2} s", ms / 1000.0),
        Some(ms) => format!("{ms:.1} ms"),
        None => "-".into(),
    }
}

/// The table of `paywire runs`, one run a line.
pub fn format_runs(runs: &[RunRecord]) -> String {
    if runs.is_empty() {
        return "no runs yet\n".into();
    }
    let mut out = format!(
        "{:<36}  {:<8} {:<28} {:<9} {:>4}  {:<24} {:<9} {}\n",
        "RUN", "KIND", "NAME", "STATUS", "HTTP", "STARTED", "DURATION", "INSTANCE"
    );
    for run in runs {
        out.push_str(&format!(
            "{:<36}  {:<8} {:<28} {:<9} {:>4}  {:<24} {:<9} {}\n",
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
            format_duration(run.duration_ms),
            run.instance.as_deref().unwrap_or("-")
        ));
    }
    out
}

/// A value on one line, cut at 160 characters so that a large input does
/// not drown the steps around it.
fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(160).collect::<String>())
    } else {
        text
    }
}

/// `paywire runs show`: a run, then each step indented by its nesting, with
/// its input, output and error.
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
