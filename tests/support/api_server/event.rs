//! Conversion of an HTTP request into the payload format 2.0 event that an API Gateway HTTP
//! API sends to a Lambda function, and into the `lambda_http::Request` that the function's
//! runtime would build from it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use lambda_http::{Context, Request, RequestExt};
use serde_json::{json, Map, Value};
use time::macros::format_description;
use time::OffsetDateTime;

use super::routes::RouteMatch;

/// The account id that local events name as the API's owner.
const LOCAL_ACCOUNT_ID: &str = "000000000000";

/// The API id that local events carry, also the first label of `domainName`.
const LOCAL_API_ID: &str = "local";

/// An HTTP request as the local server received it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: http::Method,
    /// The request target: the raw path and query string.
    pub target: String,
    /// Header names and values in the order received.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    pub client: SocketAddr,
}

impl HttpRequest {
    /// Returns the first value of the header `name`, compared without regard to case.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(candidate, _)| candidate.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }

    /// Splits the target into the raw path and the raw query string.
    pub fn path_and_query(&self) -> (&str, &str) {
        match self.target.split_once('?') {
            Some((path, query)) => (path, query),
            None => (self.target.as_str(), ""),
        }
    }
}

/// What API Gateway adds to a request: its id, the time it arrived, the server's address and
/// the claims that the authorizer verified.
#[derive(Debug, Clone)]
pub struct GatewayFacts {
    pub request_id: String,
    pub received_at: OffsetDateTime,
    pub server: SocketAddr,
    pub claims: BTreeMap<String, String>,
}

/// Why a request could not become an event. API Gateway rejects such requests before any
/// function runs, so the local server returns 400.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the request target is not a valid origin-form URI")]
    InvalidTarget,

    #[error("the event could not be read as an API Gateway request: {0}")]
    Deserialize(#[from] serde_json::Error),
}

/// Builds the payload format 2.0 event for `request` on the route `found`.
pub fn build_event(
    request: &HttpRequest,
    found: &RouteMatch,
    facts: &GatewayFacts,
) -> Result<Value, EventError> {
    check_target(&request.target)?;
    let (raw_path, raw_query) = request.path_and_query();
    let (headers, cookies) = event_headers(request, facts);
    let route_key = found.route.route_key();

    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": request_context(request, &route_key, raw_path, facts),
        "isBase64Encoded": false,
    });
    let fields = event
        .as_object_mut()
        .expect("the event literal is an object");
    if !cookies.is_empty() {
        fields.insert("cookies".to_owned(), json!(cookies));
    }
    if !raw_query.is_empty() {
        fields.insert(
            "queryStringParameters".to_owned(),
            json!(query_parameters(raw_query)),
        );
    }
    if !found.path_parameters.is_empty() {
        fields.insert("pathParameters".to_owned(), json!(found.path_parameters));
    }
    insert_body(fields, &request.body);
    Ok(event)
}

/// Deserializes `event` as the Lambda runtime does, and attaches a Lambda context whose
/// deadline is `timeout` after now, so that handlers see the time budget they have in Lambda.
pub fn lambda_request(
    event: &Value,
    request_id: &str,
    timeout: Duration,
) -> Result<Request, EventError> {
    let request = lambda_http::request::from_str(&event.to_string())?;
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    context.deadline = deadline_millis(SystemTime::now() + timeout);
    Ok(request.with_lambda_context(context))
}

/// Accepts only targets that lambda_http can turn into a URI. It panics on others, and API
/// Gateway never forwards them.
fn check_target(target: &str) -> Result<(), EventError> {
    if !target.starts_with('/') || target.contains('#') {
        return Err(EventError::InvalidTarget);
    }
    match target.parse::<http::Uri>() {
        Ok(uri) if uri.scheme().is_none() && uri.authority().is_none() => Ok(()),
        _ => Err(EventError::InvalidTarget),
    }
}

type EventHeaders = (Map<String, Value>, Vec<String>);

/// Returns the headers with lower-case names and repeated headers joined by commas, as API
/// Gateway sends them, and the cookies, which payload format 2.0 moves into `cookies`.
fn event_headers(request: &HttpRequest, facts: &GatewayFacts) -> EventHeaders {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        // Event headers are JSON strings, so bytes that are not UTF-8 become U+FFFD.
        let value = String::from_utf8_lossy(value).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|cookie| cookie.trim().to_owned()));
            continue;
        }
        headers
            .entry(name)
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    cookies.retain(|cookie| !cookie.is_empty());

    // API Gateway sets these itself. `host` is the server's own address, because lambda_http
    // builds the request URI from it and panics on a value that is not a host.
    headers.insert("host".to_owned(), facts.server.to_string());
    headers.insert(
        "x-forwarded-for".to_owned(),
        request.client.ip().to_string(),
    );
    headers.insert(
        "x-forwarded-port".to_owned(),
        facts.server.port().to_string(),
    );
    headers.insert("x-forwarded-proto".to_owned(), "http".to_owned());

    let headers = headers
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    (headers, cookies)
}

fn request_context(
    request: &HttpRequest,
    route_key: &str,
    raw_path: &str,
    facts: &GatewayFacts,
) -> Value {
    let user_agent = request
        .header("user-agent")
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default();
    json!({
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": facts.server.to_string(),
        "domainPrefix": LOCAL_API_ID,
        "http": {
            "method": request.method.as_str(),
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.client.ip().to_string(),
            "userAgent": user_agent,
        },
        "requestId": facts.request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": gateway_time(facts.received_at),
        "timeEpoch": epoch_millis(facts.received_at),
        "authorizer": {
            "jwt": {"claims": facts.claims, "scopes": null},
        },
    })
}

/// Returns the query parameters as payload format 2.0 has them: values as sent, without
/// percent-decoding, and the values of a repeated name joined by commas.
fn query_parameters(raw_query: &str) -> BTreeMap<String, String> {
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        parameters
            .entry(name.to_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    parameters
}

/// Adds the body as text when it is UTF-8, else base64-encoded, as API Gateway does.
fn insert_body(fields: &mut Map<String, Value>, body: &[u8]) {
    if body.is_empty() {
        return;
    }
    let (text, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    fields.insert("body".to_owned(), Value::String(text));
    fields.insert("isBase64Encoded".to_owned(), Value::Bool(encoded));
}

fn gateway_time(time: OffsetDateTime) -> String {
    let format = format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    time.format(format).unwrap_or_default()
}

fn epoch_millis(time: OffsetDateTime) -> i64 {
    (time.unix_timestamp_nanos() / 1_000_000) as i64
}

fn deadline_millis(deadline: SystemTime) -> u64 {
    deadline
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_server::routes::find_route;
    use lambda_http::request::RequestContext;
    use lambda_http::Body;
    use time::macros::datetime;

    fn facts() -> GatewayFacts {
        GatewayFacts {
            request_id: "request-1".to_owned(),
            received_at: datetime!(2026-03-01 09:00:00 UTC),
            server: "127.0.0.1:3000".parse().unwrap(),
            claims: BTreeMap::from([
                ("sub".to_owned(), "user-1".to_owned()),
                ("tenant_id".to_owned(), "acme".to_owned()),
            ]),
        }
    }

    fn request(method: http::Method, target: &str, body: &[u8]) -> HttpRequest {
        HttpRequest {
            method,
            target: target.to_owned(),
            headers: vec![
                ("Content-Type".to_owned(), b"application/json".to_vec()),
                ("Host".to_owned(), b"not a host".to_vec()),
                ("X-Custom".to_owned(), b"a".to_vec()),
                ("x-custom".to_owned(), b"b".to_vec()),
                ("Cookie".to_owned(), b"one=1; two=2".to_vec()),
            ],
            body: body.to_vec(),
            client: "127.0.0.1:50000".parse().unwrap(),
        }
    }

    fn event_for(request: &HttpRequest) -> Value {
        let (path, _) = request.path_and_query();
        let found = find_route(&request.method, path).unwrap();
        build_event(request, &found, &facts()).unwrap()
    }

    #[test]
    fn build_event_fills_request_context() {
        let event = event_for(&request(http::Method::GET, "/endpoints?limit=5", b""));
        let context = &event["requestContext"];

        assert_eq!(event["routeKey"], "GET /endpoints");
        assert_eq!(event["rawPath"], "/endpoints");
        assert_eq!(event["rawQueryString"], "limit=5");
        assert_eq!(context["http"]["method"], "GET");
        assert_eq!(context["http"]["path"], "/endpoints");
        assert_eq!(context["routeKey"], "GET /endpoints");
        assert_eq!(context["stage"], "$default");
        assert_eq!(context["requestId"], "request-1");
        assert_eq!(context["time"], "01/Mar/2026:09:00:00 +0000");
        assert_eq!(context["timeEpoch"], 1_772_355_600_000_i64);
        assert_eq!(context["authorizer"]["jwt"]["claims"]["tenant_id"], "acme");
    }

    #[test]
    fn build_event_joins_headers_and_moves_cookies() {
        let event = event_for(&request(http::Method::GET, "/endpoints", b""));

        assert_eq!(event["headers"]["x-custom"], "a,b");
        assert_eq!(event["headers"]["content-type"], "application/json");
        assert_eq!(event["headers"]["host"], "127.0.0.1:3000");
        assert_eq!(event["headers"].get("cookie"), None);
        assert_eq!(event["cookies"], json!(["one=1", "two=2"]));
    }

    #[test]
    fn build_event_keeps_query_values_raw() {
        let target = "/endpoints?feature=%74elemetry&mode=a&mode=b&flag";
        let event = event_for(&request(http::Method::GET, target, b""));
        let parameters = &event["queryStringParameters"];

        assert_eq!(parameters["feature"], "%74elemetry");
        assert_eq!(parameters["mode"], "a,b");
        assert_eq!(parameters["flag"], "");
    }

    #[test]
    fn build_event_encodes_binary_body() {
        let text = event_for(&request(http::Method::POST, "/endpoints", b"{}"));
        let binary = event_for(&request(http::Method::POST, "/endpoints", b"\xff\x00"));

        assert_eq!(text["body"], "{}");
        assert_eq!(text["isBase64Encoded"], false);
        assert_eq!(binary["body"], "/wA=");
        assert_eq!(binary["isBase64Encoded"], true);
    }

    #[test]
    fn build_event_rejects_invalid_targets() {
        let found = find_route(&http::Method::GET, "/endpoints").unwrap();
        for target in ["/endpoints?a=\"b\"", "/endpoints?a b", "/endpoints#f", "*"] {
            let request = request(http::Method::GET, target, b"");
            let result = build_event(&request, &found, &facts());
            assert!(
                matches!(result, Err(EventError::InvalidTarget)),
                "{target}: {result:?}"
            );
        }
    }

    #[test]
    fn build_event_replaces_non_utf8_header_bytes() {
        let mut request = request(http::Method::GET, "/endpoints", b"");
        request
            .headers
            .push(("X-Bad".to_owned(), b"a\xffb".to_vec()));
        let found = find_route(&request.method, "/endpoints").unwrap();

        let event = build_event(&request, &found, &facts()).unwrap();

        assert_eq!(event["headers"]["x-bad"], "a\u{fffd}b");
    }

    #[test]
    fn lambda_request_reads_event_like_runtime() {
        let id = "01JF8ZQ4V3K2N6R5T7W9X0Y1Z2";
        let request = request(
            http::Method::POST,
            &format!("/endpoints/{id}/test?x=1"),
            b"{}",
        );
        let event = event_for(&request);

        let converted = lambda_request(&event, "request-1", Duration::from_secs(25)).unwrap();

        assert_eq!(converted.method(), http::Method::POST);
        assert_eq!(converted.uri().path(), format!("/endpoints/{id}/test"));
        assert_eq!(converted.uri().query(), Some("x=1"));
        assert_eq!(converted.path_parameters().first("id"), Some(id));
        assert_eq!(converted.body(), &Body::Text("{}".to_owned()));
        let Some(RequestContext::ApiGatewayV2(context)) = converted.request_context_ref() else {
            panic!("expected an HTTP API context");
        };
        let claims = &context
            .authorizer
            .as_ref()
            .unwrap()
            .jwt
            .as_ref()
            .unwrap()
            .claims;
        assert_eq!(claims.get("tenant_id").map(String::as_str), Some("acme"));
        let deadline = converted.lambda_context_ref().unwrap().deadline;
        assert!(deadline > deadline_millis(SystemTime::now() + Duration::from_secs(20)));
    }
}
