//! The files an inventory reads, collected from an image's layers (streamed, whiteouts
//! applied, nothing written to disk) or from a directory. Only paths that some package
//! database lives at ([`wanted`]) are kept, each up to [`INVENTORY_FILE_BYTES_MAX`]. Of
//! executable ELF files only the `.dep-v0` section that `cargo auditable` embeds is kept
//! (see [`super::auditable`]).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use stamp_core::Digest;
use stamp_image::layer::{classify, Change};
use stamp_image::store::StoreError;
use stamp_image::tar::{EntryKind, ReadLimits, ReadTarError, TarReader};
use stamp_image::Store;

/// Largest package database file kept (a dpkg `status` of a full desktop is about 10 MiB).
pub const INVENTORY_FILE_BYTES_MAX: u64 = 64 << 20;
/// Most package database files kept from one image.
pub const INVENTORY_FILES_MAX: usize = 200_000;
/// Most bytes kept over all package database files of one image.
pub const INVENTORY_TOTAL_BYTES_MAX: u64 = 2 << 30;
/// Deepest directory level walked when reading a root filesystem from a directory.
pub const INVENTORY_DIRECTORY_DEPTH_MAX: usize = 64;

/// Whether a package database may live at `path` (relative, no leading `/`).
pub fn wanted(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let parent = path
        .rsplit_once('/')
        .map(|(parent, _)| parent)
        .unwrap_or("");
    let parent_name = parent.rsplit('/').next().unwrap_or(parent);
    match name {
        "status" if parent == "var/lib/dpkg" => true,
        "installed" if parent == "lib/apk/db" || parent == "usr/lib/apk/db" => true,
        "os-release" if parent == "etc" || parent == "usr/lib" => true,
        "METADATA" if parent_name.ends_with(".dist-info") => true,
        "PKG-INFO" if parent_name.ends_with(".egg-info") => true,
        "Cargo.lock" => true,
        "package-lock.json" => !path.contains("node_modules/"),
        "package.json" => npm_package_directory(parent),
        _ if parent == "var/lib/dpkg/status.d" => !name.ends_with(".md5sums"),
        _ => name.ends_with(".egg-info") && !name.starts_with('.'),
    }
}

/// Whether `dir` is `…/node_modules/NAME` or `…/node_modules/@SCOPE/NAME`.
fn npm_package_directory(dir: &str) -> bool {
    let mut parts = dir.rsplit('/');
    let (Some(name), Some(parent)) = (parts.next(), parts.next()) else {
        return false;
    };
    if name.starts_with('.') {
        return false;
    }
    if parent == "node_modules" {
        return !name.starts_with('@');
    }
    parent.starts_with('@') && parts.next() == Some("node_modules")
}

/// The package database files of one root filesystem.
#[derive(Clone, Debug, Default)]
pub struct Files {
    files: BTreeMap<String, Vec<u8>>,
    bytes: u64,
    /// The `.dep-v0` sections of executables built with `cargo auditable`, by path.
    dep_sections: BTreeMap<String, Vec<u8>>,
    /// Files not kept, with the reason (over a limit, unreadable).
    pub problems: Vec<(String, String)>,
}

/// Why the files of an image could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadFilesError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("layer {layer}: not a valid tar stream")]
    Tar {
        layer: Digest,
        #[source]
        source: ReadTarError,
    },
    #[error("layer {layer}: entry `{entry}` is refused")]
    Entry {
        layer: Digest,
        entry: String,
        #[source]
        source: stamp_image::layer::EntryError,
    },
    #[error("reading layer {layer}")]
    Read {
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error("reading `{}`", .path.display())]
    Directory {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Files {
    /// The content of `path` (relative), if kept.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// Every kept path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The kept `.dep-v0` sections of executables, by path (relative), sorted.
    pub fn dep_sections(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.dep_sections
            .iter()
            .map(|(path, section)| (path.as_str(), section.as_slice()))
    }

    /// Look at executable `path` (relative), readable through `source`: keep its `.dep-v0`
    /// section if it has one; a malformed ELF with such a section is a problem, not an error.
    pub fn insert_executable(&mut self, path: &str, source: &dyn super::auditable::ElfSource) {
        match super::auditable::dep_section(source) {
            Ok(Some(section)) => {
                if self.bytes + section.len() as u64 > INVENTORY_TOTAL_BYTES_MAX {
                    self.problems.push((
                        path.to_string(),
                        format!("package database files exceed {INVENTORY_TOTAL_BYTES_MAX} bytes"),
                    ));
                    return;
                }
                self.bytes += section.len() as u64;
                if let Some(old) = self.dep_sections.insert(path.to_string(), section) {
                    self.bytes -= old.len() as u64;
                }
            }
            Ok(None) => {}
            Err(message) => self.problems.push((path.to_string(), message)),
        }
    }

    /// Keep `content` at `path` (relative), within the limits.
    pub fn insert(&mut self, path: &str, content: Vec<u8>) {
        if self.files.len() >= INVENTORY_FILES_MAX && !self.files.contains_key(path) {
            self.problems.push((
                path.to_string(),
                format!("more than {INVENTORY_FILES_MAX} package database files"),
            ));
            return;
        }
        if self.bytes + content.len() as u64 > INVENTORY_TOTAL_BYTES_MAX {
            self.problems.push((
                path.to_string(),
                format!("package database files exceed {INVENTORY_TOTAL_BYTES_MAX} bytes"),
            ));
            return;
        }
        self.bytes += content.len() as u64;
        if let Some(old) = self.files.insert(path.to_string(), content) {
            self.bytes -= old.len() as u64;
        }
    }

    fn remove_below(&mut self, dir: &str, keep: &BTreeSet<String>) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let doomed: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .filter(|path| !keep.contains(path))
            .collect();
        for path in doomed {
            if let Some(old) = self.files.remove(&path) {
                self.bytes -= old.len() as u64;
            }
        }
        let doomed: Vec<String> = self
            .dep_sections
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .filter(|path| !keep.contains(path))
            .collect();
        for path in doomed {
            if let Some(old) = self.dep_sections.remove(&path) {
                self.bytes -= old.len() as u64;
            }
        }
    }

    fn remove(&mut self, path: &str) {
        if let Some(old) = self.files.remove(path) {
            self.bytes -= old.len() as u64;
        }
        if let Some(old) = self.dep_sections.remove(path) {
            self.bytes -= old.len() as u64;
        }
        self.remove_below(path, &BTreeSet::new());
    }

    /// Read the package database files of image `digest` from its layers, in order.
    pub fn from_image(store: &Store, digest: &Digest) -> Result<Files, ReadFilesError> {
        let manifest = store.read_manifest(digest)?;
        let mut files = Files::default();
        for layer in &manifest.layers {
            files.apply_layer(layer.digest, store.open_layer(layer)?)?;
        }
        Ok(files)
    }

    /// Apply one uncompressed layer: whiteouts remove what lower layers put, wanted regular
    /// files are kept, anything else at a wanted path replaces it.
    pub fn apply_layer(&mut self, layer: Digest, reader: impl Read) -> Result<(), ReadFilesError> {
        let mut tar = TarReader::new(reader, ReadLimits::default());
        let mut this_layer = BTreeSet::new();
        let tar_error = |source| ReadFilesError::Tar { layer, source };
        while let Some(header) = tar.next_header().map_err(tar_error)? {
            let change = classify(&header).map_err(|source| ReadFilesError::Entry {
                layer,
                entry: header.path.clone(),
                source,
            })?;
            match change {
                Change::Remove { path } => self.remove(&path.relative()),
                Change::Opaque { dir } => self.remove_below(&dir.relative(), &this_layer),
                Change::Put { path, header } => {
                    let relative = path.relative();
                    match &header.kind {
                        EntryKind::File if wanted(&relative) => {
                            if header.size > INVENTORY_FILE_BYTES_MAX {
                                self.problems.push((
                                    relative.clone(),
                                    format!(
                                        "{} bytes, over the limit of {INVENTORY_FILE_BYTES_MAX}",
                                        header.size
                                    ),
                                ));
                                self.remove(&relative);
                                continue;
                            }
                            let mut content = Vec::with_capacity(header.size as usize);
                            let mut buffer = [0u8; 64 * 1024];
                            loop {
                                let read = tar.read_content(&mut buffer).map_err(tar_error)?;
                                if read == 0 {
                                    break;
                                }
                                content.extend_from_slice(&buffer[..read]);
                            }
                            self.insert(&relative, content);
                            this_layer.insert(relative);
                        }
                        EntryKind::File if header.mode & 0o111 != 0 && header.size >= 64 => {
                            // What a lower layer had here is replaced either way.
                            self.remove(&relative);
                            let mut buffer = vec![0u8; 64 * 1024];
                            let mut head = 0;
                            while head < 4 {
                                let read =
                                    tar.read_content(&mut buffer[head..]).map_err(tar_error)?;
                                if read == 0 {
                                    break;
                                }
                                head += read;
                            }
                            if !super::auditable::is_elf(&buffer[..head]) {
                                continue;
                            }
                            if header.size > super::auditable::AUDITABLE_BINARY_BYTES_MAX {
                                self.problems.push((
                                    relative.clone(),
                                    format!(
                                        "executable of {} bytes, over the limit of {} read for cargo auditable data",
                                        header.size,
                                        super::auditable::AUDITABLE_BINARY_BYTES_MAX
                                    ),
                                ));
                                continue;
                            }
                            let mut content = Vec::with_capacity(header.size as usize);
                            content.extend_from_slice(&buffer[..head]);
                            loop {
                                let read = tar.read_content(&mut buffer).map_err(tar_error)?;
                                if read == 0 {
                                    break;
                                }
                                content.extend_from_slice(&buffer[..read]);
                            }
                            self.insert_executable(&relative, &content.as_slice());
                            this_layer.insert(relative);
                        }
                        EntryKind::Hardlink { target } if wanted(&relative) => {
                            let target = target.trim_start_matches("./").trim_start_matches('/');
                            match self.files.get(target).cloned() {
                                Some(content) => {
                                    self.insert(&relative, content);
                                    this_layer.insert(relative);
                                }
                                None => self.remove(&relative),
                            }
                        }
                        // A directory replaces a file at its path, not what is below it.
                        EntryKind::Directory => {
                            if let Some(old) = self.files.remove(&relative) {
                                self.bytes -= old.len() as u64;
                            }
                            if let Some(old) = self.dep_sections.remove(&relative) {
                                self.bytes -= old.len() as u64;
                            }
                        }
                        _ => self.remove(&relative),
                    }
                }
            }
        }
        Ok(())
    }

    /// Read the package database files below `root` (symlinks are not followed).
    pub fn from_directory(root: &Path) -> Result<Files, ReadFilesError> {
        let mut files = Files::default();
        files.walk(root, String::new(), 0)?;
        Ok(files)
    }

    /// Keep the `.dep-v0` section of `file` if it is an executable ELF file that has one.
    /// Only the ELF headers and the section are read (`pread`), not the whole file.
    fn walk_executable(&mut self, file: &Path, relative: &str) {
        use std::os::unix::fs::PermissionsExt;
        let Ok(opened) = std::fs::File::open(file) else {
            return;
        };
        // The opened file itself, not what the path pointed to when the directory was read.
        let Ok(metadata) = opened.metadata() else {
            return;
        };
        if !metadata.is_file() || metadata.permissions().mode() & 0o111 == 0 {
            return;
        }
        let source = super::auditable::FileSource {
            file: opened,
            len: metadata.len(),
        };
        self.insert_executable(relative, &source);
    }

    fn walk(&mut self, dir: &Path, relative: String, depth: usize) -> Result<(), ReadFilesError> {
        if depth > INVENTORY_DIRECTORY_DEPTH_MAX {
            self.problems.push((
                relative,
                format!("deeper than {INVENTORY_DIRECTORY_DEPTH_MAX} levels"),
            ));
            return Ok(());
        }
        let error = |source| ReadFilesError::Directory {
            path: dir.to_path_buf(),
            source,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(source) if depth > 0 => {
                self.problems.push((relative, source.to_string()));
                return Ok(());
            }
            Err(source) => return Err(error(source)),
        };
        for entry in entries {
            let entry = entry.map_err(error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            let kind = entry.file_type().map_err(error)?;
            if kind.is_dir() {
                // Skip pseudo filesystems when a live root is scanned.
                if depth == 0 && matches!(path.as_str(), "proc" | "sys" | "dev") {
                    continue;
                }
                self.walk(&entry.path(), path, depth + 1)?;
            } else if kind.is_file() && wanted(&path) {
                let size = entry.metadata().map(|meta| meta.len()).unwrap_or(0);
                if size > INVENTORY_FILE_BYTES_MAX {
                    self.problems.push((
                        path,
                        format!("{size} bytes, over the limit of {INVENTORY_FILE_BYTES_MAX}"),
                    ));
                    continue;
                }
                match std::fs::read(entry.path()) {
                    Ok(content) => self.insert(&path, content),
                    Err(source) => self.problems.push((path, source.to_string())),
                }
            } else if kind.is_file() {
                self.walk_executable(&entry.path(), &path);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_paths() {
        for path in [
            "var/lib/dpkg/status",
            "var/lib/dpkg/status.d/libc6",
            "lib/apk/db/installed",
            "etc/os-release",
            "usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA",
            "usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
            "usr/lib/python3/dist-packages/six-1.16.0.egg-info",
            "app/package-lock.json",
            "app/node_modules/lodash/package.json",
            "app/node_modules/@babel/core/package.json",
            "app/node_modules/a/node_modules/b/package.json",
            "src/Cargo.lock",
        ] {
            assert!(wanted(path), "{path}");
        }
        for path in [
            "var/lib/dpkg/status-old",
            "var/lib/dpkg/status.d/libc6.md5sums",
            "app/package.json",
            "app/node_modules/.package-lock.json",
            "app/node_modules/lodash/lib/package.json",
            "app/node_modules/@babel/package.json",
            "usr/lib/python3/METADATA",
        ] {
            assert!(!wanted(path), "{path}");
        }
    }

    fn layer(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        use stamp_image::tar::{Header, TarWriter};
        let mut tar = TarWriter::new(Vec::new());
        for (path, content) in entries {
            let header = Header {
                path: path.to_string(),
                kind: if content.is_some() {
                    EntryKind::File
                } else {
                    EntryKind::Directory
                },
                mode: 0o644,
                uid: 0,
                gid: 0,
                size: content.map_or(0, |content| content.len() as u64),
                mtime: 0,
            };
            tar.write_header(&header).unwrap();
            if let Some(content) = content {
                tar.write_content(content).unwrap();
                tar.pad(content.len() as u64).unwrap();
            }
        }
        tar.finish().unwrap()
    }

    #[test]
    fn layers_apply_in_order_with_whiteouts() {
        let digest = Digest::of(b"layer");
        let mut files = Files::default();
        let first = layer(&[
            ("var/lib/dpkg/status", Some(b"old")),
            ("app/Cargo.lock", Some(b"lock")),
            ("srv/node_modules/ws/package.json", Some(b"{}")),
            ("usr/bin/true", Some(b"not wanted")),
        ]);
        files.apply_layer(digest, first.as_slice()).unwrap();
        assert_eq!(files.paths().count(), 3);
        let second = layer(&[
            ("var/lib/dpkg/status", Some(b"new")),
            ("app/.wh.Cargo.lock", Some(b"")),
            ("srv/node_modules/.wh..wh..opq", Some(b"")),
            ("srv/node_modules/lodash/package.json", Some(b"{}")),
        ]);
        files.apply_layer(digest, second.as_slice()).unwrap();
        assert_eq!(files.get("var/lib/dpkg/status"), Some(&b"new"[..]));
        assert_eq!(
            files.paths().collect::<Vec<_>>(),
            [
                "srv/node_modules/lodash/package.json",
                "var/lib/dpkg/status"
            ]
        );
        // A directory put over a file replaces it.
        let third = layer(&[("var/lib/dpkg/status", None)]);
        files.apply_layer(digest, third.as_slice()).unwrap();
        assert!(files.get("var/lib/dpkg/status").is_none());
    }

    #[test]
    fn file_count_limit() {
        let mut files = Files::default();
        for index in 0..INVENTORY_FILES_MAX {
            files.insert(&format!("f{index}"), Vec::new());
        }
        assert!(files.problems.is_empty());
        files.insert("one-more", Vec::new());
        assert_eq!(files.problems.len(), 1);
        assert!(files.get("one-more").is_none());
    }

    #[test]
    fn removal_is_by_path_prefix_with_a_separator() {
        let mut files = Files::default();
        files.insert("a/b", vec![1]);
        files.insert("a/bc", vec![2]);
        files.insert("a/b/c", vec![3]);
        files.remove("a/b");
        assert_eq!(files.paths().collect::<Vec<_>>(), ["a/bc"]);
    }
}
