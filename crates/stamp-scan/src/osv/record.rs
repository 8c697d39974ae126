//! The parts of an OSV record (OSV schema 1.x) that matching and reporting use. Unknown
//! fields are ignored; `null` where a list is expected reads as an empty list.

use serde::{Deserialize, Serialize};

use crate::json::null_as_default;

#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    pub id: String,
    pub modified: String,
    #[serde(default)]
    pub published: Option<String>,
    #[serde(default)]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub aliases: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub upstream: Vec<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<Severity>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub affected: Vec<Affected>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub references: Vec<Reference>,
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Severity {
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Package {
    pub ecosystem: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// One `affected[]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Affected {
    #[serde(default)]
    pub package: Option<Package>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<Severity>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ranges: Vec<Range>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<Event>,
}

/// One range event; exactly one field is set in a valid record.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Event {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl Affected {
    /// RustSec's informational class (`unmaintained`, `unsound`, `notice`), if any: such
    /// advisories are warnings, not vulnerabilities (as cargo-audit reports them).
    pub fn informational(&self) -> Option<String> {
        self.database_specific
            .as_ref()?
            .get("informational")?
            .as_str()
            .map(str::to_string)
    }
}

impl Record {
    /// The database-specific qualitative severity (GitHub's `severity`, e.g. `HIGH`,
    /// `MODERATE`), from the record or from any affected entry.
    pub fn database_severity(&self) -> Option<String> {
        let from = |value: &Option<serde_json::Value>| {
            value
                .as_ref()?
                .get("severity")?
                .as_str()
                .map(str::to_string)
        };
        from(&self.database_specific).or_else(|| {
            self.affected.iter().find_map(|affected| {
                from(&affected.database_specific).or_else(|| from(&affected.ecosystem_specific))
            })
        })
    }

    /// The advisory's own web page, when it names one.
    pub fn advisory_url(&self) -> Option<String> {
        self.references
            .iter()
            .find(|reference| reference.kind == "ADVISORY")
            .map(|reference| reference.url.clone())
    }
}
