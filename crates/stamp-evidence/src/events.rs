//! `log/events.jsonl`: one line per included log entry, `{"index":N,"leaf":EVENT}` where EVENT
//! is the entry's exact leaf bytes (canonical JSON, one line by construction), so the leaf hash
//! recomputes from the file and any JSON reader can still read each line.

use stamp_core::event::EVENT_BYTES_MAX;
use stamp_core::Event;

/// One log entry as the pack holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    pub index: u64,
    /// The leaf: the event's canonical bytes, unchanged.
    pub bytes: Vec<u8>,
}

impl LoggedEvent {
    /// The event, when the bytes are one canonical event.
    pub fn event(&self) -> Result<Event, stamp_core::ParseEventError> {
        Event::from_canonical_bytes(&self.bytes)
    }
}

/// Most lines in `log/events.jsonl`.
pub const EVENTS_MAX: usize = 1_000_000;

/// Why `log/events.jsonl` could not be read.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseEventsError {
    #[error("line {line}: not `{{\"index\":N,\"leaf\":EVENT}}`")]
    Shape { line: usize },
    #[error("line {line}: longer than {max} bytes")]
    TooLong { line: usize, max: usize },
    #[error("more than {max} lines")]
    TooMany { max: usize },
    #[error("the file does not end with a newline")]
    Unterminated,
}

const PREFIX: &[u8] = b"{\"index\":";
const LEAF: &[u8] = b",\"leaf\":";

/// The file text for `events`, in the order given.
pub fn write(events: &[LoggedEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(event.index.to_string().as_bytes());
        out.extend_from_slice(LEAF);
        out.extend_from_slice(&event.bytes);
        out.extend_from_slice(b"}\n");
    }
    out
}

/// Read the file back; the order of lines is kept (the verifier checks it).
pub fn parse(bytes: &[u8]) -> Result<Vec<LoggedEvent>, ParseEventsError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let body = bytes
        .strip_suffix(b"\n")
        .ok_or(ParseEventsError::Unterminated)?;
    let max = EVENT_BYTES_MAX + 64;
    let mut events = Vec::new();
    for (position, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_number = position + 1;
        if events.len() == EVENTS_MAX {
            return Err(ParseEventsError::TooMany { max: EVENTS_MAX });
        }
        if line.len() > max {
            return Err(ParseEventsError::TooLong {
                line: line_number,
                max,
            });
        }
        let shape = ParseEventsError::Shape { line: line_number };
        let rest = line.strip_prefix(PREFIX).ok_or(shape.clone())?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let number = std::str::from_utf8(&rest[..digits]).map_err(|_| shape.clone())?;
        if number.is_empty() || (number.len() > 1 && number.starts_with('0')) {
            return Err(shape);
        }
        let index: u64 = number.parse().map_err(|_| shape.clone())?;
        let leaf = rest[digits..]
            .strip_prefix(LEAF)
            .and_then(|leaf| leaf.strip_suffix(b"}"))
            .ok_or(shape)?;
        events.push(LoggedEvent {
            index,
            bytes: leaf.to_vec(),
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_are_json() {
        let events = vec![
            LoggedEvent {
                index: 0,
                bytes: br#"{"a":1}"#.to_vec(),
            },
            LoggedEvent {
                index: 17,
                bytes: br#"{"b":"x\ny"}"#.to_vec(),
            },
        ];
        let text = write(&events);
        assert_eq!(parse(&text).unwrap(), events);
        for line in String::from_utf8(text).unwrap().lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(value["leaf"].is_object());
        }
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(
            parse(b"{\"index\":1,\"leaf\":{}}\n{\"index\":01,\"leaf\":{}}\n"),
            Err(ParseEventsError::Shape { line: 2 })
        );
        assert_eq!(
            parse(b"{\"index\":1,\"leaf\":{}}"),
            Err(ParseEventsError::Unterminated)
        );
        let long = format!(
            "{{\"index\":1,\"leaf\":\"{}\"}}\n",
            "x".repeat(EVENT_BYTES_MAX + 64)
        );
        assert!(matches!(
            parse(long.as_bytes()),
            Err(ParseEventsError::TooLong { line: 1, .. })
        ));
    }
}
