//! [`Engine`]: the version of the project being run and what runs it, the
//! handle that the server, the inbox's worker and the command line share.
//!
//! It holds only what running needs: the store, the evaluator, the Stripe
//! client, the deployment being served (which a reload swaps while runs keep
//! going) and the inbox's wake-up. Loading the project, settings and the
//! HTTP side live with the server, which calls in here and is never called
//! back.

use std::sync::{Arc, Mutex};

use paywire_expr::Evaluator;
use paywire_model::{Project, Trigger};
use paywire_store::{
    EventRecord, EventState, EventUpdate, MigrationReport, Recovery, RunKind, RunStatus, Store,
    StoreError,
};
use paywire_stripe::client::StripeClient;
use paywire_support::Backoff;
use tokio::task::JoinHandle;

use crate::deployment::{Deployment, Deployments};
use crate::inbox::{Inbox, Worker};
use crate::instance::Instance;
use crate::runner::{RunIdentity, RunOutcome, new_run_id};

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("there is no run `{0}`")]
    NotFound(String),
    #[error("run `{id}` has status {status}; only failed runs are retried")]
    NotFailed { id: String, status: &'static str },
    #[error("run `{id}` ran `{name}`, which the project no longer has")]
    Gone { id: String, name: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("there is no event `{0}`")]
    NotFound(String),
    #[error("event `{id}` is {state}; only failed events are replayed")]
    NotFailed { id: String, state: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Engine {
    store: Arc<dyn Store>,
    evaluator: Arc<Evaluator>,
    stripe: Option<Arc<StripeClient>>,
    deployments: Arc<Deployments>,
    inbox: Arc<Inbox>,
    event_retry: Backoff,
    instance: Instance,
    /// When this instance started (RFC 3339), as the store lists it.
    started_at: String,
    /// The heartbeat and the inbox's worker, once started: what
    /// [`Engine::leave`] stops.
    background: Mutex<Option<Background>>,
}

struct Background {
    heartbeat: JoinHandle<()>,
    worker: JoinHandle<()>,
}

impl Engine {
    /// Takes back what stopped instances left unfinished (see
    /// [`Instance`]), migrates the project's tables and makes it the version
    /// served. Nothing runs until [`Engine::start`].
    pub async fn new(
        project: Project,
        store: Arc<dyn Store>,
        evaluator: Arc<Evaluator>,
        stripe: Option<Arc<StripeClient>>,
        event_retry: Backoff,
        instance: Instance,
    ) -> Result<(Arc<Engine>, MigrationReport), StoreError> {
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        instance.first_beat(&*store, &started_at).await?;
        let (deployment, report) =
            Deployment::deploy(project, &evaluator, &store, &stripe, &instance).await?;
        let engine = Arc::new(Engine {
            store,
            evaluator,
            stripe,
            deployments: Arc::new(Deployments::new(deployment)),
            inbox: Arc::default(),
            event_retry,
            instance,
            started_at,
            background: Mutex::new(None),
        });
        Ok((engine, report))
    }

    /// Starts the heartbeat and the inbox's worker, which run until the
    /// engine is dropped, and the `trigger: startup` workflows.
    pub fn start(&self) {
        let heartbeat = self.instance.spawn_heartbeat(
            self.store.clone(),
            self.started_at.clone(),
            self.inbox.clone(),
            Arc::downgrade(&self.deployments),
        );
        let worker = Worker {
            store: self.store.clone(),
            deployments: Arc::downgrade(&self.deployments),
            inbox: self.inbox.clone(),
            retry: self.event_retry,
            instance: self.instance.id.clone(),
        }
        .spawn();
        *self.background.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Background { heartbeat, worker });
        self.run_startup_workflows();
    }

    /// This instance stops serving, for good: the inbox's worker stops
    /// claiming, the events it was running are dropped where they stand,
    /// the heartbeat stops, and once every record handed over is committed
    /// the store takes back what is left at once (`Store::leave`): runs
    /// still running fail as interrupted, to be resumed, and claimed events
    /// are free for another instance or the next start, which would
    /// otherwise wait for the lease to run out. Called when the server has
    /// stopped answering, as the process ends.
    pub async fn leave(&self) -> Result<Recovery, StoreError> {
        self.inbox.close();
        let background = self
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(Background { heartbeat, worker }) = background {
            heartbeat.abort();
            let _ = heartbeat.await;
            let _ = worker.await;
        }
        self.store.flush().await?;
        self.store.leave(self.instance.id.to_string()).await
    }

    /// This process, as the instances sharing the store know it.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Wakes the worker that runs the workflows of received events.
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// The version being served now.
    pub fn current(&self) -> Arc<Deployment> {
        self.deployments.current()
    }

    /// Migrates the tables of a newly loaded version and serves it; runs
    /// under way finish on the version they started with.
    pub async fn reload(&self, project: Project) -> Result<MigrationReport, StoreError> {
        let (deployment, report) = Deployment::deploy(
            project,
            &self.evaluator,
            &self.store,
            &self.stripe,
            &self.instance,
        )
        .await?;
        self.deployments.swap(deployment);
        Ok(report)
    }

    /// Starts the `trigger: startup` workflows, in the background, unless
    /// another instance of this deployment ran them (see
    /// `Store::claim_startup`).
    fn run_startup_workflows(&self) {
        let deployment = self.current();
        let startup: Vec<_> = deployment
            .project
            .workflows
            .values()
            .filter(|w| w.trigger == Trigger::Startup)
            .cloned()
            .collect();
        if startup.is_empty() {
            return;
        }
        let store = self.store.clone();
        let instance = self.instance.clone();
        tokio::spawn(async move {
            let version = deployment.project.version.clone();
            let lease = i64::try_from(instance.lease.as_millis()).unwrap_or(i64::MAX);
            let now = chrono::Utc::now().timestamp_millis();
            match store
                .claim_startup(instance.id.to_string(), version.clone(), now, lease)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(%version, "another instance of this deployment ran its startup workflows");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot tell whether the startup workflows ran; they do not run");
                    return;
                }
            }
            for workflow in startup {
                run_startup_workflow(deployment.clone(), workflow);
            }
        });
    }
}

impl Engine {
    /// Runs a failed run again, with the input it was given (secret headers
    /// stay redacted), as a new run that records which run it retries. Its
    /// Stripe calls carry the idempotency keys of the first run of the
    /// chain, so a payment or a session that the failed run created is not
    /// created twice: Stripe answers the retried call with the first answer.
    pub async fn retry_run(&self, id: &str) -> Result<RunOutcome, RetryError> {
        let detail = self
            .store
            .get_run(id.to_string())
            .await?
            .ok_or_else(|| RetryError::NotFound(id.to_string()))?;
        let record = detail.run;
        if record.status != RunStatus::Failed {
            return Err(RetryError::NotFailed {
                id: record.id,
                status: record.status.as_str(),
            });
        }
        let identity = RunIdentity {
            id: new_run_id(),
            retry_of: Some(record.retry_of.clone().unwrap_or(record.id.clone())),
            trigger_event: record.trigger_event.clone(),
            // A retry asked for by an operator runs outside the inbox,
            // which holds no claim on its event.
            claim: None,
        };
        let deployment = self.current();
        let gone = || RetryError::Gone {
            id: record.id.clone(),
            name: record.name.clone(),
        };
        let context = record.input.clone();
        let outcome = match record.kind {
            RunKind::Api => {
                let api = deployment
                    .project
                    .apis
                    .iter()
                    .find(|api| api.name == record.name)
                    .cloned()
                    .ok_or_else(gone)?;
                // Nobody waits for the answer of a retried API run; its
                // record keeps the status it answered.
                let (reply, _) = tokio::sync::oneshot::channel();
                deployment
                    .runner
                    .run_api(identity, api, &context, context.clone(), reply)
                    .await
            }
            RunKind::Workflow => {
                let workflow = deployment
                    .project
                    .workflows
                    .get(&record.name)
                    .cloned()
                    .ok_or_else(gone)?;
                deployment
                    .runner
                    .run_workflow(identity, workflow, &context, context.clone())
                    .await
            }
        };
        Ok(outcome)
    }

    /// Puts a failed event back in the queue, with its attempts renewed. Its
    /// workflows that already succeeded are not run again, and the others
    /// resume: what their earlier attempts did is not done twice.
    pub async fn replay_event(&self, id: &str) -> Result<EventRecord, ReplayError> {
        self.store.flush().await?;
        let event = self
            .store
            .get_event(id.to_string())
            .await?
            .ok_or_else(|| ReplayError::NotFound(id.to_string()))?;
        if event.state != EventState::Failed {
            return Err(ReplayError::NotFailed {
                id: event.id,
                state: event.state.as_str(),
            });
        }
        let update = EventUpdate {
            id: event.id.clone(),
            state: EventState::Pending,
            attempts: 0,
            next_attempt_at: 0,
            last_error: event.last_error.clone(),
            finished_at: None,
            holder: None,
        };
        self.store.event_update(update).await?;
        self.inbox.rescan();
        Ok(EventRecord {
            state: EventState::Pending,
            attempts: 0,
            ..event
        })
    }
}

/// Runs one `trigger: startup` workflow in the background.
fn run_startup_workflow(deployment: Arc<Deployment>, workflow: Arc<paywire_model::Workflow>) {
    tokio::spawn(async move {
        let context = serde_json::json!({ "parameters": {}, "started_by": "startup" });
        let outcome = deployment
            .runner
            .run_workflow(
                RunIdentity::new(),
                workflow.clone(),
                &context,
                context.clone(),
            )
            .await;
        if let Some(e) = outcome.error {
            tracing::warn!(workflow = %workflow.name, run = %outcome.run_id, error = %e, "a startup workflow failed");
        }
    });
}
