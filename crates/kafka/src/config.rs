//! `[kafka]`: brokers, the consumer group, topics with their formats, the dead-letter topic,
//! and librdkafka properties passed as-is.

use std::collections::BTreeMap;

use modeshare_core::vocabulary::ConfigErrors;
use rdkafka::ClientConfig;
use serde::Deserialize;

/// `[kafka]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// The consumer group; instances with the same group split the partitions.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Where rejected messages go, with their reason in headers; created when missing.
    #[serde(default = "default_dead_letter_topic")]
    pub dead_letter_topic: String,
    /// librdkafka properties, passed as-is (they win over modeshare's defaults).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The topics to consume, each with its format.
    pub topics: Vec<TopicConfig>,
}

fn default_group_id() -> String {
    "modeshare".into()
}

fn default_dead_letter_topic() -> String {
    "modeshare.dead-letter".into()
}

/// One `[[kafka.topics]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub name: String,
    /// How its messages are decoded (`canonical`, `mds`, `trafikkdata`, `csv:NAME`; the
    /// service checks the name). A CSV format's message is a whole table with its header.
    #[serde(default = "default_format")]
    pub format: String,
}

fn default_format() -> String {
    "canonical".into()
}

/// The validated `[kafka]`.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaSettings {
    pub brokers: String,
    pub group_id: String,
    pub dead_letter_topic: String,
    pub options: BTreeMap<String, String>,
    pub topics: Vec<TopicConfig>,
}

impl PartialEq for TopicConfig {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.format == other.format
    }
}

impl KafkaConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> KafkaSettings {
        if self.brokers.trim().is_empty() {
            errors.push(
                "kafka.brokers",
                "must name at least one broker, like \"127.0.0.1:9092\"",
            );
        }
        if self.group_id.trim().is_empty() {
            errors.push("kafka.group_id", "must not be empty");
        }
        if self.topics.is_empty() {
            errors.push(
                "kafka.topics",
                "name at least one topic: [[kafka.topics]] name = \"…\"",
            );
        }
        for (i, t) in self.topics.iter().enumerate() {
            if t.name.trim().is_empty() {
                errors.push(format!("kafka.topics[{i}].name"), "must not be empty");
            }
            if t.name == self.dead_letter_topic {
                errors.push(
                    format!("kafka.topics[{i}].name"),
                    "is the dead-letter topic; consuming it would loop",
                );
            }
            if self.topics[..i].iter().any(|o| o.name == t.name) {
                errors.push(
                    format!("kafka.topics[{i}].name"),
                    format!("{:?} is listed twice", t.name),
                );
            }
        }
        for key in [
            "enable.auto.offset.store",
            "enable.auto.commit",
            "group.id",
            "bootstrap.servers",
        ] {
            if self.options.contains_key(key) {
                errors.push(
                    format!("kafka.options.\"{key}\""),
                    "is set by modeshare (offsets are committed only once a checkpoint covers them; use kafka.group_id / kafka.brokers)",
                );
            }
        }
        KafkaSettings {
            brokers: self.brokers.clone(),
            group_id: self.group_id.clone(),
            dead_letter_topic: self.dead_letter_topic.clone(),
            options: self.options.clone(),
            topics: self.topics.clone(),
        }
    }
}

/// Whether a property's value must not be logged.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "sasl"].iter().any(|s| k.contains(s))
}

impl KafkaSettings {
    /// The properties with secret values replaced, for logs.
    pub fn redacted_options(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if is_secret(k) {
                        "[redacted]".into()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect()
    }

    /// The consumer's librdkafka configuration: modeshare's defaults, then `options`.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            // modeshare commits an offset once a durable checkpoint covers it, and stores
            // applied offsets itself (for the lag statistics only).
            .set("enable.auto.offset.store", "false")
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("statistics.interval.ms", "2000");
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }

    /// The dead-letter producer's configuration: idempotent, every replica acknowledges.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("acks", "all")
            .set("message.timeout.ms", "30000");
        for (k, v) in self.options.iter().filter(|(k, _)| !is_consumer_only(k)) {
            c.set(k, v);
        }
        c
    }
}

/// Consumer properties a producer would warn about.
fn is_consumer_only(key: &str) -> bool {
    key.starts_with("session.")
        || key.starts_with("heartbeat.")
        || key.starts_with("auto.")
        || key.starts_with("enable.auto")
        || key.starts_with("max.poll")
        || key.starts_with("fetch.")
        || key.starts_with("partition.assignment")
        || key == "group.instance.id"
        || key == "isolation.level"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_topics: Vec<(&str, &str)>, options: &[(&str, &str)]) -> KafkaConfig {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: default_group_id(),
            dead_letter_topic: default_dead_letter_topic(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            topics: toml_topics
                .into_iter()
                .map(|(n, f)| TopicConfig {
                    name: n.into(),
                    format: f.into(),
                })
                .collect(),
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let mut errors = ConfigErrors::default();
        let s = config(
            vec![("t", "canonical")],
            &[
                ("sasl.password", "hunter2"),
                ("ssl.key.password", "x"),
                ("SASL.USERNAME", "u"),
                ("client.id", "ms"),
            ],
        )
        .validate(&mut errors);
        let r = s.redacted_options();
        assert_eq!(r["sasl.password"], "[redacted]");
        assert_eq!(r["ssl.key.password"], "[redacted]");
        assert_eq!(r["SASL.USERNAME"], "[redacted]");
        assert_eq!(r["client.id"], "ms");
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn problems_are_reported_with_their_keys() {
        let mut errors = ConfigErrors::default();
        config(
            vec![
                ("a", "canonical"),
                ("a", "mds"),
                ("modeshare.dead-letter", "canonical"),
            ],
            &[("enable.auto.offset.store", "true")],
        )
        .validate(&mut errors);
        let text = errors.to_string();
        for want in [
            "kafka.topics[1].name: \"a\" is listed twice",
            "kafka.topics[2].name: is the dead-letter topic",
            "kafka.options.\"enable.auto.offset.store\"",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
    }

    /// The TLS + SASL/SCRAM example of docs/operations.md#from-kafka: librdkafka refuses to
    /// create a client for it when TLS is not compiled in, so creating one proves the build
    /// supports it.
    #[test]
    fn tls_and_sasl_scram_are_compiled_in() {
        use rdkafka::consumer::BaseConsumer;
        use rdkafka::producer::BaseProducer;
        let mut errors = ConfigErrors::default();
        let s = config(
            vec![("t", "canonical")],
            &[
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "modeshare"),
                ("sasl.password", "secret"),
            ],
        )
        .validate(&mut errors);
        assert!(errors.is_empty(), "{errors}");
        let consumer: Result<BaseConsumer, _> = s.consumer_config().create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
        let producer: Result<BaseProducer, _> = s.producer_config().create();
        assert!(producer.is_ok(), "{:?}", producer.err());
    }

    #[test]
    fn options_win_over_defaults_and_consumer_options_stay_off_the_producer() {
        let mut errors = ConfigErrors::default();
        let s = config(
            vec![("t", "canonical")],
            &[
                ("auto.offset.reset", "latest"),
                ("session.timeout.ms", "6000"),
            ],
        )
        .validate(&mut errors);
        assert!(errors.is_empty(), "{errors}");
        let c = s.consumer_config();
        assert_eq!(c.get("auto.offset.reset"), Some("latest"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(s.producer_config().get("session.timeout.ms"), None);
    }
}
