//! The sums asked of `SummedBuckets` against the values added up one by one, after any
//! sequence of changes: new keys in order, late keys in older blocks, pruning.

use jiff::civil::Date;
use proptest::prelude::*;

use super::*;

/// A value that sums, simple enough to add up by hand.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Count(u64);

impl Summable for Count {
    fn add(&mut self, other: &Self) {
        self.0 += other.0;
    }

    fn clear(&mut self) {
        self.0 = 0;
    }
}

const BUCKET: i64 = 900_000;

#[derive(Debug, Clone)]
enum Change {
    /// Adds to the key `back` buckets (or days) behind the newest so far, or ahead of it when
    /// negative.
    Add { back: i64, amount: u64 },
    /// Drops what lies more than `keep` buckets (or days) behind the newest.
    Prune { keep: i64 },
}

fn changes() -> impl Strategy<Value = Vec<Change>> {
    let change = prop_oneof![
        // Mostly the newest bucket or the next few, sometimes one far ahead or far behind.
        6 => (-3i64..=2, 1u64..1000).prop_map(|(b, amount)| Change::Add { back: b, amount }),
        2 => (-40i64..=60, 1u64..1000).prop_map(|(b, amount)| Change::Add { back: b, amount }),
        1 => (0i64..=80).prop_map(|keep| Change::Prune { keep }),
    ];
    proptest::collection::vec(change, 0..300)
}

/// Applies `changes` to keys made from bucket (or day) numbers by `key`, checking after each
/// that every range asked of `sum_into` is the sum of its values one by one.
fn check<K: Ord + Copy + std::fmt::Debug, B: Blocks<K> + Default>(
    changes: &[Change],
    key: impl Fn(i64) -> K,
    ranges: &[(i64, i64)],
) {
    let mut summed = SummedBuckets::<Count, K, B>::default();
    let mut newest = 0i64;
    let mut floor = i64::MIN;
    for change in changes {
        match *change {
            Change::Add { back, amount } => {
                let at = newest - back;
                newest = newest.max(at);
                if at >= floor {
                    summed.entry(key(at)).0 += amount;
                }
            }
            Change::Prune { keep } => {
                floor = floor.max(newest - keep);
                summed.prune(key(floor));
            }
        }
        for &(from, to) in ranges {
            let (first, last) = (key(newest - from), key(newest - to));
            let mut asked = Count::default();
            summed.sum_into(first, last, &mut asked);
            let by_hand = summed.range(first..=last).map(|(_, v)| v.0).sum::<u64>();
            assert_eq!(asked.0, by_hand, "{first:?}..={last:?} after {change:?}");
        }
    }
}

/// Ranges behind the newest key: a window of 4 (one hour of buckets), 96 (a day), 672 (a
/// week), a range reaching past the newest, one that starts inside a block, and a reversed one.
const RANGES: &[(i64, i64)] = &[
    (4, 1),
    (96, 1),
    (672, 1),
    (30, -20),
    (37, 5),
    (3, 9),
    (0, 0),
];

proptest! {
    #[test]
    fn bucket_sums_are_the_sums_of_their_buckets(changes in changes()) {
        // Around a start that is not on a block's edge, and across zero.
        check::<i64, FourHours>(&changes, |n| (n - 50) * BUCKET + 7 * BUCKET, RANGES);
    }

    #[test]
    fn day_sums_are_the_sums_of_their_days(changes in changes()) {
        let start = Date::new(2024, 2, 20).unwrap();
        check::<Date, Months>(
            &changes,
            |n| start.checked_add(jiff::Span::new().days(n)).unwrap(),
            RANGES,
        );
    }
}

#[test]
fn a_block_is_summed_once_a_newer_one_begins_and_again_after_a_late_change() {
    let mut summed = SummedBuckets::<Count, i64, FourHours>::default();
    for bucket in 0..16 {
        summed.entry(bucket * BUCKET).0 += 1;
    }
    assert!(
        !summed.sums.iter().any(|(_, b)| b.summed),
        "the newest block waits"
    );
    summed.entry(16 * BUCKET).0 += 1;
    let first = summed.sums.iter().next().map(|(_, b)| (b.summed, b.sum));
    assert_eq!(first, Some((true, Count(16))));
    summed.entry(3 * BUCKET).0 += 10;
    let first = summed.sums.iter().next().map(|(_, b)| b.summed);
    assert_eq!(
        first,
        Some(false),
        "a late change makes the block's sum stale"
    );
    let mut day = Count::default();
    summed.sum_into(0, 16 * BUCKET, &mut day);
    assert_eq!(day, Count(27));
    summed.entry(33 * BUCKET).0 += 1;
    let sums: Vec<_> = summed.sums.iter().map(|(_, b)| (b.summed, b.sum)).collect();
    assert_eq!(
        sums,
        [(true, Count(26)), (true, Count(1)), (false, Count(0))],
        "both older blocks summed when the third began"
    );
}

#[test]
fn pruning_inside_a_block_leaves_its_sum_to_the_values_left() {
    let mut summed = SummedBuckets::<Count, i64, FourHours>::default();
    for bucket in 0..40 {
        summed.entry(bucket * BUCKET).0 += 1;
    }
    summed.prune(5 * BUCKET);
    let mut all = Count::default();
    summed.sum_into(0, 40 * BUCKET, &mut all);
    assert_eq!(all, Count(35));
    let mut first_block = Count::default();
    summed.sum_into(0, 15 * BUCKET, &mut first_block);
    assert_eq!(first_block, Count(11));
}
