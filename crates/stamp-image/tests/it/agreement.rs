//! The file manifest (computed in memory from the layers) and the tree `Unpacker` writes must
//! agree for every layer stack the unpacker accepts, whiteouts included: drift detection
//! compares one with the other.

use stamp_core::Digest;
use stamp_image::layer::apply_layer;
use stamp_image::manifest::FileTree;
use stamp_image::scan::{compare, scan_tree};
use stamp_image::tar::ReadLimits;
use stamp_image::unpack::Unpacker;
use stamp_image::UnpackOptions;

use crate::rawtar::RawTar;

/// Unpack `layers` and compute their manifest; return the paths of both and the differences.
fn agree(layers: &[Vec<u8>]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("rootfs");
    let mut unpacker = Unpacker::create(&dest, &UnpackOptions::default()).unwrap();
    let mut tree = FileTree::new();
    for (index, layer) in layers.iter().enumerate() {
        unpacker
            .apply_layer(Digest::of(layer), None, &layer[..])
            .unwrap();
        apply_layer(&layer[..], &mut tree, index, ReadLimits::default()).unwrap();
    }
    unpacker.finish().unwrap();
    let manifest = tree.to_manifest(Digest::of(b"image"));
    let actual = scan_tree(&dest).unwrap();
    let differences = compare(&manifest, &actual, &[]);
    // Ownership is only applied by root; compare what the caller can reproduce.
    let differences: Vec<_> = differences
        .into_iter()
        .filter(|difference| difference.code != "drift-owner")
        .collect();
    assert!(
        differences.is_empty(),
        "manifest and unpacked tree differ: {differences:#?}\nmanifest: {:#?}",
        manifest.entries.iter().map(|e| &e.path).collect::<Vec<_>>()
    );
    manifest.entries.iter().map(|e| e.path.clone()).collect()
}

fn lower() -> Vec<u8> {
    RawTar::new()
        .dir("d/")
        .file("d/old", b"old")
        .dir("d/sub/")
        .file("d/sub/old", b"old")
        .dir("d/-kept/")
        .file("d/-kept/old", b"old")
        .file("e", b"e")
        .finish()
}

#[test]
fn opaque_marker_first_hides_everything_below() {
    let upper = RawTar::new()
        .dir("d/")
        .file("d/.wh..wh..opq", b"")
        .file("d/sub/new", b"new")
        .finish();
    let paths = agree(&[lower(), upper]);
    assert_eq!(paths, ["/", "/d", "/d/sub", "/d/sub/new", "/e"]);
}

#[test]
fn opaque_marker_after_entries_of_the_same_layer_keeps_them() {
    // Writers that do not sort may put the marker after entries of its own layer; the marker
    // hides lower layers only, whatever its position.
    let upper = RawTar::new()
        .file("d/-kept/new", b"new")
        .dir("d/sub/")
        .file("d/sub/new", b"new")
        .file("d/.wh..wh..opq", b"")
        .finish();
    let paths = agree(&[lower(), upper]);
    assert_eq!(
        paths,
        [
            "/",
            "/d",
            "/d/-kept",
            "/d/-kept/new",
            "/d/sub",
            "/d/sub/new",
            "/e"
        ]
    );
}

#[test]
fn whiteouts_remove_files_and_directories() {
    let upper = RawTar::new()
        .file("d/.wh.sub", b"")
        .file(".wh.e", b"")
        .file("d/new", b"new")
        .finish();
    let paths = agree(&[lower(), upper]);
    assert_eq!(
        paths,
        ["/", "/d", "/d/-kept", "/d/-kept/old", "/d/new", "/d/old"]
    );
}
