//! The connection test: assume the customer's role and prove the access the mode needs, one
//! check at a time, saying which check failed and how to fix it.

mod cache;
mod deadline;
mod failure;
mod hints;
mod rate_limit;
mod runner;
mod session;
mod steps;
mod tester;

pub use cache::{CredentialsCache, DEFAULT_REFRESH_BEFORE_EXPIRY};
pub use rate_limit::{RateLimitExceeded, StsRateLimiter};
pub use tester::{AwsConnectionTester, TesterOptions};

use crate::domain::{ConnectionSpec, EndpointId, ExternalId, HealthFailure, TenantId};
use async_trait::async_trait;
use serde::Serialize;
use std::time::Duration;

/// Deadline of a test run inside an API request. It keeps the whole request well under API
/// Gateway's 29-second integration timeout, with time left for the handler's own work.
pub const API_TEST_DEADLINE: Duration = Duration::from_secs(20);

/// The `error_code` values the tester reports. A failure that fits none of them carries the
/// error code AWS returned.
pub mod error_code {
    /// The role's policies or the bucket policy deny the action.
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// KMS denied the use of the key that encrypts the objects.
    pub const KMS_ACCESS_DENIED: &str = "KmsAccessDenied";
    pub const NO_SUCH_BUCKET: &str = "NoSuchBucket";
    /// The bucket is in another region than the endpoint names.
    pub const WRONG_REGION: &str = "WrongRegion";
    /// STS is not enabled in the endpoint's region for the role's account.
    pub const REGION_DISABLED: &str = "RegionDisabled";
    /// AWS kept throttling the requests after the retries.
    pub const THROTTLING: &str = "Throttling";
    /// A call, or the whole test, ran out of time.
    pub const TIMEOUT: &str = "Timeout";
    /// The connection to AWS could not be opened or broke.
    pub const CONNECTION_ERROR: &str = "ConnectionError";
    /// AWS returned a server error (5xx) after the retries.
    pub const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";
    /// AWS returned a response that could not be parsed.
    pub const INVALID_RESPONSE: &str = "InvalidResponse";
    /// AWS returned an error status but no error code.
    pub const UNEXPECTED_RESPONSE: &str = "UnexpectedResponse";
    /// AWS rejected the credentials themselves (expired, malformed or unknown).
    pub const INVALID_CREDENTIALS: &str = "InvalidCredentials";
    /// The request could not be built or sent, which is a fault of the platform.
    pub const INTERNAL_ERROR: &str = "InternalError";
    /// The test object's key already existed, so the conditional put did not write it.
    pub const TEST_OBJECT_EXISTS: &str = "TestObjectExists";
    /// The test object read back with other bytes than were written.
    pub const READ_BACK_MISMATCH: &str = "ReadBackMismatch";
    /// The test object still exists after DeleteObject.
    pub const OBJECT_STILL_EXISTS: &str = "ObjectStillExists";
    /// The check was skipped because the test's deadline had passed.
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
}

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

    pub fn check(&self, name: CheckName) -> Option<&CheckResult> {
        self.checks.iter().find(|check| check.check == name)
    }

    /// Returns the first failed check as a health failure, or `None` when the test passed. A
    /// test whose deadline passed between two checks has no failed check, so the first check
    /// that did not pass is returned instead.
    pub fn failure(&self) -> Option<HealthFailure> {
        let first_failed = self
            .checks
            .iter()
            .find(|check| check.status == CheckStatus::Failed);
        let first_not_passed = || {
            self.checks
                .iter()
                .find(|check| check.status != CheckStatus::Passed)
        };
        first_failed
            .or_else(first_not_passed)
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

    /// Returns the AWS account that the tester assumes roles from, or `None` when it has none
    /// (a tester with scripted results). Endpoints must not name a role in that account.
    fn platform_account_id(&self) -> Option<&str> {
        None
    }
}
