use super::*;
use crate::decode::table_decoder::TableDecoder;

fn layout(name: &str, toml_text: Option<&str>) -> TableDecoder {
    let config: Option<OperatorConfig> = toml_text.map(|t| toml::from_str(t).unwrap());
    let mut errors = ConfigErrors::default();
    let d = OperatorDecoder::from_config(name, config.as_ref(), &mut errors).unwrap();
    assert!(errors.is_empty(), "{errors}");
    TableDecoder::Operator(Box::new(d))
}

/// Each row as `mode id start_ms end_ms distance_m` or `reason: message`.
fn rows(decoder: &TableDecoder, table: &str) -> Vec<std::result::Result<String, String>> {
    let mut out = Vec::new();
    decoder
        .decode_table(table.as_bytes(), None, |_, decoded| {
            let Decoded::Event(result) = decoded else {
                panic!("trip exports skip nothing")
            };
            out.push(
                result
                    .map(|o| {
                        format!(
                            "{} {} {} {} {:?}",
                            o.mode,
                            o.id.as_deref().unwrap(),
                            o.start_time.to_rfc3339(),
                            o.end_time.map(|t| t.to_rfc3339()).unwrap_or_default(),
                            o.reported_distance_m.map(|d| d.round())
                        )
                    })
                    .map_err(|e| format!("{}: {}", e.reason, e.message)),
            );
        })
        .unwrap();
    out
}

#[test]
fn presets_read_local_times_in_their_zone_and_distances_in_their_unit() {
    let kc = "trip_id,Start Date,Start Time,End Date,End Time,Trip Duration,Trip Distance,Start Latitude,Start Longitude,End Latitude,End Longitude\n\
              b87a,08/30/2021 12:00:00 AM,04:51:20,08/30/2021 12:00:00 AM,05:22:22,1862,4070,39.0868903,-94.5901252,39.0976,-94.5812\n";
    assert_eq!(
        rows(&layout("kansascity", None), kc),
        [Ok(
            "e_scooter b87a 2021-08-30T09:51:20Z 2021-08-30T10:22:22Z Some(4070.0)".into()
        )]
    );
    let lou = "\"TripID\",\"StartDate\",\"StartTime\",\"EndDate\",\"EndTime\",\"TripDuration\",\"TripDistance\",\"StartLatitude\",\"StartLongitude\",\"EndLatitude\",\"EndLongitude\"\n\
               \"0000045c\",\"2019-06-26\",\"19:30\",\"2019-06-26\",\"19:45\",3.0,1.0,38.253,-85.756,38.253,-85.755\n";
    assert_eq!(
        rows(&layout("louisville", None), lou),
        [Ok(
            "e_scooter 0000045c 2019-06-26T23:30:00Z 2019-06-26T23:45:00Z Some(1609.0)".into()
        )]
    );
    let oslo = "started_at,ended_at,duration,start_station_id,start_station_latitude,start_station_longitude,end_station_id,end_station_latitude,end_station_longitude\r\n\
                2024-01-01 04:08:14.939000+00:00,2024-01-01 04:21:16+00:00,781,478,59.911901,10.749929,1755,59.91118,10.73003\r\n";
    let got = rows(&layout("oslobysykkel", None), oslo);
    let trip = got[0].as_ref().unwrap();
    assert!(trip.starts_with("bicycle row-"), "{trip}");
    assert!(
        trip.ends_with("2024-01-01T04:08:14.939Z 2024-01-01T04:21:16Z None"),
        "{trip}"
    );
}

#[test]
fn derived_ids_are_stable_and_differ_between_trips() {
    let table = "\"trip_id\",\"scooter_id\",\"start_time_utc\",\"end_time_utc\",\"start_lat\",\"start_lon\",\"end_lat\",\"end_lon\",\"distance_miles\"\n\
                 ,\"s\",\"2018-09-04T09:33:00Z\",\"2018-09-04T10:27:00Z\",39.76665,-86.16021,39.758495,-86.185028,6.69\n\
                 \"\",\"s\",\"2018-09-04T09:33:00Z\",\"2018-09-04T10:27:00Z\",39.76665,-86.16021,39.758495,-86.185028,6.69\n\
                 ,\"s\",\"2018-09-04T09:34:00Z\",\"2018-09-04T10:27:00Z\",39.76665,-86.16021,39.758495,-86.185028,0\n";
    let got = rows(&layout("indianapolis", None), table);
    let ids: Vec<&str> = got
        .iter()
        .map(|r| r.as_ref().unwrap().split(' ').nth(1).unwrap())
        .collect();
    assert!(ids[0].starts_with("row-"));
    assert_eq!(
        ids[0], ids[1],
        "an empty id, quoted or not, derives the same id"
    );
    assert_ne!(ids[0], ids[2]);
}

#[test]
fn ambiguous_and_skipped_local_times_follow_the_configured_rule() {
    let table = "id,t,lat,lon\n\
                 a,2024-10-27 02:30,59.9,10.6\n\
                 b,2024-03-31 02:30,59.9,10.6\n";
    let config = |rule: &str| {
        format!(
            "mode = \"bicycle\"\ntime_zone = \"Europe/Oslo\"\nlocal_time = \"{rule}\"\n[columns]\nid = \"id\"\nstart_time = \"t\"\norigin_lat = \"lat\"\norigin_lon = \"lon\"\n"
        )
    };
    let start = |rule: &str| -> Vec<String> {
        rows(&layout("mine", Some(&config(rule))), table)
            .into_iter()
            .map(|r| match r {
                Ok(t) => t.split(' ').nth(2).unwrap().to_owned(),
                Err(e) => e.split(':').next().unwrap().to_owned(),
            })
            .collect()
    };
    // 02:30 on 27 October happens twice (+02:00, then +01:00); on 31 March it never happens.
    assert_eq!(
        start("compatible"),
        ["2024-10-27T00:30:00Z", "2024-03-31T01:30:00Z"]
    );
    assert_eq!(
        start("earlier"),
        ["2024-10-27T00:30:00Z", "2024-03-31T00:30:00Z"]
    );
    assert_eq!(
        start("later"),
        ["2024-10-27T01:30:00Z", "2024-03-31T01:30:00Z"]
    );
    assert_eq!(start("reject"), ["bad_time", "bad_time"]);
}

#[test]
fn a_mode_column_maps_operator_values_and_bad_rows_say_why() {
    let config = r#"
source = "citybike"
mode = "bicycle"
time_format = "epoch_s"
distance_unit = "km"
[modes]
electric_bike = "bicycle"
Scooter = "e_scooter"
[columns]
id = "ride_id"
mode = "rideable_type"
start_time = "start"
origin_lat = "lat"
origin_lon = "lng"
distance = "km"
"#;
    let table = "ride_id,rideable_type,start,lat,lng,km\n\
                 1,SCOOTER,1714635072,59.9,10.6,1.5\n\
                 2,,1714635072,59.9,10.6,\n\
                 3,unicycle,1714635072,59.9,10.6,1\n\
                 4,scooter,1714635072,,10.6,1\n\
                 5,scooter,1714635072,59.9\n\
                 6,scooter,1714635072,59.9,10.6,-2\n\
                 7,scooter,soon,59.9,10.6,1\n\
                 8,scooter,1714635072,10.6,359.9,1\n";
    let got = rows(&layout("citybike", Some(config)), table);
    let short: Vec<String> = got
        .iter()
        .map(|r| match r {
            Ok(t) => {
                t.split(' ').take(2).collect::<Vec<_>>().join(" ")
                    + &format!(" {}", t.split(' ').next_back().unwrap())
            }
            Err(e) => e.split(':').next().unwrap().to_owned(),
        })
        .collect();
    assert_eq!(
        short,
        [
            "e_scooter 1 Some(1500.0)",
            "bicycle 2 None",
            "unknown_mode",
            "missing_field",
            "invalid_csv",
            "bad_value",
            "bad_value",
            "bad_coordinate",
        ]
    );
}

#[test]
fn a_header_without_a_mapped_column_rejects_each_row_naming_the_column() {
    let got = rows(
        &layout("kansascity", None),
        "trip_id,Start Date\nx,y\nz,w\n",
    );
    assert_eq!(got.len(), 2);
    for r in got {
        let e = r.unwrap_err();
        assert!(
            e.starts_with("missing_field: column \"Start Time\" is not in the header"),
            "{e}"
        );
    }
}

#[test]
fn configured_layouts_override_presets_key_by_key() {
    let d = layout(
        "kansascity",
        Some("mode = \"bicycle\"\nsource = \"kc-bikes\""),
    );
    let kc = "trip_id,Start Date,Start Time,End Date,End Time,Trip Distance,Start Latitude,Start Longitude,End Latitude,End Longitude\n\
              b,08/30/2021 12:00:00 AM,04:51:20,08/30/2021 12:00:00 AM,05:22:22,10,39.08,-94.59,39.09,-94.58\n";
    assert!(
        rows(&d, kc)[0]
            .as_ref()
            .unwrap()
            .starts_with("bicycle b 2021-08-30T09:51:20Z")
    );
    let mut errors = ConfigErrors::default();
    let bad: OperatorConfig = toml::from_str("preset = \"atlantis\"").unwrap();
    assert!(OperatorDecoder::from_config("x", Some(&bad), &mut errors).is_none());
    assert!(errors.to_string().contains("formats.csv.x.preset"));
}
