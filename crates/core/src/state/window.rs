//! Event-time windows: buckets, the watermark, rolling windows and calendar totals.
//!
//! Each input partition keeps person trips per zone × mode in fixed event-time buckets
//! (default 15 min) and per local calendar day. Its watermark is its maximum event time minus the
//! allowed lateness; an event behind the watermark is *late* but still counted everywhere.
//! A rolling window of length L at watermark W covers the complete buckets in
//! `[⌊W⌋ − L, ⌊W⌋)`, where `⌊W⌋` is W rounded down to a bucket boundary. Buckets are kept only
//! as long as the longest window plus the lateness needs them, so memory is flat in event count.
//! A count's person trips are spread pro rata over the buckets (and days) its interval covers.
//! The same buckets also hold where the trips happened, per H3 cell and per zone pair
//! ([`super::places`]), for the hex map; calendar periods have no cells.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::breakdown::{Breakdown, SavedClassTally};
use super::buckets::Buckets;
use super::places::{
    CellWindow, Piece, PlaceBuckets, SavedPlaces, SavedStopTally, StopTotals, ZonePair,
};
use super::tally::{ModeTotals, SavedModeTotals};
use crate::space::{Placement, StopId, TripClasses, ZoneId};
use crate::vocabulary::{
    ConfigErrors, DurationMs, EventTimeMs, Kind, Observation, PersonTrips, is_label_safe,
};

/// `[windows]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsConfig {
    /// Size of the event-time buckets windows are made of; must divide a day and every UTC
    /// offset of `time_zone`, so that buckets never straddle local midnight.
    pub bucket: String,
    /// Rolling windows ending at the watermark; each is also its label (`window="24h"`).
    pub rolling: Vec<String>,
    /// IANA time zone of the calendar totals (day, month, year to date).
    pub time_zone: String,
    /// How far behind its partition's newest event an event may be and still be on time; the
    /// partition's watermark is its newest event time minus this.
    pub allowed_lateness: String,
    /// Per source, a longer (or shorter) lateness before its events count as late; counters
    /// that publish hourly exports need hours.
    pub lateness_by_source: BTreeMap<String, String>,
    /// A partition without events for this long (processing time) no longer holds back the
    /// combined watermark.
    pub idle_timeout: String,
}

/// A rolling window: its label as configured and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingWindow {
    pub label: String,
    pub length: DurationMs,
}

/// The validated `[windows]`.
#[derive(Debug, Clone)]
pub struct WindowSettings {
    pub bucket: DurationMs,
    pub rolling: Vec<RollingWindow>,
    pub time_zone: TimeZone,
    pub time_zone_name: String,
    pub allowed_lateness: DurationMs,
    pub lateness_by_source: BTreeMap<String, DurationMs>,
    pub idle_timeout: DurationMs,
}

impl WindowsConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> WindowSettings {
        let bucket = errors.duration("windows.bucket", &self.bucket, DurationMs::POSITIVE);
        let allowed_lateness = errors.duration(
            "windows.allowed_lateness",
            &self.allowed_lateness,
            DurationMs::POSITIVE,
        );
        let idle_timeout = errors.duration(
            "windows.idle_timeout",
            &self.idle_timeout,
            DurationMs::POSITIVE,
        );
        let mut rolling = Vec::new();
        for (i, label) in self.rolling.iter().enumerate() {
            // At least one bucket; shorter ones are reported here, not again as a fraction.
            let length = errors.duration(
                format!("windows.rolling[{i}]"),
                label,
                bucket..=DurationMs::MAX,
            );
            rolling.push(RollingWindow {
                label: label.clone(),
                length,
            });
        }
        let lateness_by_source = self
            .lateness_by_source
            .iter()
            .map(|(source, text)| {
                let d = errors.duration(
                    format!("windows.lateness_by_source.{source}"),
                    text,
                    DurationMs::POSITIVE,
                );
                (source.clone(), d)
            })
            .collect();
        for (i, w) in rolling.iter().enumerate() {
            if !is_label_safe(&w.label) {
                errors.push(
                    format!("windows.rolling[{i}]"),
                    "write windows like \"1h\", \"24h\", \"7d\" (they are labels)",
                );
            } else if w.length.0 % bucket.0 != 0 {
                errors.push(
                    format!("windows.rolling[{i}]"),
                    format!(
                        "{} is not a whole number of buckets ({})",
                        w.label, self.bucket
                    ),
                );
            }
        }
        if rolling.is_empty() {
            errors.push("windows.rolling", "needs at least one window");
        }
        let time_zone = match TimeZone::get(&self.time_zone) {
            Ok(tz) => tz,
            Err(e) => {
                errors.push(
                    "windows.time_zone",
                    format!("{:?} is not a known IANA time zone: {e}", self.time_zone),
                );
                TimeZone::UTC
            }
        };
        if let Some(problem) = bucket_misaligned(bucket, &time_zone) {
            errors.push(
                "windows.bucket",
                format!(
                    "{} {problem}, so calendar days would not align",
                    self.bucket
                ),
            );
        }
        WindowSettings {
            bucket,
            rolling,
            time_zone,
            time_zone_name: self.time_zone.clone(),
            allowed_lateness,
            lateness_by_source,
            idle_timeout,
        }
    }
}

/// Whether buckets of this size can straddle a local midnight in the time zone: the size must
/// divide a day and every UTC offset the zone uses between 1970 and 2100.
fn bucket_misaligned(bucket: DurationMs, tz: &TimeZone) -> Option<String> {
    if 86_400_000 % bucket.0 != 0 {
        return Some("does not divide a day".into());
    }
    let start = jiff::Timestamp::UNIX_EPOCH;
    let end = jiff::Timestamp::from_second(4_102_444_800).unwrap_or(jiff::Timestamp::MAX);
    let offsets = std::iter::once(tz.to_offset(start)).chain(
        tz.following(start)
            .take_while(|t| t.timestamp() < end)
            .map(|t| t.offset()),
    );
    for offset in offsets {
        if (i64::from(offset.seconds()) * 1000) % bucket.0 != 0 {
            return Some(format!(
                "does not divide the UTC offset {offset} of the time zone"
            ));
        }
    }
    None
}

impl WindowSettings {
    /// The lateness that applies to a source's events.
    pub fn lateness_of(&self, source: &str) -> DurationMs {
        self.lateness_by_source
            .get(source)
            .copied()
            .unwrap_or(self.allowed_lateness)
    }

    /// The longest rolling window.
    pub fn longest_window(&self) -> DurationMs {
        self.rolling
            .iter()
            .map(|w| w.length)
            .max()
            .unwrap_or(self.bucket)
    }

    /// How far behind the newest event buckets are kept.
    fn retention(&self) -> DurationMs {
        let max_lateness = self
            .lateness_by_source
            .values()
            .copied()
            .fold(self.allowed_lateness, DurationMs::max);
        DurationMs(self.longest_window().0 + max_lateness.0 + self.bucket.0)
    }

    /// The start of the bucket holding `t`.
    pub fn bucket_start(&self, t: EventTimeMs) -> EventTimeMs {
        EventTimeMs(t.0.div_euclid(self.bucket.0) * self.bucket.0)
    }

    /// The local calendar date of an instant.
    pub fn local_date(&self, t: EventTimeMs) -> Option<Date> {
        let ts = jiff::Timestamp::from_millisecond(t.0).ok()?;
        Some(self.time_zone.to_datetime(ts).date())
    }
}

/// One partition's event-time state.
#[derive(Debug, Clone)]
pub struct WindowState {
    zone_count: usize,
    /// Bucket start → person trips per zone (index = zone id).
    buckets: BTreeMap<i64, Vec<ModeTotals>>,
    /// Local date → person trips per zone.
    days: BTreeMap<Date, Vec<ModeTotals>>,
    max_event_time: Option<EventTimeMs>,
    /// Days before this are no longer kept (January 1 of the watermark's previous year).
    days_from: Option<Date>,
    /// The last bucket → date lookup; most events land in the bucket of the one before.
    last_day: Option<(i64, Date)>,
    /// The same buckets per cell and per origin → destination zone pair.
    places: PlaceBuckets,
    /// The same buckets and days per zone, distance band, access class and mode.
    bucket_breakdowns: Buckets<Breakdown>,
    day_breakdowns: BTreeMap<Date, Breakdown>,
}

impl WindowState {
    pub fn new(zone_count: usize) -> WindowState {
        WindowState {
            zone_count,
            buckets: BTreeMap::new(),
            days: BTreeMap::new(),
            max_event_time: None,
            days_from: None,
            last_day: None,
            places: PlaceBuckets::default(),
            bucket_breakdowns: Buckets::default(),
            day_breakdowns: BTreeMap::new(),
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
            self.day_breakdowns.insert(
                Date::try_from(day)?,
                Breakdown::restore(t, self.zone_count)?,
            );
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
            state.buckets.insert(bucket, zones(t)?);
        }
        for (day, t) in saved.days {
            state.days.insert(Date::try_from(day)?, zones(t)?);
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
        if self.max_event_time.is_none_or(|m| start > m) {
            self.max_event_time = Some(start);
            self.prune(settings);
        }
        let floor = self.retained_from(settings);
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
                .entry(bucket)
                .or_insert_with(|| vec![ModeTotals::default(); zone_count]);
            add_to(in_bucket, zones, obs, amount, first);
            self.bucket_breakdowns
                .entry(bucket)
                .observe(zones, classes, obs.mode, amount, first);
            if let Some(date) = date
                && self.days_from.is_none_or(|from| date >= from)
            {
                let in_day = self
                    .days
                    .entry(date)
                    .or_insert_with(|| vec![ModeTotals::default(); zone_count]);
                add_to(in_day, zones, obs, amount, first);
                self.day_breakdowns
                    .entry(date)
                    .or_default()
                    .observe(zones, classes, obs.mode, amount, first);
            }
        }
        late
    }

    /// The oldest bucket start still kept.
    fn retained_from(&self, settings: &WindowSettings) -> EventTimeMs {
        match self.max_event_time {
            Some(m) => settings.bucket_start(m.saturating_sub(settings.retention())),
            None => EventTimeMs(i64::MIN),
        }
    }

    fn date_of(&mut self, settings: &WindowSettings, bucket: i64) -> Option<Date> {
        if let Some((b, d)) = self.last_day
            && b == bucket
        {
            return Some(d);
        }
        let d = settings.local_date(EventTimeMs(bucket))?;
        self.last_day = Some((bucket, d));
        Some(d)
    }

    /// Drops buckets no window can reach and days before the previous calendar year.
    fn prune(&mut self, settings: &WindowSettings) {
        let floor = self.retained_from(settings).0;
        if self
            .buckets
            .first_key_value()
            .is_some_and(|(b, _)| *b < floor)
        {
            self.buckets = self.buckets.split_off(&floor);
        }
        self.places.prune(floor);
        self.bucket_breakdowns.prune(floor);
        let keep_from = self
            .watermark(settings)
            .and_then(|w| settings.local_date(w))
            .and_then(|d| Date::new(d.year() - 1, 1, 1).ok());
        if let Some(keep_from) = keep_from {
            self.days_from = Some(keep_from);
            if self
                .days
                .first_key_value()
                .is_some_and(|(d, _)| *d < keep_from)
            {
                self.days = self.days.split_off(&keep_from);
            }
            if self
                .day_breakdowns
                .first_key_value()
                .is_some_and(|(d, _)| *d < keep_from)
            {
                self.day_breakdowns = self.day_breakdowns.split_off(&keep_from);
            }
        }
    }

    /// Number of buckets held (for memory checks).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }
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
/// longest window go wholly to the start bucket (no window could show the spread).
pub fn pieces(settings: &WindowSettings, obs: &Observation<'_>) -> Vec<(i64, PersonTrips, bool)> {
    let start = obs.start_time.0;
    let first_bucket = settings.bucket_start(obs.start_time).0;
    let whole = vec![(first_bucket, obs.person_trips, true)];
    let (Kind::Count, Some(end)) = (obs.kind, obs.end_time) else {
        return whole;
    };
    let end = end.0;
    if end <= start || end - start > settings.longest_window().0 {
        return whole;
    }
    let size = settings.bucket.0;
    let mut buckets = Vec::new();
    let mut weights = Vec::new();
    let mut b = first_bucket;
    while b < end {
        let overlap = (b + size).min(end) - b.max(start);
        buckets.push(b);
        weights.push(overlap as u64);
        b += size;
    }
    let parts = obs.person_trips.split(&weights);
    buckets
        .into_iter()
        .zip(parts)
        .enumerate()
        .map(|(i, (b, p))| (b, p, i == 0))
        .collect()
}

/// Person trips per zone in a rolling window of `length` ending at `watermark`, summed over
/// the partitions (instances sum their partitions; Prometheus sums instances).
pub(crate) fn window_totals(
    states: &[&WindowState],
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
    zone_count: usize,
) -> Vec<ModeTotals> {
    let (start, end) = window_range(settings, watermark, length);
    let mut out = vec![ModeTotals::default(); zone_count];
    for state in states {
        for per_zone in state.buckets.range(start..end).map(|(_, v)| v) {
            for (o, t) in out.iter_mut().zip(per_zone) {
                o.merge(t);
            }
        }
    }
    out
}

/// The buckets of a rolling window of `length` ending at `watermark`.
fn window_range(
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
) -> (i64, i64) {
    let end = settings.bucket_start(watermark).0;
    (end.saturating_sub(length.0), end)
}

/// Person trips per zone, distance band, access class and mode in a rolling window of `length`
/// ending at `watermark`, summed over the partitions.
pub(crate) fn window_breakdown(
    states: &[&WindowState],
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
) -> Breakdown {
    let (start, end) = window_range(settings, watermark, length);
    let mut out = Breakdown::default();
    for state in states {
        for (_, b) in state.bucket_breakdowns.range(start, end) {
            out.merge(b);
        }
    }
    out
}

/// Judged trips per stop place they start or end near in a rolling window, summed over the
/// partitions.
pub fn window_stops(
    states: &[&WindowState],
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
) -> BTreeMap<StopId, StopTotals> {
    let (start, end) = window_range(settings, watermark, length);
    let mut out = BTreeMap::new();
    for state in states {
        state.places.stops_into(start, end, &mut out);
    }
    out
}

/// Person trips per cell (at the configured resolution) and zone set in a rolling window,
/// summed over the partitions.
pub fn window_cells(
    states: &[&WindowState],
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
) -> CellWindow {
    let (start, end) = window_range(settings, watermark, length);
    let mut out = CellWindow::default();
    for state in states {
        state.places.cells_into(start, end, &mut out);
    }
    out
}

/// Person trips per origin → destination zone pair (trips with a destination) in a rolling
/// window, summed over the partitions.
pub fn window_zone_pairs(
    states: &[&WindowState],
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
) -> BTreeMap<ZonePair, ModeTotals> {
    let (start, end) = window_range(settings, watermark, length);
    let mut out = BTreeMap::new();
    for state in states {
        state.places.pairs_into(start, end, &mut out);
    }
    out
}

/// Person trips per zone for the local day, month and year that hold the watermark, with
/// their breakdowns.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarTotals {
    pub date: Date,
    pub day: Vec<ModeTotals>,
    pub month: Vec<ModeTotals>,
    pub year: Vec<ModeTotals>,
    pub day_breakdown: Breakdown,
    pub month_breakdown: Breakdown,
    pub year_breakdown: Breakdown,
}

/// Calendar totals to date at `watermark`, summed over the partitions.
pub(crate) fn calendar_totals(
    states: &[&WindowState],
    settings: &WindowSettings,
    watermark: EventTimeMs,
    zone_count: usize,
) -> Option<CalendarTotals> {
    let date = settings.local_date(watermark)?;
    let mut totals = CalendarTotals {
        date,
        day: vec![ModeTotals::default(); zone_count],
        month: vec![ModeTotals::default(); zone_count],
        year: vec![ModeTotals::default(); zone_count],
        day_breakdown: Breakdown::default(),
        month_breakdown: Breakdown::default(),
        year_breakdown: Breakdown::default(),
    };
    let year_start = Date::new(date.year(), 1, 1).ok()?;
    for state in states {
        for (d, per_zone) in state.days.range(year_start..=date) {
            for (i, t) in per_zone.iter().enumerate() {
                totals.year[i].merge(t);
                if d.month() == date.month() {
                    totals.month[i].merge(t);
                }
                if *d == date {
                    totals.day[i].merge(t);
                }
            }
        }
        for (d, b) in state.day_breakdowns.range(year_start..=date) {
            totals.year_breakdown.merge(b);
            if d.month() == date.month() {
                totals.month_breakdown.merge(b);
            }
            if *d == date {
                totals.day_breakdown.merge(b);
            }
        }
    }
    Some(totals)
}

/// One partition as the combined watermark sees it.
#[derive(Debug, Clone, Copy)]
pub struct PartitionClock {
    pub watermark: Option<EventTimeMs>,
    /// Processing time (wall clock, ms) of the partition's last event.
    pub last_event_at: i64,
}

/// The watermark of all partitions together: the minimum over the partitions that had an event
/// within `idle_timeout` of `now` (processing time); when all are idle, the newest.
pub fn combined_watermark(
    partitions: &[PartitionClock],
    now: i64,
    idle_timeout: DurationMs,
) -> Option<EventTimeMs> {
    let active = partitions
        .iter()
        .filter(|p| now.saturating_sub(p.last_event_at) <= idle_timeout.0)
        .filter_map(|p| p.watermark)
        .min();
    active.or_else(|| partitions.iter().filter_map(|p| p.watermark).max())
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

#[cfg(test)]
mod tests;
