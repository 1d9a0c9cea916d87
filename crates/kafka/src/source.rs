//! The consumer-group source: messages in batches per partition through a bounded channel.
//!
//! Offsets are never stored automatically (`enable.auto.offset.store=false`): the caller calls
//! [`KafkaSource::store`] once a record is reflected in state or safely dead-lettered, and
//! librdkafka commits stored offsets periodically. A restart therefore re-reads from the last
//! commit; without checkpoints, it does so with empty state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::KafkaSettings;
use crate::health::KafkaHealth;

/// Records handed to the caller per batch at most.
const BATCH_RECORDS: usize = 2048;
/// How long a partial batch may wait for more records.
const BATCH_LINGER: Duration = Duration::from_millis(20);

/// One message as the pipeline needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    /// Missing payloads (tombstones) arrive as empty.
    pub payload: Vec<u8>,
    pub offset: i64,
}

/// Consecutive records of one partition, in offset order.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBatch {
    pub topic: Arc<str>,
    pub partition: i32,
    pub records: Vec<Record>,
}

/// What the source tells the pipeline, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    Records(PartitionBatch),
    /// These partitions were taken away (another member, or a lost session): records already
    /// sent for them come first in the channel.
    Revoked(Vec<(String, i32)>),
    /// These partitions are ours (again).
    Assigned(Vec<(String, i32)>),
}

/// librdkafka callbacks: statistics and errors feed [`KafkaHealth`]; rebalances are queued for
/// the source loop, which forwards them in order with the records.
pub struct SourceContext {
    health: Arc<KafkaHealth>,
    /// Rebalance notices in the order they happened, for the source loop to forward.
    rebalances: Mutex<Vec<SourceEvent>>,
}

impl SourceContext {
    fn take_rebalances(&self) -> Vec<SourceEvent> {
        self.rebalances
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    fn queue(&self, event: SourceEvent) {
        if let Ok(mut r) = self.rebalances.lock() {
            r.push(event);
        }
    }
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        self.health.record_statistics(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let all_down = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
        );
        warn!(%error, reason, "kafka client error");
        self.health
            .record_error(format!("{error}: {reason}"), all_down);
    }
}

/// A rebalance's partitions as `(topic, partition)`.
fn topic_partitions(list: &rdkafka::TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let parts = topic_partitions(list);
            info!(partitions = ?parts, "partitions revoked");
            self.health.record_revoked(&parts);
            self.queue(SourceEvent::Revoked(parts));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let parts = topic_partitions(list);
            info!(partitions = ?parts, "partitions assigned");
            self.health.record_assigned(&parts);
            self.queue(SourceEvent::Assigned(parts));
        }
    }
}

/// A subscribed consumer.
pub struct KafkaSource {
    consumer: StreamConsumer<SourceContext>,
    health: Arc<KafkaHealth>,
}

impl KafkaSource {
    /// Creates the consumer and subscribes to the configured topics. Connection problems are
    /// not errors here: librdkafka retries and the health reports them.
    pub fn connect(settings: &KafkaSettings) -> KafkaResult<KafkaSource> {
        let health = Arc::new(KafkaHealth::default());
        let context = SourceContext {
            health: health.clone(),
            rebalances: Mutex::new(Vec::new()),
        };
        let consumer: StreamConsumer<SourceContext> =
            settings.consumer_config().create_with_context(context)?;
        let topics: Vec<&str> = settings.topics.iter().map(|t| t.name.as_str()).collect();
        consumer.subscribe(&topics)?;
        info!(
            brokers = %settings.brokers,
            group = %settings.group_id,
            topics = ?topics,
            options = ?settings.redacted_options(),
            "consuming from Kafka"
        );
        Ok(KafkaSource { consumer, health })
    }

    pub fn health(&self) -> Arc<KafkaHealth> {
        self.health.clone()
    }

    /// Marks `offset` of a partition as done; it is committed with the next auto-commit.
    pub fn store(&self, topic: &str, partition: i32, offset: i64) -> KafkaResult<()> {
        // `store_offset` stores offset + 1, the next one to read (librdkafka convention).
        self.consumer.store_offset(topic, partition, offset)
    }

    /// Reads until `shutdown`, sending batches per partition; `send().await` is the
    /// backpressure. Returns when the receiver is gone or on shutdown.
    /// `T` is the caller's channel item; anything a [`SourceEvent`] converts into.
    pub async fn run<T: From<SourceEvent>>(
        &self,
        events: mpsc::Sender<T>,
        shutdown: CancellationToken,
    ) {
        let mut pending: BTreeMap<(Arc<str>, i32), Vec<Record>> = BTreeMap::new();
        let mut topics: BTreeMap<String, Arc<str>> = BTreeMap::new();
        let mut buffered = 0usize;
        loop {
            let message = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                m = self.consumer.recv() => Some(m),
                _ = tokio::time::sleep(BATCH_LINGER) => None,
            };
            // A rebalance happens inside `recv`: the records buffered so far were fetched before
            // it and go first, then the rebalance notices, then whatever `recv` returned.
            let rebalances = self.consumer.context().take_rebalances();
            if !rebalances.is_empty() {
                if !self.flush(&mut pending, &events).await {
                    return;
                }
                buffered = 0;
                for event in rebalances {
                    if events.send(event.into()).await.is_err() {
                        return;
                    }
                }
            }
            match message {
                Some(Ok(m)) => {
                    let topic = topics
                        .entry(m.topic().to_owned())
                        .or_insert_with(|| Arc::from(m.topic()))
                        .clone();
                    pending
                        .entry((topic, m.partition()))
                        .or_default()
                        .push(Record {
                            key: m.key().map(<[u8]>::to_vec),
                            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                            offset: m.offset(),
                        });
                    buffered += 1;
                    if buffered < BATCH_RECORDS {
                        continue;
                    }
                }
                Some(Err(e)) => {
                    warn!(error = %e, "kafka receive error; retrying");
                    continue;
                }
                None if buffered == 0 => continue,
                None => {}
            }
            if !self.flush(&mut pending, &events).await {
                return;
            }
            buffered = 0;
        }
        // Records already read are handed over; their offsets are stored once applied.
        self.flush(&mut pending, &events).await;
    }

    /// Sends the buffered batches. `false` when the receiver is gone.
    async fn flush<T: From<SourceEvent>>(
        &self,
        pending: &mut BTreeMap<(Arc<str>, i32), Vec<Record>>,
        events: &mpsc::Sender<T>,
    ) -> bool {
        for ((topic, partition), records) in std::mem::take(pending) {
            let batch = PartitionBatch {
                topic,
                partition,
                records,
            };
            if events
                .send(SourceEvent::Records(batch).into())
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }
}
