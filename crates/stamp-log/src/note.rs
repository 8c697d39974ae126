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
        if !verifier.verify(note.text.as_bytes(), &signature.signature) {
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
