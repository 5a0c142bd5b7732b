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
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::deployment::{Deployment, Deployments};
use crate::runner::{RunIdentity, new_run_id};
use paywire_model::trigger::event_action;
use paywire_model::{Project, Trigger, Workflow};
use paywire_store::{
    EventClaim, EventRecord, EventState, EventUpdate, RunRecord, RunStatus, Store, StoreError,
};
use paywire_support::Backoff;

/// How the workflows of an event are retried when one fails, unless the
/// settings say otherwise.
pub const EVENT_RETRY: Backoff = Backoff {
    attempts: 5,
    first_delay: Duration::from_secs(2),
    max_delay: Duration::from_secs(300),
};

/// How many due events the worker reads at a time.
const READ_BATCH: u32 = 256;
/// How many events may be running at once. Their writes share commits, so
/// more in flight means more events per fsync.
const MAX_IN_FLIGHT: usize = 1024;

/// Wakes the worker when an event arrives or is put back.
#[derive(Default)]
pub struct Inbox {
    arrived: Notify,
    /// Set when an event that arrived long ago is pending again (a replay),
    /// which reading only newer arrivals would miss.
    rescan: AtomicBool,
    /// Set when this instance stops serving: the worker claims nothing
    /// more and the heartbeat stops (see `Engine::leave`).
    closed: AtomicBool,
}

impl Inbox {
    /// A new event is stored.
    pub fn wake(&self) {
        self.arrived.notify_one();
    }

    /// An event stored earlier is pending again.
    pub fn rescan(&self) {
        self.rescan.store(true, Ordering::SeqCst);
        self.arrived.notify_one();
    }

    /// Stops the worker, which wakes to find it so.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.arrived.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

/// What `context.event` holds for a Stripe event.
///
/// Built by moving and cloning values rather than with `json!`, which would
/// copy the event (kilobytes) through serde twice.
pub fn event_context(event: Value) -> Value {
    let data = &event["data"];
    let object = data["object"].clone();
    let previous_attributes = data
        .get("previous_attributes")
        .cloned()
        .unwrap_or(Value::Null);
    let event_type = event["type"].as_str().unwrap_or_default();
    let mut fields = Map::new();
    fields.insert("id".into(), event["id"].clone());
    fields.insert("type".into(), Value::from(event_type));
    fields.insert("action".into(), Value::from(event_action(event_type)));
    fields.insert(
        "status".into(),
        object.get("status").cloned().unwrap_or(Value::Null),
    );
    fields.insert("previous_attributes".into(), previous_attributes);
    for key in ["created", "livemode", "api_version"] {
        fields.insert(key.into(), event[key].clone());
    }
    fields.insert("object".into(), object);
    fields.insert("raw".into(), event);
    let mut context = Map::new();
    context.insert("parameters".into(), Value::Object(Map::new()));
    context.insert("event".into(), Value::Object(fields));
    Value::Object(context)
}

/// What a run started by an event records of its context: which event,
/// and what the trigger matched on. The payload itself is kept once, with
/// the event (`paywire events ID`, the console's event page), rather than
/// again in every run it starts.
fn recorded_event_context(context: &Value) -> Value {
    let event = &context["event"];
    json!({
        "parameters": {},
        "event": {
            "id": event["id"],
            "type": event["type"],
            "action": event["action"],
            "status": event["status"],
            "object": {"id": event["object"]["id"], "object": event["object"]["object"]},
            "created": event["created"],
            "livemode": event["livemode"],
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

/// What the worker needs of the engine, and no more: it never calls back
/// into the engine, and it stops when the engine (the only strong holder of
/// the deployments) is gone.
#[derive(Clone)]
pub(crate) struct Worker {
    pub store: Arc<dyn Store>,
    pub deployments: Weak<Deployments>,
    pub inbox: Arc<Inbox>,
    pub retry: Backoff,
    /// The instance the worker claims events for.
    pub instance: Arc<str>,
}

impl Worker {
    /// Runs the worker until the engine is gone or the inbox is closed.
    /// The events it is running when it stops are dropped where they stand,
    /// as a crash would leave them, for their claims to be taken back.
    pub(crate) fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { Dispatcher::default().run(self).await })
    }

    fn alive(&self) -> bool {
        self.deployments.strong_count() > 0 && !self.inbox.is_closed()
    }
}

/// How an event's task ended: where the event stands now, or the change
/// that could not be written (the store was away), to write again.
type TaskEnd = Result<EventUpdate, (EventUpdate, StoreError)>;

/// The worker's state. It claims events from the store (see
/// `Store::claim_events`), which hands out the events of one Stripe object
/// one at a time in order of arrival, whichever instance asks, and runs
/// each as soon as it is claimed, up to [`MAX_IN_FLIGHT`] side by side, so
/// that the writes of many events share each commit.
///
/// It claims again whenever something may have made events claimable: an
/// event arrived here, one of its own events ended (its object's next event
/// is free), a retry fell due, or every [`POLL`] for what happens on other
/// instances (an event whose object was busy there, events released by an
/// instance that stopped).
#[derive(Default)]
struct Dispatcher {
    running: tokio::task::JoinSet<TaskEnd>,
    /// Whether there may be events to claim.
    unclaimed: bool,
    /// The earliest time a rescheduled event is due (Unix ms).
    retry_at: Option<i64>,
    /// Whether to ask the store when the next rescheduled event is due.
    refresh_retries: bool,
    /// Ends of events that could not be written; the events stay claimed
    /// until they are, so they are written again before anything else.
    unsettled: Vec<EventUpdate>,
    /// The time of the last claim: each claim is made at a later one, which
    /// names it (see `Store::claimed_events`).
    last_claim: i64,
    /// Claims whose events may have been taken without this worker hearing
    /// of them (the store failed during or after the claim); their events
    /// are looked up and started before anything else is claimed.
    unheard: Vec<i64>,
}

/// How often the worker claims when nothing else wakes it.
const POLL: Duration = Duration::from_secs(1);

impl Dispatcher {
    async fn run(mut self, worker: Worker) {
        self.unclaimed = true;
        self.refresh_retries = true;
        while worker.alive() {
            let now = now_ms();
            if worker.inbox.rescan.swap(false, Ordering::SeqCst)
                || self.retry_at.is_some_and(|at| at <= now)
            {
                self.retry_at = None;
                self.refresh_retries = true;
                self.unclaimed = true;
            }
            let wait = match self.settle_unsettled(&worker).await {
                Ok(()) if !self.unheard.is_empty() => match self.take_up_unheard(&worker).await {
                    Err(e) => {
                        tracing::error!(error = %e, "the inbox could not look up a claim it did not hear back from");
                        Duration::from_secs(1)
                    }
                    Ok(()) => Duration::ZERO,
                },
                Err(e) => {
                    tracing::error!(error = %e, "the inbox could not record where its events stand");
                    Duration::from_secs(1)
                }
                Ok(()) => match self.claim(&worker, now).await {
                    Err(e) => {
                        tracing::error!(error = %e, "the inbox could not claim events");
                        Duration::from_secs(1)
                    }
                    Ok(()) => self.wait_for_retries(&worker, now).await.min(POLL),
                },
            };
            tokio::select! {
                Some(done) = self.running.join_next(), if !self.running.is_empty() => {
                    self.finished(done);
                    // Every event that ended meanwhile, before one claim for
                    // all the objects they freed.
                    while let Some(done) = self.running.try_join_next() {
                        self.finished(done);
                    }
                    self.unclaimed = true;
                }
                _ = worker.inbox.arrived.notified() => self.unclaimed = true,
                _ = tokio::time::sleep(wait) => self.unclaimed = true,
            }
        }
    }

    /// Claims events while there may be some and there is room to run them.
    async fn claim(&mut self, worker: &Worker, now: i64) -> Result<(), StoreError> {
        while self.unclaimed && self.running.len() < MAX_IN_FLIGHT {
            let started = std::time::Instant::now();
            let limit = READ_BATCH.min((MAX_IN_FLIGHT - self.running.len()) as u32);
            let at = now.max(self.last_claim + 1);
            self.last_claim = at;
            // Until its events are started, the claim counts as unheard: a
            // failure from here on may have come after the claim committed.
            self.unheard.push(at);
            let claimed = worker
                .store
                .claim_events(worker.instance.to_string(), at, limit)
                .await?;
            self.unclaimed = claimed.len() == limit as usize;
            if claimed.is_empty() {
                self.unheard.pop();
                break;
            }
            // The runs these events already caused (an earlier attempt, a
            // replayed failure, or one cut short when an instance stopped)
            // say what is left to do; they are read for the whole batch at
            // once.
            let ids: Vec<String> = claimed.iter().map(|e| e.id.clone()).collect();
            let mut earlier: HashMap<String, Vec<RunRecord>> = HashMap::new();
            for run in worker.store.runs_of_events(ids).await? {
                if let Some(event) = run.trigger_event.clone() {
                    earlier.entry(event).or_default().push(run);
                }
            }
            tracing::debug!(
                events = claimed.len(),
                running = self.running.len(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "the inbox claimed events"
            );
            self.unheard.pop();
            for event in claimed {
                let runs = earlier.remove(&event.id).unwrap_or_default();
                self.start(worker, event, runs);
            }
        }
        Ok(())
    }

    /// Starts the events of claims this worker did not hear back from.
    async fn take_up_unheard(&mut self, worker: &Worker) -> Result<(), StoreError> {
        while let Some(&at) = self.unheard.last() {
            let claimed = worker
                .store
                .claimed_events(worker.instance.to_string(), at)
                .await?;
            let ids: Vec<String> = claimed.iter().map(|e| e.id.clone()).collect();
            let mut earlier: HashMap<String, Vec<RunRecord>> = HashMap::new();
            for run in worker.store.runs_of_events(ids).await? {
                if let Some(event) = run.trigger_event.clone() {
                    earlier.entry(event).or_default().push(run);
                }
            }
            self.unheard.pop();
            if !claimed.is_empty() {
                tracing::info!(
                    events = claimed.len(),
                    "the inbox took up the events of a claim it had not heard back from"
                );
            }
            for event in claimed {
                let runs = earlier.remove(&event.id).unwrap_or_default();
                self.start(worker, event, runs);
            }
        }
        Ok(())
    }

    fn start(&mut self, worker: &Worker, event: EventRecord, earlier: Vec<RunRecord>) {
        let Some(deployments) = worker.deployments.upgrade() else {
            return;
        };
        let deployment = deployments.current();
        drop(deployments);
        let worker = worker.clone();
        self.running.spawn(async move {
            match AssertUnwindSafe(process(&worker, &deployment, &event, earlier))
                .catch_unwind()
                .await
            {
                Ok(end) => end,
                Err(_) => {
                    tracing::error!(event = %event.id, "processing an event panicked");
                    settle_after_panic(&worker, &event).await
                }
            }
        });
    }

    /// An event's task ended: when it is due again, and whether its end
    /// still has to be written.
    fn finished(&mut self, done: Result<TaskEnd, tokio::task::JoinError>) {
        let update = match done {
            Ok(Ok(update)) => update,
            Ok(Err((update, e))) => {
                tracing::error!(error = %e, event = %update.id, "the inbox could not record an event's progress; it tries again");
                self.unsettled.push(update.clone());
                update
            }
            Err(e) => {
                // Only a task cancelled at shutdown gets here: panics are
                // caught inside the task.
                tracing::error!(error = %e, "an event's task ended abnormally");
                return;
            }
        };
        if update.state == EventState::Pending {
            let at = update.next_attempt_at;
            self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
        }
    }

    /// Writes the ends of events that could not be written before.
    async fn settle_unsettled(&mut self, worker: &Worker) -> Result<(), StoreError> {
        while let Some(update) = self.unsettled.pop() {
            if let Err(e) = worker.store.event_update(update.clone()).await {
                self.unsettled.push(update);
                return Err(e);
            }
        }
        Ok(())
    }

    /// How long to sleep when nothing else happens: until the next retry.
    async fn wait_for_retries(&mut self, worker: &Worker, now: i64) -> Duration {
        // Retries of events run here are known from their tasks; the store is
        // asked after a rescan (which forgot the next time) and when idle.
        if (self.refresh_retries || (self.retry_at.is_none() && self.running.is_empty()))
            && let Ok(next) = worker.store.next_event_due(now).await
        {
            self.refresh_retries = false;
            if let Some(at) = next {
                self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
            }
        }
        match self.retry_at {
            Some(at) => Duration::from_millis((at - now).clamp(5, 5_000) as u64),
            None => Duration::from_secs(5),
        }
    }
}

/// Runs the matching workflows of one event and records where it stands.
/// `earlier` are the runs the event caused before, oldest first.
///
/// The event stays `pending` while its workflows run: should the process
/// stop meanwhile, it is taken up again, and `earlier` then says which
/// workflows finished and what the others already did.
async fn process(
    worker: &Worker,
    deployment: &Deployment,
    event: &EventRecord,
    earlier: Vec<RunRecord>,
) -> TaskEnd {
    let mut update = unchanged(event, &worker.instance);
    let matching: Vec<_> = listeners(&deployment.project, &event.event_type, &event.object_type)
        .cloned()
        .collect();
    if matching.is_empty() {
        update.state = EventState::Ignored;
        update.finished_at = Some(now_text());
        return write_end(worker, update).await;
    }
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or(Value::Null);
    let context = event_context(payload);
    let recorded = recorded_event_context(&context);
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
            claim: Some(EventClaim {
                event: event.id.clone(),
                instance: worker.instance.to_string(),
            }),
        };
        let outcome = deployment
            .runner
            .run_workflow(identity, workflow.clone(), &context, recorded.clone())
            .await;
        if let Some(e) = outcome.error {
            failures.push(format!("{}: {}: {}", workflow.name, e.name, e.message));
        }
    }
    settle(&mut update, event, failures, &worker.retry);
    write_end(worker, update).await
}

/// Writes where an event stands after an attempt, which releases its claim.
async fn write_end(worker: &Worker, update: EventUpdate) -> TaskEnd {
    match worker.store.event_update(update.clone()).await {
        Ok(true) => Ok(update),
        Ok(false) => {
            // This instance was silent past its lease and another took the
            // event over: what it does with the event stands, not this.
            tracing::warn!(event = %update.id, "an event's claim was lost before its end was written; another instance runs it");
            Ok(EventUpdate {
                state: EventState::Done,
                ..update
            })
        }
        Err(e) => Err((update, e)),
    }
}

/// Where `event` stands before this attempt changes anything, as a change
/// that `instance`, holding its claim, may write.
fn unchanged(event: &EventRecord, instance: &str) -> EventUpdate {
    EventUpdate {
        id: event.id.clone(),
        state: EventState::Pending,
        attempts: event.attempts,
        next_attempt_at: event.next_attempt_at,
        last_error: event.last_error.clone(),
        finished_at: None,
        holder: Some(instance.to_string()),
    }
}

/// Counts an attempt of `event` whose workflows failed as `failures` say
/// (none: they all succeeded), and decides what comes next.
fn settle(update: &mut EventUpdate, event: &EventRecord, failures: Vec<String>, retry: &Backoff) {
    update.attempts = event.attempts + 1;
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
}

/// Records a failed attempt of an event whose processing panicked, so that
/// the attempt counts as any failure does and the event cannot be taken up
/// again for ever.
async fn settle_after_panic(worker: &Worker, event: &EventRecord) -> TaskEnd {
    let mut update = unchanged(event, &worker.instance);
    let failure = "InternalError: an internal error stopped the event's workflows; the details are in the server's log";
    settle(&mut update, event, vec![failure.to_string()], &worker.retry);
    write_end(worker, update).await
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
        let context = event_context(event);
        let e = &context["event"];
        assert_eq!(e["action"], "updated");
        assert_eq!(e["status"], "active");
        assert_eq!(e["previous_attributes"]["status"], "trialing");
        assert_eq!(e["object"]["id"], "sub_1");
        assert_eq!(e["raw"]["id"], "evt_1");
        // A run records which event it ran for, not the payload again.
        let recorded = recorded_event_context(&context);
        assert_eq!(
            recorded["event"],
            json!({"id": "evt_1", "type": "customer.subscription.updated", "action": "updated",
                   "status": "active", "object": {"id": "sub_1", "object": "subscription"},
                   "created": 1700000000, "livemode": false})
        );
        let no_status = event_context(
            json!({"id": "evt_2", "type": "product.created", "data": {"object": {"object": "product"}}}),
        );
        assert_eq!(no_status["event"]["status"], Value::Null);
    }
}
