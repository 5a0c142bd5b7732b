//! Disputes (`/v1/disputes`): Stripe's dispute test cards
//! (`4000 0000 0000 0259`, `pm_card_createDispute`: a fraud chargeback whose
//! funds are withdrawn; `4000 0000 0000 1976`, `pm_card_createDisputeInquiry`:
//! an inquiry) pay, then their charge is disputed at once, with Stripe's
//! events; the dispute is read, listed, given evidence (or submitted) and
//! closed (accepted, so lost) as at Stripe.

use serde_json::{Map, Value, json};

use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, check, list_where,
};
use crate::cards::TestCard;
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::state::{Tx, random_id};

/// How long a merchant has to answer a dispute.
const EVIDENCE_DUE: i64 = 21 * 86_400;

/// Whether a test card's payment is disputed, and as what: a chargeback
/// for fraud, or an inquiry (which withdraws no funds).
fn disputed_as(card: &TestCard) -> Option<bool> {
    match card.number {
        "4000000000000259" => Some(false),
        "4000000000001976" => Some(true),
        _ => None,
    }
}

/// The evidence fields a dispute has (all text, unset at first).
const EVIDENCE: &[&str] = &[
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
];

/// Opens the dispute a test card asks for, once its charge succeeded:
/// `charge.dispute.created`, and for a chargeback
/// `charge.dispute.funds_withdrawn`; the charge shows `disputed`.
pub fn open_if_disputed(tx: &mut Tx<'_>, charge_id: &str, card: &TestCard) {
    let Some(inquiry) = disputed_as(card) else {
        return;
    };
    let Some(mut charge) = tx.get(charge_id).cloned() else {
        return;
    };
    let mut evidence: Map<String, Value> = EVIDENCE
        .iter()
        .map(|field| (field.to_string(), Value::Null))
        .collect();
    evidence.insert("enhanced_evidence".into(), json!({}));
    let dispute = json!({
        "id": random_id("du_", 24),
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": tx.now,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": evidence,
        "evidence_details": {
            "due_by": tx.now + EVIDENCE_DUE,
            "enhanced_eligibility": {},
            "has_evidence": false,
            "past_due": false,
            "submission_count": 0,
        },
        "is_charge_refundable": inquiry,
        "livemode": false,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": charge["payment_method_details"]["card"]["brand"],
                "case_type": if inquiry { "inquiry" } else { "chargeback" },
                "network": charge["payment_method_details"]["card"]["brand"],
                "network_reason_code": if inquiry { "10.4" } else { "83" },
            },
            "type": "card",
        },
        "reason": if inquiry { "general" } else { "fraudulent" },
        "status": if inquiry { "warning_needs_response" } else { "needs_response" },
    });
    charge["disputed"] = json!(true);
    tx.put(charge);
    tx.put(dispute.clone());
    tx.emit("charge.dispute.created", &dispute, None);
    if !inquiry {
        tx.emit("charge.dispute.funds_withdrawn", &dispute, None);
    }
}

pub fn list_disputes(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("charge", Kind::String),
        Param::optional("payment_intent", Kind::String),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    list_where(
        tx,
        "dispute",
        &params,
        &["charge", "payment_intent"],
        "/v1/disputes",
    )
}

/// Whether a dispute can still change: not once it is won, lost or closed.
fn open(dispute: &Value) -> Result<(), StripeError> {
    match dispute["status"].as_str() {
        Some(
            "needs_response" | "warning_needs_response" | "under_review" | "warning_under_review",
        ) => Ok(()),
        status => Err(StripeError::request(format!(
            "This dispute is already closed (its status is {}).",
            status.unwrap_or_default()
        ))),
    }
}

pub fn update_dispute(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static EVIDENCE_SPEC: &[Param] = &[
        Param::optional("access_activity_log", Kind::String),
        Param::optional("billing_address", Kind::String),
        Param::optional("cancellation_policy", Kind::String),
        Param::optional("cancellation_policy_disclosure", Kind::String),
        Param::optional("cancellation_rebuttal", Kind::String),
        Param::optional("customer_communication", Kind::String),
        Param::optional("customer_email_address", Kind::String),
        Param::optional("customer_name", Kind::String),
        Param::optional("customer_purchase_ip", Kind::String),
        Param::optional("customer_signature", Kind::String),
        Param::optional("duplicate_charge_documentation", Kind::String),
        Param::optional("duplicate_charge_explanation", Kind::String),
        Param::optional("duplicate_charge_id", Kind::String),
        Param::optional("product_description", Kind::String),
        Param::optional("receipt", Kind::String),
        Param::optional("refund_policy", Kind::String),
        Param::optional("refund_policy_disclosure", Kind::String),
        Param::optional("refund_refusal_explanation", Kind::String),
        Param::optional("service_date", Kind::String),
        Param::optional("service_documentation", Kind::String),
        Param::optional("shipping_address", Kind::String),
        Param::optional("shipping_carrier", Kind::String),
        Param::optional("shipping_date", Kind::String),
        Param::optional("shipping_documentation", Kind::String),
        Param::optional("shipping_tracking_number", Kind::String),
        Param::optional("uncategorized_file", Kind::String),
        Param::optional("uncategorized_text", Kind::String),
        Param::optional("enhanced_evidence", Kind::Unsupported),
    ];
    static SPEC: &[Param] = &[
        Param::optional("evidence", Kind::Object(EVIDENCE_SPEC)),
        Param::optional("submit", Kind::Boolean),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find("dispute", id, "id")?;
    open(&before)?;
    let mut after = before.clone();
    if let Some(given) = params.get("evidence").and_then(Value::as_object) {
        for (field, value) in given {
            after["evidence"][field.as_str()] = if *value == "" {
                Value::Null
            } else {
                value.clone()
            };
        }
        after["evidence_details"]["has_evidence"] = json!(true);
    }
    if params.get("submit") == Some(&json!(true)) {
        let submissions = after["evidence_details"]["submission_count"]
            .as_i64()
            .unwrap_or(0);
        after["evidence_details"]["submission_count"] = json!(submissions + 1);
        after["status"] = json!(if before["status"] == "warning_needs_response" {
            "warning_under_review"
        } else {
            "under_review"
        });
    }
    apply_fields(&mut after, &params, &[]);
    tx.update(&before, after.clone(), Some("charge.dispute.updated"));
    Ok(after)
}

/// Closes a dispute, accepting it: a chargeback is lost, an inquiry closed.
pub fn close_dispute(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    let before = tx.find("dispute", id, "id")?;
    open(&before)?;
    let mut after = before.clone();
    let inquiry = before["payment_method_details"]["card"]["case_type"] == "inquiry";
    after["status"] = json!(if inquiry { "warning_closed" } else { "lost" });
    after["is_charge_refundable"] = json!(false);
    tx.put(after.clone());
    tx.emit("charge.dispute.closed", &after, None);
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::super::Verb;
    use super::super::schedule::tests::World;

    #[test]
    fn a_disputed_card_opens_a_dispute_that_takes_evidence_then_closes() {
        let mut world = World::new();
        let intent = world.post(
            "payment_intents",
            "amount=2500&currency=usd&payment_method=pm_card_createDispute&confirm=true",
        );
        assert_eq!(intent["status"], "succeeded");
        let charge = world.get(intent["latest_charge"].as_str().unwrap());
        assert_eq!(charge["disputed"], true);
        let dispute = world
            .state
            .newest_first("dispute")
            .next()
            .cloned()
            .expect("a dispute");
        assert_eq!(dispute["status"], "needs_response");
        assert_eq!(dispute["amount"], 2500);
        assert_eq!(dispute["payment_intent"], intent["id"]);
        let kinds: Vec<String> = world
            .state
            .newest_first("event")
            .take(2)
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            kinds,
            ["charge.dispute.funds_withdrawn", "charge.dispute.created"]
        );
        let id = dispute["id"].as_str().unwrap().to_string();
        let answered = world.post(
            &format!("disputes/{id}"),
            "evidence[uncategorized_text]=The customer received the goods.&submit=true",
        );
        assert_eq!(answered["status"], "under_review");
        assert_eq!(answered["evidence_details"]["has_evidence"], true);
        assert_eq!(answered["evidence_details"]["submission_count"], 1);
        let closed = world.post(&format!("disputes/{id}/close"), "");
        assert_eq!(closed["status"], "lost");
        let again = world
            .call(Verb::Post, &format!("disputes/{id}/close"), "")
            .unwrap_err();
        assert!(
            again.message.contains("already closed"),
            "{}",
            again.message
        );
        let unknown = world
            .call(
                Verb::Post,
                &format!("disputes/{id}"),
                "evidence[nonsense]=x",
            )
            .unwrap_err();
        assert_eq!(unknown.param.as_deref(), Some("evidence[nonsense]"));

        // An inquiry withdraws nothing, and closes as a warning.
        let inquiry = world.post(
            "payment_intents",
            "amount=100&currency=usd&payment_method=pm_card_createDisputeInquiry&confirm=true",
        );
        let listed = world.call(
            Verb::Get,
            "disputes",
            &format!("payment_intent={}", inquiry["id"].as_str().unwrap()),
        );
        let dispute = listed.unwrap()["data"][0].clone();
        assert_eq!(dispute["status"], "warning_needs_response");
        let closed = world.post(
            &format!("disputes/{}/close", dispute["id"].as_str().unwrap()),
            "",
        );
        assert_eq!(closed["status"], "warning_closed");
    }
}
