//! The live page at `/` in a real headless browser (Debian's Chromium through WebDriver):
//! it loads, shows the shares `/api/zones` returns in its goal gauges (measured and filled),
//! its zone table (on either basis, with the coverage beside), its distance bands and its first
//! and last mile, lists the stop places `/api/stops` returns, draws one hexagon per cell
//! `/api/cells` returns, follows a change of zone, and leaves a screenshot in
//! `target/screenshots/live-page.png`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::browser::Browser;
use common::{Service, TempDir, Tool, repo_root, requires, window_view};
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

#[test]
fn the_live_page_shows_the_apis_shares_and_draws_its_hexagons() {
    requires!(Tool::Chromium);
    // A simulated day read once: the numbers stand still while the page and the test read them.
    let dir = TempDir::new("page");
    let events = dir.path().join("day.ndjson");
    let out = Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["generate", "--events", "14000"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&events, &out.stdout).unwrap();
    let lines = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let service = Service::start(&["--input", events.to_str().unwrap()]);
    service.wait_until_read(lines);
    // Places are summed again at most every 5 s: wait until they are of the final state.
    let zones = service.wait_for("the hex map of the final state", 30, |s| {
        let zones = s.json("/api/zones");
        (s.json("/api/cells")["watermark"] == zones["watermark"]).then_some(zones)
    });
    let day = window_view(&zones, "24h");
    let baerum = service.json("/api/cells?window=24h&zone=B%C3%A6rum");
    assert!(cell_ids(&baerum).len() > 20);

    let browser = Browser::start(1280, 800);
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

    let png = browser.screenshot();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let screenshots = repo_root().join("target/screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    std::fs::write(screenshots.join("live-page.png"), &png).unwrap();

    // The filled basis in the table.
    browser.execute(
        r#"const s = document.getElementById("basis"); s.value = "filled";
           s.dispatchEvent(new Event("change")); return null;"#,
    );
    let filled = browser.wait_for("the filled table", 30, READ_PAGE, |v| {
        let rows = v["table"].as_array()?;
        rows.iter().all(|r| r[3] == "filled").then(|| v.clone())
    });
    assert_table(&filled, day, "filled");

    // Choosing another zone maps that zone.
    browser.execute(
        r#"const s = document.getElementById("zone"); s.value = "Fornebu";
           s.dispatchEvent(new Event("change")); return null;"#,
    );
    let fornebu = cell_ids(&service.json("/api/cells?window=24h&zone=Fornebu"));
    assert!(!fornebu.is_empty() && fornebu.len() < drawn.len());
    browser.wait_for("the Fornebu map", 30, READ_PAGE, |v| {
        let cells: BTreeSet<String> = v["cells"]
            .as_array()?
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect();
        (v["title"].as_str()?.contains("Fornebu") && cells == fornebu).then_some(())
    });
    service.stop("TERM", 10);
}
