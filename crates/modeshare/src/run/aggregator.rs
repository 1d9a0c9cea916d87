//! The pipeline task: the state of every input partition this instance owns.
//!
//! [`aggregate`] is one `select!` loop that only dispatches, each event to a named step of
//! [`Aggregator`]:
//!
//! | event | step |
//! |---|---|
//! | shutdown | leave the loop |
//! | the publish tick (`http.publish_interval`) | [`publish`](Aggregator::publish) |
//! | the checkpoint tick (`[state] interval`, Kafka or the spool) | [`checkpoint`](Aggregator::checkpoint), then [`publish_parts`](Aggregator::publish_parts) from the same save when the state is saved every whole number of view intervals (the view tick starts over) |
//! | the view tick (`[view] interval`, Kafka) | [`publish_parts`](Aggregator::publish_parts) |
//! | a batch of lines (files, the simulator) | [`on_lines`](Aggregator::on_lines) |
//! | batches of Kafka partitions' records (all that wait in the channel) | [`on_batches`](Aggregator::on_batches), the partitions on [`Workers`] |
//! | a batch of the ingest spool's lines | [`on_spool`](Aggregator::on_spool) |
//! | partitions revoked | [`on_revoked`](Aggregator::on_revoked) |
//! | partitions assigned | [`on_assigned`](Aggregator::on_assigned) |
//! | the source closed the channel | leave the loop |
//!
//! (the source's messages through [`on_message`](Aggregator::on_message), which the drain uses
//! too).
//!
//! After the loop, in this order: [`drain`](Aggregator::drain) applies what the source sent
//! before it stopped, [`final_checkpoint`](Aggregator::final_checkpoint) checkpoints every
//! Kafka partition and then commits their offsets (and checkpoints the spool's), and
//! [`publish_last`](Aggregator::publish_last) publishes the final state.

use std::collections::BTreeMap;
use std::sync::Arc;

use modeshare_core::decode::DecodeError;
use modeshare_core::pipeline::Pipeline;
use modeshare_http::health::Health;
use modeshare_kafka::PartitionBatch;
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace};

use super::kafka_link::{KafkaLink, PartStates};
use super::partitions::{
    PartitionKey, PartitionState, Partitions, local_partition, spool_partition,
};
use super::publishing::{Others, Publisher};
use super::sources::{LineBatch, Message, SpoolBatch};
use super::spool_link::SpoolLink;
use super::view_link::{PartToWrite, ViewLink};
use super::workers::{Work, Workers};
use crate::clock::wall_clock;
use crate::config::AppConfig;
use crate::shared_view::{self, HEARTBEAT_INTERVALS, Part, PartHeader};

/// What the pipeline task reports back to: the Kafka group (offsets, dead letters) or the
/// ingest spool (with the state restored for it), or neither for files and the simulator.
pub(super) struct Links {
    pub kafka: Option<KafkaLink>,
    pub spool: Option<(SpoolLink, PartitionState)>,
    /// The view the instances of the Kafka group share, when `[view] interval` is not off.
    pub view: Option<ViewLink>,
}

/// Runs the pipeline task until the source stops: applies batches, dead-letters rejections,
/// stores offsets, publishes snapshots, checkpoints, drains on shutdown.
pub(super) async fn aggregate(
    config: AppConfig,
    mut received: mpsc::Receiver<Message>,
    publisher: Publisher,
    Links { kafka, spool, view }: Links,
    health: Arc<Health>,
    shutdown: CancellationToken,
    give_up: CancellationToken,
) {
    let mut publish_tick = ticks(config.publish_interval);
    let mut checkpoint_tick = ticks(config.state.interval);
    let mut view_tick = ticks(config.view_interval.unwrap_or(config.state.interval));
    let shared = view.is_some();
    // The parts due at a checkpoint tick are written with it, from the same save of the state,
    // and the view tick starts over: as many writes as before, one save fewer, when the state
    // is saved every whole number of view intervals (else restarting the view tick would add
    // rounds, and each write is a request to the store).
    let parts_with_checkpoints = shared
        && config.view_interval.is_some_and(|view| {
            let (view, state) = (view.as_millis(), config.state.interval.as_millis());
            view > 0 && state % view == 0
        });
    let checkpoints = kafka.is_some() || spool.is_some();
    let mut partitions = Partitions::new();
    let spool = spool.map(|(link, restored)| {
        partitions.insert(spool_partition(), restored);
        link
    });
    let workers = Workers::new(config.threads);
    if kafka.is_some() {
        info!(
            threads = workers.threads(),
            "Kafka partitions are applied on up to this many threads"
        );
    }
    let mut aggregator = Aggregator {
        partitions,
        publisher,
        kafka,
        spool,
        view,
        owner: crate::checkpoint_claim::this_instance(),
        published: BTreeMap::new(),
        workers,
        health,
        give_up,
        config,
    };
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            // Ticks before data: with `biased`, a channel that always holds a batch (a backlog,
            // a back-fill) would otherwise hold back publishing and checkpoints.
            _ = publish_tick.tick() => aggregator.publish(),
            _ = checkpoint_tick.tick(), if checkpoints => {
                let part_states = aggregator.checkpoint(parts_with_checkpoints).await;
                if parts_with_checkpoints && aggregator.publish_parts(part_states) {
                    view_tick.reset();
                }
            }
            _ = view_tick.tick(), if shared => {
                aggregator.publish_parts(PartStates::new());
            }
            message = received.recv() => match message {
                Some(message) => aggregator.on_message(message, &mut received).await,
                // The source stopped on its own and everything it sent has been applied.
                None => break,
            },
        }
    }
    aggregator.drain(&mut received).await;
    let part_states = aggregator.final_checkpoint().await;
    aggregator.publish_final_parts(part_states).await;
    aggregator.publish_last();
}

/// Kafka batches applied together at most: more than the channel holds, so all that wait.
const GATHERED_BATCHES: usize = 64;

/// How long a revocation waits for the view's write round in flight before writing the
/// revoked partitions' final parts: a conditional write takes milliseconds, a store that
/// retries can take minutes, and the rebalance waits on this.
const FINAL_PARTS_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A tick every `period`, the first at once; a late tick is not made up for.
fn ticks(period: std::time::Duration) -> Interval {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticks
}

/// The pipeline task's state: every owned partition's, and where it goes.
struct Aggregator {
    config: AppConfig,
    partitions: Partitions,
    publisher: Publisher,
    kafka: Option<KafkaLink>,
    /// The ingest spool, when operators push without Kafka.
    spool: Option<SpoolLink>,
    /// The view the group's instances share.
    view: Option<ViewLink>,
    /// This instance's name in the shared view.
    owner: String,
    /// The header of each partition's part as last written (its claim, when, of which state).
    published: BTreeMap<PartitionKey, PartHeader>,
    /// The threads Kafka partitions' records are applied on.
    workers: Workers,
    /// Publishes and checkpoints, for the health endpoints.
    health: Arc<Health>,
    /// Cuts short waits on the brokers (dead-letter deliveries, the final commit) late in a
    /// stop.
    give_up: CancellationToken,
}

impl Aggregator {
    /// A source's message, to its step: batches of data, or the group's rebalance notices
    /// (which arrive after the records fetched before them). A Kafka batch takes with it the
    /// Kafka batches waiting behind it in the channel, to be applied together.
    async fn on_message(&mut self, message: Message, received: &mut mpsc::Receiver<Message>) {
        let mut next = Some(message);
        while let Some(message) = next.take() {
            match message {
                Message::Lines(batch) => self.on_lines(&batch),
                Message::Kafka(first) => {
                    let mut batches = vec![first];
                    while batches.len() < GATHERED_BATCHES {
                        match received.try_recv() {
                            Ok(Message::Kafka(batch)) => batches.push(batch),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.on_batches(&batches);
                }
                Message::Spool(batch) => self.on_spool(batch),
                Message::Revoked(revoked) => self.on_revoked(&revoked).await,
                Message::Assigned(assigned) => self.on_assigned(assigned),
            }
        }
    }

    /// Lines from files or the simulator, into the one local partition.
    fn on_lines(&mut self, batch: &LineBatch) {
        let config = &self.config;
        let state = self
            .partitions
            .entry(local_partition())
            .or_insert_with(|| PartitionState::new(config));
        observe_lines(&mut state.pipeline, batch, config.input.max_line_bytes);
        state.last_event_at = wall_clock().0;
        self.publisher.state_changed();
    }

    /// Durable lines of the ingest spool, into its partition, which then reaches `batch.next`.
    fn on_spool(&mut self, batch: SpoolBatch) {
        let config = &self.config;
        let state = self
            .partitions
            .entry(spool_partition())
            .or_insert_with(|| PartitionState::from_beginning(config));
        let lines = LineBatch {
            input: spool_partition().0,
            lines: batch.lines,
            now: wall_clock(),
            too_long: Vec::new(),
        };
        observe_lines(&mut state.pipeline, &lines, config.input.max_line_bytes);
        if let Some(offsets) = state.offsets.as_mut() {
            offsets.next = Some(i64::try_from(batch.next).unwrap_or(i64::MAX));
            offsets.unsaved += 1;
        }
        state.last_event_at = wall_clock().0;
        self.publisher.state_changed();
    }

    /// Batches of Kafka partitions' records, in the order the source sent them: applied,
    /// rejections queued for the dead-letter topic (see [`KafkaLink::apply`]). Different
    /// partitions on different threads, each partition's batches in order on one.
    fn on_batches(&mut self, batches: &[PartitionBatch]) {
        let Some(kafka) = &self.kafka else {
            return;
        };
        let mut by_partition: BTreeMap<PartitionKey, Vec<&PartitionBatch>> = BTreeMap::new();
        for batch in batches {
            by_partition
                .entry((batch.topic.clone(), batch.partition))
                .or_default()
                .push(batch);
        }
        let mut work = Vec::with_capacity(by_partition.len());
        for (key, state) in &mut self.partitions {
            if let Some(batches) = by_partition.remove(key) {
                let weight = batches.iter().map(|b| b.len()).sum();
                work.push(Work {
                    state,
                    batches,
                    weight,
                });
            }
        }
        for ((topic, partition), left) in by_partition {
            // Fetched before the partition was revoked: its new owner reads them.
            let records: usize = left.iter().map(|b| b.len()).sum();
            debug!(%topic, partition, records, "records of a partition this instance no longer owns; left to its owner");
        }
        let max_line = self.config.input.max_line_bytes;
        let partitions = work.len();
        let threads = self
            .workers
            .apply(work, |state, batch| kafka.apply(state, batch, max_line));
        trace!(
            batches = batches.len(),
            partitions, threads, "Kafka batches applied"
        );
        self.publisher.state_changed();
    }

    /// Kafka took these partitions away: their state is checkpointed (and its offsets
    /// committed), written to the view as their final parts and handed to the view link, which
    /// shows it until those parts (or a new owner's) are read back. Records of theirs still in
    /// the channel are left to the new owner.
    async fn on_revoked(&mut self, revoked: &[(String, i32)]) {
        let keys: Vec<PartitionKey> = revoked
            .iter()
            .map(|(topic, partition)| (Arc::from(topic.as_str()), *partition))
            .collect();
        let mut part_states = PartStates::new();
        if let Some(kafka) = &mut self.kafka {
            let states = self.view.as_ref().map(|_| &mut part_states);
            kafka
                .checkpoint(&mut self.partitions, &keys, states, None)
                .await;
        }
        // Their last numbers, for the view until their new owner publishes its own: written
        // once the round in flight is (a busy round skips this one; if it is still busy after
        // FINAL_PARTS_WAIT, they are shown as of their last write until the new owner's parts
        // are read), and shown from their state until a read brings them back.
        if let Some(view) = &mut self.view {
            view.written(&self.give_up, Some(FINAL_PARTS_WAIT)).await;
        }
        self.publish_parts(part_states);
        for key in &keys {
            let Some(state) = self.partitions.remove(key) else {
                continue;
            };
            if let (Some(view), Some(header)) = (&mut self.view, self.published.get(key)) {
                view.depart(Part {
                    header: PartHeader {
                        last_event_at: state.last_event_at,
                        ..header.clone()
                    },
                    pipeline: state.pipeline,
                });
            }
        }
        self.hold_own_parts();
        self.publisher.state_changed();
    }

    /// Tells the view's reads which parts are this instance's, of the partitions it holds:
    /// they show those partitions' live state, and need not read them back.
    fn hold_own_parts(&mut self) {
        let (Some(view), Some(kafka)) = (&mut self.view, &self.kafka) else {
            return;
        };
        view.hold(self.partitions.keys().filter_map(|(topic, partition)| {
            let generation = kafka.generation(topic, *partition)?;
            Some((&**topic, *partition, generation))
        }));
    }

    /// These partitions are ours, each with the state its checkpoint restored inside the
    /// rebalance (read on from the offset the checkpoint ends at), or empty from the beginning.
    fn on_assigned(&mut self, assigned: Vec<(String, i32)>) {
        let keys: Vec<PartitionKey> = assigned
            .iter()
            .map(|(topic, partition)| (Arc::from(topic.as_str()), *partition))
            .collect();
        for (topic, partition) in assigned {
            let restored = self
                .kafka
                .as_ref()
                .and_then(|k| k.restored(&topic, partition));
            let state = match restored {
                Some(restored) => PartitionState::restored(restored),
                None => PartitionState::from_beginning(&self.config),
            };
            self.partitions
                .insert((Arc::from(topic.as_str()), partition), state);
        }
        if let Some(kafka) = &self.kafka {
            kafka.assignment_taken(&keys);
        }
        self.hold_own_parts();
        self.publisher.state_changed();
    }

    /// The publish tick: a snapshot when there is anything new — from Kafka at every tick, as
    /// the brokers' status changes on its own, but once a second at most during a backlog.
    /// Either way the pipeline task is alive, which the health endpoints hear.
    fn publish(&mut self) {
        if self.publisher.due() || self.kafka.is_some() {
            let kafka = self.broker_status();
            let parts = self.view.as_mut().map(ViewLink::parts);
            let others = parts.as_ref().map(|parts| Others {
                parts,
                owner: &self.owner,
            });
            self.publisher
                .publish(&self.config, &self.partitions, kafka, others);
        }
        self.health.published();
    }

    /// The view tick: this instance's part of each Kafka partition it has claimed, written
    /// for the other instances and `modeshare serve` when it changed since it was last
    /// written, or to say the owner is still there; a part whose state was just saved with its
    /// checkpoint (in `part_states`, no record applied since) takes it. Whether it looked (not
    /// while the previous round of writes is still going).
    fn publish_parts(&mut self, mut part_states: PartStates) -> bool {
        let (Some(view), Some(kafka)) = (&mut self.view, &self.kafka) else {
            return false;
        };
        if view.busy() {
            return false;
        }
        let now = wall_clock().0;
        let heartbeat = self
            .config
            .view_interval
            .map_or(i64::MAX, |i| (i * HEARTBEAT_INTERVALS).as_millis() as i64);
        let mut parts = Vec::new();
        for (key, state) in &self.partitions {
            let Some(generation) = kafka.generation(&key.0, key.1) else {
                continue;
            };
            let last = self.published.get(key);
            let first = last.is_none_or(|p| p.generation != generation);
            let due = first
                || last.is_some_and(|p| {
                    p.last_event_at != state.last_event_at || now - p.published_at >= heartbeat
                });
            if !due {
                continue;
            }
            let header = PartHeader {
                topic: key.0.to_string(),
                partition: key.1,
                topic_partitions: kafka.health().topic_partitions(&key.0),
                generation,
                owner: self.owner.clone(),
                published_at: now,
                last_event_at: state.last_event_at,
            };
            parts.push(PartToWrite {
                topic: key.0.to_string(),
                partition: key.1,
                generation,
                bytes: match part_states.remove(key) {
                    Some(saved) => shared_view::part_with_state(&header, &saved),
                    None => view.view().encode(&header, &state.pipeline),
                },
                first,
            });
            self.published.insert(key.clone(), header);
        }
        if !parts.is_empty() {
            view.write(parts);
        }
        true
    }

    /// At a stop: the final state's parts, written before the process ends (those of the final
    /// checkpoint from the states it saved).
    async fn publish_final_parts(&mut self, part_states: PartStates) {
        if let Some(view) = &mut self.view {
            view.written(&self.give_up, None).await;
        }
        self.publish_parts(part_states);
        if let Some(view) = &mut self.view {
            view.written(&self.give_up, None).await;
        }
    }

    /// The checkpoint tick: every Kafka partition with anything new is checkpointed, then its
    /// offset committed in the background; the spool's partition is checkpointed, then the
    /// spool trimmed. With `with_part_states`, the states of the partitions' view parts saved
    /// with them.
    async fn checkpoint(&mut self, with_part_states: bool) -> PartStates {
        let mut saved = true;
        let mut part_states = PartStates::new();
        if let Some(kafka) = &mut self.kafka {
            let keys: Vec<PartitionKey> = self.partitions.keys().cloned().collect();
            let states = with_part_states.then_some(&mut part_states);
            saved &= kafka
                .checkpoint(&mut self.partitions, &keys, states, None)
                .await;
            if self.partitions.len() < keys.len() {
                // Fenced partitions were dropped: the view's reads take their parts again.
                self.hold_own_parts();
            }
        }
        saved &= self.checkpoint_spool().await;
        if saved {
            self.health.checkpointed();
        }
        part_states
    }

    /// The spool's partition, when there is one: whether its state is saved.
    async fn checkpoint_spool(&mut self) -> bool {
        match (&self.spool, self.partitions.get_mut(&spool_partition())) {
            (Some(spool), Some(state)) => spool.checkpoint(state).await,
            _ => true,
        }
    }

    /// After shutdown: applies what the source sent before it stopped (its last records
    /// included), until it closes the channel.
    async fn drain(&mut self, received: &mut mpsc::Receiver<Message>) {
        while let Some(message) = received.recv().await {
            self.on_message(message, received).await;
        }
    }

    /// Checkpoints every Kafka partition whose dead letters are delivered, then commits their
    /// offsets, waiting for the broker until the stop gives up on it; with a shared view, the
    /// states of their final parts saved with them.
    async fn final_checkpoint(&mut self) -> PartStates {
        self.checkpoint_spool().await;
        let mut part_states = PartStates::new();
        if let Some(kafka) = &mut self.kafka {
            let keys: Vec<PartitionKey> = self.partitions.keys().cloned().collect();
            let give_up = self.give_up.clone();
            kafka.dead_letters_settled(&give_up).await;
            let states = self.view.as_ref().map(|_| &mut part_states);
            kafka
                .checkpoint(&mut self.partitions, &keys, states, Some(&give_up))
                .await;
        }
        part_states
    }

    /// The last snapshot, with the places of the final state; the totals go to the log.
    fn publish_last(mut self) {
        let kafka = self.broker_status();
        let parts = self.view.as_mut().map(ViewLink::parts);
        let others = parts.as_ref().map(|parts| Others {
            parts,
            owner: &self.owner,
        });
        self.publisher
            .publish_last(&self.config, &self.partitions, kafka, others);
        let mut totals = modeshare_core::state::Totals::default();
        for p in self.partitions.values() {
            totals.merge(p.pipeline.totals());
        }
        let e = totals.events;
        info!(
            read = e.read,
            accepted = e.accepted,
            rejected = e.rejected,
            duplicates = e.duplicates,
            late = e.late,
            partitions = self.partitions.len(),
            "pipeline drained"
        );
    }

    fn broker_status(&self) -> Option<modeshare_http::snapshot::BrokerStatus> {
        self.kafka
            .as_ref()
            .map(|k| k.broker_status(&self.partitions))
    }
}

fn observe_lines(pipeline: &mut Pipeline, batch: &LineBatch, max_line: usize) {
    for line in batch.lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        pipeline.observe_line(line, &batch.input, Some(batch.now));
    }
    for len in &batch.too_long {
        let e = DecodeError::line_too_long(*len, max_line);
        pipeline.observe_rejection(&e, &batch.input, Some(batch.now));
    }
}
