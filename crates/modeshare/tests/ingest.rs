//! The operators' ingest API against the real service over HTTPS on loopback, with a real
//! client (reqwest) trusting a certificate the test makes: every answer an operator can get,
//! per-operator isolation, token rotation, bodies cut off, too large, too deep, not UTF-8; and
//! without Kafka, `kill -9` at seeded moments while three clients push and retry: afterwards the
//! state equals a replay of every event that was acknowledged.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::kafka::{broker, create_topic, read_topic};
use common::{Service, Tool, poll_until, replay_report_of, requires, unique};
use modeshare_http::auth::token_sha256;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use reqwest::blocking::{Body, Client};
use serde_json::Value;

const VOI_TOKEN: &str = "msi_voi-token-for-the-tests";
const VOI_NEXT_TOKEN: &str = "msi_voi-next-token-for-the-tests";
const BYSYKKEL_TOKEN: &str = "msi_bysykkel-token-for-the-tests";

/// A folder with a self-signed certificate for 127.0.0.1, a state directory and a
/// configuration with two operators (the second's hashes from a file).
struct Setup {
    dir: PathBuf,
    config: PathBuf,
    certificate: Vec<u8>,
}

impl Setup {
    fn new(name: &str) -> Setup {
        Setup::with(name, "", "")
    }

    /// Pushes to an ingest topic on the project's broker, read by the service's own group.
    fn with_kafka(name: &str, delivery_timeout: &str) -> (Setup, KafkaParts) {
        let parts = KafkaParts {
            brokers: broker(),
            topic: unique("ingest"),
            dead: unique("dead"),
        };
        create_topic(&parts.topic, 2);
        create_topic(&parts.dead, 1);
        let setup = Setup::with_brokers(name, &parts, delivery_timeout);
        (setup, parts)
    }

    fn with_brokers(name: &str, parts: &KafkaParts, delivery_timeout: &str) -> Setup {
        Setup::with(
            name,
            &format!(
                "topic = \"{}\"\ndelivery_timeout = \"{delivery_timeout}\"\n",
                parts.topic
            ),
            &format!(
                "[kafka]\nbrokers = \"{}\"\ngroup_id = \"{}\"\ndead_letter_topic = \"{}\"\n\
                 [kafka.options]\n\"session.timeout.ms\" = \"6000\"\n\
                 [[kafka.topics]]\nname = \"{}\"\nformat = \"canonical\"\n",
                parts.brokers,
                unique("group"),
                parts.dead,
                parts.topic
            ),
        )
    }

    /// `ingest` goes into `[ingest]`, `sections` after everything.
    fn with(name: &str, ingest: &str, sections: &str) -> Setup {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        std::fs::write(
            dir.join("bysykkel-hashes"),
            format!("# the operator's token\n{}\n", token_sha256(BYSYKKEL_TOKEN)),
        )
        .unwrap();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[state]
dir = "{dir}/state"
interval = "200ms"

[ingest]
listen = "127.0.0.1:0"
requests_per_second = 1000.0
burst = 1000
max_body_bytes = 1048576
{ingest}
[ingest.tls]
cert = "{dir}/cert.pem"
key = "{dir}/key.pem"

[[ingest.operators]]
name = "voi"
sources = ["voi"]
token_sha256 = ["{voi}", "{voi_next}"]

[[ingest.operators]]
name = "oslobysykkel"
sources = ["oslobysykkel"]
token_sha256_file = "{dir}/bysykkel-hashes"

{sections}
"#,
                dir = dir.display(),
                voi = token_sha256(VOI_TOKEN),
                voi_next = token_sha256(VOI_NEXT_TOKEN),
            ),
        )
        .unwrap();
        Setup {
            certificate: cert.pem().into_bytes(),
            dir,
            config,
        }
    }

    fn start(&self) -> Service {
        Service::start(&["--config", self.config.to_str().unwrap()])
    }

    /// A client that trusts only the test's certificate.
    fn client(&self) -> Client {
        Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.certificate).unwrap())
            .tls_built_in_root_certs(false)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }
}

/// The broker, the ingest topic and the dead-letter topic of a setup with Kafka.
struct KafkaParts {
    brokers: String,
    topic: String,
    dead: String,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A canonical trip of source `source` in Bærum, started `minutes_ago`.
fn trip(source: &str, id: &str, minutes_ago: i64, mode: &str) -> String {
    let start = jiff::Timestamp::now().as_millisecond() - minutes_ago * 60_000;
    let lat = 59.89 + (id.len() % 7) as f64 * 0.002;
    format!(
        r#"{{"kind":"trip","id":"{id}","source":"{source}","mode":"{mode}","start_time":{start},"origin":{{"lat":{lat},"lon":10.52}},"destination":{{"lat":59.91,"lon":10.55}}}}"#
    )
}

fn push(
    client: &Client,
    address: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: impl Into<Body>,
) -> reqwest::Result<(StatusCode, Value)> {
    let mut request = client
        .post(format!("https://{address}{path}"))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send()?;
    let status = answer.status();
    let text = answer.text()?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn events(client: &Client, address: &str, token: &str, body: String) -> (StatusCode, Value) {
    push(
        client,
        address,
        "/ingest/v1/events",
        Some(token),
        "application/x-ndjson",
        body,
    )
    .unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/formats")
        .join(name)
}

/// The report of `modeshare replay` of `lines` with the same configuration.
fn replay(config: &Path, lines: &str, dir: &Path) -> Value {
    let file = dir.join(format!("{}.ndjson", unique("replay")));
    std::fs::write(&file, lines).unwrap();
    replay_report_of(&[OsStr::new("--config"), config.as_os_str(), file.as_os_str()])
}

#[test]
fn every_answer_an_operator_can_get_over_https() {
    let setup = Setup::new("ingest-answers");
    let mut service = setup.start();
    let address = service.ingest_address();
    let client = setup.client();

    // Without a token, with a wrong one, with another operator's: nothing is written.
    for token in [None, Some("msi_wrong")] {
        let (status, _) = push(
            &client,
            &address,
            "/ingest/v1/events",
            token,
            "application/x-ndjson",
            trip("voi", "x", 5, "e_scooter"),
        )
        .unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let (status, body) = events(
        &client,
        &address,
        BYSYKKEL_TOKEN,
        trip("voi", "x", 5, "e_scooter"),
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["rejections"][0]["reason"], "source_not_allowed");

    // A bad line among good ones; both tokens of the rotation.
    let good = format!(
        "{}\n{{\"kind\":\"trip\",\"id\":\n{}\n",
        trip("voi", "a1", 5, "e_scooter"),
        trip("voi", "a2", 6, "bicycle")
    );
    let (status, body) = events(&client, &address, VOI_TOKEN, good);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(body["rejections"][0]["index"], 2);
    let (status, body) = events(
        &client,
        &address,
        VOI_NEXT_TOKEN,
        trip("voi", "a3", 7, "walk"),
    );
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{body}"
    );
    // Invalid UTF-8 and 20,000-deep JSON: rejected lines, the service unharmed.
    let mut hostile = b"{\"kind\":\"trip\",\"id\":\"\xff\"}\n".to_vec();
    hostile.extend_from_slice(format!("{}\n", "[".repeat(20_000)).as_bytes());
    let (status, body) = push(
        &client,
        &address,
        "/ingest/v1/events",
        Some(VOI_TOKEN),
        "application/x-ndjson",
        hostile,
    )
    .unwrap();
    assert_eq!(
        (status, body["rejected"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );

    // A real operator's table, with the rows' source the operator's own.
    let table = std::fs::read(fixture("oslobysykkel-2024-01.head.csv")).unwrap();
    let (status, body) = push(
        &client,
        &address,
        "/ingest/v1/tables/oslobysykkel",
        Some(BYSYKKEL_TOKEN),
        "text/csv",
        table,
    )
    .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    let table_accepted = body["accepted"].as_u64().unwrap();
    assert!(table_accepted > 0, "{body}");

    // 415, and a declared 1 GB body refused before it is read (the client may see the answer
    // or the connection closed under its upload; either way nothing of it counts).
    let (status, _) = push(
        &client,
        &address,
        "/ingest/v1/events",
        Some(VOI_TOKEN),
        "text/plain",
        "x",
    )
    .unwrap();
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = Body::sized(std::io::repeat(b'x').take(1 << 30), 1 << 30);
    let started = std::time::Instant::now();
    match push(
        &client,
        &address,
        "/ingest/v1/events",
        Some(VOI_TOKEN),
        "application/x-ndjson",
        huge,
    ) {
        Ok((status, _)) => assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(!e.is_timeout(), "{e}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "1 GB was not read"
    );

    // Everything accepted is counted, by source, and nothing else.
    service.wait_for("the pushed events counted", 30, |s| {
        let r = s.admin_json("/api/report");
        (r["events"]["accepted"].as_u64() == Some(3 + table_accepted)).then_some(r)
    });
    let (_, metrics) = service.get("/metrics");
    let m = common::metrics(&metrics);
    let sources: BTreeSet<&str> = m
        .keys()
        .filter(|(name, _)| name == "modeshare_events_total")
        .filter_map(|(_, labels)| labels.get("source").map(String::as_str))
        .collect();
    assert_eq!(sources, BTreeSet::from(["oslobysykkel", "voi"]));
    assert_eq!(
        common::sum(
            &m,
            "modeshare_events_total",
            &[("source", "oslobysykkel"), ("outcome", "accepted")]
        ),
        table_accepted as f64
    );
    let ingest = |outcome: &str, operator: &str| {
        common::sum(
            &m,
            "modeshare_ingest_events_total",
            &[("outcome", outcome), ("operator", operator)],
        )
    };
    assert_eq!(ingest("accepted", "voi"), 3.0);
    assert_eq!(ingest("rejected", "voi"), 3.0);
    assert_eq!(
        ingest("rejected", "oslobysykkel") + ingest("accepted", "oslobysykkel"),
        1.0 + table_accepted as f64
    );
    assert_eq!(
        common::sum(&m, "modeshare_ingest_auth_failures_total", &[]),
        2.0
    );
    drop(service);
}

#[test]
fn a_body_cut_off_mid_stream_makes_nothing_durable() {
    let setup = Setup::new("ingest-cut");
    let mut service = setup.start();
    let address = service.ingest_address();
    let client = setup.client();
    // Declares more than it sends, then the upload fails.
    let lines = format!(
        "{}\n{}\n",
        trip("voi", "c1", 5, "walk"),
        trip("voi", "c2", 5, "walk")
    );
    let cut = Body::sized(
        std::io::Cursor::new(lines.clone().into_bytes()).chain(FailingReader),
        10_000,
    );
    let sent = push(
        &client,
        &address,
        "/ingest/v1/events",
        Some(VOI_TOKEN),
        "application/x-ndjson",
        cut,
    );
    assert!(sent.is_err() || sent.unwrap().0 == StatusCode::BAD_REQUEST);
    // The same events sent whole afterwards are accepted once: nothing of the cut request
    // was kept.
    let (status, body) = events(&client, &address, VOI_TOKEN, lines);
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{body}"
    );
    let report = service.wait_for("the events counted", 30, |s| {
        let r = s.admin_json("/api/report");
        (r["events"]["read"].as_u64() >= Some(2)).then_some(r)
    });
    assert_eq!(report["events"]["accepted"], 2);
    assert_eq!(report["events"]["duplicates"], 0);
}

/// A reader that fails: the client's upload breaks off.
struct FailingReader;

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "the client gave up",
        ))
    }
}

#[test]
fn kill_9_while_operators_push_to_the_spool_loses_nothing_acknowledged() {
    push_through_kills(&Setup::new("ingest-kill"));
}

#[test]
fn kill_9_while_operators_push_to_kafka_loses_nothing_acknowledged() {
    requires!(Tool::Broker);
    let (setup, _) = Setup::with_kafka("ingest-kafka-kill", "10s");
    push_through_kills(&setup);
}

/// Three clients push batches and retry each until it is acknowledged, while the service is
/// killed with SIGKILL at seeded moments and started again on the same state. Afterwards its
/// state equals a replay of every acknowledged event: nothing acknowledged lost, nothing
/// counted twice (`read` and `duplicates` may be higher: retries).
fn push_through_kills(setup: &Setup) {
    let seed: u64 = std::env::var("MODESHARE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_204);
    let mut rng = SmallRng::seed_from_u64(seed);
    let service = Arc::new(Mutex::new(setup.start()));
    let address = Arc::new(Mutex::new(service.lock().unwrap().ingest_address()));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    const CLIENTS: usize = 3;
    const BATCHES: usize = 120;
    std::thread::scope(|scope| {
        for client_no in 0..CLIENTS {
            let (address, acknowledged, done) =
                (address.clone(), acknowledged.clone(), done.clone());
            let client = setup.client();
            let mut rng = SmallRng::seed_from_u64(seed + client_no as u64 + 1);
            scope.spawn(move || {
                for batch in 0..BATCHES {
                    let lines: Vec<String> = (0..rng.random_range(1..40))
                        .map(|i| {
                            let mode = ["walk", "bicycle", "e_scooter", "bus"][i % 4];
                            trip(
                                "voi",
                                &format!("k{client_no}-{batch}-{i}"),
                                rng.random_range(1..120),
                                mode,
                            )
                        })
                        .collect();
                    let body = lines.join("\n");
                    poll_until("a batch acknowledged", 120, || {
                        let to = address.lock().unwrap().clone();
                        match push(
                            &client,
                            &to,
                            "/ingest/v1/events",
                            Some(VOI_TOKEN),
                            "application/x-ndjson",
                            body.clone(),
                        ) {
                            Ok((StatusCode::OK, answer)) => {
                                assert_eq!(answer["rejected"], 0, "{answer}");
                                Some(())
                            }
                            _ => None,
                        }
                    });
                    acknowledged.lock().unwrap().extend(lines);
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        // Kill and restart while they push.
        let mut kills = 0;
        while kills < 5 {
            std::thread::sleep(Duration::from_millis(rng.random_range(100..700)));
            if done.load(std::sync::atomic::Ordering::SeqCst) == CLIENTS {
                break;
            }
            let mut running = service.lock().unwrap();
            running.child.kill().unwrap();
            running.child.wait().unwrap();
            *running = setup.start();
            *address.lock().unwrap() = running.ingest_address();
            kills += 1;
        }
        assert!(
            kills > 0,
            "the service was killed at least once while clients pushed"
        );
    });
    let acknowledged = acknowledged.lock().unwrap().join("\n");
    let expected = replay(&setup.config, &acknowledged, &setup.dir);
    let service = service.lock().unwrap();
    let accepted = expected["events"]["accepted"].as_u64().unwrap();
    let report = service.wait_for("every acknowledged event counted", 60, |s| {
        let r = s.admin_json("/api/report");
        (r["events"]["accepted"].as_u64() == Some(accepted)).then_some(r)
    });
    assert!(report["events"]["read"].as_u64() >= expected["events"]["read"].as_u64());
    eprintln!(
        "acknowledged {} events; the service read {} and counted {} duplicates",
        expected["events"]["read"], report["events"]["read"], report["events"]["duplicates"]
    );
    for key in ["zones", "cells"] {
        assert_eq!(report[key], expected[key], "{key}");
    }
}

/// With Kafka, a 200 means the brokers hold every accepted event, keyed by its source, and
/// every rejected item is in the dead-letter topic with the operator who pushed it; the
/// service then counts the events from the topic like any other.
#[test]
fn with_kafka_accepted_events_are_on_the_ingest_topic_and_rejections_carry_the_operator() {
    requires!(Tool::Broker);
    let (setup, kafka) = Setup::with_kafka("ingest-kafka", "10s");
    let mut service = setup.start();
    let address = service.ingest_address();
    let client = setup.client();
    let good: Vec<String> = (0..25)
        .map(|i| trip("voi", &format!("kafka-{i}"), 30, "e_scooter"))
        .collect();
    let body = format!(
        "{}\n{{\"kind\":\"trip\"\n{}\n",
        good[..10].join("\n"),
        good[10..].join("\n")
    );
    let (status, answer) = events(&client, &address, VOI_TOKEN, body);
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["accepted"], 25, "{answer}");
    assert_eq!(answer["rejected"], 1, "{answer}");

    // On the topic at once (the 200 waited for the brokers), each keyed by its source.
    let on_topic = read_topic(&kafka.brokers, &kafka.topic, 25, 30);
    let ids: BTreeSet<String> = on_topic
        .iter()
        .map(|m| {
            let event: Value = serde_json::from_slice(&m.payload).unwrap();
            assert_eq!(event["source"], "voi");
            event["id"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected: BTreeSet<String> = (0..25).map(|i| format!("kafka-{i}")).collect();
    assert_eq!(ids, expected);

    let dead = read_topic(&kafka.brokers, &kafka.dead, 1, 30);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].headers["modeshare.operator"], "voi");
    assert_eq!(dead[0].headers["modeshare.reason"], "invalid_json");
    assert_eq!(
        dead[0].headers["modeshare.source.offset"], "11",
        "its line in the request"
    );
    assert_eq!(dead[0].payload, b"{\"kind\":\"trip\"");

    let report = service.wait_for("the pushed events counted", 60, |s| {
        let r = s.admin_json("/api/report");
        (r["events"]["accepted"].as_u64() == Some(25)).then_some(r)
    });
    let expected = replay(&setup.config, &good.join("\n"), &setup.dir);
    for key in ["zones", "cells"] {
        assert_eq!(report[key], expected[key], "{key}");
    }
    // Pushed sources feed the per-source series the stale-feed and rejection alerts read.
    let metrics = common::metrics(&service.get("/metrics").1);
    let voi = [("source", "voi")];
    assert_eq!(
        common::sum(
            &metrics,
            "modeshare_events_total",
            &[("source", "voi"), ("outcome", "accepted")]
        ),
        25.0
    );
    assert!(
        common::sum(
            &metrics,
            "modeshare_source_last_event_timestamp_seconds",
            &voi
        ) > 0.0
    );
}

/// A broker that does not confirm within `ingest.delivery_timeout` is a 503 with
/// `Retry-After`: the operator sends again later, and nothing was acknowledged.
#[test]
fn brokers_that_do_not_confirm_in_time_answer_503() {
    let parts = KafkaParts {
        brokers: format!("127.0.0.1:{}", common::free_port()),
        topic: unique("ingest"),
        dead: unique("dead"),
    };
    let setup = Setup::with_brokers("ingest-no-broker", &parts, "1s");
    let mut service = setup.start();
    let address = service.ingest_address();
    let started = std::time::Instant::now();
    let (status, answer) = events(
        &setup.client(),
        &address,
        VOI_TOKEN,
        trip("voi", "unconfirmed", 5, "bicycle"),
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("ingest.delivery_timeout"),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let text = service.get("/metrics").1;
    assert!(
        text.contains(r#"modeshare_ingest_requests_total{operator="voi",status="503"} 1"#),
        "{text}"
    );
}
