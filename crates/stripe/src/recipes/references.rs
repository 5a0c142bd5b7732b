//! The references of a recipe's steps, `${name:json.path}`: the field of
//! an earlier step's answer that a later step's path or parameter takes,
//! a number moved by seconds when it ends in `+N` or `-N`
//! (`${subscription:items.data.0.current_period_end+7200}`), which is how a
//! recipe names a moment relative to one Stripe gave it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::Done;

/// What is escaped in a value put into a path.
const PATH_UNSAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'-').remove(b'.');

/// Fills the references in a path, each value escaped as a path segment.
pub(super) fn substitute_path(path: &str, answers: &[Done]) -> Result<String, String> {
    substitute_with(path, answers, |value| {
        utf8_percent_encode(value, PATH_UNSAFE).to_string()
    })
}

/// Fills the references in every string of `value`.
pub fn resolve(value: &Value, answers: &[Done]) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(substitute(text, answers)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| resolve(item, answers))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, item)| Ok((key.clone(), resolve(item, answers)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces each `${name:json.path}` in `text` with that field of the answer
/// of the earlier step `name`: `${customer:id}`, `${session:payment_intent}`,
/// `${invoice:lines.data.0.id}` (a number indexes a list); with `+N` or `-N`
/// after the path, the field is a whole number and N is added to it or
/// taken from it (`${clock:frozen_time+3600}`).
pub fn substitute(text: &str, answers: &[Done]) -> Result<String, String> {
    substitute_with(text, answers, str::to_string)
}

fn substitute_with(
    text: &str,
    answers: &[Done],
    escape: impl Fn(&str) -> String,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            return Err(format!("`{}` has a `${{` without its `}}`", text));
        };
        let reference = &rest[start + 2..start + len];
        let Reference { step, path, offset } = parse_reference(reference)?;
        let answer = answers
            .iter()
            .rev()
            .find(|done| done.name == step)
            .ok_or_else(|| format!("`${{{reference}}}` names no earlier step"))?;
        let value = lookup(&answer.answer, path).ok_or_else(|| {
            format!("`${{{reference}}}`: the answer of step {step} has no `{path}`")
        })?;
        let value = match offset {
            None => value,
            Some(offset) => value
                .parse::<i64>()
                .ok()
                .and_then(|number| number.checked_add(offset))
                .map(|number| number.to_string())
                .ok_or_else(|| {
                    format!(
                        "`${{{reference}}}`: `{path}` of step {step} is `{value}`, not a whole number to move by {offset}"
                    )
                })?,
        };
        out.push_str(&escape(&value));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What one reference names.
struct Reference<'a> {
    step: &'a str,
    path: &'a str,
    /// Seconds to add to the field, when the reference ends in `+N` or `-N`.
    offset: Option<i64>,
}

/// `name:json.path`, both parts non-empty, then `+N` or `-N` if any.
fn parse_reference(reference: &str) -> Result<Reference<'_>, String> {
    let not_one = || {
        format!(
            "`${{{reference}}}` is not a reference; write `${{step:json.path}}`, as `${{customer:id}}`, or `${{step:json.path+SECONDS}}`, as `${{clock:frozen_time+3600}}`"
        )
    };
    let Some((step, path)) = reference.split_once(':') else {
        return Err(not_one());
    };
    let (step, mut path) = (step.trim(), path.trim());
    let mut offset = None;
    // Stripe's field names have no `+` or `-`, so a sign followed by digits
    // alone ends the path and starts the offset.
    if let Some(at) = path.rfind(['+', '-']) {
        let digits = &path[at + 1..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let seconds = digits.parse::<i64>().map_err(|_| not_one())?;
            offset = Some(if path[at..].starts_with('-') {
                -seconds
            } else {
                seconds
            });
            path = path[..at].trim_end();
        }
    }
    if step.is_empty() || path.is_empty() {
        return Err(not_one());
    }
    Ok(Reference { step, path, offset })
}

/// The references in `text`, as `(step, path)`.
pub fn references(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        if let Ok(Reference { step, path, .. }) = parse_reference(&rest[start + 2..start + len]) {
            found.push((step.to_string(), path.to_string()));
        }
        rest = &rest[start + len + 1..];
    }
    found
}

/// A field by its dotted path, as text; nothing for null, an empty string,
/// an object or a list.
pub(super) fn lookup(value: &Value, path: &str) -> Option<String> {
    let mut at = value;
    for part in path.split('.') {
        at = match at {
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => at.get(part)?,
        };
    }
    match at {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(_) | Value::Bool(_) => Some(at.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Method;
    use serde_json::json;

    fn done(name: &'static str, answer: Value) -> Done {
        Done {
            name,
            method: Method::Post,
            path: String::new(),
            answer,
            expected_error: None,
            waited_for: None,
        }
    }

    #[test]
    fn references_take_fields_of_earlier_answers() {
        let answers = vec![
            done("customer", json!({"id": "cus_1", "balance": 0})),
            done(
                "session",
                json!({"id": "cs_1", "payment_intent": "pi_1", "amount_total": 3000,
                       "line_items": {"data": [{"id": "li_1"}]}, "livemode": false}),
            ),
        ];
        assert_eq!(substitute("${customer:id}", &answers).unwrap(), "cus_1");
        assert_eq!(
            substitute("/v1/x/${session:payment_intent}/y?${customer:id}", &answers).unwrap(),
            "/v1/x/pi_1/y?cus_1"
        );
        assert_eq!(
            substitute("${session:amount_total}", &answers).unwrap(),
            "3000"
        );
        assert_eq!(
            substitute("${session:line_items.data.0.id}", &answers).unwrap(),
            "li_1"
        );
        assert_eq!(
            substitute("${session:livemode}", &answers).unwrap(),
            "false"
        );
        assert_eq!(
            substitute("no references", &answers).unwrap(),
            "no references"
        );
        let params =
            json!({"customer": "${customer:id}", "items": [{"price": "${session:id}"}], "n": 2});
        assert_eq!(
            resolve(&params, &answers).unwrap(),
            json!({"customer": "cus_1", "items": [{"price": "cs_1"}], "n": 2})
        );
    }

    #[test]
    fn a_later_step_of_the_same_name_wins() {
        let answers = vec![
            done("customer", json!({"id": "cus_1"})),
            done("customer", json!({"id": "cus_2"})),
        ];
        assert_eq!(substitute("${customer:id}", &answers).unwrap(), "cus_2");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let answers = vec![done(
            "customer",
            json!({"id": "cus_1", "email": null, "name": ""}),
        )];
        for (text, problem) in [
            ("${price:id}", "`${price:id}` names no earlier step"),
            (
                "${customer:email}",
                "the answer of step customer has no `email`",
            ),
            ("${customer:name}", "has no `name`"),
            ("${customer:nope.deeper}", "has no `nope.deeper`"),
            ("${customer}", "is not a reference"),
            ("${customer:id", "without its `}`"),
        ] {
            let e = substitute(text, &answers).unwrap_err();
            assert!(e.contains(problem), "{text}: {e}");
        }
    }

    #[test]
    fn numbers_move_by_seconds() {
        let answers = vec![done(
            "subscription",
            json!({"trial_end": 1_000_000, "items": {"data": [{"current_period_end": 2_000_000}]},
                   "status": "trialing"}),
        )];
        assert_eq!(
            substitute("${subscription:trial_end-172800}", &answers).unwrap(),
            "827200"
        );
        assert_eq!(
            substitute(
                "${subscription:items.data.0.current_period_end+7200}",
                &answers
            )
            .unwrap(),
            "2007200"
        );
        assert_eq!(
            substitute("${subscription:trial_end+0}", &answers).unwrap(),
            "1000000"
        );
        for (text, problem) in [
            (
                "${subscription:status+60}",
                "`status` of step subscription is `trialing`, not a whole number to move by 60",
            ),
            ("${subscription:+60}", "is not a reference"),
            (
                "${subscription:trial_end+99999999999999999999}",
                "is not a reference",
            ),
            ("${subscription:trial_end-x}", "has no `trial_end-x`"),
        ] {
            let e = substitute(text, &answers).unwrap_err();
            assert!(e.contains(problem), "{text}: {e}");
        }
        assert_eq!(
            references("${subscription:trial_end-172800}"),
            vec![("subscription".to_string(), "trial_end".to_string())]
        );
    }

    #[test]
    fn values_in_paths_are_escaped() {
        let answers = vec![done("x", json!({"id": "a/b c"}))];
        assert_eq!(
            substitute_path("/v1/customers/${x:id}", &answers).unwrap(),
            "/v1/customers/a%2Fb%20c"
        );
    }
}
