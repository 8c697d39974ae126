//! `stamp check`: match an image's inventory against the vulnerability database and, for an
//! image, scan every layer for card numbers and secrets ([`super::gate`]); report findings as
//! a table, JSON or SARIF. The verdict (deny at `--fail-on` or above, on a card number outside
//! the test numbers, on any secret; approved exceptions lifted) is a signed gate attestation
//! and a `gate` event naming the image, the database digest and the rule-set digest.
//! The PCI configuration audit (`stamp_audit`, Rego rules over the image's facts, see
//! docs/audit.md) joins the same verdict: a failed rule at or above `[check] audit_fail_on`
//! (default high) denies; the `[check]` table comes from `--spec PATH` or `./stamp.toml`.

use std::path::Path;

use serde::Serialize;
use stamp_attest::facts::detail;
use stamp_core::event::{EventKind, Outcome};
use stamp_core::Digest;
use stamp_scan::cvss::Severity;
use stamp_scan::osv::VulnDb;
use stamp_scan::pan::{CODE_PAN_DETECTED, CODE_PAN_TEST_NUMBER};
use stamp_scan::report::{self, sarif, ScanReport, ScannedImage};

use super::db::{database_path, record_stale, staleness, CONTROL_VULNDB_FRESHNESS};
use super::gate::GateVerdict;
use super::signing::Signed;
use crate::cli::{CheckArgs, CheckFormat};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, key: Option<&str>, args: CheckArgs) -> anyhow::Result<u8> {
    let threshold: Severity = args.fail_on.parse().map_err(super::UsageError)?;
    let db = VulnDb::open(&database_path(home, args.db.as_deref()))?;
    let (age_days, stale) = staleness(&db.meta.snapshot_time, args.max_age_days);
    if stale {
        eprintln!(
            "warning: the vulnerability data is {} days old, over the limit of {} days",
            age_days.map(|days| days.to_string()).unwrap_or("?".into()),
            args.max_age_days
        );
        // Matching against stale data is a failed control (PCI DSS 10.7.2); the check still
        // runs. A `--rootfs` check records it only where a log already exists.
        let stamp_home = crate::settings::home(home, None);
        let recorder = if args.image.is_some() {
            Some(Recorder::open_or_init(&stamp_home)?.recorder)
        } else {
            Recorder::open(&stamp_home).ok()
        };
        if let Some(mut recorder) = recorder {
            record_stale(&mut recorder, &db, age_days, args.max_age_days, "check")?;
            eprintln!("recorded a control.failure event ({CONTROL_VULNDB_FRESHNESS})");
        }
    }
    let check_spec = load_check_spec(args.spec.as_deref())?;
    let (subject, inventory) =
        super::sbom::load(home, args.image.as_deref(), args.rootfs.as_deref())?;
    let audit_input = super::gate::AuditInput {
        policies: check_spec.policies.as_deref(),
        fail_on: &check_spec.audit_fail_on,
        inventory: &inventory,
    };
    super::sbom::warn_problems(&inventory);
    let report = report::scan(
        &db,
        ScannedImage {
            name: subject.name.clone(),
            digest: subject.digest.clone(),
        },
        &inventory,
    )?;
    let mut denied = report.at_or_above(threshold);
    let mut gate = None;
    if args.image.is_some() {
        let home = crate::settings::home(home, None);
        let mut recorder = Recorder::open_or_init(&home)?.recorder;
        let image_digest: Digest = subject.digest.parse()?;
        let verdict = super::gate::evaluate(
            &home,
            &subject.name,
            &image_digest,
            &report,
            threshold,
            &recorder,
            &audit_input,
        )?;
        denied = verdict.denied() as usize;
        let signed = super::gate::attest(&home, key, &mut recorder, &image_digest, &verdict)?;
        let outcome = if denied > 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let mut event = recorder
            .event(EventKind::Gate, outcome, &subject.digest)
            .detail(
                "check",
                "vulnerabilities,card-numbers,secrets,configuration",
            )
            .detail("verdict", verdict.verdict.clone())
            .detail("fail_on", threshold.as_str())
            .detail("vulndb_digest", db.meta.digest.clone())
            .detail("vulndb_snapshot_time", db.meta.snapshot_time.clone())
            .detail("vulndb_stale", stale)
            .detail("components", report.summary.components as u64)
            .detail("vulnerabilities", report.summary.vulnerabilities as u64)
            .detail("denied", denied as u64)
            .detail("fixable", report.summary.fixable as u64)
            .detail("rule_set_digest", verdict.rule_set.digest.clone())
            .detail(
                "audit_rule_set_digest",
                verdict
                    .audit
                    .as_ref()
                    .map(|audit| audit.rule_set.digest.clone())
                    .unwrap_or_default(),
            )
            .detail(
                "audit_user_rules_digest",
                verdict
                    .audit
                    .as_ref()
                    .and_then(|audit| audit.user_rules.as_ref())
                    .map(|rules| rules.digest.clone())
                    .unwrap_or_default(),
            )
            .detail("counts", serde_json::to_value(&verdict.counts)?)
            .detail(
                "exceptions",
                verdict
                    .exceptions
                    .iter()
                    .map(|exception| exception.id.clone())
                    .collect::<Vec<_>>(),
            );
        if let Some(signed) = &signed {
            event = event
                .detail(detail::ATTESTATION, signed.detail())
                .reference(signed.referrer.manifest)
                .reference(signed.referrer.envelope);
        }
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
        gate = Some((verdict, signed));
    } else if let Some(root) = &args.rootfs {
        let verdict = super::gate::evaluate_rootfs(root, &report, threshold, &audit_input)?;
        denied = verdict.denied() as usize;
        gate = Some((verdict, None));
    }
    let verdict = if denied > 0 { "deny" } else { "pass" };
    match args.format {
        CheckFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&CheckOutput {
                report: &report,
                gate: gate.as_ref().map(|(verdict, signed)| GateOutput {
                    verdict,
                    attestation: signed.as_ref().map(Signed::detail),
                }),
            })?
        ),
        CheckFormat::Sarif => {
            let mut document = sarif::document(&report);
            if let Some((verdict, _)) = &gate {
                super::gate::add_to_sarif(&mut document, verdict);
            }
            println!("{}", serde_json::to_string_pretty(&document)?)
        }
        CheckFormat::Table => {
            print_table(&report);
            if let Some((verdict, _)) = &gate {
                print_sensitive_table(verdict);
                print_audit_table(verdict);
            }
        }
    }
    if let Some((verdict, signed)) = &gate {
        eprintln!(
            "card numbers: {} ({} test numbers), secrets: {}, excepted: {}, scan problems: {}",
            verdict.counts.get(CODE_PAN_DETECTED).copied().unwrap_or(0),
            verdict
                .counts
                .get(CODE_PAN_TEST_NUMBER)
                .copied()
                .unwrap_or(0),
            verdict
                .counts
                .iter()
                .filter(|(code, _)| code.starts_with("secret-"))
                .map(|(_, count)| count)
                .sum::<u64>(),
            verdict.counts.get("excepted").copied().unwrap_or(0),
            verdict.problems.len()
        );
        if let Some(audit) = &verdict.audit {
            let count = |status: &str| {
                verdict
                    .counts
                    .get(&format!("audit-{status}"))
                    .copied()
                    .unwrap_or(0)
            };
            eprintln!(
                "configuration audit: {} pass, {} fail ({} denied at or above {}), {} not applicable; rule set {}",
                count("pass"),
                count("fail"),
                count("denied"),
                audit.fail_on,
                count("not-applicable"),
                audit.rule_set.digest
            );
        }
        if let Some(signed) = signed {
            eprintln!("gate attestation {}", signed.referrer.manifest);
        }
    }
    eprintln!(
        "{}: {} components, {} vulnerabilities ({} fixable), {} warnings; {} denied at or above {}: {verdict}",
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

/// `stamp check --format json`: the vulnerability report, and for an image the gate.
#[derive(Serialize)]
struct CheckOutput<'a> {
    #[serde(flatten)]
    report: &'a ScanReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    gate: Option<GateOutput<'a>>,
}

#[derive(Serialize)]
struct GateOutput<'a> {
    #[serde(flatten)]
    verdict: &'a GateVerdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestation: Option<serde_json::Value>,
}

fn print_sensitive_table(verdict: &GateVerdict) {
    if verdict.findings.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<9} {:<36} {:<22} {:<6} LOCATION",
        "SEVERITY", "CODE", "VALUE (MASKED)", "GATE"
    );
    for gated in &verdict.findings {
        let finding = &gated.finding;
        let gate = match (&gated.exception, gated.denied) {
            (Some(_), _) => "except",
            (None, true) => "deny",
            (None, false) => "warn",
        };
        let layer = finding
            .location
            .layer
            .as_deref()
            .map(|layer| format!("{}:", &layer[..layer.len().min(19)]))
            .unwrap_or_default();
        println!(
            "{:<9} {:<36} {:<22} {:<6} {layer}{}:{}{}{}",
            finding.severity.as_str(),
            finding.code,
            finding.masked,
            gate,
            finding.location.path,
            finding.location.line,
            if finding.location.in_gzip {
                " (gzip)"
            } else {
                ""
            },
            if finding.location.hidden_by_later_layer {
                " (deleted by a later layer)"
            } else {
                ""
            }
        );
    }
}

/// The `[check]` table of `--spec PATH`, else of `./stamp.toml` when it exists, else the
/// defaults (built-in rules only, configuration findings of high severity or more deny).
fn load_check_spec(spec: Option<&Path>) -> anyhow::Result<stamp_image::spec::CheckSpec> {
    let path = match spec {
        Some(path) => path.to_path_buf(),
        None => {
            let default = Path::new("stamp.toml");
            if !default.is_file() {
                return Ok(stamp_image::spec::CheckSpec::default());
            }
            default.to_path_buf()
        }
    };
    Ok(stamp_image::spec::load_check(&path)?)
}

fn print_audit_table(verdict: &GateVerdict) {
    let Some(audit) = &verdict.audit else {
        return;
    };
    println!();
    println!(
        "{:<15} {:<9} {:<34} {:<14} {:<6} DETAIL",
        "AUDIT", "SEVERITY", "CODE", "PCI", "GATE"
    );
    for gated in &audit.results {
        let result = &gated.result;
        let gate = match (&gated.exception, gated.denied, result.status) {
            (Some(_), _, _) => "except",
            (None, true, _) => "deny",
            (None, false, stamp_audit::Status::Fail) => "warn",
            _ => "-",
        };
        let detail = match result.status {
            stamp_audit::Status::NotApplicable => result.reason.clone().unwrap_or_default(),
            stamp_audit::Status::Pass => result.title.clone(),
            stamp_audit::Status::Fail => {
                let mut text = result
                    .items
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ");
                if result.failed_items > 3 {
                    text.push_str(&format!("; … {} in all", result.failed_items));
                }
                text
            }
        };
        println!(
            "{:<15} {:<9} {:<34} {:<14} {:<6} {detail}",
            result.status.as_str(),
            result.severity.as_str(),
            result.code,
            result.pci.join(","),
            gate,
        );
    }
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
