use std::borrow::Cow;

use super::*;
use crate::vocabulary::{EventTimeMs, GeoPoint, Mode, PersonTrips};

fn bands(edges_km: &[f64]) -> Result<DistanceBands, String> {
    let mut errors = ConfigErrors::default();
    let bands = DistanceBandsConfig {
        edges_km: edges_km.to_vec(),
    }
    .validate(&mut errors);
    errors.into_result(bands).map_err(|e| e.to_string())
}

fn trip(destination: Option<(f64, f64)>, reported_distance_m: Option<f64>) -> Observation<'static> {
    Observation {
        kind: Kind::Trip,
        id: Some(Cow::Borrowed("t")),
        source: Cow::Borrowed("voi"),
        mode: Mode::EScooter,
        start_time: EventTimeMs(1_714_608_000_000),
        end_time: None,
        place: GeoPoint::new(59.9, 10.6).unwrap(),
        destination: destination.map(|(lat, lon)| GeoPoint::new(lat, lon).unwrap()),
        reported_distance_m,
        person_trips: PersonTrips::ONE,
        coverage: None,
    }
}

fn label(b: &DistanceBands, d: Option<f64>) -> &str {
    b.label(b.band_of_distance(d))
}

#[test]
fn the_default_bands_are_labelled_in_order_with_unknown_last() {
    let b = crate::testing::default_bands();
    let labels: Vec<&str> = b.all().map(|band| b.label(band)).collect();
    assert_eq!(
        labels,
        ["0-1km", "1-3km", "3-5km", "5-10km", "10km+", "unknown"]
    );
    assert_eq!(b.range_m(Band(0)), (Some(0.0), Some(1000.0)));
    assert_eq!(b.range_m(Band(4)), (Some(10_000.0), None));
    assert_eq!(b.range_m(Band::UNKNOWN), (None, None));
    assert_eq!(b.slot(Band::UNKNOWN), 5);
}

#[test]
fn bands_are_half_open_at_their_edges() {
    let b = crate::testing::default_bands();
    assert_eq!(label(&b, Some(0.0)), "0-1km", "a 0 m round trip");
    assert_eq!(label(&b, Some(999.999)), "0-1km");
    assert_eq!(label(&b, Some(1000.0)), "1-3km", "exactly 1 km");
    assert_eq!(label(&b, Some(2999.9)), "1-3km");
    assert_eq!(label(&b, Some(10_000.0)), "10km+");
    assert_eq!(label(&b, Some(4e7)), "10km+");
    for unknown in [None, Some(f64::NAN), Some(-1.0), Some(f64::INFINITY)] {
        assert_eq!(label(&b, unknown), "unknown", "{unknown:?}");
    }
}

#[test]
fn a_trips_band_comes_from_its_reported_distance_else_its_destination() {
    let b = crate::testing::default_bands();
    // 0.01° of latitude is about 1.11 km.
    assert_eq!(
        b.label(b.band_of(&trip(Some((59.91, 10.6)), None))),
        "1-3km"
    );
    assert_eq!(b.label(b.band_of(&trip(Some((59.9, 10.6)), None))), "0-1km");
    assert_eq!(
        b.label(b.band_of(&trip(Some((59.91, 10.6)), Some(5_000.0)))),
        "5-10km",
        "the reported distance wins"
    );
    assert_eq!(
        b.label(b.band_of(&trip(None, None))),
        "unknown",
        "no destination, no distance"
    );
    let mut count = trip(Some((59.91, 10.6)), Some(500.0));
    count.kind = Kind::Count;
    assert_eq!(b.band_of(&count), Band::UNKNOWN, "counts have no distance");
}

#[test]
fn configured_bands_take_fractions_of_a_kilometre() {
    let b = bands(&[0.5, 2.0]).unwrap();
    let labels: Vec<&str> = b.all().map(|band| b.label(band)).collect();
    assert_eq!(labels, ["0-0.5km", "0.5-2km", "2km+", "unknown"]);
    assert_eq!(label(&b, Some(500.0)), "0.5-2km");
    let one = bands(&[]).unwrap();
    assert_eq!(label(&one, Some(123.0)), "0km+", "no edges: one band");
}

#[test]
fn bad_edges_are_reported_with_their_key() {
    for (edges, key, message) in [
        (vec![3.0, 1.0], "edges_km[1]", "larger than the edge before"),
        (vec![1.0, 1.0], "edges_km[1]", "larger than the edge before"),
        (vec![0.0], "edges_km[0]", "must be > 0"),
        (vec![f64::NAN], "edges_km[0]", "must be > 0"),
        (vec![0.0005], "edges_km[0]", "whole metres"),
        (
            (1..=16).map(f64::from).collect(),
            "edges_km",
            "at most 15 edges",
        ),
    ] {
        let e = bands(&edges).unwrap_err();
        assert!(
            e.contains(&format!("distance_bands.{key}")) && e.contains(message),
            "{edges:?}: {e}"
        );
    }
}
