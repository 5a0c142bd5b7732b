//! The sandbox's REST resources: which method and path does what, and what
//! every resource shares (parameter checks, currencies, expansion, charging a
//! test card).

mod billing_cycle;
mod catalog;
mod checkout;
mod coupons;
mod disputes;
mod dunning;
mod invoice_items;
mod invoices;
mod payments;
mod plans;
mod saved_cards;
mod schedule;
mod search;
mod subscriptions;
mod tax_rates;
mod test_clocks;
mod webhook_endpoints;

use serde_json::{Map, Value, json};

use super::cards::{self, Outcome, TestCard};
use super::error::StripeError;
use super::form::{self, Param};
use super::objects;
use super::state::{Tx, random_id};

pub use checkout::{complete_session, session_page_view};
pub use dunning::{AfterRetries, Dunning};
pub use schedule::{advance_test_clock, advancing_clocks, run_until};
pub use webhook_endpoints::{WEBHOOK_ENDPOINT, endpoint_takes};

/// The HTTP methods the sandbox's API answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Delete,
}

/// Runs one API request: `segments` is the path after `/v1/`.
pub fn dispatch(
    tx: &mut Tx<'_>,
    verb: Verb,
    segments: &[&str],
    raw: Map<String, Value>,
) -> Result<Value, StripeError> {
    use Verb::*;
    if let Some(clock) = clock_of_request(tx, segments, &raw) {
        if verb != Get && clock["status"] != "ready" {
            return Err(StripeError::request(format!(
                "The test clock {} is advancing: its objects cannot change until it is ready.",
                clock["id"].as_str().unwrap_or_default()
            ))
            .with_code("test_clock_not_ready"));
        }
        tx.now = clock["frozen_time"].as_i64().unwrap_or(tx.now);
    }
    match (verb, segments) {
        (
            Get,
            [
                resource @ ("charges" | "customers" | "invoices" | "payment_intents" | "prices"
                | "products" | "subscriptions"),
                "search",
            ],
        ) => {
            let object = resource.trim_end_matches('s');
            search::search(tx, object, &format!("/v1/{resource}/search"), &raw)
        }
        (Get, ["products"]) => catalog::list_products(tx, &raw),
        (Post, ["products"]) => catalog::create_product(tx, &raw),
        (Get, ["products", id]) => retrieve(tx, "product", id, &raw),
        (Post, ["products", id]) => catalog::update_product(tx, id, &raw),
        (Delete, ["products", id]) => catalog::delete_product(tx, id),

        (Get, ["prices"]) => catalog::list_prices(tx, &raw),
        (Post, ["prices"]) => catalog::create_price(tx, &raw),
        (Get, ["prices", id]) => retrieve(tx, "price", id, &raw),
        (Post, ["prices", id]) => catalog::update_price(tx, id, &raw),

        (Get, ["customers"]) => catalog::list_customers(tx, &raw),
        (Post, ["customers"]) => catalog::create_customer(tx, &raw),
        (Get, ["customers", id]) => catalog::retrieve_customer(tx, id, &raw),
        (Post, ["customers", id]) => catalog::update_customer(tx, id, &raw),
        (Delete, ["customers", id]) => catalog::delete_customer(tx, id),
        (Get, ["customers", id, "payment_methods"]) => {
            catalog::list_customer_payment_methods(tx, id, &raw)
        }

        (Get, ["payment_methods"]) => catalog::list_payment_methods(tx, &raw),
        (Post, ["payment_methods"]) => catalog::create_payment_method(tx, &raw),
        (Get, ["payment_methods", id]) => {
            check(&[form::EXPAND], &raw)?;
            resolve_payment_method(tx, id, "id").map(|(pm, _)| pm)
        }
        (Post, ["payment_methods", id, "attach"]) => catalog::attach_payment_method(tx, id, &raw),
        (Post, ["payment_methods", id, "detach"]) => catalog::detach_payment_method(tx, id, &raw),

        (Get, ["payment_intents"]) => payments::list_payment_intents(tx, &raw),
        (Post, ["payment_intents"]) => payments::create_payment_intent(tx, &raw),
        (Get, ["payment_intents", id]) => retrieve(tx, "payment_intent", id, &raw),
        (Post, ["payment_intents", id]) => payments::update_payment_intent(tx, id, &raw),
        (Post, ["payment_intents", id, "confirm"]) => {
            payments::confirm_payment_intent(tx, id, &raw)
        }
        (Post, ["payment_intents", id, "cancel"]) => payments::cancel_payment_intent(tx, id, &raw),
        (Post, ["payment_intents", id, "capture"]) => {
            payments::capture_payment_intent(tx, id, &raw)
        }

        (Get, ["charges"]) => payments::list_charges(tx, &raw),
        (Get, ["charges", id]) => retrieve(tx, "charge", id, &raw),

        (Get, ["refunds"]) => payments::list_refunds(tx, &raw),
        (Post, ["refunds"]) => payments::create_refund(tx, &raw),
        (Get, ["refunds", id]) => retrieve(tx, "refund", id, &raw),
        (Post, ["refunds", id]) => payments::update_refund(tx, id, &raw),

        (Get, ["checkout", "sessions"]) => checkout::list_sessions(tx, &raw),
        (Post, ["checkout", "sessions"]) => checkout::create_session(tx, &raw),
        (Get, ["checkout", "sessions", id]) => retrieve(tx, "checkout.session", id, &raw),
        (Post, ["checkout", "sessions", id]) => checkout::update_session(tx, id, &raw),
        (Get, ["checkout", "sessions", id, "line_items"]) => {
            checkout::list_line_items(tx, id, &raw)
        }
        (Post, ["checkout", "sessions", id, "expire"]) => checkout::expire_session(tx, id, &raw),
        (Get, ["payment_pages", id]) => checkout::payment_page(tx, id),
        (Post, ["payment_pages", id, "confirm"]) => checkout::confirm_payment_page(tx, id, &raw),

        (Get, ["subscriptions"]) => subscriptions::list_subscriptions(tx, &raw),
        (Post, ["subscriptions"]) => subscriptions::create_subscription(tx, &raw),
        (Get, ["subscriptions", id]) => retrieve(tx, "subscription", id, &raw),
        (Post, ["subscriptions", id]) => subscriptions::update_subscription(tx, id, &raw),
        (Delete, ["subscriptions", id]) => subscriptions::cancel_subscription(tx, id, &raw),
        (Post, ["subscriptions", id, "resume"]) => subscriptions::resume_subscription(tx, id, &raw),

        (Get, ["invoices"]) => invoices::list_invoices(tx, &raw),
        (Post, ["invoices"]) => invoices::create_invoice(tx, &raw),
        (Get, ["invoices", id]) => retrieve(tx, "invoice", id, &raw),
        (Post, ["invoices", id]) => invoices::update_invoice(tx, id, &raw),
        (Delete, ["invoices", id]) => invoices::delete_invoice(tx, id),
        (Post, ["invoices", id, "finalize"]) => invoices::finalize_invoice(tx, id, &raw),
        (Post, ["invoices", id, "pay"]) => invoices::pay_invoice(tx, id, &raw),
        (Post, ["invoices", id, "void"]) => invoices::void_invoice(tx, id, &raw),
        (Post, ["invoices", id, "send"]) => invoices::send_invoice(tx, id, &raw),
        (Post, ["invoices", id, "mark_uncollectible"]) => {
            invoices::mark_uncollectible(tx, id, &raw)
        }
        (Get, ["invoices", id, "lines"]) => invoices::list_invoice_lines(tx, id, &raw),

        (Get, ["invoiceitems"]) => invoice_items::list_invoice_items(tx, &raw),
        (Post, ["invoiceitems"]) => invoice_items::create_invoice_item(tx, &raw),
        (Get, ["invoiceitems", id]) => retrieve(tx, "invoiceitem", id, &raw),
        (Post, ["invoiceitems", id]) => invoice_items::update_invoice_item(tx, id, &raw),
        (Delete, ["invoiceitems", id]) => invoice_items::delete_invoice_item(tx, id, &raw),

        (Get, ["test_helpers", "test_clocks"]) => test_clocks::list_clocks(tx, &raw),
        (Post, ["test_helpers", "test_clocks"]) => test_clocks::create_clock(tx, &raw),
        (Get, ["test_helpers", "test_clocks", id]) => {
            retrieve(tx, test_clocks::TEST_CLOCK, id, &raw)
        }
        (Delete, ["test_helpers", "test_clocks", id]) => test_clocks::delete_clock(tx, id),
        (Post, ["test_helpers", "test_clocks", id, "advance"]) => {
            test_clocks::advance_clock(tx, id, &raw)
        }

        (Get, ["plans"]) => plans::list_plans(tx, &raw),
        (Post, ["plans"]) => plans::create_plan(tx, &raw),
        (Get, ["plans", id]) => plans::retrieve_plan(tx, id, &raw),
        (Post, ["plans", id]) => plans::update_plan(tx, id, &raw),
        (Delete, ["plans", id]) => plans::delete_plan(tx, id),

        (Get, ["tax_rates"]) => tax_rates::list_tax_rates(tx, &raw),
        (Post, ["tax_rates"]) => tax_rates::create_tax_rate(tx, &raw),
        (Get, ["tax_rates", id]) => retrieve(tx, "tax_rate", id, &raw),
        (Post, ["tax_rates", id]) => tax_rates::update_tax_rate(tx, id, &raw),

        (Get, ["setup_intents"]) => saved_cards::list_setup_intents(tx, &raw),
        (Post, ["setup_intents"]) => saved_cards::create_setup_intent(tx, &raw),
        (Get, ["setup_intents", id]) => retrieve(tx, "setup_intent", id, &raw),
        (Post, ["setup_intents", id]) => saved_cards::update_setup_intent(tx, id, &raw),
        (Post, ["setup_intents", id, "confirm"]) => saved_cards::confirm_setup_intent(tx, id, &raw),
        (Post, ["setup_intents", id, "cancel"]) => saved_cards::cancel_setup_intent(tx, id, &raw),
        (Post, ["payment_methods", id]) => saved_cards::update_payment_method(tx, id, &raw),

        (Get, ["disputes"]) => disputes::list_disputes(tx, &raw),
        (Get, ["disputes", id]) => retrieve(tx, "dispute", id, &raw),
        (Post, ["disputes", id]) => disputes::update_dispute(tx, id, &raw),
        (Post, ["disputes", id, "close"]) => disputes::close_dispute(tx, id, &raw),

        (Get, ["coupons"]) => coupons::list_coupons(tx, &raw),
        (Post, ["coupons"]) => coupons::create_coupon(tx, &raw),
        (Get, ["coupons", id]) => retrieve(tx, "coupon", id, &raw),
        (Post, ["coupons", id]) => coupons::update_coupon(tx, id, &raw),
        (Delete, ["coupons", id]) => coupons::delete_coupon(tx, id),

        (Get, ["promotion_codes"]) => coupons::list_promotion_codes(tx, &raw),
        (Post, ["promotion_codes"]) => coupons::create_promotion_code(tx, &raw),
        (Get, ["promotion_codes", id]) => retrieve(tx, "promotion_code", id, &raw),
        (Post, ["promotion_codes", id]) => coupons::update_promotion_code(tx, id, &raw),

        (Get, ["events"]) => list_events(tx, &raw),
        (Get, ["events", id]) => retrieve(tx, "event", id, &raw),
        (Post, ["events", id, "retry"]) => webhook_endpoints::retry_event(tx, id, &raw),

        (Get, ["webhook_endpoints"]) => webhook_endpoints::list_endpoints(tx, &raw),
        (Post, ["webhook_endpoints"]) => webhook_endpoints::create_endpoint(tx, &raw),
        (Get, ["webhook_endpoints", id]) => retrieve(tx, WEBHOOK_ENDPOINT, id, &raw),
        (Post, ["webhook_endpoints", id]) => webhook_endpoints::update_endpoint(tx, id, &raw),
        (Delete, ["webhook_endpoints", id]) => webhook_endpoints::delete_endpoint(tx, id),

        _ => Err(StripeError::new(
            404,
            "invalid_request_error",
            format!(
                "Unrecognized request URL ({} /v1/{}). The paywire sandbox serves products, prices, customers, payment methods, \
                 checkout sessions, payment intents, charges, refunds, subscriptions, invoices, invoice items, plans, tax rates, setup intents, disputes, coupons, promotion codes, events, webhook endpoints, test clocks and search.",
                match verb {
                    Get => "GET",
                    Post => "POST",
                    Delete => "DELETE",
                },
                segments.join("/")
            ),
        )),
    }
}

/// Every endpoint's parameter spec, by method and path, in one table that
/// tests walk (`honoured_tests.rs` proves that no accepted parameter of a
/// create call is dropped). An endpoint added to `dispatch` belongs here too.
/// `dispatch`'s endpoints that take an `expand` alone (retrievals and
/// actions without parameters) are listed with this spec.
#[cfg(test)]
static ONLY_EXPAND: &[Param] = &[form::EXPAND];

#[cfg(test)]
pub(crate) fn specs() -> Vec<(&'static str, &'static [Param])> {
    use {catalog::*, checkout::*, invoice_items::*, invoices::*, payments::*};
    use {subscriptions::*, test_clocks::*};
    vec![
        ("GET /v1/products", LIST_PRODUCTS),
        ("POST /v1/products", PRODUCT_CREATE),
        ("GET /v1/products/{id}", ONLY_EXPAND),
        ("POST /v1/products/{id}", PRODUCT_UPDATE),
        ("GET /v1/prices", LIST_PRICES),
        ("POST /v1/prices", PRICE_CREATE),
        ("GET /v1/prices/{id}", ONLY_EXPAND),
        ("POST /v1/prices/{id}", UPDATE_PRICE),
        ("GET /v1/customers", LIST_CUSTOMERS),
        ("POST /v1/customers", CUSTOMER_FIELDS),
        ("GET /v1/customers/{id}", ONLY_EXPAND),
        ("POST /v1/customers/{id}", CUSTOMER_FIELDS),
        (
            "GET /v1/customers/{id}/payment_methods",
            PAYMENT_METHOD_LIST,
        ),
        ("GET /v1/payment_methods", PAYMENT_METHOD_LIST),
        ("POST /v1/payment_methods", PAYMENT_METHOD_CREATE),
        ("GET /v1/payment_methods/{id}", ONLY_EXPAND),
        (
            "POST /v1/payment_methods/{id}/attach",
            ATTACH_PAYMENT_METHOD,
        ),
        ("POST /v1/payment_methods/{id}/detach", ONLY_EXPAND),
        ("GET /v1/payment_intents", LIST_PAYMENT_INTENTS),
        ("POST /v1/payment_intents", PAYMENT_INTENT_CREATE),
        ("GET /v1/payment_intents/{id}", ONLY_EXPAND),
        ("POST /v1/payment_intents/{id}", UPDATE_PAYMENT_INTENT),
        (
            "POST /v1/payment_intents/{id}/confirm",
            CONFIRM_PAYMENT_INTENT,
        ),
        (
            "POST /v1/payment_intents/{id}/cancel",
            CANCEL_PAYMENT_INTENT,
        ),
        (
            "POST /v1/payment_intents/{id}/capture",
            CAPTURE_PAYMENT_INTENT,
        ),
        ("GET /v1/charges", LIST_CHARGES),
        ("GET /v1/charges/{id}", ONLY_EXPAND),
        ("GET /v1/refunds", LIST_REFUNDS),
        ("POST /v1/refunds", REFUND_CREATE),
        ("GET /v1/refunds/{id}", ONLY_EXPAND),
        ("POST /v1/refunds/{id}", UPDATE_REFUND),
        ("GET /v1/checkout/sessions", LIST_SESSIONS),
        ("POST /v1/checkout/sessions", SESSION_CREATE),
        ("GET /v1/checkout/sessions/{id}", ONLY_EXPAND),
        ("POST /v1/checkout/sessions/{id}", UPDATE_SESSION),
        ("GET /v1/checkout/sessions/{id}/line_items", LIST_LINE_ITEMS),
        ("POST /v1/checkout/sessions/{id}/expire", ONLY_EXPAND),
        ("GET /v1/subscriptions", LIST_SUBSCRIPTIONS),
        ("POST /v1/subscriptions", SUBSCRIPTION_CREATE),
        ("GET /v1/subscriptions/{id}", ONLY_EXPAND),
        ("POST /v1/subscriptions/{id}", UPDATE_SUBSCRIPTION),
        ("DELETE /v1/subscriptions/{id}", CANCEL_SUBSCRIPTION),
        ("POST /v1/subscriptions/{id}/resume", RESUME_SUBSCRIPTION),
        ("GET /v1/invoices", LIST_INVOICES),
        ("POST /v1/invoices", INVOICE_CREATE),
        ("GET /v1/invoices/{id}", ONLY_EXPAND),
        ("POST /v1/invoices/{id}", UPDATE_INVOICE),
        ("POST /v1/invoices/{id}/finalize", FINALIZE_INVOICE),
        ("POST /v1/invoices/{id}/pay", PAY_INVOICE),
        ("POST /v1/invoices/{id}/void", ONLY_EXPAND),
        ("POST /v1/invoices/{id}/send", ONLY_EXPAND),
        ("POST /v1/invoices/{id}/mark_uncollectible", ONLY_EXPAND),
        ("GET /v1/invoices/{id}/lines", PAGE),
        ("GET /v1/invoiceitems", LIST_INVOICE_ITEMS),
        ("POST /v1/invoiceitems", INVOICE_ITEM_CREATE),
        ("GET /v1/invoiceitems/{id}", ONLY_EXPAND),
        ("POST /v1/invoiceitems/{id}", UPDATE_INVOICE_ITEM),
        ("GET /v1/test_helpers/test_clocks", PAGE),
        ("POST /v1/test_helpers/test_clocks", CLOCK_CREATE),
        ("GET /v1/test_helpers/test_clocks/{id}", ONLY_EXPAND),
        (
            "POST /v1/test_helpers/test_clocks/{id}/advance",
            ADVANCE_CLOCK,
        ),
        ("GET /v1/events/{id}", ONLY_EXPAND),
    ]
}

/// The id of the test clock `object` lives on: its own (`test_clock`), or
/// its customer's.
fn clock_id_of<'a>(tx: &'a Tx<'_>, object: &'a Value) -> Option<&'a str> {
    object["test_clock"].as_str().or_else(|| {
        let customer = tx.get(object["customer"].as_str()?)?;
        customer["test_clock"].as_str()
    })
}

/// The live test clock of that id.
fn live_clock(tx: &Tx<'_>, id: &str) -> Option<Value> {
    tx.get(id)
        .filter(|c| c["object"] == test_clocks::TEST_CLOCK && c.get("deleted").is_none())
        .cloned()
}

/// The test clock a request's objects live on, whose time the request
/// happens at: the clock of the customer it names (`customer`), of the
/// object in its path, or the one a new customer joins (`test_clock`).
/// Requests about the clocks themselves happen at the real time.
fn clock_of_request(tx: &Tx<'_>, segments: &[&str], raw: &Map<String, Value>) -> Option<Value> {
    if segments.first() == Some(&"test_helpers") {
        return None;
    }
    let named = raw
        .get("test_clock")
        .and_then(Value::as_str)
        .or_else(|| clock_id_of(tx, tx.get(raw.get("customer")?.as_str()?)?))
        .or_else(|| {
            segments
                .iter()
                .skip(1)
                .find_map(|segment| tx.get(segment))
                .and_then(|object| clock_id_of(tx, object))
        })?;
    live_clock(tx, named)
}

/// Moves `tx` to the time of the test clock the object `id` lives on, if
/// any: what the hosted pages do to an object happens at its clock's time,
/// as the API's requests about it do.
pub fn at_clock_of(tx: &mut Tx<'_>, id: &str) {
    let time = tx
        .get(id)
        .and_then(|object| clock_id_of(tx, object))
        .and_then(|clock| live_clock(tx, clock))
        .and_then(|clock| clock["frozen_time"].as_i64());
    if let Some(time) = time {
        tx.now = time;
    }
}

/// Parameters many endpoints share.
pub const METADATA: Param = Param::optional("metadata", form::Kind::Metadata);
pub const LIMIT: Param = Param::optional("limit", form::Kind::Integer);
pub const STARTING_AFTER: Param = Param::optional("starting_after", form::Kind::String);
pub const ENDING_BEFORE: Param = Param::optional("ending_before", form::Kind::String);
pub const CREATED: Param = Param::optional("created", form::Kind::Any);
/// The sandbox computes no tax: `automatic_tax[enabled]=false` is taken,
/// `true` refused by name.
pub const AUTOMATIC_TAX: Param = Param::optional(
    "automatic_tax",
    form::Kind::Object(&[
        Param::required("enabled", form::Kind::FalseOnly),
        Param::optional("liability", form::Kind::Unsupported),
    ]),
);
/// Discounts need coupons, which the sandbox does not have yet: refused by
/// name rather than charged in full.
pub const DISCOUNTS: Param = Param::optional("discounts", form::Kind::Unsupported);
/// A page of a list that takes no filters.
pub static PAGE: &[Param] = &[LIMIT, STARTING_AFTER, ENDING_BEFORE, form::EXPAND];
pub const COLLECTION_METHOD: Param = Param::optional(
    "collection_method",
    form::Kind::Enum(&["charge_automatically", "send_invoice"]),
);

/// Checks parameters against a spec, as Stripe does.
pub fn check(spec: &[Param], raw: &Map<String, Value>) -> Result<Map<String, Value>, StripeError> {
    form::check(spec, raw).map_err(param_error)
}

/// The refusal of a parameter's value that the sandbox does not implement
/// yet, in the words `form::check` uses for `Kind::Unsupported`.
pub fn unsupported(param: &str) -> StripeError {
    param_error(form::ParamError::unsupported(param))
}

pub fn param_error(e: form::ParamError) -> StripeError {
    let mut error = StripeError::invalid(&e.param, e.message);
    error.code = e.code.map(str::to_string);
    error
}

fn retrieve(
    tx: &mut Tx<'_>,
    object: &str,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[form::EXPAND], raw)?;
    tx.find(object, id, "id")
}

/// Applies an update's `fields` that it gives, as Stripe does: `""` unsets a
/// field, and `metadata` is merged rather than replaced.
pub fn apply_fields(object: &mut Value, params: &Map<String, Value>, fields: &[&str]) {
    for field in fields {
        if let Some(value) = params.get(*field) {
            object[*field] = if *value == "" {
                Value::Null
            } else {
                value.clone()
            };
        }
    }
    if let Some(update) = params.get("metadata") {
        object["metadata"] = objects::merge_metadata(&object["metadata"], update);
    }
}

/// The value of an optional text parameter; `""` (unset) counts as absent.
pub fn text<'a>(params: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    params
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The value at a dotted path in an object (`null` when it is not there).
pub fn at_path<'a>(object: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(object, |value, key| &value[key])
}

/// Lists objects of `kind` whose fields equal the given filters: every list
/// whose filters are fields of its objects goes through here.
pub fn list_where(
    tx: &Tx<'_>,
    kind: &str,
    params: &Map<String, Value>,
    filters: &[&str],
    url: &str,
) -> Result<Value, StripeError> {
    // A filter is a field's path in the object; the parameter is its last
    // part (`promotion.coupon` is filtered by `coupon`).
    let wanted: Vec<(&str, &Value)> = filters
        .iter()
        .filter_map(|path| {
            let param = path.rsplit('.').next().unwrap_or(path);
            params.get(param).filter(|v| *v != "").map(|v| (*path, v))
        })
        .collect();
    let items = tx
        .state()
        .newest_first(kind)
        .filter(|o| o.get("deleted").is_none())
        .filter(|o| wanted.iter().all(|(path, v)| at_path(o, path) == *v));
    super::state::list_page(items, params, url)
}

fn list_events(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    use form::Kind;
    static SPEC: &[Param] = &[
        Param::optional("type", Kind::String),
        Param::optional("types", Kind::StringList),
        Param::optional("created", Kind::Any),
        Param::optional("delivery_success", Kind::Boolean),
        Param::optional("limit", Kind::Integer),
        Param::optional("starting_after", Kind::String),
        Param::optional("ending_before", Kind::String),
        form::EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let single = text(&params, "type");
    let many: Vec<&str> = params
        .get("types")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let matches = |event_type: &str| {
        let one = single.is_none_or(|pattern| glob(pattern, event_type));
        let any = many.is_empty() || many.iter().any(|p| glob(p, event_type));
        one && any
    };
    // `delivery_success=false` lists the events some endpoint is still owed
    // (pending, or given up on); `true` those every endpoint got, an event
    // that went to none among them.
    let delivery_success = params.get("delivery_success").and_then(Value::as_bool);
    let state = tx.state();
    let items = state
        .newest_first("event")
        .filter(|e| matches(e["type"].as_str().unwrap_or_default()))
        .filter(|e| {
            delivery_success.is_none_or(|wanted| {
                let id = e["id"].as_str().unwrap_or_default();
                crate::delivery::delivered(state.deliveries_of(id)) == wanted
            })
        });
    super::state::list_page(items, &params, "/v1/events")
}

/// Stripe's event type filters allow a `*` wildcard (`checkout.session.*`).
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((prefix, suffix)) => {
            text.len() >= prefix.len() + suffix.len()
                && text.starts_with(prefix)
                && text.ends_with(suffix)
        }
    }
}

/// Currencies the sandbox accepts, with the smallest amount Stripe charges.
const CURRENCIES: &[(&str, i64)] = &[
    ("usd", 50),
    ("eur", 50),
    ("gbp", 30),
    ("cad", 50),
    ("aud", 50),
    ("nzd", 50),
    ("chf", 50),
    ("jpy", 50),
    ("sek", 300),
    ("nok", 300),
    ("dkk", 250),
    ("pln", 200),
    ("czk", 1500),
    ("huf", 17500),
    ("ron", 200),
    ("bgn", 100),
    ("inr", 50),
    ("sgd", 50),
    ("hkd", 400),
    ("mxn", 1000),
    ("brl", 50),
    ("zar", 50),
    ("thb", 1000),
    ("myr", 200),
    ("aed", 200),
    ("ils", 200),
    ("krw", 500),
    ("twd", 1500),
    ("idr", 700000),
    ("php", 2500),
];

/// The currency, lowercased, or Stripe's error for one it does not know.
pub fn currency(params: &Map<String, Value>, param: &str) -> Result<String, StripeError> {
    let given = text(params, param)
        .ok_or_else(|| StripeError::missing(param))?
        .to_ascii_lowercase();
    if CURRENCIES.iter().any(|(c, _)| *c == given) {
        Ok(given)
    } else {
        let known: Vec<&str> = CURRENCIES.iter().map(|(c, _)| *c).collect();
        Err(StripeError::invalid(
            param,
            format!(
                "Invalid currency: {given}. The paywire sandbox supports these currencies: {}",
                known.join(", ")
            ),
        ))
    }
}

/// Refuses amounts below the currency's minimum, with Stripe's message.
pub fn check_minimum(amount: i64, currency: &str, param: &str) -> Result<(), StripeError> {
    let minimum = CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map(|(_, m)| *m)
        .unwrap_or(50);
    if amount < minimum {
        let shown = if minimum % 100 == 0 || ["jpy", "krw"].contains(&currency) {
            format!(
                "{}",
                if ["jpy", "krw"].contains(&currency) {
                    minimum
                } else {
                    minimum / 100
                }
            )
        } else {
            format!("{}.{:02}", minimum / 100, minimum % 100)
        };
        return Err(StripeError::invalid(
            param,
            format!("Amount must be at least {shown} {currency}"),
        )
        .with_code("amount_too_small"));
    }
    Ok(())
}

/// A payment method by id, with its test card. `pm_card_visa` and the other
/// test payment methods exist from the start, as in test mode.
pub fn resolve_payment_method(
    tx: &mut Tx<'_>,
    id: &str,
    param: &str,
) -> Result<(Value, &'static TestCard), StripeError> {
    if let Some(existing) = tx
        .get(id)
        .filter(|o| o["object"] == "payment_method")
        .cloned()
    {
        let card =
            card_of(&existing).ok_or_else(|| StripeError::no_such("PaymentMethod", id, param))?;
        return Ok((existing, card));
    }
    let card =
        cards::by_test_name(id).ok_or_else(|| StripeError::no_such("PaymentMethod", id, param))?;
    let pm = objects::payment_method(
        id.to_string(),
        card,
        Value::Null,
        objects::billing_details(None),
        json!({}),
        tx.now,
    );
    tx.put(pm.clone());
    Ok((pm, card))
}

/// The test card behind a stored payment method.
pub fn card_of(pm: &Value) -> Option<&'static TestCard> {
    let fingerprint = pm["card"]["fingerprint"].as_str()?;
    cards::by_number(fingerprint.strip_prefix("fp")?)
}

/// Stripe's 402 for a card that declines.
pub fn decline_error(card: &TestCard) -> StripeError {
    let decline = match card.outcome {
        Outcome::Declined(decline) => decline,
        Outcome::Succeeds => "generic_decline",
    };
    let mut e = StripeError::new(402, "card_error", cards::decline_message(decline))
        .with_code(cards::error_code(decline));
    e.decline_code = Some(decline.to_string());
    e
}

/// Charges a card: creates the charge and reports the decline, if any.
pub fn charge_card(
    tx: &mut Tx<'_>,
    payment: &objects::Payment<'_>,
    payment_intent: &str,
) -> (Value, Option<StripeError>) {
    let failure = match payment.card.outcome {
        Outcome::Succeeds => None,
        Outcome::Declined(decline) => Some((decline, cards::error_code(decline))),
    };
    let charge = objects::charge(
        random_id("ch_", 24),
        payment,
        payment_intent,
        failure,
        tx.now,
    );
    tx.put(charge.clone());
    let error = failure.map(|_| {
        let mut e = decline_error(payment.card);
        e.extra.insert("charge".into(), charge["id"].clone());
        e
    });
    (charge, error)
}

/// Replaces ids by their objects along `expand` paths (`customer`,
/// `data.customer`, `latest_invoice.payment_intent`).
pub fn expand(tx: &Tx<'_>, value: &mut Value, paths: &[String]) {
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        expand_path(tx, value, &parts, 0);
    }
}

fn expand_path(tx: &Tx<'_>, value: &mut Value, parts: &[&str], depth: usize) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    if depth > 4 {
        return;
    }
    if *first == "data"
        && let Some(items) = value.get_mut("data").and_then(Value::as_array_mut)
    {
        for item in items {
            expand_path(tx, item, rest, depth + 1);
        }
        return;
    }
    let Some(field) = value.get_mut(*first) else {
        return;
    };
    if let Some(id) = field.as_str()
        && let Some(found) = tx.get(id)
    {
        *field = public_view(found);
    }
    if !rest.is_empty() {
        expand_path(tx, field, rest, depth + 1);
    }
}

pub use super::state::public_view;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_patterns() {
        assert!(glob("checkout.session.*", "checkout.session.completed"));
        assert!(glob("*.succeeded", "payment_intent.succeeded"));
        assert!(!glob("invoice.*", "checkout.session.completed"));
        assert!(glob("invoice.paid", "invoice.paid"));
    }

    #[test]
    fn minimums_follow_the_currency() {
        assert!(check_minimum(50, "usd", "amount").is_ok());
        assert_eq!(
            check_minimum(49, "usd", "amount").unwrap_err().message,
            "Amount must be at least 0.50 usd"
        );
        assert_eq!(
            check_minimum(10, "jpy", "amount").unwrap_err().message,
            "Amount must be at least 50 jpy"
        );
        assert_eq!(
            check_minimum(10, "hkd", "amount").unwrap_err().message,
            "Amount must be at least 4 hkd"
        );
    }

    #[test]
    fn an_update_sets_unsets_and_merges_only_what_it_names() {
        let mut object = json!({
            "description": "old",
            "footer": "kept",
            "metadata": {"a": "1", "b": "2"},
        });
        let params: Map<String, Value> = serde_json::from_value(json!({
            "description": "",
            "footer": "ignored, as it is not named",
            "collection_method": "send_invoice",
            "metadata": {"a": "", "c": "3"},
        }))
        .expect("a JSON object");
        apply_fields(&mut object, &params, &["description", "collection_method"]);
        assert_eq!(
            object,
            json!({
                "description": null,
                "footer": "kept",
                "collection_method": "send_invoice",
                "metadata": {"b": "2", "c": "3"},
            })
        );
    }
}

#[cfg(test)]
#[path = "refusal_tests.rs"]
mod refusal_tests;

#[cfg(test)]
#[path = "honoured_tests.rs"]
mod honoured_tests;
