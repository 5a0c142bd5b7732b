//! Sends the sandbox's events to webhook endpoints, each signed with its
//! endpoint's secret as Stripe signs them, retrying with backoff while the
//! endpoint does not answer 2xx. An event goes to every endpoint that takes
//! it, and each (event, endpoint) delivery is recorded after every attempt,
//! with the event's `pending_webhooks`, so a restart resumes what was not
//! delivered. Deliveries stop with their sandbox: once it gave up its state,
//! another sandbox on the database resumes them.

use std::sync::Arc;
use std::time::Duration;

use paywire_store::SandboxDelivery;
use paywire_stripe::signature;
use paywire_support::backoff::Backoff;

use crate::Sandbox;
use crate::state::CONFIGURED_ENDPOINT;

/// How often the sandbox tries to deliver an event, unless its settings say
/// otherwise.
pub const DELIVERY_RETRY: Backoff = Backoff {
    attempts: 8,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(300),
};

/// What deliveries share: the retry policy and the HTTP client.
pub struct Deliverer {
    retry: Backoff,
    client: reqwest::Client,
}

impl Deliverer {
    pub fn new(retry: Backoff) -> Deliverer {
        Deliverer {
            retry,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks)")
                .build()
                .unwrap_or_default(),
        }
    }
}

/// How many attempts a delivery makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempts {
    /// The retry policy's, counting those made before (a restart resumes).
    After(u32),
    /// One attempt now, whatever was made before: a retry asked for
    /// through the API, as `stripe events resend` asks.
    OnceMore(u32),
}

/// Where one delivery goes and what it sends.
struct Target {
    url: String,
    secret: String,
    body: String,
}

impl Sandbox {
    /// Delivers the event `event_id` to `endpoint` in the background.
    pub(crate) fn deliver(
        self: &Arc<Sandbox>,
        event_id: String,
        endpoint: String,
        attempts: Attempts,
    ) {
        let sandbox = Arc::downgrade(self);
        tokio::spawn(async move {
            let (mut made, once) = match attempts {
                Attempts::After(made) => (made, false),
                Attempts::OnceMore(made) => (made, true),
            };
            loop {
                made += 1;
                // The sandbox is held only between the attempts' requests,
                // so that a sandbox that stops is not kept alive by them.
                let Some(live) = sandbox.upgrade() else {
                    return;
                };
                let retry = live.deliveries.retry;
                if !once && made > retry.attempts {
                    return;
                }
                // An endpoint deleted or disabled meanwhile gets no more.
                let Some(target) = live.target(&event_id, &endpoint) else {
                    return;
                };
                let client = live.deliveries.client.clone();
                drop(live);
                let error = attempt(&client, &target).await;
                let Some(live) = sandbox.upgrade() else {
                    return;
                };
                let record = SandboxDelivery {
                    event_id: event_id.clone(),
                    endpoint: endpoint.clone(),
                    attempts: made,
                    delivered: error.is_none(),
                    last_error: error.clone(),
                };
                let stored = live
                    .transact(
                        None,
                        None,
                        |tx| tx.record_delivery(record),
                        |_| true,
                        |_| None,
                    )
                    .await;
                drop(live);
                if let Err(e) = stored {
                    tracing::warn!(event = %event_id, %endpoint, error = %e, "could not record a webhook delivery");
                }
                match error {
                    None => return,
                    Some(error) if !once && made < retry.attempts => {
                        let wait = retry.delay(made);
                        tracing::info!(event = %event_id, %endpoint, attempt = made, %error, "webhook delivery failed; retrying in {wait:?}");
                        tokio::time::sleep(wait).await;
                    }
                    Some(error) => {
                        tracing::warn!(event = %event_id, %endpoint, attempts = made, %error, "webhook delivery stopped");
                        return;
                    }
                }
            }
        });
    }

    /// Where a delivery goes now: the configured URL, or an enabled
    /// endpoint's, with its secret and the event as it stands.
    fn target(&self, event_id: &str, endpoint: &str) -> Option<Target> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let body = state.get(event_id)?.to_string();
        let (url, secret) = if endpoint == CONFIGURED_ENDPOINT {
            (
                self.config.webhook_url.clone()?,
                self.config.webhook_secret.clone(),
            )
        } else {
            let found = state.get(endpoint)?;
            if found.get("deleted").is_some() || found["status"] != "enabled" {
                return None;
            }
            (
                found["url"].as_str()?.to_string(),
                found["x_secret"].as_str()?.to_string(),
            )
        };
        Some(Target { url, secret, body })
    }
}

/// One attempt: `None` when the endpoint answered 2xx, else why not. The
/// message names the status or the failure, never the secret.
async fn attempt(client: &reqwest::Client, target: &Target) -> Option<String> {
    let now = chrono::Utc::now().timestamp();
    let signature = signature::header(target.body.as_bytes(), &target.secret, now);
    let outcome = client
        .post(&target.url)
        .header("content-type", "application/json; charset=utf-8")
        .header("stripe-signature", signature)
        .body(target.body.clone())
        .send()
        .await;
    match outcome {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("the endpoint answered {}", response.status())),
        Err(e) => Some(format!(
            "the endpoint could not be reached: {}",
            e.without_url()
        )),
    }
}

/// Whether every delivery of an event succeeded; an event that went to no
/// endpoint has none that failed.
pub fn delivered(deliveries: &[SandboxDelivery]) -> bool {
    deliveries.iter().all(|d| d.delivered)
}
