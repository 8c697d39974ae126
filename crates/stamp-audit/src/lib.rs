//! PCI DSS configuration audit (requirements 2.2.x and 8.x) of an image's root filesystem.
//!
//! [`facts::collect`] reads a root filesystem into one JSON document; [`RuleSet`] evaluates
//! Rego rules over it with regorus: the built-in PCI baseline (`rules/*.rego`, embedded) and
//! the user's rules from a directory. Every rule is a package `stamp.rules.NAME` defining
//!
//! * `metadata := {"code", "title", "severity", "pci", "remediation"}`;
//! * `not_applicable := "why"` when the component it checks is absent (optional);
//! * `failures contains "offending item"` (a set of strings; empty means pass).
//!
//! The rule catalogue, the facts schema and how to add rules: `docs/audit.md`.

pub mod facts;
pub mod fs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest as _, Sha256};

pub use facts::{collect, collect_root, Context, Facts};
pub use fs::{MemTree, Root};

/// Identifier of the built-in rule set in verdicts.
pub const RULE_SET_ID: &str = "stamp-pci-audit";
/// Package prefix of a rule.
pub const RULE_PACKAGE_PREFIX: &str = "data.stamp.rules.";
/// Largest user rule file read.
pub const RULE_FILE_BYTES_MAX: u64 = 1 << 20;
/// Most user rule files read from a directory.
pub const RULE_FILES_MAX: usize = 1000;
/// Most failure items kept per rule (the count keeps the total).
pub const ITEMS_MAX: usize = 200;
/// Longest rule code.
pub const CODE_BYTES_MAX: usize = 128;

/// The built-in PCI baseline, in order (the order of the rule-set digest).
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    ("lib.rego", include_str!("../rules/lib.rego")),
    (
        "base_pinned.rego",
        include_str!("../rules/base_pinned.rego"),
    ),
    (
        "cloud_users.rego",
        include_str!("../rules/cloud_users.rego"),
    ),
    ("core_dumps.rego", include_str!("../rules/core_dumps.rego")),
    (
        "empty_password.rego",
        include_str!("../rules/empty_password.rego"),
    ),
    (
        "insecure_services.rego",
        include_str!("../rules/insecure_services.rego"),
    ),
    ("lockout.rego", include_str!("../rules/lockout.rego")),
    ("non_root.rego", include_str!("../rules/non_root.rego")),
    (
        "package_caches.rego",
        include_str!("../rules/package_caches.rego"),
    ),
    (
        "password_hashing.rego",
        include_str!("../rules/password_hashing.rego"),
    ),
    (
        "password_history.rego",
        include_str!("../rules/password_history.rego"),
    ),
    (
        "password_length.rego",
        include_str!("../rules/password_length.rego"),
    ),
    ("setuid.rego", include_str!("../rules/setuid.rego")),
    (
        "shell_timeout.rego",
        include_str!("../rules/shell_timeout.rego"),
    ),
    (
        "sshd_empty_passwords.rego",
        include_str!("../rules/sshd_empty_passwords.rego"),
    ),
    (
        "sshd_idle_timeout.rego",
        include_str!("../rules/sshd_idle_timeout.rego"),
    ),
    (
        "sshd_password_auth.rego",
        include_str!("../rules/sshd_password_auth.rego"),
    ),
    (
        "sshd_root_login.rego",
        include_str!("../rules/sshd_root_login.rego"),
    ),
    (
        "sshd_weak_crypto.rego",
        include_str!("../rules/sshd_weak_crypto.rego"),
    ),
    (
        "system_accounts.rego",
        include_str!("../rules/system_accounts.rego"),
    ),
    ("uid0.rego", include_str!("../rules/uid0.rego")),
    (
        "world_writable.rego",
        include_str!("../rules/world_writable.rego"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("reading the rule directory `{}`: {source}", .path.display())]
    ReadDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading the rule file `{}`: {message}", .path.display())]
    ReadFile { path: PathBuf, message: String },
    #[error("more than {RULE_FILES_MAX} rule files in `{}`", .0.display())]
    TooManyFiles(PathBuf),
    #[error("Rego rule file `{file}` does not compile: {message}")]
    Syntax { file: String, message: String },
    #[error("rule `{package}` in `{file}`: {message}")]
    Rule {
        package: String,
        file: String,
        message: String,
    },
    #[error("evaluating `{package}` ({file}): {message}")]
    Eval {
        package: String,
        file: String,
        message: String,
    },
}

/// Severity of a configuration finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(text: &str) -> Option<Severity> {
        match text {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Outcome of one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "not-applicable",
        }
    }
}

/// One rule's result.
#[derive(Clone, Debug, Serialize)]
pub struct RuleResult {
    pub code: String,
    pub title: String,
    pub severity: Severity,
    pub pci: Vec<String>,
    pub remediation: String,
    pub status: Status,
    /// Offending items of a failure, sorted, at most [`ITEMS_MAX`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// How many items failed in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub failed_items: usize,
    /// Why the rule does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `builtin:FILE` or the user rule file.
    pub source: String,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

struct RuleFile {
    /// `builtin:NAME` or a path.
    name: String,
    text: String,
    builtin: bool,
}

/// The rules to evaluate: the built-in baseline and any user rules.
pub struct RuleSet {
    files: Vec<RuleFile>,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self::builtin()
    }
}

impl RuleSet {
    /// The built-in PCI baseline.
    pub fn builtin() -> RuleSet {
        RuleSet {
            files: BUILTIN_RULES
                .iter()
                .map(|(name, text)| RuleFile {
                    name: format!("builtin:{name}"),
                    text: text.to_string(),
                    builtin: true,
                })
                .collect(),
        }
    }

    /// Add every `*.rego` file of `dir` (not recursive, sorted by name).
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), AuditError> {
        let entries = std::fs::read_dir(dir).map_err(|source| AuditError::ReadDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "rego"))
            .collect();
        paths.sort();
        if paths.len() > RULE_FILES_MAX {
            return Err(AuditError::TooManyFiles(dir.to_path_buf()));
        }
        for path in paths {
            self.add_file(&path)?;
        }
        Ok(())
    }

    /// Add one user rule file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), AuditError> {
        let error = |message: String| AuditError::ReadFile {
            path: path.to_path_buf(),
            message,
        };
        let metadata = std::fs::metadata(path).map_err(|e| error(e.to_string()))?;
        if !metadata.is_file() {
            return Err(error("not a regular file".into()));
        }
        if metadata.len() > RULE_FILE_BYTES_MAX {
            return Err(error(format!(
                "{} bytes, over the limit of {RULE_FILE_BYTES_MAX}",
                metadata.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        self.add_text(&path.display().to_string(), text);
        Ok(())
    }

    /// Add a user rule from text (`name` names it in messages).
    pub fn add_text(&mut self, name: &str, text: String) {
        self.files.push(RuleFile {
            name: name.to_string(),
            text,
            builtin: false,
        });
    }

    /// SHA-256 over the built-in rule files in order: for each, its name, a NUL, its length
    /// in decimal, a NUL and its bytes.
    pub fn builtin_digest() -> String {
        digest(BUILTIN_RULES.iter().map(|(name, text)| (*name, *text)))
    }

    /// SHA-256 over the user rule files in order (same framing, names as given); None
    /// without user rules.
    pub fn user_digest(&self) -> Option<String> {
        let user: Vec<&RuleFile> = self.files.iter().filter(|file| !file.builtin).collect();
        (!user.is_empty()).then(|| {
            digest(user.iter().map(|file| {
                (
                    file.name.rsplit('/').next().unwrap_or(&file.name),
                    file.text.as_str(),
                )
            }))
        })
    }

    /// Evaluate every rule over `facts`. Results are ordered by code.
    pub fn evaluate(&self, facts: &Facts) -> Result<Vec<RuleResult>, AuditError> {
        self.evaluate_value(&serde_json::to_value(facts).expect("facts serialize"))
    }

    /// Evaluate every rule over a facts document given as JSON.
    pub fn evaluate_value(&self, facts: &serde_json::Value) -> Result<Vec<RuleResult>, AuditError> {
        let mut engine = regorus::Engine::new();
        let mut package_files: BTreeMap<String, String> = BTreeMap::new();
        for file in &self.files {
            let package = engine
                .add_policy(file.name.clone(), file.text.clone())
                .map_err(|error| AuditError::Syntax {
                    file: file.name.clone(),
                    message: error.to_string(),
                })?;
            if package.starts_with(RULE_PACKAGE_PREFIX) {
                if let Some(previous) = package_files.insert(package.clone(), file.name.clone()) {
                    return Err(AuditError::Rule {
                        package,
                        file: file.name.clone(),
                        message: format!("the package is also defined in `{previous}`"),
                    });
                }
            }
        }
        let input = facts.to_string();
        engine
            .set_input_json(&input)
            .map_err(|error| AuditError::Eval {
                package: "input".into(),
                file: "facts".into(),
                message: error.to_string(),
            })?;
        let mut results = Vec::new();
        let mut codes: BTreeMap<String, String> = BTreeMap::new();
        for (package, file) in &package_files {
            let result = evaluate_rule(&mut engine, package, file)?;
            if let Some(previous) = codes.insert(result.code.clone(), package.clone()) {
                return Err(AuditError::Rule {
                    package: package.clone(),
                    file: file.clone(),
                    message: format!("code `{}` is also used by `{previous}`", result.code),
                });
            }
            results.push(result);
        }
        results.sort_by(|a, b| a.code.cmp(&b.code));
        Ok(results)
    }
}

fn digest<'a>(files: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut hasher = Sha256::new();
    for (name, text) in files {
        hasher.update(name.as_bytes());
        hasher.update([0]);
        hasher.update(text.len().to_string().as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

fn evaluate_rule(
    engine: &mut regorus::Engine,
    package: &str,
    file: &str,
) -> Result<RuleResult, AuditError> {
    let rule_error = |message: String| AuditError::Rule {
        package: package.to_string(),
        file: file.to_string(),
        message,
    };
    let mut eval = |name: &str| -> Result<serde_json::Value, AuditError> {
        let results = engine
            .eval_query(format!("{package}.{name}"), false)
            .map_err(|error| AuditError::Eval {
                package: package.to_string(),
                file: file.to_string(),
                message: error.to_string(),
            })?;
        let Some(value) = results
            .result
            .into_iter()
            .next()
            .and_then(|result| result.expressions.into_iter().next())
            .map(|expression| expression.value)
        else {
            return Ok(serde_json::Value::Null);
        };
        if value == regorus::Value::Undefined {
            return Ok(serde_json::Value::Null);
        }
        let json = value.to_json_str().map_err(|error| AuditError::Eval {
            package: package.to_string(),
            file: file.to_string(),
            message: error.to_string(),
        })?;
        Ok(serde_json::from_str(&json).unwrap_or(serde_json::Value::Null))
    };
    let metadata = eval("metadata")?;
    let text = |key: &str| -> Result<String, AuditError> {
        metadata[key]
            .as_str()
            .filter(|text| !text.trim().is_empty())
            .map(str::to_string)
            .ok_or_else(|| rule_error(format!("`metadata.{key}` must be a non-empty string")))
    };
    if !metadata.is_object() {
        return Err(rule_error(
            "defines no `metadata` object (code, title, severity, pci, remediation)".into(),
        ));
    }
    let code = text("code")?;
    if code.len() > CODE_BYTES_MAX
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        return Err(rule_error(format!(
            "code `{code}` must be at most {CODE_BYTES_MAX} letters, digits, `-`, `.` or `_`"
        )));
    }
    let severity_text = text("severity")?;
    let severity = Severity::parse(&severity_text).ok_or_else(|| {
        rule_error(format!(
            "severity `{severity_text}` is not critical, high, medium or low"
        ))
    })?;
    let pci: Vec<String> = metadata["pci"]
        .as_array()
        .map(|ids| {
            ids.iter()
                .filter_map(|id| id.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if pci.is_empty() {
        return Err(rule_error(
            "`metadata.pci` must list PCI DSS requirement ids".into(),
        ));
    }
    let not_applicable = eval("not_applicable")?;
    let (status, items, reason) = if !not_applicable.is_null() && not_applicable != false {
        let reason = match &not_applicable {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        (Status::NotApplicable, Vec::new(), Some(reason))
    } else {
        let failures = eval("failures")?;
        let mut items: Vec<String> = match failures {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                })
                .collect(),
            other => {
                return Err(rule_error(format!(
                    "`failures` must be a set of strings, not {other}"
                )))
            }
        };
        items.sort();
        items.dedup();
        let status = if items.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        };
        (status, items, None)
    };
    let failed_items = items.len();
    let mut items = items;
    items.truncate(ITEMS_MAX);
    Ok(RuleResult {
        code,
        title: text("title")?,
        severity,
        pci,
        remediation: text("remediation")?,
        status,
        items,
        failed_items,
        reason,
        source: file.to_string(),
    })
}
