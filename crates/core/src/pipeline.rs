//! One input partition's path from bytes to totals: decode → dedup → bin → total.
//!
//! Every event read gets exactly one [`Outcome`]; the caller decides what else to do with a
//! rejection (print an example, dead-letter it) but never has to count it.

use crate::aggregate::Totals;
use crate::config::Settings;
use crate::decode::{CanonicalDecoder, DecodeError};
use crate::dedup::{DedupKey, DedupMemory};
use crate::report::Report;
use crate::spatial::SpatialIndex;
use crate::time::EventTimeMs;
use crate::zone::Zones;

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
}

impl Pipeline {
    pub fn new(settings: Settings, zones: Zones, dedup: DedupMemory) -> Pipeline {
        let totals = Totals::new(zones.len());
        Pipeline {
            decoder: CanonicalDecoder::new(settings.factors.clone()),
            spatial: SpatialIndex::new(zones, settings.resolution),
            settings,
            dedup,
            totals,
        }
    }

    /// A pipeline for a batch replay: ids are remembered exactly.
    pub fn for_replay(settings: Settings, zones: Zones) -> Pipeline {
        Pipeline::new(settings, zones, DedupMemory::exact())
    }

    /// Observes one non-empty line. `input` names the file or topic and stands in for the
    /// source when the event's own cannot be read; `now` is the clock on the live path.
    pub fn observe_line<'a>(
        &mut self,
        line: &'a [u8],
        input: &str,
        now: Option<EventTimeMs>,
    ) -> Outcome<'a> {
        let obs = match self.decoder.decode(line, now) {
            Ok(obs) => obs,
            Err(e) => {
                self.observe_rejection(&e, input);
                return Outcome::Rejected(e);
            }
        };
        if let Some(id) = &obs.id
            && !self
                .dedup
                .remember(DedupKey::new(&obs.source, id), obs.start_time)
        {
            self.totals.observe_duplicate(&obs.source);
            return Outcome::Duplicate;
        }
        let placement = self.spatial.place(obs.place);
        self.totals
            .observe_accepted(&obs, placement.cell, placement.zones);
        Outcome::Accepted
    }

    /// Counts an event rejected before decoding (for example a line over the size limit).
    pub fn observe_rejection(&mut self, error: &DecodeError<'_>, input: &str) {
        let source = error.event_source.as_deref().unwrap_or(input);
        self.totals.observe_rejected(source, error.reason);
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

    /// The report over everything observed.
    pub fn report(&self) -> Report {
        Report::build(&self.totals, self.spatial.zones(), &self.settings.groups)
    }
}
