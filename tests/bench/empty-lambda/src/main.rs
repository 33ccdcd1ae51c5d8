//! A Lambda function that returns its event unchanged. The benchmarks compare each function
//! binary with this one, built with the same profile, to separate the cost of the runtime
//! client and the Tokio runtime from the cost of the functions' own start-up.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(echo)).await
}

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}
