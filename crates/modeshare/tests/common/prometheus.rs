//! A real Prometheus server (Debian's `prometheus`, installed by `scripts/tools.sh`) on a
//! random port, loading the project's rules, and `promtool`; `scripts/monitor.sh` in its own
//! process group; and what the two-instance test compares: a simulated stream split in two, and
//! modeshare's `/api/zones` values keyed as the recorded series are.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{TempDir, free_port, http, poll_until, repo_root, tool};

/// `promtool ARGS` from the repository root, with stdin.
pub fn promtool(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(tool("promtool"))
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// `promtool ARGS` that must succeed; its stdout and stderr.
pub fn assert_promtool(args: &[&str], stdin: &[u8]) -> String {
    let out = promtool(args, stdin);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

/// The shipped rules, by absolute path.
pub fn rules_glob() -> String {
    let rules = repo_root().join("deploy/prometheus/rules");
    format!("{}/*.yml", rules.canonicalize().unwrap().display())
}

/// A Prometheus server's HTTP API.
pub struct PrometheusApi {
    pub address: String,
}

impl PrometheusApi {
    fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        http(&self.address, "GET", path, None)
    }

    /// Whether the server answers `/-/ready`.
    pub fn is_ready(&self) -> bool {
        self.get("/-/ready").is_ok_and(|(status, _)| status == 200)
    }

    /// The result of an instant query, or the error Prometheus gives.
    pub fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let (_, body) = self
            .get(&format!("/api/v1/query?query={}", percent_encode(expr)))
            .map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("{expr}: {}", answer["error"]));
        }
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The `data` of a successful API answer at `path`, or the error.
    fn data(&self, path: &str) -> Result<Value, String> {
        let (_, body) = self.get(path).map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if answer["status"] != "success" {
            return Err(format!("{path}: {}", answer["error"]));
        }
        Ok(answer["data"].clone())
    }

    /// The values of `label` on the series of `metric`: what Grafana's
    /// `label_values(metric, label)` asks Prometheus for
    /// (`/api/v1/label/<label>/values?match[]=<metric>`), sorted.
    pub fn label_values(&self, metric: &str, label: &str) -> Result<Vec<String>, String> {
        let data = self.data(&format!(
            "/api/v1/label/{}/values?match%5B%5D={}",
            percent_encode(label),
            percent_encode(metric)
        ))?;
        let mut values: Vec<String> = data
            .as_array()
            .ok_or_else(|| format!("not a list: {data}"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        values.sort();
        Ok(values)
    }

    /// Every alerting rule Prometheus has loaded, as `/api/v1/rules` gives it (name, query,
    /// labels, annotations…).
    pub fn alerting_rules(&self) -> Result<Vec<Value>, String> {
        let data = self.data("/api/v1/rules?type=alert")?;
        Ok(data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect())
    }

    /// Polls until `ready` holds, failing after the deadline.
    pub fn wait_for<T>(
        &self,
        what: &str,
        seconds: u64,
        mut ready: impl FnMut(&PrometheusApi) -> Option<T>,
    ) -> T {
        poll_until(what, seconds, || ready(self))
    }
}

/// A Prometheus server this test started; stopped on drop.
pub struct Prometheus {
    child: Child,
    pub api: PrometheusApi,
    dir: TempDir,
}

impl Prometheus {
    /// Prometheus scraping `targets` (job `modeshare`) and evaluating the shipped rules every
    /// second.
    pub fn start(targets: &[&str]) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let list = targets
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: modeshare\n    static_configs:\n      - targets: [{list}]\n",
                rules_glob()
            ),
        )
        .unwrap();
        let api = PrometheusApi {
            address: format!("127.0.0.1:{}", free_port()),
        };
        let child = Command::new(tool("prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={}", api.address))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        let prometheus = Prometheus { child, api, dir };
        prometheus
            .api
            .wait_for("Prometheus ready", 30, |api| api.is_ready().then_some(()));
        prometheus
    }

    /// Prometheus's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A vector sample's value and label.
pub fn sample_value(sample: &Value) -> f64 {
    sample["value"][1].as_str().unwrap().parse().unwrap()
}

pub fn label<'a>(sample: &'a Value, name: &str) -> &'a str {
    sample["metric"][name].as_str().unwrap_or("")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Polls the recorded `expr` until every sample equals `expected` (keyed by zone, window and
/// then `labels`) within `relative`, failing after 60 s.
pub fn wait_until_recorded(
    api: &PrometheusApi,
    expr: &str,
    labels: &[&str],
    expected: &BTreeMap<Vec<String>, f64>,
    relative: f64,
) {
    assert!(!expected.is_empty(), "{expr}: nothing to compare");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: BTreeMap<Vec<String>, f64> = api
            .query(expr)
            .unwrap()
            .iter()
            .map(|s| {
                let key = ["zone", "window"]
                    .iter()
                    .chain(labels)
                    .map(|l| label(s, l).to_owned())
                    .collect();
                (key, sample_value(s))
            })
            .collect();
        let differ: Vec<_> = expected
            .iter()
            .filter(|(k, v)| !got.get(*k).is_some_and(|g| close_within(*g, **v, relative)))
            .map(|(k, v)| format!("{k:?}: recorded {:?}, modeshare {v}", got.get(k)))
            .collect();
        if differ.is_empty() && got.len() == expected.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{expr}: after 60 s, {} of {} differ ({} recorded): {differ:#?}",
            differ.len(),
            expected.len(),
            got.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Compares within 1e-12: Prometheus adds the instances' float gauges, modeshare adds exact
/// micro-person-trips, so the last bit may differ.
pub fn close(a: f64, b: f64) -> bool {
    close_within(a, b, 1e-12)
}

pub fn close_within(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()).max(1.0)
}

/// `/api/zones` values keyed by (zone, window, …): `pick` gives each zone's keyed values.
pub fn from_zones(
    zones: &Value,
    pick: impl Fn(&Value) -> Vec<(Vec<String>, f64)>,
) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for w in zones["windows"].as_array().unwrap() {
        let window = w["window"].as_str().unwrap();
        for (zone, z) in w["zones"].as_object().unwrap() {
            for (rest, v) in pick(z) {
                let mut key = vec![zone.clone(), window.to_owned()];
                key.extend(rest);
                out.insert(key, v);
            }
        }
    }
    out
}

/// A per-group object of every zone and window of `/api/zones` (`/shares`, `/goal_gaps`,
/// `/filled/shares`), keyed by (zone, window, group); numbers the k rule hides are left out.
pub fn per_group(zones: &Value, pointer: &str) -> BTreeMap<Vec<String>, f64> {
    from_zones(zones, |z| {
        z.pointer(pointer)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(g, v)| Some((vec![g.clone()], v.as_f64()?)))
            .collect()
    })
}

/// A simulated stream split by source into two files (as Kafka partitions keyed by source
/// would split it), each ending with an event at the same instant so that both instances'
/// windows end together.
pub fn two_halves(dir: &TempDir) -> [PathBuf; 2] {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["generate", "--events", "8000", "--seed", "11"])
        .args(["--start", "2026-06-01T04:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut halves = [String::new(), String::new()];
    let mut last: Option<(String, f64)> = None;
    for line in text.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        // The simulator writes valid times in UTC; its broken events may hold anything.
        let valid = |t: &&str| t.starts_with("20") && t.ends_with('Z');
        if let Some(t) = event["start_time"].as_str().filter(valid) {
            // UTC with a fraction of variable length: order by the whole seconds, then the fraction.
            let (seconds, fraction) = t.trim_end_matches('Z').split_once('.').unwrap_or((t, "0"));
            let key = (
                seconds.to_owned(),
                format!("0.{fraction}").parse::<f64>().unwrap(),
            );
            if last.as_ref().is_none_or(|l| key > *l) {
                last = Some(key);
            }
        }
        // The walking trips on one side, every other source on the other.
        let half = usize::from(event["source"] != "reisevaner-app");
        halves[half].push_str(line);
        halves[half].push('\n');
    }
    let last = {
        let (seconds, fraction) = last.unwrap();
        format!("{seconds}.{:03}Z", (fraction * 1000.0).round() as u32)
    };
    assert!(halves.iter().all(|h| h.lines().count() > 1000));
    ["a", "b"].map(|name| {
        let i = usize::from(name == "b");
        halves[i].push_str(&format!(
            r#"{{"kind":"trip","id":"last","source":"align-{name}","mode":"walk","start_time":"{last}","origin":{{"lat":59.9,"lon":10.55}}}}"#
        ));
        halves[i].push('\n');
        let path = dir.path().join(format!("{name}.ndjson"));
        std::fs::write(&path, &halves[i]).unwrap();
        path
    })
}

/// `scripts/monitor.sh` in its own process group, stopped (with all it started) on drop.
pub struct Monitor(Child);

impl Monitor {
    /// The monitoring command with this build's modeshare on `modeshare_port`, Prometheus on
    /// `prometheus_port` and its data in `dir`.
    pub fn start(dir: &Path, modeshare_port: u16, prometheus_port: u16) -> Monitor {
        Monitor(
            Command::new("bash")
                .arg(repo_root().join("scripts/monitor.sh"))
                .env("MODESHARE_BIN", env!("CARGO_BIN_EXE_modeshare"))
                .env("MODESHARE_PORT", modeshare_port.to_string())
                .env("PROMETHEUS_PORT", prometheus_port.to_string())
                .env("MONITOR_DIR", dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .unwrap(),
        )
    }

    /// Ctrl-C: SIGINT to the process group, as a terminal sends it.
    pub fn interrupt(&self) {
        Command::new("kill")
            .args(["-INT", "--", &format!("-{}", self.0.id())])
            .status()
            .unwrap();
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        kill("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.0.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
        kill("-KILL");
        let _ = self.0.wait();
    }
}
