//! The gate of `stamp check IMAGE`: the card-number and secret scan of every layer joined with
//! the vulnerability findings, approved exceptions applied, and the verdict as a signed in-toto
//! statement (predicate [`PREDICATE_TYPE_GATE`]) attached to the image (PCI DSS 3.3.1, 3.5.1,
//! 6.3.1, 8.6.2, 12.10.7). The predicate holds counts and masked values only.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use stamp_attest::statement::{ResourceDescriptor, Statement};
use stamp_core::Digest;
use stamp_image::Store;
use stamp_scan::cvss::Severity;
use stamp_scan::report::ScanReport;
use stamp_scan::sensitive::{
    denied_by_default, rule_set_digest, scan_directory, scan_image, ScanLimits, ScanProblem,
    SensitiveFinding, SensitiveReport, RULE_SET_ID,
};
use time::OffsetDateTime;

use super::except::{read_exceptions, Exception};
use super::signing::{
    load_acting_key, load_trust_recorded, read_facts, sign_and_attach, Signed, Signer,
};
use crate::recorder::Recorder;

/// Predicate type of a gate verdict.
pub const PREDICATE_TYPE_GATE: &str = "https://stamp.dev/gate/v1";
/// Most findings listed one by one in the predicate; the counts cover all of them.
pub const PREDICATE_FINDINGS_MAX: usize = 1000;

/// One card-number or secret finding as the gate decided it.
#[derive(Clone, Debug, Serialize)]
pub struct GateFinding {
    #[serde(flatten)]
    pub finding: SensitiveFinding,
    /// Whether it makes the gate fail.
    pub denied: bool,
    /// The exception that lifted it, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

/// An exception the gate applied.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedException {
    pub id: String,
    pub code: String,
    pub reason: String,
    pub expires: String,
    pub requested_by: String,
    pub approved_by: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestRef {
    pub id: String,
    pub digest: String,
}

/// The gate verdict: the predicate of the attestation and the `gate` part of
/// `stamp check --format json`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateVerdict {
    pub verdict: String,
    pub image: ResourceDescriptor,
    pub checked_on: String,
    pub vulnerability_db: DigestRef,
    pub rule_set: DigestRef,
    pub fail_on: String,
    pub counts: BTreeMap<String, u64>,
    pub findings: Vec<GateFinding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<ScanProblem>,
    pub exceptions: Vec<AppliedException>,
}

impl GateVerdict {
    /// How many findings make the gate fail.
    pub fn denied(&self) -> u64 {
        self.counts.get("denied").copied().unwrap_or(0)
    }
}

/// Scan `image_digest` for card numbers and secrets, apply the active exceptions of the log to
/// those findings and to `report`'s vulnerabilities, and decide.
pub fn evaluate(
    home: &Path,
    image_name: &str,
    image_digest: &Digest,
    report: &ScanReport,
    threshold: Severity,
    recorder: &Recorder,
) -> anyhow::Result<GateVerdict> {
    let store =
        Store::open(home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let sensitive = scan_image(&store, image_digest, ScanLimits::default())
        .with_context(|| format!("scanning {image_digest} for card numbers and secrets"))?;
    let now = OffsetDateTime::now_utc();
    let active: Vec<Exception> = read_exceptions(&recorder.log)?
        .into_iter()
        .filter(|exception| exception.active(now))
        .collect();
    Ok(decide(
        sensitive,
        report,
        threshold,
        ResourceDescriptor::sha256(image_name, image_digest),
        &active,
        now,
    ))
}

/// The verdict on an unpacked root filesystem (`stamp check --rootfs`): the same scan and
/// policy; no exceptions apply (they name an image or a package) and nothing is signed.
pub fn evaluate_rootfs(root: &Path, report: &ScanReport, threshold: Severity) -> GateVerdict {
    let sensitive = scan_directory(root, ScanLimits::default());
    let subject = ResourceDescriptor {
        name: root.display().to_string(),
        ..ResourceDescriptor::default()
    };
    decide(
        sensitive,
        report,
        threshold,
        subject,
        &[],
        OffsetDateTime::now_utc(),
    )
}

fn decide(
    sensitive: SensitiveReport,
    report: &ScanReport,
    threshold: Severity,
    subject: ResourceDescriptor,
    active: &[Exception],
    now: OffsetDateTime,
) -> GateVerdict {
    let image = subject
        .sha256_digest()
        .map(|digest| digest.to_string())
        .unwrap_or_default();
    let mut used: Vec<&Exception> = Vec::new();
    let mut covering = |code: &str, id: Option<&str>, package: Option<&str>| {
        let found = active
            .iter()
            .find(|exception| exception.covers(code, id, &image, package))?;
        if !used.iter().any(|seen| seen.id == found.id) {
            used.push(found);
        }
        Some(found.id.clone())
    };
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut denied = 0u64;
    let mut vulnerabilities_denied = 0u64;
    let mut excepted = 0u64;
    for finding in &report.vulnerabilities {
        if finding.severity < threshold {
            continue;
        }
        if covering(
            &finding.code,
            Some(&finding.id),
            Some(&finding.package.name),
        )
        .is_some()
        {
            excepted += 1;
        } else {
            vulnerabilities_denied += 1;
        }
    }
    denied += vulnerabilities_denied;
    let mut findings = Vec::new();
    for finding in sensitive.findings {
        *counts.entry(finding.code.to_string()).or_default() += 1;
        let exception = covering(finding.code, None, None);
        let is_denied = denied_by_default(finding.code) && exception.is_none();
        if exception.is_some() {
            excepted += 1;
        }
        denied += u64::from(is_denied);
        findings.push(GateFinding {
            finding,
            denied: is_denied,
            exception,
        });
    }
    counts.insert(
        "vulnerabilities".into(),
        report.summary.vulnerabilities as u64,
    );
    counts.insert("vulnerabilities-denied".into(), vulnerabilities_denied);
    counts.insert("excepted".into(), excepted);
    counts.insert("denied".into(), denied);
    counts.insert("files-scanned".into(), sensitive.files_scanned);
    counts.insert("scan-problems".into(), sensitive.problems.len() as u64);
    // Denied findings first, so a cut list keeps what matters.
    findings.sort_by_key(|finding| !finding.denied);
    let exceptions = used
        .into_iter()
        .map(|exception| AppliedException {
            id: exception.id.clone(),
            code: exception.code.clone(),
            reason: exception.reason.clone(),
            expires: exception.expires.clone(),
            requested_by: exception.requested_by.clone(),
            approved_by: exception.approved_by.clone().unwrap_or_default(),
        })
        .collect();
    GateVerdict {
        verdict: if denied > 0 { "deny" } else { "pass" }.to_string(),
        image: subject,
        checked_on: stamp_attest::provenance::format_time(now),
        vulnerability_db: DigestRef {
            id: "osv".into(),
            digest: report.database.digest.clone(),
        },
        rule_set: DigestRef {
            id: RULE_SET_ID.into(),
            digest: rule_set_digest().to_string(),
        },
        fail_on: threshold.as_str().to_string(),
        counts,
        findings,
        problems: sensitive.problems,
        exceptions,
    }
}

/// Sign `verdict` as the acting identity and attach it to the image. `None` (with a warning)
/// when no key of an active identity of the trust file is at hand.
pub fn attest(
    home: &Path,
    key: Option<&str>,
    recorder: &mut Recorder,
    image_digest: &Digest,
    verdict: &GateVerdict,
) -> anyhow::Result<Option<Signed>> {
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(home, recorder, &mut facts)?;
    let signer = match load_acting_key(home, key) {
        Ok((key, _)) => trust
            .by_key_id(key.key_id())
            .filter(|identity| identity.revoked_at.is_none())
            .cloned()
            .map(|identity| Signer { key, identity }),
        Err(_) => None,
    };
    let Some(signer) = signer else {
        eprintln!("warning: no key of an active identity; the gate verdict is not attested");
        eprintln!("hint: create one with `stamp key new --name NAME`");
        return Ok(None);
    };
    recorder.set_actor(&signer.identity.name);
    let mut listed = verdict.clone();
    listed.findings.truncate(PREDICATE_FINDINGS_MAX);
    let statement = Statement::new(vec![verdict.image.clone()], PREDICATE_TYPE_GATE, &listed);
    let store = Store::open(home)?;
    Ok(Some(sign_and_attach(
        &store,
        image_digest,
        &statement,
        &signer,
    )?))
}

/// Add the card-number and secret findings of `verdict` to a SARIF 2.1.0 log made by
/// `stamp_scan::report::sarif::document`: one rule per code, one result per finding, the
/// masked value only.
pub fn add_to_sarif(document: &mut serde_json::Value, verdict: &GateVerdict) {
    let Some(run) = document["runs"].get_mut(0) else {
        return;
    };
    let rules = run["tool"]["driver"]["rules"]
        .as_array_mut()
        .expect("a SARIF log from report::sarif has a rules array");
    let mut rule_index: BTreeMap<&str, usize> = BTreeMap::new();
    for gated in &verdict.findings {
        let finding = &gated.finding;
        rule_index.entry(finding.code).or_insert_with(|| {
            rules.push(serde_json::json!({
                "id": finding.code,
                "name": finding.code,
                "shortDescription": {"text": if finding.code.starts_with("pan-") {
                    "a payment card number in an image layer"
                } else {
                    "a hard-coded secret in an image"
                }},
                "properties": {"tags": ["security", finding.code], "pci": finding.pci},
            }));
            rules.len() - 1
        });
    }
    let results = run["results"]
        .as_array_mut()
        .expect("a SARIF log from report::sarif has a results array");
    for gated in &verdict.findings {
        let finding = &gated.finding;
        let level = if gated.denied {
            "error"
        } else if gated.exception.is_some() {
            "note"
        } else {
            "warning"
        };
        let mut properties = serde_json::json!({
            "code": finding.code,
            "severity": finding.severity.as_str(),
            "masked": finding.masked,
            "pci": finding.pci,
            "layer": finding.location.layer,
            "inGzip": finding.location.in_gzip,
            "hiddenByLaterLayer": finding.location.hidden_by_later_layer,
        });
        if let Some(exception) = &gated.exception {
            properties["exception"] = exception.clone().into();
        }
        results.push(serde_json::json!({
            "ruleId": finding.code,
            "ruleIndex": rule_index[finding.code],
            "level": level,
            "message": {"text": format!("{} {} in {}", finding.code, finding.masked, finding.location.path)},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": finding.location.path},
                    "region": {"startLine": finding.location.line.max(1)},
                },
            }],
            "properties": properties,
        }));
    }
}
