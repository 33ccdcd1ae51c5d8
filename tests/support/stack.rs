//! Settings of the local AWS stack, read from the variables that `scripts/stack.sh start`
//! writes to `.local/stack.env`, and SDK configurations built from them.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use endpoint_core::sdk::{self, TrustRoots};

/// Region of the SDK configurations unless a test picks another one.
pub const DEFAULT_REGION: &str = "us-east-1";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

/// The running local stack: endpoints, accounts and seeded credentials.
#[derive(Debug)]
pub struct Stack {
    endpoints: StackEndpoints,
    /// Account that contains the platform principal.
    pub platform_account_id: String,
    /// ARN of the platform principal, the role whose credentials the service uses.
    pub platform_principal_arn: String,
    platform_credentials: Credentials,
    /// Customer accounts, each different from the platform account. There are at least two.
    pub customer_account_ids: Vec<String>,
    admin_credentials: BTreeMap<String, Credentials>,
}

/// Returns the local stack that the test command started.
///
/// Panics with instructions when the stack's variables are missing, or when an endpoint is
/// not a loopback address, so that no test can reach AWS.
pub fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(Stack::from_env)
}

impl Stack {
    fn from_env() -> Self {
        let metadata_disabled = required_var("AWS_EC2_METADATA_DISABLED");
        assert_eq!(
            metadata_disabled, "true",
            "AWS_EC2_METADATA_DISABLED must be true, so that no SDK queries the instance metadata \
             service for credentials"
        );

        let endpoints = StackEndpoints {
            fallback: loopback_endpoint("AWS_ENDPOINT_URL"),
            dynamodb: loopback_endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
            s3: loopback_endpoint("AWS_ENDPOINT_URL_S3"),
            sts: loopback_endpoint("AWS_ENDPOINT_URL_STS"),
            iam: loopback_endpoint("AWS_ENDPOINT_URL_IAM"),
            eventbridge: loopback_endpoint("AWS_ENDPOINT_URL_EVENTBRIDGE"),
        };

        let platform_account_id = required_var("PLATFORM_ACCOUNT_ID");
        let customer_account_ids: Vec<String> = required_var("CUSTOMER_ACCOUNT_IDS")
            .split(',')
            .map(str::to_owned)
            .collect();
        assert!(
            customer_account_ids.len() >= 2,
            "CUSTOMER_ACCOUNT_IDS must list at least two accounts, found {customer_account_ids:?}"
        );

        let mut admin_credentials = BTreeMap::new();
        for account_id in std::iter::once(&platform_account_id).chain(&customer_account_ids) {
            let credentials = Credentials::new(
                required_var(&format!("ADMIN_ACCESS_KEY_ID_{account_id}")),
                required_var(&format!("ADMIN_SECRET_ACCESS_KEY_{account_id}")),
                None,
                None,
                "local-stack-admin",
            );
            admin_credentials.insert(account_id.clone(), credentials);
        }

        let platform_credentials = Credentials::new(
            required_var("PLATFORM_ACCESS_KEY_ID"),
            required_var("PLATFORM_SECRET_ACCESS_KEY"),
            Some(required_var("PLATFORM_SESSION_TOKEN")),
            None,
            "local-stack-platform",
        );

        Stack {
            endpoints,
            platform_account_id,
            platform_principal_arn: required_var("PLATFORM_PRINCIPAL_ARN"),
            platform_credentials,
            customer_account_ids,
            admin_credentials,
        }
    }

    /// Endpoint URL of DynamoDB Local.
    pub fn dynamodb_endpoint(&self) -> &str {
        &self.endpoints.dynamodb
    }

    /// Endpoint URL of moto, which serves S3, STS, IAM and EventBridge.
    pub fn moto_endpoint(&self) -> &str {
        &self.endpoints.fallback
    }

    /// Returns the ID of the first customer account.
    pub fn customer_account_id(&self) -> &str {
        &self.customer_account_ids[0]
    }

    /// Returns the ID of a second customer account, for tests that need two.
    pub fn other_customer_account_id(&self) -> &str {
        &self.customer_account_ids[1]
    }

    /// Credentials of the admin user of `account_id`, which may do anything in that account.
    pub fn admin_credentials(&self, account_id: &str) -> Credentials {
        match self.admin_credentials.get(account_id) {
            Some(credentials) => credentials.clone(),
            None => panic!(
                "no admin credentials for account {account_id}: the local stack seeds {:?}",
                self.admin_credentials.keys().collect::<Vec<_>>()
            ),
        }
    }

    /// Session credentials of the platform principal.
    pub fn platform_credentials(&self) -> Credentials {
        self.platform_credentials.clone()
    }

    /// SDK configuration of the admin user of `account_id` in the default region.
    pub fn admin_config(&self, account_id: &str) -> SdkConfig {
        self.admin_config_in(account_id, DEFAULT_REGION)
    }

    /// SDK configuration of the admin user of `account_id` in `region`.
    pub fn admin_config_in(&self, account_id: &str, region: &str) -> SdkConfig {
        self.config_for(self.admin_credentials(account_id), region)
    }

    /// SDK configuration of the platform principal in the default region.
    pub fn platform_config(&self) -> SdkConfig {
        self.platform_config_in(DEFAULT_REGION)
    }

    /// SDK configuration of the platform principal in `region`.
    pub fn platform_config_in(&self, region: &str) -> SdkConfig {
        self.config_for(self.platform_credentials(), region)
    }

    /// Builds an SDK configuration with static `credentials` whose clients reach only the
    /// local stack.
    ///
    /// Every service that the stack serves gets its endpoint, and any other service gets
    /// moto's, so no client built from it resolves an AWS endpoint. The configuration reads
    /// no environment variables or profile files and never queries the instance metadata service.
    pub fn config_for(&self, credentials: Credentials, region: &str) -> SdkConfig {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(sdk::http_client(TrustRoots::Amazon))
            .endpoint_url(self.endpoints.fallback.clone())
            .service_config(self.endpoints.clone())
            .timeout_config(timeouts)
            .build()
    }
}

/// S3 client for `config`, with the path-style addressing that moto needs.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// STS client for `config`.
pub fn sts_client(config: &SdkConfig) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(config)
}

/// IAM client for `config`.
pub fn iam_client(config: &SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(config)
}

/// DynamoDB client for `config`, which reaches DynamoDB Local.
pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// EventBridge client for `config`.
pub fn eventbridge_client(config: &SdkConfig) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(config)
}

/// Endpoint URLs of the local stack by service, in the form that SDK clients look up.
#[derive(Debug, Clone)]
struct StackEndpoints {
    fallback: String,
    dynamodb: String,
    s3: String,
    sts: String,
    iam: String,
    eventbridge: String,
}

impl LoadServiceConfig for StackEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        let endpoint = match key.service_id() {
            "DynamoDB" => &self.dynamodb,
            "S3" => &self.s3,
            "STS" => &self.sts,
            "IAM" => &self.iam,
            "EventBridge" => &self.eventbridge,
            _ => &self.fallback,
        };
        Some(endpoint.clone())
    }
}

fn required_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: run the tests with scripts/test.sh, which starts the local AWS \
             stack, or run scripts/stack.sh start and source .local/stack.env first"
        ),
    }
}

fn loopback_endpoint(name: &str) -> String {
    let url = required_var(name);
    let is_loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| url.starts_with(prefix));
    assert!(
        is_loopback,
        "{name} is {url}, which is not a loopback address: tests run only against the local stack"
    );
    url
}
