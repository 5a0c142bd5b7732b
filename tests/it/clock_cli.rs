//! `paywire clock` and the chains of `paywire trigger`, run by the binary
//! against a real server's sandbox: clocks created, advanced (by calendar
//! months too) and listed, as the sandbox's own API then shows them; each
//! chain's events in order, on the clock's time, and the subscription left
//! as the chain says; and every bad input refused with a message that names
//! the problem.

use std::process::Output;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::TestServer;
use crate::sandbox::{get, post};
use crate::sandbox_time::all_events;
use crate::trigger::{output, paywire, text};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// Runs `paywire ARGS --url BASE`, with none of the caller's Stripe settings.
async fn run(base: &str, args: &[&str]) -> Output {
    output(paywire().args(args).args(["--url", base])).await
}

/// stdout, after checking that the command succeeded.
fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// stderr, after checking that the command failed with `code` and printed
/// nothing on stdout and no panic.
fn refused(out: &Output, code: i32) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{stderr}{}",
        text(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn at(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// The clock as the sandbox has it.
async fn clock(stripe: &str, id: &str) -> Value {
    get(stripe, &format!("/v1/test_helpers/test_clocks/{id}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_are_created_advanced_and_listed() {
    let server = TestServer::examples().await;
    let stripe = format!("{}/_stripe", server.base);

    let out = run(
        &server.base,
        &[
            "clock",
            "create",
            "--frozen-time",
            "2026-01-31",
            "--name",
            "month ends",
        ],
    )
    .await;
    let stdout = succeeded(&out);
    let id = stdout.lines().next().unwrap().to_string();
    assert!(id.starts_with("clock_") && !id.contains(' '), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "created test clock {id} on paywire's sandbox at {stripe}"
        )),
        "{stdout}"
    );
    assert!(stdout.contains("name:        month ends"), "{stdout}");
    assert!(
        stdout.contains("frozen time: 2026-01-31T00:00:00Z (1769817600)"),
        "{stdout}"
    );
    let made = clock(&stripe, &id).await;
    assert_eq!(made["frozen_time"], at("2026-01-31T00:00:00Z"));
    assert_eq!(made["name"], "month ends");
    assert_eq!(made["status"], "ready");

    // A calendar month from January 31 is February 28.
    let out = run(&server.base, &["clock", "advance", &id, "--by", "1month"]).await;
    let stdout = succeeded(&out);
    assert!(
        stdout.contains(&format!(
            "advancing {id} from 2026-01-31T00:00:00Z (1769817600) to 2026-02-28T00:00:00Z (1772236800)"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{id} is ready at 2026-02-28T00:00:00Z")),
        "{stdout}"
    );
    let moved = clock(&stripe, &id).await;
    assert_eq!(moved["frozen_time"], at("2026-02-28T00:00:00Z"));
    assert_eq!(moved["status"], "ready");

    let out = run(
        &server.base,
        &["clock", "advance", &id, "--to", "2026-03-01T12:00:00+02:00"],
    )
    .await;
    succeeded(&out);
    assert_eq!(
        clock(&stripe, &id).await["frozen_time"],
        at("2026-03-01T10:00:00Z")
    );
    let out = run(&server.base, &["clock", "advance", &id, "--by", "1d12h"]).await;
    succeeded(&out);
    assert_eq!(
        clock(&stripe, &id).await["frozen_time"],
        at("2026-03-02T22:00:00Z")
    );

    // Without waiting, it returns once the advance is taken; the clock is
    // ready a moment later.
    let out = run(
        &server.base,
        &["clock", "advance", &id, "--by", "2h", "--no-wait"],
    )
    .await;
    let stdout = succeeded(&out);
    assert!(stdout.contains("not waiting"), "{stdout}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while clock(&stripe, &id).await["status"] != "ready" {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        clock(&stripe, &id).await["frozen_time"],
        at("2026-03-03T00:00:00Z")
    );

    // A clock made without a time is at now.
    let before = chrono::Utc::now().timestamp();
    let out = run(&server.base, &["clock", "create"]).await;
    let now_clock = succeeded(&out).lines().next().unwrap().to_string();
    let frozen = clock(&stripe, &now_clock).await["frozen_time"]
        .as_i64()
        .unwrap();
    assert!(
        (before..=chrono::Utc::now().timestamp()).contains(&frozen),
        "{frozen}"
    );

    let out = run(&server.base, &["clock", "list"]).await;
    let stdout = succeeded(&out);
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["ID", "NAME", "FROZEN TIME", "STATUS"],
        "{stdout}"
    );
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[1][0], now_clock, "newest first: {stdout}");
    assert_eq!(lines[1][1], "-", "{stdout}");
    assert_eq!(lines[1][3], "ready", "{stdout}");
    assert_eq!(
        lines[2],
        [id.as_str(), "month ends", "2026-03-03T00:00:00Z", "ready"],
        "{stdout}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_what_is_wrong() {
    let server = TestServer::examples().await;
    let stripe = format!("{}/_stripe", server.base);
    let base = server.base.as_str();
    let out = run(
        base,
        &["clock", "create", "--frozen-time", "2026-01-01T00:00:00Z"],
    )
    .await;
    let id = succeeded(&out).lines().next().unwrap().to_string();

    // What clap reads is a usage error (2), naming the value and why.
    for (args, problem) in [
        (
            vec!["clock", "create", "--frozen-time", "soon"],
            "invalid value 'soon' for '--frozen-time <TIME>': `soon` is not a time: write a Unix timestamp",
        ),
        (
            vec!["clock", "create", "--frozen-time", "2026-01-01T12:00:00"],
            "has no offset: write `2026-01-01T12:00:00Z` for UTC",
        ),
        (
            vec!["clock", "advance", &id, "--by", "1m"],
            "`1m` is not a duration: `m` could be minutes or months: write `min` or `month`",
        ),
        (
            vec!["clock", "advance", &id, "--by", "a while"],
            "`a while` is not a duration",
        ),
        (
            vec!["clock", "advance", &id, "--to", "2026-02-30"],
            "`2026-02-30` is not a time",
        ),
        (
            vec!["clock", "advance", &id],
            "the following required arguments were not provided",
        ),
        (
            vec!["clock", "advance", &id, "--to", "2027-01-01", "--by", "1d"],
            "cannot be used with",
        ),
    ] {
        let stderr = refused(&run(base, &args).await, 2);
        assert!(stderr.contains(problem), "{args:?}: {stderr}");
    }

    // What the clock or Stripe refuses fails (1), saying why.
    let stderr = refused(
        &run(base, &["clock", "advance", "clock_nope", "--by", "1d"]).await,
        1,
    );
    assert!(
        stderr.contains(
            "paywire clock advance clock_nope: Stripe answered 404: No such test helpers test clock: 'clock_nope'"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("Is `paywire serve` running"), "{stderr}");
    let stderr = refused(
        &run(base, &["clock", "advance", "../customers", "--by", "1d"]).await,
        1,
    );
    assert!(
        stderr.contains("`../customers` is not a test clock id"),
        "{stderr}"
    );
    let stderr = refused(
        &run(base, &["clock", "advance", &id, "--to", "2025-12-31"]).await,
        1,
    );
    assert!(
        stderr.contains(
            "the clock is at 2026-01-01T00:00:00Z (1767225600), and a test clock moves only forward: 2025-12-31T00:00:00Z (1767139200) is not after it"
        ),
        "{stderr}"
    );
    let stderr = refused(
        &run(base, &["clock", "advance", &id, "--to", "1767225600"]).await,
        1,
    );
    assert!(stderr.contains("moves only forward"), "{stderr}");

    // A monthly subscription on the clock: Stripe moves it at most two
    // months at once, and says so.
    let (status, customer) = post(
        &stripe,
        "/v1/customers",
        &format!(
            "test_clock={id}&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa"
        ),
    )
    .await;
    assert_eq!(status, 200, "{customer}");
    let (status, price) = post(
        &stripe,
        "/v1/prices",
        "currency=usd&unit_amount=900&recurring[interval]=month&product_data[name]=Pro",
    )
    .await;
    assert_eq!(status, 200, "{price}");
    let (status, subscription) = post(
        &stripe,
        "/v1/subscriptions",
        &format!(
            "customer={}&items[0][price]={}",
            customer["id"].as_str().unwrap(),
            price["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(status, 200, "{subscription}");
    let stderr = refused(
        &run(base, &["clock", "advance", &id, "--by", "3months"]).await,
        1,
    );
    assert!(
        stderr.contains(&format!("paywire clock advance {id}: Stripe answered 400: Cannot advance the test clock more than two intervals of its shortest subscription at once")),
        "{stderr}"
    );
    assert_eq!(
        clock(&stripe, &id).await["frozen_time"],
        at("2026-01-01T00:00:00Z"),
        "nothing moved"
    );

    // No server there.
    for args in [
        vec!["clock", "list"],
        vec!["clock", "create"],
        vec!["clock", "advance", "clock_x", "--by", "1d"],
    ] {
        let stderr = refused(&run("http://127.0.0.1:9", &args).await, 1);
        assert!(
            stderr.contains("Stripe could not be reached")
                && stderr.contains(
                    "Is `paywire serve` running at http://127.0.0.1:9 without STRIPE_SECRET_KEY"
                ),
            "{args:?}: {stderr}"
        );
    }

    // A live key, however it is given, and production, whose key is live.
    for (name, value) in [
        ("STRIPE_SECRET_KEY", "sk_live_0123456789abcdefLIVE"),
        ("PAYWIRE_ENV", "production"),
    ] {
        let out = output(
            paywire()
                .args(["clock", "create", "--url", base])
                .env(name, value),
        )
        .await;
        let stderr = refused(&out, 1);
        assert!(
            stderr.contains("paywire clock will not run")
                && stderr.contains("live")
                && stderr.contains("against live money is never right"),
            "{name}: {stderr}"
        );
        assert!(!stderr.contains("0123456789abcdef"), "{stderr}");
        assert!(text(&out.stdout).is_empty());
    }
    let listed = get(&stripe, "/v1/test_helpers/test_clocks").await;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "nothing was made by the refused commands: {listed}"
    );
    server.stop().await;
}

/// A stand-in for Stripe whose clock never gets ready: every GET answers it
/// `advancing`, every POST takes the advance.
async fn never_ready() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // The head, then as much body as it announces.
                let head_end = loop {
                    let Ok(n) = socket.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let clock = json!({
                    "id": "clock_stuck", "object": "test_helpers.test_clock", "created": 1,
                    "deletes_after": 2, "frozen_time": 1_767_225_600, "livemode": false,
                    "name": null, "status": "advancing", "status_details": {}
                })
                .to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{clock}",
                    clock.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_that_is_not_ready_in_time_fails_saying_so() {
    let base = never_ready().await;
    let started = std::time::Instant::now();
    let out = run(
        &base,
        &[
            "clock",
            "advance",
            "clock_stuck",
            "--by",
            "1d",
            "--timeout",
            "1",
        ],
    )
    .await;
    let stderr = refused(&out, 1);
    assert!(
        stderr.contains(
            "paywire clock advance clock_stuck: `status` was still `advancing` after 1 s, not `ready`"
        ) && stderr.contains("--timeout waits longer"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        text(&out.stdout).contains("advancing clock_stuck from 2026-01-01T00:00:00Z"),
        "{}",
        text(&out.stdout)
    );
}

/// The id a chain's step printed (`  POST /v1/customers ... cus_…`).
fn printed(stdout: &str, step: &str) -> String {
    stdout
        .lines()
        .find(|line| line.starts_with(&format!("  {step} ...")))
        .and_then(|line| line.split_whitespace().last())
        .unwrap_or_else(|| panic!("no `{step}` step printed:\n{stdout}"))
        .to_string()
}

/// The types of the events about `customer`'s invoices and subscriptions
/// from `since` on (the clock's time), oldest first, with their objects.
async fn chain_events(stripe: &str, customer: &str, since: i64) -> Vec<(String, i64, Value)> {
    all_events(stripe)
        .await
        .into_iter()
        .filter(|e| e["data"]["object"]["customer"] == customer)
        .filter(|e| e["created"].as_i64().unwrap() >= since)
        .filter(|e| {
            let kind = e["type"].as_str().unwrap();
            kind.starts_with("invoice.") || kind.starts_with("customer.subscription.")
        })
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["created"].as_i64().unwrap(),
                e["data"]["object"].clone(),
            )
        })
        .collect()
}

/// Runs the chain `name` with `paywire trigger` and returns its clock, its
/// customer, its subscription as first made, and what it printed.
async fn trigger_chain(server: &TestServer, name: &str) -> (String, String, Value, String) {
    let out = run(&server.base, &["trigger", name]).await;
    let stdout = succeeded(&out);
    let stripe = format!("{}/_stripe", server.base);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("triggering {name} on paywire's sandbox at {stripe}")
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("the {name} chain's events follow (")),
        "{stdout}"
    );
    let clock = printed(&stdout, "POST /v1/test_helpers/test_clocks");
    assert!(
        stdout.contains(&format!(
            "  GET /v1/test_helpers/test_clocks/{clock} ... {clock} status ready"
        )),
        "{stdout}"
    );
    let customer = printed(&stdout, "POST /v1/customers");
    let subscription = printed(&stdout, "POST /v1/subscriptions");
    let events = all_events(&stripe).await;
    let created = events
        .iter()
        .find(|e| {
            e["type"] == "customer.subscription.created"
                && e["data"]["object"]["id"] == subscription.as_str()
        })
        .expect("the subscription's creation")["data"]["object"]
        .clone();
    assert_eq!(created["customer"], customer.as_str());
    // The subscription lives on the clock. (Read from the sandbox: the
    // object in its `customer.subscription.created` event names no clock.)
    let now = get(&stripe, &format!("/v1/subscriptions/{subscription}")).await;
    assert_eq!(now["test_clock"], clock.as_str());
    (clock, customer, created, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chain_makes_its_events_happen_in_order_on_the_clocks_time() {
    let server = TestServer::examples_to_self().await;
    let stripe = format!("{}/_stripe", server.base);
    let kinds = |events: &[(String, i64, Value)]| -> Vec<String> {
        events.iter().map(|(kind, ..)| kind.clone()).collect()
    };

    // renewal: a month on, the renewal's invoice is made, finalized an hour
    // later and paid.
    let (clock, customer, subscription, _) = trigger_chain(&server, "renewal").await;
    let renews = subscription["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    assert_eq!(
        clock_at(&stripe, &clock).await,
        renews + 2 * HOUR,
        "past the renewal and its hour"
    );
    let events = chain_events(&stripe, &customer, renews).await;
    assert_eq!(
        kinds(&events),
        [
            "invoice.created",
            "customer.subscription.updated",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
        ]
    );
    assert_eq!(events[0].1, renews);
    assert_eq!(events[2].1, renews + HOUR);
    assert_eq!(events[3].2["billing_reason"], "subscription_cycle");
    let id = subscription["id"].as_str().unwrap();
    let now = get(&stripe, &format!("/v1/subscriptions/{id}")).await;
    assert_eq!(now["status"], "active");
    assert_eq!(now["items"]["data"][0]["current_period_start"], renews);

    // failed-renewal: the same renewal, declined; the subscription is past
    // due with its invoice open.
    let (clock, customer, subscription, stdout) = trigger_chain(&server, "failed-renewal").await;
    assert!(
        stdout.contains(&format!(
            "  GET /v1/subscriptions/{id} ... {id} status past_due",
            id = subscription["id"].as_str().unwrap()
        )),
        "the chain waits until the subscription is past due: {stdout}"
    );
    let renews = subscription["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    assert_eq!(clock_at(&stripe, &clock).await, renews + 2 * HOUR);
    let events = chain_events(&stripe, &customer, renews).await;
    assert_eq!(
        kinds(&events),
        [
            "invoice.created",
            "customer.subscription.updated",
            "invoice.finalized",
            "invoice.payment_failed",
            "customer.subscription.updated",
        ]
    );
    assert_eq!(events[4].2["status"], "past_due");
    let id = subscription["id"].as_str().unwrap();
    let now = get(&stripe, &format!("/v1/subscriptions/{id}")).await;
    assert_eq!(now["status"], "past_due");
    let invoice = get(
        &stripe,
        &format!("/v1/invoices/{}", now["latest_invoice"].as_str().unwrap()),
    )
    .await;
    assert_eq!(invoice["status"], "open");

    // past-due-recovered: then a working card pays the open invoice, and
    // the subscription is active again.
    let (clock, customer, subscription, _) = trigger_chain(&server, "past-due-recovered").await;
    let renews = subscription["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap();
    assert_eq!(clock_at(&stripe, &clock).await, renews + 2 * HOUR);
    let events = chain_events(&stripe, &customer, renews).await;
    assert_eq!(
        kinds(&events),
        [
            "invoice.created",
            "customer.subscription.updated",
            "invoice.finalized",
            "invoice.payment_failed",
            "customer.subscription.updated",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
        ]
    );
    assert_eq!(events[4].2["status"], "past_due");
    assert_eq!(events[7].2["status"], "active");
    assert_eq!(events[7].1, renews + 2 * HOUR, "paid at the clock's time");
    let id = subscription["id"].as_str().unwrap();
    let now = get(&stripe, &format!("/v1/subscriptions/{id}")).await;
    assert_eq!(now["status"], "active");

    // trial-will-end: two days before the trial's end, a day after Stripe
    // warned of it; nothing of the trial's end has happened yet.
    let (clock, customer, subscription, _) = trigger_chain(&server, "trial-will-end").await;
    assert_eq!(subscription["status"], "trialing");
    let trial_end = subscription["trial_end"].as_i64().unwrap();
    assert_eq!(
        trial_end - subscription["trial_start"].as_i64().unwrap(),
        7 * DAY
    );
    assert_eq!(clock_at(&stripe, &clock).await, trial_end - 2 * DAY);
    let events = chain_events(
        &stripe,
        &customer,
        subscription["created"].as_i64().unwrap() + 1,
    )
    .await;
    assert_eq!(kinds(&events), ["customer.subscription.trial_will_end"]);
    assert_eq!(events[0].1, trial_end - 3 * DAY);
    let id = subscription["id"].as_str().unwrap();
    let now = get(&stripe, &format!("/v1/subscriptions/{id}")).await;
    assert_eq!(now["status"], "trialing");
    server.stop().await;
}

/// The clock's frozen time, once it is ready.
async fn clock_at(stripe: &str, id: &str) -> i64 {
    let clock = clock(stripe, id).await;
    assert_eq!(clock["status"], "ready", "{clock}");
    clock["frozen_time"].as_i64().unwrap()
}

#[tokio::test]
async fn trigger_help_lists_the_chains_a_line_each() {
    let out = output(paywire().args(["trigger", "--help"])).await;
    let stdout = succeeded(&out);
    let (_, chains) = stdout
        .split_once("Chains, several events over a test clock's time:\n")
        .expect("a list of chains");
    let names: Vec<&str> = chains
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "renewal",
            "failed-renewal",
            "trial-will-end",
            "past-due-recovered"
        ],
        "{stdout}"
    );
    let out = output(paywire().args(["clock", "--help"])).await;
    let stdout = succeeded(&out);
    for action in ["create", "advance", "list"] {
        assert!(stdout.contains(&format!("  {action} ")), "{stdout}");
    }
}
