//! Identities, signing keys and signed attestations for stamp, and the separation-of-duties
//! rules they enforce.
//!
//! What this crate owns:
//! * identity keys ([`keys`], [`keyring`]): Ed25519 as PKCS#8 PEM (optionally
//!   passphrase-encrypted), key id = hex SHA-256 of the SubjectPublicKeyInfo DER;
//! * the trust file ([`trust`]): identities, public keys, roles, revocations, environment
//!   approval rules;
//! * DSSE envelopes ([`dsse`]), in-toto statements ([`statement`]), SLSA provenance
//!   ([`provenance`]) and stamp's approval predicate ([`approval`]);
//! * decisions ([`policy`]): who may sign what; the approver is never the builder;
//!   distinct-approver counts per environment;
//! * facts from the log those decisions need ([`facts`]), as a pure fold over events;
//! * verification of one envelope against the trust file and the log order ([`verify`]);
//! * storing envelopes beside images as OCI 1.1 referrers ([`referrers`]).
//!
//! What it does not do: append to the log (the CLI's recorder does, so refusals are logged
//! there), read clocks for events, or prompt for passphrases.
//!
//! Specifications: DSSE v1 (`protocol.md` PAE, `envelope.md`), in-toto attestation framework
//! v1 (Statement, ResourceDescriptor), SLSA provenance v1, RFC 8032 Ed25519, RFC 8410 and
//! RFC 5958 key encodings, RFC 8018 PBES2 with RFC 7914 scrypt, OCI image-spec v1.1
//! (artifacts, `subject`, empty descriptor). PCI DSS v4.0.1 6.2.3.1 and 6.5.4 (approver ≠
//! builder, N approvers for production), 8.2.1 (every signature names one identity).

pub mod approval;
pub mod dsse;
pub mod facts;
pub mod keyring;
pub mod keys;
pub mod policy;
pub mod provenance;
pub mod referrers;
pub mod statement;
pub mod trust;
pub mod verify;

pub use dsse::{Envelope, PAYLOAD_TYPE_IN_TOTO};
pub use facts::LogFacts;
pub use keyring::KeyRing;
pub use keys::{IdentityKey, PublicKey};
pub use policy::Refusal;
pub use statement::Statement;
pub use trust::{Identity, Role, Trust};
pub use verify::{verify_attestation, Predicate, Verified, VerifyAttestationError};
