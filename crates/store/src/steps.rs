//! How a run's steps are stored, whichever the backend: a JSON array of
//! steps per hand-over of a run's records (see `RunRecords`), in the run's
//! row for the steps handed over with it and in a row of its own for each
//! later hand-over. Both backends write and read this one shape, so a step's
//! record means the same in either, and the queries that look inside it
//! (what a retry reuses) ask the same of both.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{StepRecord, StepStatus, StoreError};

/// A step as stored, one element of a JSON array of steps; its run is the
/// row's.
#[derive(Debug, Serialize)]
pub(crate) struct StoredStep<'a> {
    seq: u32,
    key: &'a str,
    step_id: Option<&'a str>,
    kind: &'a str,
    status: StepStatus,
    input: &'a Value,
    output: &'a Value,
    error: Option<&'a Value>,
    started_at: &'a str,
    duration_ms: f64,
}

/// A step as read back; see [`StoredStep`].
#[derive(Debug, Deserialize)]
pub(crate) struct LoadedStep {
    seq: u32,
    key: String,
    step_id: Option<String>,
    kind: String,
    status: StepStatus,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    output: Value,
    error: Option<Value>,
    started_at: String,
    duration_ms: f64,
}

/// `steps` in their stored shape, borrowing from them; empty when there are
/// none.
pub(crate) fn stored_steps(steps: &[StepRecord]) -> Vec<StoredStep<'_>> {
    steps
        .iter()
        .map(|step| StoredStep {
            seq: step.seq,
            key: &step.key,
            step_id: step.step_id.as_deref(),
            kind: &step.kind,
            status: step.status,
            input: &step.input,
            output: &step.output,
            error: step.error.as_ref(),
            started_at: &step.started_at,
            duration_ms: step.duration_ms,
        })
        .collect()
}

/// `steps` as the text of one JSON array, or nothing when there are none.
pub(crate) fn steps_json(steps: &[StepRecord]) -> Option<String> {
    if steps.is_empty() {
        return None;
    }
    // Serialising values that came from JSON cannot fail.
    serde_json::to_string(&stored_steps(steps)).ok()
}

/// Appends steps read back as [`LoadedStep`]s to `steps`, as records of the
/// run `run_id`.
pub(crate) fn extend_steps(run_id: &str, loaded: Vec<LoadedStep>, steps: &mut Vec<StepRecord>) {
    steps.extend(loaded.into_iter().map(|step| StepRecord {
        run_id: run_id.to_owned(),
        seq: step.seq,
        key: step.key,
        step_id: step.step_id,
        kind: step.kind,
        status: step.status,
        input: step.input,
        output: step.output,
        error: step.error,
        started_at: step.started_at,
        duration_ms: step.duration_ms,
    }));
}

/// Appends the steps of a stored JSON array, given as text, to `steps`.
pub(crate) fn load_steps(
    run_id: &str,
    text: &str,
    steps: &mut Vec<StepRecord>,
) -> Result<(), StoreError> {
    let loaded: Vec<LoadedStep> =
        serde_json::from_str(text).map_err(|e| unreadable_steps(run_id, e))?;
    extend_steps(run_id, loaded, steps);
    Ok(())
}

/// The error for a run whose stored steps cannot be read back.
pub(crate) fn unreadable_steps(run_id: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("the steps of run {run_id} are not readable: {e}"))
}
