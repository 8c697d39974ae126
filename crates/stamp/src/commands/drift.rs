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
//!
//! The schedule (11.5.2: at least weekly): `--watch INTERVAL` repeats the check, and before
//! each run compares the target's last `drift` event with now; more than 1.5 × INTERVAL (at
//! most 7 days) since then is a `control.failure` event (control `change-detection-schedule`,
//! 10.7.2) recorded before the run. `--check-schedule [--max-age 7d]` does only that comparison,
//! for cron. Test hook: `STAMP_NOW_OFFSET_SECONDS` moves the clock of the comparison forward
//! (the events keep the real time).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use stamp_core::event::{Event, EventKind, Outcome};
use stamp_core::Digest;
use stamp_deploy::drift::{self, DriftReport};
use stamp_deploy::quarantine;
use stamp_deploy::rollout::{roll_out, Step};
use stamp_deploy::runc::{RuncRuntime, RUNTIME_MOUNT_POINTS};
use stamp_deploy::runtime::{InstanceState, Runtime};
use stamp_image::Store;
use stamp_log::projection::InstanceRow;
use time::OffsetDateTime;

use super::UsageError;

/// How long a replacement instance has to become healthy.
const HEAL_HEALTH_TIMEOUT: Duration = Duration::from_secs(30);

use crate::cli::{DriftArgs, OutputFormat};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, args: DriftArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let store =
        Store::open(&home).with_context(|| format!("opening the store at `{}`", home.display()))?;
    if args.target.is_none() && (args.path.is_none() || args.image.is_none()) {
        return Err(UsageError(
            "name an environment or instance, or give --path and --image".into(),
        )
        .into());
    }
    if args.check_schedule {
        let target = ScheduleTarget::of(&store, &args)?;
        let mut recorder = Recorder::open_or_init(&home)?.recorder;
        let overdue = check_schedule(&mut recorder, &target, args.max_age, None, now()?)?;
        if overdue.is_none() {
            eprintln!(
                "schedule kept: `{}` had a drift run within {}",
                target.subject,
                format_duration(args.max_age)
            );
        }
        return Ok(if overdue.is_some() { 1 } else { 0 });
    }
    let Some(interval) = args.watch else {
        return run_once(&home, &store, &args);
    };
    let target = ScheduleTarget::of(&store, &args)?;
    let bound = interval.mul_f64(1.5).min(WEEKLY);
    let mut worst = 0;
    let mut run = 0u64;
    loop {
        let started = std::time::Instant::now();
        {
            let mut recorder = Recorder::open_or_init(&home)?.recorder;
            check_schedule(&mut recorder, &target, bound, Some(interval), now()?)?;
        }
        worst = worst.max(run_once(&home, &store, &args)?);
        run += 1;
        if args.runs.is_some_and(|runs| run >= runs) {
            return Ok(worst);
        }
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}

fn run_once(home: &Path, store: &Store, args: &DriftArgs) -> anyhow::Result<u8> {
    match (&args.target, &args.path, &args.image) {
        (Some(target), _, _) => run_instances(home, store, target, args.heal, args.format),
        (None, Some(path), Some(image)) => run_path(home, store, path, image, args.format),
        _ => Err(
            UsageError("name an environment or instance, or give --path and --image".into()).into(),
        ),
    }
}

/// PCI DSS 11.5.2: change detection runs at least weekly.
const WEEKLY: Duration = Duration::from_secs(7 * 86_400);

/// Name of the control a missed scheduled drift run fails (PCI DSS 11.5.2, 10.7.2).
pub const CONTROL_CHANGE_DETECTION_SCHEDULE: &str = "change-detection-schedule";

/// Test hook: seconds added to the clock by the schedule check only (never by the events,
/// which keep the real time), so a test can make the last run look old.
const NOW_OFFSET_VARIABLE: &str = "STAMP_NOW_OFFSET_SECONDS";

fn now() -> anyhow::Result<OffsetDateTime> {
    let offset = match std::env::var(NOW_OFFSET_VARIABLE) {
        Ok(text) => text
            .parse::<i64>()
            .map_err(|_| UsageError(format!("{NOW_OFFSET_VARIABLE} must be whole seconds")))?,
        Err(_) => 0,
    };
    Ok(OffsetDateTime::now_utc() + time::Duration::seconds(offset))
}

/// Which `drift` events count as runs of the target: for an environment or instance, events
/// about the instance or naming the environment; for a directory, events about that
/// (canonical) path against that image digest.
struct ScheduleTarget {
    subject: String,
    image: Option<String>,
}

impl ScheduleTarget {
    fn of(store: &Store, args: &DriftArgs) -> anyhow::Result<ScheduleTarget> {
        match (&args.target, &args.path, &args.image) {
            (Some(target), _, _) => Ok(ScheduleTarget {
                subject: target.clone(),
                image: None,
            }),
            (None, Some(path), Some(image)) => {
                let root = path
                    .canonicalize()
                    .with_context(|| format!("reading `{}`", path.display()))?;
                Ok(ScheduleTarget {
                    subject: root.display().to_string(),
                    image: Some(store.resolve(image)?.digest.to_string()),
                })
            }
            _ => Err(UsageError(
                "name an environment or instance, or give --path and --image".into(),
            )
            .into()),
        }
    }

    fn matches(&self, event: &Event) -> bool {
        let detail = |key: &str| event.details().get(key).and_then(|value| value.as_str());
        match &self.image {
            Some(image) => event.subject() == self.subject && detail("image") == Some(image),
            None => event.subject() == self.subject || detail("env") == Some(&self.subject),
        }
    }
}

/// The log index and time of the target's last `drift` event.
fn last_run(
    recorder: &Recorder,
    target: &ScheduleTarget,
) -> anyhow::Result<Option<(u64, OffsetDateTime)>> {
    let mut last = None;
    super::signing::scan_events(&recorder.log, |index, event| {
        if event.kind() == EventKind::Drift && target.matches(event) {
            last = Some((index, event.time()));
        }
        false
    })?;
    Ok(last)
}

/// Record a `control.failure` when the target's last drift run is older than `bound` (or there
/// never was one and no `interval` is starting now). Returns the failure's log index.
fn check_schedule(
    recorder: &mut Recorder,
    target: &ScheduleTarget,
    bound: Duration,
    interval: Option<Duration>,
    now: OffsetDateTime,
) -> anyhow::Result<Option<u64>> {
    let last = last_run(recorder, target)?;
    let overdue_seconds = match last {
        Some((_, time)) => {
            // Event times are whole seconds (truncated): allow that second.
            let elapsed = ((now - time).as_seconds_f64() - 1.0).max(0.0);
            if elapsed <= bound.as_secs_f64() {
                return Ok(None);
            }
            Some((elapsed - bound.as_secs_f64()).ceil() as u64)
        }
        // A watch starting with no earlier run begins the schedule now.
        None if interval.is_some() => return Ok(None),
        None => None,
    };
    let mut event = recorder
        .event(EventKind::ControlFailure, Outcome::Failure, &target.subject)
        .detail("control", CONTROL_CHANGE_DETECTION_SCHEDULE)
        .detail("pci", vec!["11.5.2", "10.7.2"])
        .detail(
            "command",
            if interval.is_some() {
                "drift --watch"
            } else {
                "drift --check-schedule"
            },
        )
        .detail("last_run_index", last.map(|(index, _)| index))
        .detail(
            "last_run_time",
            last.map(|(_, time)| {
                time.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            }),
        )
        .detail("max_age_seconds", bound.as_secs())
        .detail("overdue_seconds", overdue_seconds);
    if let Some(interval) = interval {
        event = event.detail("expected_interval_seconds", interval.as_secs());
    }
    if let Some(image) = &target.image {
        event = event.detail("image", image.clone());
    }
    let index = recorder.append(event)?;
    match last {
        Some((last_index, _)) => eprintln!(
            "control failure: the last drift run of `{}` (log entry {last_index}) is {} overdue (allowed {}); recorded as log entry {index}",
            target.subject,
            format_duration(Duration::from_secs(overdue_seconds.unwrap_or(0))),
            format_duration(bound)
        ),
        None => eprintln!(
            "control failure: `{}` has no recorded drift run; recorded as log entry {index}",
            target.subject
        ),
    }
    Ok(Some(index))
}

/// Parse a duration written as a whole number with one suffix: `s`, `m`, `h` or `d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{text}`: expected a number with s, m, h or d (like 30s or 1h)"
            ))
        }
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a number with s, m, h or d (like 30s or 1h)"))?;
    number
        .checked_mul(scale)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

/// A watch interval: a [`parse_duration`] of at least one second.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text)?;
    if interval < Duration::from_secs(1) {
        return Err(format!("`{text}`: the interval must be at least 1s"));
    }
    Ok(interval)
}

fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0 => "0s".into(),
        _ if seconds % 86_400 == 0 => format!("{}d", seconds / 86_400),
        _ if seconds % 3_600 == 0 => format!("{}h", seconds / 3_600),
        _ if seconds % 60 == 0 => format!("{}m", seconds / 60),
        _ => format!("{seconds}s"),
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
    // The replacement is checked the way its environment checks every instance (HTTP path or
    // a command run inside it), as recorded when the drifted one was deployed.
    let probe = super::deploy::instance_health(runtime, &row.id);
    spec.health = Some(probe.clone());
    let mut append_error = None;
    let mut observe = |step: Step<'_>| {
        if let Err(error) = super::deploy::record_step(recorder, &environment, digest, step) {
            append_error.get_or_insert(error);
        }
    };
    let healthy = |spec: &stamp_deploy::runtime::InstanceSpec, timeout: Duration| {
        stamp_deploy::health::wait_until_healthy(runtime, spec, &probe, timeout).is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_intervals_parse_with_their_suffix_and_at_least_one_second() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_interval("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_interval("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in [
            "0s",
            "",
            "10",
            "1w",
            "h",
            "-1s",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(5_400)), "90m");
    }
}
