//! What the signing commands share: the trust file, the acting key, facts from the log, and
//! signing build provenance. Every change to keys or the trust file goes through the
//! recorder here, so it is a `key.add`, `key.revoke` or `policy.change` event.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stamp_attest::facts::detail;
use stamp_attest::keyring::ResolveKeyError;
use stamp_attest::policy::{check_signer, Refusal};
use stamp_attest::provenance::{new_invocation_id, provenance, BaseInput, BuildFacts, FileInput};
use stamp_attest::referrers::{attach, Referrer};
use stamp_attest::trust::is_valid_identity_name;
use stamp_attest::{Envelope, Identity, IdentityKey, KeyRing, LogFacts, Role, Trust};
use stamp_core::event::{EventKind, Outcome};
use stamp_core::Digest;
use stamp_image::manifest::FileType;
use stamp_image::spec::Base;
use stamp_image::{BuildOutput, Spec, Store};
use stamp_log::{LogStore, SqliteLog};
use time::OffsetDateTime;

use crate::recorder::Recorder;

/// The trust file inside the store directory.
pub const TRUST_FILE: &str = "trust.toml";

/// Entries read per query while folding the log.
const PAGE_ENTRIES: usize = 4096;

/// Environment variables naming the passphrase of an encrypted key.
pub const PASSPHRASE_FILE_ENV: &str = "STAMP_KEY_PASSPHRASE_FILE";
pub const PASSPHRASE_ENV: &str = "STAMP_KEY_PASSPHRASE";

/// Largest passphrase file read, in bytes.
const PASSPHRASE_FILE_BYTES_MAX: u64 = 4096;

pub fn trust_path(home: &Path) -> PathBuf {
    home.join(TRUST_FILE)
}

/// Fold every event of the log into the facts signing decisions need.
pub fn read_facts(log: &SqliteLog) -> anyhow::Result<LogFacts> {
    let mut facts = LogFacts::default();
    scan_events(log, |index, event| {
        facts.apply(index, event);
        false
    })?;
    Ok(facts)
}

/// Visit the events of the log in order until `stop` returns true; returns that event's
/// log index, or `None` when no event stopped the scan.
pub fn scan_events(
    log: &SqliteLog,
    mut stop: impl FnMut(u64, &stamp_core::Event) -> bool,
) -> anyhow::Result<Option<u64>> {
    let size = log.size()?;
    let mut start = 0;
    while start < size {
        let entries = log.read_entries(start, PAGE_ENTRIES)?;
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            start = entry.index + 1;
            let event = stamp_core::Event::from_canonical_bytes(&entry.bytes)
                .with_context(|| format!("log entry {} is not a valid event", entry.index))?;
            if stop(entry.index, &event) {
                return Ok(Some(entry.index));
            }
        }
    }
    Ok(None)
}

/// The passphrase for an encrypted key: the first line of `file`, else of
/// $STAMP_KEY_PASSPHRASE_FILE, else $STAMP_KEY_PASSPHRASE.
pub fn passphrase(file: Option<&Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let file = file
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(PASSPHRASE_FILE_ENV).map(PathBuf::from));
    if let Some(path) = file {
        let metadata = std::fs::metadata(&path)
            .with_context(|| format!("reading the passphrase file `{}`", path.display()))?;
        if metadata.len() > PASSPHRASE_FILE_BYTES_MAX {
            anyhow::bail!(
                "the passphrase file `{}` is larger than {PASSPHRASE_FILE_BYTES_MAX} bytes",
                path.display()
            );
        }
        let text = std::fs::read(&path)
            .with_context(|| format!("reading the passphrase file `{}`", path.display()))?;
        let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        return Ok(Some(line.to_vec()));
    }
    Ok(std::env::var(PASSPHRASE_ENV)
        .ok()
        .map(String::into_bytes)
        .filter(|bytes| !bytes.is_empty()))
}

/// Load the acting key: `--key`/$STAMP_KEY, else the default key, else the only key.
pub fn load_acting_key(home: &Path, key: Option<&str>) -> anyhow::Result<(IdentityKey, PathBuf)> {
    let path = KeyRing::new(home).resolve(key)?;
    let passphrase = if stamp_attest::keys::is_encrypted_file(&path)? {
        passphrase(None)?
    } else {
        None
    };
    let key = IdentityKey::read_file(&path, passphrase.as_deref())?;
    Ok((key, path))
}

/// The name of the acting identity, when a key can be resolved and is in the trust file;
/// used as the actor of key and policy changes. Never fails: without one, the recorder's
/// default actor stands.
pub fn acting_name(home: &Path, key: Option<&str>, trust: &Trust) -> Option<String> {
    let ring = KeyRing::new(home);
    let path = ring.resolve(key).ok()?;
    if path.parent() == Some(ring.dir()) {
        let name = path.file_stem()?.to_str()?.to_string();
        if trust.active(&name).is_some() {
            return Some(name);
        }
    }
    let (key, _) = load_acting_key(home, key).ok()?;
    trust
        .by_key_id(key.key_id())
        .map(|identity| identity.name.clone())
}

/// Read the trust file (the default policy when there is none). When its digest is not the
/// one the log last recorded, it was changed outside stamp: record that as a
/// `policy.change` now, so no change to the policy is missing from the log.
pub fn load_trust_recorded(
    home: &Path,
    recorder: &mut Recorder,
    facts: &mut LogFacts,
) -> anyhow::Result<Trust> {
    let path = trust_path(home);
    let Some((trust, digest)) = Trust::load(&path)? else {
        return Ok(Trust::new());
    };
    if facts.trust_digest != Some(digest) {
        eprintln!(
            "warning: `{}` changed outside stamp; recording the change as a policy.change event",
            path.display()
        );
        let mut event = recorder
            .event(EventKind::PolicyChange, Outcome::Success, TRUST_FILE)
            .detail(detail::TRUST_DIGEST, digest.to_string())
            .detail("change", "edited-outside-stamp");
        if let Some(previous) = facts.trust_digest {
            event = event.detail("previous_trust_digest", previous.to_string());
        }
        recorder.append(event)?;
        facts.trust_digest = Some(digest);
    }
    Ok(trust)
}

/// Record a trust change as `event` (which gets the new file's digest), then write the file.
/// Returns the event's log index.
pub fn save_trust_recorded(
    home: &Path,
    recorder: &mut Recorder,
    facts: &mut LogFacts,
    trust: &Trust,
    event: stamp_core::event::EventBuilder,
) -> anyhow::Result<u64> {
    let digest = Digest::of(trust.to_toml().as_bytes());
    let index = recorder.append(event.detail(detail::TRUST_DIGEST, digest.to_string()))?;
    let written = trust.save(&trust_path(home))?;
    debug_assert_eq!(written, digest);
    facts.trust_digest = Some(digest);
    Ok(index)
}

/// A signer ready to sign: its key and its identity in the trust file.
pub struct Signer {
    pub key: IdentityKey,
    pub identity: Identity,
}

impl Signer {
    /// The `signer` detail of events.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            detail::SIGNER_NAME: self.identity.name,
            detail::SIGNER_KEY_ID: self.key.key_id(),
        })
    }
}

/// The identity that signs a build's provenance, made on first use: with no key anywhere and
/// none named, a key named after the current user is created, given the builder role and made
/// the default (`key.add`). A signer that may not build is refused here, and the refusal is
/// a failed `build` event about `subject`.
pub fn builder(
    home: &Path,
    key: Option<&str>,
    recorder: &mut Recorder,
    subject: &str,
) -> anyhow::Result<Signer> {
    let mut facts = read_facts(&recorder.log)?;
    let mut trust = load_trust_recorded(home, recorder, &mut facts)?;
    let ring = KeyRing::new(home);
    let loaded = match load_acting_key(home, key) {
        Err(error)
            if key.is_none()
                && matches!(
                    error.downcast_ref::<ResolveKeyError>(),
                    Some(ResolveKeyError::NoKeys { .. })
                ) =>
        {
            let name = key_name_for(&recorder.actor());
            if trust.active(&name).is_some() {
                anyhow::bail!(
                    "the trust file has an identity `{name}` but its key is not in `{}`",
                    ring.dir().display()
                );
            }
            let new_key = IdentityKey::generate();
            let path = ring.create(&name, &new_key, None)?;
            ring.set_default(&name)?;
            let identity = Identity {
                name: name.clone(),
                public_key: new_key.public().clone(),
                roles: [Role::Builder].into(),
                revoked_at: None,
                revoked_reason: None,
            };
            trust.add(identity.clone())?;
            recorder.set_actor(&name);
            let event = recorder
                .event(EventKind::KeyAdd, Outcome::Success, &name)
                .detail("name", name.clone())
                .detail(detail::KEY_ID, new_key.key_id())
                .detail("roles", vec!["builder"])
                .detail("public_key", new_key.public().to_pem())
                .detail("created_by", "stamp build (first use)");
            save_trust_recorded(home, recorder, &mut facts, &trust, event)?;
            eprintln!(
                "created signing key `{name}` with the builder role: {} (key id {})",
                path.display(),
                new_key.key_id()
            );
            eprintln!(
                "hint: it signs build provenance; add approvers with `stamp key new --name NAME --role approver`"
            );
            (new_key, path)
        }
        other => other?,
    };
    let (key, _path) = loaded;
    let identity = trust.by_key_id(key.key_id()).cloned();
    if let Some(identity) = &identity {
        recorder.set_actor(&identity.name);
    }
    if let Err(refusal) = check_signer(
        identity.as_ref(),
        key.key_id(),
        &facts.key_revocations,
        &[Role::Builder].into(),
        "build",
    ) {
        refuse(
            recorder,
            EventKind::Build,
            subject,
            &refusal,
            key.key_id(),
            None,
        )?;
        return Err(refusal.into());
    }
    Ok(Signer {
        key,
        identity: identity.expect("check_signer refuses an unknown key"),
    })
}

/// Record a refused action as a failure event of `kind` about `subject`.
pub fn refuse(
    recorder: &mut Recorder,
    kind: EventKind,
    subject: &str,
    refusal: &Refusal,
    key_id: &str,
    environment: Option<&str>,
) -> anyhow::Result<u64> {
    let mut event = recorder
        .event(kind, Outcome::Failure, subject)
        .detail("reason", refusal.to_string())
        .detail("code", refusal.code())
        .detail(detail::KEY_ID, key_id.to_string());
    if let Some(environment) = environment {
        event = event.detail(detail::ENVIRONMENT, environment.to_string());
    }
    recorder.append(event)
}

/// A key file name from an actor (`user@host`): characters a key name may not hold become `-`.
fn key_name_for(actor: &str) -> String {
    let mut name: String = actor
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._@+-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_start_matches(['.', '-']).to_string();
    name.truncate(stamp_attest::trust::IDENTITY_NAME_BYTES_MAX);
    if is_valid_identity_name(&name) {
        name
    } else {
        "builder".to_string()
    }
}

/// What a signed attestation added to the store, for the event recording it.
pub struct Signed {
    pub referrer: Referrer,
    pub payload: Digest,
}

impl Signed {
    /// The `attestation` detail of events.
    pub fn detail(&self) -> serde_json::Value {
        serde_json::json!({
            detail::ATTESTATION_MANIFEST: self.referrer.manifest.to_string(),
            detail::ATTESTATION_ENVELOPE: self.referrer.envelope.to_string(),
            detail::ATTESTATION_PAYLOAD: self.payload.to_string(),
        })
    }
}

/// Sign `statement` as `signer` and attach the envelope to the image `image_digest`.
pub fn sign_and_attach(
    store: &Store,
    image_digest: &Digest,
    statement: &stamp_attest::Statement,
    signer: &Signer,
) -> anyhow::Result<Signed> {
    let image = store
        .images()?
        .into_iter()
        .find(|image| image.digest == *image_digest)
        .ok_or_else(|| stamp_image::store::StoreError::UnknownImage(image_digest.to_string()))?;
    let payload = statement.to_json_bytes();
    let envelope = Envelope::sign(
        stamp_attest::PAYLOAD_TYPE_IN_TOTO,
        &payload,
        signer.key.signing_key(),
        signer.key.key_id(),
    );
    let referrer = attach(
        store,
        &image.descriptor,
        &envelope.to_json_bytes(),
        &statement.predicate_type,
    )
    .context("attaching the attestation to the image")?;
    Ok(Signed {
        referrer,
        payload: Digest::of(&payload),
    })
}

/// Sign the SLSA provenance of a finished build and attach it to the image.
pub fn sign_provenance(
    store: &Store,
    spec: &Spec,
    spec_path: &Path,
    output: &BuildOutput,
    signer: &Signer,
    started_on: OffsetDateTime,
    finished_on: OffsetDateTime,
) -> anyhow::Result<Signed> {
    // Only the copies' destinations are looked up: the manifest (a million entries at most) is
    // streamed, never held whole.
    let dests: std::collections::BTreeSet<String> = spec
        .layers
        .iter()
        .flat_map(|layer| &layer.files)
        .map(|copy| copy.dest.to_string())
        .collect();
    let files = store.file_manifest_entries(&output.digest, |entry| {
        entry.file_type == FileType::File && dests.contains(&entry.path)
    })?;
    let mut inputs = Vec::new();
    for layer in &spec.layers {
        for copy in &layer.files {
            let dest = copy.dest.to_string();
            let sha256 = files
                .iter()
                .find(|entry| entry.path == dest && entry.file_type == FileType::File)
                .and_then(|entry| entry.sha256.as_deref())
                .and_then(|hex| Digest::from_hex(hex).ok());
            inputs.push(FileInput {
                source: copy.source_text.clone(),
                dest,
                sha256,
            });
        }
    }
    let relative = |path: &Path| {
        path.strip_prefix(&spec.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let base = match (&spec.base, output.base_digest) {
        (Base::Rootfs { path, .. }, Some(digest)) => Some(BaseInput {
            name: relative(path),
            digest,
        }),
        (Base::OciLayout { layout, .. }, Some(digest)) => Some(BaseInput {
            name: format!("oci-layout:{}", relative(layout)),
            digest,
        }),
        _ => None,
    };
    let statement = provenance(&BuildFacts {
        image_name: spec.name.clone(),
        image_digest: output.digest,
        spec_path: spec_path.display().to_string(),
        spec_digest: output.spec_digest,
        git_commit: output.git_commit.clone(),
        base,
        inputs,
        source_date_epoch: output.source_date_epoch,
        source_date_from: output.source_date_from.to_string(),
        architecture: spec.architecture.clone(),
        os: spec.os.clone(),
        file_manifest_root: output.file_manifest_root,
        invocation_id: new_invocation_id(),
        started_on,
        finished_on,
        stamp_version: env!("CARGO_PKG_VERSION").to_string(),
    });
    sign_and_attach(store, &output.digest, &statement, signer)
}
