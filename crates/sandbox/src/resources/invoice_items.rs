//! Invoice items: amounts waiting for a customer's next invoice, or added
//! to a draft one at once; changed or deleted only while they wait or their
//! invoice is a draft, when the draft's line and totals follow.

use serde_json::{Map, Value, json};

use super::invoices::{add_item_line, refresh_item_line, remove_item_line};
use super::{
    CREATED, DISCOUNTS, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, check,
    currency, list_where, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, random_id};

/// The period an item covers, shown on it and its line as given.
const PERIOD: &[Param] = &[
    Param::required("start", Kind::Timestamp),
    Param::required("end", Kind::Timestamp),
];

pub(super) static INVOICE_ITEM_CREATE: &[Param] = &[
    Param::required("customer", Kind::String),
    Param::optional("amount", Kind::Integer),
    Param::optional("currency", Kind::String),
    Param::optional("price", Kind::String),
    Param::optional(
        "pricing",
        Kind::Object(&[Param::optional("price", Kind::String)]),
    ),
    // Prices are made first; an amount is given whole.
    Param::optional("price_data", Kind::Unsupported),
    Param::optional("quantity", Kind::Integer),
    Param::optional("unit_amount_decimal", Kind::Unsupported),
    Param::optional("description", Kind::String),
    Param::optional("invoice", Kind::String),
    // A subscription's next invoice does not take pending items yet.
    Param::optional("subscription", Kind::Unsupported),
    Param::optional("discountable", Kind::Boolean),
    DISCOUNTS,
    Param::optional("period", Kind::Object(PERIOD)),
    // There is no tax.
    Param::optional("tax_rates", Kind::Unsupported),
    Param::optional("tax_behavior", Kind::Unsupported),
    Param::optional("tax_code", Kind::Unsupported),
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
                total(
                    found["unit_amount"].as_i64().unwrap_or(0),
                    quantity,
                    "quantity",
                )?,
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
    let mut item = objects::invoice_item(
        random_id("ii_", 24),
        &customer,
        amount,
        &currency_value,
        &params,
        tx.now,
    );
    apply_fields(&mut item, &params, &["discountable", "period"]);
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

/// A unit amount times a quantity, refused rather than overflowing.
fn total(unit: i64, quantity: i64, param: &str) -> Result<i64, StripeError> {
    unit.checked_mul(quantity).ok_or_else(|| {
        StripeError::invalid(
            param,
            format!("The amount, {unit} times {quantity}, is too large."),
        )
    })
}

pub(super) static LIST_INVOICE_ITEMS: &[Param] = &[
    Param::optional("customer", Kind::String),
    Param::optional("invoice", Kind::String),
    Param::optional("pending", Kind::Boolean),
    CREATED,
    LIMIT,
    STARTING_AFTER,
    ENDING_BEFORE,
    EXPAND,
];

pub fn list_invoice_items(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    let params = check(LIST_INVOICE_ITEMS, raw)?;
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

/// The draft invoice an item is on, or `None` when it is pending; Stripe's
/// refusal when its invoice is finalized, since a finalized invoice no
/// longer changes.
fn editable_invoice(tx: &Tx<'_>, item: &Value, doing: &str) -> Result<Option<Value>, StripeError> {
    let Some(invoice_id) = item["invoice"].as_str() else {
        return Ok(None);
    };
    let invoice = tx.find("invoice", invoice_id, "invoice")?;
    if invoice["status"] == "draft" {
        return Ok(Some(invoice));
    }
    Err(StripeError::request(format!(
        "You cannot {doing} invoice item {} because its invoice {invoice_id} is no longer a draft (its status is {}). Invoice items can only be changed while they are pending or on a draft invoice.",
        item["id"].as_str().unwrap_or_default(),
        invoice["status"].as_str().unwrap_or_default()
    ))
    .with_code("invoice_not_editable"))
}

pub fn delete_invoice_item(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[], raw)?;
    let item = tx.find("invoiceitem", id, "id")?;
    let draft = editable_invoice(tx, &item, "delete")?;
    let gone = objects::deleted(id, "invoiceitem");
    tx.put(gone.clone());
    tx.emit("invoiceitem.deleted", &item, None);
    if let Some(before) = draft {
        let mut after = before.clone();
        remove_item_line(&mut after, id);
        tx.update(&before, after, Some("invoice.updated"));
    }
    Ok(gone)
}

pub(super) static UPDATE_INVOICE_ITEM: &[Param] = &[
    Param::optional("amount", Kind::Integer),
    Param::optional("description", Kind::String),
    Param::optional("quantity", Kind::Integer),
    Param::optional("discountable", Kind::Boolean),
    DISCOUNTS,
    Param::optional("period", Kind::Object(PERIOD)),
    // A new price is not taken yet: change the amount instead.
    Param::optional("price_data", Kind::Unsupported),
    Param::optional("pricing", Kind::Unsupported),
    Param::optional("tax_behavior", Kind::Unsupported),
    Param::optional("tax_code", Kind::Unsupported),
    Param::optional("tax_rates", Kind::Unsupported),
    Param::optional("unit_amount_decimal", Kind::Unsupported),
    METADATA,
    EXPAND,
];

/// Changes an invoice item. Stripe has no event for it (there is no
/// `invoiceitem.updated`); a draft whose total changes emits
/// `invoice.updated`.
pub fn update_invoice_item(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    let params = check(UPDATE_INVOICE_ITEM, raw)?;
    let before = tx.find("invoiceitem", id, "id")?;
    let only_metadata = params.keys().all(|k| k == "metadata" || k == "expand");
    let draft = if only_metadata {
        None
    } else {
        editable_invoice(tx, &before, "change")?
    };
    let old_quantity = before["quantity"].as_i64().unwrap_or(1);
    let quantity = match params.get("quantity").and_then(Value::as_i64) {
        Some(q) if q < 0 => {
            return Err(StripeError::invalid(
                "quantity",
                "This value must be greater than or equal to 0.",
            ));
        }
        Some(q) => q,
        None => old_quantity,
    };
    // A new quantity alone keeps the unit amount; a new amount is the total.
    let amount = match params.get("amount").and_then(Value::as_i64) {
        Some(amount) => amount,
        None => {
            let unit = before["amount"].as_i64().unwrap_or(0) / old_quantity.max(1);
            total(unit, quantity, "quantity")?
        }
    };
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &["description", "discountable", "period"],
    );
    after["amount"] = json!(amount);
    after["net_amount"] = json!(amount);
    after["quantity"] = json!(quantity);
    after["quantity_decimal"] = json!(quantity.to_string());
    after["pricing"]["unit_amount_decimal"] = json!((amount / quantity.max(1)).to_string());
    tx.put(after.clone());
    if let Some(before_invoice) = draft {
        let mut invoice = before_invoice.clone();
        refresh_item_line(&mut invoice, &after);
        tx.update(&before_invoice, invoice, Some("invoice.updated"));
    }
    Ok(after)
}
