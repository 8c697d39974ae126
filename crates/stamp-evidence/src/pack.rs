//! A pack's files in memory, `SHA256SUMS`, and the two on-disk forms: a directory, or a
//! deterministic `.tar.gz` (sorted names, fixed owners, modes and times, stamp's gzip writer).
//! Reading either is bounded: file count, each file's size and the total.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path};

use stamp_core::Digest;
use stamp_image::tar::{EntryKind, Header, ReadLimits, TarReader, TarWriter};

use crate::files::{PACK_SIGNATURE, SHA256SUMS};

/// Most files a pack may hold.
pub const PACK_FILES_MAX: usize = 100_000;
/// Largest single file read from a pack, in bytes. The largest file is
/// `log/inclusion-proofs.jsonl`, about 1.5 KiB per event: this allows some 170,000 events.
pub const PACK_FILE_BYTES_MAX: u64 = 256 << 20;
/// Largest total of all files read from a pack, in bytes.
pub const PACK_BYTES_MAX: u64 = 1 << 30;

impl Pack {
    /// The first limit of [`Pack::read`] this pack would break: `(what, value, limit)`.
    pub fn over_limits(&self) -> Option<(String, u64, u64)> {
        if self.files.len() > PACK_FILES_MAX {
            return Some((
                "files".into(),
                self.files.len() as u64,
                PACK_FILES_MAX as u64,
            ));
        }
        let mut total = 0u64;
        for (path, bytes) in &self.files {
            let size = bytes.len() as u64;
            if size > PACK_FILE_BYTES_MAX {
                return Some((format!("bytes of `{path}`"), size, PACK_FILE_BYTES_MAX));
            }
            total += size;
        }
        (total > PACK_BYTES_MAX).then(|| ("bytes in all".to_string(), total, PACK_BYTES_MAX))
    }
}
/// Deepest directory nesting inside a pack.
pub const PACK_DEPTH_MAX: usize = 8;
/// The modification time written into every tar header (the epoch: nothing of the clock).
const TAR_MTIME: u64 = 0;

/// The files of a pack by relative path (`/`-separated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pack {
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Why a pack could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("`{path}`: {reason}")]
    Invalid { path: String, reason: String },
    #[error("the pack has more than {PACK_FILES_MAX} files")]
    TooManyFiles,
    #[error("`{path}` is larger than {PACK_FILE_BYTES_MAX} bytes")]
    FileTooLarge { path: String },
    #[error("the pack's files add up to more than {PACK_BYTES_MAX} bytes")]
    TooLarge,
    #[error("`{path}` already exists and is not an empty directory")]
    Exists { path: String },
    #[error("reading the archive `{path}`")]
    Tar {
        path: String,
        #[source]
        source: stamp_image::tar::ReadTarError,
    },
    #[error("{operation} `{path}`")]
    Io {
        operation: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(
    operation: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> PackError + 'a {
    move |source| PackError::Io {
        operation,
        path: path.display().to_string(),
        source,
    }
}

/// Whether `path` is a relative, normalized pack path.
pub fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 512
        && !path.starts_with('/')
        && path.split('/').count() <= PACK_DEPTH_MAX
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !path.chars().any(|c| c.is_control() || c == '\\')
}

impl Pack {
    pub fn insert(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.files.insert(path.into(), bytes.into());
    }

    /// `SHA256SUMS`: `<hex>  <path>` per file except itself and the signature, sorted by path.
    pub fn sums(&self) -> Vec<u8> {
        let mut out = String::new();
        for (path, bytes) in &self.files {
            if path == SHA256SUMS || path == PACK_SIGNATURE {
                continue;
            }
            out.push_str(&format!("{}  {path}\n", Digest::of(bytes).hex()));
        }
        out.into_bytes()
    }

    /// Write into `dir`, which must not exist or be empty.
    pub fn write_dir(&self, dir: &Path) -> Result<(), PackError> {
        if dir.exists() {
            let empty = std::fs::read_dir(dir)
                .map(|mut entries| entries.next().is_none())
                .unwrap_or(false);
            if !empty {
                return Err(PackError::Exists {
                    path: dir.display().to_string(),
                });
            }
        }
        for (path, bytes) in &self.files {
            let target = dir.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(io("creating", parent))?;
            }
            std::fs::write(&target, bytes).map_err(io("writing", &target))?;
        }
        Ok(())
    }

    /// The deterministic `.tar.gz` bytes: one top directory `name/`, entries sorted.
    pub fn to_tar_gz(&self, name: &str) -> Result<Vec<u8>, PackError> {
        let mut directories = std::collections::BTreeSet::new();
        for path in self.files.keys() {
            let mut prefix = String::new();
            for part in path
                .split('/')
                .rev()
                .skip(1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                prefix.push_str(part);
                prefix.push('/');
                directories.insert(prefix.clone());
            }
        }
        let mut entries: BTreeMap<String, Option<&Vec<u8>>> = BTreeMap::new();
        entries.insert(String::new(), None);
        for directory in directories {
            entries.insert(directory, None);
        }
        for (path, bytes) in &self.files {
            entries.insert(path.clone(), Some(bytes));
        }
        let gzip = stamp_image::gzip::GzipWriter::with_threads(Vec::new(), 1);
        let mut tar = TarWriter::new(gzip);
        let tar_error = |source| PackError::Io {
            operation: "writing the archive",
            path: name.to_string(),
            source,
        };
        for (path, content) in entries {
            let full = format!("{name}/{path}");
            let header = Header {
                path: full,
                kind: if content.is_some() {
                    EntryKind::File
                } else {
                    EntryKind::Directory
                },
                mode: if content.is_some() { 0o644 } else { 0o755 },
                uid: 0,
                gid: 0,
                size: content.map(|bytes| bytes.len() as u64).unwrap_or(0),
                mtime: TAR_MTIME,
            };
            tar.write_header(&header).map_err(tar_error)?;
            if let Some(bytes) = content {
                tar.write_content(bytes).map_err(tar_error)?;
                tar.pad(bytes.len() as u64).map_err(tar_error)?;
            }
        }
        let gzip = tar.finish().map_err(tar_error)?;
        gzip.finish().map_err(tar_error)
    }

    /// Read a pack from a directory or a `.tar.gz` (whose single top directory is dropped).
    pub fn read(path: &Path) -> Result<Pack, PackError> {
        let metadata = std::fs::metadata(path).map_err(io("reading", path))?;
        if metadata.is_dir() {
            let mut pack = Pack::default();
            let mut total = 0;
            read_dir(path, path, 0, &mut pack, &mut total)?;
            Ok(pack)
        } else {
            let file = std::fs::File::open(path).map_err(io("opening", path))?;
            let decoder = flate2::read::GzDecoder::new(file.take(PACK_BYTES_MAX * 2));
            read_tar(decoder, &path.display().to_string())
        }
    }
}

fn read_dir(
    root: &Path,
    dir: &Path,
    depth: usize,
    pack: &mut Pack,
    total: &mut u64,
) -> Result<(), PackError> {
    if depth > PACK_DEPTH_MAX {
        return Err(PackError::Invalid {
            path: dir.display().to_string(),
            reason: format!("nested deeper than {PACK_DEPTH_MAX} directories"),
        });
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io("reading", dir))?
        .collect::<Result<_, _>>()
        .map_err(io("reading", dir))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type().map_err(io("reading", &path))?;
        if kind.is_dir() {
            read_dir(root, &path, depth + 1, pack, total)?;
            continue;
        }
        let relative = relative_name(root, &path)?;
        if !kind.is_file() {
            return Err(PackError::Invalid {
                path: relative,
                reason: "not a regular file (links are not followed)".into(),
            });
        }
        let size = entry.metadata().map_err(io("reading", &path))?.len();
        add(pack, total, relative, size, || {
            let mut bytes = Vec::new();
            std::fs::File::open(&path)
                .and_then(|file| file.take(PACK_FILE_BYTES_MAX + 1).read_to_end(&mut bytes))
                .map_err(io("reading", &path))?;
            Ok(bytes)
        })?;
    }
    Ok(())
}

fn relative_name(root: &Path, path: &Path) -> Result<String, PackError> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Option<Vec<&str>> = relative
        .components()
        .map(|component| match component {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect();
    match parts {
        Some(parts) => Ok(parts.join("/")),
        None => Err(PackError::Invalid {
            path: relative.display().to_string(),
            reason: "not a UTF-8 relative path".into(),
        }),
    }
}

fn add(
    pack: &mut Pack,
    total: &mut u64,
    path: String,
    size: u64,
    read: impl FnOnce() -> Result<Vec<u8>, PackError>,
) -> Result<(), PackError> {
    if !valid_path(&path) {
        return Err(PackError::Invalid {
            path,
            reason: "not a normalized relative path".into(),
        });
    }
    if pack.files.len() >= PACK_FILES_MAX {
        return Err(PackError::TooManyFiles);
    }
    if size > PACK_FILE_BYTES_MAX {
        return Err(PackError::FileTooLarge { path });
    }
    *total += size;
    if *total > PACK_BYTES_MAX {
        return Err(PackError::TooLarge);
    }
    let bytes = read()?;
    if bytes.len() as u64 > PACK_FILE_BYTES_MAX {
        return Err(PackError::FileTooLarge { path });
    }
    if pack.files.insert(path.clone(), bytes).is_some() {
        return Err(PackError::Invalid {
            path,
            reason: "appears twice".into(),
        });
    }
    Ok(())
}

fn read_tar(reader: impl Read, name: &str) -> Result<Pack, PackError> {
    let limits = ReadLimits {
        entry_bytes_max: PACK_FILE_BYTES_MAX,
        extended_header_bytes_max: 64 * 1024,
        path_bytes_max: 1024,
        entries_max: PACK_FILES_MAX as u64 * 2,
    };
    let mut tar = TarReader::new(reader, limits);
    let tar_error = |source| PackError::Tar {
        path: name.to_string(),
        source,
    };
    let mut pack = Pack::default();
    let mut total = 0;
    let mut top: Option<String> = None;
    while let Some(header) = tar.next_header().map_err(tar_error)? {
        let path = header.path.trim_end_matches('/').to_string();
        let (first, rest) = match path.split_once('/') {
            Some((first, rest)) => (first.to_string(), rest.to_string()),
            None => (path.clone(), String::new()),
        };
        match &top {
            None => top = Some(first.clone()),
            Some(top) if *top != first => {
                return Err(PackError::Invalid {
                    path: header.path,
                    reason: format!("outside the archive's top directory `{top}/`"),
                })
            }
            _ => {}
        }
        match header.kind {
            EntryKind::Directory => continue,
            EntryKind::File if !rest.is_empty() => {}
            _ => {
                return Err(PackError::Invalid {
                    path: header.path,
                    reason: "not a regular file inside the top directory".into(),
                })
            }
        }
        let size = header.size;
        add(&mut pack, &mut total, rest, size, || {
            let mut bytes = Vec::with_capacity(size as usize);
            let mut buffer = [0u8; 64 * 1024];
            loop {
                let read = tar.read_content(&mut buffer).map_err(tar_error)?;
                if read == 0 {
                    break;
                }
                bytes.extend_from_slice(&buffer[..read]);
            }
            Ok(bytes)
        })?;
    }
    Ok(pack)
}

/// Parse `SHA256SUMS`: `(path, hex digest)` in file order, or the first malformed line.
pub fn parse_sums(bytes: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let parsed = line.split_once("  ").filter(|(hex, path)| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && valid_path(path)
        });
        match parsed {
            Some((hex, path)) => out.push((path.to_string(), hex.to_string())),
            None => return Err(format!("line {} is not `<sha256 hex>  <path>`", number + 1)),
        }
        if out.len() > PACK_FILES_MAX {
            return Err(format!("more than {PACK_FILES_MAX} lines"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Pack {
        let mut pack = Pack::default();
        pack.insert("evidence.json", b"{}".to_vec());
        pack.insert("log/events.jsonl", b"x\n".to_vec());
        pack.insert("attestations/ab/cd.json", vec![7u8; 1000]);
        pack
    }

    #[test]
    fn tar_gz_is_deterministic_and_reads_back() {
        let pack = sample();
        let first = pack.to_tar_gz("pack").unwrap();
        assert_eq!(first, pack.to_tar_gz("pack").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pack.tar.gz");
        std::fs::write(&path, &first).unwrap();
        assert_eq!(Pack::read(&path).unwrap(), pack);
        let out = dir.path().join("out");
        pack.write_dir(&out).unwrap();
        assert_eq!(Pack::read(&out).unwrap(), pack);
        assert!(matches!(
            pack.write_dir(&out),
            Err(PackError::Exists { .. })
        ));
    }

    #[test]
    fn sums_list_every_file_but_themselves() {
        let mut pack = sample();
        pack.insert(SHA256SUMS, b"old".to_vec());
        let sums = pack.sums();
        let parsed = parse_sums(&sums).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].0, "attestations/ab/cd.json");
        assert!(parse_sums(b"abc  x\n").is_err());
        assert!(parse_sums(format!("{}  ../x\n", "a".repeat(64)).as_bytes()).is_err());
    }

    #[test]
    fn paths_are_relative_and_normalized() {
        assert!(valid_path("log/events.jsonl"));
        for bad in ["", "/x", "a/../b", "a//b", "./a", "a\\b"] {
            assert!(!valid_path(bad), "{bad}");
        }
        let deep = ["d"; PACK_DEPTH_MAX + 1].join("/");
        assert!(!valid_path(&deep));
    }

    #[test]
    fn a_pack_over_the_limits_says_which() {
        let mut pack = sample();
        assert_eq!(pack.over_limits(), None);
        pack.insert("big", vec![0u8; PACK_FILE_BYTES_MAX as usize + 1]);
        let (what, value, limit) = pack.over_limits().unwrap();
        assert_eq!(what, "bytes of `big`");
        assert_eq!(
            (value, limit),
            (PACK_FILE_BYTES_MAX + 1, PACK_FILE_BYTES_MAX)
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("big")).unwrap();
        file.set_len(PACK_FILE_BYTES_MAX + 1).unwrap();
        assert!(matches!(
            Pack::read(dir.path()),
            Err(PackError::FileTooLarge { .. })
        ));
    }
}
