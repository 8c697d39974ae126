//! The one place the CLI writes to the log: opening (or creating) `.stamp/stamp.db` and the
//! log key, building events with the PCI DSS 10.2.2 fields (actor, kind, time, outcome,
//! origin, subject), and appending them. Commands never append any other way, so no state
//! change can skip the log.
//!
//! The actor of an event is the signing identity when the command signs (set with
//! [`Recorder::set_actor`] once the key is resolved, so the log names who signed), else
//! `$STAMP_ACTOR`, else `$USER@host`. The log key signs checkpoints only.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;
use stamp_core::event::{Event, EventKind, Origin, Outcome};
use stamp_log::{LogStore, NoteSigner, SqliteLog};
use stamp_scan::pan::{find_pans, mask_pans};
use time::OffsetDateTime;

/// File names inside the store directory.
pub const LOG_DATABASE: &str = "stamp.db";
pub const LOG_KEY: &str = "log.key";
pub const LOG_VERIFIER: &str = "log.pub";

/// An open log with its signing key.
pub struct Recorder {
    pub log: SqliteLog,
    signer: NoteSigner,
    /// The signing identity acting in this command, when there is one.
    actor: Option<String>,
}

/// What `init` found or made.
pub struct Initialized {
    pub recorder: Recorder,
    pub created: bool,
}

impl Recorder {
    /// Open the log in `home`, creating it (key, database, a `log.init` event) when absent.
    pub fn open_or_init(home: &Path) -> anyhow::Result<Initialized> {
        if home.join(LOG_DATABASE).exists() {
            return Ok(Initialized {
                recorder: Self::open(home)?,
                created: false,
            });
        }
        std::fs::create_dir_all(home)
            .with_context(|| format!("creating the store directory `{}`", home.display()))?;
        let key_path = home.join(LOG_KEY);
        if key_path.exists() {
            bail!(
                "`{}` exists but the log `{}` does not; refusing to start a second history with an old key",
                key_path.display(),
                home.join(LOG_DATABASE).display()
            );
        }
        let origin = stamp_log::random_origin();
        let signer = NoteSigner::generate(&origin).context("making the log key")?;
        signer
            .write_new_file(&key_path)
            .with_context(|| format!("writing the log key `{}`", key_path.display()))?;
        let verifier_text = format!("{}\n", signer.verifier().verifier_key());
        std::fs::write(home.join(LOG_VERIFIER), verifier_text)
            .with_context(|| format!("writing `{}`", home.join(LOG_VERIFIER).display()))?;
        let log = SqliteLog::create(&home.join(LOG_DATABASE), &origin, &signer)
            .with_context(|| format!("creating the log `{}`", home.join(LOG_DATABASE).display()))?;
        let mut recorder = Recorder {
            log,
            signer,
            actor: None,
        };
        let event = recorder
            .event(EventKind::LogInit, Outcome::Success, &origin)
            .detail("verifier_key", recorder.verifier_key());
        recorder.append(event)?;
        Ok(Initialized {
            recorder,
            created: true,
        })
    }

    /// Open an existing log.
    pub fn open(home: &Path) -> anyhow::Result<Recorder> {
        let database = home.join(LOG_DATABASE);
        let log = SqliteLog::open(&database)
            .with_context(|| format!("opening the log `{}`", database.display()))?;
        let key_path = home.join(LOG_KEY);
        let signer = NoteSigner::read_file(&key_path)
            .with_context(|| format!("reading the log key `{}`", key_path.display()))?;
        Ok(Recorder {
            log,
            signer,
            actor: None,
        })
    }

    /// Name `identity` (the signing identity) as the actor of the events that follow.
    pub fn set_actor(&mut self, identity: &str) {
        self.actor = Some(identity.to_string());
    }

    /// The actor events are recorded under.
    pub fn actor(&self) -> String {
        self.actor.clone().unwrap_or_else(actor)
    }

    /// The verifier key (`name+hash+base64`) that checks this log's checkpoints.
    pub fn verifier_key(&self) -> String {
        self.signer.verifier().verifier_key()
    }

    pub fn verifier(&self) -> stamp_log::NoteVerifier {
        self.signer.verifier()
    }

    /// Start an event of `kind` about `subject` by the current actor, now, from this process.
    pub fn event(
        &self,
        kind: EventKind,
        outcome: Outcome,
        subject: &str,
    ) -> stamp_core::event::EventBuilder {
        Event::builder()
            .actor(self.actor())
            .kind(kind)
            .time(OffsetDateTime::now_utc())
            .outcome(outcome)
            .origin(Origin::new(host_name(), "stamp", std::process::id()))
            .subject(subject)
    }

    /// Append one event; returns its index once it is durable.
    pub fn append(&mut self, event: stamp_core::event::EventBuilder) -> anyhow::Result<u64> {
        let event = event.build().context("building the log event")?;
        let event = mask_card_numbers(event).context("masking the log event")?;
        let receipt = self
            .log
            .append(&self.signer, std::slice::from_ref(&event))
            .with_context(|| format!("appending a `{}` event to the log", event.kind().as_str()))?;
        Ok(receipt.first_index)
    }
}

/// Mask every card number typed into an event's free text (a reason, a name, a message)
/// before it is written, so the log never holds one (PCI DSS 3.3.1, 3.5.1): each keeps its
/// first six and last four digits, like every other place stamp shows a card number.
fn mask_card_numbers(event: Event) -> anyhow::Result<Event> {
    // Each string is searched as itself, not inside the canonical JSON: there a newline or tab
    // before a number is written `\n` or `\t`, and a number right after a letter is not one.
    let mut details = Value::Object(event.details().clone());
    mask_value(&mut details);
    let origin = event.origin();
    let unchanged = Value::Object(event.details().clone()) == details
        && [
            event.actor(),
            event.subject(),
            origin.host.as_str(),
            origin.process.name.as_str(),
        ]
        .iter()
        .all(|text| find_pans(text.as_bytes()).is_empty());
    if unchanged {
        return Ok(event);
    }
    let Value::Object(details) = details else {
        unreachable!("an object stays an object")
    };
    let mut builder = Event::builder()
        .actor(mask_pans(event.actor()))
        .kind(event.kind())
        .time(event.time())
        .outcome(event.outcome())
        .origin(Origin::new(
            mask_pans(&origin.host),
            mask_pans(&origin.process.name),
            origin.process.pid,
        ))
        .subject(mask_pans(event.subject()))
        .details(details);
    for digest in event.refs() {
        builder = builder.reference(*digest);
    }
    Ok(builder.build()?)
}

fn mask_value(value: &mut Value) {
    match value {
        Value::String(text) => *text = mask_pans(text),
        Value::Number(number) => {
            let text = number.to_string();
            let masked = mask_pans(&text);
            if masked != text {
                *value = Value::String(masked);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_value),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut item) in entries {
                mask_value(&mut item);
                map.insert(mask_pans(&key), item);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// The acting identity: `$STAMP_ACTOR`, else `$USER@host`.
pub fn actor() -> String {
    if let Ok(actor) = std::env::var("STAMP_ACTOR") {
        if !actor.trim().is_empty() {
            return actor.trim().to_string();
        }
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid-{}", rustix::process::getuid().as_raw()));
    format!("{user}@{}", host_name())
}

/// This machine's host name.
pub fn host_name() -> String {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_in_free_text_are_masked_with_their_separators() {
        assert_eq!(
            mask_pans("refund 4111 1111 1111 1111 and 5500-0000-0000-0004, ticket 42"),
            "refund 411111******1111 and 550000******0004, ticket 42"
        );
        assert_eq!(mask_pans("no numbers here: 1234"), "no numbers here: 1234");
        assert_eq!(
            mask_pans("card\n4111111111111111\tseen"),
            "card\n411111******1111\tseen"
        );
        // Not Luhn-valid: left alone.
        assert_eq!(mask_pans("4111111111111112"), "4111111111111112");
    }

    #[test]
    fn an_event_is_written_with_every_card_number_masked() {
        let mut details = serde_json::Map::new();
        details.insert(
            "reason".into(),
            Value::from("seen 4111111111111111 in a log"),
        );
        details.insert("number".into(), serde_json::json!(4111111111111111u64));
        details.insert(
            "list".into(),
            serde_json::json!([{"note": "5500000000000004"}]),
        );
        let event = Event::builder()
            .actor("alice@payments.example")
            .kind(EventKind::Exception)
            .time(OffsetDateTime::UNIX_EPOCH)
            .outcome(Outcome::Success)
            .origin(Origin::new("ops-1", "stamp", 7))
            .subject("card 4111111111111111")
            .details(details)
            .build()
            .unwrap();
        let masked = mask_card_numbers(event).unwrap();
        let bytes = String::from_utf8(masked.to_canonical_bytes()).unwrap();
        assert!(!bytes.contains("4111111111111111"), "{bytes}");
        assert!(!bytes.contains("5500000000000004"), "{bytes}");
        assert!(bytes.contains("411111******1111"), "{bytes}");
        assert!(bytes.contains("550000******0004"), "{bytes}");
        assert_eq!(masked.subject(), "card 411111******1111");
        assert!(find_pans(bytes.as_bytes()).is_empty());
    }
}
