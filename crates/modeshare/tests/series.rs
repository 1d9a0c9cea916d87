//! `/api/series` against an independent computation: `modeshare run --input` over a simulated
//! month (no broken or repeated events, a tenth of the default volume), and each day's person
//! trips per mode in Bærum as the API gives them, equal to a day-by-day tally of the same file
//! written here without the pipeline: the local date in Europe/Oslo of each event's start, the
//! zone's polygon from the GeoJSON with geo's (OGC) contains, a trip's one person, a count's
//! count times its persons per unit (1 / 1.3 for boardings, 1 otherwise).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Service, TempDir};
use geo::{Contains, MultiPolygon, Point};
use serde_json::Value;

const BOARDINGS: [&str; 5] = ["bus", "tram", "metro", "rail", "ferry"];
const TRANSFER_FACTOR: f64 = 1.3;

/// The default zones' Bærum polygon.
fn baerum() -> MultiPolygon<f64> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/zones/baerum.geojson"),
    )
    .unwrap();
    let collection: geojson::FeatureCollection = text.parse().unwrap();
    let feature = collection
        .features
        .into_iter()
        .find(|f| f.property("name").and_then(Value::as_str) == Some("Bærum"))
        .unwrap();
    let geometry: geo::Geometry<f64> = feature.geometry.unwrap().try_into().unwrap();
    match geometry {
        geo::Geometry::MultiPolygon(m) => m,
        geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
        other => panic!("Bærum is {other:?}"),
    }
}

/// Person trips per (local date, mode) of the events in Bærum.
fn tally(ndjson: &str) -> BTreeMap<(String, String), f64> {
    let zone = baerum();
    let oslo = jiff::tz::TimeZone::get("Europe/Oslo").unwrap();
    let mut out = BTreeMap::new();
    for line in ndjson.lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let place = if e["kind"] == "trip" {
            &e["origin"]
        } else {
            &e["location"]
        };
        let point = Point::new(
            place["lon"].as_f64().unwrap(),
            place["lat"].as_f64().unwrap(),
        );
        if !zone.contains(&point) {
            continue;
        }
        let start: jiff::Timestamp = e["start_time"].as_str().unwrap().parse().unwrap();
        let date = oslo.to_datetime(start).date().to_string();
        let mode = e["mode"].as_str().unwrap().to_owned();
        let trips = if e["kind"] == "trip" {
            e["persons"].as_f64().unwrap_or(1.0)
        } else {
            let per_unit = if BOARDINGS.contains(&mode.as_str()) {
                1.0 / TRANSFER_FACTOR
            } else {
                1.0
            };
            e["count"].as_f64().unwrap() * per_unit
        };
        *out.entry((date, mode)).or_insert(0.0) += trips;
    }
    out
}

#[test]
fn each_days_person_trips_equal_an_independent_tally_of_the_file() {
    let dir = TempDir::new("series");
    let config = dir.path().join("month.toml");
    std::fs::write(
        &config,
        "[simulator]\nscale = 0.1\nbad_fraction = 0.0\nduplicate_fraction = 0.0\n",
    )
    .unwrap();
    // October 2026: a month, with the change from summer time on the 25th.
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["generate", "--config", config.to_str().unwrap()])
        .args(["--start", "2026-09-30T22:01:00Z", "--events", "95000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let events = dir.path().join("month.ndjson");
    std::fs::write(&events, &text).unwrap();
    let expected = tally(&text);
    let days: Vec<&String> = expected.keys().map(|(d, _)| d).collect();
    // The last day may end after the watermark: compare up to the day before it.
    let (first, last) = (days[0].clone(), days[days.len() - 1].clone());
    let last = days
        .iter()
        .rev()
        .find(|d| ***d < last)
        .map(|d| (*d).clone())
        .unwrap();
    assert!(
        first.as_str() == "2026-10-01" && last.as_str() >= "2026-10-27",
        "the file spans {first} to {last}"
    );

    let service = Service::start(&["--input", events.to_str().unwrap()]);
    service.wait_until_read(text.lines().count());
    // Days are summed again at most every 5 s: wait until they are of the final state.
    service.wait_for("the days of the final state", 30, |s| {
        let series = s.json("/api/series?zone=B%C3%A6rum&mode=walk&step=day");
        (series["watermark"] == s.json("/api/zones")["watermark"]).then_some(())
    });

    let mut compared = 0;
    let mut hidden = 0;
    for mode in [
        "walk",
        "e_scooter",
        "bicycle",
        "bus",
        "rail",
        "metro",
        "car_driver",
    ] {
        let series = service.json(&format!(
            "/api/series?zone=B%C3%A6rum&mode={mode}&step=day&from={first}&to={last}"
        ));
        let steps = series["steps"].as_array().unwrap();
        assert_eq!(steps.len(), days_between(&first, &last), "{mode}");
        for step in steps {
            let date = step["start"].as_str().unwrap().to_owned();
            assert_eq!(step["end"], step["start"]);
            let want = expected
                .get(&(date.clone(), mode.to_owned()))
                .copied()
                .unwrap_or(0.0);
            match step["person_trips"].as_f64() {
                Some(got) => {
                    assert!(
                        (got - want).abs() < 1e-3 * want.max(1.0),
                        "{mode} on {date}: the API says {got}, the file {want}"
                    );
                    compared += 1;
                }
                None => hidden += 1,
            }
        }
    }
    // Nearly every day of every mode is large enough to be shown and compared.
    assert!(compared >= 7 * 25, "{compared} compared, {hidden} hidden");

    // Weeks and months are sums of the days.
    let weekly = service.json(&format!(
        "/api/series?zone=B%C3%A6rum&mode=walk&step=week&from={first}&to={last}"
    ));
    let week = &weekly["steps"][1];
    let (from, to) = (
        week["start"].as_str().unwrap(),
        week["end"].as_str().unwrap(),
    );
    let want: f64 = expected
        .iter()
        .filter(|((d, m), _)| m == "walk" && d.as_str() >= from && d.as_str() <= to)
        .map(|(_, v)| v)
        .sum();
    let got = week["person_trips"].as_f64().unwrap();
    assert!(
        (got - want).abs() < 1e-3 * want,
        "week {from}–{to}: {got} vs {want}"
    );
}

fn days_between(first: &str, last: &str) -> usize {
    let (a, b): (jiff::civil::Date, jiff::civil::Date) =
        (first.parse().unwrap(), last.parse().unwrap());
    b.since(a).unwrap().get_days() as usize + 1
}
