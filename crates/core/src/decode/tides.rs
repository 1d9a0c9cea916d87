//! TIDES `passenger_events` (`--format tides`): automatic passenger counter events, located
//! and classified through the agency's GTFS feed.
//!
//! A `Passenger boarded` row is a count event of `event_count` boardings (1 when empty) at its
//! `stop_id`'s position, at `event_timestamp`. Every other event type (alightings, doors,
//! ramps, bikes) is skipped as `not_a_boarding`. The mode is the `route_type` of the row's
//! trip, looked up by `trip_id_scheduled` and then `trip_id_performed` (both are GTFS trip ids
//! in practice), else `default_mode`. Boardings become person trips through
//! `[counts]` (`1 / transfer_factor` for the boarding modes). The id is
//! `passenger_event_id`, so a re-sent file is deduplicated.
//!
//! Missing values are empty, `NA` or `NaN`, as TIDES allows. Timestamps carry their UTC
//! offset, or are local in `time_zone` (default: the GTFS agency's).

use std::borrow::Cow;

use csv::ByteRecord;
use serde::Deserialize;

use super::error::{DecodeError, Decoded, Reason, SkipReason};
use crate::decode::shared::check::{self, check_start_range, missing, person_trips};
use crate::decode::shared::gtfs::{Gtfs, TripMode};
use crate::decode::shared::local_time::{LocalTimeRule, LocalTimes};
use crate::decode::shared::table::{Column, Header};
use crate::vocabulary::MAX_COUNT_SETTING;
use crate::vocabulary::{
    ConfigErrors, EventTimeMs, Kind, Mode, Observation, PersonTripFactors, shorten,
};

/// `[formats.tides]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TidesConfig {
    /// The `source` of the events.
    pub source: String,
    /// The agency's GTFS feed, a zip or a folder (read by the caller); required for `tides`.
    #[serde(default)]
    pub gtfs: Option<String>,
    /// The mode of a boarding whose trip the GTFS does not know; `reject` rejects those rows
    /// as `unknown_mode` instead.
    pub default_mode: String,
    /// IANA time zone of timestamps without an offset; absent: the GTFS `agency_timezone`.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Local times a DST change repeats or skips: `compatible`, `earlier`, `later`, `reject`.
    #[serde(default)]
    pub local_time: Option<String>,
}

/// The validated `[formats.tides]` with its feed.
#[derive(Debug, Clone)]
pub(crate) struct TidesSettings {
    source: String,
    gtfs: Gtfs,
    default_mode: Option<Mode>,
    times: LocalTimes,
}

impl TidesConfig {
    /// `None` when no feed is loaded (`tides` is then not an available format).
    pub(crate) fn validate(
        &self,
        gtfs: Option<Gtfs>,
        errors: &mut ConfigErrors,
    ) -> Option<TidesSettings> {
        let key = |k: &str| format!("formats.tides.{k}");
        if let Some(problem) = check::source_problem(&self.source) {
            errors.push(key("source"), problem);
        }
        let default_mode = match self.default_mode.as_str() {
            "reject" => None,
            name => Mode::from_name(name).or_else(|| {
                errors.push(
                    key("default_mode"),
                    format!(
                        "{name:?} is not a canonical mode ({}) or \"reject\"",
                        Mode::names()
                    ),
                );
                None
            }),
        };
        let gtfs = gtfs?;
        let zone = match (&self.time_zone, gtfs.time_zone()) {
            (Some(zone), _) => zone.clone(),
            (None, Some(zone)) => zone.to_owned(),
            (None, None) => {
                errors.push(
                    key("time_zone"),
                    "the GTFS feed has no agency_timezone; set the zone of local timestamps",
                );
                "UTC".to_owned()
            }
        };
        let rule =
            LocalTimeRule::from_config(key("local_time"), self.local_time.as_deref(), errors);
        let times = LocalTimes::from_config(key("time_zone"), &zone, rule, errors);
        Some(TidesSettings {
            source: self.source.clone(),
            gtfs,
            default_mode,
            times,
        })
    }
}

/// The event types of TIDES `passenger_events`, of which only the first starts a trip.
const BOARDED: &str = "Passenger boarded";
const OTHER_EVENT_TYPES: [&str; 15] = [
    "Vehicle arrived at stop",
    "Vehicle departed stop",
    "Door opened",
    "Door closed",
    "Passenger alighted",
    "Kneel was engaged",
    "Kneel was disengaged",
    "Ramp was deployed",
    "Ramp was raised",
    "Ramp deployment failed",
    "Lift was deployed",
    "Lift was raised",
    "Individual bike boarded",
    "Individual bike alighted",
    "Bike rack deployed",
];

/// Decodes TIDES `passenger_events` tables.
#[derive(Debug, Clone)]
pub struct TidesDecoder {
    settings: TidesSettings,
    factors: PersonTripFactors,
}

impl TidesDecoder {
    pub(crate) fn new(settings: TidesSettings, factors: PersonTripFactors) -> TidesDecoder {
        TidesDecoder { settings, factors }
    }

    pub(crate) fn source(&self) -> &str {
        &self.settings.source
    }

    /// Binds to a table's header; `Err` names a missing column.
    pub(crate) fn bind(&self, header: &Header) -> Result<TidesBinding<'_>, String> {
        let columns = Columns {
            id: header.require("passenger_event_id")?,
            timestamp: header.require("event_timestamp")?,
            event_type: header.require("event_type")?,
            stop: header.require("stop_id")?,
            trip_scheduled: header.require("trip_id_scheduled").ok(),
            trip_performed: header.require("trip_id_performed").ok(),
            count: header.require("event_count").ok(),
        };
        Ok(TidesBinding {
            decoder: self,
            columns,
        })
    }
}

#[derive(Debug)]
struct Columns {
    id: Column,
    timestamp: Column,
    event_type: Column,
    stop: Column,
    trip_scheduled: Option<Column>,
    trip_performed: Option<Column>,
    count: Option<Column>,
}

/// A [`TidesDecoder`] bound to one table's header.
#[derive(Debug)]
pub struct TidesBinding<'d> {
    decoder: &'d TidesDecoder,
    columns: Columns,
}

/// A field's text, `None` for the missing values TIDES allows (empty, `NA`, `NaN`).
fn value<'r>(
    column: &Column,
    row: &'r ByteRecord,
) -> Result<Option<Cow<'r, str>>, DecodeError<'r>> {
    Ok(column.get(row)?.filter(|t| t != "NA" && t != "NaN"))
}

fn required<'r>(column: &Column, row: &'r ByteRecord) -> Result<Cow<'r, str>, DecodeError<'r>> {
    value(column, row)?.ok_or_else(|| missing(&column.name))
}

impl TidesBinding<'_> {
    pub(crate) fn decode_row<'r>(
        &'r self,
        row: &'r ByteRecord,
        now: Option<EventTimeMs>,
    ) -> Decoded<'r> {
        let kind = self.not_a_boarding(row);
        check::table_row(&self.decoder.settings.source, kind, || {
            self.decode_boarding(row, now)
        })
    }

    /// `Some(not_a_boarding)` for the event types other than a boarding.
    fn not_a_boarding<'r>(
        &self,
        row: &'r ByteRecord,
    ) -> Result<Option<SkipReason>, DecodeError<'r>> {
        let event_type = required(&self.columns.event_type, row)?;
        if event_type.eq_ignore_ascii_case(BOARDED) {
            return Ok(None);
        }
        if OTHER_EVENT_TYPES
            .iter()
            .any(|t| event_type.eq_ignore_ascii_case(t))
        {
            return Ok(Some(SkipReason::NotABoarding));
        }
        Err(DecodeError::new(
            Reason::BadValue,
            format!(
                "event_type: {:?} is not a TIDES passenger event type (boardings are {BOARDED:?})",
                shorten(&event_type)
            ),
        ))
    }

    fn decode_boarding<'r>(
        &'r self,
        row: &'r ByteRecord,
        now: Option<EventTimeMs>,
    ) -> Result<Observation<'r>, DecodeError<'r>> {
        let columns = &self.columns;
        let settings = &self.decoder.settings;
        let id = required(&columns.id, row)?;
        let timestamp = required(&columns.timestamp, row)?;
        let start = settings
            .times
            .parse_iso(&columns.timestamp.name, &timestamp)?;
        check_start_range(start, now)?;
        let stop_id = required(&columns.stop, row)?;
        let place = settings.gtfs.stop(&stop_id).ok_or_else(|| {
            DecodeError::new(
                Reason::UnknownLocation,
                format!(
                    "stop_id: {:?} is not a stop with a position in the GTFS feed \
                     (formats.tides.gtfs)",
                    shorten(&stop_id)
                ),
            )
        })?;
        let mode = self.mode(row)?;
        let count = match &columns.count {
            Some(column) => match value(column, row)? {
                Some(text) => event_count(&text)?,
                None => 1,
            },
            None => 1,
        };
        let factors = &self.decoder.factors;
        let count = check::plausible(
            "event_count",
            count as f64,
            factors.max_count_per_reading(),
            MAX_COUNT_SETTING,
        )?;
        let per_unit = factors.persons_per_unit(mode);
        Ok(Observation {
            kind: Kind::Count,
            id: Some(id),
            source: Cow::Borrowed(""),
            mode,
            start_time: start,
            end_time: None,
            place,
            destination: None,
            reported_distance_m: None,
            person_trips: person_trips("event_count × persons_per_unit", count * per_unit)?,
            coverage: None,
        })
    }

    /// The mode of the row's trip: scheduled id, then performed id, then the default.
    fn mode<'r>(&self, row: &'r ByteRecord) -> Result<Mode, DecodeError<'r>> {
        let settings = &self.decoder.settings;
        let trip_columns = || {
            [&self.columns.trip_scheduled, &self.columns.trip_performed]
                .into_iter()
                .flatten()
        };
        for column in trip_columns() {
            let Some(trip_id) = value(column, row)? else {
                continue;
            };
            match settings.gtfs.trip(&trip_id) {
                Some(TripMode::Mode(mode)) => return Ok(mode),
                Some(TripMode::UnknownRouteType(route_type)) => {
                    return Err(DecodeError::new(
                        Reason::UnknownMode,
                        format!(
                            "{}: trip {:?} runs a route of route_type {route_type}, which is \
                             neither a basic nor an extended GTFS route type",
                            column.name,
                            shorten(&trip_id)
                        ),
                    ));
                }
                None => {}
            }
        }
        if let Some(mode) = settings.default_mode {
            return Ok(mode);
        }
        // Only a rejection names the trips the feed does not know.
        let named: Vec<String> = trip_columns()
            .filter_map(|c| {
                let id = value(c, row).ok()??;
                Some(format!("{} {:?}", c.name, shorten(&id)))
            })
            .collect();
        let trips = if named.is_empty() {
            "the row names no trip".to_owned()
        } else {
            format!("{} is not in the GTFS trips.txt", named.join(" nor "))
        };
        Err(DecodeError::new(
            Reason::UnknownMode,
            format!("{trips}, and formats.tides.default_mode is \"reject\""),
        ))
    }
}

/// `event_count`: a whole number ≥ 0.
fn event_count<'r>(text: &str) -> Result<u64, DecodeError<'r>> {
    text.parse::<u64>().map_err(|_| {
        DecodeError::new(
            Reason::BadValue,
            format!(
                "event_count: {:?} is not a whole number of passengers ≥ 0",
                shorten(text)
            ),
        )
    })
}

#[cfg(test)]
mod tests;
