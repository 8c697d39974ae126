use std::io::Write;

use stamp_image::tar::{EntryKind, Header, TarWriter};

use super::image::tests::scan_layers;
use super::*;

/// A Luhn-valid Visa number that is not a published test number.
const PLANTED_PAN: &str = "4539148803436467";

fn aws_key() -> String {
    format!("AKIA{}", "Z7Q3X5W2R4T6Y8U1")
}

fn layer(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = TarWriter::new(Vec::new());
    for (path, content) in entries {
        let header = Header {
            path: path.to_string(),
            kind: EntryKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: content.len() as u64,
            mtime: 0,
        };
        tar.write_header(&header).unwrap();
        tar.write_content(content).unwrap();
        tar.pad(content.len() as u64).unwrap();
    }
    tar.finish().unwrap()
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(content).unwrap();
    encoder.finish().unwrap()
}

fn found(report: &SensitiveReport) -> Vec<(&str, &str, bool, bool)> {
    report
        .findings
        .iter()
        .map(|finding| {
            (
                finding.code,
                finding.location.path.as_str(),
                finding.location.in_gzip,
                finding.location.hidden_by_later_layer,
            )
        })
        .collect()
}

#[test]
fn every_layer_deleted_files_and_gzip_content_are_scanned() {
    let log = format!("order 17 paid with {PLANTED_PAN}\n");
    let config = format!("[default]\naws_access_key_id = {}\n", aws_key());
    let base = layer(&[
        ("var/log/app.log", log.as_bytes()),
        ("etc/app/credentials", config.as_bytes()),
        ("var/log/old.log.gz", &gzip(log.as_bytes())),
        ("srv/test.txt", b"4242 4242 4242 4242"),
    ]);
    // The second layer deletes the log; the first layer's blob still holds it.
    let upper = layer(&[("var/log/.wh.app.log", b"")]);
    let report = scan_layers(&[base, upper], ScanLimits::default());
    assert_eq!(
        found(&report),
        vec![
            ("pan-detected", "var/log/app.log", false, true),
            ("secret-aws-access-key", "etc/app/credentials", false, false),
            ("pan-detected", "var/log/old.log.gz", true, false),
            ("pan-test-number", "srv/test.txt", false, false),
        ]
    );
    let first = &report.findings[0];
    assert_eq!(first.severity, Severity::Critical);
    assert_eq!(first.pci, &["3.3.1", "3.5.1", "12.10.7"]);
    assert_eq!(first.location.line, 1);
    assert!(first.location.layer.is_some());
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains(PLANTED_PAN), "{json}");
    assert!(!json.contains(&aws_key()), "{json}");
    assert!(json.contains("453914******6467"), "{json}");
    assert!(denied_by_default("pan-detected"));
    assert!(denied_by_default("secret-aws-access-key"));
    assert!(!denied_by_default("pan-test-number"));
}

#[test]
fn environment_values_are_scanned() {
    let mut report = SensitiveReport::default();
    image::scan_env(
        &mut report,
        &[
            "PATH=/usr/bin".to_string(),
            "DB_PASSWORD=hunter2hunter2".to_string(),
            format!("AWS_ACCESS_KEY_ID={}", aws_key()),
        ],
    );
    assert_eq!(
        found(&report),
        vec![
            ("secret-password", "config:Env[DB_PASSWORD]", false, false),
            (
                "secret-aws-access-key",
                "config:Env[AWS_ACCESS_KEY_ID]",
                false,
                false
            ),
        ]
    );
}

#[test]
fn file_size_limit_boundary() {
    let content = format!("{PLANTED_PAN}\n");
    let size = content.len() as u64;
    let layers = [layer(&[("a.txt", content.as_bytes())])];
    let at = ScanLimits {
        file_bytes_max: size,
        ..ScanLimits::default()
    };
    let report = scan_layers(&layers, at);
    assert_eq!(report.findings.len(), 1);
    assert!(report.problems.is_empty());
    let below = ScanLimits {
        file_bytes_max: size - 1,
        ..ScanLimits::default()
    };
    let report = scan_layers(&layers, below);
    assert!(report.findings.is_empty());
    assert_eq!(report.problems.len(), 1);
    assert!(report.problems[0].reason.contains("over the limit"));
}

#[test]
fn file_count_limit_boundary() {
    let content = format!("{PLANTED_PAN}\n");
    let layers = [layer(&[
        ("a.txt", content.as_bytes()),
        ("b.txt", content.as_bytes()),
    ])];
    let two = ScanLimits {
        files_max: 2,
        ..ScanLimits::default()
    };
    assert_eq!(scan_layers(&layers, two).findings.len(), 2);
    let one = ScanLimits {
        files_max: 1,
        ..ScanLimits::default()
    };
    let report = scan_layers(&layers, one);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.problems.len(), 1);
}

#[test]
fn gzip_decompressed_limit_boundary() {
    // The card number ends exactly at the limit: found; one byte less: not found.
    let plain = format!("{}{PLANTED_PAN}", " ".repeat(1000));
    let layers = [layer(&[("x.gz", &gzip(plain.as_bytes()))])];
    let at = ScanLimits {
        gzip_decompressed_bytes_max: plain.len() as u64,
        ..ScanLimits::default()
    };
    let report = scan_layers(&layers, at);
    assert_eq!(found(&report), vec![("pan-detected", "x.gz", true, false)]);
    assert!(report.problems.is_empty());
    let below = ScanLimits {
        gzip_decompressed_bytes_max: plain.len() as u64 - 1,
        ..ScanLimits::default()
    };
    let report = scan_layers(&layers, below);
    assert!(report.findings.is_empty());
    assert_eq!(report.problems.len(), 1);
    let (_, outcome) = gunzip_limited(b"\x1f\x8bnot gzip", 100);
    assert!(outcome.is_err());
}

#[test]
fn total_bytes_limit_boundary() {
    let content = format!("{PLANTED_PAN}\n");
    let size = content.len() as u64;
    let layers = [layer(&[
        ("a.txt", content.as_bytes()),
        ("b.txt", content.as_bytes()),
    ])];
    let both = ScanLimits {
        total_bytes_max: 2 * size,
        ..ScanLimits::default()
    };
    assert_eq!(scan_layers(&layers, both).findings.len(), 2);
    let one = ScanLimits {
        total_bytes_max: 2 * size - 1,
        ..ScanLimits::default()
    };
    let report = scan_layers(&layers, one);
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.problems.len(), 1);
}

#[test]
fn a_replaced_file_is_marked_hidden_and_an_opaque_directory_hides_below() {
    let content = format!("{PLANTED_PAN}\n");
    let base = layer(&[
        ("etc/a.txt", content.as_bytes()),
        ("opt/x/b.txt", content.as_bytes()),
        ("srv/c.txt", content.as_bytes()),
    ]);
    let upper = layer(&[("etc/a.txt", b"clean"), ("opt/x/.wh..wh..opq", b"")]);
    let report = scan_layers(&[base, upper], ScanLimits::default());
    let hidden: Vec<bool> = report
        .findings
        .iter()
        .map(|finding| finding.location.hidden_by_later_layer)
        .collect();
    assert_eq!(hidden, vec![true, true, false]);
}

#[test]
fn a_private_key_in_a_system_binary_is_reported_but_not_denied() {
    let key = "-----BEGIN PRIVATE KEY-----\nMEgCAQAwHwYIKoUDBwEBAQEwEwYHKoUDAgIj\n-----END PRIVATE KEY-----\n";
    let elf = format!("\x7fELF\0\0{key}");
    let layers = [layer(&[
        ("usr/lib/libcrypto.so.3", elf.as_bytes()),
        ("app/server", elf.as_bytes()),
        ("usr/lib/key.pem", key.as_bytes()),
    ])];
    let report = scan_layers(&layers, ScanLimits::default());
    let codes: Vec<&str> = report.findings.iter().map(|finding| finding.code).collect();
    assert_eq!(
        codes,
        vec![
            CODE_PRIVATE_KEY_IN_SYSTEM_BINARY,
            "secret-private-key",
            "secret-private-key"
        ]
    );
    assert!(!denied_by_default(CODE_PRIVATE_KEY_IN_SYSTEM_BINARY));
    assert!(denied_by_default("secret-private-key"));
}

#[test]
fn a_root_filesystem_directory_is_scanned_with_its_gzip_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = format!("paid {PLANTED_PAN}\n");
    std::fs::create_dir_all(dir.path().join("var/log")).unwrap();
    std::fs::write(dir.path().join("var/log/app.log"), &log).unwrap();
    std::fs::write(dir.path().join("var/log/app.1.gz"), gzip(log.as_bytes())).unwrap();
    std::fs::write(dir.path().join("big"), vec![b'x'; 10]).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", dir.path().join("link")).unwrap();
    let limits = ScanLimits {
        file_bytes_max: 9,
        ..ScanLimits::default()
    };
    // Everything over 9 bytes is a problem, not a finding.
    let report = scan_directory(dir.path(), limits);
    assert!(report.findings.is_empty());
    assert_eq!(report.problems.len(), 3);
    let report = scan_directory(dir.path(), ScanLimits::default());
    assert_eq!(
        found(&report),
        vec![
            ("pan-detected", "var/log/app.1.gz", true, false),
            ("pan-detected", "var/log/app.log", false, false),
        ]
    );
    assert!(report
        .findings
        .iter()
        .all(|finding| finding.location.layer.is_none()));
}

/// The directory scan one file at a time, as it read before files were scanned on several
/// threads: the reference the threaded scan must agree with.
fn scan_directory_one_at_a_time(root: &std::path::Path, limits: ScanLimits) -> SensitiveReport {
    fn walk(
        report: &mut SensitiveReport,
        dir: &std::path::Path,
        relative: String,
        depth: usize,
        limits: ScanLimits,
    ) {
        let problem = |report: &mut SensitiveReport, path: &str, reason: String| {
            report.problems.push(ScanProblem {
                layer: None,
                path: path.to_string(),
                reason,
            })
        };
        if depth > DIRECTORY_DEPTH_MAX {
            let reason =
                format!("not scanned: nested deeper than {DIRECTORY_DEPTH_MAX} directories");
            return problem(report, &relative, reason);
        }
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|entry| entry.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let file_type = entry.file_type().unwrap();
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
            let size = entry.metadata().unwrap().len();
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
            let content = std::fs::read(entry.path()).unwrap();
            let location = Location {
                layer: None,
                path,
                in_gzip: false,
                line: 0,
                hidden_by_later_layer: false,
            };
            scan_content(report, location, &content, limits);
        }
    }
    let mut report = SensitiveReport::default();
    walk(&mut report, root, String::new(), 0, limits);
    report
}

#[test]
fn a_directory_scanned_on_threads_gives_the_report_of_one_file_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = format!("paid {PLANTED_PAN}\n");
    let padded = format!("{}{PLANTED_PAN}\n", " ".repeat(300));
    let config = format!("[default]\naws_access_key_id = {}\n", aws_key());
    let mut total = 0u64;
    for (index, sub) in ["a", "a/b", "a/b/c", "d", "e/f"].iter().enumerate() {
        let sub = dir.path().join(sub);
        std::fs::create_dir_all(&sub).unwrap();
        for file in 0..4 {
            let (name, content) = match (index + file) % 4 {
                0 => (format!("{file}.log"), log.clone().into_bytes()),
                1 => (format!("{file}.gz"), gzip(padded.as_bytes())),
                2 => (format!("{file}.ini"), config.clone().into_bytes()),
                _ => (format!("{file}.bin"), vec![b'7'; 40]),
            };
            total += content.len() as u64;
            std::fs::write(sub.join(name), content).unwrap();
        }
    }
    let mut cases = vec![ScanLimits::default()];
    for files_max in [0, 1, 3, 5, 7, 11, 19] {
        cases.push(ScanLimits {
            files_max,
            ..ScanLimits::default()
        });
    }
    // Running byte limits that land inside the gzip content of some file, so that its
    // decompression is cut by what the files before it used.
    for total_bytes_max in (0..=total + 2_000).step_by(97) {
        cases.push(ScanLimits {
            total_bytes_max,
            ..ScanLimits::default()
        });
    }
    cases.push(ScanLimits {
        file_bytes_max: 39,
        gzip_decompressed_bytes_max: 200,
        ..ScanLimits::default()
    });
    let mut findings = 0;
    for limits in cases {
        let expected = scan_directory_one_at_a_time(dir.path(), limits);
        findings += expected.findings.len();
        for threads in [1, 2, 3, 8] {
            assert_eq!(
                scan_directory_with_threads(dir.path(), limits, threads),
                expected,
                "{limits:?} on {threads} threads"
            );
        }
    }
    assert!(findings > 100, "{findings} findings in all cases");
}
