//! `[kafka]`: brokers, the consumer group, topics with their formats, the dead-letter topic,
//! and librdkafka properties passed as-is — the values of secret ones (passwords, keys, SASL)
//! held as [`Secret`]s, so that no log line, `Debug` output or error message shows them.

use std::collections::BTreeMap;
use std::fmt;

use modeshare_core::vocabulary::{ConfigErrors, REDACTED, Secret};
use rdkafka::ClientConfig;
use serde::{Deserialize, Deserializer};

/// `[kafka]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port…]`.
    pub brokers: String,
    /// The consumer group; instances with the same group split the partitions.
    #[serde(default = "default_group_id")]
    pub group_id: String,
    /// Where rejected messages go, with their reason in headers.
    #[serde(default = "default_dead_letter_topic")]
    pub dead_letter_topic: String,
    /// Create the dead-letter topic when it is missing (off where the service may not create
    /// topics: then a missing topic holds checkpoints back until it exists).
    #[serde(default = "default_create_topic")]
    pub create_dead_letter_topic: bool,
    /// With `[[providers]]`: the control topic whose one partition is the providers' lease
    /// (the instance its consumer group assigns it to polls them all) and holds each
    /// provider's next hour to fetch; default `<group_id>.providers`.
    #[serde(default)]
    pub providers_topic: Option<String>,
    /// Create the providers' control topic (one partition, compacted) when it is missing.
    #[serde(default = "default_create_topic")]
    pub create_providers_topic: bool,
    /// librdkafka properties, passed as-is (they win over modeshare's defaults); the values of
    /// secret keys ([`is_secret`]) are redacted wherever they are shown.
    #[serde(default)]
    pub options: KafkaOptions,
    /// The topics to consume, each with its format.
    pub topics: Vec<TopicConfig>,
}

fn default_group_id() -> String {
    "modeshare".into()
}

fn default_dead_letter_topic() -> String {
    "modeshare.dead-letter".into()
}

fn default_create_topic() -> bool {
    true
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
    pub create_dead_letter_topic: bool,
    /// The providers' control topic (see [`crate::lease`]).
    pub providers_topic: String,
    pub create_providers_topic: bool,
    pub options: KafkaOptions,
    pub topics: Vec<TopicConfig>,
}

/// librdkafka properties: plain values, and the values of secret keys as [`Secret`]s.
/// `Debug` shows the secret ones as `[redacted]`.
#[derive(Clone, Default, PartialEq)]
pub struct KafkaOptions(BTreeMap<String, OptionValue>);

#[derive(Clone, PartialEq)]
enum OptionValue {
    Plain(String),
    Secret(Secret),
}

impl KafkaOptions {
    /// The properties, classifying each value by its key.
    pub fn new<K: Into<String>, V: Into<String>>(
        options: impl IntoIterator<Item = (K, V)>,
    ) -> KafkaOptions {
        KafkaOptions(
            options
                .into_iter()
                .map(|(k, v)| {
                    let k = k.into();
                    let v = if is_secret(&k) {
                        OptionValue::Secret(Secret::new(v))
                    } else {
                        OptionValue::Plain(v.into())
                    };
                    (k, v)
                })
                .collect(),
        )
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The value of a property as librdkafka needs it; a secret's value too.
    pub fn get_exposed(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(OptionValue::exposed)
    }

    /// Every property with its real value, for a client's configuration only.
    fn exposed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.exposed()))
    }

    /// The properties with secret values replaced, for logs.
    pub fn redacted(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| {
                let shown = match v {
                    OptionValue::Plain(p) => p.clone(),
                    OptionValue::Secret(_) => REDACTED.to_owned(),
                };
                (k.clone(), shown)
            })
            .collect()
    }

    /// `text` (a librdkafka error, which may quote a value it was given) with every secret
    /// value replaced.
    pub fn scrub(&self, text: &str) -> String {
        self.0.values().fold(text.to_owned(), |t, v| match v {
            OptionValue::Secret(s) => s.scrub(&t),
            OptionValue::Plain(_) => t,
        })
    }
}

impl OptionValue {
    fn exposed(&self) -> &str {
        match self {
            OptionValue::Plain(p) => p,
            OptionValue::Secret(s) => s.expose(),
        }
    }
}

impl fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}

/// A property's value as written: librdkafka takes text, so numbers and booleans are read as
/// their text (`"session.timeout.ms" = 6000`), and no value is ever quoted back in an error.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl From<Written> for String {
    fn from(w: Written) -> String {
        match w {
            Written::Text(t) => t,
            Written::Integer(i) => i.to_string(),
            Written::Float(f) => f.to_string(),
            Written::Bool(b) => b.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for KafkaOptions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<KafkaOptions, D::Error> {
        BTreeMap::<String, Written>::deserialize(deserializer).map(KafkaOptions::new)
    }
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
        let providers_topic = self
            .providers_topic
            .clone()
            .unwrap_or_else(|| format!("{}{PROVIDERS_SUFFIX}", self.group_id));
        if providers_topic.trim().is_empty() {
            errors.push("kafka.providers_topic", "must not be empty");
        }
        if providers_topic == self.dead_letter_topic
            || self.topics.iter().any(|t| t.name == providers_topic)
        {
            errors.push(
                "kafka.providers_topic",
                format!(
                    "{providers_topic:?} is another topic of the service: the providers' cursors need a topic of their own"
                ),
            );
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
            create_dead_letter_topic: self.create_dead_letter_topic,
            providers_topic,
            create_providers_topic: self.create_providers_topic,
            options: self.options.clone(),
            topics: self.topics.clone(),
        }
    }
}

/// The providers' control topic and its consumer group are named after the service's group.
pub const PROVIDERS_SUFFIX: &str = ".providers";

/// Whether a property's value must not be shown: the known secret keys `ssl.key.pem`,
/// `ssl.keystore.password`, every `sasl.*`, and every key that names a password or a secret
/// (`ssl.key.password`, `sasl.oauthbearer.client.secret`, …).
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "ssl.key.pem"
        || k == "ssl.keystore.password"
        || k.starts_with("sasl.")
        || k.contains("password")
        || k.contains("secret")
}

impl KafkaSettings {
    /// The properties with secret values replaced, for logs.
    pub fn redacted_options(&self) -> BTreeMap<String, String> {
        self.options.redacted()
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
        for (k, v) in self.options.exposed() {
            c.set(k, v);
        }
        c
    }

    /// The consumer group of the providers' lease: the service's group named with
    /// [`PROVIDERS_SUFFIX`], so that its members are the same instances.
    pub fn lease_group_id(&self) -> String {
        format!("{}{PROVIDERS_SUFFIX}", self.group_id)
    }

    /// The lease consumer's configuration: the consumer's, in the lease's own group, told when
    /// it reaches the end of the control partition, without statistics, and always
    /// cooperative-sticky: an instance that joins or leaves does not take the lease from the
    /// holder, only the holder's leaving (or its lost session) hands it over. Every member of
    /// the lease group runs this same assignor, whatever `options` choose for the events.
    pub fn lease_consumer_config(&self) -> ClientConfig {
        let mut c = self.consumer_config();
        c.set("group.id", self.lease_group_id())
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "0")
            .set("partition.assignment.strategy", "cooperative-sticky");
        c
    }

    /// The dead-letter producer's configuration: every replica acknowledges. Not idempotent:
    /// the dead-letter topic may repeat a message anyway, and idempotence costs a producer id
    /// that some Kafka-protocol brokers mishandle across their restarts.
    pub fn producer_config(&self) -> ClientConfig {
        producer_config(&self.brokers, &self.options, false)
    }
}

/// A producer's configuration (the dead-letter producer's, `modeshare produce`'s): every
/// replica acknowledges, idempotent when asked (no duplicates from retries), then `options`
/// without the consumer's own properties.
pub fn producer_config(brokers: &str, options: &KafkaOptions, idempotent: bool) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set(
            "enable.idempotence",
            if idempotent { "true" } else { "false" },
        )
        .set("acks", "all")
        .set("message.timeout.ms", "30000");
    for (k, v) in options.exposed().filter(|(k, _)| !is_consumer_only(k)) {
        c.set(k, v);
    }
    c
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
            create_dead_letter_topic: true,
            providers_topic: None,
            create_providers_topic: true,
            options: KafkaOptions::new(options.iter().copied()),
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
