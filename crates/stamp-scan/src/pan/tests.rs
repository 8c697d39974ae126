use std::path::Path;
use std::process::Command;

use super::*;

/// The Luhn-valid published test numbers, read from the embedded list.
fn listed_valid() -> Vec<&'static str> {
    TEST_NUMBERS_TSV
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("pan\t"))
        .filter(|line| line.split('\t').nth(3) == Some("yes"))
        .filter_map(|line| line.split('\t').next())
        .collect()
}

fn codes(text: &str) -> Vec<&'static str> {
    find_pans(text.as_bytes())
        .iter()
        .map(PanMatch::code)
        .collect()
}

/// Group `pan` the way cards print it (4-6-5 for 15 digits, fours otherwise).
fn grouped(pan: &str, separator: char) -> String {
    let sizes: &[usize] = if pan.len() == 15 {
        &[4, 6, 5]
    } else {
        &[4, 4, 4, 4, 4]
    };
    let mut out = String::new();
    let mut at = 0;
    for size in sizes {
        if at >= pan.len() {
            break;
        }
        if !out.is_empty() {
            out.push(separator);
        }
        let end = (at + size).min(pan.len());
        // A last group of fewer than three digits joins the one before.
        let end = if pan.len() - end < GROUP_DIGITS_MIN {
            pan.len()
        } else {
            end
        };
        out.push_str(&pan[at..end]);
        at = end;
    }
    out
}

/// A small deterministic generator, so the random cases are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn digits(&mut self, count: usize) -> Vec<u8> {
        (0..count)
            .map(|_| b'0' + (self.next() % 10) as u8)
            .collect()
    }
}

#[test]
fn the_list_has_49_luhn_valid_numbers() {
    let valid = listed_valid();
    assert_eq!(valid.len(), 49);
    for pan in &valid {
        assert!(luhn_valid(pan.as_bytes()), "{pan}");
        assert!(brand(pan.as_bytes()).is_some(), "{pan} has no brand");
    }
    assert!(!luhn_valid(b"4242424242424241"));
}

#[test]
fn every_test_number_is_found_in_plain_text_json_csv_and_grouped() {
    for pan in listed_valid() {
        let cases = [
            format!("card {pan} used\n"),
            format!("{{\"card\":\"{pan}\",\"amount\":12}}"),
            format!("id,card,amount\n7,{pan},12.50\n"),
            format!("card: {}", grouped(pan, ' ')),
            format!("card={}\n", grouped(pan, '-')),
            pan.to_string(),
        ];
        for text in &cases {
            assert_eq!(codes(text), vec![CODE_PAN_TEST_NUMBER], "{pan} in {text:?}");
        }
    }
}

#[test]
fn the_invalid_test_number_and_random_non_luhn_numbers_are_not_found() {
    assert!(codes("card 4242424242424241 declined").is_empty());
    let mut random = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut tried = 0;
    while tried < 10_000 {
        let digits = random.digits(16);
        if luhn_valid(&digits) {
            continue;
        }
        tried += 1;
        let text = String::from_utf8(digits).unwrap();
        assert!(codes(&format!("n={text};")).is_empty(), "{text}");
    }
}

#[test]
fn luhn_agrees_with_the_independent_oracle() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/oracles/pan/luhn_check.py");
    assert!(script.exists(), "{} is missing", script.display());
    let mut random = XorShift(42);
    let sample: Vec<String> = (0..300)
        .map(|index| {
            let length = 13 + index % 7;
            String::from_utf8(random.digits(length)).unwrap()
        })
        .collect();
    let output = Command::new("python3")
        .arg(&script)
        .arg("--pan")
        .args(&sample)
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut checked = 0;
    let mut valid = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() < 2 || !sample.iter().any(|pan| pan == fields[0]) {
            continue;
        }
        let oracle = match fields[1] {
            "yes" | "YES" | "true" | "True" | "1" => true,
            "no" | "NO" | "false" | "False" | "0" => false,
            other => panic!("unexpected oracle output {other:?} in {line:?}"),
        };
        assert_eq!(luhn_valid(fields[0].as_bytes()), oracle, "{}", fields[0]);
        checked += 1;
        valid += usize::from(oracle);
    }
    assert_eq!(checked, sample.len(), "oracle output:\n{text}");
    assert!(valid > 0, "the sample should hold some Luhn-valid numbers");
}

#[test]
fn context_rules_keep_false_positives_out() {
    // A real-looking Visa (Luhn-valid, not a test number) as the positive control.
    let pan = "4539148803436467";
    assert!(luhn_valid(pan.as_bytes()));
    assert_eq!(codes(pan), vec![CODE_PAN_DETECTED]);
    for text in [
        format!("1{pan}"),                     // part of a longer digit run
        format!("{pan}0"),                     // part of a longer digit run
        format!("deadbeef{pan}"),              // inside a hex token
        format!("{pan}abcdef"),                // inside a hex token
        format!("0.{pan}"),                    // a decimal fraction
        format!("abcd-{pan}-ef01"),            // a UUID-like token
        format!("{} 1234", grouped(pan, ' ')), // more than 19 digits
        "4539 14 8803436467".to_string(),      // a group of two digits
        "12345678-1234-1234-1234-123456789012".to_string(),
        "4242424242424240".to_string(), // fails Luhn
        "9999999999999995".to_string(), // Luhn-valid, no issuer
    ] {
        assert!(codes(&text).is_empty(), "{text}");
    }
    // A card number followed by a separate small number is still found.
    assert_eq!(codes(&format!("{pan} 12")), vec![CODE_PAN_DETECTED]);
    // A grouped number next to words or a date is not a list.
    for text in [
        "card 4539 1488 0343 6467 exp 12/27",
        "card: 4539-1488-0343-6467 - visa",
        "4539 1488 0343 6467 cafe",
    ] {
        assert_eq!(codes(text), vec![CODE_PAN_DETECTED], "{text}");
    }
    // But a neighbouring group of the same width makes it a list.
    assert!(codes("4539 1488 0343 6467 5A3D").is_empty());
    assert!(codes("0F3A 4539 1488 0343 6467").is_empty());
}

#[test]
fn issuer_ranges_include_the_newer_and_older_prefixes() {
    let cases: &[(&str, Brand)] = &[
        ("2223003122003222", Brand::Mastercard),
        ("2720990000000007", Brand::Mastercard),
        ("3088000000000017", Brand::Jcb),
        ("6205500000000000004", Brand::UnionPay),
        ("378282246310005", Brand::AmericanExpress),
        ("36227206271667", Brand::DinersClub),
        ("4222222222222", Brand::Visa),
        ("6304000000000000", Brand::Maestro),
    ];
    for (pan, expected) in cases {
        assert_eq!(brand(pan.as_bytes()), Some(*expected), "{pan}");
    }
    assert_eq!(brand(b"2721000000000000"), None);
    assert_eq!(brand(b"2220990000000000"), None);
}

#[test]
fn masking_keeps_first_six_and_last_four_at_most() {
    let found = find_pans(b"x 4539148803436467 y");
    assert_eq!(found.len(), 1);
    let masked = found[0].pan;
    assert_eq!(masked.to_string(), "453914******6467");
    assert_eq!(format!("{masked:?}"), "MaskedPan(453914******6467)");
    assert_eq!(
        format!("{:?}", found[0])
            .matches("4539148803436467")
            .count(),
        0
    );
    assert_eq!(
        serde_json::to_string(&masked).unwrap(),
        "\"453914******6467\""
    );
    let short = find_pans(b"4222222222222")[0].pan;
    assert_eq!(short.to_string(), "422222***2222");
}

/// The plain reading `find_pans` skips ahead of: every digit not inside an earlier run
/// starts a run.
fn find_pans_byte_by_byte(text: &[u8]) -> Vec<PanMatch> {
    let mut found = Vec::new();
    let mut index = 0;
    while index < text.len() {
        if !text[index].is_ascii_digit() {
            index += 1;
            continue;
        }
        let (end, candidate) = scan_run(text, index);
        index = end.max(index + 1);
        found.extend(candidate);
    }
    found
}

#[test]
fn skipping_ahead_finds_exactly_what_reading_every_byte_finds() {
    // Texts dense in digits, separators and context bytes, with planted card numbers, so
    // that spans start and end at every offset relative to the probes.
    let alphabet = b"0123456789012345678901234567890123456789  --.xA_\n";
    let valid = listed_valid();
    let mut random = XorShift(0x2545_f491_4f6c_dd1d);
    let mut total = 0;
    for case in 0..3000 {
        let length = (random.next() % 200) as usize;
        let mut text: Vec<u8> = (0..length)
            .map(|_| alphabet[(random.next() % alphabet.len() as u64) as usize])
            .collect();
        if case % 2 == 0 {
            let pan = valid[(random.next() % valid.len() as u64) as usize];
            let at = (random.next() % (length as u64 + 1)) as usize;
            let planted = match case % 6 {
                0 => pan.to_string(),
                2 => grouped(pan, ' '),
                _ => grouped(pan, '-'),
            };
            text.splice(at..at, format!("\n{planted}\n").into_bytes());
        }
        let expected = find_pans_byte_by_byte(&text);
        total += expected.len();
        assert_eq!(
            find_pans(&text),
            expected,
            "case {case}: {}",
            String::from_utf8_lossy(&text)
        );
    }
    // The planted numbers are found (the comparison is not between two empty lists).
    assert!(total >= 1000, "{total} card numbers found");
}
