//! A zone's person trips broken down by what kind of trip they were: by trip distance band
//! ([`DistanceBands`]) and, for the transit-access modes, by how the trip relates to public
//! transport stops ([`crate::space::TransitAccess`]).
//!
//! Every accepted observation in a zone is in exactly one distance band (`unknown` for counts),
//! so a zone's band tallies add up to its mode tallies; each judged trip is in exactly one access
//! class. Tallies are sparse — per (zone, class, mode) present — because a bucket sees a few
//! modes in a few bands.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::tally::{ModeTally, ModeTotals, SavedTally};
use crate::space::{Access, Band, CellHasher, DistanceBands, TripClasses, ZoneId};
use crate::vocabulary::{Mode, PersonTrips};

/// A class a tally is kept under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    Band(Band),
    Access(Access),
}

const ACCESS_BIT: u8 = 0x80;
const UNKNOWN_BAND: u8 = 0x7f;

impl Class {
    fn code(self) -> u8 {
        match self {
            Class::Band(Band::UNKNOWN) => UNKNOWN_BAND,
            Class::Band(b) => b.0,
            Class::Access(a) => ACCESS_BIT | a.index() as u8,
        }
    }

    fn from_code(code: u8) -> Option<Class> {
        if code & ACCESS_BIT != 0 {
            Access::ALL
                .get(usize::from(code & !ACCESS_BIT))
                .map(|a| Class::Access(*a))
        } else if code == UNKNOWN_BAND {
            Some(Class::Band(Band::UNKNOWN))
        } else {
            Some(Class::Band(Band(code)))
        }
    }
}

/// (zone, class code, mode) packed into one word.
fn key(zone: ZoneId, class: Class, mode: Mode) -> u64 {
    u64::from(zone.0) << 16 | u64::from(class.code()) << 8 | mode.index() as u64
}

fn unpack(key: u64) -> Option<(ZoneId, Class, Mode)> {
    let zone = ZoneId((key >> 16) as u32);
    let class = Class::from_code((key >> 8) as u8)?;
    let mode = *Mode::ALL.get((key & 0xff) as usize)?;
    Some((zone, class, mode))
}

/// Person trips per (zone, class, mode).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Breakdown(HashMap<u64, ModeTally, BuildHasherDefault<CellHasher>>);

impl Breakdown {
    /// Adds an observation's share `amount` in `zones` under its classes; `holds_event` counts
    /// the event itself (a count spread over buckets counts once).
    pub fn observe(
        &mut self,
        zones: &[ZoneId],
        classes: TripClasses,
        mode: Mode,
        amount: PersonTrips,
        holds_event: bool,
    ) {
        let mut add = |class: Class, zone: ZoneId| {
            let t = self.0.entry(key(zone, class, mode)).or_default();
            t.events += u64::from(holds_event);
            t.person_trips += amount;
        };
        for zone in zones {
            add(Class::Band(classes.band), *zone);
            if let Some(facts) = classes.access {
                add(Class::Access(facts.access), *zone);
            }
        }
    }

    /// Empties it, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Takes back an event [`Breakdown::observe`] counted (with `holds_event`); a tally left
    /// with neither events nor person trips is removed, as if the event had never come.
    pub fn retract(
        &mut self,
        zones: &[ZoneId],
        classes: TripClasses,
        mode: Mode,
        amount: PersonTrips,
    ) {
        let mut take = |class: Class, zone: ZoneId| {
            let k = key(zone, class, mode);
            if let Some(t) = self.0.get_mut(&k) {
                t.events = t.events.saturating_sub(1);
                t.person_trips = t.person_trips.less(amount);
                if t.events == 0 && t.person_trips.is_zero() {
                    self.0.remove(&k);
                }
            }
        };
        for zone in zones {
            take(Class::Band(classes.band), *zone);
            if let Some(facts) = classes.access {
                take(Class::Access(facts.access), *zone);
            }
        }
    }

    /// Adds every tally of `other`.
    pub fn merge(&mut self, other: &Breakdown) {
        for (k, t) in &other.0 {
            let mine = self.0.entry(*k).or_default();
            mine.events += t.events;
            mine.person_trips += t.person_trips;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tallies per zone, dense: `zone_count` entries.
    pub fn by_zone(&self, zone_count: usize, bands: &DistanceBands) -> Vec<ZoneBreakdown> {
        let mut out = vec![ZoneBreakdown::new(bands); zone_count];
        for (k, t) in &self.0 {
            let Some((zone, class, mode)) = unpack(*k) else {
                continue;
            };
            let Some(z) = out.get_mut(zone.0 as usize) else {
                continue;
            };
            match class {
                Class::Band(b) => z.bands[bands.slot(b)].add_tally(mode, t),
                Class::Access(a) => z.access[a.index()].add_tally(mode, t),
            }
        }
        out
    }

    pub(crate) fn save(&self) -> Vec<SavedClassTally> {
        let mut saved: Vec<_> = self
            .0
            .iter()
            .filter_map(|(k, t)| {
                let (zone, class, mode) = unpack(*k)?;
                Some((zone.0, class.code(), SavedTally::new(mode, t)))
            })
            .collect();
        // Deterministic bytes for equal state.
        saved.sort_unstable_by_key(|(zone, class, t)| (*zone, *class, t.mode_index()));
        saved
    }

    pub(crate) fn restore(
        saved: Vec<SavedClassTally>,
        zone_count: usize,
    ) -> Result<Breakdown, String> {
        let mut out = Breakdown::default();
        for (zone, class, tally) in saved {
            if zone as usize >= zone_count {
                return Err(format!("zone {zone} of {zone_count}"));
            }
            let class = Class::from_code(class).ok_or_else(|| format!("class {class}"))?;
            let (mode, tally) = tally.restore()?;
            out.0.insert(key(ZoneId(zone), class, mode), tally);
        }
        Ok(out)
    }
}

/// (zone, class code, tally) as a checkpoint stores it.
pub(crate) type SavedClassTally = (u32, u8, SavedTally);

/// One zone's person trips per distance band (`unknown` last) and per access class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneBreakdown {
    pub bands: Vec<ModeTotals>,
    pub access: [ModeTotals; Access::COUNT],
}

impl ZoneBreakdown {
    pub fn new(bands: &DistanceBands) -> ZoneBreakdown {
        ZoneBreakdown {
            bands: vec![ModeTotals::default(); bands.len() + 1],
            access: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests;
