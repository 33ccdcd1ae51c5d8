//! Unit tests of the benchmark statistics in `stats.rs` and of the results page in
//! `report.rs`, so that `cargo test` checks the percentile method and the run-to-run
//! comparison that the benchmark results rely on.

#[path = "stats.rs"]
mod stats;

// The suite uses the rest of the module, which these tests do not call.
#[allow(dead_code)]
#[path = "report.rs"]
mod report;

use report::{render_page, PartResult, RunInfo};
use stats::{duration_ns, format_ns, nearest_rank, ratio_text, summarize};
use std::time::Duration;

#[test]
fn nearest_rank_of_empty_is_none() {
    assert_eq!(nearest_rank(&[], 50.0), None);
}

#[test]
fn nearest_rank_picks_measured_samples() {
    let sorted: Vec<u64> = (1..=100).collect();
    assert_eq!(nearest_rank(&sorted, 50.0), Some(50));
    assert_eq!(nearest_rank(&sorted, 99.0), Some(99));
    assert_eq!(nearest_rank(&sorted, 100.0), Some(100));
    assert_eq!(nearest_rank(&sorted, 0.0), Some(1));
}

#[test]
fn nearest_rank_rounds_rank_up() {
    // Ranks: p50 of 5 is ceil(2.5) = 3, p99 of 10 is ceil(9.9) = 10.
    assert_eq!(nearest_rank(&[10, 20, 30, 40, 50], 50.0), Some(30));
    let ten: Vec<u64> = (1..=10).collect();
    assert_eq!(nearest_rank(&ten, 99.0), Some(10));
    assert_eq!(nearest_rank(&ten, 90.0), Some(9));
}

#[test]
fn nearest_rank_of_one_sample() {
    assert_eq!(nearest_rank(&[7], 1.0), Some(7));
    assert_eq!(nearest_rank(&[7], 99.0), Some(7));
}

#[test]
fn summarize_sorts_before_ranking() {
    let samples: Vec<Duration> = [5u64, 1, 4, 2, 3]
        .iter()
        .map(|&micros| Duration::from_micros(micros))
        .collect();
    let summary = summarize(&samples).expect("five samples");

    assert_eq!(summary.count, 5);
    assert_eq!(summary.min_ns, 1_000);
    assert_eq!(summary.p50_ns, 3_000);
    assert_eq!(summary.p99_ns, 5_000);
    assert_eq!(summary.max_ns, 5_000);
    assert_eq!(summary.mean_ns, 3_000);
}

#[test]
fn summarize_of_nothing_is_none() {
    assert!(summarize(&[]).is_none());
}

#[test]
fn ratio_text_rejects_zero_floor() {
    assert_eq!(ratio_text(1, 0), "n/a");
    assert_eq!(ratio_text(3, 2), "1.50x");
}

#[test]
fn duration_ns_saturates() {
    assert_eq!(duration_ns(Duration::from_micros(3)), 3_000);
    assert_eq!(duration_ns(Duration::MAX), u64::MAX);
}

#[test]
fn format_ns_picks_unit() {
    assert_eq!(format_ns(999), "999 ns");
    assert_eq!(format_ns(12_345), "12.3 µs");
    assert_eq!(format_ns(2_500_000), "2.50 ms");
    assert_eq!(format_ns(3_000_000_000), "3.00 s");
}

fn run_info() -> RunInfo {
    RunInfo {
        command: "scripts/bench.sh".to_owned(),
        started_at: "2026-01-01T00:00:00Z".to_owned(),
        mode: "full".to_owned(),
        cpu_count: "2".to_owned(),
        cpu_model: "test".to_owned(),
        memory: "1 GiB".to_owned(),
        kernel: "test".to_owned(),
        rustc: "test".to_owned(),
        release_build_seconds: None,
        suite_seconds: None,
    }
}

fn part_with_figure(figure: &str) -> PartResult {
    let mut part = PartResult::new("binary_size", "Binary size", "Sizes.");
    part.check("size".to_owned(), "<= 12 MiB", figure.to_owned(), true);
    part
}

#[test]
fn page_shows_previous_figure_beside_new() {
    let page = render_page(
        &run_info(),
        &[part_with_figure("11.00 MiB")],
        &[part_with_figure("13.50 MiB")],
    );

    assert!(page.contains("| Binary size | size | <= 12 MiB | 11.00 MiB | 13.50 MiB | met |"));
    assert!(page.contains("this run replaced"));
}

#[test]
fn page_without_previous_run_says_so() {
    let page = render_page(&run_info(), &[part_with_figure("11.00 MiB")], &[]);

    assert!(page.contains("| Binary size | size | <= 12 MiB | 11.00 MiB | - | met |"));
    assert!(page.contains("No earlier run was recorded"));
}

#[test]
fn page_ignores_previous_figures_of_other_subjects() {
    let mut other = PartResult::new("binary_size", "Binary size", "Sizes.");
    other.check(
        "another size".to_owned(),
        "<= 12 MiB",
        "1 MiB".to_owned(),
        true,
    );

    let page = render_page(&run_info(), &[part_with_figure("11.00 MiB")], &[other]);

    assert!(page.contains("| 11.00 MiB | - | met |"));
}
