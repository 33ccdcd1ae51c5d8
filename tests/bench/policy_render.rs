//! Policy rendering on one thread: throughput and per-call latency of
//! `endpoint_core::policy::render`, against a floor of serializing the rendered bundle.

use crate::report::PartResult;
use crate::stats::{format_ns, ratio_text, summarize, Summary};
use endpoint_core::domain::ExternalId;
use endpoint_core::policy::{render, PlatformIdentity, PolicyInput, PolicyRequest};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

const MIN_RENDERS_PER_SECOND: f64 = 100_000.0;
const MAX_RENDER_P99: Duration = Duration::from_micros(50);

/// The figures of the policy part, which part 1 reports with the handler overheads.
#[derive(Debug, Clone)]
pub struct RenderResult {
    pub renders_per_second: f64,
    pub latency: Summary,
    pub floor_per_second: f64,
    pub floor_latency: Summary,
}

/// Renders a read_write policy with a prefix and a KMS key, the mode and options that render
/// the most statements.
pub fn measure(iterations: usize) -> Result<RenderResult, String> {
    let input = PolicyInput {
        mode: Some("read_write".to_owned()),
        bucket: Some("acme-billing-exports".to_owned()),
        prefix: Some("cur/daily/".to_owned()),
        region: Some("eu-west-1".to_owned()),
        kms_key_arn: Some(
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .to_owned(),
        ),
    };
    let request = PolicyRequest::parse(&input).map_err(|errors| format!("{errors:?}"))?;
    let platform = PlatformIdentity::new(
        "arn:aws:iam::111111111111:role/s3-endpoints-platform",
        "CostPlatform",
    )
    .map_err(|error| error.to_string())?;
    let external_id = ExternalId::generate().map_err(|error| error.to_string())?;
    let bundle = render(&request, &platform, &external_id).map_err(|error| error.to_string())?;

    // Warm caches and the allocator before timing.
    for _ in 0..iterations / 10 {
        black_box(render(black_box(&request), &platform, &external_id).ok());
    }
    let (renders_per_second, latency) = timed(iterations, || {
        black_box(render(black_box(&request), &platform, &external_id).ok());
    })?;
    let (floor_per_second, floor_latency) = timed(iterations, || {
        black_box(serde_json::to_string(black_box(&bundle)).ok());
    })?;
    Ok(RenderResult {
        renders_per_second,
        latency,
        floor_per_second,
        floor_latency,
    })
}

/// Runs `operation` `iterations` times untimed for the rate, then `iterations` times with
/// each call timed for the percentiles. Timing every call costs two clock reads per call,
/// which would lower the rate of an operation that takes a few microseconds.
fn timed(iterations: usize, mut operation: impl FnMut()) -> Result<(f64, Summary), String> {
    let started = Instant::now();
    for _ in 0..iterations {
        operation();
    }
    let per_second = iterations as f64 / started.elapsed().as_secs_f64();

    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let call = Instant::now();
        operation();
        samples.push(call.elapsed());
    }
    let summary = summarize(&samples).ok_or("no iterations")?;
    Ok((per_second, summary))
}

/// Adds the render figures and their targets to `part`.
pub fn describe(part: &mut PartResult, result: &RenderResult) {
    part.check(
        "policy render throughput, one thread".to_owned(),
        ">= 100,000 / s",
        format!("{:.0} / s", result.renders_per_second),
        result.renders_per_second >= MIN_RENDERS_PER_SECOND,
    );
    part.check(
        "policy render p99".to_owned(),
        "< 50 µs",
        format_ns(result.latency.p99_ns),
        Duration::from_nanos(result.latency.p99_ns) < MAX_RENDER_P99,
    );
    part.tables.push(crate::report::Table {
        caption: "Policy rendering on one thread: `policy::render` of a read_write endpoint \
                  with a prefix and a KMS key. The floor serializes the rendered bundle to \
                  JSON. The rate comes from a loop without per-call clock reads, and the \
                  percentiles from a second loop that times each call."
            .to_owned(),
        columns: [
            "Operation",
            "Per second",
            "p50",
            "p99",
            "Render / floor (p50)",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows: vec![
            vec![
                "`policy::render`".to_owned(),
                format!("{:.0}", result.renders_per_second),
                format_ns(result.latency.p50_ns),
                format_ns(result.latency.p99_ns),
                ratio_text(result.latency.p50_ns, result.floor_latency.p50_ns),
            ],
            vec![
                "serialize the bundle (floor)".to_owned(),
                format!("{:.0}", result.floor_per_second),
                format_ns(result.floor_latency.p50_ns),
                format_ns(result.floor_latency.p99_ns),
                "1.00x".to_owned(),
            ],
        ],
    });
}

pub fn raw(result: &RenderResult) -> serde_json::Value {
    json!({
        "renders_per_second": result.renders_per_second,
        "latency": result.latency,
        "floor_per_second": result.floor_per_second,
        "floor_latency": result.floor_latency,
    })
}
