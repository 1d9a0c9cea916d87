//! The metrics path with the real tools (Debian's Prometheus, installed by the test command):
//! promtool checks the shipped configuration and rules, runs the rules' unit tests and lints
//! modeshare's `/metrics`; a real Prometheus scraping two instances records shares and goal
//! gaps equal to those of one instance holding all their events, and runs every Grafana panel's
//! query; every panel's query parses and reads only metrics modeshare exports or the rules
//! record; and the monitoring command (docs/metrics.md#prometheus-rules-and-alerts) shows
//! recorded shares and alerts within a minute.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::prometheus::{Prometheus, PrometheusApi, label, promtool, sample_value};
use common::{Service, TempDir, free_port, golden, repo_root};
use serde_json::Value;

fn assert_promtool(args: &[&str], stdin: &[u8]) -> String {
    let out = promtool(args, stdin);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn shipped_configuration_and_rules_pass_promtool() {
    let config = assert_promtool(
        &["check", "config", "deploy/prometheus/prometheus.yml"],
        b"",
    );
    assert!(config.contains("SUCCESS: 1 rule files found"), "{config}");
    let rules = assert_promtool(
        &["check", "rules", "deploy/prometheus/rules/modeshare.yml"],
        b"",
    );
    assert!(rules.contains("SUCCESS"), "{rules}");
    // The rules' unit tests: sums over instances, not averages, and every alert firing (and
    // staying quiet) where it should.
    let tests = assert_promtool(
        &[
            "test",
            "rules",
            "deploy/prometheus/tests/modeshare_test.yml",
        ],
        b"",
    );
    assert!(tests.contains("SUCCESS"), "{tests}");
    // Every alert in the rules has a unit test.
    let rules_text =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/rules/modeshare.yml")).unwrap();
    let tests_text =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/tests/modeshare_test.yml"))
            .unwrap();
    for alert in names_after(&rules_text, "- alert:") {
        assert!(
            tests_text.contains(&format!("alertname: {alert}\n")),
            "{alert} has no promtool unit test"
        );
    }
}

#[test]
fn metrics_pass_promtool_lint() {
    for args in [
        vec![
            "--config",
            golden("config.toml").to_str().unwrap(),
            "--zones",
            golden("zones.geojson").to_str().unwrap(),
            "--input",
            golden("events.ndjson").to_str().unwrap(),
        ],
        vec![],
    ] {
        let service = Service::start(&args);
        let text = service.wait_for("window gauges on /metrics", 60, |s| {
            let (_, text) = s.get("/metrics");
            text.contains("modeshare_window_group_person_trips{")
                .then_some(text)
        });
        let lint = assert_promtool(&["check", "metrics"], text.as_bytes());
        assert_eq!(lint.trim(), "", "promtool check metrics on {args:?}");
        service.stop("TERM", 10);
    }
}

/// The recorded names of the shipped rules.
fn recorded_names() -> BTreeSet<String> {
    let rules =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/rules/modeshare.yml")).unwrap();
    names_after(&rules, "- record:").into_iter().collect()
}

fn names_after(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .map(|n| n.trim().to_owned())
        .collect()
}

/// A simulated stream split by source into two files (as Kafka partitions keyed by source
/// would split it), each ending with an event at the same instant so that both instances'
/// windows end together.
fn two_halves(dir: &TempDir) -> [std::path::PathBuf; 2] {
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

/// Compares within 1e-12: Prometheus adds the instances' float gauges, modeshare adds exact
/// micro-person-trips, so the last bit may differ.
fn close(a: f64, b: f64) -> bool {
    close_within(a, b, 1e-12)
}

fn close_within(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()).max(1.0)
}

/// `/api/zones` values keyed by (zone, window, …): `pick` gives each zone's keyed values.
fn from_zones(
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
/// `/filled/shares`), keyed by (zone, window, group).
fn per_group(zones: &Value, pointer: &str) -> BTreeMap<Vec<String>, f64> {
    from_zones(zones, |z| {
        z.pointer(pointer)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(g, v)| (vec![g.clone()], v.as_f64().unwrap()))
            .collect()
    })
}

/// Polls the recorded `expr` until every sample equals `expected` (keyed by zone, window and
/// then `labels`) within `relative`, failing after 60 s.
fn wait_until_recorded(
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

#[test]
fn recorded_shares_over_two_instances_equal_one_instance_holding_all_events() {
    let dir = TempDir::new("two-instances");
    let [a, b] = two_halves(&dir);
    let lines = |p: &std::path::Path| std::fs::read_to_string(p).unwrap().lines().count();
    let start = |inputs: &[&std::path::Path]| {
        let mut args = vec![];
        for input in inputs {
            args.extend(["--input", input.to_str().unwrap()]);
        }
        Service::start(&args)
    };
    let (first, second, both) = (start(&[&a]), start(&[&b]), start(&[&a, &b]));
    first.wait_until_read(lines(&a));
    second.wait_until_read(lines(&b));
    both.wait_until_read(lines(&a) + lines(&b));
    let all = both.json("/api/zones");
    let expected = per_group(&all, "/shares");
    assert!(
        expected.len() >= 3 * 6 * 4,
        "every zone has shares in most windows: {expected:?}"
    );
    // Each instance alone has other shares: summing them is what makes them equal.
    let alone = per_group(&first.json("/api/zones"), "/shares");
    assert!(
        expected
            .iter()
            .any(|(k, s)| alone.get(k).is_some_and(|x| !close(*x, *s)))
    );

    let prometheus = Prometheus::start(&[&first.address, &second.address]);
    let api = &prometheus.api;
    // Until both instances are scraped and the rules evaluated, the recorded shares are those
    // of one instance, or none.
    let recorded_shares = "zone_group_window:modeshare_mode_share:ratio";
    wait_until_recorded(api, recorded_shares, &["group"], &expected, 1e-12);
    let gaps = per_group(&all, "/goal_gaps");
    let recorded_gaps = "zone_group_window:modeshare_goal_gap:ratio";
    wait_until_recorded(api, recorded_gaps, &["group"], &gaps, 1e-12);
    // The survey-filled basis: one half measures walking only, the other everything else, so
    // each instance alone fills other modes; the rules fill from the sums, as one instance does.
    let filled = per_group(&all, "/filled/shares");
    let alone = per_group(&first.json("/api/zones"), "/filled/shares");
    assert!(
        filled
            .iter()
            .any(|(k, v)| alone.get(k).is_some_and(|a| !close_within(*a, *v, 1e-6))),
        "an instance alone fills differently"
    );
    // modeshare rounds each filled mode to 10⁻⁶ person trips; Prometheus divides floats.
    let recorded_filled = "zone_group_window:modeshare_mode_share_filled:ratio";
    wait_until_recorded(api, recorded_filled, &["group"], &filled, 1e-8);
    // Shares within distance bands, and the first and last mile.
    let bands = from_zones(&all, |z| {
        let mut out = Vec::new();
        for band in z["distance_bands"].as_array().unwrap() {
            for (g, v) in band["shares"].as_object().unwrap() {
                let key = vec![band["band"].as_str().unwrap().to_owned(), g.clone()];
                out.push((key, v.as_f64().unwrap()));
            }
        }
        out
    });
    let band_shares = "zone_band_group_window:modeshare_band_mode_share:ratio";
    wait_until_recorded(api, band_shares, &["band", "group"], &bands, 1e-12);
    let access = from_zones(&all, |z| {
        z["transit_access"]["share"]
            .as_f64()
            .map(|v| (Vec::new(), v))
            .into_iter()
            .collect()
    });
    let access_share = "zone_window:modeshare_transit_access_share:ratio";
    wait_until_recorded(api, access_share, &[], &access, 1e-12);

    // Both instances' windows end together: the sums cover the same event time.
    for sample in api
        .query("window:modeshare_window_end_skew:seconds")
        .unwrap()
    {
        assert_eq!(sample_value(&sample), 0.0, "{sample}");
    }

    // Every dashboard query runs on this Prometheus; the goal, share and mode panels show data.
    for (row, expr) in dashboard_queries() {
        let result = api
            .query(&expr)
            .unwrap_or_else(|e| panic!("{row}: {e}\n{}", prometheus.log()));
        let with_data = ["Goals", "Shares", "Person trips", "Coverage"];
        if with_data.iter().any(|r| row.starts_with(r)) {
            assert!(!result.is_empty(), "{row}: {expr} returns nothing");
        }
    }
}

/// Every query of the shipped Grafana dashboard as (row title, PromQL), with the dashboard's
/// variables set to values modeshare publishes.
fn dashboard_queries() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(repo_root().join("deploy/grafana/dashboards/modeshare.json"))
            .unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let substitute = |expr: &str| {
        expr.replace("$zone", "Bærum")
            .replace("$window", "24h")
            .replace("$__rate_interval", "1m")
    };
    let mut out = Vec::new();
    let mut row = String::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        if panel["type"] == "row" {
            row = panel["title"].as_str().unwrap().to_owned();
            continue;
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}: no query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            out.push((format!("{row} / {}", panel["title"]), substitute(expr)));
        }
    }
    // Template variables: `label_values(METRIC, LABEL)` reads METRIC.
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .map(|(metric, _)| metric.trim())
                .unwrap();
            out.push((format!("variable {}", variable["name"]), inner.to_owned()));
        }
    }
    out
}

/// The metric names a PromQL expression reads: identifiers outside strings, label matchers,
/// ranges and grouping clauses that are neither functions nor keywords.
fn metric_names_in(expr: &str) -> Vec<String> {
    const GROUPING: [&str; 6] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    // Aggregations may take their grouping before the parenthesis: `sum by (zone) (…)`.
    const KEYWORDS: [&str; 19] = [
        "bool",
        "offset",
        "and",
        "or",
        "unless",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    // Skips from an opening bracket to its closing one, over quoted strings.
    let skip_group = |mut i: usize, open: char, close: char| -> usize {
        let mut depth = 0;
        while i < chars.len() {
            match chars[i] {
                '"' | '\'' | '`' => {
                    let quote = chars[i];
                    i += 1;
                    while i < chars.len() && chars[i] != quote {
                        i += if chars[i] == '\\' { 2 } else { 1 };
                    }
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        return i + 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '{' {
            i = skip_group(i, '{', '}');
        } else if c == '[' {
            i = skip_group(i, '[', ']');
        } else if c == '"' || c == '\'' || c == '`' {
            i = skip_group(i, c, c);
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let called = chars.get(next) == Some(&'(');
            if GROUPING.contains(&word.as_str()) {
                if called {
                    i = skip_group(next, '(', ')');
                }
            } else if !called && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_metric_name_scanner_finds_names_and_only_names() {
    assert_eq!(
        metric_names_in(
            r#"sum by (source, reason) (rate(modeshare_events_rejected_total{reason="bad {x}"}[5m] offset 1h)) / on (zone) group_left () a:b:c > bool 0.5 and time() - up"#
        ),
        ["modeshare_events_rejected_total", "a:b:c", "up"]
    );
}

#[test]
fn every_dashboard_query_parses_and_reads_only_known_metrics() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "{queries:?}");
    // promtool parses each query as the expression of a recording rule.
    let rules: String = queries
        .iter()
        .enumerate()
        .map(|(i, (_, expr))| {
            format!(
                "      - record: dashboard:query_{i}:check\n        expr: {}\n",
                serde_json::to_string(expr).unwrap()
            )
        })
        .collect();
    let dir = TempDir::new("dashboard");
    let file = dir.path().join("dashboard.yml");
    std::fs::write(
        &file,
        format!("groups:\n  - name: dashboard\n    rules:\n{rules}"),
    )
    .unwrap();
    let checked = assert_promtool(&["check", "rules", file.to_str().unwrap()], b"");
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{checked}"
    );

    let mut known: BTreeSet<String> = modeshare_http::metrics::metric_names()
        .into_iter()
        .collect();
    known.extend(recorded_names());
    known.extend(["up".to_owned(), "ALERTS".to_owned()]);
    for (panel, expr) in &queries {
        let names = metric_names_in(expr);
        assert!(!names.is_empty(), "{panel}: {expr} reads no metric");
        for name in names {
            assert!(
                known.contains(&name),
                "{panel}: {name} is neither exported nor recorded"
            );
        }
    }
    // The rules, too, read only exported or recorded metrics.
    let rules =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/rules/modeshare.yml")).unwrap();
    let exprs = rule_expressions(&rules);
    let rule_count = names_after(&rules, "- record:").len() + names_after(&rules, "- alert:").len();
    assert_eq!(exprs.len(), rule_count, "one expression per rule");
    for expr in exprs {
        for name in metric_names_in(&expr) {
            assert!(known.contains(&name), "rule {expr}: {name} is unknown");
        }
    }
}

/// The `expr:` values of a rules file: inline, or a `|` block of the lines indented deeper.
fn rule_expressions(rules: &str) -> Vec<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        if value.trim() == "|" {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.len() - l.trim_start().len() > indent)
                .copied()
                .collect();
            out.push(block.join("\n"));
        } else {
            out.push(value.trim().to_owned());
        }
    }
    out
}

/// `scripts/monitor.sh` in its own process group, stopped (with all it started) on drop.
struct Monitor(Child);

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

/// The monitoring command of docs/metrics.md: modeshare on its simulator and Prometheus with the
/// shipped `prometheus.yml` and rules; recorded shares and the goal alerts within a minute.
#[test]
fn the_monitoring_command_shows_recorded_shares_and_alerts_within_a_minute() {
    let dir = TempDir::new("monitor");
    let (modeshare_port, prometheus_port) = (free_port(), free_port());
    let started = Instant::now();
    let monitor = Monitor(
        Command::new("bash")
            .arg(repo_root().join("scripts/monitor.sh"))
            .env("MODESHARE_BIN", env!("CARGO_BIN_EXE_modeshare"))
            .env("MODESHARE_PORT", modeshare_port.to_string())
            .env("PROMETHEUS_PORT", prometheus_port.to_string())
            .env("MONITOR_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let api = PrometheusApi {
        address: format!("127.0.0.1:{prometheus_port}"),
    };
    let share = api.wait_for("the recorded sustainable share of Bærum", 60, |api| {
        let result = api
            .query(r#"zone_group_window:modeshare_mode_share:ratio{zone="Bærum",group="sustainable",window="24h"}"#)
            .ok()?;
        result.first().map(sample_value)
    });
    assert!(
        (0.25..0.6).contains(&share),
        "simulated sustainable share {share}"
    );
    let remaining = 60u64.saturating_sub(started.elapsed().as_secs()).max(1);
    let alerts = api.wait_for("the goal alerts", remaining, |api| {
        let result = api
            .query(r#"ALERTS{alertname="ModeshareShareBelowGoal",zone="Bærum",window="24h"}"#)
            .ok()?;
        (result.len() == 2).then_some(result)
    });
    let groups: BTreeSet<&str> = alerts.iter().map(|a| label(a, "group")).collect();
    // The simulated city is near its 2016 survey: below both goals.
    assert_eq!(groups, BTreeSet::from(["cycling", "sustainable"]));
    eprintln!("recorded shares and alerts after {:?}", started.elapsed());

    // Ctrl-C (SIGINT to the group, as a terminal sends it) stops both.
    let group = format!("-{}", monitor.0.id());
    Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    api.wait_for("Prometheus stopped", 20, |api| {
        (!api.is_ready()).then_some(())
    });
    let modeshare = format!("127.0.0.1:{modeshare_port}");
    api.wait_for("modeshare stopped", 20, |_| {
        std::net::TcpStream::connect(&modeshare)
            .is_err()
            .then_some(())
    });
}
