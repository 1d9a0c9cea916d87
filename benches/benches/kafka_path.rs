//! The Kafka path on the local broker (tansu, `scripts/broker.sh`), driving the real binary:
//!
//! 1. rdkafka's bare consume rate of a 4-partition topic of generated events, and its CPU time
//!    per event (this process's, from the first message to the last); then the CPU time per
//!    event of applying the same records in this process, a live pipeline per partition as the
//!    service keeps them;
//! 2. `modeshare run` consuming the same topic (decode → bin → windows, offsets stored), timed
//!    from its first to its last event on `/healthz`, and its CPU time per event over the
//!    same span, next to the bare consume's, per thread, in publishing, and around the
//!    pipeline (the whole less the same partitions in process); then its CPU while idle with
//!    that state, and its resident memory;
//! 3. produce-to-visible latency on `/api/zones` (today's calendar total) at a steady rate of
//!    half the bare consume rate, and 4. the same into a bare consumer;
//! 5. 1, 2 and 4 instances of one group on a topic of 8 partitions: events/s and each
//!    instance's CPU.
//!
//! ```sh
//! cargo build --release -p modeshare && cargo bench -p modeshare-benches --bench kafka_path
//! ```
//! EVENTS=n sets the size of steps 1 and 2 (default 200,000); LATENCY_RATE=r the rate of step 3.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use modeshare_benches::{
    admin_env, broker_script, cpu_seconds, cpu_seconds_by_thread, events_read, listener_addresses,
    repo_root, status_mib, unique,
};
use modeshare_core::decode::{Format, FormatDecoder};
use modeshare_core::pipeline::{Outcome, Pipeline};
use modeshare_kafka::EventProducer;
use modeshare_kafka::config::KafkaOptions;
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

const PORT: &str = "19092";

fn get(address: &str, path: &str) -> serde_json::Value {
    let mut s = TcpStream::connect(address).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    serde_json::from_str(r.split_once("\r\n\r\n").unwrap().1).unwrap()
}

/// Starts `modeshare run` with a Kafka config; returns the child and the addresses of its
/// public listener and its admin listener (where the report is).
fn service(brokers: &str, topic: &str) -> (Child, String, String) {
    service_in(brokers, topic, &unique("group"))
}

/// The same as a member of `group`.
fn service_in(brokers: &str, topic: &str, group: &str) -> (Child, String, String) {
    let dir = std::env::temp_dir().join(unique("config"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("kafka.toml");
    std::fs::write(
        &config,
        format!(
            "[state]\ndir = {:?}\n[kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{group}\"\ndead_letter_topic = \"{}\"\n[kafka.options]\n\"session.timeout.ms\" = \"6000\"\n[[kafka.topics]]\nname = \"{topic}\"\n",
            dir.join("state"),
            unique("dead")
        ),
    )
    .unwrap();
    let bin = std::env::var("MODESHARE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/release/modeshare"));
    let mut child = Command::new(bin)
        .args(["run", "--config"])
        .arg(&config)
        .env("MODESHARE__HTTP__LISTEN", "127.0.0.1:0")
        .envs(admin_env())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("build the binary first: cargo build --release -p modeshare");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let (public, admin) = listener_addresses(&mut lines);
    std::thread::spawn(move || for _ in lines {});
    (child, public, admin)
}

/// Sends `count` trips at `rate` per second from a thread, each timestamped now; returns when
/// each was handed to the producer.
fn produce_steady(
    brokers: &str,
    topic: &str,
    rate: f64,
    count: usize,
) -> std::thread::JoinHandle<Vec<Instant>> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());
    let interval = Duration::from_secs_f64(1.0 / rate);
    std::thread::spawn(move || {
        let p = EventProducer::connect_without_idempotence(
            &brokers,
            &KafkaOptions::new([("linger.ms", "0")]),
        )
        .unwrap();
        let origin = Instant::now();
        let mut sent_at = Vec::with_capacity(count);
        for i in 0..count {
            let due = origin + interval * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let now_ms = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            let line = format!(
                r#"{{"kind":"trip","id":"lat-{i}","source":"latency","mode":"walk","start_time":{now_ms},"origin":{{"lat":59.8937,"lon":10.6281}}}}"#
            );
            sent_at.push(Instant::now());
            // A full queue (the broker behind) waits, as a real producer would.
            while let Err(e) = p.enqueue(&topic, Some(b"latency"), line.as_bytes()) {
                assert_eq!(
                    e.rdkafka_error_code(),
                    Some(rdkafka::types::RDKafkaErrorCode::QueueFull),
                    "{e}"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        p.flush(Duration::from_secs(30)).unwrap();
        sent_at
    })
}

/// Count, p50, p99 and max of the delays between two lists of instants.
fn percentiles(sent: &[Instant], seen: &[Instant]) -> (usize, f64, f64, f64) {
    let mut l: Vec<f64> = sent
        .iter()
        .zip(seen)
        .map(|(s, v)| v.saturating_duration_since(*s).as_secs_f64())
        .collect();
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    (l.len(), pct(0.5), pct(0.99), pct(1.0))
}

/// A bare rdkafka consumer of `topic` from its beginning, in a group of its own.
fn subscribed(brokers: &str, topic: &str, group: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique(group))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// The CPU time per event of applying the topic's `count` records in this process as the
/// service does: a live pipeline per partition (the embedded default configuration), each
/// record decoded and observed in offset order. Read from the topic first, untimed.
fn in_process(brokers: &str, topic: &str, count: usize) -> f64 {
    let consumer = subscribed(brokers, topic, "in-process");
    let mut partitions: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    let mut n = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while n < count {
        assert!(
            Instant::now() < deadline,
            "read {n} of the topic's {count} records again in 120 s"
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let payload = m.payload().unwrap_or_default().to_vec();
            partitions.entry(m.partition()).or_default().push(payload);
            n += 1;
        }
    }
    drop(consumer);
    let config = modeshare_benches::config(h3o::Resolution::Nine);
    let decoder = FormatDecoder::new(
        &Format::Canonical,
        &config.formats,
        &config.settings.factors,
    );
    // The median of three rounds, each with new pipelines (this machine is noisy).
    let mut rounds: Vec<f64> = (0..3)
        .map(|_| apply_in_process(&config, &decoder, &partitions, topic, count))
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[1]
}

/// One round of [`in_process`]: the CPU time per event.
fn apply_in_process(
    config: &modeshare::config::AppConfig,
    decoder: &FormatDecoder,
    partitions: &BTreeMap<i32, Vec<Vec<u8>>>,
    topic: &str,
    count: usize,
) -> f64 {
    let me = std::process::id();
    let from = cpu_seconds(me);
    let mut accepted = 0;
    // Kept until the time is taken: the service does not drop its state either.
    let mut pipelines = Vec::new();
    for records in partitions.values() {
        let mut pipeline = Pipeline::live(config.settings.clone(), config.zones.clone());
        // The service reads the clock once a batch (at most 2,048 records).
        for batch in records.chunks(2048) {
            let now = Some(modeshare::clock::wall_clock());
            for record in batch {
                decoder.decode_record(record, now, &mut |_, decoded| {
                    if let Some(Outcome::Accepted) = pipeline.observe_decoded(decoded, topic, now) {
                        accepted += 1;
                    }
                });
            }
        }
        pipelines.push(pipeline);
    }
    let cpu = cpu_seconds(me) - from;
    drop(pipelines);
    assert_eq!(accepted, count, "every generated event must be accepted");
    cpu / count as f64 * 1e6
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    broker_script(&["start", PORT]);
    let brokers = format!("127.0.0.1:{PORT}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let producer =
        EventProducer::connect_without_idempotence(&brokers, &KafkaOptions::default()).unwrap();

    // 1. Fill a topic, then read it bare.
    let topic = unique("events");
    broker_script(&["topic", &topic, "4", PORT]);
    let data = modeshare_benches::canonical_events(events, 11);
    let records: Vec<(Option<Vec<u8>>, Vec<u8>)> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| (Some(format!("source-{}", i % 5).into_bytes()), l.to_vec()))
        .collect();
    let t = Instant::now();
    let (sent, failure) = runtime.block_on(producer.send_all(&topic, &records));
    assert!(failure.is_none() && sent == records.len());
    println!(
        "produced {sent} events in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let consumer = subscribed(&brokers, &topic, "bare");
    let (mut n, mut first) = (0usize, None);
    let me = std::process::id();
    while n < sent {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(|| (Instant::now(), cpu_seconds(me)));
            n += 1;
        }
    }
    let (first_at, first_cpu) = first.unwrap();
    let bare = n as f64 / first_at.elapsed().as_secs_f64();
    let bare_cpu_us = (cpu_seconds(me) - first_cpu) / n as f64 * 1e6;
    drop(consumer);
    println!(
        "bare rdkafka consume:              {bare:>10.0} events/s  {bare_cpu_us:.2} µs CPU per event"
    );
    // The pipeline's own share: the same records, each partition's in a live pipeline of its
    // own as the service keeps them, applied in process (read again, untimed, from the topic).
    let pipeline_cpu_us = in_process(&brokers, &topic, sent);
    println!(
        "the same partitions in process:    {:>10.0} events/s  {pipeline_cpu_us:.2} µs CPU per event (decode → windows, a live pipeline per partition)",
        1e6 / pipeline_cpu_us
    );

    // 2. The service over the same topic.
    // Progress from `/healthz` (the events read, a few hundred bytes), polled every 100 ms (a
    // request on a new connection costs the service about 150 µs, nearly all of it the
    // kernel's TCP: every 20 ms it was a tenth of the service's CPU; the span's end is at most
    // 100 ms late, 0.3 % of a 30 s span):
    // `/api/report` serialises the whole state at each request, and `/metrics` encodes each
    // new snapshot's 2,500 series (about 20 ms, four times a second at this pace), which a
    // city's Prometheus asks for every 15 s or so: either was the bench's own cost, not the
    // consume's (a seventh and a quarter of the service's CPU).
    let (mut child, address, _) = service(&brokers, &topic);
    let read = |a: &str| events_read(a).unwrap_or(0) as usize;
    let publishing = |a: &str| metric_sum(a, "modeshare_publish_duration_seconds_sum");
    // Scraped before the span (an encode of `/metrics` is not the consume's cost either).
    let published_from = publishing(&address);
    let start = loop {
        let r = read(&address);
        if r > 0 {
            break (Instant::now(), r, cpu_seconds(child.id()));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let threads_from = cpu_seconds_by_thread(child.id());
    while read(&address) < sent {
        std::thread::sleep(Duration::from_millis(100));
    }
    let path = (sent - start.1) as f64 / start.0.elapsed().as_secs_f64();
    let path_cpu = cpu_seconds(child.id()) - start.2;
    let per_event = |seconds: f64| seconds / (sent - start.1) as f64 * 1e6;
    let path_cpu_us = per_event(path_cpu);
    println!(
        "modeshare run (decode → windows):  {path:>10.0} events/s  ratio {:.2}  {path_cpu_us:.2} µs CPU per event ({:.2} × bare), {:.0} % of a core",
        path / bare,
        path_cpu_us / bare_cpu_us,
        path_cpu / start.0.elapsed().as_secs_f64() * 100.0
    );
    // Where it went: per thread (by name), what threads that ended within the span used (the
    // process's time less its living threads'), and the publishes (summing the state for the
    // HTTP server every `http.publish_interval`, on the pipeline's thread; wall-clock time).
    let threads_to = cpu_seconds_by_thread(child.id());
    let mut by_name = std::collections::BTreeMap::<&str, f64>::new();
    for (tid, (name, cpu)) in &threads_to {
        let from = threads_from.get(tid).map_or(0.0, |(_, cpu)| *cpu);
        *by_name.entry(name).or_default() += cpu - from;
    }
    let living: f64 = by_name.values().sum();
    let mut threads: Vec<(&str, f64)> = by_name.into_iter().filter(|(_, c)| *c > 0.0).collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (name, cpu) in threads {
        println!("  thread {name:<28} {:.2} µs per event", per_event(cpu));
    }
    println!(
        "  threads ended within the span      {:.2} µs per event",
        per_event((path_cpu - living).max(0.0))
    );
    println!(
        "  publishing snapshots (wall clock)  {:.2} µs per event",
        per_event(publishing(&address) - published_from)
    );
    println!(
        "  around the pipeline                {:.2} µs per event ({:.2} × bare): the whole process less the same partitions in process",
        path_cpu_us - pipeline_cpu_us,
        (path_cpu_us - pipeline_cpu_us) / bare_cpu_us
    );
    println!(
        "  the whole process against its floors   {:.2} × (the bare consume and the same partitions in process together)",
        path_cpu_us / (bare_cpu_us + pipeline_cpu_us)
    );
    // Idle: the topic read, nothing new, nobody asking. What the service costs by itself (the
    // publish tick, the brokers' statistics, the checkpoint tick), measured over 10 s once the
    // places have been summed a last time (5 s after the last change).
    std::thread::sleep(Duration::from_secs(6));
    let idle_from = (Instant::now(), cpu_seconds(child.id()));
    std::thread::sleep(Duration::from_secs(10));
    let idle = (cpu_seconds(child.id()) - idle_from.1) / idle_from.0.elapsed().as_secs_f64();
    let pid = child.id().to_string();
    let mib = |field| status_mib(&pid, field).unwrap_or(f64::NAN);
    println!(
        "modeshare run, idle with the topic's state:  {:.2} % of a core, {:.0} MiB resident (peak {:.0} MiB)",
        idle * 100.0,
        mib("VmRSS"),
        mib("VmHWM")
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    // 3. Latency at half the bare rate, on a fresh topic, visible in today's total on /api/zones.
    let live = unique("live");
    broker_script(&["topic", &live, "4", PORT]);
    let (mut child, address, _) = service(&brokers, &live);
    let day_total = |a: &str| {
        let z = get(a, "/api/zones");
        z["windows"]
            .as_array()
            .and_then(|w| w.iter().find(|w| w["window"] == "day"))
            .map(|w| {
                w["zones"]["Bærum"]["total_person_trips"]
                    .as_f64()
                    .unwrap_or(0.0)
            })
            .unwrap_or(0.0)
    };
    std::thread::sleep(Duration::from_secs(5)); // group join
    // Half the bare consume rate unless LATENCY_RATE (events/s) says otherwise.
    let rate: f64 = std::env::var("LATENCY_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or((bare / 2.0).min(20_000.0));
    let count = (rate * 10.0) as usize;
    let produce_thread = produce_steady(&brokers, &live, rate, count);
    let mut visible_at: Vec<Instant> = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(60);
    while visible_at.len() < count && Instant::now() < deadline {
        let total = day_total(&address) as usize;
        let now = Instant::now();
        while visible_at.len() < total.min(count) {
            visible_at.push(now);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent_at = produce_thread.join().unwrap();
    let (n, p50, p99, max) = percentiles(&sent_at, &visible_at);
    println!(
        "produce → visible on /api/zones at {rate:.0} events/s ({n} events): p50 {p50:.3} s, p99 {p99:.3} s, max {max:.3} s"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    // 4. The same rate into a bare rdkafka consumer: the broker's own produce → fetch latency.
    let bare_topic = unique("bare-live");
    broker_script(&["topic", &bare_topic, "4", PORT]);
    let consumer = subscribed(&brokers, &bare_topic, "bare-live");
    let _ = consumer.poll(Duration::from_secs(5)); // group join
    let produce_thread = produce_steady(&brokers, &bare_topic, rate, count);
    let mut received_at = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(60);
    while received_at.len() < count && Instant::now() < deadline {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(50)) {
            received_at.push(Instant::now());
        }
    }
    let sent_at = produce_thread.join().unwrap();
    let (n, p50, p99, max) = percentiles(&sent_at, &received_at);
    println!(
        "produce → bare rdkafka consumer at {rate:.0} events/s ({n} events): p50 {p50:.3} s, p99 {p99:.3} s, max {max:.3} s"
    );

    // 5. Instances of one group on one topic of 8 partitions: each joins the empty topic, then
    // the events are sent; the rate from the first event read to the last (the sum of the
    // instances' own counts on /healthz), and each instance's CPU time over that span.
    for instances in [1, 2, 4] {
        let topic = unique("instances");
        broker_script(&["topic", &topic, "8", PORT]);
        let group = unique("group");
        let members: Vec<(Child, String, String)> = (0..instances)
            .map(|_| service_in(&brokers, &topic, &group))
            .collect();
        let assigned = |m: &(Child, String, String)| {
            metric_sum(&m.1, "modeshare_kafka_assigned_partitions") as usize
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while members.iter().map(assigned).sum::<usize>() != 8
            || members.iter().any(|m| assigned(m) == 0)
        {
            assert!(Instant::now() < deadline, "the group did not settle");
            std::thread::sleep(Duration::from_millis(100));
        }
        let produced = std::thread::spawn({
            let (brokers, topic, records) = (brokers.clone(), topic.clone(), records.clone());
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let producer =
                    EventProducer::connect_without_idempotence(&brokers, &KafkaOptions::default())
                        .unwrap();
                let t = Instant::now();
                let (sent, _) = runtime.block_on(producer.send_all(&topic, &records));
                (sent, t.elapsed())
            }
        });
        let read = || {
            members
                .iter()
                .map(|m| events_read(&m.1).unwrap_or(0))
                .sum::<u64>() as usize
        };
        let (first, cpu_before) = loop {
            if read() > 0 {
                break (
                    Instant::now(),
                    members
                        .iter()
                        .map(|m| cpu_seconds(m.0.id()))
                        .collect::<Vec<_>>(),
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        while read() < records.len() {
            std::thread::sleep(Duration::from_millis(100));
        }
        let span = first.elapsed().as_secs_f64();
        let cpu: Vec<String> = members
            .iter()
            .zip(&cpu_before)
            .map(|(m, before)| format!("{:.0} %", (cpu_seconds(m.0.id()) - before) / span * 100.0))
            .collect();
        let (sent, producing) = produced.join().unwrap();
        println!(
            "{instances} instance(s), 8 partitions: {:>8.0} events/s; CPU per instance {} (producer sent {sent} in {:.1} s)",
            records.len() as f64 / span,
            cpu.join(", "),
            producing.as_secs_f64()
        );
        for (mut child, _, _) in members {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// The sum of a metric family's samples on an instance's `/metrics`.
fn metric_sum(address: &str, family: &str) -> f64 {
    let mut s = TcpStream::connect(address).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines()
        .filter(|l| l.starts_with(family) && l[family.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
