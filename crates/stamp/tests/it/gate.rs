//! `stamp check IMAGE` as a gate: card numbers and secrets planted in image layers (one deleted
//! by a later layer, one inside a gzip file) are found with the right code, never appear in
//! clear anywhere stamp writes, and the signed verdict verifies with the DSSE oracle;
//! exceptions need two identities and are named in the verdict.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::support::{describe, shared_oracles, stamp};

const PREDICATE_TYPE_GATE: &str = "https://stamp.dev/gate/v1";

/// Luhn check digit of `digits` (the payload without its last digit).
fn luhn_check_digit(digits: &str) -> u32 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = u32::from(digit - b'0');
            if position % 2 == 0 {
                let doubled = value * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                value
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

/// A Luhn-valid Visa number that is not a published test number, made for this test run and
/// checked with the independent Luhn oracle.
fn planted_pan() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let payload = format!("45329{:010}", u64::from(nanos) * 7 % 10_000_000_000);
    let pan = format!("{payload}{}", luhn_check_digit(&payload));
    let listed = fs::read_to_string(shared_oracles().join("pan/test-card-numbers.tsv")).unwrap();
    assert!(!listed.contains(&pan), "{pan} is a published test number");
    let output = Command::new("python3")
        .arg(shared_oracles().join("pan/luhn_check.py"))
        .args(["--pan", &pan])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines()
            .any(|line| line.starts_with(&format!("{pan}\tTrue\t16\tVisa"))),
        "the Luhn oracle does not accept {pan}:\n{text}"
    );
    pan
}

fn aws_key() -> String {
    // Assembled at run time so that no source file holds a complete key.
    format!("AKIA{}", "Q4Z7X2W9R5T3Y6U8")
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child.stdin.take().unwrap().write_all(content).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    output.stdout
}

fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let output = stamp(dir, args, &[]);
    assert!(output.status.success(), "{args:?}\n{}", describe(&output));
    output
}

/// An image with a planted card number in a log file (deleted by a later layer), in a gzip
/// file and in a plain file, an AWS key in a config file, a test card number, and a password
/// in the image environment; plus a vulnerability database. Returns the planted card number.
fn planted_image(dir: &Path) -> String {
    let pan = planted_pan();
    let log = format!("2026-01-01 payment ok card={pan} amount=12.00\n");
    write(&dir.join("files/app.log"), log.as_bytes());
    write(&dir.join("files/old.log.gz"), &gzip(log.as_bytes()));
    write(
        &dir.join("files/export.csv"),
        format!("id,card\n1,{}\n", {
            let (a, rest) = pan.split_at(4);
            let (b, rest) = rest.split_at(4);
            let (c, d) = rest.split_at(4);
            format!("{a} {b} {c} {d}")
        })
        .as_bytes(),
    );
    write(
        &dir.join("files/credentials"),
        format!("[default]\naws_access_key_id = {}\n", aws_key()).as_bytes(),
    );
    write(
        &dir.join("files/test-cards.json"),
        b"{\"card\": \"4242424242424242\"}\n",
    );
    write(
        &dir.join("stamp.toml"),
        br#"[image]
name = "planted"
tag = "v1"
source_date_epoch = 1700000000

[base]
scratch = true

[[layers]]
name = "data"
files = [
  { src = "files/app.log", dest = "/var/log/app.log" },
  { src = "files/old.log.gz", dest = "/var/log/old.log.gz" },
  { src = "files/export.csv", dest = "/srv/export.csv" },
  { src = "files/credentials", dest = "/etc/app/credentials" },
  { src = "files/test-cards.json", dest = "/srv/test-cards.json" },
]

[[layers]]
name = "cleanup"
remove = ["/var/log/app.log"]

[config]
user = "10001"
env = { DB_PASSWORD = "hunter2-prod-7" }
"#,
    );
    ok(dir, &["build"]);
    let npm = shared_oracles().join("../data/osv/npm");
    ok(dir, &["db", "import", npm.to_str().unwrap()]);
    pan
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_below(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

fn dsse_oracle(envelope: &Path, public_key: &Path) -> (i32, String) {
    let output = Command::new("python3")
        .arg(shared_oracles().join("dsse/verify_dsse_statement.py"))
        .arg(envelope)
        .arg("--pubkey-pem")
        .arg(public_key)
        .arg("--expect-predicate-type")
        .arg(PREDICATE_TYPE_GATE)
        .output()
        .expect("python3 runs");
    let text = describe(&output);
    assert_ne!(
        output.status.code(),
        Some(2),
        "the DSSE checker could not run; run ../shared/oracles/setup.sh\n{text}"
    );
    (output.status.code().unwrap_or(-1), text)
}

fn check_json(dir: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec!["check", "planted:v1", "--format", "json"];
    args.extend_from_slice(extra);
    let output = stamp(dir, &args, &[]);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}\n{}", describe(&output)));
    (output, report)
}

fn findings(report: &serde_json::Value) -> Vec<(String, String, bool, bool)> {
    let mut found: Vec<(String, String, bool, bool)> = report["gate"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| {
            (
                finding["code"].as_str().unwrap().to_string(),
                finding["location"]["path"].as_str().unwrap().to_string(),
                finding["location"]["in_gzip"].as_bool().unwrap_or(false),
                finding["location"]["hidden_by_later_layer"]
                    .as_bool()
                    .unwrap_or(false),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn planted_card_numbers_and_secrets_are_found_masked_and_the_verdict_is_signed() {
    let dir = tempfile::tempdir().unwrap();
    let pan = planted_image(dir.path());
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let expected: Vec<(String, String, bool, bool)> = [
        ("pan-detected", "srv/export.csv", false, false),
        ("pan-detected", "var/log/app.log", false, true),
        ("pan-detected", "var/log/old.log.gz", true, false),
        ("pan-test-number", "srv/test-cards.json", false, false),
        ("secret-aws-access-key", "etc/app/credentials", false, false),
        ("secret-password", "config:Env[DB_PASSWORD]", false, false),
    ]
    .iter()
    .map(|(code, path, gzip, hidden)| (code.to_string(), path.to_string(), *gzip, *hidden))
    .collect();
    assert_eq!(findings(&report), expected, "{:#}", report["gate"]);
    let gate = &report["gate"];
    assert_eq!(gate["verdict"], "deny");
    assert_eq!(gate["counts"]["denied"], 5);
    assert_eq!(gate["counts"]["pan-detected"], 3);
    let masked = format!("{}******{}", &pan[..6], &pan[12..]);
    assert!(
        gate["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|finding| finding["masked"] == masked.as_str()),
        "{gate:#}"
    );
    for finding in gate["findings"].as_array().unwrap() {
        let pci: Vec<&str> = finding["pci"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_str().unwrap())
            .collect();
        match finding["code"].as_str().unwrap() {
            "pan-detected" | "pan-test-number" => {
                assert_eq!(pci, ["3.3.1", "3.5.1", "12.10.7"], "{finding:#}")
            }
            _ => assert_eq!(pci, ["8.6.2"], "{finding:#}"),
        }
    }
    assert!(gate["ruleSet"]["digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(
        gate["vulnerabilityDb"]["digest"],
        report["database"]["digest"]
    );

    // The table and the log say the same without the digits either.
    let table = stamp(dir.path(), &["check", "planted:v1"], &[]);
    assert_eq!(table.status.code(), Some(1), "{}", describe(&table));
    let log = stamp(dir.path(), &["log", "show", "--format", "json"], &[]);
    assert!(log.status.success(), "{}", describe(&log));
    let sarif = stamp(
        dir.path(),
        &["check", "planted:v1", "--format", "sarif"],
        &[],
    );
    assert_eq!(sarif.status.code(), Some(1), "{}", describe(&sarif));
    let document: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    let run = &document["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 6);
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
    assert_eq!(
        results
            .iter()
            .filter(|result| result["level"] == "error")
            .count(),
        5
    );

    // The planted digits and key appear nowhere: stdout, stderr, and every byte stamp wrote.
    let aws = aws_key();
    let grouped = format!(
        "{} {} {} {}",
        &pan[..4],
        &pan[4..8],
        &pan[8..12],
        &pan[12..]
    );
    for output in [&output, &table, &log, &sarif] {
        for stream in [&output.stdout, &output.stderr] {
            for secret in [pan.as_str(), grouped.as_str(), aws.as_str()] {
                assert!(!contains(stream, secret), "{secret} in output");
            }
        }
    }
    let stamp_dir = dir.path().join(".stamp");
    let written = files_below(&stamp_dir);
    assert!(written.iter().any(|path| path.ends_with("stamp.db")));
    assert!(written.iter().any(|path| path.ends_with("vulndb.db")));
    for path in &written {
        let bytes = fs::read(path).unwrap();
        for secret in [pan.as_str(), grouped.as_str(), aws.as_str()] {
            assert!(!contains(&bytes, secret), "{secret} in {}", path.display());
        }
    }

    // The signed verdict verifies with the DSSE oracle, and fails after a one-byte change.
    let listed = ok(
        dir.path(),
        &["attestations", "planted:v1", "--format", "json"],
    )
    .stdout;
    let listed: serde_json::Value = serde_json::from_slice(&listed).unwrap();
    let row = listed["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["predicate_type"] == PREDICATE_TYPE_GATE)
        .unwrap_or_else(|| panic!("no gate attestation in {listed:#}"))
        .clone();
    let envelope = row["envelope"].as_str().unwrap();
    assert_eq!(report["gate"]["attestation"]["envelope"], envelope);
    let envelope_path = stamp_dir
        .join("oci/blobs/sha256")
        .join(envelope.trim_start_matches("sha256:"));
    let signer = row["signer"]["name"].as_str().unwrap();
    let pem = ok(dir.path(), &["key", "export", signer]).stdout;
    let public_key = dir.path().join("signer.pub.pem");
    fs::write(&public_key, pem).unwrap();
    let (code, text) = dsse_oracle(&envelope_path, &public_key);
    assert_eq!(code, 0, "{text}");
    let bytes = fs::read(&envelope_path).unwrap();
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut payload = STANDARD.decode(value["payload"].as_str().unwrap()).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicate"]["verdict"], "deny");
    assert_eq!(statement["predicate"]["counts"]["pan-detected"], 3);
    let at = payload.iter().position(|&byte| byte == b'"').unwrap();
    payload[at + 1] ^= 0x01;
    value["payload"] = STANDARD.encode(&payload).into();
    let changed = dir.path().join("changed.dsse.json");
    fs::write(&changed, serde_json::to_vec(&value).unwrap()).unwrap();
    let (code, text) = dsse_oracle(&changed, &public_key);
    assert_eq!(code, 1, "{text}");
}

#[test]
fn exceptions_need_a_second_identity_and_are_named_in_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    planted_image(dir.path());
    ok(
        dir.path(),
        &["key", "new", "--name", "bob", "--role", "approver"],
    );
    let mut ids = Vec::new();
    for code in ["pan-detected", "secret-aws-access-key", "secret-password"] {
        let output = ok(
            dir.path(),
            &[
                "except",
                code,
                "--image",
                "planted:v1",
                "--reason",
                "fixture data, ticket SEC-1",
                "--expires",
                "2099-12-31",
            ],
        );
        ids.push(String::from_utf8(output.stdout).unwrap().trim().to_string());
    }
    // Not yet approved: the gate still fails.
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(report["gate"]["exceptions"].as_array().unwrap().is_empty());
    // The requester cannot approve their own exception.
    let builder = ids[0].clone();
    let output = stamp(dir.path(), &["except", "approve", &builder], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    for id in &ids {
        ok(dir.path(), &["except", "approve", id, "--key", "bob"]);
    }
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let gate = &report["gate"];
    assert_eq!(gate["verdict"], "pass");
    let applied: Vec<&str> = gate["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|exception| exception["id"].as_str().unwrap())
        .collect();
    assert_eq!(applied.len(), 3, "{gate:#}");
    assert!(gate["exceptions"][0]["approvedBy"] == "bob", "{gate:#}");
    assert_eq!(gate["counts"]["excepted"], 5);
    // A date in the past is refused; a malformed one is a usage error.
    for expires in ["2001-01-01", "tomorrow"] {
        let output = stamp(
            dir.path(),
            &[
                "except",
                "pan-detected",
                "--image",
                "planted:v1",
                "--reason",
                "x",
                "--expires",
                expires,
            ],
            &[],
        );
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    }
    let list = ok(dir.path(), &["except", "list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3);
}

#[test]
fn an_unpacked_root_filesystem_is_scanned_too_without_an_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let pan = planted_pan();
    write(
        &dir.path().join("tree/var/log/app.log.gz"),
        &gzip(format!("card {pan}\n").as_bytes()),
    );
    write(
        &dir.path().join("tree/etc/app.env"),
        format!("AWS_ACCESS_KEY_ID={}\n", aws_key()).as_bytes(),
    );
    let npm = shared_oracles().join("../data/osv/npm");
    ok(dir.path(), &["db", "import", npm.to_str().unwrap()]);
    let output = stamp(
        dir.path(),
        &["check", "--rootfs", "tree", "--format", "json"],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let expected: Vec<(String, String, bool, bool)> = vec![
        (
            "pan-detected".into(),
            "var/log/app.log.gz".into(),
            true,
            false,
        ),
        (
            "secret-aws-access-key".into(),
            "etc/app.env".into(),
            false,
            false,
        ),
    ];
    let mut found = findings(&report);
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, expected);
    assert!(report["gate"]["attestation"].is_null());
    for stream in [&output.stdout, &output.stderr] {
        assert!(!contains(stream, &pan));
        assert!(!contains(stream, &aws_key()));
    }
    // Without the plants the same tree passes.
    fs::remove_file(dir.path().join("tree/var/log/app.log.gz")).unwrap();
    fs::remove_file(dir.path().join("tree/etc/app.env")).unwrap();
    let output = stamp(dir.path(), &["check", "--rootfs", "tree"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
}

#[test]
fn a_card_number_in_a_file_name_is_masked_in_every_output_and_the_attestation() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let pan = planted_pan();
    let masked = format!("{}******{}", &pan[..6], &pan[12..]);
    write(
        &dir.join("files/card.txt"),
        format!("card={pan}\n").as_bytes(),
    );
    write(
        &dir.join("stamp.toml"),
        format!(
            "[image]\nname = \"named\"\nsource_date_epoch = 1700000000\n[base]\nscratch = true\n\
             [[layers]]\nfiles = [{{ src = \"files/card.txt\", dest = \"/data/{pan}.txt\" }}]\n\
             [config]\nuser = \"10001\"\n"
        )
        .as_bytes(),
    );
    ok(dir, &["build"]);
    let npm = shared_oracles().join("../data/osv/npm");
    ok(dir, &["db", "import", npm.to_str().unwrap()]);
    // The file's content and its name both hold the number: the finding's path is masked.
    let mut shown = Vec::new();
    for format in ["table", "json", "sarif"] {
        let output = stamp(dir, &["check", "named", "--format", format], &[]);
        assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
        assert!(
            !contains(&output.stdout, &pan) && !contains(&output.stderr, &pan),
            "{format}: {}",
            describe(&output)
        );
        shown.extend_from_slice(&output.stdout);
    }
    assert!(
        contains(&shown, &format!("data/{masked}.txt")),
        "{}",
        String::from_utf8_lossy(&shown)
    );
    // The signed gate verdict names the finding by its masked path; the log holds no path.
    let store = dir.join(".stamp");
    let mut verdicts = 0;
    for file in files_below(&store) {
        let bytes = fs::read(&file).unwrap();
        if file.to_string_lossy().contains("stamp.db") {
            assert!(!contains(&bytes, &pan), "the log holds the card number");
            continue;
        }
        let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let Some(payload) = envelope["payload"].as_str() else {
            continue;
        };
        let statement = STANDARD.decode(payload).unwrap();
        let statement: serde_json::Value = serde_json::from_slice(&statement).unwrap();
        if statement["predicateType"] == "https://stamp.dev/gate/v1" {
            verdicts += 1;
            let text = statement.to_string();
            assert!(
                !text.contains(&pan),
                "the gate verdict holds the card number"
            );
            assert!(text.contains(&format!("data/{masked}.txt")), "{text}");
        }
    }
    assert!(verdicts >= 1, "no signed gate verdict in the store");
}
