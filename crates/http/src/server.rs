//! The public listener (`http.listen`): read-only routes for anyone who can reach it — the
//! page, the k-ruled API, health, and `/metrics` unless it is served on the admin listener.
//! Raw numbers (`/api/report`) are only on the admin listener ([`crate::admin`]); here they
//! answer 404 saying where they went. The limits every listener shares are in
//! [`crate::listener`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use crate::health::Health;
use crate::metrics::Metrics;
use crate::place_answers::PlaceAnswers;
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
    metrics: Arc<Metrics>,
    api: ApiSettings,
    place_answers: Arc<PlaceAnswers>,
}

/// Which listener serves `/metrics` (`http.metrics_on`). Its numbers are exact (Prometheus sums
/// instances), so it belongs to the city's own Prometheus, never to the internet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsOn {
    Public,
    Admin,
}

/// The OpenAPI description of every route below.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The live page: goal gauges, the zone table and the hex map, drawn from the API.
pub const PAGE: &str = include_str!("page.html");

/// Every route, as the 404 answer and the OpenAPI description list them.
pub const ENDPOINTS: [&str; 12] = [
    "/",
    "/metrics",
    "/healthz",
    "/livez",
    "/readyz",
    "/api/zones",
    "/api/cells",
    "/api/od",
    "/api/stops",
    "/api/series",
    "/api/outlines",
    "/api/openapi.json",
];

/// The public routes (without the limits, which [`crate::listener::with_limits`] adds).
pub fn router(
    latest: watch::Receiver<Arc<Snapshot>>,
    metrics: Arc<Metrics>,
    api: ApiSettings,
    metrics_on: MetricsOn,
    health: Arc<Health>,
) -> Router {
    let metrics_route = match metrics_on {
        MetricsOn::Public => get(scrape),
        MetricsOn::Admin => get(metrics_moved),
    };
    Router::new()
        .route("/", get(page))
        .route("/metrics", metrics_route)
        .route("/api/zones", get(zones))
        .route("/api/report", get(report_moved))
        .route("/api/cells", get(cells))
        .route("/api/od", get(zone_pairs))
        .route("/api/stops", get(stops))
        .route("/api/series", get(trend))
        .route("/api/outlines", get(outlines))
        .route("/api/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(AppState {
            latest: latest.clone(),
            metrics,
            api,
            place_answers: Arc::new(PlaceAnswers::default()),
        })
        .merge(crate::health::router(health, latest))
}

async fn scrape(State(state): State<AppState>) -> Response {
    state.metrics.answer().await
}

async fn metrics_moved() -> Response {
    moved(
        "/metrics is served on the admin listener ([admin] listen, with a bearer token): \
         http.metrics_on = \"admin\"",
    )
}

/// Raw per-cell numbers are not public: they moved to the admin listener.
async fn report_moved() -> Response {
    moved(
        "/api/report (raw per-cell numbers) is served only on the admin listener \
         ([admin] listen, with a bearer token); the public /api/cells, /api/od and \
         /api/stops apply the k rule",
    )
}

fn moved(message: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not found", "message": message, "endpoints": ENDPOINTS })),
    )
        .into_response()
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
    let mut answer = json!({
        "watermark": watermark,
        "goals": s.goals,
        "survey": survey(&s),
        "distance_bands": distance_bands(&s),
        "transit_access": transit_access(&s),
        "windows": windows,
    });
    if let Some(parts) = &s.parts {
        answer["parts"] = serde_json::to_value(parts).unwrap_or_default();
    }
    Json(answer)
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

fn answer(result: Result<serde_json::Value, BadRequest>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(BadRequest(value)) => (StatusCode::BAD_REQUEST, Json(value)).into_response(),
    }
}

async fn cells(State(state): State<AppState>, Query(query): Query<CellsQuery>) -> Response {
    let s = state.latest.borrow().clone();
    let question = format!(
        "cells {:?} {:?} {:?}",
        query.resolution, query.window, query.zone
    );
    kept_answer(state.place_answers.answer(&s.places, question, || {
        places::cells(&s, &query, state.api.k)
    }))
}

async fn zone_pairs(
    State(state): State<AppState>,
    Query(query): Query<ZonePairsQuery>,
) -> Response {
    let s = state.latest.borrow().clone();
    let question = format!("od {:?}", query.window);
    kept_answer(state.place_answers.answer(&s.places, question, || {
        places::zone_pairs(&s, &query, state.api.k)
    }))
}

async fn stops(State(state): State<AppState>, Query(query): Query<StopsQuery>) -> Response {
    let s = state.latest.borrow().clone();
    let question = format!(
        "stops {:?} {:?} {:?}",
        query.window, query.zone, query.limit
    );
    kept_answer(state.place_answers.answer(&s.places, question, || {
        places::stops(&s, &query, state.api.k)
    }))
}

/// A place endpoint's JSON bytes, or its refusal.
fn kept_answer(result: Result<axum::body::Bytes, BadRequest>) -> Response {
    match result {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(BadRequest(value)) => (StatusCode::BAD_REQUEST, Json(value)).into_response(),
    }
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
