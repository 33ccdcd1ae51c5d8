//! Part 2: connection test and revalidation throughput.

use crate::fixture::Fixture;
use crate::report::PartResult;
use crate::Scale;

pub async fn run(_fixture: &Fixture, _scale: &Scale) -> PartResult {
    let mut part = PartResult::new(
        "tester",
        "Connection test and revalidation throughput",
        "Endpoints tested per second at concurrency 1, 8 and 32.",
    );
    part.not_measured(
        "connection test and revalidation throughput",
        "the connection tester and revalidation are not in this build",
    );
    part
}
