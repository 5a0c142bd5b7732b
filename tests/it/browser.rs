//! The console in a real browser: tests/browser/console.cjs drives headless
//! Chromium (Debian's package) with playwright-core (from npm, in .tools/)
//! against a server with the example project, and saves screenshots in
//! target/console-screenshots/. .ci/run installs both and sets
//! PAYWIRE_BROWSER_TESTS=required, so that CI cannot skip it; elsewhere the
//! test skips with a message when either is missing.
//!
//! Beside the examples the server has `console-test.yaml`: a workflow that
//! fails until a switch table holds a row (so that an event fails at first
//! and succeeds when replayed after `POST /console-test/repair`), and a
//! workflow of 30 steps with a 6-case switch, to see that every node of a
//! wide diagram can be scrolled to.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::common::TestServer;
use crate::webhooks::{deliver, envelope, settled, signed};
use paywire::config::Secret;
use paywire_store::EventState;

/// The event the browser replays.
const FAILED_EVENT: &str = "evt_console_replay";

const CONSOLE_TEST: &str = r#"
tables:
  console_switch:
    columns:
      id: { type: text, primary_key: true }
apis:
  console-repair:
    method: POST
    path: /console-test/repair
    steps:
      - action: table.insert
        with: { table: console_switch, values: { id: fixed } }
      - response: { body: { repaired: true } }
workflows:
  customer-sync:
    trigger: { event: stripe.event, types: [customer.updated] }
    steps:
      - id: fixed
        action: table.select
        with: { table: console_switch, id: fixed }
      - if: "steps.fixed == ()"
        then:
          - throw: { name: NotYet, message: the sync is switched off }
      - log: "customer {{ context.event.object.id }} synced"
"#;

/// The cases of the big workflow's switch.
const CASES: [&str; 6] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];

/// A workflow of 30 steps whose eleventh is a switch of six cases (two
/// steps each) and a default: 43 nodes in all.
fn big_flow() -> String {
    let mut yaml = String::from("workflows:\n  big-flow:\n    trigger: manual\n    steps:\n");
    for i in 0..30 {
        if i == 10 {
            yaml.push_str("      - switch: vars.kind\n        cases:\n");
            for case in CASES {
                yaml.push_str(&format!(
                    "          {case}:\n            - set: picked\n              value: {case}\n            - log: \"took {case}\"\n"
                ));
            }
            yaml.push_str("        default:\n          - log: \"no case\"\n");
        } else {
            yaml.push_str(&format!("      - set: step_{i}\n        value: {i}\n"));
        }
    }
    yaml
}

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
    let big = big_flow();
    let server = TestServer::examples_plus(
        &[("console-test.yaml", CONSOLE_TEST), ("big-flow.yaml", &big)],
        |settings| {
            settings.admin_token = Some(Secret::new("browser-test-token"));
            // One attempt: the event fails at once and waits for a replay.
            settings.event_retry = paywire_support::Backoff {
                attempts: 1,
                first_delay: Duration::from_millis(10),
                max_delay: Duration::from_millis(10),
            };
        },
    )
    .await;
    let payload = envelope(
        FAILED_EVENT,
        "customer.updated",
        json!({"id": "cus_console", "object": "customer"}),
    );
    assert_eq!(deliver(&server, &payload, signed(&payload)).await.0, 200);
    let events = settled(&server).await;
    let failed = events.iter().find(|e| e.id == FAILED_EVENT).unwrap();
    assert_eq!(failed.state, EventState::Failed, "{failed:?}");
    let shots = root.join("target/console-screenshots");
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/console.cjs"))
        .arg(&server.base)
        .arg("browser-test-token")
        .arg(&shots)
        .arg(FAILED_EVENT)
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
    for shot in [
        "overview.png",
        "diagram.png",
        "runs.png",
        "run.png",
        "run-iteration.png",
        "events.png",
        "big-diagram.png",
    ] {
        assert!(shots.join(shot).exists(), "no screenshot {shot}");
    }
    server.stop().await;
}
