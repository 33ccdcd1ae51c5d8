//! render-policy: `GET /external-id` and `POST /policies`.

use endpoint_core::config::PolicyConfig;
use endpoint_core::handlers::policy::{handle, PolicyApp};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use lambda_http::{service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_FORMAT (JSON) and AWS_LAMBDA_LOG_LEVEL.
    lambda_http::tracing::init_default_subscriber();

    let config = PolicyConfig::from_env().inspect_err(|error| {
        tracing::error!(error = %error, "render-policy cannot start");
    })?;
    let aws = endpoint_core::sdk::load_from_env()
        .await
        .inspect_err(|error| {
            tracing::error!(error = %error, "render-policy cannot start");
        })?;
    let dynamodb = ClientSettings::default().client(&aws);

    let app = PolicyApp {
        store: Arc::new(DynamoStore::new(dynamodb, config.http.table_name)),
        auth: config.http.auth,
        platform: config.platform,
    };
    lambda_http::run(service_fn(|request: Request| handle(&app, request))).await
}
