//! Recipes for `paywire trigger`: for each event type, the Stripe API calls
//! that make Stripe (or the sandbox) emit it, so that the real chain of
//! events follows, as the Stripe CLI's `stripe trigger` scripts do.
//!
//! A recipe is data: an event type and a list of [`Step`]s, each a name, a
//! method, a path and its parameters as JSON. Strings in a path or in the
//! parameters may hold references to the answers of earlier steps,
//! `${name:json.path}` (`${customer:id}`, `${session:amount_total}`). A step
//! may expect an error (a declined card, whose 402 is what makes the
//! `…payment_failed` event happen), and a step may exist only in the sandbox
//! (`POST /v1/payment_pages/{session}/confirm`, which pays a checkout session
//! without a browser). [`run`] executes a recipe through
//! [`StripeClient::call`](crate::client::StripeClient::call) and returns the
//! answers.
//!
//! This file holds what a recipe is and how one is found by its event type;
//! `table.rs` is every recipe, `run.rs` the runner, and `references.rs` the
//! `${name:json.path}` references it fills in.

mod references;
mod run;
mod table;

use serde_json::Value;

use crate::client::Method;

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
}

/// An error a step is expected to answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub status: u16,
    /// Stripe's error `type` (`card_error`).
    pub error_type: &'static str,
}

/// The calls that make one event happen.
#[derive(Clone, Copy, Debug)]
pub struct Recipe {
    pub event: &'static str,
    pub steps: &'static [Step],
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

/// The event types paywire has recipes for, sorted.
pub fn event_types() -> Vec<&'static str> {
    let mut types: Vec<&str> = RECIPES.iter().map(|r| r.event).collect();
    types.sort_unstable();
    types
}

/// `paywire trigger --help`'s list of the event types.
pub fn help() -> String {
    format!(
        "Event types with a recipe:\n  {}",
        event_types().join("\n  ")
    )
}

/// An event type without a recipe.
#[derive(Debug, thiserror::Error)]
#[error(
    "paywire has no recipe for `{event}`{} It makes these happen:\n  {}\n(For any other event, send one of your own with `paywire trigger --payload FILE`.)",
    suggestion.map(|s| format!("; did you mean `{s}`?")).unwrap_or_else(|| ".".into()),
    event_types().join("\n  ")
)]
pub struct UnknownEvent {
    pub event: String,
    pub suggestion: Option<&'static str>,
}

/// The recipe for `event`.
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
    }
}
