//! `stamp except CODE (--image IMAGE | --package NAME) --reason TEXT --expires YYYY-MM-DD`,
//! `stamp except approve ID` and `stamp except list`: exceptions to the gate (PCI DSS 12.10.7
//! procedure, 6.3.1 risk ranking). A request and its approval are `exception` events by two
//! distinct identities of the trust file; only an approved exception that has not expired is
//! applied by `stamp check`. The log is the only store of exceptions.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use stamp_core::event::{EventKind, Outcome};
use stamp_core::Digest;
use stamp_image::Store;
use time::{Date, OffsetDateTime};

use super::signing::{load_acting_key, load_trust_recorded, read_facts};
use super::UsageError;
use crate::cli::{ExceptArgs, ExceptCommand, OutputFormat};
use crate::recorder::Recorder;

/// Longest reason, in bytes.
pub const REASON_BYTES_MAX: usize = 2048;
/// Longest finding code or advisory id, in bytes.
pub const CODE_BYTES_MAX: usize = 128;

/// What an exception covers besides its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One image, by digest.
    Image(String),
    /// A package by name, in any image.
    Package(String),
}

/// An exception as folded from the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exception {
    pub id: String,
    /// A finding code (`pan-test-number`, `secret-password`) or an advisory id.
    pub code: String,
    pub scope: Scope,
    pub reason: String,
    /// The last day it applies (UTC).
    pub expires: String,
    pub requested_by: String,
    pub approved_by: Option<String>,
    pub log_index: u64,
}

impl Exception {
    /// Approved and not past its last day at `now`.
    pub fn active(&self, now: OffsetDateTime) -> bool {
        self.approved_by.is_some()
            && parse_date(&self.expires).is_ok_and(|expires| now.date() <= expires)
    }

    /// Whether it covers a finding with `code` (or advisory id `id`) in image `image` about
    /// package `package`.
    pub fn covers(&self, code: &str, id: Option<&str>, image: &str, package: Option<&str>) -> bool {
        let code_matches = self.code == code || Some(self.code.as_str()) == id;
        let scope_matches = match &self.scope {
            Scope::Image(digest) => digest == image,
            Scope::Package(name) => Some(name.as_str()) == package,
        };
        code_matches && scope_matches
    }
}

fn parse_date(text: &str) -> Result<Date, time::error::Parse> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
}

/// Every exception in the log, requests with their approvals folded in.
pub fn read_exceptions(log: &stamp_log::SqliteLog) -> anyhow::Result<Vec<Exception>> {
    let mut exceptions: Vec<Exception> = Vec::new();
    super::signing::scan_events(log, |index, event| {
        if event.kind() != EventKind::Exception || event.outcome() != Outcome::Success {
            return false;
        }
        let details = event.details();
        let text = |key: &str| details.get(key).and_then(|value| value.as_str());
        match text("action") {
            Some("request") => {
                let scope = match (text("image"), text("package")) {
                    (Some(image), _) => Scope::Image(image.to_string()),
                    (None, Some(package)) => Scope::Package(package.to_string()),
                    _ => return false,
                };
                exceptions.push(Exception {
                    id: event.subject().to_string(),
                    code: text("code").unwrap_or_default().to_string(),
                    scope,
                    reason: text("reason").unwrap_or_default().to_string(),
                    expires: text("expires").unwrap_or_default().to_string(),
                    requested_by: event.actor().to_string(),
                    approved_by: None,
                    log_index: index,
                });
            }
            Some("approve") => {
                if let Some(exception) = exceptions
                    .iter_mut()
                    .find(|exception| exception.id == event.subject())
                {
                    if exception.requested_by != event.actor() {
                        exception.approved_by = Some(event.actor().to_string());
                    }
                }
            }
            _ => {}
        }
        false
    })?;
    Ok(exceptions)
}

pub fn run(home: Option<&Path>, key: Option<&str>, args: ExceptArgs) -> anyhow::Result<u8> {
    let home = crate::settings::home(home, None);
    match args.command {
        Some(ExceptCommand::Approve { id }) => approve(&home, key, &id, args.format),
        Some(ExceptCommand::List) => list(&home, args.format),
        None => request(&home, key, args),
    }
}

/// The acting identity's name, which must be an unrevoked identity of the trust file.
fn acting_identity(
    home: &Path,
    key: Option<&str>,
    recorder: &mut Recorder,
) -> anyhow::Result<String> {
    let mut facts = read_facts(&recorder.log)?;
    let trust = load_trust_recorded(home, recorder, &mut facts)?;
    let (key, _) = load_acting_key(home, key)?;
    let identity = trust
        .by_key_id(key.key_id())
        .filter(|identity| identity.revoked_at.is_none())
        .ok_or_else(|| {
            UsageError(format!(
                "the key `{}` is not an active identity of the trust file\nhint: add it with `stamp key new --name NAME`",
                key.key_id()
            ))
        })?;
    recorder.set_actor(&identity.name);
    Ok(identity.name.clone())
}

fn request(home: &Path, key: Option<&str>, args: ExceptArgs) -> anyhow::Result<u8> {
    let code = args.code.unwrap_or_default();
    let reason = args.reason.unwrap_or_default();
    let expires = args.expires.unwrap_or_default();
    if code.is_empty()
        || code.len() > CODE_BYTES_MAX
        || !code
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte))
    {
        return Err(UsageError(format!("`{code}` is not a finding code or advisory id")).into());
    }
    if reason.trim().is_empty()
        || reason.len() > REASON_BYTES_MAX
        || reason.contains(char::is_control)
    {
        return Err(UsageError(format!(
            "--reason must be 1 to {REASON_BYTES_MAX} bytes of text without control characters"
        ))
        .into());
    }
    let expires_date = parse_date(&expires)
        .map_err(|_| UsageError(format!("--expires `{expires}` is not a date (YYYY-MM-DD)")))?;
    if expires_date < OffsetDateTime::now_utc().date() {
        return Err(UsageError(format!("--expires `{expires}` is in the past")).into());
    }
    let scope = match (&args.image, &args.package) {
        (Some(image), None) => {
            let store = Store::open(home)
                .with_context(|| format!("opening the store at `{}`", home.display()))?;
            Scope::Image(store.resolve(image)?.digest.to_string())
        }
        (None, Some(package)) => Scope::Package(package.clone()),
        _ => return Err(UsageError("name one of --image or --package".into()).into()),
    };
    let mut recorder = Recorder::open(home)?;
    let requester = acting_identity(home, key, &mut recorder)?;
    let now = OffsetDateTime::now_utc();
    let id = format!(
        "exc-{}",
        &Digest::of(
            format!("{code}\n{scope:?}\n{reason}\n{expires}\n{requester}\n{now}").as_bytes()
        )
        .to_string()["sha256:".len().."sha256:".len() + 12]
    );
    let mut event = recorder
        .event(EventKind::Exception, Outcome::Success, &id)
        .detail("action", "request")
        .detail("code", code.clone())
        .detail("reason", reason.clone())
        .detail("expires", expires.clone());
    event = match &scope {
        Scope::Image(digest) => event.detail("image", digest.clone()),
        Scope::Package(name) => event.detail("package", name.clone()),
    };
    if let Scope::Image(digest) = &scope {
        if let Ok(digest) = digest.parse() {
            event = event.reference(digest);
        }
    }
    let index = recorder.append(event)?;
    match args.format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({ "id": id, "log_index": index, "requested_by": requester, "approved": false })
        ),
        OutputFormat::Text => {
            eprintln!("requested exception {id} for `{code}` as `{requester}` (log index {index})");
            eprintln!("hint: another identity approves it with `stamp except approve {id}`");
            println!("{id}");
        }
    }
    Ok(0)
}

fn approve(home: &Path, key: Option<&str>, id: &str, format: OutputFormat) -> anyhow::Result<u8> {
    let mut recorder = Recorder::open(home)?;
    let approver = acting_identity(home, key, &mut recorder)?;
    let exceptions = read_exceptions(&recorder.log)?;
    let Some(exception) = exceptions.iter().find(|exception| exception.id == id) else {
        return Err(UsageError(format!("no exception `{id}` in the log")).into());
    };
    let refusal = if exception.requested_by == approver {
        Some("the approver must be an identity other than the requester")
    } else if exception.approved_by.is_some() {
        Some("the exception is already approved")
    } else if !parse_date(&exception.expires)
        .is_ok_and(|expires| OffsetDateTime::now_utc().date() <= expires)
    {
        Some("the exception has expired")
    } else {
        None
    };
    if let Some(reason) = refusal {
        let index = recorder.append(
            recorder
                .event(EventKind::Exception, Outcome::Failure, id)
                .detail("action", "approve")
                .detail("reason", reason),
        )?;
        eprintln!("refused: {reason}; recorded as a failed exception event at log index {index}");
        return Ok(1);
    }
    let index = recorder.append(
        recorder
            .event(EventKind::Exception, Outcome::Success, id)
            .detail("action", "approve")
            .detail("code", exception.code.clone())
            .detail("requested_by", exception.requested_by.clone())
            .detail("request_log_index", exception.log_index),
    )?;
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::json!({ "id": id, "log_index": index, "approved_by": approver })
        ),
        OutputFormat::Text => {
            eprintln!("approved exception {id} as `{approver}` (log index {index})")
        }
    }
    Ok(0)
}

fn list(home: &Path, format: OutputFormat) -> anyhow::Result<u8> {
    let recorder = Recorder::open(home)?;
    let exceptions = read_exceptions(&recorder.log)?;
    let now = OffsetDateTime::now_utc();
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&exceptions)?),
        OutputFormat::Text => {
            for exception in &exceptions {
                let state = if exception.active(now) {
                    "active"
                } else if exception.approved_by.is_none() {
                    "unapproved"
                } else {
                    "expired"
                };
                println!(
                    "{}\t{}\t{}\t{}\t{state}",
                    exception.id,
                    exception.code,
                    match &exception.scope {
                        Scope::Image(digest) => format!("image {digest}"),
                        Scope::Package(name) => format!("package {name}"),
                    },
                    exception.expires
                );
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exception(expires: &str, approved: bool) -> Exception {
        Exception {
            id: "exc-1".into(),
            code: "pan-detected".into(),
            scope: Scope::Image("sha256:aa".into()),
            reason: "fixture".into(),
            expires: expires.into(),
            requested_by: "alice".into(),
            approved_by: approved.then(|| "bob".into()),
            log_index: 0,
        }
    }

    #[test]
    fn active_until_the_end_of_its_last_day_and_only_when_approved() {
        let day = |text: &str| {
            OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let approved = exception("2030-01-31", true);
        assert!(approved.active(day("2030-01-31T23:59:59Z")));
        assert!(!approved.active(day("2030-02-01T00:00:00Z")));
        assert!(!exception("2030-01-31", false).active(day("2030-01-01T00:00:00Z")));
        assert!(!exception("not a date", true).active(day("2030-01-01T00:00:00Z")));
    }

    #[test]
    fn covers_by_code_or_advisory_id_within_its_scope() {
        let by_image = exception("2030-01-31", true);
        assert!(by_image.covers("pan-detected", None, "sha256:aa", None));
        assert!(!by_image.covers("pan-detected", None, "sha256:bb", None));
        assert!(!by_image.covers("secret-password", None, "sha256:aa", None));
        let by_package = Exception {
            code: "GHSA-1".into(),
            scope: Scope::Package("lodash".into()),
            ..by_image
        };
        assert!(by_package.covers(
            "vulnerable-package",
            Some("GHSA-1"),
            "sha256:bb",
            Some("lodash")
        ));
        assert!(!by_package.covers(
            "vulnerable-package",
            Some("GHSA-1"),
            "sha256:bb",
            Some("left-pad")
        ));
    }
}
