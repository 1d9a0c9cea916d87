use proptest::prelude::*;

use super::*;
use crate::space::Zones;
use crate::state::Totals;
use crate::vocabulary::EventTimeMs;

const ZONES: &str = include_str!("../../../../../config/zones/baerum.geojson");

fn zones() -> Zones {
    Zones::from_geojson(ZONES).unwrap_or_default()
}

fn settings() -> Settings {
    crate::testing::default_settings(&zones())
}

/// Places in and around the default zones (Sandvika, Fornebu, elsewhere in Bærum, outside),
/// some near the embedded stops.
const PLACES: [(f64, f64); 5] = [
    (59.8901, 10.5201),
    (59.8970, 10.6290),
    (59.9300, 10.5000),
    (60.5000, 11.0000),
    (59.9101, 10.6001),
];
const MODES: [&str; 5] = ["e_scooter", "bicycle", "walk", "bus", "car_driver"];

/// A canonical line from a few numbers: ids come from a small pool so that the same id is sent
/// again with other contents (mode, place, persons), and some lines are rejected or are counts.
fn line(id: u8, variant: u8) -> String {
    let t = EventTimeMs(1_714_608_000_000 + i64::from(variant) * 60_000).to_rfc3339();
    let (lat, lon) = PLACES[usize::from(variant) % PLACES.len()];
    let (dlat, dlon) = PLACES[usize::from(variant / 5) % PLACES.len()];
    let mode = MODES[usize::from(variant / 3) % MODES.len()];
    match variant % 11 {
        0 => format!(
            r#"{{"kind":"trip","id":"t-{id}","source":"voi","mode":"hovercraft","start_time":"{t}"}}"#
        ),
        1 => format!(
            r#"{{"kind":"count","source":"ruter-apc","mode":"bus","start_time":"{t}","location":{{"lat":{lat},"lon":{lon}}},"count":{variant}}}"#
        ),
        2 => format!(
            r#"{{"kind":"count","id":"c-{id}","source":"trafikkdata","mode":"{mode}","start_time":"{t}","location":{{"lat":{lat},"lon":{lon}}},"count":{variant}}}"#
        ),
        _ => format!(
            r#"{{"kind":"trip","id":"t-{id}","source":"{}","mode":"{mode}","start_time":"{t}","origin":{{"lat":{lat},"lon":{lon}}},"destination":{{"lat":{dlat},"lon":{dlon}}},"persons":{}}}"#,
            ["voi", "tier"][usize::from(id) % 2],
            1 + variant % 3
        ),
    }
}

/// Everything a replay's state shows: the report and the totals behind it.
fn state_of(totals: &Totals, report: &crate::publish::Report) -> String {
    let mut cells: Vec<_> = totals.by_cell.iter().collect();
    cells.sort_by_key(|(cell, _)| **cell);
    format!(
        "{}\n{:?}\n{:?}\n{cells:?}\n{:?}",
        serde_json::to_string(report).unwrap_or_default(),
        totals.events,
        totals.rejections,
        totals.by_zone,
    )
}

fn one_thread(lines: &[String]) -> (String, crate::state::Breakdown) {
    let mut p = Pipeline::for_replay(settings(), zones());
    for l in lines {
        p.observe_line(l.as_bytes(), "test", None);
    }
    (
        state_of(p.totals(), &p.report()),
        p.totals().breakdown.clone(),
    )
}

/// Reads `lines` cut at `cuts` into units, unit `u` by part `owner[u]` (each part reads its
/// units in input order), resolves, retracts and merges, as the binary does on threads.
fn in_parts(lines: &[String], cuts: &[usize], owners: &[usize], parts: usize) -> Pipeline {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (lines.len() + 1)).collect();
    bounds.extend([0, lines.len()]);
    bounds.sort_unstable();
    bounds.dedup();
    let units: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let owner = |u: usize| owners.get(u).copied().unwrap_or(u) % parts;
    let mut readers: Vec<ReplayPart> = (0..parts)
        .map(|_| ReplayPart::new(settings(), zones()))
        .collect();
    // A position: the unit in the high bits, the line within it in the low ones.
    let position = |unit: usize, i: usize| ((unit as u64) << 32) | (i - units[unit].0) as u64;
    for (u, (start, end)) in units.iter().enumerate() {
        for (i, l) in lines.iter().enumerate().take(*end).skip(*start) {
            readers[owner(u)].observe_line(l.as_bytes(), "test", position(u, i));
        }
    }
    let mut later = Vec::new();
    for mut shards in shards_by_index(&mut readers) {
        later.extend(IdShard::resolve(&mut shards));
    }
    for p in later {
        let unit = (p >> 32) as usize;
        let i = units[unit].0 + (p & 0xffff_ffff) as usize;
        assert!(
            readers[owner(unit)].retract_line(lines[i].as_bytes()),
            "line {i} was accepted by its part"
        );
    }
    merge_parts(readers).unwrap_or_else(|| Pipeline::for_replay(settings(), zones()))
}

#[test]
fn the_first_of_a_conflicting_pair_across_parts_is_counted() {
    let first = line(1, 4);
    let second = line(1, 9);
    assert_ne!(first, second);
    let lines = vec![first.clone(), line(2, 7), second.clone()];
    // The second sighting is read by another part, and before the first one is.
    let merged = in_parts(&lines, &[2], &[1, 0], 2);
    let (want, _) = one_thread(&lines);
    assert_eq!(state_of(merged.totals(), &merged.report()), want);
    assert_eq!(merged.totals().events.duplicates, 1);
    let (only_first, _) = one_thread(&[first, line(2, 7)]);
    // Cells and zones (lines 4 and 5) hold the first sighting's numbers.
    let places = |s: &str| s.lines().skip(3).collect::<Vec<_>>().join("\n");
    assert_eq!(
        places(&state_of(merged.totals(), &merged.report())),
        places(&only_first)
    );
    let mut merged = merged;
    assert_eq!(merged.dedup_mut().len(), 2, "both ids, once each");
}

#[test]
fn a_part_left_without_events_in_a_cell_drops_the_cell() {
    // The part that reads the second sighting has nothing else in its cell.
    let lines = vec![line(3, 3), line(3, 4)];
    let merged = in_parts(&lines, &[1], &[0, 1], 2);
    let (want, breakdown) = one_thread(&lines);
    assert_eq!(state_of(merged.totals(), &merged.report()), want);
    assert_eq!(merged.totals().breakdown, breakdown);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn parts_add_up_to_the_one_thread_replay(
        events in prop::collection::vec((0u8..24, 0u8..40), 1..160),
        cuts in prop::collection::vec(0usize..200, 0..8),
        owners in prop::collection::vec(0usize..8, 0..9),
        parts in 1usize..5,
    ) {
        let lines: Vec<String> = events.iter().map(|(id, v)| line(*id, *v)).collect();
        let merged = in_parts(&lines, &cuts, &owners, parts);
        let (want, breakdown) = one_thread(&lines);
        prop_assert_eq!(state_of(merged.totals(), &merged.report()), want);
        prop_assert_eq!(&merged.totals().breakdown, &breakdown);
    }
}
