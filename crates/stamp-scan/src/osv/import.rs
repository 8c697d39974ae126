//! `stamp db import`: read OSV records from directory trees, single `.json` files or osv.dev's
//! per-ecosystem `all.zip`, and write a new vulnerability database.
//!
//! Every record is read through [`crate::json::parse_bounded`]; a file that is not an OSV
//! record (wrong shape, over a limit) is skipped and reported, and the import goes on. Two
//! records with one id keep the one modified last. Withdrawn records are kept (so the digest
//! covers them) and never matched.
//!
//! The database digest is `sha256:` of the lines `ID<TAB>SHA256-OF-THE-RECORD-FILE<LF>`, one
//! per kept record, sorted by id: it depends only on the set of records, not on file names,
//! directory order or zip versus directory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest as _, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::db::{DbMeta, INDEXES, SCHEMA, SCHEMA_VERSION};
use super::ecosystem;
use super::record::Record;
use crate::json::{parse_bounded, JsonInputError};

/// Largest OSV record file accepted (the largest osv.dev records, kernel advisories with
/// hundreds of CVEs, are a few hundred KiB).
pub const OSV_RECORD_BYTES_MAX: usize = 16 << 20;
/// Most records in one import (all of osv.dev is under a million).
pub const OSV_RECORDS_MAX: u64 = 4_000_000;
/// Most `affected[]` entries in one record.
pub const OSV_AFFECTED_PER_RECORD_MAX: usize = 20_000;
/// Most entries in one zip archive.
pub const ZIP_ENTRIES_MAX: usize = 4_000_000;
/// Most uncompressed bytes read from one zip archive.
pub const ZIP_UNCOMPRESSED_BYTES_MAX: u64 = 32 << 30;
/// Deepest directory level walked below an import path.
pub const IMPORT_DIRECTORY_DEPTH_MAX: usize = 32;

/// A file that was not imported, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// What an import did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImportReport {
    pub meta: DbMeta,
    /// Records per ecosystem base, withdrawn ones left out (a record naming two ecosystems
    /// counts in both).
    pub ecosystems: BTreeMap<String, u64>,
    /// Records replaced by a later-modified record with the same id.
    pub duplicates: u64,
    pub skipped: Vec<SkippedFile>,
}

/// Why an import failed as a whole (the old database, if any, is untouched).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading `{}`", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{}` is not a zip archive stamp can read", .path.display())]
    Zip {
        path: PathBuf,
        #[source]
        source: zip::result::ZipError,
    },
    #[error("`{}` has {entries} entries, over the limit of {limit}", .path.display())]
    ZipTooManyEntries {
        path: PathBuf,
        entries: usize,
        limit: usize,
    },
    #[error("`{}` expands past {limit} bytes", .path.display())]
    ZipTooLarge { path: PathBuf, limit: u64 },
    #[error("more than {limit} records")]
    TooManyRecords { limit: u64 },
    #[error("no OSV records found in {0:?}")]
    Empty(Vec<PathBuf>),
    #[error("writing the vulnerability database `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("replacing `{}`", .path.display())]
    Replace {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Limits of one import (the defaults are the constants above; tests lower them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportLimits {
    pub record_bytes_max: usize,
    pub records_max: u64,
    pub affected_per_record_max: usize,
    pub zip_entries_max: usize,
    pub zip_uncompressed_bytes_max: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        ImportLimits {
            record_bytes_max: OSV_RECORD_BYTES_MAX,
            records_max: OSV_RECORDS_MAX,
            affected_per_record_max: OSV_AFFECTED_PER_RECORD_MAX,
            zip_entries_max: ZIP_ENTRIES_MAX,
            zip_uncompressed_bytes_max: ZIP_UNCOMPRESSED_BYTES_MAX,
        }
    }
}

/// Options of one import.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    pub limits: ImportLimits,
    /// The snapshot time to record; default: the newest `modified` of any record.
    pub snapshot_time: Option<OffsetDateTime>,
    /// The import time to record; default: now.
    pub imported_at: Option<OffsetDateTime>,
}

/// RFC 3339 with whole seconds in UTC (`2024-01-31T12:00:00Z`).
pub fn format_time(time: OffsetDateTime) -> String {
    let time = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        time.year(),
        time.month() as u8,
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    )
}

/// Parse an OSV timestamp (RFC 3339, any fraction and offset).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

struct Writer {
    limits: ImportLimits,
    connection: Connection,
    path: PathBuf,
    records: u64,
    duplicates: u64,
    newest_modified: Option<OffsetDateTime>,
    skipped: Vec<SkippedFile>,
}

impl Writer {
    fn sqlite(&self, source: rusqlite::Error) -> ImportError {
        ImportError::Write {
            path: self.path.clone(),
            source,
        }
    }

    fn skip(&mut self, path: String, reason: String) {
        self.skipped.push(SkippedFile { path, reason });
    }

    /// Parse and store one file's bytes.
    fn add(&mut self, path: String, bytes: &[u8]) -> Result<(), ImportError> {
        let record: Record = match parse_bounded(bytes, self.limits.record_bytes_max) {
            Ok(record) => record,
            Err(JsonInputError::Syntax(error)) => {
                self.skip(path, format!("not an OSV record: {error}"));
                return Ok(());
            }
            Err(error) => {
                self.skip(path, error.to_string());
                return Ok(());
            }
        };
        if record.id.trim().is_empty() {
            self.skip(path, "empty `id`".into());
            return Ok(());
        }
        if record.affected.len() > self.limits.affected_per_record_max {
            self.skip(
                path,
                format!(
                    "{} affected entries, over the limit of {}",
                    record.affected.len(),
                    self.limits.affected_per_record_max
                ),
            );
            return Ok(());
        }
        let Some(modified) = parse_time(&record.modified) else {
            self.skip(
                path,
                format!("`modified` {:?} is not RFC 3339", record.modified),
            );
            return Ok(());
        };
        let existing: Option<String> = self
            .connection
            .query_row(
                "SELECT modified FROM advisory WHERE id = ?1",
                [&record.id],
                |row| row.get(0),
            )
            .optional()
            .map_err(|error| self.sqlite(error))?;
        if let Some(existing) = existing {
            self.duplicates += 1;
            if existing.as_str() >= format_time(modified).as_str() {
                return Ok(());
            }
            self.connection
                .execute("DELETE FROM affected WHERE advisory_id = ?1", [&record.id])
                .and_then(|_| {
                    self.connection
                        .execute("DELETE FROM advisory WHERE id = ?1", [&record.id])
                })
                .map_err(|error| self.sqlite(error))?;
        } else {
            self.records += 1;
            if self.records > self.limits.records_max {
                return Err(ImportError::TooManyRecords {
                    limit: self.limits.records_max,
                });
            }
        }
        self.newest_modified = self.newest_modified.max(Some(modified));
        let sha256 = hex::encode(Sha256::digest(bytes));
        let normalize = |text: &Option<String>| {
            text.as_deref().map(|text| {
                parse_time(text)
                    .map(format_time)
                    .unwrap_or(text.to_string())
            })
        };
        self.connection
            .execute(
                "INSERT INTO advisory (id, modified, published, withdrawn, summary, aliases,
                 upstream, severity, database_severity, url, sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    record.id,
                    format_time(modified),
                    normalize(&record.published),
                    normalize(&record.withdrawn),
                    record.summary,
                    to_json(&record.aliases),
                    to_json(&record.upstream),
                    to_json(&record.severity),
                    record.database_severity(),
                    record.advisory_url(),
                    sha256,
                ],
            )
            .map_err(|error| self.sqlite(error))?;
        let mut insert = self
            .connection
            .prepare_cached(
                "INSERT INTO affected (advisory_id, ecosystem, release, name, entry)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(|error| ImportError::Write {
                path: self.path.clone(),
                source: error,
            })?;
        for affected in &record.affected {
            let Some(package) = &affected.package else {
                continue;
            };
            let (base, release) = ecosystem::split(&package.ecosystem);
            let name = ecosystem::normalize_name(base, &package.name);
            let entry = serde_json::to_string(affected).expect("serializable");
            insert
                .execute(params![record.id, base, release, name, entry])
                .map_err(|error| ImportError::Write {
                    path: self.path.clone(),
                    source: error,
                })?;
        }
        Ok(())
    }
}

/// A small value as JSON text for a column.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

/// Import `sources` into a new database at `database` (replacing any existing one only when
/// the import succeeds).
pub fn import(
    sources: &[PathBuf],
    database: &Path,
    options: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let directory = database
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(directory).map_err(|source| ImportError::Read {
        path: directory.to_path_buf(),
        source,
    })?;
    let temporary = tempfile::Builder::new()
        .prefix(".vulndb-import-")
        .suffix(".db")
        .tempfile_in(directory)
        .map_err(|source| ImportError::Read {
            path: directory.to_path_buf(),
            source,
        })?;
    let temporary_path = temporary.path().to_path_buf();
    let write_error = |source| ImportError::Write {
        path: temporary_path.clone(),
        source,
    };
    let connection = Connection::open(&temporary_path).map_err(write_error)?;
    connection
        .execute_batch(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = MEMORY;",
        )
        .map_err(write_error)?;
    connection.execute_batch(SCHEMA).map_err(write_error)?;
    connection.execute_batch("BEGIN").map_err(write_error)?;
    let mut writer = Writer {
        limits: options.limits,
        connection,
        path: temporary_path.clone(),
        records: 0,
        duplicates: 0,
        newest_modified: None,
        skipped: Vec::new(),
    };
    for source in sources {
        read_source(source, &mut writer)?;
    }
    if writer.records == 0 {
        return Err(ImportError::Empty(sources.to_vec()));
    }
    let connection = &writer.connection;
    connection.execute_batch(INDEXES).map_err(write_error)?;
    // The digest of the set.
    let mut hasher = Sha256::new();
    {
        let mut statement = connection
            .prepare("SELECT id, sha256 FROM advisory ORDER BY id")
            .map_err(write_error)?;
        let mut rows = statement.query([]).map_err(write_error)?;
        while let Some(row) = rows.next().map_err(write_error)? {
            let id: String = row.get(0).map_err(write_error)?;
            let sha256: String = row.get(1).map_err(write_error)?;
            hasher.update(id.as_bytes());
            hasher.update(b"\t");
            hasher.update(sha256.as_bytes());
            hasher.update(b"\n");
        }
    }
    let count = |sql: &str| -> Result<u64, ImportError> {
        connection
            .query_row(sql, [], |row| row.get::<_, i64>(0))
            .map(|value| value as u64)
            .map_err(write_error)
    };
    let mut ecosystems = BTreeMap::new();
    {
        let mut statement = connection
            .prepare(
                "SELECT f.ecosystem, count(DISTINCT f.advisory_id) FROM affected f
                 JOIN advisory a ON a.id = f.advisory_id WHERE a.withdrawn IS NULL
                 GROUP BY f.ecosystem",
            )
            .map_err(write_error)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map_err(write_error)?;
        for row in rows {
            let (name, records) = row.map_err(write_error)?;
            ecosystems.insert(name, records as u64);
        }
    }
    let snapshot = options
        .snapshot_time
        .or(writer.newest_modified)
        .expect("at least one record");
    let meta = DbMeta {
        digest: format!("sha256:{}", hex::encode(hasher.finalize())),
        snapshot_time: format_time(snapshot),
        imported_at: format_time(options.imported_at.unwrap_or_else(OffsetDateTime::now_utc)),
        records: writer.records,
        withdrawn: count("SELECT count(*) FROM advisory WHERE withdrawn IS NOT NULL")?,
        affected_entries: count("SELECT count(*) FROM affected")?,
        sources: sources
            .iter()
            .map(|path| path.display().to_string())
            .collect(),
    };
    for (key, value) in [
        ("schema_version", SCHEMA_VERSION.to_string()),
        ("digest", meta.digest.clone()),
        ("snapshot_time", meta.snapshot_time.clone()),
        ("imported_at", meta.imported_at.clone()),
        ("records", meta.records.to_string()),
        ("withdrawn", meta.withdrawn.to_string()),
        ("affected_entries", meta.affected_entries.to_string()),
        (
            "sources",
            serde_json::to_string(&meta.sources).expect("serializable"),
        ),
    ] {
        connection
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map_err(write_error)?;
    }
    connection.execute_batch("COMMIT").map_err(write_error)?;
    let Writer {
        connection,
        duplicates,
        skipped,
        ..
    } = writer;
    connection
        .close()
        .map_err(|(_, source)| write_error(source))?;
    let replace_error = |source| ImportError::Replace {
        path: database.to_path_buf(),
        source,
    };
    File::open(&temporary_path)
        .and_then(|file| file.sync_all())
        .map_err(replace_error)?;
    temporary
        .persist(database)
        .map_err(|error| replace_error(error.error))?;
    if let Ok(directory) = File::open(directory) {
        let _ = directory.sync_all();
    }
    Ok(ImportReport {
        meta,
        ecosystems,
        duplicates,
        skipped,
    })
}

fn read_source(source: &Path, writer: &mut Writer) -> Result<(), ImportError> {
    let metadata = std::fs::metadata(source).map_err(|error| ImportError::Read {
        path: source.to_path_buf(),
        source: error,
    })?;
    if metadata.is_dir() {
        return walk(source, 0, writer);
    }
    if source
        .extension()
        .is_some_and(|extension| extension == "zip")
    {
        return read_zip(source, writer);
    }
    read_file(source, writer)
}

fn read_file(path: &Path, writer: &mut Writer) -> Result<(), ImportError> {
    let file = File::open(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(writer.limits.record_bytes_max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    writer.add(path.display().to_string(), &bytes)
}

fn walk(directory: &Path, depth: usize, writer: &mut Writer) -> Result<(), ImportError> {
    if depth > IMPORT_DIRECTORY_DEPTH_MAX {
        writer.skip(
            directory.display().to_string(),
            format!("deeper than {IMPORT_DIRECTORY_DEPTH_MAX} levels"),
        );
        return Ok(());
    }
    let read_error = |source| ImportError::Read {
        path: directory.to_path_buf(),
        source,
    };
    let mut entries = std::fs::read_dir(directory)
        .map_err(read_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_error)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        // Symlinks are not followed: a tree is imported as it is.
        let kind = entry.file_type().map_err(read_error)?;
        if kind.is_dir() {
            walk(&path, depth + 1, writer)?;
        } else if kind.is_file() {
            match path.extension().and_then(|extension| extension.to_str()) {
                Some("json") => read_file(&path, writer)?,
                Some("zip") => read_zip(&path, writer)?,
                _ => {}
            }
        }
    }
    Ok(())
}

fn read_zip(path: &Path, writer: &mut Writer) -> Result<(), ImportError> {
    let file = File::open(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let zip_error = |source| ImportError::Zip {
        path: path.to_path_buf(),
        source,
    };
    let mut archive = zip::ZipArchive::new(io::BufReader::new(file)).map_err(zip_error)?;
    let limits = writer.limits;
    if archive.len() > limits.zip_entries_max {
        return Err(ImportError::ZipTooManyEntries {
            path: path.to_path_buf(),
            entries: archive.len(),
            limit: limits.zip_entries_max,
        });
    }
    let mut total: u64 = 0;
    let mut bytes = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(zip_error)?;
        let name = format!("{}!{}", path.display(), entry.name());
        if !entry.is_file() || !entry.name().ends_with(".json") {
            continue;
        }
        bytes.clear();
        let read = (&mut entry)
            .take(limits.record_bytes_max as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        total += read as u64;
        if total > limits.zip_uncompressed_bytes_max {
            return Err(ImportError::ZipTooLarge {
                path: path.to_path_buf(),
                limit: limits.zip_uncompressed_bytes_max,
            });
        }
        writer.add(name, &bytes)?;
    }
    Ok(())
}
