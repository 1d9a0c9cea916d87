//! The report (DESIGN.md "Interfaces"): outcome counts, rejections by reason, person trips and
//! shares per zone, person trips per cell. Field names are a public contract.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::aggregate::{ModeTotals, Totals};
use crate::mode::ModeGroups;
use crate::share::group_shares;
use crate::zone::Zones;

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
    pub fn build(totals: &Totals, zones: &Zones, groups: &ModeGroups) -> Report {
        let e = totals.events;
        let zones = zones
            .iter()
            .map(|(id, zone)| {
                let t = &totals.by_zone[id.0 as usize];
                let report = ZoneReport {
                    person_trips: person_trips_by_mode(t),
                    total_person_trips: t.total().as_f64(),
                    shares: group_shares(t, groups),
                };
                (zone.name.clone(), report)
            })
            .collect();
        let mut cells: Vec<_> = totals.by_cell.iter().collect();
        cells.sort_unstable_by_key(|(cell, _)| **cell);
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
            cells: cells
                .into_iter()
                .map(|(cell, t)| CellReport {
                    cell: cell.to_string(),
                    person_trips: person_trips_by_mode(t),
                })
                .collect(),
        }
    }
}
