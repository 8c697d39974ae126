//! `stamp db import|status|compare-versions`: the offline vulnerability database.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use stamp_core::event::{EventKind, Outcome};
use stamp_scan::osv::import::parse_time;
use stamp_scan::osv::{import, ImportOptions, VulnDb};
use stamp_scan::version::VersionScheme;
use time::OffsetDateTime;

use super::UsageError;
use crate::cli::{
    DbArgs, DbCommand, DbCompareVersionsArgs, DbImportArgs, DbStatusArgs, OutputFormat,
};
use crate::recorder::Recorder;

/// File name of the vulnerability database inside the store directory.
pub const VULNDB_FILE: &str = "vulndb.db";

/// The database path: `--db`/$STAMP_VULNDB, else `vulndb.db` in the store.
pub fn database_path(home: Option<&Path>, flag: Option<&Path>) -> PathBuf {
    match flag {
        Some(path) => path.to_path_buf(),
        None => crate::settings::home(home, None).join(VULNDB_FILE),
    }
}

pub fn run(home: Option<&Path>, args: DbArgs) -> anyhow::Result<u8> {
    match args.command {
        DbCommand::Import(args) => import_command(home, args),
        DbCommand::Status(args) => status(home, args),
        DbCommand::CompareVersions(args) => compare_versions(args),
    }
}

fn import_command(home: Option<&Path>, args: DbImportArgs) -> anyhow::Result<u8> {
    let path = database_path(home, args.db.as_deref());
    let snapshot_time = args
        .snapshot_time
        .as_deref()
        .map(|text| {
            parse_time(text).ok_or_else(|| {
                UsageError(format!(
                    "`--snapshot-time {text}` is not an RFC 3339 time (e.g. 2026-01-31T00:00:00Z)"
                ))
            })
        })
        .transpose()?;
    let options = ImportOptions {
        snapshot_time,
        ..ImportOptions::default()
    };
    let report = import(&args.paths, &path, &options)
        .with_context(|| format!("importing OSV records into `{}`", path.display()))?;
    // The database is an input of every gate verdict: replacing it is recorded.
    let stamp_home = crate::settings::home(home, None);
    let mut recorder = Recorder::open_or_init(&stamp_home)?.recorder;
    let event = recorder
        .event(
            EventKind::PolicyChange,
            Outcome::Success,
            &report.meta.digest,
        )
        .detail("change", "vulndb.import")
        .detail("vulndb_digest", report.meta.digest.clone())
        .detail("snapshot_time", report.meta.snapshot_time.clone())
        .detail("records", report.meta.records)
        .detail("withdrawn", report.meta.withdrawn)
        .detail("skipped_files", report.skipped.len() as u64)
        .detail("sources", report.meta.sources.clone());
    recorder.append(event)?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => {
            println!("digest         {}", report.meta.digest);
            println!("snapshot time  {}", report.meta.snapshot_time);
            println!(
                "records        {} ({} withdrawn, {} replaced by a newer copy)",
                report.meta.records, report.meta.withdrawn, report.duplicates
            );
            for (ecosystem, count) in &report.ecosystems {
                println!("  {ecosystem:<13}{count}");
            }
            if !report.skipped.is_empty() {
                eprintln!(
                    "warning: {} file(s) were not OSV records and were skipped",
                    report.skipped.len()
                );
                for skipped in report.skipped.iter().take(5) {
                    eprintln!("  {}: {}", skipped.path, skipped.reason);
                }
            }
        }
    }
    Ok(0)
}

/// Age of the data and whether it is over `max_age_days`.
pub fn staleness(snapshot_time: &str, max_age_days: u32) -> (Option<i64>, bool) {
    let Some(snapshot) = parse_time(snapshot_time) else {
        return (None, true);
    };
    let age = OffsetDateTime::now_utc() - snapshot;
    let days = age.whole_days();
    (Some(days), age > time::Duration::days(max_age_days as i64))
}

/// Name of the control a stale vulnerability database fails (PCI DSS 10.7.2).
pub const CONTROL_VULNDB_FRESHNESS: &str = "vulnerability-db-freshness";

/// Record that the vulnerability data is older than `max_age_days`: a failed security control
/// (PCI DSS 10.7.2), with the database digest as the subject. `command` names what ran with it.
pub fn record_stale(
    recorder: &mut Recorder,
    db: &VulnDb,
    age_days: Option<i64>,
    max_age_days: u32,
    command: &str,
) -> anyhow::Result<u64> {
    let event = recorder
        .event(EventKind::ControlFailure, Outcome::Failure, &db.meta.digest)
        .detail("control", CONTROL_VULNDB_FRESHNESS)
        .detail("command", command)
        .detail(
            "age_days",
            age_days
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
        )
        .detail("max_age_days", max_age_days)
        .detail("vulndb_digest", db.meta.digest.clone())
        .detail("vulndb_snapshot_time", db.meta.snapshot_time.clone())
        .detail("pci", vec!["10.7.2", "6.3.1"]);
    recorder.append(event)
}

fn status(home: Option<&Path>, args: DbStatusArgs) -> anyhow::Result<u8> {
    let path = database_path(home, args.db.as_deref());
    let db = VulnDb::open(&path)?;
    let (age_days, stale) = staleness(&db.meta.snapshot_time, args.max_age_days);
    let ecosystems = db.ecosystems()?;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "path": path,
                "meta": db.meta,
                "age_days": age_days,
                "max_age_days": args.max_age_days,
                "stale": stale,
                "ecosystems": ecosystems.iter().map(|(name, count)| serde_json::json!({"ecosystem": name, "advisories": count})).collect::<Vec<_>>(),
            }))?
        ),
        OutputFormat::Text => {
            println!("database       {}", path.display());
            println!("digest         {}", db.meta.digest);
            println!("snapshot time  {}", db.meta.snapshot_time);
            println!("imported at    {}", db.meta.imported_at);
            println!(
                "records        {} ({} withdrawn)",
                db.meta.records, db.meta.withdrawn
            );
            for (ecosystem, count) in &ecosystems {
                println!("  {ecosystem:<13}{count}");
            }
        }
    }
    if stale {
        eprintln!(
            "warning: the vulnerability data is {} days old, over the limit of {} days",
            age_days.map(|days| days.to_string()).unwrap_or("?".into()),
            args.max_age_days
        );
        eprintln!("hint: import a fresh OSV export with `stamp db import PATH` (PCI DSS 6.3.1)");
    }
    Ok(0)
}

/// Read `a b` lines, print -1/0/1 or ERR per line (the protocol of
/// `../shared/oracles/versions/check-vectors.sh`).
fn compare_versions(args: DbCompareVersionsArgs) -> anyhow::Result<u8> {
    let scheme: VersionScheme = args.scheme.parse().map_err(UsageError)?;
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lines() {
        let line = line.context("reading standard input")?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0].starts_with('#') {
            continue;
        }
        let answer = match (fields.first(), fields.get(1)) {
            (Some(a), Some(b)) => match scheme.compare(a, b) {
                Ok(std::cmp::Ordering::Less) => "-1",
                Ok(std::cmp::Ordering::Equal) => "0",
                Ok(std::cmp::Ordering::Greater) => "1",
                Err(_) => "ERR",
            },
            _ => "ERR",
        };
        writeln!(stdout, "{answer}")?;
    }
    stdout.flush()?;
    Ok(0)
}
