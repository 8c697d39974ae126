//! The file manifest: every path of an image's final root filesystem with its type, mode,
//! owner, size, content digest and link target, and one root digest over all of it.
//!
//! It is computed from the layers (all applied in order, OCI whiteouts honoured) without
//! touching a disk, kept in the store against the image digest, and is what drift detection
//! (PCI DSS 11.5.2) compares running instances with. The `mtree` export is mtree(5) in the
//! full-path form, checked by NetBSD mtree in the tests.
//!
//! The root digest is SHA-256 over the canonical JSON of the `entries` array (compact, fields in
//! the order defined below, entries in component order), so anyone can recompute it.

use std::collections::{BTreeMap, BTreeSet};

use std::io::Write as _;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use stamp_core::Digest;

use crate::path::ImagePath;

/// Schema identifier written into every manifest.
pub const SCHEMA: &str = "https://stamp.dev/file-manifest/v1";

/// The type of one filesystem object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    Dir,
    File,
    Symlink,
    Char,
    Block,
    Fifo,
}

/// One path of the root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Absolute path (`/usr/bin/app`; `/` for the root).
    pub path: String,
    #[serde(rename = "type")]
    pub file_type: FileType,
    /// Permission bits as four octal digits (`0755`, `4755`).
    pub mode: String,
    pub uid: u64,
    pub gid: u64,
    /// Content size in bytes, for regular files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Content digest, for regular files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Symlink target, exactly as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Device numbers, for character and block devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<(u32, u32)>,
}

/// The manifest of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileManifest {
    pub schema: String,
    /// Digest of the image manifest this describes.
    pub image: Digest,
    pub root_digest: Digest,
    pub entries: Vec<FileEntry>,
}

/// The attributes of one node while layers are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub file_type: FileType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    pub sha256: Option<Digest>,
    pub target: Option<String>,
    pub device: Option<(u32, u32)>,
    /// Index of the layer that last wrote this node (opaque whiteouts only hide lower layers).
    pub layer: usize,
}

impl Node {
    /// A `0755 root:root` directory, as container runtimes create missing parents.
    pub fn directory(layer: usize) -> Self {
        Node {
            file_type: FileType::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            size: 0,
            sha256: None,
            target: None,
            device: None,
            layer,
        }
    }
}

/// A root filesystem built up layer by layer, in memory.
#[derive(Clone, Debug, Default)]
pub struct FileTree {
    nodes: BTreeMap<ImagePath, Node>,
}

impl FileTree {
    pub fn new() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(ImagePath::root(), Node::directory(0));
        FileTree { nodes }
    }

    pub fn get(&self, path: &ImagePath) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Put `node` at `path`, replacing what was there (a directory replaced by a non-directory
    /// loses its children), and creating missing parent directories as `0755 root:root`, as
    /// container runtimes do.
    pub fn insert(&mut self, path: ImagePath, node: Node) {
        let mut ancestors = Vec::new();
        let mut parent = path.parent();
        while let Some(dir) = parent {
            parent = dir.parent();
            ancestors.push(dir);
        }
        for dir in ancestors.into_iter().rev() {
            let needs_dir =
                !matches!(self.nodes.get(&dir), Some(n) if n.file_type == FileType::Dir);
            if needs_dir {
                self.remove(&dir);
                self.nodes.insert(dir, Node::directory(node.layer));
            } else if let Some(existing) = self.nodes.get_mut(&dir) {
                // The directory is part of this layer now: an opaque whiteout later in the
                // same layer must not hide it (nor what the layer put in it).
                existing.layer = existing.layer.max(node.layer);
            }
        }
        let keeps_children = node.file_type == FileType::Dir
            && matches!(self.nodes.get(&path), Some(n) if n.file_type == FileType::Dir);
        if !keeps_children {
            self.remove_below(&path);
        }
        self.nodes.insert(path, node);
    }

    /// The nearest ancestor of `path` that exists and is not a directory: a later entry below it
    /// would have to be written through a symlink or into a file, which layers may not do.
    pub fn blocking_ancestor(&self, path: &ImagePath) -> Option<ImagePath> {
        let mut ancestors = Vec::new();
        let mut parent = path.parent();
        while let Some(dir) = parent {
            parent = dir.parent();
            ancestors.push(dir);
        }
        ancestors.into_iter().rev().find(
            |dir| matches!(self.nodes.get(dir), Some(node) if node.file_type != FileType::Dir),
        )
    }

    /// Remove `path` and everything below it.
    pub fn remove(&mut self, path: &ImagePath) {
        if path.is_root() {
            return;
        }
        self.remove_below(path);
        self.nodes.remove(path);
    }

    fn remove_below(&mut self, path: &ImagePath) {
        let below: Vec<ImagePath> = self
            .nodes
            .range(path.clone()..)
            .skip(1)
            .take_while(|(candidate, _)| candidate.is_below(path))
            .map(|(candidate, _)| candidate.clone())
            .collect();
        for candidate in below {
            self.nodes.remove(&candidate);
        }
    }

    /// Apply an opaque whiteout: hide everything below `dir` that came from layers before
    /// `layer`.
    pub fn make_opaque(&mut self, dir: &ImagePath, layer: usize) {
        let hidden: BTreeSet<ImagePath> = self
            .nodes
            .range(dir.clone()..)
            .skip(1)
            .take_while(|(candidate, _)| candidate.is_below(dir))
            .filter(|(_, node)| node.layer < layer)
            .map(|(candidate, _)| candidate.clone())
            .collect();
        for path in hidden {
            self.nodes.remove(&path);
        }
    }

    /// The manifest of this tree, for the image with manifest digest `image`.
    pub fn to_manifest(&self, image: Digest) -> FileManifest {
        let entries: Vec<FileEntry> = self
            .nodes
            .iter()
            .map(|(path, node)| file_entry(path, node))
            .collect();
        let root_digest = root_digest(&entries);
        FileManifest {
            schema: SCHEMA.to_string(),
            image,
            root_digest,
            entries,
        }
    }

    /// The root digest of [`FileTree::to_manifest`], computed without building the entries.
    pub fn root_digest(&self) -> Digest {
        let mut writer = stamp_core::Sha256Writer::new(std::io::sink());
        serde_json::to_writer(&mut writer, &TreeEntries(self))
            .expect("file entries always serialize");
        writer.finish().0
    }

    /// Write the JSON of [`FileTree::to_manifest`] (the same bytes `serde_json::to_writer`
    /// gives for it) one entry at a time, so that the entries are never all in memory at once.
    /// `root_digest` is [`FileTree::root_digest`].
    pub fn write_manifest(
        &self,
        image: &Digest,
        root_digest: &Digest,
        writer: impl std::io::Write,
    ) -> serde_json::Result<()> {
        serde_json::to_writer(
            writer,
            &ManifestView {
                schema: SCHEMA,
                image,
                root_digest,
                entries: TreeEntries(self),
            },
        )
    }
}

/// The manifest entry of `node` at `path`.
fn file_entry(path: &ImagePath, node: &Node) -> FileEntry {
    FileEntry {
        path: path.absolute(),
        file_type: node.file_type,
        mode: format!("{:04o}", node.mode & 0o7777),
        uid: node.uid,
        gid: node.gid,
        size: (node.file_type == FileType::File).then_some(node.size),
        sha256: node.sha256.map(|digest| digest.hex()),
        target: node.target.clone(),
        device: node.device,
    }
}

/// A [`FileManifest`] whose entries come from a tree as they are serialized: same field names
/// in the same order, so the same JSON.
#[derive(Serialize)]
struct ManifestView<'a> {
    schema: &'a str,
    image: &'a Digest,
    root_digest: &'a Digest,
    entries: TreeEntries<'a>,
}

/// The entries of a tree, serialized as the `entries` array, one [`FileEntry`] at a time.
struct TreeEntries<'a>(&'a FileTree);

impl Serialize for TreeEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.0
                .nodes
                .iter()
                .map(|(path, node)| file_entry(path, node)),
        )
    }
}

/// SHA-256 of the compact JSON of `entries`.
pub fn root_digest(entries: &[FileEntry]) -> Digest {
    // Hashed as it is serialized, so a manifest of a million entries is never held as text.
    let mut writer = stamp_core::Sha256Writer::new(std::io::sink());
    serde_json::to_writer(&mut writer, entries).expect("file entries always serialize");
    writer.finish().0
}

/// What [`scan_manifest`] found in a manifest's JSON.
#[derive(Debug)]
pub struct ManifestScan {
    /// The image the manifest says it describes.
    pub image: Digest,
    /// The root digest the manifest states.
    pub root_digest: Digest,
    /// The root digest its entries hash to (equal to `root_digest` unless it was altered).
    pub actual_root_digest: Digest,
    /// How many entries it has.
    pub count: usize,
    /// The entries `keep` chose, in manifest order.
    pub kept: Vec<FileEntry>,
}

/// Read a manifest's JSON one entry at a time, hashing the entries as they go by and holding
/// only those `keep` chooses, so finding a few paths in a manifest of a million entries takes
/// little memory. The JSON is held to the same rules as deserializing a [`FileManifest`].
pub fn scan_manifest(
    reader: impl std::io::Read,
    mut keep: impl FnMut(&FileEntry) -> bool,
) -> serde_json::Result<ManifestScan> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let scan = ManifestSeed { keep: &mut keep }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(scan)
}

const MANIFEST_FIELDS: &[&str] = &["schema", "image", "root_digest", "entries"];

struct ManifestSeed<'k, K> {
    keep: &'k mut K,
}

impl<'de, K: FnMut(&FileEntry) -> bool> DeserializeSeed<'de> for ManifestSeed<'_, K> {
    type Value = ManifestScan;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ManifestScan, D::Error> {
        deserializer.deserialize_struct("FileManifest", MANIFEST_FIELDS, self)
    }
}

impl<'de, K: FnMut(&FileEntry) -> bool> Visitor<'de> for ManifestSeed<'_, K> {
    type Value = ManifestScan;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a stamp file manifest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ManifestScan, A::Error> {
        let mut schema: Option<String> = None;
        let mut image: Option<Digest> = None;
        let mut root_digest: Option<Digest> = None;
        let mut entries: Option<(Digest, usize, Vec<FileEntry>)> = None;
        let keep = self.keep;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "schema" if schema.is_none() => schema = Some(map.next_value()?),
                "image" if image.is_none() => image = Some(map.next_value()?),
                "root_digest" if root_digest.is_none() => root_digest = Some(map.next_value()?),
                "entries" if entries.is_none() => {
                    entries = Some(map.next_value_seed(EntriesSeed { keep: &mut *keep })?)
                }
                "schema" | "image" | "root_digest" | "entries" => {
                    return Err(A::Error::custom(format_args!("duplicate field `{key}`")))
                }
                other => return Err(A::Error::unknown_field(other, MANIFEST_FIELDS)),
            }
        }
        schema.ok_or_else(|| A::Error::missing_field("schema"))?;
        let (actual_root_digest, count, kept) =
            entries.ok_or_else(|| A::Error::missing_field("entries"))?;
        Ok(ManifestScan {
            image: image.ok_or_else(|| A::Error::missing_field("image"))?,
            root_digest: root_digest.ok_or_else(|| A::Error::missing_field("root_digest"))?,
            actual_root_digest,
            count,
            kept,
        })
    }
}

/// The `entries` array: each entry re-serialized into the hash exactly as [`root_digest`]
/// serializes a list of them (`[`, entries separated by `,`, `]`).
struct EntriesSeed<'k, K> {
    keep: &'k mut K,
}

impl<'de, K: FnMut(&FileEntry) -> bool> DeserializeSeed<'de> for EntriesSeed<'_, K> {
    type Value = (Digest, usize, Vec<FileEntry>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, K: FnMut(&FileEntry) -> bool> Visitor<'de> for EntriesSeed<'_, K> {
    type Value = (Digest, usize, Vec<FileEntry>);

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a list of file entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut hasher = stamp_core::Sha256Writer::new(std::io::sink());
        let mut count = 0usize;
        let mut kept = Vec::new();
        hasher.write_all(b"[").expect("hashing never fails");
        while let Some(entry) = seq.next_element::<FileEntry>()? {
            if count > 0 {
                hasher.write_all(b",").expect("hashing never fails");
            }
            serde_json::to_writer(&mut hasher, &entry).expect("file entries always serialize");
            count += 1;
            if (self.keep)(&entry) {
                kept.push(entry);
            }
        }
        hasher.write_all(b"]").expect("hashing never fails");
        Ok((hasher.finish().0, count, kept))
    }
}

impl FileManifest {
    /// Recompute the root digest and compare it with the stored one.
    pub fn root_digest_matches(&self) -> bool {
        root_digest(&self.entries) == self.root_digest
    }

    /// mtree(5) specification in the full-path form, with the keywords NetBSD mtree knows:
    /// `type mode uid gid size sha256 link`. Directory sizes and times are left out: they
    /// depend on the filesystem and the clock, not on the image.
    pub fn to_mtree(&self) -> String {
        let mut out = String::from("#mtree\n");
        for entry in &self.entries {
            let path = if entry.path == "/" {
                ".".to_string()
            } else {
                format!(".{}", mtree_escape(&entry.path))
            };
            out.push_str(&path);
            let kind = match entry.file_type {
                FileType::Dir => "dir",
                FileType::File => "file",
                FileType::Symlink => "link",
                FileType::Char => "char",
                FileType::Block => "block",
                FileType::Fifo => "fifo",
            };
            out.push_str(&format!(" type={kind}"));
            if entry.path != "/" && entry.file_type != FileType::Symlink {
                out.push_str(&format!(" mode={}", entry.mode));
            }
            if entry.path != "/" {
                out.push_str(&format!(" uid={} gid={}", entry.uid, entry.gid));
            }
            if let Some(size) = entry.size {
                out.push_str(&format!(" size={size}"));
            }
            if let Some(sha256) = &entry.sha256 {
                out.push_str(&format!(" sha256={sha256}"));
            }
            if let Some(target) = &entry.target {
                out.push_str(&format!(" link={}", mtree_escape(target)));
            }
            out.push('\n');
        }
        out
    }
}

/// Encode a name the way mtree(5) expects (`strsvis` with `VS_CSTYLE`-free octal escapes):
/// white space, backslash, `#` and non-printable or non-ASCII bytes become `\ooo`.
fn mtree_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && byte != b'\\' && byte != b'#' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("\\{byte:03o}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(layer: usize, content: &[u8]) -> Node {
        Node {
            file_type: FileType::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: content.len() as u64,
            sha256: Some(Digest::of(content)),
            target: None,
            device: None,
            layer,
        }
    }

    fn path(text: &str) -> ImagePath {
        ImagePath::parse(text).unwrap()
    }

    #[test]
    fn insert_creates_parents_and_replacing_a_dir_drops_children() {
        let mut tree = FileTree::new();
        tree.insert(path("a/b/c"), file(0, b"x"));
        assert_eq!(tree.get(&path("a/b")).unwrap().file_type, FileType::Dir);
        tree.insert(path("a"), file(1, b"y"));
        assert!(tree.get(&path("a/b/c")).is_none());
        assert_eq!(tree.len(), 2);
    }

    #[test]
    fn opaque_whiteout_hides_only_lower_layers() {
        let mut tree = FileTree::new();
        tree.insert(path("d/old"), file(0, b"1"));
        tree.insert(path("d/new"), file(1, b"2"));
        tree.make_opaque(&path("d"), 1);
        assert!(tree.get(&path("d/old")).is_none());
        assert!(tree.get(&path("d/new")).is_some());
    }

    #[test]
    fn root_digest_changes_with_any_attribute() {
        let mut tree = FileTree::new();
        tree.insert(path("a"), file(0, b"x"));
        let image = Digest::of(b"image");
        let first = tree.to_manifest(image);
        assert!(first.root_digest_matches());
        let mut changed = file(0, b"x");
        changed.mode = 0o600;
        tree.insert(path("a"), changed);
        assert_ne!(tree.to_manifest(image).root_digest, first.root_digest);
    }

    #[test]
    fn streamed_manifest_is_the_serialized_manifest() {
        let mut tree = FileTree::new();
        tree.insert(path("usr/bin/app"), file(0, b"binary"));
        tree.insert(path("usr/bin/a-b"), file(0, b""));
        tree.insert(path("usr/bin.d/\"quoted\" name"), file(1, b"x"));
        tree.insert(
            path("usr/lib/link"),
            Node {
                file_type: FileType::Symlink,
                mode: 0o777,
                target: Some("../bin/app".into()),
                sha256: None,
                size: 0,
                ..file(1, b"")
            },
        );
        tree.insert(
            path("dev/null"),
            Node {
                file_type: FileType::Char,
                mode: 0o666,
                device: Some((1, 3)),
                sha256: None,
                size: 0,
                ..file(1, b"")
            },
        );
        let mut setuid = file(1, b"su");
        setuid.mode = 0o104755;
        setuid.uid = 1000;
        tree.insert(path("usr/bin/su"), setuid);
        let image = Digest::of(b"image");
        let manifest = tree.to_manifest(image);
        assert_eq!(tree.root_digest(), manifest.root_digest);
        let mut streamed = Vec::new();
        tree.write_manifest(&image, &tree.root_digest(), &mut streamed)
            .unwrap();
        assert_eq!(
            String::from_utf8(streamed).unwrap(),
            serde_json::to_string(&manifest).unwrap()
        );
        let empty = FileTree::new();
        let mut streamed = Vec::new();
        empty
            .write_manifest(&image, &empty.root_digest(), &mut streamed)
            .unwrap();
        assert_eq!(
            streamed,
            serde_json::to_vec(&empty.to_manifest(image)).unwrap()
        );
    }

    #[test]
    fn scan_checks_the_root_digest_and_keeps_what_is_asked_for() {
        let mut tree = FileTree::new();
        tree.insert(path("etc/app.conf"), file(0, b"conf"));
        tree.insert(path("usr/bin/app"), file(0, b"binary"));
        let manifest = tree.to_manifest(Digest::of(b"image"));
        let json = serde_json::to_string(&manifest).unwrap();
        let scan = scan_manifest(json.as_bytes(), |entry| entry.path == "/usr/bin/app").unwrap();
        assert_eq!(scan.image, manifest.image);
        assert_eq!(scan.root_digest, manifest.root_digest);
        assert_eq!(scan.actual_root_digest, manifest.root_digest);
        assert_eq!(scan.count, manifest.entries.len());
        let app = manifest
            .entries
            .iter()
            .find(|entry| entry.path == "/usr/bin/app");
        assert_eq!(scan.kept, [app.unwrap().clone()]);

        let altered = json.replacen("\"0644\"", "\"0666\"", 1);
        assert_ne!(altered, json);
        let scan = scan_manifest(altered.as_bytes(), |_| false).unwrap();
        assert_eq!(scan.root_digest, manifest.root_digest);
        assert_ne!(scan.actual_root_digest, manifest.root_digest);
        assert!(scan.kept.is_empty());

        let empty = FileTree::new().to_manifest(Digest::of(b"image"));
        let scan = scan_manifest(serde_json::to_vec(&empty).unwrap().as_slice(), |_| true).unwrap();
        assert_eq!(scan.actual_root_digest, empty.root_digest);
        assert_eq!(scan.kept, empty.entries);

        let extra = json.replacen("{", "{\"extra\":1,", 1);
        let error = scan_manifest(extra.as_bytes(), |_| true).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `extra`"),
            "{error}"
        );
        let missing = json.replacen("\"schema\"", "\"schemb\"", 1);
        assert!(scan_manifest(missing.as_bytes(), |_| true).is_err());
        let trailing = format!("{json} x");
        assert!(scan_manifest(trailing.as_bytes(), |_| true).is_err());
    }

    #[test]
    fn mtree_escapes_spaces_and_backslashes() {
        assert_eq!(mtree_escape("a b\\c#d"), "a\\040b\\134c\\043d");
        assert_eq!(mtree_escape("é"), "\\303\\251");
    }
}
