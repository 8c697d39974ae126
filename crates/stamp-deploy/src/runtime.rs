//! The runtime seam: what deploying needs from whatever runs instances.
//!
//! [`Runtime`] is deliberately small (start, stop, state, list) and speaks in image digests and
//! process settings, never in host paths, so a Kubernetes implementation (a pod per instance,
//! pinned by digest) fits behind it as well as the local [`crate::runc::RuncRuntime`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use stamp_core::Digest;

/// What one instance runs: an image digest and the process the image describes, with the
/// settings a deploy adds (the instance's own `PORT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceSpec {
    /// Unique instance id (`[a-z0-9-]`, at most [`INSTANCE_ID_LENGTH_MAX`] characters).
    pub id: String,
    /// The image manifest digest the instance runs.
    pub image: Digest,
    /// Entrypoint followed by Cmd.
    pub args: Vec<String>,
    /// `KEY=value` pairs, in order; later pairs win.
    pub env: Vec<String>,
    /// Working directory inside the root filesystem.
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// The image's declared writable paths (a fresh tmpfs each; everything else read-only).
    pub writable: Vec<String>,
    /// The TCP port the instance serves on, on the host's loopback.
    pub port: u16,
    /// Labels kept with the instance (environment, deploy index, …).
    pub labels: BTreeMap<String, String>,
    /// The health check the instance was deployed with (kept so `stamp status` asks the same);
    /// `None`: `GET /health`.
    pub health: Option<stamp_image::spec::HealthProbe>,
}

/// Longest instance id accepted (runc and Kubernetes both take names this long).
pub const INSTANCE_ID_LENGTH_MAX: usize = 63;

/// What the runtime says an instance is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    Creating,
    Running,
    Stopped,
    Unknown,
}

/// One instance as the runtime lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    pub id: String,
    pub state: InstanceState,
    pub pid: Option<u32>,
}

/// Why the runtime could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("instance id `{0}` is not 1–63 characters of `[a-z0-9-]`")]
    BadInstanceId(String),
    #[error("the root filesystem of {0} is not prepared")]
    NotPrepared(Digest),
    #[error("running `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("reading the output of `{command}`")]
    Output {
        command: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing `{}`", .path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("preparing the root filesystem of {image}")]
    Unpack {
        image: Digest,
        #[source]
        source: Box<stamp_image::unpack::UnpackError>,
    },
}

/// What a command run inside an instance did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecOutcome {
    /// The exit code; `None` when the command was killed (by the timeout or a signal).
    pub code: Option<i32>,
    /// The command ran past its timeout and was killed.
    pub timed_out: bool,
    /// The start of what it printed (stdout and stderr), at most [`EXEC_OUTPUT_BYTES_MAX`].
    pub output: String,
}

/// Most bytes of a command's output kept in an [`ExecOutcome`].
pub const EXEC_OUTPUT_BYTES_MAX: usize = 2048;

/// Runs instances of images.
///
/// Everything here names instances by id and images by digest, never by host path, so the
/// trait fits a Kubernetes runtime too: `start` becomes a pod pinned to the digest
/// (`image@sha256:…`), `stop` a pod deletion with its grace period, `state`/`list` the pod
/// phase from the API, and `exec` the `pods/exec` subresource (or the pod's exec readiness
/// probe).
pub trait Runtime {
    /// Start `spec` detached; returns once the runtime reports it started (not yet healthy).
    fn start(&self, spec: &InstanceSpec) -> Result<(), RuntimeError>;
    /// Ask the instance to stop (SIGTERM), force it after `grace`, then remove it.
    fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;
    /// The state of one instance; `Stopped` when the runtime does not know it.
    fn state(&self, id: &str) -> Result<InstanceStatus, RuntimeError>;
    /// Every instance this runtime manages.
    fn list(&self) -> Result<Vec<InstanceStatus>, RuntimeError>;
    /// Run `args` inside the running instance `id`, as the instance's own user with its
    /// environment, privileges and limits; kill it once `timeout` passes.
    fn exec(
        &self,
        id: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError>;
}

/// Check an instance id before it reaches a command line or a path.
pub fn check_instance_id(id: &str) -> Result<(), RuntimeError> {
    let valid = !id.is_empty()
        && id.len() <= INSTANCE_ID_LENGTH_MAX
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if valid {
        Ok(())
    } else {
        Err(RuntimeError::BadInstanceId(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_checked_at_their_limit() {
        assert!(check_instance_id("dev-1a2b3c-0").is_ok());
        assert!(check_instance_id(&"a".repeat(INSTANCE_ID_LENGTH_MAX)).is_ok());
        assert!(check_instance_id(&"a".repeat(INSTANCE_ID_LENGTH_MAX + 1)).is_err());
        for bad in ["", "-a", "A", "a/b", "a..b", "a b"] {
            assert!(check_instance_id(bad).is_err(), "{bad}");
        }
    }
}
