//! What a decoder returns: an observation, a rejection with a bounded reason and a message that
//! names the field and the value, or a row that is not an event.

use std::borrow::Cow;
use std::fmt;

use crate::vocabulary::Observation;

/// Why a row was read but is not an event: it is neither counted as read nor rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// A trafikkdata row for one lane or one direction; only the point's `Totalt` row is an
    /// event (summing every row would count each vehicle two or three times).
    NotATotal,
    /// A TIDES passenger event other than a boarding (an alighting, a door or ramp event):
    /// only boardings start person trips.
    NotABoarding,
}

impl SkipReason {
    pub const ALL: [SkipReason; 2] = [SkipReason::NotATotal, SkipReason::NotABoarding];

    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotATotal => "not_a_total",
            SkipReason::NotABoarding => "not_a_boarding",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item a format decoder found: an event (accepted or rejected later by the pipeline's
/// dedup, or rejected here), or a row that is not an event.
#[derive(Debug)]
pub enum Decoded<'a> {
    Event(Result<Observation<'a>, DecodeError<'a>>),
    Skipped {
        source: Cow<'a, str>,
        reason: SkipReason,
    },
}

/// Why an event was rejected. The names are bounded: they are metric labels and report keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// Not JSON, not UTF-8, or not a JSON object.
    InvalidJson,
    /// A required field is absent or null.
    MissingField,
    /// A position is not numbers within −90…90 / −180…180.
    BadCoordinate,
    /// `kind` is neither `trip` nor `count`.
    UnknownKind,
    /// `mode` is not a canonical mode.
    UnknownMode,
    /// A time is malformed, in the wrong unit, or ends before it starts.
    BadTime,
    /// A time is well-formed but before 2000 or too far ahead of the clock.
    TimeOutOfRange,
    /// Any other field with a wrong type or an invalid value.
    BadValue,
    /// The line is longer than the configured maximum.
    LineTooLong,
    /// A CSV row that cannot be read: a wrong number of fields, or a broken quote.
    InvalidCsv,
    /// A row's value column is empty or `-` (a counter hour without a volume).
    MissingValue,
    /// An MDS trip that is not a rider trip (rebalancing, maintenance).
    NotRiderTrip,
    /// An MDS trip shorter than `formats.mds.min_duration`.
    TripTooShort,
    /// An MDS trip longer than `formats.mds.max_duration`.
    TripTooLong,
    /// An MDS trip farther than `formats.mds.max_distance_m`.
    TripTooFar,
    /// A stop or registration point that the configured lookup does not know.
    UnknownLocation,
    /// `source` is empty, longer than 64 bytes, has a control character, or leading or
    /// trailing whitespace. Such an event is counted under its input's name, never under its
    /// own `source`.
    InvalidSource,
    /// A number beyond its configured plausibility bound (`persons` of a trip, a reading's
    /// count: `counts.max_persons_per_trip`, `counts.max_count_per_reading`).
    ImplausibleValue,
    /// Pushed by an operator that may not write the event's `source` (the ingest API).
    SourceNotAllowed,
    /// A pushed count without an `id`: a retried request would count it twice (the ingest
    /// API).
    MissingId,
}

impl Reason {
    pub const ALL: [Reason; 20] = [
        Reason::InvalidJson,
        Reason::MissingField,
        Reason::BadCoordinate,
        Reason::UnknownKind,
        Reason::UnknownMode,
        Reason::BadTime,
        Reason::TimeOutOfRange,
        Reason::BadValue,
        Reason::LineTooLong,
        Reason::InvalidCsv,
        Reason::MissingValue,
        Reason::NotRiderTrip,
        Reason::TripTooShort,
        Reason::TripTooLong,
        Reason::TripTooFar,
        Reason::UnknownLocation,
        Reason::InvalidSource,
        Reason::ImplausibleValue,
        Reason::SourceNotAllowed,
        Reason::MissingId,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::InvalidJson => "invalid_json",
            Reason::MissingField => "missing_field",
            Reason::BadCoordinate => "bad_coordinate",
            Reason::UnknownKind => "unknown_kind",
            Reason::UnknownMode => "unknown_mode",
            Reason::BadTime => "bad_time",
            Reason::TimeOutOfRange => "time_out_of_range",
            Reason::BadValue => "bad_value",
            Reason::LineTooLong => "line_too_long",
            Reason::InvalidCsv => "invalid_csv",
            Reason::MissingValue => "missing_value",
            Reason::NotRiderTrip => "not_rider_trip",
            Reason::TripTooShort => "trip_too_short",
            Reason::TripTooLong => "trip_too_long",
            Reason::TripTooFar => "trip_too_far",
            Reason::UnknownLocation => "unknown_location",
            Reason::InvalidSource => "invalid_source",
            Reason::ImplausibleValue => "implausible_value",
            Reason::SourceNotAllowed => "source_not_allowed",
            Reason::MissingId => "missing_id",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected event: the reason, a message an operator can act on, and the event's `source`
/// when it could be read (otherwise the input's name stands in when counting).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct DecodeError<'a> {
    pub reason: Reason,
    pub message: String,
    pub event_source: Option<Cow<'a, str>>,
}

impl<'a> DecodeError<'a> {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        DecodeError {
            reason,
            message: message.into(),
            event_source: None,
        }
    }

    /// A line of `len` bytes over the `max` the input accepts.
    pub fn line_too_long(len: u64, max: usize) -> Self {
        DecodeError::new(
            Reason::LineTooLong,
            format!("line of {len} bytes is over input.max_line_bytes ({max})"),
        )
    }

    pub fn reason(&self) -> &'static str {
        self.reason.as_str()
    }

    pub fn into_owned(self) -> DecodeError<'static> {
        DecodeError {
            reason: self.reason,
            message: self.message,
            event_source: self.event_source.map(|s| Cow::Owned(s.into_owned())),
        }
    }
}
