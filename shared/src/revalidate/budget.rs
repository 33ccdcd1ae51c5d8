//! The time budget of one run: when it must finish and whether another test still fits.

use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Limits that shape a run's schedule, set from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimits {
    /// The longest one connection test may take, retries included.
    pub endpoint_timeout: Duration,
    /// Time kept free before Lambda's deadline for the work after the last test: the final
    /// checkpoint write, event publishing and the summary.
    pub wrap_up_reserve: Duration,
    /// The longest run when the invocation sets no shorter one.
    pub max_run_duration: Duration,
}

impl Default for TimeLimits {
    fn default() -> Self {
        Self {
            // NOTE: an estimate. A read_write test makes two AssumeRole calls and five S3
            // requests, each well under a second when the services answer normally.
            endpoint_timeout: Duration::from_secs(20),
            wrap_up_reserve: Duration::from_secs(15),
            max_run_duration: Duration::from_secs(900),
        }
    }
}

/// The deadlines of one run, on the monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    started: Instant,
    finish_by: Instant,
    endpoint_timeout: Duration,
}

impl Budget {
    /// Computes the run's deadline from the earliest of Lambda's remaining time (less the
    /// wrap-up reserve), the requested maximum duration and the configured maximum.
    pub fn new(
        started: Instant,
        lambda_remaining: Option<Duration>,
        requested: Option<Duration>,
        limits: &TimeLimits,
    ) -> Self {
        let mut allowed = limits.max_run_duration;
        if let Some(requested) = requested {
            allowed = allowed.min(requested);
        }
        if let Some(remaining) = lambda_remaining {
            allowed = allowed.min(remaining.saturating_sub(limits.wrap_up_reserve));
        }
        Self {
            started,
            finish_by: started + allowed,
            endpoint_timeout: limits.endpoint_timeout,
        }
    }

    /// Returns the time left until Lambda's deadline, or `None` outside Lambda, where the
    /// context carries no deadline.
    pub fn lambda_remaining(deadline: SystemTime, now: SystemTime) -> Option<Duration> {
        if deadline == SystemTime::UNIX_EPOCH {
            return None;
        }
        Some(deadline.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// Returns whether a test starting at `now` ends before the run's deadline even if it
    /// uses its whole timeout. Starting only such tests means no test is cut short by the run,
    /// so a timeout recorded in health is the endpoint's own.
    pub fn can_start_test(&self, now: Instant) -> bool {
        now + self.endpoint_timeout <= self.finish_by
    }

    pub fn endpoint_timeout(&self) -> Duration {
        self.endpoint_timeout
    }

    pub fn remaining(&self, now: Instant) -> Duration {
        self.finish_by.saturating_duration_since(now)
    }

    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> TimeLimits {
        TimeLimits {
            endpoint_timeout: Duration::from_secs(20),
            wrap_up_reserve: Duration::from_secs(15),
            max_run_duration: Duration::from_secs(900),
        }
    }

    #[test]
    fn budget_keeps_reserve_before_lambda_deadline() {
        let start = Instant::now();
        let budget = Budget::new(start, Some(Duration::from_secs(900)), None, &limits());
        assert_eq!(budget.remaining(start), Duration::from_secs(885));
    }

    #[test]
    fn budget_honours_requested_duration() {
        let start = Instant::now();
        let budget = Budget::new(
            start,
            Some(Duration::from_secs(900)),
            Some(Duration::from_secs(60)),
            &limits(),
        );
        assert_eq!(budget.remaining(start), Duration::from_secs(60));
    }

    #[test]
    fn budget_without_lambda_deadline_uses_maximum() {
        let start = Instant::now();
        let budget = Budget::new(start, None, None, &limits());
        assert_eq!(budget.remaining(start), Duration::from_secs(900));
    }

    #[test]
    fn budget_is_empty_when_lambda_time_is_below_reserve() {
        let start = Instant::now();
        let budget = Budget::new(start, Some(Duration::from_secs(10)), None, &limits());
        assert_eq!(budget.remaining(start), Duration::ZERO);
        assert!(!budget.can_start_test(start));
    }

    #[test]
    fn budget_starts_only_tests_that_fit() {
        let start = Instant::now();
        let budget = Budget::new(start, Some(Duration::from_secs(100)), None, &limits());
        assert!(budget.can_start_test(start));
        assert!(budget.can_start_test(start + Duration::from_secs(65)));
        assert!(!budget.can_start_test(start + Duration::from_secs(66)));
    }

    #[test]
    fn lambda_remaining_treats_epoch_as_absent() {
        let now = SystemTime::now();
        assert_eq!(Budget::lambda_remaining(SystemTime::UNIX_EPOCH, now), None);
    }

    #[test]
    fn lambda_remaining_is_zero_after_deadline() {
        let now = SystemTime::now();
        let past = now - Duration::from_secs(1);
        assert_eq!(Budget::lambda_remaining(past, now), Some(Duration::ZERO));
        let future = now + Duration::from_secs(30);
        assert_eq!(
            Budget::lambda_remaining(future, now),
            Some(Duration::from_secs(30))
        );
    }
}
