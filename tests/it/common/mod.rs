//! Test helpers: a real paywire server on a random port with a temporary
//! project folder and database, and a typed client for it.

pub mod postgres;
pub mod process;
pub mod rows;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use paywire::app::{App, Settings};
use paywire_sandbox::{DELIVERY_RETRY, SandboxConfig};
use paywire_store::{RunDetail, RunFilter, RunRecord};
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// The secret the sandbox of [`TestServer::with_sandbox`] signs events with.
pub const SANDBOX_WEBHOOK_SECRET: &str = "whsec_test_server";

pub struct TestServer {
    pub base: String,
    pub app: Arc<App>,
    pub client: reqwest::Client,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Which database a test server runs on.
#[derive(Clone, Copy, PartialEq)]
pub enum Backend {
    /// The one `PAYWIRE_TEST_BACKEND` chooses: its SQLite file, or with
    /// `postgres` a PostgreSQL schema standing for the file.
    Chosen,
    /// Its SQLite file whatever the choice, for a test about the file
    /// itself.
    Sqlite,
}

/// An answer from the server: status, headers and the body as JSON (or as a
/// JSON string when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn run_id(&self) -> String {
        self.header("x-paywire-run")
            .expect("the reply names its run")
            .to_string()
    }

    /// The `fields` of a 400 answer as `(field, problem)` pairs.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["error"]["fields"]
            .as_array()
            .unwrap_or(&Vec::new())
            .iter()
            .map(|f| {
                (
                    f["field"].as_str().unwrap().to_string(),
                    f["problem"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows")
}

/// Writes `files` (name, YAML) into a new folder.
pub fn project(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), files);
    dir
}

pub fn write_project(dir: &Path, files: &[(&str, &str)]) {
    let project = dir.join("workflows");
    std::fs::create_dir_all(&project).unwrap();
    for (name, text) in files {
        std::fs::write(project.join(name), text).unwrap();
    }
}

impl TestServer {
    /// Serves a project made of `files`.
    pub async fn start(files: &[(&str, &str)]) -> TestServer {
        let dir = project(files);
        let settings = Settings::new(dir.path().join("workflows"), dir.path().join("paywire.db"));
        TestServer::start_with(dir, settings).await
    }

    /// Serves the example project in workflows/.
    /// Serves the example project in workflows/ with the sandbox, whose
    /// events go nowhere.
    pub async fn examples() -> TestServer {
        TestServer::examples_with(false).await
    }

    /// Serves the example project as `paywire serve` does without a Stripe
    /// key: the sandbox sends its events to paywire's own webhook endpoint.
    pub async fn examples_to_self() -> TestServer {
        TestServer::examples_with(true).await
    }

    async fn examples_with(deliver_to_self: bool) -> TestServer {
        TestServer::examples_configured(deliver_to_self, |_| {}).await
    }

    /// As [`TestServer::examples_to_self`], on its SQLite file whatever
    /// `PAYWIRE_TEST_BACKEND` says: for a test about the file itself.
    pub async fn examples_to_self_on_sqlite() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        TestServer::examples_in(examples_dir(), dir, true, |_| {}, Backend::Sqlite).await
    }

    /// Serves the example project with the sandbox, with `edit` applied to
    /// the settings (an admin token, the console open or not).
    pub async fn examples_configured(
        deliver_to_self: bool,
        edit: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        TestServer::examples_in(examples_dir(), dir, deliver_to_self, edit, Backend::Chosen).await
    }

    /// Serves a copy of the example project with `extra` files (name, YAML)
    /// beside it, as [`TestServer::examples_configured`] does: for a test
    /// that needs a workflow of its own next to the examples.
    pub async fn examples_plus(
        extra: &[(&str, &str)],
        edit: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("workflows");
        std::fs::create_dir_all(&copy).unwrap();
        for entry in std::fs::read_dir(examples_dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
            }
        }
        write_project(dir.path(), extra);
        TestServer::examples_in(copy, dir, false, edit, Backend::Chosen).await
    }

    async fn examples_in(
        project: PathBuf,
        dir: TempDir,
        deliver_to_self: bool,
        edit: impl FnOnce(&mut Settings),
        backend: Backend,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let settings =
            Settings::new(project, dir.path().join("paywire.db")).with_sandbox(SandboxConfig {
                base_url: format!("http://{address}/_stripe"),
                webhook_url: deliver_to_self.then(|| format!("http://{address}/webhooks/stripe")),
                webhook_secret: SANDBOX_WEBHOOK_SECRET.into(),
                retry: DELIVERY_RETRY,
                dunning: Default::default(),
            });
        let mut settings = settings;
        edit(&mut settings);
        TestServer::start_on_backend(listener, dir, settings, backend).await
    }

    pub async fn start_with(dir: TempDir, settings: Settings) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        TestServer::start_on(listener, dir, settings).await
    }

    /// Serves a project made of `files` with the Stripe sandbox under
    /// `/_stripe`, which the Stripe actions call; events go to `webhook_url`.
    pub async fn with_sandbox(files: &[(&str, &str)], webhook_url: Option<String>) -> TestServer {
        TestServer::with_sandbox_configured(files, webhook_url, |_| {}).await
    }

    /// As [`TestServer::with_sandbox`], with `edit` applied to the settings
    /// (the event retries, the admin API open or not).
    pub async fn with_sandbox_configured(
        files: &[(&str, &str)],
        webhook_url: Option<String>,
        edit: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let dir = project(files);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/_stripe", listener.local_addr().unwrap());
        let mut settings =
            Settings::new(dir.path().join("workflows"), dir.path().join("paywire.db"))
                .with_sandbox(SandboxConfig {
                    base_url: base,
                    webhook_url,
                    webhook_secret: SANDBOX_WEBHOOK_SECRET.into(),
                    retry: DELIVERY_RETRY,
                    dunning: Default::default(),
                });
        edit(&mut settings);
        TestServer::start_on(listener, dir, settings).await
    }

    /// Serves on `listener`, whose address `settings` may already name.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        dir: TempDir,
        settings: Settings,
    ) -> TestServer {
        TestServer::start_on_backend(listener, dir, settings, Backend::Chosen).await
    }

    async fn start_on_backend(
        listener: tokio::net::TcpListener,
        dir: TempDir,
        mut settings: Settings,
        backend: Backend,
    ) -> TestServer {
        // With PAYWIRE_TEST_BACKEND=postgres, a server given a SQLite file
        // runs on a PostgreSQL schema instead: the same schema for the same
        // file, so that a restart finds what the first start left.
        if backend == Backend::Chosen
            && let paywire_store::Database::Sqlite(path) = &settings.db
        {
            settings.db = postgres::database_for(path).await;
        }
        let app = App::start(settings)
            .await
            .unwrap_or_else(|e| panic!("the app did not start:\n{e}"));
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = tokio::spawn(paywire::http::run(listener, app.clone(), async move {
            let _ = signal.await;
        }));
        TestServer {
            base,
            app,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            dir,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        into_reply(request.send().await.unwrap()).await
    }

    /// Sends a raw body with a content type.
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        into_reply(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.request("POST", path, Some(&body)).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None).await
    }

    /// The database the server runs on, as `--db` takes it: its SQLite
    /// file, or the URL of its PostgreSQL schema.
    pub fn database(&self) -> String {
        postgres::db_arg(&self.app.settings().db)
    }

    /// The rows `sql` selects from the server's database, whichever it is,
    /// once every queued write is committed; each backend's values read as
    /// the same JSON (see [`rows`]), so a test asserts one thing for both.
    /// SQL that the two databases read differently is better asked of the
    /// server's API or its `Store`, which answer alike.
    pub async fn query_rows(&self, sql: &str) -> Vec<Value> {
        self.app.store().flush().await.unwrap();
        match &self.app.settings().db {
            paywire_store::Database::Sqlite(path) => rows::sqlite(path, sql),
            paywire_store::Database::Postgres(url) => rows::postgres(url, sql).await,
        }
    }

    /// The record of a run, once every queued write is committed.
    pub async fn run(&self, id: &str) -> RunDetail {
        self.app.store().flush().await.unwrap();
        self.app
            .store()
            .get_run(id.to_string())
            .await
            .unwrap()
            .expect("the run is recorded")
    }

    /// Recent runs of `name`, newest first.
    pub async fn runs_of(&self, name: &str) -> Vec<RunRecord> {
        self.app.store().flush().await.unwrap();
        self.app
            .store()
            .list_runs(RunFilter {
                name: Some(name.to_string()),
                ..RunFilter::default()
            })
            .await
            .unwrap()
    }

    /// Waits (bounded) until `name` has a finished run, for background work.
    pub async fn finished_run_of(&self, name: &str) -> RunDetail {
        for _ in 0..200 {
            if let Some(run) = self
                .runs_of(name)
                .await
                .into_iter()
                .find(|r| r.finished_at.is_some())
            {
                return self.run(&run.id).await;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{name} never finished a run");
    }

    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// Stops the server, waits until everything it queued is committed,
    /// and hands back its folder (the project and the database), which
    /// dropping the server would delete: for a test that goes on with what
    /// the server left, as `paywire migrate` does.
    pub async fn stop_keeping_dir(mut self) -> TempDir {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.app.store().flush().await.unwrap();
        self.dir
    }
}

async fn into_reply(response: reqwest::Response) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

/// splitmix64: small, seedable, and good enough to pick mutations and
/// values for the seeded fuzz tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be 0.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}
