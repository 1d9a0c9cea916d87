//! The Kafka path end to end against a real Kafka-protocol broker (tansu, started by
//! `scripts/broker.sh`): the golden input keyed by source over 4 partitions, with bad lines
//! and re-sent duplicates, consumed by `modeshare run`; `/api/report` must equal the replay of
//! the same input, and the dead-letter topic must hold exactly the rejected messages.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;

use common::kafka::{
    GoldenTopic, broker, broker_port, create_topic, create_topic_on, golden_messages, kafka_config,
    read_topic, send,
};
use common::{
    Service, Tool, assert_report_equals, assert_report_equals_replay, golden, metrics, rejections,
    replay_report, repo_root, requires, sum, unique,
};

#[test]
#[allow(clippy::unwrap_used)]
fn consumes_dead_letters_and_matches_replay() {
    requires!(Tool::Broker);
    let case = GoldenTopic::new("events", 4);
    let (brokers, topic, dead) = (&case.brokers, case.topic.as_str(), &case.dead);
    let messages = golden_messages();
    assert_eq!(send(brokers, topic, &messages), messages.len());

    // The topic is filled before the service starts, so batches of several partitions wait
    // together and are applied on threads of their own: more threads than this machine may have
    // cores, so that they do on any machine.
    let service = case.service_with(&[("MODESHARE__RUN__THREADS".into(), "4".into())]);

    assert_report_equals_replay(&service, 90);
    let expected = replay_report();

    // Lag and broker state are published; every partition was consumed to its end.
    let m = service.wait_for("zero lag on all 4 assigned partitions", 30, |s| {
        let m = metrics(&s.get("/metrics").1);
        let partitions = m
            .keys()
            .filter(|(n, l)| {
                n == "modeshare_kafka_consumer_lag" && l.get("topic") == Some(&case.topic)
            })
            .count();
        let assigned = sum(
            &m,
            "modeshare_kafka_assigned_partitions",
            &[("topic", topic)],
        );
        (partitions == 4
            && assigned == 4.0
            && sum(&m, "modeshare_kafka_consumer_lag", &[("topic", topic)]) == 0.0)
            .then_some(m)
    });
    assert_eq!(sum(&m, "modeshare_kafka_connected", &[]), 1.0);
    assert!(
        sum(
            &m,
            "modeshare_source_last_event_timestamp_seconds",
            &[("source", "oslobysykkel")]
        ) > 1.7e9
    );
    assert_eq!(service.json("/healthz")["status"], "ok");

    // The dead-letter topic holds exactly the rejected messages, bytes unchanged, with reasons.
    let expected_rejected = expected["events"]["rejected"].as_u64().unwrap() as usize;
    let letters = read_topic(brokers, dead, expected_rejected, 60);
    assert_eq!(letters.len(), expected_rejected, "dead letters");
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    for letter in &letters {
        *reasons
            .entry(letter.headers["modeshare.reason"].clone())
            .or_default() += 1;
        assert_eq!(letter.headers["modeshare.source.topic"], topic);
        assert!(!letter.headers["modeshare.message"].is_empty());
        assert!(
            messages.iter().any(|(_, p)| *p == letter.payload),
            "a dead letter that was never sent"
        );
    }
    let want = rejections(&expected);
    assert_eq!(reasons, want);

    service.stop("TERM", 20);
    std::fs::remove_dir_all(&case.dir).unwrap();
}

/// `modeshare produce` refuses input with rejected events unless told otherwise, and then
/// sends exactly the valid ones.
#[test]
#[allow(clippy::unwrap_used)]
fn produce_sends_only_valid_events() {
    requires!(Tool::Broker);
    let brokers = broker();
    let topic = unique("produced");
    create_topic(&topic, 2);
    let produce = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_modeshare"))
            .args(["produce", "--config"])
            .arg(golden("config.toml"))
            .args(["--brokers", &brokers, "--topic", &topic])
            .args(extra)
            .arg(golden("events.ndjson"))
            .output()
            .unwrap()
    };
    let expected = replay_report();
    let valid = (expected["events"]["read"].as_u64().unwrap()
        - expected["events"]["rejected"].as_u64().unwrap()) as usize;

    let refused = produce(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("nothing was sent")
            && stderr.contains("bad_time")
            && stderr.contains("e.g."),
        "{stderr}"
    );
    assert_eq!(
        read_topic(&brokers, &topic, 0, 3).len(),
        0,
        "refused input must send nothing"
    );

    let sent = produce(&["--allow-rejects"]);
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert_eq!(sent.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("sent {valid} of {valid} valid events")),
        "{stderr}"
    );
    assert_eq!(read_topic(&brokers, &topic, valid, 30).len(), valid);
}

/// `produce --config` uses the file's `[kafka.options]`: a secret read from a `_file` key
/// reaches librdkafka (whose refusal of the TLS settings stops `produce` before it sends), and
/// is never shown. No broker needed: the options are refused when the producer is made.
#[test]
#[allow(clippy::unwrap_used)]
fn produce_takes_the_configured_options_and_never_shows_a_secret() {
    let dir = common::TempDir::new("produce-options");
    let secret = "pr0duce-s3cret-passw0rd";
    let password = dir.path().join("key-password");
    std::fs::write(&password, secret).unwrap();
    let config = dir.path().join("kafka.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"127.0.0.1:1\"\n[kafka.options]\n\
             \"security.protocol\" = \"SSL\"\n\
             \"ssl.key.location\" = \"/nonexistent/modeshare-client.key\"\n\
             \"ssl.key.password_file\" = {password:?}\n\
             [[kafka.topics]]\nname = \"events\"\n"
        ),
    )
    .unwrap();
    let events = dir.path().join("events.ndjson");
    std::fs::write(&events, common::kafka::valid_trip("p-1")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["produce", "--config"])
        .arg(&config)
        .args(["--topic", "events"])
        .arg(&events)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ssl.key.location"), "{stderr}");
    assert!(!stderr.contains(secret), "the secret was shown: {stderr}");
}

/// `produce` is idempotent and every replica acknowledges. A send that spans a broker restart
/// never loses an event silently: it delivers all, or says how many were delivered before it
/// failed and exits 1, and the topic holds at least those, none twice; after the restart a new
/// `produce` is served. (On the local broker, tansu 0.6.0, the producer's session does not
/// survive the restart: the next batch is answered with an unknown server error, so the
/// first send ends with exit 1; the broker itself stays up.)
#[test]
#[allow(clippy::unwrap_used)]
fn produce_across_a_broker_restart_loses_nothing_silently() {
    requires!(Tool::Broker);
    broker(); // the broker binary is installed
    // A broker of this test's own: it is stopped and started mid-send.
    // Tests run at once: each that stops its broker has a port of its own.
    let port = (broker_port().parse::<u16>().unwrap() + 3).to_string();
    let script = repo_root().join("scripts/broker.sh");
    let broker_sh = |command: &str| {
        let status = Command::new(&script)
            .args([command, &port])
            .status()
            .unwrap();
        assert!(status.success(), "scripts/broker.sh {command} {port}");
    };
    broker_sh("start");
    let brokers = format!("127.0.0.1:{port}");
    let topic = unique("produced-restart");
    create_topic_on(&topic, 2, &port);
    let dir = common::TempDir::new("produce-restart");
    let config = dir.path().join("kafka.toml");
    std::fs::write(
        &config,
        format!(
            // One message a request, so that sending takes long enough to restart the broker in
            // the middle of it.
            "[kafka]\nbrokers = \"{brokers}\"\n[kafka.options]\n\"batch.num.messages\" = \"1\"\n\
             [[kafka.topics]]\nname = \"{topic}\"\n"
        ),
    )
    .unwrap();
    let events = dir.path().join("events.ndjson");
    let count = 20_000;
    let lines: Vec<u8> = (0..count)
        .flat_map(|i| {
            let mut line = common::kafka::valid_trip(&format!("r-{i}"));
            line.push(b'\n');
            line
        })
        .collect();
    std::fs::write(&events, lines).unwrap();
    let produce = || {
        Command::new(env!("CARGO_BIN_EXE_modeshare"))
            .args(["produce", "--config"])
            .arg(&config)
            .args(["--topic", &topic])
            .arg(&events)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = produce();
    // Restart the broker once the first messages are in, while the rest are on their way.
    let watermarks: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let stored = |topic: &str| -> i64 {
        (0..2)
            .filter_map(|p| {
                watermarks
                    .fetch_watermarks(topic, p, Duration::from_secs(2))
                    .ok()
            })
            .map(|(low, high)| high - low)
            .sum()
    };
    common::poll_until("the first messages", 60, || {
        (stored(&topic) > 0).then_some(())
    });
    assert!(
        first.try_wait().unwrap().is_none(),
        "produce ended before the broker stopped: send more events"
    );
    broker_sh("stop");
    broker_sh("start");
    let out = first.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("first send, across the restart:\n{stderr}");
    let sent: usize = stderr
        .split("sent ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of what was sent: {stderr}"));
    if sent == count {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("delivery failed after {sent} events")),
            "{stderr}"
        );
    }
    let received = read_topic(&brokers, &topic, sent, 120);
    let distinct: std::collections::BTreeSet<&[u8]> =
        received.iter().map(|r| r.payload.as_slice()).collect();
    assert!(
        received.len() >= sent,
        "{} of {sent} delivered events",
        received.len()
    );
    assert_eq!(distinct.len(), received.len(), "an event written twice");

    // The restarted broker serves a new idempotent producer.
    let before = stored(&topic);
    let out = produce().wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("sent {count} of {count} valid events")),
        "{stderr}"
    );
    assert_eq!(stored(&topic) - before, count as i64);
    drop(watermarks);
    broker_sh("stop");
}

/// No broker at start: the service serves and says it is degraded; once a broker appears on
/// that address it connects, consumes, and reports healthy. Then the broker goes away mid-run
/// and comes back (with its storage): degraded again, then recovered, nothing lost.
#[test]
#[allow(clippy::unwrap_used)]
fn degraded_without_a_broker_then_recovers() {
    requires!(Tool::Broker);
    broker(); // the broker binary is installed
    let port = (broker_port().parse::<u16>().unwrap() + 1).to_string();
    let script = repo_root().join("scripts/broker.sh");
    Command::new(&script)
        .args(["stop", &port])
        .status()
        .unwrap();
    let topic = unique("late-broker");
    let options = "\"reconnect.backoff.max.ms\" = \"500\"\n\"topic.metadata.refresh.interval.ms\" = \"1000\"\n";
    let (dir, config) = kafka_config(
        &format!("127.0.0.1:{port}"),
        &unique("group"),
        &unique("dead"),
        &topic,
        options,
        false,
    );
    let service = Service::start(&["--config", config.to_str().unwrap()]);
    service.wait_for("degraded health", 30, |s| {
        (s.json("/healthz")["status"] == "degraded").then_some(())
    });
    let m = metrics(&service.get("/metrics").1);
    assert_eq!(sum(&m, "modeshare_kafka_connected", &[]), 0.0);

    let started = Command::new(&script)
        .args(["start", &port])
        .status()
        .unwrap();
    assert!(started.success());
    create_topic_on(&topic, 1, &port);
    let brokers = format!("127.0.0.1:{port}");
    let event = br#"{"kind":"trip","id":"late-1","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","origin":{"lat":59.8937,"lon":10.6281}}"#;
    assert_eq!(
        send(&brokers, &topic, &[(Some(b"voi".to_vec()), event.to_vec())]),
        1
    );
    service.wait_for("recovery and the event", 90, |s| {
        let h = s.json("/healthz");
        (h["status"] == "ok" && h["events"]["accepted"] == 1).then_some(())
    });

    Command::new(&script)
        .args(["stop", &port])
        .status()
        .unwrap();
    service.wait_for("degraded health mid-run", 60, |s| {
        (s.json("/healthz")["status"] == "degraded").then_some(())
    });
    assert!(
        Command::new(&script)
            .args(["start", &port])
            .status()
            .unwrap()
            .success()
    );
    let second = String::from_utf8_lossy(event)
        .replace("late-1", "late-2")
        .into_bytes();
    // The restarted broker may refuse the first requests: retry this test's send briefly.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if send(&brokers, &topic, &[(Some(b"voi".to_vec()), second.clone())]) == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cannot produce to the restarted broker"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The first event still counts: state survives a broker outage.
    service.wait_for("recovery after the outage", 90, |s| {
        let h = s.json("/healthz");
        (h["status"] == "ok" && h["events"]["accepted"] == 2).then_some(())
    });
    service.stop("TERM", 20);
    Command::new(&script)
        .args(["stop", &port])
        .status()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two instances in one group split the partitions; each shows the whole city (the parts
/// they share), while each one's `/metrics` covers its own partitions, which add up to the
/// whole input.
#[test]
#[allow(clippy::unwrap_used)]
fn two_instances_split_the_partitions_and_each_shows_the_whole_city() {
    requires!(Tool::Broker);
    let case = GoldenTopic::new("split", 4);
    let (brokers, topic) = (&case.brokers, case.topic.as_str());
    let a = case.service();
    // b checkpoints as often as it shares its parts (every 500 ms; a checkpoints every 200 ms):
    // its parts are written with its checkpoints, from the same save of the state, and a
    // shows them.
    let b = case.service_with(&[("MODESHARE__STATE__INTERVAL".into(), "500ms".into())]);
    let assigned = |s: &Service| {
        let m = metrics(&s.get("/metrics").1);
        sum(
            &m,
            "modeshare_kafka_assigned_partitions",
            &[("topic", topic)],
        ) as usize
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (na, nb) = (assigned(&a), assigned(&b));
        if na + nb == 4 && na > 0 && nb > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "partitions not split between the instances: {na} + {nb}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let messages = golden_messages();
    assert_eq!(send(brokers, topic, &messages), messages.len());

    let expected = replay_report();
    assert_report_equals(&a, &expected, 90);
    assert_report_equals(&b, &expected, 30);
    // Each instance's /metrics: its own partitions only, together the whole input.
    let read = |s: &Service| {
        sum(
            &metrics(&s.get("/metrics").1),
            "modeshare_events_total",
            &[],
        )
    };
    // The instances' own counts add up to the input. Polled: should a member's session lapse
    // under load, the group moves its partitions and, until the old owner hears of it, both
    // count them; a count that stays doubled (or short) fails here.
    let input = expected["events"]["read"].as_u64().unwrap();
    let settled = Instant::now() + Duration::from_secs(30);
    let (ra, rb) = loop {
        let (ra, rb) = (read(&a), read(&b));
        if (ra + rb) as u64 == input || Instant::now() >= settled {
            break (ra, rb);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(ra > 0.0 && rb > 0.0, "{ra} + {rb}");
    assert_eq!(
        (ra + rb) as u64,
        input,
        "the instances' own counts add up to the input: {ra} + {rb}"
    );
    let parts = a.json("/api/zones")["parts"].clone();
    assert_eq!(parts["parts"].as_array().unwrap().len(), 4, "{parts}");
    assert_eq!(parts["missing"], serde_json::json!([]));
    // Stop one at a time: the broker can stall a group when two members leave at once.
    a.stop("TERM", 20);
    b.stop("TERM", 20);
    std::fs::remove_dir_all(&case.dir).unwrap();
}

/// Each topic decodes with its declared format: MDS trips and pages (one message each) and a
/// whole trafikkdata export in one message. The report equals the replay of the same files,
/// and every rejected trip or row is dead-lettered on its own, ready to be fixed and re-sent.
#[test]
#[allow(clippy::unwrap_used)]
fn topics_decode_with_their_formats() {
    requires!(Tool::Broker);
    let formats = repo_root().join("tests/fixtures/formats");
    let brokers = broker();
    let (mds_topic, counter_topic, dead) = (unique("mds"), unique("counters"), unique("dead"));
    let apc_topic = unique("apc");
    create_topic(&mds_topic, 1);
    create_topic(&counter_topic, 1);
    create_topic(&apc_topic, 1);
    let v2 = std::fs::read(formats.join("mds-2.0-trips.synthetic.ndjson")).unwrap();
    let mut mds: Vec<(Option<Vec<u8>>, Vec<u8>)> = v2
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| (Some(b"ryde".to_vec()), l.to_vec()))
        .collect();
    let v1: serde_json::Value = serde_json::from_slice(
        &std::fs::read(formats.join("mds-1.2-page.synthetic.json")).unwrap(),
    )
    .unwrap();
    mds.push((Some(b"voi".to_vec()), serde_json::to_vec(&v1).unwrap()));
    assert_eq!(send(&brokers, &mds_topic, &mds), mds.len());
    let export = std::fs::read(formats.join("trafikkdata-baerum-dst.synthetic.csv")).unwrap();
    assert_eq!(send(&brokers, &counter_topic, &[(None, export)]), 1);
    let boardings = std::fs::read(formats.join("tides-flytoget.synthetic.csv")).unwrap();
    assert_eq!(send(&brokers, &apc_topic, &[(None, boardings)]), 1);
    let feed = formats.join("entur-flytoget-gtfs.zip");

    let dir = std::env::temp_dir().join(unique("config"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("kafka.toml");
    let base = std::fs::read_to_string(formats.join("config.toml")).unwrap();
    std::fs::write(
        &config,
        format!(
            "{base}\n[formats.tides]\ngtfs = {:?}\n\
             [state]\ndir = {:?}\n\
             [kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{}\"\ndead_letter_topic = \"{dead}\"\n\
             [[kafka.topics]]\nname = \"{mds_topic}\"\nformat = \"mds\"\n\
             [[kafka.topics]]\nname = \"{counter_topic}\"\nformat = \"trafikkdata\"\n\
             [[kafka.topics]]\nname = \"{apc_topic}\"\nformat = \"tides\"\n",
            feed.to_str().unwrap(),
            dir.join("state").to_str().unwrap(),
            unique("group")
        ),
    )
    .unwrap();
    let zones = repo_root().join("config/zones/baerum-asker-oslo-kommuner.geojson");
    let files = [
        "mds-2.0-trips.synthetic.ndjson",
        "mds-1.2-page.synthetic.json",
        "trafikkdata-baerum-dst.synthetic.csv",
        "tides-flytoget.synthetic.csv",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .arg("replay")
        .arg("--config")
        .arg(&config)
        .arg("--zones")
        .arg(&zones)
        .args(files.map(|f| formats.join(f)))
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let service = Service::start(&[
        "--config",
        config.to_str().unwrap(),
        "--zones",
        zones.to_str().unwrap(),
    ]);
    assert_report_equals(&service, &expected, 60);
    let m = service.wait_for("skipped rows on /metrics", 10, |s| {
        let m = metrics(&s.get("/metrics").1);
        (sum(
            &m,
            "modeshare_rows_skipped_total",
            &[("source", "trafikkdata")],
        ) > 0.0)
            .then_some(m)
    });
    for reason in ["not_a_total", "not_a_boarding"] {
        assert_eq!(
            sum(&m, "modeshare_rows_skipped_total", &[("reason", reason)]),
            expected["skipped"][reason].as_f64().unwrap(),
            "{reason}"
        );
    }

    // One dead letter per rejected trip or row: a trip's own JSON, or the header and the row.
    let rejected = expected["events"]["rejected"].as_u64().unwrap() as usize;
    let letters = read_topic(&brokers, &dead, rejected, 60);
    assert_eq!(letters.len(), rejected, "dead letters");
    for letter in &letters {
        let payload = letter.payload.as_slice();
        if payload.starts_with(b"Trafikkregistreringspunkt;") {
            let rows: Vec<&[u8]> = payload
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(rows.len(), 2, "a header and one row");
            assert!(rows[1].windows(8).any(|w| w == b";Totalt;"));
        } else if payload.starts_with(b"passenger_event_id,") {
            let rows = payload.split(|b| *b == b'\n').filter(|l| !l.is_empty());
            assert_eq!(rows.count(), 2, "a header and one row");
        } else {
            let trip: serde_json::Value = serde_json::from_slice(payload).unwrap();
            assert!(trip["trip_id"].is_string(), "a single trip: {trip}");
        }
    }

    service.stop("TERM", 20);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A partition whose checkpoint ends before the earliest message the broker still retains (the
/// service was down longer than the topic's retention) is read from that earliest message, and
/// the messages retention deleted unread are logged and counted, never skipped silently. The
/// local broker (tansu 0.6.0) applies `retention.ms` when it starts (and every 10 minutes): a
/// topic kept 1 ms loses everything written before a broker restart.
#[test]
#[allow(clippy::unwrap_used)]
fn messages_retention_deleted_before_they_were_read_are_logged_and_counted() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;

    requires!(Tool::Broker);
    broker(); // the broker binary is installed
    let port = (broker_port().parse::<u16>().unwrap() + 4).to_string();
    let script = repo_root().join("scripts/broker.sh");
    let broker_sh = |command: &str| {
        let status = Command::new(&script)
            .args([command, &port])
            .status()
            .unwrap();
        assert!(status.success(), "scripts/broker.sh {command} {port}");
    };
    broker_sh("start");
    let brokers = format!("127.0.0.1:{port}");
    let topic = unique("retained");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let created = runtime
        .block_on(
            admin.create_topics(
                &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))
                    .set("cleanup.policy", "delete")
                    .set("retention.ms", "1")],
                &AdminOptions::new(),
            ),
        )
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    drop(admin);
    let trips = |prefix: &str, n: usize| -> Vec<(Option<Vec<u8>>, Vec<u8>)> {
        (0..n)
            .map(|i| {
                let id = format!("{prefix}-{i}");
                (Some(b"voi".to_vec()), common::kafka::valid_trip(&id))
            })
            .collect()
    };
    let (dir, config) = kafka_config(
        &brokers,
        &unique("group"),
        &unique("dead"),
        &topic,
        "",
        false,
    );
    let config = config.to_str().unwrap().to_owned();

    // 10 messages read and checkpointed (the clean stop checkpoints offset 10).
    assert_eq!(send(&brokers, &topic, &trips("read", 10)), 10);
    let service = Service::start(&["--config", &config]);
    service.wait_for("the first 10 events", 60, |s| {
        (s.json("/healthz")["events"]["accepted"] == 10).then_some(())
    });
    service.stop("TERM", 20);

    // 20 more while the service is down; the broker's restart applies the retention to all 30.
    assert_eq!(send(&brokers, &topic, &trips("lost", 20)), 20);
    broker_sh("stop");
    broker_sh("start");
    let watermarks: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let offsets = || {
        watermarks
            .fetch_watermarks(&topic, 0, Duration::from_secs(5))
            .unwrap()
    };
    // Nothing retained: the earliest offset is the end (tansu then says (0, 0), a real Kafka
    // (30, 30)).
    common::poll_until("retention to delete the unread messages", 60, || {
        let (low, high) = offsets();
        (low == high).then_some(())
    });
    // 5 that the retention, already applied, leaves alone until its next round.
    assert_eq!(send(&brokers, &topic, &trips("kept", 5)), 5);
    assert_eq!(offsets(), (30, 35));

    let service = Service::start(&["--config", &config]);
    service.wait_for("the 5 retained events", 60, |s| {
        (s.json("/healthz")["events"]["accepted"] == 15).then_some(())
    });
    let m = metrics(&service.get("/metrics").1);
    assert_eq!(
        sum(
            &m,
            "modeshare_kafka_skipped_messages_total",
            &[("topic", topic.as_str()), ("partition", "0")]
        ),
        20.0
    );
    let log = service.stop("TERM", 20);
    assert!(
        log.iter().any(|l| l.contains("retention deleted messages")
            && l.contains("checkpoint_ends_at=10")
            && l.contains("earliest_retained=30")),
        "{log:?}"
    );
    drop(watermarks);
    broker_sh("stop");
    std::fs::remove_dir_all(&dir).unwrap();
}
