//! Matching installed packages against the vulnerability database: candidates by ecosystem
//! and normalized name, the release suffix checked (`Debian:12` entries apply to Debian 12
//! only; an entry without a suffix applies to every release), ranges evaluated
//! ([`super::range`]), withdrawn advisories left out (by the database query), and records that
//! name each other as aliases merged into one match.

use std::collections::BTreeSet;

use super::db::{AdvisoryRow, QueryDbError, VulnDb};
use super::ecosystem;
use super::range;
use crate::cvss::{self, Severity};

/// One installed package to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageQuery {
    /// OSV ecosystem, with the release when the package comes from a distribution
    /// (`Debian:12`, `Alpine:v3.18`, `PyPI`, `npm`, `crates.io`).
    pub ecosystem: String,
    pub name: String,
    pub version: String,
}

/// How a match's severity was found.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Rating {
    pub severity: Severity,
    /// CVSS base score, when computed from a vector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// `CVSS_V4` or `CVSS_V3` (with the vector), `database`, or `none`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
}

/// One vulnerability affecting one package (records that alias each other merged).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Match {
    /// The id reported (an ecosystem's own id, e.g. `RUSTSEC-…`, `PYSEC-…`, `DSA-…`, preferred
    /// over `CVE-…` and `GHSA-…`).
    pub id: String,
    /// Every other id: merged records and their aliases, sorted.
    pub aliases: Vec<String>,
    pub summary: Option<String>,
    pub published: Option<String>,
    pub modified: String,
    pub url: Option<String>,
    /// The version that fixes this package's installed version, if any.
    pub fixed: Option<String>,
    pub fix_exists: bool,
    pub rating: Rating,
    /// RustSec's informational class (`unmaintained`, `unsound`, `notice`): a warning, not a
    /// vulnerability.
    pub informational: Option<String>,
    /// Ranges that could not be evaluated (unknown ecosystem order, unreadable versions).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unevaluated: Vec<String>,
}

/// Rate an advisory: the highest CVSS v4.0 base score among its vectors (the newest version
/// the advisory's authors scored), else the highest v3.x score, else its database severity.
pub fn rate(advisory: &AdvisoryRow, entry_severity: &[super::record::Severity]) -> Rating {
    let vectors: Vec<_> = advisory.severity.iter().chain(entry_severity).collect();
    // The highest score of one CVSS version, with its vector.
    let best = |kind: &str, score: fn(&str) -> Result<f64, cvss::CvssError>| {
        vectors
            .iter()
            .filter(|severity| severity.kind == kind)
            .filter_map(|severity| Some((score(&severity.score).ok()?, severity.score.clone())))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    for (kind, scored) in [
        ("CVSS_V4", best("CVSS_V4", cvss::v4_base_score)),
        ("CVSS_V3", best("CVSS_V3", cvss::v3_base_score)),
    ] {
        if let Some((score, vector)) = scored {
            return Rating {
                severity: Severity::from_score(score),
                score: Some(score),
                source: kind.into(),
                vector: Some(vector),
            };
        }
    }
    if let Some(label) = &advisory.database_severity {
        let severity = Severity::from_label(label);
        if severity != Severity::Unknown {
            return Rating {
                severity,
                score: None,
                source: "database".into(),
                vector: None,
            };
        }
    }
    Rating {
        severity: Severity::Unknown,
        score: None,
        source: "none".into(),
        vector: None,
    }
}

/// Ids that name the vulnerability class rather than one ecosystem's advisory.
fn is_cross_ecosystem_id(id: &str) -> bool {
    id.starts_with("CVE-") || id.starts_with("GHSA-") || id.starts_with("OSV-")
}

/// The advisories in `db` that affect `query`.
pub fn match_package(db: &VulnDb, query: &PackageQuery) -> Result<Vec<Match>, QueryDbError> {
    let (base, release) = ecosystem::split(&query.ecosystem);
    let name = ecosystem::normalize_name(base, &query.name);
    let mut single = Vec::new();
    for candidate in db.candidates(base, &name)? {
        if !candidate.release.is_empty() && candidate.release != release {
            continue;
        }
        let evaluation = range::evaluate(&candidate.entry, base, &query.version);
        if !evaluation.affected {
            continue;
        }
        let advisory = &candidate.advisory;
        single.push(Match {
            id: advisory.id.clone(),
            aliases: advisory.aliases.clone(),
            summary: advisory.summary.clone(),
            published: advisory.published.clone(),
            modified: advisory.modified.clone(),
            url: advisory.url.clone(),
            fixed: evaluation.fixed,
            fix_exists: evaluation.fix_exists,
            rating: rate(advisory, &candidate.entry.severity),
            informational: candidate.entry.informational(),
            unevaluated: evaluation.unevaluated,
        });
    }
    Ok(merge_aliases(single))
}

/// Merge matches whose ids or aliases overlap (one advisory listed in two databases, or one
/// record with two affected entries for the same package).
pub fn merge_aliases(matches: Vec<Match>) -> Vec<Match> {
    let mut groups: Vec<(BTreeSet<String>, Vec<Match>)> = Vec::new();
    for found in matches {
        let names: BTreeSet<String> = std::iter::once(found.id.clone())
            .chain(found.aliases.iter().cloned())
            .collect();
        let overlapping: Vec<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, (group_names, _))| !group_names.is_disjoint(&names))
            .map(|(index, _)| index)
            .collect();
        let mut merged_names = names;
        let mut merged = vec![found];
        for index in overlapping.into_iter().rev() {
            let (names, matches) = groups.remove(index);
            merged_names.extend(names);
            merged.extend(matches);
        }
        groups.push((merged_names, merged));
    }
    let mut result: Vec<Match> = groups
        .into_iter()
        .map(|(names, mut members)| {
            members.sort_by(|a, b| {
                is_cross_ecosystem_id(&a.id)
                    .cmp(&is_cross_ecosystem_id(&b.id))
                    .then_with(|| a.id.cmp(&b.id))
            });
            let mut primary = members.remove(0);
            for other in members {
                if other.rating.severity > primary.rating.severity {
                    primary.rating = other.rating;
                }
                primary.fix_exists |= other.fix_exists;
                primary.fixed = primary.fixed.or(other.fixed);
                primary.published = match (primary.published, other.published) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                primary.summary = primary.summary.or(other.summary);
                primary.url = primary.url.or(other.url);
                primary.informational = primary.informational.or(other.informational);
                primary.unevaluated.extend(other.unevaluated);
            }
            primary.aliases = names
                .into_iter()
                .filter(|name| *name != primary.id)
                .collect();
            primary
        })
        .collect();
    result.sort_by(|a, b| a.id.cmp(&b.id));
    result
}
