use h3o::{CellIndex, LatLng, Resolution};
use proptest::prelude::*;

use super::{CellLocator, cross, normalized, sub, unit_vector};

fn latlng_of(v: [f64; 3]) -> LatLng {
    LatLng::from_radians(v[2].asin(), v[1].atan2(v[0])).unwrap()
}

/// Asks the locator and h3o for the point's cell and fails the test where they differ.
fn same_as_h3o(locator: &mut CellLocator, point: LatLng, resolution: Resolution) {
    assert_eq!(
        locator.cell_of(point),
        point.to_cell(resolution),
        "{point:?} at resolution {resolution}"
    );
}

/// Points on both sides of every edge of `cell`, at distances from the edge down to rounding,
/// each asked right after a point on the other side (same grid cube, the other cell remembered).
fn across_every_edge(locator: &mut CellLocator, cell: CellIndex) {
    let resolution = cell.resolution();
    let edge = resolution.edge_length_rads();
    let vertices: Vec<[f64; 3]> = cell.boundary().iter().map(|v| unit_vector(*v)).collect();
    same_as_h3o(locator, LatLng::from(cell), resolution);
    for k in 0..vertices.len() {
        let (a, b) = (vertices[k], vertices[(k + 1) % vertices.len()]);
        let Some(normal) = normalized(cross(a, sub(b, a))) else {
            continue;
        };
        for t in [0.0, 0.01, 0.3, 0.5, 0.77, 0.99] {
            let on_edge = [0, 1, 2].map(|i| a[i] + t * (b[i] - a[i]));
            for distance in [0.0, 1e-14, 1e-11, 1e-8, 1e-6, 1e-4, 1e-2] {
                let d = distance * edge;
                let side = |sign: f64| {
                    latlng_of(
                        normalized([0, 1, 2].map(|i| on_edge[i] + sign * d * normal[i])).unwrap(),
                    )
                };
                for point in [side(1.0), side(-1.0), side(1.0), side(-1.0)] {
                    same_as_h3o(locator, point, resolution);
                }
            }
        }
    }
}

#[test]
fn points_just_either_side_of_an_edge_get_their_own_cell() {
    let baerum = LatLng::new(59.8945, 10.5462).unwrap();
    for resolution in Resolution::range(Resolution::Zero, Resolution::Fifteen) {
        let mut locator = CellLocator::new(resolution);
        let cell = baerum.to_cell(resolution);
        for cell in cell.grid_disk::<Vec<_>>(2) {
            across_every_edge(&mut locator, cell);
        }
        assert!(
            locator.found_again() > 0,
            "the remembered cells' test was never used at resolution {resolution}"
        );
    }
}

#[test]
fn pentagons_and_cells_across_face_edges_are_left_to_h3o() {
    for resolution in [
        Resolution::Two,
        Resolution::Five,
        Resolution::Nine,
        Resolution::Twelve,
    ] {
        let mut locator = CellLocator::new(resolution);
        let mut tried = 0;
        for pentagon in resolution.pentagons() {
            for cell in pentagon.grid_disk::<Vec<_>>(1) {
                across_every_edge(&mut locator, cell);
                tried += 1;
            }
        }
        assert!(tried >= 12 * 6, "{tried} cells around pentagons");
        // Some neighbours of a pentagon lie across an icosahedron edge: never remembered.
        assert!(locator.positions.values().any(|p| *p == u32::MAX));
    }
}

#[test]
fn the_antimeridian_and_the_poles_get_h3o_cells() {
    for resolution in [
        Resolution::Zero,
        Resolution::Four,
        Resolution::Nine,
        Resolution::Fifteen,
    ] {
        let mut locator = CellLocator::new(resolution);
        for (lat, lng) in [
            (0.0, 180.0),
            (12.5, -179.999_999_9),
            (89.999_999, 33.0),
            (89.4, 33.0),
            (-89.5, -120.0),
            (-90.0, 0.0),
        ] {
            let cell = LatLng::new(lat, lng).unwrap().to_cell(resolution);
            across_every_edge(&mut locator, cell);
        }
    }
}

#[test]
fn a_full_memory_starts_over_and_still_answers_exactly() {
    let resolution = Resolution::Eleven;
    let mut locator = CellLocator {
        max_cells: 5,
        ..CellLocator::new(resolution)
    };
    let start = LatLng::new(59.9, 10.5).unwrap().to_cell(resolution);
    for cell in start.grid_disk::<Vec<_>>(3) {
        for _ in 0..2 {
            same_as_h3o(&mut locator, LatLng::from(cell), resolution);
        }
        assert!(
            locator.cells.len() <= 5,
            "{} cells remembered",
            locator.cells.len()
        );
    }
    assert!(locator.found_again() > 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Clusters of points anywhere on earth, a few cells wide, at any resolution.
    #[test]
    fn agrees_with_h3o_around_any_point(
        lat in -90.0..=90.0_f64,
        lng in -180.0..=180.0_f64,
        resolution in 0..=15_u8,
        offsets in prop::collection::vec((-3.0..3.0_f64, -3.0..3.0_f64), 200),
    ) {
        let resolution = Resolution::try_from(resolution).unwrap();
        let mut locator = CellLocator::new(resolution);
        let centre = unit_vector(LatLng::new(lat, lng).unwrap());
        // Two directions across the sphere at the centre.
        let pole = if centre[2].abs() < 0.9 { [0.0, 0.0, 1.0] } else { [1.0, 0.0, 0.0] };
        let east = normalized(cross(pole, centre)).unwrap();
        let north = cross(centre, east);
        let edge = resolution.edge_length_rads();
        for (e, n) in offsets {
            let p = normalized([0, 1, 2].map(|i| centre[i] + edge * (e * east[i] + n * north[i])))
                .unwrap();
            let point = latlng_of(p);
            prop_assert_eq!(locator.cell_of(point), point.to_cell(resolution));
        }
    }

    /// Either side of every edge of any cell, at any resolution.
    #[test]
    fn agrees_with_h3o_across_the_edges_of_any_cell(
        lat in -90.0..=90.0_f64,
        lng in -180.0..=180.0_f64,
        resolution in 0..=15_u8,
    ) {
        let resolution = Resolution::try_from(resolution).unwrap();
        let mut locator = CellLocator::new(resolution);
        across_every_edge(&mut locator, LatLng::new(lat, lng).unwrap().to_cell(resolution));
    }
}
