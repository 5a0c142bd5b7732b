//! The sandbox's search endpoints over HTTP: Stripe's query language on the
//! seven searchable resources, pages, and the refusals of a bad query, each
//! answer parsed by async-stripe's types.

use serde_json::Value;

use crate::conformance::{parse_stripe_error, parse_stripe_object};
use crate::sandbox::{KEY, post, sandbox};

async fn search(base: &str, resource: &str, query: &str, extra: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/{resource}/search"))
        .query(&[("query", query)])
        .query(
            &extra
                .split('&')
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once('='))
                .collect::<Vec<_>>(),
        )
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let checked = if status == 200 {
        parse_stripe_object(&text)
    } else {
        parse_stripe_error(&text)
    };
    assert!(checked.is_ok(), "{resource} {query}: {checked:?}");
    (status, serde_json::from_str(&text).unwrap())
}

fn ids(result: &Value) -> Vec<String> {
    result["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

async fn made(base: &str, path: &str, form: &str) -> String {
    let (status, body) = post(base, path, form).await;
    assert_eq!(status, 200, "{path} {form}: {body}");
    body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn search_finds_what_the_query_says_on_every_searchable_resource() {
    let (base, _dir) = sandbox(None).await;
    let ada = made(
        &base,
        "/v1/customers",
        "email=ada@example.com&name=Ada&metadata[plan]=pro",
    )
    .await;
    let bob = made(
        &base,
        "/v1/customers",
        "email=bob@example.org&name=Bob&metadata[plan]=free",
    )
    .await;
    let product = made(
        &base,
        "/v1/products",
        "name=Pro plan&description=Everything",
    )
    .await;
    let price = made(
        &base,
        "/v1/prices",
        &format!("product={product}&unit_amount=1500&currency=usd&lookup_key=pro&recurring[interval]=month"),
    )
    .await;
    let paid = made(
        &base,
        "/v1/payment_intents",
        &format!("amount=5000&currency=usd&customer={ada}&payment_method=pm_card_visa&confirm=true&metadata[order]=o1"),
    )
    .await;
    made(&base, "/v1/payment_intents", "amount=700&currency=eur").await;
    let subscription = made(
        &base,
        "/v1/subscriptions",
        &format!("customer={bob}&items[0][price]={price}&default_payment_method=pm_card_visa"),
    )
    .await;

    let (_, found) = search(&base, "customers", "email:'ada@example.com'", "").await;
    assert_eq!(ids(&found), std::slice::from_ref(&ada));
    assert_eq!(found["object"], "search_result");
    let (_, found) = search(&base, "customers", "email~\"example\" -name:Bob", "").await;
    assert_eq!(ids(&found), std::slice::from_ref(&ada));
    let (_, found) = search(
        &base,
        "customers",
        "metadata['plan']:'free' OR name:ada",
        "",
    )
    .await;
    assert_eq!(ids(&found), [bob.clone(), ada.clone()]);
    let (_, found) = search(
        &base,
        "payment_intents",
        &format!("amount>1000 AND currency:'usd' AND customer:'{ada}'"),
        "",
    )
    .await;
    assert_eq!(ids(&found), std::slice::from_ref(&paid));
    let (_, found) = search(
        &base,
        "charges",
        "payment_method_details.card.last4:'4242' AND amount=5000",
        "",
    )
    .await;
    assert_eq!(found["data"][0]["payment_intent"], paid.as_str());
    let (_, found) = search(&base, "prices", "lookup_key:'pro' active:'true'", "").await;
    assert_eq!(ids(&found), [price]);
    let (_, found) = search(&base, "products", "name~'pro p'", "").await;
    assert_eq!(ids(&found), [product]);
    let (_, found) = search(&base, "subscriptions", "status:'active'", "").await;
    assert_eq!(ids(&found), std::slice::from_ref(&subscription));
    let (_, found) = search(
        &base,
        "invoices",
        &format!("subscription:'{subscription}' status:'paid'"),
        "",
    )
    .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);

    // Pages.
    let (_, first) = search(
        &base,
        "customers",
        "created>0",
        "limit=1&expand[]=total_count",
    )
    .await;
    assert_eq!(ids(&first), [bob]);
    assert_eq!(first["total_count"], 2);
    assert_eq!(first["has_more"], true);
    let next = first["next_page"].as_str().unwrap().to_string();
    let (_, second) = search(
        &base,
        "customers",
        "created>0",
        &format!("limit=1&page={next}"),
    )
    .await;
    assert_eq!(ids(&second), [ada]);
    assert_eq!(second["has_more"], false);
    assert_eq!(second["next_page"], Value::Null);

    // Bad queries are Stripe's 400, naming the query.
    for (resource, bad) in [
        ("customers", "amount>5"),
        ("customers", "name:a AND email:b OR phone:c"),
        ("products", "name:'unclosed"),
        ("prices", ""),
    ] {
        let (status, body) = search(&base, resource, bad, "").await;
        assert_eq!(status, 400, "{resource} {bad}: {body}");
        assert_eq!(body["error"]["param"], "query", "{body}");
    }
    let (status, _) = search(&base, "customers", "name:a", "page=nonsense").await;
    assert_eq!(status, 400);
}
