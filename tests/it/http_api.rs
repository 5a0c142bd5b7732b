//! The example project over HTTP: good requests, bad requests of every kind,
//! and the record each run leaves.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn an_order_round_trips_through_the_example_apis() {
    let server = TestServer::examples().await;
    let created = server
        .post(
            "/orders",
            json!({"amount": 1999, "email": "ada@example.com"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ord_"));
    assert_eq!(created.body["status"], "pending");
    assert_eq!(created.body["total"], "19.99 USD");

    let fetched = server.get(&format!("/orders/{id}")).await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body["amount"], 1999);
    assert_eq!(fetched.body["currency"], "usd");
    assert_eq!(fetched.body["shop"], "main");
    assert_eq!(fetched.body["email"], "ada@example.com");

    let listed = server.get("/orders?status=pending&limit=5").await;
    assert_eq!(listed.status, 200);
    let ids: Vec<&str> = listed.body["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![id.as_str()]);

    let cancelled = server
        .request("DELETE", &format!("/orders/{id}"), None)
        .await;
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.body["status"], "expired");
    let again = server
        .request("DELETE", &format!("/orders/{id}"), None)
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["error"]["name"], "NotCancellable");

    let missing = server.get("/orders/ord_nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"], "no order ord_nope");
    server.stop().await;
}

#[tokio::test]
async fn every_bad_field_is_named() {
    let server = TestServer::examples().await;
    let reply = server
        .post(
            "/orders",
            json!({"amount": 10, "currency": "xyz", "email": 5}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["error"]["type"], "invalid_request");
    assert_eq!(
        reply.field_errors(),
        vec![
            ("amount".to_string(), "must be at least 50".to_string()),
            (
                "currency".to_string(),
                "must be one of \"usd\", \"eur\", \"gbp\", \"jpy\"".to_string()
            ),
            (
                "email".to_string(),
                "must be a string, got a number".to_string()
            ),
        ]
    );

    let missing = server.post("/orders", json!({})).await;
    assert_eq!(
        missing.field_errors(),
        vec![("amount".to_string(), "is required".to_string())]
    );

    let fraction = server.post("/orders", json!({"amount": 12.5})).await;
    assert_eq!(
        fraction.field_errors()[0].1,
        "must be an integer, got a number with a fraction"
    );

    let query = server.get("/orders?limit=lots&status=lost").await;
    assert_eq!(query.status, 400);
    assert_eq!(
        query.field_errors(),
        vec![
            (
                "status".to_string(),
                "must be one of \"pending\", \"processing\", \"paid\", \"expired\", \"refunded\", \"failed\""
                    .to_string()
            ),
            (
                "limit".to_string(),
                "must be an integer, got a string".to_string()
            ),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_are_refused() {
    let server = TestServer::examples().await;
    let malformed = server
        .send_raw("POST", "/orders", "application/json", "{\"amount\": 10")
        .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(
        malformed.field_errors(),
        vec![("body".to_string(), "malformed JSON".to_string())]
    );
    assert!(
        malformed.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1 column")
    );

    let array = server
        .send_raw("POST", "/orders", "application/json", "[1, 2]")
        .await;
    assert_eq!(array.status, 400);
    assert_eq!(
        array.field_errors(),
        vec![("body".to_string(), "not a JSON object".to_string())]
    );

    let huge = format!(
        "{{\"amount\": 100, \"email\": \"{}\"}}",
        "x".repeat(2 << 20)
    );
    let too_large = server
        .send_raw("POST", "/orders", "application/json", huge)
        .await;
    assert_eq!(too_large.status, 413);
    assert_eq!(
        too_large.field_errors(),
        vec![("body".to_string(), "too large".to_string())]
    );

    let text = server
        .send_raw("POST", "/orders", "text/plain", "amount=100")
        .await;
    assert_eq!(text.status, 415);

    let not_utf8 = server
        .send_raw(
            "POST",
            "/orders",
            "application/json",
            vec![0xff, 0xfe, 0x00],
        )
        .await;
    assert_eq!(not_utf8.status, 400);
    server.stop().await;
}

#[tokio::test]
async fn forms_and_curl_style_json_are_understood() {
    let server = TestServer::examples().await;
    let form = server
        .send_raw(
            "POST",
            "/orders",
            "application/x-www-form-urlencoded",
            "amount=700&currency=eur",
        )
        .await;
    assert_eq!(form.status, 201, "{:?}", form.body);
    assert_eq!(form.body["total"], "7.00 EUR");
    // `curl -d '{...}'` sends JSON labelled as a form.
    let curl = server
        .send_raw(
            "POST",
            "/orders",
            "application/x-www-form-urlencoded",
            "{\"amount\": 800}",
        )
        .await;
    assert_eq!(curl.status, 201, "{:?}", curl.body);
    server.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_404_and_405() {
    let server = TestServer::examples().await;
    let missing = server.get("/nowhere").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body["error"]["message"],
        "no API answers GET /nowhere"
    );

    let wrong = server.request("PUT", "/orders", None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("POST, GET"));

    let odd = server.request("OPTIONS", "/orders", None).await;
    assert_eq!(odd.status, 405);

    let health = server.get("/_paywire/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["apis"], 19);
    server.stop().await;
}

#[tokio::test]
async fn every_run_and_step_is_on_record_without_secrets() {
    let server = TestServer::examples().await;
    let reply = server
        .client
        .post(format!("{}/orders", server.base))
        .header("authorization", "Bearer sk_test_secret_value")
        .json(&json!({"amount": 5000, "currency": "jpy"}))
        .send()
        .await
        .unwrap();
    let run_id = reply.headers()["x-paywire-run"]
        .to_str()
        .unwrap()
        .to_string();
    let detail = server.run(&run_id).await;
    assert_eq!(detail.run.name, "create-order");
    assert_eq!(detail.run.status, paywire_store::RunStatus::Succeeded);
    assert_eq!(detail.run.response_status, Some(201));
    assert_eq!(detail.run.input["parameters"]["amount"], 5000);
    assert_eq!(
        detail.run.input["request"]["headers"]["authorization"],
        "[redacted]"
    );
    assert!(
        !serde_json::to_string(&detail)
            .unwrap()
            .contains("sk_test_secret_value")
    );

    let kinds: Vec<&str> = detail.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, vec!["table.insert", "log", "response"]);
    let insert = &detail.steps[0];
    assert_eq!(insert.key, "steps[0]");
    assert_eq!(insert.step_id.as_deref(), Some("order"));
    assert_eq!(insert.input["values"]["amount"], 5000);
    assert_eq!(insert.output["currency"], "jpy");
    assert_eq!(
        detail.steps[1].output,
        json!(format!(
            "order {} created for 5000 JPY",
            insert.output["id"].as_str().unwrap()
        ))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failing_run_names_its_step_and_is_recorded() {
    let server = TestServer::examples().await;
    let reply = server.request("DELETE", "/orders/ord_missing", None).await;
    assert_eq!(reply.status, 409);
    assert_eq!(reply.body["error"]["type"], "workflow_error");
    assert_eq!(reply.body["error"]["step"], "steps[1].default[0]");
    assert_eq!(
        reply.body["error"]["message"],
        "order ord_missing does not exist or is no longer pending"
    );
    let detail = server.run(&reply.run_id()).await;
    assert_eq!(detail.run.status, paywire_store::RunStatus::Failed);
    assert_eq!(detail.run.response_status, Some(409));
    assert_eq!(detail.run.error.as_ref().unwrap()["name"], "NotCancellable");
    let last = detail.steps.last().unwrap();
    assert_eq!(last.kind, "throw");
    assert_eq!(last.status, paywire_store::StepStatus::Failed);
    server.stop().await;
}

#[tokio::test]
async fn the_cart_prices_lines_with_loops_calls_and_a_switch() {
    let server = TestServer::examples().await;
    let lines = json!([{"sku": "a", "unit_amount": 500, "quantity": 2}, {"sku": "b", "unit_amount": 250, "quantity": 1}]);
    let priced = server
        .post("/cart/price", json!({"lines": lines, "coupon": "TENOFF"}))
        .await;
    assert_eq!(priced.status, 200, "{:?}", priced.body);
    assert_eq!(
        priced.body,
        json!({"subtotal": 1250, "discount": 125, "total": 1125, "display": "11.25 USD"})
    );

    let plain = server.post("/cart/price", json!({"lines": lines})).await;
    assert_eq!(plain.body["total"], 1250);

    let bad = server
        .post(
            "/cart/price",
            json!({"lines": [{"sku": "z", "unit_amount": 100, "quantity": 0}]}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(
        bad.body,
        json!({"error": "z needs a whole quantity from 1 to 10000", "kind": "BadLine"})
    );

    let empty = server.post("/cart/price", json!({"lines": []})).await;
    assert_eq!(
        empty.field_errors(),
        vec![("lines".to_string(), "must be at least 1 long".to_string())]
    );
    server.stop().await;
}
