//! The walk through the checks: which run for a mode, which are skipped after a failure, and
//! how the test's deadline cuts the walk short.

use super::deadline::Deadline;
use super::error_code;
use super::failure::CheckFailure;
use super::{CheckName, CheckResult, CheckStatus, TestOutcome, TestReport};
use crate::domain::AccessMode;
use async_trait::async_trait;
use std::time::Duration;
use tokio::time::Instant;

/// Returns the checks that apply to `mode`, in the order they run.
pub(crate) fn plan(mode: AccessMode) -> Vec<CheckName> {
    let mut checks = vec![
        CheckName::Region,
        CheckName::AssumeRole,
        CheckName::List,
        CheckName::Read,
    ];
    if mode.can_write() {
        checks.extend([CheckName::Write, CheckName::ReadBack, CheckName::Delete]);
    }
    checks
}

/// Returns the checks that must pass before `check` can run.
pub(crate) fn dependencies(check: CheckName) -> &'static [CheckName] {
    match check {
        CheckName::Region => &[],
        // The region check finds a missing bucket or a wrong region, which the customer fixes by
        // creating a new endpoint, so the role is not worth testing against this one.
        CheckName::AssumeRole => &[CheckName::Region],
        CheckName::List => &[CheckName::AssumeRole],
        // Reading a probe key proves GetObject only when ListBucket is allowed, because without
        // it S3 returns 403 for a missing key whatever the GetObject permission.
        CheckName::Read => &[CheckName::List],
        CheckName::Write => &[CheckName::AssumeRole],
        CheckName::ReadBack => &[CheckName::Write, CheckName::Read],
        // Delete needs only the written object, so the test cleans up even when the read-back
        // failed.
        CheckName::Delete => &[CheckName::Write],
    }
}

/// One function per check, run by [`run_checks`].
#[async_trait]
pub(crate) trait CheckSteps: Send {
    /// Runs `check` and returns the message of a passed check or the failure.
    async fn run(&mut self, check: CheckName) -> Result<String, CheckFailure>;

    /// Returns a sentence to add to the message of `check` when the deadline skips it, such as
    /// the key of a test object left behind.
    fn deadline_note(&self, _check: CheckName) -> Option<String> {
        None
    }
}

/// Runs the checks of `plan` in order, skipping each check whose dependencies did not pass and
/// every check once the deadline has passed. Returns within the deadline.
pub(crate) async fn run_checks(
    steps: &mut dyn CheckSteps,
    plan: &[CheckName],
    deadline: Deadline,
) -> TestReport {
    let mut results: Vec<CheckResult> = Vec::with_capacity(plan.len());
    for &check in plan {
        let result = run_one(steps, check, &results, deadline).await;
        log_result(&result);
        results.push(result);
    }

    let all_passed = results
        .iter()
        .all(|result| result.status == CheckStatus::Passed);
    TestReport {
        outcome: if all_passed {
            TestOutcome::Passed
        } else {
            TestOutcome::Failed
        },
        duration_ms: millis(deadline.elapsed()),
        checks: results,
    }
}

async fn run_one(
    steps: &mut dyn CheckSteps,
    check: CheckName,
    earlier: &[CheckResult],
    deadline: Deadline,
) -> CheckResult {
    if let Some(unmet) = unmet_dependency(check, earlier) {
        let message = format!("skipped because the {} check did not pass", unmet.as_str());
        return skipped(check, None, message);
    }

    let total_ms = deadline.total().as_millis();
    if deadline.is_expired() {
        let mut message = format!("skipped because the test's deadline of {total_ms} ms passed");
        if let Some(note) = steps.deadline_note(check) {
            message = format!("{message}; {note}");
        }
        return skipped(check, Some(error_code::DEADLINE_EXCEEDED), message);
    }

    let started = Instant::now();
    let outcome = tokio::time::timeout(deadline.remaining(), steps.run(check)).await;
    let duration = started.elapsed();
    match outcome {
        Ok(Ok(message)) => finished(check, CheckStatus::Passed, duration, None, message, None),
        Ok(Err(failure)) => finished(
            check,
            CheckStatus::Failed,
            duration,
            Some(failure.code),
            failure.message,
            failure.hint,
        ),
        Err(_) => finished(
            check,
            CheckStatus::Failed,
            duration,
            Some(error_code::TIMEOUT.to_owned()),
            format!("the check did not finish within the test's deadline of {total_ms} ms"),
            None,
        ),
    }
}

fn unmet_dependency(check: CheckName, earlier: &[CheckResult]) -> Option<CheckName> {
    dependencies(check).iter().copied().find(|dependency| {
        earlier
            .iter()
            .find(|result| result.check == *dependency)
            .is_some_and(|result| result.status != CheckStatus::Passed)
    })
}

fn skipped(check: CheckName, code: Option<&str>, message: String) -> CheckResult {
    CheckResult {
        check,
        status: CheckStatus::Skipped,
        duration_ms: 0,
        error_code: code.map(str::to_owned),
        message: Some(message),
        hint: None,
    }
}

fn finished(
    check: CheckName,
    status: CheckStatus,
    duration: Duration,
    error_code: Option<String>,
    message: String,
    hint: Option<String>,
) -> CheckResult {
    CheckResult {
        check,
        status,
        duration_ms: millis(duration),
        error_code,
        message: Some(message),
        hint,
    }
}

fn log_result(result: &CheckResult) {
    let check = result.check.as_str();
    let error_code = result.error_code.as_deref().unwrap_or("");
    let message = result.message.as_deref().unwrap_or("");
    match result.status {
        CheckStatus::Passed => tracing::info!(
            check,
            duration_ms = result.duration_ms,
            message,
            "connection check passed"
        ),
        CheckStatus::Failed => tracing::warn!(
            check,
            duration_ms = result.duration_ms,
            error_code,
            message,
            "connection check failed"
        ),
        CheckStatus::Skipped => {
            tracing::info!(check, error_code, message, "connection check skipped")
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Steps whose outcome per check is fixed in advance; a missing entry passes.
    #[derive(Default)]
    struct ScriptedSteps {
        failures: HashMap<CheckName, &'static str>,
        delays: HashMap<CheckName, Duration>,
        ran: Vec<CheckName>,
    }

    #[async_trait]
    impl CheckSteps for ScriptedSteps {
        async fn run(&mut self, check: CheckName) -> Result<String, CheckFailure> {
            self.ran.push(check);
            if let Some(delay) = self.delays.get(&check) {
                tokio::time::sleep(*delay).await;
            }
            match self.failures.get(&check) {
                Some(code) => Err(CheckFailure::new(code, "failed", None)),
                None => Ok("ok".to_owned()),
            }
        }

        fn deadline_note(&self, check: CheckName) -> Option<String> {
            (check == CheckName::Delete).then(|| "test object left behind".to_owned())
        }
    }

    fn status_of(report: &TestReport, check: CheckName) -> CheckStatus {
        report.check(check).unwrap().status
    }

    async fn run(steps: &mut ScriptedSteps, mode: AccessMode, deadline: Duration) -> TestReport {
        run_checks(steps, &plan(mode), Deadline::after(deadline)).await
    }

    #[test]
    fn plan_adds_write_checks_only_for_read_write() {
        assert_eq!(plan(AccessMode::ReadOnly).len(), 4);
        assert_eq!(
            plan(AccessMode::ReadWrite)[4..],
            [CheckName::Write, CheckName::ReadBack, CheckName::Delete]
        );
    }

    #[test]
    fn plan_runs_dependencies_first() {
        let checks = plan(AccessMode::ReadWrite);
        for (index, check) in checks.iter().enumerate() {
            for dependency in dependencies(*check) {
                let position = checks.iter().position(|c| c == dependency).unwrap();
                assert!(position < index, "{check:?} runs before {dependency:?}");
            }
        }
    }

    #[tokio::test]
    async fn runner_passes_when_every_check_passes() {
        let mut steps = ScriptedSteps::default();
        let report = run(&mut steps, AccessMode::ReadWrite, Duration::from_secs(5)).await;
        assert!(report.passed());
        assert_eq!(report.checks.len(), 7);
        assert_eq!(steps.ran.len(), 7);
    }

    #[tokio::test]
    async fn runner_skips_dependents_of_a_failed_check() {
        let mut steps = ScriptedSteps::default();
        steps.failures.insert(CheckName::AssumeRole, "AccessDenied");
        let report = run(&mut steps, AccessMode::ReadWrite, Duration::from_secs(5)).await;
        assert!(!report.passed());
        assert_eq!(steps.ran, [CheckName::Region, CheckName::AssumeRole]);
        assert_eq!(
            status_of(&report, CheckName::AssumeRole),
            CheckStatus::Failed
        );
        for check in [CheckName::List, CheckName::Write, CheckName::Delete] {
            assert_eq!(status_of(&report, check), CheckStatus::Skipped, "{check:?}");
        }
        let list = report.check(CheckName::List).unwrap();
        assert!(list.message.as_deref().unwrap().contains("assume_role"));
        assert_eq!(list.error_code, None);
    }

    #[tokio::test]
    async fn runner_deletes_after_failed_read_back() {
        let mut steps = ScriptedSteps::default();
        steps
            .failures
            .insert(CheckName::ReadBack, "ReadBackMismatch");
        let report = run(&mut steps, AccessMode::ReadWrite, Duration::from_secs(5)).await;
        assert_eq!(status_of(&report, CheckName::Delete), CheckStatus::Passed);
        assert_eq!(report.failure().unwrap().check, "read_back");
    }

    #[tokio::test]
    async fn runner_writes_even_when_list_fails() {
        let mut steps = ScriptedSteps::default();
        steps.failures.insert(CheckName::List, "AccessDenied");
        let report = run(&mut steps, AccessMode::ReadWrite, Duration::from_secs(5)).await;
        assert_eq!(status_of(&report, CheckName::Read), CheckStatus::Skipped);
        assert_eq!(status_of(&report, CheckName::Write), CheckStatus::Passed);
        assert_eq!(
            status_of(&report, CheckName::ReadBack),
            CheckStatus::Skipped
        );
        assert_eq!(status_of(&report, CheckName::Delete), CheckStatus::Passed);
    }

    #[tokio::test]
    async fn runner_times_out_slow_check() {
        let mut steps = ScriptedSteps::default();
        steps
            .delays
            .insert(CheckName::Write, Duration::from_secs(30));
        let started = Instant::now();
        let report = run(
            &mut steps,
            AccessMode::ReadWrite,
            Duration::from_millis(300),
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(1));
        let write = report.check(CheckName::Write).unwrap();
        assert_eq!(write.status, CheckStatus::Failed);
        assert_eq!(write.error_code.as_deref(), Some("Timeout"));
        assert_eq!(
            status_of(&report, CheckName::ReadBack),
            CheckStatus::Skipped
        );
        assert_eq!(status_of(&report, CheckName::Delete), CheckStatus::Skipped);
    }

    #[tokio::test]
    async fn runner_skips_checks_once_the_deadline_passed() {
        let mut steps = ScriptedSteps::default();
        steps
            .delays
            .insert(CheckName::Read, Duration::from_millis(250));
        // Write and read-back do not depend on read, so the deadline is what skips them.
        steps
            .delays
            .insert(CheckName::Write, Duration::from_millis(10));
        let report = run(
            &mut steps,
            AccessMode::ReadWrite,
            Duration::from_millis(200),
        )
        .await;
        assert!(!report.passed());
        let write = report.check(CheckName::Write).unwrap();
        assert_eq!(write.status, CheckStatus::Skipped);
        assert_eq!(write.error_code.as_deref(), Some("DeadlineExceeded"));
        assert!(write.message.as_deref().unwrap().contains("200 ms"));
    }

    #[tokio::test]
    async fn runner_reports_left_behind_object() {
        let mut steps = ScriptedSteps::default();
        steps
            .delays
            .insert(CheckName::ReadBack, Duration::from_millis(150));
        let report = run(
            &mut steps,
            AccessMode::ReadWrite,
            Duration::from_millis(100),
        )
        .await;
        let delete = report.check(CheckName::Delete).unwrap();
        assert_eq!(delete.status, CheckStatus::Skipped);
        assert!(delete.message.as_deref().unwrap().contains("left behind"));
    }

    #[tokio::test]
    async fn runner_fails_on_deadline_skip() {
        let mut steps = ScriptedSteps::default();
        let report = run(&mut steps, AccessMode::ReadOnly, Duration::ZERO).await;
        assert!(!report.passed());
        assert!(steps.ran.is_empty());
        let failure = report.failure().unwrap();
        assert_eq!(failure.check, "region");
        assert_eq!(failure.error_code.as_deref(), Some("DeadlineExceeded"));
    }
}
