//! Generated canonical events for benchmarks: seeded, realistic in shape (trips and counts
//! around Bærum, RFC 3339 and epoch-ms times, unique ids), not in statistics.

use std::fmt::Write;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MODES: [&str; 8] = [
    "e_scooter",
    "bicycle",
    "walk",
    "bus",
    "rail",
    "car_driver",
    "e_scooter",
    "walk",
];
const SOURCES: [&str; 5] = ["voi", "tier", "ryde", "ruter-apc", "trafikkdata"];

/// Where and when generated events happen.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Event time of event 0, epoch ms.
    pub first_ms: i64,
    /// Event time between consecutive events; each is jittered by up to ±5 minutes.
    pub interval_ms: i64,
    pub lat: (f64, f64),
    pub lon: (f64, f64),
}

/// Bærum and its neighbours (about 100 km², ~1,000 resolution-9 cells), a year of events.
pub fn city(n: usize) -> Spec {
    Spec {
        first_ms: 1_672_531_200_000,
        interval_ms: 31_536_000_000 / n.max(1) as i64,
        lat: (59.88, 59.96),
        lon: (10.45, 10.65),
    }
}

/// The Oslo region (about 4,500 km², ~43,000 resolution-9 cells).
pub fn region(interval_ms: i64) -> Spec {
    Spec {
        first_ms: 1_672_531_200_000,
        interval_ms,
        lat: (59.6, 60.2),
        lon: (10.0, 11.2),
    }
}

/// `n` newline-terminated canonical events over the city, in time order (with jitter).
pub fn canonical_events(n: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 240);
    write_events(&mut out, 0, n, seed, &city(n));
    out
}

/// Appends events `first..first + n` of the stream `(seed, spec)`: the same index always gives
/// the same event, so a stream can be produced in chunks without holding it.
pub fn write_events(out: &mut Vec<u8>, first: usize, n: usize, seed: u64, spec: &Spec) {
    let mut out_text = String::with_capacity(n * 240);
    let mut rng =
        SmallRng::seed_from_u64(seed ^ (first as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for i in first..first + n {
        let lat = spec.lat.0 + rng.random::<f64>() * (spec.lat.1 - spec.lat.0);
        let lon = spec.lon.0 + rng.random::<f64>() * (spec.lon.1 - spec.lon.0);
        let start_ms: i64 =
            spec.first_ms + i as i64 * spec.interval_ms + rng.random_range(-300_000..300_000);
        let mode = MODES[i % MODES.len()];
        let source = SOURCES[i % SOURCES.len()];
        let start = if i % 2 == 0 {
            let ts = jiff_like_rfc3339(start_ms);
            format!("\"{ts}\"")
        } else {
            start_ms.to_string()
        };
        if i % 5 == 4 {
            let _ = writeln!(
                out_text,
                r#"{{"kind":"count","id":"{source}-{i}","source":"{source}","mode":"{mode}","start_time":{start},"end_time":{},"location":{{"lat":{lat:.6},"lon":{lon:.6}}},"count":{}}}"#,
                start_ms + 3_600_000,
                rng.random_range(0..200)
            );
        } else {
            let _ = writeln!(
                out_text,
                r#"{{"kind":"trip","id":"{:016x}-{i}","source":"{source}","mode":"{mode}","start_time":{start},"end_time":{},"origin":{{"lat":{lat:.6},"lon":{lon:.6}}},"destination":{{"lat":{:.6},"lon":{:.6}}},"persons":1}}"#,
                rng.random::<u64>(),
                start_ms + 600_000,
                lat + 0.01,
                lon - 0.01
            );
        }
    }
    out.extend_from_slice(out_text.as_bytes());
}

/// The settings of the embedded default configuration, loaded as `modeshare run` loads them
/// (the binary's loader, no file, no environment), at a resolution.
pub fn settings(resolution: h3o::Resolution) -> modeshare_core::pipeline::Settings {
    config(resolution).settings
}

/// The embedded default configuration, loaded as `modeshare run` loads it, at a resolution.
pub fn config(resolution: h3o::Resolution) -> modeshare::config::AppConfig {
    let overrides = modeshare::config::Overrides {
        resolution: Some(u8::from(resolution)),
        ..Default::default()
    };
    match modeshare::config::load(None, std::iter::empty(), &overrides) {
        Ok(config) => config,
        Err(e) => panic!("the embedded default configuration: {e}"),
    }
}

/// The embedded default zones.
pub const ZONES: &str = include_str!("../../config/zones/baerum.geojson");

/// RFC 3339 in UTC for an epoch-ms value (civil-from-days, proleptic Gregorian).
fn jiff_like_rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The CPU time (user and system, all threads) a process has used, in seconds (Linux `/proc`).
pub fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// The name (without a trailing number: a runtime's workers, librdkafka's broker threads) and
/// CPU time in seconds of each living thread of a process, by thread id.
pub fn cpu_seconds_by_thread(pid: u32) -> std::collections::BTreeMap<String, (String, f64)> {
    let mut threads = std::collections::BTreeMap::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let name = name.trim().trim_end_matches(|c: char| c.is_ascii_digit());
        let cpu = stat_cpu_seconds(&path.join("stat").to_string_lossy());
        threads.insert(
            task.file_name().to_string_lossy().into_owned(),
            (name.to_string(), cpu),
        );
    }
    threads
}

/// Utime + stime of a `stat` file (of a process or of one of its threads), in seconds.
fn stat_cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // After the command's name in parentheses: fields 14 and 15 of stat(5) are utime and stime.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0 // USER_HZ: 100 on Linux
}

/// Peak resident set size of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("self", "VmHWM")
}

/// A memory figure of a process (`self` or a pid) in MiB, from Linux's `/proc/<pid>/status`:
/// `VmRSS` (resident now), `VmHWM` (its peak).
pub fn status_mib(process: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let line = status.lines().find(|l| {
        l.strip_prefix(field)
            .is_some_and(|rest| rest.starts_with(':'))
    })?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Feeds `events` events of the Oslo region, one a second of event time (so every id stays
/// inside the 35-day dedup horizon: the worst case for the dedup memory), into a pipeline: the
/// state the checkpoint and restart benchmarks save and restore.
pub fn fill_with_region_events(pipeline: &mut modeshare_core::pipeline::Pipeline, events: usize) {
    for_each_region_event(events, |_, line| {
        pipeline.observe_line(line, "bench", None);
    });
}

/// Generates `events` events of the Oslo region, one a second of event time, in chunks of
/// 100,000, and hands each line to `each` with its number.
pub fn for_each_region_event(events: usize, mut each: impl FnMut(usize, &[u8])) {
    let spec = region(1_000);
    let mut chunk = Vec::new();
    let mut done = 0;
    while done < events {
        let n = 100_000.min(events - done);
        chunk.clear();
        write_events(&mut chunk, done, n, 7, &spec);
        for (i, line) in chunk
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            each(done + i, line);
        }
        done += n;
    }
}

/// Runs `f` `runs` times: the shortest time and the last result.
pub fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (std::time::Duration, T) {
    let mut best = std::time::Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    match last {
        Some(last) => (best, last),
        None => panic!("best_of needs at least one run"),
    }
}

/// The repository root (for `scripts/` and `target/release/modeshare`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A topic, group or folder name no earlier run used.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("modeshare-bench-{name}-{}", nanos % 1_000_000_000)
}

/// Runs `scripts/broker.sh ARGS` (start the local broker, create a topic), failing loudly.
pub fn broker_script(args: &[&str]) {
    let ok = std::process::Command::new(repo_root().join("scripts/broker.sh"))
        .args(args)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "scripts/broker.sh {args:?} failed");
}

/// The admin token of the services the benches start (the report is on the admin listener).
pub const ADMIN_TOKEN: &str = "modeshare-bench-admin-token";

/// Environment variables that open the admin listener on a random loopback port for
/// [`ADMIN_TOKEN`].
pub fn admin_env() -> [(String, String); 2] {
    [
        ("MODESHARE__ADMIN__LISTEN".into(), "127.0.0.1:0".into()),
        (
            "MODESHARE__ADMIN__TOKEN_SHA256".into(),
            format!("[\"{}\"]", modeshare_http::auth::token_sha256(ADMIN_TOKEN)),
        ),
    ]
}

/// The addresses `modeshare run` logs at start, read from its log lines: the public listener's
/// and the admin listener's.
pub fn listener_addresses(lines: &mut impl Iterator<Item = String>) -> (String, String) {
    let address = |line: &str, marker: &str| {
        line.split(marker)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    };
    let (mut public, mut admin) = (None, None);
    for line in lines.by_ref() {
        if line.contains("admin listener") {
            admin = admin.or_else(|| address(&line, "at http://"));
        } else {
            public = public.or_else(|| address(&line, "on http://"));
        }
        if let (Some(p), Some(a)) = (&public, &admin) {
            return (p.clone(), a.clone());
        }
    }
    panic!("the service stopped before it logged its addresses")
}

/// `GET path` on the admin listener with [`ADMIN_TOKEN`]: the body, or `None` while the
/// service does not answer.
pub fn admin_get(address: &str, path: &str) -> Option<String> {
    get_body(
        address,
        path,
        &format!("Authorization: Bearer {ADMIN_TOKEN}\r\n"),
    )
}

/// The events a service has read, from its public `/healthz` (a few hundred bytes: watching it
/// costs the service nothing to speak of, where `/metrics` encodes each new snapshot).
pub fn events_read(address: &str) -> Option<u64> {
    let body = get_body(address, "/healthz", "")?;
    serde_json::from_str::<serde_json::Value>(&body).ok()?["events"]["read"].as_u64()
}

/// The body of `GET path` on a new connection, with `headers` (each ending in CRLF).
fn get_body(address: &str, path: &str, headers: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(address).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut r = String::new();
    s.read_to_string(&mut r).ok()?;
    Some(r.split_once("\r\n\r\n")?.1.to_owned())
}
