//! The servers of one scenario: one `paywire serve`, or several on one
//! PostgreSQL database, started on a fresh database and measured together
//! (their CPU time summed, and the database server's beside it).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use serde_json::Value;

use paywire_bench::db::{Backend, BenchDb};
use paywire_bench::projects;
use paywire_bench::server::{self, Server};

use crate::{Bench, Figure, number};

/// Where a scenario's servers keep their data, and how many there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Setup {
    pub backend: Backend,
    pub instances: usize,
}

impl Setup {
    pub const SQLITE: Setup = Setup {
        backend: Backend::Sqlite,
        instances: 1,
    };

    pub fn postgres(instances: usize) -> Setup {
        Setup {
            backend: Backend::Postgres,
            instances,
        }
    }
}

pub(crate) struct Cluster {
    pub servers: Vec<Server>,
    sandbox: Option<Server>,
    pub db: BenchDb,
    logs: Vec<PathBuf>,
}

/// CPU seconds used so far by the servers and by the database server.
#[derive(Clone, Copy)]
pub(crate) struct Cpu {
    servers: f64,
    database: Option<f64>,
}

impl Cluster {
    /// `setup.instances` servers of `files` on a fresh database; the first
    /// is up (its migrations done) before the next starts.
    pub async fn start(
        cx: &Bench,
        name: &str,
        files: &[(String, String)],
        setup: Setup,
    ) -> anyhow::Result<Cluster> {
        let dir = cx.work.path().join(name);
        let project = dir.join("workflows");
        projects::write(&project, files)?;
        let db = match setup.backend {
            Backend::Sqlite => BenchDb::sqlite(dir.join("paywire.db")),
            Backend::Postgres => {
                let server = cx.postgres.as_deref().ok_or_else(|| {
                    anyhow!("no PostgreSQL: set PAYWIRE_BENCH_POSTGRES (BENCHMARKS.md)")
                })?;
                BenchDb::postgres(server, name).await?
            }
        };
        let mut servers = Vec::new();
        let mut logs = Vec::new();
        // Several instances on one database share one `paywire sandbox`,
        // as the README's deployment does; it is not measured.
        let sandbox = match setup.instances {
            1 => None,
            _ => {
                let log = cx.log(&format!("{name}-sandbox"));
                Some(Server::sandbox(&cx.paywire, &db.arg(), &log).await?)
            }
        };
        let stripe_api = sandbox.as_ref().map(|s| format!("http://{}", s.addr));
        for i in 0..setup.instances {
            let instance = match setup.instances {
                1 => name.to_string(),
                _ => format!("{name}-{}", i + 1),
            };
            let log = cx.log(&instance);
            let server = Server::paywire(
                &cx.paywire,
                &project,
                &db.arg(),
                &instance,
                stripe_api.as_deref(),
                &log,
            )
            .await
            .with_context(|| format!("instance {instance}"))?;
            servers.push(server);
            logs.push(log);
        }
        Ok(Cluster {
            servers,
            sandbox,
            db,
            logs,
        })
    }

    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|s| s.addr).collect()
    }

    pub fn first(&self) -> &Server {
        &self.servers[0]
    }

    pub fn cpu(&self) -> Cpu {
        Cpu {
            servers: self.servers.iter().map(Server::cpu_seconds).sum(),
            database: match self.db {
                BenchDb::Sqlite(_) => None,
                BenchDb::Postgres { .. } => Some(server::postgres_cpu_seconds()),
            },
        }
    }

    /// Records the CPU time used since `before` per one of `requests`: the
    /// servers' (`server_cpu_us`, all instances together) and, on
    /// PostgreSQL, the database server's (`db_cpu_us`, every process of
    /// the local server, its background writers included).
    pub fn cpu_per_request(&self, figure: &mut Figure, before: Cpu, requests: u64) {
        let after = self.cpu();
        let per = |seconds: f64| number(seconds * 1e6 / requests.max(1) as f64);
        figure
            .extra
            .insert("server_cpu_us".into(), per(after.servers - before.servers));
        if let (Some(a), Some(b)) = (after.database, before.database) {
            figure.extra.insert("db_cpu_us".into(), per(a - b));
        }
    }

    /// The most memory one server held at once, in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        self.servers
            .iter()
            .map(Server::peak_rss_mb)
            .fold(0.0, f64::max)
    }

    /// Fails when a server has exited (they must live through a scenario).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for (server, log) in self.servers.iter_mut().zip(&self.logs) {
            server.check_alive(log)?;
        }
        Ok(())
    }

    /// Stops the servers; the database stays for the scenario's checks.
    pub async fn stop(self) -> BenchDb {
        for server in self.servers {
            server.stop().await;
        }
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        self.db
    }
}

/// The figure's `instances` and `backend` fields.
pub(crate) fn describe(figure: &mut Figure, setup: Setup) {
    figure
        .extra
        .insert("instances".into(), Value::from(setup.instances));
    figure
        .extra
        .insert("backend".into(), Value::from(setup.backend.label()));
}
