//! Expressions and templates inside YAML values: compiling them with the
//! evaluator and checking that the steps they name are declared before them.

use serde_json::Value as Json;

use super::*;
use paywire_expr::{Part, RawPart, RawTemplate, Template, split_template};

/// `source` with the inside of its string literals blanked out, so that
/// text such as `"see steps.x"` is not read as a reference.
fn without_string_literals(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut quote = None;
    let mut escaped = false;
    for c in source.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                    out.push(c);
                    continue;
                }
                // Same byte length, so that offsets still match the source.
                out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            }
            None => {
                if c == '"' || c == '`' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// The names that `steps.<name>` refers to in an expression.
fn step_references(original: &str) -> Vec<String> {
    let source = &without_string_literals(original);
    let bytes = source.as_bytes();
    let mut names = Vec::new();
    let mut start = 0;
    while let Some(found) = source[start..].find("steps") {
        let at = start + found;
        start = at + 5;
        let before_ok = at == 0
            || !(bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
                || bytes[at - 1] == b'.');
        if !before_ok {
            continue;
        }
        let rest = &source[at + 5..];
        let rest = rest.trim_start();
        let (name_start, quoted) =
            if let Some(r) = rest.strip_prefix("?.").or_else(|| rest.strip_prefix('.')) {
                (r, false)
            } else if let Some(r) = rest.strip_prefix("[\"") {
                (r, true)
            } else {
                continue;
            };
        let name: String = if quoted {
            // The name sits inside a literal, blanked in `source`: read it
            // from the original at the same offset.
            let offset = source.len() - name_start.len();
            original[offset..]
                .split('"')
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            name_start
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        };
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

impl FileDecoder<'_> {
    fn compile(
        &mut self,
        source: &str,
        pos: Pos,
        path: &str,
        names: &[String],
    ) -> Option<paywire_expr::Expr> {
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        match self.evaluator.compile(source, &name_refs) {
            Ok(expr) => {
                self.check_step_references(source, pos, path);
                Some(expr)
            }
            Err(e) => {
                let mut hint = match (e.line, e.column) {
                    (Some(line), Some(column)) if line > 1 => {
                        format!("at line {line}, column {column} of the expression")
                    }
                    (_, Some(column)) => format!("at column {column} of the expression"),
                    _ => String::new(),
                };
                if e.message.contains("Undefined variable")
                    || e.message.contains("Variable not found")
                {
                    if !hint.is_empty() {
                        hint.push_str("; ");
                    }
                    hint.push_str(&format!(
                        "the names in scope here are: {}",
                        names.join(", ")
                    ));
                }
                let d = self.err(
                    pos,
                    path,
                    format!("the expression `{source}` does not compile: {}", e.message),
                );
                if !hint.is_empty() {
                    d.hint = Some(hint);
                }
                None
            }
        }
    }

    fn check_step_references(&mut self, source: &str, pos: Pos, path: &str) {
        for name in step_references(source) {
            if !self.step_ids.contains(&name) {
                let hint = match did_you_mean(&name, self.step_ids.iter().map(String::as_str)) {
                    Some(near) => format!("did you mean `steps.{near}`?"),
                    None if self.step_ids.is_empty() => {
                        "no step before this one has an `id`".to_string()
                    }
                    None => format!(
                        "the steps before this one are: {}",
                        self.step_ids.join(", ")
                    ),
                };
                self.err(
                    pos,
                    path,
                    format!("`steps.{name}` refers to no step declared before this one"),
                )
                .hint = Some(hint);
            }
        }
    }

    /// An expression written bare (`if: "x > 1"`) or in braces (`if: "{{ x > 1 }}"`).
    pub(super) fn expression(
        &mut self,
        node: &Node,
        path: &str,
        names: &[String],
    ) -> Option<paywire_expr::Expr> {
        let source = match &node.value {
            Value::Str(s) => match split_template(s) {
                Ok(RawTemplate::Whole(inner)) => inner.to_string(),
                Ok(RawTemplate::Plain) => s.clone(),
                Ok(RawTemplate::Parts(_)) | Err(_) => {
                    self.err(
                        node.pos,
                        path,
                        "expected one expression here, not text with `{{ }}` inside it",
                    )
                    .hint = Some(
                        "write the expression alone, e.g. `context.parameters.amount > 100`".into(),
                    );
                    return None;
                }
            },
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected an expression, found {}", node.kind_name()),
                );
                return None;
            }
        };
        self.compile(&source, node.pos, path, names)
    }

    pub(super) fn template(
        &mut self,
        node: &Node,
        path: &str,
        names: &[String],
    ) -> Option<Template> {
        match &node.value {
            Value::Str(s) => match split_template(s) {
                Err(message) => {
                    self.err(node.pos, path, message);
                    None
                }
                Ok(RawTemplate::Plain) => Some(Template::Literal(Json::String(s.clone()))),
                Ok(RawTemplate::Whole(source)) => self
                    .compile(source, node.pos, path, names)
                    .map(Template::Expr),
                Ok(RawTemplate::Parts(raw_parts)) => {
                    let mut parts = Vec::with_capacity(raw_parts.len());
                    let mut ok = true;
                    for part in raw_parts {
                        match part {
                            RawPart::Text(text) => parts.push(Part::Text(text.to_string())),
                            RawPart::Expr(source) => {
                                match self.compile(source, node.pos, path, names) {
                                    Some(expr) => parts.push(Part::Expr(expr)),
                                    None => ok = false,
                                }
                            }
                        }
                    }
                    ok.then_some(Template::Interpolate(parts))
                }
            },
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    match self.template(item, &index(path, i), names) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(if out.iter().all(Template::is_literal) {
                    Template::Literal(node.to_json())
                } else {
                    Template::Array(out)
                })
            }
            Value::Map(_) => {
                let fields = self.mapping(node, path, None)?;
                let mut out = Vec::with_capacity(fields.entries.len());
                let mut ok = true;
                for entry in fields.entries {
                    match self.template(&entry.value, &join(path, &entry.key), names) {
                        Some(t) => out.push((entry.key.clone(), t)),
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(if out.iter().all(|(_, t)| t.is_literal()) {
                    Template::Literal(node.to_json())
                } else {
                    Template::Object(out)
                })
            }
            _ => Some(Template::Literal(node.to_json())),
        }
    }

    pub(super) fn optional_template(
        &mut self,
        node: Option<&Node>,
        path: &str,
        names: &[String],
    ) -> Option<Template> {
        match node {
            Some(node) => self.template(node, path, names),
            None => Some(Template::Literal(Json::Null)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_step_references() {
        assert_eq!(
            step_references("steps.order.id + steps?.b.x"),
            vec!["order", "b"]
        );
        assert_eq!(step_references("steps[\"my_step\"].id"), vec!["my_step"]);
        assert!(step_references("mysteps.x + a.steps.y + steps").is_empty());
        assert_eq!(
            step_references("\"see steps.no\" + `and ${steps.yes}` + steps.also"),
            vec!["also"]
        );
    }
}
