//! What the unit tests of this crate share.

use std::collections::BTreeMap;

use modeshare_core::config::{ConfigErrors, Settings};
use modeshare_core::factor::PersonTripFactors;
use modeshare_core::goal::{GoalConfig, validate_goals};
use modeshare_core::mode::GroupsConfig;
use modeshare_core::pipeline::Pipeline;
use modeshare_core::time::DurationMs;
use modeshare_core::window::WindowSettings;
use modeshare_core::zone::Zones;

/// A live pipeline over `zones` (GeoJSON) at resolution 9 with one group, `cycling` (bicycle),
/// and its goal (7 %, baseline 3.5 % in 2016).
pub fn live_pipeline(zones: &str) -> Pipeline {
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
    assert!(errors.is_empty(), "{errors}");
    let settings = Settings {
        groups,
        goals,
        factors: PersonTripFactors::default(),
        resolution: h3o::Resolution::Nine,
        dedup_horizon: DurationMs::from_days(35),
        windows: WindowSettings::default(),
    };
    Pipeline::live(settings, Zones::from_geojson(zones).unwrap())
}
