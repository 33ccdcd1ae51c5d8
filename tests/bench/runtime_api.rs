//! A local stand-in of the Lambda Runtime API on 127.0.0.1, enough for one function process:
//! `GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response`,
//! `POST .../invocation/{id}/error` and `POST .../init/error`.
//!
//! The server is plain blocking HTTP/1.1 on a thread per connection, so that it adds no
//! scheduler of its own to the times it records. Every request is stamped with an [`Instant`]
//! as soon as its head is read, and the driver receives these stamps as [`Notice`]s.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// Largest request head or body the stand-in reads. Function responses in the benchmarks are
/// a few kilobytes; the limit only stops a broken client from growing memory without bound.
const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// How often a waiting `GET /next` checks whether the server is shutting down.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The invoked function ARN that the stand-in sends with every event.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:111111111111:function:bench";

/// What the function process did, stamped when the stand-in read the request.
#[derive(Debug)]
pub enum Notice {
    /// The process asked for work: its initialization is done.
    NextRequested {
        at: Instant,
    },
    /// The event is about to be written to the process, as the response to its `GET /next`.
    EventDelivered {
        request_id: String,
        at: Instant,
    },
    Response {
        request_id: String,
        at: Instant,
        body: Vec<u8>,
    },
    Error {
        request_id: String,
        at: Instant,
        body: Vec<u8>,
    },
    InitError {
        body: Vec<u8>,
    },
}

struct Event {
    request_id: String,
    payload: Vec<u8>,
    deadline_ms: u64,
}

struct Shared {
    events: Mutex<Receiver<Event>>,
    notices: Mutex<Sender<Notice>>,
    stopping: AtomicBool,
}

/// A running stand-in. Dropping it stops the accept loop and fails any waiting `GET /next`.
pub struct RuntimeApi {
    address: SocketAddr,
    events: Sender<Event>,
    notices: Receiver<Notice>,
    shared: Arc<Shared>,
    next_request_id: AtomicU64,
}

impl RuntimeApi {
    /// Starts the stand-in on a free port of 127.0.0.1.
    pub fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let address = listener.local_addr()?;
        let (event_sender, event_receiver) = mpsc::channel();
        let (notice_sender, notice_receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            events: Mutex::new(event_receiver),
            notices: Mutex::new(notice_sender),
            stopping: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("runtime-api-accept".to_owned())
            .spawn(move || accept_loop(listener, accept_shared))?;
        Ok(Self {
            address,
            events: event_sender,
            notices: notice_receiver,
            shared,
            next_request_id: AtomicU64::new(1),
        })
    }

    /// Returns the value for `AWS_LAMBDA_RUNTIME_API`: host and port, without a scheme.
    pub fn host_port(&self) -> String {
        self.address.to_string()
    }

    /// Queues `payload` for the next `GET /next` and returns its request id. `timeout` sets the
    /// deadline header that the function gets.
    pub fn queue_event(&self, payload: Vec<u8>, timeout: Duration) -> io::Result<String> {
        let number = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("00000000-0000-4000-8000-{number:012}");
        let deadline = SystemTime::now() + timeout;
        let deadline_ms = deadline
            .duration_since(UNIX_EPOCH)
            .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let event = Event {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
        };
        self.events
            .send(event)
            .map_err(|_| io::Error::other("the runtime API stand-in has stopped"))?;
        Ok(request_id)
    }

    /// Returns the next notice, or `None` when none arrives within `timeout`.
    pub fn next_notice(&self, timeout: Duration) -> Option<Notice> {
        self.notices.recv_timeout(timeout).ok()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that its thread reads the flag and returns.
        let _ = TcpStream::connect(self.address);
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let connection_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("runtime-api-connection".to_owned())
            .spawn(move || serve_connection(stream, &connection_shared));
        if let Err(error) = spawned {
            eprintln!("runtime API stand-in: starting a connection thread failed: {error}");
        }
    }
}

/// One parsed HTTP request.
struct HttpRequest {
    method: String,
    path: String,
    body: Vec<u8>,
    received_at: Instant,
}

fn serve_connection(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut writer = write_half;
    let mut reader = BufReader::new(stream);
    // Keep-alive: lambda_runtime reuses one connection for every call.
    while let Ok(Some(request)) = read_request(&mut reader) {
        if route(&request, &mut writer, shared).is_err() {
            break;
        }
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

fn route(request: &HttpRequest, writer: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    let at = request.received_at;
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", NEXT_PATH) => {
            notify(shared, Notice::NextRequested { at });
            serve_next(writer, shared)
        }
        ("POST", INIT_ERROR_PATH) => {
            let body = request.body.clone();
            notify(shared, Notice::InitError { body });
            write_accepted(writer)
        }
        ("POST", path) if path.starts_with(INVOCATION_PREFIX) => {
            let rest = &path[INVOCATION_PREFIX.len()..];
            match rest.split_once('/') {
                Some((id, "response")) => {
                    let request_id = id.to_owned();
                    let body = request.body.clone();
                    notify(
                        shared,
                        Notice::Response {
                            request_id,
                            at,
                            body,
                        },
                    );
                    write_accepted(writer)
                }
                Some((id, "error")) => {
                    let request_id = id.to_owned();
                    let body = request.body.clone();
                    notify(
                        shared,
                        Notice::Error {
                            request_id,
                            at,
                            body,
                        },
                    );
                    write_accepted(writer)
                }
                _ => write_status(writer, 404, "Not Found"),
            }
        }
        _ => write_status(writer, 404, "Not Found"),
    }
}

fn notify(shared: &Shared, notice: Notice) {
    if let Ok(sender) = shared.notices.lock() {
        // The driver may have finished with this process; a lost notice is then harmless.
        let _ = sender.send(notice);
    }
}

/// Waits for a queued event and writes it as the response to `GET /next`.
fn serve_next(writer: &mut TcpStream, shared: &Shared) -> io::Result<()> {
    let event = loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return Err(io::Error::other("stopping"));
        }
        let received = match shared.events.lock() {
            Ok(events) => events.recv_timeout(STOP_POLL),
            Err(_) => return Err(io::Error::other("event queue poisoned")),
        };
        match received {
            Ok(event) => break event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Err(io::Error::other("stopped")),
        }
    };

    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Lambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {}\r\n\
         Lambda-Runtime-Invoked-Function-Arn: {FUNCTION_ARN}\r\n\
         Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\r\n",
        event.payload.len(),
        event.request_id,
        event.deadline_ms,
    );
    // Sent before the write, so that the driver always reads it before the response.
    notify(
        shared,
        Notice::EventDelivered {
            request_id: event.request_id,
            at: Instant::now(),
        },
    );
    writer.write_all(head.as_bytes())?;
    writer.write_all(&event.payload)?;
    writer.flush()
}

fn write_accepted(writer: &mut TcpStream) -> io::Result<()> {
    let body = br#"{"status":"OK"}"#;
    let head = format!(
        "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    writer.write_all(head.as_bytes())?;
    writer.write_all(body)?;
    writer.flush()
}

fn write_status(writer: &mut TcpStream, code: u16, reason: &str) -> io::Result<()> {
    let head = format!("HTTP/1.1 {code} {reason}\r\nContent-Length: 0\r\n\r\n");
    writer.write_all(head.as_bytes())?;
    writer.flush()
}

/// Reads one request, or returns `None` when the client closed the connection between
/// requests.
fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<HttpRequest>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let received_at = Instant::now();
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(invalid(format!("malformed request line {request_line:?}")));
    };
    let path = target.split('?').next().unwrap_or(target).to_owned();
    let method = method.to_owned();

    let headers = read_headers(reader)?;
    let body = read_body(reader, &headers)?;
    Ok(Some(HttpRequest {
        method,
        path,
        body,
        received_at,
    }))
}

/// Reads header lines up to the blank line, with names in lower case.
fn read_headers(reader: &mut BufReader<TcpStream>) -> io::Result<HashMap<String, String>> {
    let mut headers = HashMap::new();
    let mut total = 0;
    loop {
        let mut line = String::new();
        let read = reader.read_line(&mut line)?;
        total += read;
        if read == 0 || total > MAX_MESSAGE_BYTES {
            return Err(invalid(
                "request head ended early or is too large".to_owned(),
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Ok(headers);
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
}

fn read_body(
    reader: &mut BufReader<TcpStream>,
    headers: &HashMap<String, String>,
) -> io::Result<Vec<u8>> {
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return read_chunked(reader);
    }
    let length = match headers.get("content-length") {
        Some(value) => value
            .parse::<usize>()
            .map_err(|_| invalid(format!("invalid Content-Length {value:?}")))?,
        None => 0,
    };
    if length > MAX_MESSAGE_BYTES {
        return Err(invalid(format!("body of {length} bytes is too large")));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// Decodes a chunked body and discards any trailers.
fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size_text = size_line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("invalid chunk size {size_line:?}")))?;
        if size == 0 {
            // Trailers end with a blank line, like headers.
            read_headers(reader)?;
            return Ok(body);
        }
        if body.len() + size > MAX_MESSAGE_BYTES {
            return Err(invalid("chunked body is too large".to_owned()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
