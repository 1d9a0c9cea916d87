//! A replay read on several threads, with the report of reading it on one.
//!
//! The caller cuts the input into units (line-aligned byte ranges of a file, whole files) and
//! gives each thread a [`ReplayPart`] of its own, which observes the units that thread reads, in
//! input order, each event with its input position. No state is shared while events flow.
//! Sums are exact integers, so adding the parts' totals in any order gives the one-thread
//! totals — except for duplicates across parts: an id whose first sighting in a part is not its
//! first in the input was counted by that part. [`shards_by_index`] lines up every part's
//! ids shard by shard; [`IdShard::resolve`] (one call per shard, on as many threads as the
//! caller likes) keeps each id's earliest position and names the later sightings that were
//! counted; their parts [retract](ReplayPart::retract_line) them, re-reading those events;
//! [`merge_parts`] then adds the parts up. The dedup memory stays one entry per distinct id per
//! part (16 bytes of key and 8 of position), and the resolution leaves one per distinct id.

use super::partition::{Outcome, Pipeline};
use super::settings::Settings;
use crate::decode::{DecodeError, Decoded, SkipReason};
use crate::space::Zones;
use crate::state::{IdShard, SHARDS};

/// What one thread of a parallel replay has read: a replay pipeline whose dedup memory keeps
/// each id's input position.
#[derive(Debug, Clone)]
pub struct ReplayPart {
    pipeline: Pipeline,
}

impl ReplayPart {
    pub fn new(settings: Settings, zones: Zones) -> ReplayPart {
        ReplayPart {
            pipeline: Pipeline::for_replay_part(settings, zones),
        }
    }

    /// Observes the non-empty line at input `position`: a number unique to the event that
    /// orders the events as the input does (earlier events, smaller positions). A part must
    /// observe its events in increasing position.
    pub fn observe_line<'a>(&mut self, line: &'a [u8], input: &str, position: u64) -> Outcome<'a> {
        let decoded = self.pipeline.decode(line);
        self.pipeline.observe_at(decoded, input, None, position)
    }

    /// Observes one item of a format decoder at input `position` (as for
    /// [`ReplayPart::observe_line`]); `None` for a row that is not an event.
    pub fn observe_decoded<'a>(
        &mut self,
        decoded: Decoded<'a>,
        input: &str,
        position: u64,
    ) -> Option<Outcome<'a>> {
        match decoded {
            Decoded::Event(result) => Some(self.pipeline.observe_at(result, input, None, position)),
            Decoded::Skipped { source, reason } => {
                self.observe_skipped(&source, reason);
                None
            }
        }
    }

    /// Counts an event rejected before decoding (a line over the size limit).
    pub fn observe_rejection(&mut self, error: &DecodeError<'_>, input: &str) {
        self.pipeline.observe_rejection(error, input, None);
    }

    /// Counts a row that is not an event.
    pub fn observe_skipped(&mut self, source: &str, reason: SkipReason) {
        self.pipeline.observe_skipped(source, reason);
    }

    /// Turns the event on `line`, which this part accepted, into a duplicate (its id was seen
    /// earlier in the input by another part). `false`, changing nothing, when the line does
    /// not decode to an event with an id (the input changed since it was read).
    pub fn retract_line(&mut self, line: &[u8]) -> bool {
        let decoded = self.pipeline.decode(line);
        self.pipeline.retract(decoded)
    }

    /// [`ReplayPart::retract_line`] for an item of a format decoder.
    pub fn retract_decoded(&mut self, decoded: Decoded<'_>) -> bool {
        match decoded {
            Decoded::Event(result) => self.pipeline.retract(result),
            Decoded::Skipped { .. } => false,
        }
    }

    /// The state so far (its totals count events another part may yet take as duplicates).
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

/// Every part's ids, shard by shard: entry `s` holds shard `s` of each part, in the order of
/// `parts`; give each to [`IdShard::resolve`].
pub fn shards_by_index<'a>(
    parts: impl IntoIterator<Item = &'a mut ReplayPart>,
) -> Vec<Vec<&'a mut IdShard>> {
    let mut by_index: Vec<Vec<&mut IdShard>> = (0..SHARDS).map(|_| Vec::new()).collect();
    for part in parts {
        for (s, shard) in part
            .pipeline
            .dedup_mut()
            .shards_mut()
            .iter_mut()
            .enumerate()
        {
            by_index[s].push(shard);
        }
    }
    by_index
}

/// The replay pipeline of all parts together (`None` without parts), once every shard is
/// resolved and every later sighting retracted: its report is the one-thread replay's. Its
/// dedup memory holds every id.
pub fn merge_parts(parts: Vec<ReplayPart>) -> Option<Pipeline> {
    let mut parts = parts.into_iter();
    let mut merged = parts.next()?.pipeline;
    for part in parts {
        merged.absorb(part.pipeline);
    }
    Some(merged)
}

#[cfg(test)]
mod tests;
