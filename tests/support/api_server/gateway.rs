//! The part of API Gateway that the local server imitates: route selection, the JWT
//! authorizer, the event sent to the function, and the gateway's own error responses.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use lambda_http::{Body, Request, Response};
use time::OffsetDateTime;
use tracing::{error, info, warn};

use super::event::{build_event, lambda_request, GatewayFacts, HttpRequest};
use super::routes::{find_route, Function};
use super::token::TokenKey;

/// The Lambda handlers behind the routes.
#[async_trait]
pub trait Functions: Send + Sync + 'static {
    /// Calls the handler of `function` with `request`, as the function's runtime does.
    async fn invoke(
        &self,
        function: Function,
        request: Request,
    ) -> Result<Response<Body>, lambda_http::Error>;
}

/// A response as the client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Returns the first value of the header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Routes requests to `functions` behind a JWT check with `key`.
pub struct Gateway {
    key: TokenKey,
    functions: Arc<dyn Functions>,
    server: std::net::SocketAddr,
}

impl Gateway {
    /// Creates a gateway for a server listening on `server`.
    pub fn new(key: TokenKey, functions: Arc<dyn Functions>, server: std::net::SocketAddr) -> Self {
        Self {
            key,
            functions,
            server,
        }
    }

    /// Handles one request and logs its method, path, status and latency. Headers and bodies
    /// are never logged, because they carry tokens.
    pub async fn handle(&self, request: HttpRequest) -> HttpResponse {
        let request_id = ulid::Ulid::generate().to_string();
        let started = Instant::now();
        let response = self.route(&request, &request_id).await;
        info!(
            request_id,
            method = %request.method,
            path = request.path_and_query().0,
            status = response.status,
            latency_ms = started.elapsed().as_millis() as u64,
            "request completed"
        );
        response
    }

    async fn route(&self, request: &HttpRequest, request_id: &str) -> HttpResponse {
        let (path, _) = request.path_and_query();
        let Some(found) = find_route(&request.method, path) else {
            return gateway_error(404, "Not Found", request_id);
        };

        let claims = match self.key.verify(request.header("authorization")) {
            Ok(claims) => claims,
            Err(reason) => {
                warn!(request_id, %reason, "the authorizer rejected the request");
                return gateway_error(401, "Unauthorized", request_id);
            }
        };

        let facts = GatewayFacts {
            request_id: request_id.to_owned(),
            received_at: OffsetDateTime::now_utc(),
            server: self.server,
            claims,
        };
        let function = found.route.function;
        let converted = build_event(request, &found, &facts)
            .and_then(|event| lambda_request(&event, request_id, function.timeout()));
        let lambda_request = match converted {
            Ok(lambda_request) => lambda_request,
            Err(reason) => {
                warn!(request_id, %reason, "the request cannot become an event");
                return gateway_error(400, "Bad Request", request_id);
            }
        };

        self.invoke(function, lambda_request, request_id).await
    }

    /// Runs the handler in its own task, so that a panic in it becomes the 500 that API
    /// Gateway returns for a crashed function, and a handler past the function's timeout
    /// is cut off as Lambda would.
    async fn invoke(&self, function: Function, request: Request, request_id: &str) -> HttpResponse {
        let functions = Arc::clone(&self.functions);
        let task = tokio::spawn(async move { functions.invoke(function, request).await });
        let outcome = tokio::time::timeout(function.timeout(), task).await;
        let failure = match outcome {
            Ok(Ok(Ok(response))) => return from_lambda_response(response, request_id),
            Ok(Ok(Err(error))) => format!("the handler returned an error: {error}"),
            Ok(Err(join_error)) => format!("the handler panicked or was cancelled: {join_error}"),
            Err(_) => format!("the handler ran past the {:?} timeout", function.timeout()),
        };
        error!(
            request_id,
            function = function.logical_id(),
            failure,
            "function failed"
        );
        gateway_error(500, "Internal Server Error", request_id)
    }
}

/// The JSON error body that API Gateway itself returns, such as `{"message":"Not Found"}`.
pub fn gateway_error(status: u16, message: &str, request_id: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![
            ("content-type".to_owned(), "application/json".to_owned()),
            ("apigw-requestid".to_owned(), request_id.to_owned()),
        ],
        body: serde_json::json!({ "message": message })
            .to_string()
            .into_bytes(),
    }
}

fn from_lambda_response(response: Response<Body>, request_id: &str) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    headers.push(("apigw-requestid".to_owned(), request_id.to_owned()));
    HttpResponse {
        status: parts.status.as_u16(),
        headers,
        body: body.as_ref().to_vec(),
    }
}
