//! Projections: current state (images, environments, instances, approvals, revocations) as a
//! fold over the log, kept in SQLite tables for speed and updated in the append transaction.
//! [`replay`] drops and rebuilds them from the log alone, so they can never be a second source
//! of truth; [`dump`] reads them in a canonical order so a test can compare two states.
//!
//! Only events with outcome `success` change state; failures are logged and folded as no-ops.
//! The fold reads these fields (an event missing a field its kind needs is refused at append):
//!
//! | kind | subject | details | effect |
//! |---|---|---|---|
//! | `build` | image digest | `image` {`name`, `digest`} | image row (first build wins for name/builder) |
//! | `gate` | image digest | `verdict`: `pass` \| `fail` | image gate verdict and index |
//! | `approve` | image digest | `env` | approval row (digest, env, approver = actor) |
//! | `deploy`, `rollback` | image digest | `env`, optional `instances`: [id…] | environment points at digest (previous kept); listed instances running |
//! | `instance.start` | instance id | `env`, `image` (digest) | instance running |
//! | `instance.stop` | instance id | — | instance stopped |
//! | `drift` | instance id | `drifted`: bool | instance drifted when true |
//! | `drift` | checked directory | `path` (no instance) | none (a `--path` check is recorded only) |
//! | `revoke` | image digest | optional `reason` | revocation row (first revocation kept) |
//!
//! Every other kind (`promote`, `exception`, `key.*`, `policy.change`, `log.*`,
//! `evidence.export`, `control.failure`, `rescan`) is recorded in the log only.

use std::path::Path;

use rusqlite::{params, Connection, TransactionBehavior};
use serde::Serialize;
use serde_json::Value;
use stamp_core::{Digest, Event, EventKind, Outcome, ParseEventError};

/// Rows read per query while replaying.
const REPLAY_CHUNK_ENTRIES: i64 = 4096;

/// The projection tables (created with the log, re-created by [`replay`]).
pub const SCHEMA: &str = "
CREATE TABLE images (digest TEXT PRIMARY KEY, name TEXT, built_index INTEGER, builder TEXT,
    gate_verdict TEXT, gate_index INTEGER) STRICT;
CREATE TABLE environments (name TEXT PRIMARY KEY, digest TEXT NOT NULL, previous_digest TEXT,
    updated_index INTEGER NOT NULL) STRICT;
CREATE TABLE instances (id TEXT PRIMARY KEY, env TEXT, digest TEXT, state TEXT NOT NULL,
    updated_index INTEGER NOT NULL) STRICT;
CREATE TABLE approvals (digest TEXT NOT NULL, env TEXT NOT NULL, approver TEXT NOT NULL,
    approved_index INTEGER NOT NULL, PRIMARY KEY (digest, env, approver)) STRICT;
CREATE TABLE revocations (digest TEXT PRIMARY KEY, revoker TEXT NOT NULL, reason TEXT,
    revoked_index INTEGER NOT NULL) STRICT;
";

const DROP: &str = "
DROP TABLE IF EXISTS images; DROP TABLE IF EXISTS environments; DROP TABLE IF EXISTS instances;
DROP TABLE IF EXISTS approvals; DROP TABLE IF EXISTS revocations;
";

/// Statements that must prepare on a database of this schema (checked on open).
pub(crate) const SCHEMA_PROBES: [(&str, &str); 5] = [
    (
        "images",
        "SELECT digest, name, built_index, builder, gate_verdict, gate_index FROM images LIMIT 0",
    ),
    (
        "environments",
        "SELECT name, digest, previous_digest, updated_index FROM environments LIMIT 0",
    ),
    (
        "instances",
        "SELECT id, env, digest, state, updated_index FROM instances LIMIT 0",
    ),
    (
        "approvals",
        "SELECT digest, env, approver, approved_index FROM approvals LIMIT 0",
    ),
    (
        "revocations",
        "SELECT digest, revoker, reason, revoked_index FROM revocations LIMIT 0",
    ),
];

/// Why an event could not be folded into the projections.
#[derive(Debug, thiserror::Error)]
pub enum ApplyEventError {
    #[error("`{kind}` event needs details field `{field}`")]
    MissingDetail {
        kind: EventKind,
        field: &'static str,
    },
    #[error("`{kind}` event field `{field}` has the wrong type or value")]
    InvalidDetail {
        kind: EventKind,
        field: &'static str,
    },
    #[error("updating projection tables")]
    Sql(#[from] rusqlite::Error),
}

/// Why the projections could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("entry {index} is missing from `{path}`")]
    Gap {
        path: std::path::PathBuf,
        index: u64,
    },
    #[error("entry {index} of `{path}` is not a valid event")]
    Parse {
        path: std::path::PathBuf,
        index: u64,
        #[source]
        source: ParseEventError,
    },
    #[error("folding entry {index} of `{path}`")]
    Apply {
        path: std::path::PathBuf,
        index: u64,
        #[source]
        source: ApplyEventError,
    },
    #[error("{operation} in `{path}`")]
    Sql {
        operation: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

fn detail<'a>(event: &'a Event, field: &'static str) -> Result<&'a Value, ApplyEventError> {
    event
        .details()
        .get(field)
        .ok_or(ApplyEventError::MissingDetail {
            kind: event.kind(),
            field,
        })
}

fn text<'a>(
    event: &Event,
    value: &'a Value,
    field: &'static str,
) -> Result<&'a str, ApplyEventError> {
    match value.as_str() {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(ApplyEventError::InvalidDetail {
            kind: event.kind(),
            field,
        }),
    }
}

fn digest(event: &Event, value: &str, field: &'static str) -> Result<String, ApplyEventError> {
    value
        .parse::<Digest>()
        .map(|digest| digest.to_string())
        .map_err(|_| ApplyEventError::InvalidDetail {
            kind: event.kind(),
            field,
        })
}

/// Fold one event (at log `index`) into the projection tables.
pub fn apply(connection: &Connection, index: u64, event: &Event) -> Result<(), ApplyEventError> {
    if event.outcome() != Outcome::Success {
        return Ok(());
    }
    let index = i64::try_from(index).unwrap_or(i64::MAX);
    let kind = event.kind();
    match kind {
        EventKind::Build => {
            let image = detail(event, "image")?;
            let name = image.get("name").ok_or(ApplyEventError::MissingDetail {
                kind,
                field: "image.name",
            })?;
            let name = text(event, name, "image.name")?;
            let image_digest = image.get("digest").ok_or(ApplyEventError::MissingDetail {
                kind,
                field: "image.digest",
            })?;
            let image_digest = digest(
                event,
                text(event, image_digest, "image.digest")?,
                "image.digest",
            )?;
            connection
                .prepare_cached(
                    "INSERT INTO images (digest, name, built_index, builder) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (digest) DO UPDATE SET name = COALESCE(name, excluded.name),
                     built_index = COALESCE(built_index, excluded.built_index),
                     builder = COALESCE(builder, excluded.builder)",
                )?
                .execute(params![image_digest, name, index, event.actor()])?;
        }
        EventKind::Gate => {
            let image_digest = digest(event, event.subject(), "subject")?;
            let verdict = text(event, detail(event, "verdict")?, "verdict")?;
            if verdict != "pass" && verdict != "fail" {
                return Err(ApplyEventError::InvalidDetail {
                    kind,
                    field: "verdict",
                });
            }
            connection
                .prepare_cached(
                    "INSERT INTO images (digest, gate_verdict, gate_index) VALUES (?1, ?2, ?3)
                     ON CONFLICT (digest) DO UPDATE SET gate_verdict = excluded.gate_verdict,
                     gate_index = excluded.gate_index",
                )?
                .execute(params![image_digest, verdict, index])?;
        }
        EventKind::Approve => {
            let image_digest = digest(event, event.subject(), "subject")?;
            let env = text(event, detail(event, "env")?, "env")?;
            connection
                .prepare_cached(
                    "INSERT OR IGNORE INTO approvals (digest, env, approver, approved_index)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![image_digest, env, event.actor(), index])?;
        }
        EventKind::Deploy | EventKind::Rollback => {
            let image_digest = digest(event, event.subject(), "subject")?;
            let env = text(event, detail(event, "env")?, "env")?;
            let instances: Vec<&str> = match event.details().get("instances") {
                None => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| text(event, item, "instances"))
                    .collect::<Result<_, _>>()?,
                Some(_) => {
                    return Err(ApplyEventError::InvalidDetail {
                        kind,
                        field: "instances",
                    })
                }
            };
            connection
                .prepare_cached(
                    "INSERT INTO environments (name, digest, previous_digest, updated_index)
                     VALUES (?1, ?2, NULL, ?3)
                     ON CONFLICT (name) DO UPDATE SET
                     previous_digest = CASE WHEN digest = excluded.digest THEN previous_digest ELSE digest END,
                     digest = excluded.digest, updated_index = excluded.updated_index",
                )?
                .execute(params![env, image_digest, index])?;
            for instance in instances {
                upsert_instance(
                    connection,
                    instance,
                    Some(env),
                    Some(&image_digest),
                    "running",
                    index,
                )?;
            }
        }
        EventKind::InstanceStart => {
            let env = text(event, detail(event, "env")?, "env")?;
            let image = text(event, detail(event, "image")?, "image")?;
            let image_digest = digest(event, image, "image")?;
            upsert_instance(
                connection,
                event.subject(),
                Some(env),
                Some(&image_digest),
                "running",
                index,
            )?;
        }
        EventKind::InstanceStop => {
            upsert_instance(connection, event.subject(), None, None, "stopped", index)?;
        }
        // A check of a directory (`details.path`) is about no instance: recorded only.
        EventKind::Drift if event.details().contains_key("path") => {}
        EventKind::Drift => {
            let drifted =
                detail(event, "drifted")?
                    .as_bool()
                    .ok_or(ApplyEventError::InvalidDetail {
                        kind,
                        field: "drifted",
                    })?;
            if drifted {
                upsert_instance(connection, event.subject(), None, None, "drifted", index)?;
            }
        }
        EventKind::Revoke => {
            let image_digest = digest(event, event.subject(), "subject")?;
            let reason = match event.details().get("reason") {
                None => None,
                Some(value) => Some(text(event, value, "reason")?),
            };
            connection
                .prepare_cached(
                    "INSERT OR IGNORE INTO revocations (digest, revoker, reason, revoked_index)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![image_digest, event.actor(), reason, index])?;
        }
        EventKind::Promote
        | EventKind::Exception
        | EventKind::KeyAdd
        | EventKind::KeyRevoke
        | EventKind::PolicyChange
        | EventKind::LogVerify
        | EventKind::LogInit
        | EventKind::LogRead
        | EventKind::Attest
        | EventKind::EvidenceExport
        | EventKind::ControlFailure
        | EventKind::Rescan => {}
    }
    Ok(())
}

fn upsert_instance(
    connection: &Connection,
    id: &str,
    env: Option<&str>,
    image_digest: Option<&str>,
    state: &str,
    index: i64,
) -> Result<(), ApplyEventError> {
    connection
        .prepare_cached(
            "INSERT INTO instances (id, env, digest, state, updated_index) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET env = COALESCE(excluded.env, env),
             digest = COALESCE(excluded.digest, digest), state = excluded.state,
             updated_index = excluded.updated_index",
        )?
        .execute(params![id, env, image_digest, state, index])?;
    Ok(())
}

/// Drop the projection tables and rebuild them by folding every entry, in one transaction.
pub fn replay(connection: &mut Connection, path: &Path) -> Result<u64, ReplayError> {
    let sql = |operation: &'static str| {
        move |source| ReplayError::Sql {
            operation,
            path: path.to_path_buf(),
            source,
        }
    };
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql("beginning the replay transaction"))?;
    transaction
        .execute_batch(DROP)
        .map_err(sql("dropping projection tables"))?;
    transaction
        .execute_batch(SCHEMA)
        .map_err(sql("creating projection tables"))?;
    let mut next: u64 = 0;
    loop {
        let chunk: Vec<(i64, Vec<u8>)> = {
            let mut statement = transaction
                .prepare_cached(
                    "SELECT idx, bytes FROM entries WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
                )
                .map_err(sql("reading entries"))?;
            let start = i64::try_from(next).unwrap_or(i64::MAX);
            let rows = statement
                .query_map(params![start, REPLAY_CHUNK_ENTRIES], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .map_err(sql("reading entries"))?;
            rows.collect::<Result<_, _>>()
                .map_err(sql("reading entries"))?
        };
        if chunk.is_empty() {
            break;
        }
        for (index, bytes) in chunk {
            if u64::try_from(index).ok() != Some(next) {
                return Err(ReplayError::Gap {
                    path: path.to_path_buf(),
                    index: next,
                });
            }
            let event =
                Event::from_canonical_bytes(&bytes).map_err(|source| ReplayError::Parse {
                    path: path.to_path_buf(),
                    index: next,
                    source,
                })?;
            apply(&transaction, next, &event).map_err(|source| ReplayError::Apply {
                path: path.to_path_buf(),
                index: next,
                source,
            })?;
            next += 1;
        }
    }
    transaction.commit().map_err(sql("committing the replay"))?;
    Ok(next)
}

/// One row of `images`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageRow {
    pub digest: String,
    pub name: Option<String>,
    pub built_index: Option<u64>,
    pub builder: Option<String>,
    pub gate_verdict: Option<String>,
    pub gate_index: Option<u64>,
}

/// One row of `environments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EnvironmentRow {
    pub name: String,
    pub digest: String,
    pub previous_digest: Option<String>,
    pub updated_index: u64,
}

/// One row of `instances`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceRow {
    pub id: String,
    pub env: Option<String>,
    pub digest: Option<String>,
    pub state: String,
    pub updated_index: u64,
}

/// One row of `approvals`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovalRow {
    pub digest: String,
    pub env: String,
    pub approver: String,
    pub approved_index: u64,
}

/// One row of `revocations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevocationRow {
    pub digest: String,
    pub revoker: String,
    pub reason: Option<String>,
    pub revoked_index: u64,
}

/// Every projection row, each table in primary-key order: the canonical state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProjectionState {
    pub images: Vec<ImageRow>,
    pub environments: Vec<EnvironmentRow>,
    pub instances: Vec<InstanceRow>,
    pub approvals: Vec<ApprovalRow>,
    pub revocations: Vec<RevocationRow>,
}

fn index_of(value: Option<i64>) -> Option<u64> {
    value.and_then(|value| u64::try_from(value).ok())
}

/// Read every projection row in canonical order.
pub fn dump(connection: &Connection) -> Result<ProjectionState, rusqlite::Error> {
    let mut state = ProjectionState::default();
    let mut statement = connection.prepare(
        "SELECT digest, name, built_index, builder, gate_verdict, gate_index FROM images ORDER BY digest",
    )?;
    state.images = statement
        .query_map([], |row| {
            Ok(ImageRow {
                digest: row.get(0)?,
                name: row.get(1)?,
                built_index: index_of(row.get(2)?),
                builder: row.get(3)?,
                gate_verdict: row.get(4)?,
                gate_index: index_of(row.get(5)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut statement = connection.prepare(
        "SELECT name, digest, previous_digest, updated_index FROM environments ORDER BY name",
    )?;
    state.environments = statement
        .query_map([], |row| {
            Ok(EnvironmentRow {
                name: row.get(0)?,
                digest: row.get(1)?,
                previous_digest: row.get(2)?,
                updated_index: index_of(row.get(3)?).unwrap_or_default(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut statement = connection
        .prepare("SELECT id, env, digest, state, updated_index FROM instances ORDER BY id")?;
    state.instances = statement
        .query_map([], |row| {
            Ok(InstanceRow {
                id: row.get(0)?,
                env: row.get(1)?,
                digest: row.get(2)?,
                state: row.get(3)?,
                updated_index: index_of(row.get(4)?).unwrap_or_default(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut statement = connection.prepare(
        "SELECT digest, env, approver, approved_index FROM approvals ORDER BY digest, env, approver",
    )?;
    state.approvals = statement
        .query_map([], |row| {
            Ok(ApprovalRow {
                digest: row.get(0)?,
                env: row.get(1)?,
                approver: row.get(2)?,
                approved_index: index_of(row.get(3)?).unwrap_or_default(),
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut statement = connection.prepare(
        "SELECT digest, revoker, reason, revoked_index FROM revocations ORDER BY digest",
    )?;
    state.revocations = statement
        .query_map([], |row| {
            Ok(RevocationRow {
                digest: row.get(0)?,
                revoker: row.get(1)?,
                reason: row.get(2)?,
                revoked_index: index_of(row.get(3)?).unwrap_or_default(),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(state)
}
