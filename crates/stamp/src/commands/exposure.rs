//! Exposure of images to known vulnerabilities (PCI DSS 6.3.1, 6.3.3): how many findings an
//! image has against the current database, the worst severity, how many have a fix, and the
//! critical ones with a fix whose advisory is older than the 6.3.3 patch window.
//!
//! `stamp rescan` computes it for the images it re-matches; `stamp status` for the digests
//! that instances run, from each image's **signed SBOM attestation** (the newest verified
//! CycloneDX SBOM attached with `stamp sbom IMAGE --attach`), or, for an image without one,
//! from its layers in the store (the same inventory: images are immutable). Reading exposure
//! records nothing: it reads the store and the vulnerability database only.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use serde_json::{json, Map, Value};
use stamp_attest::referrers::{read_envelope, referrers};
use stamp_attest::{verify_attestation, Trust};
use stamp_core::Digest;
use stamp_image::Store;
use stamp_scan::cvss::Severity;
use stamp_scan::inventory::{self, Component, Distro, Files, Inventory, PackageType};
use stamp_scan::osv::import::parse_time;
use stamp_scan::osv::VulnDb;
use stamp_scan::report::{self, Finding, ScannedImage};

use super::attestations::open_facts;
use super::db::database_path;
use super::sbom::PREDICATE_TYPE_CYCLONEDX;
use super::signing::trust_path;

/// PCI DSS 6.3.3: critical vulnerabilities are patched within one month of the fix's release.
pub const PATCH_WINDOW_DAYS: i64 = 30;

/// Most components read from one SBOM attestation.
pub const SBOM_COMPONENTS_MAX: usize = 1_000_000;

/// Whether an image is exposed to known vulnerabilities by the current database, all findings
/// counted.
#[derive(Debug, serde::Serialize)]
pub struct Exposure {
    pub exposed: bool,
    /// Highest severity among the findings; `null` when none.
    pub worst_severity: Option<Severity>,
    pub vulnerabilities: usize,
    /// Findings for which a fixed version exists.
    pub fixable: usize,
    /// Critical findings with a fix whose advisory was published more than
    /// [`PATCH_WINDOW_DAYS`] ago (the advisory's `published` date; OSV records no fix date).
    pub critical_fix_overdue: Vec<String>,
    /// PCI DSS 6.3.3 is breached: `critical_fix_overdue` is not empty.
    pub pci_6_3_3_overdue: bool,
}

impl Exposure {
    pub fn of(findings: &[Finding], now: time::OffsetDateTime) -> Exposure {
        let window = time::Duration::days(PATCH_WINDOW_DAYS);
        let critical_fix_overdue: Vec<String> = findings
            .iter()
            .filter(|finding| finding.severity == Severity::Critical && finding.fix_exists)
            .filter(|finding| {
                finding
                    .published
                    .as_deref()
                    .and_then(parse_time)
                    .is_some_and(|published| now - published > window)
            })
            .map(|finding| finding.id.clone())
            .collect();
        Exposure {
            exposed: !findings.is_empty(),
            worst_severity: findings.iter().map(|finding| finding.severity).max(),
            vulnerabilities: findings.len(),
            fixable: findings.iter().filter(|finding| finding.fix_exists).count(),
            pci_6_3_3_overdue: !critical_fix_overdue.is_empty(),
            critical_fix_overdue,
        }
    }

    /// One line: `exposed: worst critical, 1 of 1 with a fix available…` or `not exposed…`.
    pub fn describe(&self) -> String {
        match self.worst_severity {
            Some(worst) if self.exposed => format!(
                "exposed: worst {}, {} of {} with a fix available{}",
                worst.as_str(),
                self.fixable,
                self.vulnerabilities,
                if self.pci_6_3_3_overdue {
                    format!(
                        "; PCI 6.3.3 overdue: {} critical with a fix, advisory published over {PATCH_WINDOW_DAYS} days ago ({})",
                        self.critical_fix_overdue.len(),
                        self.critical_fix_overdue.join(", ")
                    )
                } else {
                    String::new()
                }
            ),
            _ => "not exposed to known vulnerabilities".to_string(),
        }
    }
}

/// Where the components of an image were read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InventorySource {
    /// A verified CycloneDX SBOM attestation attached to the image.
    SbomAttestation,
    /// The image's layers in the store (no verified SBOM attestation is attached).
    ImageLayers,
}

/// A verified SBOM attestation: its envelope digest and the CycloneDX document.
type SignedSbom = (Digest, Map<String, Value>);

/// The newest verified CycloneDX SBOM attestation of `image`: (envelope digest, document),
/// and how many CycloneDX SBOM attestations were skipped because they do not verify (unknown
/// or revoked signer, a broken envelope, another subject).
fn signed_sbom(
    store: &Store,
    trust: &Trust,
    facts: Option<&stamp_attest::LogFacts>,
    image: &Digest,
) -> anyhow::Result<(Option<SignedSbom>, usize)> {
    let mut best: Option<(Option<u64>, Digest, Map<String, Value>)> = None;
    let mut ignored = 0;
    for referrer in referrers(store, image)? {
        if referrer.predicate_type.as_deref() != Some(PREDICATE_TYPE_CYCLONEDX) {
            continue;
        }
        let verified = read_envelope(store, &referrer)
            .ok()
            .and_then(|bytes| verify_attestation(&bytes, trust, facts).ok())
            .filter(|verified| {
                verified.statement.predicate_type == PREDICATE_TYPE_CYCLONEDX
                    && verified.statement.subject_digests().contains(image)
            });
        let Some(verified) = verified else {
            ignored += 1;
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|(recorded, _, _)| verified.recorded_at >= *recorded)
        {
            best = Some((
                verified.recorded_at,
                verified.envelope_digest,
                verified.statement.predicate,
            ));
        }
    }
    Ok((
        best.map(|(_, envelope, document)| (envelope, document)),
        ignored,
    ))
}

fn property<'a>(component: &'a Value, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let name = name.to_string();
    component["properties"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |property| property["name"] == name.as_str())
        .filter_map(|property| property["value"].as_str())
}

fn package_type(text: &str) -> Option<PackageType> {
    PackageType::parse(text)
}

/// The inventory a CycloneDX document written by `stamp sbom` describes: the
/// `operating-system` component gives the distribution, each `library` component a package
/// (type, source package, locations from the `stamp:package:*` properties; packages marked
/// `stamp:package:registry` = `false` are not matched). Components of other types, or whose
/// type stamp does not know, are left out.
pub fn inventory_of_cyclonedx(document: &Map<String, Value>) -> Result<Inventory, String> {
    if document.get("bomFormat").and_then(Value::as_str) != Some("CycloneDX") {
        return Err("the SBOM is not a CycloneDX document (`bomFormat`)".into());
    }
    let components = match document.get("components") {
        None => &Vec::new(),
        Some(Value::Array(components)) => components,
        Some(_) => return Err("`components` is not an array".into()),
    };
    if components.len() > SBOM_COMPONENTS_MAX {
        return Err(format!(
            "{} components, over the limit of {SBOM_COMPONENTS_MAX}",
            components.len()
        ));
    }
    let mut inventory = Inventory::default();
    for (index, component) in components.iter().enumerate() {
        let text = |key: &str| component[key].as_str().map(str::to_string);
        match component["type"].as_str() {
            Some("operating-system") => {
                inventory.distro = Some(Distro {
                    id: text("name").unwrap_or_default(),
                    version_id: text("version").unwrap_or_default(),
                    pretty_name: text("description").unwrap_or_default(),
                });
            }
            Some("library") => {
                let (Some(name), Some(version), Some(purl)) =
                    (text("name"), text("version"), text("purl"))
                else {
                    return Err(format!(
                        "component {index} lacks a `name`, `version` or `purl`"
                    ));
                };
                let declared = property(component, "stamp:package:type").next();
                let Some(package_type) = declared.and_then(package_type).or_else(|| {
                    purl.strip_prefix("pkg:")
                        .and_then(|rest| rest.split('/').next())
                        .and_then(package_type)
                }) else {
                    continue;
                };
                let name = match text("group") {
                    Some(group) if !group.is_empty() => format!("{group}/{name}"),
                    _ => name,
                };
                let single = |key: &str| property(component, key).next().map(str::to_string);
                inventory.components.push(Component {
                    package_type,
                    name,
                    version,
                    purl,
                    architecture: single("stamp:package:architecture"),
                    source_name: single("stamp:package:source-name"),
                    source_version: single("stamp:package:source-version"),
                    license: component["licenses"][0]["license"]["name"]
                        .as_str()
                        .map(str::to_string),
                    registry: single("stamp:package:registry").as_deref() != Some("false"),
                    locations: property(component, "stamp:package:location")
                        .map(str::to_string)
                        .collect(),
                });
            }
            _ => {}
        }
    }
    Ok(inventory)
}

/// An image's inventory and where it came from.
pub struct ImageInventory {
    pub source: InventorySource,
    /// The envelope digest of the SBOM attestation read, if one was.
    pub attestation: Option<Digest>,
    /// SBOM attestations that did not verify and were not used.
    pub ignored_attestations: usize,
    pub inventory: Inventory,
}

/// Reads images' inventories from their signed SBOMs (the trust file and the log's facts
/// loaded once), or from their layers when they have none.
pub struct Inventories {
    store: Store,
    trust: Trust,
    facts: Option<stamp_attest::LogFacts>,
}

impl Inventories {
    pub fn open(home: &Path) -> anyhow::Result<Inventories> {
        let store = Store::open(home)
            .with_context(|| format!("opening the store at `{}`", home.display()))?;
        let trust = Trust::load(&trust_path(home))?
            .map(|(trust, _)| trust)
            .unwrap_or_default();
        let facts = open_facts(home)?;
        Ok(Inventories {
            store,
            trust,
            facts,
        })
    }

    /// The inventory of `image`: from its newest verified CycloneDX SBOM attestation, else
    /// from its layers.
    pub fn of(&self, image: &Digest) -> anyhow::Result<ImageInventory> {
        let (signed, ignored_attestations) =
            signed_sbom(&self.store, &self.trust, self.facts.as_ref(), image)?;
        match signed {
            Some((envelope, document)) => {
                let inventory = inventory_of_cyclonedx(&document).map_err(|message| {
                    anyhow::anyhow!("the SBOM attestation {envelope} of {image}: {message}")
                })?;
                Ok(ImageInventory {
                    source: InventorySource::SbomAttestation,
                    attestation: Some(envelope),
                    ignored_attestations,
                    inventory,
                })
            }
            None => {
                let files = Files::from_image(&self.store, image)
                    .with_context(|| format!("reading the layers of {image}"))?;
                Ok(ImageInventory {
                    source: InventorySource::ImageLayers,
                    attestation: None,
                    ignored_attestations,
                    inventory: inventory::inventory(&files),
                })
            }
        }
    }
}

/// The exposure of one image, from its signed SBOM or its layers.
fn image_exposure(
    inventories: &Inventories,
    db: &VulnDb,
    digest: &str,
    now: time::OffsetDateTime,
) -> anyhow::Result<Value> {
    let image: Digest = digest
        .parse()
        .with_context(|| format!("`{digest}` is not an image digest"))?;
    let ImageInventory {
        source,
        attestation,
        ignored_attestations,
        inventory,
    } = inventories.of(&image)?;
    let report = report::scan(
        db,
        ScannedImage {
            name: digest.to_string(),
            digest: digest.to_string(),
        },
        &inventory,
    )?;
    let exposure = Exposure::of(&report.vulnerabilities, now);
    let findings: Vec<Value> = report
        .vulnerabilities
        .iter()
        .map(|finding| {
            json!({
                "id": finding.id,
                "aliases": finding.aliases,
                "package": finding.package.name,
                "purl": finding.package.purl,
                "installed_version": finding.installed_version,
                "fixed_version": finding.fixed_version,
                "fix_exists": finding.fix_exists,
                "severity": finding.severity,
                "published": finding.published,
            })
        })
        .collect();
    let mut value = serde_json::to_value(&exposure)?;
    value["image"] = digest.into();
    value["inventory_source"] = serde_json::to_value(source)?;
    value["sbom_attestation"] = attestation.map(|digest| digest.to_string()).into();
    value["sbom_attestations_ignored"] = ignored_attestations.into();
    value["components"] = inventory.components.len().into();
    value["findings"] = findings.into();
    Ok(value)
}

/// The exposure of every image that an instance of `environments` (the environment list of
/// `stamp status`) runs, against the database at `db` (default: the store's). Never fails:
/// a missing database or an unreadable image is reported in the result.
pub fn of_running(home: &Path, db: Option<&Path>, environments: &[Value]) -> Value {
    let digests: BTreeSet<&str> = environments
        .iter()
        .flat_map(|environment| environment["instances"].as_array().into_iter().flatten())
        .filter_map(|instance| instance["image"].as_str())
        .collect();
    if digests.is_empty() {
        return json!({"database": null, "images": []});
    }
    let path = database_path(Some(home), db);
    let db = match VulnDb::open(&path) {
        Ok(db) => db,
        Err(error) => {
            return json!({
                "database": null,
                "error": format!(
                    "{:#}; import advisories with `stamp db import`",
                    anyhow::Error::new(error)
                ),
                "images": [],
            })
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let images: Vec<Value> = match Inventories::open(home) {
        Ok(inventories) => digests
            .iter()
            .map(|digest| {
                image_exposure(&inventories, &db, digest, now)
                    .unwrap_or_else(|error| json!({"image": digest, "error": format!("{error:#}")}))
            })
            .collect(),
        Err(error) => digests
            .iter()
            .map(|digest| json!({"image": digest, "error": format!("{error:#}")}))
            .collect(),
    };
    json!({
        "database": {"digest": db.meta.digest, "snapshot_time": db.meta.snapshot_time},
        "images": images,
    })
}

/// Print the result of [`of_running`] as text.
pub fn print_text(exposure: &Value) {
    let images = exposure["images"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if let Some(error) = exposure["error"].as_str() {
        println!("exposure: unknown ({error})");
        return;
    }
    if images.is_empty() {
        return;
    }
    println!(
        "exposure (vulnerability database {}, snapshot {}):",
        exposure["database"]["digest"].as_str().unwrap_or_default(),
        exposure["database"]["snapshot_time"]
            .as_str()
            .unwrap_or_default()
    );
    for image in images {
        let digest = image["image"].as_str().unwrap_or_default();
        if let Some(error) = image["error"].as_str() {
            println!("  {digest}  exposure unknown: {error}");
            continue;
        }
        let exposure: Exposure = Exposure {
            exposed: image["exposed"] == true,
            worst_severity: image["worst_severity"]
                .as_str()
                .and_then(|severity| severity.parse().ok()),
            vulnerabilities: image["vulnerabilities"].as_u64().unwrap_or_default() as usize,
            fixable: image["fixable"].as_u64().unwrap_or_default() as usize,
            critical_fix_overdue: serde_json::from_value(image["critical_fix_overdue"].clone())
                .unwrap_or_default(),
            pci_6_3_3_overdue: image["pci_6_3_3_overdue"] == true,
        };
        let source = match image["inventory_source"].as_str() {
            Some("sbom-attestation") => "signed SBOM",
            _ => "image layers, no signed SBOM attached",
        };
        let ignored = match image["sbom_attestations_ignored"].as_u64().unwrap_or(0) {
            0 => String::new(),
            count => format!("; {count} SBOM attestation(s) did not verify and were ignored"),
        };
        println!("  {digest}  {} [{source}{ignored}]", exposure.describe());
        for finding in image["findings"].as_array().into_iter().flatten() {
            println!(
                "    {:<9} {:<22} {} {} (fix: {})",
                finding["severity"].as_str().unwrap_or_default(),
                finding["id"].as_str().unwrap_or_default(),
                finding["package"].as_str().unwrap_or_default(),
                finding["installed_version"].as_str().unwrap_or_default(),
                finding["fixed_version"]
                    .as_str()
                    .unwrap_or(if finding["fix_exists"] == true {
                        "exists"
                    } else {
                        "none"
                    }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stamp_scan::sbom::{cyclonedx, Subject};

    #[test]
    fn without_a_database_exposure_is_unknown_only_when_something_runs() {
        let home = tempfile::tempdir().unwrap();
        let nothing = of_running(home.path(), None, &[json!({"env": "dev", "instances": []})]);
        assert_eq!(nothing, json!({"database": null, "images": []}));
        let running = [json!({"env": "dev", "instances": [
            {"id": "dev-1", "image": format!("sha256:{}", "b".repeat(64))}
        ]})];
        let unknown = of_running(home.path(), None, &running);
        let error = unknown["error"].as_str().unwrap();
        assert!(error.contains("stamp db import"), "{unknown:#}");
        assert!(
            error.contains(&home.path().join("vulndb.db").display().to_string()),
            "{unknown:#}"
        );
    }

    #[test]
    fn a_cyclonedx_sbom_reads_back_to_the_inventory_it_was_written_from() {
        let component = |package_type, name: &str, purl: &str, registry| Component {
            package_type,
            name: name.into(),
            version: "1.0.0".into(),
            purl: purl.into(),
            architecture: None,
            source_name: None,
            source_version: None,
            license: None,
            registry,
            locations: vec!["/app/Cargo.lock".into()],
        };
        let mut deb = component(
            PackageType::Deb,
            "libssl3",
            "pkg:deb/debian/libssl3@1.0.0?arch=amd64&distro=debian-12",
            true,
        );
        deb.source_name = Some("openssl".into());
        deb.source_version = Some("3.0.11-1~deb12u2".into());
        deb.architecture = Some("amd64".into());
        let written = Inventory {
            distro: Some(Distro {
                id: "debian".into(),
                version_id: "12".into(),
                pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
            }),
            components: vec![
                deb,
                component(
                    PackageType::Npm,
                    "@babel/core",
                    "pkg:npm/%40babel/core@1.0.0",
                    true,
                ),
                component(PackageType::Cargo, "app", "pkg:cargo/app@1.0.0", false),
                component(PackageType::Cargo, "time", "pkg:cargo/time@1.0.0", true),
            ],
            problems: Vec::new(),
        };
        let subject = Subject {
            name: "app".into(),
            digest: format!("sha256:{}", "a".repeat(64)),
            created: "2024-01-01T00:00:00Z".into(),
        };
        let document = cyclonedx::document(&subject, &written);
        let read = inventory_of_cyclonedx(document.as_object().unwrap()).unwrap();
        assert_eq!(read.distro, written.distro);
        assert_eq!(read.components, written.components);
        let queries: Vec<Option<String>> = read
            .components
            .iter()
            .map(|c| {
                c.query(read.distro.as_ref())
                    .map(|q| format!("{} {}", q.ecosystem, q.name))
            })
            .collect();
        assert_eq!(
            queries,
            [
                Some("Debian:12 openssl".to_string()),
                Some("npm @babel/core".to_string()),
                None,
                Some("crates.io time".to_string()),
            ]
        );
        let mut broken = document.as_object().unwrap().clone();
        broken.insert("bomFormat".into(), "SPDX".into());
        assert!(inventory_of_cyclonedx(&broken)
            .unwrap_err()
            .contains("bomFormat"));
        let mut broken = document.as_object().unwrap().clone();
        broken["components"][1]
            .as_object_mut()
            .unwrap()
            .remove("purl");
        let error = inventory_of_cyclonedx(&broken).unwrap_err();
        assert!(error.contains("component 1 lacks"), "{error}");
    }
}
