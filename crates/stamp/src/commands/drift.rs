//! `stamp drift ENV|INSTANCE` and `stamp drift --path DIR --image IMAGE`: compare a root
//! filesystem with its image's file manifest and record each run as a `drift` event (PCI DSS
//! 11.5.2, 10.7.2).
//!
//! Where drift can be in an instance: its root is the shared bundle of its digest, mounted
//! read-only, so the instance itself can write only into its writable tmpfs paths (excluded:
//! that is the service's own data). What remains is change from outside — someone on the host
//! editing the shared bundle (which every instance of the digest then runs), or a mount added
//! into the instance's namespace. Both show in the instance's own view of its root,
//! `/proc/PID/root`, which is what is checked; `/proc` and `/dev` (kernel and device trees,
//! mount points the runtime adds) are skipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use stamp_core::event::{EventKind, Outcome};
use stamp_core::Digest;
use stamp_deploy::drift::{self, DriftReport};
use stamp_deploy::quarantine;
use stamp_deploy::rollout::{roll_out, Step};
use stamp_deploy::runc::{RuncRuntime, RUNTIME_MOUNT_POINTS};
use stamp_deploy::runtime::{InstanceState, Runtime};
use stamp_image::Store;
use stamp_log::projection::InstanceRow;

use super::UsageError;

/// How long a replacement instance has to become healthy.
const HEAL_HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

use crate::cli::{DriftArgs, OutputFormat};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, args: DriftArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    match (&args.target, &args.path, &args.image) {
        (Some(target), _, _) => run_instances(&home, &store, target, args.heal, args.format),
        (None, Some(path), Some(image)) => run_path(&home, &store, path, image, args.format),
        _ => Err(
            UsageError("name an environment or instance, or give --path and --image".into()).into(),
        ),
    }
}

fn run_path(
    home: &Path,
    store: &Store,
    path: &Path,
    image: &str,
    format: OutputFormat,
) -> anyhow::Result<u8> {
    let home = home.to_path_buf();
    let image = store.resolve(image)?;
    let root = path
        .canonicalize()
        .with_context(|| format!("reading `{}`", path.display()))?;
    let root_text = root.display().to_string();
    let manifest = store
        .file_manifest(&image.digest)
        .with_context(|| format!("reading the file manifest of {}", image.digest))?;
    let config = store.read_config(&store.read_manifest(&image.digest)?.config.digest)?;
    let excluded = drift::writable_paths(&config)
        .with_context(|| format!("reading the writable paths of {}", image.digest))?;
    let mut recorder = Recorder::open_or_init(&home)?.recorder;
    let report = match drift::check_tree(&manifest, &root, &excluded) {
        Ok(report) => report,
        Err(error) => {
            // A check that could not run is itself a control failure worth recording.
            let event = recorder
                .event(EventKind::Drift, Outcome::Failure, &root_text)
                .detail("path", root_text.clone())
                .detail("image", image.digest.to_string())
                .detail("drifted", false)
                .detail("error", error.to_string());
            recorder.append(event)?;
            return Err(error).with_context(|| format!("checking `{root_text}` for drift"));
        }
    };
    let event = event_details(
        recorder.event(EventKind::Drift, Outcome::Success, &root_text),
        &report,
    )
    .detail("path", root_text.clone())
    .detail("image", image.digest.to_string());
    let index = recorder.append(event)?;
    render(
        &report,
        &root_text,
        &image.digest.to_string(),
        index,
        format,
    )?;
    Ok(if report.drifted { 1 } else { 0 })
}

/// Check every running instance of an environment, or one instance.
fn run_instances(
    home: &Path,
    store: &Store,
    target: &str,
    heal: bool,
    format: OutputFormat,
) -> anyhow::Result<u8> {
    let mut recorder = Recorder::open(home)?;
    let state = recorder.log.projection_state()?;
    let rows: Vec<_> = state
        .instances
        .iter()
        .filter(|row| row.state != "stopped")
        .filter(|row| row.id == target || row.env.as_deref() == Some(target))
        .cloned()
        .collect();
    if rows.is_empty() {
        return Err(UsageError(format!(
            "no running instance or environment named `{target}`"
        ))
        .into());
    }
    let runtime = super::deploy::runtime(home)?;
    let mut reports = Vec::new();
    let mut any_drift = false;
    for row in rows {
        let digest: Digest = row
            .digest
            .as_deref()
            .unwrap_or_default()
            .parse()
            .with_context(|| format!("the log names no image for instance `{}`", row.id))?;
        let manifest = store
            .file_manifest(&digest)
            .with_context(|| format!("reading the file manifest of {digest}"))?;
        let config = store.read_config(&store.read_manifest(&digest)?.config.digest)?;
        let mut excluded = drift::writable_paths(&config)?;
        excluded.extend(RUNTIME_MOUNT_POINTS.iter().map(|path| path.to_string()));
        excluded.sort();
        excluded.dedup();
        let scanned = runtime
            .state(&row.id)
            .map_err(anyhow::Error::new)
            .and_then(|status| {
                let pid = status
                    .pid
                    .filter(|_| status.state == InstanceState::Running)
                    .ok_or_else(|| anyhow::anyhow!("instance `{}` is not running", row.id))?;
                let root = PathBuf::from(format!("/proc/{pid}/root"));
                let entries = drift::scan_instance_root(&root, &RUNTIME_MOUNT_POINTS)?;
                Ok((root, entries))
            });
        let (instance_root, entries) = match scanned {
            Ok(scanned) => scanned,
            Err(error) => {
                let event = recorder
                    .event(EventKind::Drift, Outcome::Failure, &row.id)
                    .detail("image", digest.to_string())
                    .detail("drifted", false)
                    .detail("error", format!("{error:#}"));
                recorder.append(event)?;
                return Err(error.context(format!("checking instance `{}` for drift", row.id)));
            }
        };
        let report = drift::report(&manifest, &entries, &excluded);
        let mut event = event_details(
            recorder.event(EventKind::Drift, Outcome::Success, &row.id),
            &report,
        )
        .detail("image", digest.to_string());
        if let Some(env) = &row.env {
            event = event.detail("env", env.clone());
        }
        let quarantine = if heal && report.drifted {
            let destination = home.join("quarantine").join(format!(
                "{}-{}.tar",
                row.id,
                super::deploy::unique_suffix()
            ));
            let archive = quarantine::archive(&instance_root, &entries, &destination)
                .with_context(|| format!("keeping a quarantine copy of instance `{}`", row.id))?;
            let detail = serde_json::json!({
                "path": archive.path.display().to_string(),
                "sha256": archive.digest.hex(),
                "size_bytes": archive.size_bytes,
            });
            event = event.detail("quarantine", detail.clone());
            Some(detail)
        } else {
            None
        };
        let index = recorder.append(event)?;
        let replacement = match &quarantine {
            Some(_) => Some(replace(
                store,
                &mut recorder,
                &runtime,
                &row,
                &digest,
                &manifest,
                &excluded,
            )?),
            None => None,
        };
        any_drift |= report.drifted;
        if format == OutputFormat::Text {
            render(
                &report,
                &format!("instance {}", row.id),
                &digest.to_string(),
                index,
                format,
            )?;
        }
        let mut value = serde_json::to_value(&report)?;
        value["instance"] = row.id.clone().into();
        value["env"] = row.env.clone().into();
        value["image"] = digest.to_string().into();
        value["log_index"] = index.into();
        value["quarantine"] = quarantine.into();
        value["replacement"] = replacement.into();
        reports.push(value);
    }
    if format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "instances": reports }))?
        );
    }
    Ok(if any_drift { 1 } else { 0 })
}

/// Replace the drifted instance `row` with a fresh one from the verified image: re-unpack the
/// shared bundle when the host copy itself drifted, start the new instance, wait for health,
/// stop the drifted one. Returns the new instance id.
fn replace(
    store: &Store,
    recorder: &mut Recorder,
    runtime: &RuncRuntime,
    row: &InstanceRow,
    digest: &Digest,
    manifest: &stamp_image::FileManifest,
    excluded: &[String],
) -> anyhow::Result<String> {
    let environment = row.env.clone().unwrap_or_default();
    let config = store.read_config(&store.read_manifest(digest)?.config.digest)?;
    let writable = drift::writable_paths(&config)?;
    let bundle = runtime.rootfs_path(digest);
    if drift::check_tree(manifest, &bundle, excluded)?.drifted {
        // Set the tampered tree aside (running instances keep their mount of it) and unpack
        // the image again from the store, whose blobs are checked against their digests.
        let aside = bundle.with_file_name(format!("tampered-{}", super::deploy::unique_suffix()));
        std::fs::rename(&bundle, &aside)
            .with_context(|| format!("moving the tampered bundle `{}` aside", bundle.display()))?;
        runtime.prepare(store, digest, &writable)?;
    }
    let state = recorder.log.projection_state()?;
    let used: std::collections::BTreeSet<u16> =
        super::deploy::running_instances(&state, &environment)
            .iter()
            .filter_map(|id| super::deploy::instance_port(runtime, id))
            .collect();
    let old_port = super::deploy::instance_port(runtime, &row.id).unwrap_or(8080);
    let port = super::deploy::free_ports(old_port, 1, &used)?[0];
    let id = super::deploy::instance_id(&environment, digest, &super::deploy::unique_suffix(), 0);
    let mut spec = stamp_deploy::runc::instance_spec(&id, digest, &config, &writable, port)?;
    spec.labels.insert("env".into(), environment.clone());
    spec.labels.insert("replaces".into(), row.id.clone());
    let mut append_error = None;
    let mut observe = |step: Step<'_>| {
        if let Err(error) = super::deploy::record_step(recorder, &environment, digest, step) {
            append_error.get_or_insert(error);
        }
    };
    let healthy = |spec: &stamp_deploy::runtime::InstanceSpec, timeout: Duration| {
        stamp_deploy::health::wait_healthy(spec.port, super::deploy::HEALTH_PATH, timeout)
    };
    let outcome = roll_out(
        runtime,
        std::slice::from_ref(&spec),
        std::slice::from_ref(&row.id),
        &healthy,
        HEAL_HEALTH_TIMEOUT,
        super::deploy::STOP_GRACE,
        &mut observe,
    );
    if let Some(error) = append_error {
        return Err(error);
    }
    outcome.with_context(|| format!("replacing drifted instance `{}`", row.id))?;
    Ok(id)
}

/// The details every `drift` event carries: verdict, counts, exclusions and the list digest.
pub fn event_details(
    event: stamp_core::event::EventBuilder,
    report: &DriftReport,
) -> stamp_core::event::EventBuilder {
    event
        .detail("drifted", report.drifted)
        .detail(
            "counts",
            serde_json::to_value(&report.counts).expect("counts serialize"),
        )
        .detail("differences", report.differences.len() as u64)
        .detail("differences_sha256", report.differences_sha256.clone())
        .detail("excluded", report.excluded.clone())
        .detail("entries_checked", report.entries_checked)
}

fn render(
    report: &DriftReport,
    root: &str,
    image: &str,
    index: u64,
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => {
            let mut value = serde_json::to_value(report)?;
            value["path"] = root.into();
            value["image"] = image.into();
            value["log_index"] = index.into();
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        OutputFormat::Text => {
            for difference in &report.differences {
                let expected = difference.expected.as_deref().unwrap_or("-");
                let actual = difference.actual.as_deref().unwrap_or("-");
                println!(
                    "{}\t{}\texpected {expected}\tfound {actual}",
                    difference.code, difference.path
                );
            }
            for path in &report.excluded {
                eprintln!("excluded (declared writable): {path}");
            }
            if report.drifted {
                eprintln!(
                    "drift: `{root}` differs from {image} in {} place(s) (log entry {index}, list sha256 {})",
                    report.differences.len(),
                    report.differences_sha256
                );
                eprintln!("hint: a drifted instance is replaced from its image, never patched");
            } else {
                eprintln!(
                    "no drift: `{root}` matches {image} ({} entries checked, log entry {index})",
                    report.entries_checked
                );
            }
        }
    }
    Ok(())
}
