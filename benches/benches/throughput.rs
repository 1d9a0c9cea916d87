//! End-to-end throughput over generated canonical events, next to a plain typed `serde_json`
//! decode of the same bytes on one thread: the replay pipeline (decode → classify → bin →
//! total) and the live one (… → windows, watermark, dedup horizon) on one thread, and
//! `modeshare replay` of the same bytes as a file (in the page cache) on one thread and on
//! `THREADS` (default: one per core), with the scaling between them.
//!
//! `cargo bench -p modeshare-benches --bench throughput`
//!
//! - `EVENTS=n`: how many events (1,000,000).
//! - `ROUNDS=n`: the measures run interleaved, one of each per round, and each prints the median
//!   of its rounds (5): on a shared machine back-to-back runs vary by a factor of two, and
//!   interleaving gives every measure the same share of the noise.
//! - `MEASURES=replay,live`: only these (`decode`, `replay`, `live`, `file1`, `fileN`), for
//!   example under `valgrind --tool=callgrind` with `ROUNDS=1`.
//! - `THREADS=n`: the threads of `fileN`.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use modeshare::cli::ReplayArgs;
use modeshare_benches::{ZONES, settings};
use modeshare_core::pipeline::{Outcome, Pipeline, Settings};
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

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One measure: its name, what it prints, and the seconds of each round.
struct Measure<'a> {
    name: &'static str,
    label: String,
    run: Box<dyn FnMut() -> usize + 'a>,
    seconds: Vec<f64>,
}

impl Measure<'_> {
    fn median(&self) -> f64 {
        let mut s = self.seconds.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    }
}

fn pipeline_run<'a>(
    lines: &'a [&'a [u8]],
    settings: &'a Settings,
    live: bool,
) -> impl FnMut() -> usize + 'a {
    move || {
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
    }
}

/// `modeshare replay --threads N FILE` without printing: the events read.
fn file_run<'a>(
    config: &'a modeshare::config::AppConfig,
    file: &'a str,
    threads: u16,
    expected: usize,
) -> impl FnMut() -> usize + 'a {
    move || {
        let args = ReplayArgs {
            threads: Some(threads),
            files: vec![file.to_owned()],
            ..ReplayArgs::default()
        };
        let (pipeline, _) = modeshare::replay::read(config, &args).unwrap();
        let accepted = pipeline.totals().events.accepted as usize;
        assert_eq!(accepted, expected, "every generated event must be accepted");
        accepted
    }
}

fn main() {
    let events: usize = env_or("EVENTS", 1_000_000);
    let rounds: usize = env_or::<usize>("ROUNDS", 5).max(1);
    let selected: Option<Vec<String>> = std::env::var("MEASURES")
        .ok()
        .map(|m| m.split(',').map(|s| s.trim().to_owned()).collect());
    let data = modeshare_benches::canonical_events(events, 42);
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let settings = settings(h3o::Resolution::Nine);
    let config = modeshare_benches::config(h3o::Resolution::Nine);
    let threads: u16 = env_or(
        "THREADS",
        std::thread::available_parallelism().map_or(2, |n| n.get() as u16),
    );
    let file = std::env::temp_dir().join(format!(
        "modeshare-throughput-{}.ndjson",
        std::process::id()
    ));
    std::fs::write(&file, &data).unwrap();
    let file = file.display().to_string();

    let mut measures = vec![
        Measure {
            name: "decode",
            label: "typed serde_json decode only:            ".into(),
            run: Box::new(|| {
                lines
                    .iter()
                    .filter(|l| serde_json::from_slice::<PlainEvent>(l).is_ok())
                    .count()
            }),
            seconds: Vec::new(),
        },
        Measure {
            name: "replay",
            label: "replay: decode → classify → bin → total: ".into(),
            run: Box::new(pipeline_run(&lines, &settings, false)),
            seconds: Vec::new(),
        },
        Measure {
            name: "file1",
            label: "replay of the file on 1 thread:          ".into(),
            run: Box::new(file_run(&config, &file, 1, lines.len())),
            seconds: Vec::new(),
        },
        Measure {
            name: "fileN",
            label: format!(
                "{:<41}",
                format!("replay of the file on {threads} threads:")
            ),
            run: Box::new(file_run(&config, &file, threads, lines.len())),
            seconds: Vec::new(),
        },
        Measure {
            name: "live",
            label: "live:   … → windows, watermark, horizon: ".into(),
            run: Box::new(pipeline_run(&lines, &settings, true)),
            seconds: Vec::new(),
        },
    ];
    measures.retain(|m| {
        selected
            .as_ref()
            .is_none_or(|s| s.iter().any(|n| n == m.name))
    });
    for _ in 0..rounds {
        for m in &mut measures {
            let t = Instant::now();
            std::hint::black_box((m.run)());
            m.seconds.push(t.elapsed().as_secs_f64());
        }
    }

    let n = lines.len() as f64;
    let mib = data.len() as f64 / (1 << 20) as f64;
    println!(
        "events: {} ({mib:.0} MiB of canonical NDJSON, {:.0} bytes/event), median of {rounds} interleaved rounds",
        lines.len(),
        data.len() as f64 / n
    );
    let decode_s = measures
        .iter()
        .find(|m| m.name == "decode")
        .map(Measure::median);
    for m in &measures {
        let median = m.median();
        let (best, worst) = m
            .seconds
            .iter()
            .fold((f64::INFINITY, 0.0_f64), |(b, w), s| (b.min(*s), w.max(*s)));
        let ratio = match decode_s {
            Some(d) if m.name != "decode" => format!("  ratio {:.2}", d / median),
            _ => String::new(),
        };
        println!(
            "{} {:>10.0} events/s{ratio}  (rounds {:.0}–{:.0})",
            m.label,
            n / median,
            n / worst,
            n / best
        );
    }
    let median_of = |name: &str| {
        measures
            .iter()
            .find(|m| m.name == name)
            .map(Measure::median)
    };
    if let (Some(one), Some(many)) = (median_of("file1"), median_of("fileN")) {
        println!(
            "scaling on {threads} threads: {:.2} × the one-thread file replay ({:.2} per thread)",
            one / many,
            one / many / f64::from(threads)
        );
    }
    let _ = std::fs::remove_file(&file);
    if let Some(rss) = modeshare_benches::peak_rss_mib() {
        println!("peak RSS: {rss:.0} MiB (the input is held in memory)");
    }
}
