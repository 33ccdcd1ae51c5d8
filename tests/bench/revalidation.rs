//! Revalidation throughput, reported with the connection test in part 2: whole revalidation
//! runs over the stored endpoints at several concurrencies, against the raw STS and S3 calls
//! of the same number of tests at the same concurrency.

use crate::fixture::Fixture;
use crate::report::PartResult;
use crate::stats::summarize;
use crate::tester::{row, throughput, throughput_json, throughput_table, RawSequence, Throughput};
use crate::tester::{CONCURRENCY_LEVELS, MIN_THROUGHPUT_RATIO};
use endpoint_core::revalidate::{aws_services, RevalidateConfig, Revalidator, RunRequest};
use endpoint_core::store::dynamo::ClientSettings;
use futures::stream::{self, StreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The template's `StsMaxRequestsPerSecond` default.
const STS_MAX_REQUESTS_PER_SECOND: &str = "20";

/// Runs one revalidation cycle per concurrency level and its floor, and adds rows and target
/// checks to `part`. Returns the raw figures.
pub async fn run(
    fixture: &Fixture,
    seeded_prefixes: &[String],
    part: &mut PartResult,
) -> serde_json::Value {
    let mut rows = Vec::new();
    let mut raw = Vec::new();
    for concurrency in CONCURRENCY_LEVELS {
        let revalidated = match revalidate(fixture, concurrency).await {
            Ok(result) => result,
            Err(error) => {
                part.not_measured(
                    &format!("revalidation at concurrency {concurrency}"),
                    &error,
                );
                continue;
            }
        };
        let floor = cached_floor(fixture, seeded_prefixes, revalidated.tested, concurrency).await;
        let ratio = revalidated.throughput.per_second / floor.per_second;
        part.check(
            format!("revalidation throughput at concurrency {concurrency}"),
            ">= 0.8 of the floor",
            format!(
                "{ratio:.2} ({:.1} / s vs {:.1} / s)",
                revalidated.throughput.per_second, floor.per_second
            ),
            ratio >= MIN_THROUGHPUT_RATIO && floor.failed == 0,
        );
        if let Some(error) = &floor.first_error {
            part.notes_error("revalidation floor", concurrency, floor.failed, error);
        }
        rows.push(row(
            "revalidation run",
            concurrency,
            &revalidated.throughput,
            Some(ratio),
        ));
        rows.push(row(
            "raw STS and S3 calls, one AssumeRole (floor)",
            concurrency,
            &floor,
            None,
        ));
        raw.push(json!({
            "concurrency": concurrency,
            "endpoints_tested": revalidated.tested,
            "run_status": revalidated.status,
            "revalidation": throughput_json(&revalidated.throughput),
            "floor": throughput_json(&floor),
            "ratio": ratio,
        }));
    }
    if !rows.is_empty() {
        part.tables.push(throughput_table(
            "Revalidation runs over every stored endpoint (latency is per run for the \
             revalidation rows and per test for the floor):",
            rows,
        ));
    }
    serde_json::Value::Array(raw)
}

struct Revalidated {
    tested: usize,
    status: String,
    throughput: Throughput,
}

/// Runs one new revalidation cycle with `concurrency` tests at a time.
async fn revalidate(fixture: &Fixture, concurrency: usize) -> Result<Revalidated, String> {
    let variables = HashMap::from([
        ("TABLE_NAME", fixture.table.clone()),
        ("EVENT_BUS_NAME", "default".to_owned()),
        (
            "PLATFORM_PRINCIPAL_ARN",
            s3_endpoints::stack().platform_principal_arn.clone(),
        ),
        ("REVALIDATE_CONCURRENCY", concurrency.to_string()),
        (
            "STS_MAX_REQUESTS_PER_SECOND",
            STS_MAX_REQUESTS_PER_SECOND.to_owned(),
        ),
    ]);
    let lookup = |name: &str| variables.get(name).cloned();
    let config = RevalidateConfig::from_lookup(&lookup).map_err(|error| error.to_string())?;
    let sdk_config = crate::fixture::shared_http_config();
    let services = aws_services(
        &config,
        &sdk_config,
        &sdk_config,
        &ClientSettings::default(),
    );
    let revalidator = Revalidator::new(services, config.settings());
    let request = RunRequest {
        max_duration: None,
        restart: true,
        source: "custom".to_owned(),
    };
    let run_id = format!("bench-{concurrency}-{}", ulid::Ulid::generate());

    let started = Instant::now();
    let report = revalidator
        .run(&request, &run_id, None)
        .await
        .map_err(|error| format!("the revalidation run failed: {error}"))?;
    let elapsed = started.elapsed();
    let tested = usize::try_from(report.checked).unwrap_or(usize::MAX);
    if tested == 0 {
        return Err(format!(
            "the run tested no endpoint (status {:?})",
            report.status
        ));
    }
    Ok(Revalidated {
        tested,
        status: format!("{:?}", report.status),
        throughput: Throughput {
            per_second: tested as f64 / elapsed.as_secs_f64(),
            latency: summarize(&[elapsed]),
            failed: usize::try_from(report.failing).unwrap_or(usize::MAX),
            first_error: None,
        },
    })
}

/// Runs `count` raw test sequences over the seeded prefixes, `concurrency` at a time, with
/// one AssumeRole shared by all of them, as a run's credentials cache does.
async fn cached_floor(
    fixture: &Fixture,
    prefixes: &[String],
    count: usize,
    concurrency: usize,
) -> Throughput {
    let started = Instant::now();
    let setup = async {
        let sequence = RawSequence::for_fixture(fixture)?;
        let credentials = sequence.assume_role().await?;
        Ok::<_, String>((sequence, credentials))
    };
    let (sequence, credentials) = match setup.await {
        Ok(ready) => ready,
        Err(error) => {
            let outcomes = vec![(Duration::ZERO, Err(error))];
            return throughput(count, started.elapsed(), outcomes);
        }
    };
    let outcomes: Vec<(Duration, Result<(), String>)> = stream::iter(0..count)
        .map(|index| {
            let prefix = prefixes
                .get(index % prefixes.len().max(1))
                .cloned()
                .unwrap_or_default();
            let sequence = &sequence;
            let credentials = credentials.clone();
            async move {
                let call_started = Instant::now();
                let result = sequence.with_role(&prefix, credentials).await;
                (call_started.elapsed(), result)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    throughput(count, started.elapsed(), outcomes)
}
