//! `modeshare replay` over the golden fixture (real Oslo Bysykkel trips and a Statens vegvesen
//! counter export, simulated MDS trips and synthetic Bærum events, with bad lines of every
//! reason, re-sent duplicates, blank lines and CRLF endings) against the report computed
//! independently by `scripts/fixtures/make_golden.py` (H3 C library, GEOS, plain arithmetic).
//! The same input shuffled, split into several files and piped through stdin must give a
//! byte-identical report.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::Value;

fn golden(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/golden")
        .join(file)
}

fn replay(files: &[&Path], stdin: Option<&[u8]>) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_modeshare"));
    cmd.arg("replay")
        .arg("--config")
        .arg(golden("config.toml"))
        .arg("--zones")
        .arg(golden("zones.geojson"));
    cmd.args(files)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.arg("-");
    }
    let mut child = cmd.spawn().expect("run modeshare");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(bytes) = stdin {
        pipe.write_all(bytes).expect("write stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay failed: {stderr}");
    (String::from_utf8(out.stdout).expect("utf-8 report"), stderr)
}

/// Compares two JSON documents: same keys and array lengths everywhere, numbers equal within
/// `tolerance` (person trips are kept to 10⁻⁶ per event, the reference sums floats).
fn assert_close(got: &Value, want: &Value, tolerance: f64, path: &str) {
    match (got, want) {
        (Value::Number(g), Value::Number(w)) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= tolerance, "{path}: got {g}, want {w}");
        }
        (Value::Object(g), Value::Object(w)) => {
            let (gk, wk): (Vec<_>, Vec<_>) = (g.keys().collect(), w.keys().collect());
            let mut gs = gk.clone();
            gs.sort();
            let mut ws = wk.clone();
            ws.sort();
            assert_eq!(gs, ws, "{path}: keys differ");
            for (k, v) in w {
                assert_close(&g[k], v, tolerance, &format!("{path}.{k}"));
            }
        }
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{path}: lengths differ");
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                assert_close(a, b, tolerance, &format!("{path}[{i}]"));
            }
        }
        (g, w) => assert_eq!(g, w, "{path}"),
    }
}

#[test]
fn replay_matches_the_independent_computation() {
    let (report, stderr) = replay(&[&golden("events.ndjson")], None);
    let got: Value = serde_json::from_str(&report).unwrap();
    let want: Value =
        serde_json::from_str(&std::fs::read_to_string(golden("expected_report.json")).unwrap())
            .unwrap();
    // Outcome counts and rejection reasons are exact.
    assert_eq!(got["events"], want["events"]);
    assert_eq!(got["rejections"], want["rejections"]);
    assert_close(&got["zones"], &want["zones"], 1e-5, "zones");
    assert_close(&got["cells"], &want["cells"], 1e-5, "cells");
    let e = &got["events"];
    let sum = ["accepted", "rejected", "duplicates"]
        .iter()
        .map(|k| e[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(
        e["read"].as_u64(),
        Some(sum),
        "read = accepted + rejected + duplicates"
    );
    // The summary names reasons with an example that points at the line.
    assert!(stderr.contains("line_too_long"), "{stderr}");
    assert!(stderr.contains("events.ndjson:"), "{stderr}");
    assert!(stderr.contains("looks like seconds"), "{stderr}");
}

#[test]
fn order_batches_and_stdin_do_not_change_the_report() {
    let input = std::fs::read(golden("events.ndjson")).unwrap();
    let (sorted_report, _) = replay(&[&golden("events.ndjson")], None);
    let lines: Vec<&[u8]> = input.split(|b| *b == b'\n').collect();
    let dir = std::env::temp_dir().join(format!("modeshare-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for seed in [1u64, 2, 3] {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut shuffled = lines.clone();
        shuffled.shuffle(&mut rng);
        let cut_a = (seed as usize * 97) % shuffled.len();
        let cut_b = (cut_a + shuffled.len() / 3) % shuffled.len();
        let (a, b) = (cut_a.min(cut_b), cut_a.max(cut_b));
        let parts: Vec<PathBuf> = [&shuffled[..a], &shuffled[a..b]]
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let path = dir.join(format!("part-{seed}-{i}.ndjson"));
                std::fs::write(&path, part.join(&b'\n')).unwrap();
                path
            })
            .collect();
        let rest = shuffled[b..].join(&b'\n');
        let files: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
        let (report, _) = replay(&files, Some(&rest));
        assert_eq!(
            report, sorted_report,
            "seed {seed} (cuts at {a} and {b}) changed the report"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
