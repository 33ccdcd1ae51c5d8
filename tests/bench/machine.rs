//! Facts about the machine that the page records next to the figures.

use std::fs;
use std::process::Command;

const UNKNOWN: &str = "unknown";

pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| UNKNOWN.to_owned())
}

/// The output of `nproc`: the CPUs this process may run on.
pub fn cpu_count() -> String {
    command_output("nproc", &[]).unwrap_or_else(|| UNKNOWN.to_owned())
}

/// The first `model name` of `/proc/cpuinfo`.
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| UNKNOWN.to_owned())
}

/// `MemTotal` of `/proc/meminfo`, in GiB.
pub fn memory_total() -> String {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
            let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.1} GiB", kib / (1024.0 * 1024.0)))
        })
        .unwrap_or_else(|| UNKNOWN.to_owned())
}

/// The kernel release, as `uname -r` prints it.
pub fn kernel() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_owned())
        .unwrap_or_else(|_| UNKNOWN.to_owned())
}

pub fn rustc_version() -> String {
    command_output("rustc", &["--version"]).unwrap_or_else(|| UNKNOWN.to_owned())
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}
