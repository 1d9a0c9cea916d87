//! Helpers for tests that run `modeshare` as a process, and [`requires!`]: what a test that needs
//! a tool from outside the repository does when the tool is missing.

#![allow(dead_code, clippy::unwrap_used)] // each test binary uses some of them

pub mod browser;
pub mod kafka;
pub mod prometheus;
pub mod promql;
pub mod s3;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

pub fn golden(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/golden")
        .join(file)
}

pub struct Service {
    pub child: Child,
    /// The public listener.
    pub address: String,
    /// The admin listener (the tests' services all open one, for the report).
    pub admin: String,
    /// The operators' ingest listener, when operators are configured and it has been logged
    /// (see [`Service::ingest_address`]).
    pub ingest: String,
    pub log: mpsc::Receiver<String>,
}

/// The admin token of the services the tests start.
pub const ADMIN_TOKEN: &str = "modeshare-test-admin-token";

/// The SHA-256 of [`ADMIN_TOKEN`] in hex, as `[admin] token_sha256` lists it.
pub fn admin_token_sha256() -> String {
    modeshare_http::auth::token_sha256(ADMIN_TOKEN)
}

impl Service {
    /// Starts `modeshare run ARGS` on random ports, with an admin listener for
    /// [`ADMIN_TOKEN`], and waits for the addresses it logs.
    pub fn start(args: &[&str]) -> Service {
        Service::start_with(args, &[])
    }

    /// The same with more environment variables.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Service {
        Service::start_command("run", args, env)
    }

    /// `modeshare COMMAND ARGS` (`run` or `serve`) as [`Service::start_with`] starts `run`.
    pub fn start_command(command: &str, args: &[&str], env: &[(&str, &str)]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_modeshare"))
            .arg(command)
            .args(args)
            .env("MODESHARE__HTTP__LISTEN", "127.0.0.1:0")
            .env("MODESHARE__ADMIN__LISTEN", "127.0.0.1:0")
            .env(
                "MODESHARE__ADMIN__TOKEN_SHA256",
                format!("[\"{}\"]", admin_token_sha256()),
            )
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, log) = mpsc::channel();
        let mut service = Service {
            child,
            address: String::new(),
            admin: String::new(),
            ingest: String::new(),
            log,
        };
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let address = |line: &str, marker: &str| {
            let rest = line.split(marker).nth(1)?;
            Some(rest.split_whitespace().next()?.to_owned())
        };
        while service.address.is_empty() || service.admin.is_empty() {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = service
                .log
                .recv_timeout(wait)
                .expect("no addresses logged in 30 s");
            if line.contains("admin listener") {
                service.admin = address(&line, "at http://").unwrap_or_default();
            } else if line.contains("ingest listener") {
                service.ingest = address(&line, "://").unwrap_or_default();
            } else if let Some(a) = address(&line, "on http://") {
                service.address = a;
            }
        }
        service
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(&self.address, "GET", path, None).unwrap()
    }

    /// The ingest listener's address, read from the log when it was not logged yet.
    pub fn ingest_address(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.ingest.is_empty() {
            let wait = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(wait)
                .expect("no ingest listener logged in 30 s");
            if line.contains("ingest listener") {
                let rest = line.split("://").nth(1).unwrap_or_default();
                self.ingest = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
            }
        }
        self.ingest.clone()
    }

    pub fn json(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `GET path` on the admin listener, with the admin token when `token`.
    pub fn admin_get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let authorization = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|a| ("Authorization", a.as_str()))
            .collect();
        request(&self.admin, "GET", path, None, &headers).unwrap()
    }

    /// A JSON answer of the admin listener (with the admin token).
    pub fn admin_json(&self, path: &str) -> Value {
        let (status, body) = self.admin_get(path, Some(ADMIN_TOKEN));
        assert_eq!(status, 200, "admin {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A JSON answer with its status, whatever the status.
    pub fn json_status(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path);
        (status, serde_json::from_str(&body).unwrap())
    }

    /// Polls until `ready` holds, failing after the deadline.
    pub fn wait_for<T>(
        &self,
        what: &str,
        seconds: u64,
        mut ready: impl FnMut(&Service) -> Option<T>,
    ) -> T {
        poll_until(what, seconds, || ready(self))
    }

    /// Waits until the service has read `lines` events (its inputs' non-empty lines).
    pub fn wait_until_read(&self, lines: usize) {
        self.wait_for("every line read", 60, |s| {
            (s.admin_json("/api/report")["events"]["read"].as_u64() == Some(lines as u64))
                .then_some(())
        });
    }

    /// Sends a signal and waits for a clean exit within the deadline.
    pub fn stop(mut self, signal: &str, seconds: u64) -> Vec<String> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let (exit, log) = self.exit(seconds);
        assert!(
            exit.success(),
            "exit status {exit} after SIG{signal}; its log:\n{}",
            log.join("\n")
        );
        log
    }

    /// Waits for the process to end within the deadline; its exit status and the log lines
    /// not yet read.
    pub fn exit(&mut self, seconds: u64) -> (std::process::ExitStatus, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(exit) = self.child.try_wait().unwrap() {
                return (exit, self.rest_of_log());
            }
            assert!(Instant::now() < deadline, "still running after {seconds} s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log lines not read yet, once the process has ended: the reader thread forwards
    /// every line until the process's stderr closes.
    fn rest_of_log(&self) -> Vec<String> {
        let mut log = Vec::new();
        while let Ok(line) = self.log.recv_timeout(Duration::from_secs(2)) {
            log.push(line);
        }
        log
    }
}

impl Drop for Service {
    /// A failed test must not leave the service running, and shows what the service logged
    /// (the last lines not read yet), so a failure that does not recur can still be read.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            const SHOWN: usize = 300;
            let log = self.rest_of_log();
            eprintln!(
                "--- the log of service {} ({} lines not read by the test, the last {SHOWN} shown):",
                self.child.id(),
                log.len()
            );
            for line in &log[log.len().saturating_sub(SHOWN)..] {
                eprintln!("{line}");
            }
            eprintln!("--- end of the log of service {}", self.child.id());
        }
    }
}

/// `/metrics` as (name, labels) → value.
pub fn metrics(text: &str) -> BTreeMap<(String, BTreeMap<String, String>), f64> {
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

pub fn sum(
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

/// The report of `modeshare replay --config CONFIG --zones <golden zones> FILES`.
pub fn replay(config: &Path, files: &[&Path]) -> Value {
    let zones = golden("zones.geojson");
    let mut args = vec![OsStr::new("--config"), config.as_os_str()];
    args.extend([OsStr::new("--zones"), zones.as_os_str()]);
    args.extend(files.iter().map(|f| f.as_os_str()));
    replay_report_of(&args)
}

/// The report of `modeshare replay ARGS`, which must succeed.
pub fn replay_report_of(args: &[&OsStr]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A report's rejection counts per reason.
pub fn rejections(report: &Value) -> BTreeMap<String, u64> {
    report["rejections"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

/// The replay of the golden input with the golden configuration.
pub fn replay_report() -> Value {
    replay(&golden("config.toml"), &[&golden("events.ndjson")])
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Waits until the service has read as many events as the replay of the golden input, then
/// checks that its `/api/report` equals the replay's. Returns the service's report.
pub fn assert_report_equals_replay(service: &Service, seconds: u64) -> Value {
    assert_report_equals(service, &replay_report(), seconds)
}

/// Waits until the service has read as many events as `expected` (a replay's report), then
/// checks that its `/api/report` equals it (only `late` may differ: it depends on arrival
/// order). Returns the service's report.
pub fn assert_report_equals(service: &Service, expected: &Value, seconds: u64) -> Value {
    let read = expected["events"]["read"].as_u64().unwrap();
    let report = service.wait_for("every event in /api/report", seconds, |s| {
        let r = s.admin_json("/api/report");
        (r["events"]["read"].as_u64() == Some(read)).then_some(r)
    });
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
    for key in ["rejections", "skipped", "zones", "cells"] {
        assert_eq!(report[key], expected[key], "{key}");
    }
    report
}

/// A name no other test run uses (topics, groups, folders).
pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "modeshare-test-{name}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000
    )
}

/// A temporary folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One HTTP/1.1 request with an optional JSON body; the status and the body (chunked or not).
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, String)> {
    request(address, method, path, body, &[])
}

/// The same with more headers.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n{extra}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // Read until the body is complete: some servers (chromedriver) keep the connection open.
    let mut response = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    let (head, body_start) = loop {
        if let Some(at) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&response[..at]).into_owned(),
                at + 4,
            );
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::Error::other(
                "connection closed before the headers",
            ));
        }
        response.extend_from_slice(&buffer[..n]);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let length: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
    let chunked = header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    loop {
        let body = &response[body_start..];
        let complete = match length {
            Some(n) => body.len() >= n,
            None => chunked && body.ends_with(b"0\r\n\r\n"),
        };
        if complete {
            break;
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buffer[..n]);
    }
    let mut rest = &response[body_start..];
    if !chunked {
        let end = length.unwrap_or(rest.len()).min(rest.len());
        return Ok((status, String::from_utf8_lossy(&rest[..end]).into_owned()));
    }
    let mut body = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        let chunk = &rest[end + 2..];
        if size == 0 || chunk.len() < size {
            break;
        }
        body.extend_from_slice(&chunk[..size]);
        rest = chunk.get(size + 2..).unwrap_or_default();
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A program from the Debian packages the tests use, or a failed test that says how to install it.
/// A test that calls it starts with [`requires!`], so that it is skipped instead where the
/// package is missing.
pub fn tool(name: &str) -> PathBuf {
    on_path(name).unwrap_or_else(|| {
        panic!("{name} is not installed: run scripts/tools.sh install (scripts/test does)")
    })
}

pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Something from outside the repository that some tests need and `scripts/test` installs or
/// starts. Without it, a plain `cargo test` skips those tests (see [`requires!`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// The local Kafka-protocol broker (`scripts/broker.sh`) listening on 127.0.0.1 at
    /// `MODESHARE_TEST_BROKER_PORT` (19092 unless set); the tests that stop it or start more
    /// brokers use its `scripts/broker.sh` too.
    Broker,
    /// Debian's `prometheus` and `promtool` on `PATH` (`scripts/tools.sh install prometheus`).
    Prometheus,
    /// Debian's `chromium` and `chromedriver` on `PATH` (`scripts/tools.sh install chromium`).
    Chromium,
    /// The venv with yamllint and kubernetes-validate that `scripts/check-kubernetes` runs in
    /// (`scripts/tools.sh install kubernetes`), at [`kubernetes_venv`].
    Kubernetes,
}

impl Tool {
    /// What the tool is, for messages: "the local Kafka broker".
    pub fn name(self) -> &'static str {
        match self {
            Tool::Broker => "the local Kafka broker",
            Tool::Prometheus => "Prometheus",
            Tool::Chromium => "Chromium",
            Tool::Kubernetes => "yamllint and kubernetes-validate",
        }
    }

    /// How to get it: "install it with `scripts/tools.sh install prometheus`".
    pub fn remedy(self) -> String {
        match self {
            Tool::Broker => format!(
                "start it with `scripts/broker.sh start {}`",
                kafka::broker_port()
            ),
            Tool::Prometheus => "install it with `scripts/tools.sh install prometheus`".to_owned(),
            Tool::Chromium => "install it with `scripts/tools.sh install chromium`".to_owned(),
            Tool::Kubernetes => {
                "install them with `scripts/tools.sh install kubernetes`".to_owned()
            }
        }
    }

    /// Why it cannot be used here, or `None` when it can.
    pub fn missing(self) -> Option<String> {
        match self {
            Tool::Broker => {
                let address = format!("127.0.0.1:{}", kafka::broker_port());
                let listening = address
                    .parse()
                    .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
                (!listening).then(|| format!("nothing listens on {address}"))
            }
            Tool::Prometheus => missing_commands(&["prometheus", "promtool"]),
            Tool::Chromium => missing_commands(&["chromium", "chromedriver"]),
            Tool::Kubernetes => {
                let bin = kubernetes_venv().join("bin");
                let absent: Vec<&str> = ["python", "yamllint", "kubernetes-validate"]
                    .into_iter()
                    .filter(|c| !bin.join(c).is_file())
                    .collect();
                (!absent.is_empty())
                    .then(|| format!("{} not in {}", absent.join(", "), bin.display()))
            }
        }
    }
}

/// The venv `scripts/tools.sh install kubernetes` makes: `kubernetes` in `MODESHARE_TOOLS`, or
/// in `~/.cache/modeshare/tools`.
pub fn kubernetes_venv() -> PathBuf {
    let tools = std::env::var_os("MODESHARE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/modeshare/tools")
        });
    tools.join("kubernetes")
}

/// The commands not on `PATH`, or `None` when all are.
fn missing_commands(commands: &[&str]) -> Option<String> {
    let absent: Vec<&str> = commands
        .iter()
        .copied()
        .filter(|c| on_path(c).is_none())
        .collect();
    (!absent.is_empty()).then(|| format!("{} not on PATH", absent.join(" and ")))
}

/// The environment variable that makes every test run: `MODESHARE_EXTERNAL_TESTS=1`, which
/// `scripts/test` (and so CI) sets, turns a missing tool into a failed test.
pub const EXTERNAL_TESTS: &str = "MODESHARE_EXTERNAL_TESTS";

/// What a test that needs a tool does.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The tool is there: the test runs.
    Run,
    /// The tool is missing and not required: the test returns at once, after this message.
    Skip(String),
    /// The tool is missing and required, or the switch is misspelt: the test fails with this
    /// message.
    Fail(String),
}

/// The verdict for a test that needs `tool`, given why it is missing (`None`: it is there) and
/// the value of [`EXTERNAL_TESTS`] (`None`: unset). Only `1` requires the tools, and only unset,
/// empty or `0` lets a test be skipped: any other value fails, so that a misspelt switch cannot
/// make CI pass by skipping.
pub fn verdict(tool: Tool, missing: Option<String>, switch: Option<&str>) -> Verdict {
    let required = match switch {
        None | Some("" | "0") => false,
        Some("1") => true,
        Some(other) => {
            return Verdict::Fail(format!(
                "{EXTERNAL_TESTS}={other:?}: set it to 1 to run every test (a missing tool \
                 fails) or leave it unset to skip the tests whose tool is missing"
            ));
        }
    };
    match missing {
        None => Verdict::Run,
        Some(why) if required => Verdict::Fail(format!(
            "needs {} ({why}), and {EXTERNAL_TESTS}=1 fails a test whose tool is missing: {}, \
             or run scripts/test (which installs and starts every tool)",
            tool.name(),
            tool.remedy()
        )),
        Some(why) => Verdict::Skip(format!(
            "skipped: needs {} ({why}); run scripts/test",
            tool.name()
        )),
    }
}

/// Whether a test that needs `tool` runs here: the [`verdict`] for this machine and environment.
/// A skip is said on stderr, with the test's name (`cargo test -- --nocapture` shows it); a
/// failure panics.
pub fn available(tool: Tool) -> bool {
    let switch = std::env::var_os(EXTERNAL_TESTS).map(|v| v.to_string_lossy().into_owned());
    match verdict(tool, tool.missing(), switch.as_deref()) {
        Verdict::Run => true,
        Verdict::Skip(message) => {
            let thread = std::thread::current();
            match thread.name().filter(|n| *n != "main") {
                Some(test) => eprintln!("{test}: {message}"),
                None => eprintln!("{message}"),
            }
            false
        }
        Verdict::Fail(message) => panic!("{message}"),
    }
}

/// The first line of a test that needs a tool from outside the repository: returns from the test
/// (which then passes, having said why on stderr) when the tool is missing here, unless
/// `MODESHARE_EXTERNAL_TESTS=1`, which `scripts/test` sets, makes a missing tool fail the test.
/// So a plain `cargo test` runs everywhere and CI never passes by skipping.
#[allow(unused_macros)] // each test binary uses some of them
macro_rules! requires {
    ($tool:expr) => {
        if !$crate::common::available($tool) {
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use requires;

/// A port nothing listens on at the moment of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` every 100 ms until it gives a value, failing after `seconds`.
pub fn poll_until<T>(what: &str, seconds: u64, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(v) = ready() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The window named `name` of an `/api/zones` answer.
pub fn window_view<'a>(zones: &'a Value, name: &str) -> &'a Value {
    zones["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["window"] == name)
        .unwrap_or_else(|| panic!("no window {name} in {zones}"))
}

/// SplitMix64: a small, seeded generator for the moments and cuts of the fault tests.
pub struct Random(u64);

impl Random {
    /// Seeded from `FAULT_SEED`, or the clock; the seed is printed (with `test`'s name) so
    /// that a failure can be repeated.
    pub fn seeded(test: &str) -> Random {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = env_or("FAULT_SEED", now);
        eprintln!("{test}: FAULT_SEED={seed}");
        Random(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The number in the environment variable `name`, or `default` when it is not set.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a number")),
        Err(_) => default,
    }
}
