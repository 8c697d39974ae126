//! `stamp trust show|role|env`

use std::collections::BTreeSet;
use std::path::Path;

use stamp_attest::trust::{roles_text, EnvironmentPolicy};
use stamp_attest::Role;
use stamp_core::event::{EventKind, Outcome};

use super::key::role;
use super::signing::{
    acting_name, load_trust_recorded, read_facts, save_trust_recorded, trust_path, TRUST_FILE,
};
use super::UsageError;
use crate::cli::{
    OutputFormat, TrustArgs, TrustCommand, TrustEnvArgs, TrustRoleArgs, TrustShowArgs,
};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, key: Option<&str>, args: TrustArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    match args.command {
        TrustCommand::Show(args) => show(&home, args),
        TrustCommand::Role(args) => set_role(&home, key, args),
        TrustCommand::Env(args) => set_env(&home, key, args),
    }
}

fn show(home: &Path, args: TrustShowArgs) -> anyhow::Result<u8> {
    let path = trust_path(home);
    let loaded = stamp_attest::Trust::load(&path)?;
    let digest = loaded.as_ref().map(|(_, digest)| *digest);
    let trust = loaded.map(|(trust, _)| trust).unwrap_or_default();
    let roles = |roles: &BTreeSet<Role>| roles.iter().map(|role| role.as_str()).collect::<Vec<_>>();
    match args.format {
        OutputFormat::Json => {
            let environments: serde_json::Map<String, serde_json::Value> = trust
                .environments()
                .iter()
                .map(|(name, policy)| {
                    (
                        name.clone(),
                        serde_json::json!({
                            "approvals": policy.approvals,
                            "approver_roles": roles(&policy.approver_roles),
                            "deployer_roles": roles(&policy.deployer_roles),
                            "promote_from": policy.promote_from,
                        }),
                    )
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "path": path,
                    "digest": digest,
                    "environments": environments,
                    "identities": trust.identities().len(),
                }))?
            );
        }
        OutputFormat::Text => {
            match digest {
                Some(digest) => println!("{}  {digest}", path.display()),
                None => println!("{} (not created yet: the defaults apply)", path.display()),
            }
            for (name, policy) in trust.environments() {
                println!(
                    "  {name:<12} {} approval(s); approve: {}; deploy: {}{}",
                    policy.approvals,
                    roles_text(&policy.approver_roles),
                    roles_text(&policy.deployer_roles),
                    policy
                        .promote_from
                        .as_ref()
                        .map(|from| format!("; promoted from: {from}"))
                        .unwrap_or_default()
                );
            }
            println!(
                "  {} identities (`stamp key list`)",
                trust.identities().len()
            );
        }
    }
    Ok(0)
}

fn set_role(home: &Path, key: Option<&str>, args: TrustRoleArgs) -> anyhow::Result<u8> {
    if args.add.is_empty() && args.remove.is_empty() {
        return Err(UsageError("give --add ROLE or --remove ROLE".into()).into());
    }
    let mut recorder = Recorder::open_or_init(home)?.recorder;
    let mut facts = read_facts(&recorder.log)?;
    let mut trust = load_trust_recorded(home, &mut recorder, &mut facts)?;
    let identity = trust
        .find(&args.name)
        .filter(|identity| identity.revoked_at.is_none())
        .ok_or_else(|| UsageError(format!("no unrevoked identity `{}`", args.name)))?
        .clone();
    let mut roles = identity.roles.clone();
    roles.extend(args.add.iter().copied().map(role));
    for removed in args.remove.iter().copied().map(role) {
        roles.remove(&removed);
    }
    if let Some(name) = acting_name(home, key, &trust) {
        recorder.set_actor(&name);
    }
    trust.set_roles(identity.key_id(), roles.clone())?;
    let as_text =
        |roles: &BTreeSet<Role>| roles.iter().map(|role| role.as_str()).collect::<Vec<_>>();
    let event = recorder
        .event(EventKind::PolicyChange, Outcome::Success, TRUST_FILE)
        .detail("change", "roles")
        .detail("name", identity.name.clone())
        .detail("key_id", identity.key_id())
        .detail("previous_roles", as_text(&identity.roles))
        .detail("roles", as_text(&roles));
    let index = save_trust_recorded(home, &mut recorder, &mut facts, &trust, event)?;
    eprintln!(
        "`{}` now has roles {} (policy.change at log index {index})",
        identity.name,
        roles_text(&roles)
    );
    Ok(0)
}

fn set_env(home: &Path, key: Option<&str>, args: TrustEnvArgs) -> anyhow::Result<u8> {
    let mut recorder = Recorder::open_or_init(home)?.recorder;
    let mut facts = read_facts(&recorder.log)?;
    let mut trust = load_trust_recorded(home, &mut recorder, &mut facts)?;
    let previous = trust.environment(&args.name).cloned();
    let mut policy = previous
        .clone()
        .unwrap_or_else(|| EnvironmentPolicy::with_approvals(1));
    if let Some(approvals) = args.approvals {
        policy.approvals = approvals;
    }
    if !args.approver_roles.is_empty() {
        policy.approver_roles = args.approver_roles.iter().copied().map(role).collect();
    }
    if !args.deployer_roles.is_empty() {
        policy.deployer_roles = args.deployer_roles.iter().copied().map(role).collect();
    }
    trust
        .set_environment(&args.name, policy.clone())
        .map_err(|error| UsageError(error.to_string()))?;
    if let Some(name) = acting_name(home, key, &trust) {
        recorder.set_actor(&name);
    }
    let as_text =
        |roles: &BTreeSet<Role>| roles.iter().map(|role| role.as_str()).collect::<Vec<_>>();
    let mut event = recorder
        .event(EventKind::PolicyChange, Outcome::Success, TRUST_FILE)
        .detail("change", "environment")
        .detail("env", args.name.clone())
        .detail("approvals", policy.approvals)
        .detail("approver_roles", as_text(&policy.approver_roles))
        .detail("deployer_roles", as_text(&policy.deployer_roles));
    if let Some(previous) = &previous {
        event = event.detail("previous_approvals", previous.approvals);
    }
    let index = save_trust_recorded(home, &mut recorder, &mut facts, &trust, event)?;
    eprintln!(
        "`{}` needs {} approval(s) by {}; deploys by {} (policy.change at log index {index})",
        args.name,
        policy.approvals,
        roles_text(&policy.approver_roles),
        roles_text(&policy.deployer_roles)
    );
    Ok(0)
}
