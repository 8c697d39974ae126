//! The offline verifier: a pack and the assessor's own copy of the public keys, nothing else.
//! Every check runs (one failure does not hide the next), and each failure names the file,
//! log index or requirement it is about.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};
use stamp_attest::{Envelope, Trust};
use stamp_core::Digest;
use stamp_log::{check_consistency, check_inclusion, leaf_hash, Checkpoint, Hash, NoteVerifier};

use crate::assert::{Scope, Status};
use crate::events::{self, LoggedEvent};
use crate::files;
use crate::pack::{parse_sums, Pack};
use crate::time_text::{self, Period};
use crate::{report, EVIDENCE_SCHEMA, PAYLOAD_TYPE_SUMS};

/// Most failures listed one by one per check (the rest are counted).
const FAILURES_PER_CHECK_MAX: usize = 50;

/// The assessor's public keys: the trust file and the log's verifier key.
#[derive(Clone, Debug)]
pub struct Keys {
    pub trust_toml: Vec<u8>,
    pub log_verifier: Vec<u8>,
}

/// One thing that did not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Stable kebab-case code.
    pub code: &'static str,
    /// The file, `file:line`, log index or requirement it is about.
    pub place: String,
    pub message: String,
}

/// What `stamp verify` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub failures: Vec<Failure>,
    /// How much of each kind was checked.
    pub checked: BTreeMap<&'static str, u64>,
    /// Recomputed status of each requirement.
    pub requirements: Vec<(String, Status)>,
    pub signer: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    fn fail(&mut self, code: &'static str, place: impl Into<String>, message: impl Into<String>) {
        let same = self
            .failures
            .iter()
            .filter(|failure| failure.code == code)
            .count();
        if same < FAILURES_PER_CHECK_MAX {
            self.failures.push(Failure {
                code,
                place: place.into(),
                message: message.into(),
            });
        } else if same == FAILURES_PER_CHECK_MAX {
            self.failures.push(Failure {
                code,
                place: "…".into(),
                message: format!("more `{code}` failures not listed"),
            });
        }
    }

    fn count(&mut self, what: &'static str, n: u64) {
        *self.checked.entry(what).or_default() += n;
    }

    pub fn to_json(&self) -> Value {
        json!({
            "ok": self.ok(),
            "failures": self.failures,
            "checked": self.checked,
            "signer": self.signer,
            "requirements": self.requirements.iter().map(|(id, status)| json!({"id": id, "status": status})).collect::<Vec<_>>(),
        })
    }
}

/// Verify `pack` with `keys`.
pub fn verify(pack: &Pack, keys: &Keys) -> VerifyReport {
    let mut report = VerifyReport::default();
    let trust = match std::str::from_utf8(&keys.trust_toml)
        .map_err(|error| error.to_string())
        .and_then(|text| Trust::parse(text).map_err(|error| format!("{error}")))
    {
        Ok(trust) => trust,
        Err(error) => {
            report.fail(
                "keys-invalid",
                "trust.toml",
                format!("the given trust file is not valid: {error}"),
            );
            return report;
        }
    };
    let verifier = match std::str::from_utf8(&keys.log_verifier)
        .ok()
        .and_then(|text| NoteVerifier::parse(text.trim()).ok())
    {
        Some(verifier) => verifier,
        None => {
            report.fail(
                "keys-invalid",
                "log.pub",
                "the given log key is not a verifier key `name+hash+base64`",
            );
            return report;
        }
    };
    check_sums(pack, &trust, &mut report);
    check_keys(pack, keys, &mut report);
    let checkpoint = open_checkpoint(pack, files::CHECKPOINT, &verifier, &mut report);
    let events = read_events(pack, &mut report);
    if let Some(checkpoint) = &checkpoint {
        check_inclusion_proofs(pack, &events, checkpoint, &mut report);
        check_consistency_proofs(pack, checkpoint, &verifier, &mut report);
    }
    let evidence = match pack
        .files
        .get(files::EVIDENCE_JSON)
        .map(|bytes| serde_json::from_slice::<Value>(bytes))
    {
        Some(Ok(value)) => value,
        Some(Err(error)) => {
            report.fail(
                "evidence-invalid",
                files::EVIDENCE_JSON,
                format!("not JSON: {error}"),
            );
            return report;
        }
        None => {
            report.fail(
                "file-missing",
                files::EVIDENCE_JSON,
                "the pack has no evidence.json",
            );
            return report;
        }
    };
    let Some(period) = period_of(&evidence) else {
        report.fail(
            "evidence-invalid",
            "evidence.json period",
            "`period.from`/`period.to` are not UTC times of a period stamp can export (years 1970-9998)",
        );
        return report;
    };
    check_header(&evidence, checkpoint.as_ref(), &mut report);
    check_range(
        &evidence,
        &events,
        &period,
        checkpoint.as_ref(),
        &mut report,
    );
    let index = crate::attestations::index(&pack.files, &trust, &events);
    report.count("attestations", index.len() as u64);
    for facts in index.values() {
        if let Some(problem) = &facts.problem {
            report.fail("attestation", facts.path.clone(), problem.clone());
        }
    }
    let scope = Scope {
        period,
        env: evidence["environment"].as_str().map(str::to_string),
        approvals_required: crate::export::approvals_required(&trust),
    };
    let mut sorted = events.clone();
    sorted.sort_by_key(|event| event.index);
    let derived = report::derive(&sorted, &index, &scope);
    compare(&evidence, &derived, pack, &mut report);
    report.requirements = derived
        .requirements
        .iter()
        .map(|requirement| (requirement.id.clone(), requirement.status))
        .collect();
    report
}

fn check_sums(pack: &Pack, trust: &Trust, report: &mut VerifyReport) {
    let Some(sums) = pack.files.get(files::SHA256SUMS) else {
        report.fail(
            "file-missing",
            files::SHA256SUMS,
            "the pack has no SHA256SUMS",
        );
        return;
    };
    match parse_sums(sums) {
        Ok(listed) => {
            let mut seen = BTreeSet::new();
            for (path, hex) in &listed {
                seen.insert(path.as_str());
                match pack.files.get(path) {
                    None => report.fail(
                        "file-missing",
                        path.clone(),
                        "listed in SHA256SUMS but not in the pack",
                    ),
                    Some(bytes) if Digest::of(bytes).hex() != *hex => report.fail(
                        "file-changed",
                        path.clone(),
                        format!(
                            "its sha256 is {}, SHA256SUMS says {hex}",
                            Digest::of(bytes).hex()
                        ),
                    ),
                    Some(_) => {}
                }
            }
            for path in pack.files.keys() {
                if path != files::SHA256SUMS
                    && path != files::PACK_SIGNATURE
                    && !seen.contains(path.as_str())
                {
                    report.fail(
                        "file-unlisted",
                        path.clone(),
                        "in the pack but not in SHA256SUMS",
                    );
                }
            }
            report.count("files", listed.len() as u64);
        }
        Err(error) => report.fail("sums-invalid", files::SHA256SUMS, error),
    }
    let signature = pack
        .files
        .get(files::PACK_SIGNATURE)
        .ok_or_else(|| "the pack has no pack.sig.json".to_string())
        .and_then(|bytes| {
            Envelope::parse(bytes).map_err(|error| format!("not a DSSE envelope: {error}"))
        });
    let envelope = match signature {
        Ok(envelope) => envelope,
        Err(error) => {
            report.fail("pack-signature", files::PACK_SIGNATURE, error);
            return;
        }
    };
    if envelope.payload_type != PAYLOAD_TYPE_SUMS {
        report.fail(
            "pack-signature",
            files::PACK_SIGNATURE,
            format!(
                "payloadType is `{}`, not `{PAYLOAD_TYPE_SUMS}`",
                envelope.payload_type
            ),
        );
    }
    if envelope.payload_bytes().ok().as_deref() != Some(sums.as_slice()) {
        report.fail(
            "pack-signature",
            files::PACK_SIGNATURE,
            "the signed payload is not the pack's SHA256SUMS",
        );
    }
    let signer = trust
        .identities()
        .iter()
        .find(|identity| envelope.verify(identity.public_key.verifying_key()).is_ok());
    match signer {
        Some(identity) => {
            report.signer = Some(identity.name.clone());
            if let Some(at) = identity.revoked_at {
                report.fail(
                    "pack-signature",
                    files::PACK_SIGNATURE,
                    format!(
                        "signed by `{}`, whose key was revoked at log index {at}",
                        identity.name
                    ),
                );
            }
        }
        None => report.fail(
            "pack-signature",
            files::PACK_SIGNATURE,
            "no key of the given trust file verifies the signature over SHA256SUMS",
        ),
    }
}

fn check_keys(pack: &Pack, keys: &Keys, report: &mut VerifyReport) {
    match pack.files.get(files::TRUST) {
        None => report.fail("file-missing", files::TRUST, "the pack has no trust file"),
        Some(bytes) if *bytes != keys.trust_toml => {
            let given = std::str::from_utf8(&keys.trust_toml)
                .ok()
                .and_then(|text| Trust::parse(text).ok());
            let packed = std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| Trust::parse(text).ok());
            let mut named = false;
            if let (Some(given), Some(packed)) = (given, packed) {
                for identity in packed.identities() {
                    match given
                        .active(&identity.name)
                        .or_else(|| given.find(&identity.name))
                    {
                        Some(mine) if mine.key_id() != identity.key_id() => {
                            named = true;
                            report.fail(
                                "trust-key-swapped",
                                files::TRUST,
                                format!(
                                    "identity `{}` has key {} in the pack but {} in the given keys",
                                    identity.name,
                                    identity.key_id(),
                                    mine.key_id()
                                ),
                            );
                        }
                        None => {
                            named = true;
                            report.fail(
                                "trust-differs",
                                files::TRUST,
                                format!(
                                    "identity `{}` (key {}) is not in the given keys",
                                    identity.name,
                                    identity.key_id()
                                ),
                            );
                        }
                        _ => {}
                    }
                }
            }
            if !named {
                report.fail(
                    "trust-differs",
                    files::TRUST,
                    "the pack's trust file is not the given one",
                );
            }
        }
        Some(_) => {}
    }
    let packed = pack
        .files
        .get(files::LOG_VERIFIER)
        .map(|bytes| String::from_utf8_lossy(bytes).trim().to_string());
    let given = String::from_utf8_lossy(&keys.log_verifier)
        .trim()
        .to_string();
    if packed.as_deref() != Some(given.as_str()) {
        report.fail(
            "log-key-differs",
            files::LOG_VERIFIER,
            "the pack's log key is not the given one",
        );
    }
}

fn open_checkpoint(
    pack: &Pack,
    path: &str,
    verifier: &NoteVerifier,
    report: &mut VerifyReport,
) -> Option<Checkpoint> {
    let Some(note) = pack.files.get(path) else {
        report.fail("file-missing", path, "no checkpoint");
        return None;
    };
    report.count("checkpoints", 1);
    match Checkpoint::open(note, verifier, verifier.name()) {
        Ok(checkpoint) => Some(checkpoint),
        Err(error) => {
            report.fail(
                "checkpoint-signature",
                path,
                format!("does not verify with the log key: {error}"),
            );
            None
        }
    }
}

fn read_events(pack: &Pack, report: &mut VerifyReport) -> Vec<LoggedEvent> {
    let Some(bytes) = pack.files.get(files::EVENTS) else {
        report.fail("file-missing", files::EVENTS, "the pack has no events");
        return Vec::new();
    };
    let events = match events::parse(bytes) {
        Ok(events) => events,
        Err(error) => {
            report.fail("events-invalid", files::EVENTS, error.to_string());
            return Vec::new();
        }
    };
    for (line, pair) in events.windows(2).enumerate() {
        if pair[1].index <= pair[0].index {
            report.fail(
                "events-order",
                format!("{}:{}", files::EVENTS, line + 2),
                format!(
                    "entry {} follows entry {}: events are not in log order",
                    pair[1].index, pair[0].index
                ),
            );
        }
    }
    report.count("events", events.len() as u64);
    events
}

fn proof_hashes(value: &Value) -> Option<Vec<Hash>> {
    value
        .as_array()?
        .iter()
        .map(|hash| hash.as_str().and_then(|text| Hash::from_hex(text).ok()))
        .collect()
}

fn check_inclusion_proofs(
    pack: &Pack,
    events: &[LoggedEvent],
    checkpoint: &Checkpoint,
    report: &mut VerifyReport,
) {
    let mut proofs: BTreeMap<u64, Value> = BTreeMap::new();
    let text = pack
        .files
        .get(files::INCLUSION_PROOFS)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default();
    for (number, line) in text.lines().enumerate() {
        match serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|value| Some((value["leaf_index"].as_u64()?, value)))
        {
            Some((index, value)) => {
                proofs.insert(index, value);
            }
            None => report.fail(
                "inclusion-proof",
                format!("{}:{}", files::INCLUSION_PROOFS, number + 1),
                "not an inclusion proof object",
            ),
        }
    }
    let root_hex = checkpoint.root.to_hex();
    for event in events {
        let place = format!("log index {}", event.index);
        let Some(proof) = proofs.get(&event.index) else {
            report.fail(
                "inclusion-missing",
                place,
                "no inclusion proof for this event",
            );
            continue;
        };
        let leaf = leaf_hash(&event.bytes);
        if proof["leaf_hash"].as_str() != Some(leaf.to_hex().as_str()) {
            report.fail(
                "event-changed",
                place.clone(),
                "the event's bytes do not hash to the leaf hash its proof was made for",
            );
        }
        if proof["tree_size"].as_u64() != Some(checkpoint.size)
            || proof["root_hash"].as_str() != Some(root_hex.as_str())
        {
            report.fail(
                "inclusion-proof",
                place.clone(),
                "the proof is not to the pack's checkpoint",
            );
            continue;
        }
        let result = proof_hashes(&proof["proof"]).ok_or(()).and_then(|hashes| {
            check_inclusion(
                &hashes,
                checkpoint.size,
                &checkpoint.root,
                event.index,
                &leaf,
            )
            .map_err(|_| ())
        });
        match result {
            Ok(()) => report.count("inclusion proofs", 1),
            Err(()) => report.fail("inclusion-proof", place, format!("the event is not entry {} of the checkpoint's tree (changed, moved or reordered)", event.index)),
        }
    }
}

fn check_consistency_proofs(
    pack: &Pack,
    checkpoint: &Checkpoint,
    verifier: &NoteVerifier,
    report: &mut VerifyReport,
) {
    let mut roots: BTreeMap<u64, Hash> = BTreeMap::new();
    roots.insert(checkpoint.size, checkpoint.root);
    for path in pack
        .files
        .keys()
        .filter(|path| path.starts_with(files::CHECKPOINTS_DIR))
    {
        let size: Option<u64> = path[files::CHECKPOINTS_DIR.len()..]
            .strip_suffix(".txt")
            .and_then(|size| size.parse().ok());
        if let Some(opened) = open_checkpoint(pack, path, verifier, report) {
            if Some(opened.size) != size {
                report.fail(
                    "checkpoint-name",
                    path.clone(),
                    format!("holds size {}", opened.size),
                );
            } else {
                roots.insert(opened.size, opened.root);
            }
        }
    }
    let text = pack
        .files
        .get(files::CONSISTENCY_PROOFS)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default();
    let mut proven = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let place = format!("{}:{}", files::CONSISTENCY_PROOFS, number + 1);
        let Some(value) = serde_json::from_str::<Value>(line).ok() else {
            report.fail("consistency-proof", place, "not a consistency proof object");
            continue;
        };
        let (Some(old), Some(new)) = (value["old_size"].as_u64(), value["new_size"].as_u64())
        else {
            report.fail("consistency-proof", place, "no sizes");
            continue;
        };
        let (Some(old_root), Some(new_root)) = (roots.get(&old), roots.get(&new)) else {
            report.fail(
                "consistency-proof",
                place,
                format!("no signed checkpoint of size {old} or {new} in the pack"),
            );
            continue;
        };
        if value["old_root"].as_str() != Some(old_root.to_hex().as_str())
            || value["new_root"].as_str() != Some(new_root.to_hex().as_str())
        {
            report.fail(
                "consistency-proof",
                place.clone(),
                "its roots are not those of the signed checkpoints",
            );
        }
        let ok = proof_hashes(&value["proof"])
            .is_some_and(|hashes| check_consistency(&hashes, old, old_root, new, new_root).is_ok());
        if ok {
            proven.insert((old, new));
            report.count("consistency proofs", 1);
        } else {
            report.fail(
                "consistency-proof",
                place,
                format!("the checkpoint of size {old} is not a prefix of the one of size {new}"),
            );
        }
    }
    let sizes: Vec<u64> = roots.keys().copied().collect();
    for pair in sizes.windows(2) {
        if !proven.contains(&(pair[0], pair[1])) {
            report.fail(
                "consistency-missing",
                format!("checkpoints {} → {}", pair[0], pair[1]),
                "no valid consistency proof between these checkpoints",
            );
        }
    }
}

fn period_of(evidence: &Value) -> Option<Period> {
    Period::new(
        time_text::parse(evidence["period"]["from"].as_str()?)?,
        time_text::parse(evidence["period"]["to"].as_str()?)?,
    )
    .ok()
}

fn check_header(evidence: &Value, checkpoint: Option<&Checkpoint>, report: &mut VerifyReport) {
    if evidence["schema"] != EVIDENCE_SCHEMA {
        report.fail(
            "evidence-invalid",
            "evidence.json schema",
            format!("not `{EVIDENCE_SCHEMA}`"),
        );
    }
    if let Some(checkpoint) = checkpoint {
        let log = &evidence["log"];
        if log["origin"] != checkpoint.origin.as_str()
            || log["treeSize"] != checkpoint.size
            || log["rootHash"] != checkpoint.root.to_base64().as_str()
        {
            report.fail(
                "evidence-log",
                "evidence.json log",
                "origin, tree size or root hash is not the signed checkpoint's",
            );
        }
    }
}

fn check_range(
    evidence: &Value,
    events: &[LoggedEvent],
    period: &Period,
    checkpoint: Option<&Checkpoint>,
    report: &mut VerifyReport,
) {
    let (Some(first), Some(last)) = (
        evidence["log"]["range"]["first"].as_u64(),
        evidence["log"]["range"]["last"].as_u64(),
    ) else {
        report.fail(
            "evidence-invalid",
            "evidence.json log.range",
            "no `first`/`last` indexes",
        );
        return;
    };
    if let Some(checkpoint) = checkpoint {
        if checkpoint.size == 0 || last != checkpoint.size - 1 {
            report.fail(
                "range-end",
                "evidence.json log.range",
                format!(
                    "the range ends at {last}, the checkpoint covers entries up to {}",
                    checkpoint.size.saturating_sub(1)
                ),
            );
        }
    }
    if last < first || last - first >= events::EVENTS_MAX as u64 {
        report.fail(
            "range-end",
            "evidence.json log.range",
            format!("the range {first}..={last} is empty or larger than a pack can hold"),
        );
        return;
    }
    let present: BTreeMap<u64, &LoggedEvent> =
        events.iter().map(|event| (event.index, event)).collect();
    let mut missing = Vec::new();
    for index in first..=last {
        if !present.contains_key(&index) {
            missing.push(index);
        }
    }
    for index in &missing {
        report.fail(
            "event-missing",
            format!("log index {index}"),
            "an entry of the period's range is not in the pack (removed)",
        );
    }
    if first > 0 {
        let before = present
            .get(&(first - 1))
            .and_then(|event| event.event().ok());
        match before {
            Some(event) if event.time() < period.from => {}
            Some(_) => report.fail("range-start", format!("log index {}", first - 1), "the entry before the range is not older than the period: the range does not start at the period's start"),
            None => report.fail("range-start", format!("log index {}", first - 1), "the entry before the range is not in the pack, so the range's start cannot be checked"),
        }
    }
    if let Some(first_event) = present.get(&first).and_then(|event| event.event().ok()) {
        if first_event.time() < period.from {
            report.fail(
                "range-start",
                format!("log index {first}"),
                "the range starts before the period",
            );
        }
    }
}

fn compare(evidence: &Value, derived: &report::Derived, pack: &Pack, report: &mut VerifyReport) {
    let stated: BTreeMap<String, &Value> = evidence["requirements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|requirement| Some((requirement["id"].as_str()?.to_string(), requirement)))
        .collect();
    let recomputed = serde_json::to_value(&derived.requirements).expect("requirements serialize");
    let mut ids = BTreeSet::new();
    for requirement in recomputed.as_array().into_iter().flatten() {
        let id = requirement["id"].as_str().unwrap_or_default().to_string();
        ids.insert(id.clone());
        report.count("requirements", 1);
        match stated.get(&id) {
            None => report.fail(
                "requirement-missing",
                format!("requirement {id}"),
                "evidence.json does not list it",
            ),
            Some(value) if *value != requirement => {
                let field = [
                    "status",
                    "offending",
                    "events",
                    "assertion",
                    "detail",
                    "title",
                ]
                .into_iter()
                .find(|field| value[*field] != requirement[*field])
                .unwrap_or("fields");
                report.fail(
                    "requirement-differs",
                    format!("requirement {id}"),
                    format!("its {field} does not recompute from the pack's events: the pack says {}, the events give {}", value[field], requirement[field]),
                );
            }
            Some(_) => {}
        }
    }
    for id in stated.keys().filter(|id| !ids.contains(*id)) {
        report.fail(
            "requirement-extra",
            format!("requirement {id}"),
            "listed in evidence.json but not computed by stamp",
        );
    }
    for (key, value) in &derived.sections {
        if *key != "requirements" && evidence[*key] != *value {
            report.fail(
                "section-differs",
                format!("evidence.json {key}"),
                "does not recompute from the pack's events",
            );
        }
    }
    if evidence["log"]["oldestEntry"] != json!(derived.oldest_entry)
        || evidence["log"]["retention"] != derived.retention
    {
        report.fail(
            "section-differs",
            "evidence.json log.retention",
            "does not recompute from the pack's events",
        );
    }
    // What people read must say what the JSON says: the report is rendered again.
    match pack.files.get(files::INDEX_HTML) {
        Some(bytes) if bytes.as_slice() == crate::html::render(evidence).as_bytes() => {}
        Some(_) => report.fail(
            "report-differs",
            files::INDEX_HTML,
            "is not the report this stamp renders from evidence.json (edited, or written by another stamp version)",
        ),
        None => report.fail("file-missing", files::INDEX_HTML, "the pack has no report"),
    }
    let drift = pack
        .files
        .get(files::DRIFT_RUNS)
        .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok());
    if drift.as_ref() != Some(&derived.drift_file) {
        report.fail(
            "section-differs",
            files::DRIFT_RUNS,
            "does not recompute from the pack's drift events",
        );
    }
}

#[cfg(test)]
mod tests;
