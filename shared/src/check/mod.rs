//! The connection test: assume the customer's role and prove the access the mode needs, one
//! check at a time, saying which check failed and how to fix it.

use crate::domain::{ConnectionSpec, EndpointId, ExternalId, HealthFailure, TenantId};
use async_trait::async_trait;
use serde::Serialize;
use std::time::Duration;

/// The checks, in the order they run. A check is skipped when one it depends on failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// The bucket exists and is in the endpoint's region.
    Region,
    /// STS AssumeRole with the tenant's External ID succeeds.
    AssumeRole,
    /// ListObjectsV2 under the prefix is allowed.
    List,
    /// GetObject under the prefix is allowed.
    Read,
    /// PutObject of a new test object under the prefix is allowed (read_write only).
    Write,
    /// The test object reads back with the bytes written (read_write only).
    ReadBack,
    /// DeleteObject removes the test object and it is gone afterwards (read_write only).
    Delete,
}

impl CheckName {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Region => "region",
            Self::AssumeRole => "assume_role",
            Self::List => "list",
            Self::Read => "read",
            Self::Write => "write",
            Self::ReadBack => "read_back",
            Self::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
    Skipped,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub check: CheckName,
    pub status: CheckStatus,
    pub duration_ms: u64,
    /// A stable code for the failure, such as `AccessDenied` or `WrongRegion`.
    pub error_code: Option<String>,
    pub message: Option<String>,
    /// What the customer should change to make the check pass.
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Passed,
    Failed,
}

/// The result of a whole connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestReport {
    pub outcome: TestOutcome,
    pub duration_ms: u64,
    pub checks: Vec<CheckResult>,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.outcome == TestOutcome::Passed
    }

    /// Returns the first failed check as a health failure, or `None` when the test passed.
    pub fn failure(&self) -> Option<HealthFailure> {
        self.checks
            .iter()
            .find(|check| check.status == CheckStatus::Failed)
            .map(|check| HealthFailure {
                check: check.check.as_str().to_owned(),
                error_code: check.error_code.clone(),
                message: check.message.clone().unwrap_or_default(),
            })
    }
}

/// What one connection test needs.
#[derive(Debug, Clone)]
pub struct TestRequest {
    pub tenant: TenantId,
    /// The saved endpoint being tested, or `None` for an unsaved configuration.
    pub endpoint_id: Option<EndpointId>,
    pub spec: ConnectionSpec,
    pub external_id: ExternalId,
    /// The whole test, retries included, ends within this time.
    pub deadline: Duration,
}

#[async_trait]
pub trait ConnectionTester: Send + Sync {
    /// Runs every check that applies to the mode. Failures are reported in the result, never
    /// returned as errors.
    async fn test(&self, request: &TestRequest) -> TestReport;
}
