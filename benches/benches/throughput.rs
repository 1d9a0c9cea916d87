//! End-to-end single-thread throughput over generated canonical events, next to a plain typed
//! `serde_json` decode of the same bytes: the replay pipeline (decode → classify → bin → total)
//! and the live one (… → windows, watermark, dedup horizon).
//!
//! `cargo bench -p modeshare-benches --bench throughput` (EVENTS=n to change the size).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use modeshare_benches::{ZONES, settings};
use modeshare_core::pipeline::{Outcome, Pipeline};
use modeshare_core::space::Zones;
use serde::Deserialize;

/// What a straightforward typed decode of the canonical event looks like.
#[derive(Deserialize)]
#[allow(dead_code)]
struct PlainEvent {
    kind: String,
    id: Option<String>,
    source: String,
    mode: String,
    start_time: serde_json::Value,
    end_time: Option<serde_json::Value>,
    origin: Option<PlainPoint>,
    destination: Option<PlainPoint>,
    location: Option<PlainPoint>,
    persons: Option<f64>,
    count: Option<f64>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct PlainPoint {
    lat: f64,
    lon: f64,
}

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..runs {
        let t = Instant::now();
        black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let data = modeshare_benches::canonical_events(events, 42);
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let settings = settings(h3o::Resolution::Nine);

    let decode_s = best_of(3, || {
        lines
            .iter()
            .filter(|l| serde_json::from_slice::<PlainEvent>(l).is_ok())
            .count()
    });
    let run = |live: bool| {
        best_of(3, || {
            let zones = Zones::from_geojson(ZONES).unwrap();
            let mut p = if live {
                Pipeline::live(settings.clone(), zones)
            } else {
                Pipeline::for_replay(settings.clone(), zones)
            };
            let accepted = lines
                .iter()
                .filter(|l| p.observe_line(l, "bench", None) == Outcome::Accepted)
                .count();
            assert_eq!(
                accepted,
                lines.len(),
                "every generated event must be accepted"
            );
            accepted
        })
    };
    let replay_s = run(false);
    let live_s = run(true);
    let n = lines.len() as f64;
    let mib = data.len() as f64 / (1 << 20) as f64;
    println!(
        "events: {} ({mib:.0} MiB of canonical NDJSON, {:.0} bytes/event)",
        lines.len(),
        data.len() as f64 / n
    );
    println!(
        "typed serde_json decode only:              {:>12.0} events/s",
        n / decode_s
    );
    println!(
        "replay: decode → classify → bin → total:   {:>12.0} events/s  ratio {:.2}",
        n / replay_s,
        decode_s / replay_s
    );
    println!(
        "live:   … → windows, watermark, horizon:   {:>12.0} events/s  ratio {:.2}",
        n / live_s,
        decode_s / live_s
    );
    if let Some(rss) = modeshare_benches::peak_rss_mib() {
        println!("peak RSS: {rss:.0} MiB (the input is held in memory)");
    }
}
