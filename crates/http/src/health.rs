//! Health, as the service is *now* — not as of the last snapshot, which stops changing exactly
//! when the pipeline is stuck:
//!
//! - `/livez`: 503 when nothing was published for 3 × the publish interval while input waits
//!   for the pipeline (it is stuck: restart it); else 200. A broker outage never fails it, so
//!   an outage does not restart every instance.
//! - `/readyz`: 503 while state is being restored, before the first snapshot, or when the
//!   brokers have been unreachable for over 30 s (take the instance out of the Service, do not
//!   restart it); else 200.
//! - `/healthz`: the JSON it always gave (status, watermark, events, Kafka), with the status
//!   `ok`, `degraded` (the brokers unreachable now, checkpoints failing, a polled Provider
//!   API over [`PROVIDER_BEHIND`] behind, or a shared view missing a partition or holding a
//!   stale part: still 200) or `stalled` (503, as `/livez`), the time
//!   since the last publish, the age of the last checkpoint, and each polled provider.
//!
//! The pipeline reports its publishes and checkpoints to [`Health`]; what only the binary can
//! see (input waiting, state being restored, the brokers) it answers through [`Probe`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::snapshot::Snapshot;

/// How long the brokers may be unreachable before the instance is no longer ready.
pub const BROKER_GRACE: Duration = Duration::from_secs(30);
/// Publishes that may be missed while input waits before the pipeline counts as stalled.
pub const STALL_PUBLISHES: u32 = 3;

/// How far behind a polled Provider API may fall before `/healthz` says `degraded` (the
/// alert `ModeshareProviderBehind` has the same threshold).
pub const PROVIDER_BEHIND: Duration = Duration::from_secs(3 * 3600);

/// A polled Provider API at this moment.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProviderNow {
    pub name: String,
    /// The start of the next hour to fetch (RFC 3339).
    pub next_hour: String,
    /// Complete hours past their delay that are not fetched yet, in seconds.
    pub behind_seconds: u64,
    /// The kind of the last poll's failure (`auth`, `server_error`…; the log has the
    /// message), until an hour is fetched again.
    pub last_error: Option<String>,
}

/// What the service knows of its brokers at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokersNow {
    pub connected: bool,
    /// How long they have been unreachable, when they are.
    pub down_for: Option<Duration>,
}

/// What only the service's wiring can see.
pub trait Probe: Send + Sync {
    /// Input is waiting for the pipeline (its channel holds batches).
    fn input_pending(&self) -> bool;
    /// Partitions' state is being restored (assigned, not yet taken by the pipeline).
    fn restoring(&self) -> bool;
    /// The brokers, when the service reads Kafka.
    fn brokers(&self) -> Option<BrokersNow>;
    /// The polled Provider APIs.
    fn providers(&self) -> Vec<ProviderNow> {
        Vec::new()
    }
}

/// The times health is judged by, shared by the pipeline task and the handlers.
pub struct Health {
    publish_interval: Duration,
    probe: Arc<dyn Probe>,
    last_publish: Mutex<Option<Instant>>,
    last_checkpoint: Mutex<Option<Instant>>,
}

/// One judgement, for every endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub live: bool,
    pub ready: bool,
    /// Why not ready or not live, for the answer.
    pub reasons: Vec<&'static str>,
    pub brokers: Option<BrokersNow>,
    pub since_last_publish: Option<Duration>,
    pub last_checkpoint_age: Option<Duration>,
}

impl Health {
    pub fn new(publish_interval: Duration, probe: Arc<dyn Probe>) -> Health {
        Health {
            publish_interval,
            probe,
            last_publish: Mutex::new(None),
            last_checkpoint: Mutex::new(None),
        }
    }

    /// A snapshot was published just now.
    pub fn published(&self) {
        if let Ok(mut at) = self.last_publish.lock() {
            *at = Some(Instant::now());
        }
    }

    /// A round of checkpoints was written just now.
    pub fn checkpointed(&self) {
        if let Ok(mut at) = self.last_checkpoint.lock() {
            *at = Some(Instant::now());
        }
    }

    pub fn verdict(&self) -> Verdict {
        let now = Instant::now();
        let age = |at: &Mutex<Option<Instant>>| {
            at.lock()
                .ok()
                .and_then(|a| *a)
                .map(|a| now.saturating_duration_since(a))
        };
        let since_last_publish = age(&self.last_publish);
        let last_checkpoint_age = age(&self.last_checkpoint);
        let brokers = self.probe.brokers();
        let mut reasons = Vec::new();
        let stalled_after = self.publish_interval * STALL_PUBLISHES;
        let stalled =
            since_last_publish.is_some_and(|s| s > stalled_after) && self.probe.input_pending();
        if stalled {
            reasons.push("nothing published for 3 publish intervals while input waits");
        }
        let mut ready = !stalled;
        if since_last_publish.is_none() {
            ready = false;
            reasons.push("no snapshot published yet");
        }
        if self.probe.restoring() {
            ready = false;
            reasons.push("restoring state");
        }
        if brokers.is_some_and(|b| b.down_for.is_some_and(|d| d > BROKER_GRACE)) {
            ready = false;
            reasons.push("the brokers have been unreachable for over 30 s");
        }
        Verdict {
            live: !stalled,
            ready,
            reasons,
            brokers,
            since_last_publish,
            last_checkpoint_age,
        }
    }
}

#[derive(Clone)]
struct HealthState {
    health: Arc<Health>,
    latest: watch::Receiver<Arc<Snapshot>>,
}

/// `/livez`, `/readyz` and `/healthz`.
pub fn router(health: Arc<Health>, latest: watch::Receiver<Arc<Snapshot>>) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/healthz", get(healthz))
        .with_state(HealthState { health, latest })
}

fn probe_answer(ok: bool, v: &Verdict) -> Response {
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({ "ok": ok, "reasons": v.reasons });
    (status, Json(body)).into_response()
}

async fn livez(State(state): State<HealthState>) -> Response {
    let v = state.health.verdict();
    probe_answer(v.live, &v)
}

async fn readyz(State(state): State<HealthState>) -> Response {
    let v = state.health.verdict();
    probe_answer(v.ready, &v)
}

async fn healthz(State(state): State<HealthState>) -> Response {
    let s = state.latest.borrow().clone();
    let v = state.health.verdict();
    let mut kafka = s.kafka.clone();
    if let (Some(k), Some(b)) = (kafka.as_mut(), v.brokers) {
        // The snapshot's view is as old as the last publish; the brokers' is now.
        k.connected = b.connected;
    }
    // Degraded, not dead, while Kafka is away (the service keeps serving and reconnects) or
    // checkpoints cannot be written (a crash would read more again).
    let providers = state.health.probe.providers();
    let provider_behind = providers
        .iter()
        .any(|p| p.behind_seconds > PROVIDER_BEHIND.as_secs());
    // A view shared by several instances is incomplete while a partition is missing or its
    // part is stale: its numbers leave out or lag for those partitions.
    let view_incomplete = s.parts.as_ref().is_some_and(|p| p.incomplete());
    let status = match &kafka {
        _ if !v.live => "stalled",
        Some(k) if !k.connected || k.checkpoint_error.is_some() => "degraded",
        _ if provider_behind || view_incomplete => "degraded",
        _ => "ok",
    };
    let code = if v.live {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let seconds = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
    let body = json!({
        "status": status,
        "ready": v.ready,
        "reasons": v.reasons,
        "watermark": s.watermark.map(|w| w.to_rfc3339()),
        "events": s.report_without_cells.events,
        "since_last_publish_seconds": seconds(v.since_last_publish),
        "last_checkpoint_age_seconds": seconds(v.last_checkpoint_age),
        "kafka": kafka,
        "providers": providers,
        "view": s.parts.as_ref().map(|p| json!({
            "parts": p.parts.len(),
            "missing": p.missing,
            "stale": p.parts.iter().filter(|part| part.stale).collect::<Vec<_>>(),
        })),
    });
    (code, Json(body)).into_response()
}

#[cfg(test)]
mod tests;
