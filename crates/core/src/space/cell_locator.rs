//! The H3 cell of a point, found again by a cheap exact test when the point lies well inside a
//! cell seen lately.
//!
//! h3o's point-to-cell (face, gnomonic projection, then one digit per resolution) is the
//! costliest step of placing an event. Points of a city fall again and again into the same few
//! thousand cells, so [`CellLocator`] remembers, per cube of space an edge wide, the last few
//! cells found there, each with its six edges as planes through the earth's centre. A point on
//! the inner side of all six — by a margin — is in that cell; any other point goes to h3o, whose
//! answer is then remembered.
//!
//! Why the test is exact: an H3 cell is a hexagon on the gnomonic projection of its icosahedron
//! face, and the gnomonic projection maps straight lines to great circles, so a cell wholly on
//! one face is the spherical hexagon whose edges are the great circles through its boundary
//! vertices. Only such cells are remembered (pentagons, cells crossing a face edge, whose
//! boundary bends, and cells within 0.6° of a pole, whose vertices h3o knows less precisely, are
//! always left to h3o). The margin, 10⁻⁴ of the cell's inner radius (7 × 10⁻¹² rad at
//! resolution 15), is orders of magnitude above the rounding of either computation (10⁻¹⁶ to
//! 10⁻¹⁴ rad), so a point near an edge, where the two could disagree, is always h3o's to place. The property
//! tests compare the locator with h3o point by point, at every resolution, near edges and
//! vertices.

use std::collections::HashMap;

use h3o::{CellIndex, LatLng, Resolution};

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

/// Cubes of the grid remembered at once (a direct-mapped table of 16-byte slots: 256 KiB).
const SLOTS: usize = 1 << 14;
/// Cells remembered per cube: a cube an edge wide meets at most three or four cells.
const CANDIDATES: usize = 4;
/// Cubes per cell edge. Measured on uniform points over Bærum at resolution 9 (300,000, cold
/// start): 1 → 95 % of points found again, 2 → 91 %, ½ → 87 %.
const CUBES_PER_EDGE: f64 = 1.0;
/// Cells remembered at most (each 160 bytes); past this the memory starts over.
const MAX_CELLS: usize = 1 << 15;
/// A point must be inside every edge by this fraction of the cell's inner radius.
const MARGIN: f64 = 1e-4;
/// Cells nearer a pole than this (the cosine of their latitude) are left to h3o: its boundary
/// vertices come from an arcsine, whose rounding grows as 1 / cos(latitude).
const MIN_COS_LATITUDE: f64 = 0.01;

/// Finds the H3 cell of points at one resolution, remembering the cells found.
#[derive(Debug, Clone)]
pub struct CellLocator {
    resolution: Resolution,
    /// Cubes of the grid per unit of length (the earth's radius).
    cubes_per_radius: f64,
    /// Per grid cube, 1 + the index in `cells` of the cells found there, the latest first (0:
    /// none).
    slots: Vec<[u32; CANDIDATES]>,
    cells: Vec<KnownCell>,
    /// Where each cell of `cells` is, and cells that are never remembered (`u32::MAX`).
    positions: CellMap<u32>,
    /// `MAX_CELLS` (smaller in tests).
    max_cells: usize,
    found_again: u64,
}

/// A cell and its edges as inward unit normals of the planes through the earth's centre.
#[derive(Debug, Clone)]
struct KnownCell {
    cell: CellIndex,
    inward: [[f64; 3]; 6],
    /// How far inside every edge a point must be (the sine of the angle, as the normals give it).
    margin: f64,
}

impl KnownCell {
    /// The cell with its edge planes, unless its boundary is not six great-circle edges.
    fn new(cell: CellIndex) -> Option<KnownCell> {
        if cell.is_pentagon() || cell.icosahedron_faces().len() != 1 {
            return None;
        }
        let boundary = cell.boundary();
        let vertices: Vec<[f64; 3]> = boundary.iter().map(|v| unit_vector(*v)).collect();
        if vertices.len() != 6 {
            return None;
        }
        let center = LatLng::from(cell);
        if center.lat_radians().cos() < MIN_COS_LATITUDE {
            return None;
        }
        let center = unit_vector(center);
        let mut inward = [[0.0; 3]; 6];
        let mut inner_radius = f64::INFINITY;
        for (k, normal) in inward.iter_mut().enumerate() {
            let (a, b) = (vertices[k], vertices[(k + 1) % 6]);
            // (a + b) × (b − a) = 2 a × b, computed from the difference of the two vertices so
            // the plane goes through them as closely as they are known, however short the edge.
            let n = normalized(cross(add(a, b), sub(b, a)))?;
            let n = if dot(n, center) < 0.0 { neg(n) } else { n };
            inner_radius = inner_radius.min(dot(n, center));
            *normal = n;
        }
        (inner_radius > 0.0).then_some(KnownCell {
            cell,
            inward,
            margin: MARGIN * inner_radius,
        })
    }

    fn contains(&self, p: [f64; 3]) -> bool {
        self.inward.iter().all(|n| dot(*n, p) > self.margin)
    }
}

impl CellLocator {
    pub fn new(resolution: Resolution) -> CellLocator {
        // Cubes as wide as the cells' edge.
        let cubes_per_radius = CUBES_PER_EDGE / resolution.edge_length_rads();
        CellLocator {
            resolution,
            cubes_per_radius,
            slots: Vec::new(),
            cells: Vec::new(),
            positions: CellMap::default(),
            max_cells: MAX_CELLS,
            found_again: 0,
        }
    }

    /// The point's cell at the locator's resolution: exactly what h3o gives.
    pub fn cell_of(&mut self, point: LatLng) -> CellIndex {
        if self.slots.is_empty() {
            self.slots = vec![[0; CANDIDATES]; SLOTS];
        }
        let p = unit_vector(point);
        let slot = self.slot_of(p);
        let candidates = &mut self.slots[slot];
        for k in 0..CANDIDATES {
            let Some(known) = (candidates[k] as usize)
                .checked_sub(1)
                .and_then(|i| self.cells.get(i))
            else {
                break;
            };
            if known.contains(p) {
                // The latest found first: a cube mostly sees one cell.
                candidates[..=k].rotate_right(1);
                self.found_again += 1;
                return known.cell;
            }
        }
        let cell = point.to_cell(self.resolution);
        if let Some(position) = self.position_of(cell) {
            let candidates = &mut self.slots[slot];
            candidates.rotate_right(1);
            candidates[0] = position + 1;
        }
        cell
    }

    #[cfg(test)]
    /// Points whose cell was found by the test of a remembered cell rather than by h3o.
    pub fn found_again(&self) -> u64 {
        self.found_again
    }

    /// The slot of the small cube (of the unit sphere's space) the point is in. Any function of
    /// the point would be correct, as the cell test decides; cubes keep nearby points together
    /// so the test mostly succeeds.
    fn slot_of(&self, p: [f64; 3]) -> usize {
        let [x, y, z] = p.map(|c| (c * self.cubes_per_radius).floor() as i64 as u64);
        let h = (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ y.rotate_left(21))
            .wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ z.rotate_left(42);
        let h = h.wrapping_mul(0x1656_67B1_9E37_79F9);
        (h >> (64 - SLOTS.trailing_zeros())) as usize
    }

    /// The position of the cell in `cells`, building its edges the first time it is found;
    /// `None` for a cell that is not remembered.
    fn position_of(&mut self, cell: CellIndex) -> Option<u32> {
        if let Some(&position) = self.positions.get(&cell) {
            return (position != u32::MAX).then_some(position);
        }
        if self.cells.len() >= self.max_cells {
            self.cells.clear();
            self.positions.clear();
            self.slots.fill([0; CANDIDATES]);
        }
        let position = match KnownCell::new(cell) {
            Some(known) => {
                self.cells.push(known);
                u32::try_from(self.cells.len() - 1).unwrap_or(u32::MAX)
            }
            None => u32::MAX,
        };
        self.positions.insert(cell, position);
        (position != u32::MAX).then_some(position)
    }
}

/// The point on the unit sphere. `libm`'s `sincos` (a port of musl's) takes half the time of
/// the C library's here, which saves and restores the rounding mode on every call; where the two
/// differ (in the last bit, about 10⁻¹⁶), the margin a point must be inside a cell's edges
/// ([`MARGIN`] of the inner radius: about 7 × 10⁻¹² radians even at resolution 15) is more than ten
/// thousand times larger, and a point within it goes to h3o, so the cell found is h3o's either
/// way.
pub(super) fn unit_vector(point: LatLng) -> [f64; 3] {
    let (sin_lat, cos_lat) = libm::sincos(point.lat_radians());
    let (sin_lng, cos_lng) = libm::sincos(point.lng_radians());
    [cos_lat * cos_lng, cos_lat * sin_lng, sin_lat]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn neg(a: [f64; 3]) -> [f64; 3] {
    [-a[0], -a[1], -a[2]]
}

fn normalized(a: [f64; 3]) -> Option<[f64; 3]> {
    let norm = dot(a, a).sqrt();
    (norm > 0.0).then(|| [a[0] / norm, a[1] / norm, a[2] / norm])
}

#[cfg(test)]
mod tests;
