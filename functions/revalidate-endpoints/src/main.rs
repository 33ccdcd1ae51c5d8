//! revalidate-endpoints: tests every saved endpoint on a schedule, records its health and
//! announces each change on EventBridge. This file only wires the parts together; the run is
//! in `endpoint_core::revalidate`.

use endpoint_core::config::platform_role_config;
use endpoint_core::revalidate::{aws_services, handle, RevalidateConfig, Revalidator};
use endpoint_core::store::dynamo::ClientSettings;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Honours AWS_LAMBDA_LOG_FORMAT (JSON in the template) and AWS_LAMBDA_LOG_LEVEL, which
    // Lambda sets from the function's logging configuration.
    lambda_runtime::tracing::init_default_subscriber();

    let config = RevalidateConfig::from_env().inspect_err(|error| {
        tracing::error!(%error, "invalid configuration; the function cannot start");
    })?;
    let sdk_config = endpoint_core::sdk::load_from_env()
        .await
        .inspect_err(|error| {
            tracing::error!(%error, "invalid configuration; the function cannot start");
        })?;
    let platform_config = platform_role_config(
        &sdk_config,
        &config.platform_principal_arn,
        "revalidate-endpoints",
    )
    .await;
    let services = aws_services(
        &config,
        &sdk_config,
        &platform_config,
        &ClientSettings::default(),
    );
    let revalidator = Revalidator::new(services, config.settings());
    tracing::info!(
        table = %config.table_name,
        event_bus = %config.event_bus_name,
        concurrency = config.concurrency,
        sts_max_requests_per_second = config.sts_max_requests_per_second.get(),
        "revalidate-endpoints initialized"
    );

    let revalidator = &revalidator;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        handle(revalidator, event).await
    }))
    .await
}
