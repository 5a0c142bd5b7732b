//! Sends the sandbox's events to the webhook endpoint, signed as Stripe signs
//! them, retrying with backoff while the endpoint does not answer 2xx. Each
//! attempt is recorded, so a restart resumes what was not delivered.
//! Deliveries stop with their sandbox: once it gave up its state, another
//! sandbox on the database resumes them.

use std::sync::{Arc, Weak};
use std::time::Duration;

use paywire_store::{SandboxChanges, SandboxDelivery, Store};
use paywire_stripe::signature;
use paywire_support::backoff::Backoff;

/// How often the sandbox tries to deliver an event, unless its settings say
/// otherwise.
pub const DELIVERY_RETRY: Backoff = Backoff {
    attempts: 8,
    first_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(300),
};

pub struct Deliverer {
    url: Option<String>,
    secret: String,
    retry: Backoff,
    store: Arc<dyn Store>,
    client: reqwest::Client,
    /// Lives as long as the deliverer; a delivery that finds it gone stops.
    alive: Arc<()>,
}

impl Deliverer {
    pub fn new(
        url: Option<String>,
        secret: String,
        retry: Backoff,
        store: Arc<dyn Store>,
    ) -> Deliverer {
        Deliverer {
            url,
            secret,
            retry,
            store,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks)")
                .build()
                .unwrap_or_default(),
            alive: Arc::new(()),
        }
    }

    /// Delivers one event (its exact JSON) in the background; `attempts_made`
    /// counts the attempts before a restart.
    pub fn send(&self, event_id: String, body: String, attempts_made: u32) {
        let Some(url) = self.url.clone() else { return };
        let secret = self.secret.clone();
        let retry = self.retry;
        let store = self.store.clone();
        let client = self.client.clone();
        let alive: Weak<()> = Arc::downgrade(&self.alive);
        tokio::spawn(async move {
            for attempt in attempts_made + 1..=retry.attempts {
                if alive.strong_count() == 0 {
                    return;
                }
                let now = chrono::Utc::now().timestamp();
                let signature = signature::header(body.as_bytes(), &secret, now);
                let outcome = client
                    .post(&url)
                    .header("content-type", "application/json; charset=utf-8")
                    .header("stripe-signature", signature)
                    .body(body.clone())
                    .send()
                    .await;
                let error = match outcome {
                    Ok(response) if response.status().is_success() => None,
                    Ok(response) => Some(format!("the endpoint answered {}", response.status())),
                    Err(e) => Some(format!("the endpoint could not be reached: {e}")),
                };
                let delivered = error.is_none();
                let record = SandboxChanges {
                    deliveries: vec![SandboxDelivery {
                        event_id: event_id.clone(),
                        attempts: attempt,
                        delivered,
                        last_error: error.clone(),
                    }],
                    ..SandboxChanges::default()
                };
                if let Err(e) = store.sandbox_commit(record).await {
                    tracing::warn!(event = %event_id, error = %e, "could not record a webhook delivery");
                }
                match error {
                    None => return,
                    Some(error) if attempt < retry.attempts => {
                        let wait = retry.delay(attempt);
                        tracing::info!(event = %event_id, attempt, %error, "webhook delivery failed; retrying in {wait:?}");
                        tokio::time::sleep(wait).await;
                    }
                    Some(error) => {
                        tracing::warn!(event = %event_id, attempts = attempt, %error, "webhook delivery gave up");
                    }
                }
            }
        });
    }
}
