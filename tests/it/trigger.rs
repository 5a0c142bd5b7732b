//! `paywire trigger`: every recipe, run by the binary against a server whose
//! sandbox delivers to paywire's own webhook endpoint, makes its event arrive
//! and be stored; `--payload` sends an event of one's own, signed; unknown
//! events and live keys are refused. The chains, which move test clocks, are
//! tested with `paywire clock` in `clock_cli.rs`.

use std::process::Output;
use std::time::{Duration, Instant};

use paywire_store::{EventFilter, EventRecord};
use paywire_stripe::recipes::RECIPES;
use serde_json::{Value, json};
use tokio::process::Command;
use tokio::task::JoinSet;

use crate::common::{SANDBOX_WEBHOOK_SECRET, TestServer};

/// How long an event may take to be stored after its trigger finished.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// The binary, with none of the caller's Stripe settings.
pub fn paywire() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paywire"));
    for name in [
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        "STRIPE_WEBHOOK_SECRET",
        "PAYWIRE_ENV",
        "PAYWIRE_CONFIG",
        "PAYWIRE_SERVER",
        "PAYWIRE_WEBHOOK_PATH",
        "PAYWIRE_LOG",
    ] {
        command.env_remove(name);
    }
    command.kill_on_drop(true);
    command
}

/// Runs `command` (the in-process server keeps serving meanwhile).
pub async fn output(command: &mut Command) -> Output {
    tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .expect("paywire trigger finished within 30 s")
        .expect("paywire runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The ids the trigger printed: each step's line ends with the id of what it
/// made or acted on (`POST /v1/customers ... cus_123`), a declined step
/// names its payment in parentheses.
fn printed_ids(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|line| line.starts_with("  "))
        .flat_map(|line| {
            line.split_whitespace()
                .map(|word| word.trim_matches(|c| c == '(' || c == ')').to_string())
                .filter(|word| {
                    word.contains('_')
                        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether `value` holds one of `ids` as a string, at any depth.
fn mentions(value: &Value, ids: &[String]) -> bool {
    match value {
        Value::String(text) => ids.iter().any(|id| id == text),
        Value::Array(items) => items.iter().any(|item| mentions(item, ids)),
        Value::Object(fields) => fields.values().any(|field| mentions(field, ids)),
        _ => false,
    }
}

/// Waits until an event of exactly `event_type` is stored whose object
/// names one of `ids` (so that another trigger's event of the same type
/// does not count).
async fn stored_event(
    server: &TestServer,
    event_type: &str,
    ids: &[String],
) -> Option<EventRecord> {
    let deadline = Instant::now() + EVENT_WAIT;
    loop {
        let events = server
            .app
            .store()
            .list_events(EventFilter {
                event_type: Some(event_type.to_string()),
                limit: 1000,
                ..EventFilter::default()
            })
            .await
            .unwrap();
        let found = events.into_iter().find(|event| {
            let payload: Value = serde_json::from_str(&event.payload).unwrap_or_default();
            event.event_type == event_type && mentions(&payload["data"]["object"], ids)
        });
        if found.is_some() || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recipe_makes_its_event_arrive_and_be_stored() {
    let server = TestServer::examples_to_self().await;
    let started = Instant::now();
    // The triggers run concurrently: each makes its own objects, and its
    // event is recognised by the ids it printed.
    let mut triggers = JoinSet::new();
    let single = RECIPES.iter().filter(|r| r.chain.is_none());
    for recipe in single.clone() {
        let mut command = paywire();
        command.args(["trigger", recipe.event, "--url", &server.base]);
        triggers.spawn(async move { (recipe.event, output(&mut command).await) });
    }
    let mut failures = Vec::new();
    let mut triggered = Vec::new();
    while let Some(joined) = triggers.join_next().await {
        let (event, out) = joined.unwrap();
        let stdout = text(&out.stdout);
        if !out.status.success() {
            failures.push(format!(
                "{event}: the trigger failed\n{stdout}{}",
                text(&out.stderr)
            ));
            continue;
        }
        let follows = format!("the {event} event follows; see `paywire events`");
        if !stdout.contains(&follows)
            || !stdout.contains(&format!("triggering {event} on paywire's sandbox"))
        {
            failures.push(format!("{event}: unexpected output\n{stdout}"));
            continue;
        }
        triggered.push((event, printed_ids(&stdout), stdout));
    }
    for (event, ids, stdout) in &triggered {
        if ids.is_empty() {
            failures.push(format!("{event}: no ids printed\n{stdout}"));
        } else if stored_event(&server, event, ids).await.is_none() {
            failures.push(format!(
                "{event}: no {event} event about {ids:?} was stored within {EVENT_WAIT:?}\n{stdout}"
            ));
        }
    }
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {} recipes failed:\n\n{}",
        failures.len(),
        single.count(),
        failures.join("\n\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the recipes took {:?}",
        started.elapsed()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_payment_is_the_expected_step() {
    let server = TestServer::examples_to_self().await;
    let out = output(paywire().args([
        "trigger",
        "payment_intent.payment_failed",
        "--url",
        &server.base,
    ]))
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[1].starts_with("  POST /v1/payment_intents ... pi_"),
        "{stdout}"
    );
    assert!(
        lines[2].contains("/confirm ... 402 card_error (expected): Your card was declined."),
        "{stdout}"
    );
    // The client's own warning about the 402 is not shown.
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    server.stop().await;
}

fn event_file(dir: &std::path::Path, id: &str) -> std::path::PathBuf {
    let event = json!({
        "id": id,
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": chrono::Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": "customer.created",
        "data": {"object": {"id": "cus_from_a_file", "object": "customer", "email": "file@example.com"}},
    });
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&event).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_is_sent_signed_and_stored() {
    let server = TestServer::examples_to_self().await;
    let file = event_file(server.dir.path(), "evt_from_a_file");
    let out = output(
        paywire()
            .args(["trigger", "--payload"])
            .arg(&file)
            .args(["--url", &server.base])
            .env("STRIPE_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET),
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "POST {}/webhooks/stripe (customer.created) ... 200 OK",
            server.base
        )),
        "{stdout}"
    );
    assert!(stdout.contains(r#""id":"evt_from_a_file""#), "{stdout}");
    assert!(!stdout.contains(SANDBOX_WEBHOOK_SECRET), "{stdout}");
    let stored = server
        .app
        .store()
        .get_event("evt_from_a_file".into())
        .await
        .unwrap()
        .expect("the event is stored");
    assert_eq!(stored.event_type, "customer.created");
    assert_eq!(stored.object_id.as_deref(), Some("cus_from_a_file"));

    // Signed with another secret, the server refuses it and says why.
    let other = event_file(server.dir.path(), "evt_wrongly_signed");
    let out = output(
        paywire()
            .args(["trigger", "--payload"])
            .arg(&other)
            .args(["--url", &server.base])
            .env("STRIPE_WEBHOOK_SECRET", "whsec_not_the_servers"),
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        stderr.contains("... 400 Bad Request: no signature matches the body"),
        "{stderr}"
    );
    assert!(!stderr.contains("whsec_not_the_servers"), "{stderr}");
    assert!(
        server
            .app
            .store()
            .get_event("evt_wrongly_signed".into())
            .await
            .unwrap()
            .is_none()
    );

    // Without a secret, nothing is sent.
    let out = output(
        paywire()
            .args(["trigger", "--payload"])
            .arg(&other)
            .args(["--url", &server.base]),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("needs STRIPE_WEBHOOK_SECRET"),
        "{}",
        text(&out.stderr)
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_event_is_refused_with_the_known_ones() {
    let out =
        output(paywire().args(["trigger", "not.an.event", "--url", "http://127.0.0.1:9"])).await;
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(
            "paywire has no recipe for `not.an.event`.\n\nEvent types with a recipe:\n"
        ),
        "{stderr}"
    );
    // Every event type and every chain has a line, whose first word is its
    // name.
    for recipe in RECIPES {
        assert!(
            stderr.lines().any(|line| line.starts_with("  ")
                && line.split_whitespace().next() == Some(recipe.event)),
            "{}: {stderr}",
            recipe.event
        );
    }
    let out =
        output(paywire().args(["trigger", "invoice.payed", "--url", "http://127.0.0.1:9"])).await;
    assert!(
        text(&out.stderr).contains("did you mean `invoice.paid`?"),
        "{}",
        text(&out.stderr)
    );
    // An event and --payload together, or neither, is a usage error.
    let out = output(paywire().args(["trigger", "invoice.paid", "--payload", "x.json"])).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
    let out = output(paywire().arg("trigger")).await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn a_live_key_is_refused() {
    const LIVE: &str = "sk_live_0123456789abcdefLIVE";
    for environment in ["development", "production"] {
        let out = output(
            paywire()
                .args(["trigger", "customer.created", "--url", "http://127.0.0.1:9"])
                .env("STRIPE_SECRET_KEY", LIVE)
                .env("PAYWIRE_ENV", environment),
        )
        .await;
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{environment}: {stdout}");
        assert!(
            stderr.contains("paywire trigger will not run")
                && stderr.contains("against live money is never right"),
            "{environment}: {stderr}"
        );
        assert!(
            stdout.is_empty(),
            "{environment}: nothing is called: {stdout}"
        );
        assert!(
            !stderr.contains("0123456789abcdef"),
            "{environment}: {stderr}"
        );
    }
}
