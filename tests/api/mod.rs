//! Helpers of the handler tests: the four HTTP functions' states over one DynamoDB store on
//! a new DynamoDB Local table, API Gateway events built as JSON and parsed by lambda_http,
//! and the OpenAPI contract check.

#![allow(dead_code)]

pub mod contract;
pub mod fakes;

use aws_credential_types::Credentials;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use endpoint_core::check::{AwsConnectionTester, TesterOptions};
use endpoint_core::config::AuthConfig;
use endpoint_core::domain::Endpoint;
use endpoint_core::handlers::create::CreateApp;
use endpoint_core::handlers::list::ListApp;
use endpoint_core::handlers::policy::PolicyApp;
use endpoint_core::handlers::test::TestApp;
use endpoint_core::handlers::{create, list, policy, test};
use endpoint_core::policy::PlatformIdentity;
use endpoint_core::sdk::{self, TrustRoots};
use endpoint_core::store::dynamo::{ClientSettings, DynamoStore};
use endpoint_core::store::{schema, EndpointStore};
use fakes::{CountingIds, ScriptedTester, SteppingClock};
use lambda_http::http::{self, HeaderMap};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

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
    pub store: Arc<dyn EndpointStore>,
    pub tester: Arc<ScriptedTester>,
    pub list: ListApp,
    pub create: CreateApp,
    pub test: TestApp,
    pub policy: PolicyApp,
}

impl Harness {
    /// Builds a harness on a new table in DynamoDB Local, at `AWS_ENDPOINT_URL_DYNAMODB`.
    pub async fn dynamo() -> Self {
        let client = dynamodb_client(local_dynamodb_url(), local_client_settings());
        let table = s3_endpoints::unique_name("api-test");
        schema::create_table(&client, &table)
            .await
            .unwrap_or_else(|error| panic!("creating table {table} failed: {error}"));

        // The store expires idempotency keys by its own clock, so both share one that starts
        // now.
        let clock = Arc::new(SteppingClock::starting_at(OffsetDateTime::now_utc()));
        let store = DynamoStore::new(client, table).with_clock(clock.clone());
        Self::with_store(Arc::new(store), clock)
    }

    /// Builds a harness whose DynamoDB store points at a port of 127.0.0.1 where nothing
    /// listens, so that every store call fails with a refused connection, within the 1 s
    /// operation timeout.
    pub fn unreachable_store() -> Self {
        // The OS picks a free port, and dropping the listener closes it again. Another process
        // could bind the port in the milliseconds before the test connects, which is unlikely.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);

        let settings = ClientSettings {
            connect_timeout: Duration::from_millis(200),
            attempt_timeout: Duration::from_millis(300),
            operation_timeout: Duration::from_secs(1),
            max_attempts: 2,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
        };
        let client = dynamodb_client(format!("http://127.0.0.1:{port}"), settings);
        let clock = Arc::new(SteppingClock::starting_at(OffsetDateTime::now_utc()));
        let store = DynamoStore::new(client, s3_endpoints::unique_name("api-test"))
            .with_clock(clock.clone());
        Self::with_store(Arc::new(store), clock)
    }

    /// Builds a harness on a new DynamoDB Local table whose connection tests run the AWS
    /// tester against moto, as the platform principal of the local stack.
    pub async fn aws() -> Self {
        let mut harness = Self::dynamo().await;
        let stack = s3_endpoints::stack();
        // Short AssumeRole retries, so that a test of a denied role ends in about a second.
        let options = TesterOptions {
            assume_role_retry_budget: Duration::from_secs(1),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_millis(400),
            ..TesterOptions::new(stack.platform_principal_arn.clone())
        };
        let tester = Arc::new(AwsConnectionTester::new(&stack.platform_config(), options));
        harness.create.tester = tester.clone();
        harness.test.tester = tester;
        harness.policy.platform =
            PlatformIdentity::new(&stack.platform_principal_arn, "CostPlatform").unwrap();
        harness
    }

    fn with_store(store: Arc<dyn EndpointStore>, clock: Arc<SteppingClock>) -> Self {
        let tester = Arc::new(ScriptedTester::default());
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

    /// Returns every endpoint of every tenant, read with the store's scan.
    pub async fn all_endpoints(&self) -> Vec<Endpoint> {
        let mut endpoints = Vec::new();
        let mut position: Option<String> = None;
        loop {
            let page = self
                .store
                .scan_endpoints(0, 1, position.as_deref(), 100)
                .await
                .unwrap();
            endpoints.extend(page.endpoints);
            match page.next_position {
                Some(next) => position = Some(next),
                None => return endpoints,
            }
        }
    }
}

/// Returns the client settings for DynamoDB Local. DynamoDB Local on a busy machine can
/// pause for seconds, so tests allow more time than the deployed functions.
fn local_client_settings() -> ClientSettings {
    ClientSettings {
        attempt_timeout: Duration::from_secs(10),
        operation_timeout: Duration::from_secs(30),
        ..ClientSettings::default()
    }
}

/// Reads the URL of DynamoDB Local from `AWS_ENDPOINT_URL_DYNAMODB`, rejecting any URL but a
/// loopback one so that no test writes to a real account.
fn local_dynamodb_url() -> String {
    let url = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL_DYNAMODB is not set: run scripts/test.sh, or start the stack with scripts/stack.sh start and source .local/stack.env")
    });
    let loopback = ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"];
    assert!(
        loopback.iter().any(|start| url.starts_with(start)),
        "AWS_ENDPOINT_URL_DYNAMODB must be a loopback URL; got {url}"
    );
    url
}

/// Builds a DynamoDB client for `url` with static test credentials.
fn dynamodb_client(url: String, settings: ClientSettings) -> aws_sdk_dynamodb::Client {
    let builder = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "api-tests"))
        .http_client(sdk::http_client(TrustRoots::Amazon))
        .endpoint_url(url);
    aws_sdk_dynamodb::Client::from_conf(settings.apply(builder).build())
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
