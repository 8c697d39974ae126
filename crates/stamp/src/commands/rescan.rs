//! `stamp rescan`: re-match images that are approved, promoted or deployed (or the ones named)
//! against the current vulnerability database (PCI DSS 6.3.1, 11.3.1). Each vulnerability not
//! known at the image's last gate or rescan becomes a `rescan` event carrying the advisory's
//! published date and the fixed version, so the patch latency of 6.3.3 can be computed from the
//! log; one summary `rescan` event per image records the run itself.
//! The output shows each image's exposure by all its findings: worst severity, how many have a
//! fix, and the critical ones with a fix whose advisory is older than the 6.3.3 patch window.
//! Data older than `--max-age-days` is a `control.failure` event (PCI DSS 10.7.2).
//!
//! The inventory is the image's stored SBOM (its newest verified CycloneDX SBOM attestation),
//! or, for an image without one, read again from its layers: images are immutable, so both
//! describe the same components.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use stamp_core::event::{EventKind, Outcome};
use stamp_image::Store;
use stamp_scan::cvss::Severity;
use stamp_scan::osv::VulnDb;
use stamp_scan::report::{self, Finding, ScannedImage};

use super::db::{database_path, record_stale, staleness, CONTROL_VULNDB_FRESHNESS};
use super::exposure::{Exposure, ImageInventory, Inventories, InventorySource};
use crate::cli::{OutputFormat, RescanArgs};
use crate::recorder::Recorder;

/// What the log says about images: which are in use, and which advisories each already had.
#[derive(Default)]
struct Known {
    in_use: BTreeSet<String>,
    names: BTreeMap<String, BTreeSet<String>>,
}

fn read_known(recorder: &Recorder) -> anyhow::Result<Known> {
    let mut known = Known::default();
    super::signing::scan_events(&recorder.log, |_, event| {
        let subject = event.subject().to_string();
        let strings = |key: &str| -> Vec<String> {
            event
                .details()
                .get(key)
                .and_then(|value| value.as_array())
                .into_iter()
                .flatten()
                .filter_map(|value| value.as_str().map(str::to_string))
                .collect()
        };
        match event.kind() {
            EventKind::Approve | EventKind::Promote | EventKind::Deploy
                if event.outcome() == Outcome::Success =>
            {
                known.in_use.insert(subject);
            }
            EventKind::Gate => {
                known
                    .names
                    .entry(subject)
                    .or_default()
                    .extend(strings("vulnerability_names"));
            }
            EventKind::Rescan => {
                let names = known.names.entry(subject).or_default();
                if let Some(id) = event.details().get("id").and_then(|id| id.as_str()) {
                    names.insert(id.to_string());
                }
                names.extend(strings("aliases"));
            }
            _ => {}
        }
        false
    })?;
    Ok(known)
}

#[derive(serde::Serialize)]
struct ImageResult<'a> {
    image: String,
    digest: String,
    vulnerabilities: usize,
    new: Vec<&'a Finding>,
    exposure: Exposure,
    /// Where the components came from: the signed SBOM, or the layers.
    inventory_source: InventorySource,
}

pub fn run(home: Option<&Path>, args: RescanArgs) -> anyhow::Result<u8> {
    let threshold: Severity = args.fail_on.parse().map_err(super::UsageError)?;
    let db = VulnDb::open(&database_path(home, args.db.as_deref()))?;
    let (age_days, stale) = staleness(&db.meta.snapshot_time, args.max_age_days);
    let stamp_home = crate::settings::home(home, None);
    let store = Store::open(&stamp_home)
        .with_context(|| format!("opening the store at `{}`", stamp_home.display()))?;
    let mut recorder = Recorder::open(&stamp_home)?;
    if stale {
        eprintln!(
            "warning: the vulnerability data is {} days old, over the limit of {} days; a rescan against it finds only what it knows",
            age_days.map(|days| days.to_string()).unwrap_or("?".into()),
            args.max_age_days
        );
        // A failed control (PCI DSS 10.7.2); the rescan still runs.
        record_stale(&mut recorder, &db, age_days, args.max_age_days, "rescan")?;
        eprintln!("recorded a control.failure event ({CONTROL_VULNDB_FRESHNESS})");
    }
    let known = read_known(&recorder)?;
    let mut targets: Vec<(String, String)> = Vec::new();
    if !args.images.is_empty() {
        for reference in &args.images {
            let image = store.resolve(reference)?;
            targets.push((reference.clone(), image.digest.to_string()));
        }
    } else if args.all {
        for image in store.images()? {
            let name = image.reference.unwrap_or_else(|| image.digest.to_string());
            targets.push((name, image.digest.to_string()));
        }
    } else {
        for digest in &known.in_use {
            targets.push((digest.clone(), digest.clone()));
        }
    }
    targets.sort();
    targets.dedup_by(|a, b| a.1 == b.1);
    if targets.is_empty() {
        eprintln!("no approved or deployed image to rescan");
        eprintln!("hint: name images (`stamp rescan IMAGE`) or pass --all");
    }
    let empty = BTreeSet::new();
    let mut reports = Vec::new();
    let inventories = Inventories::open(&stamp_home)?;
    for (name, digest) in &targets {
        let digest_value: stamp_core::Digest = digest.parse()?;
        let ImageInventory {
            source, inventory, ..
        } = inventories.of(&digest_value)?;
        let report = report::scan(
            &db,
            ScannedImage {
                name: name.clone(),
                digest: digest.clone(),
            },
            &inventory,
        )?;
        reports.push((report, source));
    }
    let now = time::OffsetDateTime::now_utc();
    let mut results = Vec::new();
    let mut denied = 0;
    for (report, source) in &reports {
        let known_names = known.names.get(&report.image.digest).unwrap_or(&empty);
        let new: Vec<&Finding> = report.new_vulnerabilities(known_names).collect();
        for finding in &new {
            if finding.severity >= threshold {
                denied += 1;
            }
            let event = recorder
                .event(EventKind::Rescan, Outcome::Success, &report.image.digest)
                .detail("id", finding.id.clone())
                .detail("aliases", finding.aliases.clone())
                .detail("purl", finding.package.purl.clone())
                .detail("installed_version", finding.installed_version.clone())
                .detail(
                    "fixed_version",
                    finding
                        .fixed_version
                        .clone()
                        .map(serde_json::Value::from)
                        .unwrap_or(serde_json::Value::Null),
                )
                .detail("fix_exists", finding.fix_exists)
                .detail("severity", finding.severity.as_str())
                .detail(
                    "published",
                    finding
                        .published
                        .clone()
                        .map(serde_json::Value::from)
                        .unwrap_or(serde_json::Value::Null),
                )
                .detail("modified", finding.modified.clone())
                .detail("vulndb_digest", db.meta.digest.clone());
            recorder.append(event)?;
        }
        let summary = recorder
            .event(EventKind::Rescan, Outcome::Success, &report.image.digest)
            .detail("summary", true)
            .detail("vulnerabilities", report.summary.vulnerabilities as u64)
            .detail("new", new.len() as u64)
            .detail("vulndb_digest", db.meta.digest.clone())
            .detail("vulndb_snapshot_time", db.meta.snapshot_time.clone())
            .detail("inventory_source", serde_json::to_value(source)?);
        recorder.append(summary)?;
        results.push(ImageResult {
            image: report.image.name.clone(),
            digest: report.image.digest.clone(),
            vulnerabilities: report.summary.vulnerabilities,
            new,
            exposure: Exposure::of(&report.vulnerabilities, now),
            inventory_source: *source,
        });
    }
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "database": {"digest": db.meta.digest, "snapshot_time": db.meta.snapshot_time},
                "images": results,
            }))?
        ),
        OutputFormat::Text => {
            for result in &results {
                println!(
                    "{}  {}: {} vulnerabilities, {} new",
                    result.digest,
                    result.image,
                    result.vulnerabilities,
                    result.new.len()
                );
                println!("  {}", result.exposure.describe());
                for finding in &result.new {
                    println!(
                        "  new {:<9} {:<22} {} {} (fixed: {})",
                        finding.severity.as_str(),
                        finding.id,
                        finding.package.name,
                        finding.installed_version,
                        finding.fixed_version.as_deref().unwrap_or("-")
                    );
                }
            }
        }
    }
    Ok(if denied > 0 { 1 } else { 0 })
}
