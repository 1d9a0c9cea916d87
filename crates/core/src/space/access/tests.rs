use std::borrow::Cow;

use geo::Destination;
use proptest::prelude::*;

use super::*;
use crate::vocabulary::{EventTimeMs, GroupsConfig, PersonTrips};

const ZONES: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"Bærum"},"geometry":{"type":"Polygon","coordinates":[[[10.40,59.80],[10.70,59.80],[10.70,60.00],[10.40,60.00],[10.40,59.80]]]}}]}"#;

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

/// The point `metres` from `from` at `bearing` degrees.
fn away(from: GeoPoint, bearing: f64, metres: f64) -> GeoPoint {
    let p = Haversine.destination(geo::Point(from.to_coord()), bearing, metres);
    point(p.y(), p.x())
}

fn gtfs(id: &str, name: &str, at: Option<GeoPoint>, parent: Option<&str>, kind: u8) -> GtfsStop {
    GtfsStop {
        id: id.into(),
        name: name.into(),
        point: at,
        parent_station: parent.map(str::to_owned),
        location_type: kind,
    }
}

fn validate(config: &TransitAccessConfig, rows: &[GtfsStop]) -> Result<TransitAccess, String> {
    let mut errors = ConfigErrors::default();
    let groups = GroupsConfig(
        [("micromobility".to_owned(), vec!["e_scooter".to_owned()])]
            .into_iter()
            .collect(),
    )
    .validate(&mut errors);
    let zones = Zones::from_geojson(ZONES).unwrap();
    let access = config.validate(&groups, rows, "test stops", &zones, &mut errors);
    errors.into_result(access).map_err(|e| e.to_string())
}

const LYSAKER: (f64, f64) = (59.91348, 10.63658);

fn lysaker() -> TransitAccess {
    let config = TransitAccessConfig {
        stops: vec![StopConfig {
            name: "Lysaker".into(),
            lat: LYSAKER.0,
            lon: LYSAKER.1,
        }],
        ..crate::testing::default_transit_access()
    };
    validate(&config, &[]).unwrap()
}

fn trip(mode: Mode, origin: GeoPoint, destination: Option<GeoPoint>) -> Observation<'static> {
    Observation {
        kind: Kind::Trip,
        id: Some(Cow::Borrowed("t")),
        source: Cow::Borrowed("voi"),
        mode,
        start_time: EventTimeMs(1_714_608_000_000),
        end_time: None,
        place: origin,
        destination,
        reported_distance_m: None,
        person_trips: PersonTrips::ONE,
        coverage: None,
    }
}

#[test]
fn a_stop_at_the_radius_edge_is_near_just_inside_and_not_just_outside() {
    let access = lysaker();
    let stop = point(LYSAKER.0, LYSAKER.1);
    for bearing in [0.0, 45.0, 90.0, 180.0, 271.0] {
        let inside = away(stop, bearing, 199.9);
        let outside = away(stop, bearing, 200.1);
        assert_eq!(
            access.stops.nearest_within(inside, 200.0),
            Some(StopId(0)),
            "{bearing}°"
        );
        assert_eq!(
            access.stops.nearest_within(outside, 200.0),
            None,
            "{bearing}°"
        );
    }
    // Exactly at the radius: within (≤) by the great-circle distance docs/computation.md#first-and-last-mile names.
    let edge = away(stop, 30.0, 200.0);
    let expected = (edge.distance_m(stop) <= 200.0).then_some(StopId(0));
    assert_eq!(access.stops.nearest_within(edge, 200.0), expected);
    assert_eq!(access.stops.nearest_within(stop, 200.0), Some(StopId(0)));
}

#[test]
fn each_judged_trip_gets_one_access_class() {
    let access = lysaker();
    let stop = point(LYSAKER.0, LYSAKER.1);
    let near = away(stop, 90.0, 120.0);
    let far = away(stop, 90.0, 2_000.0);
    let far2 = away(stop, 0.0, 3_000.0);
    let cases = [
        (near, Some(far), Access::FromStop),
        (near, None, Access::FromStop),
        (far, Some(near), Access::ToStop),
        (near, Some(stop), Access::StopToStop),
        (far, Some(far2), Access::NoStop),
        (far, None, Access::NoDestination),
    ];
    for (origin, destination, want) in cases {
        let facts = access
            .judge(&trip(Mode::EScooter, origin, destination))
            .unwrap();
        assert_eq!(facts.access, want);
        assert_eq!(facts.origin_stop.is_some(), origin == near);
        assert_eq!(
            facts.destination_stop.is_some(),
            destination.is_some_and(|d| d == near || d == stop)
        );
    }
    // Modes not judged, and counts, get no class.
    assert_eq!(access.judge(&trip(Mode::Walk, near, Some(near))), None);
    let mut count = trip(Mode::Bicycle, near, None);
    count.kind = Kind::Count;
    assert_eq!(access.judge(&count), None);
    assert!(access.judge(&trip(Mode::Bicycle, near, None)).is_some());
}

#[test]
fn stops_group_into_places_by_parent_station_or_name_nearby() {
    let base = point(59.8910, 10.5237);
    let rows = [
        gtfs("S", "Sandvika stasjon", Some(base), None, 1),
        gtfs(
            "S:1",
            "Sandvika spor 1",
            Some(away(base, 10.0, 60.0)),
            Some("S"),
            0,
        ),
        gtfs("S:2", "Sandvika spor 2", None, Some("S"), 0),
        gtfs(
            "S:e",
            "Sandvika inngang",
            Some(away(base, 90.0, 20.0)),
            Some("S"),
            2,
        ),
        gtfs(
            "H1",
            "Hans Burums vei",
            Some(point(59.922218, 10.591898)),
            None,
            0,
        ),
        gtfs(
            "H2",
            "Hans Burums vei",
            Some(point(59.922878, 10.592520)),
            None,
            0,
        ),
        // The same name in another town is another place.
        gtfs("H3", "Hans Burums vei", Some(point(59.80, 10.45)), None, 0),
        gtfs("X", "Oslo S", Some(point(59.9102, 10.7553)), None, 0),
    ];
    let config = TransitAccessConfig {
        stops: vec![StopConfig {
            name: "Fornebu".into(),
            lat: 59.896,
            lon: 10.622,
        }],
        ..crate::testing::default_transit_access()
    };
    let access = validate(&config, &rows).unwrap();
    let places = access.stops.places();
    let names: Vec<(&str, usize)> = places.iter().map(|p| (p.name.as_str(), p.stops)).collect();
    assert_eq!(
        names,
        [
            ("Sandvika stasjon", 2),
            ("Hans Burums vei", 2),
            ("Hans Burums vei", 1),
            ("Oslo S", 1),
            ("Fornebu", 1)
        ],
        "the entrance and the quay without a position are left out"
    );
    assert_eq!(access.stops.stop_count(), 7);
    assert_eq!(&*places[0].zones, [ZoneId(0)]);
    assert!(places[3].zones.is_empty(), "Oslo S is outside the zone");
    assert_eq!(
        access.stops.nearest_within(away(base, 10.0, 200.0), 200.0),
        Some(StopId(0)),
        "near the quay, not the station point"
    );
}

#[test]
fn bad_transit_access_settings_are_reported_with_their_key() {
    let cases = [
        (
            TransitAccessConfig {
                modes: vec!["hovercraft".into()],
                ..crate::testing::default_transit_access()
            },
            "transit_access.modes[0]",
        ),
        (
            TransitAccessConfig {
                radius_m: 0.0,
                ..crate::testing::default_transit_access()
            },
            "transit_access.radius_m",
        ),
        (
            TransitAccessConfig {
                radius_m: 6_000.0,
                ..crate::testing::default_transit_access()
            },
            "transit_access.radius_m",
        ),
        (
            crate::testing::default_transit_access(),
            "holds no stop with a position",
        ),
        (
            TransitAccessConfig {
                stops: vec![StopConfig {
                    name: "Nowhere".into(),
                    lat: 91.0,
                    lon: 0.0,
                }],
                ..crate::testing::default_transit_access()
            },
            "transit_access.stops[0]",
        ),
    ];
    for (config, expected) in cases {
        let e = validate(&config, &[]).unwrap_err();
        assert!(e.contains(expected), "{e}");
    }
    // A group name stands for its modes; no modes turns it off without stops.
    let by_group = TransitAccessConfig {
        modes: vec!["micromobility".into()],
        stops: lysaker_stop(),
        ..crate::testing::default_transit_access()
    };
    let access = validate(&by_group, &[]).unwrap();
    assert!(access.modes.contains(Mode::EScooter) && !access.modes.contains(Mode::Bicycle));
    let off = TransitAccessConfig {
        modes: Vec::new(),
        ..crate::testing::default_transit_access()
    };
    assert!(!validate(&off, &[]).unwrap().is_enabled());
}

fn lysaker_stop() -> Vec<StopConfig> {
    vec![StopConfig {
        name: "Lysaker".into(),
        lat: LYSAKER.0,
        lon: LYSAKER.1,
    }]
}

proptest! {
    /// The indexed lookup equals a plain scan of every stop by great-circle distance, over
    /// random stops and points — near the pole and across the antimeridian too.
    #[test]
    fn the_index_finds_what_a_plain_scan_finds(
        centre in (-80.0..80.0f64, -180.0..180.0f64),
        stops in proptest::collection::vec((0.0..360.0f64, 0.0..3_000.0f64), 1..40),
        probes in proptest::collection::vec((0.0..360.0f64, 0.0..3_000.0f64), 1..40),
        radius in 1.0..1_000.0f64,
    ) {
        let centre = point(centre.0, centre.1);
        let listed: Vec<(String, GeoPoint)> = stops
            .iter()
            .enumerate()
            .map(|(i, (bearing, m))| (format!("stop {i}"), away(centre, *bearing, *m)))
            .collect();
        let index = TransitStops::build(&[], &listed, &Zones::default());
        for (bearing, m) in probes {
            let p = away(centre, bearing, m);
            let scan = index
                .tree
                .iter()
                .map(|s| (p.distance_m(s.data.0), s.data.1))
                .filter(|(d, _)| *d <= radius)
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
                .map(|(_, place)| place);
            prop_assert_eq!(index.nearest_within(p, radius), scan);
        }
    }

    /// With a memo, every lookup of a probe sent several times answers as the index does.
    #[test]
    fn remembered_stops_are_the_index_answers(
        stops in proptest::collection::vec((0.0..360.0f64, 0.0..3_000.0f64), 1..40),
        probes in proptest::collection::vec((0.0..360.0f64, 0.0..3_000.0f64), 1..20),
        order in proptest::collection::vec(0usize..20, 1..100),
        radius in 1.0..1_000.0f64,
    ) {
        let centre = point(LYSAKER.0, LYSAKER.1);
        let listed: Vec<(String, GeoPoint)> = stops
            .iter()
            .enumerate()
            .map(|(i, (bearing, m))| (format!("stop {i}"), away(centre, *bearing, *m)))
            .collect();
        let index = TransitStops::build(&[], &listed, &Zones::default());
        let mut memo = StopMemo::default();
        for i in order {
            let (bearing, m) = probes[i % probes.len()];
            let p = away(centre, bearing, m);
            prop_assert_eq!(
                memo.nearest_within(&index, p, radius),
                index.nearest_within(p, radius)
            );
        }
    }
}
