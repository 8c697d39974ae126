//! Reproducibility through the real binary: another directory, other input mtimes and
//! permission bits, the opposite creation order, another umask and another wall clock.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use stamp_core::Digest;

use super::{assert_valid_layout, require_tool_or, write};
use crate::support::{describe, stamp_binary};

/// Inputs for the reproducibility test, written in `order` with `mode_bits` and mtimes.
fn write_repro_inputs(dir: &Path, reverse: bool, group_other_bits: u32, mtime: SystemTime) {
    let mut files: Vec<(&str, &[u8], u32)> = vec![
        ("stamp.toml", REPRO_SPEC.as_bytes(), 0o600),
        ("src/bin/server", b"\x7fELF server\n", 0o700),
        ("src/etc/a.conf", b"a\n", 0o600),
        ("src/etc/b.conf", b"b\n", 0o600),
        ("src/etc/nested/c.conf", b"c\n", 0o600),
        ("src/share/z", b"z\n", 0o600),
        ("notes.txt", b"hello\n", 0o600),
    ];
    if reverse {
        files.reverse();
    }
    for (index, (path, content, mode)) in files.into_iter().enumerate() {
        let path = dir.join(path);
        write(&path, content, mode | group_other_bits);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime + Duration::from_secs(index as u64 * 3571))
            .unwrap();
    }
    let link = dir.join("src/etc/current");
    std::os::unix::fs::symlink("a.conf", link).unwrap();
    for directory in ["src", "src/etc", "src/etc/nested", "src/bin", "src/share"] {
        fs::set_permissions(
            dir.join(directory),
            fs::Permissions::from_mode(0o700 | group_other_bits),
        )
        .unwrap();
    }
}

const REPRO_SPEC: &str = r#"[image]
name = "repro"
tag = "1"
source_date_epoch = 1700000000

[base]
scratch = true

[[layers]]
name = "tree"
files = [{ src = "src", dest = "/opt/app" }]
dirs = [{ path = "/tmp", mode = "1777" }]

[[layers]]
name = "notes"
files = [{ src = "notes.txt", dest = "/usr/share/doc/notes.txt" }]
symlinks = [{ path = "/usr/bin/server", target = "/opt/app/bin/server" }]
"#;

/// `stamp build --format json` under `umask`, optionally behind `faketime TIME`.
fn build_with(dir: &Path, umask: &str, faketime: Option<&str>) -> serde_json::Value {
    let mut command = match faketime {
        Some(time) => {
            let mut command = Command::new("faketime");
            command.arg(time).arg("sh");
            command
        }
        None => Command::new("sh"),
    };
    command
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(stamp_binary())
        .args(["build", "--format", "json"])
        .current_dir(dir)
        .env_remove("STAMP_HOME")
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null());
    let output = command.output().expect("sh runs");
    assert!(output.status.success(), "{}", describe(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn layer_blobs(dir: &Path, built: &serde_json::Value) -> Vec<Vec<u8>> {
    built["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let digest: Digest = layer["digest"].as_str().unwrap().parse().unwrap();
            fs::read(dir.join(".stamp/oci/blobs/sha256").join(digest.hex())).unwrap()
        })
        .collect()
}

#[test]
fn same_spec_elsewhere_with_other_mtimes_umask_order_and_clock_gives_the_same_digest() {
    require_tool_or(
        "faketime",
        "install it with `apt-get install faketime` (.ci/run does)",
    );
    let clock = Command::new("faketime")
        .args(["2031-05-05 12:00:00", "date", "-u", "+%Y"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&clock.stdout).trim(),
        "2031",
        "faketime works"
    );

    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let second_dir = second.path().join("somewhere/else");
    fs::create_dir_all(&second_dir).unwrap();
    write_repro_inputs(
        first.path(),
        false,
        0o055,
        SystemTime::UNIX_EPOCH + Duration::from_secs(86_400),
    );
    write_repro_inputs(&second_dir, true, 0o000, SystemTime::now());

    let one = build_with(first.path(), "022", None);
    let two = build_with(&second_dir, "077", Some("2031-05-05 12:00:00"));
    assert_eq!(
        one["digest"], two["digest"],
        "manifest digests differ:\n{one:#}\n{two:#}"
    );
    assert_eq!(one["config_digest"], two["config_digest"]);
    assert_eq!(one["file_manifest_root"], two["file_manifest_root"]);
    assert_eq!(
        layer_blobs(first.path(), &one),
        layer_blobs(&second_dir, &two)
    );
    // The store under umask 077 is still a valid layout.
    assert_valid_layout(&second_dir.join(".stamp/oci"), "repro:1");

    // The comparison can fail: one changed byte gives another digest.
    fs::write(second_dir.join("src/share/z"), b"Z\n").unwrap();
    let three = build_with(&second_dir, "077", None);
    assert_ne!(one["digest"], three["digest"]);
}
