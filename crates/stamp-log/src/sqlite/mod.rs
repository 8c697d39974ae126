//! The embedded store: the log and its projections in one SQLite file (`.stamp/stamp.db`).
//!
//! * `journal_mode=WAL`, `synchronous=FULL`: a commit is on disk before it returns, and a
//!   crash at any moment leaves the last committed state.
//! * every append is one `BEGIN IMMEDIATE` transaction: entries, stored hashes, projection
//!   updates and the new signed checkpoint commit together or not at all. `BEGIN IMMEDIATE`
//!   takes the write lock before reading the tree size, so appends from several processes
//!   serialize (waiting up to [`BUSY_TIMEOUT_MS`]) and can never fork the history.
//! * tables (all `STRICT`, integer primary keys):
//!   `entries(idx, bytes, leaf_hash)`, `hashes(stored_index, hash)`, `checkpoints(size, note)`,
//!   `meta(key, value)` (the origin), plus the projection tables of [`crate::projection`].
//! * the file is marked with `PRAGMA application_id` [`APPLICATION_ID`] and
//!   `PRAGMA user_version` [`SCHEMA_VERSION`]; anything else is refused on open.

mod append;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension as _};
use stamp_core::{Event, ParseEventError};

use crate::checkpoint::{Checkpoint, SignCheckpointError};
use crate::keys::{NoteSigner, NoteVerifier};
use crate::merkle::{empty_tree_hash, Hash};
use crate::projection::{self, ProjectionState, ReplayError};
use crate::store::{
    AppendError, AppendReceipt, LogStore, ReadLogError, StoredCheckpoint, StoredEntry, StoredHash,
};
use crate::verify::{self, VerifyError, VerifyReport};

/// How long an append waits for another process's append to finish, in milliseconds.
pub const BUSY_TIMEOUT_MS: u64 = 30_000;

/// `PRAGMA application_id` of a stamp database ("STMP").
pub const APPLICATION_ID: i32 = 0x5354_4d50;

/// `PRAGMA user_version` of the schema this code writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

const LOG_SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE entries (idx INTEGER PRIMARY KEY, bytes BLOB NOT NULL, leaf_hash BLOB NOT NULL) STRICT;
CREATE TABLE hashes (stored_index INTEGER PRIMARY KEY, hash BLOB NOT NULL) STRICT;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL) STRICT;
";

/// Statements that must prepare on a database of this schema (checked on open).
const SCHEMA_PROBES: [(&str, &str); 4] = [
    ("meta", "SELECT key, value FROM meta LIMIT 0"),
    (
        "entries",
        "SELECT idx, bytes, leaf_hash FROM entries LIMIT 0",
    ),
    ("hashes", "SELECT stored_index, hash FROM hashes LIMIT 0"),
    ("checkpoints", "SELECT size, note FROM checkpoints LIMIT 0"),
];

/// Why a log could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateLogError {
    #[error("`{path}` already exists; refusing to create a log over it")]
    Exists { path: PathBuf },
    #[error("{operation} while creating `{path}`")]
    Sql {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("signing the first checkpoint of `{path}`")]
    Sign {
        path: PathBuf,
        #[source]
        source: SignCheckpointError,
    },
}

/// Why an existing log could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenLogError {
    #[error("no log at `{path}`\nhint: run `stamp init`")]
    NotFound { path: PathBuf },
    #[error("`{path}` is not a SQLite database or is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("`{path}` is not a stamp database (application id {application_id:#010x})")]
    NotAStampLog { path: PathBuf, application_id: i32 },
    #[error("`{path}` has schema version {found}; this stamp reads version {SCHEMA_VERSION}")]
    SchemaVersion { path: PathBuf, found: i32 },
    #[error("`{path}` has a damaged schema: table `{table}` is missing or has other columns")]
    Schema {
        path: PathBuf,
        table: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("`{path}` has no origin recorded")]
    MissingOrigin { path: PathBuf },
    #[error("`{path}` is in journal mode `{mode}`, not `wal`")]
    JournalMode { path: PathBuf, mode: String },
    #[error("{operation} while opening `{path}`")]
    Sql {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// Why one event could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadEventError {
    #[error(transparent)]
    Read(#[from] ReadLogError),
    #[error("entry {index} is not a valid event")]
    Parse {
        index: u64,
        #[source]
        source: ParseEventError,
    },
}

/// A stamp log in one SQLite file.
#[derive(Debug)]
pub struct SqliteLog {
    connection: Connection,
    path: PathBuf,
    origin: String,
}

fn is_corruption(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}

fn configure(connection: &Connection) -> Result<String, rusqlite::Error> {
    connection.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    let mode: String = connection.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    connection.execute_batch("PRAGMA synchronous=FULL")?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(mode)
}

impl SqliteLog {
    /// Create a new log file at `path` with this `origin`, holding no entries and one signed
    /// checkpoint of the empty tree. Refuses an existing path.
    pub fn create(
        path: &Path,
        origin: &str,
        signer: &NoteSigner,
    ) -> Result<SqliteLog, CreateLogError> {
        if path.exists() {
            return Err(CreateLogError::Exists {
                path: path.to_path_buf(),
            });
        }
        let sql = |operation| {
            let path = path.to_path_buf();
            move |source| CreateLogError::Sql {
                operation,
                path,
                source,
            }
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection =
            Connection::open_with_flags(path, flags).map_err(sql("creating the database"))?;
        configure(&connection).map_err(sql("configuring the database"))?;
        let empty = Checkpoint {
            origin: origin.to_string(),
            size: 0,
            root: empty_tree_hash(),
            extensions: Vec::new(),
        };
        let note = empty.sign(signer).map_err(|source| CreateLogError::Sign {
            path: path.to_path_buf(),
            source,
        })?;
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql("beginning the schema transaction"))?;
        transaction
            .execute_batch(LOG_SCHEMA)
            .map_err(sql("creating the log tables"))?;
        transaction
            .execute_batch(projection::SCHEMA)
            .map_err(sql("creating the projection tables"))?;
        transaction
            .execute(
                "INSERT INTO meta (key, value) VALUES ('origin', ?1)",
                [origin],
            )
            .map_err(sql("recording the origin"))?;
        transaction
            .execute(
                "INSERT INTO checkpoints (size, note) VALUES (0, ?1)",
                [&note],
            )
            .map_err(sql("storing the first checkpoint"))?;
        transaction
            .execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
            ))
            .map_err(sql("marking the database"))?;
        transaction.commit().map_err(sql("committing the schema"))?;
        Ok(SqliteLog {
            connection,
            path: path.to_path_buf(),
            origin: origin.to_string(),
        })
    }

    /// Open an existing log, checking that it is a stamp database of this schema version.
    pub fn open(path: &Path) -> Result<SqliteLog, OpenLogError> {
        if !path.is_file() {
            return Err(OpenLogError::NotFound {
                path: path.to_path_buf(),
            });
        }
        let classify = |operation: &'static str| {
            let path = path.to_path_buf();
            move |source: rusqlite::Error| {
                if is_corruption(&source) {
                    OpenLogError::Corrupt { path, source }
                } else {
                    OpenLogError::Sql {
                        operation,
                        path,
                        source,
                    }
                }
            }
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection =
            Connection::open_with_flags(path, flags).map_err(classify("opening the database"))?;
        let mode = configure(&connection).map_err(classify("configuring the database"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(OpenLogError::JournalMode {
                path: path.to_path_buf(),
                mode,
            });
        }
        let application_id: i32 = connection
            .query_row("PRAGMA application_id", [], |row| row.get(0))
            .map_err(classify("reading the application id"))?;
        if application_id != APPLICATION_ID {
            return Err(OpenLogError::NotAStampLog {
                path: path.to_path_buf(),
                application_id,
            });
        }
        let found: i32 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(classify("reading the schema version"))?;
        if found != SCHEMA_VERSION {
            return Err(OpenLogError::SchemaVersion {
                path: path.to_path_buf(),
                found,
            });
        }
        for (table, probe) in SCHEMA_PROBES.iter().chain(projection::SCHEMA_PROBES.iter()) {
            connection
                .prepare(probe)
                .map_err(|source| OpenLogError::Schema {
                    path: path.to_path_buf(),
                    table,
                    source,
                })?;
        }
        let origin: Option<String> = connection
            .query_row("SELECT value FROM meta WHERE key = 'origin'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(classify("reading the origin"))?;
        let origin = origin.ok_or_else(|| OpenLogError::MissingOrigin {
            path: path.to_path_buf(),
        })?;
        Ok(SqliteLog {
            connection,
            path: path.to_path_buf(),
            origin,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for read-only queries of projection tables. Writes must go through
    /// [`SqliteLog::append_with`] so that they are logged.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The event at `index`, parsed.
    pub fn read_event(&self, index: u64) -> Result<Event, ReadEventError> {
        let entry = self.read_entry(index)?;
        Event::from_canonical_bytes(&entry.bytes)
            .map_err(|source| ReadEventError::Parse { index, source })
    }

    /// The newest signed checkpoint note, as text.
    pub fn latest_checkpoint_note(&self) -> Result<Option<String>, ReadLogError> {
        Ok(self
            .latest_checkpoint()?
            .map(|checkpoint| String::from_utf8_lossy(&checkpoint.note).into_owned()))
    }

    /// Verify the whole log against `verifier` in one read snapshot (see [`crate::verify()`]).
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<VerifyReport, VerifyError> {
        self.verify_with_threads(verifier, verify::default_verify_threads())
    }

    /// [`SqliteLog::verify`] with checkpoint signatures checked on up to `threads` threads
    /// (see [`crate::verify::verify_with_threads`]); the report does not depend on `threads`.
    pub fn verify_with_threads(
        &self,
        verifier: &NoteVerifier,
        threads: std::num::NonZeroUsize,
    ) -> Result<VerifyReport, VerifyError> {
        self.connection
            .execute_batch("BEGIN DEFERRED")
            .map_err(|source| self.storage_error("beginning the verify snapshot", source))?;
        let report = verify::verify_with_threads(self, verifier, threads);
        // A read-only snapshot: ending it cannot lose anything.
        let _ = self.connection.execute_batch("ROLLBACK");
        report
    }

    /// Drop the projection tables and rebuild them from the log alone.
    pub fn replay_projections(&mut self) -> Result<u64, ReplayError> {
        projection::replay(&mut self.connection, &self.path)
    }

    /// All projection rows, in primary-key order.
    pub fn projection_state(&self) -> Result<ProjectionState, ReadLogError> {
        projection::dump(&self.connection)
            .map_err(|source| self.storage_error("reading projections", source))
    }

    fn storage_error(&self, operation: &'static str, source: rusqlite::Error) -> ReadLogError {
        if is_corruption(&source) {
            return ReadLogError::Corrupt {
                path: self.path.clone(),
                table: "database",
                index: 0,
                reason: "sqlite reports the file is corrupt",
            };
        }
        ReadLogError::Storage {
            operation,
            path: self.path.clone(),
            source: Box::new(source),
        }
    }

    fn corrupt(&self, table: &'static str, index: u64, reason: &'static str) -> ReadLogError {
        ReadLogError::Corrupt {
            path: self.path.clone(),
            table,
            index,
            reason,
        }
    }
}

/// SQLite integers are signed; indexes past i64::MAX are clamped (nothing is stored there).
fn sql_index(index: u64) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

fn raw_bytes(value: ValueRef<'_>) -> Option<Vec<u8>> {
    match value {
        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Some(bytes.to_vec()),
        _ => None,
    }
}

impl LogStore for SqliteLog {
    fn origin(&self) -> &str {
        &self.origin
    }

    fn size(&self) -> Result<u64, ReadLogError> {
        let size: i64 = self
            .connection
            .prepare_cached("SELECT COALESCE(MAX(idx) + 1, 0) FROM entries")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(|source| self.storage_error("reading the log size", source))?;
        u64::try_from(size).map_err(|_| self.corrupt("entries", 0, "negative index"))
    }

    fn read_entries(&self, start: u64, limit: usize) -> Result<Vec<StoredEntry>, ReadLogError> {
        let error = |source| self.storage_error("reading entries", source);
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT idx, bytes, leaf_hash FROM entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
            )
            .map_err(error)?;
        let mut rows = statement
            .query(params![
                sql_index(start),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ])
            .map_err(error)?;
        let mut entries = Vec::with_capacity(limit.min(4096));
        while let Some(row) = rows.next().map_err(error)? {
            let index: i64 = row.get(0).map_err(error)?;
            let index =
                u64::try_from(index).map_err(|_| self.corrupt("entries", 0, "negative index"))?;
            let bytes = row.get_ref(1).ok().and_then(raw_bytes);
            let leaf_hash = row.get_ref(2).ok().and_then(raw_bytes);
            let (Some(bytes), Some(leaf_hash)) = (bytes, leaf_hash) else {
                return Err(self.corrupt("entries", index, "bytes or leaf hash is not a blob"));
            };
            entries.push(StoredEntry {
                index,
                bytes,
                leaf_hash,
            });
        }
        Ok(entries)
    }

    fn read_hashes(&self, stored_indexes: &[u64]) -> Result<Vec<Hash>, ReadLogError> {
        let error = |source| self.storage_error("reading stored hashes", source);
        let mut statement = self
            .connection
            .prepare_cached("SELECT hash FROM hashes WHERE stored_index = ?1")
            .map_err(error)?;
        let mut hashes = Vec::with_capacity(stored_indexes.len());
        for &stored_index in stored_indexes {
            let bytes = statement
                .query_row([sql_index(stored_index)], |row| {
                    Ok(row.get_ref(0).ok().and_then(raw_bytes))
                })
                .optional()
                .map_err(error)?
                .ok_or(ReadLogError::HashNotFound { stored_index })?;
            let hash = bytes
                .as_deref()
                .and_then(Hash::from_slice)
                .ok_or_else(|| self.corrupt("hashes", stored_index, "hash is not 32 bytes"))?;
            hashes.push(hash);
        }
        Ok(hashes)
    }

    fn read_hash_range(&self, start: u64, limit: usize) -> Result<Vec<StoredHash>, ReadLogError> {
        let error = |source| self.storage_error("reading stored hashes", source);
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT stored_index, hash FROM hashes WHERE stored_index >= ?1 ORDER BY stored_index LIMIT ?2",
            )
            .map_err(error)?;
        let mut rows = statement
            .query(params![
                sql_index(start),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ])
            .map_err(error)?;
        let mut hashes = Vec::with_capacity(limit.min(8192));
        while let Some(row) = rows.next().map_err(error)? {
            let stored_index: i64 = row.get(0).map_err(error)?;
            let stored_index = u64::try_from(stored_index)
                .map_err(|_| self.corrupt("hashes", 0, "negative index"))?;
            let hash = row
                .get_ref(1)
                .ok()
                .and_then(raw_bytes)
                .ok_or_else(|| self.corrupt("hashes", stored_index, "hash is not a blob"))?;
            hashes.push(StoredHash { stored_index, hash });
        }
        Ok(hashes)
    }

    fn read_checkpoints(
        &self,
        from_size: u64,
        limit: usize,
    ) -> Result<Vec<StoredCheckpoint>, ReadLogError> {
        let error = |source| self.storage_error("reading checkpoints", source);
        let mut statement = self
            .connection
            .prepare_cached(
                "SELECT size, note FROM checkpoints WHERE size >= ?1 ORDER BY size LIMIT ?2",
            )
            .map_err(error)?;
        let mut rows = statement
            .query(params![
                sql_index(from_size),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ])
            .map_err(error)?;
        let mut checkpoints = Vec::new();
        while let Some(row) = rows.next().map_err(error)? {
            checkpoints.push(self.checkpoint_row(row)?);
        }
        Ok(checkpoints)
    }

    fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, ReadLogError> {
        let error = |source| self.storage_error("reading the latest checkpoint", source);
        let mut statement = self
            .connection
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1")
            .map_err(error)?;
        let mut rows = statement.query([]).map_err(error)?;
        match rows.next().map_err(error)? {
            Some(row) => Ok(Some(self.checkpoint_row(row)?)),
            None => Ok(None),
        }
    }

    fn append(
        &mut self,
        signer: &NoteSigner,
        events: &[Event],
    ) -> Result<AppendReceipt, AppendError> {
        self.append_with(signer, events, |_, _, _| Ok(()))
    }
}

impl SqliteLog {
    fn checkpoint_row(&self, row: &rusqlite::Row<'_>) -> Result<StoredCheckpoint, ReadLogError> {
        let size: i64 = row
            .get(0)
            .map_err(|source| self.storage_error("reading checkpoints", source))?;
        let size =
            u64::try_from(size).map_err(|_| self.corrupt("checkpoints", 0, "negative size"))?;
        let note = row
            .get_ref(1)
            .ok()
            .and_then(raw_bytes)
            .ok_or_else(|| self.corrupt("checkpoints", size, "note is not text"))?;
        Ok(StoredCheckpoint { size, note })
    }
}
