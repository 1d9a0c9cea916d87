//! What the live service publishes: per zone and rolling window (and calendar period) the
//! person trips per mode, the group shares and the gaps to the goals, at the combined watermark.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aggregate::ModeTotals;
use crate::config::Settings;
use crate::share::{goal_gaps, group_person_trips, group_shares};
use crate::time::EventTimeMs;
use crate::window::{WindowState, calendar_totals, window_totals};
use crate::zone::Zones;

/// One zone in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneWindow {
    pub person_trips: BTreeMap<String, f64>,
    pub total_person_trips: f64,
    /// Person trips of each group's modes: the numerators of `shares`, published so that
    /// shares across instances are sums divided, never averaged. Empty with `shares`.
    pub group_person_trips: BTreeMap<String, f64>,
    /// Per group, 0–1; empty when the window holds no person trips.
    pub shares: BTreeMap<String, f64>,
    /// share − target per goal; empty when the window holds no person trips.
    pub goal_gaps: BTreeMap<String, f64>,
}

/// A rolling window or calendar period, with its zones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView {
    /// `1h`, `24h`, … or `day`, `month`, `year`.
    pub window: String,
    /// Start and end of the period (RFC 3339); rolling windows end at the watermark's bucket.
    pub start: String,
    pub end: String,
    /// Seconds since the epoch of `end`, so instances can be aligned.
    pub end_seconds: i64,
    pub zones: BTreeMap<String, ZoneWindow>,
}

/// Everything the service publishes for its partitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveView {
    /// The combined watermark (RFC 3339), `None` before the first event.
    pub watermark: Option<String>,
    pub watermark_seconds: Option<f64>,
    pub windows: Vec<WindowView>,
}

fn zone_window(totals: &ModeTotals, settings: &Settings) -> ZoneWindow {
    let shares = group_shares(totals, &settings.groups);
    ZoneWindow {
        person_trips: totals
            .observed()
            .map(|(m, t)| (m.as_str().to_owned(), t.person_trips.as_f64()))
            .collect(),
        total_person_trips: totals.total().as_f64(),
        group_person_trips: if shares.is_empty() {
            BTreeMap::new()
        } else {
            group_person_trips(totals, &settings.groups)
                .into_iter()
                .map(|(g, t)| (g, t.as_f64()))
                .collect()
        },
        goal_gaps: goal_gaps(&shares, &settings.goals),
        shares,
    }
}

fn by_zone(
    per_zone: &[ModeTotals],
    zones: &Zones,
    settings: &Settings,
) -> BTreeMap<String, ZoneWindow> {
    zones
        .iter()
        .map(|(id, z)| {
            (
                z.name.clone(),
                zone_window(&per_zone[id.0 as usize], settings),
            )
        })
        .collect()
}

/// Builds the view at `watermark` over the windows of every partition.
pub fn live_view(
    states: &[&WindowState],
    settings: &Settings,
    zones: &Zones,
    watermark: Option<EventTimeMs>,
) -> LiveView {
    let Some(watermark) = watermark else {
        return LiveView {
            watermark: None,
            watermark_seconds: None,
            windows: Vec::new(),
        };
    };
    let ws = &settings.windows;
    let end = ws.bucket_start(watermark);
    let mut windows: Vec<WindowView> = ws
        .rolling
        .iter()
        .map(|rw| WindowView {
            window: rw.label.clone(),
            start: end.saturating_sub(rw.length).to_rfc3339(),
            end: end.to_rfc3339(),
            end_seconds: end.0.div_euclid(1000),
            zones: by_zone(
                &window_totals(states, ws, watermark, rw.length, zones.len()),
                zones,
                settings,
            ),
        })
        .collect();
    if let Some(cal) = calendar_totals(states, ws, watermark, zones.len()) {
        let period_start = |d: jiff::civil::Date| {
            ws.time_zone
                .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .map(|t| EventTimeMs(t.as_millisecond()).to_rfc3339())
                .unwrap_or_default()
        };
        let first_of_year = cal.date.first_of_year();
        for (label, start, totals) in [
            ("day", cal.date, &cal.day),
            ("month", cal.date.first_of_month(), &cal.month),
            ("year", first_of_year, &cal.year),
        ] {
            windows.push(WindowView {
                window: label.to_owned(),
                start: period_start(start),
                end: watermark.to_rfc3339(),
                end_seconds: watermark.0.div_euclid(1000),
                zones: by_zone(totals, zones, settings),
            });
        }
    }
    LiveView {
        watermark: Some(watermark.to_rfc3339()),
        watermark_seconds: Some(watermark.0 as f64 / 1000.0),
        windows,
    }
}
