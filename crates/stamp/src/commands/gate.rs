//! The gate of `stamp check IMAGE`: the card-number and secret scan of every layer joined with
//! the vulnerability findings, approved exceptions applied, and the verdict as a signed in-toto
//! statement (predicate [`PREDICATE_TYPE_GATE`]) attached to the image (PCI DSS 3.3.1, 3.5.1,
//! 6.3.1, 8.6.2, 12.10.7). The predicate holds counts and masked values only.
//! The configuration audit's results (PCI DSS 2.2.x, 8.x) are part of it: rule codes,
//! statuses and offending items (names and paths, never values), with the audit rule-set
//! digest next to the scan's.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use stamp_attest::statement::{ResourceDescriptor, Statement};
use stamp_audit::{RuleResult, RuleSet, Status as AuditStatus};
use stamp_core::Digest;
use stamp_image::Store;
use stamp_scan::cvss::Severity;
use stamp_scan::inventory::Inventory;
use stamp_scan::pan::mask_pans;
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
    /// The PCI configuration audit (rule set, results); absent when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditVerdict>,
}

/// The configuration audit as the gate decided it (PCI DSS 2.2.x, 8.x).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerdict {
    /// The built-in rule set: SHA-256 over `crates/stamp-audit/rules/*.rego` in order.
    pub rule_set: DigestRef,
    /// The user rules from `[check] policies`, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_rules: Option<DigestRef>,
    /// Failed rules at or above this severity deny (`none`: never).
    pub fail_on: String,
    pub results: Vec<GatedRule>,
    /// Files the facts could not read (too large, symlink loops).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// One audit rule's result as the gate decided it.
#[derive(Clone, Debug, Serialize)]
pub struct GatedRule {
    #[serde(flatten)]
    pub result: RuleResult,
    pub denied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

/// What the audit needs besides the filesystem.
pub struct AuditInput<'a> {
    /// User rules from `[check] policies`.
    pub policies: Option<&'a Path>,
    /// `[check] audit_fail_on`.
    pub fail_on: &'a str,
    pub inventory: &'a Inventory,
}

/// The results of the configuration audit before exceptions.
pub struct AuditRun {
    pub results: Vec<RuleResult>,
    pub user_digest: Option<String>,
    pub fail_on: String,
    pub problems: Vec<String>,
}

/// Run the built-in and user rules over the facts of the root filesystem directory `root`.
pub fn audit_directory(
    root: &Path,
    input: &AuditInput,
    image: Option<stamp_audit::facts::ImageFacts>,
    base: Option<stamp_audit::facts::BaseFacts>,
) -> anyhow::Result<AuditRun> {
    audit_root(&stamp_audit::Root::new(root), input, image, base)
}

fn audit_root(
    root: &stamp_audit::Root,
    input: &AuditInput,
    image: Option<stamp_audit::facts::ImageFacts>,
    base: Option<stamp_audit::facts::BaseFacts>,
) -> anyhow::Result<AuditRun> {
    let mut rules = RuleSet::builtin();
    if let Some(dir) = input.policies {
        rules.add_dir(dir)?;
    }
    let packages = input
        .inventory
        .components
        .iter()
        .map(|component| stamp_audit::facts::Package {
            name: component.name.clone(),
            version: component.version.clone(),
            package_type: component.package_type.as_str().to_string(),
        })
        .collect();
    let facts = stamp_audit::collect_root(
        root,
        stamp_audit::Context {
            image,
            base,
            packages: Some(packages),
        },
    );
    let mut results = rules.evaluate(&facts)?;
    // Items name files and accounts of the image; a card number in a name is masked like one
    // in a file's content before anything is shown, signed or logged.
    for result in &mut results {
        for item in &mut result.items {
            *item = mask_pans(item);
        }
    }
    Ok(AuditRun {
        results,
        user_digest: rules.user_digest(),
        fail_on: input.fail_on.to_string(),
        problems: facts
            .problems
            .iter()
            .map(|problem| mask_pans(&format!("{}: {}", problem.path, problem.message)))
            .collect(),
    })
}

/// Audit image `image_digest`: its layers merged in memory (whiteouts applied; modes and
/// owners of every entry, the content of configuration files only; nothing written to disk)
/// and its config.
pub fn audit_image(
    store: &Store,
    image_digest: &Digest,
    input: &AuditInput,
) -> anyhow::Result<AuditRun> {
    let manifest = store.read_manifest(image_digest)?;
    let config = store.read_config(&manifest.config.digest)?;
    let runtime = config.config.clone().unwrap_or_default();
    let image = stamp_audit::facts::ImageFacts {
        user: runtime.user.clone().unwrap_or_default(),
        exposed_ports: runtime.exposed_ports.keys().cloned().collect(),
        // Names only: values may hold secrets.
        env_names: runtime
            .env
            .iter()
            .map(|entry| entry.split('=').next().unwrap_or("").to_string())
            .collect(),
    };
    let base = base_facts(&manifest.annotations, &config.history);
    let tree = stamp_audit::MemTree::from_image(store, image_digest)
        .with_context(|| format!("reading the layers of {image_digest}"))?;
    audit_root(
        &stamp_audit::Root::from_tree(tree),
        input,
        Some(image),
        Some(base),
    )
}

/// How the base of an image was pinned, from what `stamp build` records: the base digest
/// annotation of an OCI-layout base, the history entry of a rootfs base, or nothing for a
/// scratch image built by stamp.
fn base_facts(
    annotations: &BTreeMap<String, String>,
    history: &[stamp_image::oci::History],
) -> stamp_audit::facts::BaseFacts {
    use stamp_audit::facts::BaseFacts;
    if let Some(digest) = annotations.get(stamp_image::build::ANNOTATION_BASE_DIGEST) {
        return BaseFacts {
            kind: "oci-layout".into(),
            pinned: digest.parse::<Digest>().is_ok(),
            digest: Some(digest.clone()),
        };
    }
    let created_by =
        |entry: &stamp_image::oci::History| entry.created_by.clone().unwrap_or_default();
    if let Some(digest) = history.iter().find_map(|entry| {
        created_by(entry)
            .strip_prefix("stamp build: base rootfs ")
            .map(str::to_string)
    }) {
        return BaseFacts {
            kind: "rootfs".into(),
            pinned: digest.parse::<Digest>().is_ok(),
            digest: Some(digest),
        };
    }
    if !history.is_empty()
        && history
            .iter()
            .all(|entry| created_by(entry).starts_with("stamp build: "))
    {
        return BaseFacts {
            kind: "scratch".into(),
            pinned: true,
            digest: None,
        };
    }
    BaseFacts {
        kind: "unknown".into(),
        pinned: false,
        digest: None,
    }
}

/// Whether a failed rule of `severity` denies under `fail_on`.
fn audit_denies(severity: stamp_audit::Severity, fail_on: &str) -> bool {
    stamp_audit::Severity::parse(fail_on).is_some_and(|threshold| severity >= threshold)
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
    audit: &AuditInput,
) -> anyhow::Result<GateVerdict> {
    let store =
        Store::open(home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let sensitive = scan_image(&store, image_digest, ScanLimits::default())
        .with_context(|| format!("scanning {image_digest} for card numbers and secrets"))?;
    let audit = audit_image(&store, image_digest, audit)
        .with_context(|| format!("auditing the configuration of {image_digest}"))?;
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
        Some(audit),
    ))
}

/// The verdict on an unpacked root filesystem (`stamp check --rootfs`): the same scan and
/// policy; no exceptions apply (they name an image or a package) and nothing is signed.
pub fn evaluate_rootfs(
    root: &Path,
    report: &ScanReport,
    threshold: Severity,
    audit: &AuditInput,
) -> anyhow::Result<GateVerdict> {
    let sensitive = scan_directory(root, ScanLimits::default());
    let audit = audit_directory(root, audit, None, None)
        .with_context(|| format!("auditing the configuration of `{}`", root.display()))?;
    let subject = ResourceDescriptor {
        name: root.display().to_string(),
        ..ResourceDescriptor::default()
    };
    Ok(decide(
        sensitive,
        report,
        threshold,
        subject,
        &[],
        OffsetDateTime::now_utc(),
        Some(audit),
    ))
}

fn decide(
    sensitive: SensitiveReport,
    report: &ScanReport,
    threshold: Severity,
    subject: ResourceDescriptor,
    active: &[Exception],
    now: OffsetDateTime,
    audit: Option<AuditRun>,
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
    let audit = audit.map(|run| {
        let mut results = Vec::with_capacity(run.results.len());
        let mut audit_denied = 0u64;
        for result in run.results {
            *counts
                .entry(format!("audit-{}", result.status.as_str()))
                .or_default() += 1;
            let failed = result.status == AuditStatus::Fail;
            let exception = if failed {
                covering(&result.code, None, None)
            } else {
                None
            };
            if exception.is_some() {
                excepted += 1;
            }
            let is_denied =
                failed && exception.is_none() && audit_denies(result.severity, &run.fail_on);
            audit_denied += u64::from(is_denied);
            results.push(GatedRule {
                result,
                denied: is_denied,
                exception,
            });
        }
        counts.insert("audit-denied".into(), audit_denied);
        denied += audit_denied;
        AuditVerdict {
            rule_set: DigestRef {
                id: stamp_audit::RULE_SET_ID.into(),
                digest: RuleSet::builtin_digest(),
            },
            user_rules: run.user_digest.map(|digest| DigestRef {
                id: "user".into(),
                digest,
            }),
            fail_on: run.fail_on,
            results,
            problems: run.problems,
        }
    });
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
        audit,
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
    add_sensitive_to_sarif(document, verdict);
    add_audit_to_sarif(document, verdict);
}

/// The configuration audit in SARIF: one rule per code (with its PCI DSS requirement ids and
/// remediation), one result (`kind` `fail`) per failed rule.
fn add_audit_to_sarif(document: &mut serde_json::Value, verdict: &GateVerdict) {
    let Some(audit) = &verdict.audit else {
        return;
    };
    let Some(run) = document["runs"].get_mut(0) else {
        return;
    };
    let rules = run["tool"]["driver"]["rules"]
        .as_array_mut()
        .expect("a SARIF log from report::sarif has a rules array");
    let first = rules.len();
    for gated in &audit.results {
        let result = &gated.result;
        rules.push(serde_json::json!({
            "id": result.code,
            "name": result.code,
            "shortDescription": {"text": result.title},
            "help": {"text": result.remediation},
            "properties": {
                "tags": ["security", "configuration"],
                "pci": result.pci,
                "severity": result.severity.as_str(),
                "source": result.source,
            },
        }));
    }
    let results = run["results"]
        .as_array_mut()
        .expect("a SARIF log from report::sarif has a results array");
    for (index, gated) in audit.results.iter().enumerate() {
        let result = &gated.result;
        // Results are findings: passes and not-applicable rules stay in the JSON verdict.
        if result.status != AuditStatus::Fail {
            continue;
        }
        let level = if gated.denied {
            "error"
        } else if gated.exception.is_some() {
            "note"
        } else {
            "warning"
        };
        let kind = "fail";
        let text = format!("{}: {}", result.title, result.items.join("; "));
        let mut properties = serde_json::json!({
            "code": result.code,
            "severity": result.severity.as_str(),
            "pci": result.pci,
            "items": result.items,
        });
        if let Some(exception) = &gated.exception {
            properties["exception"] = exception.clone().into();
        }
        results.push(serde_json::json!({
            "ruleId": result.code,
            "ruleIndex": first + index,
            "kind": kind,
            "level": level,
            "message": {"text": text},
            "properties": properties,
        }));
    }
}

fn add_sensitive_to_sarif(document: &mut serde_json::Value, verdict: &GateVerdict) {
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
