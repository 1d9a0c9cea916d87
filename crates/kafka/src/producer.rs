//! Producing events: `modeshare produce` sends validated events keyed by `source`, so that all
//! of a source's events land in one partition (duplicates are detected per partition).

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

/// A producer with modeshare's delivery settings: idempotent, every replica acknowledges.
pub struct EventProducer {
    producer: FutureProducer,
}

impl EventProducer {
    pub fn connect(brokers: &str, options: &[(String, String)]) -> KafkaResult<EventProducer> {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("message.timeout.ms", "30000");
        for (k, v) in options {
            c.set(k, v);
        }
        Ok(EventProducer {
            producer: c.create()?,
        })
    }

    /// Queues one message without waiting for its delivery (see [`EventProducer::flush`]).
    pub fn enqueue(&self, topic: &str, key: Option<&[u8]>, payload: &[u8]) -> KafkaResult<()> {
        let mut record = FutureRecord::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        self.producer
            .send_result(record)
            .map(drop)
            .map_err(|(e, _)| e)
    }

    /// Waits until every queued message is delivered or the timeout passes.
    pub fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        use rdkafka::producer::Producer;
        self.producer.flush(timeout)
    }

    /// Sends every `(key, payload)` and waits for all deliveries; returns how many were
    /// delivered before the first failure, and that failure.
    pub async fn send_all(
        &self,
        topic: &str,
        records: &[(Option<Vec<u8>>, Vec<u8>)],
    ) -> (usize, Option<KafkaError>) {
        let mut delivered = 0;
        // Enqueue in slices so that the local queue never overflows, then await in order.
        for chunk in records.chunks(10_000) {
            let mut pending = Vec::with_capacity(chunk.len());
            for (key, payload) in chunk {
                let mut record = FutureRecord::to(topic).payload(payload);
                if let Some(key) = key {
                    record = record.key(key);
                }
                loop {
                    match self.producer.send_result(record) {
                        Ok(delivery) => {
                            pending.push(delivery);
                            break;
                        }
                        Err((
                            KafkaError::MessageProduction(
                                rdkafka::types::RDKafkaErrorCode::QueueFull,
                            ),
                            r,
                        )) => {
                            record = r;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        Err((e, _)) => {
                            let (confirmed, failure) = await_deliveries(pending).await;
                            return (delivered + confirmed, failure.or(Some(e)));
                        }
                    }
                }
            }
            let (confirmed, failure) = await_deliveries(pending).await;
            delivered += confirmed;
            if failure.is_some() {
                return (delivered, failure);
            }
        }
        (delivered, None)
    }
}

/// Awaits deliveries in order: how many were confirmed before the first failure, and that
/// failure.
pub(crate) async fn await_deliveries(pending: Vec<DeliveryFuture>) -> (usize, Option<KafkaError>) {
    let mut confirmed = 0;
    for delivery in pending {
        match delivery.await {
            Ok(Ok(_)) => confirmed += 1,
            Ok(Err((e, _))) => return (confirmed, Some(e)),
            Err(_) => return (confirmed, Some(KafkaError::Canceled)),
        }
    }
    (confirmed, None)
}
