//! Reloading the project while serving (`serve --watch`).

use std::time::Duration;

use crate::common::{TestServer, write_project};

const V1: &str =
    "apis:\n  hello:\n    method: GET\n    path: /hello\n    steps: [{ response: { body: v1 } }]\n";
const V2: &str = "apis:\n  hello:\n    method: GET\n    path: /hello\n    steps: [{ response: { body: v2 } }]\n  bye:\n    method: GET\n    path: /bye\n    steps: [{ response: { body: bye } }]\n";
const BROKEN: &str =
    "apis:\n  hello:\n    method: GET\n    path: /hello\n    steps: [{ respond: 1 }]\n";

async fn wait_for(server: &TestServer, path: &str, body: &str) {
    for _ in 0..200 {
        let reply = server.get(path).await;
        if reply.body == serde_json::json!(body) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{path} never answered {body}");
}

#[tokio::test]
async fn edits_are_served_and_broken_edits_keep_the_last_good_version() {
    let server = TestServer::start(&[("a.yaml", V1)]).await;
    let watcher = paywire::app::watch(server.app.clone(), Duration::from_millis(20)).await;
    assert_eq!(server.get("/hello").await.body, "v1");

    write_project(server.dir.path(), &[("a.yaml", BROKEN)]);
    for _ in 0..200 {
        if server.app.problems().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let problems = server.app.problems().expect("the broken edit is reported");
    assert!(
        problems.contains("a.yaml:5:15: apis.hello.steps[0]: this step does nothing"),
        "{problems}"
    );
    assert_eq!(server.get("/hello").await.body, "v1");
    let health = server.get("/_paywire/health").await;
    assert!(
        health.body["problems"]
            .as_str()
            .unwrap()
            .contains("this step does nothing")
    );

    write_project(server.dir.path(), &[("a.yaml", V2)]);
    wait_for(&server, "/bye", "bye").await;
    assert_eq!(server.get("/hello").await.body, "v2");
    assert!(server.app.problems().is_none());
    watcher.abort();
    server.stop().await;
}
