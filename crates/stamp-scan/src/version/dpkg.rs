//! Debian version order: `[epoch:]upstream[-revision]`, compared as `dpkg --compare-versions`
//! does (Debian Policy §5.6.12; dpkg `lib/dpkg/version.c` and `parsehelp.c`, 1.21).
//!
//! Validity follows `dpkg --validate-version`: the upstream part starts with a digit and holds
//! only alphanumerics and `.+-~:`; the revision only alphanumerics and `.+~`; the epoch is a
//! decimal number up to `i32::MAX`. Within upstream and revision, non-digit runs compare by
//! character with `~` before everything (even the end) and letters before other symbols, and
//! digit runs compare as numbers.

use std::cmp::Ordering;

/// A parsed Debian version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpkgVersion {
    pub epoch: u32,
    pub upstream: String,
    pub revision: String,
}

/// Why a Debian version is not valid (the messages dpkg prints).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DpkgVersionError {
    #[error("version string is empty")]
    Empty,
    #[error("version string has embedded spaces")]
    EmbeddedSpace,
    #[error("epoch in version is empty")]
    EpochEmpty,
    #[error("epoch in version is not number")]
    EpochNotNumber,
    #[error("epoch in version is too big")]
    EpochTooBig,
    #[error("nothing after colon in version number")]
    NothingAfterColon,
    #[error("revision number is empty")]
    RevisionEmpty,
    #[error("upstream version is empty")]
    UpstreamEmpty,
    #[error("version number does not start with digit")]
    NoLeadingDigit,
    #[error("invalid character in version number")]
    UpstreamCharacter,
    #[error("invalid character in revision number")]
    RevisionCharacter,
}

impl DpkgVersion {
    pub fn parse(text: &str) -> Result<DpkgVersion, DpkgVersionError> {
        let text = text.trim_matches([' ', '\t']);
        if text.is_empty() {
            return Err(DpkgVersionError::Empty);
        }
        if text.bytes().any(|byte| byte.is_ascii_whitespace()) {
            return Err(DpkgVersionError::EmbeddedSpace);
        }
        let (epoch, rest) = match text.split_once(':') {
            Some((epoch, rest)) => {
                // strtol accepts one leading `+`; a `-` makes the epoch negative (refused).
                let digits = epoch.strip_prefix('+').unwrap_or(epoch);
                if digits.is_empty() {
                    return Err(DpkgVersionError::EpochEmpty);
                }
                if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                    return Err(DpkgVersionError::EpochNotNumber);
                }
                let epoch = digits
                    .parse::<u64>()
                    .ok()
                    .filter(|epoch| *epoch <= i32::MAX as u64)
                    .ok_or(DpkgVersionError::EpochTooBig)?;
                if rest.is_empty() {
                    return Err(DpkgVersionError::NothingAfterColon);
                }
                (epoch as u32, rest)
            }
            None => (0, text),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((_, "")) => return Err(DpkgVersionError::RevisionEmpty),
            Some((upstream, revision)) => (upstream, revision),
            None => (rest, ""),
        };
        let Some(first) = upstream.bytes().next() else {
            return Err(DpkgVersionError::UpstreamEmpty);
        };
        if !first.is_ascii_digit() {
            return Err(DpkgVersionError::NoLeadingDigit);
        }
        if !upstream
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".-+~:".contains(&byte))
        {
            return Err(DpkgVersionError::UpstreamCharacter);
        }
        if !revision
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b".+~".contains(&byte))
        {
            return Err(DpkgVersionError::RevisionCharacter);
        }
        Ok(DpkgVersion {
            epoch,
            upstream: upstream.to_string(),
            revision: revision.to_string(),
        })
    }
}

impl Ord for DpkgVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| compare_part(&self.upstream, &other.upstream))
            .then_with(|| compare_part(&self.revision, &other.revision))
    }
}

impl PartialOrd for DpkgVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The weight of one non-digit position: `~` sorts before the end of the string, the end
/// before letters, letters before every other character.
fn weight(byte: Option<u8>) -> i32 {
    match byte {
        None => 0,
        Some(byte) if byte.is_ascii_digit() => 0,
        Some(byte) if byte.is_ascii_alphabetic() => byte as i32,
        Some(b'~') => -1,
        Some(byte) => byte as i32 + 256,
    }
}

/// dpkg's `verrevcmp` over one part (upstream or revision).
fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let is_digit = |bytes: &[u8], at: usize| bytes.get(at).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (weight_a, weight_b) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if weight_a != weight_b {
                return weight_a.cmp(&weight_b);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        DpkgVersion::parse(a)
            .unwrap()
            .cmp(&DpkgVersion::parse(b).unwrap())
    }

    #[test]
    fn policy_examples_order() {
        let ascending = ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+", "1.0.1"];
        for pair in ascending.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Ordering::Less, "{pair:?}");
        }
    }

    #[test]
    fn epochs_and_revisions() {
        assert_eq!(cmp("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(cmp("0:1.0", "1.0"), Ordering::Equal);
        assert_eq!(cmp("1.0", "1.0-0"), Ordering::Equal);
        assert_eq!(cmp("1.0-1", "1.0-01"), Ordering::Equal);
        assert_eq!(cmp("2.36.1-8+deb11u1", "2.36.1-8+deb11u2"), Ordering::Less);
        assert_eq!(cmp("91.5.0esr-1~deb10u1", "91.5.0esr-1"), Ordering::Less);
    }

    #[test]
    fn invalid_versions_are_refused() {
        for (text, error) in [
            ("", DpkgVersionError::Empty),
            ("1 0", DpkgVersionError::EmbeddedSpace),
            (":1.0", DpkgVersionError::EpochEmpty),
            ("a:1.0", DpkgVersionError::EpochNotNumber),
            ("-1:1.0", DpkgVersionError::EpochNotNumber),
            ("2147483648:1.0", DpkgVersionError::EpochTooBig),
            ("1:", DpkgVersionError::NothingAfterColon),
            ("1.0-", DpkgVersionError::RevisionEmpty),
            ("-1", DpkgVersionError::UpstreamEmpty),
            ("a1.0", DpkgVersionError::NoLeadingDigit),
            ("1.0_1", DpkgVersionError::UpstreamCharacter),
            ("1.0-1_2", DpkgVersionError::RevisionCharacter),
        ] {
            assert_eq!(DpkgVersion::parse(text), Err(error), "{text:?}");
        }
        assert!(DpkgVersion::parse("2147483647:1.0").is_ok());
        assert!(DpkgVersion::parse("1:2:3-4").is_ok());
    }
}
