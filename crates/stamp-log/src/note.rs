//! C2SP signed-note: a text ending in a newline, a blank line, then one or more signature lines
//! `— <key name> base64(key hash (4 bytes, big-endian) ‖ signature)` (em dash U+2014).
//! The signed message is the text including its final newline. Parsing follows Go's
//! `note.Open`: valid UTF-8, no control characters but newline, the signature block after the
//! last blank line; unknown keys are kept as unverified signatures, a known key with a bad
//! signature is an error, and at least one known key must have signed.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::keys::{is_valid_key_name, NoteSigner, NoteVerifier};

/// Largest note accepted, in bytes. A stamp checkpoint is about 200 bytes; 64 KiB leaves room
/// for extension lines and many cosignatures while bounding what a reader must hold.
pub const NOTE_BYTES_MAX: usize = 64 * 1024;

/// Most lines in a note's text (before the blank line).
pub const NOTE_TEXT_LINES_MAX: usize = 256;

/// Most signature lines in a note (Go's `note.Open` stops at 100 too).
pub const NOTE_SIGNATURES_MAX: usize = 100;

const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// One signature line, not yet checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_hash: u32,
    /// The signature bytes after the 4-byte key hash.
    pub signature: Vec<u8>,
}

/// A parsed note whose signatures have not been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

/// A note with at least one signature verified by a known key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedNote {
    pub text: String,
    /// `(name, key hash)` of every known key that signed.
    pub verified_by: Vec<(String, u32)>,
    /// Signatures by keys not among the verifiers (for example cosigners).
    pub unverified: Vec<NoteSignature>,
}

/// Why bytes are not a signed note.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseNoteError {
    #[error("note has {bytes} bytes, more than the {max} allowed")]
    TooLarge { bytes: usize, max: usize },
    #[error("note is not valid UTF-8")]
    NotUtf8,
    #[error("note contains a control character at byte {offset}")]
    ControlCharacter { offset: usize },
    #[error("note has no signature block (a blank line followed by signature lines)")]
    NoSignatureBlock,
    #[error("note signature block does not end with a newline")]
    SignatureBlockUnterminated,
    #[error("note text has more than {max} lines")]
    TooManyLines { max: usize },
    #[error("note has more than {max} signatures")]
    TooManySignatures { max: usize },
    #[error("note signature line {line} is malformed")]
    SignatureLine { line: usize },
}

/// Why a note could not be opened (parsed and verified).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpenNoteError {
    #[error("parsing the note")]
    Parse(#[from] ParseNoteError),
    #[error("note signature by {name}+{key_hash:08x} is invalid")]
    InvalidSignature { name: String, key_hash: u32 },
    #[error("note is not signed by any known key")]
    NoKnownSignature,
    #[error("more than one verifier for key {name}+{key_hash:08x}")]
    AmbiguousVerifier { name: String, key_hash: u32 },
}

/// Why a text could not be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignNoteError {
    #[error("note text must end with a newline")]
    Unterminated,
    #[error("note text must not contain control characters other than newline")]
    ControlCharacter,
    #[error("note text must not contain a blank line")]
    BlankLine,
    #[error("note text has {bytes} bytes with signatures, more than the {max} allowed")]
    TooLarge { bytes: usize, max: usize },
    #[error("note text has more than {max} lines")]
    TooManyLines { max: usize },
}

/// Parse a signed note without checking signatures.
pub fn parse_note(message: &[u8]) -> Result<Note, ParseNoteError> {
    if message.len() > NOTE_BYTES_MAX {
        return Err(ParseNoteError::TooLarge {
            bytes: message.len(),
            max: NOTE_BYTES_MAX,
        });
    }
    let message = std::str::from_utf8(message).map_err(|_| ParseNoteError::NotUtf8)?;
    if let Some((offset, _)) = message
        .char_indices()
        .find(|&(_, c)| c != '\n' && (c as u32) < 0x20)
    {
        return Err(ParseNoteError::ControlCharacter { offset });
    }
    let split = message
        .rfind("\n\n")
        .ok_or(ParseNoteError::NoSignatureBlock)?;
    let (text, block) = (&message[..split + 1], &message[split + 2..]);
    if block.is_empty() || !block.ends_with('\n') {
        return Err(ParseNoteError::SignatureBlockUnterminated);
    }
    if text.matches('\n').count() > NOTE_TEXT_LINES_MAX {
        return Err(ParseNoteError::TooManyLines {
            max: NOTE_TEXT_LINES_MAX,
        });
    }
    let mut signatures = Vec::new();
    for (line_number, line) in block[..block.len() - 1].split('\n').enumerate() {
        if signatures.len() == NOTE_SIGNATURES_MAX {
            return Err(ParseNoteError::TooManySignatures {
                max: NOTE_SIGNATURES_MAX,
            });
        }
        let malformed = ParseNoteError::SignatureLine {
            line: line_number + 1,
        };
        let body = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(malformed.clone())?;
        let (name, encoded) = body.split_once(' ').ok_or(malformed.clone())?;
        if !is_valid_key_name(name) || encoded.is_empty() {
            return Err(malformed);
        }
        let raw = BASE64.decode(encoded).map_err(|_| malformed.clone())?;
        if raw.len() < 5 {
            return Err(malformed);
        }
        signatures.push(NoteSignature {
            name: name.to_string(),
            key_hash: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
            signature: raw[4..].to_vec(),
        });
    }
    Ok(Note {
        text: text.to_string(),
        signatures,
    })
}

/// Parse a note and check its signatures against `verifiers` (Go: `note.Open`).
pub fn open_note(
    message: &[u8],
    verifiers: &[NoteVerifier],
) -> Result<VerifiedNote, OpenNoteError> {
    open_note_with(message, verifiers, |verifier, text, signature| {
        verifier.verify(text, signature)
    })
}

/// Most signatures checked in one Ed25519 batch by [`open_notes`].
pub const NOTE_BATCH_SIGNATURES_MAX: usize = 64;

/// [`open_note`] for many notes at once, with the same result for every note as `open_note`
/// gives it alone, in the same order.
///
/// The signatures are first checked together, in batches of at most
/// [`NOTE_BATCH_SIGNATURES_MAX`], with one multiscalar multiplication per batch (about half the
/// cost of checking them one by one; see `batch_holds`). A batch that passes means every
/// signature in it holds. A batch that fails is checked again note by note with `open_note`
/// ([`NoteVerifier::verify`], `verify_strict`), so a bad signature is named exactly as
/// `open_note` names it.
///
/// The batch equation is cofactorless, as `verify_strict` is, and accepts what a forger
/// without the private key could make with probability about 2^-128. What it may accept that
/// `verify_strict` refuses (an `R` with a torsion component, or a non-canonical encoding of
/// `R`, with the matching `s`) can only be made with the private key, by the signer, whose
/// signature is what is being established. ed25519-dalek's `verify_batch` has the same
/// property.
pub fn open_notes(
    messages: &[&[u8]],
    verifiers: &[NoteVerifier],
) -> Vec<Result<VerifiedNote, OpenNoteError>> {
    let mut results = Vec::with_capacity(messages.len());
    let mut start = 0;
    while start < messages.len() {
        // The notes whose signature checks fit in one batch (at least one note), each opened
        // as if every check held.
        let mut checks: Vec<SignatureCheck> = Vec::new();
        let mut tentative = Vec::new();
        let mut end = start;
        while end < messages.len() {
            let mut wanted: Vec<SignatureCheck> = Vec::new();
            let result = open_note_with(messages[end], verifiers, |verifier, text, signature| {
                wanted.push(SignatureCheck {
                    key: *verifier.public_key(),
                    text: text.to_vec(),
                    signature: signature.to_vec(),
                });
                true
            });
            if end > start && checks.len() + wanted.len() > NOTE_BATCH_SIGNATURES_MAX {
                break;
            }
            checks.extend(wanted);
            tentative.push(result);
            end += 1;
        }
        if batch_holds(&checks) {
            results.extend(tentative);
        } else {
            results.extend(
                messages[start..end]
                    .iter()
                    .map(|message| open_note(message, verifiers)),
            );
        }
        start = end;
    }
    results
}

/// One Ed25519 signature check that opening a note needs.
struct SignatureCheck {
    key: ed25519_dalek::VerifyingKey,
    text: Vec<u8>,
    signature: Vec<u8>,
}

/// Whether every check in `checks` holds, checked as one batch; `false` when any one may not
/// (or when no random weights could be had).
///
/// Each check is the cofactorless Ed25519 equation `[s]B = R + [k]A`, `k = SHA-512(R ‖ A ‖ M)`.
/// With independent random 128-bit weights `z`, the batch checks
/// `Σ z·R + (Σ z·k)·A − (Σ z·s)·B = 0`: the sum of the `z`-weighted equations, which is
/// ed25519-dalek's `verify_batch` equation with the terms of each key added up (all
/// checkpoints are signed by one key, so the multiscalar multiplication has one point per
/// signature instead of two). A set with a false equation passes with probability about
/// 2^-128. As `verify_strict` does, it refuses a non-canonical `s`, an `R` that does not
/// decompress, a small-order `R` and a small-order key.
fn batch_holds(checks: &[SignatureCheck]) -> bool {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::{IsIdentity as _, VartimeMultiscalarMul as _};
    use rand_core::RngCore as _;
    use sha2::{Digest as _, Sha512};

    if checks.is_empty() {
        return true;
    }
    let mut weights = vec![0u8; 16 * checks.len()];
    if rand_core::OsRng.try_fill_bytes(&mut weights).is_err() {
        return false;
    }
    let mut scalars: Vec<Scalar> = Vec::with_capacity(checks.len() + 2);
    let mut points: Vec<EdwardsPoint> = Vec::with_capacity(checks.len() + 2);
    let mut basepoint = Scalar::ZERO;
    let mut keys: Vec<(ed25519_dalek::VerifyingKey, Scalar)> = Vec::new();
    for (check, weight) in checks.iter().zip(weights.chunks_exact(16)) {
        let Ok(signature) = <&[u8; 64]>::try_from(check.signature.as_slice()) else {
            return false;
        };
        let (r_bytes, s_bytes) = signature.split_at(32);
        let r_bytes: [u8; 32] = r_bytes.try_into().expect("32 bytes");
        let s_bytes: [u8; 32] = s_bytes.try_into().expect("32 bytes");
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        if r.is_small_order() {
            return false;
        }
        let k: [u8; 64] = Sha512::new()
            .chain_update(r_bytes)
            .chain_update(check.key.as_bytes())
            .chain_update(&check.text)
            .finalize()
            .into();
        let k = Scalar::from_bytes_mod_order_wide(&k);
        let z = Scalar::from(u128::from_le_bytes(weight.try_into().expect("16 bytes")));
        basepoint += z * s;
        scalars.push(z);
        points.push(r);
        match keys.iter_mut().find(|(key, _)| *key == check.key) {
            Some((_, coefficient)) => *coefficient += z * k,
            None => {
                if check.key.is_weak() {
                    return false;
                }
                keys.push((check.key, z * k));
            }
        }
    }
    scalars.push(-basepoint);
    points.push(ED25519_BASEPOINT_POINT);
    for (key, coefficient) in keys {
        scalars.push(coefficient);
        points.push(key.to_edwards());
    }
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
}

/// [`open_note`] with the signature check given by `check(verifier, text, signature)`.
fn open_note_with<F>(
    message: &[u8],
    verifiers: &[NoteVerifier],
    mut check: F,
) -> Result<VerifiedNote, OpenNoteError>
where
    F: FnMut(&NoteVerifier, &[u8], &[u8]) -> bool,
{
    let note = parse_note(message)?;
    let mut verified_by: Vec<(String, u32)> = Vec::new();
    let mut unverified: Vec<NoteSignature> = Vec::new();
    for signature in note.signatures {
        let mut matching = verifiers
            .iter()
            .filter(|v| v.name() == signature.name && v.key_hash() == signature.key_hash);
        let Some(verifier) = matching.next() else {
            if !unverified.contains(&signature) {
                unverified.push(signature);
            }
            continue;
        };
        if matching.next().is_some() {
            return Err(OpenNoteError::AmbiguousVerifier {
                name: signature.name,
                key_hash: signature.key_hash,
            });
        }
        let key = (signature.name.clone(), signature.key_hash);
        if verified_by.contains(&key) {
            continue;
        }
        if !check(verifier, note.text.as_bytes(), &signature.signature) {
            return Err(OpenNoteError::InvalidSignature {
                name: signature.name,
                key_hash: signature.key_hash,
            });
        }
        verified_by.push(key);
    }
    if verified_by.is_empty() {
        return Err(OpenNoteError::NoKnownSignature);
    }
    Ok(VerifiedNote {
        text: note.text,
        verified_by,
        unverified,
    })
}

/// Sign `text` (which must end in a newline) with each signer, in order (Go: `note.Sign`).
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String, SignNoteError> {
    if !text.ends_with('\n') {
        return Err(SignNoteError::Unterminated);
    }
    if text.chars().any(|c| c != '\n' && (c as u32) < 0x20) {
        return Err(SignNoteError::ControlCharacter);
    }
    if text.starts_with('\n') || text.contains("\n\n") {
        return Err(SignNoteError::BlankLine);
    }
    if text.matches('\n').count() > NOTE_TEXT_LINES_MAX {
        return Err(SignNoteError::TooManyLines {
            max: NOTE_TEXT_LINES_MAX,
        });
    }
    let mut out = String::with_capacity(text.len() + 1 + signers.len() * 128);
    out.push_str(text);
    out.push('\n');
    for signer in signers {
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&signer.key_hash().to_be_bytes());
        raw.extend_from_slice(&signer.sign(text.as_bytes()));
        out.push_str(SIGNATURE_PREFIX);
        out.push_str(signer.name());
        out.push(' ');
        out.push_str(&BASE64.encode(raw));
        out.push('\n');
    }
    if out.len() > NOTE_BYTES_MAX {
        return Err(SignNoteError::TooLarge {
            bytes: out.len(),
            max: NOTE_BYTES_MAX,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\
        \n\
        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const GO_SIGNER: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn go_example_note_is_reproduced_and_opens() {
        let signer = NoteSigner::parse(GO_SIGNER).unwrap();
        let text = "If you think cryptography is the answer to your problem,\n\
            then you don't know what your problem is.\n";
        assert_eq!(sign_note(text, &[&signer]).unwrap(), GO_NOTE);
        let verifier = NoteVerifier::parse(GO_VERIFIER).unwrap();
        let opened = open_note(GO_NOTE.as_bytes(), &[verifier]).unwrap();
        assert_eq!(opened.text, text);
        assert_eq!(
            opened.verified_by,
            vec![("PeterNeumann".to_string(), 0xc74f20a3)]
        );
    }

    #[test]
    fn any_single_byte_change_is_refused() {
        let verifier = NoteVerifier::parse(GO_VERIFIER).unwrap();
        let bytes = GO_NOTE.as_bytes();
        for position in 0..bytes.len() {
            for flip in [0x01u8, 0x20, 0x80] {
                let mut changed = bytes.to_vec();
                changed[position] ^= flip;
                assert!(
                    open_note(&changed, std::slice::from_ref(&verifier)).is_err(),
                    "byte {position} ^ {flip:#x} still verifies"
                );
            }
        }
    }

    #[test]
    fn unknown_keys_are_unverified_and_alone_are_refused() {
        let other = NoteSigner::from_seed("other", [9; 32]).unwrap();
        let error = open_note(GO_NOTE.as_bytes(), &[other.verifier()]).unwrap_err();
        assert_eq!(error, OpenNoteError::NoKnownSignature);
        // A cosigned note opens with either key; the other signature is reported unverified.
        let signer = NoteSigner::parse(GO_SIGNER).unwrap();
        let note = sign_note("hello\n", &[&signer, &other]).unwrap();
        let opened = open_note(note.as_bytes(), &[other.verifier()]).unwrap();
        assert_eq!(opened.unverified.len(), 1);
        assert_eq!(opened.unverified[0].name, "PeterNeumann");
    }

    #[test]
    fn open_notes_gives_each_note_what_open_note_gives_it() {
        let signer = NoteSigner::parse(GO_SIGNER).unwrap();
        let other = NoteSigner::from_seed("other", [9; 32]).unwrap();
        let verifier = NoteVerifier::parse(GO_VERIFIER).unwrap();
        let mut notes: Vec<Vec<u8>> = (0..3 * NOTE_BATCH_SIGNATURES_MAX)
            .map(|n| {
                sign_note(&format!("note {n}\n"), &[&signer])
                    .unwrap()
                    .into_bytes()
            })
            .collect();
        let flip = |note: &mut Vec<u8>, from_end: usize| {
            let position = note.len() - from_end;
            note[position] = if note[position] == b'A' { b'B' } else { b'A' };
        };
        // Bad signatures in two batches, one at a batch's edge.
        flip(&mut notes[5], 10);
        flip(&mut notes[NOTE_BATCH_SIGNATURES_MAX - 1], 12);
        flip(&mut notes[2 * NOTE_BATCH_SIGNATURES_MAX + 7], 10);
        // A changed text, a note by an unknown key only, a malformed one, a cosigned one, one
        // signed twice by the same key and one whose second known signature is bad.
        notes[20][0] ^= 0x01;
        notes[30] = sign_note("other key\n", &[&other]).unwrap().into_bytes();
        notes[40] = b"no signature block\n".to_vec();
        notes[50] = sign_note("cosigned\n", &[&other, &signer])
            .unwrap()
            .into_bytes();
        let one = sign_note("twice\n", &[&signer]).unwrap();
        notes[60] = format!("{one}{}", &one[one.find("\n\n").unwrap() + 2..]).into_bytes();
        // A second signature by a key that already verified is skipped (as Go does), so a bad
        // copy after a good one opens, and a bad one before a good one does not.
        let signature_line = &one[one.find("\n\n").unwrap() + 2..];
        let mut bad_line = signature_line.as_bytes().to_vec();
        flip(&mut bad_line, 10);
        let bad_line = String::from_utf8(bad_line).unwrap();
        notes[100] = format!("{one}{bad_line}").into_bytes();
        notes[101] = format!("twice\n\n{bad_line}{signature_line}").into_bytes();

        let messages: Vec<&[u8]> = notes.iter().map(Vec::as_slice).collect();
        let expected: Vec<_> = messages
            .iter()
            .map(|message| open_note(message, std::slice::from_ref(&verifier)))
            .collect();
        let failures: Vec<usize> = (0..expected.len())
            .filter(|&n| expected[n].is_err())
            .collect();
        let mut expected_failures = vec![
            5,
            20,
            30,
            40,
            101,
            NOTE_BATCH_SIGNATURES_MAX - 1,
            2 * NOTE_BATCH_SIGNATURES_MAX + 7,
        ];
        expected_failures.sort_unstable();
        assert_eq!(failures, expected_failures);
        assert_eq!(
            open_notes(&messages, std::slice::from_ref(&verifier)),
            expected
        );
        // All good: every batch passes as a whole.
        let good: Vec<&[u8]> = (0..messages.len())
            .filter(|n| !failures.contains(n))
            .map(|n| messages[n])
            .collect();
        assert!(open_notes(&good, std::slice::from_ref(&verifier))
            .iter()
            .all(Result::is_ok));
        assert!(open_notes(&[], std::slice::from_ref(&verifier)).is_empty());
    }

    #[test]
    fn a_batch_holds_only_when_every_signature_does() {
        let signer = NoteSigner::from_seed("k", [4; 32]).unwrap();
        let other = NoteSigner::from_seed("o", [5; 32]).unwrap();
        let check = |signer: &NoteSigner, text: &str| SignatureCheck {
            key: *signer.verifier().public_key(),
            text: text.as_bytes().to_vec(),
            signature: signer.sign(text.as_bytes()).to_vec(),
        };
        let mut checks: Vec<SignatureCheck> = (0..NOTE_BATCH_SIGNATURES_MAX)
            .map(|n| check(&signer, &format!("text {n}\n")))
            .collect();
        checks[9] = check(&other, "by another key\n");
        assert!(batch_holds(&checks));
        assert!(batch_holds(&[]));
        // Any one bad: a changed text, a changed R, a changed s, s + l (not canonical), a
        // small-order R (the identity), a wrong key.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut identity_r = [0u8; 32];
        identity_r[0] = 1;
        type Damage = Box<dyn Fn(&mut SignatureCheck)>;
        let damages: Vec<Damage> = vec![
            Box::new(|c| c.text[0] ^= 1),
            Box::new(|c| c.signature[3] ^= 1),
            Box::new(|c| c.signature[40] ^= 1),
            Box::new(|c| {
                let mut carry = 0u16;
                for (byte, add) in c.signature[32..].iter_mut().zip(L) {
                    let sum = *byte as u16 + add as u16 + carry;
                    *byte = sum as u8;
                    carry = sum >> 8;
                }
            }),
            Box::new(move |c| c.signature[..32].copy_from_slice(&identity_r)),
            Box::new(|c| {
                c.key = *NoteSigner::from_seed("o", [5; 32])
                    .unwrap()
                    .verifier()
                    .public_key()
            }),
        ];
        for (number, damage) in damages.iter().enumerate() {
            for position in [0, 31, NOTE_BATCH_SIGNATURES_MAX - 1] {
                let mut damaged: Vec<SignatureCheck> = checks
                    .iter()
                    .map(|c| SignatureCheck {
                        key: c.key,
                        text: c.text.clone(),
                        signature: c.signature.clone(),
                    })
                    .collect();
                damage(&mut damaged[position]);
                let strict = ed25519_dalek::Signature::from_slice(&damaged[position].signature)
                    .map(|signature| {
                        damaged[position]
                            .key
                            .verify_strict(&damaged[position].text, &signature)
                            .is_ok()
                    })
                    .unwrap_or(false);
                assert!(!strict, "damage {number} still verifies alone");
                assert!(
                    !batch_holds(&damaged),
                    "damage {number} at {position} passes the batch"
                );
            }
        }
    }

    #[test]
    fn malformed_notes_have_specific_errors() {
        assert_eq!(parse_note(b"text\n"), Err(ParseNoteError::NoSignatureBlock));
        assert_eq!(
            parse_note(b"text\n\n"),
            Err(ParseNoteError::SignatureBlockUnterminated)
        );
        assert_eq!(
            parse_note(b"text\n\n- name AAAAAAA=\n"),
            Err(ParseNoteError::SignatureLine { line: 1 })
        );
        assert_eq!(
            parse_note(b"te\txt\n\n"),
            Err(ParseNoteError::ControlCharacter { offset: 2 })
        );
        assert_eq!(parse_note(b"\xff\n\n"), Err(ParseNoteError::NotUtf8));
        assert_eq!(
            sign_note("no newline", &[]),
            Err(SignNoteError::Unterminated)
        );
        assert_eq!(sign_note("a\n\nb\n", &[]), Err(SignNoteError::BlankLine));
    }

    #[test]
    fn note_size_limit_boundary() {
        let signer = NoteSigner::from_seed("k", [1; 32]).unwrap();
        let empty = sign_note("x\n", &[&signer]).unwrap();
        let overhead = empty.len() - 2;
        let line = "y".repeat(NOTE_BYTES_MAX - overhead - 1);
        let at_limit = sign_note(&format!("{line}\n"), &[&signer]).unwrap();
        assert_eq!(at_limit.len(), NOTE_BYTES_MAX);
        assert!(open_note(at_limit.as_bytes(), &[signer.verifier()]).is_ok());
        assert!(matches!(
            sign_note(&format!("{line}y\n"), &[&signer]),
            Err(SignNoteError::TooLarge { .. })
        ));
        let mut over = at_limit.into_bytes();
        over.insert(0, b'z');
        assert!(matches!(
            parse_note(&over),
            Err(ParseNoteError::TooLarge { .. })
        ));
    }

    #[test]
    fn line_and_signature_count_limit_boundaries() {
        let signer = NoteSigner::from_seed("k", [1; 32]).unwrap();
        let lines_at_limit = "l\n".repeat(NOTE_TEXT_LINES_MAX);
        let note = sign_note(&lines_at_limit, &[&signer]).unwrap();
        assert!(parse_note(note.as_bytes()).is_ok());
        assert!(sign_note(&format!("{lines_at_limit}l\n"), &[&signer]).is_err());
        let mut over = String::from("l\n");
        over.push_str(&note);
        assert_eq!(
            parse_note(over.as_bytes()),
            Err(ParseNoteError::TooManyLines {
                max: NOTE_TEXT_LINES_MAX
            })
        );

        let one = sign_note("t\n", &[&signer]).unwrap();
        let signature_line = &one[3..];
        let at_limit = format!("t\n\n{}", signature_line.repeat(NOTE_SIGNATURES_MAX));
        let opened = open_note(at_limit.as_bytes(), &[signer.verifier()]).unwrap();
        assert_eq!(opened.verified_by.len(), 1);
        let over = format!("t\n\n{}", signature_line.repeat(NOTE_SIGNATURES_MAX + 1));
        assert_eq!(
            parse_note(over.as_bytes()),
            Err(ParseNoteError::TooManySignatures {
                max: NOTE_SIGNATURES_MAX
            })
        );
    }
}
