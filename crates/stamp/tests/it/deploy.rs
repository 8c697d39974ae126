//! Drift detection (`stamp drift --path`) against an image's file manifest (PCI DSS 11.5.2).
//!
//! These tests run as root (the machine and CI are root): `chown` cases need it, and
//! unpacking applies the image's owners only as root.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{describe, stamp};

/// A built image and a fresh unpacked copy of it.
struct Fixture {
    dir: tempfile::TempDir,
    rootfs: PathBuf,
    digest: String,
}

fn write(path: &Path, content: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn assert_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the drift tests must run as root (unpacking applies the image's owners only as root)"
    );
}

/// A small scratch image with files, a symlink and two declared writable paths.
fn fixture() -> Fixture {
    assert_root();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(&root.join("files/app.conf"), b"port = 8080\n", 0o644);
    write(
        &root.join("files/server"),
        b"#!/bin/sh\necho serve\n",
        0o755,
    );
    fs::write(
        root.join("stamp.toml"),
        r#"[image]
name = "drift-fixture"
tag = "v1"
source_date_epoch = 1700000000
writable = ["/tmp", "/var/lib/app"]

[base]
scratch = true

[[layers]]
name = "app"
dirs = [
  { path = "/tmp", mode = "1777" },
  { path = "/var/lib/app", mode = "0700", uid = 10001, gid = 10001 },
]
symlinks = [{ path = "/etc/current.conf", target = "/etc/app.conf" }]
files = [
  { src = "files/app.conf", dest = "/etc/app.conf", mode = "0644" },
  { src = "files/server", dest = "/usr/bin/server", mode = "0755", uid = 10001, gid = 10001 },
]

[config]
entrypoint = ["/usr/bin/server"]
user = "10001:10001"
"#,
    )
    .unwrap();
    let built = json(root, &["build", "--format", "json"]);
    let digest = built["digest"].as_str().unwrap().to_string();
    let rootfs = root.join("rootfs");
    let output = stamp(
        root,
        &["unpack", "drift-fixture:v1", rootfs.to_str().unwrap()],
        &[],
    );
    assert!(output.status.success(), "unpack: {}", describe(&output));
    Fixture {
        dir,
        rootfs,
        digest,
    }
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = stamp(dir, args, &[]);
    assert!(
        output.status.success(),
        "stamp {args:?}: {}",
        describe(&output)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

impl Fixture {
    fn drift(&self) -> (Output, serde_json::Value) {
        let output = stamp(
            self.dir.path(),
            &[
                "drift",
                "--path",
                self.rootfs.to_str().unwrap(),
                "--image",
                "drift-fixture:v1",
                "--format",
                "json",
            ],
            &[],
        );
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|error| panic!("drift prints JSON ({error}): {}", describe(&output)));
        (output, report)
    }

    /// Run drift, expect exit 1 and exactly one difference with `code` at `path`.
    fn expect_one(&self, code: &str, path: &str) -> serde_json::Value {
        let (output, report) = self.drift();
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert_eq!(report["drifted"], true);
        let differences = report["differences"].as_array().unwrap();
        assert_eq!(differences.len(), 1, "{report:#}");
        assert_eq!(differences[0]["code"], code, "{report:#}");
        assert_eq!(differences[0]["path"], path, "{report:#}");
        assert_eq!(report["counts"][code], 1);
        report
    }

    fn drift_events(&self) -> Vec<serde_json::Value> {
        json(
            self.dir.path(),
            &["log", "show", "--kind", "drift", "--format", "json"],
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event"].clone())
        .collect()
    }
}

#[test]
fn an_untouched_tree_has_no_drift_and_lists_the_writable_paths_as_excluded() {
    let fixture = fixture();
    let (output, report) = fixture.drift();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(report["drifted"], false);
    assert_eq!(report["differences"], serde_json::json!([]));
    assert_eq!(report["image"], fixture.digest.as_str());
    assert_eq!(
        report["excluded"],
        serde_json::json!(["/tmp", "/var/lib/app"])
    );
    let events = fixture.drift_events();
    assert_eq!(events.len(), 1);
    let details = &events[0]["details"];
    assert_eq!(details["drifted"], false);
    assert_eq!(details["differences"], 0);
    assert_eq!(details["image"], fixture.digest.as_str());
    // SHA-256 of the empty canonical list `[]`.
    assert_eq!(
        details["differences_sha256"],
        "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"
    );
    assert_eq!(events[0]["outcome"], "success");
}

#[test]
fn writing_into_declared_writable_paths_is_not_drift() {
    let fixture = fixture();
    write(&fixture.rootfs.join("tmp/cache/session"), b"state", 0o600);
    write(&fixture.rootfs.join("var/lib/app/data.db"), b"rows", 0o600);
    fs::set_permissions(
        fixture.rootfs.join("var/lib/app"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let (output, report) = fixture.drift();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(report["drifted"], false, "{report:#}");
}

#[test]
fn a_modified_file_is_drift_modified_and_the_event_pins_the_list() {
    let fixture = fixture();
    fs::write(fixture.rootfs.join("etc/app.conf"), b"port = 9090\n").unwrap();
    let report = fixture.expect_one("drift-modified", "/etc/app.conf");
    let events = fixture.drift_events();
    let details = &events[0]["details"];
    assert_eq!(details["drifted"], true);
    assert_eq!(details["differences"], 1);
    assert_eq!(details["counts"]["drift-modified"], 1);
    assert_eq!(details["differences_sha256"], report["differences_sha256"]);
    // The digest is SHA-256 of the compact JSON of the list, so anyone can recompute it.
    let canonical = serde_json::to_vec(&report["differences"]).unwrap();
    let recomputed = {
        use std::io::Write;
        let mut child = std::process::Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sha256sum runs");
        child.stdin.take().unwrap().write_all(&canonical).unwrap();
        let output = child.wait_with_output().unwrap();
        String::from_utf8(output.stdout).unwrap()[..64].to_string()
    };
    assert_eq!(details["differences_sha256"], recomputed.as_str());
}

#[test]
fn an_added_file_is_drift_added() {
    let fixture = fixture();
    write(&fixture.rootfs.join("usr/bin/backdoor"), b"x", 0o755);
    fixture.expect_one("drift-added", "/usr/bin/backdoor");
}

#[test]
fn a_deleted_file_is_drift_removed() {
    let fixture = fixture();
    fs::remove_file(fixture.rootfs.join("etc/app.conf")).unwrap();
    fixture.expect_one("drift-removed", "/etc/app.conf");
}

#[test]
fn a_chmod_is_drift_mode() {
    let fixture = fixture();
    fs::set_permissions(
        fixture.rootfs.join("usr/bin/server"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    let report = fixture.expect_one("drift-mode", "/usr/bin/server");
    assert_eq!(report["differences"][0]["expected"], "0755");
    assert_eq!(report["differences"][0]["actual"], "4755");
}

#[test]
fn a_chown_is_drift_owner() {
    let fixture = fixture();
    std::os::unix::fs::chown(fixture.rootfs.join("etc/app.conf"), Some(10001), Some(0)).unwrap();
    let report = fixture.expect_one("drift-owner", "/etc/app.conf");
    assert_eq!(report["differences"][0]["expected"], "0:0");
    assert_eq!(report["differences"][0]["actual"], "10001:0");
}

#[test]
fn a_retargeted_symlink_is_drift_symlink_target() {
    let fixture = fixture();
    let link = fixture.rootfs.join("etc/current.conf");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/tmp/evil.conf", &link).unwrap();
    let report = fixture.expect_one("drift-symlink-target", "/etc/current.conf");
    assert_eq!(report["differences"][0]["expected"], "/etc/app.conf");
    assert_eq!(report["differences"][0]["actual"], "/tmp/evil.conf");
}

#[test]
fn a_directory_check_leaves_the_instance_projection_alone_and_replays() {
    let fixture = fixture();
    fs::write(fixture.rootfs.join("etc/app.conf"), b"changed\n").unwrap();
    let (output, _) = fixture.drift();
    assert_eq!(output.status.code(), Some(1));
    let replay = json(fixture.dir.path(), &["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
}

#[test]
fn text_output_names_each_difference_and_exits_1() {
    let fixture = fixture();
    fs::remove_file(fixture.rootfs.join("etc/app.conf")).unwrap();
    let output = stamp(
        fixture.dir.path(),
        &[
            "drift",
            "--path",
            fixture.rootfs.to_str().unwrap(),
            "--image",
            "drift-fixture:v1",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.starts_with("drift-removed\t/etc/app.conf\t"),
        "{stdout}"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("excluded (declared writable): /tmp"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// The local runtime on runc, with the example service.

const EXAMPLE_TARGET: &str = "x86_64-unknown-linux-gnu";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/payments-api")
}

/// runc must be installed: these tests fail (never skip) without it.
fn runc_path() -> PathBuf {
    assert_root();
    let found = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("runc"))
                .find(|path| path.is_file())
        })
        .unwrap_or_default();
    found.expect(
        "runc is not installed: the deploy tests need it (`apt-get install runc`, which `.ci/run` does)",
    )
}

/// Build the example's static binary when it is not there yet or older than its sources (as
/// `stamp demo` does); the health-command tests need its `--health` mode.
fn example_binary() {
    let example = example_dir();
    let binary = example.join(format!("target/{EXAMPLE_TARGET}/release/payments-api"));
    let modified = |path: &Path| fs::metadata(path).and_then(|meta| meta.modified()).ok();
    let built = modified(&binary);
    let newest_source = fs::read_dir(example.join("src"))
        .unwrap()
        .filter_map(|entry| modified(&entry.unwrap().path()))
        .max();
    if built.is_some() && built >= newest_source {
        return;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(&example)
        .args(["build", "--release", "--quiet", "--target", EXAMPLE_TARGET])
        .env("CARGO_TARGET_DIR", example.join("target"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the example service failed");
}

/// A store holding the example image; returns (temp dir, home, digest).
fn example_image() -> (tempfile::TempDir, PathBuf, String) {
    example_binary();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join(".stamp");
    let spec = example_dir().join("stamp.toml");
    let output = stamp(
        dir.path(),
        &[
            "build",
            "--spec",
            spec.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[
            ("STAMP_HOME", home.to_str().unwrap()),
            ("SOURCE_DATE_EPOCH", "1700000000"),
        ],
    );
    assert!(output.status.success(), "build: {}", describe(&output));
    let built: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let digest = built["digest"].as_str().unwrap().to_string();
    (dir, home, digest)
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stops the instance when the test ends, passed or not.
struct Running<'a> {
    runtime: &'a stamp_deploy::runc::RuncRuntime,
    id: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        use stamp_deploy::runtime::Runtime;
        let _ = self
            .runtime
            .stop(&self.id, std::time::Duration::from_secs(5));
    }
}

#[test]
fn runc_runs_the_example_read_only_as_its_user_and_stops_it() {
    use stamp_deploy::runtime::{InstanceState, Runtime};
    use std::time::Duration;
    let runc = runc_path();
    let (_dir, home, digest) = example_image();
    let store = stamp_image::Store::open(&home).unwrap();
    let image = store.resolve(&digest).unwrap();
    let config = store
        .read_config(&store.read_manifest(&image.digest).unwrap().config.digest)
        .unwrap();
    let writable = stamp_deploy::writable_paths(&config).unwrap();
    let runtime = stamp_deploy::runc::RuncRuntime::new(&home, &runc).unwrap();
    let rootfs = runtime.prepare(&store, &image.digest, &writable).unwrap();
    assert_eq!(
        rootfs,
        std::path::absolute(&home)
            .unwrap()
            .join("bundles")
            .join(image.digest.hex())
            .join("rootfs")
    );
    let port = free_port();
    let id = format!("t-{}-{port}", std::process::id());
    let spec =
        stamp_deploy::runc::instance_spec(&id, &image.digest, &config, &writable, port).unwrap();
    runtime.start(&spec).unwrap();
    let running = Running {
        runtime: &runtime,
        id: id.clone(),
    };
    assert!(
        stamp_deploy::health::wait_healthy(port, "/health", Duration::from_secs(20)),
        "the instance did not answer on port {port}; stderr: {}",
        fs::read_to_string(runtime.instance_dir(&id).join("stderr.log")).unwrap_or_default()
    );
    let status = runtime.state(&id).unwrap();
    assert_eq!(status.state, InstanceState::Running);
    let pid = status.pid.expect("a running instance has a pid");
    // The process runs as the image's user with no capabilities and no new privileges.
    let proc_status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        proc_status
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in /proc/{pid}/status"))
            .to_string()
    };
    assert!(field("Uid:").contains("10001"), "{}", field("Uid:"));
    assert_eq!(field("CapEff:"), "CapEff:\t0000000000000000");
    assert_eq!(field("CapBnd:"), "CapBnd:\t0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "NoNewPrivs:\t1");
    // Its own PID namespace, the host's network namespace.
    let namespace =
        |pid: &str, kind: &str| fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
    assert_ne!(namespace(&pid.to_string(), "pid"), namespace("self", "pid"));
    assert_eq!(namespace(&pid.to_string(), "net"), namespace("self", "net"));
    assert!(runtime
        .list()
        .unwrap()
        .iter()
        .any(|instance| instance.id == id));
    // Starting wrote nothing into the shared rootfs: it still matches the image.
    let output = stamp(
        home.parent().unwrap(),
        &[
            "drift",
            "--path",
            rootfs.to_str().unwrap(),
            "--image",
            &digest,
        ],
        &[("STAMP_HOME", home.to_str().unwrap())],
    );
    // The mount points runc needs (/proc, /dev) were added when the bundle was prepared.
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    for line in stdout.lines() {
        assert!(
            line.starts_with("drift-added\t/proc\t") || line.starts_with("drift-added\t/dev\t"),
            "unexpected drift in the shared rootfs: {line}"
        );
    }
    drop(running);
    assert_eq!(runtime.state(&id).unwrap().state, InstanceState::Stopped);
    assert!(!stamp_deploy::health::http_ok(
        port,
        "/health",
        Duration::from_millis(300)
    ));
}

// ---------------------------------------------------------------------------------------------
// `stamp deploy`, `status`, `rollback`, `revoke` on runc with the example service.

/// The identity that deploys in these tests (role deployer).
const DEPLOYER: &str = "deployer@example.com";

/// A store with the example image, an approver identity, a deployer identity and the
/// vulnerability database.
struct Site {
    dir: tempfile::TempDir,
    home: PathBuf,
    runc: PathBuf,
}

impl Site {
    fn new() -> Site {
        let runc = runc_path();
        let (dir, home, _) = example_image();
        let site = Site { dir, home, runc };
        site.ok(&["key", "new", "--name", "alice", "--role", "approver"]);
        site.ok(&["key", "new", "--name", DEPLOYER, "--role", "deployer"]);
        let osv = crate::support::shared_oracles().join("../data/osv");
        site.ok(&["db", "import", osv.to_str().unwrap()]);
        site
    }

    fn run(&self, args: &[&str]) -> Output {
        stamp(
            self.dir.path(),
            args,
            &[
                ("STAMP_HOME", self.home.to_str().unwrap()),
                ("SOURCE_DATE_EPOCH", "1700000000"),
                ("STAMP_ACTOR", "ci@test"),
            ],
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "stamp {args:?}: {}",
            describe(&output)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// Build the example again with another source date: a second digest of the same service.
    fn build_variant(&self, epoch: &str) -> String {
        let spec = example_dir().join("stamp.toml");
        let output = stamp(
            self.dir.path(),
            &[
                "build",
                "--spec",
                spec.to_str().unwrap(),
                "--format",
                "json",
            ],
            &[
                ("STAMP_HOME", self.home.to_str().unwrap()),
                ("SOURCE_DATE_EPOCH", epoch),
            ],
        );
        assert!(output.status.success(), "build: {}", describe(&output));
        let built: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        built["digest"].as_str().unwrap().to_string()
    }

    /// Deploy and expect a refusal with `code`, recorded as a failed deploy event.
    fn expect_refused(&self, digest: &str, code: &str, port: u16) {
        let port = port.to_string();
        let output = self.run(&["deploy", "dev", digest, "--port", &port, "--key", DEPLOYER]);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let events = self.json(&["log", "show", "--kind", "deploy", "--format", "json"]);
        let last = &events.as_array().unwrap().last().unwrap()["event"];
        assert_eq!(last["outcome"], "failure", "{last:#}");
        assert_eq!(last["subject"], digest);
        assert_eq!(last["details"]["code"], code, "{last:#}");
        assert!(last["details"]["reason"].as_str().unwrap().len() > 10);
    }

    fn status(&self) -> serde_json::Value {
        self.json(&["status", "dev", "--format", "json"])["environments"][0].clone()
    }
}

impl Drop for Site {
    /// Stop every instance the test started, whatever happened.
    fn drop(&mut self) {
        use stamp_deploy::runtime::Runtime;
        if let Ok(runtime) = stamp_deploy::runc::RuncRuntime::new(&self.home, &self.runc) {
            for instance in runtime.list().unwrap_or_default() {
                let _ = runtime.stop(&instance.id, std::time::Duration::from_secs(1));
            }
        }
    }
}

fn get(endpoint: &str, path: &str) -> bool {
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    stamp_deploy::health::http_ok(port, path, std::time::Duration::from_secs(2))
}

#[test]
fn deploy_admits_only_gated_approved_unrevoked_images_and_rolls_back() {
    let site = Site::new();
    let port = free_port();
    let first = site.build_variant("1700000000");

    // Ungated: no `stamp check` yet.
    site.expect_refused(&first, "gate-not-passed", port);
    site.ok(&["check", &first]);
    // Gated but unapproved.
    site.expect_refused(&first, "not-approved", port);
    // The builder approving its own image is refused, so it still counts nothing.
    let own = site.run(&["approve", &first, "--env", "dev"]);
    assert_eq!(own.status.code(), Some(1), "{}", describe(&own));
    site.expect_refused(&first, "not-approved", port);
    site.ok(&["approve", &first, "--env", "dev", "--key", "alice"]);

    // Admitted: the service answers over HTTP.
    let deployed = site.json(&[
        "deploy",
        "dev",
        "--key",
        DEPLOYER,
        &first,
        "--port",
        &port.to_string(),
        "--format",
        "json",
    ]);
    let endpoint = deployed["instances"][0]["endpoint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(get(&endpoint, "/health"), "{deployed:#}");
    assert!(get(&endpoint, "/version"), "{deployed:#}");
    let status = site.status();
    assert_eq!(status["image"], first.as_str());
    assert_eq!(status["instances"][0]["healthy"], true, "{status:#}");
    assert_eq!(status["instances"][0]["runtime_state"], "running");

    // A second digest, two replicas: the old instance is replaced while a client polls.
    let second = site.build_variant("1700000100");
    assert_ne!(first, second);
    site.ok(&["check", &second]);
    site.ok(&["approve", &second, "--env", "dev", "--key", "alice"]);
    let poller = Poller::start(port, 4);
    let replaced = site.json(&[
        "deploy",
        "dev",
        "--key",
        DEPLOYER,
        &second,
        "--replicas",
        "2",
        "--port",
        &port.to_string(),
        "--format",
        "json",
    ]);
    poller.finish();
    assert_eq!(
        replaced["replaced"],
        serde_json::json!([deployed["instances"][0]["id"]])
    );
    assert!(!get(&endpoint, "/health"), "the old instance is stopped");
    let instances = replaced["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    for instance in instances {
        assert!(get(instance["endpoint"].as_str().unwrap(), "/health"));
    }
    let status = site.status();
    assert_eq!(status["image"], second.as_str());
    assert_eq!(status["previous"], first.as_str());
    assert_eq!(
        status["instances"].as_array().unwrap().len(),
        2,
        "{status:#}"
    );

    // Rollback goes through the same admission: the builder (default key) may not roll back.
    let refused = site.run(&["rollback", "dev", "--port", &port.to_string()]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let rollbacks = site.json(&["log", "show", "--kind", "rollback", "--format", "json"]);
    let refused = &rollbacks[0]["event"];
    assert_eq!(refused["outcome"], "failure", "{refused:#}");
    assert_eq!(refused["details"]["code"], "missing-role", "{refused:#}");
    assert_eq!(refused["subject"], first.as_str());
    // Rollback brings the previous digest back, as a `rollback` event.
    let rolled = site.json(&[
        "rollback",
        "dev",
        "--key",
        DEPLOYER,
        "--port",
        &port.to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(rolled["image"], first.as_str());
    assert_eq!(rolled["rollback"], true);
    assert!(get(
        rolled["instances"][0]["endpoint"].as_str().unwrap(),
        "/health"
    ));
    let status = site.status();
    assert_eq!(status["image"], first.as_str());
    assert_eq!(
        status["instances"].as_array().unwrap().len(),
        1,
        "{status:#}"
    );
    let rollbacks = site.json(&["log", "show", "--kind", "rollback", "--format", "json"]);
    assert_eq!(rollbacks[1]["event"]["outcome"], "success");
    assert_eq!(rollbacks[1]["event"]["actor"], DEPLOYER);

    // Revoked: refused from then on.
    site.ok(&["revoke", &second, "--reason", "CVE found after approval"]);
    site.expect_refused(&second, "image-revoked", port);

    // The events alone rebuild the same state.
    let replay = site.json(&["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
    let starts = site.json(&[
        "log",
        "show",
        "--kind",
        "instance.start",
        "--format",
        "json",
    ]);
    assert_eq!(starts.as_array().unwrap().len(), 4);
    let stops = site.json(&["log", "show", "--kind", "instance.stop", "--format", "json"]);
    assert_eq!(stops.as_array().unwrap().len(), 3);
}

/// A client polling the environment during a rollout. There is no load balancer in front of
/// local instances, so the client does what one would: each round it tries the environment's
/// ports in turn until one answers `GET /health` with 200. A round where none answers is a
/// failed request — the service was down.
struct Poller {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Poller {
    fn start(base: u16, ports: u16) -> Poller {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut rounds, mut failed) = (0u64, 0u64);
            while !flag.load(Ordering::SeqCst) {
                rounds += 1;
                let served = (base..base + ports).any(|port| {
                    stamp_deploy::health::http_ok(
                        port,
                        "/health",
                        std::time::Duration::from_millis(500),
                    )
                });
                if !served {
                    failed += 1;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            (rounds, failed)
        });
        Poller { stop, thread }
    }

    fn finish(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (rounds, failed) = self.thread.join().unwrap();
        assert!(rounds >= 10, "the client polled only {rounds} times");
        assert_eq!(
            failed, 0,
            "{failed} of {rounds} polls found no instance serving"
        );
    }
}

#[test]
fn drift_of_a_running_instance_sees_host_tampering_but_not_its_writable_paths() {
    use stamp_deploy::runtime::Runtime;
    let site = Site::new();
    let port = free_port();
    let digest = site.build_variant("1700000000");
    site.ok(&["check", &digest]);
    site.ok(&["approve", &digest, "--env", "dev", "--key", "alice"]);
    let deployed = site.json(&[
        "deploy",
        "dev",
        "--key",
        DEPLOYER,
        &digest,
        "--port",
        &port.to_string(),
        "--format",
        "json",
    ]);
    let id = deployed["instances"][0]["id"].as_str().unwrap().to_string();
    let runtime = stamp_deploy::runc::RuncRuntime::new(&site.home, &site.runc).unwrap();
    let pid = runtime.state(&id).unwrap().pid.unwrap();

    // The service writing into its declared writable path (/tmp, a tmpfs) is not drift.
    fs::write(format!("/proc/{pid}/root/tmp/cache"), b"session").unwrap();
    let output = site.run(&["drift", "dev", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let instance = &report["instances"][0];
    assert_eq!(instance["instance"], id.as_str());
    assert_eq!(instance["drifted"], false, "{report:#}");
    assert_eq!(
        instance["excluded"],
        serde_json::json!(["/dev", "/proc", "/tmp"])
    );

    // Tampering with the shared bundle on the host shows inside the instance.
    let digest_hex = digest.trim_start_matches("sha256:");
    let rootfs = site.home.join("bundles").join(digest_hex).join("rootfs");
    fs::write(rootfs.join("etc/passwd"), b"root::0:0::/:/bin/sh\n").unwrap();
    write(&rootfs.join("usr/local/bin/backdoor"), b"x", 0o755);
    fs::remove_file(rootfs.join("etc/group")).unwrap();
    fs::set_permissions(
        rootfs.join("usr/local/bin/payments-api"),
        fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    std::os::unix::fs::chown(rootfs.join("usr/local/bin"), Some(10001), None).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", rootfs.join("etc/shadow")).unwrap();

    let output = site.run(&["drift", &id, "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let found: Vec<(String, String)> = report["instances"][0]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("drift-modified", "/etc/passwd"),
        ("drift-removed", "/etc/group"),
        ("drift-added", "/etc/shadow"),
        ("drift-added", "/usr/local/bin/backdoor"),
        ("drift-mode", "/usr/local/bin/payments-api"),
        ("drift-owner", "/usr/local/bin"),
    ]
    .iter()
    .map(|(code, path)| (code.to_string(), path.to_string()))
    .collect();
    let mut found_sorted = found.clone();
    found_sorted.sort();
    let mut expected_sorted = expected;
    expected_sorted.sort();
    assert_eq!(found_sorted, expected_sorted);
    let events = site.json(&["log", "show", "--kind", "drift", "--format", "json"]);
    let last = &events.as_array().unwrap().last().unwrap()["event"];
    assert_eq!(last["subject"], id.as_str());
    assert_eq!(last["details"]["drifted"], true);
    assert_eq!(last["details"]["differences"], 6);
    let status = site.status();
    assert_eq!(status["instances"][0]["state"], "drifted", "{status:#}");

    // --heal: a quarantine archive of what the instance saw, a fresh instance with a new id
    // from the image (the tampered bundle is set aside and unpacked again), the drifted one
    // stopped. Nothing is copied back.
    let output = site.run(&["drift", "dev", "--heal", "--format", "json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let healed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let healed = &healed["instances"][0];
    let replacement = healed["replacement"].as_str().unwrap().to_string();
    assert_ne!(replacement, id);
    let archive = PathBuf::from(healed["quarantine"]["path"].as_str().unwrap());
    let archive_sha256 = {
        let output = std::process::Command::new("sha256sum")
            .arg(&archive)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()[..64].to_string()
    };
    assert_eq!(healed["quarantine"]["sha256"], archive_sha256.as_str());
    let events = site.json(&["log", "show", "--kind", "drift", "--format", "json"]);
    let heal_event = events
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|entry| entry["event"]["details"]["quarantine"].is_object())
        .expect("the heal's drift event");
    assert_eq!(
        heal_event["event"]["details"]["quarantine"]["sha256"],
        archive_sha256.as_str()
    );
    // The archive holds the tampered content, for incident response.
    let passwd = std::process::Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg("etc/passwd")
        .output()
        .unwrap();
    assert_eq!(passwd.stdout, b"root::0:0::/:/bin/sh\n");
    let status = site.status();
    let instances = status["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{status:#}");
    assert_eq!(instances[0]["id"], replacement.as_str());
    assert_eq!(instances[0]["healthy"], true, "{status:#}");
    let output = site.run(&["drift", "dev"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the fresh instance is clean: {}",
        describe(&output)
    );
    assert_eq!(
        runtime.state(&id).unwrap().state,
        stamp_deploy::runtime::InstanceState::Stopped
    );

    // The environment's schedule: its runs (of any instance in it) keep it on time.
    let output = site.run(&["drift", "dev", "--check-schedule"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let output = site.run(&["drift", "dev", "--watch", "1s", "--runs", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let failures = site.json(&[
        "log",
        "show",
        "--kind",
        "control.failure",
        "--format",
        "json",
    ]);
    let missed = failures
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["event"]["details"]["control"] == "change-detection-schedule")
        .count();
    assert_eq!(missed, 0, "{failures:#}");

    let replay = site.json(&["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
}

#[test]
fn deploy_usage_errors_exit_2_before_any_work() {
    let fixture = fixture();
    for (args, message) in [
        (
            &["deploy", "moon", "drift-fixture:v1"][..],
            "no environment `moon`",
        ),
        (
            &["deploy", "dev", "drift-fixture:v1", "--replicas", "0"][..],
            "--replicas must be from 1 to 16",
        ),
        (
            &["deploy", "dev", "drift-fixture:v1", "--replicas", "17"][..],
            "--replicas must be from 1 to 16",
        ),
        (&["rollback", "dev"][..], "no previous digest"),
    ] {
        let output = stamp(fixture.dir.path(), args, &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    // Nothing was started and no deploy event was written.
    let deploys = json(
        fixture.dir.path(),
        &["log", "show", "--kind", "deploy", "--format", "json"],
    );
    assert_eq!(deploys, serde_json::json!([]));
}

#[test]
fn an_image_running_as_root_is_refused_with_a_failure_event() {
    let fixture = fixture();
    let spec = fs::read_to_string(fixture.dir.path().join("stamp.toml")).unwrap();
    let spec = spec
        .replace("user = \"10001:10001\"\n", "")
        .replace("tag = \"v1\"", "tag = \"root\"");
    fs::write(fixture.dir.path().join("stamp.toml"), spec).unwrap();
    let built = json(fixture.dir.path(), &["build", "--format", "json"]);
    let digest = built["digest"].as_str().unwrap();
    json(
        fixture.dir.path(),
        &[
            "key", "new", "--name", DEPLOYER, "--role", "deployer", "--format", "json",
        ],
    );
    let output = stamp(
        fixture.dir.path(),
        &["deploy", "dev", digest, "--key", DEPLOYER],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("non-root user"), "{stderr}");
    assert!(stderr.contains("hint: set `user"), "{stderr}");
    let deploys = json(
        fixture.dir.path(),
        &["log", "show", "--kind", "deploy", "--format", "json"],
    );
    let event = &deploys[0]["event"];
    assert_eq!(event["outcome"], "failure");
    assert_eq!(event["details"]["code"], "runs-as-root");
    assert_eq!(event["subject"], digest);
}

#[test]
fn instances_of_a_revoked_image_are_flagged_and_replaced_on_request() {
    let site = Site::new();
    let port = free_port().to_string();
    let first = site.build_variant("1700000000");
    let second = site.build_variant("1700000100");
    for digest in [&first, &second] {
        site.ok(&["check", digest]);
        site.ok(&["approve", digest, "--env", "dev", "--key", "alice"]);
    }
    site.ok(&["deploy", "dev", &first, "--port", &port, "--key", DEPLOYER]);
    site.ok(&["deploy", "dev", &second, "--port", &port, "--key", DEPLOYER]);
    // Nothing revoked yet: nothing to replace.
    let output = site.run(&[
        "deploy",
        "dev",
        "--replace-revoked",
        "--port",
        &port,
        "--key",
        DEPLOYER,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no instance"));

    site.ok(&["revoke", &second, "--reason", "leaked signing key"]);
    let status = site.status();
    assert_eq!(status["instances"][0]["revoked"], true, "{status:#}");
    let replaced = site.json(&[
        "deploy",
        "dev",
        "--key",
        DEPLOYER,
        "--replace-revoked",
        "--port",
        &port,
        "--format",
        "json",
    ]);
    assert_eq!(replaced["image"], first.as_str());
    let status = site.status();
    assert_eq!(status["image"], first.as_str());
    assert_eq!(status["instances"][0]["revoked"], false, "{status:#}");
    assert_eq!(status["instances"][0]["healthy"], true, "{status:#}");
}

#[test]
fn only_an_unrevoked_deployer_of_the_environment_may_deploy() {
    let fixture = fixture();
    let dir = fixture.dir.path();
    let digest = fixture.digest.as_str();
    let deploys = || {
        json(
            dir,
            &["log", "show", "--kind", "deploy", "--format", "json"],
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event"].clone())
        .collect::<Vec<_>>()
    };
    // The builder (the default key, made on first build) and an approver are not deployers.
    let builder = deploys_refused(dir, digest, None);
    let approver = {
        let output = stamp(
            dir,
            &[
                "key",
                "new",
                "--name",
                "alice@example.com",
                "--role",
                "approver",
            ],
            &[],
        );
        assert!(output.status.success(), "{}", describe(&output));
        deploys_refused(dir, digest, Some("alice@example.com"))
    };
    assert!(approver.contains("deployer"), "{approver}");
    assert!(
        builder.contains("hint: deploy as an identity with a deployer role"),
        "{builder}"
    );
    let events = deploys();
    assert_eq!(events.len(), 2, "{events:#?}");
    for (event, actor) in events.iter().zip([None, Some("alice@example.com")]) {
        assert_eq!(event["outcome"], "failure", "{event:#}");
        assert_eq!(event["subject"], digest);
        assert_eq!(event["details"]["code"], "missing-role", "{event:#}");
        assert_eq!(event["details"]["env"], "dev", "{event:#}");
        assert!(
            event["details"]["key_id"].as_str().unwrap().len() == 64,
            "{event:#}"
        );
        assert!(
            event["details"]["reason"]
                .as_str()
                .unwrap()
                .contains("needs one of: deployer"),
            "{event:#}"
        );
        if let Some(actor) = actor {
            assert_eq!(event["actor"], actor, "{event:#}");
        }
    }
    // A deployer passes the role check and meets the next admission rule (no gate verdict);
    // the event's actor is the deployer.
    let output = stamp(
        dir,
        &["key", "new", "--name", DEPLOYER, "--role", "deployer"],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let output = stamp(dir, &["deploy", "dev", digest, "--key", DEPLOYER], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let events = deploys();
    let last = events.last().unwrap();
    assert_eq!(last["details"]["code"], "gate-not-passed", "{last:#}");
    assert_eq!(last["actor"], DEPLOYER, "{last:#}");
    // Once revoked, the deployer may deploy no more, even holding a copy of the key (revoking
    // moves the key file away).
    let copy = dir.join("deployer-copy.pem");
    fs::copy(
        dir.join(".stamp/keys").join(format!("{DEPLOYER}.pem")),
        &copy,
    )
    .unwrap();
    let output = stamp(
        dir,
        &["key", "revoke", DEPLOYER, "--reason", "left the team"],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    deploys_refused(dir, digest, Some(copy.to_str().unwrap()));
    let events = deploys();
    let last = events.last().unwrap();
    assert_eq!(last["outcome"], "failure", "{last:#}");
    assert_eq!(last["details"]["code"], "key-revoked", "{last:#}");
    let replay = json(dir, &["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
}

/// Deploy `digest` to dev as `key` and expect a refusal (exit 1); returns stderr.
fn deploys_refused(dir: &Path, digest: &str, key: Option<&str>) -> String {
    let mut args = vec!["deploy", "dev", digest];
    if let Some(key) = key {
        args.extend(["--key", key]);
    }
    let output = stamp(dir, &args, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    String::from_utf8_lossy(&output.stderr).to_string()
}

#[test]
fn promotion_needs_a_healthy_run_in_the_source_environment_and_gates_deploys() {
    let site = Site::new();
    // prod takes only digests that ran healthy in staging (one approval, to keep it short).
    let trust_path = site.home.join("trust.toml");
    let trust = fs::read_to_string(&trust_path).unwrap();
    let edited = trust.replace(
        "[environments.prod]\napprovals = 2\n",
        "[environments.prod]\napprovals = 1\npromote_from = \"staging\"\n",
    );
    assert_ne!(edited, trust, "{trust}");
    fs::write(&trust_path, edited).unwrap();
    let shown = site.json(&["trust", "show", "--format", "json"]);
    assert_eq!(shown["environments"]["prod"]["promote_from"], "staging");

    let digest = site.build_variant("1700000000");
    site.ok(&["check", &digest]);
    let promote = |site: &Site| site.run(&["promote", &digest, "--to", "prod"]);
    let promotes = |site: &Site| {
        site.json(&["log", "show", "--kind", "promote", "--format", "json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["event"].clone())
            .collect::<Vec<_>>()
    };

    // Not approved for prod: refused.
    let output = promote(&site);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let last = promotes(&site).last().unwrap().clone();
    assert_eq!(last["outcome"], "failure", "{last:#}");
    assert_eq!(last["details"]["code"], "not-approved", "{last:#}");

    // Approved, but it never ran in staging: refused.
    for env in ["staging", "prod"] {
        site.ok(&["approve", &digest, "--env", env, "--key", "alice"]);
    }
    let output = promote(&site);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ran healthy in `staging`"), "{stderr}");
    let last = promotes(&site).last().unwrap().clone();
    assert_eq!(last["outcome"], "failure", "{last:#}");
    assert_eq!(last["subject"], digest.as_str());
    assert_eq!(last["details"]["code"], "not-healthy-in-source", "{last:#}");
    assert_eq!(last["details"]["env"], "prod");
    assert_eq!(last["details"]["from_env"], "staging");

    // Deploying to prod a digest that never ran healthy in staging is refused, even by a
    // deployer.
    let prod_port = free_port().to_string();
    let output = site.run(&[
        "deploy", "prod", &digest, "--port", &prod_port, "--key", DEPLOYER,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let deploys = site.json(&["log", "show", "--kind", "deploy", "--format", "json"]);
    let last = &deploys.as_array().unwrap().last().unwrap()["event"];
    assert_eq!(last["outcome"], "failure", "{last:#}");
    assert_eq!(last["details"]["code"], "not-healthy-in-source", "{last:#}");
    assert_eq!(last["details"]["env"], "prod");

    // It runs healthy in staging; then the promotion is recorded and prod takes it.
    let staging_port = free_port().to_string();
    site.ok(&[
        "deploy",
        "staging",
        &digest,
        "--port",
        &staging_port,
        "--key",
        DEPLOYER,
    ]);
    // Healthy in staging but not promoted yet: still refused.
    let output = site.run(&[
        "deploy", "prod", &digest, "--port", &prod_port, "--key", DEPLOYER,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let deploys = site.json(&["log", "show", "--kind", "deploy", "--format", "json"]);
    let last = &deploys.as_array().unwrap().last().unwrap()["event"];
    assert_eq!(last["details"]["code"], "not-promoted", "{last:#}");
    let promoted = site.json(&["promote", &digest, "--to", "prod", "--format", "json"]);
    assert_eq!(promoted["env"], "prod");
    assert_eq!(promoted["from_env"], "staging");
    assert!(promoted["healthy_at"].is_u64(), "{promoted:#}");
    let last = promotes(&site).last().unwrap().clone();
    assert_eq!(last["outcome"], "success", "{last:#}");
    assert_eq!(last["subject"], digest.as_str());
    assert_eq!(last["details"]["env"], "prod");
    assert_eq!(last["details"]["from_env"], "staging");
    assert_eq!(last["details"]["healthy_at"], promoted["healthy_at"]);
    let deployed = site.json(&[
        "deploy", "prod", &digest, "--port", &prod_port, "--key", DEPLOYER, "--format", "json",
    ]);
    assert!(get(
        deployed["instances"][0]["endpoint"].as_str().unwrap(),
        "/health"
    ));
    let replay = site.json(&["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
}

// ---------------------------------------------------------------------------------------------
// The drift schedule (PCI DSS 11.5.2 at least weekly; a missed run is a control failure, 10.7.2).

impl Fixture {
    fn schedule_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "drift",
            "--path",
            self.rootfs.to_str().unwrap(),
            "--image",
            "drift-fixture:v1",
        ];
        args.extend_from_slice(extra);
        args
    }

    fn schedule_failures(&self) -> Vec<serde_json::Value> {
        json(
            self.dir.path(),
            &[
                "log",
                "show",
                "--kind",
                "control.failure",
                "--format",
                "json",
            ],
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["event"].clone())
        .filter(|event| event["details"]["control"] == "change-detection-schedule")
        .collect()
    }
}

#[test]
fn drift_watch_runs_on_its_interval_and_records_each_run() {
    let fixture = fixture();
    let started = std::time::Instant::now();
    let output = stamp(
        fixture.dir.path(),
        &fixture.schedule_args(&["--watch", "1s", "--runs", "2"]),
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    let events = fixture.drift_events();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events
        .iter()
        .all(|event| event["details"]["drifted"] == false));
    // The first run began the schedule; the second was on time.
    assert!(fixture.schedule_failures().is_empty());
}

#[test]
fn drift_schedule_check_records_a_control_failure_only_when_overdue() {
    let fixture = fixture();
    // Never run: overdue.
    let output = stamp(
        fixture.dir.path(),
        &fixture.schedule_args(&["--check-schedule"]),
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(fixture.schedule_failures().len(), 1);

    // A fresh run: the check passes and records nothing.
    let (output, _) = fixture.drift();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let output = stamp(
        fixture.dir.path(),
        &fixture.schedule_args(&["--check-schedule"]),
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert_eq!(fixture.schedule_failures().len(), 1);

    // Eight days later (the test hook shifts the schedule check's clock): exactly one failure.
    let output = stamp(
        fixture.dir.path(),
        &fixture.schedule_args(&["--check-schedule", "--max-age", "7d"]),
        &[("STAMP_NOW_OFFSET_SECONDS", "691200")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let failures = fixture.schedule_failures();
    assert_eq!(failures.len(), 2, "{failures:#?}");
    let details = &failures[1]["details"];
    assert_eq!(details["pci"], serde_json::json!(["11.5.2", "10.7.2"]));
    assert_eq!(details["max_age_seconds"], 604_800);
    assert!(details["last_run_index"].as_u64().is_some(), "{details:#}");
    assert!(details["last_run_time"].as_str().is_some(), "{details:#}");
    let overdue = details["overdue_seconds"].as_u64().unwrap();
    assert!((86_390..=86_500).contains(&overdue), "{details:#}");

    // A watch starting after that gap records the missed run before its own.
    let output = stamp(
        fixture.dir.path(),
        &fixture.schedule_args(&["--watch", "1h", "--runs", "1"]),
        &[("STAMP_NOW_OFFSET_SECONDS", "7200")],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let failures = fixture.schedule_failures();
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert_eq!(failures[2]["details"]["expected_interval_seconds"], 3_600);
    assert_eq!(fixture.drift_events().len(), 2);
}

#[test]
fn drift_schedule_usage_errors_exit_2() {
    let fixture = fixture();
    for extra in [
        &["--watch", "0s"][..],
        &["--watch", "1w"],
        &["--runs", "2"],
        &["--max-age", "1d"],
    ] {
        let output = stamp(fixture.dir.path(), &fixture.schedule_args(extra), &[]);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{extra:?}: {}",
            describe(&output)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// `[env.NAME]` tables of stamp.toml: replicas, ports, health (HTTP or command), promote_from,
// approvals and writable paths, read by `stamp deploy` (./stamp.toml, or --spec).

impl Site {
    /// Write `./stamp.toml` of the site (where `stamp` runs) holding `tables`. The image part
    /// is never built from it: environments are read without the layer inputs.
    fn write_envs(&self, tables: &str) {
        fs::write(
            self.dir.path().join("stamp.toml"),
            format!("[image]\nname = \"payments-api\"\n\n[base]\nscratch = true\n\n{tables}"),
        )
        .unwrap();
    }

    fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        self.json(&["log", "show", "--kind", kind, "--format", "json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["event"].clone())
            .collect()
    }

    /// Deploy `digest` to `env` as the deployer with no flags but `extra`; returns the output.
    fn deploy(&self, env: &str, digest: &str, extra: &[&str]) -> Output {
        let mut args = vec!["deploy", env, digest, "--key", DEPLOYER, "--format", "json"];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn gated_and_approved(&self, epoch: &str, envs: &[&str]) -> String {
        let digest = self.build_variant(epoch);
        self.ok(&["check", &digest]);
        for env in envs {
            self.ok(&["approve", &digest, "--env", env, "--key", "alice"]);
        }
        digest
    }
}

/// `port = "FIRST-LAST"` for 20 ports from a free one.
fn port_range() -> (u16, String) {
    let first = free_port().min(u16::MAX - 40);
    (first, format!("{first}-{}", first + 19))
}

#[test]
fn deploy_takes_replicas_ports_and_health_from_the_env_table_and_records_them() {
    let site = Site::new();
    let (first_port, range) = port_range();
    let table = format!(
        "[env.dev]\ntarget = \"local\"\nreplicas = 2\nport = \"{range}\"\n\
         health = {{ http = \"/health\", timeout = \"10s\" }}\nwritable = [\"/tmp\"]\n"
    );
    site.write_envs(&table);
    let digest = site.gated_and_approved("1700000000", &["dev"]);

    // No --replicas, --port or --health-timeout-ms: the table decides.
    let output = site.deploy("dev", &digest, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let deployed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let instances = deployed["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2, "{deployed:#}");
    for instance in instances {
        let port = instance["port"].as_u64().unwrap() as u16;
        assert!(
            (first_port..first_port + 20).contains(&port),
            "{deployed:#}"
        );
        assert!(get(instance["endpoint"].as_str().unwrap(), "/health"));
    }
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(event["outcome"], "success", "{event:#}");
    let settings = &event["details"]["env_settings"];
    assert_eq!(settings["replicas"], 2, "{settings:#}");
    assert_eq!(settings["port"], range.as_str());
    assert_eq!(settings["health"], serde_json::json!({"http": "/health"}));
    assert_eq!(settings["health_timeout_ms"], 10_000);
    assert_eq!(settings["writable"], serde_json::json!(["/tmp"]));
    assert_eq!(settings["approvals"], 1, "the trust file's count");
    assert_eq!(settings["overrides"], serde_json::json!({}));
    assert!(settings["spec"].as_str().unwrap().ends_with("stamp.toml"));
    // The table's digest: the same table gives the same digest, another value another one.
    let table_sha256 = settings["table_sha256"].as_str().unwrap().to_string();
    assert!(table_sha256.starts_with("sha256:"), "{settings:#}");

    // A flag overrides the table for one run, and the event says so.
    let output = site.deploy("dev", &digest, &["--replicas", "1"]);
    assert!(output.status.success(), "{}", describe(&output));
    let event = site.events("deploy").last().unwrap().clone();
    let settings = &event["details"]["env_settings"];
    assert_eq!(settings["replicas"], 1);
    assert_eq!(settings["overrides"], serde_json::json!({"replicas": 1}));
    assert_eq!(settings["table_sha256"], table_sha256.as_str());
    assert_eq!(site.status()["instances"].as_array().unwrap().len(), 1);

    // approvals: the higher of stamp.toml's and the trust file's applies.
    site.write_envs(&format!("{table}approvals = 2\n"));
    let output = site.deploy("dev", &digest, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(event["details"]["code"], "not-approved", "{event:#}");
    assert!(
        event["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("1 of 2 required"),
        "{event:#}"
    );
    assert_eq!(event["details"]["env_settings"]["approvals"], 2);
    assert_ne!(
        event["details"]["env_settings"]["table_sha256"],
        table_sha256.as_str()
    );
    // ... and a repository edit cannot lower the trust file's floor.
    let trust_path = site.home.join("trust.toml");
    let trust = fs::read_to_string(&trust_path).unwrap();
    let raised = trust.replace(
        "[environments.dev]\napprovals = 1\n",
        "[environments.dev]\napprovals = 2\n",
    );
    assert_ne!(raised, trust, "{trust}");
    fs::write(&trust_path, raised).unwrap();
    site.write_envs(&format!("{table}approvals = 0\n"));
    let output = site.deploy("dev", &digest, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(event["details"]["code"], "not-approved", "{event:#}");
    assert_eq!(event["details"]["env_settings"]["approvals"], 2);
    fs::write(&trust_path, trust).unwrap();

    // An environment may narrow the image's writable paths, never widen them.
    site.write_envs(&table.replace(
        "writable = [\"/tmp\"]",
        "writable = [\"/tmp\", \"/var/run/app\"]",
    ));
    let output = site.deploy("dev", &digest, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(
        event["details"]["code"], "writable-not-declared",
        "{event:#}"
    );
    assert!(
        event["details"]["reason"]
            .as_str()
            .unwrap()
            .contains("/var/run/app"),
        "{event:#}"
    );
    // The refusals left the running instance alone.
    let status = site.status();
    assert_eq!(status["instances"][0]["healthy"], true, "{status:#}");
    let replay = site.json(&["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
}

#[test]
fn a_health_command_run_inside_the_instance_passes_or_fails_the_deploy() {
    let site = Site::new();
    let (_, range) = port_range();
    let env = |command: &str, timeout: &str| {
        format!(
            "[env.dev]\nreplicas = 2\nport = \"{range}\"\n\
             health = {{ command = {command}, timeout = \"{timeout}\" }}\n"
        )
    };
    // The example binary's `--health` asks the service on $PORT (the instance's own).
    site.write_envs(&env(
        r#"["/usr/local/bin/payments-api", "--health"]"#,
        "10s",
    ));
    let first = site.gated_and_approved("1700000000", &["dev"]);
    let output = site.deploy("dev", &first, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let deployed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let old_ids: Vec<&str> = deployed["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["id"].as_str().unwrap())
        .collect();
    assert_eq!(old_ids.len(), 2);
    let settings = site.events("deploy").last().unwrap()["details"]["env_settings"].clone();
    assert_eq!(
        settings["health"],
        serde_json::json!({"command": ["/usr/local/bin/payments-api", "--health"]})
    );
    // `stamp status` asks the same command.
    let status = site.status();
    for instance in status["instances"].as_array().unwrap() {
        assert_eq!(instance["healthy"], true, "{status:#}");
    }

    // A command that exits 1 (it asks a port nothing listens on): the deploy fails with a
    // failure event, the new instances are stopped, the old ones keep serving.
    site.write_envs(&env(
        r#"["/usr/local/bin/payments-api", "--port", "1", "--health"]"#,
        "2s",
    ));
    let second = site.gated_and_approved("1700000100", &["dev"]);
    let output = site.deploy("dev", &second, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(event["outcome"], "failure", "{event:#}");
    assert_eq!(event["subject"], second.as_str());
    assert_eq!(event["details"]["code"], "rollout-failed", "{event:#}");
    let reason = event["details"]["reason"].as_str().unwrap();
    assert!(reason.contains("--health` exited 1"), "{reason}");
    let failed_start = site
        .events("instance.start")
        .into_iter()
        .find(|event| event["outcome"] == "failure")
        .expect("a failed instance.start event");
    assert_eq!(failed_start["details"]["image"], second.as_str());
    let status = site.status();
    assert_eq!(status["image"], first.as_str(), "{status:#}");
    let running: Vec<&str> = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["id"].as_str().unwrap())
        .collect();
    assert_eq!(running, old_ids, "{status:#}");
    for instance in status["instances"].as_array().unwrap() {
        assert_eq!(instance["runtime_state"], "running", "{status:#}");
        assert!(get(instance["endpoint"].as_str().unwrap(), "/health"));
    }
    // Only the old instances are left in runc: the unhealthy ones were removed.
    use stamp_deploy::runtime::Runtime;
    let runtime = stamp_deploy::runc::RuncRuntime::new(&site.home, &site.runc).unwrap();
    let mut listed: Vec<String> = runtime
        .list()
        .unwrap()
        .into_iter()
        .map(|instance| instance.id)
        .collect();
    listed.sort();
    let mut expected: Vec<String> = old_ids.iter().map(|id| id.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);

    // A command the image does not hold fails the same way.
    site.write_envs(&env(r#"["/bin/false"]"#, "1s"));
    let output = site.deploy("dev", &second, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(event["details"]["code"], "rollout-failed", "{event:#}");
    assert_eq!(site.status()["image"], first.as_str());
    let replay = site.json(&["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
}

#[test]
fn prod_with_promote_from_takes_only_digests_that_ran_healthy_in_staging() {
    let site = Site::new();
    // One approval for prod in the trust file (the table cannot lower it, only raise it).
    let trust_path = site.home.join("trust.toml");
    let trust = fs::read_to_string(&trust_path).unwrap();
    let edited = trust.replace(
        "[environments.prod]\napprovals = 2\n",
        "[environments.prod]\napprovals = 1\n",
    );
    assert_ne!(edited, trust, "{trust}");
    fs::write(&trust_path, edited).unwrap();
    let (_, staging_ports) = port_range();
    let (_, prod_ports) = port_range();
    let tables = |staging_health: &str| {
        format!(
            "[env.staging]\nport = \"{staging_ports}\"\nhealth = {staging_health}\n\n\
             [env.prod]\nport = \"{prod_ports}\"\npromote_from = \"staging\"\n"
        )
    };
    let healthy = r#"{ http = "/health", timeout = "10s" }"#;
    let digest = site.gated_and_approved("1700000000", &["staging", "prod"]);

    // Promoted while no rule applied: a promote event, but no healthy run in staging.
    site.ok(&["promote", &digest, "--to", "prod"]);
    site.write_envs(&tables(healthy));
    let output = site.deploy("prod", &digest, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ran healthy in `staging`"), "{stderr}");
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(event["outcome"], "failure", "{event:#}");
    assert_eq!(
        event["details"]["code"], "not-healthy-in-source",
        "{event:#}"
    );
    assert_eq!(
        event["details"]["env_settings"]["promote_from"],
        serde_json::json!(["staging"])
    );

    // It runs healthy in staging: prod takes it.
    let output = site.deploy("staging", &digest, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = site.deploy("prod", &digest, &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let deployed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(get(
        deployed["instances"][0]["endpoint"].as_str().unwrap(),
        "/health"
    ));

    // A digest that started in staging but never passed its health check there: its
    // instance.start is in the log, yet promotion and deploy to prod are refused.
    let second = site.gated_and_approved("1700000100", &["staging", "prod"]);
    site.write_envs(&tables(
        r#"{ command = ["/usr/local/bin/payments-api", "--port", "1", "--health"], timeout = "1s" }"#,
    ));
    let output = site.deploy("staging", &second, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(site.events("instance.start").iter().any(|event| {
        event["outcome"] == "success" && event["details"]["image"] == second.as_str()
    }));
    let output = site.run(&["promote", &second, "--to", "prod"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let promote = site.events("promote").last().unwrap().clone();
    assert_eq!(
        promote["details"]["code"], "not-healthy-in-source",
        "{promote:#}"
    );
    assert_eq!(promote["details"]["from_env"], "staging");
    let output = site.deploy("prod", &second, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let event = site.events("deploy").last().unwrap().clone();
    assert_eq!(
        event["details"]["code"], "not-healthy-in-source",
        "{event:#}"
    );
    assert_eq!(
        site.json(&["status", "prod", "--format", "json"])["environments"][0]["image"],
        digest.as_str()
    );
    let replay = site.json(&["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");
}

#[test]
fn env_table_problems_are_usage_errors_naming_the_place() {
    let fixture = fixture();
    let dir = fixture.dir.path();
    let other = dir.join("envs.toml");
    let head = "[image]\nname = \"drift-fixture\"\n\n[base]\nscratch = true\n\n";
    fs::write(&other, format!("{head}[env.staging]\nreplicas = 2\n")).unwrap();
    let bad = dir.join("bad.toml");
    fs::write(
        &bad,
        format!("{head}[env.dev]\nhealth = {{ http = \"/health\", command = [\"/x\"] }}\n"),
    )
    .unwrap();
    let unknown = dir.join("unknown.toml");
    fs::write(&unknown, format!("{head}[env.dev]\nreplica = 2\n")).unwrap();
    for (spec, message) in [
        (
            other.to_str().unwrap(),
            "has no [env.dev] table (it has: staging)",
        ),
        (
            bad.to_str().unwrap(),
            "bad.toml:8:10: health must have exactly one of `http` and `command`",
        ),
        (
            unknown.to_str().unwrap(),
            "unknown.toml:8:1: unknown field `replica`",
        ),
        (
            "/nonexistent/stamp.toml",
            "reading `/nonexistent/stamp.toml`",
        ),
    ] {
        let output = stamp(
            dir,
            &["deploy", "dev", "drift-fixture:v1", "--spec", spec],
            &[],
        );
        assert_eq!(
            output.status.code(),
            Some(2),
            "{spec}: {}",
            describe(&output)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{spec}: {stderr}");
    }
    let deploys = json(
        dir,
        &["log", "show", "--kind", "deploy", "--format", "json"],
    );
    assert_eq!(deploys, serde_json::json!([]));
}

#[test]
fn runc_exec_runs_a_command_inside_the_instance_and_kills_it_at_its_timeout() {
    use stamp_deploy::runtime::Runtime;
    use std::time::{Duration, Instant};
    let runc = runc_path();
    let (_dir, home, digest) = example_image();
    let store = stamp_image::Store::open(&home).unwrap();
    let image = store.resolve(&digest).unwrap();
    let config = store
        .read_config(&store.read_manifest(&image.digest).unwrap().config.digest)
        .unwrap();
    let writable = stamp_deploy::writable_paths(&config).unwrap();
    let runtime = stamp_deploy::runc::RuncRuntime::new(&home, &runc).unwrap();
    runtime.prepare(&store, &image.digest, &writable).unwrap();
    let port = free_port();
    let id = format!("x-{}-{port}", std::process::id());
    let spec =
        stamp_deploy::runc::instance_spec(&id, &image.digest, &config, &writable, port).unwrap();
    runtime.start(&spec).unwrap();
    let _running = Running {
        runtime: &runtime,
        id: id.clone(),
    };
    let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
    // The command sees the instance's environment ($PORT) and asks the service there.
    stamp_deploy::health::wait_command_healthy(
        &runtime,
        &id,
        &args(&["/usr/local/bin/payments-api", "--health"]),
        Duration::from_secs(20),
    )
    .unwrap();
    let passed = runtime
        .exec(
            &id,
            &args(&["/usr/local/bin/payments-api", "--health"]),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!((passed.code, passed.timed_out), (Some(0), false));
    let failed = runtime
        .exec(
            &id,
            &args(&["/usr/local/bin/payments-api", "--port", "1", "--health"]),
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!((failed.code, failed.timed_out), (Some(1), false));
    let missing = runtime
        .exec(&id, &args(&["/bin/false"]), Duration::from_secs(5))
        .unwrap();
    assert!(missing.code != Some(0) && !missing.timed_out, "{missing:?}");
    // A command that never ends (a second server on an ephemeral port) is killed at its
    // timeout, and nothing of it is left in the instance.
    let started = Instant::now();
    let hung = runtime
        .exec(
            &id,
            &args(&["/usr/local/bin/payments-api", "--port", "0"]),
            Duration::from_millis(500),
        )
        .unwrap();
    assert!(hung.timed_out && hung.code.is_none(), "{hung:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let ps = std::process::Command::new(&runc)
        .arg("--root")
        .arg(std::path::absolute(&home).unwrap().join("runc"))
        .args(["ps", "--format", "json", &id])
        .output()
        .unwrap();
    assert!(ps.status.success(), "{}", describe(&ps));
    let pids: Vec<u64> = serde_json::from_slice(&ps.stdout).unwrap();
    assert_eq!(pids.len(), 1, "only the service is left: {pids:?}");
    // The exec files are cleaned up; the service still answers.
    let leftovers: Vec<_> = fs::read_dir(runtime.instance_dir(&id))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().to_string())
        .filter(|name| name.starts_with("exec-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(stamp_deploy::health::http_ok(
        port,
        "/health",
        Duration::from_secs(2)
    ));
}

#[test]
fn stop_takes_instances_down_as_a_deployer_and_records_each_stop() {
    use stamp_deploy::runtime::Runtime;
    let site = Site::new();
    let port = free_port();
    let digest = site.build_variant("1700000000");
    site.ok(&["check", &digest]);
    site.ok(&["approve", &digest, "--env", "dev", "--key", "alice"]);
    let deployed = site.json(&[
        "deploy",
        "dev",
        &digest,
        "--key",
        DEPLOYER,
        "--replicas",
        "2",
        "--port",
        &port.to_string(),
        "--format",
        "json",
    ]);
    let instances: Vec<(String, String)> = deployed["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| {
            (
                instance["id"].as_str().unwrap().to_string(),
                instance["endpoint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(instances.len(), 2, "{deployed:#}");
    let stops = || -> Vec<serde_json::Value> {
        site.json(&["log", "show", "--kind", "instance.stop", "--format", "json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["event"].clone())
            .collect()
    };
    // Events other than the `log.read` that each `log show` records.
    let log_size = || {
        site.json(&["log", "show", "--format", "json"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["event"]["kind"] != "log.read")
            .count()
    };
    assert!(stops().is_empty(), "a first deploy replaces nothing");

    // Usage errors: exit 2 before any work, nothing recorded.
    let before = log_size();
    for args in [
        vec!["stop", "Not An Env!", "--key", DEPLOYER],
        vec!["stop", "dev", "--reason", "  ", "--key", DEPLOYER],
        vec!["stop", "dev", "--reason", "two\nlines", "--key", DEPLOYER],
    ] {
        let output = site.run(&args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            describe(&output)
        );
    }
    let long = "x".repeat(600);
    let output = site.run(&["stop", "dev", "--reason", &long, "--key", DEPLOYER]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--reason must be 1 to 512 bytes"),
        "{}",
        describe(&output)
    );
    assert_eq!(log_size(), before, "usage errors record nothing");
    assert!(stops().is_empty());

    // Without a deployer role (the builder, the default key): refused, recorded, running.
    let output = site.run(&["stop", "dev", "--reason", "cleanup"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(
        stderr.contains("hint: stop as an identity with a deployer role"),
        "{stderr}"
    );
    let refused = stops();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["outcome"], "failure");
    assert_eq!(refused[0]["subject"], "dev");
    assert_eq!(
        refused[0]["details"]["code"], "missing-role",
        "{:#}",
        refused[0]
    );
    assert_eq!(refused[0]["details"]["env"], "dev");
    assert_eq!(refused[0]["details"]["decommission"], true);
    assert_eq!(refused[0]["details"]["key_id"].as_str().unwrap().len(), 64);
    for (_, endpoint) in &instances {
        assert!(get(endpoint, "/health"), "a refused stop stops nothing");
    }
    // An approver is no deployer either.
    let output = site.run(&["stop", &instances[0].0, "--key", "alice"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let last = stops().last().unwrap().clone();
    assert_eq!(last["details"]["code"], "missing-role", "{last:#}");
    assert_eq!(last["actor"], "alice", "{last:#}");
    assert_eq!(last["subject"], instances[0].0.as_str());

    // Unknown environment or instance: refused with a failure event, exit 1.
    for target in ["qa", "dev-00000000-nope-0"] {
        let output = site.run(&["stop", target, "--key", DEPLOYER]);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        let last = stops().last().unwrap().clone();
        assert_eq!(last["outcome"], "failure", "{last:#}");
        assert_eq!(last["subject"], target, "{last:#}");
        assert_eq!(last["details"]["code"], "unknown-target", "{last:#}");
        assert_eq!(last["actor"], DEPLOYER, "{last:#}");
    }

    // One instance by id: the other keeps serving.
    let started = std::time::Instant::now();
    let one = site.json(&[
        "stop",
        &instances[0].0,
        "--key",
        DEPLOYER,
        "--reason",
        "scale down",
        "--format",
        "json",
    ]);
    let one_ms = started.elapsed().as_millis();
    assert_eq!(one["env"], "dev", "{one:#}");
    assert_eq!(one["stopped"].as_array().unwrap().len(), 1, "{one:#}");
    assert_eq!(one["stopped"][0]["id"], instances[0].0.as_str());
    assert_eq!(one["failed"], serde_json::json!([]));
    assert!(
        !get(&instances[0].1, "/health"),
        "the stopped instance is down"
    );
    assert!(
        get(&instances[1].1, "/health"),
        "the other one still serves"
    );
    let status = site.status();
    let listed = status["instances"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{status:#}");
    assert_eq!(listed[0]["id"], instances[1].0.as_str());
    // Stopping it again: refused, it is not running.
    let output = site.run(&["stop", &instances[0].0, "--key", DEPLOYER]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let last = stops().last().unwrap().clone();
    assert_eq!(last["details"]["code"], "not-running", "{last:#}");
    assert_eq!(last["details"]["env"], "dev", "{last:#}");

    // The whole environment.
    let output = site.run(&[
        "stop",
        "dev",
        "--key",
        DEPLOYER,
        "--reason",
        "dev decommissioned",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.trim(), format!("{}\tstopped", instances[1].0));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("stopped 1 instance(s) of `dev`"),
        "{}",
        describe(&output)
    );
    for (_, endpoint) in &instances {
        assert!(!get(endpoint, "/health"), "{endpoint} still answers");
    }
    let runtime = stamp_deploy::runc::RuncRuntime::new(&site.home, &site.runc).unwrap();
    assert!(
        runtime.list().unwrap().is_empty(),
        "the instances are deleted from runc"
    );
    let status = site.status();
    assert_eq!(status["instances"], serde_json::json!([]), "{status:#}");
    assert_eq!(
        status["image"],
        digest.as_str(),
        "the environment keeps its digest"
    );

    // One success event per instance, in the shape of the rolling replace's, marked.
    let events = stops();
    let done: Vec<&serde_json::Value> = events
        .iter()
        .filter(|event| event["outcome"] == "success")
        .collect();
    assert_eq!(done.len(), 2, "{events:#?}");
    for (event, ((id, _), reason)) in done
        .iter()
        .zip(instances.iter().zip(["scale down", "dev decommissioned"]))
    {
        assert_eq!(event["subject"], id.as_str(), "{event:#}");
        assert_eq!(event["actor"], DEPLOYER, "{event:#}");
        assert_eq!(event["details"]["env"], "dev", "{event:#}");
        assert_eq!(event["details"]["image"], digest.as_str(), "{event:#}");
        assert_eq!(event["details"]["reason"], reason, "{event:#}");
        assert_eq!(event["details"]["decommission"], true, "{event:#}");
    }
    let failures = events.iter().filter(|event| event["outcome"] == "failure");
    assert_eq!(failures.count(), 5, "{events:#?}");

    // Replaying the log gives the same state: every instance stopped.
    let replay = site.json(&["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true, "{replay:#}");

    // Nothing left to stop or to check for drift.
    let before = stops().len();
    let output = site.run(&["stop", "dev", "--key", DEPLOYER]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nothing runs in `dev`"),
        "{}",
        describe(&output)
    );
    assert_eq!(stops().len(), before, "stopping nothing records nothing");
    let output = site.run(&["drift", "dev"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("no running instance or environment named `dev`"),
        "{}",
        describe(&output)
    );

    // The environment comes back with `stamp deploy ENV`: it still knows its digest.
    let back = site.json(&[
        "deploy",
        "dev",
        "--key",
        DEPLOYER,
        "--port",
        &port.to_string(),
        "--format",
        "json",
    ]);
    assert_eq!(back["image"], digest.as_str(), "{back:#}");
    assert_eq!(back["replaced"], serde_json::json!([]), "{back:#}");
    assert!(get(
        back["instances"][0]["endpoint"].as_str().unwrap(),
        "/health"
    ));
    eprintln!("stop of one instance took {one_ms} ms (STOP_GRACE is 2 s)");
}
