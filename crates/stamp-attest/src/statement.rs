//! in-toto attestation framework v1: the Statement and the ResourceDescriptor.
//!
//! Field names are the JSON names of the in-toto protobuf definitions
//! (`in_toto_attestation/v1/statement.proto`, `resource_descriptor.proto`), and parsing is
//! strict (unknown fields are refused), as the in-toto checkers parse them. Beyond
//! `Statement.validate()` of the reference implementation (type, at least one subject, each
//! with a digest, a predicate type and a non-empty predicate), stamp requires every subject
//! to carry a well-formed `sha256` digest, since subjects are OCI image digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use stamp_core::Digest;

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE_V1: &str = "https://in-toto.io/Statement/v1";

/// Most subjects in one statement stamp reads.
pub const SUBJECTS_MAX: usize = 1024;

/// in-toto ResourceDescriptor v1 (subjects, dependencies, byproducts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uri: String,
    /// Algorithm (`sha256`, `gitCommit`, …) to lower-case hex.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub digest: BTreeMap<String, String>,
    /// Base64 of inline content.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub download_location: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
}

impl ResourceDescriptor {
    /// A descriptor naming `name` with the sha256 `digest`.
    pub fn sha256(name: impl Into<String>, digest: &Digest) -> ResourceDescriptor {
        ResourceDescriptor {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), digest.hex())]),
            ..ResourceDescriptor::default()
        }
    }

    /// The `sha256` digest, when present and well formed.
    pub fn sha256_digest(&self) -> Option<Digest> {
        self.digest
            .get("sha256")
            .and_then(|hex| Digest::from_hex(hex).ok())
    }
}

/// An in-toto Statement v1 with its predicate as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    pub subject: Vec<ResourceDescriptor>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Map<String, Value>,
}

/// Why a payload is not a Statement v1 stamp accepts.
#[derive(Debug, thiserror::Error)]
pub enum ParseStatementError {
    #[error("payload is not an in-toto Statement (strict JSON: `_type`, `subject`, `predicateType`, `predicate`)")]
    Json(#[source] serde_json::Error),
    #[error("statement `_type` is `{0}`, not `{STATEMENT_TYPE_V1}`")]
    Type(String),
    #[error("statement has no subject")]
    NoSubject,
    #[error("statement has {count} subjects, more than the {max} allowed")]
    TooManySubjects { count: usize, max: usize },
    #[error("statement subject {position} has no well-formed `sha256` digest")]
    SubjectDigest { position: usize },
    #[error("statement has an empty `predicateType`")]
    NoPredicateType,
    #[error("statement has an empty `predicate`")]
    EmptyPredicate,
}

impl Statement {
    /// A statement about `subject` with `predicate` of `predicate_type`.
    pub fn new(
        subject: Vec<ResourceDescriptor>,
        predicate_type: &str,
        predicate: &impl Serialize,
    ) -> Statement {
        let predicate = match serde_json::to_value(predicate) {
            Ok(Value::Object(map)) => map,
            _ => panic!("a predicate serializes to a JSON object"),
        };
        Statement {
            statement_type: STATEMENT_TYPE_V1.to_string(),
            subject,
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// Compact JSON: the DSSE payload.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a statement serializes")
    }

    /// Parse strictly and validate.
    pub fn parse(bytes: &[u8]) -> Result<Statement, ParseStatementError> {
        let statement: Statement =
            serde_json::from_slice(bytes).map_err(ParseStatementError::Json)?;
        if statement.statement_type != STATEMENT_TYPE_V1 {
            return Err(ParseStatementError::Type(statement.statement_type));
        }
        if statement.subject.is_empty() {
            return Err(ParseStatementError::NoSubject);
        }
        if statement.subject.len() > SUBJECTS_MAX {
            return Err(ParseStatementError::TooManySubjects {
                count: statement.subject.len(),
                max: SUBJECTS_MAX,
            });
        }
        for (position, subject) in statement.subject.iter().enumerate() {
            if subject.sha256_digest().is_none() {
                return Err(ParseStatementError::SubjectDigest { position });
            }
        }
        if statement.predicate_type.is_empty() {
            return Err(ParseStatementError::NoPredicateType);
        }
        if statement.predicate.is_empty() {
            return Err(ParseStatementError::EmptyPredicate);
        }
        Ok(statement)
    }

    /// The sha256 digests of the subjects.
    pub fn subject_digests(&self) -> Vec<Digest> {
        self.subject
            .iter()
            .filter_map(ResourceDescriptor::sha256_digest)
            .collect()
    }

    /// The predicate parsed strictly as `P`.
    pub fn predicate_as<P: serde::de::DeserializeOwned>(&self) -> Result<P, serde_json::Error> {
        serde_json::from_value(Value::Object(self.predicate.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Statement {
        Statement::new(
            vec![ResourceDescriptor::sha256("hello", &Digest::of(b"image"))],
            "https://example.com/p/v1",
            &serde_json::json!({"k": "v"}),
        )
    }

    #[test]
    fn serializes_with_the_in_toto_field_names_and_round_trips() {
        let statement = sample();
        let text = String::from_utf8(statement.to_json_bytes()).unwrap();
        assert!(
            text.starts_with(&format!(
                "{{\"_type\":\"{STATEMENT_TYPE_V1}\",\"subject\":[{{\"name\":\"hello\",\"digest\":{{\"sha256\":\"{}\"}}}}],\"predicateType\":",
                Digest::of(b"image").hex()
            )),
            "{text}"
        );
        let parsed = Statement::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed, statement);
        assert_eq!(parsed.subject_digests(), vec![Digest::of(b"image")]);
    }

    #[test]
    fn refuses_unknown_fields_wrong_type_and_missing_parts() {
        let good = serde_json::to_value(sample()).unwrap();
        let check = |value: serde_json::Value| Statement::parse(value.to_string().as_bytes());

        let mut unknown = good.clone();
        unknown["extra"] = 1.into();
        assert!(matches!(check(unknown), Err(ParseStatementError::Json(_))));

        let mut unknown_in_subject = good.clone();
        unknown_in_subject["subject"][0]["extra"] = 1.into();
        assert!(matches!(
            check(unknown_in_subject),
            Err(ParseStatementError::Json(_))
        ));

        let mut old_type = good.clone();
        old_type["_type"] = "https://in-toto.io/Statement/v0.1".into();
        assert!(matches!(check(old_type), Err(ParseStatementError::Type(_))));

        let mut no_subject = good.clone();
        no_subject["subject"] = serde_json::json!([]);
        assert!(matches!(
            check(no_subject),
            Err(ParseStatementError::NoSubject)
        ));

        let mut bad_digest = good.clone();
        bad_digest["subject"][0]["digest"]["sha256"] = "ABC".into();
        assert!(matches!(
            check(bad_digest),
            Err(ParseStatementError::SubjectDigest { position: 0 })
        ));

        let mut empty_predicate = good.clone();
        empty_predicate["predicate"] = serde_json::json!({});
        assert!(matches!(
            check(empty_predicate),
            Err(ParseStatementError::EmptyPredicate)
        ));

        let mut no_type = good;
        no_type["predicateType"] = "".into();
        assert!(matches!(
            check(no_type),
            Err(ParseStatementError::NoPredicateType)
        ));
    }

    #[test]
    fn subject_count_boundary() {
        let mut statement = sample();
        statement.subject = vec![statement.subject[0].clone(); SUBJECTS_MAX];
        assert!(Statement::parse(&statement.to_json_bytes()).is_ok());
        statement.subject.push(statement.subject[0].clone());
        assert!(matches!(
            Statement::parse(&statement.to_json_bytes()),
            Err(ParseStatementError::TooManySubjects { .. })
        ));
    }
}
