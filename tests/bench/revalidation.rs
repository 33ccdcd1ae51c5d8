//! Revalidation throughput, reported with the connection test in part 2.

use crate::fixture::Fixture;
use crate::report::PartResult;
use crate::Scale;

pub async fn run(_fixture: &Fixture, _scale: &Scale, part: &mut PartResult) -> serde_json::Value {
    part.not_measured(
        "revalidation throughput",
        "revalidation is not in this build",
    );
    serde_json::Value::Null
}
