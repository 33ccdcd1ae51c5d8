//! DynamoDB client configuration: timeouts and the SDK's own retries, so that the store fails
//! within a known time when DynamoDB does not respond.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use std::time::Duration;

/// Timeouts and SDK retries of the DynamoDB client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    /// Time to open a TCP and TLS connection.
    pub connect_timeout: Duration,
    /// Time for one HTTP attempt, from sending the request to reading the whole response.
    pub attempt_timeout: Duration,
    /// Time for one SDK call with all its attempts and backoffs. This bounds how long a store
    /// call waits for a DynamoDB that does not respond, because the store's own loop does not
    /// retry a timed-out call.
    pub operation_timeout: Duration,
    /// Attempts per SDK call, the first included. The SDK retries throttling, 5xx responses and
    /// connection errors.
    pub max_attempts: u32,
    /// Upper bound of the SDK's first backoff; the SDK doubles it, with jitter, per attempt.
    pub initial_backoff: Duration,
    /// Upper bound of any one SDK backoff.
    pub max_backoff: Duration,
}

impl Default for ClientSettings {
    /// Single-item calls take a few milliseconds, so 2 s per attempt is generous. Three attempts
    /// within 5 s leave an API Gateway request, which times out at 29 s, room for a store call
    /// with its retries and the rest of the handler.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(5),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
        }
    }
}

impl ClientSettings {
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.operation_timeout)
            .build()
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    /// Applies these settings on top of `builder`, replacing its timeouts and retries.
    pub fn apply(
        &self,
        builder: aws_sdk_dynamodb::config::Builder,
    ) -> aws_sdk_dynamodb::config::Builder {
        builder
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
    }

    /// Builds a client from shared AWS configuration (region, credentials, endpoint URL) with
    /// these timeouts and retries.
    pub fn client(&self, shared: &SdkConfig) -> Client {
        let config = self.apply(aws_sdk_dynamodb::config::Builder::from(shared));
        Client::from_conf(config.build())
    }
}
