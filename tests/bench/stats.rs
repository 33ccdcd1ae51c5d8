//! Latency summaries and ratios.
//!
//! Percentiles use the nearest-rank method on the sorted samples: the p-th percentile of n
//! samples is the sample at rank `ceil(p / 100 * n)` (1-based). It always returns a measured
//! value, never an interpolation, and the p99 of fewer than 100 samples is their maximum.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Summary of a set of durations, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: usize,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    pub mean_ns: u64,
}

/// Returns the nearest-rank `percentile` (0 to 100) of `sorted`, which must be in ascending
/// order, or `None` when it is empty.
pub fn nearest_rank(sorted: &[u64], percentile: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let fraction = percentile.clamp(0.0, 100.0) / 100.0;
    // The float product is exact for the sample counts used here (far below 2^52).
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

/// Summarizes `samples`, or returns `None` when there are none.
pub fn summarize(samples: &[Duration]) -> Option<Summary> {
    let mut nanos: Vec<u64> = samples.iter().map(|sample| duration_ns(*sample)).collect();
    nanos.sort_unstable();
    let total: u128 = nanos.iter().map(|&value| u128::from(value)).sum();
    let count = nanos.len();
    let mean = total.checked_div(count as u128)?;
    Some(Summary {
        count,
        min_ns: *nanos.first()?,
        p50_ns: nearest_rank(&nanos, 50.0)?,
        p90_ns: nearest_rank(&nanos, 90.0)?,
        p99_ns: nearest_rank(&nanos, 99.0)?,
        max_ns: *nanos.last()?,
        mean_ns: u64::try_from(mean).unwrap_or(u64::MAX),
    })
}

/// Formats `value / floor` as a factor such as `1.23x`, or `n/a` when the floor is zero.
pub fn ratio_text(value: u64, floor: u64) -> String {
    if floor == 0 {
        return "n/a".to_owned();
    }
    format!("{:.2}x", value as f64 / floor as f64)
}

pub fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Formats nanoseconds in ns, µs, ms or s, whichever keeps the number between 1 and 1000.
pub fn format_ns(nanos: u64) -> String {
    let value = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", value / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2} ms", value / 1e6)
    } else {
        format!("{:.2} s", value / 1e9)
    }
}
