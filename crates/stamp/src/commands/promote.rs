//! `stamp promote IMAGE --to ENV`: record that a digest may go to ENV (PCI DSS 6.5.1, 6.5.4).
//!
//! Refused (a failed `promote` event naming the reason, exit 1) when the image is revoked,
//! lacks the approvals ENV requires (counted as `stamp deploy` counts them: the higher of the
//! trust file's and the `[env.ENV]` table's), or, when ENV has `promote_from = "SOURCE"` (in
//! the trust file or in stamp.toml's `[env.ENV]`), never ran healthy in SOURCE: no successful
//! deploy there listing instances that passed their health check. A deploy to an environment
//! with `promote_from` takes only digests promoted to it that ran healthy in the source.

use std::path::Path;

use anyhow::Context;
use stamp_core::event::{EventKind, Outcome};
use stamp_image::Store;

use super::deploy::{approved, hint, not_revoked, ran_healthy, EnvSettings, Overrides};
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
    let settings = EnvSettings::resolve(args.spec.as_deref(), environment, Overrides::default())?;
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
    let sources = settings.promote_from(policy.promote_from.as_deref());
    let state = recorder.log.projection_state()?;
    let mut decision = not_revoked(&state, &digest);
    if decision.is_ok() {
        decision = approved(
            &home,
            &store,
            &trust,
            environment,
            &digest,
            settings.approvals(),
        )?;
    }
    let mut healthy_at = None;
    let mut from = None;
    for source in &sources {
        if decision.is_err() {
            break;
        }
        from = Some(source.clone());
        let at = ran_healthy(&recorder.log, &digest, source)?;
        if at.is_none() {
            decision = Err((
                "not-healthy-in-source",
                format!(
                    "`{environment}` takes only digests that ran healthy in `{source}`, and the log shows no healthy run of this one there"
                ),
            ));
        }
        healthy_at = healthy_at.max(at);
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
