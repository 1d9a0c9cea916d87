use super::*;

fn load_with(
    file_text: Option<&str>,
    env: &[(&str, &str)],
    overrides: &Overrides,
) -> Result<AppConfig, ConfigLoadError> {
    let dir = std::env::temp_dir().join(format!(
        "modeshare-config-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    if let Some(text) = file_text {
        std::fs::write(&path, text).unwrap();
    }
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let result = load(file_text.map(|_| path.as_path()), env, overrides);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[test]
fn the_embedded_default_has_the_documented_values() {
    let c = load_with(None, &[], &Overrides::default()).unwrap();
    assert_eq!(c.settings.resolution, h3o::Resolution::Nine);
    let goal = |g: &str| {
        c.settings
            .goals
            .iter()
            .find(|x| x.group == g)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (goal("sustainable").target, goal("sustainable").baseline),
        (0.60, Some(0.48))
    );
    assert_eq!(goal("sustainable").baseline_year, Some(2016));
    assert_eq!(goal("cycling").target, 0.07);
    let groups = &c.settings.groups;
    let cycling = groups.get("cycling").unwrap().modes;
    let sustainable = groups.get("sustainable").unwrap().modes;
    use modeshare_core::vocabulary::Mode;
    assert!(sustainable.contains(Mode::EScooter) && !cycling.contains(Mode::EScooter));
    assert_eq!(
        sustainable.iter().count(),
        8,
        "walk, bicycle, e_scooter and the five public-transport modes"
    );
    assert!((c.settings.factors.persons_per_unit(Mode::Bus) - 1.0 / 1.3).abs() < 1e-12);
    assert_eq!(c.zones.len(), 3);
    assert_eq!(c.settings.k, 10);
    // The survey, the bands and transit access over the embedded Bærum stops.
    let survey = c.settings.survey.as_ref().unwrap();
    assert_eq!(
        (survey.name.as_str(), survey.year),
        ("RVU 2016 Bærum", Some(2016))
    );
    assert_eq!(survey.share(Mode::Walk), 0.21);
    assert_eq!(survey.share(Mode::EScooter), 0.0);
    let total: f64 = survey.shares().map(|(_, s)| s).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    assert_eq!(
        c.settings.bands.edges_m(),
        [1000.0, 3000.0, 5000.0, 10_000.0]
    );
    let access = &c.settings.access;
    assert!(access.modes.contains(Mode::EScooter) && access.modes.contains(Mode::Bicycle));
    assert_eq!(access.radius_m, 200.0);
    assert_eq!(access.stops.stop_count(), 28);
    assert!(access.stops.places().iter().any(|p| p.name == "Lysaker"));
}

#[test]
fn transit_access_stops_and_the_survey_come_from_the_file_or_the_embedded_default() {
    use modeshare_core::vocabulary::Mode;
    let feed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/formats/entur-flytoget-gtfs.zip");
    let from_feed = format!(
        "[transit_access]\nstops_file = {:?}\n",
        feed.to_str().unwrap()
    );
    let c = load_with(Some(&from_feed), &[], &Overrides::default()).unwrap();
    let names: Vec<&str> = c
        .settings
        .access
        .stops
        .places()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert!(
        names.contains(&"Lysaker") && names.contains(&"Oslo Lufthavn"),
        "{names:?}"
    );
    assert_eq!(c.settings.access.stops_source, feed.to_str().unwrap());
    let listed = "[[transit_access.stops]]\nname = \"Kolsås\"\nlat = 59.9145\nlon = 10.5020\n";
    let c = load_with(Some(listed), &[], &Overrides::default()).unwrap();
    let places = c.settings.access.stops.places();
    assert_eq!(places.len(), 1, "a list replaces the embedded stops");
    assert_eq!(places[0].name, "Kolsås");
    // Problems name their key: a missing file, a broken stops.txt, a survey share of a group.
    let missing = format!(
        "[transit_access]\nstops_file = \"{}.nope\"\n",
        feed.display()
    );
    let e = load_with(Some(&missing), &[], &Overrides::default()).unwrap_err();
    assert!(
        e.0.iter()
            .any(|m| m.starts_with("transit_access.stops_file: ")),
        "{:?}",
        e.0
    );
    let dir = std::env::temp_dir().join(format!("modeshare-stops-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("stops.txt");
    std::fs::write(&broken, "stop_id,stop_lat,stop_lon\nA,north,10.5\n").unwrap();
    let text = format!(
        "[transit_access]\nstops_file = {:?}\nradius_m = -5\n\n[survey]\nname = \"RVU\"\n\n[survey.shares]\npublic_transport = 0.17\n",
        broken.to_str().unwrap()
    );
    let e = load_with(Some(&text), &[], &Overrides::default()).unwrap_err();
    for key in [
        "transit_access.stops_file",
        "transit_access.radius_m",
        "survey.shares.public_transport",
    ] {
        assert!(
            e.0.iter().any(|m| m.starts_with(&format!("{key}: "))),
            "{key}: {:?}",
            e.0
        );
    }
    assert!(
        e.0.iter().any(|m| m.contains("stops.txt line 2")),
        "{:?}",
        e.0
    );
    std::fs::remove_dir_all(&dir).unwrap();
    // A file's survey replaces the default's whole: no default share is left behind.
    let own = "[survey]\nname = \"RVU 2023\"\n\n[survey.shares]\nwalk = 0.3\ncar_driver = 0.7\n";
    let c = load_with(Some(own), &[], &Overrides::default()).unwrap();
    let survey = c.settings.survey.unwrap();
    let shares: Vec<(Mode, f64)> = survey.shares().collect();
    assert_eq!(shares, [(Mode::Walk, 0.3), (Mode::CarDriver, 0.7)]);
    assert_eq!(survey.name, "RVU 2023");
    // No modes turns transit access off, and the report has none.
    let off = load_with(
        Some("[transit_access]\nmodes = []\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert!(!off.settings.access.is_enabled());
}

#[test]
fn one_line_counts_e_scooters_as_cycling() {
    let c = load_with(
        Some("[groups]\ncycling = [\"bicycle\", \"e_scooter\"]\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap();
    use modeshare_core::vocabulary::Mode;
    assert!(
        c.settings
            .groups
            .get("cycling")
            .unwrap()
            .modes
            .contains(Mode::EScooter)
    );
    // The other groups are still there: tables merge key by key.
    assert!(c.settings.groups.get("public_transport").is_some());
}

#[test]
fn environment_then_flags_override_the_file() {
    let file = Some("[spatial]\nresolution = 7\n");
    let c = load_with(
        file,
        &[("MODESHARE__SPATIAL__RESOLUTION", "8"), ("OTHER", "x")],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.settings.resolution, h3o::Resolution::Eight);
    let flags = Overrides {
        resolution: Some(10),
        ..Overrides::default()
    };
    let c = load_with(file, &[("MODESHARE__SPATIAL__RESOLUTION", "8")], &flags).unwrap();
    assert_eq!(c.settings.resolution, h3o::Resolution::Ten);
    let c = load_with(
        None,
        &[("MODESHARE__COUNTS__TRANSFER_FACTOR", "2")],
        &Overrides::default(),
    )
    .unwrap();
    use modeshare_core::vocabulary::Mode;
    assert_eq!(c.settings.factors.persons_per_unit(Mode::Rail), 0.5);
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let text = r#"
[spatial]
resolution = 16
zones = "/nonexistent/zones.geojson"
[groups]
cycling = ["bicycle", "unicycle"]
[[goals]]
group = "sustainable"
target = 60
target_date = "2025"
[counts]
transfer_factor = 0.5
[dedup]
horizon = "forever"
[privacy]
k = 0
[formats.mds]
max_distance_m = -1
[formats.trafikkdata.point_modes]
"12345X678" = "tram"
[formats.csv.mycity]
time_zone = "Europe/Atlantis"
local_time = "sometimes"
distance_unit = "furlong"
[kafka]
brokers = "127.0.0.1:9092"
[[kafka.topics]]
name = "trips"
format = "csv:nowhere"
"#;
    let e = load_with(Some(text), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    for key in [
        "spatial.resolution",
        "spatial.zones",
        "groups.cycling",
        "goals[0].target",
        "goals[0].target_date",
        "counts.transfer_factor",
        "dedup.horizon",
        "privacy.k",
        "formats.mds.max_distance_m",
        "formats.trafikkdata.point_modes.12345X678",
        "formats.csv.mycity.time_zone",
        "formats.csv.mycity.local_time",
        "formats.csv.mycity.distance_unit",
        "formats.csv.mycity.mode",
        "formats.csv.mycity.columns.start_time",
        "kafka.topics[0].format",
    ] {
        assert!(e.contains(&format!("{key}: ")), "{key} missing from:\n{e}");
    }
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let e = load_with(
        Some("[spatial]\nresolutoin = 8\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("spatial") && e.contains("resolutoin"), "{e}");
    let e = load_with(Some("[spatail]\n"), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("spatail"), "{e}");
    let e = load_with(Some("not toml ["), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.toml"), "{e}");
}

/// Every file shipped in config/ loads and validates, from whatever directory: the paths in a
/// file are relative to it.
#[test]
fn every_shipped_config_file_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    for dir in [
        "config",
        "config/examples",
        "deploy",
        "deploy/kubernetes/base",
        "deploy/kubernetes/overlays/example",
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                load(Some(&path), [], &Overrides::default())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                checked += 1;
            }
        }
        for entry in std::fs::read_dir(root.join("config/zones")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "geojson") {
                let text = std::fs::read_to_string(&path).unwrap();
                Zones::from_geojson(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    assert!(checked >= 7, "only {checked} config files found");
}

#[test]
fn a_gtfs_feed_enables_tides_from_the_file_the_environment_or_the_flag() {
    let feed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/formats/entur-flytoget-gtfs.zip");
    let feed = feed.to_str().unwrap();
    let without = load_with(None, &[], &Overrides::default()).unwrap();
    let refused = Format::parse("tides", &without.formats).unwrap_err();
    assert!(
        refused.to_string().contains("formats.tides.gtfs"),
        "{refused}"
    );
    let file = format!("[formats.tides]\ngtfs = {feed:?}\n");
    let from_file = load_with(Some(&file), &[], &Overrides::default()).unwrap();
    assert_eq!(
        Format::parse("tides", &from_file.formats),
        Ok(Format::Tides)
    );
    let from_env = load_with(
        None,
        &[("MODESHARE__FORMATS__TIDES__GTFS", feed)],
        &Overrides::default(),
    );
    assert!(from_env.is_ok());
    let flags = Overrides {
        gtfs: Some(PathBuf::from(feed)),
        ..Overrides::default()
    };
    let from_flag = load_with(None, &[], &flags).unwrap();
    assert_eq!(
        Format::parse("tides", &from_flag.formats),
        Ok(Format::Tides)
    );
    // A missing feed, or a table missing from it, is a configuration error naming the key.
    let missing = format!("[formats.tides]\ngtfs = \"{feed}.nope\"\n");
    let e = load_with(Some(&missing), &[], &Overrides::default()).unwrap_err();
    assert!(
        e.0.iter().any(|m| m.starts_with("formats.tides.gtfs: ")),
        "{:?}",
        e.0
    );
    let dir = std::env::temp_dir().join(format!("modeshare-gtfs-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("stops.txt"),
        "stop_id,stop_lat,stop_lon\nA,59.9,10.5\n",
    )
    .unwrap();
    let partial = format!("[formats.tides]\ngtfs = {:?}\n", dir.to_str().unwrap());
    let e = load_with(Some(&partial), &[], &Overrides::default()).unwrap_err();
    assert!(
        e.0.iter().any(|m| m.contains("the feed has no trips.txt")),
        "{:?}",
        e.0
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_state_section_is_validated() {
    let c = load_with(None, &[], &Overrides::default()).unwrap();
    assert_eq!(c.state.interval, std::time::Duration::from_secs(10));
    let e = load_with(
        Some("[state]\ninterval = \"1ms\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(
        e.0.iter().any(|m| m.starts_with("state.interval:")),
        "{:?}",
        e.0
    );
    let c = load_with(
        None,
        &[("MODESHARE__STATE__INTERVAL", "250ms")],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.state.interval, std::time::Duration::from_millis(250));
    assert_eq!(c.state.dir, std::path::Path::new("modeshare-state"));
    assert_eq!(c.state.on_bad_checkpoint, OnBadCheckpoint::Refuse);
    let c = load_with(
        Some("[state]\ndir = \"/var/lib/modeshare\"\non_bad_checkpoint = \"rebuild\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(c.state.dir, std::path::Path::new("/var/lib/modeshare"));
    assert_eq!(c.state.on_bad_checkpoint, OnBadCheckpoint::Rebuild);
    for (text, key) in [
        ("on_bad_checkpoint = \"ignore\"", "state.on_bad_checkpoint"),
        ("dir = \"\"", "state.dir"),
    ] {
        let e = load_with(
            Some(&format!("[state]\n{text}\n")),
            &[],
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(e.0.iter().any(|m| m.starts_with(key)), "{key}: {:?}", e.0);
    }
}

/// The defaults docs/configuration.md lists are the ones in force: every row of its key table
/// whose default is written as values (`"15m"`, `9`, `[1, 3, 5, 10]`, or `key = value` items for
/// a table) is compared with the layered configuration of no file. The sections that are off by
/// default (`[kafka]`) are compared with what a minimal `[kafka]` section gets.
#[test]
fn the_documented_defaults_are_the_ones_in_force() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md"),
    )
    .unwrap();
    let defaults = layered(None, std::iter::empty(), &Overrides::default()).unwrap();
    let kafka = load_with(
        Some("[kafka]\nbrokers = \"127.0.0.1:9092\"\n[[kafka.topics]]\nname = \"events\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap()
    .kafka
    .unwrap();
    let kafka_defaults: toml::Table = toml::toml! {
        group_id = (kafka.group_id.as_str())
        dead_letter_topic = (kafka.dead_letter_topic.as_str())
        create_dead_letter_topic = (kafka.create_dead_letter_topic)
        create_providers_topic = (kafka.create_providers_topic)
    };
    let topic_format = toml::Value::String(kafka.topics[0].format.clone());

    let mut checked = Vec::new();
    let mut problems = Vec::new();
    for row in docs.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
        let (keys, written) = (backticked(cells[0]), backticked(cells[1]));
        // A default said in words ("embedded", "presets", "see …") is not a value to compare.
        let words: String = cells[1].split('`').step_by(2).collect();
        if written.is_empty() || words.contains(char::is_alphanumeric) {
            continue;
        }
        let first = keys[0];
        for (i, value) in written.iter().enumerate() {
            let key = match keys.get(i) {
                // `min_duration`, `max_duration`: later keys of a row are relative to the first.
                Some(k) if i > 0 && !k.contains('.') => {
                    format!("{}.{k}", first.rsplit_once('.').unwrap().0)
                }
                Some(k) => (*k).to_owned(),
                None => first.to_owned(),
            };
            let (key, value) = match (key.strip_suffix('>'), value.split_once(" = ")) {
                // `windows.lateness_by_source.<source>` with `trafikkdata = "3h"`: an entry.
                (Some(_), Some((entry, v))) => {
                    (format!("{}.{entry}", key.rsplit_once('.').unwrap().0), v)
                }
                // `kafka.topics[].name`, `kafka.topics[].format` with `format = "canonical"`.
                (None, Some((name, v))) => {
                    match keys.iter().find(|k| k.ends_with(&format!(".{name}"))) {
                        Some(k) => ((*k).to_owned(), v),
                        None => (key, *value),
                    }
                }
                _ => (key, *value),
            };
            let in_force = match key.as_str() {
                "kafka.topics[].format" => Some(topic_format.clone()),
                k if k.starts_with("kafka.") => lookup(&kafka_defaults, &k["kafka.".len()..]),
                k => lookup(&defaults, k),
            };
            check(&key, value, in_force, &mut problems);
            checked.push(key);
        }
    }
    assert!(
        problems.is_empty(),
        "documented defaults not in force:\n{}",
        problems.join("\n")
    );
    for key in [
        "spatial.resolution",
        "windows.bucket",
        "kafka.group_id",
        "formats.mds.max_distance_m",
    ] {
        assert!(
            checked.iter().any(|k| k == key),
            "{key} was not checked: {checked:?}"
        );
    }
}

/// The texts between backticks in a table cell.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The value at a dotted key (`windows.lateness_by_source`) of a table.
fn lookup(table: &toml::Table, key: &str) -> Option<toml::Value> {
    let mut value = table.get(key.split('.').next()?)?;
    for part in key.split('.').skip(1) {
        value = value.get(part)?;
    }
    Some(value.clone())
}

/// Records a problem when the documented `written` (a TOML value) is not `in_force` (numbers
/// compare as numbers: the docs write `100000` for a float key).
fn check(key: &str, written: &str, in_force: Option<toml::Value>, problems: &mut Vec<String>) {
    let documented: toml::Value = match format!("v = {written}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").unwrap(),
        Err(e) => return problems.push(format!("{key}: `{written}` is not a TOML value: {e}")),
    };
    let same = match (&documented, &in_force) {
        (toml::Value::Integer(a), Some(toml::Value::Float(b))) => *a as f64 == *b,
        (toml::Value::Float(a), Some(toml::Value::Integer(b))) => *a == *b as f64,
        (a, Some(b)) => a == b,
        (_, None) => false,
    };
    if !same {
        problems.push(format!(
            "{key}: documented `{written}`, in force {in_force:?}"
        ));
    }
}

/// A folder of files for one test, removed on drop.
struct Files(std::path::PathBuf);

impl Files {
    fn new() -> Files {
        let dir = std::env::temp_dir().join(format!(
            "modeshare-config-files-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Files(dir)
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hash(token: &str) -> String {
    modeshare_http::auth::token_sha256(token)
}

#[test]
fn the_admin_listener_is_off_by_default_and_metrics_are_public() {
    let c = load_with(None, &[], &Overrides::default()).unwrap();
    assert!(c.admin.is_none());
    assert_eq!(c.metrics_on, MetricsOn::Public);
    assert_eq!(c.limits.max_connections, 4096);
    assert_eq!(
        c.limits.header_read_timeout,
        std::time::Duration::from_secs(10)
    );
}

#[test]
fn the_admin_listener_takes_token_hashes_from_the_file_or_the_environment() {
    let files = Files::new();
    let list = files.write(
        "hashes",
        &format!(
            "# rotated on 2026-01-01\n{}\n\n{}\n",
            hash("old"),
            hash("new")
        ),
    );
    let file = format!(
        "[admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256_file = \"{list}\"\n[http]\nmetrics_on = \"admin\"\n"
    );
    let c = load_with(Some(&file), &[], &Overrides::default()).unwrap();
    let admin = c.admin.unwrap();
    assert_eq!(admin.tokens.len(), 2);
    assert!(admin.tokens.accepts(b"old") && admin.tokens.accepts(b"new"));
    assert_eq!(c.metrics_on, MetricsOn::Admin);

    // The same from the environment: the list itself, or the file.
    let listen = ("MODESHARE__ADMIN__LISTEN", "127.0.0.1:0");
    let inline = format!("[\"{}\"]", hash("env"));
    let c = load_with(
        None,
        &[listen, ("MODESHARE__ADMIN__TOKEN_SHA256", &inline)],
        &Overrides::default(),
    )
    .unwrap();
    assert!(c.admin.unwrap().tokens.accepts(b"env"));
    let c = load_with(
        None,
        &[listen, ("MODESHARE__ADMIN__TOKEN_SHA256_FILE", &list)],
        &Overrides::default(),
    )
    .unwrap();
    assert!(c.admin.unwrap().tokens.accepts(b"new"));
}

#[test]
fn an_admin_listener_that_would_be_unsafe_is_refused() {
    let token = format!("token_sha256 = [\"{}\"]\n", hash("t"));
    let cases = [
        // Tokens in plain text over the network.
        (
            format!("[admin]\nlisten = \"0.0.0.0:9465\"\n{token}"),
            "admin.listen",
        ),
        // Nobody could get in.
        (
            "[admin]\nlisten = \"127.0.0.1:9465\"\n".to_owned(),
            "admin.token_sha256",
        ),
        // A list entry that is no hash (the token itself, say).
        (
            "[admin]\nlisten = \"127.0.0.1:9465\"\ntoken_sha256 = [\"my-token\"]\n".to_owned(),
            "admin.token_sha256",
        ),
        // Metrics on a listener that does not exist.
        (
            "[http]\nmetrics_on = \"admin\"\n".to_owned(),
            "http.metrics_on",
        ),
        (
            format!(
                "[admin]\nlisten = \"0.0.0.0:9465\"\n{token}[admin.tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n"
            ),
            "admin.tls",
        ),
        (
            "[admin]\ntoken_sha256_file = \"/nonexistent/hashes\"\n".to_owned(),
            "admin.token_sha256_file",
        ),
        (
            "[http.limits]\nmax_connections = 0\nrequest_timeout = \"1ms\"\n".to_owned(),
            "http.limits.max_connections",
        ),
    ];
    for (text, key) in cases {
        let e = load_with(Some(&text), &[], &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("{key}: ")), "{key} missing from:\n{e}");
        assert!(!e.contains("my-token"), "{e}");
    }
    // Plain HTTP off loopback when asked for (behind a TLS proxy).
    let text = format!("[admin]\nlisten = \"0.0.0.0:9465\"\nallow_plain_http = true\n{token}");
    assert!(load_with(Some(&text), &[], &Overrides::default()).is_ok());
}

/// A Kafka secret in every form it can be given — in the file, read from a file named there,
/// from an environment variable, read from a file an environment variable names — reaches
/// librdkafka but never a `Debug` output, a log of the options or an error message.
#[test]
fn a_kafka_secret_in_every_form_is_never_shown() {
    const SECRET: &str = "hunter2-s3cret";
    let files = Files::new();
    let secret_file = files.write("password", &format!("{SECRET}\n"));
    let kafka = "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[[kafka.topics]]\nname = \"t\"\n";
    let forms: Vec<(String, Vec<(String, String)>)> = vec![
        (
            format!("{kafka}[kafka.options]\n\"sasl.password\" = \"{SECRET}\"\n"),
            vec![],
        ),
        (
            format!("{kafka}[kafka.options]\n\"sasl.password_file\" = \"{secret_file}\"\n"),
            vec![],
        ),
        (
            kafka.to_owned(),
            vec![(
                "MODESHARE__KAFKA__OPTIONS__SASL.PASSWORD".into(),
                SECRET.into(),
            )],
        ),
        (
            kafka.to_owned(),
            vec![(
                "MODESHARE__KAFKA__OPTIONS__SASL.PASSWORD_FILE".into(),
                secret_file.clone(),
            )],
        ),
        (
            format!(
                "{kafka}[kafka.options]\n\"ssl.key.pem\" = \"{SECRET}\"\n\"ssl.keystore.password\" = \"{SECRET}\"\n\"sasl.oauthbearer.client.secret\" = \"{SECRET}\"\n"
            ),
            vec![],
        ),
    ];
    for (text, env) in forms {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let c = load_with(Some(&text), &env, &Overrides::default()).unwrap();
        let settings = c.kafka.as_ref().unwrap();
        let exposed = ["sasl.password", "ssl.key.pem"]
            .iter()
            .filter_map(|k| settings.options.get_exposed(k))
            .collect::<Vec<_>>();
        assert_eq!(exposed, [SECRET], "{text} {env:?}");
        for shown in [
            format!("{c:?}"),
            format!("{settings:?}"),
            format!("{:?}", settings.redacted_options()),
        ] {
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }
    // librdkafka quotes a value it refuses: the error is scrubbed.
    let text = format!("{kafka}[kafka.options]\n\"sasl.oauthbearer.method\" = \"{SECRET}\"\n");
    let c = load_with(Some(&text), &[], &Overrides::default()).unwrap();
    let settings = c.kafka.unwrap();
    let refused = settings
        .consumer_config()
        .create::<rdkafka::consumer::BaseConsumer>()
        .err()
        .unwrap()
        .to_string();
    assert!(
        refused.contains(SECRET),
        "librdkafka no longer quotes: {refused}"
    );
    let scrubbed = settings.options.scrub(&refused);
    assert!(
        !scrubbed.contains(SECRET) && scrubbed.contains("[redacted]"),
        "{scrubbed}"
    );
    // A file that cannot be read is named, and what it would hold is not guessed at.
    let text = format!("{kafka}[kafka.options]\n\"sasl.password_file\" = \"/nonexistent/pw\"\n");
    let e = load_with(Some(&text), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kafka.options.sasl.password_file: cannot read /nonexistent/pw"),
        "{e}"
    );
}

#[test]
fn providers_are_checked_with_their_defaults_and_secrets_from_files() {
    let dir = std::env::temp_dir().join(format!("modeshare-providers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let text = format!(
        r#"
[[providers]]
name = "voi"
url = "https://mds.voi.example/"
version = "2.0"
source = "voi"
token_url = "https://auth.voi.example/token"
client_id = "baerum"
client_secret_file = "{}"
"#,
        secret.display()
    );
    let config = load_with(Some(&text), &[], &Overrides::default()).unwrap();
    let p = &config.providers[0];
    assert_eq!(p.url, "https://mds.voi.example");
    assert_eq!(p.interval, std::time::Duration::from_secs(3600));
    assert_eq!(p.delay, std::time::Duration::from_secs(3600));
    assert_eq!(p.give_up_after, std::time::Duration::from_secs(72 * 3600));
    assert_eq!(p.start_ms, None);
    match &p.auth {
        ProviderAuth::ClientCredentials { client_secret, .. } => {
            assert_eq!(client_secret.expose(), "s3cret");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !format!("{config:?}").contains("s3cret"),
        "the secret in Debug"
    );
    // Polled trips take the push path: the spool, with no listener's operators.
    assert!(config.ingest.is_some_and(|i| i.operators.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_provider_is_refused_with_every_problem() {
    let text = r#"
[[ingest.operators]]
name = "voi"
sources = ["voi"]
token_sha256 = ["0000000000000000000000000000000000000000000000000000000000000000"]

[[providers]]
name = "voi"
url = "ftp://mds.example"
version = "3.0"
source = "voi"
start = "2026-11-01T00:30:00Z"
token = "t"
client_id = "x"

[[providers]]
name = "tier"
url = "http://mds.tier.example/v1?key=abc"
version = "1.2"
source = "tier"
delay = "2h"
give_up_after = "1h"
token = "t"

[[providers]]
name = "ryde"
url = "http://user:pw@mds.ryde.example"
version = "2.0"
source = "tier"
"#;
    let e = load_with(Some(text), &[], &Overrides::default())
        .unwrap_err()
        .to_string();
    for expected in [
        "providers[0].url",
        "providers[0].version: \"3.0\" is not \"1.2\" or \"2.0\"",
        "providers[0].start",
        "providers[0].token",
        "providers[0].name: \"voi\" is also an operator's name",
        "providers[0].source: \"voi\" is also written by operator",
        "providers[1].url: \"http://mds.tier.example/v1?key=abc\" has a query",
        "providers[1].url: \"http://mds.tier.example/v1?key=abc\": credentials would cross the network in plain text",
        "providers[1].give_up_after: must be longer than delay",
        "providers[2].url: the URL carries credentials",
        "providers[2].source: \"tier\" is another provider's source too",
    ] {
        assert!(e.contains(expected), "{expected} in {e}");
    }
    assert!(!e.contains("pw@"), "a password in the message: {e}");
}

/// Paths in a configuration file are relative to its folder; the same path from the
/// environment stays relative to the working directory, and absolute paths are kept.
#[test]
fn paths_in_a_file_are_relative_to_its_folder() {
    let dir = std::env::temp_dir().join(format!(
        "modeshare-config-paths-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let etc = dir.join("etc");
    std::fs::create_dir_all(etc.join("zones")).unwrap();
    std::fs::write(etc.join("zones/city.geojson"), DEFAULT_ZONES).unwrap();
    std::fs::write(etc.join("hashes"), format!("{}\n", "ab".repeat(32))).unwrap();
    let file = etc.join("modeshare.toml");
    std::fs::write(
        &file,
        "[spatial]\nzones = \"zones/city.geojson\"\n\
         [state]\ndir = \"state\"\n\
         [admin]\nlisten = \"127.0.0.1:0\"\ntoken_sha256_file = \"hashes\"\n\
         [kafka]\nbrokers = \"127.0.0.1:9092\"\n\
         [[kafka.topics]]\nname = \"t\"\nformat = \"canonical\"\n\
         [kafka.options]\n\"ssl.ca.location\" = \"ca.pem\"\n\"ssl.key.location\" = \"/abs/key.pem\"\n\
         \"client.id\" = \"not/a/path\"\n",
    )
    .unwrap();
    let merged = layered(Some(&file), [], &Overrides::default()).unwrap();
    let at = |keys: &[&str]| {
        let mut value = &merged[keys[0]];
        for key in &keys[1..] {
            value = &value[*key];
        }
        value.as_str().unwrap().to_owned()
    };
    assert_eq!(
        at(&["spatial", "zones"]),
        etc.join("zones/city.geojson").display().to_string()
    );
    assert_eq!(
        at(&["state", "dir"]),
        etc.join("state").display().to_string()
    );
    assert_eq!(
        at(&["kafka", "options", "ssl.ca.location"]),
        etc.join("ca.pem").display().to_string()
    );
    assert_eq!(
        at(&["kafka", "options", "ssl.key.location"]),
        "/abs/key.pem"
    );
    assert_eq!(at(&["kafka", "options", "client.id"]), "not/a/path");
    // The secret file was found beside the configuration file and read.
    assert_eq!(
        merged["admin"]["token_sha256"][0].as_str(),
        Some("ab".repeat(32).as_str())
    );
    let config = load(Some(&file), [], &Overrides::default()).unwrap();
    assert_eq!(config.state.dir, etc.join("state"));

    // The embedded default and the environment stay relative to the working directory.
    let env = [("MODESHARE__STATE__DIR".to_owned(), "from-env".to_owned())];
    let merged = layered(Some(&file), env, &Overrides::default()).unwrap();
    assert_eq!(merged["state"]["dir"].as_str(), Some("from-env"));
    let merged = layered(None, [], &Overrides::default()).unwrap();
    assert_eq!(merged["state"]["dir"].as_str(), Some("modeshare-state"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[state] url` chooses the checkpoint store; its options are texts, numbers or booleans.
#[test]
fn the_checkpoint_store_is_a_directory_or_an_object_store() {
    let c = load_with(
        Some("[state]\ndir = \"/var/lib/m\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(
        c.state.checkpoints,
        StoreLocation::Directory("/var/lib/m".into())
    );
    let env = [
        ("MODESHARE__STATE__URL", "s3://city/baerum"),
        ("MODESHARE__STATE__OPTIONS__AWS_ALLOW_HTTP", "true"),
        (
            "MODESHARE__STATE__OPTIONS__AWS_ENDPOINT",
            "http://127.0.0.1:9000",
        ),
    ];
    let c = load_with(None, &env, &Overrides::default()).unwrap();
    let StoreLocation::Object { url, options } = &c.state.checkpoints else {
        panic!("{:?}", c.state.checkpoints);
    };
    assert_eq!(url.as_str(), "s3://city/baerum");
    assert_eq!(options["aws_allow_http"], "true");
    assert_eq!(options["aws_endpoint"], "http://127.0.0.1:9000");

    let e = load_with(
        Some("[state]\nurl = \"ftp://x/y\"\n[state.options]\nlist = [1]\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("state.url") && e.contains("ftp"), "{e}");
    assert!(e.contains("state.options.list"), "{e}");
    let e = load_with(
        Some("[state.options]\naws_region = \"eu-north-1\"\n"),
        &[],
        &Overrides::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("set state.url too"), "{e}");
}

/// Unknown keys, wrong types and wrong values are all listed at once, with the checks of the
/// values that read (`config check` and every command that loads the configuration).
#[test]
fn every_problem_is_listed_at_once() {
    let text = "[spatial]\nresolutoin = 8\nresolution = \"nine\"\n\
                [windows]\nbucket = 15\n\
                [spatail]\n\
                [http]\nlisten = \"nonsense\"\nmetrics_on = \"sideways\"\n\
                [log]\nformat = \"xml\"\n";
    let e = load_with(Some(text), &[], &Overrides::default()).unwrap_err();
    let keys: Vec<&str> = e.0.iter().map(|m| m.split_once(": ").unwrap().0).collect();
    assert_eq!(
        keys,
        [
            "http.metrics_on",
            "log.format",
            "spatail",
            "spatial.resolution",
            "spatial.resolutoin",
            "windows.bucket",
            "http.listen",
        ],
        "{e}"
    );
    assert!(e.0[4].contains("unknown field `resolutoin`"), "{e}");
    assert!(e.0[5].contains("invalid type: integer `15`"), "{e}");
}

/// An entry of an array of tables without a required key is reported once; the problems of
/// other entries and sections still are.
#[test]
fn a_missing_key_in_an_entry_is_reported_once_with_the_rest() {
    let text = "[[goals]]\ngroup = \"cycling\"\n\
                [kafka]\nbrokers = \"127.0.0.1:9092\"\n[[kafka.topics]]\nname = \"t\"\nformatt = \"x\"\n\
                [run]\nshutdown_timeout = 20\n";
    let e = load_with(Some(text), &[], &Overrides::default()).unwrap_err();
    assert_eq!(
        e.0.iter()
            .map(|m| m.split_once(": ").unwrap().0)
            .collect::<Vec<_>>(),
        [
            "goals[0]",
            "kafka.topics[0].formatt",
            "run.shutdown_timeout"
        ],
        "{e}"
    );
    assert!(e.0[0].contains("missing field `target`"), "{e}");
}

/// `_DOT_` in a variable's name is a dot of the key: librdkafka's options from the shell.
#[test]
fn a_dot_in_an_environment_key_is_written_dot() {
    assert_eq!(
        env_keys("MODESHARE__KAFKA__OPTIONS__SASL_DOT_PASSWORD_FILE").unwrap(),
        ["kafka", "options", "sasl.password_file"]
    );
    assert_eq!(
        env_keys("MODESHARE__STATE__OPTIONS__AWS_SECRET_ACCESS_KEY").unwrap(),
        ["state", "options", "aws_secret_access_key"]
    );
    assert_eq!(
        env_keys("MODESHARE__KAFKA__OPTIONS__socket.keepalive.enable").unwrap(),
        ["kafka", "options", "socket.keepalive.enable"]
    );
    assert_eq!(env_keys("RUST_LOG"), None);
    let kafka = "[kafka]\nbrokers = \"127.0.0.1:9092\"\n[[kafka.topics]]\nname = \"t\"\n";
    let c = load_with(
        Some(kafka),
        &[
            ("MODESHARE__KAFKA__OPTIONS__SASL_DOT_USERNAME", "city"),
            (
                "MODESHARE__KAFKA__OPTIONS__SOCKET_DOT_KEEPALIVE_DOT_ENABLE",
                "true",
            ),
        ],
        &Overrides::default(),
    )
    .unwrap();
    let options = &c.kafka.unwrap().options;
    assert_eq!(options.get_exposed("sasl.username"), Some("city"));
    assert_eq!(options.get_exposed("socket.keepalive.enable"), Some("true"));
}

/// The log format is read before the rest: the default's, a file's, then the environment's.
#[test]
fn the_log_format_comes_from_the_file_then_the_environment() {
    use crate::logging::LogFormat;
    let none = std::iter::empty::<(String, String)>;
    assert_eq!(log::format_of(None, none()), Some(LogFormat::Text));
    let files = Files::new();
    let file = files.write("log.toml", "[log]\nformat = \"json\"\n");
    assert_eq!(
        log::format_of(Some(Path::new(&file)), none()),
        Some(LogFormat::Json)
    );
    let env = || [("MODESHARE__LOG__FORMAT".to_owned(), "text".to_owned())];
    assert_eq!(
        log::format_of(Some(Path::new(&file)), env()),
        Some(LogFormat::Text)
    );
    let bad = files.write("bad.toml", "[log]\nformat = \"xml\"\n");
    assert_eq!(log::format_of(Some(Path::new(&bad)), none()), None);
}

/// `config show` hides every secret, whatever table it is in; a list keeps its length.
#[test]
fn the_shown_configuration_hides_every_secret() {
    let text = "[admin]\ntoken_sha256 = [\"aaaa\", \"bbbb\"]\n\
                [[ingest.operators]]\nname = \"voi\"\nsources = [\"voi\"]\ntoken_sha256 = [\"cccc\"]\n\
                [[providers]]\nname = \"p\"\nurl = \"https://p\"\nversion = \"2.0\"\nsource = \"p\"\n\
                token = \"dddd\"\nclient_secret = \"eeee\"\n\
                [kafka]\nbrokers = \"b:9092\"\n[kafka.options]\n\"sasl.password\" = \"ffff\"\n\"client.id\" = \"city\"\n\
                [state]\nurl = \"s3://b/p\"\n[state.options]\naws_secret_access_key = \"gggg\"\naws_region = \"eu-north-1\"\n";
    let mut table: toml::Table = text.parse().unwrap();
    show::redact(&mut table);
    let shown = toml::to_string(&table).unwrap();
    for secret in ["aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff", "gggg"] {
        assert!(!shown.contains(secret), "{secret} in\n{shown}");
    }
    assert_eq!(shown.matches(show::REDACTED).count(), 7, "{shown}");
    assert!(
        shown.contains("eu-north-1") && shown.contains("\"city\""),
        "{shown}"
    );
}
