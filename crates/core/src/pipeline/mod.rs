//! The pipeline, on top: one input partition's path from bytes to state (decode → dedup →
//! place → classify → total), the settings that assemble every layer's own, checkpoints of
//! a partition's state with the input position they cover, and a replay read in parts on
//! several threads with the report of one. It uses every layer below.

mod settings;

mod partition;

pub mod checkpoint;
mod parallel;

pub use parallel::{ReplayPart, merge_parts, shards_by_index};
pub use partition::{Outcome, Pipeline};
pub use settings::{Settings, SettingsConfig};
