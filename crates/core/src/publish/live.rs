//! The live view over every partition's windows at the combined watermark: the exact one
//! (what `/metrics` and the city's admin see) and the public one (every place-level number
//! under the k rule), built from the same window sums.

use std::collections::BTreeMap;

use super::public::{Public, public_zone_window};
use super::settings::PublishSettings;
use super::view::{LiveView, WindowView, ZoneWindow, zone_window};
use crate::space::Zones;
use crate::state::{
    Breakdown, ModeTotals, WindowState, calendar_totals, window_breakdown, window_totals,
};
use crate::vocabulary::EventTimeMs;

/// The zones of one window: exact, and with `k` also public.
type Zoned = (
    BTreeMap<String, ZoneWindow>,
    Option<BTreeMap<String, ZoneWindow<Public>>>,
);

fn by_zone(
    per_zone: &[ModeTotals],
    breakdown: &Breakdown,
    zones: &Zones,
    settings: PublishSettings<'_>,
    k: Option<u64>,
) -> Zoned {
    let breakdowns = breakdown.by_zone(zones.len(), settings.bands);
    let mut exact = BTreeMap::new();
    let mut public = k.map(|_| BTreeMap::new());
    for (id, z) in zones.iter() {
        let i = id.0 as usize;
        let zw = zone_window(&per_zone[i], &breakdowns[i], settings);
        if let (Some(public), Some(k)) = (&mut public, k) {
            let p = public_zone_window(&zw, &per_zone[i], &breakdowns[i], settings, k);
            public.insert(z.name.clone(), p);
        }
        exact.insert(z.name.clone(), zw);
    }
    (exact, public)
}

/// The view, exact (what `/metrics` and the city's admin see) and public (every place-level
/// number under the k rule, what the public API shows).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveViews {
    pub exact: LiveView,
    pub public: LiveView<Public>,
}

/// Builds the exact view at `watermark` over the windows of every partition.
pub fn live_view(
    states: &[&WindowState],
    settings: PublishSettings<'_>,
    zones: &Zones,
    watermark: Option<EventTimeMs>,
) -> LiveView {
    build(states, settings, zones, watermark, None).0
}

/// Builds the exact and the public view (under the k rule with `k`) at `watermark`, summing the
/// windows once.
pub fn live_views(
    states: &[&WindowState],
    settings: PublishSettings<'_>,
    zones: &Zones,
    watermark: Option<EventTimeMs>,
    k: u64,
) -> LiveViews {
    let (exact, public) = build(states, settings, zones, watermark, Some(k));
    LiveViews {
        public: public.unwrap_or_else(|| LiveView {
            watermark: exact.watermark.clone(),
            watermark_seconds: exact.watermark_seconds,
            windows: Vec::new(),
        }),
        exact,
    }
}

fn build(
    states: &[&WindowState],
    settings: PublishSettings<'_>,
    zones: &Zones,
    watermark: Option<EventTimeMs>,
    k: Option<u64>,
) -> (LiveView, Option<LiveView<Public>>) {
    let Some(watermark) = watermark else {
        return (empty_view(), k.map(|_| empty_view()));
    };
    let ws = settings.windows;
    let end = ws.bucket_start(watermark);
    let mut exact = Vec::new();
    let mut public = Vec::new();
    let mut push = |label: &str, start: String, end: EventTimeMs, (e, p): Zoned| {
        exact.push(window_view(label, &start, end, e));
        if let Some(p) = p {
            public.push(window_view(label, &start, end, p));
        }
    };
    for rw in &ws.rolling {
        let zoned = by_zone(
            &window_totals(states, ws, watermark, rw.length, zones.len()),
            &window_breakdown(states, ws, watermark, rw.length),
            zones,
            settings,
            k,
        );
        push(
            &rw.label,
            end.saturating_sub(rw.length).to_rfc3339(),
            end,
            zoned,
        );
    }
    if let Some(cal) = calendar_totals(states, ws, watermark, zones.len()) {
        let period_start = |d: jiff::civil::Date| {
            ws.time_zone
                .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                .map(|t| EventTimeMs(t.as_millisecond()).to_rfc3339())
                .unwrap_or_default()
        };
        let first_of_year = cal.date.first_of_year();
        for (label, start, totals, breakdown) in [
            ("day", cal.date, &cal.day, &cal.day_breakdown),
            (
                "month",
                cal.date.first_of_month(),
                &cal.month,
                &cal.month_breakdown,
            ),
            ("year", first_of_year, &cal.year, &cal.year_breakdown),
        ] {
            let zoned = by_zone(totals, breakdown, zones, settings, k);
            push(label, period_start(start), watermark, zoned);
        }
    }
    (
        view_at(watermark, exact),
        k.map(|_| view_at(watermark, public)),
    )
}

fn empty_view<N>() -> LiveView<N> {
    LiveView {
        watermark: None,
        watermark_seconds: None,
        windows: Vec::new(),
    }
}

fn window_view<N>(
    label: &str,
    start: &str,
    end: EventTimeMs,
    zones: BTreeMap<String, ZoneWindow<N>>,
) -> WindowView<N> {
    WindowView {
        window: label.to_owned(),
        start: start.to_owned(),
        end: end.to_rfc3339(),
        end_seconds: end.0.div_euclid(1000),
        zones,
    }
}

fn view_at<N>(watermark: EventTimeMs, windows: Vec<WindowView<N>>) -> LiveView<N> {
    LiveView {
        watermark: Some(watermark.to_rfc3339()),
        watermark_seconds: Some(watermark.0 as f64 / 1000.0),
        windows,
    }
}
