//! Spatial binning: the H3 cell and the zones of an exact point.
//!
//! Zone membership is always that of the exact point ([`Zones::contains`]). A cache remembers,
//! per H3 cell, the zones that cell lies wholly inside and the zones whose border comes near it;
//! only the latter are tested point-in-polygon. A cell counts as wholly inside (or outside) a zone
//! only when the zone's boundary is farther from the cell's centre than 1.5 × the cell's
//! circumradius, so no point of the cell can be on the other side.
//!
//! The cell comes from a [`CellLocator`], which finds most points' cells again without h3o. A
//! memo remembers the cell and zones of exact points seen lately ([`PointMemo`]): counters,
//! docks and stations send the same coordinates again and again, and placing them is then a
//! lookup.

use h3o::{CellIndex, LatLng, Resolution};
use serde::Deserialize;

use super::cell_locator::{CellLocator, CellMap};
use super::zone::{ZoneId, Zones};
use crate::vocabulary::{ConfigErrors, GeoPoint};

/// `[spatial]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpatialConfig {
    /// H3 resolution of the published cells, 0–15 (9: cells of about 0.1 km²).
    pub resolution: u8,
    /// A GeoJSON FeatureCollection of zone polygons; the embedded Bærum zones when absent.
    #[serde(default)]
    pub zones: Option<String>,
}

impl SpatialConfig {
    pub fn validate_resolution(&self, errors: &mut ConfigErrors) -> Resolution {
        Resolution::try_from(self.resolution).unwrap_or_else(|_| {
            errors.push(
                "spatial.resolution",
                format!("{} is not an H3 resolution (0–15)", self.resolution),
            );
            Resolution::Nine
        })
    }
}

/// The H3 cell of a point at a resolution.
pub fn cell_of(point: GeoPoint, resolution: Resolution) -> CellIndex {
    point.to_latlng().to_cell(resolution)
}

/// Below this resolution cells are too large for the cache to help; above it, the cache keys on
/// the parent cell so it stays small.
const FINEST_CACHE_RESOLUTION: Resolution = Resolution::Ten;
const COARSEST_CACHE_RESOLUTION: Resolution = Resolution::Five;
/// Cells remembered at most; past this, lookups test every zone directly (memory stays bounded).
const MAX_CACHED_CELLS: usize = 1 << 20;

#[derive(Debug, Clone)]
struct CellZones {
    /// Zones containing the whole cell.
    inside: Box<[ZoneId]>,
    /// Zones whose boundary passes near the cell: test the exact point.
    border: Box<[ZoneId]>,
}

/// Where an observation lands.
#[derive(Debug, PartialEq)]
pub struct Placement<'a> {
    pub cell: CellIndex,
    pub zones: &'a [ZoneId],
}

/// Bins points into H3 cells and zones.
#[derive(Debug, Clone)]
pub struct SpatialIndex {
    zones: Zones,
    resolution: Resolution,
    cache: CellMap<CellZones>,
    memo: PointMemo,
    locator: CellLocator,
    found: Vec<ZoneId>,
}

/// Slots of the point memo: a few hundred counters and docks fit without often taking each
/// other's slot, and the table (48 bytes a slot) stays within a core's L2 cache.
const MEMO_SLOTS: usize = 4096;
/// A point in more zones than this is not memoised.
const MEMO_ZONES: usize = 5;

/// The cell and zones of exact points seen lately, in a direct-mapped table: a point takes the
/// slot its coordinates hash to, replacing what was there. Memory is fixed, and a stream of
/// points that never repeat (GPS trips) costs a hash and a compare each.
#[derive(Debug, Clone, Default)]
struct PointMemo {
    /// Allocated on first use.
    slots: Vec<MemoSlot>,
}

#[derive(Debug, Clone, Copy)]
struct MemoSlot {
    /// The point's coordinates, bit for bit; meaningful when `cell` is set.
    lat: u64,
    lon: u64,
    cell: Option<CellIndex>,
    zone_count: u8,
    zones: [ZoneId; MEMO_ZONES],
}

const EMPTY_SLOT: MemoSlot = MemoSlot {
    lat: 0,
    lon: 0,
    cell: None,
    zone_count: 0,
    zones: [ZoneId(0); MEMO_ZONES],
};

impl PointMemo {
    /// The slot of a point's coordinate bits.
    fn slot(&mut self, lat: u64, lon: u64) -> &mut MemoSlot {
        if self.slots.is_empty() {
            self.slots = vec![EMPTY_SLOT; MEMO_SLOTS];
        }
        let h = (lat ^ lon.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        &mut self.slots[(h >> (64 - MEMO_SLOTS.trailing_zeros())) as usize]
    }

    /// The cell and zones remembered for the point, copied into `zones`.
    fn recall(&mut self, lat: u64, lon: u64, zones: &mut Vec<ZoneId>) -> Option<CellIndex> {
        let slot = self.slot(lat, lon);
        let cell = slot.cell.filter(|_| slot.lat == lat && slot.lon == lon)?;
        zones.clear();
        push_each(zones, &slot.zones[..usize::from(slot.zone_count)]);
        Some(cell)
    }

    /// Remembers the point's cell and zones (unless it lies in too many zones).
    fn remember(&mut self, lat: u64, lon: u64, cell: CellIndex, zones: &[ZoneId]) {
        let Some(count) = u8::try_from(zones.len())
            .ok()
            .filter(|n| usize::from(*n) <= MEMO_ZONES)
        else {
            return;
        };
        let slot = self.slot(lat, lon);
        slot.lat = lat;
        slot.lon = lon;
        slot.cell = Some(cell);
        slot.zone_count = count;
        slot.zones[..zones.len()].copy_from_slice(zones);
    }
}

impl SpatialIndex {
    pub fn new(zones: Zones, resolution: Resolution) -> SpatialIndex {
        SpatialIndex {
            zones,
            resolution,
            cache: CellMap::default(),
            memo: PointMemo::default(),
            locator: CellLocator::new(resolution),
            found: Vec::new(),
        }
    }

    pub fn zones(&self) -> &Zones {
        &self.zones
    }

    pub fn resolution(&self) -> Resolution {
        self.resolution
    }

    /// The point's cell at the configured resolution and every zone containing the point.
    pub fn place(&mut self, point: GeoPoint) -> Placement<'_> {
        // The buffer is lent out for the call, which borrows the whole index.
        let mut found = std::mem::take(&mut self.found);
        let cell = self.place_into(point, &mut found);
        self.found = found;
        Placement {
            cell,
            zones: &self.found,
        }
    }

    /// Every zone containing the point, into `out`: the zones of [`SpatialIndex::place`], for a
    /// point whose cell is not wanted (a trip's destination). Finding the cell again and reading
    /// its cached zones costs less than testing each zone's polygon, the city's boundary with
    /// thousands of vertices among them.
    pub(crate) fn zones_at(&mut self, point: GeoPoint, out: &mut Vec<ZoneId>) {
        self.place_into(point, out);
    }

    /// The point's cell, and its zones into `out`.
    fn place_into(&mut self, point: GeoPoint, out: &mut Vec<ZoneId>) -> CellIndex {
        let (lat, lon) = (point.lat().to_bits(), point.lon().to_bits());
        if let Some(cell) = self.memo.recall(lat, lon, out) {
            return cell;
        }
        let cell = self.locator.cell_of(point.to_latlng());
        self.zones_of(point, cell, out);
        self.memo.remember(lat, lon, cell, out);
        cell
    }

    fn zones_of(&mut self, point: GeoPoint, cell: CellIndex, out: &mut Vec<ZoneId>) {
        let cache_cell = if self.resolution < COARSEST_CACHE_RESOLUTION {
            None
        } else if self.resolution > FINEST_CACHE_RESOLUTION {
            cell.parent(FINEST_CACHE_RESOLUTION)
        } else {
            Some(cell)
        };
        let Some(cache_cell) = cache_cell else {
            return self.zones.zones_containing(point, out);
        };
        if self.cache.len() >= MAX_CACHED_CELLS && !self.cache.contains_key(&cache_cell) {
            return self.zones.zones_containing(point, out);
        }
        let zones = &self.zones;
        let known = self
            .cache
            .entry(cache_cell)
            .or_insert_with(|| classify_cell(zones, cache_cell));
        out.clear();
        push_each(out, &known.inside);
        out.extend(
            known
                .border
                .iter()
                .copied()
                .filter(|id| zones.contains(*id, point)),
        );
        // Keep zone order stable whichever list a zone came from.
        if !known.inside.is_empty() && !known.border.is_empty() {
            out.sort_unstable();
        }
    }
}

/// Appends a point's few zones one by one: `extend_from_slice` calls the C library's `memcpy`
/// for them, whose call costs more than the copy (`memcpy` went from 3.3 % to 1.7 % of the live
/// path's profile; see BENCHMARKS.md).
fn push_each(out: &mut Vec<ZoneId>, zones: &[ZoneId]) {
    for zone in zones {
        out.push(*zone);
    }
}

/// Splits the zones into those wholly containing the cell, those near it (border) and the
/// rest (left out).
fn classify_cell(zones: &Zones, cell: CellIndex) -> CellZones {
    let center = LatLng::from(cell);
    let (clat, clon) = (center.lat(), center.lng());
    // Distances are measured in degrees of latitude, with longitude scaled by cos(lat): an
    // affine map of the lon/lat plane the polygons are tested in, so straight edges stay
    // straight and "farther than the margin" means "no edge between centre and point".
    let kx = clat.to_radians().cos();
    let boundary = cell.boundary();
    let wraps = boundary.iter().any(|v| (v.lng() - clon).abs() > 90.0);
    let all_border = || CellZones {
        inside: Box::new([]),
        border: zones.iter().map(|(id, _)| id).collect(),
    };
    if wraps || kx < 0.05 {
        return all_border();
    }
    let radius = boundary
        .iter()
        .map(|v| ((v.lng() - clon) * kx).hypot(v.lat() - clat))
        .fold(0.0_f64, f64::max);
    let margin = 1.5 * radius;
    let (mut inside, mut border) = (Vec::new(), Vec::new());
    let Ok(center_point) = GeoPoint::new(clat, clon) else {
        return all_border();
    };
    for (id, zone) in zones.iter() {
        let (min, max) = (zone.bbox.min(), zone.bbox.max());
        let dx = (min.x - clon).max(clon - max.x).max(0.0) * kx;
        let dy = (min.y - clat).max(clat - max.y).max(0.0);
        if dx.hypot(dy) > margin {
            continue;
        }
        let rings = zone
            .area
            .iter()
            .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()));
        let nearest_edge = rings
            .flat_map(|ring| ring.lines())
            .map(|line| {
                let a = ((line.start.x - clon) * kx, line.start.y - clat);
                let b = ((line.end.x - clon) * kx, line.end.y - clat);
                distance_to_segment(a, b)
            })
            .fold(f64::INFINITY, f64::min);
        if nearest_edge <= margin {
            border.push(id);
        } else if zones.contains(id, center_point) {
            inside.push(id);
        }
    }
    CellZones {
        inside: inside.into(),
        border: border.into(),
    }
}

/// Distance from the origin to the segment a–b.
fn distance_to_segment(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (abx, aby) = (b.0 - a.0, b.1 - a.1);
    let len2 = abx * abx + aby * aby;
    let t = if len2 > 0.0 {
        (-(a.0 * abx + a.1 * aby) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (a.0 + t * abx).hypot(a.1 + t * aby)
}

#[cfg(test)]
mod tests;
