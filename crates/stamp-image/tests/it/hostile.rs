//! Hostile layers: each must be refused with an error that names the layer digest and the
//! entry, and nothing may appear, change or disappear outside the destination.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use stamp_core::Digest;
use stamp_image::tar::ReadLimits;
use stamp_image::unpack::{running_as_root, UnpackError, Unpacker};
use stamp_image::{UnpackLimits, UnpackOptions};

use crate::rawtar::{pax_record, RawHeader, RawTar, SizeField};

/// A temporary parent holding the destination and a sentinel directory beside it.
struct Arena {
    parent: tempfile::TempDir,
}

/// What a tree holds: path → (kind, mode, content or link target).
type Snapshot = BTreeMap<PathBuf, (String, u32, Vec<u8>)>;

impl Arena {
    fn new() -> Self {
        let parent = tempfile::tempdir().unwrap();
        let sentinel = parent.path().join("sentinel");
        fs::create_dir(&sentinel).unwrap();
        fs::write(sentinel.join("keep"), b"must not change\n").unwrap();
        Arena { parent }
    }

    fn dest(&self) -> PathBuf {
        self.parent.path().join("dest")
    }

    fn sentinel(&self) -> PathBuf {
        self.parent.path().join("sentinel")
    }

    /// Everything in the parent except the destination.
    fn outside(&self) -> Snapshot {
        let mut snapshot = BTreeMap::new();
        snapshot_into(
            self.parent.path(),
            self.parent.path(),
            &self.dest(),
            &mut snapshot,
        );
        snapshot
    }
}

fn snapshot_into(root: &Path, dir: &Path, skip_below: &Path, out: &mut Snapshot) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path == skip_below {
            continue;
        }
        let metadata = fs::symlink_metadata(&path).unwrap();
        let relative = path.strip_prefix(root).unwrap().to_path_buf();
        let (kind, content) = if metadata.file_type().is_symlink() {
            (
                "symlink",
                fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes(),
            )
        } else if metadata.is_dir() {
            ("dir", Vec::new())
        } else if metadata.is_file() {
            ("file", fs::read(&path).unwrap())
        } else {
            ("special", Vec::new())
        };
        out.insert(relative, (kind.to_string(), metadata.mode(), content));
        if metadata.is_dir() {
            snapshot_into(root, &path, skip_below, out);
        }
    }
}

/// The error and its causes, one string.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Apply `layers` in order with `options`; the result of the first failure or of `finish`.
fn unpack(dest: &Path, layers: &[Vec<u8>], options: &UnpackOptions) -> Result<(), UnpackError> {
    let mut unpacker = Unpacker::create(dest, options)?;
    for layer in layers {
        unpacker.apply_layer(Digest::of(layer), None, &layer[..])?;
    }
    unpacker.finish().map(|_| ())
}

/// Unpack `layers` (plain tar) and require a refusal of the last one that names its digest,
/// `entry` and `reason`; and that nothing outside the destination changed.
fn refused(layers: &[Vec<u8>], entry: &str, reason: &str) -> String {
    refused_in(&Arena::new(), layers, entry, reason)
}

/// [`refused`] in a given (fresh) arena, for layers that aim at its sentinel.
fn refused_in(arena: &Arena, layers: &[Vec<u8>], entry: &str, reason: &str) -> String {
    let options = UnpackOptions::default();
    let before = arena.outside();
    let passwd_links = fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();
    let error = unpack(&arena.dest(), layers, &options).expect_err("the hostile layer is refused");
    let text = chain(&error);
    eprintln!("refused: {text}");
    let layer = Digest::of(layers.last().unwrap());
    assert!(
        text.contains(&layer.to_string()),
        "names the layer {layer}: {text}"
    );
    assert!(text.contains(entry), "names the entry `{entry}`: {text}");
    assert!(text.contains(reason), "says `{reason}`: {text}");
    assert_eq!(
        arena.outside(),
        before,
        "nothing outside the destination changed ({text})"
    );
    assert_eq!(
        fs::read(arena.sentinel().join("keep")).unwrap(),
        b"must not change\n"
    );
    let after_links = fs::metadata("/etc/passwd").map(|m| m.nlink()).ok();
    assert_eq!(
        passwd_links, after_links,
        "no hard link to /etc/passwd was made"
    );
    text
}

#[test]
fn path_traversal_is_refused() {
    let layer = RawTar::new()
        .file("ok", b"fine")
        .file("../evil", b"x")
        .finish();
    refused(&[layer], "`../evil`", "climbs out with `..`");
    let layer = RawTar::new().file("a/../../evil", b"x").finish();
    refused(&[layer], "`a/../../evil`", "climbs out with `..`");
}

#[test]
fn absolute_path_is_refused() {
    // Aimed at the sentinel, so a broken unpacker would be caught writing there.
    let arena = Arena::new();
    let name = format!("{}/evil", arena.sentinel().display());
    let layer = RawTar::new().file(&name, b"x").finish();
    refused_in(&arena, &[layer], &format!("`{name}`"), "absolute path");
    let layer = RawTar::new().file("/evil", b"x").finish();
    refused(&[layer], "`/evil`", "absolute path");
    let layer = RawTar::new().dir("./").file("/evil-too", b"x").finish();
    refused(&[layer], "`/evil-too`", "absolute path");
}

#[test]
fn writing_through_a_symlink_planted_by_an_earlier_entry_is_refused() {
    let arena = Arena::new();
    let outside = arena.sentinel().display().to_string();
    let layer = RawTar::new()
        .symlink("link", &outside)
        .file("link/file", b"x")
        .finish();
    refused_in(&arena, &[layer], "`link/file`", "which is a symlink");
    let layer = RawTar::new()
        .symlink("up", "..")
        .file("up/evil", b"x")
        .finish();
    refused(&[layer], "`up/evil`", "which is a symlink");
    // A directory entry below the symlink, and a whiteout through it, are refused as well.
    let layer = RawTar::new()
        .symlink("up", "..")
        .dir("up/sentinel/")
        .finish();
    refused(&[layer], "`up/sentinel/`", "which is a symlink");
    let layer = RawTar::new()
        .symlink("up", "..")
        .file("up/sentinel/.wh.keep", b"")
        .finish();
    refused(&[layer], "`up/sentinel/.wh.keep`", "which is a symlink");
}

#[test]
fn symlink_dir_planted_in_a_lower_layer_is_not_followed_by_an_upper_layer() {
    let uppers = [
        ("etc/conf/evil", RawTar::new().file("etc/conf/evil", b"x")),
        (
            "etc/conf/.wh.keep",
            RawTar::new().file("etc/conf/.wh.keep", b""),
        ),
        (
            "etc/conf/.wh..wh..opq",
            RawTar::new().file("etc/conf/.wh..wh..opq", b""),
        ),
        ("etc/conf/new/", RawTar::new().dir("etc/conf/new/")),
        (
            "etc/conf/hard",
            RawTar::new()
                .file("etc/f", b"x")
                .hardlink("etc/conf/hard", "etc/f"),
        ),
    ];
    for (entry, upper) in uppers {
        let arena = Arena::new();
        let lower = RawTar::new()
            .dir("etc/")
            .symlink("etc/conf", &arena.sentinel().display().to_string())
            .finish();
        refused_in(
            &arena,
            &[lower, upper.finish()],
            &format!("`{entry}`"),
            "which is a symlink",
        );
    }
}

#[test]
fn hard_link_pointing_outside_is_refused() {
    let layer = RawTar::new()
        .hardlink("passwd", "../../etc/passwd")
        .finish();
    refused(&[layer], "`passwd`", "climbs out with `..`");
    let layer = RawTar::new().hardlink("passwd", "/etc/passwd").finish();
    refused(&[layer], "`passwd`", "absolute path");
}

#[test]
fn hard_link_to_a_path_never_unpacked_is_refused() {
    let layer = RawTar::new()
        .file("a", b"x")
        .hardlink("b", "missing/file")
        .finish();
    refused(
        &[layer],
        "`b`",
        "`missing/file` is not a regular file unpacked earlier",
    );
    // Nor to a symlink (which could lead outside) or a directory.
    let layer = RawTar::new()
        .symlink("passwd", "/etc/passwd")
        .hardlink("copy", "passwd")
        .finish();
    refused(&[layer], "`copy`", "is not a regular file unpacked earlier");
    let layer = RawTar::new().dir("d/").hardlink("copy", "d").finish();
    refused(&[layer], "`copy`", "is not a regular file unpacked earlier");
    // Nor through a symlink to a file outside.
    let arena = Arena::new();
    let layer = RawTar::new()
        .symlink("out", &arena.sentinel().display().to_string())
        .hardlink("copy", "out/keep")
        .finish();
    refused_in(&arena, &[layer], "`copy`", "which is a symlink");
}

#[test]
fn whiteout_of_dot_dot_is_refused() {
    let layer = RawTar::new().file(".wh...", b"").finish();
    refused(&[layer], "`.wh...`", "names `.` or `..`");
    let layer = RawTar::new().dir("a/").file("a/.wh...", b"").finish();
    refused(&[layer], "`a/.wh...`", "names `.` or `..`");
    let layer = RawTar::new().file("a/.wh.", b"").finish();
    refused(&[layer], "`a/.wh.`", "names no file");
}

#[test]
fn device_node_is_refused_unless_allowed() {
    let layer = RawTar::new()
        .dir("dev/")
        .char_device("dev/null", 1, 3)
        .finish();
    refused(
        std::slice::from_ref(&layer),
        "`dev/null`",
        "device node refused",
    );
    let arena = Arena::new();
    let options = UnpackOptions {
        allow_devices: true,
        ..UnpackOptions::default()
    };
    let result = unpack(&arena.dest(), &[layer], &options);
    if running_as_root() {
        result.unwrap();
        let metadata = fs::symlink_metadata(arena.dest().join("dev/null")).unwrap();
        assert!(metadata.file_type().is_char_device());
        assert_eq!(metadata.rdev(), rustix::fs::makedev(1, 3));
    } else {
        // Without CAP_MKNOD the kernel refuses; the error still names the entry.
        let text = chain(&result.unwrap_err());
        assert!(text.contains("`dev/null`"), "{text}");
    }
}

#[test]
fn huge_size_field_is_refused_before_reading() {
    let layer = RawTar::new()
        .header(RawHeader {
            name: "big",
            typeflag: b'0',
            mode: 0o644,
            size: SizeField::Base256(1 << 40),
            link: "",
            device: (0, 0),
        })
        .raw(&[0u8; 1024])
        .finish();
    let text = refused(&[layer], "`big`", "1099511627776");
    assert!(text.contains("over the limit"), "{text}");
}

#[test]
fn truncated_tar_is_refused() {
    let mut layer = RawTar::new()
        .file("first", b"ok")
        .file("cut", &[7u8; 3000])
        .unfinished();
    layer.truncate(layer.len() - 1500);
    refused(&[layer], "`cut`", "truncated tar");
    // Cut inside a header block.
    let mut layer = RawTar::new()
        .file("first", b"ok")
        .file("second", b"x")
        .unfinished();
    layer.truncate(1024 + 200);
    refused(&[layer], "at byte offset 1024", "truncated tar");
}

#[test]
fn gzip_bomb_beyond_the_limit_is_refused() {
    const CONTENT_BYTES: u64 = 64 << 20;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(
            &RawHeader {
                name: "zeros",
                typeflag: b'0',
                mode: 0o644,
                size: SizeField::Octal(CONTENT_BYTES),
                link: "",
                device: (0, 0),
            }
            .block(),
        )
        .unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..(CONTENT_BYTES >> 20) + 1 {
        encoder.write_all(&chunk).unwrap();
    }
    let compressed = encoder.finish().unwrap();
    assert!(
        compressed.len() < 1 << 20,
        "a bomb: {} compressed bytes",
        compressed.len()
    );
    let digest = Digest::of(&compressed);

    let arena = Arena::new();
    let before = arena.outside();
    let options = UnpackOptions {
        limits: UnpackLimits {
            layer_bytes_max: 8 << 20,
            ..UnpackLimits::default()
        },
        ..UnpackOptions::default()
    };
    let mut unpacker = Unpacker::create(&arena.dest(), &options).unwrap();
    let mut counted = CountingReader {
        inner: flate2::read::GzDecoder::new(&compressed[..]),
        count: 0,
    };
    let error = unpacker
        .apply_layer(digest, None, &mut counted)
        .unwrap_err();
    let text = chain(&error);
    assert!(matches!(error, UnpackError::LayerTooLarge { .. }), "{text}");
    assert!(text.contains(&digest.to_string()), "{text}");
    assert!(text.contains("8388608"), "{text}");
    assert!(text.contains("`zeros`"), "names the entry: {text}");
    // Decompression stopped near the limit instead of running to the end.
    assert!(
        counted.count <= (8 << 20) + (1 << 20),
        "read {} bytes",
        counted.count
    );
    assert_eq!(arena.outside(), before);
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.count += read as u64;
        Ok(read)
    }
}

#[test]
fn duplicate_path_in_one_layer_is_refused() {
    let layer = RawTar::new()
        .file("etc/app", b"one")
        .file("etc/app", b"two")
        .finish();
    refused(&[layer], "`etc/app`", "appears twice in one layer");
    // The same path spelled differently.
    let layer = RawTar::new()
        .file("etc/app", b"one")
        .file("./etc//app", b"two")
        .finish();
    refused(&[layer], "`./etc//app`", "appears twice in one layer");
    // In two layers it is an ordinary replacement.
    let arena = Arena::new();
    let lower = RawTar::new().file("etc/app", b"one").finish();
    let upper = RawTar::new().file("etc/app", b"two").finish();
    unpack(&arena.dest(), &[lower, upper], &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(arena.dest().join("etc/app")).unwrap(), b"two");
}

#[test]
fn pax_header_over_the_extended_header_limit_is_refused() {
    let limit = ReadLimits::default().extended_header_bytes_max;
    let mut data = Vec::new();
    while data.len() as u64 <= limit {
        data.extend_from_slice(&pax_record("comment", &"x".repeat(60_000)));
    }
    let layer = RawTar::new().pax(&data).file("after-pax", b"x").finish();
    let text = refused(&[layer], "`PaxHeaders/entry`", "extended header");
    assert!(text.contains(&limit.to_string()), "{text}");
    // Just under the limit is fine.
    let mut data = pax_record("path", "renamed-by-pax");
    let filler = limit as usize - data.len() - 30;
    data.extend_from_slice(&pax_record("comment", &"y".repeat(filler)));
    assert!(data.len() as u64 <= limit);
    let layer = RawTar::new().pax(&data).file("after-pax", b"x").finish();
    let arena = Arena::new();
    unpack(&arena.dest(), &[layer], &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(arena.dest().join("renamed-by-pax")).unwrap(), b"x");
}

#[test]
fn well_behaved_layers_unpack_with_whiteouts() {
    let arena = Arena::new();
    let lower = RawTar::new()
        .dir("etc/")
        .file("etc/keep", b"keep")
        .file("etc/gone", b"gone")
        .dir("var/")
        .file("var/old", b"old")
        .symlink("etc/link", "keep")
        .hardlink("etc/hard", "etc/keep")
        .finish();
    let upper = RawTar::new()
        .file("etc/.wh.gone", b"")
        .file("var/.wh..wh..opq", b"")
        .file("var/new", b"new")
        .finish();
    unpack(&arena.dest(), &[lower, upper], &UnpackOptions::default()).unwrap();
    let dest = arena.dest();
    assert_eq!(fs::read(dest.join("etc/keep")).unwrap(), b"keep");
    assert!(!dest.join("etc/gone").exists());
    assert!(!dest.join("var/old").exists());
    assert_eq!(fs::read(dest.join("var/new")).unwrap(), b"new");
    assert_eq!(
        fs::read_link(dest.join("etc/link")).unwrap(),
        Path::new("keep")
    );
    assert_eq!(
        fs::metadata(dest.join("etc/hard")).unwrap().ino(),
        fs::metadata(dest.join("etc/keep")).unwrap().ino()
    );
}
