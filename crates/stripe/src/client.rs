//! paywire's Stripe client: one call to Stripe's API through async-stripe,
//! with an idempotency key, retries with backoff on 429 and 5xx answers and
//! on network failures, and Stripe's errors kept whole.
//!
//! It speaks to whatever base it is given: Stripe itself, the sandbox, or any
//! Stripe-compatible server (`STRIPE_API_BASE`). Requests are built from
//! JSON (async-stripe encodes Stripe's bracket form) and answers come back as
//! JSON, so the actions need no typed request per endpoint.

use std::time::Duration;

use serde_json::{Map, Value, json};
use stripe_client_core::{RequestBuilder, StripeMethod};

use paywire_support::Secret;
use paywire_support::backoff::Backoff;

/// How often a call is tried when Stripe is busy or unreachable, unless the
/// settings say otherwise.
pub const STRIPE_CALL_RETRY: Backoff = Backoff {
    attempts: 4,
    first_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(8),
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

/// One call: `path` is relative to `/v1` (`/checkout/sessions`).
#[derive(Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub params: Map<String, Value>,
    /// Sent with POST requests only, as Stripe asks.
    pub idempotency_key: Option<String>,
}

/// A call that failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Stripe answered with its error envelope. `error` holds its `type`,
    /// `code`, `message`, `param`, `decline_code` (those it gave), with
    /// secrets masked.
    #[error("Stripe answered {status}: {}", error["message"].as_str().unwrap_or("(no message)"))]
    Stripe { status: u16, error: Value },
    /// Stripe could not be reached, or kept answering 429 or 5xx.
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    /// Stripe's answer was not the JSON it should be.
    #[error("Stripe's answer could not be read: {0}")]
    BadAnswer(String),
}

pub struct StripeClient {
    client: async_stripe::Client,
    retry: Backoff,
    api_base: String,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    /// A client for the API at `api_base` (`https://api.stripe.com`, or the
    /// sandbox's `http://HOST:PORT/_stripe`).
    pub fn new(
        secret_key: &Secret,
        api_base: &str,
        retry: Backoff,
    ) -> Result<StripeClient, String> {
        let base = format!("{}/", api_base.trim_end_matches('/'));
        let client = async_stripe::ClientBuilder::new(secret_key.expose())
            .url(base)
            .timeout(Duration::from_secs(80))
            .build()
            .map_err(|e| {
                format!(
                    "the Stripe client could not be built: {}",
                    mask_secrets(&e.to_string())
                )
            })?;
        Ok(StripeClient {
            client,
            retry,
            api_base: api_base.trim_end_matches('/').to_string(),
        })
    }

    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// Makes the call, retrying 429, 5xx and network failures with the same
    /// idempotency key, so that Stripe carries out a POST at most once.
    pub async fn call(&self, call: &Call) -> Result<Value, CallError> {
        let mut attempt = 1;
        loop {
            match self.call_once(call).await {
                Err(e) if attempt < self.retry.attempts && retryable(&e) => {
                    let wait = self.retry.delay(attempt);
                    tracing::info!(path = %call.path, attempt, error = %e, "Stripe call failed; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn call_once(&self, call: &Call) -> Result<Value, CallError> {
        let params = Value::Object(call.params.clone());
        let (method, with_body) = match call.method {
            Method::Get => (StripeMethod::Get, false),
            Method::Post => (StripeMethod::Post, true),
            Method::Delete => (StripeMethod::Delete, false),
        };
        let mut builder = RequestBuilder::new(method, call.path.clone());
        if !call.params.is_empty() {
            builder = if with_body {
                builder.form(&params)
            } else {
                builder.query(&params)
            };
        }
        let mut request = builder.customize::<miniserde::json::Value>();
        if let (Some(key), Method::Post) = (&call.idempotency_key, call.method) {
            let key = async_stripe::IdempotencyKey::new(key)
                .map_err(|e| CallError::BadAnswer(format!("bad idempotency key: {e}")))?;
            request = request.request_strategy(async_stripe::RequestStrategy::Idempotent(key));
        }
        match request.send(&self.client).await {
            Ok(answer) => {
                let text = miniserde::json::to_string(&answer);
                serde_json::from_str(&text).map_err(|e| CallError::BadAnswer(e.to_string()))
            }
            Err(async_stripe::StripeError::Stripe(error, status)) => Err(CallError::Stripe {
                status,
                error: error_json(&error),
            }),
            Err(async_stripe::StripeError::JSONDeserialize(e)) => Err(CallError::BadAnswer(e)),
            Err(e) => Err(CallError::Unreachable(mask_secrets(&e.to_string()))),
        }
    }
}

fn retryable(e: &CallError) -> bool {
    match e {
        CallError::Stripe { status, .. } => *status == 429 || *status >= 500,
        CallError::Unreachable(_) => true,
        CallError::BadAnswer(_) => false,
    }
}

/// Stripe's error as JSON, with the fields it gave.
fn error_json(error: &async_stripe::ApiErrors) -> Value {
    let mut fields = Map::new();
    fields.insert("type".into(), json!(error.type_.as_str()));
    let optional = [
        ("code", error.code.as_ref().map(|c| c.as_str().to_string())),
        ("message", error.message.clone()),
        ("param", error.param.clone()),
        ("decline_code", error.decline_code.clone()),
        ("charge", error.charge.clone()),
        ("doc_url", error.doc_url.clone()),
        (
            "payment_intent",
            error
                .payment_intent
                .as_ref()
                .map(|pi| pi.id.as_str().to_string()),
        ),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            fields.insert(name.into(), Value::String(mask_secrets(&value)));
        }
    }
    Value::Object(fields)
}

/// Masks anything that looks like a Stripe secret or restricted key, or a
/// webhook secret, in text that may reach a log, a record or a caller (Stripe
/// quotes part of a bad key in its message).
pub fn mask_secrets(text: &str) -> String {
    const PREFIXES: &[&str] = &["sk_test_", "sk_live_", "rk_test_", "rk_live_", "whsec_"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let next = PREFIXES
            .iter()
            .filter_map(|p| rest.find(p).map(|at| (at, *p)))
            .min_by_key(|(at, _)| *at);
        let Some((at, prefix)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        out.push_str(prefix);
        out.push_str("****");
        let after = &rest[at + prefix.len()..];
        let secret_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '*'))
            .unwrap_or(after.len());
        rest = &after[secret_len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_wherever_they_appear() {
        assert_eq!(
            mask_secrets("Invalid API Key provided: sk_test_abc123XYZ. Try again."),
            "Invalid API Key provided: sk_test_****. Try again."
        );
        assert_eq!(
            mask_secrets("rk_live_1 and whsec_zz, sk_live_****9999"),
            "rk_live_**** and whsec_****, sk_live_****"
        );
        assert_eq!(mask_secrets("no secrets here"), "no secrets here");
        assert_eq!(mask_secrets("sk_test_"), "sk_test_****");
    }
}
