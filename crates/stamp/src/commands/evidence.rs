//! `stamp evidence [--env ENV] --from DATE --to DATE -o PATH`: record the export, then write
//! the assessor's pack (see `stamp_evidence::export`) as a directory or a `.tar.gz`.

use std::path::Path;

use anyhow::Context;
use stamp_attest::referrers::{read_envelope, referrers};
use stamp_core::event::{EventKind, Outcome};
use stamp_evidence::export::{export, ExportInput};
use stamp_evidence::time_text::{self, Period};
use stamp_image::Store;
use stamp_log::LogStore;
use stamp_scan::pan::find_pans;
use time::OffsetDateTime;

use super::signing::{load_acting_key, load_trust_recorded, read_facts, trust_path};
use super::UsageError;
use crate::cli::{EvidenceArgs, OutputFormat};
use crate::recorder::Recorder;

/// A card number found in a file of the pack being written.
#[derive(Debug)]
struct CardNumberInPack {
    path: String,
    masked: String,
}

impl std::fmt::Display for CardNumberInPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a card number ({}) is in `{}` of the pack, copied from the log's free text",
            self.masked, self.path
        )
    }
}

impl std::error::Error for CardNumberInPack {}

pub fn run(home: Option<&Path>, key: Option<&str>, args: EvidenceArgs) -> anyhow::Result<u8> {
    let period = Period::parse(&args.from, &args.to)
        .map_err(|error| UsageError(format!("--from/--to: {error}")))?;
    let output = args.output.clone();
    let archive = output.to_string_lossy().ends_with(".tar.gz");
    if archive && output.exists() {
        return Err(UsageError(format!("`{}` already exists", output.display())).into());
    }
    if !archive
        && output.exists()
        && std::fs::read_dir(&output).map_or(true, |mut entries| entries.next().is_some())
    {
        return Err(UsageError(format!(
            "`{}` exists and is not an empty directory",
            output.display()
        ))
        .into());
    }
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let mut recorder = Recorder::open(&home)?;
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(&home, &mut recorder, &mut facts)?;
    if let Some(env) = &args.env {
        if trust.environment(env).is_none() {
            let known: Vec<&str> = trust.environments().keys().map(String::as_str).collect();
            return Err(UsageError(format!(
                "no environment `{env}` in the trust file (known: {})",
                known.join(", ")
            ))
            .into());
        }
    }
    let trust_file = trust_path(&home);
    let trust_toml = std::fs::read(&trust_file)
        .with_context(|| format!("reading the trust file `{}`", trust_file.display()))?;
    let (signing_key, _) = load_acting_key(&home, key)?;
    let Some(identity) = trust.by_key_id(signing_key.key_id()).cloned() else {
        return Err(UsageError(format!(
            "the signing key {} is not an identity of the trust file; the pack must be signed by one",
            signing_key.key_id()
        ))
        .into());
    };
    if identity.revoked_at.is_some() {
        return Err(UsageError(format!(
            "`{}` is revoked; a revoked identity signs no evidence pack",
            identity.name
        ))
        .into());
    }
    recorder.set_actor(&identity.name);
    let origin = recorder.log.origin().to_string();
    let mut details = serde_json::Map::new();
    details.insert("from".into(), time_text::format(period.from).into());
    details.insert("to".into(), time_text::format(period.to).into());
    details.insert(
        "env".into(),
        args.env
            .clone()
            .map(serde_json::Value::from)
            .unwrap_or(serde_json::Value::Null),
    );
    details.insert("output".into(), output.display().to_string().into());
    // Recorded before the pack's checkpoint is read: the pack covers its own export.
    let index = recorder.append(
        recorder
            .event(EventKind::EvidenceExport, Outcome::Success, &origin)
            .details(details.clone()),
    )?;
    let input = ExportInput {
        period,
        env: args.env.clone(),
        generated_by: identity.name.clone(),
        generated_at: OffsetDateTime::now_utc(),
        trust_toml,
        log_verifier: recorder.verifier(),
        signing_key: &signing_key,
    };
    let result = export(&recorder.log, &input, &mut |image| {
        let mut envelopes = Vec::new();
        for referrer in referrers(&store, image)? {
            envelopes.push(read_envelope(&store, &referrer)?);
        }
        Ok(envelopes)
    })
    .context("assembling the evidence pack")
    .and_then(|exported| {
        // Card numbers never reach a pack. Events are copied byte for byte (their hashes are
        // proven), so a card number typed into free text (a reason, a comment) cannot be
        // masked here: the export is refused, naming the file and the masked number.
        for (path, bytes) in &exported.pack.files {
            if let Some(found) = find_pans(bytes)
                .into_iter()
                .find(|found| !found.test_number)
            {
                return Err(anyhow::Error::new(CardNumberInPack {
                    path: path.clone(),
                    masked: found.pan.to_string(),
                }));
            }
        }
        if archive {
            let name = output
                .file_name()
                .map(|name| {
                    name.to_string_lossy()
                        .trim_end_matches(".tar.gz")
                        .to_string()
                })
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "evidence".into());
            let bytes = exported.pack.to_tar_gz(&name)?;
            std::fs::write(&output, bytes)
                .with_context(|| format!("writing `{}`", output.display()))?;
        } else {
            exported.pack.write_dir(&output)?;
        }
        Ok(exported)
    });
    let exported = match result {
        Ok(exported) => exported,
        Err(error) => {
            details.insert("reason".into(), format!("{error:#}").into());
            details.insert("export_index".into(), index.into());
            let event = recorder
                .event(EventKind::EvidenceExport, Outcome::Failure, &origin)
                .details(details);
            recorder.append(event)?;
            if let Some(found) = error.downcast_ref::<CardNumberInPack>() {
                eprintln!("error: {found}; the pack was not written");
                eprintln!(
                    "hint: find the entry with `stamp log show --format json` and rotate the card number; the log keeps it, so the pack cannot"
                );
                return Ok(1);
            }
            return Err(error);
        }
    };
    let summary = &exported.evidence["summary"];
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "output": output.display().to_string(),
                "export_index": index,
                "tree_size": exported.tree_size,
                "events": exported.events,
                "files": exported.pack.files.len(),
                "summary": summary,
            }))?
        ),
        OutputFormat::Text => {
            eprintln!(
                "wrote {} ({} files, {} events, checkpoint size {}; the export is log entry {index})",
                output.display(),
                exported.pack.files.len(),
                exported.events,
                exported.tree_size
            );
            eprintln!(
                "requirements: {} met, {} not met, {} partly, {} not applicable, {} not covered",
                summary["met"],
                summary["notMet"],
                summary["partly"],
                summary["notApplicable"],
                summary["notCovered"]
            );
            for requirement in exported.evidence["requirements"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if requirement["status"] == "not-met" {
                    eprintln!(
                        "  not met: {} {}: {}",
                        requirement["id"].as_str().unwrap_or_default(),
                        requirement["title"].as_str().unwrap_or_default(),
                        requirement["detail"].as_str().unwrap_or_default()
                    );
                }
            }
            println!("{}", output.display());
        }
    }
    Ok(0)
}
