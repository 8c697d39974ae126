//! `stamp rollback ENV`: redeploy the digest the environment ran before its current one, as a
//! new `rollback` event (PCI DSS 6.5.1: a way back). The digest passes the same admission as
//! any deploy, so a revoked or unapproved digest is never rolled back to.

use std::path::Path;
use std::time::Duration;

use crate::cli::RollbackArgs;
use crate::recorder::Recorder;

use super::deploy::{current, deploy, Target};
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
            replicas: args.replicas,
            port_base: args.port,
            health_timeout: Duration::from_millis(args.health_timeout_ms),
            rollback: true,
            format: args.format,
            key: key.map(str::to_string),
        },
    )
}
