//! Whether one installed version is inside an `affected[]` entry, with OSV semantics
//! (<https://ossf.github.io/osv-schema/#evaluation>): every `ECOSYSTEM` or `SEMVER` range is
//! a sorted list of events walked in order — `introduced` (`"0"` meaning "from the start")
//! turns "affected" on at or above its version, `fixed` turns it off at or above, and
//! `last_affected` off strictly above; `limit` caps the range from above. The `versions` list
//! adds exact versions. `GIT` ranges are left to the `versions` list (what osv.dev
//! pre-computes from them).

use std::cmp::Ordering;

use super::ecosystem;
use super::record::{Affected, Event, Range};
use crate::version::{Version, VersionScheme};

/// What the evaluation found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub affected: bool,
    /// The first `fixed` version above the installed one in a range that affects it.
    pub fixed: Option<String>,
    /// Whether any range of the entry has a `fixed` event at all.
    pub fix_exists: bool,
    /// Ranges or events that could not be evaluated, with the reason.
    pub unevaluated: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Introduced,
    LastAffected,
    Fixed,
    Limit,
}

/// An event version: "0" for introduced is below everything.
enum Bound {
    Zero,
    At(Version),
}

impl Bound {
    fn compare(&self, installed: &Version) -> Option<Ordering> {
        match self {
            Bound::Zero => Some(Ordering::Less),
            Bound::At(version) => version.partial_compare(installed),
        }
    }
}

fn split_event(event: &Event) -> Option<(Kind, &str)> {
    if let Some(version) = &event.introduced {
        return Some((Kind::Introduced, version));
    }
    if let Some(version) = &event.fixed {
        return Some((Kind::Fixed, version));
    }
    if let Some(version) = &event.last_affected {
        return Some((Kind::LastAffected, version));
    }
    event.limit.as_deref().map(|version| (Kind::Limit, version))
}

/// Evaluate one range; `Err` names what could not be read.
fn evaluate_range(
    range: &Range,
    scheme: VersionScheme,
    installed: &Version,
) -> Result<(bool, Option<String>, bool), String> {
    let mut events: Vec<(Bound, Kind, &str)> = Vec::with_capacity(range.events.len());
    for event in &range.events {
        let Some((kind, text)) = split_event(event) else {
            continue;
        };
        if kind == Kind::Introduced && text == "0" {
            events.push((Bound::Zero, kind, text));
            continue;
        }
        if kind == Kind::Limit && text == "*" {
            continue;
        }
        let version = scheme
            .parse(text)
            .map_err(|error| format!("{} range event: {error}", range.kind))?;
        events.push((Bound::At(version), kind, text));
    }
    // Stable sort by version; "0" first.
    events.sort_by(|(a, _, _), (b, _, _)| match (a, b) {
        (Bound::Zero, Bound::Zero) => Ordering::Equal,
        (Bound::Zero, _) => Ordering::Less,
        (_, Bound::Zero) => Ordering::Greater,
        (Bound::At(a), Bound::At(b)) => a.partial_compare(b).unwrap_or(Ordering::Equal),
    });
    let fix_exists = events.iter().any(|(_, kind, _)| *kind == Kind::Fixed);
    let mut affected = false;
    for (bound, kind, _) in &events {
        // `bound` compared with the installed version: Less means bound < installed.
        let order = bound.compare(installed).unwrap_or(Ordering::Greater);
        match kind {
            Kind::Introduced if order != Ordering::Greater => affected = true,
            Kind::Fixed if order != Ordering::Greater => affected = false,
            Kind::LastAffected if order == Ordering::Less => affected = false,
            _ => {}
        }
    }
    let over_limit = events.iter().any(|(bound, kind, _)| {
        *kind == Kind::Limit && bound.compare(installed) != Some(Ordering::Greater)
    });
    if over_limit {
        affected = false;
    }
    let fixed = affected
        .then(|| {
            events.iter().find_map(|(bound, kind, text)| {
                (*kind == Kind::Fixed && bound.compare(installed) == Some(Ordering::Greater))
                    .then(|| text.to_string())
            })
        })
        .flatten();
    Ok((affected, fixed, fix_exists))
}

/// Evaluate `installed` against one affected entry of an ecosystem whose base name is
/// `base` (`Debian`, `PyPI`, …).
pub fn evaluate(affected: &Affected, base: &str, installed: &str) -> Evaluation {
    let mut evaluation = Evaluation::default();
    for range in &affected.ranges {
        let scheme = match range.kind.as_str() {
            "SEMVER" => ecosystem::semver_scheme(base),
            "ECOSYSTEM" => match ecosystem::scheme(base) {
                Some(scheme) => scheme,
                None => {
                    evaluation
                        .unevaluated
                        .push(format!("no version order known for ecosystem `{base}`"));
                    continue;
                }
            },
            "GIT" => continue,
            other => {
                evaluation
                    .unevaluated
                    .push(format!("unknown range type `{other}`"));
                continue;
            }
        };
        let installed_version = match scheme.parse(installed) {
            Ok(version) => version,
            Err(error) => {
                evaluation.unevaluated.push(error.to_string());
                continue;
            }
        };
        match evaluate_range(range, scheme, &installed_version) {
            Ok((affected, fixed, fix_exists)) => {
                evaluation.fix_exists |= fix_exists;
                if affected {
                    evaluation.affected = true;
                    evaluation.fixed = match (evaluation.fixed.take(), fixed) {
                        (Some(a), Some(b)) => Some(
                            if scheme.compare(&a, &b).unwrap_or(Ordering::Equal)
                                == Ordering::Greater
                            {
                                a
                            } else {
                                b
                            },
                        ),
                        (a, b) => a.or(b),
                    };
                }
            }
            Err(reason) => evaluation.unevaluated.push(reason),
        }
    }
    if !evaluation.affected && in_versions_list(affected, base, installed) {
        evaluation.affected = true;
    }
    evaluation
}

/// Whether `installed` is listed in `versions` (exactly, or equal in the ecosystem's order).
fn in_versions_list(affected: &Affected, base: &str, installed: &str) -> bool {
    let scheme = ecosystem::scheme(base);
    affected.versions.iter().any(|listed| {
        listed == installed
            || scheme.is_some_and(|scheme| scheme.compare(listed, installed) == Ok(Ordering::Equal))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, events: &[(&str, &str)], versions: &[&str]) -> Affected {
        let events = events
            .iter()
            .map(|(kind, version)| {
                let mut event = Event::default();
                let version = Some(version.to_string());
                match *kind {
                    "introduced" => event.introduced = version,
                    "fixed" => event.fixed = version,
                    "last_affected" => event.last_affected = version,
                    _ => event.limit = version,
                }
                event
            })
            .collect();
        Affected {
            package: None,
            severity: vec![],
            ranges: vec![Range {
                kind: kind.into(),
                events,
            }],
            versions: versions.iter().map(|v| v.to_string()).collect(),
            ecosystem_specific: None,
            database_specific: None,
        }
    }

    #[test]
    fn introduced_fixed_pairs() {
        let affected = entry(
            "SEMVER",
            &[
                ("introduced", "0"),
                ("fixed", "1.0.5"),
                ("introduced", "2.0.0"),
                ("fixed", "2.1.1"),
            ],
            &[],
        );
        let check = |version: &str| evaluate(&affected, "crates.io", version);
        assert!(check("0.1.0").affected);
        assert_eq!(check("0.1.0").fixed.as_deref(), Some("1.0.5"));
        assert!(!check("1.0.5").affected);
        assert!(!check("1.9.9").affected);
        assert!(check("2.0.0").affected);
        assert_eq!(check("2.1.0").fixed.as_deref(), Some("2.1.1"));
        assert!(!check("2.1.1").affected);
        assert!(check("2.1.1").fix_exists);
    }

    #[test]
    fn last_affected_is_inclusive() {
        let affected = entry(
            "ECOSYSTEM",
            &[("introduced", "1.0"), ("last_affected", "1.4")],
            &[],
        );
        assert!(!evaluate(&affected, "PyPI", "0.9").affected);
        assert!(evaluate(&affected, "PyPI", "1.4").affected);
        assert!(evaluate(&affected, "PyPI", "1.4.0").affected);
        assert!(!evaluate(&affected, "PyPI", "1.4.post1").affected);
        assert!(!evaluate(&affected, "PyPI", "1.4").fix_exists);
    }

    #[test]
    fn limit_caps_the_range() {
        let affected = entry("ECOSYSTEM", &[("introduced", "0"), ("limit", "2.0")], &[]);
        assert!(evaluate(&affected, "PyPI", "1.9").affected);
        assert!(!evaluate(&affected, "PyPI", "2.0").affected);
    }

    #[test]
    fn debian_epochs_and_tildes() {
        let affected = entry(
            "ECOSYSTEM",
            &[("introduced", "0"), ("fixed", "1:2.8+dfsg-6+deb9u9")],
            &[],
        );
        // Without the epoch the installed version is older than anything with epoch 1.
        assert!(evaluate(&affected, "Debian", "9.0").affected);
        assert!(evaluate(&affected, "Debian", "1:2.8+dfsg-6+deb9u8").affected);
        assert!(!evaluate(&affected, "Debian", "1:2.8+dfsg-6+deb9u9").affected);
        let tilde = entry(
            "ECOSYSTEM",
            &[("introduced", "0"), ("fixed", "91.5.0esr-1~deb10u1")],
            &[],
        );
        assert!(evaluate(&tilde, "Debian", "91.5.0esr-1~deb10u0").affected);
        assert!(!evaluate(&tilde, "Debian", "91.5.0esr-1").affected);
    }

    #[test]
    fn versions_list_and_unreadable_versions() {
        let affected = entry("GIT", &[("introduced", "abc")], &["1.0", "1.1"]);
        assert!(evaluate(&affected, "PyPI", "1.0.0").affected);
        assert!(!evaluate(&affected, "PyPI", "1.2").affected);
        let semver = entry("SEMVER", &[("introduced", "0"), ("fixed", "1.0.0")], &[]);
        let evaluation = evaluate(&semver, "npm", "not-a-version");
        assert!(!evaluation.affected);
        assert_eq!(evaluation.unevaluated.len(), 1);
    }
}
