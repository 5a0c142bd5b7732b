//! The running application: the store, the expression engine, and the
//! version of the project being served, which a reload (`serve --watch`)
//! replaces while requests keep flowing.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::actions::Actions;
use crate::expr::{Evaluator, ExprLimits};
use crate::model::{LoadError, Project, load_project};
use crate::runner::Runner;
use crate::store::sqlite::SqliteStore;
use crate::store::{MigrationReport, Store, StoreError};

#[derive(Clone, Debug)]
pub struct Settings {
    /// The project folder.
    pub dir: PathBuf,
    /// The SQLite database file.
    pub db: PathBuf,
    pub expr_limits: ExprLimits,
    /// The largest request body an API accepts.
    pub max_body_bytes: usize,
    /// Serve the offline Stripe sandbox under `/_stripe`.
    pub sandbox: Option<crate::stripe::sandbox::SandboxConfig>,
}

impl Settings {
    pub fn new(dir: impl Into<PathBuf>, db: impl Into<PathBuf>) -> Settings {
        Settings {
            dir: dir.into(),
            db: db.into(),
            expr_limits: ExprLimits::default(),
            max_body_bytes: 1 << 20,
            sandbox: None,
        }
    }
}

/// One loaded version of the project, ready to run.
pub struct Deployment {
    pub project: Arc<Project>,
    pub runner: Runner,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

impl App {
    /// Loads the project, opens the database and migrates the tables.
    pub async fn start(settings: Settings) -> Result<Arc<App>, StartError> {
        let evaluator = Arc::new(Evaluator::new(settings.expr_limits.clone()));
        let project = load_in_background(settings.dir.clone(), evaluator.clone()).await?;
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&settings.db)?);
        let (deployment, report) = deploy(project, &evaluator, &store).await?;
        log_migration(&report);
        let sandbox = match &settings.sandbox {
            Some(config) => {
                Some(crate::stripe::sandbox::Sandbox::start(config.clone(), store.clone()).await?)
            }
            None => None,
        };
        Ok(Arc::new(App {
            settings,
            store,
            evaluator,
            current: RwLock::new(Arc::new(deployment)),
            problems: RwLock::new(None),
            sandbox,
        }))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
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

    /// Loads the project again and serves it if it checks; otherwise keeps
    /// serving the last good version and remembers the problems.
    pub async fn reload(&self) -> Result<(), StartError> {
        let outcome = async {
            let project =
                load_in_background(self.settings.dir.clone(), self.evaluator.clone()).await?;
            let (deployment, report) = deploy(project, &self.evaluator, &self.store).await?;
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
) -> Result<(Deployment, MigrationReport), StoreError> {
    let report = store
        .migrate(project.tables.values().cloned().collect())
        .await?;
    let project = Arc::new(project);
    let actions = Arc::new(Actions::new(project.clone(), store.clone()));
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
