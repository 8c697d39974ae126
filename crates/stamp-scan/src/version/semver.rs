//! SemVer 2.0.0 precedence, npm flavour: node-semver's strict parser (`semver.parse(v)`:
//! surrounding whitespace trimmed, one optional leading `v`, no leading zeros in numeric
//! identifiers, numbers up to `Number.MAX_SAFE_INTEGER`) and `semver.compare` (build metadata
//! ignored). The Cargo flavour is the `semver` crate's `cmp_precedence`, used directly.

use std::cmp::Ordering;

use super::compare_digits;

/// JavaScript's `Number.MAX_SAFE_INTEGER`: node-semver refuses larger major, minor or patch.
pub const NPM_NUMBER_MAX: u64 = (1 << 53) - 1;

/// One pre-release identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identifier {
    Numeric(String),
    Text(String),
}

impl Ord for Identifier {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Identifier::Numeric(a), Identifier::Numeric(b)) => compare_digits(a, b),
            (Identifier::Numeric(_), Identifier::Text(_)) => Ordering::Less,
            (Identifier::Text(_), Identifier::Numeric(_)) => Ordering::Greater,
            (Identifier::Text(a), Identifier::Text(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Identifier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A version as node-semver parses it strictly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpmVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<Identifier>,
    pub build: Vec<String>,
}

/// Not a strict SemVer version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a valid SemVer version")]
pub struct SemverError;

fn numeric_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'))
}

fn identifier_characters(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
}

fn core_number(text: &str) -> Result<u64, SemverError> {
    if !numeric_identifier(text) {
        return Err(SemverError);
    }
    text.parse::<u64>()
        .ok()
        .filter(|number| *number <= NPM_NUMBER_MAX)
        .ok_or(SemverError)
}

impl NpmVersion {
    pub fn parse(text: &str) -> Result<NpmVersion, SemverError> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let mut numbers = core.split('.');
        let major = core_number(numbers.next().ok_or(SemverError)?)?;
        let minor = core_number(numbers.next().ok_or(SemverError)?)?;
        let patch = core_number(numbers.next().ok_or(SemverError)?)?;
        if numbers.next().is_some() {
            return Err(SemverError);
        }
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre
                .split('.')
                .map(|identifier| {
                    if !identifier_characters(identifier) {
                        Err(SemverError)
                    } else if identifier.bytes().all(|byte| byte.is_ascii_digit()) {
                        if numeric_identifier(identifier) {
                            Ok(Identifier::Numeric(identifier.to_string()))
                        } else {
                            Err(SemverError)
                        }
                    } else {
                        Ok(Identifier::Text(identifier.to_string()))
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        let build = match build {
            None => Vec::new(),
            Some(build) => build
                .split('.')
                .map(|identifier| {
                    identifier_characters(identifier)
                        .then(|| identifier.to_string())
                        .ok_or(SemverError)
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(NpmVersion {
            major,
            minor,
            patch,
            pre,
            build,
        })
    }
}

impl Ord for NpmVersion {
    /// Precedence: build metadata does not take part.
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for NpmVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        NpmVersion::parse(a)
            .unwrap()
            .cmp(&NpmVersion::parse(b).unwrap())
    }

    #[test]
    fn semver_org_precedence() {
        let ascending = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for pair in ascending.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Ordering::Less, "{pair:?}");
        }
        assert_eq!(cmp("1.0.0+build1", "1.0.0+build2"), Ordering::Equal);
        assert_eq!(cmp("v1.2.3", "1.2.3"), Ordering::Equal);
    }

    #[test]
    fn strict_parsing_refuses_loose_forms() {
        for text in [
            "1.2",
            "01.2.3",
            "1.2.3-01",
            "1.2.3-",
            "1.2.3+",
            "=1.2.3",
            "1.2.3.4",
            "1.2.3-a..b",
            "9007199254740992.0.0",
        ] {
            assert!(NpmVersion::parse(text).is_err(), "{text:?}");
        }
        assert!(NpmVersion::parse("9007199254740991.0.0").is_ok());
        assert!(NpmVersion::parse("1.2.3-0a.--").is_ok());
    }
}
