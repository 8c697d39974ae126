//! PEP 440 versions, parsed and ordered exactly as `packaging.version.Version` (the library
//! pip uses) does: the same accepted spellings (case-insensitive, optional `v`, `-`/`_`/`.`
//! separators, `alpha`/`beta`/`c`/`pre`/`preview`/`rev`/`r` aliases, implicit numbers) and the
//! same sort key (`_cmpkey`: epoch, release without trailing zeros, pre, post, dev, local).

use std::cmp::Ordering;

use super::compare_digits;

/// An unbounded non-negative integer kept as its digits (Python integers have no limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    fn new(digits: &str) -> Number {
        let trimmed = digits.trim_start_matches('0');
        Number(if trimmed.is_empty() { "0" } else { trimmed }.to_string())
    }

    fn zero() -> Number {
        Number("0".into())
    }

    fn is_zero(&self) -> bool {
        self.0 == "0"
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_digits(&self.0, &other.0)
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pre-release phase, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PreLabel {
    Alpha,
    Beta,
    ReleaseCandidate,
}

/// One part of a local version label: numbers sort after strings, numbers numerically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LocalPart {
    Text(String),
    Number(Number),
}

/// A parsed PEP 440 version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pep440Version {
    pub epoch: Number,
    pub release: Vec<Number>,
    pub pre: Option<(PreLabel, Number)>,
    pub post: Option<Number>,
    pub dev: Option<Number>,
    pub local: Option<Vec<LocalPart>>,
}

/// The text is not a PEP 440 version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a PEP 440 version")]
pub struct Pep440Error;

/// A cursor over the lower-cased text.
struct Cursor<'a> {
    text: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_separator(&mut self) -> bool {
        matches!(self.peek(), Some(b'-' | b'_' | b'.')) && {
            self.at += 1;
            true
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.text[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> Option<&str> {
        let start = self.at;
        while self.peek().is_some_and(|byte| byte.is_ascii_digit()) {
            self.at += 1;
        }
        (self.at > start)
            .then(|| std::str::from_utf8(&self.text[start..self.at]).expect("ASCII digits"))
    }
}

impl Pep440Version {
    pub fn parse(text: &str) -> Result<Pep440Version, Pep440Error> {
        let lower = text.trim().to_ascii_lowercase();
        let mut cursor = Cursor {
            text: lower.as_bytes(),
            at: 0,
        };
        cursor.eat(b'v');
        // Epoch: digits followed by `!`; otherwise the digits start the release.
        let start = cursor.at;
        let epoch_digits = cursor.digits().map(Number::new);
        let epoch = match epoch_digits {
            Some(epoch) if cursor.peek() == Some(b'!') => {
                cursor.at += 1;
                epoch
            }
            _ => {
                cursor.at = start;
                Number::zero()
            }
        };
        let mut release = vec![Number::new(cursor.digits().ok_or(Pep440Error)?)];
        loop {
            let before = cursor.at;
            if cursor.eat(b'.') {
                if let Some(digits) = cursor.digits() {
                    release.push(Number::new(digits));
                    continue;
                }
            }
            cursor.at = before;
            break;
        }
        let pre = parse_pre(&mut cursor);
        let post = parse_post(&mut cursor);
        let dev = parse_dev(&mut cursor);
        let local = if cursor.eat(b'+') {
            Some(parse_local(&mut cursor)?)
        } else {
            None
        };
        if cursor.at != cursor.text.len() {
            return Err(Pep440Error);
        }
        Ok(Pep440Version {
            epoch,
            release,
            pre,
            post,
            dev,
            local,
        })
    }

    fn key(&self) -> Key<'_> {
        let mut release: &[Number] = &self.release;
        while let [rest @ .., last] = release {
            if !last.is_zero() {
                break;
            }
            release = rest;
        }
        let pre = match (&self.pre, &self.post, &self.dev) {
            (None, None, Some(_)) => Bounded::Below,
            (None, _, _) => Bounded::Above,
            (Some((label, number)), _, _) => Bounded::Value((*label, number)),
        };
        let post = match &self.post {
            None => Bounded::Below,
            Some(number) => Bounded::Value(number),
        };
        let dev = match &self.dev {
            None => Bounded::Above,
            Some(number) => Bounded::Value(number),
        };
        let local = match &self.local {
            None => Bounded::Below,
            Some(parts) => Bounded::Value(parts.as_slice()),
        };
        Key {
            epoch: &self.epoch,
            release,
            pre,
            post,
            dev,
            local,
        }
    }
}

/// packaging's `NegativeInfinity` / value / `Infinity`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Bounded<T> {
    Below,
    Value(T),
    Above,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key<'a> {
    epoch: &'a Number,
    release: &'a [Number],
    pre: Bounded<(PreLabel, &'a Number)>,
    post: Bounded<&'a Number>,
    dev: Bounded<&'a Number>,
    local: Bounded<&'a [LocalPart]>,
}

fn parse_pre(cursor: &mut Cursor<'_>) -> Option<(PreLabel, Number)> {
    let start = cursor.at;
    cursor.eat_separator();
    // The regex alternation order: alpha|a|beta|b|preview|pre|c|rc.
    let label = [
        ("alpha", PreLabel::Alpha),
        ("a", PreLabel::Alpha),
        ("beta", PreLabel::Beta),
        ("b", PreLabel::Beta),
        ("preview", PreLabel::ReleaseCandidate),
        ("pre", PreLabel::ReleaseCandidate),
        ("c", PreLabel::ReleaseCandidate),
        ("rc", PreLabel::ReleaseCandidate),
    ]
    .into_iter()
    .find(|(word, _)| cursor.eat_word(word))
    .map(|(_, label)| label);
    let Some(label) = label else {
        cursor.at = start;
        return None;
    };
    cursor.eat_separator();
    let number = cursor
        .digits()
        .map(Number::new)
        .unwrap_or_else(Number::zero);
    Some((label, number))
}

fn parse_post(cursor: &mut Cursor<'_>) -> Option<Number> {
    let start = cursor.at;
    // `-N` (implicit post release).
    if cursor.eat(b'-') {
        if let Some(digits) = cursor.digits() {
            return Some(Number::new(digits));
        }
        cursor.at = start;
    }
    cursor.eat_separator();
    if ["post", "rev", "r"]
        .iter()
        .any(|word| cursor.eat_word(word))
    {
        cursor.eat_separator();
        return Some(
            cursor
                .digits()
                .map(Number::new)
                .unwrap_or_else(Number::zero),
        );
    }
    cursor.at = start;
    None
}

fn parse_dev(cursor: &mut Cursor<'_>) -> Option<Number> {
    let start = cursor.at;
    cursor.eat_separator();
    if cursor.eat_word("dev") {
        cursor.eat_separator();
        return Some(
            cursor
                .digits()
                .map(Number::new)
                .unwrap_or_else(Number::zero),
        );
    }
    cursor.at = start;
    None
}

fn parse_local(cursor: &mut Cursor<'_>) -> Result<Vec<LocalPart>, Pep440Error> {
    let mut parts = Vec::new();
    loop {
        let start = cursor.at;
        while cursor
            .peek()
            .is_some_and(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
        {
            cursor.at += 1;
        }
        if cursor.at == start {
            return Err(Pep440Error);
        }
        let part = std::str::from_utf8(&cursor.text[start..cursor.at]).expect("ASCII");
        parts.push(if part.bytes().all(|byte| byte.is_ascii_digit()) {
            LocalPart::Number(Number::new(part))
        } else {
            LocalPart::Text(part.to_string())
        });
        if !cursor.eat_separator() {
            return Ok(parts);
        }
    }
}

impl Ord for Pep440Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Pep440Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        Pep440Version::parse(a)
            .unwrap()
            .cmp(&Pep440Version::parse(b).unwrap())
    }

    #[test]
    fn pep440_summary_order() {
        let ascending = [
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ];
        for pair in ascending.windows(2) {
            assert_eq!(cmp(pair[0], pair[1]), Ordering::Less, "{pair:?}");
        }
    }

    #[test]
    fn spellings_normalize() {
        assert_eq!(cmp("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(cmp("v1.0ALPHA1", "1.0a1"), Ordering::Equal);
        assert_eq!(cmp("1.0-1", "1.0.post1"), Ordering::Equal);
        assert_eq!(cmp("1.0.rev", "1.0.post0"), Ordering::Equal);
        assert_eq!(cmp("1.0c1", "1.0rc1"), Ordering::Equal);
        assert_eq!(cmp("1!0.1", "2.0"), Ordering::Greater);
        assert_eq!(cmp("1.0+local", "1.0"), Ordering::Greater);
        assert_eq!(cmp(" 1.0 ", "1.0"), Ordering::Equal);
    }

    #[test]
    fn invalid_versions_are_refused() {
        for text in [
            "", "1.0-", "1.0ab", "a1", "1..0", "1.0+", "1.0+a..b", "1.0 2", "1!",
        ] {
            assert!(Pep440Version::parse(text).is_err(), "{text:?}");
        }
        assert!(Pep440Version::parse("1.0a-").is_ok());
    }
}
