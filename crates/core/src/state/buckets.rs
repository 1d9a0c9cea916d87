//! Values kept per event-time bucket, in bucket order.

use std::collections::VecDeque;

/// Values by bucket start, in order. Events arrive mostly in time order, so the bucket asked
/// for is nearly always the newest (found without a search) and pruning pops from the front:
/// no tree to rebalance or split on the live path.
#[derive(Debug, Clone)]
pub(crate) struct Buckets<T>(VecDeque<(i64, T)>);

impl<T> Default for Buckets<T> {
    fn default() -> Self {
        Buckets(VecDeque::new())
    }
}

impl<T: Default> Buckets<T> {
    pub(crate) fn entry(&mut self, bucket: i64) -> &mut T {
        let at = match self.0.back() {
            Some((last, _)) if *last == bucket => self.0.len() - 1,
            Some((last, _)) if *last < bucket => {
                self.0.push_back((bucket, T::default()));
                self.0.len() - 1
            }
            None => {
                self.0.push_back((bucket, T::default()));
                0
            }
            Some(_) => match self.0.binary_search_by_key(&bucket, |(b, _)| *b) {
                Ok(at) => at,
                Err(at) => {
                    self.0.insert(at, (bucket, T::default()));
                    at
                }
            },
        };
        &mut self.0[at].1
    }
}

impl<T> Buckets<T> {
    pub(crate) fn prune(&mut self, floor: i64) {
        while self.0.front().is_some_and(|(b, _)| *b < floor) {
            self.0.pop_front();
        }
    }

    pub(crate) fn range(&self, start: i64, end: i64) -> impl Iterator<Item = &(i64, T)> {
        let from = self.0.partition_point(|(b, _)| *b < start);
        let to = self.0.partition_point(|(b, _)| *b < end);
        self.0.range(from..to.max(from))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(i64, T)> {
        self.0.iter()
    }
}
