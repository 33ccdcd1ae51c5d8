//! The result of one benchmark part, written as JSON to `docs/benchmarks/<id>.json`, and the
//! Markdown page that gathers every part with the machine it ran on.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::Path;

/// Everything one part measured, with its display tables and its target checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartResult {
    /// File stem and anchor, such as `cold_start`.
    pub id: String,
    pub title: String,
    /// How the part measures and what its floor is, in a paragraph of Markdown.
    pub method: String,
    pub tables: Vec<Table>,
    pub targets: Vec<TargetCheck>,
    /// Figures that this run could not measure, each with the reason.
    pub not_measured: Vec<String>,
    /// Failures during measured runs, which make the affected figures suspect.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The numbers behind the tables, for tools that compare runs.
    pub raw: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub caption: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One target and whether this run met it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetCheck {
    /// What is measured, such as `create p50 overhead`.
    pub subject: String,
    /// The target, such as `<= 10%`.
    pub target: String,
    /// The figure this run measured, formatted.
    pub figure: String,
    pub met: bool,
}

impl PartResult {
    pub fn new(id: &str, title: &str, method: &str) -> Self {
        Self {
            id: id.to_owned(),
            title: title.to_owned(),
            method: method.to_owned(),
            tables: Vec::new(),
            targets: Vec::new(),
            not_measured: Vec::new(),
            errors: Vec::new(),
            raw: Value::Null,
        }
    }

    pub fn check(&mut self, subject: String, target: &str, figure: String, met: bool) {
        self.targets.push(TargetCheck {
            subject,
            target: target.to_owned(),
            figure,
            met,
        });
    }

    /// Records that `failed` calls of `label` at `concurrency` failed, with the first error.
    pub fn notes_error(&mut self, label: &str, concurrency: usize, failed: usize, error: &str) {
        self.errors.push(format!(
            "{label} at concurrency {concurrency}: {failed} failed, first: {error}"
        ));
    }

    pub fn not_measured(&mut self, what: &str, reason: &str) {
        self.not_measured
            .push(format!("{what}: not measured: {reason}"));
    }

    /// Writes the result to `<dir>/<id>.json`.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        fs::write(dir.join(format!("{}.json", self.id)), text + "\n")
    }
}

/// Facts about the machine and the run, written at the top of the page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub command: String,
    pub started_at: String,
    pub mode: String,
    pub cpu_count: String,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub release_build_seconds: Option<u64>,
    pub suite_seconds: Option<u64>,
}

/// Renders the page from the run facts and the parts, in the order given. `previous` contains the
/// parts of the run recorded before this one, whose target figures are shown beside the new
/// ones, so that the page shows which figures a change moved and by how much.
pub fn render_page(run: &RunInfo, parts: &[PartResult], previous: &[PartResult]) -> String {
    let mut page = String::new();
    push_header(&mut page, run);
    push_summary(&mut page, parts, previous);
    for part in parts {
        push_part(&mut page, part);
    }
    page
}

fn push_header(page: &mut String, run: &RunInfo) {
    page.push_str("# Benchmarks\n\n");
    page.push_str(
        "Each figure is compared with a floor measured in the same run on the same machine, so \
         ratios stay comparable across noisy machines while absolute times do not. \
         `scripts/bench.sh` writes this page and the raw results in `docs/benchmarks/`; the \
         numbers below are from the run described here.\n\n",
    );
    page.push_str(
        "Percentiles are nearest-rank on the sorted samples (`tests/bench/stats.rs`): the p-th \
         percentile of n samples is the sample at rank ceil(p/100 * n), always a measured value, \
         so the p99 of fewer than 100 samples is their maximum. Every server is local: DynamoDB \
         Local (Java) for DynamoDB and moto (Python, one process) for STS and S3, so absolute \
         latencies and rates are those of these emulators on this machine, not of AWS.\n\n",
    );
    let _ = writeln!(page, "| | |\n| --- | --- |");
    let _ = writeln!(page, "| Command | `{}` |", run.command);
    let _ = writeln!(page, "| Mode | {} |", run.mode);
    let _ = writeln!(page, "| Started | {} |", run.started_at);
    let _ = writeln!(page, "| CPUs (`nproc`) | {} |", run.cpu_count);
    let _ = writeln!(page, "| CPU model | {} |", run.cpu_model);
    let _ = writeln!(page, "| Memory | {} |", run.memory);
    let _ = writeln!(page, "| Kernel | {} |", run.kernel);
    let _ = writeln!(page, "| rustc | {} |", run.rustc);
    let build = run
        .release_build_seconds
        .map_or("not recorded".to_owned(), |seconds| format!("{seconds} s"));
    let _ = writeln!(
        page,
        "| Release build in this run (incremental) | {build} |"
    );
    let suite = run
        .suite_seconds
        .map_or("not recorded".to_owned(), |seconds| format!("{seconds} s"));
    let _ = writeln!(page, "| Suite run, build excluded | {suite} |\n");
}

/// Returns the figure that the previous run measured for `subject` of part `part_id`.
fn previous_figure<'a>(
    previous: &'a [PartResult],
    part_id: &str,
    subject: &str,
) -> Option<&'a str> {
    previous
        .iter()
        .filter(|part| part.id == part_id)
        .flat_map(|part| &part.targets)
        .find(|check| check.subject == subject)
        .map(|check| check.figure.as_str())
}

fn push_summary(page: &mut String, parts: &[PartResult], previous: &[PartResult]) {
    page.push_str("## Targets\n\n");
    if previous.is_empty() {
        page.push_str("No earlier run was recorded, so the previous-run column is empty.\n\n");
    } else {
        page.push_str(
            "The previous-run column gives the figure of the run whose results this run \
             replaced, so that a change that moved a figure shows by how much.\n\n",
        );
    }
    page.push_str("| Part | Subject | Target | Measured | Previous run | Result |\n");
    page.push_str("| --- | --- | --- | --- | --- | --- |\n");
    for part in parts {
        for check in &part.targets {
            let verdict = if check.met { "met" } else { "**missed**" };
            let before = previous_figure(previous, &part.id, &check.subject).unwrap_or("-");
            let _ = writeln!(
                page,
                "| {} | {} | {} | {} | {before} | {verdict} |",
                part.title, check.subject, check.target, check.figure
            );
        }
    }
    let missing: Vec<&String> = parts.iter().flat_map(|part| &part.not_measured).collect();
    if !missing.is_empty() {
        page.push_str("\nNot measured in this run:\n\n");
        for line in missing {
            let _ = writeln!(page, "- {line}");
        }
    }
    page.push('\n');
}

fn push_part(page: &mut String, part: &PartResult) {
    let _ = writeln!(page, "## {}\n\n{}\n", part.title, part.method.trim());
    for table in &part.tables {
        push_table(page, table);
    }
    for line in &part.not_measured {
        let _ = writeln!(page, "- {line}");
    }
    if !part.not_measured.is_empty() {
        page.push('\n');
    }
    if !part.errors.is_empty() {
        page.push_str("Failures during the measured runs:\n\n");
        for line in &part.errors {
            let _ = writeln!(page, "- {line}");
        }
        page.push('\n');
    }
    let _ = writeln!(page, "Raw results: `docs/benchmarks/{}.json`.\n", part.id);
}

fn push_table(page: &mut String, table: &Table) {
    if !table.caption.is_empty() {
        let _ = writeln!(page, "{}\n", table.caption);
    }
    let _ = writeln!(page, "| {} |", table.columns.join(" | "));
    let rule: Vec<&str> = table.columns.iter().map(|_| "---").collect();
    let _ = writeln!(page, "| {} |", rule.join(" | "));
    for row in &table.rows {
        let _ = writeln!(page, "| {} |", row.join(" | "));
    }
    page.push('\n');
}
