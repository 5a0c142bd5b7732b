//! PostgreSQL for the tests that need it: a schema of their own in the
//! server named by `PAYWIRE_TEST_POSTGRES`, dropped when the test ends.
//!
//! Without `PAYWIRE_TEST_POSTGRES` such tests skip with a message, unless
//! `PAYWIRE_POSTGRES_TESTS=required` (CI), when they fail. With
//! `PAYWIRE_TEST_BACKEND=postgres`, every test server runs on PostgreSQL
//! instead of its SQLite file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use paywire_store::Database;

/// The server to test against, or `None` after saying why the test skips.
pub fn url() -> Option<String> {
    match std::env::var("PAYWIRE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("PAYWIRE_POSTGRES_TESTS").as_deref() != Ok("required"),
                "PAYWIRE_POSTGRES_TESTS=required, but PAYWIRE_TEST_POSTGRES names no server"
            );
            eprintln!(
                "skipped: no PostgreSQL to test against. Set PAYWIRE_TEST_POSTGRES=postgres://USER:PASSWORD@127.0.0.1:5432/DB (README, \"Tests\")"
            );
            None
        }
    }
}

/// Whether every test server runs on PostgreSQL.
pub fn every_server() -> bool {
    std::env::var("PAYWIRE_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// What a server given the SQLite file `path` opens: the file, or with
/// `PAYWIRE_TEST_BACKEND=postgres` the schema that stands for it (see
/// [`Schema::for_file`]). A server started in the test process, a child
/// `paywire serve` and a store opened by hand all go through here.
pub async fn database_for(path: &Path) -> Database {
    if every_server()
        && let Some(schema) = Schema::for_file(path).await
    {
        return schema.database();
    }
    Database::Sqlite(path.to_path_buf())
}

/// The store a test opens itself on the SQLite file `path`, or on the
/// schema standing for it (see [`database_for`]).
pub async fn store_for(path: &Path) -> Arc<dyn paywire_store::Store> {
    database_for(path).await.open().await.unwrap()
}

/// `database` as `--db` and `PAYWIRE_DB` take it, a URL's password
/// included (a `Database` prints it masked).
pub fn db_arg(database: &Database) -> String {
    match database {
        Database::Sqlite(path) => path.display().to_string(),
        Database::Postgres(url) => url.clone(),
    }
}

/// A schema of its own; its [`Schema::database`] is what a server opens.
pub struct Schema {
    url: String,
    name: String,
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at PAYWIRE_TEST_POSTGRES: {e}"));
    tokio::spawn(connection);
    client
}

impl Schema {
    /// A fresh schema, or `None` (skipped) without a server. The first in a
    /// process drops the schemas of test processes that are gone.
    pub async fn create() -> Option<Schema> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        let url = url()?;
        SWEPT.get_or_init(|| sweep(url.clone())).await;
        let name = format!(
            "paywire_it_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        admin(&url)
            .await
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .await
            .expect("a schema for the test");
        Some(Schema { url, name })
    }

    /// The schema that stands for the SQLite file `path`: every server
    /// given that file in this test process shares it, a restarted one
    /// included. These schemas live as long as the process; the next test
    /// process drops them (see [`Schema::create`]).
    pub async fn for_file(path: &Path) -> Option<Arc<Schema>> {
        static SCHEMAS: Mutex<Option<HashMap<PathBuf, Arc<Schema>>>> = Mutex::new(None);
        if let Some(schema) = SCHEMAS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .get(path)
        {
            return Some(schema.clone());
        }
        let schema = Arc::new(Schema::create().await?);
        SCHEMAS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .insert(path.to_path_buf(), schema.clone());
        Some(schema)
    }

    /// The URL whose connections work in this schema.
    pub fn url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-csearch_path%3D{}",
            self.url, self.name
        )
    }

    pub fn database(&self) -> Database {
        Database::Postgres(self.url())
    }

    /// Runs `sql` in the schema, for a test that checks what was committed.
    pub async fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        admin(&self.url()).await.query(sql, &[]).await.unwrap()
    }
}

/// Drops the schemas left by test processes that are no longer running.
async fn sweep(url: String) {
    let client = admin(&url).await;
    let Ok(rows) = client
        .query(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'paywire\\_it\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !Path::new("/proc").join(pid).exists() {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drops run inside the test's runtime, which cannot be blocked on.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the schema");
            runtime.block_on(async {
                let _ = admin(&url)
                    .await
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .await;
            });
        })
        .join();
    }
}
