//! Rust: `Cargo.lock` (versions 1–4). Packages from crates.io (`registry+…crates.io-index`
//! or `sparse+https://index.crates.io/`) are matched against advisories; path and git
//! packages are listed but not matched (as cargo-audit does).

use serde::Deserialize;

use super::purl::purl;
use super::{Component, Files, PackageType, Problem};

/// Largest Cargo.lock parsed.
pub const CARGO_LOCK_BYTES_MAX: usize = 32 << 20;
/// Most packages read from one Cargo.lock.
pub const CARGO_LOCK_PACKAGES_MAX: usize = 100_000;

#[derive(Deserialize)]
struct Lock {
    #[serde(default, rename = "package")]
    packages: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    source: Option<String>,
}

/// Whether a lock file `source` is the crates.io registry.
pub fn is_crates_io(source: &str) -> bool {
    source == "registry+https://github.com/rust-lang/crates.io-index"
        || source == "sparse+https://index.crates.io/"
}

/// Parse one Cargo.lock's packages: (name, version, from crates.io).
pub fn parse_lock(text: &str) -> Result<Vec<(String, String, bool)>, String> {
    if text.len() > CARGO_LOCK_BYTES_MAX {
        return Err(format!(
            "{} bytes, over the limit of {CARGO_LOCK_BYTES_MAX}",
            text.len()
        ));
    }
    let lock: Lock = toml::from_str(text).map_err(|error| error.to_string())?;
    if lock.packages.len() > CARGO_LOCK_PACKAGES_MAX {
        return Err(format!(
            "{} packages, over the limit of {CARGO_LOCK_PACKAGES_MAX}",
            lock.packages.len()
        ));
    }
    Ok(lock
        .packages
        .into_iter()
        .map(|package| {
            let registry = package.source.as_deref().is_some_and(is_crates_io);
            (package.name, package.version, registry)
        })
        .collect())
}

pub fn collect(files: &Files, found: &mut Vec<Component>, problems: &mut Vec<Problem>) {
    let locks: Vec<&str> = files
        .paths()
        .filter(|path| path.rsplit('/').next() == Some("Cargo.lock"))
        .collect();
    for path in locks {
        let text = String::from_utf8_lossy(files.get(path).unwrap_or_default());
        match parse_lock(&text) {
            Ok(packages) => {
                for (name, version, registry) in packages {
                    found.push(Component {
                        package_type: PackageType::Cargo,
                        purl: purl("cargo", None, &name, &version, &[]),
                        name,
                        version,
                        architecture: None,
                        source_name: None,
                        source_version: None,
                        license: None,
                        registry,
                        locations: vec![format!("/{path}")],
                    })
                }
            }
            Err(message) => problems.push(Problem {
                path: format!("/{path}"),
                message,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_and_local_packages() {
        let packages = parse_lock(
            "version = 3\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"time\"\nversion = \"0.2.22\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
        )
        .unwrap();
        assert_eq!(
            packages,
            [
                ("app".to_string(), "0.1.0".to_string(), false),
                ("time".to_string(), "0.2.22".to_string(), true)
            ]
        );
        assert!(parse_lock("not toml [").is_err());
    }
}
