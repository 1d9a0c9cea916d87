//! What operators of the service expect of the binary: `--version` with the git revision, logs as
//! one JSON object a line with the documented fields (docs/operations.md#logs), the build and
//! start time on `/metrics`, `config check` listing every problem at once with exit status 2,
//! `config show` never printing a secret however it was given, and the shell completions and
//! manual page naming every command.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TempDir, http, metrics, repo_root};
use serde_json::Value;

fn modeshare() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_modeshare"));
    command.env_remove("RUST_LOG");
    for (name, _) in std::env::vars() {
        if name.starts_with("MODESHARE__") {
            command.env_remove(name);
        }
    }
    command
}

fn output(command: &mut Command) -> (Output, String, String) {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// The revision git gives for the work tree, when git and `.git` are there.
fn git_revision() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(repo_root())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

#[test]
fn the_version_names_the_git_revision() {
    let (out, stdout, _) = output(modeshare().arg("--version"));
    assert!(out.status.success());
    let revision = git_revision().unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        stdout.trim(),
        format!(
            "modeshare {} (revision {revision})",
            env!("CARGO_PKG_VERSION")
        )
    );
}

/// `modeshare --log-format json run` with an operator (so that the ingest spool is read as a
/// partition): every line on stderr is a JSON object with the documented fields, the spool's
/// line names its topic and partition as fields, and `/metrics` carries the build and the start.
#[test]
fn json_logs_carry_the_documented_fields_and_metrics_the_build() {
    let dir = TempDir::new("json-logs");
    let config = dir.path().join("modeshare.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[ingest]\nlisten = \"127.0.0.1:0\"\n\
             [[ingest.operators]]\nname = \"voi\"\nsources = [\"voi\"]\ntoken_sha256 = [\"{}\"]\n\
             [state]\ndir = \"state\"\n",
            modeshare_http::auth::token_sha256("msi_a-token")
        ),
    )
    .unwrap();
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut child = modeshare()
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let field = |line: &str, name: &str| -> Value {
        serde_json::from_str::<Value>(line).map_or(Value::Null, |v| v["fields"][name].clone())
    };
    let (mut address, mut ingest) = (String::new(), String::new());
    while address.is_empty() || ingest.is_empty() {
        let wait = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(wait) else {
            let _ = child.kill();
            panic!("no addresses logged in 30 s:\n{}", seen.join("\n"));
        };
        seen.push(line.clone());
        let message = field(&line, "message");
        let logged = field(&line, "address")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match message.as_str().unwrap_or_default() {
            m if m.starts_with("serving the page") => address = logged,
            m if m.starts_with("ingest listener") => ingest = logged,
            _ => {}
        }
    }
    // The request histogram names the route as the router wrote it, never the path asked for.
    let (status, _) = http(&ingest, "POST", "/ingest/v1/tables/csv:voi", None).unwrap();
    assert_eq!(status, 401);
    let (status, text) = http(&address, "GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    let scraped = metrics(&text);
    let build: Vec<_> = scraped
        .iter()
        .filter(|((name, _), _)| name == "modeshare_build_info")
        .collect();
    assert_eq!(build.len(), 1, "{text}");
    let ((_, labels), value) = build[0];
    assert_eq!(*value, 1.0);
    assert_eq!(labels["version"], env!("CARGO_PKG_VERSION"));
    let revision = git_revision().unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(labels["revision"], revision);
    let requests = "modeshare_http_request_duration_seconds_count";
    let tables = [
        ("listener", "ingest"),
        ("route", "/ingest/v1/tables/{format}"),
    ];
    assert_eq!(common::sum(&scraped, requests, &tables), 1.0, "{text}");
    assert!(!text.contains("csv:voi"), "{text}");
    let start = common::sum(&scraped, "modeshare_start_time_seconds", &[]);
    assert!(
        (started - 5.0..=started + 30.0).contains(&start),
        "started at {started}, metric {start}"
    );

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    // The reader ends with the process's stderr.
    seen.extend(lines.iter());

    let mut spool_line = None;
    for line in &seen {
        let object: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        let timestamp = object["timestamp"].as_str().unwrap_or_default();
        assert!(
            timestamp.parse::<jiff::Timestamp>().is_ok(),
            "timestamp: {line}"
        );
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]
                .contains(&object["level"].as_str().unwrap()),
            "level: {line}"
        );
        assert!(object["fields"]["message"].is_string(), "message: {line}");
        assert!(
            object["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("modeshare")),
            "target: {line}"
        );
        let message = object["fields"]["message"].as_str().unwrap();
        if message.starts_with("pushed events are spooled here") {
            spool_line = Some(object.clone());
        }
    }
    let spool = spool_line.unwrap_or_else(|| panic!("no spool line in\n{}", seen.join("\n")));
    assert_eq!(spool["fields"]["topic"], "ingest-spool", "{spool}");
    assert_eq!(spool["fields"]["partition"], 0, "{spool}");
    assert_eq!(spool["level"], "INFO");
    assert!(
        seen.iter().any(|l| field(l, "message") == "stopped"),
        "{seen:?}"
    );
}

#[test]
fn the_log_level_flag_filters_and_rust_log_wins() {
    let dir = TempDir::new("log-level");
    // A configuration whose transit-access stops lie in none of the zones: loading it warns.
    let zones = dir.path().join("zones.geojson");
    std::fs::write(
        &zones,
        r#"{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"Nowhere"},
            "geometry":{"type":"Polygon","coordinates":[[[0,0],[0.01,0],[0.01,0.01],[0,0.01],[0,0]]]}}]}"#,
    )
    .unwrap();
    let check = |level: Option<&str>, rust_log: Option<&str>| {
        let mut command = modeshare();
        if let Some(level) = level {
            command.args(["--log-level", level]);
        }
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        command.args(["--log-format", "json", "config", "check", "--zones"]);
        let (out, _, stderr) = output(command.arg(&zones));
        assert!(out.status.success(), "{stderr}");
        stderr.contains("lies in a zone")
    };
    assert!(check(None, None), "a warning at the default level");
    assert!(!check(Some("error"), None), "--log-level error hides it");
    assert!(check(Some("error"), Some("warn")), "RUST_LOG wins");
    let (out, _, stderr) = output(modeshare().args(["--log-level", "loud=[", "config", "check"]));
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--log-level"), "{stderr}");
}

#[test]
fn config_check_lists_every_problem_and_exits_2() {
    let (out, stdout, stderr) = output(modeshare().args(["config", "check"]));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("usable"), "{stdout}");
    // Every configuration the project ships checks out.
    let mut shipped = 0;
    for folder in [
        "config",
        "config/examples",
        "deploy",
        "deploy/kubernetes/base",
        "deploy/kubernetes/overlays/example",
    ] {
        for entry in std::fs::read_dir(repo_root().join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let (out, stdout, stderr) =
                    output(modeshare().args(["config", "check", "--config"]).arg(&path));
                assert!(out.status.success(), "{}: {stdout}{stderr}", path.display());
                shipped += 1;
            }
        }
    }
    assert!(shipped >= 7, "only {shipped} shipped configurations found");

    let dir = TempDir::new("config-check");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[spatial]\nresolutoin = 8\n[windows]\nbucket = 15\n[http]\nlisten = \"nonsense\"\n",
    )
    .unwrap();
    let (out, _, stderr) = output(
        modeshare()
            .args(["config", "check", "--config"])
            .arg(&file)
            .env("MODESHARE__LOG__FORMAT", "xml"),
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
    for key in [
        "log.format: unknown variant `xml`",
        "spatial.resolutoin: unknown field",
        "windows.bucket: invalid type",
        "http.listen: \"nonsense\"",
    ] {
        assert!(stderr.contains(key), "{key} not in {stderr}");
    }
}

/// A secret given in the file, in the environment, or read from a file named in either, is
/// never printed by `config show`; the rest of the configuration is.
#[test]
fn config_show_never_prints_a_secret() {
    let dir = TempDir::new("config-show");
    let secret_file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{text}\n")).unwrap();
        path.display().to_string()
    };
    let admin_hash = modeshare_http::auth::token_sha256("msi_admin-token-not-shown");
    let operator_hash = modeshare_http::auth::token_sha256("msi_operator-token-not-shown");
    let config = dir.path().join("modeshare.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[[kafka.topics]]\nname = \"events\"\n\
             [kafka.options]\n\"sasl.password\" = \"kafka-password-in-the-file\"\n\
             \"client.id\" = \"city-of-baerum\"\n\
             [state]\nurl = \"s3://bucket/prefix\"\n[state.options]\naws_region = \"eu-north-1\"\n\
             [admin]\nlisten = \"127.0.0.1:9466\"\ntoken_sha256_file = \"{}\"\n\
             [ingest]\ntopic = \"events\"\n\
             [[ingest.operators]]\nname = \"voi\"\nsources = [\"voi\"]\ntoken_sha256 = [\"{operator_hash}\"]\n\
             [[providers]]\nname = \"ryde\"\nurl = \"https://mds.example\"\nversion = \"2.0\"\n\
             source = \"ryde\"\ntoken_file = \"{}\"\n",
            secret_file("admin-hashes", &admin_hash),
            secret_file("provider-token", "provider-token-from-a-file"),
        ),
    )
    .unwrap();
    let secrets = [
        "kafka-password-in-the-file",
        "kafka-username-in-the-environment",
        "s3-key-in-the-environment",
        "s3-token-from-a-file",
        "provider-token-from-a-file",
        admin_hash.as_str(),
        operator_hash.as_str(),
    ];
    let (out, stdout, stderr) = output(
        modeshare()
            .args(["config", "show", "--config"])
            .arg(&config)
            .env(
                "MODESHARE__KAFKA__OPTIONS__SASL_DOT_USERNAME",
                "kafka-username-in-the-environment",
            )
            .env(
                "MODESHARE__STATE__OPTIONS__AWS_SECRET_ACCESS_KEY",
                "s3-key-in-the-environment",
            )
            .env(
                "MODESHARE__STATE__OPTIONS__AWS_SESSION_TOKEN_FILE",
                secret_file("s3-token", "s3-token-from-a-file"),
            ),
    );
    assert!(out.status.success(), "{stderr}");
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown:\n{stdout}{stderr}"
        );
    }
    let shown: toml::Table = stdout.parse().unwrap();
    let options = &shown["kafka"]["options"];
    assert_eq!(options["sasl.password"].as_str(), Some("[redacted]"));
    assert_eq!(options["sasl.username"].as_str(), Some("[redacted]"));
    assert_eq!(options["client.id"].as_str(), Some("city-of-baerum"));
    let state = &shown["state"]["options"];
    assert_eq!(state["aws_secret_access_key"].as_str(), Some("[redacted]"));
    assert_eq!(state["aws_session_token"].as_str(), Some("[redacted]"));
    assert_eq!(state["aws_region"].as_str(), Some("eu-north-1"));
    assert_eq!(
        shown["admin"]["token_sha256"].as_array().unwrap().len(),
        1,
        "a list keeps its length"
    );
    assert_eq!(shown["providers"][0]["token"].as_str(), Some("[redacted]"));
    // The defaults are there too: the configuration in force, whole.
    assert_eq!(shown["spatial"]["resolution"].as_integer(), Some(9));
    assert_eq!(shown["log"]["format"].as_str(), Some("text"));
}

#[test]
fn completions_and_the_manual_name_every_command() {
    let commands = [
        "replay",
        "run",
        "generate",
        "produce",
        "token",
        "providers",
        "config",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish"] {
        let (out, stdout, stderr) = output(modeshare().args(["completions", shell]));
        assert!(out.status.success(), "{shell}: {stderr}");
        for command in commands {
            assert!(stdout.contains(command), "{shell}: {command} missing");
        }
        assert!(stdout.contains("log-format"), "{shell}: the global flags");
    }
    let (out, page, stderr) = output(modeshare().arg("man"));
    assert!(out.status.success(), "{stderr}");
    assert!(page.contains(".TH modeshare 1"), "{page}");
    for command in commands {
        // Every command has a page of its own, after modeshare's.
        assert!(
            page.contains(&format!(".TH modeshare-{command} 1")),
            "{command} has no page"
        );
    }
    for nested in [
        "config-check",
        "config-show",
        "token-new",
        "providers-check",
    ] {
        assert!(
            page.contains(&format!(".TH modeshare-{nested} 1")),
            "{nested}"
        );
    }
}
