//! The Stripe actions, as data: WeWeb's 38 and ten more that move invoices,
//! payment intents and payment methods on in their life, 48 in all, each
//! one Stripe API call.
//!
//! Inputs carry Stripe's parameter names, so Stripe's API reference is their
//! documentation too; the loader checks the top-level names and the literal
//! types, and the nested shapes are Stripe's to check (the sandbox names the
//! parameter it refuses, as Stripe does). Parameters that have no summary here
//! are documented as "as in Stripe's API".

use super::{ActionSpec, Endpoint, Family, InputKind, InputSpec, Method, input};
use InputKind::{Amount, Any, Boolean, Choice, Integer, List, Map, String, Timestamp};

/// A parameter passed on to Stripe as it is.
const fn param(name: &'static str, kind: InputKind) -> InputSpec {
    input(name, kind, false, "")
}

const fn required(name: &'static str, kind: InputKind, summary: &'static str) -> InputSpec {
    input(name, kind, true, summary)
}

const fn optional(name: &'static str, kind: InputKind, summary: &'static str) -> InputSpec {
    input(name, kind, false, summary)
}

const fn id(object: &'static str) -> InputSpec {
    InputSpec {
        name: "id",
        kind: String,
        required: true,
        summary: object,
    }
}

const EXPAND: InputSpec = optional(
    "expand",
    List,
    "Fields to expand into full objects, e.g. `[customer, latest_charge]`.",
);
const METADATA: InputSpec = optional(
    "metadata",
    Map,
    "Your own key-value pairs, kept on the object (up to 50 keys).",
);
const LIMIT: InputSpec = optional(
    "limit",
    Integer,
    "At most this many objects (1 to 100, default 10).",
);
const STARTING_AFTER: InputSpec = optional(
    "starting_after",
    String,
    "The id of the last object of the previous page.",
);
const ENDING_BEFORE: InputSpec = optional(
    "ending_before",
    String,
    "The id of the first object of the next page, to page backwards.",
);
const CREATED: InputSpec = optional(
    "created",
    Any,
    "A Unix timestamp, or a range such as `{gte: 1700000000}`.",
);
const CUSTOMER: InputSpec = optional("customer", String, "A customer id (`cus_…`).");
const CURRENCY: InputSpec = optional(
    "currency",
    String,
    "A three-letter ISO currency code in lower case, e.g. `usd`.",
);
const DESCRIPTION: InputSpec = optional("description", String, "Free text, shown in Stripe.");

/// The inputs of `groups`, one group after another, as one list: an action
/// writes its own inputs and names the field lists it shares with its
/// siblings, rather than copying them. `N` is the list's declared length, and
/// a wrong one fails the build, since the list is made at compile time.
const fn concat<const N: usize>(groups: &[&[InputSpec]]) -> [InputSpec; N] {
    // Every place is overwritten below; the filler only gives the array a start.
    let mut list = [param("", Any); N];
    let mut filled = 0;
    let mut group = 0;
    while group < groups.len() {
        let mut at = 0;
        while at < groups[group].len() {
            assert!(filled < N, "more inputs than the declared length");
            list[filled] = groups[group][at];
            filled += 1;
            at += 1;
        }
        group += 1;
    }
    assert!(filled == N, "fewer inputs than the declared length");
    list
}

const LIST_PAGING: [InputSpec; 4] = [LIMIT, STARTING_AFTER, ENDING_BEFORE, EXPAND];

const fn get(path: &'static str) -> Option<Endpoint> {
    Some(Endpoint {
        method: Method::Get,
        path,
        fixed: &[],
    })
}

const fn post(path: &'static str) -> Option<Endpoint> {
    Some(Endpoint {
        method: Method::Post,
        path,
        fixed: &[],
    })
}

const fn delete(path: &'static str) -> Option<Endpoint> {
    Some(Endpoint {
        method: Method::Delete,
        path,
        fixed: &[],
    })
}

const fn action(
    name: &'static str,
    summary: &'static str,
    endpoint: Option<Endpoint>,
    inputs: &'static [InputSpec],
    result: &'static str,
    example: &'static str,
) -> ActionSpec {
    ActionSpec {
        name,
        family: Family::Stripe,
        summary,
        inputs,
        requires_one_of: &[],
        result,
        endpoint,
        example,
    }
}

const LIST_RESULT: &str = "Stripe's list: `data` (the objects, newest first), `has_more`, `url`.";

mod inputs;
#[cfg(test)]
mod tests;
mod transitions;

use inputs::*;
use transitions::*;

/// The Stripe actions: products, prices, customers, payment methods,
/// invoices, subscriptions, payment intents, refunds, checkout sessions and
/// invoice items.
pub static ACTIONS: &[ActionSpec] = &[
    action(
        "stripe.list_products",
        "Lists products, newest first.",
        get("/products"),
        &LIST_PRODUCTS,
        LIST_RESULT,
        r#"- id: products
  action: stripe.list_products
  with: { active: true, limit: 20 }"#,
    ),
    action(
        "stripe.retrieve_product",
        "Reads one product.",
        get("/products/{id}"),
        &PRODUCT_ID_EXPAND,
        "The product.",
        r#"- id: product
  action: stripe.retrieve_product
  with: { id: "{{ context.parameters.product_id }}" }"#,
    ),
    action(
        "stripe.create_product",
        "Creates a product.",
        post("/products"),
        &CREATE_PRODUCT,
        "The new product.",
        r#"- id: product
  action: stripe.create_product
  with:
    name: T-shirt
    description: Organic cotton, unisex
    images: ["https://shop.example/img/t-shirt.png"]
    metadata: { sku: "{{ context.parameters.sku }}" }"#,
    ),
    action(
        "stripe.update_product",
        "Changes a product; the inputs not given keep their values.",
        post("/products/{id}"),
        &UPDATE_PRODUCT,
        "The updated product.",
        r#"- id: renamed
  action: stripe.update_product
  with:
    id: "{{ context.parameters.product_id }}"
    name: "{{ context.parameters.name }}"
    default_price: "{{ steps.price.id }}""#,
    ),
    action(
        "stripe.delete_product",
        "Deletes a product that has no prices (archive one with prices: `update_product` with `active: false`).",
        delete("/products/{id}"),
        &PRODUCT_ID,
        "`{id, object: product, deleted: true}`.",
        r#"- id: deleted
  action: stripe.delete_product
  with: { id: "{{ context.parameters.product_id }}" }"#,
    ),
    action(
        "stripe.list_prices",
        "Lists prices, newest first.",
        get("/prices"),
        &LIST_PRICES,
        LIST_RESULT,
        r#"- id: prices
  action: stripe.list_prices
  with: { product: "{{ steps.product.id }}", active: true, type: recurring }"#,
    ),
    action(
        "stripe.retrieve_price",
        "Reads one price.",
        get("/prices/{id}"),
        &PRICE_ID_EXPAND,
        "The price.",
        r#"- id: price
  action: stripe.retrieve_price
  with: { id: "{{ context.parameters.price_id }}", expand: [product] }"#,
    ),
    action(
        "stripe.create_price",
        "Creates a price for a product (one-time, or recurring with `recurring`).",
        post("/prices"),
        &CREATE_PRICE,
        "The new price.",
        r#"- id: price
  action: stripe.create_price
  with:
    product: "{{ steps.product.id }}"
    currency: usd
    unit_amount: 1500
    recurring: { interval: month }
    lookup_key: pro-monthly"#,
    ),
    action(
        "stripe.update_price",
        "Changes a price's metadata, nickname, lookup key or active flag (Stripe never changes an amount).",
        post("/prices/{id}"),
        &UPDATE_PRICE,
        "The updated price.",
        r#"- id: relabeled
  action: stripe.update_price
  with: { id: "{{ steps.price.id }}", nickname: Launch offer, metadata: { campaign: spring } }"#,
    ),
    ActionSpec {
        endpoint: Some(Endpoint {
            method: Method::Post,
            path: "/prices/{id}",
            fixed: &[("active", "false")],
        }),
        ..action(
            "stripe.deactivate_price",
            "Deactivates a price, so that new purchases cannot use it (Stripe never deletes prices).",
            None,
            &PRICE_ID_EXPAND,
            "The price, with `active: false`.",
            r#"- id: retired
  action: stripe.deactivate_price
  with: { id: "{{ context.parameters.price_id }}" }"#,
        )
    },
    action(
        "stripe.list_customers",
        "Lists customers, newest first.",
        get("/customers"),
        &LIST_CUSTOMERS,
        LIST_RESULT,
        r#"- id: existing
  action: stripe.list_customers
  with: { email: "{{ context.parameters.email }}", limit: 1 }"#,
    ),
    action(
        "stripe.retrieve_customer",
        "Reads one customer (a deleted one is answered with `deleted: true`).",
        get("/customers/{id}"),
        &CUSTOMER_ID_EXPAND,
        "The customer.",
        r#"- id: customer
  action: stripe.retrieve_customer
  with: { id: "{{ context.parameters.customer_id }}" }"#,
    ),
    action(
        "stripe.create_customer",
        "Creates a customer.",
        post("/customers"),
        &CREATE_CUSTOMER,
        "The new customer.",
        r#"- id: customer
  action: stripe.create_customer
  with:
    email: "{{ context.parameters.email }}"
    name: "{{ context.parameters.name }}"
    metadata: { user_id: "{{ context.parameters.user_id }}" }"#,
    ),
    action(
        "stripe.update_customer",
        "Changes a customer; the inputs not given keep their values.",
        post("/customers/{id}"),
        &UPDATE_CUSTOMER,
        "The updated customer.",
        r#"- id: updated_customer
  action: stripe.update_customer
  with:
    id: "{{ steps.user.stripe_customer_id }}"
    invoice_settings: { default_payment_method: "{{ context.parameters.payment_method }}" }"#,
    ),
    action(
        "stripe.delete_customer",
        "Deletes a customer and cancels their subscriptions.",
        delete("/customers/{id}"),
        &CUSTOMER_ID,
        "`{id, object: customer, deleted: true}`.",
        r#"- id: deleted
  action: stripe.delete_customer
  with: { id: "{{ context.parameters.customer_id }}" }"#,
    ),
    action(
        "stripe.list_payment_methods",
        "Lists payment methods, newest first: a customer's, or of one type.",
        get("/payment_methods"),
        &LIST_PAYMENT_METHODS,
        LIST_RESULT,
        r#"- id: cards
  action: stripe.list_payment_methods
  with: { customer: "{{ steps.customer.id }}", type: card, limit: 10 }"#,
    ),
    action(
        "stripe.attach_payment_method",
        "Attaches a payment method to a customer, so that it can be charged again (make it the default with `update_customer`).",
        post("/payment_methods/{id}/attach"),
        &ATTACH_PAYMENT_METHOD,
        "The payment method, with its `customer`.",
        r#"- id: card
  action: stripe.attach_payment_method
  with:
    id: "{{ context.parameters.payment_method }}"
    customer: "{{ steps.customer.id }}""#,
    ),
    action(
        "stripe.detach_payment_method",
        "Detaches a payment method from its customer; it can no longer be charged.",
        post("/payment_methods/{id}/detach"),
        &DETACH_PAYMENT_METHOD,
        "The payment method, with `customer: null`.",
        r#"- id: removed_card
  action: stripe.detach_payment_method
  with: { id: "{{ context.parameters.payment_method }}" }"#,
    ),
    action(
        "stripe.list_invoices",
        "Lists invoices, newest first.",
        get("/invoices"),
        &LIST_INVOICES,
        LIST_RESULT,
        r#"- id: invoices
  action: stripe.list_invoices
  with: { customer: "{{ steps.customer.id }}", status: open, limit: 10 }"#,
    ),
    action(
        "stripe.retrieve_invoice",
        "Reads one invoice.",
        get("/invoices/{id}"),
        &INVOICE_ID_EXPAND,
        "The invoice.",
        r#"- id: invoice
  action: stripe.retrieve_invoice
  with: { id: "{{ context.parameters.invoice_id }}", expand: [customer] }"#,
    ),
    action(
        "stripe.create_invoice",
        "Creates a draft invoice for a customer; add lines with `create_invoice_item`.",
        post("/invoices"),
        &CREATE_INVOICE,
        "The new draft invoice.",
        r#"- id: invoice
  action: stripe.create_invoice
  with:
    customer: "{{ steps.customer.id }}"
    collection_method: send_invoice
    days_until_due: 30
    metadata: { order_id: "{{ steps.order.id }}" }"#,
    ),
    action(
        "stripe.update_invoice",
        "Changes an invoice (most fields only while it is a draft).",
        post("/invoices/{id}"),
        &UPDATE_INVOICE,
        "The updated invoice.",
        r#"- id: updated_invoice
  action: stripe.update_invoice
  with:
    id: "{{ steps.invoice.id }}"
    description: "Order {{ steps.order.id }}"
    footer: Thank you for your order."#,
    ),
    action(
        "stripe.delete_invoice",
        "Deletes a draft invoice (finalized invoices can only be voided).",
        delete("/invoices/{id}"),
        &INVOICE_ID,
        "`{id, object: invoice, deleted: true}`.",
        r#"- id: deleted
  action: stripe.delete_invoice
  with: { id: "{{ steps.invoice.id }}" }"#,
    ),
    action(
        "stripe.finalize_invoice",
        "Finalizes a draft invoice: it gets its number and is due (one with nothing to pay is paid at once).",
        post("/invoices/{id}/finalize"),
        &FINALIZE_INVOICE,
        "The invoice, with `status: open` (or `paid`), its `number` and `hosted_invoice_url`.",
        r#"- id: finalized
  action: stripe.finalize_invoice
  with: { id: "{{ steps.invoice.id }}", auto_advance: false }"#,
    ),
    action(
        "stripe.pay_invoice",
        "Pays an invoice now: charges a payment method, or marks it paid outside of Stripe.",
        post("/invoices/{id}/pay"),
        &PAY_INVOICE,
        "The invoice, with `status: paid`; a declined card fails the step with `StripeCardError`.",
        r#"- id: paid_invoice
  action: stripe.pay_invoice
  with:
    id: "{{ steps.invoice.id }}"
    payment_method: "{{ context.parameters.payment_method }}""#,
    ),
    action(
        "stripe.send_invoice",
        "Emails an invoice whose `collection_method` is `send_invoice` to its customer, finalizing a draft first.",
        post("/invoices/{id}/send"),
        &INVOICE_TRANSITION,
        "The invoice (`status: open`, or `paid`).",
        r#"- id: sent
  action: stripe.send_invoice
  with: { id: "{{ steps.invoice.id }}" }"#,
    ),
    action(
        "stripe.void_invoice",
        "Voids an open or uncollectible invoice: it stays on record but can no longer be paid (delete a draft instead).",
        post("/invoices/{id}/void"),
        &INVOICE_TRANSITION,
        "The invoice, with `status: void`.",
        r#"- id: voided
  action: stripe.void_invoice
  with: { id: "{{ context.parameters.invoice_id }}" }"#,
    ),
    action(
        "stripe.mark_invoice_uncollectible",
        "Marks an open invoice as uncollectible, a bad debt; it can still be paid or voided later.",
        post("/invoices/{id}/mark_uncollectible"),
        &INVOICE_TRANSITION,
        "The invoice, with `status: uncollectible`.",
        r#"- id: written_off
  action: stripe.mark_invoice_uncollectible
  with: { id: "{{ context.parameters.invoice_id }}" }"#,
    ),
    action(
        "stripe.list_subscriptions",
        "Lists subscriptions, newest first (not canceled ones unless `status` says so).",
        get("/subscriptions"),
        &LIST_SUBSCRIPTIONS,
        LIST_RESULT,
        r#"- id: subscriptions
  action: stripe.list_subscriptions
  with: { customer: "{{ steps.customer.id }}", status: active }"#,
    ),
    action(
        "stripe.retrieve_subscription",
        "Reads one subscription.",
        get("/subscriptions/{id}"),
        &SUBSCRIPTION_ID_EXPAND,
        "The subscription.",
        r#"- id: subscription
  action: stripe.retrieve_subscription
  with: { id: "{{ context.parameters.subscription_id }}", expand: [latest_invoice] }"#,
    ),
    action(
        "stripe.create_subscription",
        "Subscribes a customer to recurring prices; the first invoice is charged at once unless there is a trial.",
        post("/subscriptions"),
        &CREATE_SUBSCRIPTION,
        "The new subscription (`status`: active, trialing, incomplete...).",
        r#"- id: subscription
  action: stripe.create_subscription
  with:
    customer: "{{ steps.customer.id }}"
    items: [{ price: "{{ context.parameters.price_id }}", quantity: 1 }]
    trial_period_days: 14
    metadata: { plan: pro }"#,
    ),
    action(
        "stripe.update_subscription",
        "Changes a subscription: its items, trial, cancellation at period end, metadata...",
        post("/subscriptions/{id}"),
        &UPDATE_SUBSCRIPTION,
        "The updated subscription.",
        r#"- id: upgraded
  action: stripe.update_subscription
  with:
    id: "{{ steps.subscription.id }}"
    items: [{ id: "{{ steps.subscription.items.data[0].id }}", price: "{{ context.parameters.price_id }}" }]
    proration_behavior: create_prorations"#,
    ),
    action(
        "stripe.cancel_subscription",
        "Cancels a subscription now (to cancel at the period's end, use `update_subscription` with `cancel_at_period_end: true`).",
        delete("/subscriptions/{id}"),
        &CANCEL_SUBSCRIPTION,
        "The subscription, with `status: canceled`.",
        r#"- id: canceled
  action: stripe.cancel_subscription
  with:
    id: "{{ context.parameters.subscription_id }}"
    cancellation_details: { feedback: too_expensive, comment: "{{ context.parameters.comment }}" }"#,
    ),
    action(
        "stripe.list_payment_intents",
        "Lists payment intents, newest first.",
        get("/payment_intents"),
        &LIST_PAYMENT_INTENTS,
        LIST_RESULT,
        r#"- id: payments
  action: stripe.list_payment_intents
  with: { customer: "{{ steps.customer.id }}", limit: 5 }"#,
    ),
    action(
        "stripe.retrieve_payment_intent",
        "Reads one payment intent.",
        get("/payment_intents/{id}"),
        &PAYMENT_INTENT_ID_EXPAND,
        "The payment intent.",
        r#"- id: payment
  action: stripe.retrieve_payment_intent
  with: { id: "{{ context.parameters.payment_intent }}", expand: [latest_charge] }"#,
    ),
    action(
        "stripe.create_payment_intent",
        "Creates a payment intent; with `confirm: true` and a `payment_method`, charges it at once.",
        post("/payment_intents"),
        &CREATE_PAYMENT_INTENT,
        "The payment intent (`status`: requires_payment_method, succeeded...; `client_secret` for the front end).",
        r#"- id: payment
  action: stripe.create_payment_intent
  with:
    amount: "{{ steps.order.amount }}"
    currency: usd
    customer: "{{ steps.customer.id }}"
    automatic_payment_methods: { enabled: true }
    metadata: { order_id: "{{ steps.order.id }}" }"#,
    ),
    action(
        "stripe.update_payment_intent",
        "Changes a payment intent that is not yet paid.",
        post("/payment_intents/{id}"),
        &UPDATE_PAYMENT_INTENT,
        "The updated payment intent.",
        r#"- id: repriced
  action: stripe.update_payment_intent
  with:
    id: "{{ context.parameters.payment_intent }}"
    amount: "{{ to_minor_units(context.parameters.total, `eur`) }}"
    receipt_email: "{{ context.parameters.email }}""#,
    ),
    action(
        "stripe.cancel_payment_intent",
        "Cancels a payment intent that is not yet paid.",
        post("/payment_intents/{id}/cancel"),
        &CANCEL_PAYMENT_INTENT,
        "The payment intent, with `status: canceled`.",
        r#"- id: canceled
  action: stripe.cancel_payment_intent
  with: { id: "{{ steps.payment.id }}", cancellation_reason: abandoned }"#,
    ),
    action(
        "stripe.confirm_payment_intent",
        "Confirms a payment intent: charges its payment method, or the one given.",
        post("/payment_intents/{id}/confirm"),
        &CONFIRM_PAYMENT_INTENT,
        "The payment intent (`status`: succeeded, requires_capture with `capture_method: manual`...); a declined card fails the step with `StripeCardError`.",
        r#"- id: confirmed
  action: stripe.confirm_payment_intent
  with:
    id: "{{ steps.payment.id }}"
    payment_method: "{{ context.parameters.payment_method }}"
    return_url: https://shop.example/orders"#,
    ),
    action(
        "stripe.capture_payment_intent",
        "Captures the money a payment intent with `capture_method: manual` authorized, wholly or in part.",
        post("/payment_intents/{id}/capture"),
        &CAPTURE_PAYMENT_INTENT,
        "The payment intent, with `status: succeeded` and `amount_received`.",
        r#"- id: captured
  action: stripe.capture_payment_intent
  with: { id: "{{ steps.payment.id }}", amount_to_capture: "{{ steps.order.amount }}" }"#,
    ),
    ActionSpec {
        requires_one_of: &["payment_intent", "charge"],
        ..action(
            "stripe.refund_payment",
            "Refunds a payment, by payment intent or charge, wholly or in part.",
            post("/refunds"),
            &REFUND_PAYMENT,
            "The refund (`status`: succeeded, pending...).",
            r#"- id: refund
  action: stripe.refund_payment
  with:
    payment_intent: "{{ context.parameters.payment_intent }}"
    amount: 500
    reason: requested_by_customer"#,
        )
    },
    action(
        "stripe.create_checkout_session",
        "Creates a Checkout Session: send the customer to its `url` to pay.",
        post("/checkout/sessions"),
        &CREATE_CHECKOUT_SESSION,
        "The session: `url` (the hosted page), `id`, `status: open`, `payment_status`...",
        r#"- id: session
  action: stripe.create_checkout_session
  with:
    mode: payment
    line_items: [{ price: "{{ context.parameters.price_id }}", quantity: 1 }]
    success_url: "https://shop.example/thanks?session={CHECKOUT_SESSION_ID}"
    cancel_url: https://shop.example/cart
    client_reference_id: "{{ steps.order.id }}""#,
    ),
    action(
        "stripe.update_checkout_session",
        "Changes an open session's metadata (or its line items and shipping options, where Stripe allows).",
        post("/checkout/sessions/{id}"),
        &UPDATE_CHECKOUT_SESSION,
        "The updated session.",
        r#"- id: tagged
  action: stripe.update_checkout_session
  with: { id: "{{ steps.session.id }}", metadata: { order_id: "{{ steps.order.id }}" } }"#,
    ),
    action(
        "stripe.retrieve_checkout_session",
        "Reads one session; `expand: [line_items]` includes what was bought.",
        get("/checkout/sessions/{id}"),
        &SESSION_ID_EXPAND,
        "The session.",
        r#"- id: session
  action: stripe.retrieve_checkout_session
  with: { id: "{{ context.parameters.session_id }}", expand: [line_items] }"#,
    ),
    action(
        "stripe.list_checkout_sessions",
        "Lists sessions, newest first.",
        get("/checkout/sessions"),
        &LIST_CHECKOUT_SESSIONS,
        LIST_RESULT,
        r#"- id: sessions
  action: stripe.list_checkout_sessions
  with: { payment_intent: "{{ context.parameters.payment_intent }}" }"#,
    ),
    action(
        "stripe.list_checkout_session_line_items",
        "Lists what a session sells.",
        get("/checkout/sessions/{id}/line_items"),
        &SESSION_LINE_ITEMS,
        "Stripe's list of line items: each has `description`, `quantity`, `amount_total`, `price`.",
        r#"- id: bought
  action: stripe.list_checkout_session_line_items
  with: { id: "{{ context.parameters.session_id }}", limit: 100 }"#,
    ),
    action(
        "stripe.expire_checkout_session",
        "Expires an open session, so that it can no longer be paid.",
        post("/checkout/sessions/{id}/expire"),
        &SESSION_ID_EXPAND,
        "The session, with `status: expired`.",
        r#"- id: expired
  action: stripe.expire_checkout_session
  with: { id: "{{ steps.order.checkout_session }}" }"#,
    ),
    action(
        "stripe.create_invoice_item",
        "Adds a line to a customer's draft invoice, or to their next one.",
        post("/invoiceitems"),
        &CREATE_INVOICE_ITEM,
        "The invoice item.",
        r#"- id: setup_fee
  action: stripe.create_invoice_item
  with:
    customer: "{{ steps.customer.id }}"
    invoice: "{{ steps.invoice.id }}"
    amount: 2500
    currency: usd
    description: Setup fee"#,
    ),
];
