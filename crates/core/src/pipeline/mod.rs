//! The pipeline, on top: one input partition's path from bytes to state (decode → dedup →
//! place → classify → total), the settings that assemble every layer's own, and checkpoints of
//! a partition's state with the input position they cover. It uses every layer below.

mod settings;

mod partition;

pub mod checkpoint;

pub use partition::{Outcome, Pipeline};
pub use settings::{Settings, SettingsConfig};
