//! Mode shares per group and their gaps to the city's goals.

use std::collections::BTreeMap;

use crate::aggregate::ModeTotals;
use crate::goal::Goal;
use crate::mode::ModeGroups;

/// The share of person trips of each group, 0–1. Empty when there are no person trips:
/// a place without trips has no shares (not zeros).
pub fn group_shares(totals: &ModeTotals, groups: &ModeGroups) -> BTreeMap<String, f64> {
    let total = totals.total();
    if total.is_zero() {
        return BTreeMap::new();
    }
    groups
        .iter()
        .map(|g| {
            let in_group = g
                .modes
                .iter()
                .fold(crate::factor::PersonTrips::ZERO, |sum, m| {
                    sum + totals.get(m).person_trips
                });
            (g.name.clone(), in_group.as_f64() / total.as_f64())
        })
        .collect()
}

/// share − target for every goal whose group has a share.
pub fn goal_gaps(shares: &BTreeMap<String, f64>, goals: &[Goal]) -> BTreeMap<String, f64> {
    goals
        .iter()
        .filter_map(|g| shares.get(&g.group).map(|s| (g.group.clone(), g.gap(*s))))
        .collect()
}
