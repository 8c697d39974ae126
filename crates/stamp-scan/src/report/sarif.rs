//! SARIF 2.1.0 (OASIS, <https://docs.oasis-open.org/sarif/sarif/v2.1.0/>): one run, one rule
//! per advisory id, one result per (advisory, package). Levels: critical and high `error`,
//! medium `warning`, the rest `note`. `security-severity` carries the CVSS score (or a
//! representative score for a qualitative rating) as code-scanning tools expect.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{Finding, ScanReport};
use crate::cvss::Severity;
use crate::sbom::{TOOL_NAME, TOOL_VERSION};

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        _ => "note",
    }
}

fn security_severity(finding: &Finding) -> String {
    let score = finding.rating.score.unwrap_or(match finding.severity {
        Severity::Critical => 9.5,
        Severity::High => 8.0,
        Severity::Medium => 5.5,
        Severity::Low => 2.0,
        Severity::None | Severity::Unknown => 0.0,
    });
    format!("{score:.1}")
}

/// The SARIF log of `report`.
pub fn document(report: &ScanReport) -> Value {
    let findings: Vec<&Finding> = report
        .vulnerabilities
        .iter()
        .chain(&report.warnings)
        .collect();
    let mut rules: BTreeMap<&str, (usize, Value)> = BTreeMap::new();
    for finding in &findings {
        if rules.contains_key(finding.id.as_str()) {
            continue;
        }
        let text = finding
            .summary
            .clone()
            .unwrap_or_else(|| format!("{} affects {}", finding.id, finding.package.name));
        let mut rule = json!({
            "id": finding.id,
            "name": finding.code,
            "shortDescription": {"text": text},
            "properties": {
                "security-severity": security_severity(finding),
                "tags": ["security", "vulnerability", finding.code],
                "aliases": finding.aliases,
            },
        });
        if let Some(url) = &finding.url {
            rule["helpUri"] = json!(url);
        }
        rules.insert(&finding.id, (0, rule));
    }
    for (index, (_, (position, _))) in rules.iter_mut().enumerate() {
        *position = index;
    }
    let results: Vec<Value> = findings
        .iter()
        .map(|finding| {
            let fix = match &finding.fixed_version {
                Some(fixed) => format!("; fixed in {fixed}"),
                None if finding.fix_exists => "; a fix exists on another branch".into(),
                None => "; no fix yet".into(),
            };
            let location = finding
                .package
                .locations
                .first()
                .map(|path| path.trim_start_matches('/').to_string())
                .unwrap_or_default();
            json!({
                "ruleId": finding.id,
                "ruleIndex": rules[finding.id.as_str()].0,
                "level": level(finding.severity),
                "message": {"text": format!(
                    "{} {} is affected by {} ({}){}",
                    finding.package.name, finding.installed_version, finding.id,
                    finding.severity.as_str(), fix
                )},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": location}},
                    "logicalLocations": [{"name": finding.package.purl, "kind": "package"}],
                }],
                "partialFingerprints": {
                    "stampFinding/v1": format!("{}|{}", finding.id, finding.package.purl),
                },
                "properties": {
                    "code": finding.code,
                    "purl": finding.package.purl,
                    "installedVersion": finding.installed_version,
                    "fixedVersion": finding.fixed_version,
                    "severity": finding.severity.as_str(),
                    "pci": finding.pci,
                },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": TOOL_NAME,
                "version": TOOL_VERSION,
                "rules": rules.into_values().map(|(_, rule)| rule).collect::<Vec<_>>(),
            }},
            "automationDetails": {"id": format!("stamp-check/{}", report.image.digest)},
            "results": results,
            "properties": {
                "imageDigest": report.image.digest,
                "imageName": report.image.name,
                "vulnerabilityDatabaseDigest": report.database.digest,
                "vulnerabilityDatabaseSnapshot": report.database.snapshot_time,
            },
        }],
    })
}
