//! `modeshare run` as a process on a random port: `/metrics` (parsed, values checked),
//! `/api/zones` and the admin listener's `/api/report` against a known input (and the report
//! absent from the public listener), the simulator as the default source, and shutdown on
//! SIGTERM and SIGINT within a deadline.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::time::Instant;

use common::{
    Service, assert_report_equals_replay, golden, metrics, replay_report, sum, window_view,
};

#[test]
fn serves_the_known_input_and_stops_on_sigterm() {
    let config = golden("config.toml");
    let zones = golden("zones.geojson");
    let events = golden("events.ndjson");
    let service = Service::start(&[
        "--config",
        config.to_str().unwrap(),
        "--zones",
        zones.to_str().unwrap(),
        "--input",
        events.to_str().unwrap(),
    ]);
    // The live report equals the batch replay of the same input.
    let report = assert_report_equals_replay(&service, 30);
    let expected = replay_report();

    let (status, text) = service.get("/metrics");
    assert_eq!(status, 200);
    let m = metrics(&text);
    let outcome = |o: &str| sum(&m, "modeshare_events_total", &[("outcome", o)]);
    assert_eq!(
        outcome("accepted"),
        expected["events"]["accepted"].as_f64().unwrap()
    );
    assert_eq!(
        outcome("rejected"),
        expected["events"]["rejected"].as_f64().unwrap()
    );
    assert_eq!(
        outcome("duplicate"),
        expected["events"]["duplicates"].as_f64().unwrap()
    );
    assert_eq!(
        sum(&m, "modeshare_events_rejected_total", &[]),
        outcome("rejected")
    );
    assert_eq!(
        sum(&m, "modeshare_events_late_total", &[]),
        report["events"]["late"].as_f64().unwrap()
    );
    let baerum = sum(&m, "modeshare_person_trips_total", &[("zone", "Bærum")]);
    let want = expected["zones"]["Bærum"]["total_person_trips"]
        .as_f64()
        .unwrap();
    assert!(
        (baerum - want).abs() < 1e-3,
        "person trips in Bærum: {baerum} vs {want}"
    );
    assert_eq!(
        sum(
            &m,
            "modeshare_events_rejected_total",
            &[("reason", "line_too_long")]
        ),
        1.0
    );
    // The golden input spans years: the watermark is at its newest event minus the lateness.
    assert!(sum(&m, "modeshare_watermark_timestamp_seconds", &[]) > 1.7e9);
    // The golden config inherits the default goals.
    assert_eq!(
        sum(
            &m,
            "modeshare_goal_target_ratio",
            &[("group", "sustainable")]
        ),
        0.6
    );
    for ((name, labels), value) in &m {
        if name == "modeshare_mode_share_ratio" {
            assert!((0.0..=1.0).contains(value), "{labels:?} {value}");
        }
        assert!(
            !labels.contains_key("cell") && !labels.contains_key("id"),
            "unbounded label on {name}"
        );
    }

    let zones_view = service.json("/api/zones");
    let windows: Vec<&str> = zones_view["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window"].as_str().unwrap())
        .collect();
    assert_eq!(windows, ["1h", "24h", "7d", "28d", "day", "month", "year"]);
    assert_eq!(zones_view["goals"][0]["target"], 0.6);
    // Windows only hold events inside them: never more than all state.
    // (A total the k rule hides is null: it cannot be more either.)
    for w in zones_view["windows"].as_array().unwrap() {
        if let Some(in_window) = w["zones"]["Bærum"]["total_person_trips"].as_f64() {
            assert!(in_window <= want + 1e-6, "{}: {in_window}", w["window"]);
        }
    }
    assert_eq!(service.get("/nope").0, 404);
    assert_eq!(service.json("/healthz")["status"], "ok");
    // Raw per-cell numbers are only for the admin: 404 on the public listener, saying where
    // they went; 401 there without the token.
    let (status, moved) = service.json_status("/api/report");
    assert_eq!(status, 404);
    assert!(
        moved["message"]
            .as_str()
            .unwrap()
            .contains("admin listener"),
        "{moved}"
    );
    assert!(moved.get("cells").is_none());
    for token in [None, Some("not-the-token")] {
        let (status, body) = service.admin_get("/api/report", token);
        assert_eq!(status, 401, "{token:?}: {body}");
    }

    let log = service.stop("TERM", 10);
    assert!(
        log.iter().any(|l| l.contains("pipeline drained")),
        "{log:?}"
    );
}

/// The README's run command: no arguments, the simulator back-fills 24 h and shares appear
/// within seconds (with the simulator's trickle of rejected events), with Bærum's goal targets.
#[test]
fn the_default_run_shows_live_shares_within_seconds() {
    let service = Service::start(&[]);
    let started = Instant::now();
    let m = service.wait_for("a 24h sustainable share for Bærum", 60, |s| {
        let m = metrics(&s.get("/metrics").1);
        let present = m.keys().any(|(n, l)| {
            n == "modeshare_mode_share_ratio"
                && l.get("zone").map(String::as_str) == Some("Bærum")
                && l.get("group").map(String::as_str) == Some("sustainable")
                && l.get("window").map(String::as_str) == Some("24h")
        });
        // The first snapshot may come early in the backfill, before its trickle of bad events.
        let rejected = sum(&m, "modeshare_events_total", &[("outcome", "rejected")]);
        (present && rejected > 0.0).then_some(m)
    });
    eprintln!("shares after {:?}", started.elapsed());
    assert_eq!(
        sum(
            &m,
            "modeshare_goal_target_ratio",
            &[("group", "sustainable")]
        ),
        0.6
    );
    assert_eq!(
        sum(&m, "modeshare_goal_target_ratio", &[("group", "cycling")]),
        0.07
    );
    let share = sum(
        &m,
        "modeshare_mode_share_ratio",
        &[
            ("zone", "Bærum"),
            ("group", "sustainable"),
            ("window", "24h"),
        ],
    );
    let gap = sum(
        &m,
        "modeshare_goal_gap_ratio",
        &[
            ("zone", "Bærum"),
            ("group", "sustainable"),
            ("window", "24h"),
        ],
    );
    assert!(
        (0.25..0.6).contains(&share),
        "a survey-like mix gives about 40 % sustainable, got {share}"
    );
    assert!((gap - (share - 0.6)).abs() < 1e-9);
    // Fornebu's day fills as the back-fill runs (null while under the k rule).
    service.wait_for("Fornebu's person trips in the 24h window", 30, |s| {
        let zones = s.json("/api/zones");
        let day = window_view(&zones, "24h");
        day["zones"]["Fornebu"]["total_person_trips"]
            .as_f64()
            .filter(|t| *t > 0.0)
    });
    service.stop("INT", 10);
}
