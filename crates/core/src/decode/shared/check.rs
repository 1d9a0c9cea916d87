//! Validation shared by every format: the rules of the event model
//! (docs/design.md#event-model-the-operator-facing-contract), applied after a format has found
//! its fields, so that a rule and its message live in one place.

use std::borrow::Cow;

use super::json::Json;
use crate::decode::error::{DecodeError, Decoded, Reason, SkipReason};
use crate::vocabulary::{
    Axis, EARLIEST_EVENT_TIME, EventTimeMs, GeoPoint, MAX_AHEAD_OF_CLOCK, Observation, PersonTrips,
    TimeProblem, number_text, shorten,
};

type Result<'a, T> = std::result::Result<T, DecodeError<'a>>;

pub(crate) fn check_start_range<'a>(
    start: EventTimeMs,
    now: Option<EventTimeMs>,
) -> Result<'a, ()> {
    if start < EARLIEST_EVENT_TIME {
        return Err(DecodeError::new(
            Reason::TimeOutOfRange,
            format!("start_time: {start} is before {EARLIEST_EVENT_TIME}"),
        ));
    }
    if let Some(now) = now {
        let latest = now.saturating_add(MAX_AHEAD_OF_CLOCK);
        if start > latest {
            return Err(DecodeError::new(
                Reason::TimeOutOfRange,
                format!("start_time: {start} is more than 1 h ahead of the clock ({now})"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn missing<'a>(field: &str) -> DecodeError<'a> {
    DecodeError::new(Reason::MissingField, format!("{field}: missing or null"))
}

pub(crate) fn person_trips<'a>(what: &str, value: f64) -> Result<'a, PersonTrips> {
    PersonTrips::from_f64(value).ok_or_else(|| {
        DecodeError::new(
            Reason::BadValue,
            format!(
                "{what}: {} person trips is more than one event may carry ({})",
                number_text(value),
                number_text(PersonTrips::MAX_PER_EVENT)
            ),
        )
    })
}

/// A position from its two numbers, or `bad_coordinate` naming the axis, the value and (when
/// the numbers fit the other way round) a hint that they are swapped.
pub(crate) fn coordinate<'a>(field: &str, lat: f64, lon: f64) -> Result<'a, GeoPoint> {
    GeoPoint::new(lat, lon).map_err(|bad| {
        let (name, value, range) = match bad {
            Axis::Lat => ("lat", lat, "−90…90"),
            Axis::Lon => ("lon", lon, "−180…180"),
        };
        let hint = if matches!(bad, Axis::Lat)
            && (-180.0..=180.0).contains(&lat)
            && (-90.0..=90.0).contains(&lon)
        {
            " (are lat and lon swapped?)"
        } else {
            ""
        };
        DecodeError::new(
            Reason::BadCoordinate,
            format!(
                "{field}.{name}: {} is outside {range}{hint}",
                number_text(value)
            ),
        )
    })
}

/// `end_time` when it is not before `start_time`.
pub(crate) fn end_after_start<'a>(start: EventTimeMs, end: EventTimeMs) -> Result<'a, EventTimeMs> {
    if end < start {
        return Err(DecodeError::new(
            Reason::BadTime,
            format!("end_time: {end} is before start_time {start}"),
        ));
    }
    Ok(end)
}

/// A time that could not be read, as the rejection of `field`.
pub(crate) fn time_error<'a>(field: &str, problem: TimeProblem) -> DecodeError<'a> {
    match problem {
        TimeProblem::Malformed(m) => DecodeError::new(Reason::BadTime, format!("{field}: {m}")),
        TimeProblem::OutOfRange(m) => {
            DecodeError::new(Reason::TimeOutOfRange, format!("{field}: {m}"))
        }
    }
}

/// The longest `source` accepted, in bytes of UTF-8.
pub(crate) const MAX_SOURCE_BYTES: usize = 64;

/// What is wrong with a `source` name, if anything: it must be 1–64 bytes of UTF-8 without
/// control characters and without leading or trailing whitespace. A source is a metric label,
/// a report key and a part of every dedup key: a name no operator would choose (an id, a
/// payload, a line break) is a producer's bug, not a new source.
pub(crate) fn source_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_SOURCE_BYTES {
        return Some(format!(
            "{:?} is {} bytes, longer than {MAX_SOURCE_BYTES}",
            shorten(name),
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!(
            "{:?} has a control character (U+{:04X})",
            shorten(name),
            u32::from(c)
        ));
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Some(format!(
            "{:?} has leading or trailing whitespace",
            shorten(name)
        ));
    }
    None
}

/// A number within its configured plausibility bound, or `implausible_value` naming the field,
/// the value and the setting that bounds it. Beyond the bound a value is well-formed but not a
/// real trip or reading (a test load, a unit error), and one such event would outweigh a day
/// of real ones.
pub(crate) fn plausible<'a>(field: &str, value: f64, bound: f64, setting: &str) -> Result<'a, f64> {
    if value > bound {
        return Err(DecodeError::new(
            Reason::ImplausibleValue,
            format!(
                "{field}: {} is more than {setting} ({})",
                number_text(value),
                number_text(bound)
            ),
        ));
    }
    Ok(value)
}

/// Stamps an event's `source` on its observation, or on its rejection so that the rejection
/// is counted under the source rather than the input's name. A `source` that breaks the rules
/// of [`source_problem`] rejects the event as `invalid_source`, without a source: it is
/// counted under the input's name.
pub(crate) fn with_source<'a>(
    result: Result<'a, Observation<'a>>,
    source: Cow<'a, str>,
) -> Result<'a, Observation<'a>> {
    if let Some(problem) = source_problem(&source) {
        return Err(DecodeError::new(
            Reason::InvalidSource,
            format!("source: {problem}"),
        ));
    }
    match result {
        Ok(mut obs) => {
            obs.source = source;
            Ok(obs)
        }
        Err(mut e) => {
            e.event_source = Some(source);
            Err(e)
        }
    }
}

/// A table row's item: skipped with the reason `kind` gives when the row is not an event,
/// else the event `decode` reads; either way, a rejection is counted under `source`.
pub(crate) fn table_row<'a>(
    source: &'a str,
    kind: Result<'a, Option<SkipReason>>,
    decode: impl FnOnce() -> Result<'a, Observation<'a>>,
) -> Decoded<'a> {
    let source = Cow::Borrowed(source);
    match kind {
        Ok(Some(reason)) => Decoded::Skipped { source, reason },
        Ok(None) => Decoded::Event(with_source(decode(), source)),
        Err(e) => Decoded::Event(with_source(Err(e), source)),
    }
}

/// `field` holds the wrong JSON type.
pub(crate) fn wrong_type<'a>(field: &str, expected: &str, got: &Json<'_>) -> DecodeError<'a> {
    DecodeError::new(
        Reason::BadValue,
        format!("{field}: expected {expected}, got {}", got.describe()),
    )
}

/// A number within `min…max`; `rule` says the lower bound in a message (`"≥ 0"`).
pub(crate) fn bounded_number<'a>(
    field: &str,
    v: &Json<'_>,
    min: f64,
    max: f64,
    rule: &str,
) -> Result<'a, f64> {
    match v {
        Json::Number(n) if *n >= min && *n <= max => Ok(*n),
        Json::Number(n) if *n > max => Err(DecodeError::new(
            Reason::BadValue,
            format!(
                "{field}: {} is larger than the accepted maximum {}",
                number_text(*n),
                number_text(max)
            ),
        )),
        Json::Number(n) => Err(DecodeError::new(
            Reason::BadValue,
            format!("{field}: {} must be {rule}", number_text(*n)),
        )),
        other => Err(wrong_type(field, "a number", other)),
    }
}
