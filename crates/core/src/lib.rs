//! The modeshare domain: everything that turns one input line into counted person trips.
//!
//! It is pure and synchronous: no tokio, no Kafka, no HTTP, no filesystem and no clock.
//! Time comes in as an argument (`now` for the live range check), zone polygons come in as
//! GeoJSON text. IO crates and the binary wrap it; they never reach into its internals.
//!
//! The crate is built in layers, each a module that may use only the layers listed before it
//! (ARCHITECTURE.md draws them; `scripts/check-layers` keeps it so):
//!
//! 1. [`vocabulary`]: time, modes and groups, person trips, the observation, configuration errors;
//! 2. [`decode`]: every input format into observations;
//! 3. [`space`]: H3 cells, zones, distance bands, transit access;
//! 4. [`state`]: per-partition totals, dedup, event-time windows and places;
//! 5. [`publish`]: shares, goals, coverage, the k rule, the report and the live view;
//! 6. [`pipeline`]: one input partition from bytes to state, its settings and checkpoints.
//!
//! `testing` (this crate's tests, and other crates' with the `testing` feature) gives tests and
//! benches the embedded default configuration.

pub mod vocabulary;

pub mod decode;

pub mod space;

pub mod state;

pub mod publish;

pub mod pipeline;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
