//! Sums of blocks of buckets (4 hours of them) and of days (a calendar month of them), so a
//! window of thousands of buckets, or a year of days, adds a few hundred sums instead of every
//! bucket each time it is published.
//!
//! Each block keeps the sum of its values, made again only after one of them changed, and only
//! once the block lies wholly before the one that holds the newest event
//! ([`SummedBuckets::settle`]): the block of the newest event takes nearly every event, and a
//! count spread forward over its interval reaches blocks ahead of it. Until then a block that
//! changed is added value by value when asked. What is asked always equals the sum of the
//! values themselves: the tallies are integers, so a sum of sums is the same number in any
//! order.

use std::ops::RangeBounds;

use jiff::civil::Date;

use crate::state::breakdown::Breakdown;
use crate::state::buckets::Buckets;
use crate::state::tally::ModeTotals;

/// A value of a bucket or day that sums.
pub(super) trait Summable: Default {
    fn add(&mut self, other: &Self);
    fn clear(&mut self);
}

impl Summable for Vec<ModeTotals> {
    fn add(&mut self, other: &Self) {
        ModeTotals::merge_per_zone(self, other);
    }

    fn clear(&mut self) {
        self.fill(ModeTotals::default());
    }
}

impl Summable for Breakdown {
    fn add(&mut self, other: &Self) {
        self.merge(other);
    }

    fn clear(&mut self) {
        Breakdown::clear(self);
    }
}

/// How keys fall into blocks: the first and last key a block can hold (both inclusive, so no key
/// past the last representable one is needed). Blocks never overlap.
pub(super) trait Blocks<K>: Clone {
    fn first_of(&self, key: K) -> K;
    fn last_of(&self, first: K) -> K;
}

/// Bucket starts in blocks of 4 hours, aligned on the epoch: 16 buckets of the default 15
/// minutes. A block groups keys, so any bucket size works; a bucket of 4 hours or more has a
/// block to itself.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FourHours;

const BLOCK_MS: i64 = 4 * 3_600_000;

impl Blocks<i64> for FourHours {
    fn first_of(&self, key: i64) -> i64 {
        key.saturating_sub(key.rem_euclid(BLOCK_MS))
    }

    fn last_of(&self, first: i64) -> i64 {
        // `first_of` saturates at `i64::MIN`, which lies inside a block: that block's last key.
        first.saturating_add(BLOCK_MS - 1 - first.rem_euclid(BLOCK_MS))
    }
}

/// Days in calendar months.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Months;

impl Blocks<Date> for Months {
    fn first_of(&self, key: Date) -> Date {
        key.first_of_month()
    }

    fn last_of(&self, first: Date) -> Date {
        first.last_of_month()
    }
}

#[derive(Debug, Clone, Default)]
struct Block<T> {
    sum: T,
    /// `sum` is the sum of the block's values as they are now.
    summed: bool,
}

/// Values by bucket start (or by day) with the sums of their blocks. Every change goes through
/// it (`entry*` marks the key's block changed before the value is handed out to change), so a
/// sum is never used after one of its values changed.
#[derive(Debug, Clone)]
pub(super) struct SummedBuckets<T, K, B> {
    values: Buckets<T, K>,
    layout: B,
    /// By a block's first key; every key of the values has its block here.
    sums: Buckets<Block<T>, K>,
    /// The first and last key of the block that holds the newest event: not summed while it
    /// does (see [`SummedBuckets::settle`]).
    current: Option<(K, K)>,
}

impl<T, K, B: Default> Default for SummedBuckets<T, K, B> {
    fn default() -> Self {
        SummedBuckets {
            values: Buckets::default(),
            layout: B::default(),
            sums: Buckets::default(),
            current: None,
        }
    }
}

impl<T: Summable, K: Ord + Copy, B: Blocks<K>> SummedBuckets<T, K, B> {
    /// The value of `key`, made by `new` when there is none yet; see [`Buckets::entry_or_take`].
    pub(super) fn entry_or_take(
        &mut self,
        key: K,
        spare: &mut Option<T>,
        new: impl FnOnce() -> T,
    ) -> &mut T {
        self.changed(key);
        self.values.entry_or_take(key, spare, new)
    }

    /// The value of `key`, made by `new` when there is none yet.
    pub(super) fn entry_or_insert_with(&mut self, key: K, new: impl FnOnce() -> T) -> &mut T {
        self.changed(key);
        self.values.entry_or_insert_with(key, new)
    }

    /// The value of `key`, empty when there is none yet.
    pub(super) fn entry(&mut self, key: K) -> &mut T {
        self.entry_or_insert_with(key, T::default)
    }

    /// The value of `key` is about to change (or be new). A key in the current block is found
    /// with two comparisons: nothing else is done for most events.
    fn changed(&mut self, key: K) {
        if self
            .current
            .is_some_and(|(first, last)| first <= key && key <= last)
        {
            return;
        }
        self.sums.entry(self.layout.first_of(key)).summed = false;
    }

    /// The newest event is now at `key`: once its block is newer than the current one, every
    /// block before it that changed since it was summed (the block that was current, any older
    /// one a late event reached, any a count spread forward into) is summed now.
    pub(super) fn settle(&mut self, key: K) {
        // Nearly every newest event lies in the current block: two comparisons.
        if self.current.is_some_and(|(_, last)| key <= last) {
            return;
        }
        let first = self.layout.first_of(key);
        self.sums.entry(first).summed = false;
        self.current = Some((first, self.layout.last_of(first)));
        for (block_first, block) in self.sums.iter_mut() {
            if *block_first >= first {
                break;
            }
            if block.summed {
                continue;
            }
            block.sum.clear();
            let last = self.layout.last_of(*block_first);
            for (_, v) in self.values.range(*block_first..=last) {
                block.sum.add(v);
            }
            block.summed = true;
        }
    }

    /// Drops the keys before `floor`, and their blocks; returns the value of the newest dropped.
    pub(super) fn prune(&mut self, floor: K) -> Option<T> {
        self.prune_blocks(floor);
        self.values.prune(floor)
    }

    /// Drops the keys before `floor`, and their blocks, and keeps the newest value dropped in
    /// `spare`, emptied by `empty`; see [`Buckets::prune_into`].
    pub(super) fn prune_into(
        &mut self,
        floor: K,
        spare: &mut Option<T>,
        empty: impl FnOnce(&mut T),
    ) {
        self.prune_blocks(floor);
        self.values.prune_into(floor, spare, empty);
    }

    /// Drops the blocks wholly before `floor`; the block that holds `floor` loses the values
    /// before it, so it is summed from what is left of it when asked.
    fn prune_blocks(&mut self, floor: K) {
        let first = self.layout.first_of(floor);
        self.sums.prune(first);
        if first < floor
            && let Some((_, block)) = self.sums.iter_mut().next().filter(|(k, _)| **k == first)
        {
            block.summed = false;
        }
        if self.current.is_some_and(|(current, _)| current < first) {
            self.current = None;
        }
    }

    /// The keys in `range`, in order.
    pub(super) fn range(&self, range: impl RangeBounds<K>) -> impl Iterator<Item = &(K, T)> {
        self.values.range(range)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &(K, T)> {
        self.values.iter()
    }

    pub(super) fn len(&self) -> usize {
        self.values.len()
    }

    /// How many blocks hold a current sum.
    #[cfg(test)]
    pub(super) fn summed_blocks(&self) -> usize {
        self.sums.iter().filter(|(_, b)| b.summed).count()
    }

    /// Adds to `out` the values from `first` to `last` (inclusive): each block wholly inside
    /// whose sum is current as that sum, the rest value by value.
    pub(super) fn sum_into(&self, first: K, last: K, out: &mut T) {
        for (block_first, block) in self.sums.range(self.layout.first_of(first)..=last) {
            let block_last = self.layout.last_of(*block_first);
            if block.summed && first <= *block_first && block_last <= last {
                out.add(&block.sum);
            } else {
                for (_, v) in self
                    .values
                    .range((*block_first).max(first)..=block_last.min(last))
                {
                    out.add(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
