//! `modeshare replay --format F` over real and synthetic samples of every format, against the
//! same data written as canonical events by an independent script
//! (`scripts/fixtures/make_format_fixtures.py`): the person trips per zone and per cell must be
//! the same, and the rejections and skipped rows those the script expects.
//!
//! Messy input covered: Latin-1 text, CRLF endings, quoted headers and fields, a header-only
//! file, an empty unquoted trip id, a DST day of 25 hours, fractional epoch milliseconds, a
//! pretty-printed MDS page, an MDS page on one line among single trips, rows missing a
//! coordinate or a column, trips lacking every MDS identifier, TIDES rows with `NA` values,
//! local timestamps (one in a repeated DST hour), unknown stops and trips, and an upper-case
//! event type.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn fixture(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/formats")
        .join(file)
}

fn zones() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/zones/baerum-asker-oslo-kommuner.geojson")
}

/// The report of `modeshare replay [--format F] FILES…`, and its stderr.
fn replay(format: Option<&str>, files: &[&Path]) -> (Value, String) {
    replay_with(&[], format, files)
}

/// `replay` with extra arguments (`--gtfs FEED`).
fn replay_with(args: &[&OsStr], format: Option<&str>, files: &[&Path]) -> (Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modeshare"));
    cmd.arg("replay")
        .args(args)
        .arg("--config")
        .arg(fixture("config.toml"))
        .arg("--zones")
        .arg(zones());
    if let Some(f) = format {
        cmd.args(["--format", f]);
    }
    let out = cmd.args(files).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay failed: {stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn person_trips_close(got: &Value, want: &Value, path: &str) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-5, "{path}: got {g}, want {w}");
        }
        (Value::Object(g), Value::Object(w)) => {
            assert_eq!(
                g.keys().collect::<Vec<_>>(),
                w.keys().collect::<Vec<_>>(),
                "{path}: keys differ"
            );
            for (k, v) in w {
                person_trips_close(&g[k], v, &format!("{path}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: lengths differ");
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                person_trips_close(a, b, &format!("{path}[{i}]"));
            }
        }
        (g, w) => assert_eq!(g, w, "{path}"),
    }
}

/// Checks one sample: forced and recognised formats agree, the person trips equal the
/// canonical version's, and the outcomes are the expected ones.
fn check(file: &str, format: &str) -> Value {
    check_with(&[], file, format)
}

fn check_with(args: &[&OsStr], file: &str, format: &str) -> Value {
    let path = fixture(file);
    let (report, _) = replay_with(args, Some(format), &[&path]);
    let (recognised, _) = replay_with(args, None, &[&path]);
    assert_eq!(
        report, recognised,
        "{file}: the recognised format reads differently"
    );
    let canonical = fixture(&format!("{file}.canonical.ndjson"));
    let (expected, _) = replay(Some("canonical"), &[&canonical]);
    assert_eq!(
        expected["events"]["rejected"], 0,
        "{file}: the canonical version is valid"
    );
    let outcomes: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{file}.outcomes.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(report["events"]["accepted"], outcomes["accepted"], "{file}");
    assert_eq!(report["rejections"], outcomes["rejections"], "{file}");
    assert_eq!(report["skipped"], outcomes["skipped"], "{file}");
    person_trips_close(
        &report["zones"],
        &expected["zones"],
        &format!("{file}: zones"),
    );
    person_trips_close(
        &report["cells"],
        &expected["cells"],
        &format!("{file}: cells"),
    );
    // Ids are stable (derived ones too): the same export sent twice counts once.
    let (twice, _) = replay_with(args, Some(format), &[&path, &path]);
    assert_eq!(
        twice["events"]["duplicates"], report["events"]["accepted"],
        "{file}"
    );
    assert_eq!(twice["zones"], report["zones"], "{file}");
    report
}

#[test]
fn oslo_bysykkel_export() {
    let r = check("oslobysykkel-2024-01.head.csv", "csv:oslobysykkel");
    assert!(
        r["zones"]["Oslo"]["person_trips"]["bicycle"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn us_e_scooter_exports() {
    check("kansas_city_trips.head.csv", "csv:kansascity");
    check("louisville_trips.head.csv", "csv:louisville");
    check("indianapolis_purr_trips.head.csv", "csv:indianapolis");
}

#[test]
fn trafikkdata_exports() {
    let r = check("trafikkdata-baerum-dst.synthetic.csv", "trafikkdata");
    let baerum = &r["zones"]["Bærum"]["person_trips"];
    assert!(
        baerum["bicycle"].as_f64().unwrap() > 0.0 && baerum["car_driver"].as_f64().unwrap() > 0.0
    );
    check("traffic_example.csv", "trafikkdata");
}

#[test]
fn mds_trips_and_pages() {
    let r = check("mds-1.2-page.synthetic.json", "mds");
    assert!(
        r["zones"]["Bærum"]["shares"]["micromobility"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    check("mds-2.0-trips.synthetic.ndjson", "mds");
    check("sharedstreets-simulated-Spuun-trips.jsonl", "mds");
    // Forcing a version reads every trip as that version.
    let (forced, _) = replay(Some("mds:2.0"), &[&fixture("mds-1.2-page.synthetic.json")]);
    assert_eq!(forced["events"]["accepted"], 0);
    assert!(forced["rejections"]["missing_field"].as_u64().unwrap() > 0);
}

#[test]
fn tides_boardings_located_through_gtfs() {
    let feed = |name: &str| fixture(name).into_os_string();
    // The airport train: basic route_type 2, quoted CRLF rows, local times in the feed's zone.
    let train = feed("entur-flytoget-gtfs.zip");
    let r = check_with(
        &["--gtfs".as_ref(), &train],
        "tides-flytoget.synthetic.csv",
        "tides",
    );
    let baerum = &r["zones"]["Bærum"]["person_trips"];
    assert!(baerum["rail"].as_f64().unwrap() > 0.0, "{baerum}");
    assert!(
        baerum["bus"].as_f64().unwrap() > 0.0,
        "the default mode: {baerum}"
    );
    // The airport coach: extended route_type 200, agency_timezone Europe/Berlin.
    let coach = feed("entur-flybussen-gtfs.zip");
    let r = check_with(
        &["--gtfs".as_ref(), &coach],
        "tides-flybussen.synthetic.csv",
        "tides",
    );
    assert!(r["zones"]["Bærum"]["person_trips"]["bus"].as_f64().unwrap() > 0.0);
    // The TIDES template itself: a header and no rows.
    let template = fixture("tides-passenger_events.header-only.csv");
    let (r, _) = replay_with(&["--gtfs".as_ref(), &coach], None, &[&template]);
    assert_eq!(r["events"]["read"], 0);
    // The same feed as a folder reads the same.
    let dir = std::env::temp_dir().join(format!("modeshare-gtfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(fixture("entur-flytoget-gtfs.zip")).unwrap())
            .unwrap();
    zip.extract(&dir).unwrap();
    let file = fixture("tides-flytoget.synthetic.csv");
    let (from_zip, _) = replay_with(&["--gtfs".as_ref(), &train], Some("tides"), &[&file]);
    let (from_dir, _) = replay_with(
        &["--gtfs".as_ref(), dir.as_os_str()],
        Some("tides"),
        &[&file],
    );
    assert_eq!(from_zip, from_dir);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tides_without_a_gtfs_feed_is_refused_with_the_setting_to_use() {
    for format in [Some("tides"), None] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modeshare"));
        cmd.arg("replay");
        if let Some(f) = format {
            cmd.args(["--format", f]);
        }
        let out = cmd
            .arg(fixture("tides-flybussen.synthetic.csv"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{format:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("formats.tides.gtfs"), "{stderr}");
    }
    // A feed that is not one names the problem.
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["replay", "--format", "tides", "--gtfs"])
        .arg(fixture("config.toml"))
        .arg(fixture("tides-flybussen.synthetic.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a GTFS zip or folder"), "{stderr}");
}

#[test]
fn messy_tables_give_reasons_and_unknown_formats_are_refused() {
    let dir = std::env::temp_dir().join(format!("modeshare-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = std::fs::read_to_string(fixture("kansas_city_trips.head.csv")).unwrap();
    let header = kc.lines().next().unwrap();
    let header_only = dir.join("header-only.csv");
    std::fs::write(&header_only, format!("{header}\r\n")).unwrap();
    let (r, _) = replay(Some("csv:kansascity"), &[&header_only]);
    assert_eq!(r["events"]["read"], 0);
    // A row without its start latitude, and a row cut short.
    let first = kc.lines().nth(1).unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    let mut no_lat = fields.clone();
    no_lat[7] = "";
    let messy = dir.join("messy.csv");
    std::fs::write(
        &messy,
        format!(
            "{header}\n{}\n{}\n{first}\n",
            no_lat.join(","),
            fields[..5].join(",")
        ),
    )
    .unwrap();
    let (r, stderr) = replay(Some("csv:kansascity"), &[&messy]);
    assert_eq!(r["events"]["accepted"], 1);
    assert_eq!(r["rejections"]["missing_field"], 1);
    assert_eq!(r["rejections"]["invalid_csv"], 1);
    assert!(
        stderr.contains("messy.csv:2: Start Latitude: missing"),
        "{stderr}"
    );
    assert!(stderr.contains("messy.csv:3:"), "{stderr}");
    // An unknown format is a usage error, and a CSV nobody recognises says so.
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["replay", "--format", "csv:atlantis"])
        .arg(&messy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("oslobysykkel, louisville"));
    let unknown = dir.join("bluebikes.csv");
    std::fs::write(
        &unknown,
        "ride_id,rideable_type,started_at\nA1,classic_bike,2024-01-09 17:00:00\n",
    )
    .unwrap();
    let (r, stderr) = replay(None, &[&unknown]);
    assert_eq!(r["rejections"]["invalid_json"], 2);
    assert!(
        stderr.contains("not JSON and not a known CSV layout"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
