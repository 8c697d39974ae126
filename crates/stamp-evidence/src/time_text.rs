//! Times as `evidence.json` writes them: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ` (the form
//! events use), and the assessment period.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

const DATE_FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// `YYYY-MM-DDTHH:MM:SSZ` of `time` in UTC, fractions dropped.
pub fn format(time: OffsetDateTime) -> String {
    stamp_core::event::format_time(time)
}

/// Parse `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse(text: &str) -> Option<OffsetDateTime> {
    stamp_core::event::parse_time(text)
}

/// Parse an RFC 3339 time with any offset and fraction (OSV `published` dates), to UTC.
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|time| time.to_offset(UtcOffset::UTC))
}

/// The assessment period, both ends included.
/// Years a period may start and end in (event times are years 1970..=9999).
pub const PERIOD_YEAR_MIN: i32 = 1970;
pub const PERIOD_YEAR_MAX: i32 = 9998;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

/// Why a period bound is not usable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParsePeriodError {
    #[error("`{0}` is not a date (YYYY-MM-DD) or a UTC time (YYYY-MM-DDTHH:MM:SSZ)")]
    Bound(String),
    #[error("the period ends ({to}) before it starts ({from})")]
    Reversed { from: String, to: String },
    #[error(
        "the period {from} .. {to} is outside the years {PERIOD_YEAR_MIN}..={PERIOD_YEAR_MAX}"
    )]
    OutOfRange { from: String, to: String },
}

impl Period {
    /// `from` and `to` as dates (the whole day, UTC) or times; `to` as a date means its end.
    pub fn parse(from: &str, to: &str) -> Result<Period, ParsePeriodError> {
        let from_time = parse_bound(from, Time::MIDNIGHT)?;
        let end_of_day = Time::from_hms(23, 59, 59).expect("a valid time");
        let to_time = parse_bound(to, end_of_day)?;
        Period::new(from_time, to_time)
    }

    /// A period from `from` to `to`, inside the years event times may carry (so a day can
    /// always be added to either end).
    pub fn new(from: OffsetDateTime, to: OffsetDateTime) -> Result<Period, ParsePeriodError> {
        if to < from {
            return Err(ParsePeriodError::Reversed {
                from: format(from),
                to: format(to),
            });
        }
        let years = PERIOD_YEAR_MIN..=PERIOD_YEAR_MAX;
        if !years.contains(&from.year()) || !years.contains(&to.year()) {
            return Err(ParsePeriodError::OutOfRange {
                from: format(from),
                to: format(to),
            });
        }
        Ok(Period { from, to })
    }

    pub fn contains(&self, time: OffsetDateTime) -> bool {
        self.from <= time && time <= self.to
    }
}

fn parse_bound(text: &str, time_of_day: Time) -> Result<OffsetDateTime, ParsePeriodError> {
    if let Some(time) = parse(text) {
        return Ok(time);
    }
    if let Ok(date) = Date::parse(text, DATE_FORMAT) {
        return Ok(PrimitiveDateTime::new(date, time_of_day).assume_utc());
    }
    Err(ParsePeriodError::Bound(text.to_string()))
}

/// Days between two times, rounded to a tenth.
pub fn days_between(start: OffsetDateTime, end: OffsetDateTime) -> f64 {
    let seconds = (end - start).whole_seconds() as f64;
    (seconds / 8_640.0).round() / 10.0
}

/// ISO week of `time`: `2026-W40`.
pub fn iso_week(time: OffsetDateTime) -> String {
    let (year, week, _) = time.to_offset(UtcOffset::UTC).date().to_iso_week_date();
    format!("{year}-W{week:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_bounds_are_whole_days_or_times() {
        let period = Period::parse("2026-01-01", "2026-01-31").unwrap();
        assert_eq!(format(period.from), "2026-01-01T00:00:00Z");
        assert_eq!(format(period.to), "2026-01-31T23:59:59Z");
        let period = Period::parse("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z").unwrap();
        assert!(period.contains(parse("2026-01-01T10:00:00Z").unwrap()));
        assert!(matches!(
            Period::parse("2026-02-01", "2026-01-01"),
            Err(ParsePeriodError::Reversed { .. })
        ));
        assert!(matches!(
            Period::parse("9999-12-31", "9999-12-31"),
            Err(ParsePeriodError::OutOfRange { .. })
        ));
        assert!(matches!(
            Period::parse("1969-12-31", "2026-01-01"),
            Err(ParsePeriodError::OutOfRange { .. })
        ));
        assert_eq!(
            Period::parse("yesterday", "2026-01-01"),
            Err(ParsePeriodError::Bound("yesterday".into()))
        );
    }

    #[test]
    fn days_and_weeks() {
        let a = parse("2026-01-01T00:00:00Z").unwrap();
        let b = parse("2026-01-11T12:00:00Z").unwrap();
        assert_eq!(days_between(a, b), 10.5);
        assert_eq!(iso_week(a), "2026-W01");
        assert_eq!(parse_rfc3339("2026-01-01T01:00:00+01:00"), Some(a));
    }
}
