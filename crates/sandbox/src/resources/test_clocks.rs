//! Test clocks (`/v1/test_helpers/test_clocks`): a frozen time that the
//! customers created on it, and everything of theirs, live on. Advancing a
//! clock is answered at once with the clock `advancing`; the sandbox's
//! clock worker then makes happen, in order and at their own moments,
//! everything due in the span (`schedule.rs`), and sets it `ready`.

use serde_json::{Map, Value, json};

use super::billing_cycle::add_interval;
use super::{check, text};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, list_page, random_id};

pub const TEST_CLOCK: &str = "test_helpers.test_clock";

/// How long Stripe keeps a test clock before deleting it.
const LIFETIME: i64 = 30 * 86_400;

/// The latest time a clock can show: 9999-12-31T23:59:59Z, the last that
/// RFC 3339 writes and every client parses.
const LATEST: i64 = 253_402_300_799;

/// A clock's `frozen_time`, within what a clock can show.
fn frozen_time(params: &Map<String, Value>) -> Result<i64, StripeError> {
    let time = params["frozen_time"].as_i64().unwrap_or_default();
    if !(0..=LATEST).contains(&time) {
        return Err(StripeError::invalid(
            "frozen_time",
            format!(
                "Invalid frozen_time: it must be a Unix time from 0 to {LATEST} (9999-12-31T23:59:59Z)."
            ),
        ));
    }
    Ok(time)
}

pub(super) static CLOCK_CREATE: &[Param] = &[
    Param::required("frozen_time", Kind::Timestamp),
    Param::optional("name", Kind::String),
    EXPAND,
];

pub fn create_clock(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(CLOCK_CREATE, raw)?;
    let frozen_time = frozen_time(&params)?;
    let clock = json!({
        "id": random_id("clock_", 24),
        "object": TEST_CLOCK,
        "created": tx.now,
        "deletes_after": tx.now + LIFETIME,
        "frozen_time": frozen_time,
        "livemode": false,
        "name": text(&params, "name"),
        "status": "ready",
        "status_details": {},
    });
    tx.put(clock.clone());
    tx.emit("test_helpers.test_clock.created", &clock, None);
    Ok(clock)
}

pub fn list_clocks(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(super::PAGE, raw)?;
    let clocks = tx
        .state()
        .newest_first(TEST_CLOCK)
        .filter(|c| c.get("deleted").is_none());
    list_page(clocks, &params, "/v1/test_helpers/test_clocks")
}

/// Deletes a clock and, as Stripe does, every customer on it (their
/// subscriptions end with them, silently: the clock's objects are gone).
pub fn delete_clock(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let clock = tx.find(TEST_CLOCK, id, "id")?;
    let owned: Vec<Value> = ["customer", "subscription"]
        .iter()
        .flat_map(|kind| tx.state().newest_first(kind))
        .filter(|o| o["test_clock"] == id && o.get("deleted").is_none())
        .cloned()
        .collect();
    for object in owned {
        let kind = object["object"].as_str().unwrap_or_default();
        let gone = match kind {
            "customer" => objects::deleted(object["id"].as_str().unwrap_or_default(), kind),
            _ => {
                let mut ended = object.clone();
                ended["status"] = json!("canceled");
                ended["ended_at"] = json!(clock["frozen_time"]);
                ended
            }
        };
        tx.put(gone);
    }
    let gone = objects::deleted(id, TEST_CLOCK);
    tx.put(gone.clone());
    tx.emit("test_helpers.test_clock.deleted", &clock, None);
    Ok(gone)
}

pub(super) static ADVANCE_CLOCK: &[Param] =
    &[Param::required("frozen_time", Kind::Timestamp), EXPAND];

/// Starts moving a clock forward to `frozen_time`: the clock is answered
/// `advancing`, and the sandbox's clock worker does the rest.
pub fn advance_clock(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(ADVANCE_CLOCK, raw)?;
    let target = frozen_time(&params)?;
    let before = tx.find(TEST_CLOCK, id, "id")?;
    if before["status"] != "ready" {
        return Err(StripeError::request(format!(
            "The test clock {id} is already advancing; wait until its status is `ready` before advancing it again."
        ))
        .with_code("test_clock_not_ready"));
    }
    let current = before["frozen_time"].as_i64().unwrap_or_default();
    if target <= current {
        return Err(StripeError::invalid(
            "frozen_time",
            format!(
                "The test clock can only move forward: frozen_time must be after its current frozen_time ({current})."
            ),
        ));
    }
    if let Some(limit) = advance_limit(tx, id, current)
        && target > limit
    {
        return Err(StripeError::invalid(
            "frozen_time",
            format!(
                "Cannot advance the test clock more than two intervals of its shortest subscription at once: advance to {limit} at most, then again."
            ),
        ));
    }
    let mut after = before.clone();
    after["status"] = json!("advancing");
    after["status_details"] = json!({ "advancing": { "target_frozen_time": target } });
    tx.put(after.clone());
    tx.emit("test_helpers.test_clock.advancing", &after, None);
    Ok(after)
}

/// Stripe lets a clock advance at most two intervals of the shortest
/// subscription on it in one step, so that no renewal is skipped over.
fn advance_limit(tx: &Tx<'_>, clock: &str, from: i64) -> Option<i64> {
    tx.state()
        .newest_first("subscription")
        .filter(|s| s["test_clock"] == clock)
        .filter(|s| {
            !matches!(
                s["status"].as_str(),
                Some("canceled" | "incomplete_expired")
            )
        })
        .filter_map(|s| {
            let recurring = &s["items"]["data"][0]["price"]["recurring"];
            let interval = recurring["interval"].as_str()?;
            let count = recurring["interval_count"].as_i64().unwrap_or(1);
            Some(add_interval(from, interval, 2 * count.max(1)))
        })
        .min()
}

/// The clock a customer lives on, given as `test_clock` when it is
/// created: it must exist and be ready.
pub fn clock_of_new_customer(
    tx: &Tx<'_>,
    params: &Map<String, Value>,
) -> Result<Option<Value>, StripeError> {
    let Some(id) = text(params, "test_clock") else {
        return Ok(None);
    };
    let clock = tx.find(TEST_CLOCK, id, "test_clock")?;
    Ok(Some(clock))
}
