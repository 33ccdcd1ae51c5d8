//! The AWS implementation of [`ConnectionTester`]: its options and the SDK clients it builds.

use super::cache::CredentialsCache;
use super::deadline::Deadline;
use super::rate_limit::StsRateLimiter;
use super::runner::{plan, run_checks};
use super::steps::AwsSteps;
use super::{ConnectionTester, TestReport, TestRequest};
use crate::domain::{ConnectionSpec, Region};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{IdentityCache, ResponseChecksumValidation};
use aws_smithy_types::retry::RetryConfig;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Settings of an [`AwsConnectionTester`]. [`TesterOptions::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct TesterOptions {
    /// ARN of the platform's IAM principal that calls AssumeRole. Customers' trust policies must
    /// name it, so AccessDenied hints quote it.
    pub platform_principal_arn: String,
    /// Time limit of one AWS call. Shorter when less is left of the test's deadline.
    pub per_call_timeout: Duration,
    /// How long denied AssumeRole calls are repeated. IAM is eventually consistent, so it may
    /// deny a role that was just created or changed for a while, commonly 10 to 60 seconds.
    pub assume_role_retry_budget: Duration,
    /// First delay before a retry. Each further delay doubles, up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Assumed-role credentials shared between tests, or `None` to call STS in every test.
    pub credentials_cache: Option<Arc<CredentialsCache>>,
    /// A limit on STS requests shared between tests, or `None` for no limit.
    pub sts_rate_limiter: Option<Arc<StsRateLimiter>>,
}

impl TesterOptions {
    /// Default time limit of one AWS call.
    pub const DEFAULT_PER_CALL_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default retry budget for denied AssumeRole calls. With [`super::API_TEST_DEADLINE`] it
    /// leaves about 8 seconds for the S3 checks after the last retry.
    pub const DEFAULT_ASSUME_ROLE_RETRY_BUDGET: Duration = Duration::from_secs(12);
    pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(4);

    /// Returns the default options, without credentials cache or STS rate limit, as an API
    /// request needs them.
    pub fn new(platform_principal_arn: impl Into<String>) -> Self {
        Self {
            platform_principal_arn: platform_principal_arn.into(),
            per_call_timeout: Self::DEFAULT_PER_CALL_TIMEOUT,
            assume_role_retry_budget: Self::DEFAULT_ASSUME_ROLE_RETRY_BUDGET,
            initial_backoff: Self::DEFAULT_INITIAL_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            credentials_cache: None,
            sts_rate_limiter: None,
        }
    }

    /// Adds a new credentials cache, as scheduled revalidation uses.
    pub fn with_credentials_cache(mut self) -> Self {
        self.credentials_cache = Some(Arc::new(CredentialsCache::default()));
        self
    }

    /// Adds a limit of `requests_per_second` STS requests.
    pub fn with_sts_rate_limit(mut self, requests_per_second: NonZeroU32) -> Self {
        self.sts_rate_limiter = Some(Arc::new(StsRateLimiter::new(requests_per_second)));
        self
    }
}

/// Tests endpoints against AWS: the platform's own credentials find the bucket's region, STS
/// AssumeRole gets the customer's role, and the role's credentials run the S3 checks.
#[derive(Debug, Clone)]
pub struct AwsConnectionTester {
    base: SdkConfig,
    options: TesterOptions,
}

impl AwsConnectionTester {
    /// Builds a tester on `sdk_config`, whose credentials are the platform's own and whose
    /// endpoint URL overrides, if any, apply to every call. All clients the tester builds share
    /// the config's HTTP client, and so its connection pool. A config without an HTTP client
    /// gets a new one here, because each SDK client would otherwise build its own.
    pub fn new(sdk_config: &SdkConfig, options: TesterOptions) -> Self {
        let base = match sdk_config.http_client() {
            Some(_) => sdk_config.clone(),
            None => sdk_config
                .to_builder()
                .http_client(crate::sdk::http_client(crate::sdk::TrustRoots::Amazon))
                .build(),
        };
        Self { base, options }
    }

    pub fn options(&self) -> &TesterOptions {
        &self.options
    }

    /// Builds an S3 client for the endpoint's bucket with the platform's own credentials.
    pub(crate) fn platform_s3(&self, spec: &ConnectionSpec) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.s3_config(spec).build())
    }

    /// Builds an S3 client for the endpoint's bucket with assumed-role credentials.
    pub(crate) fn role_s3(
        &self,
        spec: &ConnectionSpec,
        credentials: Credentials,
    ) -> aws_sdk_s3::Client {
        let config = self
            .s3_config(spec)
            .credentials_provider(credentials)
            // Fixed credentials need no identity cache. The config's shared cache would keep
            // one entry per test for the life of the process.
            .identity_cache(IdentityCache::no_cache())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Builds an STS client for the regional endpoint of `region`, or for the endpoint URL
    /// override if the config has one. Credentials from the global endpoint are valid only in
    /// regions enabled by default, while regional endpoints issue credentials valid in all.
    pub(crate) fn sts(&self, region: Region) -> aws_sdk_sts::Client {
        let config = aws_sdk_sts::config::Builder::from(&self.base)
            .region(aws_sdk_sts::config::Region::new(region.as_str()))
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    fn s3_config(&self, spec: &ConnectionSpec) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::config::Builder::from(&self.base)
            .region(aws_sdk_s3::config::Region::new(spec.region.as_str()))
            .force_path_style(spec.bucket.needs_path_style())
            // The tester retries transient errors itself, within the test's deadline.
            .retry_config(RetryConfig::disabled())
            // The read check fetches one byte, which no full-object checksum can validate.
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
    }
}

#[async_trait]
impl ConnectionTester for AwsConnectionTester {
    fn platform_account_id(&self) -> Option<&str> {
        // The principal is validated as a role ARN at start-up, so its fifth field is the
        // 12-digit account id.
        self.options.platform_principal_arn.split(':').nth(4)
    }

    async fn test(&self, request: &TestRequest) -> TestReport {
        let endpoint = request
            .endpoint_id
            .as_ref()
            .map_or("unsaved", |id| id.as_str());
        let span = tracing::info_span!(
            "connection_test",
            tenant = request.tenant.as_str(),
            endpoint,
            mode = request.spec.mode.as_str(),
            bucket = request.spec.bucket.as_str(),
            region = request.spec.region.as_str(),
        );

        async {
            let deadline = Deadline::after(request.deadline);
            let mut steps = AwsSteps::new(self, request, deadline);
            let report = run_checks(&mut steps, &plan(request.spec.mode), deadline).await;
            tracing::info!(
                passed = report.passed(),
                duration_ms = report.duration_ms,
                "connection test finished"
            );
            report
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConnectionInput;
    use aws_config::BehaviorVersion;
    use aws_sdk_sts::config::endpoint::{Params, ResolveEndpoint};

    fn base_config() -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build()
    }

    fn spec(bucket: &str, region: &str) -> ConnectionSpec {
        ConnectionSpec::parse(&ConnectionInput {
            mode: Some("read_only".to_owned()),
            role_arn: Some("arn:aws:iam::111122223333:role/Reader".to_owned()),
            bucket: Some(bucket.to_owned()),
            prefix: None,
            region: Some(region.to_owned()),
            kms_key_arn: None,
        })
        .unwrap()
    }

    fn tester() -> AwsConnectionTester {
        AwsConnectionTester::new(
            &base_config(),
            TesterOptions::new("arn:aws:iam::999988887777:role/platform"),
        )
    }

    #[test]
    fn tester_adds_a_shared_http_client() {
        assert!(base_config().http_client().is_none());
        assert!(tester().base.http_client().is_some());
    }

    #[test]
    fn tester_builds_clients_in_the_endpoint_region() {
        let tester = tester();
        let spec = spec("acme.billing.exports", "af-south-1");
        let s3 = tester.platform_s3(&spec);
        assert_eq!(s3.config().region().unwrap().as_ref(), "af-south-1");
        let sts = tester.sts(spec.region);
        assert_eq!(sts.config().region().unwrap().as_ref(), "af-south-1");
    }

    #[tokio::test]
    async fn sts_resolves_regional_endpoints() {
        // The tester relies on the SDK's default of regional STS endpoints, because opt-in
        // regions reject credentials that the global endpoint issued.
        let resolver = aws_sdk_sts::config::endpoint::DefaultResolver::new();
        for region in ["af-south-1", "eu-west-1", "us-east-1"] {
            let params = Params::builder().region(region).build().unwrap();
            let endpoint = resolver.resolve_endpoint(&params).await.unwrap();
            assert_eq!(
                endpoint.url(),
                format!("https://sts.{region}.amazonaws.com")
            );
        }
    }
}
