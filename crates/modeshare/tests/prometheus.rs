//! The metrics path with the real tools (Debian's Prometheus, installed by the test command):
//! promtool checks the shipped configuration and rules, runs the rules' unit tests and lints
//! modeshare's `/metrics`; a real Prometheus scraping two instances records shares and goal
//! gaps equal to those of one instance holding all their events, and runs every Grafana panel's
//! query; every panel's query parses and reads only metrics modeshare exports or the rules
//! record; and the monitoring command (docs/metrics.md#prometheus-rules-and-alerts) shows
//! recorded shares and alerts within a minute; and the service's own families — the build, the
//! publish histogram — are scraped.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::prometheus::{
    Monitor, Prometheus, PrometheusApi, assert_promtool, close, close_within, from_zones, label,
    per_group, sample_value, two_halves, wait_until_recorded,
};
use common::promql::{
    dashboard_queries, metric_names_in, names_after, recorded_names, rule_expressions,
    shipped_rules,
};
use common::{Service, TempDir, Tool, free_port, golden, repo_root, requires};

#[test]
fn shipped_configuration_and_rules_pass_promtool() {
    requires!(Tool::Prometheus);
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
    // The rules' unit tests, every file of them: sums over instances, not averages (over three
    // instances, and while a partition moves between two), and every alert firing (and staying
    // quiet) where it should.
    let mut test_files = vec![];
    for entry in std::fs::read_dir(repo_root().join("deploy/prometheus/tests")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with("_test.yml") {
            test_files.push(format!("deploy/prometheus/tests/{name}"));
        }
    }
    test_files.sort();
    for expected in ["instances_test.yml", "modeshare_test.yml"] {
        assert!(
            test_files.iter().any(|f| f.ends_with(expected)),
            "{expected} not found: {test_files:?}"
        );
    }
    let mut tests_text = String::new();
    for file in &test_files {
        let tests = assert_promtool(&["test", "rules", file.as_str()], b"");
        assert!(tests.contains("SUCCESS"), "{file}: {tests}");
        tests_text.push_str(&std::fs::read_to_string(repo_root().join(file)).unwrap());
    }
    // Every alert in the rules has a unit test.
    let rules_text = shipped_rules();
    for alert in names_after(&rules_text, "- alert:") {
        assert!(
            tests_text.contains(&format!("alertname: {alert}\n")),
            "{alert} has no promtool unit test"
        );
    }
}

#[test]
fn metrics_pass_promtool_lint() {
    requires!(Tool::Prometheus);
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

#[test]
fn recorded_shares_over_two_instances_equal_one_instance_holding_all_events() {
    requires!(Tool::Prometheus);
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
    // The instance holding every event is the reference: with k = 1 its public API shows the
    // exact numbers Prometheus sums (the k rule would hide small ones in the per-instance halves
    // and the whole alike, but only the whole is compared).
    let exact = dir.path().join("exact.toml");
    std::fs::write(&exact, "[privacy]\nk = 1\n").unwrap();
    let start_exact = |inputs: &[&std::path::Path]| {
        let mut args = vec!["--config", exact.to_str().unwrap()];
        for input in inputs {
            args.extend(["--input", input.to_str().unwrap()]);
        }
        Service::start(&args)
    };
    let (first, second, both) = (start(&[&a]), start(&[&b]), start_exact(&[&a, &b]));
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
    // The default goals were due on 2025-12-31: their path is the target itself now, so the
    // gap to the path is the gap to the goal.
    let path_gaps = "zone_group_window:modeshare_goal_path_gap:ratio";
    wait_until_recorded(api, path_gaps, &["group"], &gaps, 1e-12);
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
    let filled_gaps = per_group(&all, "/filled/goal_gaps");
    let path_gaps_filled = "zone_group_window:modeshare_goal_path_gap_filled:ratio";
    wait_until_recorded(api, path_gaps_filled, &["group"], &filled_gaps, 1e-8);
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

    // The service's own families reach Prometheus: the build of each instance, and the
    // histograms of what publishing takes (every instance publishes at its first tick).
    let builds = api.query("modeshare_build_info").unwrap();
    assert_eq!(builds.len(), 2, "{builds:?}");
    for build in &builds {
        assert_eq!(sample_value(build), 1.0, "{build}");
        assert_eq!(
            label(build, "version"),
            env!("CARGO_PKG_VERSION"),
            "{build}"
        );
        assert!(!label(build, "revision").is_empty(), "{build}");
    }
    let publishes = api
        .query("sum by (instance) (modeshare_publish_duration_seconds_count)")
        .unwrap();
    assert_eq!(publishes.len(), 2, "{publishes:?}");
    assert!(
        publishes.iter().all(|p| sample_value(p) >= 1.0),
        "{publishes:?}"
    );
    let buckets = api
        .query(r#"modeshare_publish_duration_seconds_bucket{le="+Inf"}"#)
        .unwrap();
    assert_eq!(buckets.len(), 2, "{buckets:?}");

    // Both instances' windows end together: the sums cover the same event time.
    for sample in api
        .query("window:modeshare_window_end_skew:seconds")
        .unwrap()
    {
        assert_eq!(sample_value(&sample), 0.0, "{sample}");
    }

    // Every dashboard query runs on this Prometheus; the goal, trend, share and mode panels
    // show data.
    for (row, expr) in dashboard_queries() {
        let result = api
            .query(&expr)
            .unwrap_or_else(|e| panic!("{row}: {e}\n{}", prometheus.log()));
        let with_data = ["Goals", "Trend", "Shares", "Person trips", "Coverage"];
        if with_data.iter().any(|r| row.starts_with(r)) {
            assert!(!result.is_empty(), "{row}: {expr} returns nothing");
        }
    }
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
fn every_dashboard_query_parses() {
    requires!(Tool::Prometheus);
    let queries = dashboard_queries();
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
}

/// Needs no Prometheus, so that a metric renamed or removed under the dashboard or the rules
/// fails the quick `cargo test` too.
#[test]
fn the_dashboard_and_the_rules_read_only_exported_or_recorded_metrics() {
    let queries = dashboard_queries();
    assert!(queries.len() >= 20, "{queries:?}");
    let mut known: BTreeSet<String> = modeshare_http::metrics::metric_names()
        .into_iter()
        .collect();
    known.extend(recorded_names());
    known.extend(["up".to_owned(), "ALERTS".to_owned()]);
    // A histogram's series carry a suffix after the family's name.
    let histogram_series: Vec<String> = known
        .iter()
        .filter(|n| n.ends_with("_seconds"))
        .flat_map(|n| ["_bucket", "_sum", "_count"].map(|s| format!("{n}{s}")))
        .collect();
    known.extend(histogram_series);
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
    let rules = shipped_rules();
    let exprs = rule_expressions(&rules);
    let rule_count = names_after(&rules, "- record:").len() + names_after(&rules, "- alert:").len();
    assert_eq!(exprs.len(), rule_count, "one expression per rule");
    for expr in exprs {
        for name in metric_names_in(&expr) {
            assert!(known.contains(&name), "rule {expr}: {name} is unknown");
        }
    }
}

/// The monitoring command of docs/metrics.md: modeshare on its simulator and Prometheus with the
/// shipped `prometheus.yml` and rules; recorded shares and the goal alerts within a minute.
#[test]
fn the_monitoring_command_shows_recorded_shares_and_alerts_within_a_minute() {
    requires!(Tool::Prometheus);
    let dir = TempDir::new("monitor");
    let (modeshare_port, prometheus_port) = (free_port(), free_port());
    let started = Instant::now();
    let monitor = Monitor::start(dir.path(), modeshare_port, prometheus_port);
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
    monitor.interrupt();
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
