//! The HTTP side of `paywire sandbox`: the Stripe sandbox served on its own,
//! for the instances sharing a database to reach as their Stripe.
//!
//! It answers Stripe's API at the root (`STRIPE_API_BASE=http://HOST:PORT`,
//! what Stripe's own libraries and CLI take: some keep only the host of
//! their base) and under `/_stripe` (the base `paywire serve`'s own sandbox
//! has, which `paywire trigger --url` calls), the hosted checkout pages at
//! both, and `/_paywire/health`. Connections are served as `paywire serve`
//! serves them, within the same limits.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::net::TcpListener;

use crate::app::ConnectionLimits;
use paywire_sandbox::Sandbox;

/// The router of a sandbox served on its own.
pub fn app(sandbox: Arc<Sandbox>) -> Router {
    let stripe = paywire_sandbox::router(sandbox);
    Router::new()
        .route("/_paywire/health", get(health))
        .nest_service("/_stripe", stripe.clone())
        .merge(stripe)
}

/// Serves `sandbox` on `listener`, within `limits`, until `shutdown`
/// resolves; then lets the requests in flight finish. The sandbox answers a
/// request only after its changes are committed, so nothing is left to
/// write once they have.
pub async fn run(
    listener: TcpListener,
    sandbox: Arc<Sandbox>,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    super::serve::serve(listener, app(sandbox), limits, shutdown).await;
    Ok(())
}

async fn health() -> Response {
    axum::Json(json!({ "status": "ok", "service": "stripe-sandbox" })).into_response()
}
