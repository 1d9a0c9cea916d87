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
    /// The newest event moves `ahead` buckets (or days): what lies more than `keep` behind it
    /// is dropped, then its block settles, as `WindowState::observe` does.
    Newest { ahead: i64, keep: i64, amount: u64 },
    /// Adds to the key `back` behind the newest: the newest's own key, or a late one.
    Late { back: i64, amount: u64 },
    /// Adds to a key `ahead` of the newest without moving it: a count spread forward.
    Spread { ahead: i64, amount: u64 },
}

fn changes() -> impl Strategy<Value = Vec<Change>> {
    let change = prop_oneof![
        // Mostly the newest key or the next few, sometimes a jump past every block kept.
        6 => (0i64..=3, 1u64..1000).prop_map(|(back, amount)| Change::Late { back, amount }),
        3 => (1i64..=3, 40i64..=80, 1u64..1000)
            .prop_map(|(ahead, keep, amount)| Change::Newest { ahead, keep, amount }),
        1 => (100i64..=400, 0i64..=80, 1u64..1000)
            .prop_map(|(ahead, keep, amount)| Change::Newest { ahead, keep, amount }),
        2 => (4i64..=60, 1u64..1000).prop_map(|(back, amount)| Change::Late { back, amount }),
        1 => (1i64..=60, 1u64..1000).prop_map(|(ahead, amount)| Change::Spread { ahead, amount }),
    ];
    proptest::collection::vec(change, 0..300)
}

/// Applies `changes` to keys made from bucket (or day) numbers by `key`, checking after each
/// that every range asked of `sum_into` is the sum of a plain map of the same values.
fn check<K: Ord + Copy + std::fmt::Debug, B: Blocks<K> + Default>(
    changes: &[Change],
    key: impl Fn(i64) -> K,
    ranges: &[(i64, i64)],
) {
    let mut summed = SummedBuckets::<Count, K, B>::default();
    let mut plain = std::collections::BTreeMap::<i64, u64>::new();
    let mut newest = 0i64;
    let mut floor = i64::MIN;
    // As the window state prunes its buckets: the newest dropped value kept, emptied.
    let mut spare = None;
    for change in changes {
        let (at, amount) = match *change {
            Change::Newest {
                ahead,
                keep,
                amount,
            } => {
                newest += ahead;
                floor = floor.max(newest - keep);
                summed.prune_into(key(floor), &mut spare, Summable::clear);
                plain.retain(|n, _| *n >= floor);
                summed.settle(key(newest));
                (newest, amount)
            }
            Change::Late { back, amount } => (newest - back, amount),
            Change::Spread { ahead, amount } => (newest + ahead, amount),
        };
        if at >= floor {
            summed.entry_or_take(key(at), &mut spare, Count::default).0 += amount;
            *plain.entry(at).or_default() += amount;
        }
        for &(from, to) in ranges {
            let (first, last) = (newest - from, newest - to);
            let mut asked = Count::default();
            summed.sum_into(key(first), key(last), &mut asked);
            let plainly: u64 = if first <= last {
                plain.range(first..=last).map(|(_, v)| v).sum()
            } else {
                0
            };
            assert_eq!(asked.0, plainly, "{first}..={last} after {change:?}");
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
fn a_block_is_summed_once_the_newest_event_is_past_it_and_again_after_a_late_change() {
    let mut summed = SummedBuckets::<Count, i64, FourHours>::default();
    let summed_blocks = |s: &SummedBuckets<Count, i64, FourHours>| {
        s.sums
            .iter()
            .map(|(_, b)| (b.summed, b.sum))
            .collect::<Vec<_>>()
    };
    for bucket in 0..16 {
        summed.settle(bucket * BUCKET);
        summed.entry(bucket * BUCKET).0 += 1;
    }
    // A count spread forward into the third block.
    summed.entry(40 * BUCKET).0 += 5;
    assert_eq!(
        summed_blocks(&summed),
        [(false, Count(0)), (false, Count(0))],
        "the current block waits, and so does one ahead of it"
    );
    summed.settle(16 * BUCKET);
    summed.entry(16 * BUCKET).0 += 1;
    assert_eq!(
        summed_blocks(&summed),
        [(true, Count(16)), (false, Count(0)), (false, Count(0))]
    );
    summed.entry(3 * BUCKET).0 += 10;
    assert_eq!(
        summed_blocks(&summed)[0],
        (false, Count(16)),
        "a late change makes the block's sum stale"
    );
    let mut day = Count::default();
    summed.sum_into(0, 16 * BUCKET, &mut day);
    assert_eq!(day, Count(27));
    summed.settle(50 * BUCKET);
    assert_eq!(
        summed_blocks(&summed),
        [
            (true, Count(26)),
            (true, Count(1)),
            (true, Count(5)),
            (false, Count(0))
        ],
        "every block before the newest event's summed once it moved past them"
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

#[test]
fn the_block_at_the_smallest_key_ends_where_the_next_one_begins() {
    let mut summed = SummedBuckets::<Count, i64, FourHours>::default();
    let next = FourHours.first_of(i64::MIN) + BLOCK_MS - i64::MIN.rem_euclid(BLOCK_MS);
    assert_eq!(FourHours.first_of(next), next);
    assert_eq!(FourHours.last_of(FourHours.first_of(i64::MIN)), next - 1);
    for key in [i64::MIN, next - 1, next, next + BUCKET] {
        summed.entry(key).0 += 1;
    }
    summed.settle(next + 10 * BLOCK_MS);
    let mut all = Count::default();
    summed.sum_into(i64::MIN, i64::MAX, &mut all);
    assert_eq!(all, Count(4), "no key counted in two blocks");
}
