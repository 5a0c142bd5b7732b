//! The inputs of the Stripe actions that move an object on in its life
//! rather than set its fields: an invoice finalized, paid, voided, sent or
//! marked uncollectible, a payment intent confirmed or captured, a payment
//! method attached to a customer or detached; and the list of payment
//! methods. `inputs.rs` holds the objects' own fields, and `mod.rs` pairs
//! both with their endpoints in `ACTIONS`.

use super::*;

// ----- invoices -----

pub(super) static FINALIZE_INVOICE: [InputSpec; 3] = [
    id("The invoice's id (`in_…`), a draft."),
    optional(
        "auto_advance",
        Boolean,
        "Whether Stripe goes on to collect it by itself (charge or email it).",
    ),
    EXPAND,
];

pub(super) static PAY_INVOICE: [InputSpec; 8] = [
    id("The invoice's id (`in_…`): open or uncollectible, or a draft, which is finalized first."),
    optional(
        "payment_method",
        String,
        "The payment method to charge (`pm_…`, one of the invoice's customer); else the invoice's default, then the customer's.",
    ),
    optional(
        "paid_out_of_band",
        Boolean,
        "Mark it paid outside of Stripe (a check, a transfer), charging nothing.",
    ),
    optional(
        "off_session",
        Boolean,
        "The customer is not present to authenticate (default true).",
    ),
    optional(
        "forgive",
        Boolean,
        "Accept a partial payment when the source has too little and forgive the rest.",
    ),
    param("mandate", String),
    param("source", String),
    EXPAND,
];

/// The invoice actions that take nothing but the invoice: void, send and
/// mark uncollectible.
pub(super) static INVOICE_TRANSITION: [InputSpec; 2] = [id("The invoice's id (`in_…`)."), EXPAND];

// ----- payment intents -----

pub(super) static CONFIRM_PAYMENT_INTENT: [InputSpec; 21] = [
    id("The payment intent's id (`pi_…`)."),
    optional(
        "payment_method",
        String,
        "The payment method to charge (`pm_…`); else the one the payment intent has.",
    ),
    optional(
        "return_url",
        String,
        "Where to send the customer after a redirect (3-D Secure, a bank's page).",
    ),
    optional(
        "off_session",
        Any,
        "`true` when the customer is not present to authenticate (or `one_off`, `recurring`).",
    ),
    optional(
        "capture_method",
        Choice(&["automatic", "automatic_async", "manual"]),
        "`manual` to authorize now and capture later.",
    ),
    optional("receipt_email", String, "Where Stripe emails the receipt."),
    optional(
        "setup_future_usage",
        Choice(&["off_session", "on_session"]),
        "Keep the payment method for later payments.",
    ),
    param("amount_details", Map),
    param("confirmation_token", String),
    param("error_on_requires_action", Boolean),
    param("excluded_payment_method_types", List),
    param("hooks", Map),
    param("mandate", String),
    param("mandate_data", Map),
    param("payment_details", Map),
    param("payment_method_data", Map),
    param("payment_method_options", Map),
    param("payment_method_types", List),
    param("radar_options", Map),
    param("shipping", Map),
    EXPAND,
];

pub(super) static CAPTURE_PAYMENT_INTENT: [InputSpec; 12] = [
    id("The payment intent's id (`pi_…`), whose status is `requires_capture`."),
    optional(
        "amount_to_capture",
        Amount,
        "How much of the authorized amount to capture, in the smallest currency unit (default: all of it).",
    ),
    optional(
        "final_capture",
        Boolean,
        "Whether this is the last capture (default true); the rest is released.",
    ),
    METADATA,
    param("amount_details", Map),
    param("application_fee_amount", Amount),
    param("hooks", Map),
    param("payment_details", Map),
    param("statement_descriptor", String),
    param("statement_descriptor_suffix", String),
    param("transfer_data", Map),
    EXPAND,
];

// ----- payment methods -----

pub(super) static ATTACH_PAYMENT_METHOD: [InputSpec; 3] = [
    id("The payment method's id (`pm_…`)."),
    required(
        "customer",
        String,
        "The customer it is attached to (`cus_…`).",
    ),
    EXPAND,
];

pub(super) static DETACH_PAYMENT_METHOD: [InputSpec; 2] =
    [id("The payment method's id (`pm_…`)."), EXPAND];

pub(super) static LIST_PAYMENT_METHODS: [InputSpec; 7] = concat(&[
    &[
        optional(
            "customer",
            String,
            "Only the payment methods of this customer.",
        ),
        optional(
            "type",
            String,
            "Only payment methods of this type, e.g. `card`.",
        ),
        param(
            "allow_redisplay",
            Choice(&["always", "limited", "unspecified"]),
        ),
    ],
    &LIST_PAGING,
]);
