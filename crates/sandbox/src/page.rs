//! The hosted checkout page a session's `url` opens: the lines, the total,
//! a card field, and Pay or Cancel.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

use super::Sandbox;
use super::resources::{at_clock_of, complete_session, session_page_view};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn money(amount: i64, currency: &str) -> String {
    format!(
        "{}.{:02} {}",
        amount / 100,
        amount % 100,
        currency.to_uppercase()
    )
}

fn render(session: &Value, lines: &[Value], error: Option<&str>) -> String {
    let currency = session["currency"].as_str().unwrap_or("usd");
    let rows: String = lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>× {}</td><td>{}</td></tr>",
                escape(l["description"].as_str().unwrap_or("Item")),
                l["quantity"],
                money(l["amount_total"].as_i64().unwrap_or(0), currency)
            )
        })
        .collect();
    let status = session["status"].as_str().unwrap_or("open");
    let form = if status == "open" {
        format!(
            "<form method=post><label>Email <input name=email value=\"{}\"></label><br>\
             <label>Card number <input name=card_number value=\"4242 4242 4242 4242\"></label><br>\
             <button name=action value=pay>Pay {}</button> <button name=action value=cancel>Cancel</button></form>",
            escape(session["customer_email"].as_str().unwrap_or("")),
            money(session["amount_total"].as_i64().unwrap_or(0), currency)
        )
    } else {
        format!("<p>This checkout session is {status}.</p>")
    };
    let error = error
        .map(|e| format!("<p class=error>{}</p>", escape(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>paywire sandbox checkout</title></head><body>\
         <h1>Checkout (paywire sandbox)</h1><table>{rows}</table><p>Total: {}</p>{error}{form}</body></html>",
        money(session["amount_total"].as_i64().unwrap_or(0), currency)
    )
}

pub async fn show(State(sandbox): State<Arc<Sandbox>>, Path(id): Path<String>) -> Response {
    let view = {
        let mut state = sandbox.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut tx = super::Tx::new(
            &mut state,
            chrono::Utc::now().timestamp(),
            None,
            None,
            false,
            sandbox.config.base_url.clone(),
        );
        at_clock_of(&mut tx, &id);
        session_page_view(&tx, &id)
    };
    match view {
        Ok((session, lines)) => Html(render(&session, &lines, None)).into_response(),
        Err(e) => (
            StatusCode::NOT_FOUND,
            Html(format!("<p>{}</p>", escape(&e.message))),
        )
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct PageForm {
    action: String,
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    email: String,
}

fn redirect(url: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response()
}

pub async fn submit(
    State(sandbox): State<Arc<Sandbox>>,
    Path(id): Path<String>,
    Form(form): Form<PageForm>,
) -> Response {
    if form.action == "cancel" {
        let cancel = sandbox
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .and_then(|s| s["cancel_url"].as_str().map(str::to_string));
        return match cancel {
            Some(url) => redirect(&url),
            None => Html("<p>Cancelled.</p>".to_string()).into_response(),
        };
    }
    let Some(card) = super::cards::by_number(&form.card_number) else {
        return (
            StatusCode::PAYMENT_REQUIRED,
            Html("<p>The sandbox takes Stripe's test card numbers only.</p>".to_string()),
        )
            .into_response();
    };
    let email = (!form.email.trim().is_empty()).then(|| form.email.trim().to_string());
    let outcome = sandbox
        .transact(
            None,
            None,
            |tx| {
                at_clock_of(tx, &id);
                let pm = super::objects::payment_method(
                    super::state::random_id("pm_", 24),
                    card,
                    Value::Null,
                    super::objects::billing_details(None),
                    serde_json::json!({}),
                    tx.now,
                );
                let pm_id = pm["id"].as_str().unwrap_or_default().to_string();
                tx.put(pm);
                let result = complete_session(tx, &id, &pm_id, email.as_deref());
                let view = session_page_view(tx, &id).ok();
                (result, view)
            },
            |(result, _)| result.as_ref().map_or_else(|e| e.status == 402, |_| true),
            |_| None,
        )
        .await;
    match outcome {
        Ok((Ok(session), _)) => match session["success_url"].as_str() {
            Some(url) => redirect(&url.replace("{CHECKOUT_SESSION_ID}", &id)),
            None => Html("<p>Payment complete.</p>".to_string()).into_response(),
        },
        Ok((Err(e), Some((session, lines)))) => (
            StatusCode::PAYMENT_REQUIRED,
            Html(render(&session, &lines, Some(&e.message))),
        )
            .into_response(),
        Ok((Err(e), None)) => (
            StatusCode::BAD_REQUEST,
            Html(format!("<p>{}</p>", escape(&e.message))),
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html("<p>The sandbox could not store the payment.</p>".to_string()),
        )
            .into_response(),
    }
}
