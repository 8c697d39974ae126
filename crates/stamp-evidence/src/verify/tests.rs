//! A pack exported from a real (SQLite) log verifies; each kind of tampering is named.

use std::collections::BTreeSet;

use serde_json::json;
use stamp_attest::{Identity, IdentityKey, Role, Trust};
use stamp_core::event::{Event, EventKind, Origin, Outcome};
use stamp_log::{LogStore, NoteSigner, SqliteLog};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::export::{export, ExportInput};

const ORIGIN: &str = "stamp.local/0123456789abcdef";
const T0: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);

struct Fixture {
    _dir: tempfile::TempDir,
    pack: Pack,
    keys: Keys,
    key: IdentityKey,
}

fn event(at: OffsetDateTime, kind: EventKind, subject: &str) -> Event {
    Event::builder()
        .actor("audrey")
        .kind(kind)
        .time(at)
        .outcome(Outcome::Success)
        .origin(Origin::new("h", "stamp", 1))
        .subject(subject)
        .details(json!({"report": {}}).as_object().unwrap().clone())
        .build()
        .unwrap()
}

/// A log of 40 events over 40 days (log verifications), exported for days 10 to 45.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let mut log = SqliteLog::create(&dir.path().join("stamp.db"), ORIGIN, &signer).unwrap();
    log.append(&signer, &[event(T0, EventKind::LogInit, ORIGIN)])
        .unwrap();
    for day in 1..40 {
        log.append(
            &signer,
            &[event(
                T0 + Duration::days(day),
                EventKind::LogVerify,
                ORIGIN,
            )],
        )
        .unwrap();
    }
    log.append(
        &signer,
        &[event(
            T0 + Duration::days(41),
            EventKind::EvidenceExport,
            ORIGIN,
        )],
    )
    .unwrap();
    let key = IdentityKey::generate();
    let mut trust = Trust::new();
    trust
        .add(Identity {
            name: "audrey".into(),
            public_key: key.public().clone(),
            roles: BTreeSet::from([Role::Auditor]),
            revoked_at: None,
            revoked_reason: None,
        })
        .unwrap();
    let trust_toml = trust.to_toml().into_bytes();
    let input = ExportInput {
        period: Period {
            from: T0 + Duration::days(10),
            to: T0 + Duration::days(45),
        },
        env: None,
        generated_by: "audrey".into(),
        generated_at: T0 + Duration::days(41),
        trust_toml: trust_toml.clone(),
        log_verifier: signer.verifier(),
        signing_key: &key,
    };
    let exported = export(&log, &input, &mut |_| Ok(Vec::new())).unwrap();
    assert_eq!(exported.tree_size, log.size().unwrap());
    Fixture {
        _dir: dir,
        pack: exported.pack,
        keys: Keys {
            trust_toml,
            log_verifier: format!("{}\n", signer.verifier().verifier_key()).into_bytes(),
        },
        key,
    }
}

/// Re-make SHA256SUMS and its signature, as the holder of the exporting key could.
fn resign(fixture: &mut Fixture) {
    fixture.pack.files.remove(files::SHA256SUMS);
    fixture.pack.files.remove(files::PACK_SIGNATURE);
    let sums = fixture.pack.sums();
    let envelope = Envelope::sign(
        PAYLOAD_TYPE_SUMS,
        &sums,
        fixture.key.signing_key(),
        fixture.key.key_id(),
    );
    fixture.pack.insert(files::SHA256SUMS, sums);
    fixture
        .pack
        .insert(files::PACK_SIGNATURE, envelope.to_json_bytes());
}

fn codes(report: &VerifyReport) -> Vec<(&'static str, String)> {
    report
        .failures
        .iter()
        .map(|failure| (failure.code, failure.place.clone()))
        .collect()
}

#[test]
fn an_exported_pack_verifies_with_its_keys() {
    let fixture = fixture();
    let report = verify(&fixture.pack, &fixture.keys);
    assert!(report.ok(), "{:#?}", report.failures);
    assert_eq!(report.signer.as_deref(), Some("audrey"));
    // Day 10 is entry 10; the entry before the range (9) and the first (0) are included.
    assert_eq!(report.checked["events"], 1 + 1 + 31);
    assert!(report.checked["consistency proofs"] >= 5);
    let status = |id: &str| {
        report
            .requirements
            .iter()
            .find(|(found, _)| found == id)
            .unwrap()
            .1
    };
    assert_eq!(status("10.3.4"), Status::Met);
    assert_eq!(status("10.2.1.3"), Status::Met);
    assert_eq!(status("6.5.1"), Status::NotApplicable);
}

#[test]
fn a_changed_event_re_signed_is_named_by_its_index() {
    let mut fixture = fixture();
    let mut events = events::parse(&fixture.pack.files[files::EVENTS]).unwrap();
    let changed = events[5].index;
    events[5].bytes = String::from_utf8(events[5].bytes.clone())
        .unwrap()
        .replace("log.verify", "log.read")
        .into_bytes();
    fixture.pack.insert(files::EVENTS, events::write(&events));
    resign(&mut fixture);
    let report = verify(&fixture.pack, &fixture.keys);
    assert!(
        codes(&report).contains(&("event-changed", format!("log index {changed}"))),
        "{:#?}",
        report.failures
    );
}

#[test]
fn a_removed_event_and_a_shifted_range_are_named() {
    let mut fixture = fixture();
    let mut events = events::parse(&fixture.pack.files[files::EVENTS]).unwrap();
    let removed = events.remove(10).index;
    fixture.pack.insert(files::EVENTS, events::write(&events));
    resign(&mut fixture);
    let report = verify(&fixture.pack, &fixture.keys);
    assert!(codes(&report).contains(&("event-missing", format!("log index {removed}"))));

    // Dropping the period's first entries and claiming a later start is caught too.
    let mut fixture = self::fixture();
    let mut evidence: Value =
        serde_json::from_slice(&fixture.pack.files[files::EVIDENCE_JSON]).unwrap();
    evidence["log"]["range"]["first"] = 15.into();
    fixture
        .pack
        .insert(files::EVIDENCE_JSON, crate::export::pretty(&evidence));
    resign(&mut fixture);
    let report = verify(&fixture.pack, &fixture.keys);
    assert!(
        codes(&report).contains(&("range-start", "log index 14".to_string())),
        "{:#?}",
        report.failures
    );
}

#[test]
fn another_log_key_or_signing_key_fails_the_checkpoints_and_the_signature() {
    let fixture = fixture();
    let other = NoteSigner::generate(ORIGIN).unwrap();
    let keys = Keys {
        trust_toml: fixture.keys.trust_toml.clone(),
        log_verifier: other.verifier().verifier_key().into_bytes(),
    };
    let report = verify(&fixture.pack, &keys);
    let found = codes(&report);
    assert!(found.contains(&("checkpoint-signature", files::CHECKPOINT.to_string())));
    assert!(found.contains(&("log-key-differs", files::LOG_VERIFIER.to_string())));

    let mut trust = Trust::new();
    trust
        .add(Identity {
            name: "audrey".into(),
            public_key: IdentityKey::generate().public().clone(),
            roles: BTreeSet::from([Role::Auditor]),
            revoked_at: None,
            revoked_reason: None,
        })
        .unwrap();
    let keys = Keys {
        trust_toml: trust.to_toml().into_bytes(),
        log_verifier: fixture.keys.log_verifier.clone(),
    };
    let found = codes(&verify(&fixture.pack, &keys));
    assert!(found.contains(&("pack-signature", files::PACK_SIGNATURE.to_string())));
    assert!(found.contains(&("trust-key-swapped", files::TRUST.to_string())));
}

#[test]
fn a_consistency_proof_between_checkpoints_that_is_wrong_is_named() {
    let mut fixture = fixture();
    let text = String::from_utf8(fixture.pack.files[files::CONSISTENCY_PROOFS].clone()).unwrap();
    let mut lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let proof = lines[1]["proof"].as_array_mut().unwrap();
    proof.reverse();
    proof.push(proof[0].clone());
    let changed: String = lines.iter().map(|line| format!("{line}\n")).collect();
    fixture.pack.insert(files::CONSISTENCY_PROOFS, changed);
    resign(&mut fixture);
    let found = codes(&verify(&fixture.pack, &fixture.keys));
    assert!(
        found.contains(&(
            "consistency-proof",
            format!("{}:2", files::CONSISTENCY_PROOFS)
        )),
        "{found:#?}"
    );
    assert!(found.iter().any(|(code, _)| *code == "consistency-missing"));
}

#[test]
fn a_log_appended_in_batches_exports_with_the_checkpoints_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let signer = NoteSigner::generate(ORIGIN).unwrap();
    let mut log = SqliteLog::create(&dir.path().join("stamp.db"), ORIGIN, &signer).unwrap();
    let mut batch = vec![event(T0, EventKind::LogInit, ORIGIN)];
    for day in 1..60 {
        batch.push(event(
            T0 + Duration::days(day),
            EventKind::LogVerify,
            ORIGIN,
        ));
        if batch.len() == 25 {
            log.append(&signer, &batch).unwrap();
            batch.clear();
        }
    }
    batch.push(event(
        T0 + Duration::days(61),
        EventKind::EvidenceExport,
        ORIGIN,
    ));
    log.append(&signer, &batch).unwrap();
    let key = IdentityKey::generate();
    let mut trust = Trust::new();
    trust
        .add(Identity {
            name: "audrey".into(),
            public_key: key.public().clone(),
            roles: BTreeSet::from([Role::Auditor]),
            revoked_at: None,
            revoked_reason: None,
        })
        .unwrap();
    let input = ExportInput {
        period: Period {
            from: T0 + Duration::days(10),
            to: T0 + Duration::days(61),
        },
        env: None,
        generated_by: "audrey".into(),
        generated_at: T0 + Duration::days(61),
        trust_toml: trust.to_toml().into_bytes(),
        log_verifier: signer.verifier(),
        signing_key: &key,
    };
    let exported = export(&log, &input, &mut |_| Ok(Vec::new())).unwrap();
    // Checkpoints exist at 25 and 50 only (and the pack's, 61).
    assert_eq!(exported.evidence["log"]["checkpoints"], json!([25, 50, 61]));
    let keys = Keys {
        trust_toml: trust.to_toml().into_bytes(),
        log_verifier: signer.verifier().verifier_key().into_bytes(),
    };
    let report = verify(&exported.pack, &keys);
    assert!(report.ok(), "{:#?}", report.failures);
}

#[test]
fn a_hostile_pack_is_reported_not_panicked_on() {
    let mut fixture = fixture();
    let mut evidence: Value =
        serde_json::from_slice(&fixture.pack.files[files::EVIDENCE_JSON]).unwrap();
    evidence["log"]["range"]["last"] = (u64::MAX - 1).into();
    fixture
        .pack
        .insert(files::EVIDENCE_JSON, crate::export::pretty(&evidence));
    let mut events = events::parse(&fixture.pack.files[files::EVENTS]).unwrap();
    let strange = Event::builder()
        .actor("é".repeat(40))
        .kind(EventKind::Deploy)
        .time(T0 + Duration::days(20))
        .outcome(Outcome::Success)
        .origin(Origin::new("h", "stamp", 1))
        .subject("ü".repeat(40))
        .details(
            json!({"env": "prod", "instances": ["ß"]})
                .as_object()
                .unwrap()
                .clone(),
        )
        .build()
        .unwrap();
    events.push(LoggedEvent {
        index: 1_000_000_000,
        bytes: strange.to_canonical_bytes(),
    });
    fixture.pack.insert(files::EVENTS, events::write(&events));
    fixture.pack.files.remove(files::INCLUSION_PROOFS);
    resign(&mut fixture);
    let found = codes(&verify(&fixture.pack, &fixture.keys));
    assert!(found.contains(&("range-end", "evidence.json log.range".to_string())));
    assert!(found.contains(&("inclusion-missing", "log index 1000000000".to_string())));
}
