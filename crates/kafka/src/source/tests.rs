use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    KafkaSource, PartitionBatch, Record, SourceEvent, StartAt, StartError, StartPositions,
};
use crate::config::{KafkaOptions, KafkaSettings, TopicConfig};

fn batch() -> PartitionBatch {
    let mut batch = PartitionBatch::new(Arc::from("events"), 3);
    batch.push(Some(b"source-a"), b"{\"id\":\"1\"}", 10);
    // No key, an empty payload (a tombstone), an empty key.
    batch.push(None, b"{\"id\":\"2\"}", 11);
    batch.push(Some(b"source-b"), b"", 12);
    batch.push(Some(b""), b"{\"id\":\"4\"}", 14);
    batch
}

#[test]
fn records_come_back_as_pushed() {
    let batch = batch();
    assert_eq!(batch.len(), 4);
    let records: Vec<Record<'_>> = batch.records_from(i64::MIN).collect();
    assert_eq!(
        records,
        [
            Record {
                key: Some(b"source-a"),
                payload: b"{\"id\":\"1\"}",
                offset: 10
            },
            Record {
                key: None,
                payload: b"{\"id\":\"2\"}",
                offset: 11
            },
            Record {
                key: Some(b"source-b"),
                payload: b"",
                offset: 12
            },
            Record {
                key: Some(b""),
                payload: b"{\"id\":\"4\"}",
                offset: 14
            },
        ]
    );
}

#[test]
fn records_from_an_offset_skip_the_earlier_ones() {
    let batch = batch();
    let offsets = |from| {
        batch
            .records_from(from)
            .map(|r| r.offset)
            .collect::<Vec<_>>()
    };
    assert_eq!(offsets(i64::MIN), [10, 11, 12, 14]);
    assert_eq!(offsets(11), [11, 12, 14]);
    assert_eq!(
        offsets(13),
        [14],
        "a gap in the offsets (a compacted or aborted record)"
    );
    assert!(offsets(15).is_empty());
    assert_eq!(batch.records_from(12).len(), 2);
    assert_eq!(
        batch.records_from(12).next_back().map(|r| r.payload),
        Some(&b"{\"id\":\"4\"}"[..])
    );
    assert!(PartitionBatch::new(Arc::from("events"), 0).is_empty());
}

/// Every partition from its beginning.
struct FromTheBeginning;

impl StartPositions for FromTheBeginning {
    fn start(
        &self,
        _topic: &str,
        _partition: i32,
        _committed: &mut dyn FnMut() -> Result<Option<i64>, KafkaError>,
    ) -> Result<StartAt, StartError> {
        Ok(StartAt::Beginning)
    }
}

/// The source's loop has no timer while nothing is buffered, so it must be told of a
/// rebalance: an assignment on a topic with no messages is still passed on (the rebalance
/// callback runs inside the wait for a message, which goes on waiting after it), and three
/// records, far fewer than a batch holds, go out once they have waited their linger. On
/// librdkafka's mock cluster, owned by this test.
#[test]
fn an_assignment_without_messages_is_passed_on_and_a_few_records_after_their_linger() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", 2, 1).unwrap();
    let settings = KafkaSettings {
        brokers: cluster.bootstrap_servers(),
        group_id: "source-wakes".into(),
        dead_letter_topic: "dead".into(),
        create_dead_letter_topic: false,
        providers_topic: "providers".into(),
        create_providers_topic: false,
        options: KafkaOptions::default(),
        topics: vec![TopicConfig {
            name: "events".into(),
            format: "canonical".into(),
        }],
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (sender, mut events) = mpsc::channel::<SourceEvent>(16);
    let shutdown = CancellationToken::new();
    let source = {
        let _entered = runtime.enter();
        KafkaSource::connect(&settings, Arc::new(FromTheBeginning)).unwrap()
    };
    let stop = shutdown.clone();
    let running = runtime.spawn(async move { source.run(sender, stop).await });
    let next = |events: &mut mpsc::Receiver<SourceEvent>, what: &str| {
        runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(60), events.recv()).await })
            .unwrap_or_else(|_| panic!("no {what} within 60 s"))
            .unwrap()
    };

    let mut assigned = match next(&mut events, "assignment") {
        SourceEvent::Assigned(parts) => parts,
        other => panic!("expected the assignment, got {other:?}"),
    };
    assigned.sort();
    assert_eq!(
        assigned,
        [("events".to_owned(), 0), ("events".to_owned(), 1)]
    );

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .unwrap();
    for i in 0..3 {
        let payload = format!("{{\"id\":\"{i}\"}}");
        producer
            .send(
                BaseRecord::<(), _>::to("events")
                    .partition(0)
                    .payload(&payload),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let batch = match next(&mut events, "batch") {
        SourceEvent::Records(batch) => batch,
        other => panic!("expected the records, got {other:?}"),
    };
    assert_eq!(batch.partition, 0);
    let payloads: Vec<&[u8]> = batch.records_from(i64::MIN).map(|r| r.payload).collect();
    assert_eq!(
        payloads,
        [&b"{\"id\":\"0\"}"[..], b"{\"id\":\"1\"}", b"{\"id\":\"2\"}"]
    );

    shutdown.cancel();
    let stopped = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), running).await })
        .expect("the source stops on shutdown");
    assert!(matches!(stopped, Ok(Ok(()))), "{stopped:?}");
}
