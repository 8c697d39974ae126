//! Drift of a root filesystem from its image (PCI DSS 11.5.2).
//!
//! The image's declared writable paths (the config label [`LABEL_WRITABLE`], a JSON array of
//! absolute paths) are where a running instance may legitimately write; they are left out of
//! the comparison and listed as excluded in the report. Everything else must match the file
//! manifest exactly: content, type, mode, owner and symlink target.
//!
//! The full difference list is hashed in a canonical form — the JSON array of
//! [`Difference`]s sorted by path then code, object keys sorted, no whitespace (what
//! `json.dumps(list, sort_keys=True, separators=(",", ":"))` prints) — so a `drift` event can
//! carry counts plus one digest that pins the whole list, and anyone holding the list can
//! recompute it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use stamp_image::build::LABEL_WRITABLE;
use stamp_image::manifest::FileManifest;
use stamp_image::oci::ImageConfiguration;
use stamp_image::scan::{compare, scan_tree, Difference, ScanError};

/// Most writable paths an image may declare.
pub const WRITABLE_PATHS_MAX: usize = 256;

/// Every code [`compare`] can report, in the order counts are shown.
pub const DRIFT_CODES: [&str; 7] = [
    "drift-added",
    "drift-removed",
    "drift-modified",
    "drift-mode",
    "drift-owner",
    "drift-type",
    "drift-symlink-target",
];

/// The image's `dev.stamp.writable` label could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WritableLabelError {
    #[error("the image label `{LABEL_WRITABLE}` is not a JSON array of strings")]
    Json(#[source] serde_json::Error),
    #[error("the image label `{LABEL_WRITABLE}` names `{0}`, which is not an absolute path")]
    NotAbsolute(String),
    #[error("the image label `{LABEL_WRITABLE}` names more than {WRITABLE_PATHS_MAX} paths")]
    TooMany,
}

/// The writable paths an image declares, normalized without a trailing slash.
pub fn writable_paths(config: &ImageConfiguration) -> Result<Vec<String>, WritableLabelError> {
    let Some(label) = config
        .config
        .as_ref()
        .and_then(|runtime| runtime.labels.get(LABEL_WRITABLE))
    else {
        return Ok(Vec::new());
    };
    let paths: Vec<String> = serde_json::from_str(label).map_err(WritableLabelError::Json)?;
    if paths.len() > WRITABLE_PATHS_MAX {
        return Err(WritableLabelError::TooMany);
    }
    let mut normalized = Vec::with_capacity(paths.len());
    for path in paths {
        if !path.starts_with('/') || path.split('/').any(|part| part == "..") {
            return Err(WritableLabelError::NotAbsolute(path));
        }
        let trimmed = path.trim_end_matches('/');
        normalized.push(if trimmed.is_empty() {
            "/".to_string()
        } else {
            trimmed.to_string()
        });
    }
    normalized.sort();
    normalized.dedup();
    Ok(normalized)
}

/// The result of one drift check.
#[derive(Clone, Debug, Serialize)]
pub struct DriftReport {
    /// True when any difference was found.
    pub drifted: bool,
    /// Paths left out because the image declares them writable.
    pub excluded: Vec<String>,
    /// Number of differences per code; every code is present, zero when none.
    pub counts: BTreeMap<&'static str, u64>,
    /// Entries read from the tree.
    pub entries_checked: u64,
    /// SHA-256 (hex) of the canonical difference list.
    pub differences_sha256: String,
    pub differences: Vec<Difference>,
}

/// Compare the tree at `root` with `manifest`, leaving out `excluded` paths.
pub fn check_tree(
    manifest: &FileManifest,
    root: &Path,
    excluded: &[String],
) -> Result<DriftReport, ScanError> {
    let actual = scan_tree(root)?;
    Ok(report(manifest, &actual, excluded))
}

/// Read the root filesystem an instance sees at `root` (its `/proc/PID/root`), skipping the
/// top-level `skipped` mount points (`/proc`, `/dev`: kernel and device trees, not the image).
///
/// The entries are those [`scan_tree`] gives, so they compare with the manifest exactly as a
/// directory check does.
pub fn scan_instance_root(
    root: &Path,
    skipped: &[&str],
) -> Result<Vec<stamp_image::manifest::FileEntry>, ScanError> {
    use std::os::unix::fs::MetadataExt;
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScanError::Io { path, source }
    };
    let metadata = std::fs::symlink_metadata(root).map_err(io_error(root))?;
    let mut entries = vec![stamp_image::manifest::FileEntry {
        path: "/".into(),
        file_type: stamp_image::manifest::FileType::Dir,
        mode: format!("{:04o}", metadata.mode() & 0o7777),
        uid: u64::from(metadata.uid()),
        gid: u64::from(metadata.gid()),
        size: None,
        sha256: None,
        target: None,
        device: None,
    }];
    for child in std::fs::read_dir(root).map_err(io_error(root))? {
        let child = child.map_err(io_error(root))?;
        let name = child
            .file_name()
            .into_string()
            .map_err(|_| ScanError::Name(child.path()))?;
        if skipped
            .iter()
            .any(|skip| skip.trim_start_matches('/') == name)
        {
            continue;
        }
        for mut entry in scan_tree(&child.path())? {
            entry.path = if entry.path == "/" {
                format!("/{name}")
            } else {
                format!("/{name}{}", entry.path)
            };
            entries.push(entry);
        }
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

/// The report for already scanned entries (pure).
pub fn report(
    manifest: &FileManifest,
    actual: &[stamp_image::manifest::FileEntry],
    excluded: &[String],
) -> DriftReport {
    let differences = compare(manifest, actual, excluded);
    let mut counts: BTreeMap<&'static str, u64> =
        DRIFT_CODES.iter().map(|code| (*code, 0)).collect();
    for difference in &differences {
        *counts.entry(difference.code).or_default() += 1;
    }
    DriftReport {
        drifted: !differences.is_empty(),
        excluded: excluded.to_vec(),
        counts,
        entries_checked: actual.len() as u64,
        differences_sha256: canonical_digest(&differences),
        differences,
    }
}

/// SHA-256 of the compact, key-sorted JSON of `differences` (already in canonical order).
pub fn canonical_digest(differences: &[Difference]) -> String {
    // Through `Value`, whose objects keep keys sorted, so the form does not depend on field order.
    let value = serde_json::to_value(differences).expect("differences serialize");
    let bytes = serde_json::to_vec(&value).expect("values serialize");
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stamp_image::oci::{RootFs, RuntimeConfig};

    fn config_with(label: Option<&str>) -> ImageConfiguration {
        let mut runtime = RuntimeConfig::default();
        if let Some(label) = label {
            runtime
                .labels
                .insert(LABEL_WRITABLE.to_string(), label.to_string());
        }
        ImageConfiguration {
            created: None,
            author: None,
            architecture: "amd64".into(),
            os: "linux".into(),
            config: Some(runtime),
            rootfs: RootFs {
                fs_type: "layers".into(),
                diff_ids: Vec::new(),
            },
            history: Vec::new(),
        }
    }

    #[test]
    fn writable_paths_are_read_sorted_and_trimmed() {
        let config = config_with(Some(r#"["/var/lib/app/","/tmp"]"#));
        assert_eq!(
            writable_paths(&config).unwrap(),
            vec!["/tmp".to_string(), "/var/lib/app".to_string()]
        );
        assert!(writable_paths(&config_with(None)).unwrap().is_empty());
    }

    #[test]
    fn writable_paths_refuse_relative_and_dot_dot_and_too_many() {
        assert!(matches!(
            writable_paths(&config_with(Some(r#"["tmp"]"#))),
            Err(WritableLabelError::NotAbsolute(_))
        ));
        assert!(matches!(
            writable_paths(&config_with(Some(r#"["/tmp/../etc"]"#))),
            Err(WritableLabelError::NotAbsolute(_))
        ));
        assert!(matches!(
            writable_paths(&config_with(Some("not json"))),
            Err(WritableLabelError::Json(_))
        ));
        let at_limit: Vec<String> = (0..WRITABLE_PATHS_MAX).map(|n| format!("/w{n}")).collect();
        let label = serde_json::to_string(&at_limit).unwrap();
        assert_eq!(
            writable_paths(&config_with(Some(&label))).unwrap().len(),
            WRITABLE_PATHS_MAX
        );
        let over: Vec<String> = (0..=WRITABLE_PATHS_MAX).map(|n| format!("/w{n}")).collect();
        let label = serde_json::to_string(&over).unwrap();
        assert!(matches!(
            writable_paths(&config_with(Some(&label))),
            Err(WritableLabelError::TooMany)
        ));
    }

    #[test]
    fn the_digest_pins_the_whole_list() {
        let one = Difference {
            code: "drift-added",
            path: "/a".into(),
            expected: None,
            actual: Some("file".into()),
        };
        let mut two = one.clone();
        two.path = "/b".into();
        let empty = canonical_digest(&[]);
        // SHA-256 of `[]`.
        assert_eq!(
            empty,
            "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
        );
        assert_ne!(
            canonical_digest(std::slice::from_ref(&one)),
            canonical_digest(&[two.clone()])
        );
        assert_ne!(
            canonical_digest(std::slice::from_ref(&one)),
            canonical_digest(&[one, two])
        );
    }
}
