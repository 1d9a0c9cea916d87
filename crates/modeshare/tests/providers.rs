//! Polling operators' MDS Provider APIs, against a Provider API the test serves on loopback
//! (axum): two providers, MDS 2.0 behind OAuth client credentials and MDS 1.2 behind a bearer
//! token, serving the project's MDS samples (`tests/fixtures/formats/`) hour by hour with a
//! `links.next` chain of 5 pages, a 500 then success, a 429 with `Retry-After`, a page with a
//! bad trip, an empty hour, an OAuth token the API stops accepting, and a 202 for the newest
//! hour. The live report then equals `modeshare replay` of the same trips, and every served
//! page was fetched exactly once.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use common::kafka::{broker, create_topic, read_topic};
use common::{Service, TempDir, Tool, metrics, replay_report_of, repo_root, requires, sum, unique};
use serde_json::{Value, json};

const HOUR_MS: i64 = 3_600_000;
const BEARER: &str = "provider-1.2-token";

/// What the test's Provider API serves and what it was asked.
#[derive(Default)]
struct Api {
    /// (version, hour parameter) → the pages' trips.
    hours: BTreeMap<(String, String), Vec<Vec<Value>>>,
    /// The hour answered 202, per version.
    not_ready: String,
    /// Hours whose first request fails: (version, hour) → status.
    fail_once: BTreeMap<(String, String), StatusCode>,
    /// Requests served 200, as (version, hour, page).
    served: Vec<(String, String, usize)>,
    /// The same, each with the `User-Agent` that asked (it names the instance).
    fetched_by: Vec<((String, String, usize), String)>,
    /// OAuth tokens issued; the first stops being accepted after 3 requests.
    tokens_issued: usize,
    first_token_uses: usize,
    /// A page that is told of (on `held`, with who asked) and then never answered.
    hold: Option<(String, String, usize)>,
    held: Option<mpsc::Sender<String>>,
}

type Shared = Arc<Mutex<Api>>;

#[derive(serde::Deserialize)]
struct TripsQuery {
    end_time: String,
    page: Option<usize>,
}

async fn token(State(api): State<Shared>, headers: HeaderMap, body: String) -> Response {
    // client_id:client_secret = modeshare:s3cret
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if basic != "Basic bW9kZXNoYXJlOnMzY3JldA==" || !body.contains("grant_type=client_credentials")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut api = api.lock().unwrap();
    api.tokens_issued += 1;
    let token = format!("oauth-{}", api.tokens_issued);
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

async fn trips(
    State(api): State<Shared>,
    headers: HeaderMap,
    axum::extract::Path(version): axum::extract::Path<String>,
    Query(q): Query<TripsQuery>,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let holding = {
        let mut api = api.lock().unwrap();
        let asked = (version.clone(), q.end_time.clone(), q.page.unwrap_or(1));
        let holding = api.hold.as_ref() == Some(&asked);
        if holding {
            api.hold = None;
            if let Some(held) = api.held.take() {
                let _ = held.send(agent.clone());
            }
        }
        holding
    };
    if holding {
        return std::future::pending::<Response>().await;
    }
    let mut api = api.lock().unwrap();
    if version == "v2" {
        assert_eq!(accept, "application/vnd.mds+json;version=2.0");
        if auth == "Bearer oauth-1" {
            api.first_token_uses += 1;
            if api.first_token_uses > 3 {
                return StatusCode::UNAUTHORIZED.into_response();
            }
        } else if !auth.starts_with("Bearer oauth-") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    } else {
        assert_eq!(accept, "application/vnd.mds.provider+json;version=1.2");
        if auth != format!("Bearer {BEARER}") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    let key = (version.clone(), q.end_time.clone());
    if q.end_time == api.not_ready {
        return StatusCode::ACCEPTED.into_response();
    }
    if let Some(status) = api.fail_once.remove(&key) {
        let mut answer = status.into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, "1".parse().unwrap());
        }
        return answer;
    }
    let Some(pages) = api.hours.get(&key).cloned() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let page = q.page.unwrap_or(1);
    let next = (page < pages.len())
        .then(|| format!("/{version}/trips?end_time={}&page={}", q.end_time, page + 1));
    api.served.push((version.clone(), q.end_time.clone(), page));
    api.fetched_by
        .push(((version.clone(), q.end_time.clone(), page), agent));
    let trips = pages[page - 1].clone();
    // `links.next` is absolute in MDS; the test server knows its own address only through
    // the Host header.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let next = next.map(|n| format!("http://{host}{n}"));
    axum::Json(page_body(&version, trips, next)).into_response()
}

/// The sample trips of a version, with ids made unique to `tag`.
fn sample_trips(version: &str, tag: &str) -> Vec<Value> {
    let dir = repo_root().join("tests/fixtures/formats");
    let trips: Vec<Value> = if version == "v2" {
        std::fs::read_to_string(dir.join("mds-2.0-trips.synthetic.ndjson"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    } else {
        let page: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("mds-1.2-page.synthetic.json")).unwrap(),
        )
        .unwrap();
        page["data"]["trips"].as_array().unwrap().clone()
    };
    trips
        .into_iter()
        .map(|mut t| {
            let id = format!("{}-{tag}", t["trip_id"].as_str().unwrap_or("no-id"));
            t["trip_id"] = json!(id);
            t
        })
        .collect()
}

fn hour_parameter(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()[..13].to_owned()
}

/// The Provider APIs' six hours from `first`, and every page they serve (without links).
fn scenario(first: i64) -> (Api, Vec<Value>) {
    let hour = |i: i64| hour_parameter(first + i * HOUR_MS);
    let mut api = Api {
        not_ready: hour(5),
        ..Api::default()
    };
    for version in ["v2", "v1"] {
        let v = version.to_owned();
        // Hour 0: a chain of 5 pages.
        let chain = (1..=5)
            .map(|p| sample_trips(version, &format!("h0p{p}")))
            .collect();
        api.hours.insert((v.clone(), hour(0)), chain);
        // Hour 1: a 500, then the page.
        api.hours
            .insert((v.clone(), hour(1)), vec![sample_trips(version, "h1")]);
        api.fail_once
            .insert((v.clone(), hour(1)), StatusCode::INTERNAL_SERVER_ERROR);
        // Hour 2: a 429 with Retry-After, then the page.
        api.hours
            .insert((v.clone(), hour(2)), vec![sample_trips(version, "h2")]);
        api.fail_once
            .insert((v.clone(), hour(2)), StatusCode::TOO_MANY_REQUESTS);
        // Hour 3: a page with a trip that does not decode.
        let mut bad = sample_trips(version, "h3");
        bad.push(json!({"trip_id": format!("broken-{version}"), "start_time": "soon"}));
        api.hours.insert((v.clone(), hour(3)), vec![bad]);
        // Hour 4: no trips.
        api.hours.insert((v.clone(), hour(4)), vec![Vec::new()]);
    }
    let pages = api
        .hours
        .iter()
        .flat_map(|((version, _), pages)| {
            pages
                .iter()
                .map(|trips| page_body(version, trips.clone(), None))
        })
        .collect();
    (api, pages)
}

/// A page of `trips` as the version's Provider API writes it.
fn page_body(version: &str, trips: Vec<Value>, next: Option<String>) -> Value {
    if version == "v2" {
        json!({"version": "2.0.0", "trips": trips, "links": {"next": next}})
    } else {
        json!({"version": "1.2.0", "data": {"trips": trips}, "links": {"next": next}})
    }
}

/// The first of the scenario's hours: six hours before the current one.
fn first_hour() -> i64 {
    let now = jiff::Timestamp::now().as_millisecond();
    now.div_euclid(HOUR_MS) * HOUR_MS - 6 * HOUR_MS
}

/// A configuration polling both providers of the test's API from `first`, and the report of
/// `modeshare replay` of the same `pages` with it.
fn configure(dir: &TempDir, address: &str, first: i64, pages: &[Value]) -> (PathBuf, Value) {
    configure_with(dir, address, first, pages, "")
}

/// The same, with `sections` appended to the configuration.
fn configure_with(
    dir: &TempDir,
    address: &str,
    first: i64,
    pages: &[Value],
    sections: &str,
) -> (PathBuf, Value) {
    std::fs::write(dir.path().join("client-secret"), "s3cret\n").unwrap();
    let start = jiff::Timestamp::from_millisecond(first).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[state]
dir = "{state}"
interval = "200ms"

[[providers]]
name = "voi"
url = "http://{address}/v2"
version = "2.0"
source = "voi"
start = "{start}"
delay = "0s"
interval = "1s"
token_url = "http://{address}/oauth/token"
client_id = "modeshare"
client_secret_file = "{secret}"

[[providers]]
name = "tier"
url = "http://{address}/v1"
version = "1.2"
source = "tier"
start = "{start}"
delay = "0s"
interval = "1s"
token = "{BEARER}"

# MDS 2.0 trips carry no vehicle type: the provider's is configured by its provider_id.
[formats.mds.providers."5f7114d1-4091-46ee-b492-e55875f7de00"]
source = "voi"
vehicle_type = "scooter"

{sections}
"#,
            state = dir.path().join("state").display(),
            secret = dir.path().join("client-secret").display(),
        ),
    )
    .unwrap();
    let file = dir.path().join("trips.ndjson");
    let lines: Vec<String> = pages.iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let expected = replay_report_of(&[
        OsStr::new("--config"),
        config.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("mds"),
        file.as_os_str(),
    ]);
    (config, expected)
}

#[test]
fn polled_hours_equal_a_replay_of_the_same_trips_each_page_fetched_once() {
    let first = first_hour();
    let (api, pages) = scenario(first);
    let shared: Shared = Arc::new(Mutex::new(api));
    let address = serve(shared.clone());
    let dir = TempDir::new("providers");
    let (config, expected) = configure(&dir, &address, first, &pages);
    let service = Service::start(&["--config", config.to_str().unwrap()]);
    assert!(
        expected["events"]["accepted"].as_u64().unwrap() > 50,
        "{expected}"
    );
    counted_as_replay(&service, &expected, 60);

    // /healthz: each provider waits on the 202 hour, less than an hour behind, without error.
    let health: Value = serde_json::from_str(&service.get("/healthz").1).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let providers = health["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 2, "{health}");
    for p in providers {
        assert_eq!(
            p["next_hour"],
            jiff::Timestamp::from_millisecond(first + 5 * HOUR_MS)
                .unwrap()
                .to_string(),
            "{health}"
        );
        assert!(p["behind_seconds"].as_u64().unwrap() < 3600, "{health}");
        assert!(p["last_error"].is_null(), "{health}");
    }

    // Each page of hours 0–4 fetched exactly once (retries are not served pages), and the
    // hour answered 202 is not counted as fetched.
    let metrics = common::metrics(&service.get("/metrics").1);
    let api = shared.lock().unwrap();
    let mut served = api.served.clone();
    served.sort();
    let mut unique = served.clone();
    unique.dedup();
    assert_eq!(served, unique, "a page fetched twice");
    assert_eq!(served.len(), 2 * (5 + 1 + 1 + 1 + 1), "{served:?}");
    assert_eq!(api.tokens_issued, 2, "the refused token was renewed once");
    let hours = |p: &str, o: &str| {
        common::sum(
            &metrics,
            "modeshare_provider_hours_total",
            &[("provider", p), ("outcome", o)],
        )
    };
    for provider in ["voi", "tier"] {
        assert_eq!(hours(provider, "fetched"), 4.0, "{provider}");
        assert_eq!(hours(provider, "empty"), 1.0, "{provider}");
        let next = common::sum(
            &metrics,
            "modeshare_provider_next_hour_timestamp_seconds",
            &[("provider", provider)],
        );
        assert_eq!(
            next as i64 * 1000,
            first + 5 * HOUR_MS,
            "waits on the 202 hour"
        );
        let rejected = common::sum(
            &metrics,
            "modeshare_provider_trips_total",
            &[("provider", provider), ("outcome", "rejected")],
        );
        assert!(rejected >= 1.0, "{provider}: the broken trip");
        let accepted = common::sum(
            &metrics,
            "modeshare_provider_trips_total",
            &[("provider", provider), ("outcome", "accepted")],
        );
        assert!(
            accepted >= 8.0 * 5.0,
            "{provider}: {accepted} trips accepted"
        );
    }
}

/// The live page lists each polled provider as `/healthz` has it: how far behind, and the
/// last error.
#[test]
fn the_live_page_lists_the_providers_as_healthz_has_them() {
    requires!(Tool::Chromium);
    let first = first_hour();
    let (api, pages) = scenario(first);
    let address = serve(Arc::new(Mutex::new(api)));
    let dir = TempDir::new("providers-page");
    let (config, expected) = configure(&dir, &address, first, &pages);
    let service = Service::start(&["--config", config.to_str().unwrap()]);
    counted_as_replay(&service, &expected, 60);
    let health: Value = serde_json::from_str(&service.get("/healthz").1).unwrap();
    let want: BTreeMap<String, (u64, String)> = health["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let error = p["last_error"].as_str().unwrap_or_default().to_owned();
            let name = p["name"].as_str().unwrap().to_owned();
            (name, (p["behind_seconds"].as_u64().unwrap(), error))
        })
        .collect();
    assert_eq!(want.len(), 2, "{health}");

    let browser = common::browser::Browser::start(1280, 900);
    browser.navigate(&format!("http://{}/", service.address));
    let read = r##"return {
      ready: document.body.dataset.ready === "true",
      shown: !document.getElementById("feeds-section").hidden,
      feeds: [...document.querySelectorAll("#feeds tbody tr")]
        .map((tr) => [tr.dataset.provider, Number(tr.dataset.behind), tr.dataset.error]),
    };"##;
    let page = browser.wait_for("the feeds drawn", 30, read, |v| {
        (v["ready"] == true && v["feeds"].as_array().is_some_and(|f| f.len() == 2))
            .then(|| v.clone())
    });
    assert_eq!(page["shown"], true);
    for row in page["feeds"].as_array().unwrap() {
        let name = row[0].as_str().unwrap();
        let (behind, error) = &want[name];
        // Behind grows with the clock: the page read it after the test did, within the wait.
        let shown = row[1].as_u64().unwrap();
        assert!(
            (*behind..=behind + 60).contains(&shown),
            "{name}: {shown} s behind on the page, {behind} s in /healthz"
        );
        assert_eq!(row[2].as_str(), Some(error.as_str()), "{name}: {page}");
    }
}

/// Waits until `service` has counted as many trips as `expected` (a replay's report of the
/// served pages) accepts, then checks that its places equal the replay's; its report.
fn counted_as_replay(service: &Service, expected: &Value, seconds: u64) -> Value {
    let accepted = expected["events"]["accepted"].as_u64().unwrap();
    let report = service.wait_for("every polled trip counted", seconds, |s| {
        let r = s.admin_json("/api/report");
        (r["events"]["accepted"].as_u64() == Some(accepted)).then_some(r)
    });
    for key in ["zones", "cells"] {
        assert_eq!(report[key], expected[key], "{key}");
    }
    report
}

/// Serves the Provider API on a loopback port from a thread of its own.
fn serve(api: Shared) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = Router::new()
                .route("/oauth/token", post(token))
                .route("/{version}/trips", get(trips))
                .with_state(api);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    address
}

/// `kill -9` while the service waits for page 3 of a 5-page hour: the hour's pages are delivered
/// together once all are fetched, so nothing of it is durable yet and its cursor is not moved;
/// after a restart the hour is fetched again from page 1, and the report equals replay —
/// nothing lost, nothing counted twice, nothing even read twice.
#[test]
fn kill_9_in_a_page_chain_neither_loses_nor_doubles_an_hour() {
    let first = first_hour();
    let (mut api, pages) = scenario(first);
    let (held, page_three) = mpsc::channel();
    api.hold = Some(("v2".into(), hour_parameter(first), 3));
    api.held = Some(held);
    let shared: Shared = Arc::new(Mutex::new(api));
    let address = serve(shared.clone());
    let dir = TempDir::new("providers-kill");
    let (config, expected) = configure(&dir, &address, first, &pages);
    let mut service = Service::start(&["--config", config.to_str().unwrap()]);
    page_three
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    // tier polls beside it: a kill between its delivery of an hour and that hour's cursor
    // would fetch the hour again after the restart (duplicates, as documented). The kill falls
    // once tier's hours are delivered and checkpointed, so every read counts here.
    service.wait_for("tier polled up to the 202 hour", 60, |s| {
        (next_hour(s, "tier") == Some(first + 5 * HOUR_MS)).then_some(())
    });
    service.child.kill().unwrap();
    service.child.wait().unwrap();
    drop(service);

    let service = Service::start(&["--config", config.to_str().unwrap()]);
    let report = counted_as_replay(&service, &expected, 60);
    let served = shared.lock().unwrap().served.clone();
    let first_pages = served
        .iter()
        .filter(|(v, h, p)| v == "v2" && *h == hour_parameter(first) && *p <= 2)
        .count();
    assert_eq!(
        first_pages, 4,
        "pages 1 and 2 fetched before and after the kill: {served:?}"
    );
    // Rejected trips stop at the edge: the pipeline reads only the accepted ones, once.
    assert_eq!(report["events"]["read"], expected["events"]["accepted"]);
    assert_eq!(report["events"]["duplicates"], 0);
}

/// `modeshare providers check` fetches the latest complete hour of each provider and prints
/// what it got, storing nothing: voi's hour with its trips and the broken one's reason, tier's
/// failure (the API has no such hour) with exit status 1.
#[test]
fn providers_check_prints_the_latest_hour_and_stores_nothing() {
    let first = first_hour();
    let (mut api, pages) = scenario(first);
    api.not_ready = String::new();
    let latest = hour_parameter(first + 5 * HOUR_MS);
    let mut trips = sample_trips("v2", "latest");
    trips.push(json!({"trip_id": "broken-latest", "start_time": "soon"}));
    api.hours.insert(("v2".into(), latest.clone()), vec![trips]);
    let address = serve(Arc::new(Mutex::new(api)));
    let dir = TempDir::new("providers-check");
    let (config, _) = configure(&dir, &address, first, &pages);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modeshare"))
        .args(["providers", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let voi: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("voi "))
        .collect();
    assert!(
        voi[0].contains(&latest[..10]) && voi[0].ends_with("credentials accepted"),
        "{stdout}"
    );
    assert!(
        voi[1].contains("1 page(s):") && voi[1].contains("as source \"voi\""),
        "{stdout}"
    );
    assert!(!voi[1].contains(" 0 rejected"), "the broken trip: {stdout}");
    assert!(voi.iter().any(|l| l.contains("e.g.")), "{stdout}");
    let tier = stdout.lines().find(|l| l.starts_with("tier ")).unwrap();
    assert!(
        tier.contains("FAILED (client_error)") && tier.contains("404"),
        "{stdout}"
    );
    assert!(!dir.path().join("state").exists(), "the check stored state");
}

/// With Kafka, polled trips go through the push API's ingest topic, keyed by source, and the
/// broken trips to the dead-letter topic with the provider's name; the service counts them from
/// the topic, equal to replay.
#[test]
fn with_kafka_polled_trips_go_through_the_ingest_topic() {
    requires!(Tool::Broker);
    let first = first_hour();
    let (api, pages) = scenario(first);
    let address = serve(Arc::new(Mutex::new(api)));
    let brokers = broker();
    let (topic, dead) = (unique("polled"), unique("dead"));
    create_topic(&topic, 2);
    create_topic(&dead, 1);
    let dir = TempDir::new("providers-kafka");
    let sections = format!(
        "[ingest]\ntopic = \"{topic}\"\n\
         [kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{}\"\ndead_letter_topic = \"{dead}\"\n\
         [[kafka.topics]]\nname = \"{topic}\"\nformat = \"canonical\"\n",
        unique("group")
    );
    let (config, expected) = configure_with(&dir, &address, first, &pages, &sections);
    let service = Service::start(&["--config", config.to_str().unwrap()]);
    counted_as_replay(&service, &expected, 90);
    let letters = read_topic(&brokers, &dead, 2, 30);
    let broken: Vec<&str> = letters
        .iter()
        .filter(|l| String::from_utf8_lossy(&l.payload).contains("broken-"))
        .map(|l| l.headers["modeshare.operator"].as_str())
        .collect();
    assert_eq!(broken.len(), 2, "one broken trip per provider");
    assert!(
        broken.contains(&"voi") && broken.contains(&"tier"),
        "{broken:?}"
    );
}

/// The next hour an instance's poller of `provider` stands at (ms), if it polls it.
fn next_hour(service: &Service, provider: &str) -> Option<i64> {
    let m = metrics(&service.get("/metrics").1);
    m.keys()
        .any(|(name, labels)| {
            name == "modeshare_provider_next_hour_timestamp_seconds"
                && labels.get("provider").map(String::as_str) == Some(provider)
        })
        .then(|| {
            sum(
                &m,
                "modeshare_provider_next_hour_timestamp_seconds",
                &[("provider", provider)],
            ) as i64
                * 1000
        })
}

/// Two instances of a group with Kafka (librdkafka's mock cluster, owned by this test) poll the
/// same two providers: only the holder of the providers' lease polls. It is `kill -9`ed while it
/// waits for page 2 of voi's hour 3, a 3-page hour. The other instance takes the lease over
/// after the session timeout, reads each provider's cursor from the control topic and goes on
/// from there: every page was fetched by exactly one instance, except page 1 of voi's hour 3 —
/// the hour in flight at the kill, fetched but not delivered (an hour's pages are delivered
/// once all are fetched), so its cursor still named it. Nothing was counted twice: the report
/// of the instance left, which now owns the ingest partition, equals replay, without duplicates.
/// Then that instance stops on SIGTERM and a newcomer goes on from the cursors it wrote.
#[test]
fn two_instances_with_kafka_fetch_each_page_once_across_a_lease_hand_over() {
    let first = first_hour();
    let (mut api, mut pages) = scenario(first);
    let hour3 = hour_parameter(first + 3 * HOUR_MS);
    let chain = api
        .hours
        .get_mut(&("v2".to_owned(), hour3.clone()))
        .unwrap();
    for p in 2..=3 {
        let trips = sample_trips("v2", &format!("h3p{p}"));
        pages.push(page_body("v2", trips.clone(), None));
        chain.push(trips);
    }
    let (held, holding) = mpsc::channel();
    api.hold = Some(("v2".into(), hour3.clone(), 2));
    api.held = Some(held);
    let shared: Shared = Arc::new(Mutex::new(api));
    let address = serve(shared.clone());

    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let group = unique("group");
    let (topic, dead) = (unique("polled"), unique("dead"));
    for name in [&topic, &dead, &format!("{group}.providers")] {
        cluster.create_topic(name, 1, 1).unwrap();
    }
    let dir = TempDir::new("providers-lease");
    let sections = format!(
        "[ingest]\ntopic = \"{topic}\"\n\
         [kafka]\nbrokers = \"{brokers}\"\ngroup_id = \"{group}\"\ndead_letter_topic = \"{dead}\"\n\
         create_dead_letter_topic = false\ncreate_providers_topic = false\n\
         [kafka.options]\n\"session.timeout.ms\" = 6000\n\"heartbeat.interval.ms\" = 1000\n\
         [[kafka.topics]]\nname = \"{topic}\"\nformat = \"canonical\"\n",
        brokers = cluster.bootstrap_servers(),
    );
    let (config, expected) = configure_with(&dir, &address, first, &pages, &sections);
    let args = ["--config", config.to_str().unwrap()];
    let services = [Service::start(&args), Service::start(&args)];
    let agent = holding
        .recv_timeout(std::time::Duration::from_secs(90))
        .unwrap();
    let is = |service: &Service, agent: &str| agent.ends_with(&format!("/{})", service.child.id()));
    let [holder, other] = services;
    let (mut holder, other) = if is(&holder, &agent) {
        (holder, other)
    } else {
        let swapped = (other, holder);
        assert!(is(&swapped.0, &agent), "{agent}");
        swapped
    };
    // tier's hours are all done (its cursor confirmed by the brokers) before the kill.
    holder.wait_for("tier polled up to the 202 hour", 60, |s| {
        (next_hour(s, "tier") == Some(first + 5 * HOUR_MS)).then_some(())
    });
    assert_eq!(
        next_hour(&other, "tier"),
        None,
        "the other instance polls too"
    );
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();

    let report = counted_as_replay(&other, &expected, 120);
    assert_eq!(report["events"]["duplicates"], 0, "{report}");
    other.wait_for("voi polled up to the 202 hour", 60, |s| {
        (next_hour(s, "voi") == Some(first + 5 * HOUR_MS)).then_some(())
    });

    let api = shared.lock().unwrap();
    let mut by: BTreeMap<(String, String, usize), Vec<&str>> = BTreeMap::new();
    for (page, agent) in &api.fetched_by {
        by.entry(page.clone()).or_default().push(agent);
    }
    // voi: 5 + 1 + 1 + 3 + 1 pages, tier: 5 + 1 + 1 + 1 + 1.
    assert_eq!(by.len(), 20, "{by:?}");
    let in_flight = ("v2".to_owned(), hour3.clone(), 1);
    for (page, agents) in &by {
        if *page == in_flight {
            assert!(
                agents.len() == 2 && is(&holder, agents[0]) && is(&other, agents[1]),
                "the hour in flight, fetched again by the new holder: {agents:?}"
            );
        } else {
            assert_eq!(agents.len(), 1, "{page:?} fetched by {agents:?}");
        }
    }
    // Before the kill the holder fetched voi's hours 0–2 and every hour of tier; after it the
    // other took voi up at the hour in flight, and tier at its 202 hour.
    for ((version, hour, _), agents) in &by {
        let last = agents[agents.len() - 1];
        let by_holder = version == "v1" || *hour < hour3;
        assert_eq!(is(&holder, last), by_holder, "{version} {hour}: {agents:?}");
    }
    let fetched = api.fetched_by.len();
    drop(api);

    // A graceful hand-over: the holder stops on SIGTERM, its pollers stopped before the lease
    // is released; a newcomer takes it over from the control topic's cursors and fetches only
    // hour 5, once it is ready, and nothing before it.
    let newcomer = Service::start(&args);
    other.stop("TERM", 60);
    let hour5 = first + 5 * HOUR_MS;
    newcomer.wait_for("the newcomer holding the lease at the 202 hour", 60, |s| {
        (next_hour(s, "voi") == Some(hour5) && next_hour(s, "tier") == Some(hour5)).then_some(())
    });
    {
        let mut api = shared.lock().unwrap();
        for version in ["v2", "v1"] {
            let trips = sample_trips(version, "h5");
            api.hours
                .insert((version.to_owned(), hour_parameter(hour5)), vec![trips]);
        }
        api.not_ready = String::new();
    }
    newcomer.wait_for("hour 5 fetched by the newcomer", 60, |s| {
        let next = Some(hour5 + HOUR_MS);
        (next_hour(s, "voi") == next && next_hour(s, "tier") == next).then_some(())
    });
    let api = shared.lock().unwrap();
    let after = &api.fetched_by[fetched..];
    assert_eq!(after.len(), 2, "{after:?}");
    for ((_, hour, page), agent) in after {
        assert_eq!((hour.as_str(), *page), (hour_parameter(hour5).as_str(), 1));
        assert!(is(&newcomer, agent), "{agent}");
    }
    drop(cluster);
}
