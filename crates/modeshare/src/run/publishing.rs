//! Publishing snapshots of the state to the HTTP server, the places (cells, zone pairs, stop
//! places) on their own, slower cadence.

use std::sync::Arc;

use modeshare_core::pipeline::Pipeline;
use modeshare_core::state::combined_watermark;
use modeshare_http::metrics::PipelineMetrics;
use modeshare_http::snapshot::{BrokerStatus, Places, Snapshot};
use tokio::sync::watch;

use super::partitions::{PartitionState, Partitions};
use crate::clock::wall_clock;
use crate::config::AppConfig;

/// How often the places (the hex map's cells, the zone pairs) are summed again while the
/// state changes: summing 28 days of buckets costs more than the rest of a snapshot.
const PLACES_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends snapshots of the partitions' state to the HTTP server, which reads only the latest.
pub(super) struct Publisher {
    snapshots: watch::Sender<Arc<Snapshot>>,
    places: PlacesCadence,
    /// The state changed since the last snapshot.
    changed: bool,
    /// Where the time each publish takes is observed.
    metrics: PipelineMetrics,
}

impl Publisher {
    pub(super) fn new(
        snapshots: watch::Sender<Arc<Snapshot>>,
        metrics: PipelineMetrics,
    ) -> Publisher {
        Publisher {
            snapshots,
            metrics,
            places: PlacesCadence::default(),
            // The first tick publishes: until then the HTTP server shows the empty snapshot it
            // started with.
            changed: true,
        }
    }

    /// The state changed: the next tick publishes, and sums the places again when due.
    pub(super) fn state_changed(&mut self) {
        self.changed = true;
    }

    /// Whether a tick has anything new to publish: the state changed, or the places still wait
    /// to be summed again since it did.
    pub(super) fn due(&self) -> bool {
        self.changed || self.places.stale
    }

    /// Publishes a snapshot of `partitions`, with the brokers' status when reading Kafka.
    pub(super) fn publish(
        &mut self,
        config: &AppConfig,
        partitions: &Partitions,
        kafka: Option<BrokerStatus>,
    ) {
        self.places.stale |= self.changed;
        self.send(config, partitions, kafka);
        self.changed = false;
    }

    /// The last snapshot, with the places of the final state.
    pub(super) fn publish_last(
        &mut self,
        config: &AppConfig,
        partitions: &Partitions,
        kafka: Option<BrokerStatus>,
    ) {
        self.places.stale = true;
        self.places.summed_at = None;
        self.send(config, partitions, kafka);
    }

    fn send(&mut self, config: &AppConfig, partitions: &Partitions, kafka: Option<BrokerStatus>) {
        let started = std::time::Instant::now();
        let now = wall_clock().0;
        let owned: Vec<&PartitionState> = partitions.values().collect();
        let clocks: Vec<_> = owned
            .iter()
            .map(|p| p.pipeline.clock(p.last_event_at))
            .collect();
        let watermark = combined_watermark(&clocks, now, config.settings.windows.idle_timeout);
        let pipelines: Vec<&Pipeline> = owned.iter().map(|p| &p.pipeline).collect();
        let places = self
            .places
            .current(|| Places::build(&config.settings, &pipelines, watermark));
        let mut snapshot = Snapshot::build_with_places(
            &config.settings,
            &config.zones,
            &pipelines,
            watermark,
            places,
        );
        snapshot.kafka = kafka;
        let _ = self.snapshots.send(Arc::new(snapshot));
        self.metrics.published(started.elapsed());
    }
}

/// When the published places were summed, and whether the state changed since.
#[derive(Default)]
struct PlacesCadence {
    latest: Option<Arc<Places>>,
    summed_at: Option<tokio::time::Instant>,
    stale: bool,
}

impl PlacesCadence {
    /// The places to publish: summed again (by `sum`) when there are none yet, or when the state
    /// changed since and the last sum is `PLACES_REFRESH` old; else the last ones.
    fn current(&mut self, sum: impl FnOnce() -> Places) -> Arc<Places> {
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
