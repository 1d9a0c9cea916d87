//! A real Prometheus server (Debian's `prometheus`, installed by `scripts/tools.sh`) on a
//! random port, loading the project's rules, and `promtool`.

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};

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
