//! One input partition's path from bytes to totals: decode → dedup → bin → total.
//!
//! Every event read gets exactly one [`Outcome`]; the caller decides what else to do with a
//! rejection (print an example, dead-letter it) but never has to count it.

use serde::{Deserialize, Serialize};

use super::settings::Settings;
use crate::decode::{CanonicalDecoder, DecodeError, Decoded, SkipReason};
use crate::publish::Report;
use crate::space::{SpatialIndex, StopMemo, TripClasses, ZoneId, Zones};
use crate::state::{
    Breakdown, DedupKey, DedupMemory, IdShard, SavedClassTally, SavedDedup, SavedTotals,
    SavedWindowBreakdowns, SavedWindows, Totals, WindowState,
};
use crate::vocabulary::{EventTimeMs, Observation};

/// What happened to one event.
#[derive(Debug, PartialEq)]
pub enum Outcome<'a> {
    Accepted,
    /// Same `source` + `id` as an event already accepted; not counted again.
    Duplicate,
    Rejected(DecodeError<'a>),
}

/// The state of one input partition.
#[derive(Debug, Clone)]
pub struct Pipeline {
    settings: Settings,
    decoder: CanonicalDecoder,
    dedup: DedupMemory,
    spatial: SpatialIndex,
    totals: Totals,
    /// Event-time windows and the watermark; absent in batch replays, whose report does not
    /// depend on input order.
    windows: Option<WindowState>,
    /// The zones of the current trip's destination (live: they feed the zone pairs).
    destination_zones: Vec<ZoneId>,
    /// The stops near points seen lately (docks and stations repeat their coordinates).
    stops_near: StopMemo,
}

impl Pipeline {
    fn new(settings: Settings, zones: Zones, dedup: DedupMemory, windows: bool) -> Pipeline {
        let totals = Totals::new(zones.len());
        Pipeline {
            decoder: CanonicalDecoder::new(settings.factors.clone()),
            windows: windows.then(|| WindowState::new(zones.len())),
            spatial: SpatialIndex::new(zones, settings.resolution),
            settings,
            dedup,
            totals,
            destination_zones: Vec::new(),
            stops_near: StopMemo::default(),
        }
    }

    /// A pipeline for a batch replay: ids are remembered exactly, no windows (so the report
    /// is the same whatever the order of the input, and `late` is 0).
    pub fn for_replay(settings: Settings, zones: Zones) -> Pipeline {
        Pipeline::new(settings, zones, DedupMemory::exact(), false)
    }

    /// A pipeline for one live input partition: windows and a watermark; ids are forgotten
    /// once the watermark is the dedup horizon past their event time.
    pub fn live(settings: Settings, zones: Zones) -> Pipeline {
        let dedup = DedupMemory::with_horizon(settings.dedup_horizon);
        Pipeline::new(settings, zones, dedup, true)
    }

    /// A pipeline for one part of a replay read on several threads: as
    /// [`Pipeline::for_replay`], and each id's input position is remembered too.
    pub(crate) fn for_replay_part(settings: Settings, zones: Zones) -> Pipeline {
        Pipeline::new(settings, zones, DedupMemory::positioned(), false)
    }

    /// Whether this is a live pipeline (windows and a dedup horizon), not a batch replay's.
    pub fn is_live(&self) -> bool {
        self.windows.is_some()
    }

    /// The state as a checkpoint stores it: the format-2 part and the breakdowns.
    pub(crate) fn save(&self) -> (SavedPipeline, SavedBreakdowns) {
        self.save_with(self.dedup.save())
    }

    /// The state as [`Pipeline::save`] stores it, without the ids remembered for deduplication:
    /// all that publishing reads.
    pub(crate) fn save_publishable(&self) -> (SavedPipeline, SavedBreakdowns) {
        self.save_with(self.dedup.save_forgetting_ids())
    }

    /// The dedup memory as [`Pipeline::save_publishable`] stores it.
    pub(crate) fn save_dedup_forgetting_ids(&self) -> SavedDedup {
        self.dedup.save_forgetting_ids()
    }

    fn save_with(&self, dedup: SavedDedup) -> (SavedPipeline, SavedBreakdowns) {
        let state = SavedPipeline {
            totals: SavedTotals::save(&self.totals),
            windows: self.windows.as_ref().map(WindowState::save),
            dedup,
        };
        let breakdowns = SavedBreakdowns {
            totals: self.totals.breakdown.save(),
            windows: self.windows.as_ref().map(WindowState::save_breakdowns),
        };
        (state, breakdowns)
    }

    /// A pipeline with the state a checkpoint stored.
    pub(crate) fn restore(
        saved: SavedPipeline,
        breakdowns: SavedBreakdowns,
        settings: Settings,
        zones: Zones,
    ) -> Result<Pipeline, String> {
        let zone_count = zones.len();
        let stop_count = settings.access.stops.places().len();
        let live = saved.windows.is_some();
        let mut pipeline = Pipeline::new(settings, zones, DedupMemory::restore(saved.dedup), live);
        pipeline.totals = saved.totals.restore(zone_count)?;
        pipeline.totals.breakdown = Breakdown::restore(breakdowns.totals, zone_count)?;
        pipeline.windows = saved
            .windows
            .map(|w| WindowState::restore(w, zone_count))
            .transpose()?;
        if let (Some(windows), Some(saved)) = (&mut pipeline.windows, breakdowns.windows) {
            windows.restore_breakdowns(saved, stop_count)?;
        }
        if let Some(windows) = &mut pipeline.windows {
            windows.settle_restored(&pipeline.settings.windows);
        }
        Ok(pipeline)
    }

    /// Observes one non-empty line. `input` names the file or topic and stands in for the
    /// source when the event's own cannot be read; `now` is the clock on the live path.
    pub fn observe_line<'a>(
        &mut self,
        line: &'a [u8],
        input: &str,
        now: Option<EventTimeMs>,
    ) -> Outcome<'a> {
        let decoded = self.decoder.decode(line, now);
        self.observe(decoded, input, now)
    }

    /// A canonical line decoded as a replay decodes it (no clock).
    pub(crate) fn decode<'a>(&self, line: &'a [u8]) -> Result<Observation<'a>, DecodeError<'a>> {
        self.decoder.decode(line, None)
    }

    /// Observes one decoded event of any format; `input` and `now` as for
    /// [`Pipeline::observe_line`].
    pub fn observe<'a>(
        &mut self,
        decoded: Result<Observation<'a>, DecodeError<'a>>,
        input: &str,
        now: Option<EventTimeMs>,
    ) -> Outcome<'a> {
        self.observe_at(decoded, input, now, 0)
    }

    /// [`Pipeline::observe`] of the event at input `position` (which a positioned dedup
    /// memory keeps for the id's first sighting).
    pub(crate) fn observe_at<'a>(
        &mut self,
        decoded: Result<Observation<'a>, DecodeError<'a>>,
        input: &str,
        now: Option<EventTimeMs>,
        position: u64,
    ) -> Outcome<'a> {
        let obs = match decoded {
            Ok(obs) => obs,
            Err(e) => {
                self.observe_rejection(&e, input, now);
                return Outcome::Rejected(e);
            }
        };
        if let Some(id) = &obs.id
            && !self
                .dedup
                .remember_at(DedupKey::new(&obs.source, id), obs.start_time, position)
        {
            self.totals.observe_duplicate(&obs.source, now);
            return Outcome::Duplicate;
        }
        // Only zones matter at the destination (the zone pairs of the live view).
        let has_destination = match (&self.windows, obs.destination) {
            (Some(_), Some(destination)) => {
                self.spatial
                    .zones_at(destination, &mut self.destination_zones);
                true
            }
            _ => false,
        };
        let classes = TripClasses {
            band: self.settings.bands.band_of(&obs),
            access: self
                .settings
                .access
                .judge_remembering(&obs, &mut self.stops_near),
        };
        let placement = self.spatial.place(obs.place);
        let late = match &mut self.windows {
            Some(windows) => {
                let destination_zones = has_destination.then_some(&self.destination_zones[..]);
                let late = windows.observe(
                    &self.settings.windows,
                    &obs,
                    &placement,
                    destination_zones,
                    classes,
                );
                if let Some(watermark) = windows.watermark(&self.settings.windows) {
                    self.dedup.advance_watermark(watermark);
                }
                late
            }
            None => false,
        };
        self.totals
            .observe_accepted(&obs, (placement.cell, placement.zones), classes, late, now);
        Outcome::Accepted
    }

    /// Turns an event this replay pipeline accepted into a duplicate (see
    /// [`Totals::retract_accepted`]); `false`, changing nothing, when `decoded` is not an
    /// event it could have accepted. Replay pipelines only: windows cannot take an event back.
    pub(crate) fn retract(&mut self, decoded: Result<Observation<'_>, DecodeError<'_>>) -> bool {
        let Ok(obs) = decoded else {
            return false;
        };
        if self.windows.is_some() || obs.id.is_none() {
            return false;
        }
        let classes = TripClasses {
            band: self.settings.bands.band_of(&obs),
            access: self
                .settings
                .access
                .judge_remembering(&obs, &mut self.stops_near),
        };
        let placement = self.spatial.place(obs.place);
        self.totals
            .retract_accepted(&obs, (placement.cell, placement.zones), classes);
        true
    }

    /// How many ids the dedup memory holds.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }

    /// The dedup memory (a replay part's shards are resolved through it).
    pub(crate) fn dedup_mut(&mut self) -> &mut DedupMemory {
        &mut self.dedup
    }

    /// Adds what `other` observed to this pipeline's totals, and its ids to this one's memory
    /// when both are positioned (replay parts whose ids were already resolved, so no id is
    /// in both).
    pub(crate) fn absorb(&mut self, mut other: Pipeline) {
        self.totals.merge(&other.totals);
        let mine = self.dedup.shards_mut();
        for (mine, theirs) in mine.iter_mut().zip(other.dedup.shards_mut()) {
            let later = IdShard::resolve(&mut [mine, theirs]);
            debug_assert!(
                later.is_empty(),
                "parts merged before their ids were resolved"
            );
        }
    }

    /// Counts an event rejected before decoding (for example a line over the size limit);
    /// `now` as for [`Pipeline::observe_line`].
    pub fn observe_rejection(
        &mut self,
        error: &DecodeError<'_>,
        input: &str,
        now: Option<EventTimeMs>,
    ) {
        self.totals
            .observe_rejected(error.event_source.as_deref(), input, error.reason, now);
    }

    /// Observes one item of a format decoder: an event gets its outcome (`None` for a row that
    /// is not an event, which is counted as skipped).
    pub fn observe_decoded<'a>(
        &mut self,
        decoded: Decoded<'a>,
        input: &str,
        now: Option<EventTimeMs>,
    ) -> Option<Outcome<'a>> {
        match decoded {
            Decoded::Event(result) => Some(self.observe(result, input, now)),
            Decoded::Skipped { source, reason } => {
                self.observe_skipped(&source, reason);
                None
            }
        }
    }

    /// Counts a row that is not an event (it is not read, accepted or rejected).
    pub fn observe_skipped(&mut self, source: &str, reason: SkipReason) {
        self.totals.observe_skipped(source, reason);
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn zones(&self) -> &Zones {
        self.spatial.zones()
    }

    /// The event-time state of a live pipeline.
    pub fn windows(&self) -> Option<&WindowState> {
        self.windows.as_ref()
    }

    /// This partition's watermark (live pipelines).
    pub fn watermark(&self) -> Option<EventTimeMs> {
        self.windows
            .as_ref()
            .and_then(|w| w.watermark(&self.settings.windows))
    }

    /// The report over everything observed.
    pub fn report(&self) -> Report {
        Report::build(
            &self.totals,
            self.spatial.zones(),
            self.settings.publishing(),
        )
    }

    /// This partition's state as the combined watermark sees it.
    pub fn clock(&self, last_event_at: i64) -> crate::state::PartitionClock {
        crate::state::PartitionClock {
            watermark: self.watermark(),
            last_event_at,
        }
    }
}

/// A pipeline's breakdowns as stored (format 3).
#[derive(Serialize, Deserialize, Default)]
pub(crate) struct SavedBreakdowns {
    pub(crate) totals: Vec<SavedClassTally>,
    pub(crate) windows: Option<SavedWindowBreakdowns>,
}

/// A pipeline's state as stored.
#[derive(Serialize, Deserialize)]
pub(crate) struct SavedPipeline {
    pub(crate) totals: SavedTotals,
    pub(crate) windows: Option<SavedWindows>,
    pub(crate) dedup: SavedDedup,
}
