//! The four HTTP functions, built from the environment the way their `main` functions build
//! them in Lambda, and the check that every AWS endpoint of that environment is local.

use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use endpoint_core::check::{AwsConnectionTester, TesterOptions};
use endpoint_core::clock::{SystemClock, UlidGenerator};
use endpoint_core::config::{self, ConfigError, HttpConfig, PolicyConfig, TesterConfig};
use endpoint_core::handlers::create::CreateApp;
use endpoint_core::handlers::list::ListApp;
use endpoint_core::handlers::policy::PolicyApp;
use endpoint_core::handlers::test::TestApp;
use endpoint_core::handlers::{create, list, policy, test};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use lambda_http::{Body, Request, Response};

use super::gateway::Functions;
use super::routes::Function;

/// Variables that must point at a loopback address before the server talks to AWS services,
/// so that it only ever reaches the local stack.
pub const ENDPOINT_VARIABLES: [&str; 5] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
];

/// Why the functions could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "{name} is {value:?}, but the local API server only talks to a local stack on a \
         loopback address: run scripts/stack.sh start and source .local/stack.env"
    )]
    NotLocal { name: &'static str, value: String },

    #[error(
        "AWS_EC2_METADATA_DISABLED must be true, so that the SDK never asks the instance \
         metadata service for credentials"
    )]
    MetadataEnabled,

    #[error("{function} cannot start: {source}")]
    Config {
        function: &'static str,
        source: ConfigError,
    },
}

/// The handlers of render-policy, test-endpoint, create-endpoint and list-endpoints.
pub struct LambdaFunctions {
    pub policy: PolicyApp,
    pub test: TestApp,
    pub create: CreateApp,
    pub list: ListApp,
}

impl LambdaFunctions {
    /// Builds the handlers from the environment with the settings of each function's `main`:
    /// the same configuration types, DynamoDB client settings, platform role and tester
    /// options. Fails unless every AWS endpoint variable names a loopback address.
    pub async fn from_env() -> Result<Self, SetupError> {
        let lookup = |name: &str| std::env::var(name).ok();
        check_local_environment(&lookup)?;
        let aws = endpoint_core::sdk::load_from_env()
            .await
            .map_err(config_error("local-api"))?;
        Self::from_lookup(&lookup, &aws).await
    }

    /// Builds the handlers with settings read through `lookup` and AWS clients from `aws`,
    /// which must reach only the local stack.
    pub async fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
        aws: &SdkConfig,
    ) -> Result<Self, SetupError> {
        let policy_config =
            PolicyConfig::from_lookup(lookup).map_err(config_error("render-policy"))?;
        let tester_config =
            TesterConfig::from_lookup(lookup).map_err(config_error("test-endpoint"))?;
        let list_config =
            HttpConfig::from_lookup(lookup).map_err(config_error("list-endpoints"))?;

        let store = |table: &str| {
            let dynamodb = ClientSettings::default().client(aws);
            Arc::new(DynamoStore::new(dynamodb, table.to_owned()))
        };
        let tester = |function_name: &'static str| {
            let principal = tester_config.platform_principal_arn.clone();
            async move {
                let platform = config::platform_role_config(aws, &principal, function_name).await;
                let options = TesterOptions::new(principal.as_str());
                Arc::new(AwsConnectionTester::new(&platform, options))
            }
        };

        Ok(Self {
            policy: PolicyApp {
                store: store(&policy_config.http.table_name),
                auth: policy_config.http.auth,
                platform: policy_config.platform,
            },
            test: TestApp {
                store: store(&tester_config.http.table_name),
                tester: tester("test-endpoint").await,
                clock: Arc::new(SystemClock),
                auth: tester_config.http.auth.clone(),
            },
            create: CreateApp {
                store: store(&tester_config.http.table_name),
                tester: tester("create-endpoint").await,
                clock: Arc::new(SystemClock),
                ids: Arc::new(UlidGenerator),
                auth: tester_config.http.auth.clone(),
            },
            list: ListApp {
                store: store(&list_config.table_name),
                auth: list_config.auth,
            },
        })
    }
}

#[async_trait]
impl Functions for LambdaFunctions {
    async fn invoke(
        &self,
        function: Function,
        request: Request,
    ) -> Result<Response<Body>, lambda_http::Error> {
        match function {
            Function::RenderPolicy => policy::handle(&self.policy, request).await,
            Function::TestEndpoint => test::handle(&self.test, request).await,
            Function::CreateEndpoint => create::handle(&self.create, request).await,
            Function::ListEndpoints => list::handle(&self.list, request).await,
        }
    }
}

/// Fails unless every variable of [`ENDPOINT_VARIABLES`] is an `http://` URL of a loopback
/// address and the instance metadata service is disabled.
pub fn check_local_environment(lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), SetupError> {
    for name in ENDPOINT_VARIABLES {
        let value = lookup(name).unwrap_or_default();
        if !is_loopback_url(&value) {
            return Err(SetupError::NotLocal { name, value });
        }
    }
    if lookup("AWS_EC2_METADATA_DISABLED").as_deref() != Some("true") {
        return Err(SetupError::MetadataEnabled);
    }
    Ok(())
}

fn is_loopback_url(url: &str) -> bool {
    ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
}

fn config_error(function: &'static str) -> impl Fn(ConfigError) -> SetupError {
    move |source| SetupError::Config { function, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn local_environment() -> HashMap<&'static str, String> {
        let mut variables: HashMap<&'static str, String> = ENDPOINT_VARIABLES
            .iter()
            .map(|name| (*name, "http://127.0.0.1:4566".to_owned()))
            .collect();
        variables.insert("AWS_EC2_METADATA_DISABLED", "true".to_owned());
        variables
    }

    fn check(variables: &HashMap<&'static str, String>) -> Result<(), SetupError> {
        check_local_environment(&|name| variables.get(name).cloned())
    }

    #[test]
    fn local_environment_passes() {
        assert!(check(&local_environment()).is_ok());
    }

    #[test]
    fn local_environment_rejects_remote_endpoint() {
        for name in ENDPOINT_VARIABLES {
            let mut variables = local_environment();
            variables.insert(name, "http://192.0.2.1:4566".to_owned());
            let result = check(&variables);
            assert!(
                matches!(result, Err(SetupError::NotLocal { name: rejected, .. }) if rejected == name),
                "{name}: {result:?}"
            );
        }
    }

    #[test]
    fn local_environment_rejects_missing_endpoint() {
        let mut variables = local_environment();
        variables.remove("AWS_ENDPOINT_URL_STS");

        assert!(matches!(
            check(&variables),
            Err(SetupError::NotLocal {
                name: "AWS_ENDPOINT_URL_STS",
                ..
            })
        ));
    }

    #[test]
    fn local_environment_requires_metadata_off() {
        let mut variables = local_environment();
        variables.insert("AWS_EC2_METADATA_DISABLED", "false".to_owned());

        assert!(matches!(
            check(&variables),
            Err(SetupError::MetadataEnabled)
        ));
    }
}
