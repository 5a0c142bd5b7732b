//! The `paywire` binary: `check`, `serve` refusing a bad project, `runs`.

use std::process::Command;

use serde_json::json;

use crate::common::{TestServer, examples_dir, project};

fn paywire() -> Command {
    Command::new(env!("CARGO_BIN_EXE_paywire"))
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
        stdout.contains(": ok (5 APIs, 0 workflows, 1 function, 1 table)"),
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
    let db = server.dir.path().join("paywire.db");

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
