//! Hostile and careless input, each case one that once stalled, crashed or
//! fooled paywire: Stripe inputs nested past what Stripe's form encoding
//! takes, a panic inside a run, expressions that compute for seconds,
//! `import` and `eval`, integers past 64 bits, deeply nested events, the
//! admin surface reached from other hosts and origins, and the console's
//! sign-in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use paywire::app::Settings;
use paywire::config::Secret;
use paywire_engine::actions::{ActionError, ActionExecutor, ActionFuture, ActionPlan, ActionSite};
use paywire_engine::runner::{RunIdentity, Runner};
use paywire_expr::{Evaluator, ExprLimits};
use paywire_model::load_project_files;
use paywire_store::{EventState, RunStatus, Store};
use serde_json::{Value, json};

use crate::common::{TestServer, project};
use crate::webhooks::{deliver, envelope, settled, signed};

fn problems(text: &str) -> Vec<String> {
    let evaluator = Evaluator::new(ExprLimits::default());
    match load_project_files(&[("w.yaml".into(), text.into())], &evaluator) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.0.iter().map(ToString::to_string).collect(),
    }
}

/// Waits (bounded) until no run of `name` is running, and returns them all.
async fn runs_settled(server: &TestServer, name: &str) -> Vec<paywire_store::RunRecord> {
    for _ in 0..400 {
        let runs = server.runs_of(name).await;
        if !runs.is_empty() && runs.iter().all(|r| r.status != RunStatus::Running) {
            return runs;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("runs of {name} never settled");
}

#[tokio::test]
async fn a_stripe_input_nested_too_deep_is_a_400_naming_it_and_leaves_nothing_behind() {
    let server = TestServer::examples().await;
    let reply = server
        .post(
            "/payments/intent",
            json!({"amount": 100, "metadata": {"a": {"b": {"c": {"d": {"e": {"f": "x"}}}}}}}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        reply.body["error"]["name"], "StripeInputError",
        "{}",
        reply.body
    );
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`metadata[a][b][c][d][e][f]`"),
        "{message}"
    );
    let runs = runs_settled(&server, "create-payment-intent").await;
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(server.get("/orders").await.body["orders"], json!([]));
    server.stop().await;
}

#[test]
fn a_literal_stripe_input_nested_too_deep_is_a_load_time_problem() {
    let found = problems(
        "apis:\n  a:\n    method: POST\n    path: /a\n    steps:\n      - action: stripe.create_customer\n        with:\n          metadata: { a: { b: { c: { d: { e: { f: x } } } } } }\n      - response: { body: ok }\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("`metadata[a][b][c][d][e][f]` nests deeper"),
        "{found:?}"
    );
}

const DEEP_FROM_EVENT: &str = r#"
workflows:
  mirror:
    trigger: { event: stripe.payment_intent, actions: [succeeded] }
    steps:
      - action: stripe.create_customer
        with: { metadata: "{{ context.event.object.metadata }}" }
"#;

#[tokio::test]
async fn a_webhook_workflow_failing_on_a_deep_input_counts_its_attempts_and_stops() {
    let server =
        TestServer::with_sandbox_configured(&[("deep.yaml", DEEP_FROM_EVENT)], None, |s| {
            s.event_retry = paywire_support::Backoff {
                attempts: 2,
                first_delay: Duration::from_millis(20),
                max_delay: Duration::from_millis(50),
            };
        })
        .await;
    let payload = envelope(
        "evt_deep_input",
        "payment_intent.succeeded",
        json!({"id": "pi_deep", "object": "payment_intent", "status": "succeeded",
               "metadata": {"a": {"b": {"c": {"d": {"e": {"f": "x"}}}}}}}),
    );
    assert_eq!(deliver(&server, &payload, signed(&payload)).await.0, 200);
    let events = settled(&server).await;
    assert_eq!(events[0].state, EventState::Failed);
    assert_eq!(events[0].attempts, 2);
    assert!(
        events[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("StripeInputError"),
        "{:?}",
        events[0].last_error
    );
    let runs = server.runs_of("mirror").await;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.status == RunStatus::Failed));
    server.stop().await;
}

/// An executor with a bug: every action panics.
struct Panicking;

impl ActionExecutor for Panicking {
    fn plan(
        &self,
        _spec: &'static paywire_model::catalogue::ActionSpec,
        _input: &Value,
        _site: ActionSite<'_>,
    ) -> Result<ActionPlan, ActionError> {
        panic!("a bug in an action")
    }

    fn call_stripe(&self, _call: paywire_stripe::client::Call) -> ActionFuture<'_> {
        Box::pin(async { panic!("a bug in an action") })
    }
}

#[tokio::test]
async fn a_panic_inside_a_run_fails_that_run_on_record_and_answers_its_caller() {
    let evaluator = Arc::new(Evaluator::new(ExprLimits::default()));
    let text = "tables:\n  t:\n    columns:\n      id: { type: text, primary_key: true }\napis:\n  a:\n    method: POST\n    path: /a\n    steps:\n      - action: table.insert\n        with: { table: t, values: { id: x } }\n      - response: { body: ok }\n";
    let project =
        Arc::new(load_project_files(&[("w.yaml".into(), text.into())], &evaluator).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = crate::common::postgres::store_for(&dir.path().join("p.db")).await;
    let runner = Runner::new(
        project.clone(),
        evaluator,
        Arc::new(Panicking),
        store.clone(),
    );
    let (reply, answer) = tokio::sync::oneshot::channel();
    let identity = RunIdentity::new();
    let outcome = runner
        .run_api(
            identity.clone(),
            project.apis[0].clone(),
            &json!({}),
            json!({}),
            reply,
        )
        .await;
    assert_eq!(outcome.status, RunStatus::Failed);
    let error = outcome.error.unwrap();
    assert_eq!(error.name, "InternalError");
    assert!(!error.message.contains("a bug"), "{}", error.message);
    match answer.await.unwrap() {
        paywire_engine::runner::ApiReply::Failed(e) => assert_eq!(e.http_status(), 500),
        other => panic!("{other:?}"),
    }
    store.flush().await.unwrap();
    let run = store.get_run(identity.id).await.unwrap().unwrap();
    assert_eq!(run.run.status, RunStatus::Failed);
    assert!(run.run.finished_at.is_some());
}

/// An API whose expression computes until its deadline stops it: each call
/// scans a 100 KB string as often as it can.
const SLOW: &str = r#"
apis:
  slow:
    method: POST
    path: /slow
    steps:
      - set: spin
        value: '{{ let s = "x"; s.pad(100000, "y"); let n = 0; loop { if s.contains("z") { n += 1 } } }}'
      - response: { body: ok }
  spend:
    method: POST
    path: /spend
    steps:
      - set: i
        value: 0
      - while: "vars.i < 1000"
        max_iterations: 1000
        steps:
          - set: i
            value: '{{ let s = "x"; s.pad(100000, "y"); let n = 0; for k in 0..2000 { if s.contains("z") { n += 1 } } vars.i + 1 }}'
      - response: { body: ok }
  quick:
    method: GET
    path: /quick
    steps:
      - response: { body: { answer: "{{ 6 * 7 }}" } }
"#;

fn slow_settings(dir: &tempfile::TempDir) -> Settings {
    let mut settings = Settings::new(dir.path().join("workflows"), dir.path().join("p.db"));
    settings.expr_limits.max_operations = 0;
    settings.expr_limits.deadline = Duration::from_millis(150);
    settings.expr_limits.run_budget = Duration::from_millis(400);
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expressions_that_compute_for_long_do_not_stop_the_server_answering() {
    let dir = project(&[("slow.yaml", SLOW)]);
    let settings = slow_settings(&dir);
    let server = TestServer::start_with(dir, settings).await;
    let slow: Vec<_> = (0..20)
        .map(|_| {
            let client = server.client.clone();
            let url = format!("{}/slow", server.base);
            tokio::spawn(async move { client.post(url).json(&json!({})).send().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The slow calls take several seconds together (the compute lane runs
    // them a few at a time); meanwhile everything else answers at once. The
    // bound tells "answers" from "waits behind them", not a speed.
    for path in ["/_paywire/health", "/quick", "/_paywire/health", "/quick"] {
        let started = Instant::now();
        let reply = server.get(path).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert!(
            started.elapsed() < Duration::from_millis(750),
            "{path} took {:?} while slow expressions ran",
            started.elapsed()
        );
    }
    for call in slow {
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.status().as_u16(), 500);
        let body: Value = response.json().await.unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("time limit of 150 ms"), "{message}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_has_a_budget_of_expression_time_across_its_steps() {
    let dir = project(&[("slow.yaml", SLOW)]);
    let mut settings = slow_settings(&dir);
    // Each expression of the loop ends well inside its own limit; it is
    // their sum that the run's budget stops.
    settings.expr_limits.deadline = Duration::from_secs(5);
    let server = TestServer::start_with(dir, settings).await;
    let started = Instant::now();
    let reply = server.post("/spend", json!({})).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("budget of 400 ms of expression time"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    server.stop().await;
}

#[test]
fn import_and_eval_are_load_time_problems() {
    for (expression, word) in [
        (r#"import "/etc/passwd" as m; 1"#, "import"),
        (r#"eval("40 + 2")"#, "eval"),
    ] {
        let text = format!(
            "apis:\n  a:\n    method: POST\n    path: /a\n    steps:\n      - set: x\n        value: '{{{{ {expression} }}}}'\n      - response: {{ body: ok }}\n"
        );
        let found = problems(&text);
        assert_eq!(found.len(), 1, "{expression}: {found:?}");
        assert!(found[0].contains("w.yaml:7:"), "{found:?}");
        assert!(found[0].contains(word), "{found:?}");
    }
}

#[tokio::test]
async fn integers_past_64_bits_are_a_400_that_says_so() {
    let server = TestServer::examples().await;
    for body in [
        r#"{"amount": 9223372036854775808}"#,
        r#"{"amount": 18446744073709551616}"#,
        r#"{"amount": -1e19}"#,
    ] {
        let reply = server
            .send_raw("POST", "/orders", "application/json", body.to_string())
            .await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert_eq!(
            reply.field_errors(),
            vec![(
                "amount".to_string(),
                "is out of range: integers go from -9223372036854775808 to 9223372036854775807"
                    .to_string()
            )],
            "{body}"
        );
    }
    // `-0` is the integer 0, which is below the API's minimum.
    let reply = server
        .send_raw("POST", "/orders", "application/json", r#"{"amount": -0}"#)
        .await;
    assert_eq!(
        reply.field_errors(),
        vec![("amount".to_string(), "must be at least 50".to_string())]
    );
    server.stop().await;
}

#[tokio::test]
async fn the_cart_refuses_lines_it_cannot_price_honestly() {
    let server = TestServer::examples().await;
    let price = |lines: Value| server.post("/cart/price", json!({"lines": lines}));
    let good = price(json!([{"sku": "a", "unit_amount": 500, "quantity": 2}])).await;
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(good.body["subtotal"], 1000);
    for lines in [
        json!([{"sku": "neg", "unit_amount": -500, "quantity": 2}]),
        json!([{"sku": "huge", "unit_amount": 500, "quantity": 9223372036854775807_i64}]),
        serde_json::from_str(
            r#"[{"sku": "huger", "unit_amount": 2, "quantity": 9223372036854775808}]"#,
        )
        .unwrap(),
        json!([{"sku": "frac", "unit_amount": 1.5, "quantity": 2}]),
    ] {
        let reply = price(lines.clone()).await;
        assert_eq!(reply.status, 422, "{lines}: {}", reply.body);
        assert_eq!(reply.body["kind"], "BadLine", "{lines}: {}", reply.body);
    }
    // A product that overflows 64 bits is an error, not a wrapped or
    // clamped subtotal.
    let reply = price(json!([
        {"sku": "big", "unit_amount": 4611686018427387904_i64, "quantity": 2}
    ]))
    .await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert!(
        reply.body["error"].as_str().unwrap().contains("overflow"),
        "{}",
        reply.body
    );
    server.stop().await;
}

/// `depth` objects inside each other, as JSON text (a `Value` that deep
/// would overflow the test's own stack when dropped).
fn nested(depth: usize) -> String {
    format!("{}\"bottom\"{}", "{\"n\":".repeat(depth), "}".repeat(depth))
}

const DEPTH_RECORDER: &str = r#"
tables:
  seen:
    columns:
      id: { type: text, primary_key: true }
workflows:
  record:
    trigger: { event: stripe.payment_intent, actions: [succeeded] }
    steps:
      - action: table.insert
        with: { table: seen, values: { id: "{{ context.event.id }}" } }
"#;

#[tokio::test]
async fn a_signed_event_is_acknowledged_only_if_the_inbox_can_run_it() {
    let server = TestServer::with_sandbox(&[("depth.yaml", DEPTH_RECORDER)], None).await;
    let event = |id: &str, depth: usize| {
        envelope(
            id,
            "payment_intent.succeeded",
            json!({"id": format!("pi_{id}"), "object": "payment_intent", "metadata": "DEEP"}),
        )
        .replace("\"DEEP\"", &nested(depth))
    };
    // As deep as the limit allows: acknowledged, and it runs.
    let deepest = event("evt_deepest", paywire_expr::MAX_JSON_DEPTH - 6);
    let (status, body) = deliver(&server, &deepest, signed(&deepest)).await;
    assert_eq!(status, 200, "{body}");
    // Deeper: refused before it is stored, so that Stripe's 200 is never
    // given for an event that can never run.
    for depth in [paywire_expr::MAX_JSON_DEPTH, 130, 5_000] {
        let payload = event(&format!("evt_deep_{depth}"), depth);
        let (status, body) = deliver(&server, &payload, signed(&payload)).await;
        assert_eq!(status, 400, "{depth}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("nests deeper than"), "{message}");
    }
    let events = settled(&server).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].id, "evt_deepest");
    assert_eq!(events[0].state, EventState::Done, "{events:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_api_body_nested_past_the_limit_is_a_400() {
    let server = TestServer::examples().await;
    let body = format!(
        r#"{{"price_id": "p", "quantity": 1, "email": {}}}"#,
        nested(paywire_expr::MAX_JSON_DEPTH)
    );
    let reply = server
        .send_raw("POST", "/create-checkout", "application/json", body)
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    server.stop().await;
}

async fn open_server() -> TestServer {
    TestServer::examples_configured(false, |s| s.admin_open_without_token = true).await
}

#[tokio::test]
async fn without_a_token_only_loopback_hosts_reach_the_admin_surface() {
    let server = open_server().await;
    let get = |path: &str, host: &str| {
        server
            .client
            .get(format!("{}{path}", server.base))
            .header("host", host)
            .send()
    };
    for host in [
        "attacker.example",
        "attacker.example:8080",
        "localhost.attacker.example",
    ] {
        for path in [
            "/_paywire/api/runs",
            "/_paywire/api/tables/orders",
            "/console",
        ] {
            let reply = get(path, host).await.unwrap();
            assert_eq!(reply.status().as_u16(), 403, "{host}{path}");
            let body: Value = reply.json().await.unwrap();
            assert_eq!(body["error"]["type"], "foreign_host", "{host}{path}");
        }
    }
    for host in ["localhost:8080", "127.0.0.1", "[::1]:9"] {
        let reply = get("/_paywire/api/runs", host).await.unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{host}");
    }
    // The builder's APIs are not the admin surface: any host reaches them.
    assert_eq!(get("/orders", "shop.example").await.unwrap().status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn changes_to_the_admin_surface_from_other_origins_are_refused() {
    let server = open_server().await;
    let host = server.base.trim_start_matches("http://").to_string();
    let post = |path: &str, origin: Option<&str>, site: Option<&str>| {
        let mut request = server.client.post(format!("{}{path}", server.base));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    for (origin, site) in [
        (Some("http://attacker.example"), None),
        (Some("null"), None),
        (None, Some("cross-site")),
        (Some("http://attacker.example"), Some("cross-site")),
    ] {
        for path in [
            "/_paywire/api/events/evt_x/replay",
            "/_paywire/api/runs/run_x/retry",
            "/console/logout",
        ] {
            let reply = post(path, origin, site).await.unwrap();
            assert_eq!(
                reply.status().as_u16(),
                403,
                "{path} from {origin:?} {site:?}"
            );
            let body: Value = reply.json().await.unwrap();
            assert_eq!(body["error"]["type"], "cross_origin", "{path}");
        }
    }
    // The server's own pages, and tools that send no Origin, get through to
    // the handler (which finds no such event).
    let own = format!("http://{host}");
    for (origin, site) in [(Some(own.as_str()), Some("same-origin")), (None, None)] {
        let reply = post("/_paywire/api/events/evt_x/replay", origin, site)
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 404, "{origin:?}");
    }
    server.stop().await;
}

const TOKEN: &str = "hardening-token-for-tests";

#[tokio::test]
async fn sign_in_is_rate_limited_and_signing_out_revokes_the_cookie() {
    let server =
        TestServer::examples_configured(false, |s| s.admin_token = Some(Secret::new(TOKEN))).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |path: &str| format!("{}{path}", server.base);
    let login = |token: &str| {
        client
            .post(url("/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
    };
    // A good sign-in, before the guessing starts.
    let signed_in = login(TOKEN).await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("Max-Age="), "{cookie}");
    let pair = cookie.split(';').next().unwrap().to_string();

    let mut statuses = Vec::new();
    for i in 0..30 {
        statuses.push(
            login(&format!("guess-{i}"))
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert!(statuses[..10].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    // While sign-in is locked, even the right token waits; the bearer
    // token still works.
    let locked = login(TOKEN).await.unwrap();
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    let bearer = client
        .get(url("/_paywire/api/runs"))
        .header("authorization", format!("bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200, "the scheme is case-insensitive");

    let with_cookie = || {
        client
            .get(url("/_paywire/api/runs"))
            .header("cookie", &pair)
            .send()
    };
    assert_eq!(with_cookie().await.unwrap().status(), 200);
    let out = client
        .post(url("/console/logout"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    // A copy of the cookie kept after signing out no longer works.
    assert_eq!(with_cookie().await.unwrap().status(), 401);
    server.stop().await;
}

/// `levels` `if`s inside each other around a table insert.
fn nested_ifs(levels: usize) -> String {
    let mut steps =
        String::from("- action: table.insert\n  with: { table: t, values: { id: deep } }\n");
    for _ in 0..levels {
        let indented: String = steps.lines().map(|l| format!("      {l}\n")).collect();
        steps = format!("- if: \"true\"\n  then:\n{indented}");
    }
    let body: String = steps.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "tables:\n  t:\n    columns:\n      id: {{ type: text, primary_key: true }}\napis:\n  deep:\n    method: POST\n    path: /deep\n    steps:\n{body}      - response: {{ body: ok }}\n  recurse:\n    method: POST\n    path: /recurse\n    steps:\n      - call: again\n      - response: {{ body: ok }}\nfunctions:\n  again:\n    steps:\n      - if: \"true\"\n        then:\n          - if: \"true\"\n            then:\n              - call: again\n"
    )
}

#[tokio::test]
async fn steps_nested_past_the_limit_fail_the_run_instead_of_the_server() {
    let limit = paywire_engine::runner::MAX_STEP_DEPTH;
    // The API's own list is one level; the `if`s make the rest.
    let server = TestServer::start(&[("deep.yaml", &nested_ifs(limit - 1))]).await;
    let reply = server.post("/deep", json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // A function calling itself through nested `if`s reaches the depth
    // limit before the call limit.
    let reply = server.post("/recurse", json!({})).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.body["error"]["name"], "DepthLimit", "{}", reply.body);
    server.stop().await;

    let server = TestServer::start(&[("deep.yaml", &nested_ifs(limit))]).await;
    let reply = server.post("/deep", json!({})).await;
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert_eq!(reply.body["error"]["name"], "DepthLimit", "{}", reply.body);
    assert_eq!(server.get("/_paywire/health").await.status, 200);
    server.stop().await;
}
