use super::*;

#[test]
fn buckets_stay_in_order_whatever_the_arrival_order() {
    let mut b: Buckets<u32> = Buckets::default();
    for bucket in [30, 10, 40, 20, 40, 10, 50] {
        *b.entry(bucket) += 1;
    }
    let all: Vec<(i64, u32)> = b.iter().copied().collect();
    assert_eq!(all, [(10, 2), (20, 1), (30, 1), (40, 2), (50, 1)]);
    let in_range: Vec<i64> = b.range(20..50).map(|(k, _)| *k).collect();
    assert_eq!(in_range, [20, 30, 40]);
    assert_eq!(b.range(60..70).count(), 0);
    let (late, early) = (50, 20);
    assert_eq!(
        b.range(late..early).count(),
        0,
        "an empty range, not a panic"
    );
    let inclusive: Vec<i64> = b.range(20..=50).map(|(k, _)| *k).collect();
    assert_eq!(inclusive, [20, 30, 40, 50]);
    assert_eq!(b.range(21..=29).count(), 0);
    assert_eq!(b.range(41..).count(), 1);
    assert_eq!(
        b.range(late..=early).count(),
        0,
        "a reversed range, not a panic"
    );
    assert_eq!(b.len(), 5);
    b.prune(35);
    let kept: Vec<i64> = b.iter().map(|(k, _)| *k).collect();
    assert_eq!(kept, [40, 50]);
}

proptest::proptest! {
    /// Keys in any order, near the newest or far behind it (found by galloping back from the
    /// newest and bisecting), with the oldest pruned now and then (the deque then wraps
    /// around its buffer), land where an ordered map puts them.
    #[test]
    fn buckets_are_an_ordered_map(
        steps in proptest::collection::vec((0i64..300, proptest::bool::weighted(0.05)), 0..400)
    ) {
        let mut b: Buckets<u32> = Buckets::default();
        let mut expected = std::collections::BTreeMap::new();
        for (key, prune) in steps {
            if prune {
                b.prune(key - 100);
                expected.retain(|k, _| *k >= key - 100);
            }
            *b.entry(key) += 1;
            *expected.entry(key).or_insert(0u32) += 1;
        }
        let all: Vec<(i64, u32)> = b.iter().copied().collect();
        let expected: Vec<(i64, u32)> = expected.into_iter().collect();
        proptest::prop_assert_eq!(all, expected);
    }
}

/// Local days as keys, as the windows keep them: a late event's older day goes in its place.
#[test]
fn days_as_keys_keep_calendar_order() {
    let day = |d: i8| jiff::civil::date(2026, 3, d);
    let mut b: Buckets<u32, jiff::civil::Date> = Buckets::default();
    for d in [2, 3, 1, 3, 28, 2] {
        *b.entry_or_insert_with(day(d), || 100) += 1;
    }
    let all: Vec<(jiff::civil::Date, u32)> = b.iter().copied().collect();
    assert_eq!(
        all,
        [(day(1), 101), (day(2), 102), (day(3), 102), (day(28), 101)]
    );
    let march_to_3rd: Vec<i8> = b.range(day(1)..=day(3)).map(|(d, _)| d.day()).collect();
    assert_eq!(march_to_3rd, [1, 2, 3]);
    assert_eq!(b.prune(day(3)), Some(102), "the newest dropped comes back");
    assert_eq!(b.len(), 2);
    assert_eq!(b.prune(day(3)), None);
}

/// A pruned bucket's cell map, emptied, is what the next new bucket starts from: the new
/// bucket holds its own cells only.
#[test]
fn a_new_bucket_reusing_a_pruned_ones_map_starts_empty() {
    let cell = |lat: f64| {
        crate::space::cell_of(
            crate::vocabulary::GeoPoint::new(lat, 10.5).unwrap(),
            h3o::Resolution::Nine,
        )
    };
    let piece = |bucket: i64, cell: CellIndex| Piece {
        bucket,
        mode: Mode::Bicycle,
        amount: PersonTrips::ONE,
        holds_event: true,
        cell,
        zones: &[],
        destination_zones: None,
        access: None,
    };
    let mut places = PlaceBuckets::default();
    for lat in [59.90, 59.91, 59.92] {
        places.observe(&piece(0, cell(lat)));
    }
    places.prune(1);
    assert!(
        places
            .spare_cells
            .as_ref()
            .is_some_and(|m| m.is_empty() && m.capacity() >= 3)
    );
    places.observe(&piece(900, cell(59.95)));
    assert!(places.spare_cells.is_none(), "the new bucket took the map");
    let mut window = CellWindow::default();
    places.cells_into(0, 1000, &mut window);
    let cells: Vec<CellIndex> = window.cells.keys().copied().collect();
    assert_eq!(cells, [cell(59.95)]);
}

/// The zone pairs: a new bucket reusing a pruned one's map holds its own pairs only, and a
/// checkpoint lists a bucket's pairs in (origin, destination, mode) order, outside (`None`)
/// first, whatever order they came in; the places restored save the same bytes (their cells
/// in order too, whatever order the restored hash maps hold them in).
#[test]
fn zone_pairs_reuse_a_pruned_map_and_are_saved_in_order() {
    let cell = crate::space::cell_of(
        crate::vocabulary::GeoPoint::new(59.9, 10.5).unwrap(),
        h3o::Resolution::Nine,
    );
    let trip = |bucket: i64, mode: Mode, origin: &'static [ZoneId], to: &'static [ZoneId]| Piece {
        bucket,
        mode,
        amount: PersonTrips::ONE,
        holds_event: true,
        cell,
        zones: origin,
        destination_zones: Some(to),
        access: None,
    };
    const A: &[ZoneId] = &[ZoneId(0)];
    const B: &[ZoneId] = &[ZoneId(1)];
    const AB: &[ZoneId] = &[ZoneId(0), ZoneId(1)];
    let mut places = PlaceBuckets::default();
    places.observe(&trip(0, Mode::Bicycle, A, B));
    places.prune(1);
    assert!(places.spare_pairs.as_ref().is_some_and(|m| m.is_empty()));
    for piece in [
        trip(900, Mode::Walk, B, &[]),
        trip(900, Mode::Bicycle, AB, A),
        trip(900, Mode::CarDriver, &[], A),
        trip(900, Mode::Bicycle, B, A),
    ] {
        places.observe(&piece);
    }
    assert!(places.spare_pairs.is_none(), "the new bucket took the map");
    let mut pairs = BTreeMap::new();
    places.pairs_into(0, 1000, &mut pairs);
    let (a, b) = (Some(ZoneId(0)), Some(ZoneId(1)));
    let seen: Vec<ZonePair> = pairs.keys().copied().collect();
    assert_eq!(
        seen,
        [(None, a), (a, a), (b, None), (b, a)],
        "not the pruned (a, b)"
    );
    assert_eq!(pairs[&(b, a)].get(Mode::Bicycle).events, 2);

    let saved = places.save();
    let listed: Vec<(Option<u32>, Option<u32>, u8)> = saved.pairs[0]
        .1
        .iter()
        .map(|(o, d, t)| (*o, *d, t.mode_index()))
        .collect();
    let mut sorted = listed.clone();
    sorted.sort_by_key(|(o, d, m)| (*o, *d, Mode::ALL[usize::from(*m)]));
    assert_eq!(listed, sorted);
    assert_eq!(listed.len(), 4);
    let restored = PlaceBuckets::restore(places.save(), 2).unwrap();
    let again = |p: &PlaceBuckets| postcard::to_allocvec(&p.save()).unwrap();
    assert_eq!(again(&restored), again(&places));
}
