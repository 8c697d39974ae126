//! Reading a directory tree back into file-manifest entries, and comparing it with an image's
//! manifest. Drift detection (PCI DSS 11.5.2) and the demo's self-check build on this.
//!
//! The walk never follows symlinks, does not cross into other filesystems' special files, and
//! reports what it finds exactly as [`crate::manifest`] would have recorded it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::manifest::{FileEntry, FileManifest, FileType};

/// Most entries a scanned tree may hold.
pub const SCAN_ENTRIES_MAX: usize = 5_000_000;

/// Why a tree could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` has more than {SCAN_ENTRIES_MAX} entries", .0.display())]
    TooManyEntries(PathBuf),
    #[error("`{}`: file name is not UTF-8", .0.display())]
    Name(PathBuf),
}

/// Read every path below `root` into manifest entries, in manifest order.
pub fn scan_tree(root: &Path) -> Result<Vec<FileEntry>, ScanError> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((path, components)) = pending.pop() {
        let io_error = |source| ScanError::Io {
            path: path.clone(),
            source,
        };
        let metadata = fs::symlink_metadata(&path).map_err(io_error)?;
        let file_type = metadata.file_type();
        let mut entry = FileEntry {
            path: format!("/{}", components.join("/")),
            file_type: FileType::File,
            mode: format!("{:04o}", metadata.mode() & 0o7777),
            uid: metadata.uid() as u64,
            gid: metadata.gid() as u64,
            size: None,
            sha256: None,
            target: None,
            device: None,
        };
        if file_type.is_dir() {
            entry.file_type = FileType::Dir;
            for child in fs::read_dir(&path).map_err(io_error)? {
                let child = child.map_err(io_error)?;
                let name = child
                    .file_name()
                    .into_string()
                    .map_err(|_| ScanError::Name(child.path()))?;
                let mut below = components.clone();
                below.push(name);
                pending.push((child.path(), below));
            }
        } else if file_type.is_symlink() {
            entry.file_type = FileType::Symlink;
            entry.mode = "0777".into();
            let target = fs::read_link(&path).map_err(io_error)?;
            entry.target = Some(
                target
                    .into_os_string()
                    .into_string()
                    .map_err(|_| ScanError::Name(path.clone()))?,
            );
        } else if file_type.is_file() {
            let mut hasher = Sha256::new();
            let mut file = File::open(&path).map_err(io_error)?;
            let mut buffer = vec![0u8; 256 * 1024];
            let mut size = 0u64;
            loop {
                let read = file.read(&mut buffer).map_err(io_error)?;
                if read == 0 {
                    break;
                }
                size += read as u64;
                hasher.update(&buffer[..read]);
            }
            entry.size = Some(size);
            entry.sha256 = Some(hex::encode(hasher.finalize()));
        } else if file_type.is_char_device() || file_type.is_block_device() {
            entry.file_type = if file_type.is_char_device() {
                FileType::Char
            } else {
                FileType::Block
            };
            let rdev = metadata.rdev();
            entry.device = Some((rustix::fs::major(rdev), rustix::fs::minor(rdev)));
        } else {
            entry.file_type = FileType::Fifo;
        }
        let key = components.clone();
        entries.insert(key, entry);
        if entries.len() > SCAN_ENTRIES_MAX {
            return Err(ScanError::TooManyEntries(root.to_path_buf()));
        }
    }
    Ok(entries.into_values().collect())
}

/// One way a tree differs from a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// Stable kebab-case code: `drift-added`, `drift-removed`, `drift-modified`,
    /// `drift-mode`, `drift-owner`, `drift-type`, `drift-symlink-target`.
    pub code: &'static str,
    pub path: String,
    pub expected: Option<String>,
    pub actual: Option<String>,
}

/// Compare `actual` entries with `manifest`; paths at or below an `excluded` path are skipped.
pub fn compare(
    manifest: &FileManifest,
    actual: &[FileEntry],
    excluded: &[String],
) -> Vec<Difference> {
    let skip = |path: &str| {
        excluded.iter().any(|ex| {
            path == ex
                || (path.starts_with(ex.as_str()) && path.as_bytes().get(ex.len()) == Some(&b'/'))
        })
    };
    let expected: BTreeMap<&str, &FileEntry> = manifest
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e))
        .collect();
    let found: BTreeMap<&str, &FileEntry> = actual.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut differences = Vec::new();
    for (path, want) in &expected {
        if skip(path) {
            continue;
        }
        let Some(have) = found.get(path) else {
            differences.push(Difference {
                code: "drift-removed",
                path: path.to_string(),
                expected: Some(format!("{:?}", want.file_type).to_lowercase()),
                actual: None,
            });
            continue;
        };
        let mut push = |code, expected: String, actual: String| {
            differences.push(Difference {
                code,
                path: path.to_string(),
                expected: Some(expected),
                actual: Some(actual),
            })
        };
        if want.file_type != have.file_type {
            push(
                "drift-type",
                format!("{:?}", want.file_type).to_lowercase(),
                format!("{:?}", have.file_type).to_lowercase(),
            );
            continue;
        }
        if want.sha256 != have.sha256 || want.size != have.size {
            push(
                "drift-modified",
                want.sha256.clone().unwrap_or_default(),
                have.sha256.clone().unwrap_or_default(),
            );
        }
        if want.target != have.target {
            push(
                "drift-symlink-target",
                want.target.clone().unwrap_or_default(),
                have.target.clone().unwrap_or_default(),
            );
        }
        // The root's mode and owner belong to whoever made the directory, not the image.
        if *path != "/" && want.file_type != FileType::Symlink && want.mode != have.mode {
            push("drift-mode", want.mode.clone(), have.mode.clone());
        }
        if *path != "/" && (want.uid, want.gid) != (have.uid, have.gid) {
            push(
                "drift-owner",
                format!("{}:{}", want.uid, want.gid),
                format!("{}:{}", have.uid, have.gid),
            );
        }
    }
    for (path, have) in &found {
        if !expected.contains_key(path) && !skip(path) {
            differences.push(Difference {
                code: "drift-added",
                path: path.to_string(),
                expected: None,
                actual: Some(format!("{:?}", have.file_type).to_lowercase()),
            });
        }
    }
    differences.sort_by(|a, b| a.path.cmp(&b.path).then(a.code.cmp(b.code)));
    differences
}
