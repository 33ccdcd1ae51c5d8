//! create-endpoint: `POST /endpoints` and `DELETE /endpoints/{id}`.

use endpoint_core::check::{AwsConnectionTester, TesterOptions};
use endpoint_core::clock::{SystemClock, UlidGenerator};
use endpoint_core::config::{self, TesterConfig};
use endpoint_core::handlers::create::{handle, CreateApp};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use lambda_http::{service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_FORMAT (JSON) and AWS_LAMBDA_LOG_LEVEL.
    lambda_http::tracing::init_default_subscriber();

    let config = TesterConfig::from_env().inspect_err(|error| {
        tracing::error!(error = %error, "create-endpoint cannot start");
    })?;
    let aws = endpoint_core::sdk::load_from_env()
        .await
        .inspect_err(|error| {
            tracing::error!(error = %error, "create-endpoint cannot start");
        })?;
    let dynamodb = ClientSettings::default().client(&aws);
    let platform =
        config::platform_role_config(&aws, &config.platform_principal_arn, "create-endpoint").await;
    let options = TesterOptions::new(config.platform_principal_arn.as_str());

    let app = CreateApp {
        store: Arc::new(DynamoStore::new(dynamodb, config.http.table_name)),
        tester: Arc::new(AwsConnectionTester::new(&platform, options)),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UlidGenerator),
        auth: config.http.auth,
    };
    lambda_http::run(service_fn(|request: Request| handle(&app, request))).await
}
