use super::*;
use crate::pipeline::Pipeline;
use crate::space::Zones;
use crate::state::daily_totals;
use crate::testing::{DEFAULT_ZONES, default_settings};
use crate::vocabulary::EventTimeMs;

/// 2024-04-29 is a Monday; noon Oslo time is 10:00 UTC in summer.
const MONDAY: i64 = 1_714_384_800_000;
const DAY: i64 = 86_400_000;

fn date(text: &str) -> Date {
    text.parse().unwrap()
}

/// A pipeline with `per_day[d]` bicycle trips and `per_day[d] * 3` walks in Sandvika on day d
/// after Monday 2024-04-29.
fn pipeline(per_day: &[usize]) -> Pipeline {
    let zones = Zones::from_geojson(DEFAULT_ZONES).unwrap();
    let mut p = Pipeline::live(default_settings(&zones), zones);
    let mut i = 0;
    for (d, n) in per_day.iter().enumerate() {
        for (mode, count) in [("bicycle", *n), ("walk", 3 * n)] {
            for _ in 0..count {
                let t = MONDAY + d as i64 * DAY + (i % 600) as i64 * 1000;
                let line = format!(
                    r#"{{"kind":"trip","id":"t{i}","source":"operator","mode":"{mode}","start_time":{t},"origin":{{"lat":59.8905,"lon":10.5230}}}}"#
                );
                p.observe_line(
                    line.as_bytes(),
                    "test",
                    Some(EventTimeMs(MONDAY + 90 * DAY)),
                );
                i += 1;
            }
        }
    }
    p
}

fn points(p: &Pipeline, subject: Subject, step: Step, from: &str, to: &str) -> Vec<SeriesPoint> {
    let states: Vec<_> = p.windows().into_iter().collect();
    let days = daily_totals(&states, date(from), date(to), p.zones().len());
    let sandvika = p
        .zones()
        .iter()
        .position(|(_, z)| z.name == "Sandvika")
        .unwrap();
    series(
        &days,
        sandvika,
        &subject,
        step,
        Basis::Measured,
        date(from),
        date(to),
        p.settings().publishing(),
    )
}

#[test]
fn days_weeks_and_months_sum_the_days_they_cover() {
    // Two weeks and two days: 10 bicycle trips a day (30 walks), 4 on the last day.
    let mut per_day = vec![10; 15];
    per_day.push(4);
    let p = pipeline(&per_day);
    let cycling = || Subject::Group("cycling".into());
    let days = points(&p, cycling(), Step::Day, "2024-04-29", "2024-05-14");
    assert_eq!(days.len(), 16);
    assert_eq!(days[0].start, "2024-04-29");
    assert_eq!(days[0].person_trips, Some(10.0));
    assert_eq!(days[0].total_person_trips, Some(40.0));
    assert_eq!(days[0].share, Some(0.25));
    // 4 bicycle trips of 16: under k, hidden, and so is what would give them away.
    assert_eq!(days[15].person_trips, None);
    assert_eq!(days[15].share, None);
    assert_eq!(days[15].total_person_trips, Some(16.0));

    // ISO weeks, the last one cut by the range: Monday 29 April to Sunday 5 May, …
    let weeks = points(&p, cycling(), Step::Week, "2024-04-29", "2024-05-14");
    let spans: Vec<(&str, &str)> = weeks
        .iter()
        .map(|w| (w.start.as_str(), w.end.as_str()))
        .collect();
    assert_eq!(
        spans,
        [
            ("2024-04-29", "2024-05-05"),
            ("2024-05-06", "2024-05-12"),
            ("2024-05-13", "2024-05-14")
        ]
    );
    assert_eq!(weeks[0].person_trips, Some(70.0));
    assert_eq!(weeks[2].person_trips, Some(14.0));
    assert_eq!(weeks[2].total_person_trips, Some(56.0));

    // Months: the end of April and the first half of May.
    let months = points(
        &p,
        Subject::Mode(Mode::Walk),
        Step::Month,
        "2024-04-01",
        "2024-05-31",
    );
    assert_eq!(months.len(), 2);
    assert_eq!(
        (months[0].start.as_str(), months[0].end.as_str()),
        ("2024-04-01", "2024-04-30")
    );
    assert_eq!(months[0].person_trips, Some(60.0));
    assert_eq!(months[1].person_trips, Some(3.0 * 134.0));
    assert_eq!(months[1].share, Some(0.75));
    assert_eq!(months[1].measured_modes, ["walk", "bicycle"]);
}

#[test]
fn days_without_events_are_empty_steps_not_gaps() {
    let p = pipeline(&[20, 0, 20]);
    let days = points(
        &p,
        Subject::Group("cycling".into()),
        Step::Day,
        "2024-04-29",
        "2024-05-01",
    );
    assert_eq!(days.len(), 3);
    assert_eq!(days[1].total_person_trips, Some(0.0));
    assert_eq!(days[1].person_trips, Some(0.0));
    assert_eq!(days[1].share, None);
}
