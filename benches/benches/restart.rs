//! Restart to serving: how long `modeshare run` takes from process start until `/api/report`
//! serves a Kafka partition's restored state of 1 M events (every id inside the dedup horizon:
//! the largest checkpoint). Covers process start, joining the group on the local broker, the
//! assignment restoring the checkpoint, and the first publish.
//!
//! ```sh
//! cargo build --release -p modeshare && cargo bench -p modeshare-benches --bench restart
//! ```
//! EVENTS=n changes the size; MODESHARE_BIN the binary.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use modeshare::config::{self, Overrides};
use modeshare::state_dir::StateDir;
use modeshare_benches::{
    admin_env, admin_get, broker_script, fill_with_region_events, listener_addresses, repo_root,
    unique,
};
use modeshare_core::pipeline::Pipeline;
use modeshare_core::pipeline::checkpoint;
use modeshare_core::pipeline::checkpoint::{Fingerprint, Position};

const PORT: &str = "19092";
const RUNS: usize = 5;

/// `/api/report`'s events read (on the admin listener), or `None` while the service does not
/// answer.
fn events_read(admin: &str) -> Option<u64> {
    let body = admin_get(admin, "/api/report")?;
    let report: serde_json::Value = serde_json::from_str(&body).ok()?;
    report["events"]["read"].as_u64()
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let zones = repo_root().join("config/zones/baerum.geojson");
    let overrides = Overrides {
        zones: Some(zones.clone()),
        resolution: Some(9),
        ..Overrides::default()
    };
    let app = config::load(None, [], &overrides).unwrap();
    let mut pipeline = Pipeline::live(app.settings.clone(), app.zones.clone());
    fill_with_region_events(&mut pipeline, events);
    let read = pipeline.totals().events.read;

    broker_script(&["start", PORT]);
    let brokers = format!("127.0.0.1:{PORT}");
    let topic = unique("restart");
    broker_script(&["topic", &topic, "1", PORT]);
    let (group, dir) = (unique("group"), std::env::temp_dir().join(unique("state")));
    let bytes = checkpoint::encode(
        &pipeline,
        Position::Offset(0),
        Fingerprint::of(&app.settings, &app.zones, true),
    );
    let state = StateDir::new(dir.join("state"));
    state
        .write(&state.file(&[&group, &topic, "0"]), &bytes)
        .unwrap();
    let config = dir.join("restart.toml");
    std::fs::write(
        &config,
        format!(
            "[spatial]\nresolution = 9\n[state]\ndir = {:?}\n[kafka]\nbrokers = \"{brokers}\"\n\
             group_id = \"{group}\"\ndead_letter_topic = \"{}\"\n[[kafka.topics]]\nname = \"{topic}\"\n",
            dir.join("state"),
            unique("dead")
        ),
    )
    .unwrap();
    let bin = std::env::var("MODESHARE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target/release/modeshare"));
    println!(
        "checkpoint of {events} events ({read} read): {:.1} MiB",
        bytes.len() as f64 / (1 << 20) as f64
    );
    let mut times = Vec::new();
    for run in 1..=RUNS {
        let started = Instant::now();
        let mut child = Command::new(&bin)
            .args(["run", "--config"])
            .arg(&config)
            .arg("--zones")
            .arg(&zones)
            .env("MODESHARE__HTTP__LISTEN", "127.0.0.1:0")
            .envs(admin_env())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("build the binary first: cargo build --release -p modeshare");
        let mut lines = BufReader::new(child.stderr.take().unwrap())
            .lines()
            .map_while(Result::ok);
        let (_, address) = listener_addresses(&mut lines);
        let listening = started.elapsed();
        std::thread::spawn(move || for _ in lines {});
        let deadline = started + Duration::from_secs(60);
        while events_read(&address) != Some(read) {
            assert!(Instant::now() < deadline, "the restored state never showed");
            std::thread::sleep(Duration::from_millis(5));
        }
        let serving = started.elapsed();
        println!(
            "run {run}: listening after {:.0} ms, serving the restored state after {:.0} ms",
            listening.as_secs_f64() * 1e3,
            serving.as_secs_f64() * 1e3
        );
        times.push(serving.as_secs_f64());
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        child.wait().unwrap();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "| restart to serving {events} events of state | median {:.2} s | best {:.2} s | worst {:.2} s |",
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
