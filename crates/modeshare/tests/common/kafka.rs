//! The project's Kafka-protocol broker for tests (tansu, started by `scripts/broker.sh`), and
//! helpers to configure `modeshare run` against it, send messages and read topics back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use modeshare_kafka::EventProducer;
use modeshare_kafka::config::KafkaOptions;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};

use super::{Service, golden, repo_root, unique};

/// A fresh topic on the shared broker and a configuration (the golden settings) that consumes
/// it with its own group, dead-letter topic and state folder.
pub struct GoldenTopic {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub dead: String,
    /// The configuration's folder; its `state` holds the checkpoints.
    pub dir: PathBuf,
    pub config: PathBuf,
}

impl GoldenTopic {
    pub fn new(name: &str, partitions: u32) -> GoldenTopic {
        let brokers = broker();
        let (topic, group, dead) = (unique(name), unique("group"), unique("dead"));
        create_topic(&topic, partitions);
        let (dir, config) = kafka_config(&brokers, &group, &dead, &topic, "", true);
        GoldenTopic {
            brokers,
            topic,
            group,
            dead,
            dir,
            config,
        }
    }

    /// `modeshare run` with this configuration and the golden zones.
    pub fn service(&self) -> Service {
        self.service_with(&[])
    }

    /// The same with more environment variables.
    pub fn service_with(&self, env: &[(String, String)]) -> Service {
        self.command("run", env)
    }

    /// `modeshare serve`: the view this group's instances publish.
    pub fn serve_with(&self, env: &[(String, String)]) -> Service {
        self.command("serve", env)
    }

    fn command(&self, command: &str, env: &[(String, String)]) -> Service {
        let zones = golden("zones.geojson");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Service::start_command(
            command,
            &[
                "--config",
                self.config.to_str().unwrap(),
                "--zones",
                zones.to_str().unwrap(),
            ],
            &env,
        )
    }

    /// The same topic read by another group (its own checkpoints and view): one more, separate
    /// reading of the same events.
    pub fn another_group(&self) -> GoldenTopic {
        let (group, dead) = (unique("group"), unique("dead"));
        let (dir, config) = kafka_config(&self.brokers, &group, &dead, &self.topic, "", true);
        GoldenTopic {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            group,
            dead,
            dir,
            config,
        }
    }

    /// The checkpoint file of a partition.
    pub fn checkpoint(&self, partition: i32) -> PathBuf {
        self.dir.join(format!(
            "state/{}/{}/{partition}.ckpt",
            self.group, self.topic
        ))
    }
}

/// Whether a partition's checkpoint file holds saved state (each assignment writes its claim at
/// once, with no state until the first checkpoint).
pub fn holds_state(file: &Path) -> bool {
    std::fs::read(file).is_ok_and(|bytes| {
        modeshare::checkpoint_claim::decode(&bytes).is_ok_and(|c| !c.checkpoint.is_empty())
    })
}

pub fn broker_port() -> String {
    std::env::var("MODESHARE_TEST_BROKER_PORT").unwrap_or_else(|_| "19092".into())
}

/// Starts the project's broker (installing it when missing) and returns its address.
pub fn broker() -> String {
    let port = broker_port();
    let status = Command::new(repo_root().join("scripts/broker.sh"))
        .args(["start", &port])
        .status()
        .unwrap();
    assert!(status.success(), "scripts/broker.sh start {port} failed");
    format!("127.0.0.1:{port}")
}

pub fn create_topic(name: &str, partitions: u32) {
    create_topic_on(name, partitions, &broker_port());
}

/// Writes a configuration consuming `topic` (on top of the golden one when `golden_settings`),
/// with a short session timeout so that rebalances are quick, checkpoints every 200 ms in
/// the folder's `state`, and the instances' parts of the view shared every 500 ms; returns its
/// folder and path.
pub fn kafka_config(
    brokers: &str,
    group: &str,
    dead: &str,
    topic: &str,
    options: &str,
    golden_settings: bool,
) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(unique("config"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("kafka.toml");
    let base = if golden_settings {
        std::fs::read_to_string(golden("config.toml")).unwrap()
    } else {
        String::new()
    };
    let state = dir.join("state");
    let text = format!(
        "{base}\n[state]\ndir = {state:?}\ninterval = \"200ms\"\n[view]\ninterval = \"500ms\"\n[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{group}\"\ndead_letter_topic = \"{dead}\"\n\
         [kafka.options]\n\"session.timeout.ms\" = \"6000\"\n{options}[[kafka.topics]]\nname = \"{topic}\"\nformat = \"canonical\"\n"
    );
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

/// Sends messages with a fresh producer and waits for their delivery; returns how many were
/// delivered (failures are reported on stderr). Not idempotent: the tests count exact messages,
/// and the local broker's idempotence writes duplicates (see
/// `EventProducer::connect_without_idempotence`).
pub fn send(brokers: &str, topic: &str, messages: &[(Option<Vec<u8>>, Vec<u8>)]) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let producer =
        EventProducer::connect_without_idempotence(brokers, &KafkaOptions::default()).unwrap();
    let (sent, failure) = runtime.block_on(producer.send_all(topic, messages));
    if let Some(e) = failure {
        eprintln!("sending to {topic} failed after {sent} messages: {e}");
    }
    sent
}

/// The golden input as messages: one per non-blank line, keyed by its `source` when that can
/// be read (as `modeshare produce` does), unkeyed otherwise.
pub fn golden_messages() -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
    let bytes = std::fs::read(golden("events.ndjson")).unwrap();
    bytes
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| {
            let key = serde_json::from_slice::<serde_json::Value>(l)
                .ok()
                .and_then(|v| {
                    v.get("source")
                        .and_then(|s| s.as_str())
                        .map(|s| s.as_bytes().to_vec())
                });
            (key, l.to_vec())
        })
        .collect()
}

/// A message read back: its headers (as text) and payload.
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub payload: Vec<u8>,
}

/// The messages of a topic from the beginning: read until `expected` arrived and then nothing
/// more for 2 s (so extra messages are seen too), or until the deadline.
pub fn read_topic(brokers: &str, topic: &str, expected: usize, seconds: u64) -> Vec<Received> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        let wait = if received.len() >= expected {
            2000
        } else {
            200
        };
        match consumer.poll(Duration::from_millis(wait)) {
            Some(Ok(m)) => received.push(Received {
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                let value =
                                    h.value.map(String::from_utf8_lossy).unwrap_or_default();
                                (h.key.to_owned(), value.into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                payload: m.payload().unwrap_or_default().to_vec(),
            }),
            _ if received.len() >= expected => break,
            _ => {}
        }
    }
    received
}

pub fn create_topic_on(name: &str, partitions: u32, port: &str) {
    let status = Command::new(repo_root().join("scripts/broker.sh"))
        .args(["topic", name, &partitions.to_string(), port])
        .status()
        .unwrap();
    assert!(status.success(), "creating topic {name} failed");
}

/// Sends payloads to one partition of a topic and waits for their delivery (a producer that
/// allows messages up to 4 MB); how many were delivered.
pub fn send_to_partition(
    brokers: &str,
    topic: &str,
    partition: i32,
    payloads: &[Vec<u8>],
) -> usize {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "4000000")
        .create()
        .unwrap();
    runtime.block_on(async {
        let mut delivered = 0;
        for payload in payloads {
            let record = FutureRecord::<(), _>::to(topic)
                .partition(partition)
                .payload(payload);
            match producer.send(record, Duration::from_secs(30)).await {
                Ok(_) => delivered += 1,
                Err((e, _)) => eprintln!("sending to {topic}/{partition} failed: {e}"),
            }
        }
        delivered
    })
}

/// A valid canonical trip (in 2024, in Bærum) with this id.
pub fn valid_trip(id: &str) -> Vec<u8> {
    format!(
        r#"{{"kind":"trip","id":"{id}","source":"voi","mode":"bicycle","start_time":1714608000000,"origin":{{"lat":59.89,"lon":10.62}}}}"#
    )
    .into_bytes()
}
