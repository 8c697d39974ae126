//! The requirement index: for each PCI DSS requirement stamp covers, a status computed by a
//! machine-checked assertion over the included events, with the events behind it and the ones
//! that break it. `stamp evidence` and `stamp verify` both call [`evaluate`]; nothing is "met"
//! without events behind it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::attestations::AttestationIndex;
use crate::events::LoggedEvent;
use crate::history::{History, Instance, SBOM_PREDICATE_TYPES};
use crate::time_text::{self, Period};

/// PCI DSS 6.3.3: critical patches within one month of release.
pub const PATCH_WINDOW_DAYS: i64 = 30;
/// PCI DSS 11.5.2: file comparisons at least weekly.
pub const DRIFT_INTERVAL_DAYS: i64 = 7;
/// How soon a drifted instance must be replaced (stopped, with a successor started).
pub const DRIFT_ANSWER_HOURS: i64 = 24;
/// PCI DSS 10.5.1: twelve months of history.
pub const RETENTION_MONTHS: f64 = 12.0;
/// The control a missed drift run fails (`stamp drift --check-schedule`).
pub const CONTROL_CHANGE_DETECTION_SCHEDULE: &str = "change-detection-schedule";

/// Requirements stamp does not cover, listed in every pack (PCI.md).
pub const NOT_COVERED: [(&str, &str); 9] = [
    (
        "3.2.1",
        "Account data storage kept to a minimum (data retention policy)",
    ),
    ("3.4.1", "PAN masked when displayed"),
    (
        "6.2.1",
        "Bespoke software developed securely (training, secure development)",
    ),
    ("6.2.2", "Developer training on secure coding"),
    (
        "6.4.2",
        "Automated technical solution (WAF) for public-facing web applications",
    ),
    (
        "8.5.1",
        "Multi-factor authentication systems configured against misuse",
    ),
    (
        "11.3.2",
        "External vulnerability scans by an approved scanning vendor (ASV)",
    ),
    ("11.4.1", "Penetration testing"),
    ("12.10.1", "Incident response plan"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Met,
    NotMet,
    Partly,
    NotApplicable,
    NotCovered,
}

/// One entry of the requirement index.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirement {
    pub id: String,
    pub title: String,
    pub status: Status,
    /// The machine-checked statement, in words.
    pub assertion: String,
    pub detail: String,
    /// Log indexes of the events the assertion was computed from.
    pub events: Vec<u64>,
    /// Log indexes of the events that break it.
    pub offending: Vec<u64>,
}

/// What the assertions are evaluated over besides the events.
#[derive(Clone, Debug)]
pub struct Scope {
    pub period: Period,
    /// Only this environment's deploys and instances, when set.
    pub env: Option<String>,
    /// Distinct approvals each environment requires (the trust file), default 1; a deploy that
    /// recorded a higher requirement when it ran is held to that.
    pub approvals_required: BTreeMap<String, u32>,
}

impl Scope {
    fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    fn env_matches(&self, env: &str) -> bool {
        self.env.as_deref().is_none_or(|wanted| wanted == env)
    }
}

/// One row of the 6.3.3 patch-latency table.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub advisory: String,
    pub aliases: Vec<String>,
    pub severity: String,
    pub image: String,
    pub published: String,
    pub fix_available: bool,
    pub fixed_image_built: Option<String>,
    pub deployed: Option<String>,
    pub last_vulnerable_stopped: Option<String>,
    pub days: f64,
    pub within_limit: bool,
    /// The `rescan` event that found it.
    pub event: u64,
    #[serde(skip)]
    pub offending: Vec<u64>,
}

/// Evaluate every requirement over `events` (sorted by index).
pub fn evaluate(
    events: &[LoggedEvent],
    attestations: &AttestationIndex,
    scope: &Scope,
) -> Vec<Requirement> {
    evaluate_history(&History::fold(events), attestations, scope)
}

/// [`evaluate`] over an already folded history.
pub fn evaluate_history(
    history: &History,
    attestations: &AttestationIndex,
    scope: &Scope,
) -> Vec<Requirement> {
    let mut out = Vec::new();
    out.extend(card_scan(history, attestations, scope));
    out.extend(deploy_requirements(history, attestations, scope));
    out.push(sbom(history, attestations, scope));
    out.push(patching(history, scope));
    out.push(log_access(history));
    out.push(six_fields(history, scope));
    out.push(log_verified(history, scope));
    out.push(retention(history, scope));
    out.push(drift::control_failures(history, scope));
    out.push(drift::drift(history, scope));
    out.push(inventory(history, scope));
    for (id, title) in NOT_COVERED {
        out.push(Requirement {
            id: id.into(),
            title: title.into(),
            status: Status::NotCovered,
            assertion: "not covered by stamp: evidence comes from the entity's own processes"
                .into(),
            detail: String::new(),
            events: Vec::new(),
            offending: Vec::new(),
        });
    }
    out.sort_by_key(|requirement| requirement_order(&requirement.id));
    out
}

fn requirement_order(id: &str) -> Vec<u32> {
    id.split('.').filter_map(|part| part.parse().ok()).collect()
}

fn verified(attestations: &AttestationIndex, envelope: Option<&stamp_core::Digest>) -> bool {
    envelope
        .and_then(|digest| attestations.get(digest))
        .is_some_and(|facts| facts.verified())
}

fn env_label(scope: &Scope) -> String {
    match scope.env() {
        Some(env) => format!("`{env}`"),
        None => "any environment".into(),
    }
}

/// What one successful deploy in the period had before it.
struct DeployCheck {
    index: u64,
    digest: String,
    env: String,
    gate: Option<(u64, bool, bool)>,
    approvers: BTreeSet<String>,
    approval_indexes: Vec<u64>,
    builder_approved: Vec<u64>,
    builders: Vec<String>,
    build_indexes: Vec<u64>,
    required: u32,
    /// The environment's previous successful deploy, when the pack holds one, and whether
    /// this deploy names its digest as the way back.
    previous: Option<(u64, bool)>,
}

fn deploy_checks(
    history: &History,
    attestations: &AttestationIndex,
    scope: &Scope,
) -> Vec<DeployCheck> {
    history
        .deploys
        .iter()
        .filter(|deploy| deploy.success && scope.period.contains(deploy.time))
        .filter(|deploy| scope.env_matches(&deploy.env))
        .map(|deploy| {
            let gate = history
                .gates
                .get(&deploy.digest)
                .into_iter()
                .flatten()
                .rfind(|gate| gate.index < deploy.index)
                .map(|gate| {
                    (
                        gate.index,
                        gate.passed && verified(attestations, gate.envelope.as_ref()),
                        gate.passed && gate.card_scan,
                    )
                });
            let builders: Vec<String> = history
                .builders(&deploy.digest)
                .into_iter()
                .map(str::to_string)
                .collect();
            let mut approvers = BTreeSet::new();
            let mut approval_indexes = Vec::new();
            let mut builder_approved = Vec::new();
            for approval in history.approvals.get(&deploy.digest).into_iter().flatten() {
                if approval.index > deploy.index || approval.env != deploy.env {
                    continue;
                }
                approval_indexes.push(approval.index);
                if builders.contains(&approval.actor) {
                    builder_approved.push(approval.index);
                } else if verified(attestations, approval.envelope.as_ref()) {
                    approvers.insert(approval.actor.clone());
                }
            }
            let previous = history
                .deploys
                .iter()
                .filter(|earlier| earlier.success && earlier.env == deploy.env)
                .rfind(|earlier| earlier.index < deploy.index)
                .map(|earlier| {
                    (
                        earlier.index,
                        deploy.previous.as_deref() == Some(earlier.digest.as_str()),
                    )
                });
            DeployCheck {
                previous,
                index: deploy.index,
                digest: deploy.digest.clone(),
                env: deploy.env.clone(),
                gate,
                approvers,
                approval_indexes,
                builder_approved,
                build_indexes: history
                    .builds
                    .get(&deploy.digest)
                    .into_iter()
                    .flatten()
                    .map(|build| build.index)
                    .collect(),
                builders,
                // The stricter of what the trust file requires now and what the deploy
                // recorded as required when it ran.
                required: scope
                    .approvals_required
                    .get(&deploy.env)
                    .copied()
                    .unwrap_or(1)
                    .max(deploy.approvals_required.unwrap_or(1))
                    .max(1),
            }
        })
        .collect()
}

/// Build a requirement from per-item results: `(events, offending, note)`.
struct Tally {
    events: BTreeSet<u64>,
    offending: BTreeSet<u64>,
    notes: Vec<String>,
    checked: usize,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            events: BTreeSet::new(),
            offending: BTreeSet::new(),
            notes: Vec::new(),
            checked: 0,
        }
    }

    fn finish(
        self,
        id: &str,
        title: &str,
        assertion: String,
        nothing: &str,
        met: String,
    ) -> Requirement {
        let (status, detail) = if self.checked == 0 {
            (Status::NotApplicable, nothing.to_string())
        } else if self.notes.is_empty() {
            (Status::Met, met)
        } else {
            (Status::NotMet, self.notes.join("; "))
        };
        Requirement {
            id: id.into(),
            title: title.into(),
            status,
            assertion,
            detail,
            events: self.events.into_iter().collect(),
            offending: self.offending.into_iter().collect(),
        }
    }
}

fn deploy_requirements(
    history: &History,
    attestations: &AttestationIndex,
    scope: &Scope,
) -> Vec<Requirement> {
    let checks = deploy_checks(history, attestations, scope);
    let nothing = format!("no deploy to {} in the period", env_label(scope));
    let mut change = Tally::new();
    let mut separation = Tally::new();
    let mut review = Tally::new();
    for check in &checks {
        let mut related: Vec<u64> = vec![check.index];
        related.extend(check.gate.map(|(index, _, _)| index));
        related.extend(&check.approval_indexes);
        related.extend(&check.build_indexes);
        for tally in [&mut change, &mut separation, &mut review] {
            tally.checked += 1;
            tally.events.extend(&related);
        }
        let short = short_digest(&check.digest);
        let gate_ok = check.gate.is_some_and(|(_, passed, _)| passed);
        let approvals_ok = check.approvers.len() as u32 >= check.required;
        let way_back_ok = check.previous.is_none_or(|(_, named)| named);
        if let Some((index, _)) = check.previous {
            change.events.insert(index);
        }
        if !gate_ok || !approvals_ok || !way_back_ok {
            change.offending.insert(check.index);
            change.notes.push(format!(
                "deploy {} of {short} to `{}`: {}",
                check.index,
                check.env,
                match (gate_ok, approvals_ok) {
                    (false, _) if check.gate.is_none() => "no gate verdict before it".to_string(),
                    (false, _) =>
                        "its last gate verdict before it did not pass or is not signed in the pack"
                            .to_string(),
                    (true, false) => format!(
                        "{} of {} required approvals",
                        check.approvers.len(),
                        check.required
                    ),
                    (true, true) => format!(
                        "it does not name the digest the environment ran before (deploy {}) as its way back",
                        check.previous.map(|(index, _)| index).unwrap_or_default()
                    ),
                }
            ));
        }
        if !approvals_ok {
            separation.offending.insert(check.index);
            separation.notes.push(format!(
                "deploy {} of {short} to `{}`: {} of {} required distinct approvals by identities other than the builder",
                check.index,
                check.env,
                check.approvers.len(),
                check.required
            ));
        }
        if check.builders.is_empty()
            || check.approvers.is_empty()
            || !check.builder_approved.is_empty()
        {
            review.offending.insert(check.index);
            review.offending.extend(&check.builder_approved);
            review.notes.push(format!(
                "deploy {} of {short}: {}",
                check.index,
                if check.builders.is_empty() {
                    "no build event names its author".to_string()
                } else if !check.builder_approved.is_empty() {
                    "approved by its own builder".to_string()
                } else {
                    "no approval by an identity other than its builder".to_string()
                }
            ));
        }
    }
    let count = checks.len();
    vec![
        change.finish(
            "6.5.1",
            "Changes to production follow change control: reason, approval, testing, a way back",
            format!("every successful deploy to {} in the period was preceded by a passing, signed gate verdict of its digest and by the approvals its environment requires, and named the digest the environment ran before it (the way back) when there was one", env_label(scope)),
            &nothing,
            format!("{count} deploy(s), each with a passing gate and its approvals before it"),
        ),
        separation.finish(
            "6.5.4",
            "Roles and functions separated: release approval by someone other than the builder",
            "every deployed digest had, before its deploy, at least the environment's required number of signed approvals by distinct identities other than its builder".into(),
            &nothing,
            format!("{count} deploy(s), each with the required distinct approvers"),
        ),
        review.finish(
            "6.2.3.1",
            "Code changes reviewed by someone other than the author before release",
            "every deployed digest has a build event naming its author and an approval by another identity; the builder never approved it".into(),
            &nothing,
            format!("{count} deploy(s), each reviewed by an identity other than its builder"),
        ),
    ]
}

fn card_scan(
    history: &History,
    attestations: &AttestationIndex,
    scope: &Scope,
) -> Option<Requirement> {
    let mut tally = Tally::new();
    for check in deploy_checks(history, attestations, scope) {
        tally.checked += 1;
        tally.events.insert(check.index);
        match check.gate {
            Some((index, _, scanned)) => {
                tally.events.insert(index);
                if !scanned {
                    tally.offending.insert(check.index);
                    tally.offending.insert(index);
                    tally.notes.push(format!(
                        "deploy {}: the gate before it did not pass a card-number scan",
                        check.index
                    ));
                }
            }
            None => {
                tally.offending.insert(check.index);
                tally.notes.push(format!(
                    "deploy {}: no card-number scan before it",
                    check.index
                ));
            }
        }
    }
    let count = tally.checked;
    Some(tally.finish(
        "3.5.1",
        "PAN unreadable wherever stored: no card number in any deployed image",
        "every digest deployed in the period passed a gate that scanned every layer for card numbers (Luhn and card ranges, deleted and compressed files included) before its deploy".into(),
        &format!("no deploy to {} in the period", env_label(scope)),
        format!("{count} deploy(s), each after a passing card-number scan"),
    ))
}

fn running_digests<'a>(
    history: &'a History,
    scope: &'a Scope,
) -> BTreeMap<String, Vec<&'a Instance>> {
    let mut running: BTreeMap<String, Vec<&Instance>> = BTreeMap::new();
    for instance in history.instances_between(scope.period.from, scope.period.to, scope.env()) {
        running
            .entry(instance.digest.clone())
            .or_default()
            .push(instance);
    }
    running
}

fn sbom(history: &History, attestations: &AttestationIndex, scope: &Scope) -> Requirement {
    let mut tally = Tally::new();
    for (digest, instances) in running_digests(history, scope) {
        tally.checked += 1;
        let sboms: Vec<u64> = history
            .sboms
            .get(&digest)
            .into_iter()
            .flatten()
            .filter(|sbom| SBOM_PREDICATE_TYPES.contains(&sbom.predicate_type.as_str()))
            .filter(|sbom| verified(attestations, sbom.envelope.as_ref()))
            .map(|sbom| sbom.index)
            .collect();
        tally.events.extend(&sboms);
        tally
            .events
            .extend(instances.iter().map(|instance| instance.start_index));
        if sboms.is_empty() {
            tally
                .offending
                .extend(instances.iter().map(|instance| instance.start_index));
            tally.notes.push(format!(
                "{} ran without a signed SBOM in the pack",
                short_digest(&digest)
            ));
        }
    }
    let count = tally.checked;
    tally.finish(
        "6.3.2",
        "Inventory of bespoke and third-party components (SBOM)",
        "every image that ran in the period has a signed CycloneDX or SPDX SBOM attestation, recorded in the log and included in the pack".into(),
        &format!("no instance ran in {} in the period", env_label(scope)),
        format!("{count} running image(s), each with a signed SBOM"),
    )
}

/// The 6.3.3 table: each critical finding of an image that ran in the period.
pub fn latencies(history: &History, scope: &Scope) -> Vec<Latency> {
    let running = running_digests(history, scope);
    let window = Duration::days(PATCH_WINDOW_DAYS);
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    for finding in &history.findings {
        if !finding.severity.eq_ignore_ascii_case("critical")
            || !seen.insert((finding.digest.clone(), finding.id.clone()))
        {
            continue;
        }
        let Some(instances) = running.get(&finding.digest) else {
            continue;
        };
        let Some(published) = finding.published else {
            continue;
        };
        let end = |instance: &Instance| {
            instance
                .stop
                .map(|(_, stopped)| stopped)
                .unwrap_or(scope.period.to)
                .min(scope.period.to)
        };
        let mut offending = Vec::new();
        if finding.fix_exists {
            for instance in instances {
                if end(instance) - published > window && end(instance) >= scope.period.from {
                    offending.push(instance.start_index);
                }
            }
            if !offending.is_empty() {
                offending.push(finding.index);
            }
        }
        let all_stopped = instances.iter().all(|instance| instance.stop.is_some());
        let last_end = instances
            .iter()
            .map(|instance| end(instance))
            .max()
            .unwrap_or(scope.period.to);
        let last_stopped = all_stopped.then(|| {
            instances
                .iter()
                .filter_map(|instance| instance.stop.map(|(_, stopped)| stopped))
                .max()
                .unwrap_or(last_end)
        });
        let fixed = fixed_image(history, &finding.digest, &finding.id, &finding.aliases);
        let deployed = fixed.as_ref().and_then(|(digest, built)| {
            history
                .deploys
                .iter()
                .filter(|deploy| deploy.success && deploy.digest == *digest)
                .filter(|deploy| scope.env_matches(&deploy.env) && deploy.time >= *built)
                .map(|deploy| deploy.time)
                .next()
        });
        rows.push(Latency {
            advisory: finding.id.clone(),
            aliases: finding.aliases.clone(),
            severity: finding.severity.to_ascii_lowercase(),
            image: finding.digest.clone(),
            published: time_text::format(published),
            fix_available: finding.fix_exists,
            fixed_image_built: fixed.map(|(_, built)| time_text::format(built)),
            deployed: deployed.map(time_text::format),
            last_vulnerable_stopped: last_stopped.map(time_text::format),
            days: time_text::days_between(published, last_end),
            within_limit: offending.is_empty(),
            event: finding.index,
            offending,
        });
    }
    rows
}

/// The first later build of the same image name whose own gates and rescans do not list the
/// advisory: `(digest, built)`.
fn fixed_image(
    history: &History,
    vulnerable: &str,
    id: &str,
    aliases: &[String],
) -> Option<(String, OffsetDateTime)> {
    let first = history.builds.get(vulnerable)?.first()?;
    let names = |name: &String| name == id || aliases.contains(name);
    history
        .builds
        .iter()
        .filter(|(digest, _)| digest.as_str() != vulnerable)
        .filter_map(|(digest, builds)| {
            let build = builds.first()?;
            (build.name == first.name && build.index > first.index).then_some((digest, build))
        })
        .filter(|(digest, _)| {
            let gated_clean = history
                .gates
                .get(*digest)
                .and_then(|gates| gates.last())
                .is_some_and(|gate| !gate.vulnerability_names.iter().any(names));
            let found_later = history.findings.iter().any(|finding| {
                finding.digest == **digest && (finding.id == id || aliases.contains(&finding.id))
            });
            gated_clean && !found_later
        })
        .min_by_key(|(_, build)| build.index)
        .map(|(digest, build)| (digest.clone(), build.time))
}

fn patching(history: &History, scope: &Scope) -> Requirement {
    let running = running_digests(history, scope);
    let rows = latencies(history, scope);
    let mut events = BTreeSet::new();
    let mut offending = BTreeSet::new();
    let mut notes = Vec::new();
    let mut unchecked = Vec::new();
    for row in &rows {
        events.insert(row.event);
        if !row.within_limit {
            offending.extend(&row.offending);
            notes.push(format!(
                "{} ({}, fix available) was published {} days before {} last ran ({})",
                row.advisory,
                row.severity,
                row.days,
                short_digest(&row.image),
                match &row.last_vulnerable_stopped {
                    Some(stopped) => format!("its last vulnerable instance stopped {stopped}"),
                    None => "still running at the end of the period".to_string(),
                }
            ));
        }
    }
    for digest in running.keys() {
        let checks: Vec<u64> = history
            .vulnerability_checks
            .get(digest)
            .into_iter()
            .flatten()
            .filter(|check| check.success && scope.period.contains(check.time))
            .map(|check| check.index)
            .collect();
        if checks.is_empty() {
            unchecked.push(short_digest(digest));
        }
        events.extend(checks);
    }
    let (status, detail) = if running.is_empty() {
        (
            Status::NotApplicable,
            format!("no instance ran in {} in the period", env_label(scope)),
        )
    } else if !notes.is_empty() {
        (Status::NotMet, notes.join("; "))
    } else if !unchecked.is_empty() {
        (
            Status::Partly,
            format!(
                "no vulnerability match in the period for {}",
                unchecked.join(", ")
            ),
        )
    } else {
        (
            Status::Met,
            format!(
                "{} running image(s) matched against the vulnerability data in the period; {} critical finding(s), none with a fix older than {PATCH_WINDOW_DAYS} days while running",
                running.len(),
                rows.len()
            ),
        )
    };
    Requirement {
        id: "6.3.3".into(),
        title: "Critical security patches installed within one month of release".into(),
        status,
        assertion: format!("no digest that ran in the period held a critical vulnerability whose fix had been published more than {PATCH_WINDOW_DAYS} days earlier, and every running digest was matched against the vulnerability data (gate or rescan) in the period"),
        detail,
        events: events.into_iter().collect(),
        offending: offending.into_iter().collect(),
    }
}

fn log_access(history: &History) -> Requirement {
    let last = history.events.last();
    let exported = last.is_some_and(|(_, event)| {
        event.kind() == stamp_core::EventKind::EvidenceExport
            && event.outcome() == stamp_core::Outcome::Success
    });
    let reads: Vec<u64> = history
        .events
        .iter()
        .filter(|(_, event)| {
            matches!(
                event.kind(),
                stamp_core::EventKind::LogRead | stamp_core::EventKind::EvidenceExport
            )
        })
        .map(|(index, _)| *index)
        .collect();
    Requirement {
        id: "10.2.1.3".into(),
        title: "All access to audit logs is logged".into(),
        status: if exported { Status::Met } else { Status::NotMet },
        assertion: "the export of this pack is itself an `evidence.export` event, the last entry the pack's checkpoint covers; log reads are `log.read` events".into(),
        detail: if exported {
            format!("{} log access event(s) in the pack, the last one this export", reads.len())
        } else {
            "the last event of the pack is not its own export".into()
        },
        events: reads,
        offending: if exported {
            Vec::new()
        } else {
            last.map(|(index, _)| vec![*index]).unwrap_or_default()
        },
    }
}

fn six_fields(history: &History, scope: &Scope) -> Requirement {
    let in_period: Vec<u64> = history
        .events
        .iter()
        .filter(|(_, event)| scope.period.contains(event.time()))
        .map(|(index, _)| *index)
        .collect();
    let status = if !history.unparsable.is_empty() {
        Status::NotMet
    } else if in_period.is_empty() {
        Status::NotApplicable
    } else {
        Status::Met
    };
    Requirement {
        id: "10.2.2".into(),
        title: "Audit log records: user, event type, time, success or failure, origin, affected component".into(),
        status,
        assertion: "every event of the pack is one canonical stamp event, which cannot exist without a non-empty actor, kind, UTC time, outcome, origin (host and process) and subject".into(),
        detail: if history.unparsable.is_empty() {
            format!("{} event(s) in the period, all with the six fields", in_period.len())
        } else {
            format!("{} event(s) are not canonical events", history.unparsable.len())
        },
        events: in_period,
        offending: history.unparsable.clone(),
    }
}

fn log_verified(history: &History, scope: &Scope) -> Requirement {
    let runs: Vec<_> = history
        .log_verifies
        .iter()
        .filter(|run| scope.period.contains(run.time))
        .collect();
    let failed: Vec<u64> = runs
        .iter()
        .filter(|run| !run.success)
        .map(|run| run.index)
        .collect();
    let (status, detail) = if runs.is_empty() {
        (
            Status::NotMet,
            "no `stamp log verify` run in the period".to_string(),
        )
    } else if !failed.is_empty() {
        (
            Status::NotMet,
            format!(
                "{} of {} log verification(s) failed",
                failed.len(),
                runs.len()
            ),
        )
    } else {
        (
            Status::Met,
            format!("{} log verification(s) in the period, all passed; the pack's own proofs are checked by `stamp verify`", runs.len()),
        )
    };
    Requirement {
        id: "10.3.4".into(),
        title: "Change detection on audit logs: appends do not alert, changes do".into(),
        status,
        assertion: "the log is an RFC 6962 Merkle tree with signed checkpoints; `stamp log verify` ran in the period and every run passed; every event of this pack has an inclusion proof and the period's checkpoints consistency proofs".into(),
        detail,
        events: runs.iter().map(|run| run.index).collect(),
        offending: failed,
    }
}

/// `(oldest entry, months covered, whole life)` of the log as the pack shows it.
pub fn retention_facts(history: &History, scope: &Scope) -> (Option<OffsetDateTime>, f64, bool) {
    let first = history.events.first();
    let oldest = first.map(|(_, event)| event.time());
    let whole_life = first.is_some_and(|(index, event)| {
        *index == 0 && event.kind() == stamp_core::EventKind::LogInit
    });
    let months = oldest
        .map(|oldest| {
            let days = (scope.period.to - oldest).whole_seconds() as f64 / 86_400.0;
            (days / (365.25 / 12.0) * 10.0).floor() / 10.0
        })
        .unwrap_or(0.0);
    (oldest, months, whole_life)
}

fn retention(history: &History, scope: &Scope) -> Requirement {
    let (oldest, months, whole_life) = retention_facts(history, scope);
    let met = whole_life || months >= RETENTION_MONTHS;
    Requirement {
        id: "10.5.1".into(),
        title: "Audit log history kept for at least 12 months".into(),
        status: if met { Status::Met } else { Status::NotMet },
        assertion: "the pack holds the log's first entry (`log.init` at index 0: the log was never pruned, so it covers its whole life), or its oldest entry is at least 12 months before the period's end".into(),
        detail: format!(
            "oldest entry {}, {months} month(s) before the period's end{}",
            oldest.map(time_text::format).unwrap_or_else(|| "none".into()),
            if whole_life { "; the log's whole life" } else { "" }
        ),
        events: history.events.first().map(|(index, _)| vec![*index]).unwrap_or_default(),
        offending: Vec::new(),
    }
}

fn inventory(history: &History, scope: &Scope) -> Requirement {
    let mut tally = Tally::new();
    for instance in history.instances_between(scope.period.from, scope.period.to, scope.env()) {
        tally.checked += 1;
        tally.events.insert(instance.start_index);
        let deploy = history
            .deploys
            .iter()
            .find(|deploy| deploy.success && deploy.instances.contains(&instance.id));
        match (deploy, &instance.replaces) {
            (Some(deploy), _) => {
                tally.events.insert(deploy.index);
            }
            (None, Some(replaced)) if history.instances.contains_key(replaced) => {}
            _ => {
                tally.offending.insert(instance.start_index);
                tally.notes.push(format!(
                    "instance `{}` ran with no deploy or replacement event naming it",
                    instance.id
                ));
            }
        }
    }
    let count = tally.checked;
    tally.finish(
        "12.5.1",
        "Inventory of system components in scope, including images that can be instantiated",
        "every instance that ran in the period was started by a deploy or rollback event naming it, or as the logged replacement of a drifted instance; the inventory lists every image built and every instance that ran".into(),
        &format!("no instance ran in {} in the period", env_label(scope)),
        format!("{count} instance(s), each started by a logged deploy or replacement"),
    )
}

pub fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

mod drift;

#[cfg(test)]
mod tests;
