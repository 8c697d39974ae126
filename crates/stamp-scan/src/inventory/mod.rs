//! The components installed in a root filesystem (PCI DSS 6.3.2), each with a purl:
//!
//! | ecosystem | read from | matched in OSV as |
//! |---|---|---|
//! | dpkg | `var/lib/dpkg/status`, `var/lib/dpkg/status.d/*` (distroless) | `Debian:<VERSION_ID>`, by *source* package and version |
//! | apk | `lib/apk/db/installed` | `Alpine:v<major>.<minor>`, by origin package |
//! | Python | `*.dist-info/METADATA`, `*.egg-info/PKG-INFO`, `*.egg-info` files | `PyPI` |
//! | npm | `package-lock.json` v2/v3 `packages` and v1 `dependencies`, `node_modules/**/package.json` | `npm` |
//! | Cargo | `Cargo.lock` (crates.io packages), the `.dep-v0` section of executables built with `cargo auditable` | `crates.io` |
//!
//! One unreadable or malformed database file is a [`Problem`], not an error: the inventory
//! goes on with the rest.

mod apk;
pub mod auditable;
pub mod control;
mod dpkg;
pub mod files;
mod npm;
pub mod purl;
mod python;
mod rust;

use std::collections::BTreeMap;

pub use files::Files;

use crate::osv::matching::PackageQuery;

/// Where a component was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageType {
    Deb,
    Apk,
    Pypi,
    Npm,
    Cargo,
}

impl PackageType {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageType::Deb => "deb",
            PackageType::Apk => "apk",
            PackageType::Pypi => "pypi",
            PackageType::Npm => "npm",
            PackageType::Cargo => "cargo",
        }
    }

    /// The type [`PackageType::as_str`] names.
    pub fn parse(text: &str) -> Option<PackageType> {
        [
            PackageType::Deb,
            PackageType::Apk,
            PackageType::Pypi,
            PackageType::Npm,
            PackageType::Cargo,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One installed component.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Component {
    #[serde(rename = "type")]
    pub package_type: PackageType,
    pub name: String,
    pub version: String,
    pub purl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// The source package (dpkg `Source`, apk origin) when it differs from the name or
    /// version; advisories of distributions are keyed by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Whether the component can be matched against a public advisory database (false for
    /// Cargo path and git dependencies, the root project of a lock file).
    pub registry: bool,
    /// Image paths of the files that declared it.
    pub locations: Vec<String>,
}

/// The distribution of the root filesystem, from `os-release`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Distro {
    /// `ID` (`debian`, `alpine`, `ubuntu`).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.18.4`).
    pub version_id: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
}

impl Distro {
    /// The OSV ecosystem of this distribution's packages (`Debian:12`, `Alpine:v3.18`).
    pub fn osv_ecosystem(&self) -> Option<String> {
        match self.id.as_str() {
            "debian" if !self.version_id.is_empty() => Some(format!("Debian:{}", self.version_id)),
            "ubuntu" if !self.version_id.is_empty() => Some(format!("Ubuntu:{}", self.version_id)),
            "alpine" => {
                let mut parts = self.version_id.split('.');
                match (parts.next(), parts.next()) {
                    (Some(major), Some(minor)) => Some(format!("Alpine:v{major}.{minor}")),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `debian-12`, the purl `distro` qualifier.
    pub fn purl_qualifier(&self) -> String {
        if self.version_id.is_empty() {
            self.id.clone()
        } else {
            format!("{}-{}", self.id, self.version_id)
        }
    }
}

/// A database file that could not be read completely.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

/// Everything found in one root filesystem.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Inventory {
    pub distro: Option<Distro>,
    pub components: Vec<Component>,
    pub problems: Vec<Problem>,
}

impl Component {
    /// What to look up in the vulnerability database, if this component can be matched.
    pub fn query(&self, distro: Option<&Distro>) -> Option<PackageQuery> {
        if !self.registry {
            return None;
        }
        let (ecosystem, name, version) = match self.package_type {
            PackageType::Deb | PackageType::Apk => (
                distro?.osv_ecosystem()?,
                self.source_name.as_deref().unwrap_or(&self.name),
                self.source_version.as_deref().unwrap_or(&self.version),
            ),
            PackageType::Pypi => (
                "PyPI".to_string(),
                self.name.as_str(),
                self.version.as_str(),
            ),
            PackageType::Npm => ("npm".to_string(), self.name.as_str(), self.version.as_str()),
            PackageType::Cargo => (
                "crates.io".to_string(),
                self.name.as_str(),
                self.version.as_str(),
            ),
        };
        Some(PackageQuery {
            ecosystem,
            name: name.to_string(),
            version: version.to_string(),
        })
    }
}

/// Parse `os-release` (`KEY=value`, values optionally quoted).
pub fn parse_os_release(text: &str) -> Distro {
    let mut distro = Distro::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|value| value.strip_suffix('"'))
            .or_else(|| {
                value
                    .strip_prefix('\'')
                    .and_then(|value| value.strip_suffix('\''))
            })
            .unwrap_or(value)
            .to_string();
        match key.trim() {
            "ID" => distro.id = value,
            "VERSION_ID" => distro.version_id = value,
            "PRETTY_NAME" => distro.pretty_name = value,
            _ => {}
        }
    }
    distro
}

/// Build the inventory of the root filesystem whose package database files are `files`.
pub fn inventory(files: &Files) -> Inventory {
    let mut inventory = Inventory {
        problems: files
            .problems
            .iter()
            .map(|(path, message)| Problem {
                path: format!("/{path}"),
                message: message.clone(),
            })
            .collect(),
        ..Inventory::default()
    };
    inventory.distro = files
        .get("etc/os-release")
        .or_else(|| files.get("usr/lib/os-release"))
        .map(|bytes| parse_os_release(&String::from_utf8_lossy(bytes)));
    let mut found = Vec::new();
    dpkg::collect(
        files,
        inventory.distro.as_ref(),
        &mut found,
        &mut inventory.problems,
    );
    apk::collect(
        files,
        inventory.distro.as_ref(),
        &mut found,
        &mut inventory.problems,
    );
    python::collect(files, &mut found, &mut inventory.problems);
    npm::collect(files, &mut found, &mut inventory.problems);
    rust::collect(files, &mut found, &mut inventory.problems);
    auditable::collect(files, &mut found, &mut inventory.problems);
    // One entry per purl; the locations of copies are merged.
    let mut by_purl: BTreeMap<(PackageType, String), Component> = BTreeMap::new();
    for component in found {
        match by_purl.entry((component.package_type, component.purl.clone())) {
            std::collections::btree_map::Entry::Occupied(mut entry) => {
                let existing = entry.get_mut();
                for location in component.locations {
                    if !existing.locations.contains(&location) {
                        existing.locations.push(location);
                    }
                }
                existing.registry |= component.registry;
            }
            std::collections::btree_map::Entry::Vacant(entry) => {
                entry.insert(component);
            }
        }
    }
    inventory.components = by_purl.into_values().collect();
    inventory
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_and_ecosystems() {
        let debian = parse_os_release(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        );
        assert_eq!(debian.osv_ecosystem().as_deref(), Some("Debian:12"));
        assert_eq!(debian.purl_qualifier(), "debian-12");
        let alpine = parse_os_release("ID=alpine\nVERSION_ID=3.18.4\n");
        assert_eq!(alpine.osv_ecosystem().as_deref(), Some("Alpine:v3.18"));
    }
}
