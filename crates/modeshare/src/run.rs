//! `modeshare run`: the live service.
//!
//! ```text
//!  source task ──(bounded channel of batches)──▶ pipeline task ──(watch: latest snapshot)──▶ HTTP
//!  Kafka, files or the simulator                 state per input partition                    /metrics, /api/*
//!                                                rejected → dead-letter topic (Kafka)
//! ```
//! On SIGINT/SIGTERM: the source stops, the pipeline drains the channel, checkpoints every
//! Kafka partition and commits, publishes a final snapshot, then the HTTP server finishes
//! in-flight requests and stops.
//!
//! Kafka partitions are checkpointed (see [`crate::partition_checkpoints`]) every
//! `[state] interval`, when revoked and at shutdown; their offsets are committed only after
//! the checkpoint that covers them is durable.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use crate::partition_checkpoints::PartitionCheckpoints;
use crate::state_dir::StateDir;
use modeshare_core::decode::{DecodeError, Format, FormatDecoder};
use modeshare_core::pipeline::{Outcome, Pipeline};
use modeshare_core::state::combined_watermark;
use modeshare_core::vocabulary::{DurationMs, EventTimeMs};
use modeshare_http::snapshot::{BrokerStatus, Places, Snapshot};
use modeshare_http::{metrics, server};
use modeshare_kafka::{
    DeadLetter, DeadLetters, KafkaSettings, KafkaSource, PartitionBatch, SourceEvent,
};
use modeshare_source::simulator::{Simulator, SimulatorSettings};
use modeshare_source::{Input, Line, LineReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::cli::{RunArgs, open_inputs};
use crate::clock::wall_clock;
use crate::config::AppConfig;
use crate::failure::Failure;

/// Batches in flight between the source and the pipeline; `send().await` is the backpressure.
const CHANNEL_BATCHES: usize = 16;

/// How often the places (the hex map's cells, the zone pairs) are summed again while the
/// state changes: summing 28 days of buckets costs more than the rest of a snapshot.
const PLACES_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// When the published places were summed, and whether the state changed since.
#[derive(Default)]
struct PlacesCadence {
    latest: Option<Arc<Places>>,
    summed_at: Option<tokio::time::Instant>,
    stale: bool,
}

impl PlacesCadence {
    /// The places to publish: summed again (by `sum`) when there are none yet, or when the state
    /// changed since and the last sum is `PLACES_REFRESH` old; else the last ones.
    fn current(&mut self, sum: impl FnOnce() -> Places) -> Arc<Places> {
        let due = self
            .summed_at
            .is_none_or(|at| at.elapsed() >= PLACES_REFRESH);
        match &self.latest {
            Some(latest) if !(self.stale && due) => latest.clone(),
            _ => {
                let fresh = Arc::new(sum());
                self.latest = Some(fresh.clone());
                self.summed_at = Some(tokio::time::Instant::now());
                self.stale = false;
                fresh
            }
        }
    }
}
/// Bytes of lines per batch read from files.
const FILE_BATCH_BYTES: usize = 1 << 20;
/// Simulated time per backfill batch.
const BACKFILL_STEP: DurationMs = DurationMs(30 * 60_000);

/// An input partition: a Kafka topic partition, or `("local", 0)` for files and the simulator.
type PartitionKey = (Arc<str>, i32);

/// What a source sends the pipeline task, in order.
enum Message {
    Lines(LineBatch),
    Kafka(PartitionBatch),
    /// Kafka took these partitions away: their state is checkpointed and dropped.
    Revoked(Vec<(String, i32)>),
    /// These partitions are ours, with the state their checkpoints restored.
    Assigned(Vec<(String, i32)>),
}

/// Lines from files or the simulator, with the clock they are judged against.
struct LineBatch {
    input: Arc<str>,
    /// Newline-separated events.
    lines: Vec<u8>,
    /// The clock for the "at most 1 h ahead" check: wall time, or simulated time for the
    /// simulator (which may run faster than real time).
    now: EventTimeMs,
    /// Events over `input.max_line_bytes`, with their length, counted as rejected.
    too_long: Vec<u64>,
}

impl From<SourceEvent> for Message {
    fn from(event: SourceEvent) -> Message {
        match event {
            SourceEvent::Records(batch) => Message::Kafka(batch),
            SourceEvent::Revoked(list) => Message::Revoked(list),
            SourceEvent::Assigned(list) => Message::Assigned(list),
        }
    }
}

fn local_partition() -> PartitionKey {
    (Arc::from("local"), 0)
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let config = args.common.load_config()?;
    let inputs = open_inputs(&args.inputs)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Input(e.into()))?;
    runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone()));
        serve(config, inputs, shutdown).await
    })
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM; stop with Ctrl-C");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT received, stopping"),
        _ = terminate => info!("SIGTERM received, stopping"),
    }
    shutdown.cancel();
}

/// Runs the service until `shutdown` is cancelled. The entry point tests can drive directly.
pub async fn serve(
    config: AppConfig,
    inputs: Vec<Input>,
    shutdown: CancellationToken,
) -> Result<(), Failure> {
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| Failure::Usage(anyhow::anyhow!("cannot listen on {}: {e}", config.listen)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::Input(e.into()))?;
    // Until the first publish: no events yet, but the goals and windows are known.
    let empty = Snapshot::build(&config.settings, &config.zones, &[], None);
    let (snapshots, latest) = watch::channel(Arc::new(empty));
    let registry = metrics::registry(latest.clone()).map_err(|e| Failure::Input(e.into()))?;
    let http_shutdown = CancellationToken::new();
    let api = server::ApiSettings {
        k: config.privacy_k,
    };
    let http = tokio::spawn(server::serve(
        listener,
        latest,
        registry,
        api,
        http_shutdown.clone(),
    ));
    info!(%address, "serving /metrics, /healthz and /api/* on http://{address}");

    let (batches, received) = mpsc::channel::<Message>(CHANNEL_BATCHES);
    let max_line = config.input.max_line_bytes;
    let mut kafka = None;
    let source = if let Some(settings) = &config.kafka {
        let connected = connect_kafka(settings, &config, &shutdown).await?;
        let source = connected.source.clone();
        kafka = Some(connected);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            source.run(batches, stop).await.map_err(|refused| {
                Failure::Usage(anyhow::anyhow!(
                    "partitions refused:\n  {}",
                    refused.join("\n  ")
                ))
            })
        })
    } else if inputs.is_empty() {
        info!(
            seed = config.simulator.seed,
            speed = config.simulator.speed,
            backfill = %config.simulator.backfill,
            "no inputs and no [kafka]: running the built-in Bærum simulator"
        );
        let simulated = simulate(config.simulator.clone(), batches, shutdown.clone());
        tokio::spawn(async move { simulated.await.map_err(|e| Failure::Input(e.into())) })
    } else {
        let read = read_files(inputs, max_line, batches, shutdown.clone());
        tokio::spawn(async move { read.await.map_err(|e| Failure::Input(e.into())) })
    };
    let pipeline = tokio::spawn(aggregate(
        config,
        received,
        snapshots,
        kafka,
        shutdown.clone(),
    ));

    let source_result = source.await;
    let pipeline_result = pipeline.await;
    http_shutdown.cancel();
    let http_result = http.await;
    match source_result {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => return Err(failure),
        Err(e) => return Err(Failure::Input(e.into())),
    }
    pipeline_result.map_err(|e| Failure::Input(e.into()))?;
    match http_result {
        Ok(Ok(())) => {
            info!("stopped");
            Ok(())
        }
        Ok(Err(e)) => Err(Failure::Input(e.into())),
        Err(e) => Err(Failure::Input(e.into())),
    }
}

/// Back-fills the configured history, then follows the (possibly sped-up) clock minute by minute.
async fn simulate(
    settings: SimulatorSettings,
    batches: mpsc::Sender<Message>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let simulator = Simulator::new(settings.clone());
    let input: Arc<str> = Arc::from("simulator");
    let started_wall = wall_clock();
    let started_sim = started_wall;
    let sim_now = || {
        let elapsed = (wall_clock().0 - started_wall.0) as f64 * settings.speed;
        EventTimeMs(started_sim.0 + elapsed as i64)
    };
    let mut cursor = EventTimeMs(
        started_sim
            .saturating_sub(settings.backfill)
            .0
            .div_euclid(60_000)
            * 60_000,
    );
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let target = sim_now();
        let step_end = if target.0 - cursor.0 > BACKFILL_STEP.0 {
            cursor.saturating_add(BACKFILL_STEP)
        } else {
            target
        };
        let mut lines = Vec::new();
        simulator.emit(cursor, step_end, &mut lines);
        cursor = EventTimeMs(step_end.0.div_euclid(60_000) * 60_000);
        if !lines.is_empty() {
            let batch = Message::Lines(LineBatch {
                input: input.clone(),
                lines,
                now: sim_now(),
                too_long: Vec::new(),
            });
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                sent = batches.send(batch) => if sent.is_err() { return Ok(()) },
            }
        }
        if target.0 - cursor.0 <= 60_000 {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {}
            }
        } else if shutdown.is_cancelled() {
            return Ok(());
        }
    }
}

/// Reads every input once, in batches; the service keeps serving afterwards.
async fn read_files(
    inputs: Vec<Input>,
    max_line: usize,
    batches: mpsc::Sender<Message>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    for input in inputs {
        let name: Arc<str> = Arc::from(input.name.as_str());
        let (tx, mut rx) = mpsc::channel::<std::io::Result<LineBatch>>(2);
        let reader_name = name.clone();
        // Files are read on a blocking thread; batches cross back through a small channel.
        let reader = tokio::task::spawn_blocking(move || {
            let mut lines = LineReader::new(input.reader, max_line);
            let mut batch = LineBatch {
                input: reader_name.clone(),
                lines: Vec::new(),
                now: wall_clock(),
                too_long: Vec::new(),
            };
            loop {
                match lines.next_line() {
                    Ok(Some(Line::Text(text))) => {
                        batch.lines.extend_from_slice(text);
                        batch.lines.push(b'\n');
                    }
                    Ok(Some(Line::TooLong { len })) => batch.too_long.push(len),
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
                if batch.lines.len() >= FILE_BATCH_BYTES {
                    let next = LineBatch {
                        input: reader_name.clone(),
                        lines: Vec::new(),
                        now: wall_clock(),
                        too_long: Vec::new(),
                    };
                    if tx
                        .blocking_send(Ok(std::mem::replace(&mut batch, next)))
                        .is_err()
                    {
                        return;
                    }
                }
            }
            let _ = tx.blocking_send(Ok(batch));
        });
        loop {
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                next = rx.recv() => next,
            };
            let Some(batch) = next else { break };
            let batch = batch?;
            if batches.send(Message::Lines(batch)).await.is_err() {
                return Ok(());
            }
        }
        let _ = reader.await;
        info!(input = %name, "input read to the end; still serving");
    }
    shutdown.cancelled().await;
    Ok(())
}

/// The Kafka consumer, dead-letter producer and partition checkpoints of a service.
struct KafkaLink {
    source: Arc<KafkaSource>,
    dead_letters: DeadLetters,
    checkpoints: Arc<PartitionCheckpoints>,
}

async fn connect_kafka(
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

/// One input partition's state and when it last received events (processing time).
struct PartitionState {
    pipeline: Pipeline,
    last_event_at: i64,
    /// Kafka partitions only: how far the state reaches and what is checkpointed.
    offsets: Option<PartitionOffsets>,
}

/// A Kafka partition's progress.
#[derive(Debug, Default)]
struct PartitionOffsets {
    /// The next offset to apply; records below it are in the state already. `None` until the
    /// first record of a partition read from its beginning.
    next: Option<i64>,
    /// Where the last durable checkpoint ends.
    checkpointed: Option<i64>,
    /// Records applied since the last durable checkpoint: what a crash would read again.
    unsaved: u64,
    /// A rejection is in the state but its dead letter was not delivered (the service stopped
    /// during an outage): no checkpoint may cover it, so the partition is read again from the
    /// last checkpoint, and the dead letter sent then.
    undelivered: bool,
}

impl PartitionOffsets {
    /// The offset a new checkpoint would end at, when there is anything new to save.
    fn to_checkpoint(&self) -> Option<i64> {
        let next = self.next?;
        (!self.undelivered && self.checkpointed != Some(next)).then_some(next)
    }
}

/// How checkpoint writes have gone, for `/healthz` and `/metrics`.
#[derive(Debug, Default)]
struct CheckpointHealth {
    failures: u64,
    /// The latest failure, until a round of writes succeeds.
    error: Option<String>,
}

/// Checkpoints the Kafka partitions among `keys` that have anything new, then commits their
/// offsets (waiting for the broker when `wait`). A failed write is logged and counted, and
/// leaves the partition's previous checkpoint and commit in place.
async fn checkpoint_partitions(
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

/// Owns the per-partition state: applies batches, dead-letters rejections, stores offsets,
/// publishes snapshots, drains on shutdown.
async fn aggregate(
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

fn observe_lines(pipeline: &mut Pipeline, batch: &LineBatch, max_line: usize) {
    for line in batch.lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        pipeline.observe_line(line, &batch.input, Some(batch.now));
    }
    for len in &batch.too_long {
        let e = DecodeError::line_too_long(*len, max_line);
        pipeline.observe_rejection(&e, &batch.input, Some(batch.now));
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
async fn observe_records(
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
