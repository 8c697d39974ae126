//! CLI tests of identities, signed attestations and separation of duties (issue 4): the DSSE
//! checker we did not write (securesystemslib + in-toto-attestation, `dsse/`) accepts stamp's
//! provenance and approval envelopes with the public key `stamp key export` prints and
//! rejects each after a one-byte change; the builder cannot approve its own image; prod needs
//! two distinct approvers; an identity without the approver role cannot approve; after
//! `stamp key revoke` new signatures are refused while those logged before still verify.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use stamp_core::Digest;

use crate::support::{describe, shared_oracles, stamp_binary};

const BUILDER: &str = "builder@example.com";
const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";
const SLSA: &str = "https://slsa.dev/provenance/v1";
const APPROVAL: &str = "https://stamp.dev/approval/v1";

/// Run `stamp ARGS` in `dir` as the builder's user, with no key, passphrase or home from the
/// environment unless `env` sets them.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(stamp_binary());
    command
        .current_dir(dir)
        .args(args)
        .env("STAMP_ACTOR", BUILDER)
        .env_remove("STAMP_HOME")
        .env_remove("STAMP_KEY")
        .env_remove("STAMP_KEY_PASSPHRASE")
        .env_remove("STAMP_KEY_PASSPHRASE_FILE")
        .env_remove("SOURCE_DATE_EPOCH");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the stamp binary runs")
}

/// Run and require exit 0; stdout as text.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = run(dir, args, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stamp {args:?}\n{}",
        describe(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let text = ok(dir, args);
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("stamp {args:?}: {error}: {text}"))
}

/// A spec with one file; builds as `hello:latest`. Returns the image digest.
fn build(dir: &Path) -> String {
    fs::write(dir.join("hello.txt"), "hello\n").unwrap();
    fs::write(
        dir.join("stamp.toml"),
        "[image]\nname = \"hello\"\nsource_date_epoch = 1700000000\n[base]\nscratch = true\n[[layers]]\nfiles = [{ src = \"hello.txt\", dest = \"/hello.txt\" }]\n",
    )
    .unwrap();
    let output = run(dir, &["build", "--format", "json"], &[]);
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("created signing key `builder@example.com` with the builder role"),
        "{stderr}"
    );
    let built: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    built["digest"].as_str().unwrap().to_string()
}

fn new_key(dir: &Path, name: &str, role: &str) -> String {
    ok(dir, &["key", "new", "--name", name, "--role", role])
        .trim()
        .to_string()
}

/// `stamp log show --kind KIND --format json` events.
fn events(dir: &Path, kind: &str) -> Vec<serde_json::Value> {
    json(dir, &["log", "show", "--kind", kind, "--format", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let mut event = entry["event"].clone();
            event["index"] = entry["index"].clone();
            event
        })
        .collect()
}

/// The attestations of `image` as `stamp attestations --format json` reports them.
fn attestations(dir: &Path, image: &str) -> serde_json::Value {
    json(dir, &["attestations", image, "--format", "json"])
}

fn envelope_path(dir: &Path, envelope: &str) -> PathBuf {
    let digest: Digest = envelope.parse().unwrap();
    dir.join(".stamp/oci/blobs/sha256").join(digest.hex())
}

/// The stored envelope of the attestation with `predicate_type` signed by `signer`.
fn envelope_of(report: &serde_json::Value, predicate_type: &str, signer: &str) -> String {
    report["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["predicate_type"] == predicate_type && row["signer"]["name"] == signer)
        .unwrap_or_else(|| panic!("no {predicate_type} by {signer} in {report:#}"))["envelope"]
        .as_str()
        .unwrap()
        .to_string()
}

fn approvals_for<'a>(report: &'a serde_json::Value, environment: &str) -> &'a serde_json::Value {
    report["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|count| count["environment"] == environment)
        .unwrap()
}

/// The DSSE oracle: (exit code, output).
fn dsse_oracle(envelope: &Path, public_key: &Path, predicate_type: &str) -> (i32, String) {
    let script = shared_oracles().join("dsse/verify_dsse_statement.py");
    assert!(
        script.is_file(),
        "{} is missing; the shared oracles must sit beside the checkout",
        script.display()
    );
    let output = Command::new("python3")
        .arg(&script)
        .arg(envelope)
        .arg("--pubkey-pem")
        .arg(public_key)
        .arg("--expect-predicate-type")
        .arg(predicate_type)
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

/// A copy of `envelope` with one byte of the decoded payload changed (a hex digit of the
/// subject digest, so the statement stays well formed and only the signature can tell).
fn with_payload_byte_changed(envelope: &[u8]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    let mut payload = STANDARD.decode(value["payload"].as_str().unwrap()).unwrap();
    let marker = b"\"sha256\":\"";
    let start = payload
        .windows(marker.len())
        .position(|window| window == marker)
        .unwrap()
        + marker.len();
    payload[start] = if payload[start] == b'0' { b'1' } else { b'0' };
    value["payload"] = STANDARD.encode(&payload).into();
    serde_json::to_vec(&value).unwrap()
}

/// A copy of `envelope` with one byte of the signature changed.
fn with_signature_byte_changed(envelope: &[u8]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(envelope).unwrap();
    let mut signature = STANDARD
        .decode(value["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    signature[7] ^= 0x01;
    value["signatures"][0]["sig"] = STANDARD.encode(&signature).into();
    serde_json::to_vec(&value).unwrap()
}

/// Export `name`'s public key into `dir/NAME.pub.pem`.
fn export(dir: &Path, name: &str) -> PathBuf {
    let pem = ok(dir, &["key", "export", name]);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    let path = dir.join(format!("{name}.pub.pem"));
    fs::write(&path, pem).unwrap();
    path
}

#[test]
fn dsse_oracle_accepts_provenance_and_approval_and_rejects_one_byte_changes() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = build(dir);
    new_key(dir, ALICE, "approver");
    ok(
        dir,
        &[
            "approve",
            "hello",
            "--env",
            "prod",
            "--key",
            ALICE,
            "--comment",
            "CAB-1",
        ],
    );
    let report = attestations(dir, "hello");
    assert_eq!(report["ok"], true, "{report:#}");
    let builder_pub = export(dir, BUILDER);
    let alice_pub = export(dir, ALICE);

    let cases = [
        (SLSA, BUILDER, &builder_pub, &alice_pub),
        (APPROVAL, ALICE, &alice_pub, &builder_pub),
    ];
    for (predicate_type, signer, public_key, other_key) in cases {
        let envelope = envelope_path(dir, &envelope_of(&report, predicate_type, signer));
        let (code, text) = dsse_oracle(&envelope, public_key, predicate_type);
        assert_eq!(code, 0, "{predicate_type}: {text}");
        assert!(text.contains("RESULT: OK"), "{text}");
        assert!(
            text.contains(&format!("hello\t{image}")),
            "the subject is the image: {text}"
        );
        if predicate_type == SLSA {
            assert!(
                text.contains("SLSA provenance v1 predicate:     OK"),
                "{text}"
            );
        }
        // stamp's own verifier agrees.
        let verified = run(
            dir,
            &["verify-attestation", envelope.to_str().unwrap()],
            &[],
        );
        assert_eq!(verified.status.code(), Some(0), "{}", describe(&verified));

        let bytes = fs::read(&envelope).unwrap();
        let changed = [
            ("payload", with_payload_byte_changed(&bytes)),
            ("signature", with_signature_byte_changed(&bytes)),
        ];
        for (what, tampered) in changed {
            let path = dir.join(format!("tampered-{what}.json"));
            fs::write(&path, tampered).unwrap();
            let (code, text) = dsse_oracle(&path, public_key, predicate_type);
            assert_eq!(
                code, 1,
                "{predicate_type} with a changed {what} byte: {text}"
            );
            assert!(text.contains("RESULT: FAIL"), "{text}");
            let ours = run(dir, &["verify-attestation", path.to_str().unwrap()], &[]);
            assert_eq!(ours.status.code(), Some(1), "{}", describe(&ours));
        }
        // Another identity's key does not verify it.
        let (code, text) = dsse_oracle(&envelope, other_key, predicate_type);
        assert_eq!(code, 1, "{text}");
    }
}

#[test]
fn key_ids_are_sha256_of_the_exported_spki_and_key_files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    build(dir);
    let key_id = new_key(dir, ALICE, "approver");
    let pem = ok(dir, &["key", "export", ALICE]);
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).unwrap();
    assert_eq!(Digest::of(&der).hex(), key_id);
    let listed = json(dir, &["key", "list", "--format", "json"]);
    let alice = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["name"] == ALICE)
        .unwrap();
    assert_eq!(alice["key_id"], key_id.as_str());
    assert_eq!(alice["roles"], serde_json::json!(["approver"]));
    for name in [BUILDER, ALICE] {
        let path = dir.join(format!(".stamp/keys/{name}.pem"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{text}");
    }
    // Every key.add is in the log, by the acting identity.
    let added = events(dir, "key.add");
    assert_eq!(added.len(), 2);
    assert_eq!(added[1]["subject"], ALICE);
    assert_eq!(added[1]["actor"], BUILDER);
    assert_eq!(added[1]["details"]["key_id"], key_id.as_str());
}

#[test]
fn the_builder_approving_its_own_image_is_refused_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = build(dir);
    // Give the builder the approver role too, so only separation of duties stands in the way.
    ok(dir, &["trust", "role", BUILDER, "--add", "approver"]);
    let output = run(dir, &["approve", "hello", "--env", "dev"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must not be its builder"), "{stderr}");
    assert!(
        stderr.contains("hint: another identity must approve"),
        "{stderr}"
    );

    let approvals = events(dir, "approve");
    assert_eq!(approvals.len(), 1, "{approvals:#?}");
    let refused = &approvals[0];
    assert_eq!(refused["outcome"], "failure");
    assert_eq!(refused["actor"], BUILDER);
    assert_eq!(refused["subject"], image.as_str());
    assert_eq!(refused["details"]["code"], "approver-is-builder");
    assert_eq!(refused["details"]["env"], "dev");
    let changes = events(dir, "policy.change");
    assert_eq!(changes.last().unwrap()["details"]["change"], "roles");

    // Nothing was attached, and dev is not approved.
    let report = attestations(dir, "hello");
    assert_eq!(report["attestations"].as_array().unwrap().len(), 1);
    assert_eq!(approvals_for(&report, "dev")["satisfied"], false);
}

#[test]
fn two_distinct_approvers_satisfy_prod_and_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = build(dir);
    new_key(dir, ALICE, "approver");
    new_key(dir, BOB, "approver");

    let first = json(
        dir,
        &[
            "approve", "hello", "--env", "prod", "--key", ALICE, "--format", "json",
        ],
    );
    assert_eq!(first["approvals"]["required"], 2);
    assert_eq!(first["approvals"]["approvers"], serde_json::json!([ALICE]));
    assert_eq!(first["approvals"]["satisfied"], false);
    // The same approver again is still one distinct approver.
    let again = json(
        dir,
        &[
            "approve", "hello", "--env", "prod", "--key", ALICE, "--format", "json",
        ],
    );
    assert_eq!(again["approvals"]["approvers"], serde_json::json!([ALICE]));
    assert_eq!(again["approvals"]["satisfied"], false);
    let report = attestations(dir, "hello");
    assert_eq!(approvals_for(&report, "prod")["satisfied"], false);

    let second = json(
        dir,
        &[
            "approve", "hello", "--env", "prod", "--key", BOB, "--format", "json",
        ],
    );
    assert_eq!(
        second["approvals"]["approvers"],
        serde_json::json!([ALICE, BOB])
    );
    assert_eq!(second["approvals"]["satisfied"], true);
    let report = attestations(dir, "hello");
    assert_eq!(report["ok"], true, "{report:#}");
    let prod = approvals_for(&report, "prod");
    assert_eq!(prod["approvers"], serde_json::json!([ALICE, BOB]));
    assert_eq!(prod["satisfied"], true);
    // Approvals for prod say nothing about staging.
    assert_eq!(approvals_for(&report, "staging")["satisfied"], false);

    // Each approval is an event naming its signer, with the attestation's digests in refs.
    let approvals = events(dir, "approve");
    assert_eq!(approvals.len(), 3);
    for event in &approvals {
        assert_eq!(event["outcome"], "success");
        assert_eq!(event["subject"], image.as_str());
        let envelope = event["details"]["attestation"]["envelope"]
            .as_str()
            .unwrap();
        assert!(event["refs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == envelope));
    }
    // The projection (rebuilt from the log alone) holds the two distinct approvers.
    let replay = json(dir, &["log", "replay", "--format", "json"]);
    assert_eq!(replay["identical"], true);
    let rows: Vec<&str> = replay["state"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["env"] == "prod")
        .map(|row| row["approver"].as_str().unwrap())
        .collect();
    assert_eq!(rows, vec![ALICE, BOB]);

    // The image with its attestations still passes the OCI checkers by its name.
    let validate = Command::new("bash")
        .arg(shared_oracles().join("oci/validate.sh"))
        .arg(dir.join(".stamp/oci"))
        .arg("hello:latest")
        .output()
        .expect("bash runs");
    assert_eq!(validate.status.code(), Some(0), "{}", describe(&validate));
}

#[test]
fn an_identity_without_the_approver_role_cannot_approve() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = build(dir);
    new_key(dir, CAROL, "deployer");
    let output = run(
        dir,
        &["approve", "hello", "--env", "staging", "--key", CAROL],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs one of: approver"), "{stderr}");
    let refused = events(dir, "approve");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["outcome"], "failure");
    assert_eq!(refused[0]["actor"], CAROL);
    assert_eq!(refused[0]["subject"], image.as_str());
    assert_eq!(refused[0]["details"]["code"], "missing-role");
    let report = attestations(dir, "hello");
    assert_eq!(report["attestations"].as_array().unwrap().len(), 1);

    // An environment the trust file does not define is a usage error, not a refusal.
    let output = run(
        dir,
        &["approve", "hello", "--env", "moon", "--key", CAROL],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn after_revocation_new_signatures_are_refused_and_earlier_ones_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = build(dir);
    new_key(dir, ALICE, "approver");
    let approved = json(
        dir,
        &[
            "approve", "hello", "--env", "staging", "--key", ALICE, "--format", "json",
        ],
    );
    let approved_at = approved["log_index"].as_u64().unwrap();
    let envelope = envelope_path(dir, approved["attestation"]["envelope"].as_str().unwrap());

    let revoked_at: u64 = ok(dir, &["key", "revoke", ALICE, "--reason", "left the team"])
        .trim()
        .parse()
        .unwrap();
    assert!(revoked_at > approved_at);
    let revocations = events(dir, "key.revoke");
    assert_eq!(revocations.len(), 1);
    assert_eq!(revocations[0]["index"], revoked_at);
    assert_eq!(revocations[0]["subject"], ALICE);
    let listed = json(dir, &["key", "list", "--format", "json"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|row| row["name"] == ALICE && row["revoked_at"] == revoked_at));

    // The approval logged before the revocation still verifies, placed by the log.
    let verified = json(
        dir,
        &[
            "verify-attestation",
            envelope.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["recorded_at"], approved_at);
    assert_eq!(verified["signer_revoked_at"], revoked_at);
    let report = attestations(dir, "hello");
    assert_eq!(report["ok"], true, "{report:#}");
    assert_eq!(approvals_for(&report, "staging")["satisfied"], true);
    // So does the checker we did not write (it knows nothing of revocation).
    let alice_pub = export(dir, ALICE);
    assert_eq!(dsse_oracle(&envelope, &alice_pub, APPROVAL).0, 0);

    // A new approval with the revoked key is refused and logged.
    let retired: PathBuf = fs::read_dir(dir.join(".stamp/keys/revoked"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(ALICE)
        })
        .expect("the revoked key file is kept under keys/revoked");
    let output = run(
        dir,
        &[
            "approve",
            "hello",
            "--env",
            "prod",
            "--key",
            retired.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains(&format!("revoked at log index {revoked_at}")));
    let last = events(dir, "approve").pop().unwrap();
    assert_eq!(last["outcome"], "failure");
    assert_eq!(last["details"]["code"], "key-revoked");
    assert_eq!(last["actor"], ALICE);

    // A signature made with the revoked key outside stamp (never logged) is rejected too.
    let key = stamp_attest::IdentityKey::read_file(&retired, None).unwrap();
    let statement = stamp_attest::approval::approval(&stamp_attest::approval::ApprovalFacts {
        approver: ALICE,
        keyid: key.key_id(),
        image_name: "hello",
        image_digest: &image.parse().unwrap(),
        environment: "prod",
        comment: None,
        approved_on: time::OffsetDateTime::now_utc(),
    });
    let forged = stamp_attest::Envelope::sign(
        stamp_attest::PAYLOAD_TYPE_IN_TOTO,
        &statement.to_json_bytes(),
        key.signing_key(),
        key.key_id(),
    );
    let forged_path = dir.join("late-approval.json");
    fs::write(&forged_path, forged.to_json_bytes()).unwrap();
    let output = run(
        dir,
        &[
            "verify-attestation",
            forged_path.to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let refused: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(refused["code"], "key-revoked");

    // The name can take a new key (rotation), which signs again.
    new_key(dir, ALICE, "approver");
    ok(dir, &["approve", "hello", "--env", "prod", "--key", ALICE]);

    // The builder's key, once revoked, can no longer sign a build; its old provenance stands.
    ok(dir, &["key", "revoke", BUILDER, "--reason", "rotated"]);
    let output = run(dir, &["build", "--key", BUILDER], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let retired_builder = fs::read_dir(dir.join(".stamp/keys/revoked"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(BUILDER)
        })
        .unwrap();
    let output = run(
        dir,
        &["build", "--key", retired_builder.to_str().unwrap()],
        &[],
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let builds = events(dir, "build");
    let last = builds.last().unwrap();
    assert_eq!(last["outcome"], "failure");
    assert_eq!(last["details"]["code"], "key-revoked");
    let report = attestations(dir, "hello");
    assert_eq!(report["ok"], true, "{report:#}");
}

#[test]
fn encrypted_keys_need_their_passphrase_and_openssl_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    build(dir);
    let passphrase = dir.join("passphrase");
    fs::write(&passphrase, "correct horse battery staple\n").unwrap();
    let output = run(
        dir,
        &[
            "key",
            "new",
            "--name",
            BOB,
            "--role",
            "approver",
            "--encrypt",
            "--passphrase-file",
            passphrase.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let key_file = dir.join(format!(".stamp/keys/{BOB}.pem"));
    let text = fs::read_to_string(&key_file).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{text}"
    );

    // OpenSSL decrypts it (PBES2, scrypt, AES-256-CBC) to the same public key stamp exports.
    let openssl = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key_file)
        .arg("-passin")
        .arg(format!("file:{}", passphrase.display()))
        .output()
        .expect("openssl runs");
    assert!(openssl.status.success(), "{}", describe(&openssl));
    assert_eq!(
        String::from_utf8(openssl.stdout).unwrap(),
        ok(dir, &["key", "export", BOB])
    );

    let output = run(
        dir,
        &["approve", "hello", "--env", "dev", "--key", BOB],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("STAMP_KEY_PASSPHRASE_FILE"));
    let output = run(
        dir,
        &["approve", "hello", "--env", "dev", "--key", BOB],
        &[("STAMP_KEY_PASSPHRASE_FILE", passphrase.to_str().unwrap())],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));

    // Too short a passphrase is a usage error.
    fs::write(&passphrase, "short\n").unwrap();
    let output = run(
        dir,
        &[
            "key",
            "new",
            "--name",
            CAROL,
            "--encrypt",
            "--passphrase-file",
            passphrase.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
}

#[test]
fn a_trust_file_edited_by_hand_is_recorded_as_a_policy_change() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    build(dir);
    new_key(dir, ALICE, "approver");
    let path = dir.join(".stamp/trust.toml");
    let text = fs::read_to_string(&path).unwrap();
    let edited = text.replacen(
        "[environments.prod]\napprovals = 2",
        "[environments.prod]\napprovals = 1",
        1,
    );
    assert_ne!(edited, text);
    fs::write(&path, &edited).unwrap();
    // Verifying with it warns that the policy in force is not the recorded one.
    let output = run(dir, &["attestations", "hello", "--format", "json"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("not the trust file the log last recorded"));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["trust_recorded"], false);
    let output = run(
        dir,
        &["approve", "hello", "--env", "prod", "--key", ALICE],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("changed outside stamp"));
    let changes = events(dir, "policy.change");
    let last = changes.last().unwrap();
    assert_eq!(last["details"]["change"], "edited-outside-stamp");
    assert_eq!(
        last["details"]["trust_digest"],
        Digest::of(edited.as_bytes()).to_string()
    );
    assert!(last["index"].as_u64() < events(dir, "approve").last().unwrap()["index"].as_u64());
    // Recorded once: the next command finds the file as the log last saw it.
    ok(dir, &["approve", "hello", "--env", "dev", "--key", ALICE]);
    assert_eq!(events(dir, "policy.change").len(), changes.len());
    assert_eq!(attestations(dir, "hello")["trust_recorded"], true);
}

#[test]
fn an_identity_added_by_its_public_key_signs_with_its_own_openssl_key() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = build(dir);
    // The approver's key is made by OpenSSL on their machine; the store gets the public key.
    let private = dir.join("dana.key.pem");
    let public = dir.join("dana.pub.pem");
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            private.to_str().unwrap(),
        ],
        vec![
            "pkey",
            "-in",
            private.to_str().unwrap(),
            "-pubout",
            "-out",
            public.to_str().unwrap(),
        ],
    ] {
        let output = Command::new("openssl")
            .args(&args)
            .output()
            .expect("openssl runs");
        assert!(output.status.success(), "{}", describe(&output));
    }
    fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
    let key_id = ok(
        dir,
        &[
            "key",
            "add",
            "--name",
            "dana@example.com",
            "--public-key",
            public.to_str().unwrap(),
            "--role",
            "approver",
        ],
    );
    let added = events(dir, "key.add");
    assert_eq!(added.last().unwrap()["details"]["key_id"], key_id.trim());
    let approved = json(
        dir,
        &[
            "approve",
            "hello",
            "--env",
            "dev",
            "--key",
            private.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert_eq!(approved["approver"], "dana@example.com");
    assert_eq!(approved["approvals"]["satisfied"], true);
    let report = attestations(dir, "hello");
    let envelope = envelope_path(dir, &envelope_of(&report, APPROVAL, "dana@example.com"));
    assert_eq!(dsse_oracle(&envelope, &public, APPROVAL).0, 0);
    assert_eq!(report["image"], image.as_str());

    // A key file others can read is refused.
    fs::set_permissions(&private, fs::Permissions::from_mode(0o644)).unwrap();
    let output = run(
        dir,
        &[
            "approve",
            "hello",
            "--env",
            "dev",
            "--key",
            private.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("chmod 600"));
}

#[test]
fn an_attached_sbom_is_a_signed_statement_the_dsse_oracle_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let image = build(dir);
    let sbom = ok(dir, &["sbom", &image, "--format", "cyclonedx", "--attach"]);
    let document: serde_json::Value = serde_json::from_str(&sbom).unwrap();
    assert_eq!(document["bomFormat"], "CycloneDX");

    let report = attestations(dir, &image);
    let envelope = envelope_of(&report, "https://cyclonedx.org/bom", "builder@example.com");
    let row = report["attestations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["envelope"] == envelope.as_str())
        .unwrap();
    assert_eq!(row["verified"], true, "{report:#}");
    assert_eq!(events(dir, "attest").len(), 1);

    // The signed predicate is the SBOM stamp printed.
    let path = envelope_path(dir, &envelope);
    let bytes = fs::read(&path).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let payload = STANDARD.decode(value["payload"].as_str().unwrap()).unwrap();
    let statement: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(statement["predicate"], document);

    let public_key = export(dir, "builder@example.com");
    let (code, text) = dsse_oracle(&path, &public_key, "https://cyclonedx.org/bom");
    assert_eq!(code, 0, "{text}");
    let tampered = dir.join("tampered.json");
    fs::write(&tampered, with_signature_byte_changed(&bytes)).unwrap();
    let (code, text) = dsse_oracle(&tampered, &public_key, "https://cyclonedx.org/bom");
    assert_eq!(code, 1, "{text}");

    // An identity that is neither builder nor auditor may not attach one.
    new_key(dir, ALICE, "approver");
    let refused = run(dir, &["--key", ALICE, "sbom", &image, "--attach"], &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let attest_events = events(dir, "attest");
    assert_eq!(attest_events.len(), 2);
    assert_eq!(attest_events[1]["outcome"], "failure");
}
