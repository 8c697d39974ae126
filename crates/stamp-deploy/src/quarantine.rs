//! Quarantine archives: before a drifted instance is replaced, its root filesystem as it was
//! is kept as a tar archive with a SHA-256 digest, for incident response (PCI DSS 12.10.5).
//! Nothing in it is ever copied back: the replacement comes from the verified image.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use stamp_core::{Digest, Sha256Writer};
use stamp_image::manifest::{FileEntry, FileType};
use stamp_image::tar::{EntryKind, Header, TarWriter};

/// Largest single file a quarantine archive takes whole; bigger files are cut to this size
/// (the archive records what was seen, the manifest says what should have been).
pub const QUARANTINE_FILE_BYTES_MAX: u64 = 1 << 30;

/// The archive could not be written.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("archiving `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What [`archive`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archive {
    pub path: PathBuf,
    pub digest: Digest,
    pub size_bytes: u64,
}

/// Write the `entries` read from `root` (as [`crate::drift::scan_instance_root`] gives them)
/// into a tar archive at `destination`; returns its digest.
pub fn archive(
    root: &Path,
    entries: &[FileEntry],
    destination: &Path,
) -> Result<Archive, QuarantineError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| QuarantineError::Io { path, source }
    };
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    }
    let file = File::create(destination).map_err(io_error(destination))?;
    let mut tar = TarWriter::new(Sha256Writer::new(BufWriter::new(file)));
    for entry in entries.iter().filter(|entry| entry.path != "/") {
        let relative = entry.path.trim_start_matches('/');
        let source = root.join(relative);
        let mode = u32::from_str_radix(&entry.mode, 8).unwrap_or(0);
        let mut header = Header {
            path: relative.to_string(),
            kind: EntryKind::File,
            mode,
            uid: entry.uid,
            gid: entry.gid,
            size: 0,
            mtime: 0,
        };
        let mut content = Vec::new();
        match entry.file_type {
            FileType::File => {
                File::open(&source)
                    .and_then(|file| {
                        file.take(QUARANTINE_FILE_BYTES_MAX)
                            .read_to_end(&mut content)
                    })
                    .map_err(io_error(&source))?;
                header.size = content.len() as u64;
            }
            FileType::Dir => header.kind = EntryKind::Directory,
            FileType::Symlink => {
                header.kind = EntryKind::Symlink {
                    target: entry.target.clone().unwrap_or_default(),
                }
            }
            FileType::Char | FileType::Block => {
                let (major, minor) = entry.device.unwrap_or((0, 0));
                header.kind = if entry.file_type == FileType::Char {
                    EntryKind::CharDevice { major, minor }
                } else {
                    EntryKind::BlockDevice { major, minor }
                };
            }
            _ => header.kind = EntryKind::Fifo,
        }
        tar.write_header(&header).map_err(io_error(destination))?;
        if !content.is_empty() {
            tar.write_content(&content).map_err(io_error(destination))?;
            tar.pad(header.size).map_err(io_error(destination))?;
        }
    }
    let hashing = tar.finish().map_err(io_error(destination))?;
    let (digest, size_bytes, mut writer) = hashing.finish();
    writer.flush().map_err(io_error(destination))?;
    writer
        .into_inner()
        .map_err(|error| error.into_error())
        .and_then(|file| file.sync_all())
        .map_err(io_error(destination))?;
    Ok(Archive {
        path: destination.to_path_buf(),
        digest,
        size_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_holds_what_was_seen_and_its_digest_is_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/passwd"), b"tampered\n").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("etc/link")).unwrap();
        let entries = crate::drift::scan_instance_root(&root, &[]).unwrap();
        let out = dir.path().join("q/root.tar");
        let archive = archive(&root, &entries, &out).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(archive.digest, Digest::of(&bytes));
        assert_eq!(archive.size_bytes, bytes.len() as u64);
        let listing = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&out)
            .output()
            .expect("tar runs");
        let listing = String::from_utf8(listing.stdout).unwrap();
        assert!(listing.contains("etc/passwd"), "{listing}");
        assert!(listing.contains("etc/link -> /etc/passwd"), "{listing}");
        let content = std::process::Command::new("tar")
            .args(["-xOf"])
            .arg(&out)
            .arg("etc/passwd")
            .output()
            .unwrap();
        assert_eq!(content.stdout, b"tampered\n");
    }
}
