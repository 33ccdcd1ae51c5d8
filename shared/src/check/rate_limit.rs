//! A limit on the rate of STS requests, so that revalidating many endpoints at once stays
//! below the account's STS request quota instead of being throttled.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Returned when the next free request slot comes after the caller's deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("STS rate limit of {per_second} requests per second: the next request slot is {wait_ms} ms away, after the test's deadline")]
pub struct RateLimitExceeded {
    pub per_second: u32,
    pub wait_ms: u128,
}

/// Spaces requests evenly at `requests_per_second`, first come first served. Safe to share
/// between concurrent tests.
#[derive(Debug)]
pub struct StsRateLimiter {
    per_second: NonZeroU32,
    interval: Duration,
    next_slot: Mutex<Instant>,
}

impl StsRateLimiter {
    pub fn new(requests_per_second: NonZeroU32) -> Self {
        Self {
            per_second: requests_per_second,
            interval: Duration::from_secs(1) / requests_per_second.get(),
            next_slot: Mutex::new(Instant::now()),
        }
    }

    pub fn requests_per_second(&self) -> NonZeroU32 {
        self.per_second
    }

    /// Waits for the next request slot. A slot after `deadline` is not taken, so a caller that
    /// gives up does not delay the callers behind it.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), RateLimitExceeded> {
        let slot = self.reserve(Instant::now(), deadline)?;
        tokio::time::sleep_until(slot).await;
        Ok(())
    }

    fn reserve(&self, now: Instant, deadline: Instant) -> Result<Instant, RateLimitExceeded> {
        let mut next_slot = self
            .next_slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = (*next_slot).max(now);
        if slot > deadline {
            return Err(RateLimitExceeded {
                per_second: self.per_second.get(),
                wait_ms: (slot - now).as_millis(),
            });
        }
        *next_slot = slot + self.interval;
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32) -> StsRateLimiter {
        StsRateLimiter::new(NonZeroU32::new(per_second).unwrap())
    }

    #[test]
    fn rate_limiter_spaces_slots_by_the_interval() {
        let limiter = limiter(10);
        let now = Instant::now();
        let far = now + Duration::from_secs(10);
        let first = limiter.reserve(now, far).unwrap();
        let second = limiter.reserve(now, far).unwrap();
        let third = limiter.reserve(now, far).unwrap();
        assert_eq!(second - first, Duration::from_millis(100));
        assert_eq!(third - second, Duration::from_millis(100));
    }

    #[test]
    fn rate_limiter_rejects_slots_after_the_deadline() {
        let limiter = limiter(1);
        let now = Instant::now();
        limiter.reserve(now, now).unwrap();
        let error = limiter
            .reserve(now, now + Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(error.per_second, 1);
        assert!(error.wait_ms >= 999, "{error}");
        // The rejected caller took no slot, so the next one is still one interval away.
        let next = limiter.reserve(now, now + Duration::from_secs(2)).unwrap();
        assert_eq!(next - now, Duration::from_secs(1));
    }

    #[tokio::test]
    async fn rate_limiter_waits_for_the_slot() {
        let limiter = limiter(20);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(5);
        limiter.acquire(deadline).await.unwrap();
        limiter.acquire(deadline).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(50));
    }
}
