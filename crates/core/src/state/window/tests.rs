use std::borrow::Cow;

use proptest::prelude::*;

use jiff::civil::Date;

use super::*;
use crate::space::{Band, TripClasses};
use crate::space::{Placement, ZoneId};
use crate::state::breakdown::Breakdown;
use crate::state::places::ZonePair;
use crate::state::tally::ModeTotals;
use crate::vocabulary::{ConfigErrors, DurationMs, EventTimeMs, Kind, Observation, PersonTrips};
use crate::vocabulary::{GeoPoint, Mode};

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_714_608_000_000; // 2024-05-02T00:00:00Z

fn obs(
    kind: Kind,
    source: &'static str,
    start: i64,
    end: Option<i64>,
    person_trips: f64,
) -> Observation<'static> {
    Observation {
        kind,
        id: None,
        source: Cow::Borrowed(source),
        mode: if kind == Kind::Trip {
            Mode::EScooter
        } else {
            Mode::Bus
        },
        start_time: EventTimeMs(start),
        end_time: end.map(EventTimeMs),
        place: GeoPoint::new(59.9, 10.6).unwrap(),
        destination: None,
        reported_distance_m: None,
        person_trips: PersonTrips::from_f64(person_trips).unwrap(),
        coverage: None,
    }
}

fn settings(text: &str) -> WindowSettings {
    let cfg: WindowsConfig = toml_like(text);
    let mut errors = ConfigErrors::default();
    let s = cfg.validate(&mut errors);
    assert!(errors.is_empty(), "{errors}");
    s
}

/// `[windows]`: the default, with the keys of `key = value` lines (values are JSON) on top.
fn toml_like(text: &str) -> WindowsConfig {
    let mut map: serde_json::Map<String, serde_json::Value> =
        crate::testing::default_config("windows");
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line.split_once('=').unwrap();
        map.insert(k.trim().to_owned(), serde_json::from_str(v.trim()).unwrap());
    }
    serde_json::from_value(serde_json::Value::Object(map)).unwrap()
}

/// A placement in one fixed cell.
/// One person's trip at `t` in zone 0, unclassified.
fn observe_trip(w: &mut WindowState, s: &WindowSettings, t: i64) {
    w.observe(
        s,
        &obs(Kind::Trip, "t", t, None, 1.0),
        &placed(&[ZoneId(0)]),
        None,
        TripClasses::UNCLASSIFIED,
    );
}

fn placed(zones: &[ZoneId]) -> Placement<'_> {
    Placement {
        cell: crate::space::cell_of(GeoPoint::new(59.9, 10.6).unwrap(), h3o::Resolution::Nine),
        zones,
    }
}

fn total(t: &[ModeTotals], zone: usize) -> f64 {
    t[zone].total().as_f64()
}

#[test]
fn watermark_late_events_and_windows() {
    let s = crate::testing::default_windows();
    let mut w = WindowState::new(1);
    let z = [ZoneId(0)];
    assert!(!w.observe(
        &s,
        &obs(Kind::Trip, "voi", T0 + 2 * HOUR, None, 1.0),
        &placed(&z),
        None,
        TripClasses::UNCLASSIFIED
    ));
    assert_eq!(
        w.watermark(&s),
        Some(EventTimeMs(T0 + 2 * HOUR - 15 * 60_000))
    );
    // 10 minutes behind the newest event: within the 15-minute lateness.
    assert!(!w.observe(
        &s,
        &obs(Kind::Trip, "voi", T0 + 2 * HOUR - 10 * 60_000, None, 1.0),
        &placed(&z),
        None,
        TripClasses::UNCLASSIFIED
    ));
    // An hour behind: late, and still counted.
    assert!(w.observe(
        &s,
        &obs(Kind::Trip, "voi", T0 + HOUR, None, 1.0),
        &placed(&z),
        None,
        TripClasses::UNCLASSIFIED
    ));
    let wm = w.watermark(&s).unwrap();
    // The 1h window ends at the bucket holding the watermark (01:45): it holds 00:45–01:45.
    let one_hour = window_totals(&[&w], &s, wm, DurationMs(HOUR), 1);
    assert_eq!(total(&one_hour, 0), 1.0);
    let day = window_totals(&[&w], &s, wm, DurationMs(24 * HOUR), 1);
    assert_eq!(
        total(&day, 0),
        1.0,
        "the 01:50 and 02:00 trips are past the watermark, in no window yet"
    );
    w.observe(
        &s,
        &obs(Kind::Trip, "voi", T0 + 3 * HOUR, None, 1.0),
        &placed(&z),
        None,
        TripClasses::UNCLASSIFIED,
    );
    let day = window_totals(
        &[&w],
        &s,
        w.watermark(&s).unwrap(),
        DurationMs(24 * HOUR),
        1,
    );
    assert_eq!(total(&day, 0), 3.0, "the watermark moved to 02:45");
}

#[test]
fn lateness_per_source() {
    let s = settings("lateness_by_source = {\"trafikkdata\": \"3h\"}");
    let mut w = WindowState::new(1);
    let z = [ZoneId(0)];
    w.observe(
        &s,
        &obs(Kind::Trip, "voi", T0 + 5 * HOUR, None, 1.0),
        &placed(&z),
        None,
        TripClasses::UNCLASSIFIED,
    );
    assert!(!w.observe(
        &s,
        &obs(
            Kind::Count,
            "trafikkdata",
            T0 + 3 * HOUR,
            Some(T0 + 4 * HOUR),
            10.0
        ),
        &placed(&z),
        None,
        TripClasses::UNCLASSIFIED
    ));
    assert!(w.observe(
        &s,
        &obs(
            Kind::Count,
            "ruter",
            T0 + 3 * HOUR,
            Some(T0 + 4 * HOUR),
            10.0
        ),
        &placed(&z),
        None,
        TripClasses::UNCLASSIFIED
    ));
}

#[test]
fn counts_spread_pro_rata_and_exactly() {
    let s = crate::testing::default_windows();
    let count = obs(
        Kind::Count,
        "c",
        T0 + 10 * 60_000,
        Some(T0 + 40 * 60_000),
        10.0,
    );
    let p: Vec<_> = pieces(&s, &count).collect();
    let starts: Vec<i64> = p.iter().map(|x| x.0 - T0).collect();
    assert_eq!(starts, [0, 15 * 60_000, 30 * 60_000]);
    let amounts: Vec<f64> = p.iter().map(|x| x.1.as_f64()).collect();
    assert_eq!(amounts, [1.666_667, 5.0, 3.333_333]);
    assert_eq!(
        p.iter().fold(PersonTrips::ZERO, |a, x| a + x.1),
        count.person_trips,
        "nothing lost to rounding"
    );
    assert_eq!(
        p.iter().filter(|x| x.2).count(),
        1,
        "the event is counted once"
    );
    // A trip, an instant count, and a count over more than the longest window are not spread.
    assert_eq!(
        pieces(&s, &obs(Kind::Trip, "t", T0, Some(T0 + HOUR), 1.0)).count(),
        1
    );
    assert_eq!(pieces(&s, &obs(Kind::Count, "c", T0, None, 1.0)).count(), 1);
    assert_eq!(
        pieces(
            &s,
            &obs(Kind::Count, "c", T0, Some(T0 + 40 * 24 * HOUR), 1.0)
        )
        .count(),
        1
    );
}

#[test]
fn buckets_are_dropped_after_the_longest_window() {
    let s = settings("rolling = [\"1h\", \"24h\"]");
    let mut w = WindowState::new(1);
    for h in 0..24 * 10 {
        observe_trip(&mut w, &s, T0 + h * HOUR);
    }
    // The longest window + the largest lateness (trafikkdata's 3 h in the default) + one
    // bucket, in 15-minute buckets with one event an hour.
    let hours = s.retention().0.div_euclid(HOUR) as usize + 2;
    assert!(
        w.bucket_count() <= hours,
        "{} buckets kept",
        w.bucket_count()
    );
}

/// A new bucket takes the emptied totals and breakdown of the newest bucket pruned: every
/// bucket kept holds its own trip and nothing of the bucket whose memory it took.
#[test]
fn a_new_bucket_reusing_a_pruned_ones_totals_starts_empty() {
    let s = settings("rolling = [\"1h\"]");
    let mut w = WindowState::new(1);
    for h in 0..48 {
        observe_trip(&mut w, &s, T0 + h * HOUR);
    }
    assert!(w.buckets.len() < 48, "no bucket was pruned");
    let mut one_trip = Breakdown::default();
    one_trip.observe(
        &[ZoneId(0)],
        TripClasses::UNCLASSIFIED,
        Mode::EScooter,
        PersonTrips::from_f64(1.0).unwrap(),
        true,
    );
    for (bucket, totals) in w.buckets.iter() {
        assert_eq!(totals[0].events(), 1, "bucket {bucket}");
        assert_eq!(total(totals, 0), 1.0, "bucket {bucket}");
    }
    for (bucket, breakdown) in w.bucket_breakdowns.iter() {
        assert_eq!(breakdown, &one_trip, "bucket {bucket}");
    }
}

/// Local midnight to midnight on the days Europe/Oslo changes to and from summer time: a
/// calendar day holds 23 and 25 hours.
#[test]
fn calendar_days_across_both_dst_changes() {
    let s = crate::testing::default_windows();
    for (date, hours) in [("2024-03-31", 23), ("2024-10-27", 25), ("2024-05-02", 24)] {
        let day: Date = date.parse().unwrap();
        let midnight = s
            .time_zone
            .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .unwrap();
        let next = s
            .time_zone
            .to_timestamp(
                day.tomorrow()
                    .unwrap()
                    .to_datetime(jiff::civil::Time::midnight()),
            )
            .unwrap();
        assert_eq!(
            (next.as_millisecond() - midnight.as_millisecond()) / HOUR,
            hours
        );
        let mut w = WindowState::new(1);
        let mut t = midnight.as_millisecond() - HOUR;
        while t < next.as_millisecond() + 2 * HOUR {
            observe_trip(&mut w, &s, t);
            t += 15 * 60_000;
        }
        let last_minute = EventTimeMs(next.as_millisecond() - 60_000);
        let cal = calendar_totals(&[&w], &s, last_minute, 1).unwrap();
        assert_eq!(cal.date, day);
        assert_eq!(total(&cal.day, 0), (hours * 4) as f64, "{date}");
        let month_start = s
            .time_zone
            .to_timestamp(
                day.first_of_month()
                    .to_datetime(jiff::civil::Time::midnight()),
            )
            .unwrap();
        let in_month = (last_minute.0
            - month_start
                .as_millisecond()
                .max(midnight.as_millisecond() - HOUR))
            / (15 * 60_000)
            + 1;
        assert_eq!(
            total(&cal.month, 0),
            in_month as f64,
            "{date}: month to date"
        );
    }
}

#[test]
fn buckets_must_align_with_local_days() {
    let check = |text: &str| {
        let mut errors = ConfigErrors::default();
        toml_like(text).validate(&mut errors);
        errors.to_string()
    };
    assert!(
        check("bucket = \"45m\"").contains("UTC offset"),
        "Oslo is +01:00/+02:00"
    );
    assert!(check("bucket = \"7m\"").contains("does not divide a day"));
    assert!(check("bucket = \"1h\"\ntime_zone = \"Asia/Kolkata\"").contains("+05:30"));
    assert!(check("bucket = \"30m\"\ntime_zone = \"Asia/Kolkata\"").is_empty());
    assert!(check("time_zone = \"Europe/Bærum\"").contains("windows.time_zone"));
    assert!(check("rolling = [\"20m\"]").contains("whole number of buckets"));
}

#[test]
fn idle_partitions_leave_the_combined_watermark() {
    let idle = DurationMs(300_000);
    let a = PartitionClock {
        watermark: Some(EventTimeMs(100)),
        last_event_at: 1_000_000,
    };
    let b = PartitionClock {
        watermark: Some(EventTimeMs(50)),
        last_event_at: 500_000,
    };
    assert_eq!(
        combined_watermark(&[a, b], 700_000, idle),
        Some(EventTimeMs(50))
    );
    assert_eq!(
        combined_watermark(&[a, b], 900_000, idle),
        Some(EventTimeMs(100)),
        "b idle for 400 s"
    );
    assert_eq!(
        combined_watermark(&[a, b], 2_000_000, idle),
        Some(EventTimeMs(100)),
        "all idle: the newest"
    );
    assert_eq!(combined_watermark(&[], 0, idle), None);
}

#[derive(Debug, Clone)]
struct Ev {
    kind: Kind,
    start: i64,
    minutes: i64,
    zones: Vec<ZoneId>,
    persons: u32,
    band: u8,
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    let ev = (
        any::<bool>(),
        0..(3 * 24 * 60i64),
        0..180i64,
        0..4usize,
        1..40u32,
        0..6u8,
    )
        .prop_map(|(trip, min, minutes, z, persons, band)| Ev {
            kind: if trip { Kind::Trip } else { Kind::Count },
            start: T0 + min * 60_000 + (min % 7) * 1000,
            minutes,
            zones: [
                vec![],
                vec![ZoneId(0)],
                vec![ZoneId(1)],
                vec![ZoneId(0), ZoneId(1)],
            ][z]
                .clone(),
            persons,
            band,
        });
    proptest::collection::vec(ev, 1..120)
}

/// The naive recompute: every event seen so far, spread with f64 fractions, summed per window.
fn naive_window(seen: &[Ev], s: &WindowSettings, watermark: i64, length: i64, zone: ZoneId) -> f64 {
    let end = watermark.div_euclid(s.bucket.0) * s.bucket.0;
    let start = end - length;
    let mut sum = 0.0;
    for e in seen.iter().filter(|e| e.zones.contains(&zone)) {
        let duration = e.minutes * 60_000;
        if e.kind == Kind::Trip || duration == 0 {
            let b = e.start.div_euclid(s.bucket.0) * s.bucket.0;
            if (start..end).contains(&b) {
                sum += f64::from(e.persons);
            }
            continue;
        }
        let overlap = (e.start.max(start)).max(e.start)..(e.start + duration).min(end);
        if overlap.end > overlap.start {
            sum += f64::from(e.persons) * (overlap.end - overlap.start) as f64 / duration as f64;
        }
    }
    sum
}

proptest! {
    /// Incremental windows equal a naive recompute, over random events delivered out of order
    /// (within and beyond the lateness), queried at random points as the watermark advances;
    /// late counts equal the naive definition.
    #[test]
    fn incremental_windows_equal_a_naive_recompute(
        mut evs in events(),
        swaps in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..40),
        checks in proptest::collection::vec(any::<prop::sample::Index>(), 1..6),
    ) {
        evs.sort_by_key(|e| e.start);
        for (a, b) in swaps {
            let (i, j) = (a.index(evs.len()), b.index(evs.len()));
            evs.swap(i, j);
        }
        let s = crate::testing::default_windows();
        let mut w = WindowState::new(2);
        let check_at: Vec<usize> = checks.iter().map(|c| c.index(evs.len())).collect();
        let mut newest = i64::MIN;
        for (i, e) in evs.iter().enumerate() {
            let o = obs(e.kind, "s", e.start, Some(e.start + e.minutes * 60_000), f64::from(e.persons));
            let classes = TripClasses {
                band: if e.band == 5 { Band::UNKNOWN } else { Band(e.band) },
                access: None,
            };
            let late = w.observe(&s, &o, &placed(&e.zones), None, classes);
            prop_assert_eq!(late, newest != i64::MIN && e.start < newest - s.allowed_lateness.0);
            newest = newest.max(e.start);
            if check_at.contains(&i) {
                let wm = w.watermark(&s).unwrap();
                prop_assert_eq!(wm.0, newest - s.allowed_lateness.0);
                for rw in &s.rolling {
                    let got = window_totals(&[&w], &s, wm, rw.length, 2);
                    for zone in [ZoneId(0), ZoneId(1)] {
                        let want = naive_window(&evs[..=i], &s, wm.0, rw.length.0, zone);
                        let g = got[zone.0 as usize].total().as_f64();
                        prop_assert!((g - want).abs() < 1e-4, "{} zone {}: got {}, want {}", rw.label, zone.0, g, want);
                    }
                    // Every piece is in exactly one band: the bands add up to the zone, exactly.
                    let bands = crate::testing::default_bands();
                    let breakdown = window_breakdown(&[&w], &s, wm, rw.length).by_zone(2, &bands);
                    for (zone, b) in breakdown.iter().enumerate() {
                        let mut summed = ModeTotals::default();
                        for band in &b.bands {
                            summed.merge(band);
                        }
                        prop_assert_eq!(&summed, &got[zone]);
                    }
                }
            }
        }
    }
}

#[test]
fn cells_and_zone_pairs_follow_the_windows() {
    let s = crate::testing::default_windows();
    let mut w = WindowState::new(2);
    let (a, b) = ([ZoneId(0)], [ZoneId(1)]);
    let trip = obs(Kind::Trip, "voi", T0 + HOUR, None, 1.0);
    w.observe(&s, &trip, &placed(&a), Some(&b), TripClasses::UNCLASSIFIED);
    w.observe(&s, &trip, &placed(&a), Some(&[]), TripClasses::UNCLASSIFIED);
    w.observe(&s, &trip, &placed(&[]), None, TripClasses::UNCLASSIFIED);
    // A 30-minute count from 01:00 is spread over two buckets.
    let count = obs(
        Kind::Count,
        "apc",
        T0 + HOUR,
        Some(T0 + HOUR + 30 * 60_000),
        8.0,
    );
    w.observe(&s, &count, &placed(&a), None, TripClasses::UNCLASSIFIED);
    w.observe(
        &s,
        &obs(Kind::Trip, "voi", T0 + 3 * HOUR, None, 1.0),
        &placed(&b),
        None,
        TripClasses::UNCLASSIFIED,
    );
    let wm = w.watermark(&s).unwrap();
    let cells = window_cells(&[&w], &s, wm, DurationMs(24 * HOUR));
    let sets = &cells.cells[&placed(&a).cell];
    let person_trips = |zones: &[ZoneId]| {
        sets.iter()
            .find(|(set, _)| &**set == zones)
            .map(|(_, t)| t.total().as_f64())
    };
    // The trip at 03:00 is past the watermark (02:45): in no window yet.
    assert_eq!(person_trips(&a), Some(2.0 + 8.0));
    assert_eq!(
        person_trips(&[]),
        Some(1.0),
        "outside every zone, still in its cell"
    );
    assert_eq!(person_trips(&b), None);
    let pairs = window_zone_pairs(&[&w], &s, wm, DurationMs(24 * HOUR));
    let trips = |pair: ZonePair| pairs.get(&pair).map(|t| t.total().as_f64());
    assert_eq!(trips((Some(ZoneId(0)), Some(ZoneId(1)))), Some(1.0));
    assert_eq!(trips((Some(ZoneId(0)), None)), Some(1.0));
    assert_eq!(
        pairs.len(),
        2,
        "counts and trips without a destination have no pair"
    );
    // The 1h window (01:45–02:45) holds none of it; the 15-minute halves of the count are in
    // the 01:00 and 01:15 buckets.
    let hour = window_cells(&[&w], &s, wm, DurationMs(HOUR));
    assert!(hour.cells.is_empty());
}

#[test]
fn history_reaches_back_400_days_and_to_the_previous_january() {
    let d = |s: &str| -> Date { s.parse().unwrap() };
    // Late in the year, January 1 of the previous year is the earlier.
    assert_eq!(history_from(d("2026-12-04")), Some(d("2025-01-01")));
    // Early in the year, 400 days ago is.
    assert_eq!(history_from(d("2026-01-15")), Some(d("2024-12-11")));
    assert_eq!(
        d("2026-01-15").since(d("2024-12-11")).unwrap().get_days(),
        HISTORY_DAYS
    );
}

#[test]
fn days_older_than_the_history_are_dropped_and_the_rest_kept() {
    let s = crate::testing::default_windows();
    let mut w = WindowState::new(1);
    // One trip a day at noon UTC for 900 days from 2024-05-02.
    for day in 0..900 {
        observe_trip(&mut w, &s, T0 + day * 24 * HOUR + 12 * HOUR);
    }
    let last = s.local_date(w.watermark(&s).unwrap()).unwrap();
    let from = history_from(last).unwrap();
    let days = daily_totals(&[&w], "2000-01-01".parse().unwrap(), last, 1);
    assert_eq!(days.keys().next(), Some(&from));
    assert_eq!(days.len() as i32, last.since(from).unwrap().get_days() + 1);
    assert!(days.len() as i32 > HISTORY_DAYS);
}

/// A local day's span holds exactly the instants whose local date is that day: in Oslo across
/// both changes of summer time, and in Santiago, where summer time starts at midnight (the day
/// begins at 01:00) and ends at midnight (the hour from 23:00 is lived twice).
#[test]
fn a_local_days_span_holds_the_instants_of_that_date() {
    let mut s = crate::testing::default_windows();
    for (zone, dates) in [
        ("Europe/Oslo", ["2024-03-31", "2024-10-27", "2024-05-02"]),
        (
            "America/Santiago",
            ["2024-09-08", "2024-04-06", "2024-04-07"],
        ),
    ] {
        s.time_zone = jiff::tz::TimeZone::get(zone).unwrap();
        for date in dates {
            let day: Date = date.parse().unwrap();
            let span = s.local_day_span(day).unwrap();
            let around = span.start - 26 * HOUR..span.end + 26 * HOUR;
            let mut inside = 0;
            for t in around
                .step_by(5 * 60_000)
                .chain([span.start - 1, span.end - 1])
            {
                let on_day = s.local_date(EventTimeMs(t)) == Some(day);
                assert_eq!(span.contains(&t), on_day, "{zone} {date} at {t}");
                inside += i64::from(on_day);
            }
            assert!(inside >= 23 * 12, "{zone} {date}: {inside} steps");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Trips over the days around the autumn change of summer time, in any order (late ones
    /// among them): each day's total is the number of trips on that local date.
    #[test]
    fn days_hold_the_trips_of_their_local_date_in_any_order(
        minutes in proptest::collection::vec(0..4 * 24 * 60i64, 1..200),
    ) {
        let s = crate::testing::default_windows();
        let first = 1_729_900_800_000; // 2024-10-26T00:00:00Z
        let mut w = WindowState::new(1);
        let mut expected: std::collections::BTreeMap<Date, u64> = Default::default();
        for m in minutes {
            let t = first + m * 60_000;
            observe_trip(&mut w, &s, t);
            *expected.entry(s.local_date(EventTimeMs(t)).unwrap()).or_default() += 1;
        }
        let from: Date = "2024-10-25".parse().unwrap();
        let to: Date = "2024-10-31".parse().unwrap();
        let days: std::collections::BTreeMap<Date, u64> = daily_totals(&[&w], from, to, 1)
            .into_iter()
            .map(|(d, zones)| (d, zones[0].events()))
            .collect();
        prop_assert_eq!(days, expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]
    /// Trips over three months across a new year, nearly in order (some swapped, so some are
    /// late): the day, month and year to date at each watermark asked hold the trips of their
    /// local dates up to it (but for those that came later than every window keeps, which no
    /// window or day counts), whatever blocks of days were summed before.
    #[test]
    fn calendar_totals_hold_the_trips_of_their_dates(
        mut hours in proptest::collection::vec(0..90 * 24i64, 1..300),
        swaps in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 0..30),
        checks in proptest::collection::vec(any::<prop::sample::Index>(), 1..8),
    ) {
        hours.sort_unstable();
        for (a, b) in swaps {
            let (i, j) = (a.index(hours.len()), b.index(hours.len()));
            hours.swap(i, j);
        }
        let s = crate::testing::default_windows();
        let first = 1_733_011_200_000; // 2024-12-01T00:00:00Z
        let check_at: Vec<usize> = checks.iter().map(|c| c.index(hours.len())).collect();
        let mut w = WindowState::new(1);
        let mut seen: Vec<Date> = Vec::new();
        let mut newest = i64::MIN;
        for (i, h) in hours.iter().enumerate() {
            let t = first + h * HOUR + 1_000;
            observe_trip(&mut w, &s, t);
            newest = newest.max(t);
            if s.bucket_start(EventTimeMs(t)) >= s.bucket_start(EventTimeMs(newest - s.retention().0)) {
                seen.push(s.local_date(EventTimeMs(t)).unwrap());
            }
            if check_at.contains(&i) {
                let wm = w.watermark(&s).unwrap();
                let date = s.local_date(wm).unwrap();
                let cal = calendar_totals(&[&w], &s, wm, 1).unwrap();
                let count = |from: Date| seen.iter().filter(|d| (from..=date).contains(*d)).count() as u64;
                prop_assert_eq!(cal.day[0].events(), count(date));
                prop_assert_eq!(cal.month[0].events(), count(date.first_of_month()));
                prop_assert_eq!(cal.year[0].events(), count(date.first_of_year()));
                let breakdown_events = |b: &Breakdown| b.by_zone(1, &crate::testing::default_bands())[0]
                    .bands.iter().map(ModeTotals::events).sum::<u64>();
                prop_assert_eq!(breakdown_events(&cal.year_breakdown), count(date.first_of_year()));
                prop_assert_eq!(breakdown_events(&cal.month_breakdown), count(date.first_of_month()));
            }
        }
    }
}

#[test]
fn blocks_before_the_newest_event_are_summed_and_so_after_a_restore() {
    let s = crate::testing::default_windows();
    let first = 1_735_689_600_000; // 2025-01-01T00:00:00Z
    let mut w = WindowState::new(1);
    for hour in 0..70 * 24 {
        observe_trip(&mut w, &s, first + hour * HOUR + 1_000);
    }
    // 28 days and the lateness of buckets kept: the 4-hour blocks before the newest event's.
    let bucket_blocks = w.buckets.summed_blocks();
    assert!(bucket_blocks >= 28 * 6, "{bucket_blocks}");
    assert_eq!(
        w.bucket_breakdowns.summed_blocks(),
        bucket_blocks,
        "breakdowns settle with the totals"
    );
    // January and February; March holds the newest event.
    assert_eq!(w.days.summed_blocks(), 2);
    assert_eq!(w.day_breakdowns.summed_blocks(), 2);

    let mut restored = WindowState::restore(w.save(), 1).unwrap();
    restored.restore_breakdowns(w.save_breakdowns(), 0).unwrap();
    assert_eq!(
        restored.buckets.summed_blocks(),
        0,
        "restored value by value"
    );
    restored.settle_restored(&s);
    assert_eq!(restored.buckets.summed_blocks(), bucket_blocks);
    assert_eq!(restored.days.summed_blocks(), 2);
    let wm = w.watermark(&s).unwrap();
    for rw in &s.rolling {
        assert_eq!(
            window_totals(&[&restored], &s, wm, rw.length, 1),
            window_totals(&[&w], &s, wm, rw.length, 1),
            "{}",
            rw.label
        );
    }
    assert_eq!(
        calendar_totals(&[&restored], &s, wm, 1),
        calendar_totals(&[&w], &s, wm, 1)
    );
}
