//! `modeshare replay --threads N`: the report is byte-identical whatever the number of threads
//! and however the input is cut into parts (part boundaries everywhere, down to one line per
//! part), over the golden fixture, generated events with re-sent ids whose contents differ,
//! and whole files of other formats; of two events with the same source and id, the first in
//! input order is the one counted, even when the other comes in an earlier-read part.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;

fn fixture(dir: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(dir)
        .join(file)
}

/// A folder of its own under the system's temporary folder, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("modeshare-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `lines`, each ended by `\n`.
    fn write<L: AsRef<[u8]>>(&self, file: &str, lines: &[L]) -> PathBuf {
        let path = self.0.join(file);
        let mut bytes = Vec::new();
        for l in lines {
            bytes.extend_from_slice(l.as_ref());
            bytes.push(b'\n');
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `modeshare replay` with `args`: the report as printed, and the summary without its timing.
fn replay(args: &[&str], files: &[&Path]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .arg("replay")
        .args(args)
        .args(files)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay {args:?} failed: {stderr}");
    let summary = stderr
        .lines()
        .map(|l| match l.find(" duplicates in ") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    (String::from_utf8(out.stdout).unwrap(), summary)
}

/// The report and summary for each thread count and part size, all equal to one thread's.
fn same_on_any_threads(config: &[&str], files: &[&Path], part_bytes: &[&str]) -> (String, String) {
    let one = replay(&[config, &["--threads", "1"]].concat(), files);
    for threads in ["2", "3", "8"] {
        for bytes in part_bytes {
            let mut args = [config, &["--threads", threads]].concat();
            if !bytes.is_empty() {
                args.extend(["--chunk-bytes", bytes]);
            }
            let got = replay(&args, files);
            assert_eq!(
                got.0, one.0,
                "report on {threads} threads, parts of {bytes:?} bytes"
            );
            assert_eq!(
                got.1, one.1,
                "summary on {threads} threads, parts of {bytes:?} bytes"
            );
        }
    }
    one
}

fn golden_config() -> Vec<String> {
    vec![
        "--config".into(),
        fixture("golden", "config.toml").display().to_string(),
        "--zones".into(),
        fixture("golden", "zones.geojson").display().to_string(),
    ]
}

#[test]
fn the_golden_report_is_the_same_on_any_number_of_threads_and_parts() {
    let config = golden_config();
    let config: Vec<&str> = config.iter().map(String::as_str).collect();
    let events = fixture("golden", "events.ndjson");
    let (report, summary) = same_on_any_threads(&config, &[&events], &["1", "333", ""]);
    assert!(report.contains("\"duplicates\""), "{report}");
    assert!(
        summary.contains("events.ndjson:"),
        "rejection examples name their line: {summary}"
    );

    // Shuffled and split over three files, the same report (the one-thread replay of one
    // file already equals the sorted input's, see golden_replay.rs).
    // (The fixture holds bytes that are not UTF-8, on purpose.)
    let input = std::fs::read(&events).unwrap();
    let mut lines: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
    lines.shuffle(&mut rand::rngs::SmallRng::seed_from_u64(24));
    let dir = TempDir::new("parallel-golden");
    let third = lines.len() / 3;
    let parts = [
        dir.write("a.ndjson", &lines[..third]),
        dir.write("b.ndjson", &lines[third..2 * third]),
        dir.write("c.ndjson", &lines[2 * third..]),
    ];
    let files: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
    let (split, _) = same_on_any_threads(&config, &files, &["1", "4096"]);
    assert_eq!(split, report, "shuffled and split");
}

/// A trip of `source` and `id` in Sandvika (inside the default zones), by `mode`.
fn trip(id: &str, mode: &str, lat: f64) -> String {
    format!(
        r#"{{"kind":"trip","id":"{id}","source":"voi","mode":"{mode}","start_time":"2024-05-02T07:00:00Z","origin":{{"lat":{lat},"lon":10.5201}},"persons":2}}"#
    )
}

#[test]
fn the_first_of_a_conflicting_pair_is_counted_whatever_the_parts() {
    let filler: Vec<String> = (0..60)
        .map(|i| trip(&format!("walk-{i}"), "walk", 59.89))
        .collect();
    let first = trip("pair", "bicycle", 59.8901);
    let second = trip("pair", "car_driver", 59.8905);
    let dir = TempDir::new("parallel-pair");
    for (name, a, b, counted, not_counted) in [
        ("forward.ndjson", &first, &second, "bicycle", "car_driver"),
        ("backward.ndjson", &second, &first, "car_driver", "bicycle"),
    ] {
        let lines: Vec<String> = std::iter::once(a.clone())
            .chain(filler.iter().cloned())
            .chain(std::iter::once(b.clone()))
            .collect();
        let path = dir.write(name, &lines);
        // Parts of 1 and 300 bytes put the pair in different parts; 8 threads read them in
        // whichever order they get to them.
        let (report, _) = same_on_any_threads(&[], &[&path], &["1", "300"]);
        let report: Value = serde_json::from_str(&report).unwrap();
        assert_eq!(report["events"]["duplicates"], 1, "{name}");
        assert_eq!(report["events"]["accepted"], 61, "{name}");
        let sandvika = &report["zones"]["Sandvika"]["person_trips"];
        assert_eq!(sandvika[counted], 2.0, "{name}: {sandvika}");
        assert!(sandvika.get(not_counted).is_none(), "{name}: {sandvika}");

        // The same numbers as the input without the later sighting.
        let alone = dir.write("alone.ndjson", &lines[..lines.len() - 1]);
        let (without, _) = replay(&["--threads", "1"], &[&alone]);
        let without: Value = serde_json::from_str(&without).unwrap();
        assert_eq!(report["zones"], without["zones"], "{name}");
        assert_eq!(report["cells"], without["cells"], "{name}");
    }
}

#[test]
fn generated_events_with_re_sent_ids_give_the_same_report() {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["generate", "--events", "20000", "--seed", "24"])
        .args(["--start", "2024-05-02T00:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // One event in 50 is sent again elsewhere in the file, as another mode with more persons.
    let mut rng = rand::rngs::SmallRng::seed_from_u64(24);
    let resent: Vec<String> = lines
        .iter()
        .step_by(50)
        .filter(|l| l.contains("\"id\""))
        .map(|l| {
            let other = if l.contains("\"mode\":\"walk\"") {
                "car_driver"
            } else {
                "walk"
            };
            let mode_at = l.find("\"mode\":\"").unwrap() + 8;
            let mode_end = mode_at + l[mode_at..].find('"').unwrap();
            format!("{}{other}{}", &l[..mode_at], &l[mode_end..])
        })
        .collect();
    assert!(resent.len() > 300);
    for l in resent {
        let at = rng.random_range(0..=lines.len());
        lines.insert(at, l);
    }
    let dir = TempDir::new("parallel-generated");
    let path = dir.write("events.ndjson", &lines);
    let (report, _) = same_on_any_threads(&[], &[&path], &["4096", ""]);
    let report: Value = serde_json::from_str(&report).unwrap();
    assert!(
        report["events"]["duplicates"].as_u64().unwrap() >= 300,
        "{}",
        report["events"]
    );
}

#[test]
fn whole_files_of_other_formats_give_way_to_earlier_ids() {
    // The MDS 2.0 trips as canonical events with another mode: whichever file comes first
    // gives the numbers, whether the MDS file is read on its own thread or not.
    let mds = fixture("formats", "mds-2.0-trips.synthetic.ndjson");
    let canonical = std::fs::read_to_string(fixture(
        "formats",
        "mds-2.0-trips.synthetic.ndjson.canonical.ndjson",
    ))
    .unwrap();
    assert!(canonical.contains("\"e_scooter\""));
    let as_bicycles: Vec<String> = canonical
        .lines()
        .map(|l| l.replace("\"e_scooter\"", "\"bicycle\""))
        .collect();
    let dir = TempDir::new("parallel-formats");
    let bicycles = dir.write("bicycles.ndjson", &as_bicycles);
    let config = fixture("formats", "config.toml").display().to_string();
    let config = ["--config", config.as_str()];
    for (files, counted, not_counted) in [
        ([&bicycles, &mds], "bicycle", "e_scooter"),
        ([&mds, &bicycles], "e_scooter", "bicycle"),
    ] {
        let files = files.map(PathBuf::as_path);
        let (report, _) = same_on_any_threads(&config, &files, &["1", "200", ""]);
        let report: Value = serde_json::from_str(&report).unwrap();
        assert!(report["events"]["duplicates"].as_u64().unwrap() > 0);
        let modes: Vec<&String> = report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["person_trips"].as_object().unwrap().keys())
            .collect();
        assert!(modes.iter().any(|m| *m == counted), "{modes:?}");
        assert!(!modes.iter().any(|m| *m == not_counted), "{modes:?}");
    }
}

#[test]
fn state_and_stdin_are_read_on_one_thread() {
    let events = fixture("golden", "events.ndjson");
    let config = golden_config();
    let config: Vec<&str> = config.iter().map(String::as_str).collect();
    let dir = TempDir::new("parallel-state");
    let state = dir.0.display().to_string();
    let (with_state, summary) = replay(
        &[&config[..], &["--threads", "4", "--state", &state]].concat(),
        &[&events],
    );
    assert!(
        summary.contains("reading on one thread: --state"),
        "{summary}"
    );
    let (one, _) = replay(&[&config[..], &["--threads", "1"]].concat(), &[&events]);
    assert_eq!(with_state, one);

    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .arg("replay")
        .args(&config)
        .args(["--threads", "4", "-"])
        .stdin(std::fs::File::open(&events).unwrap())
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("reading on one thread: stdin"),
        "{summary}"
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), one);
}
