//! PCI DSS 11.5.2 (drift comparisons at least weekly, drift answered by replacement) and
//! 10.7.2 (a missed comparison raises a control failure), over the instances that ran.

use std::collections::BTreeSet;

use time::{Duration, OffsetDateTime};

use super::{
    env_label, Requirement, Scope, Status, CONTROL_CHANGE_DETECTION_SCHEDULE, DRIFT_ANSWER_HOURS,
    DRIFT_INTERVAL_DAYS,
};
use crate::history::History;
use crate::time_text;

/// A stretch of more than a week without a drift comparison of a running instance.
struct Gap {
    instance: String,
    env: String,
    start: OffsetDateTime,
    end: OffsetDateTime,
    before: u64,
    after: Option<u64>,
}

/// The drift-schedule gaps and unanswered drift of every instance that ran in the period.
fn drift_findings(
    history: &History,
    scope: &Scope,
) -> (Vec<Gap>, Vec<(u64, String)>, BTreeSet<u64>) {
    let week = Duration::days(DRIFT_INTERVAL_DAYS);
    let answer = Duration::hours(DRIFT_ANSWER_HOURS);
    let mut gaps = Vec::new();
    let mut unanswered = Vec::new();
    let mut events = BTreeSet::new();
    for instance in history.instances_between(scope.period.from, scope.period.to, scope.env()) {
        let start = instance.started.max(scope.period.from);
        let end = instance
            .stop
            .map(|(_, stopped)| stopped)
            .unwrap_or(scope.period.to)
            .min(scope.period.to);
        events.insert(instance.start_index);
        let runs: Vec<_> = history
            .drift_runs
            .iter()
            .filter(|run| run.subject == instance.id && run.success)
            .filter(|run| start <= run.time && run.time <= end)
            .collect();
        let mut previous = (start, instance.start_index);
        for run in &runs {
            events.insert(run.index);
            if run.time - previous.0 > week {
                gaps.push(Gap {
                    instance: instance.id.clone(),
                    env: instance.env.clone(),
                    start: previous.0,
                    end: run.time,
                    before: previous.1,
                    after: Some(run.index),
                });
            }
            previous = (run.time, run.index);
            if run.drifted {
                let stopped = instance.stop.is_some_and(|(_, stopped)| {
                    stopped >= run.time && stopped - run.time <= answer
                });
                let successor = history.instances.values().any(|other| {
                    other.replaces.as_deref() == Some(instance.id.as_str())
                        && other.started >= run.time
                        && other.started - run.time <= answer
                }) || history.deploys.iter().any(|deploy| {
                    deploy.success
                        && deploy.env == instance.env
                        && deploy.time >= run.time
                        && deploy.time - run.time <= answer
                });
                if stopped && successor {
                    if let Some((index, _)) = instance.stop {
                        events.insert(index);
                    }
                } else {
                    unanswered.push((run.index, instance.id.clone()));
                }
            }
        }
        if end - previous.0 > week {
            gaps.push(Gap {
                instance: instance.id.clone(),
                env: instance.env.clone(),
                start: previous.0,
                end,
                before: previous.1,
                after: instance.stop.map(|(index, _)| index),
            });
        }
    }
    (gaps, unanswered, events)
}

pub(super) fn drift(history: &History, scope: &Scope) -> Requirement {
    let (gaps, unanswered, events) = drift_findings(history, scope);
    let instances = history
        .instances_between(scope.period.from, scope.period.to, scope.env())
        .count();
    let mut offending = BTreeSet::new();
    let mut notes = Vec::new();
    for gap in &gaps {
        offending.insert(gap.before);
        offending.extend(gap.after);
        notes.push(format!(
            "instance `{}` went {} days without a drift comparison ({} to {})",
            gap.instance,
            time_text::days_between(gap.start, gap.end),
            time_text::format(gap.start),
            time_text::format(gap.end)
        ));
    }
    for (index, instance) in &unanswered {
        offending.insert(*index);
        notes.push(format!(
            "drift found in `{instance}` at event {index} was not answered by replacing it within {DRIFT_ANSWER_HOURS} hours"
        ));
    }
    let (status, detail) = if instances == 0 {
        (
            Status::NotApplicable,
            format!("no instance ran in {} in the period", env_label(scope)),
        )
    } else if notes.is_empty() {
        (Status::Met, format!("{instances} instance(s), each compared with its image at least every {DRIFT_INTERVAL_DAYS} days while it ran; drift, where found, answered by replacement"))
    } else {
        (Status::NotMet, notes.join("; "))
    };
    Requirement {
        id: "11.5.2".into(),
        title: "Change detection compares critical files at least weekly and alerts on change".into(),
        status,
        assertion: format!("every instance that ran in the period had a successful drift comparison with its image's signed file manifest at least every {DRIFT_INTERVAL_DAYS} days while it ran, and every drift found was answered within {DRIFT_ANSWER_HOURS} hours by stopping the instance and starting a replacement"),
        detail,
        events: events.into_iter().collect(),
        offending: offending.into_iter().collect(),
    }
}

pub(super) fn control_failures(history: &History, scope: &Scope) -> Requirement {
    let (gaps, _, _) = drift_findings(history, scope);
    let failures: Vec<_> = history
        .control_failures
        .iter()
        .filter(|failure| scope.period.contains(failure.time))
        .collect();
    let mut offending = BTreeSet::new();
    let mut notes = Vec::new();
    let mut events: BTreeSet<u64> = failures.iter().map(|failure| failure.index).collect();
    for gap in &gaps {
        let detected = failures.iter().find(|failure| {
            failure.control == CONTROL_CHANGE_DETECTION_SCHEDULE
                && (failure.subject == gap.instance || failure.subject == gap.env)
                && gap.start < failure.time
                && failure.time <= gap.end
        });
        match detected {
            Some(failure) => {
                events.insert(failure.index);
            }
            None => {
                offending.insert(gap.before);
                notes.push(format!(
                    "the missed drift comparison of `{}` after {} raised no control failure",
                    gap.instance,
                    time_text::format(gap.start)
                ));
            }
        }
    }
    let monitored: Vec<u64> = history
        .instances_between(scope.period.from, scope.period.to, scope.env())
        .map(|instance| instance.start_index)
        .collect();
    let (status, detail) = if monitored.is_empty() && failures.is_empty() {
        (
            Status::NotApplicable,
            format!(
                "no instance ran in {} and no control failed in the period",
                env_label(scope)
            ),
        )
    } else if notes.is_empty() {
        events.extend(&monitored);
        (
            Status::Met,
            format!(
                "{} control failure(s) detected and recorded in the period{}",
                failures.len(),
                if failures.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": {}",
                        failures
                            .iter()
                            .map(|failure| format!("{} ({})", failure.control, failure.index))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
        )
    } else {
        (Status::NotMet, notes.join("; "))
    };
    Requirement {
        id: "10.7.2".into(),
        title: "Failures of critical security controls detected, alerted and addressed".into(),
        status,
        assertion: "every missed weekly drift comparison in the period raised a `control.failure` event (control `change-detection-schedule`) while it was overdue; all control failures of the period are listed".into(),
        detail,
        events: events.into_iter().collect(),
        offending: offending.into_iter().collect(),
    }
}
