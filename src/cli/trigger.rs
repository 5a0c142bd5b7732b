//! `paywire trigger`: makes a Stripe event happen through the API calls of
//! its recipe (on the running server's sandbox or Stripe's test mode, never
//! with a live key), or sends an event of the builder's own, signed, to the
//! server's webhook endpoint.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Args};
use serde_json::Value;

use super::StripeArgs;
use crate::config;
use paywire_stripe::recipes::{self, RecipeError};

#[derive(Args, Debug)]
#[command(
    after_help = paywire_stripe::recipes::help(),
    group(ArgGroup::new("what").required(true).args(["event", "payload"]))
)]
pub struct TriggerArgs {
    /// The event type to make happen (`checkout.session.completed`), or a
    /// chain of them (`renewal`; listed below).
    #[arg(value_name = "EVENT_TYPE")]
    pub event: Option<String>,
    /// Send the event in FILE (JSON) to the webhook endpoint
    /// (PAYWIRE_WEBHOOK_PATH, /webhooks/stripe by default), signed now with
    /// STRIPE_WEBHOOK_SECRET.
    #[arg(long, value_name = "FILE")]
    pub payload: Option<PathBuf>,
    #[command(flatten)]
    pub stripe: StripeArgs,
}

/// Makes `args.event` happen through its recipe, or sends `--payload`.
pub(super) async fn trigger(args: TriggerArgs) -> anyhow::Result<ExitCode> {
    let server = args.stripe.server();
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
    let stripe = match args.stripe.target("paywire trigger") {
        Ok(stripe) => stripe,
        Err(refusal) => {
            eprintln!("{refusal}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("triggering {} on {}", recipe.event, stripe.described);
    let key_prefix = format!("paywire-trigger-{}", uuid::Uuid::new_v4().simple());
    let outcome = recipes::run(&stripe.client, recipe, stripe.target, &key_prefix, |done| {
        println!("  {}", format_step(done))
    })
    .await;
    match outcome {
        Ok(_) if recipe.chain.is_some() => {
            println!(
                "the {} chain's events follow ({}); see `paywire events`",
                recipe.event,
                recipe.events().join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(_) => {
            println!("the {} event follows; see `paywire events`", recipe.event);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("paywire trigger {}: {e}", recipe.event);
            if let RecipeError::Call { source, .. } = &e
                && let Some(hint) = stripe.hint(source)
            {
                eprintln!("{hint}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `POST /v1/customers ... cus_123`, the expected error of a step, or what
/// a polled step waited for (`... clock_123 status ready`).
fn format_step(done: &recipes::Done) -> String {
    let method = recipes::method_name(done.method);
    if let Some(until) = &done.waited_for {
        return format!(
            "{method} {} ... {} {} {}",
            done.path,
            done.object_id().unwrap_or("ok"),
            until.field,
            until.equals
        );
    }
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
async fn send_payload(file: &Path, server: &str) -> anyhow::Result<ExitCode> {
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
    let path = super::variable("PAYWIRE_WEBHOOK_PATH")
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
