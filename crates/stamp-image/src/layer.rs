//! Reading layers: what one tar entry does to the root filesystem (OCI image-spec "Image Layer
//! Filesystem Changeset", whiteouts included), shared by the in-memory file tree and the
//! on-disk unpacker so that both read a layer the same way.

use std::collections::HashSet;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};
use stamp_core::Digest;

use crate::manifest::{FileTree, FileType, Node};
use crate::path::{ImagePath, PathError};
use crate::tar::{CopyContentError, EntryKind, Header, ReadLimits, ReadTarError, TarReader};

/// Prefix of an OCI whiteout file name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the OCI opaque-directory marker.
pub const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// What one entry of a layer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add or replace the object at `path`.
    Put { path: ImagePath, header: Header },
    /// Delete `path` (and anything below it) from lower layers.
    Remove { path: ImagePath },
    /// Hide everything below `dir` that lower layers put there.
    Opaque { dir: ImagePath },
}

/// Why an entry of a layer was refused.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error(transparent)]
    Path(#[from] PathError),
    #[error("whiteout `{0}` names no file")]
    EmptyWhiteout(String),
    #[error("whiteout `{0}` names `.` or `..`")]
    WhiteoutEscape(String),
    #[error("path `{0}` appears twice in one layer")]
    Duplicate(String),
    #[error("hard link `{path}` points to `{target}`, which is not a file in the image")]
    HardlinkTarget { path: String, target: String },
    #[error("`{path}` would be written through `{blocker}`, which is a symlink or a file")]
    ThroughNonDirectory { path: String, blocker: String },
    #[error("the root directory can only be replaced by a directory, not by `{0}`")]
    RootReplaced(String),
}

/// Decide what `header` does.
pub fn classify(header: &Header) -> Result<Change, EntryError> {
    let path = ImagePath::parse(&header.path)?;
    let Some(name) = path.file_name() else {
        if header.kind != EntryKind::Directory {
            return Err(EntryError::RootReplaced(header.path.clone()));
        }
        return Ok(Change::Put {
            path,
            header: header.clone(),
        });
    };
    if name == OPAQUE_WHITEOUT {
        return Ok(Change::Opaque {
            dir: path.parent().unwrap_or_else(ImagePath::root),
        });
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        if hidden.is_empty() {
            return Err(EntryError::EmptyWhiteout(header.path.clone()));
        }
        if hidden == "." || hidden == ".." {
            return Err(EntryError::WhiteoutEscape(header.path.clone()));
        }
        let parent = path.parent().unwrap_or_else(ImagePath::root);
        return Ok(Change::Remove {
            path: parent.join(hidden),
        });
    }
    Ok(Change::Put {
        path,
        header: header.clone(),
    })
}

/// Refuses a path that appears twice in one layer (a second entry would silently win, so a
/// reviewer of the first could be misled).
#[derive(Default)]
pub struct DuplicateCheck {
    seen: HashSet<ImagePath>,
    /// Directories that hold something this layer put there (so an opaque whiteout, wherever
    /// it comes in the layer, keeps them).
    parents_of_puts: HashSet<ImagePath>,
}

impl DuplicateCheck {
    pub fn check(&mut self, change: &Change) -> Result<(), EntryError> {
        let path = match change {
            Change::Put { path, .. } | Change::Remove { path } => path.clone(),
            Change::Opaque { dir } => dir.join(OPAQUE_WHITEOUT),
        };
        if !self.seen.insert(path.clone()) {
            return Err(EntryError::Duplicate(path.absolute()));
        }
        if let Change::Put { path, .. } = change {
            let mut parent = path.parent();
            while let Some(dir) = parent {
                if !self.parents_of_puts.insert(dir.clone()) {
                    break;
                }
                parent = dir.parent();
            }
        }
        Ok(())
    }

    /// Whether this layer has an entry for `path` so far.
    pub fn contains(&self, path: &ImagePath) -> bool {
        self.seen.contains(path)
    }

    /// Whether this layer has put something below `path` so far.
    pub fn has_puts_below(&self, path: &ImagePath) -> bool {
        self.parents_of_puts.contains(path)
    }
}

/// Why a layer could not be applied to a file tree.
#[derive(Debug, thiserror::Error)]
pub enum ApplyLayerError {
    #[error("reading the layer")]
    Read(#[source] ReadTarError),
    #[error("entry `{entry}`")]
    Entry {
        entry: String,
        #[source]
        source: EntryError,
    },
    #[error("entry `{entry}`")]
    Content {
        entry: String,
        #[source]
        source: ReadTarError,
    },
}

/// Read a whole uncompressed layer from `reader` and apply it to `tree` as layer number
/// `layer`, hashing every regular file's content.
pub fn apply_layer(
    reader: impl Read,
    tree: &mut FileTree,
    layer: usize,
    limits: ReadLimits,
) -> Result<(), ApplyLayerError> {
    let mut tar = TarReader::new(reader, limits);
    let mut duplicates = DuplicateCheck::default();
    let mut buffer = vec![0u8; 256 * 1024];
    while let Some(header) = tar.next_header().map_err(ApplyLayerError::Read)? {
        let entry_error = |source| ApplyLayerError::Entry {
            entry: header.path.clone(),
            source,
        };
        let change = classify(&header).map_err(entry_error)?;
        duplicates.check(&change).map_err(entry_error)?;
        let target_path = match &change {
            Change::Put { path, .. } | Change::Remove { path } => path,
            Change::Opaque { dir } => dir,
        };
        if let Some(blocker) = tree.blocking_ancestor(target_path) {
            return Err(entry_error(EntryError::ThroughNonDirectory {
                path: target_path.absolute(),
                blocker: blocker.absolute(),
            }));
        }
        match change {
            Change::Remove { path } => tree.remove(&path),
            Change::Opaque { dir } => tree.make_opaque(&dir, layer),
            Change::Put { path, header } => {
                let node = match &header.kind {
                    EntryKind::Hardlink { target } => {
                        let target_path = ImagePath::parse(target)
                            .map_err(|error| entry_error(EntryError::Path(error)))?;
                        match tree.get(&target_path) {
                            Some(node) if node.file_type == FileType::File => Node {
                                layer,
                                ..node.clone()
                            },
                            _ => {
                                return Err(entry_error(EntryError::HardlinkTarget {
                                    path: header.path.clone(),
                                    target: target.clone(),
                                }))
                            }
                        }
                    }
                    kind => {
                        let mut sha256 = None;
                        if *kind == EntryKind::File {
                            let mut hasher = Sha256::new();
                            loop {
                                let read = tar.read_content(&mut buffer).map_err(|source| {
                                    ApplyLayerError::Content {
                                        entry: header.path.clone(),
                                        source,
                                    }
                                })?;
                                if read == 0 {
                                    break;
                                }
                                hasher.update(&buffer[..read]);
                            }
                            sha256 = Some(Digest::from_bytes(hasher.finalize().into()));
                        }
                        node_for(&header, sha256, layer)
                    }
                };
                tree.insert(path, node);
            }
        }
    }
    Ok(())
}

/// The tree node a header describes (hard links excepted: they copy their target).
pub fn node_for(header: &Header, sha256: Option<Digest>, layer: usize) -> Node {
    let (file_type, target, device) = match &header.kind {
        EntryKind::File | EntryKind::Hardlink { .. } => (FileType::File, None, None),
        EntryKind::Directory => (FileType::Dir, None, None),
        EntryKind::Symlink { target } => (FileType::Symlink, Some(target.clone()), None),
        EntryKind::CharDevice { major, minor } => (FileType::Char, None, Some((*major, *minor))),
        EntryKind::BlockDevice { major, minor } => (FileType::Block, None, Some((*major, *minor))),
        EntryKind::Fifo => (FileType::Fifo, None, None),
    };
    Node {
        file_type,
        mode: if file_type == FileType::Symlink {
            0o777
        } else {
            header.mode & 0o7777
        },
        uid: header.uid,
        gid: header.gid,
        size: if file_type == FileType::File {
            header.size
        } else {
            0
        },
        sha256,
        target,
        device,
        layer,
    }
}

/// Map a copy error into the reader error it wraps (write errors become I/O errors).
pub fn copy_error_into_read(error: CopyContentError) -> ReadTarError {
    match error {
        CopyContentError::Read(error) => error,
        CopyContentError::Write(error) => ReadTarError::Io(io::Error::new(error.kind(), error)),
    }
}
