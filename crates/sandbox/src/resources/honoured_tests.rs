//! No accepted parameter is silently dropped: for every create endpoint of
//! the table `specs()`, every top-level parameter the sandbox accepts (all
//! but `Kind::Unsupported` ones, which are refused by name, and
//! `Kind::FalseOnly` ones, whose only accepted value asks for nothing) is
//! sent with a sample value, and the created object must show it: in the
//! field of the same name, or in a derived field named below with the reason.
//! The few parameters that steer the request rather than describe the object
//! (`expand`, filters, actions such as `confirm`) are listed as such, each
//! with what it does. A parameter added to a spec without being honoured or
//! listed here fails the test, which names it. A second test walks every
//! endpoint's spec, nested parameters included, and allows `Kind::Any` only
//! for Stripe's unions of shapes, which their handlers check.

use serde_json::{Map, Value};

use super::schedule::tests::World;
use super::specs;
use crate::form::{self, Kind, Param};

/// Where a sent parameter shows on the created object.
enum Shows {
    /// In the field of the same name: what was sent is found there (a sent
    /// object's keys at least, as Stripe fills the ones not given).
    Same,
    /// In another field, at this JSON pointer, which must hold this JSON
    /// value (`"*"`: any value but null); the text says why.
    At(&'static str, &'static str, &'static str),
    /// Nowhere, because it steers the request rather than describing the
    /// object; the text says what it does instead.
    Steers(&'static str),
}

/// A parameter's sample: the form fragment sent for it (with `{customer}`,
/// `{price}`... standing for the fixtures' ids), the base parameters it
/// replaces beyond its own, and where it shows.
struct Sample {
    endpoint: &'static str,
    param: &'static str,
    body: &'static str,
    replaces: &'static [&'static str],
    shows: Shows,
}

const fn same(endpoint: &'static str, param: &'static str, body: &'static str) -> Sample {
    Sample {
        endpoint,
        param,
        body,
        replaces: &[],
        shows: Shows::Same,
    }
}

const fn at(
    endpoint: &'static str,
    param: &'static str,
    body: &'static str,
    shows: Shows,
) -> Sample {
    Sample {
        endpoint,
        param,
        body,
        replaces: &[],
        shows,
    }
}

const PRODUCTS: &str = "POST /v1/products";
const PRICES: &str = "POST /v1/prices";
const CUSTOMERS: &str = "POST /v1/customers";
const PAYMENT_METHODS: &str = "POST /v1/payment_methods";
const PAYMENT_INTENTS: &str = "POST /v1/payment_intents";
const REFUNDS: &str = "POST /v1/refunds";
const SESSIONS: &str = "POST /v1/checkout/sessions";
const SUBSCRIPTIONS: &str = "POST /v1/subscriptions";
const INVOICES: &str = "POST /v1/invoices";
const INVOICE_ITEMS: &str = "POST /v1/invoiceitems";
const TEST_CLOCKS: &str = "POST /v1/test_helpers/test_clocks";

const ADDRESS: &str = "address[line1]=510 Townsend St&address[city]=San Francisco&address[postal_code]=94103&address[country]=US";
const SHIPPING: &str = "shipping[name]=Jenny Rosen&shipping[phone]=555&shipping[address][line1]=510 Townsend St&shipping[address][country]=US";
const SHIPPING_DETAILS: &str = "shipping_details[name]=Jenny Rosen&shipping_details[address][line1]=510 Townsend St&shipping_details[address][country]=US";
const BILLING: &str = "billing_details[name]=Jenny Rosen&billing_details[email]=jenny@example.com&billing_details[address][country]=US";

/// The smallest body each create endpoint takes, to which a sample is added.
fn base(endpoint: &str) -> &'static str {
    match endpoint {
        PRODUCTS => "name=Base",
        PRICES => "currency=usd&unit_amount=500&product={product}",
        PAYMENT_METHODS => "type=card&card[token]=tok_visa",
        PAYMENT_INTENTS => "amount=1000&currency=usd",
        REFUNDS => "payment_intent={paid_intent}&amount=100",
        SESSIONS => {
            "mode=payment&success_url=https://example.com/ok&line_items[0][price]={price}&line_items[0][quantity]=1"
        }
        SUBSCRIPTIONS => "customer={customer}&items[0][price]={monthly}",
        INVOICES => "customer={customer}",
        INVOICE_ITEMS => "customer={customer}&amount=500&currency=usd",
        TEST_CLOCKS => "frozen_time=1767225600",
        _ => "",
    }
}

/// The samples that a generic value does not fit, and every parameter that
/// shows elsewhere or steers.
fn samples() -> Vec<Sample> {
    use Shows::*;
    vec![
        // Products.
        same(PRODUCTS, "id", "id=prod_sample"),
        same(PRODUCTS, "images", "images[0]=https://example.com/a.png"),
        same(
            PRODUCTS,
            "marketing_features",
            "marketing_features[0][name]=Fast",
        ),
        at(
            PRODUCTS,
            "default_price_data",
            "default_price_data[currency]=usd&default_price_data[unit_amount]=700",
            At(
                "/default_price",
                "\"*\"",
                "a price is created and made the default",
            ),
        ),
        // Prices.
        same(
            PRICES,
            "recurring",
            "recurring[interval]=week&recurring[interval_count]=2",
        ),
        Sample {
            endpoint: PRICES,
            param: "unit_amount_decimal",
            body: "unit_amount_decimal=700",
            replaces: &["unit_amount"],
            shows: Same,
        },
        Sample {
            endpoint: PRICES,
            param: "product_data",
            body: "product_data[name]=Made",
            replaces: &["product"],
            shows: At("/product", "\"*\"", "a product is created for the price"),
        },
        same(PRICES, "product", "product={product}"),
        same(PRICES, "billing_scheme", "billing_scheme=per_unit"),
        at(
            PRICES,
            "transfer_lookup_key",
            "transfer_lookup_key=true&lookup_key=moved",
            At("/lookup_key", "\"moved\"", "the key moves to the new price"),
        ),
        // Customers.
        same(CUSTOMERS, "address", ADDRESS),
        same(CUSTOMERS, "shipping", SHIPPING),
        same(CUSTOMERS, "preferred_locales", "preferred_locales[0]=fr"),
        at(
            CUSTOMERS,
            "payment_method",
            "payment_method=pm_card_visa",
            Steers("attaches a copy of the payment method to the new customer"),
        ),
        same(
            CUSTOMERS,
            "invoice_settings",
            "invoice_settings[footer]=Thanks&invoice_settings[custom_fields][0][name]=PO&invoice_settings[custom_fields][0][value]=7&invoice_settings[rendering_options][amount_tax_display]=exclude_tax",
        ),
        same(CUSTOMERS, "test_clock", "test_clock={clock}"),
        at(
            CUSTOMERS,
            "source",
            "source=tok_visa",
            At(
                "/default_source",
                "\"*\"",
                "the token's card is attached, and invoices charge it",
            ),
        ),
        // Payment methods.
        at(
            PAYMENT_METHODS,
            "type",
            "type=card",
            At("/type", "\"card\"", "the only type the sandbox makes"),
        ),
        at(
            PAYMENT_METHODS,
            "card",
            "card[number]=4000056655665556",
            At(
                "/card/last4",
                "\"5556\"",
                "the card's details are the test card's",
            ),
        ),
        same(PAYMENT_METHODS, "billing_details", BILLING),
        // Payment intents.
        same(PAYMENT_INTENTS, "customer", "customer={customer}"),
        same(
            PAYMENT_INTENTS,
            "payment_method",
            "payment_method=pm_card_visa",
        ),
        same(
            PAYMENT_INTENTS,
            "payment_method_types",
            "payment_method_types[0]=card",
        ),
        at(
            PAYMENT_INTENTS,
            "confirm",
            "confirm=true&payment_method=pm_card_visa",
            At(
                "/status",
                "\"succeeded\"",
                "the intent is confirmed at once",
            ),
        ),
        same(
            PAYMENT_INTENTS,
            "automatic_payment_methods",
            "automatic_payment_methods[enabled]=true",
        ),
        same(PAYMENT_INTENTS, "shipping", SHIPPING),
        at(
            PAYMENT_INTENTS,
            "return_url",
            "return_url=https://example.com/back",
            Steers(
                "where a redirect would return; the object has no such field, and no test card redirects",
            ),
        ),
        at(
            PAYMENT_INTENTS,
            "off_session",
            "off_session=true&confirm=true&payment_method=pm_card_visa",
            Steers(
                "a confirmation without the customer present; test cards that need them fail then",
            ),
        ),
        at(
            PAYMENT_INTENTS,
            "error_on_requires_action",
            "error_on_requires_action=true&confirm=true&payment_method=pm_card_visa",
            Steers("a confirmation that would need an action fails instead"),
        ),
        at(
            PAYMENT_INTENTS,
            "use_stripe_sdk",
            "use_stripe_sdk=true",
            Steers("how a next action is shaped for Stripe.js; no test card needs one"),
        ),
        // Refunds.
        Sample {
            endpoint: REFUNDS,
            param: "charge",
            body: "charge={paid_charge}",
            replaces: &["payment_intent"],
            shows: Same,
        },
        same(REFUNDS, "payment_intent", "payment_intent={paid_intent}"),
        same(REFUNDS, "amount", "amount=250"),
        // Checkout sessions.
        at(
            SESSIONS,
            "line_items",
            "line_items[0][price]={price}&line_items[0][quantity]=3",
            At(
                "/amount_subtotal",
                "1500",
                "the lines are listed by their own endpoint",
            ),
        ),
        same(SESSIONS, "customer", "customer={customer}"),
        same(SESSIONS, "currency", "currency=usd"),
        same(SESSIONS, "expires_at", "expires_at=1800003600"),
        same(SESSIONS, "locale", "locale=fr"),
        same(
            SESSIONS,
            "payment_method_types",
            "payment_method_types[0]=card",
        ),
        same(SESSIONS, "customer_creation", "customer_creation=always"),
        same(
            SESSIONS,
            "ui_mode",
            "ui_mode=embedded_page&return_url=https://example.com/r",
        ),
        same(
            SESSIONS,
            "return_url",
            "ui_mode=embedded_page&return_url=https://example.com/r",
        ),
        same(SESSIONS, "automatic_tax", "automatic_tax[enabled]=false"),
        same(
            SESSIONS,
            "custom_text",
            "custom_text[submit][message]=Thanks",
        ),
        same(
            SESSIONS,
            "phone_number_collection",
            "phone_number_collection[enabled]=false",
        ),
        same(
            SESSIONS,
            "redirect_on_completion",
            "ui_mode=embedded_page&return_url=https://example.com/r&redirect_on_completion=if_required",
        ),
        at(
            SESSIONS,
            "payment_intent_data",
            "payment_intent_data[description]=Kept",
            Steers("applied to the payment intent that paying the session creates"),
        ),
        Sample {
            endpoint: SESSIONS,
            param: "subscription_data",
            body: "mode=subscription&line_items[0][price]={monthly}&line_items[0][quantity]=1&subscription_data[description]=Kept",
            replaces: &["mode", "line_items"],
            shows: Steers("applied to the subscription that paying the session creates"),
        },
        // Subscriptions.
        same(SUBSCRIPTIONS, "customer", "customer={customer}"),
        at(
            SUBSCRIPTIONS,
            "items",
            "items[0][price]={monthly}&items[0][quantity]=2",
            At(
                "/items/data/0/quantity",
                "2",
                "each item becomes a subscription item",
            ),
        ),
        same(
            SUBSCRIPTIONS,
            "default_payment_method",
            "default_payment_method={customer_card}",
        ),
        at(
            SUBSCRIPTIONS,
            "trial_period_days",
            "trial_period_days=3",
            At(
                "/status",
                "\"trialing\"",
                "the trial's end is now plus the days",
            ),
        ),
        at(
            SUBSCRIPTIONS,
            "trial_end",
            "trial_end=1800086400",
            At("/trial_end", "1800086400", "a time or `now`, sent as text"),
        ),
        same(
            SUBSCRIPTIONS,
            "collection_method",
            "collection_method=charge_automatically",
        ),
        at(
            SUBSCRIPTIONS,
            "proration_behavior",
            "proration_behavior=none",
            Steers(
                "prorations at creation come only of an anchor or a backdated start, both refused",
            ),
        ),
        at(
            SUBSCRIPTIONS,
            "payment_behavior",
            "payment_behavior=error_if_incomplete",
            Steers("a declined first payment undoes the request instead of leaving it incomplete"),
        ),
        same(SUBSCRIPTIONS, "cancel_at", "cancel_at=1802000000"),
        at(
            SUBSCRIPTIONS,
            "off_session",
            "off_session=true",
            Steers("the first payment is attempted without the customer present"),
        ),
        same(
            SUBSCRIPTIONS,
            "trial_settings",
            "trial_period_days=3&trial_settings[end_behavior][missing_payment_method]=pause",
        ),
        same(
            SUBSCRIPTIONS,
            "automatic_tax",
            "automatic_tax[enabled]=false",
        ),
        // Invoices.
        same(INVOICES, "customer", "customer={customer}"),
        same(
            INVOICES,
            "collection_method",
            "collection_method=send_invoice&days_until_due=5",
        ),
        at(
            INVOICES,
            "days_until_due",
            "collection_method=send_invoice&days_until_due=5",
            At(
                "/due_date",
                "1800432000",
                "the due date is now plus the days",
            ),
        ),
        same(
            INVOICES,
            "due_date",
            "collection_method=send_invoice&due_date=1802000000",
        ),
        same(
            INVOICES,
            "default_payment_method",
            "default_payment_method={customer_card}",
        ),
        at(
            INVOICES,
            "pending_invoice_items_behavior",
            "pending_invoice_items_behavior=include",
            Steers("takes the customer's pending invoice items as lines"),
        ),
        same(INVOICES, "automatic_tax", "automatic_tax[enabled]=false"),
        same(
            INVOICES,
            "custom_fields",
            "custom_fields[0][name]=PO&custom_fields[0][value]=7",
        ),
        same(INVOICES, "shipping_details", SHIPPING_DETAILS),
        // Invoice items.
        same(INVOICE_ITEMS, "customer", "customer={customer}"),
        Sample {
            endpoint: INVOICE_ITEMS,
            param: "price",
            body: "price={price}",
            replaces: &["amount", "currency"],
            shows: At("/amount", "500", "the item costs the price's amount"),
        },
        Sample {
            endpoint: INVOICE_ITEMS,
            param: "pricing",
            body: "pricing[price]={price}",
            replaces: &["amount", "currency"],
            shows: At("/amount", "500", "the item costs the price's amount"),
        },
        same(INVOICE_ITEMS, "invoice", "invoice={invoice}"),
        same(
            INVOICE_ITEMS,
            "period",
            "period[start]=1800000000&period[end]=1800086400",
        ),
        // Test clocks.
        same(TEST_CLOCKS, "frozen_time", "frozen_time=1767225700"),
        // Values a generic sample does not fit: ids, currencies, defaults.
        same(PRODUCTS, "active", "active=false"),
        same(PRICES, "active", "active=false"),
        same(PRICES, "currency", "currency=eur"),
        same(PRICES, "tax_behavior", "tax_behavior=inclusive"),
        same(PAYMENT_METHODS, "allow_redisplay", "allow_redisplay=always"),
        same(PAYMENT_INTENTS, "amount", "amount=2000"),
        same(PAYMENT_INTENTS, "currency", "currency=eur"),
        same(SESSIONS, "mode", "mode=payment"),
        same(SESSIONS, "submit_type", "submit_type=pay"),
        same(
            SESSIONS,
            "payment_method_collection",
            "payment_method_collection=if_required",
        ),
        same(SUBSCRIPTIONS, "currency", "currency=usd"),
        same(INVOICES, "currency", "currency=usd"),
        same(INVOICE_ITEMS, "currency", "currency=usd"),
        same(INVOICE_ITEMS, "discountable", "discountable=false"),
    ]
}

/// The ids the samples name, made once (a paid intent afresh for each use,
/// as a refund takes it whole).
struct Fixtures {
    ids: Vec<(&'static str, String)>,
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().unwrap_or_default().to_string()
}

impl Fixtures {
    fn new(world: &mut World) -> Fixtures {
        let product = id_of(&world.post("products", "name=Fixture"));
        let price = id_of(&world.post(
            "prices",
            &format!("product={product}&unit_amount=500&currency=usd"),
        ));
        let monthly = id_of(&world.post(
            "prices",
            &format!("product={product}&unit_amount=1500&currency=usd&recurring[interval]=month"),
        ));
        let customer = world.post(
            "customers",
            "payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa",
        );
        let customer_card = customer["invoice_settings"]["default_payment_method"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let customer = id_of(&customer);
        let clock = id_of(&world.post("test_helpers/test_clocks", "frozen_time=1767225600"));
        let invoice = id_of(&world.post("invoices", &format!("customer={customer}")));
        Fixtures {
            ids: vec![
                ("{product}", product),
                ("{price}", price),
                ("{monthly}", monthly),
                ("{customer_card}", customer_card),
                ("{customer}", customer),
                ("{clock}", clock),
                ("{invoice}", invoice),
            ],
        }
    }

    /// `body` with its placeholders replaced by ids.
    fn fill(&self, world: &mut World, body: &str) -> String {
        let mut body = body.to_string();
        if body.contains("{paid_intent}") || body.contains("{paid_charge}") {
            let paid = world.post(
                "payment_intents",
                "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true",
            );
            let charge = paid["latest_charge"].as_str().unwrap_or_default();
            body = body
                .replace("{paid_intent}", &id_of(&paid))
                .replace("{paid_charge}", charge);
        }
        for (name, id) in &self.ids {
            body = body.replace(name, id);
        }
        body
    }
}

/// A value that fits any parameter of `kind`, where one does.
fn generic(param: &Param) -> Option<String> {
    let name = param.name;
    match param.kind {
        Kind::String => Some(format!("{name}=Sample text")),
        Kind::Integer => Some(format!("{name}=7")),
        Kind::Boolean => Some(format!("{name}=true")),
        Kind::Enum(options) => options.last().map(|last| format!("{name}={last}")),
        Kind::Metadata => Some(format!("{name}[sample]=kept")),
        _ => None,
    }
}

/// The top-level parameter a form key belongs to (`a` of `a[b][c]`).
fn top(pair: &str) -> &str {
    let key = pair.split('=').next().unwrap_or_default();
    key.split('[').next().unwrap_or_default()
}

/// The base body without what the sample gives or replaces, and the sample.
fn body_of(base: &str, sample: &str, replaces: &[&str]) -> String {
    let given: Vec<&str> = sample.split('&').map(top).collect();
    base.split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| !given.contains(&top(pair)) && !replaces.contains(&top(pair)))
        .chain(sample.split('&'))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether `shown` holds everything of `sent`: equal leaves, and for
/// objects, at least the keys sent.
fn holds(shown: &Value, sent: &Value) -> bool {
    match (shown, sent) {
        (Value::Object(shown), Value::Object(sent)) => sent
            .iter()
            .all(|(k, v)| holds(shown.get(k).unwrap_or(&Value::Null), v)),
        (Value::Array(shown), Value::Array(sent)) => {
            shown.len() == sent.len() && shown.iter().zip(sent).all(|(a, b)| holds(a, b))
        }
        _ => shown == sent,
    }
}

/// Sends one sample and says what is wrong with the object made, if anything.
fn try_one(
    world: &mut World,
    fixtures: &Fixtures,
    (endpoint, spec): (&str, &[Param]),
    param: &str,
    (fragment, replaces, shows): (&str, &[&str], &Shows),
) -> Result<(), String> {
    let body = fixtures.fill(world, &body_of(base(endpoint), fragment, replaces));
    let path = endpoint.trim_start_matches("POST /v1/");
    let object = world
        .call(super::Verb::Post, path, &body)
        .map_err(|e| format!("refused `{body}`: {}", e.message))?;
    let decoded = form::decode(body.as_bytes()).map_err(|e| e.to_string())?;
    let typed: Map<String, Value> = form::check(spec, &decoded).map_err(|e| e.message)?;
    let sent = typed.get(param).cloned().unwrap_or(Value::Null);
    match shows {
        Shows::Same if holds(&object[param], &sent) => Ok(()),
        Shows::Same => Err(format!(
            "sent {sent}, but the object's `{param}` is {}",
            object[param]
        )),
        Shows::At(pointer, expected, why) => {
            let shown = object.pointer(pointer).cloned().unwrap_or(Value::Null);
            let fits = match *expected {
                "\"*\"" => !shown.is_null(),
                json => serde_json::from_str::<Value>(json).ok() == Some(shown.clone()),
            };
            if fits {
                Ok(())
            } else {
                Err(format!(
                    "expected {expected} at {pointer} ({why}), found {shown}"
                ))
            }
        }
        // The request went through; what it steers is tested where it acts.
        Shows::Steers("") => Err("listed as steering, without saying how".into()),
        Shows::Steers(_) => Ok(()),
    }
}

#[test]
fn every_accepted_parameter_of_a_create_call_is_honoured() {
    let samples = samples();
    let mut world = World::new();
    let fixtures = Fixtures::new(&mut world);
    let accepted = |param: &Param| !matches!(param.kind, Kind::Unsupported | Kind::FalseOnly);
    let creates: Vec<(&str, &[Param])> = specs()
        .into_iter()
        .filter(|(endpoint, _)| endpoint.starts_with("POST ") && !endpoint.contains('{'))
        .collect();
    let mut problems = Vec::new();
    for &(endpoint, spec) in &creates {
        // `expand` only widens the answer's ids into objects.
        for param in spec.iter().filter(|p| accepted(p) && p.name != "expand") {
            let sample = samples
                .iter()
                .find(|s| s.endpoint == endpoint && s.param == param.name);
            let generic = generic(param);
            let case = match (sample, &generic) {
                (Some(s), _) => (s.body, s.replaces, &s.shows),
                (None, Some(body)) => (body.as_str(), &[][..], &Shows::Same),
                (None, None) => {
                    problems.push(format!(
                        "{endpoint} {}: no sample value; add one to samples()",
                        param.name
                    ));
                    continue;
                }
            };
            if let Err(problem) = try_one(&mut world, &fixtures, (endpoint, spec), param.name, case)
            {
                problems.push(format!("{endpoint} {}: {problem}", param.name));
            }
        }
    }
    for sample in &samples {
        let live = creates.iter().any(|(endpoint, spec)| {
            *endpoint == sample.endpoint
                && spec.iter().any(|p| p.name == sample.param && accepted(p))
        });
        if !live {
            problems.push(format!(
                "{} {}: a sample of a parameter that is not accepted; remove it",
                sample.endpoint, sample.param
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "accepted parameters that the created object does not show:\n{}",
        problems.join("\n")
    );
}

/// Every parameter's kind, by its bracket path, for every endpoint.
fn kinds(prefix: &str, spec: &[Param], out: &mut Vec<(String, Kind)>) {
    for param in spec {
        let path = if prefix.is_empty() {
            param.name.to_string()
        } else {
            format!("{prefix}[{}]", param.name)
        };
        if let Kind::Object(inner) | Kind::ObjectList(inner) = param.kind {
            kinds(&path, inner, out);
        }
        out.push((path, param.kind));
    }
}

/// `Kind::Any` takes any value unchecked, so that a bad one would be taken
/// and then ignored: only parameters that are Stripe's unions of shapes
/// (which the checks cannot express) keep it, and each is read by its
/// handler, which refuses what it cannot use.
#[test]
fn no_parameter_takes_anything_but_stripe_unions() {
    let unions = [
        // A time, or bounds `created[gt|gte|lt|lte]`: `list_page` reads both.
        "created",
        // A time, or `now`: `trial_end_param` reads both.
        "trial_end",
    ];
    let mut loose = Vec::new();
    for (endpoint, spec) in specs() {
        let mut all = Vec::new();
        kinds("", spec, &mut all);
        for (path, kind) in all {
            if kind == Kind::Any && !unions.contains(&path.as_str()) {
                loose.push(format!("{endpoint} {path}"));
            }
        }
    }
    assert!(
        loose.is_empty(),
        "parameters that take anything:\n{}",
        loose.join("\n")
    );
}
