//! MDS Provider trips, versions 1.x and 2.x (`--format mds`, `mds:1.2`, `mds:2.0`).
//!
//! A record is one trip object or one Provider API page (`{"version": …, "data": {"trips":
//! […]}}`); every trip of a page is an event of its own. Without a forced version each trip's
//! version is the page's `version`, else inferred from its fields: `route` or `vehicle_type`
//! → 1.x, `start_location` → 2.x.
//!
//! 1.x: origin and destination are the first and last points of `route` (GeoJSON, `[lon,
//! lat]`). 2.x: `start_location`/`end_location` (`lat`, `lng`), `trip_type` must include
//! `rider`, and the vehicle type comes from the provider's configuration (2.x trips carry
//! none). Timestamps are epoch milliseconds. The MDS-only filters (duration, distance) reject
//! with reasons of their own.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{DecodeError, Decoded, Reason};
use crate::decode::shared::check::{self, check_start_range, missing};
use crate::decode::shared::json::Json;
use crate::vocabulary::{
    ConfigErrors, DurationMs, EventTimeMs, GeoPoint, Kind, Mode, Observation, PersonTrips,
    from_epoch_ms, number_text, shorten,
};

/// Which MDS version a trip is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MdsVersion {
    /// From the page's `version`, else from each trip's fields.
    Infer,
    V1,
    V2,
}

/// `[formats.mds.providers."<provider_id>"]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The `source` of this provider's events (default: `provider_name`, else the id).
    pub source: Option<String>,
    /// The MDS vehicle type of its trips when they carry none (2.x).
    pub vehicle_type: Option<String>,
}

/// `[formats.mds]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdsConfig {
    /// Shorter trips are rejected as `trip_too_short`.
    pub min_duration: String,
    /// Longer trips are rejected as `trip_too_long`.
    pub max_duration: String,
    /// Longer trips are rejected as `trip_too_far`.
    pub max_distance_m: f64,
    /// The vehicle type of trips that carry none and whose provider sets none.
    #[serde(default)]
    pub default_vehicle_type: Option<String>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderConfig>,
}

/// The validated `[formats.mds]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MdsSettings {
    pub min_duration: DurationMs,
    pub max_duration: DurationMs,
    pub max_distance_m: f64,
    default_vehicle: Option<Mode>,
    providers: BTreeMap<String, Provider>,
}

#[derive(Debug, Clone, PartialEq)]
struct Provider {
    source: Option<String>,
    vehicle: Option<Mode>,
}

/// The canonical mode of an MDS vehicle type; `Err` says why there is none.
pub(crate) fn vehicle_mode(vehicle_type: &str) -> std::result::Result<Mode, &'static str> {
    match vehicle_type {
        "scooter" | "scooter_standing" | "scooter_seated" => Ok(Mode::EScooter),
        "bicycle" | "cargo_bicycle" => Ok(Mode::Bicycle),
        "moped" => Ok(Mode::Moped),
        "car" => Ok(Mode::CarDriver),
        "other" => Ok(Mode::Other),
        "delivery_robot" => Err("a delivery robot carries no person"),
        _ => Err("not an MDS vehicle type"),
    }
}

impl MdsConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> MdsSettings {
        let min_duration = errors.duration(
            "formats.mds.min_duration",
            &self.min_duration,
            DurationMs(0)..=DurationMs::MAX,
        );
        let max_duration = errors.duration(
            "formats.mds.max_duration",
            &self.max_duration,
            DurationMs::POSITIVE,
        );
        if !(self.max_distance_m.is_finite() && self.max_distance_m > 0.0) {
            errors.push(
                "formats.mds.max_distance_m",
                "must be a positive number of metres",
            );
        }
        let mut vehicle = |key: String, name: &str| match vehicle_mode(name) {
            Ok(m) => Some(m),
            Err(why) => {
                errors.push(key, format!("{name:?}: {why}"));
                None
            }
        };
        let default_vehicle = self
            .default_vehicle_type
            .as_deref()
            .and_then(|v| vehicle("formats.mds.default_vehicle_type".into(), v));
        let providers = self
            .providers
            .iter()
            .map(|(id, p)| {
                let key = format!("formats.mds.providers.{id}.vehicle_type");
                let provider = Provider {
                    source: p.source.clone().filter(|s| !s.trim().is_empty()),
                    vehicle: p.vehicle_type.as_deref().and_then(|v| vehicle(key, v)),
                };
                (id.clone(), provider)
            })
            .collect();
        MdsSettings {
            min_duration,
            max_duration,
            max_distance_m: self.max_distance_m,
            default_vehicle,
            providers,
        }
    }
}

/// Decodes MDS trips and pages.
#[derive(Debug, Clone)]
pub struct MdsDecoder {
    version: MdsVersion,
    settings: MdsSettings,
}

#[derive(Deserialize)]
struct PageData<'a> {
    #[serde(borrow, default)]
    trips: Option<Vec<&'a RawValue>>,
}

/// The fields of both versions, each read leniently, and those of a page: a record is read
/// once whether it is a trip or a page.
#[derive(Deserialize)]
struct RawTrip<'a> {
    #[serde(borrow, default)]
    version: Option<Json<'a>>,
    /// A 1.x page's trips are in `data.trips`...
    #[serde(borrow, default)]
    data: Option<PageData<'a>>,
    /// ...a 2.0 page's at the top.
    #[serde(borrow, default)]
    trips: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    provider_id: Option<Json<'a>>,
    #[serde(borrow, default)]
    provider_name: Option<Json<'a>>,
    #[serde(borrow, default)]
    trip_id: Option<Json<'a>>,
    #[serde(borrow, default)]
    vehicle_type: Option<Json<'a>>,
    #[serde(borrow, default)]
    trip_type: Option<&'a RawValue>,
    #[serde(borrow, default)]
    start_time: Option<Json<'a>>,
    #[serde(borrow, default)]
    end_time: Option<Json<'a>>,
    #[serde(borrow, default)]
    route: Option<&'a RawValue>,
    #[serde(borrow, default)]
    start_location: Option<&'a RawValue>,
    #[serde(borrow, default)]
    end_location: Option<&'a RawValue>,
    #[serde(borrow, default)]
    trip_duration: Option<Json<'a>>,
    #[serde(borrow, default)]
    trip_distance: Option<Json<'a>>,
    #[serde(borrow, default)]
    duration: Option<Json<'a>>,
    #[serde(borrow, default)]
    distance: Option<Json<'a>>,
}

#[derive(Deserialize)]
struct Route {
    features: Vec<RouteFeature>,
}

#[derive(Deserialize)]
struct RouteFeature {
    geometry: Option<RouteGeometry>,
}

#[derive(Deserialize)]
struct RouteGeometry {
    coordinates: Vec<f64>,
}

#[derive(Deserialize)]
struct Location {
    lat: f64,
    lng: f64,
}

type Result<'a, T> = std::result::Result<T, DecodeError<'a>>;

impl MdsDecoder {
    pub fn new(version: MdsVersion, settings: MdsSettings) -> MdsDecoder {
        MdsDecoder { version, settings }
    }

    /// Decodes one record (a trip or a page) and hands each trip, with its own bytes, to
    /// `each`.
    pub fn decode_record<'a>(
        &'a self,
        record: &'a [u8],
        now: Option<EventTimeMs>,
        each: &mut dyn FnMut(&'a [u8], Decoded<'a>),
    ) {
        let text = match std::str::from_utf8(record) {
            Ok(t) => t,
            Err(e) => {
                let e = DecodeError::new(
                    Reason::InvalidJson,
                    format!("not valid UTF-8 (at byte {})", e.valid_up_to()),
                );
                return each(record, Decoded::Event(Err(e)));
            }
        };
        let raw = match parse_trip(text) {
            Ok(raw) => raw,
            Err(e) => return each(record, Decoded::Event(Err(e))),
        };
        let trips = match (&raw.data, &raw.trips) {
            (Some(page), _) => page.trips.as_ref().ok_or_else(|| missing("data.trips")),
            (None, Some(trips)) => Ok(trips),
            (None, None) => {
                return each(
                    record,
                    Decoded::Event(self.decode_trip(raw, self.version, now)),
                );
            }
        };
        let page_version = match (self.version, &raw.version) {
            (MdsVersion::Infer, Some(Json::String(v))) if v.starts_with('2') => MdsVersion::V2,
            (MdsVersion::Infer, Some(Json::String(v))) if v.starts_with(['0', '1']) => {
                MdsVersion::V1
            }
            (version, _) => version,
        };
        let trips = match trips {
            Ok(trips) => trips,
            Err(e) => return each(record, Decoded::Event(Err(e))),
        };
        for trip in trips {
            let text = trip.get();
            let decoded = parse_trip(text).and_then(|raw| self.decode_trip(raw, page_version, now));
            each(text.as_bytes(), Decoded::Event(decoded));
        }
    }

    fn decode_trip<'a>(
        &'a self,
        raw: RawTrip<'a>,
        version: MdsVersion,
        now: Option<EventTimeMs>,
    ) -> Result<'a, Observation<'a>> {
        let provider_id = string(&raw.provider_id, "provider_id")?;
        let provider = provider_id
            .as_deref()
            .and_then(|id| self.settings.providers.get(id));
        let source: Cow<'a, str> = match (
            provider.and_then(|p| p.source.as_deref()),
            &raw.provider_name,
            &provider_id,
        ) {
            (Some(s), _, _) => Cow::Owned(s.to_owned()),
            (None, Some(Json::String(name)), _) if !name.trim().is_empty() => name.clone(),
            (None, _, Some(id)) => id.clone(),
            (None, _, None) => return Err(missing("provider_id")),
        };
        let version = match version {
            MdsVersion::Infer if raw.route.is_some() || raw.vehicle_type.is_some() => {
                Ok(MdsVersion::V1)
            }
            MdsVersion::Infer if raw.start_location.is_some() => Ok(MdsVersion::V2),
            MdsVersion::Infer => Err(DecodeError::new(
                Reason::MissingField,
                "route / start_location: missing, so neither an MDS 1.x nor a 2.x trip",
            )),
            v => Ok(v),
        };
        let decoded = version.and_then(|v| self.decode_fields(raw, v, provider, now));
        check::with_source(decoded, source)
    }

    fn decode_fields<'a>(
        &self,
        raw: RawTrip<'a>,
        version: MdsVersion,
        provider: Option<&Provider>,
        now: Option<EventTimeMs>,
    ) -> Result<'a, Observation<'a>> {
        let id = string(&raw.trip_id, "trip_id")?.ok_or_else(|| missing("trip_id"))?;
        let start =
            epoch_ms(&raw.start_time, "start_time")?.ok_or_else(|| missing("start_time"))?;
        check_start_range(start, now)?;
        let end = epoch_ms(&raw.end_time, "end_time")?
            .map(|end| check::end_after_start(start, end))
            .transpose()?;
        let (origin, destination, duration_s, distance_m) = match version {
            MdsVersion::V2 => {
                if let Some(trip_type) = raw.trip_type {
                    check_rider(trip_type)?;
                } else {
                    return Err(missing("trip_type"));
                }
                let origin = location(raw.start_location, "start_location")?
                    .ok_or_else(|| missing("start_location"))?;
                let destination = location(raw.end_location, "end_location")?;
                (
                    origin,
                    destination,
                    number(&raw.duration, "duration")?,
                    number(&raw.distance, "distance")?,
                )
            }
            _ => {
                let (origin, destination) = route_ends(raw.route)?;
                (
                    origin,
                    Some(destination),
                    number(&raw.trip_duration, "trip_duration")?,
                    number(&raw.trip_distance, "trip_distance")?,
                )
            }
        };
        let mode = match string(&raw.vehicle_type, "vehicle_type")? {
            Some(v) => vehicle_mode(&v).map_err(|why| {
                DecodeError::new(
                    Reason::UnknownMode,
                    format!("vehicle_type: {:?}: {why}", shorten(&v)),
                )
            })?,
            None => provider
                .and_then(|p| p.vehicle)
                .or(self.settings.default_vehicle)
                .ok_or_else(|| {
                    DecodeError::new(
                        Reason::UnknownMode,
                        "vehicle_type: missing, and neither formats.mds.providers.<provider_id>.vehicle_type \
                         nor formats.mds.default_vehicle_type is set",
                    )
                })?,
        };
        self.check_filters(start, end, duration_s, distance_m)?;
        Ok(Observation {
            kind: Kind::Trip,
            id: Some(id),
            source: Cow::Borrowed(""),
            mode,
            start_time: start,
            end_time: end,
            place: origin,
            destination,
            reported_distance_m: distance_m,
            person_trips: PersonTrips::ONE,
            coverage: None,
        })
    }

    fn check_filters<'a>(
        &self,
        start: EventTimeMs,
        end: Option<EventTimeMs>,
        duration_s: Option<f64>,
        distance_m: Option<f64>,
    ) -> Result<'a, ()> {
        let s = &self.settings;
        let duration_ms = duration_s
            .map(|d| d * 1000.0)
            .or_else(|| end.map(|end| (end.0 - start.0) as f64));
        if let Some(ms) = duration_ms {
            if ms < s.min_duration.0 as f64 {
                return Err(DecodeError::new(
                    Reason::TripTooShort,
                    format!(
                        "the trip lasted {} s, under formats.mds.min_duration ({})",
                        number_text(ms / 1000.0),
                        s.min_duration
                    ),
                ));
            }
            if ms > s.max_duration.0 as f64 {
                return Err(DecodeError::new(
                    Reason::TripTooLong,
                    format!(
                        "the trip lasted {} s, over formats.mds.max_duration ({})",
                        number_text(ms / 1000.0),
                        s.max_duration
                    ),
                ));
            }
        }
        if let Some(m) = distance_m
            && m > s.max_distance_m
        {
            return Err(DecodeError::new(
                Reason::TripTooFar,
                format!(
                    "the trip covered {} m, over formats.mds.max_distance_m ({})",
                    number_text(m),
                    number_text(s.max_distance_m)
                ),
            ));
        }
        Ok(())
    }
}

fn invalid_json<'a>(e: &serde_json::Error) -> DecodeError<'a> {
    DecodeError::new(
        Reason::InvalidJson,
        format!("not a valid MDS trip or page: {e}"),
    )
}

/// One trip or page object.
fn parse_trip<'a>(text: &'a str) -> Result<'a, RawTrip<'a>> {
    if !text.trim_start().starts_with('{') {
        return Err(DecodeError::new(
            Reason::InvalidJson,
            "expected a JSON object: an MDS trip or a Provider API page",
        ));
    }
    serde_json::from_str(text).map_err(|e| invalid_json(&e))
}

fn string<'a>(value: &Option<Json<'a>>, field: &str) -> Result<'a, Option<Cow<'a, str>>> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s.is_empty() => Err(DecodeError::new(
            Reason::BadValue,
            format!("{field}: must not be empty"),
        )),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(check::wrong_type(field, "a string", other)),
    }
}

fn number<'a>(value: &Option<Json<'a>>, field: &str) -> Result<'a, Option<f64>> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(v) => check::bounded_number(field, v, 0.0, f64::MAX, "≥ 0").map(Some),
    }
}

fn epoch_ms<'a>(value: &Option<Json<'a>>, field: &str) -> Result<'a, Option<EventTimeMs>> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => from_epoch_ms(*n)
            .map(Some)
            .map_err(|p| check::time_error(field, p)),
        Some(other) => Err(DecodeError::new(
            Reason::BadTime,
            format!(
                "{field}: expected epoch milliseconds (MDS timestamps are numbers), got {}",
                other.describe()
            ),
        )),
    }
}

fn check_rider<'a>(trip_type: &RawValue) -> Result<'a, ()> {
    let types: Vec<String> = match serde_json::from_str::<serde_json::Value>(trip_type.get()) {
        Ok(serde_json::Value::String(s)) => vec![s],
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => {
            return Err(DecodeError::new(
                Reason::BadValue,
                format!(
                    "trip_type: expected an array of strings, got {}",
                    shorten(trip_type.get())
                ),
            ));
        }
    };
    if types.iter().any(|t| t == "rider") {
        Ok(())
    } else {
        Err(DecodeError::new(
            Reason::NotRiderTrip,
            format!("trip_type: {types:?} is not a rider trip"),
        ))
    }
}

fn location<'a>(value: Option<&RawValue>, field: &str) -> Result<'a, Option<GeoPoint>> {
    let Some(value) = value else { return Ok(None) };
    if value.get() == "null" {
        return Ok(None);
    }
    let at: Location = serde_json::from_str(value.get()).map_err(|_| {
        DecodeError::new(
            Reason::BadCoordinate,
            format!(
                "{field}: expected {{\"lat\": …, \"lng\": …}}, got {}",
                shorten(value.get())
            ),
        )
    })?;
    check::coordinate(field, at.lat, at.lng).map(Some)
}

/// The first and last points of a 1.x `route`.
fn route_ends<'a>(route: Option<&RawValue>) -> Result<'a, (GeoPoint, GeoPoint)> {
    let route = route.ok_or_else(|| missing("route"))?;
    let parsed: Route = serde_json::from_str(route.get()).map_err(|e| {
        DecodeError::new(
            Reason::BadCoordinate,
            format!("route: expected a GeoJSON FeatureCollection of Points ({e})"),
        )
    })?;
    let point = |i: usize, f: &RouteFeature| -> Result<'a, GeoPoint> {
        match f.geometry.as_ref().map(|g| g.coordinates.as_slice()) {
            Some([lon, lat, ..]) => check::coordinate(&format!("route.features[{i}]"), *lat, *lon),
            _ => Err(DecodeError::new(
                Reason::BadCoordinate,
                format!("route.features[{i}]: expected a Point with [lon, lat]"),
            )),
        }
    };
    let last = parsed
        .features
        .len()
        .checked_sub(1)
        .ok_or_else(|| DecodeError::new(Reason::MissingField, "route: has no points"))?;
    Ok((
        point(0, &parsed.features[0])?,
        point(last, &parsed.features[last])?,
    ))
}

#[cfg(test)]
mod tests;
