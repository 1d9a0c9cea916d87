use super::*;
use crate::vocabulary::{CountsConfig, EARLIEST_EVENT_TIME};
use proptest::prelude::*;

const TRIP: &str = r#"{"kind":"trip","id":"b87acd0f","source":"voi","mode":"e_scooter","start_time":"2024-05-02T07:31:12Z","end_time":1714635600000,"origin":{"lat":59.8937,"lon":10.6281},"destination":{"lat":59.9127,"lon":10.6370},"distance_m":2140,"persons":1}"#;
const COUNT: &str = r#"{"kind":"count","id":"70429B619257/2024-05-02T05:00:00Z","source":"trafikkdata","mode":"bicycle","location":{"lat":59.9112,"lon":10.7041},"start_time":"2024-05-02T07:00:00+02:00","end_time":"2024-05-02T08:00:00+02:00","count":85,"persons_per_unit":1.0}"#;

fn decode(line: &str) -> std::result::Result<Observation<'_>, DecodeError<'_>> {
    CanonicalDecoder::new(crate::testing::default_factors()).decode(line.as_bytes(), None)
}

/// The event with one top-level field replaced (`None` removes it).
fn with(base: &str, field: &str, value: Option<&str>) -> String {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(base).unwrap();
    match value {
        Some(json) => v.insert(field.into(), serde_json::from_str(json).unwrap()),
        None => v.remove(field),
    };
    serde_json::to_string(&v).unwrap()
}

fn rejected(line: &str) -> (Reason, String) {
    match decode(line) {
        Ok(obs) => panic!("accepted {line}: {obs:?}"),
        Err(e) => (e.reason, e.message),
    }
}

#[test]
fn the_design_examples_decode() {
    let trip = decode(TRIP).unwrap();
    assert_eq!(trip.kind, Kind::Trip);
    assert_eq!(trip.source, "voi");
    assert_eq!(trip.id.as_deref(), Some("b87acd0f"));
    assert_eq!(trip.mode, Mode::EScooter);
    assert_eq!(trip.start_time, EventTimeMs(1_714_635_072_000));
    assert_eq!(trip.end_time, Some(EventTimeMs(1_714_635_600_000)));
    assert_eq!((trip.place.lat(), trip.place.lon()), (59.8937, 10.6281));
    assert_eq!(trip.distance_m(), Some(2140.0));
    assert_eq!(trip.person_trips, PersonTrips::from_f64(1.0).unwrap());

    let count = decode(COUNT).unwrap();
    assert_eq!(count.kind, Kind::Count);
    assert_eq!(count.start_time, EventTimeMs(1_714_626_000_000));
    assert_eq!(count.person_trips, PersonTrips::from_f64(85.0).unwrap());
}

#[test]
fn strings_are_borrowed_unless_escaped() {
    let trip = decode(TRIP).unwrap();
    assert!(matches!(trip.source, Cow::Borrowed(_)));
    let escaped = with(TRIP, "source", Some(r#""v\u00f8i""#));
    assert_eq!(decode(&escaped).unwrap().source, "vøi");
}

#[test]
fn optional_fields_default() {
    let minimal = r#"{"kind":"trip","id":"1","source":"s","mode":"walk","start_time":1714635600000,"origin":{"lat":59.9,"lon":10.6}}"#;
    let obs = decode(minimal).unwrap();
    assert_eq!(obs.person_trips, PersonTrips::from_f64(1.0).unwrap());
    assert_eq!(obs.distance_m(), None);
    let minimal_count = r#"{"kind":"count","source":"s","mode":"bus","start_time":1714635600000,"location":{"lat":59.9,"lon":10.6},"count":13}"#;
    let obs = decode(minimal_count).unwrap();
    assert_eq!(obs.id, None);
    // 13 boardings at the default transfer factor 1.3 are 10 person trips.
    assert_eq!(obs.person_trips, PersonTrips::from_f64(10.0).unwrap());
    // null is the same as absent for optional fields.
    assert!(
        decode(&with(TRIP, "destination", Some("null")))
            .unwrap()
            .destination
            .is_none()
    );
}

#[test]
fn great_circle_distance_when_not_reported() {
    let line = with(TRIP, "distance_m", None);
    let obs = decode(&line).unwrap();
    let d = obs.distance_m().unwrap();
    assert!((d - 2165.0).abs() < 15.0, "{d}");
}

#[test]
fn count_factor_comes_from_the_event_then_the_config() {
    let mut counts = crate::testing::default_config::<CountsConfig>("counts");
    counts.persons_per_unit.insert("bicycle".into(), 0.5);
    let mut errors = crate::vocabulary::ConfigErrors::default();
    let decoder = CanonicalDecoder::new(counts.validate(&mut errors));
    let line = with(COUNT, "persons_per_unit", None);
    assert_eq!(
        decoder.decode(line.as_bytes(), None).unwrap().person_trips,
        PersonTrips::from_f64(42.5).unwrap()
    );
    let line = with(COUNT, "persons_per_unit", Some("2"));
    assert_eq!(
        decoder.decode(line.as_bytes(), None).unwrap().person_trips,
        PersonTrips::from_f64(170.0).unwrap()
    );
}

#[test]
fn zero_duration_zero_distance_and_zero_count_are_valid() {
    assert!(decode(&with(TRIP, "end_time", Some(r#""2024-05-02T07:31:12Z""#))).is_ok());
    assert!(decode(&with(TRIP, "distance_m", Some("0"))).is_ok());
    assert_eq!(
        decode(&with(COUNT, "count", Some("0")))
            .unwrap()
            .person_trips,
        PersonTrips::ZERO
    );
}

#[test]
fn old_events_are_accepted_and_the_clock_bounds_only_the_future() {
    let old = with(TRIP, "start_time", Some(r#""2000-01-01T00:00:00Z""#));
    let old = with(&old, "end_time", None);
    assert!(decode(&old).is_ok());
    let now = EventTimeMs(1_714_635_072_000 - 3_600_000);
    assert!(
        CanonicalDecoder::new(crate::testing::default_factors())
            .decode(TRIP.as_bytes(), Some(now))
            .is_ok(),
        "exactly 1 h ahead is allowed"
    );
    let now = EventTimeMs(now.0 - 1);
    let e = CanonicalDecoder::new(crate::testing::default_factors())
        .decode(TRIP.as_bytes(), Some(now))
        .unwrap_err();
    assert_eq!(e.reason, Reason::TimeOutOfRange);
    assert!(
        e.message.contains("more than 1 h ahead of the clock"),
        "{}",
        e.message
    );
}

/// Each bad input, the reason it must get, and words its message must contain.
#[test]
fn every_rejection_has_a_reason_and_a_message_naming_field_and_value() {
    let cases: Vec<(String, Reason, &[&str])> = vec![
        ("not json".into(), Reason::InvalidJson, &["not valid JSON"]),
        (TRIP[..40].into(), Reason::InvalidJson, &["not valid JSON"]),
        (
            "[1,2,3]".into(),
            Reason::InvalidJson,
            &["expected a JSON object"],
        ),
        (
            "42".into(),
            Reason::InvalidJson,
            &["expected a JSON object"],
        ),
        (
            r#"{"kind":"trip","kind":"count"}"#.into(),
            Reason::InvalidJson,
            &["duplicate field `kind`"],
        ),
        (
            with(TRIP, "source", None),
            Reason::MissingField,
            &["source: missing"],
        ),
        (
            with(TRIP, "source", Some("null")),
            Reason::MissingField,
            &["source: missing or null"],
        ),
        (
            with(TRIP, "source", Some("7")),
            Reason::BadValue,
            &["source: expected a string, got 7"],
        ),
        (
            with(TRIP, "source", Some(r#""""#)),
            Reason::InvalidSource,
            &["source: must not be empty"],
        ),
        (
            with(TRIP, "source", Some(r#""  ""#)),
            Reason::InvalidSource,
            &["source: \"  \" has leading or trailing whitespace"],
        ),
        (
            with(TRIP, "source", Some(r#"" voi""#)),
            Reason::InvalidSource,
            &["leading or trailing whitespace"],
        ),
        (
            with(TRIP, "source", Some(r#""voi\n""#)),
            Reason::InvalidSource,
            &["control character (U+000A)"],
        ),
        (
            with(TRIP, "source", Some(r#""v\u0000i""#)),
            Reason::InvalidSource,
            &["control character (U+0000)"],
        ),
        (
            with(TRIP, "source", Some(&format!("\"{}\"", "x".repeat(65)))),
            Reason::InvalidSource,
            &["65 bytes, longer than 64"],
        ),
        (
            // 33 two-byte letters: 33 characters, 66 bytes.
            with(TRIP, "source", Some(&format!("\"{}\"", "ø".repeat(33)))),
            Reason::InvalidSource,
            &["66 bytes, longer than 64"],
        ),
        (
            with(TRIP, "persons", Some("101")),
            Reason::ImplausibleValue,
            &["persons: 101 is more than counts.max_persons_per_trip (100)"],
        ),
        (
            with(COUNT, "count", Some("1000001")),
            Reason::ImplausibleValue,
            &["count: 1000001 is more than counts.max_count_per_reading (1000000)"],
        ),
        (with(TRIP, "kind", None), Reason::MissingField, &["kind"]),
        (
            with(TRIP, "kind", Some(r#""journey""#)),
            Reason::UnknownKind,
            &["kind: \"journey\""],
        ),
        (
            with(TRIP, "id", None),
            Reason::MissingField,
            &["id: missing"],
        ),
        (
            with(TRIP, "id", Some("12")),
            Reason::BadValue,
            &["id: expected a string, got 12"],
        ),
        (
            with(TRIP, "id", Some(r#""""#)),
            Reason::BadValue,
            &["id: must not be empty"],
        ),
        (with(TRIP, "mode", None), Reason::MissingField, &["mode"]),
        (
            with(TRIP, "mode", Some(r#""scooter""#)),
            Reason::UnknownMode,
            &["mode: \"scooter\"", "e_scooter"],
        ),
        (
            with(TRIP, "mode", Some("[]")),
            Reason::UnknownMode,
            &["mode: expected a mode name, got an array"],
        ),
        (
            with(TRIP, "start_time", None),
            Reason::MissingField,
            &["start_time"],
        ),
        (
            with(TRIP, "start_time", Some("1714635072")),
            Reason::BadTime,
            &["start_time: 1714635072 looks like seconds"],
        ),
        (
            with(TRIP, "start_time", Some(r#""2024-05-02 07:31""#)),
            Reason::BadTime,
            &["start_time: \"2024-05-02 07:31\""],
        ),
        (
            with(TRIP, "start_time", Some("true")),
            Reason::BadTime,
            &["start_time: expected an RFC 3339 string or epoch milliseconds, got a boolean"],
        ),
        (
            with(TRIP, "start_time", Some(r#""1999-12-31T23:59:59Z""#)),
            Reason::TimeOutOfRange,
            &["start_time: 1999-12-31T23:59:59Z is before 2000-01-01T00:00:00Z"],
        ),
        (
            with(TRIP, "end_time", Some(r#""2024-05-02T07:31:11Z""#)),
            Reason::BadTime,
            &["end_time: 2024-05-02T07:31:11Z is before start_time 2024-05-02T07:31:12Z"],
        ),
        (
            with(TRIP, "end_time", Some("{}")),
            Reason::BadTime,
            &["end_time"],
        ),
        (
            with(TRIP, "origin", None),
            Reason::MissingField,
            &["origin: missing"],
        ),
        (
            with(
                &with(TRIP, "origin", None),
                "location",
                Some(r#"{"lat":1,"lon":2}"#),
            ),
            Reason::MissingField,
            &["`location` is for counts"],
        ),
        (
            with(TRIP, "origin", Some(r#""59.9,10.6""#)),
            Reason::BadCoordinate,
            &["origin: expected an object", "\"59.9,10.6\""],
        ),
        (
            with(TRIP, "origin", Some(r#"[10.6,59.9]"#)),
            Reason::BadCoordinate,
            &["origin: expected an object", "an array"],
        ),
        (
            with(TRIP, "origin", Some(r#"{"lat":59.9}"#)),
            Reason::MissingField,
            &["origin.lon: missing"],
        ),
        (
            with(TRIP, "origin", Some(r#"{"lat":"59.9","lon":10.6}"#)),
            Reason::BadCoordinate,
            &["origin.lat: expected a number in degrees, got \"59.9\""],
        ),
        (
            with(TRIP, "origin", Some(r#"{"lat":91,"lon":10.6}"#)),
            Reason::BadCoordinate,
            &["origin.lat: 91 is outside −90…90"],
        ),
        (
            with(TRIP, "origin", Some(r#"{"lat":10.6,"lon":-180.5}"#)),
            Reason::BadCoordinate,
            &["origin.lon: -180.5 is outside −180…180"],
        ),
        (
            with(TRIP, "origin", Some(r#"{"lat":159.9,"lon":59.9}"#)),
            Reason::BadCoordinate,
            &["swapped"],
        ),
        (
            with(TRIP, "destination", Some(r#"{"lat":0,"lon":200}"#)),
            Reason::BadCoordinate,
            &["destination.lon: 200"],
        ),
        (
            with(TRIP, "distance_m", Some("-1")),
            Reason::BadValue,
            &["distance_m: -1 must be ≥ 0"],
        ),
        (
            with(TRIP, "distance_m", Some(r#""2 km""#)),
            Reason::BadValue,
            &["distance_m: expected a number, got \"2 km\""],
        ),
        (
            with(TRIP, "persons", Some("0")),
            Reason::BadValue,
            &["persons: 0 must be > 0"],
        ),
        (
            with(TRIP, "persons", Some("-2")),
            Reason::BadValue,
            &["persons: -2 must be > 0"],
        ),
        (
            with(TRIP, "persons", Some("1e300")),
            Reason::BadValue,
            &["persons: 1e300 is larger than the accepted maximum"],
        ),
        (
            with(COUNT, "location", None),
            Reason::MissingField,
            &["location: missing"],
        ),
        (
            with(
                &with(COUNT, "location", None),
                "origin",
                Some(r#"{"lat":1,"lon":2}"#),
            ),
            Reason::MissingField,
            &["`origin` is for trips"],
        ),
        (
            with(COUNT, "count", None),
            Reason::MissingField,
            &["count: missing"],
        ),
        (
            with(COUNT, "count", Some("-5")),
            Reason::BadValue,
            &["count: -5 must be ≥ 0"],
        ),
        (
            with(COUNT, "count", Some(r#""85""#)),
            Reason::BadValue,
            &["count: expected a number, got \"85\""],
        ),
        (
            with(COUNT, "persons_per_unit", Some("0")),
            Reason::BadValue,
            &["persons_per_unit: 0 must be > 0"],
        ),
        (
            with(COUNT, "persons_per_unit", Some("5000")),
            Reason::BadValue,
            &["persons_per_unit: 5000 is larger"],
        ),
        (
            with(
                &with(COUNT, "count", Some("1e9")),
                "persons_per_unit",
                Some("10"),
            ),
            Reason::ImplausibleValue,
            &["count: 1000000000 is more than counts.max_count_per_reading"],
        ),
    ];
    for (line, reason, words) in &cases {
        let (got, message) = rejected(line);
        assert_eq!(got, *reason, "{line} → {message}");
        for w in *words {
            assert!(
                message.contains(w),
                "{line}\n  message {message:?}\n  lacks {w:?}"
            );
        }
    }
    let covered: std::collections::BTreeSet<Reason> = cases.iter().map(|c| c.1).collect();
    // The framing rejects long lines; the other formats' own reasons are tested with them.
    let not_canonical = [
        Reason::LineTooLong,
        Reason::InvalidCsv,
        Reason::MissingValue,
        Reason::NotRiderTrip,
        Reason::TripTooShort,
        Reason::TripTooLong,
        Reason::TripTooFar,
        Reason::UnknownLocation,
        // The ingest API's own: who pushed the event, not what it says.
        Reason::SourceNotAllowed,
        Reason::MissingId,
    ];
    let decoder_reasons = Reason::ALL
        .into_iter()
        .filter(|r| !not_canonical.contains(r));
    for r in decoder_reasons {
        assert!(covered.contains(&r), "no case for {r}");
    }
}

#[test]
fn real_source_names_stay_valid() {
    for name in [
        "Voi",
        "reisevaneundersøkelse",
        "ruter-apc",
        "Bysykkel Oslo / Urban Sharing",
        "x",
        &"ø".repeat(32),
        &"x".repeat(64),
        "東京メトロ",
    ] {
        let json = serde_json::to_string(name).unwrap();
        let line = with(TRIP, "source", Some(&json));
        assert_eq!(decode(&line).unwrap().source, name);
    }
}

#[test]
fn an_invalid_source_is_not_carried_by_the_rejection() {
    // Counted under the input's name, so such names never become a source of their own.
    let line = with(TRIP, "source", Some(r#""voi\t""#));
    assert_eq!(decode(&line).unwrap_err().event_source, None);
    // It is the event's identity: it is judged before the other fields.
    let line = with(&line, "mode", Some(r#""hovercraft""#));
    assert_eq!(decode(&line).unwrap_err().reason, Reason::InvalidSource);
}

#[test]
fn plausibility_bounds_come_from_the_configuration() {
    let mut counts = crate::testing::default_config::<CountsConfig>("counts");
    counts.max_persons_per_trip = 500.0;
    counts.max_count_per_reading = 1e9;
    let mut errors = crate::vocabulary::ConfigErrors::default();
    let decoder = CanonicalDecoder::new(counts.validate(&mut errors));
    assert!(errors.is_empty(), "{errors:?}");
    let line = with(TRIP, "persons", Some("500"));
    assert!(decoder.decode(line.as_bytes(), None).is_ok());
    let line = with(TRIP, "persons", Some("501"));
    let e = decoder.decode(line.as_bytes(), None).unwrap_err();
    assert_eq!(e.reason, Reason::ImplausibleValue);
    assert!(e.message.contains("(500)"), "{}", e.message);
    // With a larger bound, what one event may carry at all still holds.
    let line = with(
        &with(COUNT, "count", Some("1e9")),
        "persons_per_unit",
        Some("10"),
    );
    let e = decoder.decode(line.as_bytes(), None).unwrap_err();
    assert_eq!(e.reason, Reason::BadValue);
    assert!(
        e.message.contains("count × persons_per_unit"),
        "{}",
        e.message
    );

    for bad in [0.5, -1.0, f64::NAN, 2e9] {
        let mut counts = crate::testing::default_config::<CountsConfig>("counts");
        counts.max_persons_per_trip = bad;
        let mut errors = crate::vocabulary::ConfigErrors::default();
        counts.validate(&mut errors);
        assert!(
            errors.to_string().contains("counts.max_persons_per_trip"),
            "{bad}: {errors}"
        );
    }
}

#[test]
fn rejections_carry_the_event_source_when_readable() {
    let line = with(TRIP, "mode", Some(r#""hovercraft""#));
    let e = decode(&line).unwrap_err();
    assert_eq!(e.event_source.as_deref(), Some("voi"));
    assert_eq!(decode("{").unwrap_err().event_source, None);
}

#[test]
fn long_values_are_shortened_in_messages() {
    let huge = format!("\"{}\"", "x".repeat(100_000));
    let (_, message) = rejected(&with(TRIP, "mode", Some(&huge)));
    assert!(message.len() < 400, "{} bytes", message.len());
}

#[test]
fn deep_nesting_is_rejected_not_a_stack_overflow() {
    // Nested values in a field are skipped without recursion, so depth alone is harmless: the
    // event is judged on its fields.
    let deep = TRIP.replace(
        r#""kind":"trip""#,
        &format!(r#""kind":{}{}"#, "[".repeat(100_000), "]".repeat(100_000)),
    );
    assert_eq!(rejected(&deep).0, Reason::UnknownKind);
    let deep_unknown = TRIP.replace(
        r#""persons":1"#,
        &format!(
            r#""persons":1,"extra":{}1{}"#,
            "{\"a\":".repeat(10_000),
            "}".repeat(10_000)
        ),
    );
    assert!(decode(&deep_unknown).is_ok());
    let deep_unclosed = format!("{{\"kind\":{}", "[".repeat(1_000_000));
    assert_eq!(rejected(&deep_unclosed).0, Reason::InvalidJson);
}

proptest! {
    /// Any bytes: decoded or rejected with a reason, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = CanonicalDecoder::new(crate::testing::default_factors()).decode(&bytes, Some(EventTimeMs(1_714_635_072_000)));
    }

    /// The valid events with one byte replaced or the line cut anywhere: never a panic, and an
    /// accepted mutation still satisfies every validity rule.
    #[test]
    fn mutated_events_never_panic(pick in 0..2usize, pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<bool>()) {
        let base = [TRIP, COUNT][pick].as_bytes();
        let i = pos.index(base.len());
        let mut line = base.to_vec();
        if cut { line.truncate(i) } else { line[i] = byte }
        if let Ok(obs) = CanonicalDecoder::new(crate::testing::default_factors()).decode(&line, None) {
            prop_assert!(obs.start_time >= EARLIEST_EVENT_TIME);
            prop_assert!(obs.end_time.is_none_or(|e| e >= obs.start_time));
            prop_assert!(!obs.source.is_empty());
            prop_assert!(obs.kind == Kind::Count || obs.id.is_some());
        }
    }
}

#[test]
fn encoded_examples_decode_to_the_same_observation() {
    // Boardings get 1 / transfer_factor per unit: the encoded count carries the person trips,
    // so decoding it again does not divide twice.
    let boardings = with(COUNT, "mode", Some(r#""bus""#));
    let boardings = with(&boardings, "persons_per_unit", None);
    for line in [TRIP, COUNT, &boardings] {
        let observation = decode(line).unwrap();
        let encoded = encode(&observation);
        let again = decode(std::str::from_utf8(&encoded).unwrap()).unwrap();
        assert_eq!(again, observation, "{}", String::from_utf8_lossy(&encoded));
    }
    let bus = decode(&boardings).unwrap();
    assert!(bus.person_trips < decode(COUNT).unwrap().person_trips);
}

proptest! {
    /// Any valid observation survives encoding: the ingest API's canonical events are read back
    /// as what was pushed.
    #[test]
    fn encoded_observations_decode_to_themselves(
        trip in any::<bool>(),
        lat in -90.0..=90.0f64, lon in -180.0..=180.0f64,
        dlat in -90.0..=90.0f64, dlon in -180.0..=180.0f64,
        start in EARLIEST_EVENT_TIME.0..4_102_444_800_000i64,
        length in proptest::option::of(0..86_400_000i64),
        with_destination in any::<bool>(),
        distance in proptest::option::of(0.0..100_000.0f64),
        micros in 1..100_000_000u64,
        mode in 0..Mode::ALL.len(),
    ) {
        let amount = PersonTrips::from_f64(micros as f64 / 1e6).unwrap();
        let observation = Observation {
            kind: if trip { Kind::Trip } else { Kind::Count },
            id: (trip || micros % 2 == 0).then_some(Cow::Borrowed("id-7")),
            source: Cow::Borrowed("voi"),
            mode: Mode::ALL[mode],
            start_time: EventTimeMs(start),
            end_time: length.map(|l| EventTimeMs(start + l)),
            place: GeoPoint::new(lat, lon).unwrap(),
            destination: (trip && with_destination).then(|| GeoPoint::new(dlat, dlon).unwrap()),
            reported_distance_m: if trip { distance } else { None },
            person_trips: amount,
            coverage: None,
        };
        let encoded = encode(&observation);
        let again = CanonicalDecoder::new(crate::testing::default_factors())
            .decode(&encoded, None)
            .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&encoded))))?;
        prop_assert_eq!(again, observation);
    }
}
