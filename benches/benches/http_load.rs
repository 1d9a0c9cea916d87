//! HTTP under load while the pipeline works at full speed: the real binary on its simulator with
//! a long backfill (so it ingests as fast as it can through every measurement), and a bounded
//! loopback load beside it. Each phase is a fresh `modeshare run`, measured over the same
//! window after the same warm-up:
//!
//! 1. baseline: no load;
//! 2. `/metrics` at about 500 requests/s from 50 connections (wrk, each connection pausing
//!    96 ms between requests): latency percentiles;
//! 3. 1,000 connections whose request headers never finish (the header read timeout raised
//!    above the window, so that they stay open throughout), and `/healthz` asked every 50 ms on
//!    a new connection: its latency;
//! 4. `/api/cells?window=28d&resolution=0` in a loop from 2 connections, as fast as answered;
//!    then the same at the configured resolution (9), the largest hex map.
//!
//! For each phase it prints the events ingested per second and the CPU time per event: of the
//! whole process, and of the pipeline's threads alone (every thread but the listeners' runtime,
//! `modeshare-http`), read from `/proc`. CPU per event, not events/s, is what compares across
//! phases: the load generator and other builds take cores from the pipeline on a small machine.
//!
//! ```sh
//! cargo build --release -p modeshare && scripts/tools.sh install wrk
//! cargo bench -p modeshare-benches --bench http_load
//! ```
//! WINDOW=seconds (default 20) measures longer; MODESHARE_BIN names the binary. Linux only
//! (`/proc`). Every request goes to 127.0.0.1, and every load stops by itself.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modeshare_benches::{
    admin_env, cpu_seconds_by_thread, events_read, listener_addresses, repo_root,
};

/// Time from the first event to the start of the measurement: the backfill's first state has
/// formed, the allocator has its pages.
const WARM_UP: Duration = Duration::from_secs(5);

/// CPU time of the process, split into the listeners' threads and the rest, in seconds.
#[derive(Clone, Copy, Default)]
struct Cpu {
    http: f64,
    pipeline: f64,
}

impl Cpu {
    fn total(self) -> f64 {
        self.http + self.pipeline
    }
}

/// The CPU time of every thread of `pid`, by whether it is one of the listeners' runtime's.
fn cpu_of(pid: u32) -> Cpu {
    let mut cpu = Cpu::default();
    for (name, seconds) in cpu_seconds_by_thread(pid).into_values() {
        if name.starts_with("modeshare-http") {
            cpu.http += seconds;
        } else {
            cpu.pipeline += seconds;
        }
    }
    cpu
}

/// `GET path` on a new connection: the status code and body, and how long the whole answer
/// took.
fn get(address: &str, path: &str) -> Option<(u16, String, Duration)> {
    let started = Instant::now();
    let mut s = TcpStream::connect(address).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    let elapsed = started.elapsed();
    let status = r.split(' ').nth(1)?.parse().ok()?;
    Some((status, r.split_once("\r\n\r\n")?.1.to_owned(), elapsed))
}

/// A `modeshare run` on the simulator, backfilling long enough to ingest at full speed for the
/// whole phase.
struct Service {
    child: Child,
    public: String,
}

impl Service {
    fn start(binary: &PathBuf, env: &[(&str, &str)]) -> Service {
        let mut child = Command::new(binary)
            .arg("run")
            .envs(admin_env())
            .envs(env.iter().copied())
            .env("MODESHARE__HTTP__LISTEN", "127.0.0.1:0")
            .env("MODESHARE__SIMULATOR__BACKFILL", "400d")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        let (public, _admin) = listener_addresses(&mut lines);
        // Keep reading the log so that the service never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let deadline = Instant::now() + Duration::from_secs(60);
        while events_read(&public).unwrap_or(0) == 0 {
            assert!(Instant::now() < deadline, "no events within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Service { child, public }
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// What one phase measured.
struct Measured {
    events_per_second: f64,
    /// CPU µs per event: the process, the pipeline's threads, the listeners' threads.
    process_us: f64,
    pipeline_us: f64,
    http_us: f64,
}

/// Runs `load` (which returns when its window is over) against a fresh service and measures the
/// service over that window; the load's own report is returned beside it.
fn phase<T>(
    binary: &PathBuf,
    env: &[(&str, &str)],
    window: Duration,
    load: impl FnOnce(&str, Duration) -> T,
) -> (Measured, T) {
    let mut service = Service::start(binary, env);
    std::thread::sleep(WARM_UP);
    let pid = service.child.id();
    let (read0, cpu0, t0) = (
        events_read(&service.public).unwrap(),
        cpu_of(pid),
        Instant::now(),
    );
    let report = load(&service.public, window);
    let (read1, cpu1, t1) = (
        events_read(&service.public).unwrap(),
        cpu_of(pid),
        Instant::now(),
    );
    assert!(
        service.child.try_wait().unwrap().is_none(),
        "the service ended during the phase"
    );
    service.stop();
    let events = (read1 - read0) as f64;
    assert!(
        events > 0.0,
        "no events in the window: the backfill ended too early"
    );
    let per_event = |seconds: f64| seconds * 1e6 / events;
    (
        Measured {
            events_per_second: events / (t1 - t0).as_secs_f64(),
            process_us: per_event(cpu1.total() - cpu0.total()),
            pipeline_us: per_event(cpu1.pipeline - cpu0.pipeline),
            http_us: per_event(cpu1.http - cpu0.http),
        },
        report,
    )
}

/// wrk against `url` for `window` with `connections`, each pausing `pace_ms` between requests;
/// its result line.
fn wrk(url: &str, connections: u32, pace_ms: u32, window: Duration) -> String {
    let script = repo_root().join("benches/wrk/paced.lua");
    let out = Command::new("wrk")
        .args(["-t", "1", "-c", &connections.to_string()])
        .args(["-d", &format!("{}s", window.as_secs())])
        .args(["--timeout", "10s", "-s"])
        .arg(&script)
        .args([url, "--", &pace_ms.to_string()])
        .output()
        .expect("wrk: install it with scripts/tools.sh install wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("wrk-result "))
        .unwrap_or_else(|| panic!("no result from wrk: {text}"))
        .to_owned()
}

/// A field of wrk's result line.
fn field(result: &str, name: &str) -> f64 {
    result
        .split(' ')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let window = Duration::from_secs(
        std::env::var("WINDOW")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let binary = std::env::var("MODESHARE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/release/modeshare"));
    assert!(
        binary.exists(),
        "{} missing: cargo build --release -p modeshare",
        binary.display()
    );
    // 1,000 slow connections need that many descriptors here too.
    let _ = rlimit::increase_nofile_limit(4096);
    println!(
        "http_load: {} s windows after {} s of ingestion, simulator backfilling 400 days",
        window.as_secs(),
        WARM_UP.as_secs()
    );
    let print = |name: &str, m: &Measured, base: Option<&Measured>| {
        let rise = |now: f64, then: Option<f64>| match then {
            Some(then) => format!(" ({:+.1} %)", (now / then - 1.0) * 100.0),
            None => String::new(),
        };
        println!(
            "{name:<28} {:>9.0} events/s   CPU per event: process {:.3} µs{}, pipeline {:.3} µs{}, listeners {:.3} µs",
            m.events_per_second,
            m.process_us,
            rise(m.process_us, base.map(|b| b.process_us)),
            m.pipeline_us,
            rise(m.pipeline_us, base.map(|b| b.pipeline_us)),
            m.http_us,
        );
    };

    let (baseline, ()) = phase(&binary, &[], window, |_, window| std::thread::sleep(window));
    print("baseline (no load)", &baseline, None);

    let (metrics, (result, bytes)) = phase(&binary, &[], window, |public, window| {
        let bytes = get(public, "/metrics").map_or(0, |(_, body, _)| body.len());
        // 50 connections, each pausing 96 ms after an answer of a few ms: about 500 requests/s.
        (
            wrk(&format!("http://{public}/metrics"), 50, 96, window),
            bytes,
        )
    });
    print("/metrics, 50 connections", &metrics, Some(&baseline));
    let seconds = field(&result, "duration_us") / 1e6;
    println!(
        "  /metrics ({} KB): {:.0} requests/s, p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} socket errors, {} not 2xx",
        bytes / 1000,
        field(&result, "requests") / seconds,
        field(&result, "p50_us") / 1e3,
        field(&result, "p90_us") / 1e3,
        field(&result, "p99_us") / 1e3,
        field(&result, "max_us") / 1e3,
        field(&result, "socket_errors"),
        field(&result, "non2xx"),
    );

    // The header read timeout (10 s by default) would close the unfinished requests within
    // the window: here it is longer than the window, so all 1,000 stay open throughout.
    let held = [("MODESHARE__HTTP__LIMITS__HEADER_READ_TIMEOUT", "5m")];
    let (slow, (latencies, open, refused)) = phase(&binary, &held, window, |public, window| {
        // Headers begun and never finished.
        let slow: Vec<TcpStream> = (0..1000)
            .filter_map(|_| {
                let mut s = TcpStream::connect(public).ok()?;
                s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .ok()?;
                Some(s)
            })
            .collect();
        let open = slow.len();
        let mut latencies = Vec::new();
        let mut refused = 0;
        let end = Instant::now() + window;
        while Instant::now() < end {
            match get(public, "/healthz") {
                Some((200, _, took)) => latencies.push(took),
                _ => refused += 1,
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(slow);
        latencies.sort();
        (latencies, open, refused)
    });
    print("1,000 unfinished headers", &slow, Some(&baseline));
    println!(
        "  /healthz beside {open} unfinished requests: {} answers, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {refused} failed",
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );

    // The hex map at resolution 0 (what was asked), then at the configured resolution (9: the
    // largest answer).
    for (name, cells_path) in [
        (
            "/api/cells 28d res 0, loop",
            "/api/cells?window=28d&resolution=0",
        ),
        ("/api/cells 28d res 9, loop", "/api/cells?window=28d"),
    ] {
        let (cells, (result, bytes)) = phase(&binary, &[], window, |public, window| {
            let bytes = match get(public, cells_path) {
                Some((200, body, _)) => body.len(),
                other => panic!("{cells_path}: {other:?}"),
            };
            (
                wrk(&format!("http://{public}{cells_path}"), 2, 0, window),
                bytes,
            )
        });
        print(name, &cells, Some(&baseline));
        let seconds = field(&result, "duration_us") / 1e6;
        println!(
            "  {cells_path} ({bytes} bytes): {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms, {} not 2xx; ingestion at {:.0} % of the baseline's rate",
            field(&result, "requests") / seconds,
            field(&result, "p50_us") / 1e3,
            field(&result, "p99_us") / 1e3,
            field(&result, "non2xx"),
            cells.events_per_second / baseline.events_per_second * 100.0,
        );
    }
}
