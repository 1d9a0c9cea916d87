//! Where the trips of a window happened: person trips per H3 cell and per origin → destination
//! zone pair, in the same event-time buckets as the zone totals of the windows.
//!
//! A cell's entries are kept per *zone set* (the zones its events' exact points lie in), so a
//! map of one zone shows only that zone's trips even in cells its border crosses. Zone sets are
//! interned per partition: most cells have one. Trips with a destination feed the zone pairs;
//! an origin or destination outside every zone is `None` (outside). Each entry is one mode's
//! tally (most places see one or two modes in a bucket), about 40 bytes.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use h3o::CellIndex;
use serde::{Deserialize, Serialize};

use super::buckets::Buckets;
use super::tally::{ModeTally, ModeTotals, SavedTally};
use crate::space::{AccessFacts, CellHasher, CellMap, StopId, ZoneId};
use crate::vocabulary::{Mode, PersonTrips};

/// A cell, the zone set its events lie in, and a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CellKey {
    cell: CellIndex,
    zone_set: u32,
    mode: Mode,
}

impl Hash for CellKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.cell));
        state.write_u64(u64::from(self.zone_set) | (self.mode.index() as u64) << 32);
    }
}

type CellBucket = HashMap<CellKey, ModeTally, std::hash::BuildHasherDefault<CellHasher>>;

/// A zone pair and a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PairKey {
    pair: ZonePair,
    mode: Mode,
}

impl Hash for PairKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let zone = |z: Option<ZoneId>| z.map_or(0, |z| u64::from(z.0) + 1);
        state.write_u64(zone(self.pair.0) << 8 | self.mode.index() as u64);
        state.write_u64(zone(self.pair.1));
    }
}

/// A bucket's zone pairs: a hash map (a trip's pairs are looked up on the live path), put in
/// order where order shows (a checkpoint's bytes).
type PairBucket = HashMap<PairKey, ModeTally, std::hash::BuildHasherDefault<CellHasher>>;

/// A window's person trips per cell and per zone set its events lie in (usually one per
/// cell), summed over partitions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellWindow {
    pub cells: CellMap<Vec<(Box<[ZoneId]>, ModeTotals)>>,
}

/// An origin → destination zone pair (`None`: outside every zone).
pub type ZonePair = (Option<ZoneId>, Option<ZoneId>);

/// How a judged trip uses a stop place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StopUse {
    /// Starts near it (a last mile from public transport).
    Departs,
    /// Ends near it (a first mile to public transport).
    Arrives,
    /// Starts and ends near it: one trip, counted once.
    RoundTrip,
}

impl StopUse {
    const ALL: [StopUse; 3] = [StopUse::Departs, StopUse::Arrives, StopUse::RoundTrip];
}

/// A stop place's judged trips in a window, by how they use it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StopTotals {
    pub departs: ModeTotals,
    pub arrives: ModeTotals,
    pub round_trips: ModeTotals,
}

impl StopTotals {
    /// Every trip that starts or ends near the stop, each once.
    pub fn all(&self) -> ModeTotals {
        let mut all = self.departs.clone();
        all.merge(&self.arrives);
        all.merge(&self.round_trips);
        all
    }
}

/// One partition's person trips per cell and per zone pair, per bucket.
#[derive(Debug, Clone, Default)]
pub struct PlaceBuckets {
    cells: Buckets<CellBucket>,
    pairs: Buckets<PairBucket>,
    /// Judged trips per stop place they start or end near.
    stops: Buckets<BTreeMap<(StopId, StopUse, Mode), ModeTally>>,
    /// The cell map of the newest bucket pruned, emptied: the next new bucket takes it, with
    /// room for about as many cells (growing a hash map rehashes everything in it).
    spare_cells: Option<CellBucket>,
    /// The same for the zone pairs.
    spare_pairs: Option<PairBucket>,
    zone_sets: Vec<Box<[ZoneId]>>,
    zone_set_ids: HashMap<Box<[ZoneId]>, u32>,
    last_zone_set: Option<u32>,
}

/// One event's share of a bucket.
pub struct Piece<'a> {
    pub bucket: i64,
    pub mode: Mode,
    pub amount: PersonTrips,
    /// Whether the event itself is counted here (a count spread over buckets counts once).
    pub holds_event: bool,
    pub cell: CellIndex,
    pub zones: &'a [ZoneId],
    /// A trip's destination zones, when it has a destination.
    pub destination_zones: Option<&'a [ZoneId]>,
    /// A judged trip's stops.
    pub access: Option<AccessFacts>,
}

/// The zones, or outside (`None`) when there are none.
fn or_outside(zones: &[ZoneId]) -> impl Iterator<Item = Option<ZoneId>> + '_ {
    let outside = zones.is_empty().then_some(None);
    zones.iter().copied().map(Some).chain(outside)
}

fn add(tally: &mut ModeTally, piece: &Piece<'_>) {
    tally.events += u64::from(piece.holds_event);
    tally.person_trips += piece.amount;
}

impl PlaceBuckets {
    pub fn observe(&mut self, piece: &Piece<'_>) {
        let zone_set = self.zone_set(piece.zones);
        let key = CellKey {
            cell: piece.cell,
            zone_set,
            mode: piece.mode,
        };
        let cells =
            self.cells
                .entry_or_take(piece.bucket, &mut self.spare_cells, CellBucket::default);
        add(cells.entry(key).or_default(), piece);
        if let Some(facts) = piece.access {
            let uses = match (facts.origin_stop, facts.destination_stop) {
                (Some(o), Some(d)) if o == d => [Some((o, StopUse::RoundTrip)), None],
                (o, d) => [
                    o.map(|o| (o, StopUse::Departs)),
                    d.map(|d| (d, StopUse::Arrives)),
                ],
            };
            for (stop, used) in uses.into_iter().flatten() {
                add(
                    self.stops
                        .entry(piece.bucket)
                        .entry((stop, used, piece.mode))
                        .or_default(),
                    piece,
                );
            }
        }
        if let Some(destinations) = piece.destination_zones {
            let pairs =
                self.pairs
                    .entry_or_take(piece.bucket, &mut self.spare_pairs, PairBucket::default);
            for origin in or_outside(piece.zones) {
                for destination in or_outside(destinations) {
                    let key = PairKey {
                        pair: (origin, destination),
                        mode: piece.mode,
                    };
                    add(pairs.entry(key).or_default(), piece);
                }
            }
        }
    }

    fn zone_set(&mut self, zones: &[ZoneId]) -> u32 {
        // Consecutive events mostly share their zones: check the last set before hashing.
        if let Some(last) = self.last_zone_set
            && *self.zone_sets[last as usize] == *zones
        {
            return last;
        }
        if let Some(id) = self.zone_set_ids.get(zones) {
            self.last_zone_set = Some(*id);
            return *id;
        }
        let id = self.zone_sets.len() as u32;
        self.zone_sets.push(zones.into());
        self.zone_set_ids.insert(zones.into(), id);
        self.last_zone_set = Some(id);
        id
    }

    /// Drops buckets before `floor`.
    pub fn prune(&mut self, floor: i64) {
        self.cells
            .prune_into(floor, &mut self.spare_cells, |cells| cells.clear());
        self.pairs
            .prune_into(floor, &mut self.spare_pairs, |pairs| pairs.clear());
        self.stops.prune(floor);
    }

    /// Adds the stop places of buckets in `start..end` to `out`.
    pub fn stops_into(&self, start: i64, end: i64, out: &mut BTreeMap<StopId, StopTotals>) {
        for bucket in self.stops.range(start..end).map(|(_, b)| b) {
            for ((stop, used, mode), tally) in bucket {
                let totals = out.entry(*stop).or_default();
                let t = match used {
                    StopUse::Departs => &mut totals.departs,
                    StopUse::Arrives => &mut totals.arrives,
                    StopUse::RoundTrip => &mut totals.round_trips,
                };
                t.add_tally(*mode, tally);
            }
        }
    }

    pub(crate) fn save_stops(&self) -> Vec<(i64, Vec<SavedStopTally>)> {
        self.stops
            .iter()
            .map(|(bucket, stops)| {
                let stops = stops
                    .iter()
                    .map(|((stop, used, mode), t)| (stop.0, *used as u8, SavedTally::new(*mode, t)))
                    .collect();
                (*bucket, stops)
            })
            .collect()
    }

    pub(crate) fn restore_stops(
        &mut self,
        saved: Vec<(i64, Vec<SavedStopTally>)>,
        stop_count: usize,
    ) -> Result<(), String> {
        for (bucket, stops) in saved {
            let mut restored = BTreeMap::new();
            for (stop, used, tally) in stops {
                if stop as usize >= stop_count {
                    return Err(format!("stop place {stop} of {stop_count}"));
                }
                let used = *StopUse::ALL
                    .get(usize::from(used))
                    .ok_or_else(|| format!("stop use {used}"))?;
                let (mode, tally) = tally.restore()?;
                restored.insert((StopId(stop), used, mode), tally);
            }
            *self.stops.entry(bucket) = restored;
        }
        Ok(())
    }

    /// Adds the cells of buckets in `start..end` to `out`.
    pub fn cells_into(&self, start: i64, end: i64, out: &mut CellWindow) {
        for bucket in self.cells.range(start..end).map(|(_, b)| b) {
            for (key, tally) in bucket {
                let zones = &self.zone_sets[key.zone_set as usize];
                let sets = out.cells.entry(key.cell).or_default();
                let at = match sets.iter().position(|(set, _)| set == zones) {
                    Some(at) => at,
                    None => {
                        sets.push((zones.clone(), ModeTotals::default()));
                        sets.len() - 1
                    }
                };
                sets[at].1.add_tally(key.mode, tally);
            }
        }
    }

    /// Adds the zone pairs of buckets in `start..end` to `out`.
    pub fn pairs_into(&self, start: i64, end: i64, out: &mut BTreeMap<ZonePair, ModeTotals>) {
        for bucket in self.pairs.range(start..end).map(|(_, b)| b) {
            for (key, tally) in bucket {
                out.entry(key.pair).or_default().add_tally(key.mode, tally);
            }
        }
    }

    pub(crate) fn save(&self) -> SavedPlaces {
        let zone_of = |z: Option<ZoneId>| z.map(|z| z.0);
        SavedPlaces {
            zone_sets: self
                .zone_sets
                .iter()
                .map(|set| set.iter().map(|z| z.0).collect())
                .collect(),
            cells: self
                .cells
                .iter()
                .map(|(bucket, cells)| {
                    let mut cells: Vec<SavedCellTally> = cells
                        .iter()
                        .map(|(k, t)| (u64::from(k.cell), k.zone_set, SavedTally::new(k.mode, t)))
                        .collect();
                    // In order, as the pairs: equal state, equal bytes.
                    cells.sort_unstable_by_key(|(cell, zone_set, t)| {
                        (*cell, *zone_set, t.mode_index())
                    });
                    (*bucket, cells)
                })
                .collect(),
            pairs: self
                .pairs
                .iter()
                .map(|(bucket, pairs)| {
                    // In order (the B-tree's, which kept them before): equal state, equal bytes.
                    let mut pairs: Vec<_> = pairs.iter().collect();
                    pairs.sort_unstable_by_key(|(key, _)| **key);
                    let pairs = pairs
                        .into_iter()
                        .map(|(key, t)| {
                            let (o, d) = key.pair;
                            (zone_of(o), zone_of(d), SavedTally::new(key.mode, t))
                        })
                        .collect();
                    (*bucket, pairs)
                })
                .collect(),
        }
    }

    pub(crate) fn restore(saved: SavedPlaces, zone_count: usize) -> Result<PlaceBuckets, String> {
        let zone = |z: u32| -> Result<ZoneId, String> {
            if (z as usize) < zone_count {
                Ok(ZoneId(z))
            } else {
                Err(format!("zone {z} of {zone_count}"))
            }
        };
        let mut places = PlaceBuckets::default();
        for set in saved.zone_sets {
            let set: Vec<ZoneId> = set.into_iter().map(zone).collect::<Result<_, _>>()?;
            places.zone_set(&set);
        }
        for (bucket, cells) in saved.cells {
            let mut restored = CellBucket::default();
            for (cell, zone_set, tally) in cells {
                if zone_set as usize >= places.zone_sets.len() {
                    return Err(format!("zone set {zone_set} of {}", places.zone_sets.len()));
                }
                let cell = CellIndex::try_from(cell).map_err(|e| format!("a stored cell: {e}"))?;
                let (mode, tally) = tally.restore()?;
                restored.insert(
                    CellKey {
                        cell,
                        zone_set,
                        mode,
                    },
                    tally,
                );
            }
            *places.cells.entry(bucket) = restored;
        }
        for (bucket, pairs) in saved.pairs {
            let mut restored = PairBucket::default();
            for (origin, destination, tally) in pairs {
                let pair = (
                    origin.map(zone).transpose()?,
                    destination.map(zone).transpose()?,
                );
                let (mode, tally) = tally.restore()?;
                restored.insert(PairKey { pair, mode }, tally);
            }
            *places.pairs.entry(bucket) = restored;
        }
        Ok(places)
    }
}

/// (stop place, how the trip used it, tally).
pub(crate) type SavedStopTally = (u32, u8, SavedTally);

/// Per-cell (cell, zone set) and per-zone-pair buckets; zones by index, `None` outside.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct SavedPlaces {
    pub(crate) zone_sets: Vec<Vec<u32>>,
    pub(crate) cells: Vec<(i64, Vec<SavedCellTally>)>,
    pub(crate) pairs: Vec<(i64, Vec<SavedPairTally>)>,
}

/// (cell index, zone set, tally).
pub(crate) type SavedCellTally = (u64, u32, SavedTally);
/// (origin zone, destination zone, tally); `None` outside every zone.
pub(crate) type SavedPairTally = (Option<u32>, Option<u32>, SavedTally);

#[cfg(test)]
mod tests;
