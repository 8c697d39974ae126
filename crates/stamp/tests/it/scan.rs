//! CLI tests of `stamp db`, `stamp sbom` and `stamp check`, checked by tools stamp did not
//! write: the version-order oracles' vector files (through `check-vectors.sh`), the
//! CycloneDX and SPDX validators, `dpkg-query` on a real Debian bookworm root filesystem,
//! and cargo-audit's results for the same RustSec snapshot.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{describe, shared_oracles, stamp, stamp_binary};

fn shared_data() -> PathBuf {
    shared_oracles().join("../data")
}

fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Copy a test-data directory into `dir`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn version_order_agrees_with_every_vector_file() {
    let vectors = shared_oracles().join("versions/vectors");
    let mut total = 0;
    for (file, scheme) in [
        ("deb-vectors.txt", "deb"),
        ("pep440-vectors.txt", "pep440"),
        ("semver-vectors.txt", "npm"),
        ("semver-cargo-vectors.txt", "cargo"),
        ("apk-vectors.txt", "apk"),
        ("apk-tools-version.data", "apk"),
    ] {
        let output = Command::new("bash")
            .arg(shared_oracles().join("versions/check-vectors.sh"))
            .arg(vectors.join(file))
            .arg(stamp_binary())
            .args(["db", "compare-versions", scheme])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{file}: {}", describe(&output));
        let last = stdout.lines().last().unwrap_or_default();
        assert!(last.contains(" 0 disagree"), "{file}: {last}");
        total += last
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<usize>()
            .unwrap();
    }
    // 441 + 400 + 121 + 121 + 256 + 736 (2 of apk-tools' pairs use versions it refuses)
    assert_eq!(total, 2075);
}

#[test]
fn compare_versions_refuses_an_unknown_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let output = stamp(dir.path(), &["db", "compare-versions", "maven"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn check_without_a_database_is_a_configuration_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let output = stamp(dir.path(), &["check", "--rootfs", "."], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hint: import OSV records first"),
        "{stderr}"
    );
}

/// A store holding the `scan-app` image and the whole shared OSV data set.
fn scan_app_store(dir: &Path) -> String {
    copy_dir(&test_data("scan-app"), dir);
    let output = stamp(dir, &["build", "--format", "json"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let build: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let osv = shared_data().join("osv");
    let output = stamp(
        dir,
        &["db", "import", osv.to_str().unwrap(), "--format", "json"],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    build["digest"].as_str().unwrap().to_string()
}

#[test]
fn check_reports_every_ecosystem_and_records_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let digest = scan_app_store(dir.path());
    let output = stamp(dir.path(), &["check", "scan-app", "--format", "json"], &[]);
    // Critical and high findings: the default gate (high) denies.
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["image"]["digest"], digest.as_str());
    assert!(report["database"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    let ids = |key: &str| -> BTreeSet<String> {
        report[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|finding| finding["id"].as_str().unwrap().to_string())
            .collect()
    };
    let vulnerabilities = ids("vulnerabilities");
    // npm (GitHub advisories), PyPI and crates.io in one image.
    for id in [
        "GHSA-jf85-cpcp-j695",
        "GHSA-xvch-5gv4-984h",
        "GHSA-3h5v-q93c-6h6q",
        "GHSA-c2qf-rxjj-qqgw",
        "GHSA-wf5p-g6vw-rhxx",
        "PYSEC-2019-217",
        "PYSEC-2021-66",
        "RUSTSEC-2021-0079",
    ] {
        assert!(
            vulnerabilities.contains(id),
            "{id} missing: {vulnerabilities:?}"
        );
    }
    // The Cargo.lock is cargo-audit's web-service fixture: the same 18 RustSec ids.
    let expected = cargo_audit_ids("web-service");
    let rustsec: BTreeSet<String> = vulnerabilities
        .iter()
        .filter(|id| id.starts_with("RUSTSEC-"))
        .cloned()
        .collect();
    assert_eq!(rustsec, expected);
    assert_eq!(ids("warnings").len(), 4);
    let lodash = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["id"] == "GHSA-jf85-cpcp-j695")
        .unwrap();
    assert_eq!(lodash["severity"], "critical");
    assert_eq!(lodash["fixed_version"], "4.17.12");
    assert_eq!(lodash["package"]["purl"], "pkg:npm/lodash@4.17.11");
    assert_eq!(lodash["pci"], serde_json::json!(["6.3.1", "6.3.3"]));
    assert!(lodash["rating"]["vector"]
        .as_str()
        .unwrap()
        .starts_with("CVSS:3"));
    // axios' advisory has no vector: GitHub's own rating is used.
    let axios = report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|finding| finding["id"] == "GHSA-wf5p-g6vw-rhxx")
        .unwrap();
    assert_eq!(axios["severity"], "medium");
    assert_eq!(axios["rating"]["source"], "database");

    // The verdict is a gate event naming the image and the database.
    let log = stamp(
        dir.path(),
        &["log", "show", "--kind", "gate", "--format", "json"],
        &[],
    );
    assert!(log.status.success(), "{}", describe(&log));
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(log.contains(&digest), "{log}");
    assert!(log.contains("vulndb_digest"), "{log}");
    assert!(log.contains("\"deny\""), "{log}");

    // --fail-on critical still denies; `none`-level gate on a clean threshold passes only
    // when nothing reaches it.
    let output = stamp(
        dir.path(),
        &["check", "scan-app", "--fail-on", "critical"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let output = stamp(
        dir.path(),
        &["check", "scan-app", "--fail-on", "severe"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn check_writes_sarif() {
    let dir = tempfile::tempdir().unwrap();
    scan_app_store(dir.path());
    let output = stamp(dir.path(), &["check", "scan-app", "--format", "sarif"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let sarif: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "stamp");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 29);
    for result in results {
        // Every result points at an existing rule with the same id.
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        assert!(!result["message"]["text"].as_str().unwrap().is_empty());
    }
    assert!(run["properties"]["vulnerabilityDatabaseDigest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

#[test]
fn db_status_shows_the_digest_and_warns_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let osv = shared_data().join("osv/npm");
    let output = stamp(
        dir.path(),
        &[
            "db",
            "import",
            osv.to_str().unwrap(),
            "--snapshot-time",
            "2020-01-01T00:00:00Z",
        ],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let output = stamp(dir.path(), &["db", "status", "--format", "json"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["meta"]["records"], 5);
    assert_eq!(status["meta"]["snapshot_time"], "2020-01-01T00:00:00Z");
    assert_eq!(status["stale"], true);
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning: the vulnerability data is"));
    // A generous limit: no warning.
    let output = stamp(
        dir.path(),
        &["db", "status", "--max-age-days", "100000"],
        &[],
    );
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("warning"));
    // The import is in the log.
    let log = stamp(dir.path(), &["log", "show", "--format", "json"], &[]);
    assert!(String::from_utf8_lossy(&log.stdout).contains("vulndb.import"));
}

fn cargo_audit_ids(fixture: &str) -> BTreeSet<String> {
    let path = shared_oracles()
        .join("cargo-audit")
        .join(fixture)
        .join("cargo-audit.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    json["vulnerabilities"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|found| found["advisory"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// A minimal Debian bookworm root filesystem tarball made by the oracles' `make-rootfs.sh`
/// (root and network to the Debian archive), kept under target/ between runs.
fn bookworm_rootfs() -> (PathBuf, PathBuf) {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bookworm-rootfs");
    let tree = cache.join("rootfs");
    let tarball = cache.join("rootfs.tar.gz");
    let digest = cache.join("rootfs.tar.gz.sha256");
    if !digest.is_file() {
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&cache).unwrap();
        let output = Command::new("bash")
            .arg(shared_oracles().join("rootfs/make-rootfs.sh"))
            .arg(&tree)
            .arg(&tarball)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "make-rootfs.sh: {}",
            describe(&output)
        );
    }
    (tree, tarball)
}

fn validate(script: &str, file: &Path) {
    let output = Command::new(shared_oracles().join("sbom").join(script))
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} {}: {}",
        file.display(),
        describe(&output)
    );
}

#[test]
fn bookworm_sbom_lists_what_dpkg_query_lists_and_validates() {
    let (tree, tarball) = bookworm_rootfs();
    let sha256 = std::fs::read_to_string(tarball.with_extension("gz.sha256")).unwrap();
    let sha256 = sha256.split_whitespace().next().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stamp.toml"),
        format!(
            "[image]\nname = \"bookworm\"\nsource_date_epoch = 1700000000\n[base]\nrootfs = \"{}\"\nsha256 = \"sha256:{sha256}\"\n[config]\nuser = \"65534\"\n",
            tarball.display()
        ),
    )
    .unwrap();
    let output = stamp(dir.path(), &["build"], &[]);
    assert!(output.status.success(), "{}", describe(&output));

    // What Debian's own reader lists: name, version, architecture, source name and version.
    let output = Command::new("dpkg-query")
        .arg(format!("--admindir={}", tree.join("var/lib/dpkg").display()))
        .args(["-W", "-f=${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\t${db:Status-Status}\\n"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    let expected: BTreeSet<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields[5], "installed", "{line}");
            fields[..5].join("\t")
        })
        .collect();
    assert!(expected.len() > 80, "{}", expected.len());

    for (format, validator) in [
        ("cyclonedx", "validate-cyclonedx.py"),
        ("spdx", "validate-spdx.sh"),
    ] {
        let output = stamp(dir.path(), &["sbom", "bookworm", "--format", format], &[]);
        assert!(output.status.success(), "{}", describe(&output));
        let path = dir.path().join(format!("sbom.{format}.json"));
        std::fs::write(&path, &output.stdout).unwrap();
        validate(validator, &path);
        let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let listed: BTreeSet<String> = if format == "cyclonedx" {
            document["components"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|component| {
                    component["purl"]
                        .as_str()
                        .is_some_and(|purl| purl.starts_with("pkg:deb/"))
                })
                .map(|component| {
                    let property = |name: &str| {
                        component["properties"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|property| property["name"] == name)
                            .map(|property| property["value"].as_str().unwrap().to_string())
                            .unwrap()
                    };
                    [
                        component["name"].as_str().unwrap().to_string(),
                        component["version"].as_str().unwrap().to_string(),
                        property("stamp:package:architecture"),
                        property("stamp:package:source-name"),
                        property("stamp:package:source-version"),
                    ]
                    .join("\t")
                })
                .collect()
        } else {
            // SPDX carries name and version; the purl carries the architecture.
            let expected_short: BTreeSet<String> = expected
                .iter()
                .map(|line| line.split('\t').take(2).collect::<Vec<_>>().join("\t"))
                .collect();
            let listed: BTreeSet<String> = document["packages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|package| {
                    package["externalRefs"][0]["referenceLocator"]
                        .as_str()
                        .is_some_and(|purl| purl.starts_with("pkg:deb/"))
                })
                .map(|package| {
                    format!(
                        "{}\t{}",
                        package["name"].as_str().unwrap(),
                        package["versionInfo"].as_str().unwrap()
                    )
                })
                .collect();
            assert_eq!(listed, expected_short, "spdx");
            continue;
        };
        assert_eq!(listed, expected, "{format}");
    }

    // The bookworm image checked against the shared data: it holds no Debian 12 advisory
    // (the Debian lists are from April 2023), so nothing is found and the gate passes.
    let osv = shared_data().join("osv/Debian");
    let output = stamp(dir.path(), &["db", "import", osv.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = stamp(dir.path(), &["check", "bookworm", "--format", "json"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["components"], expected.len());
    assert_eq!(report["summary"]["unmatched_components"], 0);
    assert_eq!(report["summary"]["vulnerabilities"], 0);
}

#[test]
fn rescan_reports_only_what_is_new_and_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&test_data("scan-app"), dir.path());
    let output = stamp(dir.path(), &["build"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    // The first check knows only the RustSec advisories.
    let crates = shared_data().join("osv/crates.io");
    let output = stamp(dir.path(), &["db", "import", crates.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = stamp(dir.path(), &["check", "scan-app"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    // Nothing approved or deployed yet: nothing to rescan by default.
    let output = stamp(dir.path(), &["rescan"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no approved or deployed image"));

    // A newer database adds the npm and PyPI advisories.
    let osv = shared_data().join("osv");
    let output = stamp(dir.path(), &["db", "import", osv.to_str().unwrap()], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = stamp(dir.path(), &["rescan", "scan-app", "--format", "json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let new: BTreeSet<String> = result["images"][0]["new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["id"].as_str().unwrap().to_string())
        .collect();
    let expected: BTreeSet<String> = [
        "GHSA-3h5v-q93c-6h6q",
        "GHSA-c2qf-rxjj-qqgw",
        "GHSA-jf85-cpcp-j695",
        "GHSA-wf5p-g6vw-rhxx",
        "GHSA-xvch-5gv4-984h",
        "PYSEC-2019-217",
        "PYSEC-2021-66",
    ]
    .map(String::from)
    .into();
    assert_eq!(new, expected);
    // Each new finding is an event with the advisory's dates and fix.
    let log = stamp(
        dir.path(),
        &["log", "show", "--kind", "rescan", "--format", "json"],
        &[],
    );
    let log: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    let lodash = log
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| &entry["event"]["details"])
        .find(|details| details["id"] == "GHSA-jf85-cpcp-j695")
        .expect("a rescan event for the lodash advisory");
    assert_eq!(lodash["fixed_version"], "4.17.12");
    assert_eq!(lodash["severity"], "critical");
    assert!(lodash["published"].as_str().unwrap().starts_with("20"));
    assert_eq!(lodash["purl"], "pkg:npm/lodash@4.17.11");
    // A second rescan finds nothing new.
    let output = stamp(dir.path(), &["rescan", "--all", "--format", "json"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["images"][0]["new"].as_array().unwrap().len(), 0);
    assert_eq!(result["images"][0]["vulnerabilities"], 25);
}

#[test]
fn sboms_of_a_mixed_image_validate_and_carry_purls() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&test_data("scan-app"), dir.path());
    let output = stamp(dir.path(), &["build"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let mut outputs = Vec::new();
    for (format, validator) in [
        ("cyclonedx", "validate-cyclonedx.py"),
        ("spdx", "validate-spdx.sh"),
    ] {
        let output = stamp(dir.path(), &["sbom", "scan-app", "--format", format], &[]);
        assert!(output.status.success(), "{}", describe(&output));
        let path = dir.path().join(format!("sbom.{format}.json"));
        std::fs::write(&path, &output.stdout).unwrap();
        validate(validator, &path);
        // The same image gives the same bytes.
        let again = stamp(dir.path(), &["sbom", "scan-app", "--format", format], &[]);
        assert_eq!(again.stdout, output.stdout, "{format} is not deterministic");
        outputs.push(String::from_utf8(output.stdout).unwrap());
    }
    for purl in [
        "pkg:cargo/hyper@0.14.9",
        "pkg:npm/lodash@4.17.11",
        "pkg:pypi/jinja2@2.10",
    ] {
        assert!(
            outputs.iter().all(|document| document.contains(purl)),
            "{purl}"
        );
    }
}

#[test]
fn rescan_shows_which_images_are_exposed_and_whether_a_fix_exists() {
    let dir = tempfile::tempdir().unwrap();
    let digest = scan_app_store(dir.path());
    // A clean image in the same store: one file no inventory reader knows.
    std::fs::write(
        dir.path().join("clean.toml"),
        "[image]\nname = \"clean\"\nsource_date_epoch = 1700000000\n[base]\nscratch = true\n\
         [[layers]]\nfiles = [ { src = \"clean.toml\", dest = \"/etc/motd\" } ]\n",
    )
    .unwrap();
    let output = stamp(
        dir.path(),
        &["build", "--spec", "clean.toml", "--format", "json"],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let build: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let clean = build["digest"].as_str().unwrap().to_string();

    let output = stamp(
        dir.path(),
        &["rescan", "scan-app", "clean", "--format", "json"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let image = |digest: &str| -> serde_json::Value {
        result["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|image| image["digest"] == digest)
            .unwrap_or_else(|| panic!("{digest} missing: {result}"))
            .clone()
    };
    let exposure = &image(&digest)["exposure"];
    assert_eq!(exposure["exposed"], true, "{exposure}");
    assert_eq!(exposure["worst_severity"], "critical");
    assert_eq!(exposure["vulnerabilities"], 25);
    assert!(exposure["fixable"].as_u64().unwrap() > 0, "{exposure}");
    // lodash's critical advisory (fixed in 4.17.12) was published in 2019: far past 30 days.
    assert_eq!(exposure["pci_6_3_3_overdue"], true);
    assert!(exposure["critical_fix_overdue"]
        .as_array()
        .unwrap()
        .iter()
        .any(|id| id == "GHSA-jf85-cpcp-j695"));
    let exposure = &image(&clean)["exposure"];
    assert_eq!(exposure["exposed"], false, "{exposure}");
    assert_eq!(exposure["worst_severity"], serde_json::Value::Null);
    assert_eq!(exposure["fixable"], 0);
    assert_eq!(exposure["pci_6_3_3_overdue"], false);

    // The text view says the same.
    let output = stamp(dir.path(), &["rescan", "scan-app", "clean"], &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("exposed: worst critical") && stdout.contains("PCI 6.3.3 overdue"),
        "{stdout}"
    );
    assert!(
        stdout.contains("not exposed to known vulnerabilities"),
        "{stdout}"
    );
}

/// `YYYY-MM-DDT00:00:00Z` for today (UTC), from the civil-from-days algorithm.
fn today_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T00:00:00Z")
}

fn control_failures(dir: &Path) -> Vec<serde_json::Value> {
    let log = stamp(
        dir,
        &[
            "log",
            "show",
            "--kind",
            "control.failure",
            "--format",
            "json",
        ],
        &[],
    );
    assert!(log.status.success(), "{}", describe(&log));
    let log: serde_json::Value = serde_json::from_slice(&log.stdout).unwrap();
    log.as_array().unwrap().clone()
}

#[test]
fn a_stale_database_is_a_recorded_control_failure() {
    let osv = shared_data().join("osv");
    let import = |dir: &Path, snapshot: &str| {
        let output = stamp(
            dir,
            &[
                "db",
                "import",
                osv.to_str().unwrap(),
                "--snapshot-time",
                snapshot,
            ],
            &[],
        );
        assert!(output.status.success(), "{}", describe(&output));
    };

    // Fresh data: no control failure.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&test_data("scan-app"), dir.path());
    let output = stamp(dir.path(), &["build"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    import(dir.path(), &today_rfc3339());
    let output = stamp(dir.path(), &["check", "scan-app"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("warning: the vulnerability data"));
    assert!(control_failures(dir.path()).is_empty());

    // Old data: the check still runs (and denies), warns, and the failed control is logged.
    import(dir.path(), "2020-01-01T00:00:00Z");
    let status = stamp(dir.path(), &["db", "status", "--format", "json"], &[]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let db_digest = status["meta"]["digest"].as_str().unwrap().to_string();
    let output = stamp(dir.path(), &["check", "scan-app", "--format", "json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!report["vulnerabilities"].as_array().unwrap().is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning: the vulnerability data"));
    let failures = control_failures(dir.path());
    assert_eq!(failures.len(), 1, "{failures:?}");
    let event = &failures[0]["event"];
    assert_eq!(event["subject"], db_digest.as_str(), "{event}");
    assert_eq!(event["details"]["control"], "vulnerability-db-freshness");
    assert_eq!(event["details"]["max_age_days"], 7);
    assert!(event["details"]["age_days"].as_i64().unwrap() > 365);

    // A limit set through the environment: no failure.
    let output = stamp(
        dir.path(),
        &["check", "scan-app"],
        &[("STAMP_VULNDB_MAX_AGE_DAYS", "100000")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(control_failures(dir.path()).len(), 1);

    // `stamp rescan` against the stale data records one too.
    let output = stamp(dir.path(), &["rescan", "scan-app"], &[]);
    assert!(output.status.code().is_some(), "{}", describe(&output));
    let failures = control_failures(dir.path());
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[1]["event"]["details"]["command"], "rescan");
}
