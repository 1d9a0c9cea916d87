//! The `modeshare` command: CLI, configuration layering and validation, and the wiring of the
//! core and IO crates into commands. Holds no domain logic of its own.

pub mod checkpoint_claim;
pub mod checkpoint_store;
pub mod cli;
pub mod clock;
pub mod config;
pub mod config_tools;
pub mod failure;
pub mod generate;
pub mod gtfs;
pub mod logging;
pub mod manual;
pub mod partition_checkpoints;
pub mod produce;
pub mod providers;
pub mod rejections;
pub mod replay;
pub mod run;
pub mod shared_view;
pub mod state_dir;
pub mod token;
pub mod version;
