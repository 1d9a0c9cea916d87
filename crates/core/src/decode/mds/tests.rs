use super::*;

const V12_TRIP: &str = r#"{"provider_id":"63f13c48-34ff-49d2-aca7-cf6a5b6171c3","provider_name":"Voi","device_id":"d1","vehicle_id":"V-1","vehicle_type":"scooter_standing","propulsion_types":["electric"],"trip_id":"t-1","trip_duration":420,"trip_distance":1850,"route":{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"timestamp":1714635072000},"geometry":{"type":"Point","coordinates":[10.6281,59.8937]}},{"type":"Feature","properties":{"timestamp":1714635492000},"geometry":{"type":"Point","coordinates":[10.6370,59.9127]}}]},"accuracy":5,"start_time":1714635072000,"end_time":1714635492000.75}"#;

const V20_TRIP: &str = r#"{"provider_id":"b4a1b7b5-0000-4000-8000-000000000002","device_id":"d2","trip_id":"t-2","trip_type":["rider"],"start_time":1714635072000,"end_time":1714635672000,"start_location":{"lat":59.8937,"lng":10.6281},"end_location":{"lat":59.9127,"lng":10.637},"duration":600,"distance":2100}"#;

/// `[formats.mds]`: the default with the keys of `toml_text` on top.
fn settings(toml_text: &str) -> MdsSettings {
    let mut table: toml::Table = crate::testing::default_config("formats.mds");
    table.extend(toml_text.parse::<toml::Table>().unwrap());
    let config: MdsConfig = table.try_into().unwrap();
    let mut errors = ConfigErrors::default();
    let s = config.validate(&mut errors);
    assert!(errors.is_empty(), "{errors}");
    s
}

fn default_mds() -> MdsSettings {
    settings("")
}

/// Every item of a record: `(raw bytes, Ok(mode source id origin destination) | Err(reason: message))`.
fn decode(
    decoder: &MdsDecoder,
    record: &str,
) -> Vec<(String, std::result::Result<String, String>)> {
    let mut out = Vec::new();
    decoder.decode_record(record.as_bytes(), None, &mut |raw, decoded| {
        let Decoded::Event(result) = decoded else {
            panic!("MDS skips nothing")
        };
        let result = result
            .map(|o| {
                let d = o.destination.unwrap();
                format!(
                    "{} {} {} {},{} {},{} {:?}",
                    o.mode,
                    o.source,
                    o.id.as_deref().unwrap(),
                    o.place.lat(),
                    o.place.lon(),
                    d.lat(),
                    d.lon(),
                    o.reported_distance_m
                )
            })
            .map_err(|e| format!("{}: {}", e.reason, e.message));
        out.push((String::from_utf8(raw.to_vec()).unwrap(), result));
    });
    out
}

fn one(decoder: &MdsDecoder, record: &str) -> std::result::Result<String, String> {
    let mut items = decode(decoder, record);
    assert_eq!(items.len(), 1);
    items.remove(0).1
}

#[test]
fn a_1_2_trip_starts_and_ends_at_its_route_ends_with_its_vehicle_type() {
    let d = MdsDecoder::new(MdsVersion::Infer, default_mds());
    assert_eq!(
        one(&d, V12_TRIP),
        Ok("e_scooter Voi t-1 59.8937,10.6281 59.9127,10.637 Some(1850.0)".into())
    );
}

#[test]
fn a_2_0_trip_takes_its_vehicle_type_and_source_from_the_provider_configuration() {
    let none = MdsDecoder::new(MdsVersion::Infer, default_mds());
    let e = one(&none, V20_TRIP).unwrap_err();
    assert!(e.starts_with("unknown_mode: vehicle_type: missing"), "{e}");
    assert!(e.contains("formats.mds.providers"), "{e}");
    let configured = MdsDecoder::new(
        MdsVersion::Infer,
        settings(
            r#"[providers."b4a1b7b5-0000-4000-8000-000000000002"]
source = "ryde"
vehicle_type = "bicycle""#,
        ),
    );
    assert_eq!(
        one(&configured, V20_TRIP),
        Ok("bicycle ryde t-2 59.8937,10.6281 59.9127,10.637 Some(2100.0)".into())
    );
    let by_default = MdsDecoder::new(
        MdsVersion::Infer,
        settings(r#"default_vehicle_type = "moped""#),
    );
    assert!(
        one(&by_default, V20_TRIP)
            .unwrap()
            .starts_with("moped b4a1b7b5")
    );
}

#[test]
fn every_trip_of_a_page_is_an_event_of_its_own_with_its_own_bytes() {
    let d = MdsDecoder::new(
        MdsVersion::Infer,
        settings(r#"default_vehicle_type = "scooter""#),
    );
    let rebalance = V20_TRIP
        .replace(r#"["rider"]"#, r#"["rebalance"]"#)
        .replace("t-2", "t-3");
    let short = V20_TRIP
        .replace(r#""duration":600"#, r#""duration":30"#)
        .replace("t-2", "t-4");
    let page = format!(
        r#"{{"version":"2.0.0","data":{{"trips":[{V20_TRIP},{rebalance},{short}]}},"links":{{}}}}"#
    );
    let items = decode(&d, &page);
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].0, V20_TRIP);
    assert_eq!(items[1].0, rebalance);
    assert!(items[0].1.is_ok());
    assert!(
        items[1]
            .1
            .as_ref()
            .unwrap_err()
            .starts_with("not_rider_trip")
    );
    assert!(
        items[2]
            .1
            .as_ref()
            .unwrap_err()
            .starts_with("trip_too_short: the trip lasted 30 s")
    );
    // A 2.0 page has its trips at the top.
    let flat = format!(
        r#"{{"version":"2.0.0","trips":[{V20_TRIP},{rebalance}],"links":{{"next":null}}}}"#
    );
    let items = decode(&d, &flat);
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].0, rebalance);
    assert!(items[0].1.is_ok());
    assert!(decode(&d, r#"{"version":"2.0.0","trips":[]}"#).is_empty());
    // An empty page has no events; a page without trips is one rejection.
    assert!(decode(&d, r#"{"version":"2.0.0","data":{"trips":[]}}"#).is_empty());
    assert!(
        one(&d, r#"{"version":"2.0.0","data":{}}"#)
            .unwrap_err()
            .starts_with("missing_field: data.trips")
    );
}

#[test]
fn the_mds_filters_reject_with_their_own_reasons_and_are_configurable() {
    let d = MdsDecoder::new(MdsVersion::Infer, default_mds());
    let long = V12_TRIP.replace(r#""trip_duration":420"#, r#""trip_duration":90000"#);
    let far = V12_TRIP.replace(r#""trip_distance":1850"#, r#""trip_distance":150000"#);
    let short = V12_TRIP.replace(r#""trip_duration":420"#, r#""trip_duration":59.5"#);
    assert!(one(&d, &long).unwrap_err().starts_with("trip_too_long"));
    assert!(one(&d, &far).unwrap_err().starts_with("trip_too_far"));
    assert!(one(&d, &short).unwrap_err().starts_with("trip_too_short"));
    // Without a duration field, end − start decides.
    let no_duration = V12_TRIP.replace(r#""trip_duration":420,"#, "");
    assert!(one(&d, &no_duration).is_ok());
    let lenient = MdsDecoder::new(
        MdsVersion::Infer,
        settings("min_duration = \"0s\"\nmax_duration = \"48h\"\nmax_distance_m = 200000"),
    );
    for trip in [&long, &far, &short] {
        assert!(one(&lenient, trip).is_ok());
    }
}

#[test]
fn times_are_epoch_milliseconds_and_seconds_are_named_as_such() {
    let d = MdsDecoder::new(MdsVersion::Infer, default_mds());
    let seconds = V12_TRIP.replace("\"start_time\":1714635072000", "\"start_time\":1714635072");
    let e = one(&d, &seconds).unwrap_err();
    assert!(
        e.starts_with("bad_time: start_time: 1714635072 looks like seconds"),
        "{e}"
    );
    let text = V12_TRIP.replace(
        "\"start_time\":1714635072000",
        "\"start_time\":\"2024-05-02T07:31:12Z\"",
    );
    assert!(
        one(&d, &text)
            .unwrap_err()
            .starts_with("bad_time: start_time: expected epoch milliseconds")
    );
    let backwards = V12_TRIP.replace(
        "\"end_time\":1714635492000.75",
        "\"end_time\":1714635000000",
    );
    assert!(
        one(&d, &backwards)
            .unwrap_err()
            .starts_with("bad_time: end_time")
    );
}

#[test]
fn versions_are_inferred_or_forced_and_unusable_trips_say_what_is_missing() {
    let infer = MdsDecoder::new(MdsVersion::Infer, default_mds());
    let neither = r#"{"provider_id":"p","trip_id":"t","start_time":1714635072000}"#;
    assert!(
        one(&infer, neither)
            .unwrap_err()
            .starts_with("missing_field: route / start_location")
    );
    let forced_v2 = MdsDecoder::new(MdsVersion::V2, default_mds());
    assert!(
        one(&forced_v2, V12_TRIP)
            .unwrap_err()
            .starts_with("missing_field: trip_type")
    );
    let no_trip_id = V12_TRIP.replace(r#""trip_id":"t-1","#, "");
    assert!(
        one(&infer, &no_trip_id)
            .unwrap_err()
            .starts_with("missing_field: trip_id")
    );
    let robot = V12_TRIP.replace("scooter_standing", "delivery_robot");
    assert!(
        one(&infer, &robot)
            .unwrap_err()
            .contains("carries no person")
    );
    let empty_route = V12_TRIP.split(r#""route""#).next().unwrap().to_owned()
        + r#""route":{"type":"FeatureCollection","features":[]},"start_time":1714635072000}"#;
    assert!(
        one(&infer, &empty_route)
            .unwrap_err()
            .starts_with("missing_field: route: has no points")
    );
    let swapped = V20_TRIP.replace(
        r#""start_location":{"lat":59.8937,"lng":10.6281}"#,
        r#""start_location":{"lat":159.8937,"lng":10.6281}"#,
    );
    let configured = MdsDecoder::new(
        MdsVersion::Infer,
        settings(r#"default_vehicle_type = "scooter""#),
    );
    assert!(
        one(&configured, &swapped)
            .unwrap_err()
            .starts_with("bad_coordinate: start_location.lat")
    );
    for broken in ["{", "[1,2]", "\"trip\"", "{\"data\": 5}"] {
        assert!(
            one(&infer, broken).unwrap_err().starts_with("invalid_json"),
            "{broken}"
        );
    }
    let mut invalid_utf8 = Vec::new();
    infer.decode_record(b"{\"trip_id\": \"\xff\"}", None, &mut |_, d| {
        if let Decoded::Event(Err(e)) = d {
            invalid_utf8.push(e.reason);
        }
    });
    assert_eq!(invalid_utf8, [Reason::InvalidJson]);
}

#[test]
fn every_documented_vehicle_type_has_its_mode() {
    for (vehicle, mode) in [
        ("scooter", Mode::EScooter),
        ("scooter_standing", Mode::EScooter),
        ("scooter_seated", Mode::EScooter),
        ("bicycle", Mode::Bicycle),
        ("cargo_bicycle", Mode::Bicycle),
        ("moped", Mode::Moped),
        ("car", Mode::CarDriver),
        ("other", Mode::Other),
    ] {
        assert_eq!(vehicle_mode(vehicle), Ok(mode), "{vehicle}");
    }
    assert!(vehicle_mode("hovercraft").is_err());
}
