//! The result of a run: counts, the reasons endpoints could not be checked, and how the run
//! ended. It is the Lambda function's return value.

use crate::domain::{EndpointId, HealthState, TenantId};
use serde::Serialize;
use std::collections::BTreeMap;

/// Maximum number of example endpoints kept per error reason, so that the result stays small
/// during a large outage.
const MAX_EXAMPLES_PER_REASON: usize = 5;

/// The reason an endpoint could not be checked in this run. Each one leaves its stored health as it
/// was, and the next cycle tries the endpoint again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    /// The stored health could not be read, so the new health could not be computed.
    HealthReadFailed,
    /// The connection test did not return within its timeout plus a grace period.
    TestTimedOut,
    /// A check failed for a reason outside the endpoint's configuration, such as throttling,
    /// a timeout or a connection error.
    TestInconclusive,
    /// The store rejected or could not take the health write.
    HealthWriteFailed,
    /// Other writers kept changing the stored health between read and write.
    HealthWriteContended,
}

/// One endpoint that could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorExample {
    pub tenant: TenantId,
    pub endpoint_id: EndpointId,
    pub message: String,
}

/// The endpoints that could not be checked for one reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorGroup {
    pub reason: ErrorReason,
    pub count: u64,
    pub examples: Vec<ErrorExample>,
}

/// A failure that stopped a scan segment or the checkpoint, with no single endpoint to blame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunIssue {
    pub segment: Option<u32>,
    pub message: String,
}

/// The outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// The run visited the last endpoint of the cycle; the next run starts a new cycle.
    CycleComplete,
    /// The run stopped before the end of the cycle; the next run continues from the
    /// checkpoint.
    CycleContinues,
    /// Another run has claimed the checkpoint, so this one checked nothing.
    SkippedBusy,
}

/// Counts gathered while the run goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub checked: u64,
    pub healthy: u64,
    pub failing: u64,
    /// Results dropped because a newer result was already stored.
    pub superseded: u64,
    /// Endpoints left for the next run because the run's deadline came first.
    pub deferred: u64,
    pub transitions: u64,
    pub events_published: u64,
    /// Events left in the store for a later run because EventBridge did not accept them.
    pub events_pending: u64,
    errors: BTreeMap<ErrorReason, ErrorGroup>,
    pub issues: Vec<RunIssue>,
}

impl Tally {
    pub fn record_result(&mut self, state: HealthState) {
        self.checked += 1;
        match state {
            HealthState::Healthy => self.healthy += 1,
            HealthState::Failing => self.failing += 1,
        }
    }

    pub fn record_error(&mut self, reason: ErrorReason, example: ErrorExample) {
        let group = self.errors.entry(reason).or_insert_with(|| ErrorGroup {
            reason,
            count: 0,
            examples: Vec::new(),
        });
        group.count += 1;
        if group.examples.len() < MAX_EXAMPLES_PER_REASON {
            group.examples.push(example);
        }
    }

    /// Returns the number of endpoints that could not be checked.
    pub fn not_checked(&self) -> u64 {
        self.errors.values().map(|group| group.count).sum()
    }

    pub fn error_groups(&self) -> Vec<ErrorGroup> {
        self.errors.values().cloned().collect()
    }
}

/// The run result returned by the Lambda function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub run_id: String,
    /// The invocation's source: `aws.events`, `aws.scheduler` or `custom`.
    pub trigger: String,
    pub status: RunStatus,
    /// Endpoints tested with a result stored or superseded.
    pub checked: u64,
    pub healthy: u64,
    pub failing: u64,
    /// Endpoints that could not be checked, with their reasons in `errors`.
    pub not_checked: u64,
    pub errors: Vec<ErrorGroup>,
    pub superseded: u64,
    pub deferred: u64,
    pub transitions: u64,
    pub events_published: u64,
    pub events_pending: u64,
    pub issues: Vec<RunIssue>,
    pub duration_ms: u64,
}

impl RunReport {
    pub fn new(
        run_id: &str,
        trigger: &str,
        status: RunStatus,
        tally: Tally,
        duration_ms: u64,
    ) -> Self {
        Self {
            run_id: run_id.to_owned(),
            trigger: trigger.to_owned(),
            status,
            checked: tally.checked,
            healthy: tally.healthy,
            failing: tally.failing,
            not_checked: tally.not_checked(),
            errors: tally.error_groups(),
            superseded: tally.superseded,
            deferred: tally.deferred,
            transitions: tally.transitions,
            events_published: tally.events_published,
            events_pending: tally.events_pending,
            issues: tally.issues,
            duration_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ulid::Ulid;

    fn example(n: u64) -> ErrorExample {
        ErrorExample {
            tenant: TenantId::parse("acme").unwrap(),
            endpoint_id: EndpointId::from_ulid(Ulid::from_parts(n, 1)),
            message: "store unavailable".to_owned(),
        }
    }

    #[test]
    fn tally_counts_results_by_state() {
        let mut tally = Tally::default();
        tally.record_result(HealthState::Healthy);
        tally.record_result(HealthState::Failing);
        tally.record_result(HealthState::Healthy);
        assert_eq!(tally.checked, 3);
        assert_eq!(tally.healthy, 2);
        assert_eq!(tally.failing, 1);
    }

    #[test]
    fn tally_groups_errors_and_caps_examples() {
        let mut tally = Tally::default();
        for n in 0..8 {
            tally.record_error(ErrorReason::HealthWriteFailed, example(n));
        }
        tally.record_error(ErrorReason::TestTimedOut, example(9));
        assert_eq!(tally.not_checked(), 9);

        let groups = tally.error_groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].reason, ErrorReason::TestTimedOut);
        assert_eq!(groups[1].count, 8);
        assert_eq!(groups[1].examples.len(), MAX_EXAMPLES_PER_REASON);
    }

    #[test]
    fn report_serializes_reasons_in_snake_case() {
        let mut tally = Tally::default();
        tally.record_error(ErrorReason::HealthReadFailed, example(1));
        let report = RunReport::new("run-1", "aws.events", RunStatus::CycleContinues, tally, 5);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "cycle_continues");
        assert_eq!(json["not_checked"], 1);
        assert_eq!(json["errors"][0]["reason"], "health_read_failed");
        assert_eq!(json["errors"][0]["examples"][0]["tenant"], "acme");
    }
}
