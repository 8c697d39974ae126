//! Deployment by replacement, and drift detection against the image itself (PCI DSS 6.5.1,
//! 11.5.2, 12.10.5).
//!
//! Owns: the [`runtime::Runtime`] seam (start, stop, state, list, exec) and its local
//! implementation on the Debian `runc` binary ([`runc`]: OCI runtime-spec 1.0.2 `config.json`,
//! bundles shared read-only per digest, `runc exec` for commands inside an instance); the
//! rollout that starts new instances, waits for health and then stops old ones one at a time
//! ([`rollout`]); the health check, HTTP or a command run inside the instance ([`health`]);
//! comparing a root
//! filesystem with an image's file manifest while leaving out the image's declared writable
//! paths, and the canonical hashed form of the difference list a `drift` event records
//! ([`drift`]); quarantine archives of drifted instances ([`quarantine`]).
//!
//! Deliberately does not: write the log (the CLI's recorder does, from [`rollout::Step`]s),
//! decide admission (gate, approvals, revocation live in the CLI over the log's facts), patch
//! a drifted tree (a drifted instance is replaced, never repaired), walk an image tree itself
//! (that is [`stamp_image::scan`], so builds and drift checks agree on what an entry is), or
//! create namespaces (runc does).

pub mod drift;
pub mod health;
pub mod quarantine;
pub mod rollout;
pub mod runc;
pub mod runtime;

pub use drift::{check_tree, writable_paths, DriftReport, WritableLabelError};
