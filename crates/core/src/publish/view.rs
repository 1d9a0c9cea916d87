//! What the live service publishes of a zone in a window (rolling or calendar): the person
//! trips per mode, the group shares and the gaps to the goals on the measured basis and, with a
//! survey, on the survey-filled basis, the coverage that separates the two, the distance bands
//! and the transit access.

use std::collections::BTreeMap;

use serde::Serialize;

use super::report::{
    AccessReport, BandReport, access_report, band_reports, numerators, person_trips_by_mode,
};
use super::settings::PublishSettings;
use super::share::{goal_gaps, group_shares};
use crate::state::{ModeTotals, ZoneBreakdown};

/// One zone in one window. Its numbers are `f64` (exact: `/metrics`, the admin), or
/// `Option<f64>` on the public API, where the k rule suppresses them (null in JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneWindow<N = f64> {
    /// The numbers on the measured basis, at the top level (`basis: "measured"`): the shares
    /// divide measured person trips only.
    #[serde(flatten)]
    pub measured: BasisView<N>,
    /// Which modes were measured, and what the survey fills in for the others.
    pub coverage: CoverageView<N>,
    /// The same numbers with the unmeasured modes filled from the survey (`basis` `filled`);
    /// absent without a survey or when nothing measured has a survey share to scale from.
    pub filled: Option<BasisView<N>>,
    /// Person trips and shares per trip distance band, `unknown` last (measured).
    pub distance_bands: Vec<BandReport<N>>,
    /// Trips of the transit-access modes by how they relate to stops (measured); absent when
    /// transit access is off.
    pub transit_access: Option<AccessReport<N>>,
}

/// Person trips, shares and goal gaps on one basis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BasisView<N = f64> {
    /// `measured` or `filled`.
    pub basis: &'static str,
    pub person_trips: BTreeMap<String, N>,
    pub total_person_trips: N,
    /// Person trips of each group's modes: the numerators of `shares`, published so that
    /// shares across instances are sums divided, never averaged. Empty with `shares`.
    pub group_person_trips: BTreeMap<String, N>,
    /// Per group, 0–1; empty when the window holds no person trips.
    pub shares: BTreeMap<String, N>,
    /// share − target per goal; empty when the window holds no person trips.
    pub goal_gaps: BTreeMap<String, N>,
}

/// What a zone's window measured and what was filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageView<N = f64> {
    /// Modes with events or person trips (a counter's reading of 0 is a measurement).
    pub measured_modes: Vec<&'static str>,
    /// The survey's share of the measured modes together (0–1); absent without a survey.
    pub survey_share_measured: Option<f64>,
    /// Person trips filled in from the survey per unmeasured mode.
    pub filled_person_trips: BTreeMap<String, N>,
    /// Filled person trips over all person trips on the filled basis (0–1); absent when there
    /// is no filled basis.
    pub filled_fraction: Option<N>,
}

/// The basis names (the `basis` label).
const MEASURED: &str = "measured";
const FILLED: &str = "filled";

/// A rolling window or calendar period, with its zones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowView<N = f64> {
    /// `1h`, `24h`, … or `day`, `month`, `year`.
    pub window: String,
    /// Start and end of the period (RFC 3339); rolling windows end at the watermark's bucket.
    pub start: String,
    pub end: String,
    /// Seconds since the epoch of `end`, so instances can be aligned.
    pub end_seconds: i64,
    pub zones: BTreeMap<String, ZoneWindow<N>>,
}

/// Everything the service publishes for its partitions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveView<N = f64> {
    /// The combined watermark (RFC 3339), `None` before the first event.
    pub watermark: Option<String>,
    pub watermark_seconds: Option<f64>,
    pub windows: Vec<WindowView<N>>,
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

pub(super) fn zone_window(
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
