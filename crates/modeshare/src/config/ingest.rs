//! `[ingest]`: the operators' ingest listener, on when at least one `[[ingest.operators]]` is
//! configured. Each operator has a name, the sources it may write, and the SHA-256 hashes of
//! its tokens (never a token).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use modeshare_core::vocabulary::{ConfigErrors, DurationMs};
use modeshare_http::auth::TokenHashes;
use modeshare_http::ingest::Operator;
use modeshare_kafka::KafkaSettings;
use serde::Deserialize;

use super::TlsConfig;

/// `[ingest]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// The listener's address.
    pub listen: String,
    /// Serve plain HTTP on an address other than loopback (behind a proxy that terminates TLS).
    pub allow_plain_http: bool,
    /// TLS: the listener serves HTTPS when both are set.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// With `[kafka]`: the `[[kafka.topics]]` entry (format `canonical`) pushed events are
    /// produced to.
    #[serde(default)]
    pub topic: Option<String>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// How long a push waits for the broker to confirm its events before it is answered 503.
    pub delivery_timeout: String,
    /// Requests per second each operator may send on average...
    pub requests_per_second: f64,
    /// ...and at once.
    pub burst: u32,
    /// Without `[kafka]`: bytes the spool may hold before pushes are answered 503.
    pub spool_max_bytes: u64,
    #[serde(default)]
    pub operators: Vec<OperatorConfig>,
}

/// One `[[ingest.operators]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    pub name: String,
    /// The sources it may write.
    pub sources: Vec<String>,
    /// SHA-256 hashes (hex) of its tokens; several, so that a token can be rotated. Also from
    /// a file (`token_sha256_file`, one per line).
    #[serde(default)]
    pub token_sha256: Vec<String>,
}

/// The validated `[ingest]`, when an operator or a provider is configured (the listener is on
/// only with operators).
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub listen: SocketAddr,
    /// The certificate chain and key, when the listener serves HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// With `[kafka]`, the topic pushed events are produced to.
    pub topic: Option<String>,
    pub max_body_bytes: usize,
    pub delivery_timeout: Duration,
    pub requests_per_second: f64,
    pub burst: u32,
    pub spool_max_bytes: u64,
    pub operators: Vec<Operator>,
}

impl IngestConfig {
    pub(super) fn validate(
        &self,
        kafka: Option<&KafkaSettings>,
        formats_of_topics: &dyn Fn(&str) -> Option<String>,
        polled: bool,
        errors: &mut ConfigErrors,
    ) -> Option<IngestSettings> {
        // Polled trips take the push path too (the ingest topic, or the spool).
        if self.operators.is_empty() && !polled {
            return None;
        }
        let listen = self.listen.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(
                "ingest.listen",
                format!(
                    "{:?} is not an address like \"127.0.0.1:9465\"",
                    self.listen
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 0))
        });
        let tls = self.tls.as_ref().map(|t| (t.cert.clone(), t.key.clone()));
        match &tls {
            Some((cert, key)) => {
                if let Err(e) = modeshare_http::tls::acceptor(cert, key) {
                    errors.push("ingest.tls", e.to_string());
                }
            }
            None if !listen.ip().is_loopback() && !self.allow_plain_http => errors.push(
                "ingest.listen",
                format!(
                    "{listen} is not a loopback address, and operators' tokens and trips would \
                     cross the network in plain text: set [ingest.tls] cert and key, or \
                     allow_plain_http = true behind a proxy that terminates TLS"
                ),
            ),
            None => {}
        }
        let delivery_timeout = errors.duration(
            "ingest.delivery_timeout",
            &self.delivery_timeout,
            DurationMs(100)..=DurationMs(300_000),
        );
        if self.max_body_bytes < 1024 {
            errors.push("ingest.max_body_bytes", "must be at least 1024 bytes");
        }
        if !(self.requests_per_second.is_finite() && self.requests_per_second > 0.0) {
            errors.push("ingest.requests_per_second", "must be a positive number");
        }
        if self.burst == 0 {
            errors.push("ingest.burst", "must be at least 1");
        }
        let topic = self.topic_checked(kafka, formats_of_topics, errors);
        Some(IngestSettings {
            listen,
            tls,
            topic,
            max_body_bytes: self.max_body_bytes,
            delivery_timeout: Duration::from_millis(delivery_timeout.0.unsigned_abs()),
            requests_per_second: self.requests_per_second,
            burst: self.burst,
            spool_max_bytes: self.spool_max_bytes,
            operators: self.operators_checked(errors),
        })
    }

    /// With `[kafka]`, the ingest topic: configured, and one of the canonical topics.
    fn topic_checked(
        &self,
        kafka: Option<&KafkaSettings>,
        formats_of_topics: &dyn Fn(&str) -> Option<String>,
        errors: &mut ConfigErrors,
    ) -> Option<String> {
        let kafka = kafka?;
        let Some(topic) = &self.topic else {
            errors.push(
                "ingest.topic",
                "is needed with [kafka]: name the [[kafka.topics]] entry (format \"canonical\") \
                 pushed events are produced to",
            );
            return None;
        };
        match formats_of_topics(topic) {
            Some(format) if format == "canonical" => {}
            Some(format) => errors.push(
                "ingest.topic",
                format!(
                    "{topic:?} is read as {format:?}; pushed events are canonical: give it format \"canonical\""
                ),
            ),
            None => errors.push(
                "ingest.topic",
                format!(
                    "{topic:?} is not one of [[kafka.topics]] ({}): the service would not read what \
                     operators push",
                    kafka
                        .topics
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
        Some(topic.clone())
    }

    /// Every operator: a unique name, sources no other operator writes, tokens only it holds.
    fn operators_checked(&self, errors: &mut ConfigErrors) -> Vec<Operator> {
        let mut operators: Vec<Operator> = Vec::new();
        for (i, o) in self.operators.iter().enumerate() {
            let key = |field: &str| format!("ingest.operators[{i}].{field}");
            if o.name.trim().is_empty() || o.name.len() > 64 {
                errors.push(key("name"), "must be a name of 1 to 64 bytes");
            }
            if operators.iter().any(|other| other.name == o.name) {
                errors.push(key("name"), format!("{:?} is configured twice", o.name));
            }
            if o.sources.is_empty() {
                errors.push(
                    key("sources"),
                    "lists no source: the operator could write nothing",
                );
            }
            for source in &o.sources {
                if source.trim() != source || source.is_empty() || source.len() > 64 {
                    errors.push(key("sources"), format!("{source:?} is not a source name"));
                }
                if let Some(other) = operators.iter().find(|p| p.sources.contains(source)) {
                    errors.push(
                        key("sources"),
                        format!(
                            "{source:?} is also operator {:?}'s: a source has one operator, so that \
                             no operator can change another's counts",
                            other.name
                        ),
                    );
                }
            }
            let tokens = TokenHashes::parse(&o.token_sha256).unwrap_or_else(|e| {
                errors.push(key("token_sha256"), e.to_string());
                TokenHashes::default()
            });
            if o.token_sha256.is_empty() {
                errors.push(
                    key("token_sha256"),
                    format!(
                        "lists no token hash: operator {:?} could not push (make one with \
                         `modeshare token new {}`)",
                        o.name, o.name
                    ),
                );
            }
            let normalized = |h: &String| h.trim().to_ascii_lowercase();
            for (j, earlier) in self.operators[..i].iter().enumerate() {
                if earlier.token_sha256.iter().any(|h| {
                    o.token_sha256
                        .iter()
                        .any(|m| normalized(m) == normalized(h))
                }) {
                    errors.push(
                        key("token_sha256"),
                        format!("shares a token hash with ingest.operators[{j}]: each token names one operator"),
                    );
                }
            }
            operators.push(Operator {
                name: o.name.clone(),
                sources: o.sources.clone(),
                tokens,
            });
        }
        operators
    }
}
