//! Full verification of a stored log, in one streaming pass in index order.
//!
//! For every entry: recompute the leaf hash from the stored event bytes and compare it with the
//! stored leaf-hash column; recompute every stored tree hash that entry completes (from the
//! recomputed hashes, never from stored ones) and compare it with the stored one. At every
//! stored checkpoint: check the signature and origin, that its size is the size it is filed
//! under, that its root is the recomputed tree hash at that size, and that it is consistent
//! with the previous checkpoint (an RFC 9162 consistency proof, generated and checked). At the
//! end: no checkpoint claims more entries than the log holds (deleted tail), no entries follow
//! the newest checkpoint, and no stored hash is left over.
//!
//! The first problem, in log order, is reported ([`VerifyProblem`]); problems are findings in a
//! [`VerifyReport`], while `Err` means the store could not be read.

use std::fmt;

use serde_json::json;

use crate::checkpoint::{Checkpoint, OpenCheckpointError};
use crate::keys::NoteVerifier;
use crate::merkle::{leaf_hash, stored_hash_index, Frontier, Hash};
use crate::proof::{check_consistency, ProveError};
use crate::store::{LogStore, ReadLogError, StoredCheckpoint, StoredEntry, StoredHash};

/// Entries (and stored hashes, twice as many) read per query while verifying.
pub const VERIFY_CHUNK_ENTRIES: usize = 4096;

/// Checkpoints read per query while verifying.
const VERIFY_CHUNK_CHECKPOINTS: usize = 1024;

/// The first thing found wrong with a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyProblem {
    /// No entry is stored at `index`, but later ones are.
    EntryMissing { index: u64 },
    /// The stored leaf hash of entry `index` is not SHA-256(0x00 ‖ stored bytes).
    LeafHashMismatch { index: u64 },
    /// Stored hash `stored_index`, written when entry `leaf_index` was appended, is absent.
    StoredHashMissing { stored_index: u64, leaf_index: u64 },
    /// Stored hash `stored_index` (tree level `level`; level 0 is the leaf hash), written when
    /// entry `leaf_index` was appended, differs from the recomputed one.
    StoredHashMismatch {
        stored_index: u64,
        level: u32,
        leaf_index: u64,
    },
    /// A stored hash beyond what the entries account for.
    ExtraStoredHash { stored_index: u64 },
    /// The checkpoint filed under `size` does not open (signature, body or origin).
    CheckpointInvalid {
        size: u64,
        reason: OpenCheckpointError,
    },
    /// The checkpoint filed under `size` states another size.
    CheckpointSizeMismatch { size: u64, stated_size: u64 },
    /// The checkpoint for `size` signs a root other than the recomputed tree hash.
    CheckpointRootMismatch { size: u64 },
    /// Two successive checkpoints are not consistent.
    CheckpointInconsistent { old_size: u64, new_size: u64 },
    /// A checkpoint claims more entries than the log holds: entries were deleted.
    CheckpointBeyondLog { checkpoint_size: u64, log_size: u64 },
    /// Entries follow the newest checkpoint (appends always store one): entries were added.
    EntriesAfterCheckpoint { checkpoint_size: u64, log_size: u64 },
    /// The log has no checkpoint at all.
    NoCheckpoint { log_size: u64 },
}

impl VerifyProblem {
    /// A stable kebab-case code for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyProblem::EntryMissing { .. } => "log-entry-missing",
            VerifyProblem::LeafHashMismatch { .. } => "log-leaf-hash-mismatch",
            VerifyProblem::StoredHashMissing { .. } => "log-stored-hash-missing",
            VerifyProblem::StoredHashMismatch { .. } => "log-stored-hash-mismatch",
            VerifyProblem::ExtraStoredHash { .. } => "log-extra-stored-hash",
            VerifyProblem::CheckpointInvalid { .. } => "log-checkpoint-invalid",
            VerifyProblem::CheckpointSizeMismatch { .. } => "log-checkpoint-size-mismatch",
            VerifyProblem::CheckpointRootMismatch { .. } => "log-checkpoint-root-mismatch",
            VerifyProblem::CheckpointInconsistent { .. } => "log-checkpoint-inconsistent",
            VerifyProblem::CheckpointBeyondLog { .. } => "log-truncated",
            VerifyProblem::EntriesAfterCheckpoint { .. } => "log-entries-after-checkpoint",
            VerifyProblem::NoCheckpoint { .. } => "log-no-checkpoint",
        }
    }

    /// The entry index the problem is at (the first entry a bad checkpoint covers wrongly is
    /// not known, so checkpoint problems give the checkpoint's size).
    pub fn index(&self) -> u64 {
        match *self {
            VerifyProblem::EntryMissing { index } | VerifyProblem::LeafHashMismatch { index } => {
                index
            }
            VerifyProblem::StoredHashMissing { leaf_index, .. }
            | VerifyProblem::StoredHashMismatch { leaf_index, .. } => leaf_index,
            VerifyProblem::ExtraStoredHash { stored_index } => stored_index,
            VerifyProblem::CheckpointInvalid { size, .. }
            | VerifyProblem::CheckpointSizeMismatch { size, .. }
            | VerifyProblem::CheckpointRootMismatch { size } => size,
            VerifyProblem::CheckpointInconsistent { new_size, .. } => new_size,
            VerifyProblem::CheckpointBeyondLog { log_size, .. } => log_size,
            VerifyProblem::EntriesAfterCheckpoint {
                checkpoint_size, ..
            } => checkpoint_size,
            VerifyProblem::NoCheckpoint { log_size } => log_size,
        }
    }
}

impl fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyProblem::EntryMissing { index } => write!(f, "entry {index} is missing"),
            VerifyProblem::LeafHashMismatch { index } => {
                write!(f, "entry {index}: stored bytes do not match its stored leaf hash")
            }
            VerifyProblem::StoredHashMissing { stored_index, leaf_index } => {
                write!(f, "entry {leaf_index}: stored hash {stored_index} is missing")
            }
            VerifyProblem::StoredHashMismatch { stored_index, level, leaf_index } => write!(
                f,
                "entry {leaf_index}: stored hash {stored_index} (level {level}) does not match the entries"
            ),
            VerifyProblem::ExtraStoredHash { stored_index } => {
                write!(f, "stored hash {stored_index} is beyond the last entry")
            }
            VerifyProblem::CheckpointInvalid { size, reason } => {
                write!(f, "checkpoint for size {size} is invalid: {reason}")?;
                let mut source = std::error::Error::source(reason);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            VerifyProblem::CheckpointSizeMismatch { size, stated_size } => {
                write!(f, "checkpoint filed under size {size} states size {stated_size}")
            }
            VerifyProblem::CheckpointRootMismatch { size } => {
                write!(f, "checkpoint for size {size} signs a root the entries do not have")
            }
            VerifyProblem::CheckpointInconsistent { old_size, new_size } => {
                write!(f, "checkpoints for sizes {old_size} and {new_size} are not consistent")
            }
            VerifyProblem::CheckpointBeyondLog { checkpoint_size, log_size } => write!(
                f,
                "a checkpoint signs {checkpoint_size} entries but the log holds {log_size}: entries were removed"
            ),
            VerifyProblem::EntriesAfterCheckpoint { checkpoint_size, log_size } => write!(
                f,
                "the log holds {log_size} entries but the newest checkpoint signs {checkpoint_size}"
            ),
            VerifyProblem::NoCheckpoint { log_size } => {
                write!(f, "the log holds {log_size} entries and no checkpoint")
            }
        }
    }
}

/// What verification found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// Stored hashes checked.
    pub stored_hashes: u64,
    /// Checkpoints whose signature, root and consistency were checked.
    pub checkpoints: u64,
    /// The newest checkpoint that verified.
    pub latest: Option<Checkpoint>,
    /// The first problem, or `None` if the log verifies.
    pub problem: Option<VerifyProblem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// The report as JSON for `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "ok": self.is_ok(),
            "entries": self.entries,
            "stored_hashes": self.stored_hashes,
            "checkpoints": self.checkpoints,
            "latest": self.latest.as_ref().map(|checkpoint| json!({
                "origin": checkpoint.origin,
                "size": checkpoint.size,
                "root": checkpoint.root.to_hex(),
            })),
            "problem": self.problem.as_ref().map(|problem| json!({
                "code": problem.code(),
                "index": problem.index(),
                "message": problem.to_string(),
            })),
        })
    }
}

/// Why verification could not run (as opposed to finding a problem).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading the log")]
    Read(#[from] ReadLogError),
    #[error("building the consistency proof from size {old_size} to {new_size}")]
    Prove {
        old_size: u64,
        new_size: u64,
        #[source]
        source: ProveError,
    },
}

/// Reads a store in ascending chunks.
struct Chunked<T> {
    buffer: std::vec::IntoIter<T>,
    exhausted: bool,
}

impl<T> Chunked<T> {
    fn new() -> Self {
        Chunked {
            buffer: Vec::new().into_iter(),
            exhausted: false,
        }
    }

    fn next(
        &mut self,
        refill: impl FnOnce() -> Result<Vec<T>, ReadLogError>,
    ) -> Result<Option<T>, ReadLogError> {
        if let Some(item) = self.buffer.next() {
            return Ok(Some(item));
        }
        if self.exhausted {
            return Ok(None);
        }
        let chunk = refill()?;
        if chunk.is_empty() {
            self.exhausted = true;
        }
        self.buffer = chunk.into_iter();
        Ok(self.buffer.next())
    }
}

struct Verifier<'a, S: ?Sized> {
    store: &'a S,
    verifier: &'a NoteVerifier,
    report: VerifyReport,
    previous: Option<Checkpoint>,
}

impl<S: LogStore + ?Sized> Verifier<'_, S> {
    /// Check one stored checkpoint against the recomputed root at its size.
    fn checkpoint(
        &mut self,
        stored: &StoredCheckpoint,
        root: &Hash,
    ) -> Result<Option<VerifyProblem>, VerifyError> {
        let checkpoint = match Checkpoint::open(&stored.note, self.verifier, self.store.origin()) {
            Ok(checkpoint) => checkpoint,
            Err(reason) => {
                return Ok(Some(VerifyProblem::CheckpointInvalid {
                    size: stored.size,
                    reason,
                }));
            }
        };
        if checkpoint.size != stored.size {
            return Ok(Some(VerifyProblem::CheckpointSizeMismatch {
                size: stored.size,
                stated_size: checkpoint.size,
            }));
        }
        if checkpoint.root != *root {
            return Ok(Some(VerifyProblem::CheckpointRootMismatch {
                size: stored.size,
            }));
        }
        if let Some(previous) = &self.previous {
            let proof = self
                .store
                .prove_consistency(previous.size, checkpoint.size)
                .map_err(|source| VerifyError::Prove {
                    old_size: previous.size,
                    new_size: checkpoint.size,
                    source,
                })?;
            if check_consistency(
                &proof,
                previous.size,
                &previous.root,
                checkpoint.size,
                &checkpoint.root,
            )
            .is_err()
            {
                return Ok(Some(VerifyProblem::CheckpointInconsistent {
                    old_size: previous.size,
                    new_size: checkpoint.size,
                }));
            }
        }
        self.report.checkpoints += 1;
        self.previous = Some(checkpoint.clone());
        self.report.latest = Some(checkpoint);
        Ok(None)
    }
}

/// Verify every entry, stored hash and checkpoint of `store` against `verifier` (the log
/// key). Call it inside one read snapshot ([`crate::SqliteLog::verify`] does).
pub fn verify<S: LogStore + ?Sized>(
    store: &S,
    verifier: &NoteVerifier,
) -> Result<VerifyReport, VerifyError> {
    let size = store.size()?;
    let mut state = Verifier {
        store,
        verifier,
        report: VerifyReport {
            entries: 0,
            stored_hashes: 0,
            checkpoints: 0,
            latest: None,
            problem: None,
        },
        previous: None,
    };
    let problem = walk(&mut state, size)?;
    state.report.problem = problem;
    Ok(state.report)
}

fn walk<S: LogStore + ?Sized>(
    state: &mut Verifier<'_, S>,
    size: u64,
) -> Result<Option<VerifyProblem>, VerifyError> {
    let store = state.store;
    let mut entries: Chunked<StoredEntry> = Chunked::new();
    let mut hashes: Chunked<StoredHash> = Chunked::new();
    let mut checkpoints: Chunked<StoredCheckpoint> = Chunked::new();
    let mut frontier = Frontier::new();
    let mut next_hash_index = 0u64;
    let mut pending_checkpoint =
        checkpoints.next(|| store.read_checkpoints(0, VERIFY_CHUNK_CHECKPOINTS))?;

    for index in 0..=size {
        // Checkpoints for the tree of `index` entries.
        while let Some(stored) = pending_checkpoint
            .as_ref()
            .filter(|stored| stored.size == index)
        {
            if let Some(problem) = state.checkpoint(stored, &frontier.root())? {
                return Ok(Some(problem));
            }
            pending_checkpoint =
                checkpoints.next(|| store.read_checkpoints(index + 1, VERIFY_CHUNK_CHECKPOINTS))?;
        }
        if index == size {
            break;
        }
        let entry = entries.next(|| store.read_entries(index, VERIFY_CHUNK_ENTRIES))?;
        let Some(entry) = entry.filter(|entry| entry.index == index) else {
            return Ok(Some(VerifyProblem::EntryMissing { index }));
        };
        let leaf = leaf_hash(&entry.bytes);
        if entry.leaf_hash != leaf.0 {
            return Ok(Some(VerifyProblem::LeafHashMismatch { index }));
        }
        state.report.entries += 1;
        let first = stored_hash_index(0, index);
        for (level, expected) in frontier.push(leaf).into_iter().enumerate() {
            let stored_index = first + level as u64;
            let stored =
                hashes.next(|| store.read_hash_range(next_hash_index, 2 * VERIFY_CHUNK_ENTRIES))?;
            let Some(stored) = stored.filter(|stored| stored.stored_index == stored_index) else {
                return Ok(Some(VerifyProblem::StoredHashMissing {
                    stored_index,
                    leaf_index: index,
                }));
            };
            if stored.hash != expected.0 {
                return Ok(Some(VerifyProblem::StoredHashMismatch {
                    stored_index,
                    level: level as u32,
                    leaf_index: index,
                }));
            }
            next_hash_index = stored_index + 1;
            state.report.stored_hashes += 1;
        }
    }

    // Checkpoints left over sign sizes the log does not reach: its tail was removed.
    if pending_checkpoint.is_some() {
        let newest = store
            .latest_checkpoint()?
            .map_or(size, |stored| stored.size);
        return Ok(Some(VerifyProblem::CheckpointBeyondLog {
            checkpoint_size: newest,
            log_size: size,
        }));
    }
    if let Some(extra) = hashes.next(|| store.read_hash_range(next_hash_index, 1))? {
        return Ok(Some(VerifyProblem::ExtraStoredHash {
            stored_index: extra.stored_index,
        }));
    }
    match &state.report.latest {
        None => Ok(Some(VerifyProblem::NoCheckpoint { log_size: size })),
        Some(latest) if latest.size != size => Ok(Some(VerifyProblem::EntriesAfterCheckpoint {
            checkpoint_size: latest.size,
            log_size: size,
        })),
        Some(_) => Ok(None),
    }
}
