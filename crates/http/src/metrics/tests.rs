use modeshare_core::pipeline::Pipeline;
use modeshare_core::space::Zones;
use prometheus::proto::MetricType;

use super::*;

const ZONES: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"Fornebu"},"geometry":{"type":"Polygon","coordinates":[[[10.60,59.88],[10.65,59.88],[10.65,59.91],[10.60,59.91],[10.60,59.88]]]}},
 {"type":"Feature","properties":{"name":"Empty"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;

fn pipeline() -> Pipeline {
    crate::test_support::live_pipeline(ZONES)
}

fn line(id: u32, mode: &str, minute: i64) -> String {
    format!(
        r#"{{"kind":"trip","id":"{id}","source":"voi","mode":"{mode}","start_time":{},"origin":{{"lat":59.89,"lon":10.62}}}}"#,
        1_714_608_000_000 + minute * 60_000
    )
}

fn gather(p: &Pipeline) -> Vec<MetricFamily> {
    let snapshot = Snapshot::build(p.settings(), p.zones(), &[p], p.watermark());
    snapshot_families(&snapshot)
}

fn family<'a>(families: &'a [MetricFamily], name: &str) -> Option<&'a MetricFamily> {
    families.iter().find(|f| f.name() == name)
}

/// The value of the series of `name` carrying `labels` (and maybe more).
fn value(families: &[MetricFamily], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let f = family(families, name)?;
    let counter = f.get_field_type() == MetricType::COUNTER;
    f.get_metric().iter().find_map(|m| {
        let all = labels.iter().all(|(k, v)| {
            m.get_label()
                .iter()
                .any(|l| l.name() == *k && l.value() == *v)
        });
        all.then(|| {
            if counter {
                m.get_counter().get_value()
            } else {
                m.get_gauge().get_value()
            }
        })
    })
}

#[test]
fn counters_gauges_and_omitted_shares() {
    let mut p = pipeline();
    for (i, mode) in ["bicycle", "walk", "walk", "e_scooter"].iter().enumerate() {
        p.observe_line(line(i as u32, mode, i as i64 * 10).as_bytes(), "test", None);
    }
    p.observe_line(line(0, "bicycle", 0).as_bytes(), "test", None);
    p.observe_line(b"not json", "test", None);
    p.observe_line(line(9, "walk", 24 * 60).as_bytes(), "test", None);
    let families = gather(&p);
    for (name, kind) in [
        ("modeshare_events_total", MetricType::COUNTER),
        ("modeshare_events_rejected_total", MetricType::COUNTER),
        ("modeshare_person_trips_total", MetricType::COUNTER),
        ("modeshare_window_person_trips", MetricType::GAUGE),
        ("modeshare_mode_share_ratio", MetricType::GAUGE),
        ("modeshare_goal_target_ratio", MetricType::GAUGE),
        ("modeshare_goal_gap_ratio", MetricType::GAUGE),
        ("modeshare_watermark_timestamp_seconds", MetricType::GAUGE),
    ] {
        let f = family(&families, name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(f.get_field_type(), kind, "{name}");
    }
    let value = |name: &str, labels: &[(&str, &str)]| value(&families, name, labels);
    assert_eq!(
        value(
            "modeshare_events_total",
            &[("source", "voi"), ("outcome", "accepted")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            "modeshare_events_total",
            &[("source", "voi"), ("outcome", "duplicate")]
        ),
        Some(1.0)
    );
    // An unparseable event has no readable source: the input's name stands in.
    assert_eq!(
        value(
            "modeshare_events_rejected_total",
            &[("source", "test"), ("reason", "invalid_json")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value("modeshare_goal_target_ratio", &[("group", "cycling")]),
        Some(0.07)
    );
    // The 24h window ending at the watermark (the next day, minus 15 minutes) holds the first four trips.
    let share = value(
        "modeshare_mode_share_ratio",
        &[("zone", "Fornebu"), ("group", "cycling"), ("window", "24h")],
    );
    assert_eq!(share, Some(0.25));
    let gap = value(
        "modeshare_goal_gap_ratio",
        &[("zone", "Fornebu"), ("group", "cycling"), ("window", "24h")],
    );
    assert!((gap.unwrap() - (0.25 - 0.07)).abs() < 1e-12);
    // The share's numerator and denominator, for Prometheus to sum across instances.
    let cycling = value(
        "modeshare_window_group_person_trips",
        &[("zone", "Fornebu"), ("group", "cycling"), ("window", "24h")],
    );
    assert_eq!(cycling, Some(1.0));
    assert_eq!(
        value(
            "modeshare_goal_baseline_ratio",
            &[("group", "cycling"), ("year", "2016")]
        ),
        Some(0.035)
    );
    // The 1h window holds nothing: no share, no gap (not zeros); the empty zone has none anywhere.
    assert_eq!(
        value(
            "modeshare_mode_share_ratio",
            &[("zone", "Fornebu"), ("window", "1h")]
        ),
        None
    );
    assert_eq!(
        value("modeshare_mode_share_ratio", &[("zone", "Empty")]),
        None
    );
    assert_eq!(
        value("modeshare_goal_gap_ratio", &[("zone", "Empty")]),
        None
    );
    assert_eq!(
        value(
            "modeshare_window_group_person_trips",
            &[("zone", "Fornebu"), ("window", "1h")]
        ),
        None
    );
}

#[test]
fn before_any_event_only_the_configured_goals_and_survey_are_published() {
    let families = gather(&pipeline());
    let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "modeshare_goal_baseline_ratio",
            "modeshare_goal_baseline_timestamp_seconds",
            "modeshare_goal_target_ratio",
            "modeshare_goal_target_timestamp_seconds",
            "modeshare_survey_group_share_ratio",
            "modeshare_survey_mode_share_ratio"
        ]
    );
    // The goal path's ends: Bærum's sustainable goal from mid-2016 to the end of 2025.
    let due = value(
        &families,
        "modeshare_goal_target_timestamp_seconds",
        &[("group", "sustainable")],
    );
    assert_eq!(due, Some(1_767_139_200.0), "2025-12-31T00:00:00Z");
    let start = value(
        &families,
        "modeshare_goal_baseline_timestamp_seconds",
        &[("group", "sustainable")],
    );
    assert_eq!(start, Some(1_467_331_200.0), "2016-07-01T00:00:00Z");
}

#[test]
fn shares_by_basis_coverage_bands_and_transit_access() {
    let zones = Zones::from_geojson(ZONES).unwrap();
    let mut settings =
        crate::test_support::settings(&zones, &["e_scooter"], &[("Fornebu", (59.89, 10.62))]);
    let survey = modeshare_core::publish::SurveyConfig {
        name: "RVU".into(),
        year: Some(2016),
        shares: [("walk", 0.2), ("bicycle", 0.05), ("car_driver", 0.75)]
            .into_iter()
            .map(|(m, s)| (m.to_owned(), s))
            .collect(),
    };
    settings.survey =
        Some(survey.validate(&mut modeshare_core::vocabulary::ConfigErrors::default()));
    let mut p = Pipeline::live(settings, zones);
    // A bicycle and an e-scooter trip from the stop, 0.01° north (1.1 km): no walking, no cars.
    for (i, mode) in ["bicycle", "e_scooter"].iter().enumerate() {
        let trip = format!(
            r#"{{"kind":"trip","id":"{i}","source":"voi","mode":"{mode}","start_time":1714608000000,"origin":{{"lat":59.89,"lon":10.62}},"destination":{{"lat":59.90,"lon":10.62}}}}"#
        );
        p.observe_line(trip.as_bytes(), "test", None);
    }
    p.observe_line(line(9, "walk", 24 * 60).as_bytes(), "test", None);
    let families = gather(&p);
    let at = |name: &str, labels: &[(&str, &str)]| {
        let mut all = vec![("zone", "Fornebu"), ("window", "24h")];
        all.extend_from_slice(labels);
        value(&families, name, &all)
    };
    // Measured: cycling is 1 of 2 person trips. Filled: walking and cars are filled in from
    // the bicycle alone (the survey has no e-scooters), 1 / .05 × (.2 + .75) = 19 trips.
    let cycling = |basis| {
        at(
            "modeshare_mode_share_by_basis_ratio",
            &[("group", "cycling"), ("basis", basis)],
        )
    };
    assert_eq!(cycling("measured"), Some(0.5));
    assert_eq!(
        cycling("measured"),
        at("modeshare_mode_share_ratio", &[("group", "cycling")])
    );
    let filled = cycling("filled").unwrap();
    assert!((filled - 1.0 / 21.0).abs() < 1e-9, "{filled}");
    let gap = at(
        "modeshare_goal_gap_by_basis_ratio",
        &[("group", "cycling"), ("basis", "filled")],
    );
    assert!((gap.unwrap() - (1.0 / 21.0 - 0.07)).abs() < 1e-9);
    let walk = at("modeshare_window_filled_person_trips", &[("mode", "walk")]).unwrap();
    assert!((walk - 4.0).abs() < 1e-6, "{walk}");
    assert_eq!(
        at(
            "modeshare_window_filled_person_trips",
            &[("mode", "bicycle")]
        ),
        None
    );
    assert_eq!(at("modeshare_survey_share_measured_ratio", &[]), Some(0.05));
    assert_eq!(
        value(
            &families,
            "modeshare_survey_mode_share_ratio",
            &[("mode", "car_driver")]
        ),
        Some(0.75)
    );
    // Both trips are 1.1 km: band 1-3km, with its share and numerator.
    let band = [("band", "1-3km"), ("group", "cycling")];
    assert_eq!(at("modeshare_band_mode_share_ratio", &band), Some(0.5));
    assert_eq!(
        at("modeshare_window_band_group_person_trips", &band),
        Some(1.0)
    );
    assert_eq!(
        at(
            "modeshare_window_band_person_trips",
            &[("band", "1-3km"), ("mode", "e_scooter")]
        ),
        Some(1.0)
    );
    assert_eq!(
        at("modeshare_band_mode_share_ratio", &[("band", "0-1km")]),
        None
    );
    // Only e-scooters are judged: the one ride starts at the stop.
    assert_eq!(at("modeshare_transit_access_share_ratio", &[]), Some(1.0));
    assert_eq!(
        at(
            "modeshare_window_transit_access_person_trips",
            &[("mode", "e_scooter"), ("access", "from_stop")]
        ),
        Some(1.0)
    );
    assert_eq!(
        at(
            "modeshare_window_transit_access_person_trips",
            &[("mode", "bicycle")]
        ),
        None
    );
}

fn published(p: &Pipeline) -> Arc<Snapshot> {
    Arc::new(Snapshot::build(
        p.settings(),
        p.zones(),
        &[p],
        p.watermark(),
    ))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn each_snapshot_is_encoded_once_and_the_rest_per_scrape() {
    let mut p = pipeline();
    p.observe_line(line(1, "bicycle", 0).as_bytes(), "test", None);
    let (publish, latest) = watch::channel(published(&p));
    let metrics = Metrics::new(latest).unwrap();

    let first = metrics.snapshot_text().await.unwrap();
    let again = metrics.snapshot_text().await.unwrap();
    // The same bytes, not an equal copy: the second scrape encoded nothing.
    assert_eq!(first.as_ptr(), again.as_ptr());
    let scrape = text(&metrics.text().await.unwrap());
    assert!(scrape.contains(r#"modeshare_events_total{outcome="accepted",source="voi"} 1"#));

    // What is not in the snapshot moves between scrapes of one snapshot.
    metrics
        .service()
        .dead_letter_failures
        .with_label_values(&["topic_missing"])
        .inc();
    let scrape = text(&metrics.text().await.unwrap());
    assert!(
        scrape.contains(r#"modeshare_dead_letter_failures_total{reason="topic_missing"} 1"#),
        "{scrape}"
    );
    assert_eq!(
        metrics.snapshot_text().await.unwrap().as_ptr(),
        first.as_ptr()
    );

    // A new snapshot is encoded at the next scrape.
    p.observe_line(line(2, "walk", 1).as_bytes(), "test", None);
    publish.send(published(&p)).unwrap();
    let next = metrics.snapshot_text().await.unwrap();
    assert_ne!(next.as_ptr(), first.as_ptr());
    assert!(text(&next).contains(r#"modeshare_events_total{outcome="accepted",source="voi"} 2"#));

    // Each family once in the whole answer.
    let scrape = text(&metrics.text().await.unwrap());
    let mut types: Vec<&str> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let all = types.len();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types.len(), all, "a family appears twice");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn the_process_is_measured_at_every_scrape() {
    let (_publish, latest) = watch::channel(published(&pipeline()));
    let metrics = Metrics::new(latest).unwrap();
    let scrape = text(&metrics.text().await.unwrap());
    for family in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_threads",
        "process_start_time_seconds",
    ] {
        assert!(
            scrape.contains(&format!("# TYPE {family} ")),
            "{family} missing"
        );
    }
}

#[tokio::test]
async fn every_request_is_timed_by_listener_route_and_status() {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    let (_publish, latest) = watch::channel(published(&pipeline()));
    let metrics = Metrics::new(latest).unwrap();
    let app = Router::new().route("/items/{id}", get(|| async { "ok" }));
    let app = metrics.requests().instrument(app, "public");
    for path in ["/items/1", "/items/2", "/nothing/here"] {
        let request = Request::get(path).body(Body::empty()).unwrap();
        app.clone().oneshot(request).await.unwrap();
    }
    let scrape = text(&metrics.text().await.unwrap());
    // The route as written, never the path asked for: the label stays bounded.
    assert!(
        scrape.contains(
            r#"modeshare_http_request_duration_seconds_count{listener="public",route="/items/{id}",status="200"} 2"#
        ),
        "{scrape}"
    );
    assert!(scrape.contains(
        r#"modeshare_http_request_duration_seconds_count{listener="public",route="unmatched",status="404"} 1"#
    ));
    assert!(!scrape.contains("/items/1"));
}

#[test]
fn every_metric_family_is_documented() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md"),
    )
    .unwrap();
    let names = metric_names();
    assert!(names.contains(&"modeshare_http_request_duration_seconds".to_owned()));
    #[cfg(target_os = "linux")]
    assert!(names.contains(&"process_cpu_seconds_total".to_owned()));
    for name in names {
        assert!(
            docs.contains(&format!("`{name}`")),
            "{name} is not in docs/metrics.md"
        );
    }
}

#[test]
fn messages_retention_deleted_are_counted_per_partition() {
    let p = pipeline();
    let mut snapshot = Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark());
    snapshot.kafka = Some(crate::snapshot::BrokerStatus {
        skipped: vec![("trips".into(), 3, 20)],
        ..Default::default()
    });
    let families = snapshot_families(&snapshot);
    let family = family(&families, "modeshare_kafka_skipped_messages_total").unwrap();
    assert_eq!(family.get_field_type(), MetricType::COUNTER);
    assert_eq!(
        value(
            &families,
            "modeshare_kafka_skipped_messages_total",
            &[("topic", "trips"), ("partition", "3")]
        ),
        Some(20.0)
    );
}
