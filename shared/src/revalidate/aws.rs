//! The run's services on AWS, built once per process from one SDK configuration.

use super::checkpoint::DynamoCheckpointStore;
use super::config::RevalidateConfig;
use super::publish::EventBridgePublisher;
use super::run::{Services, TesterFactory};
use crate::check::{AwsConnectionTester, ConnectionTester, StsRateLimiter, TesterOptions};
use crate::clock::SystemClock;
use crate::store::dynamo::{ClientSettings, DynamoStore};
use aws_config::SdkConfig;
use std::sync::Arc;
use std::time::Duration;

/// Testers that share one STS rate limiter across runs and get a new credentials cache per
/// run.
pub struct AwsTesters {
    sdk_config: SdkConfig,
    options: TesterOptions,
}

impl AwsTesters {
    pub fn new(sdk_config: &SdkConfig, config: &RevalidateConfig) -> Self {
        let mut options = TesterOptions::new(config.platform_principal_arn.as_str());
        options.sts_rate_limiter = Some(Arc::new(StsRateLimiter::new(
            config.sts_max_requests_per_second,
        )));
        // The API tests repeat a denied AssumeRole because IAM applies a new or changed role
        // with a delay. An endpoint that a scheduled run tests was saved long before, so a
        // denial comes from the customer's change and is recorded at once. The rare false
        // failure, during a change the customer is still making, is corrected by the next cycle.
        options.assume_role_retry_budget = Duration::ZERO;
        Self {
            sdk_config: sdk_config.clone(),
            options,
        }
    }
}

impl TesterFactory for AwsTesters {
    fn tester_for_run(&self) -> Arc<dyn ConnectionTester> {
        let options = self.options.clone().with_credentials_cache();
        Arc::new(AwsConnectionTester::new(&self.sdk_config, options))
    }
}

/// Builds the services for `config`: the table and the event bus through `sdk_config` (the
/// function's own credentials), connection tests through `platform_config` (the platform
/// role's), and `dynamodb` setting the DynamoDB client's timeouts and retries.
pub fn aws_services(
    config: &RevalidateConfig,
    sdk_config: &SdkConfig,
    platform_config: &SdkConfig,
    dynamodb: &ClientSettings,
) -> Services {
    let dynamodb = dynamodb.client(sdk_config);
    let events = aws_sdk_eventbridge::Client::new(sdk_config);
    Services {
        store: Arc::new(DynamoStore::new(
            dynamodb.clone(),
            config.table_name.clone(),
        )),
        checkpoints: Arc::new(DynamoCheckpointStore::new(
            dynamodb,
            config.table_name.clone(),
        )),
        testers: Arc::new(AwsTesters::new(platform_config, config)),
        publisher: Arc::new(EventBridgePublisher::new(
            events,
            config.event_bus_name.clone(),
        )),
        clock: Arc::new(SystemClock),
    }
}
