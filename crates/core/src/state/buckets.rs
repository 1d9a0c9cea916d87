//! Values kept per event-time bucket (or local day), in key order.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

/// Values by bucket start (or by day), in order. Events arrive mostly in time order, so the key
/// asked for is nearly always the newest (found with one comparison, without a search) and
/// pruning pops from the front: no tree to descend, rebalance or split on the live path.
#[derive(Debug, Clone)]
pub(crate) struct Buckets<T, K = i64>(VecDeque<(K, T)>);

impl<T, K> Default for Buckets<T, K> {
    fn default() -> Self {
        Buckets(VecDeque::new())
    }
}

impl<T: Default, K: Ord + Copy> Buckets<T, K> {
    pub(crate) fn entry(&mut self, key: K) -> &mut T {
        self.entry_or_insert_with(key, T::default)
    }
}

impl<T, K: Ord + Copy> Buckets<T, K> {
    /// The value of `key`, made by `new` when there is none yet.
    pub(crate) fn entry_or_insert_with(&mut self, key: K, new: impl FnOnce() -> T) -> &mut T {
        let at = match self.0.back() {
            Some((last, _)) if *last == key => self.0.len() - 1,
            Some((last, _)) if *last < key => {
                let value = new();
                self.0.push_back((key, value));
                self.0.len() - 1
            }
            None => {
                let value = new();
                self.0.push_back((key, value));
                0
            }
            Some(_) => match self.find(key) {
                Ok(at) => at,
                Err(at) => {
                    let value = new();
                    self.0.insert(at, (key, value));
                    at
                }
            },
        };
        &mut self.0[at].1
    }

    /// Where `key` is (`Ok`) or would go (`Err`). An event a little late (the jitter of a
    /// device's clock, a count spread back over the buckets of its interval) lands among the
    /// newest buckets, so the search gallops back from the newest (1, 2, 4, 8 … keys back)
    /// until it passes `key`, then bisects only that stretch: its comparisons land on buckets
    /// touched lately, where a binary search of thousands of buckets probes ones days old (out
    /// of the cache) on its way.
    fn find(&self, key: K) -> Result<usize, usize> {
        let keys = &self.0;
        let len = keys.len();
        // Invariant: every key before `from` is less than `key`, every key from `above` on is
        // greater; the gallop narrows `above` and, once it finds a key not greater, sets `from`.
        let (mut from, mut above) = (0, len);
        let mut back = 1;
        while back <= len {
            let at = len - back;
            if keys[at].0 <= key {
                from = at;
                break;
            }
            above = at;
            back *= 2;
        }
        while from < above {
            let middle = from + (above - from) / 2;
            match keys[middle].0.cmp(&key) {
                Ordering::Less => from = middle + 1,
                Ordering::Equal => return Ok(middle),
                Ordering::Greater => above = middle,
            }
        }
        Err(from)
    }

    /// Drops the keys before `floor`; returns the value of the newest dropped (whose memory
    /// a new key can reuse).
    pub(crate) fn prune(&mut self, floor: K) -> Option<T> {
        let mut newest_dropped = None;
        while self.0.front().is_some_and(|(k, _)| *k < floor) {
            newest_dropped = self.0.pop_front().map(|(_, v)| v);
        }
        newest_dropped
    }

    /// The value of `key`; a new key takes `spare` (see [`Buckets::prune_into`]) when there is
    /// one, or else a value made by `new`.
    pub(crate) fn entry_or_take(
        &mut self,
        key: K,
        spare: &mut Option<T>,
        new: impl FnOnce() -> T,
    ) -> &mut T {
        self.entry_or_insert_with(key, || spare.take().unwrap_or_else(new))
    }

    /// Drops the keys before `floor` and keeps the newest value dropped in `spare`, emptied by
    /// `empty`, for the next new key: an emptied map or vector keeps its memory, where a new one
    /// is allocated and grown again.
    pub(crate) fn prune_into(
        &mut self,
        floor: K,
        spare: &mut Option<T>,
        empty: impl FnOnce(&mut T),
    ) {
        if let Some(mut newest) = self.prune(floor) {
            empty(&mut newest);
            *spare = Some(newest);
        }
    }

    /// The keys in `range`, in order; none when the range is empty or reversed.
    pub(crate) fn range(&self, range: impl RangeBounds<K>) -> impl Iterator<Item = &(K, T)> {
        let from = match range.start_bound() {
            Bound::Included(s) => self.0.partition_point(|(k, _)| k < s),
            Bound::Excluded(s) => self.0.partition_point(|(k, _)| k <= s),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(e) => self.0.partition_point(|(k, _)| k <= e),
            Bound::Excluded(e) => self.0.partition_point(|(k, _)| k < e),
            Bound::Unbounded => self.0.len(),
        };
        self.0.range(from..to.max(from))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(K, T)> {
        self.0.iter()
    }

    /// The keys, in order, with their values to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut T)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}
