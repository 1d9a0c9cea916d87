//! H3 cells against values computed by the H3 reference C library (tests/fixtures/h3/).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use modeshare_core::space::cell_of;
use modeshare_core::vocabulary::GeoPoint;
use modeshare_tests::csv_rows;

#[test]
fn cells_match_the_h3_c_library() {
    let rows = csv_rows("h3/reference_cells.csv");
    assert!(rows.len() > 2000, "fixture has {} rows", rows.len());
    let mut mismatches = Vec::new();
    for row in &rows {
        let (lat, lon): (f64, f64) = (row[0].parse().unwrap(), row[1].parse().unwrap());
        let res = h3o::Resolution::try_from(row[2].parse::<u8>().unwrap()).unwrap();
        let cell = cell_of(GeoPoint::new(lat, lon).unwrap(), res).to_string();
        if cell != row[3] {
            mismatches.push(format!(
                "({lat}, {lon}) at {res}: got {cell}, want {}",
                row[3]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
