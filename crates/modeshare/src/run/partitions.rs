//! One input partition's state, and for a Kafka partition how far it reaches and what of it is
//! checkpointed.

use std::collections::BTreeMap;
use std::sync::Arc;

use modeshare_core::pipeline::Pipeline;

use crate::clock::wall_clock;
use crate::config::AppConfig;
use crate::partition_checkpoints::RestoredPartition;
/// An input partition: a Kafka topic partition, `("local", 0)` for files and the simulator, or
/// `("ingest-spool", 0)` for the ingest spool.
pub(super) type PartitionKey = (Arc<str>, i32);

/// The state of every input partition this instance owns.
pub(super) type Partitions = BTreeMap<PartitionKey, PartitionState>;

pub(super) fn local_partition() -> PartitionKey {
    (Arc::from("local"), 0)
}

/// The ingest spool's partition.
pub(super) fn spool_partition() -> PartitionKey {
    (Arc::from(super::spool_link::SPOOL_TOPIC), 0)
}

/// One input partition's state and when it last received events (processing time).
pub(super) struct PartitionState {
    pub(super) pipeline: Pipeline,
    pub(super) last_event_at: i64,
    /// Kafka partitions and the spool's: how far the state reaches and what is checkpointed.
    pub(super) offsets: Option<PartitionOffsets>,
}

impl PartitionState {
    /// Empty state: files and the simulator, whose state begins with the process.
    pub(super) fn new(config: &AppConfig) -> PartitionState {
        PartitionState {
            pipeline: Pipeline::live(config.settings.clone(), config.zones.clone()),
            last_event_at: wall_clock().0,
            offsets: None,
        }
    }

    /// A Kafka partition assigned without state: read from its beginning.
    pub(super) fn from_beginning(config: &AppConfig) -> PartitionState {
        PartitionState {
            offsets: Some(PartitionOffsets::default()),
            ..PartitionState::new(config)
        }
    }

    /// A Kafka partition with the state its checkpoint restored: records below the offset the
    /// checkpoint ends at are in it already, and are skipped.
    pub(super) fn restored(restored: RestoredPartition) -> PartitionState {
        PartitionState {
            pipeline: restored.pipeline,
            last_event_at: wall_clock().0,
            offsets: Some(PartitionOffsets {
                next: Some(restored.next_offset),
                checkpointed: Some(restored.next_offset),
                ..PartitionOffsets::default()
            }),
        }
    }
}

/// A Kafka partition's progress.
#[derive(Debug, Default)]
pub(super) struct PartitionOffsets {
    /// The next offset to apply; records below it are in the state already. `None` until the
    /// first record of a partition read from its beginning.
    pub(super) next: Option<i64>,
    /// Where the last durable checkpoint ends.
    pub(super) checkpointed: Option<i64>,
    /// Records applied since the last durable checkpoint: what a crash would read again.
    pub(super) unsaved: u64,
}

impl PartitionOffsets {
    /// The offset a new checkpoint would end at, when there is anything new to save.
    pub(super) fn to_checkpoint(&self) -> Option<i64> {
        let next = self.next?;
        (self.checkpointed != Some(next)).then_some(next)
    }
}
