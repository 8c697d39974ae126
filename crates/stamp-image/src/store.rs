//! The local store: an OCI image layout (image-spec v1.1 "OCI Image Layout") under
//! `<home>/oci`, plus the file manifests kept against image digests under `<home>/files`.
//!
//! Blobs are content-addressed and written once: to a temporary file in the blob directory,
//! synced, then renamed to their digest. `index.json` is rewritten whole (temp file, sync,
//! rename, directory sync) under an exclusive `flock` on `<home>/lock`, so concurrent builds
//! never lose a tag. Every blob read back is checked against its digest.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use stamp_core::{Digest, Sha256Writer};

use crate::manifest::{FileEntry, FileManifest, FileTree};
use crate::oci::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, ANNOTATION_REF_NAME,
    ANNOTATION_STAMP_NAME, JSON_DOCUMENT_BYTES_MAX, MEDIA_TYPE_DOCKER_LAYER_GZIP,
    MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST,
};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no stamp store at `{}`", .0.display())]
    Missing(PathBuf),
    #[error("`{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob {digest} is missing from the store")]
    BlobMissing { digest: Digest },
    #[error("blob {expected} is corrupt: its content hashes to {actual}")]
    BlobCorrupt { expected: Digest, actual: Digest },
    #[error("blob {digest} is {size} bytes, over the limit of {limit} bytes for a JSON document")]
    DocumentTooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
    #[error("`{}` is not a valid {what}", .path.display())]
    Json {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("no image `{0}` in the store")]
    UnknownImage(String),
    #[error("`{reference}` matches {count} images; give the full digest")]
    AmbiguousImage { reference: String, count: usize },
    #[error("layer {layer} has media type `{media_type}`, which stamp cannot read (gzip or plain tar layers only)")]
    LayerMediaType { layer: Digest, media_type: String },
    #[error("no file manifest for image {0}")]
    NoFileManifest(Digest),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An opened store.
#[derive(Clone, Debug)]
pub struct Store {
    home: PathBuf,
}

/// An image found in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredImage {
    pub digest: Digest,
    /// `name:tag` when the index entry is tagged.
    pub reference: Option<String>,
    pub descriptor: Descriptor,
}

/// Holds the store's exclusive lock until dropped.
pub struct StoreLock {
    _file: File,
}

impl Store {
    /// Open the store at `home`, creating an empty OCI layout if there is none.
    pub fn open_or_create(home: &Path) -> Result<Store, StoreError> {
        let store = Store {
            home: home.to_path_buf(),
        };
        let blobs = store.oci_dir().join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_error(&blobs))?;
        fs::create_dir_all(store.files_dir()).map_err(io_error(&store.files_dir()))?;
        let layout = store.oci_dir().join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let index = store.oci_dir().join("index.json");
        if !index.exists() {
            let _lock = store.lock()?;
            if !index.exists() {
                store.write_index(&ImageIndex::empty())?;
            }
        }
        Ok(store)
    }

    /// Open an existing store.
    pub fn open(home: &Path) -> Result<Store, StoreError> {
        let store = Store {
            home: home.to_path_buf(),
        };
        if !store.oci_dir().join("index.json").is_file() {
            return Err(StoreError::Missing(home.to_path_buf()));
        }
        Ok(store)
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The OCI image layout directory.
    pub fn oci_dir(&self) -> PathBuf {
        self.home.join("oci")
    }

    fn files_dir(&self) -> PathBuf {
        self.home.join("files").join("sha256")
    }

    /// Take the store's exclusive lock (blocks until it is free).
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.home.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_error(&path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|errno| io_error(&path)(errno.into()))?;
        Ok(StoreLock { _file: file })
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.oci_dir()
            .join("blobs")
            .join("sha256")
            .join(digest.hex())
    }

    /// Start writing a blob whose digest is known only at the end.
    pub fn blob_writer(&self) -> Result<BlobWriter, StoreError> {
        let dir = self.oci_dir().join("blobs").join("sha256");
        let file = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&dir)
            .map_err(io_error(&dir))?;
        Ok(BlobWriter {
            store: self.clone(),
            writer: Sha256Writer::new(io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Store `bytes` as a blob.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), StoreError> {
        let digest = Digest::of(bytes);
        let path = self.blob_path(&digest);
        if !path.exists() {
            write_atomic(&path, bytes)?;
        }
        Ok((digest, bytes.len() as u64))
    }

    /// Open a blob for reading (the caller verifies its digest while streaming).
    pub fn open_blob(&self, digest: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing { digest: *digest },
            _ => io_error(&path)(error),
        })
    }

    /// Hash a whole blob and compare it with its name.
    pub fn verify_blob(&self, digest: &Digest) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        let mut file = self.open_blob(digest)?;
        let mut writer = Sha256Writer::new(io::sink());
        io::copy(&mut file, &mut writer).map_err(io_error(&path))?;
        let (actual, size, _) = writer.finish();
        if actual != *digest {
            return Err(StoreError::BlobCorrupt {
                expected: *digest,
                actual,
            });
        }
        Ok(size)
    }

    /// Open a layer's tar stream: the blob is checked against its digest first, then read
    /// through gzip or as plain tar according to its media type. Every reader of layers
    /// (unpack, inventory, card-number scan) opens them here.
    pub fn open_layer(&self, layer: &Descriptor) -> Result<Box<dyn Read>, StoreError> {
        let gzip = match layer.media_type.as_str() {
            MEDIA_TYPE_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => true,
            MEDIA_TYPE_LAYER_TAR => false,
            other => {
                return Err(StoreError::LayerMediaType {
                    layer: layer.digest,
                    media_type: other.to_string(),
                })
            }
        };
        self.verify_blob(&layer.digest)?;
        let file = io::BufReader::with_capacity(1 << 20, self.open_blob(&layer.digest)?);
        Ok(if gzip {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        })
    }

    /// Read a small blob (a JSON document) and verify its digest.
    pub fn read_document(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let file = self.open_blob(digest)?;
        let size = file.metadata().map_err(io_error(&path))?.len();
        if size > JSON_DOCUMENT_BYTES_MAX {
            return Err(StoreError::DocumentTooLarge {
                digest: *digest,
                size,
                limit: JSON_DOCUMENT_BYTES_MAX,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        file.take(JSON_DOCUMENT_BYTES_MAX)
            .read_to_end(&mut bytes)
            .map_err(io_error(&path))?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(StoreError::BlobCorrupt {
                expected: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    pub fn read_manifest(&self, digest: &Digest) -> Result<ImageManifest, StoreError> {
        let bytes = self.read_document(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: self.blob_path(digest),
            what: "OCI image manifest",
            source,
        })
    }

    pub fn read_config(&self, digest: &Digest) -> Result<ImageConfiguration, StoreError> {
        let bytes = self.read_document(digest)?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path: self.blob_path(digest),
            what: "OCI image configuration",
            source,
        })
    }

    pub fn read_index(&self) -> Result<ImageIndex, StoreError> {
        let path = self.oci_dir().join("index.json");
        let file = File::open(&path).map_err(io_error(&path))?;
        let mut bytes = Vec::new();
        file.take(JSON_DOCUMENT_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error(&path))?;
        if bytes.len() as u64 > JSON_DOCUMENT_BYTES_MAX {
            return Err(StoreError::DocumentTooLarge {
                digest: Digest::of(&bytes),
                size: bytes.len() as u64,
                limit: JSON_DOCUMENT_BYTES_MAX,
            });
        }
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
            path,
            what: "OCI image index",
            source,
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(index).expect("index serializes");
        write_atomic(&self.oci_dir().join("index.json"), &bytes)
    }

    /// Point `reference` (`name:tag`) at the image manifest `descriptor`. An earlier image with
    /// the same reference stays in the index, untagged, so nothing built is ever lost.
    pub fn tag(
        &self,
        reference: &str,
        image_name: &str,
        mut descriptor: Descriptor,
    ) -> Result<(), StoreError> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        for entry in &mut index.manifests {
            if entry
                .annotations
                .get(ANNOTATION_REF_NAME)
                .map(String::as_str)
                == Some(reference)
            {
                entry.annotations.remove(ANNOTATION_REF_NAME);
            }
        }
        index.manifests.retain(|entry| {
            entry.digest != descriptor.digest || entry.annotations.contains_key(ANNOTATION_REF_NAME)
        });
        descriptor
            .annotations
            .insert(ANNOTATION_REF_NAME.to_string(), reference.to_string());
        descriptor
            .annotations
            .insert(ANNOTATION_STAMP_NAME.to_string(), image_name.to_string());
        index.manifests.push(descriptor);
        self.write_index(&index)
    }

    /// All image manifests listed in the index.
    pub fn images(&self) -> Result<Vec<StoredImage>, StoreError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .filter(|entry| entry.media_type == MEDIA_TYPE_MANIFEST)
            .map(|descriptor| StoredImage {
                digest: descriptor.digest,
                reference: descriptor.annotations.get(ANNOTATION_REF_NAME).cloned(),
                descriptor,
            })
            .collect())
    }

    /// Find an image by `name:tag`, `name` (tag `latest`), `name@sha256:…`, `sha256:…`, or a
    /// unique prefix of at least 12 hex characters of its digest.
    pub fn resolve(&self, reference: &str) -> Result<StoredImage, StoreError> {
        let images = self.images()?;
        let by_digest = |digest: Digest| -> Result<StoredImage, StoreError> {
            images
                .iter()
                .find(|image| image.digest == digest)
                .cloned()
                .ok_or_else(|| StoreError::UnknownImage(reference.to_string()))
        };
        if let Some((_, digest)) = reference.split_once('@') {
            let digest = digest
                .parse()
                .map_err(|_| StoreError::UnknownImage(reference.to_string()))?;
            return by_digest(digest);
        }
        if reference.starts_with("sha256:") {
            if let Ok(digest) = reference.parse() {
                return by_digest(digest);
            }
        }
        let hex_prefix = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex_prefix.len() >= 12 && hex_prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<&StoredImage> = images
                .iter()
                .filter(|image| image.digest.hex().starts_with(hex_prefix))
                .collect();
            let mut unique: Vec<Digest> = matches.iter().map(|image| image.digest).collect();
            unique.dedup();
            match unique.len() {
                0 => {}
                1 => return Ok(matches[0].clone()),
                count => {
                    return Err(StoreError::AmbiguousImage {
                        reference: reference.to_string(),
                        count,
                    })
                }
            }
        }
        let wanted = if reference
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            reference.to_string()
        } else {
            format!("{reference}:latest")
        };
        images
            .into_iter()
            .find(|image| image.reference.as_deref() == Some(wanted.as_str()))
            .ok_or_else(|| StoreError::UnknownImage(reference.to_string()))
    }

    /// Keep the file manifest of image `manifest.image`.
    pub fn put_file_manifest(&self, manifest: &FileManifest) -> Result<PathBuf, StoreError> {
        let path = self
            .files_dir()
            .join(format!("{}.json", manifest.image.hex()));
        // Streamed to the file: a manifest can have a million entries.
        write_atomic_with(&path, |writer| {
            serde_json::to_writer(writer, manifest).map_err(io::Error::from)
        })?;
        Ok(path)
    }

    /// Keep the file manifest of `tree` for image `image`, written entry by entry (the same
    /// bytes as [`Store::put_file_manifest`] of [`FileTree::to_manifest`]) so that the entries
    /// never exist twice in memory. Returns the root digest and the number of entries.
    pub fn put_file_tree(
        &self,
        image: &Digest,
        tree: &FileTree,
    ) -> Result<(Digest, usize), StoreError> {
        let path = self.files_dir().join(format!("{}.json", image.hex()));
        let root_digest = tree.root_digest();
        write_atomic_with(&path, |writer| {
            tree.write_manifest(image, &root_digest, writer)
                .map_err(io::Error::from)
        })?;
        Ok((root_digest, tree.len()))
    }

    /// The file manifest of `image`, with its root digest checked.
    pub fn file_manifest(&self, image: &Digest) -> Result<FileManifest, StoreError> {
        let path = self.files_dir().join(format!("{}.json", image.hex()));
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoFileManifest(*image))
            }
            Err(error) => return Err(io_error(&path)(error)),
        };
        let manifest: FileManifest =
            serde_json::from_slice(&bytes).map_err(|source| StoreError::Json {
                path: path.clone(),
                what: "stamp file manifest",
                source,
            })?;
        if manifest.image != *image || !manifest.root_digest_matches() {
            return Err(StoreError::BlobCorrupt {
                expected: manifest.root_digest,
                actual: crate::manifest::root_digest(&manifest.entries),
            });
        }
        Ok(manifest)
    }

    /// The entries of the file manifest of `image` that `keep` chooses, with its root digest
    /// checked as in [`Store::file_manifest`]. The manifest is read as a stream and only the
    /// chosen entries are held, so looking up a few paths of a million-entry manifest takes
    /// little memory.
    pub fn file_manifest_entries(
        &self,
        image: &Digest,
        keep: impl FnMut(&FileEntry) -> bool,
    ) -> Result<Vec<FileEntry>, StoreError> {
        let path = self.files_dir().join(format!("{}.json", image.hex()));
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NoFileManifest(*image))
            }
            Err(error) => return Err(io_error(&path)(error)),
        };
        let scan =
            crate::manifest::scan_manifest(io::BufReader::with_capacity(1 << 16, file), keep)
                .map_err(|source| StoreError::Json {
                    path: path.clone(),
                    what: "stamp file manifest",
                    source,
                })?;
        if scan.image != *image || scan.actual_root_digest != scan.root_digest {
            return Err(StoreError::BlobCorrupt {
                expected: scan.root_digest,
                actual: scan.actual_root_digest,
            });
        }
        Ok(scan.kept)
    }
}

/// A blob being written; [`BlobWriter::commit`] names it by its digest.
pub struct BlobWriter {
    store: Store,
    writer: Sha256Writer<io::BufWriter<tempfile::NamedTempFile>>,
}

impl BlobWriter {
    /// Sync the blob, move it to its digest's name and return digest and size.
    pub fn commit(self) -> Result<(Digest, u64), StoreError> {
        let (digest, size, buffered) = self.writer.finish();
        let dir = self.store.oci_dir().join("blobs").join("sha256");
        let file = buffered
            .into_inner()
            .map_err(|error| io_error(&dir)(error.into_error()))?;
        file.as_file().sync_all().map_err(io_error(file.path()))?;
        let path = self.store.blob_path(&digest);
        file.persist(&path)
            .map_err(|error| io_error(&path)(error.error))?;
        sync_dir(&dir)?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Replace `path` with `bytes` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    write_atomic_with(path, |writer| writer.write_all(bytes))
}

/// Replace `path` atomically and durably with what `write` writes (buffered).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<&mut File>) -> io::Result<()>,
) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(".incoming-")
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    {
        let mut buffered = io::BufWriter::with_capacity(1 << 20, file.as_file_mut());
        write(&mut buffered).map_err(io_error(path))?;
        buffered.flush().map_err(io_error(path))?;
    }
    file.as_file().sync_all().map_err(io_error(path))?;
    file.persist(path)
        .map_err(|error| io_error(path)(error.error))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(io_error(dir))
}
