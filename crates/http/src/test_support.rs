//! What the unit tests of this crate share.

use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::Settings;
use modeshare_core::space::Zones;
use modeshare_core::space::{StopConfig, TransitAccessConfig};
use modeshare_core::vocabulary::ConfigErrors;

/// A live pipeline over `zones` (GeoJSON) with the default configuration's settings, but no
/// transit access.
pub fn live_pipeline(zones: &str) -> Pipeline {
    live_pipeline_judging(zones, &[], &[])
}

/// The same, with transit access judging trips of `modes` against `stops` (name, (lat, lon))
/// within the default radius (200 m).
pub fn live_pipeline_judging(
    zones: &str,
    modes: &[&str],
    stops: &[(&str, (f64, f64))],
) -> Pipeline {
    let zones = Zones::from_geojson(zones).unwrap();
    Pipeline::live(settings(&zones, modes, stops), zones)
}

/// The settings of [`live_pipeline_judging`]: the default configuration's, with its own
/// transit access.
pub fn settings(zones: &Zones, modes: &[&str], stops: &[(&str, (f64, f64))]) -> Settings {
    let mut settings = modeshare_core::testing::default_settings(zones);
    let mut errors = ConfigErrors::default();
    settings.access = TransitAccessConfig {
        modes: modes.iter().map(|m| (*m).to_owned()).collect(),
        stops: stops
            .iter()
            .map(|(name, (lat, lon))| StopConfig {
                name: (*name).to_owned(),
                lat: *lat,
                lon: *lon,
            })
            .collect(),
        ..modeshare_core::testing::default_transit_access()
    }
    .validate(&settings.groups, &[], "test stops", zones, &mut errors);
    assert!(errors.is_empty(), "{errors}");
    settings
}
