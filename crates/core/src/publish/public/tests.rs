use proptest::prelude::*;

use super::*;
use crate::pipeline::Pipeline;
use crate::publish::{LiveView, live_views};
use crate::space::Zones;
use crate::state::{window_breakdown, window_totals};
use crate::testing::{DEFAULT_ZONES, default_settings};
use crate::vocabulary::EventTimeMs;

const T0: i64 = 1_714_608_000_000; // 2024-05-02T00:00:00Z
const MODES: [&str; 7] = [
    "walk",
    "bicycle",
    "e_scooter",
    "bus",
    "rail",
    "car_driver",
    "taxi",
];

/// One random event: a trip (with or without a destination) or a count, somewhere in or around
/// the default zones, within two hours.
#[derive(Debug, Clone)]
struct Event {
    mode: usize,
    minute: i64,
    lat: f64,
    lon: f64,
    destination: Option<(f64, f64)>,
    count: Option<u32>,
}

fn event() -> impl Strategy<Value = Event> {
    (
        0..MODES.len(),
        0i64..120,
        59.87f64..59.95,
        10.45f64..10.65,
        proptest::option::of((59.87f64..59.95, 10.45f64..10.65)),
        proptest::option::weighted(0.15, 0u32..40),
    )
        .prop_map(|(mode, minute, lat, lon, destination, count)| Event {
            mode,
            minute,
            lat,
            lon,
            destination,
            count,
        })
}

fn line(i: usize, e: &Event) -> String {
    let start = T0 + e.minute * 60_000;
    match e.count {
        Some(count) => format!(
            r#"{{"kind":"count","id":"c{i}","source":"counter","mode":"{}","start_time":{start},"end_time":{},"location":{{"lat":{},"lon":{}}},"count":{count}}}"#,
            MODES[e.mode],
            start + 60_000,
            e.lat,
            e.lon
        ),
        None => {
            let destination = e
                .destination
                .map(|(lat, lon)| format!(r#","destination":{{"lat":{lat},"lon":{lon}}}"#))
                .unwrap_or_default();
            format!(
                r#"{{"kind":"trip","id":"t{i}","source":"operator","mode":"{}","start_time":{start},"origin":{{"lat":{},"lon":{}}}{destination}}}"#,
                MODES[e.mode], e.lat, e.lon
            )
        }
    }
}

/// Records a problem for a shown number whose tally is below k, and for a shown sum whose
/// hidden non-zero parts are exactly one (the sum minus the visible parts would give it away).
struct Audit<'a> {
    k: u64,
    problems: Vec<String>,
    at: &'a str,
}

impl Audit<'_> {
    fn number(&mut self, what: &str, shown: Public, tally: ModeTally) {
        let zero = tally.events == 0 && tally.person_trips.is_zero();
        if shown.is_some() && !zero && !crate::publish::tally_passes(&tally, self.k) {
            self.problems
                .push(format!("{}: {what} shown with {tally:?}", self.at));
        }
    }

    /// `parts`: (shown, tally) of the parts a shown-or-not sum adds up.
    fn sum(&mut self, what: &str, shown: Public, parts: &[(Public, ModeTally)]) {
        let mut total = ModeTally::default();
        for (_, t) in parts {
            total.events += t.events;
            total.person_trips += t.person_trips;
        }
        self.number(what, shown, total);
        let hidden = parts
            .iter()
            .filter(|(s, t)| s.is_none() && (t.events > 0 || !t.person_trips.is_zero()))
            .count();
        if shown.is_some() && hidden == 1 {
            self.problems.push(format!(
                "{}: {what} minus its visible parts gives away its one hidden part",
                self.at
            ));
        }
    }
}

impl Audit<'_> {
    /// Each group's shown numerator against its members among `modes` (in [`Mode::ALL`] order).
    fn groups(
        &mut self,
        label: &str,
        shown: &BTreeMap<String, Public>,
        modes: &[(Public, ModeTally)],
        groups: &ModeGroups,
    ) {
        for g in groups.iter() {
            let members: Vec<_> = Mode::ALL
                .into_iter()
                .filter(|m| g.modes.contains(*m))
                .map(|m| modes[m.index()])
                .collect();
            if let Some(numerator) = shown.get(&g.name) {
                self.sum(&format!("{label}{}", g.name), *numerator, &members);
            }
        }
    }
}

fn mode_numbers(map: &BTreeMap<String, Public>, totals: &ModeTotals) -> Vec<(Public, ModeTally)> {
    Mode::ALL
        .into_iter()
        .map(|m| {
            let shown = map.get(m.as_str()).copied().unwrap_or(Some(0.0));
            (shown, totals.get(m))
        })
        .collect()
}

fn audit_view(public: &LiveView<Public>, pipeline: &Pipeline, k: u64) -> Vec<String> {
    let settings = pipeline.settings().publishing();
    let states: Vec<_> = pipeline.windows().into_iter().collect();
    let Some(watermark) = pipeline.watermark() else {
        return Vec::new();
    };
    let zones = pipeline.zones();
    let mut problems = Vec::new();
    for (w, rw) in public.windows.iter().zip(&settings.windows.rolling) {
        let totals = window_totals(&states, settings.windows, watermark, rw.length, zones.len());
        let breakdowns = window_breakdown(&states, settings.windows, watermark, rw.length)
            .by_zone(zones.len(), settings.bands);
        for (id, zone) in zones.iter() {
            let at = format!("{} {}", w.window, zone.name);
            let mut audit = Audit {
                k,
                problems: Vec::new(),
                at: &at,
            };
            let z = &w.zones[&zone.name];
            let t = &totals[id.0 as usize];
            let modes = mode_numbers(&z.measured.person_trips, t);
            for (m, n) in Mode::ALL.into_iter().zip(&modes) {
                audit.number(m.as_str(), n.0, n.1);
            }
            audit.sum("the total", z.measured.total_person_trips, &modes);
            audit.groups("", &z.measured.group_person_trips, &modes, settings.groups);
            // The filled basis: estimates are known; its sums are judged by their measured
            // parts, and no shown sum minus its visible parts gives one hidden measured part.
            if let Some(filled) = &z.filled {
                let survey = settings.survey.unwrap();
                let estimates = survey.fill(t).filled_totals(t).unwrap();
                let measured: Vec<(Public, ModeTally)> = Mode::ALL
                    .into_iter()
                    .map(|m| {
                        let shown = filled
                            .person_trips
                            .get(m.as_str())
                            .copied()
                            .unwrap_or(Some(0.0));
                        let observed = t.get(m).events > 0 || !t.get(m).person_trips.is_zero();
                        // An unmeasured mode holds an estimate: no count, and public when
                        // shown; a hidden one is an unknown like a hidden count.
                        if observed {
                            (shown, t.get(m))
                        } else if shown.is_some() {
                            (Some(0.0), ModeTally::default())
                        } else {
                            let estimate = estimates.get(m).person_trips;
                            (
                                None,
                                ModeTally {
                                    events: 0,
                                    person_trips: estimate,
                                },
                            )
                        }
                    })
                    .collect();
                for (m, n) in Mode::ALL.into_iter().zip(&measured) {
                    if n.0.is_some() && modes[m.index()].0.is_none() && n.1.events > 0 {
                        audit.problems.push(format!(
                            "{at}: {} hidden measured, shown filled",
                            m.as_str()
                        ));
                    }
                }
                audit.sum("the filled total", filled.total_person_trips, &measured);
                audit.groups(
                    "filled ",
                    &filled.group_person_trips,
                    &measured,
                    settings.groups,
                );
            }
            let b = &breakdowns[id.0 as usize];
            let mut band_numbers = Vec::new();
            for (band, report) in settings.bands.all().zip(&z.distance_bands) {
                let bt = &b.bands[settings.bands.slot(band)];
                let parts = mode_numbers(&report.person_trips, bt);
                audit.sum(&report.band, report.total_person_trips, &parts);
                let tally = ModeTally {
                    events: bt.events(),
                    person_trips: bt.total(),
                };
                band_numbers.push((report.total_person_trips, tally));
            }
            audit.sum(
                "the total over bands",
                z.measured.total_person_trips,
                &band_numbers,
            );
            problems.extend(audit.problems);
        }
    }
    problems
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random states (many modes, tiny counts, trips with and without destinations, counts,
    /// zones that share cells): in every rolling window and zone of the public view, every
    /// shown number passes k (or is zero), and no shown sum minus its visible parts gives one
    /// hidden part away — for the modes with the total and each group, each band's modes with
    /// its total, and the bands with the zone's total.
    #[test]
    fn every_public_number_passes_k_or_is_suppressed(
        events in proptest::collection::vec(event(), 0..160),
        k in 2u64..12,
    ) {
        let zones = Zones::from_geojson(DEFAULT_ZONES).unwrap();
        let mut pipeline = Pipeline::live(default_settings(&zones), zones);
        let now = Some(EventTimeMs(T0 + 3 * 3_600_000));
        for (i, e) in events.iter().enumerate() {
            pipeline.observe_line(line(i, e).as_bytes(), "test", now);
        }
        let states: Vec<_> = pipeline.windows().into_iter().collect();
        let views = live_views(
            &states,
            pipeline.settings().publishing(),
            pipeline.zones(),
            pipeline.watermark(),
            k,
        );
        let problems = audit_view(&views.public, &pipeline, k);
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
        // Nothing shown differs from the exact view.
        let exact = serde_json::to_value(&views.exact).unwrap();
        let public = serde_json::to_value(&views.public).unwrap();
        prop_assert!(agrees(&exact, &public), "a shown public number differs from the exact one");
    }
}

/// Whether every non-null number of `public` equals the exact one at the same place.
fn agrees(exact: &serde_json::Value, public: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (exact, public) {
        (_, Value::Null) => true,
        (Value::Object(e), Value::Object(p)) => p
            .iter()
            .all(|(key, v)| e.get(key).is_some_and(|ev| agrees(ev, v))),
        (Value::Array(e), Value::Array(p)) => {
            e.len() == p.len() && e.iter().zip(p).all(|(a, b)| agrees(a, b))
        }
        (e, p) => e == p,
    }
}

#[test]
fn a_small_mode_and_its_secondary_are_null_and_the_rest_is_shown() {
    let zones = Zones::from_geojson(DEFAULT_ZONES).unwrap();
    let mut pipeline = Pipeline::live(default_settings(&zones), zones);
    let now = Some(EventTimeMs(T0 + 3 * 3_600_000));
    let mut i = 0;
    // In Sandvika within half an hour: 30 walks, 3 bicycles, 12 buses, 20 e-scooter trips;
    // then one trip outside every zone moves the watermark past them.
    for (mode, n) in [(0, 30), (1, 3), (3, 12), (2, 20)] {
        for _ in 0..n {
            let e = Event {
                mode,
                minute: 5 + (i % 30) as i64,
                lat: 59.8905,
                lon: 10.5230,
                destination: None,
                count: None,
            };
            pipeline.observe_line(line(i, &e).as_bytes(), "test", now);
            i += 1;
        }
    }
    let later = Event {
        mode: 0,
        minute: 150,
        lat: 60.5,
        lon: 11.5,
        destination: None,
        count: None,
    };
    pipeline.observe_line(line(i, &later).as_bytes(), "test", now);
    let states: Vec<_> = pipeline.windows().into_iter().collect();
    let views = live_views(
        &states,
        pipeline.settings().publishing(),
        pipeline.zones(),
        pipeline.watermark(),
        10,
    );
    let day = views
        .public
        .windows
        .iter()
        .find(|w| w.window == "24h")
        .unwrap();
    let sandvika = &day.zones["Sandvika"].measured;
    assert_eq!(sandvika.person_trips["walk"], Some(30.0));
    assert_eq!(sandvika.person_trips["bicycle"], None);
    assert_eq!(
        sandvika.person_trips["bus"], None,
        "the smallest other part goes too"
    );
    assert_eq!(sandvika.person_trips["e_scooter"], Some(20.0));
    assert_eq!(sandvika.total_person_trips, Some(65.0));
    assert_eq!(sandvika.group_person_trips["cycling"], None);
    assert_eq!(
        sandvika.group_person_trips["public_transport"], None,
        "a group equal to a hidden part goes with it"
    );
    assert_eq!(sandvika.shares["cycling"], None);
    assert_eq!(sandvika.shares["sustainable"], Some(1.0));
    let exact = &views
        .exact
        .windows
        .iter()
        .find(|w| w.window == "24h")
        .unwrap()
        .zones["Sandvika"];
    assert_eq!(exact.measured.person_trips["bicycle"], 3.0);
}
