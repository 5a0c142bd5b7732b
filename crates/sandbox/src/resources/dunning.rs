//! Dunning: what a failed payment of an invoice sets off. The subscription
//! it bills becomes `past_due`, Stripe's retries follow on a schedule (each
//! failure sets the invoice's `next_payment_attempt`), and when the last one
//! fails the subscription ends as the sandbox's settings say. A payment
//! that succeeds, retried or made by the customer, brings the subscription
//! back to `active`.

use std::time::Duration;

use serde_json::{Value, json};

use super::billing_cycle::{cancel, subscription_of};
use super::invoices::{default_payment_method, pay};
use crate::state::Tx;

/// How the sandbox retries a failed invoice payment, and what becomes of
/// the subscription when every retry failed: Stripe's "retry schedule" and
/// "if all retries for a payment fail" settings, per sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dunning {
    /// The wait before each retry, counted from the attempt before it; as
    /// many retries as waits.
    pub retry_after: Vec<Duration>,
    pub after_last: AfterRetries,
}

/// What becomes of a subscription whose last retry failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRetries {
    /// Canceled (`customer.subscription.deleted`), Stripe's default.
    Cancel,
    /// `unpaid`: it stays, its later invoices stay drafts.
    Unpaid,
    /// Left `past_due`.
    PastDue,
}

const DAY: u64 = 86_400;

impl Default for Dunning {
    /// Stripe's default policy: four attempts over about three weeks (the
    /// first, then retries 3, 7 and 11 days apart), then the subscription is
    /// canceled.
    fn default() -> Dunning {
        Dunning {
            retry_after: [3, 7, 11]
                .iter()
                .map(|days| Duration::from_secs(days * DAY))
                .collect(),
            after_last: AfterRetries::Cancel,
        }
    }
}

impl Dunning {
    /// Reads the settings' text forms: `retries` is the waits, comma
    /// separated, each a number with a unit (`3d,7d,11d`; `d`, `h`, `m` or
    /// `s`), or `none`; `after_last` is `cancel`, `unpaid` or `past_due`.
    pub fn parse(retries: Option<&str>, after_last: Option<&str>) -> Result<Dunning, String> {
        let mut dunning = Dunning::default();
        if let Some(text) = retries.map(str::trim) {
            dunning.retry_after = if text == "none" || text.is_empty() {
                Vec::new()
            } else {
                text.split(',')
                    .map(|wait| parse_wait(wait.trim()))
                    .collect::<Result<_, _>>()?
            };
        }
        if let Some(text) = after_last {
            dunning.after_last = match text.trim() {
                "cancel" => AfterRetries::Cancel,
                "unpaid" => AfterRetries::Unpaid,
                "past_due" => AfterRetries::PastDue,
                other => {
                    return Err(format!(
                        "`{other}` is not what can become of a subscription after its last retry: use cancel, unpaid or past_due"
                    ));
                }
            };
        }
        Ok(dunning)
    }
}

fn parse_wait(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds = match unit {
        "d" => DAY,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if seconds > 0 && n > 0 && n <= 365 * DAY / seconds => {
            Ok(Duration::from_secs(n * seconds))
        }
        _ => Err(format!(
            "`{text}` is not a wait between retries: write a whole number of days, hours, minutes or seconds up to a year, such as 3d, 12h, 30m or 10s"
        )),
    }
}

/// The payment method an invoice is charged to: the one given, else the
/// invoice's, its subscription's, then the customer's default.
pub fn payment_method_for(tx: &Tx<'_>, invoice: &Value, given: Option<&str>) -> Option<String> {
    let subscription = subscription_of(invoice).and_then(|id| tx.get(id));
    let preferred = given
        .or(invoice["default_payment_method"].as_str())
        .or(subscription.and_then(|s| s["default_payment_method"].as_str()));
    default_payment_method(
        tx,
        invoice["customer"].as_str().unwrap_or_default(),
        preferred,
    )
}

/// Attempts an open invoice's payment with the payment method on file; with
/// none, the attempt fails as Stripe's does.
pub fn attempt(tx: &mut Tx<'_>, open: &Value) {
    match payment_method_for(tx, open, None) {
        // A failed charge records itself through `payment_failed`.
        Some(payment_method) => {
            let _ = pay(tx, open, &payment_method);
        }
        None => {
            payment_failed(tx, open);
        }
    }
}

/// Records a failed attempt to pay `open`: the attempt is counted, the next
/// retry scheduled, `invoice.payment_failed` sent, and the subscription it
/// bills made `past_due`, or ended after the last retry. The first invoice
/// of a subscription is not retried: its subscription stays `incomplete`,
/// as Stripe leaves it.
pub fn payment_failed(tx: &mut Tx<'_>, open: &Value) -> Value {
    let mut failed = open.clone();
    let attempts = failed["attempt_count"].as_i64().unwrap_or(0) + 1;
    failed["attempted"] = json!(true);
    failed["attempt_count"] = json!(attempts);
    let first_invoice = failed["billing_reason"] == "subscription_create";
    let retried = !first_invoice
        && failed["auto_advance"] == true
        && failed["collection_method"] == "charge_automatically";
    let next = retried
        .then(|| tx.dunning.retry_after.get(attempts as usize - 1).copied())
        .flatten()
        .map(|wait| tx.now.saturating_add(wait.as_secs() as i64));
    failed["next_payment_attempt"] = json!(next);
    tx.put(failed.clone());
    tx.emit("invoice.payment_failed", &failed, None);

    let Some(subscription) = subscription_of(&failed).and_then(|id| tx.get(id)).cloned() else {
        return failed;
    };
    if first_invoice || subscription["latest_invoice"] != failed["id"] {
        return failed;
    }
    let mut current = subscription.clone();
    if matches!(subscription["status"].as_str(), Some("active" | "trialing")) {
        current["status"] = json!("past_due");
        tx.update(
            &subscription,
            current.clone(),
            Some("customer.subscription.updated"),
        );
    }
    if retried && next.is_none() {
        match tx.dunning.after_last {
            AfterRetries::Cancel => {
                cancel(tx, &current, "payment_failed");
            }
            AfterRetries::Unpaid => {
                let mut unpaid = current.clone();
                unpaid["status"] = json!("unpaid");
                tx.update(&current, unpaid, Some("customer.subscription.updated"));
            }
            AfterRetries::PastDue => {}
        }
    }
    failed
}

/// A paid invoice that is its subscription's latest brings a `past_due`,
/// `unpaid` or `incomplete` subscription back to `active`.
pub fn invoice_paid(tx: &mut Tx<'_>, paid: &Value) {
    let Some(subscription) = subscription_of(paid).and_then(|id| tx.get(id)).cloned() else {
        return;
    };
    let recovering = matches!(
        subscription["status"].as_str(),
        Some("past_due" | "unpaid" | "incomplete")
    );
    if recovering && subscription["latest_invoice"] == paid["id"] {
        let mut active = subscription.clone();
        active["status"] = json!("active");
        tx.update(&subscription, active, Some("customer.subscription.updated"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_waits_with_units_and_what_comes_after() {
        let dunning = Dunning::parse(Some("1d, 12h,30m,10s"), Some("unpaid")).unwrap();
        assert_eq!(
            dunning.retry_after,
            [86_400, 43_200, 1_800, 10].map(Duration::from_secs)
        );
        assert_eq!(dunning.after_last, AfterRetries::Unpaid);
        assert!(
            Dunning::parse(Some("none"), None)
                .unwrap()
                .retry_after
                .is_empty()
        );
        assert_eq!(Dunning::parse(None, None).unwrap(), Dunning::default());
        for bad in ["3", "3w", "-1d", "0d", "d", "99999999999999999999d", "400d"] {
            let error = Dunning::parse(Some(bad), None).unwrap_err();
            assert!(error.contains("is not a wait"), "{bad}: {error}");
        }
        assert!(
            Dunning::parse(None, Some("delete"))
                .unwrap_err()
                .contains("cancel, unpaid or past_due")
        );
    }
}
