//! The canonical observation every input format decodes into: a trip or a count.

use std::borrow::Cow;
use std::fmt;

use super::factor::PersonTrips;
use super::mode::Mode;
use super::time::EventTimeMs;

/// A WGS84 position whose latitude is within −90…90 and longitude within −180…180.
///
/// Construct it only through [`GeoPoint::new`]: the two crates it feeds take the axes in
/// opposite orders (`h3o::LatLng::new(lat, lng)`, `geo::Coord { x: lon, y: lat }`), so the
/// conversions live here and nowhere else.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

/// Which axis of a position is out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Lat,
    Lon,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> Result<GeoPoint, Axis> {
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(Axis::Lat);
        }
        if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
            return Err(Axis::Lon);
        }
        Ok(GeoPoint { lat, lon })
    }

    pub fn lat(self) -> f64 {
        self.lat
    }

    pub fn lon(self) -> f64 {
        self.lon
    }

    pub fn to_coord(self) -> geo::Coord<f64> {
        geo::Coord {
            x: self.lon,
            y: self.lat,
        }
    }

    /// The great-circle (haversine) distance in metres: trip distances, nearness to stops.
    pub fn distance_m(self, other: GeoPoint) -> f64 {
        use geo::{Distance, Haversine};
        Haversine.distance(geo::Point(self.to_coord()), geo::Point(other.to_coord()))
    }

    pub fn to_latlng(self) -> h3o::LatLng {
        // INVARIANT: both axes were range-checked (hence finite) in `GeoPoint::new`, and
        // `LatLng::new` only rejects non-finite values.
        #[allow(clippy::expect_used)]
        h3o::LatLng::new(self.lat, self.lon).expect("GeoPoint holds finite coordinates")
    }
}

/// Whether an observation is a trip or a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// One person (or `persons` people) travelling from an origin.
    Trip,
    /// N units observed at a place during an interval (counters, boardings).
    Count,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Trip => "trip",
            Kind::Count => "count",
        })
    }
}

/// A validated observation, borrowing its strings from the input where it can.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation<'a> {
    pub kind: Kind,
    /// Required for trips; counts without an id are never duplicates.
    pub id: Option<Cow<'a, str>>,
    pub source: Cow<'a, str>,
    pub mode: Mode,
    /// Event time.
    pub start_time: EventTimeMs,
    pub end_time: Option<EventTimeMs>,
    /// A trip's origin or a count's location: where the observation is attributed.
    pub place: GeoPoint,
    /// A trip's destination, when known.
    pub destination: Option<GeoPoint>,
    /// A trip's distance in metres as reported; see [`Observation::distance_m`].
    pub reported_distance_m: Option<f64>,
    /// Trip → `persons`; count → `count × persons_per_unit`.
    pub person_trips: PersonTrips,
    /// The share (0–1) of the interval a counter measured, when its format reports one
    /// (trafikkdata `Dekningsgrad`). Shown, never used to scale the count.
    pub coverage: Option<f64>,
}

impl Observation<'_> {
    /// The trip distance: as reported, else the great-circle distance origin → destination.
    pub fn distance_m(&self) -> Option<f64> {
        self.reported_distance_m
            .or_else(|| self.destination.map(|d| self.place.distance_m(d)))
    }
}
