#![allow(clippy::unwrap_used)]

use axum::body::to_bytes;
use axum::http::Request;
use modeshare_core::decode::{CanonicalDecoder, FormatsConfig, RegistrationPoints};
use modeshare_core::testing::{default_config, default_factors};
use modeshare_core::vocabulary::ConfigErrors;
use tower::ServiceExt;

use super::*;
use crate::auth::token_sha256;

const VOI_TRIP: &str = r#"{"kind":"trip","id":"t1","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","origin":{"lat":59.8937,"lon":10.6281}}"#;
const TIER_TRIP: &str = r#"{"kind":"trip","id":"t2","source":"tier","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","origin":{"lat":59.8937,"lon":10.6281}}"#;
const COUNT_WITHOUT_ID: &str = r#"{"kind":"count","source":"voi","mode":"bicycle","location":{"lat":59.91,"lon":10.70},"start_time":"2024-05-02T07:00:00Z","count":3}"#;

/// Records what it is given; fails while `failing` is set.
#[derive(Default)]
struct RecordingSink {
    deliveries: Mutex<Vec<Delivery>>,
    failing: std::sync::atomic::AtomicBool,
}

impl EventSink for RecordingSink {
    fn deliver(
        &self,
        delivery: Delivery,
    ) -> Pin<Box<dyn Future<Output = Result<(), Undelivered>> + Send + '_>> {
        Box::pin(async move {
            if self.failing.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(Undelivered {
                    retry_after: Duration::from_secs(5),
                    message: "the broker has not confirmed within 10s".into(),
                });
            }
            self.deliveries.lock().unwrap().push(delivery);
            Ok(())
        })
    }
}

impl RecordingSink {
    fn events(&self) -> Vec<PushedEvent> {
        let deliveries = self.deliveries.lock().unwrap();
        deliveries.iter().flat_map(|d| d.events.clone()).collect()
    }
}

struct Fixture {
    app: Router,
    sink: Arc<RecordingSink>,
    metrics: crate::metrics::Metrics,
}

fn limits() -> IngestLimits {
    IngestLimits {
        max_body_bytes: 64 * 1024,
        max_line_bytes: 4096,
        requests_per_second: 1000.0,
        burst: 1000,
    }
}

fn fixture(limits: IngestLimits) -> Fixture {
    let operators = vec![
        Operator {
            name: "voi".into(),
            sources: vec!["voi".into()],
            // Two hashes: the token being rotated out and its successor.
            tokens: TokenHashes::parse(&[token_sha256("voi-old"), token_sha256("voi-new")])
                .unwrap(),
        },
        Operator {
            name: "tier".into(),
            sources: vec!["tier".into(), "tier-bikes".into()],
            tokens: TokenHashes::parse(&[token_sha256("tier-token")]).unwrap(),
        },
    ];
    let mut errors = ConfigErrors::default();
    let formats = default_config::<FormatsConfig>("formats").validate(
        RegistrationPoints::default(),
        None,
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors}");
    let (_, latest) = tokio::sync::watch::channel(Arc::new(crate::snapshot::Snapshot::build(
        &modeshare_core::testing::default_settings(&Default::default()),
        &Default::default(),
        &[],
        None,
    )));
    let metrics = crate::metrics::Metrics::new(latest).unwrap();
    let sink = Arc::new(RecordingSink::default());
    let api = IngestApi::new(
        operators,
        formats,
        default_factors(),
        sink.clone(),
        limits,
        metrics.service().ingest.clone(),
    );
    Fixture {
        app: router(api),
        sink,
        metrics,
    }
}

struct Answered {
    status: StatusCode,
    headers: HeaderMap,
    body: serde_json::Value,
}

async fn push(
    app: &Router,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<Body>,
) -> Answered {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, content_type);
    if let Some(t) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let answer = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    Answered {
        status,
        headers,
        body,
    }
}

async fn events(app: &Router, token: &str, body: impl Into<Body>) -> Answered {
    push(
        app,
        "/ingest/v1/events",
        Some(token),
        "application/x-ndjson",
        body,
    )
    .await
}

async fn scrape(metrics: &crate::metrics::Metrics) -> String {
    String::from_utf8(metrics.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn without_a_held_token_nothing_is_read() {
    let f = fixture(limits());
    for token in [None, Some("not-a-held-token"), Some("tier-token ")] {
        let a = push(
            &f.app,
            "/ingest/v1/events",
            token.filter(|t| !t.ends_with(' ')),
            "application/x-ndjson",
            VOI_TRIP,
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(
            a.headers[header::WWW_AUTHENTICATE],
            "Bearer realm=\"modeshare ingest\""
        );
    }
    assert!(f.sink.events().is_empty());
    let text = scrape(&f.metrics).await;
    assert!(
        text.contains(r#"modeshare_ingest_auth_failures_total{why="missing"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"modeshare_ingest_auth_failures_total{why="wrong"} 1"#));
    assert!(
        !text.contains("not-a-held-token"),
        "a token is never a label"
    );
}

#[tokio::test]
async fn both_tokens_of_a_rotation_are_accepted() {
    let f = fixture(limits());
    for token in ["voi-old", "voi-new"] {
        let a = events(&f.app, token, VOI_TRIP).await;
        assert_eq!(a.status, StatusCode::OK, "{token}: {}", a.body);
        assert_eq!(a.body["operator"], "voi");
    }
}

#[tokio::test]
async fn a_bad_line_among_good_ones_is_rejected_alone() {
    let f = fixture(limits());
    let body = format!(
        "{VOI_TRIP}\n{{\"kind\":\"trip\"\n\n{}\n",
        VOI_TRIP.replace("t1", "t3")
    );
    let a = events(&f.app, "voi-new", body).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["accepted"], 2);
    assert_eq!(a.body["rejected"], 1);
    assert_eq!(a.body["rejections"][0]["index"], 2, "{}", a.body);
    assert_eq!(a.body["rejections"][0]["reason"], "invalid_json");
    let pushed = f.sink.events();
    assert_eq!(pushed.len(), 2);
    // What reaches the pipeline is the same observation as what was pushed.
    let decoder = CanonicalDecoder::new(default_factors());
    let pushed_first = decoder.decode(&pushed[0].line, None).unwrap();
    assert_eq!(
        pushed_first,
        decoder.decode(VOI_TRIP.as_bytes(), None).unwrap()
    );
    assert_eq!(pushed[0].source, "voi");
    let text = scrape(&f.metrics).await;
    assert!(text.contains(r#"modeshare_ingest_events_total{operator="voi",outcome="accepted"} 2"#));
    assert!(
        text.contains(
            r#"modeshare_ingest_rejections_total{operator="voi",reason="invalid_json"} 1"#
        )
    );
    assert!(text.contains(r#"modeshare_ingest_requests_total{operator="voi",status="200"} 1"#));
}

#[tokio::test]
async fn an_operator_writes_only_its_own_sources() {
    let f = fixture(limits());
    // Only another operator's events: 403, and nothing delivered but the dead letter.
    let a = events(&f.app, "voi-new", TIER_TRIP).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(a.body["rejections"][0]["reason"], "source_not_allowed");
    assert!(
        a.body["rejections"][0]["message"]
            .as_str()
            .unwrap()
            .contains("\"tier\""),
        "{}",
        a.body
    );
    assert!(f.sink.events().is_empty());
    // Mixed: the own one is accepted.
    let a = events(&f.app, "voi-new", format!("{TIER_TRIP}\n{VOI_TRIP}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        (a.body["accepted"].as_u64(), a.body["rejected"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(f.sink.events().iter().all(|e| e.source == "voi"));
    let rejected = f.sink.deliveries.lock().unwrap()[0].rejected.clone();
    assert_eq!(
        rejected[0].raw,
        TIER_TRIP.as_bytes(),
        "the dead letter holds the item"
    );
}

#[tokio::test]
async fn pushed_counts_need_an_id() {
    let f = fixture(limits());
    let a = events(&f.app, "voi-new", COUNT_WITHOUT_ID).await;
    assert_eq!(
        a.body["rejections"][0]["reason"], "missing_id",
        "{}",
        a.body
    );
    let with_id = COUNT_WITHOUT_ID.replace("\"kind\"", "\"id\":\"c1\",\"kind\"");
    let a = events(&f.app, "voi-new", with_id).await;
    assert_eq!(a.body["accepted"], 1, "{}", a.body);
}

#[tokio::test]
async fn a_repeated_event_in_one_request_is_reported_as_a_duplicate() {
    let f = fixture(limits());
    let a = events(&f.app, "voi-new", format!("{VOI_TRIP}\n{VOI_TRIP}\n")).await;
    assert_eq!(
        (a.body["accepted"].as_u64(), a.body["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    // Both go on, so that the pipeline counts the second as a duplicate.
    assert_eq!(f.sink.events().len(), 2);
}

#[tokio::test]
async fn invalid_utf8_and_deep_json_are_rejected_lines() {
    let f = fixture(limits());
    let mut body = b"{\"kind\":\"trip\",\"id\":\"\xff\xfe\"}\n".to_vec();
    body.extend_from_slice(format!("{}{}\n", "[".repeat(20_000), "]".repeat(20_000)).as_bytes());
    body.extend_from_slice(VOI_TRIP.as_bytes());
    let a = events(
        &fixture(IngestLimits {
            max_line_bytes: 64 * 1024,
            ..limits()
        })
        .app,
        "voi-new",
        body.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["accepted"], 1);
    let reasons: Vec<&str> = a.body["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["invalid_json", "invalid_json"]);
    // With the default line limit the deep line is too long instead.
    let a = events(&f.app, "voi-new", body).await;
    assert_eq!(
        a.body["rejections"][1]["reason"], "line_too_long",
        "{}",
        a.body
    );
}

#[tokio::test]
async fn only_the_first_hundred_rejections_are_listed() {
    let f = fixture(limits());
    let body = "{}\n".repeat(150);
    let a = events(&f.app, "voi-new", body).await;
    assert_eq!(a.body["rejected"], 150);
    assert_eq!(
        a.body["rejections"].as_array().unwrap().len(),
        LISTED_REJECTIONS
    );
    assert_eq!(a.body["more_rejections"], 50);
    assert_eq!(a.body["rejections"][99]["index"], 100);
}

#[tokio::test]
async fn what_cannot_be_read_is_refused_before_anything_is_delivered() {
    let f = fixture(IngestLimits {
        max_body_bytes: 1000,
        ..limits()
    });
    // An unknown type.
    let a = push(
        &f.app,
        "/ingest/v1/events",
        Some("voi-new"),
        "text/csv",
        VOI_TRIP,
    )
    .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", a.body);
    // A body over the limit, sent in pieces without a declared length.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20)
        .map(|_| Ok(format!("{VOI_TRIP}\n").into_bytes()))
        .collect();
    let stream = Body::from_stream(futures_stream(chunks));
    let a = events(&f.app, "voi-new", stream).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", a.body);
    // A body cut off by the client.
    let cut: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(VOI_TRIP.as_bytes().to_vec()),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "gone",
        )),
    ];
    let a = events(&f.app, "voi-new", Body::from_stream(futures_stream(cut))).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert_eq!(a.body["error"], "body_cut_off");
    assert!(
        f.sink.events().is_empty(),
        "nothing of a refused request is durable"
    );
}

/// A body sent in pieces, without a declared length; an `Err` piece cuts it off.
fn futures_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn over_its_rate_an_operator_is_told_when_to_come_back() {
    let f = fixture(IngestLimits {
        requests_per_second: 0.5,
        burst: 2,
        ..limits()
    });
    for _ in 0..2 {
        assert_eq!(
            events(&f.app, "voi-new", VOI_TRIP).await.status,
            StatusCode::OK
        );
    }
    let a = events(&f.app, "voi-new", VOI_TRIP).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    let wait: u64 = a.headers[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    // Another operator has a bucket of its own.
    assert_eq!(
        events(&f.app, "tier-token", TIER_TRIP).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_sink_that_cannot_make_events_durable_answers_503() {
    let f = fixture(limits());
    f.sink
        .failing
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let a = events(&f.app, "voi-new", VOI_TRIP).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(a.headers[header::RETRY_AFTER], "5");
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("send it again")
    );
    let text = scrape(&f.metrics).await;
    assert!(text.contains(r#"modeshare_ingest_requests_total{operator="voi",status="503"} 1"#));
    assert!(
        !text.contains(r#"outcome="accepted"} 1"#),
        "nothing counted: {text}"
    );
}

const MDS_2_TRIP: &str = r#"{"provider_id":"5f7114d1-4091-46ee-b492-e55875f7de00","provider_name":"tier","device_id":"d","vehicle_id":"v","trip_id":"6a2b38e3-7b1e-4c47-8a3c-b5b1b1c0a001","vehicle_type":"scooter","trip_type":"rider","start_time":1714634400000,"end_time":1714635000000,"start_location":{"lat":59.8937,"lng":10.6281},"end_location":{"lat":59.9127,"lng":10.6370},"duration":600,"distance":2140}"#;

#[tokio::test]
async fn mds_trips_come_as_a_trip_an_array_or_a_page() {
    let f = fixture(limits());
    let second = MDS_2_TRIP.replace("a001", "a002");
    let page = format!(r#"{{"version":"2.0.0","data":{{"trips":[{MDS_2_TRIP},{second}]}}}}"#);
    let array = format!("[{MDS_2_TRIP}, {second}, {{\"trip_id\": 5}}]");
    for (body, accepted, rejected) in [(MDS_2_TRIP.to_owned(), 1, 0), (page, 2, 0), (array, 2, 1)] {
        let a = push(
            &f.app,
            "/ingest/v1/trips",
            Some("tier-token"),
            "application/vnd.mds+json;version=2.0",
            body,
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(
            (a.body["accepted"].as_u64(), a.body["rejected"].as_u64()),
            (Some(accepted), Some(rejected)),
            "{}",
            a.body
        );
    }
    let a = push(
        &f.app,
        "/ingest/v1/trips?version=3.1",
        Some("tier-token"),
        "application/json",
        MDS_2_TRIP,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    let events = f.sink.events();
    assert!(events.iter().all(|e| e.source == "tier"), "{events:?}");
}

const OSLO_BYSYKKEL: &str = "started_at,ended_at,duration,start_station_id,start_station_name,start_station_description,start_station_latitude,start_station_longitude,end_station_id,end_station_name,end_station_description,end_station_latitude,end_station_longitude
2024-01-01 04:11:10.146000+00:00,2024-01-01 04:15:11.603000+00:00,241,2315,Rostedts gate,langs Maridalsveien,59.925,10.749,551,Olaf Ryes plass,langs Sofienberggata,59.922,10.758
2024-01-01 04:22:41.431000+00:00,2024-01-01 04:27:48.919000+00:00,307,437,Sentrum Scene,ved Arbeidersamfunnets plass,91.5,10.749,2329,Vulkan,ved Maridalsveien,59.922,10.751
";

#[tokio::test]
async fn table_rows_get_the_operators_source() {
    let f = fixture(limits());
    let path = "/ingest/v1/tables/oslobysykkel";
    // Two sources: the rows' must be named, and be the operator's.
    let a = push(&f.app, path, Some("tier-token"), "text/csv", OSLO_BYSYKKEL).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("?source="));
    let a = push(
        &f.app,
        &format!("{path}?source=voi"),
        Some("tier-token"),
        "text/csv",
        OSLO_BYSYKKEL,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = push(
        &f.app,
        &format!("{path}?source=tier-bikes"),
        Some("tier-token"),
        "text/csv",
        OSLO_BYSYKKEL,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        (a.body["accepted"].as_u64(), a.body["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{}",
        a.body
    );
    assert_eq!(a.body["rejections"][0]["index"], 2);
    assert_eq!(a.body["rejections"][0]["reason"], "bad_coordinate");
    assert_eq!(f.sink.events()[0].source, "tier-bikes");
    // One source: it is the rows'.
    let a = push(
        &f.app,
        "/ingest/v1/tables/csv:oslobysykkel",
        Some("voi-new"),
        "text/csv",
        OSLO_BYSYKKEL,
    )
    .await;
    assert_eq!(a.body["accepted"], 1, "{}", a.body);
    assert_eq!(f.sink.events()[1].source, "voi");
    let a = push(
        &f.app,
        "/ingest/v1/tables/canonical",
        Some("voi-new"),
        "text/csv",
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("trafikkdata"));
}

#[tokio::test]
async fn the_openapi_description_names_every_route() {
    let f = fixture(limits());
    let spec: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
    for route in ENDPOINTS {
        assert!(
            spec["paths"].get(route).is_some(),
            "{route} is not described"
        );
    }
    assert_eq!(spec["paths"].as_object().unwrap().len(), ENDPOINTS.len());
    let answer = f
        .app
        .clone()
        .oneshot(
            Request::get("/ingest/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let a = push(
        &f.app,
        "/ingest/v1/nope",
        Some("voi-new"),
        "application/json",
        "",
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // Every status the routes answer is described.
    for status in ["200", "400", "401", "403", "413", "415", "429", "503"] {
        assert!(
            spec["paths"]["/ingest/v1/events"]["post"]["responses"]
                .get(status)
                .is_some(),
            "{status}"
        );
    }
}
