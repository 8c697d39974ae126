//! Assemble a pack from the log: which entries go in (every index from the period's first
//! event to the pack's checkpoint, plus the earlier events the period's assertions depend on),
//! their inclusion proofs, the period's checkpoints with consistency proofs between them, the
//! attestations, the trust file, the derived `evidence.json`, `VERIFY.md`, `index.html`,
//! `SHA256SUMS` and its signature. The caller records the `evidence.export` event first, so
//! the pack's checkpoint covers its own export (PCI DSS 10.2.1.3).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use stamp_attest::{Envelope, IdentityKey, Trust};
use stamp_core::event::EventKind;
use stamp_core::{Digest, Event};
use stamp_log::{leaf_hash, Checkpoint, Hash, LogStore, NoteVerifier};
use time::{Duration, OffsetDateTime, Weekday};

use crate::assert::Scope;
use crate::events::{self, LoggedEvent};
use crate::files;
use crate::history::History;
use crate::pack::Pack;
use crate::time_text::{self, Period};
use crate::{report, EVIDENCE_SCHEMA, PAYLOAD_TYPE_SUMS};

/// Entries read per query.
const PAGE_ENTRIES: usize = 4096;

/// What the caller resolved before exporting.
pub struct ExportInput<'a> {
    pub period: Period,
    pub env: Option<String>,
    pub generated_by: String,
    pub generated_at: OffsetDateTime,
    /// The trust file's bytes, as stored.
    pub trust_toml: Vec<u8>,
    pub log_verifier: NoteVerifier,
    /// Signs `SHA256SUMS`.
    pub signing_key: &'a IdentityKey,
}

/// Why a pack could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the log")]
    Read(#[from] stamp_log::ReadLogError),
    #[error("proving log entries")]
    Prove(#[from] stamp_log::ProveError),
    #[error("the log has no checkpoint for size {size}")]
    NoCheckpoint { size: u64 },
    #[error("the checkpoint for size {size} does not verify with the log key")]
    Checkpoint {
        size: u64,
        #[source]
        source: stamp_log::OpenCheckpointError,
    },
    #[error("the trust file is not valid")]
    Trust(#[from] stamp_attest::trust::ParseTrustError),
    #[error("reading the attestations of {image}")]
    Attestations {
        image: String,
        #[source]
        source: AttestationsError,
    },
    #[error("the log is empty")]
    Empty,
    #[error("the pack would have {value} {what}, over the {limit} a verifier reads\nhint: export a shorter period")]
    TooLarge {
        what: String,
        value: u64,
        limit: u64,
    },
}

/// What was exported, for the command's summary.
#[derive(Clone, Debug)]
pub struct Exported {
    pub pack: Pack,
    pub evidence: Value,
    pub events: usize,
    pub tree_size: u64,
}

fn read_all<S: LogStore + ?Sized>(log: &S, size: u64) -> Result<Vec<LoggedEvent>, ExportError> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < size {
        let entries = log.read_entries(start, PAGE_ENTRIES)?;
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            if entry.index >= size {
                break;
            }
            start = entry.index + 1;
            out.push(LoggedEvent {
                index: entry.index,
                bytes: entry.bytes,
            });
        }
    }
    Ok(out)
}

/// The approvals each environment of `trust` requires.
pub fn approvals_required(trust: &Trust) -> BTreeMap<String, u32> {
    trust
        .environments()
        .iter()
        .map(|(name, policy)| (name.clone(), policy.approvals))
        .collect()
}

/// The indexes a pack holds: `(range_start, included)`.
pub fn select(all: &[LoggedEvent], scope: &Scope) -> (u64, BTreeSet<u64>) {
    let parsed: Vec<Option<Event>> = all.iter().map(|logged| logged.event().ok()).collect();
    select_parsed(&parsed, scope)
}

/// [`select`] over the log's entries parsed once (position = index).
fn select_parsed(parsed: &[Option<Event>], scope: &Scope) -> (u64, BTreeSet<u64>) {
    let size = parsed.len() as u64;
    let range_start = parsed
        .iter()
        .position(|event| {
            event
                .as_ref()
                .is_none_or(|event| event.time() >= scope.period.from)
        })
        .map(|position| position as u64)
        .unwrap_or(size);
    let mut included: BTreeSet<u64> = (range_start..size).collect();
    if range_start > 0 {
        included.insert(range_start - 1);
    }
    included.insert(0);
    let history = History::fold_parsed(
        parsed
            .iter()
            .enumerate()
            .map(|(position, event)| (position as u64, event.clone())),
    );
    let (from, to) = (scope.period.from, scope.period.to);
    let mut digests: BTreeSet<String> = BTreeSet::new();
    let mut instances: BTreeSet<String> = BTreeSet::new();
    for instance in history.instances_between(from, to, scope.env.as_deref()) {
        digests.insert(instance.digest.clone());
        instances.insert(instance.id.clone());
    }
    for deploy in &history.deploys {
        if scope.period.contains(deploy.time)
            && scope.env.as_deref().is_none_or(|env| env == deploy.env)
        {
            digests.insert(deploy.digest.clone());
        }
    }
    let names: BTreeSet<&str> = digests
        .iter()
        .filter_map(|digest| history.builds.get(digest))
        .flatten()
        .map(|build| build.name.as_str())
        .collect();
    for (digest, builds) in &history.builds {
        if builds
            .iter()
            .any(|build| names.contains(build.name.as_str()))
        {
            digests.insert(digest.clone());
        }
    }
    // Before the range, only what the assertions read: an instance's start and its last drift
    // run (not every earlier run), an image's builds, gates, approvals, SBOMs, findings and
    // deploys (not its periodic rescan summaries).
    let mut last_drift: BTreeMap<&str, u64> = BTreeMap::new();
    for (position, event) in parsed.iter().enumerate().take(range_start as usize) {
        let Some(event) = event else { continue };
        let index = position as u64;
        let subject = event.subject();
        let details = event.details();
        let lists_instance = details
            .get("instances")
            .and_then(Value::as_array)
            .is_some_and(|listed| {
                listed
                    .iter()
                    .any(|id| id.as_str().is_some_and(|id| instances.contains(id)))
            });
        let summary = details.get("summary").and_then(Value::as_bool) == Some(true);
        let wanted = match event.kind() {
            EventKind::Exception
            | EventKind::KeyAdd
            | EventKind::KeyRevoke
            | EventKind::PolicyChange => true,
            EventKind::Drift if instances.contains(subject) => {
                last_drift.insert(subject, index);
                false
            }
            EventKind::Rescan if summary => false,
            _ => digests.contains(subject) || instances.contains(subject) || lists_instance,
        };
        if wanted {
            included.insert(index);
        }
    }
    included.extend(last_drift.into_values());
    (range_start, included)
}

/// The sizes of the period's checkpoints: as the period opened, at each week's start, and as it
/// closed (each below `size`, the pack's own checkpoint).
fn checkpoint_sizes(
    parsed: &[Option<Event>],
    period: &Period,
    range_start: u64,
    size: u64,
) -> Vec<u64> {
    let times: Vec<Option<OffsetDateTime>> = parsed
        .iter()
        .map(|event| event.as_ref().map(Event::time))
        .collect();
    let first_at_or_after = |time: OffsetDateTime| {
        times
            .iter()
            .position(|event| event.is_none_or(|event| event >= time))
            .map(|position| position as u64)
            .unwrap_or(size)
    };
    let mut sizes = BTreeSet::new();
    sizes.insert(range_start);
    let mut day = period.from.replace_time(time::Time::MIDNIGHT) + Duration::days(1);
    while day <= period.to {
        if day.weekday() == Weekday::Monday {
            sizes.insert(first_at_or_after(day));
        }
        day += Duration::days(1);
    }
    sizes.insert(first_at_or_after(period.to + Duration::seconds(1)));
    sizes
        .into_iter()
        .filter(|&candidate| candidate >= 1 && candidate < size)
        .collect()
}

fn stored_checkpoint<S: LogStore + ?Sized>(
    log: &S,
    size: u64,
    verifier: &NoteVerifier,
) -> Result<(Vec<u8>, Checkpoint), ExportError> {
    let stored = log
        .read_checkpoints(size, 1)?
        .into_iter()
        .next()
        .filter(|stored| stored.size == size)
        .ok_or(ExportError::NoCheckpoint { size })?;
    let checkpoint = Checkpoint::open(&stored.note, verifier, verifier.name())
        .map_err(|source| ExportError::Checkpoint { size, source })?;
    Ok((stored.note, checkpoint))
}

fn hex_list(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|hash| hash.to_hex()).collect()
}

/// Why the attestations of an image could not be read (the caller's store error).
pub type AttestationsError = Box<dyn std::error::Error + Send + Sync>;

/// Returns the envelopes attached to an image.
pub type AttestationsOf<'a> = dyn FnMut(&Digest) -> Result<Vec<Vec<u8>>, AttestationsError> + 'a;

/// Build the pack. `attestations_of(image)` returns the envelopes attached to an image.
pub fn export<S: LogStore + ?Sized>(
    log: &S,
    input: &ExportInput<'_>,
    attestations_of: &mut AttestationsOf<'_>,
) -> Result<Exported, ExportError> {
    let size = log.size()?;
    if size == 0 {
        return Err(ExportError::Empty);
    }
    let (checkpoint_note, checkpoint) = stored_checkpoint(log, size, &input.log_verifier)?;
    let trust_text = String::from_utf8_lossy(&input.trust_toml).into_owned();
    let trust = Trust::parse(&trust_text)?;
    let scope = Scope {
        period: input.period,
        env: input.env.clone(),
        approvals_required: approvals_required(&trust),
    };
    let all = read_all(log, size)?;
    let parsed: Vec<Option<Event>> = all.iter().map(|logged| logged.event().ok()).collect();
    let (range_start, included) = select_parsed(&parsed, &scope);
    let events: Vec<LoggedEvent> = all
        .iter()
        .filter(|logged| included.contains(&logged.index))
        .cloned()
        .collect();

    let mut pack = Pack::default();
    pack.insert(files::TRUST, input.trust_toml.clone());
    pack.insert(
        files::LOG_VERIFIER,
        format!("{}\n", input.log_verifier.verifier_key()),
    );
    pack.insert(files::CHECKPOINT, checkpoint_note);
    pack.insert(files::EVENTS, events::write(&events));

    let mut inclusion = String::new();
    for logged in &events {
        let proof = log.prove_inclusion(size, logged.index)?;
        inclusion.push_str(
            &json!({
                "leaf_index": logged.index,
                "tree_size": size,
                "leaf_hash": leaf_hash(&logged.bytes).to_hex(),
                "root_hash": checkpoint.root.to_hex(),
                "proof": hex_list(&proof),
            })
            .to_string(),
        );
        inclusion.push('\n');
    }
    pack.insert(files::INCLUSION_PROOFS, inclusion);

    // A log written in batches has checkpoints only at batch ends: take the first stored
    // checkpoint at or after each wanted size.
    let mut sizes = BTreeSet::new();
    for wanted in checkpoint_sizes(&parsed, &input.period, range_start, size) {
        if let Some(stored) = log.read_checkpoints(wanted, 1)?.into_iter().next() {
            if stored.size < size {
                sizes.insert(stored.size);
            }
        }
    }
    let mut sizes: Vec<u64> = sizes.into_iter().collect();
    let mut roots = BTreeMap::new();
    for &checkpoint_size in &sizes {
        let (note, opened) = stored_checkpoint(log, checkpoint_size, &input.log_verifier)?;
        roots.insert(checkpoint_size, opened.root);
        pack.insert(
            format!("{}{checkpoint_size}.txt", files::CHECKPOINTS_DIR),
            note,
        );
    }
    sizes.push(size);
    roots.insert(size, checkpoint.root);
    let mut consistency = String::new();
    for pair in sizes.windows(2) {
        let (old, new) = (pair[0], pair[1]);
        let proof = log.prove_consistency(old, new)?;
        consistency.push_str(
            &json!({
                "old_size": old,
                "old_root": roots[&old].to_hex(),
                "new_size": new,
                "new_root": roots[&new].to_hex(),
                "proof": hex_list(&proof),
            })
            .to_string(),
        );
        consistency.push('\n');
    }
    pack.insert(files::CONSISTENCY_PROOFS, consistency);

    // Attestations of the images the included events are about, when an included event
    // records them.
    let parsed: Vec<(u64, Event)> = events
        .iter()
        .filter_map(|logged| logged.event().ok().map(|event| (logged.index, event)))
        .collect();
    let facts = stamp_attest::LogFacts::fold(parsed.iter().map(|(index, event)| (*index, event)));
    let images: BTreeSet<Digest> = History::fold(&events)
        .builds
        .keys()
        .filter_map(|digest| digest.parse().ok())
        .collect();
    for image in &images {
        let envelopes = attestations_of(image).map_err(|source| ExportError::Attestations {
            image: image.to_string(),
            source,
        })?;
        for bytes in envelopes {
            let digest = Digest::of(&bytes);
            if facts.recorded.contains_key(&digest) {
                pack.insert(crate::attestations::path_of(image, &digest), bytes);
            }
        }
    }
    let index = crate::attestations::index(&pack.files, &trust, &events);
    let derived = report::derive(&events, &index, &scope);
    pack.insert(files::DRIFT_RUNS, pretty(&derived.drift_file));
    let evidence = evidence_json(input, &checkpoint, range_start, &sizes, &derived);
    pack.insert(files::EVIDENCE_JSON, pretty(&evidence));
    pack.insert(files::VERIFY_MD, verify_md(input, &checkpoint, range_start));
    pack.insert(files::INDEX_HTML, render_html(&evidence));
    let sums = pack.sums();
    let envelope = Envelope::sign(
        PAYLOAD_TYPE_SUMS,
        &sums,
        input.signing_key.signing_key(),
        input.signing_key.key_id(),
    );
    pack.insert(files::SHA256SUMS, sums);
    pack.insert(files::PACK_SIGNATURE, envelope.to_json_bytes());
    if let Some((what, value, limit)) = pack.over_limits() {
        return Err(ExportError::TooLarge { what, value, limit });
    }
    Ok(Exported {
        pack,
        evidence,
        events: events.len(),
        tree_size: size,
    })
}

fn render_html(evidence: &Value) -> String {
    crate::html::render(evidence)
}

pub fn pretty(value: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialize");
    bytes.push(b'\n');
    bytes
}

/// The header fields of `evidence.json` and the derived sections.
pub fn evidence_json(
    input: &ExportInput<'_>,
    checkpoint: &Checkpoint,
    range_start: u64,
    sizes: &[u64],
    derived: &report::Derived,
) -> Value {
    let mut evidence = json!({
        "schema": EVIDENCE_SCHEMA,
        "generatedAt": time_text::format(input.generated_at),
        "generatedBy": input.generated_by,
        "environment": input.env,
        "period": {
            "from": time_text::format(input.period.from),
            "to": time_text::format(input.period.to),
        },
        "log": {
            "origin": checkpoint.origin,
            "treeSize": checkpoint.size,
            "rootHash": checkpoint.root.to_base64(),
            "checkpoint": files::CHECKPOINT,
            "verifierKey": input.log_verifier.verifier_key(),
            "range": {"first": range_start, "last": checkpoint.size - 1},
            "checkpoints": sizes,
            "oldestEntry": derived.oldest_entry,
            "retention": derived.retention,
        },
        "files": files::SHA256SUMS,
        "signature": files::PACK_SIGNATURE,
    });
    for (key, value) in &derived.sections {
        evidence[*key] = value.clone();
    }
    evidence
}

fn verify_md(input: &ExportInput<'_>, checkpoint: &Checkpoint, range_start: u64) -> String {
    format!(
        r#"# How to check this evidence pack

Period {from} to {to}{env}. Log `{origin}`, checkpoint size {size}, root `{root}`.
Exported by `{by}` at {at}; the export itself is the log's entry {last} (`evidence.export`).

## With stamp (offline)

    stamp verify PACK --trust KEYS [--format json]

KEYS is your own copy of the organisation's public keys: a directory holding `trust.toml`
and `log.pub` (as `.stamp/` does), or a `trust.toml` with `log.pub` beside it. Obtain it
through a channel other than this pack. `stamp verify` exits 0 when everything below holds
and 1 naming each failure.

## What is checked, and how to check it by hand

1. `pack.sig.json` is a DSSE envelope (payload type `{payload_type}`) whose payload is
   exactly `SHA256SUMS`, signed by an identity of `trust.toml`.
2. `sha256sum -c SHA256SUMS` passes, and every file of the pack is listed.
3. `keys/trust.toml` and `keys/log.pub` are byte-for-byte your copies.
4. `log/checkpoint.txt` and `log/checkpoints/*.txt` are C2SP signed notes by the key in
   `log.pub` (`tlogverify note`, or Go's `golang.org/x/mod/sumdb/note`).
5. Each line of `log/events.jsonl` is `{{"index":N,"leaf":EVENT}}`; SHA-256(0x00 ‖ EVENT bytes)
   is the RFC 6962 leaf hash, and the line of `log/inclusion-proofs.jsonl` for N proves it
   is entry N of the checkpoint's tree (`tlogverify inclusion` takes each line as it is).
6. Every index from {first} (the period's first entry; the entry before it is older than the
   period) to {last} is present, in order: nothing was removed or reordered.
7. `log/consistency-proofs.jsonl` chains the period's checkpoints to the pack's checkpoint
   (`tlogverify consistency` takes each line as it is): the log only grew.
8. Every `attestations/IMAGE/ENVELOPE.json` is named by its own sha256, verifies with a key of
   `trust.toml` (in-toto statement about IMAGE) and is recorded by an event of the pack.
9. Every status in `evidence.json` recomputes from the events of the pack; `stamp verify`
   does this with the same code that wrote it, and names any requirement that differs.
10. `index.html` is exactly what stamp renders from `evidence.json`: the report people read
   says what the checked JSON says.
"#,
        from = time_text::format(input.period.from),
        to = time_text::format(input.period.to),
        env = input
            .env
            .as_deref()
            .map(|env| format!(", environment `{env}`"))
            .unwrap_or_default(),
        origin = checkpoint.origin,
        size = checkpoint.size,
        root = checkpoint.root.to_base64(),
        by = input.generated_by,
        at = time_text::format(input.generated_at),
        last = checkpoint.size - 1,
        first = range_start,
        payload_type = PAYLOAD_TYPE_SUMS,
    )
}
