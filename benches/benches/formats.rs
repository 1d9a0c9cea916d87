//! Decoding throughput per input format (one thread): the format's decoder alone, and the
//! whole replay pipeline over it (decode → dedup → bin → total), in events per second.
//!
//! `cargo bench -p modeshare-benches --bench formats` (EVENTS=n to change the size).

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use modeshare_benches::{ZONES, settings};
use modeshare_core::decode::{
    Decoded, Format, FormatDecoder, FormatsConfig, Gtfs, GtfsTables, RegistrationPoints,
};
use modeshare_core::pipeline::Pipeline;
use modeshare_core::space::Zones;
use modeshare_core::vocabulary::ConfigErrors;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const POINTS: &str = include_str!("../../config/trafikkdata/registration-points.csv");
const START_MS: i64 = 1_714_600_000_000;

/// A random position around Bærum.
fn place(rng: &mut SmallRng) -> (f64, f64) {
    (
        rng.random_range(59.86..59.96),
        rng.random_range(10.45..10.66),
    )
}

fn mds_v1_trip(i: usize, rng: &mut SmallRng) -> String {
    let (o, d) = (place(rng), place(rng));
    let start = START_MS + i as i64 * 1000;
    format!(
        r#"{{"provider_id":"70aa475d-1fcd-4504-b69c-2eeb2107f7be","provider_name":"Voi","device_id":"d{i}","vehicle_id":"V{i}","vehicle_type":"scooter","propulsion_types":["electric"],"trip_id":"t-{i}","trip_duration":420,"trip_distance":1850,"route":{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"timestamp":{start}}},"geometry":{{"type":"Point","coordinates":[{},{}]}}}},{{"type":"Feature","properties":{{"timestamp":{}}},"geometry":{{"type":"Point","coordinates":[{},{}]}}}}]}},"accuracy":5,"start_time":{start},"end_time":{}}}"#,
        o.1,
        o.0,
        start + 420_000,
        d.1,
        d.0,
        start + 420_000
    )
}

fn mds_v2_trip(i: usize, rng: &mut SmallRng) -> String {
    let (o, d) = (place(rng), place(rng));
    let start = START_MS + i as i64 * 1000;
    format!(
        r#"{{"provider_id":"5f7114d1-4091-46ee-b492-e55875f7de00","device_id":"d{i}","trip_id":"t-{i}","trip_type":["rider"],"start_time":{start},"end_time":{},"start_location":{{"lat":{},"lng":{}}},"end_location":{{"lat":{},"lng":{}}},"duration":420,"distance":1850}}"#,
        start + 420_000,
        o.0,
        o.1,
        d.0,
        d.1
    )
}

/// Trafikkdata rows: per hour and point two lanes, two direction totals and the `Totalt` row,
/// so one row in five is an event.
fn trafikkdata(events: usize) -> String {
    let points = [
        "48127B441664",
        "95548B441730",
        "23620V443607",
        "25697V443622",
    ];
    let mut out = String::from(
        "Trafikkregistreringspunkt;Navn;Vegreferanse;Fra;Til;Dato;Fra tidspunkt;Til tidspunkt;Felt;Trafikkmengde;Dekningsgrad (%);Antall timer total;Antall timer inkludert;Antall timer ugyldig;Ikke gyldig lengde;Lengdekvalitetsgrad (%);< 5,6m;>= 5,6m;5,6m - 7,6m;7,6m - 12,5m;12,5m - 16,0m;>= 16,0m;16,0m - 24,0m;>= 24,0m\n",
    );
    for i in 0..events {
        let point = points[i % points.len()];
        let hour =
            jiff::Timestamp::from_millisecond(START_MS + (i / points.len()) as i64 * 3_600_000)
                .unwrap();
        let local = |t: jiff::Timestamp| {
            t.in_tz("Europe/Oslo")
                .unwrap()
                .strftime("%Y-%m-%dT%H:%M%:z")
                .to_string()
        };
        let (fra, til) = (
            local(hour),
            local(hour + jiff::SignedDuration::from_hours(1)),
        );
        for felt in [
            "1",
            "2",
            "Totalt i retning HØVIK",
            "Totalt i retning SANDVIKA",
            "Totalt",
        ] {
            let _ = writeln!(
                out,
                "{point};Navn;FV168 S1D1 m100;{fra};{til};2024-05-02;07:00;08:00;{felt};120;100,0;1;1;0;0;100,00;110;10;5;3;2;0;0;0"
            );
        }
    }
    out
}

fn oslobysykkel(events: usize, rng: &mut SmallRng) -> String {
    let mut out = String::from(
        "started_at,ended_at,duration,start_station_id,start_station_name,start_station_description,start_station_latitude,start_station_longitude,end_station_id,end_station_name,end_station_description,end_station_latitude,end_station_longitude\n",
    );
    for i in 0..events {
        let (o, d) = (place(rng), place(rng));
        let start = jiff::Timestamp::from_millisecond(START_MS + i as i64 * 1000).unwrap();
        let end = start + jiff::SignedDuration::from_secs(600);
        let t = |ts: jiff::Timestamp| ts.strftime("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
        let _ = writeln!(
            out,
            "{},{},600,478,Jernbanetorget,Europarådets plass,{},{},1755,Aker Brygge,bak muren,{},{}",
            t(start),
            t(end),
            o.0,
            o.1,
            d.0,
            d.1
        );
    }
    out
}

fn kansascity(events: usize, rng: &mut SmallRng) -> String {
    let mut out = String::from(
        "trip_id,Start Date,Start Time,End Date,End Time,Trip Duration,Trip Distance,Start Latitude,Start Longitude,End Latitude,End Longitude,Day of Week,hour,Start Location,End Location\n",
    );
    for i in 0..events {
        let (o, d) = (place(rng), place(rng));
        let (h, m) = ((i / 60) % 24, i % 60);
        let _ = writeln!(
            out,
            "trip-{i},08/30/2021 12:00:00 AM,{h:02}:{m:02}:20,08/30/2021 12:00:00 AM,{h:02}:{m:02}:50,30,4070,{},{},{},{},1,{h},POINT ({} {}),POINT ({} {})",
            o.0, o.1, d.0, d.1, o.1, o.0, d.1, d.0
        );
    }
    out
}

/// A GTFS feed of 100 stops around Bærum and 1,000 trips on bus (3) and extended-rail (106)
/// routes, as `stops.txt`, `trips.txt`, `routes.txt`, `agency.txt`.
fn gtfs_tables(rng: &mut SmallRng) -> [String; 4] {
    let mut stops = String::from("stop_id,stop_name,stop_lat,stop_lon\n");
    for s in 0..100 {
        let (lat, lon) = place(rng);
        let _ = writeln!(stops, "NSR:Quay:{s},Stop {s},{lat},{lon}");
    }
    let mut trips = String::from("route_id,service_id,trip_id\n");
    for t in 0..1000 {
        let _ = writeln!(trips, "R{},all,trip-{t}", t % 2);
    }
    let routes = "route_id,route_type\nR0,3\nR1,106\n".to_owned();
    let agency =
        "agency_id,agency_name,agency_url,agency_timezone\nA,Ruter,https://ruter.no,Europe/Oslo\n"
            .to_owned();
    [stops, trips, routes, agency]
}

/// TIDES passenger events: per stop visit a boarding and an alighting, so one row in two is
/// an event; local timestamps without an offset, as many APC exports write them.
fn tides(events: usize) -> String {
    let mut out = String::from(
        "passenger_event_id,service_date,event_timestamp,location_ping_id,trip_id_performed,trip_id_scheduled,trip_stop_sequence,scheduled_stop_sequence,event_type,vehicle_id,device_id,train_car_id,stop_id,pattern_id,event_count\n",
    );
    for i in 0..events {
        let t = jiff::Timestamp::from_millisecond(START_MS + i as i64 * 1000).unwrap();
        let local = t
            .in_tz("Europe/Oslo")
            .unwrap()
            .strftime("%Y-%m-%dT%H:%M:%S")
            .to_string();
        let (trip, stop) = (i % 1000, (i * 7) % 100);
        for (suffix, event_type) in [("on", "Passenger boarded"), ("off", "Passenger alighted")] {
            let _ = writeln!(
                out,
                "pe-{i}-{suffix},2024-05-02,{local},,trip-{trip},trip-{trip},{},{},{event_type},bus-{},apc-1,,NSR:Quay:{stop},,{}",
                i % 30 + 1,
                i % 30 + 1,
                trip % 90,
                i % 4 + 1
            );
        }
    }
    out
}

fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (f64, usize) {
    let (mut best, mut n) = (f64::INFINITY, 0);
    for _ in 0..runs {
        let t = Instant::now();
        n = black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, n)
}

fn main() {
    let events: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut errors = ConfigErrors::default();
    let config: FormatsConfig = toml_config();
    let [stops, trips, routes, agency] = gtfs_tables(&mut rng);
    let gtfs = Gtfs::parse(GtfsTables {
        stops: stops.as_bytes(),
        trips: trips.as_bytes(),
        routes: routes.as_bytes(),
        agency: Some(agency.as_bytes()),
    })
    .unwrap();
    let formats = config.validate(
        RegistrationPoints::parse(POINTS).unwrap(),
        Some(gtfs),
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors}");
    let settings = settings(h3o::Resolution::Nine);
    let zones = Zones::from_geojson(ZONES).unwrap();
    let lines = |f: &dyn Fn(usize, &mut SmallRng) -> String, rng: &mut SmallRng| {
        (0..events).map(|i| f(i, rng) + "\n").collect::<String>()
    };
    let v2_page_lines: String = {
        let trips: Vec<String> = (0..events).map(|i| mds_v2_trip(i, &mut rng)).collect();
        trips
            .chunks(1000)
            .map(|c| {
                format!(
                    "{{\"version\":\"2.0.0\",\"data\":{{\"trips\":[{}]}}}}\n",
                    c.join(",")
                )
            })
            .collect()
    };
    let inputs: Vec<(&str, String, String)> = vec![
        (
            "canonical",
            "canonical".into(),
            String::from_utf8(modeshare_benches::canonical_events(events, 42)).unwrap(),
        ),
        (
            "mds 1.2 trips, one per line",
            "mds".into(),
            lines(&mds_v1_trip, &mut rng),
        ),
        (
            "mds 2.0 trips, one per line",
            "mds".into(),
            lines(&mds_v2_trip, &mut rng),
        ),
        ("mds 2.0 pages of 1,000 trips", "mds".into(), v2_page_lines),
        (
            "trafikkdata (1 row in 5 is an event)",
            "trafikkdata".into(),
            trafikkdata(events),
        ),
        (
            "tides (1 row in 2 is a boarding)",
            "tides".into(),
            tides(events),
        ),
        (
            "csv:oslobysykkel (ISO times)",
            "csv:oslobysykkel".into(),
            oslobysykkel(events, &mut rng),
        ),
        (
            "csv:kansascity (strftime, local time)",
            "csv:kansascity".into(),
            kansascity(events, &mut rng),
        ),
    ];
    println!("| format | input MiB | decode only, events/s | replay pipeline, events/s |");
    println!("|---|---|---|---|");
    for (label, name, data) in &inputs {
        let format = Format::parse(name, &formats).unwrap();
        let decoder = FormatDecoder::new(&format, &formats, &settings.factors);
        let decode = |pipeline: Option<&mut Pipeline>| -> usize {
            let mut accepted = 0;
            let mut pipeline = pipeline;
            let mut each = |_: std::borrow::Cow<'_, [u8]>, d: Decoded<'_>| {
                if let Some(p) = pipeline.as_deref_mut() {
                    p.observe_decoded(d, "bench", None);
                } else if matches!(d, Decoded::Event(Ok(_))) {
                    accepted += 1;
                }
            };
            match &decoder {
                FormatDecoder::Table(_) => decoder.decode_record(data.as_bytes(), None, &mut each),
                _ => {
                    for line in data
                        .as_bytes()
                        .split(|b| *b == b'\n')
                        .filter(|l| !l.is_empty())
                    {
                        decoder.decode_record(line, None, &mut each);
                    }
                }
            }
            if let Some(p) = pipeline {
                accepted = p.totals().events.accepted as usize;
            }
            accepted
        };
        let (decode_s, accepted) = best_of(3, || decode(None));
        assert_eq!(accepted, events, "{label}: every generated event is valid");
        let (pipeline_s, accepted) = best_of(3, || {
            let mut p = Pipeline::for_replay(settings.clone(), zones.clone());
            decode(Some(&mut p))
        });
        assert_eq!(accepted, events, "{label}");
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} |",
            data.len() as f64 / (1 << 20) as f64,
            events as f64 / decode_s,
            events as f64 / pipeline_s
        );
    }
}

fn toml_config() -> FormatsConfig {
    let mut config: FormatsConfig = modeshare_core::testing::default_config("formats");
    config.mds.providers.insert(
        "5f7114d1-4091-46ee-b492-e55875f7de00".into(),
        modeshare_core::decode::ProviderConfig {
            source: Some("ryde".into()),
            vehicle_type: Some("scooter".into()),
        },
    );
    config
}
