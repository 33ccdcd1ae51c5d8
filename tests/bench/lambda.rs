//! Parts 3 to 5: cold start, binary size and peak memory of the function binaries, each
//! compared with an empty lambda_runtime binary built with the same profile.

use crate::events::{http_event, scheduled_event};
use crate::fixture::Fixture;
use crate::functions::{lambda_env, FunctionInfo, FUNCTIONS};
use crate::process::{FunctionProcess, Invocation, Launch, Program, RunError};
use crate::report::{PartResult, Table};
use crate::stats::{format_ns, ratio_text, summarize, Summary};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The floor binary, a workspace member in `tests/bench/empty-lambda`.
pub const EMPTY_BINARY: &str = "bench-empty-lambda";

const MAX_COLD_START_RATIO: f64 = 1.5;
const MAX_PEAK_RSS_MIB: f64 = 40.0;
const MAX_SIZE_DYNAMODB_ONLY_MIB: f64 = 12.0;
const MAX_SIZE_WITH_STS_S3_MIB: f64 = 16.0;

/// Maximum wait for a process to request its first event.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the binaries and the Python stand-in are, and how much to run.
#[derive(Debug, Clone)]
pub struct LambdaSettings {
    pub bin_dir: PathBuf,
    pub python: Option<PathBuf>,
    pub python_script: PathBuf,
    pub log_dir: PathBuf,
    pub cold_start_runs: usize,
    pub load_invocations: usize,
    /// Time limit of one process's load run, whatever the count.
    pub load_budget: Duration,
}

/// What a run starts: a process, and the events it gets in turn.
struct Candidate {
    label: String,
    program: Program,
    env: Vec<(String, String)>,
    timeout: Duration,
    events: EventSource,
}

enum EventSource {
    /// The same events in turn.
    Cycle(Vec<Vec<u8>>),
    /// A create request with a new name and prefix each time, so none conflicts.
    Creates(CreateBodies),
}

/// Create request bodies for the fixture's bucket, each with a new number after a tag that is
/// unique to the candidate, so that no two requests of a run share a name or a prefix.
struct CreateBodies {
    tenant: String,
    template: serde_json::Value,
    tag: String,
    next_number: AtomicUsize,
}

impl EventSource {
    fn event(&self, index: usize) -> Vec<u8> {
        match self {
            Self::Cycle(events) => events[index % events.len()].clone(),
            Self::Creates(bodies) => bodies.event(),
        }
    }
}

impl CreateBodies {
    fn event(&self) -> Vec<u8> {
        let index = self.next_number.fetch_add(1, Ordering::Relaxed);
        let mut body = self.template.clone();
        body["name"] = json!(format!("Load {} {index}", self.tag));
        body["prefix"] = json!(format!("load-{}-{index}/", self.tag));
        let body = body.to_string();
        let event = http_event("POST", "/endpoints", "", Some(&body), &self.tenant);
        event.to_string().into_bytes()
    }
}

/// One cold start: process start to first `GET /next`, then the first invocation.
#[derive(Debug, Clone)]
struct ColdStart {
    init: Duration,
    first: Invocation,
}

/// Results of one candidate's load run.
#[derive(Debug, Clone)]
struct LoadRun {
    invocations: usize,
    failed: usize,
    peak_rss_kib: u64,
    latency: Option<Summary>,
}

/// Runs parts 3 and 5 and returns (cold start, memory). Part 4 needs no processes; see
/// [`binary_sizes`].
pub fn cold_start_and_memory(
    settings: &LambdaSettings,
    fixture: &Fixture,
    seeded_id: &str,
) -> Result<(PartResult, PartResult), String> {
    let candidates = candidates(settings, fixture, seeded_id)?;
    let cold = measure_cold_starts(settings, &candidates);
    let loads: Vec<(String, Result<LoadRun, String>)> = candidates
        .iter()
        .filter(|candidate| !matches!(candidate.program, Program::Python { .. }))
        .map(|candidate| (candidate.label.clone(), load_run(settings, candidate)))
        .collect();
    Ok((
        cold_start_part(settings, &candidates, &cold, &loads),
        memory_part(settings, &loads),
    ))
}

fn candidates(
    settings: &LambdaSettings,
    fixture: &Fixture,
    seeded_id: &str,
) -> Result<Vec<Candidate>, String> {
    let tenant = fixture.tenant.as_str();
    let external_id_event = http_event("GET", "/external-id", "", None, tenant)
        .to_string()
        .into_bytes();
    let mut candidates = vec![Candidate {
        label: EMPTY_BINARY.to_owned(),
        program: Program::Binary(settings.bin_dir.join(EMPTY_BINARY)),
        env: lambda_env(EMPTY_BINARY, 256, &fixture.table, &[])?,
        timeout: Duration::from_secs(10),
        events: EventSource::Cycle(vec![external_id_event.clone()]),
    }];
    for function in FUNCTIONS {
        candidates.push(Candidate {
            label: function.name.to_owned(),
            program: Program::Binary(settings.bin_dir.join(function.name)),
            env: lambda_env(
                function.name,
                function.memory_mb,
                &fixture.table,
                function.extra_env,
            )?,
            timeout: function.timeout,
            events: function_events(&function, fixture, seeded_id),
        });
    }
    if let Some(python) = &settings.python {
        for clients in python_client_sets() {
            let mut env = lambda_env("python-boto3", 256, &fixture.table, &[])?;
            env.push(("BENCH_PYTHON_CLIENTS".to_owned(), clients.to_owned()));
            env.push(("BENCH_TENANT".to_owned(), tenant.to_owned()));
            candidates.push(Candidate {
                label: python_label(clients),
                program: Program::Python {
                    interpreter: python.clone(),
                    script: settings.python_script.clone(),
                },
                env,
                timeout: Duration::from_secs(10),
                events: EventSource::Cycle(vec![external_id_event.clone()]),
            });
        }
    }
    Ok(candidates)
}

/// Returns the distinct sets of boto3 clients of the functions, in the order of [`FUNCTIONS`].
fn python_client_sets() -> Vec<&'static str> {
    let mut sets: Vec<&'static str> = Vec::new();
    for function in FUNCTIONS {
        if !sets.contains(&function.python_clients) {
            sets.push(function.python_clients);
        }
    }
    sets
}

fn python_label(clients: &str) -> String {
    format!("python boto3 ({clients})")
}

fn function_events(function: &FunctionInfo, fixture: &Fixture, seeded_id: &str) -> EventSource {
    let tenant = fixture.tenant.as_str();
    let encode = |event: serde_json::Value| event.to_string().into_bytes();
    match function.name {
        "render-policy" => {
            let policy_body = fixture.policy_body("data/", "read_write");
            EventSource::Cycle(vec![
                encode(http_event("GET", "/external-id", "", None, tenant)),
                encode(http_event(
                    "POST",
                    "/policies",
                    "",
                    Some(&policy_body),
                    tenant,
                )),
            ])
        }
        "list-endpoints" => EventSource::Cycle(vec![
            encode(http_event("GET", "/endpoints", "limit=50", None, tenant)),
            encode(http_event(
                "GET",
                &format!("/endpoints/{seeded_id}"),
                "",
                None,
                tenant,
            )),
        ]),
        "test-endpoint" => {
            let body = fixture.body(None, "data/", "read_only");
            EventSource::Cycle(vec![encode(http_event(
                "POST",
                "/endpoints/test",
                "",
                Some(&body),
                tenant,
            ))])
        }
        "create-endpoint" => {
            // The name and prefix are replaced in every request.
            let body = fixture.body(Some("placeholder"), "placeholder/", "read_only");
            let template = serde_json::from_str(&body).unwrap_or_default();
            EventSource::Creates(CreateBodies {
                tenant: tenant.to_owned(),
                template,
                tag: ulid::Ulid::generate().to_string().to_lowercase(),
                next_number: AtomicUsize::new(0),
            })
        }
        _ => EventSource::Cycle(vec![encode(scheduled_event())]),
    }
}

fn launch(settings: &LambdaSettings, candidate: &Candidate, run: &str) -> Launch {
    let file_name = format!(
        "{}-{run}.log",
        candidate.label.replace([' ', '(', ')', ','], "_")
    );
    Launch {
        label: candidate.label.clone(),
        program: candidate.program.clone(),
        env: candidate.env.clone(),
        log: settings.log_dir.join(file_name),
    }
}

/// Starts each candidate `cold_start_runs` times, in rounds so that drift in the machine's
/// load spreads over every candidate alike.
fn measure_cold_starts(
    settings: &LambdaSettings,
    candidates: &[Candidate],
) -> Vec<Result<Vec<ColdStart>, String>> {
    let mut results: Vec<Result<Vec<ColdStart>, String>> =
        candidates.iter().map(|_| Ok(Vec::new())).collect();
    for round in 0..settings.cold_start_runs {
        for (candidate, result) in candidates.iter().zip(results.iter_mut()) {
            let Ok(runs) = result else { continue };
            match cold_start_once(settings, candidate, round) {
                Ok(run) => runs.push(run),
                Err(error) => *result = Err(error),
            }
        }
    }
    results
}

fn cold_start_once(
    settings: &LambdaSettings,
    candidate: &Candidate,
    round: usize,
) -> Result<ColdStart, String> {
    if let Program::Binary(path) = &candidate.program {
        if !path.is_file() {
            return Err(format!("{} is not built", path.display()));
        }
    }
    let launch = launch(settings, candidate, &format!("cold-{round}"));
    let mut process = FunctionProcess::start(&launch).map_err(|error| error.to_string())?;
    let init = process
        .wait_for_init(INIT_TIMEOUT)
        .map_err(|error| describe(&candidate.label, &error))?;
    let first = process
        .invoke(&candidate.events.event(round), candidate.timeout)
        .map_err(|error| describe(&candidate.label, &error))?;
    Ok(ColdStart { init, first })
}

fn describe(label: &str, error: &RunError) -> String {
    format!("{label}: {error}")
}

/// Sends `load_invocations` events to one process, then reads its peak memory.
fn load_run(settings: &LambdaSettings, candidate: &Candidate) -> Result<LoadRun, String> {
    if let Program::Binary(path) = &candidate.program {
        if !path.is_file() {
            return Err(format!("{} is not built", path.display()));
        }
    }
    let launch = launch(settings, candidate, "load");
    let mut process = FunctionProcess::start(&launch).map_err(|error| error.to_string())?;
    process
        .wait_for_init(INIT_TIMEOUT)
        .map_err(|error| describe(&candidate.label, &error))?;

    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut failed = 0;
    for index in 0..settings.load_invocations {
        if started.elapsed() > settings.load_budget {
            break;
        }
        let invocation = process
            .invoke(&candidate.events.event(index), candidate.timeout)
            .map_err(|error| describe(&candidate.label, &error))?;
        if !invocation.succeeded || invocation.status_code.is_some_and(|code| code >= 500) {
            failed += 1;
        }
        latencies.push(invocation.latency);
    }
    let peak_rss_kib = process
        .peak_rss_kib()
        .map_err(|error| describe(&candidate.label, &error))?;
    Ok(LoadRun {
        invocations: latencies.len(),
        failed,
        peak_rss_kib,
        latency: summarize(&latencies),
    })
}

fn median_init(runs: &[ColdStart]) -> Option<Summary> {
    let inits: Vec<Duration> = runs.iter().map(|run| run.init).collect();
    summarize(&inits)
}

fn median_first(runs: &[ColdStart]) -> Option<Summary> {
    let firsts: Vec<Duration> = runs.iter().map(|run| run.first.latency).collect();
    summarize(&firsts)
}

fn first_statuses(runs: &[ColdStart]) -> String {
    let mut statuses: Vec<String> = runs
        .iter()
        .map(|run| match (run.first.succeeded, run.first.status_code) {
            (false, _) => "error".to_owned(),
            (true, Some(code)) => code.to_string(),
            (true, None) => "ok".to_owned(),
        })
        .collect();
    statuses.sort();
    statuses.dedup();
    statuses.join(", ")
}

fn cold_start_part(
    settings: &LambdaSettings,
    candidates: &[Candidate],
    cold: &[Result<Vec<ColdStart>, String>],
    loads: &[(String, Result<LoadRun, String>)],
) -> PartResult {
    let mut part = PartResult::new(
        "cold_start",
        "Cold start",
        &format!(
            "Each binary is started {} times against a local stand-in of the Lambda Runtime API \
             on 127.0.0.1 (`tests/bench/runtime_api.rs`), with the environment that Lambda and \
             `template.yaml` give the function. *Init* is the time from just before the spawn \
             to the stand-in reading the first `GET /runtime/invocation/next`. *First \
             invocation* is the time from writing the first event to reading its response; \
             each function gets one of its own requests against the local stack, and the \
             empty binary echoes its event. Rounds alternate the binaries, so load drift \
             spreads evenly. The floor is `{EMPTY_BINARY}`, an empty lambda_runtime function \
             built with the same release profile; the 1.5x target applies to the init time. \
             The Python floor is `tests/bench/python_function.py` under CPython with boto3 \
             from `scripts/requirements-bench.txt`: it imports boto3 and builds the same \
             clients as the function, then answers each event with one DynamoDB GetItem. \
             Figures are medians (nearest rank) over the runs.",
            settings.cold_start_runs
        ),
    );
    let floor = cold
        .first()
        .and_then(|result| result.as_ref().ok())
        .and_then(|runs| median_init(runs));
    let python_inits: Vec<(String, Option<Summary>)> = candidates
        .iter()
        .zip(cold)
        .filter(|(candidate, _)| matches!(candidate.program, Program::Python { .. }))
        .map(|(candidate, result)| {
            let summary = result.as_ref().ok().and_then(|runs| median_init(runs));
            (candidate.label.clone(), summary)
        })
        .collect();

    let mut rows = Vec::new();
    let mut raw = Vec::new();
    for (candidate, result) in candidates.iter().zip(cold) {
        let runs = match result {
            Ok(runs) if !runs.is_empty() => runs,
            Ok(_) => continue,
            Err(reason) => {
                part.not_measured(&format!("cold start of {}", candidate.label), reason);
                continue;
            }
        };
        let (Some(init), Some(first)) = (median_init(runs), median_first(runs)) else {
            continue;
        };
        let warm = loads
            .iter()
            .find(|(label, _)| *label == candidate.label)
            .and_then(|(_, load)| load.as_ref().ok())
            .and_then(|load| load.latency);
        let python = python_floor_for(&candidate.label, &python_inits);
        rows.push(cold_row(
            &candidate.label,
            &init,
            &first,
            floor.as_ref(),
            python,
            warm.as_ref(),
            runs,
        ));
        raw.push(json!({
            "binary": candidate.label,
            "runs": runs.len(),
            "init": init,
            "first_invocation": first,
            "first_invocation_status": first_statuses(runs),
            "warm_invocation": warm,
        }));
        check_cold_target(&mut part, &candidate.label, &init, floor.as_ref());
    }
    part.tables.push(Table {
        caption: String::new(),
        columns: [
            "Binary",
            "Init (median)",
            "Init / empty",
            "Init / Python",
            "First invocation (median)",
            "First / warm p50",
            "First response status",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    });
    part.raw = json!({ "runs_per_binary": settings.cold_start_runs, "binaries": raw });
    part
}

/// Returns the Python run with the same clients as `label`'s function, for its ratio.
fn python_floor_for<'a>(
    label: &str,
    python_inits: &'a [(String, Option<Summary>)],
) -> Option<&'a Summary> {
    let function = FUNCTIONS.iter().find(|function| function.name == label)?;
    let python_label = python_label(function.python_clients);
    python_inits
        .iter()
        .find(|(candidate, _)| *candidate == python_label)
        .and_then(|(_, summary)| summary.as_ref())
}

fn cold_row(
    label: &str,
    init: &Summary,
    first: &Summary,
    floor: Option<&Summary>,
    python: Option<&Summary>,
    warm: Option<&Summary>,
    runs: &[ColdStart],
) -> Vec<String> {
    let ratio_text = |value: u64, base: Option<u64>| ratio_text(value, base.unwrap_or(0));
    vec![
        format!("`{label}`"),
        format_ns(init.p50_ns),
        ratio_text(init.p50_ns, floor.map(|floor| floor.p50_ns)),
        ratio_text(init.p50_ns, python.map(|python| python.p50_ns)),
        format_ns(first.p50_ns),
        ratio_text(first.p50_ns, warm.map(|warm| warm.p50_ns)),
        first_statuses(runs),
    ]
}

fn check_cold_target(part: &mut PartResult, label: &str, init: &Summary, floor: Option<&Summary>) {
    if !FUNCTIONS.iter().any(|function| function.name == label) {
        return;
    }
    let Some(floor) = floor.filter(|floor| floor.p50_ns > 0) else {
        part.not_measured(
            &format!("cold start ratio of {label}"),
            "the empty binary did not start",
        );
        return;
    };
    let ratio = init.p50_ns as f64 / floor.p50_ns as f64;
    part.check(
        format!("`{label}` init / empty binary"),
        "<= 1.5x",
        format!(
            "{ratio:.2}x ({} vs {})",
            format_ns(init.p50_ns),
            format_ns(floor.p50_ns)
        ),
        ratio <= MAX_COLD_START_RATIO,
    );
}

fn memory_part(
    settings: &LambdaSettings,
    loads: &[(String, Result<LoadRun, String>)],
) -> PartResult {
    let mut part = PartResult::new(
        "memory",
        "Peak memory under load",
        &format!(
            "Each binary is started once against the Runtime API stand-in and sent up to {} \
             events in a row (at most {} s), the same requests as in the cold-start part; \
             create-endpoint gets a new name and prefix each time. Then `VmHWM`, the peak \
             resident set size, is read from `/proc/<pid>/status`. The floor is the empty \
             binary after the same number of echo events.",
            settings.load_invocations,
            settings.load_budget.as_secs()
        ),
    );
    let floor = loads
        .first()
        .and_then(|(_, load)| load.as_ref().ok())
        .map(|load| load.peak_rss_kib);
    let mut rows = Vec::new();
    let mut raw = Vec::new();
    for (label, load) in loads {
        let load = match load {
            Ok(load) => load,
            Err(reason) => {
                part.not_measured(&format!("peak memory of {label}"), reason);
                continue;
            }
        };
        let mib = load.peak_rss_kib as f64 / 1024.0;
        let ratio = ratio_text(load.peak_rss_kib, floor.unwrap_or(0));
        let latency = load.latency.map_or("n/a".to_owned(), |summary| {
            format!(
                "{} / {}",
                format_ns(summary.p50_ns),
                format_ns(summary.p99_ns)
            )
        });
        rows.push(vec![
            format!("`{label}`"),
            load.invocations.to_string(),
            load.failed.to_string(),
            format!("{mib:.1} MiB"),
            ratio,
            latency,
        ]);
        raw.push(json!({
            "binary": label,
            "invocations": load.invocations,
            "failed": load.failed,
            "peak_rss_kib": load.peak_rss_kib,
            "latency": load.latency,
        }));
        if FUNCTIONS.iter().any(|function| function.name == label) {
            part.check(
                format!("`{label}` peak RSS"),
                "<= 40 MiB",
                format!("{mib:.1} MiB"),
                mib <= MAX_PEAK_RSS_MIB,
            );
        }
    }
    part.tables.push(Table {
        caption: String::new(),
        columns: [
            "Binary",
            "Invocations",
            "Failed (error or 5xx)",
            "Peak RSS (VmHWM)",
            "Peak RSS / empty",
            "Warm latency p50 / p99",
        ]
        .map(str::to_owned)
        .to_vec(),
        rows,
    });
    part.raw = json!({ "binaries": raw });
    part
}

/// Part 4: the size of each release binary, and whether it carries a symbol table.
pub fn binary_sizes(bin_dir: &Path) -> PartResult {
    let mut part = PartResult::new(
        "binary_size",
        "Binary size",
        "Size of each binary as `cargo build --release` writes it with the workspace's \
         `[profile.release]` (thin LTO, one codegen unit, `strip = \"symbols\"`, \
         `panic = \"unwind\"`), for the host's target. *Stripped* means the ELF file has no \
         `SHT_SYMTAB` section. The floor is the empty lambda_runtime binary. The deployed \
         build is arm64 by default (`Architecture` in `template.yaml`), whose sizes differ \
         somewhat from the host's x86_64.",
    );
    let floor = fs::metadata(bin_dir.join(EMPTY_BINARY))
        .ok()
        .map(|meta| meta.len());
    let mut rows = Vec::new();
    let mut raw = Vec::new();
    let names = std::iter::once(EMPTY_BINARY).chain(FUNCTIONS.iter().map(|function| function.name));
    for name in names {
        let path = bin_dir.join(name);
        let Ok(bytes) = fs::read(&path) else {
            part.not_measured(
                &format!("size of {name}"),
                &format!("{} is not built", path.display()),
            );
            continue;
        };
        let size = bytes.len() as u64;
        let mib = size as f64 / (1024.0 * 1024.0);
        let stripped = has_no_symbol_table(&bytes);
        let ratio = ratio_text(size, floor.unwrap_or(0));
        let stripped_text = match stripped {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "unknown (not ELF64)",
        };
        rows.push(vec![
            format!("`{name}`"),
            format!("{mib:.2} MiB"),
            ratio,
            stripped_text.to_owned(),
        ]);
        raw.push(json!({ "binary": name, "bytes": size, "stripped": stripped }));
        if let Some(function) = FUNCTIONS.iter().find(|function| function.name == name) {
            let (limit, target) = if function.uses_sts_and_s3 {
                (MAX_SIZE_WITH_STS_S3_MIB, "<= 16 MiB (DynamoDB, STS and S3)")
            } else {
                (MAX_SIZE_DYNAMODB_ONLY_MIB, "<= 12 MiB (DynamoDB only)")
            };
            part.check(
                format!("`{name}` size"),
                target,
                format!("{mib:.2} MiB"),
                mib <= limit && stripped == Some(true),
            );
        }
    }
    part.tables.push(Table {
        caption: String::new(),
        columns: ["Binary", "Size", "Size / empty", "Stripped"]
            .map(str::to_owned)
            .to_vec(),
        rows,
    });
    part.raw = json!({ "binaries": raw });
    part
}

/// Returns whether a little-endian ELF64 file has no symbol table, or `None` when the bytes
/// are not one.
fn has_no_symbol_table(bytes: &[u8]) -> Option<bool> {
    const SHT_SYMTAB: u32 = 2;
    if bytes.get(0..4)? != b"\x7fELF" || *bytes.get(4)? != 2 || *bytes.get(5)? != 1 {
        return None;
    }
    let section_offset = usize::try_from(read_u64(bytes, 0x28)?).ok()?;
    let entry_size = usize::from(read_u16(bytes, 0x3a)?);
    let count = usize::from(read_u16(bytes, 0x3c)?);
    for index in 0..count {
        let header = section_offset.checked_add(index.checked_mul(entry_size)?)?;
        if read_u32(bytes, header + 4)? == SHT_SYMTAB {
            return Some(false);
        }
    }
    Some(true)
}

fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(offset..offset + 2)?.try_into().ok()?,
    ))
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset + 4)?.try_into().ok()?,
    ))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(offset..offset + 8)?.try_into().ok()?,
    ))
}
