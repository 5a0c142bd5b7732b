//! The one owner of a database's Stripe sandbox state on PostgreSQL.
//!
//! The sandbox keeps its objects in memory and writes them through, so two
//! sandboxes on one database would each overwrite what the other wrote. A
//! sandbox therefore owns the state: it holds a session-level advisory
//! lock on a connection of its own, keyed by the schema (paywires in two
//! schemas of one database are two deployments), and records itself in
//! `_stripe_owner` with a token of its own and the text that names it to a
//! refused operator. The lock goes when the session ends, so a killed
//! sandbox frees the state as soon as PostgreSQL notices.
//!
//! Every commit of the sandbox goes through that connection, queued in the
//! order the sandbox made them and written by one task, many to a
//! transaction. When the connection breaks (the server restarted, the
//! network dropped), the task connects again and takes the lock back, but
//! only if `_stripe_owner` still carries its token: had another sandbox
//! owned the state meanwhile, this one's memory is behind what the other
//! wrote, so it is fenced and stores nothing more. While idle, the task
//! checks its connection every few seconds, so that after a restart of
//! the server the owner takes its lock back before another sandbox can.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Client;

use super::connect::Target;
use super::db_error;
use super::sandbox::{self, Statements};
use crate::{SandboxChanges, StoreError};
use paywire_support::Backoff;

/// The first key of the sandbox's advisory lock ("payw"); the second is
/// the hash of the schema's name.
const LOCK_CLASS: i32 = 0x7061_7977;

/// Takes the lock for the schema of the connection, without waiting.
const TRY_LOCK: &str = "SELECT pg_try_advisory_lock($1, hashtext(coalesce(current_schema(), '')))";

/// How long a claim waits for a lock still held by a session whose process
/// has just stopped: PostgreSQL ends the session once it reads the closed
/// connection, which takes a moment.
const GRACE: Duration = Duration::from_secs(2);

/// How often an idle owner checks its connection.
const PING: Duration = Duration::from_secs(5);

/// How many queued commits one transaction takes.
const BATCH: usize = 64;

/// How the writer waits for a database that went away.
const RETRY: Backoff = Backoff {
    attempts: u32::MAX,
    first_delay: Duration::from_millis(100),
    max_delay: Duration::from_secs(5),
};

pub(super) async fn create_schema(
    c: &impl deadpool_postgres::GenericClient,
) -> Result<(), StoreError> {
    c.batch_execute(
        "CREATE TABLE IF NOT EXISTS _stripe_owner (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            token TEXT NOT NULL,
            owner TEXT NOT NULL,
            pid INTEGER NOT NULL,
            since TEXT NOT NULL
        );",
    )
    .await
    .map_err(db_error)
}

/// A commit waiting for the writer, and who waits for it.
struct Job {
    changes: SandboxChanges,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The ownership, as the store keeps it: the way to the owner's writer.
/// Dropping the last handle ends the writer, whose connection closes and
/// takes the lock with it.
pub(super) struct Owner {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Owner {
    /// Queues `changes` behind every commit queued before; the answer comes
    /// once they are committed.
    pub(super) fn commit(
        &self,
        changes: SandboxChanges,
    ) -> oneshot::Receiver<Result<(), StoreError>> {
        let (done, answer) = oneshot::channel();
        // A writer that has stopped drops the job, and the receiver then
        // reads the store as closed.
        let _ = self.jobs.send(Job { changes, done });
        answer
    }
}

/// Claims the sandbox's state for `owner` (see `Store::sandbox_claim`).
pub(super) async fn claim(target: &Target, owner: &str) -> Result<Arc<Owner>, StoreError> {
    let (client, statements) = connect(target).await?;
    let deadline = tokio::time::Instant::now() + GRACE;
    while !try_lock(&client).await? {
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::SandboxHeld(holder(&client).await?));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let token: String = client
        .query_one(
            "INSERT INTO _stripe_owner (id, token, owner, pid, since)
             VALUES (1, gen_random_uuid()::text, $1, pg_backend_pid(), $2)
             ON CONFLICT (id) DO UPDATE SET token = excluded.token, owner = excluded.owner,
                 pid = excluded.pid, since = excluded.since
             RETURNING token",
            &[&owner, &since],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)?;
    let (jobs, queue) = mpsc::unbounded_channel();
    let writer = Writer {
        target: target.clone(),
        token,
        connection: Some((client, statements)),
        fenced: None,
    };
    tokio::spawn(writer.run(queue));
    Ok(Arc::new(Owner { jobs }))
}

/// A connection of the owner's own, outside the pool, so that its session
/// (and the lock) lasts exactly as long as the ownership.
async fn connect(target: &Target) -> Result<(Client, Statements), StoreError> {
    let client = target.connect("paywire sandbox").await.map_err(db_error)?;
    let statements = Statements::prepare(&client).await?;
    Ok((client, statements))
}

async fn try_lock(client: &Client) -> Result<bool, StoreError> {
    client
        .query_one(TRY_LOCK, &[&LOCK_CLASS])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(db_error)
}

/// The owner as it described itself, for a refusal.
async fn holder(client: &Client) -> Result<String, StoreError> {
    let row = client
        .query_opt("SELECT owner, since FROM _stripe_owner WHERE id = 1", &[])
        .await
        .map_err(db_error)?;
    Ok(match row {
        Some(row) => {
            let owner: String = row.try_get(0).map_err(db_error)?;
            let since: String = row.try_get(1).map_err(db_error)?;
            format!("{owner}, since {since}")
        }
        None => "another process".to_string(),
    })
}

/// Writes the owner's commits on its connection; see the module's comment.
struct Writer {
    target: Target,
    token: String,
    connection: Option<(Client, Statements)>,
    /// Why nothing more is stored, once another sandbox took the state.
    fenced: Option<StoreError>,
}

impl Writer {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Job>) {
        let mut jobs = Vec::with_capacity(BATCH);
        loop {
            match tokio::time::timeout(PING, queue.recv_many(&mut jobs, BATCH)).await {
                // The ownership was dropped: the connection closes with this
                // task, and the lock with it.
                Ok(0) => return,
                Ok(_) => self.write(&mut jobs).await,
                Err(_) => self.check().await,
            }
        }
    }

    /// Commits `jobs`, in one transaction, and answers each. While the
    /// database is unavailable the batch waits and is written again: its
    /// writes replace rows by their keys, so a batch whose commit was lost
    /// on the way back may be written twice. One that fails otherwise is
    /// written again one job at a time, so that one bad change fails alone.
    async fn write(&mut self, jobs: &mut Vec<Job>) {
        let mut attempt = 1;
        let outcome = loop {
            let result = match self.connected().await {
                Ok(()) => self.apply(jobs.iter().map(|job| &job.changes)).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_transient() && self.fenced.is_none() => {
                    if attempt == 1 {
                        tracing::warn!(error = %e, "the sandbox's changes wait for the database to come back");
                    }
                    self.drop_if_broken();
                    tokio::time::sleep(RETRY.delay(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
                done => break done,
            }
        };
        match outcome {
            Ok(()) => {
                for job in jobs.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(e) if self.fenced.is_some() || jobs.len() == 1 => {
                for job in jobs.drain(..) {
                    let _ = job.done.send(Err(e.clone()));
                }
            }
            Err(_) => {
                for job in jobs.drain(..) {
                    let result = self.apply(std::iter::once(&job.changes)).await;
                    let _ = job.done.send(result);
                }
            }
        }
    }

    async fn apply(
        &mut self,
        changes: impl Iterator<Item = &SandboxChanges>,
    ) -> Result<(), StoreError> {
        let Some((client, statements)) = self.connection.as_mut() else {
            return Err(StoreError::Unavailable(
                "no connection to PostgreSQL".into(),
            ));
        };
        let tx = client.transaction().await.map_err(db_error)?;
        for change in changes {
            sandbox::apply(&tx, statements, change).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    /// Forgets a connection that broke, so that the next write makes one.
    fn drop_if_broken(&mut self) {
        if self
            .connection
            .as_ref()
            .is_some_and(|(client, _)| client.is_closed())
        {
            self.connection = None;
        }
    }

    /// While idle: makes sure the connection, and with it the lock, is
    /// still there, and takes it back if not.
    async fn check(&mut self) {
        if self.fenced.is_some() {
            return;
        }
        if let Some((client, _)) = &self.connection
            && client.simple_query("").await.is_ok()
        {
            return;
        }
        self.connection = None;
        if let Err(e) = self.connected().await {
            tracing::debug!(error = %e, "the sandbox cannot reach its database yet");
        }
    }

    /// A connection holding the lock, made again if the last one broke.
    async fn connected(&mut self) -> Result<(), StoreError> {
        if let Some(fenced) = &self.fenced {
            return Err(fenced.clone());
        }
        self.drop_if_broken();
        if self.connection.is_some() {
            return Ok(());
        }
        let (client, statements) = connect(&self.target).await?;
        self.take_back(&client).await?;
        tracing::info!("the sandbox is connected to its database again and still owns its state");
        self.connection = Some((client, statements));
        Ok(())
    }

    /// Takes the lock again on a new connection, if no other sandbox owned
    /// the state since. A lock still held under this owner's token is its
    /// own old session, which PostgreSQL has not yet seen go (a dropped
    /// network): that session is ended, and the lock taken once it is.
    async fn take_back(&mut self, client: &Client) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + GRACE;
        loop {
            let locked = try_lock(client).await?;
            let ours = client
                .query_opt(
                    "SELECT pid FROM _stripe_owner WHERE id = 1 AND token = $1",
                    &[&self.token],
                )
                .await
                .map_err(db_error)?;
            let old_session: i32 = match (locked, ours) {
                (true, Some(_)) => {
                    // The row names the session that holds the lock now.
                    client
                        .execute(
                            "UPDATE _stripe_owner SET pid = pg_backend_pid() WHERE id = 1",
                            &[],
                        )
                        .await
                        .map_err(db_error)?;
                    return Ok(());
                }
                (false, Some(row)) => row.try_get(0).map_err(db_error)?,
                // Another sandbox owned the state meanwhile (and may still).
                // A lock this connection took goes with the connection,
                // which the caller drops.
                (_, None) => return Err(self.fence(client).await),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Unavailable(
                    "PostgreSQL still holds the sandbox's lock for its old session".into(),
                ));
            }
            // Only while that process still holds the sandbox's lock, so
            // that no session that has its number since is touched.
            client
                .execute(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
                     WHERE l.locktype = 'advisory' AND l.granted AND l.pid = $1
                       AND l.classid = $2::int4::oid AND l.objsubid = 2",
                    &[&old_session, &LOCK_CLASS],
                )
                .await
                .map_err(db_error)?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn fence(&mut self, client: &Client) -> StoreError {
        let holder = holder(client)
            .await
            .unwrap_or_else(|_| "another sandbox".to_string());
        let error = StoreError::SandboxHeld(format!(
            "{holder}, which took it while this sandbox was cut off from the database; \
             this one stores nothing more: stop it"
        ));
        tracing::error!(error = %error, "this sandbox lost its database's Stripe state");
        self.fenced = Some(error.clone());
        error
    }
}
