//! Recipes for `paywire trigger`: for each event type, the Stripe API calls
//! that make Stripe (or the sandbox) emit it, so that the real chain of
//! events follows, as the Stripe CLI's `stripe trigger` scripts do.
//!
//! A recipe is data: an event type and a list of [`Step`]s, each a name, a
//! method, a path and its parameters as JSON. Strings in a path or in the
//! parameters may hold references to the answers of earlier steps,
//! `${name:json.path}` (`${customer:id}`, `${session:amount_total}`), and a
//! number may be moved by seconds (`${subscription:trial_end-172800}`). A
//! step may expect an error (a declined card, whose 402 is what makes the
//! `…payment_failed` event happen), a step may exist only in the sandbox
//! (`POST /v1/payment_pages/{session}/confirm`, which pays a checkout session
//! without a browser), and a GET may be asked again until a field of its
//! answer has a value ([`Until`]: a test clock `ready` after an advance).
//! [`run`] executes a recipe through
//! [`StripeClient::call`](crate::client::StripeClient::call) and returns the
//! answers.
//!
//! Most recipes make one event happen and are named by its type. A chain
//! ([`Chain`]) makes several happen over a test clock's time (`renewal`:
//! a subscription's renewal with its invoice's events) and is named by what
//! it shows.
//!
//! This file holds what a recipe is and how one is found by its name;
//! `table.rs` is every recipe, `run.rs` the runner, `poll.rs` the asking
//! again, and `references.rs` the `${name:json.path}` references the runner
//! fills in.

mod poll;
mod references;
mod run;
mod table;

use std::time::Duration;

use serde_json::Value;

use crate::client::Method;

pub use poll::{PollError, poll_until};
pub use references::{references, resolve, substitute};
pub use run::{RecipeError, Target, run};
pub use table::RECIPES;

/// One API call of a recipe.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    /// How later steps refer to this step's answer (`${name:id}`).
    pub name: &'static str,
    pub method: Method,
    /// Stripe's path, `/v1/…`, with references.
    pub path: &'static str,
    /// The parameters: a JSON object, with references in its strings. GET
    /// sends them as the query, POST as Stripe's form.
    pub params: &'static str,
    /// The error this step answers with, when that error is the point (a
    /// declined card makes `payment_intent.payment_failed` happen).
    pub expects: Option<Expected>,
    /// Only paywire's sandbox has this endpoint.
    pub sandbox_only: bool,
    /// For a GET: ask again until its answer says so (a test clock is
    /// `ready` some time after it was told to advance).
    pub until: Option<Until>,
}

/// What a polled GET waits for: a field of its answer equal to a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Until {
    /// A dotted path in the answer (`status`).
    pub field: &'static str,
    /// The value it waits for, as text (`ready`).
    pub equals: &'static str,
    /// How long it keeps asking before it gives up.
    pub timeout: Duration,
}

/// An error a step is expected to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub status: u16,
    /// Stripe's error `type` (`card_error`).
    pub error_type: &'static str,
}

/// The calls that make one event happen, or a chain of them.
#[derive(Clone, Copy, Debug)]
pub struct Recipe {
    /// The event type it makes happen, or a chain's name (`renewal`).
    pub event: &'static str,
    pub steps: &'static [Step],
    /// What a chain shows, when the recipe is one.
    pub chain: Option<Chain>,
}

/// A recipe that makes several events happen over a test clock's time.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    /// What it does, in a line, for `paywire trigger --help`.
    pub about: &'static str,
    /// The events it is there for, in the order they happen.
    pub events: &'static [&'static str],
}

impl Recipe {
    /// The events the recipe makes happen: its event, or its chain's.
    pub fn events(&self) -> Vec<&'static str> {
        match &self.chain {
            Some(chain) => chain.events.to_vec(),
            None => vec![self.event],
        }
    }
}

impl Step {
    pub fn method_name(&self) -> &'static str {
        method_name(self.method)
    }
}

pub fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Delete => "DELETE",
    }
}

/// One finished step.
#[derive(Clone, Debug)]
pub struct Done {
    pub name: &'static str,
    pub method: Method,
    /// The path as called, references filled in.
    pub path: String,
    /// Stripe's answer; for a step that answered its expected error, the
    /// error (`{"type": "card_error", …}`).
    pub answer: Value,
    /// The status of the expected error the step answered with.
    pub expected_error: Option<u16>,
    /// What a polled step waited for, which its answer now says.
    pub waited_for: Option<Until>,
}

impl Done {
    /// The id of what the step made or acted on (for a declined payment,
    /// the payment intent Stripe names in its error).
    pub fn object_id(&self) -> Option<&str> {
        self.answer
            .get("id")
            .or_else(|| self.answer.get("payment_intent"))
            .and_then(Value::as_str)
    }
}

/// The event types paywire has recipes for, sorted (chains apart).
pub fn event_types() -> Vec<&'static str> {
    let mut types: Vec<&str> = RECIPES
        .iter()
        .filter(|r| r.chain.is_none())
        .map(|r| r.event)
        .collect();
    types.sort_unstable();
    types
}

/// The chains, in the table's order, each as its name and what it does.
pub fn chains() -> Vec<(&'static str, &'static str)> {
    RECIPES
        .iter()
        .filter_map(|r| r.chain.map(|chain| (r.event, chain.about)))
        .collect()
}

/// `paywire trigger --help`'s list of the event types and the chains, a
/// line each, which an unknown name is also answered with.
pub fn help() -> String {
    let width = chains()
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let chains: Vec<String> = chains()
        .into_iter()
        .map(|(name, about)| format!("{name:width$}  {about}"))
        .collect();
    format!(
        "Event types with a recipe:\n  {}\n\nChains, several events over a test clock's time:\n  {}",
        event_types().join("\n  "),
        chains.join("\n  ")
    )
}

/// A name that is neither an event type with a recipe nor a chain.
#[derive(Debug, thiserror::Error)]
#[error(
    "paywire has no recipe for `{event}`{}\n\n{}\n\n(For any other event, send one of your own with `paywire trigger --payload FILE`.)",
    suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_else(|| ".".into()),
    help()
)]
pub struct UnknownEvent {
    pub event: String,
    pub suggestion: Option<&'static str>,
}

/// The recipe named `event`: an event type or a chain.
pub fn find(event: &str) -> Result<&'static Recipe, UnknownEvent> {
    let event = event.trim();
    RECIPES
        .iter()
        .find(|r| r.event == event)
        .ok_or_else(|| UnknownEvent {
            event: event.to_string(),
            suggestion: paywire_support::did_you_mean(event, RECIPES.iter().map(|r| r.event)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_events_list_the_known_ones_and_suggest_one() {
        let e = find("checkout.session.complete").unwrap_err();
        assert_eq!(e.suggestion, Some("checkout.session.completed"));
        let message = e.to_string();
        assert!(
            message.starts_with(
                "paywire has no recipe for `checkout.session.complete`; did you mean `checkout.session.completed`?"
            ),
            "{message}"
        );
        assert!(message.contains("\n  invoice.paid\n"), "{message}");
        let e = find("not.an.event").unwrap_err();
        assert_eq!(e.suggestion, None);
        assert!(
            e.to_string().contains("--payload FILE"),
            "{}",
            e.to_string()
        );
        assert_eq!(find(" invoice.paid ").unwrap().event, "invoice.paid");
        assert_eq!(find("renewl").unwrap_err().suggestion, Some("renewal"));
    }

    #[test]
    fn the_help_lists_event_types_then_the_chains_a_line_each() {
        let help = help();
        let (types, chains) = help.split_once("\n\nChains").unwrap();
        assert!(types.contains("\n  invoice.paid\n"), "{help}");
        assert!(!types.contains("renewal"), "{help}");
        let lines: Vec<&str> = chains.lines().skip(1).collect();
        assert_eq!(lines.len(), 4, "{help}");
        assert!(
            lines[0].starts_with("  renewal             a monthly subscription"),
            "{help}"
        );
        for (line, name) in lines.iter().zip([
            "renewal",
            "failed-renewal",
            "trial-will-end",
            "past-due-recovered",
        ]) {
            assert_eq!(line.split_whitespace().next(), Some(name), "{help}");
        }
        assert_eq!(
            find("failed-renewal").unwrap().events()[3],
            "invoice.payment_failed"
        );
        assert_eq!(find("invoice.paid").unwrap().events(), vec!["invoice.paid"]);
    }
}
