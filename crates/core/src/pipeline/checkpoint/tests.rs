use proptest::prelude::*;

use super::*;
use crate::state::WindowState;
use crate::vocabulary::ConfigErrors;
use crate::vocabulary::EventTimeMs;

const ZONES: &str = include_str!("../../../../../config/zones/baerum.geojson");
const NOW: EventTimeMs = EventTimeMs(1_714_700_000_000);

fn settings(resolution: h3o::Resolution) -> Settings {
    settings_with(resolution, 200.0)
}

/// Settings whose transit access judges bicycles within `radius_m` of two stops that the test
/// lines start and end at.
fn settings_with(resolution: h3o::Resolution, radius_m: f64) -> Settings {
    let mut settings = crate::testing::default_settings(&zones());
    settings.resolution = resolution;
    let mut errors = ConfigErrors::default();
    let stop = |name: &str, lat, lon| crate::space::StopConfig {
        name: name.into(),
        lat,
        lon,
    };
    settings.access = crate::space::TransitAccessConfig {
        modes: vec!["bicycle".into()],
        radius_m,
        stops_file: None,
        stops: vec![
            stop("Sandvika", 59.8901, 10.5201),
            stop("Stabekk", 59.9101, 10.6001),
        ],
    }
    .validate(&settings.groups, &[], "test", &zones(), &mut errors);
    assert!(errors.is_empty(), "{errors}");
    settings
}

fn zones() -> Zones {
    Zones::from_geojson(ZONES).unwrap_or_default()
}

/// Canonical lines of every kind of outcome: trips and counts in several zones and hours,
/// duplicates, rejections, an unknown source name.
fn lines(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| {
            let minute = 1_714_608_000_000 + (i as i64 % 600) * 60_000;
            let t = EventTimeMs(minute).to_rfc3339();
            let (lat, lon) = [(59.89, 10.52), (59.90, 10.62), (59.95, 10.55), (60.5, 11.0)][i % 4];
            match i % 7 {
                0 => format!(
                    r#"{{"kind":"count","id":"c-{i}","source":"ruter-apc","mode":"bus","start_time":"{t}","location":{{"lat":{lat},"lon":{lon}}},"count":{}}}"#,
                    i % 9
                ),
                // Every tenth id is sent again later.
                1 => format!(
                    r#"{{"kind":"trip","id":"t-{}","source":"voi","mode":"e_scooter","start_time":"{t}","origin":{{"lat":{lat},"lon":{lon}}}}}"#,
                    i / 10
                ),
                2 => format!(r#"{{"kind":"trip","source":"voi","mode":"hovercraft","start_time":"{t}"}}"#),
                _ => format!(
                    r#"{{"kind":"trip","id":"b-{i}","source":"bysykkel","mode":"bicycle","start_time":"{t}","origin":{{"lat":{lat},"lon":{lon}}},"destination":{{"lat":59.91,"lon":10.6}}}}"#
                ),
            }
        })
        .collect()
}

fn feed(pipeline: &mut Pipeline, lines: &[String]) {
    for l in lines {
        pipeline.observe_line(l.as_bytes(), "test", Some(NOW));
    }
}

/// Every rolling window's cells (sorted) and zone pairs.
fn places(p: &Pipeline) -> String {
    let (Some(state), Some(watermark)) = (p.windows(), p.watermark()) else {
        return String::new();
    };
    let ws = &p.settings().windows;
    let mut out = String::new();
    for rw in &ws.rolling {
        let mut cells: Vec<_> = crate::state::window_cells(&[state], ws, watermark, rw.length)
            .cells
            .into_iter()
            .collect();
        cells.sort_by_key(|(cell, _)| *cell);
        let pairs = crate::state::window_zone_pairs(&[state], ws, watermark, rw.length);
        let stops = crate::state::window_stops(&[state], ws, watermark, rw.length);
        out.push_str(&format!("{}: {cells:?}\n{pairs:?}\n{stops:?}\n", rw.label));
    }
    out
}

/// The cells, zone pairs and stop places of the longest window.
fn place_counts(p: &Pipeline) -> (usize, usize, usize) {
    let (Some(state), Some(watermark)) = (p.windows(), p.watermark()) else {
        return (0, 0, 0);
    };
    let ws = &p.settings().windows;
    let longest = ws.longest_window();
    (
        crate::state::window_cells(&[state], ws, watermark, longest)
            .cells
            .len(),
        crate::state::window_zone_pairs(&[state], ws, watermark, longest).len(),
        crate::state::window_stops(&[state], ws, watermark, longest).len(),
    )
}

/// The report and live view without the breakdowns (what formats 1 and 2 kept).
fn without_breakdowns(p: &Pipeline) -> String {
    let states: Vec<&crate::state::WindowState> = p.windows().into_iter().collect();
    let mut report = serde_json::to_value(p.report()).unwrap_or_default();
    let mut view = serde_json::to_value(crate::publish::live_view(
        &states,
        p.settings().publishing(),
        p.zones(),
        p.watermark(),
    ))
    .unwrap_or_default();
    let strip = |zones: &mut serde_json::Value| {
        for zone in zones
            .as_object_mut()
            .into_iter()
            .flat_map(|z| z.values_mut())
        {
            if let Some(z) = zone.as_object_mut() {
                z.remove("distance_bands");
                z.remove("transit_access");
            }
        }
    };
    strip(&mut report["zones"]);
    for w in view["windows"].as_array_mut().into_iter().flatten() {
        strip(&mut w["zones"]);
    }
    format!("{report}\n{view}")
}

/// Band person trips over every zone and band of the report.
fn band_person_trips(p: &Pipeline) -> f64 {
    p.report()
        .zones
        .values()
        .flat_map(|z| &z.distance_bands)
        .map(|b| b.total_person_trips)
        .sum()
}

/// Checkpoint bytes of an older format: `payload` under its header.
fn older_format(version: u16, p: &Pipeline, payload: &[u8]) -> Vec<u8> {
    let fingerprint = Fingerprint::of_version(p.settings(), p.zones(), true, version);
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&fingerprint.0.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&xxh3_64(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// What must survive: the report, the watermark and every window, with its cells and pairs.
fn observable(p: &Pipeline) -> String {
    let states: Vec<&crate::state::WindowState> = p.windows().into_iter().collect();
    let views =
        crate::publish::live_view(&states, p.settings().publishing(), p.zones(), p.watermark());
    format!(
        "{}\n{:?}\n{}\n{}",
        serde_json::to_string(&p.report()).unwrap_or_default(),
        p.watermark(),
        serde_json::to_string(&views).unwrap_or_default(),
        places(p)
    )
}

#[test]
fn a_restored_live_pipeline_continues_exactly_as_the_original() {
    let resolution = h3o::Resolution::Nine;
    let mut original = Pipeline::live(settings(resolution), zones());
    feed(&mut original, &lines(0..2_000));
    let fingerprint = Fingerprint::of(original.settings(), original.zones(), true);
    let bytes = encode(&original, Position::Offset(2_000), fingerprint);
    let restored = decode(&bytes, settings(resolution), zones(), true).unwrap();
    assert_eq!(restored.position, Position::Offset(2_000));
    let mut restored = restored.pipeline;
    assert_eq!(observable(&restored), observable(&original));
    // The rest of the stream, including ids first seen before the checkpoint.
    let rest = lines(2_000..4_000);
    feed(&mut original, &rest);
    feed(&mut restored, &rest);
    assert_eq!(observable(&restored), observable(&original));
    assert!(original.report().events.duplicates > 100);
    assert!(original.report().events.rejected > 100);
}

#[test]
fn the_publishable_state_publishes_the_same_numbers_without_the_ids() {
    let resolution = h3o::Resolution::Nine;
    let mut original = Pipeline::live(settings(resolution), zones());
    feed(&mut original, &lines(0..2_000));
    let fingerprint = Fingerprint::of(original.settings(), original.zones(), true);
    let whole = encode(&original, Position::Offset(2_000), fingerprint);
    let publishable = encode_publishable(&original, Position::Offset(2_000), fingerprint);
    let restored = decode(&publishable, settings(resolution), zones(), true).unwrap();
    assert_eq!(restored.position, Position::Offset(2_000));
    assert_eq!(observable(&restored.pipeline), observable(&original));
    assert!(original.dedup_len() > 1_000);
    assert_eq!(restored.pipeline.dedup_len(), 0, "no id travels");
    // Another instance's part sees no event of its own: its blocks of buckets before the
    // newest event's (10 hours of events: two of 4 hours) are summed when it is restored.
    let summed = restored.pipeline.windows().map(WindowState::summed_blocks);
    assert_eq!(summed, Some([2, 2, 0, 0]));
    assert!(
        publishable.len() + original.dedup_len() * 16 <= whole.len(),
        "{} bytes publishable, {} whole",
        publishable.len(),
        whole.len()
    );
}

#[test]
fn both_encodings_at_once_are_the_two_byte_for_byte() {
    let resolution = h3o::Resolution::Nine;
    let mut pipeline = Pipeline::live(settings(resolution), zones());
    feed(&mut pipeline, &lines(0..2_000));
    assert!(
        pipeline.dedup_len() > 1_000,
        "ids to save in one, forget in the other"
    );
    let fingerprint = Fingerprint::of(pipeline.settings(), pipeline.zones(), true);
    let (whole, publishable) = encode_with_publishable(
        &pipeline,
        Position::Offset(2_000),
        Position::Offset(0),
        fingerprint,
    );
    assert_eq!(
        whole,
        encode(&pipeline, Position::Offset(2_000), fingerprint)
    );
    assert_eq!(
        publishable,
        encode_publishable(&pipeline, Position::Offset(0), fingerprint)
    );
    // And a replay's state (no windows), at a position of an input.
    let mut replayed = Pipeline::for_replay(settings(resolution), zones());
    feed(&mut replayed, &lines(0..100));
    let fingerprint = Fingerprint::of(replayed.settings(), replayed.zones(), false);
    let at = Position::Input {
        index: 1,
        byte: 9_000,
        line: 100,
    };
    let (whole, publishable) = encode_with_publishable(&replayed, at, at, fingerprint);
    assert_eq!(whole, encode(&replayed, at, fingerprint));
    assert_eq!(publishable, encode_publishable(&replayed, at, fingerprint));
}

#[test]
fn a_version_1_checkpoint_restores_with_empty_cell_windows() {
    #[derive(Serialize)]
    struct Version1<'a> {
        position: Position,
        totals: &'a SavedTotals,
        windows: Option<&'a SavedZoneWindows>,
        dedup: &'a SavedDedup,
    }
    let resolution = h3o::Resolution::Nine;
    let mut original = Pipeline::live(settings(resolution), zones());
    feed(&mut original, &lines(0..2_000));
    let (cells, pairs, stops) = place_counts(&original);
    assert!(
        cells > 3 && pairs > 1 && stops == 2,
        "the original has cells, pairs and stops"
    );
    let (saved, _) = original.save();
    let payload = postcard::to_allocvec(&Version1 {
        position: Position::Offset(7),
        totals: &saved.totals,
        windows: saved.windows.as_ref().map(|w| &w.zones),
        dedup: &saved.dedup,
    })
    .unwrap();
    let bytes = older_format(1, &original, &payload);
    let restored = decode(&bytes, settings(resolution), zones(), true).unwrap();
    assert_eq!(restored.position, Position::Offset(7));
    let restored = restored.pipeline;
    assert_eq!(without_breakdowns(&restored), without_breakdowns(&original));
    assert_eq!(place_counts(&restored), (0, 0, 0));
    assert_eq!(band_person_trips(&restored), 0.0);
}

#[test]
fn a_version_2_checkpoint_restores_with_empty_breakdowns_that_then_fill() {
    let resolution = h3o::Resolution::Nine;
    let mut original = Pipeline::live(settings(resolution), zones());
    feed(&mut original, &lines(0..2_000));
    assert!(band_person_trips(&original) > 100.0);
    let (state, _) = original.save();
    let payload = postcard::to_allocvec(&SavedCheckpointV2Out {
        position: Position::Offset(9),
        state: &state,
    })
    .unwrap();
    let bytes = older_format(2, &original, &payload);
    // Format 2 knew no bands or stops: its state fits any, so another radius still reads.
    let restored = decode(&bytes, settings_with(resolution, 50.0), zones(), true).unwrap();
    assert_eq!(restored.position, Position::Offset(9));
    let mut restored = restored.pipeline;
    let mut reference = Pipeline::live(settings_with(resolution, 50.0), zones());
    feed(&mut reference, &lines(0..2_000));
    assert_eq!(
        without_breakdowns(&restored),
        without_breakdowns(&reference)
    );
    assert_eq!(band_person_trips(&restored), 0.0);
    assert_eq!(place_counts(&restored).2, 0);
    feed(&mut restored, &lines(2_000..2_500));
    assert!(
        band_person_trips(&restored) > 100.0,
        "new events fill the bands"
    );
}

/// Format 2's payload, as it was written.
#[derive(Serialize)]
struct SavedCheckpointV2Out<'a> {
    position: Position,
    state: &'a SavedPipeline,
}

#[test]
fn a_restored_replay_pipeline_remembers_every_id() {
    let resolution = h3o::Resolution::Eight;
    let mut original = Pipeline::for_replay(settings(resolution), zones());
    feed(&mut original, &lines(0..1_000));
    let fingerprint = Fingerprint::of(original.settings(), original.zones(), false);
    let position = Position::Input {
        index: 2,
        byte: 12_345,
        line: 99,
    };
    let bytes = encode(&original, position, fingerprint);
    let restored = decode(&bytes, settings(resolution), zones(), false).unwrap();
    assert_eq!(restored.position, position);
    let mut restored = restored.pipeline;
    let again = lines(0..1_000);
    feed(&mut original, &again);
    feed(&mut restored, &again);
    assert_eq!(observable(&restored), observable(&original));
    assert_eq!(
        restored.report().events.accepted,
        original.report().events.accepted
    );
}

#[test]
fn damaged_foreign_and_mismatched_checkpoints_are_refused_with_their_reason() {
    let resolution = h3o::Resolution::Nine;
    let mut p = Pipeline::live(settings(resolution), zones());
    feed(&mut p, &lines(0..300));
    let fingerprint = Fingerprint::of(p.settings(), p.zones(), true);
    let bytes = encode(&p, Position::Offset(300), fingerprint);
    let decode_live = |b: &[u8]| decode(b, settings(resolution), zones(), true).map(|r| r.position);

    assert_eq!(
        decode_live(b"{\"kind\":\"trip\"}"),
        Err(CheckpointError::NotACheckpoint)
    );
    assert_eq!(decode_live(b""), Err(CheckpointError::NotACheckpoint));
    // Cut short anywhere (a crash mid-write without the rename), or one bit flipped.
    for cut in [16, 20, 41, 42, 43, bytes.len() / 2, bytes.len() - 1] {
        let e = decode_live(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(e, CheckpointError::Corrupt(_)),
            "cut at {cut}: {e}"
        );
    }
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    assert_eq!(
        decode_live(&flipped),
        Err(CheckpointError::Corrupt(
            "the state does not match its checksum".into()
        ))
    );
    let mut newer = bytes.clone();
    newer[16] = 9;
    assert_eq!(
        decode_live(&newer),
        Err(CheckpointError::UnsupportedVersion { found: 9 })
    );
    // Another resolution, other zones, or replay state read as live.
    let e = decode(&bytes, settings(h3o::Resolution::Ten), zones(), true).unwrap_err();
    assert!(
        matches!(e, CheckpointError::ConfigurationChanged { .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("distance bands or transit-access stops changed"),
        "{e}"
    );
    // Another radius or other bands shape the breakdowns differently.
    let e = decode(&bytes, settings_with(resolution, 150.0), zones(), true).unwrap_err();
    assert!(
        matches!(e, CheckpointError::ConfigurationChanged { .. }),
        "{e}"
    );
    let mut other_bands = settings(resolution);
    other_bands.bands = crate::space::DistanceBandsConfig {
        edges_km: vec![2.0],
    }
    .validate(&mut ConfigErrors::default());
    let e = decode(&bytes, other_bands, zones(), true).unwrap_err();
    assert!(
        matches!(e, CheckpointError::ConfigurationChanged { .. }),
        "{e}"
    );
    let fewer = Zones::from_geojson(
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Bærum"},"geometry":{"type":"Polygon","coordinates":[[[10.4,59.8],[10.7,59.8],[10.7,60.0],[10.4,59.8]]]}}]}"#,
    )
    .unwrap_or_default();
    let e = decode(&bytes, settings(resolution), fewer, true).unwrap_err();
    assert!(
        matches!(e, CheckpointError::ConfigurationChanged { .. }),
        "{e}"
    );
    let e = decode(&bytes, settings(resolution), zones(), false).unwrap_err();
    assert!(
        matches!(e, CheckpointError::ConfigurationChanged { .. }),
        "{e}"
    );
    // The original still reads.
    assert_eq!(decode_live(&bytes), Ok(Position::Offset(300)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bytes after a valid header, of any length and with the header's own checksum, are
    /// refused or restored: never a panic.
    #[test]
    fn arbitrary_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let s = settings(h3o::Resolution::Nine);
        let z = zones();
        let fingerprint = Fingerprint::of(&s, &z, true);
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&fingerprint.0.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let _ = decode(&bytes, s, z, true);
    }
}
