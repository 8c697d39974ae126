//! Robustness of the layer readers against corrupted input: a valid layer is mutated at random
//! (a fixed seed, so failures reproduce) and every reader must answer with `Ok` or a typed
//! error — never a panic, a hang, or a write outside the destination. This stands in for a
//! coverage-guided fuzzer, which needs a nightly toolchain this project's machines do not have.

use std::io::Write;

use stamp_core::Digest;

use crate::layer::apply_layer;
use crate::manifest::FileTree;
use crate::tar::{EntryKind, Header, ReadLimits, TarWriter};
use crate::unpack::{UnpackOptions, Unpacker};

fn sample_layer() -> Vec<u8> {
    let mut writer = TarWriter::new(Vec::new());
    let entries: Vec<(Header, Vec<u8>)> = vec![
        (header("etc/", EntryKind::Directory, 0), Vec::new()),
        (header("etc/passwd", EntryKind::File, 32), vec![b'p'; 32]),
        (
            header(
                "etc/link",
                EntryKind::Symlink {
                    target: "passwd".into(),
                },
                0,
            ),
            Vec::new(),
        ),
        (
            header(
                "etc/hard",
                EntryKind::Hardlink {
                    target: "etc/passwd".into(),
                },
                0,
            ),
            Vec::new(),
        ),
        (
            header(
                &format!("opt/{}/deep", "d".repeat(120)),
                EntryKind::File,
                700,
            ),
            vec![7u8; 700],
        ),
        (header("opt/.wh.gone", EntryKind::File, 0), Vec::new()),
        (header("tmp/", EntryKind::Directory, 0), Vec::new()),
    ];
    for (header, content) in entries {
        writer.write_header(&header).unwrap();
        writer.write_content(&content).unwrap();
        writer.pad(content.len() as u64).unwrap();
    }
    writer.finish().unwrap()
}

fn header(path: &str, kind: EntryKind, size: u64) -> Header {
    Header {
        path: path.into(),
        kind,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size,
        mtime: 1_700_000_000,
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn mutate(original: &[u8], random: &mut XorShift) -> Vec<u8> {
    let mut bytes = original.to_vec();
    match random.next() % 4 {
        // Truncate somewhere.
        0 => bytes.truncate((random.next() % bytes.len() as u64) as usize),
        // Overwrite a header field byte, keeping numbers plausible half the time.
        _ => {
            for _ in 0..1 + random.next() % 4 {
                let position = (random.next() % bytes.len() as u64) as usize;
                bytes[position] = if random.next() % 2 == 0 {
                    b"01234567./\0 x"[(random.next() % 13) as usize]
                } else {
                    random.next() as u8
                };
            }
        }
    }
    bytes
}

/// Recompute the checksum of every header-looking block so mutations reach the field parsers
/// instead of stopping at the checksum.
fn fix_checksums(bytes: &mut [u8]) {
    for block in bytes.chunks_mut(512) {
        if block.len() == 512 && &block[257..262] == b"ustar" {
            block[148..156].copy_from_slice(b"        ");
            let sum: u64 = block.iter().map(|&b| b as u64).sum();
            let text = format!("{sum:06o}\0 ");
            block[148..156].copy_from_slice(text.as_bytes());
        }
    }
}

#[test]
fn mutated_layers_never_panic_in_the_file_tree() {
    let original = sample_layer();
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    let limits = ReadLimits {
        entry_bytes_max: 1 << 20,
        ..ReadLimits::default()
    };
    for round in 0..3000 {
        let mut bytes = mutate(&original, &mut random);
        if round % 2 == 0 {
            fix_checksums(&mut bytes);
        }
        let mut tree = FileTree::new();
        let _ = apply_layer(&bytes[..], &mut tree, 0, limits);
    }
}

#[test]
fn mutated_layers_never_write_outside_the_destination() {
    let original = sample_layer();
    let mut random = XorShift(0x2545_f491_4f6c_dd1d);
    let parent = tempfile::tempdir().unwrap();
    let mut options = UnpackOptions::default();
    options.limits.tar.entry_bytes_max = 1 << 20;
    options.limits.layer_bytes_max = 4 << 20;
    for round in 0..300 {
        let mut bytes = mutate(&original, &mut random);
        fix_checksums(&mut bytes);
        let destination = parent.path().join(format!("dest-{round}"));
        let mut unpacker = Unpacker::create(&destination, &options).unwrap();
        if unpacker
            .apply_layer(Digest::of(&bytes), None, &bytes[..])
            .is_ok()
        {
            let _ = unpacker.finish();
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names.len(),
        300,
        "something other than the destinations appeared: {names:?}"
    );
    assert!(names.iter().all(|name| name.starts_with("dest-")));
    let _ = std::io::stdout().flush();
}
