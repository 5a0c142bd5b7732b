//! The runner: carries out the steps of an API, workflow or function, with
//! their control flow, and records the run and every step in the store.
//!
//! One run owns one Rhai scope. `context` is converted to a Rhai value once
//! per run and shared by every expression; each step's result is added to
//! `steps` as it finishes. The runner talks to the outside world only through
//! [`ActionExecutor`] and [`Store`]: it knows nothing of HTTP or SQL.

mod error;
mod state;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use rhai::Dynamic;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::actions::{ActionCall, ActionExecutor};
use paywire_expr::{EvalError, Evaluator, Expr, RunBudget, Template, to_dynamic};
use paywire_model::{Api, LogLevel, Project, Step, StepKind, Workflow};
use paywire_store::{
    RunEnd, RunKind, RunRecord, RunRecords, RunStatus, StepRecord, StepStatus, Store,
};

pub use error::WorkflowError;
use state::{Flow, Frame, Run, StepsFuture, case_text, display_text, now_text, validate_input};
pub use state::{RunIdentity, new_run_id};

/// How deep `call` may nest before the run fails.
const MAX_CALL_DEPTH: usize = 16;
/// How deep lists of steps may nest, a called function's steps included.
/// Each level of steps is a level of nested futures, polled on the thread's
/// stack; this keeps the deepest run well inside a 2 MiB thread stack, the
/// smallest paywire runs on (tokio's and the tests' default).
pub const MAX_STEP_DEPTH: usize = 32;
/// The longest one `wait` step may wait.
const MAX_WAIT: Duration = Duration::from_millis(paywire_model::MAX_WAIT_MS);

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

        let mut recorded = false;
        let result: Result<(Flow, Value), WorkflowError> = self
            .exec_kind(run, frame, step, &mut record, &mut recorded, started)
            .await;
        match result {
            Ok((flow, output)) => {
                if let Some(id) = &step.id {
                    frame.set_step_result(id, &output);
                }
                if !recorded {
                    record.output = output;
                    self.finish(run, record, started);
                }
                Ok(flow)
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
            .map_err(|e| {
                WorkflowError::new("ExpressionError", format!("{what}: {}", e.message), "")
            })
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

    async fn exec_kind(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        step: &Step,
        record: &mut StepRecord,
        recorded: &mut bool,
        started: Instant,
    ) -> Result<(Flow, Value), WorkflowError> {
        let expr_error = |what: &str, e: paywire_expr::EvalError| {
            WorkflowError::new("ExpressionError", format!("{what}: {}", e.message), "")
        };
        match &step.kind {
            StepKind::Action { action, input } => {
                let input = self.render(input, run, frame, "`with`").await?;
                record.input = input.clone();
                if run.resumes && action.has_effect() {
                    let done = self
                        .store
                        .step_output(run.idempotency_root.clone(), record.key.clone())
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
                        })?;
                    if let Some(output) = done {
                        tracing::info!(run = %run.id, step = %record.key, "reusing what an earlier attempt of this step did");
                        return Ok((Flow::Next, output));
                    }
                }
                let call = ActionCall {
                    spec: action,
                    input,
                    record: record.clone(),
                    started,
                    idempotency_root: run.idempotency_root.clone(),
                    earlier: std::mem::take(&mut run.unwritten),
                };
                let outcome = self
                    .actions
                    .execute(call)
                    .await
                    .map_err(WorkflowError::from_action)?;
                *recorded = outcome.recorded;
                Ok((Flow::Next, outcome.output))
            }
            StepKind::If {
                condition,
                then,
                otherwise,
            } => {
                let taken = self
                    .eval_bool(run, frame, condition)
                    .await
                    .map_err(|e| expr_error("`if`", e))?;
                record.input = json!({ "condition": taken });
                let branch = if taken { then } else { otherwise };
                let flow = self.exec_steps(run, frame, branch).await?;
                Ok((
                    flow,
                    json!({ "branch": if taken { "then" } else { "else" } }),
                ))
            }
            StepKind::Switch { on, cases, default } => {
                let value = self
                    .eval(run, frame, on)
                    .await
                    .map_err(|e| expr_error("`switch`", e))?;
                let text = case_text(&value);
                record.input = json!({ "value": text });
                let case = cases
                    .iter()
                    .find(|c| text.as_deref() == Some(c.value.as_str()));
                let (name, branch) = match (case, default) {
                    (Some(case), _) => (Value::String(case.value.clone()), Some(&case.steps)),
                    (None, Some(default)) => (Value::String("default".into()), Some(default)),
                    (None, None) => (Value::Null, None),
                };
                let flow = match branch {
                    Some(steps) => self.exec_steps(run, frame, steps).await?,
                    None => Flow::Next,
                };
                Ok((flow, json!({ "branch": name })))
            }
            StepKind::ForEach {
                items,
                item_name,
                index_name,
                steps,
            } => {
                let value = self
                    .eval(run, frame, items)
                    .await
                    .map_err(|e| expr_error("`for_each`", e))?;
                let Some(list) = value.clone().try_cast::<rhai::Array>() else {
                    return Err(WorkflowError::new(
                        "ExpressionError",
                        format!(
                            "`for_each` needs a list, but `{}` gave {}",
                            items.source(),
                            value.type_name()
                        ),
                        "",
                    ));
                };
                record.input = json!({ "count": list.len() });
                let base = frame.scope.len();
                for (i, item) in list.into_iter().enumerate() {
                    // A long loop of quick steps gives the thread back now
                    // and then, so that it cannot hold it from other requests.
                    tokio::task::consume_budget().await;
                    frame.scope.push_constant_dynamic(item_name.clone(), item);
                    frame.scope.push_constant(index_name.clone(), i as i64);
                    frame.iterations.push(i);
                    let flow = self.exec_steps(run, frame, steps).await;
                    frame.iterations.pop();
                    frame.scope.rewind(base);
                    match flow? {
                        Flow::Next => {}
                        other => return Ok((other, json!({ "iterations": i + 1 }))),
                    }
                }
                Ok((Flow::Next, json!({ "iterations": record.input["count"] })))
            }
            StepKind::While {
                condition,
                max_iterations,
                steps,
            } => {
                let mut count: u64 = 0;
                loop {
                    tokio::task::consume_budget().await;
                    let go = self
                        .eval_bool(run, frame, condition)
                        .await
                        .map_err(|e| expr_error("`while`", e))?;
                    if !go {
                        break;
                    }
                    if count == *max_iterations {
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
                        other => return Ok((other, json!({ "iterations": count }))),
                    }
                }
                Ok((Flow::Next, json!({ "iterations": count })))
            }
            StepKind::Try {
                steps,
                catch,
                error_name,
            } => match self.exec_steps(run, frame, steps).await {
                Ok(flow) => Ok((flow, json!({ "caught": null }))),
                Err(error) => {
                    let caught = error.to_catch_value();
                    let base = frame.scope.len();
                    frame
                        .scope
                        .push_constant_dynamic(error_name.clone(), to_dynamic(&caught));
                    let flow = self.exec_steps(run, frame, catch).await;
                    frame.scope.rewind(base);
                    Ok((flow?, json!({ "caught": caught })))
                }
            },
            StepKind::Throw {
                message,
                name,
                cause,
                status,
            } => {
                let message = self.render(message, run, frame, "`throw`").await?;
                let name = self.render(name, run, frame, "`throw`").await?;
                let cause = self.render(cause, run, frame, "`throw`").await?;
                let mut error =
                    WorkflowError::new(&display_text(&name), display_text(&message), "");
                error.cause = cause;
                error.status = *status;
                error.public = true;
                Err(error)
            }
            StepKind::Response {
                status,
                headers,
                body,
                keep_running,
            } => {
                let answer = self.answer(run, frame, status, headers, body).await?;
                record.input = json!({ "status": answer.status, "body": answer.body });
                if run.reply.is_none() || run.final_answer.is_some() {
                    return Err(WorkflowError::new(
                        "ResponseError",
                        "this API has already answered; a second `response` has no one to answer",
                        "",
                    ));
                }
                run.answered = Some(answer.status);
                let output = json!({ "status": answer.status });
                if !*keep_running {
                    // Sent when the run ends, which is now: nothing runs
                    // after a `response` that does not continue.
                    run.final_answer = Some(answer);
                    return Ok((Flow::Stop, output));
                }
                run.hand_over_records(self.store.as_ref());
                if let Some(reply) = run.reply.take() {
                    // The caller may have gone away; the run goes on regardless.
                    let _ = reply.send(ApiReply::Response(answer));
                }
                Ok((Flow::Next, output))
            }
            StepKind::Return { value } => {
                let value = self.render(value, run, frame, "`return`").await?;
                Ok((Flow::Return(value.clone()), value))
            }
            StepKind::Set { var, value } => {
                let value = self.render(value, run, frame, "`set`").await?;
                frame.set_var(var, &value);
                record.input = json!({ "var": var });
                Ok((Flow::Next, value))
            }
            StepKind::Log { level, message } => {
                let message = display_text(&self.render(message, run, frame, "`log`").await?);
                match level {
                    LogLevel::Debug => {
                        tracing::debug!(target: "paywire::workflow", run = %run.id, "{message}")
                    }
                    LogLevel::Info => {
                        tracing::info!(target: "paywire::workflow", run = %run.id, "{message}")
                    }
                    LogLevel::Warn => {
                        tracing::warn!(target: "paywire::workflow", run = %run.id, "{message}")
                    }
                    LogLevel::Error => {
                        tracing::error!(target: "paywire::workflow", run = %run.id, "{message}")
                    }
                }
                Ok((Flow::Next, Value::String(message)))
            }
            StepKind::Wait { milliseconds } => {
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
                Ok((Flow::Next, Value::Null))
            }
            StepKind::Call { function, input } => {
                let input = self.render(input, run, frame, "`with`").await?;
                record.input = input.clone();
                let output = self.call(run, frame, function, input).await?;
                Ok((Flow::Next, output))
            }
            StepKind::Start { workflow, input } => {
                let input = self.render(input, run, frame, "`with`").await?;
                record.input = input.clone();
                let Some(target) = self.project.workflows.get(workflow).cloned() else {
                    return Err(WorkflowError::new(
                        "StartError",
                        format!("there is no workflow `{workflow}`"),
                        "",
                    ));
                };
                let parameters = validate_input(&target.params, &input, "workflow", workflow)?;
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
                                retry_of: None,
                                trigger_event: None,
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
                Ok((
                    Flow::Next,
                    json!({ "workflow": workflow, "run_id": child_id }),
                ))
            }
        }
    }

    async fn answer(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        status: &Template,
        headers: &Template,
        body: &Template,
    ) -> Result<HttpAnswer, WorkflowError> {
        let status_value = self.render(status, run, frame, "`response.status`").await?;
        let status = status_value
            .as_u64()
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| {
                WorkflowError::new(
                    "ResponseError",
                    format!("`response.status` must be an HTTP status, got {status_value}"),
                    "",
                )
            })? as u16;
        let headers = match self
            .render(headers, run, frame, "`response.headers`")
            .await?
        {
            Value::Object(map) => map
                .into_iter()
                .map(|(k, v)| (k, display_text(&v)))
                .collect(),
            _ => Vec::new(),
        };
        let body = self.render(body, run, frame, "`response.body`").await?;
        Ok(HttpAnswer {
            status,
            headers,
            body,
        })
    }

    async fn call(
        &self,
        run: &mut Run,
        frame: &Frame,
        function: &str,
        input: Value,
    ) -> Result<Value, WorkflowError> {
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
        let parameters = validate_input(&target.params, &input, "function", function)?;
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
        match result? {
            Flow::Return(value) => Ok(value),
            Flow::Next | Flow::Stop => Ok(Value::Null),
        }
    }
}
