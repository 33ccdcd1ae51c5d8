//! Part 1: handler overhead per operation, and policy rendering on one thread.

use crate::fixture::Fixture;
use crate::policy_render;
use crate::report::PartResult;
use crate::Scale;
use serde_json::json;

pub async fn run(_fixture: &Fixture, scale: &Scale) -> PartResult {
    let mut part = PartResult::new(
        "handlers",
        "Handler overhead",
        "Policy rendering runs on one thread in the benchmark process. Each call is timed with \
         `Instant`, and throughput is calls divided by the loop's total time.",
    );
    match policy_render::measure(scale.render_iterations) {
        Ok(result) => {
            policy_render::describe(&mut part, &result);
            part.raw = json!({ "policy_render": policy_render::raw(&result) });
        }
        Err(error) => part.not_measured("policy render", &error),
    }
    part.not_measured(
        "handler overhead of create, get, list, delete, policy render and External ID",
        "the HTTP handlers are not in this build",
    );
    part
}
