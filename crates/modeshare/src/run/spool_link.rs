//! The ingest spool (without `[kafka]`): pushed events are appended and fsynced to
//! `<state dir>/ingest-spool` before a push is answered ([`SpoolSink`]); the service reads the
//! spool as one more input partition, `ingest-spool` 0, whose checkpoint
//! (`<state dir>/spool/ingest-spool/0.ckpt`) records the spool offset its state ends at. Only
//! durable bytes are read, so a checkpoint never covers bytes a crash could lose; after each
//! checkpoint the spool is trimmed below it. A restart restores the checkpoint and reads on from
//! its offset: nothing acknowledged is lost, nothing is counted twice.

use modeshare_http::metrics::PipelineMetrics;
use std::path::PathBuf;
use std::sync::Arc;

use modeshare_http::ingest::{Delivery, EventSink, Undelivered};
use modeshare_kafka::StartAt;
use modeshare_source::spool::{AppendError, Spool, SpoolLimits};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info};

use super::partitions::{PartitionOffsets, PartitionState};
use super::sources::{Message, SpoolBatch};
use crate::checkpoint_store::{CheckpointStore, StoreLocation};
use crate::config::{AppConfig, IngestSettings};
use crate::failure::Failure;
use crate::partition_checkpoints::PartitionCheckpoints;

/// The spool's partition: its name as a topic, and its number.
pub(super) const SPOOL_TOPIC: &str = "ingest-spool";
/// The checkpoints' group directory.
const CHECKPOINT_GROUP: &str = "spool";
/// New segment files start past this size.
const SEGMENT_BYTES: u64 = 64 << 20;
/// Bytes of lines per batch read from the spool.
const READ_BATCH_BYTES: usize = 1 << 20;
/// How long a refused push is told to wait.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// The spool, its partition's checkpoints, and how far it is durable.
pub(super) struct SpoolLink {
    spool: Arc<Spool>,
    checkpoints: Arc<PartitionCheckpoints>,
    durable: watch::Receiver<u64>,
    /// Where the restored state ends: reading starts here.
    start: u64,
}

impl SpoolLink {
    /// Opens (and recovers) the spool, and restores its partition's state from the checkpoint:
    /// the link, and the partition's state to start from.
    pub(super) fn open(
        config: &AppConfig,
        settings: &IngestSettings,
        metrics: PipelineMetrics,
    ) -> Result<(SpoolLink, PartitionState), Failure> {
        let dir: PathBuf = config.state.dir.join(SPOOL_TOPIC);
        let limits = SpoolLimits {
            segment_bytes: SEGMENT_BYTES,
            max_bytes: settings.spool_max_bytes,
        };
        let spool = Spool::open(&dir, limits).map_err(|e| {
            Failure::State(anyhow::anyhow!("the ingest spool {}: {e}", dir.display()))
        })?;
        // The spool is on this machine's disk: so is its partition's checkpoint.
        let checkpoints = Arc::new(
            PartitionCheckpoints::new(
                CheckpointStore::open(&StoreLocation::Directory(config.state.dir.clone()))
                    .map_err(|e| Failure::State(anyhow::anyhow!(e)))?,
                CHECKPOINT_GROUP,
                config.settings.clone(),
                config.zones.clone(),
                config.state.on_bad_checkpoint,
            )
            .observed_by(metrics),
        );
        // Bytes trimmed from the spool were checkpointed: without the checkpoint, the state that
        // counted them is gone (as a group's committed offset without a checkpoint).
        let oldest = spool.start();
        let mut trimmed = || Ok((oldest > 0).then_some(oldest as i64));
        let start_at = checkpoints
            .start_position(SPOOL_TOPIC, 0, &mut trimmed)
            .map_err(|e| Failure::State(e.into()))?;
        let (state, start) = match (start_at, checkpoints.take(SPOOL_TOPIC, 0)) {
            (StartAt::Offset(_), Some(restored)) => {
                let next = u64::try_from(restored.next_offset).unwrap_or(0);
                (PartitionState::restored(restored), next)
            }
            _ => {
                let mut state = PartitionState::new(config);
                state.offsets = Some(PartitionOffsets {
                    next: Some(oldest as i64),
                    ..PartitionOffsets::default()
                });
                (state, oldest)
            }
        };
        let (tell, durable) = watch::channel(spool.durable_end());
        spool.on_durable(Box::new(move |end| {
            tell.send_replace(end);
        }));
        info!(
            topic = SPOOL_TOPIC,
            partition = 0,
            dir = %dir.display(),
            from = start,
            durable = spool.durable_end(),
            "pushed events are spooled here and read from the spool"
        );
        Ok((
            SpoolLink {
                spool: Arc::new(spool),
                checkpoints,
                durable,
                start,
            },
            state,
        ))
    }

    /// The sink the ingest API delivers to.
    pub(super) fn sink(&self) -> SpoolSink {
        SpoolSink {
            spool: self.spool.clone(),
        }
    }

    /// The source task: every durable line from the restored state's end on, in batches,
    /// until `shutdown`.
    pub(super) fn spawn_reader(
        &self,
        batches: mpsc::Sender<Message>,
        shutdown: CancellationToken,
    ) -> JoinHandle<Result<(), Failure>> {
        let (spool, mut durable, mut from) = (self.spool.clone(), self.durable.clone(), self.start);
        tokio::spawn(async move {
            loop {
                let end = *durable.borrow_and_update();
                if end > from {
                    let reading = spool.clone();
                    let read =
                        tokio::task::spawn_blocking(move || reading.read(from, READ_BATCH_BYTES))
                            .await
                            .map_err(|e| Failure::Internal(e.into()))?
                            .map_err(|e| {
                                Failure::State(anyhow::anyhow!("reading the ingest spool: {e}"))
                            })?;
                    from = read.next;
                    let batch = Message::Spool(SpoolBatch {
                        lines: read.lines,
                        next: read.next,
                    });
                    tokio::select! {
                        biased;
                        _ = shutdown.cancelled() => return Ok(()),
                        sent = batches.send(batch) => if sent.is_err() { return Ok(()) },
                    }
                    continue;
                }
                tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => return Ok(()),
                    changed = durable.changed() => if changed.is_err() { return Ok(()) },
                }
            }
        })
    }

    /// Checkpoints the spool's partition when it has anything new, then trims the spool below
    /// the checkpoint. Whether its state is saved.
    pub(super) async fn checkpoint(&self, state: &mut PartitionState) -> bool {
        let Some(next) = state
            .offsets
            .as_ref()
            .and_then(PartitionOffsets::to_checkpoint)
        else {
            return true;
        };
        let bytes = self.checkpoints.encode(&state.pipeline, next);
        let (checkpoints, spool) = (self.checkpoints.clone(), self.spool.clone());
        let written = tokio::task::spawn_blocking(move || {
            let location = checkpoints.write(SPOOL_TOPIC, 0, &bytes)?;
            let freed = spool.trim_below(u64::try_from(next).unwrap_or(0))?;
            Ok::<_, anyhow::Error>((location, freed))
        })
        .await;
        match written {
            Ok(Ok((location, freed))) => {
                debug!(topic = SPOOL_TOPIC, partition = 0, checkpoint = %location, next_offset = next, freed, "spool checkpoint written, spool trimmed");
                if let Some(offsets) = state.offsets.as_mut() {
                    offsets.checkpointed = Some(next);
                    offsets.unsaved = 0;
                }
                true
            }
            Ok(Err(e)) => {
                error!(topic = SPOOL_TOPIC, partition = 0, error = %e, "cannot checkpoint the ingest spool's partition; the previous checkpoint stands");
                false
            }
            Err(e) => {
                error!(topic = SPOOL_TOPIC, partition = 0, error = %e, "the spool checkpoint writer failed");
                false
            }
        }
    }
}

/// Appends pushed events to the spool and answers once they are fsynced.
pub(super) struct SpoolSink {
    spool: Arc<Spool>,
}

impl EventSink for SpoolSink {
    fn deliver(
        &self,
        delivery: Delivery,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Undelivered>> + Send + '_>> {
        Box::pin(async move {
            if delivery.events.is_empty() {
                return Ok(());
            }
            let mut lines =
                Vec::with_capacity(delivery.events.iter().map(|e| e.line.len() + 1).sum());
            for event in &delivery.events {
                lines.extend_from_slice(&event.line);
                lines.push(b'\n');
            }
            let (done, appended) = oneshot::channel();
            self.spool.appender().append(
                lines,
                Box::new(move |result| {
                    let _ = done.send(result);
                }),
            );
            let refused = |message: String| Undelivered {
                retry_after: RETRY_AFTER,
                message,
            };
            match appended.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(AppendError::Full { held, max })) => Err(refused(format!(
                    "the spool holds {held} bytes not yet counted, at ingest.spool_max_bytes ({max})"
                ))),
                Ok(Err(e)) => Err(refused(format!("the spool cannot take events now: {e}"))),
                Err(_) => Err(refused("the spool is closing".into())),
            }
        })
    }
}
