//! Findings: the result of matching an inventory against the vulnerability database, as data
//! (not errors), each with a stable code, a severity and the PCI DSS requirements it serves.
//! Rendered as JSON (the [`ScanReport`] itself) or SARIF 2.1.0 ([`sarif`]). Every report names
//! the database digest and snapshot time, so a verdict can be recomputed later with the same
//! data.

pub mod sarif;

use std::collections::BTreeMap;

use crate::cvss::Severity;
use crate::inventory::{Component, Inventory, Problem};
use crate::osv::db::{QueryDbError, VulnDb};
use crate::osv::matching::{match_package, Match, Rating};

/// Finding code of a vulnerability that affects an installed package.
pub const CODE_VULNERABLE_PACKAGE: &str = "vulnerable-package";
/// Finding code prefix of informational advisories (`advisory-unmaintained`, …).
pub const CODE_ADVISORY_PREFIX: &str = "advisory-";

/// The package a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PackageRef {
    #[serde(rename = "type")]
    pub package_type: String,
    pub name: String,
    pub version: String,
    pub purl: String,
    /// The name and version the advisory was matched on (the source package for dpkg).
    pub matched_as: String,
    pub locations: Vec<String>,
}

/// One vulnerability (or informational advisory) in one package.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Finding {
    pub code: String,
    pub id: String,
    pub aliases: Vec<String>,
    pub package: PackageRef,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub fix_exists: bool,
    pub severity: Severity,
    pub rating: Rating,
    pub summary: Option<String>,
    pub published: Option<String>,
    pub modified: String,
    pub url: Option<String>,
    /// PCI DSS v4.0.1 requirements: 6.3.1 (identified and ranked), 6.3.3 (a fix exists and
    /// must be applied within the patch window).
    pub pci: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unevaluated: Vec<String>,
}

/// What was scanned.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ScannedImage {
    pub name: String,
    pub digest: String,
}

/// The database a report was computed with.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseRef {
    pub digest: String,
    pub snapshot_time: String,
    pub imported_at: String,
}

/// Counts for a summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub components: usize,
    /// Components that could not be matched (no known ecosystem, e.g. a dpkg package on an
    /// unknown distribution, or a Cargo path dependency).
    pub unmatched_components: usize,
    pub vulnerabilities: usize,
    pub warnings: usize,
    pub fixable: usize,
    pub by_severity: BTreeMap<Severity, usize>,
}

/// The result of one check.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScanReport {
    pub image: ScannedImage,
    pub database: DatabaseRef,
    pub summary: Summary,
    pub vulnerabilities: Vec<Finding>,
    pub warnings: Vec<Finding>,
    pub problems: Vec<Problem>,
}

fn finding(component: &Component, matched_as: String, found: Match) -> Finding {
    let code = match &found.informational {
        Some(kind) => format!("{CODE_ADVISORY_PREFIX}{kind}"),
        None => CODE_VULNERABLE_PACKAGE.to_string(),
    };
    let mut pci = vec!["6.3.1"];
    if found.fix_exists && found.informational.is_none() {
        pci.push("6.3.3");
    }
    Finding {
        code,
        id: found.id,
        aliases: found.aliases,
        package: PackageRef {
            package_type: component.package_type.as_str().to_string(),
            name: component.name.clone(),
            version: component.version.clone(),
            purl: component.purl.clone(),
            matched_as,
            locations: component.locations.clone(),
        },
        installed_version: component.version.clone(),
        fixed_version: found.fixed,
        fix_exists: found.fix_exists,
        severity: found.rating.severity,
        rating: found.rating,
        summary: found.summary,
        published: found.published,
        modified: found.modified,
        url: found.url,
        pci,
        unevaluated: found.unevaluated,
    }
}

/// Match every component of `inventory` against `db`.
pub fn scan(
    db: &VulnDb,
    image: ScannedImage,
    inventory: &Inventory,
) -> Result<ScanReport, QueryDbError> {
    let mut report = ScanReport {
        image,
        database: DatabaseRef {
            digest: db.meta.digest.clone(),
            snapshot_time: db.meta.snapshot_time.clone(),
            imported_at: db.meta.imported_at.clone(),
        },
        summary: Summary {
            components: inventory.components.len(),
            ..Summary::default()
        },
        vulnerabilities: Vec::new(),
        warnings: Vec::new(),
        problems: inventory.problems.clone(),
    };
    for component in &inventory.components {
        let Some(query) = component.query(inventory.distro.as_ref()) else {
            report.summary.unmatched_components += 1;
            continue;
        };
        let matched_as = format!("{} {} {}", query.ecosystem, query.name, query.version);
        for found in match_package(db, &query)? {
            let finding = finding(component, matched_as.clone(), found);
            if finding.code == CODE_VULNERABLE_PACKAGE {
                report.vulnerabilities.push(finding);
            } else {
                report.warnings.push(finding);
            }
        }
    }
    let order = |a: &Finding, b: &Finding| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package.name.cmp(&b.package.name))
            .then_with(|| a.id.cmp(&b.id))
    };
    report.vulnerabilities.sort_by(order);
    report.warnings.sort_by(order);
    report.summary.vulnerabilities = report.vulnerabilities.len();
    report.summary.warnings = report.warnings.len();
    report.summary.fixable = report
        .vulnerabilities
        .iter()
        .filter(|finding| finding.fixed_version.is_some())
        .count();
    for finding in &report.vulnerabilities {
        *report
            .summary
            .by_severity
            .entry(finding.severity)
            .or_default() += 1;
    }
    Ok(report)
}

impl ScanReport {
    /// Vulnerabilities at or above `threshold` (the gate's deny level).
    pub fn at_or_above(&self, threshold: Severity) -> usize {
        self.vulnerabilities
            .iter()
            .filter(|finding| finding.severity >= threshold)
            .count()
    }
}

/// Most advisory names (ids and aliases) a gate event records for later rescans; past it the
/// list is cut and the event says so (events are limited to 1 MiB).
pub const RECORDED_NAMES_MAX: usize = 20_000;

impl Finding {
    /// The advisory's id and aliases.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

impl ScanReport {
    /// Every id and alias of the vulnerabilities found, sorted, at most
    /// [`RECORDED_NAMES_MAX`]; `true` when the list was cut.
    pub fn vulnerability_names(&self) -> (Vec<String>, bool) {
        let names: std::collections::BTreeSet<&str> = self
            .vulnerabilities
            .iter()
            .flat_map(Finding::names)
            .collect();
        let cut = names.len() > RECORDED_NAMES_MAX;
        (
            names
                .into_iter()
                .take(RECORDED_NAMES_MAX)
                .map(str::to_string)
                .collect(),
            cut,
        )
    }

    /// Vulnerabilities none of whose names (id or aliases) is in `known`: what a rescan
    /// reports as new.
    pub fn new_vulnerabilities<'a>(
        &'a self,
        known: &'a std::collections::BTreeSet<String>,
    ) -> impl Iterator<Item = &'a Finding> + 'a {
        self.vulnerabilities
            .iter()
            .filter(move |finding| !finding.names().any(|name| known.contains(name)))
    }
}
