//! The checks that need the whole project, run once every file is read:
//! `call` and `start` against the declared functions and workflows, and table
//! actions against the declared tables and their columns.

use super::*;
use crate::catalogue::{FilterOp, OrderError, parse_order};

impl FileDecoder<'_> {
    pub(crate) fn check_deferred(&mut self, index: &ProjectIndex<'_>) {
        for deferred in std::mem::take(&mut self.deferred) {
            match deferred {
                Deferred::TableAction {
                    action,
                    with,
                    path,
                    pos,
                } => self.check_table_action(action, &with, &path, pos, index),
                Deferred::Call {
                    function,
                    with,
                    path,
                    pos,
                } => match index.functions.get(&function) {
                    Some(f) => self.check_call_inputs(
                        "function",
                        &function,
                        &f.params,
                        with.as_ref(),
                        &path,
                        pos,
                    ),
                    None => {
                        let hint = match did_you_mean(
                            &function,
                            index.functions.keys().map(String::as_str),
                        ) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "declare it under `functions:`".to_string(),
                        };
                        self.err(pos, &path, format!("there is no function `{function}`"))
                            .hint = Some(hint);
                    }
                },
                Deferred::Start {
                    workflow,
                    with,
                    path,
                    pos,
                } => match index.workflows.get(&workflow) {
                    Some(w) if !matches!(w.trigger, Trigger::Manual) => {
                        let by = match w.trigger {
                            Trigger::Startup => "when paywire starts",
                            _ => "by Stripe's events",
                        };
                        self.err(
                            pos,
                            &path,
                            format!("workflow `{workflow}` is started {by}, not by `start`"),
                        )
                        .hint = Some(
                            "move the shared steps into a function and `call` it from both".into(),
                        );
                    }
                    Some(w) => self.check_call_inputs(
                        "workflow",
                        &workflow,
                        &w.params,
                        with.as_ref(),
                        &path,
                        pos,
                    ),
                    None => {
                        let hint = match did_you_mean(
                            &workflow,
                            index.workflows.keys().map(String::as_str),
                        ) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => "declare it under `workflows:`".to_string(),
                        };
                        self.err(pos, &path, format!("there is no workflow `{workflow}`"))
                            .hint = Some(hint);
                    }
                },
            }
        }
    }

    fn check_call_inputs(
        &mut self,
        what: &str,
        name: &str,
        params: &[Param],
        with: Option<&Node>,
        path: &str,
        pos: Pos,
    ) {
        let entries = with.and_then(Node::as_map).unwrap_or(&[]);
        for entry in entries {
            if !params.iter().any(|p| p.name == entry.key) {
                let hint = match did_you_mean(&entry.key, params.iter().map(|p| p.name.as_str())) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!(
                        "its parameters are: {}",
                        params
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                self.err(
                    entry.key_pos,
                    &join(&with_path(path), &entry.key),
                    format!("the {what} `{name}` has no parameter `{}`", entry.key),
                )
                .hint = Some(hint);
            }
        }
        for param in params.iter().filter(|p| p.required && p.default.is_none()) {
            if !entries.iter().any(|e| e.key == param.name) {
                self.err(
                    pos,
                    path,
                    format!("the {what} `{name}` needs the parameter `{}`", param.name),
                )
                .hint = Some(format!("pass it under `with:` as `{}: ...`", param.name));
            }
        }
    }

    fn check_table_action(
        &mut self,
        action: &str,
        with: &Node,
        path: &str,
        pos: Pos,
        index: &ProjectIndex<'_>,
    ) {
        let Some(entries) = with.as_map() else { return };
        let get = |key: &str| {
            entries
                .iter()
                .rev()
                .find(|e| e.key == key)
                .map(|e| &e.value)
        };
        let Some(table_node) = get("table") else {
            return;
        };
        let table_path = join(path, "table");
        let Some(table_name) = table_node.as_str() else {
            return;
        };
        if is_dynamic(table_node) {
            self.err(
                table_node.pos,
                &table_path,
                "the table must be named as written, not computed",
            )
            .hint = Some("write the table's name, e.g. `table: orders`".into());
            return;
        }
        let Some(table) = index.tables.get(table_name) else {
            let hint = match did_you_mean(table_name, index.tables.keys().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None => "declare it under `tables:`".to_string(),
            };
            self.err(
                table_node.pos,
                &table_path,
                format!("there is no table `{table_name}`"),
            )
            .hint = Some(hint);
            return;
        };
        let has_id = get("id").is_some();
        let has_where = get("where").is_some();
        let all = get("all").is_some_and(|n| n.value == Value::Bool(true));
        if has_id && has_where {
            self.err(
                pos,
                path,
                format!("`{action}` takes `id` or `where`, not both"),
            );
        }
        if matches!(action, "table.update" | "table.delete") && !has_id && !has_where && !all {
            self.err(
                pos,
                path,
                format!("`{action}` without `id` or `where` would touch every row"),
            )
            .hint = Some("give `id` or `where`, or say `all: true` if every row is meant".into());
        }
        if let Some(values) = get("values") {
            self.check_columns_of(values, &join(path, "values"), table);
            if action == "table.insert" && values.as_map().is_some() {
                let given = values.as_map().unwrap_or(&[]);
                for column in &table.columns {
                    let auto_key = column.primary_key && column.ty == ColumnType::Integer;
                    if column.required
                        && column.default.is_none()
                        && !auto_key
                        && !given.iter().any(|e| e.key == column.name)
                    {
                        self.err(
                            values.pos,
                            &join(path, "values"),
                            format!(
                                "the column `{}` is required and has no default",
                                column.name
                            ),
                        )
                        .hint = Some(format!("give `{}` a value", column.name));
                    }
                }
            }
        }
        if let Some(filters) = get("where") {
            let where_path = join(path, "where");
            if let Some(entries) = filters.as_map() {
                for entry in entries {
                    let column_path = join(&where_path, &entry.key);
                    if !self.check_column(&entry.key, entry.key_pos, &column_path, table) {
                        continue;
                    }
                    if let Some(ops) = entry.value.as_map() {
                        for op in ops {
                            let op_path = join(&column_path, &op.key);
                            match FilterOp::parse(&op.key) {
                                Err(unknown) => {
                                    self.err(op.key_pos, &op_path, unknown.to_string()).hint =
                                        Some(unknown.hint());
                                }
                                Ok(filter)
                                    if filter.takes_list()
                                        && !is_dynamic(&op.value)
                                        && op.value.as_seq().is_none() =>
                                {
                                    self.err(
                                        op.value.pos,
                                        &op_path,
                                        format!("`{filter}` takes a list of values"),
                                    );
                                }
                                Ok(_) => {}
                            }
                        }
                    }
                }
            }
        }
        if let Some(order) = get("order") {
            let order_path = join(path, "order");
            let items: Vec<&Node> = match &order.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![order],
            };
            for item in items {
                let Some(text) = item.as_str() else {
                    self.err(item.pos, &order_path, OrderError::NotText.to_string());
                    continue;
                };
                if is_dynamic(item) {
                    continue;
                }
                match parse_order(text) {
                    Ok((column, _)) => {
                        self.check_column(column, item.pos, &order_path, table);
                    }
                    Err(problem) => {
                        self.err(item.pos, &order_path, problem.to_string()).hint =
                            Some(problem.hint());
                    }
                }
            }
        }
    }

    fn check_columns_of(&mut self, values: &Node, path: &str, table: &Table) {
        let Some(entries) = values.as_map() else {
            return;
        };
        for entry in entries {
            let column_path = join(path, &entry.key);
            if !self.check_column(&entry.key, entry.key_pos, &column_path, table) {
                continue;
            }
            if is_dynamic(&entry.value) {
                continue;
            }
            let Some(column) = table.column(&entry.key) else {
                continue;
            };
            if let Err(problem) = crate::column_value(column.ty, &entry.value.to_json()) {
                self.err(
                    entry.value.pos,
                    &column_path,
                    format!("the value {problem}"),
                );
            }
        }
    }

    fn check_column(&mut self, name: &str, pos: Pos, path: &str, table: &Table) -> bool {
        if table.column(name).is_some() {
            return true;
        }
        let hint = match did_you_mean(name, table.columns.iter().map(|c| c.name.as_str())) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "the columns of `{}` are: {}",
                table.name,
                table
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.err(
            pos,
            path,
            format!("the table `{}` has no column `{name}`", table.name),
        )
        .hint = Some(hint);
        false
    }
}
