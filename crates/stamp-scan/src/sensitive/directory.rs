//! The card-number and secret scan of an unpacked root filesystem (`stamp check --rootfs`):
//! every regular file below the root, symlinks not followed, with the same limits as an image.
//!
//! The walk comes first and lists the tree in order; the files are then read and scanned on
//! every core, each on its own; last, the per-file results are taken in walk order with the
//! limits applied exactly as a one-file-at-a-time scan applies them. A file whose gzip
//! content the running byte limit would have cut differently is scanned again at that point,
//! so the report is the same whatever the number of threads.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{gzip_room, is_gzip, scan_content, Location, ScanLimits, ScanProblem, SensitiveReport};

/// Deepest directory nesting walked below the root.
pub const DIRECTORY_DEPTH_MAX: usize = 64;
/// Most threads reading and scanning files at once.
pub const SCAN_THREADS_MAX: usize = 8;

/// Scan every regular file below `root`. Unreadable files and directories are problems of the
/// report; the scan goes on.
pub fn scan_directory(root: &Path, limits: ScanLimits) -> SensitiveReport {
    let threads = std::thread::available_parallelism().map_or(1, |count| count.get());
    scan_directory_with_threads(root, limits, threads)
}

/// [`scan_directory`] on `threads` threads (at least one, at most [`SCAN_THREADS_MAX`]).
pub fn scan_directory_with_threads(
    root: &Path,
    limits: ScanLimits,
    threads: usize,
) -> SensitiveReport {
    let mut items = Vec::new();
    let mut files = Vec::new();
    walk(&mut items, &mut files, root, String::new(), 0);
    let scanned = scan_files(&files, limits, threads.clamp(1, SCAN_THREADS_MAX));
    replay(&items, &files, scanned, limits)
}

/// What the walk met, in walk order.
enum Item {
    /// The walk went into a directory.
    Enter,
    /// The walk left a directory.
    Leave,
    Problem {
        path: String,
        reason: String,
    },
    /// The regular file `files[index]`.
    File {
        index: usize,
    },
}

/// A file scanned on its own, or why it could not be read; `None` for a file over the size
/// limit, which is not read.
type Scanned = Option<Result<ScannedFile, String>>;

/// A regular file the walk met.
struct FoundFile {
    path: PathBuf,
    relative: String,
    size: u64,
}

/// One file read and scanned on its own, as if it were the first of the scan.
struct ScannedFile {
    report: SensitiveReport,
    /// Bytes read from the file (its size may have changed since the walk).
    content_bytes: u64,
    /// For gzip content: the room it was decompressed with.
    gzip_room: Option<u64>,
}

fn walk(
    items: &mut Vec<Item>,
    files: &mut Vec<FoundFile>,
    dir: &Path,
    relative: String,
    depth: usize,
) {
    let problem = |items: &mut Vec<Item>, path: &str, reason: String| {
        items.push(Item::Problem {
            path: path.to_string(),
            reason,
        })
    };
    if depth > DIRECTORY_DEPTH_MAX {
        let reason = format!("not scanned: nested deeper than {DIRECTORY_DEPTH_MAX} directories");
        return problem(items, &relative, reason);
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => return problem(items, &relative, format!("unreadable: {error}")),
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|entry| entry.file_name());
    items.push(Item::Enter);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let Ok(file_type) = entry.file_type() else {
            problem(items, &path, "unreadable file type".into());
            continue;
        };
        if file_type.is_dir() {
            walk(items, files, &entry.path(), path, depth + 1);
            continue;
        }
        if !file_type.is_file() {
            continue;
        }
        let size = entry.metadata().map(|metadata| metadata.len()).unwrap_or(0);
        items.push(Item::File { index: files.len() });
        files.push(FoundFile {
            path: entry.path(),
            relative: path,
            size,
        });
    }
    items.push(Item::Leave);
}

/// Read `file` into `buffer` (at most the size limit, even if the file grew since its size
/// was taken).
fn read_file(file: &FoundFile, limits: ScanLimits, buffer: &mut Vec<u8>) -> Result<(), String> {
    buffer.clear();
    // Room for the whole file (plus the byte that shows the end) up front: no regrowing.
    let expected = file.size.min(limits.file_bytes_max) as usize + 1;
    buffer.reserve(expected);
    fs::File::open(&file.path)
        .and_then(|opened| opened.take(limits.file_bytes_max).read_to_end(buffer))
        .map(|_| ())
        .map_err(|error| format!("unreadable: {error}"))
}

fn location(file: &FoundFile) -> Location {
    Location {
        layer: None,
        path: crate::pan::mask_pans(&file.relative),
        in_gzip: false,
        line: 0,
        hidden_by_later_layer: false,
    }
}

/// Read and scan `file` on its own, as if it were the first file of the scan. `buffer` is
/// reused from file to file.
fn scan_file(
    file: &FoundFile,
    limits: ScanLimits,
    buffer: &mut Vec<u8>,
) -> Result<ScannedFile, String> {
    read_file(file, limits, buffer)?;
    let content_bytes = buffer.len() as u64;
    let gzip_room = is_gzip(buffer).then(|| {
        let counted = SensitiveReport {
            bytes_scanned: content_bytes,
            ..SensitiveReport::default()
        };
        super::gzip_room(&counted, limits)
    });
    let mut report = SensitiveReport::default();
    scan_content(&mut report, location(file), buffer, limits);
    Ok(ScannedFile {
        report,
        content_bytes,
        gzip_room,
    })
}

/// Scan every file of `files` on `threads` threads, each taking the next file in turn.
/// Plain scoped threads: the files are independent, so a shared counter is all the
/// coordination needed.
fn scan_files(files: &[FoundFile], limits: ScanLimits, threads: usize) -> Vec<Scanned> {
    let next = AtomicUsize::new(0);
    let done: Vec<Vec<(usize, Scanned)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(files.len()).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut buffer = Vec::new();
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(file) = files.get(index) else {
                            break;
                        };
                        // A file over the size limit is not read; the replay reports it.
                        let result = (file.size <= limits.file_bytes_max)
                            .then(|| scan_file(file, limits, &mut buffer));
                        done.push((index, result));
                        if buffer.capacity() > BUFFER_KEPT_BYTES_MAX {
                            buffer = Vec::new();
                        }
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a scanning thread panicked"))
            .collect()
    });
    let mut scanned: Vec<Scanned> = (0..files.len()).map(|_| None).collect();
    for (index, result) in done.into_iter().flatten() {
        scanned[index] = result;
    }
    scanned
}

/// Largest read buffer a thread keeps for the next file; a bigger one is freed after use.
/// Keeping it spares the kernel mapping fresh pages for every large file.
const BUFFER_KEPT_BYTES_MAX: usize = 32 << 20;

/// Take the per-file results in walk order and apply the limits: the report a scan of one
/// file at a time gives.
fn replay(
    items: &[Item],
    files: &[FoundFile],
    mut scanned: Vec<Scanned>,
    limits: ScanLimits,
) -> SensitiveReport {
    let mut report = SensitiveReport::default();
    let problem = |report: &mut SensitiveReport, path: &str, reason: String| {
        report.problems.push(ScanProblem {
            layer: None,
            path: crate::pan::mask_pans(path),
            reason,
        })
    };
    let mut depth = 0usize;
    // Over the file limit, the rest of the directory is left, as the walk of one file at a
    // time leaves it: the depth whose `Leave` ends the skip.
    let mut skipping_until: Option<usize> = None;
    for item in items {
        let index = match item {
            Item::Enter => {
                depth += 1;
                continue;
            }
            Item::Leave => {
                if skipping_until == Some(depth) {
                    skipping_until = None;
                }
                depth -= 1;
                continue;
            }
            _ if skipping_until.is_some() => continue,
            Item::Problem { path, reason } => {
                problem(&mut report, path, reason.clone());
                continue;
            }
            Item::File { index } => *index,
        };
        let file = &files[index];
        if report.files_scanned >= limits.files_max {
            let reason = format!("not scanned: over the limit of {} files", limits.files_max);
            problem(&mut report, &file.relative, reason);
            skipping_until = Some(depth);
            continue;
        }
        if file.size > limits.file_bytes_max {
            let reason = format!(
                "not scanned: {} bytes, over the limit of {} bytes",
                file.size, limits.file_bytes_max
            );
            problem(&mut report, &file.relative, reason);
            continue;
        }
        if report.bytes_scanned + file.size > limits.total_bytes_max {
            let reason = format!(
                "not scanned: over the limit of {} bytes",
                limits.total_bytes_max
            );
            problem(&mut report, &file.relative, reason);
            continue;
        }
        // Every file under the size limit was read by a thread.
        let Some(result) = scanned[index].take() else {
            continue;
        };
        let scanned_file = match result {
            Ok(scanned_file) => scanned_file,
            Err(reason) => {
                problem(&mut report, &file.relative, reason);
                continue;
            }
        };
        merge(&mut report, file, scanned_file, limits);
    }
    report
}

/// Add one file's result to `report`. Its gzip content was decompressed with the room left
/// when the file is scanned first; if the room left here is smaller and the content reached
/// it, the file is scanned again with this room.
fn merge(report: &mut SensitiveReport, file: &FoundFile, scanned: ScannedFile, limits: ScanLimits) {
    if let Some(room_alone) = scanned.gzip_room {
        let counted = SensitiveReport {
            bytes_scanned: report.bytes_scanned + scanned.content_bytes,
            ..SensitiveReport::default()
        };
        let room = gzip_room(&counted, limits);
        let inflated = scanned.report.bytes_scanned - scanned.content_bytes;
        if room != room_alone && inflated >= room {
            // Scanned again in place with the running totals, as one file at a time would.
            let mut buffer = Vec::new();
            if let Err(reason) = read_file(file, limits, &mut buffer) {
                report.problems.push(ScanProblem {
                    layer: None,
                    path: crate::pan::mask_pans(&file.relative),
                    reason,
                });
                return;
            }
            scan_content(report, location(file), &buffer, limits);
            return;
        }
    }
    report.files_scanned += scanned.report.files_scanned;
    report.bytes_scanned += scanned.report.bytes_scanned;
    report.findings.extend(scanned.report.findings);
    report.problems.extend(scanned.report.problems);
}
