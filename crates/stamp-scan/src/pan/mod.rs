//! Payment card number (PAN) detection (PCI DSS 3.3.1, 3.5.1, 12.10.7).
//!
//! A candidate is a run of 13–19 digits, optionally grouped by single spaces or dashes
//! (groups of at least three digits), that is not part of a longer digit or alphanumeric token
//! (hex strings, UUIDs, decimal fractions), passes the Luhn check (ISO/IEC 7812-1 Annex B) and
//! lies inside a real issuer range ([`brand`]). Numbers that card processors publish for
//! testing are reported as [`CODE_PAN_TEST_NUMBER`] at low severity, every other one as
//! [`CODE_PAN_DETECTED`].
//!
//! The digits of a detected number are never kept: a detection holds a [`MaskedPan`], which
//! keeps the first six and last four digits at most (PCI DSS 3.4.1 display masking).

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

mod brand;

pub use brand::{brand, Brand};

/// Finding code of a card number outside the published test numbers.
pub const CODE_PAN_DETECTED: &str = "pan-detected";
/// Finding code of a card number that processors publish for testing.
pub const CODE_PAN_TEST_NUMBER: &str = "pan-test-number";
/// PCI DSS requirements a card-number finding is evidence for.
pub const PCI_REQUIREMENTS: &[&str] = &["3.3.1", "3.5.1", "12.10.7"];

/// Fewest digits of a card number (ISO/IEC 7812-1 allows 8–19; issuers use 13 and up).
pub const PAN_DIGITS_MIN: usize = 13;
/// Most digits of a card number (ISO/IEC 7812-1).
pub const PAN_DIGITS_MAX: usize = 19;
/// Fewest digits in one separated group (`4242 4242 …`), so that lists of small numbers
/// (`1 2 3 4 …`) are not read as a card number.
pub const GROUP_DIGITS_MIN: usize = 3;

/// Card numbers published by processors for testing (Stripe docs.stripe.com/testing, PayPal
/// developer.paypal.com/tools/sandbox/card-testing, Braintree, Authorize.net); a copy of
/// `shared/oracles/pan/test-card-numbers.tsv`, whose header names its sources.
pub const TEST_NUMBERS_TSV: &str = include_str!("test-card-numbers.tsv");

fn test_numbers() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        TEST_NUMBERS_TSV
            .lines()
            .filter(|line| !line.starts_with('#') && !line.starts_with("pan\t"))
            .filter_map(|line| line.split('\t').next())
            .filter(|pan| !pan.is_empty())
            .collect()
    })
}

/// Whether `digits` passes the Luhn check (ISO/IEC 7812-1 Annex B).
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (position, digit) in digits.iter().rev().enumerate() {
        let mut value = u32::from(digit - b'0');
        if position % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum % 10 == 0
}

/// A card number with everything but the first six and last four digits removed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MaskedPan {
    first: [u8; 6],
    last: [u8; 4],
    digits: u8,
}

impl MaskedPan {
    /// Mask `digits` (13–19 ASCII digits).
    fn new(digits: &[u8]) -> MaskedPan {
        debug_assert!((PAN_DIGITS_MIN..=PAN_DIGITS_MAX).contains(&digits.len()));
        let mut first = [0u8; 6];
        let mut last = [0u8; 4];
        first.copy_from_slice(&digits[..6]);
        last.copy_from_slice(&digits[digits.len() - 4..]);
        MaskedPan {
            first,
            last,
            digits: digits.len() as u8,
        }
    }

    /// How many digits the number had.
    pub fn digits(&self) -> usize {
        usize::from(self.digits)
    }
}

impl fmt::Display for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &digit in &self.first {
            write!(f, "{}", digit as char)?;
        }
        for _ in 0..self.digits() - 10 {
            f.write_str("*")?;
        }
        for &digit in &self.last {
            write!(f, "{}", digit as char)?;
        }
        Ok(())
    }
}

impl fmt::Debug for MaskedPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MaskedPan({self})")
    }
}

impl serde::Serialize for MaskedPan {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One card number found in a text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PanMatch {
    pub pan: MaskedPan,
    pub brand: Brand,
    /// Whether it is a published test number.
    pub test_number: bool,
    /// Byte offset of its first digit.
    pub offset: usize,
}

impl PanMatch {
    pub fn code(&self) -> &'static str {
        if self.test_number {
            CODE_PAN_TEST_NUMBER
        } else {
            CODE_PAN_DETECTED
        }
    }
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

/// Whether `byte` can be part of a card number's run: a digit or a separator.
fn is_run_byte(byte: u8) -> bool {
    byte.is_ascii_digit() || byte == b' ' || byte == b'-'
}

/// Find the card numbers in `text` (any bytes; only ASCII digits and separators matter).
///
/// A card number needs [`PAN_DIGITS_MIN`] digits in one unbroken span of digits and
/// separators, so only such spans of at least that many bytes are read digit by digit. They
/// are found by probing every `PAN_DIGITS_MIN`-th byte (the skip loop of Boyer–Moore): a probe
/// outside a span rules out every span through it, so most of a binary or prose file is
/// stepped over 13 bytes at a time.
pub fn find_pans(text: &[u8]) -> Vec<PanMatch> {
    let mut found = Vec::new();
    // Invariant: `position` is 0 or follows a byte outside every span, and no span of
    // `PAN_DIGITS_MIN` bytes starts before it unread.
    let mut position = 0;
    while position + PAN_DIGITS_MIN <= text.len() {
        let probe = position + PAN_DIGITS_MIN - 1;
        if !is_run_byte(text[probe]) {
            position = probe + 1;
            continue;
        }
        let mut start = probe;
        while start > position && is_run_byte(text[start - 1]) {
            start -= 1;
        }
        let mut end = probe + 1;
        while end < text.len() && is_run_byte(text[end]) {
            end += 1;
        }
        if end - start >= PAN_DIGITS_MIN {
            scan_span(text, start, end, &mut found);
        }
        // `text[end]` is outside every span (or the text ends there).
        position = end + 1;
    }
    found
}

/// `text` with each card number in it replaced by its masked form (first six and last four
/// digits, separators dropped): for free text and file names stamp shows or records.
pub fn mask_pans(text: &str) -> String {
    let bytes = text.as_bytes();
    let found = find_pans(bytes);
    if found.is_empty() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for pan in found {
        if pan.offset < copied {
            continue;
        }
        // The number runs from its first digit until it has all its digits; separators
        // between them are part of it.
        let mut end = pan.offset;
        let mut digits = 0;
        while end < bytes.len() && digits < pan.pan.digits() {
            if bytes[end].is_ascii_digit() {
                digits += 1;
            }
            end += 1;
        }
        out.push_str(&text[copied..pan.offset]);
        out.push_str(&pan.pan.to_string());
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Read the digit runs of the span `text[start..end]` of digits and separators.
fn scan_span(text: &[u8], start: usize, end: usize, found: &mut Vec<PanMatch>) {
    let mut index = start;
    while index < end {
        if !text[index].is_ascii_digit() {
            index += 1;
            continue;
        }
        let run_start = index;
        let (run_end, candidate) = scan_run(text, run_start);
        index = run_end.max(run_start + 1);
        if let Some(found_match) = candidate {
            found.push(found_match);
        }
    }
}

/// Read the digit run starting at `start` (a digit); return where it ends and the card
/// number it is, if any. The digits live only in this stack frame.
fn scan_run(text: &[u8], start: usize) -> (usize, Option<PanMatch>) {
    let mut digits = [0u8; PAN_DIGITS_MAX];
    let mut count = 0usize;
    let mut group = 0usize;
    let mut separator: Option<u8> = None;
    let mut groups_ok = true;
    // Where the first group ends and how many digits it has.
    let mut first_group: Option<(usize, usize)> = None;
    let mut index = start;
    let mut end = start;
    while index < text.len() {
        let byte = text[index];
        if byte.is_ascii_digit() {
            if count < PAN_DIGITS_MAX {
                digits[count] = byte;
            }
            count += 1;
            group += 1;
            index += 1;
            end = index;
        } else if (byte == b' ' || byte == b'-')
            && separator.is_none_or(|used| used == byte)
            && text.get(index + 1).is_some_and(u8::is_ascii_digit)
        {
            if group < GROUP_DIGITS_MIN {
                groups_ok = false;
            }
            if first_group.is_none() {
                first_group = Some((index, count));
            }
            separator = Some(byte);
            group = 0;
            index += 1;
        } else {
            break;
        }
    }
    if separator.is_some() && group < GROUP_DIGITS_MIN {
        groups_ok = false;
    }
    let whole = if groups_ok {
        evaluate(text, start, end, &digits, count, separator.is_some())
    } else {
        None
    };
    // `4242424242424242 2025`: the run failed, but its first group alone is a card number.
    let found = whole.or_else(|| {
        let (first_end, first_count) = first_group?;
        evaluate(text, start, first_end, &digits, first_count, false)
    });
    (end, found)
}

/// Length of the run of bytes satisfying `allowed` that starts at `at` (`forward`) or ends
/// just before `at` (backward).
fn run_of(text: &[u8], at: usize, allowed: impl Fn(u8) -> bool, forward: bool) -> usize {
    if forward {
        text[at.min(text.len())..]
            .iter()
            .take_while(|&&byte| allowed(byte))
            .count()
    } else {
        text[..at.min(text.len())]
            .iter()
            .rev()
            .take_while(|&&byte| allowed(byte))
            .count()
    }
}

/// Decide whether the `count` digits of `text[start..end]` are a card number in context.
fn evaluate(
    text: &[u8],
    start: usize,
    end: usize,
    digits: &[u8; PAN_DIGITS_MAX],
    count: usize,
    grouped: bool,
) -> Option<PanMatch> {
    if !(PAN_DIGITS_MIN..=PAN_DIGITS_MAX).contains(&count) {
        return None;
    }
    // Context: not inside a word, a hex string, a UUID or a decimal fraction.
    let before = start.checked_sub(1).map(|at| text[at]);
    let after = text.get(end).copied();
    let inside_word = before.is_some_and(is_word_byte) || after.is_some_and(is_word_byte);
    let fraction = before == Some(b'.') && start >= 2 && text[start - 2].is_ascii_digit();
    let joined = (before == Some(b'-') && start >= 2 && is_word_byte(text[start - 2]))
        || (after == Some(b'-') && text.get(end + 1).copied().is_some_and(is_word_byte));
    // A grouped number inside a longer list of same-width groups (`542F 5430 5431 5432 5433`,
    // hex code points in a table) is a list, not a card number; a word after it (`exp`) is not.
    let first_group = run_of(text, start, |byte| byte.is_ascii_digit(), true);
    let last_group = run_of(text, end, |byte| byte.is_ascii_digit(), false);
    // A neighbouring token of hex digits, with at least one decimal digit, as wide as the
    // group next to it.
    let list_token = |token: &[u8], width: usize| {
        token.len() == width
            && token.iter().all(u8::is_ascii_hexdigit)
            && token.iter().any(u8::is_ascii_digit)
    };
    let list_token_before = matches!(before, Some(b' ' | b'-')) && start >= 2 && {
        let length = run_of(text, start - 1, |byte| byte.is_ascii_alphanumeric(), false);
        list_token(&text[start - 1 - length..start - 1], first_group)
    };
    let list_token_after = matches!(after, Some(b' ' | b'-')) && {
        let length = run_of(text, end + 1, |byte| byte.is_ascii_alphanumeric(), true);
        list_token(&text[end + 1..end + 1 + length], last_group)
    };
    let in_list = grouped && (list_token_before || list_token_after);
    if inside_word || fraction || (joined && !grouped) || in_list {
        return None;
    }
    let digits = &digits[..count];
    if !luhn_valid(digits) {
        return None;
    }
    let brand = brand(digits)?;
    let test_number = std::str::from_utf8(digits).is_ok_and(|pan| test_numbers().contains(pan));
    Some(PanMatch {
        pan: MaskedPan::new(digits),
        brand,
        test_number,
        offset: start,
    })
}

#[cfg(test)]
mod tests;
