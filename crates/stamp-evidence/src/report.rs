//! Everything in `evidence.json` (and `drift/runs.json`) that is computed from the included
//! events: the requirement index, its summary, the timeline, the patch-latency table, drift
//! runs per week, exceptions, the inventory and the log's retention. [`derive`] is the one
//! function both the exporter and the verifier call; the verifier compares its result with the
//! pack, section by section.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stamp_core::event::EventKind;
use stamp_core::Event;
use time::Duration;

use crate::assert::{self, Requirement, Scope, Status};
use crate::attestations::AttestationIndex;
use crate::events::LoggedEvent;
use crate::history::History;
use crate::time_text;

/// The keys of `evidence.json` that [`derive`] computes.
pub const DERIVED_KEYS: [&str; 7] = [
    "summary",
    "requirements",
    "timeline",
    "patchLatency",
    "driftRuns",
    "exceptions",
    "inventory",
];

/// The computed sections.
#[derive(Clone, Debug, PartialEq)]
pub struct Derived {
    pub requirements: Vec<Requirement>,
    /// `evidence.json` values by key ([`DERIVED_KEYS`]).
    pub sections: BTreeMap<&'static str, Value>,
    /// `log.oldestEntry` and `log.retention`.
    pub oldest_entry: Option<String>,
    pub retention: Value,
    /// `drift/runs.json`.
    pub drift_file: Value,
}

/// Compute every derived section from `events` (sorted by index).
pub fn derive(events: &[LoggedEvent], attestations: &AttestationIndex, scope: &Scope) -> Derived {
    let history = History::fold(events);
    let requirements = assert::evaluate_history(&history, attestations, scope);
    let count = |status: Status| {
        requirements
            .iter()
            .filter(|requirement| requirement.status == status)
            .count()
    };
    let in_period = history
        .events
        .iter()
        .filter(|(_, event)| scope.period.contains(event.time()))
        .count();
    let mut sections = BTreeMap::new();
    sections.insert(
        "summary",
        json!({
            "met": count(Status::Met),
            "notMet": count(Status::NotMet),
            "partly": count(Status::Partly),
            "notApplicable": count(Status::NotApplicable),
            "notCovered": count(Status::NotCovered),
            "events": in_period,
        }),
    );
    sections.insert(
        "requirements",
        serde_json::to_value(&requirements).expect("requirements serialize"),
    );
    sections.insert("timeline", timeline(&history, scope));
    sections.insert(
        "patchLatency",
        serde_json::to_value(assert::latencies(&history, scope)).expect("latencies serialize"),
    );
    sections.insert("driftRuns", drift_weeks(&history, scope));
    sections.insert("exceptions", exceptions(&history, scope));
    sections.insert("inventory", inventory(&history, scope));
    let (oldest, months, whole_life) = assert::retention_facts(&history, scope);
    Derived {
        requirements,
        sections,
        oldest_entry: oldest.map(time_text::format),
        retention: json!({"coversMonths": months, "wholeLife": whole_life}),
        drift_file: drift_file(&history, scope),
    }
}

fn in_scope(event: &Event, scope: &Scope) -> bool {
    match (
        scope.env.as_deref(),
        event.details().get("env").and_then(Value::as_str),
    ) {
        (Some(wanted), Some(env)) => wanted == env,
        _ => true,
    }
}

fn detail_text<'a>(event: &'a Event, key: &str) -> &'a str {
    event
        .details()
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// One line saying what an event did; never any detail that could hold data from images.
fn summary_of(event: &Event) -> String {
    let env = detail_text(event, "env");
    match event.kind() {
        EventKind::Build => format!("built {}", detail_text(event, "reference")),
        EventKind::Gate => format!("gate verdict `{}`", detail_text(event, "verdict")),
        EventKind::Approve => format!("approved for `{env}`"),
        EventKind::Promote => format!("promoted to `{env}`"),
        EventKind::Deploy | EventKind::Rollback => {
            let count = event
                .details()
                .get("instances")
                .and_then(Value::as_array)
                .map(Vec::len)
                .unwrap_or(0);
            format!(
                "{} to `{env}` ({count} instance(s))",
                if event.kind() == EventKind::Rollback {
                    "rolled back"
                } else {
                    "deployed"
                }
            )
        }
        EventKind::InstanceStart => format!("instance started in `{env}`"),
        EventKind::InstanceStop
            if event.details().get("decommission").and_then(Value::as_bool) == Some(true) =>
        {
            format!(
                "instance taken down in `{env}` (decommission: {})",
                detail_text(event, "reason")
            )
        }
        EventKind::InstanceStop => format!("instance stopped in `{env}`"),
        EventKind::Drift => {
            if event.details().get("drifted").and_then(Value::as_bool) == Some(true) {
                "drift found".into()
            } else {
                "drift comparison: no drift".into()
            }
        }
        EventKind::Rescan => match event.details().get("id").and_then(Value::as_str) {
            Some(id) => format!("rescan found {id} ({})", detail_text(event, "severity")),
            None => "rescan against the vulnerability data".into(),
        },
        EventKind::Exception => format!("exception {}", detail_text(event, "action")),
        EventKind::ControlFailure => format!("control failure: {}", detail_text(event, "control")),
        EventKind::Attest => format!("attested {}", detail_text(event, "predicate_type")),
        EventKind::EvidenceExport => "evidence pack exported".into(),
        kind => kind.as_str().to_string(),
    }
}

fn timeline(history: &History, scope: &Scope) -> Value {
    Value::Array(
        history
            .events
            .iter()
            .filter(|(_, event)| scope.period.contains(event.time()) && in_scope(event, scope))
            .map(|(index, event)| {
                json!({
                    "index": index,
                    "time": event.time_text(),
                    "kind": event.kind().as_str(),
                    "actor": event.actor(),
                    "outcome": event.outcome().as_str(),
                    "component": event.subject(),
                    "summary": summary_of(event),
                })
            })
            .collect(),
    )
}

fn drift_weeks(history: &History, scope: &Scope) -> Value {
    let instances: BTreeMap<&str, &crate::history::Instance> = history
        .instances_between(scope.period.from, scope.period.to, scope.env.as_deref())
        .map(|instance| (instance.id.as_str(), instance))
        .collect();
    let mut weeks: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let mut day = scope.period.from;
    while day <= scope.period.to {
        weeks.entry(time_text::iso_week(day)).or_default();
        day += Duration::days(1);
    }
    weeks
        .entry(time_text::iso_week(scope.period.to))
        .or_default();
    for run in &history.drift_runs {
        if !scope.period.contains(run.time) {
            continue;
        }
        let Some(instance) = instances.get(run.subject.as_str()) else {
            continue;
        };
        let week = weeks.entry(time_text::iso_week(run.time)).or_default();
        week.0 += 1;
        if run.drifted {
            week.1 += 1;
            let healed = history.instances.values().any(|other| {
                other.replaces.as_deref() == Some(instance.id.as_str()) && other.started >= run.time
            }) || instance
                .stop
                .is_some_and(|(_, stopped)| stopped >= run.time);
            week.2 += u64::from(healed);
        }
    }
    Value::Array(
        weeks
            .into_iter()
            .map(|(week, (runs, drifted, healed))| {
                json!({"week": week, "runs": runs, "drifted": drifted, "healed": healed})
            })
            .collect(),
    )
}

fn exceptions(history: &History, scope: &Scope) -> Value {
    Value::Array(
        history
            .exceptions
            .iter()
            .map(|exception| {
                let expires = format!("{}T23:59:59Z", exception.expires);
                let expired = time_text::parse(&expires).is_none_or(|time| time < scope.period.to);
                json!({
                    "id": exception.id,
                    "code": exception.code,
                    "reason": exception.reason,
                    "requestedBy": exception.requested_by,
                    "approvedBy": exception.approved_by.clone().unwrap_or_default(),
                    "expires": expires,
                    "expired": expired,
                    "event": exception.index,
                })
            })
            .collect(),
    )
}

fn inventory(history: &History, scope: &Scope) -> Value {
    let images: Vec<Value> = history
        .builds
        .iter()
        .filter_map(|(digest, builds)| {
            let build = builds.first()?;
            let deployed = history.deploys.iter().any(|deploy| {
                deploy.success
                    && deploy.digest == *digest
                    && deploy.time <= scope.period.to
                    && scope.env.as_deref().is_none_or(|env| env == deploy.env)
            });
            Some(json!({
                "digest": digest,
                "reference": build.reference,
                "built": time_text::format(build.time),
                "deployed": deployed,
            }))
        })
        .collect();
    let instances: Vec<Value> = history
        .instances_between(scope.period.from, scope.period.to, scope.env.as_deref())
        .map(|instance| {
            let last_drift = history
                .drift_runs
                .iter()
                .filter(|run| {
                    run.subject == instance.id && run.success && run.time <= scope.period.to
                })
                .map(|run| run.time)
                .max();
            json!({
                "id": instance.id,
                "env": instance.env,
                "digest": instance.digest,
                "started": time_text::format(instance.started),
                "stopped": instance.stop.map(|(_, stopped)| time_text::format(stopped)),
                "lastDrift": last_drift.map(time_text::format),
            })
        })
        .collect();
    json!({"images": images, "instances": instances})
}

/// `drift/runs.json`: every drift event of the period with what it recorded.
fn drift_file(history: &History, scope: &Scope) -> Value {
    let runs: Vec<Value> = history
        .events
        .iter()
        .filter(|(_, event)| {
            event.kind() == EventKind::Drift && scope.period.contains(event.time())
        })
        .filter(|(_, event)| in_scope(event, scope))
        .map(|(index, event)| {
            let details = event.details();
            json!({
                "index": index,
                "time": event.time_text(),
                "instance": event.subject(),
                "outcome": event.outcome().as_str(),
                "image": details.get("image"),
                "env": details.get("env"),
                "drifted": details.get("drifted"),
                "counts": details.get("counts"),
                "differences": details.get("differences"),
                "differencesSha256": details.get("differences_sha256"),
                "excluded": details.get("excluded"),
                "entriesChecked": details.get("entries_checked"),
                "quarantine": details.get("quarantine"),
            })
        })
        .collect();
    json!({
        "about": "every drift comparison of the period as its `drift` event recorded it; the differences themselves are identified by their sha256",
        "runs": runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_text::Period;
    use stamp_core::event::{Origin, Outcome};
    use time::macros::datetime;
    use time::OffsetDateTime;

    fn logged(
        index: u64,
        at: OffsetDateTime,
        kind: EventKind,
        subject: &str,
        details: Value,
    ) -> LoggedEvent {
        let event = Event::builder()
            .actor("dave")
            .kind(kind)
            .time(at)
            .outcome(Outcome::Success)
            .origin(Origin::new("h", "stamp", 1))
            .subject(subject)
            .details(details.as_object().unwrap().clone())
            .build()
            .unwrap();
        LoggedEvent {
            index,
            bytes: event.to_canonical_bytes(),
        }
    }

    #[test]
    fn timeline_and_drift_weeks_keep_to_the_period_and_the_environment() {
        let monday = datetime!(2026-03-02 10:00 UTC);
        let events = vec![
            logged(
                0,
                monday - Duration::days(10),
                EventKind::LogInit,
                "o",
                json!({}),
            ),
            logged(
                1,
                monday,
                EventKind::InstanceStart,
                "p1",
                json!({"env": "prod", "image": "sha256:aa"}),
            ),
            logged(
                2,
                monday,
                EventKind::InstanceStart,
                "s1",
                json!({"env": "staging", "image": "sha256:aa"}),
            ),
            logged(
                3,
                monday + Duration::days(1),
                EventKind::Drift,
                "p1",
                json!({"drifted": false, "env": "prod"}),
            ),
            logged(
                4,
                monday + Duration::days(2),
                EventKind::Drift,
                "s1",
                json!({"drifted": false, "env": "staging"}),
            ),
            logged(
                5,
                monday + Duration::days(8),
                EventKind::Drift,
                "p1",
                json!({"drifted": true, "env": "prod"}),
            ),
            logged(
                6,
                monday + Duration::days(8),
                EventKind::InstanceStop,
                "p1",
                json!({"env": "prod"}),
            ),
        ];
        let scope = Scope {
            period: Period {
                from: monday - Duration::days(1),
                to: monday + Duration::days(9),
            },
            env: Some("prod".into()),
            approvals_required: Default::default(),
        };
        let derived = derive(&events, &Default::default(), &scope);
        let timeline: Vec<u64> = derived.sections["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["index"].as_u64().unwrap())
            .collect();
        assert_eq!(
            timeline,
            [1, 3, 5, 6],
            "staging and pre-period events are left out"
        );
        assert_eq!(
            derived.sections["driftRuns"],
            json!([
                {"week": "2026-W09", "runs": 0, "drifted": 0, "healed": 0},
                {"week": "2026-W10", "runs": 1, "drifted": 0, "healed": 0},
                {"week": "2026-W11", "runs": 1, "drifted": 1, "healed": 1},
            ])
        );
        assert_eq!(derived.sections["summary"]["events"], 6);
        assert_eq!(derived.drift_file["runs"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_decommission_says_so_and_a_replacement_does_not() {
        let at = datetime!(2026-03-02 10:00 UTC);
        let stop = |details: Value| {
            let logged = logged(0, at, EventKind::InstanceStop, "p1", details);
            summary_of(&Event::from_canonical_bytes(&logged.bytes).unwrap())
        };
        assert_eq!(
            stop(json!({"env": "prod", "decommission": true, "reason": "service retired"})),
            "instance taken down in `prod` (decommission: service retired)"
        );
        assert_eq!(stop(json!({"env": "prod"})), "instance stopped in `prod`");
    }
}
