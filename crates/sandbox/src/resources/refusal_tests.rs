//! What the sandbox refuses, as Stripe refuses it or because it does not
//! implement it yet (never accepting and ignoring what changes money):
//! clocks that would go back, skip renewals or leave what a clock can show,
//! changes to a clock's objects while it advances, trial and period lengths
//! past Stripe's limits (which would otherwise overflow the time they add),
//! discounts, tax and promotion codes, a subscription that must not be
//! left incomplete, and a subscription's choices that the sandbox lacks
//! (sent invoices, a first invoice left open, prorations).

use super::Verb;
use super::schedule::tests::{DAY, START, World, subscribe};

#[test]
fn clocks_refuse_what_stripe_refuses() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    subscribe(&mut world, &customer, &price, "");
    let path = format!("test_helpers/test_clocks/{clock}/advance");
    let back = world
        .call(Verb::Post, &path, &format!("frozen_time={}", START - 1))
        .unwrap_err();
    assert_eq!(back.param.as_deref(), Some("frozen_time"));
    // At most two intervals of the shortest subscription at once.
    let far = world
        .call(
            Verb::Post,
            &path,
            &format!("frozen_time={}", START + 70 * DAY),
        )
        .unwrap_err();
    assert!(far.message.contains("two intervals"), "{}", far.message);
    let moved = world
        .call(
            Verb::Post,
            &format!("customers/{customer}"),
            &format!("test_clock={clock}"),
        )
        .unwrap_err();
    assert_eq!(moved.param.as_deref(), Some("test_clock"));
    // While it advances, its objects cannot change; it cannot advance again.
    world.post(&path, &format!("frozen_time={}", START + DAY));
    let busy = world
        .call(Verb::Post, &format!("customers/{customer}"), "name=x")
        .unwrap_err();
    assert_eq!(busy.code.as_deref(), Some("test_clock_not_ready"));
    let again = world
        .call(
            Verb::Post,
            &path,
            &format!("frozen_time={}", START + 2 * DAY),
        )
        .unwrap_err();
    assert_eq!(again.code.as_deref(), Some("test_clock_not_ready"));
    let missing = world
        .call(Verb::Post, "customers", "test_clock=clock_nope")
        .unwrap_err();
    assert_eq!(missing.param.as_deref(), Some("test_clock"));
}

#[test]
fn trial_settings_are_checked_when_given() {
    let mut world = World::new();
    let (_, customer, price) = world.customer_on_clock("pm_card_visa");
    let bad = "&trial_period_days=7&trial_settings[end_behavior][missing_payment_method]=sleep";
    let refused = world
        .call(
            Verb::Post,
            "subscriptions",
            &format!("customer={customer}&items[0][price]={price}{bad}"),
        )
        .unwrap_err();
    assert_eq!(
        refused.param.as_deref(),
        Some("trial_settings[end_behavior][missing_payment_method]")
    );
    let session = world
        .call(
            Verb::Post,
            "checkout/sessions",
            &format!(
                "mode=subscription&line_items[0][price]={price}&line_items[0][quantity]=1&success_url=http://x/&subscription_data[trial_settings][end_behavior][missing_payment_method]=sleep"
            ),
        )
        .unwrap_err();
    assert_eq!(
        session.param.as_deref(),
        Some("subscription_data[trial_settings][end_behavior][missing_payment_method]")
    );
    let id = subscribe(&mut world, &customer, &price, "")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let paused = world
        .call(
            Verb::Post,
            &format!("subscriptions/{id}"),
            "pause_collection[behavior]=nap",
        )
        .unwrap_err();
    assert_eq!(paused.param.as_deref(), Some("pause_collection[behavior]"));
}

#[test]
fn times_out_of_range_are_refused_not_overflowed() {
    let mut world = World::new();
    let (clock, customer, price) = world.customer_on_clock("pm_card_visa");
    for time in ["-1", "253402300800", "9223372036854775807"] {
        let refused = world
            .call(
                Verb::Post,
                "test_helpers/test_clocks",
                &format!("frozen_time={time}"),
            )
            .unwrap_err();
        assert_eq!(refused.param.as_deref(), Some("frozen_time"), "{time}");
    }
    let far = world
        .call(
            Verb::Post,
            "subscriptions",
            &format!(
                "customer={customer}&items[0][price]={price}&trial_period_days=9223372036854775807"
            ),
        )
        .unwrap_err();
    assert_eq!(far.param.as_deref(), Some("trial_period_days"));
    let far = world
        .call(
            Verb::Post,
            "subscriptions",
            &format!("customer={customer}&items[0][price]={price}&trial_end=9223372036854775807"),
        )
        .unwrap_err();
    assert_eq!(far.param.as_deref(), Some("trial_end"));
    let product = world.post("products", "name=Long")["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (interval, count) in [
        ("day", "1096"),
        ("year", "4"),
        ("month", "9223372036854775807"),
    ] {
        let long = world
            .call(
                Verb::Post,
                "prices",
                &format!("product={product}&unit_amount=1&currency=usd&recurring[interval]={interval}&recurring[interval_count]={count}"),
            )
            .unwrap_err();
        assert_eq!(
            long.param.as_deref(),
            Some("recurring[interval_count]"),
            "{}",
            long.message
        );
    }
    // A clock with nothing on it goes as far as a clock can.
    world
        .call(
            Verb::Delete,
            &format!("test_helpers/test_clocks/{clock}"),
            "",
        )
        .unwrap();
    let empty = world.post("test_helpers/test_clocks", &format!("frozen_time={START}"));
    let empty = empty["id"].as_str().unwrap().to_string();
    world.advance(&empty, 253_402_300_799);
}

#[test]
fn what_the_sandbox_does_not_implement_is_refused_by_name() {
    let mut world = World::new();
    let (_, customer, price) = world.customer_on_clock("pm_card_visa");
    let refused = world
        .call(
            Verb::Post,
            "subscriptions",
            &format!("customer={customer}&items[0][price]={price}&billing_cycle_anchor={START}"),
        )
        .unwrap_err();
    assert_eq!(refused.param.as_deref(), Some("billing_cycle_anchor"));
    assert_eq!(refused.code.as_deref(), Some("parameter_unknown"));
    assert!(
        refused.message.contains("does not implement"),
        "{}",
        refused.message
    );
    let id = subscribe(&mut world, &customer, &price, "")["id"]
        .as_str()
        .unwrap()
        .to_string();
    // Unset asks for nothing, and is accepted.
    world.post(&format!("subscriptions/{id}"), "billing_cycle_anchor=");
    let refused = world
        .call(
            Verb::Post,
            &format!("subscriptions/{id}"),
            "billing_cycle_anchor=now",
        )
        .unwrap_err();
    assert_eq!(refused.param.as_deref(), Some("billing_cycle_anchor"));
}

#[test]
fn what_changes_money_and_is_not_implemented_is_refused_not_ignored() {
    let mut world = World::new();
    let (_, customer, price) = world.customer_on_clock("pm_card_visa");
    let session = |extra: &str| {
        format!(
            "mode=subscription&line_items[0][price]={price}&line_items[0][quantity]=1&success_url=http://x/{extra}"
        )
    };
    for (path, body, param) in [
        (
            "checkout/sessions",
            session("&discounts[0][coupon]=DOES_NOT_EXIST"),
            "discounts",
        ),
        (
            "checkout/sessions",
            session("&automatic_tax[enabled]=true"),
            "automatic_tax[enabled]",
        ),
        (
            "checkout/sessions",
            session("&allow_promotion_codes=true"),
            "allow_promotion_codes",
        ),
        (
            "subscriptions",
            format!("customer={customer}&items[0][price]={price}&coupon=SAVE10"),
            "coupon",
        ),
        (
            "subscriptions",
            format!("customer={customer}&items[0][price]={price}&items[0][discounts][0][coupon]=X"),
            "items[0][discounts]",
        ),
        (
            "invoices",
            format!("customer={customer}&automatic_tax[enabled]=true"),
            "automatic_tax[enabled]",
        ),
    ] {
        let refused = world.call(Verb::Post, path, &body).unwrap_err();
        assert_eq!(
            refused.param.as_deref(),
            Some(param),
            "{body}: {}",
            refused.message
        );
        assert_eq!(refused.code.as_deref(), Some("parameter_unknown"), "{body}");
    }
    // What asks for nothing is taken.
    world.post(
        "checkout/sessions",
        &session("&automatic_tax[enabled]=false&allow_promotion_codes=false"),
    );
}

#[test]
fn error_if_incomplete_answers_the_decline_and_creates_nothing() {
    let mut world = World::new();
    let (_, customer, price) = world.customer_on_clock("pm_card_chargeCustomerFail");
    let before = world.state.newest_first("subscription").count();
    let refused = world
        .call(
            Verb::Post,
            "subscriptions",
            &format!(
                "customer={customer}&items[0][price]={price}&payment_behavior=error_if_incomplete"
            ),
        )
        .unwrap_err();
    assert_eq!(refused.status, 402);
    assert_eq!(refused.code.as_deref(), Some("card_declined"));
    assert_eq!(world.state.newest_first("subscription").count(), before);
    // allow_incomplete keeps the incomplete subscription, as Stripe does.
    let kept = subscribe(
        &mut world,
        &customer,
        &price,
        "&payment_behavior=allow_incomplete",
    );
    assert_eq!(kept["status"], "incomplete");
}

#[test]
fn coupons_and_promotion_codes_are_checked_as_stripe_checks_them() {
    let mut world = World::new();
    for (body, param) in [
        ("percent_off=10&amount_off=100&currency=usd", None),
        ("amount_off=100", Some("currency")),
        ("percent_off=0", Some("percent_off")),
        ("percent_off=100.5", Some("percent_off")),
        ("percent_off=ten", Some("percent_off")),
        (
            "percent_off=10&duration=repeating",
            Some("duration_in_months"),
        ),
        (
            "percent_off=10&duration=once&duration_in_months=3",
            Some("duration_in_months"),
        ),
        ("percent_off=10&redeem_by=1", Some("redeem_by")),
        (
            "percent_off=10&applies_to[products][0]=prod_x",
            Some("applies_to"),
        ),
    ] {
        let refused = world.call(Verb::Post, "coupons", body).unwrap_err();
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(
            refused.param.as_deref(),
            param,
            "{body}: {}",
            refused.message
        );
    }
    let coupon = world.post(
        "coupons",
        "id=SAVE10&percent_off=12.5&duration=repeating&duration_in_months=3",
    );
    assert_eq!(coupon["percent_off"], 12.5);
    let again = world
        .call(Verb::Post, "coupons", "id=SAVE10&percent_off=5")
        .unwrap_err();
    assert_eq!(again.code.as_deref(), Some("resource_already_exists"));

    let code = world.post(
        "promotion_codes",
        "promotion[type]=coupon&promotion[coupon]=SAVE10&code=FALL10",
    );
    assert_eq!(code["promotion"]["coupon"], "SAVE10");
    let twice = world
        .call(Verb::Post, "promotion_codes", "coupon=SAVE10&code=fall10")
        .unwrap_err();
    assert_eq!(twice.param.as_deref(), Some("code"));
    let missing = world
        .call(
            Verb::Post,
            "promotion_codes",
            "promotion[type]=coupon&promotion[coupon]=NOPE",
        )
        .unwrap_err();
    assert_eq!(
        (missing.status, missing.param.as_deref()),
        (404, Some("promotion[coupon]"))
    );
    let bad = world
        .call(
            Verb::Post,
            "promotion_codes",
            "coupon=SAVE10&code=no spaces",
        )
        .unwrap_err();
    assert_eq!(bad.param.as_deref(), Some("code"));
    // An inactive code frees its text for another.
    let id = code["id"].as_str().unwrap().to_string();
    world.post(&format!("promotion_codes/{id}"), "active=false");
    world.post("promotion_codes", "coupon=SAVE10&code=FALL10");
    let back = world
        .call(Verb::Post, &format!("promotion_codes/{id}"), "active=true")
        .unwrap_err();
    assert_eq!(back.param.as_deref(), Some("active"));
    // Filtered by the coupon before paging: a page of one, and more after.
    world.post("coupons", "id=OTHER&percent_off=5");
    world.post("promotion_codes", "coupon=OTHER");
    let page = world
        .call(Verb::Get, "promotion_codes", "coupon=SAVE10&limit=1")
        .unwrap();
    assert_eq!(page["data"][0]["promotion"]["coupon"], "SAVE10");
    assert_eq!(page["has_more"], true);
}

#[test]
fn plans_and_tax_rates_take_what_stripe_takes() {
    let mut world = World::new();
    let plan = world.post(
        "plans",
        "currency=usd&interval=month&amount=2000&product[name]=Gold",
    );
    assert_eq!(plan["object"], "plan");
    assert_eq!(plan["amount"], 2000);
    let id = plan["id"].as_str().unwrap().to_string();
    // The plan is the recurring price it is.
    assert_eq!(world.get(&id)["object"], "price");
    let renamed = world.post(&format!("plans/{id}"), "nickname=Gold monthly");
    assert_eq!(renamed["nickname"], "Gold monthly");
    world
        .call(Verb::Delete, &format!("plans/{id}"), "")
        .unwrap();
    let gone = world
        .call(Verb::Get, &format!("plans/{id}"), "")
        .unwrap_err();
    assert_eq!(gone.status, 404);
    for (body, param) in [
        ("currency=usd&interval=month&amount=100", "product"),
        (
            "currency=usd&interval=month&amount=100&product[active]=true",
            "product[name]",
        ),
        (
            "currency=usd&interval=fortnight&amount=100&product[name]=x",
            "interval",
        ),
        (
            "currency=usd&interval=month&amount=100&product[name]=x&id=gold",
            "id",
        ),
    ] {
        let refused = world.call(Verb::Post, "plans", body).unwrap_err();
        assert_eq!(
            refused.param.as_deref(),
            Some(param),
            "{body}: {}",
            refused.message
        );
    }

    let rate = world.post(
        "tax_rates",
        "display_name=VAT&inclusive=false&percentage=19.5&country=DE",
    );
    assert_eq!(rate["percentage"], 19.5);
    let id = rate["id"].as_str().unwrap().to_string();
    let changed = world.post(&format!("tax_rates/{id}"), "active=false");
    assert_eq!(changed["active"], false);
    for (path, body, param) in [
        (
            "tax_rates".to_string(),
            "display_name=VAT&inclusive=false&percentage=101",
            "percentage",
        ),
        (
            "tax_rates".to_string(),
            "display_name=VAT&percentage=10",
            "inclusive",
        ),
        (format!("tax_rates/{id}"), "percentage=20", "percentage"),
    ] {
        let refused = world.call(Verb::Post, &path, body).unwrap_err();
        assert_eq!(
            refused.param.as_deref(),
            Some(param),
            "{body}: {}",
            refused.message
        );
    }
}

/// What a subscription's creation or update would do differently on Stripe,
/// and the sandbox does not implement yet, is refused by name.
#[test]
fn subscription_choices_the_sandbox_lacks_are_refused_by_name() {
    let mut world = World::new();
    let (_, customer, price) = world.customer_on_clock("pm_card_visa");
    for (extra, param) in [
        ("&collection_method=send_invoice", "collection_method"),
        ("&payment_behavior=default_incomplete", "payment_behavior"),
        ("&days_until_due=5", "days_until_due"),
    ] {
        let refused = world
            .call(
                Verb::Post,
                "subscriptions",
                &format!("customer={customer}&items[0][price]={price}{extra}"),
            )
            .unwrap_err();
        assert_eq!(refused.param.as_deref(), Some(param), "{extra}");
        assert_eq!(
            refused.code.as_deref(),
            Some("parameter_unknown"),
            "{extra}"
        );
        assert!(refused.message.contains("does not implement"), "{extra}");
    }
    let subscription = subscribe(&mut world, &customer, &price, "");
    let id = subscription["id"].as_str().unwrap();
    let item = subscription["items"]["data"][0]["id"].as_str().unwrap();
    let path = format!("subscriptions/{id}");
    let change = format!("items[0][id]={item}&items[0][quantity]=2");
    let prorated = world.call(Verb::Post, &path, &change).unwrap_err();
    assert_eq!(prorated.param.as_deref(), Some("proration_behavior"));
    let changed = world.post(&path, &format!("{change}&proration_behavior=none"));
    assert_eq!(changed["items"]["data"][0]["quantity"], 2);
}
