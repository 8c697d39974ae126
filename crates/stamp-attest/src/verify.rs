//! Verify one attestation envelope against the trust file and, when there is one, the log.
//!
//! In order: the envelope parses within limits; its payload type is in-toto; a signature
//! verifies (Ed25519 over the DSSE PAE) with the key of an identity in the trust file (the
//! `keyid` hint picks which to try first, but every trusted key is tried); the signer's key is
//! unrevoked, or was revoked at log index R and the envelope was recorded in the log before
//! R; the payload is a strict in-toto Statement v1; a predicate stamp knows parses strictly
//! and agrees with the statement (an approval names the signer and the subject image).

use stamp_core::Digest;

use crate::approval::{Approval, PREDICATE_TYPE_APPROVAL};
use crate::dsse::{Envelope, ParseEnvelopeError, PAYLOAD_TYPE_IN_TOTO};
use crate::facts::LogFacts;
use crate::policy::effective_revocation;
use crate::provenance::{Provenance, PREDICATE_TYPE_SLSA_PROVENANCE_V1};
use crate::statement::{ParseStatementError, Statement};
use crate::trust::{Identity, Trust};

/// A predicate stamp understands, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Predicate {
    Provenance(Box<Provenance>),
    Approval(Box<Approval>),
    /// A predicate type stamp does not interpret (its statement still verified).
    Other,
}

/// A verified attestation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub signer: Identity,
    pub statement: Statement,
    pub predicate: Predicate,
    pub envelope_digest: Digest,
    pub payload_digest: Digest,
    /// Log index of the event that recorded it, when a log was consulted and holds it.
    pub recorded_at: Option<u64>,
    /// When the signer's key is revoked, where (the signature was recorded before it).
    pub revoked_at: Option<u64>,
}

/// Why an envelope did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyAttestationError {
    #[error("not a DSSE envelope stamp can check")]
    Envelope(#[from] ParseEnvelopeError),
    #[error("payloadType is `{0}`, not `{PAYLOAD_TYPE_IN_TOTO}`")]
    PayloadType(String),
    #[error("no signature verifies with a key of the trust file (keyids: {keyids})")]
    UnknownSigner { keyids: String },
    #[error("the signature by `{name}` (key {key_id}) does not verify: the envelope was changed or signed by another key")]
    BadSignature { name: String, key_id: String },
    #[error("signed by `{name}` (key {key_id}), revoked at log index {revoked_at}; {}", match .recorded_at {
        Some(index) => format!("this envelope was recorded at index {index}, not before the revocation"),
        None => "this envelope is not recorded in the log before the revocation".to_string(),
    })]
    Revoked {
        name: String,
        key_id: String,
        revoked_at: u64,
        recorded_at: Option<u64>,
    },
    #[error("the payload is not a valid in-toto statement")]
    Statement(#[from] ParseStatementError),
    #[error("the `{predicate_type}` predicate is not valid")]
    Predicate {
        predicate_type: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the approval names `{claimed}` but was signed by `{signer}`")]
    ApproverMismatch { claimed: String, signer: String },
    #[error("the approval's image is not the statement's subject")]
    ApprovalSubjectMismatch,
}

impl VerifyAttestationError {
    /// A stable kebab-case code for reports.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyAttestationError::Envelope(_) => "envelope-invalid",
            VerifyAttestationError::PayloadType(_) => "payload-type",
            VerifyAttestationError::UnknownSigner { .. } => "unknown-signer",
            VerifyAttestationError::BadSignature { .. } => "bad-signature",
            VerifyAttestationError::Revoked { .. } => "key-revoked",
            VerifyAttestationError::Statement(_) => "statement-invalid",
            VerifyAttestationError::Predicate { .. } => "predicate-invalid",
            VerifyAttestationError::ApproverMismatch { .. } => "approver-mismatch",
            VerifyAttestationError::ApprovalSubjectMismatch => "approval-subject-mismatch",
        }
    }
}

/// Verify `bytes` (a DSSE envelope) against `trust`, placing it in `facts` when given.
pub fn verify_attestation(
    bytes: &[u8],
    trust: &Trust,
    facts: Option<&LogFacts>,
) -> Result<Verified, VerifyAttestationError> {
    let envelope = Envelope::parse(bytes)?;
    if envelope.payload_type != PAYLOAD_TYPE_IN_TOTO {
        return Err(VerifyAttestationError::PayloadType(envelope.payload_type));
    }
    let signer = find_signer(&envelope, trust)?;
    let payload = envelope.payload_bytes()?;
    let envelope_digest = Digest::of(bytes);
    let payload_digest = Digest::of(&payload);
    let recorded_at = facts.and_then(|facts| facts.recorded_at(&[envelope_digest, payload_digest]));
    let empty = Default::default();
    let revocations = facts.map(|facts| &facts.key_revocations).unwrap_or(&empty);
    let revoked_at = effective_revocation(signer, revocations);
    if let Some(revoked_at) = revoked_at {
        if recorded_at.is_none_or(|index| index >= revoked_at) {
            return Err(VerifyAttestationError::Revoked {
                name: signer.name.clone(),
                key_id: signer.key_id().to_string(),
                revoked_at,
                recorded_at,
            });
        }
    }
    let statement = Statement::parse(&payload)?;
    let predicate_error = |source| VerifyAttestationError::Predicate {
        predicate_type: statement.predicate_type.clone(),
        source,
    };
    let predicate = match statement.predicate_type.as_str() {
        PREDICATE_TYPE_SLSA_PROVENANCE_V1 => {
            Predicate::Provenance(Box::new(statement.predicate_as().map_err(predicate_error)?))
        }
        PREDICATE_TYPE_APPROVAL => {
            let approval: Approval = statement.predicate_as().map_err(predicate_error)?;
            if approval.approver.id != signer.name || approval.approver.keyid != signer.key_id() {
                return Err(VerifyAttestationError::ApproverMismatch {
                    claimed: approval.approver.id,
                    signer: signer.name.clone(),
                });
            }
            let image = approval.image.sha256_digest();
            if image.is_none() || !statement.subject_digests().contains(&image.unwrap()) {
                return Err(VerifyAttestationError::ApprovalSubjectMismatch);
            }
            Predicate::Approval(Box::new(approval))
        }
        _ => Predicate::Other,
    };
    Ok(Verified {
        signer: signer.clone(),
        statement,
        predicate,
        envelope_digest,
        payload_digest,
        recorded_at,
        revoked_at,
    })
}

fn find_signer<'a>(
    envelope: &Envelope,
    trust: &'a Trust,
) -> Result<&'a Identity, VerifyAttestationError> {
    let hinted: Vec<&Identity> = envelope
        .signatures
        .iter()
        .filter_map(|signature| trust.by_key_id(&signature.keyid))
        .collect();
    let others = trust
        .identities()
        .iter()
        .filter(|identity| !hinted.iter().any(|h| h.key_id() == identity.key_id()));
    for identity in hinted.iter().copied().chain(others) {
        if envelope.verify(identity.public_key.verifying_key()).is_ok() {
            return Ok(identity);
        }
    }
    match hinted.first() {
        Some(identity) => Err(VerifyAttestationError::BadSignature {
            name: identity.name.clone(),
            key_id: identity.key_id().to_string(),
        }),
        None => Err(VerifyAttestationError::UnknownSigner {
            keyids: envelope
                .signatures
                .iter()
                .map(|signature| {
                    if signature.keyid.is_empty() {
                        "(none)".to_string()
                    } else {
                        signature.keyid.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::{approval, ApprovalFacts};
    use crate::keys::IdentityKey;
    use crate::trust::Role;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use time::macros::datetime;

    struct Fixture {
        trust: Trust,
        alice: IdentityKey,
        image: Digest,
    }

    fn fixture() -> Fixture {
        let alice = IdentityKey::generate();
        let mut trust = Trust::new();
        trust
            .add(Identity {
                name: "alice".into(),
                public_key: alice.public().clone(),
                roles: [Role::Approver].into(),
                revoked_at: None,
                revoked_reason: None,
            })
            .unwrap();
        Fixture {
            trust,
            alice,
            image: Digest::of(b"image"),
        }
    }

    fn signed_approval(fixture: &Fixture, approver: &str) -> Vec<u8> {
        let statement = approval(&ApprovalFacts {
            approver,
            keyid: fixture.alice.key_id(),
            image_name: "hello",
            image_digest: &fixture.image,
            environment: "prod",
            comment: None,
            approved_on: datetime!(2025-01-01 00:00:00 UTC),
        });
        Envelope::sign(
            PAYLOAD_TYPE_IN_TOTO,
            &statement.to_json_bytes(),
            fixture.alice.signing_key(),
            fixture.alice.key_id(),
        )
        .to_json_bytes()
    }

    #[test]
    fn a_good_approval_verifies_and_a_changed_one_does_not() {
        let fixture = fixture();
        let bytes = signed_approval(&fixture, "alice");
        let verified = verify_attestation(&bytes, &fixture.trust, None).unwrap();
        assert_eq!(verified.signer.name, "alice");
        assert!(matches!(verified.predicate, Predicate::Approval(_)));

        let mut envelope = Envelope::parse(&bytes).unwrap();
        let mut payload = envelope.payload_bytes().unwrap();
        let position = payload.iter().position(|&b| b == b'p').unwrap();
        payload[position] = b'q';
        envelope.payload = STANDARD.encode(&payload);
        assert!(matches!(
            verify_attestation(&envelope.to_json_bytes(), &fixture.trust, None),
            Err(VerifyAttestationError::BadSignature { .. })
        ));

        let mut unknown = Envelope::parse(&bytes).unwrap();
        unknown.signatures[0].keyid = "nobody".into();
        let other = IdentityKey::generate();
        let resigned = Envelope::sign(
            PAYLOAD_TYPE_IN_TOTO,
            &unknown.payload_bytes().unwrap(),
            other.signing_key(),
            "nobody",
        );
        assert!(matches!(
            verify_attestation(&resigned.to_json_bytes(), &fixture.trust, None),
            Err(VerifyAttestationError::UnknownSigner { .. })
        ));
    }

    #[test]
    fn an_approval_claiming_another_approver_is_refused() {
        let fixture = fixture();
        let bytes = signed_approval(&fixture, "bob");
        assert!(matches!(
            verify_attestation(&bytes, &fixture.trust, None),
            Err(VerifyAttestationError::ApproverMismatch { .. })
        ));
    }

    #[test]
    fn revocation_keeps_signatures_recorded_before_it_and_only_those() {
        let mut fixture = fixture();
        let bytes = signed_approval(&fixture, "alice");
        let key_id = fixture.alice.key_id().to_string();
        fixture.trust.revoke(&key_id, 10, "left").unwrap();
        let recorded = |index: u64| {
            let mut facts = LogFacts::default();
            facts.recorded.insert(Digest::of(&bytes), index);
            facts
        };
        let before = verify_attestation(&bytes, &fixture.trust, Some(&recorded(9))).unwrap();
        assert_eq!(before.recorded_at, Some(9));
        assert_eq!(before.revoked_at, Some(10));
        assert!(matches!(
            verify_attestation(&bytes, &fixture.trust, Some(&recorded(11))),
            Err(VerifyAttestationError::Revoked {
                revoked_at: 10,
                recorded_at: Some(11),
                ..
            })
        ));
        assert!(matches!(
            verify_attestation(&bytes, &fixture.trust, None),
            Err(VerifyAttestationError::Revoked {
                recorded_at: None,
                ..
            })
        ));
    }
}
