//! Storage: the builder's tables and the record of every run, behind one
//! interface.
//!
//! [`Store`] is what the rest of paywire sees. [`sqlite::SqliteStore`] is the
//! embedded implementation, the default; [`postgres::PostgresStore`] is what
//! several instances share. The two hold all of paywire's SQL. A
//! [`Database`] names one of them. The types here are plain data: no SQL, no
//! connection.

mod copy;
mod location;
pub mod postgres;
pub mod sqlite;
pub(crate) mod steps;
mod table_rules;

pub use copy::{
    Counts, Cursor, Kind, MAX_PAGE, Page, RecordKind, Records, SignedOutSession, StepBatch,
    StoredEvent, StoredRun,
};
pub use location::Database;
pub use table_rules::timestamp_text;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use paywire_model::Table;
// The words of the table actions are the model's, which the loader checks
// and the engine parses; the store takes them as they are.
pub use paywire_model::catalogue::{Direction, FilterOp, OnConflict};

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The request cannot be carried out as asked (a constraint, a value of
    /// the wrong type, a missing key). Safe to show to whoever asked.
    #[error("{0}")]
    Invalid(String),
    /// A row with the same key or unique value exists. Safe to show.
    #[error("{0}")]
    Conflict(String),
    /// The declared tables cannot be brought about without losing data.
    #[error("the tables cannot be migrated:\n{}", .0.join("\n"))]
    Migration(Vec<String>),
    /// The database failed. The text is for the server's log only.
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be reached now (restarting, the network down);
    /// the same request may succeed later. The text is for the log only.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the store is shut down")]
    Closed,
    /// A write fenced by an event's claim found the claim gone: another
    /// instance runs the event now.
    #[error("{0}")]
    ClaimLost(String),
    /// Another process owns the Stripe sandbox's state in this database
    /// (see [`Store::sandbox_claim`]); the text names it as it described
    /// itself.
    #[error("the Stripe sandbox's state in this database is held by {0}")]
    SandboxHeld(String),
}

impl StoreError {
    /// Whether the message may be shown to a caller; otherwise it is logged
    /// and the caller is told only that an internal error happened.
    pub fn is_public(&self) -> bool {
        matches!(
            self,
            StoreError::Invalid(_) | StoreError::Conflict(_) | StoreError::Migration(_)
        )
    }

    /// The error of a write fenced by `claim` that found it gone.
    pub fn claim_lost(claim: &EventClaim) -> StoreError {
        StoreError::ClaimLost(format!(
            "instance {} no longer holds event {}: another instance runs it now",
            claim.instance, claim.event
        ))
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// The refusal of a sandbox commit made through a store that holds no
/// claim on the sandbox's state.
pub(crate) fn sandbox_not_claimed() -> StoreError {
    StoreError::Invalid(
        "the Stripe sandbox's state is not claimed through this store (Store::sandbox_claim)"
            .into(),
    )
}

/// What to do on a table.
#[derive(Clone, Debug)]
pub enum TableOp {
    Select {
        table: Arc<Table>,
        selector: Selector,
        order: Vec<(String, Direction)>,
        limit: u32,
        offset: u64,
    },
    Insert {
        table: Arc<Table>,
        values: serde_json::Map<String, Value>,
        on_conflict: OnConflict,
    },
    Update {
        table: Arc<Table>,
        selector: Selector,
        values: serde_json::Map<String, Value>,
    },
    Delete {
        table: Arc<Table>,
        selector: Selector,
    },
}

/// Which rows an operation touches.
#[derive(Clone, Debug, PartialEq)]
pub enum Selector {
    /// The row whose primary key is this.
    Id(Value),
    /// Rows matching every filter; no filters means every row.
    Filters(Vec<Filter>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: FilterOp,
    pub value: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Api,
    Workflow,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        Some(match text {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// Its `when` was false.
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// A run as recorded: which API or workflow, its input, how it ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: String,
    /// The run this one retries (the first of the chain).
    pub retry_of: Option<String>,
    /// The Stripe event that started the run, for event-triggered workflows.
    pub trigger_event: Option<String>,
    pub kind: RunKind,
    pub name: String,
    pub status: RunStatus,
    /// What started the run, secrets removed.
    pub input: Value,
    /// `{step, name, message}` of the error that ended a failed run.
    pub error: Option<Value>,
    /// The HTTP status answered, for API runs.
    pub response_status: Option<u16>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<f64>,
    /// Failed, and the event that started it will be tried again: not
    /// stored, but read from the event's state.
    pub retrying: bool,
    /// The paywire instance that ran it (none in databases from before
    /// instances were recorded).
    pub instance: Option<String>,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEnd {
    pub id: String,
    pub status: RunStatus,
    pub error: Option<Value>,
    pub response_status: Option<u16>,
    pub finished_at: String,
    pub duration_ms: f64,
}

/// One executed step of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    pub run_id: String,
    /// Order of execution within the run, from 0.
    pub seq: u32,
    /// Where the step is in its workflow (`steps[1].then[0]`), prefixed by
    /// the function's name for steps of called functions, and with loop
    /// iterations as `#N`.
    pub key: String,
    pub step_id: Option<String>,
    /// The action or control keyword.
    pub kind: String,
    pub status: StepStatus,
    /// The step's input after its expressions ran.
    pub input: Value,
    pub output: Value,
    pub error: Option<Value>,
    pub started_at: String,
    pub duration_ms: f64,
}

/// Records of one run that are not written yet. The runner gathers them and
/// hands them over in one piece: at the run's end, before the run waits on
/// anything outside (a Stripe call, a `wait`), or with a table write's
/// commit. A run that only computes is thus one write, not one per step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunRecords {
    /// The run's own record, until it is written once.
    pub start: Option<RunRecord>,
    pub steps: Vec<StepRecord>,
    pub end: Option<RunEnd>,
}

impl RunRecords {
    pub fn is_empty(&self) -> bool {
        self.start.is_none() && self.steps.is_empty() && self.end.is_none()
    }
}

/// A step whose record commits together with its effect (a table write),
/// with the run's records not written before it.
#[derive(Clone, Debug)]
pub struct StepCommit {
    pub earlier: RunRecords,
    /// The step's record; its output and duration are filled in on commit.
    pub step: StepRecord,
    pub started: Instant,
    /// The claim on the event the run is for, when the inbox started it:
    /// the write commits only while the claim is held, so that an instance
    /// taken for stopped, whose event another instance resumes, cannot do
    /// the effect a second time.
    pub claim: Option<EventClaim>,
}

/// An instance's claim on an event (see `Store::claim_events`).
#[derive(Clone, Debug, PartialEq)]
pub struct EventClaim {
    pub event: String,
    pub instance: String,
}

/// A run with its steps in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunDetail {
    pub run: RunRecord,
    pub steps: Vec<StepRecord>,
}

#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub name: Option<String>,
    pub status: Option<RunStatus>,
    /// Only runs that are (or are not) failed runs whose event will be
    /// tried again.
    pub retrying: Option<bool>,
    /// Only runs that started at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: u32,
}

/// What a migration did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MigrationReport {
    pub created: Vec<String>,
    /// `table.column` of every column added.
    pub added_columns: Vec<String>,
}

/// A Stripe object kept by the sandbox.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxObject {
    pub id: String,
    /// Stripe's `object` field, e.g. `checkout.session`.
    pub object: String,
    /// Creation order, for listing newest first.
    pub seq: i64,
    pub data: Value,
}

/// The stored answer to a request made with an `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxIdempotency {
    pub key: String,
    /// What the request was, so the key cannot be reused for another one.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

/// Where the delivery of one webhook event to one endpoint stands.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxDelivery {
    pub event_id: String,
    /// The webhook endpoint (`we_…`) the event goes to; empty for the one
    /// the sandbox's settings name, which every delivery went to before
    /// endpoints could be created.
    pub endpoint: String,
    pub attempts: u32,
    pub delivered: bool,
    pub last_error: Option<String>,
}

/// Everything the sandbox keeps, as loaded at start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SandboxSnapshot {
    pub objects: Vec<SandboxObject>,
    pub idempotency: Vec<SandboxIdempotency>,
    pub deliveries: Vec<SandboxDelivery>,
}

/// A process's ownership of the Stripe sandbox's state in a database,
/// handed out by [`Store::sandbox_claim`]; the state is free for another
/// owner once this is dropped (or the process ends).
pub struct SandboxClaim {
    _held: Box<dyn std::any::Any + Send + Sync>,
}

impl SandboxClaim {
    /// A claim that lasts as long as `held`: what keeps the ownership (a
    /// lock, a connection) in the store that made it.
    pub fn new(held: impl std::any::Any + Send + Sync) -> SandboxClaim {
        SandboxClaim {
            _held: Box::new(held),
        }
    }
}

impl std::fmt::Debug for SandboxClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SandboxClaim")
    }
}

/// What one sandbox request changed; committed as one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SandboxChanges {
    pub objects: Vec<SandboxObject>,
    pub idempotency: Option<SandboxIdempotency>,
    pub deliveries: Vec<SandboxDelivery>,
}

impl SandboxChanges {
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.idempotency.is_none() && self.deliveries.is_empty()
    }
}

/// Where a received webhook event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventState {
    /// Stored, waiting for its workflows to run (again, after a failure).
    Pending,
    /// Its workflows were running (written by earlier versions; recovery
    /// makes such events pending again).
    Running,
    /// Every matching workflow succeeded.
    Done,
    /// A workflow kept failing; the event waits for `paywire replay`.
    Failed,
    /// No workflow matches the event.
    Ignored,
}

impl EventState {
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Running => "running",
            EventState::Done => "done",
            EventState::Failed => "failed",
            EventState::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<EventState> {
        Some(match text {
            "pending" => EventState::Pending,
            "running" => EventState::Running,
            "done" => EventState::Done,
            "failed" => EventState::Failed,
            "ignored" => EventState::Ignored,
            _ => return None,
        })
    }
}

/// A Stripe event as received, before it is stored.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: String,
    /// `data.object.object`, e.g. `checkout.session`.
    pub object_type: String,
    pub object_id: Option<String>,
    /// The event's own `created` (Unix seconds).
    pub created: i64,
    pub livemode: bool,
    /// The body exactly as Stripe sent it.
    pub payload: String,
    pub received_at: String,
    /// `Pending`; or `Ignored` when no workflow listens to it, so that the
    /// inbox does not take it up only to find nothing to do.
    pub state: EventState,
}

/// A stored event and where it stands.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventRecord {
    pub id: String,
    /// Order of arrival.
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub created: i64,
    pub livemode: bool,
    #[serde(skip)]
    pub payload: String,
    pub received_at: String,
    pub state: EventState,
    pub attempts: u32,
    /// When it may run next (Unix milliseconds), while pending.
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<String>,
    /// The instance running its workflows now, while one is.
    pub claimed_by: Option<String>,
}

/// A change of an event's state.
#[derive(Clone, Debug, PartialEq)]
pub struct EventUpdate {
    pub id: String,
    pub state: EventState,
    pub attempts: u32,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub finished_at: Option<String>,
    /// The instance that claimed the event and ran this attempt: the change
    /// applies only while that instance still holds the claim, and releases
    /// it. `None` for changes made outside an attempt (a replay).
    pub holder: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub state: Option<EventState>,
    pub event_type: Option<String>,
    pub limit: u32,
}

/// What was taken back from instances that stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovery {
    /// Runs that were running when their instance stopped; now failed, to
    /// be resumed by a retry that reuses what they recorded.
    pub interrupted_runs: u64,
    /// Events that a stopped instance had claimed; pending again.
    pub requeued_events: u64,
    /// The instances found stopped.
    pub lost_instances: Vec<String>,
}

impl Recovery {
    pub fn is_empty(&self) -> bool {
        self.interrupted_runs == 0 && self.requeued_events == 0 && self.lost_instances.is_empty()
    }
}

/// One paywire process using the store, as it announces itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceRecord {
    /// Unique for the life of the process.
    pub id: String,
    pub started_at: String,
    /// When it last said it was alive (Unix ms).
    pub last_seen: i64,
}

/// An instance saying it is alive; see [`Store::heartbeat`].
#[derive(Clone, Debug, PartialEq)]
pub struct Heartbeat {
    pub instance: String,
    pub started_at: String,
    /// Unix ms.
    pub now: i64,
    /// How long an instance may stay silent before its work is taken
    /// back, in ms.
    pub lease_ms: i64,
    /// The instance's first beat, at start.
    pub starting: bool,
}

/// The storage interface. Writes are committed in the order of the calls
/// that made them (a call queues its write before it returns its future),
/// and a future that writes has been committed, durably, when it resolves.
pub trait Store: Send + Sync + 'static {
    /// Creates or migrates the builder's tables; refuses changes that lose data.
    fn migrate(&self, tables: Vec<Arc<Table>>) -> StoreFuture<'_, MigrationReport>;

    /// Runs a table operation. When `step` is given, the step's record, with
    /// the operation's result as its output, commits in the same transaction,
    /// so a step's effect and its record are never apart; the run's earlier
    /// records commit with it even when the operation fails.
    fn table_op(&self, op: TableOp, step: Option<StepCommit>) -> StoreFuture<'_, Value>;

    /// Resolves when the store has room for more run records. A run waits
    /// for it before it starts, so that when records are written more slowly
    /// than runs make them, callers wait instead of memory growing.
    fn records_room(&self) -> StoreFuture<'_, ()>;
    /// Queues run records for writing; nobody waits for their commit, and a
    /// failure to write them is logged.
    fn record(&self, records: RunRecords);

    /// How many rows each of `tables` holds, in the same order.
    fn count_rows(&self, tables: Vec<Arc<Table>>) -> StoreFuture<'_, Vec<u64>>;

    fn list_runs(&self, filter: RunFilter) -> StoreFuture<'_, Vec<RunRecord>>;
    fn get_run(&self, id: String) -> StoreFuture<'_, Option<RunDetail>>;

    /// Resolves once everything queued before it is committed.
    fn flush(&self) -> StoreFuture<'_, ()>;

    /// Stores a received event and commits it; false when its id is known
    /// (a duplicate delivery), in which case nothing changes.
    fn event_received(&self, event: NewEvent) -> StoreFuture<'_, bool>;
    /// Claims for `instance` up to `limit` events to run, oldest first: each
    /// pending, due at `now` (Unix ms), claimed by nobody, and first in line
    /// for its Stripe object, that is no event of the same object is claimed
    /// and none that arrived before it is pending and due. So the events of
    /// one object run one at a time in order of arrival, whichever instances
    /// take them, and no two instances ever claim one event.
    fn claim_events(
        &self,
        instance: String,
        now: i64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<EventRecord>>;
    /// The events still pending that `instance` claimed in the claim made
    /// at `now`: what a claim took whose answer was lost on the way back
    /// (the connection dropped after the commit). An instance makes each
    /// claim at a different `now`, so this finds that claim's events only.
    fn claimed_events(&self, instance: String, now: i64) -> StoreFuture<'_, Vec<EventRecord>>;
    /// When the next pending event that is not due at `now` becomes due.
    fn next_event_due(&self, now: i64) -> StoreFuture<'_, Option<i64>>;
    /// Records where an event stands; false when the update names a holder
    /// that no longer holds the event's claim (its instance was taken for
    /// stopped), in which case nothing changes.
    fn event_update(&self, update: EventUpdate) -> StoreFuture<'_, bool>;
    fn list_events(&self, filter: EventFilter) -> StoreFuture<'_, Vec<EventRecord>>;
    fn get_event(&self, id: String) -> StoreFuture<'_, Option<EventRecord>>;
    /// The runs each of these events started, oldest first for each event,
    /// in one read: what the inbox resumes from, and what the event list and
    /// an event's page show.
    fn runs_of_events(&self, event_ids: Vec<String>) -> StoreFuture<'_, Vec<RunRecord>>;
    /// The output of a step that succeeded under `key` in run `root` or in a
    /// run retrying it: what a retry reuses instead of doing an effect again.
    fn step_output(&self, root: String, key: String) -> StoreFuture<'_, Option<Value>>;
    /// Records that an instance is alive, and takes back the work of the
    /// instances silent for longer than the lease: their runs left running
    /// fail as interrupted (to be resumed from their records), their claimed
    /// events are released, and they are forgotten. A store that only one
    /// process can use (SQLite) takes every other instance for stopped at
    /// the first beat of a new one.
    fn heartbeat(&self, beat: Heartbeat) -> StoreFuture<'_, Recovery>;
    /// An instance that stops serving leaves at once, rather than when its
    /// lease runs out: its runs left running fail as interrupted, its
    /// claimed events are released, and it is forgotten. So the events it
    /// was running are taken up at once, by another instance or by the
    /// next start, and it no longer counts as one of a deployment that ran
    /// the startup workflows (see [`Store::claim_startup`]): a restart of
    /// the only instance runs them again on PostgreSQL as on SQLite. The
    /// answer names no lost instance; the counts are what it left.
    fn leave(&self, instance: String) -> StoreFuture<'_, Recovery>;
    /// The instances alive, as of their last beats.
    fn list_instances(&self) -> StoreFuture<'_, Vec<InstanceRecord>>;
    /// Whether `instance`, starting to serve project `version`, runs the
    /// project's `trigger: startup` workflows: yes unless another instance
    /// alive (beating within `lease_ms` of `now`) serves the same version as
    /// one of a deployment that ran them. Either way the instance counts as
    /// one from then on. So the instances of one deployment, including those
    /// that join or restart while it lasts, run them once, and a deployment
    /// after every instance stopped (a restart of the only one) runs them
    /// again.
    fn claim_startup(
        &self,
        instance: String,
        version: String,
        now: i64,
        lease_ms: i64,
    ) -> StoreFuture<'_, bool>;

    /// Records that the console session `id` signed out. Its cookie is
    /// refused from then on; the record can go once the session would have
    /// expired anyway (`expires_at`, Unix seconds).
    fn sign_out_session(&self, id: String, expires_at: i64) -> StoreFuture<'_, ()>;
    /// Whether the console session `id` signed out.
    fn session_signed_out(&self, id: String) -> StoreFuture<'_, bool>;

    /// Makes the caller the one owner of the Stripe sandbox's state in this
    /// database until the claim is dropped or its process ends. The
    /// sandbox keeps its state in memory and writes it through, so two
    /// sandboxes on one database would overwrite each other: a second
    /// claim, from this process or another, is refused with
    /// [`StoreError::SandboxHeld`] naming the owner by its `owner` text
    /// (what a refused operator reads: where the sandbox is reached, which
    /// process). A claim made right after its previous owner stopped waits
    /// a moment for the database to notice. Take it before
    /// [`Store::sandbox_load`].
    fn sandbox_claim(&self, owner: String) -> StoreFuture<'_, SandboxClaim>;
    /// Everything the Stripe sandbox kept.
    fn sandbox_load(&self) -> StoreFuture<'_, SandboxSnapshot>;
    /// Commits what one sandbox request changed, in the order of the calls.
    /// Only while a claim made through this store is held: without one it
    /// is refused, and so it is once the claim is lost (a PostgreSQL
    /// connection that broke while another sandbox took the state).
    fn sandbox_commit(&self, changes: SandboxChanges) -> StoreFuture<'_, ()>;

    // Copying a store whole (`paywire migrate`): see `copy.rs`. A copy
    // reads a store that nothing else writes to and writes into one that
    // holds nothing yet, page by page; these are not for a running server.

    /// How many records of each of paywire's kinds the store holds, and
    /// every table of the builder's in it (declared or not) with its rows.
    fn count(&self) -> StoreFuture<'_, Counts>;
    /// Up to `limit` (at most [`MAX_PAGE`]) records of `kind` as they are
    /// stored, in the order of their key, from after `after` (the `next` of
    /// the page before; `None` for the first page). Runs, instances and
    /// sessions are keyed by their ids, step batches by their run and first
    /// step, events by their number of arrival, the sandbox's records by
    /// their ids, keys and events, and a builder's table by its primary key
    /// on PostgreSQL and by `rowid` on SQLite (an order that holds whatever
    /// the type of the key).
    fn export(&self, kind: Kind, after: Option<Cursor>, limit: u32) -> StoreFuture<'_, Page>;
    /// Writes exported records as they are, in one transaction: all of
    /// them, or none when any fails (one whose key is taken, a value its
    /// column cannot hold). Nothing is filled in: no default, no check of
    /// `required`, no number given anew; events keep their numbers of
    /// arrival, and events received afterwards are numbered after the
    /// highest. Answers how many records were written.
    fn import(&self, records: Records) -> StoreFuture<'_, u64>;
}
