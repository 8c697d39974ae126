//! Version order per ecosystem, as each ecosystem's own tools define it.
//!
//! | scheme | reference | module |
//! |---|---|---|
//! | dpkg | `dpkg --compare-versions`, Debian Policy §5.6.12 | [`dpkg`] |
//! | PEP 440 | `packaging.version.Version` (what pip uses) | [`pep440`] |
//! | SemVer, npm flavour | node-semver `semver.compare`, strict parsing | [`semver`] |
//! | SemVer, Cargo flavour | the `semver` crate's precedence (what Cargo uses) | [`semver`] |
//! | apk | apk-tools 3 `apk version -t` | [`apk`] |
//!
//! Each is checked against the vector files of `../shared/oracles/versions` (tests in
//! `crates/stamp/tests/it/scan.rs`). dpkg, PEP 440, npm SemVer and apk are written here:
//! they are short, and the available crates are either not exact (PEP 440 crates accept
//! a superset) or GPL (debversion). Cargo's order uses the `semver` crate itself.

pub mod apk;
pub mod dpkg;
pub mod pep440;
pub mod semver;

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Longest version string any scheme accepts, in bytes. Real versions are under 100 bytes;
/// node-semver refuses anything over 256.
pub const VERSION_BYTES_MAX: usize = 256;

/// A version ordering scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionScheme {
    Dpkg,
    Pep440,
    SemverNpm,
    SemverCargo,
    Apk,
}

impl VersionScheme {
    /// Every scheme.
    pub const ALL: [VersionScheme; 5] = [
        VersionScheme::Dpkg,
        VersionScheme::Pep440,
        VersionScheme::SemverNpm,
        VersionScheme::SemverCargo,
        VersionScheme::Apk,
    ];

    /// The short name used on the command line (`deb`, `pep440`, `npm`, `cargo`, `apk`).
    pub fn as_str(self) -> &'static str {
        match self {
            VersionScheme::Dpkg => "deb",
            VersionScheme::Pep440 => "pep440",
            VersionScheme::SemverNpm => "npm",
            VersionScheme::SemverCargo => "cargo",
            VersionScheme::Apk => "apk",
        }
    }

    /// Check that `version` is valid in this scheme.
    pub fn validate(self, version: &str) -> Result<(), InvalidVersion> {
        let invalid = || InvalidVersion {
            scheme: self,
            version: version.chars().take(VERSION_BYTES_MAX).collect(),
        };
        if version.len() > VERSION_BYTES_MAX {
            return Err(invalid());
        }
        let valid = match self {
            VersionScheme::Dpkg => dpkg::DpkgVersion::parse(version).is_ok(),
            VersionScheme::Pep440 => pep440::Pep440Version::parse(version).is_ok(),
            VersionScheme::SemverNpm => semver::NpmVersion::parse(version).is_ok(),
            VersionScheme::SemverCargo => ::semver::Version::parse(version).is_ok(),
            VersionScheme::Apk => apk::is_valid(version),
        };
        if valid {
            Ok(())
        } else {
            Err(invalid())
        }
    }

    /// Compare two versions; an error names the first one that is not valid in this scheme.
    pub fn compare(self, a: &str, b: &str) -> Result<Ordering, InvalidVersion> {
        self.validate(a)?;
        self.validate(b)?;
        Ok(self.compare_unchecked(a, b))
    }

    /// Compare two versions already known to be valid (invalid ones compare as apk-tools
    /// and dpkg would: best effort, never a panic).
    fn compare_unchecked(self, a: &str, b: &str) -> Ordering {
        match self {
            VersionScheme::Dpkg => match (dpkg::DpkgVersion::parse(a), dpkg::DpkgVersion::parse(b))
            {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => a.cmp(b),
            },
            VersionScheme::Pep440 => {
                match (
                    pep440::Pep440Version::parse(a),
                    pep440::Pep440Version::parse(b),
                ) {
                    (Ok(a), Ok(b)) => a.cmp(&b),
                    _ => a.cmp(b),
                }
            }
            VersionScheme::SemverNpm => {
                match (semver::NpmVersion::parse(a), semver::NpmVersion::parse(b)) {
                    (Ok(a), Ok(b)) => a.cmp(&b),
                    _ => a.cmp(b),
                }
            }
            VersionScheme::SemverCargo => {
                match (::semver::Version::parse(a), ::semver::Version::parse(b)) {
                    (Ok(a), Ok(b)) => a.cmp_precedence(&b),
                    _ => a.cmp(b),
                }
            }
            VersionScheme::Apk => apk::compare(a, b),
        }
    }

    /// A parsed, comparable version (parse once, compare many times).
    pub fn parse(self, version: &str) -> Result<Version, InvalidVersion> {
        self.validate(version)?;
        let parsed = match self {
            VersionScheme::Dpkg => Version::Dpkg(dpkg::DpkgVersion::parse(version).expect("valid")),
            VersionScheme::Pep440 => {
                Version::Pep440(pep440::Pep440Version::parse(version).expect("valid"))
            }
            VersionScheme::SemverNpm => {
                Version::Npm(semver::NpmVersion::parse(version).expect("valid"))
            }
            VersionScheme::SemverCargo => {
                Version::Cargo(::semver::Version::parse(version).expect("valid"))
            }
            VersionScheme::Apk => Version::Apk(version.to_string()),
        };
        Ok(parsed)
    }
}

impl fmt::Display for VersionScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VersionScheme {
    type Err = String;

    /// Short names and the OSV ecosystem names: `deb`/`dpkg`/`Debian`, `pep440`/`PyPI`,
    /// `npm`/`semver`, `cargo`/`crates.io`/`semver-cargo`, `apk`/`Alpine`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let base = name.split(':').next().unwrap_or(name);
        match base.to_ascii_lowercase().as_str() {
            "deb" | "dpkg" | "debian" | "ubuntu" => Ok(VersionScheme::Dpkg),
            "pep440" | "pypi" | "python" => Ok(VersionScheme::Pep440),
            "npm" | "semver" | "semver-npm" => Ok(VersionScheme::SemverNpm),
            "cargo" | "crates.io" | "semver-cargo" => Ok(VersionScheme::SemverCargo),
            "apk" | "alpine" => Ok(VersionScheme::Apk),
            _ => Err(format!(
                "unknown version scheme `{name}` (expected deb, pep440, npm, cargo or apk)"
            )),
        }
    }
}

/// A version that is not valid in its scheme.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{version}` is not a valid {scheme} version")]
pub struct InvalidVersion {
    pub scheme: VersionScheme,
    pub version: String,
}

/// A parsed version of any scheme. Versions of different schemes never compare equal; the
/// matcher only compares versions of one scheme.
#[derive(Clone, Debug)]
pub enum Version {
    Dpkg(dpkg::DpkgVersion),
    Pep440(pep440::Pep440Version),
    Npm(semver::NpmVersion),
    Cargo(::semver::Version),
    Apk(String),
}

impl Version {
    /// Order within one scheme; `None` across schemes.
    pub fn partial_compare(&self, other: &Version) -> Option<Ordering> {
        match (self, other) {
            (Version::Dpkg(a), Version::Dpkg(b)) => Some(a.cmp(b)),
            (Version::Pep440(a), Version::Pep440(b)) => Some(a.cmp(b)),
            (Version::Npm(a), Version::Npm(b)) => Some(a.cmp(b)),
            (Version::Cargo(a), Version::Cargo(b)) => Some(a.cmp_precedence(b)),
            (Version::Apk(a), Version::Apk(b)) => Some(apk::compare(a, b)),
            _ => None,
        }
    }
}

/// Compare two runs of ASCII digits as unbounded non-negative integers.
pub(crate) fn compare_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_parse_from_short_and_osv_names() {
        for scheme in VersionScheme::ALL {
            assert_eq!(scheme.as_str().parse::<VersionScheme>(), Ok(scheme));
        }
        assert_eq!("Debian:12".parse(), Ok(VersionScheme::Dpkg));
        assert_eq!("Alpine:v3.18".parse(), Ok(VersionScheme::Apk));
        assert_eq!("crates.io".parse(), Ok(VersionScheme::SemverCargo));
        assert_eq!("PyPI".parse(), Ok(VersionScheme::Pep440));
        assert!("maven".parse::<VersionScheme>().is_err());
    }

    #[test]
    fn version_length_limit_is_enforced_at_the_boundary() {
        let at_limit = format!("1.{}", "0".repeat(VERSION_BYTES_MAX - 2));
        assert_eq!(at_limit.len(), VERSION_BYTES_MAX);
        assert!(VersionScheme::Dpkg.validate(&at_limit).is_ok());
        let over = format!("{at_limit}0");
        assert!(VersionScheme::Dpkg.validate(&over).is_err());
        assert!(VersionScheme::Pep440.validate(&over).is_err());
    }

    #[test]
    fn digit_runs_compare_as_numbers_of_any_size() {
        assert_eq!(compare_digits("010", "9"), Ordering::Greater);
        assert_eq!(compare_digits("000", ""), Ordering::Equal);
        assert_eq!(
            compare_digits(
                "123456789012345678901234567890",
                "123456789012345678901234567891"
            ),
            Ordering::Less
        );
    }
}
