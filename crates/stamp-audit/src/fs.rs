//! The root filesystem the facts are read from: a directory, or an image's layers merged in
//! memory ([`MemTree`], nothing written to disk). Every symlink is resolved against the root
//! (an absolute target starts at the root, `..` stops at the root), so a link such as
//! `/etc/ssh/sshd_config -> /../../host/file` can never read a file of the machine running
//! the audit.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed while resolving one path (Linux's own limit).
pub const SYMLINK_HOPS_MAX: usize = 40;
/// Largest file whose content a [`MemTree`] keeps (a dpkg `status` of a full desktop is about
/// 10 MiB).
pub const KEPT_FILE_BYTES_MAX: u64 = 64 << 20;
/// Most content bytes a [`MemTree`] keeps over all files.
pub const KEPT_TOTAL_BYTES_MAX: u64 = 512 << 20;
/// Most entries of a [`MemTree`].
pub const TREE_ENTRIES_MAX: usize = 4_000_000;

/// A file that could not be read (reported in the facts, never fatal).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("absent")]
    Absent,
    #[error("{size} bytes, over the limit of {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("more than {SYMLINK_HOPS_MAX} symlinks")]
    SymlinkLoop,
    #[error("not a regular file")]
    NotAFile,
    #[error("content not kept: outside the configuration paths the audit reads")]
    NotKept,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What one entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

/// One entry of the tree, for the walk.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Absolute image path (`/etc/passwd`).
    pub path: String,
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
}

#[derive(Clone, Debug)]
enum Node {
    Dir {
        mode: u32,
        uid: u32,
    },
    File {
        mode: u32,
        uid: u32,
        size: u64,
        content: Option<Vec<u8>>,
    },
    Symlink {
        target: String,
    },
    Other {
        mode: u32,
        uid: u32,
    },
}

/// An image's layers merged in memory: every entry's type, mode and owner; the content of the
/// configuration files the facts read ([`keeps_content`]).
#[derive(Clone, Debug, Default)]
pub struct MemTree {
    nodes: BTreeMap<String, Node>,
    kept_bytes: u64,
}

/// Why an image's layers could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("layer {layer}: {message}")]
    Layer { layer: String, message: String },
    #[error("more than {TREE_ENTRIES_MAX} entries")]
    TooManyEntries,
    #[error("{0}")]
    Store(String),
}

/// Whether a [`MemTree`] keeps the content of the file at `path`.
pub fn keeps_content(path: &str) -> bool {
    path.starts_with("/etc/")
        || matches!(
            path,
            "/usr/lib/os-release" | "/var/lib/dpkg/status" | "/lib/apk/db/installed"
        )
        || path.starts_with("/usr/lib/sysctl.d/")
        || path.starts_with("/lib/sysctl.d/")
        || path.starts_with("/run/sysctl.d/")
}

impl MemTree {
    /// Merge the layers of image `digest` from `store` (whiteouts applied, in order).
    pub fn from_image(
        store: &stamp_image::Store,
        digest: &stamp_core::Digest,
    ) -> Result<MemTree, TreeError> {
        let manifest = store
            .read_manifest(digest)
            .map_err(|error| TreeError::Store(error.to_string()))?;
        let mut tree = MemTree::default();
        tree.nodes.insert(
            "/".into(),
            Node::Dir {
                mode: 0o755,
                uid: 0,
            },
        );
        for layer in &manifest.layers {
            let reader = store
                .open_layer(layer)
                .map_err(|error| TreeError::Store(error.to_string()))?;
            tree.apply_layer(&layer.digest.to_string(), reader)?;
        }
        Ok(tree)
    }

    /// Apply one uncompressed layer tar stream.
    pub fn apply_layer(&mut self, layer: &str, reader: impl Read) -> Result<(), TreeError> {
        use stamp_image::layer::{classify, Change};
        use stamp_image::tar::{EntryKind, ReadLimits, TarReader};
        let error = |message: String| TreeError::Layer {
            layer: layer.to_string(),
            message,
        };
        let mut tar = TarReader::new(reader, ReadLimits::default());
        let mut this_layer: BTreeSet<String> = BTreeSet::new();
        while let Some(header) = tar.next_header().map_err(|e| error(e.to_string()))? {
            let change = classify(&header).map_err(|e| error(e.to_string()))?;
            match change {
                Change::Remove { path } => self.remove_tree(&path.absolute(), None),
                Change::Opaque { dir } => self.remove_below(&dir.absolute(), Some(&this_layer)),
                Change::Put { path, header } => {
                    let path = path.absolute();
                    let mode = header.mode & 0o7777;
                    let uid = u32::try_from(header.uid).unwrap_or(u32::MAX);
                    let node = match &header.kind {
                        EntryKind::Directory => Node::Dir { mode, uid },
                        EntryKind::File => {
                            let content = if keeps_content(&path)
                                && header.size <= KEPT_FILE_BYTES_MAX
                                && self.kept_bytes + header.size <= KEPT_TOTAL_BYTES_MAX
                            {
                                let mut content = Vec::with_capacity(header.size as usize);
                                let mut buffer = [0u8; 64 * 1024];
                                loop {
                                    let read = tar
                                        .read_content(&mut buffer)
                                        .map_err(|e| error(e.to_string()))?;
                                    if read == 0 {
                                        break;
                                    }
                                    content.extend_from_slice(&buffer[..read]);
                                }
                                self.kept_bytes += content.len() as u64;
                                Some(content)
                            } else {
                                None
                            };
                            Node::File {
                                mode,
                                uid,
                                size: header.size,
                                content,
                            }
                        }
                        EntryKind::Symlink { target } => Node::Symlink {
                            target: target.clone(),
                        },
                        EntryKind::Hardlink { target } => {
                            let target = format!(
                                "/{}",
                                target.trim_start_matches("./").trim_start_matches('/')
                            );
                            match self.nodes.get(&target) {
                                Some(node @ Node::File { .. }) => node.clone(),
                                _ => {
                                    return Err(error(format!(
                                        "hard link `{path}` to `{target}`, which is not a file"
                                    )))
                                }
                            }
                        }
                        _ => Node::Other { mode, uid },
                    };
                    if !matches!(node, Node::Dir { .. }) {
                        self.remove_below(&path, None);
                    }
                    if let Some(Node::File {
                        content: Some(old), ..
                    }) = self.nodes.insert(path.clone(), node)
                    {
                        self.kept_bytes -= old.len() as u64;
                    }
                    if self.nodes.len() > TREE_ENTRIES_MAX {
                        return Err(TreeError::TooManyEntries);
                    }
                    this_layer.insert(path);
                }
            }
        }
        Ok(())
    }

    fn remove_tree(&mut self, path: &str, keep: Option<&BTreeSet<String>>) {
        self.nodes.remove(path);
        self.remove_below(path, keep);
    }

    /// Remove everything below `dir` except what `keep` names.
    fn remove_below(&mut self, dir: &str, keep: Option<&BTreeSet<String>>) {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        let below: Vec<String> = self
            .nodes
            .range(prefix.clone()..)
            .take_while(|(path, _)| path.starts_with(&prefix))
            .map(|(path, _)| path.clone())
            .filter(|path| keep.is_none_or(|keep| !keep.contains(path)))
            .collect();
        for path in below {
            if let Some(Node::File {
                content: Some(old), ..
            }) = self.nodes.remove(&path)
            {
                self.kept_bytes -= old.len() as u64;
            }
        }
    }
}

/// What one path is, before symlinks are followed.
enum Lstat {
    Missing,
    Symlink(String),
    Present,
}

#[derive(Clone, Debug)]
enum Backend {
    Dir(PathBuf),
    Mem(MemTree),
}

/// A root filesystem: a directory or a merged image.
#[derive(Clone, Debug)]
pub struct Root {
    backend: Backend,
}

impl Root {
    /// The root filesystem directory `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root {
            backend: Backend::Dir(dir.into()),
        }
    }

    /// An image's merged layers.
    pub fn from_tree(tree: MemTree) -> Root {
        Root {
            backend: Backend::Mem(tree),
        }
    }

    fn host(dir: &Path, path: &str) -> PathBuf {
        dir.join(path.trim_start_matches('/'))
    }

    fn lstat(&self, path: &str) -> Result<Lstat, ReadError> {
        match &self.backend {
            Backend::Dir(dir) => {
                let host = Self::host(dir, path);
                match std::fs::symlink_metadata(&host) {
                    Ok(metadata) if metadata.file_type().is_symlink() => Ok(Lstat::Symlink(
                        std::fs::read_link(&host)?.to_string_lossy().into_owned(),
                    )),
                    Ok(_) => Ok(Lstat::Present),
                    Err(error)
                        if matches!(
                            error.kind(),
                            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                        ) =>
                    {
                        Ok(Lstat::Missing)
                    }
                    Err(error) => Err(error.into()),
                }
            }
            Backend::Mem(tree) => Ok(match tree.nodes.get(path) {
                None => Lstat::Missing,
                Some(Node::Symlink { target }) => Lstat::Symlink(target.clone()),
                Some(_) => Lstat::Present,
            }),
        }
    }

    /// Image path `path` (absolute, `/etc/passwd`) with every symlink resolved inside the
    /// root. `Ok(None)` when a component does not exist.
    pub fn resolve(&self, path: &str) -> Result<Option<String>, ReadError> {
        let mut hops = 0;
        let mut done: Vec<String> = Vec::new();
        let mut pending: Vec<String> = split(path).into_iter().rev().collect();
        while let Some(part) = pending.pop() {
            if part == ".." {
                done.pop();
                continue;
            }
            let candidate = format!("/{}", {
                let mut parts = done.clone();
                parts.push(part.clone());
                parts.join("/")
            });
            match self.lstat(&candidate)? {
                Lstat::Missing => return Ok(None),
                Lstat::Symlink(target) => {
                    hops += 1;
                    if hops > SYMLINK_HOPS_MAX {
                        return Err(ReadError::SymlinkLoop);
                    }
                    if target.starts_with('/') {
                        done.clear();
                    }
                    for component in split(&target).into_iter().rev() {
                        pending.push(component);
                    }
                }
                Lstat::Present => done.push(part),
            }
        }
        Ok(Some(format!("/{}", done.join("/"))))
    }

    /// The bytes of the regular file at image path `path`, at most `limit` bytes.
    pub fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, ReadError> {
        let resolved = self.resolve(path)?.ok_or(ReadError::Absent)?;
        match &self.backend {
            Backend::Dir(dir) => {
                let host = Self::host(dir, &resolved);
                let metadata = std::fs::metadata(&host)?;
                if !metadata.is_file() {
                    return Err(ReadError::NotAFile);
                }
                if metadata.len() > limit {
                    return Err(ReadError::TooLarge {
                        size: metadata.len(),
                        limit,
                    });
                }
                let mut content = Vec::new();
                std::fs::File::open(&host)?
                    .take(limit)
                    .read_to_end(&mut content)?;
                Ok(content)
            }
            Backend::Mem(tree) => match tree.nodes.get(&resolved) {
                Some(Node::File { size, content, .. }) => {
                    if *size > limit {
                        return Err(ReadError::TooLarge { size: *size, limit });
                    }
                    content.clone().ok_or(ReadError::NotKept)
                }
                Some(_) => Err(ReadError::NotAFile),
                None => Err(ReadError::Absent),
            },
        }
    }

    /// Whether image path `path` exists (after resolving symlinks inside the root).
    pub fn exists(&self, path: &str) -> bool {
        matches!(self.resolve(path), Ok(Some(_)))
    }

    /// The names in the directory at image path `path`, sorted; empty when it is absent.
    pub fn list(&self, path: &str) -> Vec<String> {
        let Ok(Some(resolved)) = self.resolve(path) else {
            return Vec::new();
        };
        match &self.backend {
            Backend::Dir(dir) => {
                let Ok(entries) = std::fs::read_dir(Self::host(dir, &resolved)) else {
                    return Vec::new();
                };
                let mut names: Vec<String> = entries
                    .filter_map(|entry| entry.ok())
                    .map(|entry| entry.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names
            }
            Backend::Mem(tree) => {
                let prefix = if resolved == "/" {
                    "/".to_string()
                } else {
                    format!("{resolved}/")
                };
                tree.nodes
                    .range(prefix.clone()..)
                    .take_while(|(path, _)| path.starts_with(&prefix))
                    .filter_map(|(path, _)| {
                        let name = &path[prefix.len()..];
                        (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
                    })
                    .collect()
            }
        }
    }

    /// Call `visit` with every entry (symlinks not followed; directories named in `skip`
    /// and everything below them left out) until it returns false.
    pub fn walk(&self, skip: &[&str], mut visit: impl FnMut(&Entry) -> bool) {
        match &self.backend {
            Backend::Dir(dir) => {
                let mut stack: Vec<String> = vec![String::new()];
                while let Some(current) = stack.pop() {
                    let Ok(entries) = std::fs::read_dir(Self::host(dir, &current)) else {
                        continue;
                    };
                    let mut children: Vec<(String, std::fs::Metadata)> = entries
                        .filter_map(|entry| entry.ok())
                        .filter_map(|entry| {
                            let metadata = entry.metadata().ok()?;
                            Some((entry.file_name().to_string_lossy().into_owned(), metadata))
                        })
                        .collect();
                    children.sort_by(|a, b| b.0.cmp(&a.0));
                    for (name, metadata) in children {
                        let path = format!("{current}/{name}");
                        if skip.contains(&path.as_str()) {
                            continue;
                        }
                        let file_type = metadata.file_type();
                        let kind = if file_type.is_symlink() {
                            Kind::Symlink
                        } else if file_type.is_dir() {
                            Kind::Dir
                        } else if file_type.is_file() {
                            Kind::File
                        } else {
                            Kind::Other
                        };
                        let entry = Entry {
                            path: path.clone(),
                            kind,
                            mode: metadata.permissions().mode() & 0o7777,
                            uid: metadata.uid(),
                        };
                        if !visit(&entry) {
                            return;
                        }
                        if kind == Kind::Dir {
                            stack.push(path);
                        }
                    }
                }
            }
            Backend::Mem(tree) => {
                for (path, node) in &tree.nodes {
                    if path == "/"
                        || skip
                            .iter()
                            .any(|dir| path == dir || path.starts_with(&format!("{dir}/")))
                    {
                        continue;
                    }
                    let (kind, mode, uid) = match node {
                        Node::Dir { mode, uid } => (Kind::Dir, *mode, *uid),
                        Node::File { mode, uid, .. } => (Kind::File, *mode, *uid),
                        Node::Symlink { .. } => (Kind::Symlink, 0o777, 0),
                        Node::Other { mode, uid } => (Kind::Other, *mode, *uid),
                    };
                    let entry = Entry {
                        path: path.clone(),
                        kind,
                        mode,
                        uid,
                    };
                    if !visit(&entry) {
                        return;
                    }
                }
            }
        }
    }
}

/// The normal components of an image path; `..` kept for the resolver, `.` and `/` dropped.
fn split(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

/// Join an image directory path and a name.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether `name` matches the glob `pattern` (`*`, `?`; no character classes), as sshd's
/// `Include` needs.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    // Iterative, remembering only the last `*`: O(pattern × name), no recursion, so a
    // hostile `Include` pattern of many stars cannot exhaust time or stack.
    let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc/ssh")).unwrap();
        std::fs::write(dir.path().join("outside"), "host secret").unwrap();
        std::fs::write(root.join("outside"), "inside").unwrap();
        std::os::unix::fs::symlink("/../../outside", root.join("etc/ssh/sshd_config")).unwrap();
        std::os::unix::fs::symlink("../../../outside", root.join("etc/rel")).unwrap();
        let root = Root::new(&root);
        assert_eq!(root.read("/etc/ssh/sshd_config", 100).unwrap(), b"inside");
        assert_eq!(root.read("/etc/rel", 100).unwrap(), b"inside");
        assert!(matches!(
            root.read("/etc/missing", 100),
            Err(ReadError::Absent)
        ));
        assert!(matches!(
            root.read("/etc/rel", 3),
            Err(ReadError::TooLarge { size: 6, limit: 3 })
        ));
    }

    #[test]
    fn symlink_loops_stop() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        assert!(matches!(
            Root::new(dir.path()).read("/a", 10),
            Err(ReadError::SymlinkLoop)
        ));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.conf", "50-cloud.conf"));
        assert!(!glob_match("*.conf", "50-cloud.conf.bak"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "ac"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert!(glob_match("*.d/*", "sshd_config.d/x"));
        // Many stars against a name that does not match: linear, no deep recursion.
        let hostile = format!("{}x", "*".repeat(200_000));
        assert!(!glob_match(&hostile, "ssh_host_ecdsa_key.pub"));
        assert!(glob_match(&hostile, "ssh_host_ecdsa_key.pubx"));
    }
}
