//! Card-number and secret scan benchmark for issue 6, printed only (timing goals never become
//! asserts): the scan of `stamp check --rootfs` ([`stamp_scan::sensitive::scan_directory`])
//! over a directory, without the inventory, the vulnerability matching and the gate around
//! it. Prints files, bytes, findings per code (counts only, never a value) and bytes/s.
//!
//! Usage: `cargo run --release -p stamp-scan --example sensitive_scan -- DIR [--phase PHASE]`
//!
//! PHASE (default `all`) picks what runs over every regular file below DIR:
//!   all      `scan_directory`: the whole scan (card numbers, secrets, gzip content, limits)
//!   read     read each file into memory only (the floor of the walk and the reads)
//!   pan      read, then `find_pans` only
//!   secret   read, then `find_secrets` only

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use stamp_scan::pan::find_pans;
use stamp_scan::secret::find_secrets;
use stamp_scan::sensitive::{scan_directory, ScanLimits, DIRECTORY_DEPTH_MAX};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    All,
    Read,
    Pan,
    Secret,
}

fn parse(arguments: &[String]) -> Result<(PathBuf, Phase), String> {
    let mut dir = None;
    let mut phase = Phase::All;
    let mut rest = arguments.iter();
    while let Some(argument) = rest.next() {
        match argument.as_str() {
            "--phase" => {
                let value = rest.next().ok_or("--phase needs a value")?;
                phase = match value.as_str() {
                    "all" => Phase::All,
                    "read" => Phase::Read,
                    "pan" => Phase::Pan,
                    "secret" => Phase::Secret,
                    other => {
                        return Err(format!(
                            "--phase `{other}`: expected all, read, pan or secret"
                        ))
                    }
                };
            }
            other if other.starts_with('-') => return Err(format!("unknown option `{other}`")),
            other if dir.is_none() => dir = Some(PathBuf::from(other)),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let dir = dir.ok_or("usage: sensitive_scan DIR [--phase all|read|pan|secret]")?;
    if !dir.is_dir() {
        return Err(format!("`{}` is not a directory", dir.display()));
    }
    Ok((dir, phase))
}

/// Totals of a partial phase.
#[derive(Default)]
struct Totals {
    files: u64,
    bytes: u64,
    found: u64,
    problems: u64,
}

/// Walk `dir` as `scan_directory` does (regular files, symlinks not followed, the same size
/// limit) and run `phase` over each file's content.
fn walk(dir: &Path, depth: usize, phase: Phase, limits: ScanLimits, totals: &mut Totals) {
    if depth > DIRECTORY_DEPTH_MAX {
        totals.problems += 1;
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        totals.problems += 1;
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let Ok(file_type) = entry.file_type() else {
            totals.problems += 1;
            continue;
        };
        if file_type.is_dir() {
            walk(&entry.path(), depth + 1, phase, limits, totals);
            continue;
        }
        if !file_type.is_file() {
            continue;
        }
        let mut content = Vec::new();
        let read = fs::File::open(entry.path())
            .and_then(|file| file.take(limits.file_bytes_max).read_to_end(&mut content));
        if read.is_err() {
            totals.problems += 1;
            continue;
        }
        totals.files += 1;
        totals.bytes += content.len() as u64;
        totals.found += match phase {
            Phase::Pan => find_pans(&content).len() as u64,
            Phase::Secret => find_secrets(&content).len() as u64,
            Phase::Read | Phase::All => 0,
        };
    }
}

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (dir, phase) = match parse(&arguments) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let limits = ScanLimits::default();
    let start = Instant::now();
    let (files, bytes, summary) = if phase == Phase::All {
        let report = scan_directory(&dir, limits);
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for finding in &report.findings {
            *counts.entry(finding.code).or_default() += 1;
        }
        let counts: Vec<String> = counts
            .iter()
            .map(|(code, count)| format!("{code} {count}"))
            .collect();
        let summary = format!(
            "findings {} ({}), problems {}",
            report.findings.len(),
            counts.join(", "),
            report.problems.len()
        );
        (report.files_scanned, report.bytes_scanned, summary)
    } else {
        let mut totals = Totals::default();
        walk(&dir, 0, phase, limits, &mut totals);
        let summary = format!("matches {}, unreadable {}", totals.found, totals.problems);
        (totals.files, totals.bytes, summary)
    };
    let seconds = start.elapsed().as_secs_f64();
    let name = match phase {
        Phase::All => "all",
        Phase::Read => "read",
        Phase::Pan => "pan",
        Phase::Secret => "secret",
    };
    println!(
        "phase {name}: {files} files, {bytes} bytes in {seconds:.3} s, {:.1} MB/s; {summary}",
        bytes as f64 / seconds / 1e6
    );
    ExitCode::SUCCESS
}
