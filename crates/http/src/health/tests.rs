#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, to_bytes};
use axum::http::Request;
use modeshare_core::space::Zones;
use tower::ServiceExt;

use super::*;
use crate::snapshot::BrokerStatus;

/// A probe the test sets by hand.
#[derive(Default)]
struct Hand {
    pending: AtomicBool,
    restoring: AtomicBool,
    brokers: Mutex<Option<BrokersNow>>,
    providers: Mutex<Vec<ProviderNow>>,
}

impl Probe for Hand {
    fn input_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }
    fn restoring(&self) -> bool {
        self.restoring.load(Ordering::Relaxed)
    }
    fn brokers(&self) -> Option<BrokersNow> {
        *self.brokers.lock().unwrap()
    }
    fn providers(&self) -> Vec<ProviderNow> {
        self.providers.lock().unwrap().clone()
    }
}

fn setup(kafka: Option<BrokerStatus>) -> (Arc<Hand>, Arc<Health>, Router) {
    let probe = Arc::new(Hand::default());
    let health = Arc::new(Health::new(Duration::from_millis(250), probe.clone()));
    let zones = Zones::from_geojson(r#"{"type":"FeatureCollection","features":[]}"#).unwrap();
    let settings = modeshare_core::testing::default_settings(&zones);
    let mut snapshot = Snapshot::build(&settings, &zones, &[], None);
    snapshot.kafka = kafka;
    let (_, latest) = watch::channel(Arc::new(snapshot));
    let app = router(health.clone(), latest);
    (probe, health, app)
}

async fn get(app: &Router, path: &str) -> (StatusCode, serde_json::Value) {
    let request = Request::get(path).body(Body::empty()).unwrap();
    let answer = app.clone().oneshot(request).await.unwrap();
    let status = answer.status();
    let body = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_stalled_pipeline_fails_livez_only_while_input_waits() {
    let (probe, health, app) = setup(None);
    // Before the first publish: alive, not ready.
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    assert_eq!(
        get(&app, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    health.published();
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    probe.pending.store(true, Ordering::Relaxed);
    tokio::time::advance(Duration::from_millis(700)).await;
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    // No publish for more than 3 × 250 ms while input waits: stuck.
    tokio::time::advance(Duration::from_millis(100)).await;
    let (status, body) = get(&app, "/livez").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        get(&app, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "stalled");
    assert!(
        body["since_last_publish_seconds"].as_f64().unwrap() >= 0.8,
        "{body}"
    );
    // Nothing waiting: idle, not stuck.
    probe.pending.store(false, Ordering::Relaxed);
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    // Input waits again, and a publish comes: alive.
    probe.pending.store(true, Ordering::Relaxed);
    health.published();
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_broker_outage_fails_readyz_after_30_s_but_never_livez() {
    let kafka = BrokerStatus {
        connected: true,
        ..BrokerStatus::default()
    };
    let (probe, health, app) = setup(Some(kafka));
    health.published();
    health.checkpointed();
    let down = |s: u64| {
        Some(BrokersNow {
            connected: false,
            down_for: Some(Duration::from_secs(s)),
        })
    };
    *probe.brokers.lock().unwrap() = down(10);
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    // The snapshot still says connected; /healthz says what the brokers are now.
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["kafka"]["connected"], false);
    assert!(body["last_checkpoint_age_seconds"].as_f64().is_some());
    *probe.brokers.lock().unwrap() = down(31);
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["reasons"][0].as_str().unwrap().contains("unreachable"),
        "{body}"
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    *probe.brokers.lock().unwrap() = Some(BrokersNow {
        connected: true,
        down_for: None,
    });
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/healthz").await.1["status"], "ok");
}

#[tokio::test(start_paused = true)]
async fn restoring_state_is_not_ready() {
    let (probe, health, app) = setup(None);
    health.published();
    probe.restoring.store(true, Ordering::Relaxed);
    let (status, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["reasons"][0], "restoring state");
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
    probe.restoring.store(false, Ordering::Relaxed);
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_provider_over_3_h_behind_degrades_healthz_but_not_readiness() {
    let (probe, health, app) = setup(None);
    health.published();
    let provider = |behind: u64| ProviderNow {
        name: "voi".into(),
        next_hour: "2026-12-05T01:00:00Z".into(),
        behind_seconds: behind,
        last_error: Some("auth: the provider refused the credentials".into()),
    };
    *probe.providers.lock().unwrap() = vec![provider(PROVIDER_BEHIND.as_secs())];
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("ok")));
    assert_eq!(body["providers"][0]["name"], "voi");
    assert!(
        body["providers"][0]["last_error"]
            .as_str()
            .unwrap()
            .starts_with("auth")
    );
    *probe.providers.lock().unwrap() = vec![provider(PROVIDER_BEHIND.as_secs() + 1)];
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("degraded"))
    );
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/livez").await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_shared_view_missing_a_partition_or_holding_a_stale_part_degrades_healthz() {
    use crate::snapshot::{MissingPart, PartStatus, PartsStatus};
    let probe = Arc::new(Hand::default());
    let health = Arc::new(Health::new(Duration::from_millis(250), probe.clone()));
    health.published();
    let zones = Zones::from_geojson(r#"{"type":"FeatureCollection","features":[]}"#).unwrap();
    let settings = modeshare_core::testing::default_settings(&zones);
    let part = |partition: i32, stale: bool| PartStatus {
        topic: "trips".into(),
        partition,
        instance: "worker-1/7".into(),
        age_seconds: if stale { 151.0 } else { 3.0 },
        stale,
    };
    let view = |parts: Vec<PartStatus>, missing: Vec<MissingPart>| {
        let mut snapshot = Snapshot::build(&settings, &zones, &[], None);
        snapshot.parts = Some(PartsStatus {
            parts,
            missing,
            stale_after_seconds: 150.0,
        });
        Arc::new(snapshot)
    };
    let (tell, latest) = watch::channel(view(vec![part(0, false), part(1, false)], vec![]));
    let app = router(health, latest);

    let (status, body) = get(&app, "/healthz").await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("ok")));
    assert_eq!(body["view"]["parts"], 2);
    assert!(
        !body.to_string().contains("worker-1"),
        "an owner's name on the public health: {body}"
    );

    tell.send_replace(view(vec![part(0, false), part(1, true)], vec![]));
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("degraded"))
    );
    assert_eq!(body["view"]["stale"][0]["partition"], 1);
    assert_eq!(body["view"]["stale"][0]["age_seconds"], 151.0);

    let missing = MissingPart {
        topic: "trips".into(),
        partition: 2,
    };
    tell.send_replace(view(vec![part(0, false), part(1, false)], vec![missing]));
    let (status, body) = get(&app, "/healthz").await;
    assert_eq!(
        (status, &body["status"]),
        (StatusCode::OK, &json!("degraded"))
    );
    assert_eq!(
        body["view"]["missing"],
        json!([{"topic": "trips", "partition": 2}])
    );
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
}
