//! The source task of `modeshare run` — Kafka, the simulator or files — and what every source
//! sends the pipeline task, in order. A source stops when `shutdown` is cancelled, after handing
//! over what it has read, and closes the channel by ending.

use std::sync::Arc;
use std::time::Duration;

use modeshare_core::vocabulary::{DurationMs, EventTimeMs};
use modeshare_kafka::{PartitionBatch, SourceEvent};
use modeshare_source::simulator::{Simulator, SimulatorSettings};
use modeshare_source::{Input, Line, LineReader};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::kafka_link::KafkaLink;
use super::spool_link::SpoolLink;
use crate::clock::wall_clock;
use crate::config::AppConfig;
use crate::failure::Failure;

/// Bytes of lines per batch read from files.
const FILE_BATCH_BYTES: usize = 1 << 20;
/// Simulated time per backfill batch.
const BACKFILL_STEP: DurationMs = DurationMs(30 * 60_000);

/// What a source sends the pipeline task, in order.
pub(super) enum Message {
    Lines(LineBatch),
    Kafka(PartitionBatch),
    /// Lines of the ingest spool.
    Spool(SpoolBatch),
    /// Kafka took these partitions away: their state is checkpointed and dropped.
    Revoked(Vec<(String, i32)>),
    /// These partitions are ours, with the state their checkpoints restored.
    Assigned(Vec<(String, i32)>),
}

/// Lines from files or the simulator, with the clock they are judged against.
pub(super) struct LineBatch {
    pub(super) input: Arc<str>,
    /// Newline-separated events.
    pub(super) lines: Vec<u8>,
    /// The clock for the "at most 1 h ahead" check: wall time, or simulated time for the
    /// simulator (which may run faster than real time).
    pub(super) now: EventTimeMs,
    /// Events over `input.max_line_bytes`, with their length, counted as rejected.
    pub(super) too_long: Vec<u64>,
}

/// Durable lines of the ingest spool, and the spool offset after them.
pub(super) struct SpoolBatch {
    /// Newline-separated canonical events.
    pub(super) lines: Vec<u8>,
    pub(super) next: u64,
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

/// Starts the source task: the Kafka consumer when `[kafka]` is configured, else the ingest
/// spool when operators push, else the simulator when there are no inputs, else the inputs.
pub(super) fn spawn(
    config: &AppConfig,
    inputs: Vec<Input>,
    kafka: Option<&KafkaLink>,
    spool: Option<&SpoolLink>,
    batches: mpsc::Sender<Message>,
    shutdown: &CancellationToken,
) -> JoinHandle<Result<(), Failure>> {
    if let Some(spool) = spool {
        spool.spawn_reader(batches, shutdown.clone())
    } else if let Some(kafka) = kafka {
        let source = kafka.source();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            source
                .run(batches, stop)
                .await
                .map_err(|refused| Failure::State(refused.into()))
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
        let max_line = config.input.max_line_bytes;
        let read = read_files(inputs, max_line, batches, shutdown.clone());
        tokio::spawn(async move { read.await.map_err(|e| Failure::Input(e.into())) })
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
