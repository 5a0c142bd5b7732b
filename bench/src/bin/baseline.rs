//! The baseline: a bare axum handler answering the JSON that the `api`
//! scenario's API answers, on the runtime `paywire serve` uses (tokio's
//! multi-thread runtime with its default of one worker per core). Every
//! throughput figure of `bench/run` is given as a ratio to this server's,
//! measured in the same run.

use std::io::Write;

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use serde_json::{Value, json};

/// What `POST /quote` answers; the same as the `api` scenario's API for the
/// same request (checked by the driver before it measures).
fn quote() -> Value {
    json!({"currency": "usd", "subtotal": 2500, "tax": 500, "total": 3000})
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = Router::new()
        .route("/quote", post(|_body: Bytes| async { axum::Json(quote()) }))
        .route(
            "/_paywire/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let mut out = std::io::stdout();
    writeln!(
        out,
        "baseline listening on http://{}",
        listener.local_addr()?
    )?;
    out.flush()?;
    axum::serve(listener, app).await
}
