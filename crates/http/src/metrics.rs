//! `/metrics`: the process counters and state gauges of DESIGN.md, encoded from the latest
//! snapshot at scrape time, so label values that vanish from the state vanish from the scrape.
//!
//! Names follow `modeshare_<what>_<unit>`; counters end in `_total`; ratios are 0–1; labels are
//! bounded (zones and groups from config, modes and reasons from fixed lists, sources capped).

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, GaugeVec, Opts, Registry};
use tokio::sync::watch;

use crate::snapshot::Snapshot;

/// Encodes the latest snapshot on every `collect()`.
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
    baseline: GaugeVec,
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
            baseline: gauge(
                "modeshare_goal_baseline_ratio",
                "The group's share in the goal's baseline survey (0–1), with the survey year.",
                &["group", "year"],
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
        }
    }

    fn all(&self) -> [&dyn Collector; 20] {
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
            &self.baseline,
            &self.gap,
            &self.window_end,
            &self.watermark,
            &self.last_event,
            &self.lag,
            &self.assigned,
            &self.connected,
            &self.unsaved,
            &self.checkpoint_failures,
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
        for (zone, z) in &s.report.zones {
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
                    for (mode, trips) in &z.person_trips {
                        self.window_person_trips
                            .with_label_values(&labels(mode))
                            .set(*trips);
                    }
                    for (group, trips) in &z.group_person_trips {
                        self.window_group_person_trips
                            .with_label_values(&labels(group))
                            .set(*trips);
                    }
                    for (group, share) in &z.shares {
                        self.share.with_label_values(&labels(group)).set(*share);
                    }
                    for (group, gap) in &z.goal_gaps {
                        self.gap.with_label_values(&labels(group)).set(*gap);
                    }
                }
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
        }
        if let Some(w) = s.watermark {
            self.watermark
                .with_label_values::<&str>(&[])
                .set(w.0 as f64 / 1000.0);
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
        let families = Families::new();
        families.fill(&snapshot);
        let mut out: Vec<MetricFamily> = families.all().iter().flat_map(|c| c.collect()).collect();
        // A family with no series yet (no goals, no windows) is left out rather than sent empty.
        out.retain(|mf| !mf.get_metric().is_empty());
        out
    }
}

/// The name of every metric family `/metrics` can carry, whether or not the current state fills
/// it (dashboards and rules are checked against this list).
pub fn metric_names() -> Vec<String> {
    Families::new()
        .all()
        .iter()
        .flat_map(|c| c.desc())
        .map(|d| d.fq_name.clone())
        .collect()
}

/// A registry holding the snapshot collector; callers may register more collectors.
pub fn registry(latest: watch::Receiver<Arc<Snapshot>>) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    registry.register(Box::new(SnapshotCollector::new(latest)))?;
    Ok(registry)
}

#[cfg(test)]
mod tests;
