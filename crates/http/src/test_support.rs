//! What the unit tests of this crate share.

use std::collections::BTreeMap;

use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::Settings;
use modeshare_core::publish::{GoalConfig, validate_goals};
use modeshare_core::space::Zones;
use modeshare_core::space::{StopConfig, TransitAccessConfig};
use modeshare_core::state::WindowSettings;
use modeshare_core::vocabulary::ConfigErrors;
use modeshare_core::vocabulary::DurationMs;
use modeshare_core::vocabulary::GroupsConfig;
use modeshare_core::vocabulary::PersonTripFactors;

/// A live pipeline over `zones` (GeoJSON) at resolution 9 with one group, `cycling` (bicycle),
/// and its goal (7 %, baseline 3.5 % in 2016).
pub fn live_pipeline(zones: &str) -> Pipeline {
    live_pipeline_judging(zones, &[], &[])
}

/// The same, with transit access judging trips of `modes` against `stops` (name, (lat, lon))
/// within 200 m.
pub fn live_pipeline_judging(
    zones: &str,
    modes: &[&str],
    stops: &[(&str, (f64, f64))],
) -> Pipeline {
    let zones = Zones::from_geojson(zones).unwrap();
    Pipeline::live(settings(&zones, modes, stops), zones)
}

/// The settings of [`live_pipeline_judging`].
pub fn settings(zones: &Zones, modes: &[&str], stops: &[(&str, (f64, f64))]) -> Settings {
    let mut errors = ConfigErrors::default();
    let groups = GroupsConfig(BTreeMap::from([(
        "cycling".to_owned(),
        vec!["bicycle".to_owned()],
    )]))
    .validate(&mut errors);
    let goal = GoalConfig {
        group: "cycling".into(),
        target: 0.07,
        target_date: "2025-12-31".into(),
        baseline: Some(0.035),
        baseline_year: Some(2016),
    };
    let goals = validate_goals(&[goal], &groups, &mut errors);
    let access = TransitAccessConfig {
        modes: modes.iter().map(|m| (*m).to_owned()).collect(),
        stops: stops
            .iter()
            .map(|(name, (lat, lon))| StopConfig {
                name: (*name).to_owned(),
                lat: *lat,
                lon: *lon,
            })
            .collect(),
        ..TransitAccessConfig::default()
    }
    .validate(&groups, &[], "test stops", zones, &mut errors);
    assert!(errors.is_empty(), "{errors}");
    Settings {
        groups,
        goals,
        factors: PersonTripFactors::default(),
        resolution: h3o::Resolution::Nine,
        dedup_horizon: DurationMs::from_days(35),
        windows: WindowSettings::default(),
        bands: Default::default(),
        access,
        survey: None,
    }
}
