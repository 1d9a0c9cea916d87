//! The service's link to Kafka: the consumer, the dead-letter queue and the partition
//! checkpoints. Two orders hold here: a partition is checkpointed only once the dead letters of
//! every record in its state are delivered (see [`super::dead_letters`]), and offsets are
//! committed only after the checkpoint that covers them is durable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use modeshare_core::decode::{DecodeError, Format, FormatDecoder};
use modeshare_core::pipeline::Outcome;
use modeshare_http::metrics::PipelineMetrics;
use modeshare_http::snapshot::BrokerStatus;
use modeshare_kafka::{
    DeadLetter, DeadLetters, KafkaSettings, KafkaSource, OwnTopic, PartitionBatch,
};
use prometheus::IntCounterVec;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::dead_letters::DeadLetterQueue;
use super::partitions::{PartitionKey, PartitionOffsets, PartitionState, Partitions};
use super::probe::KafkaProbe;
use crate::checkpoint_store::CheckpointStore;
use crate::clock::wall_clock;
use crate::config::AppConfig;
use crate::failure::Failure;
use crate::partition_checkpoints::{PartitionCheckpoints, RestoredPartition, WriteError};

/// The Kafka consumer, dead-letter producer and partition checkpoints of a service, with each
/// topic's decoder and how checkpoint writes have gone.
pub(super) struct KafkaLink {
    source: Arc<KafkaSource>,
    dead_letters: DeadLetterQueue,
    checkpoints: Arc<PartitionCheckpoints>,
    decoders: TopicDecoders,
    health: CheckpointHealth,
    /// The pipeline task has taken the group's first assignment (until then the service is
    /// not ready).
    first_assignment: Arc<AtomicBool>,
}

impl KafkaLink {
    /// Creates the consumer (which restores each partition's checkpoint when the group assigns
    /// it) and the dead-letter producer, and makes sure of the dead-letter topic in the
    /// background.
    pub(super) async fn connect(
        settings: &KafkaSettings,
        config: &AppConfig,
        dead_letter_failures: IntCounterVec,
        metrics: PipelineMetrics,
        shutdown: &CancellationToken,
        give_up: &CancellationToken,
    ) -> Result<KafkaLink, Failure> {
        // librdkafka may quote a value it refuses: secret ones are scrubbed from the message.
        let fail = |e: modeshare_kafka::KafkaError| {
            let message = settings.options.scrub(&e.to_string());
            Failure::Usage(anyhow::anyhow!("kafka: {message}"))
        };
        let store = CheckpointStore::open(&config.state.checkpoints)
            .map_err(|e| Failure::Usage(anyhow::anyhow!("[state] url: {e}")))?;
        let checkpoints = Arc::new(
            PartitionCheckpoints::new(
                store,
                &settings.group_id,
                config.settings.clone(),
                config.zones.clone(),
                config.state.on_bad_checkpoint,
            )
            .observed_by(metrics),
        );
        info!(
            store = %config.state.checkpoints,
            interval = ?config.state.interval,
            "checkpointing each partition's state"
        );
        let source = Arc::new(KafkaSource::connect(settings, checkpoints.clone()).map_err(fail)?);
        let producer = DeadLetters::connect(settings, source.health()).map_err(fail)?;
        let dead_letters = DeadLetterQueue::spawn(producer, dead_letter_failures, give_up.clone());
        if settings.create_dead_letter_topic {
            let topic = OwnTopic::dead_letters(settings);
            tokio::spawn(topic.keep_ensuring(settings.clone(), shutdown.clone()));
        }
        Ok(KafkaLink {
            source,
            dead_letters,
            checkpoints,
            decoders: TopicDecoders::new(config),
            health: CheckpointHealth::default(),
            first_assignment: Arc::new(AtomicBool::new(false)),
        })
    }

    /// What the health endpoints ask of Kafka.
    pub(super) fn probe(&self) -> KafkaProbe {
        KafkaProbe {
            health: self.source.health(),
            checkpoints: self.checkpoints.clone(),
            first_assignment: self.first_assignment.clone(),
        }
    }

    /// The pipeline task has taken these partitions: they read again from their checkpoints,
    /// whatever an earlier assignment could not dead-letter.
    pub(super) fn assignment_taken(&self, keys: &[PartitionKey]) {
        for key in keys {
            self.dead_letters.reset(key);
        }
        self.first_assignment.store(true, Ordering::Relaxed);
    }

    /// The claim generation this instance holds on a partition, if it holds one.
    pub(super) fn generation(&self, topic: &str, partition: i32) -> Option<u64> {
        self.checkpoints.generation(topic, partition)
    }

    /// The checkpoint store, which the shared view's parts go to as well.
    pub(super) fn store(&self) -> CheckpointStore {
        self.checkpoints.store().clone()
    }

    /// Waits until every queued dead letter is delivered or given up on (before the final
    /// checkpoint), at most until `give_up`.
    pub(super) async fn dead_letters_settled(&self, give_up: &CancellationToken) {
        self.dead_letters.settled(give_up).await;
    }

    /// The brokers' state as the consumer sees it (for other producers' callbacks).
    pub(super) fn health(&self) -> Arc<modeshare_kafka::KafkaHealth> {
        self.source.health()
    }

    /// The consumer, for the source task.
    pub(super) fn source(&self) -> Arc<KafkaSource> {
        self.source.clone()
    }

    /// The state the partition's checkpoint restored when the group assigned it; `None` when
    /// it starts empty.
    pub(super) fn restored(&self, topic: &str, partition: i32) -> Option<RestoredPartition> {
        self.checkpoints.take(topic, partition)
    }

    /// Applies a partition's records not yet in its state, queues the dead letters of the
    /// rejected ones (the partition is checkpointed only once they are delivered), and stores
    /// (for the lag statistics) the offset of the last record applied.
    pub(super) fn apply(
        &self,
        state: &mut PartitionState,
        batch: &PartitionBatch,
        max_line: usize,
    ) {
        let decoder = self.decoders.of(&batch.topic);
        let now = wall_clock();
        let mut letters = Vec::new();
        let offsets = state.offsets.get_or_insert_with(PartitionOffsets::default);
        // A batch is in offset order: the records already in the state come first.
        let first_new = offsets.next.unwrap_or(i64::MIN);
        let records = batch.records_from(first_new);
        let Some(last) = records.clone().next_back() else {
            debug!(topic = %batch.topic, partition = batch.partition, records = batch.len(), "records already in the restored state; skipped");
            return;
        };
        offsets.next = Some(last.offset + 1);
        offsets.unsaved += records.len() as u64;
        for record in records {
            // An empty message (a tombstone) is no event; it is neither read nor rejected.
            if record.payload.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            // The same size limit as a line: one message is one record.
            if record.payload.len() > max_line {
                let e = DecodeError::line_too_long(record.payload.len() as u64, max_line);
                state
                    .pipeline
                    .observe_rejection(&e, &batch.topic, Some(now));
                letters.push(dead_letter(batch, &record, record.payload.to_vec(), &e));
                continue;
            }
            let pipeline = &mut state.pipeline;
            decoder.decode_record(record.payload, Some(now), &mut |raw, decoded| {
                if let Some(Outcome::Rejected(e)) =
                    pipeline.observe_decoded(decoded, &batch.topic, Some(now))
                {
                    // A rejected trip of a page, or row of a table, is dead-lettered on its own.
                    let payload = if raw.is_empty() {
                        record.payload.to_vec()
                    } else {
                        raw.into_owned()
                    };
                    letters.push(dead_letter(batch, &record, payload, &e));
                }
            });
        }
        state.last_event_at = now.0;
        self.dead_letters
            .send(&(batch.topic.clone(), batch.partition), letters);
        if let Err(e) = self
            .source
            .store(&batch.topic, batch.partition, last.offset)
        {
            debug!(error = %e, topic = %batch.topic, partition = batch.partition, "cannot store the offset for the lag statistics");
        }
    }

    /// Checkpoints the Kafka partitions among `keys` that have anything new, then commits their
    /// offsets (in the background, or waiting for the broker until `wait` is cancelled). A
    /// failed write is logged and counted, and leaves the partition's previous checkpoint and
    /// commit in place. With `part_states` (the view is shared), the state of each checkpointed
    /// partition's view part goes there, encoded from the same save. Whether every partition's
    /// state is saved.
    pub(super) async fn checkpoint(
        &mut self,
        partitions: &mut Partitions,
        keys: &[PartitionKey],
        mut part_states: Option<&mut PartStates>,
        wait: Option<&CancellationToken>,
    ) -> bool {
        let mut saved = true;
        let health = &mut self.health;
        let mut failed = None;
        let mut committed = Vec::new();
        let mut fenced = Vec::new();
        for key in keys {
            let Some(state) = partitions.get_mut(key) else {
                continue;
            };
            // A partition whose dead letters are not all delivered cannot be checkpointed yet.
            if self.dead_letters.holds_back(key) {
                saved = false;
                continue;
            }
            let Some(next) = state
                .offsets
                .as_ref()
                .and_then(PartitionOffsets::to_checkpoint)
            else {
                continue;
            };
            let bytes = match part_states.as_deref_mut() {
                Some(part_states) => {
                    let (bytes, part_state) = self
                        .checkpoints
                        .encode_with_part_state(&state.pipeline, next);
                    part_states.insert(key.clone(), part_state);
                    bytes
                }
                None => self.checkpoints.encode(&state.pipeline, next),
            };
            let (checkpoints, topic, partition) = (self.checkpoints.clone(), key.0.clone(), key.1);
            let written =
                tokio::task::spawn_blocking(move || checkpoints.write(&topic, partition, &bytes))
                    .await;
            match written {
                Ok(Ok(location)) => {
                    debug!(topic = %key.0, partition = key.1, checkpoint = %location, next_offset = next, "checkpoint written");
                    if let Some(offsets) = state.offsets.as_mut() {
                        offsets.checkpointed = Some(next);
                        offsets.unsaved = 0;
                    }
                    committed.push((key.0.clone(), key.1, next));
                }
                Ok(Err(e @ WriteError::Superseded(_))) => {
                    debug!(topic = %key.0, partition = key.1, error = %e, "a revoked partition's last state is superseded by its new assignment here");
                }
                Ok(Err(e @ WriteError::Fenced { .. })) => {
                    warn!(
                        topic = %key.0, partition = key.1, error = %e,
                        "the partition has a new owner: its state here is stale and dropped, uncommitted"
                    );
                    fenced.push(key.clone());
                    health.fences += 1;
                }
                Ok(Err(e)) => {
                    error!(
                        topic = %key.0, partition = key.1, error = %e,
                        "cannot write the checkpoint; the previous one stands and its offset stays committed"
                    );
                    failed = Some(format!("cannot write the checkpoint: {e}"));
                    health.failures += 1;
                }
                Err(e) => {
                    error!(topic = %key.0, partition = key.1, error = %e, "the checkpoint writer failed");
                    failed = Some(format!("the checkpoint writer failed: {e}"));
                    health.failures += 1;
                }
            }
        }
        // Its records still in the channel are left to the new owner, as after a revocation.
        for key in &fenced {
            partitions.remove(key);
        }
        saved &= failed.is_none();
        if failed.is_some() || !committed.is_empty() {
            health.error = failed;
        }
        let offsets: Vec<(String, i32, i64)> = committed
            .into_iter()
            .map(|(topic, partition, next)| (topic.to_string(), partition, next))
            .collect();
        // A refused commit (a rebalance in progress) is harmless: the checkpoint is the truth,
        // and the next commit catches up.
        match wait {
            None => {
                if let Err(e) = self.source.commit(&borrowed(&offsets), false) {
                    debug!(error = %e, "cannot commit the checkpointed offsets now");
                }
            }
            Some(give_up) => {
                // A synchronous commit blocks its thread until the broker answers, which it
                // may never do: it waits on a thread of its own, and only until `give_up`.
                let source = self.source.clone();
                let commit =
                    tokio::task::spawn_blocking(move || source.commit(&borrowed(&offsets), true));
                tokio::select! {
                    biased;
                    committed = commit => match committed {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => warn!(error = %e, "cannot commit the checkpointed offsets; the checkpoints stand and the next start commits them"),
                        Err(e) => warn!(error = %e, "the commit failed"),
                    },
                    _ = give_up.cancelled() => warn!("no broker confirmed the final commit in time; the checkpoints stand and the next start commits them"),
                }
            }
        }
        saved
    }

    /// What a snapshot says of the brokers, the partitions and the checkpoints.
    pub(super) fn broker_status(&self, partitions: &Partitions) -> BrokerStatus {
        let status = self.source.health().status();
        let mut assigned: BTreeMap<String, usize> = BTreeMap::new();
        for (topic, _) in &status.assigned {
            *assigned.entry(topic.clone()).or_default() += 1;
        }
        BrokerStatus {
            connected: status.connected,
            lag: status
                .lag
                .into_iter()
                .map(|((t, p), l)| (t, p, l))
                .collect(),
            assigned: assigned.into_iter().collect(),
            topic_partitions: status.topic_partitions.into_iter().collect(),
            last_error: status.last_error,
            skipped: status
                .skipped
                .into_iter()
                .map(|((t, p), n)| (t, p, n))
                .collect(),
            unsaved: partitions
                .iter()
                .filter_map(|((topic, partition), p)| {
                    let unsaved = p.offsets.as_ref()?.unsaved;
                    Some((topic.to_string(), *partition, unsaved))
                })
                .collect(),
            checkpoint_failures: self.health.failures,
            checkpoint_fences: self.health.fences,
            checkpoint_error: self.health.error.clone(),
        }
    }
}

fn borrowed(offsets: &[(String, i32, i64)]) -> Vec<(&str, i32, i64)> {
    offsets
        .iter()
        .map(|(topic, partition, next)| (topic.as_str(), *partition, *next))
        .collect()
}

/// The states of partitions' view parts encoded with their checkpoints
/// ([`PartitionCheckpoints::encode_with_part_state`]), for the parts written right after.
pub(super) type PartStates = BTreeMap<PartitionKey, Vec<u8>>;

/// Each topic's decoder; a topic not configured (none should reach us) reads canonical.
struct TopicDecoders {
    canonical: FormatDecoder,
    topics: BTreeMap<String, FormatDecoder>,
}

impl TopicDecoders {
    fn new(config: &AppConfig) -> TopicDecoders {
        let canonical = FormatDecoder::new(
            &Format::Canonical,
            &config.formats,
            &config.settings.factors,
        );
        let topics = config
            .kafka
            .iter()
            .flat_map(|k| &k.topics)
            .filter_map(|t| {
                let format = Format::parse(&t.format, &config.formats).ok()?;
                let decoder =
                    FormatDecoder::new(&format, &config.formats, &config.settings.factors);
                Some((t.name.clone(), decoder))
            })
            .collect();
        TopicDecoders { canonical, topics }
    }

    fn of(&self, topic: &str) -> &FormatDecoder {
        self.topics.get(topic).unwrap_or(&self.canonical)
    }
}

/// How checkpoint writes have gone, for `/healthz` and `/metrics`.
#[derive(Debug, Default)]
struct CheckpointHealth {
    failures: u64,
    /// Partitions dropped because another instance had claimed them.
    fences: u64,
    /// The latest failure, until a round of writes succeeds.
    error: Option<String>,
}

fn dead_letter(
    batch: &PartitionBatch,
    record: &modeshare_kafka::Record<'_>,
    payload: Vec<u8>,
    e: &DecodeError<'_>,
) -> DeadLetter {
    DeadLetter {
        key: record.key.map(<[u8]>::to_vec),
        payload,
        reason: e.reason(),
        message: e.message.clone(),
        topic: batch.topic.to_string(),
        partition: batch.partition,
        offset: record.offset,
        operator: None,
    }
}
