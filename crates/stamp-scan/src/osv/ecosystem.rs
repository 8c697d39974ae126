//! OSV ecosystem names: the base (`Debian`) and the release suffix (`12` in `Debian:12`,
//! `v3.18` in `Alpine:v3.18`), package-name normalization, and the version scheme each
//! ecosystem's `ECOSYSTEM` ranges use.

use crate::version::VersionScheme;

/// `Debian:12` → (`Debian`, `12`); `PyPI` → (`PyPI`, ``).
pub fn split(ecosystem: &str) -> (&str, &str) {
    ecosystem.split_once(':').unwrap_or((ecosystem, ""))
}

/// The version scheme of an ecosystem's `ECOSYSTEM` ranges, when stamp knows it.
pub fn scheme(base: &str) -> Option<VersionScheme> {
    match base {
        "Debian" | "Ubuntu" => Some(VersionScheme::Dpkg),
        "Alpine" => Some(VersionScheme::Apk),
        "PyPI" => Some(VersionScheme::Pep440),
        "npm" => Some(VersionScheme::SemverNpm),
        "crates.io" => Some(VersionScheme::SemverCargo),
        _ => None,
    }
}

/// The version scheme of `SEMVER` ranges in an ecosystem: Cargo's for crates.io, node's
/// otherwise (which also accepts the `v` prefix Go versions carry).
pub fn semver_scheme(base: &str) -> VersionScheme {
    if base == "crates.io" {
        VersionScheme::SemverCargo
    } else {
        VersionScheme::SemverNpm
    }
}

/// The name under which a package is stored and looked up: PyPI names are normalized as
/// PEP 503 says (lower case, runs of `-`, `_`, `.` become one `-`); other ecosystems compare
/// names exactly.
pub fn normalize_name(base: &str, name: &str) -> String {
    if base != "PyPI" {
        return name.to_string();
    }
    let mut normalized = String::with_capacity(name.len());
    let mut separator = false;
    for character in name.trim().chars() {
        if matches!(character, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !normalized.is_empty() {
            normalized.push('-');
        }
        separator = false;
        normalized.extend(character.to_lowercase());
    }
    normalized
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_split_off() {
        assert_eq!(split("Debian:12"), ("Debian", "12"));
        assert_eq!(split("Alpine:v3.18"), ("Alpine", "v3.18"));
        assert_eq!(split("crates.io"), ("crates.io", ""));
    }

    #[test]
    fn pypi_names_normalize() {
        assert_eq!(normalize_name("PyPI", "Jinja2"), "jinja2");
        assert_eq!(normalize_name("PyPI", "zope.interface"), "zope-interface");
        assert_eq!(normalize_name("PyPI", "Foo__Bar-.baz"), "foo-bar-baz");
        assert_eq!(normalize_name("npm", "Foo_Bar"), "Foo_Bar");
    }
}
