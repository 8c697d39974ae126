//! `sha256:<hex>` content digests (OCI image-spec, "Digests").

use std::fmt;
use std::io;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 content digest, written `sha256:` followed by 64 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

/// Why a string is not a valid `sha256:<hex>` digest.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseDigestError {
    #[error("digest `{0}` does not start with `sha256:` (only sha256 digests are accepted)")]
    Algorithm(String),
    #[error("digest `{0}` must have 64 lower-case hex characters after `sha256:`")]
    Encoded(String),
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// Wrap a raw 32-byte SHA-256 value.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lower-case hex characters, without the algorithm prefix.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex characters, for messages meant for people.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }

    /// Parse a bare 64-character hex string (no `sha256:` prefix).
    pub fn from_hex(encoded: &str) -> Result<Self, ParseDigestError> {
        let valid = encoded.len() == 64
            && encoded
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(ParseDigestError::Encoded(encoded.to_string()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(encoded, &mut out)
            .map_err(|_| ParseDigestError::Encoded(encoded.to_string()))?;
        Ok(Digest(out))
    }
}

impl FromStr for Digest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded = text
            .strip_prefix("sha256:")
            .ok_or_else(|| ParseDigestError::Algorithm(text.to_string()))?;
        Digest::from_hex(encoded).map_err(|_| ParseDigestError::Encoded(text.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest(sha256:{})", self.hex())
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A writer that hashes everything written through it and counts the bytes.
pub struct Sha256Writer<W> {
    inner: W,
    hasher: Sha256,
    bytes_written: u64,
}

impl<W> Sha256Writer<W> {
    pub fn new(inner: W) -> Self {
        Sha256Writer {
            inner,
            hasher: Sha256::new(),
            bytes_written: 0,
        }
    }

    /// The digest and byte count of everything written so far, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (
            Digest(self.hasher.finalize().into()),
            self.bytes_written,
            self.inner,
        )
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: io::Write> io::Write for Sha256Writer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes_written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_digest_matches_known_value() {
        assert_eq!(
            Digest::of(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parse_round_trips_and_rejects_bad_forms() {
        let text = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(text.parse::<Digest>().unwrap().to_string(), text);
        assert!(matches!(
            "sha512:abcd".parse::<Digest>(),
            Err(ParseDigestError::Algorithm(_))
        ));
        assert!(matches!(
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
                .parse::<Digest>(),
            Err(ParseDigestError::Encoded(_))
        ));
        assert!("sha256:abc".parse::<Digest>().is_err());
    }

    #[test]
    fn writer_hashes_what_passes_through() {
        use std::io::Write;
        let mut writer = Sha256Writer::new(Vec::new());
        writer.write_all(b"hello").unwrap();
        let (digest, count, inner) = writer.finish();
        assert_eq!(digest, Digest::of(b"hello"));
        assert_eq!(count, 5);
        assert_eq!(inner, b"hello");
    }
}
