//! Tax rates (`/v1/tax_rates`): made, read, changed (what Stripe lets
//! change once made) and listed, with `tax_rate.*` events. Applying them to
//! invoices and subscriptions is not implemented yet.

use serde_json::{Map, Value, json};

use super::{
    CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, apply_fields, check, list_where, text,
};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects;
use crate::state::{Tx, random_id};

const TAX_TYPES: &[&str] = &[
    "amusement_tax",
    "communications_tax",
    "gst",
    "hst",
    "igst",
    "jct",
    "lease_tax",
    "pst",
    "qst",
    "retail_delivery_fee",
    "rst",
    "sales_tax",
    "service_tax",
    "vat",
];

pub fn create_tax_rate(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::required("display_name", Kind::String),
        Param::required("inclusive", Kind::Boolean),
        Param::required("percentage", Kind::String),
        Param::optional("active", Kind::Boolean),
        Param::optional("country", Kind::String),
        Param::optional("description", Kind::String),
        Param::optional("jurisdiction", Kind::String),
        Param::optional("state", Kind::String),
        Param::optional("tax_type", Kind::Enum(TAX_TYPES)),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let percentage = text(&params, "percentage")
        .and_then(|p| p.parse::<f64>().ok())
        .filter(|p| (0.0..=100.0).contains(p))
        .ok_or_else(|| {
            StripeError::invalid(
                "percentage",
                "Invalid percentage: must be a number from 0 to 100.",
            )
        })?;
    let rate = json!({
        "id": random_id("txr_", 24),
        "object": "tax_rate",
        "active": params.get("active").cloned().unwrap_or(json!(true)),
        "country": text(&params, "country"),
        "created": tx.now,
        "description": text(&params, "description"),
        "display_name": text(&params, "display_name"),
        "effective_percentage": percentage,
        "flat_amount": null,
        "inclusive": params["inclusive"],
        "jurisdiction": text(&params, "jurisdiction"),
        "jurisdiction_level": null,
        "livemode": false,
        "metadata": objects::metadata(params.get("metadata")),
        "percentage": percentage,
        "rate_type": "percentage",
        "state": text(&params, "state"),
        "tax_type": text(&params, "tax_type"),
    });
    tx.put(rate.clone());
    tx.emit("tax_rate.created", &rate, None);
    Ok(rate)
}

pub fn update_tax_rate(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("active", Kind::Boolean),
        Param::optional("country", Kind::String),
        Param::optional("description", Kind::String),
        Param::optional("display_name", Kind::String),
        Param::optional("jurisdiction", Kind::String),
        Param::optional("state", Kind::String),
        Param::optional("tax_type", Kind::Enum(TAX_TYPES)),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = tx.find("tax_rate", id, "id")?;
    let mut after = before.clone();
    apply_fields(
        &mut after,
        &params,
        &[
            "active",
            "country",
            "description",
            "display_name",
            "jurisdiction",
            "state",
            "tax_type",
        ],
    );
    tx.update(&before, after.clone(), Some("tax_rate.updated"));
    Ok(after)
}

pub fn list_tax_rates(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("active", Kind::Boolean),
        Param::optional("inclusive", Kind::Boolean),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    list_where(
        tx,
        "tax_rate",
        &params,
        &["active", "inclusive"],
        "/v1/tax_rates",
    )
}
