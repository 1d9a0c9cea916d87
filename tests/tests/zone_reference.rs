//! Zone membership against GEOS (OGC contains, tests/fixtures/zones/) for points on, just inside
//! and just outside borders of multipolygons with islands and holes, and against a plain
//! crossing-number test wherever plain floating point can decide.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;

use geo::{Coord, MultiPolygon};
use h3o::Resolution;
use modeshare_core::space::SpatialIndex;
use modeshare_core::space::{ZoneId, Zones};
use modeshare_core::vocabulary::GeoPoint;
use modeshare_tests::{csv_rows, fixture, repo_root};

fn load(file: &str) -> Zones {
    let path = if file == "holes.geojson" {
        fixture("zones/holes.geojson")
    } else {
        repo_root().join("config/zones").join(file)
    };
    Zones::from_geojson(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Even-odd crossing number over every ring; a point equal to a vertex is on the boundary.
fn plain_point_in_polygon(area: &MultiPolygon<f64>, p: Coord<f64>) -> bool {
    area.iter().any(|polygon| {
        let rings = std::iter::once(polygon.exterior()).chain(polygon.interiors());
        let mut inside = false;
        for ring in rings {
            for line in ring.lines() {
                let (a, b) = (line.start, line.end);
                if a == p {
                    return false;
                }
                if (a.y > p.y) != (b.y > p.y) && p.x < a.x + (p.y - a.y) / (b.y - a.y) * (b.x - a.x)
                {
                    inside = !inside;
                }
            }
        }
        inside
    })
}

#[test]
fn membership_matches_geos_and_plain_point_in_polygon() {
    let rows = csv_rows("zones/reference_membership.csv");
    assert!(rows.len() > 10_000, "fixture has {} rows", rows.len());
    let mut by_file: BTreeMap<String, Vec<&Vec<String>>> = BTreeMap::new();
    for row in &rows {
        by_file.entry(row[0].clone()).or_default().push(row);
    }
    assert_eq!(by_file.len(), 2);
    let mut checked_plain = 0;
    for (file, rows) in by_file {
        let zones = load(&file);
        let id_of = |name: &str| {
            zones
                .iter()
                .find(|(_, z)| z.name == name)
                .map(|(id, _)| id)
                .unwrap()
        };
        let mut indexes: Vec<SpatialIndex> =
            [Resolution::Six, Resolution::Nine, Resolution::Twelve]
                .map(|r| SpatialIndex::new(zones.clone(), r))
                .into();
        for row in rows {
            let (lat, lon): (f64, f64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
            let (zone, want, kind) = (id_of(&row[3]), row[4] == "1", row[5].as_str());
            let p = GeoPoint::new(lat, lon).unwrap();
            let what = format!("{file} {kind} ({lat}, {lon}) in {:?}", row[3]);
            assert_eq!(zones.contains(zone, p), want, "exact test: {what}");
            for index in &mut indexes {
                let placed: Vec<ZoneId> = index.place(p).zones.to_vec();
                assert_eq!(
                    placed.contains(&zone),
                    want,
                    "cached lookup at {}: {what}",
                    index.resolution()
                );
            }
            if kind == "vertex" {
                assert!(!want, "GEOS puts a vertex inside: {what}");
            }
            // Midpoints and nudges sit within rounding of an edge: only robust predicates decide
            // them, so the plain test is compared on vertices and random points.
            if matches!(kind, "vertex" | "random") {
                let plain = plain_point_in_polygon(&zones.get(zone).area, p.to_coord());
                assert_eq!(plain, want, "plain point-in-polygon: {what}");
                checked_plain += 1;
            }
        }
    }
    assert!(
        checked_plain > 5000,
        "only {checked_plain} rows compared with the plain test"
    );
}
