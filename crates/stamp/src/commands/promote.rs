//! `stamp promote IMAGE --to ENV`: record that a digest may go to ENV (PCI DSS 6.5.1, 6.5.4).
//!
//! Refused (a failed `promote` event naming the reason, exit 1) when the image is revoked,
//! lacks the approvals ENV requires (counted as `stamp deploy` counts them), or, when ENV's
//! trust-file policy has `promote_from = "SOURCE"`, never ran healthy in SOURCE. A deploy to
//! an environment with `promote_from` takes only digests promoted to it.

use std::path::Path;

use anyhow::Context;
use stamp_core::event::{EventKind, Outcome};
use stamp_image::Store;

use super::deploy::{approved, hint, not_revoked, ran_healthy};
use super::signing::{acting_name, load_trust_recorded, read_facts};
use super::UsageError;
use crate::cli::{OutputFormat, PromoteArgs};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, key: Option<&str>, args: PromoteArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let image = store.resolve(&args.image)?;
    let digest = image.digest;
    let environment = args.to.as_str();
    let mut recorder = Recorder::open_or_init(&home)?.recorder;
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(&home, &mut recorder, &mut facts)?;
    let Some(policy) = trust.environment(environment) else {
        let known: Vec<&str> = trust.environments().keys().map(String::as_str).collect();
        return Err(UsageError(format!(
            "no environment `{environment}` in the trust file (known: {})",
            known.join(", ")
        ))
        .into());
    };
    if let Some(name) = acting_name(&home, key, &trust) {
        recorder.set_actor(&name);
    }
    let from = policy.promote_from.clone();
    let state = recorder.log.projection_state()?;
    let mut decision = not_revoked(&state, &digest);
    if decision.is_ok() {
        decision = approved(&home, &store, &trust, environment, &digest)?;
    }
    let mut healthy_at = None;
    if let (Ok(()), Some(from)) = (&decision, &from) {
        healthy_at = ran_healthy(&recorder.log, &digest, from)?;
        if healthy_at.is_none() {
            decision = Err((
                "not-healthy-in-source",
                format!(
                    "`{environment}` takes only digests that ran healthy in `{from}`, and the log shows no healthy run of this one there"
                ),
            ));
        }
    }
    if let Err((code, reason)) = decision {
        let mut event = recorder
            .event(EventKind::Promote, Outcome::Failure, &digest.to_string())
            .detail("env", environment)
            .detail("code", code)
            .detail("reason", reason.clone());
        if let Some(from) = &from {
            event = event.detail("from_env", from.clone());
        }
        let index = recorder.append(event)?;
        eprintln!(
            "error: promotion of {digest} to `{environment}` refused: {reason} (log entry {index})"
        );
        eprintln!("hint: {}", hint(code));
        return Ok(1);
    }
    let mut event = recorder
        .event(EventKind::Promote, Outcome::Success, &digest.to_string())
        .detail("env", environment)
        .detail("image", digest.to_string());
    if let Some(from) = &from {
        event = event.detail("from_env", from.clone());
    }
    if let Some(at) = healthy_at {
        event = event.detail("healthy_at", at);
    }
    let index = recorder.append(event)?;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "image": digest,
                "env": environment,
                "from_env": from,
                "healthy_at": healthy_at,
                "log_index": index,
            }))?
        ),
        OutputFormat::Text => match (&from, healthy_at) {
            (Some(from), Some(at)) => eprintln!(
                "promoted {digest} to `{environment}` from `{from}` (ran healthy there at log entry {at}; log entry {index})"
            ),
            _ => eprintln!("promoted {digest} to `{environment}` (log entry {index})"),
        },
    }
    Ok(0)
}
