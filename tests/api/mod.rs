//! Helpers of the handler tests: the four HTTP functions' states over one shared store, API
//! Gateway events built as JSON and parsed by lambda_http, and the OpenAPI contract check.

#![allow(dead_code)]

pub mod contract;
pub mod fakes;

use endpoint_core::config::AuthConfig;
use endpoint_core::handlers::create::CreateApp;
use endpoint_core::handlers::list::ListApp;
use endpoint_core::handlers::policy::PolicyApp;
use endpoint_core::handlers::test::TestApp;
use endpoint_core::handlers::{create, list, policy, test};
use endpoint_core::policy::PlatformIdentity;
use fakes::{CountingIds, MemoryStore, ScriptedTester, SteppingClock};
use lambda_http::http::{self, HeaderMap};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use std::sync::Arc;
use time::macros::datetime;

pub const PLATFORM_PRINCIPAL_ARN: &str = "arn:aws:iam::111122223333:role/PlatformPrincipalRole";
pub const TENANT_A: &str = "acme";
pub const TENANT_B: &str = "globex";

/// The Lambda function that serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    RenderPolicy,
    ListEndpoints,
    CreateEndpoint,
    TestEndpoint,
}

impl Function {
    /// Parses a fixture folder name.
    pub fn from_folder(name: &str) -> Option<Self> {
        match name {
            "render-policy" => Some(Self::RenderPolicy),
            "list-endpoints" => Some(Self::ListEndpoints),
            "create-endpoint" => Some(Self::CreateEndpoint),
            "test-endpoint" => Some(Self::TestEndpoint),
            _ => None,
        }
    }
}

/// The four functions' states, sharing one store, tester, clock and id source as the
/// deployed functions share one table.
pub struct Harness {
    pub store: Arc<MemoryStore>,
    pub tester: Arc<ScriptedTester>,
    pub list: ListApp,
    pub create: CreateApp,
    pub test: TestApp,
    pub policy: PolicyApp,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::default());
        let tester = Arc::new(ScriptedTester::default());
        let clock = Arc::new(SteppingClock::starting_at(datetime!(2026-03-01 09:00 UTC)));
        let ids = Arc::new(CountingIds::default());
        let auth = AuthConfig::default();
        Self {
            list: ListApp {
                store: store.clone(),
                auth: auth.clone(),
            },
            create: CreateApp {
                store: store.clone(),
                tester: tester.clone(),
                clock: clock.clone(),
                ids,
                auth: auth.clone(),
            },
            test: TestApp {
                store: store.clone(),
                tester: tester.clone(),
                clock,
                auth: auth.clone(),
            },
            policy: PolicyApp {
                store: store.clone(),
                auth,
                platform: PlatformIdentity::new(PLATFORM_PRINCIPAL_ARN, "CostPlatform").unwrap(),
            },
            store,
            tester,
        }
    }

    pub async fn call(&self, function: Function, request: Request) -> Answer {
        let response = match function {
            Function::RenderPolicy => policy::handle(&self.policy, request).await,
            Function::ListEndpoints => list::handle(&self.list, request).await,
            Function::CreateEndpoint => create::handle(&self.create, request).await,
            Function::TestEndpoint => test::handle(&self.test, request).await,
        };
        Answer::from(response.expect("handlers never return Err"))
    }

    /// Creates an endpoint for `tenant` through the API and returns its id.
    pub async fn create_endpoint(&self, tenant: &str, body: Value) -> String {
        let request = Event::new("POST", "/endpoints")
            .tenant(tenant)
            .json(&body)
            .build();
        let answer = self.call(Function::CreateEndpoint, request).await;
        assert_eq!(answer.status, 201, "create failed: {}", answer.body);
        answer.body["endpoint"]["id"].as_str().unwrap().to_owned()
    }
}

/// Builds a valid endpoint body. Vary `name` and `prefix` to let several endpoints coexist.
pub fn endpoint_body(name: &str, prefix: &str) -> Value {
    json!({
        "name": name,
        "description": "Billing files",
        "mode": "read_only",
        "role_arn": "arn:aws:iam::123456789012:role/Acme-S3-ReadOnly-Role",
        "bucket": "acme-billing",
        "prefix": prefix,
        "region": "eu-west-1"
    })
}

/// A response with its body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl From<lambda_http::Response<Body>> for Answer {
    fn from(response: lambda_http::Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = match response.into_body() {
            Body::Text(text) => text,
            Body::Binary(bytes) => String::from_utf8(bytes).unwrap(),
            _ => String::new(),
        };
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        Self {
            status,
            headers,
            body,
            text,
        }
    }
}

impl Answer {
    pub fn content_type(&self) -> &str {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Returns the `field` of every entry in a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An HTTP API payload 2.0 event with a JWT authorizer, parsed the way lambda_http parses
/// the events Lambda delivers.
pub struct Event {
    method: String,
    path: String,
    query: String,
    headers: serde_json::Map<String, Value>,
    body: Option<String>,
    tenant: Option<String>,
    subject: String,
}

impl Event {
    pub fn new(method: &str, path: &str) -> Self {
        let mut headers = serde_json::Map::new();
        headers.insert("host".to_owned(), json!("api.test.internal"));
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: String::new(),
            headers,
            body: None,
            tenant: None,
            subject: "user-1".to_owned(),
        }
    }

    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.to_owned());
        self
    }

    pub fn query(mut self, raw_query: &str) -> Self {
        self.query = raw_query.to_owned();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_lowercase(), json!(value));
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .raw_body(&body.to_string())
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    pub fn to_json(&self) -> Value {
        let authorizer = match &self.tenant {
            Some(tenant) => json!({
                "jwt": {
                    "claims": {"sub": self.subject, "tenant_id": tenant},
                    "scopes": null
                }
            }),
            None => Value::Null,
        };
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": self.headers,
            "requestContext": {
                "accountId": "111122223333",
                "apiId": "api",
                "authorizer": authorizer,
                "domainName": "api.test.internal",
                "http": {
                    "method": self.method,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1",
                    "userAgent": "test"
                },
                "requestId": "test-request",
                "routeKey": "$default",
                "stage": "$default",
                "time": "01/Mar/2026:09:00:00 +0000",
                "timeEpoch": 1_772_355_600_000_i64
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }

    pub fn build(&self) -> Request {
        lambda_http::request::from_str(&self.to_json().to_string()).unwrap()
    }
}
