//! Statens vegvesen trafikkdata.no hourly exports (`--format trafikkdata`).
//!
//! Semicolon-separated, Latin-1 or UTF-8, decimal commas, `-` for a missing value. Each hour
//! of a point is repeated per lane, per direction and as `Totalt`; only the `Totalt` row is an
//! event (the others are skipped as `not_a_total`, not rejected). The interval comes from
//! `Fra`/`Til` with their own UTC offsets, never from `Dato` + `Fra tidspunkt`, so DST days
//! of 23 and 25 hours need no special case; the id is the point and the start in UTC.
//!
//! Bicycle points (a `B` in the id) count bicycles, one person each. Vehicle points (a `V`)
//! count light vehicles only, the `< 5,6m` length class, as `car_driver` units: their person
//! trips per unit (occupancy) come from `[counts.persons_per_unit]`. Coverage
//! (`Dekningsgrad`) travels with the event but never scales it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use csv::ByteRecord;
use serde::Deserialize;

use super::error::{DecodeError, Decoded, Reason, SkipReason};
use crate::decode::shared::check::{self, check_start_range, person_trips};
use crate::decode::shared::table::{Column, Header};
use crate::vocabulary::MAX_COUNT_SETTING;
use crate::vocabulary::{
    ConfigErrors, EventTimeMs, GeoPoint, Kind, Mode, Observation, PersonTripFactors, parse_rfc3339,
    shorten,
};

/// `[formats.trafikkdata]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafikkdataConfig {
    /// The `source` of the events.
    pub source: String,
    /// A newer registration-point list (the trafikkdata GraphQL JSON, or `id,lat,lon[,name]`
    /// CSV); absent: the list shipped with modeshare.
    #[serde(default)]
    pub registration_points: Option<String>,
    /// Point id → `bicycle` or `car_driver`, for points whose id does not say (`B`/`V`).
    #[serde(default)]
    pub point_modes: BTreeMap<String, String>,
}

impl TrafikkdataConfig {
    /// The per-point modes, each `bicycle` or `car_driver`.
    pub(crate) fn validate(&self, errors: &mut ConfigErrors) -> BTreeMap<String, Mode> {
        if let Some(problem) = check::source_problem(&self.source) {
            errors.push("formats.trafikkdata.source", problem);
        }
        let mut modes = BTreeMap::new();
        for (point, name) in &self.point_modes {
            match Mode::from_name(name) {
                Some(m @ (Mode::Bicycle | Mode::CarDriver)) => {
                    modes.insert(point.clone(), m);
                }
                _ => errors.push(
                    format!("formats.trafikkdata.point_modes.{point}"),
                    format!("{name:?} must be \"bicycle\" or \"car_driver\""),
                ),
            }
        }
        modes
    }
}

/// Registration points by id: where each counter is.
#[derive(Debug, Clone, Default)]
pub struct RegistrationPoints(HashMap<String, GeoPoint>);

#[derive(Deserialize)]
struct ApiResponse {
    data: ApiData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiData {
    traffic_registration_points: Vec<ApiPoint>,
}

#[derive(Deserialize)]
struct ApiPoint {
    id: String,
    location: ApiLocation,
}

#[derive(Deserialize)]
struct ApiLocation {
    coordinates: ApiCoordinates,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiCoordinates {
    lat_lon: ApiLatLon,
}

#[derive(Deserialize)]
struct ApiLatLon {
    lat: f64,
    lon: f64,
}

/// Why a list of registration points cannot be read. Its `Display` is the whole message (a
/// JSON or CSV error's text included, so it has no `source`).
#[derive(Debug, thiserror::Error)]
pub enum RegistrationPointsError {
    #[error("not the trafikkdata JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("point {point}: {lat} {lon} is not a position")]
    PointNotAPosition { point: String, lat: f64, lon: f64 },
    /// The CSV's header or a row cannot be read.
    #[error("{0}")]
    Csv(csv::Error),
    #[error("the CSV has no {0:?} column")]
    MissingColumn(&'static str),
    /// `column` counts from 1.
    #[error("line {line}: not a number in column {column}")]
    NotANumber { line: usize, column: usize },
    #[error("line {line}: not a position")]
    NotAPosition { line: usize },
}

impl RegistrationPoints {
    /// Reads the trafikkdata GraphQL response
    /// (`{"data":{"trafficRegistrationPoints":[{id, location{coordinates{latLon{lat,lon}}}}]}}`)
    /// or a CSV with a header and columns `id`, `lat`, `lon` (others ignored).
    pub fn parse(text: &str) -> Result<RegistrationPoints, RegistrationPointsError> {
        if text.trim_start().starts_with('{') {
            let response: ApiResponse =
                serde_json::from_str(text).map_err(RegistrationPointsError::NotJson)?;
            let mut points = HashMap::new();
            for p in response.data.traffic_registration_points {
                let at = p.location.coordinates.lat_lon;
                let point = GeoPoint::new(at.lat, at.lon).map_err(|_| {
                    RegistrationPointsError::PointNotAPosition {
                        point: p.id.clone(),
                        lat: at.lat,
                        lon: at.lon,
                    }
                })?;
                points.insert(p.id, point);
            }
            return Ok(RegistrationPoints(points));
        }
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(RegistrationPointsError::Csv)?
            .clone();
        let column = |name: &'static str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or(RegistrationPointsError::MissingColumn(name))
        };
        let (id, lat, lon) = (column("id")?, column("lat")?, column("lon")?);
        let mut points = HashMap::new();
        for (i, row) in reader.records().enumerate() {
            let row = row.map_err(RegistrationPointsError::Csv)?;
            let line = i + 2;
            let number = |c: usize| -> Result<f64, RegistrationPointsError> {
                row.get(c).and_then(|t| t.parse::<f64>().ok()).ok_or(
                    RegistrationPointsError::NotANumber {
                        line,
                        column: c + 1,
                    },
                )
            };
            let point = GeoPoint::new(number(lat)?, number(lon)?)
                .map_err(|_| RegistrationPointsError::NotAPosition { line })?;
            points.insert(row.get(id).unwrap_or_default().to_owned(), point);
        }
        Ok(RegistrationPoints(points))
    }

    pub fn get(&self, id: &str) -> Option<GeoPoint> {
        self.0.get(id).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Decodes trafikkdata hourly exports.
#[derive(Debug, Clone)]
pub struct TrafikkdataDecoder {
    source: String,
    points: RegistrationPoints,
    point_modes: BTreeMap<String, Mode>,
    factors: PersonTripFactors,
}

impl TrafikkdataDecoder {
    pub fn new(
        source: String,
        points: RegistrationPoints,
        point_modes: BTreeMap<String, Mode>,
        factors: PersonTripFactors,
    ) -> TrafikkdataDecoder {
        TrafikkdataDecoder {
            source,
            points,
            point_modes,
            factors,
        }
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Binds to an export's header; `Err` names a missing column.
    pub(crate) fn bind(&self, header: &Header) -> Result<TrafikkdataBinding<'_>, String> {
        let columns = Columns {
            point: header.require("Trafikkregistreringspunkt")?,
            from: header.require("Fra")?,
            to: header.require("Til")?,
            lane: header.require("Felt")?,
            volume: header.require("Trafikkmengde")?,
            light_vehicles: header.require("< 5,6m")?,
            coverage: header.require("Dekningsgrad (%)").ok(),
        };
        Ok(TrafikkdataBinding {
            decoder: self,
            columns,
        })
    }
}

#[derive(Debug)]
struct Columns {
    point: Column,
    from: Column,
    to: Column,
    lane: Column,
    volume: Column,
    light_vehicles: Column,
    coverage: Option<Column>,
}

/// A [`TrafikkdataDecoder`] bound to one export's header.
#[derive(Debug)]
pub struct TrafikkdataBinding<'d> {
    decoder: &'d TrafikkdataDecoder,
    columns: Columns,
}

impl TrafikkdataBinding<'_> {
    pub(crate) fn decode_row<'r>(
        &'r self,
        row: &'r ByteRecord,
        now: Option<EventTimeMs>,
    ) -> Decoded<'r> {
        let kind = self.columns.lane.get(row).map(|lane| match lane {
            Some(lane) if lane != "Totalt" => Some(SkipReason::NotATotal),
            _ => None,
        });
        check::table_row(&self.decoder.source, kind, || self.decode_total(row, now))
    }

    fn decode_total<'r>(
        &'r self,
        row: &'r ByteRecord,
        now: Option<EventTimeMs>,
    ) -> Result<Observation<'r>, DecodeError<'r>> {
        let columns = &self.columns;
        let point_id = columns.point.required(row)?;
        let mode = self.point_mode(&point_id)?;
        let place = self.decoder.points.get(&point_id).ok_or_else(|| {
            DecodeError::new(
                Reason::UnknownLocation,
                format!(
                    "Trafikkregistreringspunkt: {:?} is not in the registration-point list \
                     (set formats.trafikkdata.registration_points to a newer list)",
                    shorten(&point_id)
                ),
            )
        })?;
        let start = interval_time(&columns.from, row)?;
        check_start_range(start, now)?;
        let end = check::end_after_start(start, interval_time(&columns.to, row)?)?;
        let volume_column = match mode {
            Mode::Bicycle => &columns.volume,
            _ => &columns.light_vehicles,
        };
        let volume = match volume_column.get(row)? {
            None => None,
            Some(t) if t == "-" => None,
            Some(t) => Some(crate::decode::shared::table::parse_number(
                &volume_column.name,
                &t,
            )?),
        };
        let Some(volume) = volume.filter(|v| *v >= 0.0) else {
            return Err(DecodeError::new(
                Reason::MissingValue,
                format!(
                    "{}: no volume for point {} at {} (the hour was not measured)",
                    volume_column.name,
                    shorten(&point_id),
                    start
                ),
            ));
        };
        let coverage = match &columns.coverage {
            Some(c) => match c.get(row)? {
                Some(t) if t != "-" => {
                    Some(crate::decode::shared::table::parse_number(&c.name, &t)? / 100.0)
                }
                _ => None,
            },
            None => None,
        };
        let factors = &self.decoder.factors;
        let volume = check::plausible(
            &volume_column.name,
            volume,
            factors.max_count_per_reading(),
            MAX_COUNT_SETTING,
        )?;
        let per_unit = factors.persons_per_unit(mode);
        Ok(Observation {
            kind: Kind::Count,
            id: Some(Cow::Owned(format!("{point_id}/{}", start.to_rfc3339()))),
            source: Cow::Borrowed(""),
            mode,
            start_time: start,
            end_time: Some(end),
            place,
            destination: None,
            reported_distance_m: None,
            person_trips: person_trips("volume × persons_per_unit", volume * per_unit)?,
            coverage,
        })
    }

    fn point_mode<'r>(&self, point_id: &str) -> Result<Mode, DecodeError<'r>> {
        if let Some(mode) = self.decoder.point_modes.get(point_id) {
            return Ok(*mode);
        }
        match (point_id.contains('B'), point_id.contains('V')) {
            (true, false) => Ok(Mode::Bicycle),
            (false, true) => Ok(Mode::CarDriver),
            _ => Err(DecodeError::new(
                Reason::UnknownMode,
                format!(
                    "Trafikkregistreringspunkt: {:?} does not say whether it counts bicycles (B) \
                     or vehicles (V); set formats.trafikkdata.point_modes",
                    shorten(point_id)
                ),
            )),
        }
    }
}

/// `Fra` or `Til`: RFC 3339 with the local offset.
fn interval_time<'r>(column: &Column, row: &'r ByteRecord) -> Result<EventTimeMs, DecodeError<'r>> {
    let text = column.required(row)?;
    parse_rfc3339(&text).map_err(|p| check::time_error(&column.name, p))
}

#[cfg(test)]
mod tests;
