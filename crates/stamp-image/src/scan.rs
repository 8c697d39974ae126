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
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let mut entries: Vec<FileEntry> = Vec::new();
    // Indices in `entries` of the regular files, hashed once the walk is done.
    let mut files: Vec<usize> = Vec::new();
    let mut pending = vec![(root.to_path_buf(), String::from("/"))];
    while let Some((path, manifest_path)) = pending.pop() {
        let io_error = |source| ScanError::Io {
            path: path.clone(),
            source,
        };
        let metadata = fs::symlink_metadata(&path).map_err(io_error)?;
        let file_type = metadata.file_type();
        let mut entry = FileEntry {
            path: manifest_path,
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
                let below = if entry.path == "/" {
                    format!("/{name}")
                } else {
                    format!("{}/{name}", entry.path)
                };
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
            files.push(entries.len());
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
        entries.push(entry);
        if entries.len() > SCAN_ENTRIES_MAX {
            return Err(ScanError::TooManyEntries(root.to_path_buf()));
        }
    }
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|&index| root.join(entries[index].path.trim_start_matches('/')))
        .collect();
    let hashes = hash_files(&paths)?;
    drop(paths);
    for (index, (size, sha256)) in files.into_iter().zip(hashes) {
        entries[index].size = Some(size);
        entries[index].sha256 = Some(sha256);
    }
    entries.sort_unstable_by(|a, b| manifest_order(&a.path, &b.path));
    Ok(entries)
}

/// The manifest's order of paths: component by component, which is byte order with the `/`
/// between components counted below every byte a name can hold (`/a/b` before `/a-b`).
fn manifest_order(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |byte: u8| if byte == b'/' { 0 } else { byte };
    a.bytes().map(key).cmp(b.bytes().map(key))
}

/// A file's size and SHA-256 (hex), or why it could not be read.
type Hashed = Result<(u64, String), ScanError>;

/// Most threads hashing file contents at once.
pub const HASH_THREADS_MAX: usize = 8;

/// Size and SHA-256 (hex) of every file of `files`, in order, hashed on as many threads as the
/// machine has cores (at most [`HASH_THREADS_MAX`]). Plain scoped threads taking the next file
/// from a shared counter: the files are independent, so nothing more is needed. The first
/// error in `files` order is returned.
fn hash_files(files: &[PathBuf]) -> Result<Vec<(u64, String)>, ScanError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |count| count.get())
        .clamp(1, HASH_THREADS_MAX)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Hashed>> = (0..files.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Hashed)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut buffer = vec![0u8; 256 * 1024];
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(index) else {
                            break;
                        };
                        let hashed = hash_file(path, &mut buffer);
                        let failed = hashed.is_err();
                        done.push((index, hashed));
                        if failed {
                            // Stop taking files; the others finish theirs.
                            next.store(files.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("a hashing thread panicked"))
            .collect()
    });
    for (index, hashed) in done.into_iter().flatten() {
        results[index] = Some(hashed);
    }
    let mut hashes = Vec::with_capacity(files.len());
    for (result, path) in results.into_iter().zip(files) {
        match result {
            Some(hashed) => hashes.push(hashed?),
            // Left out only because another file failed first; report that one.
            None => {
                return Err(ScanError::Io {
                    path: path.clone(),
                    source: io::Error::other("not hashed: another file could not be read"),
                })
            }
        }
    }
    Ok(hashes)
}

/// Size and SHA-256 (hex) of the file at `path`, read through `buffer`.
fn hash_file(path: &Path, buffer: &mut [u8]) -> Result<(u64, String), ScanError> {
    let io_error = |source| ScanError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut hasher = Sha256::new();
    let mut file = File::open(path).map_err(io_error)?;
    let mut size = 0u64;
    loop {
        let read = file.read(buffer).map_err(io_error)?;
        if read == 0 {
            break;
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
    Ok((size, hex::encode(hasher.finalize())))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_is_read_in_component_order_with_every_file_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Names around `/` in byte order: `-` and `.` sort before it, `0` after.
        let files = ["a/b", "a-b", "a.c/x", "a0", "a/b0", "a/-/c", "z"];
        for (number, file) in files.iter().enumerate() {
            let path = root.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, file.repeat(number * 1000)).unwrap();
        }
        std::os::unix::fs::symlink("a0", root.join("link")).unwrap();
        let entries = scan_tree(root).unwrap();
        let paths: Vec<&str> = entries.iter().map(|entry| entry.path.as_str()).collect();
        let mut by_components = paths.clone();
        by_components.sort_by_key(|path| path.split('/').skip(1).collect::<Vec<_>>());
        assert_eq!(paths, by_components);
        assert_eq!(paths[..4], ["/", "/a", "/a/-", "/a/-/c"]);
        assert_eq!(paths.len(), files.len() + 5);
        for (number, file) in files.iter().enumerate() {
            let content = file.repeat(number * 1000);
            let entry = entries
                .iter()
                .find(|entry| entry.path == format!("/{file}"))
                .unwrap();
            assert_eq!(entry.size, Some(content.len() as u64), "{file}");
            let expected = hex::encode(Sha256::digest(content.as_bytes()));
            assert_eq!(entry.sha256.as_deref(), Some(expected.as_str()), "{file}");
        }
        let link = entries.iter().find(|entry| entry.path == "/link").unwrap();
        assert_eq!(link.target.as_deref(), Some("a0"));
        assert_eq!(link.sha256, None);
    }
}
