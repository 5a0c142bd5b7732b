//! `paywire events`: the Stripe events in the database's inbox, listed or
//! one shown with its payload and the runs it caused.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use super::runs::format_runs;
use super::{open_database, print_as};
use paywire_store::{EventFilter, EventRecord, EventState};

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show this event, its payload and the runs it caused.
    pub id: Option<String>,
    #[command(flatten)]
    pub db: super::DatabaseArg,
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

/// Lists the events received, or shows one with its payload and its runs.
pub(super) async fn events(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let Some(store) = open_database(&args.db.database()).await? else {
        return Ok(ExitCode::FAILURE);
    };
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
        Some(text) => match EventState::parse(text) {
            Some(state) => Some(state),
            None => {
                eprintln!("--state is pending, running, done, failed or ignored, not {text}");
                return Ok(ExitCode::FAILURE);
            }
        },
    };
    let events = store
        .list_events(EventFilter {
            state,
            event_type: args.event_type,
            limit: args.limit,
        })
        .await?;
    print_as(args.json, events.as_slice(), format_events)?;
    Ok(ExitCode::SUCCESS)
}

/// The table of `paywire events`, one event a line.
pub fn format_events(events: &[EventRecord]) -> String {
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
