//! The latest known health of an endpoint, kept apart from its immutable configuration.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    Failing,
}

impl HealthState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Failing => "failing",
        }
    }
}

/// The failed check of a connection test, as recorded in health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthFailure {
    /// Name of the check that failed, such as `assume_role` or `write`.
    pub check: String,
    pub error_code: Option<String>,
    pub message: String,
}

/// The health of one endpoint after its latest connection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub state: HealthState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<HealthFailure>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_checked_at: OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_healthy_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub first_failed_at: Option<OffsetDateTime>,
    pub consecutive_failures: u32,
}

impl Health {
    /// Computes the health after a test that ran at `checked_at`, from the previous health (if
    /// any) and the test's failure (`None` when every check passed).
    pub fn after(
        previous: Option<&Health>,
        checked_at: OffsetDateTime,
        failure: Option<HealthFailure>,
    ) -> Health {
        match failure {
            None => Health {
                state: HealthState::Healthy,
                failure: None,
                last_checked_at: checked_at,
                last_healthy_at: Some(checked_at),
                first_failed_at: None,
                consecutive_failures: 0,
            },
            Some(failure) => {
                let was_failing = previous.filter(|p| p.state == HealthState::Failing);
                Health {
                    state: HealthState::Failing,
                    failure: Some(failure),
                    last_checked_at: checked_at,
                    last_healthy_at: previous.and_then(|p| p.last_healthy_at),
                    first_failed_at: Some(
                        was_failing
                            .and_then(|p| p.first_failed_at)
                            .unwrap_or(checked_at),
                    ),
                    consecutive_failures: was_failing.map_or(0, |p| p.consecutive_failures) + 1,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn failure(check: &str) -> HealthFailure {
        HealthFailure {
            check: check.to_owned(),
            error_code: Some("AccessDenied".to_owned()),
            message: "denied".to_owned(),
        }
    }

    #[test]
    fn health_counts_consecutive_failures_from_the_first() {
        let first = datetime!(2026-01-01 00:00 UTC);
        let second = datetime!(2026-01-01 06:00 UTC);
        let healthy = Health::after(None, first, None);
        let failed_once = Health::after(Some(&healthy), second, Some(failure("write")));
        assert_eq!(failed_once.consecutive_failures, 1);
        assert_eq!(failed_once.first_failed_at, Some(second));
        assert_eq!(failed_once.last_healthy_at, Some(first));

        let third = datetime!(2026-01-01 12:00 UTC);
        let failed_twice = Health::after(Some(&failed_once), third, Some(failure("write")));
        assert_eq!(failed_twice.consecutive_failures, 2);
        assert_eq!(failed_twice.first_failed_at, Some(second));
    }

    #[test]
    fn health_recovery_clears_the_failure() {
        let at = datetime!(2026-01-02 00:00 UTC);
        let failing = Health::after(None, at, Some(failure("read")));
        let recovered = Health::after(Some(&failing), at + time::Duration::hours(1), None);
        assert_eq!(recovered.state, HealthState::Healthy);
        assert_eq!(recovered.failure, None);
        assert_eq!(recovered.consecutive_failures, 0);
        assert_eq!(recovered.first_failed_at, None);
    }
}
