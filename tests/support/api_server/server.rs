//! The HTTP/1.1 listener of the local API server: one tokio task per connection, requests
//! parsed with httparse, persistent connections, `Expect: 100-continue`, and the size limits
//! of API Gateway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::event::HttpRequest;
use super::gateway::{gateway_error, Functions, Gateway, HttpResponse};
use super::token::TokenKey;

/// The largest request body accepted: the payload limit of API Gateway HTTP APIs, 10 MB.
pub const MAX_REQUEST_BYTES: usize = 10 * 1000 * 1000;

/// The largest request line and headers accepted together, in bytes.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Maximum number of header fields in one request.
const MAX_HEADERS: usize = 100;

/// How long an idle persistent connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running local API server. Dropping it stops accepting connections.
pub struct LocalServer {
    address: SocketAddr,
    acceptor: JoinHandle<()>,
}

/// Failures to start the server.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("only loopback addresses may be served, not {0}")]
    NotLoopback(SocketAddr),

    #[error("listening on {address} failed: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

impl LocalServer {
    /// Listens on `address`, which must be a loopback address (port 0 picks a free port), and
    /// serves `functions` behind a JWT check with `key`, running every task on `runtime`.
    pub fn start(
        address: SocketAddr,
        key: TokenKey,
        functions: Arc<dyn Functions>,
        runtime: Handle,
    ) -> Result<Self, StartError> {
        if !address.ip().is_loopback() {
            return Err(StartError::NotLoopback(address));
        }
        let bind_error = |source| StartError::Bind { address, source };
        let listener = std::net::TcpListener::bind(address).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let address = listener.local_addr().map_err(bind_error)?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener).map_err(bind_error)?
        };

        let gateway = Arc::new(Gateway::new(key, functions, address));
        let acceptor = runtime.spawn(accept_connections(listener, gateway));
        info!(%address, "local API server listening");
        Ok(Self { address, acceptor })
    }

    /// Returns the address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Returns the base URL of the API, such as `http://127.0.0.1:3000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.acceptor.abort();
        info!(address = %self.address, "local API server stopped");
    }
}

async fn accept_connections(listener: TcpListener, gateway: Arc<Gateway>) {
    loop {
        match listener.accept().await {
            Ok((stream, client)) => {
                tokio::spawn(serve_connection(stream, client, Arc::clone(&gateway)));
            }
            Err(error) => {
                warn!(%error, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A request head that could not be read, and the response it gets before the connection
/// closes.
#[derive(Debug)]
enum HeadError {
    /// The peer closed the connection, or went idle, between requests.
    Closed,
    Io(std::io::Error),
    Rejected(u16, &'static str),
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
}

/// The parts of a request head the server acts on.
struct Head {
    request: HttpRequest,
    framing: Framing,
    expects_continue: bool,
    keep_alive: bool,
}

async fn serve_connection(stream: TcpStream, client: SocketAddr, gateway: Arc<Gateway>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let head = match tokio::time::timeout(IDLE_TIMEOUT, read_head(&mut reader, client)).await {
            Ok(Ok(head)) => head,
            Ok(Err(HeadError::Rejected(status, message))) => {
                warn!(
                    status,
                    reason = message,
                    "rejected a request that cannot be read"
                );
                let response = gateway_error(status, message, "-");
                let _ = write_response(&mut writer, &response, false).await;
                return;
            }
            Ok(Err(HeadError::Io(error))) => {
                warn!(%error, "reading a request failed");
                return;
            }
            Ok(Err(HeadError::Closed)) | Err(_) => return,
        };

        let keep_alive = head.keep_alive;
        let body = tokio::time::timeout(IDLE_TIMEOUT, read_body(&mut reader, &mut writer, head));
        let read = body
            .await
            .unwrap_or(Err(HeadError::Rejected(408, "Request Timeout")));
        let response = match read {
            Ok(request) => gateway.handle(request).await,
            Err(HeadError::Rejected(status, message)) => {
                warn!(
                    status,
                    reason = message,
                    "rejected a request body that cannot be read"
                );
                let response = gateway_error(status, message, "-");
                let _ = write_response(&mut writer, &response, false).await;
                return;
            }
            Err(HeadError::Io(error)) => {
                warn!(%error, "reading a request body failed");
                return;
            }
            Err(HeadError::Closed) => return,
        };
        if let Err(error) = write_response(&mut writer, &response, keep_alive).await {
            warn!(%error, "writing a response failed");
            return;
        }
        if !keep_alive {
            return;
        }
    }
}

/// Reads the request line and headers, up to the empty line that ends them.
async fn read_head(
    reader: &mut BufReader<OwnedReadHalf>,
    client: SocketAddr,
) -> Result<Head, HeadError> {
    let mut buffer = Vec::new();
    loop {
        let before = buffer.len();
        let limit = (MAX_HEAD_BYTES + 1 - before) as u64;
        let read = (&mut *reader)
            .take(limit)
            .read_until(b'\n', &mut buffer)
            .await
            .map_err(HeadError::Io)?;
        if read == 0 {
            return Err(if before == 0 {
                HeadError::Closed
            } else {
                HeadError::Rejected(400, "Bad Request")
            });
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Err(HeadError::Rejected(431, "Request Header Fields Too Large"));
        }
        // Empty lines before a request line are allowed (RFC 9112, section 2.2).
        if before == 0 && (buffer == b"\r\n" || buffer == b"\n") {
            buffer.clear();
            continue;
        }
        if buffer.ends_with(b"\r\n\r\n") || buffer.ends_with(b"\n\n") {
            return parse_head(&buffer, client);
        }
    }
}

fn parse_head(buffer: &[u8], client: SocketAddr) -> Result<Head, HeadError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(_)) => {}
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HeadError::Rejected(431, "Request Header Fields Too Large"))
        }
        _ => return Err(HeadError::Rejected(400, "Bad Request")),
    }

    let method = parsed
        .method
        .and_then(|method| http::Method::from_bytes(method.as_bytes()).ok())
        .ok_or(HeadError::Rejected(400, "Bad Request"))?;
    let target = parsed.path.unwrap_or_default().to_owned();
    let headers: Vec<(String, Vec<u8>)> = parsed
        .headers
        .iter()
        .map(|field| (field.name.to_owned(), field.value.to_vec()))
        .collect();
    let request = HttpRequest {
        method,
        target,
        headers,
        body: Vec::new(),
        client,
    };

    let framing = body_framing(&request)?;

    let expects_continue = request
        .header("expect")
        .is_some_and(|value| value.eq_ignore_ascii_case(b"100-continue"));
    let keep_alive = keeps_alive(parsed.version, request.header("connection"));
    Ok(Head {
        request,
        framing,
        expects_continue,
        keep_alive,
    })
}

/// Reads the framing from `Transfer-Encoding` and `Content-Length`. A message with both is
/// rejected, as RFC 9112 (section 6.1) allows, because the two can disagree.
fn body_framing(request: &HttpRequest) -> Result<Framing, HeadError> {
    let bad_request = HeadError::Rejected(400, "Bad Request");
    // Two Content-Length headers that disagree leave the body's end ambiguous.
    let mut lengths = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .map(|(_, value)| value.as_slice());
    let first_length = lengths.next();
    if lengths.any(|other| Some(other) != first_length) {
        return Err(bad_request);
    }

    match (request.header("transfer-encoding"), first_length) {
        (Some(_), Some(_)) => Err(bad_request),
        (Some(coding), None) if coding.eq_ignore_ascii_case(b"chunked") => Ok(Framing::Chunked),
        (Some(_), None) => Err(HeadError::Rejected(501, "Not Implemented")),
        (None, None) => Ok(Framing::Length(0)),
        (None, Some(value)) => {
            let length = std::str::from_utf8(value)
                .ok()
                .map(str::trim)
                .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
                .and_then(|text| text.parse::<usize>().ok())
                .ok_or(bad_request)?;
            if length > MAX_REQUEST_BYTES {
                return Err(HeadError::Rejected(413, "Request Entity Too Large"));
            }
            Ok(Framing::Length(length))
        }
    }
}

/// HTTP/1.1 connections persist unless the client sends `Connection: close`, and HTTP/1.0
/// connections close unless it sends `Connection: keep-alive`.
fn keeps_alive(version: Option<u8>, connection: Option<&[u8]>) -> bool {
    let has_token = |token: &str| {
        connection.is_some_and(|value| {
            String::from_utf8_lossy(value)
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    };
    match version {
        Some(1) => !has_token("close"),
        _ => has_token("keep-alive"),
    }
}

/// Reads the body that `head` announces. A chunked body over [`MAX_REQUEST_BYTES`] gets 413.
/// The caller bounds the time, so a client that sends less than it announced gets 408.
async fn read_body(
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
    head: Head,
) -> Result<HttpRequest, HeadError> {
    let mut request = head.request;
    if head.framing == Framing::Length(0) {
        return Ok(request);
    }
    if head.expects_continue {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(HeadError::Io)?;
    }
    request.body = match head.framing {
        Framing::Length(length) => {
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).await.map_err(HeadError::Io)?;
            body
        }
        Framing::Chunked => read_chunked(reader).await?,
    };
    Ok(request)
}

/// Reads a chunked body (RFC 9112, section 7.1), ignoring chunk extensions and trailers.
async fn read_chunked(reader: &mut BufReader<OwnedReadHalf>) -> Result<Vec<u8>, HeadError> {
    let bad_request = || HeadError::Rejected(400, "Bad Request");
    let mut body = Vec::new();
    loop {
        let line = read_line(reader).await?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad_request())?;
        if size == 0 {
            while !read_line(reader).await?.is_empty() {}
            return Ok(body);
        }
        // Compared by subtraction, because a client may announce a size near usize::MAX.
        if size > MAX_REQUEST_BYTES - body.len() {
            return Err(HeadError::Rejected(413, "Request Entity Too Large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .await
            .map_err(HeadError::Io)?;
        if !read_line(reader).await?.is_empty() {
            return Err(bad_request());
        }
    }
}

/// Reads one line of at most [`MAX_HEAD_BYTES`] without its line ending.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> Result<String, HeadError> {
    let mut line = Vec::new();
    (&mut *reader)
        .take(MAX_HEAD_BYTES as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(HeadError::Io)?;
    if !line.ends_with(b"\n") {
        return Err(HeadError::Rejected(400, "Bad Request"));
    }
    let text = String::from_utf8_lossy(&line);
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

async fn write_response(
    writer: &mut OwnedWriteHalf,
    response: &HttpResponse,
    keep_alive: bool,
) -> std::io::Result<()> {
    let reason = http::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("");
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", response.status);
    for (name, value) in &response.headers {
        // The server writes the framing headers itself.
        let framing = ["content-length", "connection", "transfer-encoding"]
            .iter()
            .any(|framing| name.eq_ignore_ascii_case(framing));
        if !framing {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("content-length: {}\r\n", response.body.len()));
    if !keep_alive {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");

    writer.write_all(head.as_bytes()).await?;
    writer.write_all(&response.body).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> SocketAddr {
        "127.0.0.1:40000".parse().unwrap()
    }

    #[test]
    fn parse_head_reads_request() {
        let head = parse_head(
            b"POST /endpoints?a=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Name: caf\xc3\xa9\r\n\r\n",
            client(),
        )
        .unwrap();

        assert_eq!(head.request.method, http::Method::POST);
        assert_eq!(head.request.target, "/endpoints?a=1");
        assert_eq!(head.framing, Framing::Length(2));
        assert!(head.keep_alive);
        assert_eq!(head.request.header("x-name"), Some("café".as_bytes()));
    }

    #[test]
    fn parse_head_rejects_bad_framing() {
        let cases: [(&[u8], u16); 6] = [
            (b"GET /endpoints HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
            (
                b"GET /endpoints HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                501,
            ),
            (
                b"POST /endpoints HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
                413,
            ),
            (b"NOT A REQUEST\r\n\r\n", 400),
            (
                b"POST /endpoints HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
                400,
            ),
            (
                b"POST /endpoints HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
        ];
        for (head, status) in cases {
            let result = parse_head(head, client());
            assert!(
                matches!(result, Err(HeadError::Rejected(rejected, _)) if rejected == status),
                "{}: expected {status}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn keeps_alive_follows_version_and_header() {
        assert!(keeps_alive(Some(1), None));
        assert!(!keeps_alive(Some(1), Some(b"close")));
        assert!(!keeps_alive(Some(0), None));
        assert!(keeps_alive(Some(0), Some(b"Keep-Alive")));
    }
}
