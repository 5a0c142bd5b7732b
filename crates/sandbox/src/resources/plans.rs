//! Plans (`/v1/plans`), Stripe's older name for a recurring price: a plan
//! is made, read, changed and deleted here as the recurring price it is
//! (the same id), answered in the plan's shape, with `plan.*` events beside
//! the price's.

use serde_json::{Map, Value, json};

use super::catalog::new_price;
use super::{CREATED, ENDING_BEFORE, LIMIT, METADATA, STARTING_AFTER, check, text};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::objects::{self, plan_of};
use crate::state::{Tx, list_page, random_id};

/// The price behind a plan that is not deleted.
fn plan_price(tx: &Tx<'_>, id: &str) -> Result<Value, StripeError> {
    match tx.get(id) {
        Some(price)
            if price["object"] == "price"
                && !price["recurring"].is_null()
                && price.get("x_plan_deleted").is_none() =>
        {
            Ok(price.clone())
        }
        _ => Err(StripeError::no_such("plan", id, "id")),
    }
}

pub fn create_plan(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::required("currency", Kind::String),
        Param::required("interval", Kind::Enum(&["day", "week", "month", "year"])),
        Param::optional("interval_count", Kind::Integer),
        Param::optional("amount", Kind::Integer),
        Param::optional("product", Kind::Any),
        // A plan's own id would be a price's, which the sandbox's prices
        // do not take yet.
        Param::optional("id", Kind::Unsupported),
        Param::optional("nickname", Kind::String),
        Param::optional("active", Kind::Boolean),
        Param::optional("usage_type", Kind::Enum(&["licensed"])),
        Param::optional("billing_scheme", Kind::Enum(&["per_unit"])),
        Param::optional("amount_decimal", Kind::Unsupported),
        Param::optional("tiers", Kind::Unsupported),
        Param::optional("tiers_mode", Kind::Unsupported),
        Param::optional("transform_usage", Kind::Unsupported),
        Param::optional("trial_period_days", Kind::Unsupported),
        Param::optional("meter", Kind::Unsupported),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let product = match params.get("product") {
        Some(Value::String(id)) if !id.is_empty() => tx.find("product", id, "product")?,
        Some(Value::Object(data)) => {
            if data
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(StripeError::missing("product[name]"));
            }
            let product = objects::product(random_id("prod_", 14), data, tx.now);
            tx.put(product.clone());
            tx.emit("product.created", &product, None);
            product
        }
        _ => return Err(StripeError::missing("product")),
    };
    let mut price_params = Map::new();
    for (from, to) in [
        ("currency", "currency"),
        ("amount", "unit_amount"),
        ("nickname", "nickname"),
        ("active", "active"),
        ("metadata", "metadata"),
    ] {
        if let Some(value) = params.get(from) {
            price_params.insert(to.into(), value.clone());
        }
    }
    price_params.insert(
        "recurring".into(),
        json!({
            "interval": params["interval"],
            "interval_count": params.get("interval_count").cloned().unwrap_or(json!(1)),
        }),
    );
    let product_id = product["id"].as_str().unwrap_or_default().to_string();
    let price = new_price(tx, &product_id, &price_params)?;
    let plan = plan_of(&price);
    tx.emit("plan.created", &plan, None);
    Ok(plan)
}

pub fn retrieve_plan(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    check(&[EXPAND], raw)?;
    Ok(plan_of(&plan_price(tx, id)?))
}

pub fn update_plan(
    tx: &mut Tx<'_>,
    id: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("active", Kind::Boolean),
        Param::optional("nickname", Kind::String),
        Param::optional("product", Kind::Unsupported),
        Param::optional("trial_period_days", Kind::Unsupported),
        METADATA,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let before = plan_price(tx, id)?;
    let mut after = before.clone();
    super::apply_fields(&mut after, &params, &["active", "nickname"]);
    let previous = crate::state::previous_attributes(&plan_of(&before), &plan_of(&after));
    tx.update(&before, after.clone(), Some("price.updated"));
    let plan = plan_of(&after);
    if previous
        .as_object()
        .is_some_and(|changed| !changed.is_empty())
    {
        tx.emit("plan.updated", &plan, Some(previous));
    }
    Ok(plan)
}

/// Deletes a plan: no new subscription can take it; its price is archived
/// and the subscriptions on it go on, as at Stripe.
pub fn delete_plan(tx: &mut Tx<'_>, id: &str) -> Result<Value, StripeError> {
    let before = plan_price(tx, id)?;
    let mut archived = before.clone();
    archived["active"] = json!(false);
    archived["x_plan_deleted"] = json!(true);
    tx.put(archived);
    tx.emit("plan.deleted", &plan_of(&before), None);
    Ok(objects::deleted(id, "plan"))
}

pub fn list_plans(tx: &mut Tx<'_>, raw: &Map<String, Value>) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::optional("active", Kind::Boolean),
        Param::optional("product", Kind::String),
        CREATED,
        LIMIT,
        STARTING_AFTER,
        ENDING_BEFORE,
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let active = params.get("active").and_then(Value::as_bool);
    let product = text(&params, "product");
    let plans: Vec<Value> = tx
        .state()
        .newest_first("price")
        .filter(|p| !p["recurring"].is_null() && p.get("x_plan_deleted").is_none())
        .filter(|p| active.is_none_or(|a| p["active"] == a))
        .filter(|p| product.is_none_or(|id| p["product"] == id))
        .map(plan_of)
        .collect();
    list_page(plans.iter(), &params, "/v1/plans")
}
