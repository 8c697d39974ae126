//! Card numbers and secrets in an image (PCI DSS 3.3.1, 3.5.1, 8.6.2, 12.10.7): every
//! regular file of every layer — files that a later layer deletes or replaces included, since
//! they still ship in the image's blobs — the content of gzip-compressed files, and the
//! environment values of the image configuration.
//!
//! Findings hold only masked values ([`crate::pan::MaskedPan`], [`crate::secret::SecretMatch`]
//! `shown`); what was read is dropped after each file.

use std::io::Read;

use serde::Serialize;

use crate::cvss::Severity;
use crate::pan::{self, find_pans};
use crate::secret::{self, find_secrets};

mod directory;
mod image;

pub use directory::{scan_directory, scan_directory_with_threads, DIRECTORY_DEPTH_MAX};
pub use image::{scan_image, ScanImageError};

/// Largest file scanned, in bytes; a larger file is reported as a problem, not scanned.
pub const SCAN_FILE_BYTES_MAX: u64 = 64 << 20;
/// Most regular files scanned in one image (all layers together).
pub const SCAN_FILES_MAX: u64 = 2_000_000;
/// Most bytes a gzip-compressed file may decompress to; beyond it the rest is not scanned
/// and a problem is reported (a gzip bomb cannot exhaust memory).
pub const GZIP_DECOMPRESSED_BYTES_MAX: u64 = 64 << 20;
/// Most bytes scanned in one image, decompressed content included.
pub const SCAN_TOTAL_BYTES_MAX: u64 = 16 << 30;

/// The limits one scan applies; [`ScanLimits::default`] holds the named constants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanLimits {
    pub file_bytes_max: u64,
    pub files_max: u64,
    pub gzip_decompressed_bytes_max: u64,
    pub total_bytes_max: u64,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            file_bytes_max: SCAN_FILE_BYTES_MAX,
            files_max: SCAN_FILES_MAX,
            gzip_decompressed_bytes_max: GZIP_DECOMPRESSED_BYTES_MAX,
            total_bytes_max: SCAN_TOTAL_BYTES_MAX,
        }
    }
}

/// Where a finding is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The layer blob's digest; `None` for the image configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// The file's path in the layer, or `config:Env[NAME]`.
    pub path: String,
    /// Whether the finding is in the decompressed content of a gzip file.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_gzip: bool,
    /// 1-based line of the (decompressed) content.
    pub line: u64,
    /// Whether a later layer deletes or replaces the file (it still ships in the blob).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hidden_by_later_layer: bool,
}

/// A card number or a secret found in an image. `masked` is all that is kept of the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SensitiveFinding {
    pub code: &'static str,
    pub severity: Severity,
    pub pci: &'static [&'static str],
    pub masked: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<pan::Brand>,
    pub location: Location,
}

/// PCI DSS requirements a secret finding is evidence for.
pub const SECRET_PCI_REQUIREMENTS: &[&str] = &["8.6.2"];
/// PCI DSS requirements a private-key finding is evidence for.
pub const PRIVATE_KEY_PCI_REQUIREMENTS: &[&str] = &["8.6.2", "3.6.1"];

/// A file or value that could not be scanned completely (the scan goes on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanProblem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    pub path: String,
    pub reason: String,
}

/// What a scan of an image found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SensitiveReport {
    pub findings: Vec<SensitiveFinding>,
    pub problems: Vec<ScanProblem>,
    pub files_scanned: u64,
    pub bytes_scanned: u64,
}

impl SensitiveReport {
    /// How many findings have `code`.
    pub fn count(&self, code: &str) -> usize {
        self.findings
            .iter()
            .filter(|finding| finding.code == code)
            .count()
    }
}

/// Scan one file's `content` at `location` (and its decompressed content when it is gzip),
/// counting it against `limits`; what cut the scan short is a problem of the report.
pub(crate) fn scan_content(
    report: &mut SensitiveReport,
    location: Location,
    content: &[u8],
    limits: ScanLimits,
) {
    report.files_scanned += 1;
    report.bytes_scanned += content.len() as u64;
    scan_bytes(content, &location, &mut report.findings);
    if !is_gzip(content) {
        return;
    }
    let room = gzip_room(report, limits);
    let (inflated, outcome) = gunzip_limited(content, room);
    let reason = match outcome {
        Ok(true) => Some(format!(
            "decompressed content scanned up to the limit of {room} bytes"
        )),
        Ok(false) => None,
        Err(error) => Some(format!("gzip content unreadable: {error}")),
    };
    if let Some(reason) = reason {
        report.problems.push(ScanProblem {
            layer: location.layer.clone(),
            path: location.path.clone(),
            reason,
        });
    }
    report.bytes_scanned += inflated.len() as u64;
    let location = Location {
        in_gzip: true,
        ..location
    };
    scan_bytes(&inflated, &location, &mut report.findings);
}

/// How many bytes the gzip content of the file just counted in `report` may decompress to.
pub(crate) fn gzip_room(report: &SensitiveReport, limits: ScanLimits) -> u64 {
    limits
        .gzip_decompressed_bytes_max
        .min(limits.total_bytes_max.saturating_sub(report.bytes_scanned))
}

/// Whether `content` starts with the gzip magic bytes (RFC 1952 §2.3.1).
pub fn is_gzip(content: &[u8]) -> bool {
    content.starts_with(&[0x1f, 0x8b])
}

/// Decompress `content` (gzip) up to `limit` bytes. Returns what was decompressed and
/// whether the limit cut it, or the decompression error text.
pub fn gunzip_limited(content: &[u8], limit: u64) -> (Vec<u8>, Result<bool, String>) {
    let mut out = Vec::new();
    let result = flate2::read::MultiGzDecoder::new(content)
        .take(limit + 1)
        .read_to_end(&mut out);
    match result {
        Ok(_) if out.len() as u64 > limit => {
            out.truncate(limit as usize);
            (out, Ok(true))
        }
        Ok(_) => (out, Ok(false)),
        Err(error) => (out, Err(error.to_string())),
    }
}

/// The findings in one text; `location` is filled in with each finding's line.
pub fn scan_bytes(content: &[u8], location: &Location, findings: &mut Vec<SensitiveFinding>) {
    let system_binary = is_system_binary(&location.path, content);
    // Findings come in offset order from each detector, so lines are counted onwards from
    // the previous finding rather than from the start every time.
    let mut counted = (0usize, 1u64);
    let mut line_of = |offset: usize| {
        let offset = offset.min(content.len());
        let (from, line) = if offset >= counted.0 { counted } else { (0, 1) };
        let line = line + memchr::memchr_iter(b'\n', &content[from..offset]).count() as u64;
        counted = (offset, line);
        line
    };
    for found in find_pans(content) {
        findings.push(SensitiveFinding {
            code: found.code(),
            severity: if found.test_number {
                Severity::Low
            } else {
                Severity::Critical
            },
            pci: pan::PCI_REQUIREMENTS,
            masked: found.pan.to_string(),
            brand: Some(found.brand),
            location: Location {
                line: line_of(found.offset),
                ..location.clone()
            },
        });
    }
    for found in find_secrets(content) {
        let private_key = found.code == secret::CODE_PRIVATE_KEY;
        let (code, severity) = match (private_key, system_binary) {
            (true, true) => (CODE_PRIVATE_KEY_IN_SYSTEM_BINARY, Severity::Medium),
            (true, false) => (found.code, Severity::Critical),
            (false, _) => (found.code, Severity::High),
        };
        findings.push(SensitiveFinding {
            code,
            severity,
            pci: if private_key {
                PRIVATE_KEY_PCI_REQUIREMENTS
            } else {
                SECRET_PCI_REQUIREMENTS
            },
            masked: found.shown,
            brand: None,
            location: Location {
                line: line_of(found.offset),
                ..location.clone()
            },
        });
    }
}

/// Name and version of the card-number and secret rules; bumped with any change to what
/// they detect.
pub const RULE_SET_ID: &str = "stamp-sensitive/1";

/// The digest of the rule set a scan applied: its id, its finding codes, its limits and the
/// embedded list of published test numbers, so a verdict names exactly what it checked.
pub fn rule_set_digest() -> stamp_core::Digest {
    let limits = ScanLimits::default();
    let description = format!(
        "{RULE_SET_ID}\ncodes {} {} {} {} {} {} {} {} {} {CODE_PRIVATE_KEY_IN_SYSTEM_BINARY}\nsystem {}\nlimits {} {} {} {}\n{}",
        pan::CODE_PAN_DETECTED,
        pan::CODE_PAN_TEST_NUMBER,
        secret::CODE_PRIVATE_KEY,
        secret::CODE_AWS_ACCESS_KEY,
        secret::CODE_GCP_SERVICE_ACCOUNT,
        secret::CODE_STRIPE_KEY,
        secret::CODE_SLACK_TOKEN,
        secret::CODE_GITHUB_TOKEN,
        secret::CODE_PASSWORD,
        SYSTEM_BINARY_DIRECTORIES.join(" "),
        limits.file_bytes_max,
        limits.files_max,
        limits.gzip_decompressed_bytes_max,
        limits.total_bytes_max,
        pan::TEST_NUMBERS_TSV,
    );
    stamp_core::Digest::of(description.as_bytes())
}

/// A private key compiled into a shared library or program under the system library and
/// program directories: the self-test and known-answer keys that crypto libraries ship
/// (GnuTLS, OpenSSL FIPS). Reported at medium severity, not denied by default; a key in any
/// other file, or in a binary elsewhere, is [`secret::CODE_PRIVATE_KEY`].
pub const CODE_PRIVATE_KEY_IN_SYSTEM_BINARY: &str = "secret-private-key-in-system-binary";

/// Directories whose ELF files count as system binaries for
/// [`CODE_PRIVATE_KEY_IN_SYSTEM_BINARY`].
const SYSTEM_BINARY_DIRECTORIES: &[&str] = &[
    "usr/lib/",
    "usr/lib64/",
    "usr/lib32/",
    "lib/",
    "lib64/",
    "usr/bin/",
    "usr/sbin/",
    "bin/",
    "sbin/",
    "usr/libexec/",
];

/// Whether `content` at `path` is an ELF file in a system directory.
pub fn is_system_binary(path: &str, content: &[u8]) -> bool {
    content.starts_with(b"\x7fELF")
        && SYSTEM_BINARY_DIRECTORIES
            .iter()
            .any(|directory| path.starts_with(directory))
}

/// Whether a finding's code makes the default gate fail: a card number outside the test
/// numbers, or any secret but a key compiled into a system binary.
pub fn denied_by_default(code: &str) -> bool {
    code == pan::CODE_PAN_DETECTED
        || (code.starts_with("secret-") && code != CODE_PRIVATE_KEY_IN_SYSTEM_BINARY)
}

#[cfg(test)]
mod tests;
