//! The `table.*` actions: a step's rendered input becomes a [`TableOp`].
//!
//! The loader already checked every literal (table, columns, operators); what
//! is checked here is what only the run knows, the values expressions gave.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{ActionError, ActionPlan};
use paywire_model::{Project, Table};
use paywire_store::{Direction, Filter, FilterOp, OnConflict, Selector, TableOp};

/// Rows a select returns when the step gives no limit.
const DEFAULT_LIMIT: u32 = 100;

/// What a `table.*` step does: a select reads, and every other action
/// writes, which the runner commits together with the step's record.
pub fn plan(project: &Project, action: &str, input: &Value) -> Result<ActionPlan, ActionError> {
    let op = parse(project, action, input)?;
    Ok(match op {
        TableOp::Select { .. } => ActionPlan::TableRead(op),
        _ => ActionPlan::TableWrite(op),
    })
}

fn invalid(message: impl Into<String>) -> ActionError {
    ActionError::invalid("TableError", message)
}

fn parse(project: &Project, action: &str, input: &Value) -> Result<TableOp, ActionError> {
    let input = input
        .as_object()
        .ok_or_else(|| invalid("the input must be a mapping"))?;
    let table_name = input
        .get("table")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`table` must name a table"))?;
    let table = project
        .tables
        .get(table_name)
        .cloned()
        .ok_or_else(|| invalid(format!("there is no table `{table_name}`")))?;
    let selector = || selector(&table, action, input);
    Ok(match action {
        "table.select" => TableOp::Select {
            selector: selector()?,
            order: order(input.get("order"))?,
            limit: match input.get("limit") {
                None | Some(Value::Null) => DEFAULT_LIMIT,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid("`limit` must be a whole number"))?,
            },
            offset: match input.get("offset") {
                None | Some(Value::Null) => 0,
                Some(v) => v
                    .as_u64()
                    .ok_or_else(|| invalid("`offset` must be a whole number"))?,
            },
            table,
        },
        "table.insert" => TableOp::Insert {
            values: values(input)?,
            on_conflict: on_conflict(input.get("on_conflict"))?,
            table,
        },
        "table.update" => TableOp::Update {
            selector: selector()?,
            values: values(input)?,
            table,
        },
        "table.delete" => TableOp::Delete {
            selector: selector()?,
            table,
        },
        other => return Err(invalid(format!("`{other}` is not a table action"))),
    })
}

/// `on_conflict` as given, with the loader's words; absent or null is the
/// default, as for the other optional inputs.
fn on_conflict(given: Option<&Value>) -> Result<OnConflict, ActionError> {
    match given {
        None | Some(Value::Null) => Ok(OnConflict::default()),
        Some(Value::String(word)) => OnConflict::parse(word)
            .map_err(|unknown| invalid(format!("{unknown}: {}", unknown.hint()))),
        Some(_) => Err(invalid(format!(
            "`on_conflict` must be one of {}",
            OnConflict::NAMES.join(", ")
        ))),
    }
}

fn values(input: &Map<String, Value>) -> Result<Map<String, Value>, ActionError> {
    match input.get("values") {
        Some(Value::Object(values)) => Ok(values.clone()),
        _ => Err(invalid("`values` must be a mapping of columns to values")),
    }
}

fn selector(
    table: &Arc<Table>,
    action: &str,
    input: &Map<String, Value>,
) -> Result<Selector, ActionError> {
    let id = input.get("id");
    let filters = input.get("where");
    match (id, filters) {
        (Some(_), Some(_)) => Err(invalid("give `id` or `where`, not both")),
        (Some(Value::Null), None) => Err(invalid(format!(
            "`id` is empty (null): there is no row of `{}` to look for",
            table.name
        ))),
        (Some(id), None) => Ok(Selector::Id(id.clone())),
        (None, Some(filters)) => Ok(Selector::Filters(parse_filters(filters)?)),
        (None, None) => {
            let all = input.get("all").and_then(Value::as_bool).unwrap_or(false);
            if action == "table.select" || all {
                Ok(Selector::Filters(Vec::new()))
            } else {
                Err(invalid("give `id` or `where` (or `all: true`)"))
            }
        }
    }
}

fn parse_filters(filters: &Value) -> Result<Vec<Filter>, ActionError> {
    let filters = filters
        .as_object()
        .ok_or_else(|| invalid("`where` must be a mapping of columns to conditions"))?;
    let mut out = Vec::new();
    for (column, condition) in filters {
        match condition {
            Value::Object(ops) => {
                for (op, value) in ops {
                    let op = FilterOp::parse(op)
                        .map_err(|unknown| invalid(format!("{unknown} on `{column}`")))?;
                    out.push(Filter {
                        column: column.clone(),
                        op,
                        value: value.clone(),
                    });
                }
            }
            value => out.push(Filter {
                column: column.clone(),
                op: FilterOp::Eq,
                value: value.clone(),
            }),
        }
    }
    Ok(out)
}

fn order(order: Option<&Value>) -> Result<Vec<(String, Direction)>, ActionError> {
    use paywire_model::catalogue::{OrderError, parse_order};
    let items: Vec<&Value> = match order {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one) => vec![one],
    };
    items
        .into_iter()
        .map(|item| {
            let text = item
                .as_str()
                .ok_or_else(|| invalid(OrderError::NotText.to_string()))?;
            let (column, direction) = parse_order(text)
                .map_err(|problem| invalid(format!("{problem}: {}", problem.hint())))?;
            Ok((column.to_string(), direction))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_accept_shorthand_and_operators() {
        let filters =
            parse_filters(&json!({"status": "paid", "amount": {"gte": 100, "lt": 500}})).unwrap();
        assert_eq!(filters.len(), 3);
        assert_eq!(
            filters[0],
            Filter {
                column: "amount".into(),
                op: FilterOp::Gte,
                value: json!(100)
            }
        );
        assert_eq!(
            filters[2],
            Filter {
                column: "status".into(),
                op: FilterOp::Eq,
                value: json!("paid")
            }
        );
        assert!(parse_filters(&json!({"a": {"between": 1}})).is_err());
    }

    #[test]
    fn orders_parse() {
        assert_eq!(
            order(Some(&json!("paid_at desc"))).unwrap(),
            vec![("paid_at".to_string(), Direction::Desc)]
        );
        assert_eq!(order(Some(&json!(["a", "b asc"]))).unwrap().len(), 2);
        assert!(order(Some(&json!("a sideways"))).is_err());
        // What the loader refuses in a literal, a run refuses too.
        assert!(order(Some(&json!("a desc b"))).is_err());
        assert!(order(Some(&json!(""))).is_err());
        assert!(order(Some(&json!(5))).is_err());
        assert_eq!(
            order(Some(&json!("a desk"))).unwrap_err().message,
            "`a desk` is not an order: did you mean `desc`?"
        );
    }

    #[test]
    fn on_conflict_takes_the_loader_s_words() {
        assert_eq!(on_conflict(None), Ok(OnConflict::Error));
        assert_eq!(on_conflict(Some(&Value::Null)), Ok(OnConflict::Error));
        for choice in OnConflict::ALL {
            assert_eq!(on_conflict(Some(&json!(choice.name()))), Ok(*choice));
        }
        assert_eq!(
            on_conflict(Some(&json!("updte"))).unwrap_err().message,
            "unknown `on_conflict` choice `updte`: did you mean `update`?"
        );
        assert_eq!(
            on_conflict(Some(&json!(true))).unwrap_err().message,
            "`on_conflict` must be one of error, nothing, update"
        );
    }

    #[test]
    fn unknown_filter_operators_name_their_column() {
        assert_eq!(
            parse_filters(&json!({"price": {"between": [1, 2]}}))
                .unwrap_err()
                .message,
            "unknown filter operator `between` on `price`"
        );
    }
}
