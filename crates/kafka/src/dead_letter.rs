//! The dead-letter topic: every rejected message with its original key and bytes (cut to fit
//! the producer's limit, with its length and SHA-256 then), and headers saying why and where
//! it came from. The caller confirms each delivery before a checkpoint covers the message, so
//! nothing rejected is lost (after a crash it may be dead-lettered twice).

use std::sync::Arc;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::config::KafkaSettings;
use crate::delivery::AwaitedProducer;
use crate::health::KafkaHealth;

/// Header names on dead-lettered messages.
pub const HEADER_REASON: &str = "modeshare.reason";
pub const HEADER_MESSAGE: &str = "modeshare.message";
pub const HEADER_TOPIC: &str = "modeshare.source.topic";
pub const HEADER_PARTITION: &str = "modeshare.source.partition";
pub const HEADER_OFFSET: &str = "modeshare.source.offset";
/// On an item an operator pushed to the ingest API: the operator's name.
pub const HEADER_OPERATOR: &str = "modeshare.operator";
/// On a dead letter whose payload was cut to fit the producer's limit: the payload's length
/// and SHA-256 (hex) before the cut.
pub const HEADER_ORIGINAL_LENGTH: &str = "modeshare.original.length";
pub const HEADER_ORIGINAL_SHA256: &str = "modeshare.original.sha256";

/// A rejected message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub reason: &'static str,
    pub message: String,
    /// Where it was read: a topic, partition and offset; for an item pushed to the ingest API,
    /// `ingest`, -1 and the item's index in its request.
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The operator that pushed it (the ingest API).
    pub operator: Option<String>,
}

/// The dead-letter producer.
pub struct DeadLetters {
    producer: AwaitedProducer<ProducerContext>,
    topic: String,
    /// The largest message the producer may send (`message.max.bytes`).
    max_bytes: usize,
}

/// The producer's callbacks, polled on its own thread: "all brokers down" reaches the
/// service's [`KafkaHealth`] even while the consumer is not polled.
pub struct ProducerContext {
    health: Arc<KafkaHealth>,
}

impl ClientContext for ProducerContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let all_down = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        );
        warn!(%error, reason, "kafka producer error");
        if all_down {
            self.health.record_error(format!("{error}: {reason}"), true);
        }
    }
}

impl DeadLetters {
    /// The producer, reporting to `health` when it finds every broker down.
    pub fn connect(settings: &KafkaSettings, health: Arc<KafkaHealth>) -> KafkaResult<DeadLetters> {
        Ok(DeadLetters {
            producer: AwaitedProducer::create(
                &settings.producer_config(),
                ProducerContext { health },
            )?,
            topic: settings.dead_letter_topic.clone(),
            max_bytes: settings
                .options
                .get_exposed("message.max.bytes")
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_MAX_BYTES),
        })
    }

    /// Produces every letter at once and waits for each delivery: one outcome per letter, in
    /// order. Retrying is the caller's: [`permanent_reason`] tells which failures a retry
    /// cannot mend.
    pub async fn send_all(&self, letters: &[&DeadLetter]) -> Vec<Result<(), KafkaError>> {
        let mut pending = Vec::with_capacity(letters.len());
        for l in letters {
            let fitted = fit(l, self.max_bytes);
            let partition = l.partition.to_string();
            let offset = l.offset.to_string();
            let mut headers = OwnedHeaders::new()
                .insert(Header {
                    key: HEADER_REASON,
                    value: Some(l.reason),
                })
                .insert(Header {
                    key: HEADER_MESSAGE,
                    value: Some(shorten(&l.message, MESSAGE_BYTES)),
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
            if let Some(operator) = &l.operator {
                headers = headers.insert(Header {
                    key: HEADER_OPERATOR,
                    value: Some(operator.as_str()),
                });
            }
            if let Some(cut) = &fitted.cut {
                headers = headers
                    .insert(Header {
                        key: HEADER_ORIGINAL_LENGTH,
                        value: Some(cut.original_length.as_str()),
                    })
                    .insert(Header {
                        key: HEADER_ORIGINAL_SHA256,
                        value: Some(cut.sha256.as_str()),
                    });
            }
            let mut record = BaseRecord::to(&self.topic)
                .payload(fitted.payload)
                .headers(headers);
            if let Some(key) = &l.key {
                record = record.key(key);
            }
            pending.push(self.producer.send(record).map_err(|(e, _)| e));
        }
        let mut outcomes = Vec::with_capacity(pending.len());
        for p in pending {
            outcomes.push(match p {
                Err(e) => Err(e),
                Ok(delivery) => delivery.outcome().await,
            });
        }
        outcomes
    }
}

/// The bytes of a dead letter's message header at most.
const MESSAGE_BYTES: usize = 1024;
/// Room kept in a message for its key, headers and the protocol's framing.
const FRAMING_BYTES: usize = 4096;
/// librdkafka's default `message.max.bytes`.
const DEFAULT_MAX_BYTES: usize = 1_000_000;

/// A payload cut to fit the producer's limit, and what says what it was.
struct Fitted<'a> {
    payload: &'a [u8],
    cut: Option<Cut>,
}

struct Cut {
    original_length: String,
    sha256: String,
}

/// `letter`'s payload, cut to fit `max_bytes` with its key and headers when it is larger (a
/// rejected message can be larger than the producer may send: its topic allows more, or it
/// was rejected for its size). The original length and SHA-256 then go in headers, so that
/// the dead letter still says which message it was.
fn fit(letter: &DeadLetter, max_bytes: usize) -> Fitted<'_> {
    let key = letter.key.as_ref().map_or(0, Vec::len);
    let room = max_bytes.saturating_sub(FRAMING_BYTES + MESSAGE_BYTES + key);
    if letter.payload.len() <= room {
        return Fitted {
            payload: &letter.payload,
            cut: None,
        };
    }
    let sha256: String = Sha256::digest(&letter.payload)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Fitted {
        payload: &letter.payload[..room],
        cut: Some(Cut {
            original_length: letter.payload.len().to_string(),
            sha256,
        }),
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn shorten(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Why a dead letter can never be delivered as things stand, as a metric label; `None` for a
/// failure a retry may mend (the brokers away, a timeout, a full queue).
pub fn permanent_reason(error: &KafkaError) -> Option<&'static str> {
    use RDKafkaErrorCode as C;
    let code = error.rdkafka_error_code()?;
    Some(match code {
        C::UnknownTopic | C::UnknownTopicOrPartition | C::UnknownPartition => "topic_missing",
        C::TopicAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::TransactionalIdAuthorizationFailed => "not_authorized",
        C::MessageSizeTooLarge | C::InvalidMessageSize | C::MessageBatchTooLarge => "too_large",
        C::InvalidTopic => "invalid_topic",
        C::InvalidMessage | C::InvalidRecord | C::InvalidRequiredAcks => "refused",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(payload: Vec<u8>) -> DeadLetter {
        DeadLetter {
            key: Some(b"voi".to_vec()),
            payload,
            reason: "invalid_json",
            message: "x".repeat(5000),
            topic: "t".into(),
            partition: 3,
            offset: 7,
            operator: None,
        }
    }

    #[test]
    fn a_payload_over_the_limit_is_cut_with_its_length_and_hash() {
        let big = letter(vec![b'a'; 2_000_000]);
        let fitted = fit(&big, DEFAULT_MAX_BYTES);
        assert!(fitted.payload.len() + FRAMING_BYTES + MESSAGE_BYTES + 3 <= DEFAULT_MAX_BYTES);
        assert!(fitted.payload.len() > 900_000);
        let cut = fitted.cut.unwrap();
        assert_eq!(cut.original_length, "2000000");
        // printf 'a%.0s' $(seq 2000000) | sha256sum
        let expected: String = Sha256::digest(vec![b'a'; 2_000_000])
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(cut.sha256, expected);
        assert_eq!(cut.sha256.len(), 64);

        let small = letter(b"{}".to_vec());
        let fitted = fit(&small, DEFAULT_MAX_BYTES);
        assert_eq!(fitted.payload, b"{}");
        assert!(fitted.cut.is_none());
    }

    #[test]
    fn long_messages_are_cut_at_a_character() {
        assert_eq!(shorten("æøå", 3), "æ");
        assert_eq!(shorten("abc", 10), "abc");
        assert_eq!(
            shorten(&"x".repeat(5000), MESSAGE_BYTES).len(),
            MESSAGE_BYTES
        );
    }

    #[test]
    fn failures_a_retry_cannot_mend_are_named() {
        use rdkafka::error::KafkaError::MessageProduction;
        assert_eq!(
            permanent_reason(&MessageProduction(RDKafkaErrorCode::UnknownTopic)),
            Some("topic_missing")
        );
        assert_eq!(
            permanent_reason(&MessageProduction(
                RDKafkaErrorCode::TopicAuthorizationFailed
            )),
            Some("not_authorized")
        );
        assert_eq!(
            permanent_reason(&MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)),
            Some("too_large")
        );
        for transient in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::NotEnoughReplicas,
        ] {
            assert_eq!(permanent_reason(&MessageProduction(transient)), None);
        }
        assert_eq!(permanent_reason(&KafkaError::Canceled), None);
    }
}
