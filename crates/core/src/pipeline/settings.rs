//! The settings a pipeline runs with: each part's validated settings, assembled. Each part
//! validates its own configuration (`FooConfig::validate()` beside the part); the binary builds
//! these from its configuration file.

use crate::publish::{Goal, PublishSettings, Survey};
use crate::space::{DistanceBands, TransitAccess};
use crate::state::WindowSettings;
use crate::vocabulary::{DurationMs, ModeGroups, PersonTripFactors};

/// The validated settings the domain runs with (the binary builds them from its config).
#[derive(Debug, Clone)]
pub struct Settings {
    pub groups: ModeGroups,
    pub goals: Vec<Goal>,
    pub factors: PersonTripFactors,
    pub resolution: h3o::Resolution,
    pub dedup_horizon: DurationMs,
    pub windows: WindowSettings,
    /// Trip distance bands.
    pub bands: DistanceBands,
    /// Which trips start or end near public-transport stops.
    pub access: TransitAccess,
    /// The travel survey that fills unmeasured modes; `None`: measured shares only.
    pub survey: Option<Survey>,
}

impl Settings {
    /// The part of the settings that publishing reads.
    pub fn publishing(&self) -> PublishSettings<'_> {
        PublishSettings {
            groups: &self.groups,
            goals: &self.goals,
            bands: &self.bands,
            access: &self.access,
            survey: self.survey.as_ref(),
            windows: &self.windows,
        }
    }
}
