//! Part 6: concurrent creates on one bucket with conflicting prefixes, against the DynamoDB
//! store, compared with the same number of concurrent creates on separate buckets.

use crate::fixture::Fixture;
use crate::report::{PartResult, Table};
use crate::stats::{format_ns, ratio_text, summarize, Summary};
use endpoint_core::domain::Endpoint;
use endpoint_core::store::{EndpointStore, StoreError};
use futures::future::join_all;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Concurrent creates per round: half take a prefix `team-<n>/`, the other half the nested
/// prefix `team-<n>/nested/`, so each pair conflicts and exactly one of the two must win.
pub const CREATES_PER_ROUND: usize = 32;

/// The message of the store's retry log event (`store::dynamo::retry`).
const RETRY_MESSAGE: &str = "retrying";

/// Counts the store's `retrying` log events, one per attempt that the store's retry loop
/// repeats after a lost race, a transaction conflict or throttling.
#[derive(Clone, Default)]
pub struct RetryCounter {
    retries: Arc<AtomicU64>,
}

impl RetryCounter {
    pub fn count(&self) -> u64 {
        self.retries.load(Ordering::SeqCst)
    }
}

impl<S: Subscriber> Layer<S> for RetryCounter {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        if !event
            .metadata()
            .target()
            .starts_with("endpoint_core::store")
        {
            return;
        }
        let mut message = MessageVisitor::default();
        event.record(&mut message);
        if message.0 == RETRY_MESSAGE {
            self.retries.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[derive(Default)]
struct MessageVisitor(String);

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// The outcomes of one round of concurrent creates.
#[derive(Debug, Default)]
struct Round {
    latencies: Vec<Duration>,
    created: usize,
    conflicts: usize,
    other_errors: Vec<String>,
    retries: u64,
    /// Whether exactly one endpoint of each conflicting pair was created.
    consistent: bool,
}

pub async fn run(fixture: &Fixture, counter: &RetryCounter, rounds: usize) -> PartResult {
    let mut part = PartResult::new(
        "contention",
        "Contention",
        &format!(
            "{CREATES_PER_ROUND} creates start at once through the DynamoDB store \
             (`DynamoStore::create_endpoint`, with its default retry policy) on one bucket \
             name. Half take the prefix `team-<n>/` and half `team-<n>/nested/`, so every pair \
             conflicts and exactly one of each pair must commit. The floor is {CREATES_PER_ROUND} \
             concurrent creates on {CREATES_PER_ROUND} different bucket names, which contend \
             on nothing. {rounds} rounds of each, alternating, each on new bucket names. \
             Retries are the store's own retry loop (lost races, transaction conflicts, \
             throttling), counted from its `retrying` log events; retries inside one SDK call \
             are not included. Latency is per create, including conflicts, with nearest-rank \
             percentiles."
        ),
    );

    let mut contended = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..rounds {
        match round(fixture, counter, true).await {
            Ok(result) => contended.push(result),
            Err(error) => {
                part.not_measured("contention", &error);
                return part;
            }
        }
        match round(fixture, counter, false).await {
            Ok(result) => floor.push(result),
            Err(error) => {
                part.not_measured("contention floor", &error);
                return part;
            }
        }
    }
    describe(&mut part, &contended, &floor);
    part
}

async fn round(
    fixture: &Fixture,
    counter: &RetryCounter,
    shared_bucket: bool,
) -> Result<Round, String> {
    let tag = ulid::Ulid::generate().to_string().to_lowercase();
    let endpoints = round_endpoints(fixture, &tag, shared_bucket)?;
    let retries_before = counter.count();
    let store = Arc::clone(&fixture.store);
    let results = join_all(endpoints.iter().map(|endpoint| {
        let store = Arc::clone(&store);
        async move {
            let started = Instant::now();
            let result = store.create_endpoint(endpoint).await;
            (started.elapsed(), result)
        }
    }))
    .await;

    let mut outcome = Round {
        retries: counter.count() - retries_before,
        ..Round::default()
    };
    let pairs = CREATES_PER_ROUND / 2;
    let mut won = vec![0usize; pairs];
    for (index, (latency, result)) in results.into_iter().enumerate() {
        outcome.latencies.push(latency);
        match result {
            Ok(()) => {
                outcome.created += 1;
                won[index % pairs] += 1;
            }
            Err(StoreError::PrefixConflict { .. }) => outcome.conflicts += 1,
            Err(error) => outcome.other_errors.push(error.to_string()),
        }
    }
    outcome.consistent = if shared_bucket {
        won.iter().all(|&count| count == 1)
    } else {
        outcome.created == CREATES_PER_ROUND
    };
    Ok(outcome)
}

/// Endpoints `0..16` take `team-<n>/` and `16..32` take `team-<n>/nested/`. With
/// `shared_bucket` false, each endpoint gets its own bucket name instead.
fn round_endpoints(
    fixture: &Fixture,
    tag: &str,
    shared_bucket: bool,
) -> Result<Vec<Endpoint>, String> {
    let pairs = CREATES_PER_ROUND / 2;
    (0..CREATES_PER_ROUND)
        .map(|index| {
            let team = index % pairs;
            let prefix = if index < pairs {
                format!("team-{team:02}/")
            } else {
                format!("team-{team:02}/nested/")
            };
            let mut endpoint =
                fixture.endpoint(&format!("Contention {tag} {index}"), &prefix, "read_only")?;
            let bucket = if shared_bucket {
                format!("contention-{tag}")
            } else {
                format!("contention-{tag}-{index}")
            };
            endpoint.spec.connection.bucket =
                endpoint_core::domain::BucketName::parse(&bucket).map_err(|error| error.message)?;
            Ok(endpoint)
        })
        .collect()
}

fn describe(part: &mut PartResult, contended: &[Round], floor: &[Round]) {
    let contended_summary = summarize(&flatten(contended));
    let floor_summary = summarize(&flatten(floor));
    let mut rows = Vec::new();
    for (label, rounds, summary) in [
        (
            "one bucket, conflicting prefixes",
            contended,
            &contended_summary,
        ),
        ("separate buckets (floor)", floor, &floor_summary),
    ] {
        rows.push(row(label, rounds, summary.as_ref()));
    }
    part.tables.push(Table {
        caption: String::new(),
        columns: [
            "Creates",
            "Rounds x creates",
            "p50",
            "p99",
            "Created / conflicts / other errors",
            "Store retries (total, max per round)",
            "Exactly one per pair",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    });
    if let (Some(value), Some(base)) = (contended_summary, floor_summary) {
        part.tables.push(Table {
            caption: "Ratios of the contended creates to the floor:".to_owned(),
            columns: ["Percentile", "Ratio"].map(str::to_owned).to_vec(),
            rows: vec![
                vec!["p50".to_owned(), ratio_text(value.p50_ns, base.p50_ns)],
                vec!["p99".to_owned(), ratio_text(value.p99_ns, base.p99_ns)],
            ],
        });
    }
    let consistent = contended.iter().all(|round| round.consistent);
    part.check(
        "one winner per conflicting pair".to_owned(),
        "every round",
        format!(
            "{} of {} rounds",
            contended.iter().filter(|round| round.consistent).count(),
            contended.len()
        ),
        consistent,
    );
    let errors: Vec<&String> = contended
        .iter()
        .chain(floor)
        .flat_map(|round| &round.other_errors)
        .collect();
    part.raw = json!({
        "creates_per_round": CREATES_PER_ROUND,
        "contended": rounds_json(contended, contended_summary),
        "floor": rounds_json(floor, floor_summary),
        "other_errors": errors,
    });
}

fn flatten(rounds: &[Round]) -> Vec<Duration> {
    rounds
        .iter()
        .flat_map(|round| round.latencies.iter().copied())
        .collect()
}

fn row(label: &str, rounds: &[Round], summary: Option<&Summary>) -> Vec<String> {
    let created: usize = rounds.iter().map(|round| round.created).sum();
    let conflicts: usize = rounds.iter().map(|round| round.conflicts).sum();
    let errors: usize = rounds.iter().map(|round| round.other_errors.len()).sum();
    let retries: u64 = rounds.iter().map(|round| round.retries).sum();
    let max_retries = rounds.iter().map(|round| round.retries).max().unwrap_or(0);
    let consistent = rounds.iter().filter(|round| round.consistent).count();
    vec![
        label.to_owned(),
        format!("{} x {CREATES_PER_ROUND}", rounds.len()),
        summary.map_or("n/a".to_owned(), |summary| format_ns(summary.p50_ns)),
        summary.map_or("n/a".to_owned(), |summary| format_ns(summary.p99_ns)),
        format!("{created} / {conflicts} / {errors}"),
        format!("{retries}, {max_retries}"),
        format!("{consistent} of {} rounds", rounds.len()),
    ]
}

fn rounds_json(rounds: &[Round], summary: Option<Summary>) -> serde_json::Value {
    json!({
        "rounds": rounds.len(),
        "latency": summary,
        "created": rounds.iter().map(|round| round.created).collect::<Vec<_>>(),
        "conflicts": rounds.iter().map(|round| round.conflicts).collect::<Vec<_>>(),
        "retries": rounds.iter().map(|round| round.retries).collect::<Vec<_>>(),
        "consistent": rounds.iter().map(|round| round.consistent).collect::<Vec<_>>(),
    })
}
