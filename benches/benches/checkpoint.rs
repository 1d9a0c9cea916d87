//! Checkpoints of the live state: size, encode time, durable write time (write, fsync, rename,
//! fsync the directory) and restore time for the state of 1 M events (every id still within the
//! dedup horizon, so the dedup memory holds all of them: the worst case).
//!
//! `cargo bench -p modeshare-benches --bench checkpoint` (EVENTS=n to change the size;
//! STATE_DIR=path to write somewhere else than the system temp directory).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use modeshare::state_dir::StateDir;
use modeshare_benches::{ZONES, fill_with_region_events, settings};
use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::checkpoint;
use modeshare_core::pipeline::checkpoint::{Fingerprint, Position};
use modeshare_core::space::Zones;

fn best_ms<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    (best, last.unwrap())
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let settings = settings(h3o::Resolution::Nine);
    let zones = Zones::from_geojson(ZONES).unwrap();
    let mut pipeline = Pipeline::live(settings.clone(), zones.clone());
    fill_with_region_events(&mut pipeline, events);
    let fingerprint = Fingerprint::of(&settings, &zones, true);
    let position = Position::Offset(events as i64);
    let (encode_ms, bytes) = best_ms(3, || checkpoint::encode(&pipeline, position, fingerprint));
    let root = std::env::var("STATE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("modeshare-checkpoint-bench"));
    let dir = StateDir::new(&root);
    let file = dir.file(&["bench", "events", "0"]);
    let (write_ms, ()) = best_ms(3, || dir.write(&file, &bytes).unwrap());
    let (read_ms, read) = best_ms(3, || dir.read(&file).unwrap().unwrap());
    let (decode_ms, restored) = best_ms(3, || {
        checkpoint::decode(&read, settings.clone(), zones.clone(), true).unwrap()
    });
    assert_eq!(restored.pipeline.report(), pipeline.report());
    let totals = pipeline.totals();
    println!(
        "state of {events} events: {} accepted, {} cells, {} buckets",
        totals.events.accepted,
        totals.by_cell.len(),
        pipeline.windows().map_or(0, |w| w.bucket_count())
    );
    println!("| checkpoint size | encode | durable write | read | decode and restore |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.1} MiB | {encode_ms:.0} ms | {write_ms:.0} ms | {read_ms:.0} ms | {decode_ms:.0} ms |",
        bytes.len() as f64 / (1 << 20) as f64
    );
    let _ = std::fs::remove_dir_all(&root);
}
