//! The steps whose work is a value they put somewhere: `set` into the run's
//! variables, `log` into the server's log, `response` to the API's caller.

use paywire_expr::Template;
use paywire_model::LogLevel;
use paywire_store::StepRecord;
use serde_json::{Value, json};

use super::state::{Done, Flow, Frame, Run, display_text};
use super::{ApiReply, HttpAnswer, Runner, WorkflowError};

impl Runner {
    pub(super) async fn exec_set(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        var: &str,
        value: &Template,
    ) -> Result<Done, WorkflowError> {
        let value = self.render(value, run, frame, "`set`").await?;
        frame.set_var(var, &value);
        record.input = json!({ "var": var });
        Ok(Done::next(value))
    }

    pub(super) async fn exec_log(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        level: LogLevel,
        message: &Template,
    ) -> Result<Done, WorkflowError> {
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
        Ok(Done::next(Value::String(message)))
    }

    /// A `response`: the answer is sent when the run ends, or at once, the
    /// run's records handed over first, when the run goes on after it.
    // An answer is three templates, rendered one by one, on top of what
    // every kind's function takes.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn exec_response(
        &self,
        run: &mut Run,
        frame: &mut Frame,
        record: &mut StepRecord,
        status: &Template,
        headers: &Template,
        body: &Template,
        keep_running: bool,
    ) -> Result<Done, WorkflowError> {
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
        if !keep_running {
            // Sent when the run ends, which is now: nothing runs after a
            // `response` that does not continue.
            run.final_answer = Some(answer);
            return Ok(Done::Ran(Flow::Stop, output));
        }
        run.hand_over_records(self.store.as_ref());
        if let Some(reply) = run.reply.take() {
            // The caller may have gone away; the run goes on regardless.
            let _ = reply.send(ApiReply::Response(answer));
        }
        Ok(Done::next(output))
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
}
