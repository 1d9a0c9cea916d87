//! modeshare's HTTP face: `/metrics` for Prometheus, `/healthz`, and the JSON API
//! (`/api/zones`, `/api/report`, the hex map `/api/cells`, the zone pairs `/api/od`, the stop
//! places `/api/stops`, the trends `/api/series`, the zones' outlines `/api/outlines`, and its
//! OpenAPI description).
//!
//! Owns the published [`Snapshot`](snapshot::Snapshot) and everything that encodes it. It reads
//! snapshots the pipeline publishes and never touches live state, so a slow scrape cannot stall
//! ingestion. Depends on the core for the types it encodes, never on sources or Kafka.

pub mod metrics;
pub mod outlines;
pub mod places;
pub mod series;
pub mod server;
pub mod snapshot;

#[cfg(test)]
mod test_support;
