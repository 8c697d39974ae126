//! Ed25519 note keys in the C2SP signed-note / Go `golang.org/x/mod/sumdb/note` encodings.
//!
//! * key hash: the first 4 bytes (big-endian) of SHA-256(name ‖ `\n` ‖ 0x01 ‖ 32-byte public key);
//! * verifier key: `name+hhhhhhhh+base64(0x01 ‖ public key)`;
//! * signer key: `PRIVATE+KEY+name+hhhhhhhh+base64(0x01 ‖ 32-byte seed)` (secret).
//!
//! The private key file holds the signer key and one newline, mode 0600. It is created with
//! that mode (never chmod-ed after the fact) and refused on load when group or others can read
//! or write it. This is the only module that touches key material.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// The signed-note algorithm byte for Ed25519.
pub const ALGORITHM_ED25519: u8 = 0x01;

/// Longest key name, in bytes. Names are log origins (`stamp.local/…`) or identities.
pub const KEY_NAME_BYTES_MAX: usize = 256;

/// Largest private key file read, in bytes (a signer key is about 100).
pub const KEY_FILE_BYTES_MAX: u64 = 4096;

/// Mode of a newly written private key file.
pub const KEY_FILE_MODE: u32 = 0o600;

/// Whether `name` can name a note key: non-empty, at most [`KEY_NAME_BYTES_MAX`] bytes, no
/// Unicode white space, no `+`, no control characters (Go `note.isValidName`).
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= KEY_NAME_BYTES_MAX
        && !name.contains('+')
        && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The 32-bit key hash that identifies an Ed25519 key named `name` in signature lines.
pub fn key_hash(name: &str, public_key: &VerifyingKey) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALGORITHM_ED25519]);
    hasher.update(public_key.as_bytes());
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// A key name that is not allowed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("key name `{0}` is not valid (non-empty, at most {KEY_NAME_BYTES_MAX} bytes, no spaces, no `+`)")]
pub struct KeyNameError(pub String);

/// Why a verifier key string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseVerifierKeyError {
    #[error("verifier key is not `name+hash+key`")]
    Shape,
    #[error(transparent)]
    Name(#[from] KeyNameError),
    #[error("verifier key hash is not 8 hex characters")]
    HashText,
    #[error("verifier key data is not base64 of 33 bytes (0x01 and an Ed25519 public key)")]
    KeyData,
    #[error("verifier key algorithm {0:#04x} is not Ed25519 (0x01)")]
    Algorithm(u8),
    #[error("verifier key public key is not a valid Ed25519 point")]
    PublicKey,
    #[error("verifier key hash {stated:08x} does not match the key (computed {computed:08x})")]
    HashMismatch { stated: u32, computed: u32 },
}

/// Why a signer key string was refused. The key text itself never appears in messages.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseSignerKeyError {
    #[error("signer key does not start with `PRIVATE+KEY+`")]
    Prefix,
    #[error("signer key is not `PRIVATE+KEY+name+hash+key`")]
    Shape,
    #[error(transparent)]
    Name(#[from] KeyNameError),
    #[error("signer key hash is not 8 hex characters")]
    HashText,
    #[error("signer key data is not base64 of 33 bytes (0x01 and an Ed25519 seed)")]
    KeyData,
    #[error("signer key algorithm {0:#04x} is not Ed25519 (0x01)")]
    Algorithm(u8),
    #[error(
        "signer key hash {stated:08x} does not match its public key (computed {computed:08x})"
    )]
    HashMismatch { stated: u32, computed: u32 },
}

/// Why a private key file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteKeyFileError {
    #[error("key file `{path}` already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error("writing key file `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a private key file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReadKeyFileError {
    #[error("reading key file `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file `{path}` is not a regular file")]
    NotAFile { path: PathBuf },
    #[error(
        "key file `{path}` has mode {mode:04o}; group and others must have no access (chmod 600)"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file `{path}` is larger than {KEY_FILE_BYTES_MAX} bytes")]
    TooLarge { path: PathBuf },
    #[error("key file `{path}` does not hold a signer key")]
    Format {
        path: PathBuf,
        #[source]
        source: ParseSignerKeyError,
    },
}

/// Checks Ed25519 signatures made by one named key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_hash: u32,
    public_key: VerifyingKey,
}

impl NoteVerifier {
    pub fn new(name: &str, public_key: VerifyingKey) -> Result<Self, KeyNameError> {
        if !is_valid_key_name(name) {
            return Err(KeyNameError(name.to_string()));
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            key_hash: key_hash(name, &public_key),
            public_key,
        })
    }

    /// Parse a verifier key `name+hash+base64(0x01 ‖ public key)`.
    pub fn parse(text: &str) -> Result<Self, ParseVerifierKeyError> {
        let (name, rest) = text.split_once('+').ok_or(ParseVerifierKeyError::Shape)?;
        let (hash_text, key_text) = rest.split_once('+').ok_or(ParseVerifierKeyError::Shape)?;
        if !is_valid_key_name(name) {
            return Err(KeyNameError(name.to_string()).into());
        }
        let stated = parse_key_hash(hash_text).ok_or(ParseVerifierKeyError::HashText)?;
        let data = BASE64
            .decode(key_text)
            .map_err(|_| ParseVerifierKeyError::KeyData)?;
        let (&algorithm, key) = data.split_first().ok_or(ParseVerifierKeyError::KeyData)?;
        if algorithm != ALGORITHM_ED25519 {
            return Err(ParseVerifierKeyError::Algorithm(algorithm));
        }
        let key: [u8; 32] = key.try_into().map_err(|_| ParseVerifierKeyError::KeyData)?;
        let public_key =
            VerifyingKey::from_bytes(&key).map_err(|_| ParseVerifierKeyError::PublicKey)?;
        let computed = key_hash(name, &public_key);
        if computed != stated {
            return Err(ParseVerifierKeyError::HashMismatch { stated, computed });
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            key_hash: computed,
            public_key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.key_hash
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.public_key
    }

    /// The verifier key text (`name+hash+key`), what `stamp log checkpoint` users are given.
    pub fn verifier_key(&self) -> String {
        let mut data = Vec::with_capacity(33);
        data.push(ALGORITHM_ED25519);
        data.extend_from_slice(self.public_key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_hash,
            BASE64.encode(data)
        )
    }

    /// Whether `signature` (64 bytes) is this key's Ed25519 signature of `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.public_key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({})", self.verifier_key())
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.verifier_key())
    }
}

/// A named Ed25519 signing key. `Debug` shows the name and key hash only, never the seed.
#[derive(Clone)]
pub struct NoteSigner {
    name: String,
    key_hash: u32,
    signing_key: SigningKey,
}

impl NoteSigner {
    /// A fresh key from the operating system's random source.
    pub fn generate(name: &str) -> Result<Self, KeyNameError> {
        let signing_key = SigningKey::generate(&mut rand_core::OsRng);
        NoteSigner::from_seed(name, signing_key.to_bytes())
    }

    /// The key with this 32-byte Ed25519 seed (tests and deterministic fixtures).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyNameError> {
        if !is_valid_key_name(name) {
            return Err(KeyNameError(name.to_string()));
        }
        let signing_key = SigningKey::from_bytes(&seed);
        Ok(NoteSigner {
            name: name.to_string(),
            key_hash: key_hash(name, &signing_key.verifying_key()),
            signing_key,
        })
    }

    /// Parse a signer key `PRIVATE+KEY+name+hash+base64(0x01 ‖ seed)`.
    pub fn parse(text: &str) -> Result<Self, ParseSignerKeyError> {
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(ParseSignerKeyError::Prefix)?;
        let (name, rest) = rest.split_once('+').ok_or(ParseSignerKeyError::Shape)?;
        let (hash_text, key_text) = rest.split_once('+').ok_or(ParseSignerKeyError::Shape)?;
        if !is_valid_key_name(name) {
            return Err(KeyNameError(name.to_string()).into());
        }
        let stated = parse_key_hash(hash_text).ok_or(ParseSignerKeyError::HashText)?;
        let data = BASE64
            .decode(key_text)
            .map_err(|_| ParseSignerKeyError::KeyData)?;
        let (&algorithm, seed) = data.split_first().ok_or(ParseSignerKeyError::KeyData)?;
        if algorithm != ALGORITHM_ED25519 {
            return Err(ParseSignerKeyError::Algorithm(algorithm));
        }
        let seed: [u8; 32] = seed.try_into().map_err(|_| ParseSignerKeyError::KeyData)?;
        let signer = NoteSigner::from_seed(name, seed)?;
        if signer.key_hash != stated {
            return Err(ParseSignerKeyError::HashMismatch {
                stated,
                computed: signer.key_hash,
            });
        }
        Ok(signer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_hash(&self) -> u32 {
        self.key_hash
    }

    /// The secret signer key text. Write it only to a 0600 file ([`NoteSigner::write_new_file`]).
    pub fn signer_key(&self) -> String {
        let mut data = Vec::with_capacity(33);
        data.push(ALGORITHM_ED25519);
        data.extend_from_slice(&self.signing_key.to_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.key_hash,
            BASE64.encode(data)
        )
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_hash: self.key_hash,
            public_key: self.signing_key.verifying_key(),
        }
    }

    /// The Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }

    /// Write the signer key to a new file created with mode 0600, then sync it and its
    /// directory. Refuses to overwrite an existing file.
    pub fn write_new_file(&self, path: &Path) -> Result<(), WriteKeyFileError> {
        let io_error = |source| WriteKeyFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(KEY_FILE_MODE)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => WriteKeyFileError::Exists {
                    path: path.to_path_buf(),
                },
                _ => io_error(source),
            })?;
        file.write_all(format!("{}\n", self.signer_key()).as_bytes())
            .map_err(io_error)?;
        file.sync_all().map_err(io_error)?;
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(parent)
            .and_then(|directory| directory.sync_all())
            .map_err(io_error)?;
        Ok(())
    }

    /// Load a signer key file written by [`NoteSigner::write_new_file`] (or by Go's
    /// `note.GenerateKey` + a 0600 file). Refuses files readable by group or others.
    pub fn read_file(path: &Path) -> Result<Self, ReadKeyFileError> {
        let io_error = |source| ReadKeyFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        if !metadata.is_file() {
            return Err(ReadKeyFileError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let mode = metadata.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(ReadKeyFileError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let mut text = String::new();
        file.take(KEY_FILE_BYTES_MAX + 1)
            .read_to_string(&mut text)
            .map_err(io_error)?;
        if text.len() as u64 > KEY_FILE_BYTES_MAX {
            return Err(ReadKeyFileError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let key_text = text.strip_suffix('\n').unwrap_or(&text);
        NoteSigner::parse(key_text).map_err(|source| ReadKeyFileError::Format {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteSigner({}+{:08x})", self.name, self.key_hash)
    }
}

fn parse_key_hash(text: &str) -> Option<u32> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

/// A fresh random log origin, `stamp.local/` and 16 hex characters, for `stamp init`.
pub fn random_origin() -> String {
    let mut id = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut id);
    format!("stamp.local/{}", hex::encode(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    // Go x/mod sumdb/note example: the PeterNeumann key pair.
    const GO_SIGNER: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn go_example_keys_round_trip() {
        let signer = NoteSigner::parse(GO_SIGNER).unwrap();
        assert_eq!(signer.signer_key(), GO_SIGNER);
        assert_eq!(signer.verifier().verifier_key(), GO_VERIFIER);
        let verifier = NoteVerifier::parse(GO_VERIFIER).unwrap();
        assert_eq!(verifier, signer.verifier());
        assert_eq!(verifier.key_hash(), 0xc74f20a3);
        assert!(!format!("{signer:?}").contains("AYEK"));
    }

    #[test]
    fn bad_key_texts_are_refused_with_reasons() {
        assert_eq!(
            NoteVerifier::parse(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(ParseVerifierKeyError::HashMismatch {
                stated: 0xc74f20a4,
                computed: 0xc74f20a3
            })
        );
        assert_eq!(
            NoteVerifier::parse("nothing"),
            Err(ParseVerifierKeyError::Shape)
        );
        assert!(matches!(
            NoteVerifier::parse("a b+c74f20a3+ARpc"),
            Err(ParseVerifierKeyError::Name(_))
        ));
        assert_eq!(
            NoteVerifier::parse("PeterNeumann+c74f20a3+AhpjZA=="),
            Err(ParseVerifierKeyError::Algorithm(2))
        );
        assert_eq!(
            NoteSigner::parse(&GO_SIGNER.replace("PRIVATE", "PUBLIC")).err(),
            Some(ParseSignerKeyError::Prefix)
        );
        assert!(matches!(
            NoteSigner::parse(&GO_SIGNER.replace("c74f20a3", "c74f20a4")),
            Err(ParseSignerKeyError::HashMismatch { .. })
        ));
    }

    #[test]
    fn key_name_limit_boundary() {
        let at_limit = "a".repeat(KEY_NAME_BYTES_MAX);
        assert!(NoteSigner::from_seed(&at_limit, [7; 32]).is_ok());
        assert!(NoteSigner::from_seed(&format!("{at_limit}a"), [7; 32]).is_err());
        assert!(NoteSigner::from_seed("", [7; 32]).is_err());
        assert!(NoteSigner::from_seed("a+b", [7; 32]).is_err());
        assert!(NoteSigner::from_seed("a\u{a0}b", [7; 32]).is_err());
    }

    #[test]
    fn key_file_is_0600_and_loads_back() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("log.key");
        let signer = NoteSigner::generate("stamp.local/test").unwrap();
        signer.write_new_file(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = NoteSigner::read_file(&path).unwrap();
        assert_eq!(loaded.verifier(), signer.verifier());
        assert!(matches!(
            signer.write_new_file(&path),
            Err(WriteKeyFileError::Exists { .. })
        ));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let error = NoteSigner::read_file(&path).unwrap_err();
        assert!(matches!(
            error,
            ReadKeyFileError::Permissions { mode: 0o640, .. }
        ));
        assert!(error.to_string().contains("chmod 600"));

        fs::remove_file(&path).unwrap();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        file.write_all(b"not a key\n").unwrap();
        assert!(matches!(
            NoteSigner::read_file(&path),
            Err(ReadKeyFileError::Format { .. })
        ));
    }

    #[test]
    fn key_file_size_limit_boundary() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("big.key");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap();
        file.write_all(&vec![b'a'; KEY_FILE_BYTES_MAX as usize])
            .unwrap();
        // At the limit it is read (and refused only as not a key).
        assert!(matches!(
            NoteSigner::read_file(&path),
            Err(ReadKeyFileError::Format { .. })
        ));
        file.write_all(b"a").unwrap();
        assert!(matches!(
            NoteSigner::read_file(&path),
            Err(ReadKeyFileError::TooLarge { .. })
        ));
    }
}
