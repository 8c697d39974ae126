//! The local runtime: the Debian `runc` binary, one OCI bundle per instance.
//!
//! Each image is unpacked once (safely, by [`stamp_image::unpack_image`]) into
//! `<home>/bundles/<hex>/rootfs` and shared read-only by every instance of that digest. An
//! instance gets `<home>/instances/<id>/` holding `config.json` (an OCI runtime spec written
//! here with serde_json), its stdout/stderr logs and its pid file; runc keeps its own state
//! under `<home>/runc`.
//!
//! The spec: read-only root, the image's numeric user, `noNewPrivileges`, every capability
//! dropped, a fresh tmpfs at each declared writable path, `/proc` and a tmpfs `/dev` (runc
//! creates the standard device nodes there), own PID, mount, IPC and UTS namespaces. The
//! network namespace is the host's on purpose: the instance serves on the host's loopback at
//! the port the deploy gives it (`PORT`), with no bridge, veth or port-forward to set up and no
//! CNI plugin to trust — a later Kubernetes runtime puts each pod in its own network namespace
//! instead. The mount points runc needs (`/proc`, `/dev`, the writable paths) are created in
//! the shared rootfs when it is prepared, never by runc at start, so starting an instance
//! writes nothing into the shared tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stamp_core::Digest;
use stamp_image::oci::ImageConfiguration;
use stamp_image::{Store, UnpackOptions};

use crate::runtime::{
    check_instance_id, ExecOutcome, InstanceSpec, InstanceState, InstanceStatus, Runtime,
    RuntimeError, EXEC_OUTPUT_BYTES_MAX,
};

/// Mount points the runtime spec mounts over besides the writable paths.
pub const RUNTIME_MOUNT_POINTS: [&str; 2] = ["/proc", "/dev"];

/// Open files an instance may hold.
pub const INSTANCE_OPEN_FILES_MAX: u64 = 4096;

/// Processes (threads included) an instance may run.
pub const INSTANCE_PROCESSES_MAX: u64 = 512;

/// How often [`RuncRuntime::stop`] asks runc whether the instance has exited.
const STOP_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long to wait for an instance to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How often [`RuncRuntime::exec`] checks whether the command has finished.
const EXEC_POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Numbers the files of concurrent `exec`s of one process apart.
static EXEC_SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// runc driving bundles below a stamp home directory.
#[derive(Clone, Debug)]
pub struct RuncRuntime {
    home: PathBuf,
    runc: PathBuf,
}

impl RuncRuntime {
    /// A runtime keeping bundles and state below `home` (made absolute), running `runc`.
    pub fn new(home: &Path, runc: &Path) -> Result<Self, RuntimeError> {
        let home = std::path::absolute(home).map_err(|source| RuntimeError::Write {
            path: home.to_path_buf(),
            source,
        })?;
        Ok(Self {
            home,
            runc: runc.to_path_buf(),
        })
    }

    /// `<home>/bundles/<hex>/rootfs`.
    pub fn rootfs_path(&self, image: &Digest) -> PathBuf {
        self.home.join("bundles").join(image.hex()).join("rootfs")
    }

    /// `<home>/instances/<id>`.
    pub fn instance_dir(&self, id: &str) -> PathBuf {
        self.home.join("instances").join(id)
    }

    /// Unpack `image` into its shared rootfs unless that is already done; returns its path.
    ///
    /// Unpacks into a temporary sibling and renames, so a half-unpacked tree is never used.
    pub fn prepare(
        &self,
        store: &Store,
        image: &Digest,
        writable: &[String],
    ) -> Result<PathBuf, RuntimeError> {
        let rootfs = self.rootfs_path(image);
        if rootfs.is_dir() {
            return Ok(rootfs);
        }
        let bundle = rootfs.parent().expect("rootfs has a parent");
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::Write { path, source }
        };
        fs::create_dir_all(bundle).map_err(write_error(bundle))?;
        let staging = bundle.join(format!("rootfs.partial-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging).map_err(write_error(&staging))?;
        }
        stamp_image::unpack_image(store, image, &staging, &UnpackOptions::default()).map_err(
            |source| RuntimeError::Unpack {
                image: *image,
                source: Box::new(source),
            },
        )?;
        for mount_point in RUNTIME_MOUNT_POINTS
            .iter()
            .copied()
            .chain(writable.iter().map(String::as_str))
        {
            let path = staging.join(mount_point.trim_start_matches('/'));
            if fs::symlink_metadata(&path).is_err() {
                fs::create_dir_all(&path).map_err(write_error(&path))?;
            }
        }
        fs::rename(&staging, &rootfs).map_err(write_error(&rootfs))?;
        Ok(rootfs)
    }

    fn runc(&self) -> Command {
        let mut command = Command::new(&self.runc);
        command.arg("--root").arg(self.home.join("runc"));
        command
    }

    /// Run a runc subcommand to completion; `Err` with its stderr when it fails.
    fn run(&self, args: &[&str]) -> Result<Vec<u8>, RuntimeError> {
        let command_text = format!("runc {}", args.join(" "));
        let output = self
            .runc()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| RuntimeError::Spawn {
                command: command_text.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(RuntimeError::Command {
                command: command_text,
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(output.stdout)
    }
}

impl Runtime for RuncRuntime {
    fn start(&self, spec: &InstanceSpec) -> Result<(), RuntimeError> {
        check_instance_id(&spec.id)?;
        let rootfs = self.rootfs_path(&spec.image);
        if !rootfs.is_dir() {
            return Err(RuntimeError::NotPrepared(spec.image));
        }
        let dir = self.instance_dir(&spec.id);
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::Write { path, source }
        };
        fs::create_dir_all(&dir).map_err(write_error(&dir))?;
        let config = serde_json::to_vec_pretty(&oci_runtime_spec(spec, &rootfs))
            .expect("the spec serializes");
        let config_path = dir.join("config.json");
        fs::write(&config_path, config).map_err(write_error(&config_path))?;
        let instance_json = serde_json::to_vec_pretty(spec).expect("the instance serializes");
        let instance_path = dir.join("instance.json");
        fs::write(&instance_path, instance_json).map_err(write_error(&instance_path))?;
        let stdout_path = dir.join("stdout.log");
        let stderr_path = dir.join("stderr.log");
        let stdout = fs::File::create(&stdout_path).map_err(write_error(&stdout_path))?;
        let stderr = fs::File::create(&stderr_path).map_err(write_error(&stderr_path))?;
        let command_text = format!("runc run -d {}", spec.id);
        let status = self
            .runc()
            .arg("run")
            .arg("--detach")
            .arg("--bundle")
            .arg(&dir)
            .arg("--pid-file")
            .arg(dir.join("pid"))
            .arg(&spec.id)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .map_err(|source| RuntimeError::Spawn {
                command: command_text.clone(),
                source,
            })?;
        if !status.success() {
            let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
            return Err(RuntimeError::Command {
                command: command_text,
                stderr: stderr.trim().chars().take(2000).collect(),
            });
        }
        Ok(())
    }

    fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        check_instance_id(id)?;
        if self.state(id)?.state != InstanceState::Stopped {
            // The instance may exit between the state check and the signal; that is fine.
            let _ = self.run(&["kill", id, "TERM"]);
            if !wait_stopped(self, id, grace)? {
                let _ = self.run(&["kill", id, "KILL"]);
                wait_stopped(self, id, KILL_WAIT)?;
            }
        }
        match self.run(&["delete", "--force", id]) {
            Ok(_) => Ok(()),
            // Already gone: nothing to delete.
            Err(RuntimeError::Command { stderr, .. }) if stderr.contains("does not exist") => {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    fn state(&self, id: &str) -> Result<InstanceStatus, RuntimeError> {
        check_instance_id(id)?;
        match self.run(&["state", id]) {
            Ok(stdout) => parse_state(&stdout, "runc state"),
            Err(RuntimeError::Command { stderr, .. }) if stderr.contains("does not exist") => {
                Ok(InstanceStatus {
                    id: id.to_string(),
                    state: InstanceState::Stopped,
                    pid: None,
                })
            }
            Err(error) => Err(error),
        }
    }

    fn list(&self) -> Result<Vec<InstanceStatus>, RuntimeError> {
        let stdout = self.run(&["list", "--format", "json"])?;
        let entries: Option<Vec<Value>> =
            serde_json::from_slice(&stdout).map_err(|source| RuntimeError::Output {
                command: "runc list".into(),
                source,
            })?;
        Ok(entries.unwrap_or_default().iter().map(status_of).collect())
    }

    /// `runc exec`: the process takes the instance's `config.json` process settings (user,
    /// environment, no capabilities, `noNewPrivileges`, rlimits) with `args` as its command.
    /// Its output goes to a file in the instance directory (removed afterwards); on timeout the
    /// command (by the pid runc wrote) and runc itself are killed.
    fn exec(
        &self,
        id: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        check_instance_id(id)?;
        let command_text = format!("runc exec {id} {}", args.join(" "));
        if args.is_empty() {
            return Err(RuntimeError::Command {
                command: command_text,
                stderr: "no command to run".into(),
            });
        }
        let dir = self.instance_dir(id);
        let sequence = EXEC_SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("exec-{}-{sequence}", std::process::id());
        let pid_path = dir.join(format!("{name}.pid"));
        let log_path = dir.join(format!("{name}.log"));
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| RuntimeError::Write { path, source }
        };
        let log = fs::File::create(&log_path).map_err(write_error(&log_path))?;
        let log_copy = log.try_clone().map_err(write_error(&log_path))?;
        let started = Instant::now();
        let mut child = self
            .runc()
            .arg("exec")
            .arg("--pid-file")
            .arg(&pid_path)
            .arg(id)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_copy)
            .spawn()
            .map_err(|source| RuntimeError::Spawn {
                command: command_text.clone(),
                source,
            })?;
        let wait_error = |source| RuntimeError::Spawn {
            command: command_text.clone(),
            source,
        };
        let (status, timed_out) = loop {
            if let Some(status) = child.try_wait().map_err(wait_error)? {
                break (status, false);
            }
            if started.elapsed() >= timeout {
                // The command first (runc forwards no SIGKILL), then runc.
                if let Some(pid) = fs::read_to_string(&pid_path)
                    .ok()
                    .and_then(|text| text.trim().parse::<i32>().ok())
                    .and_then(rustix::process::Pid::from_raw)
                {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
                let _ = child.kill();
                break (child.wait().map_err(wait_error)?, true);
            }
            std::thread::sleep(EXEC_POLL_INTERVAL);
        };
        let mut output = Vec::new();
        if let Ok(file) = fs::File::open(&log_path) {
            use std::io::Read;
            let _ = file
                .take(EXEC_OUTPUT_BYTES_MAX as u64)
                .read_to_end(&mut output);
        }
        let _ = fs::remove_file(&log_path);
        let _ = fs::remove_file(&pid_path);
        Ok(ExecOutcome {
            code: if timed_out { None } else { status.code() },
            timed_out,
            output: String::from_utf8_lossy(&output).trim().to_string(),
        })
    }
}

fn wait_stopped(runtime: &RuncRuntime, id: &str, limit: Duration) -> Result<bool, RuntimeError> {
    let deadline = Instant::now() + limit;
    loop {
        if runtime.state(id)?.state == InstanceState::Stopped {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(STOP_POLL_INTERVAL);
    }
}

fn parse_state(stdout: &[u8], command: &str) -> Result<InstanceStatus, RuntimeError> {
    let value: Value = serde_json::from_slice(stdout).map_err(|source| RuntimeError::Output {
        command: command.into(),
        source,
    })?;
    Ok(status_of(&value))
}

fn status_of(value: &Value) -> InstanceStatus {
    let state = match value["status"].as_str() {
        Some("running") => InstanceState::Running,
        Some("created" | "creating") => InstanceState::Creating,
        Some("stopped") => InstanceState::Stopped,
        _ => InstanceState::Unknown,
    };
    InstanceStatus {
        id: value["id"].as_str().unwrap_or_default().to_string(),
        state,
        pid: value["pid"]
            .as_u64()
            .filter(|pid| *pid != 0)
            .and_then(|pid| u32::try_from(pid).ok()),
    }
}

/// Why an image cannot run as an instance.
#[derive(Debug, thiserror::Error)]
pub enum InstanceSpecError {
    #[error("the image user `{0}` is not numeric `uid[:gid]`")]
    User(String),
    #[error("the image has neither an entrypoint nor a command")]
    NoProcess,
}

/// The instance `id` of `image` (whose configuration is `config`) serving on `port`.
pub fn instance_spec(
    id: &str,
    image: &Digest,
    config: &ImageConfiguration,
    writable: &[String],
    port: u16,
) -> Result<InstanceSpec, InstanceSpecError> {
    let runtime = config.config.clone().unwrap_or_default();
    let (uid, gid) = match runtime.user.as_deref() {
        None | Some("") => (0, 0),
        Some(user) => parse_user(user).ok_or_else(|| InstanceSpecError::User(user.into()))?,
    };
    let mut args = runtime.entrypoint.clone().unwrap_or_default();
    args.extend(runtime.cmd.clone().unwrap_or_default());
    if args.is_empty() {
        return Err(InstanceSpecError::NoProcess);
    }
    let mut env: Vec<String> = runtime
        .env
        .iter()
        .filter(|pair| !pair.starts_with("PORT="))
        .cloned()
        .collect();
    if !env.iter().any(|pair| pair.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    env.push(format!("PORT={port}"));
    Ok(InstanceSpec {
        id: id.to_string(),
        image: *image,
        args,
        env,
        cwd: runtime
            .working_dir
            .filter(|dir| dir.starts_with('/'))
            .unwrap_or_else(|| "/".into()),
        uid,
        gid,
        writable: writable.to_vec(),
        port,
        labels: Default::default(),
        health: None,
    })
}

fn parse_user(user: &str) -> Option<(u32, u32)> {
    match user.split_once(':') {
        Some((uid, gid)) => Some((uid.parse().ok()?, gid.parse().ok()?)),
        None => {
            let uid = user.parse().ok()?;
            Some((uid, uid))
        }
    }
}

/// The OCI runtime spec (config.json) of `spec` over the shared `rootfs` (pure).
pub fn oci_runtime_spec(spec: &InstanceSpec, rootfs: &Path) -> Value {
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
    ];
    for path in &spec.writable {
        mounts.push(
            json!({"destination": path, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=65536k"]}),
        );
    }
    let no_capabilities = json!({
        "bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []
    });
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": spec.uid, "gid": spec.gid},
            "args": spec.args,
            "env": spec.env,
            "cwd": spec.cwd,
            "capabilities": no_capabilities,
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": INSTANCE_OPEN_FILES_MAX, "soft": INSTANCE_OPEN_FILES_MAX},
                {"type": "RLIMIT_NPROC", "hard": INSTANCE_PROCESSES_MAX, "soft": INSTANCE_PROCESSES_MAX},
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0}
            ],
            "noNewPrivileges": true
        },
        "root": {"path": rootfs, "readonly": true},
        "hostname": spec.id,
        "mounts": mounts,
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}
            ],
            "resources": {
                "devices": [{"allow": false, "access": "rwm"}],
                "pids": {"limit": INSTANCE_PROCESSES_MAX}
            },
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use stamp_image::oci::{RootFs, RuntimeConfig};

    fn config(user: Option<&str>) -> ImageConfiguration {
        ImageConfiguration {
            created: None,
            author: None,
            architecture: "amd64".into(),
            os: "linux".into(),
            config: Some(RuntimeConfig {
                user: user.map(String::from),
                entrypoint: Some(vec!["/bin/app".into()]),
                cmd: Some(vec!["--serve".into()]),
                env: vec!["PORT=8080".into(), "MODE=prod".into()],
                working_dir: Some("/srv".into()),
                ..RuntimeConfig::default()
            }),
            rootfs: RootFs {
                fs_type: "layers".into(),
                diff_ids: Vec::new(),
            },
            history: Vec::new(),
        }
    }

    #[test]
    fn the_instance_takes_the_image_process_and_its_own_port() {
        let image = Digest::of(b"image");
        let spec = instance_spec("dev-0", &image, &config(Some("10001:10002")), &[], 9001).unwrap();
        assert_eq!(spec.args, ["/bin/app", "--serve"]);
        assert_eq!((spec.uid, spec.gid), (10001, 10002));
        assert_eq!(spec.cwd, "/srv");
        assert_eq!(
            spec.env.iter().filter(|e| e.starts_with("PORT=")).count(),
            1
        );
        assert_eq!(spec.env.last().unwrap(), "PORT=9001");
        assert!(spec.env.contains(&"MODE=prod".to_string()));
        assert!(matches!(
            instance_spec("dev-0", &image, &config(Some("app")), &[], 1),
            Err(InstanceSpecError::User(_))
        ));
    }

    #[test]
    fn the_runtime_spec_is_locked_down() {
        let image = Digest::of(b"image");
        let spec = instance_spec(
            "dev-0",
            &image,
            &config(Some("10001:10001")),
            &["/tmp".to_string()],
            9001,
        )
        .unwrap();
        let value = oci_runtime_spec(&spec, Path::new("/store/bundles/x/rootfs"));
        assert_eq!(value["root"]["readonly"], true);
        assert_eq!(value["process"]["noNewPrivileges"], true);
        for set in [
            "bounding",
            "effective",
            "inheritable",
            "permitted",
            "ambient",
        ] {
            assert_eq!(value["process"]["capabilities"][set], json!([]));
        }
        assert_eq!(
            value["process"]["user"],
            json!({"uid": 10001, "gid": 10001})
        );
        let namespaces: Vec<&str> = value["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(namespaces, ["pid", "mount", "ipc", "uts"]);
        let tmpfs: Vec<&str> = value["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["type"] == "tmpfs")
            .map(|m| m["destination"].as_str().unwrap())
            .collect();
        assert_eq!(tmpfs, ["/dev", "/dev/shm", "/tmp"]);
    }
}
