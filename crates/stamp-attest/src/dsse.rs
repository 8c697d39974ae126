//! DSSE (Dead Simple Signing Envelope) v1: the pre-authentication encoding, the JSON envelope,
//! signing and verification with Ed25519.
//!
//! * PAE (DSSE `protocol.md`): `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths
//!   as ASCII decimal byte counts, no leading zeros. The signature covers exactly these bytes,
//!   so the payload type is authenticated too.
//! * Envelope (DSSE `envelope.md`): `{"payload": base64, "payloadType": text,
//!   "signatures": [{"keyid": text, "sig": base64}]}`. `keyid` is an unauthenticated hint;
//!   verification never trusts it, it only picks which key to try first.
//!
//! Base64 is written in the standard alphabet with padding; both alphabets are read (the
//! spec allows either). Envelopes are parsed strictly (no unknown fields) within
//! [`ENVELOPE_BYTES_MAX`] and [`SIGNATURES_MAX`].

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ed25519_dalek::{Signature as Ed25519Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// The payload type of in-toto statements.
pub const PAYLOAD_TYPE_IN_TOTO: &str = "application/vnd.in-toto+json";

/// The OCI media type of a DSSE envelope stored as a blob.
pub const MEDIA_TYPE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";

/// Largest envelope read, in bytes. A provenance statement is a few KiB; 4 MiB leaves room
/// for a statement listing many inputs while bounding what a hostile file can make us parse.
pub const ENVELOPE_BYTES_MAX: usize = 4 << 20;

/// Most signatures in one envelope (stamp writes one; DSSE allows several).
pub const SIGNATURES_MAX: usize = 16;

/// Longest `keyid` accepted, in bytes.
pub const KEYID_BYTES_MAX: usize = 256;

/// The DSSE v1 pre-authentication encoding of `payload` of type `payload_type`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + payload_type.len() + payload.len());
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// Hint naming the key (stamp writes the key id: hex SHA-256 of the SPKI DER).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// Base64 of the 64-byte Ed25519 signature over the PAE.
    pub sig: String,
}

/// A DSSE envelope as it appears in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<EnvelopeSignature>,
}

/// Why bytes are not an envelope stamp can check.
#[derive(Debug, thiserror::Error)]
pub enum ParseEnvelopeError {
    #[error("envelope has {bytes} bytes, more than the {max} allowed")]
    TooLarge { bytes: usize, max: usize },
    #[error("envelope is not DSSE JSON (`payload`, `payloadType`, `signatures`)")]
    Json(#[source] serde_json::Error),
    #[error("envelope payload is not base64")]
    PayloadEncoding,
    #[error("envelope has no signatures")]
    NoSignatures,
    #[error("envelope has {count} signatures, more than the {max} allowed")]
    TooManySignatures { count: usize, max: usize },
    #[error("envelope signature {position} has a keyid longer than {max} bytes")]
    KeyIdTooLong { position: usize, max: usize },
}

/// Why no signature of an envelope verified.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyEnvelopeError {
    #[error("no signature of the envelope verifies with the key")]
    NoValidSignature,
}

impl Envelope {
    /// Sign `payload` of type `payload_type` with `key`, naming it `keyid`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey, keyid: &str) -> Envelope {
        let signature = key.sign(&pae(payload_type, payload));
        Envelope {
            payload: STANDARD.encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![EnvelopeSignature {
                keyid: keyid.to_string(),
                sig: STANDARD.encode(signature.to_bytes()),
            }],
        }
    }

    /// Parse and bound an envelope (signatures are not checked here).
    pub fn parse(bytes: &[u8]) -> Result<Envelope, ParseEnvelopeError> {
        if bytes.len() > ENVELOPE_BYTES_MAX {
            return Err(ParseEnvelopeError::TooLarge {
                bytes: bytes.len(),
                max: ENVELOPE_BYTES_MAX,
            });
        }
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(ParseEnvelopeError::Json)?;
        if envelope.signatures.is_empty() {
            return Err(ParseEnvelopeError::NoSignatures);
        }
        if envelope.signatures.len() > SIGNATURES_MAX {
            return Err(ParseEnvelopeError::TooManySignatures {
                count: envelope.signatures.len(),
                max: SIGNATURES_MAX,
            });
        }
        for (position, signature) in envelope.signatures.iter().enumerate() {
            if signature.keyid.len() > KEYID_BYTES_MAX {
                return Err(ParseEnvelopeError::KeyIdTooLong {
                    position,
                    max: KEYID_BYTES_MAX,
                });
            }
        }
        envelope.payload_bytes()?;
        Ok(envelope)
    }

    /// The envelope as compact JSON, the bytes stamp stores and logs by digest.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope serializes")
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, ParseEnvelopeError> {
        decode_base64(&self.payload).ok_or(ParseEnvelopeError::PayloadEncoding)
    }

    /// The position of the first signature that verifies with `key` over this envelope's PAE.
    /// Ed25519 is checked strictly (no small-order keys, canonical `s`).
    pub fn verify(&self, key: &VerifyingKey) -> Result<usize, VerifyEnvelopeError> {
        let payload = self
            .payload_bytes()
            .map_err(|_| VerifyEnvelopeError::NoValidSignature)?;
        let message = pae(&self.payload_type, &payload);
        self.signatures
            .iter()
            .position(|signature| {
                decode_base64(&signature.sig)
                    .and_then(|bytes| <[u8; 64]>::try_from(bytes.as_slice()).ok())
                    .map(|bytes| Ed25519Signature::from_bytes(&bytes))
                    .is_some_and(|signature| key.verify_strict(&message, &signature).is_ok())
            })
            .ok_or(VerifyEnvelopeError::NoValidSignature)
    }
}

/// Standard or URL-safe base64, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn pae_reproduces_the_dsse_specification_example() {
        // DSSE protocol.md, "Test vectors".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn pae_counts_bytes_not_characters_and_handles_empty_parts() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
        assert_eq!(
            pae("t", "é".as_bytes()),
            "DSSEv1 1 t 2 é".as_bytes().to_vec()
        );
    }

    #[test]
    fn sign_then_verify_round_trips_through_json() {
        let signer = key(7);
        let envelope = Envelope::sign(PAYLOAD_TYPE_IN_TOTO, b"{\"a\":1}", &signer, "k1");
        let parsed = Envelope::parse(&envelope.to_json_bytes()).unwrap();
        assert_eq!(parsed, envelope);
        assert_eq!(parsed.verify(&signer.verifying_key()), Ok(0));
        assert_eq!(
            parsed.verify(&key(8).verifying_key()),
            Err(VerifyEnvelopeError::NoValidSignature)
        );
        // Field order of the JSON is the specification's.
        let text = String::from_utf8(envelope.to_json_bytes()).unwrap();
        assert!(text.starts_with("{\"payload\":\""), "{text}");
        assert!(text.contains("\"payloadType\":\"application/vnd.in-toto+json\""));
    }

    #[test]
    fn any_change_to_payload_type_payload_or_signature_fails() {
        let signer = key(1);
        let envelope = Envelope::sign(PAYLOAD_TYPE_IN_TOTO, b"payload", &signer, "");
        let public = signer.verifying_key();

        let mut changed_type = envelope.clone();
        changed_type.payload_type = "application/json".into();
        assert!(changed_type.verify(&public).is_err());

        let mut changed_payload = envelope.clone();
        changed_payload.payload = STANDARD.encode(b"paylaod");
        assert!(changed_payload.verify(&public).is_err());

        let mut changed_signature = envelope.clone();
        let mut sig = STANDARD.decode(&envelope.signatures[0].sig).unwrap();
        sig[10] ^= 1;
        changed_signature.signatures[0].sig = STANDARD.encode(sig);
        assert!(changed_signature.verify(&public).is_err());
    }

    #[test]
    fn url_safe_base64_is_read_too() {
        let signer = key(2);
        let mut envelope = Envelope::sign(PAYLOAD_TYPE_IN_TOTO, &[0xfb; 30], &signer, "");
        let sig = STANDARD.decode(&envelope.signatures[0].sig).unwrap();
        envelope.payload = URL_SAFE_NO_PAD.encode([0xfb; 30]);
        envelope.signatures[0].sig = URL_SAFE.encode(sig);
        assert_eq!(envelope.verify(&signer.verifying_key()), Ok(0));
    }

    #[test]
    fn strict_parsing_and_limits() {
        let signer = key(3);
        let envelope = Envelope::sign(PAYLOAD_TYPE_IN_TOTO, b"x", &signer, "k");
        let mut value: serde_json::Value =
            serde_json::from_slice(&envelope.to_json_bytes()).unwrap();
        value["extra"] = 1.into();
        assert!(matches!(
            Envelope::parse(value.to_string().as_bytes()),
            Err(ParseEnvelopeError::Json(_))
        ));

        let mut none = envelope.clone();
        none.signatures.clear();
        assert!(matches!(
            Envelope::parse(&none.to_json_bytes()),
            Err(ParseEnvelopeError::NoSignatures)
        ));

        let mut many = envelope.clone();
        many.signatures = vec![envelope.signatures[0].clone(); SIGNATURES_MAX];
        assert!(Envelope::parse(&many.to_json_bytes()).is_ok());
        many.signatures.push(envelope.signatures[0].clone());
        assert!(matches!(
            Envelope::parse(&many.to_json_bytes()),
            Err(ParseEnvelopeError::TooManySignatures { .. })
        ));

        let mut long_keyid = envelope.clone();
        long_keyid.signatures[0].keyid = "k".repeat(KEYID_BYTES_MAX);
        assert!(Envelope::parse(&long_keyid.to_json_bytes()).is_ok());
        long_keyid.signatures[0].keyid.push('k');
        assert!(matches!(
            Envelope::parse(&long_keyid.to_json_bytes()),
            Err(ParseEnvelopeError::KeyIdTooLong { .. })
        ));

        let mut bad_payload = envelope.clone();
        bad_payload.payload = "%%%".into();
        assert!(matches!(
            Envelope::parse(&bad_payload.to_json_bytes()),
            Err(ParseEnvelopeError::PayloadEncoding)
        ));

        let mut at_limit = vec![b' '; ENVELOPE_BYTES_MAX];
        at_limit[0] = b'{';
        at_limit[ENVELOPE_BYTES_MAX - 1] = b'}';
        assert!(matches!(
            Envelope::parse(&at_limit),
            Err(ParseEnvelopeError::Json(_))
        ));
        at_limit.push(b' ');
        assert!(matches!(
            Envelope::parse(&at_limit),
            Err(ParseEnvelopeError::TooLarge { .. })
        ));
    }
}
