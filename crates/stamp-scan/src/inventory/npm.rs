//! npm: `package-lock.json` lockfile versions 2 and 3 (the `packages` map: one entry per
//! installed path), lockfile version 1 (npm 5 and 6: the nested `dependencies` tree, each
//! entry's own `dependencies` installed below it, bundled ones included), and
//! `node_modules/**/package.json` for installed trees without a lock file. Lock entries that
//! are links or local directories (workspaces, `file:`) are left out; entries from git or a
//! tarball URL are listed but not matched; a package directory already described by a lock
//! file is not read twice. Development dependencies (`dev`) are listed like the others: the
//! lock file does not say whether they were installed.

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
    /// Lockfile version 1: the installed tree, by package name.
    #[serde(default)]
    dependencies: BTreeMap<String, LockV1Entry>,
}

/// One entry of a lockfile version 1 `dependencies` tree (`resolved`, `integrity`,
/// `requires`, `dev`, `optional` and `bundled` are not needed to name the package).
#[derive(Deserialize)]
struct LockV1Entry {
    version: Option<String>,
    /// Packages installed in this package's own `node_modules`.
    #[serde(default)]
    dependencies: BTreeMap<String, LockV1Entry>,
}

/// How a lockfile version 1 `version` names what was installed.
#[derive(Debug, PartialEq, Eq)]
enum V1Version<'a> {
    /// A registry version; `name` differs from the key for an alias (`npm:real@1.0.0`).
    Registry { name: &'a str, version: &'a str },
    /// A local directory or link (`file:`, `link:`): not a published package.
    Local,
    /// Git or a tarball URL: listed, not matched.
    Other(&'a str),
}

fn v1_version<'a>(key: &'a str, version: &'a str) -> V1Version<'a> {
    if let Some(alias) = version.strip_prefix("npm:") {
        // `npm:@scope/name@1.2.3`: the last `@` that is not the first character.
        return match alias.rfind('@').filter(|at| *at > 0) {
            Some(at) => V1Version::Registry {
                name: &alias[..at],
                version: &alias[at + 1..],
            },
            None => V1Version::Other(version),
        };
    }
    if version.starts_with("file:") || version.starts_with("link:") {
        return V1Version::Local;
    }
    if version.contains(':') || version.contains('/') || version.contains('#') {
        return V1Version::Other(version);
    }
    V1Version::Registry { name: key, version }
}

/// Walk a lockfile version 1 tree: `prefix` is the install path of `entries`' parent
/// (`node_modules/a/` for the packages of `a`).
fn collect_v1(
    entries: &BTreeMap<String, LockV1Entry>,
    prefix: &str,
    lock_path: &str,
    covered: &mut BTreeSet<String>,
    found: &mut Vec<Component>,
) {
    for (key, entry) in entries {
        let install = format!("{prefix}node_modules/{key}");
        if let Some(version) = &entry.version {
            match v1_version(key, version) {
                V1Version::Registry { name, version } => {
                    covered.insert(install.clone());
                    found.push(component(name, version, None, format!("/{lock_path}")));
                }
                V1Version::Other(version) => {
                    covered.insert(install.clone());
                    let mut listed = component(key, version, None, format!("/{lock_path}"));
                    listed.registry = false;
                    found.push(listed);
                }
                V1Version::Local => {}
            }
        }
        collect_v1(
            &entry.dependencies,
            &format!("{install}/"),
            lock_path,
            covered,
            found,
        );
    }
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
            collect_v1(&lock.dependencies, project, path, &mut covered, found);
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
    fn lock_v1_nested_scoped_bundled_aliased() {
        let mut files = Files::default();
        files.insert(
            "srv/orders/package-lock.json",
            include_bytes!("../../tests/fixtures/npm-lock-v1.json").to_vec(),
        );
        // Described by the lock file already: not read again.
        files.insert(
            "srv/orders/node_modules/express/node_modules/debug/package.json",
            br#"{"name":"debug","version":"2.6.9"}"#.to_vec(),
        );
        // Installed but not in the lock file: read.
        files.insert(
            "srv/orders/node_modules/extra/package.json",
            br#"{"name":"extra","version":"0.1.0"}"#.to_vec(),
        );
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        collect(&files, &mut found, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let listed: Vec<(&str, bool)> = found
            .iter()
            .map(|c| (c.purl.as_str(), c.registry))
            .collect();
        assert_eq!(
            listed,
            [
                ("pkg:npm/%40babel/code-frame@7.12.13", true),
                ("pkg:npm/%40babel/highlight@7.13.10", true),
                ("pkg:npm/chalk@2.4.2", true),
                ("pkg:npm/chalk@4.1.0", true),
                ("pkg:npm/debug@4.3.1", true),
                ("pkg:npm/express@4.17.1", true),
                ("pkg:npm/debug@2.6.9", true),
                ("pkg:npm/ms@2.0.0", true),
                ("pkg:npm/fsevents@1.2.4", true),
                ("pkg:npm/abbrev@1.1.1", true),
                ("pkg:npm/node-pre-gyp@0.10.0", true),
                ("pkg:npm/tar@4.4.1", true),
                (
                    "pkg:npm/left-pad@github:stevemao%2Fleft-pad%234ab2f5ffb1f8e4b8c1d7c6a0b3d4f7a9e2c1b0d8",
                    false
                ),
                ("pkg:npm/minimist@1.2.5", true),
                ("pkg:npm/mkdirp@0.5.1", true),
                ("pkg:npm/minimist@0.0.8", true),
                ("pkg:npm/ms@2.1.2", true),
                ("pkg:npm/qs@6.7.0", true),
                ("pkg:npm/string-width@4.2.3", true),
                ("pkg:npm/extra@0.1.0", true),
            ]
        );
        let scoped = &found[0];
        assert_eq!(scoped.name, "@babel/code-frame");
        assert_eq!(scoped.locations, ["/srv/orders/package-lock.json"]);
        // The alias is matched under the real package's name.
        let alias = found.iter().find(|c| c.version == "4.2.3").unwrap();
        assert_eq!(alias.name, "string-width");
        assert_eq!(
            alias.query(None).map(|query| query.name),
            Some("string-width".to_string())
        );
    }

    #[test]
    fn v1_version_specs() {
        assert_eq!(
            v1_version("x", "1.2.3"),
            V1Version::Registry {
                name: "x",
                version: "1.2.3"
            }
        );
        assert_eq!(
            v1_version("alias", "npm:@scope/real@2.0.0"),
            V1Version::Registry {
                name: "@scope/real",
                version: "2.0.0"
            }
        );
        assert_eq!(v1_version("x", "npm:"), V1Version::Other("npm:"));
        assert_eq!(v1_version("x", "file:../x"), V1Version::Local);
        assert_eq!(
            v1_version("x", "https://example.com/x.tgz"),
            V1Version::Other("https://example.com/x.tgz")
        );
    }

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
