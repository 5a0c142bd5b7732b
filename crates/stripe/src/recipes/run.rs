//! Running a recipe: its steps in order through the Stripe client, each
//! with its references filled in from the answers before it, a polled GET
//! asked again until its answer says so.

use serde_json::{Map, Value};

use super::poll::{PollError, poll_until};
use super::references::{resolve, substitute_path};
use super::{Done, Recipe};
use crate::client::{Call, CallError, StripeClient};

/// Where a recipe runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// paywire's offline sandbox, which has the private endpoints.
    Sandbox,
    /// Stripe itself (test mode).
    Stripe,
}

/// Why a recipe stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    #[error(
        "{event} needs a customer to pay on Stripe's hosted checkout page, which real Stripe offers only to a browser: open a session's url and pay with a test card (4242 4242 4242 4242), or use the Stripe CLI against real Stripe (`stripe trigger {event}`). Without STRIPE_SECRET_KEY, paywire's sandbox pays it for you (step {step})"
    )]
    SandboxOnly { event: String, step: &'static str },
    #[error("step {step}: {message}")]
    Reference { step: &'static str, message: String },
    #[error("step {step} ({method} {path}) failed: {source}")]
    Call {
        step: &'static str,
        method: &'static str,
        path: String,
        #[source]
        source: CallError,
    },
    #[error(
        "step {step} ({method} {path}): {source}; Stripe may still be working on it (see the object at that path), or try again"
    )]
    Waited {
        step: &'static str,
        method: &'static str,
        path: String,
        #[source]
        source: PollError,
    },
    #[error(
        "step {step} ({method} {path}) was to fail with a {expected} ({status}), which is what makes the event happen, but Stripe accepted it"
    )]
    NotDeclined {
        step: &'static str,
        method: &'static str,
        path: String,
        expected: &'static str,
        status: u16,
    },
}

/// Runs `recipe`'s steps in order through `client`, calling `on_step` as
/// each finishes, and returns their answers. POSTs carry the idempotency
/// key `{key_prefix}:{step}`, so that the client's retries do nothing twice.
pub async fn run(
    client: &StripeClient,
    recipe: &Recipe,
    target: Target,
    key_prefix: &str,
    mut on_step: impl FnMut(&Done),
) -> Result<Vec<Done>, RecipeError> {
    if target == Target::Stripe
        && let Some(step) = recipe.steps.iter().find(|s| s.sandbox_only)
    {
        return Err(RecipeError::SandboxOnly {
            event: recipe.event.to_string(),
            step: step.name,
        });
    }
    let mut answers: Vec<Done> = Vec::new();
    for step in recipe.steps {
        let reference = |message: String| RecipeError::Reference {
            step: step.name,
            message,
        };
        let path = substitute_path(step.path, &answers).map_err(reference)?;
        let params = match serde_json::from_str::<Value>(step.params) {
            Ok(Value::Object(params)) => params,
            _ => return Err(reference("its parameters are not a JSON object".into())),
        };
        let params = match resolve(&Value::Object(params), &answers).map_err(reference)? {
            Value::Object(params) => params,
            _ => Map::new(),
        };
        let call = Call {
            method: step.method,
            path: path.strip_prefix("/v1").unwrap_or(&path).to_string(),
            params,
            idempotency_key: Some(format!("{key_prefix}:{}", step.name)),
        };
        let (answer, expected_error) = match &step.until {
            Some(until) => {
                let answer = poll_until(client, &call, until)
                    .await
                    .map_err(|e| match e {
                        PollError::Call(source) => RecipeError::Call {
                            step: step.name,
                            method: step.method_name(),
                            path: path.clone(),
                            source,
                        },
                        source => RecipeError::Waited {
                            step: step.name,
                            method: step.method_name(),
                            path: path.clone(),
                            source,
                        },
                    })?;
                (answer, None)
            }
            None => match (client.call(&call).await, step.expects) {
                (Ok(answer), None) => (answer, None),
                (Err(CallError::Stripe { status, error }), Some(expected))
                    if error["type"] == expected.error_type =>
                {
                    (error, Some(status))
                }
                (Ok(_), Some(expected)) => {
                    return Err(RecipeError::NotDeclined {
                        step: step.name,
                        method: step.method_name(),
                        path,
                        expected: expected.error_type,
                        status: expected.status,
                    });
                }
                (Err(source), _) => {
                    return Err(RecipeError::Call {
                        step: step.name,
                        method: step.method_name(),
                        path,
                        source,
                    });
                }
            },
        };
        let done = Done {
            name: step.name,
            method: step.method,
            path,
            answer,
            expected_error,
            waited_for: step.until,
        };
        on_step(&done);
        answers.push(done);
    }
    Ok(answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipes::find;

    #[tokio::test]
    async fn against_real_stripe_the_checkout_page_needs_a_browser() {
        let client = StripeClient::new(
            &paywire_support::Secret::new("sk_test_nothing_is_called"),
            "http://127.0.0.1:9",
            crate::client::STRIPE_CALL_RETRY,
        )
        .unwrap();
        let recipe = find("checkout.session.completed").unwrap();
        let mut calls = 0;
        let e = run(&client, recipe, Target::Stripe, "k", |_| calls += 1)
            .await
            .unwrap_err();
        assert!(matches!(e, RecipeError::SandboxOnly { .. }));
        assert_eq!(calls, 0, "nothing is made before the refusal");
        let message = e.to_string();
        assert!(message.contains("browser"), "{message}");
        assert!(
            message.contains("stripe trigger checkout.session.completed"),
            "{message}"
        );
    }
}
