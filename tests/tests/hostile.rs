//! Hostile input through every decoder: records of every format, taken from the real and
//! synthetic samples and mutated (truncated, bytes flipped, invalid UTF-8, wrong types, huge
//! numbers, NaN and infinities, deep nesting, 10 MB fields, stray quotes and separators). Each
//! one must get an outcome — accepted, rejected with a reason, or skipped — and nothing may
//! panic. State stays bounded: at most `MAX_SOURCES` + 1 sources however many names arrive.
//!
//! A seeded mutation fuzzer: `HOSTILE_SEED` and `HOSTILE_CASES` (default 12,000) replay or
//! lengthen a run; the seed is printed. Run it long with
//! `HOSTILE_CASES=5000000 cargo test --release -p modeshare-tests --test hostile -- --nocapture`.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // test code

use std::path::Path;

use modeshare_core::decode::{
    Decoded, Format, FormatDecoder, FormatsConfig, Gtfs, GtfsTables, Reason, RegistrationPoints,
};
use modeshare_core::pipeline::Settings;
use modeshare_core::pipeline::{Outcome, Pipeline};
use modeshare_core::space::Zones;
use modeshare_core::state::MAX_SOURCES;
use modeshare_core::vocabulary::ConfigErrors;
use modeshare_core::vocabulary::EventTimeMs;

const NOW: EventTimeMs = EventTimeMs(1_763_900_000_000);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/formats")
            .join(name),
    )
    .unwrap()
}

/// xorshift64*: small, seedable, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NASTY: [&[u8]; 16] = [
    b"1e999",
    b"-1e999",
    b"NaN",
    b"Infinity",
    b"18446744073709551616000",
    b"-0",
    b"\"\"",
    b"null",
    b"[]",
    b"{}",
    b"true",
    b"\xff\xfe",
    b"\"\\ud800\"",
    b"\"\xc3\x28\"",
    b";;;;",
    b"\"a,b\"\"c\"",
];

/// One mutation of a record.
fn mutate(rng: &mut Rng, record: &[u8]) -> Vec<u8> {
    let mut r = record.to_vec();
    let at = rng.below(r.len() + 1);
    match rng.below(10) {
        // Truncated anywhere.
        0 => r.truncate(at),
        // Random bytes flipped.
        1 => {
            for _ in 0..=rng.below(4) {
                if !r.is_empty() {
                    let i = rng.below(r.len());
                    r[i] ^= 1 << rng.below(8);
                }
            }
        }
        // A nasty token in place of a value-sized piece.
        2 | 3 => {
            let end = (at + rng.below(12)).min(r.len());
            let token = NASTY[rng.below(NASTY.len())];
            r.splice(at..end, token.iter().copied());
        }
        // A digit run blown up into a huge number.
        4 => {
            let digits = vec![b'9'; 1 + rng.below(400)];
            r.splice(at..at, digits);
        }
        // Deep nesting.
        5 => {
            let depth = 1 + rng.below(20_000);
            let mut nest = vec![b'['; depth];
            nest.extend(std::iter::repeat_n(b']', depth));
            r.splice(at..at, nest);
        }
        // A large field (10 MB in one case in a hundred, else up to 100 kB).
        6 => {
            let len = if rng.below(100) == 0 {
                10 << 20
            } else {
                rng.below(100_000)
            };
            r.splice(at..at, std::iter::repeat_n(b'x', len));
        }
        // Quotes, separators and line breaks where they do not belong.
        7 => {
            let stray = [b'"', b',', b';', b'\n', b'\r', b'{', b'}', b':'][rng.below(8)];
            r.insert(at, stray);
        }
        // A piece of the record repeated (duplicate keys, doubled columns).
        8 => {
            let end = (at + rng.below(60)).min(r.len());
            let piece = r[at..end].to_vec();
            r.splice(at..at, piece);
        }
        // Many distinct source names (bounded state), and names that are not names: control
        // characters, whitespace at either end, empty, too long.
        _ => {
            let n = rng.next();
            let name = match rng.below(6) {
                0 => format!("s{n}\\u0007"),
                1 => format!(" s{n}"),
                2 => format!("s{n}\\t"),
                3 => String::new(),
                4 => "ø".repeat(33),
                _ => format!("s{n}"),
            };
            let field = format!("\"source\":\"{name}\",");
            let i = r.iter().position(|b| *b == b'{').map_or(0, |i| i + 1);
            r.splice(i..i, field.into_bytes());
        }
    }
    r
}

/// The default configuration's settings: every per-event step on (distance bands, and transit
/// access over the embedded Bærum stops).
fn settings() -> Settings {
    let zones = Zones::from_geojson(modeshare_core::testing::DEFAULT_ZONES).unwrap();
    modeshare_core::testing::default_settings(&zones)
}

/// A format's seed records: JSON formats one record per line; table formats a header and its
/// rows (a mutated row is decoded after the header).
struct Seeds {
    format: &'static str,
    header: Option<Vec<u8>>,
    records: Vec<Vec<u8>>,
}

fn corpus() -> Vec<Seeds> {
    let lines = |bytes: Vec<u8>| -> Vec<Vec<u8>> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    };
    let table = |bytes: Vec<u8>| -> (Option<Vec<u8>>, Vec<Vec<u8>>) {
        let mut rows = lines(bytes);
        let header = rows.remove(0);
        (Some(header), rows)
    };
    let mut formats = vec![
        (
            "canonical",
            None,
            lines(fixture("oslobysykkel-2024-01.head.csv.canonical.ndjson")),
        ),
        (
            "mds",
            None,
            lines(fixture("mds-2.0-trips.synthetic.ndjson")),
        ),
    ];
    let v1_page: serde_json::Value =
        serde_json::from_slice(&fixture("mds-1.2-page.synthetic.json")).unwrap();
    formats.push(("mds", None, vec![serde_json::to_vec(&v1_page).unwrap()]));
    for (format, file) in [
        ("trafikkdata", "trafikkdata-baerum-dst.synthetic.csv"),
        ("tides", "tides-flytoget.synthetic.csv"),
        ("csv:oslobysykkel", "oslobysykkel-2024-01.head.csv"),
        ("csv:kansascity", "kansas_city_trips.head.csv"),
        ("csv:louisville", "louisville_trips.head.csv"),
        ("csv:indianapolis", "indianapolis_purr_trips.head.csv"),
    ] {
        let (header, rows) = table(fixture(file));
        formats.push((format, header, rows));
    }
    formats
        .into_iter()
        .map(|(format, header, records)| Seeds {
            format,
            header,
            records,
        })
        .collect()
}

#[test]
fn mutated_records_of_every_format_get_an_outcome_and_never_panic() {
    let seed: u64 = std::env::var("HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0fb4_3000_u64);
    let cases: usize = std::env::var("HOSTILE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12_000);
    println!("hostile input: HOSTILE_SEED={seed} HOSTILE_CASES={cases}");
    let mut rng = Rng(seed | 1);

    let points = RegistrationPoints::parse(
        "id,lat,lon\n48127B441664,59.906336,10.523364\n95548B441730,59.882004,10.515357\n\
         23620V443607,59.906429,10.523391\n25697V443622,59.892067,10.534988\n",
    )
    .unwrap();
    let gtfs = Gtfs::parse(GtfsTables {
        stops: b"stop_id,stop_lat,stop_lon\nRUT:StopArea:7600100,59.9102,10.75533\n\
                 RUT:StopArea:7601402,59.922,10.67985\nRUT:StopArea:7601404,59.91348,10.63658\n\
                 RUT:StopArea:7601405,59.90794,10.60715\nRUT:StopArea:7601413,59.83375,10.43455\n",
        trips: b"route_id,trip_id\n1,10\n",
        routes: b"route_id,route_type\n1,2\n",
        agency: Some(b"agency_id,agency_timezone\nF,Europe/Oslo\n"),
    })
    .unwrap();
    let mut formats_config: FormatsConfig = modeshare_core::testing::default_config("formats");
    formats_config.mds.default_vehicle_type = Some("scooter".into());
    let mut errors = ConfigErrors::default();
    let formats = formats_config.validate(points, Some(gtfs), &mut errors);
    assert!(errors.is_empty(), "{errors}");
    let zones = Zones::from_geojson(include_str!("../../config/zones/baerum.geojson")).unwrap();
    let settings = settings();
    let corpus = corpus();
    let decoders: Vec<FormatDecoder> = corpus
        .iter()
        .map(|seeds| {
            let format = Format::parse(seeds.format, &formats).unwrap();
            FormatDecoder::new(&format, &formats, &settings.factors)
        })
        .collect();

    let mut pipeline = Pipeline::live(settings.clone(), zones);
    let (mut items, mut outcomes, mut skipped) = (0u64, 0u64, 0u64);
    let mut by_format = std::collections::BTreeMap::<&str, u64>::new();
    for case in 0..cases {
        let Seeds {
            format: name,
            header,
            records,
        } = &corpus[case % corpus.len()];
        let decoder = &decoders[case % corpus.len()];
        let seed_record = &records[rng.below(records.len())];
        let mutated = mutate(&mut rng, seed_record);
        let record = match header {
            Some(h) => [h.as_slice(), b"\n", &mutated].concat(),
            None => mutated,
        };
        let mut got = 0u64;
        decoder.decode_record(&record, Some(NOW), &mut |_, decoded| {
            got += 1;
            match decoded {
                Decoded::Skipped { .. } => skipped += 1,
                Decoded::Event(result) => {
                    let outcome = pipeline.observe(result, name, Some(NOW));
                    if let Outcome::Rejected(e) = &outcome {
                        assert!(!e.message.is_empty(), "a rejection says why");
                    }
                    outcomes += 1;
                }
            }
        });
        // A JSON record is at least one item; a table's mutated row may become zero rows (a
        // blank line) or several (an inserted line break), but never loses the whole table.
        if header.is_none() {
            assert!(got >= 1, "{name}: no outcome for case {case} (seed {seed})");
        }
        items += got;
        *by_format.entry(name).or_default() += got;
    }
    let totals = pipeline.totals();
    assert_eq!(totals.events.read, outcomes, "every event counted once");
    assert_eq!(
        totals.events.read,
        totals.events.accepted + totals.events.rejected + totals.events.duplicates
    );
    assert!(
        totals.by_source.len() <= MAX_SOURCES + 1,
        "sources stay bounded"
    );
    // No name that breaks the source rule is ever a source: such events are `invalid_source`,
    // counted under the input's name.
    for (name, _) in &totals.by_source {
        let valid = (1..=64).contains(&name.len())
            && !name.chars().any(char::is_control)
            && name.trim() == name;
        assert!(valid, "source {name:?} was counted as a source of its own");
    }
    assert!(
        totals.rejections.get(&Reason::InvalidSource).copied() > Some(0),
        "the fuzzer sends invalid sources"
    );
    assert!(
        totals.events.rejected > cases as u64 / 4,
        "most mutations are rejected"
    );
    assert!(totals.events.accepted > 0, "some mutations are harmless");
    println!(
        "{cases} mutated records → {items} items: {} accepted, {} rejected, {} duplicates, {skipped} skipped; per format {by_format:?}",
        totals.events.accepted, totals.events.rejected, totals.events.duplicates
    );
}
