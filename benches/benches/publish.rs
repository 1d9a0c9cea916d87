//! What each publish of the live service computes, on a simulated Bærum month: the default
//! configuration, the built-in simulator's events over the longest window (28 days) in one
//! live pipeline, then the live view (every window and calendar period per zone, with its
//! distance bands, transit access and both bases), the places (cells, zone pairs, stop places)
//! and the report, each timed (best of five).
//!
//! `cargo bench -p modeshare-benches --bench publish` (DAYS=n to change the span).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use modeshare::config::{Overrides, load};
use modeshare_benches::best_of;
use modeshare_core::pipeline::Pipeline;
use modeshare_core::publish::{live_view, live_views};
use modeshare_core::vocabulary::EventTimeMs;
use modeshare_http::snapshot::Places;
use modeshare_source::simulator::Simulator;

fn main() {
    let days: i64 = std::env::var("DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(28);
    let config = load(None, [], &Overrides::default()).unwrap();
    let simulator = Simulator::new(config.simulator.clone());
    let end = EventTimeMs(1_780_000_000_000);
    let start = EventTimeMs(end.0 - days * 86_400_000);
    let mut pipeline = Pipeline::live(config.settings.clone(), config.zones.clone());
    let mut events = 0;
    let mut day = Vec::new();
    for d in 0..days {
        day.clear();
        let from = EventTimeMs(start.0 + d * 86_400_000);
        simulator.emit(from, EventTimeMs(from.0 + 86_400_000), &mut day);
        for line in day.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            pipeline.observe_line(line, "simulator", None);
            events += 1;
        }
    }
    let state = pipeline.windows().unwrap();
    let watermark = pipeline.watermark();
    println!(
        "{days} simulated days: {events} events, {} buckets",
        state.bucket_count()
    );
    let (view_time, view) = best_of(5, || {
        live_view(
            &[state],
            pipeline.settings().publishing(),
            pipeline.zones(),
            watermark,
        )
    });
    let (views_time, views) = best_of(5, || {
        live_views(
            &[state],
            pipeline.settings().publishing(),
            pipeline.zones(),
            watermark,
            pipeline.settings().k,
        )
    });
    let (places_time, _) = best_of(5, || {
        Places::build(pipeline.settings(), &[&pipeline], watermark)
    });
    let (report_time, _) = best_of(5, || pipeline.report());
    println!(
        "live view ({} windows and periods, {} zones): {:.2} ms",
        view.windows.len(),
        pipeline.zones().len(),
        view_time.as_secs_f64() * 1e3
    );
    println!(
        "live views, exact and public under the k rule ({} windows and periods): {:.2} ms",
        views.public.windows.len(),
        views_time.as_secs_f64() * 1e3
    );
    println!(
        "places (cells, zone pairs, stop places of {} rolling windows): {:.2} ms",
        pipeline.settings().windows.rolling.len(),
        places_time.as_secs_f64() * 1e3
    );
    println!("report: {:.2} ms", report_time.as_secs_f64() * 1e3);
}
