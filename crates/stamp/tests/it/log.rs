//! CLI tests of `stamp init` and `stamp log …`, with Go's `sumdb/tlog` and `note` (the
//! `tlogverify` oracle) checking what stamp prints.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{describe, oracles_home, stamp};

fn tlogverify() -> PathBuf {
    let path = oracles_home().join("bin/tlogverify");
    assert!(
        path.is_file(),
        "tlogverify not found at {}; run ../shared/oracles/setup.sh",
        path.display()
    );
    path
}

/// Run `tlogverify SUBCOMMAND` with `input` on stdin; (exit code, stdout).
fn run_tlogverify(subcommand: &str, input: &str) -> (i32, String) {
    let mut child = Command::new(tlogverify())
        .arg(subcommand)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("tlogverify runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// A store with an initialized log and one built image.
fn store_with_build(dir: &Path) -> String {
    std::fs::write(dir.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(
        dir.join("stamp.toml"),
        "[image]\nname = \"hello\"\nsource_date_epoch = 1700000000\n[base]\nscratch = true\n[[layers]]\nfiles = [{ src = \"hello.txt\", dest = \"/hello.txt\" }]\n",
    )
    .unwrap();
    let output = stamp(dir, &["init"], &[("STAMP_ACTOR", "builder@example.com")]);
    assert!(output.status.success(), "{}", describe(&output));
    let output = stamp(
        dir,
        &["build", "--format", "json"],
        &[("STAMP_ACTOR", "builder@example.com")],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json["digest"].as_str().unwrap().to_string()
}

#[test]
fn init_makes_a_private_key_and_prints_the_verifier_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = stamp(dir.path(), &["init"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let key = std::fs::metadata(dir.path().join(".stamp/log.key")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    let printed = String::from_utf8(output.stdout).unwrap();
    let stored = std::fs::read_to_string(dir.path().join(".stamp/log.pub")).unwrap();
    assert_eq!(printed.trim(), stored.trim());
    let parts: Vec<&str> = printed.trim().splitn(3, '+').collect();
    assert!(parts[0].starts_with("stamp.local/"), "{printed}");
    assert!(
        parts[1].len() == 8 && parts[1].bytes().all(|b| b.is_ascii_hexdigit()),
        "{printed}"
    );
    // A second init keeps the same key and log.
    let again = stamp(dir.path(), &["init"], &[]);
    assert!(again.status.success());
    assert_eq!(String::from_utf8(again.stdout).unwrap(), printed);
}

#[test]
fn build_is_an_event_with_the_pci_fields_and_go_accepts_proofs_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let digest = store_with_build(dir.path());
    let output = stamp(
        dir.path(),
        &["log", "show", "--kind", "build", "--format", "json"],
        &[],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let event = &shown[0]["event"];
    assert_eq!(event["kind"], "build");
    assert_eq!(event["actor"], "builder@example.com");
    assert_eq!(event["outcome"], "success");
    assert_eq!(event["subject"], digest.as_str());
    assert!(event["time"].as_str().unwrap().ends_with('Z'));
    assert!(event["origin"]["host"]
        .as_str()
        .is_some_and(|host| !host.is_empty()));
    assert_eq!(event["details"]["image"]["digest"], digest.as_str());

    // Inclusion of the build event (index 1) in the current tree, checked by Go.
    let proof = stamp(dir.path(), &["log", "prove", "--index", "1"], &[]);
    assert!(proof.status.success(), "{}", describe(&proof));
    let text = String::from_utf8(proof.stdout).unwrap();
    let (code, out) = run_tlogverify("inclusion", &text);
    assert_eq!(code, 0, "{out}");
    // The same proof with one hex digit of the leaf hash changed must fail.
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let leaf = json["leaf_hash"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if leaf.starts_with('0') { '1' } else { '0' },
        &leaf[1..]
    );
    json["leaf_hash"] = flipped.into();
    let (code, _) = run_tlogverify("inclusion", &json.to_string());
    assert_eq!(code, 1);

    let consistency = stamp(
        dir.path(),
        &["log", "prove", "--from", "1", "--to", "3"],
        &[],
    );
    assert!(consistency.status.success(), "{}", describe(&consistency));
    let (code, out) = run_tlogverify(
        "consistency",
        &String::from_utf8(consistency.stdout).unwrap(),
    );
    assert_eq!(code, 0, "{out}");

    // The checkpoint is a signed note Go verifies with the key from log.pub.
    let note = stamp(dir.path(), &["log", "checkpoint"], &[]);
    assert!(note.status.success());
    let key = std::fs::read_to_string(dir.path().join(".stamp/log.pub")).unwrap();
    let request = serde_json::json!({
        "note": String::from_utf8(note.stdout).unwrap(),
        "verifier_keys": [key.trim()],
    });
    let (code, out) = run_tlogverify("note", &request.to_string());
    assert_eq!(code, 0, "{out}");
}

#[test]
fn verify_passes_then_names_the_index_of_a_tampered_event() {
    let dir = tempfile::tempdir().unwrap();
    store_with_build(dir.path());
    let output = stamp(dir.path(), &["log", "verify"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("log verified"));

    // The verify run is itself an event.
    let shown = stamp(
        dir.path(),
        &["log", "show", "--kind", "log.verify", "--format", "json"],
        &[],
    );
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 1);
    assert_eq!(shown[0]["event"]["outcome"], "success");

    // Flip one byte of the stored build event.
    let database = dir.path().join(".stamp/stamp.db");
    {
        let connection = rusqlite::Connection::open(&database).unwrap();
        let mut bytes: Vec<u8> = connection
            .query_row("SELECT bytes FROM entries WHERE idx = 1", [], |row| {
                row.get(0)
            })
            .unwrap();
        let position = bytes.iter().position(|&b| b == b'h').unwrap();
        bytes[position] = b'H';
        connection
            .execute("UPDATE entries SET bytes = ?1 WHERE idx = 1", [bytes])
            .unwrap();
    }
    let output = stamp(dir.path(), &["log", "verify", "--format", "json"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["problem"]["index"], 1);
}

#[test]
fn replay_rebuilds_identical_projections() {
    let dir = tempfile::tempdir().unwrap();
    store_with_build(dir.path());
    let output = stamp(dir.path(), &["log", "replay", "--format", "json"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["identical"], true);
    assert_eq!(
        report["state"]["images"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = stamp(dir.path(), &["log", "show"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("stamp init"));
    store_with_build(dir.path());
    let output = stamp(dir.path(), &["log", "show", "--kind", "nope"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown event kind `nope`"));
    let output = stamp(dir.path(), &["log", "prove", "--index", "99"], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}
