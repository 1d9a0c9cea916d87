//! End-to-end single-thread throughput: decode → classify → bin → total over generated
//! canonical events, next to a plain typed `serde_json` decode of the same bytes.
//!
//! `cargo bench -p modeshare-benches --bench throughput` (EVENTS=n to change the size).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use modeshare_core::config::Settings;
use modeshare_core::factor::PersonTripFactors;
use modeshare_core::mode::GroupsConfig;
use modeshare_core::pipeline::{Outcome, Pipeline};
use modeshare_core::time::DurationMs;
use modeshare_core::zone::Zones;
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

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        n = black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, n)
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
    let zones_text = include_str!("../../config/zones/baerum.geojson");
    let mut errors = modeshare_core::config::ConfigErrors::default();
    let groups = GroupsConfig(
        [
            (
                "sustainable",
                vec!["walk", "bicycle", "e_scooter", "bus", "rail"],
            ),
            ("cycling", vec!["bicycle"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(String::from).collect()))
        .collect(),
    )
    .validate(&mut errors);
    let settings = Settings {
        groups,
        goals: Vec::new(),
        factors: PersonTripFactors::default(),
        resolution: h3o::Resolution::Nine,
        dedup_horizon: DurationMs::from_days(35),
    };

    let (decode_s, _) = best_of(3, || {
        lines
            .iter()
            .filter(|l| serde_json::from_slice::<PlainEvent>(l).is_ok())
            .count()
    });
    let mut accepted = 0;
    let (pipeline_s, _) = best_of(3, || {
        let mut p =
            Pipeline::for_replay(settings.clone(), Zones::from_geojson(zones_text).unwrap());
        accepted = lines
            .iter()
            .filter(|l| p.observe_line(l, "bench", None) == Outcome::Accepted)
            .count();
        black_box(p.totals().by_cell.len())
    });
    assert_eq!(
        accepted,
        lines.len(),
        "every generated event must be accepted"
    );
    let n = lines.len() as f64;
    let mib = data.len() as f64 / (1 << 20) as f64;
    println!(
        "events: {} ({mib:.0} MiB of canonical NDJSON, {:.0} bytes/event)",
        lines.len(),
        data.len() as f64 / n
    );
    println!(
        "typed serde_json decode only:      {:>12.0} events/s",
        n / decode_s
    );
    println!(
        "decode → classify → bin → total:   {:>12.0} events/s",
        n / pipeline_s
    );
    println!(
        "ratio pipeline / decode-only:      {:>12.2}",
        decode_s / pipeline_s
    );
    if let Some(rss) = modeshare_benches::peak_rss_mib() {
        println!("peak RSS:                          {rss:>12.0} MiB (input held in memory)");
    }
}
