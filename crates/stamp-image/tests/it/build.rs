//! Builds through the library: the same spec and inputs give the same bytes whatever the
//! directory, the input files' metadata and the order they were created in; the layers are
//! what the spec says.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use stamp_image::tar::{EntryKind, ReadLimits, TarReader};
use stamp_image::{BuildOptions, BuildOutput, Store};

const SPEC: &str = r#"
[image]
name = "repro"
tag = "1"
source_date_epoch = 1700000000
writable = ["/tmp"]

[base]
scratch = true

[[layers]]
name = "skeleton"
dirs = [{ path = "/tmp", mode = "1777" }, { path = "/var/lib/app", mode = "0700", uid = 10001, gid = 10001 }]
symlinks = [{ path = "/bin", target = "usr/bin" }]

[[layers]]
name = "app"
files = [
  { src = "inputs/tree", dest = "/opt/app", uid = 10001, gid = 10001 },
  { src = "inputs/run", dest = "/usr/bin/run" },
]
"#;

/// Input files: (relative path, content, executable). Directories are implied.
const INPUTS: &[(&str, &[u8], bool)] = &[
    ("inputs/run", b"#!/bin/sh\nexec /opt/app/bin/app\n", true),
    ("inputs/tree/bin/app", b"\x7fELF not really", true),
    ("inputs/tree/etc/app.conf", b"port = 8080\n", false),
    ("inputs/tree/etc/z-last.conf", b"last\n", false),
    ("inputs/tree/etc/a-first.conf", b"first\n", false),
    ("inputs/tree/share/doc/README", b"docs\n", false),
];

/// Write the inputs in `order`, with group/other bits `extra_bits` and mtimes from `mtime`.
fn write_inputs(dir: &Path, reverse: bool, extra_bits: u32, mtime: SystemTime) {
    fs::write(dir.join("stamp.toml"), SPEC).unwrap();
    let mut inputs: Vec<_> = INPUTS.to_vec();
    if reverse {
        inputs.reverse();
    }
    for (index, (path, content, executable)) in inputs.iter().enumerate() {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        let mode = if *executable { 0o700 } else { 0o600 } | extra_bits;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(mtime + Duration::from_secs(index as u64 * 7919))
            .unwrap();
    }
}

fn build_in(dir: &Path) -> (BuildOutput, Store) {
    let spec = stamp_image::load_spec(&dir.join("stamp.toml")).unwrap();
    let store = Store::open_or_create(&dir.join(".stamp")).unwrap();
    let output = stamp_image::build(&spec, &store, &BuildOptions::default()).unwrap();
    (output, store)
}

#[test]
fn same_inputs_in_other_places_give_the_same_bytes() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let second_dir = second.path().join("elsewhere/deeper");
    fs::create_dir_all(&second_dir).unwrap();
    write_inputs(
        first.path(),
        false,
        0o000,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1),
    );
    write_inputs(&second_dir, true, 0o055, SystemTime::now());

    let (one, one_store) = build_in(first.path());
    let (two, two_store) = build_in(&second_dir);
    assert_eq!(one.digest, two.digest);
    assert_eq!(one.config_digest, two.config_digest);
    assert_eq!(one.file_manifest_root, two.file_manifest_root);
    assert_eq!(one.layers.len(), 2);
    for (a, b) in one.layers.iter().zip(&two.layers) {
        let a_bytes = fs::read(one_store.blob_path(&a.digest)).unwrap();
        let b_bytes = fs::read(two_store.blob_path(&b.digest)).unwrap();
        assert_eq!(a_bytes, b_bytes, "layer `{}`", a.name);
    }

    // A changed input changes the digest (the comparison above can fail).
    fs::write(
        second_dir.join("inputs/tree/etc/app.conf"),
        b"port = 8081\n",
    )
    .unwrap();
    let (three, _) = build_in(&second_dir);
    assert_ne!(one.digest, three.digest);
}

#[test]
fn layers_are_sorted_and_carry_only_the_spec_metadata() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), true, 0o077, SystemTime::now());
    let (output, store) = build_in(dir.path());
    let blob = fs::read(store.blob_path(&output.layers[1].digest)).unwrap();
    // gzip header: no file name flag, no mtime, OS "unknown".
    assert_eq!(&blob[..4], &[0x1f, 0x8b, 8, 0]);
    assert_eq!(&blob[4..8], &[0, 0, 0, 0]);
    assert_eq!(blob[9], 255);
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(&blob[..])
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let mut reader = TarReader::new(&tar_bytes[..], ReadLimits::default());
    let mut entries = Vec::new();
    while let Some(header) = reader.next_header().unwrap() {
        assert_eq!(header.mtime, 1_700_000_000, "{}", header.path);
        entries.push((
            header.path.clone(),
            header.kind.clone(),
            header.mode,
            header.uid,
        ));
    }
    let paths: Vec<&str> = entries.iter().map(|(path, ..)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "opt/",
            "opt/app/",
            "opt/app/bin/",
            "opt/app/bin/app",
            "opt/app/etc/",
            "opt/app/etc/a-first.conf",
            "opt/app/etc/app.conf",
            "opt/app/etc/z-last.conf",
            "opt/app/share/",
            "opt/app/share/doc/",
            "opt/app/share/doc/README",
            "usr/",
            "usr/bin/",
            "usr/bin/run",
        ]
    );
    let find = |path: &str| entries.iter().find(|entry| entry.0 == path).unwrap();
    // Modes: only the owner's execute bit of an input counts.
    assert_eq!(find("opt/app/bin/app").2, 0o755);
    assert_eq!(find("opt/app/etc/app.conf").2, 0o644);
    assert_eq!(find("opt/app/etc/app.conf").3, 10001);
    assert_eq!(find("usr/bin/run").2, 0o755);
    assert_eq!(find("usr/bin/run").1, EntryKind::File);
    // The tar's header blocks carry no user or group names.
    for block in tar_bytes.chunks(512) {
        if &block[257..262] == b"ustar" {
            assert!(
                block[265..329].iter().all(|&b| b == 0),
                "uname/gname are empty"
            );
        }
    }
}

/// Build the spec `text` (inputs: one file `f`) in a fresh directory.
fn build_text(text: &str) -> Result<BuildOutput, stamp_image::BuildError> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), b"f\n").unwrap();
    fs::write(dir.path().join("stamp.toml"), text).unwrap();
    let spec = stamp_image::load_spec(&dir.path().join("stamp.toml")).unwrap();
    let store = Store::open_or_create(&dir.path().join(".stamp")).unwrap();
    stamp_image::build(&spec, &store, &BuildOptions::default())
}

#[test]
fn a_file_below_a_symlink_is_an_error_not_a_silent_replacement() {
    const HEAD: &str = "[image]\nname = \"x\"\nsource_date_epoch = 1\n[base]\nscratch = true\n";
    // A lower layer's `/bin -> usr/bin` must not turn into a directory holding one file.
    let lower = format!(
        "{HEAD}[[layers]]\nname = \"usrmerge\"\nsymlinks = [{{ path = \"/bin\", target = \"usr/bin\" }}]\nfiles = [{{ src = \"f\", dest = \"/usr/bin/sh\" }}]\n"
    );
    build_text(&lower).unwrap();
    let error = build_text(&format!(
        "{lower}[[layers]]\nname = \"tool\"\nfiles = [{{ src = \"f\", dest = \"/bin/tool\" }}]\n"
    ))
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "layer `tool`: `/bin/tool` would be written below `/bin`, which is a symlink in the image below, not a directory"
    );
    // In one layer, the layer would be refused by every unpacker.
    let error = build_text(&format!(
        "{HEAD}[[layers]]\nname = \"one\"\nsymlinks = [{{ path = \"/a\", target = \"/tmp\" }}]\nfiles = [{{ src = \"f\", dest = \"/a/b\" }}]\n"
    ))
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`/a/b` would be written below `/a`, which is a symlink in this layer"),
        "{error}"
    );
    // Below a file of the same layer, or of a layer below.
    let error = build_text(&format!(
        "{HEAD}[[layers]]\nname = \"one\"\nfiles = [{{ src = \"f\", dest = \"/etc\" }}]\ndirs = [{{ path = \"/etc/conf.d\" }}]\n"
    ))
    .unwrap_err();
    assert!(
        error.to_string().contains("which is a file in this layer"),
        "{error}"
    );
    let error = build_text(&format!(
        "{HEAD}[[layers]]\nfiles = [{{ src = \"f\", dest = \"/etc\" }}]\n[[layers]]\ndirs = [{{ path = \"/etc/x/y\" }}]\n"
    ))
    .unwrap_err();
    assert!(
        error.to_string().contains(
            "`/etc/x/y` would be written below `/etc`, which is a file in the image below"
        ),
        "{error}"
    );
    // Replacing the symlink itself, or a directory below a real directory, is fine.
    build_text(&format!(
        "{lower}[[layers]]\nsymlinks = [{{ path = \"/bin\", target = \"/usr/local/bin\" }}]\ndirs = [{{ path = \"/usr/bin/x\" }}]\n"
    ))
    .unwrap();
}
