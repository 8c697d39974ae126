//! Shared vocabulary of stamp: content digests and the types every other crate speaks.
//!
//! This crate owns identifiers and value types only. It does no I/O, reads no clock and
//! touches no storage; effects live in the crates above it (`stamp-image`, `stamp-log`, …).
//!
//! Digests follow the OCI image-spec "Digests" section (`algorithm:encoded`, sha256 only,
//! lower-case hex of 64 characters). Events carry the PCI DSS 10.2.2 audit-trail fields and
//! define the canonical bytes that `stamp-log` stores as leaves (see [`event`]).

mod digest;
pub mod event;

pub use digest::{Digest, ParseDigestError, Sha256Writer};
pub use event::{
    BuildEventError, Event, EventBuilder, EventKind, Origin, Outcome, ParseEventError,
    ParseEventKindError, Process,
};
