//! The trust file (`.stamp/trust.toml`, format in `docs/trust.md`): which identities exist,
//! their public keys and roles, which are revoked (and at which log index), and what each
//! environment requires (how many distinct approvers, which roles approve and deploy).
//!
//! Parsing is strict (unknown keys are refused, so a misspelt `aprovals` never silently
//! means "no rule"); a stated `key_id` must match the key; names of active identities and
//! all key ids are unique. [`Trust::to_toml`] writes the file in one fixed layout, so a
//! parse of what it writes gives back the same value.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use stamp_core::Digest;

use crate::keys::{ParsePublicKeyError, PublicKey};

/// The trust file format version.
pub const TRUST_FILE_VERSION: u32 = 1;

/// Largest trust file read, in bytes.
pub const TRUST_FILE_BYTES_MAX: u64 = 1 << 20;

/// Most identities in one trust file.
pub const IDENTITIES_MAX: usize = 4096;

/// Most approvals an environment may require.
pub const APPROVALS_MAX: u32 = 16;

/// Longest identity name, in bytes (names are also key file names).
pub const IDENTITY_NAME_BYTES_MAX: usize = 128;

/// Longest environment name, in bytes.
pub const ENVIRONMENT_NAME_BYTES_MAX: usize = 64;

/// Longest revocation reason, in bytes.
pub const REASON_BYTES_MAX: usize = 1024;

/// What an identity may do (DESIGN.md "Identity, roles, separation of duties").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Builder,
    Approver,
    Deployer,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Builder,
        Role::Approver,
        Role::Deployer,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Builder => "builder",
            Role::Approver => "approver",
            Role::Deployer => "deployer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a role.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role `{0}` (roles: builder, approver, deployer, auditor, admin)")]
pub struct ParseRoleError(pub String);

impl FromStr for Role {
    type Err = ParseRoleError;

    fn from_str(text: &str) -> Result<Role, ParseRoleError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| ParseRoleError(text.to_string()))
    }
}

/// Roles as `a, b` for messages.
pub fn roles_text(roles: &BTreeSet<Role>) -> String {
    if roles.is_empty() {
        return "(none)".into();
    }
    roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `name` can name an identity (and its key file): 1 to
/// [`IDENTITY_NAME_BYTES_MAX`] bytes of ASCII letters, digits and `._@+-`, not starting with
/// `.` or `-`.
pub fn is_valid_identity_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IDENTITY_NAME_BYTES_MAX
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
}

/// Whether `name` can name an environment: 1 to [`ENVIRONMENT_NAME_BYTES_MAX`] bytes of
/// lower-case letters, digits, `-` and `_`, starting with a letter or digit.
pub fn is_valid_environment_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ENVIRONMENT_NAME_BYTES_MAX
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// One identity bound to one key. A rotated identity appears once per key; only one entry
/// per name may be unrevoked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub public_key: PublicKey,
    pub roles: BTreeSet<Role>,
    /// Log index of the `key.revoke` event, when revoked.
    pub revoked_at: Option<u64>,
    pub revoked_reason: Option<String>,
}

impl Identity {
    pub fn key_id(&self) -> &str {
        self.public_key.key_id()
    }

    pub fn has_any_role(&self, roles: &BTreeSet<Role>) -> bool {
        !self.roles.is_disjoint(roles)
    }
}

/// What one environment requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentPolicy {
    /// Distinct approvers needed before a deploy.
    pub approvals: u32,
    /// Roles that may approve for this environment.
    pub approver_roles: BTreeSet<Role>,
    /// Roles that may deploy to this environment.
    pub deployer_roles: BTreeSet<Role>,
    /// Promotion rule: only digests that ran healthy in this other environment may be
    /// promoted here, and only promoted digests may be deployed here.
    pub promote_from: Option<String>,
}

impl EnvironmentPolicy {
    pub fn with_approvals(approvals: u32) -> EnvironmentPolicy {
        EnvironmentPolicy {
            approvals,
            approver_roles: BTreeSet::from([Role::Approver]),
            deployer_roles: BTreeSet::from([Role::Deployer]),
            promote_from: None,
        }
    }
}

/// The defaults: dev and staging need one approver, prod two.
pub fn default_environments() -> BTreeMap<String, EnvironmentPolicy> {
    BTreeMap::from([
        ("dev".to_string(), EnvironmentPolicy::with_approvals(1)),
        ("staging".to_string(), EnvironmentPolicy::with_approvals(1)),
        ("prod".to_string(), EnvironmentPolicy::with_approvals(2)),
    ])
}

/// The parsed trust file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    identities: Vec<Identity>,
    environments: BTreeMap<String, EnvironmentPolicy>,
}

/// Why a trust file is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ParseTrustError {
    #[error("not a valid trust file")]
    Toml(#[source] toml::de::Error),
    #[error("trust file version {0} is not supported (expected {TRUST_FILE_VERSION})")]
    Version(u32),
    #[error("the trust file lists {count} identities, more than the {IDENTITIES_MAX} allowed")]
    TooManyIdentities { count: usize },
    #[error("identity name `{0}` is not valid (letters, digits and `._@+-`, at most {IDENTITY_NAME_BYTES_MAX} bytes)")]
    Name(String),
    #[error("identity `{name}`: public key is not valid")]
    PublicKey {
        name: String,
        #[source]
        source: ParsePublicKeyError,
    },
    #[error("identity `{name}`: key_id {stated} does not match its public key ({computed})")]
    KeyIdMismatch {
        name: String,
        stated: String,
        computed: String,
    },
    #[error("identity `{name}`: revoked_reason without revoked_at")]
    ReasonWithoutRevocation { name: String },
    #[error("identity `{name}`: revoked_reason is longer than {REASON_BYTES_MAX} bytes or holds a control character")]
    Reason { name: String },
    #[error(transparent)]
    Change(#[from] TrustChangeError),
    #[error("environment name `{0}` is not valid (lower-case letters, digits, `-`, `_`)")]
    EnvironmentName(String),
    #[error("environment `{name}`: approvals = {value} is outside 1..={APPROVALS_MAX}")]
    Approvals { name: String, value: u32 },
    #[error("environment `{name}`: promote_from = `{from}` is not another environment of the trust file")]
    PromoteFrom { name: String, from: String },
    #[error("environment `{name}`: approver_roles is empty, so nobody could approve")]
    NoApproverRoles { name: String },
}

/// Why a change to the trust was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustChangeError {
    #[error("an unrevoked identity named `{0}` already exists")]
    DuplicateName(String),
    #[error("key {0} is already in the trust file")]
    DuplicateKey(String),
    #[error("no identity with key {0}")]
    UnknownKey(String),
    #[error("identity `{0}` is already revoked")]
    AlreadyRevoked(String),
}

/// Why the trust file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LoadTrustError {
    #[error("reading the trust file `{}`", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the trust file `{}` is larger than {TRUST_FILE_BYTES_MAX} bytes", .path.display())]
    TooLarge { path: PathBuf },
    #[error("the trust file `{}` is not valid", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseTrustError,
    },
    #[error("writing the trust file `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: stamp_image::store::StoreError,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    version: u32,
    #[serde(default)]
    identities: Vec<RawIdentity>,
    #[serde(default)]
    environments: Option<BTreeMap<String, RawEnvironment>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    name: String,
    #[serde(default)]
    key_id: Option<String>,
    public_key: String,
    #[serde(default)]
    roles: BTreeSet<Role>,
    #[serde(default)]
    revoked_at: Option<u64>,
    #[serde(default)]
    revoked_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    approvals: u32,
    #[serde(default = "default_approver_roles")]
    approver_roles: BTreeSet<Role>,
    #[serde(default = "default_deployer_roles")]
    deployer_roles: BTreeSet<Role>,
    #[serde(default)]
    promote_from: Option<String>,
}

fn default_approver_roles() -> BTreeSet<Role> {
    BTreeSet::from([Role::Approver])
}

fn default_deployer_roles() -> BTreeSet<Role> {
    BTreeSet::from([Role::Deployer])
}

fn valid_reason(reason: &str) -> bool {
    reason.len() <= REASON_BYTES_MAX && !reason.chars().any(char::is_control)
}

impl Default for Trust {
    fn default() -> Self {
        Trust::new()
    }
}

impl Trust {
    /// No identities and the default environments.
    pub fn new() -> Trust {
        Trust {
            identities: Vec::new(),
            environments: default_environments(),
        }
    }

    /// Parse trust file text.
    pub fn parse(text: &str) -> Result<Trust, ParseTrustError> {
        let raw: RawTrust = toml::from_str(text).map_err(ParseTrustError::Toml)?;
        if raw.version != TRUST_FILE_VERSION {
            return Err(ParseTrustError::Version(raw.version));
        }
        if raw.identities.len() > IDENTITIES_MAX {
            return Err(ParseTrustError::TooManyIdentities {
                count: raw.identities.len(),
            });
        }
        let mut trust = Trust {
            identities: Vec::new(),
            environments: BTreeMap::new(),
        };
        for raw in raw.identities {
            if !is_valid_identity_name(&raw.name) {
                return Err(ParseTrustError::Name(raw.name));
            }
            let public_key =
                PublicKey::parse(&raw.public_key).map_err(|source| ParseTrustError::PublicKey {
                    name: raw.name.clone(),
                    source,
                })?;
            if let Some(stated) = &raw.key_id {
                if stated != public_key.key_id() {
                    return Err(ParseTrustError::KeyIdMismatch {
                        name: raw.name,
                        stated: stated.clone(),
                        computed: public_key.key_id().to_string(),
                    });
                }
            }
            if raw.revoked_reason.is_some() && raw.revoked_at.is_none() {
                return Err(ParseTrustError::ReasonWithoutRevocation { name: raw.name });
            }
            if raw
                .revoked_reason
                .as_deref()
                .is_some_and(|reason| !valid_reason(reason))
            {
                return Err(ParseTrustError::Reason { name: raw.name });
            }
            trust.add(Identity {
                name: raw.name,
                public_key,
                roles: raw.roles,
                revoked_at: raw.revoked_at,
                revoked_reason: raw.revoked_reason,
            })?;
        }
        let environments = match raw.environments {
            None => default_environments(),
            Some(environments) => environments
                .into_iter()
                .map(|(name, raw)| {
                    let policy = EnvironmentPolicy {
                        approvals: raw.approvals,
                        approver_roles: raw.approver_roles,
                        deployer_roles: raw.deployer_roles,
                        promote_from: raw.promote_from,
                    };
                    check_environment(&name, &policy)?;
                    Ok((name, policy))
                })
                .collect::<Result<BTreeMap<_, _>, ParseTrustError>>()?,
        };
        for (name, policy) in &environments {
            if let Some(from) = &policy.promote_from {
                if from == name || !environments.contains_key(from) {
                    return Err(ParseTrustError::PromoteFrom {
                        name: name.clone(),
                        from: from.clone(),
                    });
                }
            }
        }
        trust.environments = environments;
        Ok(trust)
    }

    /// Read `path`: `Ok(None)` when it does not exist; the digest is of the bytes read.
    pub fn load(path: &Path) -> Result<Option<(Trust, Digest)>, LoadTrustError> {
        let io = |source| LoadTrustError::Io {
            path: path.to_path_buf(),
            source,
        };
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io(error)),
        };
        if metadata.len() > TRUST_FILE_BYTES_MAX {
            return Err(LoadTrustError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        if bytes.len() as u64 > TRUST_FILE_BYTES_MAX {
            return Err(LoadTrustError::TooLarge {
                path: path.to_path_buf(),
            });
        }
        let text = String::from_utf8(bytes)
            .map_err(|error| io(std::io::Error::new(std::io::ErrorKind::InvalidData, error)))?;
        let trust = Trust::parse(&text).map_err(|source| LoadTrustError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Some((trust, Digest::of(text.as_bytes()))))
    }

    /// Write the file atomically; returns the digest of the bytes written.
    pub fn save(&self, path: &Path) -> Result<Digest, LoadTrustError> {
        let text = self.to_toml();
        stamp_image::store::write_atomic(path, text.as_bytes()).map_err(|source| {
            LoadTrustError::Write {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(Digest::of(text.as_bytes()))
    }

    pub fn identities(&self) -> &[Identity] {
        &self.identities
    }

    pub fn environments(&self) -> &BTreeMap<String, EnvironmentPolicy> {
        &self.environments
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentPolicy> {
        self.environments.get(name)
    }

    pub fn by_key_id(&self, key_id: &str) -> Option<&Identity> {
        self.identities
            .iter()
            .find(|identity| identity.key_id() == key_id)
    }

    /// The unrevoked identity called `name`.
    pub fn active(&self, name: &str) -> Option<&Identity> {
        self.identities
            .iter()
            .find(|identity| identity.name == name && identity.revoked_at.is_none())
    }

    /// An identity by name (the unrevoked one, else the most recently listed), or by a key id
    /// or a unique key id prefix of at least 8 hex characters.
    pub fn find(&self, name_or_key_id: &str) -> Option<&Identity> {
        if let Some(identity) = self.active(name_or_key_id) {
            return Some(identity);
        }
        if let Some(identity) = self
            .identities
            .iter()
            .rev()
            .find(|identity| identity.name == name_or_key_id)
        {
            return Some(identity);
        }
        if name_or_key_id.len() < 8 || !name_or_key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut matches = self
            .identities
            .iter()
            .filter(|identity| identity.key_id().starts_with(name_or_key_id));
        let first = matches.next()?;
        matches.next().is_none().then_some(first)
    }

    /// Add an identity; its name must not be active already and its key must be new.
    pub fn add(&mut self, identity: Identity) -> Result<(), TrustChangeError> {
        if identity.revoked_at.is_none() && self.active(&identity.name).is_some() {
            return Err(TrustChangeError::DuplicateName(identity.name));
        }
        if self.by_key_id(identity.key_id()).is_some() {
            return Err(TrustChangeError::DuplicateKey(
                identity.key_id().to_string(),
            ));
        }
        self.identities.push(identity);
        Ok(())
    }

    /// Mark the identity with `key_id` revoked at log index `at`.
    pub fn revoke(&mut self, key_id: &str, at: u64, reason: &str) -> Result<(), TrustChangeError> {
        let identity = self
            .identities
            .iter_mut()
            .find(|identity| identity.key_id() == key_id)
            .ok_or_else(|| TrustChangeError::UnknownKey(key_id.to_string()))?;
        if identity.revoked_at.is_some() {
            return Err(TrustChangeError::AlreadyRevoked(identity.name.clone()));
        }
        identity.revoked_at = Some(at);
        identity.revoked_reason = Some(reason.to_string()).filter(|reason| !reason.is_empty());
        Ok(())
    }

    /// Replace the roles of the identity with `key_id`.
    pub fn set_roles(
        &mut self,
        key_id: &str,
        roles: BTreeSet<Role>,
    ) -> Result<(), TrustChangeError> {
        let identity = self
            .identities
            .iter_mut()
            .find(|identity| identity.key_id() == key_id)
            .ok_or_else(|| TrustChangeError::UnknownKey(key_id.to_string()))?;
        identity.roles = roles;
        Ok(())
    }

    /// Set (or add) the policy of environment `name`.
    pub fn set_environment(
        &mut self,
        name: &str,
        policy: EnvironmentPolicy,
    ) -> Result<(), ParseTrustError> {
        check_environment(name, &policy)?;
        self.environments.insert(name.to_string(), policy);
        Ok(())
    }

    /// The file text in stamp's fixed layout.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(concat!(
            "# stamp trust file: identities, their public keys and roles, and what each\n",
            "# environment requires. Format: docs/trust.md. Changed by `stamp key` and\n",
            "# `stamp trust`; every change is a key.add, key.revoke or policy.change event in\n",
            "# the log, and an edit by hand is recorded as a policy.change when stamp next reads it.\n",
        ));
        out.push_str(&format!("version = {TRUST_FILE_VERSION}\n"));
        for (name, policy) in &self.environments {
            out.push_str(&format!("\n[environments.{name}]\n"));
            out.push_str(&format!("approvals = {}\n", policy.approvals));
            out.push_str(&format!(
                "approver_roles = {}\n",
                roles_array(&policy.approver_roles)
            ));
            out.push_str(&format!(
                "deployer_roles = {}\n",
                roles_array(&policy.deployer_roles)
            ));
            if let Some(from) = &policy.promote_from {
                out.push_str(&format!("promote_from = {}\n", quote(from)));
            }
        }
        for identity in &self.identities {
            out.push_str("\n[[identities]]\n");
            out.push_str(&format!("name = {}\n", quote(&identity.name)));
            out.push_str(&format!("key_id = {}\n", quote(identity.key_id())));
            out.push_str(&format!("roles = {}\n", roles_array(&identity.roles)));
            out.push_str(&format!(
                "public_key = '''\n{}'''\n",
                identity.public_key.to_pem()
            ));
            if let Some(at) = identity.revoked_at {
                out.push_str(&format!("revoked_at = {at}\n"));
            }
            if let Some(reason) = &identity.revoked_reason {
                out.push_str(&format!("revoked_reason = {}\n", quote(reason)));
            }
        }
        out
    }
}

fn check_environment(name: &str, policy: &EnvironmentPolicy) -> Result<(), ParseTrustError> {
    if !is_valid_environment_name(name) {
        return Err(ParseTrustError::EnvironmentName(name.to_string()));
    }
    if !(1..=APPROVALS_MAX).contains(&policy.approvals) {
        return Err(ParseTrustError::Approvals {
            name: name.to_string(),
            value: policy.approvals,
        });
    }
    if policy.approver_roles.is_empty() {
        return Err(ParseTrustError::NoApproverRoles {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// A TOML basic string. JSON string escapes (`\"`, `\\`, `\n`, `\uXXXX`, …) are all valid
/// TOML escapes, so serde_json's quoting is used.
fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn roles_array(roles: &BTreeSet<Role>) -> String {
    let items: Vec<String> = roles.iter().map(|role| quote(role.as_str())).collect();
    format!("[{}]", items.join(", "))
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

    #[test]
    fn written_files_parse_back_to_the_same_trust() {
        let mut trust = Trust::new();
        trust
            .add(identity("builder@example.com", &[Role::Builder]))
            .unwrap();
        let alice = identity("alice@example.com", &[Role::Approver, Role::Auditor]);
        let alice_key = alice.key_id().to_string();
        trust.add(alice).unwrap();
        trust.revoke(&alice_key, 7, "laptop \"lost\"").unwrap();
        trust
            .set_environment("perf-1", EnvironmentPolicy::with_approvals(3))
            .unwrap();
        let text = trust.to_toml();
        assert!(
            text.contains("[environments.prod]\napprovals = 2\n"),
            "{text}"
        );
        assert!(text.contains("revoked_at = 7\n"), "{text}");
        assert_eq!(Trust::parse(&text).unwrap(), trust);
    }

    #[test]
    fn missing_environments_mean_the_defaults() {
        let trust = Trust::parse("version = 1\n").unwrap();
        assert_eq!(trust.environment("prod").unwrap().approvals, 2);
        assert_eq!(trust.environment("dev").unwrap().approvals, 1);
        assert_eq!(trust.environment("staging").unwrap().approvals, 1);
        let only_prod = Trust::parse("version = 1\n[environments.prod]\napprovals = 3\n").unwrap();
        assert!(only_prod.environment("dev").is_none());
        assert_eq!(
            only_prod.environment("prod").unwrap().approver_roles,
            BTreeSet::from([Role::Approver])
        );
    }

    #[test]
    fn promote_from_names_another_environment_and_round_trips() {
        let text = "version = 1\n[environments.staging]\napprovals = 1\n[environments.prod]\napprovals = 2\npromote_from = \"staging\"\n";
        let trust = Trust::parse(text).unwrap();
        assert_eq!(
            trust.environment("prod").unwrap().promote_from.as_deref(),
            Some("staging")
        );
        assert_eq!(trust.environment("staging").unwrap().promote_from, None);
        let written = trust.to_toml();
        assert!(
            written.contains("promote_from = \"staging\"\n"),
            "{written}"
        );
        assert!(!written.contains("promote_from = \"\""), "{written}");
        assert_eq!(Trust::parse(&written).unwrap(), trust);
        for from in ["qa", "prod"] {
            let text = format!(
                "version = 1\n[environments.prod]\napprovals = 2\npromote_from = \"{from}\"\n"
            );
            assert!(
                matches!(
                    Trust::parse(&text),
                    Err(ParseTrustError::PromoteFrom { ref name, from: ref f }) if name == "prod" && f == from
                ),
                "{from}"
            );
        }
        assert!(matches!(
            Trust::parse(
                "version = 1\n[environments.prod]\napprovals = 2\npromote_form = \"dev\"\n"
            ),
            Err(ParseTrustError::Toml(_))
        ));
    }

    #[test]
    fn strict_parsing_names_the_problem() {
        let key = IdentityKey::generate();
        let pem = key.public().to_pem();
        let entry = |extra: &str| {
            format!(
                "version = 1\n[[identities]]\nname = \"a@b\"\npublic_key = '''\n{pem}'''\n{extra}"
            )
        };
        assert!(Trust::parse(&entry("")).is_ok());
        assert!(matches!(
            Trust::parse(&entry("rolez = []\n")),
            Err(ParseTrustError::Toml(_))
        ));
        assert!(matches!(
            Trust::parse(&entry("roles = [\"superuser\"]\n")),
            Err(ParseTrustError::Toml(_))
        ));
        assert!(matches!(
            Trust::parse(&entry("key_id = \"00\"\n")),
            Err(ParseTrustError::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            Trust::parse(&entry("revoked_reason = \"x\"\n")),
            Err(ParseTrustError::ReasonWithoutRevocation { .. })
        ));
        assert!(matches!(
            Trust::parse("version = 2\n"),
            Err(ParseTrustError::Version(2))
        ));
        assert!(matches!(
            Trust::parse("version = 1\n[environments.prod]\napprovals = 0\n"),
            Err(ParseTrustError::Approvals { .. })
        ));
        assert!(matches!(
            Trust::parse(&format!(
                "version = 1\n[environments.prod]\napprovals = {}\n",
                APPROVALS_MAX + 1
            )),
            Err(ParseTrustError::Approvals { .. })
        ));
        assert!(Trust::parse(&format!(
            "version = 1\n[environments.prod]\napprovals = {APPROVALS_MAX}\n"
        ))
        .is_ok());
        assert!(matches!(
            Trust::parse("version = 1\n[environments.prod]\napprovals = 1\napprover_roles = []\n"),
            Err(ParseTrustError::NoApproverRoles { .. })
        ));
        assert!(matches!(
            Trust::parse("version = 1\n[environments.Prod]\napprovals = 1\n"),
            Err(ParseTrustError::EnvironmentName(_))
        ));
        let twice = format!("{}{}", entry(""), entry("").replace("version = 1\n", ""));
        assert!(matches!(
            Trust::parse(&twice),
            Err(ParseTrustError::Change(TrustChangeError::DuplicateName(_)))
        ));
    }

    #[test]
    fn names_and_lookups() {
        assert!(is_valid_identity_name("alice@example.com"));
        assert!(is_valid_identity_name("ci+build_1"));
        assert!(!is_valid_identity_name("../etc"));
        assert!(!is_valid_identity_name(".hidden"));
        assert!(!is_valid_identity_name("a b"));
        assert!(!is_valid_identity_name(""));
        assert!(is_valid_identity_name(&"a".repeat(IDENTITY_NAME_BYTES_MAX)));
        assert!(!is_valid_identity_name(
            &"a".repeat(IDENTITY_NAME_BYTES_MAX + 1)
        ));

        let mut trust = Trust::new();
        let old = identity("alice", &[Role::Approver]);
        let old_key = old.key_id().to_string();
        trust.add(old).unwrap();
        assert_eq!(
            trust.add(identity("alice", &[])),
            Err(TrustChangeError::DuplicateName("alice".into()))
        );
        trust.revoke(&old_key, 3, "rotated").unwrap();
        assert_eq!(
            trust.revoke(&old_key, 4, "again"),
            Err(TrustChangeError::AlreadyRevoked("alice".into()))
        );
        // After revocation the name can take a new key (rotation).
        let new = identity("alice", &[Role::Approver]);
        let new_key = new.key_id().to_string();
        trust.add(new).unwrap();
        assert_eq!(trust.find("alice").unwrap().key_id(), new_key);
        assert_eq!(trust.find(&old_key[..8]).unwrap().key_id(), old_key);
        assert!(trust.find(&old_key[..7]).is_none());
        assert!(trust.find("bob").is_none());
    }
}
