//! `modeshare run` as a process on a random port: `/metrics` (parsed, values checked),
//! `/api/zones` and `/api/report` against a known input, the simulator as the default source,
//! and shutdown on SIGTERM and SIGINT within a deadline.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

fn golden(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/golden")
        .join(file)
}

struct Service {
    child: Child,
    address: String,
    log: mpsc::Receiver<String>,
}

impl Service {
    /// Starts `modeshare run ARGS` on a random port and waits for the address it logs.
    fn start(args: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_modeshare"))
            .arg("run")
            .args(args)
            .env("MODESHARE__HTTP__LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        let mut service = Service {
            child,
            address: String::new(),
            log,
        };
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = service
                .log
                .recv_timeout(wait)
                .expect("no address logged in 30 s");
            if let Some(rest) = line.split("on http://").nth(1) {
                service.address = rest.split_whitespace().next().unwrap().to_owned();
                return service;
            }
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, body.to_owned())
    }

    fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls until `ready` holds, failing after the deadline.
    fn wait_for<T>(
        &self,
        what: &str,
        seconds: u64,
        mut ready: impl FnMut(&Service) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(v) = ready(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not seen within {seconds} s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends a signal and waits for a clean exit within the deadline.
    fn stop(mut self, signal: &str, seconds: u64) -> Vec<String> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                break exit;
            }
            assert!(
                Instant::now() < deadline,
                "still running {seconds} s after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(exit.success(), "exit status {exit}");
        self.log.try_iter().collect()
    }
}

impl Drop for Service {
    /// A failed test must not leave the service running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/metrics` as (name, labels) → value.
fn metrics(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest.trim_end_matches('}');
                let map = labels
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once("=\"").unwrap();
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), map)
            }
            None => (series.to_owned(), BTreeMap::new()),
        };
        out.insert((name, labels), value.parse().unwrap());
    }
    out
}

fn sum(
    m: &BTreeMap<(String, BTreeMap<String, String>), f64>,
    name: &str,
    filter: &[(&str, &str)],
) -> f64 {
    m.iter()
        .filter(|((n, labels), _)| {
            n == name
                && filter
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .sum()
}

fn replay_report() -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["replay", "--config"])
        .arg(golden("config.toml"))
        .arg("--zones")
        .arg(golden("zones.geojson"))
        .arg(golden("events.ndjson"))
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn serves_the_known_input_and_stops_on_sigterm() {
    let config = golden("config.toml");
    let zones = golden("zones.geojson");
    let events = golden("events.ndjson");
    let service = Service::start(&[
        "--config",
        config.to_str().unwrap(),
        "--zones",
        zones.to_str().unwrap(),
        "--input",
        events.to_str().unwrap(),
    ]);
    let expected = replay_report();
    let read = expected["events"]["read"].as_u64().unwrap();
    let report = service.wait_for("all events in /api/report", 30, |s| {
        let r = s.json("/api/report");
        (r["events"]["read"].as_u64() == Some(read)).then_some(r)
    });
    // The live report equals the batch replay of the same input; only `late` depends on order.
    for key in ["accepted", "rejected", "duplicates"] {
        assert_eq!(
            report["events"][key], expected["events"][key],
            "events.{key}"
        );
    }
    assert!(
        report["events"]["late"].as_u64().unwrap()
            <= report["events"]["accepted"].as_u64().unwrap()
    );
    for key in ["rejections", "zones", "cells"] {
        assert_eq!(report[key], expected[key], "{key}");
    }

    let (status, text) = service.get("/metrics");
    assert_eq!(status, 200);
    let m = metrics(&text);
    let outcome = |o: &str| sum(&m, "modeshare_events_total", &[("outcome", o)]);
    assert_eq!(
        outcome("accepted"),
        expected["events"]["accepted"].as_f64().unwrap()
    );
    assert_eq!(
        outcome("rejected"),
        expected["events"]["rejected"].as_f64().unwrap()
    );
    assert_eq!(
        outcome("duplicate"),
        expected["events"]["duplicates"].as_f64().unwrap()
    );
    assert_eq!(
        sum(&m, "modeshare_events_rejected_total", &[]),
        outcome("rejected")
    );
    assert_eq!(
        sum(&m, "modeshare_events_late_total", &[]),
        report["events"]["late"].as_f64().unwrap()
    );
    let baerum = sum(&m, "modeshare_person_trips_total", &[("zone", "Bærum")]);
    let want = expected["zones"]["Bærum"]["total_person_trips"]
        .as_f64()
        .unwrap();
    assert!(
        (baerum - want).abs() < 1e-3,
        "person trips in Bærum: {baerum} vs {want}"
    );
    assert_eq!(
        sum(
            &m,
            "modeshare_events_rejected_total",
            &[("reason", "line_too_long")]
        ),
        1.0
    );
    // The golden input spans years: the watermark is at its newest event minus the lateness.
    assert!(sum(&m, "modeshare_watermark_timestamp_seconds", &[]) > 1.7e9);
    // The golden config inherits the default goals.
    assert_eq!(
        sum(
            &m,
            "modeshare_goal_target_ratio",
            &[("group", "sustainable")]
        ),
        0.6
    );
    for ((name, labels), value) in &m {
        if name == "modeshare_mode_share_ratio" {
            assert!((0.0..=1.0).contains(value), "{labels:?} {value}");
        }
        assert!(
            !labels.contains_key("cell") && !labels.contains_key("id"),
            "unbounded label on {name}"
        );
    }

    let zones_view = service.json("/api/zones");
    let windows: Vec<&str> = zones_view["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window"].as_str().unwrap())
        .collect();
    assert_eq!(windows, ["1h", "24h", "7d", "28d", "day", "month", "year"]);
    assert_eq!(zones_view["goals"][0]["target"], 0.6);
    // Windows only hold events inside them: never more than all state.
    for w in zones_view["windows"].as_array().unwrap() {
        let in_window = w["zones"]["Bærum"]["total_person_trips"].as_f64().unwrap();
        assert!(in_window <= want + 1e-6, "{}: {in_window}", w["window"]);
    }
    assert_eq!(service.get("/nope").0, 404);
    assert_eq!(service.json("/healthz")["status"], "ok");

    let log = service.stop("TERM", 10);
    assert!(
        log.iter().any(|l| l.contains("pipeline drained")),
        "{log:?}"
    );
}

/// The README's run command: no arguments, the simulator back-fills 24 h and shares appear
/// within seconds, with Bærum's goal targets.
#[test]
fn the_default_run_shows_live_shares_within_seconds() {
    let service = Service::start(&[]);
    let started = Instant::now();
    let m = service.wait_for("a 24h sustainable share for Bærum", 60, |s| {
        let m = metrics(&s.get("/metrics").1);
        let present = m.keys().any(|(n, l)| {
            n == "modeshare_mode_share_ratio"
                && l.get("zone").map(String::as_str) == Some("Bærum")
                && l.get("group").map(String::as_str) == Some("sustainable")
                && l.get("window").map(String::as_str) == Some("24h")
        });
        present.then_some(m)
    });
    eprintln!("shares after {:?}", started.elapsed());
    assert_eq!(
        sum(
            &m,
            "modeshare_goal_target_ratio",
            &[("group", "sustainable")]
        ),
        0.6
    );
    assert_eq!(
        sum(&m, "modeshare_goal_target_ratio", &[("group", "cycling")]),
        0.07
    );
    let share = sum(
        &m,
        "modeshare_mode_share_ratio",
        &[
            ("zone", "Bærum"),
            ("group", "sustainable"),
            ("window", "24h"),
        ],
    );
    let gap = sum(
        &m,
        "modeshare_goal_gap_ratio",
        &[
            ("zone", "Bærum"),
            ("group", "sustainable"),
            ("window", "24h"),
        ],
    );
    assert!(
        (0.25..0.6).contains(&share),
        "a survey-like mix gives about 40 % sustainable, got {share}"
    );
    assert!((gap - (share - 0.6)).abs() < 1e-9);
    assert!(
        sum(&m, "modeshare_events_total", &[("outcome", "rejected")]) > 0.0,
        "the trickle of bad events"
    );
    let zones = service.json("/api/zones");
    let day = zones["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window"] == "24h")
        .unwrap();
    assert!(
        day["zones"]["Fornebu"]["total_person_trips"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    service.stop("INT", 10);
}
