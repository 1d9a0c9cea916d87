//! The dead-letter topic: every rejected message with its original key and bytes, and headers
//! saying why and where it came from. A delivery is confirmed before the caller stores the
//! message's offset, so nothing rejected is lost (after a crash it may be dead-lettered twice).

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::KafkaSettings;

/// Header names on dead-lettered messages.
pub const HEADER_REASON: &str = "modeshare.reason";
pub const HEADER_MESSAGE: &str = "modeshare.message";
pub const HEADER_TOPIC: &str = "modeshare.source.topic";
pub const HEADER_PARTITION: &str = "modeshare.source.partition";
pub const HEADER_OFFSET: &str = "modeshare.source.offset";

/// A rejected message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason: &'static str,
    pub message: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The dead-letter producer.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn connect(settings: &KafkaSettings) -> KafkaResult<DeadLetters> {
        Ok(DeadLetters {
            producer: settings.producer_config().create()?,
            topic: settings.dead_letter_topic.clone(),
        })
    }

    /// Creates the dead-letter topic when it does not exist yet (brokers may not auto-create).
    pub async fn ensure_topic(settings: &KafkaSettings, partitions: i32) -> KafkaResult<()> {
        let admin: AdminClient<DefaultClientContext> = settings.producer_config().create()?;
        let topic = NewTopic::new(
            &settings.dead_letter_topic,
            partitions,
            TopicReplication::Fixed(1),
        );
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics([&topic], &options).await? {
            match result {
                Ok(name) => info!(topic = %name, "created the dead-letter topic"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    warn!(topic = %name, error = %code, "could not create the dead-letter topic")
                }
            }
        }
        Ok(())
    }

    /// Produces every letter and waits until each is delivered, retrying failures until they
    /// succeed or `shutdown` is cancelled. Returns how many were delivered, in order: letters
    /// after the first undelivered one are not confirmed (their offsets must not be stored).
    pub async fn deliver(&self, letters: &[DeadLetter], shutdown: &CancellationToken) -> usize {
        let mut delivered = 0;
        let mut backoff = Duration::from_millis(100);
        while delivered < letters.len() {
            match self.deliver_once(&letters[delivered..]).await {
                (n, None) => delivered += n,
                (n, Some(e)) => {
                    delivered += n;
                    warn!(error = %e, retry_in = ?backoff, "dead-letter delivery failed; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        delivered
    }

    /// Enqueues all letters at once, then awaits their deliveries in order: how many were
    /// confirmed before the first failure, and that failure.
    async fn deliver_once(&self, letters: &[DeadLetter]) -> (usize, Option<KafkaError>) {
        let mut pending = Vec::with_capacity(letters.len());
        let mut failure = None;
        for l in letters {
            let partition = l.partition.to_string();
            let offset = l.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: HEADER_REASON,
                    value: Some(l.reason),
                })
                .insert(Header {
                    key: HEADER_MESSAGE,
                    value: Some(l.message.as_str()),
                })
                .insert(Header {
                    key: HEADER_TOPIC,
                    value: Some(l.topic.as_str()),
                })
                .insert(Header {
                    key: HEADER_PARTITION,
                    value: Some(partition.as_str()),
                })
                .insert(Header {
                    key: HEADER_OFFSET,
                    value: Some(offset.as_str()),
                });
            let mut record = FutureRecord::to(&self.topic)
                .payload(&l.payload)
                .headers(headers);
            if let Some(key) = &l.key {
                record = record.key(key);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => pending.push(delivery),
                Err((e, _)) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let (confirmed, failed_delivery) = crate::producer::await_deliveries(pending).await;
        (confirmed, failed_delivery.or(failure))
    }
}
