//! The Stripe actions' entries: names, paths and inputs well formed, and the
//! load-time checks of the actions that move objects on in their life.

use super::ACTIONS;
use crate::catalogue::Method;
use crate::catalogue::tests::{problems, project_around};

#[test]
fn there_are_48_actions_with_unique_names_and_inputs() {
    assert_eq!(ACTIONS.len(), 48);
    let mut names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 48);
    for action in ACTIONS {
        assert!(action.name.starts_with("stripe."), "{}", action.name);
        let endpoint = action.endpoint.expect("a Stripe action calls Stripe");
        let mut inputs: Vec<&str> = action.inputs.iter().map(|i| i.name).collect();
        inputs.sort();
        let count = inputs.len();
        inputs.dedup();
        assert_eq!(inputs.len(), count, "{} repeats an input", action.name);
        // Every `{name}` of the path is a required input.
        for segment in endpoint.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let input = action.input(name).expect("path inputs are declared");
                assert!(input.required, "{}: `{name}` is required", action.name);
            }
        }
        for name in action.requires_one_of {
            assert!(action.input(name).is_some(), "{}: {name}", action.name);
        }
    }
}

#[test]
fn the_life_of_invoices_payment_intents_and_payment_methods_calls_stripe_s_endpoints() {
    let calls: Vec<(&str, Method, &str)> = [
        "stripe.finalize_invoice",
        "stripe.pay_invoice",
        "stripe.send_invoice",
        "stripe.void_invoice",
        "stripe.mark_invoice_uncollectible",
        "stripe.confirm_payment_intent",
        "stripe.capture_payment_intent",
        "stripe.attach_payment_method",
        "stripe.detach_payment_method",
        "stripe.list_payment_methods",
    ]
    .iter()
    .map(|name| {
        let action = ACTIONS.iter().find(|a| a.name == *name).expect(name);
        let endpoint = action.endpoint.expect("an endpoint");
        (*name, endpoint.method, endpoint.path)
    })
    .collect();
    assert_eq!(
        calls,
        [
            (
                "stripe.finalize_invoice",
                Method::Post,
                "/invoices/{id}/finalize"
            ),
            ("stripe.pay_invoice", Method::Post, "/invoices/{id}/pay"),
            ("stripe.send_invoice", Method::Post, "/invoices/{id}/send"),
            ("stripe.void_invoice", Method::Post, "/invoices/{id}/void"),
            (
                "stripe.mark_invoice_uncollectible",
                Method::Post,
                "/invoices/{id}/mark_uncollectible"
            ),
            (
                "stripe.confirm_payment_intent",
                Method::Post,
                "/payment_intents/{id}/confirm"
            ),
            (
                "stripe.capture_payment_intent",
                Method::Post,
                "/payment_intents/{id}/capture"
            ),
            (
                "stripe.attach_payment_method",
                Method::Post,
                "/payment_methods/{id}/attach"
            ),
            (
                "stripe.detach_payment_method",
                Method::Post,
                "/payment_methods/{id}/detach"
            ),
            (
                "stripe.list_payment_methods",
                Method::Get,
                "/payment_methods"
            ),
        ]
    );
}

/// The problems of a project whose one API runs `steps`, each problem cut
/// down to what follows its position.
fn step_problems(steps: &str) -> Vec<String> {
    problems(&project_around(steps))
        .into_iter()
        .map(|p| match p.split_once(": ") {
            Some((_position, rest)) => rest.to_string(),
            None => p,
        })
        .collect()
}

#[test]
fn the_new_actions_inputs_are_checked_when_the_project_loads() {
    let found = step_problems(
        r#"- id: paid
  action: stripe.pay_invoice
  with: { id: in_1, paymnt_method: pm_card_visa, paid_out_of_band: "yes" }
- id: finalized
  action: stripe.finalize_invoice
  with: { auto_advance: 1 }
- id: voided
  action: stripe.void_invoice
  with: { id: in_1, invoice_now: true }
- id: confirmed
  action: stripe.confirm_payment_intent
  with: { id: pi_1, capture_method: manul }
- id: captured
  action: stripe.capture_payment_intent
  with: { id: pi_1, amount_to_capture: 19.99 }
- id: attached
  action: stripe.attach_payment_method
  with: { id: pm_1 }
- id: cards
  action: stripe.list_payment_methods
  with: { customer: cus_1, limit: ten }"#,
    );
    let expected = [
        "apis.example.steps[0].with.paymnt_method: `stripe.pay_invoice` has no input `paymnt_method`\n    hint: did you mean `payment_method`?",
        "apis.example.steps[0].with.paid_out_of_band: `paid_out_of_band` must be true or false, found a string",
        "apis.example.steps[1].with.auto_advance: `auto_advance` must be true or false, found an integer",
        "apis.example.steps[1].with: `stripe.finalize_invoice` needs the input `id`\n    hint: `id`: The invoice's id (`in_…`), a draft.",
        "apis.example.steps[2].with.invoice_now: `stripe.void_invoice` has no input `invoice_now`\n    hint: `stripe.void_invoice` takes: id, expand",
        "apis.example.steps[3].with.capture_method: `capture_method` must be one of automatic, automatic_async, manual, found a string\n    hint: did you mean `manual`?",
        "apis.example.steps[4].with.amount_to_capture: `amount_to_capture`: an amount is a whole number of the currency's smallest unit (1999 for 19.99), found 19.99; `to_minor_units(x, currency)` converts",
        "apis.example.steps[5].with: `stripe.attach_payment_method` needs the input `customer`\n    hint: `customer`: The customer it is attached to (`cus_…`).",
        "apis.example.steps[6].with.limit: `limit` must be an integer, found a string",
    ];
    for problem in &expected {
        assert!(
            found.iter().any(|f| f.ends_with(problem)),
            "missing {problem:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn update_customer_sets_the_default_payment_method_of_invoices() {
    let good = step_problems(
        r#"- id: customer
  action: stripe.update_customer
  with:
    id: cus_1
    invoice_settings: { default_payment_method: "{{ steps.card.id }}" }"#,
    );
    assert_eq!(good, Vec::<String>::new());
    let bad = step_problems(
        r#"- id: customer
  action: stripe.update_customer
  with: { id: cus_1, invoice_settings: pm_card_visa }"#,
    );
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert!(
        bad[0].ends_with("`invoice_settings` must be a mapping, found a string"),
        "{bad:#?}"
    );
}
