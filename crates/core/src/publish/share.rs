//! Mode shares per group and their gaps to the city's goals.

use std::collections::BTreeMap;

use super::goal::Goal;
use crate::state::ModeTotals;
use crate::vocabulary::{ModeGroups, PersonTrips};

/// Person trips of each group's modes, every group (0 where none).
pub fn group_person_trips(
    totals: &ModeTotals,
    groups: &ModeGroups,
) -> BTreeMap<String, PersonTrips> {
    groups
        .iter()
        .map(|g| {
            let in_group = g
                .modes
                .iter()
                .fold(PersonTrips::ZERO, |sum, m| sum + totals.get(m).person_trips);
            (g.name.clone(), in_group)
        })
        .collect()
}

/// The share of person trips of each group, 0–1. Empty when there are no person trips:
/// a place without trips has no shares (not zeros). Each share is the group's person trips
/// over the total, so summing both across instances before dividing gives the same share.
pub fn group_shares(totals: &ModeTotals, groups: &ModeGroups) -> BTreeMap<String, f64> {
    let total = totals.total();
    if total.is_zero() {
        return BTreeMap::new();
    }
    group_person_trips(totals, groups)
        .into_iter()
        .map(|(group, in_group)| (group, in_group.as_f64() / total.as_f64()))
        .collect()
}

/// share − target for every goal whose group has a share.
pub fn goal_gaps(shares: &BTreeMap<String, f64>, goals: &[Goal]) -> BTreeMap<String, f64> {
    goals
        .iter()
        .filter_map(|g| shares.get(&g.group).map(|s| (g.group.clone(), g.gap(*s))))
        .collect()
}
