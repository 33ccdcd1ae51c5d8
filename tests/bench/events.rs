//! Lambda events as API Gateway (HTTP API, payload format 2.0) and EventBridge send them,
//! shaped like the fixtures in `events/`.

use serde_json::{json, Value};

/// The subject that benchmark requests come from; stored as `created_by`.
pub const SUBJECT: &str = "bench|user-1";

/// An HTTP API request with a verified JWT whose `tenant_id` claim is `tenant`.
/// `query` is the raw query string without `?`.
pub fn http_event(
    method: &str,
    path: &str,
    query: &str,
    body: Option<&str>,
    tenant: &str,
) -> Value {
    let route_key = format!("{method} {path}");
    let mut headers = json!({
        "accept": "application/json",
        "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.redacted.redacted",
        "host": "bench.execute-api.us-east-1.amazonaws.com",
        "user-agent": "s3-endpoints-bench",
        "x-forwarded-proto": "https"
    });
    if let Some(body) = body {
        headers["content-type"] = json!("application/json");
        headers["content-length"] = json!(body.len().to_string());
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "111111111111",
            "apiId": "bench",
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "s3-endpoints-bench"
            },
            "requestId": "bench-request",
            "routeKey": route_key,
            "stage": "$default",
            "time": "01/Mar/2026:09:00:00 +0000",
            "timeEpoch": 1772355600000u64,
            "authorizer": {
                "jwt": {
                    "claims": {
                        "aud": "web-client",
                        "iss": "https://idp.example.com/",
                        "scope": "openid",
                        "sub": SUBJECT,
                        "tenant_id": tenant
                    },
                    "scopes": null
                }
            }
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        event["queryStringParameters"] = query_parameters(query);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// The scheduled event that the revalidation rule sends.
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "111111111111",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:111111111111:rule/s3-endpoints-RevalidationSchedule"],
        "detail": {}
    })
}

/// API Gateway's `queryStringParameters`: each name once, several values joined by commas.
/// The benchmark queries use plain ASCII values, so no decoding is needed.
fn query_parameters(query: &str) -> Value {
    let mut parameters = serde_json::Map::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let joined = match parameters.get(name).and_then(Value::as_str) {
            Some(previous) => format!("{previous},{value}"),
            None => value.to_owned(),
        };
        parameters.insert(name.to_owned(), json!(joined));
    }
    Value::Object(parameters)
}
