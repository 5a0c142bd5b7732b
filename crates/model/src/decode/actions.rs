//! `action` steps: the action resolved against the catalogue and its inputs
//! checked against the action's specification.

use serde_json::Value as Json;

use super::*;
use crate::catalogue::{self, Family, InputKind};

impl FileDecoder<'_> {
    pub(super) fn action(
        &mut self,
        main: &Node,
        main_path: &str,
        fields: &Fields<'_>,
        names: &[String],
    ) -> Option<StepKind> {
        let name = self.string(main, main_path)?;
        let Some(spec) = catalogue::find(&name) else {
            let hint = match did_you_mean(&name, catalogue::names()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!(
                    "the actions are: {}",
                    catalogue::names().collect::<Vec<_>>().join(", ")
                ),
            };
            self.err(main.pos, main_path, format!("unknown action `{name}`"))
                .hint = Some(hint);
            return None;
        };
        let with_path = fields.path("with");
        let with = fields.get("with");
        let mut ok = true;
        if let Some(with) = with {
            let inputs = self.mapping(with, &with_path, None)?;
            for entry in inputs.entries {
                let input_path = join(&with_path, &entry.key);
                match spec.input(&entry.key) {
                    None => {
                        let hint =
                            match did_you_mean(&entry.key, spec.inputs.iter().map(|i| i.name)) {
                                Some(near) => format!("did you mean `{near}`?"),
                                None => format!(
                                    "`{}` takes: {}",
                                    spec.name,
                                    spec.inputs
                                        .iter()
                                        .map(|i| i.name)
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            };
                        self.err(
                            entry.key_pos,
                            &input_path,
                            format!("`{}` has no input `{}`", spec.name, entry.key),
                        )
                        .hint = Some(hint);
                        ok = false;
                    }
                    Some(input) if !is_dynamic(&entry.value) && input.kind != InputKind::Any => {
                        let literal = entry.value.to_json();
                        if !input.kind.accepts(&literal) {
                            let message = match catalogue::amount_problem(&literal) {
                                Some(problem) if input.kind == InputKind::Amount => {
                                    format!("`{}`: {problem}", entry.key)
                                }
                                _ => format!(
                                    "`{}` must be {}, found {}",
                                    entry.key,
                                    input.kind.describe(),
                                    entry.value.kind_name()
                                ),
                            };
                            let hint = match (input.kind, literal.as_str()) {
                                (InputKind::Choice(words), Some(word)) => {
                                    did_you_mean(word, words.iter().copied())
                                        .map(|near| format!("did you mean `{near}`?"))
                                }
                                _ => None,
                            };
                            self.err(entry.value.pos, &input_path, message).hint = hint;
                            ok = false;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(entries) = with.and_then(Node::as_map) {
            if spec.family == Family::Stripe {
                for entry in entries {
                    let input_path = join(&with_path, &entry.key);
                    ok &= self.check_nested_amounts(&entry.value, &input_path);
                    if !is_dynamic(&entry.value)
                        && let Some(field) =
                            catalogue::too_deep_for_a_form(&entry.key, &entry.value.to_json())
                    {
                        self.err(
                            entry.value.pos,
                            &input_path,
                            format!(
                                "`{field}` nests deeper than Stripe's parameters go ({} keys at most)",
                                catalogue::MAX_FORM_DEPTH
                            ),
                        );
                        ok = false;
                    }
                }
            }
            if !spec.requires_one_of.is_empty()
                && !entries
                    .iter()
                    .any(|e| spec.requires_one_of.contains(&e.key.as_str()))
            {
                self.err(
                    with.map(|w| w.pos).unwrap_or(main.pos),
                    &with_path,
                    format!(
                        "`{}` needs one of {}",
                        spec.name,
                        spec.requires_one_of
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                );
                ok = false;
            }
        }
        for input in spec.inputs.iter().filter(|i| i.required) {
            if with
                .and_then(Node::as_map)
                .is_none_or(|entries| !entries.iter().any(|e| e.key == input.name))
            {
                let at = with.map(|w| w.pos).unwrap_or(main.pos);
                self.err(
                    at,
                    if with.is_some() {
                        &with_path
                    } else {
                        main_path
                    },
                    format!("`{}` needs the input `{}`", spec.name, input.name),
                )
                .hint = Some(format!("`{}`: {}", input.name, input.summary));
                ok = false;
            }
        }
        let input = self.optional_template(with, &with_path, names)?;
        let input = if matches!(input, Template::Literal(Json::Null)) {
            Template::Literal(Json::Object(Default::default()))
        } else {
            input
        };
        if spec.family == Family::Table
            && let Some(with) = with
        {
            self.deferred.push(Deferred::TableAction {
                action: spec.name,
                with: with.clone(),
                path: with_path,
                pos: with.pos,
            });
        }
        ok.then_some(StepKind::Action {
            action: spec,
            input,
        })
    }

    /// Checks the literal amounts inside a Stripe input (the input itself is
    /// checked by its kind): `line_items[0].price_data.unit_amount: 19.99`
    /// is refused here rather than by Stripe at run time.
    fn check_nested_amounts(&mut self, node: &Node, path: &str) -> bool {
        let children: Vec<(String, &Node)> = match &node.value {
            yaml::Value::Map(entries) => entries
                .iter()
                .filter(|e| e.key != "metadata")
                .map(|e| (join(path, &e.key), &e.value))
                .collect(),
            yaml::Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{path}[{i}]"), item))
                .collect(),
            _ => return true,
        };
        let mut ok = true;
        for (child_path, child) in children {
            let key = child_path.rsplit('.').next().unwrap_or_default();
            let is_amount = catalogue::AMOUNT_KEYS.contains(&key)
                && !matches!(child.value, yaml::Value::Map(_) | yaml::Value::Seq(_));
            if is_amount && !is_dynamic(child) {
                if let Some(problem) = catalogue::amount_problem(&child.to_json()) {
                    self.err(child.pos, &child_path, format!("`{key}`: {problem}"));
                    ok = false;
                }
            } else {
                ok &= self.check_nested_amounts(child, &child_path);
            }
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use crate::catalogue::tests::{problems, project_around};

    /// The hint a misspelt action name gets.
    fn hint_for(name: &str) -> String {
        let found = problems(&project_around(&format!(
            "- id: step\n  action: {name}\n  with: {{ id: in_1 }}"
        )));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains(&format!("unknown action `{name}`")),
            "{found:#?}"
        );
        found[0]
            .split_once("hint: ")
            .map(|(_, hint)| hint.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn a_misspelt_action_suggests_the_nearest_one() {
        assert_eq!(
            hint_for("stripe.pay_invoce"),
            "did you mean `stripe.pay_invoice`?"
        );
        assert_eq!(
            hint_for("stripe.void_invoic"),
            "did you mean `stripe.void_invoice`?"
        );
        assert_eq!(
            hint_for("stripe.capture_payment_intnt"),
            "did you mean `stripe.capture_payment_intent`?"
        );
        assert_eq!(
            hint_for("stripe.updat_invoice"),
            "did you mean `stripe.update_invoice`?"
        );
    }
}
