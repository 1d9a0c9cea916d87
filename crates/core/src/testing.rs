//! The embedded default configuration (`config/default.toml`) for tests and benches, so that
//! they run with the settings a city that configures nothing runs with, read from the same file
//! the binary embeds. Compiled for this crate's own tests and with the `testing` feature (which
//! other crates' tests enable); never part of the service.

use serde::de::DeserializeOwned;

use crate::decode::read_stop_rows;
use crate::pipeline::{Settings, SettingsConfig};
use crate::space::{DistanceBands, DistanceBandsConfig, TransitAccessConfig, Zones};
use crate::state::{WindowSettings, WindowsConfig};
use crate::vocabulary::{ConfigErrors, CountsConfig, PersonTripFactors};

/// The default configuration, as the binary embeds it.
pub const DEFAULT_CONFIG: &str = include_str!("../../../config/default.toml");
/// The default zones: Bærum, and approximate Fornebu and Sandvika.
pub const DEFAULT_ZONES: &str = include_str!("../../../config/zones/baerum.geojson");
/// The default stops of `[transit_access]` (a GTFS `stops.txt`).
pub const DEFAULT_STOPS: &str = include_str!("../../../config/stops/baerum-stops.txt");

/// The value at `path` (dotted, e.g. `"formats.tides"`) of the default configuration, as `T`.
///
/// # Panics
/// When the path is not in the default configuration or does not deserialize into `T`: a test
/// asking for it is wrong.
#[allow(clippy::unwrap_used)]
pub fn default_config<T: DeserializeOwned>(path: &str) -> T {
    let mut value = toml::Value::Table(DEFAULT_CONFIG.parse().unwrap());
    for key in path.split('.') {
        value = value
            .get(key)
            .unwrap_or_else(|| panic!("{path} is not in config/default.toml"))
            .clone();
    }
    value
        .try_into()
        .unwrap_or_else(|e| panic!("config/default.toml {path}: {e}"))
}

/// Validates with a fresh error list, which must stay empty.
fn valid<T>(what: &str, validate: impl FnOnce(&mut ConfigErrors) -> T) -> T {
    let mut errors = ConfigErrors::default();
    let value = validate(&mut errors);
    assert!(
        errors.is_empty(),
        "the default {what} must validate: {errors}"
    );
    value
}

/// The default `[windows]`, validated.
pub fn default_windows() -> WindowSettings {
    valid("[windows]", |e| {
        default_config::<WindowsConfig>("windows").validate(e)
    })
}

/// The default `[counts]`, validated.
pub fn default_factors() -> PersonTripFactors {
    valid("[counts]", |e| {
        default_config::<CountsConfig>("counts").validate(e)
    })
}

/// The default `[distance_bands]`, validated.
pub fn default_bands() -> DistanceBands {
    valid("[distance_bands]", |e| {
        default_config::<DistanceBandsConfig>("distance_bands").validate(e)
    })
}

/// The default `[transit_access]`, as written.
pub fn default_transit_access() -> TransitAccessConfig {
    default_config("transit_access")
}

/// The settings of the default configuration over `zones`, with the embedded stops.
#[allow(clippy::unwrap_used)]
pub fn default_settings(zones: &Zones) -> Settings {
    let sections = DefaultSections {
        spatial: default_config("spatial"),
        groups: default_config("groups"),
        goals: default_config("goals"),
        survey: default_config("survey"),
        counts: default_config("counts"),
        dedup: default_config("dedup"),
        windows: default_config("windows"),
        distance_bands: default_config("distance_bands"),
        transit_access: default_config("transit_access"),
        privacy: default_config("privacy"),
    };
    let stops = read_stop_rows(DEFAULT_STOPS.as_bytes()).unwrap();
    valid("configuration", |e| {
        sections
            .borrowed()
            .validate(zones, &stops, "the embedded Bærum stops", e)
    })
}

struct DefaultSections {
    spatial: crate::space::SpatialConfig,
    groups: crate::vocabulary::GroupsConfig,
    goals: Vec<crate::publish::GoalConfig>,
    survey: crate::publish::SurveyConfig,
    counts: CountsConfig,
    dedup: crate::state::DedupConfig,
    windows: WindowsConfig,
    distance_bands: DistanceBandsConfig,
    transit_access: TransitAccessConfig,
    privacy: crate::publish::PrivacyConfig,
}

impl DefaultSections {
    fn borrowed(&self) -> SettingsConfig<'_> {
        SettingsConfig {
            spatial: &self.spatial,
            groups: &self.groups,
            goals: &self.goals,
            survey: Some(&self.survey),
            counts: &self.counts,
            dedup: &self.dedup,
            windows: &self.windows,
            distance_bands: &self.distance_bands,
            transit_access: &self.transit_access,
            privacy: &self.privacy,
        }
    }
}
