//! `stamp status [ENV]`: what runs where — instances, digests, runtime state, health and
//! endpoints. The instance list comes from the log's projection; state and health are asked
//! live from the runtime and the instance.

use std::path::Path;
use std::time::Duration;

use crate::cli::{OutputFormat, StatusArgs};
use crate::recorder::Recorder;

use stamp_deploy::runtime::Runtime;

use super::deploy::{endpoint, instance_health, instance_port, runtime};

/// How long one health request of `stamp status` may take.
const STATUS_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(home: Option<&Path>, args: StatusArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    let recorder = Recorder::open(&home)?;
    let state = recorder.log.projection_state()?;
    let runtime = runtime(&home)?;
    let mut environments = Vec::new();
    for environment in &state.environments {
        if args
            .env
            .as_deref()
            .is_some_and(|name| name != environment.name)
        {
            continue;
        }
        let mut instances = Vec::new();
        for row in state.instances.iter().filter(|row| {
            row.env.as_deref() == Some(environment.name.as_str()) && row.state != "stopped"
        }) {
            let port = instance_port(&runtime, &row.id);
            let runtime_state = runtime
                .state(&row.id)
                .map(|status| serde_json::to_value(status.state).expect("state serializes"))
                .unwrap_or_else(|error| format!("unknown ({error})").into());
            // The check the instance was deployed with: HTTP, or a command run inside it.
            let healthy = match instance_health(&runtime, &row.id) {
                stamp_deploy::health::HealthProbe::Http(path) => port.is_some_and(|port| {
                    stamp_deploy::health::http_ok(port, &path, STATUS_HEALTH_TIMEOUT)
                }),
                stamp_deploy::health::HealthProbe::Command(args) => runtime
                    .exec(&row.id, &args, STATUS_HEALTH_TIMEOUT)
                    .is_ok_and(|outcome| outcome.code == Some(0)),
            };
            let revoked = state
                .revocations
                .iter()
                .any(|revocation| Some(&revocation.digest) == row.digest.as_ref());
            instances.push(serde_json::json!({
                "id": row.id,
                "image": row.digest,
                "revoked": revoked,
                "state": row.state,
                "runtime_state": runtime_state,
                "healthy": healthy,
                "endpoint": port.map(endpoint),
            }));
        }
        environments.push(serde_json::json!({
            "env": environment.name,
            "image": environment.digest,
            "previous": environment.previous_digest,
            "updated_index": environment.updated_index,
            "instances": instances,
        }));
    }
    // Which running digests are exposed to known vulnerabilities, and whether fixes exist.
    let exposure = super::exposure::of_running(&home, args.db.as_deref(), &environments);
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "environments": environments, "exposure": exposure })
            )?
        ),
        OutputFormat::Text => {
            if environments.is_empty() {
                eprintln!("nothing deployed");
            }
            for environment in &environments {
                println!(
                    "{}\t{}",
                    environment["env"].as_str().unwrap_or_default(),
                    environment["image"].as_str().unwrap_or_default()
                );
                for instance in environment["instances"].as_array().into_iter().flatten() {
                    println!(
                        "  {}\t{}{}\t{}\t{}\t{}",
                        instance["id"].as_str().unwrap_or_default(),
                        instance["state"].as_str().unwrap_or_default(),
                        if instance["revoked"] == true {
                            " (image revoked)"
                        } else {
                            ""
                        },
                        instance["runtime_state"].as_str().unwrap_or_default(),
                        if instance["healthy"] == true {
                            "healthy"
                        } else {
                            "unhealthy"
                        },
                        instance["endpoint"].as_str().unwrap_or("-"),
                    );
                }
            }
            super::exposure::print_text(&exposure);
        }
    }
    Ok(0)
}
