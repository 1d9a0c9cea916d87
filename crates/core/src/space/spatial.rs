//! Spatial binning: the H3 cell and the zones of an exact point.
//!
//! Zone membership is always that of the exact point ([`Zones::contains`]). A cache remembers,
//! per H3 cell, the zones that cell lies wholly inside and the zones whose border comes near it;
//! only the latter are tested point-in-polygon. A cell counts as wholly inside (or outside) a zone
//! only when the zone's boundary is farther from the cell's centre than 1.5 × the cell's
//! circumradius, so no point of the cell can be on the other side.

use std::collections::HashMap;

use h3o::{CellIndex, LatLng, Resolution};
use serde::Deserialize;

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

/// H3 indexes keep their unused low digits set to 7, so a hasher must mix the high bits in:
/// a multiply-fold (as FxHash does) instead of SipHash, which is several times slower.
#[derive(Default, Clone, Copy)]
pub struct CellHasher(u64);

impl std::hash::Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        let folded = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = folded ^ (folded >> 29);
    }
}

/// A map keyed by H3 cell.
pub type CellMap<V> = HashMap<CellIndex, V, std::hash::BuildHasherDefault<CellHasher>>;

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
    found: Vec<ZoneId>,
}

impl SpatialIndex {
    pub fn new(zones: Zones, resolution: Resolution) -> SpatialIndex {
        SpatialIndex {
            zones,
            resolution,
            cache: CellMap::default(),
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
        let cell = cell_of(point, self.resolution);
        self.zones_of(point, cell);
        Placement {
            cell,
            zones: &self.found,
        }
    }

    fn zones_of(&mut self, point: GeoPoint, cell: CellIndex) {
        let cache_cell = if self.resolution < COARSEST_CACHE_RESOLUTION {
            None
        } else if self.resolution > FINEST_CACHE_RESOLUTION {
            cell.parent(FINEST_CACHE_RESOLUTION)
        } else {
            Some(cell)
        };
        let Some(cache_cell) = cache_cell else {
            return self.zones.zones_containing(point, &mut self.found);
        };
        if self.cache.len() >= MAX_CACHED_CELLS && !self.cache.contains_key(&cache_cell) {
            return self.zones.zones_containing(point, &mut self.found);
        }
        let zones = &self.zones;
        let known = self
            .cache
            .entry(cache_cell)
            .or_insert_with(|| classify_cell(zones, cache_cell));
        self.found.clear();
        self.found.extend_from_slice(&known.inside);
        self.found.extend(
            known
                .border
                .iter()
                .copied()
                .filter(|id| zones.contains(*id, point)),
        );
        // Keep zone order stable whichever list a zone came from.
        if !known.inside.is_empty() && !known.border.is_empty() {
            self.found.sort_unstable();
        }
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
