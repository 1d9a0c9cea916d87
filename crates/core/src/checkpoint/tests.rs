use proptest::prelude::*;

use super::*;
use crate::config::ConfigErrors;
use crate::factor::PersonTripFactors;
use crate::mode::GroupsConfig;
use crate::time::DurationMs;
use crate::window::WindowSettings;

const ZONES: &str = include_str!("../../../../config/zones/baerum.geojson");
const NOW: EventTimeMs = EventTimeMs(1_714_700_000_000);

fn settings(resolution: h3o::Resolution) -> Settings {
    let groups = GroupsConfig(
        [("cycling".to_owned(), vec!["bicycle".to_owned()])]
            .into_iter()
            .collect(),
    )
    .validate(&mut ConfigErrors::default());
    Settings {
        groups,
        goals: Vec::new(),
        factors: PersonTripFactors::default(),
        resolution,
        dedup_horizon: DurationMs::from_days(35),
        windows: WindowSettings::default(),
    }
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
        let mut cells: Vec<_> = crate::window::window_cells(&[state], ws, watermark, rw.length)
            .cells
            .into_iter()
            .collect();
        cells.sort_by_key(|(cell, _)| *cell);
        let pairs = crate::window::window_zone_pairs(&[state], ws, watermark, rw.length);
        out.push_str(&format!("{}: {cells:?}\n{pairs:?}\n", rw.label));
    }
    out
}

/// The cells and zone pairs of the longest window.
fn place_counts(p: &Pipeline) -> (usize, usize) {
    let (Some(state), Some(watermark)) = (p.windows(), p.watermark()) else {
        return (0, 0);
    };
    let ws = &p.settings().windows;
    let longest = ws.longest_window();
    (
        crate::window::window_cells(&[state], ws, watermark, longest)
            .cells
            .len(),
        crate::window::window_zone_pairs(&[state], ws, watermark, longest).len(),
    )
}

/// What must survive: the report, the watermark and every window, with its cells and pairs.
fn observable(p: &Pipeline) -> String {
    let states: Vec<&crate::window::WindowState> = p.windows().into_iter().collect();
    let views = crate::view::live_view(&states, p.settings(), p.zones(), p.watermark());
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
    let (cells, pairs) = place_counts(&original);
    assert!(cells > 3 && pairs > 1, "the original has cells and pairs");
    let saved = original.save();
    let payload = postcard::to_allocvec(&Version1 {
        position: Position::Offset(7),
        totals: &saved.totals,
        windows: saved.windows.as_ref().map(|w| &w.zones),
        dedup: &saved.dedup,
    })
    .unwrap();
    let fingerprint = Fingerprint::of(original.settings(), original.zones(), true);
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&fingerprint.0.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    let restored = decode(&bytes, settings(resolution), zones(), true).unwrap();
    assert_eq!(restored.position, Position::Offset(7));
    let restored = restored.pipeline;
    assert_eq!(restored.report(), original.report());
    let states = |p: &Pipeline| {
        let states: Vec<_> = p.windows().into_iter().collect();
        crate::view::live_view(&states, p.settings(), p.zones(), p.watermark())
    };
    assert_eq!(states(&restored), states(&original));
    assert_eq!(place_counts(&restored), (0, 0));
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
            .contains("zones, resolution, modes, bucket or time zone changed")
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
