//! The webhook inbox's worker: it takes stored Stripe events in order of
//! arrival and runs every backend workflow whose trigger matches, with
//! `context.event` to switch on.
//!
//! An event is stored (and acknowledged) by the HTTP layer before anything
//! runs; the worker only ever reads it from the store, so an event is never
//! lost: a failed workflow is retried with backoff, then the event is marked
//! failed until `paywire replay` puts it back; after a crash, events that
//! were running are pending again. Effects stay single across all of these:
//! each attempt is a run that retries the first one, which reuses the
//! recorded results of actions that already succeeded and the same Stripe
//! idempotency keys.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::app::App;
use crate::model::trigger::event_action;
use crate::model::{Project, Trigger, Workflow};
use crate::runner::{RunIdentity, new_run_id};
use crate::store::{EventRecord, EventState, EventUpdate, RunRecord, RunStatus, StoreError};

/// How the workflows of an event are retried when one fails.
#[derive(Clone, Debug)]
pub struct EventRetry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for EventRetry {
    fn default() -> EventRetry {
        EventRetry {
            attempts: 5,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl EventRetry {
    /// The wait after failed attempt `n` (from 1): doubling, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// How many due events the worker takes at a time.
const BATCH: u32 = 256;

/// Wakes the worker when an event arrives.
#[derive(Default)]
pub struct Inbox {
    arrived: Notify,
}

impl Inbox {
    pub fn wake(&self) {
        self.arrived.notify_one();
    }
}

/// What `context.event` holds for a Stripe event.
pub fn event_context(event: &Value) -> Value {
    let mut context = recorded_event_context(event);
    context["event"]["raw"] = event.clone();
    context
}

/// What a run started by `event` records of its context: all of it but
/// `raw`, the event's payload again, which the event's own record keeps.
fn recorded_event_context(event: &Value) -> Value {
    let event_type = event["type"].as_str().unwrap_or_default();
    let object = &event["data"]["object"];
    json!({
        "parameters": {},
        "event": {
            "id": event["id"],
            "type": event_type,
            "action": event_action(event_type),
            "status": object.get("status").cloned().unwrap_or(Value::Null),
            "object": object,
            "previous_attributes": event["data"].get("previous_attributes").cloned().unwrap_or(Value::Null),
            "created": event["created"],
            "livemode": event["livemode"],
            "api_version": event["api_version"],
        }
    })
}

/// The workflows whose trigger matches an event of this type about an
/// object of this type.
pub fn listeners<'a>(
    project: &'a Project,
    event_type: &'a str,
    object_type: &'a str,
) -> impl Iterator<Item = &'a Arc<Workflow>> + 'a {
    project
        .workflows
        .values()
        .filter(move |w| match &w.trigger {
            Trigger::Stripe(trigger) => trigger.matches(event_type, object_type),
            Trigger::Manual | Trigger::Startup => false,
        })
}

/// Runs the worker until the app is gone.
pub fn spawn_worker(app: &Arc<App>) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(app);
    let inbox = app.inbox().clone();
    tokio::spawn(async move {
        loop {
            let wait = match work(&weak).await {
                Some(wait) => wait,
                None => return,
            };
            tokio::select! {
                _ = inbox.arrived.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

/// Runs every due event; returns how long to sleep before the next one is
/// due, or `None` once the app is gone.
async fn work(app: &Weak<App>) -> Option<Duration> {
    loop {
        let app = app.upgrade()?;
        let now = now_ms();
        let reading = std::time::Instant::now();
        let due = match app.store().due_events(now, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(error = %e, "the inbox could not read its events");
                return Some(Duration::from_secs(1));
            }
        };
        if due.is_empty() {
            let next = app.store().next_event_due().await.ok().flatten();
            let wait = match next {
                Some(at) => Duration::from_millis((at - now).clamp(10, 5_000) as u64),
                None => Duration::from_secs(5),
            };
            return Some(wait);
        }
        tracing::debug!(
            events = due.len(),
            ms = reading.elapsed().as_secs_f64() * 1000.0,
            "the inbox read its due events"
        );
        if let Err(e) = run_batch(&app, due).await {
            tracing::error!(error = %e, "the inbox could not record an event's progress");
            return Some(Duration::from_secs(1));
        }
    }
}

/// Runs a batch of due events: the events about one object in order of
/// arrival, the objects side by side, so that their writes share commits
/// (one fsync for many events) while an object never sees its events out
/// of the order they came in.
async fn run_batch(app: &Arc<App>, due: Vec<EventRecord>) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let count = due.len();
    // Runs an event already caused (an earlier attempt, or one cut short by
    // a crash) decide what is left to do; one query finds them for the batch.
    let ids = due.iter().map(|e| e.id.clone()).collect();
    let mut earlier: HashMap<String, Vec<RunRecord>> = HashMap::new();
    for run in app.store().runs_of_events(ids).await? {
        if let Some(event) = run.trigger_event.clone() {
            earlier.entry(event).or_default().push(run);
        }
    }
    let mut lanes: Vec<(Option<String>, Vec<EventRecord>)> = Vec::new();
    let mut lane_of: HashMap<String, usize> = HashMap::new();
    for event in due {
        match event.object_id.as_ref().and_then(|o| lane_of.get(o)) {
            Some(&lane) => lanes[lane].1.push(event),
            None => {
                if let Some(object) = &event.object_id {
                    lane_of.insert(object.clone(), lanes.len());
                }
                lanes.push((event.object_id.clone(), vec![event]));
            }
        }
    }
    let mut running = tokio::task::JoinSet::new();
    for (_, events) in lanes {
        let app = app.clone();
        let events: Vec<_> = events
            .into_iter()
            .map(|e| {
                let runs = earlier.remove(&e.id).unwrap_or_default();
                (e, runs)
            })
            .collect();
        running.spawn(async move {
            for (event, runs) in events {
                process(&app, event, runs).await?;
            }
            Ok::<(), StoreError>(())
        });
    }
    let lanes = running.len();
    let mut outcome = Ok(());
    while let Some(done) = running.join_next().await {
        match done {
            Ok(Err(e)) => outcome = Err(e),
            Err(e) => tracing::error!(error = %e, "an event's task ended abnormally"),
            Ok(Ok(())) => {}
        }
    }
    tracing::debug!(
        events = count,
        lanes,
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "the inbox ran a batch"
    );
    outcome
}

/// Runs the matching workflows of one event and records where it stands.
/// `earlier` are the runs the event caused before, oldest first.
///
/// The event stays `pending` while its workflows run: should the process
/// stop meanwhile, it is taken up again, and `earlier` then says which
/// workflows finished and what the others already did.
async fn process(app: &App, event: EventRecord, earlier: Vec<RunRecord>) -> Result<(), StoreError> {
    let store = app.store();
    let mut update = EventUpdate {
        id: event.id.clone(),
        state: EventState::Pending,
        attempts: event.attempts,
        next_attempt_at: event.next_attempt_at,
        last_error: event.last_error.clone(),
        finished_at: None,
    };
    let deployment = app.current();
    let matching: Vec<_> = listeners(&deployment.project, &event.event_type, &event.object_type)
        .cloned()
        .collect();
    if matching.is_empty() {
        update.state = EventState::Ignored;
        update.finished_at = Some(now_text());
        return store.event_update(update).await;
    }
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    let recorded = recorded_event_context(&payload);
    let mut context = recorded.clone();
    context["event"]["raw"] = payload;
    let mut failures = Vec::new();
    for workflow in matching {
        let runs: Vec<_> = earlier.iter().filter(|r| r.name == workflow.name).collect();
        if runs.iter().any(|r| r.status == RunStatus::Succeeded) {
            continue;
        }
        let retry_of = runs
            .first()
            .map(|first| first.retry_of.clone().unwrap_or_else(|| first.id.clone()));
        let identity = RunIdentity {
            id: new_run_id(),
            retry_of,
            trigger_event: Some(event.id.clone()),
        };
        let outcome = deployment
            .runner
            .run_workflow(
                identity,
                workflow.clone(),
                context.clone(),
                recorded.clone(),
            )
            .await;
        if let Some(e) = outcome.error {
            failures.push(format!("{}: {}: {}", workflow.name, e.name, e.message));
        }
    }
    update.attempts = event.attempts + 1;
    let retry = &app.settings().event_retry;
    if failures.is_empty() {
        update.state = EventState::Done;
        update.last_error = None;
        update.finished_at = Some(now_text());
    } else if update.attempts >= retry.attempts {
        tracing::warn!(event = %event.id, attempts = update.attempts, "an event's workflows kept failing; it waits for `paywire replay`");
        update.state = EventState::Failed;
        update.last_error = Some(failures.join("; "));
        update.finished_at = Some(now_text());
    } else {
        let wait = retry.delay(update.attempts);
        tracing::info!(event = %event.id, attempt = update.attempts, "an event's workflow failed; retrying in {wait:?}");
        update.state = EventState::Pending;
        update.last_error = Some(failures.join("; "));
        update.next_attempt_at = now_ms() + wait.as_millis() as i64;
    }
    store.event_update(update).await
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_names_the_action_and_the_object_s_status() {
        let event = json!({
            "id": "evt_1", "type": "customer.subscription.updated", "created": 1700000000, "livemode": false,
            "data": {"object": {"id": "sub_1", "object": "subscription", "status": "active"},
                     "previous_attributes": {"status": "trialing"}}
        });
        let context = event_context(&event);
        let e = &context["event"];
        assert_eq!(e["action"], "updated");
        assert_eq!(e["status"], "active");
        assert_eq!(e["previous_attributes"]["status"], "trialing");
        assert_eq!(e["object"]["id"], "sub_1");
        assert_eq!(e["raw"]["id"], "evt_1");
        let no_status = event_context(
            &json!({"id": "evt_2", "type": "product.created", "data": {"object": {"object": "product"}}}),
        );
        assert_eq!(no_status["event"]["status"], Value::Null);
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_the_cap() {
        let retry = EventRetry {
            attempts: 9,
            first_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
        };
        let waits: Vec<u64> = (1..=5).map(|n| retry.delay(n).as_secs()).collect();
        assert_eq!(waits, vec![2, 4, 8, 10, 10]);
    }
}
