//! An HTTP client of the local API server that prints each request and a summary of each
//! response, as the walkthrough shows them.

use std::time::Duration;

use serde_json::Value;

use super::WalkthroughError;

/// Time limit of one request. A create runs the connection test, which the handler limits to
/// 20 seconds.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Maximum length of a printed request body, in characters. Longer bodies are cut with an
/// ellipsis.
const MAX_PRINTED_BODY: usize = 400;

/// One request to the API and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    /// The parsed JSON body, or `Value::Null` for an empty body.
    pub body: Value,
    /// The `Location` header, which a create returns.
    pub location: Option<String>,
}

impl Exchange {
    /// Fails unless the response has `status`, quoting the body so that the cause shows.
    pub fn expect_status(&self, status: u16) -> Result<&Self, WalkthroughError> {
        if self.status == status {
            return Ok(self);
        }
        Err(WalkthroughError::new(format!(
            "{} {} returned {}, expected {status}: {}",
            self.method, self.path, self.status, self.body
        )))
    }

    /// Returns the string at the JSON pointer `pointer` of the body, such as `/endpoint/id`.
    pub fn text(&self, pointer: &str) -> Result<String, WalkthroughError> {
        match self.body.pointer(pointer).and_then(Value::as_str) {
            Some(text) => Ok(text.to_owned()),
            None => Err(WalkthroughError::new(format!(
                "the response of {} {} has no string at {pointer}: {}",
                self.method, self.path, self.body
            ))),
        }
    }
}

/// A client of the local API that sends one tenant's token with every request.
pub struct ApiClient {
    agent: ureq::Agent,
    base_url: String,
    authorization: String,
}

impl ApiClient {
    /// Creates a client of the server at `base_url`, such as `http://127.0.0.1:3000`.
    pub fn new(base_url: &str, token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            // Every request goes to 127.0.0.1, never through a proxy.
            .proxy(None)
            .build()
            .into();
        Self {
            agent,
            base_url: base_url.trim_end_matches('/').to_owned(),
            authorization: format!("Bearer {token}"),
        }
    }

    pub async fn get(&self, path: &str) -> Result<Exchange, WalkthroughError> {
        self.send("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Exchange, WalkthroughError> {
        self.send("POST", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<Exchange, WalkthroughError> {
        self.send("DELETE", path, None).await
    }

    /// Prints the request, sends it and returns the response. ureq blocks, so the request
    /// runs on tokio's blocking pool.
    async fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Exchange, WalkthroughError> {
        print_request(method, path, body);
        let agent = self.agent.clone();
        let url = format!("{}{path}", self.base_url);
        let authorization = self.authorization.clone();
        let body = body.map(Value::to_string);
        let path = path.to_owned();

        let sent = tokio::task::spawn_blocking(move || {
            send_blocking(&agent, method, &url, &authorization, body)
        })
        .await
        .map_err(|error| WalkthroughError::new(format!("the request task failed: {error}")))?;
        let (status, location, text) = sent
            .map_err(|error| WalkthroughError::new(format!("{method} {path} failed: {error}")))?;

        let body = parse_body(&text);
        Ok(Exchange {
            method,
            path,
            status,
            body,
            location,
        })
    }
}

type Sent = (u16, Option<String>, String);

fn send_blocking(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    authorization: &str,
    body: Option<String>,
) -> Result<Sent, ureq::Error> {
    let mut response = match (method, body) {
        ("POST", Some(body)) => agent
            .post(url)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .send(body)?,
        ("DELETE", _) => agent
            .delete(url)
            .header("authorization", authorization)
            .call()?,
        _ => agent
            .get(url)
            .header("authorization", authorization)
            .call()?,
    };
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response.body_mut().read_to_string()?;
    Ok((status, location, text))
}

fn parse_body(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Prints a request line: method, path and the compact JSON body.
pub fn print_request(method: &str, path: &str, body: Option<&Value>) {
    match body {
        Some(body) => println!("  > {method} {path} {}", shorten(&body.to_string())),
        None => println!("  > {method} {path}"),
    }
}

/// Prints the status of `exchange` and a one-line `summary` of its body.
pub fn print_response(exchange: &Exchange, summary: &str) {
    let reason = http::StatusCode::from_u16(exchange.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("");
    println!("  < {} {reason}: {summary}", exchange.status);
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_PRINTED_BODY {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX_PRINTED_BODY).collect();
    format!("{cut}…")
}
