//! The live page at `/` in a real headless browser (Debian's Chromium through WebDriver), over
//! 45 simulated days (one of them with too few trips to show) and a full last day: it loads,
//! shows the shares `/api/zones` returns in its goal gauges (measured and filled), its zone
//! table (on either basis, with the coverage beside), its distance bands and its first and last
//! mile, lists the stop places `/api/stops` returns; its trend chart draws each goal group's
//! share per day (and per week) from `/api/series` with the rolling mean, the goal, the
//! baseline and the goal path, says how far it is behind, and leaves the hidden day a gap; its
//! map draws one hexagon per cell `/api/cells` returns, coloured by density by default and by a
//! share only where nothing of the share is filled from the survey, with the zones' outlines;
//! its downloads hold what the API gave; it follows a change of zone, fits a phone's width, and
//! leaves screenshots in `target/screenshots/`. A second service with goals due inside the
//! chart shows the goal path bending at the target date and a goal that is on track.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use common::browser::Browser;
use common::{Service, TempDir, Tool, repo_root, requires, window_view};
use jiff::civil::Date;
use serde_json::{Value, json};

/// What the page shows, read from its DOM.
const READ_PAGE: &str = r##"
const number = (text) => text === "" ? null : Number(text);
const value = (el) => number(el.dataset.value);
const access = document.querySelector("[data-access-share]");
return {
  ready: document.body.dataset.ready === "true",
  title: document.getElementById("map-title").textContent,
  gauges: Object.fromEntries([...document.querySelectorAll("[data-share]")]
    .map((el) => [el.dataset.share, value(el)])),
  filled: Object.fromEntries([...document.querySelectorAll("[data-filled-share]")]
    .map((el) => [el.dataset.filledShare, value(el)])),
  table: [...document.querySelectorAll("tr[data-zone] td[data-group]")]
    .map((td) => [td.closest("tr").dataset.zone, td.dataset.group, value(td), td.dataset.basis]),
  coverage: [...document.querySelectorAll("tr[data-zone] td[data-coverage]")]
    .map((td) => [td.closest("tr").dataset.zone, number(td.dataset.coverage)]),
  bands: [...document.querySelectorAll("tr[data-band] td[data-group]")]
    .map((td) => [td.closest("tr").dataset.band, td.dataset.group, value(td)]),
  access: access ? value(access) : "absent",
  stops: [...document.querySelectorAll("tr[data-stop]")].map((tr) => [tr.dataset.stop, value(tr)]),
  cells: [...document.querySelectorAll("#map polygon")].map((p) => p.dataset.cell),
  external: [...document.querySelectorAll("script[src], link[href], img[src]")].length,
};
"##;

/// The zone table holds every zone's group shares on `basis`, exactly as the API has them.
fn assert_table(page: &Value, day: &Value, basis: &str) {
    let shares = |zone: &Value| -> Value {
        match basis {
            "filled" => zone["filled"]["shares"].clone(),
            _ => zone["shares"].clone(),
        }
    };
    let table = page["table"].as_array().unwrap();
    let expected: usize = day["zones"]
        .as_object()
        .unwrap()
        .values()
        .map(|z| {
            // A share the k rule hides is null in the API and empty on the page.
            shares(z)
                .as_object()
                .map_or(0, |s| s.values().filter(|v| !v.is_null()).count())
        })
        .sum();
    assert!(expected > 0);
    let with_values = table.iter().filter(|r| !r[2].is_null()).count();
    assert_eq!(with_values, expected, "{basis}");
    for row in table {
        let (zone, group) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
        assert_eq!(row[3], basis);
        assert_eq!(
            row[2].as_f64(),
            shares(&day["zones"][zone])[group].as_f64(),
            "{basis} {zone} {group}"
        );
    }
}

fn cell_ids(map: &Value) -> BTreeSet<String> {
    map["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The trend charts as drawn, one per goal.
const READ_TREND: &str = r##"
const number = (text) => text === undefined || text === "" ? null : Number(text);
return {
  ready: document.body.dataset.ready === "true",
  title: document.getElementById("trend-title").textContent,
  charts: [...document.querySelectorAll("#charts .chart")].map((box) => {
    const svg = box.querySelector("svg");
    const all = (selector) => [...box.querySelectorAll(selector)];
    const verdict = box.querySelector(".verdict");
    const path = box.querySelector("path.goal-path");
    const level = (cls) => { const l = box.querySelector("line." + cls); return l ? number(l.dataset.value) : null; };
    return {
      group: box.dataset.group,
      heading: box.querySelector("h3").textContent,
      from: svg ? svg.dataset.from : null,
      to: svg ? svg.dataset.to : null,
      shown_width: svg ? svg.getBoundingClientRect().width : null,
      drawn_width: svg ? svg.viewBox.baseVal.width : null,
      steps: all("circle.step").map((c) => [c.dataset.start, number(c.dataset.value)]),
      hidden: all("rect.hidden-step").map((r) => [r.dataset.start, r.dataset.end]),
      lines: all("path.share").map((p) => [p.dataset.from, p.dataset.to]),
      rolling: all("path.rolling").map((p) => [p.dataset.from, p.dataset.to]),
      path: path ? { start: path.dataset.start, end: path.dataset.end, start_value: number(path.dataset.startValue),
                     end_value: number(path.dataset.endValue), corners: (path.getAttribute("d").match(/L/g) || []).length } : null,
      target: level("target"),
      baseline: level("baseline"),
      verdict: verdict.textContent,
      gap: number(verdict.dataset.gap),
      value: number(verdict.dataset.value),
      verdict_basis: verdict.dataset.basis,
      legend: box.querySelector(".chart-legend") ? box.querySelector(".chart-legend").textContent : "",
      x_ticks: all("text.tick.x").length,
      y_ticks: all("text.tick.y").map((t) => t.textContent),
    };
  }),
};
"##;

/// The hex map as drawn: each hexagon's cell and kind, the outlines, the legend.
const READ_MAP: &str = r##"
const svg = document.querySelector("#map svg");
return {
  title: document.getElementById("map-title").textContent,
  colour: svg ? svg.dataset.colour : null,
  cells: [...document.querySelectorAll("#map polygon")].map((p) => [p.dataset.cell, p.dataset.kind, p.getAttribute("fill")]),
  outlines: [...document.querySelectorAll("#map path.outline")].map((p) => [p.dataset.zone, p.classList.contains("chosen")]),
  legend: document.getElementById("legend").textContent,
  why: Object.fromEntries([...document.querySelectorAll("#legend [data-cells]")]
    .map((e) => [e.dataset.cells, { count: Number(e.dataset.count), text: e.textContent }])),
  note: document.getElementById("map-note").textContent,
};
"##;

/// Chooses `value` in the page's `<select id=…>`, as a person would.
fn choose(browser: &Browser, select: &str, value: &str) {
    browser.execute(&format!(
        r#"const s = document.getElementById({select:?}); s.value = {value:?};
           s.dispatchEvent(new Event("change")); return null;"#
    ));
}

/// What a download link gives: its file name and text, byte-order mark included (none while a
/// refresh replaces it).
fn download(browser: &Browser, link: &str) -> (String, String) {
    common::poll_until(&format!("the download {link}"), 30, || {
        let got = browser.execute_async(&format!(
            r#"const done = arguments[arguments.length - 1];
               const a = document.getElementById({link:?});
               fetch(a.href).then((r) => r.arrayBuffer())
                 .then((bytes) => done({{ name: a.download,
                                          text: new TextDecoder("utf-8", {{ ignoreBOM: true }}).decode(bytes) }}),
                                                      (e) => done({{ error: String(e) }}));"#
        ));
        Some((
            got["name"].as_str()?.to_owned(),
            got["text"].as_str()?.to_owned(),
        ))
    })
}

/// A CSV download as rows of fields keyed by the header. The page's files hold no quoted
/// fields (no name or list in them has a comma), which this checks before splitting.
fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let text = text
        .strip_prefix('\u{feff}')
        .expect("a byte-order mark for spreadsheets");
    assert!(!text.contains('"'), "{text}");
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), header.len(), "{line}");
            header
                .iter()
                .zip(fields)
                .map(|(h, f)| ((*h).to_owned(), f.to_owned()))
                .collect()
        })
        .collect()
}

/// A CSV field as the API number it holds: empty for a hidden (null) or absent one.
fn csv_number(field: &str) -> Value {
    if field.is_empty() {
        Value::Null
    } else {
        json!(field.parse::<f64>().unwrap())
    }
}

/// Every number as a float: JavaScript writes 22.0 as 22.
fn as_f64(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => items.iter().map(as_f64).collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), as_f64(v))).collect(),
        other => other.clone(),
    }
}

fn date(text: &str) -> Date {
    text.parse().unwrap()
}

/// Days from 1970-01-01 to a civil date, as the page counts them.
fn day_number(d: Date) -> f64 {
    d.since(Date::constant(1970, 1, 1)).unwrap().get_days() as f64
}

/// The goal path of docs/metrics.md at a day number: from the baseline on 1 July of its year
/// to the target at the start of the target date, then the target.
fn goal_path(goal: &Value, day: f64) -> f64 {
    let target = goal["target"].as_f64().unwrap();
    let baseline = goal["baseline"].as_f64().unwrap();
    let year = goal["baseline_year"].as_i64().unwrap() as i16;
    let t0 = day_number(Date::new(year, 7, 1).unwrap());
    let t1 = day_number(date(goal["target_date"].as_str().unwrap()));
    if day >= t1 {
        target
    } else {
        baseline + (target - baseline) * (day - t0) / (t1 - t0)
    }
}

/// A step's middle, in day numbers: between its first day's start and its last day's end.
fn middle(step: &Value) -> f64 {
    (day_number(date(step["start"].as_str().unwrap()))
        + day_number(date(step["end"].as_str().unwrap()))
        + 1.0)
        / 2.0
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// A goal's chart against its series from `/api/series`: a dot per shown step with its share,
/// the hidden steps hatched and never crossed by a line, the goal, the baseline, and the goal
/// path from the first step with trips to the end of the last.
fn assert_chart(chart: &Value, goal: &Value, series: &Value, hidden: &[&str]) {
    let group = goal["group"].as_str().unwrap();
    assert_eq!(chart["group"], goal["group"]);
    let all = series["steps"].as_array().unwrap();
    let first = all
        .iter()
        .position(|s| s["total_person_trips"] != json!(0.0))
        .unwrap();
    let steps = &all[first..];
    let shown: Vec<Value> = steps
        .iter()
        .filter(|s| !s["share"].is_null())
        .map(|s| json!([s["start"], s["share"]]))
        .collect();
    assert!(shown.len() > 5, "{group}: {series}");
    assert_eq!(
        chart["steps"],
        json!(shown),
        "{group}: a dot per shown step"
    );
    // Hidden steps are hatched, and no line crosses them: a gap, not a zero.
    for day in hidden {
        let step = steps.iter().find(|s| s["start"] == *day).unwrap();
        assert!(step["share"].is_null() && step["total_person_trips"].is_null());
        assert!(
            chart["hidden"]
                .as_array()
                .unwrap()
                .contains(&json!([day, day])),
            "{group}: {day} hatched"
        );
        for kind in ["lines", "rolling"] {
            for segment in chart[kind].as_array().unwrap() {
                let (from, to) = (segment[0].as_str().unwrap(), segment[1].as_str().unwrap());
                assert!(
                    !(from <= *day && *day <= to),
                    "{group}: {kind} {segment} crosses {day}"
                );
            }
        }
    }
    for h in chart["hidden"].as_array().unwrap() {
        let step = steps.iter().find(|s| s["start"] == h[0]).unwrap();
        assert!(step["share"].is_null() && step["total_person_trips"] != json!(0.0));
    }
    assert!(!chart["lines"].as_array().unwrap().is_empty());
    assert!(!chart["rolling"].as_array().unwrap().is_empty());
    // The goal, the baseline and the goal path across the chart.
    assert_eq!(chart["target"], goal["target"]);
    assert_eq!(chart["baseline"], goal["baseline"]);
    let x0 = day_number(date(steps[0]["start"].as_str().unwrap()));
    let x1 = day_number(date(steps.last().unwrap()["end"].as_str().unwrap())) + 1.0;
    let path = &chart["path"];
    assert!(
        close(path["start_value"].as_f64().unwrap(), goal_path(goal, x0)),
        "{group}: {path}"
    );
    assert!(
        close(path["end_value"].as_f64().unwrap(), goal_path(goal, x1)),
        "{group}: {path}"
    );
    let due = day_number(date(goal["target_date"].as_str().unwrap()));
    let bends = usize::from(x0 < due && due < x1);
    assert_eq!(
        path["corners"],
        json!(1 + bends),
        "{group}: bends at the target date"
    );
    // The legend names every line.
    let legend = chart["legend"].as_str().unwrap();
    for says in [
        "share per",
        "rolling mean",
        "goal path",
        "goal ",
        "baseline",
        "hidden under the k rule",
    ] {
        assert!(legend.contains(says), "{group}: {legend:?} lacks {says:?}");
    }
    assert!(chart["x_ticks"].as_u64().unwrap() >= 1);
    assert!(chart["y_ticks"].as_array().unwrap().contains(&json!("0 %")));
}

/// The steps of a series from its first step with trips on.
fn with_trips(series: &Value) -> &[Value] {
    let all = series["steps"].as_array().unwrap();
    let first = all
        .iter()
        .position(|s| s["total_person_trips"] != json!(0.0))
        .unwrap();
    &all[first..]
}

/// The steps with trips up to the last one shown: the verdict skips a latest step the k rule
/// still hides (today's, early in the day), as the page does.
fn shown_so_far(series: &Value) -> &[Value] {
    let steps = with_trips(series);
    let shown = steps
        .iter()
        .rposition(|s| !s["share"].is_null())
        .map_or(0, |i| i + 1);
    &steps[..shown]
}

/// The chart's verdict: the share of the last `rolling` steps' trips together against the goal
/// path at the last step — on the measured basis where those steps measured every mode the
/// survey has, else on the filled basis (`filled`), saying which modes the measured share
/// leaves out.
fn assert_verdict(
    chart: &Value,
    goal: &Value,
    series: &Value,
    filled: Option<&Value>,
    survey: &Value,
    rolling: usize,
) {
    let group = goal["group"].as_str().unwrap();
    let steps = shown_so_far(series);
    let last = &steps[steps.len() - rolling..];
    let surveyed: Vec<&str> = survey["shares"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| s.as_f64().unwrap() > 0.0)
        .map(|(m, _)| m.as_str())
        .collect();
    let left_out: Vec<&str> = surveyed
        .into_iter()
        .filter(|m| {
            last.iter()
                .any(|s| !s["measured_modes"].as_array().unwrap().contains(&json!(m)))
        })
        .collect();
    let judged = if series["basis"] == "measured" && !left_out.is_empty() {
        filled.unwrap()
    } else {
        series
    };
    assert_eq!(chart["verdict_basis"], judged["basis"], "{group}: {chart}");
    let verdict = chart["verdict"].as_str().unwrap();
    if judged != series {
        for mode in &left_out {
            assert!(
                verdict.contains(&mode.replace('_', " ")),
                "{group}: {verdict:?} lacks {mode}"
            );
        }
        assert!(verdict.contains("leaves out"), "{verdict:?}");
    }
    let steps = shown_so_far(judged);
    let last = &steps[steps.len() - rolling..];
    assert!(
        last.iter().all(|s| !s["share"].is_null()),
        "{group}: the last steps are shown"
    );
    let part: f64 = last
        .iter()
        .map(|s| s["person_trips"].as_f64().unwrap())
        .sum();
    let total: f64 = last
        .iter()
        .map(|s| s["total_person_trips"].as_f64().unwrap())
        .sum();
    let mean = part / total;
    let at = middle(steps.last().unwrap());
    let gap = mean - goal_path(goal, at);
    assert!(
        close(chart["value"].as_f64().unwrap(), mean),
        "{group}: {chart}"
    );
    assert!(
        close(chart["gap"].as_f64().unwrap(), gap),
        "{group}: {chart}"
    );
    let due = day_number(date(goal["target_date"].as_str().unwrap()));
    let points = format!("{:.1} points", gap.abs() * 100.0);
    let target = goal["target"].as_f64().unwrap();
    let expected = if mean >= target {
        "Goal met".to_owned()
    } else if at < due && gap >= 0.0 {
        format!("On track: {points} above the goal path")
    } else if at < due {
        format!("Behind the goal path by {points}")
    } else {
        format!("Behind by {points}")
    };
    assert!(
        verdict.starts_with(&expected),
        "{group}: {verdict:?}, expected {expected:?}"
    );
}

/// The survey's largest modes, by share, until they make up half of its travel.
fn largest_modes(survey: &Value) -> Vec<String> {
    let mut shares: Vec<(String, f64)> = survey["shares"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(m, s)| (m.clone(), s.as_f64().unwrap()))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut sum = 0.0;
    let mut out = Vec::new();
    for (mode, share) in shares {
        if sum >= 0.5 {
            break;
        }
        out.push(mode);
        sum += share;
    }
    out
}

/// The modes the survey has a share for that are not measured in `zone` in `window`.
fn unmeasured(zones: &Value, window: &str, zone: &str) -> Vec<String> {
    let measured = &window_view(zones, window)["zones"][zone]["coverage"]["measured_modes"];
    let measured: BTreeSet<&str> = measured
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    zones["survey"]["shares"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(m, s)| s.as_f64().unwrap() > 0.0 && !measured.contains(m.as_str()))
        .map(|(m, _)| m.clone())
        .collect()
}

/// What the map may show for each cell of `map` (a `/api/cells` answer) coloured by `group`.
fn expected_kinds(map: &Value, zones: &Value, group: &str) -> BTreeMap<String, String> {
    let zone = map["zone"].as_str().unwrap();
    let missing = unmeasured(zones, map["window"].as_str().unwrap(), zone);
    let largest = largest_modes(&zones["survey"]);
    map["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let p = &f["properties"];
            let kind = if !missing.is_empty() {
                "unmeasured"
            } else if largest.iter().any(|m| p["person_trips"].get(m).is_none()) {
                "unobserved"
            } else if p["shares"][group].is_null() {
                "hidden"
            } else {
                "share"
            };
            (p["cell"].as_str().unwrap().to_owned(), kind.to_owned())
        })
        .collect()
}

fn kinds(page_map: &Value) -> BTreeMap<String, String> {
    page_map["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_str().unwrap().to_owned(),
                c[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The simulated city over the 45 days before the last day at a tenth of the volume, with
/// `hidden` (a local date 20 days before the end) left with three walks — fewer than k — and
/// the last day at full volume, with a dozen car passengers and a dozen trips of other modes
/// in Bærum so that every mode of the survey is measured there. Returns the two files, their
/// line count and the hidden date.
fn simulated_weeks(dir: &TempDir) -> (PathBuf, PathBuf, usize, String) {
    let generate = |args: &[&str]| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
            .arg("generate")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let clean = dir.path().join("clean.toml");
    std::fs::write(&clean, CLEAN).unwrap();
    let day = generate(&["--config", clean.to_str().unwrap(), "--events", "14000"]);
    let start_time = |line: &str| -> jiff::Timestamp {
        let e: Value = serde_json::from_str(line).unwrap();
        e["start_time"].as_str().unwrap().parse().unwrap()
    };
    let day_start = start_time(day.lines().next().unwrap());
    let tenth = dir.path().join("tenth.toml");
    std::fs::write(&tenth, format!("{CLEAN}scale = 0.1\n")).unwrap();
    let begin = day_start - jiff::SignedDuration::from_hours(45 * 24);
    let history = generate(&[
        "--config",
        tenth.to_str().unwrap(),
        "--start",
        &begin.to_string(),
        "--events",
        "140000",
    ]);
    let oslo = jiff::tz::TimeZone::get("Europe/Oslo").unwrap();
    let local = |t: jiff::Timestamp| oslo.to_datetime(t).date();
    let hidden = local(day_start) - jiff::Span::new().days(20);
    let mut kept: Vec<&str> = history
        .lines()
        .filter(|l| {
            let t = start_time(l);
            t < day_start && local(t) != hidden
        })
        .collect();
    assert!(kept.len() > 100_000, "45 days at a tenth");
    let noon = oslo.to_timestamp(hidden.at(12, 0, 0, 0)).unwrap();
    let few: Vec<String> = (0..3)
        .map(|i| {
            json!({ "kind": "trip", "id": format!("few-{i}"), "source": "page-test", "mode": "walk",
                    "start_time": (noon + jiff::SignedDuration::from_mins(i)).to_string(),
                    "origin": { "lat": 59.8905, "lon": 10.523 } })
            .to_string()
        })
        .collect();
    kept.extend(few.iter().map(String::as_str));
    kept.sort_by_cached_key(|l| start_time(l));
    let history = kept.join("\n") + "\n";
    // Car passengers and other modes nobody simulates, in Bærum (Sandvika) on the last day,
    // in time order with the rest.
    let later = day_start + jiff::SignedDuration::from_hours(6);
    let extra: Vec<String> = ["car_passenger", "other"]
        .iter()
        .cycle()
        .take(24)
        .enumerate()
        .map(|(i, mode)| {
            json!({ "kind": "trip", "id": format!("extra-{i}"), "source": "page-test", "mode": mode,
                    "start_time": (later + jiff::SignedDuration::from_mins(i as i64)).to_string(),
                    "origin": { "lat": 59.8905, "lon": 10.523 } })
            .to_string()
        })
        .collect();
    let mut last: Vec<&str> = day
        .lines()
        .chain(extra.iter().map(String::as_str))
        .collect();
    last.sort_by_cached_key(|l| start_time(l));
    let day = last.join("\n") + "\n";
    let lines = history.lines().count() + day.lines().count();
    let (h, d) = (
        dir.path().join("weeks.ndjson"),
        dir.path().join("day.ndjson"),
    );
    std::fs::write(&h, &history).unwrap();
    std::fs::write(&d, day).unwrap();
    (h, d, lines, hidden.to_string())
}

/// The simulator without broken or repeated events (other tests check those), so that every
/// line has its time.
const CLEAN: &str = "[simulator]\nbad_fraction = 0.0\nduplicate_fraction = 0.0\n";

fn save_screenshot(browser: &Browser, name: &str) {
    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let screenshots = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    std::fs::write(screenshots.join(name), &png).unwrap();
}

#[test]
fn the_live_page_shows_the_apis_numbers_the_trend_and_an_honest_map() {
    requires!(Tool::Chromium);
    // The simulated weeks read once: the numbers stand still while the page and the test read
    // them.
    let dir = TempDir::new("page");
    let (weeks, last_day, lines, hidden) = simulated_weeks(&dir);
    let service = Service::start(&[
        "--input",
        weeks.to_str().unwrap(),
        "--input",
        last_day.to_str().unwrap(),
    ]);
    service.wait_until_read(lines);
    // Places and days are summed again at most every 5 s: wait until they are of the final state.
    let zones = service.wait_for("the hex map of the final state", 30, |s| {
        let zones = s.json("/api/zones");
        (s.json("/api/cells")["watermark"] == zones["watermark"]).then_some(zones)
    });
    let day = window_view(&zones, "24h");
    let baerum = service.json("/api/cells?window=24h&zone=B%C3%A6rum");
    assert!(cell_ids(&baerum).len() > 20);

    // Tall enough for the trend, the gauges, the table and the map in one screenshot.
    let browser = Browser::start(1280, 1480);
    browser.navigate(&format!("http://{}/", service.address));
    let page = browser.wait_for("the page drawn", 30, READ_PAGE, |v| {
        (v["ready"] == true).then(|| v.clone())
    });
    assert_eq!(page["external"], 0, "the page loads nothing from elsewhere");
    // Goal gauges: Bærum (the first zone) over 24h, exactly the API's shares.
    for goal in zones["goals"].as_array().unwrap() {
        let group = goal["group"].as_str().unwrap();
        // Numbers as the page's JavaScript holds them: the same doubles.
        assert_eq!(
            page["gauges"][group].as_f64(),
            day["zones"]["Bærum"]["shares"][group].as_f64(),
            "gauge {group}"
        );
    }
    // The filled basis beside each gauge.
    for goal in zones["goals"].as_array().unwrap() {
        let group = goal["group"].as_str().unwrap();
        let filled = day["zones"]["Bærum"]["filled"]["shares"][group].as_f64();
        assert!(filled.is_some(), "the simulated day has a filled basis");
        assert_eq!(
            page["filled"][group].as_f64(),
            filled,
            "filled gauge {group}"
        );
    }
    // The zone table: every zone and group, measured, with the coverage beside.
    assert_table(&page, day, "measured");
    for row in page["coverage"].as_array().unwrap() {
        let zone = row[0].as_str().unwrap();
        assert_eq!(
            row[1].as_f64(),
            day["zones"][zone]["coverage"]["survey_share_measured"].as_f64(),
            "{zone} coverage"
        );
    }
    assert_eq!(page["coverage"].as_array().unwrap().len(), 3);
    // Distance bands of Bærum: every band with shares, exactly the API's.
    let bands = page["bands"].as_array().unwrap();
    let mut shown = 0;
    for band in day["zones"]["Bærum"]["distance_bands"].as_array().unwrap() {
        for (group, share) in band["shares"].as_object().unwrap() {
            let row = bands
                .iter()
                .find(|r| r[0] == band["band"] && r[1] == group.as_str())
                .unwrap_or_else(|| panic!("band {} {group} not shown", band["band"]));
            assert_eq!(row[2].as_f64(), share.as_f64());
            shown += 1;
        }
    }
    assert!(shown > 0, "the simulated day has trips with a distance");
    let with_share = bands.iter().filter(|r| !r[2].is_null()).count();
    assert_eq!(with_share, shown, "no share the API does not have");
    // First and last mile: the share, and the stop places of /api/stops in its order.
    let access = &day["zones"]["Bærum"]["transit_access"];
    assert!(access["share"].as_f64().is_some_and(|s| s > 0.0));
    assert_eq!(page["access"], access["share"]);
    let stops = service.json("/api/stops?window=24h&zone=B%C3%A6rum");
    let named = |stops: &Value| -> Vec<(String, Option<f64>)> {
        stops
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s[0].as_str().unwrap().to_owned(), s[1].as_f64()))
            .collect()
    };
    let listed: Vec<Value> = stops["stops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!([s["stop"], s["total_person_trips"]]))
        .collect();
    assert!(!listed.is_empty(), "stop places pass k in a simulated day");
    assert_eq!(named(&page["stops"]), named(&Value::Array(listed)));
    // One hexagon per published cell.
    let drawn: BTreeSet<String> = page["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(drawn, cell_ids(&baerum));
    assert_eq!(page["cells"].as_array().unwrap().len(), drawn.len());

    // The trend: each goal's share per day over the 90 days /api/series gives by default, with
    // the hidden day a gap. The default goals were due on 2025-12-31: the path is the goal.
    let goals = zones["goals"].as_array().unwrap();
    let series = |group: &str, query: &str| {
        service.json(&format!("/api/series?zone=B%C3%A6rum&group={group}{query}"))
    };
    let trend = browser.execute(READ_TREND);
    assert_eq!(trend["charts"].as_array().unwrap().len(), goals.len());
    for (chart, goal) in trend["charts"].as_array().unwrap().iter().zip(goals) {
        let group = goal["group"].as_str().unwrap();
        let measured = series(group, "&step=day");
        let filled = series(group, "&step=day&basis=filled");
        assert_chart(chart, goal, &measured, &[&hidden]);
        // Car passengers were counted on the last day only: the week before leaves them out,
        // so the verdict is judged on the filled basis.
        assert_verdict(chart, goal, &measured, Some(&filled), &zones["survey"], 7);
        assert_eq!(chart["verdict_basis"], "filled");
        assert!(chart["verdict"].as_str().unwrap().starts_with("Behind by"));
    }

    // The map: coloured by density by default, with every zone's outline, Bærum's solid.
    let map = browser.execute(READ_MAP);
    assert_eq!(map["colour"], "density");
    let fills: BTreeSet<&str> = map["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c[1], "density", "{c}");
            c[2].as_str().unwrap()
        })
        .collect();
    assert!(fills.len() > 5, "a sequential scale: {fills:?}");
    assert!(
        map["legend"]
            .as_str()
            .unwrap()
            .contains("Person trips per km²")
    );
    let outlines = service.json("/api/outlines");
    let outlined: Vec<Value> = outlines["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| json!([f["properties"]["name"], f["properties"]["name"] == "Bærum"]))
        .collect();
    assert_eq!(map["outlines"], json!(outlined));
    assert!(
        map["note"].as_str().unwrap().contains("Kartverket"),
        "{}",
        map["note"]
    );

    // The downloads hold what the API gave, hidden numbers empty.
    let (name, text) = download(&browser, "download-zones");
    assert!(name.ends_with(".csv") && name.contains("24h"), "{name}");
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 6, "three zones on both bases");
    for row in &rows {
        let zone = &day["zones"][row["zone"].as_str()];
        let numbers = if row["basis"] == "filled" {
            &zone["filled"]
        } else {
            zone
        };
        assert_eq!(row["window"], "24h");
        assert_eq!(
            csv_number(&row["total_person_trips"]),
            numbers["total_person_trips"]
        );
        for (group, share) in numbers["shares"].as_object().unwrap() {
            assert_eq!(
                csv_number(&row[&format!("{group}_share")]),
                *share,
                "{row:?}"
            );
        }
    }
    let (_, text) = download(&browser, "download-series");
    let rows = csv_rows(&text);
    for goal in goals {
        let group = goal["group"].as_str().unwrap();
        let steps = series(group, "&step=day");
        let steps = steps["steps"].as_array().unwrap();
        let mine: Vec<_> = rows.iter().filter(|r| r["group"] == group).collect();
        assert_eq!(mine.len(), steps.len(), "{group}");
        for (row, step) in mine.iter().zip(steps) {
            assert_eq!(row["start"], step["start"].as_str().unwrap());
            for key in ["person_trips", "total_person_trips", "share"] {
                assert_eq!(csv_number(&row[key]), step[key], "{group} {key} {row:?}");
            }
        }
        let hidden_row = mine.iter().find(|r| r["start"] == hidden).unwrap();
        assert_eq!(hidden_row["share"], "", "hidden stays empty");
        assert_eq!(hidden_row["total_person_trips"], "", "hidden stays empty");
    }
    let (name, text) = download(&browser, "download-cells");
    assert!(name.ends_with(".geojson"), "{name}");
    let cells: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(cells["type"], "FeatureCollection");
    assert_eq!(cell_ids(&cells), cell_ids(&baerum));
    for (mine, theirs) in cells["features"]
        .as_array()
        .unwrap()
        .iter()
        .zip(baerum["features"].as_array().unwrap())
    {
        let (p, q) = (&mine["properties"], &theirs["properties"]);
        assert_eq!(as_f64(&mine["geometry"]), as_f64(&theirs["geometry"]));
        assert_eq!(
            as_f64(&p["total_person_trips"]),
            as_f64(&q["total_person_trips"])
        );
        for (mode, trips) in q["person_trips"].as_object().unwrap() {
            let mine = &p[&format!("person_trips_{mode}")];
            assert_eq!(as_f64(mine), as_f64(trips), "{p}");
        }
        for (group, share) in q["shares"].as_object().unwrap() {
            assert_eq!(as_f64(&p[&format!("share_{group}")]), as_f64(share), "{p}");
        }
    }

    save_screenshot(&browser, "live-page.png");

    // Coloured by the sustainable share, only the cells where nothing of it is filled from the
    // survey: every surveyed mode is measured in Bærum today (car passengers and other modes
    // were added), and only cells with car drivers and walks observed are coloured.
    assert!(unmeasured(&zones, "24h", "Bærum").is_empty());
    assert_eq!(largest_modes(&zones["survey"]), ["car_driver", "walk"]);
    choose(&browser, "colour", "sustainable");
    let expected = expected_kinds(&baerum, &zones, "sustainable");
    let count = |kind: &str| expected.values().filter(|k| *k == kind).count();
    assert!(
        count("share") >= 1 && count("unobserved") > count("share"),
        "{expected:?}"
    );
    let map = browser.wait_for("the map by share", 30, READ_MAP, |v| {
        (v["colour"] == "sustainable").then(|| v.clone())
    });
    assert_eq!(kinds(&map), expected);
    let why = &map["why"]["unobserved"];
    assert_eq!(why["count"], json!(count("unobserved")));
    let text = why["text"].as_str().unwrap();
    assert!(text.contains("no car driver or no walk observed"), "{text}");

    // The filled basis in the table, and in the trend.
    choose(&browser, "basis", "filled");
    let filled = browser.wait_for("the filled table", 30, READ_PAGE, |v| {
        let rows = v["table"].as_array()?;
        rows.iter().all(|r| r[3] == "filled").then(|| v.clone())
    });
    assert_table(&filled, day, "filled");
    let trend = browser.wait_for("the filled trend", 30, READ_TREND, |v| {
        v["title"].as_str()?.contains("filled").then(|| v.clone())
    });
    let goal = &goals[0];
    let group = goal["group"].as_str().unwrap();
    let chart = &trend["charts"][0];
    let filled = series(group, "&step=day&basis=filled");
    assert_chart(chart, goal, &filled, &[&hidden]);
    assert_verdict(chart, goal, &filled, None, &zones["survey"], 7);

    // Weekly steps over 52 ISO weeks up to the watermark's date.
    choose(&browser, "step", "week");
    let trend = browser.wait_for("the weekly trend", 30, READ_TREND, |v| {
        v["title"].as_str()?.contains("per week").then(|| v.clone())
    });
    let to = date(series(group, "").get("to").unwrap().as_str().unwrap());
    let monday = to - jiff::Span::new().days(i64::from(to.weekday().to_monday_zero_offset()));
    let from = monday - jiff::Span::new().weeks(51);
    let weekly = series(
        group,
        &format!("&step=week&basis=filled&from={from}&to={to}"),
    );
    assert_chart(&trend["charts"][0], goal, &weekly, &[]);
    assert_verdict(
        &trend["charts"][0],
        goal,
        &weekly,
        None,
        &zones["survey"],
        4,
    );
    choose(&browser, "step", "day");
    choose(&browser, "basis", "measured");

    // Choosing another zone maps that zone; in Fornebu no share may colour a cell: cars, rail
    // and the metro are not measured there, and the legend says so.
    choose(&browser, "zone", "Fornebu");
    let fornebu = service.json("/api/cells?window=24h&zone=Fornebu");
    assert!(!cell_ids(&fornebu).is_empty() && cell_ids(&fornebu).len() < drawn.len());
    let map = browser.wait_for("the Fornebu map", 30, READ_MAP, |v| {
        let cells: BTreeSet<String> = v["cells"]
            .as_array()?
            .iter()
            .filter_map(|c| c[0].as_str().map(str::to_owned))
            .collect();
        (v["title"].as_str()?.contains("Fornebu") && cells == cell_ids(&fornebu)).then(|| v.clone())
    });
    let missing = unmeasured(&zones, "24h", "Fornebu");
    assert!(missing.contains(&"car_driver".to_owned()), "{missing:?}");
    assert!(kinds(&map).values().all(|k| k == "unmeasured"), "{map}");
    let why = &map["why"]["unmeasured"];
    assert_eq!(why["count"], json!(cell_ids(&fornebu).len()));
    let text = why["text"].as_str().unwrap();
    for mode in &missing {
        assert!(
            text.contains(&mode.replace('_', " ")),
            "{text} lacks {mode}"
        );
    }
    assert!(text.contains("not measured in Fornebu"), "{text}");
    let chosen: Vec<&Value> = map["outlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o[1] == true)
        .collect();
    assert_eq!(chosen, [&json!(["Fornebu", true])]);

    // On a phone: nothing wider than the screen, and the charts drawn at the width they are
    // shown at, so that their text keeps its size.
    browser.resize(390, 844);
    let trend = browser.wait_for("the charts at a phone's width", 30, READ_TREND, |v| {
        let charts = v["charts"].as_array()?;
        charts
            .iter()
            .all(|c| c["drawn_width"].as_f64().is_some_and(|w| w < 390.0))
            .then(|| v.clone())
    });
    for chart in trend["charts"].as_array().unwrap() {
        let (shown, drawn) = (
            chart["shown_width"].as_f64().unwrap(),
            chart["drawn_width"].as_f64().unwrap(),
        );
        assert!(
            (shown - drawn).abs() < 2.0,
            "{shown} px shown, {drawn} drawn"
        );
    }
    let widths =
        browser.execute("return [document.documentElement.scrollWidth, window.innerWidth];");
    assert!(
        widths[0].as_f64().unwrap() <= widths[1].as_f64().unwrap(),
        "the page scrolls sideways on a phone: {widths}"
    );
    save_screenshot(&browser, "live-page-phone.png");
    service.stop("TERM", 10);
}

#[test]
fn the_goal_path_bends_at_the_target_date_and_says_on_track() {
    requires!(Tool::Chromium);
    let dir = TempDir::new("page-path");
    let (weeks, last_day, lines, hidden) = simulated_weeks(&dir);
    // Goals due inside the chart and after it, so that the path bends for one and still climbs
    // for the other. The cycling path is halfway from 0.4 % to 4.4 % on the last day: the
    // simulated city's 3.9 % (filled) is ahead of it, and short of the goal.
    let last: Date = date(&last_day_date(&last_day));
    let year = if last >= Date::new(last.year(), 7, 15).unwrap() {
        last.year()
    } else {
        last.year() - 1
    };
    let t0 = Date::new(year, 7, 1).unwrap();
    let halfway = last + jiff::Span::new().days(last.since(t0).unwrap().get_days());
    let config = dir.path().join("goals.toml");
    std::fs::write(
        &config,
        format!(
            "[[goals]]\ngroup = \"sustainable\"\ntarget = 0.6\ntarget_date = \"{}\"\nbaseline = 0.3\nbaseline_year = {}\n\n\
             [[goals]]\ngroup = \"cycling\"\ntarget = 0.044\ntarget_date = \"{halfway}\"\nbaseline = 0.004\nbaseline_year = {year}\n",
            last - jiff::Span::new().days(10),
            last.year() - 1,
        ),
    )
    .unwrap();
    let service = Service::start(&[
        "--config",
        config.to_str().unwrap(),
        "--input",
        weeks.to_str().unwrap(),
        "--input",
        last_day.to_str().unwrap(),
    ]);
    service.wait_until_read(lines);
    let zones = service.wait_for("the days of the final state", 30, |s| {
        let zones = s.json("/api/zones");
        (s.json("/api/series")["watermark"] == zones["watermark"]).then_some(zones)
    });
    let browser = Browser::start(1280, 900);
    browser.navigate(&format!("http://{}/", service.address));
    let trend = browser.wait_for("the trend drawn", 30, READ_TREND, |v| {
        (v["ready"] == true).then(|| v.clone())
    });
    let goals = zones["goals"].as_array().unwrap();
    let charts = trend["charts"].as_array().unwrap();
    for (chart, goal) in charts.iter().zip(goals) {
        let group = goal["group"].as_str().unwrap();
        let series = |basis: &str| {
            service.json(&format!(
                "/api/series?zone=B%C3%A6rum&group={group}&step=day&basis={basis}"
            ))
        };
        let measured = series("measured");
        assert_chart(chart, goal, &measured, &[&hidden]);
        let filled = series("filled");
        assert_verdict(chart, goal, &measured, Some(&filled), &zones["survey"], 7);
    }
    assert_eq!(charts[0]["path"]["corners"], 2, "bends at the target date");
    assert!(charts[0]["path"]["start_value"].as_f64().unwrap() < 0.6);
    assert!(
        charts[0]["verdict"]
            .as_str()
            .unwrap()
            .starts_with("Behind by")
    );
    assert_eq!(charts[1]["path"]["corners"], 1);
    assert!(
        charts[1]["verdict"]
            .as_str()
            .unwrap()
            .starts_with("On track"),
        "{}",
        charts[1]["verdict"]
    );
    service.stop("TERM", 10);
}

/// The local date (Europe/Oslo) of the last event of an NDJSON file.
fn last_day_date(file: &std::path::Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let e: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let t: jiff::Timestamp = e["start_time"].as_str().unwrap().parse().unwrap();
    let oslo = jiff::tz::TimeZone::get("Europe/Oslo").unwrap();
    oslo.to_datetime(t).date().to_string()
}
