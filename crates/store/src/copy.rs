//! Copying a store whole, as `paywire migrate` does from a SQLite file into
//! PostgreSQL: the kinds of record a store holds, a page of them in the
//! form they are stored in, where the next page starts, and how many of
//! each a store holds. Plain data like the rest of the crate's types; the
//! backends read pages ([`Store::export`](crate::Store::export)), write
//! them ([`Store::import`](crate::Store::import)) and count
//! ([`Store::count`](crate::Store::count)).
//!
//! A page carries records exactly as they are kept, not as the engine sees
//! them: a run's row with the steps stored in it, each later batch of steps
//! on its own, an event with its number of arrival and its claim, so that
//! a copy keeps every id, order, state, attempt count, time and JSON value.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use paywire_model::Table;

use crate::{
    EventRecord, InstanceRecord, RunRecord, SandboxDelivery, SandboxIdempotency, SandboxObject,
};

/// One of paywire's own kinds of record. The builder's tables are the
/// other thing a store holds; [`Kind`] names either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// Runs, each with the steps handed over with its row.
    Runs,
    /// The steps of runs handed over after their rows, a batch per row.
    StepBatches,
    /// Received webhook events with their payloads, states and claims.
    Events,
    /// The paywire instances that used the store, as of their last beats:
    /// what lets the instances of the target take back the work of one
    /// that stopped with events claimed or runs running.
    Instances,
    /// Console sessions that signed out.
    SignedOutSessions,
    /// The Stripe sandbox's objects.
    SandboxObjects,
    /// The Stripe sandbox's stored answers to idempotent requests.
    SandboxIdempotency,
    /// Where the Stripe sandbox's deliveries of events stand.
    SandboxDeliveries,
}

impl RecordKind {
    /// Every kind, in the order a copy takes them.
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Runs,
        RecordKind::StepBatches,
        RecordKind::Events,
        RecordKind::Instances,
        RecordKind::SignedOutSessions,
        RecordKind::SandboxObjects,
        RecordKind::SandboxIdempotency,
        RecordKind::SandboxDeliveries,
    ];

    /// What an operator calls records of this kind, in the plural.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Runs => "runs",
            RecordKind::StepBatches => "later step batches",
            RecordKind::Events => "webhook events",
            RecordKind::Instances => "instances",
            RecordKind::SignedOutSessions => "console sign-outs",
            RecordKind::SandboxObjects => "sandbox objects",
            RecordKind::SandboxIdempotency => "sandbox idempotency records",
            RecordKind::SandboxDeliveries => "sandbox deliveries",
        }
    }

    /// The table that both backends keep records of this kind in.
    pub(crate) fn table(self) -> &'static str {
        match self {
            RecordKind::Runs => "_paywire_runs",
            RecordKind::StepBatches => "_paywire_step_batches",
            RecordKind::Events => "_paywire_events",
            RecordKind::Instances => "_paywire_instances",
            RecordKind::SignedOutSessions => "_paywire_signed_out_sessions",
            RecordKind::SandboxObjects => "_stripe_objects",
            RecordKind::SandboxIdempotency => "_stripe_idempotency",
            RecordKind::SandboxDeliveries => "_stripe_deliveries",
        }
    }
}

/// What to export: one of paywire's kinds, or a builder's table as the
/// project declares it (its columns are what is read).
#[derive(Clone, Debug)]
pub enum Kind {
    Records(RecordKind),
    Table(Arc<Table>),
}

/// A run's row as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    /// The run; its `retrying` is read, not stored, and is not written.
    pub run: RunRecord,
    /// The JSON array of the steps handed over with the run's row, if any.
    pub steps: Option<Value>,
}

/// Steps of a run handed over after its row (see `RunRecords`).
#[derive(Clone, Debug, PartialEq)]
pub struct StepBatch {
    pub run_id: String,
    /// The `seq` of the batch's first step, which keys the batch.
    pub first_seq: i64,
    /// The JSON array of the steps.
    pub steps: Value,
}

/// An event as stored: its record, payload included, and since when its
/// claim is held (Unix ms), when it is claimed.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub event: EventRecord,
    pub claimed_at: Option<i64>,
}

/// A console session that signed out.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedOutSession {
    pub id: String,
    /// When the session would have expired anyway (Unix seconds).
    pub expires_at: i64,
}

/// Records of one kind, as they are stored.
#[derive(Clone, Debug)]
pub enum Records {
    Runs(Vec<StoredRun>),
    StepBatches(Vec<StepBatch>),
    Events(Vec<StoredEvent>),
    Instances(Vec<InstanceRecord>),
    SignedOutSessions(Vec<SignedOutSession>),
    SandboxObjects(Vec<SandboxObject>),
    SandboxIdempotency(Vec<SandboxIdempotency>),
    SandboxDeliveries(Vec<SandboxDelivery>),
    /// Rows of a builder's table, each an object of its columns' values as
    /// the table operations answer them; every column is present.
    Rows {
        table: Arc<Table>,
        rows: Vec<Map<String, Value>>,
    },
}

impl Records {
    /// How many records there are.
    pub fn len(&self) -> usize {
        match self {
            Records::Runs(r) => r.len(),
            Records::StepBatches(r) => r.len(),
            Records::Events(r) => r.len(),
            Records::Instances(r) => r.len(),
            Records::SignedOutSessions(r) => r.len(),
            Records::SandboxObjects(r) => r.len(),
            Records::SandboxIdempotency(r) => r.len(),
            Records::SandboxDeliveries(r) => r.len(),
            Records::Rows { rows, .. } => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where the next page of an export starts: after the record with this
/// key. Only the store that gave it knows what it means (a key, a number
/// of arrival, SQLite's `rowid`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cursor(pub(crate) Value);

/// One page of an export.
#[derive(Clone, Debug)]
pub struct Page {
    pub records: Records,
    /// Where the next page starts; `None` when this page was the last.
    pub next: Option<Cursor>,
}

impl Page {
    /// A page of `records` whose last record's key is `last`: another may
    /// follow when the page is full.
    pub(crate) fn of(records: Records, limit: u32, last: Option<Value>) -> Page {
        let full = records.len() >= limit as usize;
        Page {
            next: last.filter(|_| full).map(Cursor),
            records,
        }
    }
}

/// The most records one page of an export holds.
pub const MAX_PAGE: u32 = 5000;

/// What a store holds: how many records of each of paywire's kinds, and
/// every other table in it (the builder's, whether or not a project
/// declares it) with its number of rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub records: BTreeMap<RecordKind, u64>,
    /// Tables by name.
    pub tables: BTreeMap<String, u64>,
}

impl Counts {
    /// Whether the store holds no record and no table of the builder's.
    pub fn is_empty(&self) -> bool {
        self.records.values().all(|n| *n == 0) && self.tables.is_empty()
    }

    /// What makes the store not empty, one line each: the kinds that hold
    /// records and the tables there are.
    pub fn found(&self) -> Vec<String> {
        let records = self
            .records
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(kind, n)| format!("{} ({n})", kind.name()));
        let tables = self.tables.iter().map(|(name, rows)| {
            format!(
                "the table `{name}` ({rows} row{})",
                if *rows == 1 { "" } else { "s" }
            )
        });
        records.chain(tables).collect()
    }
}

/// The cursor's value as a number, for kinds keyed by one.
pub(crate) fn number_after(after: &Option<Cursor>) -> Option<i64> {
    after.as_ref().and_then(|Cursor(value)| value.as_i64())
}

/// The cursor's value as text, for kinds keyed by an id.
pub(crate) fn text_after(after: &Option<Cursor>) -> Option<String> {
    after
        .as_ref()
        .and_then(|Cursor(value)| value.as_str().map(str::to_owned))
}

/// The cursor of step batches, `[run_id, first_seq]`.
pub(crate) fn batch_after(after: &Option<Cursor>) -> Option<(String, i64)> {
    let Cursor(value) = after.as_ref()?;
    match value.as_array()?.as_slice() {
        [run, seq] => Some((run.as_str()?.to_owned(), seq.as_i64()?)),
        _ => None,
    }
}

/// The cursor of the sandbox's deliveries, `[event_id, endpoint]`.
pub(crate) fn delivery_after(after: &Option<Cursor>) -> Option<(String, String)> {
    let Cursor(value) = after.as_ref()?;
    match value.as_array()?.as_slice() {
        [event, endpoint] => Some((event.as_str()?.to_owned(), endpoint.as_str()?.to_owned())),
        _ => None,
    }
}

/// The limit of a page, within [`MAX_PAGE`] and at least one.
pub(crate) fn page_limit(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}
