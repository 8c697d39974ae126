//! What signing decisions need from the log, folded from its events in index order: who
//! built each image, where each attestation was recorded, when each key was revoked, which
//! trust file is the recorded one, and who approved what.
//!
//! The log order is the only order stamp trusts for signatures: a statement's own times are
//! the signer's claims. A key revoked at index R keeps the signatures recorded before R and
//! loses every later one.
//!
//! Event details stamp writes and this fold reads (only `success` events count):
//!
//! | kind | details read |
//! |---|---|
//! | `build` | `signer` {`name`, `key_id`}; `attestation` {`manifest`, `envelope`, `payload`} |
//! | `approve` | `env`; `signer`; `attestation` |
//! | `key.revoke` | `key_id` |
//! | `key.add`, `key.revoke`, `policy.change` | `trust_digest` (digest of the trust file after the change) |

use std::collections::BTreeMap;

use serde_json::Value;
use stamp_core::{Digest, Event, EventKind, Outcome};

use crate::policy::BuildRecord;

/// Detail field names shared by the writers (the CLI) and this fold.
pub mod detail {
    pub const SIGNER: &str = "signer";
    pub const SIGNER_NAME: &str = "name";
    pub const SIGNER_KEY_ID: &str = "key_id";
    pub const ATTESTATION: &str = "attestation";
    pub const ATTESTATION_MANIFEST: &str = "manifest";
    pub const ATTESTATION_ENVELOPE: &str = "envelope";
    pub const ATTESTATION_PAYLOAD: &str = "payload";
    pub const ENVIRONMENT: &str = "env";
    pub const KEY_ID: &str = "key_id";
    pub const TRUST_DIGEST: &str = "trust_digest";
}

/// Facts folded from the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFacts {
    /// Successful builds of each image digest, in log order.
    pub builds: BTreeMap<Digest, Vec<BuildRecord>>,
    /// First log index at which each attestation digest (manifest, envelope or payload) was
    /// recorded by a successful event.
    pub recorded: BTreeMap<Digest, u64>,
    /// First `key.revoke` index of each key id.
    pub key_revocations: BTreeMap<String, u64>,
    /// The trust file digest of the most recent trust change.
    pub trust_digest: Option<Digest>,
    /// For each (image, environment): each approving identity and its first approval index.
    pub approvals: BTreeMap<(Digest, String), BTreeMap<String, u64>>,
}

fn digest_field(value: Option<&Value>) -> Option<Digest> {
    value
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
}

impl LogFacts {
    /// Fold `events` (index, event) in index order.
    pub fn fold<'a>(events: impl IntoIterator<Item = (u64, &'a Event)>) -> LogFacts {
        let mut facts = LogFacts::default();
        for (index, event) in events {
            facts.apply(index, event);
        }
        facts
    }

    /// Fold one event at `index`.
    pub fn apply(&mut self, index: u64, event: &Event) {
        if event.outcome() != Outcome::Success {
            return;
        }
        let details = event.details();
        if let Some(Value::Object(attestation)) = details.get(detail::ATTESTATION) {
            for field in [
                detail::ATTESTATION_MANIFEST,
                detail::ATTESTATION_ENVELOPE,
                detail::ATTESTATION_PAYLOAD,
            ] {
                if let Some(digest) = digest_field(attestation.get(field)) {
                    self.recorded.entry(digest).or_insert(index);
                }
            }
        }
        if let Some(digest) = digest_field(details.get(detail::TRUST_DIGEST)) {
            if matches!(
                event.kind(),
                EventKind::KeyAdd | EventKind::KeyRevoke | EventKind::PolicyChange
            ) {
                self.trust_digest = Some(digest);
            }
        }
        let signer_key = details
            .get(detail::SIGNER)
            .and_then(|signer| signer.get(detail::SIGNER_KEY_ID))
            .and_then(Value::as_str)
            .map(str::to_string);
        match event.kind() {
            EventKind::Build => {
                if let Ok(image) = event.subject().parse::<Digest>() {
                    self.builds.entry(image).or_default().push(BuildRecord {
                        builder: event.actor().to_string(),
                        key_id: signer_key,
                        index,
                    });
                }
            }
            EventKind::Approve => {
                let environment = details.get(detail::ENVIRONMENT).and_then(Value::as_str);
                if let (Ok(image), Some(environment)) =
                    (event.subject().parse::<Digest>(), environment)
                {
                    self.approvals
                        .entry((image, environment.to_string()))
                        .or_default()
                        .entry(event.actor().to_string())
                        .or_insert(index);
                }
            }
            EventKind::KeyRevoke => {
                if let Some(key_id) = details.get(detail::KEY_ID).and_then(Value::as_str) {
                    self.key_revocations
                        .entry(key_id.to_string())
                        .or_insert(index);
                }
            }
            _ => {}
        }
    }

    /// Where an attestation was first recorded, by any of its digests.
    pub fn recorded_at(&self, digests: &[Digest]) -> Option<u64> {
        digests
            .iter()
            .filter_map(|digest| self.recorded.get(digest).copied())
            .min()
    }

    /// The recorded builds of `image` (empty when none).
    pub fn builds_of(&self, image: &Digest) -> &[BuildRecord] {
        self.builds.get(image).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Identities that approved `image` for `environment`.
    pub fn approvers(&self, image: &Digest, environment: &str) -> Vec<&str> {
        self.approvals
            .get(&(*image, environment.to_string()))
            .map(|approvers| approvers.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stamp_core::Origin;
    use time::macros::datetime;

    fn event(
        kind: EventKind,
        outcome: Outcome,
        actor: &str,
        subject: &str,
    ) -> stamp_core::EventBuilder {
        Event::builder()
            .actor(actor)
            .kind(kind)
            .time(datetime!(2025-01-01 00:00:00 UTC))
            .outcome(outcome)
            .origin(Origin::new("h", "stamp", 1))
            .subject(subject)
    }

    #[test]
    fn folds_builds_attestations_approvals_revocations_and_trust() {
        let image = Digest::of(b"image");
        let envelope = Digest::of(b"envelope");
        let trust = Digest::of(b"trust");
        let events = [
            event(EventKind::KeyAdd, Outcome::Success, "admin", "builder")
                .detail("trust_digest", Digest::of(b"old").to_string()),
            event(
                EventKind::Build,
                Outcome::Success,
                "builder",
                &image.to_string(),
            )
            .detail(
                "signer",
                serde_json::json!({"name": "builder", "key_id": "kb"}),
            )
            .detail(
                "attestation",
                serde_json::json!({"envelope": envelope.to_string()}),
            ),
            event(
                EventKind::Approve,
                Outcome::Failure,
                "builder",
                &image.to_string(),
            )
            .detail("env", "prod"),
            event(
                EventKind::Approve,
                Outcome::Success,
                "alice",
                &image.to_string(),
            )
            .detail("env", "prod"),
            event(
                EventKind::Approve,
                Outcome::Success,
                "alice",
                &image.to_string(),
            )
            .detail("env", "prod"),
            event(EventKind::KeyRevoke, Outcome::Success, "admin", "alice").detail("key_id", "ka"),
            event(EventKind::PolicyChange, Outcome::Success, "admin", "trust")
                .detail("trust_digest", trust.to_string()),
        ]
        .map(|builder| builder.build().unwrap());
        let facts = LogFacts::fold(events.iter().enumerate().map(|(i, e)| (i as u64 + 10, e)));
        assert_eq!(
            facts.builds_of(&image),
            &[BuildRecord {
                builder: "builder".into(),
                key_id: Some("kb".into()),
                index: 11
            }]
        );
        assert_eq!(facts.recorded_at(&[Digest::of(b"x"), envelope]), Some(11));
        assert_eq!(facts.approvers(&image, "prod"), vec!["alice"]);
        assert!(facts.approvers(&image, "dev").is_empty());
        assert_eq!(facts.key_revocations.get("ka"), Some(&15));
        assert_eq!(facts.trust_digest, Some(trust));
    }
}
