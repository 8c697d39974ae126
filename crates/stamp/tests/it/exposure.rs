//! `stamp status` shows which running digests are exposed to known vulnerabilities and whether
//! a fix exists (PCI DSS 6.3.1, 6.3.3), from the image's signed SBOM, against the current
//! database. The image runs on runc as root (the machine and CI are root).
//!
//! The image is the example service plus a binary built with `cargo auditable` that embeds
//! smallvec 1.6.0 (RUSTSEC-2021-0003, critical, fixed in 1.6.1): the test fixture of
//! stamp-scan.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::{describe, shared_oracles, stamp};

const EXAMPLE_TARGET: &str = "x86_64-unknown-linux-gnu";
const DEPLOYER: &str = "deployer@example.com";
const ADVISORY: &str = "RUSTSEC-2021-0003";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/payments-api")
}

fn runc_path() -> PathBuf {
    assert!(
        rustix::process::geteuid().is_root(),
        "the exposure test deploys with runc and must run as root"
    );
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("runc"))
                .find(|path| path.is_file())
        })
        .expect("runc is not installed: the exposure test needs it (`apt-get install runc`)")
}

/// The example's static binary (built when missing, as `stamp demo` does).
fn example_binary() -> PathBuf {
    let example = example_dir();
    let binary = example.join(format!("target/{EXAMPLE_TARGET}/release/payments-api"));
    if !binary.is_file() {
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
    binary
}

fn copy(from: &Path, to: &Path, mode: u32) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(from, to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).unwrap();
}

/// A store, the deploy identities, and the instances to stop when the test ends.
struct Site {
    dir: tempfile::TempDir,
    home: PathBuf,
    runc: PathBuf,
}

impl Site {
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

    /// A directory of OSV records: the crates.io records for smallvec, with or without
    /// RUSTSEC-2021-0003.
    fn osv(&self, name: &str, with_advisory: bool) -> PathBuf {
        let out = self.dir.path().join(name);
        fs::create_dir_all(&out).unwrap();
        let source = shared_oracles().join("../data/osv/crates.io");
        // Other smallvec advisories (0.6.x ranges): they do not affect 1.6.0.
        let mut records = vec!["RUSTSEC-2019-0009.json", "RUSTSEC-2019-0012.json"];
        if with_advisory {
            records.push("RUSTSEC-2021-0003.json");
        }
        for record in records {
            fs::copy(source.join(record), out.join(record)).unwrap();
        }
        out
    }

    /// The exposure entry of `digest` in `stamp status --format json`.
    fn exposure(&self, digest: &str) -> serde_json::Value {
        let status = self.json(&["status", "dev", "--format", "json"]);
        let images = status["exposure"]["images"].as_array().unwrap();
        assert_eq!(images.len(), 1, "{status:#}");
        assert_eq!(images[0]["image"], digest, "{status:#}");
        images[0].clone()
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

#[test]
fn status_shows_running_digests_exposed_with_a_fix_until_the_advisory_is_gone() {
    let runc = runc_path();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join(".stamp");
    let project = dir.path().join("project");
    let example = example_dir();
    copy(
        &example.join("rootfs/etc/passwd"),
        &project.join("rootfs/etc/passwd"),
        0o644,
    );
    copy(
        &example.join("rootfs/etc/group"),
        &project.join("rootfs/etc/group"),
        0o644,
    );
    copy(&example_binary(), &project.join("bin/payments-api"), 0o755);
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../stamp-scan/tests/fixtures/auditable-fixture.elf"),
        &project.join("bin/report-tool"),
        0o755,
    );
    fs::write(
        project.join("stamp.toml"),
        r#"[image]
name = "payments-api"
tag = "exposed"
writable = ["/tmp"]

[base]
scratch = true

[[layers]]
name = "skeleton"
dirs = [
  { path = "/tmp", mode = "1777" },
  { path = "/etc", mode = "0755" },
]
files = [
  { src = "rootfs/etc/passwd", dest = "/etc/passwd", mode = "0644" },
  { src = "rootfs/etc/group", dest = "/etc/group", mode = "0644" },
]

[[layers]]
name = "binaries"
files = [
  { src = "bin/payments-api", dest = "/usr/local/bin/payments-api", mode = "0755" },
  { src = "bin/report-tool", dest = "/usr/local/bin/report-tool", mode = "0755" },
]

[config]
entrypoint = ["/usr/local/bin/payments-api"]
user = "10001:10001"
workdir = "/"
env = { PORT = "8080" }
exposed_ports = ["8080/tcp"]
"#,
    )
    .unwrap();
    let site = Site { dir, home, runc };
    let built = site.json(&[
        "build",
        "--spec",
        project.join("stamp.toml").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let digest = built["digest"].as_str().unwrap().to_string();
    site.ok(&["key", "new", "--name", "alice", "--role", "approver"]);
    site.ok(&["key", "new", "--name", DEPLOYER, "--role", "deployer"]);

    // Deployed while the database does not know the advisory: the gate passes.
    let clean = site.osv("osv-clean", false);
    let vulnerable = site.osv("osv-vulnerable", true);
    site.ok(&["db", "import", clean.to_str().unwrap()]);
    site.ok(&["check", &digest]);
    site.ok(&["approve", &digest, "--env", "dev", "--key", "alice"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    site.ok(&["deploy", "dev", &digest, "--port", &port, "--key", DEPLOYER]);
    let status = site.json(&["status", "dev", "--format", "json"]);
    assert_eq!(
        status["environments"][0]["instances"][0]["runtime_state"], "running",
        "{status:#}"
    );
    let exposure = site.exposure(&digest);
    assert_eq!(exposure["exposed"], false, "{exposure:#}");
    assert_eq!(exposure["inventory_source"], "image-layers", "{exposure:#}");

    // The advisory arrives. Without a signed SBOM the layers are read.
    site.ok(&["db", "import", vulnerable.to_str().unwrap()]);
    let exposure = site.exposure(&digest);
    assert_eq!(exposure["exposed"], true, "{exposure:#}");
    assert_eq!(exposure["inventory_source"], "image-layers");

    // With the SBOM attached as a signed attestation, status reads it.
    site.ok(&["sbom", &digest, "--format", "cyclonedx", "--attach"]);
    let exposure = site.exposure(&digest);
    assert_eq!(
        exposure["inventory_source"], "sbom-attestation",
        "{exposure:#}"
    );
    assert!(exposure["sbom_attestation"]
        .as_str()
        .is_some_and(|envelope| envelope.starts_with("sha256:")));
    assert_eq!(exposure["exposed"], true, "{exposure:#}");
    assert_eq!(exposure["worst_severity"], "critical");
    assert_eq!(exposure["vulnerabilities"], 1);
    assert_eq!(exposure["fixable"], 1);
    // Published in 2021: the 30-day window of PCI DSS 6.3.3 has passed.
    assert_eq!(
        exposure["critical_fix_overdue"],
        serde_json::json!([ADVISORY])
    );
    assert_eq!(exposure["pci_6_3_3_overdue"], true);
    let finding = &exposure["findings"][0];
    assert_eq!(finding["id"], ADVISORY, "{exposure:#}");
    assert_eq!(finding["package"], "smallvec");
    assert_eq!(finding["installed_version"], "1.6.0");
    assert_eq!(finding["fixed_version"], "1.6.1");
    assert_eq!(finding["fix_exists"], true);

    let text = site.ok(&["status", "dev"]);
    let line = text
        .lines()
        .find(|line| line.contains(&digest) && line.contains("exposed"))
        .unwrap_or_else(|| panic!("no exposure line in:\n{text}"));
    assert!(
        line.contains("exposed: worst critical, 1 of 1 with a fix available"),
        "{text}"
    );
    assert!(line.contains("[signed SBOM]"), "{text}");
    assert!(
        text.lines()
            .any(|line| line.contains(ADVISORY) && line.contains("smallvec 1.6.0 (fix: 1.6.1)")),
        "{text}"
    );

    // `stamp rescan` reads the same signed SBOM and records the new finding (exit 1: critical).
    let rescan = site.run(&["rescan", &digest, "--format", "json"]);
    assert_eq!(rescan.status.code(), Some(1), "{}", describe(&rescan));
    let rescan: serde_json::Value = serde_json::from_slice(&rescan.stdout).unwrap();
    let image = &rescan["images"][0];
    assert_eq!(image["inventory_source"], "sbom-attestation", "{rescan:#}");
    assert_eq!(image["new"][0]["id"], ADVISORY, "{rescan:#}");
    assert_eq!(
        image["exposure"]["critical_fix_overdue"],
        serde_json::json!([ADVISORY])
    );

    // A database without the advisory: not exposed any more.
    site.ok(&["db", "import", clean.to_str().unwrap()]);
    let exposure = site.exposure(&digest);
    assert_eq!(exposure["exposed"], false, "{exposure:#}");
    assert_eq!(exposure["vulnerabilities"], 0);
    assert_eq!(exposure["inventory_source"], "sbom-attestation");
    let text = site.ok(&["status", "dev"]);
    assert!(
        text.lines()
            .any(|line| line.contains(&digest)
                && line.contains("not exposed to known vulnerabilities")),
        "{text}"
    );
    assert!(!text.contains(ADVISORY), "{text}");

    // Reading exposure records nothing in the log (`log show` itself records a `log.read`).
    let events = |site: &Site| {
        site.json(&["log", "show", "--format", "json"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["event"]["kind"] != "log.read")
            .count()
    };
    let before = events(&site);
    assert!(before > 5, "the deploy recorded events");
    site.ok(&["status", "dev", "--format", "json"]);
    site.ok(&["status"]);
    assert_eq!(events(&site), before);

    // An SBOM attestation that does not verify (its envelope altered in the store) is not
    // used: the layers are read instead, and the output says one was ignored.
    let envelope = site.exposure(&digest)["sbom_attestation"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap()
        .to_string();
    let blob = site.home.join("oci/blobs/sha256").join(envelope);
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let exposure = site.exposure(&digest);
    assert_eq!(exposure["inventory_source"], "image-layers", "{exposure:#}");
    assert_eq!(exposure["sbom_attestations_ignored"], 1, "{exposure:#}");
    let text = site.ok(&["status", "dev"]);
    assert!(
        text.contains("1 SBOM attestation(s) did not verify and were ignored"),
        "{text}"
    );
}
