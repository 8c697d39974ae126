//! Full verification of a stored log, in one streaming pass in index order.
//!
//! For every entry: recompute the leaf hash from the stored event bytes and compare it with the
//! stored leaf-hash column; recompute every stored tree hash that entry completes (from the
//! recomputed hashes, never from stored ones) and compare it with the stored one. At every
//! stored checkpoint: check the signature and origin, that its size is the size it is filed
//! under, and that its root is the recomputed tree hash at that size. At the end: no checkpoint
//! claims more entries than the log holds (deleted tail), no entries follow the newest
//! checkpoint, and no stored hash is left over.
//!
//! Every checkpoint is therefore consistent with every earlier one without a consistency
//! proof: both roots are the tree hashes, recomputed from the same verified entries, of two
//! prefixes of one log, and that is what an RFC 9162 consistency proof establishes. A proof
//! built from the stored hashes (all checked by then) could only re-derive the same two roots,
//! so verify builds none; [`VerifyProblem::CheckpointInconsistent`] stays for callers that
//! check proofs between checkpoints they hold.
//!
//! Checkpoint signatures, the bulk of the work on a log with a checkpoint per entry, are
//! checked ahead of the walk: [`VERIFY_CHUNK_CHECKPOINTS`] at a time, on up to
//! [`default_verify_threads`] threads, in Ed25519 batches ([`Checkpoint::open_many`]), the next
//! chunk while the walk goes through the entries of the current one. Each checkpoint's result
//! is the one [`Checkpoint::open`] gives it alone, and the walk takes them in log order, so the
//! problem reported does not depend on the number of threads or their timing.
//!
//! The first problem, in log order, is reported ([`VerifyProblem`]); problems are findings in a
//! [`VerifyReport`], while `Err` means the store could not be read.

use std::fmt;
use std::num::NonZeroUsize;

use serde_json::json;

use crate::checkpoint::{Checkpoint, OpenCheckpointError};
use crate::keys::NoteVerifier;
use crate::merkle::{leaf_hash, stored_hash_index, Frontier, Hash};
use crate::note::NOTE_BATCH_SIGNATURES_MAX;
use crate::proof::ProveError;
use crate::store::{LogStore, ReadLogError, StoredCheckpoint, StoredEntry, StoredHash};

/// Entries (and stored hashes, twice as many) read per query while verifying.
pub const VERIFY_CHUNK_ENTRIES: usize = 4096;

/// Checkpoints read per query while verifying; their signatures are checked together.
pub const VERIFY_CHUNK_CHECKPOINTS: usize = 1024;

/// Most threads that check checkpoint signatures.
pub const VERIFY_THREADS_MAX: usize = 16;

/// The threads [`verify`] uses: the available parallelism, at most [`VERIFY_THREADS_MAX`].
pub fn default_verify_threads() -> NonZeroUsize {
    let available = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    NonZeroUsize::new(available.min(VERIFY_THREADS_MAX)).unwrap_or(NonZeroUsize::MIN)
}

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
    /// Two checkpoints are not consistent. [`verify()`] does not report it: a checkpoint whose
    /// root is the recomputed tree hash at its size is consistent with every earlier one (see
    /// the module documentation), and a wrong root is [`VerifyProblem::CheckpointRootMismatch`].
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
    /// Checkpoints whose signature, size and root were checked.
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
    /// Not returned by [`verify()`], which builds no proofs (kept for callers matching on it).
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

/// A stored checkpoint with the result of opening it (signature, body, origin).
struct OpenedCheckpoint {
    stored: StoredCheckpoint,
    opened: Result<Checkpoint, OpenCheckpointError>,
}

/// Open `stored` checkpoints on up to `threads` threads (the calling one included), each
/// taking a contiguous share; the results are in the order of `stored`.
fn open_checkpoints(
    stored: Vec<StoredCheckpoint>,
    verifier: &NoteVerifier,
    origin: &str,
    threads: NonZeroUsize,
) -> Vec<OpenedCheckpoint> {
    let notes: Vec<&[u8]> = stored.iter().map(|stored| stored.note.as_slice()).collect();
    // No thread gets less than one batch.
    let threads = threads
        .get()
        .min(notes.len().div_ceil(NOTE_BATCH_SIGNATURES_MAX))
        .max(1);
    let opened = if threads == 1 {
        Checkpoint::open_many(&notes, verifier, origin)
    } else {
        let share = notes.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let others: Vec<_> = notes[share..]
                .chunks(share)
                .map(|part| scope.spawn(move || Checkpoint::open_many(part, verifier, origin)))
                .collect();
            let mut opened = Checkpoint::open_many(&notes[..share], verifier, origin);
            for other in others {
                match other.join() {
                    Ok(part) => opened.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            opened
        })
    };
    stored
        .into_iter()
        .zip(opened)
        .map(|(stored, opened)| OpenedCheckpoint { stored, opened })
        .collect()
}

/// The stored checkpoints in size order, opened. Checkpoints are read
/// [`VERIFY_CHUNK_CHECKPOINTS`] at a time; while the walk uses one chunk, the next is opened
/// on other threads.
struct CheckpointReader<'scope, 'env, S: ?Sized> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    store: &'env S,
    verifier: &'env NoteVerifier,
    threads: NonZeroUsize,
    /// The next chunk, being opened; `None` once the store has no more.
    ahead: Option<std::thread::ScopedJoinHandle<'scope, Vec<OpenedCheckpoint>>>,
    current: std::vec::IntoIter<OpenedCheckpoint>,
}

impl<'scope, 'env, S: LogStore + ?Sized> CheckpointReader<'scope, 'env, S> {
    fn new(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        store: &'env S,
        verifier: &'env NoteVerifier,
        threads: NonZeroUsize,
    ) -> Result<Self, ReadLogError> {
        let mut reader = CheckpointReader {
            scope,
            store,
            verifier,
            threads,
            ahead: None,
            current: Vec::new().into_iter(),
        };
        reader.read_ahead(0)?;
        Ok(reader)
    }

    /// Read the chunk from size `start` on and start opening it.
    fn read_ahead(&mut self, start: u64) -> Result<(), ReadLogError> {
        let stored = self
            .store
            .read_checkpoints(start, VERIFY_CHUNK_CHECKPOINTS)?;
        self.ahead = if stored.is_empty() {
            None
        } else {
            let (verifier, origin, threads) = (self.verifier, self.store.origin(), self.threads);
            Some(
                self.scope
                    .spawn(move || open_checkpoints(stored, verifier, origin, threads)),
            )
        };
        Ok(())
    }

    fn next(&mut self) -> Result<Option<OpenedCheckpoint>, ReadLogError> {
        if let Some(opened) = self.current.next() {
            return Ok(Some(opened));
        }
        let Some(ahead) = self.ahead.take() else {
            return Ok(None);
        };
        let chunk = match ahead.join() {
            Ok(chunk) => chunk,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        if let Some(last) = chunk.last() {
            self.read_ahead(last.stored.size + 1)?;
        }
        self.current = chunk.into_iter();
        Ok(self.current.next())
    }
}

struct Verifier<'a, S: ?Sized> {
    store: &'a S,
    verifier: &'a NoteVerifier,
    threads: NonZeroUsize,
    report: VerifyReport,
}

impl<S: LogStore + ?Sized> Verifier<'_, S> {
    /// Check one opened checkpoint against the recomputed root at its size.
    fn checkpoint(&mut self, checkpoint: &OpenedCheckpoint, root: &Hash) -> Option<VerifyProblem> {
        let stored = &checkpoint.stored;
        let checkpoint = match &checkpoint.opened {
            Ok(checkpoint) => checkpoint,
            Err(reason) => {
                return Some(VerifyProblem::CheckpointInvalid {
                    size: stored.size,
                    reason: reason.clone(),
                });
            }
        };
        if checkpoint.size != stored.size {
            return Some(VerifyProblem::CheckpointSizeMismatch {
                size: stored.size,
                stated_size: checkpoint.size,
            });
        }
        if checkpoint.root != *root {
            return Some(VerifyProblem::CheckpointRootMismatch { size: stored.size });
        }
        // Consistent with every earlier checkpoint: their roots are recomputed tree hashes of
        // prefixes of the same verified entries (see the module documentation).
        self.report.checkpoints += 1;
        self.report.latest = Some(checkpoint.clone());
        None
    }
}

/// Verify every entry, stored hash and checkpoint of `store` against `verifier` (the log
/// key), checking signatures on [`default_verify_threads`] threads. Call it inside one read
/// snapshot ([`crate::SqliteLog::verify`] does).
pub fn verify<S: LogStore + ?Sized>(
    store: &S,
    verifier: &NoteVerifier,
) -> Result<VerifyReport, VerifyError> {
    verify_with_threads(store, verifier, default_verify_threads())
}

/// [`verify()`] with checkpoint signatures checked on up to `threads` threads. The report is
/// the same for every number of threads.
pub fn verify_with_threads<S: LogStore + ?Sized>(
    store: &S,
    verifier: &NoteVerifier,
    threads: NonZeroUsize,
) -> Result<VerifyReport, VerifyError> {
    let size = store.size()?;
    let mut state = Verifier {
        store,
        verifier,
        threads,
        report: VerifyReport {
            entries: 0,
            stored_hashes: 0,
            checkpoints: 0,
            latest: None,
            problem: None,
        },
    };
    let problem = walk(&mut state, size)?;
    state.report.problem = problem;
    Ok(state.report)
}

fn walk<S: LogStore + ?Sized>(
    state: &mut Verifier<'_, S>,
    size: u64,
) -> Result<Option<VerifyProblem>, VerifyError> {
    let (store, verifier, threads) = (state.store, state.verifier, state.threads);
    std::thread::scope(|scope| {
        let mut checkpoints = CheckpointReader::new(scope, store, verifier, threads)?;
        walk_entries(state, size, &mut checkpoints)
    })
}

fn walk_entries<S: LogStore + ?Sized>(
    state: &mut Verifier<'_, S>,
    size: u64,
    checkpoints: &mut CheckpointReader<'_, '_, S>,
) -> Result<Option<VerifyProblem>, VerifyError> {
    let store = state.store;
    let mut entries: Chunked<StoredEntry> = Chunked::new();
    let mut hashes: Chunked<StoredHash> = Chunked::new();
    let mut frontier = Frontier::new();
    let mut next_hash_index = 0u64;
    let mut pending_checkpoint = checkpoints.next()?;

    for index in 0..=size {
        // Checkpoints for the tree of `index` entries.
        while let Some(opened) = pending_checkpoint
            .as_ref()
            .filter(|opened| opened.stored.size == index)
        {
            if let Some(problem) = state.checkpoint(opened, &frontier.root()) {
                return Ok(Some(problem));
            }
            pending_checkpoint = checkpoints.next()?;
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
