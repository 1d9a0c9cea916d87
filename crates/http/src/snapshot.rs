//! A consistent picture of the state, built by the pipeline task and read by every request.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::civil::Date;
use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::Settings;
use modeshare_core::publish::{Goal, PublishSettings, Survey};
use modeshare_core::publish::{LiveView, Public, live_views};
use modeshare_core::publish::{Report, cell_reports};
use modeshare_core::space::Zones;
use modeshare_core::space::{CellMap, DistanceBands};
use modeshare_core::space::{StopId, TransitAccess};
use modeshare_core::state::{CellWindow, StopTotals, WindowSettings, ZonePair};
use modeshare_core::state::{ModeTotals, SourceCounts, Totals};
use modeshare_core::state::{
    daily_totals, history_from, window_cells, window_stops, window_zone_pairs,
};
use modeshare_core::vocabulary::EventTimeMs;
use modeshare_core::vocabulary::ModeGroups;
use serde::Serialize;

/// A goal as published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalView {
    pub group: String,
    pub target: f64,
    pub target_date: String,
    pub baseline: Option<f64>,
    pub baseline_year: Option<i16>,
}

/// The input partitions a view merged from several instances holds (`/api/zones` `parts`,
/// and with the owners' names on the admin listener's `/api/parts`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PartsStatus {
    /// One per partition, by topic and partition.
    pub parts: Vec<PartStatus>,
    /// Partitions of the topics read (up to their partition count) that no instance has
    /// published.
    pub missing: Vec<MissingPart>,
    /// A part not published again for this long is stale: its owner stopped publishing.
    pub stale_after_seconds: f64,
}

impl PartsStatus {
    /// The stale parts and the missing partitions: what makes the view incomplete.
    pub fn incomplete(&self) -> bool {
        !self.missing.is_empty() || self.parts.iter().any(|p| p.stale)
    }
}

/// One partition's part of the view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartStatus {
    pub topic: String,
    pub partition: i32,
    /// The instance that owns it (host/process), as it published the part: for the admin
    /// listener only, never on the public API.
    #[serde(skip_serializing)]
    pub instance: String,
    /// How old the part is: 0 for the partitions this instance reads itself.
    pub age_seconds: f64,
    /// Older than `stale_after_seconds`.
    pub stale: bool,
}

/// A partition missing from the view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingPart {
    pub topic: String,
    pub partition: i32,
}

/// The Kafka consumer as the service sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BrokerStatus {
    /// At least one broker connection is up.
    pub connected: bool,
    /// Messages behind the high watermark per assigned (topic, partition).
    pub lag: Vec<(String, i32, i64)>,
    /// Partitions owned, per topic.
    pub assigned: Vec<(String, usize)>,
    /// How many partitions each topic has, as the brokers' metadata says.
    pub topic_partitions: Vec<(String, i32)>,
    pub last_error: Option<String>,
    /// Records applied per (topic, partition) since its last durable checkpoint: what a crash
    /// would read again.
    pub unsaved: Vec<(String, i32, u64)>,
    /// Checkpoint writes that failed since the process started.
    pub checkpoint_failures: u64,
    /// Partitions dropped since the process started because another instance had claimed
    /// them (this one had lost them while paused): their state here was stale.
    pub checkpoint_fences: u64,
    /// Messages retention deleted before they were read, per (topic, partition), since the
    /// process started.
    pub skipped: Vec<(String, i32, u64)>,
    /// Why the latest checkpoint write failed, until one succeeds again.
    pub checkpoint_error: Option<String>,
}

/// Where the trips of every rolling window happened, as of one watermark. Summing them costs
/// more than the rest of a snapshot (a cell per piece of 28 days of buckets), so the service
/// refreshes them less often than it publishes and shares them between snapshots.
#[derive(Debug, Clone)]
pub struct Places {
    /// The combined watermark they were summed at (RFC 3339); `None` before the first event.
    pub watermark: Option<String>,
    /// The resolution of the cells (the configured one).
    pub resolution: h3o::Resolution,
    pub windows: Vec<WindowPlaces>,
    /// Person trips per zone and mode on every local day the state keeps, up to the
    /// watermark's day: the history `/api/series` draws trends from.
    pub days: BTreeMap<Date, Vec<ModeTotals>>,
}

impl Places {
    /// The rolling windows' cells and zone pairs of `partitions` at `watermark`.
    pub fn build(
        settings: &Settings,
        partitions: &[&Pipeline],
        watermark: Option<EventTimeMs>,
    ) -> Places {
        let states: Vec<_> = partitions.iter().filter_map(|p| p.windows()).collect();
        let ws = &settings.windows;
        let windows = ws
            .rolling
            .iter()
            .map(|rw| match watermark {
                Some(w) => {
                    let end = ws.bucket_start(w);
                    WindowPlaces {
                        window: rw.label.clone(),
                        start: Some(end.saturating_sub(rw.length).to_rfc3339()),
                        end: Some(end.to_rfc3339()),
                        cells: window_cells(&states, ws, w, rw.length),
                        zone_pairs: window_zone_pairs(&states, ws, w, rw.length),
                        stops: window_stops(&states, ws, w, rw.length),
                    }
                }
                None => WindowPlaces {
                    window: rw.label.clone(),
                    ..WindowPlaces::default()
                },
            })
            .collect();
        let today = watermark.and_then(|w| ws.local_date(w));
        let days = match today.and_then(|d| Some((history_from(d)?, d))) {
            Some((from, to)) => {
                let zone_count = states.first().map_or(0, |s| s.zone_count());
                daily_totals(&states, from, to, zone_count)
            }
            None => BTreeMap::new(),
        };
        Places {
            watermark: watermark.map(|w| w.to_rfc3339()),
            resolution: settings.resolution,
            windows,
            days,
        }
    }
}

/// Where a rolling window's trips happened, before the k rule (applied when published).
#[derive(Debug, Clone, Default)]
pub struct WindowPlaces {
    pub window: String,
    /// Absent before the first event.
    pub start: Option<String>,
    pub end: Option<String>,
    /// Per cell at the configured resolution, per zone set.
    pub cells: CellWindow,
    pub zone_pairs: BTreeMap<ZonePair, ModeTotals>,
    /// Judged trips per stop place they start or end near.
    pub stops: BTreeMap<StopId, StopTotals>,
}

/// Everything `/metrics` and `/api/*` show, at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The report over all state (docs/design.md, "Interfaces") without its cells, which
    /// [`Snapshot::full_report`] builds from `cell_totals` when `/api/report` asks: a city has
    /// thousands of cells, and a snapshot is made four times a second.
    pub report_without_cells: Report,
    /// Person trips per cell over all state, every partition's summed.
    pub cell_totals: Arc<CellMap<ModeTotals>>,
    /// Windows and calendar periods at the combined watermark, exact (for `/metrics` and the
    /// city's admin).
    pub view: Option<LiveView>,
    /// The same under the k rule: what the public API shows.
    pub public_view: Option<LiveView<Public>>,
    /// Outcomes per source (capped; the rest under `other`).
    pub sources: Vec<(String, SourceCounts)>,
    pub goals: Vec<GoalView>,
    pub watermark: Option<EventTimeMs>,
    /// Present when the service consumes from Kafka.
    pub kafka: Option<BrokerStatus>,
    /// Present when the view is merged from the parts several instances publish: which
    /// partitions it holds, from whom, how fresh.
    pub parts: Option<PartsStatus>,
    /// Per rolling window, for `/api/cells` and `/api/od`; possibly of an earlier watermark.
    pub places: Arc<Places>,
    /// What the place APIs need to name and divide their numbers.
    pub groups: ModeGroups,
    pub zone_names: Vec<String>,
    /// The configured zones (shared, not copied), for their outlines on `/api/outlines`.
    pub zones: Zones,
    /// What the breakdowns and the filled basis were computed with, published beside them so
    /// that planners can see every factor.
    pub bands: DistanceBands,
    pub access: TransitAccess,
    pub survey: Option<Survey>,
    /// The rest of what publishing reads, for answers built per request (`/api/series`).
    pub goal_settings: Vec<Goal>,
    pub windows: WindowSettings,
    /// The k rule of the public API.
    pub k: u64,
}

impl Snapshot {
    /// The report over all state, with its cells.
    pub fn full_report(&self) -> Report {
        Report {
            cells: cell_reports(&self.cell_totals),
            ..self.report_without_cells.clone()
        }
    }

    /// What publishing reads, as the snapshot was built with it.
    pub fn publishing(&self) -> PublishSettings<'_> {
        PublishSettings {
            groups: &self.groups,
            goals: &self.goal_settings,
            bands: &self.bands,
            access: &self.access,
            survey: self.survey.as_ref(),
            windows: &self.windows,
            k: self.k,
        }
    }
}

impl Snapshot {
    /// The snapshot of every partition this instance owns, at the combined `watermark`
    /// (with no partitions: every zone empty, the goals still published), places included.
    pub fn build(
        settings: &Settings,
        zones: &Zones,
        partitions: &[&Pipeline],
        watermark: Option<EventTimeMs>,
    ) -> Snapshot {
        let places = Arc::new(Places::build(settings, partitions, watermark));
        Snapshot::build_with_places(settings, zones, partitions, watermark, places)
    }

    /// The same with places summed earlier (see [`Places`]).
    pub fn build_with_places(
        settings: &Settings,
        zones: &Zones,
        partitions: &[&Pipeline],
        watermark: Option<EventTimeMs>,
        places: Arc<Places>,
    ) -> Snapshot {
        let mut totals = Totals::new(zones.len());
        for p in partitions {
            totals.merge(p.totals());
        }
        let states: Vec<_> = partitions.iter().filter_map(|p| p.windows()).collect();
        let views = live_views(&states, settings.publishing(), zones, watermark, settings.k);
        Snapshot {
            report_without_cells: Report::without_cells(&totals, zones, settings.publishing()),
            cell_totals: Arc::new(std::mem::take(&mut totals.by_cell)),
            view: Some(views.exact),
            public_view: Some(views.public),
            sources: std::mem::take(&mut totals.by_source),
            goals: settings
                .goals
                .iter()
                .map(|g| GoalView {
                    group: g.group.clone(),
                    target: g.target,
                    target_date: g.target_date.to_string(),
                    baseline: g.baseline,
                    baseline_year: g.baseline_year,
                })
                .collect(),
            watermark,
            kafka: None,
            parts: None,
            places,
            groups: settings.groups.clone(),
            zone_names: zones.iter().map(|(_, z)| z.name.clone()).collect(),
            zones: zones.clone(),
            bands: settings.bands.clone(),
            access: settings.access.clone(),
            survey: settings.survey.clone(),
            goal_settings: settings.goals.clone(),
            windows: settings.windows.clone(),
            k: settings.k,
        }
    }
}
