//! The live view as the public API shows it: every number of a zone in a window that counts
//! events or person trips is shown only under the k rule, with secondary suppression within
//! each of the zone window's tables ([`super::suppression`]). A suppressed number is `None`
//! (null in JSON); a share or goal gap is shown only when its numerator and denominator are.
//!
//! The tables of one zone in one window:
//! - the modes: person trips per mode, summed into the total and into each group's numerator,
//!   and (where the survey fills unmeasured modes) into the measured trips the estimates scale
//!   from, since the estimates give that sum away;
//! - the filled basis: the same modes with the estimates beside them (known, as the measured
//!   table decided them), summed into its total and groups;
//! - the distance bands: the bands' totals, summed into the zone's total; then each band's modes,
//!   summed into the band's total (as the bands' table decided it) and groups;
//! - transit access: person trips per access class and judged mode, summed per class, per mode
//!   (judged, near a stop) and over all.

use std::collections::BTreeMap;

use serde::Serialize;

use super::report::{AccessNumbers, AccessReport, BandReport, person_trips_by_mode};
use super::settings::PublishSettings;
use super::share::group_shares;
use super::suppression::{Fixed, Suppression, suppress_with};
use super::view::{BasisView, CoverageView, ZoneWindow};
use crate::space::{Access, Band};
use crate::state::{ModeTally, ModeTotals, StopTotals, ZoneBreakdown};
use crate::vocabulary::{Mode, ModeGroups};

/// A number as the public API shows it: `None` when suppressed.
pub type Public = Option<f64>;

fn shown(show: bool, value: f64) -> Public {
    show.then_some(value)
}

/// Every mode's tally, in [`Mode::ALL`] order.
fn mode_parts(totals: &ModeTotals) -> Vec<ModeTally> {
    totals.tallies().to_vec()
}

fn mode_indexes(filter: impl Fn(Mode) -> bool) -> Vec<usize> {
    Mode::ALL
        .into_iter()
        .filter(|m| filter(*m))
        .map(Mode::index)
        .collect()
}

/// The sums of a modes table: the total first, then each group in name order.
fn mode_sums(groups: &ModeGroups) -> Vec<Vec<usize>> {
    std::iter::once(mode_indexes(|_| true))
        .chain(groups.iter().map(|g| mode_indexes(|m| g.modes.contains(m))))
        .collect()
}

/// A basis's numbers with the modes table's decisions applied (`sums`: total, then groups).
fn mask_basis(exact: &BasisView, s: &Suppression, groups: &ModeGroups) -> BasisView<Public> {
    let group_shown = |name: &str| {
        groups
            .iter()
            .position(|g| g.name == name)
            .is_some_and(|j| s.sums[j + 1])
    };
    let mode_shown = |name: &str| Mode::from_name(name).is_some_and(|m| s.parts[m.index()]);
    let share_shown = |name: &str| s.sums[0] && group_shown(name);
    BasisView {
        basis: exact.basis,
        person_trips: mask(&exact.person_trips, mode_shown),
        total_person_trips: shown(s.sums[0], exact.total_person_trips),
        group_person_trips: mask(&exact.group_person_trips, group_shown),
        shares: mask(&exact.shares, share_shown),
        goal_gaps: mask(&exact.goal_gaps, share_shown),
    }
}

fn mask(values: &BTreeMap<String, f64>, show: impl Fn(&str) -> bool) -> BTreeMap<String, Public> {
    values
        .iter()
        .map(|(key, v)| (key.clone(), shown(show(key), *v)))
        .collect()
}

/// The public form of one zone in one window: `exact` is its exact form, built from `totals`
/// and `breakdown`.
pub(crate) fn public_zone_window(
    exact: &ZoneWindow,
    totals: &ModeTotals,
    breakdown: &ZoneBreakdown,
    settings: PublishSettings<'_>,
    k: u64,
) -> ZoneWindow<Public> {
    let groups = settings.groups;
    let coverage = settings.survey.map(|s| s.fill(totals));
    let estimated = coverage.as_ref().is_some_and(|c| !c.filled.is_empty());
    let parts = mode_parts(totals);
    let mut sums = mode_sums(groups);
    if estimated {
        // The estimates scale with the measured trips of the modes that have a survey share.
        let survey = settings.survey;
        sums.push(mode_indexes(|m| {
            totals.get(m).person_trips.as_f64() > 0.0 && survey.is_some_and(|s| s.share(m) > 0.0)
        }));
    }
    let measured = suppress_with(&parts, &sums, k, &Fixed::default());
    let estimates_shown = estimated && measured.sums.last().is_some_and(|s| *s);

    let filled = exact.filled.as_ref().and_then(|filled_exact| {
        let filled_totals = coverage.as_ref()?.filled_totals(totals)?;
        let fixed = Fixed {
            parts: Mode::ALL
                .into_iter()
                .map(|m| {
                    if totals.get(m).events > 0 || !totals.get(m).person_trips.is_zero() {
                        Some(measured.parts[m.index()])
                    } else if !filled_totals.get(m).person_trips.is_zero() {
                        Some(estimates_shown)
                    } else {
                        None
                    }
                })
                .collect(),
            sums: Vec::new(),
        };
        let filled = suppress_with(&mode_parts(&filled_totals), &mode_sums(groups), k, &fixed);
        Some(mask_basis(filled_exact, &filled, groups))
    });

    let coverage_view = CoverageView {
        measured_modes: exact.coverage.measured_modes.clone(),
        survey_share_measured: exact.coverage.survey_share_measured,
        filled_person_trips: mask(&exact.coverage.filled_person_trips, |_| estimates_shown),
        filled_fraction: exact
            .coverage
            .filled_fraction
            .map(|f| shown(estimates_shown && measured.sums[0], f)),
    };

    ZoneWindow {
        measured: mask_basis(&exact.measured, &measured, groups),
        coverage: coverage_view,
        filled,
        distance_bands: public_bands(&exact.distance_bands, breakdown, &measured, settings, k),
        transit_access: exact
            .transit_access
            .as_ref()
            .map(|a| public_access(a, breakdown, settings, k)),
    }
}

/// The distance bands: first the bands' totals as parts of the zone's total (as the modes table
/// decided it), then each band's modes.
fn public_bands(
    exact: &[BandReport],
    breakdown: &ZoneBreakdown,
    measured: &Suppression,
    settings: PublishSettings<'_>,
    k: u64,
) -> Vec<BandReport<Public>> {
    let bands = settings.bands;
    let slots: Vec<Band> = bands.all().collect();
    let band_tallies: Vec<ModeTally> = slots
        .iter()
        .map(|b| {
            let t = &breakdown.bands[bands.slot(*b)];
            ModeTally {
                events: t.events(),
                person_trips: t.total(),
            }
        })
        .collect();
    let zone = Fixed {
        parts: Vec::new(),
        sums: vec![Some(measured.sums[0])],
    };
    let all: Vec<usize> = (0..slots.len()).collect();
    let band_shown = suppress_with(&band_tallies, &[all], k, &zone);
    exact
        .iter()
        .zip(&slots)
        .enumerate()
        .map(|(i, (report, band))| {
            let totals = &breakdown.bands[bands.slot(*band)];
            let mut sums = mode_sums(settings.groups);
            if report.group_person_trips.is_empty() {
                sums.truncate(1);
            }
            let fixed = Fixed {
                parts: Vec::new(),
                sums: vec![Some(band_shown.parts[i])],
            };
            let s = suppress_with(&mode_parts(totals), &sums, k, &fixed);
            let group_shown = |name: &str| {
                settings
                    .groups
                    .iter()
                    .position(|g| g.name == name)
                    .is_some_and(|j| s.sums.get(j + 1).copied().unwrap_or(false))
            };
            BandReport {
                band: report.band.clone(),
                min_m: report.min_m,
                max_m: report.max_m,
                person_trips: mask(&report.person_trips, |m| {
                    Mode::from_name(m).is_some_and(|m| s.parts[m.index()])
                }),
                total_person_trips: shown(s.sums[0], report.total_person_trips),
                group_person_trips: mask(&report.group_person_trips, group_shown),
                shares: mask(&report.shares, |g| s.sums[0] && group_shown(g)),
            }
        })
        .collect()
}

/// Transit access: person trips per (access class, judged mode), summed per class, per mode
/// (judged, near a stop) and over all.
fn public_access(
    exact: &AccessReport,
    breakdown: &ZoneBreakdown,
    settings: PublishSettings<'_>,
    k: u64,
) -> AccessReport<Public> {
    let modes: Vec<Mode> = Mode::ALL
        .into_iter()
        .filter(|m| settings.access.modes.contains(*m))
        .collect();
    let part = |a: Access, i: usize| a.index() * modes.len() + i;
    let parts: Vec<ModeTally> = Access::ALL
        .iter()
        .flat_map(|a| modes.iter().map(|m| breakdown.access[a.index()].get(*m)))
        .collect();
    let near: Vec<Access> = Access::ALL.into_iter().filter(|a| a.near_stop()).collect();
    let mut sums: Vec<Vec<usize>> = Vec::new();
    // 0..classes: each class over the modes.
    for a in Access::ALL {
        sums.push((0..modes.len()).map(|i| part(a, i)).collect());
    }
    // Then per mode: judged, near.
    for i in 0..modes.len() {
        sums.push(Access::ALL.iter().map(|a| part(*a, i)).collect());
        sums.push(near.iter().map(|a| part(*a, i)).collect());
    }
    // Then over all: judged, near.
    sums.push((0..parts.len()).collect());
    sums.push(
        near.iter()
            .flat_map(|a| (0..modes.len()).map(move |i| part(*a, i)))
            .collect(),
    );
    let s = suppress_with(&parts, &sums, k, &Fixed::default());
    let classes = Access::ALL.len();
    let numbers =
        |exact: &AccessNumbers, class_shown: &dyn Fn(Access) -> bool, judged: bool, near: bool| {
            AccessNumbers {
                person_trips: mask(&exact.person_trips, |name| {
                    Access::ALL
                        .iter()
                        .find(|a| a.as_str() == name)
                        .is_some_and(|a| class_shown(*a))
                }),
                judged_person_trips: shown(judged, exact.judged_person_trips),
                near_stop_person_trips: shown(near, exact.near_stop_person_trips),
                share: exact.share.filter(|_| judged && near),
            }
        };
    let all_judged = s.sums[classes + 2 * modes.len()];
    let all_near = s.sums[classes + 2 * modes.len() + 1];
    AccessReport {
        all: numbers(&exact.all, &|a| s.sums[a.index()], all_judged, all_near),
        by_mode: exact
            .by_mode
            .iter()
            .map(|(name, n)| {
                let i = modes.iter().position(|m| m.as_str() == name);
                let public = match i {
                    Some(i) => numbers(
                        n,
                        &|a| s.parts[part(a, i)],
                        s.sums[classes + 2 * i],
                        s.sums[classes + 2 * i + 1],
                    ),
                    None => numbers(n, &|_| false, false, false),
                };
                (name.clone(), public)
            })
            .collect(),
    }
}

/// A place's numbers (a cell, a zone pair, a stop place) as the public API shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlaceNumbers {
    /// Person trips per mode with events.
    pub person_trips: BTreeMap<String, Public>,
    pub total_person_trips: Public,
    /// Events behind the numbers.
    pub events: Option<u64>,
    /// Group shares (0–1).
    pub shares: BTreeMap<String, Public>,
}

/// A place's modes with its total and groups as one table under the k rule.
pub fn public_place_numbers(totals: &ModeTotals, groups: &ModeGroups, k: u64) -> PlaceNumbers {
    place_numbers(
        totals,
        groups,
        &suppress_with(
            &mode_parts(totals),
            &mode_sums(groups),
            k,
            &Fixed::default(),
        ),
    )
}

fn place_numbers(totals: &ModeTotals, groups: &ModeGroups, s: &Suppression) -> PlaceNumbers {
    let shares = group_shares(totals, groups);
    let group_shown = |name: &str| {
        groups
            .iter()
            .position(|g| g.name == name)
            .is_some_and(|j| s.sums[j + 1])
    };
    PlaceNumbers {
        person_trips: mask(&person_trips_by_mode(totals), |m| {
            Mode::from_name(m).is_some_and(|m| s.parts[m.index()])
        }),
        total_person_trips: shown(s.sums[0], totals.total().as_f64()),
        events: s.sums[0].then(|| totals.events()),
        shares: mask(&shares, |g| s.sums[0] && group_shown(g)),
    }
}

/// A stop place's numbers under the k rule: its trips per mode and per use (departing,
/// arriving, round trips) as one table, summed per mode, per use, per group and in all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StopNumbers {
    #[serde(flatten)]
    pub all: PlaceNumbers,
    pub departs_person_trips: Public,
    pub arrives_person_trips: Public,
    pub round_trip_person_trips: Public,
}

/// A stop place's numbers as the public API shows them.
pub fn public_stop_numbers(totals: &StopTotals, groups: &ModeGroups, k: u64) -> StopNumbers {
    let uses = [&totals.departs, &totals.arrives, &totals.round_trips];
    let n = Mode::COUNT;
    let parts: Vec<ModeTally> = uses.iter().flat_map(|u| mode_parts(u)).collect();
    let across = |modes: &[usize]| -> Vec<usize> {
        (0..uses.len())
            .flat_map(|u| modes.iter().map(move |m| u * n + m))
            .collect()
    };
    // Per mode over the uses, then the total and the groups over the uses, then each use.
    let mut sums: Vec<Vec<usize>> = (0..n).map(|m| across(&[m])).collect();
    sums.extend(mode_sums(groups).iter().map(|modes| across(modes)));
    sums.extend((0..uses.len()).map(|u| (u * n..(u + 1) * n).collect()));
    let s = suppress_with(&parts, &sums, k, &Fixed::default());
    let all = StopTotals::all(totals);
    let as_modes = Suppression {
        parts: s.sums[..n].to_vec(),
        sums: s.sums[n..n + 1 + groups.iter().count()].to_vec(),
    };
    let use_shown = |u: usize| s.sums[n + 1 + groups.iter().count() + u];
    StopNumbers {
        all: place_numbers(&all, groups, &as_modes),
        departs_person_trips: shown(use_shown(0), totals.departs.total().as_f64()),
        arrives_person_trips: shown(use_shown(1), totals.arrives.total().as_f64()),
        round_trip_person_trips: shown(use_shown(2), totals.round_trips.total().as_f64()),
    }
}

#[cfg(test)]
mod tests;
