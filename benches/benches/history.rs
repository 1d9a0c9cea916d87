//! The calendar history trends are drawn from: 10 zones × 13 modes × 400 days of days, in
//! memory (the days' tallies) and in a checkpoint, beside the same state with one day.
//!
//! `cargo bench -p modeshare-benches --bench history`

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use modeshare_benches::settings;
use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::checkpoint::{self, Fingerprint, Position};
use modeshare_core::space::Zones;
use modeshare_core::state::daily_totals;
use modeshare_core::vocabulary::Mode;

const ZONES: usize = 10;
const DAY_MS: i64 = 86_400_000;
/// 2025-01-01T12:00:00Z.
const FIRST_NOON: i64 = 1_735_732_800_000;

/// Ten square zones side by side around Bærum.
fn zones() -> Zones {
    let features: Vec<String> = (0..ZONES)
        .map(|i| {
            let lon = 10.40 + i as f64 * 0.03;
            format!(
                r#"{{"type":"Feature","properties":{{"name":"zone {i}"}},"geometry":{{"type":"Polygon","coordinates":[[[{lon},59.85],[{},59.85],[{},59.95],[{lon},59.95],[{lon},59.85]]]}}}}"#,
                lon + 0.03,
                lon + 0.03
            )
        })
        .collect();
    Zones::from_geojson(&format!(
        r#"{{"type":"FeatureCollection","features":[{}]}}"#,
        features.join(",")
    ))
    .unwrap()
}

/// A live pipeline holding one trip per zone, mode and day for `days` days.
fn filled(days: i64) -> Pipeline {
    let zones = zones();
    let mut p = Pipeline::live(settings(h3o::Resolution::Nine), zones);
    let mut id = 0;
    for day in 0..days {
        for z in 0..ZONES {
            let lon = 10.415 + z as f64 * 0.03;
            for mode in Mode::ALL {
                let line = format!(
                    r#"{{"kind":"trip","id":"{id}","source":"bench","mode":"{}","start_time":{},"origin":{{"lat":59.9,"lon":{lon}}}}}"#,
                    mode.as_str(),
                    FIRST_NOON + day * DAY_MS
                );
                p.observe_line(line.as_bytes(), "bench", None);
                id += 1;
            }
        }
    }
    p
}

fn checkpoint_bytes(p: &Pipeline) -> usize {
    let fingerprint = Fingerprint::of(p.settings(), p.zones(), true);
    checkpoint::encode(p, Position::Offset(0), fingerprint).len()
}

fn main() {
    let one = filled(1);
    let year = filled(401);
    let states: Vec<_> = year.windows().into_iter().collect();
    let days = daily_totals(
        &states,
        "2000-01-01".parse().unwrap(),
        "2100-01-01".parse().unwrap(),
        ZONES,
    );
    let tallies = days.len() * ZONES * Mode::COUNT;
    // A day: its date and one vector of per-mode tallies (16 bytes each) per zone.
    let memory = days.len() * (4 + 24 + ZONES * (std::mem::size_of::<[u64; 2]>() * Mode::COUNT));
    println!(
        "{} days kept of 401 observed; {tallies} tallies ({ZONES} zones × {} modes × {} days)",
        days.len(),
        Mode::COUNT,
        days.len()
    );
    println!(
        "days' tallies in memory: {:.2} MiB (without the map's nodes and the per-day breakdowns)",
        memory as f64 / (1 << 20) as f64
    );
    let (a, b) = (checkpoint_bytes(&one), checkpoint_bytes(&year));
    println!(
        "checkpoint: {:.2} MiB with one day, {:.2} MiB with the history: {:.1} KiB a day",
        a as f64 / (1 << 20) as f64,
        b as f64 / (1 << 20) as f64,
        (b - a) as f64 / 1024.0 / (days.len() - 1) as f64
    );
}
