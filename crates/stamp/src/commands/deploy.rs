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
use stamp_attest::policy::check_signer;
use stamp_attest::referrers::{read_envelope, referrers};
use stamp_attest::{verify_attestation, Predicate, Trust, Verified};
use stamp_core::event::{EventKind, Outcome};
use stamp_core::Digest;
use stamp_deploy::rollout::{roll_out, Step};
use stamp_deploy::runc::{instance_spec, RuncRuntime};
use stamp_deploy::runtime::InstanceSpec;
use stamp_image::Store;
use stamp_log::projection::ProjectionState;
use stamp_log::SqliteLog;

use super::attestations::{approval_counts, open_facts};
use super::signing::{
    load_acting_key, load_trust_recorded, read_facts, refuse, scan_events, trust_path,
};
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
    /// The acting identity's key (`--key`/$STAMP_KEY; default: the store's default key): it
    /// must hold one of the environment's `deployer_roles`.
    pub key: Option<String>,
}

pub fn run(home: Option<&Path>, key: Option<&str>, args: DeployArgs) -> anyhow::Result<u8> {
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
            key: key.map(str::to_string),
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
    // The acting identity must be a deployer of ENV, unrevoked (PCI DSS 6.5.4, 7.2.1).
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(home, &mut recorder, &mut facts)?;
    let Some(policy) = trust.environment(environment) else {
        return Err(UsageError(format!(
            "no environment `{environment}` in the trust file (it changed while deploying)"
        ))
        .into());
    };
    let (key, _) = load_acting_key(home, target.key.as_deref())?;
    let identity = trust.by_key_id(key.key_id());
    if let Some(identity) = identity {
        recorder.set_actor(&identity.name);
    }
    let action = format!("deploy to `{environment}`");
    if let Err(refusal) = check_signer(
        identity,
        key.key_id(),
        &facts.key_revocations,
        &policy.deployer_roles,
        &action,
    ) {
        let index = refuse(
            &mut recorder,
            kind,
            &digest.to_string(),
            &refusal,
            key.key_id(),
            Some(environment),
        )?;
        eprintln!(
            "error: deploy of {digest} to `{environment}` refused: {refusal} (log entry {index})"
        );
        eprintln!("hint: {}", hint(refusal.code()));
        return Ok(1);
    }
    let admitted = admit(
        home,
        &store,
        &trust,
        &state,
        &recorder.log,
        environment,
        &digest,
    )?;
    if let Err((code, reason)) = admitted {
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
    log: &SqliteLog,
    environment: &str,
    digest: &Digest,
) -> anyhow::Result<Result<(), (&'static str, String)>> {
    let text = digest.to_string();
    if let Err(refusal) = not_revoked(state, digest) {
        return Ok(Err(refusal));
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
    if let Err(refusal) = approved(home, store, trust, environment, digest)? {
        return Ok(Err(refusal));
    }
    let promote_from = trust
        .environment(environment)
        .and_then(|policy| policy.promote_from.as_deref());
    if let Some(from) = promote_from {
        if promotion(log, digest, environment)?.is_none() {
            return Ok(Err((
                "not-promoted",
                format!(
                    "`{environment}` takes only digests promoted from `{from}`, and this one was not promoted to it"
                ),
            )));
        }
    }
    Ok(Ok(()))
}

/// `Err(("image-revoked", reason))` when a `revoke` event names `digest`.
pub fn not_revoked(state: &ProjectionState, digest: &Digest) -> Result<(), (&'static str, String)> {
    let text = digest.to_string();
    match state.revocations.iter().find(|row| row.digest == text) {
        Some(revocation) => Err((
            "image-revoked",
            format!(
                "the image was revoked by `{}` at log entry {} ({})",
                revocation.revoker,
                revocation.revoked_index,
                revocation.reason.as_deref().unwrap_or("no reason given")
            ),
        )),
        None => Ok(()),
    }
}

/// Whether `digest` has the approvals `environment` requires: every attestation attached to
/// it verifies, and enough distinct identities other than its builder approved it for
/// `environment` with signatures the log recorded. `Err((code, reason))` when not.
pub fn approved(
    home: &Path,
    store: &Store,
    trust: &Trust,
    environment: &str,
    digest: &Digest,
) -> anyhow::Result<Result<(), (&'static str, String)>> {
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

/// The log index of the first event showing `digest` ran healthy in `environment`: a
/// successful `instance.start`, `deploy` or `rollback` of it there.
pub fn ran_healthy(
    log: &SqliteLog,
    digest: &Digest,
    environment: &str,
) -> anyhow::Result<Option<u64>> {
    let text = digest.to_string();
    scan_events(log, |_, event| {
        let details = event.details();
        let in_environment =
            details.get("env").and_then(|value| value.as_str()) == Some(environment);
        if event.outcome() != Outcome::Success || !in_environment {
            return false;
        }
        match event.kind() {
            EventKind::InstanceStart => {
                details.get("image").and_then(|value| value.as_str()) == Some(text.as_str())
            }
            EventKind::Deploy | EventKind::Rollback => event.subject() == text,
            _ => false,
        }
    })
}

/// The log index of the first successful `promote` event of `digest` to `environment`.
pub fn promotion(
    log: &SqliteLog,
    digest: &Digest,
    environment: &str,
) -> anyhow::Result<Option<u64>> {
    let text = digest.to_string();
    scan_events(log, |_, event| {
        event.kind() == EventKind::Promote
            && event.outcome() == Outcome::Success
            && event.subject() == text
            && event.details().get("env").and_then(|value| value.as_str()) == Some(environment)
    })
}

pub fn hint(code: &str) -> &'static str {
    match code {
        "missing-role" | "unknown-key" => {
            "deploy as an identity with a deployer role: `stamp deploy ENV IMAGE --key NAME` (an admin adds one with `stamp key new --name NAME --role deployer`)"
        }
        "key-revoked" => "a revoked identity deploys nothing; use another deployer's key",
        "image-revoked" => "deploy another digest; a revoked image never runs again",
        "gate-not-passed" => "run `stamp check IMAGE`; only a passing verdict admits the image",
        "attestation-invalid" => "`stamp attestations IMAGE` shows which attestation fails",
        "not-promoted" => {
            "promote the digest first: `stamp promote IMAGE --to ENV`, once it ran healthy in the source environment"
        }
        "not-healthy-in-source" => {
            "deploy the digest to the source environment first; it must run healthy there"
        }
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
    // Instances share the host's network: a port some other program (or another store's
    // instance) listens on would make the new instance fail its health check, so skip it.
    let ports: Vec<u16> = (base..=u16::MAX)
        .filter(|port| !used.contains(port))
        .filter(|port| std::net::TcpListener::bind(("0.0.0.0", *port)).is_ok())
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
