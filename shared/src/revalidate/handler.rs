//! The Lambda handler entry: parse the event, run, print the summary, return the report.

use super::budget::Budget;
use super::metrics::emit_summary;
use super::report::RunReport;
use super::run::{Revalidator, RunError};
use super::trigger::{parse_trigger, TriggerError};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    InvalidEvent(#[from] TriggerError),

    #[error(transparent)]
    Run(#[from] RunError),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::InvalidEvent(_) => "InvalidEvent",
            HandlerError::Run(RunError::Checkpoint(_)) => "CheckpointUnavailable",
        };
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: message,
        }
    }
}

/// Handles one invocation. An unsupported event is rejected before anything runs.
pub async fn handle(
    revalidator: &Revalidator,
    event: LambdaEvent<Value>,
) -> Result<RunReport, HandlerError> {
    let run_id = event.context.request_id.clone();
    let request = parse_trigger(&event.payload).inspect_err(|error| {
        tracing::error!(run_id, %error, "rejected the invocation event");
    })?;

    let remaining = Budget::lambda_remaining(event.context.deadline(), SystemTime::now());
    tracing::info!(run_id, trigger = %request.source, remaining_ms = remaining.map(|r| r.as_millis() as u64), "revalidation run started");

    let report = revalidator.run(&request, &run_id, remaining).await.inspect_err(|error| {
        tracing::error!(run_id, %error, source = ?std::error::Error::source(error), "revalidation run failed");
    })?;

    emit_summary(&report, unix_millis(SystemTime::now()));
    Ok(report)
}

fn unix_millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
