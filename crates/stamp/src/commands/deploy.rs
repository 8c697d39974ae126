//! `stamp deploy ENV [IMAGE]`: admit an image to an environment, then replace the
//! environment's instances with fresh ones from it (PCI DSS 6.5.1, 6.5.4, 6.2.3.1).
//!
//! Settings: the `[env.ENV]` table of stamp.toml (`--spec`, default `./stamp.toml` when it
//! exists) gives replicas, ports, the health check, the promotion rule, an approvals count and
//! the writable paths; flags override it for one run; defaults fill the rest ([`EnvSettings`]).
//! Roles stay in the trust file; of the two approvals counts the higher applies, and a
//! `promote_from` in either applies.
//!
//! Admission (each refusal is a failed `deploy` event naming the reason, exit 1): the image is
//! not revoked, has a passing gate verdict in the log, every attestation attached to it
//! verifies, and enough distinct identities other than its builder approved it for ENV with
//! signatures the log recorded. Then the rollout ([`stamp_deploy::rollout`]) starts the new
//! instances on runc, waits for each to pass the health check (HTTP or a command run inside the
//! instance), and stops the old ones one at a time.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
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
use stamp_image::spec::{EnvSpec, HealthProbe, HealthSpec, PortRange};
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
pub const REPLICAS_MAX: u32 = stamp_image::spec::ENV_REPLICAS_MAX;

/// Defaults when neither the `[env.ENV]` table nor a flag says.
pub const DEFAULT_REPLICAS: u32 = 1;
pub const DEFAULT_PORT: u16 = 8080;

/// How long a stopped instance gets between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// The path the health check requests.
pub const HEALTH_PATH: &str = "/health";

/// Flags given for one run; each overrides the `[env.ENV]` table and is recorded as such.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub replicas: Option<u32>,
    pub port: Option<u16>,
    pub health_timeout: Option<Duration>,
}

/// What to deploy where, resolved from flags before any work.
pub struct Target {
    pub environment: String,
    pub image: Option<String>,
    /// `--spec PATH`; `None`: `./stamp.toml` when it exists.
    pub spec: Option<PathBuf>,
    pub overrides: Overrides,
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
            spec: args.spec,
            overrides: Overrides {
                replicas: args.replicas,
                port: args.port,
                health_timeout: args.health_timeout_ms.map(Duration::from_millis),
            },
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
    let started = std::time::Instant::now();
    if let Some(replicas) = target.overrides.replicas {
        if replicas == 0 || replicas > REPLICAS_MAX {
            return Err(UsageError(format!(
                "--replicas must be from 1 to {REPLICAS_MAX}, not {replicas}"
            ))
            .into());
        }
    }
    let settings = EnvSettings::resolve(
        target.spec.as_deref(),
        &target.environment,
        target.overrides.clone(),
    )?;
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
    let config = store.read_config(&store.read_manifest(&digest)?.config.digest)?;
    let image_writable = stamp_deploy::writable_paths(&config)?;
    let admitted = admit(
        home,
        &store,
        &trust,
        &state,
        &recorder.log,
        environment,
        &digest,
        &settings,
    )?;
    let required = settings.required_approvals(policy.approvals);
    let promote_from = settings.promote_from(policy.promote_from.as_deref());
    let writable = settings.writable(&image_writable);
    let settings_json = settings.to_json(
        required,
        &promote_from,
        writable.as_ref().unwrap_or(&image_writable),
    );
    let decision = admitted.and(writable);
    let writable = match decision {
        Ok(writable) => writable,
        Err((code, reason)) => {
            let event = recorder
                .event(kind, Outcome::Failure, &digest.to_string())
                .detail("env", environment)
                .detail("code", code)
                .detail("reason", reason.clone())
                .detail("env_settings", settings_json);
            let index = recorder.append(event)?;
            eprintln!(
                "error: deploy of {digest} to `{environment}` refused: {reason} (log entry {index})"
            );
            eprintln!("hint: {}", hint(code));
            return Ok(1);
        }
    };

    let admitted_at = started.elapsed();
    let runtime = runtime(home)?;
    runtime
        .prepare(&store, &digest, &image_writable)
        .with_context(|| format!("preparing the bundle of {digest}"))?;
    let prepared_at = started.elapsed();
    let old: Vec<String> = running_instances(&state, environment);
    let used_ports: BTreeSet<u16> = old
        .iter()
        .filter_map(|id| instance_port(&runtime, id))
        .collect();
    let ports = free_ports_in(settings.ports, settings.replicas, &used_ports)?;
    let suffix = unique_suffix();
    let mut new = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let id = instance_id(environment, &digest, &suffix, n);
        let mut spec = instance_spec(&id, &digest, &config, &writable, *port)
            .with_context(|| format!("making the runtime spec of {digest}"))?;
        spec.labels.insert("env".into(), environment.into());
        spec.health = Some(settings.health.probe.clone());
        new.push(spec);
    }

    let mut append_error = None;
    let mut observe = |step: Step<'_>| {
        if let Err(error) = record_step(&mut recorder, environment, &digest, step) {
            append_error.get_or_insert(error);
        }
    };
    let last_failure = RefCell::new(None);
    // When the last new instance passed (old ones are stopped only after that).
    let healthy_at = std::cell::Cell::new(None);
    let healthy =
        |spec: &InstanceSpec, timeout: Duration| match stamp_deploy::health::wait_until_healthy(
            &runtime,
            spec,
            &settings.health.probe,
            timeout,
        ) {
            Ok(()) => {
                healthy_at.set(Some(started.elapsed()));
                true
            }
            Err(why) => {
                last_failure.replace(Some(why));
                false
            }
        };
    let outcome = roll_out(
        &runtime,
        &new,
        &old,
        &healthy,
        settings.health.timeout,
        STOP_GRACE,
        &mut observe,
    );
    if let Some(error) = append_error {
        return Err(error);
    }
    let previous = current(&state, environment).map(|row| row.digest.clone());
    let ids: Vec<String> = new.iter().map(|spec| spec.id.clone()).collect();
    if let Err(error) = outcome {
        let reason = match last_failure.into_inner() {
            Some(why) => format!("{error:#}: {why}"),
            None => format!("{error:#}"),
        };
        let event = recorder
            .event(kind, Outcome::Failure, &digest.to_string())
            .detail("env", environment)
            .detail("code", "rollout-failed")
            .detail("reason", reason.clone())
            .detail("env_settings", settings_json);
        let index = recorder.append(event)?;
        eprintln!(
            "error: deploy of {digest} to `{environment}` failed: {reason} (log entry {index}); the previous instances keep running"
        );
        eprintln!("hint: {}", hint("rollout-failed"));
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
        )
        .detail("env_settings", settings_json.clone());
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
                "env_settings": settings_json,
                "log_index": index,
                // Milliseconds from the start of the deploy: admitted, bundle ready, every new
                // instance healthy, done (old instances stopped, event written).
                "timing_ms": {
                    "admitted": admitted_at.as_millis() as u64,
                    "prepared": prepared_at.as_millis() as u64,
                    "healthy": healthy_at.get().map(|at| at.as_millis() as u64),
                    "done": started.elapsed().as_millis() as u64,
                },
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
#[allow(clippy::too_many_arguments)]
fn admit(
    home: &Path,
    store: &Store,
    trust: &Trust,
    state: &ProjectionState,
    log: &SqliteLog,
    environment: &str,
    digest: &Digest,
    settings: &EnvSettings,
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
    if let Err(refusal) = approved(
        home,
        store,
        trust,
        environment,
        digest,
        settings.approvals(),
    )? {
        return Ok(Err(refusal));
    }
    let trust_from = trust
        .environment(environment)
        .and_then(|policy| policy.promote_from.as_deref());
    for from in settings.promote_from(trust_from) {
        // The evidence itself, not only the promotion: an instance of the digest passed its
        // health check in the source environment.
        if ran_healthy(log, digest, &from)?.is_none() {
            return Ok(Err((
                "not-healthy-in-source",
                format!(
                    "`{environment}` takes only digests that ran healthy in `{from}`, and the log shows no healthy run of this one there"
                ),
            )));
        }
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
/// `spec_approvals` is the `[env.ENV]` table's count: the higher of it and the trust file's
/// applies, so editing stamp.toml can raise the floor but never lower it.
pub fn approved(
    home: &Path,
    store: &Store,
    trust: &Trust,
    environment: &str,
    digest: &Digest,
    spec_approvals: Option<u32>,
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
    let required = count.required.max(spec_approvals.unwrap_or(0));
    if count.approvers.len() < required as usize {
        return Ok(Err((
            "not-approved",
            format!(
                "{} of {} required approval(s) for `{environment}` by identities other than the builder{}",
                count.approvers.len(),
                required,
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

/// The log index of the first event showing an instance of `digest` passed its health check
/// in `environment`: a successful `deploy` or `rollback` of it there that lists its instances
/// (written only after every listed instance passed). An `instance.start` alone is not enough:
/// it is recorded when the instance starts, before its health check.
pub fn ran_healthy(
    log: &SqliteLog,
    digest: &Digest,
    environment: &str,
) -> anyhow::Result<Option<u64>> {
    let text = digest.to_string();
    scan_events(log, |_, event| {
        let details = event.details();
        matches!(event.kind(), EventKind::Deploy | EventKind::Rollback)
            && event.outcome() == Outcome::Success
            && event.subject() == text
            && details.get("env").and_then(|value| value.as_str()) == Some(environment)
            && details
                .get("instances")
                .and_then(|value| value.as_array())
                .is_some_and(|instances| !instances.is_empty())
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
        "rollout-failed" => {
            "`stamp status ENV` and the instance's stderr.log under .stamp/instances/ show why the health check failed"
        }
        "writable-not-declared" => {
            "list only paths the image declares writable (`writable` under [image] in its stamp.toml), or rebuild the image declaring them"
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
    free_ports_in(
        PortRange {
            first: base,
            last: None,
        },
        count,
        used,
    )
}

/// `count` ports of `range` that no current instance uses and nothing listens on.
pub fn free_ports_in(
    range: PortRange,
    count: u32,
    used: &BTreeSet<u16>,
) -> anyhow::Result<Vec<u16>> {
    // Instances share the host's network: a port some other program (or another store's
    // instance) listens on would make the new instance fail its health check, so skip it.
    let last = range.last.unwrap_or(u16::MAX);
    let ports: Vec<u16> = (range.first..=last)
        .filter(|port| !used.contains(port))
        .filter(|port| std::net::TcpListener::bind(("0.0.0.0", *port)).is_ok())
        .take(count as usize)
        .collect();
    if ports.len() < count as usize {
        return Err(UsageError(format!(
            "not enough free ports in {} for {count} instance(s) (the instances being replaced keep theirs until the new ones are healthy)",
            port_text(range)
        ))
        .into());
    }
    Ok(ports)
}

fn port_text(range: PortRange) -> String {
    match range.last {
        Some(last) => format!("{}-{last}", range.first),
        None => format!("{}-", range.first),
    }
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

/// The settings one deploy runs with: the `[env.ENV]` table (when stamp.toml has one), the
/// flags over it for this run, the defaults under it.
#[derive(Clone, Debug)]
pub struct EnvSettings {
    /// The spec file and its `[env.ENV]` table.
    pub table: Option<(PathBuf, EnvSpec)>,
    pub replicas: u32,
    pub ports: PortRange,
    pub health: HealthSpec,
    pub overrides: Overrides,
}

impl EnvSettings {
    /// Read `[env.ENVIRONMENT]` from `spec` (default `./stamp.toml` when it exists) and lay the
    /// flags over it. A spec with `[env.*]` tables but none for ENVIRONMENT is a usage error; a
    /// spec with none at all (or no spec) leaves the flags and defaults.
    pub fn resolve(
        spec: Option<&Path>,
        environment: &str,
        overrides: Overrides,
    ) -> anyhow::Result<EnvSettings> {
        let path = match spec {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from("stamp.toml")).filter(|path| path.is_file()),
        };
        let mut table = None;
        if let Some(path) = path {
            let mut environments = stamp_image::spec::load_environments(&path)?;
            match environments.remove(environment) {
                Some(found) => table = Some((path, found)),
                None if environments.is_empty() => {}
                None => {
                    return Err(UsageError(format!(
                        "`{}` has no [env.{environment}] table (it has: {})",
                        path.display(),
                        environments.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                    .into())
                }
            }
        }
        let env = table.as_ref().map(|(_, env)| env);
        let health = env
            .and_then(|env| env.health.clone())
            .unwrap_or(HealthSpec {
                probe: HealthProbe::Http(HEALTH_PATH.into()),
                timeout: stamp_image::spec::HEALTH_TIMEOUT_DEFAULT,
            });
        Ok(EnvSettings {
            replicas: overrides
                .replicas
                .or(env.and_then(|env| env.replicas))
                .unwrap_or(DEFAULT_REPLICAS),
            ports: match overrides.port {
                Some(first) => PortRange { first, last: None },
                None => env.and_then(|env| env.port).unwrap_or(PortRange {
                    first: DEFAULT_PORT,
                    last: None,
                }),
            },
            health: HealthSpec {
                timeout: overrides.health_timeout.unwrap_or(health.timeout),
                ..health
            },
            overrides,
            table,
        })
    }

    fn env(&self) -> Option<&EnvSpec> {
        self.table.as_ref().map(|(_, env)| env)
    }

    /// The table's approvals count, if it gives one.
    pub fn approvals(&self) -> Option<u32> {
        self.env().and_then(|env| env.approvals)
    }

    /// The approvals that apply: the higher of the trust file's and the table's.
    pub fn required_approvals(&self, trust: u32) -> u32 {
        trust.max(self.approvals().unwrap_or(0))
    }

    /// Every environment a digest must have run healthy in first: the trust file's
    /// `promote_from` and the table's, both when they differ.
    pub fn promote_from(&self, trust: Option<&str>) -> Vec<String> {
        let sources: BTreeSet<String> = trust
            .map(str::to_string)
            .into_iter()
            .chain(self.env().and_then(|env| env.promote_from.clone()))
            .collect();
        sources.into_iter().collect()
    }

    /// The instance's writable paths: the table's, which must all be declared writable by the
    /// image (an environment can narrow what the image may write, never widen it); else the
    /// image's own.
    pub fn writable(&self, image: &[String]) -> Result<Vec<String>, (&'static str, String)> {
        let Some(paths) = self.env().and_then(|env| env.writable.as_ref()) else {
            return Ok(image.to_vec());
        };
        let paths: Vec<String> = paths.iter().map(|path| path.absolute()).collect();
        let undeclared: Vec<&str> = paths
            .iter()
            .filter(|path| !image.contains(path))
            .map(String::as_str)
            .collect();
        if !undeclared.is_empty() {
            return Err((
                "writable-not-declared",
                format!(
                    "the environment makes {} writable, which the image does not declare writable (it declares: {})",
                    undeclared.join(", "),
                    if image.is_empty() { "nothing".to_string() } else { image.join(", ") }
                ),
            ));
        }
        Ok(paths)
    }

    /// What the deploy event records: the settings used, where they came from (the spec file
    /// and the SHA-256 of its `[env.ENV]` table) and which flags overrode them.
    pub fn to_json(
        &self,
        required_approvals: u32,
        promote_from: &[String],
        writable: &[String],
    ) -> serde_json::Value {
        let mut overrides = BTreeMap::new();
        if let Some(replicas) = self.overrides.replicas {
            overrides.insert("replicas", serde_json::json!(replicas));
        }
        if let Some(port) = self.overrides.port {
            overrides.insert("port", serde_json::json!(port));
        }
        if let Some(timeout) = self.overrides.health_timeout {
            overrides.insert(
                "health_timeout_ms",
                serde_json::json!(timeout.as_millis() as u64),
            );
        }
        serde_json::json!({
            "spec": self.table.as_ref().map(|(path, _)| path.display().to_string()),
            "table_sha256": self.env().map(|env| env.sha256.to_string()),
            "target": "local",
            "replicas": self.replicas,
            "port": port_text(self.ports),
            "health": self.health.probe,
            "health_timeout_ms": self.health.timeout.as_millis() as u64,
            "approvals": required_approvals,
            "promote_from": promote_from,
            "writable": writable,
            "overrides": overrides,
        })
    }
}

/// The health check instance `id` was deployed with (`GET /health` when it recorded none).
pub fn instance_health(runtime: &RuncRuntime, id: &str) -> HealthProbe {
    std::fs::read(runtime.instance_dir(id).join("instance.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|value| serde_json::from_value(value["health"].clone()).ok())
        .unwrap_or_else(|| HealthProbe::Http(HEALTH_PATH.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[image]\nname = \"a\"\n[base]\nscratch = true\n";

    fn spec_file(dir: &Path, tables: &str) -> PathBuf {
        let path = dir.join("stamp.toml");
        std::fs::write(&path, format!("{HEAD}{tables}")).unwrap();
        path
    }

    #[test]
    fn without_a_table_the_flags_and_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = spec_file(dir.path(), "");
        let settings = EnvSettings::resolve(Some(&path), "dev", Overrides::default()).unwrap();
        assert!(settings.table.is_none());
        assert_eq!(settings.replicas, DEFAULT_REPLICAS);
        assert_eq!(
            settings.ports,
            PortRange {
                first: DEFAULT_PORT,
                last: None
            }
        );
        assert_eq!(settings.health.probe, HealthProbe::Http(HEALTH_PATH.into()));
        let json = settings.to_json(1, &[], &["/tmp".into()]);
        assert_eq!(json["spec"], serde_json::Value::Null);
        assert_eq!(json["table_sha256"], serde_json::Value::Null);
        assert_eq!(json["port"], "8080-");
    }

    #[test]
    fn flags_override_the_table_and_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = spec_file(
            dir.path(),
            "[env.dev]\nreplicas = 3\nport = \"9000-9009\"\n\
             health = { command = [\"/bin/check\"], timeout = \"4s\" }\n",
        );
        let table = EnvSettings::resolve(Some(&path), "dev", Overrides::default()).unwrap();
        assert_eq!(table.replicas, 3);
        assert_eq!(table.ports.last, Some(9009));
        assert_eq!(table.health.timeout, Duration::from_secs(4));
        let overrides = Overrides {
            replicas: Some(1),
            port: Some(7000),
            health_timeout: Some(Duration::from_millis(1500)),
        };
        let flagged = EnvSettings::resolve(Some(&path), "dev", overrides).unwrap();
        assert_eq!(flagged.replicas, 1);
        assert_eq!(
            flagged.ports,
            PortRange {
                first: 7000,
                last: None
            }
        );
        assert_eq!(flagged.health.timeout, Duration::from_millis(1500));
        assert_eq!(
            flagged.health.probe,
            HealthProbe::Command(vec!["/bin/check".into()])
        );
        let json = flagged.to_json(1, &[], &[]);
        assert_eq!(
            json["overrides"],
            serde_json::json!({"replicas": 1, "port": 7000, "health_timeout_ms": 1500})
        );
        assert_eq!(
            json["table_sha256"],
            table.to_json(1, &[], &[])["table_sha256"]
        );
        assert_eq!(
            json["health"],
            serde_json::json!({"command": ["/bin/check"]})
        );
    }

    #[test]
    fn the_trust_file_sets_the_floor_and_rules_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = spec_file(
            dir.path(),
            "[env.prod]\napprovals = 3\npromote_from = \"staging\"\nwritable = [\"/tmp\"]\n\
             [env.dev]\napprovals = 0\n",
        );
        let prod = EnvSettings::resolve(Some(&path), "prod", Overrides::default()).unwrap();
        assert_eq!(prod.required_approvals(2), 3);
        assert_eq!(prod.required_approvals(5), 5);
        assert_eq!(prod.promote_from(None), ["staging"]);
        assert_eq!(prod.promote_from(Some("staging")), ["staging"]);
        assert_eq!(prod.promote_from(Some("qa")), ["qa", "staging"]);
        let dev = EnvSettings::resolve(Some(&path), "dev", Overrides::default()).unwrap();
        assert_eq!(
            dev.required_approvals(1),
            1,
            "0 in stamp.toml lowers nothing"
        );
        // Writable paths: a subset of the image's, never more.
        let image = ["/tmp".to_string(), "/var/lib/app".to_string()];
        assert_eq!(prod.writable(&image).unwrap(), ["/tmp"]);
        assert_eq!(dev.writable(&image).unwrap(), image);
        let (code, reason) = prod.writable(&["/var/lib/app".into()]).unwrap_err();
        assert_eq!(code, "writable-not-declared");
        assert!(reason.contains("/tmp"), "{reason}");
    }

    #[test]
    fn a_spec_with_other_environments_only_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = spec_file(dir.path(), "[env.staging]\n[env.prod]\n");
        let error = EnvSettings::resolve(Some(&path), "dev", Overrides::default()).unwrap_err();
        let message = format!("{error:#}");
        assert!(error.downcast_ref::<UsageError>().is_some(), "{message}");
        assert!(
            message.contains("no [env.dev] table (it has: prod, staging)"),
            "{message}"
        );
    }

    #[test]
    fn ports_come_from_the_range_only() {
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let taken = listener.local_addr().unwrap().port();
        let first = taken.saturating_sub(1).max(1);
        let used = BTreeSet::from([first]);
        let range = PortRange {
            first,
            last: Some(taken.saturating_add(3)),
        };
        let ports = free_ports_in(range, 2, &used).unwrap();
        assert!(
            !ports.contains(&first) && !ports.contains(&taken),
            "{ports:?}"
        );
        assert!(ports
            .iter()
            .all(|port| (first..=taken.saturating_add(3)).contains(port)));
        let tight = PortRange {
            first: taken,
            last: Some(taken),
        };
        let error = free_ports_in(tight, 1, &BTreeSet::new()).unwrap_err();
        assert!(
            format!("{error}").contains("not enough free ports"),
            "{error}"
        );
    }
}
