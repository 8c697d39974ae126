//! The approval predicate (`https://stamp.dev/approval/v1`): an identity approves one image
//! for one environment (PCI DSS 6.5.4 / 6.2.3.1 release approval by an accountable person).
//!
//! ```json
//! {"approver": {"id": "alice@example.com", "keyid": "…"},
//!  "image": {"name": "payments-api", "digest": {"sha256": "…"}},
//!  "environment": "prod", "comment": "CAB-1234", "approvedOn": "2025-01-02T03:04:05Z"}
//! ```
//!
//! The statement's subject is the same image; `approvedOn` is the signer's claim, while the
//! log index of the `approve` event is the order stamp relies on.

use serde::{Deserialize, Serialize};
use stamp_core::Digest;
use time::OffsetDateTime;

use crate::provenance::format_time;
use crate::statement::{ResourceDescriptor, Statement};

/// The approval predicate type.
pub const PREDICATE_TYPE_APPROVAL: &str = "https://stamp.dev/approval/v1";

/// Longest approval comment, in bytes.
pub const COMMENT_BYTES_MAX: usize = 2048;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Approval {
    pub approver: Approver,
    pub image: ResourceDescriptor,
    pub environment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub approved_on: String,
}

/// Who approved: the identity name and the key id that signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    pub id: String,
    pub keyid: String,
}

/// A comment that cannot go into an approval.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommentError {
    #[error("the comment has {bytes} bytes, more than the {COMMENT_BYTES_MAX} allowed")]
    TooLong { bytes: usize },
    #[error("the comment contains a control character")]
    ControlCharacter,
}

/// Check a comment against [`COMMENT_BYTES_MAX`]; tabs and newlines are allowed.
pub fn check_comment(comment: &str) -> Result<(), CommentError> {
    if comment.len() > COMMENT_BYTES_MAX {
        return Err(CommentError::TooLong {
            bytes: comment.len(),
        });
    }
    if comment
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(CommentError::ControlCharacter);
    }
    Ok(())
}

/// What an approval is about.
pub struct ApprovalFacts<'a> {
    pub approver: &'a str,
    pub keyid: &'a str,
    pub image_name: &'a str,
    pub image_digest: &'a Digest,
    pub environment: &'a str,
    pub comment: Option<&'a str>,
    pub approved_on: OffsetDateTime,
}

/// The approval statement for `facts`.
pub fn approval(facts: &ApprovalFacts<'_>) -> Statement {
    let image = ResourceDescriptor::sha256(facts.image_name, facts.image_digest);
    let predicate = Approval {
        approver: Approver {
            id: facts.approver.to_string(),
            keyid: facts.keyid.to_string(),
        },
        image: image.clone(),
        environment: facts.environment.to_string(),
        comment: facts.comment.map(str::to_string),
        approved_on: format_time(facts.approved_on),
    };
    Statement::new(vec![image], PREDICATE_TYPE_APPROVAL, &predicate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn approval_round_trips_strictly() {
        let digest = Digest::of(b"image");
        let statement = approval(&ApprovalFacts {
            approver: "alice@example.com",
            keyid: "k",
            image_name: "hello",
            image_digest: &digest,
            environment: "prod",
            comment: Some("CAB-1"),
            approved_on: datetime!(2025-01-02 03:04:05 UTC),
        });
        let parsed = Statement::parse(&statement.to_json_bytes()).unwrap();
        let predicate: Approval = parsed.predicate_as().unwrap();
        assert_eq!(predicate.approver.id, "alice@example.com");
        assert_eq!(predicate.image.sha256_digest(), Some(digest));
        assert_eq!(predicate.environment, "prod");
        assert_eq!(predicate.approved_on, "2025-01-02T03:04:05Z");
        let mut value = serde_json::Value::Object(parsed.predicate.clone());
        value["approver"]["role"] = "x".into();
        assert!(serde_json::from_value::<Approval>(value).is_err());
    }

    #[test]
    fn comment_limits() {
        assert_eq!(check_comment(&"a".repeat(COMMENT_BYTES_MAX)), Ok(()));
        assert!(matches!(
            check_comment(&"a".repeat(COMMENT_BYTES_MAX + 1)),
            Err(CommentError::TooLong { .. })
        ));
        assert_eq!(check_comment("line one\nline\ttwo"), Ok(()));
        assert_eq!(
            check_comment("bell\u{7}"),
            Err(CommentError::ControlCharacter)
        );
    }
}
