//! The HTTP server: routes, handlers and graceful shutdown.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::places::{self, BadRequest, CellsQuery, StopsQuery, ZonePairsQuery};
use crate::series::SeriesQuery;
use crate::snapshot::Snapshot;

/// How the API publishes.
#[derive(Debug, Clone, Copy)]
pub struct ApiSettings {
    /// The k rule of cell-level outputs.
    pub k: u64,
}

#[derive(Clone)]
struct AppState {
    latest: watch::Receiver<Arc<Snapshot>>,
    registry: Registry,
    api: ApiSettings,
}

/// The OpenAPI description of every route below.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The live page: goal gauges, the zone table and the hex map, drawn from the API.
pub const PAGE: &str = include_str!("page.html");

/// Every route, as the 404 answer and the OpenAPI description list them.
pub const ENDPOINTS: [&str; 11] = [
    "/",
    "/metrics",
    "/healthz",
    "/api/zones",
    "/api/report",
    "/api/cells",
    "/api/od",
    "/api/stops",
    "/api/series",
    "/api/outlines",
    "/api/openapi.json",
];

/// The routes, for tests that drive them without a socket.
pub fn router(
    latest: watch::Receiver<Arc<Snapshot>>,
    registry: Registry,
    api: ApiSettings,
) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/zones", get(zones))
        .route("/api/report", get(report))
        .route("/api/cells", get(cells))
        .route("/api/od", get(zone_pairs))
        .route("/api/stops", get(stops))
        .route("/api/series", get(trend))
        .route("/api/outlines", get(outlines))
        .route("/api/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(AppState {
            latest,
            registry,
            api,
        })
}

/// Serves until `shutdown` is cancelled, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    latest: watch::Receiver<Arc<Snapshot>>,
    registry: Registry,
    api: ApiSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(latest, registry, api))
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
    let (watermark, windows) = match &s.public_view {
        Some(v) => (
            v.watermark.clone(),
            serde_json::to_value(&v.windows).unwrap_or_default(),
        ),
        None => (None, json!([])),
    };
    Json(json!({
        "watermark": watermark,
        "goals": s.goals,
        "survey": survey(&s),
        "distance_bands": distance_bands(&s),
        "transit_access": transit_access(&s),
        "windows": windows,
    }))
}

/// The survey the filled basis uses, with every mode share it fills from.
fn survey(s: &Snapshot) -> serde_json::Value {
    match &s.survey {
        Some(survey) => json!({
            "name": survey.name,
            "year": survey.year,
            "shares": survey
                .shares()
                .map(|(m, share)| (m.as_str(), share))
                .collect::<std::collections::BTreeMap<_, _>>(),
        }),
        None => serde_json::Value::Null,
    }
}

/// The bands with their edges in metres, in order, `unknown` last.
fn distance_bands(s: &Snapshot) -> serde_json::Value {
    s.bands
        .all()
        .map(|b| {
            let (min_m, max_m) = s.bands.range_m(b);
            json!({ "band": s.bands.label(b), "min_m": min_m, "max_m": max_m })
        })
        .collect()
}

/// What transit access judges and by which stops; null when it is off.
fn transit_access(s: &Snapshot) -> serde_json::Value {
    let a = &s.access;
    if !a.is_enabled() {
        return serde_json::Value::Null;
    }
    json!({
        "modes": a.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "radius_m": a.radius_m,
        "stop_places": a.stops.places().len(),
        "stops": a.stops.stop_count(),
        "stops_source": a.stops_source,
    })
}

async fn report(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = state.latest.borrow().clone();
    Json(serde_json::to_value(&s.report).unwrap_or_default())
}

fn answer(result: Result<serde_json::Value, BadRequest>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(BadRequest(value)) => (StatusCode::BAD_REQUEST, Json(value)).into_response(),
    }
}

async fn cells(State(state): State<AppState>, Query(query): Query<CellsQuery>) -> Response {
    let s = state.latest.borrow().clone();
    answer(places::cells(&s, &query, state.api.k))
}

async fn zone_pairs(
    State(state): State<AppState>,
    Query(query): Query<ZonePairsQuery>,
) -> Response {
    let s = state.latest.borrow().clone();
    answer(places::zone_pairs(&s, &query, state.api.k))
}

async fn stops(State(state): State<AppState>, Query(query): Query<StopsQuery>) -> Response {
    let s = state.latest.borrow().clone();
    answer(places::stops(&s, &query, state.api.k))
}

async fn trend(State(state): State<AppState>, Query(query): Query<SeriesQuery>) -> Response {
    let s = state.latest.borrow().clone();
    answer(crate::series::answer(&s, &query))
}

async fn outlines(State(state): State<AppState>) -> Json<serde_json::Value> {
    let s = state.latest.borrow().clone();
    Json(crate::outlines::outlines(&s))
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn not_found() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not found", "endpoints": ENDPOINTS })),
    )
}
