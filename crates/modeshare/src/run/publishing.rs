//! Publishing snapshots of the state: the places (cells, zone pairs, stop places) on their own,
//! slower cadence.

use std::sync::Arc;

use modeshare_http::snapshot::Places;
/// How often the places (the hex map's cells, the zone pairs) are summed again while the
/// state changes: summing 28 days of buckets costs more than the rest of a snapshot.
const PLACES_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// When the published places were summed, and whether the state changed since.
#[derive(Default)]
pub(super) struct PlacesCadence {
    pub(super) latest: Option<Arc<Places>>,
    pub(super) summed_at: Option<tokio::time::Instant>,
    pub(super) stale: bool,
}

impl PlacesCadence {
    /// The places to publish: summed again (by `sum`) when there are none yet, or when the state
    /// changed since and the last sum is `PLACES_REFRESH` old; else the last ones.
    pub(super) fn current(&mut self, sum: impl FnOnce() -> Places) -> Arc<Places> {
        let due = self
            .summed_at
            .is_none_or(|at| at.elapsed() >= PLACES_REFRESH);
        match &self.latest {
            Some(latest) if !(self.stale && due) => latest.clone(),
            _ => {
                let fresh = Arc::new(sum());
                self.latest = Some(fresh.clone());
                self.summed_at = Some(tokio::time::Instant::now());
                self.stale = false;
                fresh
            }
        }
    }
}
