//! The modeshare domain: everything that turns one input line into counted person trips.
//!
//! Owns the canonical event model and its decoder, the mode taxonomy with its goal groups,
//! person-trip factors, H3 + zone binning, deduplication, aggregation, shares and the report.
//!
//! It is pure and synchronous: no tokio, no Kafka, no HTTP, no filesystem and no clock.
//! Time comes in as an argument (`now` for the live range check), zone polygons come in as
//! GeoJSON text. IO crates and the binary wrap it; they never reach into its internals.

pub mod access;
pub mod aggregate;
pub mod breakdown;
mod buckets;
pub mod checkpoint;
pub mod config;
pub mod decode;
pub mod dedup;
pub mod distance;
pub mod event;
pub mod factor;
pub mod goal;
pub mod mode;
pub mod pipeline;
pub mod places;
pub mod privacy;
pub mod report;
pub mod share;
pub mod spatial;
pub mod survey;
pub mod time;
pub mod view;
pub mod window;
pub mod zone;
