//! The providers' lease: the one partition of a control topic, consumed in a consumer group of
//! its own. The member the group assigns the partition to holds the lease — Kafka's
//! membership, no election of modeshare's own. Once it has read the partition to its end, the
//! caller is told ([`LeaseEvent::Gained`]) with every record the partition holds (the caller's
//! cursors, which it decodes: this module knows records, not what they say).
//!
//! When the partition is revoked (another member's arrival never moves it: the lease group is
//! cooperative-sticky; the holder's leaving does) the caller is told ([`LeaseEvent::Lost`])
//! inside the rebalance, and the partition is given up only once the caller has released it —
//! its work stopped — so that the next holder starts after the last one stopped. A member
//! whose session was lost (killed, paused past the session timeout, cut off from the brokers)
//! cannot be waited for: its last writes may land after the next holder has read the
//! partition, which the caller's records must make harmless.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc as sync_mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use crate::config::KafkaSettings;
use crate::rebalance;

/// The control topic's partition that is the lease.
pub const LEASE_PARTITION: i32 = 0;
/// How long a revocation waits for the caller to release the lease. Below librdkafka's
/// default `max.poll.interval.ms` (5 min), past which the member would leave the group anyway.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one poll of the lease consumer waits; also how soon it sees a stop.
const POLL: Duration = Duration::from_millis(100);

/// A record of the control partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlRecord {
    pub key: Option<Vec<u8>>,
    /// `None`: a tombstone.
    pub value: Option<Vec<u8>>,
    pub offset: i64,
}

/// What the lease tells its holder.
#[derive(Debug)]
pub enum LeaseEvent {
    /// This instance holds the lease; the control partition's records, in offset order.
    Gained(Vec<ControlRecord>),
    /// The lease is going away: stop the work it allows, then drop the [`Release`].
    Lost(Release),
}

/// Given with [`LeaseEvent::Lost`]: the partition is given up once this is dropped.
#[derive(Debug)]
pub struct Release {
    _released: sync_mpsc::Sender<()>,
}

/// Why the lease could not be asked for.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot start the lease's thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Where this member stands with the lease.
#[derive(Debug, Default)]
enum Phase {
    #[default]
    Idle,
    /// Assigned, reading the partition to its end.
    Reading(Vec<ControlRecord>),
    /// Read to the end, and the caller told.
    Holding,
}

/// The lease consumer's callbacks; they run on the lease's thread, inside its polls.
struct LeaseContext {
    topic: String,
    events: mpsc::UnboundedSender<LeaseEvent>,
    phase: Mutex<Phase>,
}

impl LeaseContext {
    fn set(&self, phase: Phase) -> Phase {
        self.phase
            .lock()
            .map(|mut p| std::mem::replace(&mut *p, phase))
            .unwrap_or_default()
    }

    /// A record read: kept while the partition is read to its end (later ones are this
    /// holder's own writes).
    fn observe(&self, record: ControlRecord) {
        if let Ok(mut phase) = self.phase.lock()
            && let Phase::Reading(records) = &mut *phase
        {
            records.push(record);
        }
    }

    /// The end of the partition is reached: the first time since the assignment, the caller
    /// gets the lease with what was read.
    fn reached_end(&self) {
        let Phase::Reading(records) = self.set(Phase::Holding) else {
            // Holding already (a later end) or not assigned: nothing changes.
            return;
        };
        info!(topic = %self.topic, records = records.len(), "holding the providers' lease");
        if self.events.send(LeaseEvent::Gained(records)).is_err() {
            self.set(Phase::Idle);
        }
    }

    /// The partition goes away: a holder's caller stops first (at most [`RELEASE_TIMEOUT`]).
    fn release(&self, lost: bool) {
        if !matches!(self.set(Phase::Idle), Phase::Holding) {
            return;
        }
        let (released, wait) = sync_mpsc::channel();
        if self
            .events
            .send(LeaseEvent::Lost(Release {
                _released: released,
            }))
            .is_err()
        {
            return;
        }
        if lost {
            warn!(topic = %self.topic, "the providers' lease is lost (the session expired): another instance may poll already");
        } else {
            info!(topic = %self.topic, "giving the providers' lease up");
        }
        if let Err(sync_mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(RELEASE_TIMEOUT) {
            error!(topic = %self.topic, timeout = ?RELEASE_TIMEOUT, "the providers' pollers have not stopped in time; the lease is given up anyway");
        }
    }
}

impl ClientContext for LeaseContext {
    fn error(&self, error: KafkaError, reason: &str) {
        warn!(%error, reason, "kafka client error (providers' lease)");
    }
}

impl ConsumerContext for LeaseContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        offered: &mut TopicPartitionList,
    ) {
        let lease = offered
            .elements()
            .iter()
            .any(|e| e.topic() == self.topic && e.partition() == LEASE_PARTITION);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Every cursor ever written counts: the partition is read from its start.
                let mut assignment = TopicPartitionList::new();
                for e in offered.elements() {
                    if let Err(e) =
                        assignment.add_partition_offset(e.topic(), e.partition(), Offset::Beginning)
                    {
                        warn!(error = %e, "cannot set the control partition's start");
                    }
                }
                match rebalance::take(consumer, &assignment) {
                    Err(e) => error!(error = %e, "cannot take the providers' lease"),
                    Ok(()) if lease => {
                        info!(topic = %self.topic, "assigned the providers' lease: reading the cursors");
                        self.set(Phase::Reading(Vec::new()));
                    }
                    Ok(()) => {}
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if lease {
                    self.release(consumer.assignment_lost());
                }
                if let Err(e) = rebalance::give_up(consumer, offered) {
                    error!(error = %e, "cannot give the providers' lease up");
                }
            }
            other => {
                let code: rdkafka::error::RDKafkaErrorCode = other.into();
                error!(error = %code, "the providers' lease group failed to rebalance; giving the lease up");
                self.release(true);
                if let Err(e) = consumer.unassign() {
                    error!(error = %e, "cannot give the providers' lease up");
                }
            }
        }
    }
}

/// This instance's membership of the lease group, polled on a thread of its own (a
/// revocation blocks it until the caller has released the lease).
pub struct Lease {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Lease {
    /// Joins the lease group of `settings`' control topic; what happens to the lease is sent
    /// to `events`. Connection problems are not errors here: librdkafka retries.
    pub fn ask(
        settings: &KafkaSettings,
        events: mpsc::UnboundedSender<LeaseEvent>,
    ) -> Result<Lease, LeaseError> {
        let context = LeaseContext {
            topic: settings.providers_topic.clone(),
            events,
            phase: Mutex::new(Phase::Idle),
        };
        let consumer: BaseConsumer<LeaseContext> = settings
            .lease_consumer_config()
            .create_with_context(context)?;
        consumer.subscribe(&[settings.providers_topic.as_str()])?;
        info!(topic = %settings.providers_topic, group = %settings.lease_group_id(), "asking for the providers' lease");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("modeshare-lease".into())
            .spawn(move || poll(&consumer, &stopped))?;
        Ok(Lease {
            stop,
            thread: Some(thread),
        })
    }

    /// Leaves the lease group (releasing the lease first when it is held, see
    /// [`LeaseEvent::Lost`]) and waits until it has left. Blocks: call it off the runtime.
    pub fn leave(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the providers' lease thread panicked");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Polls until `stop`; then the consumer is dropped, which leaves the group (its revocation
/// releasing the lease first).
fn poll(consumer: &BaseConsumer<LeaseContext>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(POLL) {
            None => {}
            Some(Ok(m)) => consumer.context().observe(ControlRecord {
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
                offset: m.offset(),
            }),
            Some(Err(KafkaError::PartitionEOF(LEASE_PARTITION))) => {
                consumer.context().reached_end();
            }
            Some(Err(e)) => warn!(error = %e, "cannot read the providers' control topic; retrying"),
        }
    }
}
