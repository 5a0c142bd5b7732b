//! Asking Stripe again until something is so: a GET repeated until a field
//! of its answer has a value, within a time limit. A test clock answers an
//! advance with `advancing` and is `ready` only once everything due on it
//! has happened, which takes the sandbox milliseconds and Stripe seconds or
//! minutes; recipes and `paywire clock advance` both wait for it here.

use std::time::Duration;

use paywire_support::backoff::Backoff;
use serde_json::Value;

use super::Until;
use super::references::lookup;
use crate::client::{Call, CallError, StripeClient};

/// How long to wait between two asks: soon at first, since the sandbox is
/// ready within milliseconds, then once a second, which stays far below
/// Stripe's rate limit however long a clock takes.
const POLL: Backoff = Backoff {
    attempts: u32::MAX,
    first_delay: Duration::from_millis(25),
    max_delay: Duration::from_secs(1),
};

/// Why a poll stopped before its field had its value.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("`{field}` was still `{seen}` after {} s, not `{equals}`", timeout.as_secs_f64())]
    TimedOut {
        field: &'static str,
        equals: &'static str,
        /// The field's last value, as text (`(none)` when it had none).
        seen: String,
        /// How long it was given.
        timeout: Duration,
        /// The last answer.
        last: Value,
    },
}

/// Makes `call` (a GET) until the field `until` names equals its value, and
/// returns that answer; gives up after `until.timeout`, or at the first call
/// that fails (after the client's own retries).
pub async fn poll_until(
    client: &StripeClient,
    call: &Call,
    until: &Until,
) -> Result<Value, PollError> {
    let started = tokio::time::Instant::now();
    let mut asked = 0;
    loop {
        let answer = client.call(call).await?;
        let seen = lookup(&answer, until.field);
        if seen.as_deref() == Some(until.equals) {
            return Ok(answer);
        }
        asked += 1;
        let waited = started.elapsed();
        if waited >= until.timeout {
            return Err(PollError::TimedOut {
                field: until.field,
                equals: until.equals,
                seen: seen.unwrap_or_else(|| "(none)".into()),
                timeout: until.timeout,
                last: answer,
            });
        }
        let pause = POLL.delay(asked).min(until.timeout - waited);
        tokio::time::sleep(pause).await;
    }
}
