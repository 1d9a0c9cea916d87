//! Fault tests against the real broker (tansu, started by `scripts/broker.sh`):
//!
//! - `modeshare run` is killed with SIGKILL at random moments while a known stream keyed by
//!   source (simulated trips with the golden input's duplicates and bad lines mixed in)
//!   arrives (each next instance joins once the killed one's session has run out, which the
//!   local broker needs: `wait_out_session`); after the last restart and drain, `/api/report`
//!   equals the replay of the same stream, and every rejection is in the dead-letter topic
//!   (repeats allowed).
//! - The broker is stopped and started again mid-stream: the service says so on `/healthz` and
//!   `/metrics`, waits, resumes, and the final report equals the replay.
//! - The broker goes away for good: `/readyz` (not `/livez`) turns 503 after 30 s, and SIGTERM
//!   still ends the process within `run.shutdown_timeout`, its state checkpointed though the
//!   offsets could not be committed.
//!
//! - Dead letters that cannot be delivered (the topic missing) hold back only their own
//!   partition's checkpoints while every partition keeps being read and published; one over
//!   the producer's limit is cut to fit, with its length and SHA-256 in headers.
//!
//! `FAULT_SEED` replays a failed run (the seed is printed), `FAULT_KILLS` sets the loop count.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::kafka::{
    GoldenTopic, broker, broker_port, create_topic, create_topic_on, golden_messages, holds_state,
    kafka_config, read_topic, send, send_to_partition, valid_trip,
};
use common::s3::S3Server;
use common::{
    Random, Service, Tool, assert_report_equals, env_or, golden, metrics, rejections, replay,
    replay_report, repo_root, requires, sum, unique,
};

type Messages = Vec<(Option<Vec<u8>>, Vec<u8>)>;

/// Simulated trips with the golden messages (duplicates and bad lines included) spread
/// among them, as messages keyed by source, and the same stream as one file for `replay`.
#[allow(clippy::unwrap_used)]
fn mixed_stream(dir: &Path, events: u64) -> Messages {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["generate", "--events", &events.to_string()])
        .args(["--seed", "11", "--start", "2024-05-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let simulated: Messages = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            // Keyed by source as `modeshare produce` does; the simulator's broken lines unkeyed.
            let source = serde_json::from_slice::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["source"].as_str().map(|s| s.as_bytes().to_vec()));
            (source, l.to_vec())
        })
        .collect();
    let golden = golden_messages();
    let every = simulated.len() / golden.len() + 1;
    let mut stream = Vec::with_capacity(simulated.len() + golden.len());
    let mut golden = golden.into_iter();
    for (i, m) in simulated.into_iter().enumerate() {
        stream.push(m);
        if i % every == 0
            && let Some(g) = golden.next()
        {
            stream.push(g);
        }
    }
    stream.extend(golden);
    let mut file = Vec::new();
    for (_, payload) in &stream {
        file.extend_from_slice(payload);
        file.push(b'\n');
    }
    std::fs::write(dir.join("stream.ndjson"), file).unwrap();
    stream
}

/// Events the instance read into its own partitions (its `/metrics`). Not `/api/report`: that
/// is the whole view, which before the group assigns the instance anything already shows the
/// parts its killed predecessor published — progress there is not this instance's, and killing
/// it then, in the middle of its group's rebalance, can stick the local broker's group.
fn events_read(service: &Service) -> u64 {
    sum(
        &metrics(&service.get("/metrics").1),
        "modeshare_events_total",
        &[],
    ) as u64
}

/// Every rejection of the replay is in the dead-letter topic at least once: per reason, the
/// distinct source offsets dead-lettered equal the replay's rejection counts.
#[allow(clippy::unwrap_used)]
fn assert_every_rejection_dead_lettered(brokers: &str, dead: &str, expected: &serde_json::Value) {
    let rejected = expected["events"]["rejected"].as_u64().unwrap() as usize;
    let letters = read_topic(brokers, dead, rejected, 60);
    let mut offsets: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for l in &letters {
        offsets
            .entry(l.headers["modeshare.reason"].clone())
            .or_default()
            .insert((
                l.headers["modeshare.source.partition"].clone(),
                l.headers["modeshare.source.offset"].clone(),
            ));
    }
    let got: BTreeMap<String, u64> = offsets
        .into_iter()
        .map(|(reason, o)| (reason, o.len() as u64))
        .collect();
    let want = rejections(expected);
    assert_eq!(got, want, "distinct dead-lettered offsets per reason");
}

/// Sends `stream` to the case's topic in `kills + 1` chunks: a service (with `env`) reads each
/// of the first `kills`, and is killed with SIGKILL at a seeded moment within half a second of
/// its progress past the last kill; the last chunk is sent with no service running.
#[allow(clippy::unwrap_used)]
fn send_through_kills(
    case: &GoldenTopic,
    env: &[(String, String)],
    stream: &Messages,
    kills: usize,
    random: &mut Random,
) {
    let (brokers, topic) = (&case.brokers, &case.topic);
    let mut chunks = stream.chunks(stream.len().div_ceil(kills + 1));
    let mut highest_read = 0;
    let mut killed_at = None;
    for kill in 1..=kills {
        wait_out_session(killed_at);
        let mut service = case.service_with(env);
        let next = chunks.next().unwrap_or_default();
        assert_eq!(send(brokers, topic, next), next.len());
        service.wait_for("progress past the last kill", 120, |s| {
            (events_read(s) > highest_read).then_some(())
        });
        // The random moment: anywhere in the next half second of consuming and checkpointing.
        let delay = random.next() % 500;
        std::thread::sleep(Duration::from_millis(delay));
        let read = events_read(&service);
        service.child.kill().unwrap();
        service.child.wait().unwrap();
        killed_at = Some(Instant::now());
        highest_read = highest_read.max(read);
        eprintln!("kill {kill}/{kills}: {delay} ms after progress, {read} events read");
    }
    let rest: Messages = chunks.flatten().cloned().collect();
    assert_eq!(send(brokers, topic, &rest), rest.len());
    wait_out_session(killed_at);
}

/// Waits until the session of the instance killed last has run out (the 6 s `kafka_config`
/// sets, and a second), so that the next instance joins a group without it. The local broker
/// (tansu 0.6) has no timers: it evicts a member whose session ran out only when a request of
/// the group comes, and when that request is the other member's heartbeat it keeps the evicted
/// member as the group's leader, so the group never rebalances again and the newcomer keeps an
/// empty assignment (`../shared/KAFKA-TESTING.md`, "A group can stick"); a join evicts it and
/// clears the leader. A Kafka coordinator evicts on its own timer: the wait is the broker's
/// need, not the service's, and the moment of each kill stays random.
fn wait_out_session(killed_at: Option<Instant>) {
    if let Some(killed_at) = killed_at {
        let run_out = killed_at + Duration::from_secs(7);
        std::thread::sleep(run_out.saturating_duration_since(Instant::now()));
    }
}

/// A clean restart serves the whole state again from the checkpoints, reading nothing new:
/// every partition restored, none read from its beginning.
fn assert_restart_restores_every_partition(
    case: &GoldenTopic,
    env: &[(String, String)],
    expected: &serde_json::Value,
    partitions: usize,
) {
    let restarted = case.service_with(env);
    assert_report_equals(&restarted, expected, 60);
    let log = restarted.stop("TERM", 20);
    let restored = log
        .iter()
        .filter(|l| l.contains("partition state restored"))
        .count();
    assert_eq!(restored, partitions, "{log:#?}");
    assert!(
        !log.iter().any(|l| l.contains("from its beginning")),
        "{log:#?}"
    );
}

#[test]
#[allow(clippy::unwrap_used)]
fn killed_at_random_moments_loses_and_doubles_nothing() {
    requires!(Tool::Broker);
    let kills: usize = env_or("FAULT_KILLS", 10);
    let mut random = Random::seeded("kill -9 test");
    let case = GoldenTopic::new("kills", 4);
    let stream = mixed_stream(&case.dir, 40_000);
    let expected = replay(&case.config, &[&case.dir.join("stream.ndjson")]);
    send_through_kills(&case, &[], &stream, kills, &mut random);
    let service = case.service();
    assert_report_equals(&service, &expected, 180);
    service.stop("TERM", 20);
    for partition in 0..4 {
        let file = case.checkpoint(partition);
        assert!(holds_state(&file), "{} holds no state", file.display());
    }
    assert_restart_restores_every_partition(&case, &[], &expected, 4);
    let brokers = &case.brokers;
    assert_every_rejection_dead_lettered(brokers, &case.dead, &expected);
    std::fs::remove_dir_all(&case.dir).unwrap();
}

/// The same with the checkpoints in an S3 store (a real S3-protocol server on loopback): killed
/// at random moments, the service loses and doubles nothing, a clean restart restores every
/// partition from the store, and nothing is checkpointed on the local disk.
#[test]
#[allow(clippy::unwrap_used)]
fn checkpoints_in_an_s3_store_survive_kills() {
    requires!(Tool::Broker);
    let mut random = Random::seeded("S3 kill -9 test");
    let s3 = S3Server::start();
    let case = GoldenTopic::new("s3-kills", 4);
    let env = s3.env("baerum");
    let stream = mixed_stream(&case.dir, 12_000);
    let expected = replay(&case.config, &[&case.dir.join("stream.ndjson")]);
    send_through_kills(&case, &env, &stream, 3, &mut random);
    let service = case.service_with(&env);
    assert_report_equals(&service, &expected, 180);
    service.stop("TERM", 20);

    // Each partition's checkpoint is an object of the store, under this instance's claim.
    for partition in 0..4 {
        let key = format!("baerum/{}/{}/{partition}.ckpt", case.group, case.topic);
        let object = std::fs::read(s3.object_file(&key))
            .unwrap_or_else(|e| panic!("{key} in {}: {e}", s3.root().display()));
        assert!(object.starts_with(b"MSCLAIM1"), "{key}");
        assert!(
            !case.checkpoint(partition).exists(),
            "a checkpoint on local disk"
        );
    }
    assert_restart_restores_every_partition(&case, &env, &expected, 4);
    std::fs::remove_dir_all(&case.dir).unwrap();
}

/// The broker goes away mid-stream and comes back with its storage: the service reports the
/// outage, waits, and resumes; nothing is lost or counted twice.
#[test]
#[allow(clippy::unwrap_used)]
fn broker_restart_mid_stream_loses_and_doubles_nothing() {
    requires!(Tool::Broker);
    broker(); // installed
    let port = (broker_port().parse::<u16>().unwrap() + 2).to_string();
    let script = repo_root().join("scripts/broker.sh");
    let broker_ctl = |action: &str| {
        let status = Command::new(&script)
            .args([action, &port])
            .status()
            .unwrap();
        assert!(status.success(), "scripts/broker.sh {action} {port}");
    };
    broker_ctl("start");
    let brokers = format!("127.0.0.1:{port}");
    let topic = unique("outage");
    let dead = unique("dead");
    create_topic_on(&topic, 2, &port);
    let options = "\"reconnect.backoff.max.ms\" = \"500\"\n\"topic.metadata.refresh.interval.ms\" = \"1000\"\n";
    let (dir, config) = kafka_config(&brokers, &unique("group"), &dead, &topic, options, true);
    let zones = golden("zones.geojson");
    let service = Service::start(&[
        "--config",
        config.to_str().unwrap(),
        "--zones",
        zones.to_str().unwrap(),
    ]);

    let messages = golden_messages();
    let (first, second) = messages.split_at(messages.len() / 2);
    assert_eq!(send(&brokers, &topic, first), first.len());
    service.wait_for("the first half being read", 90, |s| {
        (events_read(s) > 0).then_some(())
    });

    broker_ctl("stop");
    service.wait_for("the outage on /healthz and /metrics", 60, |s| {
        let m = metrics(&s.get("/metrics").1);
        (s.json("/healthz")["status"] == "degraded"
            && sum(&m, "modeshare_kafka_connected", &[]) == 0.0)
            .then_some(())
    });
    broker_ctl("start");
    service.wait_for("the service reconnected", 90, |s| {
        (s.json("/healthz")["status"] == "ok").then_some(())
    });
    // The restarted broker may refuse a producer's first requests: probe with another topic.
    let probe = unique("probe");
    create_topic_on(&probe, 1, &port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while send(&brokers, &probe, &[(None, b"probe".to_vec())]) != 1 {
        assert!(
            Instant::now() < deadline,
            "cannot produce to the restarted broker"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(send(&brokers, &topic, second), second.len());

    let expected = replay_report();
    assert_report_equals(&service, &expected, 120);
    let m = metrics(&service.get("/metrics").1);
    assert_eq!(sum(&m, "modeshare_kafka_connected", &[]), 1.0);
    service.stop("TERM", 20);
    assert_every_rejection_dead_lettered(&brokers, &dead, &expected);
    broker_ctl("stop");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A broker outage takes the instance out of service (`/readyz` 503 after 30 s) without
/// failing `/livez` (an outage must not restart every instance), `/healthz` says the brokers
/// are away now, and a stop with the broker gone ends within `run.shutdown_timeout` (it used to
/// wait for the final commit for good), with every partition's state checkpointed.
#[test]
#[allow(clippy::unwrap_used)]
fn with_the_broker_gone_readyz_fails_livez_holds_and_a_stop_is_bounded() {
    broker(); // installed
    // A broker of this test's own: it is stopped for good.
    let port = (broker_port().parse::<u16>().unwrap() + 3).to_string();
    let script = repo_root().join("scripts/broker.sh");
    let broker_ctl = |action: &str| {
        let status = Command::new(&script)
            .args([action, &port])
            .status()
            .unwrap();
        assert!(status.success(), "scripts/broker.sh {action} {port}");
    };
    broker_ctl("start");
    let brokers = format!("127.0.0.1:{port}");
    let topic = unique("gone");
    let dead = unique("dead");
    create_topic_on(&topic, 2, &port);
    let options = "\"reconnect.backoff.max.ms\" = \"500\"\n";
    let group = unique("group");
    let (dir, config) = kafka_config(&brokers, &group, &dead, &topic, options, true);
    let timeout = 6;
    // Nothing is checkpointed before the stop, and the partitions stay assigned through the
    // outage: the final checkpoint has offsets to commit, and no broker to commit them to.
    let mut text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("interval = \"200ms\"", "interval = \"1h\"")
        .replace(
            "\"session.timeout.ms\" = \"6000\"",
            "\"session.timeout.ms\" = \"120000\"",
        );
    text.push_str(&format!("[run]\nshutdown_timeout = \"{timeout}s\"\n"));
    std::fs::write(&config, text).unwrap();
    let zones = golden("zones.geojson");
    let args = [
        "--config",
        config.to_str().unwrap(),
        "--zones",
        zones.to_str().unwrap(),
    ];
    let service = Service::start(&args);

    let messages = golden_messages();
    assert_eq!(send(&brokers, &topic, &messages), messages.len());
    let expected = replay_report();
    assert_report_equals(&service, &expected, 90);
    service.wait_for("ready", 30, |s| (s.get("/readyz").0 == 200).then_some(()));

    broker_ctl("stop");
    let outage = Instant::now();
    service.wait_for("/healthz saying the brokers are away", 30, |s| {
        let h = s.json("/healthz");
        (h["status"] == "degraded" && h["kafka"]["connected"] == false).then_some(())
    });
    let body = service.wait_for("/readyz 503", 90, |s| {
        assert_eq!(s.get("/livez").0, 200, "an outage must not fail liveness");
        let (status, body) = s.json_status("/readyz");
        (status == 503).then_some(body)
    });
    assert!(outage.elapsed() >= Duration::from_secs(25), "{body}");
    assert!(
        body["reasons"].to_string().contains("unreachable"),
        "{body}"
    );
    assert_eq!(service.get("/livez").0, 200);

    let mut service = service;
    let stopping = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &service.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (exit, log) = service.exit(timeout + 4);
    eprintln!("stopped in {:?} with {exit}", stopping.elapsed());
    assert!(exit.code().is_some(), "{exit}: {log:#?}");
    // The state was saved though the offsets could not be committed: the next start restores
    // it from the checkpoints, which say where each partition goes on.
    for partition in 0..2 {
        let file = dir.join(format!("state/{group}/{topic}/{partition}.ckpt"));
        assert!(
            holds_state(&file),
            "{} holds no state: {log:#?}",
            file.display()
        );
    }
    drop(service);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts the service and waits for it to stop by itself; its exit code and log.
fn exit_of(mut service: Service, seconds: u64) -> (i32, Vec<String>) {
    let (status, log) = service.exit(seconds);
    (status.code().unwrap_or(-1), log)
}

/// State that is gone or damaged while the group has committed offsets is never replaced by
/// empty state: the service refuses to start and says what to do; with
/// `on_bad_checkpoint = "rebuild"` it counts the partitions again from the beginning.
#[test]
#[allow(clippy::unwrap_used)]
fn a_lost_or_damaged_checkpoint_is_refused_or_rebuilt() {
    requires!(Tool::Broker);
    let case = GoldenTopic::new("lost", 2);
    let messages = golden_messages();
    assert_eq!(send(&case.brokers, &case.topic, &messages), messages.len());
    let expected = replay_report();
    let service = case.service();
    assert_report_equals(&service, &expected, 90);
    service.stop("TERM", 20);

    // Damaged: one byte flipped in partition 0's checkpoint.
    let file = case.checkpoint(0);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let (code, log) = exit_of(case.service(), 60);
    assert_eq!(code, 2, "{log:#?}");
    let refusal = log.join("\n");
    assert!(refusal.contains("damaged"), "{refusal}");
    assert!(refusal.contains("on_bad_checkpoint"), "{refusal}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        bytes,
        "a refused file is left alone"
    );

    // Gone: the whole state directory, while the group's offsets are committed.
    std::fs::remove_dir_all(case.dir.join("state")).unwrap();
    let (code, log) = exit_of(case.service(), 60);
    let refusal = log.join("\n");
    assert_eq!(code, 2, "{refusal}");
    assert!(refusal.contains("committed offset"), "{refusal}");

    // Rebuilt from the earliest offset: the same report again.
    let text = std::fs::read_to_string(&case.config)
        .unwrap()
        .replace("[state]\n", "[state]\non_bad_checkpoint = \"rebuild\"\n");
    std::fs::write(&case.config, text).unwrap();
    let service = case.service();
    assert_report_equals(&service, &expected, 90);
    service.stop("TERM", 20);
    std::fs::remove_dir_all(&case.dir).unwrap();
}

/// A checkpoint that cannot be written is reported (`/healthz` degraded with the reason,
/// `modeshare_checkpoint_failures_total`, unsaved records growing), and clears once writing
/// works again; meanwhile consumption goes on.
#[test]
#[allow(clippy::unwrap_used)]
fn checkpoint_write_failures_are_reported() {
    requires!(Tool::Broker);
    let case = GoldenTopic::new("unwritable", 1);
    let (brokers, topic) = (&case.brokers, &case.topic);
    let service = case.service();
    let event = |id: &str| {
        format!(r#"{{"kind":"trip","id":"{id}","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","origin":{{"lat":59.8937,"lon":10.6281}}}}"#).into_bytes()
    };
    let unsaved = |s: &Service| {
        let m = metrics(&s.get("/metrics").1);
        let n = sum(
            &m,
            "modeshare_checkpoint_unsaved_records",
            &[("topic", topic)],
        );
        (n, sum(&m, "modeshare_checkpoint_failures_total", &[]))
    };
    assert_eq!(
        send(brokers, topic, &[(Some(b"voi".to_vec()), event("a"))]),
        1
    );
    service.wait_for("the first event checkpointed", 60, |s| {
        (events_read(s) == 1 && unsaved(s) == (0.0, 0.0)).then_some(())
    });

    // The partition's folder becomes a file: no checkpoint can be written there.
    let folder = case.checkpoint(0).parent().unwrap().to_path_buf();
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::write(&folder, b"in the way").unwrap();
    assert_eq!(
        send(brokers, topic, &[(Some(b"voi".to_vec()), event("b"))]),
        1
    );
    let health = service.wait_for("the failure reported", 60, |s| {
        let h = s.json("/healthz");
        let (n, failures) = unsaved(s);
        let reported = h["kafka"]["checkpoint_error"].is_string();
        (h["status"] == "degraded" && reported && n == 1.0 && failures >= 1.0).then_some(h)
    });
    let reason = health["kafka"]["checkpoint_error"].as_str().unwrap();
    assert!(reason.contains(folder.to_str().unwrap()), "{reason}");

    std::fs::remove_file(&folder).unwrap();
    service.wait_for("recovery once the folder can be written", 60, |s| {
        let ok = s.json("/healthz")["status"] == "ok";
        (ok && unsaved(s).0 == 0.0 && events_read(s) == 2).then_some(())
    });
    assert!(folder.join("0.ckpt").exists());
    service.stop("TERM", 20);
    std::fs::remove_dir_all(&case.dir).unwrap();
}

/// A dead letter to a missing topic holds back only its own partition's checkpoints: the other
/// partition is checkpointed, both keep being read and published, the failure is counted by
/// reason, and the held-back partition is still not checkpointed at the stop (its messages are
/// read again at the next start).
#[test]
#[allow(clippy::unwrap_used)]
fn an_undeliverable_dead_letter_holds_back_only_its_partition() {
    let brokers = broker();
    let topic = unique("dlq-missing");
    create_topic(&topic, 2);
    // Never created: the service may not create it.
    let dead = unique("missing");
    let group = unique("group");
    let options = "\"topic.metadata.propagation.max.ms\" = \"1000\"\n";
    let (dir, config) = kafka_config(&brokers, &group, &dead, &topic, options, true);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[kafka]\n", "[kafka]\ncreate_dead_letter_topic = false\n");
    std::fs::write(&config, text).unwrap();
    // Each partition's checkpoint is claimed when it is assigned; saved is when state is in it.
    let saved = |p: i32| holds_state(&dir.join(format!("state/{group}/{topic}/{p}.ckpt")));
    let zones = golden("zones.geojson");
    let service = Service::start(&[
        "--config",
        config.to_str().unwrap(),
        "--zones",
        zones.to_str().unwrap(),
    ]);
    // The broken message first: a batch that ended before it would be applied and
    // checkpointed before any dead letter was due.
    let first = [b"{broken".to_vec(), valid_trip("a1"), valid_trip("a2")];
    assert_eq!(send_to_partition(&brokers, &topic, 0, &first), 3);
    assert_eq!(
        send_to_partition(&brokers, &topic, 1, &[valid_trip("b1")]),
        1
    );
    service.wait_for("the dead-letter failure counted", 90, |s| {
        let m = metrics(&s.get("/metrics").1);
        let failed = sum(
            &m,
            "modeshare_dead_letter_failures_total",
            &[("reason", "topic_missing")],
        );
        (failed >= 1.0).then_some(())
    });
    service.wait_for("partition 1 checkpointed", 30, |_| saved(1).then_some(()));
    assert!(!saved(0), "partition 0 was checkpointed");
    // Both partitions are still read and published.
    assert_eq!(
        send_to_partition(&brokers, &topic, 0, &[valid_trip("a3")]),
        1
    );
    assert_eq!(
        send_to_partition(&brokers, &topic, 1, &[valid_trip("b2")]),
        1
    );
    service.wait_for("every event read", 60, |s| {
        (events_read(s) == 6).then_some(())
    });
    let report = service.admin_json("/api/report");
    assert_eq!(report["events"]["rejected"], 1);
    assert_eq!(service.get("/livez").0, 200);
    let log = service.stop("TERM", 20);
    assert!(!saved(0), "partition 0 was checkpointed at the stop");
    let once = log
        .iter()
        .filter(|l| l.contains("a dead letter cannot be delivered"))
        .count();
    assert!(once <= 1, "logged {once} times after the start: {log:#?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A rejected message larger than the producer may send is dead-lettered cut to fit, with its
/// original length and SHA-256 in headers, and its partition is checkpointed.
#[test]
#[allow(clippy::unwrap_used)]
fn a_dead_letter_over_the_producer_limit_is_cut_to_fit() {
    use sha2::{Digest, Sha256};
    let case = GoldenTopic::new("big", 1);
    // Over input.max_line_bytes (rejected as line_too_long) and over the producer's 1,000,000.
    let big = vec![b'x'; 1_500_000];
    assert_eq!(
        send_to_partition(
            &case.brokers,
            &case.topic,
            0,
            &[big.clone(), valid_trip("c1")]
        ),
        2
    );
    let service = case.service();
    service.wait_for("both messages read", 90, |s| {
        (events_read(s) == 2).then_some(())
    });
    let letters = read_topic(&case.brokers, &case.dead, 1, 60);
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.headers["modeshare.reason"], "line_too_long");
    assert_eq!(letter.headers["modeshare.original.length"], "1500000");
    let sha: String = Sha256::digest(&big)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(letter.headers["modeshare.original.sha256"], sha);
    assert!(letter.payload.len() < 1_000_000 && letter.payload.len() > 900_000);
    assert!(big.starts_with(&letter.payload));
    service.wait_for("the partition checkpointed", 30, |_| {
        holds_state(&case.checkpoint(0)).then_some(())
    });
    service.stop("TERM", 20);
    std::fs::remove_dir_all(&case.dir).unwrap();
}
