//! The report: outcome counts, rejections by reason, person trips and shares per zone, person
//! trips per cell. Field names are a public contract
//! (docs/design.md#interfaces-contracts-that-outside-tools-rely-on--keep-them-stable).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::settings::PublishSettings;
use super::share::{group_person_trips, group_shares};
use crate::space::{Access, Band, CellMap, DistanceBands, TransitAccess, Zones};
use crate::state::{ModeTotals, Totals, ZoneBreakdown};
use crate::vocabulary::{Mode, ModeGroups, PersonTrips};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub events: EventsReport,
    pub rejections: BTreeMap<String, u64>,
    /// Rows read that are not events, by reason (trafikkdata per-lane and per-direction rows).
    #[serde(default)]
    pub skipped: BTreeMap<String, u64>,
    pub zones: BTreeMap<String, ZoneReport>,
    pub cells: Vec<CellReport>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventsReport {
    pub read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub duplicates: u64,
    pub late: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneReport {
    pub person_trips: BTreeMap<String, f64>,
    pub total_person_trips: f64,
    pub shares: BTreeMap<String, f64>,
    /// Person trips and shares per trip distance band, in band order, `unknown` last.
    #[serde(default)]
    pub distance_bands: Vec<BandReport>,
    /// Trips of the transit-access modes by how they relate to stops; absent when transit
    /// access is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_access: Option<AccessReport>,
}

/// One distance band of a zone. Its numbers are `f64`, or `Option<f64>` where the k rule may
/// suppress them (null in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BandReport<N = f64> {
    /// `0-1km`, …, `10km+`, or `unknown` (counts, and trips without a distance or destination).
    pub band: String,
    /// The band's lower edge (inclusive) and upper edge (exclusive) in metres; both null for
    /// `unknown`, the upper null for the last band.
    pub min_m: Option<f64>,
    pub max_m: Option<f64>,
    pub person_trips: BTreeMap<String, N>,
    pub total_person_trips: N,
    /// Person trips of each group's modes in the band: the numerators of `shares` (empty with
    /// them).
    pub group_person_trips: BTreeMap<String, N>,
    /// Group shares within the band; always empty for `unknown`, which no share includes.
    pub shares: BTreeMap<String, N>,
}

/// How the trips of the transit-access modes relate to public-transport stops: over all judged
/// modes, and per judged mode with trips.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessReport<N = f64> {
    #[serde(flatten)]
    pub all: AccessNumbers<N>,
    pub by_mode: BTreeMap<String, AccessNumbers<N>>,
}

/// Judged person trips by access class, and the share that starts or ends near a stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessNumbers<N = f64> {
    /// Person trips per access class (`from_stop`, `to_stop`, `stop_to_stop`, `no_stop`,
    /// `no_destination`), every class.
    pub person_trips: BTreeMap<String, N>,
    /// Person trips of the judged trips (all classes).
    pub judged_person_trips: N,
    /// Person trips that start or end near a stop (`from_stop` + `to_stop` + `stop_to_stop`).
    pub near_stop_person_trips: N,
    /// near / judged, 0–1; null without judged trips.
    pub share: Option<f64>,
}

impl AccessNumbers {
    /// From the person trips of each class.
    fn of(per_class: impl Fn(Access) -> PersonTrips) -> AccessNumbers {
        let (mut near, mut judged) = (PersonTrips::ZERO, PersonTrips::ZERO);
        let mut person_trips = BTreeMap::new();
        for access in Access::ALL {
            let t = per_class(access);
            judged += t;
            if access.near_stop() {
                near += t;
            }
            person_trips.insert(access.as_str().to_owned(), t.as_f64());
        }
        AccessNumbers {
            person_trips,
            judged_person_trips: judged.as_f64(),
            near_stop_person_trips: near.as_f64(),
            share: (!judged.is_zero()).then(|| near.as_f64() / judged.as_f64()),
        }
    }
}

/// A zone's distance bands, in band order with `unknown` last.
pub(crate) fn band_reports(
    breakdown: &ZoneBreakdown,
    bands: &DistanceBands,
    groups: &ModeGroups,
) -> Vec<BandReport> {
    bands
        .all()
        .map(|band| {
            let totals = &breakdown.bands[bands.slot(band)];
            let known = band != Band::UNKNOWN;
            let (min_m, max_m) = bands.range_m(band);
            let shares = if known {
                group_shares(totals, groups)
            } else {
                BTreeMap::new()
            };
            BandReport {
                band: bands.label(band).to_owned(),
                min_m,
                max_m,
                person_trips: person_trips_by_mode(totals),
                total_person_trips: totals.total().as_f64(),
                group_person_trips: numerators(totals, groups, &shares),
                shares,
            }
        })
        .collect()
}

/// Each group's person trips where `shares` has any (the numerators published beside shares so
/// that sums across instances divide to the same share).
pub(crate) fn numerators(
    totals: &ModeTotals,
    groups: &ModeGroups,
    shares: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    if shares.is_empty() {
        return BTreeMap::new();
    }
    group_person_trips(totals, groups)
        .into_iter()
        .map(|(g, t)| (g, t.as_f64()))
        .collect()
}

/// A zone's transit access; `None` when transit access is off.
pub(crate) fn access_report(
    breakdown: &ZoneBreakdown,
    access: &TransitAccess,
) -> Option<AccessReport> {
    if !access.is_enabled() {
        return None;
    }
    let class = |a: Access| &breakdown.access[a.index()];
    let by_mode = Mode::ALL
        .into_iter()
        .filter(|m| access.modes.contains(*m))
        .filter(|m| Access::ALL.iter().any(|a| class(*a).get(*m).events > 0))
        .map(|m| {
            let numbers = AccessNumbers::of(|a| class(a).get(m).person_trips);
            (m.as_str().to_owned(), numbers)
        })
        .collect();
    Some(AccessReport {
        all: AccessNumbers::of(|a| class(a).total()),
        by_mode,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellReport {
    /// H3 index, 15 lowercase hex digits.
    pub cell: String,
    pub person_trips: BTreeMap<String, f64>,
}

/// Person trips per observed mode, by mode name.
pub fn person_trips_by_mode(totals: &ModeTotals) -> BTreeMap<String, f64> {
    totals
        .observed()
        .map(|(m, t)| (m.as_str().to_owned(), t.person_trips.as_f64()))
        .collect()
}

impl Report {
    /// Zones appear in name order, every configured zone even when empty; cells in index order.
    pub fn build(totals: &Totals, zones: &Zones, settings: PublishSettings<'_>) -> Report {
        Report {
            cells: cell_reports(&totals.by_cell),
            ..Report::without_cells(totals, zones, settings)
        }
    }

    /// The report with `cells` empty: what a live snapshot keeps, four times a second, where
    /// the cells (thousands in a city) are built only when the report is asked for
    /// ([`cell_reports`]).
    pub fn without_cells(totals: &Totals, zones: &Zones, settings: PublishSettings<'_>) -> Report {
        let e = totals.events;
        let breakdowns = totals.breakdown.by_zone(zones.len(), settings.bands);
        let zones = zones
            .iter()
            .map(|(id, zone)| {
                let t = &totals.by_zone[id.0 as usize];
                let b = &breakdowns[id.0 as usize];
                let report = ZoneReport {
                    person_trips: person_trips_by_mode(t),
                    total_person_trips: t.total().as_f64(),
                    shares: group_shares(t, settings.groups),
                    distance_bands: band_reports(b, settings.bands, settings.groups),
                    transit_access: access_report(b, settings.access),
                };
                (zone.name.clone(), report)
            })
            .collect();
        Report {
            events: EventsReport {
                read: e.read,
                accepted: e.accepted,
                rejected: e.rejected,
                duplicates: e.duplicates,
                late: e.late,
            },
            rejections: totals
                .rejections
                .iter()
                .map(|(r, n)| (r.as_str().to_owned(), *n))
                .collect(),
            skipped: totals
                .skipped
                .iter()
                .map(|(r, n)| (r.as_str().to_owned(), *n))
                .collect(),
            zones,
            cells: Vec::new(),
        }
    }
}

/// The report's cells: person trips per mode in each cell, in cell order.
pub fn cell_reports(by_cell: &CellMap<ModeTotals>) -> Vec<CellReport> {
    let mut cells: Vec<_> = by_cell.iter().collect();
    cells.sort_unstable_by_key(|(cell, _)| **cell);
    cells
        .into_iter()
        .map(|(cell, t)| CellReport {
            cell: cell.to_string(),
            person_trips: person_trips_by_mode(t),
        })
        .collect()
}
