//! The suite's harness: a fresh store of each backend per case, and the
//! macro that runs a case on both.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use paywire_store::postgres::PostgresStore;
use paywire_store::sqlite::SqliteStore;
use paywire_store::{Database, Store};

/// A store for one case, and what must live as long as it: the SQLite
/// file's directory, or the PostgreSQL schema dropped when the case ends.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    /// Which backend, for messages.
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
    /// Where the store is, to open it again as another process would.
    location: Database,
}

impl TestStore {
    /// A second store on the same database, as another process opens it.
    pub async fn open_again(&self) -> Arc<dyn Store> {
        self.location
            .open()
            .await
            .expect("the database opens again")
    }

    /// A connection to the case's PostgreSQL schema, to do what an operator
    /// or a failure would; `None` on SQLite.
    pub async fn postgres(&self) -> Option<tokio_postgres::Client> {
        let (url, schema) = self.schema.as_ref()?;
        Some(
            admin(&with_schema(url, schema))
                .await
                .expect("a connection to the case's schema"),
        )
    }
}

impl std::ops::Deref for TestStore {
    type Target = dyn Store;
    fn deref(&self) -> &(dyn Store + 'static) {
        &*self.store
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let Some((url, schema)) = self.schema.take() else {
            return;
        };
        // Dropping runs inside the case's runtime, which cannot be blocked
        // on; a thread of its own drops the schema.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the schema");
            runtime.block_on(async {
                if let Ok(client) = admin(&url).await {
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("paywire.db");
    let store = SqliteStore::open(path.clone()).await.expect("SQLite opens");
    TestStore {
        store: Arc::new(store),
        backend: "sqlite",
        _dir: Some(dir),
        schema: None,
        location: Database::Sqlite(path),
    }
}

/// The PostgreSQL server to test against, if there is one; see the
/// suite's opening comment.
pub fn postgres_url() -> Option<String> {
    match std::env::var("PAYWIRE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("PAYWIRE_POSTGRES_TESTS").as_deref() == Ok("required") {
                panic!(
                    "PAYWIRE_POSTGRES_TESTS=required, but PAYWIRE_TEST_POSTGRES names no server"
                );
            }
            eprintln!(
                "skipped: no PostgreSQL to test against. Set PAYWIRE_TEST_POSTGRES=postgres://USER:PASSWORD@127.0.0.1:5432/DB (README, \"Tests\")"
            );
            None
        }
    }
}

async fn admin(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A store on a schema of its own in the test server, or `None` (skipped).
pub async fn postgres() -> Option<TestStore> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let url = postgres_url()?;
    let schema = format!(
        "paywire_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let client = admin(&url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PAYWIRE_TEST_POSTGRES: {e}"));
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .await
        .expect("a schema for the case");
    let location = with_schema(&url, &schema);
    let store = PostgresStore::open(&location)
        .await
        .expect("PostgreSQL opens");
    Some(TestStore {
        store: Arc::new(store),
        backend: "postgres",
        _dir: None,
        schema: Some((url, schema)),
        location: Database::Postgres(location),
    })
}

/// `url` with every connection's search path set to `schema`, so that the
/// store's unqualified names land there.
pub fn with_schema(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}")
}

/// Defines each listed `async fn case(store: TestStore)` of the calling
/// module as two tests, `sqlite::case` and `postgres::case`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(store) = $crate::common::postgres().await {
                        super::$case(store).await;
                    }
                }
            )*
        }
    };
}
