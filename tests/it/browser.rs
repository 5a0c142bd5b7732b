//! The console in a real browser: tests/browser/console.cjs drives headless
//! Chromium (Debian's package) with playwright-core (from npm, in .tools/)
//! against a server with the example project, and saves screenshots in
//! target/console-screenshots/. .ci/run installs both and sets
//! PAYWIRE_BROWSER_TESTS=required, so that CI cannot skip it; elsewhere the
//! test skips with a message when either is missing.

use std::path::Path;

use crate::common::TestServer;
use paywire::config::Secret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join(".tools/node_modules");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let ready = modules.join("playwright-core").exists() && Path::new(&chromium).exists();
    if !ready {
        assert_ne!(
            std::env::var("PAYWIRE_BROWSER_TESTS").as_deref(),
            Ok("required"),
            "the browser test is required but Chromium or playwright-core is missing"
        );
        eprintln!(
            "skipped: needs {chromium} (apt-get install chromium) and playwright-core in .tools (npm install --prefix .tools playwright-core)"
        );
        return;
    }
    let server = TestServer::examples_configured(false, |settings| {
        settings.admin_token = Some(Secret::new("browser-test-token"));
    })
    .await;
    let shots = root.join("target/console-screenshots");
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/console.cjs"))
        .arg(&server.base)
        .arg("browser-test-token")
        .arg(&shots)
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.contains("console ok"), "{said}");
    for shot in ["overview.png", "diagram.png", "runs.png", "run.png"] {
        assert!(shots.join(shot).exists(), "no screenshot {shot}");
    }
    server.stop().await;
}
