//! Time limits of a connection test: the deadline of the whole test and the backoff between
//! retries.

use std::time::Duration;
use tokio::time::Instant;

/// The moment by which a whole test must have returned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    started: Instant,
    end: Instant,
}

impl Deadline {
    pub fn after(total: Duration) -> Self {
        let started = Instant::now();
        Self {
            started,
            end: started + total,
        }
    }

    pub fn end(&self) -> Instant {
        self.end
    }

    pub fn total(&self) -> Duration {
        self.end - self.started
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub fn is_expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Returns the time one call may take: `per_call`, or what is left of the test if less.
    pub fn call_timeout(&self, per_call: Duration) -> Duration {
        per_call.min(self.remaining())
    }
}

/// Exponential backoff with jitter: each delay doubles up to `max`, and a random part of up to
/// half the delay spreads out callers that failed together.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { next: initial, max }
    }

    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let half = base / 2;
        half + half.mul_f64(random_fraction())
    }
}

/// Returns a number in [0, 1) from the operating system's random source, or 0.5 where it has
/// none, which only removes the jitter.
fn random_fraction() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_caps_call_timeout_at_remaining_time() {
        let deadline = Deadline::after(Duration::from_millis(200));
        assert_eq!(
            deadline.call_timeout(Duration::from_millis(100)),
            Duration::from_millis(100)
        );
        assert!(deadline.call_timeout(Duration::from_secs(5)) <= Duration::from_millis(200));
        assert!(!deadline.is_expired());
    }

    #[test]
    fn deadline_of_zero_is_expired() {
        let deadline = Deadline::after(Duration::ZERO);
        assert!(deadline.is_expired());
        assert_eq!(
            deadline.call_timeout(Duration::from_secs(1)),
            Duration::ZERO
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let delays: Vec<Duration> = (0..5).map(|_| backoff.next_delay()).collect();
        let bounds = [100, 200, 400, 400, 400];
        for (delay, bound) in delays.iter().zip(bounds) {
            let bound = Duration::from_millis(bound);
            assert!(*delay >= bound / 2, "{delay:?} < half of {bound:?}");
            assert!(*delay <= bound, "{delay:?} > {bound:?}");
        }
    }
}
