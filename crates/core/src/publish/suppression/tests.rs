use proptest::prelude::*;

use super::*;
use crate::vocabulary::PersonTrips;

fn tally(events: u64, person_trips: f64) -> ModeTally {
    ModeTally {
        events,
        person_trips: PersonTrips::from_f64(person_trips).unwrap(),
    }
}

fn trips(n: u64) -> ModeTally {
    tally(n, n as f64)
}

#[test]
fn a_table_where_every_number_passes_is_shown_whole() {
    let parts = [trips(12), trips(30), trips(0)];
    let s = suppress(&parts, &[vec![0, 1, 2]], 10);
    assert!(s.shows_all());
}

#[test]
fn one_small_part_takes_the_next_smallest_non_zero_part_with_it() {
    // walk 50, bicycle 3, e-scooter 40, bus 20, ferry 0, total 113.
    let parts = [trips(50), trips(3), trips(40), trips(20), trips(0)];
    let s = suppress(&parts, &[vec![0, 1, 2, 3, 4]], 10);
    assert_eq!(s.parts, [true, false, true, false, true]);
    assert_eq!(s.sums, [true]);
}

#[test]
fn a_part_hidden_from_a_total_is_not_given_away_by_a_group() {
    // walk 50, bicycle 3, e-scooter 40, bus 20, car 12; total, sustainable (walk, bicycle,
    // e-scooter, bus) and car. Hiding car with bicycle would not do: sustainable − walk −
    // e-scooter − bus = bicycle. A part inside the group must go.
    let parts = [trips(50), trips(3), trips(40), trips(20), trips(12)];
    let sums = [vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3], vec![4]];
    let s = suppress(&parts, &sums, 10);
    assert!(!s.parts[1]);
    assert!(
        !s.parts[3],
        "bus, the smallest other part of the group: {s:?}"
    );
    assert!(s.parts[4] && s.sums.iter().all(|x| *x), "{s:?}");
}

#[test]
fn a_small_group_is_not_given_away_by_the_total() {
    // car driver 4, car passenger 3 (the group car = 7 < 10), walk 30, bus 25.
    let parts = [trips(4), trips(3), trips(30), trips(25)];
    let sums = [vec![0, 1, 2, 3], vec![0, 1]];
    let s = suppress(&parts, &sums, 10);
    assert!(!s.sums[1]);
    assert_eq!(s.parts, [false, false, true, false], "{s:?}");
}

#[test]
fn few_events_hide_a_number_whatever_its_person_trips() {
    // A counter's two readings of 80 vehicles: many person trips, two events.
    let parts = [tally(2, 160.0), trips(40), trips(30)];
    let s = suppress(&parts, &[vec![0, 1, 2]], 10);
    assert_eq!(s.parts, [false, true, false]);
}

#[test]
fn a_total_below_k_hides_the_whole_table() {
    let parts = [trips(3), trips(4)];
    let s = suppress(&parts, &[vec![0, 1]], 10);
    assert_eq!(s.parts, [false, false]);
    assert_eq!(s.sums, [false]);
}

/// Whether the hidden, non-zero number with these parts follows from the shown numbers, by an
/// exact check independent of the suppression's own: Gaussian elimination over the integers
/// (fraction-free), comparing ranks with and without the number's row.
fn follows(
    parts: &[ModeTally],
    sums: &[Vec<usize>],
    shown: &Suppression,
    members: &[usize],
) -> bool {
    let n = parts.len();
    let row = |m: &[usize]| -> Vec<i128> { (0..n).map(|i| i128::from(m.contains(&i))).collect() };
    let mut rows: Vec<Vec<i128>> = (0..n)
        .filter(|&i| shown.parts[i])
        .map(|i| row(&[i]))
        .collect();
    rows.extend(
        (0..sums.len())
            .filter(|&s| shown.sums[s])
            .map(|s| row(&sums[s])),
    );
    let with = {
        let mut r = rows.clone();
        r.push(row(members));
        r
    };
    rank(rows) == rank(with)
}

fn rank(mut m: Vec<Vec<i128>>) -> usize {
    let cols = m.first().map_or(0, Vec::len);
    let mut rank = 0;
    for c in 0..cols {
        let Some(p) = (rank..m.len()).find(|&r| m[r][c] != 0) else {
            continue;
        };
        m.swap(rank, p);
        for r in 0..m.len() {
            if r != rank && m[r][c] != 0 {
                let (a, b) = (m[rank][c], m[r][c]);
                let pivot_row = m[rank].clone();
                for (v, p) in m[r].iter_mut().zip(&pivot_row) {
                    *v = *v * a - p * b;
                }
                let g = m[r].iter().fold(0i128, |g, v| gcd(g, v.abs()));
                if g > 1 {
                    m[r].iter_mut().for_each(|v| *v /= g);
                }
            }
        }
        rank += 1;
    }
    rank
}

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn table() -> impl Strategy<Value = (Vec<ModeTally>, Vec<Vec<usize>>)> {
    (2usize..9).prop_flat_map(|n| {
        let part = prop_oneof![
            2 => Just((0u64, 0.0)),
            5 => (1u64..12).prop_map(|e| (e, e as f64)),
            2 => (1u64..4, 1.0f64..200.0),
            3 => (10u64..80).prop_map(|e| (e, e as f64 * 1.3)),
        ];
        let parts = proptest::collection::vec(part, n);
        let groups = proptest::collection::vec(proptest::collection::btree_set(0..n, 1..=n), 0..5);
        (parts, groups).prop_map(move |(parts, groups)| {
            let parts: Vec<ModeTally> = parts
                .into_iter()
                .map(|(e, p)| tally(e, (p * 100.0_f64).round() / 100.0))
                .collect();
            let mut sums = vec![(0..n).collect::<Vec<_>>()];
            sums.extend(groups.into_iter().map(|g| g.into_iter().collect()));
            (parts, sums)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    /// Over random tables (tiny counts, many parts, groups that nest or overlap): every shown
    /// number passes k or is zero, no hidden number follows from the shown ones, and in
    /// particular no hidden number equals a shown sum minus its visible parts.
    #[test]
    fn no_hidden_number_can_be_recovered((parts, sums) in table(), k in 2u64..15) {
        let s = suppress(&parts, &sums, k);
        for (i, p) in parts.iter().enumerate() {
            if s.parts[i] {
                prop_assert!(is_zero(p) || tally_passes(p, k), "part {i} {p:?} shown");
            } else {
                prop_assert!(!follows(&parts, &sums, &s, &[i]), "part {i} follows: {s:?}");
            }
        }
        for (j, members) in sums.iter().enumerate() {
            let t = sum_of(&parts, members);
            if s.sums[j] {
                prop_assert!(is_zero(&t) || tally_passes(&t, k), "sum {j} {t:?} shown");
                // A shown sum minus its visible parts is the sum of its hidden parts: never
                // exactly one hidden non-zero part.
                let hidden: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&i| !s.parts[i] && !is_zero(&parts[i]))
                    .collect();
                prop_assert!(hidden.len() != 1, "sum {j} − visible = part {hidden:?}");
            } else if !is_zero(&t) {
                prop_assert!(!follows(&parts, &sums, &s, members), "sum {j} follows: {s:?}");
            }
        }
    }
}
