//! Part 2: connection tests per second at several concurrencies, through the
//! [`AwsConnectionTester`] and as the raw sequence of STS and S3 calls that it makes.

use crate::fixture::Fixture;
use crate::report::{PartResult, Table};
use crate::revalidation;
use crate::stats::{format_ns, summarize, Summary};
use crate::Scale;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{IdentityCache, ResponseChecksumValidation};
use endpoint_core::check::{
    AwsConnectionTester, ConnectionTester, TestRequest, TesterOptions, API_TEST_DEADLINE,
};
use endpoint_core::domain::{ConnectionInput, ConnectionSpec};
use futures::stream::{self, StreamExt};
use serde_json::json;
use std::future::Future;
use std::time::{Duration, Instant};

/// Concurrency levels of the throughput runs.
pub const CONCURRENCY_LEVELS: [usize; 3] = [1, 8, 32];

/// The prefix tested. The fixture bucket has an object under it, so the read check reads it.
const PREFIX: &str = "data/";

/// The lowest acceptable ratio of tester throughput to the raw calls' throughput.
pub const MIN_THROUGHPUT_RATIO: f64 = 0.8;

/// Same as AssumeRole's `DurationSeconds` in the tester, so that STS does the same work.
const SESSION_SECONDS: i32 = 900;

/// Tests finished per second, their latencies and how many failed.
#[derive(Debug, Clone)]
pub struct Throughput {
    pub per_second: f64,
    pub latency: Option<Summary>,
    pub failed: usize,
    /// The first failure's message, so that a broken floor shows why.
    pub first_error: Option<String>,
}

pub async fn run(fixture: &Fixture, scale: &Scale, seeded_prefixes: &[String]) -> PartResult {
    let mut part = PartResult::new(
        "tester",
        "Connection test and revalidation throughput",
        &format!(
            "{} read_only connection tests of the fixture endpoint (prefix `{PREFIX}`, one object \
             under it) run at each concurrency, with `futures::StreamExt::buffer_unordered`. \
             *Tester* is `AwsConnectionTester::test` with the API's options (no credentials \
             cache, no STS rate limit). The floor is the same calls issued directly with the \
             SDK in the same order and with the same client settings: HeadBucket with the \
             platform's credentials, AssumeRole with the External ID, then ListObjectsV2 \
             (max-keys 1) and a one-byte GetObject with the role's credentials. Both share one \
             HTTP client and connection pool. Runs alternate tester and floor at each level. \
             The target is a throughput ratio of at least {MIN_THROUGHPUT_RATIO}.",
            scale.tester_endpoints
        ),
    );
    let base = crate::fixture::shared_http_config();
    let spec = match fixture_spec(fixture) {
        Ok(spec) => spec,
        Err(error) => {
            part.not_measured("connection test throughput", &error);
            return part;
        }
    };
    let tester = AwsConnectionTester::new(
        &base,
        TesterOptions::new(s3_endpoints::stack().platform_principal_arn.clone()),
    );
    let floor = RawSequence::new(base.clone(), spec.clone(), fixture);
    let request = TestRequest {
        tenant: fixture.tenant.clone(),
        endpoint_id: None,
        spec,
        external_id: fixture.external_id.clone(),
        deadline: API_TEST_DEADLINE,
    };

    let mut rows = Vec::new();
    let mut raw = Vec::new();
    for concurrency in CONCURRENCY_LEVELS {
        let tested = measure(scale.tester_endpoints, concurrency, || async {
            let report = tester.test(&request).await;
            match report.failure() {
                Some(failure) => Err(format!(
                    "{} check failed: {}",
                    failure.check, failure.message
                )),
                None => Ok(()),
            }
        })
        .await;
        let direct = measure(scale.tester_endpoints, concurrency, || floor.run(PREFIX)).await;
        let ratio = tested.per_second / direct.per_second;
        part.check(
            format!("connection test throughput at concurrency {concurrency}"),
            ">= 0.8 of the floor",
            format!(
                "{ratio:.2} ({:.1} / s vs {:.1} / s)",
                tested.per_second, direct.per_second
            ),
            ratio >= MIN_THROUGHPUT_RATIO && tested.failed == 0 && direct.failed == 0,
        );
        for (label, result) in [("tester", &tested), ("floor", &direct)] {
            if let Some(error) = &result.first_error {
                part.notes_error(label, concurrency, result.failed, error);
            }
        }
        rows.push(row("tester", concurrency, &tested, Some(ratio)));
        rows.push(row(
            "raw STS and S3 calls (floor)",
            concurrency,
            &direct,
            None,
        ));
        raw.push(json!({
            "concurrency": concurrency,
            "tester": throughput_json(&tested),
            "floor": throughput_json(&direct),
            "ratio": ratio,
        }));
    }
    part.tables.push(throughput_table(
        "Connection tests through the tester:",
        rows,
    ));
    let revalidation = revalidation::run(fixture, seeded_prefixes, &mut part).await;
    part.raw = json!({
        "tests_per_level": scale.tester_endpoints,
        "connection_test": raw,
        "revalidation": revalidation,
    });
    part
}

pub fn throughput_table(caption: &str, rows: Vec<Vec<String>>) -> Table {
    Table {
        caption: caption.to_owned(),
        columns: [
            "Run",
            "Concurrency",
            "Endpoints / s",
            "Ratio to floor",
            "Latency p50",
            "Latency p99",
            "Failed",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    }
}

pub fn row(
    label: &str,
    concurrency: usize,
    result: &Throughput,
    ratio: Option<f64>,
) -> Vec<String> {
    vec![
        label.to_owned(),
        concurrency.to_string(),
        format!("{:.1}", result.per_second),
        ratio.map_or("1.00 (floor)".to_owned(), |ratio| format!("{ratio:.2}")),
        result
            .latency
            .map_or("n/a".to_owned(), |summary| format_ns(summary.p50_ns)),
        result
            .latency
            .map_or("n/a".to_owned(), |summary| format_ns(summary.p99_ns)),
        result.failed.to_string(),
    ]
}

pub fn throughput_json(result: &Throughput) -> serde_json::Value {
    json!({
        "per_second": result.per_second,
        "latency": result.latency,
        "failed": result.failed,
        "first_error": result.first_error,
    })
}

/// Runs `count` calls of `test`, at most `concurrency` at a time, and returns their rate.
pub async fn measure<F, Fut>(count: usize, concurrency: usize, test: F) -> Throughput
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let outcomes: Vec<(Duration, Result<(), String>)> = stream::iter(0..count)
        .map(|_| {
            let call = test();
            async move {
                let call_started = Instant::now();
                let result = call.await;
                (call_started.elapsed(), result)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    throughput(count, started.elapsed(), outcomes)
}

/// Summarizes `count` outcomes that took `elapsed` in all.
pub fn throughput(
    count: usize,
    elapsed: Duration,
    outcomes: Vec<(Duration, Result<(), String>)>,
) -> Throughput {
    let latencies: Vec<Duration> = outcomes.iter().map(|(latency, _)| *latency).collect();
    let errors: Vec<String> = outcomes
        .into_iter()
        .filter_map(|(_, result)| result.err())
        .collect();
    Throughput {
        per_second: count as f64 / elapsed.as_secs_f64(),
        latency: summarize(&latencies),
        failed: errors.len(),
        first_error: errors.into_iter().next(),
    }
}

fn fixture_spec(fixture: &Fixture) -> Result<ConnectionSpec, String> {
    let input = ConnectionInput {
        mode: Some("read_only".to_owned()),
        role_arn: Some(fixture.role_arn.clone()),
        bucket: Some(fixture.bucket.name.clone()),
        prefix: Some(PREFIX.to_owned()),
        region: Some(fixture.bucket.region.clone()),
        kms_key_arn: None,
    };
    ConnectionSpec::parse(&input)
        .map_err(|errors| format!("invalid fixture connection: {errors:?}"))
}

/// The STS and S3 calls of a read_only connection test, without the tester around them.
pub struct RawSequence {
    base: SdkConfig,
    spec: ConnectionSpec,
    external_id: String,
}

impl RawSequence {
    pub fn new(base: SdkConfig, spec: ConnectionSpec, fixture: &Fixture) -> Self {
        Self {
            base,
            spec,
            external_id: fixture.external_id.as_str().to_owned(),
        }
    }

    /// Returns the calls for the fixture endpoint, with one shared HTTP client.
    pub fn for_fixture(fixture: &Fixture) -> Result<Self, String> {
        let spec = fixture_spec(fixture)?;
        Ok(Self::new(
            crate::fixture::shared_http_config(),
            spec,
            fixture,
        ))
    }

    /// Runs the calls of one test of `prefix`: HeadBucket, AssumeRole, then the role's list
    /// and read.
    pub async fn run(&self, prefix: &str) -> Result<(), String> {
        self.head_bucket().await?;
        let credentials = self.assume_role().await?;
        self.list_and_read(prefix, credentials).await
    }

    /// Runs the calls of one test of `prefix` with credentials that an earlier AssumeRole
    /// returned, as a revalidation run with its credentials cache does.
    pub async fn with_role(&self, prefix: &str, credentials: Credentials) -> Result<(), String> {
        self.head_bucket().await?;
        self.list_and_read(prefix, credentials).await
    }

    /// Sends HeadBucket with the platform's credentials. S3 denies it for a customer's
    /// bucket but still returns the bucket's region, which is all the tester reads, so any
    /// response counts and only a failure to get one is an error.
    async fn head_bucket(&self) -> Result<(), String> {
        let platform_s3 = aws_sdk_s3::Client::from_conf(self.s3_config().build());
        let result = platform_s3
            .head_bucket()
            .bucket(self.spec.bucket.as_str())
            .expected_bucket_owner(self.spec.role_arn.account_id())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) if error.raw_response().is_some() => Ok(()),
            Err(error) => Err(format!("HeadBucket: {error}")),
        }
    }

    /// Lists one key under `prefix` and reads its first byte. Under an empty prefix it reads
    /// a missing key instead and expects NoSuchKey, as the tester's read probe does.
    async fn list_and_read(&self, prefix: &str, credentials: Credentials) -> Result<(), String> {
        let bucket = self.spec.bucket.as_str();
        let owner = self.spec.role_arn.account_id();
        let role_config = self
            .s3_config()
            .credentials_provider(credentials)
            .identity_cache(IdentityCache::no_cache())
            .build();
        let role_s3 = aws_sdk_s3::Client::from_conf(role_config);
        let listed = role_s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(1)
            .expected_bucket_owner(owner)
            .send()
            .await
            .map_err(|error| format!("ListObjectsV2: {error}"))?;
        let first_key = listed
            .contents()
            .first()
            .and_then(|object| object.key())
            .map(str::to_owned);
        let key = first_key.clone().unwrap_or_else(|| {
            format!(
                "{prefix}.s3-endpoint-check/probe-{}",
                ulid::Ulid::generate()
            )
        });
        let read = role_s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .range("bytes=0-0")
            .expected_bucket_owner(owner)
            .send()
            .await;
        match (read, first_key) {
            (Ok(object), Some(_)) => {
                object
                    .body
                    .collect()
                    .await
                    .map_err(|error| format!("reading the GetObject body: {error}"))?;
                Ok(())
            }
            (Err(error), None)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_no_such_key()) =>
            {
                Ok(())
            }
            (Ok(_), None) => Err("GetObject of a missing probe key succeeded".to_owned()),
            (Err(error), _) => Err(format!("GetObject: {error}")),
        }
    }

    pub async fn assume_role(&self) -> Result<Credentials, String> {
        let sts_config = aws_sdk_sts::config::Builder::from(&self.base)
            .region(aws_sdk_sts::config::Region::new(
                self.spec.region.as_str().to_owned(),
            ))
            .retry_config(RetryConfig::disabled())
            .build();
        let sts = aws_sdk_sts::Client::from_conf(sts_config);
        let session = format!("s3-endpoint-bench-{}", ulid::Ulid::generate());
        let output = sts
            .assume_role()
            .role_arn(self.spec.role_arn.as_str())
            .role_session_name(session)
            .external_id(&self.external_id)
            .duration_seconds(SESSION_SECONDS)
            .send()
            .await
            .map_err(|error| format!("AssumeRole: {error}"))?;
        let issued = output
            .credentials()
            .ok_or("AssumeRole returned no credentials")?;
        Ok(Credentials::new(
            issued.access_key_id(),
            issued.secret_access_key(),
            Some(issued.session_token().to_owned()),
            None,
            "bench-assumed-role",
        ))
    }

    /// Returns the tester's S3 settings: the bucket's region, path style only for dotted
    /// names, no SDK retries, and checksums validated only when required.
    fn s3_config(&self) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::from(&self.base)
            .region(aws_sdk_s3::config::Region::new(
                self.spec.region.as_str().to_owned(),
            ))
            .force_path_style(self.spec.bucket.needs_path_style())
            .retry_config(RetryConfig::disabled())
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
    }
}
