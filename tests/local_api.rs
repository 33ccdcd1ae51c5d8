//! The local API server: its route table against `template.yaml` and `openapi.yaml`, and its
//! gateway behaviour (authorizer, routing, events, errors) over real HTTP with fake handlers.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use s3_endpoints::api_server::{
    Function, Functions, LocalServer, TokenKey, TokenRequest, DEFAULT_TENANT_CLAIM,
    MAX_REQUEST_BYTES, ROUTES,
};
use serde_json::{json, Value};

const ID: &str = "01JF8ZQ4V3K2N6R5T7W9X0Y1Z2";

/// Returns (function logical id, method, path) of every HttpApi event in `template.yaml`.
fn template_routes() -> BTreeSet<(String, String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml is readable");
    let template: serde_norway::Value =
        serde_norway::from_str(&text).expect("template.yaml is YAML");
    let resources = template["Resources"]
        .as_mapping()
        .expect("the template has Resources");

    let mut routes = BTreeSet::new();
    for (name, resource) in resources {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for event in events.values() {
            if event["Type"].as_str() != Some("HttpApi") {
                continue;
            }
            let properties = &event["Properties"];
            routes.insert((
                name.as_str().unwrap_or_default().to_owned(),
                properties["Method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_uppercase(),
                properties["Path"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    routes
}

/// Returns (method, path) of every operation in `openapi.yaml`.
fn openapi_routes() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("openapi.yaml is readable");
    let document: Value = serde_norway::from_str(&text).expect("openapi.yaml is YAML");
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];

    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"]
        .as_object()
        .expect("openapi.yaml has paths")
    {
        for method in methods {
            if item.get(method).is_some() {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

fn server_routes() -> BTreeSet<(String, String, String)> {
    ROUTES
        .iter()
        .map(|route| {
            (
                route.function.logical_id().to_owned(),
                route.method.to_string(),
                route.path.to_owned(),
            )
        })
        .collect()
}

#[test]
fn routes_equal_template_routes() {
    assert_eq!(server_routes(), template_routes());
}

#[test]
fn routes_equal_openapi_operations() {
    let server: BTreeSet<(String, String)> = server_routes()
        .into_iter()
        .map(|(_, method, path)| (method, path))
        .collect();

    assert_eq!(server, openapi_routes());
}

#[test]
fn function_timeouts_equal_template() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/template.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let template: serde_norway::Value = serde_norway::from_str(&text).unwrap();

    for function in [
        Function::RenderPolicy,
        Function::TestEndpoint,
        Function::CreateEndpoint,
        Function::ListEndpoints,
    ] {
        let timeout = template["Resources"][function.logical_id()]["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or_else(|| panic!("{} has no Timeout", function.logical_id()));
        assert_eq!(
            function.timeout(),
            Duration::from_secs(timeout),
            "{}",
            function.logical_id()
        );
    }
}

/// Handlers that return what they received as JSON, so that tests can read the event, and that
/// fail or panic on request.
struct EchoFunctions;

#[async_trait]
impl Functions for EchoFunctions {
    async fn invoke(
        &self,
        function: Function,
        request: Request,
    ) -> Result<Response<Body>, lambda_http::Error> {
        if request.headers().contains_key("x-fail") {
            return Err("the handler failed".into());
        }
        if request.headers().contains_key("x-panic") {
            panic!("the handler panicked");
        }
        if let Some(delay) = request.headers().get("x-sleep-ms") {
            let millis: u64 = delay.to_str().unwrap().parse().unwrap();
            tokio::time::sleep(Duration::from_millis(millis)).await;
        }
        Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::from(echo(function, &request).to_string()))?)
    }
}

fn echo(function: Function, request: &Request) -> Value {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else {
        return json!({"error": "not an HTTP API request"});
    };
    let claims = context
        .authorizer
        .as_ref()
        .and_then(|authorizer| authorizer.jwt.as_ref())
        .map(|jwt| json!(jwt.claims))
        .unwrap_or(Value::Null);
    json!({
        "function": function.logical_id(),
        "method": request.method().as_str(),
        "path": request.raw_http_path(),
        "query": request.uri().query(),
        "route_key": context.route_key,
        "request_id": context.request_id,
        "claims": claims,
        "id": request.path_parameters().first("id"),
        "body": String::from_utf8_lossy(request.body().as_ref()),
        "deadline_set": request.lambda_context_ref().is_some_and(|c| c.deadline > 0),
    })
}

struct TestServer {
    server: LocalServer,
    key: TokenKey,
    agent: ureq::Agent,
    _runtime: tokio::runtime::Runtime,
}

impl TestServer {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let key = TokenKey::generate().unwrap();
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = LocalServer::start(
            address,
            key.clone(),
            Arc::new(EchoFunctions),
            runtime.handle().clone(),
        )
        .unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Self {
            server,
            key,
            agent,
            _runtime: runtime,
        }
    }

    fn token(&self, tenant: &str) -> String {
        self.key.issue(&TokenRequest {
            tenant,
            subject: "user-1",
            tenant_claim: DEFAULT_TENANT_CLAIM,
            ttl: Duration::from_secs(60),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.agent.get(&self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.call().unwrap())
    }

    fn post(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
        let mut request = self.agent.post(&self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(request.send(body).unwrap())
    }
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn server_rejects_missing_token() {
    let server = TestServer::start();

    let (status, body) = server.get("/endpoints", &[]);

    assert_eq!(status, 401);
    assert_eq!(body, json!({"message": "Unauthorized"}));
}

#[test]
fn server_rejects_token_of_other_key() {
    let server = TestServer::start();
    let other = TestServer::start();
    let token = other.token("acme");

    let (status, _) = server.get(
        "/endpoints",
        &[("authorization", &format!("Bearer {token}"))],
    );

    assert_eq!(status, 401);
}

#[test]
fn server_returns_404_for_unknown_route() {
    let server = TestServer::start();
    let token = format!("Bearer {}", server.token("acme"));

    for path in ["/nothing", "/endpoints/", &format!("/endpoints/{ID}/other")] {
        let (status, body) = server.get(path, &[("authorization", &token)]);
        assert_eq!(status, 404, "{path}");
        assert_eq!(body, json!({"message": "Not Found"}), "{path}");
    }
}

#[test]
fn server_passes_event_to_function() {
    let server = TestServer::start();
    let token = format!("Bearer {}", server.token("acme"));

    let (status, body) = server.post(
        &format!("/endpoints/{ID}/test?dry=1"),
        &[
            ("authorization", &token),
            ("content-type", "application/json"),
        ],
        br#"{"a":1}"#.to_vec(),
    );

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["function"], "TestEndpointFunction");
    assert_eq!(body["route_key"], "POST /endpoints/{id}/test");
    assert_eq!(body["path"], format!("/endpoints/{ID}/test"));
    assert_eq!(body["query"], "dry=1");
    assert_eq!(body["id"], ID);
    assert_eq!(body["body"], r#"{"a":1}"#);
    assert_eq!(body["claims"]["tenant_id"], "acme");
    assert_eq!(body["claims"]["sub"], "user-1");
    assert_eq!(body["deadline_set"], true);
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[test]
fn server_routes_each_template_route() {
    let server = TestServer::start();
    let token = format!("Bearer {}", server.token("acme"));

    for route in ROUTES.iter() {
        let path = route.path.replace("{id}", ID);
        let request = http::Request::builder()
            .method(route.method.clone())
            .uri(server.url(&path))
            .header("authorization", &token)
            .body(())
            .unwrap();
        let response = server.agent.run(request).unwrap();
        let (status, body) = read(response);
        assert_eq!(status, 200, "{}", route.route_key());
        assert_eq!(body["route_key"], route.route_key());
        assert_eq!(body["function"], route.function.logical_id());
    }
}

#[test]
fn server_returns_500_for_function_failure() {
    let server = TestServer::start();
    let token = format!("Bearer {}", server.token("acme"));

    for header in ["x-fail", "x-panic"] {
        let (status, body) = server.get("/endpoints", &[("authorization", &token), (header, "1")]);
        assert_eq!(status, 500, "{header}");
        assert_eq!(
            body,
            json!({"message": "Internal Server Error"}),
            "{header}"
        );
    }

    let (status, _) = server.get("/endpoints", &[("authorization", &token)]);
    assert_eq!(
        status, 200,
        "the server still serves requests after a handler panicked"
    );
}

/// Sends `request` as raw bytes and returns the response's status line.
fn raw_status_line(server: &TestServer, request: &[u8]) -> String {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(server.server.address()).unwrap();
    stream.write_all(request).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line.trim_end().to_owned()
}

#[test]
fn server_rejects_oversized_body_413() {
    let server = TestServer::start();
    let head = format!(
        "POST /endpoints HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BYTES + 1
    );

    let status_line = raw_status_line(&server, head.as_bytes());

    assert_eq!(status_line, "HTTP/1.1 413 Payload Too Large");
}

#[test]
fn server_rejects_chunk_size_near_usize_max_413() {
    let server = TestServer::start();
    let request = b"POST /endpoints HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        1\r\na\r\nffffffffffffffff\r\n";

    let status_line = raw_status_line(&server, request);

    assert_eq!(status_line, "HTTP/1.1 413 Payload Too Large");
}

#[test]
fn server_reads_chunked_body() {
    let server = TestServer::start();
    let token = server.token("acme");
    let request = format!(
        "POST /endpoints HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\n{{\"a\r\n4\r\n\":1}}\r\n0\r\n\r\n"
    );

    let status_line = raw_status_line(&server, request.as_bytes());

    assert_eq!(status_line, "HTTP/1.1 200 OK");
}

#[test]
fn server_accepts_non_ascii_header() {
    let server = TestServer::start();
    let token = server.token("acme");
    let request = format!(
        "GET /endpoints HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Idempotency-Key: caf\u{e9}\r\nConnection: close\r\n\r\n"
    );

    let status_line = raw_status_line(&server, request.as_bytes());

    assert_eq!(status_line, "HTTP/1.1 200 OK");
}

#[test]
fn server_serves_concurrent_requests() {
    let server = Arc::new(TestServer::start());
    let token = format!("Bearer {}", server.token("acme"));
    let started = std::time::Instant::now();

    let threads: Vec<_> = (0..4)
        .map(|_| {
            let server = Arc::clone(&server);
            let token = token.clone();
            std::thread::spawn(move || {
                server
                    .get(
                        "/endpoints",
                        &[("authorization", &token), ("x-sleep-ms", "500")],
                    )
                    .0
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    assert_eq!(statuses, vec![200; 4]);
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "four 500 ms requests took {:?}, so they ran one at a time",
        started.elapsed()
    );
}

#[test]
fn server_refuses_non_loopback_address() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let address = SocketAddr::from(([0, 0, 0, 0], 0));

    let result = LocalServer::start(
        address,
        TokenKey::generate().unwrap(),
        Arc::new(EchoFunctions),
        runtime.handle().clone(),
    );

    assert!(result.is_err());
}

fn run_local_api(arguments: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_local-api"))
        .args(arguments)
        .env("LOCAL_API_KEY_FILE", "/nonexistent/local-api-key")
        .output()
        .expect("local-api starts")
}

#[test]
fn cli_help_after_command_prints_usage() {
    let output = run_local_api(&["token", "--help"]);

    assert!(output.status.success(), "{output:?}");
    assert!(output.stderr.is_empty(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("local-api token --tenant"));
}

#[test]
fn cli_rejects_token_for_invalid_tenant() {
    let output = run_local_api(&["token", "--tenant", "a#b"]);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--tenant \"a#b\" is invalid"), "{stderr}");
    assert!(stderr.contains("letters, digits"), "{stderr}");
}

#[test]
fn cli_names_an_unknown_command() {
    let output = run_local_api(&["sreve"]);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown command \"sreve\""), "{stderr}");
}

#[test]
fn cli_rejects_token_lifetime_over_a_week() {
    for ttl in ["604801", "18446744073709551615", "0", "-1"] {
        let output = run_local_api(&["token", "--tenant", "acme", "--ttl-seconds", ttl]);

        assert_eq!(output.status.code(), Some(1), "{ttl}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("from 1 to 604800"), "{ttl}: {stderr}");
    }
}

#[test]
fn cli_rejects_empty_subject() {
    let output = run_local_api(&["token", "--tenant", "acme", "--subject", ""]);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--subject is empty"));
}
