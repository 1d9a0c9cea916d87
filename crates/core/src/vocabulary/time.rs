//! Event time: milliseconds since the Unix epoch, parsed from RFC 3339 strings or epoch-ms numbers.

use std::fmt;

/// An instant in event time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventTimeMs(pub i64);

/// A span of event time in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationMs(pub i64);

/// The earliest accepted `start_time`: 2000-01-01T00:00:00Z.
pub(crate) const EARLIEST_EVENT_TIME: EventTimeMs = EventTimeMs(946_684_800_000);

/// How far ahead of the clock a live `start_time` may be.
pub(crate) const MAX_AHEAD_OF_CLOCK: DurationMs = DurationMs(3_600_000);

impl EventTimeMs {
    /// The instant as RFC 3339 in UTC, for messages; falls back to the raw number when the
    /// value is outside the representable calendar range.
    pub fn to_rfc3339(self) -> String {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(ts) => ts.to_string(),
            Err(_) => format!("{} ms", self.0),
        }
    }

    pub fn saturating_add(self, d: DurationMs) -> EventTimeMs {
        EventTimeMs(self.0.saturating_add(d.0))
    }

    pub fn saturating_sub(self, d: DurationMs) -> EventTimeMs {
        EventTimeMs(self.0.saturating_sub(d.0))
    }
}

impl fmt::Display for EventTimeMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl DurationMs {
    pub const MAX: DurationMs = DurationMs(i64::MAX);
    /// Any duration longer than zero.
    pub const POSITIVE: std::ops::RangeInclusive<DurationMs> = DurationMs(1)..=DurationMs::MAX;

    pub const fn from_hours(h: i64) -> Self {
        DurationMs(h * 3_600_000)
    }

    pub const fn from_days(d: i64) -> Self {
        DurationMs(d * 86_400_000)
    }

    /// Parses a human duration such as `"15m"`, `"24h"` or `"35d"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let d = humantime::parse_duration(text.trim()).map_err(|e| {
            format!("{text:?} is not a duration like \"15m\", \"24h\" or \"35d\": {e}")
        })?;
        i64::try_from(d.as_millis())
            .map(DurationMs)
            .map_err(|_| format!("{text:?} is too long a duration"))
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let std = std::time::Duration::from_millis(self.0.unsigned_abs());
        if self.0 < 0 {
            f.write_str("-")?;
        }
        write!(f, "{}", humantime::format_duration(std))
    }
}

/// Why a time value could not be read. The caller adds the field name.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeProblem {
    /// Not a timestamp at all (bad syntax, no offset, wrong unit): reason `bad_time`.
    Malformed(String),
    /// A well-formed timestamp outside the accepted range: reason `time_out_of_range`.
    OutOfRange(String),
}

/// Parses an RFC 3339 timestamp with an offset (`2024-05-02T07:31:12Z`, `…+02:00`).
pub fn parse_rfc3339(text: &str) -> Result<EventTimeMs, TimeProblem> {
    match text.parse::<jiff::Timestamp>() {
        Ok(ts) => Ok(EventTimeMs(ts.as_millisecond())),
        Err(e) => {
            let hint = if text.parse::<jiff::civil::DateTime>().is_ok() {
                "it has no UTC offset; add `Z` or `+02:00`".to_string()
            } else {
                e.to_string()
            };
            Err(TimeProblem::Malformed(format!(
                "{:?} is not an RFC 3339 timestamp ({hint})",
                super::message::shorten(text)
            )))
        }
    }
}

/// Reads an epoch-milliseconds number (integer or fractional; fractions are truncated
/// towards the past). Values that are plainly seconds, microseconds or nanoseconds are
/// named as such rather than silently landing in 1970 or the far future.
pub(crate) fn from_epoch_ms(value: f64) -> Result<EventTimeMs, TimeProblem> {
    const EARLIEST: f64 = EARLIEST_EVENT_TIME.0 as f64;
    // Year 5138 in ms; anything above is not a plausible millisecond timestamp.
    const IMPLAUSIBLY_LARGE_MS: f64 = 1e14;
    let plausible = |ms: f64| (EARLIEST..IMPLAUSIBLY_LARGE_MS).contains(&ms);
    if !value.is_finite() {
        return Err(TimeProblem::Malformed(format!(
            "{value} is not a number of milliseconds"
        )));
    }
    if value < EARLIEST && plausible(value * 1e3) {
        return Err(TimeProblem::Malformed(format!(
            "{} looks like seconds, expected milliseconds since the epoch",
            super::message::number_text(value)
        )));
    }
    if value >= IMPLAUSIBLY_LARGE_MS {
        for (divisor, unit) in [(1e3, "microseconds"), (1e6, "nanoseconds")] {
            if plausible(value / divisor) {
                return Err(TimeProblem::Malformed(format!(
                    "{} looks like {unit}, expected milliseconds since the epoch",
                    super::message::number_text(value)
                )));
            }
        }
    }
    let ms = value.floor();
    match jiff::Timestamp::from_millisecond(ms as i64) {
        Ok(_) if ms >= i64::MIN as f64 && ms <= i64::MAX as f64 => Ok(EventTimeMs(ms as i64)),
        _ => Err(TimeProblem::OutOfRange(format!(
            "{} ms is outside the representable calendar (years -9999…9999)",
            super::message::number_text(value)
        ))),
    }
}

#[cfg(test)]
mod tests;
