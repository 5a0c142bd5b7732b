//! The database a scenario's servers keep their data in, as the driver sees
//! it: what to pass as `--db`, and the few queries that check what the
//! servers committed (counts, and the inbox's own timings).
//!
//! SQLite is a fresh file per scenario. PostgreSQL is a fresh schema per
//! scenario in the server named by `PAYWIRE_BENCH_POSTGRES`, dropped when
//! the scenario ends, so that every scenario starts from empty tables.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

/// Which backend a scenario runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// How results.json and the table name it.
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite (WAL, synchronous=FULL)",
            Backend::Postgres => "PostgreSQL (local server, synchronous_commit=on)",
        }
    }
}

pub enum BenchDb {
    Sqlite(PathBuf),
    Postgres {
        /// The URL whose connections work in the scenario's schema.
        url: String,
        server: String,
        schema: String,
        client: Box<tokio_postgres::Client>,
    },
}

async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("cannot reach PostgreSQL at PAYWIRE_BENCH_POSTGRES")?;
    tokio::spawn(connection);
    Ok(client)
}

impl BenchDb {
    pub fn sqlite(path: PathBuf) -> BenchDb {
        BenchDb::Sqlite(path)
    }

    /// A fresh schema `name` in the server at `server`.
    pub async fn postgres(server: &str, name: &str) -> anyhow::Result<BenchDb> {
        let schema = format!("paywire_bench_{name}");
        connect(server)
            .await?
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .await
            .with_context(|| format!("cannot create the schema {schema}"))?;
        let separator = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{separator}options=-csearch_path%3D{schema}");
        let client = Box::new(connect(&url).await?);
        Ok(BenchDb::Postgres {
            url,
            server: server.to_string(),
            schema,
            client,
        })
    }

    /// What the servers are given as `--db`.
    pub fn arg(&self) -> String {
        match self {
            BenchDb::Sqlite(path) => path.display().to_string(),
            BenchDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// The single number `sql` answers (a `count(*)`).
    pub async fn count(&self, sql: &str) -> anyhow::Result<u64> {
        match self {
            BenchDb::Sqlite(path) => {
                let (path, sql) = (path.clone(), sql.to_string());
                // rusqlite blocks; the client's runtime threads must not.
                tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
                    let conn = rusqlite::Connection::open(&path)?;
                    conn.busy_timeout(Duration::from_secs(5))?;
                    Ok(conn.query_row(&sql, [], |r| r.get::<_, i64>(0))? as u64)
                })
                .await?
            }
            BenchDb::Postgres { client, .. } => {
                let row = client
                    .query_one(sql, &[])
                    .await
                    .with_context(|| format!("`{sql}`"))?;
                Ok(row.try_get::<_, i64>(0)? as u64)
            }
        }
    }

    /// Events acknowledged and not yet run to their end.
    pub async fn pending_events(&self) -> anyhow::Result<u64> {
        self.count("SELECT count(*) FROM _paywire_events WHERE state = 'pending'")
            .await
    }

    /// From each done event's acknowledgement to the end of its run, by the
    /// servers' own clocks, in µs, sorted.
    pub async fn event_latencies_us(&self) -> anyhow::Result<Vec<u32>> {
        let mut latencies: Vec<u32> = match self {
            BenchDb::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u32>> {
                    let conn = rusqlite::Connection::open(&path)?;
                    conn.busy_timeout(Duration::from_secs(5))?;
                    let mut query = conn.prepare(
                        "SELECT (julianday(finished_at) - julianday(received_at)) * 86400000000.0
                         FROM _paywire_events WHERE state = 'done'",
                    )?;
                    let rows = query.query_map([], |r| r.get::<_, f64>(0))?;
                    Ok(rows
                        .map(|r| r.map(|us| us.max(0.0) as u32))
                        .collect::<Result<_, _>>()?)
                })
                .await??
            }
            BenchDb::Postgres { client, .. } => client
                .query(
                    "SELECT (extract(epoch FROM finished_at - received_at) * 1000000)::float8
                     FROM _paywire_events WHERE state = 'done'",
                    &[],
                )
                .await?
                .iter()
                .map(|row| row.try_get::<_, f64>(0).map(|us| us.max(0.0) as u32))
                .collect::<Result<_, _>>()?,
        };
        latencies.sort_unstable();
        Ok(latencies)
    }

    /// Drops a PostgreSQL scenario's schema (a SQLite file goes with the
    /// driver's temporary folder).
    pub async fn drop(self) -> anyhow::Result<()> {
        if let BenchDb::Postgres { server, schema, .. } = self {
            connect(&server)
                .await?
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await?;
        }
        Ok(())
    }
}

/// Waits until `sql` counts at least `target`; returns how long that took.
pub async fn wait_for_count(
    db: &BenchDb,
    sql: &str,
    target: u64,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = tokio::time::Instant::now();
    loop {
        let n = db.count(sql).await?;
        if n >= target {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!("`{sql}` reached only {n} of {target} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
