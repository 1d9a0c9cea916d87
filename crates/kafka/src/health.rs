//! What the service knows about Kafka, from librdkafka's statistics and error callbacks:
//! consumer lag per partition, whether any broker is reachable, and since when it is not.
//!
//! The consumer's callbacks run only while it is polled (not while the pipeline holds it back,
//! nor after the source stopped); the dead-letter producer's run on its own thread all the
//! time, so its "all brokers down" is heard even then.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::statistics::Statistics;

/// Shared between the clients' callbacks, the snapshot publisher and the health endpoints.
#[derive(Debug)]
pub struct KafkaHealth {
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    assigned: Mutex<BTreeSet<(String, i32)>>,
    connected: AtomicBool,
    /// Since when no broker is reachable (from the start until the first connection).
    down_since: Mutex<Option<Instant>>,
    last_error: Mutex<Option<String>>,
    /// Messages retention deleted before they were read, per partition, since the start.
    skipped: Mutex<BTreeMap<(String, i32), u64>>,
    /// How many partitions each topic read has, as the brokers' metadata says.
    topic_partitions: Mutex<BTreeMap<String, i32>>,
}

impl Default for KafkaHealth {
    fn default() -> KafkaHealth {
        KafkaHealth {
            lag: Mutex::default(),
            assigned: Mutex::default(),
            connected: AtomicBool::new(false),
            down_since: Mutex::new(Some(Instant::now())),
            last_error: Mutex::default(),
            skipped: Mutex::default(),
            topic_partitions: Mutex::default(),
        }
    }
}

/// A consistent copy for publishing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaStatus {
    /// Messages behind the partition's high watermark, per assigned topic partition.
    pub lag: BTreeMap<(String, i32), i64>,
    /// The partitions this member owns.
    pub assigned: BTreeSet<(String, i32)>,
    /// Whether at least one broker connection is up.
    pub connected: bool,
    /// The last error librdkafka reported (no secrets: librdkafka does not log them).
    pub last_error: Option<String>,
    /// Messages retention deleted before they were read, per topic partition, since the start.
    pub skipped: BTreeMap<(String, i32), u64>,
    /// How many partitions each topic read has.
    pub topic_partitions: BTreeMap<String, i32>,
}

impl KafkaHealth {
    /// Takes a statistics report (every `statistics.interval.ms`).
    pub fn record_statistics(&self, stats: &Statistics) {
        let up = stats.brokers.values().any(|b| b.state == "UP");
        self.set_connected(up);
        if up && let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
        let mut lag = BTreeMap::new();
        let mut counts = BTreeMap::new();
        for (topic, t) in &stats.topics {
            // Every partition the metadata lists is in the statistics, assigned or not.
            let count = t.partitions.keys().map(|p| p + 1).max().unwrap_or(0);
            if count > 0 {
                counts.insert(topic.clone(), count);
            }
            for (partition, p) in &t.partitions {
                // librdkafka reports -1 for partitions it does not consume and the internal
                // partition -1 ("UA"); only assigned, measured partitions count.
                // Behind what modeshare has applied (stored), else behind the last commit,
                // which trails by up to a checkpoint interval.
                let behind = if p.consumer_lag_stored >= 0 {
                    p.consumer_lag_stored
                } else {
                    p.consumer_lag
                };
                if *partition >= 0 && behind >= 0 {
                    lag.insert((topic.clone(), *partition), behind);
                }
            }
        }
        if let Ok(mut l) = self.lag.lock() {
            *l = lag;
        }
        if let Ok(mut c) = self.topic_partitions.lock() {
            c.extend(counts);
        }
    }

    /// How many partitions `topic` has (0 until the statistics have said).
    pub fn topic_partitions(&self, topic: &str) -> i32 {
        self.topic_partitions
            .lock()
            .ok()
            .and_then(|c| c.get(topic).copied())
            .unwrap_or(0)
    }

    /// Takes an error callback; transport errors mean the brokers are unreachable.
    pub fn record_error(&self, message: String, all_brokers_down: bool) {
        if all_brokers_down {
            self.set_connected(false);
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }

    fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
        if let Ok(mut since) = self.down_since.lock() {
            match (up, *since) {
                (true, _) => *since = None,
                (false, None) => *since = Some(Instant::now()),
                (false, Some(_)) => {}
            }
        }
    }

    /// Whether a broker is reachable, and for how long none has been.
    pub fn brokers_now(&self) -> (bool, Option<Duration>) {
        let down_for = self
            .down_since
            .lock()
            .ok()
            .and_then(|s| *s)
            .map(|at| at.elapsed());
        (self.connected.load(Ordering::Relaxed), down_for)
    }

    /// The group gave us these partitions (an eager rebalance hands over the whole set).
    pub fn record_assigned(&self, partitions: &[(String, i32)]) {
        if let Ok(mut a) = self.assigned.lock() {
            a.extend(partitions.iter().cloned());
        }
    }

    /// `count` messages of a partition were deleted by retention before they were read.
    pub fn record_skipped(&self, topic: &str, partition: i32, count: u64) {
        if let Ok(mut s) = self.skipped.lock() {
            *s.entry((topic.to_owned(), partition)).or_default() += count;
        }
    }

    /// These partitions went to another member.
    pub fn record_revoked(&self, partitions: &[(String, i32)]) {
        if let Ok(mut a) = self.assigned.lock() {
            for p in partitions {
                a.remove(p);
            }
        }
        if let Ok(mut l) = self.lag.lock() {
            for p in partitions {
                l.remove(p);
            }
        }
    }

    pub fn status(&self) -> KafkaStatus {
        let assigned = self.assigned.lock().map(|a| a.clone()).unwrap_or_default();
        KafkaStatus {
            lag: self
                .lag
                .lock()
                .map(|l| {
                    l.iter()
                        .filter(|(k, _)| assigned.contains(*k))
                        .map(|(k, v)| (k.clone(), *v))
                        .collect()
                })
                .unwrap_or_default(),
            assigned,
            connected: self.connected.load(Ordering::Relaxed),
            last_error: self.last_error.lock().ok().and_then(|e| e.clone()),
            skipped: self.skipped.lock().map(|s| s.clone()).unwrap_or_default(),
            topic_partitions: self
                .topic_partitions
                .lock()
                .map(|c| c.clone())
                .unwrap_or_default(),
        }
    }
}
