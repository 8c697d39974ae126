//! stamp's tamper-evident log: every event, hashed into an RFC 6962 Merkle tree, with signed
//! checkpoints, proofs, verification, and the projections folded from it.
//!
//! What this crate owns:
//! * the pure Merkle core ([`merkle`], [`proof`]): leaf and node hashing, the dense stored-hash
//!   layout of Go's `golang.org/x/mod/sumdb/tlog`, tree hashes, inclusion and consistency
//!   proofs and their verification, all through a small [`HashReader`] trait and without I/O;
//! * signed notes and checkpoints ([`note`], [`checkpoint`]) and the Ed25519 note keys
//!   ([`keys`], the only module that touches key material);
//! * storage ([`LogStore`]) with the SQLite implementation ([`SqliteLog`]): durable, atomic,
//!   multi-process-safe appends, one signed checkpoint per append;
//! * projections ([`projection`]): current state as a fold over the log, rebuilt by replay;
//! * full verification ([`verify()`]), reporting the first bad index.
//!
//! What it does not do: decide what events mean beyond the projection fold, who may append
//! (identities and roles sit above it), serve tiles over HTTP, or read clocks and host names
//! (the caller builds [`stamp_core::Event`]s). PostgreSQL storage is not written yet.
//!
//! Specifications implemented:
//! * RFC 6962 §2.1 (Merkle hash trees: MTH, leaf `SHA-256(0x00‖d)`, node `SHA-256(0x01‖l‖r)`,
//!   the empty tree `SHA-256()`), §2.1.1 audit paths, §2.1.2 consistency proofs;
//! * RFC 9162 §2.1.3 (inclusion proof generation and verification) and §2.1.4 (consistency
//!   proof generation and verification), proofs ordered sibling nearest the leaf first, so Go's
//!   `tlog.CheckRecord` / `tlog.CheckTree` accept them;
//! * C2SP tlog-checkpoint (origin, size, base64 root, extension lines);
//! * C2SP signed-note with Ed25519 keys (algorithm 0x01), key and signature encodings as in Go's
//!   `golang.org/x/mod/sumdb/note`.

pub mod checkpoint;
pub mod keys;
pub mod merkle;
pub mod note;
pub mod projection;
pub mod proof;
mod sqlite;
pub mod store;
pub mod verify;

pub use checkpoint::{Checkpoint, OpenCheckpointError, ParseCheckpointError, SignCheckpointError};
pub use keys::{random_origin, NoteSigner, NoteVerifier, ReadKeyFileError, WriteKeyFileError};
pub use merkle::{empty_tree_hash, leaf_hash, node_hash, Hash, HashReader, ReadHashesError};
pub use note::{open_note, sign_note, OpenNoteError, ParseNoteError, SignNoteError, VerifiedNote};
pub use projection::{ApplyEventError, ProjectionState, ReplayError};
pub use proof::{
    check_consistency, check_inclusion, prove_consistency, prove_inclusion, CheckProofError,
    ProveError, PROOF_HASHES_MAX,
};
pub use sqlite::{
    CreateLogError, OpenLogError, ReadEventError, SqliteLog, APPLICATION_ID, BUSY_TIMEOUT_MS,
    SCHEMA_VERSION,
};
pub use store::{
    AppendError, AppendReceipt, LogStore, ReadLogError, StoredCheckpoint, StoredEntry, StoredHash,
};
pub use verify::{verify, VerifyError, VerifyProblem, VerifyReport};
