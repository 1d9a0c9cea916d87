//! A producer whose deliveries are awaited: librdkafka's producer, polled on a thread of its
//! own, each message's delivery report sent to the future its sender awaits.
//!
//! rdkafka's `FutureProducer` does the same, but its thread polls in calls of 100 ms whose
//! last millisecond is a busy loop: `BaseProducer::poll` waits whole milliseconds and then
//! polls without waiting until its deadline has passed. That was 1 % of a core per producer,
//! idle or not, about half of what an idle service spent. This thread polls with a deadline
//! 50 µs past a whole number of milliseconds, so an idle wait ends past it with at most those
//! 50 µs to spin; a call that handles an event midway may still spin through the rest of its
//! last millisecond, as before, but only while messages are being delivered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::util::IntoOpaque;
use tokio::sync::oneshot;

/// How long one poll of the thread waits at most (and so how long a stop waits for it): whole
/// milliseconds and a little more, so that the wait ends past the poll's deadline.
const POLL_WAIT: Duration = Duration::from_micros(100_050);

/// The outcome of one message's delivery, once the broker has answered or the message timed out.
pub struct Delivery(oneshot::Receiver<KafkaResult<()>>);

impl Delivery {
    /// Waits for the outcome. A producer dropped before delivering purges the message (its
    /// `PurgeQueue` or `PurgeInflight` error); a report that never comes is `Canceled`.
    pub async fn outcome(self) -> KafkaResult<()> {
        self.0.await.unwrap_or(Err(KafkaError::Canceled))
    }
}

/// A producer and the thread that polls it.
pub struct AwaitedProducer<C: ClientContext + 'static> {
    producer: Arc<BaseProducer<Awaited<C>>>,
    stop: Arc<AtomicBool>,
    poller: Option<JoinHandle<()>>,
}

impl<C: ClientContext + 'static> AwaitedProducer<C> {
    /// A producer of `config`, whose callbacks go to `context`.
    pub fn create(config: &ClientConfig, context: C) -> KafkaResult<Self> {
        let producer: Arc<BaseProducer<Awaited<C>>> =
            Arc::new(config.create_with_context(Awaited(context))?);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = std::thread::Builder::new()
            .name("producer poller".into())
            .spawn({
                let (producer, stop) = (Arc::clone(&producer), Arc::clone(&stop));
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        producer.poll(POLL_WAIT);
                    }
                }
            })
            .map_err(|e| KafkaError::ClientCreation(format!("the producer's poll thread: {e}")))?;
        Ok(AwaitedProducer {
            producer,
            stop,
            poller: Some(poller),
        })
    }

    /// Queues `record`; its delivery's outcome comes with the returned [`Delivery`]. A record
    /// the producer cannot queue (its queue full, say) comes back with the error, to be sent
    /// again: the shape of rdkafka's own `send`, record and all.
    #[allow(clippy::result_large_err)]
    pub fn send<'a, K, P>(
        &self,
        record: BaseRecord<'a, K, P>,
    ) -> Result<Delivery, (KafkaError, BaseRecord<'a, K, P>)>
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (sender, receiver) = oneshot::channel();
        self.producer
            .send(with_opaque(record, Box::new(sender)))
            .map(|()| Delivery(receiver))
            .map_err(|(e, record)| (e, with_opaque(record, ())))
    }

    /// Waits until every queued message is delivered or the timeout passes.
    pub fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.producer.flush(timeout)
    }
}

impl<C: ClientContext + 'static> Drop for AwaitedProducer<C> {
    /// Stops the poll thread, which ends within one [`POLL_WAIT`].
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}

/// The same record carrying `opaque` for its delivery report instead.
fn with_opaque<'a, K, P, A, B>(
    record: BaseRecord<'a, K, P, A>,
    opaque: B,
) -> BaseRecord<'a, K, P, B>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
    A: IntoOpaque,
    B: IntoOpaque,
{
    BaseRecord {
        topic: record.topic,
        partition: record.partition,
        payload: record.payload,
        key: record.key,
        timestamp: record.timestamp,
        headers: record.headers,
        delivery_opaque: opaque,
    }
}

/// The caller's context, and each delivery report sent to its message's [`Delivery`].
pub struct Awaited<C>(C);

impl<C: ClientContext> ClientContext for Awaited<C> {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = C::ENABLE_REFRESH_OAUTH_TOKEN;

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.0.log(level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        self.0.stats(statistics);
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.0.stats_raw(statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(error, reason);
    }

    fn generate_oauth_token(
        &self,
        oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.0.generate_oauth_token(oauthbearer_config)
    }
}

impl<C: ClientContext> ProducerContext for Awaited<C> {
    type DeliveryOpaque = Box<oneshot::Sender<KafkaResult<()>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, sender: Self::DeliveryOpaque) {
        // The sender may have stopped waiting: nothing to tell then.
        let _ = sender.send(result.as_ref().map(drop).map_err(|(e, _)| e.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::client::DefaultClientContext;

    /// A producer to a port nobody listens on, and one message queued to it.
    fn queued_without_a_broker(
        message_timeout_ms: &str,
    ) -> (AwaitedProducer<DefaultClientContext>, Delivery) {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "127.0.0.1:1")
            .set("message.timeout.ms", message_timeout_ms);
        let producer = AwaitedProducer::create(&config, DefaultClientContext).expect("a producer");
        let delivery = producer
            .send(BaseRecord::<[u8], [u8]>::to("nowhere").payload(b"x"))
            .map_err(|(e, _)| e)
            .expect("queued");
        (producer, delivery)
    }

    /// No broker at all: the delivery still ends, with the timeout librdkafka reports, because
    /// the poll thread hands the report over.
    #[tokio::test]
    async fn a_delivery_that_cannot_happen_ends_with_its_error() {
        let (_producer, delivery) = queued_without_a_broker("300");
        let outcome = tokio::time::timeout(Duration::from_secs(20), delivery.outcome())
            .await
            .expect("the delivery ends");
        assert!(
            matches!(
                outcome,
                Err(KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::MessageTimedOut
                ))
            ),
            "{outcome:?}"
        );
    }

    /// Dropping the producer with a message still queued stops its thread; the sender hears
    /// that the outcome is unknown.
    #[tokio::test]
    async fn a_dropped_producer_cancels_what_it_did_not_deliver() {
        let (producer, delivery) = queued_without_a_broker("60000");
        drop(producer);
        let outcome = tokio::time::timeout(Duration::from_secs(20), delivery.outcome())
            .await
            .expect("the delivery ends");
        assert!(outcome.is_err(), "{outcome:?}");
    }
}
