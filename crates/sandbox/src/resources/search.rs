//! The search endpoints (`GET /v1/customers/search?query=…` and the six
//! others) and Stripe's search query language: clauses `field:value`
//! (exact, case-insensitive), `field~"part"` (substring, three characters
//! at least), `field>n`, `>=`, `<`, `<=`, `=` on numbers and times,
//! `metadata["key"]:"value"`, a leading `-` that negates a clause, and
//! clauses joined by spaces or `AND`, or by `OR` (never both). Each kind of
//! object searches only the fields Stripe lets it; any other is Stripe's
//! 400, as is a query that does not parse.

use serde_json::{Map, Value, json};

use super::{LIMIT, at_path, check, text};
use crate::error::StripeError;
use crate::form::{EXPAND, Kind, Param};
use crate::state::Tx;

/// What a query field holds, and so which operators it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldKind {
    Text,
    Number,
    Boolean,
}

/// The fields each searchable kind of object takes (Stripe's "query fields"
/// of each resource), with the path of each in the object.
fn fields(object: &str) -> &'static [(&'static str, FieldKind)] {
    use FieldKind::*;
    match object {
        "charge" => &[
            ("amount", Number),
            ("billing_details.address.postal_code", Text),
            ("created", Number),
            ("currency", Text),
            ("customer", Text),
            ("disputed", Boolean),
            ("payment_intent", Text),
            ("payment_method_details.card.brand", Text),
            ("payment_method_details.card.exp_month", Number),
            ("payment_method_details.card.exp_year", Number),
            ("payment_method_details.card.last4", Text),
            ("refunded", Boolean),
            ("status", Text),
        ],
        "customer" => &[
            ("created", Number),
            ("email", Text),
            ("name", Text),
            ("phone", Text),
        ],
        "invoice" => &[
            ("created", Number),
            ("currency", Text),
            ("customer", Text),
            ("number", Text),
            ("receipt_number", Text),
            ("status", Text),
            ("subscription", Text),
            ("total", Number),
        ],
        "payment_intent" => &[
            ("amount", Number),
            ("created", Number),
            ("currency", Text),
            ("customer", Text),
            ("status", Text),
        ],
        "price" => &[
            ("active", Boolean),
            ("currency", Text),
            ("lookup_key", Text),
            ("product", Text),
            ("type", Text),
        ],
        "product" => &[
            ("active", Boolean),
            ("description", Text),
            ("name", Text),
            ("shippable", Boolean),
            ("url", Text),
        ],
        "subscription" => &[("created", Number), ("status", Text)],
        _ => &[],
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    /// `:` — equal (text case-insensitively).
    Is,
    /// `~` — contains.
    Contains,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    /// `=` — a number equal.
    Equal,
}

#[derive(Debug, PartialEq)]
enum Target {
    Field(&'static str, FieldKind),
    Metadata(String),
}

#[derive(Debug, PartialEq)]
struct Clause {
    negated: bool,
    target: Target,
    operator: Operator,
    value: String,
}

/// A parsed query: its clauses, and whether any one of them is enough.
#[derive(Debug, PartialEq)]
struct Query {
    clauses: Vec<Clause>,
    any: bool,
}

fn invalid(message: impl Into<String>) -> StripeError {
    StripeError::invalid("query", message)
}

/// Parses a query for objects of kind `object`.
fn parse(query: &str, object: &str) -> Result<Query, StripeError> {
    let mut chars = query.char_indices().peekable();
    let mut clauses = Vec::new();
    let mut joiner: Option<bool> = None;
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        // A bare word is AND or OR between clauses.
        let rest = &query[start..];
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let after_word = rest[word.len()..].chars().next();
        if matches!(word.to_ascii_uppercase().as_str(), "AND" | "OR")
            && after_word.is_none_or(char::is_whitespace)
        {
            if clauses.is_empty() {
                return Err(invalid(format!(
                    "Invalid query: `{word}` must come between two clauses."
                )));
            }
            let any = word.eq_ignore_ascii_case("or");
            if joiner.is_some_and(|j| j != any) {
                return Err(invalid(
                    "Invalid query: AND and OR cannot be combined in one query.",
                ));
            }
            joiner = Some(any);
            for _ in 0..word.len() {
                chars.next();
            }
            continue;
        }
        clauses.push(clause(&mut chars, query, object)?);
    }
    if clauses.is_empty() {
        return Err(invalid("Invalid query: it has no clause."));
    }
    Ok(Query {
        clauses,
        any: joiner == Some(true),
    })
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn clause(chars: &mut Chars<'_>, query: &str, object: &str) -> Result<Clause, StripeError> {
    let negated = chars.next_if(|(_, c)| *c == '-').is_some();
    let start = chars.peek().map_or(query.len(), |(i, _)| *i);
    let mut end = start;
    while let Some(&(i, c)) = chars.peek() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            chars.next();
            end = i + c.len_utf8();
        } else {
            break;
        }
    }
    let name = &query[start..end];
    let target = if name == "metadata" {
        if chars.next_if(|(_, c)| *c == '[').is_none() {
            return Err(invalid(
                "Invalid query: metadata is searched by key, as metadata[\"key\"]:\"value\".",
            ));
        }
        let key = quoted(chars)?;
        if chars.next_if(|(_, c)| *c == ']').is_none() {
            return Err(invalid("Invalid query: a metadata key ends with `]`."));
        }
        Target::Metadata(key)
    } else {
        match fields(object).iter().find(|(field, _)| *field == name) {
            Some((field, kind)) => Target::Field(field, *kind),
            None if name.is_empty() => {
                return Err(invalid(format!(
                    "Invalid query: expected a field at `{}`.",
                    &query[start..]
                )));
            }
            None => {
                let known: Vec<&str> = fields(object).iter().map(|(f, _)| *f).collect();
                return Err(invalid(format!(
                    "Field `{name}` is an unsupported search field for resource {object}s. Its fields are: metadata, {}.",
                    known.join(", ")
                )));
            }
        }
    };
    let operator = match chars.next().map(|(_, c)| c) {
        Some(':') => Operator::Is,
        Some('~') => Operator::Contains,
        Some('=') => Operator::Equal,
        Some('>') if chars.next_if(|(_, c)| *c == '=').is_some() => Operator::GreaterOrEqual,
        Some('>') => Operator::Greater,
        Some('<') if chars.next_if(|(_, c)| *c == '=').is_some() => Operator::LessOrEqual,
        Some('<') => Operator::Less,
        _ => {
            return Err(invalid(format!(
                "Invalid query: `{name}` must be followed by an operator (:, ~, =, >, >=, <, <=)."
            )));
        }
    };
    let value = match chars.peek().map(|(_, c)| *c) {
        Some('"' | '\'') => quoted(chars)?,
        _ => {
            let mut value = String::new();
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
            value
        }
    };
    let kind = match &target {
        Target::Field(_, kind) => *kind,
        Target::Metadata(_) => FieldKind::Text,
    };
    let numeric = matches!(
        operator,
        Operator::Greater
            | Operator::GreaterOrEqual
            | Operator::Less
            | Operator::LessOrEqual
            | Operator::Equal
    );
    if numeric && (kind != FieldKind::Number || value.parse::<i64>().is_err()) {
        return Err(invalid(format!(
            "Invalid query: `{name}` is compared with a whole number only on numeric fields."
        )));
    }
    if operator == Operator::Contains && (kind != FieldKind::Text || value.chars().count() < 3) {
        return Err(invalid(format!(
            "Invalid query: `~` matches a substring of three characters or more of a text field (`{name}`)."
        )));
    }
    if value.is_empty() {
        return Err(invalid(format!("Invalid query: `{name}` has no value.")));
    }
    Ok(Clause {
        negated,
        target,
        operator,
        value,
    })
}

/// A value in single or double quotes, with `\` escaping the next character.
fn quoted(chars: &mut Chars<'_>) -> Result<String, StripeError> {
    let Some((_, quote)) = chars.next_if(|(_, c)| *c == '"' || *c == '\'') else {
        return Err(invalid("Invalid query: expected a quoted value."));
    };
    let mut value = String::new();
    loop {
        match chars.next() {
            Some((_, '\\')) => match chars.next() {
                Some((_, c)) => value.push(c),
                None => break,
            },
            Some((_, c)) if c == quote => return Ok(value),
            Some((_, c)) => value.push(c),
            None => break,
        }
    }
    Err(invalid("Invalid query: a quoted value is not closed."))
}

fn matches(clause: &Clause, object: &Value) -> bool {
    let found = match &clause.target {
        Target::Field(path, _) => at_path(object, path),
        Target::Metadata(key) => &object["metadata"][key.as_str()],
    };
    let text = match found {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let number = found.as_i64();
    let wanted = clause.value.parse::<i64>().ok();
    let hit = match clause.operator {
        Operator::Is => text.is_some_and(|t| t.eq_ignore_ascii_case(&clause.value)),
        Operator::Contains => {
            text.is_some_and(|t| t.to_lowercase().contains(&clause.value.to_lowercase()))
        }
        Operator::Equal => number.is_some() && number == wanted,
        Operator::Greater => number.zip(wanted).is_some_and(|(n, w)| n > w),
        Operator::GreaterOrEqual => number.zip(wanted).is_some_and(|(n, w)| n >= w),
        Operator::Less => number.zip(wanted).is_some_and(|(n, w)| n < w),
        Operator::LessOrEqual => number.zip(wanted).is_some_and(|(n, w)| n <= w),
    };
    hit != clause.negated
}

/// Answers `GET /v1/{resource}/search` for objects of kind `object`:
/// Stripe's `search_result`, newest first, paged by `page` (the
/// `next_page` of the page before).
pub fn search(
    tx: &mut Tx<'_>,
    object: &str,
    url: &str,
    raw: &Map<String, Value>,
) -> Result<Value, StripeError> {
    static SPEC: &[Param] = &[
        Param::required("query", Kind::String),
        LIMIT,
        Param::optional("page", Kind::String),
        EXPAND,
    ];
    let params = check(SPEC, raw)?;
    let query = parse(text(&params, "query").unwrap_or_default(), object)?;
    let asks_total = params
        .get("expand")
        .and_then(Value::as_array)
        .is_some_and(|paths| paths.iter().any(|p| p == "total_count"));
    let limit = match params.get("limit").and_then(Value::as_i64) {
        None => 10,
        Some(n @ 1..=100) => n as usize,
        Some(_) => {
            return Err(StripeError::invalid(
                "limit",
                "Invalid limit: must be between 1 and 100",
            ));
        }
    };
    let skip = match text(&params, "page") {
        None => 0,
        Some(page) => page
            .strip_prefix("page_")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                StripeError::invalid(
                    "page",
                    "Invalid page: use the next_page of a search result.",
                )
            })?,
    };
    let found: Vec<Value> = tx
        .state()
        .newest_first(object)
        .filter(|o| o.get("deleted").is_none())
        .filter(|o| {
            let mut results = query.clauses.iter().map(|c| matches(c, o));
            if query.any {
                results.any(|hit| hit)
            } else {
                results.all(|hit| hit)
            }
        })
        .cloned()
        .collect();
    let page: Vec<Value> = found.iter().skip(skip).take(limit).cloned().collect();
    let has_more = found.len() > skip + page.len();
    Ok(json!({
        "object": "search_result",
        "data": page,
        "has_more": has_more,
        "next_page": if has_more { json!(format!("page_{}", skip + limit)) } else { Value::Null },
        // Counted only when asked for, as Stripe does.
        "total_count": if asks_total { json!(found.len()) } else { Value::Null },
        "url": url,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> Result<Query, String> {
        parse(text, "customer").map_err(|e| e.message)
    }

    fn hits(text: &str, object: &Value) -> bool {
        let query = parse(text, "customer").unwrap();
        let mut results = query.clauses.iter().map(|c| matches(c, object));
        if query.any {
            results.any(|h| h)
        } else {
            results.all(|h| h)
        }
    }

    #[test]
    fn clauses_join_with_and_or_but_not_both() {
        let ada = json!({"email": "Ada@Example.com", "name": "Ada", "created": 100, "metadata": {"plan": "pro"}});
        assert!(hits("email:'ada@example.com'", &ada));
        assert!(hits("email~\"example\" name:Ada", &ada));
        assert!(hits("name:Bob OR metadata['plan']:'pro'", &ada));
        assert!(!hits("name:Bob AND metadata['plan']:'pro'", &ada));
        assert!(hits("-name:Bob created>=100 created<101", &ada));
        assert!(!hits("created>100", &ada));
        assert!(hits("created=100 and name:ada", &ada));
        assert!(hits(r#"name:"A\"da" OR email~"ada@""#, &ada));
        assert!(
            query("name:a AND email:b OR phone:c")
                .unwrap_err()
                .contains("cannot be combined")
        );
    }

    #[test]
    fn bad_queries_are_refused_with_what_is_wrong() {
        for (bad, says) in [
            ("", "no clause"),
            ("   ", "no clause"),
            ("AND name:a", "between two clauses"),
            ("amount>5", "unsupported search field"),
            ("name>5", "numeric fields"),
            ("created>soon", "numeric fields"),
            ("name~ab", "three characters"),
            ("name:'ada", "not closed"),
            ("metadata:x", "by key"),
            ("metadata['k'x", "ends with"),
            ("name", "operator"),
            ("name:", "no value"),
            ("!name:a", "expected a field"),
        ] {
            let error = query(bad).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }
}
