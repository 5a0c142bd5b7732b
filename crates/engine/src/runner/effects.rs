//! The steps that reach past the run's own scope: an action (a table
//! operation or a Stripe call), `wait`, `call` into a function and `start`
//! of another workflow's run.
//!
//! An action's plan comes from the actions layer; carrying it out is the
//! runner's, because what goes to the store with it is the run's records. A
//! table write commits in one transaction with the step's record and the
//! records made before it. A table read and a Stripe call carry no records:
//! the records made so far are handed to the store first, as before every
//! step that waits on something outside the run, so that the run shows as
//! running meanwhile.

use std::time::{Duration, Instant};

use paywire_expr::Template;
use paywire_model::catalogue::ActionSpec;
use paywire_store::{RunKind, StepCommit, StepRecord};
use serde_json::{Value, json};

use super::state::{Done, Flow, Frame, Run, new_run_id, validate_input};
use super::{RunIdentity, Runner, WorkflowError};
use crate::actions::{ActionError, ActionPlan, ActionSite};

/// How deep `call` may nest before the run fails.
const MAX_CALL_DEPTH: usize = 16;
/// The longest one `wait` step may wait.
const MAX_WAIT: Duration = Duration::from_millis(paywire_model::MAX_WAIT_MS);

impl Runner {
    /// An action step: the actions layer plans it, and the runner carries
    /// the plan out with the run's records as the file's comment says.
    pub(super) async fn exec_action(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        started: Instant,
        action: &'static ActionSpec,
        input: &Template,
    ) -> Result<Done, WorkflowError> {
        record.input = self.render(input, run, frame, "`with`").await?;
        if run.resumes
            && action.has_effect()
            && let Some(output) = self.earlier_output(run, &record.key).await?
        {
            tracing::info!(run = %run.id, step = %record.key, "reusing what an earlier attempt of this step did");
            return Ok(Done::next(output));
        }
        let site = ActionSite {
            idempotency_root: &run.idempotency_root,
            step_key: &record.key,
        };
        let plan = self
            .actions
            .plan(action, &record.input, site)
            .map_err(WorkflowError::from_action)?;
        match plan {
            ActionPlan::TableRead(op) => {
                run.hand_over_records(self.store.as_ref());
                let output = self
                    .store
                    .table_op(op, None)
                    .await
                    .map_err(|e| WorkflowError::from_action(ActionError::from_store(e)))?;
                Ok(Done::next(output))
            }
            ActionPlan::TableWrite(op) => {
                // The store fills in the committed record's output and
                // duration; the runner keeps its own copy to record the step
                // as failed should the write fail, which undoes that copy.
                let commit = StepCommit {
                    earlier: std::mem::take(&mut run.unwritten),
                    step: record.clone(),
                    started,
                    claim: run.claim.clone(),
                };
                let output = self
                    .store
                    .table_op(op, Some(commit))
                    .await
                    .map_err(|e| WorkflowError::from_action(ActionError::from_store(e)))?;
                Ok(Done::Committed(output))
            }
            ActionPlan::Stripe(call) => {
                run.hand_over_records(self.store.as_ref());
                let output = self
                    .actions
                    .call_stripe(call)
                    .await
                    .map_err(WorkflowError::from_action)?;
                Ok(Done::next(output))
            }
        }
    }

    /// The output of this step in an earlier attempt of the run, when that
    /// attempt got as far as doing it.
    async fn earlier_output(&self, run: &Run, key: &str) -> Result<Option<Value>, WorkflowError> {
        self.store
            .step_output(run.idempotency_root.clone(), key.to_string())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not read an earlier step's record");
                WorkflowError {
                    public: false,
                    ..WorkflowError::new(
                        "StoreError",
                        "the database failed; the details are in the server's log",
                        "",
                    )
                }
            })
    }

    pub(super) async fn exec_wait(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        milliseconds: &Template,
    ) -> Result<Done, WorkflowError> {
        let value = self.render(milliseconds, run, frame, "`wait`").await?;
        let ms = value.as_u64().ok_or_else(|| {
            WorkflowError::new(
                "ExpressionError",
                format!("`wait` needs a whole number of milliseconds, got {value}"),
                "",
            )
        })?;
        let duration = Duration::from_millis(ms);
        if duration > MAX_WAIT {
            return Err(WorkflowError::new(
                "WaitError",
                format!(
                    "`wait` of {ms} ms is longer than the longest wait, {} s",
                    MAX_WAIT.as_secs()
                ),
                "",
            ));
        }
        record.input = json!({ "milliseconds": ms });
        run.hand_over_records(self.store.as_ref());
        tokio::time::sleep(duration).await;
        Ok(Done::next(Value::Null))
    }

    /// A `call`: the function runs in a frame of its own, its steps keyed
    /// under its name, and its `return` is the step's result.
    pub(super) async fn exec_call(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        function: &str,
        input: &Template,
    ) -> Result<Done, WorkflowError> {
        record.input = self.render(input, run, frame, "`with`").await?;
        let Some(target) = self.project.functions.get(function).cloned() else {
            return Err(WorkflowError::new(
                "CallError",
                format!("there is no function `{function}`"),
                "",
            ));
        };
        if frame.depth + 1 > MAX_CALL_DEPTH {
            return Err(WorkflowError::new(
                "CallError",
                format!(
                    "calls nest deeper than {MAX_CALL_DEPTH}: does `{function}` call itself without end?"
                ),
                "",
            ));
        }
        let parameters = validate_input(&target.params, &record.input, "function", function)?;
        let context = json!({ "parameters": parameters });
        let mut inner = Frame::new(
            &context,
            format!("{}{function}/", frame.key_prefix),
            frame.depth + 1,
        );
        inner.iterations = frame.iterations.clone();
        // Calls inside a call must not see the caller's reply: only APIs answer.
        let reply = run.reply.take();
        let result = self.exec_steps(run, &mut inner, &target.steps).await;
        run.reply = reply;
        let output = match result? {
            Flow::Return(value) => value,
            Flow::Next | Flow::Stop => Value::Null,
        };
        Ok(Done::next(output))
    }

    /// A `start`: the workflow runs on a task of its own, as a run of its
    /// own; the step's result names that run, and does not wait for it.
    pub(super) async fn exec_start(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        workflow: &str,
        input: &Template,
    ) -> Result<Done, WorkflowError> {
        record.input = self.render(input, run, frame, "`with`").await?;
        let Some(target) = self.project.workflows.get(workflow).cloned() else {
            return Err(WorkflowError::new(
                "StartError",
                format!("there is no workflow `{workflow}`"),
                "",
            ));
        };
        let parameters = validate_input(&target.params, &record.input, "workflow", workflow)?;
        let context = json!({ "parameters": parameters, "started_by": run.id });
        let runner = self.clone();
        let child_id = new_run_id();
        let id = child_id.clone();
        tokio::spawn(async move {
            let recorded = context.clone();
            runner
                .run(
                    RunIdentity {
                        id,
                        ..RunIdentity::new()
                    },
                    RunKind::Workflow,
                    &target.name,
                    &target.steps,
                    &context,
                    recorded,
                    None,
                )
                .await;
        });
        Ok(Done::next(
            json!({ "workflow": workflow, "run_id": child_id }),
        ))
    }
}
