//! `modeshare serve`: the view alone. No input and no state of its own: it reads the parts the
//! `run` instances of a Kafka group publish every `[view] interval` from the checkpoint store
//! ([`crate::shared_view`]) and serves the whole city on the public listener (and the admin's,
//! when configured). Stateless: scale it freely behind a load balancer. Its `/metrics` holds
//! the service's own metrics and no per-zone gauges (the workers export those), so a
//! Prometheus that scrapes both counts nothing twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use modeshare_http::health::{BrokersNow, Health, Probe};
use modeshare_http::metrics::Metrics;
use modeshare_http::snapshot::Snapshot;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

use super::listeners;
use super::partitions::Partitions;
use super::publishing::{Others, Publisher};
use super::view_link::ViewLink;
use crate::checkpoint_store::CheckpointStore;
use crate::cli::ServeArgs;
use crate::config::AppConfig;
use crate::failure::Failure;
use crate::shared_view::SharedView;

pub fn serve_view(args: &ServeArgs) -> Result<(), Failure> {
    let config = args.common.load_config()?;
    listeners::raise_open_files_limit(&config);
    let timeout = config.shutdown_timeout;
    super::on_runtimes(timeout, |http, shutdown| view_only(config, http, shutdown))
}

/// Serves the group's view until `shutdown`.
pub async fn view_only(
    config: AppConfig,
    http: tokio::runtime::Handle,
    shutdown: CancellationToken,
) -> Result<(), Failure> {
    let usage = |m: &str| Failure::Usage(anyhow::anyhow!("modeshare serve: {m}"));
    let Some(kafka) = &config.kafka else {
        return Err(usage(
            "serves the view a Kafka group's `run` instances publish: configure [kafka] \
             (its group_id names the group)",
        ));
    };
    let Some(interval) = config.view_interval else {
        return Err(usage(
            "[view] interval is \"off\": the instances publish no view to serve",
        ));
    };
    let store = CheckpointStore::open(&config.state.checkpoints)
        .map_err(|e| usage(&format!("[state] url: {e}")))?;
    let shared = SharedView::new(
        store,
        &kafka.group_id,
        config.settings.clone(),
        config.zones.clone(),
    );
    let view = ViewLink::start(shared, interval, shutdown.clone());
    info!(group = %kafka.group_id, store = %config.state.checkpoints, "serving the view the group's instances publish");

    let empty = Arc::new(Snapshot::build(&config.settings, &config.zones, &[], None));
    // /metrics reads snapshots of no partition: the service's own metrics only.
    let (own, own_latest) = watch::channel(empty.clone());
    let (city, city_latest) = watch::channel(empty);
    let metrics = Arc::new(Metrics::new(own_latest).map_err(|e| Failure::Internal(e.into()))?);
    metrics
        .service()
        .build_info(crate::version::VERSION, crate::version::REVISION);
    let pipeline_metrics = metrics.service().pipeline.clone();
    let probe = Arc::new(ViewProbe::default());
    let health = Arc::new(Health::new(config.publish_interval, probe.clone()));
    let http_shutdown = CancellationToken::new();
    let served = listeners::start(
        &config,
        city_latest,
        metrics,
        health.clone(),
        None,
        &http,
        &http_shutdown,
    )?;

    let mut publisher = Publisher::new(own, Some(city), pipeline_metrics);
    let mut parts = view.subscribe();
    let owner = crate::checkpoint_claim::this_instance();
    let none = Partitions::new();
    // A snapshot when the parts change, and every interval for their ages; the health
    // endpoints hear at every publish tick that the view is current.
    let mut publish_ticks = tokio::time::interval(config.publish_interval);
    let mut age_ticks = tokio::time::interval(interval);
    let mut publish = |latest: &super::view_link::RemoteParts| {
        let others = Others {
            parts: latest,
            owner: &owner,
        };
        publisher.publish(&config, &none, None, Some(others));
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            changed = parts.changed() => {
                if changed.is_err() {
                    break;
                }
                probe.read.store(true, Ordering::Relaxed);
                let latest = parts.borrow_and_update().clone();
                publish(&latest);
            }
            _ = age_ticks.tick() => publish(&parts.borrow().clone()),
            _ = publish_ticks.tick() => health.published(),
        }
    }
    http_shutdown.cancel();
    served.await.map_err(|e| Failure::Internal(e.into()))??;
    info!("stopped");
    Ok(())
}

/// What the health endpoints ask `serve`: only whether the parts have been read once.
#[derive(Default)]
struct ViewProbe {
    read: AtomicBool,
}

impl Probe for ViewProbe {
    fn input_pending(&self) -> bool {
        false
    }

    fn restoring(&self) -> bool {
        !self.read.load(Ordering::Relaxed)
    }

    fn brokers(&self) -> Option<BrokersNow> {
        None
    }
}
