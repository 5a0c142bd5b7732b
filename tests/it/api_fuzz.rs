//! A seeded fuzz of the example project's APIs: random JSON bodies, shaped
//! around each API's declared parameters (right and wrong types, numbers at
//! the edges of 64 bits, deep and wide values, odd text), sent to every API
//! of workflows/ over HTTP. Whatever arrives, the server answers with its
//! one error body, never an internal error, never a dropped connection, and
//! leaves no run running.
//!
//! `PAYWIRE_API_FUZZ_CASES` and `PAYWIRE_API_FUZZ_SEED` run it longer or
//! elsewhere.

use std::time::Duration;

use paywire_model::ParamType;
use paywire_store::RunStatus;
use serde_json::Value;

use crate::common::{Rng, TestServer};

/// Numbers as JSON text, so that values past 64 bits are sent as written.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "50",
    "2.5",
    "1e3",
    "1e308",
    "-1e308",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "99999999",
    "100000000",
    "0.0000001",
];

const TEXTS: &[&str] = &[
    "",
    " ",
    "usd",
    "eur",
    "paid",
    "price_1",
    "cus_1",
    "pi_1",
    "ada@example.com",
    "é ü 漢字 🙂",
    "\u{0000}",
    "'; DROP TABLE orders; --",
    "{{ context }}",
    "../../etc/passwd",
    "a\nb\r\nc",
];

/// A random JSON value as text, `depth` levels at most.
fn value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth == 0 { 4 } else { 7 }) {
        0 => rng.pick(NUMBERS).to_string(),
        1 => serde_json::to_string(rng.pick(TEXTS)).unwrap(),
        2 => rng.pick(&["true", "false", "null"]).to_string(),
        3 => serde_json::to_string(&"x".repeat(rng.below(3) * 5_000)).unwrap(),
        4 | 5 => {
            let items: Vec<String> = (0..rng.below(4)).map(|_| value(rng, depth - 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let keys = [
                "id",
                "amount",
                "quantity",
                "unit_amount",
                "sku",
                "metadata",
                "a",
            ];
            let fields: Vec<String> = (0..rng.below(4))
                .map(|_| format!("{:?}:{}", rng.pick(&keys), value(rng, depth - 1)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
    }
}

/// A value of roughly the declared type, often wrong on purpose.
fn typed(rng: &mut Rng, ty: ParamType) -> String {
    if rng.below(3) == 0 {
        return value(rng, 3);
    }
    match ty {
        ParamType::Integer | ParamType::Number => rng.pick(NUMBERS).to_string(),
        ParamType::String => serde_json::to_string(rng.pick(TEXTS)).unwrap(),
        ParamType::Boolean => rng.pick(&["true", "false"]).to_string(),
        ParamType::Array => {
            let items: Vec<String> = (0..1 + rng.below(3)).map(|_| value(rng, 2)).collect();
            format!("[{}]", items.join(","))
        }
        ParamType::Object | ParamType::Any => value(rng, 3),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bodies_to_every_example_api_get_an_answer_and_leave_nothing_running() {
    let cases: usize = std::env::var("PAYWIRE_API_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed: u64 = std::env::var("PAYWIRE_API_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5EED_0014);
    let server = TestServer::examples().await;
    let apis = server.app.current().project.apis.clone();
    let mut rng = Rng(seed);
    for case in 0..cases {
        let api = rng.pick(&apis).clone();
        let mut path = api.path.clone();
        for name in &api.path_params {
            let text = rng.pick(TEXTS);
            let encoded: String =
                percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            path = path.replace(&format!(":{name}"), &format!("x{encoded}"));
        }
        let mut fields = Vec::new();
        for param in &api.params {
            if rng.below(5) > 0 {
                fields.push(format!("{:?}:{}", param.name, typed(&mut rng, param.ty)));
            }
        }
        if rng.below(4) == 0 {
            fields.push(format!("\"extra\":{}", value(&mut rng, 3)));
        }
        let body = format!("{{{}}}", fields.join(","));
        let response = server
            .client
            .request(
                reqwest::Method::from_bytes(api.method.as_str().as_bytes()).unwrap(),
                format!("{}{path}", server.base),
            )
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("case {case}: {} {path} {body}: {e}", api.name));
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let what = format!(
            "case {case} (seed {seed}): {} {path} {body} -> {status} {text}",
            api.name
        );
        assert!(status <= 500, "{what}");
        if status >= 400 {
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            // The builder's own error answers (a `response` with a 4xx) have
            // the builder's shape; paywire's have `error.type`.
            if status >= 500 {
                assert_eq!(answer["error"]["type"], "workflow_error", "{what}");
                assert_ne!(answer["error"]["name"], "InternalError", "{what}");
            }
        }
    }
    assert_eq!(server.get("/_paywire/health").await.status, 200);
    // Every run ends; none stays `running`.
    let mut running = Vec::new();
    for _ in 0..200 {
        server.app.store().flush().await.unwrap();
        running = server
            .app
            .store()
            .list_runs(paywire_store::RunFilter {
                status: Some(RunStatus::Running),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        if running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(running.is_empty(), "{running:?}");
    server.stop().await;
}
