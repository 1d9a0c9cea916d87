//! `modeshare run`: the live service.
//!
//! ```text
//!  source task ──(bounded channel of batches)──▶ pipeline task ──(watch: latest snapshot)──▶ HTTP
//!  Kafka, files or the simulator                 state per input partition                    /metrics, /api/*
//!                                                rejected → dead-letter topic (Kafka)
//! ```
//!
//! - `sources.rs`: the source task (Kafka, the simulator or files) and what it sends, in order:
//!   batches, and the group's rebalance notices after the records fetched before them.
//! - `aggregator.rs`: the pipeline task, one `select!` loop dispatching to named steps.
//! - `partitions.rs`: one input partition's state and, from Kafka, its offsets.
//! - `kafka_link.rs`: the consumer, dead letters and checkpoints: dead letters are delivered
//!   before their offsets are stored, offsets committed only after the checkpoint that covers
//!   them (see [`crate::partition_checkpoints`]) is durable — every `[state] interval`, when a
//!   partition is revoked and at shutdown.
//! - `publishing.rs`: snapshots for the HTTP server, the places on a slower cadence: this
//!   instance's (for `/metrics`) and, with `[view] interval`, the whole city's (for the rest).
//! - `view_link.rs`: the group's shared view ([`crate::shared_view`]): the other instances'
//!   parts read in the background, this instance's written every `[view] interval`.
//! - `view_only.rs`: `modeshare serve`, the view alone.
//!
//! - `listeners.rs`: the public listener, the admin listener and the operators' ingest
//!   listener, on a runtime of their own.
//! - `ingest.rs`: where pushes go with Kafka (the ingest topic); `spool_link.rs`: without it,
//!   the spool pushes are fsynced to, which the pipeline reads as a partition of its own.
//! - `probe.rs`: what the health endpoints ask of the live service (input waiting, state being
//!   restored, the brokers now).
//!
//! On SIGINT/SIGTERM, in this order: the source stops, the pipeline drains the channel,
//! checkpoints every Kafka partition, then commits their offsets and publishes a final
//! snapshot, and last the HTTP server finishes in-flight requests and stops. The stop is
//! bounded by `run.shutdown_timeout`: waits on the brokers (dead-letter deliveries, the final
//! commit) give up at three quarters of it, and at the end of it the process exits whatever
//! it still waits for; a partition not checkpointed then is read again at the next start, as
//! after a crash.

mod aggregator;
mod dead_letters;
mod ingest;
mod kafka_link;
mod listeners;
mod partitions;
mod probe;
mod publishing;
mod sources;
mod spool_link;
mod view_link;
mod view_only;
mod workers;

pub use view_only::serve_view;

use std::sync::Arc;
use std::time::Duration;

use modeshare_http::health::Health;
use modeshare_http::ingest::EventSink;
use modeshare_http::metrics::Metrics;
use modeshare_http::snapshot::Snapshot;
use modeshare_kafka::{Lease, OwnTopic};
use modeshare_source::Input;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinError;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use self::aggregator::{Links, aggregate};
use self::ingest::KafkaSink;
use self::kafka_link::KafkaLink;
use self::probe::ServiceProbe;
use self::publishing::Publisher;
use self::sources::Message;
use self::spool_link::SpoolLink;
use self::view_link::ViewLink;
use crate::cli::{RunArgs, open_inputs};
use crate::config::AppConfig;
use crate::config::IngestSettings;
use crate::failure::Failure;
use crate::providers::{ControlTopic, CursorStore, Poller, ProviderBoard, poll_while_leased};
use crate::shared_view::SharedView;
use crate::state_dir::StateDir;

/// Batches in flight between the source and the pipeline; `send().await` is the backpressure.
const CHANNEL_BATCHES: usize = 16;

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let config = args.common.load_config()?;
    let inputs = open_inputs(&args.inputs)?;
    listeners::raise_open_files_limit(&config);
    let timeout = config.shutdown_timeout;
    on_runtimes(timeout, |http, shutdown| {
        serve(config, inputs, http, shutdown)
    })
}

/// Runs `service` on the service's runtime until it ends (it stops on `shutdown`, which
/// SIGINT and SIGTERM cancel), with a runtime for the listeners beside it; the stop is
/// bounded by `timeout`.
fn on_runtimes<F>(
    timeout: Duration,
    service: impl FnOnce(tokio::runtime::Handle, CancellationToken) -> F,
) -> Result<(), Failure>
where
    F: Future<Output = Result<(), Failure>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::Internal(e.into()))?;
    // HTTP has threads of its own, so that a flood of requests and the pipeline cannot starve
    // each other.
    let http = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("modeshare-http")
        .enable_all()
        .build()
        .map_err(|e| Failure::Internal(e.into()))?;
    let served = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(cancel_on_signal(shutdown.clone(), timeout));
        service(http.handle().clone(), shutdown).await
    });
    // The listeners have stopped by now; anything left on their runtimes is abandoned.
    http.shutdown_timeout(Duration::from_secs(1));
    runtime.shutdown_timeout(Duration::from_secs(1));
    served
}

/// Ends the process `timeout` after the stop began if it has not ended by then. A plain
/// thread, not a task: what it guards against may hold every worker of the runtime (a client
/// library blocking while it closes). Checkpoints are written atomically, so a partition not
/// checkpointed by then is read again at the next start, as after a crash.
fn exit_after(timeout: Duration) {
    let watchdog = std::thread::Builder::new()
        .name("modeshare-stop".into())
        .spawn(move || {
            std::thread::sleep(timeout);
            error!(
                ?timeout,
                "could not stop within run.shutdown_timeout; exiting anyway: partitions not \
                 checkpointed are read again at the next start"
            );
            std::process::exit(1);
        });
    if let Err(e) = watchdog {
        warn!(error = %e, "cannot bound the stop");
    }
}

async fn cancel_on_signal(shutdown: CancellationToken, timeout: Duration) {
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
    exit_after(timeout);
    shutdown.cancel();
}

/// Runs the service until `shutdown` is cancelled, its listeners on the `http` runtime. The
/// entry point tests can drive directly.
pub async fn serve(
    config: AppConfig,
    inputs: Vec<Input>,
    http: tokio::runtime::Handle,
    shutdown: CancellationToken,
) -> Result<(), Failure> {
    // Until the first publish: no events yet, but the goals and windows are known.
    let empty = Snapshot::build(&config.settings, &config.zones, &[], None);
    let (snapshots, latest) = watch::channel(Arc::new(empty));
    // Registering the collectors in a new registry fails only on a bug.
    let metrics = Arc::new(Metrics::new(latest.clone()).map_err(|e| Failure::Internal(e.into()))?);
    metrics
        .service()
        .build_info(crate::version::VERSION, crate::version::REVISION);
    let pipeline_metrics = metrics.service().pipeline.clone();
    // Waits on the brokers during the stop give up here, leaving time for the rest of it.
    let give_up = CancellationToken::new();
    tokio::spawn(give_up_after(
        shutdown.clone(),
        config.shutdown_timeout * 3 / 4,
        give_up.clone(),
    ));
    let kafka = match &config.kafka {
        Some(settings) => Some(
            KafkaLink::connect(
                settings,
                &config,
                metrics.service().dead_letter_failures.clone(),
                pipeline_metrics.clone(),
                &shutdown,
                &give_up,
            )
            .await?,
        ),
        None => None,
    };
    if config.ingest.is_some() && config.kafka.is_none() && !inputs.is_empty() {
        return Err(Failure::Usage(anyhow::anyhow!(
            "operators push to the ingest spool, which the service reads instead of --input files: \
             replay the files with `modeshare replay`, or push them"
        )));
    }
    let spool = match (&config.ingest, &config.kafka) {
        (Some(settings), None) => Some(SpoolLink::open(
            &config,
            settings,
            pipeline_metrics.clone(),
        )?),
        _ => None,
    };
    let board = ProviderBoard::default();
    let mut ingest = None;
    let mut polling = None;
    if let Some(settings) = &config.ingest {
        let sink: Arc<dyn EventSink> = match (&spool, &kafka, &config.kafka) {
            (Some((link, _)), _, _) => Arc::new(link.sink()),
            (None, Some(link), Some(kafka_settings)) => Arc::new(KafkaSink::connect(
                kafka_settings,
                settings.topic.as_deref().unwrap_or_default(),
                settings.delivery_timeout,
                link.health(),
            )?),
            _ => {
                return Err(Failure::Internal(anyhow::anyhow!(
                    "operators are configured but there is neither a spool nor [kafka]"
                )));
            }
        };
        polling = start_pollers(&config, settings, &sink, &metrics, &board, &shutdown)?;
        if !settings.operators.is_empty() {
            ingest = Some(ingest::api(&config, settings, sink, &metrics));
        }
    }
    // The whole city's view, from the parts the group's instances publish.
    let view = match (&kafka, &config.kafka, config.view_interval) {
        (Some(link), Some(settings), Some(interval)) => {
            let shared = SharedView::new(
                link.store(),
                &settings.group_id,
                config.settings.clone(),
                config.zones.clone(),
            );
            info!(
                ?interval,
                "sharing this instance's partitions with the group's view"
            );
            Some(ViewLink::start(shared, interval, shutdown.clone()))
        }
        _ => None,
    };
    let (city, city_latest) = match &view {
        Some(_) => {
            let (city, latest) = watch::channel(latest.borrow().clone());
            (Some(city), latest)
        }
        None => (None, latest.clone()),
    };
    let (batches, received) = mpsc::channel::<Message>(CHANNEL_BATCHES);
    let probe = ServiceProbe::new(
        batches.downgrade(),
        kafka.as_ref().map(KafkaLink::probe),
        board,
    );
    let health = Arc::new(Health::new(config.publish_interval, Arc::new(probe)));
    let http_shutdown = CancellationToken::new();
    let http = listeners::start(
        &config,
        city_latest,
        metrics,
        health.clone(),
        ingest,
        &http,
        &http_shutdown,
    )?;

    let source = sources::spawn(
        &config,
        inputs,
        kafka.as_ref(),
        spool.as_ref().map(|(link, _)| link),
        batches,
        &shutdown,
    );
    let pipeline = tokio::spawn(aggregate(
        config,
        received,
        Publisher::new(snapshots, city, pipeline_metrics),
        Links { kafka, spool, view },
        health,
        shutdown.clone(),
        give_up,
    ));

    // The shutdown order. The source stops first (on `shutdown`, or on its own); the pipeline
    // task drains what it sent, checkpoints and commits, and publishes the last snapshot; only
    // then does the HTTP server stop, so that the last snapshot is served until the end.
    let source_result = source.await;
    let pipeline_result = pipeline.await;
    // The lease is given up (its pollers stopped) before the process ends, so that another
    // instance polls at once rather than after the session timeout.
    let polling_result = match polling {
        Some(polling) => polling.await,
        None => Ok(()),
    };
    http_shutdown.cancel();
    let http_result = http.await;
    joined(source_result)??;
    joined(pipeline_result)?;
    joined(polling_result)?;
    joined(http_result)??;
    info!("stopped");
    Ok(())
}

/// Starts polling the configured providers into `sink`: without `[kafka]` at once, with their
/// cursors in the state directory; with `[kafka]` whenever this instance holds the providers'
/// lease, with their cursors in the control topic (the task returned ends once the lease is
/// given up, after `shutdown`).
fn start_pollers(
    config: &AppConfig,
    ingest: &IngestSettings,
    sink: &Arc<dyn EventSink>,
    metrics: &Metrics,
    board: &ProviderBoard,
    shutdown: &CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, Failure> {
    if config.providers.is_empty() {
        return Ok(None);
    }
    let control = match &config.kafka {
        Some(kafka) => Some(Arc::new(
            ControlTopic::connect(kafka, ingest.delivery_timeout)
                .map_err(|e| Failure::Usage(anyhow::anyhow!("kafka (providers): {e}")))?,
        )),
        None => None,
    };
    let mut pollers = Vec::new();
    for provider in &config.providers {
        let cursors = match &control {
            Some(topic) => CursorStore::Kafka {
                topic: topic.clone(),
                held: None,
            },
            None => CursorStore::Local(StateDir::new(&config.state.dir)),
        };
        let poller = Poller::new(
            provider.clone(),
            &config.formats,
            &config.settings.factors,
            sink.clone(),
            metrics.service().providers.clone(),
            cursors,
            board.clone(),
        )
        .map_err(|e| Failure::Usage(anyhow::anyhow!("provider {}: {e}", provider.name)))?;
        pollers.push(poller);
    }
    let Some(kafka) = &config.kafka else {
        for poller in pollers {
            tokio::spawn(poller.run(shutdown.clone()));
        }
        return Ok(None);
    };
    if kafka.create_providers_topic {
        tokio::spawn(OwnTopic::providers(kafka).keep_ensuring(kafka.clone(), shutdown.clone()));
    }
    let (events, leased) = mpsc::unbounded_channel();
    let lease = Lease::ask(kafka, events).map_err(|e| {
        let message = kafka.options.scrub(&e.to_string());
        Failure::Usage(anyhow::anyhow!("kafka (providers' lease): {message}"))
    })?;
    Ok(Some(tokio::spawn(poll_while_leased(
        pollers,
        lease,
        leased,
        shutdown.clone(),
    ))))
}

/// Cancels `give_up` `after` the stop began.
async fn give_up_after(shutdown: CancellationToken, after: Duration, give_up: CancellationToken) {
    shutdown.cancelled().await;
    tokio::time::sleep(after).await;
    give_up.cancel();
}

/// A task's result once it ended: a panic, or a cancellation nobody asked for, is a bug.
fn joined<T>(ended: Result<T, JoinError>) -> Result<T, Failure> {
    ended.map_err(|e| Failure::Internal(e.into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_task_that_panics_is_an_internal_failure() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ended: Result<(), _> =
            runtime.block_on(async { tokio::spawn(async { panic!("a bug in the task") }).await });
        let failure = joined(ended).unwrap_err();
        assert!(matches!(failure, Failure::Internal(_)), "{failure}");
        assert_eq!(failure.exit_code(), 70);
        assert!(failure.to_string().contains("panicked"), "{failure}");
    }

    #[test]
    fn a_task_cancelled_unasked_is_an_internal_failure() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let ended = runtime.block_on(async {
            let task = tokio::spawn(std::future::pending::<()>());
            task.abort();
            task.await
        });
        let failure = joined(ended).unwrap_err();
        assert_eq!(failure.exit_code(), 70);
        assert!(failure.to_string().contains("cancelled"), "{failure}");
    }

    #[test]
    fn a_task_that_ends_keeps_its_result() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ended = runtime.block_on(async { tokio::spawn(async { 7 }).await });
        assert_eq!(joined(ended).unwrap(), 7);
    }
}
