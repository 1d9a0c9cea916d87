use proptest::prelude::*;

use super::*;
use crate::space::cell_of;
use crate::vocabulary::{GeoPoint, Mode, PersonTrips};

fn totals(events: u64, person_trips_each: f64) -> ModeTotals {
    let mut t = ModeTotals::default();
    for _ in 0..events {
        t.add(
            Mode::Bicycle,
            PersonTrips::from_f64(person_trips_each).unwrap(),
        );
    }
    t
}

/// Base cells (resolution 9) around Fornebu: `n` neighbours of one cell.
fn cells(n: usize) -> Vec<CellIndex> {
    let center = cell_of(GeoPoint::new(59.8958, 10.6290).unwrap(), Resolution::Nine);
    center.grid_disk::<Vec<_>>(3).into_iter().take(n).collect()
}

fn window(entries: &[(CellIndex, &[ZoneId], ModeTotals)]) -> CellWindow {
    let mut w = CellWindow::default();
    for (cell, zones, t) in entries {
        w.cells
            .entry(*cell)
            .or_default()
            .push(((*zones).into(), t.clone()));
    }
    w
}

fn person_trips(p: &PublishedCells, cell: CellIndex) -> Option<f64> {
    p.cells
        .iter()
        .find(|(c, _)| *c == cell)
        .map(|(_, t)| t.total().as_f64())
}

#[test]
fn a_cell_needs_k_events_and_k_person_trips() {
    let c = cells(3);
    let w = window(&[
        (c[0], &[ZoneId(0)], totals(10, 1.0)),
        (c[1], &[ZoneId(0)], totals(9, 2.0)),
        // Ten boardings of 1/1.3 person trips each: 7.7 person trips.
        (c[2], &[ZoneId(0)], totals(10, 1.0 / 1.3)),
    ]);
    let p = publish_cells(&w, Resolution::Nine, None, 10).unwrap();
    assert_eq!(person_trips(&p, c[0]), Some(10.0));
    assert_eq!(person_trips(&p, c[1]), None, "9 events");
    assert_eq!(person_trips(&p, c[2]), None, "under 10 person trips");
    assert_eq!(p.suppressed, 2);
    // k = 1 shows everything.
    assert_eq!(
        publish_cells(&w, Resolution::Nine, None, 1)
            .unwrap()
            .cells
            .len(),
        3
    );
}

#[test]
fn a_parent_holds_only_its_shown_children_so_no_subtraction_reveals_one() {
    let c = cells(7);
    let parent = c[0].parent(Resolution::Eight).unwrap();
    let children: Vec<_> = c
        .iter()
        .copied()
        .filter(|x| x.parent(Resolution::Eight) == Some(parent))
        .collect();
    assert!(children.len() >= 2, "{children:?}");
    let w = window(&[
        (children[0], &[], totals(12, 1.0)),
        (children[1], &[], totals(3, 1.0)),
    ]);
    let fine = publish_cells(&w, Resolution::Nine, None, 10).unwrap();
    let coarse = publish_cells(&w, Resolution::Eight, None, 10).unwrap();
    assert_eq!(person_trips(&fine, children[0]), Some(12.0));
    assert_eq!(person_trips(&fine, children[1]), None);
    // Not 15: the parent minus its shown child would be the hidden 3.
    assert_eq!(person_trips(&coarse, parent), Some(12.0));
    assert_eq!(coarse.suppressed, 0);
}

#[test]
fn a_border_cell_shows_the_zone_part_only_when_it_passes() {
    let c = cells(1);
    // 20 trips inside Fornebu (zone 1, inside Bærum, zone 0), 3 in Bærum outside Fornebu.
    let fornebu: &[ZoneId] = &[ZoneId(0), ZoneId(1)];
    let w = window(&[
        (c[0], fornebu, totals(20, 1.0)),
        (c[0], &[ZoneId(0)], totals(3, 1.0)),
    ]);
    let all = publish_cells(&w, Resolution::Nine, None, 10).unwrap();
    let in_fornebu = publish_cells(&w, Resolution::Nine, Some(ZoneId(1)), 10).unwrap();
    let in_baerum = publish_cells(&w, Resolution::Nine, Some(ZoneId(0)), 10).unwrap();
    // Every view shows 20: none minus another reveals the 3 outside Fornebu.
    for p in [&all, &in_fornebu, &in_baerum] {
        assert_eq!(person_trips(p, c[0]), Some(20.0));
    }
    assert_eq!(
        publish_cells(&w, Resolution::Nine, Some(ZoneId(2)), 10)
            .unwrap()
            .cells,
        []
    );
}

#[test]
fn finer_than_the_state_is_refused() {
    let w = window(&[(cells(1)[0], &[], totals(10, 1.0))]);
    assert_eq!(publish_cells(&w, Resolution::Ten, None, 10), None);
}

#[test]
fn zone_pairs_below_k_are_left_out() {
    let pairs = BTreeMap::from([
        ((Some(ZoneId(0)), Some(ZoneId(1))), totals(10, 1.0)),
        ((Some(ZoneId(1)), None), totals(9, 1.0)),
    ]);
    let (shown, suppressed) = publish_zone_pairs(&pairs, 10);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].0, (Some(ZoneId(0)), Some(ZoneId(1))));
    assert_eq!(suppressed, 1);
}

proptest! {
    /// At every resolution and in every zone view, each shown cell passes the k rule and equals
    /// the sum of the shown pieces under it: differences of shown numbers are sums of shown
    /// pieces, never a hidden one.
    #[test]
    fn every_view_is_a_sum_of_shown_pieces(
        pieces in prop::collection::vec((0usize..37, 0usize..3, 1u64..25, 1u32..4), 1..60),
        k in 1u64..15,
    ) {
        let c = cells(37);
        let sets: [&[ZoneId]; 3] = [&[], &[ZoneId(0)], &[ZoneId(0), ZoneId(1)]];
        let mut w = CellWindow::default();
        for (cell, set, events, persons) in &pieces {
            let sets_of_cell = w.cells.entry(c[*cell]).or_default();
            let t = totals(*events, f64::from(*persons));
            match sets_of_cell.iter_mut().find(|(s, _)| &**s == sets[*set]) {
                Some((_, existing)) => existing.merge(&t),
                None => sets_of_cell.push((sets[*set].into(), t)),
            }
        }
        for zone in [None, Some(ZoneId(0)), Some(ZoneId(1))] {
            let base = publish_cells(&w, Resolution::Nine, zone, k).unwrap();
            for resolution in [Resolution::Nine, Resolution::Eight, Resolution::Seven, Resolution::Six] {
                let p = publish_cells(&w, resolution, zone, k).unwrap();
                for (cell, t) in &p.cells {
                    prop_assert!(passes(t, k));
                    let children: f64 = base
                        .cells
                        .iter()
                        .filter(|(c, _)| c.parent(resolution) == Some(*cell))
                        .map(|(_, t)| t.total().as_f64())
                        .sum();
                    prop_assert!((children - t.total().as_f64()).abs() < 1e-6);
                }
            }
        }
    }
}
