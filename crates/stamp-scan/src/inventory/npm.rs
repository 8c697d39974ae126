//! npm: `package-lock.json` lockfile versions 2 and 3 (the `packages` map: one entry per
//! installed path), and `node_modules/**/package.json` for installed trees without a lock
//! file. Lock entries that are links (workspaces) are left out; a package directory already
//! described by a lock file is not read twice.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::purl::purl;
use super::{Component, Files, PackageType, Problem};
use crate::json::parse_bounded;

/// Largest package-lock.json or package.json parsed.
pub const NPM_JSON_BYTES_MAX: usize = 64 << 20;

#[derive(Deserialize)]
struct Lock {
    #[serde(rename = "lockfileVersion")]
    lockfile_version: Option<u64>,
    #[serde(default)]
    packages: BTreeMap<String, LockEntry>,
}

#[derive(Deserialize)]
struct LockEntry {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    link: bool,
    license: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Manifest {
    name: Option<String>,
    version: Option<String>,
    license: Option<serde_json::Value>,
}

fn license_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Object(object) => object.get("type")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// `@scope/name` → (Some("@scope"), "name").
fn split_name(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((scope, name)) if scope.starts_with('@') => (Some(scope), name),
        _ => (None, name),
    }
}

fn component(name: &str, version: &str, license: Option<String>, location: String) -> Component {
    let (namespace, short) = split_name(name);
    Component {
        package_type: PackageType::Npm,
        name: name.to_string(),
        version: version.to_string(),
        purl: purl("npm", namespace, short, version, &[]),
        architecture: None,
        source_name: None,
        source_version: None,
        license,
        registry: true,
        locations: vec![location],
    }
}

pub fn collect(files: &Files, found: &mut Vec<Component>, problems: &mut Vec<Problem>) {
    let mut covered = BTreeSet::new();
    let locks: Vec<&str> = files
        .paths()
        .filter(|path| path.rsplit('/').next() == Some("package-lock.json"))
        .collect();
    for path in locks {
        let project = path.strip_suffix("package-lock.json").unwrap_or("");
        let lock: Lock =
            match parse_bounded(files.get(path).unwrap_or_default(), NPM_JSON_BYTES_MAX) {
                Ok(lock) => lock,
                Err(error) => {
                    problems.push(Problem {
                        path: format!("/{path}"),
                        message: error.to_string(),
                    });
                    continue;
                }
            };
        if lock.lockfile_version.unwrap_or(1) < 2 || lock.packages.is_empty() {
            problems.push(Problem {
                path: format!("/{path}"),
                message: "lockfile version 1 (no `packages` map) is not read; run `npm install` with npm 7 or later".into(),
            });
            continue;
        }
        for (key, entry) in &lock.packages {
            if key.is_empty() || entry.link {
                continue;
            }
            let Some(tail) = key
                .rsplit("node_modules/")
                .next()
                .filter(|_| key.contains("node_modules/"))
            else {
                continue;
            };
            let name = entry.name.as_deref().unwrap_or(tail);
            let Some(version) = &entry.version else {
                continue;
            };
            covered.insert(format!("{project}{key}"));
            found.push(component(
                name,
                version,
                license_text(entry.license.as_ref()),
                format!("/{path}"),
            ));
        }
    }
    let manifests: Vec<&str> = files
        .paths()
        .filter(|path| path.ends_with("/package.json") && path.contains("node_modules/"))
        .collect();
    for path in manifests {
        let dir = path.strip_suffix("/package.json").unwrap_or(path);
        if covered.contains(dir) {
            continue;
        }
        let manifest: Manifest =
            match parse_bounded(files.get(path).unwrap_or_default(), NPM_JSON_BYTES_MAX) {
                Ok(manifest) => manifest,
                Err(error) => {
                    problems.push(Problem {
                        path: format!("/{path}"),
                        message: error.to_string(),
                    });
                    continue;
                }
            };
        let (Some(name), Some(version)) = (manifest.name, manifest.version) else {
            continue;
        };
        found.push(component(
            &name,
            &version,
            license_text(manifest.license.as_ref()),
            format!("/{path}"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_v3_and_loose_node_modules() {
        let mut files = Files::default();
        files.insert(
            "app/package-lock.json",
            br#"{"name":"app","lockfileVersion":3,"packages":{
                "":{"name":"app","version":"1.0.0"},
                "node_modules/lodash":{"version":"4.17.20","license":"MIT"},
                "node_modules/@babel/core":{"version":"7.0.0"},
                "node_modules/a/node_modules/minimist":{"version":"0.0.8"},
                "packages/local":{"version":"0.1.0"},
                "node_modules/local":{"resolved":"packages/local","link":true}}}"#
                .to_vec(),
        );
        files.insert(
            "app/node_modules/lodash/package.json",
            br#"{"name":"lodash","version":"4.17.20"}"#.to_vec(),
        );
        files.insert(
            "srv/node_modules/ws/package.json",
            br#"{"name":"ws","version":"7.4.5","license":"MIT"}"#.to_vec(),
        );
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        collect(&files, &mut found, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let purls: Vec<&str> = found.iter().map(|c| c.purl.as_str()).collect();
        assert_eq!(
            purls,
            [
                "pkg:npm/%40babel/core@7.0.0",
                "pkg:npm/minimist@0.0.8",
                "pkg:npm/lodash@4.17.20",
                "pkg:npm/ws@7.4.5"
            ]
        );
    }
}
