//! The card-number and secret scan of an unpacked root filesystem (`stamp check --rootfs`):
//! every regular file below the root, symlinks not followed, with the same limits as an image.

use std::fs;
use std::io::Read;
use std::path::Path;

use super::{scan_content, Location, ScanLimits, ScanProblem, SensitiveReport};

/// Deepest directory nesting walked below the root.
pub const DIRECTORY_DEPTH_MAX: usize = 64;

/// Scan every regular file below `root`. Unreadable files and directories are problems of the
/// report; the scan goes on.
pub fn scan_directory(root: &Path, limits: ScanLimits) -> SensitiveReport {
    let mut report = SensitiveReport::default();
    walk(&mut report, root, String::new(), 0, limits);
    report
}

fn problem(report: &mut SensitiveReport, path: &str, reason: String) {
    report.problems.push(ScanProblem {
        layer: None,
        path: path.to_string(),
        reason,
    });
}

fn walk(
    report: &mut SensitiveReport,
    dir: &Path,
    relative: String,
    depth: usize,
    limits: ScanLimits,
) {
    if depth > DIRECTORY_DEPTH_MAX {
        problem(
            report,
            &relative,
            format!("not scanned: nested deeper than {DIRECTORY_DEPTH_MAX} directories"),
        );
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => return problem(report, &relative, format!("unreadable: {error}")),
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let Ok(file_type) = entry.file_type() else {
            problem(report, &path, "unreadable file type".into());
            continue;
        };
        if file_type.is_dir() {
            walk(report, &entry.path(), path, depth + 1, limits);
            continue;
        }
        if !file_type.is_file() {
            continue;
        }
        if report.files_scanned >= limits.files_max {
            let reason = format!("not scanned: over the limit of {} files", limits.files_max);
            return problem(report, &path, reason);
        }
        let size = entry.metadata().map(|metadata| metadata.len()).unwrap_or(0);
        if size > limits.file_bytes_max {
            let reason = format!(
                "not scanned: {size} bytes, over the limit of {} bytes",
                limits.file_bytes_max
            );
            problem(report, &path, reason);
            continue;
        }
        if report.bytes_scanned + size > limits.total_bytes_max {
            let reason = format!(
                "not scanned: over the limit of {} bytes",
                limits.total_bytes_max
            );
            problem(report, &path, reason);
            continue;
        }
        let mut content = Vec::new();
        // Read at most the limit even if the file grew since its size was taken.
        let read = fs::File::open(entry.path())
            .and_then(|file| file.take(limits.file_bytes_max).read_to_end(&mut content));
        if let Err(error) = read {
            problem(report, &path, format!("unreadable: {error}"));
            continue;
        }
        let location = Location {
            layer: None,
            path,
            in_gzip: false,
            line: 0,
            hidden_by_later_layer: false,
        };
        scan_content(report, location, content, limits);
    }
}
