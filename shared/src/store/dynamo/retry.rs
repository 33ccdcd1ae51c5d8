//! The store's own retry loop around writes: conditional transactions that lost a race, and
//! throttling or transaction conflicts that outlasted the SDK's retries.

use super::errors::RetriesExhausted;
use crate::store::StoreError;
use std::future::Future;
use std::time::Duration;

/// Bounds of the store's retry loop. Each attempt is one or two DynamoDB calls, each of which
/// the SDK retries on its own as configured in [`super::ClientSettings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Upper bound of the delay before the second attempt; it doubles with each attempt.
    pub base_delay: Duration,
    /// Upper bound of any one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 20 attempts with full-jitter delays that double from 20 ms up to 500 ms, so at most
    /// about 8 s of sleeping (4 s expected) before a write gives up as unavailable. Concurrent
    /// creates on one bucket each lose at most one race per winner, and 32 of them settle well
    /// within these bounds against DynamoDB Local.
    fn default() -> Self {
        Self {
            max_attempts: 20,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// Returns a random delay between zero and the capped exponential bound for the attempt
    /// that follows attempt number `attempt` (1 for the first). Full jitter spreads writers
    /// that lost the same race, so they do not collide again.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        let bound = self
            .base_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay);
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random_u64() % (nanos + 1))
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // Without a random source every writer waits the same time, which still spaces attempts,
    // so a fixed value is better than failing the write.
    if getrandom::fill(&mut bytes).is_err() {
        return u64::MAX / 2;
    }
    u64::from_le_bytes(bytes)
}

/// The outcome of one attempt of a retried write.
pub(super) enum Attempt<T> {
    Done(T),
    /// Worth another attempt; `reason` names what failed, for logs and the final error.
    Retry {
        reason: String,
    },
}

/// Runs `attempt` until it is done, fails, or `policy.max_attempts` attempts were retried.
/// `operation` and `subject` (an id or key, never a secret) label the logs.
pub(super) async fn run<T, F, Fut>(
    policy: &RetryPolicy,
    operation: &'static str,
    subject: &str,
    mut attempt: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Attempt<T>, StoreError>>,
{
    let mut number = 1;
    loop {
        let reason = match attempt().await? {
            Attempt::Done(value) => return Ok(value),
            Attempt::Retry { reason } => reason,
        };
        pause(policy, operation, subject, number, reason).await?;
        number += 1;
    }
}

/// Sleeps before the attempt after attempt number `attempt` failed for `reason`, or returns
/// [`StoreError::Unavailable`] when that was the last attempt allowed.
pub(super) async fn pause(
    policy: &RetryPolicy,
    operation: &'static str,
    subject: &str,
    attempt: u32,
    reason: String,
) -> Result<(), StoreError> {
    if attempt >= policy.max_attempts.max(1) {
        tracing::warn!(
            operation,
            subject,
            attempts = attempt,
            reason,
            "giving up after retries"
        );
        return Err(StoreError::Unavailable(Box::new(RetriesExhausted {
            operation,
            attempts: attempt,
            last_reason: reason,
        })));
    }

    let delay = policy.delay_after(attempt);
    tracing::info!(
        operation,
        subject,
        attempt,
        reason,
        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        "retrying"
    );
    tokio::time::sleep(delay).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn delay_stays_within_the_doubling_bound() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        };
        for _ in 0..200 {
            assert!(policy.delay_after(1) <= Duration::from_millis(10));
            assert!(policy.delay_after(2) <= Duration::from_millis(20));
            assert!(policy.delay_after(40) <= Duration::from_millis(50));
        }
    }

    #[tokio::test]
    async fn run_stops_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        };
        let calls = AtomicU32::new(0);
        let result: Result<(), StoreError> = run(&policy, "test write", "subject", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Attempt::Retry {
                reason: "ThrottlingError".to_owned(),
            })
        })
        .await;

        assert_eq!(calls.load(Ordering::SeqCst), 4);
        let Err(StoreError::Unavailable(source)) = result else {
            panic!("expected Unavailable, got {result:?}");
        };
        assert!(source.to_string().contains("4 attempts"), "{source}");
        assert!(source.to_string().contains("ThrottlingError"), "{source}");
    }

    #[tokio::test]
    async fn run_returns_the_first_success() {
        let calls = AtomicU32::new(0);
        let result = run(&RetryPolicy::default(), "test write", "subject", || async {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            if call < 2 {
                Ok(Attempt::Retry {
                    reason: "TransactionConflict".to_owned(),
                })
            } else {
                Ok(Attempt::Done(call))
            }
        })
        .await;
        assert_eq!(result.unwrap(), 2);
    }
}
