//! A simulated Bærum: seeded canonical events with a time-of-day profile and a mode mix near
//! the 2016 travel survey (car ≈ 58 %, public transport ≈ 17 %, bicycle ≈ 4 %, walking ≈ 19 %,
//! e-scooters ≈ 2 % of person trips), plus a trickle of bad and re-sent events.
//!
//! Events are generated minute by minute from `(seed, minute)`, so the stream for a minute is
//! the same whether it is produced in a backfill, in real time, or by `modeshare generate`.
//!
//! - E-scooter trips (sources `voi`, `tier`, `ryde`) between Fornebu, Lysaker, Sandvika and
//!   Bekkestua; walking trips (source `reisevaner-app`) around the same centres.
//! - Boardings (source `ruter-apc`, counts per 15 minutes, sent when the interval ends) at
//!   Lysaker and Stabekk (rail) and Bekkestua (metro), at their GTFS stop coordinates, and at
//!   Sandvika (rail, bus) and Fornebu (bus) at approximate coordinates.
//! - Car and bicycle counter readings (source `trafikkdata`, counts per 15 minutes) at real
//!   Statens vegvesen traffic registration points in Bærum.

use std::fmt::Write;

use modeshare_core::vocabulary::ConfigErrors;
use modeshare_core::vocabulary::{DurationMs, EventTimeMs};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

/// `[simulator]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Seed of the simulated city; the same seed gives the same events for the same minutes.
    pub seed: u64,
    /// Simulated seconds per real second once the backfill is done (1 = real time).
    pub speed: f64,
    /// How much simulated history `run` back-fills at start.
    pub backfill: String,
    /// Multiplies every volume (1 ≈ 60,000 person trips a day).
    pub scale: f64,
    /// Share of individual trips sent broken (every rejection reason occurs).
    pub bad_fraction: f64,
    /// Share of individual trips re-sent by their operator.
    pub duplicate_fraction: f64,
}

/// The validated `[simulator]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorSettings {
    pub seed: u64,
    pub speed: f64,
    pub backfill: DurationMs,
    pub scale: f64,
    pub bad_fraction: f64,
    pub duplicate_fraction: f64,
}

impl SimulatorConfig {
    pub fn validate(&self, errors: &mut ConfigErrors) -> SimulatorSettings {
        let any = DurationMs(0)..=DurationMs::MAX;
        let backfill = errors.duration("simulator.backfill", &self.backfill, any);
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 100_000.0) {
            errors.push(
                "simulator.speed",
                format!("{} must be > 0 and ≤ 100000", self.speed),
            );
        }
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 1000.0) {
            errors.push(
                "simulator.scale",
                format!("{} must be > 0 and ≤ 1000", self.scale),
            );
        }
        for (key, v) in [
            ("simulator.bad_fraction", self.bad_fraction),
            ("simulator.duplicate_fraction", self.duplicate_fraction),
        ] {
            if !(0.0..=0.5).contains(&v) {
                errors.push(key, format!("{v} must be within 0–0.5"));
            }
        }
        SimulatorSettings {
            seed: self.seed,
            speed: self.speed,
            backfill,
            scale: self.scale,
            bad_fraction: self.bad_fraction,
            duplicate_fraction: self.duplicate_fraction,
        }
    }
}

/// Person trips a day at scale 1, by the simulated mode families (2016 survey mix).
const DAILY_PERSON_TRIPS: f64 = 60_000.0;
const SHARE_CAR: f64 = 0.58;
const SHARE_PUBLIC_TRANSPORT: f64 = 0.17;
const SHARE_BICYCLE: f64 = 0.04;
const SHARE_WALK: f64 = 0.19;
const SHARE_E_SCOOTER: f64 = 0.02;
/// Boardings per public-transport person trip; matches the default `[counts] transfer_factor`.
const TRANSFER_FACTOR: f64 = 1.3;

/// Relative trip volume by local hour (Europe/Oslo): morning and afternoon peaks.
const HOURLY_PROFILE: [f64; 24] = [
    0.3, 0.2, 0.15, 0.15, 0.3, 0.9, 2.6, 5.2, 5.6, 3.6, 3.2, 3.5, 3.8, 3.9, 4.6, 6.2, 7.0, 6.1,
    4.7, 3.8, 3.0, 2.2, 1.4, 0.8,
];

/// (name, lat, lon): where trips start and end.
const CENTRES: [(&str, f64, f64); 4] = [
    ("fornebu", 59.8937, 10.6281),
    ("lysaker", 59.9110, 10.6290),
    ("sandvika", 59.8910, 10.5237),
    ("bekkestua", 59.9174, 10.5892),
];

/// (stop, mode, lat, lon, share of public-transport boardings). Lysaker, Stabekk and Bekkestua
/// are GTFS stop coordinates (Entur); Sandvika and Fornebu are approximate.
const STOPS: [(&str, &str, f64, f64, f64); 7] = [
    ("lysaker", "rail", 59.913480, 10.636580, 0.22),
    ("lysaker", "bus", 59.913480, 10.636580, 0.12),
    ("stabekk", "rail", 59.907940, 10.607150, 0.08),
    ("bekkestua", "metro", 59.917431, 10.589235, 0.14),
    ("sandvika", "rail", 59.891000, 10.523700, 0.20),
    ("sandvika", "bus", 59.891000, 10.523700, 0.14),
    ("fornebu", "bus", 59.896000, 10.622000, 0.10),
];

/// (registration point id, lat, lon, share): Statens vegvesen traffic registration points.
const CAR_COUNTERS: [(&str, f64, f64, f64); 5] = [
    ("15016V444232", 59.907548, 10.618658, 0.25),
    ("33438V444232", 59.901659, 10.59024, 0.2),
    ("68557V444232", 59.891774, 10.535191, 0.2),
    ("88537V444232", 59.88035, 10.511648, 0.15),
    ("04925V444232", 59.911891, 10.633088, 0.2),
];
const BICYCLE_COUNTERS: [(&str, f64, f64, f64); 4] = [
    ("88224B442844", 59.900393, 10.626046, 0.35),
    ("48127B441664", 59.906336, 10.523364, 0.25),
    ("95548B441730", 59.882004, 10.515357, 0.2),
    ("41897B2193313", 59.926336, 10.615398, 0.2),
];
const SCOOTER_OPERATORS: [&str; 3] = ["voi", "tier", "ryde"];

const MINUTE: i64 = 60_000;
const QUARTER: i64 = 15 * MINUTE;

/// The simulated city.
#[derive(Debug, Clone)]
pub struct Simulator {
    settings: SimulatorSettings,
    time_zone: jiff::tz::TimeZone,
}

impl Simulator {
    pub fn new(settings: SimulatorSettings) -> Simulator {
        let time_zone = jiff::tz::TimeZone::get("Europe/Oslo").unwrap_or(jiff::tz::TimeZone::UTC);
        Simulator {
            settings,
            time_zone,
        }
    }

    /// Appends the events of every minute starting in `[from, to)` (rounded down to whole
    /// minutes) as newline-terminated canonical JSON; returns how many lines were written.
    pub fn emit(&self, from: EventTimeMs, to: EventTimeMs, out: &mut Vec<u8>) -> usize {
        let mut text = String::new();
        let mut lines = 0;
        let mut minute = from.0.div_euclid(MINUTE);
        while minute < to.0.div_euclid(MINUTE) {
            lines += self.emit_minute(minute, &mut text);
            minute += 1;
        }
        out.extend_from_slice(text.as_bytes());
        lines
    }

    fn hourly_weight(&self, t: i64) -> f64 {
        let hour = jiff::Timestamp::from_millisecond(t)
            .map(|ts| self.time_zone.to_datetime(ts).hour())
            .unwrap_or(12);
        // The profile sums to 86.8; a day's events spread over 24 × 60 minutes.
        HOURLY_PROFILE[hour as usize % 24] / HOURLY_PROFILE.iter().sum::<f64>() * 24.0
    }

    fn emit_minute(&self, minute: i64, out: &mut String) -> usize {
        let mut rng = SmallRng::seed_from_u64(
            self.settings.seed ^ (minute as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let t0 = minute * MINUTE;
        let per_minute = DAILY_PERSON_TRIPS * self.settings.scale / 1440.0 * self.hourly_weight(t0);
        let mut lines = 0;
        for (mode, share, spread_m) in [
            ("walk", SHARE_WALK, 450.0),
            ("e_scooter", SHARE_E_SCOOTER, 500.0),
        ] {
            for i in 0..poisson(&mut rng, per_minute * share) {
                let start = t0 + rng.random_range(0..MINUTE);
                let (_, lat, lon) = CENTRES[rng.random_range(0..CENTRES.len())];
                let (_, dlat, dlon) = CENTRES[rng.random_range(0..CENTRES.len())];
                let origin = jitter(&mut rng, lat, lon, spread_m);
                let minutes = if mode == "walk" {
                    rng.random_range(3..25)
                } else {
                    rng.random_range(2..20)
                };
                let destination = if mode == "walk" {
                    jitter(&mut rng, lat, lon, spread_m)
                } else {
                    jitter(&mut rng, dlat, dlon, spread_m)
                };
                let source = if mode == "walk" {
                    "reisevaner-app"
                } else {
                    SCOOTER_OPERATORS[rng.random_range(0..3)]
                };
                let id = format!("{minute:x}-{i}-{:08x}", rng.random::<u32>());
                let mut line = String::new();
                let _ = write!(
                    line,
                    r#"{{"kind":"trip","id":"{id}","source":"{source}","mode":"{mode}","start_time":"{}","end_time":{},"origin":{{"lat":{:.6},"lon":{:.6}}},"destination":{{"lat":{:.6},"lon":{:.6}}}}}"#,
                    EventTimeMs(start).to_rfc3339(),
                    start + minutes * MINUTE,
                    origin.0,
                    origin.1,
                    destination.0,
                    destination.1
                );
                let roll: f64 = rng.random();
                if roll < self.settings.bad_fraction {
                    line = broken(&mut rng, &line);
                }
                out.push_str(&line);
                out.push('\n');
                lines += 1;
                if roll > 1.0 - self.settings.duplicate_fraction {
                    out.push_str(&line);
                    out.push('\n');
                    lines += 1;
                }
            }
        }
        // Counts for the quarter hour that just ended, sent at its end.
        if minute * MINUTE % QUARTER == 0 {
            let start = t0 - QUARTER;
            let per_quarter =
                DAILY_PERSON_TRIPS * self.settings.scale / 96.0 * self.hourly_weight(start);
            for (stop, mode, lat, lon, share) in STOPS {
                let boardings = per_quarter * SHARE_PUBLIC_TRANSPORT * TRANSFER_FACTOR * share;
                let n = noisy(&mut rng, boardings);
                count_line(
                    out,
                    "ruter-apc",
                    &format!("{stop}-{mode}"),
                    mode,
                    start,
                    lat,
                    lon,
                    n,
                );
                lines += 1;
            }
            for (counters, mode, share) in [
                (&CAR_COUNTERS[..], "car_driver", SHARE_CAR),
                (&BICYCLE_COUNTERS[..], "bicycle", SHARE_BICYCLE),
            ] {
                for (point, lat, lon, part) in counters {
                    let n = noisy(&mut rng, per_quarter * share * part);
                    count_line(out, "trafikkdata", point, mode, start, *lat, *lon, n);
                    lines += 1;
                }
            }
        }
        lines
    }
}

#[allow(clippy::too_many_arguments)]
fn count_line(
    out: &mut String,
    source: &str,
    point: &str,
    mode: &str,
    start: i64,
    lat: f64,
    lon: f64,
    n: u64,
) {
    let _ = writeln!(
        out,
        r#"{{"kind":"count","id":"{point}/{}","source":"{source}","mode":"{mode}","start_time":"{}","end_time":"{}","location":{{"lat":{lat},"lon":{lon}}},"count":{n}}}"#,
        EventTimeMs(start).to_rfc3339(),
        EventTimeMs(start).to_rfc3339(),
        EventTimeMs(start + QUARTER).to_rfc3339(),
    );
}

/// A position about `metres` (one standard deviation, roughly) from a centre.
fn jitter(rng: &mut SmallRng, lat: f64, lon: f64, metres: f64) -> (f64, f64) {
    let gauss = |rng: &mut SmallRng| (0..4).map(|_| rng.random::<f64>() - 0.5).sum::<f64>() * 1.7;
    (
        lat + gauss(rng) * metres / 111_320.0,
        lon + gauss(rng) * metres / 55_800.0,
    )
}

/// A Poisson draw (Knuth's method; the means here are small).
fn poisson(rng: &mut SmallRng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 50.0 {
        return noisy(rng, mean);
    }
    let limit = (-mean).exp();
    let mut product: f64 = rng.random();
    let mut n = 0;
    while product > limit {
        n += 1;
        product *= rng.random::<f64>();
    }
    n
}

/// The mean with ±15 % noise, rounded.
fn noisy(rng: &mut SmallRng, mean: f64) -> u64 {
    (mean * rng.random_range(0.85..1.15)).round().max(0.0) as u64
}

/// The line with one defect, cycling through every rejection reason an operator might cause.
fn broken(rng: &mut SmallRng, line: &str) -> String {
    match rng.random_range(0..8) {
        0 => line[..line.len() / 2].to_owned(),
        1 => line.replacen(r#""source":"#, r#""sorce":"#, 1),
        2 => line.replacen(r#"{"lat":5"#, r#"{"lat":9"#, 1),
        3 => line.replacen(r#""mode":""#, r#""mode":"hover"#, 1),
        4 => line.replacen(r#""kind":"trip""#, r#""kind":"journey""#, 1),
        5 => line.replacen(r#""start_time":"20"#, r#""start_time":"19"#, 1),
        6 => line.replacen(r#""start_time":""#, r#""start_time":"x"#, 1),
        _ => line.replacen(r#""kind":"trip","#, r#""kind":"trip","persons":0,"#, 1),
    }
}

#[cfg(test)]
mod tests;
