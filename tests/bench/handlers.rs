//! Part 1: handler overhead per operation. Each operation runs through its real handler as
//! lambda_http runs it inside a function: API Gateway event JSON in, response JSON out, in
//! this process. It also runs as the raw DynamoDB calls that the handler makes
//! ([`FloorCalls`]), one request at a time, alternating with the handler.

use crate::calls::CallLog;
use crate::events::http_event;
use crate::fixture::Fixture;
use crate::floor::{FloorCalls, StoredItems};
use crate::policy_render;
use crate::report::{PartResult, Table};
use crate::stats::{format_ns, summarize, Summary};
use crate::Scale;
use endpoint_core::check::{AwsConnectionTester, TesterOptions};
use endpoint_core::clock::{SystemClock, UlidGenerator};
use endpoint_core::config::AuthConfig;
use endpoint_core::handlers::create::{self, CreateApp};
use endpoint_core::handlers::list::{self, ListApp};
use endpoint_core::handlers::policy::{self, PolicyApp};
use endpoint_core::policy::PlatformIdentity;
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use lambda_http::request::LambdaRequest;
use lambda_http::tower::Service;
use lambda_http::{service_fn, Adapter, Body, Context, LambdaEvent, Request, Response};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_P50_OVERHEAD: f64 = 0.10;
const MAX_P99_OVERHEAD: f64 = 0.25;

/// `PLATFORM_NAME` of render-policy, the template's default.
const PLATFORM_NAME: &str = "CostPlatform";

/// Page size of the list operation.
const LIST_LIMIT: usize = 50;

/// The operations, in the order of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Create,
    Get,
    List,
    Delete,
    PolicyRender,
    ExternalId,
}

const OPERATIONS: [Operation; 6] = [
    Operation::Create,
    Operation::Get,
    Operation::List,
    Operation::Delete,
    Operation::PolicyRender,
    Operation::ExternalId,
];

impl Operation {
    fn label(self) -> &'static str {
        match self {
            Self::Create => "create (test skipped)",
            Self::Get => "get",
            Self::List => "list of 50",
            Self::Delete => "delete",
            Self::PolicyRender => "policy render",
            Self::ExternalId => "External ID",
        }
    }

    fn index(self) -> usize {
        OPERATIONS
            .iter()
            .position(|&operation| operation == self)
            .unwrap_or(0)
    }
}

/// The functions' state, built as the function mains build it.
struct Apps {
    create: CreateApp,
    list: ListApp,
    policy: PolicyApp,
}

/// Latency samples of one operation, through the handler and through the floor.
#[derive(Debug, Default)]
struct Samples {
    handler: Vec<Duration>,
    floor: Vec<Duration>,
    errors: Vec<String>,
    /// SDK operations each path sent in the checked iteration.
    handler_calls: Vec<String>,
    floor_calls: Vec<String>,
}

/// What one handler call returned: the status and body of the API Gateway response.
struct HandlerOutput {
    status: u16,
    body: Value,
}

type Timed<T> = (Duration, Result<T, String>);

pub async fn run(fixture: &Fixture, scale: &Scale) -> PartResult {
    let mut part = PartResult::new("handlers", "Handler overhead", &method(scale));
    match policy_render::measure(scale.render_iterations) {
        Ok(result) => {
            policy_render::describe(&mut part, &result);
            part.raw = json!({ "policy_render": policy_render::raw(&result) });
        }
        Err(error) => part.not_measured("policy render throughput", &error),
    }

    let measured = match measure(fixture, scale).await {
        Ok(samples) => samples,
        Err(error) => {
            part.not_measured("handler overhead", &error);
            return part;
        }
    };
    describe(&mut part, &measured);
    part
}

fn method(scale: &Scale) -> String {
    format!(
        "Each operation runs {} times through its handler and as many times as the raw \
         DynamoDB calls that the handler makes, one request at a time, with the first {} \
         iterations not recorded. Every iteration runs both paths, handler first in even \
         iterations and floor first in odd ones, so that drift hits both alike. *Handler* is \
         the path that lambda_http runs inside a function: parse the API Gateway (HTTP API \
         2.0) event JSON into a `LambdaRequest`, call the handler through \
         `lambda_http::Adapter`, serialize the response JSON. *Floor* is the same DynamoDB \
         operations on items of the same shape and size, with the same client \
         (`ClientSettings::default()` and one HTTP client), written out in \
         `tests/bench/floor.rs`. *SDK calls* lists what each path sent in one extra \
         iteration, recorded by an SDK interceptor. Create runs with `?skip_test=true`; \
         delete removes the endpoint that the same iteration created. Percentiles are \
         nearest-rank, and overhead is handler / floor - 1. The handlers' log events reach \
         no subscriber here, while a deployed function writes them to stdout.",
        scale.handler_iterations,
        warmup_iterations(scale.handler_iterations)
    )
}

fn warmup_iterations(iterations: usize) -> usize {
    (iterations / 20).max(2)
}

async fn measure(fixture: &Fixture, scale: &Scale) -> Result<Vec<Samples>, String> {
    let client = ClientSettings::default().client(&crate::fixture::shared_http_config());
    let apps = build_apps(fixture, client.clone())?;
    let template = create_template(&apps, fixture, &client).await?;
    let floor = FloorCalls::new(client, fixture, template.clone());

    let mut samples: Vec<Samples> = OPERATIONS.iter().map(|_| Samples::default()).collect();
    let warmup = warmup_iterations(scale.handler_iterations);
    for iteration in 0..warmup + scale.handler_iterations {
        let mut scratch: Vec<Samples> = OPERATIONS.iter().map(|_| Samples::default()).collect();
        let target = if iteration < warmup {
            &mut scratch
        } else {
            &mut samples
        };
        run_iteration(&apps, &floor, fixture, iteration, target, None).await;
    }

    let (log, logged_client) = CallLog::client(&crate::fixture::shared_http_config());
    let logged_apps = build_apps(fixture, logged_client.clone())?;
    let logged_floor = FloorCalls::new(logged_client, fixture, template);
    // Numbers past the measured iterations keep the names and prefixes unique.
    let iteration = warmup + scale.handler_iterations;
    run_iteration(
        &logged_apps,
        &logged_floor,
        fixture,
        iteration,
        &mut samples,
        Some(&log),
    )
    .await;
    Ok(samples)
}

fn build_apps(fixture: &Fixture, client: aws_sdk_dynamodb::Client) -> Result<Apps, String> {
    let store = Arc::new(DynamoStore::new(client, fixture.table.clone()));
    let auth = AuthConfig::default();
    let principal = s3_endpoints::stack().platform_principal_arn.clone();
    let tester = AwsConnectionTester::new(
        &crate::fixture::shared_http_config(),
        TesterOptions::new(principal.clone()),
    );
    let platform =
        PlatformIdentity::new(&principal, PLATFORM_NAME).map_err(|error| error.to_string())?;
    Ok(Apps {
        create: CreateApp {
            store: store.clone(),
            tester: Arc::new(tester),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UlidGenerator),
            auth: auth.clone(),
        },
        list: ListApp {
            store: store.clone(),
            auth: auth.clone(),
        },
        policy: PolicyApp {
            store,
            auth,
            platform,
        },
    })
}

/// Creates one endpoint through the handler and reads back its items, which the floor copies.
async fn create_template(
    apps: &Apps,
    fixture: &Fixture,
    client: &aws_sdk_dynamodb::Client,
) -> Result<StoredItems, String> {
    let (name, prefix) = ("Bench template", "bench-template/");
    let event = create_event(fixture, name, prefix);
    let (_, output) = time_handler(&event, |request| create::handle(&apps.create, request)).await;
    let output = expect_status(output, 201)?;
    let id = created_id(&output).ok_or("the create response has no id")?;
    StoredItems::read(client, fixture, &id, name, prefix).await
}

/// Runs every operation once through each path. Without `log`, adds the timings to
/// `samples`. With it, records only the SDK calls of each path.
async fn run_iteration(
    apps: &Apps,
    floor: &FloorCalls,
    fixture: &Fixture,
    iteration: usize,
    samples: &mut [Samples],
    log: Option<&CallLog>,
) {
    // Alternating which path goes first cancels any advantage of going second, such as a
    // connection or cache that the first one warmed.
    let order = Order {
        handler_first: iteration.is_multiple_of(2),
        log,
    };
    let tenant = fixture.tenant.as_str();
    let tag = format!("{iteration:05}");

    let event = create_event(
        fixture,
        &format!("Bench h{tag}"),
        &format!("bench-h-{tag}/"),
    );
    let (handler, floor_endpoint) = order
        .run(
            &mut samples[Operation::Create.index()],
            time_handler(&event, |request| create::handle(&apps.create, request)),
            time_floor(floor.create(&format!("Bench f{tag}"), &format!("bench-f-{tag}/"))),
            201,
        )
        .await;
    let handler_id = handler.and_then(|output| created_id(&output));

    if let (Some(id), Some(floor_endpoint)) = (&handler_id, &floor_endpoint) {
        let event = encode(http_event(
            "GET",
            &format!("/endpoints/{id}"),
            "",
            None,
            tenant,
        ));
        order
            .run(
                &mut samples[Operation::Get.index()],
                time_handler(&event, |request| list::handle(&apps.list, request)),
                time_floor(floor.get_endpoint(floor_endpoint)),
                200,
            )
            .await;
    }

    let query = format!("limit={LIST_LIMIT}");
    let event = encode(http_event("GET", "/endpoints", &query, None, tenant));
    order
        .run(
            &mut samples[Operation::List.index()],
            time_handler(&event, |request| list::handle(&apps.list, request)),
            time_floor(floor.list(LIST_LIMIT)),
            200,
        )
        .await;

    let body = fixture.policy_body("data/", "read_write");
    let event = encode(http_event("POST", "/policies", "", Some(&body), tenant));
    order
        .run(
            &mut samples[Operation::PolicyRender.index()],
            time_handler(&event, |request| policy::handle(&apps.policy, request)),
            time_floor(floor.external_id()),
            200,
        )
        .await;

    let event = encode(http_event("GET", "/external-id", "", None, tenant));
    order
        .run(
            &mut samples[Operation::ExternalId.index()],
            time_handler(&event, |request| policy::handle(&apps.policy, request)),
            time_floor(floor.external_id()),
            200,
        )
        .await;

    if let (Some(id), Some(floor_endpoint)) = (&handler_id, &floor_endpoint) {
        let event = encode(http_event(
            "DELETE",
            &format!("/endpoints/{id}"),
            "",
            None,
            tenant,
        ));
        order
            .run(
                &mut samples[Operation::Delete.index()],
                time_handler(&event, |request| create::handle(&apps.create, request)),
                time_floor(floor.delete(floor_endpoint)),
                204,
            )
            .await;
    }
}

/// How one iteration runs its pairs of handler and floor calls.
struct Order<'a> {
    handler_first: bool,
    log: Option<&'a CallLog>,
}

impl Order<'_> {
    /// Runs `handler` and `floor`, records them in `samples`, and returns the handler's
    /// output when it had status `expected`, and the floor's value when it succeeded.
    async fn run<T>(
        &self,
        samples: &mut Samples,
        handler: impl Future<Output = Timed<HandlerOutput>>,
        floor: impl Future<Output = Timed<T>>,
        expected: u16,
    ) -> (Option<HandlerOutput>, Option<T>) {
        if let Some(log) = self.log {
            log.clear();
            let (_, handler) = handler.await;
            samples.handler_calls = log.take();
            let (_, floor) = floor.await;
            samples.floor_calls = log.take();
            return (expect_status(handler, expected).ok(), floor.ok());
        }

        let (handler, floor) = if self.handler_first {
            let handler = handler.await;
            (handler, floor.await)
        } else {
            let floor = floor.await;
            (handler.await, floor)
        };
        let (handler_time, handler) = handler;
        let (floor_time, floor) = floor;
        let handler = match expect_status(handler, expected) {
            Ok(output) => Some(output),
            Err(error) => {
                samples.errors.push(format!("handler: {error}"));
                None
            }
        };
        let floor = match floor {
            Ok(value) => Some(value),
            Err(error) => {
                samples.errors.push(format!("floor: {error}"));
                None
            }
        };
        // A pair counts only when both paths did their work, so that errors, which are
        // faster or slower than successes, skew neither side.
        if handler.is_some() && floor.is_some() {
            samples.handler.push(handler_time);
            samples.floor.push(floor_time);
        }
        (handler, floor)
    }
}

async fn time_handler<F, Fut>(event: &[u8], handler: F) -> Timed<HandlerOutput>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, lambda_http::Error>> + Send,
{
    let started = Instant::now();
    let result = through_lambda_http(event, handler).await;
    let elapsed = started.elapsed();
    // Reading the status back is not part of what a function does, so it is not timed.
    (elapsed, result.and_then(|bytes| parse_response(&bytes)))
}

async fn time_floor<T>(call: impl Future<Output = Result<T, String>>) -> Timed<T> {
    let started = Instant::now();
    let result = call.await;
    (started.elapsed(), result)
}

/// Does what `lambda_http::run` does with one event: deserialize it, call the handler
/// through lambda_http's adapter, and serialize the response.
async fn through_lambda_http<F, Fut>(event: &[u8], handler: F) -> Result<Vec<u8>, String>
where
    F: FnMut(Request) -> Fut,
    Fut: Future<Output = Result<Response<Body>, lambda_http::Error>> + Send,
{
    let request: LambdaRequest =
        serde_json::from_slice(event).map_err(|error| format!("invalid event: {error}"))?;
    let mut adapter = Adapter::from(service_fn(handler));
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .map_err(|error| format!("the handler returned an error: {error}"))?;
    serde_json::to_vec(&response)
        .map_err(|error| format!("serializing the response failed: {error}"))
}

fn parse_response(bytes: &[u8]) -> Result<HandlerOutput, String> {
    let response: Value =
        serde_json::from_slice(bytes).map_err(|error| format!("invalid response JSON: {error}"))?;
    let status = response
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|code| u16::try_from(code).ok())
        .ok_or("the response has no statusCode")?;
    let body = response
        .get("body")
        .and_then(Value::as_str)
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    Ok(HandlerOutput { status, body })
}

fn expect_status(
    output: Result<HandlerOutput, String>,
    expected: u16,
) -> Result<HandlerOutput, String> {
    let output = output?;
    if output.status == expected {
        return Ok(output);
    }
    Err(format!(
        "status {} instead of {expected}: {}",
        output.status, output.body
    ))
}

/// Reads the id from a create response, `{"endpoint": {"id": ...}, "test": ...}`.
fn created_id(output: &HandlerOutput) -> Option<String> {
    output
        .body
        .get("endpoint")?
        .get("id")?
        .as_str()
        .map(str::to_owned)
}

fn create_event(fixture: &Fixture, name: &str, prefix: &str) -> Vec<u8> {
    let body = fixture.body(Some(name), prefix, "read_only");
    let tenant = fixture.tenant.as_str();
    encode(http_event(
        "POST",
        "/endpoints",
        "skip_test=true",
        Some(&body),
        tenant,
    ))
}

fn encode(event: Value) -> Vec<u8> {
    event.to_string().into_bytes()
}

fn describe(part: &mut PartResult, measured: &[Samples]) {
    let mut rows = Vec::new();
    let mut raw = Vec::new();
    for (operation, samples) in OPERATIONS.iter().zip(measured) {
        let (Some(handler), Some(floor)) = (summarize(&samples.handler), summarize(&samples.floor))
        else {
            let reason = samples
                .errors
                .first()
                .cloned()
                .unwrap_or_else(|| "no iteration ran".to_owned());
            part.not_measured(
                &format!("handler overhead of {}", operation.label()),
                &reason,
            );
            continue;
        };
        rows.push(overhead_row(*operation, samples, &handler, &floor));
        check_overhead(part, *operation, &handler, &floor);
        raw.push(json!({
            "operation": operation.label(),
            "handler": handler,
            "floor": floor,
            "errors": samples.errors.len(),
            "first_error": samples.errors.first(),
            "handler_calls": samples.handler_calls,
            "floor_calls": samples.floor_calls,
        }));
    }
    part.tables.push(Table {
        caption: "Handler against the raw DynamoDB calls, one request at a time:".to_owned(),
        columns: [
            "Operation",
            "Pairs",
            "Handler p50 / p99",
            "Floor p50 / p99",
            "Overhead p50",
            "Overhead p99",
            "SDK calls (handler; floor)",
            "Errors",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    });
    if let Value::Object(map) = &mut part.raw {
        map.insert("operations".to_owned(), Value::Array(raw));
    } else {
        part.raw = json!({ "operations": raw });
    }
}

fn overhead(value: u64, floor: u64) -> f64 {
    if floor == 0 {
        return f64::INFINITY;
    }
    value as f64 / floor as f64 - 1.0
}

fn overhead_row(
    operation: Operation,
    samples: &Samples,
    handler: &Summary,
    floor: &Summary,
) -> Vec<String> {
    vec![
        operation.label().to_owned(),
        handler.count.to_string(),
        format!(
            "{} / {}",
            format_ns(handler.p50_ns),
            format_ns(handler.p99_ns)
        ),
        format!("{} / {}", format_ns(floor.p50_ns), format_ns(floor.p99_ns)),
        format!("{:+.1}%", overhead(handler.p50_ns, floor.p50_ns) * 100.0),
        format!("{:+.1}%", overhead(handler.p99_ns, floor.p99_ns) * 100.0),
        format!(
            "{}; {}",
            samples.handler_calls.join(", "),
            samples.floor_calls.join(", ")
        ),
        samples.errors.len().to_string(),
    ]
}

fn check_overhead(part: &mut PartResult, operation: Operation, handler: &Summary, floor: &Summary) {
    let p50 = overhead(handler.p50_ns, floor.p50_ns);
    let p99 = overhead(handler.p99_ns, floor.p99_ns);
    part.check(
        format!("{} overhead p50", operation.label()),
        "<= 10%",
        format!("{:+.1}%", p50 * 100.0),
        p50 <= MAX_P50_OVERHEAD,
    );
    part.check(
        format!("{} overhead p99", operation.label()),
        "<= 25%",
        format!("{:+.1}%", p99 * 100.0),
        p99 <= MAX_P99_OVERHEAD,
    );
}
