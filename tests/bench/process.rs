//! One function process started against its own [`RuntimeApi`] stand-in: start it, wait for
//! its first `GET /next`, send it events, read its peak memory, and stop it by its PID.

use crate::runtime_api::{Notice, RuntimeApi};
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How often a wait checks whether the process exited.
const EXIT_POLL: Duration = Duration::from_millis(2);

/// What to run: a function binary, or the Python stand-in script under an interpreter.
#[derive(Debug, Clone)]
pub enum Program {
    Binary(PathBuf),
    Python {
        interpreter: PathBuf,
        script: PathBuf,
    },
}

/// A process to start, with the complete environment it gets.
#[derive(Debug, Clone)]
pub struct Launch {
    pub label: String,
    pub program: Program,
    pub env: Vec<(String, String)>,
    /// File that receives the process's stdout and stderr.
    pub log: PathBuf,
}

/// Why a run stopped before its measurement.
#[derive(Debug)]
pub enum RunError {
    Start(String),
    Exited { status: String, log_tail: String },
    InitError(String),
    TimedOut(String),
    Memory(String),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Start(message) => write!(f, "starting the process failed: {message}"),
            Self::Exited { status, log_tail } => write!(
                f,
                "the process exited ({status}) before it finished; last output: {log_tail:?}"
            ),
            Self::InitError(body) => write!(f, "the function reported an init error: {body}"),
            Self::TimedOut(what) => write!(f, "timed out waiting for {what}"),
            Self::Memory(message) => write!(f, "reading peak memory failed: {message}"),
        }
    }
}

/// The outcome of one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// From writing the event to the process to reading its response.
    pub latency: Duration,
    /// False when the function posted to `/error` instead of `/response`.
    pub succeeded: bool,
    /// `statusCode` of an API Gateway response body, when the body has one.
    pub status_code: Option<u16>,
}

/// A running function process. Dropping it kills the process.
pub struct FunctionProcess {
    child: Child,
    api: RuntimeApi,
    started_at: Instant,
    log: PathBuf,
}

impl FunctionProcess {
    /// Starts `launch` against a new stand-in. The clock of [`Self::wait_for_init`] starts
    /// just before the spawn.
    pub fn start(launch: &Launch) -> Result<Self, RunError> {
        let api = RuntimeApi::start().map_err(|error| RunError::Start(error.to_string()))?;
        let mut command = match &launch.program {
            Program::Binary(path) => Command::new(path),
            Program::Python {
                interpreter,
                script,
            } => {
                let mut command = Command::new(interpreter);
                command.arg(script);
                command
            }
        };
        let log = File::create(&launch.log)
            .map_err(|error| RunError::Start(format!("{}: {error}", launch.log.display())))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(|error| RunError::Start(error.to_string()))?;
        command
            .env_clear()
            .envs(launch.env.iter().map(|(key, value)| (key, value)))
            .env("AWS_LAMBDA_RUNTIME_API", api.host_port())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_for_stderr));

        let started_at = Instant::now();
        let child = command
            .spawn()
            .map_err(|error| RunError::Start(format!("{}: {error}", launch.label)))?;
        Ok(Self {
            child,
            api,
            started_at,
            log: launch.log.clone(),
        })
    }

    /// Waits for the first `GET /next` and returns the time since the spawn.
    pub fn wait_for_init(&mut self, timeout: Duration) -> Result<Duration, RunError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_notice(deadline, "the first GET /next")? {
                Notice::NextRequested { at } => return Ok(at - self.started_at),
                Notice::InitError { body, .. } => {
                    return Err(RunError::InitError(String::from_utf8_lossy(&body).into()))
                }
                _ => continue,
            }
        }
    }

    /// Sends one event and waits for its response or error.
    pub fn invoke(&mut self, payload: &[u8], timeout: Duration) -> Result<Invocation, RunError> {
        let request_id = self
            .api
            .queue_event(payload.to_vec(), timeout)
            .map_err(|error| RunError::Start(error.to_string()))?;
        let deadline = Instant::now() + timeout;
        let mut delivered_at = None;
        loop {
            match self.next_notice(deadline, "the function's response")? {
                Notice::EventDelivered { request_id: id, at } if id == request_id => {
                    delivered_at = Some(at);
                }
                Notice::Response {
                    request_id: id,
                    at,
                    body,
                } if id == request_id => {
                    return Ok(finished(delivered_at, at, true, &body));
                }
                Notice::Error {
                    request_id: id,
                    at,
                    body,
                } if id == request_id => {
                    return Ok(finished(delivered_at, at, false, &body));
                }
                _ => continue,
            }
        }
    }

    /// Returns the process's peak resident set size (`VmHWM`) in KiB.
    pub fn peak_rss_kib(&self) -> Result<u64, RunError> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = fs::read_to_string(&path)
            .map_err(|error| RunError::Memory(format!("{path}: {error}")))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| RunError::Memory(format!("{path} has no VmHWM line")))
    }

    /// Returns the next notice before `deadline`, or an error when the process exited or the
    /// deadline passed.
    fn next_notice(&mut self, deadline: Instant, waiting_for: &str) -> Result<Notice, RunError> {
        loop {
            if let Some(notice) = self.api.next_notice(EXIT_POLL) {
                return Ok(notice);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(RunError::Exited {
                    status: status.to_string(),
                    log_tail: log_tail(&self.log),
                });
            }
            if Instant::now() >= deadline {
                return Err(RunError::TimedOut(waiting_for.to_owned()));
            }
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        // The process is this run's own child, so its PID cannot have been reused before
        // `wait` reaps it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn finished(
    delivered_at: Option<Instant>,
    at: Instant,
    succeeded: bool,
    body: &[u8],
) -> Invocation {
    // The stand-in sends the delivery notice before it writes the event, so it is always
    // there; zero would only show a stand-in bug.
    let latency = delivered_at.map_or(Duration::ZERO, |delivered| {
        at.saturating_duration_since(delivered)
    });
    Invocation {
        latency,
        succeeded,
        status_code: status_code(body),
    }
}

fn status_code(body: &[u8]) -> Option<u16> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get("statusCode")?.as_u64()?;
    u16::try_from(code).ok()
}

/// Returns the last few hundred bytes of the process's log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(600);
    let start = (start..text.len())
        .find(|&index| text.is_char_boundary(index))
        .unwrap_or(text.len());
    text[start..].trim().to_owned()
}
