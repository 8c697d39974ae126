//! The vulnerability database: one SQLite file (`.stamp/vulndb.db`) holding an imported set of
//! OSV records, replaced whole by each import (written beside it, then renamed over it), so a
//! reader always sees one complete snapshot.
//!
//! Tables: `meta` (key/value: schema version, digest, snapshot time, import time, counts,
//! sources), `advisory` (one row per record id: dates, aliases, severity, digest of the
//! record's bytes) and `affected` (one row per `affected[]` entry, keyed by ecosystem base
//! and normalized package name; the entry itself kept as JSON).

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::record::{Affected, Severity};

/// Version of the table layout; a database of another version must be imported again.
pub const SCHEMA_VERSION: &str = "1";

pub(crate) const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE advisory (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    published TEXT,
    withdrawn TEXT,
    summary TEXT,
    aliases TEXT NOT NULL,
    upstream TEXT NOT NULL,
    severity TEXT NOT NULL,
    database_severity TEXT,
    url TEXT,
    sha256 TEXT NOT NULL
);
CREATE TABLE affected (
    advisory_id TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    release TEXT NOT NULL,
    name TEXT NOT NULL,
    entry TEXT NOT NULL
);
";

pub(crate) const INDEXES: &str = "
CREATE INDEX affected_package ON affected (ecosystem, name);
CREATE INDEX affected_advisory ON affected (advisory_id);
";

/// What `meta` says about the imported set.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DbMeta {
    /// `sha256:` of the imported set (see `docs/vulnerabilities.md`).
    pub digest: String,
    /// The newest `modified` time of any record (or the time given at import), RFC 3339.
    pub snapshot_time: String,
    /// When the import ran, RFC 3339.
    pub imported_at: String,
    pub records: u64,
    pub withdrawn: u64,
    pub affected_entries: u64,
    /// The paths imported, as given.
    pub sources: Vec<String>,
}

/// One advisory row.
#[derive(Clone, Debug, PartialEq)]
pub struct AdvisoryRow {
    pub id: String,
    pub modified: String,
    pub published: Option<String>,
    pub withdrawn: Option<String>,
    pub summary: Option<String>,
    pub aliases: Vec<String>,
    pub upstream: Vec<String>,
    pub severity: Vec<Severity>,
    pub database_severity: Option<String>,
    pub url: Option<String>,
}

/// One affected entry that names the package looked up, with its advisory.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub advisory: AdvisoryRow,
    /// Release suffix of the entry's ecosystem (`12` for `Debian:12`), empty for none.
    pub release: String,
    pub entry: Affected,
}

/// Why the database could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum OpenDbError {
    #[error("no vulnerability database at `{}`", .0.display())]
    NotFound(PathBuf),
    #[error("opening the vulnerability database `{}`", .path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the vulnerability database `{}` has schema version {found}, this stamp reads {SCHEMA_VERSION}", .path.display())]
    Schema { path: PathBuf, found: String },
    #[error("the vulnerability database `{}` has no `{key}` entry", .path.display())]
    MissingMeta { path: PathBuf, key: &'static str },
}

#[derive(Debug, thiserror::Error)]
pub enum QueryDbError {
    #[error("reading the vulnerability database")]
    Sqlite(#[from] rusqlite::Error),
    #[error("advisory `{id}` holds malformed stored JSON")]
    Json {
        id: String,
        #[source]
        source: serde_json::Error,
    },
}

/// An open, read-only vulnerability database.
pub struct VulnDb {
    connection: Connection,
    pub meta: DbMeta,
    pub path: PathBuf,
}

impl VulnDb {
    pub fn open(path: &Path) -> Result<VulnDb, OpenDbError> {
        if !path.is_file() {
            return Err(OpenDbError::NotFound(path.to_path_buf()));
        }
        let sqlite = |source| OpenDbError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        let get = |key: &'static str| -> Result<String, OpenDbError> {
            connection
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                    row.get::<_, String>(0)
                })
                .optional()
                .map_err(sqlite)?
                .ok_or(OpenDbError::MissingMeta {
                    path: path.to_path_buf(),
                    key,
                })
        };
        let version = get("schema_version")?;
        if version != SCHEMA_VERSION {
            return Err(OpenDbError::Schema {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let number = |key| get(key).map(|value| value.parse::<u64>().unwrap_or(0));
        let meta = DbMeta {
            digest: get("digest")?,
            snapshot_time: get("snapshot_time")?,
            imported_at: get("imported_at")?,
            records: number("records")?,
            withdrawn: number("withdrawn")?,
            affected_entries: number("affected_entries")?,
            sources: serde_json::from_str(&get("sources")?).unwrap_or_default(),
        };
        Ok(VulnDb {
            connection,
            meta,
            path: path.to_path_buf(),
        })
    }

    /// Affected entries of non-withdrawn advisories for package `name` (already normalized)
    /// in ecosystem `base`, any release.
    pub fn candidates(&self, base: &str, name: &str) -> Result<Vec<Candidate>, QueryDbError> {
        let mut statement = self.connection.prepare_cached(
            "SELECT a.id, a.modified, a.published, a.withdrawn, a.summary, a.aliases, a.upstream,
                    a.severity, a.database_severity, a.url, f.release, f.entry
             FROM affected f JOIN advisory a ON a.id = f.advisory_id
             WHERE f.ecosystem = ?1 AND f.name = ?2 AND a.withdrawn IS NULL
             ORDER BY a.id",
        )?;
        let rows = statement.query_map(params![base, name], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, Option<String>>(8)?,
                row.get::<_, Option<String>>(9)?,
                row.get::<_, String>(10)?,
                row.get::<_, String>(11)?,
            ))
        })?;
        let mut candidates = Vec::new();
        for row in rows {
            let (
                id,
                modified,
                published,
                withdrawn,
                summary,
                aliases,
                upstream,
                severity,
                database_severity,
                url,
                release,
                entry,
            ) = row?;
            let json = |source| QueryDbError::Json {
                id: id.clone(),
                source,
            };
            let advisory = AdvisoryRow {
                aliases: serde_json::from_str(&aliases).map_err(json)?,
                upstream: serde_json::from_str(&upstream).map_err(json)?,
                severity: serde_json::from_str(&severity).map_err(json)?,
                id: id.clone(),
                modified,
                published,
                withdrawn,
                summary,
                database_severity,
                url,
            };
            let entry = serde_json::from_str(&entry).map_err(json)?;
            candidates.push(Candidate {
                advisory,
                release,
                entry,
            });
        }
        Ok(candidates)
    }

    /// Ids of withdrawn advisories (for reports that explain why one was not matched).
    pub fn is_withdrawn(&self, id: &str) -> Result<bool, QueryDbError> {
        Ok(self
            .connection
            .query_row(
                "SELECT withdrawn IS NOT NULL FROM advisory WHERE id = ?1",
                [id],
                |row| row.get::<_, bool>(0),
            )
            .optional()?
            .unwrap_or(false))
    }

    /// Number of advisories per ecosystem base (not counting withdrawn ones).
    pub fn ecosystems(&self) -> Result<Vec<(String, u64)>, QueryDbError> {
        let mut statement = self.connection.prepare(
            "SELECT f.ecosystem, count(DISTINCT f.advisory_id) FROM affected f
             JOIN advisory a ON a.id = f.advisory_id WHERE a.withdrawn IS NULL
             GROUP BY f.ecosystem ORDER BY f.ecosystem",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
