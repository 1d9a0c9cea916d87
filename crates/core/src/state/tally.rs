//! Tallies: events and person trips per mode, the unit every total, window and place is kept
//! in, and their stored form in checkpoints (plain integers, modes by their index in
//! [`Mode::ALL`]), so internal types can change without changing the checkpoint format.

use serde::{Deserialize, Serialize};

use crate::vocabulary::{Mode, PersonTrips};

/// Events and person trips of one mode somewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModeTally {
    pub events: u64,
    pub person_trips: PersonTrips,
}

/// Tallies for every mode in one place (a zone or a cell).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModeTotals([ModeTally; Mode::COUNT]);

impl ModeTotals {
    pub fn add(&mut self, mode: Mode, person_trips: PersonTrips) {
        let t = &mut self.0[mode.index()];
        t.events += 1;
        t.person_trips += person_trips;
    }

    /// Takes back one event of `mode` and its person trips, exactly as [`ModeTotals::add`]
    /// added them.
    pub fn remove(&mut self, mode: Mode, person_trips: PersonTrips) {
        let t = &mut self.0[mode.index()];
        t.events = t.events.saturating_sub(1);
        t.person_trips = t.person_trips.less(person_trips);
    }

    /// Adds person trips without counting an event (a count's share of a later bucket).
    pub fn add_person_trips(&mut self, mode: Mode, person_trips: PersonTrips) {
        self.0[mode.index()].person_trips += person_trips;
    }

    /// Adds one mode's tally.
    pub fn add_tally(&mut self, mode: Mode, tally: &ModeTally) {
        let t = &mut self.0[mode.index()];
        t.events += tally.events;
        t.person_trips += tally.person_trips;
    }

    /// Adds every tally of `other`.
    pub fn merge(&mut self, other: &ModeTotals) {
        for (t, o) in self.0.iter_mut().zip(other.0.iter()) {
            t.events += o.events;
            t.person_trips += o.person_trips;
        }
    }

    /// Adds every zone's totals of `other` to `per_zone` (index = zone id), growing it to as
    /// many zones.
    pub(crate) fn merge_per_zone(per_zone: &mut Vec<ModeTotals>, other: &[ModeTotals]) {
        if per_zone.len() < other.len() {
            per_zone.resize(other.len(), ModeTotals::default());
        }
        for (mine, theirs) in per_zone.iter_mut().zip(other) {
            mine.merge(theirs);
        }
    }

    pub fn get(&self, mode: Mode) -> ModeTally {
        self.0[mode.index()]
    }

    /// Every mode's tally, in [`Mode::ALL`] order.
    pub fn tallies(&self) -> &[ModeTally; Mode::COUNT] {
        &self.0
    }

    pub fn from_tallies(tallies: [ModeTally; Mode::COUNT]) -> ModeTotals {
        ModeTotals(tallies)
    }

    /// Events over all modes.
    pub fn events(&self) -> u64 {
        self.0.iter().map(|t| t.events).sum()
    }

    /// Person trips over all modes.
    pub fn total(&self) -> PersonTrips {
        self.0
            .iter()
            .fold(PersonTrips::ZERO, |sum, t| sum + t.person_trips)
    }

    /// Modes with at least one event or some person trips, with their tallies: a count spread
    /// over buckets carries person trips without its event into the later ones, and a counter's
    /// reading of 0 is an event without person trips.
    pub fn observed(&self) -> impl Iterator<Item = (Mode, ModeTally)> + '_ {
        Mode::ALL
            .into_iter()
            .map(|m| (m, self.get(m)))
            .filter(|(_, t)| t.events > 0 || !t.person_trips.is_zero())
    }
}

/// Events and person trips (10⁻⁶ units) per mode, in [`Mode::ALL`] order.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedModeTotals(Vec<(u64, u64)>);

impl From<&ModeTotals> for SavedModeTotals {
    fn from(t: &ModeTotals) -> Self {
        SavedModeTotals(
            t.tallies()
                .iter()
                .map(|t| (t.events, t.person_trips.micros()))
                .collect(),
        )
    }
}

impl TryFrom<SavedModeTotals> for ModeTotals {
    type Error = String;

    fn try_from(saved: SavedModeTotals) -> Result<Self, String> {
        let tallies: Vec<ModeTally> = saved
            .0
            .into_iter()
            .map(|(events, micros)| ModeTally {
                events,
                person_trips: PersonTrips::from_micros(micros),
            })
            .collect();
        let tallies: [ModeTally; Mode::COUNT] =
            tallies.try_into().map_err(|t: Vec<ModeTally>| {
                format!("{} mode tallies, expected {}", t.len(), Mode::COUNT)
            })?;
        Ok(ModeTotals::from_tallies(tallies))
    }
}

/// One mode's events and person trips (10⁻⁶ units), the mode by its [`Mode::ALL`] index.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub(crate) struct SavedTally(u8, u64, u64);

impl SavedTally {
    pub(crate) fn new(mode: Mode, t: &ModeTally) -> SavedTally {
        SavedTally(mode.index() as u8, t.events, t.person_trips.micros())
    }

    pub(crate) fn mode_index(&self) -> u8 {
        self.0
    }

    pub(crate) fn restore(self) -> Result<(Mode, ModeTally), String> {
        let mode = Mode::ALL
            .get(usize::from(self.0))
            .copied()
            .ok_or_else(|| format!("mode {} of {}", self.0, Mode::COUNT))?;
        let tally = ModeTally {
            events: self.1,
            person_trips: PersonTrips::from_micros(self.2),
        };
        Ok((mode, tally))
    }
}
