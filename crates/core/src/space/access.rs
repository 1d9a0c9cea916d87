//! Transit access: whether a trip starts or ends near a public-transport stop (the first or
//! last mile of a journey by public transport).
//!
//! A trip of one of the configured modes (default: e-scooters and bicycles) is near a stop at
//! an end when that end lies within `radius_m` (great-circle distance, ≤) of any stop. Each
//! judged trip gets exactly one [`Access`] class; a trip without a destination is judged by its
//! origin alone. Counts are not trips between places and are never judged.
//!
//! Stops are grouped into *stop places* for the per-stop numbers: a GTFS stop's parent station
//! when it has one, else the stops of the same name within [`SAME_PLACE_M`] of each other (the
//! two platforms of a bus stop). Every stop of a place counts for proximity; the nearest place
//! within the radius is the one an end is attributed to.

use std::collections::HashMap;
use std::sync::Arc;

use geo::Haversine;
use rstar::RTree;
use rstar::primitives::GeomWithData;
use serde::Deserialize;

use super::cell_locator::unit_vector;
use super::zone::{ZoneId, Zones};
use crate::decode::GtfsStop;
use crate::vocabulary::{ConfigErrors, GeoPoint, Kind, Mode, ModeGroups, ModeSet, Observation};

/// `[transit_access]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitAccessConfig {
    /// Modes (or groups) whose trips are judged; empty turns transit access off.
    pub modes: Vec<String>,
    /// How near a stop (metres, great-circle) a trip's start or end must be.
    pub radius_m: f64,
    /// A GTFS feed (zip or folder) or a `stops.txt` whose stops count; absent with no `stops`
    /// listed: the embedded Bærum stops.
    #[serde(default)]
    pub stops_file: Option<String>,
    /// Stops given here, beside (or instead of) the file's.
    #[serde(default)]
    pub stops: Vec<StopConfig>,
}

/// One `[[transit_access.stops]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopConfig {
    /// The stop's name as planners know it; stops of one name within 500 m are one place.
    pub name: String,
    pub lat: f64,
    pub lon: f64,
}

/// Stops of one name without a parent station within this distance are one stop place.
const SAME_PLACE_M: f64 = 500.0;

/// The largest radius accepted: beyond a few kilometres "near a stop" means nothing.
pub const MAX_RADIUS_M: f64 = 5_000.0;

/// A stop place by index in [`TransitStops::places`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StopId(pub u32);

/// How a judged trip relates to the stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Starts near a stop, ends away from stops (or has no destination): a last mile.
    FromStop,
    /// Ends near a stop, starts away from stops: a first mile.
    ToStop,
    /// Both ends near stops.
    StopToStop,
    /// Neither end near a stop.
    NoStop,
    /// Starts away from stops and has no destination: cannot end at one as far as is known.
    NoDestination,
}

impl Access {
    pub const COUNT: usize = 5;
    pub const ALL: [Access; Access::COUNT] = [
        Access::FromStop,
        Access::ToStop,
        Access::StopToStop,
        Access::NoStop,
        Access::NoDestination,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Access::FromStop => "from_stop",
            Access::ToStop => "to_stop",
            Access::StopToStop => "stop_to_stop",
            Access::NoStop => "no_stop",
            Access::NoDestination => "no_destination",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the trip starts or ends near a stop.
    pub const fn near_stop(self) -> bool {
        matches!(self, Access::FromStop | Access::ToStop | Access::StopToStop)
    }
}

/// What transit access says about one trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessFacts {
    pub access: Access,
    /// The nearest stop place within the radius of the origin, and of the destination.
    pub origin_stop: Option<StopId>,
    pub destination_stop: Option<StopId>,
}

/// A stop place: the name planners know, where it is, and the zones it lies in.
#[derive(Debug, Clone, PartialEq)]
pub struct StopPlace {
    pub name: String,
    /// The position of its first stop.
    pub point: GeoPoint,
    pub zones: Box<[ZoneId]>,
    /// Stops (platforms, quays, the station itself) that make it up.
    pub stops: usize,
}

/// A stop on the sphere, with its own position (for the exact distance) and its place.
type IndexedStop = GeomWithData<[f64; 3], (GeoPoint, StopId)>;

/// The stop places and a spatial index over every stop of theirs.
#[derive(Debug, Clone, Default)]
pub struct TransitStops {
    places: Vec<StopPlace>,
    tree: RTree<IndexedStop>,
}

/// The earth radius of the haversine distance the radius is measured in.
const EARTH_RADIUS_M: f64 = Haversine.radius();

/// A point on the sphere in metres: chord lengths grow with great-circle distance everywhere,
/// so an index over them needs no map projection (and no latitude correction). Its rounding
/// (10⁻⁹ m) is far inside the centimetre the search radius is widened by.
fn on_sphere(p: GeoPoint) -> [f64; 3] {
    unit_vector(p.to_latlng()).map(|c| EARTH_RADIUS_M * c)
}

impl TransitStops {
    /// Stop places from GTFS `stops.txt` rows and listed stops, each place placed in `zones`.
    /// Rows of entrances, generic nodes and boarding areas (location types 2–4) and rows
    /// without a position are left out.
    pub fn build(gtfs: &[GtfsStop], listed: &[(String, GeoPoint)], zones: &Zones) -> TransitStops {
        let names: HashMap<&str, &str> = gtfs
            .iter()
            .map(|s| (s.id.as_str(), s.name.as_str()))
            .collect();
        // (group key, place index) of places formed so far, several per key when far apart.
        let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
        let mut places: Vec<StopPlace> = Vec::new();
        let mut indexed = Vec::new();
        let boarding = gtfs
            .iter()
            .filter(|s| s.location_type <= 1)
            .filter_map(|s| {
                let point = s.point?;
                let (key, name) = match &s.parent_station {
                    Some(parent) => (
                        format!("station:{parent}"),
                        names.get(parent.as_str()).copied().unwrap_or(&s.name),
                    ),
                    // A station is the parent of its platforms.
                    None if s.location_type == 1 => (format!("station:{}", s.id), &s.name[..]),
                    None => (format!("name:{}", s.name), &s.name[..]),
                };
                Some((key, name.to_owned(), point))
            });
        let listed = listed
            .iter()
            .map(|(name, point)| (format!("name:{name}"), name.clone(), *point));
        for (key, name, point) in boarding.chain(listed) {
            let candidates = by_key.entry(key.clone()).or_default();
            let same = candidates.iter().copied().find(|i| {
                key.starts_with("station:") || places[*i].point.distance_m(point) <= SAME_PLACE_M
            });
            let at = match same {
                Some(i) => {
                    places[i].stops += 1;
                    i
                }
                None => {
                    let mut found = Vec::new();
                    zones.zones_containing(point, &mut found);
                    places.push(StopPlace {
                        name,
                        point,
                        zones: found.into(),
                        stops: 1,
                    });
                    candidates.push(places.len() - 1);
                    places.len() - 1
                }
            };
            indexed.push(IndexedStop::new(
                on_sphere(point),
                (point, StopId(at as u32)),
            ));
        }
        TransitStops {
            places,
            tree: RTree::bulk_load(indexed),
        }
    }

    pub fn places(&self) -> &[StopPlace] {
        &self.places
    }

    /// Stops indexed (every platform and station).
    pub fn stop_count(&self) -> usize {
        self.tree.size()
    }

    /// The nearest stop place with a stop within `radius_m` of `point` (ties: the lower index).
    pub fn nearest_within(&self, point: GeoPoint, radius_m: f64) -> Option<StopId> {
        // The chord of the radius, a hair wider so that rounding never loses a stop the exact
        // great-circle test below accepts.
        let chord = 2.0 * EARTH_RADIUS_M * libm::sin(radius_m / (2.0 * EARTH_RADIUS_M)) + 0.01;
        self.tree
            .locate_within_distance(on_sphere(point), chord * chord)
            .filter_map(|indexed| {
                let (stop, place) = indexed.data;
                let d = point.distance_m(stop);
                (d <= radius_m).then_some((d, place))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map(|(_, place)| place)
    }
}

/// Slots of the stop memo (24 bytes each): the docks and stations of a city's bike and scooter
/// fleets fit without often taking each other's slot.
const STOP_MEMO_SLOTS: usize = 4096;

/// The nearest stop of exact points seen lately, in a direct-mapped table: bike docks and
/// stations repeat their coordinates, and the index lookup (an R-tree on the sphere, then
/// great-circle distances) becomes a compare. A point takes the slot its coordinates hash to,
/// replacing what was there: memory is fixed.
#[derive(Debug, Clone, Default)]
pub struct StopMemo {
    /// (latitude bits, longitude bits, answer): the answer is 0 for an empty slot, 1 for no
    /// stop within the radius, 2 + the stop's index for a stop. Allocated on first use.
    slots: Vec<(u64, u64, u32)>,
}

impl StopMemo {
    fn nearest_within(
        &mut self,
        stops: &TransitStops,
        point: GeoPoint,
        radius_m: f64,
    ) -> Option<StopId> {
        if self.slots.is_empty() {
            self.slots = vec![(0, 0, 0); STOP_MEMO_SLOTS];
        }
        let (lat, lon) = (point.lat().to_bits(), point.lon().to_bits());
        let h = (lat ^ lon.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let slot = &mut self.slots[(h >> (64 - STOP_MEMO_SLOTS.trailing_zeros())) as usize];
        match *slot {
            (slot_lat, slot_lon, 1) if slot_lat == lat && slot_lon == lon => return None,
            (slot_lat, slot_lon, answer) if answer > 1 && slot_lat == lat && slot_lon == lon => {
                return Some(StopId(answer - 2));
            }
            _ => {}
        }
        let nearest = stops.nearest_within(point, radius_m);
        let answer = match nearest {
            None => Some(1),
            Some(stop) => stop.0.checked_add(2),
        };
        if let Some(answer) = answer {
            *slot = (lat, lon, answer);
        }
        nearest
    }
}

/// The validated `[transit_access]`.
#[derive(Debug, Clone, Default)]
pub struct TransitAccess {
    /// Modes whose trips are judged.
    pub modes: ModeSet,
    pub radius_m: f64,
    /// Shared by every partition's pipeline.
    pub stops: Arc<TransitStops>,
    /// Where the stops came from, for the API and the log.
    pub stops_source: String,
}

impl TransitAccessConfig {
    /// Validates the modes and radius; `gtfs` holds the rows of the configured (or embedded)
    /// stops file, read by the caller, and `stops_source` says which file that is.
    pub fn validate(
        &self,
        groups: &ModeGroups,
        gtfs: &[GtfsStop],
        stops_source: &str,
        zones: &Zones,
        errors: &mut ConfigErrors,
    ) -> TransitAccess {
        let mut modes = ModeSet::default();
        for (i, name) in self.modes.iter().enumerate() {
            match (Mode::from_name(name), groups.get(name)) {
                (Some(mode), _) => modes.insert(mode),
                (None, Some(group)) => modes = modes.union(group.modes),
                (None, None) => errors.push(
                    format!("transit_access.modes[{i}]"),
                    format!(
                        "{name:?} is neither a canonical mode ({}) nor a group",
                        Mode::names()
                    ),
                ),
            }
        }
        if !(self.radius_m.is_finite() && self.radius_m > 0.0 && self.radius_m <= MAX_RADIUS_M) {
            errors.push(
                "transit_access.radius_m",
                format!("{} must be > 0 and ≤ {MAX_RADIUS_M} metres", self.radius_m),
            );
        }
        let mut listed = Vec::new();
        for (i, stop) in self.stops.iter().enumerate() {
            match GeoPoint::new(stop.lat, stop.lon) {
                Ok(point) if !stop.name.trim().is_empty() => {
                    listed.push((stop.name.clone(), point))
                }
                Ok(_) => errors.push(format!("transit_access.stops[{i}].name"), "is empty"),
                Err(axis) => errors.push(
                    format!("transit_access.stops[{i}]"),
                    format!(
                        "{}, {} is not a position ({axis:?} out of range)",
                        stop.lat, stop.lon
                    ),
                ),
            }
        }
        let stops = TransitStops::build(gtfs, &listed, zones);
        if !modes.is_empty() && stops.places.is_empty() {
            errors.push(
                "transit_access",
                format!(
                    "{stops_source} holds no stop with a position; list stops or set modes = [] to turn transit access off"
                ),
            );
        }
        TransitAccess {
            modes,
            radius_m: self.radius_m,
            stops: Arc::new(stops),
            stops_source: stops_source.to_owned(),
        }
    }
}

impl TransitAccess {
    /// Whether any trips are judged.
    pub fn is_enabled(&self) -> bool {
        !self.modes.is_empty() && !self.stops.places.is_empty()
    }

    /// The access class of a trip of a judged mode; `None` for other modes and for counts.
    pub fn judge(&self, obs: &Observation<'_>) -> Option<AccessFacts> {
        self.judge_with(obs, |p| self.stops.nearest_within(p, self.radius_m))
    }

    /// [`TransitAccess::judge`], with the stops near points `memo` remembers (one memo per
    /// `TransitAccess`: it holds this radius's answers).
    pub fn judge_remembering(
        &self,
        obs: &Observation<'_>,
        memo: &mut StopMemo,
    ) -> Option<AccessFacts> {
        self.judge_with(obs, |p| memo.nearest_within(&self.stops, p, self.radius_m))
    }

    fn judge_with(
        &self,
        obs: &Observation<'_>,
        mut nearest: impl FnMut(GeoPoint) -> Option<StopId>,
    ) -> Option<AccessFacts> {
        if obs.kind != Kind::Trip || !self.modes.contains(obs.mode) || !self.is_enabled() {
            return None;
        }
        let origin_stop = nearest(obs.place);
        let destination_stop = obs.destination.and_then(nearest);
        let access = match (origin_stop, destination_stop, obs.destination) {
            (Some(_), Some(_), _) => Access::StopToStop,
            (Some(_), None, _) => Access::FromStop,
            (None, Some(_), _) => Access::ToStop,
            (None, None, Some(_)) => Access::NoStop,
            (None, None, None) => Access::NoDestination,
        };
        Some(AccessFacts {
            access,
            origin_stop,
            destination_stop,
        })
    }
}

#[cfg(test)]
mod tests;
