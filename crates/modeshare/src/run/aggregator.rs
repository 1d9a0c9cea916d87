//! The pipeline task: the state of every input partition, fed by the source's batches and
//! rebalance notices, published and checkpointed on ticks.

use std::collections::BTreeMap;
use std::sync::Arc;

use modeshare_core::decode::{DecodeError, Format, FormatDecoder};
use modeshare_core::pipeline::Pipeline;
use modeshare_core::state::combined_watermark;
use modeshare_http::snapshot::{BrokerStatus, Places, Snapshot};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use super::kafka_link::{CheckpointHealth, KafkaLink, checkpoint_partitions, observe_records};
use super::partitions::{PartitionKey, PartitionOffsets, PartitionState, local_partition};
use super::publishing::PlacesCadence;
use super::sources::{LineBatch, Message};
use crate::clock::wall_clock;
use crate::config::AppConfig;
/// Owns the per-partition state: applies batches, dead-letters rejections, stores offsets,
/// publishes snapshots, drains on shutdown.
pub(super) async fn aggregate(
    config: AppConfig,
    mut received: mpsc::Receiver<Message>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    kafka: Option<KafkaLink>,
    shutdown: CancellationToken,
) {
    let max_line = config.input.max_line_bytes;
    let idle_timeout = config.settings.windows.idle_timeout;
    let mut partitions: BTreeMap<PartitionKey, PartitionState> = BTreeMap::new();
    // Each topic's decoder; a topic not configured (none should reach us) reads canonical.
    let canonical = FormatDecoder::new(
        &Format::Canonical,
        &config.formats,
        &config.settings.factors,
    );
    let decoders: BTreeMap<String, FormatDecoder> = config
        .kafka
        .iter()
        .flat_map(|k| &k.topics)
        .filter_map(|t| {
            let format = Format::parse(&t.format, &config.formats).ok()?;
            let decoder = FormatDecoder::new(&format, &config.formats, &config.settings.factors);
            Some((t.name.clone(), decoder))
        })
        .collect();
    let new_state = || PartitionState {
        pipeline: Pipeline::live(config.settings.clone(), config.zones.clone()),
        last_event_at: wall_clock().0,
        offsets: None,
    };
    let mut tick = tokio::time::interval(config.publish_interval);
    let mut checkpoint_tick = tokio::time::interval(config.state.interval);
    let mut checkpoint_health = CheckpointHealth::default();
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    checkpoint_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut places = PlacesCadence::default();
    let publish = |partitions: &BTreeMap<PartitionKey, PartitionState>,
                   checkpoints: &CheckpointHealth,
                   places: &mut PlacesCadence| {
        let now = wall_clock().0;
        let owned: Vec<&PartitionState> = partitions.values().collect();
        let clocks: Vec<_> = owned
            .iter()
            .map(|p| p.pipeline.clock(p.last_event_at))
            .collect();
        let watermark = combined_watermark(&clocks, now, idle_timeout);
        let pipelines: Vec<&Pipeline> = owned.iter().map(|p| &p.pipeline).collect();
        let places = places.current(|| Places::build(&config.settings, &pipelines, watermark));
        let mut snapshot = Snapshot::build_with_places(
            &config.settings,
            &config.zones,
            &pipelines,
            watermark,
            places,
        );
        if let Some(k) = &kafka {
            let status = k.source.health().status();
            let mut assigned: BTreeMap<String, usize> = BTreeMap::new();
            for (topic, _) in &status.assigned {
                *assigned.entry(topic.clone()).or_default() += 1;
            }
            snapshot.kafka = Some(BrokerStatus {
                connected: status.connected,
                lag: status
                    .lag
                    .into_iter()
                    .map(|((t, p), l)| (t, p, l))
                    .collect(),
                assigned: assigned.into_iter().collect(),
                last_error: status.last_error,
                unsaved: partitions
                    .iter()
                    .filter_map(|((topic, partition), p)| {
                        let unsaved = p.offsets.as_ref()?.unsaved;
                        Some((topic.to_string(), *partition, unsaved))
                    })
                    .collect(),
                checkpoint_failures: checkpoints.failures,
                checkpoint_error: checkpoints.error.clone(),
            });
        }
        let _ = snapshots.send(Arc::new(snapshot));
    };
    loop {
        tokio::select! {
            biased;
            // Timers first: a busy channel must not hold back publishing or checkpoints.
            _ = tick.tick() => if dirty || kafka.is_some() || places.stale {
                places.stale |= dirty;
                publish(&partitions, &checkpoint_health, &mut places);
                dirty = false;
            },
            _ = checkpoint_tick.tick(), if kafka.is_some() => if let Some(k) = &kafka {
                let keys: Vec<PartitionKey> = partitions.keys().cloned().collect();
                checkpoint_partitions(&mut partitions, &keys, k, false, &mut checkpoint_health).await;
            },
            message = received.recv() => match message {
                Some(Message::Lines(batch)) => {
                    let state = partitions.entry(local_partition()).or_insert_with(new_state);
                    observe_lines(&mut state.pipeline, &batch, max_line);
                    state.last_event_at = wall_clock().0;
                    dirty = true;
                }
                Some(Message::Kafka(batch)) => {
                    let key = (batch.topic.clone(), batch.partition);
                    let (Some(state), Some(k)) = (partitions.get_mut(&key), &kafka) else {
                        // Fetched before the partition was revoked: its new owner reads them.
                        debug!(topic = %batch.topic, partition = batch.partition, records = batch.records.len(), "records of a partition this instance no longer owns; left to its owner");
                        continue;
                    };
                    let decoder = decoders.get(&*batch.topic).unwrap_or(&canonical);
                    observe_records(state, &batch, decoder, k, max_line, &shutdown).await;
                    dirty = true;
                }
                Some(Message::Revoked(list)) => {
                    let keys: Vec<PartitionKey> = list
                        .iter()
                        .map(|(topic, partition)| (Arc::from(topic.as_str()), *partition))
                        .collect();
                    if let Some(k) = &kafka {
                        checkpoint_partitions(&mut partitions, &keys, k, false, &mut checkpoint_health).await;
                    }
                    for key in &keys {
                        partitions.remove(key);
                    }
                    dirty = true;
                }
                Some(Message::Assigned(list)) => {
                    for (topic, partition) in list {
                        let restored = kafka.as_ref().and_then(|k| k.checkpoints.take(&topic, partition));
                        let state = match restored {
                            Some(r) => PartitionState {
                                pipeline: r.pipeline,
                                last_event_at: wall_clock().0,
                                offsets: Some(PartitionOffsets {
                                    next: Some(r.next_offset),
                                    checkpointed: Some(r.next_offset),
                                    ..PartitionOffsets::default()
                                }),
                            },
                            None => PartitionState {
                                offsets: Some(PartitionOffsets::default()),
                                ..new_state()
                            },
                        };
                        partitions.insert((Arc::from(topic.as_str()), partition), state);
                    }
                    dirty = true;
                }
                // The source stopped and everything sent has been applied.
                None => break,
            },
        }
    }
    if let Some(k) = &kafka {
        let keys: Vec<PartitionKey> = partitions.keys().cloned().collect();
        checkpoint_partitions(&mut partitions, &keys, k, true, &mut checkpoint_health).await;
    }
    // The last snapshot has the places of the final state.
    places.stale = true;
    places.summed_at = None;
    publish(&partitions, &checkpoint_health, &mut places);
    let mut totals = modeshare_core::state::Totals::default();
    for p in partitions.values() {
        totals.merge(p.pipeline.totals());
    }
    let e = totals.events;
    info!(
        read = e.read,
        accepted = e.accepted,
        rejected = e.rejected,
        duplicates = e.duplicates,
        late = e.late,
        partitions = partitions.len(),
        "pipeline drained"
    );
}

pub(super) fn observe_lines(pipeline: &mut Pipeline, batch: &LineBatch, max_line: usize) {
    for line in batch.lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        pipeline.observe_line(line, &batch.input, Some(batch.now));
    }
    for len in &batch.too_long {
        let e = DecodeError::line_too_long(*len, max_line);
        pipeline.observe_rejection(&e, &batch.input, Some(batch.now));
    }
}
