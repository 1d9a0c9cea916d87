//! `modeshare run`: the live service.
//!
//! ```text
//!  source task ──(bounded channel of batches)──▶ pipeline task ──(watch: latest snapshot)──▶ HTTP
//!  simulator or files                            decode → bin → windows                       /metrics, /api/*
//! ```
//! On SIGINT/SIGTERM: the source stops, the pipeline drains the channel and publishes a final
//! snapshot, then the HTTP server finishes in-flight requests and stops.

use std::sync::Arc;
use std::time::Duration;

use modeshare_core::decode::DecodeError;
use modeshare_core::pipeline::Pipeline;
use modeshare_core::time::{DurationMs, EventTimeMs};
use modeshare_core::window::combined_watermark;
use modeshare_http::snapshot::Snapshot;
use modeshare_http::{metrics, server};
use modeshare_source::simulator::{Simulator, SimulatorSettings};
use modeshare_source::{Input, Line, LineReader};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::cli::{RunArgs, open_inputs};
use crate::config::AppConfig;
use crate::failure::Failure;

/// Batches in flight between the source and the pipeline; `send().await` is the backpressure.
const CHANNEL_BATCHES: usize = 16;
/// Bytes of lines per batch read from files.
const FILE_BATCH_BYTES: usize = 1 << 20;
/// Simulated time per backfill batch.
const BACKFILL_STEP: DurationMs = DurationMs(30 * 60_000);
/// How often a snapshot is published while events flow or time passes.
const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Lines for the pipeline, with the clock they are judged against.
struct Batch {
    input: Arc<str>,
    /// Newline-separated events.
    lines: Vec<u8>,
    /// The clock for the "at most 1 h ahead" check: wall time, or simulated time for the
    /// simulator (which may run faster than real time).
    now: EventTimeMs,
    /// Events over `input.max_line_bytes`, with their length, counted as rejected.
    too_long: Vec<u64>,
}

/// The wall clock in epoch ms; the only clock the service reads.
pub fn wall_clock() -> EventTimeMs {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    EventTimeMs(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
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
    let (snapshots, latest) = watch::channel(Arc::new(Snapshot::default()));
    let registry = metrics::registry(latest.clone()).map_err(|e| Failure::Input(e.into()))?;
    let http_shutdown = CancellationToken::new();
    let http = tokio::spawn(server::serve(
        listener,
        latest,
        registry,
        http_shutdown.clone(),
    ));
    info!(%address, "serving /metrics, /healthz, /api/zones and /api/report on http://{address}");

    let (batches, received) = mpsc::channel(CHANNEL_BATCHES);
    let max_line = config.input.max_line_bytes;
    let source = if inputs.is_empty() {
        info!(
            seed = config.simulator.seed,
            speed = config.simulator.speed,
            backfill = %config.simulator.backfill,
            "no inputs given: running the built-in Bærum simulator"
        );
        tokio::spawn(simulate(
            config.simulator.clone(),
            batches,
            shutdown.clone(),
        ))
    } else {
        tokio::spawn(read_files(inputs, max_line, batches, shutdown.clone()))
    };
    let pipeline = tokio::spawn(aggregate(config, received, snapshots));

    let source_result = source.await;
    let pipeline_result = pipeline.await;
    http_shutdown.cancel();
    let http_result = http.await;
    match source_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Failure::Input(e.into())),
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
    batches: mpsc::Sender<Batch>,
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
            let batch = Batch {
                input: input.clone(),
                lines,
                now: sim_now(),
                too_long: Vec::new(),
            };
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
    batches: mpsc::Sender<Batch>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    for input in inputs {
        let name: Arc<str> = Arc::from(input.name.as_str());
        let (tx, mut rx) = mpsc::channel::<std::io::Result<Batch>>(2);
        let reader_name = name.clone();
        // Files are read on a blocking thread; batches cross back through a small channel.
        let reader = tokio::task::spawn_blocking(move || {
            let mut lines = LineReader::new(input.reader, max_line);
            let mut batch = Batch {
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
                    let next = Batch {
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
            if batches.send(batch).await.is_err() {
                return Ok(());
            }
        }
        let _ = reader.await;
        info!(input = %name, "input read to the end; still serving");
    }
    shutdown.cancelled().await;
    Ok(())
}

/// Owns the partition state: applies batches, publishes snapshots, drains on shutdown.
async fn aggregate(
    config: AppConfig,
    mut received: mpsc::Receiver<Batch>,
    snapshots: watch::Sender<Arc<Snapshot>>,
) {
    let max_line = config.input.max_line_bytes;
    let idle_timeout = config.settings.windows.idle_timeout;
    let mut pipeline = Pipeline::live(config.settings, config.zones);
    let mut last_event_at = wall_clock().0;
    let mut tick = tokio::time::interval(PUBLISH_EVERY);
    let mut dirty = true;
    let publish = |pipeline: &Pipeline, last_event_at: i64| {
        let watermark = combined_watermark(
            &[pipeline.clock(last_event_at)],
            wall_clock().0,
            idle_timeout,
        );
        let _ = snapshots.send(Arc::new(Snapshot::build(&[pipeline], watermark)));
    };
    loop {
        tokio::select! {
            biased;
            batch = received.recv() => match batch {
                Some(batch) => {
                    observe_batch(&mut pipeline, &batch, max_line);
                    last_event_at = wall_clock().0;
                    dirty = true;
                }
                // The source stopped and everything sent has been applied.
                None => break,
            },
            _ = tick.tick() => if dirty {
                publish(&pipeline, last_event_at);
                dirty = false;
            },
        }
    }
    publish(&pipeline, last_event_at);
    let e = pipeline.totals().events;
    info!(
        read = e.read,
        accepted = e.accepted,
        rejected = e.rejected,
        duplicates = e.duplicates,
        late = e.late,
        "pipeline drained"
    );
}

fn observe_batch(pipeline: &mut Pipeline, batch: &Batch, max_line: usize) {
    for line in batch.lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        pipeline.observe_line(line, &batch.input, Some(batch.now));
    }
    for len in &batch.too_long {
        let e = DecodeError::line_too_long(*len, max_line);
        pipeline.observe_rejection(&e, &batch.input);
    }
}
