//! Each control-flow construct, run over HTTP against a small project.

use std::time::{Duration, Instant};

use paywire::app::Settings;
use paywire_expr::ExprLimits;
use paywire_store::{RunStatus, StepStatus};
use serde_json::json;

use crate::common::{TestServer, project};

const PROJECT: &str = r#"
tables:
  events:
    columns:
      note: { type: text }

functions:
  double:
    params:
      n: { type: integer, required: true }
    steps:
      - return: "{{ context.parameters.n * 2 }}"
  forever:
    steps:
      - call: forever
  fail-deep:
    steps:
      - throw: { name: Deep, message: "from the function", cause: { code: 7 } }

workflows:
  slow-note:
    steps:
      - id: first
        set: note
        value: before the wait
      - wait: 1500ms
      - action: table.insert
        with: { table: events, values: { note: "{{ vars.note }}" } }
  note-it:
    params:
      note: { type: string, required: true }
    steps:
      - action: table.insert
        with: { table: events, values: { note: "{{ context.parameters.note }}" } }

apis:
  branch:
    method: GET
    path: /if
    params:
      n: { type: integer, required: true }
    steps:
      - if: "context.parameters.n > 10"
        then:
          - response: { body: { size: big } }
        else:
          - response: { body: { size: small } }

  switch:
    method: GET
    path: /switch/:kind
    steps:
      - id: choice
        switch: context.request.params.kind
        cases:
          completed:
            - set: said
              value: done
          "3":
            - set: said
              value: three
        default:
          - set: said
            value: other
      - response: { body: { said: "{{ vars.said }}", branch: "{{ steps.choice.branch }}" } }

  switch-no-default:
    method: GET
    path: /switch-open
    steps:
      - switch: "3"
        cases:
          "4": [ { set: x, value: 4 } ]
      - response: { body: { x: "{{ vars.x }}" } }

  loops:
    method: POST
    path: /loops
    params:
      rows: { type: array, required: true }
    steps:
      - set: cells
        value: []
      - for_each: context.parameters.rows
        as: row
        index_as: r
        steps:
          - for_each: row
            steps:
              - set: cells
                value: "{{ vars.cells + [`${r}.${index}=${item}`] }}"
      - set: n
        value: 0
      - id: counting
        while: "vars.n < 5"
        steps:
          - set: n
            value: "{{ vars.n + 1 }}"
      - response: { body: { cells: "{{ vars.cells }}", n: "{{ vars.n }}", iterations: "{{ steps.counting.iterations }}" } }

  runaway:
    method: GET
    path: /runaway
    steps:
      - while: "true"
        max_iterations: 3
        steps:
          - log: tick
      - response: { body: never }

  catch:
    method: GET
    path: /catch
    steps:
      - id: attempt
        try:
          - call: fail-deep
        catch:
          - set: caught
            value: "{{ error }}"
      - response: { body: { caught: "{{ vars.caught }}", recorded: "{{ steps.attempt.caught.name }}" } }

  rethrow:
    method: GET
    path: /rethrow
    steps:
      - try:
          - throw: inner problem
        catch:
          - throw: { message: "outer: {{ error.message }}", status: 418 }
      - response: { body: unreachable }

  answer:
    method: GET
    path: /answer
    steps:
      - when: "context.request.query.skip == \"yes\""
        response: { status: 500, body: skipped-guard-failed }
      - response:
          status: 202
          headers: { content-type: text/plain, x-flow: answered }
          body: "plain {{ 1 + 1 }}"
          continue: true
      - wait: 10ms
      - action: table.insert
        with: { table: events, values: { note: after-response } }

  calls:
    method: GET
    path: /calls
    steps:
      - id: twice
        call: double
        with: { n: 21 }
      - response: { body: { value: "{{ steps.twice }}" } }

  bad-call:
    method: GET
    path: /bad-call
    steps:
      - call: double
        with: { n: "{{ \"not a number\" }}" }
      - response: { body: unreachable }

  recursion:
    method: GET
    path: /recursion
    steps:
      - call: forever
      - response: { body: unreachable }

  starts-slow:
    method: POST
    path: /start-slow
    steps:
      - id: started
        start: slow-note
      - response: { status: 202, body: "{{ steps.started }}" }

  starts:
    method: POST
    path: /start
    steps:
      - id: started
        start: note-it
        with: { note: from-start }
      - response: { status: 202, body: "{{ steps.started }}" }

  empty-math:
    method: GET
    path: /empty-math
    steps:
      - set: x
        value: "{{ context.parameters.missing / 100 }}"
      - response: { body: unreachable }

  tamper:
    method: GET
    path: /tamper
    steps:
      - set: x
        value: 1
      - set: y
        value: "{{ vars.x = 5 }}"
      - response: { body: unreachable }

  spin:
    method: GET
    path: /spin
    steps:
      - set: x
        value: "{{ loop { } }}"
      - response: { body: unreachable }
"#;

async fn server() -> TestServer {
    TestServer::start(&[("flows.yaml", PROJECT)]).await
}

#[tokio::test]
async fn if_takes_one_branch() {
    let server = server().await;
    assert_eq!(server.get("/if?n=11").await.body, json!({"size": "big"}));
    let small = server.get("/if?n=3").await;
    assert_eq!(small.body, json!({"size": "small"}));
    let run = server.run(&small.run_id()).await;
    assert_eq!(run.steps[0].output, json!({"branch": "else"}));
    assert_eq!(run.steps[1].key, "steps[0].else[0]");
    server.stop().await;
}

#[tokio::test]
async fn switch_picks_a_case_or_the_default() {
    let server = server().await;
    assert_eq!(
        server.get("/switch/completed").await.body,
        json!({"said": "done", "branch": "completed"})
    );
    assert_eq!(
        server.get("/switch/3").await.body,
        json!({"said": "three", "branch": "3"})
    );
    assert_eq!(
        server.get("/switch/refunded").await.body,
        json!({"said": "other", "branch": "default"})
    );
    assert_eq!(server.get("/switch-open").await.body, json!({"x": null}));
    server.stop().await;
}

#[tokio::test]
async fn loops_bind_items_and_indexes_and_while_counts() {
    let server = server().await;
    let reply = server
        .post("/loops", json!({"rows": [["a", "b"], ["c"]]}))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({"cells": ["0.0=a", "0.1=b", "1.0=c"], "n": 5, "iterations": 5})
    );
    let run = server.run(&reply.run_id()).await;
    let keys: Vec<&str> = run.steps.iter().map(|s| s.key.as_str()).collect();
    assert!(keys.contains(&"steps[1].steps[0].steps[0]#1#0"), "{keys:?}");

    let not_a_list = server.post("/loops", json!({"rows": [5]})).await;
    assert_eq!(not_a_list.status, 500);
    assert!(
        not_a_list.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`for_each` needs a list")
    );
    server.stop().await;
}

#[tokio::test]
async fn while_stops_at_its_maximum_with_an_error() {
    let server = server().await;
    let reply = server.get("/runaway").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body["error"]["name"], "LoopLimit");
    assert_eq!(reply.body["error"]["step"], "steps[0]");
    let run = server.run(&reply.run_id()).await;
    assert_eq!(run.steps.iter().filter(|s| s.kind == "log").count(), 3);
    server.stop().await;
}

#[tokio::test]
async fn try_catches_errors_with_name_message_cause_and_step() {
    let server = server().await;
    let reply = server.get("/catch").await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "caught": {"name": "Deep", "message": "from the function", "cause": {"code": 7}, "step": "fail-deep/steps[0]"},
            "recorded": "Deep"
        })
    );
    let rethrown = server.get("/rethrow").await;
    assert_eq!(rethrown.status, 418);
    assert_eq!(rethrown.body["error"]["message"], "outer: inner problem");
    assert_eq!(rethrown.body["error"]["name"], "Error");
    server.stop().await;
}

#[tokio::test]
async fn response_sets_status_headers_text_and_can_keep_running() {
    let server = server().await;
    let reply = server.get("/answer").await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.header("x-flow"), Some("answered"));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
    assert_eq!(reply.body, json!("plain 2"));
    let run = server.finished_run_of("answer").await;
    assert_eq!(run.run.status, RunStatus::Succeeded);
    assert_eq!(run.steps[0].status, StepStatus::Skipped);
    let kinds: Vec<&str> = run.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, vec!["response", "response", "wait", "table.insert"]);
    assert_eq!(run.steps[3].output["note"], "after-response");
    server.stop().await;
}

#[tokio::test]
async fn functions_return_values_and_check_their_input() {
    let server = server().await;
    assert_eq!(server.get("/calls").await.body, json!({"value": 42}));
    let bad = server.get("/bad-call").await;
    assert_eq!(bad.status, 500);
    assert_eq!(bad.body["error"]["name"], "InputError");
    assert_eq!(
        bad.body["error"]["message"],
        "the function `double` was given bad input: `n` must be an integer, got a string"
    );
    let deep = server.get("/recursion").await;
    assert_eq!(deep.status, 500);
    assert!(
        deep.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("calls nest deeper than 16")
    );
    server.stop().await;
}

#[tokio::test]
async fn start_runs_a_workflow_in_the_background() {
    let server = server().await;
    let reply = server.post("/start", json!({})).await;
    assert_eq!(reply.status, 202);
    assert_eq!(reply.body["workflow"], "note-it");
    let child = reply.body["run_id"].as_str().unwrap().to_string();
    let run = server.finished_run_of("note-it").await;
    assert_eq!(run.run.id, child);
    assert_eq!(run.run.status, RunStatus::Succeeded);
    assert_eq!(run.steps[0].output["note"], "from-start");
    server.stop().await;
}

#[tokio::test]
async fn expression_errors_say_what_was_empty() {
    let server = server().await;
    let reply = server.get("/empty-math").await;
    assert_eq!(reply.status, 500);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("empty value"), "{message}");
    assert!(message.contains("??"), "{message}");
    server.stop().await;
}

#[tokio::test]
async fn expressions_cannot_assign_to_vars_or_steps() {
    let server = server().await;
    let reply = server.get("/tamper").await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.body["error"]["name"], "ExpressionError");
    server.stop().await;
}

#[tokio::test]
async fn a_runaway_expression_ends_at_its_deadline_and_the_server_stays_up() {
    let dir = project(&[("flows.yaml", PROJECT)]);
    let mut settings = Settings::new(dir.path().join("workflows"), dir.path().join("paywire.db"));
    settings.expr_limits = ExprLimits {
        max_operations: 0,
        deadline: Duration::from_millis(200),
        ..ExprLimits::default()
    };
    let server = TestServer::start_with(dir, settings).await;
    let started = Instant::now();
    let reply = server.get("/spin").await;
    assert_eq!(reply.status, 500);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("time limit of 200 ms")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(server.get("/if?n=1").await.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_run_that_waits_shows_as_running_with_the_steps_it_has_done() {
    let server = server().await;
    let reply = server.post("/start-slow", json!({})).await;
    assert_eq!(reply.status, 202);
    let child = reply.body["run_id"].as_str().unwrap().to_string();
    // The run hands its records to the store before it waits, so that the
    // console shows it running, not only once it ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    let waiting = loop {
        server.app.store().flush().await.unwrap();
        if let Some(detail) = server.app.store().get_run(child.clone()).await.unwrap() {
            break detail;
        }
        assert!(
            Instant::now() < deadline,
            "the waiting run was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(waiting.run.status, RunStatus::Running);
    assert_eq!(
        waiting
            .steps
            .iter()
            .map(|s| s.kind.as_str())
            .collect::<Vec<_>>(),
        vec!["set"],
        "{:?}",
        waiting.steps
    );
    let done = server.finished_run_of("slow-note").await;
    assert_eq!(done.run.status, RunStatus::Succeeded);
    assert_eq!(
        done.steps
            .iter()
            .map(|s| s.kind.as_str())
            .collect::<Vec<_>>(),
        vec!["set", "wait", "table.insert"]
    );
    server.stop().await;
}
