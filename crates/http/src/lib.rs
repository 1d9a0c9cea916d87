//! modeshare's HTTP face: `/metrics` for Prometheus, `/healthz`, and the JSON API
//! (`/api/zones`, the hex map `/api/cells`, the zone pairs `/api/od`, the stop places
//! `/api/stops`, the trends `/api/series`, the zones' outlines `/api/outlines`, and its OpenAPI
//! description) on the public listener;
//! the raw report on the admin listener; the operators' pushes on the ingest listener.
//!
//! Listeners are kept apart by trust level, each a router of its own (`server.rs` the public
//! one, `admin.rs` the admin one, `ingest.rs` the operators' one) inside the stack every listener shares (`listener.rs`:
//! timeouts, load shedding, connection and size limits; `tls.rs`; `auth.rs`: bearer tokens
//! checked against hashes).
//!
//! Owns the published [`Snapshot`](snapshot::Snapshot) and everything that encodes it. It reads
//! snapshots the pipeline publishes and never touches live state, so a slow scrape cannot stall
//! ingestion. Depends on the core for the types it encodes, never on sources or Kafka.

pub mod admin;
pub mod auth;
pub mod health;
pub mod ingest;
pub mod listener;
pub mod metrics;
pub mod outlines;
pub mod place_answers;
pub mod places;
pub mod series;
pub mod server;
pub mod snapshot;
pub mod tls;

#[cfg(test)]
mod test_support;
