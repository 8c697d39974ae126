//! Alpine (apk-tools 3) version order: `digits{.digits}[letter]{_suffix[digits]}[~hash][-rN]`.
//!
//! The version is read as a sequence of typed tokens; two versions are compared token by token
//! while the token types agree. Pre-release suffixes (`_alpha`, `_beta`, `_pre`, `_rc`) sort
//! before the plain version and post-release ones (`_cvs`, `_svn`, `_git`, `_hg`, `_p`) after
//! it; a digit run with a leading zero compares as text (Gentoo rule); when one version runs
//! out of tokens first, it is the greater unless the other continues with a pre-release
//! suffix. Invalid versions still compare (apk-tools falls back to the order of the token
//! types), but [`is_valid`] refuses them. Written from the behaviour of `apk version -t`,
//! checked against apk-tools' own vector files.

use std::cmp::Ordering;

use super::compare_digits;

/// Token types, in the order apk uses when one version continues where the other stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigits,
    Digits,
    Letter,
    Suffix,
    SuffixNumber,
    CommitHash,
    Revision,
    End,
    Invalid,
}

/// Suffixes in order; `None` (no suffix) is the pivot between pre and post releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Suffix {
    Alpha,
    Beta,
    Pre,
    Rc,
    None,
    Cvs,
    Svn,
    Git,
    Hg,
    P,
}

impl Suffix {
    fn from_name(name: &str) -> Option<Suffix> {
        Some(match name {
            "alpha" => Suffix::Alpha,
            "beta" => Suffix::Beta,
            "pre" => Suffix::Pre,
            "rc" => Suffix::Rc,
            "cvs" => Suffix::Cvs,
            "svn" => Suffix::Svn,
            "git" => Suffix::Git,
            "hg" => Suffix::Hg,
            "p" => Suffix::P,
            _ => return None,
        })
    }
}

struct Token<'a> {
    kind: Kind,
    text: &'a str,
    suffix: Suffix,
}

struct Tokens<'a> {
    rest: &'a str,
    current: Token<'a>,
}

fn take_while(text: &str, keep: impl Fn(u8) -> bool) -> (&str, &str) {
    let end = text
        .bytes()
        .position(|byte| !keep(byte))
        .unwrap_or(text.len());
    text.split_at(end)
}

impl<'a> Tokens<'a> {
    fn new(version: &'a str) -> Tokens<'a> {
        let (digits, rest) = take_while(version, |byte| byte.is_ascii_digit());
        let kind = if digits.is_empty() {
            Kind::Invalid
        } else {
            Kind::InitialDigits
        };
        Tokens {
            rest,
            current: Token {
                kind,
                text: digits,
                suffix: Suffix::None,
            },
        }
    }

    fn advance(&mut self) {
        let previous = self.current.kind;
        let invalid = Token {
            kind: Kind::Invalid,
            text: "",
            suffix: Suffix::None,
        };
        let Some(first) = self.rest.bytes().next() else {
            self.current = Token {
                kind: Kind::End,
                text: "",
                suffix: Suffix::None,
            };
            return;
        };
        self.current = match first {
            b'a'..=b'z' if previous <= Kind::Digits => {
                let (letter, rest) = self.rest.split_at(1);
                self.rest = rest;
                Token {
                    kind: Kind::Letter,
                    text: letter,
                    suffix: Suffix::None,
                }
            }
            b'.' | b'0'..=b'9' => {
                let kind = match previous {
                    Kind::InitialDigits | Kind::Digits => Kind::Digits,
                    Kind::Suffix if first != b'.' => Kind::SuffixNumber,
                    _ => Kind::Invalid,
                };
                // A `.` is only allowed between digit runs.
                let after_dot = if first == b'.' {
                    &self.rest[1..]
                } else {
                    self.rest
                };
                let (digits, rest) = take_while(after_dot, |byte| byte.is_ascii_digit());
                self.rest = rest;
                if kind == Kind::Invalid || digits.is_empty() {
                    invalid
                } else {
                    Token {
                        kind,
                        text: digits,
                        suffix: Suffix::None,
                    }
                }
            }
            b'_' if previous <= Kind::SuffixNumber => {
                let (name, rest) = take_while(&self.rest[1..], |byte| byte.is_ascii_lowercase());
                self.rest = rest;
                match Suffix::from_name(name) {
                    Some(suffix) => Token {
                        kind: Kind::Suffix,
                        text: name,
                        suffix,
                    },
                    None => invalid,
                }
            }
            b'~' if previous < Kind::CommitHash => {
                let (hash, rest) = take_while(&self.rest[1..], |byte| {
                    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
                });
                self.rest = rest;
                if hash.is_empty() {
                    invalid
                } else {
                    Token {
                        kind: Kind::CommitHash,
                        text: hash,
                        suffix: Suffix::None,
                    }
                }
            }
            b'-' if previous < Kind::Revision && self.rest.starts_with("-r") => {
                let (digits, rest) = take_while(&self.rest[2..], |byte| byte.is_ascii_digit());
                self.rest = rest;
                if digits.is_empty() {
                    invalid
                } else {
                    Token {
                        kind: Kind::Revision,
                        text: digits,
                        suffix: Suffix::None,
                    }
                }
            }
            _ => invalid,
        };
    }
}

/// Compare two tokens of the same kind.
fn compare_tokens(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        Kind::Digits if a.text.starts_with('0') || b.text.starts_with('0') => a.text.cmp(b.text),
        Kind::InitialDigits | Kind::Digits | Kind::SuffixNumber | Kind::Revision => {
            compare_digits(a.text, b.text)
        }
        Kind::Letter => a.text.cmp(b.text),
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.text.cmp(b.text),
    }
}

/// Whether apk-tools accepts `version`.
pub fn is_valid(version: &str) -> bool {
    let mut tokens = Tokens::new(version);
    while tokens.current.kind < Kind::End {
        tokens.advance();
    }
    tokens.current.kind == Kind::End
}

/// `apk version -t a b`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let mut left = Tokens::new(a);
    let mut right = Tokens::new(b);
    while left.current.kind == right.current.kind && left.current.kind < Kind::End {
        let order = compare_tokens(&left.current, &right.current);
        if order != Ordering::Equal {
            return order;
        }
        left.advance();
        right.advance();
    }
    let (left, right) = (&left.current, &right.current);
    if left.kind == right.kind {
        return Ordering::Equal;
    }
    if left.kind == Kind::Suffix && left.suffix < Suffix::None {
        return Ordering::Less;
    }
    if right.kind == Kind::Suffix && right.suffix < Suffix::None {
        return Ordering::Greater;
    }
    // The version that goes on with a "smaller" token type is the greater one.
    right.kind.cmp(&left.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_order() {
        let ascending = [
            "1.0_alpha",
            "1.0_alpha1",
            "1.0_beta",
            "1.0_pre1",
            "1.0_rc1",
            "1.0",
            "1.0-r1",
            "1.0-r10",
            "1.0_cvs",
            "1.0_svn",
            "1.0_git",
            "1.0_hg",
            "1.0_p1",
            "1.0a",
            "1.0.1",
        ];
        for pair in ascending.windows(2) {
            assert_eq!(compare(pair[0], pair[1]), Ordering::Less, "{pair:?}");
            assert_eq!(compare(pair[1], pair[0]), Ordering::Greater, "{pair:?}");
        }
    }

    #[test]
    fn validity() {
        for valid in [
            "1",
            "1.0",
            "1.0a",
            "1.0_alpha_beta2",
            "1.0~abc1-r0",
            "2.34-r12",
        ] {
            assert!(is_valid(valid), "{valid}");
        }
        for invalid in [
            "", "a", "1.0bc", "1.0_foo", "1.0-1", "1.", "1.0-r", "1.0~", "1-r1.0",
        ] {
            assert!(!is_valid(invalid), "{invalid}");
        }
    }

    #[test]
    fn leading_zeros_compare_as_text() {
        assert_eq!(compare("1.01", "1.1"), Ordering::Less);
        assert_eq!(compare("1.010", "1.01"), Ordering::Greater);
        assert_eq!(compare("01", "1"), Ordering::Equal);
    }
}
