//! The canonical JSON event (docs/design.md#event-model-the-operator-facing-contract): one
//! object per line or message.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::error::{DecodeError, Reason};
use crate::decode::shared::check::{
    self, bounded_number, check_start_range, missing, person_trips, wrong_type,
};
use crate::decode::shared::json::{Json, RawPoint};
use crate::vocabulary::{
    EventTimeMs, GeoPoint, Kind, MAX_COUNT_SETTING, MAX_PERSONS_PER_UNIT, MAX_PERSONS_SETTING,
    Mode, Observation, PersonTripFactors, PersonTrips, TimeProblem, from_epoch_ms, parse_rfc3339,
    shorten,
};

/// Every field of the canonical event, each read leniently; unknown fields are ignored so that
/// producers can add their own.
#[derive(Deserialize, Default, Debug, PartialEq)]
#[serde(rename = "canonical event")]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    kind: Option<Json<'a>>,
    #[serde(borrow, default)]
    id: Option<Json<'a>>,
    #[serde(borrow, default)]
    source: Option<Json<'a>>,
    #[serde(borrow, default)]
    mode: Option<Json<'a>>,
    #[serde(borrow, default)]
    start_time: Option<Json<'a>>,
    #[serde(borrow, default)]
    end_time: Option<Json<'a>>,
    #[serde(borrow, default)]
    origin: Option<RawPoint<'a>>,
    #[serde(borrow, default)]
    destination: Option<RawPoint<'a>>,
    #[serde(borrow, default)]
    location: Option<RawPoint<'a>>,
    #[serde(borrow, default)]
    distance_m: Option<Json<'a>>,
    #[serde(borrow, default)]
    persons: Option<Json<'a>>,
    #[serde(borrow, default)]
    count: Option<Json<'a>>,
    #[serde(borrow, default)]
    persons_per_unit: Option<Json<'a>>,
}

/// Decodes canonical events. Holds the per-mode factors for counts without their own.
#[derive(Debug, Clone)]
pub struct CanonicalDecoder {
    factors: PersonTripFactors,
}

type Result<'a, T> = std::result::Result<T, DecodeError<'a>>;

impl CanonicalDecoder {
    pub fn new(factors: PersonTripFactors) -> Self {
        CanonicalDecoder { factors }
    }

    /// Decodes one event. `now` is the wall clock on the live path (a `start_time` more than
    /// an hour ahead of it is rejected) and `None` for batch replays.
    pub fn decode<'a>(
        &self,
        bytes: &'a [u8],
        now: Option<EventTimeMs>,
    ) -> Result<'a, Observation<'a>> {
        // A derived struct would also accept a JSON array of its fields in order.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(not_an_object(bytes));
        }
        // One UTF-8 check of the whole line is cheaper than serde_json's check of every string.
        let text = std::str::from_utf8(bytes).map_err(|e| {
            DecodeError::new(
                Reason::InvalidJson,
                format!("not valid UTF-8 (at byte {})", e.valid_up_to()),
            )
        })?;
        let mut raw = RawEvent::default();
        if plain::read_into(text, &mut raw).is_none() {
            raw = serde_json::from_str(text).map_err(json_error)?;
        }
        // An empty or otherwise unusable name is `invalid_source` (`check::with_source`).
        let source = match raw.source.as_ref() {
            None => return Err(missing("source")),
            Some(Json::String(s)) => s.clone(),
            Some(other) => return Err(wrong_type("source", "a string", other)),
        };
        check::with_source(self.decode_fields(&mut raw, now), source)
    }

    /// The event from its fields, which it takes out of `raw` (borrowed, not moved: a move
    /// copies all of them).
    fn decode_fields<'a>(
        &self,
        raw: &mut RawEvent<'a>,
        now: Option<EventTimeMs>,
    ) -> Result<'a, Observation<'a>> {
        let kind = match raw.kind.as_ref() {
            None => return Err(missing("kind")),
            Some(Json::String(s)) if s == "trip" => Kind::Trip,
            Some(Json::String(s)) if s == "count" => Kind::Count,
            Some(other) => {
                return Err(DecodeError::new(
                    Reason::UnknownKind,
                    format!("kind: {} is not \"trip\" or \"count\"", other.describe()),
                ));
            }
        };
        let id = match (raw.id.take(), kind) {
            (None, Kind::Trip) => return Err(missing("id")),
            (None, Kind::Count) => None,
            (Some(Json::String(s)), _) if s.is_empty() => {
                return Err(DecodeError::new(Reason::BadValue, "id: must not be empty"));
            }
            (Some(Json::String(s)), _) => Some(s),
            (Some(other), _) => return Err(wrong_type("id", "a string", &other)),
        };
        let mode = match raw.mode.as_ref() {
            None => return Err(missing("mode")),
            Some(Json::String(s)) => Mode::from_name(s).ok_or_else(|| {
                DecodeError::new(
                    Reason::UnknownMode,
                    format!(
                        "mode: {:?} is not a canonical mode ({})",
                        shorten(s),
                        Mode::names()
                    ),
                )
            })?,
            Some(other) => {
                return Err(DecodeError::new(
                    Reason::UnknownMode,
                    format!("mode: expected a mode name, got {}", other.describe()),
                ));
            }
        };
        let start_time = match raw.start_time.as_ref() {
            None => return Err(missing("start_time")),
            Some(v) => event_time("start_time", v)?,
        };
        check_start_range(start_time, now)?;
        let end_time = match raw.end_time.as_ref() {
            None => None,
            Some(v) => Some(check::end_after_start(
                start_time,
                event_time("end_time", v)?,
            )?),
        };
        let (place, destination, person_trips, reported_distance_m) = match kind {
            Kind::Trip => {
                let origin = match raw.origin.take() {
                    None if raw.location.is_some() => {
                        return Err(DecodeError::new(
                            Reason::MissingField,
                            "origin: missing (a trip has an origin; `location` is for counts)",
                        ));
                    }
                    None => return Err(missing("origin")),
                    Some(p) => point("origin", p)?,
                };
                let destination = raw
                    .destination
                    .take()
                    .map(|p| point("destination", p))
                    .transpose()?;
                let distance = raw
                    .distance_m
                    .as_ref()
                    .map(|v| bounded_number("distance_m", v, 0.0, f64::MAX, "≥ 0"))
                    .transpose()?;
                let persons = match raw.persons.as_ref() {
                    None => 1.0,
                    Some(v) => positive_number("persons", v, PersonTrips::MAX_PER_EVENT)?,
                };
                let persons = check::plausible(
                    "persons",
                    persons,
                    self.factors.max_persons_per_trip(),
                    MAX_PERSONS_SETTING,
                )?;
                (
                    origin,
                    destination,
                    person_trips("persons", persons)?,
                    distance,
                )
            }
            Kind::Count => {
                let location = match raw.location.take() {
                    None if raw.origin.is_some() => {
                        return Err(DecodeError::new(
                            Reason::MissingField,
                            "location: missing (a count has a location; `origin` is for trips)",
                        ));
                    }
                    None => return Err(missing("location")),
                    Some(p) => point("location", p)?,
                };
                let count = match raw.count.as_ref() {
                    None => return Err(missing("count")),
                    Some(v) => bounded_number("count", v, 0.0, PersonTrips::MAX_PER_EVENT, "≥ 0")?,
                };
                let count = check::plausible(
                    "count",
                    count,
                    self.factors.max_count_per_reading(),
                    MAX_COUNT_SETTING,
                )?;
                let per_unit = match raw.persons_per_unit.as_ref() {
                    None => self.factors.persons_per_unit(mode),
                    Some(v) => positive_number("persons_per_unit", v, MAX_PERSONS_PER_UNIT)?,
                };
                (
                    location,
                    None,
                    person_trips("count × persons_per_unit", count * per_unit)?,
                    None,
                )
            }
        };
        Ok(Observation {
            kind,
            id,
            source: Cow::Borrowed(""),
            mode,
            start_time,
            end_time,
            place,
            destination,
            reported_distance_m,
            person_trips,
            coverage: None,
        })
    }
}

fn json_error<'a>(e: serde_json::Error) -> DecodeError<'a> {
    use serde_json::error::Category;
    let message = match e.classify() {
        Category::Data if e.to_string().starts_with("invalid type") => {
            format!("expected a JSON object with the event's fields ({e})")
        }
        Category::Data => e.to_string(),
        Category::Syntax | Category::Eof | Category::Io => format!("not valid JSON: {e}"),
    };
    DecodeError::new(Reason::InvalidJson, message)
}

fn not_an_object<'a>(bytes: &[u8]) -> DecodeError<'a> {
    let message = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Ok(_) => "expected a JSON object with the event's fields".to_string(),
        Err(e) => format!("not valid JSON: {e}"),
    };
    DecodeError::new(Reason::InvalidJson, message)
}

fn event_time<'a>(field: &str, value: &Json<'_>) -> Result<'a, EventTimeMs> {
    let parsed = match value {
        Json::String(s) => parse_rfc3339(s),
        Json::Number(n) => from_epoch_ms(*n),
        other => Err(TimeProblem::Malformed(format!(
            "expected an RFC 3339 string or epoch milliseconds, got {}",
            other.type_name()
        ))),
    };
    parsed.map_err(|problem| check::time_error(field, problem))
}

fn point<'a>(field: &str, raw: RawPoint<'_>) -> Result<'a, GeoPoint> {
    let (lat, lon) = match raw {
        RawPoint::Object { lat, lon } => (lat, lon),
        RawPoint::NotAnObject(other) => {
            return Err(DecodeError::new(
                Reason::BadCoordinate,
                format!(
                    "{field}: expected an object {{\"lat\": …, \"lon\": …}}, got {}",
                    other.describe()
                ),
            ));
        }
    };
    let axis = |name: &str, v: Option<Json<'_>>| -> Result<'a, f64> {
        match v {
            None => Err(missing(&format!("{field}.{name}"))),
            Some(Json::Number(n)) => Ok(n),
            Some(other) => Err(DecodeError::new(
                Reason::BadCoordinate,
                format!(
                    "{field}.{name}: expected a number in degrees, got {}",
                    other.describe()
                ),
            )),
        }
    };
    let (lat, lon) = (axis("lat", lat)?, axis("lon", lon)?);
    check::coordinate(field, lat, lon)
}

fn positive_number<'a>(field: &str, v: &Json<'_>, max: f64) -> Result<'a, f64> {
    let n = bounded_number(field, v, 0.0, max, "> 0")?;
    if n == 0.0 {
        return Err(DecodeError::new(
            Reason::BadValue,
            format!("{field}: 0 must be > 0"),
        ));
    }
    Ok(n)
}

/// The canonical event of an observation, as one JSON line without its newline: what the
/// ingest API writes for each item it accepts, whatever format it arrived in, so that the
/// pipeline reads it back as the same observation. Times are epoch milliseconds; a count
/// carries its person trips as `count` with `persons_per_unit` 1, so the factors that made
/// them are not applied twice. A counter's measured share of its interval (trafikkdata
/// `Dekningsgrad`) has no canonical field and is not carried.
pub fn encode(observation: &Observation<'_>) -> Vec<u8> {
    #[derive(Serialize)]
    struct Point {
        lat: f64,
        lon: f64,
    }
    #[derive(Serialize)]
    struct Event<'e> {
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'e str>,
        source: &'e str,
        mode: &'static str,
        start_time: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        end_time: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        origin: Option<Point>,
        #[serde(skip_serializing_if = "Option::is_none")]
        destination: Option<Point>,
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<Point>,
        #[serde(skip_serializing_if = "Option::is_none")]
        distance_m: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        persons: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        count: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        persons_per_unit: Option<f64>,
    }
    let point = |p: GeoPoint| Point {
        lat: p.lat(),
        lon: p.lon(),
    };
    let o = observation;
    let trip = o.kind == Kind::Trip;
    let amount = o.person_trips.as_f64();
    let event = Event {
        kind: if trip { "trip" } else { "count" },
        id: o.id.as_deref(),
        source: o.source.as_ref(),
        mode: o.mode.as_str(),
        start_time: o.start_time.0,
        end_time: o.end_time.map(|t| t.0),
        origin: trip.then(|| point(o.place)),
        destination: o.destination.map(point),
        location: (!trip).then(|| point(o.place)),
        distance_m: o.reported_distance_m,
        persons: trip.then_some(amount),
        count: (!trip).then_some(amount),
        persons_per_unit: (!trip).then_some(1.0),
    };
    // Serialising a struct of strings and finite numbers cannot fail.
    serde_json::to_vec(&event).unwrap_or_default()
}

mod plain;
#[cfg(test)]
mod tests;
