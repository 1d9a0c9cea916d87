#![allow(clippy::unwrap_used)]

use axum::body::{Body, to_bytes};
use axum::http::{Request, header};
use tower::ServiceExt;

use super::*;
use crate::auth::token_sha256;
use crate::server::ApiSettings;

const ZONES: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"Fornebu"},"geometry":{"type":"Polygon","coordinates":[[[10.60,59.88],[10.65,59.88],[10.65,59.91],[10.60,59.91],[10.60,59.88]]]}}]}"#;

/// The snapshot of one trip, and the metrics over it.
fn published() -> (watch::Receiver<Arc<Snapshot>>, Arc<Metrics>) {
    let mut p = crate::test_support::live_pipeline(ZONES);
    let line = br#"{"kind":"trip","id":"1","source":"voi","mode":"bicycle","start_time":1714608000000,"origin":{"lat":59.89,"lon":10.62}}"#;
    p.observe_line(line, "test", None);
    let snapshot = Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark());
    // The receiver keeps the last snapshot after the sender is gone.
    let (_, rx) = watch::channel(Arc::new(snapshot));
    let metrics = Arc::new(Metrics::new(rx.clone()).unwrap());
    (rx, metrics)
}

fn admin(metrics_on: MetricsOn) -> Router {
    let (latest, metrics) = published();
    let tokens = TokenHashes::parse(&[token_sha256("admin-token")]).unwrap();
    router(latest, metrics, metrics_on, tokens)
}

struct Idle;

impl crate::health::Probe for Idle {
    fn input_pending(&self) -> bool {
        false
    }
    fn restoring(&self) -> bool {
        false
    }
    fn brokers(&self) -> Option<crate::health::BrokersNow> {
        None
    }
}

fn public(metrics_on: MetricsOn) -> Router {
    let (latest, metrics) = published();
    let health = crate::health::Health::new(std::time::Duration::from_secs(1), Arc::new(Idle));
    crate::server::router(
        latest,
        metrics,
        ApiSettings { k: 10 },
        metrics_on,
        Arc::new(health),
    )
}

async fn call(app: &Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get(path);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let answer = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = answer.status();
    let body = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_report_needs_the_admin_token() {
    let app = admin(MetricsOn::Public);
    for token in [None, Some("wrong")] {
        let (status, body) = call(&app, "/api/report", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(!body.contains("cells"), "{body}");
    }
    // An unauthenticated caller learns nothing about the routes either.
    assert_eq!(call(&app, "/nope", None).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&app, "/api/report", Some("admin-token")).await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["events"]["accepted"], 1);
    assert_eq!(
        report["cells"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    let (status, body) = call(&app, "/nope", Some("admin-token")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("/api/report"), "{body}");
}

#[tokio::test]
async fn the_public_listener_says_where_the_report_went() {
    let app = public(MetricsOn::Public);
    let (status, body) = call(&app, "/api/report", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("admin listener"), "{message}");
    assert!(!body.contains("\"cells\""), "{body}");
    // A token does not open it on the public listener.
    let (status, _) = call(&app, "/api/report", Some("admin-token")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_are_served_where_metrics_on_says() {
    let (status, body) = call(&public(MetricsOn::Public), "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("modeshare_events_total"));
    assert_eq!(
        call(&admin(MetricsOn::Public), "/metrics", Some("admin-token"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let (status, body) = call(&public(MetricsOn::Admin), "/metrics", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("admin listener"), "{body}");
    let app = admin(MetricsOn::Admin);
    assert_eq!(
        call(&app, "/metrics", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = call(&app, "/metrics", Some("admin-token")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("modeshare_events_total"));
}

#[tokio::test]
async fn the_owners_of_the_parts_are_named_on_the_admin_listener_only() {
    use crate::snapshot::{PartStatus, PartsStatus};
    let p = crate::test_support::live_pipeline(ZONES);
    let mut snapshot = Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark());
    snapshot.parts = Some(PartsStatus {
        parts: vec![PartStatus {
            topic: "trips".into(),
            partition: 0,
            instance: "modeshare-worker-7c9f/1".into(),
            age_seconds: 2.5,
            stale: false,
        }],
        missing: vec![],
        stale_after_seconds: 150.0,
    });
    let (_, latest) = watch::channel(Arc::new(snapshot));
    let metrics = Arc::new(Metrics::new(latest.clone()).unwrap());
    let tokens = TokenHashes::parse(&[token_sha256("admin-token")]).unwrap();
    let app = router(latest.clone(), metrics.clone(), MetricsOn::Public, tokens);

    assert_eq!(
        call(&app, "/api/parts", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = call(&app, "/api/parts", Some("admin-token")).await;
    assert_eq!(status, StatusCode::OK);
    let parts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parts["parts"][0]["instance"], "modeshare-worker-7c9f/1");
    assert_eq!(parts["parts"][0]["age_seconds"], 2.5);

    let health = crate::health::Health::new(std::time::Duration::from_secs(1), Arc::new(Idle));
    let public = crate::server::router(
        latest,
        metrics,
        ApiSettings { k: 10 },
        MetricsOn::Public,
        Arc::new(health),
    );
    let (status, body) = call(&public, "/api/zones", None).await;
    assert_eq!(status, StatusCode::OK);
    let zones: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(zones["parts"]["parts"][0]["partition"], 0);
    assert!(!body.contains("worker-7c9f"), "{body}");
}
