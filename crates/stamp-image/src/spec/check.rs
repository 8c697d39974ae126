//! The `[check]` table of `stamp.toml`: settings of `stamp check` (documented in
//! `docs/stamp-toml.md` and `docs/audit.md`).
//!
//! ```toml
//! [check]
//! policies = "policy"         # a directory of *.rego rules, relative to stamp.toml
//! audit_fail_on = "high"      # configuration findings at or above this severity fail the gate
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{location_of, LoadSpecError, SpecError};

/// Severities `audit_fail_on` accepts (`none`: configuration findings never fail the gate).
pub const AUDIT_FAIL_ON_VALUES: &[&str] = &["critical", "high", "medium", "low", "none"];
/// The default `audit_fail_on`.
pub const AUDIT_FAIL_ON_DEFAULT: &str = "high";

/// Settings of `stamp check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckSpec {
    /// Directory of user Rego rules (absolute, resolved against the spec's directory).
    pub policies: Option<PathBuf>,
    /// Fail the gate on a configuration finding of this severity or higher (`none`: never).
    pub audit_fail_on: String,
}

impl Default for CheckSpec {
    fn default() -> Self {
        CheckSpec {
            policies: None,
            audit_fail_on: AUDIT_FAIL_ON_DEFAULT.to_string(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheck {
    policies: Option<Spanned<String>>,
    audit_fail_on: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct OnlyCheck {
    #[serde(default)]
    check: Option<Spanned<RawCheck>>,
}

/// Validate a `[check]` table. `dir` is the directory of the spec.
pub(super) fn parse_check(
    raw: Option<&Spanned<RawCheck>>,
    dir: &Path,
    error_at: &impl Fn(usize, String) -> SpecError,
) -> Result<CheckSpec, SpecError> {
    let Some(raw) = raw else {
        return Ok(CheckSpec::default());
    };
    let raw = raw.get_ref();
    let mut check = CheckSpec::default();
    if let Some(policies) = &raw.policies {
        let text = policies.get_ref();
        if text.trim().is_empty() {
            return Err(error_at(
                policies.span().start,
                "`policies` must name a directory".into(),
            ));
        }
        let path = dir.join(text);
        if !path.is_dir() {
            return Err(SpecError {
                location: error_at(policies.span().start, String::new()).location,
                message: format!(
                    "`policies = \"{text}\"`: `{}` is not a directory",
                    path.display()
                ),
                hint: Some("the directory of *.rego rules is relative to stamp.toml".to_string()),
            });
        }
        check.policies = Some(path);
    }
    if let Some(fail_on) = &raw.audit_fail_on {
        let text = fail_on.get_ref();
        if !AUDIT_FAIL_ON_VALUES.contains(&text.as_str()) {
            return Err(error_at(
                fail_on.span().start,
                format!(
                    "`audit_fail_on = \"{text}\"` is not one of {}",
                    AUDIT_FAIL_ON_VALUES.join(", ")
                ),
            ));
        }
        check.audit_fail_on = text.clone();
    }
    Ok(check)
}

/// Only the `[check]` table of the spec at `path` (the rest of the file is not validated, so
/// an image can be checked where its build inputs are absent).
pub fn load_check(path: &Path) -> Result<CheckSpec, LoadSpecError> {
    let (text, absolute) = super::read_spec_file(path)?;
    let locate = |offset: usize| location_of(&text, &absolute, offset);
    let error_at = |offset: usize, message: String| SpecError {
        location: locate(offset),
        message,
        hint: None,
    };
    let raw: OnlyCheck = toml::from_str(&text).map_err(|error| SpecError {
        location: locate(error.span().map(|span| span.start).unwrap_or(0)),
        message: error.message().trim_end().to_string(),
        hint: Some("see docs/stamp-toml.md for every key stamp.toml accepts".to_string()),
    })?;
    let dir = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
    Ok(parse_check(raw.check.as_ref(), &dir, &error_at)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<CheckSpec, LoadSpecError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policy")).unwrap();
        let path = dir.path().join("stamp.toml");
        std::fs::write(&path, text).unwrap();
        load_check(&path).map(|mut check| {
            // Relative to the temporary directory, for comparison.
            check.policies = check
                .policies
                .map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf());
            check
        })
    }

    #[test]
    fn check_table() {
        let check = load(
            "[image]\nname = \"x\"\n[check]\npolicies = \"policy\"\naudit_fail_on = \"critical\"\n",
        )
        .unwrap();
        assert_eq!(check.policies.as_deref(), Some(Path::new("policy")));
        assert_eq!(check.audit_fail_on, "critical");
        assert_eq!(
            load("[image]\nname = \"x\"\n").unwrap(),
            CheckSpec::default()
        );
    }

    #[test]
    fn bad_check_tables_name_the_line() {
        let error = load("[check]\npolicies = \"missing\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("stamp.toml:2:"), "{error}");
        assert!(error.contains("is not a directory"), "{error}");
        let error = load("[check]\n\naudit_fail_on = \"urgent\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("stamp.toml:3:"), "{error}");
        let error = load("[check]\npolicy = \"policy\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field"), "{error}");
    }
}
