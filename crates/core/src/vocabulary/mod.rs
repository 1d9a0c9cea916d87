//! The vocabulary every other layer speaks: event time and durations, the canonical modes and
//! the groups shares are about, person trips and the factors that turn counts into them, the
//! observation every input decodes into, configuration errors, secrets, and how messages quote
//! values.
//! It uses nothing else of the crate.

mod message;

mod time;

mod config_error;

mod secret;

mod mode;

mod factor;

mod event;

pub use config_error::{ConfigError, ConfigErrors};
pub use event::{Axis, GeoPoint, Kind, Observation};
pub use factor::{CountsConfig, PersonTripFactors, PersonTrips};
pub(crate) use factor::{MAX_COUNT_SETTING, MAX_PERSONS_PER_UNIT, MAX_PERSONS_SETTING};
pub(crate) use message::{number_text, shorten};
pub(crate) use mode::is_label_safe;
pub use mode::{GroupsConfig, Mode, ModeGroup, ModeGroups, ModeSet};
pub use secret::{REDACTED, Secret};
pub use time::{DurationMs, EventTimeMs, TimeProblem, parse_rfc3339};
pub(crate) use time::{EARLIEST_EVENT_TIME, MAX_AHEAD_OF_CLOCK, from_epoch_ms};
