//! The sandbox's objects have Stripe's shape: the top-level keys of each
//! kind of object a flow reads equal those of Stripe's own sample of it
//! (`../shared/stripe/fixtures3.json`, of the API version the sandbox
//! speaks), but for differences named here with their reason.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::sandbox::{get, post, sandbox};

/// Keys that differ from Stripe's sample on purpose, by object.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[(
    "charge",
    "refunds",
    "since API version 2022-11-15 Stripe shows it only when expanded, and the sample shows it so; the sandbox does not expand it yet, and lists a charge's refunds at GET /v1/refunds?charge=",
)];

fn fixtures() -> Option<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/stripe/fixtures3.json");
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

async fn made(base: &str, path: &str, form: &str) -> Value {
    let (status, body) = post(base, path, form).await;
    assert_eq!(status, 200, "POST {path} {form}: {body}");
    body
}

fn keys(object: &Value) -> BTreeSet<String> {
    object
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn top_level_keys_are_stripes() {
    let Some(fixtures) = fixtures() else {
        eprintln!(
            "skipped: Stripe's sample objects are not there ({}/../shared/stripe/fixtures3.json is absent)",
            env!("CARGO_MANIFEST_DIR")
        );
        return;
    };
    let (base, _dir) = sandbox(None).await;
    let product = made(&base, "/v1/products", "name=Pro").await;
    let product_id = product["id"].as_str().unwrap().to_string();
    let price = made(
        &base,
        "/v1/prices",
        &format!("product={product_id}&unit_amount=1500&currency=usd&recurring[interval]=month"),
    )
    .await;
    let price_id = price["id"].as_str().unwrap().to_string();
    let customer = made(
        &base,
        "/v1/customers",
        "email=a@example.com&payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa",
    )
    .await;
    let customer_id = customer["id"].as_str().unwrap().to_string();
    let session = made(
        &base,
        "/v1/checkout/sessions",
        &format!("mode=subscription&line_items[0][price]={price_id}&line_items[0][quantity]=1&success_url=http://x/"),
    )
    .await;
    let intent = made(
        &base,
        "/v1/payment_intents",
        "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true",
    )
    .await;
    let charge = get(
        &base,
        &format!("/v1/charges/{}", intent["latest_charge"].as_str().unwrap()),
    )
    .await;
    let refund = made(
        &base,
        "/v1/refunds",
        &format!(
            "payment_intent={}&amount=100",
            intent["id"].as_str().unwrap()
        ),
    )
    .await;
    let subscription = made(
        &base,
        "/v1/subscriptions",
        &format!("customer={customer_id}&items[0][price]={price_id}"),
    )
    .await;
    let invoice = get(
        &base,
        &format!(
            "/v1/invoices/{}",
            subscription["latest_invoice"].as_str().unwrap()
        ),
    )
    .await;
    let event = get(&base, "/v1/events?limit=1").await["data"][0].clone();

    let mut problems = Vec::new();
    for (kind, ours) in [
        ("checkout.session", &session),
        ("payment_intent", &intent),
        ("charge", &charge),
        ("refund", &refund),
        ("subscription", &subscription),
        ("invoice", &invoice),
        ("customer", &customer),
        ("price", &price),
        ("product", &product),
        ("event", &event),
    ] {
        let theirs = keys(&fixtures["resources"][kind]);
        assert!(!theirs.is_empty(), "fixtures3.json has no {kind}");
        let ours = keys(ours);
        let known = |key: &str| {
            KNOWN_DIFFERENCES
                .iter()
                .any(|(object, field, _)| *object == kind && *field == key)
        };
        let missing: Vec<&String> = theirs.difference(&ours).filter(|k| !known(k)).collect();
        let extra: Vec<&String> = ours.difference(&theirs).filter(|k| !known(k)).collect();
        if !missing.is_empty() || !extra.is_empty() {
            problems.push(format!(
                "{kind}: missing {missing:?}, not Stripe's {extra:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
