//! Invoice items: amounts waiting for a customer's next invoice, or added
//! to a draft one at once.

use serde_json::{Map, Value, json};

use super::invoices::add_item_line;
use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, check, currency, list_where, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, random_id};

static INVOICE_ITEM_CREATE: &[Param] = &[
    Param::required("customer", Kind::String),
    Param::optional("amount", Kind::Integer),
    Param::optional("currency", Kind::String),
    Param::optional("price", Kind::String),
    Param::optional("pricing", Kind::Any),
    Param::optional("price_data", Kind::Any),
    Param::optional("quantity", Kind::Integer),
    Param::optional("unit_amount_decimal", Kind::String),
    Param::optional("description", Kind::String),
    Param::optional("invoice", Kind::String),
    Param::optional("subscription", Kind::String),
    Param::optional("discountable", Kind::Boolean),
    Param::optional("discounts", Kind::Any),
    Param::optional("period", Kind::Any),
    Param::optional("tax_rates", Kind::StringList),
    Param::optional("tax_behavior", Kind::String),
    Param::optional("tax_code", Kind::String),
    METADATA,
    EXPAND,
];

pub fn create_invoice_item(
    tx: &mut Tx<'_>,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let mut params = check(INVOICE_ITEM_CREATE, raw)?;
    let customer = text(&params, "customer").unwrap_or_default().to_string();
    tx.find("customer", &customer, "customer")?;
    let quantity = params.get("quantity").and_then(Value::as_i64).unwrap_or(1);
    let price_id = text(&params, "price")
        .or_else(|| {
            params
                .get("pricing")
                .and_then(|p| p.get("price"))
                .and_then(Value::as_str)
        })
        .map(str::to_string);
    let (amount, currency_value) = match (params.get("amount").and_then(Value::as_i64), price_id) {
        (Some(amount), None) => (amount, json!(currency(&params, "currency")?)),
        (None, Some(price)) => {
            let found = tx.find("price", &price, "price")?;
            (
                found["unit_amount"].as_i64().unwrap_or(0) * quantity,
                found["currency"].clone(),
            )
        }
        (Some(_), Some(_)) => {
            return Err(StripeError::request(
                "You may only specify one of these parameters: amount, price.",
            ));
        }
        (None, None) => return Err(StripeError::missing("amount")),
    };
    if let Some(invoice_id) = text(&params, "invoice").map(str::to_string) {
        let invoice = tx.find("invoice", &invoice_id, "invoice")?;
        if invoice["status"] != "draft" {
            return Err(StripeError::invalid(
                "invoice",
                "You can only add invoice items to draft invoices.",
            ));
        }
    }
    params.insert("quantity".into(), json!(quantity));
    let item = objects::invoice_item(
        random_id("ii_", 24),
        &customer,
        amount,
        &currency_value,
        &params,
        tx.now,
    );
    tx.put(item.clone());
    tx.emit("invoiceitem.created", &item, None);
    if let Some(invoice_id) = text(&params, "invoice") {
        let before = tx.find("invoice", invoice_id, "invoice")?;
        let mut after = before.clone();
        add_item_line(&mut after, &item, tx.now);
        tx.update(&before, after, Some("invoice.updated"));
    }
    Ok(item)
}

pub fn list_invoice_items(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("customer", Kind::String),
        Param::optional("invoice", Kind::String),
        Param::optional("pending", Kind::Boolean),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let pending = params.get("pending").and_then(Value::as_bool);
    let mut page = list_where(
        tx,
        "invoiceitem",
        &params,
        &["customer", "invoice"],
        "/v1/invoiceitems",
    )?;
    if let (Some(pending), Some(items)) = (pending, page["data"].as_array_mut()) {
        items.retain(|i| i["invoice"].is_null() == pending);
    }
    Ok(page)
}
