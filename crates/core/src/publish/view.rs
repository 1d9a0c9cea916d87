//! What the live service publishes: per zone and rolling window (and calendar period) the
//! person trips per mode, the group shares and the gaps to the goals on the measured basis and,
//! with a survey, on the survey-filled basis, the coverage that separates the two, the distance
//! bands and the transit access, at the combined watermark.

use std::collections::BTreeMap;

use serde::Serialize;

use super::report::{
    AccessReport, BandReport, access_report, band_reports, numerators, person_trips_by_mode,
};
use super::settings::PublishSettings;
use super::share::{goal_gaps, group_shares};
use crate::space::Zones;
use crate::state::{
    Breakdown, ModeTotals, WindowState, ZoneBreakdown, calendar_totals, window_breakdown,
    window_totals,
};
use crate::vocabulary::EventTimeMs;

/// One zone in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneWindow {
    /// The numbers on the measured basis, at the top level (`basis: "measured"`): the shares
    /// divide measured person trips only.
    #[serde(flatten)]
    pub measured: BasisView,
    /// Which modes were measured, and what the survey fills in for the others.
    pub coverage: CoverageView,
    /// The same numbers with the unmeasured modes filled from the survey (`basis` `filled`);
    /// absent without a survey or when nothing measured has a survey share to scale from.
    pub filled: Option<BasisView>,
    /// Person trips and shares per trip distance band, `unknown` last (measured).
    pub distance_bands: Vec<BandReport>,
    /// Trips of the transit-access modes by how they relate to stops (measured); absent when
    /// transit access is off.
    pub transit_access: Option<AccessReport>,
}

/// Person trips, shares and goal gaps on one basis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasisView {
    /// `measured` or `filled`.
    pub basis: &'static str,
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

/// What a zone's window measured and what was filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageView {
    /// Modes with events or person trips (a counter's reading of 0 is a measurement).
    pub measured_modes: Vec<&'static str>,
    /// The survey's share of the measured modes together (0–1); absent without a survey.
    pub survey_share_measured: Option<f64>,
    /// Person trips filled in from the survey per unmeasured mode.
    pub filled_person_trips: BTreeMap<String, f64>,
    /// Filled person trips over all person trips on the filled basis (0–1); absent when there
    /// is no filled basis.
    pub filled_fraction: Option<f64>,
}

/// The basis names (the `basis` label).
const MEASURED: &str = "measured";
const FILLED: &str = "filled";

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

fn basis_view(
    basis: &'static str,
    totals: &ModeTotals,
    settings: PublishSettings<'_>,
) -> BasisView {
    let shares = group_shares(totals, settings.groups);
    BasisView {
        basis,
        person_trips: person_trips_by_mode(totals),
        total_person_trips: totals.total().as_f64(),
        group_person_trips: numerators(totals, settings.groups, &shares),
        goal_gaps: goal_gaps(&shares, settings.goals),
        shares,
    }
}

fn zone_window(
    totals: &ModeTotals,
    breakdown: &ZoneBreakdown,
    settings: PublishSettings<'_>,
) -> ZoneWindow {
    let coverage = settings.survey.map(|s| s.fill(totals));
    let filled_totals = coverage.as_ref().and_then(|c| c.filled_totals(totals));
    let coverage_view = CoverageView {
        measured_modes: totals.observed().map(|(m, _)| m.as_str()).collect(),
        survey_share_measured: coverage.as_ref().map(|c| c.survey_share_measured),
        filled_person_trips: coverage
            .iter()
            .flat_map(|c| &c.filled)
            .map(|(m, t)| (m.as_str().to_owned(), t.as_f64()))
            .collect(),
        filled_fraction: match (&coverage, &filled_totals) {
            (Some(c), Some(f)) if !f.total().is_zero() => {
                Some(c.filled_person_trips().as_f64() / f.total().as_f64())
            }
            _ => None,
        },
    };
    ZoneWindow {
        measured: basis_view(MEASURED, totals, settings),
        coverage: coverage_view,
        filled: filled_totals.map(|f| basis_view(FILLED, &f, settings)),
        distance_bands: band_reports(breakdown, settings.bands, settings.groups),
        transit_access: access_report(breakdown, settings.access),
    }
}

fn by_zone(
    per_zone: &[ModeTotals],
    breakdown: &Breakdown,
    zones: &Zones,
    settings: PublishSettings<'_>,
) -> BTreeMap<String, ZoneWindow> {
    let breakdowns = breakdown.by_zone(zones.len(), settings.bands);
    zones
        .iter()
        .map(|(id, z)| {
            let i = id.0 as usize;
            (
                z.name.clone(),
                zone_window(&per_zone[i], &breakdowns[i], settings),
            )
        })
        .collect()
}

/// Builds the view at `watermark` over the windows of every partition.
pub fn live_view(
    states: &[&WindowState],
    settings: PublishSettings<'_>,
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
    let ws = settings.windows;
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
                &window_breakdown(states, ws, watermark, rw.length),
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
        for (label, start, totals, breakdown) in [
            ("day", cal.date, &cal.day, &cal.day_breakdown),
            (
                "month",
                cal.date.first_of_month(),
                &cal.month,
                &cal.month_breakdown,
            ),
            ("year", first_of_year, &cal.year, &cal.year_breakdown),
        ] {
            windows.push(WindowView {
                window: label.to_owned(),
                start: period_start(start),
                end: watermark.to_rfc3339(),
                end_seconds: watermark.0.div_euclid(1000),
                zones: by_zone(totals, breakdown, zones, settings),
            });
        }
    }
    LiveView {
        watermark: Some(watermark.to_rfc3339()),
        watermark_seconds: Some(watermark.0 as f64 / 1000.0),
        windows,
    }
}
