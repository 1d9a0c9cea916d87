//! `/metrics`: the process counters and state gauges of docs/design.md ("Interfaces"), encoded
//! from the latest snapshot, so label values that vanish from the state vanish from the scrape.
//!
//! What a snapshot says changes only when the pipeline publishes one (every
//! `http.publish_interval` at most), so its families — the gauges, and the event counters it
//! carries — are encoded once per published snapshot, by the first scrape that sees it, and
//! every other scrape serves the same bytes: a scrape costs the pipeline nothing, and many
//! scrapes cost little more than one. What changes between snapshots is gathered at every
//! scrape from the [`Registry`]: the service's own counters, the process's CPU, memory and
//! descriptors (Linux), and how long each listener took to answer each route.
//!
//! Names follow `modeshare_<what>_<unit>`; counters end in `_total`; ratios are 0–1; labels are
//! bounded (zones and groups from config, modes and reasons from fixed lists, sources capped,
//! routes from the routers).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    CounterVec, Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounterVec,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tokio::sync::{Mutex, watch};

use modeshare_core::decode::Reason;
use modeshare_core::publish::ZoneWindow;
use modeshare_core::vocabulary::Mode;

use crate::snapshot::Snapshot;

/// Encodes the latest snapshot on every `collect()` (the service serves [`Metrics`] instead,
/// which encodes each snapshot once).
pub struct SnapshotCollector {
    latest: watch::Receiver<Arc<Snapshot>>,
    descs: Vec<Desc>,
}

fn counter(name: &str, help: &str, labels: &[&str]) -> CounterVec {
    // INVARIANT: names and labels are constants that the tests check are valid.
    #[allow(clippy::expect_used)]
    CounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    #[allow(clippy::expect_used)]
    GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

/// The metric families, created empty; `collect` fills fresh copies.
struct Families {
    events: CounterVec,
    late: CounterVec,
    rejected: CounterVec,
    skipped: CounterVec,
    partial_coverage: CounterVec,
    person_trips: CounterVec,
    window_person_trips: GaugeVec,
    window_group_person_trips: GaugeVec,
    share: GaugeVec,
    target: GaugeVec,
    target_time: GaugeVec,
    baseline: GaugeVec,
    baseline_time: GaugeVec,
    gap: GaugeVec,
    window_end: GaugeVec,
    /// Label-less, so that it is absent (not 0) before the first event.
    watermark: GaugeVec,
    last_event: GaugeVec,
    lag: GaugeVec,
    assigned: GaugeVec,
    connected: GaugeVec,
    unsaved: GaugeVec,
    checkpoint_failures: CounterVec,
    checkpoint_fences: CounterVec,
    skipped_messages: CounterVec,
    share_by_basis: GaugeVec,
    gap_by_basis: GaugeVec,
    filled_person_trips: GaugeVec,
    survey_share_measured: GaugeVec,
    survey_mode_share: GaugeVec,
    survey_group_share: GaugeVec,
    group_member_person_trips: GaugeVec,
    band_person_trips: GaugeVec,
    band_group_person_trips: GaugeVec,
    band_share: GaugeVec,
    access_person_trips: GaugeVec,
    access_share: GaugeVec,
}

impl Families {
    fn new() -> Families {
        Families {
            events: counter(
                "modeshare_events_total",
                "Events read since the process started, by source and outcome (accepted, rejected, duplicate).",
                &["source", "outcome"],
            ),
            late: counter(
                "modeshare_events_late_total",
                "Accepted events that arrived behind the watermark (still counted in every total).",
                &["source"],
            ),
            rejected: counter(
                "modeshare_events_rejected_total",
                "Rejected events by source and reason.",
                &["source", "reason"],
            ),
            skipped: counter(
                "modeshare_rows_skipped_total",
                "Rows read that are not events (trafikkdata per-lane and per-direction rows), by source and reason.",
                &["source", "reason"],
            ),
            partial_coverage: counter(
                "modeshare_events_partial_coverage_total",
                "Accepted counts whose counter measured only part of the interval (coverage below 100 %; counted as published, never scaled).",
                &["source"],
            ),
            person_trips: counter(
                "modeshare_person_trips_total",
                "Person trips counted since the process started, by zone and mode.",
                &["zone", "mode"],
            ),
            window_person_trips: gauge(
                "modeshare_window_person_trips",
                "Person trips in the window ending at the watermark (rolling: 1h, 24h, …; calendar: day, month, year to date).",
                &["zone", "mode", "window"],
            ),
            window_group_person_trips: gauge(
                "modeshare_window_group_person_trips",
                "Person trips of a mode group's modes in the window ending at the watermark: the numerator of the share, to sum across instances.",
                &["zone", "group", "window"],
            ),
            share: gauge(
                "modeshare_mode_share_ratio",
                "Share of person trips of a mode group in a window (0–1); absent for empty windows.",
                &["zone", "group", "window"],
            ),
            target: gauge(
                "modeshare_goal_target_ratio",
                "The goal's target share for a group (0–1).",
                &["group"],
            ),
            target_time: gauge(
                "modeshare_goal_target_timestamp_seconds",
                "When the goal's target share is due: the start of its target date (UTC), so a goal path from the baseline to the target can be drawn.",
                &["group"],
            ),
            baseline: gauge(
                "modeshare_goal_baseline_ratio",
                "The group's share in the goal's baseline survey (0–1), with the survey year.",
                &["group", "year"],
            ),
            baseline_time: gauge(
                "modeshare_goal_baseline_timestamp_seconds",
                "The middle of the baseline survey's year (1 July, UTC): where a goal path starts.",
                &["group"],
            ),
            gap: gauge(
                "modeshare_goal_gap_ratio",
                "Share minus the goal's target (−1…1); negative while the goal is not met.",
                &["zone", "group", "window"],
            ),
            window_end: gauge(
                "modeshare_window_end_timestamp_seconds",
                "End of each window (Unix seconds), to align instances.",
                &["window"],
            ),
            watermark: gauge(
                "modeshare_watermark_timestamp_seconds",
                "The combined event-time watermark (Unix seconds).",
                &[],
            ),
            last_event: gauge(
                "modeshare_source_last_event_timestamp_seconds",
                "When the source's latest event arrived (processing time, Unix seconds): feed freshness.",
                &["source"],
            ),
            lag: gauge(
                "modeshare_kafka_consumer_lag",
                "Messages between the consumer's position and the partition's end.",
                &["topic", "partition"],
            ),
            assigned: gauge(
                "modeshare_kafka_assigned_partitions",
                "Partitions of the topic this instance owns in its consumer group.",
                &["topic"],
            ),
            connected: gauge(
                "modeshare_kafka_connected",
                "1 while at least one Kafka broker connection is up, else 0.",
                &[],
            ),
            unsaved: gauge(
                "modeshare_checkpoint_unsaved_records",
                "Records applied to the partition's state since its last durable checkpoint: what a crash would read again.",
                &["topic", "partition"],
            ),
            checkpoint_failures: counter(
                "modeshare_checkpoint_failures_total",
                "Checkpoint writes that failed (the previous checkpoint and commit stood).",
                &[],
            ),
            checkpoint_fences: counter(
                "modeshare_checkpoint_fences_total",
                "Partitions dropped uncommitted because another instance had claimed them (this one lost them while paused past its session): their state here was stale, the new owner's stands.",
                &[],
            ),
            skipped_messages: counter(
                "modeshare_kafka_skipped_messages_total",
                "Messages retention deleted before they were read (the partition's checkpoint ended before its earliest retained offset): never counted in any state.",
                &["topic", "partition"],
            ),
            share_by_basis: gauge(
                "modeshare_mode_share_by_basis_ratio",
                "Share of person trips of a mode group (0–1) on a basis: measured (measured modes only, as modeshare_mode_share_ratio) or filled (unmeasured modes filled from the survey); absent for empty windows.",
                &["zone", "group", "window", "basis"],
            ),
            gap_by_basis: gauge(
                "modeshare_goal_gap_by_basis_ratio",
                "Share minus the goal's target (−1…1) on a basis (measured, filled).",
                &["zone", "group", "window", "basis"],
            ),
            filled_person_trips: gauge(
                "modeshare_window_filled_person_trips",
                "Person trips filled in from the survey for a mode without events in the zone and window.",
                &["zone", "mode", "window"],
            ),
            survey_share_measured: gauge(
                "modeshare_survey_share_measured_ratio",
                "The survey's share of person trips of the modes measured in the zone and window (0–1): how much of the city's travel the measurements stand for.",
                &["zone", "window"],
            ),
            survey_mode_share: gauge(
                "modeshare_survey_mode_share_ratio",
                "The travel survey's share of person trips by mode (0–1), the baseline unmeasured modes are filled from.",
                &["mode"],
            ),
            survey_group_share: gauge(
                "modeshare_survey_group_share_ratio",
                "The travel survey's share of person trips by a group's modes together (0–1).",
                &["group"],
            ),
            group_member_person_trips: gauge(
                "modeshare_window_group_member_person_trips",
                "Person trips of each measured mode of a group in the window (a mode in several groups appears under each): lets recording rules fill the unmeasured modes of a group over instances.",
                &["zone", "group", "mode", "window"],
            ),
            band_person_trips: gauge(
                "modeshare_window_band_person_trips",
                "Person trips by trip distance band (band=\"unknown\": counts and trips without a distance).",
                &["zone", "band", "mode", "window"],
            ),
            band_group_person_trips: gauge(
                "modeshare_window_band_group_person_trips",
                "Person trips of a mode group's modes in a distance band: the numerator of the band share, to sum across instances.",
                &["zone", "band", "group", "window"],
            ),
            band_share: gauge(
                "modeshare_band_mode_share_ratio",
                "Share of person trips of a mode group within a distance band (0–1); absent for empty bands and for band=\"unknown\".",
                &["zone", "band", "group", "window"],
            ),
            access_person_trips: gauge(
                "modeshare_window_transit_access_person_trips",
                "Person trips of the transit-access modes by how they relate to public-transport stops (from_stop, to_stop, stop_to_stop, no_stop, no_destination).",
                &["zone", "mode", "access", "window"],
            ),
            access_share: gauge(
                "modeshare_transit_access_share_ratio",
                "Share of the transit-access modes' person trips that start or end near a public-transport stop (0–1); absent without such trips.",
                &["zone", "window"],
            ),
        }
    }

    fn all(&self) -> [&dyn Collector; 36] {
        [
            &self.events,
            &self.late,
            &self.rejected,
            &self.skipped,
            &self.partial_coverage,
            &self.person_trips,
            &self.window_person_trips,
            &self.window_group_person_trips,
            &self.share,
            &self.target,
            &self.target_time,
            &self.baseline,
            &self.baseline_time,
            &self.gap,
            &self.window_end,
            &self.watermark,
            &self.last_event,
            &self.lag,
            &self.assigned,
            &self.connected,
            &self.unsaved,
            &self.checkpoint_failures,
            &self.checkpoint_fences,
            &self.skipped_messages,
            &self.share_by_basis,
            &self.gap_by_basis,
            &self.filled_person_trips,
            &self.survey_share_measured,
            &self.survey_mode_share,
            &self.survey_group_share,
            &self.group_member_person_trips,
            &self.band_person_trips,
            &self.band_group_person_trips,
            &self.band_share,
            &self.access_person_trips,
            &self.access_share,
        ]
    }

    fn fill(&self, s: &Snapshot) {
        for (source, counts) in &s.sources {
            let e = counts.events;
            for (outcome, n) in [
                ("accepted", e.accepted),
                ("rejected", e.rejected),
                ("duplicate", e.duplicates),
            ] {
                self.events
                    .with_label_values(&[source.as_str(), outcome])
                    .inc_by(n as f64);
            }
            self.late
                .with_label_values(&[source.as_str()])
                .inc_by(e.late as f64);
            if let Some(seen) = counts.last_seen {
                self.last_event
                    .with_label_values(&[source.as_str()])
                    .set(seen.0 as f64 / 1000.0);
            }
            for (reason, n) in &counts.rejections {
                self.rejected
                    .with_label_values(&[source.as_str(), reason.as_str()])
                    .inc_by(*n as f64);
            }
            for (reason, n) in &counts.skipped {
                self.skipped
                    .with_label_values(&[source.as_str(), reason.as_str()])
                    .inc_by(*n as f64);
            }
            if counts.partial_coverage > 0 {
                self.partial_coverage
                    .with_label_values(&[source.as_str()])
                    .inc_by(counts.partial_coverage as f64);
            }
        }
        for (zone, z) in &s.report_without_cells.zones {
            for (mode, trips) in &z.person_trips {
                self.person_trips
                    .with_label_values(&[zone.as_str(), mode.as_str()])
                    .inc_by(*trips);
            }
        }
        for goal in &s.goals {
            self.target
                .with_label_values(&[goal.group.as_str()])
                .set(goal.target);
            if let Some(due) = midnight_seconds(&goal.target_date) {
                self.target_time
                    .with_label_values(&[goal.group.as_str()])
                    .set(due);
            }
            if let (Some(_), Some(year)) = (goal.baseline, goal.baseline_year)
                && let Some(middle) = midnight_seconds(&format!("{year:04}-07-01"))
            {
                self.baseline_time
                    .with_label_values(&[goal.group.as_str()])
                    .set(middle);
            }
            if let Some(baseline) = goal.baseline {
                let year = goal
                    .baseline_year
                    .map(|y| y.to_string())
                    .unwrap_or_default();
                self.baseline
                    .with_label_values(&[goal.group.as_str(), year.as_str()])
                    .set(baseline);
            }
        }
        if let Some(view) = &s.view {
            for w in &view.windows {
                self.window_end
                    .with_label_values(&[w.window.as_str()])
                    .set(w.end_seconds as f64);
                for (zone, z) in &w.zones {
                    let labels = |x: &str| [zone.as_str(), x, w.window.as_str()].map(str::to_owned);
                    for (mode, trips) in &z.measured.person_trips {
                        self.window_person_trips
                            .with_label_values(&labels(mode))
                            .set(*trips);
                    }
                    for (group, trips) in &z.measured.group_person_trips {
                        self.window_group_person_trips
                            .with_label_values(&labels(group))
                            .set(*trips);
                    }
                    for (group, share) in &z.measured.shares {
                        self.share.with_label_values(&labels(group)).set(*share);
                    }
                    for (group, gap) in &z.measured.goal_gaps {
                        self.gap.with_label_values(&labels(group)).set(*gap);
                    }
                    self.fill_coverage(s, zone, &w.window, z);
                    self.fill_breakdowns(zone, &w.window, z);
                }
            }
        }
        if let Some(survey) = &s.survey {
            for (mode, share) in survey.shares() {
                self.survey_mode_share
                    .with_label_values(&[mode.as_str()])
                    .set(share);
            }
            for group in s.groups.iter() {
                let share: f64 = group.modes.iter().map(|m| survey.share(m)).sum();
                self.survey_group_share
                    .with_label_values(&[group.name.as_str()])
                    .set(share);
            }
        }
        if let Some(k) = &s.kafka {
            self.connected
                .with_label_values::<&str>(&[])
                .set(if k.connected { 1.0 } else { 0.0 });
            for (topic, n) in &k.assigned {
                self.assigned
                    .with_label_values(&[topic.as_str()])
                    .set(*n as f64);
            }
            for (topic, partition, lag) in &k.lag {
                self.lag
                    .with_label_values(&[topic.as_str(), &partition.to_string()])
                    .set(*lag as f64);
            }
            for (topic, partition, unsaved) in &k.unsaved {
                self.unsaved
                    .with_label_values(&[topic.as_str(), &partition.to_string()])
                    .set(*unsaved as f64);
            }
            self.checkpoint_failures
                .with_label_values::<&str>(&[])
                .inc_by(k.checkpoint_failures as f64);
            self.checkpoint_fences
                .with_label_values::<&str>(&[])
                .inc_by(k.checkpoint_fences as f64);
            for (topic, partition, skipped) in &k.skipped {
                self.skipped_messages
                    .with_label_values(&[topic.as_str(), &partition.to_string()])
                    .inc_by(*skipped as f64);
            }
        }
        if let Some(w) = s.watermark {
            self.watermark
                .with_label_values::<&str>(&[])
                .set(w.0 as f64 / 1000.0);
        }
    }
}

impl Families {
    /// Shares and gaps on both bases, what was filled, and what the rules fill from.
    fn fill_coverage(&self, s: &Snapshot, zone: &str, window: &str, z: &ZoneWindow) {
        for numbers in std::iter::once(&z.measured).chain(&z.filled) {
            let basis = numbers.basis;
            for (group, share) in &numbers.shares {
                self.share_by_basis
                    .with_label_values(&[zone, group, window, basis])
                    .set(*share);
            }
            for (group, gap) in &numbers.goal_gaps {
                self.gap_by_basis
                    .with_label_values(&[zone, group, window, basis])
                    .set(*gap);
            }
        }
        for (mode, trips) in &z.coverage.filled_person_trips {
            self.filled_person_trips
                .with_label_values(&[zone, mode, window])
                .set(*trips);
        }
        if let Some(measured) = z.coverage.survey_share_measured {
            self.survey_share_measured
                .with_label_values(&[zone, window])
                .set(measured);
            for group in s.groups.iter() {
                for (mode, trips) in &z.measured.person_trips {
                    if Mode::from_name(mode).is_some_and(|m| group.modes.contains(m)) {
                        self.group_member_person_trips
                            .with_label_values(&[zone, group.name.as_str(), mode, window])
                            .set(*trips);
                    }
                }
            }
        }
    }

    /// Distance bands and transit access.
    fn fill_breakdowns(&self, zone: &str, window: &str, z: &ZoneWindow) {
        for band in &z.distance_bands {
            let b = band.band.as_str();
            for (mode, trips) in &band.person_trips {
                self.band_person_trips
                    .with_label_values(&[zone, b, mode, window])
                    .set(*trips);
            }
            for (group, share) in &band.shares {
                self.band_share
                    .with_label_values(&[zone, b, group, window])
                    .set(*share);
            }
            for (group, trips) in &band.group_person_trips {
                self.band_group_person_trips
                    .with_label_values(&[zone, b, group, window])
                    .set(*trips);
            }
        }
        if let Some(access) = &z.transit_access {
            for (mode, by_mode) in &access.by_mode {
                for (class, trips) in &by_mode.person_trips {
                    self.access_person_trips
                        .with_label_values(&[zone, mode, class, window])
                        .set(*trips);
                }
            }
            if let Some(share) = access.all.share {
                self.access_share
                    .with_label_values(&[zone, window])
                    .set(share);
            }
        }
    }
}

impl SnapshotCollector {
    pub fn new(latest: watch::Receiver<Arc<Snapshot>>) -> SnapshotCollector {
        let descs = Families::new()
            .all()
            .iter()
            .flat_map(|c| c.desc())
            .cloned()
            .collect();
        SnapshotCollector { latest, descs }
    }
}

impl Collector for SnapshotCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = self.latest.borrow().clone();
        snapshot_families(&snapshot)
    }
}

/// The metric families of one snapshot.
pub fn snapshot_families(snapshot: &Snapshot) -> Vec<MetricFamily> {
    let families = Families::new();
    families.fill(snapshot);
    let mut out: Vec<MetricFamily> = families.all().iter().flat_map(|c| c.collect()).collect();
    // A family with no series yet (no goals, no windows) is left out rather than sent empty.
    out.retain(|mf| !mf.get_metric().is_empty());
    out.sort_by(|a, b| a.name().cmp(b.name()));
    out
}

/// The name of every metric family `/metrics` can carry, whether or not the current state fills
/// it (dashboards and rules are checked against this list).
pub fn metric_names() -> Vec<String> {
    let service = ServiceMetrics::new();
    let requests = RequestMetrics::new();
    let mut per_scrape: Vec<Box<dyn Collector>> = service.all();
    per_scrape.push(Box::new(requests.duration.clone()));
    if let Some(process) = process_collector() {
        per_scrape.push(process);
    }
    Families::new()
        .all()
        .iter()
        .flat_map(|c| c.desc())
        .chain(per_scrape.iter().flat_map(|c| c.desc()))
        .map(|d| d.fq_name.clone())
        .collect()
}

/// The process's CPU time, memory, open descriptors and threads (`process_*`), read from
/// `/proc` at each scrape: on Linux only.
fn process_collector() -> Option<Box<dyn Collector>> {
    #[cfg(target_os = "linux")]
    {
        Some(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// How long each listener took to answer each route, by status: one histogram for every
/// listener, each request observed once it has its answer (the shed and timed-out ones too).
#[derive(Clone)]
pub struct RequestMetrics {
    duration: HistogramVec,
}

/// The `route` of a request no route matched (a 404 of the fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

impl RequestMetrics {
    fn new() -> RequestMetrics {
        // INVARIANT: names, labels and buckets are constants that the tests check are valid.
        #[allow(clippy::expect_used)]
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "modeshare_http_request_duration_seconds",
                "Time from a request's headers to its answer, by listener (public, admin), route (the router's path, or \"unmatched\") and status.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                30.0,
            ]),
            &["listener", "route", "status"],
        )
        .expect("valid metric");
        RequestMetrics { duration }
    }

    /// Observes every request of `router` under `listener` (outside every other layer of the
    /// router, so what the limits answer is observed too).
    pub fn instrument(&self, router: axum::Router, listener: &'static str) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(
            (self.clone(), listener),
            observe_request,
        ))
    }
}

async fn observe_request(
    State((metrics, listener)): State<(RequestMetrics, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // The route as the router wrote it (`/api/cells`), never the request's own path: bounded.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE.to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics
        .duration
        .with_label_values(&[listener, route.as_str(), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// What `/metrics` answers: the latest snapshot's families, encoded once per snapshot, after
/// what the registry gathers at each scrape.
pub struct Metrics {
    latest: watch::Receiver<Arc<Snapshot>>,
    registry: Registry,
    service: ServiceMetrics,
    requests: RequestMetrics,
    /// The snapshot last encoded and its bytes; a scrape that finds another snapshot published
    /// encodes that one (the others wait for it rather than encode it too).
    encoded: Mutex<Option<(Arc<Snapshot>, Bytes)>>,
}

impl Metrics {
    /// The registry with the service's counters, the request histograms and (Linux) the
    /// process collector, over the snapshots `latest` publishes.
    pub fn new(latest: watch::Receiver<Arc<Snapshot>>) -> prometheus::Result<Metrics> {
        let registry = Registry::new();
        let service = ServiceMetrics::register(&registry)?;
        let requests = RequestMetrics::new();
        registry.register(Box::new(requests.duration.clone()))?;
        if let Some(process) = process_collector() {
            registry.register(process)?;
        }
        Ok(Metrics {
            latest,
            registry,
            service,
            requests,
            encoded: Mutex::new(None),
        })
    }

    /// The service's own counters.
    pub fn service(&self) -> &ServiceMetrics {
        &self.service
    }

    /// The request histograms, for each listener's router.
    pub fn requests(&self) -> &RequestMetrics {
        &self.requests
    }

    /// The text of every family, as a scrape gets it.
    pub async fn text(&self) -> Result<Vec<u8>, prometheus::Error> {
        let mut body = Vec::with_capacity(64 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut body)?;
        body.extend_from_slice(&self.snapshot_text().await?);
        Ok(body)
    }

    /// The latest snapshot's families in the text format, encoded once per snapshot.
    async fn snapshot_text(&self) -> Result<Bytes, prometheus::Error> {
        let mut encoded = self.encoded.lock().await;
        let latest = self.latest.borrow().clone();
        if let Some((snapshot, bytes)) = &*encoded
            && Arc::ptr_eq(snapshot, &latest)
        {
            return Ok(bytes.clone());
        }
        let started = Instant::now();
        let mut text = Vec::new();
        TextEncoder::new().encode(&snapshot_families(&latest), &mut text)?;
        self.service
            .snapshot_encode
            .observe(started.elapsed().as_secs_f64());
        let bytes = Bytes::from(text);
        *encoded = Some((latest, bytes.clone()));
        Ok(bytes)
    }

    /// `/metrics`.
    pub async fn answer(&self) -> Response {
        match self.text().await {
            Ok(body) => (
                [(
                    header::CONTENT_TYPE,
                    TextEncoder::new().format_type().to_owned(),
                )],
                body,
            )
                .into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("encoding metrics failed: {e}"),
            )
                .into_response(),
        }
    }
}

/// Counters the service keeps itself, beside the snapshot's: what went wrong outside the
/// state (dead letters that cannot be delivered), and the operators' pushes. Registered once,
/// gathered at every scrape.
#[derive(Clone)]
pub struct ServiceMetrics {
    pub dead_letter_failures: IntCounterVec,
    pub ingest: IngestMetrics,
    pub providers: ProviderMetrics,
    /// What the pipeline task's publishing and checkpoints take.
    pub pipeline: PipelineMetrics,
    /// `modeshare_build_info`: absent until [`ServiceMetrics::build_info`] names the build.
    build_info: IntGaugeVec,
    start_time: Gauge,
    snapshot_encode: Histogram,
}

/// A histogram without labels; its name, help and buckets are constants.
fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    // INVARIANT: names and buckets are constants that the tests check are valid.
    #[allow(clippy::expect_used)]
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric")
}

/// Seconds from 0.5 ms to 30 s: what publishing, encoding and writing a checkpoint take.
fn duration_buckets() -> Vec<f64> {
    vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
}

/// What the pipeline task's work outside the events takes: publishing snapshots, and encoding
/// and writing checkpoints (Kafka partitions' and the ingest spool's), with their size.
#[derive(Clone)]
pub struct PipelineMetrics {
    publish: Histogram,
    checkpoint: HistogramVec,
    checkpoint_bytes: Histogram,
}

impl PipelineMetrics {
    fn new() -> PipelineMetrics {
        // INVARIANT: names, labels and buckets are constants that the tests check are valid.
        #[allow(clippy::expect_used)]
        let checkpoint = HistogramVec::new(
            HistogramOpts::new(
                "modeshare_checkpoint_duration_seconds",
                "Time to checkpoint one partition's state, by stage: encode (the state into bytes) and write (durably, under the partition's claim).",
            )
            .buckets(duration_buckets()),
            &["stage"],
        )
        .expect("valid metric");
        PipelineMetrics {
            publish: histogram(
                "modeshare_publish_duration_seconds",
                "Time to build a snapshot of the state and publish it to the listeners (summing the places again when due).",
                duration_buckets(),
            ),
            checkpoint,
            checkpoint_bytes: histogram(
                "modeshare_checkpoint_size_bytes",
                "Size of each partition checkpoint written, in bytes.",
                prometheus::exponential_buckets(1024.0, 4.0, 11).unwrap_or_default(),
            ),
        }
    }

    fn all(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.publish.clone()),
            Box::new(self.checkpoint.clone()),
            Box::new(self.checkpoint_bytes.clone()),
        ]
    }

    /// A snapshot built and published.
    pub fn published(&self, took: Duration) {
        self.publish.observe(took.as_secs_f64());
    }

    /// A partition's state encoded into a checkpoint of `bytes`.
    pub fn checkpoint_encoded(&self, took: Duration, bytes: usize) {
        self.checkpoint
            .with_label_values(&["encode"])
            .observe(took.as_secs_f64());
        self.checkpoint_bytes.observe(bytes as f64);
    }

    /// A checkpoint written durably.
    pub fn checkpoint_written(&self, took: Duration) {
        self.checkpoint
            .with_label_values(&["write"])
            .observe(took.as_secs_f64());
    }
}

/// The ingest API's, per operator (a configured name: bounded). Tokens are never a label.
#[derive(Clone)]
pub struct IngestMetrics {
    requests: IntCounterVec,
    events: IntCounterVec,
    rejections: IntCounterVec,
    bytes: IntCounterVec,
    duration: HistogramVec,
    auth_failures: IntCounterVec,
}

impl IngestMetrics {
    fn new() -> IngestMetrics {
        // INVARIANT: names, labels and buckets are constants that the tests check are valid.
        #[allow(clippy::expect_used)]
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        #[allow(clippy::expect_used)]
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "modeshare_ingest_request_duration_seconds",
                "Time from an authenticated push's headers to its answer, by operator: reading the body, judging each item and waiting until the accepted ones are durable.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                30.0,
            ]),
            &["operator"],
        )
        .expect("valid metric");
        IngestMetrics {
            requests: counter(
                "modeshare_ingest_requests_total",
                "Authenticated pushes by operator and HTTP status (401s are modeshare_ingest_auth_failures_total).",
                &["operator", "status"],
            ),
            events: counter(
                "modeshare_ingest_events_total",
                "Items of answered pushes by operator and outcome: accepted (durable, then counted by the pipeline), rejected at the edge (never reaching the pipeline), duplicate (an earlier item of the same request had its source and id; delivered and counted as a duplicate by the pipeline).",
                &["operator", "outcome"],
            ),
            rejections: counter(
                "modeshare_ingest_rejections_total",
                "Items rejected at the edge by operator and reason (the reasons of modeshare_rejections_total, and source_not_allowed, missing_id).",
                &["operator", "reason"],
            ),
            bytes: counter(
                "modeshare_ingest_bytes_total",
                "Body bytes of authenticated pushes read whole, by operator.",
                &["operator"],
            ),
            duration,
            auth_failures: counter(
                "modeshare_ingest_auth_failures_total",
                "Pushes refused 401, by why: missing (no bearer token) or wrong (a token no operator holds).",
                &["why"],
            ),
        }
    }

    fn all(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.requests.clone()),
            Box::new(self.events.clone()),
            Box::new(self.rejections.clone()),
            Box::new(self.bytes.clone()),
            Box::new(self.duration.clone()),
            Box::new(self.auth_failures.clone()),
        ]
    }

    /// An authenticated request's answer.
    pub fn observe_request(&self, operator: &str, status: u16, bytes: u64, took: Duration) {
        self.requests
            .with_label_values(&[operator, &status.to_string()])
            .inc();
        self.bytes.with_label_values(&[operator]).inc_by(bytes);
        self.duration
            .with_label_values(&[operator])
            .observe(took.as_secs_f64());
    }

    /// The items of an answered push.
    pub fn observe_events(
        &self,
        operator: &str,
        accepted: u64,
        duplicates: u64,
        rejected: &[Reason],
    ) {
        let events = |outcome: &str, n: u64| {
            self.events
                .with_label_values(&[operator, outcome])
                .inc_by(n);
        };
        events("accepted", accepted);
        events("duplicate", duplicates);
        events("rejected", rejected.len() as u64);
        for reason in rejected {
            self.rejections
                .with_label_values(&[operator, reason.as_str()])
                .inc();
        }
    }

    /// A push refused 401.
    pub fn auth_failure(&self, why: &'static str) {
        self.auth_failures.with_label_values(&[why]).inc();
    }
}

/// The polling of operators' Provider APIs, per provider (a configured name: bounded).
#[derive(Clone)]
pub struct ProviderMetrics {
    next_hour: IntGaugeVec,
    delay: IntGaugeVec,
    hours: IntCounterVec,
    pages: IntCounterVec,
    trips: IntCounterVec,
    errors: IntCounterVec,
}

impl ProviderMetrics {
    fn new() -> ProviderMetrics {
        // INVARIANT: names and labels are constants that the tests check are valid.
        #[allow(clippy::expect_used)]
        let counter = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
        };
        #[allow(clippy::expect_used)]
        let next_hour = IntGaugeVec::new(
            Opts::new(
                "modeshare_provider_next_hour_timestamp_seconds",
                "The start of the next hour to fetch from each provider (every hour before it is fetched or skipped): time() minus it is how far polling is behind.",
            ),
            &["provider"],
        )
        .expect("valid metric");
        #[allow(clippy::expect_used)]
        let delay = IntGaugeVec::new(
            Opts::new(
                "modeshare_provider_delay_seconds",
                "Each provider's configured delay: an hour is asked for this long after it ends, so polling is behind by time() minus the next hour's start, minus an hour, minus this.",
            ),
            &["provider"],
        )
        .expect("valid metric");
        ProviderMetrics {
            next_hour,
            delay,
            hours: counter(
                "modeshare_provider_hours_total",
                "Hours polled by provider and outcome: fetched, empty (a valid answer without trips), skipped (answered 202, not processed yet, for longer than give_up_after).",
                &["provider", "outcome"],
            ),
            pages: counter(
                "modeshare_provider_pages_total",
                "Pages fetched and made durable, by provider.",
                &["provider"],
            ),
            trips: counter(
                "modeshare_provider_trips_total",
                "Trips of fetched pages by provider and outcome: accepted (durable, then counted by the pipeline), rejected (with Kafka, dead-lettered), duplicate (within one page).",
                &["provider", "outcome"],
            ),
            errors: counter(
                "modeshare_provider_errors_total",
                "Polls that failed after their retries, by provider and kind (auth, token, rate_limited, server_error, client_error, network, too_many_pages, sink, checkpoint): the hour is asked for again later.",
                &["provider", "kind"],
            ),
        }
    }

    fn all(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.next_hour.clone()),
            Box::new(self.delay.clone()),
            Box::new(self.hours.clone()),
            Box::new(self.pages.clone()),
            Box::new(self.trips.clone()),
            Box::new(self.errors.clone()),
        ]
    }

    /// The next hour to fetch (ms since the epoch).
    pub fn next_hour(&self, provider: &str, start_ms: i64) {
        self.next_hour
            .with_label_values(&[provider])
            .set(start_ms.div_euclid(1000));
    }

    /// The provider's configured delay.
    pub fn delay(&self, provider: &str, delay: Duration) {
        self.delay
            .with_label_values(&[provider])
            .set(i64::try_from(delay.as_secs()).unwrap_or(i64::MAX));
    }

    /// The provider is polled by another instance now: its gauges vanish from this one's
    /// `/metrics` (the counters stay: they count what this process did).
    pub fn forget(&self, provider: &str) {
        let _ = self.next_hour.remove_label_values(&[provider]);
        let _ = self.delay.remove_label_values(&[provider]);
    }

    /// An hour done: `fetched`, `empty` or `skipped`.
    pub fn hour(&self, provider: &str, outcome: &'static str) {
        self.hours.with_label_values(&[provider, outcome]).inc();
    }

    /// A page made durable, with its trips.
    pub fn page(&self, provider: &str, accepted: u64, duplicates: u64, rejected: u64) {
        self.pages.with_label_values(&[provider]).inc();
        for (outcome, n) in [
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ] {
            self.trips.with_label_values(&[provider, outcome]).inc_by(n);
        }
    }

    /// A poll that failed.
    pub fn error(&self, provider: &str, kind: &str) {
        self.errors.with_label_values(&[provider, kind]).inc();
    }
}

impl ServiceMetrics {
    fn new() -> ServiceMetrics {
        // INVARIANT: names and labels are constants that the tests check are valid.
        #[allow(clippy::expect_used)]
        let dead_letter_failures = IntCounterVec::new(
            Opts::new(
                "modeshare_dead_letter_failures_total",
                "Dead letters that cannot be delivered (the topic missing, not authorised, refused), by reason: their partition is not checkpointed until they are, and its messages are read again at the next start.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        #[allow(clippy::expect_used)]
        let build_info = IntGaugeVec::new(
            Opts::new(
                "modeshare_build_info",
                "1, labelled with the version and the git revision of the running binary (modeshare --version).",
            ),
            &["version", "revision"],
        )
        .expect("valid metric");
        #[allow(clippy::expect_used)]
        let start_time = Gauge::with_opts(Opts::new(
            "modeshare_start_time_seconds",
            "When the service started (Unix seconds): time() minus it is the uptime, and a change is a restart.",
        ))
        .expect("valid metric");
        start_time.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        ServiceMetrics {
            dead_letter_failures,
            ingest: IngestMetrics::new(),
            providers: ProviderMetrics::new(),
            pipeline: PipelineMetrics::new(),
            build_info,
            start_time,
            snapshot_encode: histogram(
                "modeshare_snapshot_encode_duration_seconds",
                "Time to encode a published snapshot's families for /metrics (once per snapshot, by the first scrape after it).",
                duration_buckets(),
            ),
        }
    }

    fn all(&self) -> Vec<Box<dyn Collector>> {
        let mut all: Vec<Box<dyn Collector>> = vec![
            Box::new(self.dead_letter_failures.clone()),
            Box::new(self.build_info.clone()),
            Box::new(self.start_time.clone()),
            Box::new(self.snapshot_encode.clone()),
        ];
        all.extend(self.ingest.all());
        all.extend(self.providers.all());
        all.extend(self.pipeline.all());
        all
    }

    /// Names the running build in `modeshare_build_info` (1).
    pub fn build_info(&self, version: &str, revision: &str) {
        self.build_info.reset();
        self.build_info
            .with_label_values(&[version, revision])
            .set(1);
    }

    /// The counters, registered in `registry`.
    fn register(registry: &Registry) -> prometheus::Result<ServiceMetrics> {
        let metrics = ServiceMetrics::new();
        for c in metrics.all() {
            registry.register(c)?;
        }
        Ok(metrics)
    }
}

/// Seconds since the epoch of a date's start in UTC (`2025-12-31`), as Grafana's time axis has it.
fn midnight_seconds(date: &str) -> Option<f64> {
    let date: jiff::civil::Date = date.parse().ok()?;
    let ts = jiff::tz::TimeZone::UTC
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .ok()?;
    Some(ts.as_second() as f64)
}

#[cfg(test)]
mod tests;
