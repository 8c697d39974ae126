//! Version order against every pair of the oracle vector files (the same files the CLI test
//! runs through `check-vectors.sh`; this one points at the failing pair directly).

use std::cmp::Ordering;

use stamp_scan::version::VersionScheme;

use crate::support::vectors_dir;

fn answer(scheme: VersionScheme, a: &str, b: &str) -> String {
    match scheme.compare(a, b) {
        Ok(Ordering::Less) => "-1".into(),
        Ok(Ordering::Equal) => "0".into(),
        Ok(Ordering::Greater) => "1".into(),
        Err(_) => "ERR".into(),
    }
}

/// (agree, disagreements, skipped)
fn check(file: &str, scheme: VersionScheme) -> (usize, Vec<String>, usize) {
    let text = std::fs::read_to_string(vectors_dir().join(file)).unwrap();
    let (mut agree, mut disagree, mut skipped) = (0, Vec::new(), 0);
    for line in text.lines() {
        let line = line.split('#').next().unwrap().trim();
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (a, b, expected) = match fields.as_slice() {
            [a, op @ ("<" | "=" | ">"), b] if file.ends_with(".data") => {
                let expected = match *op {
                    "<" => "-1",
                    "=" => "0",
                    _ => "1",
                };
                (*a, *b, expected.to_string())
            }
            [a, b, expected, ..] if !file.ends_with(".data") => (*a, *b, expected.to_string()),
            _ => continue,
        };
        let got = answer(scheme, a, b);
        if got == expected {
            agree += 1;
        } else if file.ends_with(".data") && got == "ERR" {
            skipped += 1;
        } else {
            disagree.push(format!("{a} {b}: expected {expected}, got {got}"));
        }
    }
    (agree, disagree, skipped)
}

#[test]
fn every_vector_file_agrees() {
    for (file, scheme, pairs) in [
        ("deb-vectors.txt", VersionScheme::Dpkg, 441),
        ("pep440-vectors.txt", VersionScheme::Pep440, 400),
        ("semver-vectors.txt", VersionScheme::SemverNpm, 121),
        ("semver-cargo-vectors.txt", VersionScheme::SemverCargo, 121),
        ("apk-vectors.txt", VersionScheme::Apk, 256),
        ("apk-tools-version.data", VersionScheme::Apk, 700),
    ] {
        let (agree, disagree, skipped) = check(file, scheme);
        assert!(
            disagree.is_empty(),
            "{file}: {} disagree:\n{}",
            disagree.len(),
            disagree.join("\n")
        );
        assert!(
            agree >= pairs,
            "{file}: only {agree} pairs ({skipped} skipped)"
        );
        eprintln!("{file}: {agree} agree, 0 disagree, {skipped} skipped");
    }
}
