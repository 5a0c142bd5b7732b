//! Steps: the keys every step shares, each kind of step and its parts
//! (branches, loops, `throw`, `wait`, `call` and `start`).

use serde_json::Value as Json;

use super::*;

const STEP_KINDS: &[&str] = &[
    "action", "if", "switch", "for_each", "while", "try", "throw", "response", "return", "set",
    "log", "wait", "call", "start",
];
const STEP_COMMON: &[&str] = &["id", "when", "note"];
/// The most iterations a `while` may be given.
const MAX_WHILE_ITERATIONS: u64 = 1_000_000;

impl FileDecoder<'_> {
    pub(super) fn steps(
        &mut self,
        node: &Node,
        path: &str,
        key: &str,
        names: &[String],
    ) -> Vec<Step> {
        let Some(items) = node.as_seq() else {
            self.err(
                node.pos,
                path,
                format!("expected a list of steps, found {}", node.kind_name()),
            )
            .hint = Some("write each step on its own line starting with `- `".into());
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.step(item, &index(path, i), &index(key, i), names))
            .collect()
    }

    fn step(&mut self, node: &Node, path: &str, key: &str, names: &[String]) -> Option<Step> {
        let Some(entries) = node.as_map() else {
            self.err(
                node.pos,
                path,
                format!(
                    "a step is a mapping such as `action: ...` or `if: ...`, found {}",
                    node.kind_name()
                ),
            );
            return None;
        };
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| e.key.as_str())
            .filter(|k| STEP_KINDS.contains(k))
            .collect();
        let kind = match kinds.as_slice() {
            [one] => *one,
            [] => {
                let unknown: Vec<&str> = entries
                    .iter()
                    .map(|e| e.key.as_str())
                    .filter(|k| !STEP_COMMON.contains(k))
                    .collect();
                let hint = unknown
                    .iter()
                    .find_map(|k| {
                        did_you_mean(k, STEP_KINDS.iter().copied())
                            .map(|near| format!("did you mean `{near}` instead of `{k}`?"))
                    })
                    .unwrap_or_else(|| format!("a step is one of: {}", STEP_KINDS.join(", ")));
                self.err(
                    node.pos,
                    path,
                    "this step does nothing: it has no action and no control keyword",
                )
                .hint = Some(hint);
                return None;
            }
            [first, second, ..] => {
                self.err(
                    node.pos,
                    path,
                    format!(
                        "a step does one thing, but this one has both `{first}` and `{second}`"
                    ),
                )
                .hint = Some("split it into two steps".into());
                return None;
            }
        };
        let own: &[&str] = match kind {
            "action" => &["action", "with"],
            "if" => &["if", "then", "else"],
            "switch" => &["switch", "cases", "default"],
            "for_each" => &["for_each", "as", "index_as", "steps"],
            "while" => &["while", "max_iterations", "steps"],
            "try" => &["try", "catch"],
            "set" => &["set", "value"],
            "log" => &["log", "level"],
            "call" => &["call", "with"],
            "start" => &["start", "with"],
            _ => &[kind],
        };
        let allowed: Vec<&str> = STEP_COMMON.iter().chain(own).copied().collect();
        let fields = self.mapping(node, path, Some(&allowed))?;

        let id = fields.get("id").and_then(|n| {
            let id = self.string(n, &fields.path("id"))?;
            if !is_identifier(&id) {
                self.err(n.pos, &fields.path("id"), format!("`{id}` is not a valid step id")).hint =
                    Some("use letters, digits and `_`, starting with a letter, so that `steps.ID` reads it".into());
                return None;
            }
            if self.step_ids.contains(&id) {
                self.err(n.pos, &fields.path("id"), format!("the step id `{id}` is used twice")).hint =
                    Some("step ids must be unique within an API, workflow or function".into());
                return None;
            }
            Some(id)
        });
        let when = match fields.get("when") {
            Some(n) => Some(self.expression(n, &fields.path("when"), names)?),
            None => None,
        };
        let main = fields.get(kind).expect("the kind key is present");
        let kind_pos = entries
            .iter()
            .find(|e| e.key == kind)
            .map(|e| e.key_pos)
            .unwrap_or(node.pos);
        let main_path = fields.path(kind);
        let kind = self.step_kind(kind, main, &main_path, &fields, kind_pos, key, names);
        // The id is registered even when the step has problems, so that later
        // references to it do not report a second, false problem.
        if let Some(id) = &id {
            self.step_ids.push(id.clone());
        }
        let kind = kind?;
        Some(Step {
            id,
            when,
            kind,
            key: key.to_string(),
            origin: self.origin(node.pos, path),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn step_kind(
        &mut self,
        kind: &str,
        main: &Node,
        main_path: &str,
        fields: &Fields<'_>,
        pos: Pos,
        key: &str,
        names: &[String],
    ) -> Option<StepKind> {
        let sub = |name: &str| join(key, name);
        Some(match kind {
            "action" => return self.action(main, main_path, fields, names),
            "if" => {
                let condition = self.expression(main, main_path, names);
                let then_node = self.required(fields, "then", pos, "`if`");
                let then = then_node
                    .map(|n| self.steps(n, &fields.path("then"), &sub("then"), names))
                    .unwrap_or_default();
                let otherwise = fields
                    .get("else")
                    .map(|n| self.steps(n, &fields.path("else"), &sub("else"), names))
                    .unwrap_or_default();
                then_node?;
                StepKind::If {
                    condition: condition?,
                    then,
                    otherwise,
                }
            }
            "switch" => {
                let on = self.expression(main, main_path, names);
                let cases_node = self.required(fields, "cases", pos, "`switch`")?;
                let cases_path = fields.path("cases");
                let case_fields = self.mapping(cases_node, &cases_path, None)?;
                let mut cases = Vec::new();
                for entry in case_fields.entries {
                    let steps = self.steps(
                        &entry.value,
                        &join(&cases_path, &entry.key),
                        &join(&sub("cases"), &entry.key),
                        names,
                    );
                    cases.push(SwitchCase {
                        value: entry.key.clone(),
                        steps,
                    });
                }
                if cases.is_empty() {
                    self.err(
                        cases_node.pos,
                        &cases_path,
                        "a switch needs at least one case",
                    );
                }
                let default = fields
                    .get("default")
                    .map(|n| self.steps(n, &fields.path("default"), &sub("default"), names));
                StepKind::Switch {
                    on: on?,
                    cases,
                    default,
                }
            }
            "for_each" => {
                let items = self.expression(main, main_path, names);
                let item_name = self.loop_name(fields, "as", "item")?;
                let index_name = self.loop_name(fields, "index_as", "index")?;
                let mut inner = names.to_vec();
                inner.push(item_name.clone());
                inner.push(index_name.clone());
                let steps_node = self.required(fields, "steps", pos, "`for_each`")?;
                let steps = self.steps(steps_node, &fields.path("steps"), &sub("steps"), &inner);
                StepKind::ForEach {
                    items: items?,
                    item_name,
                    index_name,
                    steps,
                }
            }
            "while" => {
                let condition = self.expression(main, main_path, names);
                let max_iterations = match fields.get("max_iterations") {
                    Some(n) => {
                        let max = self.unsigned(n, &fields.path("max_iterations"))?;
                        if max == 0 || max > MAX_WHILE_ITERATIONS {
                            self.err(
                                n.pos,
                                &fields.path("max_iterations"),
                                format!("must be from 1 to {MAX_WHILE_ITERATIONS}"),
                            );
                            return None;
                        }
                        max
                    }
                    None => 1_000,
                };
                let steps_node = self.required(fields, "steps", pos, "`while`")?;
                let steps = self.steps(steps_node, &fields.path("steps"), &sub("steps"), names);
                StepKind::While {
                    condition: condition?,
                    max_iterations,
                    steps,
                }
            }
            "try" => {
                let steps = self.steps(main, main_path, &sub("try"), names);
                let catch_node = self.required(fields, "catch", pos, "`try`");
                let mut inner = names.to_vec();
                inner.push("error".into());
                let catch = catch_node
                    .map(|n| self.steps(n, &fields.path("catch"), &sub("catch"), &inner))
                    .unwrap_or_default();
                catch_node?;
                StepKind::Try {
                    steps,
                    catch,
                    error_name: "error".into(),
                }
            }
            "throw" => self.throw(main, main_path, names)?,
            "response" => {
                if self.container != Container::Api {
                    self.err(
                        pos,
                        main_path,
                        "a `response` answers an HTTP caller, and only APIs have one",
                    )
                    .hint = Some(
                        "end a function with `return`; a workflow has no caller to answer".into(),
                    );
                    return None;
                }
                let response = self.mapping(
                    main,
                    main_path,
                    Some(&["status", "headers", "body", "continue"]),
                )?;
                let status = match response.get("status") {
                    Some(n) => {
                        if let Value::Int(code) = n.value {
                            if !(100..=599).contains(&code) {
                                self.err(
                                    n.pos,
                                    &response.path("status"),
                                    format!("{code} is not an HTTP status"),
                                )
                                .hint = Some("use a status from 100 to 599".into());
                                return None;
                            }
                        } else if !is_dynamic(n) {
                            self.err(
                                n.pos,
                                &response.path("status"),
                                format!("expected an HTTP status, found {}", n.kind_name()),
                            );
                            return None;
                        }
                        self.template(n, &response.path("status"), names)?
                    }
                    None => Template::Literal(Json::from(200)),
                };
                let headers = match response.get("headers") {
                    Some(n) => {
                        self.mapping(n, &response.path("headers"), None)?;
                        self.template(n, &response.path("headers"), names)?
                    }
                    None => Template::Literal(Json::Object(Default::default())),
                };
                let body =
                    self.optional_template(response.get("body"), &response.path("body"), names)?;
                let keep_running = match response.get("continue") {
                    Some(n) => self.boolean(n, &response.path("continue"))?,
                    None => false,
                };
                StepKind::Response {
                    status,
                    headers,
                    body,
                    keep_running,
                }
            }
            "return" => {
                if self.container != Container::Function {
                    self.err(
                        pos,
                        main_path,
                        "`return` gives a function's result, and this is not a function",
                    )
                    .hint = Some("an API answers with `response`".into());
                    return None;
                }
                StepKind::Return {
                    value: self.template(main, main_path, names)?,
                }
            }
            "set" => {
                let var = self.string(main, main_path)?;
                if !is_identifier(&var) {
                    self.err(
                        main.pos,
                        main_path,
                        format!("`{var}` is not a valid variable name"),
                    )
                    .hint =
                        Some("use letters, digits and `_`, so that `vars.NAME` reads it".into());
                    return None;
                }
                let value_node = self.required(fields, "value", pos, "`set`")?;
                StepKind::Set {
                    var,
                    value: self.template(value_node, &fields.path("value"), names)?,
                }
            }
            "log" => {
                let level = match fields.get("level") {
                    Some(n) => {
                        let text = self.string(n, &fields.path("level"))?;
                        let Some(level) = LogLevel::parse(&text) else {
                            self.err(
                                n.pos,
                                &fields.path("level"),
                                format!("unknown log level `{text}`"),
                            )
                            .hint = Some(format!("use one of: {}", LogLevel::NAMES.join(", ")));
                            return None;
                        };
                        level
                    }
                    None => LogLevel::Info,
                };
                StepKind::Log {
                    level,
                    message: self.template(main, main_path, names)?,
                }
            }
            "wait" => StepKind::Wait {
                milliseconds: self.wait(main, main_path, names)?,
            },
            "call" => {
                let function = self.string(main, main_path)?;
                let with = fields.get("with");
                self.deferred.push(Deferred::Call {
                    function: function.clone(),
                    with: with.cloned(),
                    path: main_path.to_string(),
                    pos: main.pos,
                });
                StepKind::Call {
                    function,
                    input: self.call_input(with, &fields.path("with"), names)?,
                }
            }
            "start" => {
                let workflow = self.string(main, main_path)?;
                let with = fields.get("with");
                self.deferred.push(Deferred::Start {
                    workflow: workflow.clone(),
                    with: with.cloned(),
                    path: main_path.to_string(),
                    pos: main.pos,
                });
                StepKind::Start {
                    workflow,
                    input: self.call_input(with, &fields.path("with"), names)?,
                }
            }
            other => unreachable!("step kind {other} is listed in STEP_KINDS but not decoded"),
        })
    }

    fn loop_name(&mut self, fields: &Fields<'_>, key: &str, default: &str) -> Option<String> {
        let Some(node) = fields.get(key) else {
            return Some(default.to_string());
        };
        let name = self.string(node, &fields.path(key))?;
        if !is_identifier(&name) || matches!(name.as_str(), "context" | "steps" | "vars" | "error")
        {
            self.err(node.pos, &fields.path(key), format!("`{name}` cannot name a loop variable")).hint =
                Some("use a new name of letters, digits and `_` (context, steps, vars and error are taken)".into());
            return None;
        }
        Some(name)
    }

    fn call_input(
        &mut self,
        with: Option<&Node>,
        path: &str,
        names: &[String],
    ) -> Option<Template> {
        match with {
            Some(n) => {
                self.mapping(n, path, None)?;
                self.template(n, path, names)
            }
            None => Some(Template::Literal(Json::Object(Default::default()))),
        }
    }

    fn throw(&mut self, main: &Node, main_path: &str, names: &[String]) -> Option<StepKind> {
        if main.as_str().is_some() {
            return Some(StepKind::Throw {
                message: self.template(main, main_path, names)?,
                name: Template::Literal(Json::String("Error".into())),
                cause: Template::Literal(Json::Null),
                status: None,
            });
        }
        let fields = self.mapping(
            main,
            main_path,
            Some(&["message", "name", "cause", "status"]),
        )?;
        let message_node = self.required(&fields, "message", main.pos, "`throw`")?;
        let status = match fields.get("status") {
            Some(n) => match n.value {
                Value::Int(code) if (400..=599).contains(&code) => Some(code as u16),
                _ => {
                    self.err(
                        n.pos,
                        &fields.path("status"),
                        "expected an HTTP error status from 400 to 599",
                    )
                    .hint = Some(
                        "the status answers the HTTP caller when nothing catches the error".into(),
                    );
                    return None;
                }
            },
            None => None,
        };
        Some(StepKind::Throw {
            message: self.template(message_node, &fields.path("message"), names)?,
            name: match fields.get("name") {
                Some(n) => self.template(n, &fields.path("name"), names)?,
                None => Template::Literal(Json::String("Error".into())),
            },
            cause: self.optional_template(fields.get("cause"), &fields.path("cause"), names)?,
            status,
        })
    }

    fn wait(&mut self, node: &Node, path: &str, names: &[String]) -> Option<Template> {
        let hint = "write milliseconds (`500`) or a duration (`250ms`, `2s`, `1m`)";
        let ms = match &node.value {
            Value::Int(ms) if *ms >= 0 => *ms as u64,
            Value::Str(text) if !text.contains("{{") => match parse_duration_ms(text) {
                Some(ms) => ms,
                None => {
                    self.err(node.pos, path, format!("`{text}` is not a duration"))
                        .hint = Some(hint.into());
                    return None;
                }
            },
            Value::Str(_) => return self.template(node, path, names),
            _ => {
                self.err(
                    node.pos,
                    path,
                    format!("expected a duration, found {}", node.kind_name()),
                )
                .hint = Some(hint.into());
                return None;
            }
        };
        if ms > MAX_WAIT_MS {
            self.err(
                node.pos,
                path,
                format!("a wait is at most {} minutes", MAX_WAIT_MS / 60_000),
            )
            .hint = Some(
                "a workflow that must wait longer should be started again later instead".into(),
            );
            return None;
        }
        Some(Template::Literal(Json::from(ms)))
    }
}

/// Milliseconds in `500`, `250ms`, `2s`, `1m`.
fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "ms"),
    };
    let n: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1m"), Some(60000));
        assert_eq!(parse_duration_ms("15"), Some(15));
        assert_eq!(parse_duration_ms("2h"), None);
        assert_eq!(parse_duration_ms("s"), None);
    }
}
