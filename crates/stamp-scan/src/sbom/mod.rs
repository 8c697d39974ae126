//! SBOM documents of an inventory (PCI DSS 6.3.2): CycloneDX 1.6 JSON ([`cyclonedx`]) and SPDX
//! 2.3 JSON ([`spdx`]). Both are deterministic for one image: identifiers are derived from the
//! image digest and the time is the image's creation time, so the same image gives the same
//! bytes (an SBOM can be diffed, signed and stored as an attestation).

pub mod cyclonedx;
pub mod spdx;

use sha2::{Digest as _, Sha256};

/// What the SBOM describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// A readable name (`payments-api:1.4.2`, or the digest).
    pub name: String,
    /// `sha256:…` of the image manifest (or of whatever was scanned).
    pub digest: String,
    /// RFC 3339 creation time (`2024-01-31T12:00:00Z`).
    pub created: String,
}

/// The tool name and version written into documents.
pub const TOOL_NAME: &str = "stamp";
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A name-based UUID (RFC 9562 version 8 layout, SHA-256 of `parts`) for identifiers that must
/// be unique per subject and stable across runs.
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let mut bytes: [u8; 16] = hasher.finalize()[..16].try_into().expect("16 bytes");
    // Version 5 in the version nibble (the form CycloneDX's serialNumber pattern accepts),
    // RFC 4122 variant.
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_and_well_formed() {
        let uuid = stable_uuid(&["sha256:00", "cyclonedx"]);
        assert_eq!(uuid, stable_uuid(&["sha256:00", "cyclonedx"]));
        assert_ne!(uuid, stable_uuid(&["sha256:01", "cyclonedx"]));
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
    }
}
