//! Where the operators' pushes go ([`modeshare_http::ingest`]): with `[kafka]`, produced to
//! the ingest topic and confirmed by the brokers ([`KafkaSink`]); without, appended and
//! fsynced to the spool the service reads as an input partition (`SpoolSink`, in
//! [`super::spool_link`]). Either way a push is answered 200 only once its events are durable.

use std::sync::Arc;
use std::time::Duration;

use modeshare_http::ingest::{Delivery, EventSink, IngestApi, IngestLimits, Undelivered};
use modeshare_http::metrics::Metrics;
use modeshare_kafka::{DeadLetter, DeadLetters, EventProducer, KafkaHealth, KafkaSettings};

use crate::config::{AppConfig, IngestSettings};
use crate::failure::Failure;

/// How long a refused push is told to wait before it is sent again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The ingest API of `config`'s operators over `sink`.
pub(super) fn api(
    config: &AppConfig,
    settings: &IngestSettings,
    sink: Arc<dyn EventSink>,
    metrics: &Metrics,
) -> IngestApi {
    IngestApi::new(
        settings.operators.clone(),
        config.formats.clone(),
        config.settings.factors.clone(),
        sink,
        IngestLimits {
            max_body_bytes: settings.max_body_bytes,
            max_line_bytes: config.input.max_line_bytes,
            requests_per_second: settings.requests_per_second,
            burst: settings.burst,
        },
        metrics.service().ingest.clone(),
    )
}

/// Pushed events to the ingest topic, keyed by source, through an idempotent producer that
/// waits for every in-sync replica; rejected items to the dead-letter topic with the
/// operator's name in a header.
pub(super) struct KafkaSink {
    producer: EventProducer,
    dead_letters: DeadLetters,
    topic: String,
    timeout: Duration,
}

impl KafkaSink {
    pub(super) fn connect(
        kafka: &KafkaSettings,
        topic: &str,
        timeout: Duration,
        health: Arc<KafkaHealth>,
    ) -> Result<KafkaSink, Failure> {
        let fail = |e: modeshare_kafka::KafkaError| {
            let message = kafka.options.scrub(&e.to_string());
            Failure::Usage(anyhow::anyhow!("kafka (ingest): {message}"))
        };
        Ok(KafkaSink {
            producer: EventProducer::connect(&kafka.brokers, &kafka.options).map_err(fail)?,
            dead_letters: DeadLetters::connect(kafka, health).map_err(fail)?,
            topic: topic.to_owned(),
            timeout,
        })
    }

    async fn produce(&self, delivery: Delivery) -> Result<(), Undelivered> {
        let records: Vec<(Option<Vec<u8>>, Vec<u8>)> = delivery
            .events
            .into_iter()
            .map(|e| (Some(e.source.into_bytes()), e.line))
            .collect();
        let (sent, failure) = self.producer.send_all(&self.topic, &records).await;
        if let Some(e) = failure {
            return Err(Undelivered {
                retry_after: RETRY_AFTER,
                message: format!(
                    "the brokers confirmed {sent} of {} events, then: {e}",
                    records.len()
                ),
            });
        }
        let letters: Vec<DeadLetter> = delivery
            .rejected
            .into_iter()
            .map(|r| DeadLetter {
                key: None,
                payload: r.raw,
                reason: r.reason.as_str(),
                message: r.message,
                topic: "ingest".into(),
                partition: -1,
                offset: i64::try_from(r.index).unwrap_or(i64::MAX),
                operator: Some(delivery.operator.to_string()),
            })
            .collect();
        let refs: Vec<&DeadLetter> = letters.iter().collect();
        let failed = self
            .dead_letters
            .send_all(&refs)
            .await
            .into_iter()
            .find_map(Result::err);
        match failed {
            // The events are in the topic: the retry's are counted as duplicates.
            Some(e) => Err(Undelivered {
                retry_after: RETRY_AFTER,
                message: format!("the rejected items cannot be dead-lettered: {e}"),
            }),
            None => Ok(()),
        }
    }
}

impl EventSink for KafkaSink {
    fn deliver(
        &self,
        delivery: Delivery,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Undelivered>> + Send + '_>> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.produce(delivery)).await {
                Ok(delivered) => delivered,
                Err(_) => Err(Undelivered {
                    retry_after: RETRY_AFTER,
                    message: format!(
                        "the brokers have not confirmed the events within {:?} \
                         (ingest.delivery_timeout)",
                        self.timeout
                    ),
                }),
            }
        })
    }
}
