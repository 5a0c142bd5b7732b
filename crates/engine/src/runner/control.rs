//! Control flow: the steps that choose, repeat or stop other steps. `if` and
//! `switch` pick a branch, `for_each` and `while` loop, `try` catches what
//! its steps raise and `throw` raises, and `return` ends a function with its
//! value.

use paywire_expr::{Expr, Template, to_dynamic};
use paywire_model::{Step, SwitchCase};
use paywire_store::StepRecord;
use serde_json::{Value, json};

use super::state::{Done, Flow, Frame, Run, case_text, display_text};
use super::{Runner, WorkflowError, expression_error};

impl Runner {
    pub(super) async fn exec_if(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        condition: &Expr,
        then: &[Step],
        otherwise: &[Step],
    ) -> Result<Done, WorkflowError> {
        let taken = self
            .eval_bool(run, frame, condition)
            .await
            .map_err(|e| expression_error("`if`", e))?;
        record.input = json!({ "condition": taken });
        let branch = if taken { then } else { otherwise };
        let flow = self.exec_steps(run, frame, branch).await?;
        let name = if taken { "then" } else { "else" };
        Ok(Done::Ran(flow, json!({ "branch": name })))
    }

    pub(super) async fn exec_switch(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        on: &Expr,
        cases: &[SwitchCase],
        default: Option<&[Step]>,
    ) -> Result<Done, WorkflowError> {
        let value = self
            .eval(run, frame, on)
            .await
            .map_err(|e| expression_error("`switch`", e))?;
        let text = case_text(&value);
        record.input = json!({ "value": text });
        let case = cases
            .iter()
            .find(|c| text.as_deref() == Some(c.value.as_str()));
        let (name, branch) = match (case, default) {
            (Some(case), _) => (Value::String(case.value.clone()), Some(&case.steps[..])),
            (None, Some(default)) => (Value::String("default".into()), Some(default)),
            (None, None) => (Value::Null, None),
        };
        let flow = match branch {
            Some(steps) => self.exec_steps(run, frame, steps).await?,
            None => Flow::Next,
        };
        Ok(Done::Ran(flow, json!({ "branch": name })))
    }

    // A loop takes the names of its item and of its index on top of what
    // every kind's function takes.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exec_for_each(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        items: &Expr,
        item_name: &str,
        index_name: &str,
        steps: &[Step],
    ) -> Result<Done, WorkflowError> {
        let value = self
            .eval(run, frame, items)
            .await
            .map_err(|e| expression_error("`for_each`", e))?;
        let type_name = value.type_name();
        let Some(list) = value.try_cast::<rhai::Array>() else {
            return Err(WorkflowError::new(
                "ExpressionError",
                format!(
                    "`for_each` needs a list, but `{}` gave {type_name}",
                    items.source()
                ),
                "",
            ));
        };
        let count = list.len();
        record.input = json!({ "count": count });
        let base = frame.scope.len();
        for (i, item) in list.into_iter().enumerate() {
            // A long loop of quick steps gives the thread back now and then,
            // so that it cannot hold it from other requests.
            tokio::task::consume_budget().await;
            frame.scope.push_constant_dynamic(item_name, item);
            frame.scope.push_constant(index_name, i as i64);
            frame.iterations.push(i);
            let flow = self.exec_steps(run, frame, steps).await;
            frame.iterations.pop();
            frame.scope.rewind(base);
            match flow? {
                Flow::Next => {}
                other => return Ok(Done::Ran(other, json!({ "iterations": i + 1 }))),
            }
        }
        Ok(Done::next(json!({ "iterations": count })))
    }

    pub(super) async fn exec_while(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        condition: &Expr,
        max_iterations: u64,
        steps: &[Step],
    ) -> Result<Done, WorkflowError> {
        let mut count: u64 = 0;
        loop {
            tokio::task::consume_budget().await;
            let go = self
                .eval_bool(run, frame, condition)
                .await
                .map_err(|e| expression_error("`while`", e))?;
            if !go {
                break;
            }
            if count == max_iterations {
                return Err(WorkflowError::new(
                    "LoopLimit",
                    format!(
                        "the `while` loop reached its max_iterations ({max_iterations}) with its condition still true"
                    ),
                    "",
                ));
            }
            frame.iterations.push(count as usize);
            let flow = self.exec_steps(run, frame, steps).await;
            frame.iterations.pop();
            count += 1;
            match flow? {
                Flow::Next => {}
                other => return Ok(Done::Ran(other, json!({ "iterations": count }))),
            }
        }
        Ok(Done::next(json!({ "iterations": count })))
    }

    pub(super) async fn exec_try(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        steps: &[Step],
        catch: &[Step],
        error_name: &str,
    ) -> Result<Done, WorkflowError> {
        match self.exec_steps(run, frame, steps).await {
            Ok(flow) => Ok(Done::Ran(flow, json!({ "caught": null }))),
            Err(error) => {
                let caught = error.to_catch_value();
                let base = frame.scope.len();
                frame
                    .scope
                    .push_constant_dynamic(error_name, to_dynamic(&caught));
                let flow = self.exec_steps(run, frame, catch).await;
                frame.scope.rewind(base);
                Ok(Done::Ran(flow?, json!({ "caught": caught })))
            }
        }
    }

    pub(super) async fn exec_throw(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        message: &Template,
        name: &Template,
        cause: &Template,
        status: Option<u16>,
    ) -> Result<Done, WorkflowError> {
        let message = self.render(message, run, frame, "`throw`").await?;
        let name = self.render(name, run, frame, "`throw`").await?;
        let cause = self.render(cause, run, frame, "`throw`").await?;
        let mut error = WorkflowError::new(&display_text(&name), display_text(&message), "");
        error.cause = cause;
        error.status = status;
        error.public = true;
        Err(error)
    }

    pub(super) async fn exec_return(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        value: &Template,
    ) -> Result<Done, WorkflowError> {
        let value = self.render(value, run, frame, "`return`").await?;
        Ok(Done::Ran(Flow::Return(value.clone()), value))
    }
}
