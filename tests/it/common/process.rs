//! `paywire serve` as a child process, for the tests that kill one
//! (SIGKILL) and start it again: what a crash or a lost machine does.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
        let port = free_port();
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
