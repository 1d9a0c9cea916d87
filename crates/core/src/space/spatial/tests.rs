use proptest::prelude::*;

use super::*;
use crate::space::zone::ZoneError;

const DEFAULT_ZONES: &str = include_str!("../../../../../config/zones/baerum.geojson");

/// A square with a square hole, and a second square touching nothing.
const HOLED: &str = r#"{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"name":"ring"},"geometry":{"type":"MultiPolygon","coordinates":[
   [[[10.0,59.0],[11.0,59.0],[11.0,60.0],[10.0,60.0],[10.0,59.0]],[[10.4,59.4],[10.6,59.4],[10.6,59.6],[10.4,59.6],[10.4,59.4]]],
   [[[12.0,59.0],[12.5,59.0],[12.5,59.5],[12.0,59.5],[12.0,59.0]]]]}}]}"#;

fn zones(text: &str) -> Zones {
    Zones::from_geojson(text).unwrap()
}

fn naive(zones: &Zones, p: GeoPoint) -> Vec<ZoneId> {
    let mut out = Vec::new();
    zones.zones_containing(p, &mut out);
    out
}

fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint::new(lat, lon).unwrap()
}

#[test]
fn holes_and_boundaries_are_outside() {
    let z = zones(HOLED);
    let ring = ZoneId(0);
    assert!(z.contains(ring, point(59.2, 10.2)));
    assert!(!z.contains(ring, point(59.5, 10.5)), "inside the hole");
    assert!(
        z.contains(ring, point(59.2, 12.2)),
        "second polygon of the multipolygon"
    );
    assert!(!z.contains(ring, point(59.0, 10.5)), "on the outer edge");
    assert!(!z.contains(ring, point(59.4, 10.5)), "on the hole's edge");
    assert!(!z.contains(ring, point(59.0, 10.0)), "on a vertex");
    assert!(z.contains(ring, point(59.0 + 1e-12, 10.5)), "just inside");
    assert!(!z.contains(ring, point(59.0 - 1e-12, 10.5)), "just outside");
}

#[test]
fn the_default_zones_are_named_and_nested() {
    let z = zones(DEFAULT_ZONES);
    let names: Vec<&str> = z.iter().map(|(_, z)| z.name.as_str()).collect();
    assert_eq!(names, ["Bærum", "Fornebu", "Sandvika"]);
    assert!(
        z.get(ZoneId(1))
            .note
            .as_deref()
            .is_some_and(|n| n.contains("Approximate"))
    );
    // Kartverket's boundary comes with its licence; the hand-drawn ones have none.
    assert!(
        z.get(ZoneId(0))
            .attribution
            .as_deref()
            .is_some_and(|a| a.contains("Kartverket") && a.contains("CC BY 4.0"))
    );
    assert_eq!(z.get(ZoneId(1)).attribution, None);
    let mut index = SpatialIndex::new(z, Resolution::Nine);
    // Fornebu (IT Fornebu), Sandvika station, Oslo city hall.
    assert_eq!(
        index.place(point(59.8937, 10.6281)).zones,
        [ZoneId(0), ZoneId(1)]
    );
    assert_eq!(
        index.place(point(59.8910, 10.5237)).zones,
        [ZoneId(0), ZoneId(2)]
    );
    assert!(index.place(point(59.9115, 10.7337)).zones.is_empty());
}

#[test]
fn cells_are_h3_at_the_configured_resolution() {
    let mut index = SpatialIndex::new(zones(HOLED), Resolution::Nine);
    let placed = index.place(point(59.8937, 10.6281));
    assert_eq!(placed.cell.resolution(), Resolution::Nine);
    assert_eq!(placed.cell.to_string().len(), 15);
}

#[test]
fn zone_errors_name_the_feature() {
    let no_name = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;
    assert!(matches!(
        Zones::from_geojson(no_name),
        Err(ZoneError::Feature { index: 0, .. })
    ));
    let point_zone = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"p"},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#;
    let e = Zones::from_geojson(point_zone).unwrap_err().to_string();
    assert!(e.contains("Polygon or MultiPolygon"), "{e}");
    let swapped = r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"s"},"geometry":{"type":"Polygon","coordinates":[[[59,100],[60,100],[60,101],[59,100]]]}}]}"#;
    assert!(
        Zones::from_geojson(swapped)
            .unwrap_err()
            .to_string()
            .contains("outside WGS84")
    );
    assert!(matches!(
        Zones::from_geojson("{}"),
        Err(ZoneError::Parse(_))
    ));
    let twice = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"name":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
      {"type":"Feature","properties":{"name":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}"#;
    assert!(
        Zones::from_geojson(twice)
            .unwrap_err()
            .to_string()
            .contains("used twice")
    );
}

/// Points on every vertex of the default zones, and nudged off them by tiny amounts in all
/// directions: the cached lookup agrees with the plain point-in-polygon test.
#[test]
fn cached_lookup_matches_plain_point_in_polygon_at_every_vertex() {
    let z = zones(DEFAULT_ZONES);
    let vertices: Vec<(f64, f64)> = z
        .iter()
        .flat_map(|(_, zone)| {
            zone.area.iter().flat_map(|p| {
                p.exterior()
                    .coords()
                    .map(|c| (c.y, c.x))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for res in [
        Resolution::Five,
        Resolution::Seven,
        Resolution::Nine,
        Resolution::Eleven,
        Resolution::Fifteen,
    ] {
        let mut index = SpatialIndex::new(z.clone(), res);
        for &(lat, lon) in &vertices {
            for (dlat, dlon) in [
                (0.0, 0.0),
                (1e-9, 0.0),
                (-1e-9, 0.0),
                (0.0, 1e-9),
                (0.0, -1e-9),
                (1e-5, 1e-5),
                (-1e-5, -1e-5),
            ] {
                let p = point(lat + dlat, lon + dlon);
                assert_eq!(
                    index.place(p).zones,
                    naive(&z, p).as_slice(),
                    "{p:?} at {res}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Random points over Bærum and its surroundings, at several resolutions, in one index so
    /// that the cache is warm, placed or (every other one, as a destination) only zoned: the
    /// same zones as the uncached test.
    #[test]
    fn cached_lookup_matches_plain_point_in_polygon(
        points in proptest::collection::vec((59.84..60.04f64, 10.34..10.65f64), 1..50),
        res in prop::sample::select(vec![4u8, 5, 8, 9, 10, 12]),
    ) {
        let z = zones(DEFAULT_ZONES);
        let mut index = SpatialIndex::new(z.clone(), Resolution::try_from(res).unwrap());
        let mut destination_zones = Vec::new();
        for (i, (lat, lon)) in points.into_iter().enumerate() {
            let p = point(lat, lon);
            let expected = naive(&z, p);
            if i % 2 == 0 {
                prop_assert_eq!(index.place(p).zones, expected.as_slice());
            } else {
                index.zones_at(p, &mut destination_zones);
                prop_assert_eq!(&destination_zones, &expected);
            }
        }
    }
}

/// Points sent again and again (counters, docks) among points that never repeat, more than
/// the memo has slots: every placement equals a fresh index's, cell and zones, and so do the
/// zones of every other point placed as a destination (`zones_at`, into a buffer still holding
/// the previous point's zones).
#[test]
fn remembered_points_are_placed_as_fresh_ones() {
    let z = zones(DEFAULT_ZONES);
    let mut index = SpatialIndex::new(z.clone(), Resolution::Nine);
    let sites: Vec<GeoPoint> = (0..300)
        .map(|i| {
            point(
                59.88 + f64::from(i) * 3.1e-4,
                10.45 + f64::from(i % 17) * 0.011,
            )
        })
        .collect();
    let mut remembered = 0;
    let mut destination = Vec::new();
    for i in 0..20_000u32 {
        let p = if i % 3 == 0 {
            sites[(i as usize * 7) % sites.len()]
        } else {
            point(
                59.84 + f64::from(i) * 1e-5,
                10.34 + f64::from(i % 997) * 3e-4,
            )
        };
        let (lat, lon) = (p.lat().to_bits(), p.lon().to_bits());
        let slot = *index.memo.slot(lat, lon);
        remembered += usize::from(slot.cell.is_some() && slot.lat == lat && slot.lon == lon);
        if i % 2 == 0 {
            index.zones_at(p, &mut destination);
            assert_eq!(destination, naive(&z, p), "as a destination: {p:?}");
            continue;
        }
        let got = index.place(p);
        let (cell, zones) = (got.cell, got.zones.to_vec());
        assert_eq!(cell, cell_of(p, Resolution::Nine), "{p:?}");
        assert_eq!(zones, naive(&z, p), "{p:?}");
    }
    assert!(remembered > 5_000, "the sites are remembered: {remembered}");
}
