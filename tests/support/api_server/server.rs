//! The HTTP listener of the local API server: it accepts connections on one thread and answers
//! each request in a task of the tokio runtime.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tracing::{error, info, warn};

use super::event::HttpRequest;
use super::gateway::{gateway_error, Functions, Gateway, HttpResponse};
use super::token::TokenKey;

/// The largest request body accepted: the payload limit of API Gateway HTTP APIs, 10 MB.
pub const MAX_REQUEST_BYTES: usize = 10 * 1000 * 1000;

/// A running local API server. Dropping it stops the listener.
pub struct LocalServer {
    server: Arc<tiny_http::Server>,
    address: SocketAddr,
    listener: Option<JoinHandle<()>>,
}

/// Failures to start the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("only loopback addresses may be served, not {0}")]
    NotLoopback(SocketAddr),

    #[error("listening on {address} failed: {message}")]
    Bind {
        address: SocketAddr,
        message: String,
    },
}

impl LocalServer {
    /// Listens on `address`, which must be a loopback address (port 0 picks a free port), and
    /// serves `functions` behind a JWT check with `key`, running handlers on `runtime`.
    pub fn start(
        address: SocketAddr,
        key: TokenKey,
        functions: Arc<dyn Functions>,
        runtime: Handle,
    ) -> Result<Self, StartError> {
        if !address.ip().is_loopback() {
            return Err(StartError::NotLoopback(address));
        }
        let server = tiny_http::Server::http(address).map_err(|error| StartError::Bind {
            address,
            message: error.to_string(),
        })?;
        let address = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| StartError::Bind {
                address,
                message: "the listener has no IP address".to_owned(),
            })?;

        let server = Arc::new(server);
        let gateway = Arc::new(Gateway::new(key, functions, address));
        let accepting = Arc::clone(&server);
        let listener = std::thread::Builder::new()
            .name("local-api-listener".to_owned())
            .spawn(move || accept_requests(&accepting, &gateway, &runtime))
            .map_err(|error| StartError::Bind {
                address,
                message: format!("starting the listener thread failed: {error}"),
            })?;
        info!(%address, "local API server listening");

        Ok(Self {
            server,
            address,
            listener: Some(listener),
        })
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL of the API, such as `http://127.0.0.1:3000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Blocks until the listener stops, which happens only when the server is dropped.
    pub fn wait(mut self) {
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
        info!(address = %self.address, "local API server stopped");
    }
}

fn accept_requests(server: &tiny_http::Server, gateway: &Arc<Gateway>, runtime: &Handle) {
    for request in server.incoming_requests() {
        let gateway = Arc::clone(gateway);
        runtime.spawn(answer(gateway, request));
    }
}

/// Reads the request, lets the gateway answer it and writes the response. Socket reads and
/// writes block, so they run on tokio's blocking pool.
async fn answer(gateway: Arc<Gateway>, request: tiny_http::Request) {
    let read = tokio::task::spawn_blocking(move || {
        let mut request = request;
        let received = read_request(&mut request);
        (request, received)
    })
    .await;
    let Ok((request, received)) = read else {
        error!("reading a request panicked");
        return;
    };

    let response = match received {
        Ok(received) => gateway.handle(received).await,
        Err(ReadError::TooLarge) => {
            warn!(limit = MAX_REQUEST_BYTES, "request body too large");
            gateway_error(413, "Request Entity Too Large", "-")
        }
        Err(ReadError::Method) => gateway_error(404, "Not Found", "-"),
        Err(ReadError::Io(error)) => {
            warn!(%error, "reading the request failed");
            return;
        }
    };

    let written = tokio::task::spawn_blocking(move || request.respond(tiny_response(response)));
    match written.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(%error, "writing the response failed"),
        Err(_) => error!("writing a response panicked"),
    }
}

enum ReadError {
    TooLarge,
    /// A method name that `http::Method` rejects; no route can have it.
    Method,
    Io(std::io::Error),
}

fn read_request(request: &mut tiny_http::Request) -> Result<HttpRequest, ReadError> {
    let method = http::Method::from_bytes(request.method().as_str().as_bytes())
        .map_err(|_| ReadError::Method)?;
    if request.body_length().unwrap_or(0) > MAX_REQUEST_BYTES {
        return Err(ReadError::TooLarge);
    }

    let mut body = Vec::new();
    let limit = MAX_REQUEST_BYTES as u64 + 1;
    request
        .as_reader()
        .take(limit)
        .read_to_end(&mut body)
        .map_err(ReadError::Io)?;
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ReadError::TooLarge);
    }

    let headers = request
        .headers()
        .iter()
        .map(|header| {
            let name = header.field.as_str().as_str().to_owned();
            (name, header.value.as_str().as_bytes().to_vec())
        })
        .collect();
    let client = request
        .remote_addr()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    Ok(HttpRequest {
        method,
        target: request.url().to_owned(),
        headers,
        body,
        client,
    })
}

fn tiny_response(response: HttpResponse) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut converted =
        tiny_http::Response::from_data(response.body).with_status_code(response.status);
    for (name, value) in &response.headers {
        // tiny_http writes Content-Length itself, from the body.
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        match tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            Ok(header) => converted.add_header(header),
            Err(()) => warn!(
                header = name.as_str(),
                "dropped a response header that is not ASCII"
            ),
        }
    }
    converted
}
