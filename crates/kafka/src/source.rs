//! The consumer-group source: messages in batches per partition through a bounded channel.
//!
//! Where a partition starts is not Kafka's committed offset but the caller's: on every
//! assignment, inside the rebalance, [`StartPositions::start`] names the offset (the one its
//! checkpoint ends at), and that offset is passed in the assignment. Nothing is committed
//! automatically: the caller commits with [`KafkaSource::commit`] once a checkpoint covering
//! the offsets is durable, so the committed offset never runs ahead of saved state. Offsets are
//! also *stored* ([`KafkaSource::store`]) as records are applied, which only feeds the lag
//! statistics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::config::KafkaSettings;
use crate::health::KafkaHealth;
use crate::rebalance;

/// Records handed to the caller per batch at most.
const BATCH_RECORDS: usize = 2048;
/// How long the records buffered may wait for more after the first of them: the partitions'
/// batches go to the pipeline when they hold [`BATCH_RECORDS`] together, this long after the
/// first, or at a rebalance. No timer runs while nothing is buffered.
const BATCH_LINGER: Duration = Duration::from_millis(20);
/// How long an assignment waits for the group's committed offsets.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);

/// Where an assigned partition starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The next offset after the caller's saved state.
    Offset(i64),
    /// The earliest retained offset: the caller has no state for the partition.
    Beginning,
}

/// Why [`StartPositions`] refused a partition: the caller's own error (its checkpoint cannot be
/// used, say), whose `Display` is the reason logged and returned.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// The caller's answer, for each partition the group assigns, to "where does it start?".
/// Called inside the rebalance, before the partition is fetched. `committed` asks the broker
/// for the group's committed offset of the partition (`None`: none) — once per rebalance, and
/// only if some partition needs it. An `Err` refuses the partition: it is not consumed and
/// [`KafkaSource::run`] returns the reason.
pub trait StartPositions: Send + Sync {
    fn start(
        &self,
        topic: &str,
        partition: i32,
        committed: &mut dyn FnMut() -> Result<Option<i64>, KafkaError>,
    ) -> Result<StartAt, StartError>;
}

/// A partition [`StartPositions`] refused, and why.
#[derive(Debug)]
pub struct RefusedPartition {
    pub topic: String,
    pub partition: i32,
    pub reason: StartError,
}

/// Why [`KafkaSource::run`] stopped before its shutdown.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    /// [`StartPositions`] refused partitions: they are not consumed, and the source stops.
    /// `Display` lists each reason on a line of its own.
    #[error("partitions refused:\n  {}", reasons(.0))]
    Refused(Vec<RefusedPartition>),
}

fn reasons(refused: &[RefusedPartition]) -> String {
    let reasons: Vec<String> = refused.iter().map(|r| r.reason.to_string()).collect();
    reasons.join("\n  ")
}

/// One message as the pipeline needs it, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record<'a> {
    pub key: Option<&'a [u8]>,
    /// Missing payloads (tombstones) arrive as empty.
    pub payload: &'a [u8],
    pub offset: i64,
}

/// Consecutive records of one partition, in offset order. Their keys and payloads are copied
/// out of librdkafka's buffers one after another into one buffer of the batch: a few
/// allocations a batch, where a key and a payload of their own took two a record, and two
/// frees.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionBatch {
    pub topic: Arc<str>,
    pub partition: i32,
    bytes: Vec<u8>,
    records: Vec<RecordBytes>,
}

/// Where a record's key and payload are in its batch's bytes: the key (when it has one)
/// from `start`, the payload after it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RecordBytes {
    offset: i64,
    start: usize,
    key_len: Option<usize>,
    payload_len: usize,
}

impl PartitionBatch {
    /// An empty batch of a partition.
    pub fn new(topic: Arc<str>, partition: i32) -> PartitionBatch {
        PartitionBatch {
            topic,
            partition,
            bytes: Vec::new(),
            records: Vec::new(),
        }
    }

    /// Adds the next record (offsets increase).
    pub fn push(&mut self, key: Option<&[u8]>, payload: &[u8], offset: i64) {
        let start = self.bytes.len();
        if let Some(key) = key {
            self.bytes.extend_from_slice(key);
        }
        self.bytes.extend_from_slice(payload);
        self.records.push(RecordBytes {
            offset,
            start,
            key_len: key.map(<[u8]>::len),
            payload_len: payload.len(),
        });
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records from `offset` on, in order.
    pub fn records_from(
        &self,
        offset: i64,
    ) -> impl DoubleEndedIterator<Item = Record<'_>> + ExactSizeIterator + Clone {
        let from = self.records.partition_point(|r| r.offset < offset);
        self.records[from..].iter().map(|r| {
            let key_len = r.key_len.unwrap_or(0);
            let payload_start = r.start + key_len;
            Record {
                key: r.key_len.map(|_| &self.bytes[r.start..payload_start]),
                payload: &self.bytes[payload_start..payload_start + r.payload_len],
                offset: r.offset,
            }
        })
    }
}

/// What the source tells the pipeline, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvent {
    Records(PartitionBatch),
    /// These partitions were taken away (another member, or a lost session): records already
    /// sent for them come first in the channel.
    Revoked(Vec<(String, i32)>),
    /// These partitions are ours, each starting where [`StartPositions::start`] said.
    Assigned(Vec<(String, i32)>),
}

/// librdkafka callbacks: statistics and errors feed [`KafkaHealth`]; rebalances ask
/// [`StartPositions`] where each partition starts and are queued for the source loop, which
/// forwards them in order with the records.
pub struct SourceContext {
    health: Arc<KafkaHealth>,
    starts: Arc<dyn StartPositions>,
    /// Rebalance notices in the order they happened, for the source loop to forward.
    rebalances: Mutex<Vec<SourceEvent>>,
    /// Told of each notice queued: the rebalance callback runs inside the wait for the next
    /// message, which goes on waiting after it, so the source loop waits on this too.
    rebalanced: Notify,
    /// Partitions refused, with why; the source stops when there is any.
    refused: Mutex<Vec<RefusedPartition>>,
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
        self.rebalanced.notify_one();
    }

    fn take_refusals(&self) -> Vec<RefusedPartition> {
        self.refused
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }

    /// The assignment with each partition's start offset; refused partitions are left out.
    fn positioned(
        &self,
        consumer: &BaseConsumer<Self>,
        offered: &TopicPartitionList,
    ) -> TopicPartitionList {
        let mut committed: Option<KafkaResult<TopicPartitionList>> = None;
        let mut assignment = TopicPartitionList::new();
        for element in offered.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            let mut lookup = || {
                let list = committed.get_or_insert_with(|| {
                    consumer.committed_offsets(offered.clone(), COMMITTED_TIMEOUT)
                });
                let list = list.as_ref().map_err(Clone::clone)?;
                Ok(list
                    .find_partition(topic, partition)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(n) => Some(n),
                        _ => None,
                    }))
            };
            let offset = match self.starts.start(topic, partition, &mut lookup) {
                Ok(StartAt::Offset(n)) => {
                    Offset::Offset(self.past_retention(consumer, topic, partition, n))
                }
                Ok(StartAt::Beginning) => Offset::Beginning,
                Err(reason) => {
                    error!(topic, partition, %reason, "partition refused");
                    if let Ok(mut r) = self.refused.lock() {
                        r.push(RefusedPartition {
                            topic: topic.to_owned(),
                            partition,
                            reason,
                        });
                    }
                    continue;
                }
            };
            if let Err(e) = assignment.add_partition_offset(topic, partition, offset) {
                warn!(topic, partition, error = %e, "cannot set the start offset");
            }
        }
        assignment
    }
}

impl SourceContext {
    /// Where a partition whose state ends before `next` starts reading: at `next`, unless
    /// retention deleted messages from `next` on before they were read (the service was down
    /// longer than the topic keeps messages). Then it starts at the earliest message retained,
    /// and the messages in between, which no state will ever count, are logged and counted
    /// (`modeshare_kafka_skipped_messages_total`), never skipped silently. (Gaps inside what is
    /// retained, transaction markers or compaction, are normal and not counted.)
    fn past_retention(
        &self,
        consumer: &BaseConsumer<Self>,
        topic: &str,
        partition: i32,
        next: i64,
    ) -> i64 {
        match consumer.fetch_watermarks(topic, partition, COMMITTED_TIMEOUT) {
            Ok((earliest, _)) if earliest > next => {
                let skipped = earliest - next;
                error!(
                    topic,
                    partition,
                    checkpoint_ends_at = next,
                    earliest_retained = earliest,
                    skipped,
                    "retention deleted messages of this partition before they were read: they \
                     are not counted; reading continues at the earliest message retained \
                     (keep topics longer than the service can be down)"
                );
                self.health
                    .record_skipped(topic, partition, u64::try_from(skipped).unwrap_or(0));
                earliest
            }
            Ok(_) => next,
            Err(e) => {
                // librdkafka itself resets an offset retention removed to the earliest one
                // (auto.offset.reset), uncounted: say that it could not be checked.
                warn!(
                    topic,
                    partition,
                    error = %e,
                    "cannot read the partition's earliest offset: messages retention may have \
                     deleted before they were read would not be counted"
                );
                next
            }
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

/// Runs `work`, which waits on the network (the committed offsets, the checkpoint store's
/// claims), without holding up the runtime's other tasks: the rebalance callback runs inside
/// the wait for the consumer's next message, on a runtime worker.
fn off_the_workers<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
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
    /// librdkafka's rebalance, with the start offsets set by [`StartPositions`] (eager and
    /// cooperative protocols both).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        offered: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let assignment = off_the_workers(|| self.positioned(consumer, offered));
                if let Err(e) = rebalance::take(consumer, &assignment) {
                    error!(error = %e, "cannot take the assignment");
                }
                let parts = topic_partitions(&assignment);
                info!(partitions = ?parts, "partitions assigned");
                self.health.record_assigned(&parts);
                self.queue(SourceEvent::Assigned(parts));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let parts = topic_partitions(offered);
                info!(partitions = ?parts, "partitions revoked");
                self.health.record_revoked(&parts);
                self.queue(SourceEvent::Revoked(parts));
                if let Err(e) = rebalance::give_up(consumer, offered) {
                    error!(error = %e, "cannot give up the assignment");
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                error!(error = %code, "rebalance failed; dropping the assignment");
                let parts = topic_partitions(offered);
                self.health.record_revoked(&parts);
                self.queue(SourceEvent::Revoked(parts));
                if let Err(e) = consumer.unassign() {
                    error!(error = %e, "cannot give up the assignment");
                }
            }
        }
    }
}

/// What woke the source loop.
enum Woken<'a> {
    Message(KafkaResult<BorrowedMessage<'a>>),
    /// The rebalance callback queued notices.
    Rebalanced,
    /// The records buffered have waited [`BATCH_LINGER`].
    Linger,
}

/// A subscribed consumer.
pub struct KafkaSource {
    consumer: StreamConsumer<SourceContext>,
    health: Arc<KafkaHealth>,
}

impl KafkaSource {
    /// Creates the consumer and subscribes to the configured topics. Connection problems are
    /// not errors here: librdkafka retries and the health reports them.
    pub fn connect(
        settings: &KafkaSettings,
        starts: Arc<dyn StartPositions>,
    ) -> KafkaResult<KafkaSource> {
        let health = Arc::new(KafkaHealth::default());
        let context = SourceContext {
            health: health.clone(),
            starts,
            rebalances: Mutex::new(Vec::new()),
            rebalanced: Notify::new(),
            refused: Mutex::new(Vec::new()),
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

    /// Marks `offset` of a partition as applied, for the lag statistics; it is not committed.
    pub fn store(&self, topic: &str, partition: i32, offset: i64) -> KafkaResult<()> {
        // `store_offset` stores offset + 1, the next one to read (librdkafka convention).
        self.consumer.store_offset(topic, partition, offset)
    }

    /// Commits `(topic, partition, next offset to read)` for the group. `wait` blocks until
    /// the broker confirms (at shutdown); otherwise the commit is sent in the background.
    pub fn commit(&self, offsets: &[(&str, i32, i64)], wait: bool) -> KafkaResult<()> {
        let mut list = TopicPartitionList::new();
        for (topic, partition, next) in offsets {
            list.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        let mode = if wait {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        self.consumer.commit(&list, mode)
    }

    /// Reads until `shutdown`, sending batches per partition; `send().await` is the
    /// backpressure. Returns when the receiver is gone or on shutdown, or with the reasons
    /// when [`StartPositions`] refused a partition.
    /// `T` is the caller's channel item; anything a [`SourceEvent`] converts into.
    pub async fn run<T: From<SourceEvent>>(
        &self,
        events: mpsc::Sender<T>,
        shutdown: CancellationToken,
    ) -> Result<(), KafkaSourceError> {
        let mut pending: BTreeMap<(Arc<str>, i32), PartitionBatch> = BTreeMap::new();
        let mut topics: BTreeSet<Arc<str>> = BTreeSet::new();
        let mut buffered = 0usize;
        // Made once, not per record: each new one registers with the runtime or the consumer
        // (a waiter on the token, a timer, a waker slot of the consumer's queue, the last two
        // behind a lock) and deregisters when dropped.
        let mut messages = self.consumer.stream();
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let linger = tokio::time::sleep(BATCH_LINGER);
        tokio::pin!(linger);
        let context = self.consumer.context();
        let rebalanced = context.rebalanced.notified();
        tokio::pin!(rebalanced);
        loop {
            let woken = tokio::select! {
                biased;
                _ = &mut cancelled => break,
                m = messages.next() => match m {
                    Some(m) => Woken::Message(m),
                    None => break,
                },
                // The rebalance callback runs inside the consumer's `next` above, which then
                // goes on waiting for a message: this says it ran.
                () = &mut rebalanced => {
                    rebalanced.set(context.rebalanced.notified());
                    Woken::Rebalanced
                }
                // The deadline of the records buffered, set by the first of them.
                () = &mut linger, if buffered > 0 => Woken::Linger,
            };
            // A rebalance happens inside `next`: the records buffered so far were fetched before
            // it and go first, then the rebalance notices, then whatever `next` returned.
            let rebalances = context.take_rebalances();
            if !rebalances.is_empty() {
                if !self.flush(&mut pending, &events).await {
                    return Ok(());
                }
                buffered = 0;
                for event in rebalances {
                    if events.send(event.into()).await.is_err() {
                        return Ok(());
                    }
                }
                let refused = context.take_refusals();
                if !refused.is_empty() {
                    return Err(KafkaSourceError::Refused(refused));
                }
            }
            match woken {
                Woken::Message(Ok(m)) => {
                    if buffered == 0 {
                        linger
                            .as_mut()
                            .reset(tokio::time::Instant::now() + BATCH_LINGER);
                    }
                    // Looked up by `&str`: a topic's name is copied once, not per record.
                    let topic = topics.get(m.topic()).cloned().unwrap_or_else(|| {
                        let topic: Arc<str> = Arc::from(m.topic());
                        topics.insert(Arc::clone(&topic));
                        topic
                    });
                    pending
                        .entry((topic, m.partition()))
                        .or_insert_with_key(|(topic, partition)| {
                            PartitionBatch::new(Arc::clone(topic), *partition)
                        })
                        .push(m.key(), m.payload().unwrap_or_default(), m.offset());
                    buffered += 1;
                    if buffered < BATCH_RECORDS {
                        continue;
                    }
                }
                Woken::Message(Err(e)) => {
                    warn!(error = %e, "kafka receive error; retrying");
                    continue;
                }
                // Any notices went out above, after what was buffered; a wake without any
                // (a notice taken at an earlier wake) leaves the buffer to its linger.
                Woken::Rebalanced => continue,
                Woken::Linger => {}
            }
            if !self.flush(&mut pending, &events).await {
                return Ok(());
            }
            buffered = 0;
        }
        // Records already read are handed over, to be applied and checkpointed.
        self.flush(&mut pending, &events).await;
        Ok(())
    }

    /// Sends the buffered batches. `false` when the receiver is gone.
    async fn flush<T: From<SourceEvent>>(
        &self,
        pending: &mut BTreeMap<(Arc<str>, i32), PartitionBatch>,
        events: &mpsc::Sender<T>,
    ) -> bool {
        for batch in std::mem::take(pending).into_values() {
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

#[cfg(test)]
mod tests;
