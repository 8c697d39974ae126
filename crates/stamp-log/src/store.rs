//! The storage interface of the log: entries, stored hashes and signed checkpoints.
//!
//! A store is three append-only arrays (entry bytes with their leaf hash, stored hashes in
//! [`crate::merkle::stored_hash_index`] order, checkpoint notes by size) that grow together in
//! one atomic, durable append. Reads come in ranges so verification can stream in index order.
//! [`crate::SqliteLog`] implements it; a PostgreSQL store would implement the same trait.

use std::ops::Range;
use std::path::PathBuf;

use stamp_core::Event;

use crate::checkpoint::SignCheckpointError;
use crate::keys::NoteSigner;
use crate::merkle::{self, Hash, HashReader, ReadHashesError};
use crate::projection::ApplyEventError;
use crate::proof::{self, ProveError};

/// One entry as stored: the event bytes and the leaf hash column, unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: u64,
    pub bytes: Vec<u8>,
    /// The stored leaf hash; any length, as read (verification compares it).
    pub leaf_hash: Vec<u8>,
}

/// One stored tree hash, unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHash {
    pub stored_index: u64,
    pub hash: Vec<u8>,
}

/// One stored checkpoint note, unchecked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The size the row is filed under (its body must say the same).
    pub size: u64,
    pub note: Vec<u8>,
}

/// What an acknowledged append returns, only after the append is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendReceipt {
    /// Index of the first appended entry.
    pub first_index: u64,
    /// Tree size after the append.
    pub size: u64,
    /// Tree hash at `size`.
    pub root: Hash,
    /// The signed checkpoint note for `size`.
    pub checkpoint: String,
}

impl AppendReceipt {
    /// The indexes given to the appended events, in order.
    pub fn indexes(&self) -> Range<u64> {
        self.first_index..self.size
    }
}

/// Why the log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadLogError {
    #[error("entry {index} is not in the log (size {size})")]
    EntryNotFound { index: u64, size: u64 },
    #[error("stored hash {stored_index} is not in the log")]
    HashNotFound { stored_index: u64 },
    #[error("{table} row {index} in `{path}` is corrupt: {reason}")]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        index: u64,
        reason: &'static str,
    },
    #[error("{operation} in `{path}`")]
    Storage {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Why an append was not made. Nothing of a failed append is stored.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("nothing to append")]
    Empty,
    #[error("the log `{path}` is inconsistent ({detail}); nothing was appended\nhint: run `stamp log verify`")]
    Inconsistent { path: PathBuf, detail: String },
    #[error("the log `{path}` is full ({size} entries)")]
    Full { path: PathBuf, size: u64 },
    #[error("updating projections for entry {index}")]
    Projection {
        index: u64,
        #[source]
        source: ApplyEventError,
    },
    #[error("append hook failed for entry {index}")]
    Hook {
        index: u64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("reading stored hashes while appending entry {index}")]
    ReadHashes {
        index: u64,
        #[source]
        source: ReadHashesError,
    },
    #[error("signing the checkpoint for size {size}")]
    Sign {
        size: u64,
        #[source]
        source: SignCheckpointError,
    },
    #[error("{operation} in `{path}`")]
    Storage {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Log storage. Appends are atomic and durable before they return; reads see whole appends.
pub trait LogStore {
    /// The checkpoint origin line of this log.
    fn origin(&self) -> &str;

    /// Number of entries (one past the highest stored index).
    fn size(&self) -> Result<u64, ReadLogError>;

    /// Entries with index ≥ `start`, ascending, at most `limit`.
    fn read_entries(&self, start: u64, limit: usize) -> Result<Vec<StoredEntry>, ReadLogError>;

    /// The stored hashes at `stored_indexes`, in that order (each must exist and be 32 bytes).
    fn read_hashes(&self, stored_indexes: &[u64]) -> Result<Vec<Hash>, ReadLogError>;

    /// Stored hashes with index ≥ `start`, ascending, at most `limit`.
    fn read_hash_range(&self, start: u64, limit: usize) -> Result<Vec<StoredHash>, ReadLogError>;

    /// Checkpoints with size ≥ `from_size`, ascending, at most `limit`.
    fn read_checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, ReadLogError>;

    /// The checkpoint with the largest size, if any.
    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, ReadLogError>;

    /// Append `events` as consecutive entries with one new signed checkpoint, atomically.
    fn append(
        &mut self,
        signer: &NoteSigner,
        events: &[Event],
    ) -> Result<AppendReceipt, AppendError>;

    /// The entry at `index`.
    fn read_entry(&self, index: u64) -> Result<StoredEntry, ReadLogError> {
        match self.read_entries(index, 1)?.pop() {
            Some(entry) if entry.index == index => Ok(entry),
            _ => Err(ReadLogError::EntryNotFound {
                index,
                size: self.size()?,
            }),
        }
    }

    /// The tree hash of the first `size` entries, from stored hashes.
    fn tree_hash(&self, size: u64) -> Result<Hash, ReadHashesError> {
        merkle::tree_hash(size, &StoreHashReader(self))
    }

    /// The inclusion proof of entry `index` in the tree of size `tree_size`.
    fn prove_inclusion(&self, tree_size: u64, index: u64) -> Result<Vec<Hash>, ProveError> {
        proof::prove_inclusion(tree_size, index, &StoreHashReader(self))
    }

    /// The consistency proof from size `old_size` to size `new_size`.
    fn prove_consistency(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, ProveError> {
        proof::prove_consistency(old_size, new_size, &StoreHashReader(self))
    }
}

/// Reads a store's hashes for the pure Merkle functions.
pub struct StoreHashReader<'a, S: ?Sized>(pub &'a S);

impl<S: LogStore + ?Sized> HashReader for StoreHashReader<'_, S> {
    fn read_hashes(&self, stored_indexes: &[u64]) -> Result<Vec<Hash>, ReadHashesError> {
        self.0
            .read_hashes(stored_indexes)
            .map_err(|error| match error {
                ReadLogError::HashNotFound { stored_index } => {
                    ReadHashesError::Missing { stored_index }
                }
                ReadLogError::Corrupt { index, .. } => ReadHashesError::Malformed {
                    stored_index: index,
                },
                other => ReadHashesError::Storage(Box::new(other)),
            })
    }
}
