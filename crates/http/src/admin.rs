//! The admin listener (`[admin] listen`, off unless configured): raw numbers for whoever holds
//! an admin token — the report over all state (`/api/report`, every cell's person trips per
//! mode, no k rule), the shared view's parts with the instance that owns each (`/api/parts`),
//! and `/metrics` when `http.metrics_on = "admin"`. Every route, the 404
//! included, needs `Authorization: Bearer <token>` ([`crate::auth`]); the binary serves it
//! over TLS, or plain HTTP on loopback only unless told otherwise.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::watch;
use tower_http::validate_request::ValidateRequestHeaderLayer;

use crate::auth::{BearerAuth, TokenHashes};
use crate::metrics::Metrics;
use crate::server::MetricsOn;
use crate::snapshot::Snapshot;

/// The realm the 401 challenge names.
pub const REALM: &str = "modeshare admin";

#[derive(Clone)]
struct AdminState {
    latest: watch::Receiver<Arc<Snapshot>>,
    metrics: Arc<Metrics>,
}

/// The admin routes behind the bearer-token check (without the limits, which
/// [`crate::listener::with_limits`] adds).
pub fn router(
    latest: watch::Receiver<Arc<Snapshot>>,
    metrics: Arc<Metrics>,
    metrics_on: MetricsOn,
    tokens: TokenHashes,
) -> Router {
    let mut router = Router::new()
        .route("/api/report", get(report))
        .route("/api/parts", get(parts));
    if metrics_on == MetricsOn::Admin {
        router = router.route("/metrics", get(scrape));
    }
    let endpoints = endpoints(metrics_on);
    router
        .fallback(move || not_found(endpoints.clone()))
        .with_state(AdminState { latest, metrics })
        .layer(ValidateRequestHeaderLayer::custom(BearerAuth::new(
            tokens, REALM,
        )))
}

/// The admin routes, as its 404 lists them.
pub fn endpoints(metrics_on: MetricsOn) -> Vec<&'static str> {
    match metrics_on {
        MetricsOn::Admin => vec!["/api/report", "/api/parts", "/metrics"],
        MetricsOn::Public => vec!["/api/report", "/api/parts"],
    }
}

async fn report(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let s = state.latest.borrow().clone();
    Json(serde_json::to_value(s.full_report()).unwrap_or_default())
}

/// The parts of a view shared by several instances, as `/api/zones` gives them, with the
/// instance (host/process) that owns each; `null` when the view is this instance's alone.
async fn parts(State(state): State<AdminState>) -> Json<serde_json::Value> {
    let s = state.latest.borrow().clone();
    Json(match &s.parts {
        Some(status) => {
            let mut answer = serde_json::to_value(status).unwrap_or_default();
            for (shown, part) in answer["parts"]
                .as_array_mut()
                .into_iter()
                .flatten()
                .zip(&status.parts)
            {
                shown["instance"] = json!(part.instance);
            }
            answer
        }
        None => serde_json::Value::Null,
    })
}

async fn scrape(State(state): State<AdminState>) -> Response {
    state.metrics.answer().await
}

async fn not_found(endpoints: Vec<&'static str>) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "not found", "endpoints": endpoints })),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
