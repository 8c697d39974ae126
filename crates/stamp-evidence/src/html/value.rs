//! Values from `evidence.json` as page text: escaped, or "—" when missing or malformed.

use super::*;

/// HTML-escapes `raw` for text and attribute values (double- or single-quoted), writes the colon
/// of `scheme://` as a character reference (no URL appears in the page's bytes), replaces control
/// characters, and cuts it at [`TEXT_CHARS_MAX`] characters.
pub fn escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (count, (at, c)) in raw.char_indices().enumerate() {
        if count == TEXT_CHARS_MAX {
            out.push('…');
            break;
        }
        match c {
            // `https://…` in a user's text stays readable but is no URL in the page's bytes.
            ':' if raw[at..].starts_with("://") => out.push_str("&#58;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key)?.as_str()
}

pub(super) fn text_or_dash(raw: Option<&str>) -> String {
    match raw {
        Some(s) if !s.trim().is_empty() => escape(s),
        _ => DASH.to_string(),
    }
}

pub(super) fn u64_at(value: &Value, key: &str) -> Option<u64> {
    value.get(key)?.as_u64()
}

pub(super) fn f64_at(value: &Value, key: &str) -> Option<f64> {
    value.get(key)?.as_f64().filter(|f| f.is_finite())
}

pub(super) fn bool_at(value: &Value, key: &str) -> Option<bool> {
    value.get(key)?.as_bool()
}

pub(super) fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// An RFC 3339 time in UTC; a bare `YYYY-MM-DD` (as some advisories give) is midnight UTC.
pub(super) fn parse_time(value: Option<&Value>) -> Option<OffsetDateTime> {
    let raw = value?.as_str()?;
    if let Ok(time) = OffsetDateTime::parse(raw, &Rfc3339) {
        return Some(time.to_offset(UtcOffset::UTC));
    }
    let date = time::Date::parse(
        raw,
        time::macros::format_description!("[year]-[month]-[day]"),
    );
    date.ok().map(|d| d.midnight().assume_utc())
}

/// `2026-10-03 14:22 UTC`, or "—".
pub(super) fn time_or_dash(value: Option<&Value>) -> String {
    parse_time(value).map_or_else(|| DASH.to_string(), format_minute)
}

/// A nullable time: `null` means the stage has not happened (`absent`), anything else malformed
/// shows "—".
pub(super) fn time_or(value: Option<&Value>, absent: &str) -> String {
    match value {
        Some(Value::Null) => format!("<span class=\"muted\">{absent}</span>"),
        other => time_or_dash(other),
    }
}

pub(super) fn date_or_dash(value: Option<&Value>) -> String {
    parse_time(value).map_or_else(|| DASH.to_string(), format_date)
}

pub(super) fn format_minute(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

pub(super) fn format_date(t: OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

pub(super) fn days_between(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    (to - from).as_seconds_f64() / 86_400.0
}

/// `1,234,567`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn count_or_dash(n: Option<u64>) -> String {
    n.map_or_else(|| DASH.to_string(), thousands)
}

/// A digest shortened to `sha256:0123456789ab…` with the whole value in a tooltip.
pub(super) fn digest_html(raw: Option<&str>) -> String {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return DASH.to_string();
    };
    let (algorithm, encoded) = raw.split_once(':').unwrap_or(("", raw));
    let short: String = encoded.chars().take(12).collect();
    let ellipsis = if encoded.chars().count() > 12 {
        "…"
    } else {
        ""
    };
    let prefix = if algorithm.is_empty() {
        String::new()
    } else {
        format!("{}:", escape(algorithm))
    };
    format!(
        "<code class=\"digest\" title=\"{}\">{prefix}{}{ellipsis}</code>",
        escape(raw),
        escape(&short)
    )
}

/// An `id` attribute value made only of `[A-Za-z0-9._-]`.
pub(super) fn anchor(prefix: &str, raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{prefix}{cleaned}")
}

/// A relative path inside the pack that is safe to link (no scheme, no absolute path, no `..`).
pub(super) fn pack_relative_link(raw: &str) -> Option<String> {
    let safe = !raw.is_empty()
        && raw.len() <= 200
        && !raw.starts_with('/')
        && !raw.split('/').any(|part| part == ".." || part.is_empty())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    safe.then(|| escape(raw))
}
