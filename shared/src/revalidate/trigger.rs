//! The invocation events that start a revalidation run.
//!
//! Three shapes reach the function:
//! - an EventBridge rule's scheduled event: `source` `aws.events`, `detail-type`
//!   `Scheduled Event` and `detail` `{}`;
//! - an EventBridge Scheduler event: the same envelope with `source` `aws.scheduler`, whose
//!   `detail` is the JSON text `"{}"` rather than an object;
//! - a rule or schedule with a custom input, which delivers [`RunInput`] as the whole event,
//!   for example `{"max_duration_seconds": 600}`.
//!
//! An envelope's `detail` may also carry a [`RunInput`], so a Scheduler target with a custom
//! detail works the same way.

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Maximum run duration that a custom input may request, in seconds: Lambda's maximum timeout.
pub const MAX_RUN_SECONDS: u64 = 900;

const SCHEDULED_EVENT_DETAIL_TYPE: &str = "Scheduled Event";
const SCHEDULE_SOURCES: [&str; 2] = ["aws.events", "aws.scheduler"];

/// The options a custom input can set. Every field is optional, so `{}` is a plain run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// Ends the run this many seconds after it starts, even if Lambda would allow longer.
    #[serde(default)]
    pub max_duration_seconds: Option<u64>,
    /// Drops the checkpoint of an unfinished cycle and starts a new cycle from the first
    /// endpoint, instead of continuing where the previous run stopped.
    #[serde(default)]
    pub restart: bool,
}

/// A validated request to run, whatever shape the event had.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    pub max_duration: Option<Duration>,
    pub restart: bool,
    /// `aws.events`, `aws.scheduler` or `custom` for logs and the run result.
    pub source: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TriggerError {
    #[error("unsupported event: expected an EventBridge scheduled event or a custom input object, got {0}")]
    NotAnObject(&'static str),

    #[error("unsupported event source {event_source:?} with detail-type {detail_type:?}: expected source \"aws.events\" or \"aws.scheduler\" with detail-type \"Scheduled Event\"")]
    UnsupportedEnvelope {
        event_source: String,
        detail_type: String,
    },

    #[error("invalid event detail: {0}; send an empty object or the fields max_duration_seconds and restart")]
    InvalidDetail(String),

    #[error("invalid custom input: {0}; the supported fields are max_duration_seconds (1 to 900) and restart (boolean)")]
    InvalidInput(String),

    #[error("max_duration_seconds must be 1 to {MAX_RUN_SECONDS}, got {0}")]
    DurationOutOfRange(u64),
}

/// Parses an invocation event into a run request. Any other event is rejected with a message
/// that names the accepted shapes.
pub fn parse_trigger(event: &Value) -> Result<RunRequest, TriggerError> {
    let Value::Object(fields) = event else {
        return Err(TriggerError::NotAnObject(json_kind(event)));
    };

    if fields.contains_key("detail-type") || fields.contains_key("source") {
        return parse_envelope(event);
    }

    let input = RunInput::deserialize(event)
        .map_err(|error| TriggerError::InvalidInput(error.to_string()))?;
    to_request(input, "custom")
}

fn parse_envelope(event: &Value) -> Result<RunRequest, TriggerError> {
    let source = string_field(event, "source");
    let detail_type = string_field(event, "detail-type");
    let known_source = SCHEDULE_SOURCES.contains(&source.as_str());
    if !known_source || detail_type != SCHEDULED_EVENT_DETAIL_TYPE {
        return Err(TriggerError::UnsupportedEnvelope {
            event_source: source,
            detail_type,
        });
    }

    let input = parse_detail(event.get("detail"))?;
    to_request(input, &source)
}

/// Reads `detail` as a [`RunInput`], accepting an object, JSON text of an object (as
/// EventBridge Scheduler sends it), or nothing at all.
fn parse_detail(detail: Option<&Value>) -> Result<RunInput, TriggerError> {
    let invalid = |error: serde_json::Error| TriggerError::InvalidDetail(error.to_string());
    match detail {
        None | Some(Value::Null) => Ok(RunInput::default()),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(RunInput::default()),
        Some(Value::String(text)) => serde_json::from_str(text).map_err(invalid),
        Some(object @ Value::Object(_)) => RunInput::deserialize(object).map_err(invalid),
        Some(other) => Err(TriggerError::InvalidDetail(format!(
            "detail is {}, not an object",
            json_kind(other)
        ))),
    }
}

fn to_request(input: RunInput, source: &str) -> Result<RunRequest, TriggerError> {
    let max_duration = match input.max_duration_seconds {
        None => None,
        Some(seconds @ 1..=MAX_RUN_SECONDS) => Some(Duration::from_secs(seconds)),
        Some(seconds) => return Err(TriggerError::DurationOutOfRange(seconds)),
    };
    Ok(RunRequest {
        max_duration,
        restart: input.restart,
        source: source.to_owned(),
    })
}

fn string_field(event: &Value, name: &str) -> String {
    event
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scheduled_rule_event(detail: Value) -> Value {
        json!({
            "version": "0",
            "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/revalidate"],
            "detail": detail
        })
    }

    #[test]
    fn trigger_accepts_scheduled_rule_event() {
        let request = parse_trigger(&scheduled_rule_event(json!({}))).unwrap();
        assert_eq!(request.source, "aws.events");
        assert_eq!(request.max_duration, None);
        assert!(!request.restart);
    }

    #[test]
    fn trigger_accepts_scheduler_detail_as_text() {
        let mut event = scheduled_rule_event(json!("{}"));
        event["source"] = json!("aws.scheduler");
        let request = parse_trigger(&event).unwrap();
        assert_eq!(request.source, "aws.scheduler");
        assert_eq!(request.max_duration, None);
    }

    #[test]
    fn trigger_reads_options_from_scheduler_detail() {
        let mut event = scheduled_rule_event(json!("{\"max_duration_seconds\": 120}"));
        event["source"] = json!("aws.scheduler");
        let request = parse_trigger(&event).unwrap();
        assert_eq!(request.max_duration, Some(Duration::from_secs(120)));
    }

    #[test]
    fn trigger_accepts_custom_input() {
        let request =
            parse_trigger(&json!({"max_duration_seconds": 600, "restart": true})).unwrap();
        assert_eq!(request.source, "custom");
        assert_eq!(request.max_duration, Some(Duration::from_secs(600)));
        assert!(request.restart);
    }

    #[test]
    fn trigger_accepts_empty_custom_input() {
        let request = parse_trigger(&json!({})).unwrap();
        assert_eq!(request.max_duration, None);
    }

    #[test]
    fn trigger_rejects_unknown_custom_field() {
        let error = parse_trigger(&json!({"max_duration": 600})).unwrap_err();
        assert!(matches!(error, TriggerError::InvalidInput(_)), "{error:?}");
        assert!(error.to_string().contains("max_duration_seconds"));
    }

    #[test]
    fn trigger_rejects_duration_out_of_range() {
        for seconds in [0, 901] {
            let error = parse_trigger(&json!({ "max_duration_seconds": seconds })).unwrap_err();
            assert_eq!(error, TriggerError::DurationOutOfRange(seconds));
        }
    }

    #[test]
    fn trigger_rejects_other_event_sources() {
        let mut event = scheduled_rule_event(json!({}));
        event["source"] = json!("aws.s3");
        event["detail-type"] = json!("Object Created");
        let error = parse_trigger(&event).unwrap_err();
        assert!(matches!(error, TriggerError::UnsupportedEnvelope { .. }));
        assert!(error.to_string().contains("aws.s3"));
    }

    #[test]
    fn trigger_rejects_non_object_events() {
        for event in [json!(null), json!([]), json!("run"), json!(3)] {
            let error = parse_trigger(&event).unwrap_err();
            assert!(matches!(error, TriggerError::NotAnObject(_)), "{event}");
        }
    }

    #[test]
    fn trigger_rejects_invalid_detail() {
        for detail in [json!("not json"), json!([1]), json!({"restart": "yes"})] {
            let error = parse_trigger(&scheduled_rule_event(detail.clone())).unwrap_err();
            assert!(
                matches!(error, TriggerError::InvalidDetail(_)),
                "{detail}: {error:?}"
            );
        }
    }
}
