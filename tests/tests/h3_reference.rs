//! H3 cells against values computed by the H3 reference C library (tests/fixtures/h3/).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;

use modeshare_core::space::{SpatialIndex, Zones, cell_of};
use modeshare_core::vocabulary::GeoPoint;
use modeshare_tests::csv_rows;

#[test]
fn cells_match_the_h3_c_library() {
    let rows = csv_rows("h3/reference_cells.csv");
    assert!(rows.len() > 2000, "fixture has {} rows", rows.len());
    let mut mismatches = Vec::new();
    // Placing (the pipeline's way, which remembers cells found) must give the same cells.
    let mut placers: BTreeMap<h3o::Resolution, SpatialIndex> = BTreeMap::new();
    for row in &rows {
        let (lat, lon): (f64, f64) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        let res = h3o::Resolution::try_from(row[2].parse::<u8>().unwrap()).unwrap();
        let point = GeoPoint::new(lat, lon).unwrap();
        let placer = placers.entry(res).or_insert_with(|| {
            let no_zones = Zones::from_geojson(r#"{"type":"FeatureCollection","features":[]}"#);
            SpatialIndex::new(no_zones.unwrap(), res)
        });
        let cells = [cell_of(point, res), placer.place(point).cell];
        for (how, cell) in ["cell_of", "place"].into_iter().zip(cells) {
            if cell.to_string() != row[3] {
                mismatches.push(format!(
                    "({lat}, {lon}) at {res} by {how}: got {cell}, want {}",
                    row[3]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
