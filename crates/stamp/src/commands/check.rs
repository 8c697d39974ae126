//! `stamp check`: match an image's inventory against the vulnerability database and report
//! findings as a table, JSON or SARIF; the verdict (deny at `--fail-on` or above) is recorded
//! as a `gate` event naming the image and the database digest.

use std::path::Path;

use stamp_core::event::{EventKind, Outcome};
use stamp_scan::cvss::Severity;
use stamp_scan::osv::VulnDb;
use stamp_scan::report::{self, sarif, ScanReport, ScannedImage};

use super::db::{database_path, staleness};
use crate::cli::{CheckArgs, CheckFormat};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, args: CheckArgs) -> anyhow::Result<u8> {
    let threshold: Severity = args.fail_on.parse().map_err(super::UsageError)?;
    let db = VulnDb::open(&database_path(home, args.db.as_deref()))?;
    let (age_days, stale) = staleness(&db.meta.snapshot_time, args.max_age_days);
    if stale {
        eprintln!(
            "warning: the vulnerability data is {} days old, over the limit of {} days",
            age_days.map(|days| days.to_string()).unwrap_or("?".into()),
            args.max_age_days
        );
    }
    let (subject, inventory) =
        super::sbom::load(home, args.image.as_deref(), args.rootfs.as_deref())?;
    super::sbom::warn_problems(&inventory);
    let report = report::scan(
        &db,
        ScannedImage {
            name: subject.name.clone(),
            digest: subject.digest.clone(),
        },
        &inventory,
    )?;
    let denied = report.at_or_above(threshold);
    let verdict = if denied > 0 { "deny" } else { "pass" };
    if args.image.is_some() {
        let home = crate::settings::home(home, None);
        let mut recorder = Recorder::open_or_init(&home)?.recorder;
        let outcome = if denied > 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let mut event = recorder
            .event(EventKind::Gate, outcome, &subject.digest)
            .detail("check", "vulnerabilities")
            .detail("verdict", verdict)
            .detail("fail_on", threshold.as_str())
            .detail("vulndb_digest", db.meta.digest.clone())
            .detail("vulndb_snapshot_time", db.meta.snapshot_time.clone())
            .detail("vulndb_stale", stale)
            .detail("components", report.summary.components as u64)
            .detail("vulnerabilities", report.summary.vulnerabilities as u64)
            .detail("denied", denied as u64)
            .detail("fixable", report.summary.fixable as u64);
        // What was known when the verdict was made: `stamp rescan` reports only what is new.
        let (names, cut) = report.vulnerability_names();
        event = event.detail("vulnerability_names", names);
        if cut {
            event = event.detail("vulnerability_names_cut", true);
        }
        if let Ok(digest) = subject.digest.parse() {
            event = event.reference(digest);
        }
        recorder.append(event)?;
    }
    match args.format {
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        CheckFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&sarif::document(&report))?
        ),
        CheckFormat::Table => print_table(&report),
    }
    eprintln!(
        "{}: {} components, {} vulnerabilities ({} fixable), {} warnings; {} at or above {}: {verdict}",
        report.image.name,
        report.summary.components,
        report.summary.vulnerabilities,
        report.summary.fixable,
        report.summary.warnings,
        denied,
        threshold.as_str()
    );
    eprintln!(
        "vulnerability database {} (snapshot {})",
        report.database.digest, report.database.snapshot_time
    );
    Ok(if denied > 0 { 1 } else { 0 })
}

fn print_table(report: &ScanReport) {
    println!(
        "{:<9} {:<22} {:<28} {:<24} {:<24}",
        "SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED"
    );
    for finding in report.vulnerabilities.iter().chain(&report.warnings) {
        let severity = if finding.code == report::CODE_VULNERABLE_PACKAGE {
            finding.severity.as_str().to_string()
        } else {
            finding
                .code
                .trim_start_matches(report::CODE_ADVISORY_PREFIX)
                .to_string()
        };
        println!(
            "{:<9} {:<22} {:<28} {:<24} {:<24}",
            severity,
            finding.id,
            finding.package.name,
            finding.installed_version,
            finding.fixed_version.as_deref().unwrap_or("-")
        );
    }
}
