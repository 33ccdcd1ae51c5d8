//! The benchmark suite of the S3 endpoint functions. `scripts/bench.sh` builds it with the
//! release profile and runs it against the local AWS stack; `docs/benchmarks.md` is its output.
//!
//! ```text
//! endpoints run --out DIR --bin-dir DIR --log-dir DIR [--python PATH] [--smoke] [--parts LIST]
//! endpoints report --out DIR --page FILE --command TEXT [--smoke] [--build-seconds N]
//!                  [--suite-seconds N] [--previous DIR]
//! ```
//!
//! `run` measures the parts in LIST (comma-separated, default all: handlers, tester,
//! cold_start, binary_size, memory, contention) and writes one JSON file per part to `--out`.
//! `report` reads those files and writes the Markdown page, with the target figures of the
//! JSON files in `--previous` (an earlier run) beside the new ones.

mod calls;
mod contention;
mod events;
mod fixture;
mod floor;
mod functions;
mod handlers;
mod lambda;
mod machine;
mod policy_render;
mod process;
mod report;
mod revalidation;
mod runtime_api;
mod stats;
mod tester;

use report::{render_page, PartResult, RunInfo};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// The parts in the order of the page.
const PARTS: [&str; 6] = [
    "handlers",
    "tester",
    "cold_start",
    "binary_size",
    "memory",
    "contention",
];

/// Endpoints stored before the runs, for list-endpoints and revalidation.
const SEEDED_ENDPOINTS: usize = 50;

/// Iteration counts of a full run and of a smoke run, which only checks that every part
/// still runs.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub smoke: bool,
    pub cold_start_runs: usize,
    pub load_invocations: usize,
    pub load_budget: Duration,
    pub contention_rounds: usize,
    pub handler_iterations: usize,
    pub render_iterations: usize,
    pub tester_endpoints: usize,
}

impl Scale {
    fn new(smoke: bool) -> Self {
        if smoke {
            return Self {
                smoke,
                cold_start_runs: 1,
                load_invocations: 5,
                load_budget: Duration::from_secs(20),
                contention_rounds: 1,
                handler_iterations: 20,
                render_iterations: 2_000,
                tester_endpoints: 8,
            };
        }
        Self {
            smoke,
            cold_start_runs: 10,
            load_invocations: 200,
            load_budget: Duration::from_secs(40),
            contention_rounds: 10,
            handler_iterations: 1_000,
            render_iterations: 200_000,
            tester_endpoints: 96,
        }
    }
}

struct RunArgs {
    out: PathBuf,
    bin_dir: PathBuf,
    log_dir: PathBuf,
    python: Option<PathBuf>,
    parts: Vec<String>,
    scale: Scale,
}

struct ReportArgs {
    out: PathBuf,
    page: PathBuf,
    command: String,
    smoke: bool,
    build_seconds: Option<u64>,
    suite_seconds: Option<u64>,
    previous: Option<PathBuf>,
}

enum Command {
    Run(RunArgs),
    Report(ReportArgs),
}

fn main() -> ExitCode {
    let command = match parse_args(std::env::args().skip(1).collect()) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("bench: {message}");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Run(args) => run(args),
        Command::Report(args) => write_report(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args(args: Vec<String>) -> Result<Command, String> {
    let mut iter = args.into_iter().filter(|arg| arg != "--bench");
    let verb = iter.next().ok_or("missing command: run or report")?;
    let mut values = std::collections::HashMap::new();
    let mut smoke = false;
    while let Some(flag) = iter.next() {
        if flag == "--smoke" {
            smoke = true;
            continue;
        }
        let value = iter.next().ok_or(format!("{flag} needs a value"))?;
        values.insert(flag, value);
    }
    let path = |name: &str| -> Result<PathBuf, String> {
        values
            .get(name)
            .map(PathBuf::from)
            .ok_or(format!("missing {name}"))
    };
    let seconds = |name: &str| -> Result<Option<u64>, String> {
        values
            .get(name)
            .map(|value| {
                value
                    .parse()
                    .map_err(|_| format!("{name} must be a whole number of seconds, got {value:?}"))
            })
            .transpose()
    };
    match verb.as_str() {
        "run" => Ok(Command::Run(RunArgs {
            out: path("--out")?,
            bin_dir: path("--bin-dir")?,
            log_dir: path("--log-dir")?,
            python: values.get("--python").map(PathBuf::from),
            parts: parse_parts(values.get("--parts"))?,
            scale: Scale::new(smoke),
        })),
        "report" => Ok(Command::Report(ReportArgs {
            out: path("--out")?,
            page: path("--page")?,
            command: values
                .get("--command")
                .cloned()
                .unwrap_or_else(|| "scripts/bench.sh".to_owned()),
            smoke,
            build_seconds: seconds("--build-seconds")?,
            suite_seconds: seconds("--suite-seconds")?,
            previous: values.get("--previous").map(PathBuf::from),
        })),
        other => Err(format!("unknown command {other:?}: use run or report")),
    }
}

fn parse_parts(list: Option<&String>) -> Result<Vec<String>, String> {
    let Some(list) = list else {
        return Ok(PARTS.map(str::to_owned).to_vec());
    };
    let parts: Vec<String> = list.split(',').map(str::to_owned).collect();
    match parts.iter().find(|part| !PARTS.contains(&part.as_str())) {
        Some(unknown) => Err(format!(
            "unknown part {unknown:?}; the parts are {}",
            PARTS.join(", ")
        )),
        None => Ok(parts),
    }
}

/// Installs the retry counter, and a stderr log of warnings and errors from every crate.
fn install_tracing(counter: &contention::RetryCounter) {
    let counter_layer = counter.clone().with_filter(filter_fn(|metadata| {
        metadata.target().starts_with("endpoint_core::store")
    }));
    let log_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(LevelFilter::WARN);
    // A second subscriber can only exist if this ran twice, which main does not do.
    let _ = tracing_subscriber::registry()
        .with(counter_layer)
        .with(log_layer)
        .try_init();
}

fn run(args: RunArgs) -> Result<(), String> {
    let counter = contention::RetryCounter::default();
    install_tracing(&counter);
    std::fs::create_dir_all(&args.log_dir)
        .map_err(|error| format!("{}: {error}", args.log_dir.display()))?;
    let wants = |part: &str| args.parts.iter().any(|wanted| wanted == part);

    if wants("binary_size") {
        write(&lambda::binary_sizes(&args.bin_dir), &args)?;
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|error| format!("starting Tokio failed: {error}"))?;
    runtime.block_on(run_against_stack(&args, &counter, &wants))
}

async fn run_against_stack(
    args: &RunArgs,
    counter: &contention::RetryCounter,
    wants: &dyn Fn(&str) -> bool,
) -> Result<(), String> {
    eprintln!("bench: creating the table, bucket and role");
    let fixture = fixture::Fixture::create().await?;
    let seeded = fixture.seed_endpoints(SEEDED_ENDPOINTS).await?;
    let seeded_id = seeded
        .first()
        .map(|endpoint| endpoint.id.as_str().to_owned())
        .unwrap_or_default();

    if wants("handlers") {
        eprintln!("bench: handler overhead");
        write(&handlers::run(&fixture, &args.scale).await, args)?;
    }
    if wants("tester") {
        eprintln!("bench: connection test throughput");
        let prefixes: Vec<String> = seeded
            .iter()
            .map(|endpoint| endpoint.spec.connection.prefix.as_str().to_owned())
            .collect();
        write(&tester::run(&fixture, &args.scale, &prefixes).await, args)?;
    }
    if wants("cold_start") || wants("memory") {
        eprintln!("bench: cold start and peak memory");
        let settings = lambda::LambdaSettings {
            bin_dir: args.bin_dir.clone(),
            python: args.python.clone(),
            python_script: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/bench/python_function.py"),
            log_dir: args.log_dir.clone(),
            cold_start_runs: args.scale.cold_start_runs,
            load_invocations: args.scale.load_invocations,
            load_budget: args.scale.load_budget,
        };
        // The process waits are blocking, and they need the stack's servers, not this runtime.
        let (cold, memory) = tokio::task::block_in_place(|| {
            lambda::cold_start_and_memory(&settings, &fixture, &seeded_id)
        })?;
        if wants("cold_start") {
            write(&cold, args)?;
        }
        if wants("memory") {
            write(&memory, args)?;
        }
    }
    if wants("contention") {
        eprintln!("bench: contention");
        write(
            &contention::run(&fixture, counter, args.scale.contention_rounds).await,
            args,
        )?;
    }
    Ok(())
}

fn write(part: &PartResult, args: &RunArgs) -> Result<(), String> {
    part.write(&args.out).map_err(|error| {
        format!(
            "writing {} to {} failed: {error}",
            part.id,
            args.out.display()
        )
    })?;
    for line in &part.not_measured {
        eprintln!("bench: {line}");
    }
    Ok(())
}

/// Reads the parts of an earlier run from `dir`, skipping files that are missing or no longer
/// parse, because the comparison is informative only.
fn read_previous(dir: &std::path::Path) -> Vec<PartResult> {
    PARTS
        .iter()
        .filter_map(|id| std::fs::read_to_string(dir.join(format!("{id}.json"))).ok())
        .filter_map(|text| serde_json::from_str::<PartResult>(&text).ok())
        .collect()
}

fn write_report(args: &ReportArgs) -> Result<(), String> {
    let previous = args
        .previous
        .as_deref()
        .map(read_previous)
        .unwrap_or_default();
    let mut parts = Vec::new();
    for id in PARTS {
        let path = args.out.join(format!("{id}.json"));
        match std::fs::read_to_string(&path) {
            Ok(text) => parts.push(
                serde_json::from_str::<PartResult>(&text)
                    .map_err(|error| format!("{}: {error}", path.display()))?,
            ),
            Err(_) => {
                let mut missing = PartResult::new(id, id, "This part did not run.");
                missing.not_measured(
                    id,
                    &format!("{} was not written by this run", path.display()),
                );
                parts.push(missing);
            }
        }
    }
    let run = RunInfo {
        command: args.command.clone(),
        started_at: machine::now_utc(),
        mode: if args.smoke {
            "smoke (tiny iteration counts; the figures only show that the suite runs)".to_owned()
        } else {
            "full".to_owned()
        },
        cpu_count: machine::cpu_count(),
        cpu_model: machine::cpu_model(),
        memory: machine::memory_total(),
        kernel: machine::kernel(),
        rustc: machine::rustc_version(),
        release_build_seconds: args.build_seconds,
        suite_seconds: args.suite_seconds,
    };
    let page = render_page(&run, &parts, &previous);
    std::fs::write(&args.page, page).map_err(|error| format!("{}: {error}", args.page.display()))
}
