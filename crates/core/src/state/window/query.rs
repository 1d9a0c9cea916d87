//! What the windows hold, summed over partitions: rolling windows, their places, calendar
//! totals, and the combined watermark.

use std::collections::BTreeMap;

use jiff::civil::Date;

use super::settings::WindowSettings;
use super::state::WindowState;
use crate::space::StopId;
use crate::state::breakdown::Breakdown;
use crate::state::places::{CellWindow, StopTotals, ZonePair};
use crate::state::tally::ModeTotals;
use crate::vocabulary::{DurationMs, EventTimeMs};

/// Person trips per zone in a rolling window of `length` ending at `watermark`, summed over
/// the partitions (instances sum their partitions; Prometheus sums instances).
pub(crate) fn window_totals(
    states: &[&WindowState],
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
    zone_count: usize,
) -> Vec<ModeTotals> {
    let mut out = vec![ModeTotals::default(); zone_count];
    if let Some((first, last)) = window_buckets(settings, watermark, length) {
        for state in states {
            state.buckets.sum_into(first, last, &mut out);
        }
    }
    out
}

/// The first and last bucket of a rolling window of `length` ending at `watermark`; `None` when
/// it holds none.
fn window_buckets(
    settings: &WindowSettings,
    watermark: EventTimeMs,
    length: DurationMs,
) -> Option<(i64, i64)> {
    let (start, end) = window_range(settings, watermark, length);
    (start < end).then(|| (start, end - 1))
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
    let mut out = Breakdown::default();
    if let Some((first, last)) = window_buckets(settings, watermark, length) {
        for state in states {
            state.bucket_breakdowns.sum_into(first, last, &mut out);
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
    let (year, month) = (date.first_of_year(), date.first_of_month());
    for state in states {
        let (days, breakdowns) = (&state.days, &state.day_breakdowns);
        days.sum_into(year, date, &mut totals.year);
        days.sum_into(month, date, &mut totals.month);
        days.sum_into(date, date, &mut totals.day);
        breakdowns.sum_into(year, date, &mut totals.year_breakdown);
        breakdowns.sum_into(month, date, &mut totals.month_breakdown);
        breakdowns.sum_into(date, date, &mut totals.day_breakdown);
    }
    Some(totals)
}

/// Person trips per zone and mode on each local day from `from` to `to` (inclusive) that holds
/// any, summed over the partitions: the history trends are made of.
pub fn daily_totals(
    states: &[&WindowState],
    from: Date,
    to: Date,
    zone_count: usize,
) -> BTreeMap<Date, Vec<ModeTotals>> {
    let mut out: BTreeMap<Date, Vec<ModeTotals>> = BTreeMap::new();
    if from > to {
        return out;
    }
    for state in states {
        for (d, per_zone) in state.days.range(from..=to) {
            let sums = out
                .entry(*d)
                .or_insert_with(|| vec![ModeTotals::default(); zone_count]);
            ModeTotals::merge_per_zone(sums, per_zone);
        }
    }
    out
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
