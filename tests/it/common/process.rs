//! `paywire serve` and `paywire sandbox` as child processes, for the tests
//! that run several, kill one (SIGKILL) and start it again: what a crash or
//! a lost machine does.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt;

/// A `paywire serve` child process, killed (SIGKILL) when dropped, so that
/// a failing test leaves no server behind.
pub struct Paywire {
    child: Child,
    pub base: String,
}

impl Paywire {
    /// Starts `paywire serve` on a free port with `env` set (PAYWIRE_DIR,
    /// PAYWIRE_DB, …) and no Stripe key, admin token or environment from
    /// the test's own environment.
    pub fn start(env: &[(&str, String)]) -> Paywire {
        Paywire::start_on(free_port(), env)
    }

    /// [`Paywire::start`] on `port`, for a test that must name the address
    /// before the server starts (where a sandbox delivers to).
    pub fn start_on(port: u16, env: &[(&str, String)]) -> Paywire {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paywire"));
        command
            .arg("serve")
            .env("PAYWIRE_PORT", port.to_string())
            .env_remove("STRIPE_SECRET_KEY")
            .env_remove("PAYWIRE_ENV")
            .env_remove("PAYWIRE_ADMIN_TOKEN")
            .env_remove("PAYWIRE_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        Paywire {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits until the server answers its health check.
    pub async fn ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{}/_paywire/health", self.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "paywire did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Paywire {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `paywire sandbox` child process, killed (SIGKILL) when dropped.
pub struct SandboxProcess {
    child: tokio::process::Child,
    /// Where it listens, as its first line printed says.
    pub base: String,
    /// What it printed, on stdout and stderr.
    pub printed: std::sync::Arc<std::sync::Mutex<String>>,
}

/// `paywire sandbox` with `env` set (PAYWIRE_DB, STRIPE_WEBHOOK_SECRET, …)
/// and none of the test's own paywire or Stripe settings.
pub fn sandbox_command(args: &[&str], env: &[(&str, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_paywire"));
    command
        .arg("sandbox")
        .args(args)
        .env_remove("PAYWIRE_DB")
        .env_remove("PAYWIRE_DATABASE_URL")
        .env_remove("PAYWIRE_SANDBOX_WEBHOOK_URL")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

impl SandboxProcess {
    /// Starts `paywire sandbox --port PORT` (0: any free port) and waits
    /// for its first line, which names the address it listens on.
    pub async fn start(port: u16, env: &[(&str, String)]) -> SandboxProcess {
        let mut child = sandbox_command(&["--port", &port.to_string()], env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("paywire sandbox printed its address in time")
            .unwrap();
        let Some(first) = first else {
            let mut said = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut said).await;
            panic!("paywire sandbox exited before it listened:\n{said}");
        };
        let base = first
            .rsplit_once(" on ")
            .map(|(_, address)| address.trim().to_string())
            .filter(|address| address.starts_with("http://"))
            .unwrap_or_else(|| panic!("the first line names no address: {first}"));
        let printed = std::sync::Arc::new(std::sync::Mutex::new(format!("{first}\n")));
        // Read what it prints next, on both streams, so that it never
        // blocks on a full pipe and a test can check what it said.
        let kept = printed.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let kept = printed.clone();
        let mut errors = tokio::io::BufReader::new(stderr).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        SandboxProcess {
            child,
            base,
            printed,
        }
    }

    /// Asks it to stop (SIGTERM) and waits until it has; whether it ended
    /// well.
    pub async fn terminate(mut self) -> bool {
        let pid = self.child.id().expect("the sandbox is running");
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {pid}");
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the sandbox stopped in time")
            .unwrap()
            .success()
    }
}
