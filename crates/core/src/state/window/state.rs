//! One partition's event-time state: buckets and local days per zone, the places and
//! breakdowns in the same buckets, the watermark, and its stored form.

use std::ops::Range;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::settings::WindowSettings;
use super::summed_buckets::{FourHours, Months, SummedBuckets};
use crate::space::{Placement, TripClasses, ZoneId};
use crate::state::breakdown::{Breakdown, SavedClassTally};
use crate::state::places::{Piece, PlaceBuckets, SavedPlaces, SavedStopTally};
use crate::state::tally::{ModeTotals, SavedModeTotals};
use crate::vocabulary::{EventTimeMs, Kind, Observation, PersonTrips};

/// One partition's event-time state.
#[derive(Debug, Clone)]
pub struct WindowState {
    zone_count: usize,
    /// Bucket start → person trips per zone (index = zone id), with the sums of 4 hours of
    /// buckets, which the rolling windows add up.
    pub(super) buckets: SummedBuckets<Vec<ModeTotals>, i64, FourHours>,
    /// Local date → person trips per zone, with the sums of calendar months.
    pub(super) days: SummedBuckets<Vec<ModeTotals>, Date, Months>,
    max_event_time: Option<EventTimeMs>,
    /// Days before this are no longer kept: January 1 of the watermark's previous year, or
    /// [`HISTORY_DAYS`] before the watermark's date if that is earlier.
    days_from: Option<Date>,
    /// The local day of the last bucket looked up, with the instants it spans: most events
    /// land on the day of the one before.
    last_day: Option<(Range<i64>, Date)>,
    /// The instants of the watermark's local day when days were last pruned.
    watermark_day: Option<Range<i64>>,
    /// The same buckets per cell and per origin → destination zone pair.
    pub(super) places: PlaceBuckets,
    /// The same buckets and days per zone, distance band, access class and mode.
    pub(super) bucket_breakdowns: SummedBuckets<Breakdown, i64, FourHours>,
    pub(super) day_breakdowns: SummedBuckets<Breakdown, Date, Months>,
    /// The newest pruned bucket's zone totals and breakdown, emptied: the next new bucket takes
    /// them instead of allocating and growing its own (a bucket is new every few events of a
    /// quiet hour).
    spare_totals: Option<Vec<ModeTotals>>,
    spare_breakdown: Option<Breakdown>,
}

impl WindowState {
    pub fn new(zone_count: usize) -> WindowState {
        WindowState {
            zone_count,
            buckets: SummedBuckets::default(),
            days: SummedBuckets::default(),
            max_event_time: None,
            days_from: None,
            last_day: None,
            watermark_day: None,
            places: PlaceBuckets::default(),
            bucket_breakdowns: SummedBuckets::default(),
            day_breakdowns: SummedBuckets::default(),
            spare_totals: None,
            spare_breakdown: None,
        }
    }

    /// The state as a checkpoint stores it.
    pub(crate) fn save(&self) -> SavedWindows {
        let zones = |t: &Vec<ModeTotals>| t.iter().map(SavedModeTotals::from).collect();
        SavedWindows {
            zones: SavedZoneWindows {
                zone_count: self.zone_count as u64,
                buckets: self.buckets.iter().map(|(b, t)| (*b, zones(t))).collect(),
                days: self
                    .days
                    .iter()
                    .map(|(d, t)| (SavedDate::from(*d), zones(t)))
                    .collect(),
                max_event_time: self.max_event_time.map(|t| t.0),
                days_from: self.days_from.map(SavedDate::from),
            },
            places: self.places.save(),
        }
    }

    /// The breakdowns as a checkpoint stores them (beside [`WindowState::save`]).
    pub(crate) fn save_breakdowns(&self) -> SavedWindowBreakdowns {
        SavedWindowBreakdowns {
            buckets: self
                .bucket_breakdowns
                .iter()
                .map(|(b, t)| (*b, t.save()))
                .collect(),
            days: self
                .day_breakdowns
                .iter()
                .map(|(d, t)| (SavedDate::from(*d), t.save()))
                .collect(),
            stops: self.places.save_stops(),
        }
    }

    /// Adds the breakdowns a checkpoint stored.
    pub(crate) fn restore_breakdowns(
        &mut self,
        saved: SavedWindowBreakdowns,
        stop_count: usize,
    ) -> Result<(), String> {
        for (bucket, t) in saved.buckets {
            *self.bucket_breakdowns.entry(bucket) = Breakdown::restore(t, self.zone_count)?;
        }
        for (day, t) in saved.days {
            *self.day_breakdowns.entry(Date::try_from(day)?) =
                Breakdown::restore(t, self.zone_count)?;
        }
        self.places.restore_stops(saved.stops, stop_count)
    }

    /// The state a checkpoint stored, for `zone_count` zones.
    pub(crate) fn restore(saved: SavedWindows, zone_count: usize) -> Result<WindowState, String> {
        let SavedWindows {
            zones: saved,
            places,
        } = saved;
        if saved.zone_count != zone_count as u64 {
            return Err(format!(
                "windows for {} zones, the configuration has {zone_count}",
                saved.zone_count
            ));
        }
        let zones = |t: Vec<SavedModeTotals>| -> Result<Vec<ModeTotals>, String> {
            if t.len() != zone_count {
                return Err(format!("{} zone tallies, expected {zone_count}", t.len()));
            }
            t.into_iter().map(ModeTotals::try_from).collect()
        };
        let mut state = WindowState::new(zone_count);
        for (bucket, t) in saved.buckets {
            *state.buckets.entry(bucket) = zones(t)?;
        }
        for (day, t) in saved.days {
            *state.days.entry(Date::try_from(day)?) = zones(t)?;
        }
        state.max_event_time = saved.max_event_time.map(EventTimeMs);
        state.days_from = saved.days_from.map(Date::try_from).transpose()?;
        state.places = PlaceBuckets::restore(places, zone_count)?;
        Ok(state)
    }

    /// The newest event time seen.
    pub fn max_event_time(&self) -> Option<EventTimeMs> {
        self.max_event_time
    }

    /// Newest event time − allowed lateness; `None` before the first event.
    pub fn watermark(&self, settings: &WindowSettings) -> Option<EventTimeMs> {
        self.max_event_time
            .map(|m| m.saturating_sub(settings.allowed_lateness))
    }

    /// Adds an accepted observation placed at `placement` (a trip's origin, a count's
    /// location), whose destination (a trip's, when known) lies in `destination_zones`, with
    /// its distance band and access class; returns whether it was late.
    pub fn observe(
        &mut self,
        settings: &WindowSettings,
        obs: &Observation<'_>,
        placement: &Placement<'_>,
        destination_zones: Option<&[ZoneId]>,
        classes: TripClasses,
    ) -> bool {
        let zones = placement.zones;
        let start = obs.start_time;
        let late = self
            .max_event_time
            .is_some_and(|m| start < m.saturating_sub(settings.lateness_of(&obs.source)));
        let newest = self.max_event_time.is_none_or(|m| start > m);
        if newest {
            self.max_event_time = Some(start);
        }
        let floor = self.retained_from(settings);
        if newest {
            self.prune(settings, floor);
            self.settle(settings, start);
        }
        for (bucket, amount, first) in pieces(settings, obs) {
            if bucket < floor.0 {
                continue;
            }
            // Events outside every zone still have a cell (and may end in a zone).
            self.places.observe(&Piece {
                bucket,
                mode: obs.mode,
                amount,
                holds_event: first,
                cell: placement.cell,
                zones,
                destination_zones,
                access: classes.access,
            });
            if zones.is_empty() {
                continue;
            }
            let date = self.date_of(settings, bucket);
            let zone_count = self.zone_count;
            let in_bucket = self
                .buckets
                .entry_or_take(bucket, &mut self.spare_totals, || {
                    vec![ModeTotals::default(); zone_count]
                });
            add_to(in_bucket, zones, obs, amount, first);
            self.bucket_breakdowns
                .entry_or_take(bucket, &mut self.spare_breakdown, Breakdown::default)
                .observe(zones, classes, obs.mode, amount, first);
            if let Some(date) = date
                && self.days_from.is_none_or(|from| date >= from)
            {
                let in_day = self
                    .days
                    .entry_or_insert_with(date, || vec![ModeTotals::default(); zone_count]);
                add_to(in_day, zones, obs, amount, first);
                self.day_breakdowns
                    .entry(date)
                    .observe(zones, classes, obs.mode, amount, first);
            }
        }
        late
    }

    /// After a restore (a checkpoint, or another instance's part of a shared view, which sees
    /// no event of its own): the blocks before the newest event's are summed, so windows over
    /// the restored state add block sums from the first publish on.
    pub(crate) fn settle_restored(&mut self, settings: &WindowSettings) {
        if let Some(newest) = self.max_event_time {
            self.settle(settings, newest);
        }
    }

    /// The newest event is at `t`: the blocks of buckets and days before its own are summed
    /// where they changed.
    fn settle(&mut self, settings: &WindowSettings, t: EventTimeMs) {
        let bucket = settings.bucket_start(t).0;
        self.buckets.settle(bucket);
        self.bucket_breakdowns.settle(bucket);
        if let Some(date) = self.date_of(settings, bucket) {
            self.days.settle(date);
            self.day_breakdowns.settle(date);
        }
    }

    /// The oldest bucket start still kept.
    fn retained_from(&self, settings: &WindowSettings) -> EventTimeMs {
        match self.max_event_time {
            Some(m) => settings.bucket_start(m.saturating_sub(settings.retention())),
            None => EventTimeMs(i64::MIN),
        }
    }

    fn date_of(&mut self, settings: &WindowSettings, bucket: i64) -> Option<Date> {
        if let Some((span, d)) = &self.last_day
            && span.contains(&bucket)
        {
            return Some(*d);
        }
        let d = settings.local_date(EventTimeMs(bucket))?;
        self.last_day = settings.local_day_span(d).map(|span| (span, d));
        Some(d)
    }

    /// Drops buckets no window can reach, and days before both the previous calendar year and
    /// [`HISTORY_DAYS`] ago. `floor` is [`WindowState::retained_from`].
    fn prune(&mut self, settings: &WindowSettings, floor: EventTimeMs) {
        self.buckets
            .prune_into(floor.0, &mut self.spare_totals, |totals| {
                totals.fill(ModeTotals::default())
            });
        self.places.prune(floor.0);
        self.bucket_breakdowns
            .prune_into(floor.0, &mut self.spare_breakdown, Breakdown::clear);
        // The days kept change only when the watermark reaches another local day.
        let Some(watermark) = self.watermark(settings) else {
            return;
        };
        if self
            .watermark_day
            .as_ref()
            .is_some_and(|span| span.contains(&watermark.0))
        {
            return;
        }
        let Some(date) = settings.local_date(watermark) else {
            return;
        };
        self.watermark_day = settings.local_day_span(date);
        if let Some(keep_from) = history_from(date) {
            self.days_from = Some(keep_from);
            self.days.prune(keep_from);
            self.day_breakdowns.prune(keep_from);
        }
    }

    /// How many blocks of buckets and of days (zone totals, breakdowns) hold a current sum.
    #[cfg(test)]
    pub(crate) fn summed_blocks(&self) -> [usize; 4] {
        [
            self.buckets.summed_blocks(),
            self.bucket_breakdowns.summed_blocks(),
            self.days.summed_blocks(),
            self.day_breakdowns.summed_blocks(),
        ]
    }

    /// The number of zones it keeps totals for.
    pub fn zone_count(&self) -> usize {
        self.zone_count
    }

    /// Number of buckets held (for memory checks).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }
}

/// Calendar days of history kept at least, whatever the date: a trend over a year and a bit.
pub const HISTORY_DAYS: i32 = 400;

/// The first day kept when the watermark is on `date`: January 1 of the previous year (for
/// this year's and last year's calendar totals), or [`HISTORY_DAYS`] before if that is earlier.
pub fn history_from(date: Date) -> Option<Date> {
    let previous_year = Date::new(date.year() - 1, 1, 1).ok()?;
    let days_ago = date
        .checked_sub(jiff::Span::new().days(HISTORY_DAYS))
        .ok()?;
    Some(previous_year.min(days_ago))
}

fn add_to(
    totals: &mut [ModeTotals],
    zones: &[ZoneId],
    obs: &Observation<'_>,
    amount: PersonTrips,
    first: bool,
) {
    for zone in zones {
        let t = &mut totals[zone.0 as usize];
        if first {
            t.add(obs.mode, amount);
        } else {
            t.add_person_trips(obs.mode, amount);
        }
    }
}

/// The buckets an observation's person trips go to: `(bucket start, amount, holds the event)`.
/// A trip goes wholly to the bucket of its start. A count with an interval is spread in
/// proportion to the overlap of its interval with each bucket; intervals longer than the
/// longest window go wholly to the start bucket (no window could show the spread). Nothing is
/// allocated: this runs for every event of the live path.
pub fn pieces(
    settings: &WindowSettings,
    obs: &Observation<'_>,
) -> impl Iterator<Item = (i64, PersonTrips, bool)> + use<> {
    let size = settings.bucket.0;
    let first_bucket = settings.bucket_start(obs.start_time).0;
    let (start, end) = match (obs.kind, obs.end_time) {
        (Kind::Count, Some(end))
            if end.0 > obs.start_time.0
                && end.0 - obs.start_time.0 <= settings.longest_window().0 =>
        {
            (obs.start_time.0, end.0)
        }
        // Not spread: the start bucket, wholly.
        _ => (first_bucket, first_bucket.saturating_add(size)),
    };
    let overlaps = std::iter::successors(Some(first_bucket), move |b| b.checked_add(size))
        .take_while(move |b| *b < end)
        .map(move |b| (b, (b.saturating_add(size).min(end) - b.max(start)) as u64));
    let amounts = obs
        .person_trips
        .split(overlaps.clone().map(|(_, overlap)| overlap));
    overlaps
        .zip(amounts)
        .enumerate()
        .map(|(i, ((b, _), amount))| (b, amount, i == 0))
}

/// A calendar date as `(year, month, day)`.
#[derive(Serialize, Deserialize, Clone, Copy)]
pub(crate) struct SavedDate(i16, i8, i8);

impl From<jiff::civil::Date> for SavedDate {
    fn from(d: jiff::civil::Date) -> Self {
        SavedDate(d.year(), d.month(), d.day())
    }
}

impl TryFrom<SavedDate> for jiff::civil::Date {
    type Error = String;

    fn try_from(d: SavedDate) -> Result<Self, String> {
        jiff::civil::Date::new(d.0, d.1, d.2).map_err(|e| format!("a stored date: {e}"))
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SavedWindows {
    pub(crate) zones: SavedZoneWindows,
    pub(crate) places: SavedPlaces,
}

/// Per-zone buckets and days (all of format version 1's windows).
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedZoneWindows {
    pub(crate) zone_count: u64,
    pub(crate) buckets: Vec<(i64, Vec<SavedModeTotals>)>,
    pub(crate) days: Vec<(SavedDate, Vec<SavedModeTotals>)>,
    pub(crate) max_event_time: Option<i64>,
    pub(crate) days_from: Option<SavedDate>,
}

/// A live pipeline's breakdowns per bucket and day, and its judged trips per stop place.
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct SavedWindowBreakdowns {
    pub(crate) buckets: Vec<(i64, Vec<SavedClassTally>)>,
    pub(crate) days: Vec<(SavedDate, Vec<SavedClassTally>)>,
    pub(crate) stops: Vec<(i64, Vec<SavedStopTally>)>,
}
