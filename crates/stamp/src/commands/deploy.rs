//! `stamp deploy ENV [IMAGE]`: admit an image to an environment, then replace the
//! environment's instances with fresh ones from it (PCI DSS 6.5.1, 6.5.4, 6.2.3.1).
//!
//! Admission (each refusal is a failed `deploy` event naming the reason, exit 1): the image is
//! not revoked, has a passing gate verdict in the log, every attestation attached to it
//! verifies, and enough distinct identities other than its builder approved it for ENV with
//! signatures the log recorded. Then the rollout ([`stamp_deploy::rollout`]) starts the new
//! instances on runc, waits for `GET /health`, and stops the old ones one at a time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use stamp_attest::referrers::{read_envelope, referrers};
use stamp_attest::{verify_attestation, Predicate, Trust, Verified};
use stamp_core::event::{EventKind, Outcome};
use stamp_core::Digest;
use stamp_deploy::rollout::{roll_out, Step};
use stamp_deploy::runc::{instance_spec, RuncRuntime};
use stamp_deploy::runtime::InstanceSpec;
use stamp_image::Store;
use stamp_log::projection::ProjectionState;

use super::attestations::{approval_counts, open_facts};
use super::signing::trust_path;
use super::UsageError;
use crate::cli::{DeployArgs, OutputFormat};
use crate::recorder::Recorder;

/// Most replicas one environment may run locally.
pub const REPLICAS_MAX: u32 = 16;

/// How long a stopped instance gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// The path the health check requests.
pub const HEALTH_PATH: &str = "/health";

/// What to deploy where, resolved from flags before any work.
pub struct Target {
    pub environment: String,
    pub image: Option<String>,
    pub replicas: u32,
    pub port_base: u16,
    pub health_timeout: Duration,
    pub rollback: bool,
    pub format: OutputFormat,
}

pub fn run(home: Option<&Path>, args: DeployArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let image = if args.replace_revoked {
        match replacement_for_revoked(&home, &args.env)? {
            Some(digest) => Some(digest),
            None => {
                eprintln!("no instance of `{}` runs a revoked image", args.env);
                return Ok(0);
            }
        }
    } else {
        args.image
    };
    deploy(
        &home,
        Target {
            environment: args.env,
            image,
            replicas: args.replicas,
            port_base: args.port,
            health_timeout: Duration::from_millis(args.health_timeout_ms),
            rollback: false,
            format: args.format,
        },
    )
}

/// The runc binary: `$STAMP_RUNC`, else `runc` on PATH.
pub fn runc_binary() -> PathBuf {
    std::env::var_os("STAMP_RUNC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("runc"))
}

/// The local runtime of the store at `home`.
pub fn runtime(home: &Path) -> anyhow::Result<RuncRuntime> {
    Ok(RuncRuntime::new(home, &runc_binary())?)
}

/// When an instance of `environment` runs a revoked digest: the newest digest approved for
/// `environment` that is not revoked and passed its gate (full admission runs on deploy).
fn replacement_for_revoked(home: &Path, environment: &str) -> anyhow::Result<Option<String>> {
    let recorder = Recorder::open(home)?;
    let state = recorder.log.projection_state()?;
    let revoked: BTreeSet<&str> = state
        .revocations
        .iter()
        .map(|row| row.digest.as_str())
        .collect();
    let runs_revoked = state.instances.iter().any(|row| {
        row.env.as_deref() == Some(environment)
            && row.state != "stopped"
            && row
                .digest
                .as_deref()
                .is_some_and(|digest| revoked.contains(digest))
    });
    if !runs_revoked {
        return Ok(None);
    }
    let mut approvals: Vec<_> = state
        .approvals
        .iter()
        .filter(|row| row.env == environment && !revoked.contains(row.digest.as_str()))
        .collect();
    approvals.sort_by_key(|row| std::cmp::Reverse(row.approved_index));
    let gated = |digest: &str| {
        state
            .images
            .iter()
            .any(|row| row.digest == digest && row.gate_verdict.as_deref() == Some("pass"))
    };
    approvals
        .iter()
        .find(|row| gated(&row.digest))
        .map(|row| Some(row.digest.clone()))
        .ok_or_else(|| {
            UsageError(format!(
                "`{environment}` runs a revoked image and no approved, gated, unrevoked digest can replace it"
            ))
            .into()
        })
}

/// Admit and roll out `target`; `Ok(1)` when refused or the rollout failed.
pub fn deploy(home: &Path, target: Target) -> anyhow::Result<u8> {
    if target.replicas == 0 || target.replicas > REPLICAS_MAX {
        return Err(UsageError(format!(
            "--replicas must be from 1 to {REPLICAS_MAX}, not {}",
            target.replicas
        ))
        .into());
    }
    let store =
        Store::open(home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    let trust = Trust::load(&trust_path(home))?
        .map(|(trust, _)| trust)
        .unwrap_or_default();
    let environment = target.environment.as_str();
    if trust.environment(environment).is_none() {
        let known: Vec<&str> = trust.environments().keys().map(String::as_str).collect();
        return Err(UsageError(format!(
            "no environment `{environment}` in the trust file (known: {})",
            known.join(", ")
        ))
        .into());
    }
    let mut recorder = Recorder::open_or_init(home)?.recorder;
    let state = recorder.log.projection_state()?;
    let reference = match &target.image {
        Some(image) => image.clone(),
        None => current(&state, environment)
            .map(|row| row.digest.clone())
            .ok_or_else(|| {
                UsageError(format!(
                    "`{environment}` runs nothing yet; name the image to deploy"
                ))
            })?,
    };
    let image = store.resolve(&reference)?;
    let digest = image.digest;
    let kind = if target.rollback {
        EventKind::Rollback
    } else {
        EventKind::Deploy
    };
    if let Err((code, reason)) = admit(home, &store, &trust, &state, environment, &digest)? {
        let event = recorder
            .event(kind, Outcome::Failure, &digest.to_string())
            .detail("env", environment)
            .detail("code", code)
            .detail("reason", reason.clone());
        let index = recorder.append(event)?;
        eprintln!(
            "error: deploy of {digest} to `{environment}` refused: {reason} (log entry {index})"
        );
        eprintln!("hint: {}", hint(code));
        return Ok(1);
    }

    let config = store.read_config(&store.read_manifest(&digest)?.config.digest)?;
    let writable = stamp_deploy::writable_paths(&config)?;
    let runtime = runtime(home)?;
    runtime
        .prepare(&store, &digest, &writable)
        .with_context(|| format!("preparing the bundle of {digest}"))?;
    let old: Vec<String> = running_instances(&state, environment);
    let used_ports: BTreeSet<u16> = old
        .iter()
        .filter_map(|id| instance_port(&runtime, id))
        .collect();
    let ports = free_ports(target.port_base, target.replicas, &used_ports)?;
    let suffix = unique_suffix();
    let mut new = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let id = instance_id(environment, &digest, &suffix, n);
        let mut spec = instance_spec(&id, &digest, &config, &writable, *port)
            .with_context(|| format!("making the runtime spec of {digest}"))?;
        spec.labels.insert("env".into(), environment.into());
        new.push(spec);
    }

    let mut append_error = None;
    let mut observe = |step: Step<'_>| {
        if let Err(error) = record_step(&mut recorder, environment, &digest, step) {
            append_error.get_or_insert(error);
        }
    };
    let healthy = |spec: &InstanceSpec, timeout: Duration| {
        stamp_deploy::health::wait_healthy(spec.port, HEALTH_PATH, timeout)
    };
    let outcome = roll_out(
        &runtime,
        &new,
        &old,
        &healthy,
        target.health_timeout,
        STOP_GRACE,
        &mut observe,
    );
    if let Some(error) = append_error {
        return Err(error);
    }
    let previous = current(&state, environment).map(|row| row.digest.clone());
    let ids: Vec<String> = new.iter().map(|spec| spec.id.clone()).collect();
    if let Err(error) = outcome {
        let event = recorder
            .event(kind, Outcome::Failure, &digest.to_string())
            .detail("env", environment)
            .detail("code", "rollout-failed")
            .detail("reason", format!("{error:#}"));
        let index = recorder.append(event)?;
        eprintln!(
            "error: deploy of {digest} to `{environment}` failed: {error} (log entry {index}); the previous instances keep running"
        );
        return Ok(1);
    }
    let mut event = recorder
        .event(kind, Outcome::Success, &digest.to_string())
        .detail("env", environment)
        .detail("image", digest.to_string())
        .detail("instances", ids.clone())
        .detail("replaced", old.clone())
        .detail("rollback", target.rollback)
        .detail(
            "endpoints",
            ports.iter().map(|port| endpoint(*port)).collect::<Vec<_>>(),
        );
    if let Some(previous) = &previous {
        event = event.detail("previous", previous.clone());
    }
    let index = recorder.append(event)?;
    match target.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "env": environment,
                "image": digest,
                "rollback": target.rollback,
                "previous": previous,
                "instances": new.iter().map(|spec| serde_json::json!({
                    "id": spec.id,
                    "port": spec.port,
                    "endpoint": endpoint(spec.port),
                })).collect::<Vec<_>>(),
                "replaced": old,
                "log_index": index,
            }))?
        ),
        OutputFormat::Text => {
            let verb = if target.rollback {
                "rolled back"
            } else {
                "deployed"
            };
            eprintln!(
                "{verb} {digest} to `{environment}`: {} healthy instance(s), {} replaced (log entry {index})",
                new.len(),
                old.len()
            );
            for spec in &new {
                println!("{}\t{}", spec.id, endpoint(spec.port));
            }
        }
    }
    Ok(0)
}

/// Record one rollout step as an `instance.start` or `instance.stop` event.
pub fn record_step(
    recorder: &mut Recorder,
    environment: &str,
    digest: &Digest,
    step: Step<'_>,
) -> anyhow::Result<u64> {
    let event = match step {
        Step::Started(spec) => {
            let mut event = recorder
                .event(EventKind::InstanceStart, Outcome::Success, &spec.id)
                .detail("env", environment)
                .detail("image", digest.to_string())
                .detail("port", spec.port)
                .detail("endpoint", endpoint(spec.port));
            if let Some(replaces) = spec.labels.get("replaces") {
                event = event.detail("replaces", replaces.clone());
            }
            event
        }
        Step::Unhealthy(spec) => recorder
            .event(EventKind::InstanceStart, Outcome::Failure, &spec.id)
            .detail("env", environment)
            .detail("image", digest.to_string())
            .detail("reason", "not healthy in time"),
        Step::Stopped(id) => recorder
            .event(EventKind::InstanceStop, Outcome::Success, id)
            .detail("env", environment),
    };
    recorder.append(event)
}

/// `Err((code, reason))` when the image may not go to `environment`.
fn admit(
    home: &Path,
    store: &Store,
    trust: &Trust,
    state: &ProjectionState,
    environment: &str,
    digest: &Digest,
) -> anyhow::Result<Result<(), (&'static str, String)>> {
    let text = digest.to_string();
    if let Some(revocation) = state.revocations.iter().find(|row| row.digest == text) {
        return Ok(Err((
            "image-revoked",
            format!(
                "the image was revoked by `{}` at log entry {} ({})",
                revocation.revoker,
                revocation.revoked_index,
                revocation.reason.as_deref().unwrap_or("no reason given")
            ),
        )));
    }
    let config = store.read_config(&store.read_manifest(digest)?.config.digest)?;
    let user = config
        .config
        .as_ref()
        .and_then(|runtime| runtime.user.clone())
        .unwrap_or_default();
    let uid = user.split(':').next().unwrap_or_default();
    if uid.is_empty() || uid == "0" || uid == "root" {
        return Ok(Err((
            "runs-as-root",
            format!(
                "the image runs as `{}`; instances run only as a non-root user",
                if user.is_empty() {
                    "root (no User)"
                } else {
                    &user
                }
            ),
        )));
    }
    let gate = state
        .images
        .iter()
        .find(|row| row.digest == text)
        .and_then(|row| row.gate_verdict.as_deref());
    if gate != Some("pass") {
        return Ok(Err((
            "gate-not-passed",
            match gate {
                Some(verdict) => format!("the last gate verdict is `{verdict}`, not `pass`"),
                None => "the image has no gate verdict".into(),
            },
        )));
    }
    let facts = open_facts(home)?;
    let mut approvals: Vec<Verified> = Vec::new();
    for referrer in referrers(store, digest)? {
        let verified = read_envelope(store, &referrer)
            .map_err(anyhow::Error::new)
            .and_then(|bytes| {
                verify_attestation(&bytes, trust, facts.as_ref()).map_err(anyhow::Error::new)
            });
        let verified = match verified {
            Ok(verified) if verified.statement.subject_digests().contains(digest) => verified,
            Ok(_) => {
                return Ok(Err((
                    "attestation-invalid",
                    format!("attestation {} is about another image", referrer.manifest),
                )))
            }
            Err(error) => {
                return Ok(Err((
                    "attestation-invalid",
                    format!(
                        "attestation {} does not verify: {error:#}",
                        referrer.manifest
                    ),
                )))
            }
        };
        // Only signatures the log recorded count (log inclusion).
        if matches!(verified.predicate, Predicate::Approval(_)) && verified.recorded_at.is_some() {
            approvals.push(verified);
        }
    }
    let count = approval_counts(trust, facts.as_ref(), digest, &approvals)
        .into_iter()
        .find(|count| count.environment == environment)
        .expect("the environment is in the trust file");
    if !count.satisfied {
        return Ok(Err((
            "not-approved",
            format!(
                "{} of {} required approval(s) for `{environment}` by identities other than the builder{}",
                count.approvers.len(),
                count.required,
                if count.approvers.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", count.approvers.join(", "))
                }
            ),
        )));
    }
    Ok(Ok(()))
}

fn hint(code: &str) -> &'static str {
    match code {
        "image-revoked" => "deploy another digest; a revoked image never runs again",
        "gate-not-passed" => "run `stamp check IMAGE`; only a passing verdict admits the image",
        "attestation-invalid" => "`stamp attestations IMAGE` shows which attestation fails",
        "runs-as-root" => {
            "set `user = \"UID:GID\"` (non-zero) under [config] in stamp.toml and rebuild"
        }
        _ => "another identity approves with `stamp approve IMAGE --env ENV --key NAME`",
    }
}

/// The environment's current row, when it runs something.
pub fn current<'a>(
    state: &'a ProjectionState,
    environment: &str,
) -> Option<&'a stamp_log::projection::EnvironmentRow> {
    state
        .environments
        .iter()
        .find(|row| row.name == environment)
}

/// Instances the log says run in `environment` (running or drifted), by id.
pub fn running_instances(state: &ProjectionState, environment: &str) -> Vec<String> {
    state
        .instances
        .iter()
        .filter(|row| row.env.as_deref() == Some(environment) && row.state != "stopped")
        .map(|row| row.id.clone())
        .collect()
}

/// The port an instance was started with, from its bundle.
pub fn instance_port(runtime: &RuncRuntime, id: &str) -> Option<u16> {
    let bytes = std::fs::read(runtime.instance_dir(id).join("instance.json")).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value["port"]
        .as_u64()
        .and_then(|port| u16::try_from(port).ok())
}

pub fn endpoint(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// `count` ports from `base` that no current instance uses.
pub fn free_ports(base: u16, count: u32, used: &BTreeSet<u16>) -> anyhow::Result<Vec<u16>> {
    let ports: Vec<u16> = (base..=u16::MAX)
        .filter(|port| !used.contains(port))
        .take(count as usize)
        .collect();
    if ports.len() < count as usize {
        return Err(UsageError(format!(
            "not enough ports from {base} for {count} instance(s)"
        ))
        .into());
    }
    Ok(ports)
}

/// A suffix that makes this rollout's instance ids unique: time in base 36.
pub fn unique_suffix() -> String {
    let mut value = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default()
        ^ u128::from(std::process::id());
    let mut text = String::new();
    while value > 0 {
        let digit = (value % 36) as u32;
        text.push(char::from_digit(digit, 36).expect("below 36"));
        value /= 36;
    }
    text.chars().take(10).collect()
}

/// `ENV-DIGEST8-SUFFIX-N`, lower case, at most 63 characters.
pub fn instance_id(environment: &str, digest: &Digest, suffix: &str, n: usize) -> String {
    let environment: String = environment
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(32)
        .collect();
    format!("{environment}-{}-{suffix}-{n}", &digest.hex()[..8])
}
