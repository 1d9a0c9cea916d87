//! Where the trips of a window happened: person trips per H3 cell and per origin → destination
//! zone pair, in the same event-time buckets as the zone totals of [`crate::window`].
//!
//! A cell's entries are kept per *zone set* (the zones its events' exact points lie in), so a
//! map of one zone shows only that zone's trips even in cells its border crosses. Zone sets are
//! interned per partition: most cells have one. Trips with a destination feed the zone pairs;
//! an origin or destination outside every zone is `None` (outside). Each entry is one mode's
//! tally (most places see one or two modes in a bucket), about 40 bytes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use h3o::CellIndex;

use crate::aggregate::{ModeTally, ModeTotals};
use crate::checkpoint::{SavedPlaces, SavedTally};
use crate::factor::PersonTrips;
use crate::mode::Mode;
use crate::spatial::{CellHasher, CellMap};
use crate::zone::ZoneId;

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

/// A window's person trips per cell and per zone set its events lie in (usually one per
/// cell), summed over partitions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellWindow {
    pub cells: CellMap<Vec<(Box<[ZoneId]>, ModeTotals)>>,
}

/// An origin → destination zone pair (`None`: outside every zone).
pub type ZonePair = (Option<ZoneId>, Option<ZoneId>);

/// One partition's person trips per cell and per zone pair, per bucket.
#[derive(Debug, Clone, Default)]
pub struct PlaceBuckets {
    cells: Buckets<CellBucket>,
    pairs: Buckets<BTreeMap<(ZonePair, Mode), ModeTally>>,
    zone_sets: Vec<Box<[ZoneId]>>,
    zone_set_ids: HashMap<Box<[ZoneId]>, u32>,
    last_zone_set: Option<u32>,
}

/// Values by bucket start, in order. Events arrive mostly in time order, so the bucket asked
/// for is nearly always the newest (found without a search) and pruning pops from the front:
/// no tree to rebalance or split on the live path.
#[derive(Debug, Clone)]
struct Buckets<T>(VecDeque<(i64, T)>);

impl<T> Default for Buckets<T> {
    fn default() -> Self {
        Buckets(VecDeque::new())
    }
}

impl<T: Default> Buckets<T> {
    fn entry(&mut self, bucket: i64) -> &mut T {
        let at = match self.0.back() {
            Some((last, _)) if *last == bucket => self.0.len() - 1,
            Some((last, _)) if *last < bucket => {
                self.0.push_back((bucket, T::default()));
                self.0.len() - 1
            }
            None => {
                self.0.push_back((bucket, T::default()));
                0
            }
            Some(_) => match self.0.binary_search_by_key(&bucket, |(b, _)| *b) {
                Ok(at) => at,
                Err(at) => {
                    self.0.insert(at, (bucket, T::default()));
                    at
                }
            },
        };
        &mut self.0[at].1
    }
}

impl<T> Buckets<T> {
    fn prune(&mut self, floor: i64) {
        while self.0.front().is_some_and(|(b, _)| *b < floor) {
            self.0.pop_front();
        }
    }

    fn range(&self, start: i64, end: i64) -> impl Iterator<Item = &(i64, T)> {
        let from = self.0.partition_point(|(b, _)| *b < start);
        let to = self.0.partition_point(|(b, _)| *b < end);
        self.0.range(from..to.max(from))
    }

    fn iter(&self) -> impl Iterator<Item = &(i64, T)> {
        self.0.iter()
    }
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
        add(
            self.cells.entry(piece.bucket).entry(key).or_default(),
            piece,
        );
        if let Some(destinations) = piece.destination_zones {
            let pairs = self.pairs.entry(piece.bucket);
            for origin in or_outside(piece.zones) {
                for destination in or_outside(destinations) {
                    add(
                        pairs
                            .entry(((origin, destination), piece.mode))
                            .or_default(),
                        piece,
                    );
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
        self.cells.prune(floor);
        self.pairs.prune(floor);
    }

    /// Adds the cells of buckets in `start..end` to `out`.
    pub fn cells_into(&self, start: i64, end: i64, out: &mut CellWindow) {
        for bucket in self.cells.range(start, end).map(|(_, b)| b) {
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
        for bucket in self.pairs.range(start, end).map(|(_, b)| b) {
            for ((pair, mode), tally) in bucket {
                out.entry(*pair).or_default().add_tally(*mode, tally);
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
                    let cells = cells
                        .iter()
                        .map(|(k, t)| (u64::from(k.cell), k.zone_set, SavedTally::new(k.mode, t)))
                        .collect();
                    (*bucket, cells)
                })
                .collect(),
            pairs: self
                .pairs
                .iter()
                .map(|(bucket, pairs)| {
                    let pairs = pairs
                        .iter()
                        .map(|(((o, d), mode), t)| {
                            (zone_of(*o), zone_of(*d), SavedTally::new(*mode, t))
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
            let mut restored = BTreeMap::new();
            for (origin, destination, tally) in pairs {
                let pair = (
                    origin.map(zone).transpose()?,
                    destination.map(zone).transpose()?,
                );
                let (mode, tally) = tally.restore()?;
                restored.insert((pair, mode), tally);
            }
            *places.pairs.entry(bucket) = restored;
        }
        Ok(places)
    }
}

#[cfg(test)]
mod tests;
