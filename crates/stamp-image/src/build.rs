//! `stamp build`: a spec in, a reproducible OCI image out.
//!
//! Reproducible means the manifest digest is a function of the spec, the input files' contents
//! and the pinned base only. Nothing else enters: entries are written in component order
//! whatever order the directory was read in; modes, owners and times come from the spec and
//! `source_date_epoch`, never from the input files' metadata or the umask; headers carry no
//! user or group names, no atime or ctime; gzip carries no name or time (see [`crate::gzip`]).

use std::collections::{btree_map, BTreeMap};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use stamp_core::{Digest, Sha256Writer};

use crate::gzip::GzipWriter;
use crate::layer::{apply_layer, ApplyLayerError};
use crate::manifest::{FileTree, FileType};
use crate::oci::{
    rfc3339, Descriptor, History, ImageConfiguration, ImageManifest, RootFs, RuntimeConfig,
    JSON_DOCUMENT_BYTES_MAX, MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_LAYER_GZIP,
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
};
use crate::path::ImagePath;
use crate::spec::{Base, CopySpec, LayerSpec, Location, Spec};
use crate::store::{Store, StoreError};
use crate::tar::{EntryKind, Header, ReadLimits, TarWriter};

/// Most entries one layer made from the repository may hold.
pub const LAYER_ENTRIES_MAX: usize = 1_000_000;
/// Label carrying the image's declared writable paths (JSON array), read by drift and deploy.
pub const LABEL_WRITABLE: &str = "dev.stamp.writable";
/// Annotation naming the digest of the base image manifest (OCI pre-defined annotation).
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot determine source_date_epoch for `{}`", .spec_dir.display())]
    NoSourceDate { spec_dir: PathBuf },
    #[error("SOURCE_DATE_EPOCH `{0}` is not a whole number of seconds")]
    BadSourceDateEnv(String),
    #[error("{location}: reading input `{}`", .path.display())]
    Input {
        location: Location,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{location}: input `{}` is a {kind}; only files, directories and symlinks can go into a layer", .path.display())]
    InputType {
        location: Location,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("{location}: input `{}` changed size while it was read", .path.display())]
    InputChanged { location: Location, path: PathBuf },
    #[error("layer `{layer}`: path `{path}` is given twice")]
    DuplicatePath { layer: String, path: String },
    #[error("layer `{layer}`: `{path}` would be written below `{blocker}`, which is a {kind} {place}, not a directory")]
    BelowNonDirectory {
        layer: String,
        path: String,
        blocker: String,
        kind: &'static str,
        place: &'static str,
    },
    #[error("layer `{layer}`: `remove = [\"{path}\"]` names nothing in the layers below")]
    RemoveMissing { layer: String, path: String },
    #[error("layer `{layer}` has more than {LAYER_ENTRIES_MAX} entries")]
    TooManyEntries { layer: String },
    #[error("base rootfs `{}` has sha256 {actual}, but stamp.toml pins {expected}", .path.display())]
    BaseDigestMismatch {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },
    #[error("base image {digest} in `{}`: {problem}", .layout.display())]
    BaseImage {
        layout: PathBuf,
        digest: Digest,
        problem: String,
    },
    #[error("base layer {digest}")]
    BaseLayer {
        digest: Digest,
        #[source]
        source: ApplyLayerError,
    },
    #[error("reading base `{}`", .path.display())]
    BaseRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing a layer into the store")]
    Write(#[source] io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Settings that come from outside the spec.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// `SOURCE_DATE_EPOCH` from the environment, if set; used when the spec sets none.
    pub source_date_epoch_env: Option<String>,
}

/// One layer of the built image.
#[derive(Clone, Debug, Serialize)]
pub struct BuiltLayer {
    pub name: String,
    pub digest: Digest,
    pub diff_id: Digest,
    pub size: u64,
    pub from_base: bool,
}

/// What a build produced.
#[derive(Clone, Debug, Serialize)]
pub struct BuildOutput {
    pub reference: String,
    pub digest: Digest,
    pub manifest_size: u64,
    pub config_digest: Digest,
    pub layers: Vec<BuiltLayer>,
    pub source_date_epoch: u64,
    pub source_date_from: &'static str,
    pub git_commit: Option<String>,
    /// SHA-256 of the stamp.toml bytes.
    pub spec_digest: Digest,
    pub base_digest: Option<Digest>,
    pub file_manifest_root: Digest,
    pub file_count: usize,
}

/// Build `spec` into `store` and tag it `name:tag`.
pub fn build(
    spec: &Spec,
    store: &Store,
    options: &BuildOptions,
) -> Result<BuildOutput, BuildError> {
    let (source_date_epoch, source_date_from, git_commit) = source_date(spec, options)?;
    let created = rfc3339(source_date_epoch);
    let spec_bytes = fs::read(&spec.path).map_err(|source| BuildError::BaseRead {
        path: spec.path.clone(),
        source,
    })?;

    let mut tree = FileTree::new();
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    let mut runtime = RuntimeConfig::default();
    let mut base_digest = None;
    let mut layer_descriptors = Vec::new();

    match &spec.base {
        Base::Scratch => {}
        Base::Rootfs { path, sha256 } => {
            let layer = import_rootfs(store, path, sha256, &mut tree)?;
            diff_ids.push(layer.diff_id);
            history.push(History {
                created: Some(created.clone()),
                created_by: Some(format!("stamp build: base rootfs {}", sha256)),
                comment: Some("base root filesystem".into()),
                ..History::default()
            });
            layer_descriptors.push(Descriptor::new(
                MEDIA_TYPE_LAYER_GZIP,
                layer.digest,
                layer.size,
            ));
            layers.push(layer);
        }
        Base::OciLayout { layout, digest } => {
            let base = import_oci_base(store, layout, digest, &mut tree)?;
            runtime = base.config.config.clone().unwrap_or_default();
            diff_ids.extend(base.config.rootfs.diff_ids.iter().copied());
            history.extend(base.config.history.iter().cloned());
            layer_descriptors.extend(base.descriptors);
            layers.extend(base.layers);
            base_digest = Some(*digest);
        }
    }

    for layer_spec in &spec.layers {
        let layer_index = layers.len();
        let layer = write_spec_layer(store, layer_spec, source_date_epoch, &mut tree, layer_index)?;
        diff_ids.push(layer.diff_id);
        history.push(History {
            created: Some(created.clone()),
            created_by: Some(format!("stamp build: {}", layer_spec.name)),
            comment: Some(layer_spec.name.clone()),
            ..History::default()
        });
        layer_descriptors.push(Descriptor::new(
            MEDIA_TYPE_LAYER_GZIP,
            layer.digest,
            layer.size,
        ));
        layers.push(layer);
    }

    apply_config(&mut runtime, spec);
    let config = ImageConfiguration {
        created: Some(created.clone()),
        author: None,
        architecture: spec.architecture.clone(),
        os: spec.os.clone(),
        config: Some(runtime),
        rootfs: RootFs {
            fs_type: "layers".into(),
            diff_ids,
        },
        history,
    };
    let config_bytes = serde_json::to_vec(&config).expect("image config serializes");
    let (config_digest, config_size) = store.put_blob(&config_bytes)?;

    let mut annotations = BTreeMap::new();
    annotations.insert(crate::oci::ANNOTATION_CREATED.to_string(), created);
    if let Some(base) = base_digest {
        annotations.insert(ANNOTATION_BASE_DIGEST.to_string(), base.to_string());
    }
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(MEDIA_TYPE_CONFIG, config_digest, config_size),
        layers: layer_descriptors,
        subject: None,
        annotations,
    };
    let manifest_bytes = serde_json::to_vec(&manifest).expect("image manifest serializes");
    let (digest, manifest_size) = store.put_blob(&manifest_bytes)?;

    // Written straight from the tree: the entries never exist a second time as a list.
    let (file_manifest_root, file_count) = store.put_file_tree(&digest, &tree)?;
    drop(tree);

    let mut descriptor = Descriptor::new(MEDIA_TYPE_MANIFEST, digest, manifest_size);
    descriptor.platform = Some(crate::oci::Platform {
        architecture: spec.architecture.clone(),
        os: spec.os.clone(),
    });
    store.tag(&spec.reference(), &spec.name, descriptor)?;

    Ok(BuildOutput {
        reference: spec.reference(),
        digest,
        manifest_size,
        config_digest,
        layers,
        source_date_epoch,
        source_date_from,
        git_commit,
        spec_digest: Digest::of(&spec_bytes),
        base_digest,
        file_manifest_root,
        file_count,
    })
}

/// The time every entry and history record carries, where it came from, and the git commit.
fn source_date(
    spec: &Spec,
    options: &BuildOptions,
) -> Result<(u64, &'static str, Option<String>), BuildError> {
    let git = Command::new("git")
        .arg("-C")
        .arg(&spec.dir)
        .args(["log", "-1", "--format=%ct %H"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .and_then(|output| {
            let text = String::from_utf8(output.stdout).ok()?;
            let (time, commit) = text.trim().split_once(' ')?;
            Some((time.parse::<u64>().ok()?, commit.to_string()))
        });
    let commit = git.as_ref().map(|(_, commit)| commit.clone());
    if let Some(epoch) = spec.source_date_epoch {
        return Ok((epoch, "stamp.toml", commit));
    }
    if let Some(text) = &options.source_date_epoch_env {
        let epoch = text
            .trim()
            .parse()
            .map_err(|_| BuildError::BadSourceDateEnv(text.clone()))?;
        return Ok((epoch, "SOURCE_DATE_EPOCH", commit));
    }
    match git {
        Some((epoch, commit)) => Ok((epoch, "git commit", Some(commit))),
        None => Err(BuildError::NoSourceDate {
            spec_dir: spec.dir.clone(),
        }),
    }
}

fn apply_config(runtime: &mut RuntimeConfig, spec: &Spec) {
    let config = &spec.config;
    if let Some(user) = &config.user {
        runtime.user = Some(user.clone());
    }
    if let Some(workdir) = &config.workdir {
        runtime.working_dir = Some(workdir.clone());
    }
    if let Some(entrypoint) = &config.entrypoint {
        runtime.entrypoint = Some(entrypoint.clone());
        // As with Dockerfile ENTRYPOINT: a new entrypoint drops the base's CMD.
        runtime.cmd = None;
    }
    if let Some(cmd) = &config.cmd {
        runtime.cmd = Some(cmd.clone());
    }
    let mut env: BTreeMap<String, String> = runtime
        .env
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (key.to_string(), value.to_string()),
            None => (pair.clone(), String::new()),
        })
        .collect();
    env.extend(config.env.clone());
    runtime.env = env
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    for port in &config.exposed_ports {
        runtime
            .exposed_ports
            .insert(port.clone(), serde_json::Map::new());
    }
    runtime.labels.extend(config.labels.clone());
    if !spec.writable.is_empty() {
        let paths: Vec<String> = spec.writable.iter().map(ImagePath::absolute).collect();
        runtime.labels.insert(
            LABEL_WRITABLE.to_string(),
            serde_json::to_string(&paths).expect("strings serialize"),
        );
    }
    if let Some(signal) = &config.stop_signal {
        runtime.stop_signal = Some(signal.clone());
    }
}

/// An entry planned for a layer, before it is written.
enum Planned {
    Dir {
        mode: u32,
        uid: u64,
        gid: u64,
    },
    /// A regular file of `layer.files[copy]`; its source path is worked out when it is
    /// written (see [`file_source`]), so a plan of a million files holds no source paths.
    File {
        copy: usize,
        mode: u32,
        uid: u64,
        gid: u64,
        size: u64,
    },
    Symlink {
        target: String,
        uid: u64,
        gid: u64,
    },
    /// An OCI whiteout deleting this path of the layers below.
    Whiteout,
}

fn plan_layer(
    layer: &LayerSpec,
    tree: &FileTree,
) -> Result<BTreeMap<ImagePath, Planned>, BuildError> {
    let mut plan = BTreeMap::new();
    let add = |plan: &mut BTreeMap<ImagePath, Planned>, path: ImagePath, entry: Planned| {
        if plan.len() >= LAYER_ENTRIES_MAX {
            return Err(BuildError::TooManyEntries {
                layer: layer.name.clone(),
            });
        }
        match plan.entry(path) {
            btree_map::Entry::Vacant(vacant) => {
                vacant.insert(entry);
                Ok(())
            }
            btree_map::Entry::Occupied(occupied) => Err(BuildError::DuplicatePath {
                layer: layer.name.clone(),
                path: occupied.key().absolute(),
            }),
        }
    };
    for dir in &layer.dirs {
        add(
            &mut plan,
            dir.path.clone(),
            Planned::Dir {
                mode: dir.mode,
                uid: dir.uid,
                gid: dir.gid,
            },
        )?;
    }
    for link in &layer.symlinks {
        add(
            &mut plan,
            link.path.clone(),
            Planned::Symlink {
                target: link.target.clone(),
                uid: link.uid,
                gid: link.gid,
            },
        )?;
    }
    for (copy_index, copy) in layer.files.iter().enumerate() {
        let mut pending = vec![(copy.source.clone(), copy.dest.clone())];
        while let Some((source, dest)) = pending.pop() {
            let metadata =
                fs::symlink_metadata(&source).map_err(|error| input_error(copy, &source, error))?;
            let file_type = metadata.file_type();
            if file_type.is_symlink() {
                let target =
                    fs::read_link(&source).map_err(|error| input_error(copy, &source, error))?;
                let target = target.to_str().ok_or_else(|| BuildError::Input {
                    location: copy.location.clone(),
                    path: source.clone(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        "symlink target is not UTF-8",
                    ),
                })?;
                add(
                    &mut plan,
                    dest,
                    Planned::Symlink {
                        target: target.to_string(),
                        uid: copy.uid,
                        gid: copy.gid,
                    },
                )?;
            } else if file_type.is_dir() {
                add(
                    &mut plan,
                    dest.clone(),
                    Planned::Dir {
                        mode: copy.dir_mode.unwrap_or(0o755),
                        uid: copy.uid,
                        gid: copy.gid,
                    },
                )?;
                let entries =
                    fs::read_dir(&source).map_err(|error| input_error(copy, &source, error))?;
                for entry in entries {
                    let entry = entry.map_err(|error| input_error(copy, &source, error))?;
                    let name = entry.file_name();
                    let name = name.to_str().ok_or_else(|| BuildError::Input {
                        location: copy.location.clone(),
                        path: entry.path(),
                        source: io::Error::new(
                            io::ErrorKind::InvalidData,
                            "file name is not UTF-8",
                        ),
                    })?;
                    if name.starts_with(crate::layer::WHITEOUT_PREFIX) {
                        return Err(BuildError::Input {
                            location: copy.location.clone(),
                            path: entry.path(),
                            source: io::Error::new(
                                io::ErrorKind::InvalidData,
                                "a `.wh.` file name is reserved for OCI whiteouts (use `remove` to delete a path)",
                            ),
                        });
                    }
                    pending.push((entry.path(), dest.join(name)));
                }
            } else if file_type.is_file() {
                // Without an explicit mode, only the owner's execute bit of the input counts,
                // so the umask and the checkout's group/other bits never reach the image.
                let executable = metadata.permissions().mode() & 0o100 != 0;
                let mode = copy.mode.unwrap_or(if executable { 0o755 } else { 0o644 });
                add(
                    &mut plan,
                    dest,
                    Planned::File {
                        copy: copy_index,
                        mode,
                        uid: copy.uid,
                        gid: copy.gid,
                        size: metadata.len(),
                    },
                )?;
            } else {
                return Err(BuildError::InputType {
                    location: copy.location.clone(),
                    path: source,
                    kind: if file_type_is_socket(&metadata) {
                        "socket"
                    } else {
                        "special file"
                    },
                });
            }
        }
    }
    for path in &layer.remove {
        let present = tree.get(path).is_some() && tree.blocking_ancestor(path).is_none();
        if !present {
            return Err(BuildError::RemoveMissing {
                layer: layer.name.clone(),
                path: path.absolute(),
            });
        }
        if plan
            .keys()
            .any(|planned| planned == path || planned.is_below(path))
        {
            return Err(BuildError::DuplicatePath {
                layer: layer.name.clone(),
                path: path.absolute(),
            });
        }
        let name = path.file_name().expect("remove is never the root");
        let parent = path.parent().expect("remove is never the root");
        let marker = parent.join(&format!("{}{name}", crate::layer::WHITEOUT_PREFIX));
        add(&mut plan, marker, Planned::Whiteout)?;
    }
    // Parent directories the layer does not declare keep the attributes they already have in
    // the image below (so adding /tmp/x never resets /tmp's sticky bit), or 0755 root:root.
    // A parent that is a symlink or a file (in this layer or below) is an error: writing below
    // it would either replace it with a directory (losing, say, a base's `/bin -> usr/bin`) or
    // make a layer that unpackers refuse.
    let blocked = |path: &ImagePath, blocker: &ImagePath, kind: &'static str, below: bool| {
        BuildError::BelowNonDirectory {
            layer: layer.name.clone(),
            path: path.absolute(),
            blocker: blocker.absolute(),
            kind,
            place: if below {
                "in the image below"
            } else {
                "in this layer"
            },
        }
    };
    let mut parents = BTreeMap::new();
    for path in plan.keys() {
        let mut parent = path.parent();
        while let Some(dir) = parent {
            if dir.is_root() || parents.contains_key(&dir) {
                break;
            }
            match plan.get(&dir) {
                Some(Planned::Dir { .. }) => break,
                Some(Planned::File { .. }) => return Err(blocked(path, &dir, "file", false)),
                Some(Planned::Symlink { .. }) => return Err(blocked(path, &dir, "symlink", false)),
                Some(Planned::Whiteout) => return Err(blocked(path, &dir, "whiteout", false)),
                None => {}
            }
            let entry = match tree.get(&dir) {
                Some(node) if node.file_type == FileType::Dir => Planned::Dir {
                    mode: node.mode,
                    uid: node.uid,
                    gid: node.gid,
                },
                Some(node) => {
                    let kind = match node.file_type {
                        FileType::Symlink => "symlink",
                        FileType::File => "file",
                        _ => "special file",
                    };
                    return Err(blocked(path, &dir, kind, true));
                }
                None => Planned::Dir {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                },
            };
            parent = dir.parent();
            parents.insert(dir, entry);
        }
    }
    plan.extend(parents);
    Ok(plan)
}

/// The input file planned at image path `path` by `copy`: the copy's source itself, or the file
/// below it at the same place as `path` is below the copy's destination (directories are
/// walked without following symlinks, so the two trees have the same shape).
fn file_source(copy: &CopySpec, path: &ImagePath) -> PathBuf {
    if path == &copy.dest {
        return copy.source.clone();
    }
    debug_assert!(
        path.is_below(&copy.dest),
        "{path} is not below {}",
        copy.dest
    );
    let below = if copy.dest.is_root() {
        path.as_relative()
    } else {
        &path.as_relative()[copy.dest.as_relative().len() + 1..]
    };
    copy.source.join(below)
}

fn file_type_is_socket(metadata: &fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    metadata.file_type().is_socket()
}

fn input_error(copy: &CopySpec, path: &Path, source: io::Error) -> BuildError {
    BuildError::Input {
        location: copy.location.clone(),
        path: path.to_path_buf(),
        source,
    }
}

fn write_spec_layer(
    store: &Store,
    layer: &LayerSpec,
    mtime: u64,
    tree: &mut FileTree,
    layer_index: usize,
) -> Result<BuiltLayer, BuildError> {
    let plan = plan_layer(layer, tree)?;
    let blob = store.blob_writer()?;
    let compressed = GzipWriter::new(blob);
    let mut tar = TarWriter::new(Sha256Writer::new(compressed));
    let mut buffer = vec![0u8; 256 * 1024];
    for (path, entry) in plan {
        let relative = path.relative();
        match entry {
            Planned::Dir { mode, uid, gid } => {
                let header = Header {
                    path: format!("{relative}/"),
                    kind: EntryKind::Directory,
                    mode,
                    uid,
                    gid,
                    size: 0,
                    mtime,
                };
                tar.write_header(&header).map_err(BuildError::Write)?;
                tree.insert(path, crate::layer::node_for(&header, None, layer_index));
            }
            Planned::Whiteout => {
                let header = Header {
                    path: relative,
                    kind: EntryKind::File,
                    mode: 0o644,
                    uid: 0,
                    gid: 0,
                    size: 0,
                    mtime,
                };
                tar.write_header(&header).map_err(BuildError::Write)?;
                let name = path.file_name().unwrap_or_default();
                let hidden = name
                    .strip_prefix(crate::layer::WHITEOUT_PREFIX)
                    .unwrap_or(name)
                    .to_string();
                let parent = path.parent().unwrap_or_else(ImagePath::root);
                tree.remove(&parent.join(&hidden));
            }
            Planned::Symlink { target, uid, gid } => {
                let header = Header {
                    path: relative,
                    kind: EntryKind::Symlink { target },
                    mode: 0o777,
                    uid,
                    gid,
                    size: 0,
                    mtime,
                };
                tar.write_header(&header).map_err(BuildError::Write)?;
                tree.insert(path, crate::layer::node_for(&header, None, layer_index));
            }
            Planned::File {
                copy,
                mode,
                uid,
                gid,
                size,
            } => {
                let copy = &layer.files[copy];
                let source = file_source(copy, &path);
                let location = &copy.location;
                let header = Header {
                    path: relative,
                    kind: EntryKind::File,
                    mode,
                    uid,
                    gid,
                    size,
                    mtime,
                };
                let read_error = |error| BuildError::Input {
                    location: location.clone(),
                    path: source.clone(),
                    source: error,
                };
                let mut file = File::open(&source).map_err(read_error)?;
                tar.write_header(&header).map_err(BuildError::Write)?;
                let mut hasher = Sha256::new();
                let mut copied = 0u64;
                loop {
                    let read = match file.read(&mut buffer) {
                        Ok(read) => read,
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                        Err(error) => return Err(read_error(error)),
                    };
                    if read == 0 {
                        break;
                    }
                    copied += read as u64;
                    if copied > size {
                        break;
                    }
                    hasher.update(&buffer[..read]);
                    tar.write_content(&buffer[..read])
                        .map_err(BuildError::Write)?;
                }
                if copied != size {
                    return Err(BuildError::InputChanged {
                        location: location.clone(),
                        path: source,
                    });
                }
                tar.pad(size).map_err(BuildError::Write)?;
                let digest = Digest::from_bytes(hasher.finalize().into());
                tree.insert(
                    path,
                    crate::layer::node_for(&header, Some(digest), layer_index),
                );
            }
        }
    }
    let hashing = tar.finish().map_err(BuildError::Write)?;
    let (diff_id, _, compressed) = hashing.finish();
    let blob = compressed.finish().map_err(BuildError::Write)?;
    let (digest, size) = blob.commit()?;
    Ok(BuiltLayer {
        name: layer.name.clone(),
        digest,
        diff_id,
        size,
        from_base: false,
    })
}

/// A reader that copies everything it reads into a writer.
struct TeeReader<R, W> {
    reader: R,
    writer: W,
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.reader.read(buf)?;
        self.writer.write_all(&buf[..read])?;
        Ok(read)
    }
}

fn import_rootfs(
    store: &Store,
    path: &Path,
    expected: &Digest,
    tree: &mut FileTree,
) -> Result<BuiltLayer, BuildError> {
    let read_error = |source| BuildError::BaseRead {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut hasher = Sha256Writer::new(io::sink());
    io::copy(&mut file, &mut hasher).map_err(read_error)?;
    let (actual, _, _) = hasher.finish();
    if actual != *expected {
        return Err(BuildError::BaseDigestMismatch {
            path: path.to_path_buf(),
            expected: *expected,
            actual,
        });
    }
    let mut file = File::open(path).map_err(read_error)?;
    let mut magic = [0u8; 2];
    let is_gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    drop(file);
    let file = io::BufReader::new(File::open(path).map_err(read_error)?);
    let uncompressed: Box<dyn Read> = if is_gzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let writer = Sha256Writer::new(GzipWriter::new(store.blob_writer()?));
    let mut tee = TeeReader {
        reader: uncompressed,
        writer,
    };
    apply_layer(&mut tee, tree, 0, ReadLimits::default()).map_err(|source| {
        BuildError::BaseLayer {
            digest: *expected,
            source,
        }
    })?;
    // Whatever follows the end-of-archive marker is part of the layer bytes too.
    io::copy(&mut tee, &mut io::sink()).map_err(read_error)?;
    let (diff_id, _, compressed) = tee.writer.finish();
    let blob = compressed.finish().map_err(BuildError::Write)?;
    let (digest, size) = blob.commit()?;
    Ok(BuiltLayer {
        name: "base rootfs".into(),
        digest,
        diff_id,
        size,
        from_base: true,
    })
}

struct OciBase {
    config: ImageConfiguration,
    descriptors: Vec<Descriptor>,
    layers: Vec<BuiltLayer>,
}

fn import_oci_base(
    store: &Store,
    layout: &Path,
    digest: &Digest,
    tree: &mut FileTree,
) -> Result<OciBase, BuildError> {
    let problem = |problem: String| BuildError::BaseImage {
        layout: layout.to_path_buf(),
        digest: *digest,
        problem,
    };
    let blob_path = |blob: &Digest| layout.join("blobs").join("sha256").join(blob.hex());
    let read_document = |blob: &Digest, what: &str| -> Result<Vec<u8>, BuildError> {
        let path = blob_path(blob);
        let file =
            File::open(&path).map_err(|error| problem(format!("{what} blob {blob}: {error}")))?;
        let mut bytes = Vec::new();
        file.take(JSON_DOCUMENT_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| problem(format!("{what} blob {blob}: {error}")))?;
        if bytes.len() as u64 > JSON_DOCUMENT_BYTES_MAX {
            return Err(problem(format!(
                "{what} is larger than {JSON_DOCUMENT_BYTES_MAX} bytes"
            )));
        }
        if Digest::of(&bytes) != *blob {
            return Err(problem(format!(
                "{what} blob {blob} does not match its digest"
            )));
        }
        Ok(bytes)
    };
    let manifest_bytes = read_document(digest, "manifest")?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|error| problem(format!("manifest is not an OCI image manifest: {error}")))?;
    if let Some(media_type) = &manifest.media_type {
        if media_type != MEDIA_TYPE_MANIFEST && media_type != MEDIA_TYPE_DOCKER_MANIFEST {
            return Err(problem(format!("media type `{media_type}` is not an image manifest (an index must be resolved to one platform's manifest)")));
        }
    }
    let config_bytes = read_document(&manifest.config.digest, "config")?;
    let config: ImageConfiguration = serde_json::from_slice(&config_bytes)
        .map_err(|error| problem(format!("config is not an OCI image configuration: {error}")))?;
    if config.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(problem(format!(
            "{} layers but {} diff_ids",
            manifest.layers.len(),
            config.rootfs.diff_ids.len()
        )));
    }
    let mut descriptors = Vec::new();
    let mut layers = Vec::new();
    for (index, (descriptor, diff_id)) in manifest
        .layers
        .iter()
        .zip(&config.rootfs.diff_ids)
        .enumerate()
    {
        let gzip = match descriptor.media_type.as_str() {
            MEDIA_TYPE_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => true,
            MEDIA_TYPE_LAYER_TAR => false,
            other => {
                return Err(problem(format!(
                    "layer {} has unsupported media type `{other}`",
                    descriptor.digest
                )))
            }
        };
        // Copy the blob into the store, checking its digest on the way.
        let source = blob_path(&descriptor.digest);
        let mut file = File::open(&source)
            .map_err(|error| problem(format!("layer blob {}: {error}", descriptor.digest)))?;
        let mut blob = store.blob_writer()?;
        io::copy(&mut file, &mut blob)
            .map_err(|error| problem(format!("layer blob {}: {error}", descriptor.digest)))?;
        let (copied, size) = blob.commit()?;
        if copied != descriptor.digest || size != descriptor.size {
            return Err(problem(format!(
                "layer blob {} does not match its descriptor",
                descriptor.digest
            )));
        }
        let file = io::BufReader::new(store.open_blob(&copied)?);
        let reader: Box<dyn Read> = if gzip {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut hashing = HashingReader {
            inner: reader,
            hasher: Sha256::new(),
        };
        apply_layer(&mut hashing, tree, index, ReadLimits::default()).map_err(|source| {
            BuildError::BaseLayer {
                digest: descriptor.digest,
                source,
            }
        })?;
        io::copy(&mut hashing, &mut io::sink())
            .map_err(|error| problem(format!("layer blob {}: {error}", descriptor.digest)))?;
        let actual = Digest::from_bytes(hashing.hasher.finalize().into());
        if actual != *diff_id {
            return Err(problem(format!(
                "layer {} uncompressed hashes to {actual}, but the config's diff_id is {diff_id}",
                descriptor.digest
            )));
        }
        let mut ours = descriptor.clone();
        if ours.media_type == MEDIA_TYPE_DOCKER_LAYER_GZIP {
            ours.media_type = MEDIA_TYPE_LAYER_GZIP.into();
        }
        descriptors.push(ours);
        layers.push(BuiltLayer {
            name: format!("base layer {}", index + 1),
            digest: descriptor.digest,
            diff_id: *diff_id,
            size: descriptor.size,
            from_base: true,
        });
    }
    Ok(OciBase {
        config,
        descriptors,
        layers,
    })
}

/// A reader that hashes what passes through.
pub struct HashingReader<R> {
    pub inner: R,
    pub hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        Ok(read)
    }
}
