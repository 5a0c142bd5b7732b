//! The running application: the store, the expression engine, and the
//! version of the project being served, which a reload (`serve --watch`)
//! replaces while requests keep flowing.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::actions::Actions;
use crate::backoff::Backoff;
use crate::config::Secret;
use crate::expr::{Evaluator, ExprLimits};
use crate::inbox::{EVENT_RETRY, Inbox};
use crate::model::{LoadError, Project, load_project};
use crate::runner::{RunIdentity, RunOutcome, Runner, new_run_id};
use crate::store::sqlite::SqliteStore;
use crate::store::{
    EventRecord, EventState, EventUpdate, MigrationReport, Recovery, RunKind, RunStatus, Store,
    StoreError,
};
use crate::stripe::client::{STRIPE_CALL_RETRY, StripeClient};

#[derive(Clone, Debug)]
pub struct Settings {
    /// The project folder.
    pub dir: PathBuf,
    /// The SQLite database file.
    pub db: PathBuf,
    pub expr_limits: ExprLimits,
    /// The largest request body an API accepts.
    pub max_body_bytes: usize,
    /// The timeouts of slow and idle connections, and their cap.
    pub connections: crate::http::ConnectionLimits,
    /// Serve the offline Stripe sandbox under `/_stripe`.
    pub sandbox: Option<crate::stripe::sandbox::SandboxConfig>,
    /// The Stripe API the Stripe actions call: real Stripe, the sandbox, or
    /// another Stripe-compatible server. `None`: Stripe steps fail.
    pub stripe: Option<StripeSettings>,
    /// The token the admin API (and console) asks for.
    pub admin_token: Option<Secret>,
    /// Whether the admin API is open when no token is set: only for the
    /// sandbox on loopback, a builder's own machine.
    pub admin_open_without_token: bool,
    pub webhook: WebhookSettings,
    pub event_retry: Backoff,
}

/// The endpoint Stripe sends events to.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub path: String,
    /// Signing secrets; any may match (two while a secret is rolled). None:
    /// the endpoint refuses every event, since none can be verified.
    pub secrets: Vec<Secret>,
    /// How old a signature may be, in seconds.
    pub tolerance_seconds: i64,
}

impl Default for WebhookSettings {
    fn default() -> WebhookSettings {
        WebhookSettings {
            path: "/webhooks/stripe".into(),
            secrets: Vec::new(),
            tolerance_seconds: crate::stripe::signature::DEFAULT_TOLERANCE_SECONDS,
        }
    }
}

#[derive(Clone, Debug)]
pub struct StripeSettings {
    pub secret_key: Secret,
    pub api_base: String,
    pub retry: Backoff,
}

/// The key the Stripe actions use against the sandbox, which takes any test
/// key.
pub const SANDBOX_KEY: &str = "sk_test_paywire_sandbox";

impl Settings {
    pub fn new(dir: impl Into<PathBuf>, db: impl Into<PathBuf>) -> Settings {
        Settings {
            dir: dir.into(),
            db: db.into(),
            expr_limits: ExprLimits::default(),
            max_body_bytes: 1 << 20,
            connections: crate::http::ConnectionLimits::default(),
            sandbox: None,
            stripe: None,
            admin_token: None,
            admin_open_without_token: false,
            webhook: WebhookSettings::default(),
            event_retry: EVENT_RETRY,
        }
    }

    /// Serves the sandbox and points the Stripe actions at it; the webhook
    /// endpoint takes the sandbox's signing secret unless it has one.
    pub fn with_sandbox(mut self, sandbox: crate::stripe::sandbox::SandboxConfig) -> Settings {
        if self.webhook.secrets.is_empty() {
            self.webhook.secrets = vec![Secret::new(sandbox.webhook_secret.clone())];
        }
        self.stripe = Some(StripeSettings {
            secret_key: Secret::new(SANDBOX_KEY),
            api_base: sandbox.base_url.clone(),
            retry: STRIPE_CALL_RETRY,
        });
        self.sandbox = Some(sandbox);
        self
    }
}

/// One loaded version of the project, ready to run.
pub struct Deployment {
    pub project: Arc<Project>,
    pub runner: Runner,
}

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

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Stripe(String),
    #[error(
        "the webhook path `{0}` must start with `/` and have only letters, digits and / - _ . ~"
    )]
    WebhookPath(String),
}

pub struct App {
    settings: Settings,
    store: Arc<dyn Store>,
    evaluator: Arc<Evaluator>,
    current: RwLock<Arc<Deployment>>,
    /// What is wrong with the project on disk, while it does not check and
    /// the last good version is served.
    problems: RwLock<Option<String>>,
    sandbox: Option<Arc<crate::stripe::sandbox::Sandbox>>,
    stripe: Option<Arc<StripeClient>>,
    inbox: Arc<Inbox>,
}

impl App {
    /// Loads the project, opens the database and migrates the tables.
    pub async fn start(settings: Settings) -> Result<Arc<App>, StartError> {
        if !crate::config::is_plain_path(&settings.webhook.path) {
            return Err(StartError::WebhookPath(settings.webhook.path.clone()));
        }
        let evaluator = Arc::new(Evaluator::new(settings.expr_limits.clone()));
        let project = load_in_background(settings.dir.clone(), evaluator.clone()).await?;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&settings.db)?);
        let recovery = store.recover().await?;
        if recovery != Recovery::default() {
            tracing::warn!(
                runs = recovery.interrupted_runs,
                events = recovery.requeued_events,
                "paywire stopped while work was running: those runs are marked failed and their events will run again"
            );
        }
        let stripe = match &settings.stripe {
            Some(stripe) => Some(Arc::new(
                StripeClient::new(&stripe.secret_key, &stripe.api_base, stripe.retry)
                    .map_err(StartError::Stripe)?,
            )),
            None => None,
        };
        let (deployment, report) = deploy(project, &evaluator, &store, &stripe).await?;
        log_migration(&report);
        let sandbox = match &settings.sandbox {
            Some(config) => {
                Some(crate::stripe::sandbox::Sandbox::start(config.clone(), store.clone()).await?)
            }
            None => None,
        };
        let app = Arc::new(App {
            settings,
            store,
            evaluator,
            current: RwLock::new(Arc::new(deployment)),
            problems: RwLock::new(None),
            sandbox,
            stripe,
            inbox: Arc::default(),
        });
        crate::inbox::spawn_worker(&app);
        app.run_startup_workflows();
        Ok(app)
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Starts the `trigger: startup` workflows, in the background.
    fn run_startup_workflows(&self) {
        let deployment = self.current();
        for workflow in deployment.project.workflows.values() {
            if workflow.trigger != crate::model::Trigger::Startup {
                continue;
            }
            let deployment = deployment.clone();
            let workflow = workflow.clone();
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
    }

    /// Wakes the worker that runs the workflows of received events.
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// The Stripe sandbox, when paywire serves one.
    pub fn sandbox(&self) -> Option<&Arc<crate::stripe::sandbox::Sandbox>> {
        self.sandbox.as_ref()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The version being served now.
    pub fn current(&self) -> Arc<Deployment> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Problems of the project on disk, if it stopped checking.
    pub fn problems(&self) -> Option<String> {
        self.problems
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

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
        };
        self.store.event_update(update).await?;
        self.inbox.rescan();
        Ok(EventRecord {
            state: EventState::Pending,
            attempts: 0,
            ..event
        })
    }

    /// Loads the project again and serves it if it checks; otherwise keeps
    /// serving the last good version and remembers the problems.
    pub async fn reload(&self) -> Result<(), StartError> {
        let outcome = async {
            let project =
                load_in_background(self.settings.dir.clone(), self.evaluator.clone()).await?;
            let (deployment, report) =
                deploy(project, &self.evaluator, &self.store, &self.stripe).await?;
            log_migration(&report);
            Ok::<_, StartError>(deployment)
        }
        .await;
        match outcome {
            Ok(deployment) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(deployment);
                *self.problems.write().unwrap_or_else(|e| e.into_inner()) = None;
                tracing::info!("project reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(
                    "the project does not check; still serving the last good version:\n{e}"
                );
                *self.problems.write().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                Err(e)
            }
        }
    }
}

async fn load_in_background(dir: PathBuf, evaluator: Arc<Evaluator>) -> Result<Project, LoadError> {
    // Reading files and compiling expressions is blocking work.
    tokio::task::spawn_blocking(move || load_project(&dir, &evaluator))
        .await
        .unwrap_or_else(|e| {
            Err(LoadError::Io {
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            })
        })
}

async fn deploy(
    project: Project,
    evaluator: &Arc<Evaluator>,
    store: &Arc<dyn Store>,
    stripe: &Option<Arc<StripeClient>>,
) -> Result<(Deployment, MigrationReport), StoreError> {
    let report = store
        .migrate(project.tables.values().cloned().collect())
        .await?;
    let project = Arc::new(project);
    let actions = Arc::new(Actions::new(project.clone(), store.clone(), stripe.clone()));
    let runner = Runner::new(project.clone(), evaluator.clone(), actions, store.clone());
    Ok((Deployment { project, runner }, report))
}

fn log_migration(report: &MigrationReport) {
    for table in &report.created {
        tracing::info!("created table {table}");
    }
    for column in &report.added_columns {
        tracing::info!("added column {column}");
    }
}

/// Reloads the project whenever a file in its folder changes, until the
/// returned task is aborted. Polling keeps this dependable on every file
/// system (network mounts and containers included) at a negligible cost.
/// The folder's state is taken before this returns, so that an edit made
/// right after it is seen as a change.
pub async fn watch(app: Arc<App>, every: Duration) -> tokio::task::JoinHandle<()> {
    let dir = app.settings.dir.clone();
    let mut last = fingerprint(dir.clone()).await;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let now = fingerprint(dir.clone()).await;
            if now != last {
                last = now;
                let _ = app.reload().await;
            }
        }
    })
}

async fn fingerprint(dir: PathBuf) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let mut pending = vec![dir];
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    pending.push(path);
                } else {
                    out.push((path, meta.modified().ok(), meta.len()));
                }
            }
        }
        out.sort();
        out
    })
    .await
    .unwrap_or_default()
}
