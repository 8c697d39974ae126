//! `stamp log show|prove|verify|checkpoint|replay`

use std::path::Path;

use anyhow::{bail, Context};
use stamp_core::event::{EventKind, Outcome};
use stamp_log::{leaf_hash, LogStore, NoteVerifier};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::{
    LogArgs, LogCommand, LogProveArgs, LogReplayArgs, LogShowArgs, LogVerifyArgs, OutputFormat,
};
use crate::commands::UsageError;
use crate::recorder::Recorder;

/// Entries read from the database per query while scanning.
const PAGE_ENTRIES: usize = 4096;

pub fn run(home: Option<&Path>, args: LogArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    match args.command {
        LogCommand::Show(args) => show(&home, args),
        LogCommand::Prove(args) => prove(&home, args),
        LogCommand::Verify(args) => verify(&home, args),
        LogCommand::Checkpoint => checkpoint(&home),
        LogCommand::Replay(args) => replay(&home, args),
    }
}

fn show(home: &Path, args: LogShowArgs) -> anyhow::Result<u8> {
    let kind = args
        .kind
        .as_deref()
        .map(|text| {
            text.parse::<EventKind>().map_err(|_| {
                let known: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
                UsageError(format!(
                    "unknown event kind `{text}` (known: {})",
                    known.join(", ")
                ))
            })
        })
        .transpose()?;
    let since = args
        .since
        .as_deref()
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                UsageError(format!(
                    "`--since {text}` is not an RFC 3339 time like 2026-01-31T00:00:00Z"
                ))
            })
        })
        .transpose()?;
    let mut recorder = Recorder::open(home)?;
    // Reading the audit trail is itself recorded, before anything is shown.
    let mut filter = serde_json::Map::new();
    if let Some(kind) = &args.kind {
        filter.insert("kind".into(), kind.clone().into());
    }
    if let Some(subject) = &args.subject {
        filter.insert("subject".into(), subject.clone().into());
    }
    if let Some(since) = &args.since {
        filter.insert("since".into(), since.clone().into());
    }
    let origin = recorder.log.origin().to_string();
    recorder.append(
        recorder
            .event(EventKind::LogRead, Outcome::Success, &origin)
            .detail("filter", serde_json::Value::Object(filter)),
    )?;
    let size = recorder.log.size()?;
    let mut shown = Vec::new();
    let mut start = 0;
    while start < size {
        let entries = recorder.log.read_entries(start, PAGE_ENTRIES)?;
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            start = entry.index + 1;
            let event = stamp_core::Event::from_canonical_bytes(&entry.bytes)
                .with_context(|| format!("entry {} is not a valid event", entry.index))?;
            if kind.is_some_and(|kind| event.kind() != kind)
                || args
                    .subject
                    .as_deref()
                    .is_some_and(|subject| event.subject() != subject)
                || since.is_some_and(|since| event.time() < since)
            {
                continue;
            }
            match args.format {
                OutputFormat::Text => println!(
                    "{:>6}  {}  {:<15} {:<7}  {}  {}",
                    entry.index,
                    event.time_text(),
                    event.kind().as_str(),
                    event.outcome().as_str(),
                    event.actor(),
                    event.subject()
                ),
                OutputFormat::Json => {
                    let value: serde_json::Value = serde_json::from_slice(&entry.bytes)?;
                    shown.push(serde_json::json!({
                        "index": entry.index,
                        "leaf_hash": hex::encode(leaf_hash(&entry.bytes).0),
                        "event": value,
                    }));
                }
            }
        }
    }
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
    }
    Ok(0)
}

fn prove(home: &Path, args: LogProveArgs) -> anyhow::Result<u8> {
    let recorder = Recorder::open(home)?;
    let log = &recorder.log;
    let size = log.size()?;
    let hex_list = |hashes: Vec<stamp_log::Hash>| -> Vec<String> {
        hashes.iter().map(|h| hex::encode(h.0)).collect()
    };
    if let Some(index) = args.index {
        let tree_size = args.size.unwrap_or(size);
        if tree_size > size {
            return Err(UsageError(format!(
                "--size {tree_size} is larger than the log ({size} entries)"
            ))
            .into());
        }
        if index >= tree_size {
            return Err(UsageError(format!(
                "--index {index} is not below the tree size {tree_size}"
            ))
            .into());
        }
        let entry = log.read_entry(index)?;
        let proof = log.prove_inclusion(tree_size, index)?;
        let root = log.tree_hash(tree_size)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "leaf_index": index,
                "tree_size": tree_size,
                "leaf_hash": hex::encode(leaf_hash(&entry.bytes).0),
                "root_hash": hex::encode(root.0),
                "proof": hex_list(proof),
            }))?
        );
        return Ok(0);
    }
    let (Some(from), Some(to)) = (args.from, args.to) else {
        bail!(UsageError("give --index N, or --from M --to N".into()));
    };
    if from > to || to > size {
        return Err(UsageError(format!(
            "need --from ≤ --to ≤ {size} (the log size), got {from} and {to}"
        ))
        .into());
    }
    let proof = log.prove_consistency(from, to)?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "old_size": from,
            "old_root": hex::encode(log.tree_hash(from)?.0),
            "new_size": to,
            "new_root": hex::encode(log.tree_hash(to)?.0),
            "proof": hex_list(proof),
        }))?
    );
    Ok(0)
}

fn verify(home: &Path, args: LogVerifyArgs) -> anyhow::Result<u8> {
    let mut recorder = Recorder::open(home)?;
    let verifier = match &args.verifier {
        Some(text) => {
            NoteVerifier::parse(text).with_context(|| format!("verifier key `{text}`"))?
        }
        None => recorder.verifier(),
    };
    let report = recorder
        .log
        .verify(&verifier)
        .context("reading the log to verify it")?;
    let origin = recorder.log.origin().to_string();
    let outcome = if report.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    let mut event = recorder
        .event(EventKind::LogVerify, outcome, &origin)
        .detail("report", report.to_json());
    if let Some(problem) = &report.problem {
        event = event.detail("first_bad_index", problem.index());
    }
    // A damaged log refuses appends; the result is still printed, and the refusal said.
    let recorded = recorder.append(event);
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        OutputFormat::Text => match &report.problem {
            None => eprintln!("log verified: {}", summary(&report.to_json())),
            Some(problem) => eprintln!(
                "log verification FAILED at index {}: {} ({})",
                problem.index(),
                problem,
                problem.code()
            ),
        },
    }
    if let Err(error) = recorded {
        eprintln!("warning: the verification could not be recorded in the log: {error:#}");
    }
    Ok(if report.is_ok() { 0 } else { 1 })
}

fn summary(report: &serde_json::Value) -> String {
    let field = |name: &str| {
        report
            .get(name)
            .map(|value| value.to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "{} entries, {} checkpoints",
        field("entries"),
        field("checkpoints")
    )
}

fn checkpoint(home: &Path) -> anyhow::Result<u8> {
    let recorder = Recorder::open(home)?;
    match recorder.log.latest_checkpoint_note()? {
        Some(note) => print!("{note}"),
        None => bail!("the log has no checkpoint"),
    }
    Ok(0)
}

fn replay(home: &Path, args: LogReplayArgs) -> anyhow::Result<u8> {
    let mut recorder = Recorder::open(home)?;
    let before = recorder.log.projection_state()?;
    let replayed = recorder
        .log
        .replay_projections()
        .context("replaying the log")?;
    let after = recorder.log.projection_state()?;
    let identical = before == after;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "events": replayed,
                "identical": identical,
                "state": after,
            }))?
        ),
        OutputFormat::Text => {
            eprintln!("replayed {replayed} events");
            if identical {
                eprintln!(
                    "projections rebuilt from the log alone are identical to the stored ones"
                );
            } else {
                eprintln!("projections DIFFERED from the log; they were rebuilt from it");
            }
        }
    }
    Ok(if identical { 0 } else { 1 })
}
