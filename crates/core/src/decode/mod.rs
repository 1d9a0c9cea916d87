//! Decoding input bytes into [`Observation`](crate::event::Observation)s, with a bounded
//! reason and a message that names the field and the value for everything rejected.

mod canonical;
mod json;

use std::borrow::Cow;
use std::fmt;

pub use canonical::CanonicalDecoder;

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
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::InvalidJson,
        Reason::MissingField,
        Reason::BadCoordinate,
        Reason::UnknownKind,
        Reason::UnknownMode,
        Reason::BadTime,
        Reason::TimeOutOfRange,
        Reason::BadValue,
        Reason::LineTooLong,
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

/// At most 60 characters of a value for a message, so one huge field cannot flood logs.
pub fn shorten(text: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 60;
    match text.char_indices().nth(MAX_CHARS) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!("{}…", &text[..cut])),
    }
}

/// A number as a message shows it: as written for ordinary values, in scientific notation for
/// huge or tiny ones so that `1e300` does not become three hundred digits.
pub fn number_text(n: f64) -> String {
    if n != 0.0 && !(1e-4..1e15).contains(&n.abs()) {
        format!("{n:e}")
    } else {
        n.to_string()
    }
}
