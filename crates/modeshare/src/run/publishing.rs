//! Publishing snapshots of the state to the HTTP server, the places (cells, zone pairs, stop
//! places) on their own, slower cadence.

use std::sync::Arc;

use modeshare_core::pipeline::Pipeline;
use modeshare_core::state::combined_watermark;
use modeshare_core::vocabulary::EventTimeMs;
use modeshare_http::metrics::PipelineMetrics;
use modeshare_http::snapshot::{BrokerStatus, PartsStatus, Places, Snapshot};
use tokio::sync::watch;

use super::partitions::{Partitions, local_partition, spool_partition};
use super::view_link::{RemoteParts, parts_status};
use crate::clock::wall_clock;
use crate::config::AppConfig;
use crate::shared_view::{Part, stale_after};

/// How often the places (the hex map's cells, the zone pairs) are summed again while the
/// state changes: summing 28 days of buckets costs more than the rest of a snapshot.
const PLACES_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Records behind the brokers (this instance's partitions together, as librdkafka's
/// statistics last said) from which the service is working through a backlog: over eight
/// minutes of a city's stream at 100 events a second, two seconds of a catch-up at this
/// project's Kafka bench's pace.
const BACKLOG_RECORDS: i64 = 50_000;

/// How often a snapshot is published at most while working through a backlog. What it shows
/// then is minutes or hours old and moves as fast as the catch-up goes: summing the state four
/// times a second would only take time from the catch-up (a publish takes milliseconds, more
/// as the state grows).
const BACKLOG_PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends snapshots of the partitions' state to the HTTP server, which reads only the latest:
/// of this instance's partitions (for `/metrics`) and, when the instances of a group share
/// their parts, of the whole city (for `/api/*`, the page and `/healthz`).
pub(super) struct Publisher {
    snapshots: watch::Sender<Arc<Snapshot>>,
    places: PlacesCadence,
    /// This instance's last snapshot: a tick at which neither the state, its places nor the
    /// watermark changed sends it again with the brokers' status of now (from Kafka every tick
    /// publishes, but during a backlog), instead of summing the same state again, or sends
    /// nothing when the status is the same too.
    last: Option<Arc<Snapshot>>,
    /// The whole city's snapshots, when the view is shared.
    city: Option<City>,
    /// The state changed since the last snapshot.
    changed: bool,
    /// Where the time each publish takes is observed.
    metrics: PipelineMetrics,
    /// When a snapshot was last sent, for the cadence during a backlog.
    sent_at: Option<tokio::time::Instant>,
}

/// The other instances' parts of the view, and this instance's name in it.
pub(super) struct Others<'a> {
    pub parts: &'a RemoteParts,
    pub owner: &'a str,
}

/// Where the whole city's snapshots go, their places on their own cadence, and what the last
/// one was built from: a tick with neither this instance's state, the parts nor the combined
/// watermark changed reuses it (only the brokers' status and the parts' ages are new).
struct City {
    snapshots: watch::Sender<Arc<Snapshot>>,
    places: PlacesCadence,
    last: Option<Arc<Snapshot>>,
    parts: Option<RemoteParts>,
}

impl Publisher {
    /// Publishes to `snapshots` alone, or also the whole city's to `city`; the time each
    /// publish takes goes to `metrics`.
    pub(super) fn new(
        snapshots: watch::Sender<Arc<Snapshot>>,
        city: Option<watch::Sender<Arc<Snapshot>>>,
        metrics: PipelineMetrics,
    ) -> Publisher {
        Publisher {
            snapshots,
            metrics,
            places: PlacesCadence::default(),
            last: None,
            city: city.map(|snapshots| City {
                snapshots,
                places: PlacesCadence::default(),
                last: None,
                parts: None,
            }),
            // The first tick publishes: until then the HTTP server shows the empty snapshot it
            // started with.
            changed: true,
            sent_at: None,
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

    /// Publishes a snapshot of `partitions`, with the brokers' status when reading Kafka, and
    /// the whole city's with `others`' parts; while the brokers' status says this instance
    /// works through a backlog, at most every [`BACKLOG_PUBLISH_INTERVAL`] (what changed
    /// meanwhile waits for the next tick).
    pub(super) fn publish(
        &mut self,
        config: &AppConfig,
        partitions: &Partitions,
        kafka: Option<BrokerStatus>,
        others: Option<Others<'_>>,
    ) {
        // Half a tick early counts: the ticks that find a second gone are late themselves.
        let gap = BACKLOG_PUBLISH_INTERVAL.saturating_sub(config.publish_interval / 2);
        let recently = self.sent_at.is_some_and(|at| at.elapsed() < gap);
        if recently && kafka.as_ref().is_some_and(in_backlog) {
            return;
        }
        self.sent_at = Some(tokio::time::Instant::now());
        self.places.stale |= self.changed;
        if let Some(city) = &mut self.city {
            city.places.stale |= self.changed || city.parts_changed(others.as_ref());
        }
        self.send(config, partitions, kafka, others);
        self.changed = false;
    }

    /// The last snapshot, with the places of the final state.
    pub(super) fn publish_last(
        &mut self,
        config: &AppConfig,
        partitions: &Partitions,
        kafka: Option<BrokerStatus>,
        others: Option<Others<'_>>,
    ) {
        for places in
            std::iter::once(&mut self.places).chain(self.city.as_mut().map(|c| &mut c.places))
        {
            places.stale = true;
            places.summed_at = None;
        }
        self.send(config, partitions, kafka, others);
    }

    fn send(
        &mut self,
        config: &AppConfig,
        partitions: &Partitions,
        kafka: Option<BrokerStatus>,
        others: Option<Others<'_>>,
    ) {
        let started = std::time::Instant::now();
        // A tick that only re-sends the last snapshot is not a publish's cost.
        if self.send_snapshots(config, partitions, kafka, others) {
            self.metrics.published(started.elapsed());
        }
    }

    /// Whether a snapshot was summed (this instance's or the city's), not only sent again.
    fn send_snapshots(
        &mut self,
        config: &AppConfig,
        partitions: &Partitions,
        kafka: Option<BrokerStatus>,
        others: Option<Others<'_>>,
    ) -> bool {
        let now = wall_clock().0;
        let owned: Vec<(&Pipeline, i64)> = partitions
            .values()
            .map(|p| (&p.pipeline, p.last_event_at))
            .collect();
        let watermark = watermark_of(config, &owned, now);
        let unchanged = !self.changed && !self.places.stale;
        let reusable = self
            .last
            .clone()
            .filter(|last| unchanged && last.watermark == watermark);
        let none = RemoteParts::default();
        let others = others.unwrap_or(Others {
            parts: &none,
            owner: "",
        });
        // The city's parts: the other instances' that it shows, and the status of them all.
        let city_parts = self
            .city
            .is_some()
            .then(|| city_parts(config, partitions, &others, kafka.as_ref(), now));
        let nothing_new = reusable.as_ref().is_some_and(|last| {
            last.kafka == kafka
                && city_parts.as_ref().is_none_or(|(remote, status)| {
                    // With others' parts the city's snapshot is its own, with their ages.
                    remote.is_empty() && last.parts.as_ref() == Some(status)
                })
        });
        if nothing_new {
            // The very snapshot the server has: nothing to send, and `/metrics` keeps serving
            // the families it encoded from it.
            if let Some(city) = &mut self.city {
                city.parts = Some(others.parts.clone());
            }
            return false;
        }
        let summed = reusable.is_none();
        let mut snapshot = match reusable {
            Some(last) => Snapshot {
                kafka: None,
                parts: None,
                ..Snapshot::clone(&last)
            },
            None => build(config, &owned, watermark, &mut self.places),
        };
        snapshot.kafka = kafka;
        let (Some(city), Some((remote, status))) = (&mut self.city, city_parts) else {
            let snapshot = Arc::new(snapshot);
            self.last = Some(snapshot.clone());
            let _ = self.snapshots.send(snapshot);
            return summed;
        };
        let rebuild = city.places.stale || city.parts_changed(Some(&others));
        city.parts = Some(others.parts.clone());
        if remote.is_empty() {
            snapshot.parts = Some(status);
            let snapshot = Arc::new(snapshot);
            self.last = Some(snapshot.clone());
            let _ = self.snapshots.send(snapshot.clone());
            city.last = None;
            let _ = city.snapshots.send(snapshot);
            return summed;
        }
        let kafka = snapshot.kafka.clone();
        let snapshot = Arc::new(snapshot);
        self.last = Some(snapshot.clone());
        let _ = self.snapshots.send(snapshot);
        let all: Vec<(&Pipeline, i64)> = owned
            .into_iter()
            .chain(remote.iter().map(|p| (&p.pipeline, p.header.last_event_at)))
            .collect();
        let watermark = watermark_of(config, &all, now);
        let (mut whole, city_summed) = match &city.last {
            Some(last) if !rebuild && last.watermark == watermark => (Snapshot::clone(last), false),
            _ => (build(config, &all, watermark, &mut city.places), true),
        };
        whole.kafka = kafka;
        whole.parts = Some(status);
        let whole = Arc::new(whole);
        city.last = Some(whole.clone());
        let _ = city.snapshots.send(whole);
        summed || city_summed
    }
}

/// The other instances' parts the city's snapshot shows (Kafka partitions this instance reads
/// are shown live, the others' as published), and the status of every part at `now`.
fn city_parts<'p>(
    config: &AppConfig,
    partitions: &Partitions,
    others: &Others<'p>,
    kafka: Option<&BrokerStatus>,
    now: i64,
) -> (Vec<&'p Part>, PartsStatus) {
    let own_keys: Vec<(String, i32)> = partitions
        .keys()
        .filter(|(topic, _)| !is_local(topic))
        .map(|(topic, partition)| (topic.to_string(), *partition))
        .collect();
    let remote: Vec<&Part> = others
        .parts
        .iter()
        .map(|p| &**p)
        .filter(|p| {
            !own_keys
                .iter()
                .any(|(t, n)| *t == p.header.topic && *n == p.header.partition)
        })
        .collect();
    let counts = kafka
        .map(|k| k.topic_partitions.clone())
        .unwrap_or_default();
    let stale_after = config
        .view_interval
        .map_or(std::time::Duration::MAX, stale_after);
    let status = parts_status(&own_keys, others.owner, &remote, &counts, now, stale_after);
    (remote, status)
}

impl City {
    /// Whether the parts differ from those the last city snapshot was built from.
    fn parts_changed(&self, others: Option<&Others<'_>>) -> bool {
        match (&self.parts, others) {
            (Some(seen), Some(others)) => !Arc::ptr_eq(seen, others.parts),
            (None, None) => false,
            _ => true,
        }
    }
}

/// Whether the brokers' status says the partitions together are [`BACKLOG_RECORDS`] or more
/// behind.
fn in_backlog(status: &BrokerStatus) -> bool {
    let behind: i64 = status.lag.iter().map(|(_, _, lag)| (*lag).max(0)).sum();
    behind >= BACKLOG_RECORDS
}

/// The watermark of `parts` (each with when its partition last saw an event) together at
/// `now`: it moves on its own once a partition has been idle for `idle_timeout`.
fn watermark_of(config: &AppConfig, parts: &[(&Pipeline, i64)], now: i64) -> Option<EventTimeMs> {
    let clocks: Vec<_> = parts
        .iter()
        .map(|(pipeline, last_event_at)| pipeline.clock(*last_event_at))
        .collect();
    combined_watermark(&clocks, now, config.settings.windows.idle_timeout)
}

/// A snapshot of these pipelines at `watermark`.
fn build(
    config: &AppConfig,
    parts: &[(&Pipeline, i64)],
    watermark: Option<EventTimeMs>,
    places: &mut PlacesCadence,
) -> Snapshot {
    let pipelines: Vec<&Pipeline> = parts.iter().map(|(p, _)| *p).collect();
    let places = places.current(|| Places::build(&config.settings, &pipelines, watermark));
    Snapshot::build_with_places(
        &config.settings,
        &config.zones,
        &pipelines,
        watermark,
        places,
    )
}

/// The partitions of files, the simulator and the spool: this instance's own input, never
/// shared.
fn is_local(topic: &str) -> bool {
    let (local, spool) = (local_partition(), spool_partition());
    topic == &*local.0 || topic == &*spool.0
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

#[cfg(test)]
mod tests;
