//! A pure fold of logged events into what the assertions ask about: builds, gates, approvals,
//! SBOMs, deploys, instances and their drift runs, vulnerability findings, exceptions, control
//! failures, log verifications and exports. Field names are the ones the CLI writes
//! (`crates/stamp/src/commands/*.rs`); an event missing a field it needs is skipped here and
//! shows up in the assertion that needed it.

use std::collections::BTreeMap;

use serde_json::Value;
use stamp_core::event::{EventKind, Outcome};
use stamp_core::{Digest, Event};
use time::OffsetDateTime;

use crate::events::LoggedEvent;

/// Predicate types of SBOM attestations (`stamp sbom --attach`).
pub const SBOM_PREDICATE_TYPES: [&str; 2] =
    ["https://cyclonedx.org/bom", "https://spdx.dev/Document"];

#[derive(Clone, Debug)]
pub struct Build {
    pub index: u64,
    pub time: OffsetDateTime,
    pub actor: String,
    pub name: String,
    pub reference: String,
}

#[derive(Clone, Debug)]
pub struct Gate {
    pub index: u64,
    pub time: OffsetDateTime,
    pub passed: bool,
    /// The gate scanned for card numbers (`check` names `card-numbers`).
    pub card_scan: bool,
    pub vulnerability_names: Vec<String>,
    pub envelope: Option<Digest>,
}

#[derive(Clone, Debug)]
pub struct Approval {
    pub index: u64,
    pub time: OffsetDateTime,
    pub actor: String,
    pub env: String,
    pub envelope: Option<Digest>,
}

#[derive(Clone, Debug)]
pub struct Sbom {
    pub index: u64,
    pub time: OffsetDateTime,
    pub predicate_type: String,
    pub envelope: Option<Digest>,
}

#[derive(Clone, Debug)]
pub struct Deploy {
    pub index: u64,
    pub time: OffsetDateTime,
    pub actor: String,
    pub env: String,
    pub digest: String,
    pub success: bool,
    pub rollback: bool,
    pub instances: Vec<String>,
    pub previous: Option<String>,
    /// The distinct approvals the deploy itself says its environment required then
    /// (`env_settings.approvals`), when it recorded them.
    pub approvals_required: Option<u32>,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub env: String,
    pub digest: String,
    pub start_index: u64,
    pub started: OffsetDateTime,
    pub stop: Option<(u64, OffsetDateTime)>,
    /// The drifted instance this one replaced (`stamp drift --heal`).
    pub replaces: Option<String>,
}

impl Instance {
    /// Whether it ran at some time in `[from, to]`.
    pub fn ran_between(&self, from: OffsetDateTime, to: OffsetDateTime) -> bool {
        self.started <= to && self.stop.is_none_or(|(_, stopped)| stopped >= from)
    }
}

#[derive(Clone, Debug)]
pub struct DriftRun {
    pub index: u64,
    pub time: OffsetDateTime,
    pub subject: String,
    pub drifted: bool,
    pub success: bool,
}

/// One vulnerability a `rescan` found in an image.
#[derive(Clone, Debug)]
pub struct Finding {
    pub index: u64,
    pub time: OffsetDateTime,
    pub digest: String,
    pub id: String,
    pub aliases: Vec<String>,
    pub severity: String,
    pub fix_exists: bool,
    pub published: Option<OffsetDateTime>,
}

#[derive(Clone, Debug)]
pub struct ExceptionRecord {
    pub id: String,
    pub code: String,
    pub reason: String,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub expires: String,
    pub index: u64,
}

#[derive(Clone, Debug)]
pub struct ControlFailure {
    pub index: u64,
    pub time: OffsetDateTime,
    pub control: String,
    pub subject: String,
}

/// An event that only matters by when it happened and whether it succeeded.
#[derive(Clone, Debug)]
pub struct Marker {
    pub index: u64,
    pub time: OffsetDateTime,
    pub success: bool,
    pub subject: String,
}

/// Everything folded from the included events, in log order.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub events: Vec<(u64, Event)>,
    /// Indexes whose bytes are not one canonical event.
    pub unparsable: Vec<u64>,
    pub builds: BTreeMap<String, Vec<Build>>,
    pub gates: BTreeMap<String, Vec<Gate>>,
    pub approvals: BTreeMap<String, Vec<Approval>>,
    pub sboms: BTreeMap<String, Vec<Sbom>>,
    pub deploys: Vec<Deploy>,
    pub instances: BTreeMap<String, Instance>,
    pub drift_runs: Vec<DriftRun>,
    pub findings: Vec<Finding>,
    /// Vulnerability matches of an image (gate or rescan summary), by digest.
    pub vulnerability_checks: BTreeMap<String, Vec<Marker>>,
    pub exceptions: Vec<ExceptionRecord>,
    pub control_failures: Vec<ControlFailure>,
    pub log_verifies: Vec<Marker>,
    pub exports: Vec<Marker>,
}

fn text<'a>(details: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    details.get(key).and_then(Value::as_str)
}

fn strings(details: &serde_json::Map<String, Value>, key: &str) -> Vec<String> {
    details
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|value| value.as_str().map(str::to_string))
        .collect()
}

fn envelope(details: &serde_json::Map<String, Value>) -> Option<Digest> {
    details
        .get("attestation")
        .and_then(|attestation| attestation.get("envelope"))
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
}

impl History {
    /// Fold `events` (sorted by index by the caller).
    pub fn fold(events: &[LoggedEvent]) -> History {
        History::fold_parsed(
            events
                .iter()
                .map(|logged| (logged.index, logged.event().ok())),
        )
    }

    /// Fold events already parsed (`None`: the entry is not a canonical event).
    pub fn fold_parsed(events: impl IntoIterator<Item = (u64, Option<Event>)>) -> History {
        let mut history = History::default();
        for (index, event) in events {
            match event {
                Some(event) => {
                    history.apply(index, &event);
                    history.events.push((index, event));
                }
                None => history.unparsable.push(index),
            }
        }
        history
    }

    fn apply(&mut self, index: u64, event: &Event) {
        let details = event.details();
        let time = event.time();
        let success = event.outcome() == Outcome::Success;
        let subject = event.subject().to_string();
        match event.kind() {
            EventKind::Build if success => {
                self.builds.entry(subject).or_default().push(Build {
                    index,
                    time,
                    actor: event.actor().to_string(),
                    name: details
                        .get("image")
                        .and_then(|image| image.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    reference: text(details, "reference").unwrap_or_default().to_string(),
                });
            }
            EventKind::Gate => {
                let check = text(details, "check").unwrap_or_default();
                self.gates.entry(subject.clone()).or_default().push(Gate {
                    index,
                    time,
                    passed: success && text(details, "verdict") == Some("pass"),
                    card_scan: check.split(',').any(|part| part == "card-numbers"),
                    vulnerability_names: strings(details, "vulnerability_names"),
                    envelope: envelope(details),
                });
                self.vulnerability_checks
                    .entry(subject.clone())
                    .or_default()
                    .push(Marker {
                        index,
                        time,
                        success,
                        subject,
                    });
            }
            EventKind::Approve if success => {
                if let Some(env) = text(details, "env") {
                    self.approvals.entry(subject).or_default().push(Approval {
                        index,
                        time,
                        actor: event.actor().to_string(),
                        env: env.to_string(),
                        envelope: envelope(details),
                    });
                }
            }
            EventKind::Attest if success => {
                self.sboms.entry(subject).or_default().push(Sbom {
                    index,
                    time,
                    predicate_type: text(details, "predicate_type")
                        .unwrap_or_default()
                        .to_string(),
                    envelope: envelope(details),
                });
            }
            EventKind::Deploy | EventKind::Rollback => {
                self.deploys.push(Deploy {
                    index,
                    time,
                    actor: event.actor().to_string(),
                    env: text(details, "env").unwrap_or_default().to_string(),
                    digest: subject,
                    success,
                    rollback: event.kind() == EventKind::Rollback,
                    instances: strings(details, "instances"),
                    previous: text(details, "previous").map(str::to_string),
                    approvals_required: details
                        .get("env_settings")
                        .and_then(|settings| settings.get("approvals"))
                        .and_then(serde_json::Value::as_u64)
                        .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
                });
            }
            EventKind::InstanceStart if success => {
                self.instances.insert(
                    subject.clone(),
                    Instance {
                        id: subject,
                        env: text(details, "env").unwrap_or_default().to_string(),
                        digest: text(details, "image").unwrap_or_default().to_string(),
                        start_index: index,
                        started: time,
                        stop: None,
                        replaces: text(details, "replaces").map(str::to_string),
                    },
                );
            }
            EventKind::InstanceStop if success => {
                if let Some(instance) = self.instances.get_mut(&subject) {
                    if instance.stop.is_none() {
                        instance.stop = Some((index, time));
                    }
                }
            }
            EventKind::Drift => self.drift_runs.push(DriftRun {
                index,
                time,
                subject,
                drifted: details.get("drifted").and_then(Value::as_bool) == Some(true),
                success,
            }),
            EventKind::Rescan if success => {
                if details.get("summary").and_then(Value::as_bool) == Some(true) {
                    self.vulnerability_checks
                        .entry(subject.clone())
                        .or_default()
                        .push(Marker {
                            index,
                            time,
                            success,
                            subject,
                        });
                } else if let Some(id) = text(details, "id") {
                    self.findings.push(Finding {
                        index,
                        time,
                        digest: subject,
                        id: id.to_string(),
                        aliases: strings(details, "aliases"),
                        severity: text(details, "severity").unwrap_or_default().to_string(),
                        fix_exists: details.get("fix_exists").and_then(Value::as_bool)
                            == Some(true),
                        published: text(details, "published")
                            .and_then(crate::time_text::parse_rfc3339),
                    });
                }
            }
            EventKind::Exception if success => match text(details, "action") {
                Some("request") => self.exceptions.push(ExceptionRecord {
                    id: subject,
                    code: text(details, "code").unwrap_or_default().to_string(),
                    reason: text(details, "reason").unwrap_or_default().to_string(),
                    requested_by: event.actor().to_string(),
                    approved_by: None,
                    expires: text(details, "expires").unwrap_or_default().to_string(),
                    index,
                }),
                Some("approve") => {
                    if let Some(exception) = self
                        .exceptions
                        .iter_mut()
                        .find(|exception| exception.id == subject)
                    {
                        if exception.requested_by != event.actor() {
                            exception.approved_by = Some(event.actor().to_string());
                        }
                    }
                }
                _ => {}
            },
            EventKind::ControlFailure => self.control_failures.push(ControlFailure {
                index,
                time,
                control: text(details, "control").unwrap_or_default().to_string(),
                subject,
            }),
            EventKind::LogVerify => self.log_verifies.push(Marker {
                index,
                time,
                success,
                subject,
            }),
            EventKind::EvidenceExport => self.exports.push(Marker {
                index,
                time,
                success,
                subject,
            }),
            _ => {}
        }
    }

    /// Instances that ran in `[from, to]`, in `env` when given, by id.
    pub fn instances_between<'a>(
        &'a self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        env: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.values().filter(move |instance| {
            instance.ran_between(from, to) && env.is_none_or(|env| instance.env == env)
        })
    }

    /// The builder identities of `digest`.
    pub fn builders(&self, digest: &str) -> Vec<&str> {
        self.builds
            .get(digest)
            .into_iter()
            .flatten()
            .map(|build| build.actor.as_str())
            .collect()
    }
}
