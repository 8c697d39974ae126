//! Ed25519 identity keys: the private key file (PKCS#8 PEM, optionally passphrase-encrypted),
//! the public key (SPKI PEM) and the key id.
//!
//! * private key: RFC 5958 / RFC 8410 PKCS#8 v1 `PRIVATE KEY` PEM (what `openssl genpkey
//!   -algorithm ed25519` writes), or RFC 5958 `ENCRYPTED PRIVATE KEY` with PBES2 (RFC 8018)
//!   using scrypt (RFC 7914) and AES-256-CBC;
//! * public key: RFC 8410 SubjectPublicKeyInfo `PUBLIC KEY` PEM;
//! * key id: lower-case hex SHA-256 of the SubjectPublicKeyInfo DER. It depends only on the
//!   public key, so anyone holding the public key computes the same id.
//!
//! Private key files are created with mode 0600 (never widened and then narrowed) and never
//! overwritten; loading refuses a file that group or others can read or write. Key material
//! never appears in an error message.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use pkcs8::pkcs5::{pbes2, scrypt};
use pkcs8::{EncryptedPrivateKeyInfo, PrivateKeyInfo, SecretDocument};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};

/// Mode of a newly written private key file.
pub const KEY_FILE_MODE: u32 = 0o600;

/// Largest private or public key file read, in bytes (an encrypted Ed25519 key is ~400).
pub const KEY_FILE_BYTES_MAX: u64 = 16 * 1024;

/// Shortest passphrase accepted for an encrypted key, in bytes (PCI DSS 8.3.6 asks 12
/// characters of passwords; a key passphrase is held to the same).
pub const PASSPHRASE_BYTES_MIN: usize = 12;

/// scrypt cost for encrypted keys: N = 2^14, r = 8, p = 1 (16 MiB of memory), what
/// `openssl pkcs8 -scrypt` writes. OpenSSL refuses, when it decrypts, scrypt parameters that
/// need 32 MiB or more, so N = 2^15 would make keys `openssl pkey` cannot read (tested).
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;

const PEM_LABEL_PRIVATE: &str = "PRIVATE KEY";
const PEM_LABEL_ENCRYPTED: &str = "ENCRYPTED PRIVATE KEY";

/// Hex SHA-256 of the SubjectPublicKeyInfo DER of `key`.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(spki_der(key)))
}

fn spki_der(key: &VerifyingKey) -> Vec<u8> {
    key.to_public_key_der()
        .expect("an Ed25519 public key encodes as SPKI")
        .into_vec()
}

/// An Ed25519 public key with its key id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    key_id: String,
}

/// Why text is not an Ed25519 public key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParsePublicKeyError {
    #[error("public key is neither a `PUBLIC KEY` PEM, nor base64 of a 32-byte Ed25519 key or its SPKI DER")]
    Format,
    #[error("public key is not a valid Ed25519 point")]
    Point,
}

impl PublicKey {
    pub fn new(key: VerifyingKey) -> PublicKey {
        PublicKey {
            key_id: key_id(&key),
            key,
        }
    }

    /// Parse a `PUBLIC KEY` PEM, or base64 of the raw 32 bytes or of the SPKI DER.
    pub fn parse(text: &str) -> Result<PublicKey, ParsePublicKeyError> {
        let text = text.trim();
        if text.starts_with("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(text)
                .map(PublicKey::new)
                .map_err(|_| ParsePublicKeyError::Format);
        }
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| ParsePublicKeyError::Format)?;
        if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return VerifyingKey::from_bytes(&raw)
                .map(PublicKey::new)
                .map_err(|_| ParsePublicKeyError::Point);
        }
        VerifyingKey::from_public_key_der(&bytes)
            .map(PublicKey::new)
            .map_err(|_| ParsePublicKeyError::Format)
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The `PUBLIC KEY` PEM (SPKI), ending in a newline.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("an Ed25519 public key encodes as PEM")
    }
}

/// A private identity key.
pub struct IdentityKey {
    signing: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKey")
            .field("key_id", &self.public.key_id)
            .finish_non_exhaustive()
    }
}

/// Why a private key could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeKeyError {
    #[error("the passphrase has {bytes} bytes; at least {PASSPHRASE_BYTES_MIN} are needed")]
    PassphraseTooShort { bytes: usize },
    #[error("encoding the private key as PKCS#8")]
    Pkcs8(#[source] pkcs8::Error),
}

/// Why a private key file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteKeyError {
    #[error("key file `{}` already exists; refusing to overwrite a key", .path.display())]
    Exists { path: PathBuf },
    #[error("writing key file `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a private key could not be loaded. No message holds key material.
#[derive(Debug, thiserror::Error)]
pub enum ReadKeyError {
    #[error("reading key file `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file `{}` is larger than {KEY_FILE_BYTES_MAX} bytes", .path.display())]
    TooLarge { path: PathBuf },
    #[error("key file `{}` has mode {mode:04o}; group and others must have no access", .path.display())]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file `{}` is not an Ed25519 `PRIVATE KEY` or `ENCRYPTED PRIVATE KEY` PEM", .path.display())]
    Format { path: PathBuf },
    #[error("key file `{}` is encrypted and no passphrase was given", .path.display())]
    PassphraseNeeded { path: PathBuf },
    #[error("key file `{}` could not be decrypted (wrong passphrase?)", .path.display())]
    Decrypt { path: PathBuf },
}

impl IdentityKey {
    /// A new random key from the operating system's generator.
    pub fn generate() -> IdentityKey {
        IdentityKey::from_signing_key(SigningKey::generate(&mut OsRng))
    }

    pub fn from_signing_key(signing: SigningKey) -> IdentityKey {
        let public = PublicKey::new(signing.verifying_key());
        IdentityKey { signing, public }
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn key_id(&self) -> &str {
        self.public.key_id()
    }

    /// The private key as PKCS#8 PEM; encrypted (PBES2, scrypt + AES-256-CBC) when a
    /// passphrase is given. The returned text is zeroed when dropped.
    pub fn to_pem(
        &self,
        passphrase: Option<&[u8]>,
    ) -> Result<pkcs8::der::zeroize::Zeroizing<String>, EncodeKeyError> {
        // PKCS#8 v1 without the optional public key: the form every reader accepts.
        let keypair = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.signing.to_bytes(),
            public_key: None,
        };
        let document = keypair.to_pkcs8_der().map_err(EncodeKeyError::Pkcs8)?;
        let Some(passphrase) = passphrase else {
            return document
                .to_pem(PEM_LABEL_PRIVATE, LineEnding::LF)
                .map_err(|error| EncodeKeyError::Pkcs8(error.into()));
        };
        if passphrase.len() < PASSPHRASE_BYTES_MIN {
            return Err(EncodeKeyError::PassphraseTooShort {
                bytes: passphrase.len(),
            });
        }
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        let cost = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P, 32)
            .expect("fixed scrypt parameters are valid");
        let parameters = pbes2::Parameters::scrypt_aes256cbc(cost, &salt, &iv)
            .map_err(|error| EncodeKeyError::Pkcs8(error.into()))?;
        let info = PrivateKeyInfo::try_from(document.as_bytes()).map_err(EncodeKeyError::Pkcs8)?;
        let encrypted = info
            .encrypt_with_params(parameters, passphrase)
            .map_err(EncodeKeyError::Pkcs8)?;
        encrypted
            .to_pem(PEM_LABEL_ENCRYPTED, LineEnding::LF)
            .map_err(|error| EncodeKeyError::Pkcs8(error.into()))
    }

    /// Parse a private key PEM read from `path` (for messages); decrypt with `passphrase`
    /// when it is an `ENCRYPTED PRIVATE KEY`.
    pub fn from_pem(
        text: &str,
        passphrase: Option<&[u8]>,
        path: &Path,
    ) -> Result<IdentityKey, ReadKeyError> {
        let format = || ReadKeyError::Format {
            path: path.to_path_buf(),
        };
        let (label, document) = SecretDocument::from_pem(text.trim()).map_err(|_| format())?;
        let document = match label {
            PEM_LABEL_PRIVATE => document,
            PEM_LABEL_ENCRYPTED => {
                let passphrase = passphrase.ok_or_else(|| ReadKeyError::PassphraseNeeded {
                    path: path.to_path_buf(),
                })?;
                EncryptedPrivateKeyInfo::try_from(document.as_bytes())
                    .map_err(|_| format())?
                    .decrypt(passphrase)
                    .map_err(|_| ReadKeyError::Decrypt {
                        path: path.to_path_buf(),
                    })?
            }
            _ => return Err(format()),
        };
        let signing = SigningKey::from_pkcs8_der(document.as_bytes()).map_err(|_| format())?;
        Ok(IdentityKey::from_signing_key(signing))
    }

    /// Write the key to a new file `path` with mode 0600 (refuses an existing file).
    pub fn write_new_file(
        &self,
        path: &Path,
        passphrase: Option<&[u8]>,
    ) -> Result<(), WriteKeyFileError> {
        let pem = self.to_pem(passphrase).map_err(WriteKeyFileError::Encode)?;
        write_private_file(path, pem.as_bytes()).map_err(WriteKeyFileError::Write)
    }

    /// Load a private key file, refusing one that group or others can access.
    pub fn read_file(path: &Path, passphrase: Option<&[u8]>) -> Result<IdentityKey, ReadKeyError> {
        let text = read_private_file(path)?;
        IdentityKey::from_pem(&text, passphrase, path)
    }
}

/// Why a new key file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum WriteKeyFileError {
    #[error(transparent)]
    Encode(EncodeKeyError),
    #[error(transparent)]
    Write(WriteKeyError),
}

/// Whether the PEM in `path` is passphrase-encrypted (without decrypting it).
pub fn is_encrypted_file(path: &Path) -> Result<bool, ReadKeyError> {
    Ok(read_private_file(path)?.contains(PEM_LABEL_ENCRYPTED))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReadKeyError + '_ {
    move |source| ReadKeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_private_file(path: &Path) -> Result<pkcs8::der::zeroize::Zeroizing<String>, ReadKeyError> {
    let file = File::open(path).map_err(io_error(path))?;
    let metadata = file.metadata().map_err(io_error(path))?;
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ReadKeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if metadata.len() > KEY_FILE_BYTES_MAX {
        return Err(ReadKeyError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let mut text = pkcs8::der::zeroize::Zeroizing::new(String::new());
    file.take(KEY_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|_| ReadKeyError::Format {
            path: path.to_path_buf(),
        })?;
    if text.len() as u64 > KEY_FILE_BYTES_MAX {
        return Err(ReadKeyError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

/// Create `path` with mode 0600 and write `bytes`, synced; an existing file is refused.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), WriteKeyError> {
    let io = |source| WriteKeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(KEY_FILE_MODE)
        .open(path)
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AlreadyExists => WriteKeyError::Exists {
                path: path.to_path_buf(),
            },
            _ => io(error),
        })?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|dir| dir.sync_all()).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    /// RFC 8410 §10.3: the example private key and its public key.
    const RFC8410_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
    const RFC8410_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn reads_the_rfc8410_example_and_derives_its_public_key() {
        let key = IdentityKey::from_pem(RFC8410_PRIVATE, None, Path::new("example.pem")).unwrap();
        assert_eq!(key.public().to_pem(), RFC8410_PUBLIC);
        // Writing it back gives the same bytes (PKCS#8 v1, no public key field).
        assert_eq!(key.to_pem(None).unwrap().as_str(), RFC8410_PRIVATE);
    }

    #[test]
    fn key_id_is_sha256_of_the_spki_der_in_every_encoding() {
        let public = PublicKey::parse(RFC8410_PUBLIC).unwrap();
        let der = STANDARD
            .decode("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")
            .unwrap();
        assert_eq!(public.key_id(), hex::encode(Sha256::digest(&der)));
        let raw = STANDARD.encode(&der[12..]);
        assert_eq!(PublicKey::parse(&raw).unwrap(), public);
        assert_eq!(
            PublicKey::parse("MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")
                .unwrap(),
            public
        );
        assert_eq!(
            PublicKey::parse("not a key"),
            Err(ParsePublicKeyError::Format)
        );
    }

    #[test]
    fn encrypted_keys_round_trip_and_refuse_a_wrong_or_missing_passphrase() {
        let key = IdentityKey::generate();
        let passphrase = b"correct horse battery";
        let pem = key.to_pem(Some(passphrase)).unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let path = Path::new("k.pem");
        let again = IdentityKey::from_pem(&pem, Some(passphrase), path).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        assert!(matches!(
            IdentityKey::from_pem(&pem, Some(b"wrong horse battery"), path),
            Err(ReadKeyError::Decrypt { .. })
        ));
        assert!(matches!(
            IdentityKey::from_pem(&pem, None, path),
            Err(ReadKeyError::PassphraseNeeded { .. })
        ));
    }

    #[test]
    fn passphrase_length_boundary() {
        let key = IdentityKey::generate();
        let short = vec![b'p'; PASSPHRASE_BYTES_MIN - 1];
        assert!(matches!(
            key.to_pem(Some(&short)),
            Err(EncodeKeyError::PassphraseTooShort { .. })
        ));
        let enough = vec![b'p'; PASSPHRASE_BYTES_MIN];
        assert!(key.to_pem(Some(&enough)).is_ok());
    }

    #[test]
    fn key_files_are_private_never_overwritten_and_checked_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.pem");
        let key = IdentityKey::generate();
        key.write_new_file(&path, None).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, KEY_FILE_MODE);
        assert!(matches!(
            key.write_new_file(&path, None),
            Err(WriteKeyFileError::Write(WriteKeyError::Exists { .. }))
        ));
        assert_eq!(
            IdentityKey::read_file(&path, None).unwrap().key_id(),
            key.key_id()
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            IdentityKey::read_file(&path, None),
            Err(ReadKeyError::Permissions { mode: 0o640, .. })
        ));
    }

    #[test]
    fn key_file_size_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.pem");
        write_private_file(&path, &vec![b'a'; KEY_FILE_BYTES_MAX as usize]).unwrap();
        assert!(matches!(
            IdentityKey::read_file(&path, None),
            Err(ReadKeyError::Format { .. })
        ));
        let bigger = dir.path().join("bigger.pem");
        write_private_file(&bigger, &vec![b'a'; KEY_FILE_BYTES_MAX as usize + 1]).unwrap();
        assert!(matches!(
            IdentityKey::read_file(&bigger, None),
            Err(ReadKeyError::TooLarge { .. })
        ));
    }
}
