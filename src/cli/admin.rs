//! The commands that act on the running server rather than on the database,
//! through its admin API: `runs retry` and `replay`. The server does the
//! work, so that a retried run or a replayed event goes through the same
//! engine, store and Stripe connection as every other.

use std::process::ExitCode;

use serde_json::Value;

/// POSTs to the running server's admin API; on refusal, prints why and
/// gives `None`.
async fn admin_post(server: &str, path: &str) -> Option<Value> {
    let url = format!("{}/_paywire/api{path}", server.trim_end_matches('/'));
    let mut request = reqwest::Client::new().post(&url);
    if let Some(token) = super::admin_token() {
        request = request.bearer_auth(token.expose());
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => {
            eprintln!(
                "no paywire server answered at {server} ({e}); start one with `paywire serve`, or name it with --server"
            );
            return None;
        }
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        eprintln!(
            "{}",
            body["error"]["message"]
                .as_str()
                .unwrap_or("the server refused the request")
        );
        return None;
    }
    Some(body)
}

/// `text` as one segment of a URL's path, whatever it holds.
fn path_segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Asks the running server to retry a run, through its admin API.
pub(super) async fn retry(id: &str, server: &str) -> anyhow::Result<ExitCode> {
    let Some(body) = admin_post(server, &format!("/runs/{}/retry", path_segment(id))).await else {
        return Ok(ExitCode::FAILURE);
    };
    println!(
        "run {} retried {id}: {}",
        body["run_id"].as_str().unwrap_or("?"),
        body["status"].as_str().unwrap_or("?")
    );
    if let Some(message) = body["error"]["message"].as_str() {
        println!(
            "  failed at {}: {message}",
            body["error"]["step"].as_str().unwrap_or("?")
        );
    }
    Ok(if body["status"] == "succeeded" {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Asks the running server to replay a failed event.
pub(super) async fn replay(id: &str, server: &str) -> anyhow::Result<ExitCode> {
    let Some(_) = admin_post(server, &format!("/events/{}/replay", path_segment(id))).await else {
        return Ok(ExitCode::FAILURE);
    };
    println!("event {id} is queued again; `paywire events {id}` shows how it goes");
    Ok(ExitCode::SUCCESS)
}
