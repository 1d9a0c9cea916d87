//! The k rule for published cell-level outputs (hex maps, zone pairs): a number is shown only
//! when it stands for at least k events and at least k person trips (MDS metrics use k = 10).
//!
//! Suppression is decided once, on the finest pieces the state holds: a cell's trips per zone
//! set at the configured resolution. Every published number — a cell, a cell of one zone, a
//! coarser parent cell — is a sum of pieces that passed, so no difference of published numbers
//! (a parent minus its children, a cell minus its part in a zone) reveals a suppressed piece.
//! A sum of passing pieces passes itself, so coarser cells never need a second check.

use std::collections::BTreeMap;

use h3o::{CellIndex, Resolution};
use serde::Deserialize;

use crate::space::{CellMap, ZoneId};
use crate::state::{CellWindow, ModeTotals, ZonePair};
use crate::vocabulary::ConfigErrors;

/// `[privacy]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Cells and zone pairs with fewer events or fewer person trips than this are not shown.
    pub k: u64,
}

impl PrivacyConfig {
    /// The k of the rule.
    pub fn validate(&self, errors: &mut ConfigErrors) -> u64 {
        if self.k == 0 {
            errors.push("privacy.k", "must be at least 1 (1 shows every cell)");
            return 1;
        }
        self.k
    }
}

/// Whether `totals` may be published under the k rule.
pub fn passes(totals: &ModeTotals, k: u64) -> bool {
    k <= 1 || (totals.events() >= k && totals.total().as_f64() >= k as f64)
}

/// The cells of a window that may be published.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedCells {
    /// In cell index order.
    pub cells: Vec<(CellIndex, ModeTotals)>,
    /// Cells (at the asked resolution, in the asked zone) that hold events but are not shown.
    pub suppressed: usize,
}

/// The window's cells at `resolution` (the configured one or coarser), with only the trips
/// inside `zone` when given, under the k rule. `None` when `resolution` is finer than the
/// cells the state holds.
pub fn publish_cells(
    window: &CellWindow,
    resolution: Resolution,
    zone: Option<ZoneId>,
    k: u64,
) -> Option<PublishedCells> {
    let mut shown: CellMap<ModeTotals> = CellMap::default();
    let mut with_events: CellMap<()> = CellMap::default();
    for (cell, sets) in &window.cells {
        let target = cell.parent(resolution)?;
        for (zones, totals) in sets {
            if zone.is_some_and(|z| !zones.contains(&z)) {
                continue;
            }
            with_events.insert(target, ());
            if passes(totals, k) {
                shown.entry(target).or_default().merge(totals);
            }
        }
    }
    let mut cells: Vec<_> = shown.into_iter().collect();
    cells.sort_unstable_by_key(|(cell, _)| *cell);
    Some(PublishedCells {
        suppressed: with_events.len() - cells.len(),
        cells,
    })
}

/// The zone pairs that may be published, and how many were not.
pub fn publish_zone_pairs(
    pairs: &BTreeMap<ZonePair, ModeTotals>,
    k: u64,
) -> (Vec<(ZonePair, ModeTotals)>, usize) {
    let shown: Vec<_> = pairs
        .iter()
        .filter(|(_, t)| passes(t, k))
        .map(|(p, t)| (*p, t.clone()))
        .collect();
    let suppressed = pairs.len() - shown.len();
    (shown, suppressed)
}

#[cfg(test)]
mod tests;
