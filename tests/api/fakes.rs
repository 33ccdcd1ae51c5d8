//! Test doubles of the connection test, the clock and the id source. The store has no
//! double, so every harness runs on a DynamoDB Local table.
//!
//! `ScriptedTester` replaces the AWS connection tester so that handler tests choose the
//! outcome and the delay of a test without AWS. The AWS tester itself runs against moto in
//! `tests/connection_test.rs` and `tests/api_aws.rs`. The clock and the id source make times
//! and endpoint ids predictable.

use async_trait::async_trait;
use endpoint_core::check::{
    CheckName, CheckResult, CheckStatus, ConnectionTester, TestOutcome, TestReport, TestRequest,
};
use endpoint_core::clock::{Clock, IdGenerator};
use endpoint_core::domain::EndpointId;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

/// A connection test that passes or fails as configured, after an optional delay, and counts
/// its runs.
#[derive(Default)]
pub struct ScriptedTester {
    pub fail: AtomicBool,
    pub delay_ms: AtomicU64,
    pub runs: AtomicUsize,
}

impl ScriptedTester {
    pub fn report(failed: bool) -> TestReport {
        let passed = |check| CheckResult {
            check,
            status: CheckStatus::Passed,
            duration_ms: 3,
            error_code: None,
            message: None,
            hint: None,
        };
        let mut checks = vec![passed(CheckName::Region)];
        if failed {
            checks.push(CheckResult {
                check: CheckName::AssumeRole,
                status: CheckStatus::Failed,
                duration_ms: 12,
                error_code: Some("AccessDenied".to_owned()),
                message: Some("the platform is not allowed to assume the role".to_owned()),
                hint: Some(
                    "add the platform principal and the External ID to the role's trust policy"
                        .to_owned(),
                ),
            });
        } else {
            checks.push(passed(CheckName::AssumeRole));
            checks.push(passed(CheckName::List));
            checks.push(passed(CheckName::Read));
        }
        TestReport {
            outcome: if failed {
                TestOutcome::Failed
            } else {
                TestOutcome::Passed
            },
            duration_ms: 20,
            checks,
        }
    }
}

#[async_trait]
impl ConnectionTester for ScriptedTester {
    async fn test(&self, _request: &TestRequest) -> TestReport {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let delay = self.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Self::report(self.fail.load(Ordering::SeqCst))
    }
}

/// A clock that advances one second per call, so that successive health writes are ordered.
pub struct SteppingClock {
    seconds: AtomicU64,
}

impl SteppingClock {
    pub fn starting_at(start: OffsetDateTime) -> Self {
        Self {
            seconds: AtomicU64::new(start.unix_timestamp() as u64),
        }
    }
}

impl Clock for SteppingClock {
    fn now(&self) -> OffsetDateTime {
        let seconds = self.seconds.fetch_add(1, Ordering::SeqCst);
        OffsetDateTime::from_unix_timestamp(seconds as i64).unwrap()
    }
}

/// Endpoint ids from ULIDs whose time part is the creation time and whose random part counts
/// up, so that ids are unique and ordered.
#[derive(Default)]
pub struct CountingIds {
    next: AtomicU64,
}

impl IdGenerator for CountingIds {
    fn endpoint_id(&self, now: OffsetDateTime) -> EndpointId {
        let millis = (now.unix_timestamp_nanos() / 1_000_000) as u64;
        let random = u128::from(self.next.fetch_add(1, Ordering::SeqCst));
        EndpointId::from_ulid(ulid::Ulid::from_parts(millis, random))
    }
}
