//! The attestations of a pack (`attestations/<image hex>/<envelope hex>.json`): each envelope
//! checked against the trust file and the pack's events, indexed by envelope digest for the
//! assertions (an approval, gate verdict or SBOM counts only when its envelope is in the pack
//! and verifies).

use std::collections::BTreeMap;

use stamp_attest::{verify_attestation, LogFacts, Trust};
use stamp_core::Digest;

use crate::events::LoggedEvent;
use crate::files::ATTESTATIONS_DIR;

/// What one envelope of the pack is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationFacts {
    /// The pack path.
    pub path: String,
    /// The image the file is filed under (`sha256:…`).
    pub image: String,
    pub predicate_type: Option<String>,
    pub signer: Option<String>,
    /// `None` when it verified; else why not.
    pub problem: Option<String>,
}

impl AttestationFacts {
    pub fn verified(&self) -> bool {
        self.problem.is_none()
    }
}

/// Envelopes by their digest.
pub type AttestationIndex = BTreeMap<Digest, AttestationFacts>;

/// The pack path of an envelope attached to `image`.
pub fn path_of(image: &Digest, envelope: &Digest) -> String {
    format!("{ATTESTATIONS_DIR}{}/{}.json", image.hex(), envelope.hex())
}

/// Check every `attestations/` file of `files`: named by the digest of its bytes, filed under
/// an image its statement is about, signed by an identity of `trust` (revocations placed by the
/// pack's events) and recorded by a successful event of the pack.
pub fn index(
    files: &BTreeMap<String, Vec<u8>>,
    trust: &Trust,
    events: &[LoggedEvent],
) -> AttestationIndex {
    let parsed: Vec<(u64, stamp_core::Event)> = events
        .iter()
        .filter_map(|logged| logged.event().ok().map(|event| (logged.index, event)))
        .collect();
    let facts = LogFacts::fold(parsed.iter().map(|(index, event)| (*index, event)));
    let mut index = AttestationIndex::new();
    for (path, bytes) in files {
        let Some(rest) = path.strip_prefix(ATTESTATIONS_DIR) else {
            continue;
        };
        let computed = Digest::of(bytes);
        let mut facts_of = AttestationFacts {
            path: path.clone(),
            image: String::new(),
            predicate_type: None,
            signer: None,
            problem: None,
        };
        let named = rest.split_once('/').and_then(|(image, file)| {
            let image = Digest::from_hex(image).ok()?;
            let envelope = Digest::from_hex(file.strip_suffix(".json")?).ok()?;
            Some((image, envelope))
        });
        let Some((image, envelope)) = named else {
            facts_of.problem = Some("not named attestations/IMAGE_HEX/ENVELOPE_HEX.json".into());
            index.insert(computed, facts_of);
            continue;
        };
        facts_of.image = image.to_string();
        if envelope != computed {
            facts_of.problem = Some(format!(
                "its bytes hash to {computed}, not the {envelope} it is named by"
            ));
            index.insert(computed, facts_of);
            continue;
        }
        match verify_attestation(bytes, trust, Some(&facts)) {
            Ok(verified) => {
                facts_of.predicate_type = Some(verified.statement.predicate_type.clone());
                facts_of.signer = Some(verified.signer.name.clone());
                if !verified.statement.subject_digests().contains(&image) {
                    facts_of.problem = Some(format!("its statement is not about {image}"));
                } else if verified.recorded_at.is_none() {
                    facts_of.problem =
                        Some("no event of the pack records it (log inclusion)".into());
                }
            }
            Err(error) => {
                facts_of.problem = Some(format!("{} ({})", error, error.code()));
            }
        }
        index.insert(computed, facts_of);
    }
    index
}
