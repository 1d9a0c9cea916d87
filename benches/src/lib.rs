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

/// `n` newline-terminated canonical events.
pub fn canonical_events(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = String::with_capacity(n * 260);
    for i in 0..n {
        let lat = 59.88 + rng.random::<f64>() * 0.08;
        let lon = 10.45 + rng.random::<f64>() * 0.2;
        let start_ms: i64 = 1_672_531_200_000 + rng.random_range(0..31_536_000_000);
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
                out,
                r#"{{"kind":"count","id":"{source}-{i}","source":"{source}","mode":"{mode}","start_time":{start},"end_time":{},"location":{{"lat":{lat:.6},"lon":{lon:.6}}},"count":{}}}"#,
                start_ms + 3_600_000,
                rng.random_range(0..200)
            );
        } else {
            let _ = writeln!(
                out,
                r#"{{"kind":"trip","id":"{:016x}-{i}","source":"{source}","mode":"{mode}","start_time":{start},"end_time":{},"origin":{{"lat":{lat:.6},"lon":{lon:.6}}},"destination":{{"lat":{:.6},"lon":{:.6}}},"persons":1}}"#,
                rng.random::<u64>(),
                start_ms + 600_000,
                lat + 0.01,
                lon - 0.01
            );
        }
    }
    out.into_bytes()
}

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

/// Peak resident set size of this process in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
