//! The event chains time makes, driven straight through the sandbox's
//! state: each test makes objects on a test clock with the API's own
//! handlers, advances the clock as the clock worker does, and checks the
//! events that follow, in order and with their moments.

use serde_json::{Value, json};

use super::super::{AfterRetries, Dunning, Verb, dispatch};
use crate::error::StripeError;
use crate::form;
use crate::state::{State, Tx};

/// 2026-01-01T00:00:00Z.
pub(crate) const START: i64 = 1_767_225_600;
const HOUR: i64 = 3_600;
pub(crate) const DAY: i64 = 86_400;

pub(crate) struct World {
    pub(crate) state: State,
    /// Events already looked at.
    seen: usize,
    /// The real time of the calls, which the clock's own events carry.
    real_now: i64,
}

impl World {
    pub(crate) fn new() -> World {
        World {
            state: State::default(),
            seen: 0,
            real_now: 1_800_000_000,
        }
    }

    pub(crate) fn call(
        &mut self,
        verb: Verb,
        path: &str,
        body: &str,
    ) -> Result<Value, StripeError> {
        let mut tx = Tx::new(
            &mut self.state,
            self.real_now,
            None,
            None,
            false,
            "http://sandbox".into(),
        );
        let raw = form::decode(body.as_bytes()).expect("a well-formed body");
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let result = dispatch(&mut tx, verb, &segments, raw);
        if result.is_err() {
            tx.roll_back();
        }
        result
    }

    pub(crate) fn post(&mut self, path: &str, body: &str) -> Value {
        self.call(Verb::Post, path, body)
            .unwrap_or_else(|e| panic!("POST {path} {body}: {}", e.message))
    }

    pub(crate) fn get(&self, id: &str) -> Value {
        self.state.get(id).cloned().expect("the object exists")
    }

    /// Advances a clock as a client and the clock worker do together.
    pub(crate) fn advance(&mut self, clock: &str, to: i64) {
        let advancing = self.post(
            &format!("test_helpers/test_clocks/{clock}/advance"),
            &format!("frozen_time={to}"),
        );
        assert_eq!(advancing["status"], "advancing");
        let mut tx = Tx::new(
            &mut self.state,
            self.real_now,
            None,
            None,
            false,
            "http://sandbox".into(),
        );
        super::super::advance_test_clock(&mut tx, clock);
        assert_eq!(self.get(clock)["status"], "ready");
        assert_eq!(self.get(clock)["frozen_time"], to);
    }

    /// The events since the last look, oldest first, as `(type, created)`;
    /// the clock's own events are left out.
    fn events(&mut self) -> Vec<(String, i64)> {
        let all: Vec<Value> = self.state.newest_first("event").cloned().collect();
        let fresh: Vec<(String, i64)> = all
            .iter()
            .rev()
            .skip(self.seen)
            .filter(|e| !e["type"].as_str().unwrap().starts_with("test_helpers."))
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_string(),
                    e["created"].as_i64().unwrap(),
                )
            })
            .collect();
        self.seen = all.len();
        fresh
    }

    /// The newest event of `event_type`.
    fn last_event(&self, event_type: &str) -> Value {
        self.state
            .newest_first("event")
            .find(|e| e["type"] == event_type)
            .cloned()
            .unwrap_or_else(|| panic!("no {event_type} event"))
    }

    /// Attaches the test payment method `card` to `customer` and makes it the
    /// customer's default, as a front end's "update your card" does.
    pub(crate) fn pay_with(&mut self, customer: &str, card: &str) {
        let attached = self.post(
            &format!("payment_methods/{card}/attach"),
            &format!("customer={customer}"),
        );
        self.post(
            &format!("customers/{customer}"),
            &format!(
                "invoice_settings[default_payment_method]={}",
                attached["id"].as_str().unwrap()
            ),
        );
    }

    /// A clock at `START`, a customer on it paying with `card`, and a
    /// monthly price of 15.00.
    pub(crate) fn customer_on_clock(&mut self, card: &str) -> (String, String, String) {
        let clock = self.post(
            "test_helpers/test_clocks",
            &format!("frozen_time={START}&name=tests"),
        );
        let clock = clock["id"].as_str().unwrap().to_string();
        let customer = self.post(
            "customers",
            &format!(
                "test_clock={clock}&payment_method={card}&invoice_settings[default_payment_method]={card}"
            ),
        );
        assert_eq!(customer["test_clock"], clock.as_str());
        assert_eq!(customer["created"], START);
        let product = self.post("products", "name=Pro");
        let price = self.post(
            "prices",
            &format!(
                "product={}&unit_amount=1500&currency=usd&recurring[interval]=month",
                product["id"].as_str().unwrap()
            ),
        );
        (
            clock,
            customer["id"].as_str().unwrap().to_string(),
            price["id"].as_str().unwrap().to_string(),
        )
    }
}

fn types(events: &[(String, i64)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

/// A new subscription's id.
pub(crate) fn subscribe_id(world: &mut World, customer: &str, price: &str, extra: &str) -> String {
    subscribe(world, customer, price, extra)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub(crate) fn subscribe(world: &mut World, customer: &str, price: &str, extra: &str) -> Value {
    world.post(
        "subscriptions",
        &format!("customer={customer}&items[0][price]={price}{extra}"),
    )
}

const FEB_1: i64 = START + 31 * DAY;
const MAR_1: i64 = FEB_1 + 28 * DAY;

#[test]
fn a_subscription_renews_at_its_period_end_and_is_paid_an_hour_later() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let subscription = subscribe(&mut world, &customer, &price, "");
    let id = subscription["id"].as_str().unwrap().to_string();
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["test_clock"], clock.as_str());
    let created = world.last_event("customer.subscription.created");
    assert_eq!(created["data"]["object"]["test_clock"], clock.as_str());
    assert_eq!(subscription["created"], START);
    assert_eq!(
        subscription["items"]["data"][0]["current_period_end"],
        FEB_1
    );
    world.events();

    world.advance(&clock, FEB_1 + 2 * HOUR);
    let events = world.events();
    assert_eq!(
        types(&events),
        [
            "invoice.created",
            "customer.subscription.updated",
            "invoice.finalized",
            "payment_intent.created",
            "charge.succeeded",
            "payment_intent.succeeded",
            "invoice.paid",
            "invoice.payment_succeeded",
        ]
    );
    assert!(events[..2].iter().all(|(_, at)| *at == FEB_1), "{events:?}");
    assert!(
        events[2..].iter().all(|(_, at)| *at == FEB_1 + HOUR),
        "{events:?}"
    );
    let updated = world.last_event("customer.subscription.updated");
    let previous = &updated["data"]["previous_attributes"];
    assert_eq!(
        previous["items"]["data"][0]["current_period_end"], FEB_1,
        "{previous}"
    );
    assert_eq!(
        updated["data"]["object"]["items"]["data"][0]["current_period_end"],
        MAR_1
    );
    let invoice = world.get(world.get(&id)["latest_invoice"].as_str().unwrap());
    assert_eq!(invoice["status"], "paid");
    assert_eq!(invoice["billing_reason"], "subscription_cycle");
    assert_eq!(invoice["amount_paid"], 1500);
    assert_eq!(invoice["test_clock"], clock.as_str());
    assert_eq!(invoice["created"], FEB_1);
    assert_eq!(invoice["status_transitions"]["paid_at"], FEB_1 + HOUR);

    // The clock's own events carry the real time.
    let ready = world.last_event("test_helpers.test_clock.ready");
    assert_eq!(ready["created"], world.real_now);
    assert_eq!(ready["data"]["object"]["frozen_time"], FEB_1 + 2 * HOUR);
}

#[test]
fn a_draft_is_not_finalized_before_its_hour() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let id = subscribe_id(&mut world, &customer, &price, "");
    world.events();
    world.advance(&clock, FEB_1 + 10);
    assert_eq!(
        types(&world.events()),
        ["invoice.created", "customer.subscription.updated"]
    );
    let draft = world.get(world.get(&id)["latest_invoice"].as_str().unwrap());
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["automatically_finalizes_at"], FEB_1 + HOUR);
    world.advance(&clock, FEB_1 + HOUR);
    assert_eq!(world.events()[0].0, "invoice.finalized");
}

#[test]
fn a_failed_renewal_is_retried_on_schedule_and_recovers_when_paid() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let id = subscribe_id(&mut world, &customer, &price, "");
    // The card on file starts failing.
    world.pay_with(&customer, "pm_card_chargeCustomerFail");
    world.events();

    world.advance(&clock, FEB_1 + 2 * HOUR);
    let events = world.events();
    let tail: Vec<&str> = types(&events)[2..].to_vec();
    assert_eq!(
        tail,
        [
            "invoice.finalized",
            "payment_intent.created",
            "charge.failed",
            "payment_intent.payment_failed",
            "invoice.payment_failed",
            "customer.subscription.updated",
        ]
    );
    let failed = world.last_event("invoice.payment_failed")["data"]["object"].clone();
    assert_eq!(failed["attempt_count"], 1);
    assert_eq!(failed["next_payment_attempt"], FEB_1 + HOUR + 3 * DAY);
    let updated = world.last_event("customer.subscription.updated");
    assert_eq!(updated["data"]["object"]["status"], "past_due");
    assert_eq!(updated["data"]["previous_attributes"]["status"], "active");
    assert_eq!(world.get(&id)["status"], "past_due");

    // The first retry, three days later, fails again.
    world.advance(&clock, FEB_1 + HOUR + 3 * DAY);
    let events = world.events();
    assert_eq!(events.last().unwrap().0, "invoice.payment_failed");
    assert!(events.iter().all(|(_, at)| *at == FEB_1 + HOUR + 3 * DAY));
    let failed = world.last_event("invoice.payment_failed")["data"]["object"].clone();
    assert_eq!(failed["attempt_count"], 2);
    assert_eq!(
        failed["next_payment_attempt"],
        FEB_1 + HOUR + 3 * DAY + 7 * DAY
    );

    // The customer adds a working card as default and pays the open invoice.
    world.pay_with(&customer, "pm_card_visa");
    let invoice = failed["id"].as_str().unwrap();
    let paid = world.post(&format!("invoices/{invoice}/pay"), "");
    assert_eq!(paid["status"], "paid");
    assert_eq!(paid["next_payment_attempt"], Value::Null);
    let events = world.events();
    assert_eq!(
        &types(&events)[events.len() - 3..],
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
        ]
    );
    let recovered = world.last_event("customer.subscription.updated");
    assert_eq!(recovered["data"]["object"]["status"], "active");
    assert_eq!(
        recovered["data"]["previous_attributes"]["status"],
        "past_due"
    );
    // On the clock's time, not the real one.
    assert!(events.iter().all(|(_, at)| *at == FEB_1 + HOUR + 3 * DAY));
    assert_eq!(world.get(&id)["status"], "active");

    // Nothing is retried any more, and March renews as usual.
    world.advance(&clock, MAR_1 + 2 * HOUR);
    let events = world.events();
    assert_eq!(events.last().unwrap().0, "invoice.payment_succeeded");
    assert!(!types(&events).contains(&"invoice.payment_failed"));
}

#[test]
fn after_the_last_retry_fails_the_subscription_ends_as_the_settings_say() {
    for (after_last, status, last_event) in [
        (
            AfterRetries::Cancel,
            "canceled",
            "customer.subscription.deleted",
        ),
        (
            AfterRetries::Unpaid,
            "unpaid",
            "customer.subscription.updated",
        ),
    ] {
        let mut world = World::new();
        let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
        let id = subscribe_id(&mut world, &customer, &price, "");
        world.pay_with(&customer, "pm_card_chargeCustomerFail");
        let dunning = Dunning {
            retry_after: vec![std::time::Duration::from_secs(DAY as u64)],
            after_last,
        };
        // Advanced as the worker does, with these settings.
        let mut at = FEB_1 + 2 * HOUR;
        for _ in 0..2 {
            world.post(
                &format!("test_helpers/test_clocks/{clock}/advance"),
                &format!("frozen_time={at}"),
            );
            let mut tx = Tx::new(
                &mut world.state,
                world.real_now,
                None,
                None,
                false,
                "http://sandbox".into(),
            );
            tx.dunning = dunning.clone();
            super::super::advance_test_clock(&mut tx, &clock);
            at += DAY;
        }
        let events = world.events();
        let failures = events
            .iter()
            .filter(|(t, _)| t == "invoice.payment_failed")
            .count();
        assert_eq!(failures, 2, "{events:?}");
        assert_eq!(events.last().unwrap().0, last_event, "{events:?}");
        assert_eq!(world.get(&id)["status"], status);
        let invoice = world.get(world.get(&id)["latest_invoice"].as_str().unwrap());
        assert_eq!(invoice["next_payment_attempt"], Value::Null);
        if status == "canceled" {
            assert_eq!(
                world.get(&id)["cancellation_details"]["reason"],
                "payment_failed"
            );
        }
    }
}

#[test]
fn a_trial_warns_three_days_before_it_ends_then_bills() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let sub = subscribe(&mut world, &customer, &price, "&trial_period_days=14");
    let id = sub["id"].as_str().unwrap().to_string();
    assert_eq!(sub["status"], "trialing");
    world.events();
    let trial_end = START + 14 * DAY;
    world.advance(&clock, trial_end - 3 * DAY);
    assert_eq!(
        world.events(),
        [(
            "customer.subscription.trial_will_end".to_string(),
            trial_end - 3 * DAY
        )]
    );
    world.advance(&clock, trial_end + 2 * HOUR);
    let events = world.events();
    assert_eq!(
        types(&events)[..2],
        ["invoice.created", "customer.subscription.updated"]
    );
    assert_eq!(events.last().unwrap().0, "invoice.payment_succeeded");
    let updated = world.last_event("customer.subscription.updated");
    assert_eq!(updated["data"]["previous_attributes"]["status"], "trialing");
    assert_eq!(world.get(&id)["status"], "active");
    assert_eq!(
        world.get(&id)["items"]["data"][0]["current_period_start"],
        trial_end
    );
}

#[test]
fn a_short_trial_is_warned_of_at_once() {
    let mut world = World::new();
    let (_, customer, price) = world.customer_on_clock("pm_card_visa");
    world.events();
    subscribe(&mut world, &customer, &price, "&trial_period_days=1");
    let events = world.events();
    assert!(
        types(&events).contains(&"customer.subscription.trial_will_end"),
        "{events:?}"
    );
}

#[test]
fn a_trial_without_a_payment_method_ends_as_its_settings_say() {
    for (behavior, status, events_at_end) in [
        (
            "pause",
            "paused",
            vec![
                "customer.subscription.updated",
                "customer.subscription.paused",
            ],
        ),
        ("cancel", "canceled", vec!["customer.subscription.deleted"]),
    ] {
        let mut world = World::new();
        let clock = world.post("test_helpers/test_clocks", &format!("frozen_time={START}"))["id"]
            .as_str()
            .unwrap()
            .to_string();
        let customer = world.post("customers", &format!("test_clock={clock}"))["id"]
            .as_str()
            .unwrap()
            .to_string();
        let product = world.post("products", "name=Pro")["id"]
            .as_str()
            .unwrap()
            .to_string();
        let price = world.post(
            "prices",
            &format!("product={product}&unit_amount=1500&currency=usd&recurring[interval]=month"),
        )["id"]
            .as_str()
            .unwrap()
            .to_string();
        let id = subscribe(
            &mut world,
            &customer,
            &price,
            &format!(
                "&trial_period_days=7&trial_settings[end_behavior][missing_payment_method]={behavior}"
            ),
        )["id"]
            .as_str()
            .unwrap()
            .to_string();
        world.advance(&clock, START + 7 * DAY - 3 * DAY);
        world.events();
        world.advance(&clock, START + 7 * DAY + HOUR);
        assert_eq!(types(&world.events()), events_at_end, "{behavior}");
        assert_eq!(world.get(&id)["status"], status, "{behavior}");
        if behavior == "pause" {
            // Resumed, it starts a period at once and bills it: with no
            // payment method still, that payment fails.
            let resumed = world.post(&format!("subscriptions/{id}/resume"), "");
            assert_eq!(resumed["status"], "past_due");
            let events = world.events();
            assert_eq!(events.last().unwrap().0, "customer.subscription.resumed");
            assert!(types(&events).contains(&"invoice.payment_failed"));
        }
    }
}

#[test]
fn cancellations_happen_when_their_time_comes() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let at_period_end = subscribe(&mut world, &customer, &price, "&cancel_at_period_end=true");
    let cancel_at = START + 10 * DAY;
    let at_date = subscribe(
        &mut world,
        &customer,
        &price,
        &format!("&cancel_at={cancel_at}"),
    );
    world.events();
    world.advance(&clock, FEB_1 + 2 * HOUR);
    let events = world.events();
    assert_eq!(
        events,
        [
            ("customer.subscription.deleted".to_string(), cancel_at),
            ("customer.subscription.deleted".to_string(), FEB_1),
        ]
    );
    for sub in [at_period_end, at_date] {
        let ended = world.get(sub["id"].as_str().unwrap());
        assert_eq!(ended["status"], "canceled");
    }
}

#[test]
fn paused_collection_keeps_invoices_as_drafts_until_it_resumes() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let id = subscribe_id(&mut world, &customer, &price, "");
    let resumes_at = FEB_1 + 5 * DAY;
    world.post(
        &format!("subscriptions/{id}"),
        &format!(
            "pause_collection[behavior]=keep_as_draft&pause_collection[resumes_at]={resumes_at}"
        ),
    );
    world.events();
    world.advance(&clock, FEB_1 + 6 * DAY);
    let events = world.events();
    assert_eq!(
        types(&events),
        [
            "invoice.created",
            "customer.subscription.updated",
            "customer.subscription.updated",
        ]
    );
    assert_eq!(events[2].1, resumes_at);
    let draft = world.get(world.get(&id)["latest_invoice"].as_str().unwrap());
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["auto_advance"], false);
    assert_eq!(world.get(&id)["pause_collection"], Value::Null);

    // `void` closes each invoice as it is finalized.
    world.post(
        &format!("subscriptions/{id}"),
        "pause_collection[behavior]=void",
    );
    world.events();
    world.advance(&clock, MAR_1 + 2 * HOUR);
    let events = world.events();
    assert_eq!(types(&events)[2..], ["invoice.finalized", "invoice.voided"]);
}

#[test]
fn deleting_a_clock_deletes_its_customers() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let id = subscribe_id(&mut world, &customer, &price, "");
    let gone = world
        .call(
            Verb::Delete,
            &format!("test_helpers/test_clocks/{clock}"),
            "",
        )
        .unwrap();
    assert_eq!(
        gone,
        json!({"id": clock, "object": "test_helpers.test_clock", "deleted": true})
    );
    assert_eq!(world.get(&customer)["deleted"], true);
    assert_eq!(world.get(&id)["status"], "canceled");
}

#[test]
fn a_retry_that_succeeds_brings_the_subscription_back() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    let id = subscribe_id(&mut world, &customer, &price, "");
    let failing = world.post(
        "payment_methods/pm_card_chargeCustomerFail/attach",
        &format!("customer={customer}"),
    );
    world.post(
        &format!("subscriptions/{id}"),
        &format!("default_payment_method={}", failing["id"].as_str().unwrap()),
    );
    world.advance(&clock, FEB_1 + 2 * HOUR);
    assert_eq!(world.get(&id)["status"], "past_due");
    // A working card on the subscription before Stripe's retry.
    let working = world.post(
        "payment_methods/pm_card_visa/attach",
        &format!("customer={customer}"),
    );
    world.post(
        &format!("subscriptions/{id}"),
        &format!("default_payment_method={}", working["id"].as_str().unwrap()),
    );
    world.events();
    let retry_at = FEB_1 + HOUR + 3 * DAY;
    world.advance(&clock, retry_at + HOUR);
    let events = world.events();
    assert_eq!(
        &types(&events)[events.len() - 3..],
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated",
        ]
    );
    assert!(events.iter().all(|(_, at)| *at == retry_at), "{events:?}");
    let invoice = world.get(world.get(&id)["latest_invoice"].as_str().unwrap());
    assert_eq!(invoice["attempt_count"], 2);
    assert_eq!(invoice["status"], "paid");
    assert_eq!(world.get(&id)["status"], "active");
}
