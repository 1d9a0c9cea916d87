//! Times written without a UTC offset: read in a configured IANA time zone, with a rule for
//! the local times a DST change repeats or skips. Shared by every format that meets them
//! (operator CSV exports, TIDES).

use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

use crate::decode::error::{DecodeError, Reason};
use crate::vocabulary::{ConfigErrors, EventTimeMs, shorten};

/// What to do with a local time a DST change makes ambiguous (it happens twice) or skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalTimeRule {
    /// The earlier of a repeated time, the later of a skipped one (RFC 5545).
    Compatible,
    Earlier,
    Later,
    /// Reject the row as `bad_time`.
    Reject,
}

impl LocalTimeRule {
    /// The rule a `local_time` key names (`compatible` when absent).
    pub(crate) fn from_config(key: String, text: Option<&str>, errors: &mut ConfigErrors) -> Self {
        match text.unwrap_or("compatible") {
            "compatible" => LocalTimeRule::Compatible,
            "earlier" => LocalTimeRule::Earlier,
            "later" => LocalTimeRule::Later,
            "reject" => LocalTimeRule::Reject,
            other => {
                errors.push(
                    key,
                    format!("{other:?} is not compatible, earlier, later or reject"),
                );
                LocalTimeRule::Compatible
            }
        }
    }
}

/// A time zone and the rule for its DST gaps and repeats.
#[derive(Debug, Clone)]
pub(crate) struct LocalTimes {
    zone: TimeZone,
    zone_name: String,
    rule: LocalTimeRule,
}

impl LocalTimes {
    /// The zone a `time_zone` key names; an unknown name is a configuration error.
    pub(crate) fn from_config(
        key: String,
        zone_name: &str,
        rule: LocalTimeRule,
        errors: &mut ConfigErrors,
    ) -> LocalTimes {
        let zone = TimeZone::get(zone_name).unwrap_or_else(|_| {
            errors.push(key, format!("{zone_name:?} is not an IANA time zone"));
            TimeZone::UTC
        });
        LocalTimes {
            zone,
            zone_name: zone_name.to_owned(),
            rule,
        }
    }

    /// An ISO 8601 / RFC 3339 date and time: with an offset it is that instant, without one
    /// it is local time in the zone.
    pub(crate) fn parse_iso<'a>(
        &self,
        field: &str,
        text: &str,
    ) -> Result<EventTimeMs, DecodeError<'a>> {
        if let Ok(ts) = text.parse::<jiff::Timestamp>() {
            return Ok(EventTimeMs(ts.as_millisecond()));
        }
        match text.parse::<DateTime>() {
            Ok(dt) => self.local(field, dt),
            Err(_) => Err(DecodeError::new(
                Reason::BadTime,
                format!(
                    "{field}: {:?} is not an ISO 8601 date and time",
                    shorten(text)
                ),
            )),
        }
    }

    /// A local date and time in the zone, resolved by the rule.
    pub(crate) fn local<'a>(
        &self,
        field: &str,
        dt: DateTime,
    ) -> Result<EventTimeMs, DecodeError<'a>> {
        let ambiguous = self.zone.to_ambiguous_timestamp(dt);
        let what = match ambiguous.offset() {
            AmbiguousOffset::Fold { .. } => "happens twice (DST ends)",
            _ => "does not exist (DST begins)",
        };
        let resolved = match self.rule {
            LocalTimeRule::Compatible => ambiguous.compatible(),
            LocalTimeRule::Earlier => ambiguous.earlier(),
            LocalTimeRule::Later => ambiguous.later(),
            LocalTimeRule::Reject => ambiguous.unambiguous(),
        };
        resolved
            .map(|ts| EventTimeMs(ts.as_millisecond()))
            .map_err(|_| {
                DecodeError::new(
                    Reason::BadTime,
                    format!(
                        "{field}: {dt} {what} in {}; set local_time to earlier or later to accept it",
                        self.zone_name
                    ),
                )
            })
    }
}
