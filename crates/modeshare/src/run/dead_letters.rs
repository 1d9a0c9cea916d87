//! Dead-letter delivery in a task of its own, so that a dead letter that cannot be delivered
//! never stalls the pipeline, with the promise "may repeat, never miss": a partition is
//! checkpointed only once every dead letter of the records in its state is delivered.
//!
//! The pipeline queues a batch's letters without waiting ([`DeadLetterQueue::send`]); the task
//! produces them. A failure a retry may mend (the brokers away, a timeout) is retried with
//! backoff and jitter until it is delivered. One that cannot be (the topic missing, not
//! authorised, refused) is counted (`modeshare_dead_letter_failures_total{reason}`), logged
//! once per reason and partition, and holds back that partition's checkpoints only: its
//! messages, still after its last checkpoint, are read again — and dead-lettered again — at
//! the next start or by the partition's next owner. A queue that is full holds its partition
//! back the same way rather than wait.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use modeshare_kafka::{DeadLetter, DeadLetters, permanent_reason};
use prometheus::IntCounterVec;
use rand::Rng;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::partitions::PartitionKey;

/// Batches of letters queued at most; beyond, a partition is held back instead of waiting.
const QUEUED_BATCHES: usize = 256;
/// The first and the longest wait before a retry (each wait is jittered by ±50 %).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The queue to the dead-letter task, and what each partition still waits for.
pub(super) struct DeadLetterQueue {
    queue: mpsc::Sender<Batch>,
    ledger: Arc<Ledger>,
    failures: IntCounterVec,
}

struct Batch {
    key: PartitionKey,
    letters: Vec<DeadLetter>,
}

/// Per partition: letters queued or in flight, and whether one could not be delivered.
#[derive(Default)]
struct Ledger {
    partitions: Mutex<BTreeMap<PartitionKey, Letters>>,
    /// Signalled whenever a batch is settled.
    settled: Notify,
}

#[derive(Default)]
struct Letters {
    outstanding: usize,
    failed: bool,
}

impl Ledger {
    fn update(&self, key: &PartitionKey, change: impl FnOnce(&mut Letters)) {
        if let Ok(mut p) = self.partitions.lock() {
            change(p.entry(key.clone()).or_default());
        }
    }

    fn outstanding(&self) -> usize {
        self.partitions
            .lock()
            .map(|p| p.values().map(|l| l.outstanding).sum())
            .unwrap_or(0)
    }
}

impl DeadLetterQueue {
    /// Starts the task that delivers through `producer`, counting what cannot be delivered in
    /// `failures`; it gives up on undelivered letters when `give_up` is cancelled.
    pub(super) fn spawn(
        producer: DeadLetters,
        failures: IntCounterVec,
        give_up: CancellationToken,
    ) -> DeadLetterQueue {
        let (queue, batches) = mpsc::channel(QUEUED_BATCHES);
        let ledger = Arc::new(Ledger::default());
        tokio::spawn(deliver(
            batches,
            producer,
            ledger.clone(),
            failures.clone(),
            give_up,
        ));
        DeadLetterQueue {
            queue,
            ledger,
            failures,
        }
    }

    /// Queues a partition's letters for delivery, without waiting.
    pub(super) fn send(&self, key: &PartitionKey, letters: Vec<DeadLetter>) {
        if letters.is_empty() {
            return;
        }
        let count = letters.len();
        self.ledger.update(key, |l| l.outstanding += count);
        let batch = Batch {
            key: key.clone(),
            letters,
        };
        if let Err(refused) = self.queue.try_send(batch) {
            let full = matches!(refused, mpsc::error::TrySendError::Full(_));
            if full {
                self.failures.with_label_values(&["queue_full"]).inc();
            }
            warn!(
                topic = %key.0, partition = key.1, letters = count,
                "the dead-letter queue is {}: the partition is not checkpointed until it is read again",
                if full { "full" } else { "closed" }
            );
            self.ledger.update(key, |l| {
                l.outstanding -= count;
                l.failed = true;
            });
        }
    }

    /// Whether the partition may not be checkpointed: a dead letter of a record in its state is
    /// queued, in flight, or could not be delivered.
    pub(super) fn holds_back(&self, key: &PartitionKey) -> bool {
        self.ledger
            .partitions
            .lock()
            .map(|p| p.get(key).is_some_and(|l| l.outstanding > 0 || l.failed))
            .unwrap_or(true)
    }

    /// The partition was assigned afresh: it reads again from its checkpoint, so what an
    /// earlier assignment could not deliver no longer holds it back.
    pub(super) fn reset(&self, key: &PartitionKey) {
        self.ledger.update(key, |l| l.failed = false);
    }

    /// Waits until every queued letter is delivered or given up on, at most until `give_up`.
    pub(super) async fn settled(&self, give_up: &CancellationToken) {
        loop {
            let notified = self.ledger.settled.notified();
            if self.ledger.outstanding() == 0 {
                return;
            }
            tokio::select! {
                biased;
                _ = give_up.cancelled() => return,
                _ = notified => {}
            }
        }
    }
}

/// The task: delivers each batch, retrying what may succeed later.
async fn deliver(
    mut batches: mpsc::Receiver<Batch>,
    producer: DeadLetters,
    ledger: Arc<Ledger>,
    failures: IntCounterVec,
    give_up: CancellationToken,
) {
    // (reason, partition) pairs already logged: one line each, however many letters fail.
    let mut logged: BTreeSet<(&'static str, PartitionKey)> = BTreeSet::new();
    while let Some(batch) = batches.recv().await {
        let failed = deliver_batch(&batch, &producer, &failures, &give_up, &mut logged).await;
        ledger.update(&batch.key, |l| {
            l.outstanding -= batch.letters.len();
            l.failed |= failed;
        });
        ledger.settled.notify_waiters();
    }
}

/// Delivers one partition's batch; whether a letter of it could not be delivered.
async fn deliver_batch(
    batch: &Batch,
    producer: &DeadLetters,
    failures: &IntCounterVec,
    give_up: &CancellationToken,
    logged: &mut BTreeSet<(&'static str, PartitionKey)>,
) -> bool {
    let (topic, partition) = (&batch.key.0, batch.key.1);
    let mut pending: Vec<&DeadLetter> = batch.letters.iter().collect();
    let mut failed = false;
    let mut backoff = FIRST_BACKOFF;
    let mut retried = false;
    while !pending.is_empty() {
        let outcomes = tokio::select! {
            biased;
            _ = give_up.cancelled() => return true,
            outcomes = producer.send_all(&pending) => outcomes,
        };
        let mut retry = Vec::new();
        let mut transient = None;
        for (letter, outcome) in pending.iter().zip(outcomes) {
            let Err(e) = outcome else { continue };
            match permanent_reason(&e) {
                Some(reason) => {
                    failed = true;
                    failures.with_label_values(&[reason]).inc();
                    if logged.insert((reason, batch.key.clone())) {
                        error!(
                            %topic, partition, reason, error = %e,
                            "a dead letter cannot be delivered: the partition is not checkpointed \
                             until it is, and its messages are read again at the next start \
                             (logged once per reason and partition)"
                        );
                    }
                }
                None => {
                    transient = Some(e);
                    retry.push(*letter);
                }
            }
        }
        if let Some(e) = transient {
            if !retried {
                warn!(%topic, partition, error = %e, letters = retry.len(), "dead-letter delivery failed; retrying with backoff");
            }
            retried = true;
            let wait = jittered(backoff);
            tokio::select! {
                biased;
                _ = give_up.cancelled() => return true,
                _ = tokio::time::sleep(wait) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        } else if retried {
            info!(%topic, partition, "dead letters delivered after retrying");
        }
        pending = retry;
    }
    failed
}

/// `wait` ± 50 %, so that instances that failed together do not retry together.
fn jittered(wait: Duration) -> Duration {
    wait.mul_f64(rand::rng().random_range(0.5..1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_jittered_within_half_either_way() {
        let waits: Vec<Duration> = (0..200).map(|_| jittered(Duration::from_secs(2))).collect();
        assert!(
            waits
                .iter()
                .all(|w| *w >= Duration::from_secs(1) && *w < Duration::from_secs(3))
        );
        assert!(waits.iter().any(|w| *w != waits[0]), "no jitter");
    }
}
