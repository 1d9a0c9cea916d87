//! The service's link to Kafka: the consumer, the dead-letter producer and the partition
//! checkpoints. Rejections are dead-lettered and delivered before their offsets are stored;
//! offsets are committed only after the checkpoint that covers them is durable.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use modeshare_core::decode::{DecodeError, FormatDecoder};
use modeshare_core::pipeline::Outcome;
use modeshare_kafka::{DeadLetter, DeadLetters, KafkaSettings, KafkaSource, PartitionBatch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::partitions::{PartitionKey, PartitionOffsets, PartitionState};
use crate::clock::wall_clock;
use crate::config::AppConfig;
use crate::failure::Failure;
use crate::partition_checkpoints::PartitionCheckpoints;
use crate::state_dir::StateDir;
/// The Kafka consumer, dead-letter producer and partition checkpoints of a service.
pub(super) struct KafkaLink {
    pub(super) source: Arc<KafkaSource>,
    pub(super) dead_letters: DeadLetters,
    pub(super) checkpoints: Arc<PartitionCheckpoints>,
}

pub(super) async fn connect_kafka(
    settings: &KafkaSettings,
    config: &AppConfig,
    shutdown: &CancellationToken,
) -> Result<KafkaLink, Failure> {
    let fail = |e: modeshare_kafka::KafkaError| Failure::Usage(anyhow::anyhow!("kafka: {e}"));
    let checkpoints = Arc::new(PartitionCheckpoints::new(
        StateDir::new(&config.state.dir),
        &settings.group_id,
        config.settings.clone(),
        config.zones.clone(),
        config.state.on_bad_checkpoint,
    ));
    info!(
        dir = %config.state.dir.display(),
        interval = ?config.state.interval,
        "checkpointing each partition's state"
    );
    let source = Arc::new(KafkaSource::connect(settings, checkpoints.clone()).map_err(fail)?);
    let dead_letters = DeadLetters::connect(settings).map_err(fail)?;
    // The broker may be away now: create the dead-letter topic in the background, retrying;
    // until it exists, dead-letter deliveries retry too and their offsets wait.
    let settings = settings.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(15),
                DeadLetters::ensure_topic(&settings, 1),
            );
            match attempt.await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => {
                    warn!(error = %e, topic = %settings.dead_letter_topic, "cannot check the dead-letter topic yet")
                }
                Err(_) => {
                    warn!(topic = %settings.dead_letter_topic, "no broker answered about the dead-letter topic yet")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    });
    Ok(KafkaLink {
        source,
        dead_letters,
        checkpoints,
    })
}

/// How checkpoint writes have gone, for `/healthz` and `/metrics`.
#[derive(Debug, Default)]
pub(super) struct CheckpointHealth {
    pub(super) failures: u64,
    /// The latest failure, until a round of writes succeeds.
    pub(super) error: Option<String>,
}

/// Checkpoints the Kafka partitions among `keys` that have anything new, then commits their
/// offsets (waiting for the broker when `wait`). A failed write is logged and counted, and
/// leaves the partition's previous checkpoint and commit in place.
pub(super) async fn checkpoint_partitions(
    partitions: &mut BTreeMap<PartitionKey, PartitionState>,
    keys: &[PartitionKey],
    kafka: &KafkaLink,
    wait: bool,
    health: &mut CheckpointHealth,
) {
    let mut failed = None;
    let mut committed = Vec::new();
    for key in keys {
        let Some(state) = partitions.get_mut(key) else {
            continue;
        };
        let Some(next) = state
            .offsets
            .as_ref()
            .and_then(PartitionOffsets::to_checkpoint)
        else {
            continue;
        };
        let bytes = kafka.checkpoints.encode(&state.pipeline, next);
        let (checkpoints, topic, partition) = (kafka.checkpoints.clone(), key.0.clone(), key.1);
        let written =
            tokio::task::spawn_blocking(move || checkpoints.write(&topic, partition, &bytes)).await;
        match written {
            Ok(Ok(path)) => {
                debug!(file = %path.display(), next_offset = next, "checkpoint written");
                if let Some(offsets) = state.offsets.as_mut() {
                    offsets.checkpointed = Some(next);
                    offsets.unsaved = 0;
                }
                committed.push((key.0.clone(), key.1, next));
            }
            Ok(Err(e)) => {
                let file = kafka.checkpoints.path(&key.0, key.1);
                error!(
                    topic = %key.0, partition = key.1, file = %file.display(), error = %e,
                    "cannot write the checkpoint; the previous one stands and its offset stays committed"
                );
                failed = Some(format!("cannot write {}: {e}", file.display()));
                health.failures += 1;
            }
            Err(e) => {
                error!(error = %e, "the checkpoint writer failed");
                failed = Some(format!("the checkpoint writer failed: {e}"));
                health.failures += 1;
            }
        }
    }
    if failed.is_some() || !committed.is_empty() {
        health.error = failed;
    }
    let offsets: Vec<(&str, i32, i64)> = committed
        .iter()
        .map(|(topic, partition, next)| (&**topic, *partition, *next))
        .collect();
    // A refused commit (a rebalance in progress) is harmless: the checkpoint is the truth, and
    // the next commit catches up.
    if let Err(e) = kafka.source.commit(&offsets, wait) {
        debug!(error = %e, "cannot commit the checkpointed offsets now");
    }
}

fn dead_letter(
    batch: &PartitionBatch,
    record: &modeshare_kafka::Record,
    payload: Vec<u8>,
    e: &DecodeError<'_>,
) -> DeadLetter {
    DeadLetter {
        key: record.key.clone(),
        payload,
        reason: e.reason(),
        message: e.message.clone(),
        topic: batch.topic.to_string(),
        partition: batch.partition,
        offset: record.offset,
    }
}

/// Applies a partition's records not yet in its state, dead-letters the rejected ones and waits
/// for their delivery, then stores (for the lag statistics) the offset of the last record
/// whose outcome is complete.
pub(super) async fn observe_records(
    state: &mut PartitionState,
    batch: &PartitionBatch,
    decoder: &FormatDecoder,
    kafka: &KafkaLink,
    max_line: usize,
    shutdown: &CancellationToken,
) {
    let now = wall_clock();
    let mut letters = Vec::new();
    let offsets = state.offsets.get_or_insert_with(PartitionOffsets::default);
    // A batch is in offset order: the records already in the state come first.
    let first_new = offsets.next.unwrap_or(i64::MIN);
    let records = &batch.records[batch.records.partition_point(|r| r.offset < first_new)..];
    let Some(last) = records.last() else {
        debug!(topic = %batch.topic, partition = batch.partition, records = batch.records.len(), "records already in the restored state; skipped");
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
            letters.push(dead_letter(batch, record, record.payload.clone(), &e));
            continue;
        }
        let pipeline = &mut state.pipeline;
        decoder.decode_record(&record.payload, Some(now), &mut |raw, decoded| {
            if let Some(Outcome::Rejected(e)) =
                pipeline.observe_decoded(decoded, &batch.topic, Some(now))
            {
                // A rejected trip of a page, or row of a table, is dead-lettered on its own.
                let payload = if raw.is_empty() {
                    record.payload.clone()
                } else {
                    raw.into_owned()
                };
                letters.push(dead_letter(batch, record, payload, &e));
            }
        });
    }
    state.last_event_at = now.0;
    let delivered = kafka.dead_letters.deliver(&letters, shutdown).await;
    let done_until = match letters.get(delivered) {
        Some(first_undelivered) => {
            if let Some(offsets) = state.offsets.as_mut() {
                offsets.undelivered = true;
            }
            first_undelivered.offset - 1
        }
        None => last.offset,
    };
    if done_until >= records.first().map_or(0, |r| r.offset)
        && let Err(e) = kafka
            .source
            .store(&batch.topic, batch.partition, done_until)
    {
        debug!(error = %e, topic = %batch.topic, partition = batch.partition, "cannot store the offset for the lag statistics");
    }
}
