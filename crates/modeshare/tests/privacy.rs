//! The k rule on the public listener, tried as a new user would: `modeshare run` on the
//! simulator (resolution 10, so the hex map can be asked at 5–10), and every public endpoint —
//! the zones in every window and calendar period, the hex map at every resolution in every
//! rolling window over the city and per zone, the zone pairs, the stop places — scanned for a
//! number of a place below k.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use common::Service;
use serde_json::Value;

/// Default `privacy.k`.
const K: f64 = 10.0;

/// What one scan saw.
#[derive(Default)]
struct Scan {
    /// Numbers of a place that are shown.
    shown: usize,
    /// Numbers of a place hidden (null).
    hidden: usize,
    problems: Vec<String>,
}

impl Scan {
    /// Every number under a key that counts person trips or events (`person_trips`,
    /// `total_person_trips`, `group_person_trips`, `events`, `departs_person_trips`, …) must be
    /// null, zero, or at least k. The survey's estimates for unmeasured modes count nobody and
    /// are left out: `coverage.filled_person_trips`, the filled basis's unmeasured modes, and
    /// its sums (estimates with measured trips; the core's property test checks those).
    fn walk(&mut self, value: &Value, path: &str, counting: bool, estimated: &[String]) {
        match value {
            Value::Object(map) => {
                // A zone in a window: its filled basis holds estimates for these modes.
                let measured: Option<Vec<String>> = map
                    .get("coverage")
                    .and_then(|c| c["measured_modes"].as_array())
                    .map(|m| {
                        m.iter()
                            .filter_map(|m| m.as_str().map(str::to_owned))
                            .collect()
                    });
                for (key, v) in map {
                    if key == "filled_person_trips" || key == "shares" || key == "goal_gaps" {
                        continue;
                    }
                    let filled_sum = path.ends_with("/filled")
                        && (key == "total_person_trips" || key == "group_person_trips");
                    if filled_sum || (counting && estimated.contains(key)) {
                        continue;
                    }
                    let estimates: Vec<String> = match (&measured, key.as_str()) {
                        (Some(measured), "filled") => [
                            "walk",
                            "bicycle",
                            "e_scooter",
                            "moped",
                            "bus",
                            "tram",
                            "metro",
                            "rail",
                            "ferry",
                            "car_driver",
                            "car_passenger",
                            "taxi",
                            "other",
                        ]
                        .iter()
                        .map(|m| (*m).to_owned())
                        .filter(|m| !measured.contains(m))
                        .collect(),
                        _ => estimated.to_vec(),
                    };
                    let counts = counting || key.ends_with("person_trips") || key == "events";
                    self.walk(v, &format!("{path}/{key}"), counts, &estimates);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk(v, &format!("{path}/{i}"), counting, estimated);
                }
            }
            Value::Null if counting => self.hidden += 1,
            Value::Number(n) if counting => {
                let n = n.as_f64().unwrap();
                if n == 0.0 || n >= K - 1e-9 {
                    self.shown += 1;
                } else {
                    self.problems.push(format!("{path} = {n}"));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn no_public_endpoint_shows_a_number_of_a_place_below_k() {
    let service = Service::start(&["--resolution", "10"]);
    service.wait_for("stop places and zone pairs in the 24h window", 90, |s| {
        let stops = s.json("/api/stops?window=24h");
        let pairs = s.json("/api/od?window=24h");
        let any = |v: &Value, key: &str| v[key].as_array().is_some_and(|a| !a.is_empty());
        (any(&stops, "stops") && any(&pairs, "pairs")).then_some(())
    });
    let zones = service.json("/api/zones");
    let zone_names: Vec<String> = zones["windows"][0]["zones"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    // The rolling windows, as the place APIs list them when asked for one they lack.
    let (status, refusal) = service.json_status("/api/cells?window=none");
    assert_eq!(status, 400);
    let windows: Vec<String> = refusal["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    assert!(
        windows.len() >= 4 && zone_names.len() >= 3,
        "{windows:?} {zone_names:?}"
    );

    let mut paths = vec!["/api/zones".to_owned()];
    for w in &windows {
        paths.push(format!("/api/od?window={w}"));
        paths.push(format!("/api/stops?window={w}&limit=500"));
        for r in 5..=10 {
            paths.push(format!("/api/cells?window={w}&resolution={r}"));
        }
        for z in &zone_names {
            paths.push(format!("/api/cells?window={w}&zone={}", encode(z)));
            paths.push(format!(
                "/api/stops?window={w}&zone={}&limit=500",
                encode(z)
            ));
        }
    }
    let mut scan = Scan::default();
    for path in &paths {
        scan.walk(&service.json(path), path, false, &[]);
    }
    assert!(
        scan.problems.is_empty(),
        "{} numbers of a place below k on the public listener:\n{}",
        scan.problems.len(),
        scan.problems.join("\n")
    );
    // The scan saw real data, and the rule had something to hide.
    assert!(scan.shown > 1_000, "only {} numbers shown", scan.shown);
    assert!(
        scan.hidden > 0,
        "nothing hidden: the scan would not notice a leak"
    );
}

/// A zone name in a query (`Bærum` → `B%C3%A6rum`).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
