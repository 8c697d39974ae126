//! Separation of duties and signing rules, as pure decisions over the trust file and facts
//! folded from the log (PCI DSS 6.5.4, 6.2.3.1, 8.2.1).
//!
//! * a signer must be in the trust file, unrevoked, and hold a role the action needs;
//! * the approver of an image is never an identity that built it (compared by identity name
//!   and by key id, over every recorded build of that digest, since a reproducible image can
//!   be built more than once); an image without a build record cannot be approved;
//! * an environment is approved when its required number of distinct identities approved.
//!
//! A [`Refusal`] is a decision, not a failure to decide: the caller logs it as a failure event
//! and exits 1.

use std::collections::{BTreeMap, BTreeSet};

use stamp_core::Digest;

use crate::trust::{roles_text, EnvironmentPolicy, Identity, Role};

/// One recorded build of an image: who built it, with which key, at which log index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRecord {
    pub builder: String,
    pub key_id: Option<String>,
    pub index: u64,
}

/// Why an action was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("key {key_id} is not in the trust file, so it may not sign")]
    UnknownKey { key_id: String },
    #[error("`{name}` (key {key_id}) was revoked at log index {revoked_at}; new signatures by it are refused")]
    Revoked {
        name: String,
        key_id: String,
        revoked_at: u64,
    },
    #[error("`{name}` has roles {has}; to {action} it needs one of: {needs}")]
    MissingRole {
        name: String,
        action: String,
        has: String,
        needs: String,
    },
    #[error("`{name}` built image {image} (log index {index}); the approver of an image must not be its builder (PCI DSS 6.5.4)")]
    ApproverIsBuilder {
        name: String,
        image: Digest,
        index: u64,
    },
    #[error("image {image} has no build record in the log, so its builder is unknown and separation of duties cannot be checked")]
    NoBuildRecord { image: Digest },
}

impl Refusal {
    /// A stable kebab-case code, written into the failure event.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::UnknownKey { .. } => "unknown-key",
            Refusal::Revoked { .. } => "key-revoked",
            Refusal::MissingRole { .. } => "missing-role",
            Refusal::ApproverIsBuilder { .. } => "approver-is-builder",
            Refusal::NoBuildRecord { .. } => "no-build-record",
        }
    }
}

/// The earliest revocation of `identity`'s key: the trust file's `revoked_at` or a
/// `key.revoke` event in the log, whichever comes first.
pub fn effective_revocation(
    identity: &Identity,
    log_revocations: &BTreeMap<String, u64>,
) -> Option<u64> {
    let from_log = log_revocations.get(identity.key_id()).copied();
    match (identity.revoked_at, from_log) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// May `identity` make a new signature to `action`, needing one of `roles`?
pub fn check_signer(
    identity: Option<&Identity>,
    key_id: &str,
    log_revocations: &BTreeMap<String, u64>,
    roles: &BTreeSet<Role>,
    action: &str,
) -> Result<(), Refusal> {
    let identity = identity.ok_or_else(|| Refusal::UnknownKey {
        key_id: key_id.to_string(),
    })?;
    if let Some(revoked_at) = effective_revocation(identity, log_revocations) {
        return Err(Refusal::Revoked {
            name: identity.name.clone(),
            key_id: identity.key_id().to_string(),
            revoked_at,
        });
    }
    if !identity.has_any_role(roles) {
        return Err(Refusal::MissingRole {
            name: identity.name.clone(),
            action: action.to_string(),
            has: roles_text(&identity.roles),
            needs: roles_text(roles),
        });
    }
    Ok(())
}

/// May `approver` approve `image` for an environment with `policy`, given its `builds`?
pub fn check_approval(
    approver: Option<&Identity>,
    key_id: &str,
    log_revocations: &BTreeMap<String, u64>,
    environment: &str,
    policy: &EnvironmentPolicy,
    image: &Digest,
    builds: &[BuildRecord],
) -> Result<(), Refusal> {
    check_signer(
        approver,
        key_id,
        log_revocations,
        &policy.approver_roles,
        &format!("approve for `{environment}`"),
    )?;
    let approver = approver.expect("check_signer refuses an unknown key");
    if builds.is_empty() {
        return Err(Refusal::NoBuildRecord { image: *image });
    }
    if let Some(build) = builds.iter().find(|build| {
        build.builder == approver.name || build.key_id.as_deref() == Some(approver.key_id())
    }) {
        return Err(Refusal::ApproverIsBuilder {
            name: approver.name.clone(),
            image: *image,
            index: build.index,
        });
    }
    Ok(())
}

/// How far an environment's approval of one image has come.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ApprovalCount {
    pub environment: String,
    pub required: u32,
    /// Distinct approving identities, sorted.
    pub approvers: Vec<String>,
    pub satisfied: bool,
}

/// Count distinct `approvers` against `policy`.
pub fn count_approvals<'a>(
    environment: &str,
    policy: &EnvironmentPolicy,
    approvers: impl IntoIterator<Item = &'a str>,
) -> ApprovalCount {
    let approvers: BTreeSet<&str> = approvers.into_iter().collect();
    ApprovalCount {
        environment: environment.to_string(),
        required: policy.approvals,
        satisfied: approvers.len() as u64 >= u64::from(policy.approvals),
        approvers: approvers.into_iter().map(str::to_string).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::IdentityKey;

    fn identity(name: &str, roles: &[Role]) -> Identity {
        Identity {
            name: name.into(),
            public_key: IdentityKey::generate().public().clone(),
            roles: roles.iter().copied().collect(),
            revoked_at: None,
            revoked_reason: None,
        }
    }

    fn build_by(identity: &Identity, index: u64) -> BuildRecord {
        BuildRecord {
            builder: identity.name.clone(),
            key_id: Some(identity.key_id().to_string()),
            index,
        }
    }

    #[test]
    fn approval_rules() {
        let image = Digest::of(b"image");
        let prod = EnvironmentPolicy::with_approvals(2);
        let none = BTreeMap::new();
        let builder = identity("builder", &[Role::Builder, Role::Approver]);
        let alice = identity("alice", &[Role::Approver]);
        let carol = identity("carol", &[Role::Deployer]);
        let builds = [build_by(&builder, 3)];
        let check =
            |who: &Identity, builds: &[BuildRecord], revocations: &BTreeMap<String, u64>| {
                check_approval(
                    Some(who),
                    who.key_id(),
                    revocations,
                    "prod",
                    &prod,
                    &image,
                    builds,
                )
            };

        assert_eq!(check(&alice, &builds, &none), Ok(()));
        assert!(matches!(
            check(&builder, &builds, &none),
            Err(Refusal::ApproverIsBuilder { index: 3, .. })
        ));
        assert!(matches!(
            check(&carol, &builds, &none),
            Err(Refusal::MissingRole { .. })
        ));
        assert!(matches!(
            check(&alice, &[], &none),
            Err(Refusal::NoBuildRecord { .. })
        ));
        // Same key under another name is still the builder.
        let renamed = BuildRecord {
            builder: "someone-else".into(),
            key_id: Some(alice.key_id().to_string()),
            index: 9,
        };
        assert!(matches!(
            check(&alice, &[renamed], &none),
            Err(Refusal::ApproverIsBuilder { index: 9, .. })
        ));
        // A revocation in the log counts even when the trust file does not show it.
        let revoked = BTreeMap::from([(alice.key_id().to_string(), 5)]);
        assert!(matches!(
            check(&alice, &builds, &revoked),
            Err(Refusal::Revoked { revoked_at: 5, .. })
        ));
        assert!(matches!(
            check_approval(None, "abc", &none, "prod", &prod, &image, &builds),
            Err(Refusal::UnknownKey { .. })
        ));
    }

    #[test]
    fn effective_revocation_is_the_earliest() {
        let mut alice = identity("alice", &[]);
        let key = alice.key_id().to_string();
        assert_eq!(effective_revocation(&alice, &BTreeMap::new()), None);
        alice.revoked_at = Some(9);
        assert_eq!(effective_revocation(&alice, &BTreeMap::new()), Some(9));
        assert_eq!(
            effective_revocation(&alice, &BTreeMap::from([(key, 4)])),
            Some(4)
        );
    }

    #[test]
    fn approvals_count_distinct_identities() {
        let prod = EnvironmentPolicy::with_approvals(2);
        let one = count_approvals("prod", &prod, ["alice", "alice"]);
        assert_eq!(one.approvers, vec!["alice"]);
        assert!(!one.satisfied);
        let two = count_approvals("prod", &prod, ["bob", "alice", "alice"]);
        assert_eq!(two.approvers, vec!["alice", "bob"]);
        assert!(two.satisfied);
    }
}
