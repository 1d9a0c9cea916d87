//! Totals: event outcomes per source and reason, person trips per zone × mode and cell × mode.

use std::collections::BTreeMap;

use h3o::CellIndex;

use crate::decode::{Reason, SkipReason};
use crate::space::{CellMap, TripClasses, ZoneId};
use crate::vocabulary::{EventTimeMs, Observation};
use serde::{Deserialize, Serialize};

use super::breakdown::Breakdown;
use super::tally::{ModeTotals, SavedModeTotals};

/// The outcome counts (docs/design.md#outcomes-rejections-duplicates):
/// `read = accepted + rejected + duplicates`, `late ⊆ accepted`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub late: u64,
}

/// Outcomes of one source, with its rejections by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceCounts {
    pub events: EventCounts,
    pub rejections: BTreeMap<Reason, u64>,
    /// Rows read that are not events (trafikkdata per-lane rows), by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Accepted counts whose counter measured only part of their interval (coverage < 1).
    pub partial_coverage: u64,
    /// Processing time of the source's latest event (live only: the clock comes from the
    /// caller), for feed freshness.
    pub last_seen: Option<EventTimeMs>,
}

/// Distinct `source` values tracked by name; later ones are folded into [`OTHER_SOURCE`] so a
/// producer that puts ids in `source` cannot grow state or metric labels without bound.
pub const MAX_SOURCES: usize = 64;
pub const OTHER_SOURCE: &str = "other";

/// What one input partition has observed.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub events: EventCounts,
    pub rejections: BTreeMap<Reason, u64>,
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Per source, in order of first appearance (a city has a handful of sources, so a short
    /// vector scanned linearly beats a map; at most [`MAX_SOURCES`] + 1 entries).
    pub by_source: Vec<(String, SourceCounts)>,
    pub by_zone: Vec<ModeTotals>,
    pub by_cell: CellMap<ModeTotals>,
    /// Per zone, distance band, access class and mode.
    pub breakdown: Breakdown,
}

impl Totals {
    pub fn new(zone_count: usize) -> Totals {
        Totals {
            by_zone: vec![ModeTotals::default(); zone_count],
            ..Totals::default()
        }
    }

    /// Counts an accepted observation with its classes; `late` when it arrived behind the
    /// watermark. `seen_at` is the processing time on the live path (feed freshness), `None` in
    /// replays.
    pub fn observe_accepted(
        &mut self,
        obs: &Observation<'_>,
        (cell, zones): (CellIndex, &[ZoneId]),
        classes: TripClasses,
        late: bool,
        seen_at: Option<EventTimeMs>,
    ) {
        self.events.accepted += 1;
        self.events.late += u64::from(late);
        let source = self.read_from(&obs.source, seen_at);
        source.events.accepted += 1;
        source.events.late += u64::from(late);
        source.partial_coverage += u64::from(obs.coverage.is_some_and(|c| c < 1.0));
        for zone in zones {
            self.by_zone[zone.0 as usize].add(obs.mode, obs.person_trips);
        }
        self.by_cell
            .entry(cell)
            .or_default()
            .add(obs.mode, obs.person_trips);
        self.breakdown
            .observe(zones, classes, obs.mode, obs.person_trips, true);
    }

    /// Turns an event [`Totals::observe_accepted`] counted (on time, in a replay) into a
    /// duplicate: the state is then exactly as if the event had been a duplicate when it came
    /// (a cell left without events is removed). A replay read in parts on several threads
    /// retracts an event that a part counted when an earlier part had seen its id first.
    pub fn retract_accepted(
        &mut self,
        obs: &Observation<'_>,
        (cell, zones): (CellIndex, &[ZoneId]),
        classes: TripClasses,
    ) {
        self.events.accepted = self.events.accepted.saturating_sub(1);
        self.events.duplicates += 1;
        let source = self.source(&obs.source);
        source.events.accepted = source.events.accepted.saturating_sub(1);
        source.events.duplicates += 1;
        source.partial_coverage = source
            .partial_coverage
            .saturating_sub(u64::from(obs.coverage.is_some_and(|c| c < 1.0)));
        for zone in zones {
            self.by_zone[zone.0 as usize].remove(obs.mode, obs.person_trips);
        }
        if let Some(totals) = self.by_cell.get_mut(&cell) {
            totals.remove(obs.mode, obs.person_trips);
            if totals.events() == 0 {
                self.by_cell.remove(&cell);
            }
        }
        self.breakdown
            .retract(zones, classes, obs.mode, obs.person_trips);
    }

    pub fn observe_duplicate(&mut self, source: &str, seen_at: Option<EventTimeMs>) {
        self.events.duplicates += 1;
        self.read_from(source, seen_at).events.duplicates += 1;
    }

    /// Counts a rejected event under its `source` when that source is tracked already (it had
    /// an event accepted or counted as a duplicate), else under `input`, the topic or file it
    /// came from: a rejected event never takes one of the [`MAX_SOURCES`] slots, so events
    /// that are rejected anyway cannot crowd out the real sources.
    pub fn observe_rejected(
        &mut self,
        source: Option<&str>,
        input: &str,
        reason: Reason,
        seen_at: Option<EventTimeMs>,
    ) {
        self.events.rejected += 1;
        *self.rejections.entry(reason).or_default() += 1;
        let source = match source {
            Some(name) if self.by_source.iter().any(|(n, _)| n == name) => name,
            _ => input,
        };
        let s = self.read_from(source, seen_at);
        s.events.rejected += 1;
        *s.rejections.entry(reason).or_default() += 1;
    }

    /// Counts a row that is not an event: it is not `read` (`read = accepted + rejected +
    /// duplicates` holds), but it is visible per source and reason.
    pub fn observe_skipped(&mut self, source: &str, reason: SkipReason) {
        *self.skipped.entry(reason).or_default() += 1;
        *self.source(source).skipped.entry(reason).or_default() += 1;
    }

    /// Counts one event read from `source` (one lookup per event, freshness included).
    fn read_from(&mut self, source: &str, seen_at: Option<EventTimeMs>) -> &mut SourceCounts {
        self.events.read += 1;
        let s = self.source(source);
        s.events.read += 1;
        if seen_at.is_some() {
            s.last_seen = s.last_seen.max(seen_at);
        }
        s
    }

    /// Adds everything another partition observed (instances publish the sum of their
    /// partitions).
    pub fn merge(&mut self, other: &Totals) {
        let e = &mut self.events;
        e.read += other.events.read;
        e.accepted += other.events.accepted;
        e.rejected += other.events.rejected;
        e.duplicates += other.events.duplicates;
        e.late += other.events.late;
        for (reason, n) in &other.rejections {
            *self.rejections.entry(*reason).or_default() += n;
        }
        for (reason, n) in &other.skipped {
            *self.skipped.entry(*reason).or_default() += n;
        }
        for (name, counts) in &other.by_source {
            let mine = self.source(name);
            mine.events.read += counts.events.read;
            mine.events.accepted += counts.events.accepted;
            mine.events.rejected += counts.events.rejected;
            mine.events.duplicates += counts.events.duplicates;
            mine.events.late += counts.events.late;
            for (reason, n) in &counts.rejections {
                *mine.rejections.entry(*reason).or_default() += n;
            }
            for (reason, n) in &counts.skipped {
                *mine.skipped.entry(*reason).or_default() += n;
            }
            mine.partial_coverage += counts.partial_coverage;
            mine.last_seen = mine.last_seen.max(counts.last_seen);
        }
        ModeTotals::merge_per_zone(&mut self.by_zone, &other.by_zone);
        for (cell, theirs) in &other.by_cell {
            self.by_cell.entry(*cell).or_default().merge(theirs);
        }
        self.breakdown.merge(&other.breakdown);
    }

    fn source(&mut self, name: &str) -> &mut SourceCounts {
        let position = match self.by_source.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None if self.by_source.len() < MAX_SOURCES => {
                self.by_source
                    .push((name.to_owned(), SourceCounts::default()));
                self.by_source.len() - 1
            }
            None => match self.by_source.iter().position(|(n, _)| n == OTHER_SOURCE) {
                Some(i) => i,
                None => {
                    self.by_source
                        .push((OTHER_SOURCE.to_owned(), SourceCounts::default()));
                    self.by_source.len() - 1
                }
            },
        };
        &mut self.by_source[position].1
    }
}

/// `read, accepted, rejected, duplicates, late`.
type SavedCounts = [u64; 5];

#[derive(Serialize, Deserialize)]
struct SavedSource {
    name: String,
    events: SavedCounts,
    rejections: Vec<(String, u64)>,
    skipped: Vec<(String, u64)>,
    partial_coverage: u64,
    last_seen: Option<i64>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SavedTotals {
    events: SavedCounts,
    rejections: Vec<(String, u64)>,
    skipped: Vec<(String, u64)>,
    by_source: Vec<SavedSource>,
    by_zone: Vec<SavedModeTotals>,
    by_cell: Vec<(u64, SavedModeTotals)>,
}

fn counts(e: &EventCounts) -> SavedCounts {
    [e.read, e.accepted, e.rejected, e.duplicates, e.late]
}

fn event_counts(c: SavedCounts) -> EventCounts {
    let [read, accepted, rejected, duplicates, late] = c;
    EventCounts {
        read,
        accepted,
        rejected,
        duplicates,
        late,
    }
}

fn reasons<R: Copy>(
    map: &std::collections::BTreeMap<R, u64>,
    name: fn(R) -> &'static str,
) -> Vec<(String, u64)> {
    map.iter().map(|(r, n)| (name(*r).to_owned(), *n)).collect()
}

fn reason_map<R: Ord + Copy>(
    saved: Vec<(String, u64)>,
    all: &[R],
    name: fn(R) -> &'static str,
) -> Result<std::collections::BTreeMap<R, u64>, String> {
    saved
        .into_iter()
        .map(|(text, n)| {
            all.iter()
                .find(|r| name(**r) == text)
                .map(|r| (*r, n))
                .ok_or_else(|| format!("unknown reason {text:?}"))
        })
        .collect()
}

impl SavedTotals {
    pub(crate) fn save(t: &Totals) -> SavedTotals {
        SavedTotals {
            events: counts(&t.events),
            rejections: reasons(&t.rejections, Reason::as_str),
            skipped: reasons(&t.skipped, SkipReason::as_str),
            by_source: t
                .by_source
                .iter()
                .map(|(name, s)| SavedSource {
                    name: name.clone(),
                    events: counts(&s.events),
                    rejections: reasons(&s.rejections, Reason::as_str),
                    skipped: reasons(&s.skipped, SkipReason::as_str),
                    partial_coverage: s.partial_coverage,
                    last_seen: s.last_seen.map(|t| t.0),
                })
                .collect(),
            by_zone: t.by_zone.iter().map(SavedModeTotals::from).collect(),
            by_cell: t
                .by_cell
                .iter()
                .map(|(cell, m)| (u64::from(*cell), SavedModeTotals::from(m)))
                .collect(),
        }
    }

    pub(crate) fn restore(self, zone_count: usize) -> Result<Totals, String> {
        if self.by_zone.len() != zone_count {
            return Err(format!(
                "totals for {} zones, the configuration has {zone_count}",
                self.by_zone.len()
            ));
        }
        let mut by_source = Vec::with_capacity(self.by_source.len());
        for s in self.by_source {
            by_source.push((
                s.name,
                SourceCounts {
                    events: event_counts(s.events),
                    rejections: reason_map(s.rejections, &Reason::ALL, Reason::as_str)?,
                    skipped: reason_map(s.skipped, &SkipReason::ALL, SkipReason::as_str)?,
                    partial_coverage: s.partial_coverage,
                    last_seen: s.last_seen.map(EventTimeMs),
                },
            ));
        }
        let mut by_cell = CellMap::default();
        for (cell, m) in self.by_cell {
            let cell = h3o::CellIndex::try_from(cell).map_err(|e| format!("a stored cell: {e}"))?;
            by_cell.insert(cell, ModeTotals::try_from(m)?);
        }
        Ok(Totals {
            events: event_counts(self.events),
            rejections: reason_map(self.rejections, &Reason::ALL, Reason::as_str)?,
            skipped: reason_map(self.skipped, &SkipReason::ALL, SkipReason::as_str)?,
            by_source,
            by_zone: self
                .by_zone
                .into_iter()
                .map(ModeTotals::try_from)
                .collect::<Result<_, _>>()?,
            by_cell,
            breakdown: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests;
