//! The `paywire` binary: `check`, `serve` refusing a bad project, `runs`.

use std::process::Command;

use serde_json::json;

use crate::common::{TestServer, examples_dir, project};

fn paywire() -> Command {
    Command::new(env!("CARGO_BIN_EXE_paywire"))
}

/// What a child `paywire serve` given the SQLite file `path` is told to
/// open: the file, or the PostgreSQL schema standing for it.
async fn served_db(path: &std::path::Path) -> String {
    crate::common::postgres::db_arg(&crate::common::postgres::database_for(path).await)
}

#[test]
fn check_accepts_the_examples() {
    let out = paywire().arg("check").arg(examples_dir()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(": ok (19 APIs, 7 workflows, 4 functions, 6 tables)"),
        "{stdout}"
    );
}

const BROKEN: &str = "apis:\n  a:\n    method: GET\n    path: /a\n    steps:\n      - action: table.nope\n      - log: \"{{ oops( }}\"\n";

#[test]
fn check_prints_every_problem_and_fails() {
    let dir = project(&[("broken.yaml", BROKEN)]);
    let out = paywire()
        .arg("check")
        .arg(dir.path().join("workflows"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.yaml:6:17: apis.a.steps[0].action: unknown action `table.nope`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "broken.yaml:7:14: apis.a.steps[1].log: the expression `oops(` does not compile"
        ),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("2 problems"), "{stderr}");
}

#[test]
fn check_explains_a_missing_folder() {
    let out = paywire()
        .args(["check", "/nonexistent/paywire"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("cannot read the project at /nonexistent/paywire")
    );
}

#[test]
fn serve_refuses_a_project_that_does_not_check() {
    let dir = project(&[("broken.yaml", BROKEN)]);
    let out = paywire()
        .arg("serve")
        .env("PAYWIRE_DIR", dir.path().join("workflows"))
        .env("PAYWIRE_DB", dir.path().join("p.db"))
        .env("PAYWIRE_PORT", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown action `table.nope`"), "{stderr}");
    assert!(
        stderr.contains("will not serve a project that does not check"),
        "{stderr}"
    );
}

#[tokio::test]
async fn runs_lists_and_shows_what_happened() {
    let server = TestServer::examples().await;
    let reply = server.post("/orders", json!({"amount": 4200})).await;
    let run_id = reply.run_id();
    let failed = server.request("DELETE", "/orders/ord_x", None).await;
    server.app.store().flush().await.unwrap();
    let db = server.database();

    let list = paywire().arg("runs").arg("--db").arg(&db).output().unwrap();
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        stdout.contains(&run_id) && stdout.contains("create-order") && stdout.contains("succeeded"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&failed.run_id()) && stdout.contains("failed"),
        "{stdout}"
    );

    let only_failed = paywire()
        .args(["runs", "--status", "failed", "--json"])
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&only_failed.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["name"], "cancel-order");

    let show = paywire()
        .args(["runs", "show", &run_id])
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&show.stdout);
    assert!(stdout.contains("answered HTTP 201"), "{stdout}");
    assert!(
        stdout.contains("steps[0] table.insert (order) · succeeded"),
        "{stdout}"
    );
    assert!(stdout.contains("\"amount\":4200"), "{stdout}");

    let unknown = paywire()
        .args(["runs", "show", "run_nope"])
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    server.stop().await;
}

/// Runs `paywire serve` on the examples with `vars`, expecting it to refuse
/// to start; returns what it printed.
fn serve_refused(vars: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut command = paywire();
    command
        .arg("serve")
        .env("PAYWIRE_DIR", examples_dir())
        .env("PAYWIRE_DB", dir.path().join("p.db"))
        .env("PAYWIRE_PORT", "0")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("PAYWIRE_ENV");
    for (name, value) in vars {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    assert!(!out.status.success());
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_key_guard_stops_the_server_with_the_reason_and_never_the_key() {
    let said = serve_refused(&[
        ("PAYWIRE_ENV", "staging"),
        ("STRIPE_SECRET_KEY", "sk_live_51Hsecretpart000"),
    ]);
    assert!(
        said.contains("paywire will not start: STRIPE_SECRET_KEY is a live key (sk_live_…) but PAYWIRE_ENV is staging"),
        "{said}"
    );
    let said_test = serve_refused(&[
        ("PAYWIRE_ENV", "production"),
        ("STRIPE_SECRET_KEY", "sk_test_51Hsecretpart000"),
    ]);
    assert!(
        said_test.contains("is a test key (sk_test_…) but PAYWIRE_ENV is production"),
        "{said_test}"
    );
    for said in [&said, &said_test] {
        assert!(!said.contains("secretpart"), "{said}");
    }
    let no_key = serve_refused(&[("PAYWIRE_ENV", "production")]);
    assert!(
        no_key.contains("production never runs on the sandbox"),
        "{no_key}"
    );
    let unknown = serve_refused(&[("PAYWIRE_ENV", "prodution")]);
    assert!(
        unknown.contains("`prodution`, which is not an environment"),
        "{unknown}"
    );
}

const GATED: &str = r#"
tables:
  gate:
    columns:
      id: { type: text, primary_key: true }
apis:
  gated:
    method: POST
    path: /gated
    steps:
      - id: open
        action: table.select
        with: { table: gate, id: open }
      - if: "steps.open == ()"
        then:
          - throw: { name: Closed, message: the gate is closed, status: 503 }
      - response: { body: { passed: true } }
  open:
    method: POST
    path: /open
    steps:
      - action: table.insert
        with: { table: gate, values: { id: open } }
      - response: { body: {} }
"#;

#[tokio::test]
async fn the_admin_api_and_runs_retry_run_a_failed_run_again() {
    let dir = project(&[("gated.yaml", GATED)]);
    let mut settings =
        paywire::app::Settings::new(dir.path().join("workflows"), dir.path().join("p.db"));
    settings.admin_token = Some(paywire::config::Secret::new("admin-token-for-tests"));
    let server = TestServer::start_with(dir, settings).await;
    let failed = server.post("/gated", json!({})).await;
    assert_eq!(failed.status, 503);
    let run = failed.run_id();

    let admin = |path: &str| {
        server
            .client
            .post(format!("{}/_paywire/api{path}", server.base))
    };
    let anonymous = admin(&format!("/runs/{run}/retry")).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let wrong = admin(&format!("/runs/{run}/retry"))
        .bearer_auth("admin-token-for-test")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let unknown = admin("/runs/run_nope/retry")
        .bearer_auth("admin-token-for-tests")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);

    // Still closed: the retry fails too, and says where.
    let server_url = server.base.clone();
    let cli = |id: String| {
        let url = server_url.clone();
        tokio::task::spawn_blocking(move || {
            paywire()
                .args(["runs", "retry", &id, "--server", &url])
                .env("PAYWIRE_ADMIN_TOKEN", "admin-token-for-tests")
                .output()
                .unwrap()
        })
    };
    let out = cli(run.clone()).await.unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("retried {run}: failed")),
        "{stdout}"
    );
    assert!(
        stdout.contains("failed at steps[1].then[0]: the gate is closed"),
        "{stdout}"
    );

    assert_eq!(server.post("/open", json!({})).await.status, 200);
    let out = cli(run.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("retried {run}: succeeded")),
        "{stdout}"
    );
    let retried = server.runs_of("gated").await;
    assert_eq!(retried.len(), 3);
    assert_eq!(retried[0].retry_of.as_deref(), Some(run.as_str()));

    let again = admin(&format!("/runs/{}/retry", retried[0].id))
        .bearer_auth("admin-token-for-tests")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    for (path, message) in [
        (
            "/runs?status=done",
            "`status` is one of running, succeeded, failed, retrying, not `done`",
        ),
        (
            "/events?state=paid",
            "`state` is one of pending, running, done, failed, ignored, not `paid`",
        ),
    ] {
        let bad = server
            .client
            .get(format!("{}/_paywire/api{path}", server.base))
            .bearer_auth("admin-token-for-tests")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status().as_u16(), 400);
        let body: serde_json::Value = bad.json().await.unwrap();
        assert_eq!(body["error"]["message"], message);
    }
    server.stop().await;

    // Without a token, the admin API is off.
    let server = TestServer::start(&[("gated.yaml", GATED)]).await;
    let off = server
        .client
        .get(format!("{}/_paywire/api/runs", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status().as_u16(), 403);
    server.stop().await;
}

#[tokio::test]
async fn a_real_key_never_reaches_the_console_or_the_logs() {
    // Another paywire's sandbox stands in for Stripe (STRIPE_API_BASE).
    let stripe = TestServer::examples().await;
    let dir = project(&[(
        "customer.yaml",
        "apis:\n  customer:\n    method: POST\n    path: /customer\n    steps:\n      - id: c\n        action: stripe.create_customer\n        with: { email: a@example.com }\n      - response: { body: \"{{ steps.c }}\" }\n",
    )]);
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("serve")
        .env("PAYWIRE_DIR", dir.path().join("workflows"))
        .env("PAYWIRE_DB", served_db(&dir.path().join("p.db")).await)
        .env("PAYWIRE_PORT", port.to_string())
        .env("PAYWIRE_LOG", "debug")
        .env("PAYWIRE_ENV", "development")
        .env("STRIPE_SECRET_KEY", "sk_test_supersecretkeyvalue")
        .env("STRIPE_API_BASE", format!("{}/_stripe", stripe.base))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let reply = loop {
        match client
            .post(format!("{base}/customer"))
            .json(&json!({}))
            .send()
            .await
        {
            Ok(reply) => break reply,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the server did not come up: {e}"),
        }
    };
    assert_eq!(reply.status().as_u16(), 200);
    let customer: serde_json::Value = reply.json().await.unwrap();
    assert!(customer["id"].as_str().unwrap().starts_with("cus_"));
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("Stripe: TEST mode, key sk_test_**** from STRIPE_SECRET_KEY"),
        "{printed}"
    );
    assert!(!printed.contains("supersecret"), "{printed}");
    stripe.stop().await;
}

/// The README's walkthrough, on the binary as a builder starts it: `paywire
/// serve` with no key serves the examples on its sandbox, makes the catalogue
/// at start, and the sandbox's webhook marks a paid order paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_works_on_paywire_serve() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_paywire"))
        .arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env(
            "PAYWIRE_DB",
            served_db(&dir.path().join("paywire.db")).await,
        )
        .env("PAYWIRE_PORT", port.to_string())
        .env_remove("PAYWIRE_DIR")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("PAYWIRE_ENV")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let prices = loop {
        if let Ok(reply) = client.get(format!("{base}/prices")).send().await {
            let body: serde_json::Value = reply.json().await.unwrap_or_default();
            if body["prices"].as_array().is_some_and(|p| p.len() == 2) {
                break body;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no catalogue");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let tshirt = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["lookup_key"] == "tshirt")
        .unwrap()["price_id"]
        .clone();
    let created: serde_json::Value = client
        .post(format!("{base}/create-checkout"))
        .json(&json!({"price_id": tshirt, "quantity": 2, "email": "ada@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = created["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{base}/_stripe/checkout/pay/cs_test_")),
        "{url}"
    );
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(url)
        .form(&[
            ("action", "pay"),
            ("card_number", "4242 4242 4242 4242"),
            ("email", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status().as_u16(), 303);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let orders: serde_json::Value = client
            .get(format!("{base}/orders?status=paid"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if orders["orders"].as_array().is_some_and(|o| o.len() == 1) {
            assert_eq!(orders["orders"][0]["amount"], 4000);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the order was not marked paid: {orders}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let banner = String::from_utf8_lossy(&out.stdout);
    assert!(banner.contains("STRIPE SANDBOX"), "{banner}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_lists_the_inbox_and_replay_queues_a_failed_event_again() {
    use crate::webhooks::{deliver, envelope, settled, signed};
    let failing = "workflows:\n  fails:\n    trigger: stripe.product\n    steps:\n      - throw: { name: Broken, message: always }\n";
    let dir = project(&[("fails.yaml", failing)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut settings =
        paywire::app::Settings::new(dir.path().join("workflows"), dir.path().join("p.db"))
            .with_sandbox(paywire_sandbox::SandboxConfig {
                base_url: format!("http://{address}/_stripe"),
                webhook_url: None,
                webhook_secret: crate::common::SANDBOX_WEBHOOK_SECRET.into(),
                retry: paywire_sandbox::DELIVERY_RETRY,
                dunning: Default::default(),
            });
    settings.event_retry.attempts = 1;
    settings.admin_open_without_token = true;
    let server = TestServer::start_on(listener, dir, settings).await;
    let payload = envelope(
        "evt_cli",
        "product.created",
        json!({"id": "prod_1", "object": "product"}),
    );
    assert_eq!(deliver(&server, &payload, signed(&payload)).await.0, 200);
    settled(&server).await;
    let db = server.database();
    let cli = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || paywire().args(args).output().unwrap())
    };
    let list = cli(vec!["events".into(), "--db".into(), db.clone()])
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&list.stdout);
    assert!(
        stdout.contains("evt_cli")
            && stdout.contains("product.created")
            && stdout.contains("failed"),
        "{stdout}"
    );
    let one = cli(vec![
        "events".into(),
        "evt_cli".into(),
        "--db".into(),
        db.clone(),
    ])
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&one.stdout);
    assert!(
        stdout.contains("last error: fails: Broken: always"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fails") && stdout.contains("workflow"),
        "{stdout}"
    );
    let replay = cli(vec![
        "replay".into(),
        "evt_cli".into(),
        "--server".into(),
        server.base.clone(),
    ])
    .await
    .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(String::from_utf8_lossy(&replay.stdout).contains("event evt_cli is queued again"));
    let events = settled(&server).await;
    assert_eq!(events[0].state, paywire_store::EventState::Failed);
    assert_eq!(
        server.runs_of("fails").await.len(),
        2,
        "the replay ran the workflow again"
    );
    let unknown = cli(vec![
        "replay".into(),
        "evt_nope".into(),
        "--server".into(),
        server.base.clone(),
    ])
    .await
    .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("there is no event `evt_nope`"));
    server.stop().await;
}
