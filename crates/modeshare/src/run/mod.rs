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

mod aggregator;
mod kafka_link;
mod partitions;
mod publishing;
mod sources;

use std::sync::Arc;

use modeshare_http::snapshot::Snapshot;
use modeshare_http::{metrics, server};
use modeshare_source::Input;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::aggregator::aggregate;
use self::kafka_link::connect_kafka;
use self::sources::{Message, read_files, simulate};
use crate::cli::{RunArgs, open_inputs};
use crate::config::AppConfig;
use crate::failure::Failure;

/// Batches in flight between the source and the pipeline; `send().await` is the backpressure.
const CHANNEL_BATCHES: usize = 16;

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
