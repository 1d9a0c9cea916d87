//! Partitions applied on several threads: what the source sent for several Kafka partitions is
//! applied to their states at once, each partition's batches in their order on one thread.
//!
//! Partitions share nothing while their records are applied (each has its own `Pipeline`), so
//! the threads take no lock: a thread gets `&mut` to the states of its partitions only. The
//! partitions are dealt to the threads by their records, the largest first, each to the thread
//! with the fewest so far. A few records are applied on the calling thread alone: starting a
//! thread costs more than applying them.

/// How many threads apply partitions' records at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Workers {
    threads: usize,
    /// The records a share must have at least for a thread of its own.
    min_share: usize,
}

/// The records a thread is started for at least: starting one costs tens of microseconds,
/// applying a record a few.
const MIN_SHARE: usize = 64;

/// One partition's state and the batches to apply to it, in order.
pub(super) struct Work<'a, S, B> {
    pub state: &'a mut S,
    pub batches: Vec<&'a B>,
    /// What applying them costs, roughly: their records.
    pub weight: usize,
}

impl Workers {
    /// `threads` threads; 0: one per core.
    pub(super) fn new(threads: usize) -> Workers {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            n => n,
        };
        Workers {
            threads,
            min_share: MIN_SHARE,
        }
    }

    pub(super) fn threads(self) -> usize {
        self.threads
    }

    /// Applies every partition's batches with `apply`: on the calling thread when one thread
    /// would do (one partition, or fewer records than two shares), else on up to `threads`
    /// scoped threads, the calling thread among them (which, as with one thread, is busy until
    /// all are done). How many threads applied them.
    pub(super) fn apply<S, B>(
        self,
        work: Vec<Work<'_, S, B>>,
        apply: impl Fn(&mut S, &B) + Sync,
    ) -> usize
    where
        S: Send,
        B: Sync,
    {
        let total: usize = work.iter().map(|w| w.weight).sum();
        let mut shares = deal(work, self.threads.min(total / self.min_share.max(1)));
        let threads = shares.len();
        let Some(own) = shares.pop() else {
            return 0;
        };
        let apply_share = |share: Vec<Work<'_, S, B>>| {
            for w in share {
                for batch in w.batches {
                    apply(w.state, batch);
                }
            }
        };
        if shares.is_empty() {
            apply_share(own);
            return 1;
        }
        std::thread::scope(|scope| {
            for share in shares {
                scope.spawn(|| apply_share(share));
            }
            apply_share(own);
        });
        threads
    }
}

/// `work` dealt into at most `threads` non-empty shares: the heaviest partition first, each to
/// the lightest share so far. A partition's batches stay together, in their order.
fn deal<S, B>(mut work: Vec<Work<'_, S, B>>, threads: usize) -> Vec<Vec<Work<'_, S, B>>> {
    let threads = threads.clamp(1, work.len().max(1));
    work.sort_by_key(|w| std::cmp::Reverse(w.weight));
    let mut shares: Vec<(usize, Vec<Work<'_, S, B>>)> =
        (0..threads).map(|_| (0, Vec::new())).collect();
    for w in work {
        let Some(lightest) = shares.iter_mut().min_by_key(|(weight, _)| *weight) else {
            break;
        };
        lightest.0 += w.weight;
        lightest.1.push(w);
    }
    shares
        .into_iter()
        .map(|(_, share)| share)
        .filter(|share| !share.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;

    use super::*;

    /// A partition's state in the tests: the batches applied, in order, and on which threads.
    #[derive(Default)]
    struct Applied {
        batches: Vec<u32>,
        threads: HashSet<std::thread::ThreadId>,
    }

    fn work<'a>(states: &'a mut [Applied], batches: &'a [Vec<u32>]) -> Vec<Work<'a, Applied, u32>> {
        states
            .iter_mut()
            .zip(batches)
            .map(|(state, batches)| Work {
                state,
                weight: batches.len(),
                batches: batches.iter().collect(),
            })
            .collect()
    }

    #[test]
    fn each_partition_gets_its_batches_in_order_on_one_thread() {
        let batches: Vec<Vec<u32>> = (0..7u32)
            .map(|p| (0..(p + 1) * 3).map(|i| p * 1000 + i).collect())
            .collect();
        for threads in [1, 2, 3, 8] {
            let mut states: Vec<Applied> = (0..7).map(|_| Applied::default()).collect();
            let seen_threads = Mutex::new(HashSet::new());
            let workers = Workers {
                min_share: 1,
                ..Workers::new(threads)
            };
            let reported = workers.apply(work(&mut states, &batches), |state, batch| {
                state.batches.push(*batch);
                let id = std::thread::current().id();
                state.threads.insert(id);
                seen_threads.lock().unwrap().insert(id);
            });
            for (state, expected) in states.iter().zip(&batches) {
                assert_eq!(&state.batches, expected, "{threads} threads");
                assert_eq!(state.threads.len(), 1, "{threads} threads");
            }
            let used = seen_threads.into_inner().unwrap().len();
            assert_eq!(used, threads.min(7), "threads used with {threads}");
            assert_eq!(reported, used);
        }
    }

    #[test]
    fn the_heaviest_partitions_are_spread_first() {
        let batches: Vec<Vec<u32>> = [9usize, 1, 1, 1, 5, 4]
            .iter()
            .map(|n| vec![0; *n])
            .collect();
        let mut states: Vec<Applied> = (0..6).map(|_| Applied::default()).collect();
        let shares = deal(work(&mut states, &batches), 2);
        let weights: Vec<usize> = shares
            .iter()
            .map(|s| s.iter().map(|w| w.weight).sum())
            .collect();
        // 9 | 5 + 4 + 1 … : 11 and 10, where dealing in input order would give 12 and 9.
        assert_eq!(weights.iter().sum::<usize>(), 21);
        assert!(weights.iter().all(|w| (10..=11).contains(w)), "{weights:?}");
    }

    #[test]
    fn nothing_to_do_and_more_threads_than_partitions() {
        let mut states: Vec<Applied> = Vec::new();
        let threads = Workers::new(4).apply(work(&mut states, &[]), |_, _| unreachable!());
        assert_eq!(threads, 0);
        let mut one = vec![Applied::default()];
        let batches = vec![vec![1, 2]];
        let shares = deal(work(&mut one, &batches), 4);
        assert_eq!(shares.len(), 1);
    }

    #[test]
    fn a_few_records_stay_on_the_calling_thread() {
        let batches: Vec<Vec<u32>> = (0..4).map(|p| vec![p; MIN_SHARE / 4]).collect();
        let mut states: Vec<Applied> = (0..4).map(|_| Applied::default()).collect();
        let caller = std::thread::current().id();
        Workers::new(4).apply(work(&mut states, &batches), |state, _| {
            state.threads.insert(std::thread::current().id());
        });
        assert!(states.iter().all(|s| s.threads == HashSet::from([caller])));
        // Twice the minimum share: two threads.
        let batches: Vec<Vec<u32>> = (0..4).map(|p| vec![p; MIN_SHARE / 2]).collect();
        let mut states: Vec<Applied> = (0..4).map(|_| Applied::default()).collect();
        let seen = Mutex::new(HashSet::new());
        Workers::new(4).apply(work(&mut states, &batches), |_, _| {
            seen.lock().unwrap().insert(std::thread::current().id());
        });
        assert_eq!(seen.into_inner().unwrap().len(), 2);
    }

    #[test]
    fn zero_threads_means_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(Workers::new(0).threads(), cores);
        assert_eq!(Workers::new(3).threads(), 3);
    }
}
