//! Stripe's own tools as clients of the sandbox: the `stripe trigger` scripts
//! of Stripe's CLI (shared/stripe/triggers), run step by step, and Stripe's
//! CLI itself (from npm). The event each script is for must arrive at a
//! webhook receiver, signed.
//!
//! Each event gets a fresh sandbox and receiver, and the events run
//! concurrently, so one script's events never satisfy another's wait.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use paywire_sandbox::{DELIVERY_RETRY, SandboxConfig, encode_form};
use paywire_stripe::signature;
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::common::process::SandboxProcess;
use crate::common::{TestServer, examples_dir};
use crate::sandbox::{KEY, Received, SECRET, receiver, serve_sandbox};
use paywire::app::Settings;

/// The events whose trigger scripts run against the sandbox. None is
/// skipped: every script needs only resources the sandbox has.
const SCRIPTED: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.created",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.updated",
    "invoice.deleted",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.sent",
    "invoiceitem.created",
    "invoiceitem.deleted",
    "charge.succeeded",
    "charge.failed",
    "charge.refunded",
    "price.created",
    "price.updated",
    "product.created",
    "product.updated",
    "product.deleted",
    "payment_method.attached",
    "payment_method.detached",
    "customer.subscription.trial_will_end",
    "test_helpers.test_clock.created",
    "test_helpers.test_clock.advancing",
    "test_helpers.test_clock.ready",
    "test_helpers.test_clock.deleted",
    "coupon.created",
    "coupon.updated",
    "coupon.deleted",
    "promotion_code.created",
    "promotion_code.updated",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "setup_intent.created",
    "setup_intent.succeeded",
    "setup_intent.canceled",
    "setup_intent.setup_failed",
    "payment_method.updated",
    "charge.captured",
    "charge.refund.updated",
    "payment_intent.amount_capturable_updated",
    "invoice.payment_failed",
    "customer.subscription.paused",
    "plan.created",
    "plan.updated",
    "plan.deleted",
    "tax_rate.created",
    "tax_rate.updated",
];

/// How long an event may take to reach the receiver.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// How long one `stripe trigger` may run.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// The trigger scripts: shared/stripe/triggers beside the repository.
fn triggers_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/stripe/triggers");
    dir.is_dir().then_some(dir)
}

/// Runs one task per event and fails with every failure at once.
async fn for_each_event<F, Fut>(events: &[&str], run: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    // A bounded number at a time: each event has a sandbox (on PostgreSQL a
    // pool of connections and a schema) of its own, and the server's
    // connections are counted.
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(12));
    let mut tasks = JoinSet::new();
    for event in events {
        let permits = permits.clone();
        let task = run(event.to_string());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            task.await
        });
    }
    let mut failures = Vec::new();
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => failures.push(failure),
            Err(e) => failures.push(format!("a task failed: {e}")),
        }
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} events failed:\n\n{}",
        failures.len(),
        events.len(),
        failures.join("\n\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_trigger_scripts_run_and_their_events_arrive_signed() {
    let Some(dir) = triggers_dir() else {
        eprintln!(
            "skipped: Stripe's trigger scripts are not there ({}/../shared/stripe/triggers is absent)",
            env!("CARGO_MANIFEST_DIR")
        );
        return;
    };
    for_each_event(SCRIPTED, |event| {
        let file = dir.join(format!("{event}.json"));
        async move {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("{event}: cannot read {}: {e}", file.display()))?;
            let script: Value = serde_json::from_str(&text)
                .map_err(|e| format!("{event}: {} is not JSON: {e}", file.display()))?;
            let (hook, received) = receiver().await;
            // Stopped at the end, so that the events' sandboxes (each with
            // its database connections) do not add up.
            let dir = tempfile::tempdir().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let (base, server) = serve_sandbox(
                &dir.path().join("s.db"),
                Some(hook),
                DELIVERY_RETRY,
                async {
                    let _ = stopped.await;
                },
            )
            .await;
            let outcome = async {
                let answers = run_script(&base, &script).await?;
                let delivered = arrives_signed(&event, &received).await?;
                Ok::<_, String>((answers, delivered))
            }
            .await;
            let _ = stop.send(());
            let _ = server.await;
            let (answers, delivered) = outcome.map_err(|e| format!("{event}: {e}"))?;
            // The event is about an object the script made or acted on, or
            // one that what it made caused (a dispute names the payment
            // intent whose test card opened it).
            let object = &delivered["data"]["object"]["id"];
            let caused = delivered["data"]["object"]["payment_intent"]
                .as_str()
                .is_some_and(|intent| names(&answers, intent));
            match object.as_str() {
                Some(id) if names(&answers, id) || caused => Ok(()),
                _ => Err(format!(
                    "{event}: the event's object {object} is named in no answer of the script"
                )),
            }
        }
    })
    .await;
}

/// Runs a trigger script's steps in order, as Stripe's CLI does. A step
/// must answer 2xx, or, when it declares `expected_error_type` (a declined
/// card), an error of that type. Returns the answers, by step.
async fn run_script(base: &str, script: &Value) -> Result<HashMap<String, Value>, String> {
    let client = reqwest::Client::new();
    let steps = script["fixtures"]
        .as_array()
        .ok_or("the script has no fixtures")?;
    let mut responses: HashMap<String, Value> = HashMap::new();
    for step in steps {
        let name = step["name"].as_str().unwrap_or("(unnamed)");
        let fail = |e: String| format!("step {name}: {e}");
        let method = step["method"]
            .as_str()
            .unwrap_or("post")
            .to_ascii_uppercase();
        let path =
            substitute(step["path"].as_str().unwrap_or_default(), &responses).map_err(fail)?;
        let params = match resolve(&step["params"], &responses).map_err(fail)? {
            Value::Object(params) => params,
            _ => Map::new(),
        };
        let form = encode_form(&params);
        let url = format!("{base}{path}");
        let with_query = if form.is_empty() {
            url.clone()
        } else {
            format!("{url}?{form}")
        };
        let mut request = match method.as_str() {
            "GET" => client.get(with_query),
            "DELETE" => client.delete(with_query),
            _ => client
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone()),
        }
        .bearer_auth(KEY);
        if let Some(headers) = step["headers"].as_object() {
            for (header, value) in headers {
                let value =
                    substitute(value.as_str().unwrap_or_default(), &responses).map_err(fail)?;
                request = request.header(header, value);
            }
        }
        let response = request
            .send()
            .await
            .map_err(|e| fail(format!("{method} {path} was not answered: {e}")))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        // Answers are held to async-stripe's types too; the private payment
        // page endpoints answer shapes of their own.
        let conformance = if (200..300).contains(&status) {
            if path.starts_with("/v1/payment_pages") {
                Ok(())
            } else {
                crate::conformance::parse_stripe_object(&text)
            }
        } else {
            crate::conformance::parse_stripe_error(&text)
        };
        conformance.map_err(|problem| fail(format!("{method} {path}: {problem}")))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        let expected = step["expected_error_type"].as_str();
        let accepted = (200..300).contains(&status)
            || expected.is_some_and(|kind| body["error"]["type"] == kind);
        if !accepted {
            return Err(fail(format!(
                "{method} {path} answered {status}{}\n  request: {form}\n  answer: {body}",
                expected
                    .map(|kind| format!(" (a {kind} was expected)"))
                    .unwrap_or_default()
            )));
        }
        responses.insert(name.to_string(), body);
    }
    Ok(responses)
}

/// Whether `id` is a string anywhere in the answers.
fn names(answers: &HashMap<String, Value>, id: &str) -> bool {
    fn within(value: &Value, id: &str) -> bool {
        match value {
            Value::String(text) => text == id,
            Value::Array(items) => items.iter().any(|item| within(item, id)),
            Value::Object(fields) => fields.values().any(|field| within(field, id)),
            _ => false,
        }
    }
    answers.values().any(|answer| within(answer, id))
}

/// Replaces the script's queries in every string of `value`.
fn resolve(value: &Value, responses: &HashMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(substitute(text, responses)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| resolve(item, responses))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| Ok((key.clone(), resolve(item, responses)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces each `${name:json.path|default}` in `text`: a field of an
/// earlier step's response (`${checkout_session:id}`,
/// `${disputes_list:data.0.id}`), or with the name `.env` an environment
/// variable. The default, if any, stands in for a missing value. Text in
/// `${…}` without a `:` (`${generate-uuid}`) is kept, as the CLI keeps it.
fn substitute(text: &str, responses: &HashMap<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let query = &rest[start + 2..start + len];
        out.push_str(&rest[..start]);
        rest = &rest[start + len + 1..];
        let Some((name, path)) = query.split_once(':') else {
            out.push_str(&format!("${{{query}}}"));
            continue;
        };
        let (path, default) = match path.split_once('|') {
            Some((path, default)) => (path, Some(default)),
            None => (path, None),
        };
        let found = if name == ".env" {
            std::env::var(path).ok().filter(|v| !v.is_empty())
        } else {
            let response = responses
                .get(name)
                .ok_or_else(|| format!("${{{query}}} names no earlier step"))?;
            lookup(response, path)
        };
        match found.or(default.map(str::to_string)) {
            Some(value) => out.push_str(&value),
            None => return Err(format!("${{{query}}} has no value")),
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A field by its dotted path (`data.0.id`), as text.
fn lookup(value: &Value, path: &str) -> Option<String> {
    let mut at = value;
    for part in path.split('.') {
        at = match at {
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => at.get(part)?,
        };
    }
    match at {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(_) | Value::Bool(_) => Some(at.to_string()),
        _ => None,
    }
}

/// Waits until the receiver got `event`, checks its signature with paywire's
/// own verifier, and returns it.
async fn arrives_signed(event: &str, received: &Received) -> Result<Value, String> {
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        let deliveries = received.lock().unwrap().clone();
        for (body, header) in &deliveries {
            let parsed: Value = serde_json::from_str(body).unwrap_or_default();
            if parsed["type"] != event {
                continue;
            }
            let now = chrono::Utc::now().timestamp();
            return signature::verify(
                body.as_bytes(),
                header.as_deref(),
                &[SECRET],
                signature::DEFAULT_TOLERANCE_SECONDS,
                now,
            )
            .map_err(|e| format!("{event} arrived with a bad signature ({e}): {header:?}"))
            .and_then(|_| {
                crate::conformance::verify_and_parse_event(
                    body,
                    header.as_deref().unwrap_or_default(),
                    SECRET,
                )
                .map_err(|e| format!("{event} fails async-stripe's webhook check: {e}"))
            })
            .map(|_| parsed);
        }
        if Instant::now() > deadline {
            let types: Vec<String> = deliveries
                .iter()
                .map(|(body, _)| {
                    serde_json::from_str::<Value>(body).unwrap_or_default()["type"].to_string()
                })
                .collect();
            return Err(format!(
                "no {event} arrived within {EVENT_WAIT:?}; the receiver got [{}]",
                types.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Stripe's CLI: `STRIPE_CLI`, or `.tools/node_modules/.bin/stripe` in the
/// repository, where .ci/run installs it (`npm install --prefix .tools
/// @stripe/cli@1.52.0`).
fn stripe_cli() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STRIPE_CLI") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "STRIPE_CLI is {}, which does not exist",
            path.display()
        );
        return Some(path);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/node_modules/.bin/stripe");
    local.exists().then_some(local)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripes_cli_triggers_events_that_arrive_signed() {
    let Some(cli) = stripe_cli() else {
        eprintln!(
            "skipped: Stripe's CLI is not installed (set STRIPE_CLI, or run `npm install --prefix .tools @stripe/cli@1.52.0`)"
        );
        return;
    };
    // Every event whose script runs, through the CLI itself.
    for_each_event(SCRIPTED, |event| {
        let cli = cli.clone();
        async move {
            let (hook, received) = receiver().await;
            let (base, server) = paywire_with_sandbox(hook).await;
            let config = server.dir.path().join("stripe-config");
            let args = vec![
                "trigger".to_string(),
                event.clone(),
                "--api-base".to_string(),
                base.clone(),
                "--api-key".to_string(),
                KEY.to_string(),
            ];
            // The CLI blocks while it runs, so it runs off the async threads
            // that serve the sandbox.
            let run = tokio::task::spawn_blocking(move || run_cli(&cli, &args, &config))
                .await
                .map_err(|e| format!("{event}: the CLI's task failed: {e}"))?;
            let (ok, output) = run.map_err(|e| format!("{event}: {e}"))?;
            if !ok {
                return Err(format!(
                    "{event}: `stripe trigger {event}` failed:\n{output}"
                ));
            }
            let arrived = arrives_signed(&event, &received).await;
            server.stop().await;
            arrived
                .map(|_| ())
                .map_err(|e| format!("{event}: {e}\n  the CLI said:\n{output}"))
        }
    })
    .await;
}

/// Stripe's CLI against `paywire sandbox`, the sandbox served on its own,
/// given its root as `--api-base`: the base `STRIPE_API_BASE` names for the
/// instances that share it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripes_cli_triggers_events_against_paywire_sandbox() {
    let Some(cli) = stripe_cli() else {
        eprintln!(
            "skipped: Stripe's CLI is not installed (set STRIPE_CLI, or run `npm install --prefix .tools @stripe/cli@1.52.0`)"
        );
        return;
    };
    let (hook, received) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let sandbox = SandboxProcess::start(
        0,
        &[
            ("PAYWIRE_DB", dir.path().join("s.db").display().to_string()),
            ("STRIPE_WEBHOOK_SECRET", SECRET.to_string()),
            ("PAYWIRE_SANDBOX_WEBHOOK_URL", hook),
        ],
    )
    .await;
    for event in ["customer.created", "checkout.session.completed"] {
        let args: Vec<String> = [
            "trigger",
            event,
            "--api-base",
            &sandbox.base,
            "--api-key",
            KEY,
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        let (cli, config) = (cli.clone(), dir.path().join("stripe-config"));
        let (ok, output) = tokio::task::spawn_blocking(move || run_cli(&cli, &args, &config))
            .await
            .unwrap()
            .unwrap();
        assert!(ok, "`stripe trigger {event}` failed:\n{output}");
        if let Err(e) = arrives_signed(event, &received).await {
            panic!("{e}\n  the CLI said:\n{output}");
        }
    }
    assert!(sandbox.terminate().await);
}

/// A paywire server with the example project and its sandbox, which sends
/// its events to `webhook_url`; returns the sandbox's API base. Stripe's CLI
/// drops the path of `--api-base` (`http://host/_stripe` becomes calls to
/// `http://host/v1/…`), so this also proves that paywire answers those calls
/// with the sandbox.
async fn paywire_with_sandbox(webhook_url: String) -> (String, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(examples_dir(), dir.path().join("paywire.db"));
    settings.sandbox = Some(SandboxConfig {
        base_url: "http://127.0.0.1:1/_stripe".into(),
        webhook_url: Some(webhook_url),
        webhook_secret: SECRET.into(),
        retry: DELIVERY_RETRY,
        dunning: Default::default(),
    });
    let server = TestServer::start_with(dir, settings).await;
    (format!("{}/_stripe", server.base), server)
}

/// Runs the CLI with a time limit; returns whether it exited 0, and what it
/// printed. Its configuration goes to `config`, never to the user's.
fn run_cli(cli: &Path, args: &[String], config: &Path) -> Result<(bool, String), String> {
    std::fs::create_dir_all(config).map_err(|e| e.to_string())?;
    let log = config.join("output.txt");
    let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let mut child = std::process::Command::new(cli)
        .args(args)
        .env("STRIPE_CLI_TELEMETRY_OPTOUT", "1")
        .env("XDG_CONFIG_HOME", config)
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file)
        .spawn()
        .map_err(|e| format!("{} could not start: {e}", cli.display()))?;
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    match status {
        Some(status) => Ok((status.success(), format!("{status}\n{output}"))),
        None => Err(format!(
            "`stripe {}` did not finish within {CLI_TIMEOUT:?}:\n{output}",
            args.join(" ")
        )),
    }
}

#[test]
fn queries_take_fields_of_earlier_answers() {
    let responses = HashMap::from([
        ("customer".to_string(), serde_json::json!({"id": "cus_1"})),
        (
            "list".to_string(),
            serde_json::json!({"data": [{"id": "dp_1", "amount": 5}]}),
        ),
    ]);
    let run = |text: &str| substitute(text, &responses);
    assert_eq!(run("${customer:id}").unwrap(), "cus_1");
    assert_eq!(
        run("/v1/customers/${customer:id}/x").unwrap(),
        "/v1/customers/cus_1/x"
    );
    assert_eq!(run("${list:data.0.id}").unwrap(), "dp_1");
    assert_eq!(run("${list:data.0.amount}").unwrap(), "5");
    assert_eq!(run("${list:data.1.id|none}").unwrap(), "none");
    assert_eq!(run("${generate-uuid}").unwrap(), "${generate-uuid}");
    assert!(run("${nobody:id}").is_err());
    assert!(run("${customer:email}").is_err());
}
