//! The metrics path with the real tools (Debian's Prometheus, installed by the test command):
//! promtool checks the shipped configuration and rules, runs the rules' unit tests and lints
//! modeshare's `/metrics`; a real Prometheus scraping two instances records shares and goal
//! gaps equal to those of one instance holding all their events, and runs every Grafana panel's
//! query — with its variables resolved as Grafana resolves them, and once per goal group —;
//! every panel's query parses and reads only metrics modeshare exports or the rules record, names
//! no goal group and selects the job variable; every alert links its section of
//! docs/runbooks.md; the monitoring command (docs/metrics.md#prometheus-rules-and-alerts) shows
//! recorded shares and alerts within a minute; and the service's own families — the build, the
//! publish histogram — are scraped.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use common::prometheus::{
    Monitor, Prometheus, PrometheusApi, assert_promtool, close, close_within, from_zones, label,
    per_group, sample_value, two_halves, wait_until_recorded,
};
use common::promql::{
    alert_runbooks, dashboard, dashboard_queries, dashboard_variables, metric_names_in,
    names_after, panel_queries, recorded_names, rule_expressions, selectors_in, shipped_rules,
    substitute,
};
use common::{Service, TempDir, Tool, free_port, golden, poll_until, repo_root, requires};
use modeshare_tests::anchors::{heading_anchors, slug};
use serde_json::Value;

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
    // Prometheus loaded every alert with the runbook link the rules file gives it.
    let runbooks: BTreeMap<String, Vec<String>> =
        alert_runbooks(&shipped_rules()).into_iter().collect();
    let loaded = api.alerting_rules().unwrap();
    assert_eq!(loaded.len(), runbooks.len(), "{loaded:#?}");
    for rule in &loaded {
        let name = rule["name"].as_str().unwrap();
        assert_eq!(
            rule["annotations"]["runbook_url"].as_str(),
            runbooks[name].first().map(String::as_str),
            "{name}"
        );
    }
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

    dashboard_queries_run(api, &all, &expected, &prometheus);
}

/// The dashboard on the two-instance Prometheus, as Grafana would show it: each variable's
/// `label_values(METRIC, LABEL)` asked as Grafana asks it gives the values modeshare publishes;
/// then every panel query runs with the variables set — the goal rows once per goal group, the
/// panels of every group with all of them — and the goal, share, mode and coverage panels show
/// data. `all` is `/api/zones` of the instance holding every event, `shares` its shares.
fn dashboard_queries_run(
    api: &PrometheusApi,
    all: &Value,
    shares: &BTreeMap<Vec<String>, f64>,
    prometheus: &Prometheus,
) {
    let sorted = |values: BTreeSet<String>| values.into_iter().collect::<Vec<_>>();
    let windows = sorted(
        all["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["window"].as_str().unwrap().to_owned())
            .collect(),
    );
    let zones = sorted(shares.keys().map(|k| k[0].clone()).collect());
    let goals: BTreeMap<String, (f64, f64)> = all["goals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let group = g["group"].as_str().unwrap().to_owned();
            let baseline = g["baseline"].as_f64().unwrap_or(0.0);
            (group, (g["target"].as_f64().unwrap(), baseline))
        })
        .collect();
    assert_eq!(
        goals.keys().collect::<Vec<_>>(),
        ["cycling", "sustainable"],
        "Bærum's goals"
    );
    let expected: BTreeMap<&str, Vec<String>> = BTreeMap::from([
        ("job", vec!["modeshare".to_owned()]),
        ("zone", zones),
        ("window", windows),
        ("group", goals.keys().cloned().collect()),
    ]);
    let variables = dashboard_variables();
    let names: Vec<&str> = variables.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["job", "zone", "window", "group"]);
    let mut defaults = BTreeMap::new();
    for variable in &variables {
        let name = variable.name.as_str();
        let want = &expected[name];
        // A job's request histogram appears after its first scrape; the recorded series after
        // the rules' first evaluation over both instances.
        let got = poll_until(&format!("variable {name} = {want:?}"), 30, || {
            let got = api.label_values(&variable.metric, &variable.label).ok()?;
            (got == *want).then_some(got)
        });
        if variable.multi {
            assert_eq!(variable.default, "$__all", "{name} opens on every value");
            defaults.insert(name, format!("({})", got.join("|")));
        } else {
            assert!(got.contains(&variable.default), "{name}: {got:?}");
            defaults.insert(name, variable.default.clone());
        }
    }
    let (zone, window) = (defaults["zone"].clone(), defaults["window"].clone());

    let with_data = ["Goal", "Shares", "Person trips", "Coverage"];
    let mut progress_checked = BTreeSet::new();
    let mut every_group_checked = false;
    for query in panel_queries() {
        // A repeated panel runs once per value, the others once with every value, as Grafana
        // formats several values for Prometheus: `(a|b)`.
        let runs: Vec<String> = match query.repeat.as_deref() {
            Some("group") => expected["group"].clone(),
            None => vec![defaults["group"].clone()],
            Some(other) => panic!("{}: repeats over {other}", query.place()),
        };
        for group in runs {
            let values = [
                ("job", defaults["job"].as_str()),
                ("zone", zone.as_str()),
                ("window", window.as_str()),
                ("group", group.as_str()),
            ];
            let expr = substitute(&query.expr, &values);
            let result = api
                .query(&expr)
                .unwrap_or_else(|e| panic!("{}: {e}\n{}", query.place(), prometheus.log()));
            let place = format!("{} ({group})", query.place());
            if with_data.iter().any(|r| query.row.starts_with(r)) {
                assert!(!result.is_empty(), "{place}: {expr} returns nothing");
            }
            if query.panel == "Gap to the goals over time" {
                let shown: BTreeSet<&str> = result.iter().map(|s| label(s, "group")).collect();
                assert_eq!(shown, BTreeSet::from(["cycling", "sustainable"]), "{place}");
                every_group_checked = true;
            }
            // (share − baseline) ÷ (target − baseline): how far along the way to the goal.
            if query.panel.ends_with("from the baseline to the goal") {
                let (target, baseline) = goals[&group];
                let share = shares[&vec![zone.clone(), window.clone(), group.clone()]];
                let way = (share - baseline) / (target - baseline);
                assert_eq!(result.len(), 1, "{place}: {result:?}");
                assert!(
                    close_within(sample_value(&result[0]), way, 1e-9),
                    "{place}: {} against {way} (share {share})",
                    sample_value(&result[0])
                );
                progress_checked.insert(group.clone());
            }
        }
    }
    assert!(every_group_checked, "the gap panel shows every goal group");
    assert_eq!(
        progress_checked.into_iter().collect::<Vec<_>>(),
        expected["group"],
        "the way to each goal"
    );
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

/// The repository's address as the workspace's `Cargo.toml` gives it (`repository = "…"`).
fn repository_url() -> String {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    manifest
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "repository").then(|| value.trim().trim_matches('"').to_owned())
        })
        .expect("Cargo.toml names the repository")
}

/// Every alert's `runbook_url` is an absolute link into the repository's docs/runbooks.md, at
/// the alert's own section, and every section of the runbooks is an alert's.
#[test]
fn every_alert_links_its_section_of_the_runbooks() {
    let base = format!("{}/blob/main/docs/runbooks.md#", repository_url());
    assert!(base.starts_with("https://github.com/"), "{base}");
    let text = std::fs::read_to_string(repo_root().join("docs/runbooks.md")).unwrap();
    let anchors = heading_anchors(&text);
    let rules = shipped_rules();
    let alerts = alert_runbooks(&rules);
    assert_eq!(alerts.len(), names_after(&rules, "- alert:").len());
    assert!(alerts.len() >= 13, "{alerts:?}");
    let mut linked = BTreeSet::new();
    for (alert, urls) in &alerts {
        let [url] = urls.as_slice() else {
            panic!("{alert}: one runbook_url wanted, found {urls:?}");
        };
        let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{alert}: {url}: {e}"));
        assert_eq!(parsed.scheme(), "https", "{alert}: {url} is absolute");
        let anchor = url
            .strip_prefix(&base)
            .unwrap_or_else(|| panic!("{alert}: {url} does not start with {base}"));
        assert!(
            anchors.contains(anchor),
            "{alert}: docs/runbooks.md has no heading with anchor #{anchor}"
        );
        assert_eq!(anchor, slug(alert), "{alert} links a section of its own");
        linked.insert(anchor.to_owned());
    }
    let sections: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("## ")).collect();
    for section in &sections {
        assert!(
            linked.contains(&slug(section)),
            "docs/runbooks.md: section {section} is no alert's"
        );
    }
    assert_eq!(sections.len(), alerts.len());
}

/// The recorded series select no job, so their names and labels hold whatever the scrape job is
/// called; only ModeshareDown names it (docs/metrics.md#the-job-label), as prometheus.yml does.
#[test]
fn only_modeshare_down_names_the_scrape_job() {
    let rules = shipped_rules();
    let naming: Vec<String> = rule_expressions(&rules)
        .into_iter()
        .filter(|expr| {
            selectors_in(expr)
                .iter()
                .any(|(_, matchers)| matchers.contains("job"))
        })
        .collect();
    assert_eq!(naming, [r#"up{job="modeshare"} == 0"#]);
    let config =
        std::fs::read_to_string(repo_root().join("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(config.contains("- job_name: modeshare\n"), "{config}");
}

/// One label matcher, `name op "value"`, of a selector's matchers.
fn matchers(text: &str) -> Vec<(String, String, String)> {
    text.split(',')
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let at = m.find(['=', '!']).unwrap_or_else(|| panic!("matcher {m}"));
            let op_end = at + m[at..].find('"').unwrap_or_else(|| panic!("matcher {m}"));
            let value = m[op_end..].trim().trim_matches('"');
            (
                m[..at].trim().to_owned(),
                m[at..op_end].trim().to_owned(),
                value.to_owned(),
            )
        })
        .collect()
}

/// The dashboard fits any city: goal groups come from the group variable (a row per goal group,
/// no group named in a query), every query of an exported series selects the job variable, and
/// the dashboard says it needs the recording rules.
#[test]
fn the_dashboard_fits_any_city_and_says_what_it_needs() {
    let variables = dashboard_variables();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v.name == name)
            .unwrap_or_else(|| panic!("no variable {name}: {variables:?}"))
    };
    let (job, group) = (variable("job"), variable("group"));
    assert_eq!((job.default.as_str(), job.multi), ("modeshare", false));
    assert_eq!(job.label, "job");
    assert_eq!(
        (group.metric.as_str(), group.label.as_str()),
        ("group:modeshare_goal_target:ratio", "group")
    );
    assert!(group.multi, "several goal groups at once");
    for name in ["zone", "window"] {
        assert!(!variable(name).multi, "{name}");
    }

    let mut exported: BTreeSet<String> = modeshare_http::metrics::metric_names()
        .into_iter()
        .collect();
    let histogram_series: Vec<String> = exported
        .iter()
        .filter(|n| n.ends_with("_seconds"))
        .flat_map(|n| ["_bucket", "_sum", "_count"].map(|s| format!("{n}{s}")))
        .collect();
    exported.extend(histogram_series);
    exported.insert("up".to_owned());
    let queries = panel_queries();
    let (mut per_group, mut with_job) = (0, 0);
    for query in &queries {
        let place = query.place();
        for (name, text) in selectors_in(&query.expr) {
            let matchers = matchers(&text);
            for (label, op, value) in &matchers {
                if label == "group" {
                    // One value where the panel repeats over the group; several elsewhere.
                    let want = if query.repeat.as_deref() == Some("group") {
                        "="
                    } else {
                        "=~"
                    };
                    assert_eq!(
                        (op.as_str(), value.as_str()),
                        (want, "$group"),
                        "{place}: {name}{{{text}}} names a group"
                    );
                    per_group += 1;
                }
                if label == "job" {
                    assert_eq!((op.as_str(), value.as_str()), ("=", "$job"), "{place}");
                }
            }
            if exported.contains(&name) {
                assert!(
                    matchers
                        .iter()
                        .any(|(l, o, v)| (l.as_str(), o.as_str(), v.as_str())
                            == ("job", "=", "$job")),
                    "{place}: {name}{{{text}}} does not select the job"
                );
                with_job += 1;
            }
        }
    }
    assert!(per_group >= 20, "{per_group} group selectors");
    assert!(with_job >= 15, "{with_job} selectors of exported series");
    // The goal panels repeat: a row over the goal groups holds the share, the way to the goal,
    // the trend against the goal path and the share per zone.
    let repeated: BTreeSet<&str> = queries
        .iter()
        .filter(|q| q.repeat.as_deref() == Some("group"))
        .map(|q| q.panel.as_str())
        .collect();
    assert!(repeated.len() >= 4, "{repeated:?}");
    assert!(
        repeated.iter().all(|p| p.starts_with("$group")),
        "{repeated:?}"
    );

    let dashboard = dashboard();
    let rules = "deploy/prometheus/rules/modeshare.yml";
    let description = dashboard["description"].as_str().unwrap();
    assert!(description.contains(rules), "{description}");
    let top = &dashboard["panels"][0];
    assert_eq!(
        (top["type"].as_str(), top["gridPos"]["y"].as_i64()),
        (Some("text"), Some(0)),
        "a note at the top"
    );
    let note = top["options"]["content"].as_str().unwrap();
    assert!(
        note.contains(rules) && note.contains("recording rules"),
        "{note}"
    );
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
