//! Time passing: what is due, and when, for the subscriptions and invoices
//! that live on one clock (a test clock, or real time for the objects of no
//! clock), and making it happen in order, each at its own moment, so that
//! every event is stamped with the time it would have had at Stripe.

use serde_json::{Value, json};

use super::billing_cycle::{
    TRIAL_WARNING, collect, end_period, end_trial, resume_collection, warn_trial_ending,
};
use super::test_clocks::TEST_CLOCK;
use crate::error::StripeError;
use crate::state::{State, Tx};

/// What can fall due. At one moment, earlier kinds go first: a trial's
/// warning before its end, a cancellation before a renewal it prevents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    TrialWarning,
    CancelAt,
    TrialEnd,
    PeriodEnd,
    CollectionResumes,
    Finalize,
    Retry,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: i64,
    work: Work,
    id: String,
}

/// A bound on the work of one move of a clock, so that a fault in the
/// billing rules cannot spin for ever; far above what two billing intervals
/// of any number of subscriptions need.
const MAX_STEPS: usize = 100_000;

/// Whether `object` lives on `clock` (`None`: on real time).
fn on_clock(object: &Value, clock: Option<&str>) -> bool {
    match clock {
        Some(id) => object["test_clock"] == id,
        None => object["test_clock"].is_null(),
    }
}

fn subscription_dues(subscription: &Value, out: &mut Vec<(i64, Work)>) {
    let status = subscription["status"].as_str().unwrap_or_default();
    if matches!(status, "canceled" | "incomplete" | "incomplete_expired") {
        return;
    }
    if let Some(at) = subscription["cancel_at"].as_i64() {
        out.push((at, Work::CancelAt));
    }
    if let Some(at) = subscription["pause_collection"]["resumes_at"].as_i64() {
        out.push((at, Work::CollectionResumes));
    }
    match status {
        "trialing" => {
            if let Some(end) = subscription["trial_end"].as_i64() {
                if subscription["x_trial_warned_for"] != end {
                    out.push((end.saturating_sub(TRIAL_WARNING), Work::TrialWarning));
                }
                out.push((end, Work::TrialEnd));
            }
        }
        "active" | "past_due" | "unpaid" => {
            if let Some(end) = subscription["items"]["data"][0]["current_period_end"].as_i64() {
                out.push((end, Work::PeriodEnd));
            }
        }
        _ => {}
    }
}

fn invoice_dues(invoice: &Value, out: &mut Vec<(i64, Work)>) {
    if invoice["auto_advance"] != true {
        return;
    }
    match invoice["status"].as_str() {
        Some("draft") => {
            if let Some(at) = invoice["automatically_finalizes_at"].as_i64() {
                out.push((at, Work::Finalize));
            }
        }
        Some("open") => {
            if let Some(at) = invoice["next_payment_attempt"].as_i64() {
                out.push((at, Work::Retry));
            }
        }
        _ => {}
    }
}

/// What an object of one kind has due, added to a list of `(when, what)`.
type DuesOf = fn(&Value, &mut Vec<(i64, Work)>);

/// The earliest work due on `clock`, whenever it is.
fn next_due(state: &State, clock: Option<&str>) -> Option<Due> {
    let mut earliest: Option<Due> = None;
    let mut dues = Vec::new();
    let kinds: [(&str, DuesOf); 2] = [
        ("subscription", subscription_dues),
        ("invoice", invoice_dues),
    ];
    for (kind, dues_of) in kinds {
        let live = state
            .newest_first(kind)
            .filter(|o| on_clock(o, clock) && o.get("x_stalled").is_none());
        for object in live {
            dues.clear();
            dues_of(object, &mut dues);
            for (at, work) in dues.drain(..) {
                let due = Due {
                    at,
                    work,
                    id: object["id"].as_str().unwrap_or_default().to_string(),
                };
                if earliest.as_ref().is_none_or(|e| due < *e) {
                    earliest = Some(due);
                }
            }
        }
    }
    earliest
}

fn perform(tx: &mut Tx<'_>, due: &Due) -> Result<(), StripeError> {
    match due.work {
        Work::TrialWarning => {
            warn_trial_ending(tx, &due.id);
            Ok(())
        }
        Work::TrialEnd => end_trial(tx, &due.id, false),
        Work::PeriodEnd => end_period(tx, &due.id),
        Work::CancelAt => {
            let subscription = tx.find("subscription", &due.id, "id")?;
            super::billing_cycle::cancel(tx, &subscription, "cancellation_requested");
            Ok(())
        }
        Work::CollectionResumes => resume_collection(tx, &due.id),
        Work::Finalize => collect(tx, &due.id),
        Work::Retry => {
            let invoice = tx.find("invoice", &due.id, "id")?;
            super::dunning::attempt(tx, &invoice);
            Ok(())
        }
    }
}

/// Makes happen, in order, everything due on `clock` up to `until`, each
/// at its own moment (`tx.now`), and leaves `tx.now` at `until`. Returns
/// how many things happened.
pub fn run_until(tx: &mut Tx<'_>, clock: Option<&str>, until: i64) -> usize {
    let mut done = 0;
    while done < MAX_STEPS {
        let Some(due) = next_due(tx.state(), clock).filter(|d| d.at <= until) else {
            break;
        };
        tx.now = tx.now.max(due.at);
        if let Err(e) = perform(tx, &due) {
            // Something it needs is gone (a deleted customer, say). The
            // object is set aside, so that it is not tried again at every
            // tick, and says why in its own fields.
            tracing::warn!(object = %due.id, work = ?due.work, error = %e.message, "the sandbox could not do what was due");
            if let Some(mut stalled) = tx.get(&due.id).cloned() {
                stalled["x_stalled"] = json!(e.message);
                tx.put(stalled);
            }
        }
        done += 1;
    }
    if done == MAX_STEPS {
        tracing::error!(
            clock = clock.unwrap_or("real time"),
            "the sandbox stopped moving a clock after {MAX_STEPS} steps"
        );
    }
    tx.now = tx.now.max(until);
    done
}

/// Moves a test clock that is `advancing` to its target: everything due on
/// it happens, then the clock is `ready` at the target, and
/// `test_helpers.test_clock.ready` says so (stamped, like the clock's other
/// events, with the real time).
pub fn advance_test_clock(tx: &mut Tx<'_>, id: &str) {
    let Ok(clock) = tx.find(TEST_CLOCK, id, "id") else {
        return;
    };
    let Some(target) = clock["status_details"]["advancing"]["target_frozen_time"].as_i64() else {
        return;
    };
    let real_now = tx.now;
    tx.now = clock["frozen_time"].as_i64().unwrap_or(target);
    run_until(tx, Some(id), target);
    tx.now = real_now;
    let mut ready = clock.clone();
    ready["frozen_time"] = json!(target);
    ready["status"] = json!("ready");
    ready["status_details"] = json!({});
    tx.put(ready.clone());
    tx.emit("test_helpers.test_clock.ready", &ready, None);
}

/// The test clocks that are advancing.
pub fn advancing_clocks(state: &State) -> Vec<String> {
    state
        .newest_first(TEST_CLOCK)
        .filter(|c| c["status"] == "advancing")
        .filter_map(|c| c["id"].as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
pub(crate) mod tests;
