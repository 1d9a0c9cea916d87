//! The settings a pipeline runs with: each part's validated settings, assembled. Each part
//! validates its own configuration (`FooConfig::validate()` beside the part); this module only
//! puts them together.

use crate::decode::GtfsStop;
use crate::publish::{
    Goal, GoalConfig, PrivacyConfig, PublishSettings, Survey, SurveyConfig, validate_goals,
};
use crate::space::{
    DistanceBands, DistanceBandsConfig, SpatialConfig, TransitAccess, TransitAccessConfig, Zones,
};
use crate::state::{DedupConfig, WindowSettings, WindowsConfig};
use crate::vocabulary::{
    ConfigErrors, CountsConfig, DurationMs, GroupsConfig, ModeGroups, PersonTripFactors,
};

/// The sections of a configuration that shape a pipeline, as written (borrowed from the file
/// that holds them).
#[derive(Debug, Clone, Copy)]
pub struct SettingsConfig<'a> {
    pub spatial: &'a SpatialConfig,
    pub groups: &'a GroupsConfig,
    pub goals: &'a [GoalConfig],
    pub survey: Option<&'a SurveyConfig>,
    pub counts: &'a CountsConfig,
    pub dedup: &'a DedupConfig,
    pub windows: &'a WindowsConfig,
    pub distance_bands: &'a DistanceBandsConfig,
    pub transit_access: &'a TransitAccessConfig,
    pub privacy: &'a PrivacyConfig,
}

impl SettingsConfig<'_> {
    /// Validates every section, recording each problem in `errors`. `stops` are the stop rows
    /// transit access uses (read by the caller from `stops_source`, which messages name).
    pub fn validate(
        &self,
        zones: &Zones,
        stops: &[GtfsStop],
        stops_source: &str,
        errors: &mut ConfigErrors,
    ) -> Settings {
        let groups = self.groups.validate(errors);
        Settings {
            goals: validate_goals(self.goals, &groups, errors),
            factors: self.counts.validate(errors),
            resolution: self.spatial.validate_resolution(errors),
            dedup_horizon: self.dedup.validate(errors),
            windows: self.windows.validate(errors),
            bands: self.distance_bands.validate(errors),
            access: self
                .transit_access
                .validate(&groups, stops, stops_source, zones, errors),
            survey: self.survey.map(|s| s.validate(errors)),
            k: self.privacy.validate(errors),
            groups,
        }
    }
}

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
    /// The k rule of the public API: numbers of a place standing for fewer events or person
    /// trips are not shown.
    pub k: u64,
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
            k: self.k,
        }
    }
}
