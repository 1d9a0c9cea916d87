use super::*;
use crate::decode::table_decoder::TableDecoder;
use crate::vocabulary::CountsConfig;

const HEADER: &str = "Trafikkregistreringspunkt;Navn;Vegreferanse;Fra;Til;Dato;Fra tidspunkt;Til tidspunkt;Felt;Trafikkmengde;Dekningsgrad (%);Antall timer total;Antall timer inkludert;Antall timer ugyldig;Ikke gyldig lengde;Lengdekvalitetsgrad (%);< 5,6m;>= 5,6m;5,6m - 7,6m;7,6m - 12,5m;12,5m - 16,0m;>= 16,0m;16,0m - 24,0m;>= 24,0m";

fn row(
    point: &str,
    from: &str,
    to: &str,
    lane: &str,
    volume: &str,
    coverage: &str,
    light: &str,
) -> String {
    format!(
        "{point};Navn;FV160;{from};{to};2024-10-27;00:00;01:00;{lane};{volume};{coverage};1;1;0;0;100,00;{light};5;1;1;3;0;0;0"
    )
}

fn decoder(car_occupancy: f64, point_modes: &[(&str, Mode)]) -> TableDecoder {
    let points = RegistrationPoints::parse(
        "id,lat,lon,name\n00492V443603,59.926885,10.622418,Oslo grense\n12345B999,59.9,10.5,Sykkel\n777X1,59.9,10.5,Odd\n",
    )
    .unwrap();
    let mut counts = crate::testing::default_config::<CountsConfig>("counts");
    counts
        .persons_per_unit
        .insert("car_driver".into(), car_occupancy);
    let factors = counts.validate(&mut ConfigErrors::default());
    TableDecoder::Trafikkdata(TrafikkdataDecoder::new(
        "trafikkdata".into(),
        points,
        point_modes
            .iter()
            .map(|(p, m)| ((*p).to_owned(), *m))
            .collect(),
        factors,
    ))
}

/// Each row's outcome as text: `event mode id person_trips coverage`, `skipped reason`, or
/// `rejected reason: message`.
fn outcomes(decoder: &TableDecoder, table: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    decoder
        .decode_table(table, None, |_, decoded| {
            out.push(match decoded {
                Decoded::Event(Ok(o)) => format!(
                    "event {} {} {} {:?}",
                    o.mode,
                    o.id.as_deref().unwrap_or("-"),
                    o.person_trips.as_f64(),
                    o.coverage
                ),
                Decoded::Event(Err(e)) => format!("rejected {}: {}", e.reason, e.message),
                Decoded::Skipped { reason, .. } => format!("skipped {reason}"),
            })
        })
        .unwrap();
    out
}

#[test]
fn only_total_rows_are_events_and_vehicle_points_count_light_vehicles_times_occupancy() {
    let from = "2024-05-01T07:00+02:00";
    let to = "2024-05-01T08:00+02:00";
    let table = [
        HEADER.to_owned(),
        row("00492V443603", from, to, "1", "46", "100,0", "45"),
        row("00492V443603", from, to, "2", "64", "100,0", "59"),
        row(
            "00492V443603",
            from,
            to,
            "Totalt i retning BEKKESTUA",
            "46",
            "100,0",
            "45",
        ),
        row("00492V443603", from, to, "Totalt", "110", "50,0", "104"),
        row("12345B999", from, to, "Totalt", "85", "100,0", "-"),
    ]
    .join("\r\n");
    let got = outcomes(&decoder(1.5, &[]), table.as_bytes());
    assert_eq!(
        got,
        [
            "skipped not_a_total",
            "skipped not_a_total",
            "skipped not_a_total",
            "event car_driver 00492V443603/2024-05-01T05:00:00Z 156 Some(0.5)",
            "event bicycle 12345B999/2024-05-01T05:00:00Z 85 Some(1.0)",
        ]
    );
}

#[test]
fn dst_end_gives_two_distinct_hours_at_two_oclock() {
    let table = [
        HEADER.to_owned(),
        row(
            "12345B999",
            "2024-10-27T02:00+02:00",
            "2024-10-27T02:00+01:00",
            "Totalt",
            "3",
            "100,0",
            "-",
        ),
        row(
            "12345B999",
            "2024-10-27T02:00+01:00",
            "2024-10-27T03:00+01:00",
            "Totalt",
            "4",
            "100,0",
            "-",
        ),
    ]
    .join("\n");
    let got = outcomes(&decoder(1.0, &[]), table.as_bytes());
    assert_eq!(
        got,
        [
            "event bicycle 12345B999/2024-10-27T00:00:00Z 3 Some(1.0)",
            "event bicycle 12345B999/2024-10-27T01:00:00Z 4 Some(1.0)",
        ]
    );
}

#[test]
fn missing_volumes_unknown_points_and_unclear_point_types_are_rejected_with_reasons() {
    let (from, to) = ("2024-05-01T07:00+02:00", "2024-05-01T08:00+02:00");
    let table = [
        HEADER.to_owned(),
        row("12345B999", from, to, "Totalt", "-", "0,0", "-"),
        row("00492V443603", from, to, "Totalt", "12", "100,0", ""),
        row("99999V1", from, to, "Totalt", "12", "100,0", "10"),
        row("777X1", from, to, "Totalt", "12", "100,0", "10"),
        row(
            "12345B999",
            "01.05.2024 07:00",
            to,
            "Totalt",
            "12",
            "100,0",
            "10",
        ),
        row("12345B999", to, from, "Totalt", "12", "100,0", "10"),
        "12345B999;Navn;FV160;2024-05-01T07:00+02:00".to_owned(),
    ]
    .join("\n");
    let got = outcomes(&decoder(1.0, &[]), table.as_bytes());
    let reasons: Vec<&str> = got.iter().map(|o| o.split(':').next().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "rejected missing_value",
            "rejected missing_value",
            "rejected unknown_location",
            "rejected unknown_mode",
            "rejected bad_time",
            "rejected bad_time",
            "rejected invalid_csv",
        ]
    );
    assert!(got[1].contains("< 5,6m"), "{}", got[1]);
    assert!(got[3].contains("point_modes"), "{}", got[3]);
    // A per-point override settles the type.
    let with_override = outcomes(&decoder(1.0, &[("777X1", Mode::Bicycle)]), table.as_bytes());
    assert!(
        with_override[3].starts_with("event bicycle 777X1/"),
        "{}",
        with_override[3]
    );
}

#[test]
fn latin1_text_is_read_and_a_header_without_a_needed_column_rejects_every_row() {
    let mut table = HEADER.as_bytes().to_vec();
    table.extend_from_slice(b"\n12345B999;H\xf8vik;FV160;2024-05-01T07:00+02:00;2024-05-01T08:00+02:00;2024-05-01;07:00;08:00;Totalt i retning H\xd8VIK;3;100,0;1;1;0;0;100,00;-;-;-;-;-;-;-;-");
    table.extend_from_slice(b"\n12345B999;H\xf8vik;FV160;2024-05-01T07:00+02:00;2024-05-01T08:00+02:00;2024-05-01;07:00;08:00;Totalt;3;100,0;1;1;0;0;100,00;-;-;-;-;-;-;-;-");
    let got = outcomes(&decoder(1.0, &[]), &table);
    assert_eq!(got[0], "skipped not_a_total");
    assert!(got[1].starts_with("event bicycle"), "{}", got[1]);

    let no_til = HEADER.replace(";Til;", ";Until;")
        + "\n"
        + &row("12345B999", "a", "b", "Totalt", "1", "1", "1");
    let got = outcomes(&decoder(1.0, &[]), no_til.as_bytes());
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("rejected missing_field: column \"Til\""),
        "{}",
        got[0]
    );
}

#[test]
fn header_only_and_empty_tables_have_no_rows() {
    assert!(outcomes(&decoder(1.0, &[]), HEADER.as_bytes()).is_empty());
    assert!(outcomes(&decoder(1.0, &[]), b"").is_empty());
}

#[test]
fn registration_points_read_the_api_json_and_reject_broken_lists() {
    let json = r#"{"data":{"trafficRegistrationPoints":[{"id":"00492V443603","name":"Oslo grense","location":{"coordinates":{"latLon":{"lat":59.926885,"lon":10.622418}}}}]}}"#;
    let points = RegistrationPoints::parse(json).unwrap();
    assert_eq!(points.get("00492V443603").map(|p| p.lat()), Some(59.926885));
    assert!(
        RegistrationPoints::parse("id,lat\n1,2\n")
            .unwrap_err()
            .to_string()
            .contains("lon")
    );
    assert!(
        RegistrationPoints::parse("id,lat,lon\n1,95,2\n")
            .unwrap_err()
            .to_string()
            .contains("line 2")
    );
}

#[test]
fn a_volume_beyond_the_plausibility_bound_is_rejected() {
    let from = "2024-05-01T07:00+02:00";
    let to = "2024-05-01T08:00+02:00";
    let table = [
        HEADER.to_owned(),
        row("12345B999", from, to, "Totalt", "1000000", "100,0", "-"),
        row(
            "12345B999",
            to,
            "2024-05-01T09:00+02:00",
            "Totalt",
            "1000001",
            "100,0",
            "-",
        ),
    ]
    .join("\r\n");
    let got = outcomes(&decoder(1.0, &[]), table.as_bytes());
    assert!(got[0].starts_with("event bicycle"), "{}", got[0]);
    assert_eq!(
        got[1],
        "rejected implausible_value: Trafikkmengde: 1000001 is more than \
         counts.max_count_per_reading (1000000)"
    );
}
