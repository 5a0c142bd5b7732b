//! The embedded SQLite store: every SQL statement of paywire lives below here.
//!
//! Writes go to one writer thread that owns the only writing connection. It
//! takes every job waiting in its queue, runs each inside its own savepoint
//! (unless the job is a single statement, which SQLite applies whole or not
//! at all by itself), and commits them all in one transaction (group commit):
//! one fsync for many writes, and a failing job rolls back only itself. A job's caller hears of
//! its result after the commit, so "done" means "on disk". Reads run on
//! tokio's blocking threads with their own connections (WAL lets them read
//! while the writer writes). No SQLite call ever runs on an async thread.
//!
//! Checkpoints (copying the WAL back into the database file) run on a thread
//! of their own, so that no commit waits for one; run records queue to the
//! writer without anyone waiting for them, but only so many at a time.

mod copy;
mod events;
mod runs;
mod sandbox;
mod sandbox_claim;
mod tables;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::Duration;

use rusqlite::Connection;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::{
    Counts, Cursor, EventFilter, EventRecord, EventUpdate, Heartbeat, InstanceRecord, Kind,
    MigrationReport, NewEvent, Page, Records, Recovery, RunDetail, RunFilter, RunRecord,
    RunRecords, SandboxChanges, SandboxClaim, SandboxSnapshot, StepCommit, Store, StoreError,
    StoreFuture, TableOp,
};
use paywire_model::Table;

/// How many queued jobs one transaction takes at most.
const MAX_BATCH: usize = 1024;

/// How many runs' records may wait for the writer before new runs wait.
const RECORD_BACKLOG: usize = 4096;

/// How often the checkpoint thread copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What a job does: see [`Job`].
type Work = Box<dyn FnOnce(Option<&Connection>) -> (bool, Reply) + Send>;

/// A write: runs against the writer's connection and says whether it
/// succeeded, and whom to tell once the transaction is over. Given no
/// connection, it does not run and only hands back whom to tell.
struct Job {
    /// Whether the work needs a savepoint of its own to be undone alone.
    /// A job of one statement does not: SQLite undoes a failed statement
    /// itself, and a savepoint per job copies every page the job touches
    /// into the savepoint's journal first (a few percent of the API
    /// server's CPU when every request is a job).
    savepoint: bool,
    work: Work,
}

pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    readers: Arc<ReaderPool>,
    /// One permit per run whose records may wait for the writer.
    record_room: Arc<tokio::sync::Semaphore>,
    /// Dropped with the store, which stops the checkpoint thread.
    _checkpoints: mpsc::Sender<()>,
    /// The sandbox's ownership of its state, while a claim made through
    /// this store holds it.
    sandbox_owner: Mutex<Weak<sandbox_claim::Owner>>,
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(conn);
        }
        let conn = Connection::open(&self.path).map_err(db_error)?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
            .map_err(db_error)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < 8 {
            idle.push(conn);
        }
    }
}

pub(crate) fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, migrates paywire's
    /// own tables and starts its writer. Opening, tuning and migrating are
    /// SQLite calls like any other, so they run on a blocking thread.
    pub async fn open(path: impl Into<PathBuf>) -> Result<SqliteStore, StoreError> {
        let path = path.into();
        tokio::task::spawn_blocking(move || SqliteStore::open_blocking(&path))
            .await
            .map_err(|e| StoreError::Database(format!("opening the database stopped: {e}")))?
    }

    fn open_blocking(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(db_error)?;
        // WAL lets readers work beside the writer; synchronous=FULL makes
        // every commit durable before anyone is told it happened.
        // wal_autocheckpoint = 0: SQLite would otherwise checkpoint inside
        // whichever commit passes 1,000 WAL pages, on the writer thread, and
        // every write queued behind it would wait for the database file's
        // fsync. The checkpoint thread does it instead. temp_store = MEMORY
        // keeps the journal of each job's savepoint in memory rather than in
        // a temporary file.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA busy_timeout = 5000;
             PRAGMA foreign_keys = ON;
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA journal_size_limit = 67108864;
             PRAGMA temp_store = MEMORY;",
        )
        .map_err(db_error)?;
        runs::create_schema(&conn)?;
        events::create_schema(&conn)?;
        sandbox::create_schema(&conn)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("paywire-sqlite-writer".into())
            .spawn(move || write_loop(conn, queue))
            .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))?;
        let checkpoint_conn = Connection::open(path).map_err(db_error)?;
        checkpoint_conn
            .execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(db_error)?;
        let (checkpoints, stop) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("paywire-sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, stop))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the checkpoint thread: {e}"))
            })?;
        Ok(SqliteStore {
            jobs,
            readers: Arc::new(ReaderPool {
                path: path.to_path_buf(),
                idle: Mutex::new(Vec::new()),
            }),
            record_room: Arc::new(tokio::sync::Semaphore::new(RECORD_BACKLOG)),
            _checkpoints: checkpoints,
            sandbox_owner: Mutex::new(Weak::new()),
        })
    }

    /// Queues a write and waits until it is committed.
    fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        self.write_with(true, work)
    }

    /// [`Self::write`], for work that undoes itself whole when it fails (one
    /// statement, or none): it runs without a savepoint of its own.
    fn write_atomic<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        self.write_with(false, work)
    }

    /// `savepoint`: see [`Job::savepoint`].
    fn write_with<T: Send + 'static>(
        &self,
        savepoint: bool,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            savepoint,
            work: Box::new(move |conn| {
                let result = conn.map(work);
                let ok = matches!(result, Some(Ok(_)));
                let reply: Reply = Box::new(move |committed| {
                    let _ =
                        tx.send(committed.and_then(|()| result.unwrap_or(Err(StoreError::Closed))));
                });
                (ok, reply)
            }),
        };
        let sent = self.jobs.send(job);
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            rx.await.map_err(|_| StoreError::Closed)?
        })
    }

    /// Queues a write whose result nobody waits for; failures are logged.
    /// `savepoint`: see [`Job::savepoint`].
    fn write_detached(
        &self,
        what: &'static str,
        savepoint: bool,
        work: impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static,
    ) {
        let job = Job {
            savepoint,
            work: Box::new(move |conn| {
                let result = conn.map(work).unwrap_or(Err(StoreError::Closed));
                let ok = result.is_ok();
                let reply: Reply = Box::new(move |committed| {
                    if let Err(e) = committed.and(result) {
                        tracing::error!(error = %e, "could not record {what}");
                    }
                });
                (ok, reply)
            }),
        };
        if self.jobs.send(job).is_err() {
            tracing::error!("could not record {what}: the store is shut down");
        }
    }

    fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'_, T> {
        let readers = self.readers.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let conn = readers.take()?;
                let result = work(&conn);
                readers.give_back(conn);
                result
            })
            .await
            .map_err(|e| StoreError::Database(format!("a read task failed: {e}")))?
        })
    }
}

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] until the
/// store is dropped. PASSIVE never blocks the writer or readers; what it
/// cannot copy yet (pages a reader still needs) waits for the next round.
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "a WAL checkpoint failed; the next one tries again");
        }
    }
}

/// Runs `work` inside a savepoint: kept if it succeeds, undone if it fails.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    run_cached(conn, "SAVEPOINT inner")?;
    let result = work();
    if result.is_err() {
        run_cached(conn, "ROLLBACK TO inner")?;
    }
    run_cached(conn, "RELEASE inner")?;
    result
}

/// Runs a statement without parameters, parsed once per connection.
fn run_cached(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(db_error)
}

fn write_loop(conn: Connection, queue: mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let error = db_error(e);
            for job in batch {
                let (_, reply) = (job.work)(None);
                reply(Err(error.clone()));
            }
            continue;
        }
        let mut replies = Vec::with_capacity(batch.len());
        for job in batch {
            if !job.savepoint {
                let (_, reply) = (job.work)(Some(&conn));
                replies.push((reply, None));
                continue;
            }
            let savepoint = run_cached(&conn, "SAVEPOINT job");
            let (ok, reply) = (job.work)(Some(&conn));
            let closed = if ok {
                run_cached(&conn, "RELEASE job")
            } else {
                run_cached(&conn, "ROLLBACK TO job").and_then(|()| run_cached(&conn, "RELEASE job"))
            };
            match savepoint.and(closed) {
                Ok(()) => replies.push((reply, None)),
                Err(e) => replies.push((reply, Some(e))),
            }
        }
        let committed = conn.execute_batch("COMMIT").map_err(db_error);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for (reply, own_error) in replies {
            match own_error {
                Some(e) => reply(Err(e)),
                None => reply(committed.clone()),
            }
        }
    }
}

impl Store for SqliteStore {
    fn migrate(&self, tables: Vec<Arc<Table>>) -> StoreFuture<'_, MigrationReport> {
        self.write(move |conn| tables::migrate(conn, &tables))
    }

    fn table_op(&self, op: TableOp, step: Option<StepCommit>) -> StoreFuture<'_, Value> {
        if let TableOp::Select { .. } = op
            && step.is_none()
        {
            return self.read(move |conn| tables::execute(conn, &op));
        }
        // The outer result is the job's (its earlier records kept); the inner
        // one is the operation's, undone with its step's record on failure.
        // The job needs a savepoint of its own only when writing the earlier
        // records is more than one statement.
        let savepoint = step
            .as_ref()
            .is_some_and(|step| !runs::writes_in_one_statement(&step.earlier));
        let committed = self.write_with(savepoint, move |conn| {
            if let Some(claim) = step.as_ref().and_then(|s| s.claim.as_ref()) {
                events::hold_claim(conn, claim)?;
            }
            if let Some(step) = &step {
                runs::write_records(conn, &step.earlier)?;
            }
            Ok(in_savepoint(conn, || {
                let output = tables::execute(conn, &op)?;
                if let Some(StepCommit {
                    step: mut record,
                    started,
                    ..
                }) = step
                {
                    record.output = output.clone();
                    record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
                    runs::insert_steps(conn, std::slice::from_ref(&record))?;
                }
                Ok(output)
            }))
        });
        Box::pin(async move { committed.await? })
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
        let savepoint = !runs::writes_in_one_statement(&records);
        self.write_detached("a run's records", savepoint, move |conn| {
            let result = runs::write_records(conn, &records);
            drop(permit);
            result
        });
    }

    fn count_rows(&self, tables: Vec<Arc<Table>>) -> StoreFuture<'_, Vec<u64>> {
        self.read(move |conn| tables::count_rows(conn, &tables))
    }

    fn list_runs(&self, filter: RunFilter) -> StoreFuture<'_, Vec<RunRecord>> {
        self.read(move |conn| runs::list_runs(conn, &filter))
    }

    fn get_run(&self, id: String) -> StoreFuture<'_, Option<RunDetail>> {
        self.read(move |conn| runs::get_run(conn, &id))
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        self.write_atomic(|_| Ok(()))
    }

    fn event_received(&self, event: NewEvent) -> StoreFuture<'_, bool> {
        self.write(move |conn| events::insert(conn, &event))
    }

    fn claim_events(
        &self,
        instance: String,
        now: i64,
        limit: u32,
    ) -> StoreFuture<'_, Vec<EventRecord>> {
        self.write(move |conn| events::claim(conn, &instance, now, limit))
    }

    fn claimed_events(&self, instance: String, now: i64) -> StoreFuture<'_, Vec<EventRecord>> {
        self.read(move |conn| events::claimed(conn, &instance, now))
    }

    fn next_event_due(&self, now: i64) -> StoreFuture<'_, Option<i64>> {
        self.read(move |conn| events::next_due(conn, now))
    }

    fn event_update(&self, update: EventUpdate) -> StoreFuture<'_, bool> {
        self.write_atomic(move |conn| events::update(conn, &update))
    }

    fn list_events(&self, filter: EventFilter) -> StoreFuture<'_, Vec<EventRecord>> {
        self.read(move |conn| events::list(conn, &filter))
    }

    fn get_event(&self, id: String) -> StoreFuture<'_, Option<EventRecord>> {
        self.read(move |conn| events::get(conn, &id))
    }

    fn runs_of_events(&self, event_ids: Vec<String>) -> StoreFuture<'_, Vec<RunRecord>> {
        self.read(move |conn| events::runs_of_events(conn, &event_ids))
    }

    fn step_output(&self, root: String, key: String) -> StoreFuture<'_, Option<Value>> {
        self.read(move |conn| events::step_output(conn, &root, &key))
    }

    fn heartbeat(&self, beat: Heartbeat) -> StoreFuture<'_, Recovery> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.write(move |conn| events::heartbeat(conn, &beat, &now))
    }

    fn leave(&self, instance: String) -> StoreFuture<'_, Recovery> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.write(move |conn| events::leave(conn, &instance, &now))
    }

    fn list_instances(&self) -> StoreFuture<'_, Vec<InstanceRecord>> {
        self.read(events::list_instances)
    }

    fn claim_startup(
        &self,
        instance: String,
        version: String,
        now: i64,
        lease_ms: i64,
    ) -> StoreFuture<'_, bool> {
        self.write(move |conn| {
            events::claim_startup(conn, &instance, &version, now.saturating_sub(lease_ms))
        })
    }

    fn sign_out_session(&self, id: String, expires_at: i64) -> StoreFuture<'_, ()> {
        let now = chrono::Utc::now().timestamp();
        self.write(move |conn| runs::sign_out_session(conn, &id, expires_at, now))
    }

    fn session_signed_out(&self, id: String) -> StoreFuture<'_, bool> {
        self.read(move |conn| runs::session_signed_out(conn, &id))
    }

    fn sandbox_load(&self) -> StoreFuture<'_, SandboxSnapshot> {
        self.read(sandbox::load)
    }

    fn sandbox_claim(&self, owner: String) -> StoreFuture<'_, SandboxClaim> {
        let path = self.readers.path.clone();
        Box::pin(async move {
            let held = tokio::task::spawn_blocking(move || sandbox_claim::claim(&path, &owner))
                .await
                .map_err(|e| {
                    StoreError::Database(format!("claiming the sandbox's state stopped: {e}"))
                })??;
            let held = Arc::new(held);
            *self.sandbox_owner.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&held);
            Ok(SandboxClaim::new(held))
        })
    }

    fn sandbox_commit(&self, changes: SandboxChanges) -> StoreFuture<'_, ()> {
        let claimed = self
            .sandbox_owner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .strong_count()
            > 0;
        if !claimed {
            return Box::pin(async { Err(crate::sandbox_not_claimed()) });
        }
        self.write(move |conn| sandbox::apply(conn, &changes))
    }

    fn count(&self) -> StoreFuture<'_, Counts> {
        self.read(copy::count)
    }

    fn export(&self, kind: Kind, after: Option<Cursor>, limit: u32) -> StoreFuture<'_, Page> {
        self.read(move |conn| copy::export(conn, &kind, &after, limit))
    }

    fn import(&self, records: Records) -> StoreFuture<'_, u64> {
        // A job of its own with its savepoint: a page that fails leaves
        // nothing of itself, whatever else commits with it.
        self.write(move |conn| copy::import(conn, &records))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_wait_for_room_while_the_writer_is_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db")).await.unwrap();
        // Records written give their room back once written.
        store.record(RunRecords {
            end: Some(crate::RunEnd {
                id: "run_none".into(),
                status: crate::RunStatus::Succeeded,
                error: None,
                response_status: None,
                finished_at: "2026-11-23T10:00:00.000Z".into(),
                duration_ms: 1.0,
            }),
            ..RunRecords::default()
        });
        store.flush().await.unwrap();
        assert_eq!(store.record_room.available_permits(), RECORD_BACKLOG);
        // With every place taken, a new run waits until one is given back.
        let taken = store
            .record_room
            .clone()
            .try_acquire_many_owned(RECORD_BACKLOG as u32)
            .unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), store.records_room()).await;
        assert!(
            waiting.is_err(),
            "a run started with no room for its records"
        );
        drop(taken);
        tokio::time::timeout(Duration::from_secs(5), store.records_room())
            .await
            .expect("room came back")
            .unwrap();
    }

    #[tokio::test]
    async fn a_failing_job_rolls_back_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db")).await.unwrap();
        store
            .write(|c| {
                c.execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
                    .map_err(db_error)
            })
            .await
            .unwrap();
        let good = store.write(|c| c.execute("INSERT INTO t VALUES (1)", []).map_err(db_error));
        let bad = store.write(|c| {
            c.execute("INSERT INTO t VALUES (2)", [])
                .map_err(db_error)?;
            c.execute("INSERT INTO t VALUES (1)", []).map_err(db_error)
        });
        // A job of one statement runs without a savepoint: SQLite undoes
        // the whole statement (row 3 too) when row 1 clashes.
        let bad_statement = store.write_atomic(|c| {
            c.execute("INSERT INTO t VALUES (3), (1)", [])
                .map_err(db_error)
        });
        let good_after =
            store.write_atomic(|c| c.execute("INSERT INTO t VALUES (4)", []).map_err(db_error));
        let (good, bad, bad_statement, good_after) =
            tokio::join!(good, bad, bad_statement, good_after);
        assert_eq!(good.unwrap(), 1);
        assert!(bad.is_err());
        assert!(bad_statement.is_err());
        assert_eq!(good_after.unwrap(), 1);
        let rows: Vec<i64> = store
            .read(|c| {
                let mut stmt = c.prepare("SELECT x FROM t ORDER BY x").map_err(db_error)?;
                let rows = stmt.query_map([], |r| r.get(0)).map_err(db_error)?;
                rows.collect::<Result<_, _>>().map_err(db_error)
            })
            .await
            .unwrap();
        assert_eq!(rows, vec![1, 4]);
    }
}
