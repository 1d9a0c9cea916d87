//! The service's own topics — the dead-letter topic, the providers' control topic — created when
//! missing, since brokers may not auto-create topics and a control topic must be compacted.
//! The brokers may be away when the service starts: creation is retried in the background.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaResult, RDKafkaErrorCode};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::KafkaSettings;

/// A topic the service creates when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnTopic {
    pub name: String,
    pub partitions: i32,
    /// Topic configuration set at creation (`cleanup.policy`).
    pub config: Vec<(&'static str, &'static str)>,
    /// What it is, for the log: "dead-letter", "providers' control".
    pub what: &'static str,
}

impl OwnTopic {
    /// The dead-letter topic: one partition, the brokers' default retention.
    pub fn dead_letters(settings: &KafkaSettings) -> OwnTopic {
        OwnTopic {
            name: settings.dead_letter_topic.clone(),
            partitions: 1,
            config: Vec::new(),
            what: "dead-letter",
        }
    }

    /// The providers' control topic: one partition (the lease), compacted, so that it keeps
    /// each provider's latest cursor however long the service runs.
    pub fn providers(settings: &KafkaSettings) -> OwnTopic {
        OwnTopic {
            name: settings.providers_topic.clone(),
            partitions: 1,
            config: vec![("cleanup.policy", "compact")],
            what: "providers' control",
        }
    }

    /// Creates the topic unless it exists.
    pub async fn ensure(&self, settings: &KafkaSettings) -> KafkaResult<()> {
        let admin: AdminClient<DefaultClientContext> = settings.producer_config().create()?;
        let mut topic = NewTopic::new(&self.name, self.partitions, TopicReplication::Fixed(-1));
        for (key, value) in &self.config {
            topic = topic.set(key, value);
        }
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics([&topic], &options).await? {
            match result {
                Ok(name) => info!(topic = %name, "created the {} topic", self.what),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    warn!(topic = %name, error = %code, "could not create the {} topic", self.what)
                }
            }
        }
        Ok(())
    }

    /// [`OwnTopic::ensure`], retried with backoff until it is answered or `stop`: until the
    /// topic exists, what writes to it retries too.
    pub async fn keep_ensuring(self, settings: KafkaSettings, stop: CancellationToken) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let attempt = tokio::time::timeout(Duration::from_secs(15), self.ensure(&settings));
            match attempt.await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => {
                    let error = settings.options.scrub(&e.to_string());
                    warn!(%error, topic = %self.name, "cannot check the {} topic yet", self.what)
                }
                Err(_) => {
                    warn!(topic = %self.name, "no broker answered about the {} topic yet", self.what)
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }
}
