//! The PostgreSQL store: what a deployment of several instances shares.
//!
//! Every kind of data lives here as it does in SQLite (the builder's tables,
//! runs and steps, the inbox, the sandbox), in the same shapes, so the
//! engine cannot tell the backends apart. What differs is how writes reach
//! the database. SQLite has one writer, so the SQLite store queues every
//! write to one thread; PostgreSQL takes concurrent transactions and shares
//! one WAL flush among the commits that wait for it, so here a write that
//! someone waits for (a table write, an event's receipt, the sandbox) runs
//! in its own transaction on a pooled connection. Run records, which nobody
//! waits for, go to one task that writes them in order, many runs to a
//! transaction (`records.rs`): a run's end is never written before its
//! start.
//!
//! Rows of steps are keyed by their run and first step, never by the order
//! of their commits, so that a table write's step (committed with its
//! effect) and the records queued before it may commit in either order.

mod cluster;
mod connect;
mod copy;
mod events;
mod records;
mod runs;
mod sandbox;
mod sandbox_claim;
mod tables;

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::NoTls;

use paywire_support::Backoff;

use crate::{
    Counts, Cursor, EventFilter, EventRecord, EventUpdate, Heartbeat, InstanceRecord, Kind,
    MigrationReport, NewEvent, Page, Records, Recovery, RunDetail, RunFilter, RunRecord,
    RunRecords, SandboxChanges, SandboxClaim, SandboxSnapshot, StepCommit, Store, StoreError,
    StoreFuture, TableOp,
};
use paywire_model::Table;

/// How many runs' records may wait for the writer before new runs wait.
const RECORD_BACKLOG: usize = 4096;

/// How many runs' records one transaction of the record writer takes.
const RECORD_BATCH: usize = 512;

/// Connections in the pool: enough for the writes under way at once to
/// share WAL flushes, few enough for several instances on one server.
const POOL_SIZE: usize = 16;

/// The key of the advisory lock that instances starting at once take while
/// they create or migrate paywire's own tables.
const SCHEMA_LOCK: i64 = 0x7061_7977_6972_6501;

/// What the record writer is asked to do. Nearly every job is a write, so
/// boxing its records to shrink the rare flush would cost an allocation per
/// run for nothing.
#[allow(clippy::large_enum_variant)]
enum RecordJob {
    /// With the run's place in the backlog, if it had one, given back once
    /// the records are written.
    Write(RunRecords, Option<tokio::sync::OwnedSemaphorePermit>),
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
    /// An event's end, committed with (or after) the run records queued
    /// before it, and answered with whether it applied.
    EventEnd(EventUpdate, oneshot::Sender<Result<bool, StoreError>>),
}

pub struct PostgresStore {
    pool: Pool,
    /// Where the pool connects, for the connection of the sandbox's owner,
    /// which stays outside the pool.
    target: connect::Target,
    /// The sandbox's ownership of its state, while a claim made through
    /// this store holds it: its commits go through the owner's connection.
    sandbox_owner: Mutex<Weak<sandbox_claim::Owner>>,
    records: mpsc::UnboundedSender<RecordJob>,
    /// One permit per run whose records may wait for the writer.
    record_room: Arc<tokio::sync::Semaphore>,
}

/// A driver error as the store's: a lost connection, or an error the
/// server gives while it cannot serve (shutting down, starting, failing
/// over), is [`StoreError::Unavailable`], which callers may try again.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    let transient = match e.code() {
        // No SQLSTATE: the connection broke or could not be made, or the
        // driver refused an answer (which trying again would not change).
        None => {
            e.is_closed()
                || std::error::Error::source(&e).is_some_and(|cause| cause.is::<std::io::Error>())
        }
        Some(code) => {
            let code = code.code();
            // 08: connection exceptions; 57P01-57P03: the server is shutting
            // down or not accepting connections yet; 40001 and 40P01: a
            // serialization failure or deadlock, which a retry resolves.
            code.starts_with("08")
                || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        }
    };
    if transient {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Database(e.to_string())
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Unavailable(format!("no connection to PostgreSQL: {e}"))
}

/// How the record writer waits for a database that went away.
const RECORD_RETRY: Backoff = Backoff {
    attempts: u32::MAX,
    first_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(5),
};

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`,
    /// with `?sslmode=require` for TLS: see `connect.rs`), creates or
    /// migrates paywire's own tables and starts the record writer. The
    /// database must exist; paywire creates nothing outside it.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let target = connect::target(url)?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match target.tls.clone() {
            Some(tls) => Manager::from_config(target.config.clone(), tls, manager_config),
            None => Manager::from_config(target.config.clone(), NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Database(format!("cannot make a connection pool: {e}")))?;
        {
            let mut client = pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(db_error)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await
                .map_err(db_error)?;
            runs::create_schema(&tx).await?;
            events::create_schema(&tx).await?;
            sandbox::create_schema(&tx).await?;
            sandbox_claim::create_schema(&tx).await?;
            cluster::create_schema(&tx).await?;
            tx.commit().await.map_err(db_error)?;
        }
        let (records, queue) = mpsc::unbounded_channel();
        tokio::spawn(records::record_writer(pool.clone(), queue));
        Ok(PostgresStore {
            pool,
            target,
            sandbox_owner: Mutex::new(Weak::new()),
            records,
            record_room: Arc::new(tokio::sync::Semaphore::new(RECORD_BACKLOG)),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl Store for PostgresStore {
    fn migrate(&self, tables: Vec<Arc<Table>>) -> StoreFuture<'_, MigrationReport> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            // Instances that start together with one project migrate it one
            // after another; the second finds nothing left to do.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
                .await
                .map_err(db_error)?;
            let report = tables::migrate(&tx, &tables).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(report)
        })
    }

    fn table_op(&self, op: TableOp, step: Option<StepCommit>) -> StoreFuture<'_, Value> {
        Box::pin(async move {
            let mut client = self.client().await?;
            if let (TableOp::Select { .. }, None) = (&op, &step) {
                return tables::execute(&client, &op).await;
            }
            let tx = client.transaction().await.map_err(db_error)?;
            // Statements that do not wait for one another's answers are
            // sent together (tokio-postgres pipelines the requests of
            // futures polled at once, in the order they are first polled):
            // the claim's fence, the records made before the step and the
            // operation go in one round trip, the step's record in a second.
            runs::prepare_step_insert(&tx).await?;
            let hold = async {
                match step.as_ref().and_then(|s| s.claim.as_ref()) {
                    Some(claim) => cluster::hold_claim(&tx, claim).await,
                    None => Ok(()),
                }
            };
            let earlier = async {
                match &step {
                    Some(step) => runs::write_records(&tx, &step.earlier).await,
                    None => Ok(()),
                }
            };
            let (held, written, output) = tokio::join!(hold, earlier, tables::execute(&tx, &op));
            // A lost claim or a record that cannot be written is the answer,
            // whatever the operation did: nothing is committed.
            held?;
            written?;
            let outcome = match (output, &step) {
                (Ok(output), Some(step)) => {
                    let mut record = step.step.clone();
                    record.output = output.clone();
                    record.duration_ms = step.started.elapsed().as_secs_f64() * 1000.0;
                    runs::insert_steps(&tx, std::slice::from_ref(&record))
                        .await
                        .map(|_| output)
                }
                (outcome, _) => outcome,
            };
            let error = match outcome {
                Ok(output) => {
                    tx.commit().await.map_err(db_error)?;
                    return Ok(output);
                }
                Err(e) => e,
            };
            // The operation and its step's record are undone together; the
            // records made before them are kept, so they are written again
            // on their own (under the claim, as they would have been). A
            // savepoint would keep them in one transaction, at the cost of
            // two more statements on every write that succeeds.
            tx.rollback().await.map_err(db_error)?;
            if let Some(step) = step.as_ref().filter(|s| !s.earlier.is_empty()) {
                let tx = client.transaction().await.map_err(db_error)?;
                if let Some(claim) = &step.claim {
                    cluster::hold_claim(&tx, claim).await?;
                }
                runs::write_records(&tx, &step.earlier).await?;
                tx.commit().await.map_err(db_error)?;
            }
            Err(error)
        })
    }

    fn records_room(&self) -> StoreFuture<'_, ()> {
        let room = self.record_room.clone();
        Box::pin(async move {
            room.acquire()
                .await
                .map(drop)
                .map_err(|_| StoreError::Closed)
        })
    }

    fn record(&self, records: RunRecords) {
        if records.is_empty() {
            return;
        }
        // Over the limit (runs already under way when it filled), records
        // are still queued: a run's record is never dropped for want of room.
        let permit = self.record_room.clone().try_acquire_owned().ok();
        if self
            .records
            .send(RecordJob::Write(records, permit))
            .is_err()
        {
            tracing::error!("could not record a run's records: the store is shut down");
        }
    }

    fn count_rows(&self, tables: Vec<Arc<Table>>) -> StoreFuture<'_, Vec<u64>> {
        Box::pin(async move { tables::count_rows(&self.client().await?, &tables).await })
    }

    fn list_runs(&self, filter: RunFilter) -> StoreFuture<'_, Vec<RunRecord>> {
        Box::pin(async move { runs::list_runs(&self.client().await?, &filter).await })
    }

    fn get_run(&self, id: String) -> StoreFuture<'_, Option<RunDetail>> {
        Box::pin(async move { runs::get_run(&self.client().await?, &id).await })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        let (done, flushed) = oneshot::channel();
        let sent = self.records.send(RecordJob::Flush(done));
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            flushed.await.map_err(|_| StoreError::Closed)
        })
    }

    fn event_received(&self, event: NewEvent) -> StoreFuture<'_, bool> {
        Box::pin(async move { events::insert(&self.client().await?, &event).await })
    }

    fn claim_events(
        &self,
        instance: String,
        now: i64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<EventRecord>> {
        Box::pin(async move { cluster::claim(&self.client().await?, &instance, now, limit).await })
    }

    fn claimed_events(&self, instance: String, now: i64) -> StoreFuture<'_, Vec<EventRecord>> {
        Box::pin(async move { cluster::claimed(&self.client().await?, &instance, now).await })
    }

    fn next_event_due(&self, now: i64) -> StoreFuture<'_, Option<i64>> {
        Box::pin(async move { events::next_due(&self.client().await?, now).await })
    }

    fn event_update(&self, update: EventUpdate) -> StoreFuture<'_, bool> {
        // The runs of the event's attempt were handed to the record writer
        // before this call; its end is committed with theirs or after, in
        // the order of the calls as on SQLite, so that whoever takes the
        // event up next (its retry, another instance, a restart) finds what
        // they did rather than running a workflow that succeeded again. The
        // record writer commits it, so the ends of many events share one
        // transaction with the records of their runs.
        let (done, applied) = oneshot::channel();
        let sent = self.records.send(RecordJob::EventEnd(update, done));
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            applied.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn list_events(&self, filter: EventFilter) -> StoreFuture<'_, Vec<EventRecord>> {
        Box::pin(async move { events::list(&self.client().await?, &filter).await })
    }

    fn get_event(&self, id: String) -> StoreFuture<'_, Option<EventRecord>> {
        Box::pin(async move { events::get(&self.client().await?, &id).await })
    }

    fn runs_of_events(&self, event_ids: Vec<String>) -> StoreFuture<'_, Vec<RunRecord>> {
        Box::pin(async move { events::runs_of_events(&self.client().await?, &event_ids).await })
    }

    fn step_output(&self, root: String, key: String) -> StoreFuture<'_, Option<Value>> {
        Box::pin(async move { events::step_output(&self.client().await?, &root, &key).await })
    }

    fn heartbeat(&self, beat: Heartbeat) -> StoreFuture<'_, Recovery> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let recovery = cluster::heartbeat(&tx, &beat, &now).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(recovery)
        })
    }

    fn leave(&self, instance: String) -> StoreFuture<'_, Recovery> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let recovery = cluster::leave(&tx, &instance, &now).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(recovery)
        })
    }

    fn list_instances(&self) -> StoreFuture<'_, Vec<InstanceRecord>> {
        Box::pin(async move { cluster::list_instances(&self.client().await?).await })
    }

    fn claim_startup(
        &self,
        instance: String,
        version: String,
        now: i64,
        lease_ms: i64,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let claimed =
                cluster::claim_startup(&tx, &instance, &version, now.saturating_sub(lease_ms))
                    .await?;
            tx.commit().await.map_err(db_error)?;
            Ok(claimed)
        })
    }

    fn sign_out_session(&self, id: String, expires_at: i64) -> StoreFuture<'_, ()> {
        let now = chrono::Utc::now().timestamp();
        Box::pin(async move {
            runs::sign_out_session(&self.client().await?, &id, expires_at, now).await
        })
    }

    fn session_signed_out(&self, id: String) -> StoreFuture<'_, bool> {
        Box::pin(async move { runs::session_signed_out(&self.client().await?, &id).await })
    }

    fn sandbox_load(&self) -> StoreFuture<'_, SandboxSnapshot> {
        Box::pin(async move { sandbox::load(&self.client().await?).await })
    }

    fn sandbox_claim(&self, owner: String) -> StoreFuture<'_, SandboxClaim> {
        Box::pin(async move {
            let held = sandbox_claim::claim(&self.target, &owner).await?;
            *self.sandbox_owner.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&held);
            Ok(SandboxClaim::new(held))
        })
    }

    fn sandbox_commit(&self, changes: SandboxChanges) -> StoreFuture<'_, ()> {
        // Queued now, not when the future is first polled, so that commits
        // are written in the order of the calls.
        let owner = self
            .sandbox_owner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .upgrade();
        let Some(owner) = owner else {
            return Box::pin(async { Err(crate::sandbox_not_claimed()) });
        };
        let answer = owner.commit(changes);
        Box::pin(async move { answer.await.map_err(|_| StoreError::Closed)? })
    }

    fn count(&self) -> StoreFuture<'_, Counts> {
        Box::pin(async move { copy::count(&self.client().await?).await })
    }

    fn export(&self, kind: Kind, after: Option<Cursor>, limit: u32) -> StoreFuture<'_, Page> {
        Box::pin(async move { copy::export(&self.client().await?, &kind, &after, limit).await })
    }

    fn import(&self, records: Records) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(db_error)?;
            let written = copy::import(&tx, &records).await?;
            tx.commit().await.map_err(db_error)?;
            Ok(written)
        })
    }
}
