//! The assertions on small hand-made histories: each rule met, broken (naming the events) and at
//! its boundary; nothing met without events.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stamp_core::event::{Event, EventKind, Origin, Outcome};
use stamp_core::Digest;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use super::*;
use crate::attestations::AttestationFacts;

const IMAGE: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const T0: OffsetDateTime = datetime!(2026-03-01 00:00 UTC);

/// A history under construction: events get consecutive indexes.
#[derive(Default)]
struct Story {
    events: Vec<LoggedEvent>,
    attestations: AttestationIndex,
}

impl Story {
    fn push(
        &mut self,
        at: OffsetDateTime,
        kind: EventKind,
        outcome: Outcome,
        actor: &str,
        subject: &str,
        details: Value,
    ) -> u64 {
        let event = Event::builder()
            .actor(actor)
            .kind(kind)
            .time(at)
            .outcome(outcome)
            .origin(Origin::new("h", "stamp", 1))
            .subject(subject)
            .details(details.as_object().unwrap().clone())
            .build()
            .unwrap();
        let index = self.events.len() as u64;
        self.events.push(LoggedEvent {
            index,
            bytes: event.to_canonical_bytes(),
        });
        index
    }

    fn ok(
        &mut self,
        at: OffsetDateTime,
        kind: EventKind,
        actor: &str,
        subject: &str,
        details: Value,
    ) -> u64 {
        self.push(at, kind, Outcome::Success, actor, subject, details)
    }

    /// A signed attestation of `IMAGE` recorded by the next event: its `attestation` detail.
    fn attestation(&mut self, predicate_type: &str, verified: bool) -> Value {
        let envelope = Digest::of(format!("envelope {}", self.attestations.len()).as_bytes());
        self.attestations.insert(
            envelope,
            AttestationFacts {
                path: format!("attestations/x/{}.json", envelope.hex()),
                image: IMAGE.into(),
                predicate_type: Some(predicate_type.into()),
                signer: Some("someone".into()),
                problem: (!verified).then(|| "bad signature".to_string()),
            },
        );
        json!({"manifest": envelope.to_string(), "envelope": envelope.to_string(), "payload": envelope.to_string()})
    }

    /// log.init, a build by `builder`, a passing gate and an SBOM.
    fn built(builder: &str) -> Story {
        let mut story = Story::default();
        story.ok(T0, EventKind::LogInit, "ops", "stamp.local/00", json!({}));
        story.ok(
            T0,
            EventKind::Build,
            builder,
            IMAGE,
            json!({"image": {"name": "api", "digest": IMAGE}, "reference": "api:1"}),
        );
        let gate = story.attestation("https://stamp.dev/gate/v1", true);
        story.ok(T0, EventKind::Gate, builder, IMAGE, json!({"verdict": "pass", "check": "vulnerabilities,card-numbers,secrets", "attestation": gate, "vulnerability_names": []}));
        let sbom = story.attestation("https://cyclonedx.org/bom", true);
        story.ok(
            T0,
            EventKind::Attest,
            builder,
            IMAGE,
            json!({"predicate_type": "https://cyclonedx.org/bom", "attestation": sbom}),
        );
        story
    }

    fn approve(&mut self, actor: &str, verified: bool) -> u64 {
        let approval = self.attestation("https://stamp.dev/approval/v1", verified);
        self.ok(
            T0 + Duration::hours(1),
            EventKind::Approve,
            actor,
            IMAGE,
            json!({"env": "prod", "attestation": approval}),
        )
    }

    /// An instance of IMAGE started by a deploy at `at`; returns the deploy's index.
    fn deploy(&mut self, at: OffsetDateTime, id: &str) -> u64 {
        self.ok(
            at,
            EventKind::InstanceStart,
            "dave",
            id,
            json!({"env": "prod", "image": IMAGE}),
        );
        self.ok(
            at,
            EventKind::Deploy,
            "dave",
            IMAGE,
            json!({"env": "prod", "image": IMAGE, "instances": [id]}),
        )
    }

    fn export(&mut self, at: OffsetDateTime) {
        self.ok(
            at,
            EventKind::EvidenceExport,
            "audrey",
            "stamp.local/00",
            json!({}),
        );
    }

    fn evaluate(&self, from: OffsetDateTime, to: OffsetDateTime) -> BTreeMap<String, Requirement> {
        let scope = Scope {
            period: Period { from, to },
            env: Some("prod".into()),
            approvals_required: BTreeMap::from([("prod".to_string(), 2)]),
        };
        evaluate(&self.events, &self.attestations, &scope)
            .into_iter()
            .map(|requirement| (requirement.id.clone(), requirement))
            .collect()
    }
}

fn status(requirements: &BTreeMap<String, Requirement>, id: &str) -> Status {
    requirements[id].status
}

#[test]
fn a_deploy_with_gate_and_two_other_approvers_meets_change_control() {
    let mut story = Story::built("builder");
    story.approve("alice", true);
    story.approve("bob", true);
    story.deploy(T0 + Duration::days(1), "i1");
    story.export(T0 + Duration::days(2));
    let requirements = story.evaluate(T0, T0 + Duration::days(3));
    for id in [
        "3.5.1", "6.2.3.1", "6.5.1", "6.5.4", "6.3.2", "12.5.1", "10.2.1.3", "10.2.2", "10.5.1",
    ] {
        assert_eq!(
            status(&requirements, id),
            Status::Met,
            "{id}: {:#?}",
            requirements[id]
        );
        assert!(!requirements[id].events.is_empty(), "{id}");
    }
    // No log verification in the period: 10.3.4 is not met, never assumed.
    assert_eq!(status(&requirements, "10.3.4"), Status::NotMet);
}

#[test]
fn too_few_approvers_or_an_unverified_approval_break_6_5_4_and_name_the_deploy() {
    let mut story = Story::built("builder");
    story.approve("alice", true);
    story.approve("bob", false);
    let deploy = story.deploy(T0 + Duration::days(1), "i1");
    let requirements = story.evaluate(T0, T0 + Duration::days(3));
    for id in ["6.5.1", "6.5.4"] {
        assert_eq!(status(&requirements, id), Status::NotMet, "{id}");
        assert_eq!(requirements[id].offending, [deploy]);
    }
    assert!(
        requirements["6.5.4"].detail.contains("1 of 2"),
        "{}",
        requirements["6.5.4"].detail
    );
}

#[test]
fn an_approval_by_the_builder_breaks_6_2_3_1() {
    let mut story = Story::built("builder");
    let own = story.approve("builder", true);
    story.approve("alice", true);
    let deploy = story.deploy(T0 + Duration::days(1), "i1");
    let requirements = story.evaluate(T0, T0 + Duration::days(3));
    assert_eq!(status(&requirements, "6.2.3.1"), Status::NotMet);
    assert_eq!(requirements["6.2.3.1"].offending, [own, deploy]);
}

#[test]
fn with_no_deploy_and_no_instance_nothing_is_met_by_default() {
    let mut story = Story::built("builder");
    story.export(T0 + Duration::days(1));
    let requirements = story.evaluate(T0, T0 + Duration::days(3));
    for id in [
        "3.5.1", "6.2.3.1", "6.5.1", "6.5.4", "6.3.2", "6.3.3", "11.5.2", "12.5.1", "10.7.2",
    ] {
        assert_eq!(status(&requirements, id), Status::NotApplicable, "{id}");
    }
    assert_eq!(status(&requirements, "12.10.1"), Status::NotCovered);
}

#[test]
fn drift_comparisons_at_most_seven_days_apart_boundary() {
    for (gap, expected) in [
        (Duration::days(7), Status::Met),
        (Duration::days(7) + Duration::seconds(1), Status::NotMet),
    ] {
        let mut story = Story::built("builder");
        story.approve("alice", true);
        story.approve("bob", true);
        let start = T0 + Duration::days(1);
        let instance_start = story.deploy(start, "i1") - 1;
        let first = story.ok(
            start + gap,
            EventKind::Drift,
            "dave",
            "i1",
            json!({"drifted": false, "env": "prod"}),
        );
        story.ok(
            start + gap + Duration::days(1),
            EventKind::InstanceStop,
            "dave",
            "i1",
            json!({"env": "prod"}),
        );
        let requirements = story.evaluate(T0, T0 + Duration::days(30));
        assert_eq!(
            status(&requirements, "11.5.2"),
            expected,
            "{:#?}",
            requirements["11.5.2"]
        );
        if expected == Status::NotMet {
            assert_eq!(requirements["11.5.2"].offending, [instance_start, first]);
            // No control failure raised during the gap: 10.7.2 is not met either.
            assert_eq!(status(&requirements, "10.7.2"), Status::NotMet);
        }
    }
}

#[test]
fn drift_not_answered_by_replacement_is_named() {
    let mut story = Story::built("builder");
    story.approve("alice", true);
    story.approve("bob", true);
    let start = T0 + Duration::days(1);
    story.deploy(start, "i1");
    let drifted = story.ok(
        start + Duration::days(1),
        EventKind::Drift,
        "dave",
        "i1",
        json!({"drifted": true, "env": "prod"}),
    );
    story.ok(
        start + Duration::days(2),
        EventKind::Drift,
        "dave",
        "i1",
        json!({"drifted": false, "env": "prod"}),
    );
    let requirements = story.evaluate(T0, start + Duration::days(3));
    assert_eq!(status(&requirements, "11.5.2"), Status::NotMet);
    assert_eq!(requirements["11.5.2"].offending, [drifted]);
}

#[test]
fn a_critical_fix_older_than_thirty_days_while_running_boundary() {
    for (age, expected) in [
        (Duration::days(30), Status::Met),
        (Duration::days(30) + Duration::seconds(1), Status::NotMet),
    ] {
        let mut story = Story::built("builder");
        story.approve("alice", true);
        story.approve("bob", true);
        let start = T0 + Duration::days(1);
        let instance_start = story.deploy(start, "i1") - 1;
        let end = start + Duration::days(40);
        let published = crate::time_text::format(end - age);
        let finding = story.ok(start + Duration::days(2), EventKind::Rescan, "dave", IMAGE, json!({"id": "EVD-1", "aliases": [], "severity": "critical", "fix_exists": true, "published": published}));
        story.ok(
            start + Duration::days(3),
            EventKind::Rescan,
            "dave",
            IMAGE,
            json!({"summary": true}),
        );
        let requirements = story.evaluate(T0, end);
        assert_eq!(
            status(&requirements, "6.3.3"),
            expected,
            "{:#?}",
            requirements["6.3.3"]
        );
        if expected == Status::NotMet {
            assert_eq!(requirements["6.3.3"].offending, [instance_start, finding]);
        }
    }
}

#[test]
fn a_running_image_never_matched_in_the_period_is_only_partly_covered() {
    let mut story = Story::built("builder");
    story.approve("alice", true);
    story.approve("bob", true);
    story.deploy(T0 + Duration::days(1), "i1");
    let requirements = story.evaluate(T0 + Duration::days(1), T0 + Duration::days(3));
    assert_eq!(status(&requirements, "6.3.3"), Status::Partly);
}

#[test]
fn an_instance_without_a_deploy_breaks_the_inventory() {
    let mut story = Story::built("builder");
    let start = story.ok(
        T0 + Duration::days(1),
        EventKind::InstanceStart,
        "dave",
        "rogue",
        json!({"env": "prod", "image": IMAGE}),
    );
    let requirements = story.evaluate(T0, T0 + Duration::days(3));
    assert_eq!(status(&requirements, "12.5.1"), Status::NotMet);
    assert_eq!(requirements["12.5.1"].offending, [start]);
}

#[test]
fn retention_needs_the_first_entry_or_twelve_months() {
    let mut story = Story::built("builder");
    story.events.remove(0);
    let requirements = story.evaluate(T0, T0 + Duration::days(300));
    assert_eq!(status(&requirements, "10.5.1"), Status::NotMet);
    let requirements = story.evaluate(T0, T0 + Duration::days(366));
    assert_eq!(status(&requirements, "10.5.1"), Status::Met);
}

#[test]
fn an_entry_that_is_not_a_canonical_event_breaks_10_2_2() {
    let mut story = Story::built("builder");
    story.events.push(LoggedEvent {
        index: 4,
        bytes: br#"{"actor":"","kind":"build"}"#.to_vec(),
    });
    let requirements = story.evaluate(T0, T0 + Duration::days(3));
    assert_eq!(status(&requirements, "10.2.2"), Status::NotMet);
    assert_eq!(requirements["10.2.2"].offending, [4]);
    // And the pack's last entry is not its own export.
    assert_eq!(status(&requirements, "10.2.1.3"), Status::NotMet);
}

#[test]
fn a_second_deploy_must_name_the_digest_it_replaced_as_its_way_back() {
    for (previous, expected) in [(Some(IMAGE), Status::Met), (None, Status::NotMet)] {
        let mut story = Story::built("builder");
        story.approve("alice", true);
        story.approve("bob", true);
        story.deploy(T0 + Duration::days(1), "i1");
        let mut details =
            json!({"env": "prod", "image": IMAGE, "instances": ["i2"], "replaced": ["i1"]});
        if let Some(previous) = previous {
            details["previous"] = previous.into();
        }
        story.ok(
            T0 + Duration::days(2),
            EventKind::InstanceStart,
            "dave",
            "i2",
            json!({"env": "prod", "image": IMAGE}),
        );
        story.ok(
            T0 + Duration::days(2),
            EventKind::InstanceStop,
            "dave",
            "i1",
            json!({"env": "prod"}),
        );
        let second = story.ok(
            T0 + Duration::days(2),
            EventKind::Deploy,
            "dave",
            IMAGE,
            details,
        );
        let requirements = story.evaluate(T0, T0 + Duration::days(3));
        assert_eq!(
            status(&requirements, "6.5.1"),
            expected,
            "{:#?}",
            requirements["6.5.1"]
        );
        if expected == Status::NotMet {
            assert_eq!(requirements["6.5.1"].offending, [second]);
            assert!(requirements["6.5.1"].detail.contains("way back"));
        }
    }
}

#[test]
fn a_deploy_is_held_to_the_approvals_it_recorded_as_required_when_higher() {
    let mut story = Story::built("builder");
    story.approve("alice", true);
    story.approve("bob", true);
    story.ok(
        T0 + Duration::days(1),
        EventKind::InstanceStart,
        "dave",
        "i1",
        json!({"env": "prod", "image": IMAGE}),
    );
    // The environment required three approvals when this deploy ran; the trust file of the
    // export says two. Two approvers were not enough then, so they are not enough now.
    let deploy = story.ok(
        T0 + Duration::days(1),
        EventKind::Deploy,
        "dave",
        IMAGE,
        json!({"env": "prod", "image": IMAGE, "instances": ["i1"], "env_settings": {"approvals": 3}}),
    );
    let requirements = story.evaluate(T0, T0 + Duration::days(3));
    assert_eq!(status(&requirements, "6.5.4"), Status::NotMet);
    assert_eq!(requirements["6.5.4"].offending, [deploy]);
    assert!(
        requirements["6.5.4"].detail.contains("2 of 3"),
        "{}",
        requirements["6.5.4"].detail
    );
}
