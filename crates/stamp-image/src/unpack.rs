//! `stamp unpack`: the one safe way stamp turns an image into a directory tree. Scans, deploy
//! and drift all use it.
//!
//! Every filesystem call is relative to a directory file descriptor and walks one component at
//! a time with `O_NOFOLLOW`, so no symlink (planted by an earlier entry or already there) is
//! ever followed while writing: an entry below a symlink is refused, not written through it.
//! Paths are normalized by [`crate::path`] (no absolute paths, no `..`), hard links must point
//! at a regular file already unpacked, device nodes are refused unless asked for, and every
//! size read from a layer is checked against [`UnpackLimits`]. Blobs are checked against their
//! digest before extraction and every layer against its `diff_id` while it is read.
//!
//! Ownership is applied when running as root; otherwise files belong to the caller (the
//! manifest still records the owners the image declares).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags, Timestamps};
use rustix::io::Errno;
use sha2::{Digest as _, Sha256};
use stamp_core::Digest;

use crate::layer::{classify, Change, DuplicateCheck, EntryError};
use crate::path::ImagePath;
use crate::store::{Store, StoreError};
use crate::tar::{EntryKind, Header, ReadLimits, ReadTarError, TarReader};

/// Limits for one unpack.
#[derive(Clone, Copy, Debug)]
pub struct UnpackLimits {
    /// Limits on the tar stream of each layer.
    pub tar: ReadLimits,
    /// Most uncompressed bytes one layer may expand to (stops gzip bombs).
    pub layer_bytes_max: u64,
    /// Most uncompressed bytes all layers together may expand to.
    pub image_bytes_max: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            tar: ReadLimits::default(),
            layer_bytes_max: 32 << 30,
            image_bytes_max: 64 << 30,
        }
    }
}

/// Options for one unpack.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnpackOptions {
    pub limits: UnpackLimits,
    /// Create character and block device nodes instead of refusing them.
    pub allow_devices: bool,
}

/// What went wrong with one entry.
#[derive(Debug, thiserror::Error)]
pub enum UnpackEntryError {
    #[error(transparent)]
    Entry(#[from] EntryError),
    #[error("would be written through `{0}`, which is a symlink (refused)")]
    ThroughSymlink(String),
    #[error("would be written below `{0}`, which is not a directory")]
    NotDirectory(String),
    #[error("device node refused (pass --allow-devices to create device nodes)")]
    Device,
    #[error("hard link target `{0}` is not a regular file unpacked earlier")]
    HardlinkTarget(String),
    #[error("content")]
    Content(#[source] ReadTarError),
    #[error("{call} failed")]
    System {
        call: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Why an image could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("destination `{}` exists and is not an empty directory", .0.display())]
    DestinationNotEmpty(PathBuf),
    #[error("creating destination `{}`", .path.display())]
    Destination {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer}: entry `{entry}` refused")]
    Entry {
        layer: Digest,
        entry: String,
        #[source]
        source: UnpackEntryError,
    },
    #[error("layer {layer}: not a valid tar stream (at byte offset {offset})")]
    Tar {
        layer: Digest,
        /// Offset in the uncompressed layer where reading stopped.
        offset: u64,
        #[source]
        source: ReadTarError,
    },
    #[error(
        "layer {layer} expands past the limit of {limit} bytes{} (gzip bomb or oversized layer)",
        .entry.as_ref().map(|entry| format!(" in entry `{entry}`")).unwrap_or_default()
    )]
    LayerTooLarge {
        layer: Digest,
        /// The limit that was reached: the per-layer limit, or what was left of the image's.
        limit: u64,
        /// The entry being read when the limit was reached, if any.
        entry: Option<String>,
    },
    #[error(
        "layer {layer} uncompresses to {actual}, but the image config's diff_id is {expected}"
    )]
    DiffId {
        layer: Digest,
        expected: Digest,
        actual: Digest,
    },
    #[error("image config lists {diff_ids} diff_ids for {layers} layers")]
    LayerCount { layers: usize, diff_ids: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether this process runs as root (and so can apply the owners an image declares).
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// What an unpack did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct UnpackSummary {
    pub layers: usize,
    pub entries: u64,
    pub bytes: u64,
}

/// Unpack image `digest` from `store` into `destination`, which must not exist or be empty.
pub fn unpack_image(
    store: &Store,
    digest: &Digest,
    destination: &Path,
    options: &UnpackOptions,
) -> Result<UnpackSummary, UnpackError> {
    let manifest = store.read_manifest(digest)?;
    let config = store.read_config(&manifest.config.digest)?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(UnpackError::LayerCount {
            layers: manifest.layers.len(),
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    let mut unpacker = Unpacker::create(destination, options)?;
    for (layer, diff_id) in manifest.layers.iter().zip(&config.rootfs.diff_ids) {
        let reader = store.open_layer(layer)?;
        unpacker.apply_layer(layer.digest, Some(*diff_id), reader)?;
    }
    unpacker.finish()
}

/// Applies layers to a destination directory, one after another.
pub struct Unpacker {
    root: OwnedFd,
    options: UnpackOptions,
    as_root: bool,
    /// Final attributes of directories, applied at the end (deepest first) so that a read-only
    /// directory does not block its own children.
    directories: BTreeMap<ImagePath, (u32, u64, u64, u64)>,
    summary: UnpackSummary,
    image_bytes: u64,
}

/// Counts bytes, hashes them, and stops past a limit.
struct MeteredReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
    limit: u64,
    exceeded: bool,
}

impl<R: Read> Read for MeteredReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count += read as u64;
        if self.count > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("layer size limit exceeded"));
        }
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}

impl Unpacker {
    /// Prepare `destination` (created if missing; must be empty if present).
    pub fn create(destination: &Path, options: &UnpackOptions) -> Result<Self, UnpackError> {
        let destination_error = |source| UnpackError::Destination {
            path: destination.to_path_buf(),
            source,
        };
        match std::fs::read_dir(destination) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(UnpackError::DestinationNotEmpty(destination.to_path_buf()));
                }
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(destination).map_err(destination_error)?;
            }
            Err(error) => return Err(destination_error(error)),
        }
        let root = rustix::fs::open(
            destination,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|errno| destination_error(errno.into()))?;
        let mut directories = BTreeMap::new();
        directories.insert(ImagePath::root(), (0o755, 0, 0, 0));
        Ok(Unpacker {
            root,
            options: *options,
            as_root: rustix::process::geteuid().is_root(),
            directories,
            summary: UnpackSummary::default(),
            image_bytes: 0,
        })
    }

    /// Apply one uncompressed layer. `layer` names it in errors; `diff_id`, when given, is
    /// checked against the bytes read.
    pub fn apply_layer(
        &mut self,
        layer: Digest,
        diff_id: Option<Digest>,
        reader: impl Read,
    ) -> Result<(), UnpackError> {
        let limit = self.options.limits.layer_bytes_max.min(
            self.options.limits.image_bytes_max
                - self.image_bytes.min(self.options.limits.image_bytes_max),
        );
        let mut metered = MeteredReader {
            inner: reader,
            hasher: Sha256::new(),
            count: 0,
            limit,
            exceeded: false,
        };
        let result = self.apply_entries(layer, &mut metered);
        if metered.exceeded {
            let entry = match &result {
                Err(UnpackError::Entry { entry, .. }) => Some(entry.clone()),
                _ => None,
            };
            return Err(UnpackError::LayerTooLarge {
                layer,
                limit,
                entry,
            });
        }
        result?;
        // The diff_id covers every byte of the layer, including what follows the end marker.
        let drained = io::copy(&mut metered, &mut io::sink());
        if metered.exceeded {
            return Err(UnpackError::LayerTooLarge {
                layer,
                limit,
                entry: None,
            });
        }
        drained.map_err(|source| UnpackError::Tar {
            layer,
            offset: metered.count,
            source: ReadTarError::Io(source),
        })?;
        self.image_bytes += metered.count;
        self.summary.bytes += metered.count;
        self.summary.layers += 1;
        let actual = Digest::from_bytes(metered.hasher.finalize().into());
        if let Some(expected) = diff_id {
            if actual != expected {
                return Err(UnpackError::DiffId {
                    layer,
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    fn apply_entries(&mut self, layer: Digest, reader: impl Read) -> Result<(), UnpackError> {
        let mut tar = TarReader::new(reader, self.options.limits.tar);
        let mut duplicates = DuplicateCheck::default();
        loop {
            let header = match tar.next_header() {
                Ok(Some(header)) => header,
                Ok(None) => break,
                Err(source) => {
                    return Err(UnpackError::Tar {
                        layer,
                        offset: tar.offset(),
                        source,
                    })
                }
            };
            let entry_error = |source: UnpackEntryError| UnpackError::Entry {
                layer,
                entry: header.path.clone(),
                source,
            };
            let change = classify(&header).map_err(|error| entry_error(error.into()))?;
            duplicates
                .check(&change)
                .map_err(|error| entry_error(error.into()))?;
            self.summary.entries += 1;
            match change {
                Change::Remove { path } => self.remove(&path).map_err(entry_error)?,
                Change::Opaque { dir } => self.opaque(&dir, &duplicates).map_err(entry_error)?,
                Change::Put { path, header } => {
                    self.put(&path, &header, &mut tar).map_err(entry_error)?
                }
            }
        }
        Ok(())
    }

    /// Apply deferred directory attributes and report.
    pub fn finish(mut self) -> Result<UnpackSummary, UnpackError> {
        let directories = std::mem::take(&mut self.directories);
        for (path, (mode, uid, gid, mtime)) in directories.into_iter().rev() {
            let fd = match self.walk(&path, false) {
                Ok(Some(fd)) => fd,
                // Removed by a later whiteout, or replaced by something else.
                Ok(None) | Err(_) => continue,
            };
            let apply = || -> Result<(), Errno> {
                if self.as_root {
                    rustix::fs::fchown(
                        &fd,
                        Some(rustix::fs::Uid::from_raw(uid as u32)),
                        Some(rustix::fs::Gid::from_raw(gid as u32)),
                    )?;
                }
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
                rustix::fs::futimens(&fd, &timestamps(mtime))
            };
            apply().map_err(|errno| UnpackError::Entry {
                layer: Digest::of(b""),
                entry: path.absolute(),
                source: UnpackEntryError::System {
                    call: "setting directory attributes",
                    source: errno.into(),
                },
            })?;
        }
        Ok(self.summary)
    }

    /// Open the directory `dir`, creating missing ones when `create`. `None` when it does not
    /// exist and `create` is false.
    fn walk(&self, dir: &ImagePath, create: bool) -> Result<Option<OwnedFd>, UnpackEntryError> {
        let mut current = rustix::fs::openat(
            &self.root,
            ".",
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(system("openat"))?;
        for (depth, name) in dir.components().enumerate() {
            let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            let next = match rustix::fs::openat(&current, name, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    rustix::fs::mkdirat(&current, name, Mode::from_raw_mode(0o700))
                        .map_err(system("mkdirat"))?;
                    rustix::fs::openat(&current, name, flags, Mode::empty())
                        .map_err(system("openat"))?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(Errno::LOOP) | Err(Errno::NOTDIR) => {
                    let here = ImagePath::parse(
                        &dir.components()
                            .take(depth + 1)
                            .collect::<Vec<_>>()
                            .join("/"),
                    )
                    .map(|path| path.absolute())
                    .unwrap_or_default();
                    let stat = rustix::fs::statat(&current, name, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(system("fstatat"))?;
                    if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                        == rustix::fs::FileType::Symlink
                    {
                        return Err(UnpackEntryError::ThroughSymlink(here));
                    }
                    return Err(UnpackEntryError::NotDirectory(here));
                }
                Err(errno) => return Err(system("openat")(errno)),
            };
            current = next;
        }
        Ok(Some(current))
    }

    fn parent_of(&mut self, path: &ImagePath) -> Result<(OwnedFd, String), UnpackEntryError> {
        let parent = path.parent().unwrap_or_else(ImagePath::root);
        // Parents created implicitly get 0755 root:root, as in the file manifest.
        let mut implicit = parent.clone();
        while !implicit.is_root() {
            self.directories
                .entry(implicit.clone())
                .or_insert((0o755, 0, 0, 0));
            implicit = implicit.parent().unwrap_or_else(ImagePath::root);
        }
        let fd = self
            .walk(&parent, true)?
            .expect("walk with create returns a directory");
        Ok((fd, path.file_name().unwrap_or(".").to_string()))
    }

    fn put(
        &mut self,
        path: &ImagePath,
        header: &Header,
        tar: &mut TarReader<impl Read>,
    ) -> Result<(), UnpackEntryError> {
        if path.is_root() {
            self.directories.insert(
                ImagePath::root(),
                (header.mode, header.uid, header.gid, header.mtime),
            );
            return Ok(());
        }
        let (parent, name) = self.parent_of(path)?;
        let existing = match rustix::fs::statat(&parent, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Some(rustix::fs::FileType::from_raw_mode(stat.st_mode)),
            Err(Errno::NOENT) => None,
            Err(errno) => return Err(system("fstatat")(errno)),
        };
        if header.kind == EntryKind::Directory {
            if existing != Some(rustix::fs::FileType::Directory) {
                if existing.is_some() {
                    remove_at(parent.as_fd(), &name)?;
                }
                rustix::fs::mkdirat(&parent, name.as_str(), Mode::from_raw_mode(0o700))
                    .map_err(system("mkdirat"))?;
            }
            self.directories.insert(
                path.clone(),
                (header.mode, header.uid, header.gid, header.mtime),
            );
            return Ok(());
        }
        if matches!(
            header.kind,
            EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. }
        ) && !self.options.allow_devices
        {
            return Err(UnpackEntryError::Device);
        }
        // Check a hard link's target before removing anything.
        let link_source = match &header.kind {
            EntryKind::Hardlink { target } => {
                let target_path = ImagePath::parse(target).map_err(EntryError::from)?;
                let not_found = || UnpackEntryError::HardlinkTarget(target.clone());
                let target_parent = self
                    .walk(&target_path.parent().unwrap_or_else(ImagePath::root), false)?
                    .ok_or_else(not_found)?;
                let target_name = target_path.file_name().ok_or_else(not_found)?.to_string();
                let stat = rustix::fs::statat(
                    &target_parent,
                    target_name.as_str(),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|_| not_found())?;
                if rustix::fs::FileType::from_raw_mode(stat.st_mode)
                    != rustix::fs::FileType::RegularFile
                    || target_path == *path
                {
                    return Err(not_found());
                }
                Some((target_parent, target_name))
            }
            _ => None,
        };
        if existing.is_some() {
            remove_at(parent.as_fd(), &name)?;
        }
        self.directories.remove(path);
        let owner = |fd: BorrowedFd<'_>, name: &str| -> Result<(), UnpackEntryError> {
            if self.as_root {
                rustix::fs::chownat(
                    fd,
                    name,
                    Some(rustix::fs::Uid::from_raw(header.uid as u32)),
                    Some(rustix::fs::Gid::from_raw(header.gid as u32)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(system("fchownat"))?;
            }
            Ok(())
        };
        match &header.kind {
            EntryKind::File => {
                let fd = rustix::fs::openat(
                    &parent,
                    name.as_str(),
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(system("openat"))?;
                let mut file = File::from(fd);
                let copied = tar.copy_content(&mut file).map_err(|error| {
                    UnpackEntryError::Content(crate::layer::copy_error_into_read(error))
                })?;
                debug_assert_eq!(copied, header.size);
                if self.as_root {
                    rustix::fs::fchown(
                        &file,
                        Some(rustix::fs::Uid::from_raw(header.uid as u32)),
                        Some(rustix::fs::Gid::from_raw(header.gid as u32)),
                    )
                    .map_err(system("fchown"))?;
                }
                // After chown, which clears setuid/setgid bits.
                rustix::fs::fchmod(&file, Mode::from_raw_mode(header.mode & 0o7777))
                    .map_err(system("fchmod"))?;
                rustix::fs::futimens(&file, &timestamps(header.mtime))
                    .map_err(system("futimens"))?;
            }
            EntryKind::Symlink { target } => {
                rustix::fs::symlinkat(target.as_str(), &parent, name.as_str())
                    .map_err(system("symlinkat"))?;
                owner(parent.as_fd(), &name)?;
                rustix::fs::utimensat(
                    &parent,
                    name.as_str(),
                    &timestamps(header.mtime),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(system("utimensat"))?;
            }
            EntryKind::Hardlink { .. } => {
                let (target_parent, target_name) = link_source.expect("checked above");
                rustix::fs::linkat(
                    &target_parent,
                    target_name.as_str(),
                    &parent,
                    name.as_str(),
                    AtFlags::empty(),
                )
                .map_err(system("linkat"))?;
            }
            EntryKind::CharDevice { .. } | EntryKind::BlockDevice { .. } | EntryKind::Fifo => {
                let (file_type, device) = match header.kind {
                    EntryKind::CharDevice { major, minor } => (
                        rustix::fs::FileType::CharacterDevice,
                        rustix::fs::makedev(major, minor),
                    ),
                    EntryKind::BlockDevice { major, minor } => (
                        rustix::fs::FileType::BlockDevice,
                        rustix::fs::makedev(major, minor),
                    ),
                    _ => (rustix::fs::FileType::Fifo, 0),
                };
                let mode = Mode::from_raw_mode(header.mode & 0o7777);
                rustix::fs::mknodat(&parent, name.as_str(), file_type, mode, device)
                    .map_err(system("mknodat"))?;
                owner(parent.as_fd(), &name)?;
                // After chown, and past the umask that mknod applied.
                rustix::fs::chmodat(&parent, name.as_str(), mode, AtFlags::empty())
                    .map_err(system("fchmodat"))?;
            }
            EntryKind::Directory => unreachable!("handled above"),
        }
        Ok(())
    }

    fn remove(&mut self, path: &ImagePath) -> Result<(), UnpackEntryError> {
        let Some(parent) = self.walk(&path.parent().unwrap_or_else(ImagePath::root), false)? else {
            return Ok(());
        };
        let name = path.file_name().unwrap_or(".");
        match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(_) => remove_at(parent.as_fd(), name),
            Err(Errno::NOENT) => Ok(()),
            Err(errno) => Err(system("fstatat")(errno)),
        }
    }

    fn opaque(
        &mut self,
        dir: &ImagePath,
        this_layer: &DuplicateCheck,
    ) -> Result<(), UnpackEntryError> {
        let Some(fd) = self.walk(dir, false)? else {
            return Ok(());
        };
        hide_lower_layers(fd.as_fd(), dir, this_layer)
    }
}

/// Remove everything below `dir` (open as `fd`) that the current layer did not put there. What
/// it did put, and the directories holding it, stay, whether they came before or after the
/// opaque whiteout in the layer (as in [`crate::manifest::FileTree::make_opaque`]).
fn hide_lower_layers(
    fd: BorrowedFd<'_>,
    dir: &ImagePath,
    this_layer: &DuplicateCheck,
) -> Result<(), UnpackEntryError> {
    for name in list_dir(fd)? {
        let child = dir.join(&name);
        if !this_layer.contains(&child) && !this_layer.has_puts_below(&child) {
            remove_at(fd, &name)?;
            continue;
        }
        // A directory this layer wrote into may still hold entries of lower layers.
        let flags = OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        match rustix::fs::openat(fd, name.as_str(), flags, Mode::empty()) {
            Ok(child_fd) => hide_lower_layers(child_fd.as_fd(), &child, this_layer)?,
            Err(Errno::NOTDIR) | Err(Errno::LOOP) => {}
            Err(errno) => return Err(system("openat")(errno)),
        }
    }
    Ok(())
}

fn timestamps(mtime: u64) -> Timestamps {
    let time = rustix::fs::Timespec {
        tv_sec: mtime.min(i64::MAX as u64) as i64,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: time,
        last_modification: time,
    }
}

fn system(call: &'static str) -> impl Fn(Errno) -> UnpackEntryError {
    move |errno| UnpackEntryError::System {
        call,
        source: errno.into(),
    }
}

fn list_dir(fd: BorrowedFd<'_>) -> Result<Vec<String>, UnpackEntryError> {
    let dup = rustix::fs::openat(
        fd,
        ".",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(system("openat"))?;
    let mut dir = rustix::fs::Dir::new(dup).map_err(system("opendir"))?;
    let mut names = Vec::new();
    while let Some(entry) = dir.read() {
        let entry = entry.map_err(system("readdir"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// Remove `name` in `parent`; a directory with everything in it. Never follows symlinks.
fn remove_at(parent: BorrowedFd<'_>, name: &str) -> Result<(), UnpackEntryError> {
    match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) => return Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {}
        Err(errno) => return Err(system("unlinkat")(errno)),
    }
    let fd = rustix::fs::openat(
        parent,
        name,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(system("openat"))?;
    // A directory we unpacked may have been made read-only by an earlier layer's attributes.
    let _ = rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o700));
    for child in list_dir(fd.as_fd())? {
        remove_at(fd.as_fd(), &child)?;
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(system("rmdir"))
}
