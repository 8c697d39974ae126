//! `stamp revoke IMAGE --reason …`: from this `revoke` event on, deploys of the digest are
//! refused; `stamp status` still shows any instance of it that runs, for replacement.

use std::path::Path;

use anyhow::Context;
use stamp_core::event::{EventKind, Outcome};
use stamp_image::Store;

use crate::cli::{OutputFormat, RevokeArgs};
use crate::recorder::Recorder;

/// Longest revocation reason kept in the log.
pub const REASON_BYTES_MAX: usize = 1024;

pub fn run(home: Option<&Path>, args: RevokeArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    if args.reason.trim().is_empty()
        || args.reason.len() > REASON_BYTES_MAX
        || args.reason.contains(char::is_control)
    {
        return Err(super::UsageError(format!(
            "--reason must be 1 to {REASON_BYTES_MAX} bytes of text without control characters"
        ))
        .into());
    }
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let image = store.resolve(&args.image)?;
    let mut recorder = Recorder::open_or_init(&home)?.recorder;
    let state = recorder.log.projection_state()?;
    let running: Vec<String> = state
        .instances
        .iter()
        .filter(|row| row.digest.as_deref() == Some(&*image.digest.to_string()))
        .filter(|row| row.state != "stopped")
        .map(|row| row.id.clone())
        .collect();
    let event = recorder
        .event(
            EventKind::Revoke,
            Outcome::Success,
            &image.digest.to_string(),
        )
        .detail("reason", args.reason.clone())
        .detail("running_instances", running.clone());
    let index = recorder.append(event)?;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image": image.digest,
                "reason": args.reason,
                "running_instances": running,
                "log_index": index,
            }))?
        ),
        OutputFormat::Text => {
            eprintln!(
                "revoked {} (log entry {index}): deploys of it are refused from now on",
                image.digest
            );
            for id in &running {
                eprintln!("warning: instance `{id}` still runs the revoked image");
            }
        }
    }
    Ok(0)
}
