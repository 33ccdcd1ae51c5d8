//! The request handling every HTTP function shares: the caller from the authorizer context,
//! routing, JSON bodies, query parameters, problem details and structured request logs.

mod auth;
mod body;
mod error;
mod query;
mod response;
mod route;

pub use auth::{authenticate, Caller, LAMBDA_TENANT_KEY};
pub use body::{parse_and_validate, parse_json_body, reject_body, JsonBody, MAX_BODY_BYTES};
pub use error::{
    endpoint_not_found, ApiError, Conflict, ConflictingEndpoint, Problem,
    IN_PROGRESS_RETRY_AFTER_SECS, PROBLEM_TYPE_PREFIX, UNAVAILABLE_RETRY_AFTER_SECS,
};
pub use query::QueryParams;
pub use response::{Reply, IDEMPOTENT_REPLAYED, JSON, PROBLEM_JSON};
pub use route::{resolve, route_path, PathParams, Route};

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::Empty;
use tracing::{error, info, warn, Instrument, Span};

/// Runs `work` inside a span that carries the request id, and turns its result into the
/// response: an [`ApiError`] becomes problem details and is logged with its source.
///
/// Handlers record `tenant` and `endpoint_id` on the span once they know them, through
/// [`record_tenant`] and [`record_endpoint`]. Bodies, headers and tokens are never logged.
pub async fn respond(
    request: &Request,
    work: impl Future<Output = Result<Reply, ApiError>>,
) -> Response<Body> {
    let span = tracing::info_span!(
        "request",
        request_id = %request_id(request),
        method = %request.method(),
        path = %route_path(request),
        tenant = Empty,
        endpoint_id = Empty,
    );
    async move {
        let reply = match work.await {
            Ok(reply) => reply,
            Err(failure) => {
                log_failure(&failure);
                failure.to_reply()
            }
        };
        info!(status = reply.status.as_u16(), "request completed");
        reply.into_response()
    }
    .instrument(span)
    .await
}

/// Logs a failed request. Client errors are logged by problem type and field names only,
/// because their details echo values from the request body.
fn log_failure(failure: &ApiError) {
    let status = failure.status().as_u16();
    if failure.is_server_error() {
        error!(status, error = %error_chain(failure), "request failed");
        return;
    }
    let problem = failure.problem();
    let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
    if status == 401 {
        warn!(status, problem = %problem.problem_type, reason = %problem.detail, "request rejected");
    } else {
        info!(status, problem = %problem.problem_type, fields = ?fields, "request rejected");
    }
}

/// Formats an error and its sources, which the log shows and the response never does.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Records the caller's tenant on the request span.
pub fn record_tenant(caller: &Caller) {
    Span::current().record("tenant", caller.tenant.as_str());
}

/// Records the endpoint the request concerns on the request span.
pub fn record_endpoint(id: &impl std::fmt::Display) {
    Span::current().record("endpoint_id", tracing::field::display(id));
}

/// Returns API Gateway's request id, else the Lambda invocation's, else `-`.
pub fn request_id(request: &Request) -> String {
    let gateway_id = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => context.request_id.clone(),
        Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
        _ => None,
    };
    gateway_id
        .or_else(|| {
            request
                .lambda_context_ref()
                .map(|context| context.request_id.clone())
        })
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "-".to_owned())
}

/// Returns the time left before the Lambda invocation's deadline, or `None` outside Lambda.
pub fn time_left(request: &Request) -> Option<Duration> {
    let deadline_ms = request.lambda_context_ref()?.deadline;
    if deadline_ms == 0 {
        return None;
    }
    let deadline = UNIX_EPOCH + Duration::from_millis(deadline_ms);
    Some(
        deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}
