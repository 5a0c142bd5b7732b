//! The runner: carries out the steps of an API, workflow or function, with
//! their control flow, and records the run and every step in the store.
//!
//! One run owns one Rhai scope. `context` is converted to a Rhai value once
//! per run and shared by every expression; each step's result is added to
//! `steps` as it finishes. The runner talks to the outside world only through
//! [`ActionExecutor`] and [`Store`]: it knows nothing of HTTP or SQL, and it
//! is the only part of the engine that hands a run's records to the store.
//!
//! This file holds a run from its start to its end and the walk over its
//! steps; what each kind of step does is in `control.rs` (branches, loops,
//! errors, `return`), `output.rs` (`set`, `log`, `response`) and
//! `effects.rs` (actions, `wait`, `call`, `start`).

mod control;
mod effects;
mod error;
mod output;
mod state;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use rhai::Dynamic;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::actions::ActionExecutor;
use paywire_expr::{EvalError, Evaluator, Expr, RunBudget, Template};
use paywire_model::{Api, Project, Step, StepKind, Workflow};
use paywire_store::{
    RunEnd, RunKind, RunRecord, RunRecords, RunStatus, StepRecord, StepStatus, Store,
};

pub use error::WorkflowError;
use state::{Done, Flow, Frame, Run, StepsFuture, now_text};
pub use state::{RunIdentity, new_run_id};

/// How deep lists of steps may nest, a called function's steps included.
/// Each level of steps is a level of nested futures, polled on the thread's
/// stack; this keeps the deepest run well inside a 2 MiB thread stack, the
/// smallest paywire runs on (tokio's and the tests' default).
pub const MAX_STEP_DEPTH: usize = 32;

/// What an API run answers its caller.
#[derive(Clone, Debug, PartialEq)]
pub enum ApiReply {
    Response(HttpAnswer),
    Failed(WorkflowError),
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub run_id: String,
    pub status: RunStatus,
    pub error: Option<WorkflowError>,
}

/// Everything a run needs; cheap to clone (all shared).
#[derive(Clone)]
pub struct Runner {
    project: Arc<Project>,
    evaluator: Arc<Evaluator>,
    actions: Arc<dyn ActionExecutor>,
    store: Arc<dyn Store>,
    /// The instance whose runs these are, for their records.
    instance: Option<Arc<str>>,
}

impl Runner {
    pub fn new(
        project: Arc<Project>,
        evaluator: Arc<Evaluator>,
        actions: Arc<dyn ActionExecutor>,
        store: Arc<dyn Store>,
    ) -> Runner {
        Runner {
            project,
            evaluator,
            actions,
            store,
            instance: None,
        }
    }

    /// The same runner, recording its runs as run by `instance`.
    pub fn on_instance(self, instance: Arc<str>) -> Runner {
        Runner {
            instance: Some(instance),
            ..self
        }
    }

    pub fn project(&self) -> &Arc<Project> {
        &self.project
    }

    /// Runs an API as run `run_id`. `context` is the whole `context` value (parameters,
    /// request); `recorded_input` is what the run record keeps of it, secrets
    /// removed. The answer goes to `reply` when a `response` step ends the
    /// run, at once for a `response` with `continue`, or when the run fails.
    /// Either way the run's records are handed to the store first.
    pub async fn run_api(
        &self,
        run: RunIdentity,
        api: Arc<Api>,
        context: &Value,
        recorded_input: Value,
        reply: oneshot::Sender<ApiReply>,
    ) -> RunOutcome {
        self.run(
            run,
            RunKind::Api,
            &api.name,
            &api.steps,
            context,
            recorded_input,
            Some(reply),
        )
        .await
    }

    /// Runs a workflow to its end.
    pub async fn run_workflow(
        &self,
        run: RunIdentity,
        workflow: Arc<Workflow>,
        context: &Value,
        recorded_input: Value,
    ) -> RunOutcome {
        self.run(
            run,
            RunKind::Workflow,
            &workflow.name,
            &workflow.steps,
            context,
            recorded_input,
            None,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        identity: RunIdentity,
        kind: RunKind,
        name: &str,
        steps: &[Step],
        context: &Value,
        recorded_input: Value,
        reply: Option<oneshot::Sender<ApiReply>>,
    ) -> RunOutcome {
        // Waits while the store's queue of records is full: the caller feels
        // a slow disk instead of the server's memory growing without end.
        if let Err(e) = self.store.records_room().await {
            tracing::error!(error = %e, "the store cannot take run records");
        }
        let started = Instant::now();
        let mut run = Run {
            idempotency_root: identity
                .retry_of
                .clone()
                .unwrap_or_else(|| identity.id.clone()),
            resumes: identity.retry_of.is_some(),
            id: identity.id,
            seq: 0,
            reply,
            final_answer: None,
            answered: None,
            unwritten: RunRecords::default(),
            budget: RunBudget::new(self.evaluator.limits().run_budget),
            step_depth: 0,
            claim: identity.claim,
        };
        let start = RunRecord {
            id: run.id.clone(),
            retry_of: identity.retry_of.clone(),
            trigger_event: identity.trigger_event,
            kind,
            name: name.to_string(),
            status: RunStatus::Running,
            input: Value::Null,
            error: None,
            response_status: None,
            started_at: now_text(),
            finished_at: None,
            duration_ms: None,
            retrying: false,
            instance: self.instance.as_deref().map(str::to_string),
        };
        // What a panic would leave of the run's row: all but its input.
        let start_without_input = start.clone();
        run.unwritten.start = Some(RunRecord {
            input: recorded_input,
            ..start
        });
        let mut frame = Frame::new(context, String::new(), 0);
        // A panic is a bug, never an answer to input, but should one happen
        // it ends this run as failed, counted and on record like any other
        // failure, instead of leaving it `running` and its caller or event
        // waiting for ever.
        let result = AssertUnwindSafe(self.exec_steps(&mut run, &mut frame, steps))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                // The panic hook has already reported where, and what.
                tracing::error!(run = %run.id, name, "a run panicked");
                // The panic may have dropped records that were on their way
                // to the store, the run's row among them; written again, it
                // is ignored if it was not lost.
                if run.unwritten.start.is_none() {
                    self.store.record(RunRecords {
                        start: Some(start_without_input),
                        ..RunRecords::default()
                    });
                }
                Err(WorkflowError {
                    public: false,
                    status: Some(500),
                    ..WorkflowError::new(
                        "InternalError",
                        "an internal error stopped the run; the details are in the server's log",
                        "",
                    )
                })
            });
        let error = result.err();
        let reply = run.reply.take().map(|reply| {
            let answer = match (run.final_answer.take(), &error) {
                (Some(answer), _) => ApiReply::Response(answer),
                (None, Some(e)) => {
                    run.answered = Some(e.http_status());
                    ApiReply::Failed(e.clone())
                }
                (None, None) => {
                    // The loader refuses APIs that can end without answering;
                    // this is the guard should that check ever miss a path.
                    run.answered = Some(500);
                    ApiReply::Failed(WorkflowError::new(
                        "NoResponse",
                        "the API finished without a `response` step answering",
                        "",
                    ))
                }
            };
            (reply, answer)
        });
        let status = if error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        if let Some(e) = &error {
            tracing::warn!(run = %run.id, name, step = %e.step, error = %e.message, "run failed");
        }
        run.unwritten.end = Some(RunEnd {
            id: run.id.clone(),
            status,
            error: error.as_ref().map(WorkflowError::to_record),
            response_status: run.answered,
            finished_at: now_text(),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        });
        run.hand_over_records(self.store.as_ref());
        if let Some((reply, answer)) = reply {
            // The caller may have gone away; the run is over regardless.
            let _ = reply.send(answer);
        }
        RunOutcome {
            run_id: run.id,
            status,
            error,
        }
    }

    fn exec_steps<'a>(
        &'a self,
        run: &'a mut Run,
        frame: &'a mut Frame,
        steps: &'a [Step],
    ) -> StepsFuture<'a> {
        Box::pin(async move {
            if run.step_depth >= MAX_STEP_DEPTH {
                return Err(WorkflowError::new(
                    "DepthLimit",
                    format!(
                        "steps nest deeper than {MAX_STEP_DEPTH} (branches, loops, `try` and calls together)"
                    ),
                    "",
                ));
            }
            run.step_depth += 1;
            let mut flow = Ok(Flow::Next);
            for step in steps {
                match self.exec_step(run, frame, step).await {
                    Ok(Flow::Next) => {}
                    other => {
                        flow = other;
                        break;
                    }
                }
            }
            run.step_depth -= 1;
            flow
        })
    }

    async fn exec_step(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        step: &Step,
    ) -> Result<Flow, WorkflowError> {
        let started = Instant::now();
        let mut record = StepRecord {
            run_id: run.id.clone(),
            seq: run.seq,
            key: frame.key(step),
            step_id: step.id.clone(),
            kind: step.kind.label().to_string(),
            status: StepStatus::Succeeded,
            input: Value::Null,
            output: Value::Null,
            error: None,
            started_at: now_text(),
            duration_ms: 0.0,
        };
        run.seq += 1;
        let fail = |record: &StepRecord, e: String, name: &str| {
            WorkflowError::new(name, e, &record.key).with_step_id(step.id.clone())
        };

        if let Some(when) = &step.when {
            match self.eval_bool(run, frame, when).await {
                Ok(true) => {}
                Ok(false) => {
                    record.status = StepStatus::Skipped;
                    self.finish(run, record, started);
                    return Ok(Flow::Next);
                }
                Err(e) => {
                    let error = fail(&record, format!("`when`: {}", e.message), "ExpressionError");
                    self.finish_failed(run, record, started, &error);
                    return Err(error);
                }
            }
        }

        match self.exec_kind(run, frame, step, &mut record, started).await {
            Ok(Done::Ran(flow, output)) => {
                if let Some(id) = &step.id {
                    frame.set_step_result(id, &output);
                }
                record.output = output;
                self.finish(run, record, started);
                Ok(flow)
            }
            Ok(Done::Committed(output)) => {
                // The step's record went to the store with its write.
                if let Some(id) = &step.id {
                    frame.set_step_result(id, &output);
                }
                Ok(Flow::Next)
            }
            Err(error) => {
                let error = if error.step.is_empty() {
                    WorkflowError {
                        step: record.key.clone(),
                        step_id: step.id.clone(),
                        ..error
                    }
                } else {
                    error
                };
                self.finish_failed(run, record, started, &error);
                Err(error)
            }
        }
    }

    fn finish(&self, run: &mut Run, mut record: StepRecord, started: Instant) {
        record.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        run.unwritten.steps.push(record);
    }

    fn finish_failed(
        &self,
        run: &mut Run,
        mut record: StepRecord,
        started: Instant,
        error: &WorkflowError,
    ) {
        // Only the step where the error arose records it; the steps it
        // passes through on the way out (an `if`, a loop) record that they
        // failed, pointing at where.
        record.status = StepStatus::Failed;
        record.error = Some(if error.step == record.key {
            error.to_record()
        } else {
            json!({ "at": error.step })
        });
        self.finish(run, record, started);
    }

    /// Renders a template against the frame's scope, within the run's
    /// budget of expression time.
    async fn render(
        &self,
        template: &Template,
        run: &mut Run,
        frame: &mut Frame,
        what: &str,
    ) -> Result<Value, WorkflowError> {
        let scope = &mut frame.scope;
        self.evaluator
            .compute(&mut run.budget, |evaluator| {
                evaluator.render(template, scope)
            })
            .await
            .map_err(|e| expression_error(what, e))
    }

    async fn eval(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        expr: &Expr,
    ) -> Result<Dynamic, EvalError> {
        let scope = &mut frame.scope;
        self.evaluator
            .compute(&mut run.budget, |evaluator| evaluator.eval(expr, scope))
            .await
    }

    async fn eval_bool(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        expr: &Expr,
    ) -> Result<bool, EvalError> {
        let scope = &mut frame.scope;
        self.evaluator
            .compute(&mut run.budget, |evaluator| {
                evaluator.eval_bool(expr, scope)
            })
            .await
    }

    /// Runs one step by its kind. Each kind's function sets the input its
    /// record keeps before anything can fail, so that a failed step's record
    /// shows what the step was given.
    async fn exec_kind(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        step: &Step,
        record: &mut StepRecord,
        started: Instant,
    ) -> Result<Done, WorkflowError> {
        match &step.kind {
            StepKind::Action { action, input } => {
                self.exec_action(run, frame, record, started, action, input)
                    .await
            }
            StepKind::If {
                condition,
                then,
                otherwise,
            } => {
                self.exec_if(run, frame, record, condition, then, otherwise)
                    .await
            }
            StepKind::Switch { on, cases, default } => {
                self.exec_switch(run, frame, record, on, cases, default.as_deref())
                    .await
            }
            StepKind::ForEach {
                items,
                item_name,
                index_name,
                steps,
            } => {
                self.exec_for_each(run, frame, record, items, item_name, index_name, steps)
                    .await
            }
            StepKind::While {
                condition,
                max_iterations,
                steps,
            } => {
                self.exec_while(run, frame, condition, *max_iterations, steps)
                    .await
            }
            StepKind::Try {
                steps,
                catch,
                error_name,
            } => self.exec_try(run, frame, steps, catch, error_name).await,
            StepKind::Throw {
                message,
                name,
                cause,
                status,
            } => {
                self.exec_throw(run, frame, message, name, cause, *status)
                    .await
            }
            StepKind::Response {
                status,
                headers,
                body,
                keep_running,
            } => {
                self.exec_response(run, frame, record, status, headers, body, *keep_running)
                    .await
            }
            StepKind::Return { value } => self.exec_return(run, frame, value).await,
            StepKind::Set { var, value } => self.exec_set(run, frame, record, var, value).await,
            StepKind::Log { level, message } => self.exec_log(run, frame, *level, message).await,
            StepKind::Wait { milliseconds } => {
                self.exec_wait(run, frame, record, milliseconds).await
            }
            StepKind::Call { function, input } => {
                self.exec_call(run, frame, record, function, input).await
            }
            StepKind::Start { workflow, input } => {
                self.exec_start(run, frame, record, workflow, input).await
            }
        }
    }
}

/// An expression's error as the error of the step whose `what` it was.
fn expression_error(what: &str, e: EvalError) -> WorkflowError {
    WorkflowError::new("ExpressionError", format!("{what}: {}", e.message), "")
}
