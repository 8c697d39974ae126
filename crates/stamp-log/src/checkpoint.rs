//! C2SP tlog-checkpoint: the signed statement "the log `origin` has `size` entries with root
//! `root`". Body: `<origin>\n<size in decimal>\n<base64 root>\n` then optional extension lines,
//! each ending in a newline; signed as a C2SP signed note by the log key.

use crate::keys::{NoteSigner, NoteVerifier};
use crate::merkle::{Hash, TREE_SIZE_MAX};
use crate::note::{open_note, open_notes, sign_note, OpenNoteError, SignNoteError, VerifiedNote};

/// Longest origin line, in bytes.
pub const CHECKPOINT_ORIGIN_BYTES_MAX: usize = 256;

/// Most extension lines in a checkpoint body.
pub const CHECKPOINT_EXTENSION_LINES_MAX: usize = 32;

/// A checkpoint body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, `stamp.local/<hex id>` for an embedded stamp log.
    pub origin: String,
    /// The number of entries.
    pub size: u64,
    /// The RFC 6962 tree hash of those entries.
    pub root: Hash,
    /// Extension lines, without their newlines (stamp writes none).
    pub extensions: Vec<String>,
}

/// Why text is not a checkpoint body.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ParseCheckpointError {
    #[error("checkpoint body does not end with a newline")]
    Unterminated,
    #[error("checkpoint body needs an origin, a size and a root hash line")]
    TooFewLines,
    #[error("checkpoint origin line is empty, longer than {CHECKPOINT_ORIGIN_BYTES_MAX} bytes or has control characters")]
    Origin,
    #[error("checkpoint size line `{0}` is not a canonical decimal number up to 2^62")]
    Size(String),
    #[error("checkpoint root line `{0}` is not 32 bytes of canonical base64")]
    Root(String),
    #[error("checkpoint extension line {line} is empty")]
    EmptyExtension { line: usize },
    #[error("checkpoint has more than {max} extension lines")]
    TooManyExtensions { max: usize },
}

/// Why a signed checkpoint could not be opened.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpenCheckpointError {
    #[error("checking the checkpoint signature")]
    Note(#[from] OpenNoteError),
    #[error("parsing the checkpoint body")]
    Body(#[from] ParseCheckpointError),
    #[error("checkpoint origin `{found}` is not the expected `{expected}`")]
    Origin { found: String, expected: String },
}

/// Why a checkpoint could not be signed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignCheckpointError {
    #[error("checkpoint is not well formed")]
    Body(#[from] ParseCheckpointError),
    #[error("signing the checkpoint note")]
    Note(#[from] SignNoteError),
}

impl Checkpoint {
    /// The body text: origin, size, base64 root, extension lines; every line ends in `\n`.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        body
    }

    /// Parse a body strictly: canonical decimal size, canonical base64 root.
    pub fn parse_body(text: &str) -> Result<Checkpoint, ParseCheckpointError> {
        let text = text
            .strip_suffix('\n')
            .ok_or(ParseCheckpointError::Unterminated)?;
        let mut lines = text.split('\n');
        let (Some(origin), Some(size_text), Some(root_text)) =
            (lines.next(), lines.next(), lines.next())
        else {
            return Err(ParseCheckpointError::TooFewLines);
        };
        if origin.is_empty()
            || origin.len() > CHECKPOINT_ORIGIN_BYTES_MAX
            || origin.chars().any(char::is_control)
        {
            return Err(ParseCheckpointError::Origin);
        }
        let size = parse_size(size_text)
            .ok_or_else(|| ParseCheckpointError::Size(size_text.to_string()))?;
        let root = Hash::from_base64(root_text)
            .map_err(|_| ParseCheckpointError::Root(root_text.to_string()))?;
        let mut extensions = Vec::new();
        for (position, line) in lines.enumerate() {
            if extensions.len() == CHECKPOINT_EXTENSION_LINES_MAX {
                return Err(ParseCheckpointError::TooManyExtensions {
                    max: CHECKPOINT_EXTENSION_LINES_MAX,
                });
            }
            if line.is_empty() {
                return Err(ParseCheckpointError::EmptyExtension { line: position + 4 });
            }
            extensions.push(line.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// The signed note of this checkpoint.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, SignCheckpointError> {
        let body = self.to_body();
        // Refuse to sign what a reader would refuse to parse.
        Checkpoint::parse_body(&body)?;
        Ok(sign_note(&body, &[signer])?)
    }

    /// Check the note's signature by `verifier`, parse the body and require `expected_origin`.
    pub fn open(
        note: &[u8],
        verifier: &NoteVerifier,
        expected_origin: &str,
    ) -> Result<Checkpoint, OpenCheckpointError> {
        let opened = open_note(note, std::slice::from_ref(verifier))?;
        Checkpoint::from_opened(&opened, expected_origin)
    }

    /// [`Checkpoint::open`] for many notes, with the same result for each, in order; the
    /// signatures are checked in batches ([`open_notes`]).
    pub fn open_many(
        notes: &[&[u8]],
        verifier: &NoteVerifier,
        expected_origin: &str,
    ) -> Vec<Result<Checkpoint, OpenCheckpointError>> {
        open_notes(notes, std::slice::from_ref(verifier))
            .into_iter()
            .map(|opened| Checkpoint::from_opened(&opened?, expected_origin))
            .collect()
    }

    fn from_opened(
        opened: &VerifiedNote,
        expected_origin: &str,
    ) -> Result<Checkpoint, OpenCheckpointError> {
        let checkpoint = Checkpoint::parse_body(&opened.text)?;
        if checkpoint.origin != expected_origin {
            return Err(OpenCheckpointError::Origin {
                found: checkpoint.origin,
                expected: expected_origin.to_string(),
            });
        }
        Ok(checkpoint)
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    let size: u64 = if canonical {
        text.parse().ok()?
    } else {
        return None;
    };
    (size <= TREE_SIZE_MAX).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    // A real sum.golang.org checkpoint and key (the key compiled into the go command).
    const SUM_GOLANG_NOTE: &str = "go.sum database tree\n6476701\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n\n\u{2014} sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=\n";
    const SUM_GOLANG_KEY: &str =
        "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";

    #[test]
    fn real_sum_golang_checkpoint_opens() {
        let verifier = NoteVerifier::parse(SUM_GOLANG_KEY).unwrap();
        let checkpoint = Checkpoint::open(
            SUM_GOLANG_NOTE.as_bytes(),
            &verifier,
            "go.sum database tree",
        )
        .unwrap();
        assert_eq!(checkpoint.size, 6476701);
        assert_eq!(
            checkpoint.root.to_base64(),
            "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="
        );
        assert!(matches!(
            Checkpoint::open(SUM_GOLANG_NOTE.as_bytes(), &verifier, "other"),
            Err(OpenCheckpointError::Origin { .. })
        ));
    }

    #[test]
    fn body_round_trips_with_extensions() {
        let checkpoint = Checkpoint {
            origin: "stamp.local/00ff".into(),
            size: 12,
            root: leaf_hash(b"r"),
            extensions: vec!["ext one".into()],
        };
        let body = checkpoint.to_body();
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), checkpoint);
        let signer = NoteSigner::from_seed("stamp.local/00ff", [3; 32]).unwrap();
        let note = checkpoint.sign(&signer).unwrap();
        assert!(note.starts_with(&body));
        let opened =
            Checkpoint::open(note.as_bytes(), &signer.verifier(), "stamp.local/00ff").unwrap();
        assert_eq!(opened, checkpoint);
    }

    #[test]
    fn non_canonical_bodies_are_refused() {
        let root = leaf_hash(b"r").to_base64();
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n012\n{root}\n")),
            Err(ParseCheckpointError::Size("012".into()))
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n+12\n{root}\n")),
            Err(ParseCheckpointError::Size("+12".into()))
        );
        assert!(Checkpoint::parse_body(&format!("o\n0\n{root}\n")).is_ok());
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n1\n{root}")),
            Err(ParseCheckpointError::Unterminated)
        );
        assert_eq!(
            Checkpoint::parse_body("o\n1\n"),
            Err(ParseCheckpointError::TooFewLines)
        );
        assert!(matches!(
            Checkpoint::parse_body("o\n1\nAAAA\n"),
            Err(ParseCheckpointError::Root(_))
        ));
        assert_eq!(
            Checkpoint::parse_body(&format!("\n1\n{root}\n")),
            Err(ParseCheckpointError::Origin)
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n1\n{root}\n\n")),
            Err(ParseCheckpointError::EmptyExtension { line: 4 })
        );
    }

    #[test]
    fn size_limit_boundary() {
        let root = leaf_hash(b"r").to_base64();
        let at = format!("o\n{TREE_SIZE_MAX}\n{root}\n");
        assert_eq!(Checkpoint::parse_body(&at).unwrap().size, TREE_SIZE_MAX);
        let over = format!("o\n{}\n{root}\n", TREE_SIZE_MAX + 1);
        assert!(matches!(
            Checkpoint::parse_body(&over),
            Err(ParseCheckpointError::Size(_))
        ));
    }

    #[test]
    fn origin_and_extension_limit_boundaries() {
        let root = leaf_hash(b"r").to_base64();
        let origin = "o".repeat(CHECKPOINT_ORIGIN_BYTES_MAX);
        assert!(Checkpoint::parse_body(&format!("{origin}\n1\n{root}\n")).is_ok());
        assert_eq!(
            Checkpoint::parse_body(&format!("{origin}o\n1\n{root}\n")),
            Err(ParseCheckpointError::Origin)
        );
        let extensions = "e\n".repeat(CHECKPOINT_EXTENSION_LINES_MAX);
        assert!(Checkpoint::parse_body(&format!("o\n1\n{root}\n{extensions}")).is_ok());
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n1\n{root}\n{extensions}e\n")),
            Err(ParseCheckpointError::TooManyExtensions {
                max: CHECKPOINT_EXTENSION_LINES_MAX
            })
        );
    }
}
