//! What the health endpoints ask the service about, answered from its live parts rather than
//! from the last snapshot: whether input waits for the pipeline, whether partitions' state is
//! being restored, and the brokers as they are now.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use modeshare_http::health::{BrokersNow, Probe, ProviderNow};
use modeshare_kafka::KafkaHealth;
use tokio::sync::mpsc;

use super::sources::Message;
use crate::partition_checkpoints::PartitionCheckpoints;
use crate::providers::ProviderBoard;

/// The service's answers to [`Probe`].
pub(super) struct ServiceProbe {
    /// The channel to the pipeline, without keeping it open.
    input: mpsc::WeakSender<Message>,
    kafka: Option<KafkaProbe>,
    providers: ProviderBoard,
}

/// From Kafka: the brokers, the checkpoints restored but not yet taken, and whether the
/// pipeline has taken its first assignment.
pub(super) struct KafkaProbe {
    pub(super) health: Arc<KafkaHealth>,
    pub(super) checkpoints: Arc<PartitionCheckpoints>,
    pub(super) first_assignment: Arc<AtomicBool>,
}

impl ServiceProbe {
    pub(super) fn new(
        input: mpsc::WeakSender<Message>,
        kafka: Option<KafkaProbe>,
        providers: ProviderBoard,
    ) -> ServiceProbe {
        ServiceProbe {
            input,
            kafka,
            providers,
        }
    }
}

impl Probe for ServiceProbe {
    fn input_pending(&self) -> bool {
        self.input
            .upgrade()
            .is_some_and(|sender| sender.capacity() < sender.max_capacity())
    }

    fn restoring(&self) -> bool {
        self.kafka.as_ref().is_some_and(|k| {
            !k.first_assignment.load(Ordering::Relaxed) || k.checkpoints.restoring()
        })
    }

    fn brokers(&self) -> Option<BrokersNow> {
        self.kafka.as_ref().map(|k| {
            let (connected, down_for) = k.health.brokers_now();
            BrokersNow {
                connected,
                down_for,
            }
        })
    }

    fn providers(&self) -> Vec<ProviderNow> {
        self.providers.now()
    }
}
