//! The assessor's evidence pack (PCI DSS v4.0.1): requirement assertions recomputed from logged
//! events, the pack writer, the static HTML report and the offline verifier.
//!
//! What this crate owns:
//! * the pack's events file ([`events`]): one line per log entry, its index and exact leaf bytes;
//! * a pure fold of logged events into the facts the assertions need ([`history`]);
//! * the requirement assertions ([`assert`]) and the other derived sections of `evidence.json`
//!   ([`report`]): one function, [`report::derive`], used by both `stamp evidence` (to write the
//!   pack) and `stamp verify` (to recompute every status from the included events and compare);
//! * the pack's files in memory, `SHA256SUMS`, deterministic `.tar.gz` and bounded reading of a
//!   directory or `.tar.gz` ([`pack`]);
//! * the attestations of the pack checked against the trust file ([`attestations`]);
//! * the assembly of a pack from the log ([`export`]) and the offline verifier ([`verify`]);
//! * `index.html` ([`html`]), rendered from `evidence.json`.
//!
//! What it does not do: append to the log (the CLI's recorder records the `evidence.export`
//! event before the pack's checkpoint is read), read the OCI store or keys from disk (the CLI
//! hands in attestation envelopes, the trust file and the signing key), or read the clock.
//!
//! Specifications: RFC 6962 / RFC 9162 inclusion and consistency proofs, C2SP tlog-checkpoint
//! and signed-note, DSSE v1 (the pack signature over `SHA256SUMS`), in-toto Statement v1
//! (attestations), PCI DSS v4.0.1 requirements 3.5.1, 6.2.3.1, 6.3.2, 6.3.3, 6.5.1, 6.5.4,
//! 10.2.1.3, 10.2.2, 10.3.4, 10.5.1, 10.7.2, 11.5.2, 12.5.1 and the ones listed as not covered.

pub mod assert;
pub mod attestations;
pub mod events;
pub mod export;
pub mod history;
pub mod html;
pub mod pack;
pub mod report;
pub mod time_text;
pub mod verify;

/// The `schema` field of `evidence.json`.
pub const EVIDENCE_SCHEMA: &str = "https://stamp.dev/evidence/v1";

/// The DSSE payload type of `pack.sig.json`: the signed payload is the bytes of `SHA256SUMS`.
pub const PAYLOAD_TYPE_SUMS: &str = "application/vnd.stamp.evidence.sha256sums";

/// File names inside a pack.
pub mod files {
    pub const INDEX_HTML: &str = "index.html";
    pub const EVIDENCE_JSON: &str = "evidence.json";
    pub const VERIFY_MD: &str = "VERIFY.md";
    pub const SHA256SUMS: &str = "SHA256SUMS";
    pub const PACK_SIGNATURE: &str = "pack.sig.json";
    pub const TRUST: &str = "keys/trust.toml";
    pub const LOG_VERIFIER: &str = "keys/log.pub";
    pub const CHECKPOINT: &str = "log/checkpoint.txt";
    pub const CHECKPOINTS_DIR: &str = "log/checkpoints/";
    pub const EVENTS: &str = "log/events.jsonl";
    pub const INCLUSION_PROOFS: &str = "log/inclusion-proofs.jsonl";
    pub const CONSISTENCY_PROOFS: &str = "log/consistency-proofs.jsonl";
    pub const ATTESTATIONS_DIR: &str = "attestations/";
    pub const DRIFT_RUNS: &str = "drift/runs.json";
}
