//! What the service knows about Kafka, from librdkafka's statistics and error callbacks:
//! consumer lag per partition and whether any broker is reachable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::statistics::Statistics;

/// Shared between the consumer's callbacks and the snapshot publisher.
#[derive(Debug, Default)]
pub struct KafkaHealth {
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    assigned: Mutex<BTreeSet<(String, i32)>>,
    connected: AtomicBool,
    last_error: Mutex<Option<String>>,
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
}

impl KafkaHealth {
    /// Takes a statistics report (every `statistics.interval.ms`).
    pub fn record_statistics(&self, stats: &Statistics) {
        let up = stats.brokers.values().any(|b| b.state == "UP");
        self.connected.store(up, Ordering::Relaxed);
        if up && let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
        let mut lag = BTreeMap::new();
        for (topic, t) in &stats.topics {
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
    }

    /// Takes an error callback; transport errors mean the brokers are unreachable.
    pub fn record_error(&self, message: String, all_brokers_down: bool) {
        if all_brokers_down {
            self.connected.store(false, Ordering::Relaxed);
        }
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }

    /// The group gave us these partitions (an eager rebalance hands over the whole set).
    pub fn record_assigned(&self, partitions: &[(String, i32)]) {
        if let Ok(mut a) = self.assigned.lock() {
            a.extend(partitions.iter().cloned());
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
        }
    }
}
