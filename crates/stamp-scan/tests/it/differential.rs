//! Version order against the reference implementations themselves (the oracle comparators of
//! `../shared/oracles/versions`), on every version that appears in the real OSV data: the
//! versions are sorted with stamp's order and each adjacent pair is checked, which checks the
//! whole order with n − 1 comparisons. Versions stamp calls invalid are checked to be invalid
//! for the reference too.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use stamp_scan::version::VersionScheme;

use crate::support::{osv_data, shared};

fn oracles_home() -> PathBuf {
    std::env::var_os("ORACLES_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/stamp-oracles")
        })
}

/// Every version in ranges and `versions` lists, per ecosystem base.
fn versions_in_data() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, BTreeSet<String>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            let Ok(record) =
                serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap())
            else {
                continue;
            };
            for affected in record["affected"].as_array().into_iter().flatten() {
                let Some(ecosystem) = affected["package"]["ecosystem"].as_str() else {
                    continue;
                };
                let base = ecosystem.split(':').next().unwrap().to_string();
                let set = out.entry(base).or_default();
                for range in affected["ranges"].as_array().into_iter().flatten() {
                    if range["type"] == "GIT" {
                        continue;
                    }
                    for event in range["events"].as_array().into_iter().flatten() {
                        for (kind, version) in event.as_object().unwrap() {
                            // "0" is the OSV sentinel for "from the start", not a version.
                            if !(kind == "introduced" && version == "0") {
                                set.insert(version.as_str().unwrap().to_string());
                            }
                        }
                    }
                }
                for version in affected["versions"].as_array().into_iter().flatten() {
                    set.insert(version.as_str().unwrap().to_string());
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&osv_data(), &mut out);
    out
}

/// Run an oracle over `pairs`; its answers, one per pair.
fn oracle(command: &Path, args: &[&str], pairs: &[(String, String)]) -> Vec<String> {
    let mut child = Command::new(command)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{}: {error}", command.display()));
    let mut input = String::new();
    for (a, b) in pairs {
        input.push_str(&format!("{a} {b}\n"));
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn answer(scheme: VersionScheme, a: &str, b: &str) -> String {
    match scheme.compare(a, b) {
        Ok(std::cmp::Ordering::Less) => "-1".into(),
        Ok(std::cmp::Ordering::Equal) => "0".into(),
        Ok(std::cmp::Ordering::Greater) => "1".into(),
        Err(_) => "ERR".into(),
    }
}

/// Sort `versions` with stamp's order and check adjacent pairs (every `step`-th version when
/// the reference is slow) and every invalid version against the oracle.
fn check(
    scheme: VersionScheme,
    versions: &BTreeSet<String>,
    step: usize,
    command: &Path,
    args: &[&str],
) -> usize {
    // Whitespace would break the line protocol; no real version has any.
    let (mut valid, invalid): (Vec<&String>, Vec<&String>) = versions
        .iter()
        .filter(|version| !version.contains(char::is_whitespace))
        .partition(|version| scheme.validate(version).is_ok());
    valid.sort_by(|a, b| scheme.compare(a, b).unwrap());
    let sample: Vec<&String> = valid.iter().step_by(step).copied().collect();
    let mut pairs: Vec<(String, String)> = sample
        .windows(2)
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    pairs.extend(
        invalid
            .iter()
            .map(|version| (version.to_string(), version.to_string())),
    );
    let expected = oracle(command, args, &pairs);
    assert_eq!(expected.len(), pairs.len(), "{}", command.display());
    let disagreements: Vec<String> = pairs
        .iter()
        .zip(&expected)
        .filter(|((a, b), expected)| answer(scheme, a, b) != **expected)
        .map(|((a, b), expected)| {
            format!(
                "{a} {b}: reference {expected}, stamp {}",
                answer(scheme, a, b)
            )
        })
        .collect();
    assert!(
        disagreements.is_empty(),
        "{scheme}: {} of {} disagree:\n{}",
        disagreements.len(),
        pairs.len(),
        disagreements.join("\n")
    );
    eprintln!(
        "{scheme}: {} pairs agree ({} versions, {} invalid)",
        pairs.len(),
        versions.len(),
        invalid.len()
    );
    pairs.len()
}

#[test]
fn osv_data_versions_agree_with_the_reference_implementations() {
    let versions = versions_in_data();
    let comparators = shared().join("oracles/versions");
    let mut total = 0;
    total += check(
        VersionScheme::Pep440,
        &versions["PyPI"],
        1,
        &comparators.join("pep440-cmp"),
        &[],
    );
    total += check(
        VersionScheme::SemverCargo,
        &versions["crates.io"],
        1,
        &oracles_home().join("bin/cargo-semver-cmp"),
        &[],
    );
    total += check(
        VersionScheme::SemverNpm,
        &versions["npm"],
        1,
        &comparators.join("npm-semver-cmp"),
        &[],
    );
    // dpkg is run once per comparison: every 8th of the ~10,000 Debian versions
    // (STAMP_DIFFERENTIAL_DEB_STEP=1 checks them all, about three minutes).
    let step = std::env::var("STAMP_DIFFERENTIAL_DEB_STEP")
        .ok()
        .and_then(|step| step.parse().ok())
        .unwrap_or(8);
    total += check(
        VersionScheme::Dpkg,
        &versions["Debian"],
        step,
        &comparators.join("deb-cmp"),
        &[],
    );
    assert!(total > 3_500, "{total}");
}
