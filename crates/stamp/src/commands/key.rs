//! `stamp key new|list|export|revoke`

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use stamp_attest::facts::detail;
use stamp_attest::trust::{is_valid_identity_name, roles_text, REASON_BYTES_MAX};
use stamp_attest::{Identity, IdentityKey, KeyRing, Role, Trust};
use stamp_core::event::{EventKind, Outcome};

use super::signing::{
    acting_name, load_trust_recorded, passphrase, read_facts, save_trust_recorded, trust_path,
};
use super::UsageError;
use crate::cli::{
    KeyAddArgs, KeyArgs, KeyCommand, KeyExportArgs, KeyListArgs, KeyNewArgs, KeyRevokeArgs,
    OutputFormat, RoleArg,
};
use crate::recorder::Recorder;

pub fn run(home: Option<&Path>, key: Option<&str>, args: KeyArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    match args.command {
        KeyCommand::New(args) => new(&home, key, args),
        KeyCommand::Add(args) => add(&home, key, args),
        KeyCommand::List(args) => list(&home, args),
        KeyCommand::Export(args) => export(&home, args),
        KeyCommand::Revoke(args) => revoke(&home, key, args),
    }
}

/// The trust-file role of a command-line role.
pub fn role(arg: RoleArg) -> Role {
    match arg {
        RoleArg::Builder => Role::Builder,
        RoleArg::Approver => Role::Approver,
        RoleArg::Deployer => Role::Deployer,
        RoleArg::Auditor => Role::Auditor,
        RoleArg::Admin => Role::Admin,
    }
}

fn new(home: &Path, key: Option<&str>, args: KeyNewArgs) -> anyhow::Result<u8> {
    if !is_valid_identity_name(&args.name) {
        return Err(UsageError(format!(
            "`{}` is not a valid identity name (letters, digits and `._@+-`, at most {} bytes, not starting with `.` or `-`)",
            args.name,
            stamp_attest::trust::IDENTITY_NAME_BYTES_MAX
        ))
        .into());
    }
    let passphrase = if args.encrypt {
        let passphrase = passphrase(args.passphrase_file.as_deref())?.ok_or_else(|| {
            UsageError(format!(
                "--encrypt needs a passphrase: --passphrase-file PATH or ${}",
                super::signing::PASSPHRASE_FILE_ENV
            ))
        })?;
        Some(passphrase)
    } else {
        None
    };
    let mut recorder = Recorder::open_or_init(home)?.recorder;
    let mut facts = read_facts(&recorder.log)?;
    let mut trust = load_trust_recorded(home, &mut recorder, &mut facts)?;
    if trust.active(&args.name).is_some() {
        return Err(UsageError(format!(
            "an identity named `{}` already exists; to give it a new key, revoke the old one first (`stamp key revoke {} --reason rotated`)",
            args.name, args.name
        ))
        .into());
    }
    let ring = KeyRing::new(home);
    let existing = ring.names()?;
    let previous_default = ring.default_name()?;
    if let Some(name) = acting_name(home, key, &trust) {
        recorder.set_actor(&name);
    }
    let new_key = IdentityKey::generate();
    let path = ring
        .create(&args.name, &new_key, passphrase.as_deref())
        .map_err(|error| match error {
            stamp_attest::keyring::KeyRingError::Write(
                stamp_attest::keys::WriteKeyFileError::Encode(
                    stamp_attest::keys::EncodeKeyError::PassphraseTooShort { bytes },
                ),
            ) => anyhow::Error::new(UsageError(format!(
                "the passphrase has {bytes} bytes; at least {} are needed",
                stamp_attest::keys::PASSPHRASE_BYTES_MIN
            ))),
            other => anyhow::Error::new(other),
        })?;
    let roles: BTreeSet<Role> = args.roles.iter().copied().map(role).collect();
    trust.add(Identity {
        name: args.name.clone(),
        public_key: new_key.public().clone(),
        roles: roles.clone(),
        revoked_at: None,
        revoked_reason: None,
    })?;
    let role_names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
    let event = recorder
        .event(EventKind::KeyAdd, Outcome::Success, &args.name)
        .detail("name", args.name.clone())
        .detail(detail::KEY_ID, new_key.key_id())
        .detail("roles", role_names.clone())
        .detail("public_key", new_key.public().to_pem())
        .detail("encrypted", passphrase.is_some());
    let index = save_trust_recorded(home, &mut recorder, &mut facts, &trust, event)?;
    let is_default = args.make_default || existing.is_empty();
    if is_default {
        ring.set_default(&args.name)?;
    } else if let ([only], None) = (existing.as_slice(), &previous_default) {
        // The only key was the default by being alone; keep it the default.
        ring.set_default(only)?;
    }
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "name": args.name,
                "key_id": new_key.key_id(),
                "roles": role_names,
                "path": path,
                "encrypted": passphrase.is_some(),
                "default": is_default,
                "public_key": new_key.public().to_pem(),
                "log_index": index,
            }))?
        ),
        OutputFormat::Text => {
            eprintln!(
                "created key `{}` ({}) at {}{}",
                args.name,
                roles_text(&roles),
                path.display(),
                if passphrase.is_some() {
                    ", encrypted"
                } else {
                    ""
                }
            );
            eprintln!("recorded as key.add at log index {index}");
            if is_default {
                eprintln!("it is the default key");
            }
            println!("{}", new_key.key_id());
        }
    }
    Ok(0)
}

fn add(home: &Path, key: Option<&str>, args: KeyAddArgs) -> anyhow::Result<u8> {
    if !is_valid_identity_name(&args.name) {
        return Err(UsageError(format!("`{}` is not a valid identity name", args.name)).into());
    }
    let text = std::fs::read_to_string(&args.public_key)
        .with_context(|| format!("reading `{}`", args.public_key.display()))?;
    let public_key = stamp_attest::PublicKey::parse(&text)
        .map_err(|error| UsageError(format!("`{}`: {error}", args.public_key.display())))?;
    let mut recorder = Recorder::open_or_init(home)?.recorder;
    let mut facts = read_facts(&recorder.log)?;
    let mut trust = load_trust_recorded(home, &mut recorder, &mut facts)?;
    if let Some(name) = acting_name(home, key, &trust) {
        recorder.set_actor(&name);
    }
    let roles: BTreeSet<Role> = args.roles.iter().copied().map(role).collect();
    trust
        .add(Identity {
            name: args.name.clone(),
            public_key: public_key.clone(),
            roles: roles.clone(),
            revoked_at: None,
            revoked_reason: None,
        })
        .map_err(|error| UsageError(error.to_string()))?;
    let role_names: Vec<&str> = roles.iter().map(|role| role.as_str()).collect();
    let event = recorder
        .event(EventKind::KeyAdd, Outcome::Success, &args.name)
        .detail("name", args.name.clone())
        .detail(detail::KEY_ID, public_key.key_id())
        .detail("roles", role_names)
        .detail("public_key", public_key.to_pem())
        .detail("imported", true);
    let index = save_trust_recorded(home, &mut recorder, &mut facts, &trust, event)?;
    eprintln!(
        "added `{}` ({}) by its public key; recorded as key.add at log index {index}",
        args.name,
        roles_text(&roles)
    );
    println!("{}", public_key.key_id());
    Ok(0)
}

fn load_trust(home: &Path) -> anyhow::Result<Trust> {
    Ok(Trust::load(&trust_path(home))?
        .map(|(trust, _)| trust)
        .unwrap_or_default())
}

fn find<'a>(trust: &'a Trust, name: &str) -> anyhow::Result<&'a Identity> {
    trust.find(name).ok_or_else(|| {
        UsageError(format!(
            "no identity `{name}` in the trust file (`stamp key list` shows them)"
        ))
        .into()
    })
}

fn list(home: &Path, args: KeyListArgs) -> anyhow::Result<u8> {
    let trust = load_trust(home)?;
    let ring = KeyRing::new(home);
    let default = ring.default_name()?;
    let local = ring.names()?;
    let rows: Vec<serde_json::Value> = trust
        .identities()
        .iter()
        .map(|identity| {
            let active = identity.revoked_at.is_none();
            serde_json::json!({
                "name": identity.name,
                "key_id": identity.key_id(),
                "roles": identity.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
                "revoked_at": identity.revoked_at,
                "revoked_reason": identity.revoked_reason,
                "private_key_here": active && local.contains(&identity.name),
                "default": active && default.as_deref() == Some(identity.name.as_str()),
            })
        })
        .collect();
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        OutputFormat::Text => {
            for identity in trust.identities() {
                let status = match identity.revoked_at {
                    Some(index) => format!("revoked at {index}"),
                    None if default.as_deref() == Some(identity.name.as_str()) => {
                        "active, default".to_string()
                    }
                    None => "active".to_string(),
                };
                println!(
                    "{}  {:<32}  {:<24}  {}",
                    &identity.key_id()[..16],
                    identity.name,
                    roles_text(&identity.roles),
                    status
                );
            }
            if trust.identities().is_empty() {
                eprintln!("no identities yet; `stamp key new --name NAME --role ROLE` adds one");
            }
        }
    }
    Ok(0)
}

fn export(home: &Path, args: KeyExportArgs) -> anyhow::Result<u8> {
    let trust = load_trust(home)?;
    let identity = find(&trust, &args.name)?;
    print!("{}", identity.public_key.to_pem());
    Ok(0)
}

fn revoke(home: &Path, key: Option<&str>, args: KeyRevokeArgs) -> anyhow::Result<u8> {
    let reason = args.reason.trim();
    if reason.is_empty() || reason.len() > REASON_BYTES_MAX || reason.chars().any(char::is_control)
    {
        return Err(UsageError(format!(
            "--reason must be 1 to {REASON_BYTES_MAX} bytes of text on one line"
        ))
        .into());
    }
    let mut recorder = Recorder::open(home)?;
    let mut facts = read_facts(&recorder.log)?;
    let mut trust = load_trust_recorded(home, &mut recorder, &mut facts)?;
    let identity = find(&trust, &args.name)?.clone();
    if identity.revoked_at.is_some() || facts.key_revocations.contains_key(identity.key_id()) {
        return Err(UsageError(format!(
            "`{}` (key {}) is already revoked",
            identity.name,
            identity.key_id()
        ))
        .into());
    }
    if let Some(name) = acting_name(home, key, &trust) {
        recorder.set_actor(&name);
    }
    let revoked_at = recorder.append(
        recorder
            .event(EventKind::KeyRevoke, Outcome::Success, &identity.name)
            .detail("name", identity.name.clone())
            .detail(detail::KEY_ID, identity.key_id())
            .detail("reason", reason.to_string()),
    )?;
    trust.revoke(identity.key_id(), revoked_at, reason)?;
    let event = recorder
        .event(
            EventKind::PolicyChange,
            Outcome::Success,
            super::signing::TRUST_FILE,
        )
        .detail("change", "key-revoked")
        .detail("name", identity.name.clone())
        .detail(detail::KEY_ID, identity.key_id())
        .detail("revoked_at", revoked_at);
    save_trust_recorded(home, &mut recorder, &mut facts, &trust, event)?;
    let retired = KeyRing::new(home)
        .retire(&identity.name, identity.key_id())
        .context("moving the revoked key file")?;
    eprintln!(
        "revoked `{}` (key {}) at log index {revoked_at}",
        identity.name,
        identity.key_id()
    );
    eprintln!(
        "signatures recorded before index {revoked_at} still verify; new signatures by this key are refused"
    );
    if let Some(path) = retired {
        eprintln!("moved its private key to {}", path.display());
    }
    println!("{revoked_at}");
    Ok(0)
}
