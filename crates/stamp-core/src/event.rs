//! Events: the leaves of stamp's log, carrying the PCI DSS 10.2.2 audit-trail fields.
//!
//! Every state change is one [`Event`]. Its canonical bytes ([`Event::to_canonical_bytes`]) are
//! exactly what the log hashes and stores, so the encoding is fixed here once:
//!
//! * one JSON object, UTF-8, no whitespace outside strings;
//! * object keys (at every depth, `details` included) sorted by the bytes of their UTF-8
//!   encoding (the same order as RFC 8785 JCS for ASCII keys, which all of stamp's keys are);
//! * strings escaped as serde_json writes them (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`,
//!   other controls as `\u00xx` lower case; everything else, `/` and non-ASCII included, raw);
//! * numbers are integers only (no fractions, no exponents): `details` may not hold floats;
//! * `time` is UTC with whole seconds: `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, no fraction, `Z`);
//! * top-level fields: `actor`, `details` (object), `kind`, `origin` (`host`, `process`
//!   {`name`, `pid`}), `outcome` (`success` | `failure`), `refs` (array of `sha256:` digests),
//!   `subject`, `time`, `version` (currently 1).
//!
//! [`Event::from_canonical_bytes`] accepts only bytes in exactly that form (it re-encodes and
//! compares), so one event has one byte string and one leaf hash.
//!
//! An event cannot be built with a field missing or empty: [`EventBuilder::build`] names the
//! field. Refused actions are events too, with [`Outcome::Failure`] (PCI DSS 10.2.2: outcome).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::Digest;

/// Largest canonical event accepted, in bytes (1 MiB). Events hold references (digests) and
/// small details, never artifacts; a larger one is a bug or an attack on the log reader.
pub const EVENT_BYTES_MAX: usize = 1024 * 1024;

/// Longest text field (actor, subject, host, process name), in bytes.
pub const EVENT_TEXT_FIELD_BYTES_MAX: usize = 1024;

/// Deepest nesting of arrays and objects inside `details` (`details` itself is depth 1).
pub const EVENT_DETAILS_DEPTH_MAX: usize = 16;

/// Most digests in `refs`.
pub const EVENT_REFS_MAX: usize = 1024;

/// The event format version written into every event (`"version": 1`).
pub const EVENT_FORMAT_VERSION: u64 = 1;

/// Earliest and latest year an event time may carry (four-digit RFC 3339 years).
const EVENT_YEAR_MIN: i32 = 1970;
const EVENT_YEAR_MAX: i32 = 9999;

const TIME_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// What happened. Serialized as the dotted lower-case names (`instance.start`, `key.add`, …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "build")]
    Build,
    #[serde(rename = "gate")]
    Gate,
    #[serde(rename = "approve")]
    Approve,
    #[serde(rename = "promote")]
    Promote,
    #[serde(rename = "deploy")]
    Deploy,
    #[serde(rename = "instance.start")]
    InstanceStart,
    #[serde(rename = "instance.stop")]
    InstanceStop,
    #[serde(rename = "drift")]
    Drift,
    #[serde(rename = "revoke")]
    Revoke,
    #[serde(rename = "rollback")]
    Rollback,
    #[serde(rename = "exception")]
    Exception,
    #[serde(rename = "key.add")]
    KeyAdd,
    #[serde(rename = "key.revoke")]
    KeyRevoke,
    #[serde(rename = "policy.change")]
    PolicyChange,
    #[serde(rename = "log.verify")]
    LogVerify,
    #[serde(rename = "log.init")]
    LogInit,
    /// Someone read event contents from the log (PCI DSS 10.2.1.3: access to audit logs).
    #[serde(rename = "log.read")]
    LogRead,
    #[serde(rename = "evidence.export")]
    EvidenceExport,
    #[serde(rename = "control.failure")]
    ControlFailure,
    #[serde(rename = "rescan")]
    Rescan,
    /// A signed attestation (an SBOM, for example) was attached to an image.
    #[serde(rename = "attest")]
    Attest,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 21] = [
        EventKind::Build,
        EventKind::Gate,
        EventKind::Approve,
        EventKind::Promote,
        EventKind::Deploy,
        EventKind::InstanceStart,
        EventKind::InstanceStop,
        EventKind::Drift,
        EventKind::Revoke,
        EventKind::Rollback,
        EventKind::Exception,
        EventKind::KeyAdd,
        EventKind::KeyRevoke,
        EventKind::PolicyChange,
        EventKind::LogVerify,
        EventKind::LogInit,
        EventKind::LogRead,
        EventKind::EvidenceExport,
        EventKind::ControlFailure,
        EventKind::Rescan,
        EventKind::Attest,
    ];

    /// The name written into the event (`instance.start`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Build => "build",
            EventKind::Gate => "gate",
            EventKind::Approve => "approve",
            EventKind::Promote => "promote",
            EventKind::Deploy => "deploy",
            EventKind::InstanceStart => "instance.start",
            EventKind::InstanceStop => "instance.stop",
            EventKind::Drift => "drift",
            EventKind::Revoke => "revoke",
            EventKind::Rollback => "rollback",
            EventKind::Exception => "exception",
            EventKind::KeyAdd => "key.add",
            EventKind::KeyRevoke => "key.revoke",
            EventKind::PolicyChange => "policy.change",
            EventKind::LogVerify => "log.verify",
            EventKind::LogInit => "log.init",
            EventKind::LogRead => "log.read",
            EventKind::EvidenceExport => "evidence.export",
            EventKind::ControlFailure => "control.failure",
            EventKind::Rescan => "rescan",
            EventKind::Attest => "attest",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the event kinds.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown event kind `{0}`")]
pub struct ParseEventKindError(pub String);

impl FromStr for EventKind {
    type Err = ParseEventKindError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| ParseEventKindError(text.to_string()))
    }
}

/// Whether the action succeeded or was refused / failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the event came from: the host and the process that wrote it (PCI DSS 10.2.2: origination).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    pub host: String,
    pub process: Process,
}

/// The writing process: program name and process id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub name: String,
    pub pid: u32,
}

impl Origin {
    pub fn new(host: impl Into<String>, process_name: impl Into<String>, pid: u32) -> Self {
        Origin {
            host: host.into(),
            process: Process {
                name: process_name.into(),
                pid,
            },
        }
    }
}

/// One log entry. Built only through [`EventBuilder`] or parsed from canonical bytes, so every
/// value of this type has all PCI DSS 10.2.2 fields and a canonical encoding within the limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    actor: String,
    kind: EventKind,
    time: OffsetDateTime,
    outcome: Outcome,
    origin: Origin,
    subject: String,
    details: Map<String, Value>,
    refs: Vec<Digest>,
}

/// The wire form of an event (field names as written).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventWire {
    version: u64,
    actor: String,
    kind: EventKind,
    time: String,
    outcome: Outcome,
    origin: Origin,
    subject: String,
    details: Map<String, Value>,
    refs: Vec<Digest>,
}

/// Why an event could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildEventError {
    #[error("event field `{field}` is missing")]
    Missing { field: &'static str },
    #[error("event field `{field}` is empty")]
    Empty { field: &'static str },
    #[error("event field `{field}` has {bytes} bytes, more than the {max} allowed")]
    TooLong {
        field: &'static str,
        bytes: usize,
        max: usize,
    },
    #[error("event field `{field}` contains a control character")]
    ControlCharacter { field: &'static str },
    #[error("event time year {year} is outside {EVENT_YEAR_MIN}..={EVENT_YEAR_MAX}")]
    TimeOutOfRange { year: i32 },
    #[error(
        "event details contain a non-integer number at `{path}` (only integers are canonical)"
    )]
    FloatInDetails { path: String },
    #[error("event details nest deeper than {max} levels at `{path}`")]
    DetailsTooDeep { path: String, max: usize },
    #[error("event has {count} refs, more than the {max} allowed")]
    TooManyRefs { count: usize, max: usize },
    #[error("event encodes to {bytes} bytes, more than the {max} allowed")]
    TooLarge { bytes: usize, max: usize },
}

/// Why bytes are not one canonical event.
#[derive(Debug, thiserror::Error)]
pub enum ParseEventError {
    #[error("event has {bytes} bytes, more than the {max} allowed")]
    TooLarge { bytes: usize, max: usize },
    #[error("event is not valid JSON of the event shape")]
    Json(#[source] serde_json::Error),
    #[error("event format version {found} is not supported (expected {EVENT_FORMAT_VERSION})")]
    Version { found: u64 },
    #[error("event time `{time}` is not `YYYY-MM-DDTHH:MM:SSZ`")]
    Time { time: String },
    #[error("event is not valid")]
    Invalid(#[source] BuildEventError),
    #[error("event bytes are not in canonical form (sorted keys, no whitespace)")]
    NotCanonical,
}

impl Event {
    /// Start building an event.
    pub fn builder() -> EventBuilder {
        EventBuilder::default()
    }

    /// The identity that acted (user id or workload identity).
    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// When it happened, UTC, whole seconds.
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// The time as written in the event (`YYYY-MM-DDTHH:MM:SSZ`).
    pub fn time_text(&self) -> String {
        format_time(self.time)
    }

    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The affected thing: an image digest, an instance id or an environment name.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Kind-specific fields (a JSON object).
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }

    /// Digests of artifacts this event refers to (attestations, SBOMs, …).
    pub fn refs(&self) -> &[Digest] {
        &self.refs
    }

    /// The canonical bytes: the log leaf. See the module documentation for the exact form.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256 + self.subject.len());
        write_canonical(&self.to_value(), &mut out);
        out.into_bytes()
    }

    /// Parse canonical bytes written by [`Event::to_canonical_bytes`]; anything else is refused.
    pub fn from_canonical_bytes(bytes: &[u8]) -> Result<Event, ParseEventError> {
        if bytes.len() > EVENT_BYTES_MAX {
            return Err(ParseEventError::TooLarge {
                bytes: bytes.len(),
                max: EVENT_BYTES_MAX,
            });
        }
        let wire: EventWire = serde_json::from_slice(bytes).map_err(ParseEventError::Json)?;
        if wire.version != EVENT_FORMAT_VERSION {
            return Err(ParseEventError::Version {
                found: wire.version,
            });
        }
        let time = parse_time(&wire.time).ok_or_else(|| ParseEventError::Time {
            time: wire.time.clone(),
        })?;
        let event = Event {
            actor: wire.actor,
            kind: wire.kind,
            time,
            outcome: wire.outcome,
            origin: wire.origin,
            subject: wire.subject,
            details: wire.details,
            refs: wire.refs,
        };
        event.validate().map_err(ParseEventError::Invalid)?;
        if event.to_canonical_bytes() != bytes {
            return Err(ParseEventError::NotCanonical);
        }
        Ok(event)
    }

    fn to_value(&self) -> Value {
        let mut process = Map::new();
        process.insert("name".into(), Value::from(self.origin.process.name.clone()));
        process.insert("pid".into(), Value::from(self.origin.process.pid));
        let mut origin = Map::new();
        origin.insert("host".into(), Value::from(self.origin.host.clone()));
        origin.insert("process".into(), Value::Object(process));
        let mut top = Map::new();
        top.insert("version".into(), Value::from(EVENT_FORMAT_VERSION));
        top.insert("actor".into(), Value::from(self.actor.clone()));
        top.insert("kind".into(), Value::from(self.kind.as_str()));
        top.insert("time".into(), Value::from(format_time(self.time)));
        top.insert("outcome".into(), Value::from(self.outcome.as_str()));
        top.insert("origin".into(), Value::Object(origin));
        top.insert("subject".into(), Value::from(self.subject.clone()));
        top.insert("details".into(), Value::Object(self.details.clone()));
        top.insert(
            "refs".into(),
            Value::Array(
                self.refs
                    .iter()
                    .map(|digest| Value::from(digest.to_string()))
                    .collect(),
            ),
        );
        Value::Object(top)
    }

    fn validate(&self) -> Result<(), BuildEventError> {
        check_text("actor", &self.actor)?;
        check_text("subject", &self.subject)?;
        check_text("origin.host", &self.origin.host)?;
        check_text("origin.process.name", &self.origin.process.name)?;
        let year = self.time.year();
        if !(EVENT_YEAR_MIN..=EVENT_YEAR_MAX).contains(&year) {
            return Err(BuildEventError::TimeOutOfRange { year });
        }
        for (key, value) in &self.details {
            check_details(value, &format!("details.{key}"), 2)?;
        }
        if self.refs.len() > EVENT_REFS_MAX {
            return Err(BuildEventError::TooManyRefs {
                count: self.refs.len(),
                max: EVENT_REFS_MAX,
            });
        }
        let bytes = self.to_canonical_bytes().len();
        if bytes > EVENT_BYTES_MAX {
            return Err(BuildEventError::TooLarge {
                bytes,
                max: EVENT_BYTES_MAX,
            });
        }
        Ok(())
    }
}

fn check_text(field: &'static str, value: &str) -> Result<(), BuildEventError> {
    if value.is_empty() {
        return Err(BuildEventError::Empty { field });
    }
    if value.len() > EVENT_TEXT_FIELD_BYTES_MAX {
        return Err(BuildEventError::TooLong {
            field,
            bytes: value.len(),
            max: EVENT_TEXT_FIELD_BYTES_MAX,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(BuildEventError::ControlCharacter { field });
    }
    Ok(())
}

fn check_details(value: &Value, path: &str, depth: usize) -> Result<(), BuildEventError> {
    match value {
        Value::Number(number) if !(number.is_i64() || number.is_u64()) => {
            Err(BuildEventError::FloatInDetails {
                path: path.to_string(),
            })
        }
        Value::Array(items) => {
            check_depth(path, depth)?;
            for (position, item) in items.iter().enumerate() {
                check_details(item, &format!("{path}[{position}]"), depth + 1)?;
            }
            Ok(())
        }
        Value::Object(fields) => {
            check_depth(path, depth)?;
            for (key, item) in fields {
                check_details(item, &format!("{path}.{key}"), depth + 1)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_depth(path: &str, depth: usize) -> Result<(), BuildEventError> {
    if depth > EVENT_DETAILS_DEPTH_MAX {
        return Err(BuildEventError::DetailsTooDeep {
            path: path.to_string(),
            max: EVENT_DETAILS_DEPTH_MAX,
        });
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` of `time` in UTC, fractions dropped: how events write times.
pub fn format_time(time: OffsetDateTime) -> String {
    // Infallible for years 1970..=9999, which validate() guarantees.
    time.to_offset(UtcOffset::UTC)
        .format(TIME_FORMAT)
        .unwrap_or_default()
}

/// Parse a time as events write it (`YYYY-MM-DDTHH:MM:SSZ`).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(text, TIME_FORMAT)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Write `value` in the canonical form described in the module documentation.
/// Independent of serde_json's `preserve_order` feature: keys are sorted here.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (position, key) in keys.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                if let Some(item) = fields.get(key) {
                    write_canonical(item, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push_str(&Value::from(text).to_string());
}

/// Builds an [`Event`]; `build` refuses a missing or empty field and names it.
#[derive(Debug, Default, Clone)]
pub struct EventBuilder {
    actor: Option<String>,
    kind: Option<EventKind>,
    time: Option<OffsetDateTime>,
    outcome: Option<Outcome>,
    origin: Option<Origin>,
    subject: Option<String>,
    details: Map<String, Value>,
    refs: Vec<Digest>,
}

impl EventBuilder {
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    pub fn kind(mut self, kind: EventKind) -> Self {
        self.kind = Some(kind);
        self
    }

    /// The event time; converted to UTC and truncated to whole seconds.
    pub fn time(mut self, time: OffsetDateTime) -> Self {
        self.time = Some(time);
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    pub fn origin(mut self, origin: Origin) -> Self {
        self.origin = Some(origin);
        self
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Replace all details with `details`.
    pub fn details(mut self, details: Map<String, Value>) -> Self {
        self.details = details;
        self
    }

    /// Set one detail field.
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Add one referenced digest.
    pub fn reference(mut self, digest: Digest) -> Self {
        self.refs.push(digest);
        self
    }

    pub fn build(self) -> Result<Event, BuildEventError> {
        let time = self
            .time
            .ok_or(BuildEventError::Missing { field: "time" })?
            .to_offset(UtcOffset::UTC);
        let time = time.replace_nanosecond(0).unwrap_or(time);
        let event = Event {
            actor: self
                .actor
                .ok_or(BuildEventError::Missing { field: "actor" })?,
            kind: self
                .kind
                .ok_or(BuildEventError::Missing { field: "kind" })?,
            time,
            outcome: self
                .outcome
                .ok_or(BuildEventError::Missing { field: "outcome" })?,
            origin: self
                .origin
                .ok_or(BuildEventError::Missing { field: "origin" })?,
            subject: self
                .subject
                .ok_or(BuildEventError::Missing { field: "subject" })?,
            details: self.details,
            refs: self.refs,
        };
        event.validate()?;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> EventBuilder {
        Event::builder()
            .actor("alice@example.com")
            .kind(EventKind::Build)
            .time(datetime!(2025-03-04 05:06:07.89 UTC))
            .outcome(Outcome::Success)
            .origin(Origin::new("build-1", "stamp", 4242))
            .subject("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    #[test]
    fn canonical_bytes_are_sorted_compact_and_exact() {
        let event = sample()
            .detail("z", 1)
            .detail("image", serde_json::json!({"name": "pay", "digest": "d"}))
            .reference(Digest::of(b""))
            .build()
            .unwrap();
        let text = String::from_utf8(event.to_canonical_bytes()).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"actor":"alice@example.com","details":{"image":{"digest":"d","name":"pay"},"z":1},"#,
                r#""kind":"build","origin":{"host":"build-1","process":{"name":"stamp","pid":4242}},"#,
                r#""outcome":"success","refs":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],"#,
                r#""subject":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","#,
                r#""time":"2025-03-04T05:06:07Z","version":1}"#
            )
        );
        let parsed = Event::from_canonical_bytes(text.as_bytes()).unwrap();
        assert_eq!(parsed, event);
    }

    #[test]
    fn every_missing_field_is_named() {
        let full = sample();
        let cases: [(&str, EventBuilder); 6] = [
            (
                "actor",
                EventBuilder {
                    actor: None,
                    ..full.clone()
                },
            ),
            (
                "kind",
                EventBuilder {
                    kind: None,
                    ..full.clone()
                },
            ),
            (
                "time",
                EventBuilder {
                    time: None,
                    ..full.clone()
                },
            ),
            (
                "outcome",
                EventBuilder {
                    outcome: None,
                    ..full.clone()
                },
            ),
            (
                "origin",
                EventBuilder {
                    origin: None,
                    ..full.clone()
                },
            ),
            (
                "subject",
                EventBuilder {
                    subject: None,
                    ..full.clone()
                },
            ),
        ];
        for (field, builder) in cases {
            assert_eq!(builder.build(), Err(BuildEventError::Missing { field }));
        }
    }

    #[test]
    fn empty_and_control_strings_are_refused() {
        assert_eq!(
            sample().actor("").build(),
            Err(BuildEventError::Empty { field: "actor" })
        );
        assert_eq!(
            sample().subject("").build(),
            Err(BuildEventError::Empty { field: "subject" })
        );
        assert_eq!(
            sample().origin(Origin::new("", "stamp", 1)).build(),
            Err(BuildEventError::Empty {
                field: "origin.host"
            })
        );
        assert_eq!(
            sample().origin(Origin::new("h", "", 1)).build(),
            Err(BuildEventError::Empty {
                field: "origin.process.name"
            })
        );
        assert_eq!(
            sample().actor("a\nb").build(),
            Err(BuildEventError::ControlCharacter { field: "actor" })
        );
    }

    #[test]
    fn text_field_limit_boundary() {
        let at_limit = "a".repeat(EVENT_TEXT_FIELD_BYTES_MAX);
        assert!(sample().actor(at_limit.clone()).build().is_ok());
        let over = format!("{at_limit}a");
        assert!(matches!(
            sample().actor(over).build(),
            Err(BuildEventError::TooLong { field: "actor", .. })
        ));
    }

    #[test]
    fn event_size_limit_boundary() {
        let base = sample().detail("pad", "").build().unwrap();
        let overhead = base.to_canonical_bytes().len();
        let fits = "x".repeat(EVENT_BYTES_MAX - overhead);
        let event = sample().detail("pad", fits.clone()).build().unwrap();
        let bytes = event.to_canonical_bytes();
        assert_eq!(bytes.len(), EVENT_BYTES_MAX);
        assert_eq!(Event::from_canonical_bytes(&bytes).unwrap(), event);
        assert!(matches!(
            sample().detail("pad", format!("{fits}x")).build(),
            Err(BuildEventError::TooLarge { .. })
        ));
        let mut too_big = bytes.clone();
        too_big.push(b' ');
        assert!(matches!(
            Event::from_canonical_bytes(&too_big),
            Err(ParseEventError::TooLarge { .. })
        ));
    }

    #[test]
    fn details_depth_boundary_and_floats() {
        let mut value = Value::from(1);
        // details.key is depth 2; each wrapping array adds one level.
        for _ in 0..(EVENT_DETAILS_DEPTH_MAX - 1) {
            value = Value::Array(vec![value]);
        }
        assert!(sample().detail("deep", value.clone()).build().is_ok());
        let deeper = Value::Array(vec![value]);
        assert!(matches!(
            sample().detail("deep", deeper).build(),
            Err(BuildEventError::DetailsTooDeep { .. })
        ));
        assert!(matches!(
            sample().detail("ratio", 0.5).build(),
            Err(BuildEventError::FloatInDetails { .. })
        ));
    }

    #[test]
    fn refs_limit_boundary() {
        let mut builder = sample();
        for _ in 0..EVENT_REFS_MAX {
            builder = builder.reference(Digest::of(b"x"));
        }
        assert!(builder.clone().build().is_ok());
        assert!(matches!(
            builder.reference(Digest::of(b"x")).build(),
            Err(BuildEventError::TooManyRefs { .. })
        ));
    }

    #[test]
    fn non_canonical_bytes_are_refused() {
        let event = sample().build().unwrap();
        let text = String::from_utf8(event.to_canonical_bytes()).unwrap();
        let spaced = text.replacen(":", ": ", 1);
        assert!(matches!(
            Event::from_canonical_bytes(spaced.as_bytes()),
            Err(ParseEventError::NotCanonical)
        ));
        let fractional = text.replace("07Z", "07.5Z");
        assert!(matches!(
            Event::from_canonical_bytes(fractional.as_bytes()),
            Err(ParseEventError::Time { .. })
        ));
        let unknown = text.replacen('{', r#"{"extra":1,"#, 1);
        assert!(matches!(
            Event::from_canonical_bytes(unknown.as_bytes()),
            Err(ParseEventError::Json(_))
        ));
        let version = text.replace(r#""version":1"#, r#""version":2"#);
        assert!(matches!(
            Event::from_canonical_bytes(version.as_bytes()),
            Err(ParseEventError::Version { found: 2 })
        ));
    }

    #[test]
    fn kinds_round_trip_as_dotted_names() {
        for kind in EventKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(kind.as_str().parse::<EventKind>().unwrap(), kind);
        }
        assert!("instance_start".parse::<EventKind>().is_err());
    }

    #[test]
    fn time_is_utc_whole_seconds() {
        let event = sample()
            .time(datetime!(2025-03-04 07:06:07.999 +02:00))
            .build()
            .unwrap();
        assert_eq!(event.time_text(), "2025-03-04T05:06:07Z");
    }
}
