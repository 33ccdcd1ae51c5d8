//! The end-of-run summary: one log line and the same numbers as CloudWatch metrics in
//! Embedded Metric Format (EMF).
//!
//! CloudWatch Logs extracts metrics from a log event whose message is a JSON object with an
//! `_aws` member that lists the metrics and a timestamp, as the EMF specification describes
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>).
//! Lambda sends the function's stdout to CloudWatch Logs, so printing the line is enough.

use super::report::RunReport;
use serde_json::{json, Map, Value};
use std::io::Write;

/// The CloudWatch namespace of the revalidation metrics.
pub const METRICS_NAMESPACE: &str = "S3Endpoints";

/// The dimension that every metric carries, so the numbers stay apart from other functions'.
const SERVICE_DIMENSION: &str = "Service";
const SERVICE_NAME: &str = "revalidate-endpoints";

/// Builds the EMF document for a finished run, timestamped `timestamp_ms` (Unix milliseconds).
pub fn emf_document(report: &RunReport, timestamp_ms: i64) -> Value {
    let counts = [
        ("Checked", report.checked),
        ("Healthy", report.healthy),
        ("Failing", report.failing),
        ("Errors", report.not_checked),
        ("Deferred", report.deferred),
        ("Transitions", report.transitions),
        ("EventsPending", report.events_pending),
    ];

    let mut definitions: Vec<Value> = counts
        .iter()
        .map(|(name, _)| json!({"Name": name, "Unit": "Count"}))
        .collect();
    definitions.push(json!({"Name": "Duration", "Unit": "Milliseconds"}));

    let mut document = Map::new();
    document.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [[SERVICE_DIMENSION]],
                "Metrics": definitions,
            }],
        }),
    );
    document.insert(SERVICE_DIMENSION.to_owned(), json!(SERVICE_NAME));
    for (name, value) in counts {
        document.insert(name.to_owned(), json!(value));
    }
    document.insert("Duration".to_owned(), json!(report.duration_ms));
    document.insert("run_id".to_owned(), json!(report.run_id));
    Value::Object(document)
}

/// Logs the summary line and prints the EMF line to stdout.
pub fn emit_summary(report: &RunReport, timestamp_ms: i64) {
    tracing::info!(
        run_id = %report.run_id,
        status = ?report.status,
        checked = report.checked,
        healthy = report.healthy,
        failing = report.failing,
        errors = report.not_checked,
        deferred = report.deferred,
        transitions = report.transitions,
        events_pending = report.events_pending,
        duration_ms = report.duration_ms,
        "revalidation run finished"
    );

    // One write of the whole line, so a concurrent log line cannot split it.
    let line = format!("{}\n", emf_document(report, timestamp_ms));
    if let Err(error) = std::io::stdout().lock().write_all(line.as_bytes()) {
        tracing::warn!(%error, "failed to print the metrics line");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::HealthState;
    use crate::revalidate::report::{RunStatus, Tally};

    fn report() -> RunReport {
        let mut tally = Tally::default();
        for _ in 0..180 {
            tally.record_result(HealthState::Healthy);
        }
        for _ in 0..20 {
            tally.record_result(HealthState::Failing);
        }
        tally.transitions = 3;
        RunReport::new("run-1", "aws.events", RunStatus::CycleComplete, tally, 4321)
    }

    #[test]
    fn emf_declares_namespace_dimension_and_metrics() {
        let document = emf_document(&report(), 1_767_225_600_000);
        let aws = &document["_aws"];
        assert_eq!(aws["Timestamp"], 1_767_225_600_000_i64);

        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(document["Service"], "revalidate-endpoints");

        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|metric| metric["Name"].as_str().unwrap())
            .collect();
        for name in ["Checked", "Healthy", "Failing", "Errors", "Duration"] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }

    #[test]
    fn emf_gives_every_metric_a_numeric_value() {
        let document = emf_document(&report(), 0);
        let metrics = document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for metric in metrics {
            let name = metric["Name"].as_str().unwrap();
            assert!(document[name].is_u64(), "{name} has no numeric value");
        }
        assert_eq!(document["Checked"], 200);
        assert_eq!(document["Healthy"], 180);
        assert_eq!(document["Failing"], 20);
        assert_eq!(document["Errors"], 0);
        assert_eq!(document["Duration"], 4321);
    }

    #[test]
    fn emf_units_are_counts_except_duration() {
        let document = emf_document(&report(), 0);
        let metrics = document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for metric in metrics {
            let expected = if metric["Name"] == "Duration" {
                "Milliseconds"
            } else {
                "Count"
            };
            assert_eq!(metric["Unit"], expected, "{metric}");
        }
    }

    #[test]
    fn emf_line_is_a_single_line() {
        let line = emf_document(&report(), 0).to_string();
        assert!(!line.contains('\n'));
    }
}
