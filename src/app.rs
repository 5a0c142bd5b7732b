//! The running application: the store, the expression engine, and the
//! version of the project being served, which a reload (`serve --watch`)
//! replaces while requests keep flowing.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use paywire_engine::inbox::EVENT_RETRY;
use paywire_engine::{Deployment, Engine, Instance};
use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::{LoadError, Project, load_project};
use paywire_store::{Database, MigrationReport, Store, StoreError};
use paywire_stripe::client::{STRIPE_CALL_RETRY, StripeClient};
use paywire_support::Backoff;

use crate::config::Secret;

#[derive(Clone, Debug)]
pub struct Settings {
    /// The project folder.
    pub dir: PathBuf,
    /// The database: a SQLite file or a PostgreSQL URL.
    pub db: Database,
    pub expr_limits: ExprLimits,
    /// The largest request body an API accepts.
    pub max_body_bytes: usize,
    /// The timeouts of slow and idle connections, and their cap.
    pub connections: ConnectionLimits,
    /// Serve the offline Stripe sandbox under `/_stripe`.
    pub sandbox: Option<paywire_sandbox::SandboxConfig>,
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
    /// This process among the instances sharing the database: its name,
    /// lease and heartbeat.
    pub instance: Instance,
}

/// How long a client may take, and how many connections it may hold.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionLimits {
    /// From a connection's opening, or its next request's first byte, to the
    /// end of the request's head.
    pub header_timeout: Duration,
    /// From a request's head to the end of its body.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
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
            tolerance_seconds: paywire_stripe::signature::DEFAULT_TOLERANCE_SECONDS,
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
    pub fn new(dir: impl Into<PathBuf>, db: impl Into<Database>) -> Settings {
        Settings {
            dir: dir.into(),
            db: db.into(),
            expr_limits: ExprLimits::default(),
            max_body_bytes: 1 << 20,
            connections: ConnectionLimits::default(),
            sandbox: None,
            stripe: None,
            admin_token: None,
            admin_open_without_token: false,
            webhook: WebhookSettings::default(),
            event_retry: EVENT_RETRY,
            instance: Instance::default(),
        }
    }

    /// Serves the sandbox and points the Stripe actions at it; the webhook
    /// endpoint takes the sandbox's signing secret unless it has one.
    pub fn with_sandbox(mut self, sandbox: paywire_sandbox::SandboxConfig) -> Settings {
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
    evaluator: Arc<Evaluator>,
    engine: Arc<Engine>,
    /// What is wrong with the project on disk, while it does not check and
    /// the last good version is served.
    problems: RwLock<Option<String>>,
    sandbox: Option<Arc<paywire_sandbox::Sandbox>>,
}

impl App {
    /// Loads the project, opens the database and migrates the tables.
    pub async fn start(settings: Settings) -> Result<Arc<App>, StartError> {
        if !crate::config::is_plain_path(&settings.webhook.path) {
            return Err(StartError::WebhookPath(settings.webhook.path.clone()));
        }
        let evaluator = Arc::new(Evaluator::new(settings.expr_limits.clone()));
        let project = load_in_background(settings.dir.clone(), evaluator.clone()).await?;
        let store = settings.db.open().await?;
        let stripe = match &settings.stripe {
            Some(stripe) => Some(Arc::new(
                StripeClient::new(&stripe.secret_key, &stripe.api_base, stripe.retry)
                    .map_err(StartError::Stripe)?,
            )),
            None => None,
        };
        // The sandbox first: a database has one, and an instance refused
        // its sandbox stops before it counts among the instances or takes
        // back anything of theirs.
        let sandbox = match &settings.sandbox {
            Some(config) => {
                Some(paywire_sandbox::Sandbox::start(config.clone(), store.clone()).await?)
            }
            None => None,
        };
        let (engine, report) = Engine::new(
            project,
            store.clone(),
            evaluator.clone(),
            stripe,
            settings.event_retry,
            settings.instance.clone(),
        )
        .await?;
        log_migration(&report);
        engine.start();
        Ok(Arc::new(App {
            settings,
            evaluator,
            engine,
            problems: RwLock::new(None),
            sandbox,
        }))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The Stripe sandbox, when paywire serves one.
    pub fn sandbox(&self) -> Option<&Arc<paywire_sandbox::Sandbox>> {
        self.sandbox.as_ref()
    }

    /// What runs the project: runs, retries, replays, the inbox.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        self.engine.store()
    }

    /// The version being served now.
    pub fn current(&self) -> Arc<Deployment> {
        self.engine.current()
    }

    /// Problems of the project on disk, if it stopped checking.
    pub fn problems(&self) -> Option<String> {
        self.problems
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads the project again and serves it if it checks; otherwise keeps
    /// serving the last good version and remembers the problems.
    pub async fn reload(&self) -> Result<(), StartError> {
        let outcome = async {
            let project =
                load_in_background(self.settings.dir.clone(), self.evaluator.clone()).await?;
            let report = self.engine.reload(project).await?;
            log_migration(&report);
            Ok::<_, StartError>(())
        }
        .await;
        match outcome {
            Ok(()) => {
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
