//! The operators' push API against the real binary on loopback (plain HTTP, so that the figure
//! is the API's and not the TLS handshake's), into each of its sinks:
//!
//! 1. `modeshare produce` of a file of generated events to a topic on the local broker (tansu,
//!    `scripts/broker.sh`): the baseline;
//! 2. the same events pushed to `POST /ingest/v1/events` in requests of 1,000 by 1, 4 and 16
//!    concurrent clients, with `[kafka]` (each 200 waits for the brokers' confirmation) and
//!    without (each 200 waits for the spool's fsync); events/s and the ratio to `produce`;
//! 3. request latency (p50, p99) at half the 4-client rate of each sink, paced.
//!
//! ```sh
//! cargo build --release -p modeshare && cargo bench -p modeshare-benches --bench ingest
//! ```
//! EVENTS=n sets the events of each measure (default 200,000); SINK=kafka or SINK=spool measures
//! one sink; KAFKA_OPTIONS=linger.ms=20,batch.size=… adds producer settings to `[kafka.options]`.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modeshare_benches::{broker_script, repo_root, unique};
use modeshare_http::auth::token_sha256;

const PORT: &str = "19092";
const TOKEN: &str = "msi_bench-token";
const PER_REQUEST: usize = 1_000;

fn binary() -> PathBuf {
    std::env::var("MODESHARE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/release/modeshare"))
}

/// `modeshare run` with one operator holding every generated source; with `kafka = Some((brokers,
/// topic))` it pushes to that topic, else to the spool. Returns the child and the ingest
/// listener's address.
fn service(dir: &Path, kafka: Option<(&str, &str)>) -> (Child, String) {
    let kafka_section = kafka.map_or(String::new(), |(brokers, topic)| {
        format!(
            "[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{}\"\ndead_letter_topic = \"{}\"\n\
             [[kafka.topics]]\nname = \"{topic}\"\nformat = \"canonical\"\n",
            unique("group"),
            unique("dead")
        ) + &kafka_options()
    });
    let topic_key = kafka.map_or(String::new(), |(_, topic)| format!("topic = \"{topic}\"\n"));
    let config = dir.join("ingest.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\ndir = {:?}\n[ingest]\nlisten = \"127.0.0.1:0\"\n{topic_key}\
             requests_per_second = 1000000.0\nburst = 1000000\n\
             [[ingest.operators]]\nname = \"bench\"\n\
             sources = [\"voi\", \"tier\", \"ryde\", \"ruter-apc\", \"trafikkdata\"]\n\
             token_sha256 = [\"{}\"]\n{kafka_section}",
            dir.join(unique("state")),
            token_sha256(TOKEN)
        ),
    )
    .unwrap();
    let mut child = Command::new(binary())
        .args(["run", "--config"])
        .arg(&config)
        .env("MODESHARE__HTTP__LISTEN", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("build the binary first: cargo build --release -p modeshare");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let address = lines
        .by_ref()
        .find_map(|line| {
            line.contains("ingest listener")
                .then(|| {
                    line.split("://")
                        .nth(1)?
                        .split_whitespace()
                        .next()
                        .map(str::to_owned)
                })
                .flatten()
        })
        .expect("the service stopped before it logged its ingest listener");
    std::thread::spawn(move || for _ in lines {});
    (child, address)
}

/// The events cut into request bodies of [`PER_REQUEST`] lines; ids made unique to `run` so
/// that no measure's events are duplicates of another's.
fn bodies(events: &[u8], run: &str) -> Vec<String> {
    let text = std::str::from_utf8(events).unwrap();
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.replacen("\"id\":\"", &format!("\"id\":\"{run}-"), 1))
        .collect();
    lines.chunks(PER_REQUEST).map(|c| c.join("\n")).collect()
}

/// Pushes every body with `clients` threads, each request once `pace` after the previous one
/// of its thread was due (none when zero); returns the elapsed time and each request's latency.
fn push_all(address: &str, bodies: Vec<String>, clients: usize, pace: Duration) -> (f64, Vec<f64>) {
    let url = format!("http://{address}/ingest/v1/events");
    let shares: Vec<Vec<String>> = (0..clients)
        .map(|c| bodies.iter().skip(c).step_by(clients).cloned().collect())
        .collect();
    let started = Instant::now();
    let latencies = std::thread::scope(|scope| {
        let threads: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let url = url.clone();
                scope.spawn(move || {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(60))
                        .build()
                        .unwrap();
                    let origin = Instant::now();
                    let mut latencies = Vec::with_capacity(share.len());
                    for (i, body) in share.into_iter().enumerate() {
                        let due = origin + pace * i as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let sent = Instant::now();
                        let answer = client
                            .post(&url)
                            .bearer_auth(TOKEN)
                            .header("Content-Type", "application/x-ndjson")
                            .body(body)
                            .send()
                            .unwrap();
                        let status = answer.status();
                        let text = answer.text().unwrap();
                        assert_eq!(status, 200, "{text}");
                        latencies.push(sent.elapsed().as_secs_f64());
                    }
                    latencies
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect::<Vec<f64>>()
    });
    (started.elapsed().as_secs_f64(), latencies)
}

/// `[kafka.options]` from `KAFKA_OPTIONS` (`key=value,key=value`), to measure producer settings
/// such as `linger.ms`.
fn kafka_options() -> String {
    let Ok(options) = std::env::var("KAFKA_OPTIONS") else {
        return String::new();
    };
    let lines: String = options
        .split(',')
        .filter_map(|o| o.split_once('='))
        .map(|(k, v)| format!("{k:?} = {v:?}\n"))
        .collect();
    format!("[kafka.options]\n{lines}")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    broker_script(&["start", PORT]);
    let brokers = format!("127.0.0.1:{PORT}");
    let dir = std::env::temp_dir().join(unique("ingest-bench"));
    std::fs::create_dir_all(&dir).unwrap();
    let data = modeshare_benches::canonical_events(events, 17);

    // 1. The baseline: `modeshare produce` of the same events as a file.
    let file = dir.join("events.ndjson");
    std::fs::write(&file, &data).unwrap();
    let produced_topic = unique("produced");
    broker_script(&["topic", &produced_topic, "4", PORT]);
    let t = Instant::now();
    let status = Command::new(binary())
        .args(["produce", "--brokers", &brokers, "--topic", &produced_topic])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "modeshare produce failed");
    let produce = events as f64 / t.elapsed().as_secs_f64();
    println!("modeshare produce of the file:          {produce:>9.0} events/s");

    // 2. and 3. Each sink.
    let ingest_topic = unique("ingest");
    broker_script(&["topic", &ingest_topic, "4", PORT]);
    let sinks: [(&str, Option<(&str, &str)>); 2] =
        [("kafka", Some((&brokers, &ingest_topic))), ("spool", None)];
    let only = std::env::var("SINK").ok();
    for (sink, kafka) in sinks {
        if only.as_deref().is_some_and(|o| o != sink) {
            continue;
        }
        let (mut child, address) = service(&dir, kafka);
        let mut four_clients = 0.0;
        for clients in [1, 4, 16] {
            let run = unique(&format!("{sink}{clients}"));
            let (seconds, _) = push_all(&address, bodies(&data, &run), clients, Duration::ZERO);
            let rate = events as f64 / seconds;
            if clients == 4 {
                four_clients = rate;
            }
            println!(
                "push into {sink}, {clients:>2} clients:            {rate:>9.0} events/s ({:.2} × produce)",
                rate / produce
            );
        }
        // Half the 4-client rate, from 4 clients each sending a request every `pace`.
        let half = four_clients / 2.0;
        let pace = Duration::from_secs_f64(4.0 * PER_REQUEST as f64 / half);
        let run = unique(&format!("{sink}-paced"));
        let (_, mut latencies) = push_all(&address, bodies(&data, &run), 4, pace);
        latencies.sort_by(f64::total_cmp);
        println!(
            "push into {sink} at {half:.0} events/s: latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests of {PER_REQUEST})",
            percentile(&latencies, 0.5) * 1e3,
            percentile(&latencies, 0.99) * 1e3,
            percentile(&latencies, 1.0) * 1e3,
            latencies.len()
        );
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
