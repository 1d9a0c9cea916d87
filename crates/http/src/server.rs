//! The HTTP server: routes, handlers and graceful shutdown.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::snapshot::Snapshot;

#[derive(Clone)]
struct AppState {
    latest: watch::Receiver<Arc<Snapshot>>,
    registry: Registry,
}

/// The routes, for tests that drive them without a socket.
pub fn router(latest: watch::Receiver<Arc<Snapshot>>, registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/zones", get(zones))
        .route("/api/report", get(report))
        .fallback(not_found)
        .with_state(AppState { latest, registry })
}

/// Serves until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    latest: watch::Receiver<Arc<Snapshot>>,
    registry: Registry,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(latest, registry))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut body = Vec::new();
    let encoder = TextEncoder::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding metrics failed: {e}"),
        )
            .into_response(),
    }
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = state.latest.borrow().clone();
    // Degraded, not dead, while Kafka is away (the service keeps serving and reconnects) or
    // checkpoints cannot be written (a crash would read more again).
    let status = match &s.kafka {
        Some(k) if !k.connected || k.checkpoint_error.is_some() => "degraded",
        _ => "ok",
    };
    Json(json!({
        "status": status,
        "watermark": s.watermark.map(|w| w.to_rfc3339()),
        "events": s.report.events,
        "kafka": s.kafka,
    }))
}

async fn zones(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = state.latest.borrow().clone();
    let (watermark, windows) = match &s.view {
        Some(v) => (
            v.watermark.clone(),
            serde_json::to_value(&v.windows).unwrap_or_default(),
        ),
        None => (None, json!([])),
    };
    Json(json!({ "watermark": watermark, "goals": s.goals, "windows": windows }))
}

async fn report(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = state.latest.borrow().clone();
    Json(serde_json::to_value(&s.report).unwrap_or_default())
}

async fn not_found() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(
            json!({ "error": "not found", "endpoints": ["/metrics", "/healthz", "/api/zones", "/api/report"] }),
        ),
    )
}
