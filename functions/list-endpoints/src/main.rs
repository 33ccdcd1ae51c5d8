//! list-endpoints: `GET /endpoints` and `GET /endpoints/{id}`.

use endpoint_core::config::HttpConfig;
use endpoint_core::handlers::list::{handle, ListApp};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use lambda_http::{service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_FORMAT (JSON) and AWS_LAMBDA_LOG_LEVEL.
    lambda_http::tracing::init_default_subscriber();

    let config = HttpConfig::from_env().inspect_err(|error| {
        tracing::error!(error = %error, "list-endpoints cannot start");
    })?;
    let aws = endpoint_core::sdk::load_from_env()
        .await
        .inspect_err(|error| {
            tracing::error!(error = %error, "list-endpoints cannot start");
        })?;
    let dynamodb = ClientSettings::default().client(&aws);

    let app = ListApp {
        store: Arc::new(DynamoStore::new(dynamodb, config.table_name)),
        auth: config.auth,
    };
    lambda_http::run(service_fn(|request: Request| handle(&app, request))).await
}
