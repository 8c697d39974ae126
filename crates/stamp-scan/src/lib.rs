//! Software inventory and vulnerability matching for stamp images (PCI DSS 6.3.1, 6.3.2, 6.3.3).
//!
//! What it owns:
//! - [`version`]: version order for dpkg, PEP 440, SemVer (npm and Cargo) and apk;
//! - [`inventory`]: the components installed in an image's root filesystem (dpkg, apk,
//!   Python, npm, Cargo), each with a purl, read from image layers without unpacking;
//! - [`sbom`]: CycloneDX 1.6 JSON and SPDX 2.3 JSON documents of an inventory;
//! - [`osv`]: importing OSV records into a SQLite vulnerability database with a digest of the
//!   imported set, and matching an inventory against it with OSV semantics;
//! - [`cvss`]: CVSS v3.x base scores from vectors;
//! - [`report`]: findings as JSON and SARIF 2.1.0;
//! - [`pan`], [`secret`]: card numbers (Luhn, issuer ranges, published test numbers) and
//!   hard-coded secrets in bytes, kept only masked (PCI DSS 3.3.1, 3.5.1, 8.6.2, 12.10.7);
//! - [`sensitive`]: those detectors over every file of every layer of an image, deleted and
//!   gzip-compressed files included, and the image configuration's environment.
//!
//! What it does not do: sign (attestations belong to the signing crate), log (the CLI records
//! events), fetch anything from the network (the database is imported from files), or decide a
//! gate verdict beyond a severity threshold.
//!
//! Standards: OSV schema 1.x (<https://ossf.github.io/osv-schema/>), package-url (purl),
//! CycloneDX 1.6, SPDX 2.3, SARIF 2.1.0, CVSS v3.0/v3.1 specification §7 (base score).

pub mod cvss;
pub mod inventory;
pub mod json;
pub mod osv;
pub mod pan;
pub mod report;
pub mod sbom;
pub mod secret;
pub mod sensitive;
pub mod version;
