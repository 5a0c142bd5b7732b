//! Templates: values in workflow YAML that may hold `{{ expression }}`s.
//!
//! A string whose whole value is one `{{ expr }}` takes the expression's type
//! (a number stays a number); `{{ }}` inside a longer string interpolates text.
//! Mappings and lists are templates of templates. A subtree with no
//! expression in it is kept as a ready JSON literal. The [`Evaluator`]
//! renders a template to JSON.

use rhai::{Dynamic, Scope};

use crate::{EvalError, Evaluator, Expr, to_json};

#[derive(Clone, Debug)]
pub enum Template {
    Literal(serde_json::Value),
    Expr(Expr),
    Interpolate(Vec<Part>),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

#[derive(Clone, Debug)]
pub enum Part {
    Text(String),
    Expr(Expr),
}

impl Template {
    pub fn is_literal(&self) -> bool {
        matches!(self, Template::Literal(_))
    }

    /// The literal value, when the template holds no expression.
    pub fn literal(&self) -> Option<&serde_json::Value> {
        match self {
            Template::Literal(value) => Some(value),
            _ => None,
        }
    }

    /// Every expression in the template, in order.
    pub fn expressions(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        self.collect_expressions(&mut out);
        out
    }

    fn collect_expressions<'a>(&'a self, out: &mut Vec<&'a Expr>) {
        match self {
            Template::Literal(_) => {}
            Template::Expr(e) => out.push(e),
            Template::Interpolate(parts) => out.extend(parts.iter().filter_map(|p| match p {
                Part::Expr(e) => Some(e),
                Part::Text(_) => None,
            })),
            Template::Object(fields) => fields.iter().for_each(|(_, t)| t.collect_expressions(out)),
            Template::Array(items) => items.iter().for_each(|t| t.collect_expressions(out)),
        }
    }
}

impl Evaluator {
    /// Renders a template to JSON.
    pub fn render(
        &self,
        template: &Template,
        scope: &mut Scope<'static>,
    ) -> Result<serde_json::Value, EvalError> {
        Ok(match template {
            Template::Literal(value) => value.clone(),
            Template::Expr(expr) => self.eval_json(expr, scope)?,
            Template::Interpolate(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => text.push_str(t),
                        Part::Expr(expr) => {
                            let value = self.eval(expr, scope)?;
                            append_display(&mut text, &value)?;
                        }
                    }
                }
                serde_json::Value::String(text)
            }
            Template::Object(fields) => {
                let mut map = serde_json::Map::with_capacity(fields.len());
                for (key, field) in fields {
                    map.insert(key.clone(), self.render(field, scope)?);
                }
                serde_json::Value::Object(map)
            }
            Template::Array(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(|item| self.render(item, scope))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// Appends an interpolated value's text: a string as it is, nothing for
/// null, any other value as its JSON.
fn append_display(text: &mut String, value: &Dynamic) -> Result<(), EvalError> {
    if value.is_unit() {
        return Ok(());
    }
    if value.is_string() {
        text.push_str(&value.clone().into_string().unwrap_or_default());
        return Ok(());
    }
    match to_json(value)? {
        serde_json::Value::String(s) => text.push_str(&s),
        other => text.push_str(&other.to_string()),
    }
    Ok(())
}

/// A template string split into its pieces, before compilation.
#[derive(Debug, PartialEq)]
pub enum RawTemplate<'a> {
    /// No `{{` at all.
    Plain,
    /// The whole string is one expression.
    Whole(&'a str),
    Parts(Vec<RawPart<'a>>),
}

#[derive(Debug, PartialEq)]
pub enum RawPart<'a> {
    Text(&'a str),
    Expr(&'a str),
}

/// Splits a string into text and `{{ }}` expressions.
pub fn split_template(text: &str) -> Result<RawTemplate<'_>, String> {
    if !text.contains("{{") {
        if text.contains("}}") {
            return Err("`}}` without a matching `{{`".to_string());
        }
        return Ok(RawTemplate::Plain);
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            return Err("`{{` is not closed by `}}`".to_string());
        };
        if open > 0 {
            parts.push(RawPart::Text(&rest[..open]));
        }
        let inner = rest[open + 2..open + 2 + close].trim();
        if inner.is_empty() {
            return Err("`{{ }}` holds no expression".to_string());
        }
        parts.push(RawPart::Expr(inner));
        rest = &rest[open + 2 + close + 2..];
    }
    if !rest.is_empty() {
        if rest.contains("}}") {
            return Err("`}}` without a matching `{{`".to_string());
        }
        parts.push(RawPart::Text(rest));
    }
    if let [RawPart::Expr(inner)] = parts.as_slice() {
        return Ok(RawTemplate::Whole(inner));
    }
    Ok(RawTemplate::Parts(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_whole_parts_and_plain() {
        assert_eq!(split_template("plain").unwrap(), RawTemplate::Plain);
        assert_eq!(
            split_template("{{ a.b }}").unwrap(),
            RawTemplate::Whole("a.b")
        );
        assert_eq!(
            split_template("  {{a}}  ").unwrap(),
            RawTemplate::Parts(vec![
                RawPart::Text("  "),
                RawPart::Expr("a"),
                RawPart::Text("  "),
            ])
        );
        assert_eq!(
            split_template("id={{ x }}&n={{y}}").unwrap(),
            RawTemplate::Parts(vec![
                RawPart::Text("id="),
                RawPart::Expr("x"),
                RawPart::Text("&n="),
                RawPart::Expr("y"),
            ])
        );
    }

    #[test]
    fn refuses_unbalanced_braces() {
        assert!(split_template("{{ a").is_err());
        assert!(split_template("a }}").is_err());
        assert!(split_template("{{ }}").is_err());
        assert!(split_template("{{a}} }}").is_err());
    }
}
