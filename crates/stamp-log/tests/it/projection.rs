//! Projections: folded in the append transaction, rebuilt identically by replay.

use serde_json::json;
use stamp_core::{Digest, Event, EventKind, Origin, Outcome};
use stamp_log::projection::{ApprovalRow, EnvironmentRow, ImageRow, InstanceRow, RevocationRow};
use stamp_log::{AppendError, ApplyEventError, LogStore};
use time::macros::datetime;

use crate::support::new_log;

fn digest(name: &str) -> String {
    Digest::of(name.as_bytes()).to_string()
}

fn event(kind: EventKind, actor: &str, subject: &str, details: serde_json::Value) -> Event {
    let serde_json::Value::Object(details) = details else {
        panic!("details must be an object");
    };
    Event::builder()
        .actor(actor)
        .kind(kind)
        .time(datetime!(2025-06-01 12:00:00 UTC))
        .outcome(Outcome::Success)
        .origin(Origin::new("host", "stamp", 7))
        .subject(subject)
        .details(details)
        .build()
        .expect("valid event")
}

fn failed(kind: EventKind, actor: &str, subject: &str, details: serde_json::Value) -> Event {
    let base = event(kind, actor, subject, details);
    Event::builder()
        .actor(base.actor())
        .kind(base.kind())
        .time(base.time())
        .outcome(Outcome::Failure)
        .origin(base.origin().clone())
        .subject(base.subject())
        .details(base.details().clone())
        .build()
        .expect("valid event")
}

fn story() -> Vec<Event> {
    let (one, two) = (digest("image-1"), digest("image-2"));
    vec![
        event(
            EventKind::Build,
            "builder",
            &one,
            json!({"image": {"name": "payments-api", "digest": one}}),
        ),
        event(
            EventKind::Build,
            "builder",
            &two,
            json!({"image": {"name": "payments-api", "digest": two}}),
        ),
        event(EventKind::Gate, "stamp", &one, json!({"verdict": "pass"})),
        event(EventKind::Gate, "stamp", &two, json!({"verdict": "fail"})),
        event(
            EventKind::Approve,
            "approver-1",
            &one,
            json!({"env": "prod"}),
        ),
        event(
            EventKind::Approve,
            "approver-2",
            &one,
            json!({"env": "prod"}),
        ),
        failed(
            EventKind::Approve,
            "builder",
            &two,
            json!({"env": "prod", "reason": "approver is builder"}),
        ),
        event(
            EventKind::Deploy,
            "deployer",
            &one,
            json!({"env": "prod", "instances": ["i-1", "i-2"]}),
        ),
        event(
            EventKind::InstanceStart,
            "deployer",
            "i-3",
            json!({"env": "prod", "image": one}),
        ),
        event(EventKind::InstanceStop, "deployer", "i-1", json!({})),
        event(EventKind::Drift, "stamp", "i-2", json!({"drifted": true})),
        event(EventKind::Drift, "stamp", "i-3", json!({"drifted": false})),
        event(EventKind::Deploy, "deployer", &two, json!({"env": "prod"})),
        event(
            EventKind::Rollback,
            "deployer",
            &one,
            json!({"env": "prod"}),
        ),
        event(
            EventKind::Revoke,
            "security",
            &two,
            json!({"reason": "CVE-2025-0001"}),
        ),
        event(
            EventKind::Promote,
            "deployer",
            &one,
            json!({"env": "staging"}),
        ),
        event(
            EventKind::Exception,
            "admin",
            "prod",
            json!({"ticket": "CHG-1"}),
        ),
    ]
}

#[test]
fn the_fold_follows_the_documented_detail_fields_and_replay_rebuilds_it() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    let events = story();
    // Appended in three batches: projections update inside each append transaction.
    log.append(&signer, &events[..5]).expect("append");
    log.append(&signer, &events[5..6]).expect("append");
    log.append(&signer, &events[6..]).expect("append");
    let (one, two) = (digest("image-1"), digest("image-2"));

    let state = log.projection_state().expect("dump");
    assert_eq!(
        state.images,
        vec![
            ImageRow {
                digest: one.clone().min(two.clone()),
                name: Some("payments-api".into()),
                built_index: Some(if one < two { 0 } else { 1 }),
                builder: Some("builder".into()),
                gate_verdict: Some(if one < two { "pass" } else { "fail" }.into()),
                gate_index: Some(if one < two { 2 } else { 3 }),
            },
            ImageRow {
                digest: one.clone().max(two.clone()),
                name: Some("payments-api".into()),
                built_index: Some(if one < two { 1 } else { 0 }),
                builder: Some("builder".into()),
                gate_verdict: Some(if one < two { "fail" } else { "pass" }.into()),
                gate_index: Some(if one < two { 3 } else { 2 }),
            },
        ]
    );
    assert_eq!(
        state.approvals,
        vec![
            ApprovalRow {
                digest: one.clone(),
                env: "prod".into(),
                approver: "approver-1".into(),
                approved_index: 4
            },
            ApprovalRow {
                digest: one.clone(),
                env: "prod".into(),
                approver: "approver-2".into(),
                approved_index: 5
            },
        ],
        "a failed approval changes nothing"
    );
    assert_eq!(
        state.environments,
        vec![EnvironmentRow {
            name: "prod".into(),
            digest: one.clone(),
            previous_digest: Some(two.clone()),
            updated_index: 13
        }]
    );
    assert_eq!(
        state.instances,
        vec![
            InstanceRow {
                id: "i-1".into(),
                env: Some("prod".into()),
                digest: Some(one.clone()),
                state: "stopped".into(),
                updated_index: 9
            },
            InstanceRow {
                id: "i-2".into(),
                env: Some("prod".into()),
                digest: Some(one.clone()),
                state: "drifted".into(),
                updated_index: 10
            },
            InstanceRow {
                id: "i-3".into(),
                env: Some("prod".into()),
                digest: Some(one.clone()),
                state: "running".into(),
                updated_index: 8
            },
        ]
    );
    assert_eq!(
        state.revocations,
        vec![RevocationRow {
            digest: two.clone(),
            revoker: "security".into(),
            reason: Some("CVE-2025-0001".into()),
            revoked_index: 14
        }]
    );

    // Replay from the log alone gives the identical state, also after the tables were damaged.
    let replayed = log.replay_projections().expect("replay");
    assert_eq!(replayed, events.len() as u64);
    assert_eq!(log.projection_state().expect("dump"), state);
    log.connection()
        .execute_batch("DELETE FROM approvals; UPDATE environments SET digest = 'x';")
        .expect("damage projections");
    assert_ne!(log.projection_state().expect("dump"), state);
    log.replay_projections().expect("replay");
    assert_eq!(log.projection_state().expect("dump"), state);
    assert_eq!(
        serde_json::to_string(&log.projection_state().expect("dump")).expect("json"),
        serde_json::to_string(&state).expect("json")
    );
}

#[test]
fn an_event_without_its_detail_fields_is_refused_and_nothing_is_stored() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    let one = digest("image-1");
    let good = event(
        EventKind::Approve,
        "approver-1",
        &one,
        json!({"env": "prod"}),
    );
    let bad = event(
        EventKind::Deploy,
        "deployer",
        &one,
        json!({"instances": ["i-1"]}),
    );
    let error = log.append(&signer, &[good, bad]).unwrap_err();
    assert!(
        matches!(
            error,
            AppendError::Projection {
                index: 1,
                source: ApplyEventError::MissingDetail {
                    kind: EventKind::Deploy,
                    field: "env"
                }
            }
        ),
        "{error:?}"
    );
    assert_eq!(log.size().expect("size"), 0);
    assert!(log.projection_state().expect("dump").approvals.is_empty());
    let bad_digest = event(EventKind::Revoke, "security", "not-a-digest", json!({}));
    assert!(matches!(
        log.append(&signer, &[bad_digest]),
        Err(AppendError::Projection {
            source: ApplyEventError::InvalidDetail {
                field: "subject",
                ..
            },
            ..
        })
    ));
    // A failure event needs no detail fields: refusals are always logged.
    let refused = failed(
        EventKind::Deploy,
        "deployer",
        &one,
        json!({"reason": "not approved"}),
    );
    assert_eq!(
        log.append(&signer, &[refused]).expect("append").indexes(),
        0..1
    );
}

#[test]
fn the_append_hook_runs_in_the_same_transaction() {
    let directory = tempfile::tempdir().expect("temp dir");
    let (mut log, signer) = new_log(directory.path());
    log.connection()
        .execute_batch("CREATE TABLE seen (idx INTEGER PRIMARY KEY, kind TEXT NOT NULL)")
        .expect("caller table");
    let events = story();
    log.append_with(&signer, &events[..3], |transaction, index, event| {
        transaction.execute(
            "INSERT INTO seen (idx, kind) VALUES (?1, ?2)",
            (index as i64, event.kind().as_str()),
        )?;
        Ok(())
    })
    .expect("append");
    let seen: i64 = log
        .connection()
        .query_row("SELECT COUNT(*) FROM seen", [], |row| row.get(0))
        .expect("count");
    assert_eq!(seen, 3);

    // A failing hook rolls back the entries, the projections and the hook's own writes.
    let error = log
        .append_with(&signer, &events[3..6], |transaction, index, _| {
            transaction.execute(
                "INSERT INTO seen (idx, kind) VALUES (?1, 'x')",
                [index as i64],
            )?;
            if index == 4 {
                return Err("refused by the caller".into());
            }
            Ok(())
        })
        .unwrap_err();
    assert!(
        matches!(error, AppendError::Hook { index: 4, .. }),
        "{error:?}"
    );
    assert_eq!(log.size().expect("size"), 3);
    let seen: i64 = log
        .connection()
        .query_row("SELECT COUNT(*) FROM seen", [], |row| row.get(0))
        .expect("count");
    assert_eq!(seen, 3);
    let report = log.verify(&signer.verifier()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problem);
}
