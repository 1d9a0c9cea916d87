use modeshare_core::pipeline::Pipeline;

use super::*;

// Fornebu inside Bærum (both squares here).
const ZONES: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"Bærum"},"geometry":{"type":"Polygon","coordinates":[[[10.40,59.80],[10.70,59.80],[10.70,60.00],[10.40,60.00],[10.40,59.80]]]}},
 {"type":"Feature","properties":{"name":"Fornebu"},"geometry":{"type":"Polygon","coordinates":[[[10.60,59.88],[10.65,59.88],[10.65,59.91],[10.60,59.91],[10.60,59.88]]]}}]}"#;

fn pipeline() -> Pipeline {
    crate::test_support::live_pipeline(ZONES)
}

/// A trip at minute `minute` of 2024-05-02 from (lat, lon), to Fornebu when `to_fornebu`.
fn trip(id: usize, mode: &str, minute: usize, (lat, lon): (f64, f64), to_fornebu: bool) -> String {
    let destination = if to_fornebu {
        r#","destination":{"lat":59.895,"lon":10.63}"#
    } else {
        ""
    };
    format!(
        r#"{{"kind":"trip","id":"{id}","source":"voi","mode":"{mode}","start_time":{},"origin":{{"lat":{lat},"lon":{lon}}}{destination}}}"#,
        1_714_608_000_000u64 + minute as u64 * 60_000
    )
}

const FORNEBU: (f64, f64) = (59.8958, 10.6290);
const SANDVIKA: (f64, f64) = (59.8890, 10.5240);

/// 12 trips from one Fornebu cell (3 by bicycle, all to Fornebu), 4 from one in Sandvika (to
/// nowhere in particular), then a trip a day later to move the watermark.
fn snapshot() -> Snapshot {
    let mut p = pipeline();
    let mut id = 0;
    let mut send = |p: &mut Pipeline, mode: &str, minute: usize, at, to_fornebu| {
        id += 1;
        p.observe_line(
            trip(id, mode, minute, at, to_fornebu).as_bytes(),
            "test",
            None,
        );
    };
    for i in 0..12 {
        send(
            &mut p,
            if i < 3 { "bicycle" } else { "walk" },
            i,
            FORNEBU,
            true,
        );
    }
    for i in 0..4 {
        send(&mut p, "walk", i, SANDVIKA, false);
    }
    send(&mut p, "walk", 20 * 60, SANDVIKA, false);
    Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark())
}

fn cell_at((lat, lon): (f64, f64)) -> CellIndex {
    modeshare_core::space::cell_of(
        modeshare_core::vocabulary::GeoPoint::new(lat, lon).unwrap(),
        h3o::Resolution::Nine,
    )
}

fn query(resolution: Option<&str>, window: Option<&str>, zone: Option<&str>) -> CellsQuery {
    CellsQuery {
        resolution: resolution.map(str::to_owned),
        window: window.map(str::to_owned),
        zone: zone.map(str::to_owned),
    }
}

#[test]
fn the_hex_map_shows_cells_that_pass_the_k_rule_as_closed_hexagons() {
    let s = snapshot();
    let map = cells(&s, &query(None, None, None), 10).unwrap();
    assert_eq!(map["type"], "FeatureCollection");
    assert_eq!(map["window"], "24h");
    assert_eq!(map["resolution"], 9);
    let features = map["features"].as_array().unwrap();
    assert_eq!(features.len(), 1, "the Sandvika cell has 4 events: {map}");
    assert_eq!(map["suppressed_cells"], 1);
    let f = &features[0];
    assert_eq!(f["properties"]["cell"], cell_at(FORNEBU).to_string());
    assert_eq!(f["properties"]["total_person_trips"], 12.0);
    assert_eq!(f["properties"]["events"], 12);
    // 3 bicycle trips in a cell of 12: hidden under the k rule, and the other modes of the cell
    // with them (else 12 minus the rest would give the 3 away); so is the cycling share.
    assert_eq!(f["properties"]["person_trips"]["bicycle"], Value::Null);
    let modes = f["properties"]["person_trips"].as_object().unwrap();
    assert!(
        modes.len() >= 2 && modes.values().all(Value::is_null),
        "{modes:?}"
    );
    assert_eq!(f["properties"]["shares"]["cycling"], Value::Null);
    let ring = f["geometry"]["coordinates"][0].as_array().unwrap();
    assert_eq!(ring.len(), 7, "six corners and the first again");
    assert_eq!(ring[0], ring[6]);
    // [lon, lat]: Fornebu's longitude first.
    assert!((ring[0][0].as_f64().unwrap() - FORNEBU.1).abs() < 0.01);
    // k = 1 shows the Sandvika cell too.
    let all = cells(&s, &query(None, None, None), 1).unwrap();
    assert_eq!(all["features"].as_array().unwrap().len(), 2);
    let fornebu = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["cell"] == cell_at(FORNEBU).to_string())
        .unwrap();
    assert_eq!(fornebu["properties"]["person_trips"]["bicycle"], 3.0);
    assert_eq!(fornebu["properties"]["shares"]["cycling"], 0.25);
    assert_eq!(all["suppressed_cells"], 0);
}

#[test]
fn zones_resolutions_and_windows_select_what_is_shown() {
    let s = snapshot();
    let count = |q: CellsQuery| {
        cells(&s, &q, 1).unwrap()["features"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count(query(None, None, Some("Fornebu"))), 1);
    assert_eq!(count(query(None, None, Some("Bærum"))), 2);
    // Coarser cells are the parents of the shown cells, with their sums.
    let parents: std::collections::BTreeSet<_> = [FORNEBU, SANDVIKA]
        .map(|at| cell_at(at).parent(h3o::Resolution::Six).unwrap())
        .into();
    assert_eq!(count(query(Some("6"), None, None)), parents.len());
    let coarse = cells(&s, &query(Some("6"), None, None), 1).unwrap();
    let total: f64 = coarse["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["total_person_trips"].as_f64().unwrap())
        .sum();
    assert_eq!(total, 16.0);
    // The 1h window ends a day later: empty, not an error.
    assert_eq!(count(query(None, Some("1h"), None)), 0);
}

#[test]
fn unanswerable_requests_say_what_would_work() {
    let s = snapshot();
    let error = |q: CellsQuery| cells(&s, &q, 10).unwrap_err().0;
    let e = error(query(None, Some("day"), None));
    assert!(e["error"].as_str().unwrap().contains("calendar"), "{e}");
    assert_eq!(e["windows"], json!(["1h", "24h", "7d", "28d"]));
    let e = error(query(None, None, Some("Oslo")));
    assert_eq!(e["zones"], json!(["Bærum", "Fornebu"]));
    for resolution in ["10", "16", "nine", "-1"] {
        let e = error(query(Some(resolution), None, None));
        assert!(e["error"].as_str().unwrap().contains("0–9"), "{e}");
    }
    let e = zone_pairs(
        &s,
        &ZonePairsQuery {
            window: Some("year".into()),
        },
        10,
    )
    .unwrap_err();
    assert!(e.0["windows"].is_array());
}

#[test]
fn zone_pairs_count_trips_with_a_destination_under_the_k_rule() {
    let s = snapshot();
    let od = zone_pairs(&s, &ZonePairsQuery::default(), 10).unwrap();
    let pairs = od["pairs"].as_array().unwrap();
    // The 12 Fornebu trips are in Fornebu and Bærum, and end in both: four pairs of 12.
    assert_eq!(pairs.len(), 4, "{od}");
    for p in pairs {
        assert_eq!(p["total_person_trips"], 12.0);
        assert!(p["origin"].is_string() && p["destination"].is_string());
    }
    assert_eq!(
        od["suppressed_pairs"], 0,
        "Sandvika's trips have no destination"
    );
    // k = 13 hides every pair.
    let od = zone_pairs(&s, &ZonePairsQuery::default(), 13).unwrap();
    assert_eq!(od["pairs"], json!([]));
    assert_eq!(od["suppressed_pairs"], 4);
}

/// From `from` to Fornebu: 10 trips of each of `modes` and `cars` car trips; then a trip a day
/// later from `later`, to move the watermark.
fn trips_with_cars(
    mut p: Pipeline,
    modes: [&str; 2],
    cars: usize,
    from: (f64, f64),
    later: (f64, f64),
) -> Snapshot {
    let modes = [modes[0]; 10]
        .into_iter()
        .chain([modes[1]; 10])
        .chain(std::iter::repeat_n("car_driver", cars));
    for (id, mode) in modes.enumerate() {
        p.observe_line(trip(id, mode, id, from, true).as_bytes(), "test", None);
    }
    p.observe_line(
        trip(1000, "walk", 20 * 60, later, false).as_bytes(),
        "test",
        None,
    );
    Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark())
}

/// From one Sandvika cell: walking, cycling and `cars` car trips.
fn snapshot_with_cars(cars: usize) -> Snapshot {
    trips_with_cars(pipeline(), ["walk", "bicycle"], cars, SANDVIKA, FORNEBU)
}

#[test]
fn a_place_whose_total_would_give_a_small_group_away_is_left_out_and_counted() {
    // 22 events pass k = 5, but 2 car trips do not: the total minus the sustainable group
    // (shown, 20) would give them away, so the total goes, and with it every share: the place
    // is left out of the map and the pairs and counted, not served with null numbers.
    let s = snapshot_with_cars(2);
    let map = cells(&s, &query(None, None, None), 5).unwrap();
    assert_eq!(map["features"], json!([]), "{map}");
    assert_eq!(map["suppressed_cells"], 1);
    let od = zone_pairs(&s, &ZonePairsQuery::default(), 5).unwrap();
    assert_eq!(od["pairs"], json!([]), "{od}");
    assert_eq!(
        od["suppressed_pairs"], 2,
        "from Bærum to Bærum and to Fornebu"
    );
    // k = 1 shows it whole, and without the car trips it passes as it is.
    let all = cells(&s, &query(None, None, None), 1).unwrap();
    assert_eq!(all["features"][0]["properties"]["total_person_trips"], 22.0);
    let no_cars = snapshot_with_cars(0);
    let map = cells(&no_cars, &query(None, None, None), 5).unwrap();
    let features = map["features"].as_array().unwrap();
    assert_eq!(features.len(), 1, "{map}");
    assert_eq!(features[0]["properties"]["total_person_trips"], 20.0);
    assert_eq!(features[0]["properties"]["shares"]["cycling"], 0.5);
    assert_eq!(map["suppressed_cells"], 0);
    let od = zone_pairs(&no_cars, &ZonePairsQuery::default(), 5).unwrap();
    assert_eq!(od["pairs"].as_array().unwrap().len(), 2, "{od}");
}

#[test]
fn a_stop_place_whose_total_would_give_a_small_group_away_is_left_out_and_counted() {
    // A city judging park-and-ride too: 10 e-scooter, 10 bicycle and 2 car trips round trips
    // at Fornebu. 22 pass k = 5; the total minus the sustainable group would give the 2 cars
    // away, so the stop place is left out and counted, as a cell would be.
    let judged = ["e_scooter", "bicycle", "car_driver"];
    let stops_at = [("Fornebu", FORNEBU)];
    let snapshot = |cars: usize| {
        let p = crate::test_support::live_pipeline_judging(ZONES, &judged, &stops_at);
        trips_with_cars(p, ["e_scooter", "bicycle"], cars, FORNEBU, SANDVIKA)
    };
    let list = stops(&snapshot(2), &stops_query(None, None), 5).unwrap();
    assert_eq!(list["stops"], json!([]), "{list}");
    assert_eq!(list["suppressed_stops"], 1);
    let all = stops(&snapshot(2), &stops_query(None, None), 1).unwrap();
    assert_eq!(all["stops"][0]["total_person_trips"], 22.0, "{all}");
    let no_cars = stops(&snapshot(0), &stops_query(None, None), 5).unwrap();
    assert_eq!(no_cars["stops"][0]["total_person_trips"], 20.0, "{no_cars}");
    assert_eq!(no_cars["suppressed_stops"], 0);
}

#[test]
fn before_the_first_event_the_maps_are_empty() {
    let p = pipeline();
    let s = Snapshot::build(p.settings(), p.zones(), &[&p], None);
    let map = cells(&s, &CellsQuery::default(), 10).unwrap();
    assert_eq!(map["features"], json!([]));
    assert_eq!(map["start"], Value::Null);
    assert!(cells(&s, &query(None, Some("day"), None), 10).is_err());
}

/// A trip of `mode` at minute `minute` from `from` to `to`.
fn ride(id: usize, minute: usize, from: (f64, f64), to: (f64, f64)) -> String {
    format!(
        r#"{{"kind":"trip","id":"r{id}","source":"voi","mode":"e_scooter","start_time":{},"origin":{{"lat":{},"lon":{}}},"destination":{{"lat":{},"lon":{}}}}}"#,
        1_714_608_000_000u64 + minute as u64 * 60_000,
        from.0,
        from.1,
        to.0,
        to.1
    )
}

const FAR: (f64, f64) = (59.95, 10.55);

/// E-scooter rides judged against stops at Fornebu and Sandvika: 10 leave Fornebu, 2 arrive
/// there and one is a round trip at it; 4 leave Sandvika; one elsewhere; then a ride a day
/// later to move the watermark.
fn stop_snapshot() -> Snapshot {
    let stops = [("Fornebu", FORNEBU), ("Sandvika", SANDVIKA)];
    let mut p = crate::test_support::live_pipeline_judging(ZONES, &["e_scooter"], &stops);
    let mut rides = Vec::new();
    rides.extend((0..10).map(|_| (FORNEBU, FAR)));
    rides.extend((0..2).map(|_| (FAR, FORNEBU)));
    rides.push((FORNEBU, FORNEBU));
    rides.extend((0..4).map(|_| (SANDVIKA, FAR)));
    rides.push((FAR, FAR));
    for (i, (from, to)) in rides.into_iter().enumerate() {
        p.observe_line(ride(i, i, from, to).as_bytes(), "test", None);
    }
    p.observe_line(ride(99, 24 * 60, FAR, FAR).as_bytes(), "test", None);
    Snapshot::build(p.settings(), p.zones(), &[&p], p.watermark())
}

fn stops_query(zone: Option<&str>, limit: Option<&str>) -> StopsQuery {
    StopsQuery {
        window: None,
        zone: zone.map(str::to_owned),
        limit: limit.map(str::to_owned),
    }
}

#[test]
fn stop_places_under_k_are_left_out_and_counted() {
    let s = stop_snapshot();
    let list = stops(&s, &stops_query(None, None), 10).unwrap();
    let shown = list["stops"].as_array().unwrap();
    assert_eq!(shown.len(), 1, "Sandvika has 4 rides: {list}");
    assert_eq!(list["suppressed_stops"], 1);
    let fornebu = &shown[0];
    assert_eq!(fornebu["stop"], "Fornebu");
    // 13 rides, the round trip once: 10 depart, 2 arrive, 1 both.
    assert_eq!(fornebu["events"], 13);
    assert_eq!(fornebu["total_person_trips"], 13.0);
    assert_eq!(fornebu["departs_person_trips"], 10.0);
    // 2 arrivals and 1 round trip are under k: hidden, both (neither follows from 13 − 10).
    assert_eq!(fornebu["arrives_person_trips"], Value::Null);
    assert_eq!(fornebu["round_trip_person_trips"], Value::Null);
    assert_eq!(fornebu["zones"], json!(["Bærum", "Fornebu"]));
    assert_eq!(list["radius_m"], 200.0);
    assert_eq!(list["modes"], json!(["e_scooter"]));
    // k = 14 hides Fornebu too; k = 1 shows both, most person trips first.
    let none = stops(&s, &stops_query(None, None), 14).unwrap();
    assert_eq!(none["stops"], json!([]));
    assert_eq!(none["suppressed_stops"], 2);
    let all = stops(&s, &stops_query(None, None), 1).unwrap();
    let names: Vec<&str> = all["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stop"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Fornebu", "Sandvika"]);
    // The zone's share agrees: 17 of 18 judged rides in Bærum start or end near a stop.
    let zones = &s.view.as_ref().unwrap().windows[1].zones;
    let access = zones["Bærum"].transit_access.as_ref().unwrap();
    assert_eq!(access.all.judged_person_trips, 18.0);
    assert_eq!(access.all.near_stop_person_trips, 17.0);
}

#[test]
fn stop_places_follow_the_zone_and_limit_asked_for() {
    let s = stop_snapshot();
    let list = stops(&s, &stops_query(Some("Fornebu"), None), 1).unwrap();
    assert_eq!(list["stops"].as_array().unwrap().len(), 1);
    assert_eq!(list["stops"][0]["stop"], "Fornebu");
    assert_eq!(list["suppressed_stops"], 0, "Sandvika is not in Fornebu");
    let one = stops(&s, &stops_query(None, Some("1")), 1).unwrap();
    assert_eq!(one["stops"].as_array().unwrap().len(), 1);
    assert_eq!(one["more_stops"], 1);
    for bad in ["0", "501", "ten"] {
        let e = stops(&s, &stops_query(None, Some(bad)), 1).unwrap_err().0;
        assert!(e["error"].as_str().unwrap().contains("1–500"), "{e}");
    }
    let e = stops(&s, &stops_query(Some("Oslo"), None), 1)
        .unwrap_err()
        .0;
    assert_eq!(e["zones"], json!(["Bærum", "Fornebu"]));
    // Without transit access there are no stop places, and no error.
    let plain = snapshot();
    let list = stops(&plain, &stops_query(None, None), 1).unwrap();
    assert_eq!(list["stops"], json!([]));
    assert_eq!(list["modes"], json!([]));
}
