//! Memory of the live pipeline as events stream through: peak RSS after 1 M and after 10 M
//! generated events at a constant rate over the Oslo region (> 20,000 resolution-9 cells).
//! State must stay flat in event count: windows keep 28 days of buckets, dedup forgets ids
//! after its 35-day horizon, cells are bounded by the area.
//!
//! `cargo bench -p modeshare-benches --bench memory` (EVENTS=n for the larger size).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use modeshare_benches::{ZONES, peak_rss_mib, region, settings, write_events};
use modeshare_core::pipeline::Pipeline;
use modeshare_core::publish::live_view;
use modeshare_core::publish::publish_cells;
use modeshare_core::space::Zones;
use modeshare_core::state::CellWindow;
use modeshare_core::state::{window_cells, window_zone_pairs};

fn main() {
    let total: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    // One event every 3.5 s of event time: 1 M events span 40 days, more than the dedup horizon.
    let spec = region(3_456);
    let mut pipeline = Pipeline::live(
        settings(h3o::Resolution::Nine),
        Zones::from_geojson(ZONES).unwrap(),
    );
    let mut chunk = Vec::new();
    let started = Instant::now();
    let mut done = 0;
    let mut report_at = 1_000_000.min(total);
    println!("events      cells   buckets  peak RSS  events/s");
    while done < total {
        let n = 100_000.min(total - done);
        chunk.clear();
        write_events(&mut chunk, done, n, 7, &spec);
        for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            pipeline.observe_line(line, "bench", None);
        }
        done += n;
        if done >= report_at {
            let cells = pipeline.totals().by_cell.len();
            let buckets = pipeline.windows().map(|w| w.bucket_count()).unwrap_or(0);
            let rss = peak_rss_mib().unwrap_or(f64::NAN);
            let rate = done as f64 / started.elapsed().as_secs_f64();
            println!("{done:>10} {cells:>7} {buckets:>9} {rss:>7.0} MiB {rate:>9.0}");
            report_at = (report_at * 10).min(total).max(done + 1);
        }
    }
    assert!(
        pipeline.totals().by_cell.len() > 20_000,
        "the bench must cover more than 20,000 cells"
    );
    // What each publish of the live service adds for the hex map and zone pairs: every rolling
    // window's cells and pairs summed from the buckets, and the k rule over the largest.
    let (Some(state), Some(watermark)) = (pipeline.windows(), pipeline.watermark()) else {
        return;
    };
    let ws = &pipeline.settings().windows;
    let started = Instant::now();
    let mut largest = CellWindow::default();
    let mut pieces = 0;
    for rw in &ws.rolling {
        let cells = window_cells(&[state], ws, watermark, rw.length);
        pieces += cells.cells.values().map(Vec::len).sum::<usize>();
        let _pairs = window_zone_pairs(&[state], ws, watermark, rw.length);
        largest = cells;
    }
    let summed = started.elapsed();
    let started = Instant::now();
    let shown = publish_cells(&largest, h3o::Resolution::Nine, None, 10).unwrap();
    let k_rule = started.elapsed();
    // What every publish (each `http.publish_interval`) computes: each window's and calendar
    // period's zones, with their distance bands, transit access and both bases.
    let started = Instant::now();
    let view = live_view(
        &[state],
        pipeline.settings().publishing(),
        pipeline.zones(),
        Some(watermark),
    );
    let view_time = started.elapsed();
    println!(
        "places of {} windows ({pieces} cell pieces): summed in {:.1} ms; k rule over {} cells of {}: {:.1} ms ({} shown)",
        ws.rolling.len(),
        summed.as_secs_f64() * 1e3,
        largest.cells.len(),
        ws.rolling.last().map(|r| r.label.as_str()).unwrap_or(""),
        k_rule.as_secs_f64() * 1e3,
        shown.cells.len(),
    );
    println!(
        "live view of {} windows and periods over {} zones: {:.1} ms",
        view.windows.len(),
        pipeline.zones().len(),
        view_time.as_secs_f64() * 1e3
    );
}
