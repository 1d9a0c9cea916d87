#![allow(clippy::unwrap_used)]

use super::*;
use crate::pipeline::{Outcome, Pipeline};
use crate::space::Zones;

fn pipeline() -> Pipeline {
    let zones = Zones::from_geojson(crate::testing::DEFAULT_ZONES).unwrap();
    Pipeline::for_replay(crate::testing::default_settings(&zones), zones)
}

fn trip(id: u32, source: &str, mode: &str) -> String {
    format!(
        r#"{{"kind":"trip","id":"{id}","source":{},"mode":"{mode}","start_time":1714635600000,"origin":{{"lat":59.89,"lon":10.62}}}}"#,
        serde_json::to_string(source).unwrap()
    )
}

fn names(totals: &Totals) -> Vec<&str> {
    totals.by_source.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn rejected_events_never_take_a_source_slot() {
    let mut p = pipeline();
    // More distinct names than there are slots, each on an event rejected for another reason.
    for i in 0..(MAX_SOURCES as u32 * 3) {
        let line = trip(i, &format!("junk-{i}"), "hovercraft");
        assert!(matches!(
            p.observe_line(line.as_bytes(), "trips", None),
            Outcome::Rejected(_)
        ));
    }
    // And names that are not names at all.
    for (i, bad) in ["", " voi", "voi\n", &"x".repeat(65)].iter().enumerate() {
        let line = trip(i as u32, bad, "walk");
        assert!(matches!(
            p.observe_line(line.as_bytes(), "trips", None),
            Outcome::Rejected(_)
        ));
    }
    assert_eq!(names(p.totals()), ["trips"], "counted under the input");
    let trips = &p.totals().by_source[0].1;
    assert_eq!(trips.events.rejected, MAX_SOURCES as u64 * 3 + 4);
    assert_eq!(trips.rejections[&Reason::InvalidSource], 4);

    // The real sources still get slots of their own, and their rejections go to them.
    for (i, source) in ["Voi", "reisevaneundersøkelse"].iter().enumerate() {
        let line = trip(1000 + i as u32, source, "walk");
        assert_eq!(
            p.observe_line(line.as_bytes(), "trips", None),
            Outcome::Accepted
        );
    }
    let line = trip(2000, "Voi", "hovercraft");
    p.observe_line(line.as_bytes(), "trips", None);
    assert_eq!(names(p.totals()), ["trips", "Voi", "reisevaneundersøkelse"]);
    let voi = &p.totals().by_source[1].1;
    assert_eq!((voi.events.accepted, voi.events.rejected), (1, 1));
    assert_eq!(voi.rejections[&Reason::UnknownMode], 1);
}

#[test]
fn accepted_sources_beyond_the_slots_fold_into_other() {
    let mut p = pipeline();
    for i in 0..(MAX_SOURCES as u32 + 10) {
        let line = trip(i, &format!("s{i}"), "walk");
        assert_eq!(
            p.observe_line(line.as_bytes(), "trips", None),
            Outcome::Accepted
        );
    }
    let totals = p.totals();
    assert_eq!(totals.by_source.len(), MAX_SOURCES + 1);
    let (name, other) = totals.by_source.last().unwrap();
    assert_eq!(name, OTHER_SOURCE);
    assert_eq!(other.events.accepted, 10);
}
