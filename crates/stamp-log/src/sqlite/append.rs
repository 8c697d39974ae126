//! Appending to the SQLite log: one `BEGIN IMMEDIATE` transaction per batch.

use rusqlite::{params, Connection, OptionalExtension as _, Transaction, TransactionBehavior};
use stamp_core::Event;

use super::{sql_index, SqliteLog};
use crate::checkpoint::Checkpoint;
use crate::keys::NoteSigner;
use crate::merkle::{
    self, leaf_hash, stored_hash_count, stored_hash_index, stored_hashes_for_leaf_hash, Hash,
    HashReader, ReadHashesError, TREE_SIZE_MAX,
};
use crate::projection;
use crate::store::{AppendError, AppendReceipt};

/// Reads stored hashes inside the append transaction: those written earlier in this batch
/// from memory, older ones from the table.
struct BatchHashReader<'a> {
    connection: &'a Connection,
    first_pending: u64,
    pending: &'a [Hash],
}

impl HashReader for BatchHashReader<'_> {
    fn read_hashes(&self, stored_indexes: &[u64]) -> Result<Vec<Hash>, ReadHashesError> {
        let mut statement = self
            .connection
            .prepare_cached("SELECT hash FROM hashes WHERE stored_index = ?1")
            .map_err(|error| ReadHashesError::Storage(Box::new(error)))?;
        let mut hashes = Vec::with_capacity(stored_indexes.len());
        for &stored_index in stored_indexes {
            if let Some(offset) = stored_index.checked_sub(self.first_pending) {
                let hash = usize::try_from(offset)
                    .ok()
                    .and_then(|offset| self.pending.get(offset))
                    .ok_or(ReadHashesError::Missing { stored_index })?;
                hashes.push(*hash);
                continue;
            }
            let bytes: Option<Vec<u8>> = statement
                .query_row([sql_index(stored_index)], |row| row.get(0))
                .optional()
                .map_err(|error| ReadHashesError::Storage(Box::new(error)))?;
            let bytes = bytes.ok_or(ReadHashesError::Missing { stored_index })?;
            hashes
                .push(Hash::from_slice(&bytes).ok_or(ReadHashesError::Malformed { stored_index })?);
        }
        Ok(hashes)
    }
}

impl SqliteLog {
    /// Append `events` as consecutive entries in one durable transaction, updating the
    /// projection tables and calling `hook(transaction, index, event)` for each event inside
    /// the same transaction (for tables the caller owns), then storing a checkpoint for the new
    /// size signed by `signer`. Returns only after COMMIT; on any error nothing is stored.
    pub fn append_with<F>(
        &mut self,
        signer: &NoteSigner,
        events: &[Event],
        mut hook: F,
    ) -> Result<AppendReceipt, AppendError>
    where
        F: FnMut(
            &Transaction<'_>,
            u64,
            &Event,
        ) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    {
        if events.is_empty() {
            return Err(AppendError::Empty);
        }
        let path = self.path.clone();
        let storage = |operation: &'static str| {
            let path = path.clone();
            move |source: rusqlite::Error| AppendError::Storage {
                operation,
                path,
                source: Box::new(source),
            }
        };
        let transaction = self
            .connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage("beginning the append transaction"))?;

        let size = check_tail(&transaction, &path)?;
        let count = events.len() as u64;
        if size.saturating_add(count) > TREE_SIZE_MAX {
            return Err(AppendError::Full { path, size });
        }

        let first_pending = stored_hash_count(size);
        let mut pending: Vec<Hash> = Vec::with_capacity(events.len() * 2 + 64);
        {
            let mut insert_entry = transaction
                .prepare_cached("INSERT INTO entries (idx, bytes, leaf_hash) VALUES (?1, ?2, ?3)")
                .map_err(storage("preparing the entry insert"))?;
            let mut insert_hash = transaction
                .prepare_cached("INSERT INTO hashes (stored_index, hash) VALUES (?1, ?2)")
                .map_err(storage("preparing the hash insert"))?;
            for (offset, event) in events.iter().enumerate() {
                let index = size + offset as u64;
                let bytes = event.to_canonical_bytes();
                let leaf = leaf_hash(&bytes);
                let new_hashes = {
                    let reader = BatchHashReader {
                        connection: &transaction,
                        first_pending,
                        pending: &pending,
                    };
                    stored_hashes_for_leaf_hash(index, leaf, &reader)
                        .map_err(|source| AppendError::ReadHashes { index, source })?
                };
                insert_entry
                    .execute(params![sql_index(index), bytes, leaf.0.as_slice()])
                    .map_err(storage("inserting an entry"))?;
                for (stored_index, hash) in (stored_hash_index(0, index)..).zip(new_hashes) {
                    insert_hash
                        .execute(params![sql_index(stored_index), hash.0.as_slice()])
                        .map_err(storage("inserting a stored hash"))?;
                    pending.push(hash);
                }
                projection::apply(&transaction, index, event)
                    .map_err(|source| AppendError::Projection { index, source })?;
                hook(&transaction, index, event)
                    .map_err(|source| AppendError::Hook { index, source })?;
            }
        }

        let new_size = size + count;
        let root = {
            let reader = BatchHashReader {
                connection: &transaction,
                first_pending,
                pending: &pending,
            };
            merkle::tree_hash(new_size, &reader).map_err(|source| AppendError::ReadHashes {
                index: new_size - 1,
                source,
            })?
        };
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size: new_size,
            root,
            extensions: Vec::new(),
        }
        .sign(signer)
        .map_err(|source| AppendError::Sign {
            size: new_size,
            source,
        })?;
        transaction
            .prepare_cached("INSERT INTO checkpoints (size, note) VALUES (?1, ?2)")
            .and_then(|mut statement| statement.execute(params![sql_index(new_size), checkpoint]))
            .map_err(storage("storing the checkpoint"))?;
        transaction
            .commit()
            .map_err(storage("committing the append"))?;
        Ok(AppendReceipt {
            first_index: size,
            size: new_size,
            root,
            checkpoint,
        })
    }
}

/// The current size, after checking that the stored hashes and the newest checkpoint match it
/// (a log damaged by hand must not be extended: that would bury the damage).
fn check_tail(transaction: &Transaction<'_>, path: &std::path::Path) -> Result<u64, AppendError> {
    let storage = |source: rusqlite::Error| AppendError::Storage {
        operation: "reading the log tail",
        path: path.to_path_buf(),
        source: Box::new(source),
    };
    let (size, hash_count, checkpoint_size): (i64, i64, Option<i64>) = transaction
        .prepare_cached(
            "SELECT (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries), \
                    (SELECT COALESCE(MAX(stored_index) + 1, 0) FROM hashes), \
                    (SELECT MAX(size) FROM checkpoints)",
        )
        .and_then(|mut statement| {
            statement.query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        })
        .map_err(storage)?;
    let inconsistent = |detail: String| AppendError::Inconsistent {
        path: path.to_path_buf(),
        detail,
    };
    let size = u64::try_from(size).map_err(|_| inconsistent("negative entry index".into()))?;
    if size > TREE_SIZE_MAX {
        return Err(inconsistent(format!("{size} entries is past the maximum")));
    }
    let expected_hashes = stored_hash_count(size);
    if u64::try_from(hash_count).ok() != Some(expected_hashes) {
        return Err(inconsistent(format!(
            "{size} entries need {expected_hashes} stored hashes, found {hash_count}"
        )));
    }
    if checkpoint_size.and_then(|s| u64::try_from(s).ok()) != Some(size) {
        return Err(inconsistent(format!(
            "{size} entries but the newest checkpoint is for size {}",
            checkpoint_size.map_or("none".to_string(), |s| s.to_string())
        )));
    }
    Ok(size)
}
