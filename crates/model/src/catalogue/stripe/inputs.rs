//! The inputs of the Stripe actions, resource by resource: each action's
//! own fields and the lists it shares with its siblings. `mod.rs` pairs
//! them with their endpoints in `ACTIONS`.

use super::*;

// ----- products -----

pub(super) const PRODUCT_FIELDS: [InputSpec; 12] = [
    optional("active", Boolean, "Whether it can be bought."),
    DESCRIPTION,
    optional("images", List, "Up to 8 image URLs."),
    param("marketing_features", List),
    METADATA,
    param("package_dimensions", Map),
    param("shippable", Boolean),
    param("statement_descriptor", String),
    param("tax_code", String),
    param("unit_label", String),
    param("url", String),
    EXPAND,
];

pub(super) static CREATE_PRODUCT: [InputSpec; 15] = concat(&[
    &[
        required("name", String, "The product's name, shown to customers."),
        param("default_price_data", Map),
        param("id", String),
    ],
    &PRODUCT_FIELDS,
]);

pub(super) static UPDATE_PRODUCT: [InputSpec; 15] = concat(&[
    &[
        id("The product's id (`prod_…`)."),
        optional("name", String, "The product's name, shown to customers."),
        param("default_price", String),
    ],
    &PRODUCT_FIELDS,
]);

pub(super) static LIST_PRODUCTS: [InputSpec; 9] = concat(&[
    &[
        optional(
            "active",
            Boolean,
            "Only active (true) or archived (false) products.",
        ),
        CREATED,
        param("ids", List),
        param("shippable", Boolean),
        param("url", String),
    ],
    &LIST_PAGING,
]);

pub(super) static PRODUCT_ID_EXPAND: [InputSpec; 2] = [id("The product's id (`prod_…`)."), EXPAND];
pub(super) static PRODUCT_ID: [InputSpec; 1] = [id("The product's id (`prod_…`).")];

// ----- prices -----

pub(super) static CREATE_PRICE: [InputSpec; 19] = [
    required(
        "currency",
        String,
        "A three-letter ISO currency code, e.g. `usd`.",
    ),
    optional(
        "unit_amount",
        Amount,
        "The price in the smallest currency unit (1999 for 19.99).",
    ),
    optional(
        "product",
        String,
        "The product's id; or give `product_data` to create one.",
    ),
    optional(
        "product_data",
        Map,
        "A new product for this price: `{name: T-shirt}`.",
    ),
    optional(
        "recurring",
        Map,
        "For subscriptions: `{interval: month}` (day, week, month or year), `interval_count`.",
    ),
    optional(
        "nickname",
        String,
        "A name for the price, not shown to customers.",
    ),
    optional("lookup_key", String, "A stable key to find the price by."),
    optional(
        "active",
        Boolean,
        "Whether new purchases may use it (default true).",
    ),
    param("billing_scheme", Choice(&["per_unit", "tiered"])),
    param("currency_options", Map),
    param("custom_unit_amount", Map),
    param(
        "tax_behavior",
        Choice(&["exclusive", "inclusive", "unspecified"]),
    ),
    param("tiers", List),
    param("tiers_mode", Choice(&["graduated", "volume"])),
    param("transfer_lookup_key", Boolean),
    param("transform_quantity", Map),
    param("unit_amount_decimal", String),
    METADATA,
    EXPAND,
];

pub(super) static UPDATE_PRICE: [InputSpec; 9] = [
    id("The price's id (`price_…`)."),
    optional("active", Boolean, "Whether new purchases may use it."),
    optional(
        "nickname",
        String,
        "A name for the price, not shown to customers.",
    ),
    optional("lookup_key", String, "A stable key to find the price by."),
    param("currency_options", Map),
    param(
        "tax_behavior",
        Choice(&["exclusive", "inclusive", "unspecified"]),
    ),
    param("transfer_lookup_key", Boolean),
    METADATA,
    EXPAND,
];

pub(super) static LIST_PRICES: [InputSpec; 11] = concat(&[
    &[
        optional(
            "active",
            Boolean,
            "Only active (true) or inactive (false) prices.",
        ),
        optional("product", String, "Only the prices of this product."),
        optional(
            "type",
            Choice(&["one_time", "recurring"]),
            "Only one-time or recurring prices.",
        ),
        CURRENCY,
        param("lookup_keys", List),
        param("recurring", Map),
        CREATED,
    ],
    &LIST_PAGING,
]);

pub(super) static PRICE_ID_EXPAND: [InputSpec; 2] = [id("The price's id (`price_…`)."), EXPAND];

// ----- customers -----

pub(super) const CUSTOMER_FIELDS: [InputSpec; 17] = [
    optional("email", String, "The customer's email address."),
    optional("name", String, "The customer's full name or business name."),
    optional("phone", String, "The customer's phone number."),
    DESCRIPTION,
    METADATA,
    optional(
        "address",
        Map,
        "`{line1, line2, city, postal_code, state, country}`.",
    ),
    optional("shipping", Map, "`{name, address, phone}`."),
    optional(
        "invoice_settings",
        Map,
        "e.g. `{default_payment_method: pm_…}`, the method invoices are charged to.",
    ),
    param("balance", Integer),
    param("cash_balance", Map),
    param("invoice_prefix", String),
    param("next_invoice_sequence", Integer),
    param("preferred_locales", List),
    param("source", String),
    param("tax", Map),
    param("tax_exempt", Choice(&["exempt", "none", "reverse"])),
    EXPAND,
];

pub(super) static CREATE_CUSTOMER: [InputSpec; 20] = concat(&[
    &CUSTOMER_FIELDS,
    &[
        optional(
            "payment_method",
            String,
            "A payment method to attach to the new customer (`pm_…`).",
        ),
        param("tax_id_data", List),
        param("test_clock", String),
    ],
]);

pub(super) static UPDATE_CUSTOMER: [InputSpec; 19] = concat(&[
    &[id("The customer's id (`cus_…`).")],
    &CUSTOMER_FIELDS,
    &[param("default_source", String)],
]);

pub(super) static LIST_CUSTOMERS: [InputSpec; 7] = concat(&[
    &[
        optional(
            "email",
            String,
            "Only customers with exactly this email address.",
        ),
        CREATED,
        param("test_clock", String),
    ],
    &LIST_PAGING,
]);

pub(super) static CUSTOMER_ID_EXPAND: [InputSpec; 2] = [id("The customer's id (`cus_…`)."), EXPAND];
pub(super) static CUSTOMER_ID: [InputSpec; 1] = [id("The customer's id (`cus_…`).")];

// ----- invoices -----

pub(super) const INVOICE_FIELDS: [InputSpec; 20] = [
    optional(
        "auto_advance",
        Boolean,
        "Whether Stripe finalizes the draft by itself.",
    ),
    optional(
        "collection_method",
        Choice(&["charge_automatically", "send_invoice"]),
        "Charge the customer's payment method, or email the invoice.",
    ),
    optional(
        "days_until_due",
        Integer,
        "For `send_invoice`: days until it is due.",
    ),
    optional("due_date", Timestamp, "For `send_invoice`: when it is due."),
    optional(
        "default_payment_method",
        String,
        "The payment method to charge (`pm_…`).",
    ),
    DESCRIPTION,
    optional("footer", String, "Text at the bottom of the invoice."),
    METADATA,
    param("automatic_tax", Map),
    param("custom_fields", List),
    param("default_source", String),
    param("default_tax_rates", List),
    param("discounts", List),
    param("on_behalf_of", String),
    param("payment_settings", Map),
    param("rendering", Map),
    param("shipping_cost", Map),
    param("shipping_details", Map),
    param("statement_descriptor", String),
    EXPAND,
];

pub(super) static CREATE_INVOICE: [InputSpec; 24] = concat(&[
    &[
        optional("customer", String, "The customer billed (`cus_…`)."),
        optional(
            "subscription",
            String,
            "The subscription whose pending items to bill.",
        ),
        CURRENCY,
        optional(
            "pending_invoice_items_behavior",
            Choice(&["exclude", "include"]),
            "Whether the customer's pending invoice items join this invoice.",
        ),
    ],
    &INVOICE_FIELDS,
]);

pub(super) static UPDATE_INVOICE: [InputSpec; 21] =
    concat(&[&[id("The invoice's id (`in_…`).")], &INVOICE_FIELDS]);

pub(super) static LIST_INVOICES: [InputSpec; 10] = concat(&[
    &[
        CUSTOMER,
        optional(
            "status",
            Choice(&["draft", "open", "paid", "uncollectible", "void"]),
            "Only invoices in this state.",
        ),
        optional(
            "subscription",
            String,
            "Only the invoices of this subscription.",
        ),
        param(
            "collection_method",
            Choice(&["charge_automatically", "send_invoice"]),
        ),
        param("due_date", Any),
        CREATED,
    ],
    &LIST_PAGING,
]);

pub(super) static INVOICE_ID_EXPAND: [InputSpec; 2] = [id("The invoice's id (`in_…`)."), EXPAND];
pub(super) static INVOICE_ID: [InputSpec; 1] = [id("The invoice's id (`in_…`), a draft.")];

// ----- subscriptions -----

pub(super) const SUBSCRIPTION_FIELDS: [InputSpec; 24] = [
    optional(
        "items",
        List,
        "The prices subscribed to: `[{price: price_…, quantity: 1}]`.",
    ),
    optional(
        "default_payment_method",
        String,
        "The payment method to charge (`pm_…`).",
    ),
    optional(
        "payment_behavior",
        Choice(&[
            "allow_incomplete",
            "default_incomplete",
            "error_if_incomplete",
            "pending_if_incomplete",
        ]),
        "What happens when the first payment needs the customer or fails.",
    ),
    optional(
        "trial_end",
        Timestamp,
        "When the trial ends; `now` ends it at once.",
    ),
    optional(
        "cancel_at_period_end",
        Boolean,
        "Cancel when the current period ends.",
    ),
    optional("cancel_at", Timestamp, "Cancel at this time."),
    optional(
        "collection_method",
        Choice(&["charge_automatically", "send_invoice"]),
        "Charge the customer's payment method, or email invoices.",
    ),
    optional(
        "days_until_due",
        Integer,
        "For `send_invoice`: days until each invoice is due.",
    ),
    optional(
        "proration_behavior",
        Choice(&["always_invoice", "create_prorations", "none"]),
        "How a change mid-period is billed.",
    ),
    DESCRIPTION,
    METADATA,
    param("add_invoice_items", List),
    param("application_fee_percent", Any),
    param("automatic_tax", Map),
    param("billing_cycle_anchor", Any),
    param("default_source", String),
    param("default_tax_rates", List),
    param("discounts", List),
    param("off_session", Boolean),
    param("payment_settings", Map),
    param("pending_invoice_item_interval", Any),
    param("trial_from_plan", Boolean),
    param("trial_settings", Map),
    EXPAND,
];

pub(super) static CREATE_SUBSCRIPTION: [InputSpec; 28] = concat(&[
    &[
        required("customer", String, "The customer subscribing (`cus_…`)."),
        optional(
            "trial_period_days",
            Integer,
            "Days of free trial before the first payment.",
        ),
        CURRENCY,
        param("backdate_start_date", Timestamp),
    ],
    &SUBSCRIPTION_FIELDS,
]);

pub(super) static UPDATE_SUBSCRIPTION: [InputSpec; 28] = concat(&[
    &[
        id("The subscription's id (`sub_…`)."),
        param("cancellation_details", Map),
        param("pause_collection", Any),
        param("proration_date", Timestamp),
    ],
    &SUBSCRIPTION_FIELDS,
]);

pub(super) static CANCEL_SUBSCRIPTION: [InputSpec; 5] = [
    id("The subscription's id (`sub_…`)."),
    optional(
        "cancellation_details",
        Map,
        "`{comment, feedback}`: why the customer left.",
    ),
    optional(
        "invoice_now",
        Boolean,
        "Bill pending usage and prorations now.",
    ),
    optional("prorate", Boolean, "Credit the unused part of the period."),
    EXPAND,
];

pub(super) static LIST_SUBSCRIPTIONS: [InputSpec; 12] = concat(&[
    &[
        CUSTOMER,
        optional(
            "status",
            Choice(&[
                "active",
                "all",
                "canceled",
                "ended",
                "incomplete",
                "incomplete_expired",
                "past_due",
                "paused",
                "trialing",
                "unpaid",
            ]),
            "Only subscriptions in this state (`all` includes canceled ones).",
        ),
        optional("price", String, "Only subscriptions to this price."),
        param("automatic_tax", Map),
        param(
            "collection_method",
            Choice(&["charge_automatically", "send_invoice"]),
        ),
        param("current_period_end", Any),
        param("current_period_start", Any),
        param("test_clock", String),
    ],
    &LIST_PAGING,
]);

pub(super) static SUBSCRIPTION_ID_EXPAND: [InputSpec; 2] =
    [id("The subscription's id (`sub_…`)."), EXPAND];

// ----- payment intents -----

pub(super) const PAYMENT_INTENT_FIELDS: [InputSpec; 17] = [
    optional("customer", String, "The customer paying (`cus_…`)."),
    optional(
        "payment_method",
        String,
        "The payment method to charge (`pm_…`).",
    ),
    optional(
        "capture_method",
        Choice(&["automatic", "automatic_async", "manual"]),
        "`manual` to authorize now and capture later.",
    ),
    DESCRIPTION,
    optional("receipt_email", String, "Where Stripe emails the receipt."),
    optional(
        "setup_future_usage",
        Choice(&["off_session", "on_session"]),
        "Keep the payment method for later payments.",
    ),
    METADATA,
    param("application_fee_amount", Amount),
    param("payment_method_options", Map),
    param("payment_method_types", List),
    param("shipping", Map),
    param("statement_descriptor", String),
    param("statement_descriptor_suffix", String),
    param("transfer_data", Map),
    param("transfer_group", String),
    param("payment_method_configuration", String),
    EXPAND,
];

pub(super) static CREATE_PAYMENT_INTENT: [InputSpec; 27] = concat(&[
    &[
        required(
            "amount",
            Amount,
            "The amount in the smallest currency unit (1999 for 19.99).",
        ),
        required(
            "currency",
            String,
            "A three-letter ISO currency code, e.g. `usd`.",
        ),
        optional("confirm", Boolean, "Confirm (charge) at once."),
        optional(
            "automatic_payment_methods",
            Map,
            "`{enabled: true}` to let Stripe choose the payment methods.",
        ),
        optional(
            "return_url",
            String,
            "Where to send the customer after a redirect.",
        ),
        optional(
            "off_session",
            Boolean,
            "The customer is not present (with `confirm`).",
        ),
        param("confirmation_method", Choice(&["automatic", "manual"])),
        param("error_on_requires_action", Boolean),
        param("on_behalf_of", String),
        param("use_stripe_sdk", Boolean),
    ],
    &PAYMENT_INTENT_FIELDS,
]);

pub(super) static UPDATE_PAYMENT_INTENT: [InputSpec; 20] = concat(&[
    &[
        id("The payment intent's id (`pi_…`)."),
        optional(
            "amount",
            Amount,
            "The new amount in the smallest currency unit.",
        ),
        CURRENCY,
    ],
    &PAYMENT_INTENT_FIELDS,
]);

pub(super) static CANCEL_PAYMENT_INTENT: [InputSpec; 3] = [
    id("The payment intent's id (`pi_…`)."),
    optional(
        "cancellation_reason",
        Choice(&[
            "abandoned",
            "duplicate",
            "fraudulent",
            "requested_by_customer",
        ]),
        "Why it is canceled.",
    ),
    EXPAND,
];

pub(super) static LIST_PAYMENT_INTENTS: [InputSpec; 6] =
    concat(&[&[CUSTOMER, CREATED], &LIST_PAGING]);

pub(super) static PAYMENT_INTENT_ID_EXPAND: [InputSpec; 3] = [
    id("The payment intent's id (`pi_…`)."),
    param("client_secret", String),
    EXPAND,
];

// ----- refunds -----

pub(super) static REFUND_PAYMENT: [InputSpec; 9] = [
    optional("payment_intent", String, "The payment to refund (`pi_…`)."),
    optional("charge", String, "Or the charge to refund (`ch_…`)."),
    optional(
        "amount",
        Amount,
        "Part of the payment to refund, in the smallest currency unit; leave it out (or empty) to refund all that is left.",
    ),
    optional(
        "reason",
        Choice(&["duplicate", "fraudulent", "requested_by_customer"]),
        "Why, as Stripe records it.",
    ),
    METADATA,
    param("instructions_email", String),
    param("refund_application_fee", Boolean),
    param("reverse_transfer", Boolean),
    EXPAND,
];

// ----- checkout sessions -----

pub(super) static CREATE_CHECKOUT_SESSION: [InputSpec; 41] = [
    required(
        "mode",
        Choice(&["payment", "setup", "subscription"]),
        "`payment` for one-off payments, `subscription` for recurring prices.",
    ),
    optional(
        "line_items",
        List,
        "What is bought: `[{price: price_…, quantity: 1}]` or `[{price_data: {currency, unit_amount, product_data: {name}}, quantity}]`.",
    ),
    optional(
        "success_url",
        String,
        "Where the customer lands after paying; `{CHECKOUT_SESSION_ID}` is replaced by the session's id.",
    ),
    optional(
        "cancel_url",
        String,
        "Where the customer lands on going back.",
    ),
    optional("customer", String, "An existing customer (`cus_…`)."),
    optional(
        "customer_email",
        String,
        "Prefills the email of a new customer.",
    ),
    optional(
        "client_reference_id",
        String,
        "Your own reference (an order id), kept on the session.",
    ),
    METADATA,
    optional(
        "subscription_data",
        Map,
        "For `subscription` mode: `{trial_period_days, metadata, description}`.",
    ),
    optional(
        "payment_intent_data",
        Map,
        "For `payment` mode: `{metadata, description, capture_method, receipt_email}`.",
    ),
    optional(
        "expires_at",
        Timestamp,
        "When the session expires (30 minutes to 24 hours).",
    ),
    optional(
        "allow_promotion_codes",
        Boolean,
        "Let the customer enter a promotion code.",
    ),
    optional(
        "customer_creation",
        Choice(&["always", "if_required"]),
        "For `payment` mode: whether a customer is always created.",
    ),
    optional(
        "locale",
        String,
        "The page's language, e.g. `fr` or `auto`.",
    ),
    optional("payment_method_types", List, "e.g. `[card]`."),
    optional(
        "ui_mode",
        Choice(&[
            "elements",
            "embedded_page",
            "form",
            "hosted_page",
            "custom",
            "embedded",
            "hosted",
        ]),
        "The hosted page (default), or an embedded one.",
    ),
    optional(
        "return_url",
        String,
        "For embedded pages: where the customer returns.",
    ),
    CURRENCY,
    param("automatic_tax", Map),
    param("billing_address_collection", Choice(&["auto", "required"])),
    param("consent_collection", Map),
    param("custom_fields", List),
    param("custom_text", Map),
    param("customer_update", Map),
    param("discounts", List),
    param("invoice_creation", Map),
    param(
        "payment_method_collection",
        Choice(&["always", "if_required"]),
    ),
    param("payment_method_configuration", String),
    param("payment_method_options", Map),
    param("phone_number_collection", Map),
    param(
        "redirect_on_completion",
        Choice(&["always", "if_required", "never"]),
    ),
    param("saved_payment_method_options", Map),
    param("setup_intent_data", Map),
    param("shipping_address_collection", Map),
    param("shipping_options", List),
    param(
        "submit_type",
        Choice(&["auto", "book", "donate", "pay", "subscribe"]),
    ),
    param("tax_id_collection", Map),
    param("adaptive_pricing", Map),
    param("optional_items", List),
    param("permissions", Map),
    EXPAND,
];

pub(super) static UPDATE_CHECKOUT_SESSION: [InputSpec; 6] = [
    id("The session's id (`cs_…`)."),
    METADATA,
    param("collected_information", Map),
    param("line_items", List),
    param("shipping_options", List),
    EXPAND,
];

pub(super) static LIST_CHECKOUT_SESSIONS: [InputSpec; 11] = concat(&[
    &[
        CUSTOMER,
        optional(
            "status",
            Choice(&["complete", "expired", "open"]),
            "Only sessions in this state.",
        ),
        optional("payment_intent", String, "The session of this payment."),
        optional("subscription", String, "The session of this subscription."),
        param("customer_details", Map),
        param("payment_link", String),
        param("created", Any),
    ],
    &LIST_PAGING,
]);

pub(super) static SESSION_ID_EXPAND: [InputSpec; 2] = [id("The session's id (`cs_…`)."), EXPAND];

pub(super) static SESSION_LINE_ITEMS: [InputSpec; 5] =
    concat(&[&[id("The session's id (`cs_…`).")], &LIST_PAGING]);

// ----- invoice items -----

pub(super) static CREATE_INVOICE_ITEM: [InputSpec; 18] = [
    required("customer", String, "The customer billed (`cus_…`)."),
    optional(
        "amount",
        Amount,
        "The amount in the smallest currency unit (may not be negative here).",
    ),
    CURRENCY,
    DESCRIPTION,
    optional(
        "invoice",
        String,
        "A draft invoice to add it to; else the next invoice.",
    ),
    optional(
        "quantity",
        Integer,
        "How many (with `price_data` or `pricing`).",
    ),
    optional(
        "subscription",
        String,
        "Bill it with this subscription's next invoice.",
    ),
    METADATA,
    param("discountable", Boolean),
    param("discounts", List),
    param("period", Map),
    param("price_data", Map),
    param("pricing", Map),
    param(
        "tax_behavior",
        Choice(&["exclusive", "inclusive", "unspecified"]),
    ),
    param("tax_code", String),
    param("tax_rates", List),
    param("unit_amount_decimal", String),
    EXPAND,
];
