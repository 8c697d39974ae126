//! Replacing the instances of an environment: start the new ones, wait until each is
//! healthy, then stop the old ones one at a time (PCI DSS 6.5.1: change by replacement,
//! with a way back). Generic over [`Runtime`] and the health check, so it runs the same on
//! runc, on a later Kubernetes runtime and in tests.

use std::time::Duration;

use crate::runtime::{InstanceSpec, Runtime, RuntimeError};

/// What a rollout reports as it goes, so the caller can record each step as an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A new instance was started (not yet healthy).
    Started(&'a InstanceSpec),
    /// A new instance never became healthy; it was stopped.
    Unhealthy(&'a InstanceSpec),
    /// An instance (old, or new after a failed rollout) was stopped and removed.
    Stopped(&'a str),
}

/// Why a rollout did not complete; the old instances are left running when it fails.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("instance `{id}` did not become healthy within {timeout_ms} ms")]
    Unhealthy { id: String, timeout_ms: u128 },
    #[error("starting instance `{id}`")]
    Start {
        id: String,
        #[source]
        source: RuntimeError,
    },
    #[error("stopping instance `{id}`")]
    Stop {
        id: String,
        #[source]
        source: RuntimeError,
    },
}

/// Start `new`, wait until `healthy` holds for each (polled up to `health_timeout`), then stop
/// `old` one at a time. On failure the new instances are stopped and the old ones keep serving.
pub fn roll_out(
    runtime: &dyn Runtime,
    new: &[InstanceSpec],
    old: &[String],
    healthy: &dyn Fn(&InstanceSpec, Duration) -> bool,
    health_timeout: Duration,
    stop_grace: Duration,
    observe: &mut dyn FnMut(Step<'_>),
) -> Result<(), RolloutError> {
    let mut started: Vec<&InstanceSpec> = Vec::new();
    let mut failure = None;
    for spec in new {
        if let Err(source) = runtime.start(spec) {
            failure = Some(RolloutError::Start {
                id: spec.id.clone(),
                source,
            });
            // runc may have left a created container behind.
            let _ = runtime.stop(&spec.id, stop_grace);
            break;
        }
        observe(Step::Started(spec));
        started.push(spec);
        if !healthy(spec, health_timeout) {
            observe(Step::Unhealthy(spec));
            failure = Some(RolloutError::Unhealthy {
                id: spec.id.clone(),
                timeout_ms: health_timeout.as_millis(),
            });
            break;
        }
    }
    if let Some(failure) = failure {
        for spec in started {
            if runtime.stop(&spec.id, stop_grace).is_ok() {
                observe(Step::Stopped(&spec.id));
            }
        }
        return Err(failure);
    }
    for id in old {
        runtime
            .stop(id, stop_grace)
            .map_err(|source| RolloutError::Stop {
                id: id.clone(),
                source,
            })?;
        observe(Step::Stopped(id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{InstanceState, InstanceStatus};
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// A runtime that only remembers which instances run.
    #[derive(Default)]
    struct Fake {
        running: RefCell<BTreeSet<String>>,
    }

    impl Runtime for Fake {
        fn start(&self, spec: &InstanceSpec) -> Result<(), RuntimeError> {
            self.running.borrow_mut().insert(spec.id.clone());
            Ok(())
        }
        fn stop(&self, id: &str, _: Duration) -> Result<(), RuntimeError> {
            self.running.borrow_mut().remove(id);
            Ok(())
        }
        fn state(&self, id: &str) -> Result<InstanceStatus, RuntimeError> {
            let state = if self.running.borrow().contains(id) {
                InstanceState::Running
            } else {
                InstanceState::Stopped
            };
            Ok(InstanceStatus {
                id: id.into(),
                state,
                pid: None,
            })
        }
        fn list(&self) -> Result<Vec<InstanceStatus>, RuntimeError> {
            Ok(Vec::new())
        }
        fn exec(
            &self,
            _: &str,
            _: &[String],
            _: Duration,
        ) -> Result<crate::runtime::ExecOutcome, RuntimeError> {
            unreachable!("the rollout itself runs no command")
        }
    }

    fn spec(id: &str) -> InstanceSpec {
        InstanceSpec {
            id: id.into(),
            image: stamp_core::Digest::of(b"x"),
            args: vec!["/app".into()],
            env: Vec::new(),
            cwd: "/".into(),
            uid: 1,
            gid: 1,
            writable: Vec::new(),
            port: 1,
            labels: Default::default(),
            health: None,
        }
    }

    #[test]
    fn old_instances_stop_only_after_every_new_one_is_healthy() {
        let runtime = Fake::default();
        runtime
            .running
            .borrow_mut()
            .extend(["old-0".to_string(), "old-1".to_string()]);
        let mut steps = Vec::new();
        roll_out(
            &runtime,
            &[spec("new-0"), spec("new-1")],
            &["old-0".into(), "old-1".into()],
            &|_, _| true,
            Duration::ZERO,
            Duration::ZERO,
            &mut |step| steps.push(format!("{step:?}").split('(').next().unwrap().to_string()),
        )
        .unwrap();
        assert_eq!(steps, ["Started", "Started", "Stopped", "Stopped"]);
        let running: Vec<String> = runtime.running.borrow().iter().cloned().collect();
        assert_eq!(running, ["new-0", "new-1"]);
    }

    #[test]
    fn an_unhealthy_new_instance_leaves_the_old_ones_serving() {
        let runtime = Fake::default();
        runtime.running.borrow_mut().insert("old-0".into());
        let error = roll_out(
            &runtime,
            &[spec("new-0"), spec("new-1")],
            &["old-0".into()],
            &|spec, _| spec.id != "new-1",
            Duration::ZERO,
            Duration::ZERO,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(error, RolloutError::Unhealthy { ref id, .. } if id == "new-1"));
        let running: Vec<String> = runtime.running.borrow().iter().cloned().collect();
        assert_eq!(running, ["old-0"]);
    }
}
