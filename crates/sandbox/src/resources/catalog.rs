//! Products, prices, customers and payment methods.

use serde_json::{Map, Value, json};

use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, check, list_where,
    resolve_payment_method, text,
};
use crate::cards;
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, random_id};

static PRODUCT_DATA: &[Param] = &[
    Param::required("name", Kind::String),
    Param::optional("active", Kind::Boolean),
    Param::optional("description", Kind::String),
    Param::optional("images", Kind::StringList),
    METADATA,
    Param::optional("statement_descriptor", Kind::String),
    Param::optional("tax_code", Kind::String),
    Param::optional("unit_label", Kind::String),
];

static RECURRING: &[Param] = &[
    Param::required("interval", Kind::Enum(&["day", "week", "month", "year"])),
    Param::optional("interval_count", Kind::Integer),
    Param::optional("usage_type", Kind::Enum(&["licensed", "metered"])),
    Param::optional("trial_period_days", Kind::Integer),
    // Usage-based billing needs meters, which the sandbox does not have.
    Param::optional("meter", Kind::Unsupported),
];

const MARKETING_FEATURE: &[Param] = &[Param::required("name", Kind::String)];

/// A postal address, as Stripe takes it everywhere.
pub(super) const ADDRESS: &[Param] = &[
    Param::optional("city", Kind::String),
    Param::optional("country", Kind::String),
    Param::optional("line1", Kind::String),
    Param::optional("line2", Kind::String),
    Param::optional("postal_code", Kind::String),
    Param::optional("state", Kind::String),
];

/// A customer's shipping details, stored as given.
pub(super) const SHIPPING: &[Param] = &[
    Param::required("address", Kind::Object(ADDRESS)),
    Param::required("name", Kind::String),
    Param::optional("phone", Kind::String),
];

pub(super) static PRODUCT_CREATE: &[Param] = &[
    Param::required("name", Kind::String),
    Param::optional("id", Kind::String),
    Param::optional("active", Kind::Boolean),
    Param::optional("description", Kind::String),
    Param::optional("images", Kind::StringList),
    METADATA,
    Param::optional("shippable", Kind::Boolean),
    Param::optional("statement_descriptor", Kind::String),
    Param::optional("tax_code", Kind::String),
    Param::optional("unit_label", Kind::String),
    Param::optional("url", Kind::String),
    Param::optional("marketing_features", Kind::ObjectList(MARKETING_FEATURE)),
    // Stripe's dimensions are decimals, which the sandbox's checks have no
    // kind for yet.
    Param::optional("package_dimensions", Kind::Unsupported),
    Param::optional(
        "default_price_data",
        Kind::Object(&[
            Param::required("currency", Kind::String),
            Param::optional("unit_amount", Kind::Integer),
            Param::optional("recurring", Kind::Object(RECURRING)),
            Param::optional(
                "tax_behavior",
                Kind::Enum(&["exclusive", "inclusive", "unspecified"]),
            ),
            METADATA,
        ]),
    ),
    EXPAND,
];

pub(super) static PRODUCT_UPDATE: &[Param] = &[
    Param::optional("name", Kind::String),
    Param::optional("active", Kind::Boolean),
    Param::optional("default_price", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("images", Kind::StringList),
    METADATA,
    Param::optional("shippable", Kind::Boolean),
    Param::optional("statement_descriptor", Kind::String),
    Param::optional("tax_code", Kind::String),
    Param::optional("unit_label", Kind::String),
    Param::optional("url", Kind::String),
    Param::optional("marketing_features", Kind::ObjectList(MARKETING_FEATURE)),
    // Stripe's dimensions are decimals, which the sandbox's checks have no
    // kind for yet.
    Param::optional("package_dimensions", Kind::Unsupported),
    EXPAND,
];

pub fn create_product(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(PRODUCT_CREATE, raw)?;
    let id = match text(&params, "id") {
        Some(id) if tx.get(id).is_some() => {
            return Err(
                StripeError::invalid("id", format!("Product already exists with ID {id}"))
                    .with_code("resource_already_exists"),
            );
        }
        Some(id) => id.to_string(),
        None => random_id("prod_", 14),
    };
    let mut product = objects::product(id.clone(), &params, tx.now);
    tx.put(product.clone());
    tx.emit("product.created", &product, None);
    if let Some(data) = params.get("default_price_data").and_then(Value::as_object) {
        let price = new_price(tx, &id, data)?;
        product["default_price"] = price["id"].clone();
        tx.put(product.clone());
    }
    Ok(product)
}

pub fn update_product(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(PRODUCT_UPDATE, raw)?;
    let before = tx.find("product", id, "id")?;
    let mut after = before.clone();
    if let Some(price) = text(&params, "default_price") {
        let found = tx.find("price", price, "default_price")?;
        if found["product"] != id {
            return Err(StripeError::invalid(
                "default_price",
                format!("The price {price} does not belong to the product {id}."),
            ));
        }
    }
    apply_fields(
        &mut after,
        &params,
        &[
            "name",
            "active",
            "default_price",
            "description",
            "images",
            "marketing_features",
            "shippable",
            "statement_descriptor",
            "tax_code",
            "unit_label",
            "url",
        ],
    );
    after["updated"] = json!(tx.now);
    tx.update(&before, after.clone(), Some("product.updated"));
    Ok(after)
}

pub fn delete_product(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let product = tx.find("product", id, "id")?;
    if tx.state().newest_first("price").any(|p| p["product"] == id) {
        return Err(StripeError::request(
            "This product cannot be deleted because it has one or more user-created prices.",
        ));
    }
    tx.put(objects::deleted(id, "product"));
    tx.emit("product.deleted", &product, None);
    Ok(objects::deleted(id, "product"))
}

pub(super) static LIST_PRODUCTS: &[Param] = &[
    Param::optional("active", Kind::Boolean),
    Param::optional("shippable", Kind::Boolean),
    Param::optional("ids", Kind::StringList),
    Param::optional("url", Kind::String),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_products(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_PRODUCTS, raw)?;
    list_where(
        tx,
        "product",
        &params,
        &["active", "shippable", "url"],
        "/v1/products",
    )
}

pub(super) static PRICE_CREATE: &[Param] = &[
    Param::required("currency", Kind::String),
    Param::optional("unit_amount", Kind::Integer),
    Param::optional("unit_amount_decimal", Kind::String),
    Param::optional("product", Kind::String),
    Param::optional("product_data", Kind::Object(PRODUCT_DATA)),
    Param::optional("recurring", Kind::Object(RECURRING)),
    Param::optional("active", Kind::Boolean),
    Param::optional("nickname", Kind::String),
    Param::optional("lookup_key", Kind::String),
    Param::optional("transfer_lookup_key", Kind::Boolean),
    Param::optional(
        "tax_behavior",
        Kind::Enum(&["exclusive", "inclusive", "unspecified"]),
    ),
    Param::optional("billing_scheme", Kind::Enum(&["per_unit"])),
    METADATA,
    EXPAND,
];

pub fn create_price(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(PRICE_CREATE, raw)?;
    let product = match (
        text(&params, "product"),
        params.get("product_data").and_then(Value::as_object),
    ) {
        (Some(product), None) => tx.find("product", product, "product")?["id"]
            .as_str()
            .unwrap_or(product)
            .to_string(),
        (None, Some(data)) => {
            let product = objects::product(random_id("prod_", 14), data, tx.now);
            tx.put(product.clone());
            tx.emit("product.created", &product, None);
            product["id"].as_str().unwrap_or_default().to_string()
        }
        (Some(_), Some(_)) => {
            return Err(StripeError::request(
                "You may only specify one of these parameters: product, product_data.",
            ));
        }
        (None, None) => return Err(StripeError::missing("product")),
    };
    let price = new_price(tx, &product, &params)?;
    transfer_lookup_key(tx, &params, price["id"].as_str().unwrap_or_default());
    Ok(price)
}

/// With `transfer_lookup_key=true`, the lookup key moves to the price `to`:
/// the other prices that had it lose it, as on Stripe.
fn transfer_lookup_key(tx: &mut Tx<'_>, params: &Map<String, Value>, to: &str) {
    let Some(key) = text(params, "lookup_key") else {
        return;
    };
    if params.get("transfer_lookup_key") != Some(&json!(true)) {
        return;
    }
    let holders: Vec<Value> = tx
        .state()
        .newest_first("price")
        .filter(|p| p["lookup_key"] == key && p["id"] != to)
        .cloned()
        .collect();
    for before in holders {
        let mut after = before.clone();
        after["lookup_key"] = Value::Null;
        tx.update(&before, after, Some("price.updated"));
    }
}

/// Creates a price of `product` from `price_data`-like parameters.
pub fn new_price(
    tx: &mut Tx<'_>,
    product: &str,
    params: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let currency = super::currency(params, "currency")?;
    let mut params = params.clone();
    params.insert("currency".into(), json!(currency));
    let amount = match (
        params.get("unit_amount").and_then(Value::as_i64),
        text(&params, "unit_amount_decimal"),
    ) {
        (Some(amount), _) => amount,
        (None, Some(decimal)) => {
            decimal
                .parse::<f64>()
                .map(|d| d.round() as i64)
                .map_err(|_| {
                    StripeError::invalid(
                        "unit_amount_decimal",
                        format!("Invalid decimal: {decimal}"),
                    )
                })?
        }
        (None, None) => return Err(StripeError::missing("unit_amount")),
    };
    if amount < 0 {
        return Err(StripeError::invalid(
            "unit_amount",
            "Invalid non-negative integer",
        ));
    }
    params.insert("unit_amount".into(), json!(amount));
    if let Some(recurring) = params.get("recurring").and_then(Value::as_object)
        && let Some(count) = recurring.get("interval_count").and_then(Value::as_i64)
    {
        if count < 1 {
            return Err(StripeError::invalid(
                "recurring[interval_count]",
                "Invalid positive integer",
            ));
        }
        // Stripe's longest billing period is three years.
        let most = match recurring.get("interval").and_then(Value::as_str) {
            Some("day") => 1_095,
            Some("week") => 156,
            Some("year") => 3,
            _ => 36,
        };
        if count > most {
            return Err(StripeError::invalid(
                "recurring[interval_count]",
                "Invalid recurring[interval_count]: the maximum billing period is three years.",
            ));
        }
    }
    let price = objects::price(random_id("price_", 24), product, &params, tx.now);
    tx.put(price.clone());
    tx.emit("price.created", &price, None);
    Ok(price)
}

pub(super) static UPDATE_PRICE: &[Param] = &[
    Param::optional("active", Kind::Boolean),
    Param::optional("nickname", Kind::String),
    Param::optional("lookup_key", Kind::String),
    Param::optional("transfer_lookup_key", Kind::Boolean),
    Param::optional(
        "tax_behavior",
        Kind::Enum(&["exclusive", "inclusive", "unspecified"]),
    ),
    METADATA,
    EXPAND,
];

pub fn update_price(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(UPDATE_PRICE, raw)?;
    let before = tx.find("price", id, "id")?;
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &["active", "nickname", "lookup_key", "tax_behavior"],
    );
    transfer_lookup_key(tx, &params, id);
    tx.update(&before, after.clone(), Some("price.updated"));
    Ok(after)
}

pub(super) static LIST_PRICES: &[Param] = &[
    Param::optional("active", Kind::Boolean),
    Param::optional("currency", Kind::String),
    Param::optional("product", Kind::String),
    Param::optional("type", Kind::Enum(&["one_time", "recurring"])),
    Param::optional("lookup_keys", Kind::StringList),
    // Filtering on the interval is not implemented yet.
    Param::optional("recurring", Kind::Unsupported),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_prices(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_PRICES, raw)?;
    let lookup: Vec<Value> = params
        .get("lookup_keys")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if lookup.is_empty() {
        return list_where(
            tx,
            "price",
            &params,
            &["active", "currency", "product", "type"],
            "/v1/prices",
        );
    }
    let items: Vec<Value> = tx
        .state()
        .newest_first("price")
        .filter(|p| lookup.contains(&p["lookup_key"]))
        .cloned()
        .collect();
    crate::state::list_page(items.iter(), &params, "/v1/prices")
}

/// A custom field of an invoice (or of a customer's invoices), shown on it
/// as given.
pub(super) const CUSTOM_FIELD: &[Param] = &[
    Param::required("name", Kind::String),
    Param::required("value", Kind::String),
];

pub(super) static CUSTOMER_FIELDS: &[Param] = &[
    Param::optional("email", Kind::String),
    Param::optional("name", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("phone", Kind::String),
    Param::optional("address", Kind::Object(ADDRESS)),
    Param::optional("shipping", Kind::Object(SHIPPING)),
    Param::optional("balance", Kind::Integer),
    Param::optional("preferred_locales", Kind::StringList),
    Param::optional("payment_method", Kind::String),
    Param::optional(
        "invoice_settings",
        Kind::Object(&[
            Param::optional("default_payment_method", Kind::String),
            Param::optional("custom_fields", Kind::ObjectList(CUSTOM_FIELD)),
            Param::optional("footer", Kind::String),
            Param::optional(
                "rendering_options",
                Kind::Object(&[
                    Param::optional(
                        "amount_tax_display",
                        Kind::Enum(&["exclude_tax", "include_inclusive_tax"]),
                    ),
                    Param::optional("template", Kind::String),
                ]),
            ),
        ]),
    ),
    Param::optional("tax_exempt", Kind::Enum(&["exempt", "none", "reverse"])),
    // Tax ids are objects of their own, which the sandbox does not have.
    Param::optional("tax_id_data", Kind::Unsupported),
    Param::optional("test_clock", Kind::String),
    Param::optional("source", Kind::String),
    METADATA,
    EXPAND,
];

pub fn create_customer(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(CUSTOMER_FIELDS, raw)?;
    let clock = super::test_clocks::clock_of_new_customer(tx, &params)?;
    let id = random_id("cus_", 14);
    let mut customer = objects::customer(id.clone(), &params, tx.now);
    if let Some(clock) = clock {
        customer["test_clock"] = clock["id"].clone();
    }
    // The customer exists before its payment method is attached to it.
    tx.put(customer.clone());
    if let Some(pm) = text(&params, "payment_method") {
        let attached = attach(tx, pm, &id, "payment_method")?;
        // A test payment method attaches as a copy with its own id.
        if customer["invoice_settings"]["default_payment_method"].as_str() == Some(pm) {
            customer["invoice_settings"]["default_payment_method"] = attached["id"].clone();
        }
    }
    // A source (`tok_visa`) is kept as the payment method of its card, which
    // the customer's invoices are charged to when no default is set.
    if let Some(source) = text(&params, "source") {
        let attached = attach(tx, source, &id, "source")?;
        customer["default_source"] = attached["id"].clone();
    }
    if let Some(default) = customer["invoice_settings"]["default_payment_method"]
        .as_str()
        .map(str::to_string)
    {
        resolve_payment_method(tx, &default, "invoice_settings[default_payment_method]")?;
    }
    tx.put(customer.clone());
    tx.emit("customer.created", &customer, None);
    Ok(customer)
}

pub fn retrieve_customer(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    match tx.get(id) {
        // A deleted customer is still answered, marked deleted, as Stripe does.
        Some(found) if found["object"] == "customer" => Ok(found.clone()),
        _ => Err(StripeError::no_such("customer", id, "id")),
    }
}

pub fn update_customer(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(CUSTOMER_FIELDS, raw)?;
    let before = tx.find("customer", id, "id")?;
    if params.contains_key("test_clock") {
        return Err(StripeError::invalid(
            "test_clock",
            "A customer's test clock cannot change: a customer joins a test clock when it is created.",
        ));
    }
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &[
            "email",
            "name",
            "description",
            "phone",
            "address",
            "shipping",
            "balance",
            "preferred_locales",
            "tax_exempt",
        ],
    );
    if let Some(pm) = text(&params, "payment_method") {
        attach(tx, pm, id, "payment_method")?;
    }
    if let Some(source) = text(&params, "source") {
        after["default_source"] = attach(tx, source, id, "source")?["id"].clone();
    }
    if let Some(settings) = params.get("invoice_settings").and_then(Value::as_object) {
        apply_fields(
            &mut after["invoice_settings"],
            settings,
            &["custom_fields", "footer", "rendering_options"],
        );
    }
    if let Some(settings) = params.get("invoice_settings").and_then(Value::as_object)
        && let Some(default) = settings.get("default_payment_method")
    {
        if let Some(pm) = default.as_str().filter(|s| !s.is_empty()) {
            let (found, _) =
                resolve_payment_method(tx, pm, "invoice_settings[default_payment_method]")?;
            if found["customer"] != id {
                return Err(StripeError::invalid(
                    "invoice_settings[default_payment_method]",
                    format!(
                        "The customer does not have a payment method with the ID {pm}. The payment method must be attached to the customer."
                    ),
                ));
            }
            after["invoice_settings"]["default_payment_method"] = json!(pm);
        } else {
            after["invoice_settings"]["default_payment_method"] = Value::Null;
        }
    }
    tx.update(&before, after.clone(), Some("customer.updated"));
    Ok(after)
}

pub fn delete_customer(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let customer = tx.find("customer", id, "id")?;
    // Stripe cancels a deleted customer's subscriptions first.
    let subscriptions: Vec<Value> = tx
        .state()
        .newest_first("subscription")
        .filter(|s| s["customer"] == id && s["status"] != "canceled")
        .cloned()
        .collect();
    for subscription in subscriptions {
        super::billing_cycle::cancel(tx, &subscription, "cancellation_requested");
    }
    let gone = objects::deleted(id, "customer");
    tx.put(gone.clone());
    tx.emit("customer.deleted", &customer, None);
    Ok(gone)
}

pub(super) static LIST_CUSTOMERS: &[Param] = &[
    Param::optional("email", Kind::String),
    Param::optional("test_clock", Kind::String),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_customers(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_CUSTOMERS, raw)?;
    list_where(
        tx,
        "customer",
        &params,
        &["email", "test_clock"],
        "/v1/customers",
    )
}

pub(super) static PAYMENT_METHOD_CREATE: &[Param] = &[
    Param::optional("type", Kind::Enum(&["card"])),
    Param::optional(
        "card",
        Kind::Object(&[
            Param::optional("token", Kind::String),
            Param::optional("number", Kind::String),
            Param::optional("exp_month", Kind::Integer),
            Param::optional("exp_year", Kind::Integer),
            Param::optional("cvc", Kind::String),
            // A preferred network for co-branded cards, which no test card is.
            Param::optional("networks", Kind::Unsupported),
        ]),
    ),
    Param::optional(
        "billing_details",
        Kind::Object(&[
            Param::optional("address", Kind::Object(ADDRESS)),
            Param::optional("email", Kind::String),
            Param::optional("name", Kind::String),
            Param::optional("phone", Kind::String),
            Param::optional("tax_id", Kind::String),
        ]),
    ),
    Param::optional(
        "allow_redisplay",
        Kind::Enum(&["always", "limited", "unspecified"]),
    ),
    // Cloning a customer's payment method onto a connected account is
    // Connect's, which the sandbox does not have.
    Param::optional("customer", Kind::Unsupported),
    Param::optional("payment_method", Kind::Unsupported),
    METADATA,
    EXPAND,
];

pub fn create_payment_method(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(PAYMENT_METHOD_CREATE, raw)?;
    if text(&params, "type").is_none() {
        return Err(StripeError::missing("type"));
    }
    let card_params = params.get("card").and_then(Value::as_object);
    let card = match (card_params.and_then(|c| text(c, "token")), card_params.and_then(|c| text(c, "number"))) {
        (Some(token), _) => cards::by_test_name(token).ok_or_else(|| StripeError::no_such("token", token, "card[token]"))?,
        (None, Some(number)) => cards::by_number(number).ok_or_else(|| {
            let mut e = StripeError::new(402, "card_error", "Your card was declined. Your request was in test mode, but used a non test card. For a list of valid test cards, visit: https://stripe.com/docs/testing.")
                .with_code("card_declined");
            e.decline_code = Some("test_mode_live_card".into());
            e.param = Some("card[number]".into());
            e
        })?,
        (None, None) => return Err(StripeError::missing("card")),
    };
    let mut pm = objects::payment_method(
        random_id("pm_", 24),
        card,
        Value::Null,
        objects::billing_details(params.get("billing_details")),
        objects::metadata(params.get("metadata")),
        tx.now,
    );
    apply_fields(&mut pm, &params, &["allow_redisplay"]);
    tx.put(pm.clone());
    Ok(pm)
}

/// Attaches a payment method to a customer. A test payment method
/// (`pm_card_visa`) is copied to a new one, as Stripe does.
pub fn attach(
    tx: &mut Tx<'_>,
    id: &str,
    customer: &str,
    param: &str,
) -> Result<Value, StripeError> {
    tx.find("customer", customer, "customer")?;
    let (found, card) = resolve_payment_method(tx, id, param)?;
    if !found["customer"].is_null() && found["customer"] != customer {
        return Err(StripeError::invalid(
            param,
            "The payment method you provided has already been attached to a customer.",
        ));
    }
    let before = found.clone();
    let mut attached = if cards::by_test_name(id).is_some() {
        objects::payment_method(
            random_id("pm_", 24),
            card,
            Value::Null,
            found["billing_details"].clone(),
            found["metadata"].clone(),
            tx.now,
        )
    } else {
        found
    };
    attached["customer"] = json!(customer);
    tx.put(attached.clone());
    if before["customer"].is_null() {
        tx.emit("payment_method.attached", &attached, None);
    }
    Ok(attached)
}

pub(super) static ATTACH_PAYMENT_METHOD: &[Param] =
    &[Param::required("customer", Kind::String), EXPAND];

pub fn attach_payment_method(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(ATTACH_PAYMENT_METHOD, raw)?;
    attach(
        tx,
        id,
        text(&params, "customer").unwrap_or_default(),
        "payment_method",
    )
}

pub fn detach_payment_method(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    let (found, _) = resolve_payment_method(tx, id, "payment_method")?;
    if found["customer"].is_null() {
        return Err(StripeError::request(format!(
            "The payment method {id} is not attached to a customer."
        )));
    }
    let mut detached = found.clone();
    detached["customer"] = Value::Null;
    tx.put(detached.clone());
    tx.emit(
        "payment_method.detached",
        &detached,
        Some(json!({ "customer": found["customer"] })),
    );
    Ok(detached)
}

pub(super) static PAYMENT_METHOD_LIST: &[Param] = &[
    Param::optional("customer", Kind::String),
    Param::optional("type", Kind::String),
    Param::optional("allow_redisplay", Kind::String),
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_payment_methods(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(PAYMENT_METHOD_LIST, raw)?;
    list_where(
        tx,
        "payment_method",
        &params,
        &["customer", "type"],
        "/v1/payment_methods",
    )
}

pub fn list_customer_payment_methods(
    tx: &mut Tx<'_>,
    customer: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let mut params = check(PAYMENT_METHOD_LIST, raw)?;
    tx.find("customer", customer, "customer")?;
    params.insert("customer".into(), json!(customer));
    list_where(
        tx,
        "payment_method",
        &params,
        &["customer", "type"],
        &format!("/v1/customers/{customer}/payment_methods"),
    )
}
