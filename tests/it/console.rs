//! The console at `/console` and its data API: the page and its assets,
//! access (sign-in form, cookie, bearer token, off), the project with its
//! tables' row counts, diagrams whose keys match a real run's, the nodes
//! and loop iterations of a run's steps, runs since a time, events with
//! their runs in one request, table pages, problems, and no secrets.

use std::collections::BTreeSet;
use std::time::Duration;

use paywire::app::Settings;
use paywire::config::Secret;
use serde_json::{Value, json};

use crate::common::{TestServer, project, write_project};

const TOKEN: &str = "console-token-for-tests";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn open_examples() -> TestServer {
    TestServer::examples_configured(false, |s| s.admin_open_without_token = true).await
}

/// Every key of a diagram's nodes, depth first.
fn diagram_keys(nodes: &Value, out: &mut BTreeSet<String>) {
    for node in nodes.as_array().unwrap() {
        out.insert(node["key"].as_str().unwrap().to_string());
        for lane in node["lanes"].as_array().unwrap() {
            diagram_keys(&lane["steps"], out);
        }
    }
}

#[tokio::test]
async fn the_page_is_served_with_its_embedded_assets() {
    let server = open_examples().await;
    let page = server.get("/console").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let html = page.body.as_str().unwrap();
    for marker in [
        "data-paywire-console",
        "/console/app.js",
        "/console/app.css",
    ] {
        assert!(html.contains(marker), "{marker} in {html}");
    }
    let script = server.get("/console/app.js").await;
    assert_eq!(script.status, 200);
    assert!(
        script
            .header("content-type")
            .unwrap()
            .contains("javascript")
    );
    let script = script.body.as_str().unwrap();
    for marker in [
        "function drawDiagram",
        "setInterval",
        "/replay",
        "/_paywire/api",
        // The runs are filtered and the events' runs fetched by the server.
        "qs.set(\"since\"",
        "include=runs",
    ] {
        assert!(script.contains(marker), "{marker}");
    }
    // Nothing is fetched from elsewhere.
    assert!(!script.contains("http://") && !script.contains("https://"));
    assert!(!html.contains("http://") && !html.contains("https://"));
    let style = server.get("/console/app.css").await;
    assert!(style.body.as_str().unwrap().contains(".lanes"));
    server.stop().await;
}

#[tokio::test]
async fn with_a_token_the_console_asks_for_it() {
    let server = TestServer::examples_configured(false, |s| {
        s.admin_token = Some(Secret::new(TOKEN));
    })
    .await;
    let client = no_redirects();
    let url = |path: &str| format!("{}{path}", server.base);

    let page = client.get(url("/console")).send().await.unwrap();
    assert_eq!(page.status(), 401);
    let text = page.text().await.unwrap();
    assert!(
        text.contains("id=\"signin\"") && text.contains("/console/login"),
        "{text}"
    );
    assert!(!text.contains("data-paywire-console"));

    let api = client
        .get(url("/_paywire/api/project"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
    let wrong = client
        .get(url("/_paywire/api/project"))
        .bearer_auth("console-token-for-test")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let bearer = client
        .get(url("/_paywire/api/project"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);

    let login = |token: &str| {
        client
            .post(url("/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
    };
    let refused = login("nope").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().get("set-cookie").is_none());
    assert!(refused.text().await.unwrap().contains("signin-error"));

    let signed_in = login(TOKEN).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/console");
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("paywire_console="), "{cookie}");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    // Plain HTTP to loopback: not `Secure`; the value is not the token.
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert!(!cookie.contains(TOKEN));
    let pair = cookie.split(';').next().unwrap().to_string();

    let page = client
        .get(url("/console"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("data-paywire-console"));
    for path in [
        "/_paywire/api/project",
        "/_paywire/api/runs",
        "/_paywire/api/events",
    ] {
        let reply = client
            .get(url(path))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{path}");
    }
    let forged = client
        .get(url("/_paywire/api/project"))
        .header("cookie", format!("paywire_console={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    // Behind a TLS proxy the cookie is `Secure`.
    let proxied = login(TOKEN)
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let cookie = proxied.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    server.stop().await;
}

#[tokio::test]
async fn without_a_token_the_console_is_off_unless_on_the_loopback_sandbox() {
    let server = TestServer::examples().await;
    let page = server.get("/console").await;
    assert_eq!(page.status, 403);
    let text = page.body.as_str().unwrap();
    assert!(
        text.contains("console-off") && text.contains("PAYWIRE_ADMIN_TOKEN"),
        "{text}"
    );
    let api = server.get("/_paywire/api/project").await;
    assert_eq!(api.status, 403);
    assert_eq!(api.body["error"]["type"], "admin_off");
    server.stop().await;
}

#[tokio::test]
async fn the_project_and_a_diagram_whose_keys_match_a_run() {
    let server = open_examples().await;
    let secret = "sk_live_console_secret_value_123";
    let reply = server
        .client
        .post(format!("{}/cart/price", server.base))
        .header("authorization", format!("Bearer {secret}"))
        .header("x-api-key", secret)
        .json(&json!({
            "lines": [
                { "sku": "a", "unit_amount": 500, "quantity": 2 },
                { "sku": "b", "unit_amount": 250, "quantity": 1 },
            ],
            "coupon": "TENOFF",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let run_id = reply.headers()["x-paywire-run"]
        .to_str()
        .unwrap()
        .to_string();

    let project = server.get("/_paywire/api/project").await;
    assert_eq!(project.status, 200);
    assert_eq!(project.body["problems"], Value::Null);
    let apis = project.body["apis"].as_array().unwrap();
    let cart = apis.iter().find(|a| a["name"] == "price-cart").unwrap();
    assert_eq!(cart["method"], "POST");
    assert_eq!(cart["path"], "/cart/price");
    assert_eq!(cart["recent"]["runs"], 1);
    assert_eq!(cart["recent"]["failed"], 0);
    assert!(
        project.body["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["trigger"]
                .as_str()
                .unwrap()
                .starts_with("stripe.checkout_session"))
    );
    assert!(
        project.body["functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "price-line")
    );
    let tables = project.body["tables"].as_array().unwrap();
    assert!(!tables.is_empty());
    assert!(tables[0]["columns"].as_array().unwrap().len() > 1);
    // Every table is counted.
    assert!(tables.iter().all(|t| t["rows"].is_u64()), "{tables:?}");

    let diagram = server.get("/_paywire/api/diagram/api/price-cart").await;
    assert_eq!(diagram.status, 200);
    assert_eq!(diagram.body["head"], "POST /cart/price");
    let switch = diagram.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "switch")
        .unwrap();
    let lanes: Vec<&str> = switch["lanes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert_eq!(lanes, ["case TENOFF", "case FREESHIP", "default"]);
    let try_step = &diagram.body["steps"][1];
    assert_eq!(try_step["kind"], "try");
    assert_eq!(try_step["lanes"][1]["label"], "catch");

    let mut keys = BTreeSet::new();
    diagram_keys(&diagram.body["steps"], &mut keys);
    let run = server.get(&format!("/_paywire/api/runs/{run_id}")).await;
    let steps = run.body["steps"].as_array().unwrap();
    let mut looped = false;
    for step in steps {
        let key = step["key"].as_str().unwrap();
        looped |= key.contains('#');
        let bare = key.split('#').next().unwrap();
        if bare.contains('/') {
            // A step of the called function, drawn on the function's diagram.
            assert!(bare.starts_with("price-line/"), "{key}");
            continue;
        }
        assert!(keys.contains(bare), "{key} is not on the diagram: {keys:?}");
    }
    assert!(looped, "the run went through the loop");
    assert!(steps.iter().any(|s| s["key"] == "steps[2].cases.TENOFF[0]"));

    let function = server
        .get("/_paywire/api/diagram/function/price-line")
        .await;
    assert_eq!(function.status, 200);
    let mut function_keys = BTreeSet::new();
    diagram_keys(&function.body["steps"], &mut function_keys);
    for step in steps {
        let key = step["key"].as_str().unwrap().split('#').next().unwrap();
        if let Some(inner) = key.strip_prefix("price-line/") {
            assert!(function_keys.contains(inner), "{key}");
        }
    }

    assert_eq!(
        server.get("/_paywire/api/diagram/api/nope").await.status,
        404
    );
    assert_eq!(
        server
            .get("/_paywire/api/diagram/table/orders")
            .await
            .status,
        400
    );

    // No console output shows the secret headers' values.
    for path in [
        "/_paywire/api/project".to_string(),
        "/_paywire/api/diagram/api/price-cart".to_string(),
        "/_paywire/api/runs".to_string(),
        format!("/_paywire/api/runs/{run_id}"),
        "/_paywire/api/events".to_string(),
    ] {
        let reply = server.get(&path).await;
        assert_eq!(reply.status, 200, "{path}");
        let text = reply.body.to_string();
        assert!(!text.contains(secret), "{path} shows the secret: {text}");
    }
    server.stop().await;
}

const ITEMS: &str = "tables:\n  items:\n    columns:\n      sku: { type: text, primary_key: true }\n      qty: { type: integer }\napis:\n  add:\n    method: POST\n    path: /items\n    params:\n      sku: { type: string, required: true }\n    steps:\n      - action: table.insert\n        with: { table: items, values: { sku: \"{{ context.parameters.sku }}\", qty: 1 } }\n      - response: { status: 201, body: ok }\n";

async fn open_project(files: &[(&str, &str)]) -> TestServer {
    let dir = project(files);
    let mut settings = Settings::new(dir.path().join("workflows"), dir.path().join("paywire.db"));
    settings.admin_open_without_token = true;
    TestServer::start_with(dir, settings).await
}

#[tokio::test]
async fn table_rows_come_in_pages() {
    let server = open_project(&[("a.yaml", ITEMS)]).await;
    for i in 0..7 {
        let reply = server
            .post("/items", json!({ "sku": format!("sku-{i:02}") }))
            .await;
        assert_eq!(reply.status, 201);
    }
    let project = server.get("/_paywire/api/project").await;
    assert_eq!(project.body["tables"][0]["name"], "items");
    assert_eq!(project.body["tables"][0]["rows"], 7);
    let first = server.get("/_paywire/api/tables/items?limit=3").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["columns"], json!(["sku", "qty"]));
    assert_eq!(first.body["has_more"], true);
    let skus = |page: &Value| -> Vec<String> {
        page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["sku"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(skus(&first.body), ["sku-00", "sku-01", "sku-02"]);
    let last = server
        .get("/_paywire/api/tables/items?limit=3&offset=6")
        .await;
    assert_eq!(skus(&last.body), ["sku-06"]);
    assert_eq!(last.body["has_more"], false);
    assert_eq!(last.body["offset"], 6);
    assert_eq!(server.get("/_paywire/api/tables/nope").await.status, 404);
    // Read-only: the data API has no way to write.
    let write = server
        .post("/_paywire/api/tables/items", json!({ "sku": "x" }))
        .await;
    assert_eq!(write.status, 405);
    server.stop().await;
}

const V1: &str =
    "apis:\n  hello:\n    method: GET\n    path: /hello\n    steps: [{ response: { body: v1 } }]\n";
const BROKEN: &str =
    "apis:\n  hello:\n    method: GET\n    path: /hello\n    steps: [{ respond: 1 }]\n";

#[tokio::test]
async fn problems_are_shown_after_a_broken_edit() {
    let server = open_project(&[("a.yaml", V1)]).await;
    let watcher = paywire::app::watch(server.app.clone(), Duration::from_millis(20)).await;
    assert_eq!(
        server.get("/_paywire/api/project").await.body["problems"],
        Value::Null
    );
    write_project(server.dir.path(), &[("a.yaml", BROKEN)]);
    let mut problems = Value::Null;
    for _ in 0..200 {
        problems = server.get("/_paywire/api/project").await.body["problems"].clone();
        if !problems.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let text = problems.as_str().expect("the problems are reported");
    assert!(
        text.contains("a.yaml:5:15: apis.hello.steps[0]: this step does nothing"),
        "{text}"
    );
    // The page still loads, and the last good version is still described.
    assert_eq!(server.get("/console").await.status, 200);
    let project = server.get("/_paywire/api/project").await;
    assert_eq!(project.body["apis"][0]["name"], "hello");
    watcher.abort();
    server.stop().await;
}

const HELLO: &str =
    "apis:\n  hello:\n    method: GET\n    path: /hello\n    steps: [{ response: { body: hi } }]\n";

/// Records a finished run of `hello` that started `age` ago, as an older
/// process would have left it.
fn old_run(id: &str, age: chrono::TimeDelta) -> paywire_store::RunRecord {
    let started = chrono::Utc::now() - age;
    paywire_store::RunRecord {
        id: id.into(),
        retry_of: None,
        trigger_event: None,
        kind: paywire_store::RunKind::Api,
        name: "hello".into(),
        status: paywire_store::RunStatus::Succeeded,
        input: json!({}),
        error: None,
        response_status: Some(200),
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        finished_at: Some(started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        duration_ms: Some(1.0),
        retrying: false,
        instance: None,
    }
}

fn run_ids(reply: &crate::common::Reply) -> Vec<String> {
    reply.body["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {}", reply.body))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn runs_are_filtered_by_start_time_on_the_server() {
    use paywire_store::RunRecords;
    let server = open_project(&[("a.yaml", HELLO)]).await;
    let store = server.app.store();
    store.record(RunRecords {
        start: Some(old_run("run_week_ago", chrono::TimeDelta::days(6))),
        ..RunRecords::default()
    });
    store.record(RunRecords {
        start: Some(old_run("run_two_days_ago", chrono::TimeDelta::hours(48))),
        ..RunRecords::default()
    });
    store.record(RunRecords {
        start: Some(old_run("run_two_hours_ago", chrono::TimeDelta::hours(2))),
        ..RunRecords::default()
    });
    let now = server.get("/hello").await.run_id();
    store.flush().await.unwrap();

    let since = |q: &str| {
        let path = format!("/_paywire/api/runs?since={q}");
        let server = &server;
        async move { server.get(&path).await }
    };
    assert_eq!(run_ids(&since("15m").await), [now.as_str()]);
    assert_eq!(
        run_ids(&since("3h").await),
        [now.as_str(), "run_two_hours_ago"]
    );
    assert_eq!(
        run_ids(&since("24h").await),
        [now.as_str(), "run_two_hours_ago"]
    );
    assert_eq!(
        run_ids(&since("7d").await),
        [
            now.as_str(),
            "run_two_hours_ago",
            "run_two_days_ago",
            "run_week_ago"
        ]
    );
    // An RFC 3339 time, with an offset, between two runs.
    let between = (chrono::Utc::now() - chrono::TimeDelta::hours(72))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339();
    let reply = server
        .client
        .get(format!("{}/_paywire/api/runs", server.base))
        .query(&[("since", between.as_str()), ("name", "hello")])
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(body["runs"].as_array().unwrap().len(), 3, "{body}");
    // With the other filters and the limit.
    assert_eq!(
        run_ids(
            &server
                .get("/_paywire/api/runs?since=7d&status=succeeded&limit=2")
                .await
        ),
        [now.as_str(), "run_two_hours_ago"]
    );
    let future = (chrono::Utc::now() + chrono::TimeDelta::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(run_ids(&since(&future).await).is_empty());

    for bad in [
        "yesterday",
        "15",
        "-1h",
        "1.5h",
        "2026-11-23",
        "99999999999999d",
    ] {
        let reply = since(bad).await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert_eq!(reply.body["error"]["type"], "invalid_request");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("`since` is a time in RFC 3339")
                && message.contains("15m")
                && message.ends_with(&format!("not `{bad}`")),
            "{message}"
        );
    }
    server.stop().await;
}

/// Two workflows that run for every `customer.updated` event; other events
/// start nothing.
const CUSTOMERS: &str = r#"
workflows:
  customer-log:
    trigger: { event: stripe.event, types: [customer.updated] }
    steps:
      - log: "customer {{ context.event.object.id }}"
  customer-check:
    trigger: { event: stripe.event, types: [customer.updated] }
    steps:
      - if: "context.event.object.id == `cus_bad`"
        then:
          - throw: { name: BadCustomer, message: "cus_bad is refused" }
"#;

/// The CUSTOMERS project on the sandbox, open to the admin API, with its
/// events retried as `retry` says.
async fn customers_server(retry: paywire_support::Backoff) -> TestServer {
    let dir = project(&[("c.yaml", CUSTOMERS)]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/_stripe", listener.local_addr().unwrap());
    let mut settings = Settings::new(dir.path().join("workflows"), dir.path().join("p.db"))
        .with_sandbox(paywire_sandbox::SandboxConfig {
            base_url: base,
            webhook_url: None,
            webhook_secret: crate::common::SANDBOX_WEBHOOK_SECRET.into(),
            retry: paywire_sandbox::DELIVERY_RETRY,
            dunning: Default::default(),
        });
    settings.event_retry = retry;
    settings.admin_open_without_token = true;
    TestServer::start_on(listener, dir, settings).await
}

#[tokio::test]
async fn events_come_with_their_runs_in_one_request() {
    use crate::webhooks::{deliver, envelope, settled, signed};
    let server = customers_server(paywire_support::Backoff {
        attempts: 2,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
    })
    .await;
    for (id, event_type, customer) in [
        ("evt_good", "customer.updated", "cus_good"),
        ("evt_bad", "customer.updated", "cus_bad"),
        ("evt_other", "customer.created", "cus_good"),
    ] {
        let payload = envelope(
            id,
            event_type,
            json!({"id": customer, "object": "customer"}),
        );
        assert_eq!(deliver(&server, &payload, signed(&payload)).await.0, 200);
    }
    settled(&server).await;

    let listed = server.get("/_paywire/api/events?include=runs").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let events = listed.body["events"].as_array().unwrap();
    let event = |id: &str| events.iter().find(|e| e["id"] == id).unwrap().clone();
    let names = |e: &Value| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = e["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r["trigger_event"], e["id"]);
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    };
    let good = event("evt_good");
    assert_eq!(good["state"], "done");
    assert_eq!(
        names(&good),
        [
            ("customer-check".to_string(), "succeeded".to_string()),
            ("customer-log".to_string(), "succeeded".to_string()),
        ]
    );
    // The failing event: two attempts of the workflow that fails, and the
    // one that succeeded on the first attempt is not run again.
    let bad = event("evt_bad");
    assert_eq!(bad["state"], "failed");
    assert_eq!(
        names(&bad),
        [
            ("customer-check".to_string(), "failed".to_string()),
            ("customer-check".to_string(), "failed".to_string()),
            ("customer-log".to_string(), "succeeded".to_string()),
        ]
    );
    let other = event("evt_other");
    assert_eq!(other["state"], "ignored");
    assert_eq!(other["runs"], json!([]));
    // The same runs as the one-event endpoint gives, in the same order.
    for id in ["evt_good", "evt_bad"] {
        let one = server.get(&format!("/_paywire/api/events/{id}")).await;
        assert_eq!(one.body["runs"], event(id)["runs"], "{id}");
    }
    // Without `include`, no runs; with another value, a 400 that says so.
    let plain = server.get("/_paywire/api/events").await;
    assert!(plain.body["events"][0].get("runs").is_none());
    let wrong = server.get("/_paywire/api/events?include=steps").await;
    assert_eq!(wrong.status, 400);
    assert_eq!(
        wrong.body["error"]["message"],
        "`include` is `runs`, not `steps`"
    );
    // The other filters still apply.
    let failed = server
        .get("/_paywire/api/events?include=runs&state=failed")
        .await;
    let failed = failed.body["events"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["id"], "evt_bad");
    assert_eq!(failed[0]["runs"].as_array().unwrap().len(), 3);
    server.stop().await;
}

/// Loops in loops: three outer iterations, two inner ones each, and a call
/// inside the inner loop.
const LOOPS: &str = r#"
functions:
  twice:
    params: { n: { type: integer } }
    steps:
      - return: "{{ context.parameters.n * 2 }}"
apis:
  loops:
    method: POST
    path: /loops
    steps:
      - set: total
        value: 0
      - for_each: "[1, 2, 3]"
        as: outer
        steps:
          - set: round
            value: 0
          - while: "vars.round < 2"
            max_iterations: 5
            steps:
              - id: doubled
                call: twice
                with: { n: "{{ outer }}" }
              - set: total
                value: "{{ vars.total + steps.doubled }}"
              - set: round
                value: "{{ vars.round + 1 }}"
      - response: { body: { total: "{{ vars.total }}" } }
"#;

#[tokio::test]
async fn a_run_s_steps_name_their_node_and_loop_iterations() {
    let server = open_project(&[("l.yaml", LOOPS)]).await;
    let reply = server.post("/loops", json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["total"], 24);
    let run = server
        .get(&format!("/_paywire/api/runs/{}", reply.run_id()))
        .await;
    let steps = run.body["steps"].as_array().unwrap();
    let diagram = server.get("/_paywire/api/diagram/api/loops").await;
    let mut keys = BTreeSet::new();
    diagram_keys(&diagram.body["steps"], &mut keys);
    let mut seen = BTreeSet::new();
    for step in steps {
        let key = step["key"].as_str().unwrap();
        let node = step["node"].as_str().unwrap();
        let iterations: Vec<u64> = step["iterations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap())
            .collect();
        // The key is the node with one `#N` per loop around it.
        let rebuilt: String = std::iter::once(node.to_string())
            .chain(iterations.iter().map(|i| format!("#{i}")))
            .collect();
        assert_eq!(rebuilt, key);
        if !node.starts_with("twice/") {
            assert!(keys.contains(node), "{node} is not on the diagram");
        }
        seen.insert((node.to_string(), iterations));
    }
    let has =
        |node: &str, iterations: &[u64]| seen.contains(&(node.to_string(), iterations.to_vec()));
    // The outer loop ran once, its body three times; the inner loop three
    // times, its body twice in each.
    assert!(has("steps[1]", &[]));
    for outer in 0..3 {
        assert!(has("steps[1].steps[0]", &[outer]));
        assert!(has("steps[1].steps[1]", &[outer]));
        for inner in 0..2 {
            assert!(has("steps[1].steps[1].steps[0]", &[outer, inner]));
            assert!(has("twice/steps[0]", &[outer, inner]));
        }
        assert!(!has("steps[1].steps[1].steps[0]", &[outer, 2]));
    }
    assert!(!has("steps[1].steps[0]", &[3]));
    let outer_loop = steps.iter().find(|s| s["key"] == "steps[1]").unwrap();
    assert_eq!(outer_loop["output"]["iterations"], 3);
    let inner_loops: Vec<&Value> = steps
        .iter()
        .filter(|s| s["node"] == "steps[1].steps[1]")
        .collect();
    assert_eq!(inner_loops.len(), 3);
    assert!(inner_loops.iter().all(|s| s["output"]["iterations"] == 2));
    server.stop().await;
}

#[tokio::test]
async fn a_failed_run_whose_event_will_be_tried_again_is_retrying() {
    use crate::webhooks::{deliver, envelope, signed};
    // The second attempt is far off: the first failure stays `retrying`.
    let server = customers_server(paywire_support::Backoff {
        attempts: 3,
        first_delay: Duration::from_secs(600),
        max_delay: Duration::from_secs(600),
    })
    .await;
    let payload = envelope(
        "evt_later",
        "customer.updated",
        json!({"id": "cus_bad", "object": "customer"}),
    );
    assert_eq!(deliver(&server, &payload, signed(&payload)).await.0, 200);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let retrying = loop {
        let reply = server.get("/_paywire/api/runs?status=retrying").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let runs = reply.body["runs"].as_array().unwrap().clone();
        if !runs.is_empty() {
            break runs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no run became retrying"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(retrying.len(), 1, "{retrying:?}");
    assert_eq!(
        (
            &retrying[0]["name"],
            &retrying[0]["status"],
            &retrying[0]["retrying"]
        ),
        (&json!("customer-check"), &json!("failed"), &json!(true))
    );
    // `failed` takes retrying runs too; the run that succeeded is neither.
    let failed = server.get("/_paywire/api/runs?status=failed").await;
    assert_eq!(run_ids(&failed), vec![retrying[0]["id"].as_str().unwrap()]);
    let all = server.get("/_paywire/api/runs").await;
    let log = all.body["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "customer-log")
        .expect("the other workflow ran")
        .clone();
    assert_eq!(
        (&log["status"], &log["retrying"]),
        (&json!("succeeded"), &json!(false))
    );
    let bad = server.get("/_paywire/api/runs?status=later").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retrying"),
        "{}",
        bad.body
    );
    server.stop().await;
}

#[tokio::test]
async fn the_instances_sharing_the_database_are_listed() {
    let server = open_project(&[("a.yaml", ITEMS)]).await;
    let listed = server.get("/_paywire/api/instances").await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let this = listed.body["this"].as_str().unwrap();
    let instances = listed.body["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{:?}", listed.body);
    assert_eq!(instances[0]["id"], this);
    assert!(instances[0]["last_seen"].as_i64().unwrap() > 0);
    // The runs this instance ran name it.
    let reply = server.post("/items", json!({ "sku": "sku-1" })).await;
    let run = server.run(&reply.run_id()).await;
    assert_eq!(run.run.instance.as_deref(), Some(this));
    server.stop().await;
}
