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

use std::collections::{HashMap, HashSet, VecDeque};
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
    EventRecord, EventState, EventUpdate, RunRecord, RunStatus, Store, StoreError,
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
}

impl Worker {
    /// Runs the worker until the engine is gone.
    pub(crate) fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { Dispatcher::default().run(self).await })
    }

    fn alive(&self) -> bool {
        self.deployments.strong_count() > 0
    }
}

/// The worker's state. Events run side by side, up to [`MAX_IN_FLIGHT`],
/// except that the events about one Stripe object run one after another in
/// order of arrival: an event whose object is busy waits behind it here.
/// There is no round of events to wait for: an event starts as soon as it
/// is read and its object is free, so the writes of many events share each
/// commit.
///
/// Only events that arrived after the newest one read so far are read
/// (`cursor`); every older pending event is running, waiting here, or
/// scheduled for a retry, which a rescan at its time picks up.
#[derive(Default)]
struct Dispatcher {
    /// Events running or waiting, by id: what a rescan must not take twice.
    known: HashSet<String>,
    /// Objects with an event running, and the events waiting behind it.
    busy: HashMap<String, VecDeque<(EventRecord, Vec<RunRecord>)>>,
    running: tokio::task::JoinSet<Option<i64>>,
    /// The event (and its object) each running task carries.
    tasks: HashMap<tokio::task::Id, (String, Option<String>)>,
    cursor: i64,
    /// Whether there may be due events not read yet.
    unread: bool,
    /// The earliest time a rescheduled event is due (Unix ms).
    retry_at: Option<i64>,
    /// Whether to ask the store when the next rescheduled event is due: at
    /// start, and after a rescan, which forgets the time it was for.
    refresh_retries: bool,
    /// Whether the reads under way started from the oldest event (at start,
    /// for a replay or a retry) rather than from the newest read.
    rescanning: bool,
    /// When this worker started (RFC 3339): events received before may have
    /// runs from a process that stopped.
    started_at: String,
}

impl Dispatcher {
    async fn run(mut self, worker: Worker) {
        self.unread = true;
        self.rescanning = true;
        self.refresh_retries = true;
        self.started_at = now_text();
        while worker.alive() {
            let wait = {
                let now = now_ms();
                let replayed = worker.inbox.rescan.swap(false, Ordering::SeqCst);
                if replayed || self.retry_at.is_some_and(|at| at <= now) {
                    self.retry_at = None;
                    self.refresh_retries = true;
                    self.cursor = 0;
                    self.unread = true;
                    self.rescanning = true;
                }
                if let Err(e) = self.read(&worker, now).await {
                    tracing::error!(error = %e, "the inbox could not read its events");
                    self.unread = true;
                    Duration::from_secs(1)
                } else {
                    self.wait_for_retries(&worker, now).await
                }
            };
            tokio::select! {
                Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    self.finished(done, &worker);
                }
                _ = worker.inbox.arrived.notified() => self.unread = true,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Reads due events while there are some and room to run them.
    async fn read(&mut self, worker: &Worker, now: i64) -> Result<(), StoreError> {
        while self.unread && self.running.len() < MAX_IN_FLIGHT {
            let started = std::time::Instant::now();
            let due = worker
                .store
                .due_events(now, self.cursor, READ_BATCH)
                .await?;
            let rescanning = self.rescanning;
            self.unread = due.len() == READ_BATCH as usize;
            self.rescanning &= self.unread;
            let fresh: Vec<EventRecord> = due
                .into_iter()
                .inspect(|e| self.cursor = self.cursor.max(e.seq))
                .filter(|e| !self.known.contains(&e.id))
                .collect();
            if fresh.is_empty() {
                continue;
            }
            // The runs these events already caused (an earlier attempt, a
            // replayed failure, or one cut short by a crash) say what is left
            // to do. An event that arrived since this worker started and was
            // never tried has none, and needs no lookup.
            let ids: Vec<String> = fresh
                .iter()
                .filter(|e| rescanning || e.attempts > 0 || e.received_at < self.started_at)
                .map(|e| e.id.clone())
                .collect();
            let mut earlier: HashMap<String, Vec<RunRecord>> = HashMap::new();
            if !ids.is_empty() {
                for run in worker.store.runs_of_events(ids).await? {
                    if let Some(event) = run.trigger_event.clone() {
                        earlier.entry(event).or_default().push(run);
                    }
                }
            }
            tracing::debug!(
                events = fresh.len(),
                running = self.running.len(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "the inbox read due events"
            );
            for event in fresh {
                let runs = earlier.remove(&event.id).unwrap_or_default();
                self.known.insert(event.id.clone());
                match event.object_id.as_ref().and_then(|o| self.busy.get_mut(o)) {
                    Some(waiting) => waiting.push_back((event, runs)),
                    None => self.start(worker, event, runs),
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, worker: &Worker, event: EventRecord, earlier: Vec<RunRecord>) {
        if let Some(object) = &event.object_id {
            self.busy.entry(object.clone()).or_default();
        }
        let Some(deployments) = worker.deployments.upgrade() else {
            return;
        };
        let worker = worker.clone();
        let carried = (event.id.clone(), event.object_id.clone());
        // The task says when its event is due again, if it is still pending.
        let task = self.running.spawn(async move {
            let event_id = event.id.clone();
            let deployment = deployments.current();
            drop(deployments);
            let processed = match AssertUnwindSafe(process(&worker, &deployment, &event, earlier))
                .catch_unwind()
                .await
            {
                Ok(processed) => processed,
                Err(_) => {
                    tracing::error!(event = %event_id, "processing an event panicked");
                    settle_after_panic(&worker, &event).await
                }
            };
            match processed {
                Ok(update) => {
                    (update.state == EventState::Pending).then_some(update.next_attempt_at)
                }
                Err(e) => {
                    tracing::error!(error = %e, event = %event_id, "the inbox could not record an event's progress");
                    Some(now_ms() + 1_000)
                }
            }
        });
        self.tasks.insert(task.id(), carried);
    }

    /// An event's task ended: its object's next event, if one waits, runs.
    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, Option<i64>), tokio::task::JoinError>,
        worker: &Worker,
    ) {
        let (task, retry_at) = match done {
            Ok(done) => done,
            Err(e) => {
                // The event is still pending: taken up again a second later.
                tracing::error!(error = %e, "an event's task ended abnormally");
                (e.id(), Some(now_ms() + 1_000))
            }
        };
        let Some((event_id, object_id)) = self.tasks.remove(&task) else {
            return;
        };
        self.known.remove(&event_id);
        if let Some(at) = retry_at {
            self.retry_at = Some(self.retry_at.map_or(at, |t| t.min(at)));
        }
        let Some(object) = object_id else { return };
        let next = self.busy.get_mut(&object).and_then(VecDeque::pop_front);
        match next {
            Some((event, runs)) => self.start(worker, event, runs),
            None => {
                self.busy.remove(&object);
            }
        }
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
) -> Result<EventUpdate, StoreError> {
    let store = &worker.store;
    let mut update = unchanged(event);
    let matching: Vec<_> = listeners(&deployment.project, &event.event_type, &event.object_type)
        .cloned()
        .collect();
    if matching.is_empty() {
        update.state = EventState::Ignored;
        update.finished_at = Some(now_text());
        store.event_update(update.clone()).await?;
        return Ok(update);
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
    store.event_update(update.clone()).await?;
    Ok(update)
}

/// Where `event` stands before this attempt changes anything.
fn unchanged(event: &EventRecord) -> EventUpdate {
    EventUpdate {
        id: event.id.clone(),
        state: EventState::Pending,
        attempts: event.attempts,
        next_attempt_at: event.next_attempt_at,
        last_error: event.last_error.clone(),
        finished_at: None,
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
async fn settle_after_panic(
    worker: &Worker,
    event: &EventRecord,
) -> Result<EventUpdate, StoreError> {
    let mut update = unchanged(event);
    let failure = "InternalError: an internal error stopped the event's workflows; the details are in the server's log";
    settle(&mut update, event, vec![failure.to_string()], &worker.retry);
    worker.store.event_update(update.clone()).await?;
    Ok(update)
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
