//! The live page at `/` in a real headless browser (Debian's Chromium through WebDriver):
//! it loads, shows the shares `/api/zones` returns in its goal gauges and zone table, draws
//! one hexagon per cell `/api/cells` returns, follows a change of zone, and leaves a
//! screenshot in `target/screenshots/live-page.png`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::browser::Browser;
use common::{Service, TempDir, repo_root, window_view};
use serde_json::Value;

/// What the page shows, read from its DOM.
const READ_PAGE: &str = r##"
const value = (el) => el.dataset.value === "" ? null : Number(el.dataset.value);
return {
  ready: document.body.dataset.ready === "true",
  title: document.getElementById("map-title").textContent,
  gauges: Object.fromEntries([...document.querySelectorAll("[data-share]")]
    .map((el) => [el.dataset.share, value(el)])),
  table: [...document.querySelectorAll("tr[data-zone] td[data-group]")]
    .map((td) => [td.closest("tr").dataset.zone, td.dataset.group, value(td)]),
  cells: [...document.querySelectorAll("#map polygon")].map((p) => p.dataset.cell),
  external: [...document.querySelectorAll("script[src], link[href], img[src]")].length,
};
"##;

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
    // The zone table: every zone and group.
    let table = page["table"].as_array().unwrap();
    let expected: usize = day["zones"]
        .as_object()
        .unwrap()
        .values()
        .map(|z| z["shares"].as_object().unwrap().len())
        .sum();
    assert_eq!(table.len(), expected);
    for row in table {
        let (zone, group) = (row[0].as_str().unwrap(), row[1].as_str().unwrap());
        assert_eq!(
            row[2].as_f64(),
            day["zones"][zone]["shares"][group].as_f64(),
            "{zone} {group}"
        );
    }
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
