//! `stamp stop ENV|INSTANCE [--reason TEXT]`: take an environment's running instances (or one
//! instance) down, recorded (PCI DSS 6.5.1, 10.2.2: a decommission is a change like any other).
//!
//! The acting identity (`--key`) must hold one of the environment's `deployer_roles` in the
//! trust file and be unrevoked, as for `stamp deploy` and `stamp rollback`. Each instance the
//! log shows running (or drifted) is stopped the way a rolling replace stops an old instance —
//! SIGTERM, [`STOP_GRACE`], then SIGKILL — and deleted from the runtime, then recorded as one
//! `instance.stop` event (subject: the instance id; details `env`, `image`, `reason`,
//! `decommission: true`, `target`), the same kind the rolling replace writes, so the projection
//! marks it stopped and `stamp log replay` rebuilds the same state. There is no summary event:
//! the per-instance events are the change. The environment keeps its current and previous
//! digests, so `stamp deploy ENV` (no image) brings it back and `stamp rollback ENV` still knows
//! where to go.
//!
//! Refusals are failed `instance.stop` events with a `code` and exit 1: `unknown-target` (no
//! such environment in the trust file and no such instance in the log), `not-running` (the
//! instance is already stopped), `unknown-environment` (the instance's environment is not in
//! the trust file) and the role refusals (`missing-role`, `unknown-key`, `key-revoked`). An
//! instance the runtime fails to stop is a failed `instance.stop` event too (exit 1); the others
//! are still stopped. A malformed target or reason is a usage error (exit 2) before any work.

use std::path::Path;

use stamp_attest::facts::detail;
use stamp_attest::policy::check_signer;
use stamp_attest::trust::is_valid_environment_name;
use stamp_core::event::{EventKind, Outcome};
use stamp_deploy::runtime::{check_instance_id, Runtime};

use super::deploy::{running_instances, runtime, STOP_GRACE};
use super::signing::{load_acting_key, load_trust_recorded, read_facts};
use super::UsageError;
use crate::cli::{OutputFormat, StopArgs};
use crate::recorder::Recorder;

/// Longest `--reason` kept in the log, in bytes.
pub const REASON_BYTES_MAX: usize = 512;

/// The reason recorded when `--reason` is not given.
pub const DEFAULT_REASON: &str = "no reason given";

/// What `stamp stop` takes down.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    /// Every running instance of the environment.
    Environment(String),
    /// One instance, of this environment.
    Instance { id: String, env: String },
}

pub fn run(home: Option<&Path>, key: Option<&str>, args: StopArgs) -> anyhow::Result<u8> {
    let target = args.target.as_str();
    if !is_valid_environment_name(target) && check_instance_id(target).is_err() {
        return Err(UsageError(format!(
            "`{}` is neither an environment name (lower-case letters, digits, `-`, `_`, at most {} bytes) nor an instance id (lower-case letters, digits, `-`, at most {} characters)",
            target.escape_debug(),
            stamp_attest::trust::ENVIRONMENT_NAME_BYTES_MAX,
            stamp_deploy::runtime::INSTANCE_ID_LENGTH_MAX,
        ))
        .into());
    }
    let reason = match args.reason.as_deref() {
        None => DEFAULT_REASON.to_string(),
        Some(text) => {
            let text = text.trim();
            if text.is_empty()
                || text.len() > REASON_BYTES_MAX
                || text.chars().any(char::is_control)
            {
                return Err(UsageError(format!(
                    "--reason must be 1 to {REASON_BYTES_MAX} bytes of text on one line"
                ))
                .into());
            }
            text.to_string()
        }
    };
    let home = crate::settings::home(home, None);
    let mut recorder = Recorder::open_or_init(&home)?.recorder;
    let state = recorder.log.projection_state()?;
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(&home, &mut recorder, &mut facts)?;
    let (acting, _) = load_acting_key(&home, key)?;
    let identity = trust.by_key_id(acting.key_id());
    if let Some(identity) = identity {
        recorder.set_actor(&identity.name);
    }

    // What the target names: an environment of the trust file, else an instance of the log.
    let resolved = if trust.environment(target).is_some() {
        Ok(Resolved::Environment(target.to_string()))
    } else {
        match state.instances.iter().find(|row| row.id == target) {
            None => Err((
                "unknown-target",
                None,
                format!(
                    "no environment `{target}` in the trust file (known: {}) and no instance `{target}` in the log",
                    trust
                        .environments()
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            Some(row) if row.state == "stopped" => Err((
                "not-running",
                row.env.clone(),
                format!(
                    "instance `{target}` was already stopped (log entry {})",
                    row.updated_index
                ),
            )),
            Some(row) => match row.env.as_deref() {
                Some(env) if trust.environment(env).is_some() => Ok(Resolved::Instance {
                    id: row.id.clone(),
                    env: env.to_string(),
                }),
                env => Err((
                    "unknown-environment",
                    env.map(str::to_string),
                    format!(
                        "instance `{target}` belongs to {}, which is not in the trust file, so no deployer role can be checked",
                        env.map_or("no environment".to_string(), |env| format!("environment `{env}`"))
                    ),
                )),
            },
        }
    };
    let resolved = match resolved {
        Ok(resolved) => resolved,
        Err((code, env, reason)) => {
            let mut event = recorder
                .event(EventKind::InstanceStop, Outcome::Failure, target)
                .detail("code", code)
                .detail("reason", reason.clone())
                .detail("decommission", true)
                .detail(detail::KEY_ID, acting.key_id().to_string());
            if let Some(env) = env {
                event = event.detail(detail::ENVIRONMENT, env);
            }
            let index = recorder.append(event)?;
            eprintln!("error: stop of `{target}` refused: {reason} (log entry {index})");
            eprintln!("hint: {}", hint(code));
            return Ok(1);
        }
    };
    let (environment, ids) = match &resolved {
        Resolved::Environment(env) => (env.as_str(), running_instances(&state, env)),
        Resolved::Instance { id, env } => (env.as_str(), vec![id.clone()]),
    };
    let policy = trust
        .environment(environment)
        .expect("resolved targets name an environment of the trust file");
    if let Err(refusal) = check_signer(
        identity,
        acting.key_id(),
        &facts.key_revocations,
        &policy.deployer_roles,
        &format!("stop instances of `{environment}`"),
    ) {
        let event = recorder
            .event(EventKind::InstanceStop, Outcome::Failure, target)
            .detail("code", refusal.code())
            .detail("reason", refusal.to_string())
            .detail("decommission", true)
            .detail(detail::KEY_ID, acting.key_id().to_string())
            .detail(detail::ENVIRONMENT, environment);
        let index = recorder.append(event)?;
        eprintln!("error: stop of `{target}` refused: {refusal} (log entry {index})");
        eprintln!("hint: {}", hint(refusal.code()));
        return Ok(1);
    }
    if ids.is_empty() {
        // Nothing changes, so nothing is recorded.
        match args.format {
            OutputFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "env": environment,
                    "target": target,
                    "stopped": [],
                    "failed": [],
                }))?
            ),
            OutputFormat::Text => eprintln!("nothing runs in `{environment}`; nothing to stop"),
        }
        return Ok(0);
    }

    let runtime = runtime(&home)?;
    let mut stopped = Vec::new();
    let mut failed = Vec::new();
    for id in &ids {
        let image = state
            .instances
            .iter()
            .find(|row| &row.id == id)
            .and_then(|row| row.digest.clone());
        let result = runtime.stop(id, STOP_GRACE);
        let outcome = if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        };
        let mut event = recorder
            .event(EventKind::InstanceStop, outcome, id)
            .detail("env", environment)
            .detail("reason", reason.clone())
            .detail("decommission", true)
            .detail("target", target);
        if let Some(image) = &image {
            event = event.detail("image", image.clone());
        }
        if let Err(error) = &result {
            event = event
                .detail("code", "stop-failed")
                .detail("error", format!("{error}"));
        }
        let index = recorder.append(event)?;
        let row = serde_json::json!({ "id": id, "image": image, "log_index": index });
        match result {
            Ok(()) => stopped.push(row),
            Err(error) => {
                eprintln!(
                    "error: stopping instance `{id}` of `{environment}` failed: {error} (log entry {index})"
                );
                failed.push(row);
            }
        }
    }
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "env": environment,
                "target": target,
                "stopped": stopped,
                "failed": failed,
            }))?
        ),
        OutputFormat::Text => {
            let entries: Vec<String> = stopped
                .iter()
                .chain(&failed)
                .map(|row| row["log_index"].to_string())
                .collect();
            eprintln!(
                "stopped {} instance(s) of `{environment}`{} (log entries {})",
                stopped.len(),
                if failed.is_empty() {
                    String::new()
                } else {
                    format!(", {} failed to stop", failed.len())
                },
                entries.join(", ")
            );
            for row in &stopped {
                println!("{}\tstopped", row["id"].as_str().unwrap_or_default());
            }
            for row in &failed {
                println!("{}\tfailed", row["id"].as_str().unwrap_or_default());
            }
        }
    }
    Ok(if failed.is_empty() { 0 } else { 1 })
}

fn hint(code: &str) -> &'static str {
    match code {
        "missing-role" | "unknown-key" => {
            "stop as an identity with a deployer role of the environment: `stamp stop TARGET --key NAME`"
        }
        "key-revoked" => "a revoked identity stops nothing; use another deployer's key",
        "not-running" => "`stamp status` lists the instances that run",
        "unknown-environment" => {
            "add the environment to the trust file (`stamp trust env ENV`) so its deployer roles apply"
        }
        _ => "name an environment of the trust file or a running instance (`stamp status` lists them)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_code_has_its_own_hint() {
        let codes = [
            "missing-role",
            "key-revoked",
            "not-running",
            "unknown-environment",
            "unknown-target",
        ];
        let hints: std::collections::BTreeSet<&str> = codes.iter().map(|code| hint(code)).collect();
        assert_eq!(hints.len(), codes.len());
        assert_eq!(hint("unknown-key"), hint("missing-role"));
    }
}
