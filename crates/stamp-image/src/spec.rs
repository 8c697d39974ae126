//! `stamp.toml`: the declarative image spec kept in source control (documented in
//! `docs/stamp-toml.md`).
//!
//! Parsing is strict: unknown keys, wrong types, an unpinned base, a missing input file or an
//! invalid path are errors that name the file, line and column. Paths in the spec are relative
//! to the directory holding `stamp.toml`, so the spec builds the same from any working
//! directory.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stamp_core::Digest;
use toml::Spanned;

use crate::path::ImagePath;

mod check;
pub use check::{load_check, CheckSpec, AUDIT_FAIL_ON_DEFAULT, AUDIT_FAIL_ON_VALUES};
mod env;
pub use env::{
    parse_timeout, EnvSpec, EnvTarget, HealthProbe, HealthSpec, PortRange, ENV_APPROVALS_MAX,
    ENV_REPLICAS_MAX, HEALTH_TIMEOUT_DEFAULT,
};

/// Largest `stamp.toml` accepted.
pub const SPEC_BYTES_MAX: u64 = 1 << 20;

/// Where in a spec something was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A problem with a spec, at a place in it.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SpecError {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

/// Why a spec could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadSpecError {
    #[error("reading `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is {size} bytes, over the limit of {SPEC_BYTES_MAX}", .path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error(transparent)]
    Invalid(#[from] SpecError),
}

/// The base an image starts from, always pinned by digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An image manifest in a local OCI image layout.
    OciLayout {
        layout: PathBuf,
        digest: Digest,
    },
    /// A root filesystem tarball (plain or gzip) with the SHA-256 of the file.
    Rootfs {
        path: PathBuf,
        sha256: Digest,
    },
}

/// Files copied from the repository into a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopySpec {
    /// Absolute source path on this machine (resolved against the spec's directory).
    pub source: PathBuf,
    /// As written in the spec, for messages.
    pub source_text: String,
    pub location: Location,
    pub dest: ImagePath,
    /// Mode of a copied file, or of every file when copying a directory.
    pub mode: Option<u32>,
    /// Mode of directories when copying a directory (default `0755`).
    pub dir_mode: Option<u32>,
    pub uid: u64,
    pub gid: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirSpec {
    pub path: ImagePath,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymlinkSpec {
    pub path: ImagePath,
    pub target: String,
    pub uid: u64,
    pub gid: u64,
}

/// One layer made from repository content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub name: String,
    pub files: Vec<CopySpec>,
    pub dirs: Vec<DirSpec>,
    pub symlinks: Vec<SymlinkSpec>,
    /// Paths of lower layers (the base included) this layer deletes, written as OCI whiteouts.
    pub remove: Vec<ImagePath>,
}

/// How containers of the image run (OCI image config `config`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigSpec {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub exposed_ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
}

/// A validated image spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The spec file.
    pub path: PathBuf,
    /// The directory paths are relative to.
    pub dir: PathBuf,
    pub name: String,
    pub tag: String,
    pub source_date_epoch: Option<u64>,
    pub architecture: String,
    pub os: String,
    /// Paths a running instance may write to; drift detection leaves them out.
    pub writable: Vec<ImagePath>,
    pub base: Base,
    pub layers: Vec<LayerSpec>,
    pub config: ConfigSpec,
    /// `[env.NAME]` tables: where and how each environment runs the image.
    pub environments: BTreeMap<String, EnvSpec>,
    /// The `[check]` table: settings of `stamp check`.
    pub check: CheckSpec,
}

impl Spec {
    /// `name:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    image: RawImage,
    base: Spanned<RawBase>,
    #[serde(default)]
    layers: Vec<RawLayer>,
    #[serde(default)]
    config: RawConfig,
    #[serde(default)]
    env: BTreeMap<Spanned<String>, Spanned<env::RawEnv>>,
    #[serde(default)]
    check: Option<Spanned<check::RawCheck>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImage {
    name: Spanned<String>,
    tag: Option<Spanned<String>>,
    source_date_epoch: Option<Spanned<i64>>,
    architecture: Option<String>,
    os: Option<String>,
    #[serde(default)]
    writable: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBase {
    scratch: Option<Spanned<bool>>,
    oci_layout: Option<Spanned<String>>,
    digest: Option<Spanned<String>>,
    rootfs: Option<Spanned<String>>,
    sha256: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: Option<String>,
    #[serde(default)]
    files: Vec<RawFile>,
    #[serde(default)]
    dirs: Vec<RawDir>,
    #[serde(default)]
    symlinks: Vec<RawSymlink>,
    #[serde(default)]
    remove: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    src: Spanned<String>,
    dest: Spanned<String>,
    mode: Option<Spanned<String>>,
    dir_mode: Option<Spanned<String>>,
    #[serde(default)]
    uid: u64,
    #[serde(default)]
    gid: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDir {
    path: Spanned<String>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    uid: u64,
    #[serde(default)]
    gid: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSymlink {
    path: Spanned<String>,
    target: Spanned<String>,
    #[serde(default)]
    uid: u64,
    #[serde(default)]
    gid: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    user: Option<String>,
    workdir: Option<Spanned<String>>,
    #[serde(default)]
    exposed_ports: Vec<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    stop_signal: Option<String>,
}

/// Read and validate the spec at `path`.
pub fn load(path: &Path) -> Result<Spec, LoadSpecError> {
    let (text, absolute) = read_spec_file(path)?;
    Ok(parse(&text, &absolute)?)
}

/// The text of the spec file at `path` (at most [`SPEC_BYTES_MAX`] bytes) and its absolute
/// path, which errors name and relative inputs are resolved against.
pub(crate) fn read_spec_file(path: &Path) -> Result<(String, PathBuf), LoadSpecError> {
    let read_error = |source| LoadSpecError::Read {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    if size > SPEC_BYTES_MAX {
        return Err(LoadSpecError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let absolute = std::path::absolute(path).map_err(read_error)?;
    Ok((text, absolute))
}

/// Validate spec `text` that lives at `path` (used for locations and relative paths).
pub fn parse(text: &str, path: &Path) -> Result<Spec, SpecError> {
    let locate = |offset: usize| location_of(text, path, offset);
    let error_at = |offset: usize, message: String| SpecError {
        location: locate(offset),
        message,
        hint: None,
    };
    let raw: RawSpec = toml::from_str(text).map_err(|error| {
        let offset = error.span().map(|span| span.start).unwrap_or(0);
        SpecError {
            location: locate(offset),
            message: error.message().trim_end().to_string(),
            hint: Some("see docs/stamp-toml.md for every key stamp.toml accepts".to_string()),
        }
    })?;
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();

    let name = raw.image.name.get_ref();
    if !valid_name(name) {
        return Err(error_at(
            raw.image.name.span().start,
            format!("image name `{name}` must be lower-case letters, digits and `._-/` separators"),
        ));
    }
    let tag = match &raw.image.tag {
        Some(tag) if !valid_tag(tag.get_ref()) => {
            return Err(error_at(
                tag.span().start,
                format!(
                    "tag `{}` must be 1–128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`",
                    tag.get_ref()
                ),
            ))
        }
        Some(tag) => tag.get_ref().clone(),
        None => "latest".to_string(),
    };
    let source_date_epoch = match &raw.image.source_date_epoch {
        Some(epoch) if *epoch.get_ref() < 0 => {
            return Err(error_at(
                epoch.span().start,
                "source_date_epoch must not be negative".to_string(),
            ))
        }
        Some(epoch) => Some(*epoch.get_ref() as u64),
        None => None,
    };
    let mut writable = Vec::new();
    for entry in &raw.image.writable {
        writable
            .push(ImagePath::parse_absolute(entry.get_ref()).map_err(|error| {
                error_at(entry.span().start, format!("writable path: {error}"))
            })?);
    }

    let base = parse_base(&raw.base, &dir, &error_at)?;

    let mut layers = Vec::new();
    for (number, layer) in raw.layers.iter().enumerate() {
        layers.push(parse_layer(layer, number, &dir, &locate, &error_at)?);
    }

    let config = &raw.config;
    if let Some(workdir) = &config.workdir {
        if !workdir.get_ref().starts_with('/') {
            return Err(error_at(
                workdir.span().start,
                format!("workdir `{}` must be an absolute path", workdir.get_ref()),
            ));
        }
    }
    let mut exposed_ports = Vec::new();
    for port in &config.exposed_ports {
        if !valid_port(port.get_ref()) {
            return Err(error_at(
                port.span().start,
                format!(
                    "exposed port `{}` must look like `8080/tcp`, `53/udp` or `8080`",
                    port.get_ref()
                ),
            ));
        }
        let text = port.get_ref();
        exposed_ports.push(if text.contains('/') {
            text.clone()
        } else {
            format!("{text}/tcp")
        });
    }
    exposed_ports.sort();
    exposed_ports.dedup();
    let environments = env::parse_environments(&raw.env, text, &error_at, &locate)?;
    let check = check::parse_check(raw.check.as_ref(), &dir, &error_at)?;

    Ok(Spec {
        path: path.to_path_buf(),
        dir,
        name: name.clone(),
        tag,
        source_date_epoch,
        architecture: raw
            .image
            .architecture
            .clone()
            .unwrap_or_else(|| "amd64".into()),
        os: raw.image.os.clone().unwrap_or_else(|| "linux".into()),
        writable,
        base,
        layers,
        config: ConfigSpec {
            entrypoint: config.entrypoint.clone(),
            cmd: config.cmd.clone(),
            env: config.env.clone(),
            user: config.user.clone(),
            workdir: config.workdir.as_ref().map(|w| w.get_ref().clone()),
            exposed_ports,
            labels: config.labels.clone(),
            stop_signal: config.stop_signal.clone(),
        },
        environments,
        check,
    })
}

/// Only the `[env.NAME]` tables of the spec at `path`. The whole file is still parsed strictly
/// (unknown keys and wrong types anywhere are errors), but layer inputs need not exist, so an
/// environment can be read where the image's inputs were never built.
pub fn load_environments(path: &Path) -> Result<BTreeMap<String, EnvSpec>, LoadSpecError> {
    let (text, absolute) = read_spec_file(path)?;
    Ok(parse_environments_text(&text, &absolute)?)
}

/// The `[env.NAME]` tables of spec `text` living at `path` (see [`load_environments`]).
pub fn parse_environments_text(
    text: &str,
    path: &Path,
) -> Result<BTreeMap<String, EnvSpec>, SpecError> {
    let locate = |offset: usize| location_of(text, path, offset);
    let error_at = |offset: usize, message: String| SpecError {
        location: locate(offset),
        message,
        hint: None,
    };
    let raw: RawSpec = toml::from_str(text).map_err(|error| SpecError {
        location: locate(error.span().map(|span| span.start).unwrap_or(0)),
        message: error.message().trim_end().to_string(),
        hint: Some("see docs/stamp-toml.md for every key stamp.toml accepts".to_string()),
    })?;
    env::parse_environments(&raw.env, text, &error_at, &locate)
}

fn parse_base(
    raw: &Spanned<RawBase>,
    dir: &Path,
    error_at: &impl Fn(usize, String) -> SpecError,
) -> Result<Base, SpecError> {
    let base = raw.get_ref();
    let start = raw.span().start;
    let chosen = [
        base.scratch.as_ref().map(|s| *s.get_ref()).unwrap_or(false),
        base.oci_layout.is_some(),
        base.rootfs.is_some(),
    ]
    .iter()
    .filter(|&&set| set)
    .count();
    if chosen != 1 {
        return Err(SpecError {
            hint: Some(
                "write `scratch = true`, or `oci_layout` with `digest`, or `rootfs` with `sha256`"
                    .into(),
            ),
            ..error_at(start, "[base] must name exactly one base".into())
        });
    }
    let unpinned = |what: &str, key: &str| {
        SpecError {
        hint: Some(format!(
            "pin the base: add `{key} = \"sha256:…\"` with the digest you reviewed; a base that is not pinned could change under the same spec"
        )),
        ..error_at(start, format!("base {what} is not pinned by digest"))
    }
    };
    let parse_digest = |value: &Spanned<String>| -> Result<Digest, SpecError> {
        let text = value.get_ref();
        let full = if text.starts_with("sha256:") {
            text.clone()
        } else {
            format!("sha256:{text}")
        };
        full.parse()
            .map_err(|error| error_at(value.span().start, format!("{error}")))
    };
    if let Some(layout) = &base.oci_layout {
        if base.sha256.is_some() {
            return Err(error_at(
                start,
                "an `oci_layout` base is pinned with `digest`, not `sha256`".into(),
            ));
        }
        let digest = base
            .digest
            .as_ref()
            .ok_or_else(|| unpinned("`oci_layout`", "digest"))?;
        return Ok(Base::OciLayout {
            layout: dir.join(layout.get_ref()),
            digest: parse_digest(digest)?,
        });
    }
    if let Some(rootfs) = &base.rootfs {
        if base.digest.is_some() {
            return Err(error_at(
                start,
                "a `rootfs` base is pinned with `sha256`, not `digest`".into(),
            ));
        }
        let sha256 = base
            .sha256
            .as_ref()
            .ok_or_else(|| unpinned("`rootfs`", "sha256"))?;
        return Ok(Base::Rootfs {
            path: dir.join(rootfs.get_ref()),
            sha256: parse_digest(sha256)?,
        });
    }
    if base.digest.is_some() || base.sha256.is_some() {
        return Err(error_at(start, "a `scratch` base takes no digest".into()));
    }
    Ok(Base::Scratch)
}

fn parse_layer(
    raw: &RawLayer,
    number: usize,
    dir: &Path,
    locate: &impl Fn(usize) -> Location,
    error_at: &impl Fn(usize, String) -> SpecError,
) -> Result<LayerSpec, SpecError> {
    let path_at = |value: &Spanned<String>, what: &str| {
        let path = ImagePath::parse_absolute(value.get_ref())
            .map_err(|error| error_at(value.span().start, format!("{what}: {error}")))?;
        // A name starting with `.wh.` is an OCI whiteout marker: written into a layer it would
        // delete files instead of adding one. Deletions are said with `remove`.
        if path
            .components()
            .any(|name| name.starts_with(crate::layer::WHITEOUT_PREFIX))
        {
            return Err(SpecError {
                hint: Some(
                    "to delete a path of a lower layer, list it in the layer's `remove`".into(),
                ),
                ..error_at(
                    value.span().start,
                    format!(
                        "{what} `{}` has a `.wh.` name, which OCI layers reserve for deletions",
                        value.get_ref()
                    ),
                )
            });
        }
        Ok(path)
    };
    let mode_at = |value: &Option<Spanned<String>>| -> Result<Option<u32>, SpecError> {
        value
            .as_ref()
            .map(|mode| {
                parse_mode(mode.get_ref()).ok_or_else(|| SpecError {
                    hint: Some(
                        "write modes as octal strings, for example `mode = \"0755\"`".into(),
                    ),
                    ..error_at(
                        mode.span().start,
                        format!("mode `{}` is not an octal mode up to 7777", mode.get_ref()),
                    )
                })
            })
            .transpose()
    };
    let mut files = Vec::new();
    for file in &raw.files {
        let source_text = file.src.get_ref().clone();
        let source = dir.join(&source_text);
        let location = locate(file.src.span().start);
        if std::fs::symlink_metadata(&source).is_err() {
            return Err(SpecError {
                location,
                message: format!(
                    "input `{source_text}` does not exist (looked for `{}`)",
                    source.display()
                ),
                hint: Some("paths in stamp.toml are relative to the directory holding it".into()),
            });
        }
        let dest = path_at(&file.dest, "dest")?;
        if dest.is_root() {
            return Err(error_at(
                file.dest.span().start,
                "dest must not be `/`".into(),
            ));
        }
        files.push(CopySpec {
            source,
            source_text,
            location,
            dest,
            mode: mode_at(&file.mode)?,
            dir_mode: mode_at(&file.dir_mode)?,
            uid: file.uid,
            gid: file.gid,
        });
    }
    let mut dirs = Vec::new();
    for entry in &raw.dirs {
        dirs.push(DirSpec {
            path: path_at(&entry.path, "dir path")?,
            mode: mode_at(&entry.mode)?.unwrap_or(0o755),
            uid: entry.uid,
            gid: entry.gid,
        });
    }
    let mut symlinks = Vec::new();
    for link in &raw.symlinks {
        let path = path_at(&link.path, "symlink path")?;
        if link.target.get_ref().is_empty() || link.target.get_ref().contains('\0') {
            return Err(error_at(
                link.target.span().start,
                "symlink target must be a non-empty path".into(),
            ));
        }
        symlinks.push(SymlinkSpec {
            path,
            target: link.target.get_ref().clone(),
            uid: link.uid,
            gid: link.gid,
        });
    }
    let mut remove = Vec::new();
    for path in &raw.remove {
        let parsed = path_at(path, "remove")?;
        if parsed.is_root() {
            return Err(error_at(path.span().start, "remove must not be `/`".into()));
        }
        remove.push(parsed);
    }
    Ok(LayerSpec {
        name: raw
            .name
            .clone()
            .unwrap_or_else(|| format!("layer {}", number + 1)),
        files,
        dirs,
        symlinks,
        remove,
    })
}

fn location_of(text: &str, file: &Path, offset: usize) -> Location {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    Location {
        file: file.to_path_buf(),
        line,
        column: text[line_start..offset].chars().count() + 1,
    }
}

fn parse_mode(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777)
}

/// OCI distribution repository name components: lower-case alphanumerics with `.`, `_`, `__`,
/// `-` separators, joined by `/`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|component| {
            let bytes = component.as_bytes();
            !bytes.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes.iter().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        })
}

fn valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn valid_port(text: &str) -> bool {
    let (number, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    matches!(protocol, "tcp" | "udp" | "sctp") && number.parse::<u16>().is_ok_and(|port| port > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Spec, SpecError> {
        parse(text, Path::new("/nonexistent/stamp.toml"))
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let error = parse_text("[image]\nname = \"a\"\nnmae = \"b\"\n[base]\nscratch = true\n")
            .unwrap_err();
        assert_eq!(error.location.line, 3);
        assert_eq!(error.location.column, 1);
        assert!(
            error.message.contains("unknown field `nmae`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn type_error_names_the_place() {
        let error = parse_text("[image]\nname = 5\n[base]\nscratch = true\n").unwrap_err();
        assert_eq!(error.location.line, 2);
        assert!(error.message.contains("string"), "{}", error.message);
    }

    #[test]
    fn unpinned_base_is_an_error_with_a_hint() {
        let error = parse_text("[image]\nname = \"a\"\n[base]\nrootfs = \"r.tar\"\n").unwrap_err();
        assert!(error.message.contains("not pinned"), "{}", error.message);
        assert!(error.hint.unwrap().contains("sha256"));
        let error = parse_text("[image]\nname = \"a\"\n[base]\noci_layout = \"l\"\n").unwrap_err();
        assert!(error.message.contains("not pinned"));
    }

    #[test]
    fn exactly_one_base() {
        let error = parse_text(
            "[image]\nname = \"a\"\n[base]\nscratch = true\nrootfs = \"r\"\nsha256 = \"x\"\n",
        )
        .unwrap_err();
        assert!(error.message.contains("exactly one"));
    }

    #[test]
    fn modes_are_octal_strings() {
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("4755"), Some(0o4755));
        assert_eq!(parse_mode("0o644"), Some(0o644));
        assert_eq!(parse_mode("8"), None);
        assert_eq!(parse_mode("17777"), None);
    }

    #[test]
    fn names_tags_ports() {
        assert!(valid_name("payments-api"));
        assert!(valid_name("acme/payments.api"));
        assert!(!valid_name("Payments"));
        assert!(!valid_name("-x"));
        assert!(valid_tag("v1.2.3"));
        assert!(!valid_tag(".x"));
        assert!(valid_port("8080/tcp"));
        assert!(valid_port("53/udp"));
        assert!(!valid_port("0/tcp"));
        assert!(!valid_port("80/http"));
    }

    #[test]
    fn scratch_spec_parses_with_defaults() {
        let spec = parse_text(
            "[image]\nname = \"a\"\nwritable = [\"/tmp\"]\n[base]\nscratch = true\n[config]\nuser = \"1000:1000\"\nexposed_ports = [\"8080\"]\n",
        )
        .unwrap();
        assert_eq!(spec.tag, "latest");
        assert_eq!(spec.base, Base::Scratch);
        assert_eq!(spec.config.exposed_ports, ["8080/tcp"]);
        assert_eq!(spec.writable[0].absolute(), "/tmp");
        assert_eq!(spec.architecture, "amd64");
    }
}
