//! `stamp rollback ENV`: redeploy the digest the environment ran before its current one, as a
//! new `rollback` event (PCI DSS 6.5.1: a way back). The digest passes the same admission as
//! any deploy, so a revoked or unapproved digest is never rolled back to, and runs with the
//! same `[env.ENV]` settings (replicas, ports, health check) and flag overrides.

use std::path::Path;
use std::time::Duration;

use crate::cli::RollbackArgs;
use crate::recorder::Recorder;

use super::deploy::{current, deploy, Overrides, Target};
use super::UsageError;

pub fn run(home: Option<&Path>, key: Option<&str>, args: RollbackArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let previous = {
        let recorder = Recorder::open(&home)?;
        let state = recorder.log.projection_state()?;
        current(&state, &args.env).and_then(|row| row.previous_digest.clone())
    };
    let Some(previous) = previous else {
        return Err(UsageError(format!(
            "`{}` has no previous digest to roll back to",
            args.env
        ))
        .into());
    };
    deploy(
        &home,
        Target {
            environment: args.env,
            image: Some(previous),
            spec: args.spec,
            overrides: Overrides {
                replicas: args.replicas,
                port: args.port,
                health_timeout: args.health_timeout_ms.map(Duration::from_millis),
            },
            rollback: true,
            format: args.format,
            key: key.map(str::to_string),
        },
    )
}
