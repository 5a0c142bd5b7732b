//! The server under test as a child process: started on a free loopback port,
//! waited on until healthy, its memory read from /proc, stopped at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::load;

pub struct Server {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

/// The webhook signing secret every paywire server here is started with.
pub const WEBHOOK_SECRET: &str = "whsec_paywire_bench";

impl Server {
    /// `paywire serve` of `project` on the database `db` (a SQLite file or
    /// a PostgreSQL URL), logging to `log`. `instance` names it among
    /// several on one database. Its Stripe is its own sandbox (no Stripe
    /// key: the admin API is open on loopback), or, with `stripe_api`, the
    /// `paywire sandbox` there, which instances on one database share.
    pub async fn paywire(
        bin: &Path,
        project: &Path,
        db: &str,
        instance: &str,
        stripe_api: Option<&str>,
        log: &Path,
    ) -> anyhow::Result<Server> {
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--dir")
            .arg(project)
            .arg("--db")
            .arg(db)
            .arg("--instance")
            .arg(instance)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            // PAYWIRE_LOG=paywire_engine::inbox=debug,info shows the inbox's batches.
            .env(
                "PAYWIRE_LOG",
                std::env::var("PAYWIRE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("STRIPE_SECRET_KEY")
            .env_remove("STRIPE_API_BASE")
            .env_remove("PAYWIRE_ENV")
            .env_remove("PAYWIRE_CONFIG")
            .env_remove("PAYWIRE_ADMIN_TOKEN")
            .env_remove("PAYWIRE_WEBHOOK_PATH")
            .env_remove("PAYWIRE_SANDBOX_WEBHOOK_URL");
        if let Some(base) = stripe_api {
            command
                .env("STRIPE_SECRET_KEY", "sk_test_paywire_bench")
                .env("STRIPE_API_BASE", base);
        }
        Server::spawn(command, log).await
    }

    /// `paywire sandbox` on the database `db`: the one Stripe sandbox of the
    /// instances on that database. The scenarios sign their events
    /// themselves, so it delivers none.
    pub async fn sandbox(bin: &Path, db: &str, log: &Path) -> anyhow::Result<Server> {
        let mut command = Command::new(bin);
        command
            .arg("sandbox")
            .arg("--db")
            .arg(db)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env(
                "PAYWIRE_LOG",
                std::env::var("PAYWIRE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("PAYWIRE_SANDBOX_WEBHOOK_URL")
            .env_remove("PAYWIRE_CONFIG");
        Server::spawn(command, log).await
    }

    /// The bare axum server the ratios are measured against.
    pub async fn baseline(bin: &Path, log: &Path) -> anyhow::Result<Server> {
        Server::spawn(Command::new(bin), log).await
    }

    async fn spawn(mut command: Command, log: &Path) -> anyhow::Result<Server> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {:?}", command.as_std().get_program()))?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the server exited at once"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        // Both servers print their address (`… on http://127.0.0.1:PORT`)
        // on their first line once they listen.
        let addr = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(at) = line.rfind("http://") {
                    let rest = &line[at + "http://".len()..];
                    let text = rest.split_whitespace().next().unwrap_or(rest);
                    return text
                        .trim_end_matches('/')
                        .parse::<SocketAddr>()
                        .map_err(|e| anyhow!("cannot read the address in {line:?}: {e}"));
                }
            }
            bail!(
                "the server exited before it listened; see {}",
                log.display()
            )
        })
        .await
        .map_err(|_| anyhow!("the server did not listen within 120 s"))??;
        // Keep reading what it prints, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Server { child, pid, addr };
        server.wait_healthy().await?;
        Ok(server)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let request = request("GET", "/_paywire/health", Bytes::new());
            if let Ok((200, _)) = load::once(self.addr, request).await {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{} never answered its health check", self.addr);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The most memory the process has held at once (VmHWM), in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        proc_status_kb(self.pid, "VmHWM:").unwrap_or(0) as f64 / 1024.0
    }

    /// What it holds now (VmRSS), in MB.
    pub fn rss_mb(&self) -> f64 {
        proc_status_kb(self.pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0
    }

    /// The CPU time the process has used so far, all threads, user and
    /// system, in seconds. On a machine shared with the load generator and
    /// other work, CPU time per request is steadier than requests per second.
    pub fn cpu_seconds(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map_or(0.0, |stat| stat_cpu_seconds(&stat).1)
    }

    /// The CPU time (µs) used since `cpu_before` (from [`Self::cpu_seconds`])
    /// per one of `requests`.
    pub fn cpu_us_per_request(&self, cpu_before: f64, requests: u64) -> f64 {
        (self.cpu_seconds() - cpu_before) * 1e6 / requests.max(1) as f64
    }

    /// Fails when the server has exited (it must live through a scenario).
    pub fn check_alive(&mut self, log: &Path) -> anyhow::Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "the server exited during the scenario ({status}); see {}",
                log.display()
            ),
            Err(e) => bail!("cannot tell whether the server runs: {e}"),
        }
    }

    /// SIGTERM (paywire flushes its store and exits), SIGKILL after 10 s.
    pub async fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// A request to any of the servers under test: they all listen on loopback
/// and none routes by its `host`.
pub fn request(method: &str, path: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(body))
        .expect("a valid request")
}

/// A process's name and CPU time (user and system, seconds) from its
/// `/proc/PID/stat` line.
fn stat_cpu_seconds(stat: &str) -> (&str, f64) {
    // The command's name is in parentheses and may hold spaces: utime and
    // stime are the 12th and 13th fields after it.
    let Some((head, rest)) = stat.rsplit_once(')') else {
        return ("", 0.0);
    };
    let name = head.split_once('(').map_or("", |(_, name)| name);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    // Linux reports them in USER_HZ, which is 100 on every architecture it
    // supports for user space.
    (name, ticks as f64 / 100.0)
}

/// The CPU time (seconds) of every `postgres` process on this machine: the
/// local database server's backends and its background processes. Only the
/// processes alive now count, so a figure taken across a scenario leaves
/// out connections that ended inside it; paywire's pool keeps its
/// connections for the scenario's length.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .map(|stat| match stat_cpu_seconds(&stat) {
            ("postgres", seconds) => seconds,
            _ => 0.0,
        })
        .sum()
}

fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// The binaries next to the running driver (`target/release/`).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the driver's own path")?;
    let path = exe
        .parent()
        .ok_or_else(|| anyhow!("the driver has no folder"))?
        .join(name);
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p paywire -p paywire-bench`",
            path.display()
        );
    }
    Ok(path)
}
