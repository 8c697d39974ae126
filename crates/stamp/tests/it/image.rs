//! CLI tests of build, manifest and unpack: the images stamp writes pass three OCI readers we
//! did not write, rebuild to the same bytes under another directory, clock and umask, their
//! mtree export checks clean with NetBSD mtree, hostile layers in a store are refused, and
//! mistakes in stamp.toml are explained.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use stamp_core::Digest;

use crate::support::{describe, shared_oracles, stamp};

mod errors;
mod hostile_store;
mod reproducible;

const SETUP_HINT: &str = "run ../shared/oracles/setup.sh (as root) to install the checkers";

/// Fail (not skip) when a checker is missing.
fn require_tool(name: &str) {
    require_tool_or(name, SETUP_HINT);
}

/// Fail (not skip) when `name` is not on PATH, with `hint`.
fn require_tool_or(name: &str, hint: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "`{name}` is not on PATH; {hint}");
}

fn oracle_script(relative: &str) -> PathBuf {
    let path = shared_oracles().join(relative);
    assert!(
        path.is_file(),
        "{} is missing; {SETUP_HINT}",
        path.display()
    );
    path
}

fn is_root() -> bool {
    stamp_image::unpack::running_as_root()
}

/// `oci/validate.sh LAYOUT REF` must pass.
fn assert_valid_layout(layout: &Path, reference: &str) {
    for tool in ["oci-image-tool", "skopeo", "umoci", "jq"] {
        require_tool(tool);
    }
    let output = Command::new("bash")
        .arg(oracle_script("oci/validate.sh"))
        .arg(layout)
        .arg(reference)
        .output()
        .expect("bash runs");
    let text = describe(&output);
    assert_ne!(
        output.status.code(),
        Some(2),
        "validate.sh could not run; {SETUP_HINT}\n{text}"
    );
    assert!(
        output.status.success(),
        "OCI validation of {reference} failed:\n{text}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("PASS  umoci unpack"), "{text}");
    assert!(stdout.contains("RESULT: OK"), "{text}");
}

/// `mtree/check.sh SPEC DIR`: (exit code, output).
fn mtree_check(spec: &Path, dir: &Path) -> (i32, String) {
    require_tool("mtree");
    let output = Command::new("bash")
        .arg(oracle_script("mtree/check.sh"))
        .arg(spec)
        .arg(dir)
        .output()
        .expect("bash runs");
    (output.status.code().unwrap_or(-1), describe(&output))
}

/// Run the binary successfully and parse its stdout as JSON.
fn stamp_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = stamp(dir, args, &[]);
    assert!(
        output.status.success(),
        "stamp {args:?}: {}",
        describe(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stamp {args:?} prints JSON ({error}): {}",
            describe(&output)
        )
    })
}

fn write(path: &Path, content: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn entry<'a>(manifest: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["path"] == path)
        .unwrap_or_else(|| panic!("`{path}` is in the file manifest"))
}

const LONG_DIR: &str =
    "opt/a-directory-name-that-is-quite-long-on-purpose/and-another-one-below-it-also-long";

/// A scratch image of three layers with every kind of entry stamp writes.
fn write_scratch_spec(dir: &Path) {
    write(&dir.join("files/hello.txt"), b"hello\n", 0o644);
    write(&dir.join("files/run.sh"), b"#!/bin/sh\necho run\n", 0o755);
    write(
        &dir.join("files/passwd"),
        b"root:x:0:0::/:/sbin/nologin\napp:x:10001:10001::/:/sbin/nologin\n",
        0o644,
    );
    write(&dir.join("files/app/bin/app"), b"\x7fELF pretend\n", 0o755);
    write(&dir.join("files/app/etc/app.conf"), b"port = 8080\n", 0o600);
    std::os::unix::fs::symlink("../etc/app.conf", dir.join("files/app/bin/conf")).unwrap();
    let spec = format!(
        r#"[image]
name = "scratch-multi"
tag = "v1"
source_date_epoch = 1700000000
writable = ["/tmp", "/var/lib/app"]

[base]
scratch = true

[[layers]]
name = "skeleton"
dirs = [
  {{ path = "/tmp", mode = "1777" }},
  {{ path = "/etc", mode = "0755" }},
  {{ path = "/var/lib/app", mode = "0700", uid = 10001, gid = 10001 }},
]
symlinks = [
  {{ path = "/bin", target = "usr/bin" }},
  {{ path = "/var/lib/current", target = "/var/lib/app", uid = 10001, gid = 10001 }},
]
files = [{{ src = "files/passwd", dest = "/etc/passwd", mode = "0644" }}]

[[layers]]
name = "application"
files = [
  {{ src = "files/app", dest = "/opt/app", uid = 10001, gid = 10002, dir_mode = "0750" }},
  {{ src = "files/run.sh", dest = "/usr/bin/run", mode = "0755" }},
  {{ src = "files/run.sh", dest = "/usr/bin/su-run", mode = "4755" }},
  {{ src = "files/hello.txt", dest = "/{LONG_DIR}/a-file-whose-path-needs-pax.txt", uid = 3000000, gid = 3000001 }},
]

[[layers]]
name = "scratch space"
files = [{{ src = "files/hello.txt", dest = "/tmp/seed.txt", mode = "0666" }}]

[config]
entrypoint = ["/usr/bin/run"]
cmd = ["--serve"]
env = {{ PORT = "8080", MODE = "production" }}
user = "10001:10001"
workdir = "/opt/app"
exposed_ports = ["8080/tcp", "8125/udp"]
labels = {{ "org.opencontainers.image.title" = "scratch-multi" }}
"#
    );
    assert!(format!("/{LONG_DIR}/a-file-whose-path-needs-pax.txt").len() > 100);
    fs::write(dir.join("stamp.toml"), spec).unwrap();
}

#[test]
fn scratch_image_with_several_layers_passes_the_oci_checkers() {
    let dir = tempfile::tempdir().unwrap();
    write_scratch_spec(dir.path());
    let built = stamp_json(dir.path(), &["build", "--format", "json"]);
    assert_eq!(built["reference"], "scratch-multi:v1");
    assert_eq!(built["layers"].as_array().unwrap().len(), 3);
    assert_valid_layout(&dir.path().join(".stamp/oci"), "scratch-multi:v1");

    let manifest = stamp_json(
        dir.path(),
        &["manifest", "scratch-multi:v1", "--format", "json"],
    );
    assert_eq!(manifest["image"], built["digest"]);
    assert_eq!(entry(&manifest, "/tmp")["mode"], "1777");
    assert_eq!(entry(&manifest, "/usr/bin/su-run")["mode"], "4755");
    assert_eq!(entry(&manifest, "/bin")["target"], "usr/bin");
    assert_eq!(
        entry(&manifest, "/opt/app/bin/conf")["target"],
        "../etc/app.conf"
    );
    assert_eq!(entry(&manifest, "/opt/app/etc")["mode"], "0750");
    assert_eq!(entry(&manifest, "/opt/app/etc/app.conf")["mode"], "0644");
    assert_eq!(entry(&manifest, "/opt/app/bin/app")["gid"], 10002);
    let long = entry(
        &manifest,
        &format!("/{LONG_DIR}/a-file-whose-path-needs-pax.txt"),
    );
    assert_eq!(long["uid"], 3000000);
    assert_eq!(long["gid"], 3000001);

    // The config says what the spec says.
    let config = image_config(&dir.path().join(".stamp/oci"), &built);
    assert_eq!(config["config"]["User"], "10001:10001");
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["MODE=production", "PORT=8080"])
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/run"])
    );
    assert_eq!(config["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");
}

/// The image configuration of the image `built` describes, read from `layout`.
fn image_config(layout: &Path, built: &serde_json::Value) -> serde_json::Value {
    let read = |digest: &str| -> serde_json::Value {
        let digest: Digest = digest.parse().unwrap();
        serde_json::from_slice(&fs::read(layout.join("blobs/sha256").join(digest.hex())).unwrap())
            .unwrap()
    };
    let manifest = read(built["digest"].as_str().unwrap());
    read(manifest["config"]["digest"].as_str().unwrap())
}

/// A small root filesystem tarball made with Python's tarfile (not stamp's writer).
fn write_rootfs_tarball(path: &Path) {
    const SCRIPT: &str = r##"
import io, sys, tarfile
def info(name, kind, mode, data=b"", link="", uid=0, gid=0):
    item = tarfile.TarInfo(name)
    item.type, item.mode, item.mtime, item.uid, item.gid = kind, mode, 1600000000, uid, gid
    item.uname, item.gname, item.linkname, item.size = "root", "root", link, len(data)
    return item, (io.BytesIO(data) if data else None)
entries = [
    info("./", tarfile.DIRTYPE, 0o755),
    info("./bin", tarfile.SYMTYPE, 0o777, link="usr/bin"),
    info("./etc/", tarfile.DIRTYPE, 0o755),
    info("./etc/os-release", tarfile.REGTYPE, 0o644, b"ID=stamp-test\n"),
    info("./etc/shadow", tarfile.REGTYPE, 0o640, b"root:*:19000::::::\n", gid=42),
    info("./tmp/", tarfile.DIRTYPE, 0o1777),
    info("./usr/", tarfile.DIRTYPE, 0o755),
    info("./usr/bin/", tarfile.DIRTYPE, 0o755),
    info("./usr/bin/tool", tarfile.REGTYPE, 0o755, b"#!/bin/sh\necho tool\n"),
    info("./usr/bin/tool-again", tarfile.LNKTYPE, 0o755, link="./usr/bin/tool"),
]
with tarfile.open(sys.argv[1], "w:gz", format=tarfile.PAX_FORMAT) as archive:
    for item, data in entries:
        archive.addfile(item, data)
"##;
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .output()
        .expect("python3 runs (needed to make a rootfs tarball)");
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn image_on_a_rootfs_tarball_passes_the_oci_checkers_and_mtree() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("base/rootfs.tar.gz");
    fs::create_dir_all(tarball.parent().unwrap()).unwrap();
    write_rootfs_tarball(&tarball);
    let sha256 = Digest::of(&fs::read(&tarball).unwrap()).hex();
    write(&dir.path().join("app.conf"), b"port = 8080\n", 0o644);
    fs::write(
        dir.path().join("stamp.toml"),
        format!(
            r#"[image]
name = "on-rootfs"
source_date_epoch = 1700000000

[base]
rootfs = "base/rootfs.tar.gz"
sha256 = "{sha256}"

[[layers]]
name = "config"
files = [{{ src = "app.conf", dest = "/etc/app.conf" }}, {{ src = "app.conf", dest = "/tmp/app.conf" }}]
"#
        ),
    )
    .unwrap();
    let built = stamp_json(dir.path(), &["build", "--format", "json"]);
    let layers = built["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0]["from_base"], true);
    assert_valid_layout(&dir.path().join(".stamp/oci"), "on-rootfs:latest");

    let manifest = stamp_json(dir.path(), &["manifest", "on-rootfs", "--format", "json"]);
    assert_eq!(
        entry(&manifest, "/tmp")["mode"],
        "1777",
        "a new file keeps /tmp's mode"
    );
    assert_eq!(entry(&manifest, "/etc/shadow")["gid"], 42);
    assert_eq!(
        entry(&manifest, "/usr/bin/tool-again")["sha256"],
        entry(&manifest, "/usr/bin/tool")["sha256"]
    );
    assert_eq!(entry(&manifest, "/etc/app.conf")["size"], 12);

    let unpacked = dir.path().join("unpacked");
    let output = stamp(
        dir.path(),
        &["unpack", "on-rootfs", unpacked.to_str().unwrap()],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let spec = mtree_spec(dir.path(), "on-rootfs");
    let (code, text) = mtree_check(&spec, &unpacked);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn image_on_an_oci_layout_base_passes_the_oci_checkers() {
    let dir = tempfile::tempdir().unwrap();
    let base_dir = dir.path().join("base");
    fs::create_dir_all(&base_dir).unwrap();
    write_scratch_spec(&base_dir);
    let base = stamp_json(&base_dir, &["build", "--format", "json"]);
    let base_digest = base["digest"].as_str().unwrap();

    let app_dir = dir.path().join("app");
    write(&app_dir.join("extra.txt"), b"on top\n", 0o644);
    fs::write(
        app_dir.join("stamp.toml"),
        format!(
            r#"[image]
name = "on-layout"
tag = "2"
source_date_epoch = 1700000100

[base]
oci_layout = "../base/.stamp/oci"
digest = "{base_digest}"

[[layers]]
name = "extra"
files = [{{ src = "extra.txt", dest = "/opt/app/extra.txt", uid = 10001, gid = 10001 }}]
dirs = [{{ path = "/srv", mode = "0755" }}]

[config]
env = {{ EXTRA = "1" }}
"#
        ),
    )
    .unwrap();
    let built = stamp_json(&app_dir, &["build", "--format", "json"]);
    assert_eq!(built["base_digest"], base_digest);
    let layers = built["layers"].as_array().unwrap();
    let base_layers = base["layers"].as_array().unwrap();
    assert_eq!(layers.len(), base_layers.len() + 1);
    for (ours, theirs) in layers.iter().zip(base_layers) {
        assert_eq!(
            ours["digest"], theirs["digest"],
            "base layers are reused as they are"
        );
        assert_eq!(ours["from_base"], true);
    }
    assert_valid_layout(&app_dir.join(".stamp/oci"), "on-layout:2");

    let manifest = stamp_json(&app_dir, &["manifest", "on-layout:2"]);
    assert_eq!(
        entry(&manifest, "/usr/bin/su-run")["mode"],
        "4755",
        "base content is kept"
    );
    assert_eq!(
        entry(&manifest, "/opt/app")["mode"],
        "0750",
        "a parent keeps its base mode"
    );
    assert_eq!(entry(&manifest, "/opt/app/extra.txt")["uid"], 10001);
    // The runtime config is inherited and extended; the history covers every layer.
    let config = image_config(&app_dir.join(".stamp/oci"), &built);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/run"])
    );
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["EXTRA=1", "MODE=production", "PORT=8080"])
    );
    assert_eq!(config["history"].as_array().unwrap().len(), layers.len());
}

/// Write the mtree export of `image` next to the spec; without root the owners of an unpacked
/// tree are the caller's, so uid and gid are then left out of the comparison.
fn mtree_spec(dir: &Path, image: &str) -> PathBuf {
    let output = stamp(dir, &["manifest", image, "--format", "mtree"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let mut text = String::from_utf8(output.stdout).unwrap();
    assert!(text.starts_with("#mtree\n"), "{text}");
    if !is_root() {
        text = text
            .lines()
            .map(|line| {
                line.split(' ')
                    .filter(|word| !word.starts_with("uid=") && !word.starts_with("gid="))
                    .collect::<Vec<_>>()
                    .join(" ")
                    + "\n"
            })
            .collect();
    }
    let path = dir.join(format!("{}.mtree", image.replace([':', '/'], "_")));
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn mtree_export_checks_clean_against_umoci_and_stamp_unpack_and_catches_a_change() {
    require_tool("umoci");
    let dir = tempfile::tempdir().unwrap();
    write_scratch_spec(dir.path());
    stamp_json(dir.path(), &["build", "--format", "json"]);
    let spec = mtree_spec(dir.path(), "scratch-multi:v1");

    // umoci's unpack of the layout.
    let bundle = dir.path().join("bundle");
    let layout = format!(
        "{}:scratch-multi:v1",
        dir.path().join(".stamp/oci").display()
    );
    let mut umoci = Command::new("umoci");
    umoci.arg("unpack");
    if !is_root() {
        umoci.arg("--rootless");
    }
    let output = umoci
        .args(["--image", &layout])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "umoci unpack: {}",
        describe(&output)
    );
    let rootfs = bundle.join("rootfs");
    let (code, text) = mtree_check(&spec, &rootfs);
    assert_eq!(code, 0, "mtree export vs umoci unpack:\n{text}");
    // One changed file is reported.
    let changed = rootfs.join("etc/passwd");
    let mut file = fs::OpenOptions::new().append(true).open(&changed).unwrap();
    file.write_all(b"intruder:x:0:0::/:/bin/sh\n").unwrap();
    drop(file);
    let (code, text) = mtree_check(&spec, &rootfs);
    assert_ne!(code, 0, "a changed file is a mismatch:\n{text}");
    assert!(text.contains("etc/passwd"), "{text}");

    // stamp's own unpack.
    let unpacked = dir.path().join("unpacked");
    let output = stamp(
        dir.path(),
        &["unpack", "scratch-multi:v1", unpacked.to_str().unwrap()],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let (code, text) = mtree_check(&spec, &unpacked);
    assert_eq!(code, 0, "mtree export vs stamp unpack:\n{text}");
    fs::write(unpacked.join("opt/app/etc/app.conf"), b"port = 9090\n").unwrap();
    let (code, text) = mtree_check(&spec, &unpacked);
    assert_ne!(code, 0, "a changed file is a mismatch:\n{text}");
    assert!(text.contains("opt/app/etc/app.conf"), "{text}");
    // A changed mode is reported as well.
    fs::write(unpacked.join("opt/app/etc/app.conf"), b"port = 8080\n").unwrap();
    fs::set_permissions(
        unpacked.join("usr/bin/su-run"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (code, text) = mtree_check(&spec, &unpacked);
    assert_ne!(code, 0, "a changed mode is a mismatch:\n{text}");
    assert!(text.contains("usr/bin/su-run"), "{text}");
}
