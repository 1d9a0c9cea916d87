//! Validation shared by every format: the rules of DESIGN.md's event model, applied after a
//! format has found its fields, so that a rule and its message live in one place.

use super::{DecodeError, Reason, number_text};
use crate::event::{Axis, GeoPoint};
use crate::factor::PersonTrips;
use crate::time::{EARLIEST_EVENT_TIME, EventTimeMs, MAX_AHEAD_OF_CLOCK};

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
