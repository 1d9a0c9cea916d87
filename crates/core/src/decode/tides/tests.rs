use proptest::prelude::*;

use super::*;
use crate::decode::shared::gtfs::GtfsTables;
use crate::decode::table_decoder::TableDecoder;
use crate::vocabulary::CountsConfig;

const HEADER: &str = "passenger_event_id,service_date,event_timestamp,location_ping_id,trip_id_performed,trip_id_scheduled,trip_stop_sequence,scheduled_stop_sequence,event_type,vehicle_id,device_id,train_car_id,stop_id,pattern_id,event_count";

fn gtfs() -> Gtfs {
    Gtfs::parse(GtfsTables {
        stops: b"stop_id,stop_name,stop_lat,stop_lon,parent_station\n\
                 NSR:StopPlace:1,Sandvika,59.8890,10.5236,\n\
                 NSR:Quay:11,Sandvika spor 1,,,NSR:StopPlace:1\n",
        trips: b"route_id,service_id,trip_id\nRAIL,x,T-RAIL\nTRAM,x,T-TRAM\nODD,x,T-ODD\n",
        routes: b"route_id,route_type\nRAIL,2\nTRAM,900\nODD,1800\n",
        agency: Some(b"agency_id,agency_name,agency_timezone\nVY,Vy,Europe/Oslo\n"),
    })
    .unwrap_or_default()
}

fn decoder_with(config: TidesConfig) -> Result<TableDecoder, Vec<String>> {
    let mut errors = ConfigErrors::default();
    let factors = crate::testing::default_config::<CountsConfig>("counts").validate(&mut errors);
    let settings = config.validate(Some(gtfs()), &mut errors);
    let messages: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.key, e.message))
        .collect();
    match settings {
        Some(s) if messages.is_empty() => Ok(TableDecoder::Tides(TidesDecoder::new(s, factors))),
        _ => Err(messages),
    }
}

fn decoder() -> TableDecoder {
    decoder_with(crate::testing::default_config::<TidesConfig>(
        "formats.tides",
    ))
    .unwrap_or_else(|e| panic!("{e:?}"))
}

/// A row of the template's columns from the ones a test cares about.
fn row(
    id: &str,
    timestamp: &str,
    event_type: &str,
    stop: &str,
    trips: (&str, &str),
    count: &str,
) -> String {
    let (scheduled, performed) = trips;
    format!(
        "{id},2024-05-02,{timestamp},,{performed},{scheduled},1,1,{event_type},bus-1,apc,,{stop},,{count}"
    )
}

/// Each row's outcome: `event mode id start person_trips`, `skipped reason` or
/// `rejected reason: message`.
fn outcomes(decoder: &TableDecoder, table: &str) -> Vec<String> {
    let mut out = Vec::new();
    let read = decoder.decode_table(table.as_bytes(), None, |_, decoded| {
        out.push(match decoded {
            Decoded::Event(Ok(o)) => format!(
                "event {} {} {} {:.4}",
                o.mode,
                o.id.as_deref().unwrap_or("-"),
                o.start_time,
                o.person_trips.as_f64()
            ),
            Decoded::Event(Err(e)) => format!("rejected {}: {}", e.reason, e.message),
            Decoded::Skipped { reason, .. } => format!("skipped {reason}"),
        })
    });
    assert!(read.is_ok(), "{read:?}");
    out
}

fn table(rows: &[String]) -> String {
    let mut text = HEADER.to_owned();
    for r in rows {
        text.push('\n');
        text.push_str(r);
    }
    text
}

const T: &str = "2024-05-02T07:31:00+02:00";
const RAIL: (&str, &str) = ("T-RAIL", "");

#[test]
fn boardings_are_counts_at_their_stop_and_other_events_are_skipped() {
    let rows = [
        row("e1", T, "Passenger boarded", "NSR:StopPlace:1", RAIL, "3"),
        row("e2", T, "Passenger boarded", "NSR:Quay:11", RAIL, ""),
        row("e3", T, "Passenger boarded", "NSR:Quay:11", RAIL, "NA"),
        row("e4", T, "passenger BOARDED", "NSR:Quay:11", RAIL, "NaN"),
        row("e5", T, "Passenger boarded", "NSR:Quay:11", RAIL, "0"),
        row("e6", T, "Passenger alighted", "NSR:Quay:11", RAIL, "4"),
        row("e7", T, "Door opened", "NSR:Quay:11", RAIL, ""),
        row("e8", T, "Individual bike boarded", "NSR:Quay:11", RAIL, "1"),
    ];
    let per_boarding = 1.0 / 1.3;
    let got = outcomes(&decoder(), &table(&rows));
    let at = "2024-05-02T05:31:00Z";
    assert_eq!(
        got,
        [
            format!("event rail e1 {at} {:.4}", 3.0 * per_boarding),
            format!("event rail e2 {at} {per_boarding:.4}"),
            format!("event rail e3 {at} {per_boarding:.4}"),
            format!("event rail e4 {at} {per_boarding:.4}"),
            format!("event rail e5 {at} 0.0000"),
            "skipped not_a_boarding".to_owned(),
            "skipped not_a_boarding".to_owned(),
            "skipped not_a_boarding".to_owned(),
        ]
    );
}

#[test]
fn the_mode_comes_from_the_scheduled_trip_then_the_performed_one_then_the_default() {
    let rows = [
        row(
            "e1",
            T,
            "Passenger boarded",
            "NSR:Quay:11",
            ("T-TRAM", "T-RAIL"),
            "1",
        ),
        row(
            "e2",
            T,
            "Passenger boarded",
            "NSR:Quay:11",
            ("nope", "T-RAIL"),
            "1",
        ),
        row(
            "e3",
            T,
            "Passenger boarded",
            "NSR:Quay:11",
            ("nope", "NA"),
            "1",
        ),
        row("e4", T, "Passenger boarded", "NSR:Quay:11", ("", ""), "1"),
        row(
            "e5",
            T,
            "Passenger boarded",
            "NSR:Quay:11",
            ("T-ODD", ""),
            "1",
        ),
    ];
    let got = outcomes(&decoder(), &table(&rows));
    let modes: Vec<&str> = got
        .iter()
        .map(|o| o.split(' ').nth(1).unwrap_or(""))
        .collect();
    assert_eq!(modes, ["tram", "rail", "bus", "bus", "unknown_mode:"]);
    assert!(got[4].contains("route_type 1800"), "{}", got[4]);

    let strict = decoder_with(TidesConfig {
        default_mode: "reject".into(),
        ..crate::testing::default_config::<TidesConfig>("formats.tides")
    })
    .unwrap_or_else(|e| panic!("{e:?}"));
    let got = outcomes(&strict, &table(&rows));
    assert_eq!(
        got[2],
        "rejected unknown_mode: trip_id_scheduled \"nope\" is not in the GTFS trips.txt, and \
         formats.tides.default_mode is \"reject\""
    );
    assert_eq!(
        got[3],
        "rejected unknown_mode: the row names no trip, and formats.tides.default_mode is \"reject\""
    );
}

#[test]
fn local_timestamps_are_read_in_the_feed_zone_or_the_configured_one() {
    let local = |t: &str| row("e", t, "Passenger boarded", "NSR:Quay:11", RAIL, "1");
    let rows = [
        local("2024-05-02T07:31:00"),
        // 02:30 on 31 March 2024 does not exist in Oslo; on 27 October it happens twice.
        local("2024-03-31T02:30:00"),
        local("2024-10-27T02:30:00"),
    ];
    let start = |o: &String| o.split(' ').nth(3).unwrap_or("").to_owned();
    let got = outcomes(&decoder(), &table(&rows));
    assert_eq!(
        got.iter().map(start).collect::<Vec<_>>(),
        [
            "2024-05-02T05:31:00Z",
            "2024-03-31T01:30:00Z",
            "2024-10-27T00:30:00Z"
        ]
    );
    let config = TidesConfig {
        time_zone: Some("America/Chicago".into()),
        local_time: Some("reject".into()),
        ..crate::testing::default_config::<TidesConfig>("formats.tides")
    };
    let got = outcomes(
        &decoder_with(config).unwrap_or_else(|e| panic!("{e:?}")),
        &table(&rows),
    );
    assert_eq!(start(&got[0]), "2024-05-02T12:31:00Z");
    assert_eq!(start(&got[1]), "2024-03-31T07:30:00Z");
    assert_eq!(start(&got[2]), "2024-10-27T07:30:00Z");
    let oslo_strict = TidesConfig {
        local_time: Some("reject".into()),
        ..crate::testing::default_config::<TidesConfig>("formats.tides")
    };
    let got = outcomes(
        &decoder_with(oslo_strict).unwrap_or_else(|e| panic!("{e:?}")),
        &table(&rows),
    );
    assert!(
        got[1]
            .starts_with("rejected bad_time: event_timestamp: 2024-03-31T02:30:00 does not exist"),
        "{}",
        got[1]
    );
    assert!(got[2].contains("happens twice"), "{}", got[2]);
}

#[test]
fn every_bad_row_is_rejected_with_what_to_fix() {
    let stop = "NSR:Quay:11";
    let rows = [
        row("", T, "Passenger boarded", stop, RAIL, "1"),
        row("e2", "", "Passenger boarded", stop, RAIL, "1"),
        row("e3", "yesterday", "Passenger boarded", stop, RAIL, "1"),
        row("e4", T, "", stop, RAIL, "1"),
        row("e5", T, "Boarding", stop, RAIL, "1"),
        row("e6", T, "Passenger boarded", "", RAIL, "1"),
        row("e7", T, "Passenger boarded", "NSR:Quay:99", RAIL, "1"),
        row("e8", T, "Passenger boarded", stop, RAIL, "-2"),
        row("e9", T, "Passenger boarded", stop, RAIL, "1.5"),
        row(
            "e10",
            T,
            "Passenger boarded",
            stop,
            RAIL,
            "99999999999999999999",
        ),
        row(
            "e11",
            "2099-01-01T00:00:00Z",
            "Passenger boarded",
            stop,
            RAIL,
            "1",
        ),
        "e12,2024-05-02".to_owned(),
    ];
    let got = outcomes(&decoder(), &table(&rows));
    let expected = [
        "rejected missing_field: passenger_event_id: missing or null",
        "rejected missing_field: event_timestamp: missing or null",
        "rejected bad_time: event_timestamp: \"yesterday\" is not an ISO 8601 date and time",
        "rejected missing_field: event_type: missing or null",
        "rejected bad_value: event_type: \"Boarding\" is not a TIDES passenger event type (boardings are \"Passenger boarded\")",
        "rejected missing_field: stop_id: missing or null",
        "rejected unknown_location: stop_id: \"NSR:Quay:99\" is not a stop with a position in the GTFS feed (formats.tides.gtfs)",
        "rejected bad_value: event_count: \"-2\" is not a whole number of passengers ≥ 0",
        "rejected bad_value: event_count: \"1.5\" is not a whole number of passengers ≥ 0",
        "rejected bad_value: event_count: \"99999999999999999999\" is not a whole number of passengers ≥ 0",
    ];
    assert_eq!(got[..expected.len()], expected);
    // In the future only when a clock is given; a short row is invalid_csv.
    assert!(got[10].starts_with("event rail e11"), "{}", got[10]);
    assert!(
        got[11].starts_with("rejected invalid_csv: the row has 2 fields"),
        "{}",
        got[11]
    );
}

#[test]
fn a_header_without_a_needed_column_rejects_every_row_naming_it() {
    let text = "passenger_event_id,event_timestamp,event_type\ne1,2024-05-02T07:31:00Z,Passenger boarded\n";
    let got = outcomes(&decoder(), text);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("rejected missing_field: column \"stop_id\" is not in the header"),
        "{}",
        got[0]
    );
    // Only the id, time, type and stop are needed: the count is 1 and the mode the default.
    let text = "stop_id,event_type,event_timestamp,passenger_event_id\nNSR:Quay:11,Passenger boarded,2024-05-02T07:31:00Z,e1\n";
    assert_eq!(
        outcomes(&decoder(), text),
        [format!(
            "event bus e1 2024-05-02T07:31:00Z {:.4}",
            1.0 / 1.3
        )]
    );
}

#[test]
fn configuration_mistakes_are_named() {
    let e = decoder_with(TidesConfig {
        default_mode: "trolley".into(),
        time_zone: Some("Europe/Bærum".into()),
        local_time: Some("later-ish".into()),
        source: " ".into(),
        ..crate::testing::default_config::<TidesConfig>("formats.tides")
    })
    .err()
    .unwrap_or_default();
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e.iter()
            .any(|m| m
                .starts_with("formats.tides.default_mode: \"trolley\" is not a canonical mode"))
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("formats.tides.time_zone: \"Europe/Bærum\""))
    );
    assert!(e.iter().any(|m| m.starts_with("formats.tides.local_time:")));
    assert!(e.iter().any(|m| m.starts_with("formats.tides.source:")));
    // No feed: not an error here (`tides` is then refused as a format).
    let mut errors = ConfigErrors::default();
    assert!(
        crate::testing::default_config::<TidesConfig>("formats.tides")
            .validate(None, &mut errors)
            .is_none()
    );
    assert!(errors.is_empty());
    // A feed without agency_timezone needs time_zone.
    let feed = Gtfs::parse(GtfsTables {
        stops: b"stop_id,stop_lat,stop_lon\n",
        trips: b"route_id,trip_id\n",
        routes: b"route_id,route_type\n",
        agency: None,
    })
    .unwrap_or_default();
    crate::testing::default_config::<TidesConfig>("formats.tides")
        .validate(Some(feed), &mut errors);
    let messages: Vec<String> = errors.iter().map(|e| e.key.clone()).collect();
    assert_eq!(messages, ["formats.tides.time_zone"]);
}

proptest! {
    /// Whatever the rows hold, every row gets exactly one outcome and nothing panics.
    #[test]
    fn any_rows_get_one_outcome_each(
        rows in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just(String::new()),
                    Just("NA".to_owned()),
                    Just("Passenger boarded".to_owned()),
                    Just("NSR:Quay:11".to_owned()),
                    Just("T-ODD".to_owned()),
                    Just("2024-10-27T02:30:00".to_owned()),
                    "[ -~]{0,12}",
                    "[0-9-]{1,22}",
                ],
                0..16,
            ),
            1..12,
        )
    ) {
        let mut text = HEADER.to_owned();
        for r in &rows {
            text.push('\n');
            // Never a blank line: the CSV reader skips those.
            text.push_str(&r.iter().map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect::<Vec<_>>().join(","));
            if r.is_empty() {
                text.push_str("\"\"");
            }
        }
        let got = outcomes(&decoder(), &text);
        prop_assert_eq!(got.len(), rows.len());
    }
}

#[test]
fn a_boarding_count_beyond_the_plausibility_bound_is_rejected() {
    let stop = "NSR:Quay:11";
    let rows = [
        row("p1", T, "Passenger boarded", stop, RAIL, "1000000"),
        row("p2", T, "Passenger boarded", stop, RAIL, "1000001"),
    ];
    let got = outcomes(&decoder(), &table(&rows));
    assert!(got[0].starts_with("event rail p1"), "{}", got[0]);
    assert_eq!(
        got[1],
        "rejected implausible_value: event_count: 1000001 is more than \
         counts.max_count_per_reading (1000000)"
    );
}
